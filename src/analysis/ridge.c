/* Ridge encoding models (declared in soma/analysis.h). Reference: tests/ref/gen_linalg.py
 * (np.linalg.solve of the normal equations for each alpha on the same folds).
 *
 *   Fit: for each target t, w_t = argmin ||y_t - X w - b_t||^2 + alpha_t ||w||^2; with
 *   intercept X and Y are centered by their (training) column means and b = ybar - xbar' W.
 *   From one thin SVD X = U S V' (LAPACKE_dgesdd), w(alpha) = V diag(s / (s^2 + alpha)) U'y,
 *   so every alpha and target costs one small product (s = 0 directions get weight 0).
 *
 *   Alpha per target: k-fold CV. Rows go to folds by soma_ridge_folds (a seeded
 *   permutation). For each fold, the model is fitted on the other folds (one SVD) and
 *   predicts the held-out rows for every alpha at once; R^2 = 1 - SSE/SST on the held-out
 *   rows, SST about their own mean. A fold where a target is constant on the held-out rows
 *   (SST = 0) does not count for that target. The alpha of the largest mean R^2 over folds
 *   (the first on ties, in grid order) is chosen and cv_r2 is that mean; then the model is
 *   refitted on all rows with it.
 *
 *   Encode: outer folds from soma_ridge_folds(n, folds, seed); the inner fit of outer fold f
 *   uses seed + 1 + f. r is Pearson's r of the assembled held-out predictions with the mean
 *   response over all n rows (0 when the predictions are constant), r2 = 1 - SSE/SST about the
 *   mean response. Ceiling: Pearson r_h of the mean of the even-indexed repetitions (0, 2,
 *   ...) with the mean of the odd-indexed ones, over the stimuli; ceiling = 2 r_h / (1 + r_h)
 *   (Spearman-Brown), at least -1. alpha is that of a fit on all rows (seed).
 */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "analysis/internal.h"
#include "soma/analysis.h"

#define DEFAULT_FOLDS 5
#define DEFAULT_N_ALPHAS 17

soma_ridge_opts soma_ridge_opts_default(void) {
    soma_ridge_opts o = {NULL, 0, DEFAULT_FOLDS, 1, 0};
    return o;
}

static soma_status check_finite(const double *X, int n, int p, const char *what) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < p; j++)
            if (!isfinite(X[(size_t)i * p + j]))
                return soma_error(SOMA_ERR_ARG, "%s: row %d holds a non-finite value (column %d)",
                                  what, i, j);
    return SOMA_OK;
}

soma_status soma_ridge_folds(int n, int folds, uint64_t seed, int *fold) {
    if (!fold) return soma_error(SOMA_ERR_ARG, "ridge: NULL fold array");
    if (folds < 2 || n < folds)
        return soma_error(SOMA_ERR_ARG, "ridge: %d folds of %d rows; need 2 <= folds <= n",
                          folds, n);
    int *perm = soma_alloc((size_t)n, sizeof(int));
    if (!perm) return SOMA_ERR_NOMEM;
    soma_rng r;
    soma_rng_seed(&r, seed, 0);
    soma_rng_permutation(&r, perm, n);
    for (int i = 0; i < n; i++) fold[perm[i]] = (int)((long)i * folds / n);
    soma_free(perm);
    return SOMA_OK;
}

void soma_ridge_free(soma_ridge *m) {
    if (!m) return;
    soma_free(m->W);
    soma_free(m->b);
    soma_free(m->alpha);
    soma_free(m->cv_r2);
    memset(m, 0, sizeof *m);
}

/* The thin SVD of the (centered) rows of X listed in rows[m] (all rows when rows is NULL):
 * fills xm [p] (zeros without intercept), U [m, r], s [r], VT [r, p]; r = min(m, p). */
typedef struct svd_parts {
    int m, r, p;
    double *xm, *U, *s, *VT;
} svd_parts;

static void svd_free(svd_parts *d) {
    soma_free(d->xm);
    soma_free(d->U);
    soma_free(d->s);
    soma_free(d->VT);
    memset(d, 0, sizeof *d);
}

