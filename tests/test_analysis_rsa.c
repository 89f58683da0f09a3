// RDMs, RDM comparisons and RSA statistics (src/analysis/rdm.c, rsa.c, rsa_stats.c) against
// NumPy/SciPy reference values (tests/ref/gen_rsa.py -> tests/fixtures/rsa/*.bin), Kendall's
// tau-a against its O(m^2) definition on tie-heavy data, statistical properties of the noise
// ceiling, bootstrap and permutation test on synthetic subjects, hand-worked Holm and
// Benjamini-Hochberg corrections, and bad inputs.
#include <math.h>

#include "analysis/rsa_internal.h"
#include "check.h"
#include "fixture.h"
#include "soma/analysis.h"

static const fixture_array *need_(const fixture *f, const char *name) {
    const fixture_array *a = fixture_get(f, name);
    if (!a) fprintf(stderr, "fixture %s: no array '%s'; HINT: re-run tests/ref/gen_rsa.py\n", f->spec, name);
    return a;
}

/* got [n] doubles vs a float32 reference: rtol relative, atol = rtol * 1e-1 * max |ref| (for
 * entries near 0 in an RDM whose scale is set by the others). */
static void check_vec_(const char *label, const double *got, const fixture_array *ref, size_t n, float rtol) {
    if (!ref || ref->n != n) {
        fprintf(stderr, "%s: reference missing or of %zu values, want %zu\n", label, ref ? ref->n : 0, n);
        CHECK(!"reference shape");
        return;
    }
    float *g = malloc(n * sizeof *g);
    float mx = 0;
    for (size_t k = 0; k < n; k++) {
        g[k] = (float)got[k];
        if (fabsf(ref->data[k]) > mx) mx = fabsf(ref->data[k]);
    }
    CHECK_CLOSE(label, g, ref->data, n, 0.1f * rtol * mx, rtol);
    free(g);
}

static double *to_double_(const fixture_array *a) {
    double *x = malloc(a->n * sizeof *x);
    for (size_t k = 0; k < a->n; k++) x[k] = a->data[k];
    return x;
}

static int load_(const char *name, fixture *f) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/fixtures/rsa/%s.bin", name);
    if (fixture_load(check_src_path(rel), f) != 0) {
        CHECK(!"fixture loads");
        return -1;
    }
    return 0;
}

// --- RDMs ------------------------------------------------------------------------------------

static void rdm_case_(const fixture *f, const double *X, const char *key, soma_rdm_metric metric, double shrink) {
    int n = f->n, p = f->c, R = f->h;
    long m = soma_rdm_len(n);
    double *rdm = malloc((size_t)m * sizeof *rdm);
    char label[256];
    snprintf(label, sizeof label, "%s %s", f->spec, key);
    soma_rdm_opts o = {metric, shrink};
    CHECK_OK(soma_rdm(X, n, p, R, &o, rdm));
    check_vec_(label, rdm, need_(f, key), (size_t)m, 1e-5f);
    free(rdm);
}

