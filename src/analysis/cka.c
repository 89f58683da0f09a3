/* Centered kernel alignment and Procrustes distance (declared in soma/analysis.h).
 *
 * Definitions (the reference is tests/ref/gen_linalg.py, which computes the same in plain
 * NumPy from Kornblith et al. 2019 and Song et al. 2012):
 *
 *   Both matrices are centered (column means removed) first; every kernel below is of the
 *   centered rows. A matrix that is constant (all zero once centered) has no alignment:
 *   SOMA_ERR_ARG.
 *
 *   Linear, biased: CKA = <K, L>_F / (||K||_F ||L||_F), K = X X', L = Y Y' (already centered,
 *   so H K H = K). When min(p, q) < n it is computed in feature space as
 *   ||Y'X||_F^2 / (||X'X||_F ||Y'Y||_F) (the same number: <XX', YY'> = ||Y'X||^2); the norms
 *   ||X'X||_F = ||XX'||_F come from whichever of the two Grams is smaller.
 *
 *   RBF: K_ij = exp(-||xi - xj||^2 / (2 sigma^2)), sigma^2 = sigma_frac^2 * the median of the
 *   squared distances over the n(n-1)/2 pairs i < j (NumPy's median: the mean of the two
 *   middle values when their number is even). A zero median (most rows equal) is an error.
 *   Biased: CKA = <HKH, HLH> / (||HKH|| ||HLH||), H = I - 11'/n.
 *
 *   Unbiased (n >= 4): HSIC_1(K, L) = [tr(K~L~) + 1'K~1 1'L~1 / ((n-1)(n-2))
 *   - 2/(n-2) 1'K~L~1] / (n(n-3)), K~ = K with its diagonal zeroed; CKA = HSIC_1(K, L) /
 *   sqrt(HSIC_1(K, K) HSIC_1(L, L)). A non-positive HSIC_1(K, K) is an error.
 *
 *   Procrustes: X and Y centered and scaled to unit Frobenius norm; nu = ||X'Y||_* (sum of the
 *   singular values, LAPACKE_dgesdd); dist = sqrt(max(0, 2 - 2 nu)), angle = arccos(min(nu,
 *   1)). When p > n, X is first replaced by an n x n matrix Z with Z Z' = X X' (from the
 *   eigendecomposition of X X'), which leaves the singular values of X'Y unchanged; the same
 *   for Y, so the SVD is of at most n x n.
 *
 * Speed: every n x n or p x p product is BLAS (soma__dsyrk_det / soma__dgemm_det: blocks of
 * single-threaded dgemm spread over the threads, see geometry.c); the O(n^2) sums are
 * row-wise partial sums (OpenMP over rows) added in row order, so the result does not depend
 * on the thread count.
 */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/internal.h"
#include "soma/analysis.h"

// --- helpers --------------------------------------------------------------------------------

/* Checks X [n, p] is finite; names the first bad row. */
static soma_status check_finite(const double *X, int n, int p, const char *what) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < p; j++)
            if (!isfinite(X[(size_t)i * p + j]))
                return soma_error(SOMA_ERR_ARG, "%s: row %d holds a non-finite value (column %d)",
                                  what, i, j);
    return SOMA_OK;
}

/* A centered copy of X [n, p] (soma_alloc'd into *out); SOMA_ERR_ARG when it is constant. */
static soma_status centered_copy(const double *X, int n, int p, const char *what, double **out) {
    double *C = soma_alloc((size_t)n * p, sizeof(double));
    if (!C) return SOMA_ERR_NOMEM;
    double *mu = soma_calloc((size_t)p, sizeof(double));
    if (!mu) {
        soma_free(C);
        return SOMA_ERR_NOMEM;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < p; j++) mu[j] += X[(size_t)i * p + j];
    for (int j = 0; j < p; j++) mu[j] /= n;
    double ss = 0, scale = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < p; j++) {
            double v = X[(size_t)i * p + j] - mu[j];
            C[(size_t)i * p + j] = v;
            ss += v * v;
            double a = fabs(X[(size_t)i * p + j]);
            if (a > scale) scale = a;
        }
    soma_free(mu);
    /* constant up to rounding: the centered values are all below 1e-13 of the data's scale */
    if (ss <= 1e-26 * scale * scale * (double)n * p || ss == 0) {
        soma_free(C);
        return soma_error(SOMA_ERR_ARG, "%s: every column is constant; CKA/Procrustes undefined",
                          what);
    }
    *out = C;
    return SOMA_OK;
}