static soma_status svd_rows(const double *X, int p, const int *rows, int m, int intercept,
                            svd_parts *d) {
    memset(d, 0, sizeof *d);
    int r = m < p ? m : p;
    d->m = m, d->r = r, d->p = p;
    double *A = soma_alloc((size_t)m * p, sizeof(double));
    d->xm = soma_calloc((size_t)p, sizeof(double));
    d->U = soma_alloc((size_t)m * r, sizeof(double));
    d->s = soma_alloc((size_t)r, sizeof(double));
    d->VT = soma_alloc((size_t)r * p, sizeof(double));
    if (!A || !d->xm || !d->U || !d->s || !d->VT) {
        soma_free(A);
        svd_free(d);
        return SOMA_ERR_NOMEM;
    }
    for (int i = 0; i < m; i++) {
        const double *x = X + (size_t)(rows ? rows[i] : i) * p;
        memcpy(A + (size_t)i * p, x, sizeof(double) * (size_t)p);
        if (intercept)
            for (int j = 0; j < p; j++) d->xm[j] += x[j];
    }
    if (intercept) {
        for (int j = 0; j < p; j++) d->xm[j] /= m;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < p; j++) A[(size_t)i * p + j] -= d->xm[j];
    }
    int saved[2];
    soma__lapack_serial_begin(saved);
    lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', m, p, A, p, d->s, d->U, r, d->VT, p);
    soma__lapack_serial_end(saved);
    soma_free(A);
    if (info != 0) {
        svd_free(d);
        return soma_error(SOMA_ERR_INTERNAL, "ridge: LAPACKE_dgesdd failed (info %d)",
                          (int)info);
    }
    return SOMA_OK;
}

static double shrink(double s, double alpha) {
    double den = s * s + alpha;
    return den > 0 ? s / den : 0;
}

/* Targets of Y (rows listed, or all) copied and centered: Yc [m, q], ym [q]. */
static void rows_centered(const double *Y, int q, const int *rows, int m, int intercept,
                          double *Yc, double *ym) {
    memset(ym, 0, sizeof(double) * (size_t)q);
    for (int i = 0; i < m; i++) {
        const double *y = Y + (size_t)(rows ? rows[i] : i) * q;
        memcpy(Yc + (size_t)i * q, y, sizeof(double) * (size_t)q);
        if (intercept)
            for (int t = 0; t < q; t++) ym[t] += y[t];
    }
    if (!intercept) return;
    for (int t = 0; t < q; t++) ym[t] /= m;
    for (int i = 0; i < m; i++)
        for (int t = 0; t < q; t++) Yc[(size_t)i * q + t] -= ym[t];
}

static void default_alphas(double *a) {
    for (int i = 0; i < DEFAULT_N_ALPHAS; i++) a[i] = pow(10.0, -2.0 + 0.5 * i);
}

/* CV of one fold: adds each (alpha, target) held-out R^2 into sum [na, q] and counts into
 * cnt [na, q]. */
