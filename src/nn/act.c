// Elementwise layers: activations (relu, tanh, sigmoid, exact GELU), inverted dropout, a fixed
// input normalisation, flatten.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/internal.h"

/* Transcendental activations split over OpenMP threads above this many values; below it, or
 * for the memory-bound ones (relu, and every backward but GELU's), a thread team costs more
 * than it saves. Hot loops carry "omp simd" so that they vectorise at -O2. */
#define ACT_PAR_MIN ((size_t)1 << 15)

// --- kernels ---------------------------------------------------------------------------

/* Exact (erf-based) GELU without a libm call per value, so that its loops vectorise: the
 * normal CDF from erfc by the Chebyshev-fitted form of Numerical Recipes (Press et al., 2nd
 * ed., sec. 6.2: erfc(z) = t exp(-z^2 + P(t)), t = 1/(1 + z/2), fractional error < 1.2e-7 for
 * every z >= 0), and exp from a Taylor polynomial after x = n ln2 + r, |r| <= ln2/2 (relative
 * error ~1e-8 before rounding). The CDF is 1 - erfc/2 for x >= 0 and erfc/2 below, so neither
 * tail loses digits to cancellation; GELU stays within 1e-6 of 0.5 x (1 + erff(x/sqrt 2)) and
 * gives the same NaN/inf results (NaN at NaN and -inf, +inf at +inf). */

typedef int32_t gelu_v8i_ __attribute__((vector_size(32)));

/* m ? a : b lane by lane (m: -1 or 0 in each lane, as a vector comparison gives). */
static inline soma__v8 gelu_sel_(gelu_v8i_ m, soma__v8 a, soma__v8 b) {
    gelu_v8i_ ai, bi;
    memcpy(&ai, &a, sizeof ai);
    memcpy(&bi, &b, sizeof bi);
    ai = (ai & m) | (bi & ~m);
    soma__v8 r;
    memcpy(&r, &ai, sizeof r);
    return r;
}

/* exp(a) for a <= 1; exactly 0 below -87 (never a denormal). */
static inline soma__v8 gelu_exp8_(soma__v8 a) {
    const gelu_v8i_ low = a < soma__v8_splat(-87.f);
    const soma__v8 c = gelu_sel_(low, soma__v8_splat(-87.f), a);
    /* n = floor(c log2(e) + 1/2) by truncating a positive number (c >= -87) */
    const gelu_v8i_ ni = __builtin_convertvector(c * 1.44269504088896341f + 128.5f, gelu_v8i_) - 128;
    const soma__v8 fn = __builtin_convertvector(ni, soma__v8);
    const soma__v8 r = (c - fn * 0.693359375f) + fn * 2.12194440e-4f; /* ln2 in two parts */
    soma__v8 p = soma__v8_splat(1.f / 5040.f);
    p = p * r + 1.f / 720.f;
    p = p * r + 1.f / 120.f;
    p = p * r + 1.f / 24.f;
    p = p * r + 1.f / 6.f;
    p = p * r + 0.5f;
    p = p * r + 1.f;
    p = p * r + 1.f;
    const gelu_v8i_ e = (ni + 127) << 23;
    soma__v8 sc;
    memcpy(&sc, &e, sizeof sc);
    return gelu_sel_(low, soma__v8_splat(0.f), p * sc);
}

/* The standard normal CDF Phi(x) = (1 + erf(x / sqrt 2)) / 2; at NaN some finite value (then
 * x Phi(x) is NaN). */
static inline soma__v8 gelu_cdf8_(soma__v8 x) {
    gelu_v8i_ xi;
    memcpy(&xi, &x, sizeof xi);
    xi &= 0x7fffffff;
    soma__v8 z;
    memcpy(&z, &xi, sizeof z);
    z = z * 0.70710678118654752f;
    z = gelu_sel_(z < 12.f, z, soma__v8_splat(12.f)); /* erfc(12) is 0 in floats; +-inf, NaN */
    const soma__v8 t = 1.f / (1.f + 0.5f * z);
    soma__v8 p = soma__v8_splat(0.17087277f);
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    const soma__v8 half_erfc = 0.5f * t * gelu_exp8_(p - z * z);
    return gelu_sel_(x < 0.f, half_erfc, 1.f - half_erfc);
}

