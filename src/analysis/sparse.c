/* Sparse coding: lasso solvers and dictionary learning (declared in soma/analysis.h).
 *
 * Problem: for each signal x (a row of X [n, d]) the code a (a row of A [n, k]) minimises
 * 0.5 ||x - D'a||^2 + lambda ||a||_1 (a >= 0 when nonneg), D [k, d] the atoms as rows.
 *
 * Batched. With G = D D' [k, k] and B = X D' [n, k] (two GEMMs, once), the gradient of the
 * smooth part for the whole batch is A G - B, one GEMM per iteration:
 *   ISTA:  A <- S(A - (A G - B) / L, lambda / L)                 (S the soft threshold)
 *   FISTA: the same step from the extrapolated point Y = A + (t_old - 1) / t (A - A_old),
 *          t' = (1 + sqrt(1 + 4 t^2)) / 2 (Beck & Teboulle 2009)
 *   LCA:   internal states U, codes A = S(U, lambda); U <- U + eta (B - U - A (G - I)),
 *          eta = 1 / L (Rozell et al. 2008, Euler steps of tau du/dt = b - u - (G - I) a);
 *          its fixed points are the lasso optimum's KKT points.
 * L is the largest eigenvalue of G (power iteration in double from a fixed start, so the same
 * on every machine; dictionary learning warm-starts it from the last step's eigenvector), taken
 * 1% high because power iteration approaches it from below. Stopping: after an iteration where ||A - A_old||_F <= tol ||A||_F for the
 * whole batch, or after iters. Every elementwise loop is split over rows, each row's arithmetic
 * independent of the thread count; the sums that decide stopping are reduced per row and then
 * in row order, so the result is the same for any thread count.
 *
 * Dictionary learning (Olshausen & Field 1996): D starts as Gaussian rows, normalised; each step
 * draws a batch of signals (with replacement, soma_rng stream 1 of the seed), codes it, and
 * moves D along the negative gradient of the mean reconstruction error,
 * D <- D + lr A' (X_b - A D) / batch, then renormalises every atom to unit length.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "soma/analysis.h"

static soma_status check_finite_(const char *what, const char *name, const float *X, long n, int d) {
    for (long i = 0; i < n; i++)
        for (int j = 0; j < d; j++)
            if (!isfinite(X[(size_t)i * d + j]))
                return soma_error(SOMA_ERR_ARG, "%s: %s row %ld holds a non-finite value", what, name, i);
    return SOMA_OK;
}

/* Largest eigenvalue of the symmetric G [k, k] by power iteration from v [k] (in: the start,
 * a previous eigenvector when warm; out: the new estimate); at most max_it iterations, until
 * the Rayleigh quotient changes by less than 1e-9 of itself. */
static double lmax_(const float *G, int k, double *v, double *u, int max_it) {
    double lam = 0.0;
    for (int it = 0; it < max_it; it++) {
        double nn = 0, vv = 0, uv = 0;
        for (int i = 0; i < k; i++) {
            double s = 0;
            for (int j = 0; j < k; j++) s += (double)G[(size_t)i * k + j] * v[j];
            u[i] = s;
            nn += s * s;
            vv += v[i] * v[i];
            uv += s * v[i];
        }
        nn = sqrt(nn);
        if (!(nn > 0) || !(vv > 0)) return 0.0;
        double lam_new = uv / vv;
        for (int i = 0; i < k; i++) v[i] = u[i] / nn;
        int done = it > 2 && fabs(lam_new - lam) <= 1e-9 * lam_new;
        lam = lam_new;
        if (done) break;
    }
    return lam;
}

static void lmax_start_(double *v, int k) {
    for (int i = 0; i < k; i++) v[i] = 1.0 + 0.01 * (i % 7);
}

static inline float shrink_(float v, float t, int nonneg) {
    if (v > t) return v - t;
    if (!nonneg && v < -t) return v + t;
    return 0.f;
}

/* C = alpha op(A) op(B) + beta C in blocks of MB_ rows of C, one block a task. Inside an OpenMP
 * parallel region OpenBLAS runs each call on one thread, so every block is computed the same
 * way whatever the thread count: the same bits for any count (OpenBLAS's own threading splits
 * the work by its thread count, and on some kernels (Zen, Haswell) that changes the rounding).
 * It also makes one parallel region a call instead of OpenBLAS's own hand-offs. */
