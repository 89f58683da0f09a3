// 2-D convolution: window geometry, im2col + GEMM kernels (batched in chunks of images), the
// naive reference, and the "convKxKxC[sS][pP]" layer kind.
//
// Layout. x is [N,Ci,H,W] and y [N,Co,Ho,Wo], as PyTorch. The images of a batch are shared
// out among the threads; each thread works one image at a time in its own scratch slot,
//     col [K, P]    K = Ci*kh*kw rows, P = Ho*Wo columns (small enough to stay in cache)
// with single-threaded GEMMs on the image's own planes (already NCHW, so nothing is
// scattered or gathered):
//     forward   y_n[Co,P] = b + w[Co,K] . col
//     dW        dw_t[Co,K] += dy_n . col^T     (per-thread partial sums, reduced in order)
//     dx        col = w^T . dy_n, then col2im
// Small convolutions gain far more from this than from a threaded GEMM over a wide im2col.
// Two families of layers skip the column buffer altogether: stride-1 layers with output rows
// of 16+ (the direct kernels below: 8-lane blocks of a row, LeNet's first layer), and layers
// with output channels in multiples of 8 and short rows (conv_cv.c: channel-vectorised
// forward and dW, and at stride 1 a dx that correlates a zero-bordered dy with the kernel).
#include <stdio.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "nn/internal.h"


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
SOMA_HOT static void im2col_one(float *col, size_t ld, const float *x, const soma_conv_geom *g) {
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
                    if (s == 1) { /* rows are short (tens of floats): a loop beats memcpy's call */
                        for (int ow = ow0; ow < ow1; ow++) d[ow] = xr[ow];
                    } else {
                        for (int ow = ow0; ow < ow1; ow++) d[ow] = xr[(size_t)ow * s];
                    }
                    for (int ow = ow1; ow < Wo; ow++) d[ow] = 0.f;
                }
            }
    }
}

