// Fully connected layer: kernels (one GEMM per product) and the "fcN"/"denseN" layer kind.
#include <stdio.h>
#include <limits.h>
#include <string.h>

#include "nn/internal.h"

// --- kernels ---------------------------------------------------------------------------

/* The bias passes (copy into y, column sums of dy) are shared out over OpenMP threads above
 * this many values; each value is computed the same way whatever the thread count. */
#define DENSE_PAR_MIN ((size_t)1 << 16)

/* y[N,O] = x[N,I] . w[O,I]^T + b[O]. The bias is written first and the GEMM accumulates onto
 * it (beta = 1), so the output is touched once more only when there is no bias. */
void soma_dense_forward(float *y, const float *x, const float *w, const float *b, int N, int I,
                        int O) {
    if (N <= 0 || O <= 0) return;
    if (b) {
#pragma omp parallel for schedule(static) if ((size_t)N * O >= DENSE_PAR_MIN)
        for (int n = 0; n < N; n++) memcpy(y + (size_t)n * O, b, (size_t)O * sizeof *y);
    }
    soma_gemm(0, 1, N, O, I, 1.f, x, I, w, I, b ? 1.f : 0.f, y, O);
}

/* dx[N,I] = dy[N,O] . w[O,I] (written, may be NULL); dw[O,I] += dy^T . x; db[O] += sum_n dy. */
void soma_dense_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                         const float *w, int N, int I, int O) {
    if (N <= 0) return;
    if (dw) soma_gemm(1, 0, O, I, N, 1.f, dy, O, x, I, 1.f, dw, I);
    if (db) {
        /* each thread sums its own columns (blocks of 8) over every row, rows in order */
#pragma omp parallel if ((size_t)N * O >= DENSE_PAR_MIN && O >= 16)
        {
            size_t lo, hi;
            soma__split(((size_t)O + 7) / 8, &lo, &hi);
            const int o0 = (int)lo * 8, o1 = (int)hi * 8 < O ? (int)hi * 8 : O;
            for (int n = 0; n < N; n++) {
                const float *r = dy + (size_t)n * O;
#pragma omp simd
                for (int o = o0; o < o1; o++) db[o] += r[o];
            }
        }
    }
    if (dx) soma_gemm(0, 0, N, I, O, 1.f, dy, O, w, I, 0.f, dx, I);
}

// --- layer -----------------------------------------------------------------------------

typedef struct dense_impl {
    int n_out;
    int steps; /* rows per sample: T for a sequence input (token-wise), else 1 */
} dense_impl;

static soma_status dense_setup(soma_layer *l) {
    dense_impl *d = l->impl;
    /* a sequence [T,...] is token-wise (a Linear at each step); anything else is flattened */
    d->steps = soma__steps(l->in);
    size_t in = soma_shape_size(soma__step_shape(l->in));
    if (in < 1 || in > (size_t)1 << 30)
        return soma_error(SOMA_ERR_SHAPE, "layer %s: input %s has a bad size", l->spec,
                          SOMA__SHAPE_STR(l->in));
    int I = (int)in, O = d->n_out;
    l->n_params = 0;
    l->out = l->in.rank == 2 || l->in.rank == 4 ? soma_shape2(d->steps, O) : soma_shape1(O);
    SOMA_TRY(soma_layer_add_param(l, "weight", 2, (int[]){O, I}, 1, I, O));
    SOMA_TRY(soma_layer_add_param(l, "bias", 1, (int[]){O}, 0, I, O));
    return SOMA_OK;
}

static void dense_init(soma_layer *l, soma_rng *rng) {
    soma_init_kaiming_uniform(&l->params[0], rng);
    soma_init_bias_uniform(&l->params[1], rng);
}

static void dense_forward(soma_layer *l, float *y, const float *x, int n, soma_mode mode) {
    (void)mode;
    const dense_impl *d = l->impl;
    int I = l->params[0].dims[1], O = d->n_out;
    soma_dense_forward(y, x, l->params[0].value, l->params[1].value, n * d->steps, I, O);
}

static void dense_backward(soma_layer *l, float *dx, const float *dy, const float *x,
                           const float *y, int n) {
    (void)y;
    const dense_impl *d = l->impl;
    int I = l->params[0].dims[1], O = d->n_out;
    soma_dense_backward(dx, soma_layer_grad(l, 0), soma_layer_grad(l, 1), dy, x,
                        soma_layer_bwd_value(l, 0), n * d->steps, I, O);
}

static soma_status dense_clone(const soma_layer *src, soma_layer *dst) {
    return soma__impl_copy(src, dst, sizeof(dense_impl));
}

static const soma_layer_ops dense_ops = {
    .clone = dense_clone,
    .kind = "dense",
    .setup = dense_setup,
    .init = dense_init,
    .reserve = NULL,
    .forward = dense_forward,
    .backward = dense_backward,
    .destroy = soma__impl_free,
};

int soma__parse_dense(const char *tok, soma_layer *l) {
    const char *p;
    if (strncmp(tok, "fc", 2) == 0 && (tok[2] == '\0' || (tok[2] >= '0' && tok[2] <= '9')))
        p = tok + 2;
    else if (strncmp(tok, "dense", 5) == 0)
        p = tok + 5;
    else
        return 0;
    const char *digits = p;
    int n = soma__parse_uint(&p);
    if (n < 0 && *digits >= '0' && *digits <= '9') { /* all digits, but more than an int holds */
        soma_error(SOMA_ERR_PARSE, "layer '%s': %s outputs is too large (at most %d)", tok, digits, INT_MAX / 4);
        return -1;
    }
    if (n < 1 || *p) {
        soma_error(SOMA_ERR_PARSE, "layer '%s': want fcN or denseN with N >= 1 outputs", tok);
        return -1;
    }
    dense_impl *d = soma_alloc(1, sizeof *d);
    if (!d) return -1;
    d->n_out = n;
    d->steps = 1;
    l->ops = &dense_ops;
    l->impl = d;
    return 1;
}
