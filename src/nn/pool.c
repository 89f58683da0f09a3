// Pooling: max pooling (argmax kept for backward; a fast path for 2x2 stride 2), average
// pooling (padding counts as zeros), and the "maxpoolK[sS][pP]"/"avgpoolK[sS][pP]" layer kinds.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/internal.h"

/* Below this many input values, pooling stays on one thread. */
#define POOL_PAR_MIN ((size_t)1 << 17)

// --- max pooling -----------------------------------------------------------------------

/* One plane [H,W] -> [Ho,Wo]; padding acts as -inf; the first maximum in row-major window
 * order wins, and NaN wins (as PyTorch). */
SOMA_HOT static void maxpool_plane(float *y, int32_t *am, const float *x, const soma_conv_geom *g) {
    const int H = g->h_in, W = g->w_in, Ho = g->h_out, Wo = g->w_out;
    if (g->kh == 2 && g->kw == 2 && g->stride == 2 && g->pad == 0) {
        for (int oh = 0; oh < Ho; oh++) {
            const float *r0 = x + (size_t)(2 * oh) * W, *r1 = r0 + W;
            for (int ow = 0; ow < Wo; ow++) {
                /* Branch-free selects (random data would mispredict every branch): the
                 * maximum, then the first index holding it. A NaN takes the careful path. */
                int j = 2 * ow;
                int32_t i0 = 2 * oh * W + j;
                float a = r0[j], b = r0[j + 1], c = r1[j], d = r1[j + 1];
                float m = b > a ? b : a;
                m = c > m ? c : m;
                m = d > m ? d : m;
                int32_t k = i0 + W + 1;
                k = c == m ? i0 + W : k;
                k = b == m ? i0 + 1 : k;
                k = a == m ? i0 : k;
                if ((a != a) | (b != b) | (c != c) | (d != d)) {
                    const float v[4] = {a, b, c, d};
                    const int32_t at[4] = {i0, i0 + 1, i0 + W, i0 + W + 1};
                    m = a, k = i0;
                    for (int q = 1; q < 4 && m == m; q++)
                        if (v[q] > m || v[q] != v[q]) m = v[q], k = at[q];
                }
                y[oh * Wo + ow] = m;
                am[oh * Wo + ow] = k;
            }
        }
        return;
    }
    for (int oh = 0; oh < Ho; oh++)
        for (int ow = 0; ow < Wo; ow++) {
            float m = -INFINITY;
            int32_t a = -1;
            for (int ki = 0; ki < g->kh; ki++) {
                int ih = oh * g->stride - g->pad + ki;
                if (ih < 0 || ih >= H) continue;
                for (int kj = 0; kj < g->kw; kj++) {
                    int iw = ow * g->stride - g->pad + kj;
                    if (iw < 0 || iw >= W) continue;
                    float v = x[(size_t)ih * W + iw];
                    if (a < 0 || v > m || isnan(v)) {
                        m = v;
                        a = ih * W + iw;
                        if (isnan(v)) goto done;
                    }
                }
            }
        done:
            y[oh * Wo + ow] = m;
            am[oh * Wo + ow] = a;
        }
}

void soma_maxpool_forward(float *y, int32_t *argmax, const float *x, const soma_conv_geom *g,
                          int N) {
    const long planes = (long)N * g->c_in;
    const size_t xs = (size_t)g->h_in * g->w_in, ys = (size_t)g->h_out * g->w_out;
#pragma omp parallel for schedule(static) if ((size_t)planes * xs >= POOL_PAR_MIN)
    for (long pl = 0; pl < planes; pl++)
        maxpool_plane(y + pl * ys, argmax + pl * ys, x + pl * xs, g);
}

void soma_maxpool_backward(float *dx, const float *dy, const int32_t *argmax,
                           const soma_conv_geom *g, int N) {
    if (!dx) return;
    const long planes = (long)N * g->c_in;
    const size_t xs = (size_t)g->h_in * g->w_in, ys = (size_t)g->h_out * g->w_out;
#pragma omp parallel for schedule(static) if ((size_t)planes * xs >= POOL_PAR_MIN)
    for (long pl = 0; pl < planes; pl++) {
        float *d = dx + pl * xs;
        const float *e = dy + pl * ys;
        const int32_t *a = argmax + pl * ys;
        memset(d, 0, xs * sizeof *d);
        for (size_t o = 0; o < ys; o++)
            if (a[o] >= 0) d[a[o]] += e[o];
    }
}

