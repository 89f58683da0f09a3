// Spiking layers for the nn stack, trained by surrogate gradients through time.
//
//   lif[(OPTS)]     input currents [T,...] -> spikes [T,...] (same shape), no parameters
//   lifN[(OPTS)]    fcN then lif: [T,...] -> [T,N], weight [N,I] and bias [N] as nn.Linear
//
// Per neuron, from U[-1] = 0 and S[-1] = 0, at each step t of the time axis:
//
//   reset "sub" (default):  U[t] = beta U[t-1] + I[t] - theta S[t-1]
//   reset "zero":           U[t] = beta U[t-1] (1 - S[t-1]) + I[t]
//   S[t] = H(U[t] - theta)  (1 when U[t] > theta, else 0)
//
// This is snnTorch's Leaky neuron (the reset is applied at the step after the spike). The
// backward pass is backpropagation through time of this recursion, with the derivative of the
// step function replaced by SuperSpike's fast sigmoid (Zenke & Ganguli 2018; Neftci, Mostafa &
// Zenke 2019):  dS/dU = 1 / (1 + k |U - theta|)^2.  With detach=1 the reset term is treated as a
// constant (no gradient through S[t-1] into U[t]), as snnTorch does by default and SpikingJelly
// with detach_reset=True; the default here, detach=0, differentiates the reset too. Going back
// in time, with g[t] = dL/dU[t] and dy[t] = dL/dS[t]:
//
//   g[t] = dy[t] sg[t] + g[t+1] a[t],   sg[t] = 1 / (1 + k |U[t] - theta|)^2
//   a[t] = beta - theta sg[t]                          (sub;  beta when detached)
//   a[t] = beta (1 - S[t]) - beta U[t] sg[t]           (zero; beta (1 - S[t]) when detached)
//
// and dL/dI[t] = g[t]. Options (all optional, comma-separated key=value inside parentheses):
//   beta=B   decay per step, 0 <= B <= 1            (default exp(-dt/tau) = exp(-0.1) = 0.905)
//   tau=MS   membrane time constant (ms), dt=MS the step (ms); beta = exp(-dt/tau)
//            (defaults tau 10 ms, dt 1 ms; give beta or tau/dt, not both)
//   theta=V  threshold, > 0 (default 1)
//   k=K      surrogate slope, > 0 (default 25, snnTorch's fast_sigmoid default)
//   reset=sub|zero (default sub), detach=0|1 (default 0)
//   out=spike|mem  the output: spikes S (default) or the membrane U[t] (before reset), whose
//            gradient flows into U[t] directly (dL/dU[t] = dy[t] + g[t+1] a[t])
//   learn=0|1 (default 0) per-neuron beta and theta become parameters "beta" and "threshold" [D]
//            (D the neurons of one step), initialised to the options' values and used clamped
//            (0 <= beta <= 1, theta >= 1e-3; no gradient where clamped). Their gradients:
//            dL/dbeta = sum_t g[t+1] U[t] (1 - S[t] with reset=zero), dL/dtheta = sum_t
//            -(sg[t] dL/dS[t] + g[t+1] S[t] (reset=sub)), dL/dS[t] counting the reset's path.
// e.g. "lif128(beta=0.9,k=10)", "lif(reset=zero,detach=1)".
//
//   li[(OPTS)], liN[(OPTS)]  a leaky integrator (a read-out): the membrane of neurons that never
//            fire, U[t] = beta U[t-1] + I[t], output U; liN = fcN first. Same beta/tau/dt options.
//
// The membrane U of the last forward is kept ([n,T,D]) for backward; the time recursion is
// elementwise and runs over the D neurons of a step as one vector loop, samples shared out
// among OpenMP threads. lifN's GEMM sees the whole [n*T, I] batch at once. Nothing is allocated
// in forward or backward.
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soma/nn.h"
#include "soma/snn.h"

/* Recursions split over OpenMP threads above this many values (n * T * D). */
#define LIF_PAR_MIN ((size_t)1 << 15)

typedef struct lif_cfg {
    float beta, theta, k;
    int reset_zero, detach;
    int mem;   /* 1: the output is the membrane U[t] (a read-out), not the spikes */
    int learn; /* 1: per-neuron beta and theta are parameters ("beta", "threshold") */
} lif_cfg;

/* Learned values are used clamped to these ranges (no gradient outside them). */
#define LIF_THETA_MIN 1e-3f

