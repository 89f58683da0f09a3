// Feedback alignment (Lillicrap, Cownden, Tweed & Akerman 2016): the error travels down
// through fixed random matrices B instead of the transposed weights. Each dense and conv2d
// weight W of the net (composites included) gets a B of its own shape, set as that
// parameter's `feedback`: the layers' own backward then multiplies dy by B for dx, while the
// weight gradient stays local (dy x'). The matrices live in one block owned by the rule (its
// checkpoint section "rule.fa"); clones (data-parallel replicas, whose nets copy the feedback
// pointers in soma_net_clone) share the block; freeing the rule that created them resets the
// net's feedback pointers to NULL.
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "soma/learn.h"

typedef struct fa_bank {
    int refs;
    int n;         /* matrices */
    int *param;    /* the net's parameter index of each */
    size_t *off;   /* offset of each in block */
    size_t total;  /* floats in block */
    float *block;
} fa_bank;

typedef struct fa_impl {
    fa_bank *bank;
    soma_net *net; /* the net whose feedback pointers this rule set (NULL for clones) */
} fa_impl;

static void bank_release_(fa_bank *b) {
    if (!b || --b->refs > 0) return;
    soma_free(b->param);
    soma_free(b->off);
    soma_free(b->block);
    soma_free(b);
}

static int is_weight_layer_(const soma_layer *l) {
    return strcmp(l->ops->kind, "dense") == 0 || strcmp(l->ops->kind, "conv2d") == 0;
}

/* Marks (mark[i] = 1) every net parameter that is the weight of a dense or conv2d layer in
 * the subtree of l. */
static void mark_weights_(soma_net *net, soma_layer *l, unsigned char *mark) {
    if (is_weight_layer_(l)) {
        soma_param *w = soma_layer_param(l, "weight");
        for (int i = 0; w && i < soma_net_n_params(net); i++)
            if (soma_net_param(net, i) == w) mark[i] = 1;
    }
    const int nc = l->ops->n_children ? l->ops->n_children(l) : 0;
    for (int c = 0; c < nc; c++) mark_weights_(net, l->ops->child(l, c), mark);
}

static void point_(fa_impl *f) {
    if (!f->net) return;
    for (int k = 0; k < f->bank->n; k++)
        soma_net_param(f->net, f->bank->param[k])->feedback = f->bank->block + f->bank->off[k];
}

static soma_status fa_step_(soma_rule *r, soma_net *net, const float *x, const soma_target *t, int n, float *loss,
                            int *correct) {
    const int out = (int)soma_shape_size(soma_net_out_shape(net));
    soma_net_zero_grad(net);
    const float *y;
    SOMA_TRY(soma_net_forward(net, x, n, SOMA_MODE_TRAIN, &y));
    SOMA_TRY(soma_rule_loss(r, y, out, t, n, loss, correct));
    /* the layers read param->feedback for dx: nothing else differs from backprop */
    return soma_net_backward_ex(net, r->dy, n, SOMA_GRAD_PARAMS, NULL);
}

static void fa_destroy_(soma_rule *r) {
    fa_impl *f = r->impl;
    if (!f) return;
    if (f->net)
        for (int k = 0; k < f->bank->n; k++) {
            soma_param *p = soma_net_param(f->net, f->bank->param[k]);
            if (p && p->feedback == f->bank->block + f->bank->off[k]) p->feedback = NULL;
        }
    bank_release_(f->bank);
    soma_free(f);
    r->impl = NULL;
}

static soma_status fa_clone_(const soma_rule *r, soma_rule **out);

/* blob: "SFA1", uint32 count, then per matrix uint32 param index and uint64 floats, then the
 * floats of every matrix in order */
static size_t blob_head_(const fa_bank *b) { return 8 + (size_t)b->n * 12; }

static soma_status fa_save_(const soma_rule *r, void **data, size_t *size) {
    const fa_bank *b = ((const fa_impl *)r->impl)->bank;
    const size_t head = blob_head_(b), bytes = head + b->total * sizeof(float);
    unsigned char *p = soma_alloc(bytes, 1);
    if (!p) return SOMA_ERR_NOMEM;
    memcpy(p, "SFA1", 4);
    uint32_t n = (uint32_t)b->n;
    memcpy(p + 4, &n, 4);
    for (int k = 0; k < b->n; k++) {
        uint32_t idx = (uint32_t)b->param[k];
        uint64_t len = (uint64_t)((k + 1 < b->n ? b->off[k + 1] : b->total) - b->off[k]);
        memcpy(p + 8 + (size_t)k * 12, &idx, 4);
        memcpy(p + 12 + (size_t)k * 12, &len, 8);
    }
    memcpy(p + head, b->block, b->total * sizeof(float));
    *data = p;
    *size = bytes;
    return SOMA_OK;
}

