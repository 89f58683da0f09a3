// Layer normalisation over the last axis of [D] and [T,D] (as torch.nn.LayerNorm(D)) or over
// [C,H,W] (of an image, or of each step of [T,C,H,W]; as torch.nn.LayerNorm([C,H,W])), with a
// per-value gain "weight" (1) and shift "bias" (0), and the "layernorm[EPS]" layer kind.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/internal.h"

// --- kernels ---------------------------------------------------------------------------

/* The sum of a vector's lanes, in a fixed order. */
static inline __attribute__((always_inline)) double ln_hsum_(soma__v8 v) {
    return ((double)(v[0] + v[1]) + (v[2] + v[3])) + ((double)(v[4] + v[5]) + (v[6] + v[7]));
}

/* Rows [n0, n1): biased variance as PyTorch; two passes over a row (the mean, then the squared
 * deviations from it), whole vectors of eight in float lanes (the mean's as sums of x - x0, so
 * that a large common offset leaves them small), the lanes and the last D mod 8 values summed
 * in double. A row narrower than a vector is computed exactly as the scalar double-statistics
 * kernel this replaced. tests/test_layernorm.c holds both paths to a double reference. */
SOMA_HOT static void ln_fwd_rows_(float *y, float *mean, float *rstd, const float *x,
                                  const float *gamma, const float *beta, int n0, int n1, int D,
                                  float eps) {
    const int D8 = D & ~7;
    for (int n = n0; n < n1; n++) {
        const float *xr = x + (size_t)n * D;
        float *yr = y + (size_t)n * D;
        const float x0 = xr[0];
        soma__v8 a = soma__v8_splat(0.f);
        for (int i = 0; i < D8; i += 8) a += soma__v8_load(xr + i) - x0;
        double s = 0.0;
        for (int i = D8; i < D; i++) s += xr[i];
        if (D8) s += ln_hsum_(a) + (double)D8 * x0;
        const double md = s / D;
        const float m = (float)md;
        a = soma__v8_splat(0.f);
        for (int i = 0; i < D8; i += 8) {
            const soma__v8 d = soma__v8_load(xr + i) - m;
            a += d * d;
        }
        double v = 0.0;
        for (int i = D8; i < D; i++) {
            double d = xr[i] - md;
            v += d * d;
        }
        if (D8) v += ln_hsum_(a);
        const float rs = (float)(1.0 / sqrt(v / D + eps));
        mean[n] = m;
        rstd[n] = rs;
        if (gamma && beta)
            for (int i = 0; i < D8; i += 8)
                SOMA__V8_STORE_PART(yr + i, (soma__v8_load(xr + i) - m) * rs * soma__v8_load(gamma + i) + soma__v8_load(beta + i), 8);
        for (int i = gamma && beta ? D8 : 0; i < D; i++) {
            float h = (xr[i] - m) * rs;
            yr[i] = gamma ? h * gamma[i] + (beta ? beta[i] : 0.f) : h + (beta ? beta[i] : 0.f);
        }
    }
}

void soma_layernorm_forward(float *y, float *mean, float *rstd, const float *x,
                            const float *gamma, const float *beta, int N, int D, float eps) {
    if (N <= 0 || D <= 0) return;
    if ((size_t)N * D >= ((size_t)1 << 16)) {
#pragma omp parallel
        {
            size_t lo, hi;
            soma__split((size_t)N, &lo, &hi);
            ln_fwd_rows_(y, mean, rstd, x, gamma, beta, (int)lo, (int)hi, D, eps);
        }
        return;
    }
    ln_fwd_rows_(y, mean, rstd, x, gamma, beta, 0, N, D, eps);
}

/* With h = (x - mean) * rstd and g = dy * gamma:
 *     dx = rstd * (g - mean(g) - h * mean(g * h)),  dgamma += dy * h,  dbeta += dy.
 * One pass for the parameter gradients and the two sums (float lanes, then double), one for
 * dx. */