/* Writes dx[Ci,H,W] from the columns of col (the inverse scatter of im2col_one, summed). */
SOMA_HOT static void col2im_one(float *dx, const float *col, size_t ld, const soma_conv_geom *g) {
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

/* Per-thread scratch: col [K, P], then the thread's dW [Co, K] and db [Co] partial sums,
 * rounded up to 16 floats (64 bytes) so threads never share a cache line. */
/* Row stride of the padded planes of the direct path: the output row rounded up to whole
 * 8-lane blocks, plus the kernel's reach, so every block reads inside the row. */
#define DIRECT_LANES 8
#define DIRECT_BLOCKS 4 /* independent accumulators in flight, to hide the FMA latency */
#define DIRECT_SPAN (DIRECT_LANES * DIRECT_BLOCKS)
#define DIRECT_MAXKW 8 /* kernel taps in flight in the dW */
#define DIRECT_CO 3     /* output channels sharing each input vector in the forward (3 measured
                           * as fast as 6 on Zen 4, and 12 accumulators suit AVX2's registers) */
static int direct_wp(const soma_conv_geom *g) {
    return (g->w_out + DIRECT_SPAN - 1) / DIRECT_SPAN * DIRECT_SPAN + g->kw - 1;
}

static size_t conv_padded(const soma_conv_geom *g) {
    return (size_t)g->c_in * (size_t)(g->h_in + 2 * g->pad) * (size_t)direct_wp(g);
}

/* Direct convolution (no im2col, no GEMM) for stride 1 and output rows wide enough to fill
 * SIMD lanes: the inner loops run over 8-lane blocks of an output row, accumulating in
 * registers. LeNet's first layer is this case. */
static int conv_is_direct(const soma_conv_geom *g) {
    return g->stride == 1 && g->w_out >= 16 && !(g->kh == 1 && g->kw == 1 && g->pad == 0);
}

/* dy of one image with its rows zero-padded to whole 8-lane blocks: [Co, Ho, direct_wr]. */
static int direct_wr(const soma_conv_geom *g) {
    return (g->w_out + DIRECT_LANES - 1) / DIRECT_LANES * DIRECT_LANES;
}
static size_t direct_dyp(const soma_conv_geom *g) {
    return (size_t)g->c_out * (size_t)g->h_out * (size_t)direct_wr(g);
}

static size_t conv_slot(const soma_conv_geom *g) {
    const size_t grads = (size_t)g->c_out * conv_k(g) + (size_t)g->c_out;
    size_t n = conv_k(g) * conv_p(g) + grads;
    if (conv_is_direct(g))
        n = conv_padded(g) + direct_dyp(g) + grads;
    else if (soma__conv_dx_ok(g)) /* no column buffer: the padded dy of the dx kernel */
        n = soma__conv_cv_scratch(g) + soma__conv_dx_scratch(g) + grads;
    else if (soma__conv_cv_ok(g))
        n += soma__conv_cv_scratch(g);
    return (n + 15) & ~(size_t)15;
}

void soma__conv_pad(float *xp, const float *x, const soma_conv_geom *g, int wq) {
    const int H = g->h_in, W = g->w_in, p = g->pad, Hp = H + 2 * p;
    memset(xp, 0, (size_t)g->c_in * Hp * wq * sizeof *xp);
    for (int ci = 0; ci < g->c_in; ci++)
        for (int h = 0; h < H; h++) {
            float *d = xp + ((size_t)ci * Hp + h + p) * wq + p;
            const float *src = x + ((size_t)ci * H + h) * W;
            for (int w = 0; w < W; w++) d[w] = src[w];
        }
}

/* x[Ci,H,W] into xp[Ci,H+2p,direct_wp] with a zero border. */
static void pad_one(float *xp, const float *x, const soma_conv_geom *g) {
    soma__conv_pad(xp, x, g, direct_wp(g));
}

/* NC output channels from co0 of y[Co,Ho,Wo] = b + w * xp for one image (xp padded): each
 * input vector loaded feeds NC channels' accumulators (NC a constant after inlining). */
static inline __attribute__((always_inline)) void direct_forward_block(int NC, float *y, const float *xp,
                                                                       const float *w, const float *b,
                                                                       const soma_conv_geom *g, int co0) {
    const int Ho = g->h_out, Wo = g->w_out, kh = g->kh, kw = g->kw, Ci = g->c_in;
    const int Hp = g->h_in + 2 * g->pad, Wp = direct_wp(g);
    const size_t wco = (size_t)Ci * kh * kw; /* weights of one output channel */
    for (int oh = 0; oh < Ho; oh++)
        for (int o0 = 0; o0 < Wo; o0 += DIRECT_SPAN) {
            soma__v8 a[DIRECT_CO][DIRECT_BLOCKS];
            for (int c = 0; c < NC; c++)
                for (int k = 0; k < DIRECT_BLOCKS; k++) a[c][k] = soma__v8_splat(b ? b[co0 + c] : 0.f);
            for (int ci = 0; ci < Ci; ci++)
                for (int ki = 0; ki < kh; ki++) {
                    const float *xr = xp + ((size_t)ci * Hp + oh + ki) * Wp + o0;
                    const float *wr = w + (size_t)co0 * wco + ((size_t)ci * kh + ki) * kw;
                    for (int kj = 0; kj < kw; kj++) {
                        soma__v8 xv[DIRECT_BLOCKS];
                        for (int k = 0; k < DIRECT_BLOCKS; k++) xv[k] = soma__v8_load(xr + kj + k * DIRECT_LANES);
                        for (int c = 0; c < NC; c++) {
                            const float wv = wr[(size_t)c * wco + kj];
                            for (int k = 0; k < DIRECT_BLOCKS; k++) a[c][k] += wv * xv[k];
                        }
                    }
                }
            for (int c = 0; c < NC; c++) {
                float *yr = y + ((size_t)(co0 + c) * Ho + oh) * Wo;
                for (int k = 0; k < DIRECT_BLOCKS && o0 + k * DIRECT_LANES < Wo; k++)
                    SOMA__V8_STORE_PART(yr + o0 + k * DIRECT_LANES, a[c][k], Wo - o0 - k * DIRECT_LANES);
            }
        }
}

/* y[Co,Ho,Wo] = b + w * xp for one image (xp padded), DIRECT_CO output channels at a time. */
SOMA_HOT static void direct_forward_one(float *y, const float *xp, const float *w, const float *b,
                                        const soma_conv_geom *g) {
    int co = 0;
    for (; co + DIRECT_CO <= g->c_out; co += DIRECT_CO) direct_forward_block(DIRECT_CO, y, xp, w, b, g, co);
    _Static_assert(DIRECT_CO == 3, "the rest below is 1 or 2 channels");
    if (g->c_out - co == 1) direct_forward_block(1, y, xp, w, b, g, co);
    if (g->c_out - co == 2) direct_forward_block(2, y, xp, w, b, g, co);
}

/* dw of NC output channels from co0 and NK taps from k0 of one kernel row (ci, ki), one
 * image: NC * NK accumulators of 8 lanes, each dy vector and each input vector loaded once
 * per output block and shared (NC, NK constants after inlining). */
static inline __attribute__((always_inline)) void direct_dw_taps(int NC, int NK, float *dw, const float *dyp,
                                                                 const float *xp, const soma_conv_geom *g,
                                                                 int co0, int ci, int ki, int k0) {
    const int Ho = g->h_out, Wr = direct_wr(g), kh = g->kh, kw = g->kw, Ci = g->c_in;
    const int Hp = g->h_in + 2 * g->pad, Wp = direct_wp(g);
    soma__v8 acc[DIRECT_CO][DIRECT_MAXKW];
    for (int c = 0; c < NC; c++)
        for (int kj = 0; kj < NK; kj++) acc[c][kj] = soma__v8_splat(0.f);
    for (int oh = 0; oh < Ho; oh++) {
        const float *dr = dyp + ((size_t)co0 * Ho + oh) * Wr;
        const float *xr = xp + ((size_t)ci * Hp + oh + ki) * Wp + k0;
        for (int o0 = 0; o0 < Wr; o0 += DIRECT_LANES) {
            soma__v8 d[DIRECT_CO];
            for (int c = 0; c < NC; c++) d[c] = soma__v8_load(dr + (size_t)c * Ho * Wr + o0);
            for (int kj = 0; kj < NK; kj++) {
                const soma__v8 xv = soma__v8_load(xr + o0 + kj);
                for (int c = 0; c < NC; c++) acc[c][kj] += d[c] * xv;
            }
        }
    }
    for (int c = 0; c < NC; c++) {
        float *dwr = dw + ((((size_t)co0 + c) * Ci + ci) * kh + ki) * kw + k0;
        for (int kj = 0; kj < NK; kj++) {
            float t = 0.f;
            for (int v = 0; v < DIRECT_LANES; v++) t += acc[c][kj][v];
            dwr[kj] += t;
        }
    }
}

/* direct_dw_taps over a kernel row's taps in chunks of DIRECT_MAXKW, the last as a constant. */
static inline __attribute__((always_inline)) void direct_dw_row(int NC, float *dw, const float *dyp,
                                                                const float *xp, const soma_conv_geom *g,
                                                                int co0, int ci, int ki) {
    int k0 = 0;
    for (; k0 + DIRECT_MAXKW <= g->kw; k0 += DIRECT_MAXKW)
        direct_dw_taps(NC, DIRECT_MAXKW, dw, dyp, xp, g, co0, ci, ki, k0);
    _Static_assert(DIRECT_MAXKW == 8, "the rest below is 1..7 taps");
    switch (g->kw - k0) {
    case 1: direct_dw_taps(NC, 1, dw, dyp, xp, g, co0, ci, ki, k0); break;
    case 2: direct_dw_taps(NC, 2, dw, dyp, xp, g, co0, ci, ki, k0); break;
    case 3: direct_dw_taps(NC, 3, dw, dyp, xp, g, co0, ci, ki, k0); break;
    case 4: direct_dw_taps(NC, 4, dw, dyp, xp, g, co0, ci, ki, k0); break;
    case 5: direct_dw_taps(NC, 5, dw, dyp, xp, g, co0, ci, ki, k0); break;
    case 6: direct_dw_taps(NC, 6, dw, dyp, xp, g, co0, ci, ki, k0); break;
    case 7: direct_dw_taps(NC, 7, dw, dyp, xp, g, co0, ci, ki, k0); break;
    default: break;
    }
}

/* dw[Co,Ci,kh,kw] += dy (x) xp for one image; dyp is dy with rows padded to direct_wr.
 * DIRECT_CO output channels at a time share each input vector, the rest one by one. */
SOMA_HOT static void direct_dw_one(float *dw, const float *dyp, const float *xp, const soma_conv_geom *g) {
    int co = 0;
    for (; co + DIRECT_CO <= g->c_out; co += DIRECT_CO)
        for (int ci = 0; ci < g->c_in; ci++)
            for (int ki = 0; ki < g->kh; ki++) direct_dw_row(DIRECT_CO, dw, dyp, xp, g, co, ci, ki);
    for (; co < g->c_out; co++)
        for (int ci = 0; ci < g->c_in; ci++)
            for (int ki = 0; ki < g->kh; ki++) direct_dw_row(1, dw, dyp, xp, g, co, ci, ki);
}

/* dy[Co,Ho,Wo] into dyp[Co,Ho,direct_wr] with zero tails. */
SOMA_HOT static void pad_dy_one(float *dyp, const float *dy, const soma_conv_geom *g) {
    const int Wo = g->w_out, Wr = direct_wr(g);
    const size_t rows = (size_t)g->c_out * g->h_out;
    for (size_t r = 0; r < rows; r++) {
        float *d = dyp + r * Wr;
        const float *src = dy + r * Wo;
        for (int x = 0; x < Wo; x++) d[x] = src[x];
        for (int x = Wo; x < Wr; x++) d[x] = 0.f;
    }
}

/* dx[Ci,H,W] = w^T * dy for one image, through a padded scratch plane dxp. */
SOMA_HOT static void direct_dx_one(float *dx, float *dxp, const float *dy, const float *w,
                                   const soma_conv_geom *g) {
    const int Ho = g->h_out, Wo = g->w_out, kh = g->kh, kw = g->kw, Ci = g->c_in;
    const int H = g->h_in, W = g->w_in, p = g->pad, Hp = H + 2 * p, Wp = direct_wp(g);
    memset(dxp, 0, conv_padded(g) * sizeof *dxp);
    for (int co = 0; co < g->c_out; co++)
        for (int ci = 0; ci < Ci; ci++)
            for (int ki = 0; ki < kh; ki++)
                for (int kj = 0; kj < kw; kj++) {
                    const float wv = w[(((size_t)co * Ci + ci) * kh + ki) * kw + kj];
                    for (int oh = 0; oh < Ho; oh++) {
                        const float *restrict dr = dy + ((size_t)co * Ho + oh) * Wo;
                        float *restrict xr = dxp + ((size_t)ci * Hp + oh + ki) * Wp + kj;
                        for (int ow = 0; ow < Wo; ow++) xr[ow] += wv * dr[ow];
                    }
                }
    for (int ci = 0; ci < Ci; ci++)
        for (int h = 0; h < H; h++) {
            const float *src = dxp + ((size_t)ci * Hp + h + p) * Wp + p;
            float *d = dx + ((size_t)ci * H + h) * W;
            for (int x = 0; x < W; x++) d[x] = src[x];
        }
}

/* The sum of n floats, four 8-lane accumulators (db of one image's output channel). */
SOMA_HOT static float plane_sum(const float *r, size_t n) {
    soma__v8 a0 = soma__v8_splat(0.f), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 += soma__v8_load(r + i);
        a1 += soma__v8_load(r + i + 8);
        a2 += soma__v8_load(r + i + 16);
        a3 += soma__v8_load(r + i + 24);
    }
    for (; i + 8 <= n; i += 8) a0 += soma__v8_load(r + i);
    const soma__v8 a = (a0 + a1) + (a2 + a3);
    float s = 0.f;
    for (int v = 0; v < 8; v++) s += a[v];
    for (; i < n; i++) s += r[i];
    return s;
}

