// 2-D convolution: window geometry, im2col + GEMM kernels (batched in chunks of images), the
// naive reference, and the "convKxKxC[sS][pP]" layer kind.
//
// Layout. x is [N,Ci,H,W] and y [N,Co,Ho,Wo], as PyTorch. For a chunk of nb images the
// scratch holds
//     col [K, nb*P]   K = Ci*kh*kw rows, one column per output position of every image
//     t   [Co, nb*P]  the GEMM's output (forward) or the gathered dy (backward)
// with P = Ho*Wo, so one GEMM covers the whole chunk:
//     forward   t = w[Co,K] . col            then y[n,co,:] = t[co, n*P:(n+1)*P] + b[co]
//     dW        dw[Co,K] += t . col^T         (t = dy gathered into [Co, nb*P])
//     dx        col = w^T . t, then col2im
// The scatter into NCHW is fused with the bias add (forward) and with the bias-gradient sum
// (backward), so it costs no extra pass. A chunk of one image needs no scatter at all.
#include <stdio.h>
#include <string.h>

#include "nn/internal.h"

/* Scratch per chunk, in floats; about 2 MB keeps col in the L2/L3 of common CPUs while
 * giving the GEMM a wide N dimension. */
#ifndef CONV_CHUNK_FLOATS
#define CONV_CHUNK_FLOATS ((size_t)1 << 19)
#endif

// --- geometry --------------------------------------------------------------------------

soma_status soma_conv_geom_init(soma_conv_geom *g) {
    if (g->c_in < 1 || g->h_in < 1 || g->w_in < 1)
        return soma_error(SOMA_ERR_SHAPE, "input [%d,%d,%d] is empty", g->c_in, g->h_in, g->w_in);
    if (g->kh < 1 || g->kw < 1 || g->stride < 1 || g->pad < 0)
        return soma_error(SOMA_ERR_SHAPE, "window %dx%d, stride %d, padding %d is invalid", g->kh,
                          g->kw, g->stride, g->pad);
    long hp = (long)g->h_in + 2L * g->pad, wp = (long)g->w_in + 2L * g->pad;
    if (hp < g->kh || wp < g->kw)
        return soma_error(SOMA_ERR_SHAPE,
                          "window %dx%d does not fit input [%d,%d,%d] (padding %d)", g->kh, g->kw,
                          g->c_in, g->h_in, g->w_in, g->pad);
    g->h_out = (int)((hp - g->kh) / g->stride + 1);
    g->w_out = (int)((wp - g->kw) / g->stride + 1);
    return SOMA_OK;
}

// --- im2col / col2im -------------------------------------------------------------------

/* The output columns [ow0, ow1) whose input column ow*s - pad + kj lies inside [0, W). */
static void valid_cols(const soma_conv_geom *g, int kj, int *ow0, int *ow1) {
    int s = g->stride, off = g->pad - kj; /* iw = ow*s - off */
    int a = off > 0 ? (off + s - 1) / s : 0;
    int last = g->w_in - 1 + off; /* ow*s <= last */
    int b = last >= 0 ? last / s + 1 : 0;
    if (b > g->w_out) b = g->w_out;
    if (a > b) a = b;
    *ow0 = a;
    *ow1 = b;
}

/* One image x[Ci,H,W] into the columns of col (row r at col + r*ld, P columns). Rows are
 * built output row by output row with contiguous copies (stride 1) and zero edges. */
static void im2col_one(float *col, size_t ld, const float *x, const soma_conv_geom *g) {
    const int H = g->h_in, W = g->w_in, Ho = g->h_out, Wo = g->w_out, s = g->stride;
    for (int ci = 0; ci < g->c_in; ci++) {
        const float *xp = x + (size_t)ci * H * W;
        for (int ki = 0; ki < g->kh; ki++)
            for (int kj = 0; kj < g->kw; kj++) {
                size_t r = ((size_t)ci * g->kh + ki) * g->kw + kj;
                float *dst = col + r * ld;
                int ow0, ow1;
                valid_cols(g, kj, &ow0, &ow1);
                for (int oh = 0; oh < Ho; oh++) {
                    float *d = dst + (size_t)oh * Wo;
                    int ih = oh * s - g->pad + ki;
                    if (ih < 0 || ih >= H) {
                        memset(d, 0, (size_t)Wo * sizeof *d);
                        continue;
                    }
                    const float *xr = xp + (size_t)ih * W - g->pad + kj;
                    for (int ow = 0; ow < ow0; ow++) d[ow] = 0.f;
                    if (s == 1) {
                        memcpy(d + ow0, xr + ow0, (size_t)(ow1 - ow0) * sizeof *d);
                    } else {
                        for (int ow = ow0; ow < ow1; ow++) d[ow] = xr[(size_t)ow * s];
                    }
                    for (int ow = ow1; ow < Wo; ow++) d[ow] = 0.f;
                }
            }
    }
}

