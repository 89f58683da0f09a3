// CKA, Procrustes, ridge encoding models and population geometry (src/analysis/cka.c,
// ridge.c, geometry.c): values against NumPy fixtures (tests/ref/gen_linalg.py ->
// tests/fixtures/linalg/*.bin) to 1e-5 relative, invariances, known answers on synthetic data
// (ridge recovers W, the split-half ceiling matches the theoretical reliability, cvPCA recovers
// a signal spectrum under noise), and bad inputs.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "check.h"
#include "fixture.h"
#include "soma/analysis.h"

// --- helpers ----------------------------------------------------------------------------------

/* A fixture array as doubles (malloc'd), or NULL (a failed check) when it is missing. */
static double *arr(const fixture *f, const char *name, size_t *n) {
    const fixture_array *a = fixture_get(f, name);
    check_count_++;
    if (!a) {
        check_failures_++;
        fprintf(stderr, "fixture %s: no array '%s'; HINT: re-run tests/ref/gen_linalg.py\n",
                f->spec, name);
        return NULL;
    }
    double *d = malloc(a->n * sizeof(double));
    for (size_t i = 0; i < a->n; i++) d[i] = a->data[i];
    if (n) *n = a->n;
    return d;
}

/* |got - ref| <= atol + rtol |ref| everywhere; counts one check. */
static void close_d(const char *label, const double *got, const double *ref, size_t n, double atol,
                    double rtol) {
    check_count_++;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(got[i] - ref[i]);
        if (!(e <= atol + rtol * fabs(ref[i]))) {
            check_failures_++;
            fprintf(stderr, "%s: [%zu] got %.10g, want %.10g (|diff| %.3g)\n", label, i, got[i],
                    ref[i], e);
            return;
        }
    }
}

static double max_abs(const double *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}

static void fill_normal(soma_rng *r, double *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = soma_rng_normal(r);
}

/* A random orthogonal p x p matrix (Gram-Schmidt of a Gaussian one; test code). */
static void random_orthogonal(soma_rng *r, double *Q, int p) {
    fill_normal(r, Q, (size_t)p * p);
    for (int i = 0; i < p; i++) {
        double *q = Q + (size_t)i * p;
        for (int pass = 0; pass < 2; pass++)
            for (int j = 0; j < i; j++) {
                const double *u = Q + (size_t)j * p;
                double d = 0;
                for (int t = 0; t < p; t++) d += u[t] * q[t];
                for (int t = 0; t < p; t++) q[t] -= d * u[t];
            }
        double s = 0;
        for (int t = 0; t < p; t++) s += q[t] * q[t];
        for (int t = 0; t < p; t++) q[t] /= sqrt(s);
    }
}

/* C [n, m] = A [n, k] B [k, m] (test code, small). */
static void matmul(const double *A, const double *B, int n, int k, int m, double *C) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) {
            double s = 0;
            for (int t = 0; t < k; t++) s += A[(size_t)i * k + t] * B[(size_t)t * m + j];
            C[(size_t)i * m + j] = s;
        }
}

static const soma_cka_opts CKA_CASES[4] = {
    {SOMA_CKA_LINEAR, 0, 0}, {SOMA_CKA_LINEAR, 0, 1}, {SOMA_CKA_RBF, 1.0, 0},
    {SOMA_CKA_RBF, 0.5, 1}};
static const char *CKA_NAMES[4] = {"linear biased", "linear unbiased", "rbf biased",
                                   "rbf unbiased"};

// --- CKA and Procrustes -------------------------------------------------------------------------

static void test_cka_fixture(void) {
    fixture f;
    check_count_++;
    if (fixture_load(check_src_path("tests/fixtures/linalg/cka.bin"), &f) != 0) {
        check_failures_++;
        return;
    }
    for (int c = 1; c <= 2; c++) {
        char nx[16], ny[16], nc[16], np_[16];
        snprintf(nx, sizeof nx, "X%d", c);
        snprintf(ny, sizeof ny, "Y%d", c);
        snprintf(nc, sizeof nc, "cka%d", c);
        snprintf(np_, sizeof np_, "proc%d", c);
        const fixture_array *ax = fixture_get(&f, nx), *ay = fixture_get(&f, ny);
        double *X = arr(&f, nx, NULL), *Y = arr(&f, ny, NULL), *ref = arr(&f, nc, NULL);
        double *pref = arr(&f, np_, NULL);
        if (!X || !Y || !ref || !pref) continue;
        int n = ax->dims[0], p = ax->dims[1], q = ay->dims[1];
        for (int k = 0; k < 4; k++) {
            double v = NAN;
            CHECK_OK(soma_cka(X, p, Y, q, n, &CKA_CASES[k], &v));
            char label[64];
            snprintf(label, sizeof label, "cka case %d %s", c, CKA_NAMES[k]);
            close_d(label, &v, &ref[k], 1, 0, 1e-5);
        }
        double v0 = NAN;
        soma_cka_opts def_sigma = {SOMA_CKA_RBF, 0, 0}; /* sigma_frac 0 means 1 */
        CHECK_OK(soma_cka(X, p, Y, q, n, &def_sigma, &v0));
        close_d("cka rbf default sigma", &v0, &ref[2], 1, 0, 1e-5);
        double pd[2] = {NAN, NAN};
        CHECK_OK(soma_procrustes(X, p, Y, q, n, &pd[0], &pd[1]));
        close_d("procrustes", pd, pref, 2, 0, 1e-5);
        /* swapping the matrices changes nothing */
        double v1, v2;
        CHECK_OK(soma_cka(Y, q, X, p, n, &CKA_CASES[3], &v1));
        close_d("cka symmetric", &v1, &ref[3], 1, 0, 1e-5);
        CHECK_OK(soma_procrustes(Y, q, X, p, n, &v1, &v2));
        close_d("procrustes symmetric", &v1, &pd[0], 1, 0, 1e-9);
        free(X), free(Y), free(ref), free(pref);
    }
    fixture_free(&f);
}