static soma_status fa_load_(soma_rule *r, const void *data, size_t size) {
    fa_impl *f = r->impl;
    fa_bank *b = f->bank;
    const unsigned char *p = data;
    const size_t head = blob_head_(b);
    uint32_t n;
    if (size < 8 || memcmp(p, "SFA1", 4) != 0)
        return soma_error(SOMA_ERR_FORMAT, "rule.fa: not a feedback-alignment section (bad magic)");
    memcpy(&n, p + 4, 4);
    if (n != (uint32_t)b->n || size != head + b->total * sizeof(float))
        return soma_error(SOMA_ERR_FORMAT, "rule.fa: the section holds %u feedback matrices (%zu bytes); this net needs %d (%zu bytes)",
                          n, size, b->n, head + b->total * sizeof(float));
    for (int k = 0; k < b->n; k++) {
        uint32_t idx;
        uint64_t len;
        memcpy(&idx, p + 8 + (size_t)k * 12, 4);
        memcpy(&len, p + 12 + (size_t)k * 12, 8);
        const size_t want = (k + 1 < b->n ? b->off[k + 1] : b->total) - b->off[k];
        if (idx != (uint32_t)b->param[k] || len != want)
            return soma_error(SOMA_ERR_FORMAT, "rule.fa: feedback matrix %d is for parameter %u of %llu floats; this net has %d of %zu",
                              k, idx, (unsigned long long)len, b->param[k], want);
    }
    memcpy(b->block, p + head, b->total * sizeof(float)); /* in place: replicas keep pointing at it */
    point_(f);
    return SOMA_OK;
}

static const soma_rule_ops fa_ops_ = {
    .name = "fa", .step = fa_step_, .destroy = fa_destroy_, .clone = fa_clone_, .save = fa_save_, .load = fa_load_,
};

static soma_status fa_wrap_(fa_bank *b, soma_net *net, soma_loss_kind loss, soma_rule **out) {
    soma_rule *r = soma_calloc(1, sizeof *r);
    fa_impl *f = soma_calloc(1, sizeof *f);
    if (!r || !f) {
        soma_free(r);
        soma_free(f);
        return SOMA_ERR_NOMEM;
    }
    b->refs++;
    f->bank = b;
    f->net = net;
    r->ops = &fa_ops_;
    r->loss = loss;
    r->impl = f;
    *out = r;
    return SOMA_OK;
}

/* A clone shares the matrices; its net (a replica) already carries the feedback pointers. */
static soma_status fa_clone_(const soma_rule *r, soma_rule **out) {
    *out = NULL;
    return fa_wrap_(((const fa_impl *)r->impl)->bank, NULL, r->loss, out);
}

soma_status soma_rule_fa_new(soma_rule **out, soma_net *net, const soma_rule_opts *o) {
    *out = NULL;
    soma_rule_opts d = soma_rule_opts_default();
    if (!o) o = &d;
    if (!net) return soma_error(SOMA_ERR_ARG, "fa: no network");
    if ((int)o->loss < 0 || o->loss >= SOMA_LOSS_COUNT) return soma_error(SOMA_ERR_ARG, "fa: unknown loss %d", (int)o->loss);
    if (!(o->fb_scale >= 0.f) || o->fb_scale > 1e6f)
        return soma_error(SOMA_ERR_ARG, "fa: feedback scale %g out of range (> 0; 0 means 1)", (double)o->fb_scale);
    const int np = soma_net_n_params(net);
    unsigned char *mark = soma_calloc(np > 0 ? (size_t)np : 1, 1);
    if (!mark) return SOMA_ERR_NOMEM;
    for (int i = 0; i < soma_net_n_layers(net); i++) mark_weights_(net, soma_net_layer(net, i), mark);
    int n = 0;
    for (int i = 0; i < np; i++) {
        if (mark[i] && soma_net_param(net, i)->feedback) {
            soma_free(mark);
            return soma_error(SOMA_ERR_ARG, "fa: parameter %s already has a feedback matrix (another rule on this net?)",
                              soma_net_param_name(net, i));
        }
        n += mark[i];
    }
    if (n == 0) {
        soma_free(mark);
        return soma_error(SOMA_ERR_ARG, "fa: net '%s' has no dense or conv2d weight to give a feedback matrix",
                          soma_net_spec(net));
    }
    fa_bank *b = soma_calloc(1, sizeof *b);
    soma_status st = SOMA_ERR_NOMEM;
    if (b) {
        b->n = n;
        b->param = soma_alloc((size_t)n, sizeof *b->param);
        b->off = soma_alloc((size_t)n, sizeof *b->off);
        for (int i = 0; i < np; i++)
            if (mark[i]) b->total += soma_net_param(net, i)->n;
        b->block = soma_alloc(b->total, sizeof(float));
    }
    if (b && b->param && b->off && b->block) {
        /* each B drawn like its weight (Kaiming-uniform: U(-1/sqrt(fan_in), 1/sqrt(fan_in))),
         * times fb_scale, from stream 0x46 of the seed, in parameter order */
        soma_rng rng;
        soma_rng_seed(&rng, o->seed, 0x46);
        const float s = o->fb_scale > 0.f ? o->fb_scale : 1.f;
        size_t off = 0;
        int k = 0;
        for (int i = 0; i < np; i++) {
            if (!mark[i]) continue;
            const soma_param *p = soma_net_param(net, i);
            const float bound = p->fan_in > 0 ? s / sqrtf((float)p->fan_in) : 0.f;
            b->param[k] = i;
            b->off[k] = off;
            soma_rng_uniform_fill(&rng, b->block + off, p->n, -bound, bound);
            off += p->n;
            k++;
        }
        st = fa_wrap_(b, net, o->loss, out);
    }
    soma_free(mark);
    if (st != SOMA_OK) {
        if (b) b->refs = 1;
        bank_release_(b);
        return st;
    }
    point_((*out)->impl);
    return SOMA_OK;
}