typedef struct lif_impl {
    lif_cfg c;
    int n_out;   /* lifN: N; 0 for plain lif */
    int T;       /* time steps */
    size_t D;    /* neurons per step */
    int p_beta;  /* learn: index of the "beta" parameter ("threshold" follows) */
    int max_n;
    float *bv, *tv; /* [D] beta and theta of each neuron in the last forward */
    float *u;    /* [max_n, T, D] membrane U[t] of the last forward (before reset) */
    float *g;    /* lifN: [max_n, T, D] dL/dI, the dense part's output gradient */
    float *pg;   /* learn: [max_n, 2, D] each sample's dL/dbeta and dL/dtheta */
} lif_impl;

// --- the recursion on one sample ---------------------------------------------------------

/* In place: u holds the currents I [T,D] on entry and U [T,D] on exit; y receives S [T,D]
 * (or a copy of U with c->mem). The spike S[t-1] is recomputed from U[t-1] > theta. */
static void lif_fwd_sample_(float *u, float *y, const lif_cfg *c, const float *bv, const float *tv,
                            int T, size_t D) {
    for (int t = 0; t < T; t++) {
        float *ut = u + (size_t)t * D, *yt = y + (size_t)t * D;
        if (t > 0) {
            const float *up = ut - D;
            if (c->reset_zero) {
#pragma omp simd
                for (size_t j = 0; j < D; j++) ut[j] += up[j] > tv[j] ? 0.f : bv[j] * up[j];
            } else {
#pragma omp simd
                for (size_t j = 0; j < D; j++) ut[j] += bv[j] * up[j] - (up[j] > tv[j] ? tv[j] : 0.f);
            }
        }
        if (c->mem) {
            memcpy(yt, ut, D * sizeof *yt);
        } else {
#pragma omp simd
            for (size_t j = 0; j < D; j++) yt[j] = ut[j] > tv[j] ? 1.f : 0.f;
        }
    }
}

/* g[T,D] = dL/dI from dy [T,D] (dL/dS, or dL/dU with c->mem) and the kept U; g may alias dy.
 * With pg [2,D] (may be NULL), also this sample's dL/dbeta and dL/dtheta. Going back in time,
 * with gn = dL/dU[t+1]:
 *   dS    = dy[t] (spike output) + gn dU[t+1]/dS[t]   (-theta sub, -beta U[t] zero; 0 detached)
 *   g[t]  = dS sg[t] + dy[t] (membrane output) + gn beta (1 - S[t] for zero reset)
 *   dtheta += -sg[t] dS - gn S[t] (sub),   dbeta += gn U[t] (1 - S[t] for zero reset) */
static void lif_bwd_sample_(float *g, const float *dy, const float *u, const lif_cfg *c,
                            const float *bv, const float *tv, float *pg, int T, size_t D) {
    const float k = c->k, zf = c->reset_zero ? 1.f : 0.f, df = c->detach ? 0.f : 1.f;
    const float mf = c->mem ? 1.f : 0.f;
    for (int t = T - 1; t >= 0; t--) {
        const size_t o = (size_t)t * D;
        const float *ut = u + o, *dyt = dy + o;
        float *gt = g + o;
        const float *gn = t + 1 < T ? gt + D : NULL;
        if (!gn) {
#pragma omp simd
            for (size_t j = 0; j < D; j++) {
                float q = 1.f + k * fabsf(ut[j] - tv[j]), sg = 1.f / (q * q);
                float dS = (1.f - mf) * dyt[j];
                if (pg) pg[D + j] -= sg * dS;
                gt[j] = dS * sg + mf * dyt[j];
            }
            continue;
        }
#pragma omp simd
        for (size_t j = 0; j < D; j++) {
            float q = 1.f + k * fabsf(ut[j] - tv[j]), sg = 1.f / (q * q);
            float s = ut[j] > tv[j] ? 1.f : 0.f, keep = 1.f - zf * s, gnj = gn[j];
            float dS = (1.f - mf) * dyt[j] - df * gnj * (zf * bv[j] * ut[j] + (1.f - zf) * tv[j]);
            if (pg) {
                pg[j] += gnj * ut[j] * keep;
                pg[D + j] -= sg * dS + (1.f - zf) * gnj * s;
            }
            gt[j] = dS * sg + mf * dyt[j] + gnj * bv[j] * keep;
        }
    }
}