static void test_rdm_fixtures(void) {
    fixture f;
    if (load_("rdm_single", &f) == 0) {
        double *X = to_double_(need_(&f, "X"));
        rdm_case_(&f, X, "euclidean", SOMA_RDM_EUCLIDEAN, 0);
        rdm_case_(&f, X, "sqeuclidean", SOMA_RDM_SQEUCLIDEAN, 0);
        rdm_case_(&f, X, "correlation", SOMA_RDM_CORRELATION, 0);
        rdm_case_(&f, X, "cosine", SOMA_RDM_COSINE, 0);
        rdm_case_(&f, X, "maha_lw", SOMA_RDM_MAHALANOBIS, -1);
        rdm_case_(&f, X, "maha_03", SOMA_RDM_MAHALANOBIS, 0.3);
        int p = f.c;
        double *S = malloc((size_t)p * p * sizeof *S), w = -1;
        CHECK_OK(soma_shrinkage_cov(X, f.n, p, 1, -1.0, S, &w));
        check_vec_("rdm_single lw_S", S, need_(&f, "lw_S"), (size_t)p * p, 1e-5f);
        check_vec_("rdm_single lw_w", &w, need_(&f, "lw_w"), 1, 1e-5f);
        free(S);
        free(X);
        fixture_free(&f);
    }
    if (load_("rdm_reps", &f) == 0) {
        double *X = to_double_(need_(&f, "X"));
        rdm_case_(&f, X, "euclidean", SOMA_RDM_EUCLIDEAN, 0);
        rdm_case_(&f, X, "correlation", SOMA_RDM_CORRELATION, 0);
        rdm_case_(&f, X, "maha_lw", SOMA_RDM_MAHALANOBIS, -1);
        rdm_case_(&f, X, "xnobis_lw", SOMA_RDM_CROSSNOBIS, -1);
        rdm_case_(&f, X, "xnobis_0", SOMA_RDM_CROSSNOBIS, 0);
        int p = f.c;
        double *S = malloc((size_t)p * p * sizeof *S), w = -1;
        CHECK_OK(soma_shrinkage_cov(X, f.n, p, f.h, -1.0, S, &w));
        check_vec_("rdm_reps lw_S", S, need_(&f, "lw_S"), (size_t)p * p, 1e-5f);
        check_vec_("rdm_reps lw_w", &w, need_(&f, "lw_w"), 1, 1e-5f);
        CHECK(w >= 0 && w <= 1);
        free(S);
        free(X);
        fixture_free(&f);
    }
    if (load_("rdm_wide", &f) == 0) {
        double *X = to_double_(need_(&f, "X"));
        rdm_case_(&f, X, "euclidean", SOMA_RDM_EUCLIDEAN, 0);
        rdm_case_(&f, X, "correlation", SOMA_RDM_CORRELATION, 0);
        free(X);
        fixture_free(&f);
    }
}

/* Square <-> condensed round trip, the index order, names. */
static void test_rdm_square(void) {
    int n = 5;
    double rdm[10], sq[25], back[10];
    for (int k = 0; k < 10; k++) rdm[k] = k + 1;
    soma_rdm_to_square(rdm, n, sq);
    CHECK(sq[0 * 5 + 1] == 1 && sq[1 * 5 + 0] == 1 && sq[0 * 5 + 4] == 4 && sq[1 * 5 + 2] == 5 && sq[3 * 5 + 4] == 10);
    CHECK(sq[2 * 5 + 2] == 0);
    CHECK_OK(soma_rdm_from_square(sq, n, back));
    CHECK(memcmp(rdm, back, sizeof rdm) == 0);
    sq[1 * 5 + 3] += 0.5;
    CHECK_FAILS(soma_rdm_from_square(sq, n, back), SOMA_ERR_ARG);
    sq[1 * 5 + 3] -= 0.5;
    sq[2 * 5 + 2] = 1e-3;
    CHECK_FAILS(soma_rdm_from_square(sq, n, back), SOMA_ERR_ARG);
    for (int m = 0; m < SOMA_RDM_METRIC_COUNT; m++) {
        soma_rdm_metric got;
        CHECK_OK(soma_rdm_metric_parse(soma_rdm_metric_name((soma_rdm_metric)m), &got));
        CHECK((int)got == m);
    }
    soma_rdm_metric bad;
    CHECK_FAILS(soma_rdm_metric_parse("manhattan", &bad), SOMA_ERR_ARG);
}

/* Crossnobis is unbiased: with no true difference between conditions its mean is ~0 while
 * the plain (squared) Mahalanobis distance of noisy means is clearly positive (about 2/R).
 * Shrinkage 1 keeps the covariance independent of the noise (an in-sample estimate adds a
 * small positive bias of its own). */
static void test_crossnobis_unbiased(void) {
    int n = 30, p = 20, R = 4;
    double *X = malloc(sizeof(double) * n * p * R), *xn = malloc(sizeof(double) * soma_rdm_len(n)),
           *mh = malloc(sizeof(double) * soma_rdm_len(n));
    soma_rng r;
    soma_rng_seed(&r, 7, 0);
    for (int k = 0; k < n * p * R; k++) X[k] = soma_rng_normal(&r);
    soma_rdm_opts o = {SOMA_RDM_CROSSNOBIS, 1.0};
    CHECK_OK(soma_rdm(X, n, p, R, &o, xn));
    o.metric = SOMA_RDM_MAHALANOBIS;
    CHECK_OK(soma_rdm(X, n, p, R, &o, mh));
    double sx = 0, sm = 0;
    int neg = 0;
    for (long k = 0; k < soma_rdm_len(n); k++) sx += xn[k], sm += mh[k], neg += xn[k] < 0;
    sx /= soma_rdm_len(n), sm /= soma_rdm_len(n);
    CHECK(fabs(sx) < 0.1 * sm);
    CHECK(neg > 20);
    free(X), free(xn), free(mh);
}