#define MB_ 32
static void gemm_rows_(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                       int ldb, float beta, float *C, int ldc) {
    /* Small products (up to 4M multiply-adds, about a millisecond on one core) run here in
     * blocks of rows under OpenBLAS's threading threshold (m n k <= 4 * 65536), so each block
     * is one thread: no parallel region to wait in for work this small. */
    double nk = (double)N * K;
    if ((double)M * nk <= 4194304.0) {
        int mbs = nk >= 262144.0 ? 1 : (int)(262144.0 / nk);
        for (int i0 = 0; i0 < M; i0 += mbs) {
            int m = M - i0 < mbs ? M - i0 : mbs;
            soma_gemm(ta, tb, m, N, K, alpha, ta ? A + i0 : A + (size_t)i0 * lda, lda, B, ldb, beta,
                      C + (size_t)i0 * ldc, ldc);
        }
        return;
    }
    int mb = M >= 2 * MB_ ? MB_ : (M + 1) / 2, nb = (M + mb - 1) / mb;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (nb > 1)
#endif
    for (int blk = 0; blk < nb; blk++) {
        int i0 = blk * mb, m = M - i0 < mb ? M - i0 : mb;
        soma_gemm(ta, tb, m, N, K, alpha, ta ? A + i0 : A + (size_t)i0 * lda, lda, B, ldb, beta,
                  C + (size_t)i0 * ldc, ldc);
    }
}

/* The solver core: A [n, k] from B = X D' and G = D D'; A is the start (zero or warm). */
static soma_status solve_(const float *G, const float *B, int n, int k, const soma_sparse_opts *o, double L,
                          float *A) {
    size_t nk = (size_t)n * k;
    int iters = o->iters > 0 ? o->iters : 200;
    float step = (float)(1.0 / L), thr = (float)(o->lambda / L);
    float *Q = soma_alloc(nk, sizeof(float));   /* A G, or the gradient point */
    float *Y = soma_alloc(nk, sizeof(float));   /* FISTA: extrapolated point; LCA: U */
    double *rowd = soma_alloc((size_t)n, 2 * sizeof(double));
    if (!Q || !Y || !rowd) {
        soma_free(Q), soma_free(Y), soma_free(rowd);
        return SOMA_ERR_NOMEM;
    }
    double t = 1.0;
    if (o->solver == SOMA_SPARSE_LCA) { /* U from A: a warm start A = S(U) holds with U = A + lambda sign(A) */
        for (size_t i = 0; i < nk; i++) Y[i] = A[i] + (A[i] > 0 ? o->lambda : A[i] < 0 ? -o->lambda : 0.f);
    } else {
        memcpy(Y, A, nk * sizeof(float));
    }
    const int lca = o->solver == SOMA_SPARSE_LCA;
    for (int it = 0; it < iters; it++) {
        /* LCA: Q = A G; ISTA / FISTA: Q = Y G */
        gemm_rows_(0, 0, n, k, k, 1.f, lca ? A : Y, k, G, k, 0.f, Q, k);
        double t_new = (1.0 + sqrt(1.0 + 4.0 * t * t)) / 2.0;
        float mom = o->solver == SOMA_SPARSE_FISTA ? (float)((t - 1.0) / t_new) : 0.f;
        t = t_new;
        /* one parallel region an iteration: the update and each row's change and size */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((size_t)n * k > 65536)
#endif
        for (int i = 0; i < n; i++) {
            double dd = 0, aa = 0;
            for (int j = 0; j < k; j++) {
                size_t q = (size_t)i * k + j;
                float old = A[q], a;
                if (lca) {
                    float u = Y[q] + step * (B[q] - Y[q] - (Q[q] - old));
                    Y[q] = u;
                    a = shrink_(u, o->lambda, o->nonneg);
                } else {
                    a = shrink_(Y[q] - step * (Q[q] - B[q]), thr, o->nonneg);
                    Y[q] = a + mom * (a - old);
                }
                A[q] = a;
                double e = (double)a - old;
                dd += e * e;
                aa += (double)a * a;
            }
            rowd[2 * i] = dd, rowd[2 * i + 1] = aa;
        }
        if (o->tol > 0.f) {
            double dd = 0, aa = 0;
            for (int i = 0; i < n; i++) dd += rowd[2 * i], aa += rowd[2 * i + 1];
            if (sqrt(dd) <= o->tol * sqrt(aa)) break;
        }
    }
    soma_free(Q), soma_free(Y), soma_free(rowd);
    return SOMA_OK;
}