/* 2x2 windows, stride 2, no padding: the common case gets kernels that keep no indices. The
 * forward is a branch-free max the compiler vectorises (a NaN wins, as PyTorch); the backward
 * finds each window's winner again from x and y (the first input equal to the output, or the
 * first NaN), which is the element the indexed path would have chosen. */
static int maxpool_is_2x2(const soma_conv_geom *g) {
    return g->kh == 2 && g->kw == 2 && g->stride == 2 && g->pad == 0;
}

static inline float max_nan(float a, float b) { return (b > a || b != b) ? b : a; }

SOMA_HOT_AVX2 static void maxpool2_fwd_plane(float *restrict y, const float *restrict x, int W, int Ho, int Wo) {
    for (int oh = 0; oh < Ho; oh++) {
        const float *r0 = x + (size_t)(2 * oh) * W, *r1 = r0 + W;
        float *yr = y + (size_t)oh * Wo;
        for (int ow = 0; ow < Wo; ow++)
            yr[ow] = max_nan(max_nan(r0[2 * ow], r0[2 * ow + 1]), max_nan(r1[2 * ow], r1[2 * ow + 1]));
    }
}

static inline int is_winner(float v, float m) { return (v == m) | ((m != m) & (v != v)); }

SOMA_HOT_AVX2 static void maxpool2_bwd_plane(float *restrict dx, const float *restrict dy, const float *restrict x,
                                        const float *restrict y, int W, int H, int Ho, int Wo) {
    /* Windows do not overlap: each input gets its window's gradient or 0. An odd last row or
     * column belongs to no window and stays 0. The winner is found with masks, not branches
     * (which window element wins is data, and mispredicted branches cost more than the rest
     * of the work), so the loop vectorises. */
    if ((H & 1) || (W & 1)) memset(dx, 0, (size_t)H * W * sizeof *dx);
    for (int oh = 0; oh < Ho; oh++) {
        const float *r0 = x + (size_t)(2 * oh) * W, *r1 = r0 + W;
        float *d0 = dx + (size_t)(2 * oh) * W, *d1 = d0 + W;
        const float *yr = y + (size_t)oh * Wo, *gr = dy + (size_t)oh * Wo;
        for (int ow = 0; ow < Wo; ow++) {
            const float m = yr[ow], gv = gr[ow];
            const int wa = is_winner(r0[2 * ow], m);
            const int wb = (!wa) & is_winner(r0[2 * ow + 1], m);
            const int wc = (!(wa | wb)) & is_winner(r1[2 * ow], m);
            const int wd = !(wa | wb | wc);
            d0[2 * ow] = wa ? gv : 0.f;
            d0[2 * ow + 1] = wb ? gv : 0.f;
            d1[2 * ow] = wc ? gv : 0.f;
            d1[2 * ow + 1] = wd ? gv : 0.f;
        }
    }
}

static void maxpool2_forward(float *y, const float *x, const soma_conv_geom *g, int N) {
    const long planes = (long)N * g->c_in;
    const size_t xs = (size_t)g->h_in * g->w_in, ys = (size_t)g->h_out * g->w_out;
#pragma omp parallel for schedule(static) if ((size_t)planes * xs >= POOL_PAR_MIN)
    for (long pl = 0; pl < planes; pl++) maxpool2_fwd_plane(y + pl * ys, x + pl * xs, g->w_in, g->h_out, g->w_out);
}