/* y = x Phi(x) */
static inline soma__v8 gelu_fwd8_(soma__v8 x) { return x * gelu_cdf8_(x); }

/* dy (Phi(x) + x phi(x)), phi the standard normal density (NaN at +-inf, as PyTorch). */
static inline soma__v8 gelu_bwd8_(soma__v8 dy, soma__v8 x) {
    soma__v8 v2 = x * x;
    v2 = gelu_sel_(v2 < 180.f, v2, soma__v8_splat(180.f)); /* exp(-90) is 0 */
    const soma__v8 pdf = 0.39894228040143268f * gelu_exp8_(-0.5f * v2);
    return dy * (gelu_cdf8_(x) + x * pdf);
}

SOMA_HOT static void gelu_fwd_(float *y, const float *x, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) SOMA__V8_STORE_PART(y + i, gelu_fwd8_(soma__v8_load(x + i)), 8);
    if (i < n) { /* the last few through a zero-padded vector */
        float b[8] = {0};
        memcpy(b, x + i, (n - i) * sizeof *b);
        SOMA__V8_STORE_PART(y + i, gelu_fwd8_(soma__v8_load(b)), (int)(n - i));
    }
}

/* The same with Phi(x) read back from the forward's output, Phi = y / x (one division instead
 * of erfc's polynomial and exp), and Phi(x) ~ 1/2 + x / sqrt(2 pi) within 2^-10 of 0, where
 * y / x loses digits (the next term, x^3 / (6 sqrt(2 pi)), is below 1e-10 there). */
static inline soma__v8 gelu_bwd_y8_(soma__v8 dy, soma__v8 x, soma__v8 y) {
    soma__v8 v2 = x * x;
    v2 = gelu_sel_(v2 < 180.f, v2, soma__v8_splat(180.f));
    const soma__v8 pdf = 0.39894228040143268f * gelu_exp8_(-0.5f * v2);
    gelu_v8i_ xi;
    memcpy(&xi, &x, sizeof xi);
    xi &= 0x7fffffff;
    soma__v8 ax;
    memcpy(&ax, &xi, sizeof ax);
    const gelu_v8i_ small = ax < 9.765625e-4f;
    const soma__v8 safe = gelu_sel_(small, soma__v8_splat(1.f), x);
    const soma__v8 cdf = gelu_sel_(small, 0.5f + 0.39894228040143268f * x, y / safe);
    return dy * (cdf + x * pdf);
}

SOMA_HOT static void gelu_bwd_(float *dx, const float *dy, const float *x, const float *y, size_t n) {
    size_t i = 0;
    if (y) {
        for (; i + 8 <= n; i += 8)
            SOMA__V8_STORE_PART(dx + i, gelu_bwd_y8_(soma__v8_load(dy + i), soma__v8_load(x + i), soma__v8_load(y + i)), 8);
    } else {
        for (; i + 8 <= n; i += 8)
            SOMA__V8_STORE_PART(dx + i, gelu_bwd8_(soma__v8_load(dy + i), soma__v8_load(x + i)), 8);
    }
    if (i < n) { /* the last few through zero-padded vectors */
        float b[8] = {0}, g[8] = {0}, c[8] = {0};
        memcpy(b, x + i, (n - i) * sizeof *b);
        memcpy(g, dy + i, (n - i) * sizeof *g);
        if (y) memcpy(c, y + i, (n - i) * sizeof *c);
        const soma__v8 r = y ? gelu_bwd_y8_(soma__v8_load(g), soma__v8_load(b), soma__v8_load(c))
                             : gelu_bwd8_(soma__v8_load(g), soma__v8_load(b));
        SOMA__V8_STORE_PART(dx + i, r, (int)(n - i));
    }
}

