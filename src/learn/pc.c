// Predictive coding by inference learning (Whittington & Bogacz 2017; Millidge, Tschantz &
// Buckley 2022), on a chain of top-level layers f_0 .. f_{L-1}.
//
// Value nodes v_l [n, size of layer l's input] for l = 1 .. L-1 (v_0 = the input, clamped),
// predictions mu_{l+1} = f_l(v_l), prediction errors e_l = v_l - mu_l. The top error is the
// loss's own negative gradient at the prediction (Millidge et al.): e_L = -s dLoss/dmu_L, which
// for MSE is the output clamped to the target (e_L proportional to t - mu_L), for XENT the
// softmax's (onehot - p); s is the error scale (opts.pc_err_scale; the loss is the batch mean,
// so the errors are small already). Inference descends the energy
//     F = sum_{l<L} |e_l|^2 / 2 + s Loss(mu_L),   dF/dv_l = e_l - J_l' e_{l+1},
// for pc_steps steps of pc_rate, all value nodes moving together, J_l' e computed by layer l's
// own backward op (a vector-Jacobian product batched over the mini-batch, parameter gradients
// off). Then each layer's parameters take a local step: its backward with dy = -e_{l+1} / s at
// input v_l, so at equilibrium with small errors (e_l ~ -s dLoss/dv_l) the update is backprop's
// gradient. With the fixed prediction assumption (opts.pc_fixed_pred, Millidge et al. 2022)
// predictions and Jacobians stay at the feedforward pass and the weights see the feedforward
// inputs: the errors then converge to backprop's exactly, whatever their size.
//
// Every top-level layer's output is a node (relu, pool and flatten included), so LeNet has 11
// hidden nodes: plain inference settles like diffusion along the chain, in O(depth^2 / rate)
// steps (pc-equals-bp: LeNet needs ~500 steps at rate 0.2 for cosine 0.9995 with backprop), the
// fixed prediction assumption in about depth / rate. Cost of a step: one forward of layers
// 1 .. L-1 and one input-gradient backward of layers L-1 .. 1 (layer 0, on the clamped input,
// runs forward once and backward once, for its weights).
#include <math.h>
#include <string.h>

#include "soma/learn.h"

typedef struct pc_impl {
    soma_rule_opts o;
    int L;          /* top-level layers */
    size_t *sz;     /* [L + 1] floats a sample of node l (sz[0] the input) */
    size_t per;     /* sum of sz[1..L]: floats a sample in each kind of buffer */
    size_t g_per;   /* max sz[l]: the scratch a sample */
    int cap;        /* batch the buffers hold */
    int last_n;     /* the last step's batch (0: none yet) */
    float *block;   /* all of the below */
    /* [L + 1] views (index 0 unused): the feedforward values ff_l, the current predictions mu_l,
     * the value nodes' displacement d_l = v_l - ff_l, the value nodes v_l = ff_l + d_l, the
     * errors e_l. Keeping d apart from ff keeps the small errors exact to float precision
     * (v_l - mu_l would cancel: the errors are orders of magnitude below the activity). */
    float **ff, **mu, **d, **v, **e;
    float *g;
} pc_impl;

#define PC_BUFS 5

static soma_status pc_reserve_(pc_impl *p, int n) {
    if (n <= p->cap) return SOMA_OK;
    soma_free(p->block);
    const size_t total = (size_t)n * (PC_BUFS * p->per + p->g_per);
    p->block = soma_alloc(total, sizeof(float));
    if (!p->block) {
        p->cap = 0;
        return SOMA_ERR_NOMEM;
    }
    float *q = p->block;
    for (int l = 1; l <= p->L; l++) {
        const size_t m = (size_t)n * p->sz[l];
        p->ff[l] = q, q += m;
        p->mu[l] = q, q += m;
        p->d[l] = q, q += m;
        p->v[l] = q, q += m;
        p->e[l] = q, q += m;
    }
    p->g = q;
    p->cap = n;
    return SOMA_OK;
}

/* Runs layer l's backward: dx (may be NULL) from dy at input x and output y; parameter
 * gradients only when params is set. */
