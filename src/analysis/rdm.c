/* Representational dissimilarity matrices (declared in soma/analysis.h, "RDMs").
 *
 * Every metric goes through Gram matrices (BLAS, gram_ below), so an RDM of n conditions and p
 * features costs one n x n x p product instead of n^2/2 separate p-long loops:
 *
 *   euclidean / sqeuclidean: the columns are centred first (distances do not change under a
 *     common shift, and centring keeps G_ii + G_jj - 2 G_ij from cancelling catastrophically
 *     when the patterns share a large offset); squared distances below 0 (rounding) are 0.
 *   correlation: each row is centred, d = 1 - G_ij / sqrt(G_ii G_jj).
 *   cosine: the raw rows, d = 1 - G_ij / sqrt(G_ii G_jj).
 *   mahalanobis: S = L L' (LAPACKE_dpotrf of the shrunk covariance), the centred condition
 *     means whitened as Y = M L^-T (cblas_dtrsm), then sqeuclidean of Y divided by p.
 *   crossnobis: each repetition r whitened likewise (Y_r); with d_a = y_ia - y_ja,
 *     sum_{a != b} d_a . d_b = ||sum_a d_a||^2 - sum_a ||d_a||^2; the first term is the
 *     squared distance in the Gram matrix of sum_r Y_r, the second in sum_r Y_r Y_r' (the
 *     repetitions' Grams accumulated). Divided by R (R - 1) p. Not clamped: negative
 *     values are the point of the estimator.
 *
 * Shrinkage (soma_shrinkage_cov): residual rows E [N, p] (repetitions around their condition
 * means, N = n R, dof = n (R - 1); or with R = 1 the conditions around their mean, N = n,
 * dof = n - 1); C = E'E / dof. Ledoit & Wolf's (2004) weight is computed, as in their paper,
 * on the 1/N covariance B = E'E / N with the normalised Frobenius norm ||A||^2 = tr(A A')/p:
 *   mu = tr(B)/p, d2 = ||B - mu I||^2, b2 = min(d2, (sum_k ||e_k||^4 / N^2 - tr(B B)/N) / p),
 *   w = b2 / d2 (0 when d2 = 0), then S = (1 - w) C + w (tr(C)/p) I.
 * (sum_k ||e_k e_k' - B||^2 reduces to sum_k ||e_k||^4 - N tr(B B), so nothing of p^2 per row
 * is formed.)
 */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>

#include "soma/analysis.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static const char *const METRIC_NAMES[SOMA_RDM_METRIC_COUNT] = {
    "euclidean", "sqeuclidean", "correlation", "cosine", "mahalanobis", "crossnobis"};

const char *soma_rdm_metric_name(soma_rdm_metric m) {
    return (unsigned)m < SOMA_RDM_METRIC_COUNT ? METRIC_NAMES[m] : "?";
}

soma_status soma_rdm_metric_parse(const char *name, soma_rdm_metric *out) {
    for (int m = 0; name && m < SOMA_RDM_METRIC_COUNT; m++)
        if (strcmp(name, METRIC_NAMES[m]) == 0) {
            *out = (soma_rdm_metric)m;
            return SOMA_OK;
        }
    return soma_error(SOMA_ERR_ARG,
                      "unknown RDM metric '%s' (euclidean, sqeuclidean, correlation, cosine, mahalanobis, "
                      "crossnobis)",
                      name ? name : "(null)");
}

// --- square <-> condensed -----------------------------------------------------------------

void soma_rdm_to_square(const double *rdm, int n, double *sq) {
    for (int i = 0; i < n; i++) {
        sq[(size_t)i * n + i] = 0.0;
        for (int j = i + 1; j < n; j++) {
            double v = rdm[soma_rdm_index(n, i, j)];
            sq[(size_t)i * n + j] = v;
            sq[(size_t)j * n + i] = v;
        }
    }
}

soma_status soma_rdm_from_square(const double *sq, int n, double *rdm) {
    if (!sq || !rdm || n < 2) return soma_error(SOMA_ERR_ARG, "rdm_from_square: need n >= 2 and arrays (n = %d)", n);
    for (int i = 0; i < n; i++) {
        double d = sq[(size_t)i * n + i];
        if (!isfinite(d) || d != 0.0)
            return soma_error(SOMA_ERR_ARG, "rdm_from_square: diagonal entry %d is %g, not 0", i, d);
        for (int j = i + 1; j < n; j++) {
            double a = sq[(size_t)i * n + j], b = sq[(size_t)j * n + i];
            if (!isfinite(a) || !isfinite(b))
                return soma_error(SOMA_ERR_ARG, "rdm_from_square: entry (%d, %d) is not finite", i, j);
            if (fabs(a - b) > 1e-6 * fmax(fabs(a), fabs(b)))
                return soma_error(SOMA_ERR_ARG, "rdm_from_square: not symmetric at (%d, %d): %g vs %g", i, j, a, b);
            rdm[soma_rdm_index(n, i, j)] = 0.5 * (a + b);
        }
    }
    return SOMA_OK;
}