/* CKA and Procrustes are invariant to an orthogonal transform plus isotropic scaling (and a
 * shift) of either matrix; CKA(X, X) = 1; Procrustes(X, X Q s) = 0. Both CKA routes. */
static void test_cka_invariance(void) {
    soma_rng r;
    soma_rng_seed(&r, 11, 0);
    const int shapes[2][3] = {{50, 20, 30}, {24, 40, 35}}; /* feature route, Gram route */
    for (int s = 0; s < 2; s++) {
        int n = shapes[s][0], p = shapes[s][1], q = shapes[s][2];
        double *X = malloc(sizeof(double) * n * p), *Y = malloc(sizeof(double) * n * q);
        double *Q = malloc(sizeof(double) * p * p), *XQ = malloc(sizeof(double) * n * p);
        double *M = malloc(sizeof(double) * p * q);
        fill_normal(&r, X, (size_t)n * p);
        fill_normal(&r, M, (size_t)p * q);
        matmul(X, M, n, p, q, Y);
        for (int i = 0; i < n * q; i++) Y[i] = tanh(Y[i] / 4) + 0.5 * soma_rng_normal(&r);
        random_orthogonal(&r, Q, p);
        matmul(X, Q, n, p, p, XQ);
        for (int i = 0; i < n * p; i++) XQ[i] = 3.7 * XQ[i] + 1.25; /* scale and shift */
        for (int k = 0; k < 4; k++) {
            double a = NAN, b = NAN, self = NAN;
            CHECK_OK(soma_cka(X, p, Y, q, n, &CKA_CASES[k], &a));
            CHECK_OK(soma_cka(XQ, p, Y, q, n, &CKA_CASES[k], &b));
            CHECK_OK(soma_cka(X, p, XQ, p, n, &CKA_CASES[k], &self));
            char label[64];
            snprintf(label, sizeof label, "cka invariance %s (shape %d)", CKA_NAMES[k], s);
            close_d(label, &b, &a, 1, 1e-6, 0);
            double one = 1;
            snprintf(label, sizeof label, "cka(X, XQs) = 1 %s (shape %d)", CKA_NAMES[k], s);
            close_d(label, &self, &one, 1, 1e-6, 0);
            CHECK(a > 0.05 && a < 0.999); /* a real, non-trivial value */
        }
        double d = NAN, ang = NAN, d2, ang2;
        CHECK_OK(soma_procrustes(X, p, XQ, p, n, &d, &ang));
        CHECK(fabs(d) < 1e-6 && fabs(ang) < 1e-3);
        CHECK_OK(soma_procrustes(X, p, Y, q, n, &d, &ang));
        CHECK_OK(soma_procrustes(XQ, p, Y, q, n, &d2, &ang2));
        close_d("procrustes invariance", &d2, &d, 1, 1e-9, 0);
        CHECK(d > 0.1 && ang > 0.05);
        free(X), free(Y), free(Q), free(XQ), free(M);
    }
}

static void test_cka_bad(void) {
    double X[6 * 3], Y[6 * 2], Z[6 * 2];
    soma_rng r;
    soma_rng_seed(&r, 3, 0);
    fill_normal(&r, X, 18);
    fill_normal(&r, Y, 12);
    for (int i = 0; i < 12; i++) Z[i] = i % 2; /* constant columns */
    soma_cka_opts ub = {SOMA_CKA_LINEAR, 0, 1}, rb = {SOMA_CKA_RBF, 0, 0};
    double v;
    CHECK_FAILS(soma_cka(X, 3, Y, 2, 3, &ub, &v), SOMA_ERR_ARG); /* n < 4 unbiased */
    CHECK_FAILS(soma_cka(X, 3, Y, 2, 1, NULL, &v), SOMA_ERR_ARG);
    CHECK_FAILS(soma_cka(X, 0, Y, 2, 6, NULL, &v), SOMA_ERR_ARG);
    CHECK_FAILS(soma_cka(X, 3, Z, 2, 6, NULL, &v), SOMA_ERR_ARG);
    CHECK_FAILS(soma_cka(X, 3, Z, 2, 6, &rb, &v), SOMA_ERR_ARG);
    CHECK_FAILS(soma_procrustes(X, 3, Z, 2, 6, &v, NULL), SOMA_ERR_ARG);
    double rep[6 * 2];
    for (int i = 0; i < 12; i++) rep[i] = i < 10 ? 1.0 : 2.0 * i; /* 5 equal rows of 6 */
    CHECK_FAILS(soma_cka(X, 3, rep, 2, 6, &rb, &v), SOMA_ERR_ARG); /* median distance 0 */
    X[7] = NAN;
    CHECK_FAILS(soma_cka(X, 3, Y, 2, 6, NULL, &v), SOMA_ERR_ARG);
    CHECK(strstr(soma_errmsg(), "row 2") != NULL);
    CHECK_FAILS(soma_procrustes(Y, 2, X, 3, 6, &v, NULL), SOMA_ERR_ARG);
    X[7] = INFINITY;
    CHECK_FAILS(soma_cka(Y, 2, X, 3, 6, &ub, &v), SOMA_ERR_ARG);
    X[7] = 0;
    soma_cka_opts bad = {SOMA_CKA_RBF, -1, 0};
    CHECK_FAILS(soma_cka(X, 3, Y, 2, 6, &bad, &v), SOMA_ERR_ARG);
}