SOMA_HOT static void ln_bwd_(float *dx, float *dgamma, float *dbeta, const float *dy,
                             const float *x, const float *mean, const float *rstd,
                             const float *gamma, int N, int D) {
    const int D8 = D & ~7;
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * D, *dr = dy + (size_t)n * D;
        const float m = mean[n], rs = rstd[n];
        soma__v8 sg8 = soma__v8_splat(0.f), sgh8 = sg8;
        for (int i = 0; i < D8; i += 8) {
            const soma__v8 d = soma__v8_load(dr + i), h = (soma__v8_load(xr + i) - m) * rs;
            if (dgamma) SOMA__V8_STORE_PART(dgamma + i, soma__v8_load(dgamma + i) + d * h, 8);
            if (dbeta) SOMA__V8_STORE_PART(dbeta + i, soma__v8_load(dbeta + i) + d, 8);
            const soma__v8 g = gamma ? d * soma__v8_load(gamma + i) : d;
            sg8 += g;
            sgh8 += g * h;
        }
        for (int i = D8; i < D; i++) {
            if (dgamma) dgamma[i] += dr[i] * (xr[i] - m) * rs;
            if (dbeta) dbeta[i] += dr[i];
        }
        if (!dx) continue;
        double sg = 0.0, sgh = 0.0;
        for (int i = D8; i < D; i++) {
            float g = gamma ? dr[i] * gamma[i] : dr[i];
            sg += g;
            sgh += (double)g * (xr[i] - m) * rs;
        }
        if (D8) sg += ln_hsum_(sg8), sgh += ln_hsum_(sgh8);
        const float mg = (float)(sg / D), mgh = (float)(sgh / D);
        float *o = dx + (size_t)n * D;
        for (int i = 0; i < D8; i += 8) {
            const soma__v8 d = soma__v8_load(dr + i), h = (soma__v8_load(xr + i) - m) * rs;
            const soma__v8 g = gamma ? d * soma__v8_load(gamma + i) : d;
            SOMA__V8_STORE_PART(o + i, rs * (g - mg - h * mgh), 8);
        }
        for (int i = D8; i < D; i++) {
            float g = gamma ? dr[i] * gamma[i] : dr[i];
            o[i] = rs * (g - mg - (xr[i] - m) * rs * mgh);
        }
    }
}

#ifdef _OPENMP
/* dgamma += dy * h, dbeta += dy over all N rows for columns [c0, c1): rows in order, each value
 * computed as ln_bwd_ computes it (whole vectors as (x - mean) * rstd times dy, the tail as dy
 * times (x - mean) times rstd), so that both paths give the same bits. */
SOMA_HOT static void ln_bwd_params_(float *dgamma, float *dbeta, const float *dy, const float *x,
                                    const float *mean, const float *rstd, int N, int D, int c0,
                                    int c1) {
    const int D8 = D & ~7, v1 = c1 < D8 ? c1 : D8, t0 = c0 > D8 ? c0 : D8;
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * D, *dr = dy + (size_t)n * D;
        const float m = mean[n], rs = rstd[n];
        for (int i = c0; i < v1; i++) {
            const float h = (xr[i] - m) * rs;
            if (dgamma) dgamma[i] = dgamma[i] + dr[i] * h;
            if (dbeta) dbeta[i] = dbeta[i] + dr[i];
        }
        for (int i = t0; i < c1; i++) {
            if (dgamma) dgamma[i] += dr[i] * (xr[i] - m) * rs;
            if (dbeta) dbeta[i] += dr[i];
        }
    }
}

#endif

/* One thread: one fused pass. More (and enough values): dx by rows, the parameter gradients by
 * columns (blocks of 8), each thread its own share; the same bits either way. */
void soma_layernorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                             const float *x, const float *mean, const float *rstd,
                             const float *gamma, int N, int D) {
    if (N <= 0 || D <= 0) return;
#ifdef _OPENMP
    if ((size_t)N * D >= ((size_t)1 << 16) && omp_get_max_threads() > 1) {
#pragma omp parallel
        {
            size_t lo, hi;
            if (dx) {
                soma__split((size_t)N, &lo, &hi);
                ln_bwd_(dx + lo * D, NULL, NULL, dy + lo * D, x + lo * D, mean + lo, rstd + lo, gamma,
                        (int)(hi - lo), D);
            }
            if (dgamma || dbeta) {
                soma__split(((size_t)D + 7) / 8, &lo, &hi);
                const int c1 = (int)hi * 8 < D ? (int)hi * 8 : D;
                if ((int)lo * 8 < c1) ln_bwd_params_(dgamma, dbeta, dy, x, mean, rstd, N, D, (int)lo * 8, c1);
            }
        }
        return;
    }
#endif
    ln_bwd_(dx, dgamma, dbeta, dy, x, mean, rstd, gamma, N, D);
}

// --- layer -----------------------------------------------------------------------------