// --- helpers --------------------------------------------------------------------------------

/* Every value finite; the message names the condition (and repetition). */
static soma_status check_data_(const double *X, int n, int p, int n_rep, const char *fn) {
    size_t row = (size_t)p * n_rep;
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < row; k++)
            if (!isfinite(X[i * row + k])) {
                if (n_rep > 1)
                    return soma_error(SOMA_ERR_ARG, "%s: condition %d (feature %zu, repetition %zu) is not finite",
                                      fn, i, k / n_rep, k % n_rep);
                return soma_error(SOMA_ERR_ARG, "%s: row %d (feature %zu) is not finite", fn, i, k);
            }
    return SOMA_OK;
}

static soma_status check_args_(const double *X, int n, int p, int n_rep, const char *fn) {
    if (!X) return soma_error(SOMA_ERR_ARG, "%s: NULL data", fn);
    if (n < 2) return soma_error(SOMA_ERR_ARG, "%s: need at least 2 conditions, got %d", fn, n);
    if (p < 1) return soma_error(SOMA_ERR_ARG, "%s: need at least 1 feature, got %d", fn, p);
    if (n_rep < 1) return soma_error(SOMA_ERR_ARG, "%s: need at least 1 repetition, got %d", fn, n_rep);
    return check_data_(X, n, p, n_rep, fn);
}

/* Condition means over repetitions: M [n, p]. */
static void cond_means_(const double *X, int n, int p, int R, double *M) {
    for (long i = 0; i < n; i++)
        for (long f = 0; f < p; f++) {
            const double *x = X + (i * p + f) * R;
            double s = 0;
            for (int r = 0; r < R; r++) s += x[r];
            M[i * p + f] = s / R;
        }
}

/* Y [rows, p] = X minus its column means (X may be Y). Column blocks of COL_BLOCK are summed
 * row by row (contiguous) by one thread each, so the means have the same bits on any thread
 * count; the subtraction is shared out by rows. */
#define COL_BLOCK 512
static soma_status center_cols_to_(const double *X, long rows, int p, double *Y) {
    double *mean = soma_calloc((size_t)p, sizeof *mean);
    if (!mean) return SOMA_ERR_NOMEM;
    int blocks = (p + COL_BLOCK - 1) / COL_BLOCK;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (rows * p > 100000)
#endif
    for (int b = 0; b < blocks; b++) {
        long f0 = (long)b * COL_BLOCK, f1 = f0 + COL_BLOCK < p ? f0 + COL_BLOCK : p;
        for (long i = 0; i < rows; i++)
            for (long f = f0; f < f1; f++) mean[f] += X[i * p + f];
        for (long f = f0; f < f1; f++) mean[f] /= rows;
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (rows * p > 100000)
#endif
    for (long i = 0; i < rows; i++)
        for (long f = 0; f < p; f++) Y[i * p + f] = X[i * p + f] - mean[f];
    soma_free(mean);
    return SOMA_OK;
}
static soma_status center_cols_(double *Y, long rows, int p) { return center_cols_to_(Y, rows, p, Y); }

/* Upper triangle of G [n, n] = Y Y' (Y [n, k] with leading dimension ld), beta as in dsyrk.
 * Strips of GRAM_STRIP rows, each one dgemm of the strip against the rows from its first on,
 * shared out by OpenMP; a BLAS call inside the parallel region runs on one thread, so every
 * entry comes from the same single-threaded call whatever the thread count: same bits.
 * (One multi-threaded dsyrk would split the work by the thread count and round differently.
 * Without OpenMP, SOMA_OPENMP=OFF, the strips run in turn and the BLAS's own threads split
 * each call: there the last bits may change with soma_set_threads.)
 * The strips cost what dsyrk does, plus half a strip-wide band below the diagonal. */
#define GRAM_STRIP 96
static void gram_t_(const double *Y, int n, int k, int ld, int trans, double alpha, double beta, double *G) {
    int strips = (n + GRAM_STRIP - 1) / GRAM_STRIP;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1)
#endif
    for (int s = 0; s < strips; s++) {
        int i0 = s * GRAM_STRIP, rows = n - i0 < GRAM_STRIP ? n - i0 : GRAM_STRIP;
        if (trans) /* Y [k, n]: G = Y'Y */
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, rows, n - i0, k, alpha, Y + i0, ld, Y + i0, ld, beta,
                        G + (size_t)i0 * n + i0, n);
        else
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n - i0, k, alpha, Y + (size_t)i0 * ld, ld,
                        Y + (size_t)i0 * ld, ld, beta, G + (size_t)i0 * n + i0, n);
    }
}
static void gram_(const double *Y, int n, int k, int ld, double beta, double *G) {
    gram_t_(Y, n, k, ld, 0, 1.0, beta, G);
}