// --- ridge ---------------------------------------------------------------------------------------

static void test_ridge_fixture(void) {
    fixture f;
    check_count_++;
    if (fixture_load(check_src_path("tests/fixtures/linalg/ridge.bin"), &f) != 0) {
        check_failures_++;
        return;
    }
    size_t na, nf;
    double *X = arr(&f, "X", NULL), *Y = arr(&f, "Y", NULL), *foldd = arr(&f, "fold", &nf);
    double *alphas = arr(&f, "alphas", &na), *sel = arr(&f, "alpha_sel", NULL);
    double *cv = arr(&f, "cv_r2", NULL), *W = arr(&f, "W", NULL), *b = arr(&f, "b", NULL);
    double *W1 = arr(&f, "W1", NULL), *b1 = arr(&f, "b1", NULL), *W0 = arr(&f, "W0", NULL);
    double *Xw = arr(&f, "Xw", NULL), *Yw = arr(&f, "Yw", NULL), *Ww = arr(&f, "Ww", NULL);
    double *bw = arr(&f, "bw", NULL);
    if (!X || !Y || !foldd || !alphas || !sel || !cv || !W || !b || !W1 || !b1 || !W0 || !Xw ||
        !Yw || !Ww || !bw)
        goto out;
    {
        int n = 60, p = 8, q = 3;
        int *fold = malloc(sizeof(int) * nf);
        for (size_t i = 0; i < nf; i++) fold[i] = (int)foldd[i];
        soma_ridge_opts o = soma_ridge_opts_default();
        o.alphas = alphas, o.n_alphas = (int)na, o.folds = 5;
        soma_ridge m;
        CHECK_OK(soma_ridge_fit_folds(X, Y, n, p, q, &o, fold, &m));
        if (m.W) {
            close_d("ridge cv alpha", m.alpha, sel, 3, 0, 1e-6);
            close_d("ridge cv r2", m.cv_r2, cv, 3, 1e-6, 1e-5);
            close_d("ridge cv W", m.W, W, (size_t)p * q, 1e-6 * max_abs(W, p * q), 1e-5);
            close_d("ridge cv b", m.b, b, 3, 1e-6, 1e-5);
            /* predict = X W + b */
            double *P = malloc(sizeof(double) * n * q), *P2 = malloc(sizeof(double) * n * q);
            CHECK_OK(soma_ridge_predict(&m, X, n, P));
            matmul(X, m.W, n, p, q, P2);
            for (int i = 0; i < n * q; i++) P2[i] += m.b[i % q];
            close_d("ridge predict", P, P2, (size_t)n * q, 1e-9, 1e-9);
            free(P), free(P2);
        }
        soma_ridge_free(&m);
        free(fold);
        /* one penalty: the closed form, folds irrelevant */
        double a1 = 3.0;
        o.alphas = &a1, o.n_alphas = 1;
        CHECK_OK(soma_ridge_fit(X, Y, n, p, q, &o, &m));
        if (m.W) {
            close_d("ridge W alpha 3", m.W, W1, (size_t)p * q, 1e-6 * max_abs(W1, p * q), 1e-5);
            close_d("ridge b alpha 3", m.b, b1, 3, 1e-6, 1e-5);
        }
        soma_ridge_free(&m);
        o.intercept = 0;
        CHECK_OK(soma_ridge_fit(X, Y, n, p, q, &o, &m));
        if (m.W) {
            close_d("ridge W no intercept", m.W, W0, (size_t)p * q, 1e-6 * max_abs(W0, p * q),
                    1e-5);
            CHECK(m.b[0] == 0 && m.b[1] == 0 && m.b[2] == 0);
        }
        soma_ridge_free(&m);
        /* p > n */
        double aw = 0.5;
        o = soma_ridge_opts_default();
        o.alphas = &aw, o.n_alphas = 1, o.folds = 4;
        CHECK_OK(soma_ridge_fit(Xw, Yw, 20, 30, 2, &o, &m));
        if (m.W) {
            close_d("ridge W p > n", m.W, Ww, 60, 1e-6 * max_abs(Ww, 60), 1e-5);
            close_d("ridge b p > n", m.b, bw, 2, 1e-6, 1e-5);
        }
        soma_ridge_free(&m);
    }
out:
    free(X), free(Y), free(foldd), free(alphas), free(sel), free(cv), free(W), free(b);
    free(W1), free(b1), free(W0), free(Xw), free(Yw), free(Ww), free(bw);
    fixture_free(&f);
}

/* The default grid and seeded folds recover a known W at low noise; folds are balanced and
 * the same for a seed. */
