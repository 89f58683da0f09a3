// Direct feedback alignment (Nokland 2016): the output error e = dL/dy [n, K] is sent to every
// hidden layer at once through a fixed random matrix B_j [units_j, K].
//
// The net must be a plain chain of top-level layers whose only parameters are dense and conv2d
// weights and biases (activations, pooling, dropout and flatten may sit between them). Its
// weight layers W_0 .. W_{J-1} cut the chain into blocks: block j runs from W_j up to (not
// including) W_{j+1}, e.g. [conv, relu, maxpool] or [fc, relu]; its output h_j (the input of
// W_{j+1}, after the nonlinearity and any pooling) has units_j values a sample. The exact
// choice made here:
//   - the top block (W_{J-1} and whatever follows it) receives e and is backpropagated as
//     usual (the output layer learns from its true gradient);
//   - each hidden block j receives dL/dh_j := e B_j^T (one GEMM over the batch) and is
//     backpropagated through its own layers only (pooling, activation, then W_j's local
//     weight gradient dW_j = delta_j x_j'); no gradient flows further down.
// With conv layers h_j is the [C,H,W] output of the block (after pooling when there is one),
// so B_j maps e to that image. B_j ~ U(-1/sqrt(K), 1/sqrt(K)) * fb_scale. The matrices are the
// rule's checkpoint section "rule.dfa"; clones (data-parallel replicas) share them and bring
// scratch of their own.
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "soma/learn.h"

typedef struct dfa_bank {
    int refs;
    int n;        /* hidden blocks (J - 1) */
    int K;        /* output size a sample */
    int *units;   /* units_j */
    size_t *off;  /* offset of B_j in block */
    size_t total;
    float *block;
} dfa_bank;

typedef struct dfa_impl {
    dfa_bank *bank;
    int J;          /* weight layers */
    int *wl;        /* their top-level indices */
    int n_layers;
    size_t max_act; /* largest per-sample activation of any layer from W_0 up */
    float *buf;     /* 3 gradient buffers of cap floats each */
    size_t cap;
} dfa_impl;

static void bank_release_(dfa_bank *b) {
    if (!b || --b->refs > 0) return;
    soma_free(b->units);
    soma_free(b->off);
    soma_free(b->block);
    soma_free(b);
}

static void dfa_destroy_(soma_rule *r) {
    dfa_impl *f = r->impl;
    if (!f) return;
    bank_release_(f->bank);
    soma_free(f->wl);
    soma_free(f->buf);
    soma_free(f);
    r->impl = NULL;
}

/* Backward through top-level layers hi down to lo from dy (which must not be one of the
 * ping-pong buffers a and b); the input gradient of layer lo is not computed. */
static void block_backward_(soma_net *net, int lo, int hi, const float *dy, float *a, float *b, int n) {
    const float *g = dy;
    float *bufs[2] = {a, b};
    int which = 0;
    for (int i = hi; i >= lo; i--) {
        soma_layer *l = soma_net_layer(net, i);
        float *d = i > lo ? bufs[which] : NULL;
        l->no_param_grads = 0;
        l->ops->backward(l, d, g, soma_net_activation(net, i), soma_net_activation(net, i + 1), n);
        g = d;
        which ^= 1;
    }
}

static soma_status dfa_step_(soma_rule *r, soma_net *net, const float *x, const soma_target *t, int n, float *loss,
                             int *correct) {
    dfa_impl *f = r->impl;
    const dfa_bank *b = f->bank;
    const int K = b->K;
    if (soma_net_n_layers(net) != f->n_layers || (int)soma_shape_size(soma_net_out_shape(net)) != K)
        return soma_error(SOMA_ERR_ARG, "dfa: the net differs from the one the rule was made for");
    const size_t need = (size_t)n * f->max_act;
    if (need > f->cap) { /* grows with the batch only */
        soma_free(f->buf);
        f->buf = soma_alloc(3 * need, sizeof(float));
        f->cap = f->buf ? need : 0;
        if (!f->buf) return SOMA_ERR_NOMEM;
    }
    soma_net_zero_grad(net);
    const float *y;
    SOMA_TRY(soma_net_forward(net, x, n, SOMA_MODE_TRAIN, &y));
    SOMA_TRY(soma_rule_loss(r, y, K, t, n, loss, correct));
    float *p0 = f->buf, *p1 = f->buf + f->cap, *h = f->buf + 2 * f->cap;
    block_backward_(net, f->wl[f->J - 1], f->n_layers - 1, r->dy, p0, p1, n);
    for (int j = 0; j < b->n; j++) {
        const int U = b->units[j];
        /* dL/dh_j [n, U] = e [n, K] . B_j^T, B_j [U, K] */
        soma_gemm(0, 1, n, U, K, 1.f, r->dy, K, b->block + b->off[j], K, 0.f, h, U);
        block_backward_(net, f->wl[j], f->wl[j + 1] - 1, h, p0, p1, n);
    }
    return SOMA_OK;
}