static void maxpool2_backward(float *dx, const float *dy, const float *x, const float *y,
                              const soma_conv_geom *g, int N) {
    if (!dx) return;
    const long planes = (long)N * g->c_in;
    const size_t xs = (size_t)g->h_in * g->w_in, ys = (size_t)g->h_out * g->w_out;
#pragma omp parallel for schedule(static) if ((size_t)planes * xs >= POOL_PAR_MIN)
    for (long pl = 0; pl < planes; pl++)
        maxpool2_bwd_plane(dx + pl * xs, dy + pl * ys, x + pl * xs, y + pl * ys, g->w_in, g->h_in, g->h_out,
                           g->w_out);
}

// --- average pooling -------------------------------------------------------------------

void soma_avgpool_forward(float *y, const float *x, const soma_conv_geom *g, int N) {
    const long planes = (long)N * g->c_in;
    const int H = g->h_in, W = g->w_in, Ho = g->h_out, Wo = g->w_out;
    const size_t xs = (size_t)H * W, ys = (size_t)Ho * Wo;
    const float inv = 1.f / (float)(g->kh * g->kw);
#pragma omp parallel for schedule(static) if ((size_t)planes * xs >= POOL_PAR_MIN)
    for (long pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * xs;
        float *yp = y + pl * ys;
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow++) {
                float s = 0.f;
                for (int ki = 0; ki < g->kh; ki++) {
                    int ih = oh * g->stride - g->pad + ki;
                    if (ih < 0 || ih >= H) continue;
                    for (int kj = 0; kj < g->kw; kj++) {
                        int iw = ow * g->stride - g->pad + kj;
                        if (iw >= 0 && iw < W) s += xp[(size_t)ih * W + iw];
                    }
                }
                yp[oh * Wo + ow] = s * inv;
            }
    }
}

void soma_avgpool_backward(float *dx, const float *dy, const soma_conv_geom *g, int N) {
    if (!dx) return;
    const long planes = (long)N * g->c_in;
    const int H = g->h_in, W = g->w_in, Ho = g->h_out, Wo = g->w_out;
    const size_t xs = (size_t)H * W, ys = (size_t)Ho * Wo;
    const float inv = 1.f / (float)(g->kh * g->kw);
#pragma omp parallel for schedule(static) if ((size_t)planes * xs >= POOL_PAR_MIN)
    for (long pl = 0; pl < planes; pl++) {
        float *dp = dx + pl * xs;
        const float *e = dy + pl * ys;
        memset(dp, 0, xs * sizeof *dp);
        for (int oh = 0; oh < Ho; oh++)
            for (int ow = 0; ow < Wo; ow++) {
                float v = e[oh * Wo + ow] * inv;
                for (int ki = 0; ki < g->kh; ki++) {
                    int ih = oh * g->stride - g->pad + ki;
                    if (ih < 0 || ih >= H) continue;
                    for (int kj = 0; kj < g->kw; kj++) {
                        int iw = ow * g->stride - g->pad + kj;
                        if (iw >= 0 && iw < W) dp[(size_t)ih * W + iw] += v;
                    }
                }
            }
    }
}

// --- layers ----------------------------------------------------------------------------

typedef struct pool_impl {
    int is_max;
    int k, stride, pad;
    soma_conv_geom g;
    int32_t *argmax; /* [max_n, T, C, Ho, Wo] for max pooling */
    int steps;       /* images per sample: T for [T,C,H,W], else 1 */
} pool_impl;

static soma_status pool_setup(soma_layer *l) {
    pool_impl *p = l->impl;
    if (l->in.rank != 3 && l->in.rank != 4)
        return soma_error(SOMA_ERR_SHAPE,
                          "layer %s: pooling needs an image [C,H,W] or a sequence of images "
                          "[T,C,H,W], got %s",
                          l->spec, SOMA__SHAPE_STR(l->in));
    soma_shape im = soma__step_shape(l->in);
    p->steps = soma__steps(l->in);
    if (2 * p->pad > p->k)
        return soma_error(SOMA_ERR_SHAPE, "layer %s: padding %d is more than half the window %d",
                          l->spec, p->pad, p->k);
    p->g = (soma_conv_geom){.c_in = im.d[0], .h_in = im.d[1], .w_in = im.d[2], .c_out = im.d[0],
                            .kh = p->k, .kw = p->k, .stride = p->stride, .pad = p->pad};
    if (soma_conv_geom_init(&p->g) != SOMA_OK)
        return soma_error_wrap(SOMA_ERR_SHAPE, "layer %s", l->spec);
    l->n_params = 0;
    l->out = l->in.rank == 4 ? soma_shape4(p->steps, im.d[0], p->g.h_out, p->g.w_out)
                             : soma_shape3(im.d[0], p->g.h_out, p->g.w_out);
    return SOMA_OK;
}