static void test_ridge_recovers(void) {
    int n = 400, p = 10, q = 3;
    soma_rng r;
    soma_rng_seed(&r, 5, 0);
    double *X = malloc(sizeof(double) * n * p), *W = malloc(sizeof(double) * p * q);
    double *Y = malloc(sizeof(double) * n * q);
    fill_normal(&r, X, (size_t)n * p);
    fill_normal(&r, W, (size_t)p * q);
    matmul(X, W, n, p, q, Y);
    for (int i = 0; i < n * q; i++) Y[i] += 0.01 * soma_rng_normal(&r) + 2.0;
    soma_ridge m;
    CHECK_OK(soma_ridge_fit(X, Y, n, p, q, NULL, &m));
    if (m.W) {
        close_d("ridge recovers W", m.W, W, (size_t)p * q, 5e-3, 0);
        double two[3] = {2, 2, 2};
        close_d("ridge recovers b", m.b, two, 3, 5e-3, 0);
        for (int t = 0; t < q; t++) CHECK(m.alpha[t] <= 1.0 && m.cv_r2[t] > 0.999);
    }
    soma_ridge_free(&m);
    int f1[37], f2[37], f3[37], size[5] = {0};
    CHECK_OK(soma_ridge_folds(37, 5, 9, f1));
    CHECK_OK(soma_ridge_folds(37, 5, 9, f2));
    CHECK_OK(soma_ridge_folds(37, 5, 10, f3));
    int same = 1, differ = 0;
    for (int i = 0; i < 37; i++) {
        same &= f1[i] == f2[i];
        differ |= f1[i] != f3[i];
        if (f1[i] >= 0 && f1[i] < 5) size[f1[i]]++;
    }
    CHECK(same && differ);
    for (int k = 0; k < 5; k++) CHECK(size[k] == 7 || size[k] == 8);
    free(X), free(W), free(Y);
}

/* Encoding on synthetic data with known noise: Y_rep = s + sigma_t e, s = X w of unit
 * variance. The mean of R repetitions has reliability c = 1 / (1 + sigma^2 / R); the
 * split-half Spearman-Brown estimate must match it within 4 standard errors, and the held-out
 * r of a (nearly) perfect model must reach about sqrt(c). */
static void test_encode_ceiling(void) {
    int n = 2000, p = 5, q = 4, R = 4;
    const double sigma[4] = {0.5, 1.0, 2.0, 3.0};
    soma_rng r;
    soma_rng_seed(&r, 21, 0);
    double *X = malloc(sizeof(double) * n * p), *w = malloc(sizeof(double) * p * q);
    double *S = malloc(sizeof(double) * n * q), *Y = malloc(sizeof(double) * n * q * R);
    fill_normal(&r, X, (size_t)n * p);
    fill_normal(&r, w, (size_t)p * q);
    for (int t = 0; t < q; t++) { /* unit-variance signal: ||w_t|| = 1 */
        double s = 0;
        for (int j = 0; j < p; j++) s += w[j * q + t] * w[j * q + t];
        for (int j = 0; j < p; j++) w[j * q + t] /= sqrt(s);
    }
    matmul(X, w, n, p, q, S);
    for (int i = 0; i < n; i++)
        for (int t = 0; t < q; t++)
            for (int k = 0; k < R; k++)
                Y[((size_t)i * q + t) * R + k] = S[i * q + t] + sigma[t] * soma_rng_normal(&r);
    soma_encode_result e;
    soma_ridge_opts o = soma_ridge_opts_default();
    o.seed = 4;
    CHECK_OK(soma_encode(X, n, p, Y, q, R, &o, &e));
    if (e.r) {
        double sn = 0;
        for (int t = 0; t < q; t++) {
            double c = 1 / (1 + sigma[t] * sigma[t] / R);
            double rh = 1 / (1 + sigma[t] * sigma[t] / (R / 2)); /* half: R/2 repetitions */
            double se = 2 / ((1 + rh) * (1 + rh)) * (1 - rh * rh) / sqrt(n);
            if (!(fabs(e.ceiling[t] - c) < 4 * se)) {
                check_failures_++;
                fprintf(stderr, "encode ceiling target %d: %.4f, theory %.4f (se %.4f)\n", t,
                        e.ceiling[t], c, se);
            }
            check_count_++;
            double rn = e.r[t] / sqrt(e.ceiling[t]);
            CHECK(rn > 0.93 && rn < 1.07);
            CHECK(fabs(e.r[t] - sqrt(c)) < 0.05);
            CHECK(e.r2[t] > 0 && e.r2[t] < e.r[t]);
            sn += rn;
        }
        close_d("encode mean_r_norm", &e.mean_r_norm, &(double){sn / q}, 1, 1e-12, 1e-12);
    }
    soma_encode_result_free(&e);
    /* one repetition: no ceiling, r still there */
    CHECK_OK(soma_encode(X, 200, p, S, q, 1, &o, &e));
    if (e.r) {
        CHECK(isnan(e.ceiling[0]) && isnan(e.mean_ceiling));
        CHECK(e.mean_r > 0.999); /* noiseless */
    }
    soma_encode_result_free(&e);
    free(X), free(w), free(S), free(Y);
}