static soma_status cv_fold(const double *X, const double *Y, int n, int p, int q, int intercept,
                           const double *alphas, int na, const int *fold, int f, double *sum,
                           int *cnt) {
    int nv = 0;
    for (int i = 0; i < n; i++) nv += fold[i] == f;
    int nt = n - nv;
    int *tr = soma_alloc((size_t)nt, sizeof(int)), *va = soma_alloc((size_t)nv, sizeof(int));
    double *YT = soma_alloc((size_t)nt * q, sizeof(double));
    double *ym = soma_alloc((size_t)q, sizeof(double));
    double *XV = soma_alloc((size_t)nv * p, sizeof(double));
    double *YV = soma_alloc((size_t)nv * q, sizeof(double));
    double *yvm = soma_alloc((size_t)q, sizeof(double));
    svd_parts d = {0};
    double *A = NULL, *As = NULL, *B = NULL, *P = NULL;
    soma_status st = SOMA_OK;
    if (!tr || !va || !YT || !ym || !XV || !YV || !yvm) goto nomem;
    for (int i = 0, a = 0, b = 0; i < n; i++) {
        if (fold[i] == f)
            va[b++] = i;
        else
            tr[a++] = i;
    }
    if ((st = svd_rows(X, p, tr, nt, intercept, &d)) != SOMA_OK) goto done;
    int r = d.r;
    rows_centered(Y, q, tr, nt, intercept, YT, ym);
    rows_centered(Y, q, va, nv, 1, YV, yvm); /* YV about its own mean: for SST */
    for (int i = 0; i < nv; i++)
        for (int j = 0; j < p; j++)
            XV[(size_t)i * p + j] = X[(size_t)va[i] * p + j] - d.xm[j];
    A = soma_alloc((size_t)nv * r, sizeof(double));
    As = soma_alloc((size_t)nv * r, sizeof(double));
    B = soma_alloc((size_t)r * q, sizeof(double));
    P = soma_alloc((size_t)nv * q, sizeof(double));
    if (!A || !As || !B || !P) goto nomem;
    soma__dgemm_det(0, 1, nv, r, p, 1.0, XV, p, d.VT, p, 0.0, A, r);
    soma__dgemm_det(1, 0, r, q, nt, 1.0, d.U, r, YT, q, 0.0, B, q);
    for (int a = 0; a < na; a++) {
        for (int i = 0; i < nv; i++)
            for (int j = 0; j < r; j++)
                As[(size_t)i * r + j] = A[(size_t)i * r + j] * shrink(d.s[j], alphas[a]);
        soma__dgemm_det(0, 0, nv, q, r, 1.0, As, r, B, q, 0.0, P, q);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((long)q * nv > 65536)
#endif
        for (int t = 0; t < q; t++) {
            double sse = 0, sst = 0;
            for (int i = 0; i < nv; i++) {
                /* prediction ym + P; held-out truth yvm + YV */
                double e = (ym[t] + P[(size_t)i * q + t]) - (yvm[t] + YV[(size_t)i * q + t]);
                sse += e * e;
                sst += YV[(size_t)i * q + t] * YV[(size_t)i * q + t];
            }
            if (sst > 1e-300) {
                sum[(size_t)a * q + t] += 1 - sse / sst;
                cnt[(size_t)a * q + t]++;
            }
        }
    }
    goto done;
nomem:
    st = SOMA_ERR_NOMEM;
done:
    soma_free(tr);
    soma_free(va);
    soma_free(YT);
    soma_free(ym);
    soma_free(XV);
    soma_free(YV);
    soma_free(yvm);
    soma_free(A);
    soma_free(As);
    soma_free(B);
    soma_free(P);
    svd_free(&d);
    return st;
}