static void layer_back_(soma_layer *l, float *dx, const float *dy, const float *x, const float *y, int n,
                        int params) {
    l->no_param_grads = !params;
    l->ops->backward(l, dx, dy, x, y, n);
    l->no_param_grads = 0;
}

/* e_L = -s dLoss/dy at the top prediction y (the first call reports loss/correct). */
static soma_status top_error_(soma_rule *r, pc_impl *p, const float *y, const soma_target *t, int n, float *loss,
                              int *correct) {
    const size_t m = (size_t)n * p->sz[p->L];
    SOMA_TRY(soma_rule_loss(r, y, (int)p->sz[p->L], t, n, loss, correct));
    const float s = p->o.pc_err_scale;
    float *e = p->e[p->L];
    const float *dy = r->dy;
    for (size_t i = 0; i < m; i++) e[i] = -s * dy[i];
    return SOMA_OK;
}

#ifdef SOMA_HAVE_OPENMP
#define PC_FOR _Pragma("omp parallel for simd schedule(static) if (m > 65536)")
#else
#define PC_FOR
#endif

static soma_status pc_step_(soma_rule *r, soma_net *net, const float *x, const soma_target *t, int n, float *loss,
                            int *correct) {
    pc_impl *p = r->impl;
    const int L = p->L;
    if (soma_net_n_layers(net) != L ||
        soma_shape_size(soma_net_out_shape(net)) != p->sz[L] || soma_shape_size(soma_net_in_shape(net)) != p->sz[0])
        return soma_error(SOMA_ERR_ARG, "pc: the rule was made for another net (%d layers, %zu outputs)", L, p->sz[L]);
    if (n < 1) return soma_error(SOMA_ERR_ARG, "pc: a batch of %d samples", n);
    soma_net_zero_grad(net);
    SOMA_TRY(soma_net_reserve(net, n));
    SOMA_TRY(pc_reserve_(p, n));
    /* feedforward pass: the predictions; the value nodes start on them (d = e = 0) */
    for (int l = 0; l < L; l++) {
        soma_layer *ly = soma_net_layer(net, l);
        ly->ops->forward(ly, p->ff[l + 1], l ? p->ff[l] : x, n, SOMA_MODE_TRAIN);
    }
    for (int l = 1; l < L; l++) {
        const size_t m = (size_t)n * p->sz[l] * sizeof(float);
        memset(p->d[l], 0, m);
        memset(p->e[l], 0, m);
        memcpy(p->v[l], p->ff[l], m);
        memcpy(p->mu[l], p->ff[l], m);
    }
    memcpy(p->mu[L], p->ff[L], (size_t)n * p->sz[L] * sizeof(float));
    SOMA_TRY(top_error_(r, p, p->ff[L], t, n, loss, correct));
    const int fpa = p->o.pc_fixed_pred;
    const float rate = p->o.pc_rate;
    /* inference */
    for (int it = 0; it < p->o.pc_steps && L > 1; it++) {
        /* every value node moves on the errors of the same instant (top down, so e_{l+1} is
         * read before anything below changes; the errors are recomputed afterwards):
         * v_l -= rate (e_l - J_l' e_{l+1}), the Jacobian at v_l (FPA: at ff_l) */
        for (int l = L - 1; l >= 1; l--) {
            soma_layer *ly = soma_net_layer(net, l);
            layer_back_(ly, p->g, p->e[l + 1], fpa ? p->ff[l] : p->v[l], fpa ? p->ff[l + 1] : p->mu[l + 1], n, 0);
            const size_t m = (size_t)n * p->sz[l];
            float *d = p->d[l];
            const float *e = p->e[l], *g = p->g;
            PC_FOR
            for (size_t i = 0; i < m; i++) d[i] -= rate * (e[i] - g[i]);
        }
        if (fpa) { /* the predictions stay: e_l = v_l - ff_l = d_l */
            for (int l = 1; l < L; l++) memcpy(p->e[l], p->d[l], (size_t)n * p->sz[l] * sizeof(float));
            continue;
        }
        for (int l = 1; l < L; l++) {
            const size_t m = (size_t)n * p->sz[l];
            float *v = p->v[l];
            const float *ff = p->ff[l], *d = p->d[l];
            PC_FOR
            for (size_t i = 0; i < m; i++) v[i] = ff[i] + d[i];
        }
        /* new predictions from the moved value nodes (mu_1 = f_0(x) = ff_1 stays) */
        for (int l = 1; l < L; l++) {
            soma_layer *ly = soma_net_layer(net, l);
            ly->ops->forward(ly, p->mu[l + 1], p->v[l], n, SOMA_MODE_TRAIN);
        }
        SOMA_TRY(top_error_(r, p, p->mu[L], t, n, NULL, NULL));
        /* e_l = v_l - mu_l = d_l - (mu_l - ff_l): the difference of two near floats is exact */
        for (int l = 1; l < L; l++) {
            const size_t m = (size_t)n * p->sz[l];
            float *e = p->e[l];
            const float *d = p->d[l], *mu = p->mu[l], *ff = p->ff[l];
            PC_FOR
            for (size_t i = 0; i < m; i++) e[i] = d[i] - (mu[i] - ff[i]);
        }
    }
    if (fpa)
        for (int l = 1; l < L; l++) {
            const size_t m = (size_t)n * p->sz[l];
            for (size_t i = 0; i < m; i++) p->v[l][i] = p->ff[l][i] + p->d[l][i];
        }
    p->last_n = n;
    /* local weight updates: layer l's own backward with dy = -e_{l+1} / s at its input
     * (v_l; FPA: ff_l, where its caches were filled) */
    const float inv = -1.0f / p->o.pc_err_scale;
    for (int l = 0; l < L; l++) {
        soma_layer *ly = soma_net_layer(net, l);
        if (!soma_layer_trainable(ly)) continue;
        const size_t m = (size_t)n * p->sz[l + 1];
        const float *e = p->e[l + 1];
        for (size_t i = 0; i < m; i++) p->g[i] = inv * e[i];
        const float *in = l == 0 ? x : fpa ? p->ff[l] : p->v[l];
        layer_back_(ly, NULL, p->g, in, fpa ? p->ff[l + 1] : p->mu[l + 1], n, 1);
    }
    return SOMA_OK;
}