static void test_ridge_bad(void) {
    int n = 20, p = 3, q = 2;
    double X[60], Y[40];
    soma_rng r;
    soma_rng_seed(&r, 8, 0);
    fill_normal(&r, X, 60);
    fill_normal(&r, Y, 40);
    soma_ridge m;
    soma_encode_result e;
    soma_ridge_opts o = soma_ridge_opts_default();
    CHECK_FAILS(soma_ridge_fit(X, Y, 9, p, q, &o, &m), SOMA_ERR_ARG); /* 9 < 2 * 5 */
    CHECK_FAILS(soma_ridge_fit(X, Y, n, 0, q, &o, &m), SOMA_ERR_ARG);
    double neg = -1;
    o.alphas = &neg, o.n_alphas = 1;
    CHECK_FAILS(soma_ridge_fit(X, Y, n, p, q, &o, &m), SOMA_ERR_ARG);
    o = soma_ridge_opts_default();
    o.folds = 1;
    CHECK_FAILS(soma_ridge_fit(X, Y, n, p, q, &o, &m), SOMA_ERR_ARG);
    o = soma_ridge_opts_default();
    int fold[20];
    for (int i = 0; i < 20; i++) fold[i] = i % 5;
    fold[3] = 7;
    CHECK_FAILS(soma_ridge_fit_folds(X, Y, n, p, q, &o, fold, &m), SOMA_ERR_ARG);
    double Yc[40];
    memcpy(Yc, Y, sizeof Yc);
    for (int i = 0; i < n; i++) Yc[i * q + 1] = 4.0;
    CHECK_FAILS(soma_ridge_fit(X, Yc, n, p, q, &o, &m), SOMA_ERR_ARG);
    CHECK(strstr(soma_errmsg(), "target 1") != NULL);
    CHECK_FAILS(soma_encode(X, n, p, Yc, q, 1, &o, &e), SOMA_ERR_ARG);
    CHECK_FAILS(soma_encode(X, 10, p, Y, q, 1, &o, &e), SOMA_ERR_ARG);
    CHECK_FAILS(soma_encode(X, n, p, Y, q, 0, &o, &e), SOMA_ERR_ARG);
    X[31] = NAN;
    CHECK_FAILS(soma_ridge_fit(X, Y, n, p, q, &o, &m), SOMA_ERR_ARG);
    CHECK(strstr(soma_errmsg(), "row 10") != NULL);
    CHECK_FAILS(soma_encode(X, n, p, Y, q, 1, &o, &e), SOMA_ERR_ARG);
    X[31] = 0;
    Y[5] = NAN;
    CHECK_FAILS(soma_encode(X, n, p, Y, q, 2, &o, &e), SOMA_ERR_ARG);
    /* even repetitions constant: ceiling undefined */
    double Yr[20 * 2 * 2];
    for (int i = 0; i < 80; i++) Yr[i] = (i % 2 == 0) ? 1.0 : soma_rng_normal(&r);
    CHECK_FAILS(soma_encode(X, n, p, Yr, q, 2, &o, &e), SOMA_ERR_ARG);
}

// --- geometry -----------------------------------------------------------------------------------

static void check_pca_case(const fixture *f, const char *x, const char *v, const char *c,
                           const char *t, const char *z, int k) {
    const fixture_array *ax = fixture_get(f, x);
    double *X = arr(f, x, NULL), *var = arr(f, v, NULL), *comp = arr(f, c, NULL);
    double *tot = arr(f, t, NULL), *Z = arr(f, z, NULL);
    if (X && var && comp && tot && Z) {
        int n = ax->dims[0], p = ax->dims[1];
        soma_pca m;
        CHECK_OK(soma_pca_fit(X, n, p, 0, &m));
        CHECK(m.k == k && m.p == p);
        if (m.components && m.k == k) {
            char label[64];
            snprintf(label, sizeof label, "pca %s var", x);
            close_d(label, m.var, var, (size_t)k, 1e-7 * var[0], 1e-5);
            snprintf(label, sizeof label, "pca %s components", x);
            close_d(label, m.components, comp, (size_t)k * p, 2e-6, 1e-5);
            snprintf(label, sizeof label, "pca %s total", x);
            close_d(label, &m.total_var, tot, 1, 0, 1e-5);
            double *Zg = malloc(sizeof(double) * n * k);
            CHECK_OK(soma_pca_transform(&m, X, n, Zg));
            snprintf(label, sizeof label, "pca %s transform", x);
            close_d(label, Zg, Z, (size_t)n * k, 1e-6 * max_abs(Z, (size_t)n * k), 1e-5);
            free(Zg);
        }
        soma_pca_free(&m);
    }
    free(X), free(var), free(comp), free(tot), free(Z);
}

