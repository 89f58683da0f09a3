// Attention: the fused scaled dot-product kernel (a stable softmax over one score row at a time;
// backward recomputing the probabilities from the saved log-sum-exps, a chunk of query rows at
// a time), the self-attention kind "mhaH[c]", the cross-attention composite "xattnH(SPEC)", and
// the net-wide key-padding mask.
//
// Projections are token-wise GEMMs over the whole batch (soma_dense_forward on [n*T, D]);
// only the score/softmax/weighted-sum part runs per (sample, head), one OpenMP work item each.
// Every work item computes its rows the same way whatever the thread count. Scores live in a
// few rows of Tk floats of the thread's scratch (forward: ATTN_R rows; backward: up to ATTN_QC
// rows, never an [N,H,Tq,Tk] tensor); backward recomputes them from the saved log-sum-exps.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/internal.h"

// --- the reference ------------------------------------------------------------------

/* Whether key j is visible to query i. */
static int attn_sees_(const uint8_t *pad, int causal, int i, int j) {
    return !(causal && j > i) && !(pad && pad[j]);
}

void soma_attn_forward_ref(float *o, float *lse, const float *q, const float *k, const float *v,
                           const uint8_t *pad, int N, int Tq, int Tk, int H, int dh, int ldq,
                           int ldk, int ldo, int causal) {
    const double scale = 1.0 / sqrt((double)dh);
    double *s = soma_alloc((size_t)(Tk > 0 ? Tk : 1), sizeof *s);
    if (!s) return; /* a reference for tests: no memory leaves o as it was */
    for (int n = 0; n < N; n++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < Tq; i++) {
                const float *qi = q + ((size_t)n * Tq + i) * ldq + (size_t)h * dh;
                double m = -INFINITY, l = 0;
                for (int j = 0; j < Tk; j++) {
                    s[j] = -INFINITY;
                    if (!attn_sees_(pad ? pad + (size_t)n * Tk : NULL, causal, i, j)) continue;
                    const float *kj = k + ((size_t)n * Tk + j) * ldk + (size_t)h * dh;
                    double a = 0;
                    for (int d = 0; d < dh; d++) a += (double)qi[d] * kj[d];
                    s[j] = a * scale;
                    if (s[j] > m) m = s[j];
                }
                for (int j = 0; j < Tk; j++) l += s[j] == -INFINITY ? 0.0 : exp(s[j] - m);
                float *oi = o + ((size_t)n * Tq + i) * ldo + (size_t)h * dh;
                for (int d = 0; d < dh; d++) {
                    double a = 0;
                    for (int j = 0; j < Tk && l > 0; j++)
                        if (s[j] != -INFINITY)
                            a += exp(s[j] - m) / l * v[((size_t)n * Tk + j) * ldk + (size_t)h * dh + d];
                    oi[d] = (float)a;
                }
                if (lse) lse[((size_t)n * H + h) * Tq + i] = l > 0 ? (float)(m + log(l)) : -INFINITY;
            }
    soma_free(s);
}

// --- kernels ---------------------------------------------------------------------------

/* Multiply-adds fused in the optimised kernels (GCC in ISO C mode rounds a * b + c twice
 * unless told: -std=c11 implies -ffp-contract=off); the reference above is left as written. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=fast")
#endif

/* Helpers are inlined into the per-item kernels, so that they are compiled for each of their
 * target clones (a helper left out of line runs the baseline's SSE code). */
#define ATTN_INLINE static inline __attribute__((always_inline))

/* Keys per row of the packed tables, rounded up to whole 8-lane vectors (zero-padded). */
ATTN_INLINE int attn_tkp_(int Tk) { return (Tk + 7) & ~7; }

/* Query rows are taken ATTN_R at a time: each key (value) vector loaded feeds ATTN_R
 * multiply-adds. A short last block repeats its last row; its results are not kept. */
#define ATTN_R 4
/* Backward keeps the probabilities and score gradients of up to ATTN_QC query rows (a chunk)
 * in scratch, so that dK and dV are two register-tiled products per chunk. A multiple of
 * ATTN_R. */
#define ATTN_QC 64

typedef int32_t attn_v8i_ __attribute__((vector_size(32)));

/* m ? a : b lane by lane (m: -1 or 0 in each lane, as a vector comparison gives). */
ATTN_INLINE soma__v8 attn_sel_(attn_v8i_ m, soma__v8 a, soma__v8 b) {
    attn_v8i_ ai, bi;
    memcpy(&ai, &a, sizeof ai);
    memcpy(&bi, &b, sizeof bi);
    ai = (ai & m) | (bi & ~m);
    soma__v8 r;
    memcpy(&r, &ai, sizeof r);
    return r;
}

/* exp(x) on 8 lanes for x <= 0 (scores minus their row maximum), exactly 0 below -87 (masked
 * keys are -inf): Cephes' expf polynomial after x = n ln2 + r, |r| <= ln2/2, relative error
 * ~2e-7. Vector arithmetic only (libm's expf is a call per value: half the attention's time). */
ATTN_INLINE soma__v8 attn_exp8_(soma__v8 x) {
    const attn_v8i_ low = x < soma__v8_splat(-87.f); /* -1 where x < -87 */
    const soma__v8 v = attn_sel_(low, soma__v8_splat(-87.f), x);
    const soma__v8 t = v * 1.44269504088896341f + 0.5f;
    attn_v8i_ ni = __builtin_convertvector(t, attn_v8i_); /* toward zero, then floor */
    ni += __builtin_convertvector(ni, soma__v8) > t;
    const soma__v8 fx = __builtin_convertvector(ni, soma__v8);
    const soma__v8 r = v - fx * 0.693359375f + fx * 2.12194440e-4f;
    soma__v8 p = ((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r +
                   4.1665795894e-2f) * r + 1.6666665459e-1f) * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.f;
    attn_v8i_ e = (ni + 127) << 23;
    soma__v8 sc;
    memcpy(&sc, &e, sizeof sc);
    return attn_sel_(low, soma__v8_splat(0.f), p * sc);
}

