// Channel-vectorised convolution kernels: the output channels of one position fill 8-lane
// vectors, every input value is broadcast against a vector of weights, and five output
// positions are in flight at once (ten accumulators for 16 channels), so the FMA units
// stay busy on layers whose output rows are short (LeNet's conv5x5x16 on 14x14 maps).
//
// Scratch of one thread, in floats:
//     xp  [Ci, Hp, Wq]   the image, zero-padded; Wq leaves room for whole groups of 5
//     wt  [K, Co]        the weights transposed (prepared once per call)
//     dyt [P, Co]        one image's dy transposed
//     dwt [K, Co]        the thread's dW accumulator, transposed
#include "nn/internal.h"

#define CV_GROUP 5 /* output positions in flight (10 accumulators; LeNet's rows are 10 and 5) */

static int cv_hp(const soma_conv_geom *g) { return g->h_in + 2 * g->pad; }
static int cv_wq(const soma_conv_geom *g) {
    int groups = (g->w_out + CV_GROUP - 1) / CV_GROUP;
    int need = (groups * CV_GROUP - 1) * g->stride + g->kw;
    int wp = g->w_in + 2 * g->pad;
    return need > wp ? need : wp;
}
static size_t cv_xp(const soma_conv_geom *g) { return (size_t)g->c_in * cv_hp(g) * cv_wq(g); }
static size_t cv_k(const soma_conv_geom *g) { return (size_t)g->c_in * g->kh * g->kw; }
static size_t cv_p(const soma_conv_geom *g) { return (size_t)g->h_out * g->w_out; }

int soma__conv_cv_ok(const soma_conv_geom *g) {
    /* the padded row must stay near the input's width: a group of 5 positions spans 4
     * strides, and a huge stride (fuzz_spec: s299999999) asked for 36 GB of scratch */
    long long groups = (g->w_out + CV_GROUP - 1) / CV_GROUP;
    long long need = (groups * CV_GROUP - 1) * g->stride + g->kw, wp = g->w_in + 2LL * g->pad;
    return g->c_out % 8 == 0 && g->c_out <= 512 && g->w_out < 16 && cv_k(g) >= 8 &&
           need <= 2 * wp + 2 * CV_GROUP;
}

size_t soma__conv_cv_scratch(const soma_conv_geom *g) {
    size_t co = (size_t)g->c_out;
    return cv_xp(g) + 2 * cv_k(g) * co + cv_p(g) * co;
}

void soma__conv_cv_prepare(float *scratch, const float *w, const soma_conv_geom *g) {
    const size_t K = cv_k(g), Co = (size_t)g->c_out;
    float *wt = scratch + cv_xp(g);
    for (size_t co = 0; co < Co; co++)
        for (size_t k = 0; k < K; k++) wt[k * Co + co] = w[co * K + k];
    float *dwt = wt + K * Co + cv_p(g) * Co;
    memset(dwt, 0, K * Co * sizeof *dwt);
}

static void cv_pad(float *xp, const float *x, const soma_conv_geom *g) { soma__conv_pad(xp, x, g, cv_wq(g)); }

/* One output row's positions [ow0, ow0 + NQ) for the output channels [cb, cb + 8 or 16):
 * 2 * NQ accumulators, each weight vector shared by NQ positions (NQ a constant after
 * inlining, so a short last group costs only its own positions). */