typedef struct ln_impl {
    float eps;
    int steps, D; /* rows per sample (T for a sequence) and values per row */
    float *mean, *rstd; /* [max_n] */
} ln_impl;

static soma_status ln_setup(soma_layer *l) {
    ln_impl *p = l->impl;
    /* Over the last axis of [D] and [T,D]; over [C,H,W] of an image or of each step of
     * [T,C,H,W]. PyTorch's parameter shapes: [D] or [C,H,W]. */
    soma_shape row = soma__step_shape(l->in);
    size_t d = soma_shape_size(row);
    if (d < 1 || d > (size_t)1 << 30)
        return soma_error(SOMA_ERR_SHAPE, "layer %s: input %s has a bad size", l->spec,
                          SOMA__SHAPE_STR(l->in));
    p->steps = soma__steps(l->in);
    p->D = (int)d;
    l->n_params = 0;
    l->out = l->in;
    int nd = row.rank, dims[3] = {row.d[0], row.d[1], row.d[2]};
    SOMA_TRY(soma_layer_add_param(l, "weight", nd, dims, 0, (int)d, (int)d));
    SOMA_TRY(soma_layer_add_param(l, "bias", nd, dims, 0, (int)d, (int)d));
    return SOMA_OK;
}

static void ln_init(soma_layer *l, soma_rng *rng) {
    (void)rng;
    soma_init_const(&l->params[0], 1.f);
    soma_init_const(&l->params[1], 0.f);
}

static soma_status ln_reserve(soma_layer *l, int max_n) {
    ln_impl *p = l->impl;
    soma_free(p->mean);
    size_t rows = (size_t)max_n * (size_t)p->steps;
    p->mean = soma_alloc(2 * rows, sizeof *p->mean);
    if (!p->mean) return soma_error_wrap(SOMA_ERR_NOMEM, "layer %s", l->spec);
    p->rstd = p->mean + rows;
    l->max_n = max_n;
    return SOMA_OK;
}

static void ln_forward(soma_layer *l, float *y, const float *x, int n, soma_mode mode) {
    (void)mode;
    ln_impl *p = l->impl;
    SOMA_ASSERT(p->mean && n <= l->max_n);
    soma_layernorm_forward(y, p->mean, p->rstd, x, l->params[0].value, l->params[1].value,
                           n * p->steps, p->D, p->eps);
}

static void ln_backward(soma_layer *l, float *dx, const float *dy, const float *x,
                        const float *y, int n) {
    (void)y;
    ln_impl *p = l->impl;
    soma_layernorm_backward(dx, soma_layer_grad(l, 0), soma_layer_grad(l, 1), dy, x, p->mean,
                            p->rstd, soma_layer_bwd_value(l, 0), n * p->steps, p->D);
}

static void ln_destroy(soma_layer *l) {
    ln_impl *p = l->impl;
    if (p) soma_free(p->mean);
    soma_free(p);
    l->impl = NULL;
}

static soma_status ln_clone(const soma_layer *src, soma_layer *dst) {
    SOMA_TRY(soma__impl_copy(src, dst, sizeof(ln_impl)));
    ln_impl *p = dst->impl;
    p->mean = p->rstd = NULL; /* src's */
    return SOMA_OK;
}

static const soma_layer_ops ln_ops = {
    .clone = ln_clone,
    .kind = "layernorm",
    .setup = ln_setup,
    .init = ln_init,
    .reserve = ln_reserve,
    .forward = ln_forward,
    .backward = ln_backward,
    .destroy = ln_destroy,
};

/* "layernorm" (eps 1e-5) or "layernormEPS" with 0 < EPS < 1 ("layernorm1e-6"). */
int soma__parse_layernorm(const char *tok, soma_layer *l) {
    if (strncmp(tok, "layernorm", 9) != 0) return 0;
    const char *s = tok + 9;
    double eps = 1e-5;
    if (*s) {
        char *end = NULL;
        eps = (*s >= '0' && *s <= '9') || *s == '.' ? strtod(s, &end) : -1.0;
        if (!end || *end || !(eps > 0.0 && eps < 1.0)) {
            soma_error(SOMA_ERR_PARSE,
                       "layer '%s': want layernorm or layernormEPS with 0 < EPS < 1 (e.g. "
                       "layernorm1e-6)",
                       tok);
            return -1;
        }
    }
    ln_impl *p = soma_calloc(1, sizeof *p);
    if (!p) return -1;
    p->eps = (float)eps;
    l->ops = &ln_ops;
    l->impl = p;
    return 1;
}