static void act_fwd_range(soma_act a, float *y, const float *x, size_t n) {
    switch (a) {
    case SOMA_ACT_RELU:
#pragma omp simd
        for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.f ? x[i] : 0.f;
        break;
    case SOMA_ACT_TANH:
        for (size_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
        break;
    case SOMA_ACT_SIGMOID:
        for (size_t i = 0; i < n; i++) {
            /* Two branches keep exp() from overflowing for either sign. */
            float v = x[i];
            if (v >= 0.f) {
                y[i] = 1.f / (1.f + expf(-v));
            } else {
                float e = expf(v);
                y[i] = e / (1.f + e);
            }
        }
        break;
    case SOMA_ACT_GELU:
        gelu_fwd_(y, x, n);
        break;
    default:
        SOMA_ASSERT(0 && "unknown activation");
    }
}

static void act_bwd_range(soma_act a, float *dx, const float *dy, const float *x,
                          const float *y, size_t n) {
    switch (a) {
    case SOMA_ACT_RELU:
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            float g = dy[i]; /* loaded unconditionally: the select then vectorises */
            dx[i] = x[i] > 0.f ? g : 0.f;
        }
        break;
    case SOMA_ACT_TANH:
#pragma omp simd
        for (size_t i = 0; i < n; i++) dx[i] = dy[i] * (1.f - y[i] * y[i]);
        break;
    case SOMA_ACT_SIGMOID:
#pragma omp simd
        for (size_t i = 0; i < n; i++) dx[i] = dy[i] * y[i] * (1.f - y[i]);
        break;
    case SOMA_ACT_GELU:
        gelu_bwd_(dx, dy, x, y, n);
        break;
    default:
        SOMA_ASSERT(0 && "unknown activation");
    }
}

void soma_act_forward(soma_act a, float *y, const float *x, size_t n) {
    if (a != SOMA_ACT_RELU && n >= ACT_PAR_MIN) {
#pragma omp parallel
        {
            size_t lo, hi;
            soma__split(n, &lo, &hi);
            act_fwd_range(a, y + lo, x + lo, hi - lo);
        }
        return;
    }
    act_fwd_range(a, y, x, n);
}

/* relu and gelu read the input x; tanh and sigmoid read the output y; gelu also reads y when
 * given (its CDF is y / x) and recomputes it when y is NULL. */
void soma_act_backward(soma_act a, float *dx, const float *dy, const float *x, const float *y,
                       size_t n) {
    if (!dx) return;
    if (a == SOMA_ACT_GELU && n >= ACT_PAR_MIN) {
#pragma omp parallel
        {
            size_t lo, hi;
            soma__split(n, &lo, &hi);
            act_bwd_range(a, dx + lo, dy + lo, x + lo, y ? y + lo : NULL, hi - lo);
        }
        return;
    }
    act_bwd_range(a, dx, dy, x, y, n);
}

// --- activation layers -----------------------------------------------------------------

typedef struct act_impl {
    soma_act act;
} act_impl;

static soma_status same_shape_setup(soma_layer *l) {
    if (soma_shape_size(l->in) < 1)
        return soma_error(SOMA_ERR_SHAPE, "layer %s: empty input %s", l->spec,
                          SOMA__SHAPE_STR(l->in));
    l->n_params = 0;
    l->out = l->in;
    return SOMA_OK;
}

static void act_forward(soma_layer *l, float *y, const float *x, int n, soma_mode mode) {
    (void)mode;
    const act_impl *a = l->impl;
    soma_act_forward(a->act, y, x, (size_t)n * soma_shape_size(l->in));
}

static void act_backward(soma_layer *l, float *dx, const float *dy, const float *x,
                         const float *y, int n) {
    const act_impl *a = l->impl;
    soma_act_backward(a->act, dx, dy, x, y, (size_t)n * soma_shape_size(l->in));
}

static soma_status act_clone(const soma_layer *src, soma_layer *dst) {
    return soma__impl_copy(src, dst, sizeof(act_impl));
}

/* One table per activation, so that summaries and checkpoints see "relu", "gelu", ... */
#define ACT_OPS(name)                                                                          \
    {                                                                                          \
        .kind = name, .setup = same_shape_setup, .forward = act_forward,                       \
        .backward = act_backward, .destroy = soma__impl_free, .clone = act_clone               \
    }
static const soma_layer_ops act_ops[SOMA_ACT_COUNT] = {ACT_OPS("relu"), ACT_OPS("tanh"),
                                                       ACT_OPS("sigmoid"), ACT_OPS("gelu")};

int soma__parse_act(const char *tok, soma_layer *l) {
    for (int i = 0; i < SOMA_ACT_COUNT; i++) {
        if (strcmp(tok, act_ops[i].kind) != 0) continue;
        act_impl *a = soma_alloc(1, sizeof *a);
        if (!a) return -1;
        a->act = (soma_act)i;
        l->ops = &act_ops[i];
        l->impl = a;
        return 1;
    }
    return 0;
}