static void lif_fwd_(lif_impl *L, float *s, int n) {
    const size_t per = (size_t)L->T * L->D;
    const int par = (size_t)n * per >= LIF_PAR_MIN;
    (void)par;
#pragma omp parallel for schedule(static) if (par)
    for (int i = 0; i < n; i++)
        lif_fwd_sample_(L->u + (size_t)i * per, s + (size_t)i * per, &L->c, L->bv, L->tv, L->T, L->D);
}

/* pg: NULL, or the per-sample parameter gradients [n, 2, D] (zeroed here). */
static void lif_bwd_(const lif_impl *L, float *g, const float *dy, float *pg, int n) {
    const size_t per = (size_t)L->T * L->D;
    const int par = (size_t)n * per >= LIF_PAR_MIN;
    (void)par;
    if (pg) memset(pg, 0, (size_t)n * 2 * L->D * sizeof *pg);
#pragma omp parallel for schedule(static) if (par)
    for (int i = 0; i < n; i++) {
        size_t o = (size_t)i * per;
        lif_bwd_sample_(g + o, dy + o, L->u + o, &L->c, L->bv, L->tv, pg ? pg + (size_t)i * 2 * L->D : NULL,
                        L->T, L->D);
    }
}

// --- layer ops ---------------------------------------------------------------------------

static const char *shape_str_(soma_shape s, char *buf) { return soma_shape_str(s, buf, 64); }

static void lif_free_buffers_(lif_impl *L) {
    soma_free(L->u);
    soma_free(L->g);
    soma_free(L->pg);
    L->u = L->g = L->pg = NULL;
    L->max_n = 0;
}

static soma_status lif_setup(soma_layer *l) {
    lif_impl *L = l->impl;
    char b[64];
    l->n_params = 0;
    lif_free_buffers_(L); /* sized for the previous shape */
    soma_free(L->bv);
    L->bv = L->tv = NULL;
    if (l->in.rank != 2 && l->in.rank != 4)
        return soma_error(SOMA_ERR_SHAPE,
                          "layer %s: wants a sequence [T,D] or [T,C,H,W], got %s; put an encoder "
                          "before it (rateT, latencyT, or repeatT for direct coding)",
                          l->spec, shape_str_(l->in, b));
    L->T = l->in.d[0];
    size_t step = soma_shape_size(l->in) / (size_t)L->T;
    if (step < 1 || step > (size_t)1 << 30)
        return soma_error(SOMA_ERR_SHAPE, "layer %s: input %s has a bad size", l->spec, shape_str_(l->in, b));
    if (L->n_out == 0) {
        L->D = step;
        l->out = l->in;
    } else {
        int I = (int)step, O = L->n_out;
        L->D = (size_t)O;
        l->out = soma_shape2(L->T, O);
        SOMA_TRY(soma_layer_add_param(l, "weight", 2, (int[]){O, I}, 1, I, O));
        SOMA_TRY(soma_layer_add_param(l, "bias", 1, (int[]){O}, 0, I, O));
    }
    L->bv = soma_alloc(2 * L->D, sizeof(float));
    if (!L->bv) return soma_error(SOMA_ERR_NOMEM, "layer %s: no memory for %zu neurons", l->spec, L->D);
    L->tv = L->bv + L->D;
    for (size_t j = 0; j < L->D; j++) L->bv[j] = L->c.beta, L->tv[j] = L->c.theta;
    if (L->c.learn) {
        if (L->D > (size_t)1 << 28) return soma_error(SOMA_ERR_SHAPE, "layer %s: too many neurons", l->spec);
        int D = (int)L->D;
        L->p_beta = l->n_params;
        SOMA_TRY(soma_layer_add_param(l, "beta", 1, (int[]){D}, 0, 1, 1));
        SOMA_TRY(soma_layer_add_param(l, "threshold", 1, (int[]){D}, 0, 1, 1));
    }
    return SOMA_OK;
}

static void lif_init(soma_layer *l, soma_rng *rng) {
    lif_impl *L = l->impl;
    if (L->n_out) {
        soma_init_kaiming_uniform(&l->params[0], rng);
        soma_init_bias_uniform(&l->params[1], rng);
    }
    if (L->c.learn) {
        soma_init_const(&l->params[L->p_beta], L->c.beta);
        soma_init_const(&l->params[L->p_beta + 1], L->c.theta);
    }
}