/* Full symmetric n x n Gram G = A A' of A [n, p] (dsyrk fills the upper triangle; mirrored). */
static void gram_full(const double *A, int n, int p, double *G) {
    soma__dsyrk_det(0, n, p, 1.0, A, p, G);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++) G[(size_t)i * n + j] = G[(size_t)j * n + i];
}

/* ||A'A||_F^2 = ||AA'||_F^2 of A [n, p] from the smaller Gram. */
static soma_status gram_fro2(const double *A, int n, int p, double *out) {
    int m = p < n ? p : n;
    double *G = soma_alloc((size_t)m * m, sizeof(double));
    if (!G) return SOMA_ERR_NOMEM;
    if (p < n)
        soma__dsyrk_det(1, p, n, 1.0, A, p, G);
    else
        soma__dsyrk_det(0, n, p, 1.0, A, p, G);
    double *row = soma_alloc((size_t)m, sizeof(double));
    if (!row) {
        soma_free(G);
        return SOMA_ERR_NOMEM;
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (m > 256)
#endif
    for (int i = 0; i < m; i++) {
        const double *g = G + (size_t)i * m;
        double s = g[i] * g[i] * 0.5;
        for (int j = i + 1; j < m; j++) s += g[j] * g[j];
        row[i] = 2 * s;
    }
    double s = 0;
    for (int i = 0; i < m; i++) s += row[i];
    soma_free(row);
    soma_free(G);
    *out = s;
    return SOMA_OK;
}

/* Quickselect: the k-th smallest of a[0..m-1] (reorders a). */
static double select_kth(double *a, long m, long k) {
    long lo = 0, hi = m - 1;
    while (lo < hi) {
        double piv = a[lo + (hi - lo) / 2];
        long i = lo, j = hi;
        while (i <= j) {
            while (a[i] < piv) i++;
            while (a[j] > piv) j--;
            if (i <= j) {
                double t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return a[k];
    }
    return a[k];
}

/* RBF kernel of the centered rows of A [n, p] into K [n, n] (full). */
static soma_status rbf_kernel(const double *A, int n, int p, double sigma_frac, const char *what,
                              double *K) {
    gram_full(A, n, p, K);
    long m = (long)n * (n - 1) / 2;
    double *d2 = soma_alloc((size_t)m, sizeof(double));
    double *sq = soma_alloc((size_t)n, sizeof(double));
    if (!d2 || !sq) {
        soma_free(d2);
        soma_free(sq);
        return SOMA_ERR_NOMEM;
    }
    for (int i = 0; i < n; i++) sq[i] = K[(size_t)i * n + i];
    /* squared distances, in place of the Gram (the diagonal becomes 0) */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n > 256)
#endif
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double v = sq[i] + sq[j] - 2 * K[(size_t)i * n + j];
            K[(size_t)i * n + j] = i == j || v < 0 ? 0 : v;
        }
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) d2[soma_rdm_index(n, i, j)] = K[(size_t)i * n + j];
    double med = select_kth(d2, m, m / 2);
    if (m % 2 == 0) {
        double lower = d2[0]; /* the largest of the values left below m/2 */
        for (long t = 1; t < m / 2; t++)
            if (d2[t] > lower) lower = d2[t];
        med = 0.5 * (med + lower);
    }
    soma_free(d2);
    soma_free(sq);
    if (!(med > 0))
        return soma_error(SOMA_ERR_ARG, "%s: the median squared distance between rows is 0 (most "
                                        "rows equal); RBF bandwidth undefined", what);
    double s2 = sigma_frac * sigma_frac * med;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n > 256)
#endif
    for (long t = 0; t < (long)n * n; t++) K[t] = exp(-K[t] / (2 * s2));
    return SOMA_OK;
}

/* In place H K H of a full symmetric K [n, n]. */
static soma_status double_center(double *K, int n) {
    double *rm = soma_alloc((size_t)n, sizeof(double));
    if (!rm) return SOMA_ERR_NOMEM;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n > 256)