static inline __attribute__((always_inline)) void cv_fwd_group(int NQ, float *y, const float *xp, const float *wt,
                                                               const float *b, const soma_conv_geom *g, int oh,
                                                               int ow0, int cb) {
    const int Wo = g->w_out, kh = g->kh, kw = g->kw, s = g->stride, Ci = g->c_in;
    const int Hp = cv_hp(g), Wq = cv_wq(g), Co = g->c_out, two = Co - cb >= 16;
    const size_t P = cv_p(g);
    soma__v8 a[CV_GROUP][2];
    for (int q = 0; q < NQ; q++) a[q][0] = a[q][1] = soma__v8_splat(0.f);
    for (int ci = 0; ci < Ci; ci++)
        for (int ki = 0; ki < kh; ki++) {
            const float *xr = xp + ((size_t)ci * Hp + oh * s + ki) * Wq + (size_t)ow0 * s;
            const float *wr = wt + (((size_t)ci * kh + ki) * kw) * Co + cb;
            for (int kj = 0; kj < kw; kj++) {
                const soma__v8 w0 = soma__v8_load(wr + (size_t)kj * Co);
                const soma__v8 w1 = two ? soma__v8_load(wr + (size_t)kj * Co + 8) : w0;
                for (int q = 0; q < NQ; q++) {
                    const float xv = xr[q * s + kj];
                    a[q][0] += xv * w0;
                    a[q][1] += xv * w1;
                }
            }
        }
    const int nc = two ? 16 : 8;
    for (int q = 0; q < NQ; q++) {
        float *yo = y + (size_t)oh * Wo + ow0 + q;
        for (int c = 0; c < nc; c++) {
            const int co = cb + c;
            yo[(size_t)co * P] = a[q][c >> 3][c & 7] + (b ? b[co] : 0.f);
        }
    }
}

SOMA_HOT void soma__conv_cv_forward(float *y, const float *x, const float *b, const soma_conv_geom *g,
                                    float *scratch) {
    const int Ho = g->h_out, Wo = g->w_out, Co = g->c_out;
    float *xp = scratch;
    const float *wt = scratch + cv_xp(g);
    cv_pad(xp, x, g);
    _Static_assert(CV_GROUP == 5, "the last group below is 1..4 positions");
    for (int oh = 0; oh < Ho; oh++)
        for (int ow0 = 0; ow0 < Wo; ow0 += CV_GROUP)
            for (int cb = 0; cb < Co; cb += 16) switch (Wo - ow0) {
                case 1: cv_fwd_group(1, y, xp, wt, b, g, oh, ow0, cb); break;
                case 2: cv_fwd_group(2, y, xp, wt, b, g, oh, ow0, cb); break;
                case 3: cv_fwd_group(3, y, xp, wt, b, g, oh, ow0, cb); break;
                case 4: cv_fwd_group(4, y, xp, wt, b, g, oh, ow0, cb); break;
                default: cv_fwd_group(CV_GROUP, y, xp, wt, b, g, oh, ow0, cb); break;
                }
}

/* dW for one kernel row (ci, ki) and a block of 8 or 16 output channels, with all NK taps of
 * the row in flight: each dy vector is loaded once per position and multiplied by NK
 * broadcast inputs. NK is a constant after inlining, so the accumulators stay in registers. */
static inline __attribute__((always_inline)) void cv_dw_row(int NK, float *dr, const float *xrow, const float *dyt,
                                                            int Ho, int Wo, int s, int Wq, int Co, int cb, int two,
                                                            int hstep) {
    soma__v8 a[8][2];
    for (int kj = 0; kj < NK; kj++) a[kj][0] = a[kj][1] = soma__v8_splat(0.f);
    for (int oh = 0; oh < Ho; oh++) {
        const float *xr = xrow + (size_t)oh * hstep * Wq;
        const float *d = dyt + (size_t)oh * Wo * Co + cb;
        for (int ow = 0; ow < Wo; ow++, d += Co) {
            const soma__v8 d0 = soma__v8_load(d), d1 = two ? soma__v8_load(d + 8) : d0;
            const float *xo = xr + (size_t)ow * s;
            for (int kj = 0; kj < NK; kj++) {
                a[kj][0] += xo[kj] * d0;
                a[kj][1] += xo[kj] * d1;
            }
        }
    }
    for (int kj = 0; kj < NK; kj++) {
        float *o = dr + (size_t)kj * Co + cb;
        for (int c = 0; c < 8; c++) o[c] += a[kj][0][c];
        if (two)
            for (int c = 0; c < 8; c++) o[8 + c] += a[kj][1][c];
    }
}