static soma_status lif_reserve(soma_layer *l, int max_n) {
    lif_impl *L = l->impl;
    if (max_n > L->max_n || !L->u) {
        lif_free_buffers_(L);
        size_t per = (size_t)L->T * L->D;
        L->u = soma_alloc((size_t)max_n, per * sizeof(float));
        L->g = L->n_out ? soma_alloc((size_t)max_n, per * sizeof(float)) : NULL;
        L->pg = L->c.learn ? soma_alloc((size_t)max_n, 2 * L->D * sizeof(float)) : NULL;
        if (!L->u || (L->n_out && !L->g) || (L->c.learn && !L->pg)) {
            lif_free_buffers_(L);
            return soma_error(SOMA_ERR_NOMEM, "layer %s: no memory for %d samples of [%d,%zu]", l->spec,
                              max_n, L->T, L->D);
        }
        L->max_n = max_n;
    }
    l->max_n = max_n;
    return SOMA_OK;
}

static void lif_forward(soma_layer *l, float *y, const float *x, int n, soma_mode mode) {
    (void)mode;
    lif_impl *L = l->impl;
    SOMA_ASSERT(L->u && n <= L->max_n);
    if (L->c.learn) { /* the learned values, clamped: 0 <= beta <= 1, theta >= LIF_THETA_MIN */
        const float *b = l->params[L->p_beta].value, *t = l->params[L->p_beta + 1].value;
        for (size_t j = 0; j < L->D; j++) {
            L->bv[j] = b[j] < 0.f ? 0.f : b[j] > 1.f ? 1.f : b[j];
            L->tv[j] = t[j] < LIF_THETA_MIN ? LIF_THETA_MIN : t[j];
        }
    }
    if (L->n_out) {
        int I = l->params[0].dims[1];
        soma_dense_forward(L->u, x, l->params[0].value, l->params[1].value, n * L->T, I, L->n_out);
    } else {
        memcpy(L->u, x, (size_t)n * L->T * L->D * sizeof *L->u);
    }
    lif_fwd_(L, y, n);
}

static void lif_backward(soma_layer *l, float *dx, const float *dy, const float *x, const float *y,
                         int n) {
    (void)y;
    lif_impl *L = l->impl;
    float *dbeta = L->c.learn ? soma_layer_grad(l, L->p_beta) : NULL;
    float *dtheta = L->c.learn ? soma_layer_grad(l, L->p_beta + 1) : NULL;
    float *pg = dbeta || dtheta ? L->pg : NULL;
    float *dw = L->n_out ? soma_layer_grad(l, 0) : NULL, *db = L->n_out ? soma_layer_grad(l, 1) : NULL;
    float *g = L->n_out ? L->g : dx;
    if (!g || (!dx && !dw && !db && !pg)) {
        if (!pg) return;
        g = L->u; /* plain lif asked for the parameter gradients only: U is consumed in place */
    }
    lif_bwd_(L, g, dy, pg, n);
    if (pg) { /* sum over samples; no gradient where the clamp held the value */
        const float *b = l->params[L->p_beta].value, *t = l->params[L->p_beta + 1].value;
        const size_t D = L->D;
        for (int i = 0; i < n; i++) {
            const float *p = pg + (size_t)i * 2 * D;
            for (size_t j = 0; j < D; j++) {
                if (dbeta && b[j] >= 0.f && b[j] <= 1.f) dbeta[j] += p[j];
                if (dtheta && t[j] >= LIF_THETA_MIN) dtheta[j] += p[D + j];
            }
        }
    }
    if (L->n_out && (dx || dw || db)) {
        int I = l->params[0].dims[1];
        soma_dense_backward(dx, dw, db, L->g, x, soma_layer_bwd_value(l, 0), n * L->T, I, L->n_out);
    }
}

static void lif_destroy(soma_layer *l) {
    lif_impl *L = l->impl;
    if (L) {
        lif_free_buffers_(L);
        soma_free(L->bv);
    }
    soma_free(L);
    l->impl = NULL;
}

static soma_status lif_clone(const soma_layer *src, soma_layer *dst) {
    lif_impl *L = soma_alloc(1, sizeof *L);
    if (!L) return soma_error(SOMA_ERR_NOMEM, "layer %s: no memory to clone", src->spec);
    memcpy(L, src->impl, sizeof *L);
    L->u = L->g = L->pg = L->bv = L->tv = NULL; /* src's; setup allocates bv/tv again */
    L->max_n = 0;
    dst->impl = L;
    return SOMA_OK;
}