static soma_status dfa_wrap_(dfa_bank *b, const dfa_impl *src, soma_loss_kind loss, soma_rule **out) {
    soma_rule *r = soma_calloc(1, sizeof *r);
    dfa_impl *f = soma_calloc(1, sizeof *f);
    int *wl = soma_alloc((size_t)src->J, sizeof *wl);
    if (!r || !f || !wl) {
        soma_free(r);
        soma_free(f);
        soma_free(wl);
        return SOMA_ERR_NOMEM;
    }
    memcpy(wl, src->wl, (size_t)src->J * sizeof *wl);
    f->J = src->J;
    f->wl = wl;
    f->n_layers = src->n_layers;
    f->max_act = src->max_act;
    b->refs++;
    f->bank = b;
    r->impl = f;
    r->loss = loss;
    *out = r;
    return SOMA_OK;
}

static const soma_rule_ops dfa_ops_;

static soma_status dfa_clone_(const soma_rule *r, soma_rule **out) {
    *out = NULL;
    const dfa_impl *f = r->impl;
    SOMA_TRY(dfa_wrap_(f->bank, f, r->loss, out));
    (*out)->ops = &dfa_ops_;
    return SOMA_OK;
}

/* blob: "SDF1", uint32 blocks, uint32 K, uint32 units of each, then every B_j in order */
static size_t blob_head_(const dfa_bank *b) { return 12 + (size_t)b->n * 4; }

static soma_status dfa_save_(const soma_rule *r, void **data, size_t *size) {
    const dfa_bank *b = ((const dfa_impl *)r->impl)->bank;
    const size_t head = blob_head_(b), bytes = head + b->total * sizeof(float);
    unsigned char *p = soma_alloc(bytes, 1);
    if (!p) return SOMA_ERR_NOMEM;
    uint32_t v[2] = {(uint32_t)b->n, (uint32_t)b->K};
    memcpy(p, "SDF1", 4);
    memcpy(p + 4, v, 8);
    for (int j = 0; j < b->n; j++) {
        uint32_t u = (uint32_t)b->units[j];
        memcpy(p + 12 + (size_t)j * 4, &u, 4);
    }
    if (b->total) memcpy(p + head, b->block, b->total * sizeof(float));
    *data = p;
    *size = bytes;
    return SOMA_OK;
}

static soma_status dfa_load_(soma_rule *r, const void *data, size_t size) {
    dfa_bank *b = ((dfa_impl *)r->impl)->bank;
    const unsigned char *p = data;
    const size_t head = blob_head_(b), bytes = head + b->total * sizeof(float);
    uint32_t v[2];
    if (size < 12 || memcmp(p, "SDF1", 4) != 0)
        return soma_error(SOMA_ERR_FORMAT, "rule.dfa: not a direct-feedback-alignment section (bad magic)");
    memcpy(v, p + 4, 8);
    if (v[0] != (uint32_t)b->n || v[1] != (uint32_t)b->K || size != bytes)
        return soma_error(SOMA_ERR_FORMAT, "rule.dfa: the section holds %u matrices for %u outputs (%zu bytes); this net needs %d for %d (%zu bytes)",
                          v[0], v[1], size, b->n, b->K, bytes);
    for (int j = 0; j < b->n; j++) {
        uint32_t u;
        memcpy(&u, p + 12 + (size_t)j * 4, 4);
        if (u != (uint32_t)b->units[j])
            return soma_error(SOMA_ERR_FORMAT, "rule.dfa: matrix %d feeds %u units; this net's block %d has %d", j, u, j,
                              b->units[j]);
    }
    if (b->total) memcpy(b->block, p + head, b->total * sizeof(float));
    return SOMA_OK;
}

static const soma_rule_ops dfa_ops_ = {
    .name = "dfa", .step = dfa_step_, .destroy = dfa_destroy_, .clone = dfa_clone_, .save = dfa_save_, .load = dfa_load_,
};