size_t soma_conv2d_scratch(const soma_conv_geom *g, int threads) {
    return conv_slot(g) * (size_t)(threads < 1 ? 1 : threads);
}

static int conv_threads(int threads, int N) {
    int t = threads < 1 ? 1 : threads;
#ifdef _OPENMP
    if (t > omp_get_max_threads()) t = omp_get_max_threads();
#else
    t = 1;
#endif
    return t > N ? (N < 1 ? 1 : N) : t;
}

static int thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* A 1x1 convolution with stride 1 and no padding reads x as its own col. */
static int conv_is_pointwise(const soma_conv_geom *g) {
    return g->kh == 1 && g->kw == 1 && g->stride == 1 && g->pad == 0;
}

void soma_conv2d_forward(float *y, const float *x, const float *w, const float *b,
                         const soma_conv_geom *g, int N, float *scratch, int threads) {
    const size_t K = conv_k(g), P = conv_p(g), Co = (size_t)g->c_out;
    const size_t xs = (size_t)g->c_in * g->h_in * g->w_in, ys = Co * P, slot = conv_slot(g);
    const int T = conv_threads(threads, N), pointwise = conv_is_pointwise(g);
    (void)T; /* unused without OpenMP */
    const int direct = conv_is_direct(g), cv = !direct && soma__conv_cv_ok(g);
    /* Images are shared out among threads; each runs im2col into its own slot and a
     * single-threaded GEMM (OpenBLAS does not nest threads inside a parallel region). */
#pragma omp parallel num_threads(T) if (T > 1)
    {
        float *col = scratch + (size_t)thread_id() * slot;
        if (cv) soma__conv_cv_prepare(col, w, g);
#pragma omp for schedule(static)
        for (int n = 0; n < N; n++) {
            const float *xn = x + (size_t)n * xs;
            float *yn = y + (size_t)n * ys;
            if (direct) {
                pad_one(col, xn, g);
                direct_forward_one(yn, col, w, b, g);
                continue;
            }
            if (cv) {
                soma__conv_cv_forward(yn, xn, b, g, col);
                continue;
            }
            if (!pointwise) im2col_one(col, P, xn, g);
            for (size_t co = 0; co < Co; co++) {
                float bv = b ? b[co] : 0.f;
                for (size_t p = 0; p < P; p++) yn[co * P + p] = bv;
            }
            soma_gemm(0, 0, (int)Co, (int)P, (int)K, 1.f, w, (int)K, pointwise ? xn : col, (int)P,
                      1.f, yn, (int)P);
        }
    }
}