static soma_status check_opts_(const char *what, const soma_sparse_opts *o) {
    if (!o) return soma_error(SOMA_ERR_ARG, "%s: NULL options", what);
    if (o->solver < SOMA_SPARSE_ISTA || o->solver > SOMA_SPARSE_LCA)
        return soma_error(SOMA_ERR_ARG, "%s: unknown solver %d", what, (int)o->solver);
    if (!(o->lambda >= 0.f) || !isfinite(o->lambda))
        return soma_error(SOMA_ERR_ARG, "%s: lambda %g must be finite and >= 0", what, (double)o->lambda);
    if (o->iters < 0) return soma_error(SOMA_ERR_ARG, "%s: iters %d must be >= 0", what, o->iters);
    if (!(o->tol >= 0.f)) return soma_error(SOMA_ERR_ARG, "%s: tol must be >= 0", what);
    return SOMA_OK;
}

/* Codes with G and L computed here; A is overwritten (zero start). v, u [k]: power iteration
 * (v warm when the caller keeps it). */
static soma_status code_(const float *D, int k, int d, const float *X, int n, const soma_sparse_opts *o, float *A,
                         float *G, float *B, double *v, double *u) {
    gemm_rows_(0, 1, k, k, d, 1.f, D, d, D, d, 0.f, G, k); /* G = D D' */
    /* 1% above the estimate: power iteration approaches the largest eigenvalue from below */
    double L = 1.01 * lmax_(G, k, v, u, 1000);
    if (!(L > 0)) return soma_error(SOMA_ERR_ARG, "sparse code: the dictionary is all zeros");
    gemm_rows_(0, 1, n, k, d, 1.f, X, d, D, d, 0.f, B, k); /* B = X D' */
    memset(A, 0, sizeof(float) * (size_t)n * k);
    return solve_(G, B, n, k, o, L, A);
}

soma_status soma_sparse_code(const float *D, int k, int d, const float *X, int n, const soma_sparse_opts *o,
                             float *A) {
    const char *what = "sparse code";
    if (!D || !X || !A) return soma_error(SOMA_ERR_ARG, "%s: NULL argument", what);
    if (k < 1 || d < 1 || n < 1) return soma_error(SOMA_ERR_ARG, "%s: k = %d, d = %d, n = %d must be >= 1", what, k, d, n);
    SOMA_TRY(check_opts_(what, o));
    SOMA_TRY(check_finite_(what, "dictionary", D, k, d));
    SOMA_TRY(check_finite_(what, "signal", X, n, d));
    float *G = soma_alloc((size_t)k * k, sizeof(float)), *B = soma_alloc((size_t)n * k, sizeof(float));
    double *v = soma_alloc((size_t)k, 2 * sizeof(double));
    soma_status st = SOMA_ERR_NOMEM;
    if (G && B && v) {
        lmax_start_(v, k);
        st = code_(D, k, d, X, n, o, A, G, B, v, v + k);
    }
    soma_free(G);
    soma_free(B);
    soma_free(v);
    return st;
}

static void normalise_rows_(float *D, int k, int d) {
    for (int i = 0; i < k; i++) {
        double s = 0;
        for (int j = 0; j < d; j++) s += (double)D[(size_t)i * d + j] * D[(size_t)i * d + j];
        float inv = s > 0 ? (float)(1.0 / sqrt(s)) : 0.f;
        for (int j = 0; j < d; j++) D[(size_t)i * d + j] *= inv;
    }
}