/* kt[d][j] = scale * k[j][d] for j < Tk, d < dh, zero for Tk <= j < tkp: the keys of one head
 * as columns, so that a score row is a sum over d of a query value times a row of kt, eight
 * keys to a vector. */
ATTN_INLINE void attn_pack_(float *kt, const float *k, int Tk, int dh, int ldk, float scale) {
    const int tkp = attn_tkp_(Tk);
    for (int d = 0; d < dh; d++) {
        float *r = kt + (size_t)d * tkp;
        for (int j = 0; j < Tk; j++) r[j] = scale * k[(size_t)j * ldk + d];
        for (int j = Tk; j < tkp; j++) r[j] = 0.f;
    }
}

/* s[r][j] = q_r . kt[.][j] for r < ATTN_R and j < n rounded up to whole vectors (rows of s
 * are tkp long): two key vectors at a time, each query value loaded feeding two
 * multiply-adds. */
ATTN_INLINE void attn_dot4_(float *s, const float *const *q, const float *kt, int n, int tkp,
                              int dh) {
    const int end = (n + 7) & ~7;
    int j = 0;
    for (; j + 16 <= end; j += 16) {
        soma__v8 a0 = soma__v8_splat(0.f), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (int d = 0; d < dh; d++) {
            const soma__v8 k0 = soma__v8_load(kt + (size_t)d * tkp + j), k1 = soma__v8_load(kt + (size_t)d * tkp + j + 8);
            const float x0 = q[0][d], x1 = q[1][d], x2 = q[2][d], x3 = q[3][d];
            a0 += x0 * k0, b0 += x0 * k1;
            a1 += x1 * k0, b1 += x1 * k1;
            a2 += x2 * k0, b2 += x2 * k1;
            a3 += x3 * k0, b3 += x3 * k1;
        }
        SOMA__V8_STORE_PART(s + j, a0, 8);
        SOMA__V8_STORE_PART(s + j + 8, b0, 8);
        SOMA__V8_STORE_PART(s + tkp + j, a1, 8);
        SOMA__V8_STORE_PART(s + tkp + j + 8, b1, 8);
        SOMA__V8_STORE_PART(s + 2 * (size_t)tkp + j, a2, 8);
        SOMA__V8_STORE_PART(s + 2 * (size_t)tkp + j + 8, b2, 8);
        SOMA__V8_STORE_PART(s + 3 * (size_t)tkp + j, a3, 8);
        SOMA__V8_STORE_PART(s + 3 * (size_t)tkp + j + 8, b3, 8);
    }
    for (; j < n; j += 8) {
        soma__v8 a0 = soma__v8_splat(0.f), a1 = a0, a2 = a0, a3 = a0;
        for (int d = 0; d < dh; d++) {
            const soma__v8 kv = soma__v8_load(kt + (size_t)d * tkp + j);
            a0 += q[0][d] * kv;
            a1 += q[1][d] * kv;
            a2 += q[2][d] * kv;
            a3 += q[3][d] * kv;
        }
        SOMA__V8_STORE_PART(s + j, a0, 8);
        SOMA__V8_STORE_PART(s + tkp + j, a1, 8);
        SOMA__V8_STORE_PART(s + 2 * (size_t)tkp + j, a2, 8);
        SOMA__V8_STORE_PART(s + 3 * (size_t)tkp + j, a3, 8);
    }
}

/* -inf in s's ATTN_R rows where the key is padding, where row r may not look (causal: j > i0
 * + r), and in the lanes from n to the end of the last vector: exp gives 0 there. */
ATTN_INLINE void attn_mask4_(float *s, const uint8_t *pad, int n, int tkp, int causal, int i0) {
    const int end = (n + 7) & ~7;
    for (int r = 0; r < ATTN_R; r++) {
        float *sr = s + (size_t)r * tkp;
        if (pad)
            for (int j = 0; j < n; j++)
                if (pad[j]) sr[j] = -INFINITY;
        int m = causal && i0 + r + 1 < n ? i0 + r + 1 : n;
        for (int j = m; j < end; j++) sr[j] = -INFINITY;
    }
}

/* The largest of the first n values of a row (whole vectors; lanes past n are -inf). */
ATTN_INLINE float attn_rowmax_(const float *s, int n) {
    soma__v8 mv = soma__v8_load(s);
    for (int j = 8; j < n; j += 8) {
        const soma__v8 v = soma__v8_load(s + j);
        mv = attn_sel_(v > mv, v, mv);
    }
    float mx = mv[0];
    for (int l = 1; l < 8; l++) mx = mv[l] > mx ? mv[l] : mx;
    return mx;
}

/* o_r[d] (+)= w[r] * sum_j p_r[j] v_j[d] for d < dh, r < nr, j < n: p_r[j] at p[r * pr + j *
 * pj] (a row of scores: pr = tkp, pj = 1; a column: pr = 1, pj = tkp), rows of v ldv apart,
 * of o ldo apart; added to o when acc. Two value vectors at a time where the head is 16 wide
 * or more. The ATTN_R rows of p are read whatever nr is. */
