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

/* Every metric gives the same bits on 1 and 3 threads (several Gram strips, whitening strips).
 * Only with OpenMP: without it the BLAS's own threads split each call (rdm.c says so). */
static void test_rdm_threads(void) {
    if (!soma_have_openmp()) {
        printf("test_rdm_threads: built without OpenMP; the BLAS's threads may change the last bits\n");
        return;
    }
    int n = 230, p = 40, R = 3;
    long m = soma_rdm_len(n);
    double *X = malloc(sizeof(double) * n * p * R), *r1 = malloc(sizeof(double) * m), *r3 = malloc(sizeof(double) * m);
    soma_rng r;
    soma_rng_seed(&r, 5, 0);
    for (int k = 0; k < n * p * R; k++) X[k] = soma_rng_normal(&r) + 3.0;
    int t0 = soma_get_threads();
    for (int metric = 0; metric < SOMA_RDM_METRIC_COUNT; metric++) {
        soma_rdm_opts o = {(soma_rdm_metric)metric, -1};
        soma_set_threads(1);
        CHECK_OK(soma_rdm(X, n, p, R, &o, r1));
        soma_set_threads(3);
        CHECK_OK(soma_rdm(X, n, p, R, &o, r3));
        CHECK(memcmp(r1, r3, sizeof(double) * m) == 0);
        if (memcmp(r1, r3, sizeof(double) * m) != 0) fprintf(stderr, "rdm %s differs on 1 and 3 threads\n", soma_rdm_metric_name(metric));
    }
    soma_set_threads(t0);
    free(X), free(r1), free(r3);
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
    /* the tie-group-key version used by the bootstrap */
    int *ka = malloc(sizeof(int) * m), *kb = malloc(sizeof(int) * m);
    void *tmp = malloc(soma__rsa_ranks_scratch(m)), *ks = malloc(soma__kendall_keys_scratch(m, m));
    soma__rsa_groups(a, m, ka, tmp);
    soma__rsa_groups(b, m, kb, tmp);
    double gk = soma__kendall_keys(ka, kb, m, m, ks);
    CHECK(fabs(gk - want) < 1e-12);
    free(ka), free(kb), free(tmp), free(ks);
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

// --- permutation test ------------------------------------------------------------------------

/* A random condensed RDM of n conditions (Euclidean distances of random points in 3-D). */
static void random_rdm_(soma_rng *r, int n, double *rdm) {
    double *X = malloc(sizeof(double) * n * 3);
    for (int k = 0; k < n * 3; k++) X[k] = soma_rng_normal(r);
    soma_rdm_opts o = {SOMA_RDM_EUCLIDEAN, 0};
    CHECK_OK(soma_rdm(X, n, 3, 1, &o, rdm));
    free(X);
}

static void test_permtest(void) {
    int n = 12;
    long m = soma_rdm_len(n);
    double *a = malloc(sizeof(double) * m), *b = malloc(sizeof(double) * m);
    soma_rng r;
    soma_rng_seed(&r, 11, 0);
    /* related: b = a + noise; every method finds it, and the value is the comparison's */
    random_rdm_(&r, n, a);
    for (long k = 0; k < m; k++) b[k] = a[k] + 0.3 * soma_rng_normal(&r);
    for (int meth = 0; meth < SOMA_RSA_METHOD_COUNT; meth++) {
        double v = NAN, p = NAN, want = NAN;
        CHECK_OK(soma_rsa_permtest(a, b, n, (soma_rsa_method)meth, 500, 5, &v, &p));
        CHECK_OK(soma_rsa_compare(a, b, n, (soma_rsa_method)meth, &want));
        CHECK(fabs(v - want) < 1e-12);
        CHECK(p <= 3.0 / 501);
        if (p > 3.0 / 501) fprintf(stderr, "permtest %s: related p = %g\n", soma_rsa_method_name(meth), p);
    }
    /* the same p on 1 and 3 threads (permutations seeded per index) */
    double p1, p3, v1, v3, b2[66];
    for (long k = 0; k < m; k++) b2[k] = soma_rng_normal(&r);
    int t0 = soma_get_threads();
    for (int meth = 0; meth < SOMA_RSA_METHOD_COUNT; meth++) {
        soma_set_threads(1);
        CHECK_OK(soma_rsa_permtest(a, b2, n, (soma_rsa_method)meth, 300, 9, &v1, &p1));
        soma_set_threads(3);
        CHECK_OK(soma_rsa_permtest(a, b2, n, (soma_rsa_method)meth, 300, 9, &v3, &p3));
        CHECK(p1 == p3 && v1 == v3);
    }
    soma_set_threads(t0);
    /* unrelated: p roughly uniform over independent pairs */
    int trials = 60, small = 0;
    double mean_p = 0;
    for (int t = 0; t < trials; t++) {
        random_rdm_(&r, n, a);
        random_rdm_(&r, n, b);
        double v, p;
        CHECK_OK(soma_rsa_permtest(a, b, n, SOMA_RSA_SPEARMAN, 200, (uint64_t)t, &v, &p));
        mean_p += p / trials;
        small += p < 0.1;
    }
    CHECK(mean_p > 0.38 && mean_p < 0.62);
    CHECK(small <= 14);
    if (!(mean_p > 0.38 && mean_p < 0.62) || small > 14)
        fprintf(stderr, "permtest unrelated: mean p %g, %d of %d below 0.1\n", mean_p, small, trials);
    double v, p;
    CHECK_FAILS(soma_rsa_permtest(a, b, n, SOMA_RSA_SPEARMAN, 0, 1, &v, &p), SOMA_ERR_ARG);
    free(a), free(b);
}

// --- noise ceiling, evaluation, corrections ------------------------------------------------------

static void test_eval_fixture(void) {
    fixture f;
    if (load_("eval_spearman", &f) != 0) return;
    int n = f.n, S = f.c, M = f.h;
    double *models = to_double_(need_(&f, "models")), *data = to_double_(need_(&f, "data"));
    soma_rsa_eval_opts o = {SOMA_RSA_SPEARMAN, SOMA_BOOT_NONE, 0, SOMA_CORRECT_HOLM, 1};
    soma_rsa_eval e;
    CHECK_OK(soma_rsa_evaluate(models, M, data, S, n, &o, &e));
    if (e.score) {
        check_vec_("eval subj", e.subj, need_(&f, "subj"), (size_t)M * S, 1e-5f);
        check_vec_("eval score", e.score, need_(&f, "score"), (size_t)M, 1e-5f);
        check_vec_("eval se", e.se, need_(&f, "se"), (size_t)M, 1e-5f);
        check_vec_("eval p_zero", e.p_zero, need_(&f, "p_zero"), (size_t)M, 1e-5f);
        check_vec_("eval p_pair", e.p_pair, need_(&f, "p_pair"), (size_t)M * M, 1e-5f);
        double ceil[2] = {e.ceil_lower, e.ceil_upper}, lo, up;
        check_vec_("eval ceiling", ceil, need_(&f, "ceiling"), 2, 1e-5f);
        CHECK_OK(soma_rsa_noise_ceiling(data, S, n, SOMA_RSA_SPEARMAN, &lo, &up));
        CHECK(lo == e.ceil_lower && up == e.ceil_upper);
    }
    soma_rsa_eval_free(&e);
    CHECK(e.score == NULL);
    free(models), free(data);
    fixture_free(&f);
}

/* Synthetic subjects = truth + noise: the true model's score lies within the noise ceiling,
 * and a bootstrap over subjects gives about the across-subject standard error. */
static void test_ceiling_and_bootstrap(void) {
    int n = 14, S = 16, M = 2;
    long m = soma_rdm_len(n);
    double *truth = malloc(sizeof(double) * m), *data = malloc(sizeof(double) * S * m),
           *models = malloc(sizeof(double) * M * m);
    soma_rng r;
    soma_rng_seed(&r, 21, 0);
    random_rdm_(&r, n, truth);
    double sd = 0;
    for (long k = 0; k < m; k++) sd += truth[k] * truth[k] / m;
    sd = sqrt(sd);
    for (int s = 0; s < S; s++)
        for (long k = 0; k < m; k++) data[(size_t)s * m + k] = truth[k] + 0.8 * sd * soma_rng_normal(&r);
    memcpy(models, truth, sizeof(double) * m);
    for (long k = 0; k < m; k++) models[m + k] = truth[k] + 1.0 * sd * soma_rng_normal(&r);
    for (int meth = 0; meth < SOMA_RSA_METHOD_COUNT; meth++) {
        double lo, up, score = 0, v;
        CHECK_OK(soma_rsa_noise_ceiling(data, S, n, (soma_rsa_method)meth, &lo, &up));
        for (int s = 0; s < S; s++) {
            CHECK_OK(soma_rsa_compare(truth, data + (size_t)s * m, n, (soma_rsa_method)meth, &v));
            score += v / S;
        }
        CHECK(lo <= score && score <= up);
        if (!(lo <= score && score <= up))
            fprintf(stderr, "ceiling %s: %g <= %g <= %g fails\n", soma_rsa_method_name(meth), lo, score, up);
    }
    /* bootstrap over subjects: se ~ sd / sqrt(S) (times sqrt((S-1)/S), the plug-in bias) */
    soma_rsa_eval_opts o = {SOMA_RSA_PEARSON, SOMA_BOOT_SUBJECTS, 2000, SOMA_CORRECT_FDR, 3};
    soma_rsa_eval e, e0;
    CHECK_OK(soma_rsa_evaluate(models, M, data, S, n, &o, &e));
    o.boot = SOMA_BOOT_NONE;
    CHECK_OK(soma_rsa_evaluate(models, M, data, S, n, &o, &e0));
    if (e.score && e0.score)
        for (int k = 0; k < M; k++) {
            double ratio = e.se[k] / (e0.se[k] * sqrt((S - 1.0) / S));
            CHECK(ratio > 0.85 && ratio < 1.15);
            if (!(ratio > 0.85 && ratio < 1.15)) fprintf(stderr, "bootstrap se ratio %g\n", ratio);
            CHECK(e.score[k] == e0.score[k]);
        }
    if (e.score && e0.score) {
        CHECK(e.p_zero[0] < 0.01 && e0.p_zero[0] < 0.01);
    }
    if (e.score) {
        CHECK(e.score[0] > e.score[1]);
        CHECK(e.p_pair[1] < 0.05 && e.p_pair[1] == e.p_pair[2] && e.p_pair[0] == 1.0);
    }
    soma_rsa_eval_free(&e);
    soma_rsa_eval_free(&e0);
    /* conditions and both, every method: finite, positive se, same bits on 1 and 3 threads */
    int t0 = soma_get_threads();
    for (int meth = 0; meth < SOMA_RSA_METHOD_COUNT; meth++)
        for (int boot = SOMA_BOOT_CONDITIONS; boot <= SOMA_BOOT_BOTH; boot++) {
            soma_rsa_eval_opts ob = {(soma_rsa_method)meth, (soma_rsa_boot)boot, 40, SOMA_CORRECT_HOLM, 4};
            soma_rsa_eval e1, e3;
            soma_set_threads(1);
            CHECK_OK(soma_rsa_evaluate(models, M, data, S, n, &ob, &e1));
            soma_set_threads(3);
            CHECK_OK(soma_rsa_evaluate(models, M, data, S, n, &ob, &e3));
            if (e1.score && e3.score) {
                CHECK(memcmp(e1.se, e3.se, sizeof(double) * M) == 0);
                CHECK(memcmp(e1.p_pair, e3.p_pair, sizeof(double) * M * M) == 0);
                for (int k = 0; k < M; k++) CHECK(isfinite(e1.se[k]) && e1.se[k] > 0 && e1.se[k] < 0.5);
                /* the true model is above 0 and above the noisier one in (nearly) every sample */
                CHECK(e1.p_zero[0] <= 2.0 / 41 && e1.p_pair[1] <= 4.0 / 41);
                if (!(e1.p_zero[0] <= 2.0 / 41 && e1.p_pair[1] <= 4.0 / 41))
                    fprintf(stderr, "bootstrap %s/%d: p_zero %g, p_pair %g, se %g %g\n", soma_rsa_method_name(meth), boot,
                            e1.p_zero[0], e1.p_pair[1], e1.se[0], e1.se[1]);
            }
            soma_rsa_eval_free(&e1);
            soma_rsa_eval_free(&e3);
        }
    soma_set_threads(t0);
    /* bad inputs */
    double lo, up;
    CHECK_FAILS(soma_rsa_noise_ceiling(data, 1, n, SOMA_RSA_PEARSON, &lo, &up), SOMA_ERR_ARG);
    CHECK_FAILS(soma_rsa_evaluate(models, M, data, 1, n, &o, &e), SOMA_ERR_ARG);
    CHECK_FAILS(soma_rsa_evaluate(models, 0, data, S, n, &o, &e), SOMA_ERR_ARG);
    for (long k = 0; k < m; k++) models[m + k] = 1.0;
    CHECK_FAILS(soma_rsa_evaluate(models, M, data, S, n, &o, &e), SOMA_ERR_ARG);
    data[3 * m + 5] = NAN;
    CHECK_FAILS(soma_rsa_noise_ceiling(data, S, n, SOMA_RSA_PEARSON, &lo, &up), SOMA_ERR_ARG);
    free(truth), free(data), free(models);
}

static void test_p_correct(void) {
    double p1[4] = {0.01, 0.04, 0.03, 0.005}, p2[4];
    memcpy(p2, p1, sizeof p1);
    soma_p_correct(p1, 4, SOMA_CORRECT_HOLM);
    soma_p_correct(p2, 4, SOMA_CORRECT_FDR);
    double holm1[4] = {0.03, 0.06, 0.06, 0.02}, bh1[4] = {0.02, 0.04, 0.04, 0.02};
    for (int k = 0; k < 4; k++) CHECK(fabs(p1[k] - holm1[k]) < 1e-12 && fabs(p2[k] - bh1[k]) < 1e-12);
    double q1[5] = {0.5, 0.02, 0.9, 0.04, 0.03}, q2[5], q3[5];
    memcpy(q2, q1, sizeof q1), memcpy(q3, q1, sizeof q1);
    soma_p_correct(q1, 5, SOMA_CORRECT_HOLM);
    soma_p_correct(q2, 5, SOMA_CORRECT_FDR);
    soma_p_correct(q3, 5, SOMA_CORRECT_NONE);
    double holm2[5] = {1.0, 0.1, 1.0, 0.12, 0.12}, bh2[5] = {0.625, 0.2 / 3, 0.9, 0.2 / 3, 0.2 / 3},
           none[5] = {0.5, 0.02, 0.9, 0.04, 0.03};
    for (int k = 0; k < 5; k++)
        CHECK(fabs(q1[k] - holm2[k]) < 1e-12 && fabs(q2[k] - bh2[k]) < 1e-12 && q3[k] == none[k]);
}

/* The condition bootstrap redone by hand from its documented protocol (sample b draws n
 * conditions from stream b + 1 of the seed; pairs of distinct sampled conditions are kept;
 * the comparison is recomputed on the cut RDMs) gives the same standard errors. */
static double pearson_ref_(const double *a, const double *b, long m) {
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (long k = 0; k < m; k++) ma += a[k] / m, mb += b[k] / m;
    for (long k = 0; k < m; k++) sab += (a[k] - ma) * (b[k] - mb), saa += (a[k] - ma) * (a[k] - ma), sbb += (b[k] - mb) * (b[k] - mb);
    return sab / sqrt(saa * sbb);
}

static void test_condition_bootstrap_by_hand(void) {
    int n = 9, S = 4, M = 2, B = 30;
    long m = soma_rdm_len(n);
    double *models = malloc(sizeof(double) * M * m), *data = malloc(sizeof(double) * S * m);
    soma_rng r;
    soma_rng_seed(&r, 77, 0);
    for (long k = 0; k < M * m; k++) models[k] = (double)soma_rng_below(&r, 6); /* ties */
    for (long k = 0; k < S * m; k++) data[k] = models[k % m] + soma_rng_normal(&r);
    double *ca = malloc(sizeof(double) * m), *cb = malloc(sizeof(double) * m), *ra = malloc(sizeof(double) * m),
           *rb = malloc(sizeof(double) * m), *boot = malloc(sizeof(double) * B * M);
    void *tmp = malloc(soma__rsa_ranks_scratch(m));
    soma_rsa_method methods[4] = {SOMA_RSA_PEARSON, SOMA_RSA_SPEARMAN, SOMA_RSA_KENDALL_A, SOMA_RSA_COSINE};
    for (int mi = 0; mi < 4; mi++) {
        soma_rsa_method meth = methods[mi];
        for (int b = 0; b < B; b++) {
            soma_rng_seed(&r, 123, (uint64_t)b + 1);
            int cond[9];
            for (int i = 0; i < n; i++) cond[i] = (int)soma_rng_below(&r, (uint64_t)n);
            for (int k = 0; k < M; k++) {
                double acc = 0;
                for (int s = 0; s < S; s++) {
                    long mc = 0;
                    for (int i = 0; i < n; i++)
                        for (int j = i + 1; j < n; j++) {
                            int x = cond[i], y = cond[j];
                            if (x == y) continue;
                            long src = x < y ? soma_rdm_index(n, x, y) : soma_rdm_index(n, y, x);
                            ca[mc] = models[k * m + src], cb[mc] = data[s * m + src], mc++;
                        }
                    double v = NAN;
                    if (meth == SOMA_RSA_PEARSON) v = pearson_ref_(ca, cb, mc);
                    if (meth == SOMA_RSA_SPEARMAN) {
                        soma__rsa_ranks(ca, mc, ra, tmp), soma__rsa_ranks(cb, mc, rb, tmp);
                        v = pearson_ref_(ra, rb, mc);
                    }
                    if (meth == SOMA_RSA_KENDALL_A) CHECK_OK(soma_kendall_tau_a(ca, cb, mc, &v));
                    if (meth == SOMA_RSA_COSINE) {
                        double ab = 0, aa = 0, bb = 0;
                        for (long t = 0; t < mc; t++) ab += ca[t] * cb[t], aa += ca[t] * ca[t], bb += cb[t] * cb[t];
                        v = ab / sqrt(aa * bb);
                    }
                    acc += v / S;
                }
                boot[b * M + k] = acc;
            }
        }
        soma_rsa_eval_opts o = {meth, SOMA_BOOT_CONDITIONS, B, SOMA_CORRECT_NONE, 123};
        soma_rsa_eval e;
        CHECK_OK(soma_rsa_evaluate(models, M, data, S, n, &o, &e));
        for (int k = 0; k < M && e.score; k++) {
            double mean = 0, ss = 0;
            for (int b = 0; b < B; b++) mean += boot[b * M + k] / B;
            for (int b = 0; b < B; b++) ss += (boot[b * M + k] - mean) * (boot[b * M + k] - mean);
            double se = sqrt(ss / (B - 1));
            CHECK(fabs(e.se[k] - se) <= 1e-9 * se);
            if (!(fabs(e.se[k] - se) <= 1e-9 * se))
                fprintf(stderr, "condition bootstrap %s: se %.12g, by hand %.12g\n", soma_rsa_method_name(meth), e.se[k], se);
        }
        soma_rsa_eval_free(&e);
    }
    free(models), free(data), free(ca), free(cb), free(ra), free(rb), free(boot), free(tmp);
}

int main(void) {
    test_rdm_fixtures();
    test_rdm_square();
    test_crossnobis_unbiased();
    test_rdm_bad();
    test_rdm_threads();
    test_compare_fixtures("cmp_plain");
    test_compare_fixtures("cmp_ties");
    test_kendall_ties();
    test_compare_bad();
    test_permtest();
    test_eval_fixture();
    test_ceiling_and_bootstrap();
    test_p_correct();
    test_condition_bootstrap_by_hand();
    return check_report("test_analysis_rsa");
}