#endif
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < n; j++) s += K[(size_t)i * n + j];
        rm[i] = s / n;
    }
    double g = 0;
    for (int i = 0; i < n; i++) g += rm[i];
    g /= n;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n > 256)
#endif
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) K[(size_t)i * n + j] += g - rm[i] - rm[j];
    soma_free(rm);
    return SOMA_OK;
}

/* <K, L>, <K, K>, <L, L> of full n x n matrices (row partial sums added in order). */
static soma_status frob3(const double *K, const double *L, int n, double *kl, double *kk,
                         double *ll) {
    double *part = soma_alloc((size_t)n * 3, sizeof(double));
    if (!part) return SOMA_ERR_NOMEM;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n > 256)
#endif
    for (int i = 0; i < n; i++) {
        const double *k = K + (size_t)i * n, *l = L + (size_t)i * n;
        double a = 0, b = 0, c = 0;
        for (int j = 0; j < n; j++) {
            a += k[j] * l[j];
            b += k[j] * k[j];
            c += l[j] * l[j];
        }
        part[3 * i] = a, part[3 * i + 1] = b, part[3 * i + 2] = c;
    }
    *kl = *kk = *ll = 0;
    for (int i = 0; i < n; i++) *kl += part[3 * i], *kk += part[3 * i + 1], *ll += part[3 * i + 2];
    soma_free(part);
    return SOMA_OK;
}

/* The three unbiased HSIC_1 values (K,L), (K,K), (L,L) of full kernels K, L [n, n]; the
 * diagonals are ignored (K~). */
static soma_status hsic_unbiased3(const double *K, const double *L, int n, double out[3]) {
    double *part = soma_alloc((size_t)n * 5, sizeof(double)); /* per row: kl kk ll, row sums */
    if (!part) return SOMA_ERR_NOMEM;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n > 256)
#endif
    for (int i = 0; i < n; i++) {
        const double *k = K + (size_t)i * n, *l = L + (size_t)i * n;
        double a = 0, b = 0, c = 0, rk = 0, rl = 0;
        for (int j = 0; j < n; j++) {
            if (j == i) continue;
            a += k[j] * l[j];
            b += k[j] * k[j];
            c += l[j] * l[j];
            rk += k[j];
            rl += l[j];
        }
        double *pp = part + 5 * (size_t)i;
        pp[0] = a, pp[1] = b, pp[2] = c, pp[3] = rk, pp[4] = rl;
    }
    double tkl = 0, tkk = 0, tll = 0, sk = 0, sl = 0, skl = 0, skk = 0, sll = 0;
    for (int i = 0; i < n; i++) {
        const double *pp = part + 5 * (size_t)i;
        tkl += pp[0], tkk += pp[1], tll += pp[2];
        sk += pp[3], sl += pp[4];
        skl += pp[3] * pp[4], skk += pp[3] * pp[3], sll += pp[4] * pp[4];
    }
    soma_free(part);
    double nn = n, c1 = (nn - 1) * (nn - 2), c2 = 2 / (nn - 2), d = nn * (nn - 3);
    out[0] = (tkl + sk * sl / c1 - c2 * skl) / d;
    out[1] = (tkk + sk * sk / c1 - c2 * skk) / d;
    out[2] = (tll + sl * sl / c1 - c2 * sll) / d;
    return SOMA_OK;
}

static soma_status check_pair(const double *X, int p, const double *Y, int q, int n, int min_n,
                              const char *fn) {
    if (!X || !Y) return soma_error(SOMA_ERR_ARG, "%s: NULL data", fn);
    if (n < min_n)
        return soma_error(SOMA_ERR_ARG, "%s: n = %d rows; at least %d are needed", fn, n, min_n);
    if (p < 1 || q < 1)
        return soma_error(SOMA_ERR_ARG, "%s: p = %d, q = %d features; at least 1 each", fn, p, q);
    SOMA_TRY(check_finite(X, n, p, "X"));
    SOMA_TRY(check_finite(Y, n, q, "Y"));
    return SOMA_OK;
}

// --- CKA ----------------------------------------------------------------------------------