static void pc_destroy_(soma_rule *r) {
    pc_impl *p = r->impl;
    if (!p) return;
    soma_free(p->block);
    soma_free(p->sz);
    soma_free(p->ff);
    soma_free(p->mu);
    soma_free(p->d);
    soma_free(p->v);
    soma_free(p->e);
    soma_free(p);
    r->impl = NULL;
}

static soma_status pc_make_(soma_rule **out, const soma_rule_opts *o, int L, const size_t *sz);

/* a replica of the net has the same chain: the same sizes */
static soma_status pc_clone_(const soma_rule *r, soma_rule **out) {
    const pc_impl *p = r->impl;
    return pc_make_(out, &p->o, p->L, p->sz);
}

static const soma_rule_ops pc_ops_ = {
    .name = "pc", .step = pc_step_, .destroy = pc_destroy_, .clone = pc_clone_,
};

/* the value nodes' sizes: sz[l] floats a sample for l = 0 .. L */
static soma_status pc_layout_(pc_impl *p, int L, const size_t *sz) {
    p->L = L;
    p->sz = soma_calloc((size_t)L + 1, sizeof *p->sz);
    p->ff = soma_calloc((size_t)L + 1, sizeof *p->ff);
    p->mu = soma_calloc((size_t)L + 1, sizeof *p->mu);
    p->d = soma_calloc((size_t)L + 1, sizeof *p->d);
    p->v = soma_calloc((size_t)L + 1, sizeof *p->v);
    p->e = soma_calloc((size_t)L + 1, sizeof *p->e);
    if (!p->sz || !p->ff || !p->mu || !p->d || !p->v || !p->e) return SOMA_ERR_NOMEM;
    p->per = 0;
    p->g_per = 1;
    for (int l = 0; l <= L; l++) {
        p->sz[l] = sz[l];
        if (l > 0) p->per += p->sz[l];
        if (p->sz[l] > p->g_per) p->g_per = p->sz[l];
    }
    return SOMA_OK;
}