/* Writes dx[Ci,H,W] from the columns of col (the inverse scatter of im2col_one, summed). */
static void col2im_one(float *dx, const float *col, size_t ld, const soma_conv_geom *g) {
    const int H = g->h_in, W = g->w_in, Ho = g->h_out, Wo = g->w_out, s = g->stride;
    memset(dx, 0, (size_t)g->c_in * H * W * sizeof *dx);
    for (int ci = 0; ci < g->c_in; ci++) {
        float *xp = dx + (size_t)ci * H * W;
        for (int ki = 0; ki < g->kh; ki++)
            for (int kj = 0; kj < g->kw; kj++) {
                size_t r = ((size_t)ci * g->kh + ki) * g->kw + kj;
                const float *src = col + r * ld;
                int ow0, ow1;
                valid_cols(g, kj, &ow0, &ow1);
                for (int oh = 0; oh < Ho; oh++) {
                    int ih = oh * s - g->pad + ki;
                    if (ih < 0 || ih >= H) continue;
                    const float *d = src + (size_t)oh * Wo;
                    float *xr = xp + (size_t)ih * W - g->pad + kj;
                    if (s == 1) {
#pragma omp simd
                        for (int ow = ow0; ow < ow1; ow++) xr[ow] += d[ow];
                    } else {
                        for (int ow = ow0; ow < ow1; ow++) xr[(size_t)ow * s] += d[ow];
                    }
                }
            }
    }
}

// --- kernels ---------------------------------------------------------------------------

static size_t conv_k(const soma_conv_geom *g) { return (size_t)g->c_in * g->kh * g->kw; }
static size_t conv_p(const soma_conv_geom *g) { return (size_t)g->h_out * g->w_out; }

/* Images per GEMM: as many as fit CONV_CHUNK_FLOATS of scratch, at least one, at most N.
 * Non-decreasing in N, so scratch sized for max_n serves every smaller batch. */
static int conv_chunk(const soma_conv_geom *g, int N) {
    size_t per = conv_p(g) * (conv_k(g) + (size_t)g->c_out);
    size_t nb = per ? CONV_CHUNK_FLOATS / per : 1;
    if (nb < 1) nb = 1;
    if (N < 1) N = 1;
    return nb > (size_t)N ? N : (int)nb;
}

size_t soma_conv2d_scratch(const soma_conv_geom *g, int N) {
    return (size_t)conv_chunk(g, N) * conv_p(g) * (conv_k(g) + (size_t)g->c_out);
}

/* Below this many col values per chunk, im2col stays on one thread. */
#define CONV_PAR_MIN 8192

void soma_conv2d_forward(float *y, const float *x, const float *w, const float *b,
                         const soma_conv_geom *g, int N, float *col) {
    const size_t K = conv_k(g), P = conv_p(g), Co = (size_t)g->c_out;
    const size_t xs = (size_t)g->c_in * g->h_in * g->w_in, ys = Co * P;
    const int nbmax = conv_chunk(g, N);
    float *t = col + (size_t)nbmax * P * K;
    for (int n0 = 0; n0 < N; n0 += nbmax) {
        const int nb = N - n0 < nbmax ? N - n0 : nbmax;
        const size_t ld = (size_t)nb * P;
#pragma omp parallel for schedule(static) if (nb > 1 && ld * K >= CONV_PAR_MIN)
        for (int i = 0; i < nb; i++) im2col_one(col + (size_t)i * P, ld, x + (n0 + i) * xs, g);
        if (nb == 1) {
            float *yn = y + (size_t)n0 * ys;
            for (size_t co = 0; co < Co; co++) {
                float bv = b ? b[co] : 0.f;
                for (size_t p = 0; p < P; p++) yn[co * P + p] = bv;
            }
            soma_gemm(0, 0, (int)Co, (int)P, (int)K, 1.f, w, (int)K, col, (int)P, 1.f, yn,
                      (int)P);
            continue;
        }
        soma_gemm(0, 0, (int)Co, (int)ld, (int)K, 1.f, w, (int)K, col, (int)ld, 0.f, t, (int)ld);
        for (int i = 0; i < nb; i++) {
            float *yn = y + (size_t)(n0 + i) * ys;
            for (size_t co = 0; co < Co; co++) {
                const float *src = t + co * ld + (size_t)i * P;
                float *dst = yn + co * P;
                float bv = b ? b[co] : 0.f;
#pragma omp simd
                for (size_t p = 0; p < P; p++) dst[p] = src[p] + bv;
            }
        }
    }
}