soma_status soma_cka(const double *X, int p, const double *Y, int q, int n,
                     const soma_cka_opts *o, double *value) {
    soma_cka_opts d = {SOMA_CKA_LINEAR, 0, 0};
    if (!o) o = &d;
    if (!value) return soma_error(SOMA_ERR_ARG, "cka: NULL output");
    if (o->kernel != SOMA_CKA_LINEAR && o->kernel != SOMA_CKA_RBF)
        return soma_error(SOMA_ERR_ARG, "cka: unknown kernel %d", (int)o->kernel);
    double frac = o->sigma_frac == 0 ? 1.0 : o->sigma_frac;
    if (o->kernel == SOMA_CKA_RBF && !(frac > 0 && isfinite(frac)))
        return soma_error(SOMA_ERR_ARG, "cka: sigma_frac %g must be positive", o->sigma_frac);
    SOMA_TRY(check_pair(X, p, Y, q, n, o->unbiased ? 4 : 2, "cka"));

    double *Xc = NULL, *Yc = NULL, *K = NULL, *L = NULL, *M = NULL;
    soma_status st = centered_copy(X, n, p, "cka: X", &Xc);
    if (st == SOMA_OK) st = centered_copy(Y, n, q, "cka: Y", &Yc);
    if (st != SOMA_OK) goto done;

    if (o->kernel == SOMA_CKA_LINEAR && !o->unbiased && (p < n || q < n)) {
        /* feature space: ||Y'X||^2 / (||X'X|| ||Y'Y||) */
        M = soma_alloc((size_t)q * p, sizeof(double));
        if (!M) {
            st = SOMA_ERR_NOMEM;
            goto done;
        }
        soma__dgemm_det(1, 0, q, p, n, 1.0, Yc, q, Xc, p, 0.0, M, p);
        double *part = soma_alloc((size_t)q, sizeof(double));
        if (!part) {
            st = SOMA_ERR_NOMEM;
            goto done;
        }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((long)q * p > 65536)
#endif
        for (int i = 0; i < q; i++) {
            double s = 0;
            for (int j = 0; j < p; j++) s += M[(size_t)i * p + j] * M[(size_t)i * p + j];
            part[i] = s;
        }
        double xy = 0, xx, yy;
        for (int i = 0; i < q; i++) xy += part[i];
        soma_free(part);
        if ((st = gram_fro2(Xc, n, p, &xx)) != SOMA_OK) goto done;
        if ((st = gram_fro2(Yc, n, q, &yy)) != SOMA_OK) goto done;
        *value = xy / sqrt(xx * yy);
        goto done;
    }

    K = soma_alloc((size_t)n * n, sizeof(double));
    L = soma_alloc((size_t)n * n, sizeof(double));
    if (!K || !L) {
        st = SOMA_ERR_NOMEM;
        goto done;
    }
    if (o->kernel == SOMA_CKA_LINEAR) {
        gram_full(Xc, n, p, K);
        gram_full(Yc, n, q, L);
    } else {
        if ((st = rbf_kernel(Xc, n, p, frac, "cka: X", K)) != SOMA_OK) goto done;
        if ((st = rbf_kernel(Yc, n, q, frac, "cka: Y", L)) != SOMA_OK) goto done;
    }
    if (o->unbiased) {
        double h[3];
        if ((st = hsic_unbiased3(K, L, n, h)) != SOMA_OK) goto done;
        if (!(h[1] > 0) || !(h[2] > 0)) {
            st = soma_error(SOMA_ERR_ARG, "cka: unbiased HSIC of %s with itself is %g (not "
                            "positive); too few rows or a degenerate kernel",
                            h[1] > 0 ? "Y" : "X", h[1] > 0 ? h[2] : h[1]);
            goto done;
        }
        *value = h[0] / sqrt(h[1] * h[2]);
    } else {
        if (o->kernel == SOMA_CKA_RBF) {
            if ((st = double_center(K, n)) != SOMA_OK) goto done;
            if ((st = double_center(L, n)) != SOMA_OK) goto done;
        }
        double kl, kk, ll;
        if ((st = frob3(K, L, n, &kl, &kk, &ll)) != SOMA_OK) goto done;
        if (!(kk > 0) || !(ll > 0)) {
            st = soma_error(SOMA_ERR_ARG, "cka: a centered kernel is zero; CKA undefined");
            goto done;
        }
        *value = kl / sqrt(kk * ll);
    }
done:
    soma_free(Xc);
    soma_free(Yc);
    soma_free(K);
    soma_free(L);
    soma_free(M);
    return st;
}