static const soma_layer_ops lif_ops = {
    .kind = "lif",
    .setup = lif_setup,
    .init = lif_init,
    .reserve = lif_reserve,
    .forward = lif_forward,
    .backward = lif_backward,
    .destroy = lif_destroy,
    .clone = lif_clone,
};

// --- token grammar -----------------------------------------------------------------------

/* A finite number filling the whole of [s, e); 0 ok, -1 not. */
static int num_(const char *s, const char *e, double *v) {
    char buf[64];
    size_t n = (size_t)(e - s);
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end;
    errno = 0;
    *v = strtod(buf, &end);
    return *end || errno || !isfinite(*v) ? -1 : 0;
}

/* Parses "key=value,key=value" of [s, e) into c. 0 ok, -1 with the error set. */
static int parse_opts_(const char *tok, const char *s, const char *e, lif_cfg *c) {
    double beta = -1.0, tau = -1.0, dt = -1.0;
    while (s < e) {
        const char *ce = memchr(s, ',', (size_t)(e - s));
        if (!ce) ce = e;
        const char *eq = memchr(s, '=', (size_t)(ce - s));
        if (!eq || eq == s) {
            soma_error(SOMA_ERR_PARSE, "layer '%s': want key=value options, got '%.*s'", tok, (int)(ce - s), s);
            return -1;
        }
        size_t kl = (size_t)(eq - s);
        const char *vs = eq + 1;
        double v = 0.0;
#define KEY_(name) (kl == sizeof name - 1 && memcmp(s, name, kl) == 0)
        if (KEY_("out")) {
            size_t vl = (size_t)(ce - vs);
            if (vl == 5 && memcmp(vs, "spike", 5) == 0) c->mem = 0;
            else if (vl == 3 && memcmp(vs, "mem", 3) == 0) c->mem = 1;
            else {
                soma_error(SOMA_ERR_PARSE, "layer '%s': out=%.*s: want out=spike or out=mem", tok, (int)vl, vs);
                return -1;
            }
        } else if (KEY_("reset")) {
            size_t vl = (size_t)(ce - vs);
            if (vl == 3 && memcmp(vs, "sub", 3) == 0) c->reset_zero = 0;
            else if (vl == 4 && memcmp(vs, "zero", 4) == 0) c->reset_zero = 1;
            else {
                soma_error(SOMA_ERR_PARSE, "layer '%s': reset=%.*s: want reset=sub or reset=zero", tok,
                           (int)vl, vs);
                return -1;
            }
        } else if (num_(vs, ce, &v) != 0) {
            soma_error(SOMA_ERR_PARSE, "layer '%s': option '%.*s' wants a number", tok, (int)(ce - s), s);
            return -1;
        } else if (KEY_("beta")) {
            if (!(v >= 0.0 && v <= 1.0)) goto range;
            beta = v;
        } else if (KEY_("tau")) {
            if (!(v > 0.0)) goto range;
            tau = v;
        } else if (KEY_("dt")) {
            if (!(v > 0.0)) goto range;
            dt = v;
        } else if (KEY_("theta")) {
            if (!(v > 0.0 && v < 1e30)) goto range;
            c->theta = (float)v;
        } else if (KEY_("k")) {
            if (!(v > 0.0 && v < 1e30)) goto range;
            c->k = (float)v;
        } else if (KEY_("detach")) {
            if (v != 0.0 && v != 1.0) goto range;
            c->detach = (int)v;
        } else if (KEY_("learn")) {
            if (v != 0.0 && v != 1.0) goto range;
            c->learn = (int)v;
        } else {
            soma_error(SOMA_ERR_PARSE,
                       "layer '%s': unknown option '%.*s' (lif takes beta, tau, dt, theta, k, reset, detach, out, learn)",
                       tok, (int)kl, s);
            return -1;
        }
#undef KEY_
        s = ce < e ? ce + 1 : e;
        if (ce < e && s == e) {
            soma_error(SOMA_ERR_PARSE, "layer '%s': options end with a comma", tok);
            return -1;
        }
        continue;
    range:
        soma_error(SOMA_ERR_PARSE,
                   "layer '%s': option '%.*s' is out of range (beta in [0,1]; tau, dt, theta, k > 0; "
                   "detach, learn 0 or 1)",
                   tok, (int)(ce - s), s);
        return -1;
    }
    if (beta >= 0.0 && (tau > 0.0 || dt > 0.0)) {
        soma_error(SOMA_ERR_PARSE, "layer '%s': give beta or tau/dt, not both", tok);
        return -1;
    }
    if (beta < 0.0) beta = exp(-(dt > 0.0 ? dt : 1.0) / (tau > 0.0 ? tau : 10.0));
    c->beta = (float)beta;
    return 0;
}