static soma_status pc_check_(soma_net *net, const soma_rule_opts *o) {
    if ((int)o->loss < 0 || o->loss >= SOMA_LOSS_COUNT) return soma_error(SOMA_ERR_ARG, "pc: unknown loss %d", (int)o->loss);
    if (o->pc_steps < 0 || o->pc_steps > 100000)
        return soma_error(SOMA_ERR_ARG, "pc: %d inference steps (0 .. 100000; 0 means %d)", o->pc_steps, 20);
    if (!(o->pc_rate >= 0.f && o->pc_rate <= 1.f))
        return soma_error(SOMA_ERR_ARG, "pc: inference rate %g outside [0, 1] (0 means 0.1)", (double)o->pc_rate);
    if (!(o->pc_err_scale >= 0.f) || isinf(o->pc_err_scale))
        return soma_error(SOMA_ERR_ARG, "pc: error scale %g must be finite and >= 0 (0 means 1)", (double)o->pc_err_scale);
    if (!net) return SOMA_OK;
    const int L = soma_net_n_layers(net);
    if (L < 1) return soma_error(SOMA_ERR_ARG, "pc: the net has no layers");
    for (int l = 0; l < L; l++) {
        const soma_layer *ly = soma_net_layer(net, l);
        if (strcmp(ly->ops->kind, "dropout") == 0)
            return soma_error(SOMA_ERR_ARG,
                              "pc: layer %d (%s) is dropout, whose masks would change at every inference step; "
                              "drop it for predictive coding", l, ly->spec);
    }
    return SOMA_OK;
}

static soma_status pc_make_(soma_rule **out, const soma_rule_opts *o, int L, const size_t *sz) {
    *out = NULL;
    soma_rule *r = soma_calloc(1, sizeof *r);
    pc_impl *p = soma_calloc(1, sizeof *p);
    if (!r || !p) {
        soma_free(r);
        soma_free(p);
        return SOMA_ERR_NOMEM;
    }
    r->ops = &pc_ops_;
    r->loss = o->loss;
    r->impl = p;
    p->o = *o;
    p->o.kind = SOMA_RULE_PC;
    if (p->o.pc_steps == 0) p->o.pc_steps = 20;
    if (p->o.pc_rate == 0.f) p->o.pc_rate = 0.1f;
    if (p->o.pc_err_scale == 0.f) p->o.pc_err_scale = 1.f;
    p->o.pc_fixed_pred = p->o.pc_fixed_pred != 0;
    soma_status st = pc_layout_(p, L, sz);
    if (st != SOMA_OK) {
        soma_rule_free(r);
        return st;
    }
    *out = r;
    return SOMA_OK;
}

soma_status soma_rule_pc_new(soma_rule **out, soma_net *net, const soma_rule_opts *o) {
    *out = NULL;
    soma_rule_opts d = soma_rule_opts_default();
    if (!o) o = &d;
    if (!net) return soma_error(SOMA_ERR_ARG, "pc: no network");
    SOMA_TRY(pc_check_(net, o));
    const int L = soma_net_n_layers(net);
    size_t *sz = soma_alloc((size_t)L + 1, sizeof *sz);
    if (!sz) return SOMA_ERR_NOMEM;
    for (int l = 0; l <= L; l++)
        sz[l] = soma_shape_size(l < L ? soma_net_layer(net, l)->in : soma_net_out_shape(net));
    soma_status st = pc_make_(out, o, L, sz);
    soma_free(sz);
    return st;
}

soma_status soma_rule_pc_nodes(const soma_rule *r, int l, const float **v, const float **e) {
    if (v) *v = NULL;
    if (e) *e = NULL;
    if (!r || r->ops != &pc_ops_) return soma_error(SOMA_ERR_ARG, "pc nodes: not a predictive-coding rule");
    const pc_impl *p = r->impl;
    if (l < 1 || l > p->L) return soma_error(SOMA_ERR_ARG, "pc nodes: node %d outside 1 .. %d", l, p->L);
    if (!p->last_n) return soma_error(SOMA_ERR_ARG, "pc nodes: no step yet");
    if (v) *v = l < p->L ? p->v[l] : NULL;
    if (e) *e = p->e[l];
    return SOMA_OK;
}