// --- Procrustes ---------------------------------------------------------------------------

/* Replaces A [n, p] (p > n) by Z [n, n] with Z Z' = A A': Z = U diag(sqrt(max(lambda, 0))). */
static soma_status reduce_cols(const double *A, int n, int p, double *Z) {
    double *w = soma_alloc((size_t)n, sizeof(double));
    if (!w) return SOMA_ERR_NOMEM;
    gram_full(A, n, p, Z);
    int saved[2];
    soma__lapack_serial_begin(saved);
    lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', n, Z, n, w);
    soma__lapack_serial_end(saved);
    if (info != 0) {
        soma_free(w);
        return soma_error(SOMA_ERR_INTERNAL, "procrustes: LAPACKE_dsyevd failed (info %d)",
                          (int)info);
    }
    for (int j = 0; j < n; j++) {
        double s = w[j] > 0 ? sqrt(w[j]) : 0;
        for (int i = 0; i < n; i++) Z[(size_t)i * n + j] *= s;
    }
    soma_free(w);
    return SOMA_OK;
}

static void scale_unit(double *A, size_t m) {
    double ss = 0;
    for (size_t t = 0; t < m; t++) ss += A[t] * A[t];
    double s = 1 / sqrt(ss);
    for (size_t t = 0; t < m; t++) A[t] *= s;
}

soma_status soma_procrustes(const double *X, int p, const double *Y, int q, int n,
                            double *dist, double *angle) {
    SOMA_TRY(check_pair(X, p, Y, q, n, 2, "procrustes"));
    double *Xc = NULL, *Yc = NULL, *Zx = NULL, *Zy = NULL, *M = NULL, *s = NULL;
    soma_status st = centered_copy(X, n, p, "procrustes: X", &Xc);
    if (st == SOMA_OK) st = centered_copy(Y, n, q, "procrustes: Y", &Yc);
    if (st != SOMA_OK) goto done;
    scale_unit(Xc, (size_t)n * p);
    scale_unit(Yc, (size_t)n * q);
    const double *A = Xc, *B = Yc;
    if (p > n) {
        if (!(Zx = soma_alloc((size_t)n * n, sizeof(double)))) goto nomem;
        if ((st = reduce_cols(Xc, n, p, Zx)) != SOMA_OK) goto done;
        A = Zx, p = n;
    }
    if (q > n) {
        if (!(Zy = soma_alloc((size_t)n * n, sizeof(double)))) goto nomem;
        if ((st = reduce_cols(Yc, n, q, Zy)) != SOMA_OK) goto done;
        B = Zy, q = n;
    }
    M = soma_alloc((size_t)p * q, sizeof(double));
    s = soma_alloc((size_t)(p < q ? p : q), sizeof(double));
    if (!M || !s) goto nomem;
    soma__dgemm_det(1, 0, p, q, n, 1.0, A, p, B, q, 0.0, M, q);
    int saved[2];
    soma__lapack_serial_begin(saved);
    lapack_int info =
        LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'N', p, q, M, q, s, NULL, p > q ? p : q, NULL, q);
    soma__lapack_serial_end(saved);
    if (info != 0) {
        st = soma_error(SOMA_ERR_INTERNAL, "procrustes: LAPACKE_dgesdd failed (info %d)",
                        (int)info);
        goto done;
    }
    double nu = 0;
    for (int i = 0; i < (p < q ? p : q); i++) nu += s[i];
    if (dist) *dist = sqrt(fmax(0.0, 2 - 2 * nu));
    if (angle) *angle = acos(fmin(nu, 1.0));
    goto done;
nomem:
    st = SOMA_ERR_NOMEM;
done:
    soma_free(Xc);
    soma_free(Yc);
    soma_free(Zx);
    soma_free(Zy);
    soma_free(M);
    soma_free(s);
    return st;
}