SOMA_HOT void soma__conv_cv_dw(const float *dy, const float *x, const soma_conv_geom *g, float *scratch) {
    const int Ho = g->h_out, Wo = g->w_out, kh = g->kh, kw = g->kw, s = g->stride, Ci = g->c_in;
    const int Hp = cv_hp(g), Wq = cv_wq(g), Co = g->c_out;
    const size_t P = cv_p(g), K = cv_k(g);
    float *xp = scratch, *dyt = scratch + cv_xp(g) + K * Co, *dwt = dyt + P * Co;
    cv_pad(xp, x, g);
    for (int co = 0; co < Co; co++)
        for (size_t p = 0; p < P; p++) dyt[p * Co + co] = dy[(size_t)co * P + p];
    for (int ci = 0; ci < Ci; ci++)
        for (int ki = 0; ki < kh; ki++)
            for (int cb = 0; cb < Co; cb += 16) {
                const int two = Co - cb >= 16;
                const float *xrow = xp + ((size_t)ci * Hp + ki) * Wq;
                float *dr = dwt + (((size_t)ci * kh + ki) * kw) * Co;
                int k0 = 0;
                for (; k0 + 8 <= kw; k0 += 8)
                    cv_dw_row(8, dr + (size_t)k0 * Co, xrow + k0, dyt, Ho, Wo, s, Wq, Co, cb, two, s);
                switch (kw - k0) { /* the rest of the row, as a constant */
                case 1: cv_dw_row(1, dr + (size_t)k0 * Co, xrow + k0, dyt, Ho, Wo, s, Wq, Co, cb, two, s); break;
                case 2: cv_dw_row(2, dr + (size_t)k0 * Co, xrow + k0, dyt, Ho, Wo, s, Wq, Co, cb, two, s); break;
                case 3: cv_dw_row(3, dr + (size_t)k0 * Co, xrow + k0, dyt, Ho, Wo, s, Wq, Co, cb, two, s); break;
                case 4: cv_dw_row(4, dr + (size_t)k0 * Co, xrow + k0, dyt, Ho, Wo, s, Wq, Co, cb, two, s); break;
                case 5: cv_dw_row(5, dr + (size_t)k0 * Co, xrow + k0, dyt, Ho, Wo, s, Wq, Co, cb, two, s); break;
                case 6: cv_dw_row(6, dr + (size_t)k0 * Co, xrow + k0, dyt, Ho, Wo, s, Wq, Co, cb, two, s); break;
                case 7: cv_dw_row(7, dr + (size_t)k0 * Co, xrow + k0, dyt, Ho, Wo, s, Wq, Co, cb, two, s); break;
                default: break;
                }
            }
}

void soma__conv_cv_flush(float *dw, const soma_conv_geom *g, float *scratch) {
    const size_t K = cv_k(g), Co = (size_t)g->c_out, P = cv_p(g);
    float *dwt = scratch + cv_xp(g) + K * Co + P * Co;
    for (size_t co = 0; co < Co; co++)
        for (size_t k = 0; k < K; k++) dw[co * K + k] += dwt[k * Co + co];
    memset(dwt, 0, K * Co * sizeof *dwt);
}

// --- dx without a column buffer ----------------------------------------------------------
//
// For stride 1, dx is a full correlation of dy with the kernel turned around:
//     dx[ci, ih, iw] = sum over co, ki, kj of w[co,ci,ki,kj] * dy[co, ih+p-ki, iw+p-kj]
// (terms outside dy are zero). One image's dy is copied into dyp [Co, Ho, Wd] with zero
// columns around each row, so a tap reads whole 16-wide runs of a row without bounds checks;
// rows outside dy are skipped by narrowing ki. The inner loop loads two vectors of dy and
// broadcasts one weight per input channel of a block, so each dy vector feeds up to six
// channels' accumulators (12 of them, in registers).

#define DX_RUN 16   /* input columns per run (two 8-lane vectors) */
#define DX_BLOCK 6  /* input channels per pass */

static int dx_wr(const soma_conv_geom *g) { return (g->w_in + DX_RUN - 1) / DX_RUN * DX_RUN; }
static int dx_left(const soma_conv_geom *g) { return g->kw - 1; } /* dy column ow sits at left + ow */
static int dx_wd(const soma_conv_geom *g) {
    int need = dx_wr(g) + g->pad + g->kw - 1; /* the furthest column a run reads, plus one */
    int data = dx_left(g) + g->w_out;
    return need > data ? need : data;
}