/* Squared distances from the upper triangle of a Gram matrix, clamped at 0, times scale. */
static void gram_sqdist_(const double *G, int n, double scale, double *rdm) {
    for (long i = 0; i < n; i++)
        for (long j = i + 1; j < n; j++) {
            double d = G[i * n + i] + G[j * n + j] - 2.0 * G[i * n + j];
            rdm[soma_rdm_index(n, (int)i, (int)j)] = (d > 0 ? d : 0.0) * scale;
        }
}

// --- shrinkage covariance -------------------------------------------------------------------

/* S [p, p] (full, symmetric) and the weight; X validated by the caller. */
static soma_status shrink_cov_(const double *X, int n, int p, int R, double shrinkage, double *S, double *w_used) {
    long N = (long)n * R;
    long dof = R >= 2 ? (long)n * (R - 1) : (long)n - 1;
    if (dof < 1) return soma_error(SOMA_ERR_ARG, "shrinkage_cov: no degrees of freedom (n = %d, n_rep = %d)", n, R);
    double *E = soma_alloc((size_t)N * p, sizeof *E);
    if (!E) return SOMA_ERR_NOMEM;
    if (R >= 2) {
        for (long i = 0; i < n; i++)
            for (long f = 0; f < p; f++) {
                const double *x = X + (i * p + f) * R;
                double m = 0;
                for (int r = 0; r < R; r++) m += x[r];
                m /= R;
                for (int r = 0; r < R; r++) E[(i * R + r) * p + f] = x[r] - m;
            }
    } else {
        memcpy(E, X, sizeof(double) * (size_t)N * p);
        if (center_cols_(E, n, p) != SOMA_OK) {
            soma_free(E);
            return SOMA_ERR_NOMEM;
        }
    }
    gram_t_(E, p, (int)N, p, 1, 1.0 / dof, 0.0, S);
    for (long i = 0; i < p; i++)
        for (long j = i + 1; j < p; j++) S[j * p + i] = S[i * p + j];
    double w = shrinkage;
    if (shrinkage < 0) {
        /* B = C dof / N: the 1/N covariance of Ledoit & Wolf. */
        double c = (double)dof / N, trB = 0, trBB = 0, s4 = 0;
        for (long i = 0; i < p; i++) trB += S[i * p + i] * c;
        for (size_t k = 0; k < (size_t)p * p; k++) trBB += (S[k] * c) * (S[k] * c);
        for (long k = 0; k < N; k++) {
            double e2 = 0;
            for (long f = 0; f < p; f++) e2 += E[k * p + f] * E[k * p + f];
            s4 += e2 * e2;
        }
        double mu = trB / p;
        double d2 = (trBB - 2 * mu * trB + mu * mu * p) / p;
        double b2 = (s4 / ((double)N * N) - trBB / N) / p;
        if (b2 > d2) b2 = d2;
        if (b2 < 0) b2 = 0;
        w = d2 > 0 ? b2 / d2 : 0.0;
    }
    soma_free(E);
    double tr = 0;
    for (long i = 0; i < p; i++) tr += S[i * p + i];
    double mu = tr / p;
    for (size_t k = 0; k < (size_t)p * p; k++) S[k] *= 1.0 - w;
    for (long i = 0; i < p; i++) S[i * p + i] += w * mu;
    if (w_used) *w_used = w;
    return SOMA_OK;
}

