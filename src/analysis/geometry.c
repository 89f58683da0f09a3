/* Population geometry: PCA, participation ratio, power-law spectra, cross-validated PCA
 * (declared in soma/analysis.h). Reference: tests/ref/gen_linalg.py (NumPy).
 *
 *   PCA: X centered by its column means; when p <= n the p x p covariance Xc'Xc / (n-1)
 *   (a BLAS product) is decomposed by LAPACKE_dsyevd; else the n x n Gram Xc Xc' is, and the
 *   component of the Gram eigenpair (lambda, u) is Xc' u / sqrt(lambda) (one dgemm), with
 *   variance lambda / (n-1). A component whose variance is below 1e-12 of the largest (data
 *   of lower rank than k) is instead completed to an orthonormal set deterministically (Gram-
 *   Schmidt of the unit vectors e_0, e_1, ...). Each component's sign is fixed so that its
 *   largest-|.| entry (the first such) is positive. var is clamped at 0.
 *
 *   Power law: weighted least squares of log lambda_r on log r over ranks lo..hi with weight
 *   1/r (Stringer et al. 2019's get_powerlaw: equal weight per unit of log rank, i.e. as if
 *   sampled at log-spaced ranks); alpha = -slope; r2 = 1 - weighted SSE / weighted SST about
 *   the weighted mean. Entries <= 0 are skipped; at least two must remain.
 *
 *   cvPCA: the components V [k, p] of X1 (soma_pca_fit); each repeat centered by its own
 *   column means; eig[r] = (1/n) sum_i <x1_i, v_r> <x2_i, v_r>.
 *
 * Thread count: threaded OpenBLAS gives dgemm and dsyrk results whose last bits depend on
 * the thread count (its partition of C decides which entries go through its edge kernels),
 * and LAPACK's drivers call the BLAS inside their reductions. So the products of cka.c,
 * ridge.c and this file go through soma__dgemm_det / soma__dsyrk_det: C is cut into blocks of
 * DET_BLOCK rows, fixed by the shape alone; each block is one single-threaded dgemm, and the
 * blocks are spread over the OpenMP threads. Every LAPACKE call runs between
 * soma__lapack_serial_begin / _end, which hold the BLAS at one thread. Same bits on any count.
 * The switch is process-wide (openblas_set_num_threads, both counts restored after):
 * calls made concurrently from several threads stay correct, but their last bits may vary.
 */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "analysis/internal.h"
#include "soma/analysis.h"
#ifdef _OPENMP
#include <omp.h>
#endif

/* OpenBLAS's thread control (weak: another CBLAS has none, and needs none here). */
extern void openblas_set_num_threads(int) __attribute__((weak));
extern int openblas_get_num_threads(void) __attribute__((weak));

void soma__lapack_serial_begin(int saved[2]) {
#ifdef _OPENMP
    /* inside an active parallel region (ours or the caller's) the OpenMP build of OpenBLAS
     * runs on the calling thread alone; nothing to switch, and nothing global to race on */
    if (omp_in_parallel()) {
        saved[0] = 1, saved[1] = -1;
        return;
    }
    saved[0] = omp_get_max_threads();
#else
    saved[0] = 1;
#endif
    saved[1] = openblas_get_num_threads ? openblas_get_num_threads() : 0;
    if (openblas_set_num_threads && saved[1] != 1) openblas_set_num_threads(1);
}

void soma__lapack_serial_end(const int saved[2]) {
    if (saved[1] < 0) return;
    if (openblas_set_num_threads && saved[1] > 1) openblas_set_num_threads(saved[1]);
#ifdef _OPENMP
    /* OpenMP builds of OpenBLAS set the OpenMP count along with their own */
    omp_set_num_threads(saved[0]);
#endif
}

#define DET_BLOCK 64
#define DET_MIN_WORK 4e6 /* multiply-adds below which one thread does all */

void soma__dgemm_det(int ta, int tb, int M, int N, int K, double alpha, const double *A, int lda,
                     const double *B, int ldb, double beta, double *C, int ldc);
void soma__dsyrk_det(int trans, int n, int k, double alpha, const double *A, int lda, double *G);