ATTN_INLINE void attn_mix4_(float *o, int ldo, const float *p, size_t pr, size_t pj, const float *v,
                            int n, int dh, int ldv, const float *w, int nr, int acc) {
    const float *p0 = p, *p1 = p + pr, *p2 = p + 2 * pr, *p3 = p + 3 * pr;
    int d = 0;
    for (; d + 16 <= dh; d += 16) {
        soma__v8 a0 = soma__v8_splat(0.f), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (int j = 0; j < n; j++) {
            const soma__v8 v0 = soma__v8_load(v + (size_t)j * ldv + d), v1 = soma__v8_load(v + (size_t)j * ldv + d + 8);
            const size_t o_ = (size_t)j * pj;
            a0 += p0[o_] * v0, b0 += p0[o_] * v1;
            a1 += p1[o_] * v0, b1 += p1[o_] * v1;
            a2 += p2[o_] * v0, b2 += p2[o_] * v1;
            a3 += p3[o_] * v0, b3 += p3[o_] * v1;
        }
        const soma__v8 a[ATTN_R] = {a0, a1, a2, a3}, b[ATTN_R] = {b0, b1, b2, b3};
        for (int r = 0; r < nr; r++) {
            float *orow = o + (size_t)r * ldo + d;
            soma__v8 x = w[r] * a[r], y = w[r] * b[r];
            if (acc) x += soma__v8_load(orow), y += soma__v8_load(orow + 8);
            SOMA__V8_STORE_PART(orow, x, 8);
            SOMA__V8_STORE_PART(orow + 8, y, 8);
        }
    }
    for (; d + 8 <= dh; d += 8) {
        soma__v8 a0 = soma__v8_splat(0.f), a1 = a0, a2 = a0, a3 = a0;
        for (int j = 0; j < n; j++) {
            const soma__v8 vv = soma__v8_load(v + (size_t)j * ldv + d);
            const size_t o_ = (size_t)j * pj;
            a0 += p0[o_] * vv;
            a1 += p1[o_] * vv;
            a2 += p2[o_] * vv;
            a3 += p3[o_] * vv;
        }
        const soma__v8 a[ATTN_R] = {a0, a1, a2, a3};
        for (int r = 0; r < nr; r++) {
            float *orow = o + (size_t)r * ldo + d;
            soma__v8 x = w[r] * a[r];
            if (acc) x += soma__v8_load(orow);
            SOMA__V8_STORE_PART(orow, x, 8);
        }
    }
    for (; d < dh; d++)
        for (int r = 0; r < nr; r++) {
            float x = 0.f;
            for (int j = 0; j < n; j++) x += p[r * pr + (size_t)j * pj] * v[(size_t)j * ldv + d];
            o[(size_t)r * ldo + d] = w[r] * x + (acc ? o[(size_t)r * ldo + d] : 0.f);
        }
}

/* The scratch layout of one thread, in floats: the packed keys kt and values vt [dh, tkp]
 * each, ATTN_QC rows of probabilities and of score gradients [tkp] each, and the chunk's D_i
 * [ATTN_QC] (forward uses kt and the first ATTN_R rows of probabilities). */
size_t soma_attn_scratch(int Tk, int dh, int threads) {
    size_t tkp = (size_t)attn_tkp_(Tk);
    return ((size_t)2 * dh * tkp + 2 * (size_t)ATTN_QC * tkp + ATTN_QC + 16) * (size_t)(threads < 1 ? 1 : threads);
}

static int attn_threads_(int threads, int items) {
    int t = threads < 1 ? 1 : threads;
#ifdef _OPENMP
    if (t > omp_get_max_threads()) t = omp_get_max_threads();
#else
    t = 1;
#endif
    return t > items ? (items < 1 ? 1 : items) : t;
}

