// Learning rules: the vtable's shared parts (loss and its gradient, prediction, checkpoint
// sections) and plain backpropagation.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "soma/learn.h"

static const char *const loss_names_[SOMA_LOSS_COUNT] = {"xent", "mse"};

const char *soma_loss_name(soma_loss_kind k) {
    return (int)k >= 0 && k < SOMA_LOSS_COUNT ? loss_names_[k] : "?";
}

soma_status soma_loss_parse(const char *name, soma_loss_kind *k) {
    if (name && strcmp(name, "ce") == 0) name = "xent";
    for (int i = 0; i < SOMA_LOSS_COUNT; i++)
        if (name && strcmp(name, loss_names_[i]) == 0) {
            *k = (soma_loss_kind)i;
            return SOMA_OK;
        }
    return soma_error(SOMA_ERR_ARG, "unknown loss '%s' (xent, mse)", name ? name : "");
}

soma_status soma_rule_reserve_dy(soma_rule *r, size_t n) {
    if (n <= r->dy_cap) return SOMA_OK;
    soma_free(r->dy);
    r->dy = soma_alloc(n, sizeof(float));
    r->dy_cap = r->dy ? n : 0;
    return r->dy ? SOMA_OK : SOMA_ERR_NOMEM;
}

// --- heads (multi-head outputs) ------------------------------------------------------------

/* The head of row i: [*o, *o + c) of K outputs; SOMA_ERR_ARG when the head does not fit K or
 * the label falls outside it. */
static soma_status head_of_(const char *who, int off, int c, int K, const int *labels, long i, int *o) {
    if (c < 1 || c > K || (off != SOMA_HEAD_BY_LABEL && (off < 0 || off + c > K)))
        return soma_error(SOMA_ERR_ARG, "%s: head [%d, %d+%d) does not fit %d outputs", who, off, off, c, K);
    if (off == SOMA_HEAD_BY_LABEL) {
        if (!labels) return soma_error(SOMA_ERR_ARG, "%s: a head by label needs the labels", who);
        if (labels[i] < 0 || labels[i] >= K)
            return soma_error(SOMA_ERR_ARG, "%s: label %d outside the %d outputs", who, labels[i], K);
        *o = labels[i] / c * c;
        if (*o + c > K) return soma_error(SOMA_ERR_ARG, "%s: label %d's head of %d does not fit %d outputs", who, labels[i], c, K);
        return SOMA_OK;
    }
    if (labels && (labels[i] < off || labels[i] >= off + c))
        return soma_error(SOMA_ERR_ARG, "%s: label %d outside the active head [%d, %d)", who, labels[i], off, off + c);
    *o = off;
    return SOMA_OK;
}

// --- distillation (soft targets) ------------------------------------------------------------

/* soma_target's distillation fields, checked against K outputs a row. */
typedef struct soft_spec {
    const float *z; /* teacher logits [N, K] */
    int block, nb;  /* outputs a block, blocks: [0, block * nb) */
    double T, w;    /* temperature, weight */
} soft_spec;

static soma_status soft_spec_(const char *who, const soma_target *t, int K, soft_spec *s) {
    const int cnt = t->soft_count, blk = t->soft_block ? t->soft_block : t->soft_count;
    if (cnt < 1 || cnt > K)
        return soma_error(SOMA_ERR_ARG, "%s: soft targets over %d outputs, the net has %d a row", who, cnt, K);
    if (blk < 1 || cnt % blk != 0)
        return soma_error(SOMA_ERR_ARG, "%s: soft-target blocks of %d outputs do not split %d", who, blk, cnt);
    if (!(t->soft_weight >= 0.f) || !isfinite(t->soft_weight))
        return soma_error(SOMA_ERR_ARG, "%s: soft-target weight %g must be finite and >= 0", who, (double)t->soft_weight);
    if (!isfinite(t->soft_temp))
        return soma_error(SOMA_ERR_ARG, "%s: soft-target temperature %g must be finite", who, (double)t->soft_temp);
    s->z = t->soft;
    s->block = blk;
    s->nb = cnt / blk;
    s->T = t->soft_temp > 0.f ? (double)t->soft_temp : 1.0;
    s->w = (double)t->soft_weight;
    return SOMA_OK;
}

/* One row's distillation term over every block b of s: w T^2 / nb * KL(softmax(z_b / T) ||
 * softmax(y_b / T)), returned; d (may be NULL) += w T / nb * (softmax(y_b / T) -
 * softmax(z_b / T)) * inv_n, its gradient scaled like the mean over rows. */