/* C [M, N] = alpha op(A) op(B) + beta C, row-major; ta/tb 1 for transposed. */
void soma__dgemm_det(int ta, int tb, int M, int N, int K, double alpha, const double *A, int lda,
                     const double *B, int ldb, double beta, double *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    int nb = (M + DET_BLOCK - 1) / DET_BLOCK;
    int saved[2];
    soma__lapack_serial_begin(saved);
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(saved[0]) \
    if (nb > 1 && (double)M * N * K > DET_MIN_WORK)
#endif
    for (int b = 0; b < nb; b++) {
        int r0 = b * DET_BLOCK, m = M - r0 < DET_BLOCK ? M - r0 : DET_BLOCK;
        const double *Ab = ta ? A + r0 : A + (size_t)r0 * lda;
        cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    m, N, K, alpha, Ab, lda, B, ldb, beta, C + (size_t)r0 * ldc, ldc);
    }
    soma__lapack_serial_end(saved);
}

/* The upper triangle of G [n, n] = alpha op(A) op(A)' (op(A) [n, k]; trans 1: A is [k, n]).
 * Entries below the diagonal are unspecified. */
void soma__dsyrk_det(int trans, int n, int k, double alpha, const double *A, int lda, double *G) {
    if (n <= 0) return;
    int nb = (n + DET_BLOCK - 1) / DET_BLOCK;
    int saved[2];
    soma__lapack_serial_begin(saved);
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(saved[0]) \
    if (nb > 1 && (double)n * n * k > 2 * DET_MIN_WORK)
#endif
    for (int b = 0; b < nb; b++) {
        int r0 = b * DET_BLOCK, m = n - r0 < DET_BLOCK ? n - r0 : DET_BLOCK;
        /* rows r0..r0+m of G, columns r0..n: op(A)[r0:r0+m] op(A)[r0:n]' */
        const double *Ab = trans ? A + r0 : A + (size_t)r0 * lda;
        cblas_dgemm(CblasRowMajor, trans ? CblasTrans : CblasNoTrans,
                    trans ? CblasNoTrans : CblasTrans, m, n - r0, k, alpha, Ab, lda, Ab, lda, 0.0,
                    G + (size_t)r0 * n + r0, n);
    }
    soma__lapack_serial_end(saved);
}

static soma_status check_finite(const double *X, int n, int p, const char *what) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < p; j++)
            if (!isfinite(X[(size_t)i * p + j]))
                return soma_error(SOMA_ERR_ARG, "%s: row %d holds a non-finite value (column %d)",
                                  what, i, j);
    return SOMA_OK;
}

/* Xc [n, p] = X - mean; mean [p]. */
static void center(const double *X, int n, int p, double *mean, double *Xc) {
    memset(mean, 0, sizeof(double) * (size_t)p);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < p; j++) mean[j] += X[(size_t)i * p + j];
    for (int j = 0; j < p; j++) mean[j] /= n;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < p; j++) Xc[(size_t)i * p + j] = X[(size_t)i * p + j] - mean[j];
}

void soma_pca_free(soma_pca *m) {
    if (!m) return;
    soma_free(m->mean);
    soma_free(m->components);
    soma_free(m->var);
    memset(m, 0, sizeof *m);
}

/* Orthonormalizes row r of V [k, p] against rows 0..r-1, starting from unit vectors. */
static void complete_row(double *V, int r, int p) {
    double *v = V + (size_t)r * p;
    for (int e = 0; e < p; e++) {
        memset(v, 0, sizeof(double) * (size_t)p);
        v[e] = 1;
        for (int pass = 0; pass < 2; pass++)
            for (int s = 0; s < r; s++) {
                const double *u = V + (size_t)s * p;
                double d = 0;
                for (int j = 0; j < p; j++) d += u[j] * v[j];
                for (int j = 0; j < p; j++) v[j] -= d * u[j];
            }
        double nr = 0;
        for (int j = 0; j < p; j++) nr += v[j] * v[j];
        nr = sqrt(nr);
        if (nr > 1e-6) {
            for (int j = 0; j < p; j++) v[j] /= nr;
            return;
        }
    }
}