void soma_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                          const float *w, const soma_conv_geom *g, int N, float *col) {
    const size_t K = conv_k(g), P = conv_p(g), Co = (size_t)g->c_out;
    const size_t xs = (size_t)g->c_in * g->h_in * g->w_in, ys = Co * P;
    const int nbmax = conv_chunk(g, N);
    float *t = col + (size_t)nbmax * P * K;
    for (int n0 = 0; n0 < N; n0 += nbmax) {
        const int nb = N - n0 < nbmax ? N - n0 : nbmax;
        const size_t ld = (size_t)nb * P;
        /* dy of the chunk as [Co, nb*P] (a view when nb == 1), with the bias sums. */
        const float *dyt = dy + (size_t)n0 * ys;
        if (nb > 1) {
            for (int i = 0; i < nb; i++)
                for (size_t co = 0; co < Co; co++)
                    memcpy(t + co * ld + (size_t)i * P, dy + (size_t)(n0 + i) * ys + co * P,
                           P * sizeof *t);
            dyt = t;
        }
        if (db) {
            for (size_t co = 0; co < Co; co++) {
                const float *r = dyt + co * ld;
                float s = 0.f;
#pragma omp simd reduction(+ : s)
                for (size_t p = 0; p < ld; p++) s += r[p];
                db[co] += s;
            }
        }
        if (dw) {
#pragma omp parallel for schedule(static) if (nb > 1 && ld * K >= CONV_PAR_MIN)
            for (int i = 0; i < nb; i++)
                im2col_one(col + (size_t)i * P, ld, x + (n0 + i) * xs, g);
            soma_gemm(0, 1, (int)Co, (int)K, (int)ld, 1.f, dyt, (int)ld, col, (int)ld, 1.f, dw,
                      (int)K);
        }
        if (dx) {
            soma_gemm(1, 0, (int)K, (int)ld, (int)Co, 1.f, w, (int)K, dyt, (int)ld, 0.f, col,
                      (int)ld);
#pragma omp parallel for schedule(static) if (nb > 1 && ld * K >= CONV_PAR_MIN)
            for (int i = 0; i < nb; i++)
                col2im_one(dx + (n0 + i) * xs, col + (size_t)i * P, ld, g);
        }
    }
}

/* The seven-loop definition, accumulated in double. */
void soma_conv2d_forward_ref(float *y, const float *x, const float *w, const float *b,
                             const soma_conv_geom *g, int N) {
    for (int n = 0; n < N; n++)
        for (int co = 0; co < g->c_out; co++)
            for (int oh = 0; oh < g->h_out; oh++)
                for (int ow = 0; ow < g->w_out; ow++) {
                    double acc = b ? b[co] : 0.0;
                    for (int ci = 0; ci < g->c_in; ci++)
                        for (int ki = 0; ki < g->kh; ki++)
                            for (int kj = 0; kj < g->kw; kj++) {
                                int ih = oh * g->stride - g->pad + ki;
                                int iw = ow * g->stride - g->pad + kj;
                                if (ih < 0 || ih >= g->h_in || iw < 0 || iw >= g->w_in) continue;
                                acc += (double)x[(((size_t)n * g->c_in + ci) * g->h_in + ih) *
                                                     g->w_in + iw] *
                                       w[(((size_t)co * g->c_in + ci) * g->kh + ki) * g->kw + kj];
                            }
                    y[(((size_t)n * g->c_out + co) * g->h_out + oh) * g->w_out + ow] = (float)acc;
                }
}

// --- layer -----------------------------------------------------------------------------

typedef struct conv_impl {
    int kh, kw, c_out, stride, pad;
    soma_conv_geom g;
    float *col; /* scratch for max_n */
} conv_impl;

