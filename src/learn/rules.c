// The rule registry (soma_rule_new by kind) and the measure every rule shares: how far its
// update is from backprop's exact gradient (soma_rule_alignment).
#include <math.h>
#include <string.h>

#include "soma/learn.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static const char *const kind_names_[SOMA_RULE_COUNT] = {"bp", "fa", "dfa", "pc", "ff", "hebb"};

const char *soma_rule_kind_name(soma_rule_kind k) {
    return (int)k >= 0 && k < SOMA_RULE_COUNT ? kind_names_[k] : "?";
}

soma_status soma_rule_kind_parse(const char *name, soma_rule_kind *k) {
    if (name && strcmp(name, "backprop") == 0) name = "bp";
    for (int i = 0; i < SOMA_RULE_COUNT; i++)
        if (name && strcmp(name, kind_names_[i]) == 0) {
            *k = (soma_rule_kind)i;
            return SOMA_OK;
        }
    return soma_error(SOMA_ERR_ARG, "unknown rule '%s' (bp, fa, dfa, pc, ff, hebb)", name ? name : "");
}

soma_rule_opts soma_rule_opts_default(void) {
    soma_rule_opts o;
    memset(&o, 0, sizeof o);
    o.kind = SOMA_RULE_BP;
    o.loss = SOMA_LOSS_XENT;
    o.seed = 1;
    o.hebb = SOMA_HEBB_GHA;
    return o;
}

soma_status soma_rule_new(soma_rule **out, soma_net *net, const soma_rule_opts *o) {
    *out = NULL;
    soma_rule_opts d = soma_rule_opts_default();
    if (!o) o = &d;
    switch (o->kind) {
    case SOMA_RULE_BP: return soma_rule_backprop_new(out, o->loss);
    case SOMA_RULE_FA: return soma_rule_fa_new(out, net, o);
    case SOMA_RULE_DFA: return soma_rule_dfa_new(out, net, o);
    case SOMA_RULE_PC: return soma_rule_pc_new(out, net, o);
    /* one line a rule, added as each lands */
    case SOMA_RULE_HEBB: return soma_rule_hebb_new(out, net, o);
    case SOMA_RULE_FF: return soma_rule_ff_new(out, net, o);
    default: break;
    }
    return soma_error(SOMA_ERR_ARG, "rule '%s' is not available", soma_rule_kind_name(o->kind));
}

/* angle or cosine between the rule's grads and backprop's, per weight parameter */
static soma_status alignment_(soma_rule *r, soma_net *net, const float *x, const soma_target *t, int n,
                              double *out, int as_angle) {
    const int np = soma_net_n_params(net);
    size_t total = 0;
    for (int i = 0; i < np; i++) total += soma_net_param(net, i)->n;
    float *g = soma_alloc(total ? total : 1, sizeof(float));
    if (!g) return SOMA_ERR_NOMEM;
    const float **fb = soma_alloc(np ? (size_t)np : 1, sizeof *fb);
    if (!fb) {
        soma_free(g);
        return SOMA_ERR_NOMEM;
    }
    soma_rule *bp = NULL;
    soma_status st = soma_rule_backprop_new(&bp, r->loss);
    /* the true gradient runs through the weights: feedback matrices (FA) are set aside */
    for (int i = 0; i < np; i++) {
        fb[i] = soma_net_param(net, i)->feedback;
        soma_net_param(net, i)->feedback = NULL;
    }
    if (st == SOMA_OK) st = soma_rule_step(bp, net, x, t, n, NULL, NULL);
    for (int i = 0; i < np; i++) soma_net_param(net, i)->feedback = fb[i];
    soma_free(fb);
    if (st == SOMA_OK) {
        size_t off = 0;
        for (int i = 0; i < np; i++) {
            const soma_param *p = soma_net_param(net, i);
            memcpy(g + off, p->grad, p->n * sizeof(float));
            off += p->n;
        }
        st = soma_rule_step(r, net, x, t, n, NULL, NULL);
    }
    if (st == SOMA_OK) {
        size_t off = 0;
        for (int i = 0; i < np; i++) {
            const soma_param *p = soma_net_param(net, i);
            out[i] = NAN;
            if (p->trainable && p->decay) {
                double dot = 0, na = 0, nb = 0;
                for (size_t j = 0; j < p->n; j++) {
                    dot += (double)p->grad[j] * g[off + j];
                    na += (double)p->grad[j] * p->grad[j];
                    nb += (double)g[off + j] * g[off + j];
                }
                const double c = na > 0 && nb > 0 ? dot / sqrt(na * nb) : 0.0;
                const double cc = c > 1 ? 1 : c < -1 ? -1 : c;
                out[i] = as_angle ? acos(cc) * (180.0 / M_PI) : c;
            }
            off += p->n;
        }
    }
    soma_rule_free(bp);
    soma_free(g);
    return st;
}

soma_status soma_rule_alignment(soma_rule *r, soma_net *net, const float *x, const soma_target *t, int n,
                                double *angle_deg) {
    return alignment_(r, net, x, t, n, angle_deg, 1);
}

soma_status soma_rule_alignment_cos(soma_rule *r, soma_net *net, const float *x, const soma_target *t, int n,
                                    double *cosine) {
    return alignment_(r, net, x, t, n, cosine, 0);
}

// --- Lillicrap's measure: the hidden units' error signals ---------------------------------