soma_status soma_shrinkage_cov(const double *X, int n, int p, int n_rep, double shrinkage, double *S,
                               double *w_used) {
    SOMA_TRY(check_args_(X, n, p, n_rep, "shrinkage_cov"));
    if (!S) return soma_error(SOMA_ERR_ARG, "shrinkage_cov: NULL output");
    if (!(shrinkage <= 1.0) || isnan(shrinkage))
        return soma_error(SOMA_ERR_ARG, "shrinkage_cov: shrinkage %g outside [0, 1] (< 0: Ledoit-Wolf)", shrinkage);
    return shrink_cov_(X, n, p, n_rep, shrinkage, S, w_used);
}

/* The Cholesky factor L of S [p, p] (in place, lower), on one thread: an OpenBLAS call inside
 * an active OpenMP region runs serially, so the factor has the same bits on any thread count. */
static lapack_int potrf_serial_(double *S, int p) {
#ifdef _OPENMP
    lapack_int info = 0;
    if (omp_get_max_threads() > 1 && !omp_in_parallel()) {
#pragma omp parallel num_threads(2)
        {
#pragma omp single
            info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', p, S, p);
        }
        return info;
    }
#endif
    return LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', p, S, p);
}

/* Y [rows, p] := Y L^-T with L L' = S (S overwritten by L); strips of rows in parallel, each
 * one serial dtrsm (same bits on any thread count). */
static soma_status whiten_(double *S, int p, double *Y, int rows) {
    lapack_int info = potrf_serial_(S, p);
    if (info > 0)
        return soma_error(SOMA_ERR_ARG,
                          "rdm: the covariance is singular (fewer residual degrees of freedom than features?); "
                          "use shrinkage > 0 or < 0 (Ledoit-Wolf)");
    if (info < 0) return soma_error(SOMA_ERR_INTERNAL, "rdm: dpotrf argument %d", (int)-info);
    int strips = (rows + GRAM_STRIP - 1) / GRAM_STRIP;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1)
#endif
    for (int s = 0; s < strips; s++) {
        int i0 = s * GRAM_STRIP, r = rows - i0 < GRAM_STRIP ? rows - i0 : GRAM_STRIP;
        cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, r, p, 1.0, S, p,
                    Y + (size_t)i0 * p, p);
    }
    return SOMA_OK;
}

// --- the RDM --------------------------------------------------------------------------------