soma_status soma_pca_fit(const double *X, int n, int p, int k, soma_pca *out) {
    if (!X || !out) return soma_error(SOMA_ERR_ARG, "pca: NULL argument");
    memset(out, 0, sizeof *out);
    if (n < 2) return soma_error(SOMA_ERR_ARG, "pca: n = %d rows; at least 2 are needed", n);
    if (p < 1) return soma_error(SOMA_ERR_ARG, "pca: p = %d features; at least 1", p);
    int kmax = n - 1 < p ? n - 1 : p;
    if (k == 0) k = kmax;
    if (k < 1 || k > kmax)
        return soma_error(SOMA_ERR_ARG, "pca: k = %d components; 1..%d for %d x %d data", k,
                          kmax, n, p);
    SOMA_TRY(check_finite(X, n, p, "pca: X"));
    int m = p <= n ? p : n; /* size of the eigenproblem */
    double *Xc = soma_alloc((size_t)n * p, sizeof(double));
    double *A = soma_alloc((size_t)m * m, sizeof(double));
    double *w = soma_alloc((size_t)m, sizeof(double));
    out->mean = soma_alloc((size_t)p, sizeof(double));
    out->components = soma_alloc((size_t)k * p, sizeof(double));
    out->var = soma_alloc((size_t)k, sizeof(double));
    double *U = NULL;
    soma_status st = SOMA_OK;
    if (!Xc || !A || !w || !out->mean || !out->components || !out->var) {
        st = SOMA_ERR_NOMEM;
        goto done;
    }
    out->p = p, out->k = k;
    center(X, n, p, out->mean, Xc);
    double tot = 0;
    for (size_t t = 0; t < (size_t)n * p; t++) tot += Xc[t] * Xc[t];
    out->total_var = tot / (n - 1);
    if (p <= n)
        soma__dsyrk_det(1, p, n, 1.0 / (n - 1), Xc, p, A);
    else
        soma__dsyrk_det(0, n, p, 1.0 / (n - 1), Xc, p, A);
    int saved[2];
    soma__lapack_serial_begin(saved);
    lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', m, A, m, w);
    soma__lapack_serial_end(saved);
    if (info != 0) {
        st = soma_error(SOMA_ERR_INTERNAL, "pca: LAPACKE_dsyevd failed (info %d)", (int)info);
        goto done;
    }
    /* eigenvalues ascending: component r is column m-1-r of A */
    double top = w[m - 1] > 0 ? w[m - 1] : 0;
    int good = 0; /* components with a usable eigenvalue */
    for (int r = 0; r < k; r++) {
        double lam = w[m - 1 - r];
        out->var[r] = lam > 0 ? lam : 0;
        if (lam > 1e-12 * top && top > 0) good = r + 1;
    }
    if (p <= n) {
        for (int r = 0; r < k; r++)
            for (int j = 0; j < p; j++)
                out->components[(size_t)r * p + j] = A[(size_t)j * m + (m - 1 - r)];
    } else {
        /* V [k, p] = U_k' Xc / sqrt((n-1) lambda), U_k the top Gram eigenvectors */
        U = soma_alloc((size_t)n * (good > 0 ? good : 1), sizeof(double));
        if (!U) {
            st = SOMA_ERR_NOMEM;
            goto done;
        }
        for (int i = 0; i < n; i++)
            for (int r = 0; r < good; r++)
                U[(size_t)i * good + r] =
                    A[(size_t)i * m + (m - 1 - r)] / sqrt((n - 1) * w[m - 1 - r]);
        if (good > 0)
            soma__dgemm_det(1, 0, good, p, n, 1.0, U, good, Xc, p, 0.0, out->components, p);
    }
    for (int r = good; r < k; r++) complete_row(out->components, r, p);
    for (int r = 0; r < k; r++) {
        double *v = out->components + (size_t)r * p;
        int jm = 0;
        for (int j = 1; j < p; j++)
            if (fabs(v[j]) > fabs(v[jm])) jm = j;
        if (v[jm] < 0)
            for (int j = 0; j < p; j++) v[j] = -v[j];
    }
done:
    soma_free(Xc);
    soma_free(A);
    soma_free(w);
    soma_free(U);
    if (st != SOMA_OK) soma_pca_free(out);
    return st;
}

