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
 * forward is a branch-free max (a NaN wins, as PyTorch); the backward
 * finds each window's winner again from x and y (the first input equal to the output, or the
 * first NaN), which is the element the indexed path would have chosen. */
static int maxpool_is_2x2(const soma_conv_geom *g) {
    return g->kh == 2 && g->kw == 2 && g->stride == 2 && g->pad == 0;
}

/* Rows shorter than 8 windows, one window at a time, with bit operations rather than
 * conditionals (GCC turns those into branches on which element wins). */
static inline float max_nan(float a, float b) {
    const uint32_t m = (uint32_t)0 - (uint32_t)((b > a) | (b != b));
    uint32_t ua, ub;
    memcpy(&ua, &a, 4);
    memcpy(&ub, &b, 4);
    ua = (ub & m) | (ua & ~m);
    memcpy(&a, &ua, 4);
    return a;
}
static inline int is_winner(float v, float m) { return (v == m) | ((m != m) & (v != v)); }
static inline float pick(int on, float g) { /* g when on (0 or 1), else +0 */
    uint32_t u;
    memcpy(&u, &g, 4);
    u &= (uint32_t)0 - (uint32_t)on;
    memcpy(&g, &u, 4);
    return g;
}

/* Eight windows at a time with 8-lane vectors: the even and odd columns of each row pair are
 * pulled apart with shuffles, the max and the winner masks are lane-wise selects (no branch:
 * which element wins is data), and the backward's results are interleaved back. */
typedef int pool_v8i __attribute__((vector_size(32)));
#define POOL_INLINE __attribute__((always_inline)) /* into each clone: no 32-byte vector arguments */
#if defined(__clang__)
#define POOL_SHUF(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define POOL_SHUF(a, b, ...) __builtin_shuffle(a, b, (pool_v8i){__VA_ARGS__})
#endif
#define POOL_EVENS 0, 2, 4, 6, 8, 10, 12, 14
#define POOL_ODDS 1, 3, 5, 7, 9, 11, 13, 15
#define POOL_ZIP_LO 0, 8, 1, 9, 2, 10, 3, 11
#define POOL_ZIP_HI 4, 12, 5, 13, 6, 14, 7, 15

/* t where the mask m is set, else f; the max of a and b where b wins when greater or NaN (as
 * the indexed path's scan); whether v is a window's winner given its max m. Macros, so no
 * 32-byte vector crosses a function boundary in the baseline clone. */
#define POOL_SEL(m, t, f) ((soma__v8)(((pool_v8i)(t) & (m)) | ((pool_v8i)(f) & ~(m))))
#define POOL_MAX_NAN(a, b) POOL_SEL(((b) > (a)) | ((b) != (b)), b, a)
#define POOL_WINNER(v, m) (((v) == (m)) | (((m) != (m)) & ((v) != (v))))

/* The four elements of windows [0, 8) of a row pair: q[0] q[1] from r0, q[2] q[3] from r1. */
static inline POOL_INLINE void pool2_quads(const float *r0, const float *r1, soma__v8 q[4]) {
    const soma__v8 p0 = soma__v8_load(r0), p1 = soma__v8_load(r0 + 8);
    const soma__v8 p2 = soma__v8_load(r1), p3 = soma__v8_load(r1 + 8);
    q[0] = POOL_SHUF(p0, p1, POOL_EVENS);
    q[1] = POOL_SHUF(p0, p1, POOL_ODDS);
    q[2] = POOL_SHUF(p2, p3, POOL_EVENS);
    q[3] = POOL_SHUF(p2, p3, POOL_ODDS);
}

static inline POOL_INLINE void pool2_fwd8(float *y, const float *r0, const float *r1) {
    soma__v8 q[4];
    pool2_quads(r0, r1, q);
    const soma__v8 v = POOL_MAX_NAN(POOL_MAX_NAN(q[0], q[1]), POOL_MAX_NAN(q[2], q[3]));
    memcpy(y, &v, sizeof v);
}