soma_status soma_ridge_fit_folds(const double *X, const double *Y, int n, int p, int q,
                                 const soma_ridge_opts *o, const int *fold, soma_ridge *out) {
    if (!X || !Y || !out || !fold) return soma_error(SOMA_ERR_ARG, "ridge: NULL argument");
    memset(out, 0, sizeof *out);
    soma_ridge_opts def = soma_ridge_opts_default();
    if (!o) o = &def;
    int k = o->folds ? o->folds : DEFAULT_FOLDS;
    if (p < 1 || q < 1)
        return soma_error(SOMA_ERR_ARG, "ridge: p = %d features, q = %d targets; at least 1 each",
                          p, q);
    if (k < 2) return soma_error(SOMA_ERR_ARG, "ridge: %d folds; at least 2", k);
    if (n < 2 * k)
        return soma_error(SOMA_ERR_ARG, "ridge: n = %d rows for %d folds; at least %d (2 per "
                                        "fold)", n, k, 2 * k);
    double grid[DEFAULT_N_ALPHAS];
    const double *alphas = o->alphas;
    int na = o->n_alphas;
    if (!alphas) {
        default_alphas(grid);
        alphas = grid, na = DEFAULT_N_ALPHAS;
    }
    if (na < 1) return soma_error(SOMA_ERR_ARG, "ridge: %d penalties; at least 1", na);
    for (int a = 0; a < na; a++)
        if (!(alphas[a] >= 0) || !isfinite(alphas[a]))
            return soma_error(SOMA_ERR_ARG, "ridge: penalty %d is %g; need a finite alpha >= 0",
                              a, alphas[a]);
    {
        int *size = soma_calloc((size_t)k, sizeof(int));
        if (!size) return SOMA_ERR_NOMEM;
        int bad = -1;
        for (int i = 0; i < n && bad < 0; i++) {
            if (fold[i] < 0 || fold[i] >= k)
                bad = i;
            else
                size[fold[i]]++;
        }
        int small = -1;
        for (int f = 0; f < k && bad < 0; f++)
            if (size[f] < 2) small = f;
        soma_free(size);
        if (bad >= 0)
            return soma_error(SOMA_ERR_ARG, "ridge: row %d is in fold %d; folds are 0..%d", bad,
                              fold[bad], k - 1);
        if (small >= 0)
            return soma_error(SOMA_ERR_ARG, "ridge: fold %d has fewer than 2 rows", small);
    }
    SOMA_TRY(check_finite(X, n, p, "ridge: X"));
    SOMA_TRY(check_finite(Y, n, q, "ridge: Y"));
    for (int t = 0; t < q; t++) {
        int varies = 0;
        for (int i = 1; i < n && !varies; i++) varies = Y[(size_t)i * q + t] != Y[t];
        if (!varies)
            return soma_error(SOMA_ERR_ARG, "ridge: target %d is constant; R^2 undefined", t);
    }

    double *sum = soma_calloc((size_t)na * q, sizeof(double));
    int *cnt = soma_calloc((size_t)na * q, sizeof(int));
    double *Yc = soma_alloc((size_t)n * q, sizeof(double));
    double *ym = soma_alloc((size_t)q, sizeof(double));
    double *B = NULL;
    svd_parts d = {0};
    soma_status st = SOMA_OK;
    out->W = soma_alloc((size_t)p * q, sizeof(double));
    out->b = soma_alloc((size_t)q, sizeof(double));
    out->alpha = soma_alloc((size_t)q, sizeof(double));
    out->cv_r2 = soma_alloc((size_t)q, sizeof(double));
    if (!sum || !cnt || !Yc || !ym || !out->W || !out->b || !out->alpha || !out->cv_r2) goto nomem;
    out->p = p, out->q = q;
    {
        /* the folds in parallel, each on one thread (LAPACK and BLAS included), into arrays of
         * their own; summed in fold order below, so the bits do not depend on the count */
        size_t per = (size_t)na * q;
        double *fsum = soma_calloc((size_t)k * per, sizeof(double));
        int *fcnt = soma_calloc((size_t)k * per, sizeof(int));
        soma_status *fst = soma_alloc((size_t)k, sizeof(soma_status));
        if (!fsum || !fcnt || !fst) {
            soma_free(fsum), soma_free(fcnt), soma_free(fst);
            goto nomem;
        }
        int saved[2];
        soma__lapack_serial_begin(saved);
        double work = (double)n * p * (n < p ? n : p);
        (void)work;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(saved[0]) if (work > 4e6)
#endif
        for (int f = 0; f < k; f++)
            fst[f] = cv_fold(X, Y, n, p, q, o->intercept, alphas, na, fold, f, fsum + f * per,
                             fcnt + f * per);
        soma__lapack_serial_end(saved);
        for (int f = 0; f < k && st == SOMA_OK; f++)
            if (fst[f] != SOMA_OK)
                st = fst[f] == SOMA_ERR_NOMEM
                         ? soma_error(SOMA_ERR_NOMEM, "ridge: out of memory in CV fold %d", f)
                         : soma_error(fst[f], "ridge: CV fold %d failed (%s)", f,
                                      soma_status_str(fst[f]));
        for (int f = 0; f < k && st == SOMA_OK; f++)
            for (size_t t = 0; t < per; t++) {
                sum[t] += fsum[f * per + t];
                cnt[t] += fcnt[f * per + t];
            }
        soma_free(fsum), soma_free(fcnt), soma_free(fst);
        if (st != SOMA_OK) goto done;
    }
    for (int t = 0; t < q; t++) {
        int best = -1;
        double bv = -INFINITY;
        for (int a = 0; a < na; a++) {
            int c = cnt[(size_t)a * q + t];
            if (!c) continue;
            double v = sum[(size_t)a * q + t] / c;
            if (v > bv) bv = v, best = a;
        }
        if (best < 0) {
            st = soma_error(SOMA_ERR_ARG, "ridge: target %d is constant on every held-out fold; "
                                          "use fewer folds", t);
            goto done;
        }
        out->alpha[t] = alphas[best];
        out->cv_r2[t] = bv;
    }
    /* refit on all rows */
    if ((st = svd_rows(X, p, NULL, n, o->intercept, &d)) != SOMA_OK) goto done;
    rows_centered(Y, q, NULL, n, o->intercept, Yc, ym);
    B = soma_alloc((size_t)d.r * q, sizeof(double));
    if (!B) goto nomem;
    soma__dgemm_det(1, 0, d.r, q, n, 1.0, d.U, d.r, Yc, q, 0.0, B, q);
    for (int j = 0; j < d.r; j++)
        for (int t = 0; t < q; t++) B[(size_t)j * q + t] *= shrink(d.s[j], out->alpha[t]);
    soma__dgemm_det(1, 0, p, q, d.r, 1.0, d.VT, p, B, q, 0.0, out->W, q);
    for (int t = 0; t < q; t++) {
        double b = ym[t];
        for (int j = 0; j < p; j++) b -= d.xm[j] * out->W[(size_t)j * q + t];
        out->b[t] = o->intercept ? b : 0;
    }
    goto done;
nomem:
    st = SOMA_ERR_NOMEM;
done:
    soma_free(sum);
    soma_free(cnt);
    soma_free(Yc);
    soma_free(ym);
    soma_free(B);
    svd_free(&d);
    if (st != SOMA_OK) soma_ridge_free(out);
    return st;
}