static soma_status conv_setup(soma_layer *l) {
    conv_impl *c = l->impl;
    c->g = (soma_conv_geom){.c_in = l->in.c, .h_in = l->in.h, .w_in = l->in.w, .c_out = c->c_out,
                            .kh = c->kh, .kw = c->kw, .stride = c->stride, .pad = c->pad};
    if (soma_conv_geom_init(&c->g) != SOMA_OK)
        return soma_error_wrap(SOMA_ERR_SHAPE, "layer %s", l->spec);
    l->n_params = 0;
    l->out = (soma_shape){c->c_out, c->g.h_out, c->g.w_out};
    int fan_in = l->in.c * c->kh * c->kw, fan_out = c->c_out * c->kh * c->kw;
    SOMA_TRY(soma_layer_add_param(l, "weight", 4, (int[]){c->c_out, l->in.c, c->kh, c->kw}, 1,
                                  fan_in, fan_out));
    SOMA_TRY(soma_layer_add_param(l, "bias", 1, (int[]){c->c_out}, 0, fan_in, fan_out));
    return SOMA_OK;
}

static void conv_init(soma_layer *l, soma_rng *rng) {
    soma_init_kaiming_uniform(&l->params[0], rng);
    soma_init_bias_uniform(&l->params[1], rng);
}

static soma_status conv_reserve(soma_layer *l, int max_n) {
    conv_impl *c = l->impl;
    soma_free(c->col);
    c->col = soma_alloc(soma_conv2d_scratch(&c->g, max_n), sizeof *c->col);
    if (!c->col) return soma_error_wrap(SOMA_ERR_NOMEM, "layer %s", l->spec);
    l->max_n = max_n;
    return SOMA_OK;
}

static void conv_forward(soma_layer *l, float *y, const float *x, int n, soma_mode mode) {
    (void)mode;
    conv_impl *c = l->impl;
    SOMA_ASSERT(c->col && n <= l->max_n);
    soma_conv2d_forward(y, x, l->params[0].value, l->params[1].value, &c->g, n, c->col);
}

static void conv_backward(soma_layer *l, float *dx, const float *dy, const float *x,
                          const float *y, int n) {
    (void)y;
    conv_impl *c = l->impl;
    SOMA_ASSERT(c->col && n <= l->max_n);
    soma_conv2d_backward(dx, l->params[0].grad, l->params[1].grad, dy, x, l->params[0].value,
                         &c->g, n, c->col);
}

static void conv_destroy(soma_layer *l) {
    conv_impl *c = l->impl;
    if (c) soma_free(c->col);
    soma_free(c);
    l->impl = NULL;
}

static const soma_layer_ops conv_ops = {
    .kind = "conv2d",
    .setup = conv_setup,
    .init = conv_init,
    .reserve = conv_reserve,
    .forward = conv_forward,
    .backward = conv_backward,
    .destroy = conv_destroy,
};

/* Reads the optional suffixes sS and pP (each at most once, any order). 0 on success. */
int soma__parse_stride_pad(const char *s, int *stride, int *pad) {
    int seen_s = 0, seen_p = 0;
    while (*s) {
        char c = *s++;
        int v = soma__parse_uint(&s);
        if (c == 's' && !seen_s && v >= 1) {
            *stride = v;
            seen_s = 1;
        } else if (c == 'p' && !seen_p && v >= 0) {
            *pad = v;
            seen_p = 1;
        } else {
            return -1;
        }
    }
    return 0;
}

/* convKxKxC[sS][pP]: kernel KHxKW (written KxK), C output channels. */
int soma__parse_conv2d(const char *tok, soma_layer *l) {
    if (strncmp(tok, "conv", 4) != 0) return 0;
    const char *s = tok + 4;
    int kh = soma__parse_uint(&s), kw = -1, co = -1, stride = 1, pad = 0;
    if (kh >= 1 && *s == 'x') {
        s++;
        kw = soma__parse_uint(&s);
        if (kw >= 1 && *s == 'x') {
            s++;
            co = soma__parse_uint(&s);
        }
    }
    if (kh < 1 || kw < 1 || co < 1 || soma__parse_stride_pad(s, &stride, &pad) != 0) {
        soma_error(SOMA_ERR_PARSE,
                   "layer '%s': want convKxKxC[sS][pP] (e.g. conv5x5x6p2) with K, C, S >= 1", tok);
        return -1;
    }
    conv_impl *c = soma_calloc(1, sizeof *c);
    if (!c) return -1;
    c->kh = kh;
    c->kw = kw;
    c->c_out = co;
    c->stride = stride;
    c->pad = pad;
    l->ops = &conv_ops;
    l->impl = c;
    return 1;
}