static int is_weight_kind_(const soma_layer *l) {
    return strcmp(l->ops->kind, "dense") == 0 || strcmp(l->ops->kind, "conv2d") == 0;
}

/* Walks the top-level layers' own backward ops from dy (r->dy) down to the input of layer lo,
 * input gradients only; after layer k's backward, the signal at its input (dL/d act_in[k]) is
 * copied to sig + soff[k] when soff[k] != (size_t)-1. a, b: ping-pong buffers. */
static void walk_signals_(soma_net *net, const float *dy, int n, int lo, const size_t *soff, float *sig, float *a,
                          float *b) {
    const int L = soma_net_n_layers(net);
    const float *g = dy;
    float *buf[2] = {a, b};
    int which = 0;
    for (int k = L - 1; k >= lo; k--) {
        soma_layer *l = soma_net_layer(net, k);
        float *d = buf[which];
        const int keep = l->no_param_grads;
        l->no_param_grads = 1;
        l->ops->backward(l, d, g, soma_net_activation(net, k), soma_net_activation(net, k + 1), n);
        l->no_param_grads = keep;
        if (soff[k] != (size_t)-1)
            memcpy(sig + soff[k], d, (size_t)n * soma_shape_size(soma_net_layer(net, k)->in) * sizeof(float));
        g = d;
        which ^= 1;
    }
}

soma_status soma_rule_signal_alignment(soma_rule *r, soma_net *net, const float *x, const soma_target *t, int n,
                                       double *angle_deg) {
    if (!r || !net || !x || !t || !angle_deg || n < 1)
        return soma_error(SOMA_ERR_ARG, "signal alignment: missing rule, net, batch or output");
    const int L = soma_net_n_layers(net);
    for (int k = 0; k < L; k++) angle_deg[k] = NAN;
    /* the weight layers, bottom to top; hidden layer wl[j] (j < m - 1) is measured at the input
     * of wl[j + 1] */
    int m = 0, first_hidden = -1;
    size_t *soff = soma_alloc((size_t)L + 1, sizeof *soff);
    int *owner = soma_alloc((size_t)L + 1, sizeof *owner);
    if (!soff || !owner) {
        soma_free(soff);
        soma_free(owner);
        return SOMA_ERR_NOMEM;
    }
    size_t total = 0, widest = 1;
    int prev = -1;
    for (int k = 0; k < L; k++) {
        soma_layer *l = soma_net_layer(net, k);
        const size_t in = (size_t)n * soma_shape_size(l->in), out = (size_t)n * soma_shape_size(l->out);
        if (in > widest) widest = in;
        if (out > widest) widest = out;
        soff[k] = (size_t)-1;
        owner[k] = -1;
        if (!is_weight_kind_(l)) continue;
        if (prev >= 0) { /* the signal at this layer's input belongs to the weight layer below */
            soff[k] = total;
            owner[k] = prev;
            total += in;
            if (first_hidden < 0) first_hidden = k;
        }
        prev = k;
        m++;
    }
    if (m < 2) {
        soma_free(soff);
        soma_free(owner);
        return soma_error(SOMA_ERR_ARG, "signal alignment: net '%s' has %d top-level dense or conv2d layer%s; a hidden one needs two",
                          soma_net_spec(net), m, m == 1 ? "" : "s");
    }
    float *fa = soma_alloc(total, sizeof(float)), *bp = soma_alloc(total, sizeof(float));
    float *pa = soma_alloc(widest, sizeof(float)), *pb = soma_alloc(widest, sizeof(float));
    const int np = soma_net_n_params(net);
    const float **fb = soma_alloc(np ? (size_t)np : 1, sizeof *fb);
    soma_status st = fa && bp && pa && pb && fb ? SOMA_OK : SOMA_ERR_NOMEM;
    const float *y = NULL;
    if (st == SOMA_OK) st = soma_net_forward(net, x, n, SOMA_MODE_TRAIN, &y);
    if (st == SOMA_OK) st = soma_rule_loss(r, y, (int)soma_shape_size(soma_net_out_shape(net)), t, n, NULL, NULL);
    if (st == SOMA_OK) {
        walk_signals_(net, r->dy, n, first_hidden, soff, fa, pa, pb); /* the feedback matrices as set */
        for (int i = 0; i < np; i++) {
            fb[i] = soma_net_param(net, i)->feedback;
            soma_net_param(net, i)->feedback = NULL;
        }
        walk_signals_(net, r->dy, n, first_hidden, soff, bp, pa, pb); /* the transposed weights */
        for (int i = 0; i < np; i++) soma_net_param(net, i)->feedback = fb[i];
        for (int k = 0; k < L; k++) {
            if (owner[k] < 0) continue;
            const size_t len = (size_t)n * soma_shape_size(soma_net_layer(net, k)->in);
            double dot = 0, na = 0, nb = 0;
            for (size_t j = 0; j < len; j++) {
                const double u = fa[soff[k] + j], v = bp[soff[k] + j];
                dot += u * v;
                na += u * u;
                nb += v * v;
            }
            const double c = na > 0 && nb > 0 ? dot / sqrt(na * nb) : 0.0;
            angle_deg[owner[k]] = acos(c > 1 ? 1 : c < -1 ? -1 : c) * (180.0 / M_PI);
        }
    }
    soma_free(fb);
    soma_free(fa);
    soma_free(bp);
    soma_free(pa);
    soma_free(pb);
    soma_free(soff);
    soma_free(owner);
    return st;
}