void soma_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                          const float *w, const soma_conv_geom *g, int N, float *scratch,
                          int threads) {
    const size_t K = conv_k(g), P = conv_p(g), Co = (size_t)g->c_out;
    const size_t xs = (size_t)g->c_in * g->h_in * g->w_in, ys = Co * P, slot = conv_slot(g);
    const int T = conv_threads(threads, N), pointwise = conv_is_pointwise(g);
    (void)T; /* unused without OpenMP */
    const int direct = conv_is_direct(g), cv = !direct && soma__conv_cv_ok(g);
    const size_t cvsz = cv ? soma__conv_cv_scratch(g) : 0;
    const int cvdx = cv && soma__conv_dx_ok(g);
    const size_t colsz = direct ? conv_padded(g) + direct_dyp(g)
                                : cvsz + (cvdx ? soma__conv_dx_scratch(g) : K * P);
    int team = 1; /* the threads actually running: 1 inside another parallel region */
#pragma omp parallel num_threads(T) if (T > 1)
    {
#ifdef _OPENMP
#pragma omp single
        team = omp_get_num_threads();
#endif
        float *cvs = scratch + (size_t)thread_id() * slot;
        float *col = cvs + cvsz;
        if (direct) col = cvs;
        float *dwt = cvs + colsz, *dbt = dwt + Co * K;
        memset(dwt, 0, (Co * K + Co) * sizeof *dwt);
        if (cv && dw) soma__conv_cv_prepare(cvs, w, g);
#pragma omp for schedule(static)
        for (int n = 0; n < N; n++) {
            const float *dyn = dy + (size_t)n * ys, *xn = x + (size_t)n * xs;
            if (db)
                for (size_t co = 0; co < Co; co++) dbt[co] += plane_sum(dyn + co * P, P);
            if (direct) {
                if (dw) {
                    float *dyp = col + conv_padded(g);
                    pad_one(col, xn, g);
                    pad_dy_one(dyp, dyn, g);
                    direct_dw_one(dwt, dyp, col, g);
                }
                if (dx) direct_dx_one(dx + (size_t)n * xs, col, dyn, w, g);
                continue;
            }
            if (cv && dw) soma__conv_cv_dw(dyn, xn, g, cvs);
            if (!cv && dw) {
                if (!pointwise) im2col_one(col, P, xn, g);
                soma_gemm(0, 1, (int)Co, (int)K, (int)P, 1.f, dyn, (int)P, pointwise ? xn : col,
                          (int)P, 1.f, dwt, (int)K);
            }
            if (dx) {
                float *dxn = dx + (size_t)n * xs;
                if (cvdx) {
                    soma__conv_dx(dxn, dyn, w, g, col);
                } else if (pointwise) {
                    soma_gemm(1, 0, (int)K, (int)P, (int)Co, 1.f, w, (int)K, dyn, (int)P, 0.f, dxn,
                              (int)P);
                } else {
                    soma_gemm(1, 0, (int)K, (int)P, (int)Co, 1.f, w, (int)K, dyn, (int)P, 0.f, col,
                              (int)P);
                    col2im_one(dxn, col, P, g);
                }
            }
        }
        if (cv && dw) soma__conv_cv_flush(dwt, g, cvs);
    }
    /* Partial sums reduced in thread order: the same thread count gives the same bits. */
    for (int t = 0; t < team; t++) {
        const float *dwt = scratch + (size_t)t * slot + colsz, *dbt = dwt + Co * K;
        if (dw)
            for (size_t i = 0; i < Co * K; i++) dw[i] += dwt[i];
        if (db)
            for (size_t i = 0; i < Co; i++) db[i] += dbt[i];
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
    float *col;  /* per-thread scratch */
    int threads; /* threads the scratch serves */
    int steps;   /* images per sample: T for [T,C,H,W], else 1 */
} conv_impl;

static soma_status conv_setup(soma_layer *l) {
    conv_impl *c = l->impl;
    if (l->in.rank != 3 && l->in.rank != 4)
        return soma_error(SOMA_ERR_SHAPE,
                          "layer %s: convolution needs an image [C,H,W] or a sequence of images "
                          "[T,C,H,W], got %s",
                          l->spec, SOMA__SHAPE_STR(l->in));
    soma_shape im = soma__step_shape(l->in);
    c->steps = soma__steps(l->in);
    c->g = (soma_conv_geom){.c_in = im.d[0], .h_in = im.d[1], .w_in = im.d[2], .c_out = c->c_out,
                            .kh = c->kh, .kw = c->kw, .stride = c->stride, .pad = c->pad};
    if (soma_conv_geom_init(&c->g) != SOMA_OK)
        return soma_error_wrap(SOMA_ERR_SHAPE, "layer %s", l->spec);
    l->n_params = 0;
    l->out = l->in.rank == 4 ? soma_shape4(c->steps, c->c_out, c->g.h_out, c->g.w_out)
                             : soma_shape3(c->c_out, c->g.h_out, c->g.w_out);
    int fan_in = im.d[0] * c->kh * c->kw, fan_out = c->c_out * c->kh * c->kw;
    SOMA_TRY(soma_layer_add_param(l, "weight", 4, (int[]){c->c_out, im.d[0], c->kh, c->kw}, 1,
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
    c->threads = soma_get_threads();
    c->col = soma_alloc(soma_conv2d_scratch(&c->g, c->threads), sizeof *c->col);
    if (!c->col) return soma_error_wrap(SOMA_ERR_NOMEM, "layer %s", l->spec);
    l->max_n = max_n;
    return SOMA_OK;
}

static void conv_forward(soma_layer *l, float *y, const float *x, int n, soma_mode mode) {
    (void)mode;
    conv_impl *c = l->impl;
    SOMA_ASSERT(c->col && n <= l->max_n);
    soma_conv2d_forward(y, x, l->params[0].value, l->params[1].value, &c->g, n * c->steps,
                        c->col, c->threads);
}

static void conv_backward(soma_layer *l, float *dx, const float *dy, const float *x,
                          const float *y, int n) {
    (void)y;
    conv_impl *c = l->impl;
    SOMA_ASSERT(c->col && n <= l->max_n);
    soma_conv2d_backward(dx, soma_layer_grad(l, 0), soma_layer_grad(l, 1), dy, x,
                         soma_layer_bwd_value(l, 0), &c->g, n * c->steps, c->col, c->threads);
}

static void conv_destroy(soma_layer *l) {
    conv_impl *c = l->impl;
    if (c) soma_free(c->col);
    soma_free(c);
    l->impl = NULL;
}

static soma_status conv_clone(const soma_layer *src, soma_layer *dst) {
    SOMA_TRY(soma__impl_copy(src, dst, sizeof(conv_impl)));
    ((conv_impl *)dst->impl)->col = NULL; /* src's */
    return SOMA_OK;
}

static const soma_layer_ops conv_ops = {
    .clone = conv_clone,
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
    c->steps = 1;
    l->ops = &conv_ops;
    l->impl = c;
    return 1;
}