soma_status soma_dict_learn(const float *X, int n, int d, const soma_dict_opts *o, soma_progress *progress, float **D,
                            double *mse, double *l0) {
    const char *what = "dict learn";
    if (!X || !o || !D) return soma_error(SOMA_ERR_ARG, "%s: NULL argument", what);
    *D = NULL;
    if (n < 1 || d < 1) return soma_error(SOMA_ERR_ARG, "%s: n = %d, d = %d must be >= 1", what, n, d);
    if (o->k < 1) return soma_error(SOMA_ERR_ARG, "%s: k = %d atoms must be >= 1", what, o->k);
    if (o->steps < 1 || o->batch < 1)
        return soma_error(SOMA_ERR_ARG, "%s: steps = %d and batch = %d must be >= 1", what, o->steps, o->batch);
    if (!(o->lr > 0.f) || !isfinite(o->lr)) return soma_error(SOMA_ERR_ARG, "%s: lr must be finite and > 0", what);
    SOMA_TRY(check_opts_(what, &o->code));
    SOMA_TRY(check_finite_(what, "signal", X, n, d));
    int k = o->k, b = o->batch;
    float *Dm = soma_alloc((size_t)k * d, sizeof(float));
    float *Xb = soma_alloc((size_t)b * d, sizeof(float));
    float *A = soma_alloc((size_t)b * k, sizeof(float));
    float *R = soma_alloc((size_t)b * d, sizeof(float));
    float *G = soma_alloc((size_t)k * k, sizeof(float));
    float *B = soma_alloc((size_t)b * k, sizeof(float));
    double *v = soma_alloc((size_t)k, 2 * sizeof(double));
    soma_status st = SOMA_OK;
    if (!Dm || !Xb || !A || !R || !G || !B || !v) {
        st = SOMA_ERR_NOMEM;
        goto out;
    }
    soma_rng r;
    soma_rng_seed(&r, o->seed, 1);
    soma_rng_normal_fill(&r, Dm, (size_t)k * d, 0.f, 1.f);
    normalise_rows_(Dm, k, d);
    lmax_start_(v, k);
    if (progress) soma_progress_begin(progress, "dict", o->steps);
    double last_mse = NAN, last_l0 = NAN;
    for (int s = 0; s < o->steps; s++) {
        if (soma_cancel_requested()) {
            st = soma_error(SOMA_ERR_CANCELLED, "%s: cancelled at step %d of %d", what, s, o->steps);
            goto out;
        }
        for (int i = 0; i < b; i++) {
            uint64_t row = soma_rng_below(&r, (uint64_t)n);
            memcpy(Xb + (size_t)i * d, X + (size_t)row * d, sizeof(float) * (size_t)d);
        }
        if ((st = code_(Dm, k, d, Xb, b, &o->code, A, G, B, v, v + k)) != SOMA_OK) goto out;
        memcpy(R, Xb, sizeof(float) * (size_t)b * d);
        gemm_rows_(0, 0, b, d, k, -1.f, A, k, Dm, d, 1.f, R, d); /* R = X_b - A D */
        double se = 0;
        long nnz = 0;
        for (size_t i = 0; i < (size_t)b * d; i++) se += (double)R[i] * R[i];
        for (size_t i = 0; i < (size_t)b * k; i++) nnz += A[i] != 0.f;
        last_mse = se / ((double)b * d);
        last_l0 = (double)nnz / b;
        gemm_rows_(1, 0, k, d, b, o->lr / (float)b, A, k, R, d, 1.f, Dm, d); /* D += lr A' R / b */
        normalise_rows_(Dm, k, d);
        if (progress) {
            char extra[96];
            snprintf(extra, sizeof extra, "mse %.4f L0 %.1f", last_mse, last_l0);
            soma_progress_update(progress, s + 1, extra);
        }
    }
    if (progress) {
        char line[128];
        snprintf(line, sizeof line, "%d steps of %d signals: mse %.4f, L0 %.1f of %d", o->steps, b, last_mse,
                 last_l0, k);
        soma_progress_note(progress, line);
        soma_progress_end(progress);
    }
    if (mse) *mse = last_mse;
    if (l0) *l0 = last_l0;
    *D = Dm;
    Dm = NULL;
out:
    soma_free(Dm), soma_free(Xb), soma_free(A), soma_free(R), soma_free(G), soma_free(B), soma_free(v);
    return st;
}