static double soft_row_(float *d, const float *y, const float *z, const soft_spec *s, double inv_n) {
    const double iT = 1.0 / s->T, g = s->w * s->T / s->nb * inv_n;
    double kl = 0.0;
    for (int b = 0; b < s->nb; b++) {
        const int o = b * s->block;
        double my = y[o], mz = z[o];
        for (int k = 1; k < s->block; k++) {
            if (y[o + k] > my) my = y[o + k];
            if (z[o + k] > mz) mz = z[o + k];
        }
        double sy = 0.0, sz = 0.0;
        for (int k = 0; k < s->block; k++) {
            sy += exp((y[o + k] - my) * iT);
            sz += exp((z[o + k] - mz) * iT);
        }
        const double ly = log(sy), lz = log(sz);
        for (int k = 0; k < s->block; k++) {
            const double lp = (y[o + k] - my) * iT - ly, lq = (z[o + k] - mz) * iT - lz, q = exp(lq);
            kl += q * (lq - lp);
            if (d) d[o + k] += (float)(g * (exp(lp) - q));
        }
    }
    return s->w * s->T * s->T / s->nb * kl;
}

/* Softmax cross-entropy of N rows of K logits over each row's head [off, off + c) (off 0, c K:
 * every output), plus the distillation term of s (may be NULL): the mean loss over the N rows;
 * dlogits (may be NULL) its gradient, (softmax - onehot) / N inside the head, 0 outside (plus
 * the soft term's); *correct (may be NULL) counts rows whose argmax within the head is the
 * label. Rows labelled SOMA_LABEL_NONE have no hard term and are not counted. */
static soma_status head_xent_(const char *who, float *dlogits, const float *y, const int *labels, int N, int K,
                              int off, int c, const soft_spec *s, float *loss, int *correct) {
    double lsum = 0.0;
    int right = 0;
    for (long i = 0; i < N; i++) {
        float *d = dlogits ? dlogits + i * K : NULL;
        if (d)
            for (int k = 0; k < K; k++) d[k] = 0.f;
        if (labels[i] != SOMA_LABEL_NONE) {
            int o = 0;
            SOMA_TRY(head_of_(who, off, c, K, labels, i, &o));
            const float *row = y + i * K + o;
            int a = soma_argmax(row, c);
            float m = row[a];
            double z = 0.0;
            for (int k = 0; k < c; k++) z += exp((double)(row[k] - m));
            const int lab = labels[i] - o;
            lsum += log(z) - (double)(row[lab] - m);
            right += a == lab;
            if (d) {
                for (int k = 0; k < c; k++) d[o + k] = (float)(exp((double)(row[k] - m)) / z / N);
                d[o + lab] -= 1.f / (float)N;
            }
        }
        if (s) lsum += soft_row_(d, y + i * K, s->z + i * K, s, 1.0 / N);
    }
    if (loss) *loss = N ? (float)(lsum / N) : 0.f;
    if (correct) *correct = right;
    return SOMA_OK;
}

soma_status soma_rule_predict_head(soma_rule *r, soma_net *net, const float *x, int n, int positions, int head_offset,
                                   int head_count, const int *labels, int *pred) {
    if (head_count == 0) return soma_rule_predict(r, net, x, n, positions, pred);
    if (r && r->ops->predict)
        return soma_error(SOMA_ERR_ARG, "predict: the %s rule classifies its own way and cannot use a head of the outputs",
                          r->ops->name);
    const int P = positions > 1 ? positions : 1;
    const int out = (int)soma_shape_size(soma_net_out_shape(net));
    if (out % P != 0)
        return soma_error(SOMA_ERR_SHAPE, "predict: %d outputs do not split into %d positions", out, P);
    const int K = out / P;
    const float *y;
    SOMA_TRY(soma_net_forward(net, x, n, SOMA_MODE_EVAL, &y));
    for (long i = 0; i < (long)n * P; i++) {
        int o = 0;
        /* the label is needed only to find the head (by label); its range is not checked here */
        SOMA_TRY(head_of_("predict", head_offset, head_count, K, head_offset == SOMA_HEAD_BY_LABEL ? labels : NULL, i,
                          &o));
        pred[i] = o + soma_argmax(y + i * K + o, head_count);
    }
    return SOMA_OK;
}