static void test_geom_fixture(void) {
    fixture f;
    check_count_++;
    if (fixture_load(check_src_path("tests/fixtures/linalg/geom.bin"), &f) != 0) {
        check_failures_++;
        return;
    }
    check_pca_case(&f, "Xa", "var_a", "comp_a", "total_a", "Z_a", 8);
    check_pca_case(&f, "Xb", "var_b", "comp_b", "total_b", "Z_b", 19);
    size_t k;
    double *va = arr(&f, "var_a", &k), *pr = arr(&f, "pr_a", NULL);
    if (va && pr) {
        double got = soma_participation_ratio(va, (int)k);
        close_d("participation ratio", &got, pr, 1, 0, 1e-5);
    }
    double *pl = arr(&f, "pl_eig", &k), *plf = arr(&f, "pl_fit", NULL);
    if (pl && plf) {
        double got[2];
        CHECK_OK(soma_powerlaw_exponent(pl, (int)k, 5, 150, &got[0], &got[1]));
        close_d("power-law fit", got, plf, 2, 0, 1e-5);
    }
    double *X1 = arr(&f, "cv_X1", NULL), *X2 = arr(&f, "cv_X2", NULL), *ce = arr(&f, "cv_eig", &k);
    if (X1 && X2 && ce) {
        double got[10];
        CHECK_OK(soma_cvpca(X1, X2, 100, 20, 10, got));
        close_d("cvpca", got, ce, 10, 1e-6 * max_abs(ce, 10), 1e-5);
    }
    free(va), free(pr), free(pl), free(plf), free(X1), free(X2), free(ce);
    fixture_free(&f);
}

/* Known answers: an exact r^-1 spectrum gives alpha = 1; PR of a flat spectrum is k; cvPCA
 * recovers a planted signal spectrum under noise that plain PCA overstates. */
static void test_geom_known(void) {
    double eig[300];
    for (int i = 0; i < 300; i++) eig[i] = 4.0 / (i + 1);
    double a = NAN, r2 = NAN;
    CHECK_OK(soma_powerlaw_exponent(eig, 300, 1, 300, &a, &r2));
    CHECK(fabs(a - 1) < 1e-6 && fabs(r2 - 1) < 1e-9);
    for (int i = 0; i < 300; i++) eig[i] = pow(i + 1.0, -1.7);
    eig[20] = 0; /* skipped */
    CHECK_OK(soma_powerlaw_exponent(eig, 300, 10, 200, &a, NULL));
    CHECK(fabs(a - 1.7) < 1e-6);
    double flat[7] = {2, 2, 2, 2, 2, 2, 2};
    CHECK(fabs(soma_participation_ratio(flat, 7) - 7) < 1e-12);
    flat[3] = -1;
    CHECK(fabs(soma_participation_ratio(flat, 7) - 6) < 1e-12);

    /* signal: S = sqrt(n) U diag(sqrt(lambda)) Q', U [n, d] orthonormal and centered, so the
     * signal's variance (1/n) along component r of Q is exactly lambda_r */
    int n = 1000, p = 40, d = 8;
    soma_rng r;
    soma_rng_seed(&r, 77, 0);
    double *U = malloc(sizeof(double) * n * d), *Q = malloc(sizeof(double) * p * p);
    double *S = malloc(sizeof(double) * n * p), *X1 = malloc(sizeof(double) * n * p);
    double *X2 = malloc(sizeof(double) * n * p), *lam = malloc(sizeof(double) * d);
    fill_normal(&r, U, (size_t)n * d);
    for (int j = 0; j < d; j++) { /* center and Gram-Schmidt the columns */
        for (int pass = 0; pass < 2; pass++) {
            double m = 0;
            for (int i = 0; i < n; i++) m += U[i * d + j];
            for (int i = 0; i < n; i++) U[i * d + j] -= m / n;
            for (int l = 0; l < j; l++) {
                double s = 0;
                for (int i = 0; i < n; i++) s += U[i * d + l] * U[i * d + j];
                for (int i = 0; i < n; i++) U[i * d + j] -= s * U[i * d + l];
            }
        }
        double s = 0;
        for (int i = 0; i < n; i++) s += U[i * d + j] * U[i * d + j];
        for (int i = 0; i < n; i++) U[i * d + j] /= sqrt(s);
    }
    random_orthogonal(&r, Q, p);
    for (int j = 0; j < d; j++) lam[j] = 2.0 / (j + 1);
    for (int i = 0; i < n; i++)
        for (int f = 0; f < p; f++) {
            double s = 0;
            for (int j = 0; j < d; j++) s += U[i * d + j] * sqrt(n * lam[j]) * Q[j * p + f];
            S[i * p + f] = s;
            X1[i * p + f] = s + 0.5 * soma_rng_normal(&r);
            X2[i * p + f] = s + 0.5 * soma_rng_normal(&r);
        }
    double cv[20];
    CHECK_OK(soma_cvpca(X1, X2, n, p, 20, cv));
    for (int j = 0; j < d; j++) {
        check_count_++;
        if (!(fabs(cv[j] - lam[j]) < 0.1 * lam[j])) {
            check_failures_++;
            fprintf(stderr, "cvpca signal %d: %.4f, planted %.4f\n", j, cv[j], lam[j]);
        }
    }
    for (int j = d; j < 20; j++) CHECK(fabs(cv[j]) < 0.02); /* noise only: ~0, not 0.25 */
    soma_pca m;
    CHECK_OK(soma_pca_fit(X1, n, p, 20, &m));
    if (m.var) CHECK(m.var[d] > 0.2); /* plain PCA sees the noise variance there */
    /* orthonormal components */
    if (m.components) {
        double worst = 0;
        for (int i = 0; i < 20; i++)
            for (int j = 0; j < 20; j++) {
                double s = 0;
                for (int f = 0; f < p; f++) s += m.components[i * p + f] * m.components[j * p + f];
                worst = fmax(worst, fabs(s - (i == j)));
            }
        CHECK(worst < 1e-10);
    }
    soma_pca_free(&m);
    /* rank-deficient data through the Gram route: components stay orthonormal */
    int nr = 10, pr = 30;
    double *L = malloc(sizeof(double) * nr * pr);
    for (int i = 0; i < nr; i++)
        for (int f = 0; f < pr; f++) L[i * pr + f] = (i % 3) * (f + 1.0) + (i % 2) * cos(f);
    CHECK_OK(soma_pca_fit(L, nr, pr, 0, &m));
    if (m.components) {
        CHECK(m.k == 9 && m.var[2] < 1e-10 * m.var[0]);
        double worst = 0;
        for (int i = 0; i < m.k; i++)
            for (int j = 0; j < m.k; j++) {
                double s = 0;
                for (int f = 0; f < pr; f++)
                    s += m.components[i * pr + f] * m.components[j * pr + f];
                worst = fmax(worst, fabs(s - (i == j)));
            }
        CHECK(worst < 1e-8);
    }
    soma_pca_free(&m);
    free(U), free(Q), free(S), free(X1), free(X2), free(lam), free(L);
}

