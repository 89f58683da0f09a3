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
// constant (no gradient through S[t-1] into U[t]), as snnTorch's reset_delay/SpikingJelly's
// detach_reset. Going back in time, with g[t] = dL/dU[t] and dy[t] = dL/dS[t]:
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
    int mem; /* 1: the output is the membrane U[t] (a read-out), not the spikes */
} lif_cfg;

typedef struct lif_impl {
    lif_cfg c;
    int n_out;   /* lifN: N; 0 for plain lif */
    int T;       /* time steps */
    size_t D;    /* neurons per step */
    int max_n;
    float *u;    /* [max_n, T, D] membrane U[t] of the last forward (before reset) */
    float *g;    /* lifN: [max_n, T, D] dL/dI, the dense part's output gradient */
} lif_impl;

// --- the recursion on one sample ---------------------------------------------------------

/* In place: u holds the currents I [T,D] on entry and U [T,D] on exit; y receives S [T,D]
 * (or a copy of U with c->mem). The spike S[t-1] is recomputed from U[t-1] > theta. */
static void lif_fwd_sample_(float *u, float *y, const lif_cfg *c, int T, size_t D) {
    const float beta = c->beta, th = c->theta;
    for (int t = 0; t < T; t++) {
        float *ut = u + (size_t)t * D, *yt = y + (size_t)t * D;
        if (t > 0) {
            const float *up = ut - D;
            if (c->reset_zero) {
#pragma omp simd
                for (size_t j = 0; j < D; j++) ut[j] += up[j] > th ? 0.f : beta * up[j];
            } else {
#pragma omp simd
                for (size_t j = 0; j < D; j++) ut[j] += beta * up[j] - (up[j] > th ? th : 0.f);
            }
        }
        if (c->mem) {
            memcpy(yt, ut, D * sizeof *yt);
        } else {
#pragma omp simd
            for (size_t j = 0; j < D; j++) yt[j] = ut[j] > th ? 1.f : 0.f;
        }
    }
}

/* g[T,D] = dL/dI from dy [T,D] (dL/dS, or dL/dU with c->mem) and the kept U. g may alias dy. */
static void lif_bwd_sample_(float *g, const float *dy, const float *u, const lif_cfg *c, int T,
                            size_t D) {
    const float beta = c->beta, th = c->theta, k = c->k;
    const float dt = c->detach ? 0.f : 1.f, spk = c->mem ? 0.f : 1.f, mem = c->mem ? 1.f : 0.f;
    for (int t = T - 1; t >= 0; t--) {
        const size_t o = (size_t)t * D;
        const float *ut = u + o, *dyt = dy + o;
        float *gt = g + o;
        const float *gn = t + 1 < T ? gt + D : NULL;
        if (!gn) {
#pragma omp simd
            for (size_t j = 0; j < D; j++) {
                float q = 1.f + k * fabsf(ut[j] - th);
                gt[j] = dyt[j] * (mem + spk / (q * q));
            }
        } else if (c->reset_zero) {
#pragma omp simd
            for (size_t j = 0; j < D; j++) {
                float q = 1.f + k * fabsf(ut[j] - th), sg = 1.f / (q * q);
                float a = (ut[j] > th ? 0.f : beta) - dt * beta * ut[j] * sg;
                gt[j] = dyt[j] * (mem + spk * sg) + gn[j] * a;
            }
        } else {
#pragma omp simd
            for (size_t j = 0; j < D; j++) {
                float q = 1.f + k * fabsf(ut[j] - th), sg = 1.f / (q * q);
                float a = beta - dt * th * sg;
                gt[j] = dyt[j] * (mem + spk * sg) + gn[j] * a;
            }
        }
    }
}

static void lif_fwd_(lif_impl *L, float *s, int n) {
    const size_t per = (size_t)L->T * L->D;
    const int par = (size_t)n * per >= LIF_PAR_MIN;
    (void)par;
#pragma omp parallel for schedule(static) if (par)
    for (int i = 0; i < n; i++) lif_fwd_sample_(L->u + (size_t)i * per, s + (size_t)i * per, &L->c, L->T, L->D);
}