SOMA_HOT_AVX2 static void maxpool2_fwd_plane(float *restrict y, const float *restrict x, int W, int Ho, int Wo) {
    for (int oh = 0; oh < Ho; oh++) {
        const float *r0 = x + (size_t)(2 * oh) * W, *r1 = r0 + W;
        float *yr = y + (size_t)oh * Wo;
        if (Wo < 8) {
            for (int ow = 0; ow < Wo; ow++)
                yr[ow] = max_nan(max_nan(r0[2 * ow], r0[2 * ow + 1]), max_nan(r1[2 * ow], r1[2 * ow + 1]));
            continue;
        }
        /* the last 8 windows overlap the ones before when Wo is not a multiple of 8: they are
         * written twice, with the same values */
        for (int ow = 0;; ow += 8) {
            if (ow > Wo - 8) ow = Wo - 8;
            pool2_fwd8(yr + ow, r0 + 2 * ow, r1 + 2 * ow);
            if (ow == Wo - 8) break;
        }
    }
}

/* Each window's gradient to its winner (the first element equal to the max, or the first
 * NaN), 0 to the other three. */
static inline POOL_INLINE void pool2_bwd8(float *d0, float *d1, const float *r0, const float *r1, const float *yv,
                              const float *gv) {
    soma__v8 q[4];
    pool2_quads(r0, r1, q);
    const soma__v8 m = soma__v8_load(yv), g = soma__v8_load(gv);
    const pool_v8i wa = POOL_WINNER(q[0], m);
    const pool_v8i wb = POOL_WINNER(q[1], m) & ~wa;
    const pool_v8i wc = POOL_WINNER(q[2], m) & ~(wa | wb);
    const pool_v8i wd = ~(wa | wb | wc);
    const soma__v8 z = soma__v8_splat(0.f);
    const soma__v8 ga = POOL_SEL(wa, g, z), gb = POOL_SEL(wb, g, z);
    const soma__v8 gc = POOL_SEL(wc, g, z), gd = POOL_SEL(wd, g, z);
    const soma__v8 o0 = POOL_SHUF(ga, gb, POOL_ZIP_LO), o1 = POOL_SHUF(ga, gb, POOL_ZIP_HI);
    const soma__v8 o2 = POOL_SHUF(gc, gd, POOL_ZIP_LO), o3 = POOL_SHUF(gc, gd, POOL_ZIP_HI);
    memcpy(d0, &o0, sizeof o0);
    memcpy(d0 + 8, &o1, sizeof o1);
    memcpy(d1, &o2, sizeof o2);
    memcpy(d1 + 8, &o3, sizeof o3);
}

SOMA_HOT_AVX2 static void maxpool2_bwd_plane(float *restrict dx, const float *restrict dy, const float *restrict x,
                                        const float *restrict y, int W, int H, int Ho, int Wo) {
    /* Windows do not overlap: each input gets its window's gradient or 0. An odd last row or
     * column belongs to no window and stays 0. */
    if ((H & 1) || (W & 1)) memset(dx, 0, (size_t)H * W * sizeof *dx);
    for (int oh = 0; oh < Ho; oh++) {
        const float *r0 = x + (size_t)(2 * oh) * W, *r1 = r0 + W;
        float *d0 = dx + (size_t)(2 * oh) * W, *d1 = d0 + W;
        const float *yr = y + (size_t)oh * Wo, *gr = dy + (size_t)oh * Wo;
        if (Wo < 8) {
            for (int ow = 0; ow < Wo; ow++) {
                const float m = yr[ow], gv = gr[ow];
                const int wa = is_winner(r0[2 * ow], m);
                const int wb = (!wa) & is_winner(r0[2 * ow + 1], m);
                const int wc = (!(wa | wb)) & is_winner(r1[2 * ow], m);
                d0[2 * ow] = pick(wa, gv);
                d0[2 * ow + 1] = pick(wb, gv);
                d1[2 * ow] = pick(wc, gv);
                d1[2 * ow + 1] = pick(!(wa | wb | wc), gv);
            }
            continue;
        }
        for (int ow = 0;; ow += 8) { /* the last 8 windows may overlap, as in the forward */
            if (ow > Wo - 8) ow = Wo - 8;
            pool2_bwd8(d0 + 2 * ow, d1 + 2 * ow, r0 + 2 * ow, r1 + 2 * ow, yr + ow, gr + ow);
            if (ow == Wo - 8) break;
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