soma_status soma_rule_loss(soma_rule *r, const float *y, int out, const soma_target *t, int n, float *loss,
                           int *correct) {
    SOMA_TRY(soma_rule_reserve_dy(r, (size_t)n * (size_t)out));
    float l;
    if (r->loss == SOMA_LOSS_XENT) {
        const int P = t->positions > 1 ? t->positions : 1;
        if (!t->labels) return soma_error(SOMA_ERR_ARG, "%s: cross-entropy needs labels", r->ops->name);
        if (out % P != 0)
            return soma_error(SOMA_ERR_SHAPE, "%s: %d labels a sample, but the net's %d outputs do not split into %d positions",
                              r->ops->name, P, out, P);
        const int K = out / P;
        /* [n, P, K] outputs are n * P rows of K logits: the mean over every position. */
        soft_spec ss;
        if (t->soft) SOMA_TRY(soft_spec_(r->ops->name, t, K, &ss));
        const int soft = t->soft && t->soft_weight != 0.f; /* weight 0: exactly the hard loss */
        int none = 0;
        for (long i = 0; i < (long)n * P && !none; i++) none = t->labels[i] == SOMA_LABEL_NONE;
        if (t->head_count != 0 || soft || none)
            return head_xent_(r->ops->name, r->dy, y, t->labels, n * P, K, t->head_count ? t->head_offset : 0,
                              t->head_count ? t->head_count : K, soft ? &ss : NULL, loss, correct);
        l = soma_softmax_xent(r->dy, NULL, y, t->labels, n * P, K);
        if (correct) *correct = soma_count_correct(y, t->labels, n * P, K);
    } else {
        if (t->soft)
            return soma_error(SOMA_ERR_ARG, "%s: soft targets (distillation) need the xent loss, not %s", r->ops->name,
                              soma_loss_name(r->loss));
        if (!t->values || t->dim != out)
            return soma_error(SOMA_ERR_SHAPE, "%s: targets have %d values a sample, the net outputs %d", r->ops->name,
                              t->values ? t->dim : 0, out);
        l = soma_mse(r->dy, y, t->values, n, out);
        if (correct) *correct = 0;
    }
    if (loss) *loss = l;
    return SOMA_OK;
}

soma_status soma_rule_predict(soma_rule *r, soma_net *net, const float *x, int n, int positions, int *pred) {
    if (r && r->ops->predict) return r->ops->predict(r, net, x, n, positions, pred);
    const int P = positions > 1 ? positions : 1;
    const int out = (int)soma_shape_size(soma_net_out_shape(net));
    if (out % P != 0)
        return soma_error(SOMA_ERR_SHAPE, "predict: %d outputs do not split into %d positions", out, P);
    const float *y;
    SOMA_TRY(soma_net_forward(net, x, n, SOMA_MODE_EVAL, &y));
    const int K = out / P;
    for (long i = 0; i < (long)n * P; i++) pred[i] = soma_argmax(y + i * K, K);
    return SOMA_OK;
}

soma_status soma_rule_save_section(const soma_rule *r, soma_ckpt_section *sec) {
    memset(sec, 0, sizeof *sec);
    snprintf(sec->name, sizeof sec->name, "rule.%s", r->ops->name);
    if (!r->ops->save) return SOMA_OK;
    return r->ops->save(r, &sec->data, &sec->size);
}

soma_status soma_rule_load_section(soma_rule *r, const soma_ckpt_section *sec, int n) {
    if (!r->ops->load) return SOMA_OK;
    char name[SOMA_CKPT_SECTION_NAME];
    snprintf(name, sizeof name, "rule.%s", r->ops->name);
    const soma_ckpt_section *s = soma_ckpt_section_find(sec, n, name);
    if (!s)
        return soma_error(SOMA_ERR_FORMAT, "checkpoint: no section '%s' for the %s rule's state (saved by another rule?)",
                          name, r->ops->name);
    return r->ops->load(r, s->data, s->size);
}

// --- backprop --------------------------------------------------------------------------

static soma_status backprop_step_(soma_rule *r, soma_net *net, const float *x, const soma_target *t, int n,
                                  float *loss, int *correct) {
    const int out = (int)soma_shape_size(soma_net_out_shape(net));
    soma_net_zero_grad(net);
    const float *y;
    SOMA_TRY(soma_net_forward(net, x, n, SOMA_MODE_TRAIN, &y));
    SOMA_TRY(soma_rule_loss(r, y, out, t, n, loss, correct));
    /* parameter gradients only: the network input needs no gradient (rules that do, e.g.
     * predictive coding's inference, ask for SOMA_GRAD_INPUT without SOMA_GRAD_PARAMS) */
    return soma_net_backward_ex(net, r->dy, n, SOMA_GRAD_PARAMS, NULL);
}

static soma_status backprop_clone_(const soma_rule *r, soma_rule **out) {
    return soma_rule_backprop_new(out, r->loss);
}

static const soma_rule_ops backprop_ops_ = {
    .name = "backprop", .step = backprop_step_, .clone = backprop_clone_, .layerwise_grads = 1,
};

soma_status soma_rule_backprop_new(soma_rule **out, soma_loss_kind loss) {
    *out = NULL;
    if ((int)loss < 0 || loss >= SOMA_LOSS_COUNT) return soma_error(SOMA_ERR_ARG, "backprop: unknown loss %d", (int)loss);
    soma_rule *r = soma_calloc(1, sizeof *r);
    if (!r) return SOMA_ERR_NOMEM;
    r->ops = &backprop_ops_;
    r->loss = loss;
    *out = r;
    return SOMA_OK;
}

void soma_rule_free(soma_rule *r) {
    if (!r) return;
    if (r->ops && r->ops->destroy) r->ops->destroy(r);
    soma_free(r->dy);
    soma_free(r);
}

soma_status soma_rule_step(soma_rule *r, soma_net *net, const float *x, const soma_target *t, int n, float *loss,
                           int *correct) {
    return r->ops->step(r, net, x, t, n, loss, correct);
}