/* lif, lif(OPTS), lifN, lifN(OPTS); li, liN, li(OPTS), liN(OPTS). */
static int parse_lif_(const char *tok, soma_layer *l) {
    if (strncmp(tok, "li", 2) != 0) return 0;
    const int li = tok[2] != 'f';
    const char *p = tok + (li ? 2 : 3);
    if (li && *p && *p != '(' && (*p < '0' || *p > '9')) return 0; /* another kind's token */
    int n = 0;
    if (*p >= '0' && *p <= '9') {
        long v = 0;
        while (*p >= '0' && *p <= '9') {
            v = v * 10 + (*p++ - '0');
            if (v > INT_MAX / 4) {
                soma_error(SOMA_ERR_PARSE, "layer '%s': too many neurons (at most %d)", tok, INT_MAX / 4);
                return -1;
            }
        }
        if (v < 1) {
            soma_error(SOMA_ERR_PARSE, "layer '%s': want lifN with N >= 1 neurons", tok);
            return -1;
        }
        n = (int)v;
    }
    /* li: the membrane of neurons that never fire (no threshold, no reset) */
    lif_cfg c = {0.f, li ? FLT_MAX : 1.f, 25.f, 0, li, li, 0};
    const char *os = p, *oe = p;
    if (*p == '(') {
        size_t len = strlen(p);
        if (p[len - 1] != ')' || memchr(p + 1, '(', len - 2) || memchr(p + 1, ')', len - 2)) {
            soma_error(SOMA_ERR_PARSE, "layer '%s': want %s[N](key=value,...)", tok, li ? "li" : "lif");
            return -1;
        }
        os = p + 1;
        oe = p + len - 1;
    } else if (*p) {
        soma_error(SOMA_ERR_PARSE, "layer '%s': want lif, lifN or lif[N](key=value,...)", tok);
        return -1;
    }
    if (li && (strstr(tok, "theta=") || strstr(tok, "learn="))) {
        soma_error(SOMA_ERR_PARSE, "layer '%s': li neurons have no threshold (use lif(out=mem,theta=V))", tok);
        return -1;
    }
    if (parse_opts_(tok, os, oe, &c) != 0) return -1;
    lif_impl *L = soma_calloc(1, sizeof *L);
    if (!L) {
        soma_error(SOMA_ERR_NOMEM, "layer '%s': no memory", tok);
        return -1;
    }
    L->c = c;
    L->n_out = n;
    l->ops = &lif_ops;
    l->impl = L;
    return 1;
}

// --- registration ------------------------------------------------------------------------

int soma__snn_parse_code(const char *tok, soma_layer *l); /* layer_code.c */

soma_status soma_snn_register_layers(void) {
    static int done = 0;
    if (done) return SOMA_OK;
    SOMA_TRY(soma_layer_register(
        "lif", parse_lif_,
        "lif[N][(OPTS)]       leaky integrate-and-fire neurons over time, currents [T,...] -> spikes "
        "(lifN: fcN first); OPTS beta|tau,dt|theta|k|reset=sub|zero|detach|out=spike|mem|learn, e.g. lif128(beta=0.9,k=25)"));
    SOMA_TRY(soma_layer_register(
        "li", parse_lif_,
        "li[N][(OPTS)]        leaky integrator read-out (liN: fcN first): U[t] = beta U[t-1] + I[t], no spikes; "
        "OPTS beta|tau,dt"));
    SOMA_TRY(soma_layer_register(
        "spike-code", soma__snn_parse_code,
        "rateT | latencyT     spike encoders [...] -> [T,...]: Bernoulli rate coding of intensities in "
        "[0,1], or one spike at step round((1-x)(T-1)) for x > 0"));
    done = 1;
    return SOMA_OK;
}