static void lif_bwd_(const lif_impl *L, float *g, const float *dy, int n) {
    const size_t per = (size_t)L->T * L->D;
    const int par = (size_t)n * per >= LIF_PAR_MIN;
    (void)par;
#pragma omp parallel for schedule(static) if (par)
    for (int i = 0; i < n; i++) {
        size_t o = (size_t)i * per;
        lif_bwd_sample_(g + o, dy + o, L->u + o, &L->c, L->T, L->D);
    }
}

// --- layer ops ---------------------------------------------------------------------------

static const char *shape_str_(soma_shape s, char *buf) { return soma_shape_str(s, buf, 64); }

static void lif_free_buffers_(lif_impl *L);

static soma_status lif_setup(soma_layer *l) {
    lif_impl *L = l->impl;
    char b[64];
    l->n_params = 0;
    lif_free_buffers_(L); /* sized for the previous shape */
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
        return SOMA_OK;
    }
    int I = (int)step, O = L->n_out;
    L->D = (size_t)O;
    l->out = soma_shape2(L->T, O);
    SOMA_TRY(soma_layer_add_param(l, "weight", 2, (int[]){O, I}, 1, I, O));
    SOMA_TRY(soma_layer_add_param(l, "bias", 1, (int[]){O}, 0, I, O));
    return SOMA_OK;
}

static void lif_init(soma_layer *l, soma_rng *rng) {
    if (l->n_params < 2) return;
    soma_init_kaiming_uniform(&l->params[0], rng);
    soma_init_bias_uniform(&l->params[1], rng);
}

static void lif_free_buffers_(lif_impl *L) {
    soma_free(L->u);
    soma_free(L->g);
    L->u = L->g = NULL;
    L->max_n = 0;
}

static soma_status lif_reserve(soma_layer *l, int max_n) {
    lif_impl *L = l->impl;
    if (max_n > L->max_n || !L->u) {
        lif_free_buffers_(L);
        size_t per = (size_t)L->T * L->D;
        L->u = soma_alloc((size_t)max_n, per * sizeof(float));
        L->g = L->n_out ? soma_alloc((size_t)max_n, per * sizeof(float)) : NULL;
        if (!L->u || (L->n_out && !L->g)) {
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
    if (!L->n_out) {
        if (dx) lif_bwd_(L, dx, dy, n);
        return;
    }
    float *dw = soma_layer_grad(l, 0), *db = soma_layer_grad(l, 1);
    if (!dx && !dw && !db) return;
    lif_bwd_(L, L->g, dy, n);
    int I = l->params[0].dims[1];
    soma_dense_backward(dx, dw, db, L->g, x, soma_layer_bwd_value(l, 0), n * L->T, I, L->n_out);
}

static void lif_destroy(soma_layer *l) {
    lif_impl *L = l->impl;
    if (L) lif_free_buffers_(L);
    soma_free(L);
    l->impl = NULL;
}

static soma_status lif_clone(const soma_layer *src, soma_layer *dst) {
    lif_impl *L = soma_alloc(1, sizeof *L);
    if (!L) return soma_error(SOMA_ERR_NOMEM, "layer %s: no memory to clone", src->spec);
    memcpy(L, src->impl, sizeof *L);
    L->u = L->g = NULL; /* src's */
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
        } else {
            soma_error(SOMA_ERR_PARSE,
                       "layer '%s': unknown option '%.*s' (lif takes beta, tau, dt, theta, k, reset, detach, out)",
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
                   "detach 0 or 1)",
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
    lif_cfg c = {0.f, li ? FLT_MAX : 1.f, 25.f, 0, li, li};
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
    if (li && strstr(tok, "theta=")) {
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
        "(lifN: fcN first); OPTS beta|tau,dt|theta|k|reset=sub|zero|detach|out=spike|mem, e.g. lif128(beta=0.9,k=25)"));
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