static void test_rdm_bad(void) {
    int n = 4, p = 3;
    double X[12] = {1, 2, 3, 4, 5, 7, 1, 0, 2, 3, 3, 1}, rdm[6];
    soma_rdm_opts o = {SOMA_RDM_CORRELATION, 0};
    CHECK_OK(soma_rdm(X, n, p, 1, &o, rdm));
    X[7] = NAN;
    CHECK_FAILS(soma_rdm(X, n, p, 1, &o, rdm), SOMA_ERR_ARG);
    X[7] = 0;
    CHECK_FAILS(soma_rdm(X, 1, p, 1, &o, rdm), SOMA_ERR_ARG);
    CHECK_FAILS(soma_rdm(X, n, 0, 1, &o, rdm), SOMA_ERR_ARG);
    double Xc[12] = {1, 2, 3, 5, 5, 5, 1, 0, 2, 3, 3, 1}; /* row 1 constant */
    CHECK_FAILS(soma_rdm(Xc, n, p, 1, &o, rdm), SOMA_ERR_ARG);
    o.metric = SOMA_RDM_COSINE;
    CHECK_OK(soma_rdm(Xc, n, p, 1, &o, rdm));
    double Xz[12] = {1, 2, 3, 0, 0, 0, 1, 0, 2, 3, 3, 1};
    CHECK_FAILS(soma_rdm(Xz, n, p, 1, &o, rdm), SOMA_ERR_ARG);
    o.metric = SOMA_RDM_CROSSNOBIS;
    CHECK_FAILS(soma_rdm(X, n, p, 1, &o, rdm), SOMA_ERR_ARG);
    o.metric = SOMA_RDM_MAHALANOBIS;
    o.shrinkage = 1.5;
    CHECK_FAILS(soma_rdm(X, n, p, 1, &o, rdm), SOMA_ERR_ARG);
    /* 4 conditions, 3 features, no shrinkage: dof 3 = p but a rank-deficient example */
    double Xs[12] = {1, 2, 3, 2, 4, 6, 3, 6, 9, 4, 8, 12};
    o.shrinkage = 0;
    CHECK_FAILS(soma_rdm(Xs, n, p, 1, &o, rdm), SOMA_ERR_ARG);
    o.shrinkage = -1;
    CHECK_OK(soma_rdm(Xs, n, p, 1, &o, rdm));
    o.metric = (soma_rdm_metric)99;
    CHECK_FAILS(soma_rdm(X, n, p, 1, &o, rdm), SOMA_ERR_ARG);
}

// --- comparators -------------------------------------------------------------------------------

static void test_compare_fixtures(const char *name) {
    fixture f;
    if (load_(name, &f) != 0) return;
    int n = f.n;
    long m = soma_rdm_len(n);
    double *a = to_double_(need_(&f, "a")), *b = to_double_(need_(&f, "b"));
    static const char *keys[SOMA_RSA_METHOD_COUNT] = {"pearson", "spearman", "kendall_a", "cosine",
                                                      "whitened_cosine"};
    char label[256];
    for (int k = 0; k < SOMA_RSA_METHOD_COUNT; k++) {
        double v = NAN;
        CHECK_OK(soma_rsa_compare(a, b, n, (soma_rsa_method)k, &v));
        snprintf(label, sizeof label, "%s %s", name, keys[k]);
        check_vec_(label, &v, need_(&f, keys[k]), 1, 1e-5f);
        soma_rsa_method back;
        CHECK_OK(soma_rsa_method_parse(soma_rsa_method_name((soma_rsa_method)k), &back));
        CHECK((int)back == k);
    }
    /* V^-1 a by the O(m) Woodbury form vs the dense solve */
    double *w = malloc(sizeof(double) * m), s[64];
    soma__vinv(a, n, w, s);
    snprintf(label, sizeof label, "%s vinv_a", name);
    check_vec_(label, w, need_(&f, "vinv_a"), (size_t)m, 1e-5f);
    /* the masked whitened cosine (conjugate gradients) vs the dense principal-submatrix solve */
    const fixture_array *mk = need_(&f, "mask");
    unsigned char *mask = malloc((size_t)m);
    for (long k = 0; k < m; k++) mask[k] = mk && mk->data[k] != 0;
    void *scr = malloc(soma__rsa_cmp_scratch(m, n));
    double v = soma__rsa_cmp(a, b, m, SOMA_RSA_WHITENED_COSINE, n, mask, scr);
    snprintf(label, sizeof label, "%s whitened_cosine_masked", name);
    check_vec_(label, &v, need_(&f, "whitened_cosine_masked"), 1, 1e-5f);
    free(scr), free(mask), free(w), free(a), free(b);
    fixture_free(&f);
}