static void test_geom_bad(void) {
    double X[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13};
    soma_pca m;
    double eig[3];
    CHECK_FAILS(soma_pca_fit(X, 1, 12, 0, &m), SOMA_ERR_ARG);
    CHECK_FAILS(soma_pca_fit(X, 4, 0, 0, &m), SOMA_ERR_ARG);
    CHECK_FAILS(soma_pca_fit(X, 4, 3, 4, &m), SOMA_ERR_ARG); /* k > min(n-1, p) */
    CHECK_FAILS(soma_powerlaw_exponent(X, 12, 0, 5, eig, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_powerlaw_exponent(X, 12, 5, 13, eig, NULL), SOMA_ERR_ARG);
    double z[4] = {0, 0, 1, 0};
    CHECK_FAILS(soma_powerlaw_exponent(z, 4, 1, 4, eig, NULL), SOMA_ERR_ARG); /* one positive */
    double Y[12];
    memcpy(Y, X, sizeof Y);
    Y[4] = NAN;
    CHECK_FAILS(soma_pca_fit(Y, 4, 3, 0, &m), SOMA_ERR_ARG);
    CHECK(strstr(soma_errmsg(), "row 1") != NULL);
    CHECK_FAILS(soma_cvpca(X, Y, 4, 3, 2, eig), SOMA_ERR_ARG);
    CHECK_FAILS(soma_cvpca(Y, X, 4, 3, 2, eig), SOMA_ERR_ARG);
    CHECK_OK(soma_pca_fit(X, 4, 3, 2, &m));
    double Zb[8];
    CHECK_FAILS(soma_pca_transform(&m, Y, 4, Zb), SOMA_ERR_ARG);
    soma_pca_free(&m);
}

// --- out of memory ---------------------------------------------------------------------------

/* Every soma_alloc inside each function fails in turn: SOMA_ERR_NOMEM, nothing leaked (ASan),
 * and the call succeeds once no allocation fails. */
typedef struct oom_data {
    double *X, *Y, *Yr, *W; /* X [24, 30], Y [24, 4], Yr [24, 4, 2] */
} oom_data;

static soma_status oom_op(int which, const oom_data *d) {
    static const soma_cka_opts rbf_u = {SOMA_CKA_RBF, 0, 1}, lin_u = {SOMA_CKA_LINEAR, 0, 1};
    double v, a, eig[5];
    soma_status st;
    switch (which) {
    case 0: return soma_cka(d->X, 30, d->Y, 4, 24, NULL, &v);
    case 1: return soma_cka(d->X, 30, d->Y, 4, 24, &rbf_u, &v);
    case 2: return soma_cka(d->X, 30, d->X, 30, 24, &lin_u, &v);
    case 3: return soma_procrustes(d->X, 30, d->Y, 4, 24, &v, &a);
    case 4: {
        soma_ridge m;
        soma_ridge_opts o = soma_ridge_opts_default();
        o.folds = 2;
        st = soma_ridge_fit(d->X, d->Y, 24, 30, 4, &o, &m);
        soma_ridge_free(&m);
        return st;
    }
    case 5: {
        soma_encode_result e;
        soma_ridge_opts o = soma_ridge_opts_default();
        o.folds = 2;
        st = soma_encode(d->X, 12, 30, d->Yr, 4, 2, &o, &e);
        soma_encode_result_free(&e);
        return st;
    }
    case 6: {
        soma_pca m;
        st = soma_pca_fit(d->X, 24, 30, 0, &m); /* Gram route */
        if (st == SOMA_OK) st = soma_pca_transform(&m, d->X, 24, d->W);
        soma_pca_free(&m);
        return st;
    }
    case 7: return soma_cvpca(d->Y, d->Y, 24, 4, 3, eig);
    default: return soma_cvpca(d->X, d->X, 24, 30, 5, eig);
    }
}

static void test_oom(void) {
    oom_data d;
    soma_rng r;
    soma_rng_seed(&r, 99, 0);
    d.X = malloc(sizeof(double) * 24 * 30);
    d.Y = malloc(sizeof(double) * 24 * 4);
    d.Yr = malloc(sizeof(double) * 24 * 4 * 2);
    d.W = malloc(sizeof(double) * 24 * 24);
    fill_normal(&r, d.X, 24 * 30);
    fill_normal(&r, d.Y, 24 * 4);
    fill_normal(&r, d.Yr, 24 * 8);
    for (int which = 0; which < 9; which++) {
        for (long k = 0; k < 10000; k++) {
            soma_alloc_fail_after(k);
            soma_error_clear();
            soma_status st = oom_op(which, &d);
            long left = soma_alloc_fail_after(-1);
            check_count_++;
            if (left >= 0) { /* no allocation failed: must succeed */
                if (st != SOMA_OK) {
                    check_failures_++;
                    fprintf(stderr, "oom op %d: fails without an injected failure: %s\n", which,
                            soma_errmsg());
                }
                break;
            }
            if (st != SOMA_ERR_NOMEM) {
                check_failures_++;
                fprintf(stderr, "oom op %d, allocation %ld: got %s (%s)\n", which, k,
                        soma_status_str(st), soma_errmsg());
                break;
            }
        }
    }
    free(d.X), free(d.Y), free(d.Yr), free(d.W);
}

// --- thread count ----------------------------------------------------------------------------

extern int openblas_get_num_threads(void) __attribute__((weak));

/* The OpenMP and BLAS thread counts, as the calls below must leave them. */
static void thread_counts(int c[2]) {
#ifdef _OPENMP
    c[0] = omp_get_max_threads();
#else
    c[0] = 1;
#endif
    c[1] = openblas_get_num_threads ? openblas_get_num_threads() : 0;
}

/* The same numbers, bit for bit, on 1 and 3 threads (OpenMP loops and the BLAS). */
static void test_threads(void) {
    int n = 400, p = 200, q = 150; /* big enough for the products to be spread over threads */
    soma_rng r;
    soma_rng_seed(&r, 31, 0);
    double *X = malloc(sizeof(double) * n * p), *Y = malloc(sizeof(double) * n * q);
    fill_normal(&r, X, (size_t)n * p);
    for (int i = 0; i < n * q; i++) Y[i] = X[i] * X[i + 1] + soma_rng_normal(&r);
    double v[2][12];
    int saved = soma_get_threads();
    for (int t = 0; t < 2; t++) {
        soma_set_threads(t == 0 ? 1 : 3);
        int before[2], after[2];
        thread_counts(before);
        for (int k = 0; k < 4; k++) CHECK_OK(soma_cka(X, p, Y, q, n, &CKA_CASES[k], &v[t][k]));
        CHECK_OK(soma_cka(X, p, X, p, n, &CKA_CASES[0], &v[t][4])); /* = 1 up to rounding */
        CHECK_OK(soma_procrustes(X, p, Y, q, n, &v[t][5], &v[t][6]));
        soma_ridge m;
        CHECK_OK(soma_ridge_fit(X, Y, n, p, q, NULL, &m));
        v[t][7] = m.W ? m.W[17] : NAN, v[t][8] = m.cv_r2 ? m.cv_r2[5] : NAN;
        soma_ridge_free(&m);
        soma_pca pc;
        CHECK_OK(soma_pca_fit(X, n, p, 10, &pc));
        v[t][9] = pc.var ? pc.var[3] : NAN, v[t][10] = pc.components ? pc.components[5] : NAN;
        soma_pca_free(&pc);
        double cv[10] = {0};
        CHECK_OK(soma_cvpca(X, Y, n, 50, 10, cv));
        v[t][11] = cv[2];
        thread_counts(after);
        CHECK(after[0] == before[0] && after[1] == before[1]); /* counts restored */
    }
    /* called from inside the caller's own parallel region, on every thread at once */
    double par[4] = {NAN, NAN, NAN, NAN};
    soma_status pst[4] = {SOMA_OK, SOMA_OK, SOMA_OK, SOMA_OK};
#ifdef _OPENMP
#pragma omp parallel for num_threads(2) schedule(static, 1)
#endif
    for (int j = 0; j < 4; j++) {
        if (j % 2 == 0) {
            pst[j] = soma_cka(X, p, Y, q, n, &CKA_CASES[1], &par[j]);
        } else {
            soma_ridge m;
            pst[j] = soma_ridge_fit(X, Y, n, p, q, NULL, &m);
            if (pst[j] == SOMA_OK) par[j] = m.W[17];
            soma_ridge_free(&m);
        }
    }
    for (int j = 0; j < 4; j++) {
        CHECK(pst[j] == SOMA_OK);
        CHECK(memcmp(&par[j], j % 2 == 0 ? &v[0][1] : &v[0][7], sizeof(double)) == 0);
    }
    soma_set_threads(saved);
    for (int i = 0; i < 12; i++) {
        check_count_++;
        if (memcmp(&v[0][i], &v[1][i], sizeof(double)) != 0) {
            check_failures_++;
            fprintf(stderr, "threads: value %d differs: %.17g on 1 thread, %.17g on 3\n", i,
                    v[0][i], v[1][i]);
        }
    }
    free(X), free(Y);
}

int main(void) {
    double t0 = soma_now();
    test_cka_fixture();
    test_cka_invariance();
    test_cka_bad();
    test_ridge_fixture();
    test_ridge_recovers();
    test_encode_ceiling();
    test_ridge_bad();
    test_geom_fixture();
    test_geom_known();
    test_geom_bad();
    test_oom();
    test_threads();
    printf("test_analysis_geom: %.2f s\n", soma_now() - t0);
    return check_report("test_analysis_geom");
}