int soma__conv_dx_ok(const soma_conv_geom *g) { return g->stride == 1 && soma__conv_cv_ok(g); }

size_t soma__conv_dx_scratch(const soma_conv_geom *g) {
    return (size_t)g->c_out * (size_t)g->h_out * (size_t)dx_wd(g);
}

/* Sixteen floats as one value: one AVX-512 register in the x86-64-v4 clone, two AVX2 ones in
 * the v3 clone; a run of DX_RUN columns. */
typedef float dx_v16 __attribute__((vector_size(64)));
static inline dx_v16 dx_load(const float *p) {
    dx_v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* NC (1..DX_BLOCK) input channels from ci0, all rows. NC is a constant after inlining. */
static inline __attribute__((always_inline)) void dx_block(int NC, float *dx, const float *dyp, const float *w,
                                                           const soma_conv_geom *g, int ci0) {
    const int H = g->h_in, W = g->w_in, Ho = g->h_out, kh = g->kh, kw = g->kw, p = g->pad, Co = g->c_out;
    const int Wd = dx_wd(g), KK = kh * kw;
    const size_t wco = (size_t)g->c_in * KK; /* weights of one output channel */
    for (int ih = 0; ih < H; ih++) {
        /* rows of dy this input row sees: oh = ih + p - ki in [0, Ho) */
        int ki0 = ih + p - Ho + 1, ki1 = ih + p; /* inclusive */
        if (ki0 < 0) ki0 = 0;
        if (ki1 > kh - 1) ki1 = kh - 1;
        for (int iw0 = 0; iw0 < W; iw0 += DX_RUN) {
            dx_v16 a[DX_BLOCK];
            for (int c = 0; c < NC; c++) a[c] = (dx_v16){0};
            for (int co = 0; co < Co; co++) {
                const float *wc = w + (size_t)co * wco + (size_t)ci0 * KK;
                for (int ki = ki0; ki <= ki1; ki++) {
                    /* column iw + p - kj of dy, at left + iw + p - kj in the padded row */
                    const float *dr = dyp + ((size_t)co * Ho + ih + p - ki) * Wd + dx_left(g) + iw0 + p;
                    const float *wr = wc + (size_t)ki * kw;
                    for (int kj = 0; kj < kw; kj++) {
                        const dx_v16 d = dx_load(dr - kj);
                        for (int c = 0; c < NC; c++) a[c] += wr[(size_t)c * KK + kj] * d;
                    }
                }
            }
            for (int c = 0; c < NC; c++) {
                float *d = dx + ((size_t)(ci0 + c) * H + ih) * W + iw0;
                if (W - iw0 >= DX_RUN) {
                    memcpy(d, &a[c], sizeof a[c]);
                } else {
                    for (int i = 0; i < W - iw0; i++) d[i] = a[c][i];
                }
            }
        }
    }
}

SOMA_HOT void soma__conv_dx(float *dx, const float *dy, const float *w, const soma_conv_geom *g, float *dyp) {
    const int Ho = g->h_out, Wo = g->w_out, Wd = dx_wd(g), left = dx_left(g);
    const size_t rows = (size_t)g->c_out * Ho;
    for (size_t r = 0; r < rows; r++) {
        float *d = dyp + r * Wd;
        const float *src = dy + r * Wo;
        for (int x = 0; x < left; x++) d[x] = 0.f;
        for (int x = 0; x < Wo; x++) d[left + x] = src[x];
        for (int x = left + Wo; x < Wd; x++) d[x] = 0.f;
    }
    int ci = 0;
    for (; ci + DX_BLOCK <= g->c_in; ci += DX_BLOCK) dx_block(DX_BLOCK, dx, dyp, w, g, ci);
    switch (g->c_in - ci) { /* the rest, as a constant */
    case 1: dx_block(1, dx, dyp, w, g, ci); break;
    case 2: dx_block(2, dx, dyp, w, g, ci); break;
    case 3: dx_block(3, dx, dyp, w, g, ci); break;
    case 4: dx_block(4, dx, dyp, w, g, ci); break;
    case 5: dx_block(5, dx, dyp, w, g, ci); break;
    default: break;
    }
}