soma_status soma_ridge_fit(const double *X, const double *Y, int n, int p, int q,
                           const soma_ridge_opts *o, soma_ridge *out) {
    if (!out) return soma_error(SOMA_ERR_ARG, "ridge: NULL output");
    memset(out, 0, sizeof *out);
    soma_ridge_opts def = soma_ridge_opts_default();
    if (!o) o = &def;
    int k = o->folds ? o->folds : DEFAULT_FOLDS;
    if (k < 2) return soma_error(SOMA_ERR_ARG, "ridge: %d folds; at least 2", k);
    if (n < 2 * k)
        return soma_error(SOMA_ERR_ARG, "ridge: n = %d rows for %d folds; at least %d (2 per "
                                        "fold)", n, k, 2 * k);
    int *fold = soma_alloc((size_t)n, sizeof(int));
    if (!fold) return SOMA_ERR_NOMEM;
    soma_status st = soma_ridge_folds(n, k, o->seed, fold);
    if (st == SOMA_OK) st = soma_ridge_fit_folds(X, Y, n, p, q, o, fold, out);
    soma_free(fold);
    return st;
}

soma_status soma_ridge_predict(const soma_ridge *m, const double *X, int n, double *Yhat) {
    if (!m || !m->W || !X || !Yhat) return soma_error(SOMA_ERR_ARG, "ridge: NULL argument");
    if (n < 1) return soma_error(SOMA_ERR_ARG, "ridge: n = %d rows; at least 1", n);
    SOMA_TRY(check_finite(X, n, m->p, "ridge: X"));
    for (int i = 0; i < n; i++) memcpy(Yhat + (size_t)i * m->q, m->b, sizeof(double) * m->q);
    soma__dgemm_det(0, 0, n, m->q, m->p, 1.0, X, m->p, m->W, m->q, 1.0, Yhat, m->q);
    return SOMA_OK;
}

// --- encoding models ------------------------------------------------------------------------

void soma_encode_result_free(soma_encode_result *r) {
    if (!r) return;
    soma_free(r->r);
    soma_free(r->r2);
    soma_free(r->ceiling);
    soma_free(r->alpha);
    memset(r, 0, sizeof *r);
}