static int is_weight_layer_(const soma_layer *l) {
    return strcmp(l->ops->kind, "dense") == 0 || strcmp(l->ops->kind, "conv2d") == 0;
}

soma_status soma_rule_dfa_new(soma_rule **out, soma_net *net, const soma_rule_opts *o) {
    *out = NULL;
    soma_rule_opts d = soma_rule_opts_default();
    if (!o) o = &d;
    if (!net) return soma_error(SOMA_ERR_ARG, "dfa: no network");
    if ((int)o->loss < 0 || o->loss >= SOMA_LOSS_COUNT) return soma_error(SOMA_ERR_ARG, "dfa: unknown loss %d", (int)o->loss);
    if (!(o->fb_scale >= 0.f) || o->fb_scale > 1e6f)
        return soma_error(SOMA_ERR_ARG, "dfa: feedback scale %g out of range (> 0; 0 means 1)", (double)o->fb_scale);
    const int m = soma_net_n_layers(net);
    const size_t K = soma_shape_size(soma_net_out_shape(net));
    if (K < 1 || K > (1u << 20)) return soma_error(SOMA_ERR_ARG, "dfa: the net's output size %zu is out of range", K);
    int J = 0;
    for (int i = 0; i < m; i++) {
        soma_layer *l = soma_net_layer(net, i);
        if (l->ops->n_children && l->ops->n_children(l) > 0)
            return soma_error(SOMA_ERR_ARG, "dfa: layer %d (%s) is a composite; DFA needs a plain chain of layers", i,
                              l->spec);
        if (is_weight_layer_(l)) {
            J++;
        } else if (l->n_params > 0) {
            return soma_error(SOMA_ERR_ARG, "dfa: layer %d (%s, %s) has parameters; DFA trains only dense and conv2d layers",
                              i, l->spec, l->ops->kind);
        }
    }
    if (J == 0)
        return soma_error(SOMA_ERR_ARG, "dfa: net '%s' has no dense or conv2d layer", soma_net_spec(net));
    dfa_impl proto = {0};
    proto.J = J;
    proto.n_layers = m;
    proto.wl = soma_alloc((size_t)J, sizeof(int));
    dfa_bank *b = soma_calloc(1, sizeof *b);
    soma_status st = SOMA_ERR_NOMEM;
    if (proto.wl && b) {
        int k = 0;
        for (int i = 0; i < m; i++)
            if (is_weight_layer_(soma_net_layer(net, i))) proto.wl[k++] = i;
        for (int i = proto.wl[0]; i < m; i++) {
            const soma_layer *l = soma_net_layer(net, i);
            size_t a = soma_shape_size(l->in), c = soma_shape_size(l->out);
            if (a > proto.max_act) proto.max_act = a;
            if (c > proto.max_act) proto.max_act = c;
        }
        b->n = J - 1;
        b->K = (int)K;
        b->units = soma_alloc((size_t)(J > 1 ? J - 1 : 1), sizeof *b->units);
        b->off = soma_alloc((size_t)(J > 1 ? J - 1 : 1), sizeof *b->off);
        for (int j = 0; b->units && j < b->n; j++) {
            b->units[j] = (int)soma_shape_size(soma_net_layer(net, proto.wl[j + 1])->in);
            b->total += (size_t)b->units[j] * K;
        }
        b->block = soma_alloc(b->total ? b->total : 1, sizeof(float));
        if (b->units && b->off && b->block) {
            /* B_j ~ U(-1/sqrt(K), 1/sqrt(K)) * fb_scale, from stream 0x44 of the seed, in order */
            soma_rng rng;
            soma_rng_seed(&rng, o->seed, 0x44);
            const float bound = (o->fb_scale > 0.f ? o->fb_scale : 1.f) / sqrtf((float)K);
            size_t off = 0;
            for (int j = 0; j < b->n; j++) {
                b->off[j] = off;
                soma_rng_uniform_fill(&rng, b->block + off, (size_t)b->units[j] * K, -bound, bound);
                off += (size_t)b->units[j] * K;
            }
            st = dfa_wrap_(b, &proto, o->loss, out);
            if (st == SOMA_OK) (*out)->ops = &dfa_ops_;
        }
    }
    soma_free(proto.wl);
    if (st != SOMA_OK && b) {
        b->refs = 1;
        bank_release_(b);
    }
    return st;
}