// --- dropout ---------------------------------------------------------------------------

/* Inverted dropout: in training, y = x * mask with mask = 0 (probability p) or 1/(1-p), drawn
 * from the layer's own stream l->rng; in evaluation, y = x. The mask of the last training
 * forward is kept for backward. */
typedef struct dropout_impl {
    float p;
    soma_mode last_mode;
    float *mask; /* [max_n, D] */
} dropout_impl;

static soma_status dropout_reserve(soma_layer *l, int max_n) {
    dropout_impl *d = l->impl;
    soma_free(d->mask);
    d->mask = soma_alloc((size_t)max_n * soma_shape_size(l->in), sizeof *d->mask);
    if (!d->mask) return soma_error_wrap(SOMA_ERR_NOMEM, "layer %s", l->spec);
    l->max_n = max_n;
    return SOMA_OK;
}

static void dropout_forward(soma_layer *l, float *y, const float *x, int n, soma_mode mode) {
    dropout_impl *d = l->impl;
    size_t total = (size_t)n * soma_shape_size(l->in);
    d->last_mode = mode;
    if (mode != SOMA_MODE_TRAIN || d->p == 0.f) {
        if (y != x) memcpy(y, x, total * sizeof *y);
        return;
    }
    SOMA_ASSERT(d->mask && n <= l->max_n);
    float keep = 1.f / (1.f - d->p);
    /* Compare against p in 32-bit fixed point: one u32 per value, a fixed stream order. */
    uint32_t thr = (uint32_t)((double)d->p * 4294967296.0);
    for (size_t i = 0; i < total; i++) d->mask[i] = soma_rng_u32(&l->rng) >= thr ? keep : 0.f;
#pragma omp simd
    for (size_t i = 0; i < total; i++) y[i] = x[i] * d->mask[i];
}

static void dropout_backward(soma_layer *l, float *dx, const float *dy, const float *x,
                             const float *y, int n) {
    (void)x;
    (void)y;
    if (!dx) return;
    const dropout_impl *d = l->impl;
    size_t total = (size_t)n * soma_shape_size(l->in);
    if (d->last_mode != SOMA_MODE_TRAIN || d->p == 0.f) {
        if (dx != dy) memcpy(dx, dy, total * sizeof *dx);
        return;
    }
#pragma omp simd
    for (size_t i = 0; i < total; i++) dx[i] = dy[i] * d->mask[i];
}

static void dropout_destroy(soma_layer *l) {
    dropout_impl *d = l->impl;
    if (d) soma_free(d->mask);
    soma_free(d);
    l->impl = NULL;
}

static soma_status dropout_clone(const soma_layer *src, soma_layer *dst) {
    SOMA_TRY(soma__impl_copy(src, dst, sizeof(dropout_impl)));
    dropout_impl *d = dst->impl;
    d->mask = NULL; /* src's */
    d->last_mode = SOMA_MODE_EVAL;
    return SOMA_OK;
}

static const soma_layer_ops dropout_ops = {
    .clone = dropout_clone,
    .kind = "dropout",
    .setup = same_shape_setup,
    .reserve = dropout_reserve,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .destroy = dropout_destroy,
};

/* dropoutP with 0 <= P < 1 written as a decimal ("dropout0.5", "dropout.25"). */
int soma__parse_dropout(const char *tok, soma_layer *l) {
    if (strncmp(tok, "dropout", 7) != 0) return 0;
    const char *s = tok + 7;
    double p = 0.0;
    int digits = 0;
    while (*s >= '0' && *s <= '9') p = p * 10 + (*s++ - '0'), digits++;
    if (*s == '.') {
        s++;
        double f = 0.1;
        while (*s >= '0' && *s <= '9') p += f * (*s++ - '0'), f *= 0.1, digits++;
    }
    if (!digits || *s || !(p < 1.0)) {
        soma_error(SOMA_ERR_PARSE, "layer '%s': want dropoutP with 0 <= P < 1 (e.g. dropout0.5)",
                   tok);
        return -1;
    }
    dropout_impl *d = soma_calloc(1, sizeof *d);
    if (!d) return -1;
    d->p = (float)p;
    d->last_mode = SOMA_MODE_EVAL;
    l->ops = &dropout_ops;
    l->impl = d;
    return 1;
}