static soma_status pool_reserve(soma_layer *l, int max_n) {
    pool_impl *p = l->impl;
    if (p->is_max && !maxpool_is_2x2(&p->g)) {
        soma_free(p->argmax);
        p->argmax = soma_alloc((size_t)max_n * soma_shape_size(l->out), sizeof *p->argmax);
        if (!p->argmax) return soma_error_wrap(SOMA_ERR_NOMEM, "layer %s", l->spec);
    }
    l->max_n = max_n;
    return SOMA_OK;
}

static void pool_forward(soma_layer *l, float *y, const float *x, int n, soma_mode mode) {
    (void)mode;
    pool_impl *p = l->impl;
    n *= p->steps;
    if (p->is_max && maxpool_is_2x2(&p->g)) {
        maxpool2_forward(y, x, &p->g, n);
    } else if (p->is_max) {
        SOMA_ASSERT(p->argmax && n <= l->max_n * p->steps);
        soma_maxpool_forward(y, p->argmax, x, &p->g, n);
    } else {
        soma_avgpool_forward(y, x, &p->g, n);
    }
}

static void pool_backward(soma_layer *l, float *dx, const float *dy, const float *x,
                          const float *y, int n) {
    pool_impl *p = l->impl;
    n *= p->steps;
    if (p->is_max && maxpool_is_2x2(&p->g))
        maxpool2_backward(dx, dy, x, y, &p->g, n);
    else if (p->is_max)
        soma_maxpool_backward(dx, dy, p->argmax, &p->g, n);
    else
        soma_avgpool_backward(dx, dy, &p->g, n);
}

static void pool_destroy(soma_layer *l) {
    pool_impl *p = l->impl;
    if (p) soma_free(p->argmax);
    soma_free(p);
    l->impl = NULL;
}

static soma_status pool_clone(const soma_layer *src, soma_layer *dst) {
    SOMA_TRY(soma__impl_copy(src, dst, sizeof(pool_impl)));
    ((pool_impl *)dst->impl)->argmax = NULL; /* src's */
    return SOMA_OK;
}

/* maxpool and avgpool differ only in pool_impl: one table, two kinds ([0] avg, [1] max). */
#define POOL_OPS(name)                                                                         \
    {                                                                                          \
        .kind = name, .setup = pool_setup, .reserve = pool_reserve, .forward = pool_forward,   \
        .backward = pool_backward, .destroy = pool_destroy, .clone = pool_clone                \
    }
static const soma_layer_ops pool_ops[2] = {POOL_OPS("avgpool"), POOL_OPS("maxpool")};

int soma__parse_pool(const char *tok, soma_layer *l) {
    int is_max;
    if (strncmp(tok, "maxpool", 7) == 0)
        is_max = 1;
    else if (strncmp(tok, "avgpool", 7) == 0)
        is_max = 0;
    else
        return 0;
    const char *s = tok + 7;
    int k = soma__parse_uint(&s), stride = -1, pad = 0;
    if (k < 1 || soma__parse_stride_pad(s, &stride, &pad) != 0) {
        soma_error(SOMA_ERR_PARSE, "layer '%s': want %sK[sS][pP] with K, S >= 1 (e.g. %s2)", tok,
                   is_max ? "maxpool" : "avgpool", is_max ? "maxpool" : "avgpool");
        return -1;
    }
    pool_impl *p = soma_calloc(1, sizeof *p);
    if (!p) return -1;
    p->is_max = is_max;
    p->k = k;
    p->stride = stride > 0 ? stride : k;
    p->pad = pad;
    p->steps = 1;
    l->ops = &pool_ops[is_max];
    l->impl = p;
    return 1;
}