/* Pearson r of columns t of A and B [n, q]; *ok = 0 when either is constant. */
static double col_pearson(const double *A, const double *B, int n, int q, int t, int *ok) {
    double ma = 0, mb = 0;
    for (int i = 0; i < n; i++) ma += A[(size_t)i * q + t], mb += B[(size_t)i * q + t];
    ma /= n, mb /= n;
    double sab = 0, saa = 0, sbb = 0;
    for (int i = 0; i < n; i++) {
        double a = A[(size_t)i * q + t] - ma, b = B[(size_t)i * q + t] - mb;
        sab += a * b, saa += a * a, sbb += b * b;
    }
    *ok = saa > 0 && sbb > 0;
    return *ok ? sab / sqrt(saa * sbb) : 0;
}

soma_status soma_encode(const double *X, int n, int p, const double *Y, int q, int n_rep,
                        const soma_ridge_opts *o, soma_encode_result *out) {
    if (!X || !Y || !out) return soma_error(SOMA_ERR_ARG, "encode: NULL argument");
    memset(out, 0, sizeof *out);
    soma_ridge_opts def = soma_ridge_opts_default();
    if (!o) o = &def;
    int k = o->folds ? o->folds : DEFAULT_FOLDS;
    if (n_rep < 1) return soma_error(SOMA_ERR_ARG, "encode: n_rep = %d; at least 1", n_rep);
    if (p < 1 || q < 1)
        return soma_error(SOMA_ERR_ARG, "encode: p = %d features, q = %d targets; at least 1 "
                                        "each", p, q);
    if (k < 2) return soma_error(SOMA_ERR_ARG, "encode: %d folds; at least 2", k);
    /* the smallest outer training set must hold 2 rows per inner fold */
    int nt_min = n - (n + k - 1) / k;
    if (n < 2 * k || nt_min < 2 * k)
        return soma_error(SOMA_ERR_ARG, "encode: n = %d stimuli are too few for %d nested "
                                        "folds (every inner fold needs 2 rows)", n, k);
    SOMA_TRY(check_finite(X, n, p, "encode: X"));
    SOMA_TRY(check_finite(Y, n, q * n_rep, "encode: Y"));

    double *Ym = soma_alloc((size_t)n * q, sizeof(double));
    double *Yhat = soma_alloc((size_t)n * q, sizeof(double));
    double *XT = soma_alloc((size_t)n * p, sizeof(double));
    double *YT = soma_alloc((size_t)n * q, sizeof(double));
    double *XV = soma_alloc((size_t)n * p, sizeof(double));
    double *PV = soma_alloc((size_t)n * q, sizeof(double));
    double *H0 = NULL, *H1 = NULL;
    int *fold = soma_alloc((size_t)n, sizeof(int)), *va = soma_alloc((size_t)n, sizeof(int));
    soma_ridge m = {0};
    soma_status st = SOMA_OK;
    out->r = soma_alloc((size_t)q, sizeof(double));
    out->r2 = soma_alloc((size_t)q, sizeof(double));
    out->ceiling = soma_alloc((size_t)q, sizeof(double));
    out->alpha = soma_alloc((size_t)q, sizeof(double));
    if (!Ym || !Yhat || !XT || !YT || !XV || !PV || !fold || !va || !out->r || !out->r2 ||
        !out->ceiling || !out->alpha)
        goto nomem;
    out->q = q;
    for (int i = 0; i < n; i++)
        for (int t = 0; t < q; t++) {
            double s = 0;
            for (int r = 0; r < n_rep; r++) s += Y[((size_t)i * q + t) * n_rep + r];
            Ym[(size_t)i * q + t] = s / n_rep;
        }
    if ((st = soma_ridge_folds(n, k, o->seed, fold)) != SOMA_OK) goto done;
    for (int f = 0; f < k; f++) {
        if (soma_cancel_requested()) {
            st = soma_error(SOMA_ERR_CANCELLED, "encode: cancelled at outer fold %d of %d", f + 1, k);
            goto done;
        }
        int nt = 0, nv = 0;
        for (int i = 0; i < n; i++) {
            if (fold[i] == f) {
                va[nv] = i;
                memcpy(XV + (size_t)nv * p, X + (size_t)i * p, sizeof(double) * p);
                nv++;
            } else {
                memcpy(XT + (size_t)nt * p, X + (size_t)i * p, sizeof(double) * p);
                memcpy(YT + (size_t)nt * q, Ym + (size_t)i * q, sizeof(double) * q);
                nt++;
            }
        }
        soma_ridge_opts inner = *o;
        inner.folds = k;
        inner.seed = o->seed + 1 + (uint64_t)f;
        if ((st = soma_ridge_fit(XT, YT, nt, p, q, &inner, &m)) != SOMA_OK) {
            st = soma_error_wrap(st, "encode: outer fold %d", f);
            goto done;
        }
        st = soma_ridge_predict(&m, XV, nv, PV);
        soma_ridge_free(&m);
        if (st != SOMA_OK) goto done;
        for (int i = 0; i < nv; i++)
            memcpy(Yhat + (size_t)va[i] * q, PV + (size_t)i * q, sizeof(double) * q);
    }
    for (int t = 0; t < q; t++) {
        int ok;
        out->r[t] = col_pearson(Yhat, Ym, n, q, t, &ok);
        double mu = 0, sse = 0, sst = 0;
        for (int i = 0; i < n; i++) mu += Ym[(size_t)i * q + t];
        mu /= n;
        for (int i = 0; i < n; i++) {
            double e = Yhat[(size_t)i * q + t] - Ym[(size_t)i * q + t];
            double c = Ym[(size_t)i * q + t] - mu;
            sse += e * e, sst += c * c;
        }
        out->r2[t] = 1 - sse / sst; /* sst > 0: a constant target failed in the fits above */
    }
    /* split-half ceiling */
    if (n_rep >= 2) {
        H0 = soma_calloc((size_t)n * q, sizeof(double));
        H1 = soma_calloc((size_t)n * q, sizeof(double));
        if (!H0 || !H1) goto nomem;
        int c0 = (n_rep + 1) / 2, c1 = n_rep / 2;
        for (int i = 0; i < n; i++)
            for (int t = 0; t < q; t++) {
                const double *y = Y + ((size_t)i * q + t) * n_rep;
                for (int r = 0; r < n_rep; r++) {
                    if (r % 2 == 0)
                        H0[(size_t)i * q + t] += y[r] / c0;
                    else
                        H1[(size_t)i * q + t] += y[r] / c1;
                }
            }
        for (int t = 0; t < q; t++) {
            int ok;
            double rh = col_pearson(H0, H1, n, q, t, &ok);
            if (!ok) {
                st = soma_error(SOMA_ERR_ARG, "encode: target %d: the even or the odd "
                                              "repetitions are constant; ceiling undefined", t);
                goto done;
            }
            double c = 1 + rh > 1e-12 ? 2 * rh / (1 + rh) : -1;
            out->ceiling[t] = c < -1 ? -1 : c;
        }
    } else {
        for (int t = 0; t < q; t++) out->ceiling[t] = NAN;
    }
    if ((st = soma_ridge_fit(X, Ym, n, p, q, o, &m)) != SOMA_OK) {
        st = soma_error_wrap(st, "encode: full fit");
        goto done;
    }
    memcpy(out->alpha, m.alpha, sizeof(double) * q);
    soma_ridge_free(&m);
    double sr = 0, sr2 = 0, sc = 0, sn = 0;
    int nn = 0;
    for (int t = 0; t < q; t++) {
        sr += out->r[t], sr2 += out->r2[t], sc += out->ceiling[t];
        if (out->ceiling[t] > 0) sn += out->r[t] / sqrt(out->ceiling[t]), nn++;
    }
    out->mean_r = sr / q, out->mean_r2 = sr2 / q;
    out->mean_ceiling = n_rep >= 2 ? sc / q : NAN;
    out->mean_r_norm = nn ? sn / nn : NAN;
    goto done;
nomem:
    st = SOMA_ERR_NOMEM;
done:
    soma_free(Ym);
    soma_free(Yhat);
    soma_free(XT);
    soma_free(YT);
    soma_free(XV);
    soma_free(PV);
    soma_free(H0);
    soma_free(H1);
    soma_free(fold);
    soma_free(va);
    soma_ridge_free(&m);
    if (st != SOMA_OK) soma_encode_result_free(out);
    return st;
}