// --- fixed normalisation ------------------------------------------------------------------

/* y = (x - M) / S with constants M and S (torchvision's Normalize with one mean and one std):
 * no parameters, the same in training and evaluation; dx = dy / S. */
typedef struct norm_impl {
    float mean, inv_std;
} norm_impl;

static void norm_forward(soma_layer *l, float *y, const float *x, int n, soma_mode mode) {
    (void)mode;
    const norm_impl *d = l->impl;
    const float m = d->mean, r = d->inv_std;
    const size_t total = (size_t)n * soma_shape_size(l->in);
#pragma omp simd
    for (size_t i = 0; i < total; i++) y[i] = (x[i] - m) * r;
}

static void norm_backward(soma_layer *l, float *dx, const float *dy, const float *x, const float *y, int n) {
    (void)x;
    (void)y;
    if (!dx) return;
    const float r = ((const norm_impl *)l->impl)->inv_std;
    const size_t total = (size_t)n * soma_shape_size(l->in);
#pragma omp simd
    for (size_t i = 0; i < total; i++) dx[i] = dy[i] * r;
}

static soma_status norm_clone(const soma_layer *src, soma_layer *dst) {
    return soma__impl_copy(src, dst, sizeof(norm_impl));
}

static const soma_layer_ops norm_ops = {
    .clone = norm_clone,
    .kind = "norm",
    .setup = same_shape_setup,
    .forward = norm_forward,
    .backward = norm_backward,
    .destroy = soma__impl_free,
};

/* normM or normM/S: finite decimals, S > 0 (default 1), e.g. "norm0.286/0.353". */
int soma__parse_norm(const char *tok, soma_layer *l) {
    if (strncmp(tok, "norm", 4) != 0 || !tok[4] || strchr("0123456789.-+", tok[4]) == NULL) return 0;
    char *end;
    const double m = strtod(tok + 4, &end);
    double sd = 1.0;
    int ok = end != tok + 4 && isfinite((float)m);
    if (ok && *end == '/') {
        const char *s = end + 1;
        sd = strtod(s, &end);
        ok = end != s && isfinite((float)sd) && (float)sd > 0.f && isfinite((float)(1.0 / sd));
    }
    if (!ok || *end) {
        soma_error(SOMA_ERR_PARSE, "layer '%s': want normM or normM/S with finite M and S > 0 (e.g. norm0.286/0.353)", tok);
        return -1;
    }
    norm_impl *d = soma_calloc(1, sizeof *d);
    if (!d) return -1;
    d->mean = (float)m;
    d->inv_std = (float)(1.0 / sd);
    l->ops = &norm_ops;
    l->impl = d;
    return 1;
}

// --- flatten ---------------------------------------------------------------------------

static soma_status flatten_setup(soma_layer *l) {
    size_t d = soma_shape_size(l->in);
    if (d < 1 || d > (size_t)1 << 30)
        return soma_error(SOMA_ERR_SHAPE, "layer %s: input %s has a bad size", l->spec,
                          SOMA__SHAPE_STR(l->in));
    l->n_params = 0;
    l->out = soma_shape1((int)d);
    return SOMA_OK;
}

static void flatten_forward(soma_layer *l, float *y, const float *x, int n, soma_mode mode) {
    (void)mode;
    if (y != x) memcpy(y, x, (size_t)n * soma_shape_size(l->in) * sizeof *y);
}

static void flatten_backward(soma_layer *l, float *dx, const float *dy, const float *x,
                             const float *y, int n) {
    (void)x;
    (void)y;
    if (dx && dx != dy) memcpy(dx, dy, (size_t)n * soma_shape_size(l->in) * sizeof *dx);
}

static const soma_layer_ops flatten_ops = {
    .kind = "flatten",
    .setup = flatten_setup,
    .forward = flatten_forward,
    .backward = flatten_backward,
};

int soma__parse_flatten(const char *tok, soma_layer *l) {
    if (strncmp(tok, "flatten", 7) != 0) return 0;
    if (tok[7]) {
        soma_error(SOMA_ERR_PARSE, "layer '%s': flatten takes no arguments", tok);
        return -1;
    }
    l->ops = &flatten_ops;
    l->impl = NULL;
    return 1;
}