static int attn_thread_id_(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* One (sample, head): the keys packed once (scaled by 1/sqrt(dh)), then ATTN_R query rows at
 * a time: their scores (rows of Tk in scratch), maxima, exps, sums and the weighted sums of
 * values. */
SOMA_HOT static void attn_item_fwd_(float *on, float *ln, const float *qn, const float *kn,
                                    const float *vn, const uint8_t *pn, int Tq, int Tk, int dh,
                                    int ldq, int ldk, int ldo, int causal, float scale, float *kt) {
    const int tkp = attn_tkp_(Tk);
    float *s = kt + (size_t)2 * dh * tkp;
    attn_pack_(kt, kn, Tk, dh, ldk, scale);
    for (int i0 = 0; i0 < Tq; i0 += ATTN_R) {
        const int nr = Tq - i0 < ATTN_R ? Tq - i0 : ATTN_R;
        const float *q[ATTN_R];
        for (int r = 0; r < ATTN_R; r++) q[r] = qn + (size_t)(i0 + (r < nr ? r : nr - 1)) * ldq;
        /* keys past the block's last row are hidden from all of its rows when causal */
        const int m = causal && i0 + nr < Tk ? i0 + nr : Tk, end = (m + 7) & ~7;
        attn_dot4_(s, q, kt, m, tkp, dh);
        attn_mask4_(s, pn, m, tkp, causal, i0);
        float w[ATTN_R];
        for (int r = 0; r < ATTN_R; r++) {
            float *sr = s + (size_t)r * tkp;
            const float mx = attn_rowmax_(sr, m);
            if (mx == -INFINITY) { /* no visible key: output 0 */
                for (int j = 0; j < end; j++) sr[j] = 0.f;
                w[r] = 0.f;
                if (r < nr) ln[i0 + r] = -INFINITY;
                continue;
            }
            soma__v8 sum = soma__v8_splat(0.f);
            for (int j = 0; j < end; j += 8) {
                const soma__v8 e = attn_exp8_(soma__v8_load(sr + j) - mx);
                SOMA__V8_STORE_PART(sr + j, e, 8);
                sum += e;
            }
            const float l = ((sum[0] + sum[1]) + (sum[2] + sum[3])) + ((sum[4] + sum[5]) + (sum[6] + sum[7]));
            w[r] = 1.f / l;
            if (r < nr) ln[i0 + r] = mx + logf(l);
        }
        attn_mix4_(on + (size_t)i0 * ldo, ldo, s, (size_t)tkp, 1, vn, m, dh, ldk, w, nr, 0);
    }
}

void soma_attn_forward(float *o, float *lse, const float *q, const float *k, const float *v,
                       const uint8_t *pad, int N, int Tq, int Tk, int H, int dh, int ldq, int ldk,
                       int ldo, int causal, float *scratch, int threads) {
    const float scale = 1.f / sqrtf((float)dh);
    const int items = N * H, T = attn_threads_(threads, items);
    const size_t slot = soma_attn_scratch(Tk, dh, 1);
    (void)T;
#pragma omp parallel num_threads(T) if (T > 1)
    {
        float *kt = scratch + (size_t)attn_thread_id_() * slot;
#pragma omp for schedule(static)
        for (int it = 0; it < items; it++) {
            int n = it / H, h = it % H;
            attn_item_fwd_(o + (size_t)n * Tq * ldo + (size_t)h * dh, lse + ((size_t)n * H + h) * Tq,
                           q + (size_t)n * Tq * ldq + (size_t)h * dh, k + (size_t)n * Tk * ldk + (size_t)h * dh,
                           v + (size_t)n * Tk * ldk + (size_t)h * dh, pad ? pad + (size_t)n * Tk : NULL, Tq,
                           Tk, dh, ldq, ldk, ldo, causal, scale, kt);
        }
    }
}

/* With P the probabilities, dO the output gradient and D_i = dO_i . O_i:
 *     dV = P^T dO,   dS = P * (dO V^T - D),   dQ = scale dS K,   dK = scale dS^T Q.
 * Per (sample, head), the keys (scaled) and values packed as columns; ATTN_QC query rows at a
 * time (a chunk), ATTN_R rows at a time within it: the probabilities recomputed from the rows'
 * log-sum-exps, the score gradients, dQ; then dK^T += Q^T dS and dV^T += dO^T P over the
 * chunk's rows, kept as [dh, tkp] and written out transposed at the end. */
SOMA_HOT static void attn_item_bwd_(float *dq, float *dk, float *dv, const float *dout,
                                    const float *o, const float *ln, const float *q,
                                    const float *k, const float *v, const uint8_t *pn, int Tq,
                                    int Tk, int dh, int ldq, int ldk, int ldo, int causal,
                                    float scale, float *kt) {
    const int tkp = attn_tkp_(Tk);
    float *vt = kt + (size_t)dh * tkp, *P = vt + (size_t)dh * tkp, *dS = P + (size_t)ATTN_QC * tkp;
    float *Dc = dS + (size_t)ATTN_QC * tkp; /* [ATTN_QC] */
    attn_pack_(kt, k, Tk, dh, ldk, scale);
    attn_pack_(vt, v, Tk, dh, ldk, 1.f);
    const float one[ATTN_R] = {1.f, 1.f, 1.f, 1.f};
    for (int c0 = 0; c0 < Tq; c0 += ATTN_QC) {
        const int nc = Tq - c0 < ATTN_QC ? Tq - c0 : ATTN_QC;
        for (int i = 0; i < nc; i++) { /* D_i, all first: the rows' loads overlap */
            const float *gi = dout + (size_t)(c0 + i) * ldo, *oi = o + (size_t)(c0 + i) * ldo;
            float Di = 0.f;
            for (int d = 0; d < dh; d++) Di += gi[d] * oi[d];
            Dc[i] = Di;
        }
        for (int i0 = c0; i0 < c0 + nc; i0 += ATTN_R) {
            const int nr = c0 + nc - i0 < ATTN_R ? c0 + nc - i0 : ATTN_R;
            float *p = P + (size_t)(i0 - c0) * tkp, *ds = dS + (size_t)(i0 - c0) * tkp;
            const float *qr[ATTN_R], *gr[ATTN_R];
            for (int r = 0; r < ATTN_R; r++) {
                int i = i0 + (r < nr ? r : nr - 1);
                qr[r] = q + (size_t)i * ldq;
                gr[r] = dout + (size_t)i * ldo;
            }
            const int m = causal && i0 + nr < Tk ? i0 + nr : Tk, end = (m + 7) & ~7;
            attn_dot4_(p, qr, kt, m, tkp, dh);
            attn_mask4_(p, pn, m, tkp, causal, i0);
            attn_dot4_(ds, gr, vt, m, tkp, dh); /* dP = dO . v_j, finite in every lane */
            for (int r = 0; r < ATTN_R; r++) {
                float *pr = p + (size_t)r * tkp, *dr = ds + (size_t)r * tkp;
                const float L = r < nr ? ln[i0 + r] : -INFINITY;
                if (L == -INFINITY) { /* a repeated row, or one that saw no key: no gradient */
                    memset(pr, 0, (size_t)tkp * sizeof *pr);
                    memset(dr, 0, (size_t)tkp * sizeof *dr);
                    continue;
                }
                const float Di = Dc[i0 - c0 + r];
                for (int j = 0; j < end; j += 8) {
                    const soma__v8 e = attn_exp8_(soma__v8_load(pr + j) - L);
                    SOMA__V8_STORE_PART(pr + j, e, 8);
                    SOMA__V8_STORE_PART(dr + j, e * (soma__v8_load(dr + j) - Di) * scale, 8);
                }
                for (int j = end; j < tkp; j++) pr[j] = dr[j] = 0.f;
            }
            /* dq_r = sum_j ds_r[j] k_j */
            attn_mix4_(dq + (size_t)i0 * ldq, ldq, ds, (size_t)tkp, 1, k, m, dh, ldk, one, nr, 0);
        }
        /* dk_j (+)= sum_i ds_i[j] q_i, dv_j (+)= sum_i p_i[j] dO_i over the chunk's rows */
        for (int j0 = 0; j0 < Tk; j0 += ATTN_R) {
            const int nj = Tk - j0 < ATTN_R ? Tk - j0 : ATTN_R;
            attn_mix4_(dk + (size_t)j0 * ldk, ldk, dS + j0, 1, (size_t)tkp, q + (size_t)c0 * ldq, nc, dh, ldq,
                       one, nj, c0 > 0);
            attn_mix4_(dv + (size_t)j0 * ldk, ldk, P + j0, 1, (size_t)tkp, dout + (size_t)c0 * ldo, nc, dh,
                       ldo, one, nj, c0 > 0);
        }
    }
}

void soma_attn_backward(float *dq, float *dk, float *dv, const float *dout, const float *o,
                        const float *lse, const float *q, const float *k, const float *v,
                        const uint8_t *pad, int N, int Tq, int Tk, int H, int dh, int ldq, int ldk,
                        int ldo, int causal, float *scratch, int threads) {
    const float scale = 1.f / sqrtf((float)dh);
    const int items = N * H, T = attn_threads_(threads, items);
    const size_t slot = soma_attn_scratch(Tk, dh, 1);
    (void)T;
#pragma omp parallel num_threads(T) if (T > 1)
    {
        float *kt = scratch + (size_t)attn_thread_id_() * slot;
#pragma omp for schedule(static)
        for (int it = 0; it < items; it++) {
            int n = it / H, h = it % H;
            size_t oq = (size_t)n * Tq * ldq + (size_t)h * dh, ok = (size_t)n * Tk * ldk + (size_t)h * dh;
            size_t oo = (size_t)n * Tq * ldo + (size_t)h * dh;
            attn_item_bwd_(dq + oq, dk + ok, dv + ok, dout + oo, o + oo, lse + ((size_t)n * H + h) * Tq,
                           q + oq, k + ok, v + ok, pad ? pad + (size_t)n * Tk : NULL, Tq, Tk, dh, ldq, ldk,
                           ldo, causal, scale, kt);
        }
    }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

// --- shared by mha and xattn --------------------------------------------------------------

/* The [T,D] input of an attention layer and its head split; SOMA_ERR_SHAPE when H does not
 * divide D. */
static soma_status attn_shape_(soma_layer *l, int H, int *T, int *D) {
    if (l->in.rank != 2)
        return soma_error(SOMA_ERR_SHAPE, "layer %s: wants a sequence [T,D], got %s", l->spec,
                          SOMA__SHAPE_STR(l->in));
    *T = l->in.d[0];
    *D = l->in.d[1];
    if (*D % H != 0)
        return soma_error(SOMA_ERR_SHAPE, "layer %s: %d heads do not divide the width %d", l->spec, H,
                          *D);
    return SOMA_OK;
}

/* in_proj_weight [3D,D], in_proj_bias [3D], out_proj.weight [D,D], out_proj.bias [D]. */
static soma_status attn_params_(soma_layer *l, int D) {
    SOMA_TRY(soma_layer_add_param(l, "in_proj_weight", 2, (int[]){3 * D, D}, 1, D, 3 * D));
    SOMA_TRY(soma_layer_add_param(l, "in_proj_bias", 1, (int[]){3 * D}, 0, D, 3 * D));
    SOMA_TRY(soma_layer_add_param(l, "out_proj.weight", 2, (int[]){D, D}, 1, D, D));
    SOMA_TRY(soma_layer_add_param(l, "out_proj.bias", 1, (int[]){D}, 0, D, D));
    return SOMA_OK;
}

/* As torch.nn.MultiheadAttention._reset_parameters: Xavier-uniform in_proj, zero biases, the
 * out projection a Linear's default. */
static void attn_init_(soma_layer *l, soma_rng *rng) {
    soma_init_xavier_uniform(&l->params[0], rng);
    soma_init_const(&l->params[1], 0.f);
    soma_init_kaiming_uniform(&l->params[2], rng);
    soma_init_const(&l->params[3], 0.f);
}

static float *attn_buf_(float **p, size_t n) {
    soma_free(*p);
    *p = soma_alloc(n ? n : 1, sizeof **p);
    return *p;
}

/* H heads from "<prefix>H" at *s; -1 with the error set when absent or 0. */
static int attn_parse_heads_(const char *tok, const char **s, const char *want) {
    int H = soma__parse_uint(s);
    if (H < 1 || H > 4096) {
        soma_error(SOMA_ERR_PARSE, "layer '%s': want %s with H >= 1 heads", tok, want);
        return -1;
    }
    return H;
}

// --- mhaH[c]: self-attention ---------------------------------------------------------------

typedef struct mha_impl {
    int H, causal;
    int T, D;
    float *qkv;  /* [max_n*T, 3D] projections */
    float *ctx;  /* [max_n*T, D] attention output before out_proj */
    float *lse;  /* [max_n, H, T] */
    float *dctx; /* [max_n*T, D] */
    float *dqkv; /* [max_n*T, 3D] */
    float *scratch; /* soma_attn_scratch(T, D/H, threads) */
    int threads;
    const uint8_t *pad; /* borrowed key-padding mask [rows, T], or NULL */
    int last_n;         /* samples in the last forward (0: none since reserve) */
} mha_impl;

static void mha_free_bufs_(mha_impl *m) {
    soma_free(m->qkv);
    soma_free(m->ctx);
    soma_free(m->lse);
    soma_free(m->dctx);
    soma_free(m->dqkv);
    soma_free(m->scratch);
    m->qkv = m->ctx = m->lse = m->dctx = m->dqkv = m->scratch = NULL;
}

static void mha_destroy(soma_layer *l) {
    mha_impl *m = l->impl;
    if (!m) return;
    mha_free_bufs_(m);
    soma_free(m);
    l->impl = NULL;
}

static soma_status mha_setup(soma_layer *l) {
    mha_impl *m = l->impl;
    SOMA_TRY(attn_shape_(l, m->H, &m->T, &m->D));
    l->out = l->in;
    return attn_params_(l, m->D);
}

static soma_status mha_reserve(soma_layer *l, int max_n) {
    mha_impl *m = l->impl;
    size_t rows = (size_t)max_n * m->T, D = (size_t)m->D;
    if (!attn_buf_(&m->qkv, rows * 3 * D) || !attn_buf_(&m->ctx, rows * D) ||
        !attn_buf_(&m->lse, (size_t)max_n * m->H * m->T) || !attn_buf_(&m->dctx, rows * D) ||
        !attn_buf_(&m->dqkv, rows * 3 * D) ||
        !attn_buf_(&m->scratch, soma_attn_scratch(m->T, m->D / m->H, m->threads = soma_get_threads())))
        return soma_error(SOMA_ERR_NOMEM, "layer %s: no memory for batches of %d", l->spec, max_n);
    m->last_n = 0;
    return SOMA_OK;
}

static void mha_forward(soma_layer *l, float *y, const float *x, int n, soma_mode mode) {
    (void)mode;
    mha_impl *m = l->impl;
    int T = m->T, D = m->D, rows = n * T;
    m->last_n = n;
    soma_dense_forward(m->qkv, x, l->params[0].value, l->params[1].value, rows, D, 3 * D);
    soma_attn_forward(m->ctx, m->lse, m->qkv, m->qkv + D, m->qkv + 2 * D, m->pad, n, T, T, m->H,
                      D / m->H, 3 * D, 3 * D, D, m->causal, m->scratch, m->threads);
    soma_dense_forward(y, m->ctx, l->params[2].value, l->params[3].value, rows, D, D);
}

static void mha_backward(soma_layer *l, float *dx, const float *dy, const float *x,
                         const float *y, int n) {
    (void)y;
    mha_impl *m = l->impl;
    int T = m->T, D = m->D, rows = n * T;
    soma_dense_backward(m->dctx, soma_layer_grad(l, 2), soma_layer_grad(l, 3), dy, m->ctx,
                        soma_layer_bwd_value(l, 2), rows, D, D);
    soma_attn_backward(m->dqkv, m->dqkv + D, m->dqkv + 2 * D, m->dctx, m->ctx, m->lse, m->qkv,
                       m->qkv + D, m->qkv + 2 * D, m->pad, n, T, T, m->H, D / m->H, 3 * D, 3 * D, D,
                       m->causal, m->scratch, m->threads);
    soma_dense_backward(dx, soma_layer_grad(l, 0), soma_layer_grad(l, 1), m->dqkv, x,
                        soma_layer_bwd_value(l, 0), rows, D, 3 * D);
}

static soma_status mha_clone(const soma_layer *src, soma_layer *dst) {
    SOMA_TRY(soma__impl_copy(src, dst, sizeof(mha_impl)));
    mha_impl *m = dst->impl;
    m->qkv = m->ctx = m->lse = m->dctx = m->dqkv = m->scratch = NULL;
    return SOMA_OK;
}

static soma_status mha_set_key_padding(soma_layer *l, const uint8_t *pad, int T) {
    mha_impl *m = l->impl;
    if (pad && T != m->T)
        return soma_error(SOMA_ERR_SHAPE, "layer %s: a key-padding mask of length %d on a sequence of %d",
                          l->spec, T, m->T);
    m->pad = pad;
    return SOMA_OK;
}

static const soma_layer_ops mha_ops;

/* Recomputed from the kept projections and log-sum-exps: p_ij = exp(q_i.k_j / sqrt(dh) - lse_i),
 * 0 for keys the query may not see (padding as set at that forward, causal future). */
soma_status soma_attn_probs(const soma_layer *l, int n, int h, float *p) {
    if (!l || l->ops != &mha_ops)
        return soma_error(SOMA_ERR_ARG, "attention probabilities: layer %s is not a self-attention (mhaH)",
                          l ? l->spec : "(null)");
    const mha_impl *m = l->impl;
    if (n < 0 || n >= m->last_n || h < 0 || h >= m->H)
        return soma_error(SOMA_ERR_ARG,
                          "attention probabilities of layer %s: sample %d, head %d out of range (%d samples "
                          "in the last forward, %d heads)",
                          l->spec, n, h, m->last_n, m->H);
    const int T = m->T, D = m->D, dh = D / m->H;
    const float scale = 1.f / sqrtf((float)dh);
    const float *lse = m->lse + ((size_t)n * m->H + h) * T;
    const uint8_t *pad = m->pad ? m->pad + (size_t)n * T : NULL;
    for (int i = 0; i < T; i++) {
        const float *q = m->qkv + ((size_t)n * T + i) * 3 * D + (size_t)h * dh;
        for (int j = 0; j < T; j++) {
            const float *k = m->qkv + ((size_t)n * T + j) * 3 * D + D + (size_t)h * dh;
            float s = 0.f;
            for (int d = 0; d < dh; d++) s += q[d] * k[d];
            const int hidden = (pad && pad[j]) || (m->causal && j > i) || lse[i] == -INFINITY;
            p[(size_t)i * T + j] = hidden ? 0.f : expf(s * scale - lse[i]);
        }
    }
    return SOMA_OK;
}

int soma_attn_heads(const soma_layer *l) {
    return l && l->ops == &mha_ops ? ((const mha_impl *)l->impl)->H : 0;
}

static const soma_layer_ops mha_ops = {
    .kind = "mha",
    .setup = mha_setup,
    .init = attn_init_,
    .reserve = mha_reserve,
    .forward = mha_forward,
    .backward = mha_backward,
    .destroy = mha_destroy,
    .clone = mha_clone,
    .set_key_padding = mha_set_key_padding,
};

// --- xattnH(SPEC): cross-attention to a memory computed by a branch -----------------------

typedef struct xattn_impl {
    int H;
    int T, S, D;
    soma__chain br; /* x [T,D] -> memory [S,D] */
    float *q;       /* [max_n*T, D] */
    float *kv;      /* [max_n*S, 2D] */
    float *ctx, *dctx; /* [max_n*T, D] */
    float *lse;     /* [max_n, H, T] */
    float *dq;      /* [max_n*T, D] */
    float *dkv;     /* [max_n*S, 2D] */
    float *dmem;    /* [max_n*S, D] */
    float *dxb;     /* [max_n*T, D] the branch's dx */
    float *scratch; /* soma_attn_scratch(S, D/H, threads) */
    int threads;
} xattn_impl;

static void xattn_free_bufs_(xattn_impl *a) {
    float **b[] = {&a->q, &a->kv, &a->ctx, &a->dctx, &a->lse, &a->dq, &a->dkv, &a->dmem, &a->dxb, &a->scratch};
    for (size_t i = 0; i < sizeof b / sizeof *b; i++) {
        soma_free(*b[i]);
        *b[i] = NULL;
    }
}

static void xattn_destroy(soma_layer *l) {
    xattn_impl *a = l->impl;
    if (!a) return;
    soma__chain_free(&a->br);
    xattn_free_bufs_(a);
    soma_free(a);
    l->impl = NULL;
}

static soma_status xattn_setup(soma_layer *l) {
    xattn_impl *a = l->impl;
    SOMA_TRY(attn_shape_(l, a->H, &a->T, &a->D));
    char who[300];
    snprintf(who, sizeof who, "%s memory branch", l->spec);
    SOMA_TRY(soma__chain_setup(&a->br, l->in, who));
    soma_shape m = a->br.out;
    if (m.rank != 2 || m.d[1] != a->D)
        return soma_error(SOMA_ERR_SHAPE, "layer %s: the memory branch gives %s; it must give a sequence [S,%d]",
                          l->spec, SOMA__SHAPE_STR(m), a->D);
    a->S = m.d[0];
    l->out = l->in;
    return attn_params_(l, a->D);
}

static void xattn_init(soma_layer *l, soma_rng *rng) {
    attn_init_(l, rng);
    soma__chain_init(&((xattn_impl *)l->impl)->br, rng);
}

static soma_status xattn_reserve(soma_layer *l, int max_n) {
    xattn_impl *a = l->impl;
    SOMA_TRY(soma__chain_reserve(&a->br, max_n));
    size_t rt = (size_t)max_n * a->T, rs = (size_t)max_n * a->S, D = (size_t)a->D;
    if (!attn_buf_(&a->q, rt * D) || !attn_buf_(&a->kv, rs * 2 * D) || !attn_buf_(&a->ctx, rt * D) ||
        !attn_buf_(&a->dctx, rt * D) || !attn_buf_(&a->lse, (size_t)max_n * a->H * a->T) ||
        !attn_buf_(&a->dq, rt * D) || !attn_buf_(&a->dkv, rs * 2 * D) || !attn_buf_(&a->dmem, rs * D) ||
        !attn_buf_(&a->dxb, rt * D) ||
        !attn_buf_(&a->scratch, soma_attn_scratch(a->S, a->D / a->H, a->threads = soma_get_threads())))
        return soma_error(SOMA_ERR_NOMEM, "layer %s: no memory for batches of %d", l->spec, max_n);
    return SOMA_OK;
}

static void xattn_forward(soma_layer *l, float *y, const float *x, int n, soma_mode mode) {
    xattn_impl *a = l->impl;
    int T = a->T, S = a->S, D = a->D;
    const float *w = l->params[0].value, *b = l->params[1].value;
    const float *mem = soma__chain_forward(&a->br, x, n, mode);
    soma_dense_forward(a->q, x, w, b, n * T, D, D);
    soma_dense_forward(a->kv, mem, w + (size_t)D * D, b + D, n * S, D, 2 * D);
    soma_attn_forward(a->ctx, a->lse, a->q, a->kv, a->kv + D, NULL, n, T, S, a->H, D / a->H, D,
                      2 * D, D, 0, a->scratch, a->threads);
    soma_dense_forward(y, a->ctx, l->params[2].value, l->params[3].value, n * T, D, D);
}

static void xattn_backward(soma_layer *l, float *dx, const float *dy, const float *x,
                           const float *y, int n) {
    (void)y;
    xattn_impl *a = l->impl;
    int T = a->T, S = a->S, D = a->D;
    const float *mem = a->br.act[a->br.n];
    soma_dense_backward(a->dctx, soma_layer_grad(l, 2), soma_layer_grad(l, 3), dy, a->ctx,
                        soma_layer_bwd_value(l, 2), n * T, D, D);
    soma_attn_backward(a->dq, a->dkv, a->dkv + D, a->dctx, a->ctx, a->lse, a->q, a->kv, a->kv + D,
                       NULL, n, T, S, a->H, D / a->H, D, 2 * D, D, 0, a->scratch, a->threads);
    float *dw = soma_layer_grad(l, 0), *db = soma_layer_grad(l, 1);
    const float *wb = soma_layer_bwd_value(l, 0);
    soma_dense_backward(dx, dw, db, a->dq, x, wb, n * T, D, D);
    soma_dense_backward(a->dmem, dw ? dw + (size_t)D * D : NULL, db ? db + D : NULL, a->dkv, mem,
                        wb + (size_t)D * D, n * S, D, 2 * D);
    soma__chain_backward(&a->br, dx ? a->dxb : NULL, a->dmem, n, l->no_param_grads);
    if (dx) {
        size_t nt = (size_t)n * T * D;
#pragma omp simd
        for (size_t i = 0; i < nt; i++) dx[i] += a->dxb[i];
    }
}

static soma_status xattn_clone(const soma_layer *src, soma_layer *dst) {
    const xattn_impl *s = src->impl;
    xattn_impl *a = soma_calloc(1, sizeof *a);
    if (!a) return SOMA_ERR_NOMEM;
    a->H = s->H;
    a->T = s->T;
    a->S = s->S;
    a->D = s->D;
    dst->impl = a;
    soma_status st = soma__chain_clone(&s->br, &a->br);
    if (st != SOMA_OK) {
        soma_free(a);
        dst->impl = NULL;
    }
    return st;
}

static int xattn_n_children(const soma_layer *l) { return ((const xattn_impl *)l->impl)->br.n; }
static soma_layer *xattn_child(soma_layer *l, int i) { return &((xattn_impl *)l->impl)->br.layers[i]; }

static const soma_layer_ops xattn_ops = {
    .kind = "xattn",
    .setup = xattn_setup,
    .init = xattn_init,
    .reserve = xattn_reserve,
    .forward = xattn_forward,
    .backward = xattn_backward,
    .destroy = xattn_destroy,
    .clone = xattn_clone,
    .n_children = xattn_n_children,
    .child = xattn_child,
};

// --- parsing ----------------------------------------------------------------------------

/* mhaH[c] and xattnH(SPEC). */
int soma__parse_attn(const char *tok, soma_layer *l) {
    if (strncmp(tok, "mha", 3) == 0 && (tok[3] == '\0' || (tok[3] >= '0' && tok[3] <= '9'))) {
        const char *s = tok + 3;
        int H = attn_parse_heads_(tok, &s, "mhaH[c] (e.g. mha4, mha4c)");
        if (H < 0) return -1;
        int causal = 0;
        if (*s == 'c') causal = 1, s++;
        if (*s) {
            soma_error(SOMA_ERR_PARSE, "layer '%s': want mhaH[c] (e.g. mha4, mha4c)", tok);
            return -1;
        }
        mha_impl *m = soma_calloc(1, sizeof *m);
        if (!m) return -1;
        m->H = H;
        m->causal = causal;
        l->ops = &mha_ops;
        l->impl = m;
        return 1;
    }
    if (strncmp(tok, "xattn", 5) != 0) return 0;
    const char *s = tok + 5;
    const char *want = "xattnH(SPEC) (e.g. xattn4(tmean,repeat4,fc64))";
    int H = attn_parse_heads_(tok, &s, want);
    if (H < 0) return -1;
    size_t len = strlen(s);
    if (len < 3 || s[0] != '(' || s[len - 1] != ')') {
        soma_error(SOMA_ERR_PARSE, "layer '%s': want %s", tok, want);
        return -1;
    }
    xattn_impl *a = soma_calloc(1, sizeof *a);
    if (!a) return -1;
    a->H = H;
    l->ops = &xattn_ops;
    l->impl = a;
    soma_status st = soma__chain_parse(&a->br, s + 1, len - 2);
    if (st != SOMA_OK) {
        soma_error_wrap(st, "layer '%s' memory branch", tok);
        xattn_destroy(l);
        return -1;
    }
    return 1;
}

// --- the net-wide key-padding mask ------------------------------------------------------

static soma_status set_pad_walk_(soma_layer *l, const uint8_t *pad, int T, int *taken) {
    if (l->ops->set_key_padding) {
        SOMA_TRY(l->ops->set_key_padding(l, pad, T));
        (*taken)++;
    }
    int nc = l->ops->n_children ? l->ops->n_children(l) : 0;
    for (int i = 0; i < nc; i++) SOMA_TRY(set_pad_walk_(l->ops->child(l, i), pad, T, taken));
    return SOMA_OK;
}

soma_status soma_net_set_key_padding(soma_net *net, const uint8_t *pad, int T) {
    if (!net) return soma_error(SOMA_ERR_ARG, "key padding: no net");
    if (pad && T < 1) return soma_error(SOMA_ERR_ARG, "key padding: sequence length %d", T);
    int taken = 0;
    for (int i = 0; i < soma_net_n_layers(net); i++) {
        soma_status st = set_pad_walk_(soma_net_layer(net, i), pad, T, &taken);
        if (st != SOMA_OK) {
            int dummy = 0; /* leave no layer holding half a setting */
            for (int k = 0; k < soma_net_n_layers(net); k++) set_pad_walk_(soma_net_layer(net, k), NULL, 0, &dummy);
            return st;
        }
    }
    if (pad && taken == 0)
        return soma_error(SOMA_ERR_ARG, "key padding: no layer of net '%s' takes a mask (add an mhaH layer)",
                          soma_net_spec(net));
    return SOMA_OK;
}