/* Knight's O(m log m) tau-a equals the O(m^2) definition on tie-heavy data. */
static void test_kendall_ties(void) {
    long m = 2000;
    double *a = malloc(sizeof(double) * m), *b = malloc(sizeof(double) * m);
    soma_rng r;
    soma_rng_seed(&r, 3, 0);
    for (long k = 0; k < m; k++) {
        a[k] = (double)soma_rng_below(&r, 3);
        b[k] = soma_rng_uniform(&r) < 0.6 ? a[k] : (double)soma_rng_below(&r, 3);
    }
    long long s = 0;
    for (long i = 0; i < m; i++)
        for (long j = i + 1; j < m; j++) {
            double da = a[i] - a[j], db = b[i] - b[j];
            s += ((da > 0) - (da < 0)) * ((db > 0) - (db < 0));
        }
    double want = (double)s / ((double)m * (m - 1) / 2), got = NAN;
    CHECK_OK(soma_kendall_tau_a(a, b, m, &got));
    CHECK(fabs(got - want) < 1e-12);
    if (fabs(got - want) >= 1e-12) fprintf(stderr, "kendall: got %.15g want %.15g\n", got, want);
    CHECK(want > 0.3);
    free(a), free(b);
}

static void test_compare_bad(void) {
    int n = 5;
    double a[10], b[10], c[10], z[10], v;
    for (int k = 0; k < 10; k++) a[k] = k % 3 + 1, b[k] = (k * 7) % 5 + 1, c[k] = 2.5, z[k] = 0;
    CHECK_OK(soma_rsa_compare(a, b, n, SOMA_RSA_SPEARMAN, &v));
    for (int k = 0; k < SOMA_RSA_METHOD_COUNT; k++)
        CHECK_FAILS(soma_rsa_compare(a, z, n, (soma_rsa_method)k, &v), SOMA_ERR_ARG);
    for (int k = 0; k < SOMA_RSA_KENDALL_A + 1; k++)
        CHECK_FAILS(soma_rsa_compare(c, b, n, (soma_rsa_method)k, &v), SOMA_ERR_ARG);
    CHECK_OK(soma_rsa_compare(c, b, n, SOMA_RSA_COSINE, &v));
    b[4] = NAN;
    CHECK_FAILS(soma_rsa_compare(a, b, n, SOMA_RSA_PEARSON, &v), SOMA_ERR_ARG);
    b[4] = INFINITY;
    CHECK_FAILS(soma_rsa_compare(a, b, n, SOMA_RSA_COSINE, &v), SOMA_ERR_ARG);
    b[4] = 1;
    CHECK_FAILS(soma_rsa_compare(a, b, 2, SOMA_RSA_PEARSON, &v), SOMA_ERR_ARG);
    CHECK_FAILS(soma_rsa_compare(a, b, n, (soma_rsa_method)17, &v), SOMA_ERR_ARG);
    CHECK_FAILS(soma_kendall_tau_a(a, b, 1, &v), SOMA_ERR_ARG);
    soma_rsa_method bad;
    CHECK_FAILS(soma_rsa_method_parse("kendall", &bad), SOMA_ERR_ARG);
}

int main(void) {
    test_rdm_fixtures();
    test_rdm_square();
    test_crossnobis_unbiased();
    test_rdm_bad();
    test_compare_fixtures("cmp_plain");
    test_compare_fixtures("cmp_ties");
    test_kendall_ties();
    test_compare_bad();
    return check_report("test_analysis_rsa");
}