soma_status soma_pca_transform(const soma_pca *m, const double *X, int n, double *Z) {
    if (!m || !m->components || !X || !Z) return soma_error(SOMA_ERR_ARG, "pca: NULL argument");
    if (n < 1) return soma_error(SOMA_ERR_ARG, "pca: n = %d rows; at least 1", n);
    int p = m->p, k = m->k;
    SOMA_TRY(check_finite(X, n, p, "pca: X"));
    double *Xc = soma_alloc((size_t)n * p, sizeof(double));
    if (!Xc) return SOMA_ERR_NOMEM;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < p; j++) Xc[(size_t)i * p + j] = X[(size_t)i * p + j] - m->mean[j];
    soma__dgemm_det(0, 1, n, k, p, 1.0, Xc, p, m->components, p, 0.0, Z, k);
    soma_free(Xc);
    return SOMA_OK;
}

double soma_participation_ratio(const double *eig, int k) {
    double s = 0, s2 = 0;
    for (int i = 0; i < k; i++) {
        double l = eig[i] > 0 ? eig[i] : 0;
        s += l;
        s2 += l * l;
    }
    return s2 > 0 ? s * s / s2 : 0;
}

soma_status soma_powerlaw_exponent(const double *eig, int k, int lo, int hi, double *alpha,
                                   double *r2) {
    if (!eig || !alpha) return soma_error(SOMA_ERR_ARG, "powerlaw: NULL argument");
    if (lo < 1 || hi > k || lo >= hi)
        return soma_error(SOMA_ERR_ARG, "powerlaw: ranks %d..%d; need 1 <= lo < hi <= k = %d",
                          lo, hi, k);
    double sw = 0, sx = 0, sy = 0;
    int used = 0;
    for (int r = lo; r <= hi; r++) {
        double l = eig[r - 1];
        if (isnan(l) || isinf(l))
            return soma_error(SOMA_ERR_ARG, "powerlaw: eigenvalue %d is not finite", r);
        if (!(l > 0)) continue;
        double wt = 1.0 / r;
        sw += wt, sx += wt * log((double)r), sy += wt * log(l);
        used++;
    }
    if (used < 2)
        return soma_error(SOMA_ERR_ARG, "powerlaw: fewer than 2 positive eigenvalues in ranks "
                                        "%d..%d", lo, hi);
    double mx = sx / sw, my = sy / sw, sxx = 0, sxy = 0, syy = 0;
    for (int r = lo; r <= hi; r++) {
        double l = eig[r - 1];
        if (!(l > 0)) continue;
        double wt = 1.0 / r, dx = log((double)r) - mx, dy = log(l) - my;
        sxx += wt * dx * dx, sxy += wt * dx * dy, syy += wt * dy * dy;
    }
    double slope = sxy / sxx;
    *alpha = -slope;
    if (r2) {
        double sse = syy - slope * sxy;
        *r2 = syy > 0 ? 1 - sse / syy : 1.0;
    }
    return SOMA_OK;
}

soma_status soma_cvpca(const double *X1, const double *X2, int n, int p, int k, double *eig) {
    if (!X1 || !X2 || !eig) return soma_error(SOMA_ERR_ARG, "cvpca: NULL argument");
    SOMA_TRY(check_finite(X2, n < 0 ? 0 : n, p < 0 ? 0 : p, "cvpca: X2"));
    soma_pca m;
    SOMA_TRY(soma_pca_fit(X1, n, p, k, &m));
    k = m.k;
    double *Z1 = soma_alloc((size_t)n * k, sizeof(double));
    double *Z2 = soma_alloc((size_t)n * k, sizeof(double));
    double *mu2 = soma_alloc((size_t)p, sizeof(double));
    double *X2c = soma_alloc((size_t)n * p, sizeof(double));
    soma_status st = SOMA_OK;
    if (!Z1 || !Z2 || !mu2 || !X2c) {
        st = SOMA_ERR_NOMEM;
        goto done;
    }
    center(X2, n, p, mu2, X2c);
    if ((st = soma_pca_transform(&m, X1, n, Z1)) != SOMA_OK) goto done;
    soma__dgemm_det(0, 1, n, k, p, 1.0, X2c, p, m.components, p, 0.0, Z2, k);
    for (int r = 0; r < k; r++) {
        double s = 0;
        for (int i = 0; i < n; i++) s += Z1[(size_t)i * k + r] * Z2[(size_t)i * k + r];
        eig[r] = s / n;
    }
done:
    soma_free(Z1);
    soma_free(Z2);
    soma_free(mu2);
    soma_free(X2c);
    soma_pca_free(&m);
    return st;
}