soma_status soma_rdm(const double *X, int n, int p, int n_rep, const soma_rdm_opts *o, double *rdm) {
    SOMA_TRY(check_args_(X, n, p, n_rep, "rdm"));
    if (!o || !rdm) return soma_error(SOMA_ERR_ARG, "rdm: NULL options or output");
    soma_rdm_metric metric = o->metric;
    if ((unsigned)metric >= SOMA_RDM_METRIC_COUNT) return soma_error(SOMA_ERR_ARG, "rdm: unknown metric %d", (int)metric);
    int R = n_rep;
    if (metric == SOMA_RDM_CROSSNOBIS && R < 2)
        return soma_error(SOMA_ERR_ARG, "rdm: crossnobis needs at least 2 repetitions, got %d", R);
    int whiten = metric == SOMA_RDM_MAHALANOBIS || metric == SOMA_RDM_CROSSNOBIS;
    if (whiten && (!(o->shrinkage <= 1.0) || isnan(o->shrinkage)))
        return soma_error(SOMA_ERR_ARG, "rdm: shrinkage %g outside [0, 1] (< 0: Ledoit-Wolf)", o->shrinkage);

    soma_status st = SOMA_OK;
    int centered = 0;
    size_t np = (size_t)n * p;
    int rows = metric == SOMA_RDM_CROSSNOBIS ? n * R : n; /* Y holds R blocks [n, p] for crossnobis */
    double *Y = soma_alloc((size_t)rows * p, sizeof *Y);
    double *G = soma_alloc((size_t)n * n, sizeof *G);
    double *S = whiten ? soma_alloc((size_t)p * p, sizeof *S) : NULL;
    if (!Y || !G || (whiten && !S)) {
        st = SOMA_ERR_NOMEM;
        goto out;
    }
    if (metric == SOMA_RDM_CROSSNOBIS) {
        for (long r = 0; r < R; r++)
            for (long i = 0; i < n; i++)
                for (long f = 0; f < p; f++) Y[r * np + i * p + f] = X[(i * p + f) * R + r];
        /* a common shift of every pattern changes no difference: centre by the grand mean */
        if ((st = center_cols_(Y, (long)n * R, p)) != SOMA_OK) goto out;
    } else if (R > 1) {
        cond_means_(X, n, p, R, Y);
    } else if (metric == SOMA_RDM_EUCLIDEAN || metric == SOMA_RDM_SQEUCLIDEAN || metric == SOMA_RDM_MAHALANOBIS) {
        /* copied and centred in one pass */
        if ((st = center_cols_to_(X, n, p, Y)) != SOMA_OK) goto out;
        centered = 1;
    } else {
        memcpy(Y, X, sizeof(double) * np);
    }

    switch (metric) {
    case SOMA_RDM_EUCLIDEAN:
    case SOMA_RDM_SQEUCLIDEAN:
        if (!centered && (st = center_cols_(Y, n, p)) != SOMA_OK) goto out;
        gram_(Y, n, p, p, 0.0, G);
        gram_sqdist_(G, n, 1.0, rdm);
        if (metric == SOMA_RDM_EUCLIDEAN)
            for (long k = 0; k < soma_rdm_len(n); k++) rdm[k] = sqrt(rdm[k]);
        break;
    case SOMA_RDM_CORRELATION:
    case SOMA_RDM_COSINE: {
        long bad = n; /* the first condition whose pattern is constant (zero) */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) reduction(min : bad) if ((size_t)n * p > 100000)
#endif
        for (long i = 0; i < n; i++) {
            double *y = Y + i * p, s = 0, raw = 0;
            for (long f = 0; f < p; f++) raw += y[f] * y[f];
            if (metric == SOMA_RDM_CORRELATION) {
                for (long f = 0; f < p; f++) s += y[f];
                s /= p;
                for (long f = 0; f < p; f++) y[f] -= s;
            }
            double ss = 0;
            for (long f = 0; f < p; f++) ss += y[f] * y[f];
            if ((!(ss > 1e-24 * raw) || ss == 0.0) && i < bad) bad = i;
        }
        if (bad < n) {
            st = soma_error(SOMA_ERR_ARG, "rdm: condition %ld is a %s pattern; its %s distance is undefined", bad,
                            metric == SOMA_RDM_CORRELATION ? "constant" : "zero", METRIC_NAMES[metric]);
            goto out;
        }
        gram_(Y, n, p, p, 0.0, G);
        for (long i = 0; i < n; i++)
            for (long j = i + 1; j < n; j++) {
                double c = G[i * n + j] / sqrt(G[i * n + i] * G[j * n + j]);
                rdm[soma_rdm_index(n, (int)i, (int)j)] = 1.0 - c;
            }
        break;
    }
    case SOMA_RDM_MAHALANOBIS:
        if ((st = shrink_cov_(X, n, p, R, o->shrinkage, S, NULL)) != SOMA_OK) goto out;
        if (!centered && (st = center_cols_(Y, n, p)) != SOMA_OK) goto out;
        if ((st = whiten_(S, p, Y, n)) != SOMA_OK) goto out;
        gram_(Y, n, p, p, 0.0, G);
        gram_sqdist_(G, n, 1.0 / p, rdm);
        break;
    case SOMA_RDM_CROSSNOBIS: {
        if ((st = shrink_cov_(X, n, p, R, o->shrinkage, S, NULL)) != SOMA_OK) goto out;
        if ((st = whiten_(S, p, Y, n * R)) != SOMA_OK) goto out;
        /* sum_r G_r: the per-repetition Grams accumulated (beta = 1) */
        for (int r = 0; r < R; r++) gram_(Y + (size_t)r * np, n, p, p, r ? 1.0 : 0.0, G);
        double scale = 1.0 / ((double)R * (R - 1) * p);
        long m = soma_rdm_len(n);
        for (long i = 0; i < n; i++)
            for (long j = i + 1; j < n; j++)
                rdm[soma_rdm_index(n, (int)i, (int)j)] = -(G[i * n + i] + G[j * n + j] - 2.0 * G[i * n + j]);
        /* the sum over repetitions, in place of block 0 */
        for (int r = 1; r < R; r++) cblas_daxpy((int)np, 1.0, Y + (size_t)r * np, 1, Y, 1);
        gram_(Y, n, p, p, 0.0, G);
        for (long i = 0; i < n; i++)
            for (long j = i + 1; j < n; j++)
                rdm[soma_rdm_index(n, (int)i, (int)j)] += G[i * n + i] + G[j * n + j] - 2.0 * G[i * n + j];
        for (long k = 0; k < m; k++) rdm[k] *= scale;
        break;
    }
    default:
        break;
    }
out:
    soma_free(Y);
    soma_free(G);
    soma_free(S);
    return st;
}
