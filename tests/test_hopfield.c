// Associative memory (include/soma/nn.h): the classical Hopfield network's Hebbian weights,
// synchronous updates and energy against NumPy; energy never rising under asynchronous
// updates; stored patterns as fixed points; the modern network's retrieval and energy against
// NumPy, against torch.softmax attention and against a plain attention loop; the beta
// regimes; bad input. Fixtures: tests/ref/gen_hopfield.py.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fixture.h"
#include "soma/soma.h"

static const fixture_array *need_(const fixture *f, const char *name) {
    const fixture_array *a = fixture_get(f, name);
    if (!a) fprintf(stderr, "fixture: no array %s\n", name);
    CHECK(a != NULL);
    return a;
}

static void random_pm1_(soma_rng *r, float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = soma_rng_bernoulli(r, 0.5) ? 1.f : -1.f;
}

static void test_classical_numpy(const fixture *f) {
    const fixture_array *xi = need_(f, "cls.patterns"), *w = need_(f, "cls.W"), *cues = need_(f, "cls.cues"),
                        *s1 = need_(f, "cls.sync1"), *sfix = need_(f, "cls.sync_fix"), *en = need_(f, "cls.energy");
    if (!xi || !w || !cues || !s1 || !sfix || !en) return;
    const int P = xi->dims[0], N = xi->dims[1], B = cues->dims[0];
    soma_hopfield *h = NULL;
    CHECK_OK(soma_hopfield_new(&h, N));
    if (!h) return;
    /* stored in two calls: Hebb's rule adds up */
    CHECK_OK(soma_hopfield_store(h, xi->data, 2, N));
    CHECK_OK(soma_hopfield_store(h, xi->data + 2 * N, P - 2, N));
    CHECK(soma_hopfield_patterns(h) == P && soma_hopfield_units(h) == N);
    CHECK_CLOSE("hebbian W", soma_hopfield_weights(h), w->data, (size_t)N * N, 1e-6f, 1e-6f);
    float *s = malloc(sizeof(float) * B * N), *e = malloc(sizeof(float) * B);
    int *steps = malloc(sizeof(int) * B);
    memcpy(s, cues->data, sizeof(float) * B * N);
    CHECK_OK(soma_hopfield_energy(h, s, B, N, e));
    CHECK_CLOSE("classical energy", e, en->data, (size_t)B, 1e-5f, 1e-5f);
    CHECK_OK(soma_hopfield_update_sync(h, s, B, N, 1, steps));
    CHECK_CLOSE("one synchronous update", s, s1->data, (size_t)B * N, 0.f, 0.f);
    memcpy(s, cues->data, sizeof(float) * B * N);
    CHECK_OK(soma_hopfield_update_sync(h, s, B, N, 50, steps));
    CHECK_CLOSE("synchronous to a fixed point", s, sfix->data, (size_t)B * N, 0.f, 0.f);
    /* the noisy cues (12 of 64 bits flipped, load 5/64) fall back to their patterns */
    for (int mu = 0; mu < P; mu++) CHECK(memcmp(s + (size_t)mu * N, xi->data + (size_t)mu * N, sizeof(float) * N) == 0);
    for (int i = 0; i < B; i++) CHECK(steps[i] >= -1 && steps[i] <= 50);
    soma_hopfield_clear(h);
    CHECK(soma_hopfield_patterns(h) == 0 && soma_hopfield_weights(h)[1] == 0.f);
    free(s);
    free(e);
    free(steps);
    soma_hopfield_free(h);
}

/* The energy never rises under asynchronous updates (checked after every sweep, from random
 * states at a load that leaves spurious minima), the end state is a fixed point of every unit
 * (one synchronous step changes nothing), and the result does not depend on the threads. */
static void test_async_energy(void) {
    const int N = 120, P = 24, B = 16;
    soma_rng r;
    soma_rng_seed(&r, 7, 0);
    float *xi = malloc(sizeof(float) * P * N), *s = malloc(sizeof(float) * B * N), *s2 = malloc(sizeof(float) * B * N);
    float *e0 = malloc(sizeof(float) * B), *e1 = malloc(sizeof(float) * B);
    int *sw = malloc(sizeof(int) * B), *st = malloc(sizeof(int) * B);
    random_pm1_(&r, xi, (size_t)P * N);
    random_pm1_(&r, s, (size_t)B * N);
    memcpy(s2, s, sizeof(float) * B * N);
    soma_hopfield *h = NULL;
    CHECK_OK(soma_hopfield_new(&h, N));
    CHECK_OK(soma_hopfield_store(h, xi, P, N));
    CHECK_OK(soma_hopfield_energy(h, s, B, N, e0));
    int rises = 0, moved = 0, settled = 0;
    for (int k = 0; k < 30; k++) {
        CHECK_OK(soma_hopfield_update_async(h, s, B, N, 1, 100 + (uint64_t)k, sw));
        CHECK_OK(soma_hopfield_energy(h, s, B, N, e1));
        for (int i = 0; i < B; i++) {
            rises += e1[i] > e0[i] + 1e-5f;
            moved += e1[i] < e0[i] - 1e-5f;
            e0[i] = e1[i];
        }
    }
    CHECK(rises == 0);
    CHECK(moved > B); /* the sweeps did descend */
    CHECK_OK(soma_hopfield_update_async(h, s, B, N, 1, 999, sw));
    for (int i = 0; i < B; i++) settled += sw[i] == 1;
    CHECK(settled == B); /* after 30 sweeps every state sits at a fixed point */
    CHECK_OK(soma_hopfield_update_sync(h, s, B, N, 1, st));
    for (int i = 0; i < B; i++) CHECK(st[i] == 0);

    /* thread-count independence: the same seed gives the same states with 1 and 2 threads */
    float *a = malloc(sizeof(float) * B * N);
    memcpy(a, s2, sizeof(float) * B * N);
    int th = soma_get_threads();
    soma_set_threads(1);
    CHECK_OK(soma_hopfield_update_async(h, a, B, N, 50, 5, sw));
    soma_set_threads(2);
    CHECK_OK(soma_hopfield_update_async(h, s2, B, N, 50, 5, st));
    soma_set_threads(th);
    CHECK(memcmp(a, s2, sizeof(float) * B * N) == 0);
    for (int i = 0; i < B; i++) CHECK(sw[i] == st[i] && sw[i] >= 1 && sw[i] < 50);
    free(a);
    free(xi);
    free(s);
    free(s2);
    free(e0);
    free(e1);
    free(sw);
    free(st);
    soma_hopfield_free(h);
}

/* At low load (5 patterns in 200 units) every stored pattern is a fixed point of both updates;
 * at load 0.5 most are not. */
static void test_fixed_points(void) {
    const int N = 200, P = 100;
    soma_rng r;
    soma_rng_seed(&r, 11, 0);
    float *xi = malloc(sizeof(float) * P * N), *s = malloc(sizeof(float) * P * N);
    int *st = malloc(sizeof(int) * P);
    random_pm1_(&r, xi, (size_t)P * N);
    soma_hopfield *h = NULL;
    CHECK_OK(soma_hopfield_new(&h, N));
    CHECK_OK(soma_hopfield_store(h, xi, 5, N));
    memcpy(s, xi, sizeof(float) * 5 * N);
    CHECK_OK(soma_hopfield_update_sync(h, s, 5, N, 10, st));
    CHECK(memcmp(s, xi, sizeof(float) * 5 * N) == 0);
    for (int i = 0; i < 5; i++) CHECK(st[i] == 0);
    CHECK_OK(soma_hopfield_update_async(h, s, 5, N, 10, 3, st));
    CHECK(memcmp(s, xi, sizeof(float) * 5 * N) == 0);
    for (int i = 0; i < 5; i++) CHECK(st[i] == 1);
    /* overloaded: 100 patterns in 200 units (load 0.5, far above 0.138) */
    CHECK_OK(soma_hopfield_store(h, xi + 5 * N, P - 5, N));
    memcpy(s, xi, sizeof(float) * P * N);
    CHECK_OK(soma_hopfield_update_sync(h, s, P, N, 1, st));
    int stable = 0;
    for (int i = 0; i < P; i++) stable += st[i] == 0;
    CHECK(stable < P / 10);
    free(xi);
    free(s);
    free(st);
    soma_hopfield_free(h);
}

/* softmax(beta Q K^T) V, one query at a time, written out plainly. */
static void attention_ref_(float *out, const float *q, const float *kv, int b, int m, int d, float beta) {
    double *w = malloc(sizeof(double) * m);
    for (int i = 0; i < b; i++) {
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < m; j++) {
            double z = 0;
            for (int k = 0; k < d; k++) z += (double)q[i * d + k] * kv[j * d + k];
            w[j] = beta * z;
            if (w[j] > mx) mx = w[j];
        }
        for (int j = 0; j < m; j++) sum += w[j] = exp(w[j] - mx);
        for (int k = 0; k < d; k++) {
            double acc = 0;
            for (int j = 0; j < m; j++) acc += w[j] / sum * kv[j * d + k];
            out[i * d + k] = (float)acc;
        }
    }
    free(w);
}

static void test_modern_numpy(const fixture *f) {
    const fixture_array *P = need_(f, "mhn.P"), *cues = need_(f, "mhn.cues"), *beta = need_(f, "mhn.beta"),
                        *o1 = need_(f, "mhn.out1"), *o3 = need_(f, "mhn.out3"), *p1 = need_(f, "mhn.probs1"),
                        *en = need_(f, "mhn.energy"), *at = need_(f, "mhn.attn_torch"), *dl = need_(f, "mhn.delta"),
                        *bd = need_(f, "mhn.bound");
    if (!P || !cues || !beta || !o1 || !o3 || !p1 || !en || !at || !dl || !bd) return;
    const int M = P->dims[0], d = P->dims[1], B = cues->dims[0];
    soma_mhn *h = NULL;
    CHECK_OK(soma_mhn_new(&h, P->data, M, d, beta->data[0]));
    if (!h) return;
    CHECK(soma_mhn_count(h) == M && soma_mhn_dim(h) == d && soma_mhn_beta(h) == beta->data[0]);
    float *out = malloc(sizeof(float) * B * d), *pr = malloc(sizeof(float) * B * M), *e = malloc(sizeof(float) * B);
    float *ref = malloc(sizeof(float) * B * d), *dv = malloc(sizeof(float) * M);
    CHECK_OK(soma_mhn_retrieve(h, out, cues->data, B, d, 1, pr));
    CHECK_CLOSE("modern: one update vs numpy", out, o1->data, (size_t)B * d, 1e-5f, 1e-4f);
    CHECK_CLOSE("modern: softmax weights", pr, p1->data, (size_t)B * M, 1e-6f, 1e-4f);
    CHECK_CLOSE("modern: one update vs torch.softmax attention", out, at->data, (size_t)B * d, 1e-5f, 1e-4f);
    attention_ref_(ref, cues->data, P->data, B, M, d, beta->data[0]);
    CHECK_CLOSE("modern: one update vs a plain attention loop", out, ref, (size_t)B * d, 1e-5f, 1e-4f);
    CHECK_OK(soma_mhn_retrieve(h, out, cues->data, B, d, 3, NULL));
    CHECK_CLOSE("modern: three updates", out, o3->data, (size_t)B * d, 1e-5f, 1e-4f);
    /* in place (out == xi) gives the same */
    memcpy(ref, cues->data, sizeof(float) * B * d);
    CHECK_OK(soma_mhn_retrieve(h, ref, ref, B, d, 3, NULL));
    CHECK_CLOSE("modern: in place", ref, o3->data, (size_t)B * d, 1e-5f, 1e-4f);
    CHECK_OK(soma_mhn_energy(h, cues->data, B, d, e));
    CHECK_CLOSE("modern energy", e, en->data, (size_t)B, 1e-4f, 1e-5f);
    CHECK_OK(soma_mhn_separation(h, dv));
    CHECK_CLOSE("separation", dv, dl->data, (size_t)M, 1e-4f, 1e-5f);
    float b = (float)soma_mhn_separation_bound(h);
    CHECK_CLOSE("theorem 3 bound", &b, bd->data, 1, 1e-4f, 1e-5f);
    free(out);
    free(pr);
    free(e);
    free(ref);
    free(dv);
    soma_mhn_free(h);
}

/* Batched retrieval equals cue-by-cue retrieval; the energy never rises along the updates;
 * the three regimes appear as beta grows: the global average, metastable states over a
 * cluster of similar patterns, single patterns. */
static void test_modern_regimes(void) {
    const int C = 4, K = 8, M = C * K, d = 64, B = 12;
    soma_rng r;
    soma_rng_seed(&r, 3, 0);
    float *P = malloc(sizeof(float) * M * d), *cen = malloc(sizeof(float) * C * d);
    soma_rng_normal_fill(&r, cen, (size_t)C * d, 0.f, 1.f);
    for (int c = 0; c < C; c++) /* 4 clusters of 8 similar patterns */
        for (int k = 0; k < K; k++)
            for (int j = 0; j < d; j++) P[(c * K + k) * d + j] = cen[c * d + j] + 0.25f * (float)soma_rng_normal(&r);
    float *cue = malloc(sizeof(float) * B * d), *out = malloc(sizeof(float) * B * d), *one = malloc(sizeof(float) * d);
    float *pr = malloc(sizeof(float) * B * M), *e0 = malloc(sizeof(float) * B), *e1 = malloc(sizeof(float) * B);
    for (int i = 0; i < B; i++) /* cues: stored patterns plus noise */
        for (int j = 0; j < d; j++) cue[i * d + j] = P[(i * 5 % M) * d + j] + 0.3f * (float)soma_rng_normal(&r);
    soma_mhn *h = NULL;
    CHECK_OK(soma_mhn_new(&h, P, M, d, 1.f));
    if (!h) return;
    CHECK_OK(soma_mhn_retrieve(h, out, cue, B, d, 1, NULL));
    for (int i = 0; i < B; i++) {
        CHECK_OK(soma_mhn_retrieve(h, one, cue + i * d, 1, d, 1, NULL));
        CHECK_CLOSE("batched vs one cue", out + i * d, one, (size_t)d, 1e-5f, 1e-4f);
    }
    const float betas[3] = {0.0002f, 0.08f, 1.f};
    int kinds[3][SOMA_MHN_KIND_COUNT] = {{0}};
    for (int t = 0; t < 3; t++) {
        CHECK_OK(soma_mhn_set_beta(h, betas[t]));
        memcpy(out, cue, sizeof(float) * B * d);
        CHECK_OK(soma_mhn_energy(h, out, B, d, e0));
        for (int s = 0; s < 5; s++) {
            CHECK_OK(soma_mhn_retrieve(h, out, out, B, d, 1, pr));
            CHECK_OK(soma_mhn_energy(h, out, B, d, e1));
            for (int i = 0; i < B; i++) CHECK(e1[i] <= e0[i] + 1e-3f * (1.f + fabsf(e0[i])));
            memcpy(e0, e1, sizeof(float) * B);
        }
        for (int i = 0; i < B; i++) {
            float ne;
            soma_mhn_kind k = soma_mhn_kind_of(pr + i * M, M, &ne);
            CHECK(ne >= 1.f - 1e-4f && ne <= M + 1e-3f);
            kinds[t][k]++;
            if (t == 1) { /* the metastable state averages the cue's own cluster */
                const int c0 = (i * 5 % M) / K * K;
                float in = 0.f;
                for (int j = c0; j < c0 + K; j++) in += pr[i * M + j];
                CHECK(in > 0.95f && ne > 2.f);
            }
        }
    }
    printf("regimes (single/metastable/global of %d cues): beta %.4g: %d/%d/%d, beta %.4g: %d/%d/%d, beta %.4g: %d/%d/%d\n",
           B, (double)betas[0], kinds[0][0], kinds[0][1], kinds[0][2], (double)betas[1], kinds[1][0], kinds[1][1],
           kinds[1][2], (double)betas[2], kinds[2][0], kinds[2][1], kinds[2][2]);
    CHECK(kinds[0][SOMA_MHN_GLOBAL] == B);
    CHECK(kinds[1][SOMA_MHN_METASTABLE] == B);
    CHECK(kinds[2][SOMA_MHN_SINGLE] == B);
    /* the kinds themselves */
    float p[10] = {0};
    p[3] = 1.f;
    CHECK(soma_mhn_kind_of(p, 10, NULL) == SOMA_MHN_SINGLE);
    for (int j = 0; j < 10; j++) p[j] = 0.1f;
    CHECK(soma_mhn_kind_of(p, 10, NULL) == SOMA_MHN_GLOBAL);
    for (int j = 0; j < 10; j++) p[j] = j < 3 ? 1.f / 3 : 0.f;
    CHECK(soma_mhn_kind_of(p, 10, NULL) == SOMA_MHN_METASTABLE);
    CHECK(strcmp(soma_mhn_kind_name(SOMA_MHN_METASTABLE), "metastable") == 0);
    free(P);
    free(cen);
    free(cue);
    free(out);
    free(one);
    free(pr);
    free(e0);
    free(e1);
    soma_mhn_free(h);
}

/* Synchronous updates can end in a 2-cycle, asynchronous ones cannot: one pattern (+1, +1)
 * in two units, started from (+1, -1), swaps under synchronous updates for ever. */
static void test_two_cycle(void) {
    soma_hopfield *h = NULL;
    CHECK_OK(soma_hopfield_new(&h, 2));
    if (!h) return;
    const float xi[2] = {1.f, 1.f};
    CHECK_OK(soma_hopfield_store(h, xi, 1, 2));
    float s[6] = {1.f, -1.f, 1.f, 1.f, -1.f, 1.f};
    int st[3];
    CHECK_OK(soma_hopfield_update_sync(h, s, 3, 2, 10, st));
    CHECK(st[0] == -1 && st[1] == 0 && st[2] == -1);
    CHECK(s[2] == 1.f && s[3] == 1.f);
    CHECK(s[0] == -s[1] && s[4] == -s[5]); /* still in the cycle */
    CHECK_OK(soma_hopfield_update_sync(h, s, 1, 2, 1, st)); /* one step allowed: still changing */
    CHECK(st[0] == 2);
    float a[2] = {1.f, -1.f};
    int sw;
    CHECK_OK(soma_hopfield_update_async(h, a, 1, 2, 10, 1, &sw));
    CHECK(a[0] == a[1] && sw == 2); /* one flip, then a sweep that finds the fixed point */
    soma_hopfield_free(h);
}

/* Products large enough for the BLAS and OpenMP to thread: the same numbers with 1 and 2
 * threads. */
static void test_modern_threads(void) {
    const int M = 400, d = 300, B = 400;
    soma_rng r;
    soma_rng_seed(&r, 5, 0);
    float *P = malloc(sizeof(float) * M * d), *q = malloc(sizeof(float) * B * d);
    float *o1 = malloc(sizeof(float) * B * d), *o2 = malloc(sizeof(float) * B * d);
    float *p1 = malloc(sizeof(float) * B * M), *p2 = malloc(sizeof(float) * B * M);
    float *e1 = malloc(sizeof(float) * B), *e2 = malloc(sizeof(float) * B);
    soma_rng_normal_fill(&r, P, (size_t)M * d, 0.f, 0.1f);
    soma_rng_normal_fill(&r, q, (size_t)B * d, 0.f, 0.1f);
    soma_mhn *h = NULL;
    CHECK_OK(soma_mhn_new(&h, P, M, d, 2.f));
    const int th = soma_get_threads();
    soma_set_threads(1);
    CHECK_OK(soma_mhn_retrieve(h, o1, q, B, d, 2, p1));
    CHECK_OK(soma_mhn_energy(h, q, B, d, e1));
    soma_set_threads(2);
    CHECK_OK(soma_mhn_retrieve(h, o2, q, B, d, 2, p2));
    CHECK_OK(soma_mhn_energy(h, q, B, d, e2));
    soma_set_threads(th);
    CHECK(memcmp(o1, o2, sizeof(float) * B * d) == 0);
    CHECK(memcmp(p1, p2, sizeof(float) * B * M) == 0);
    CHECK(memcmp(e1, e2, sizeof(float) * B) == 0);
    free(P);
    free(q);
    free(o1);
    free(o2);
    free(p1);
    free(p2);
    free(e1);
    free(e2);
    soma_mhn_free(h);
}

/* Out of memory at every allocation in turn: SOMA_ERR_NOMEM with a message, or success;
 * never a crash or (ASan build) a leak. */
static soma_status oom_run_(void) {
    enum { N = 40, P = 4, M = 6, d = 10 };
    float xi[P * N], s[P * N], e[M], pat[M * d], out[M * d]; /* M > P */
    for (int i = 0; i < P * N; i++) xi[i] = s[i] = (i * 7 + i / 3) % 5 < 2 ? 1.f : -1.f;
    for (int i = 0; i < M * d; i++) pat[i] = (float)((i * 13) % 7) - 3.f;
    soma_hopfield *h = NULL;
    soma_mhn *m = NULL;
    soma_status st = soma_hopfield_new(&h, N);
    if (st == SOMA_OK) st = soma_hopfield_store(h, xi, P, N);
    if (st == SOMA_OK) st = soma_hopfield_update_sync(h, s, P, N, 5, NULL);
    if (st == SOMA_OK) st = soma_hopfield_update_async(h, s, P, N, 5, 1, NULL);
    if (st == SOMA_OK) st = soma_hopfield_energy(h, s, P, N, e);
    if (st == SOMA_OK) st = soma_mhn_new(&m, pat, M, d, 0.5f);
    if (st == SOMA_OK) st = soma_mhn_retrieve(m, out, pat, M, d, 2, NULL);
    if (st == SOMA_OK) st = soma_mhn_energy(m, pat, M, d, e);
    if (st == SOMA_OK) st = soma_mhn_separation(m, out);
    soma_hopfield_free(h);
    soma_mhn_free(m);
    return st;
}

static void test_oom(void) {
    int k = 0, done = 0;
    for (; k < 100 && !done; k++) {
        soma_error_clear();
        soma_alloc_fail_after(k);
        soma_status st = oom_run_();
        done = soma_alloc_fail_after(-1) >= 0; /* the failure never came: all allocations passed */
        CHECK(st == SOMA_OK || (st == SOMA_ERR_NOMEM && soma_errmsg()[0]));
        if (done) CHECK(st == SOMA_OK);
    }
    CHECK(done && k > 4);
}

static void test_bad_input(void) {
    soma_hopfield *h = NULL;
    CHECK_FAILS(soma_hopfield_new(&h, 0), SOMA_ERR_ARG);
    CHECK(h == NULL);
    CHECK_OK(soma_hopfield_new(&h, 8));
    if (!h) return;
    float x[16], e[2];
    for (int i = 0; i < 16; i++) x[i] = i % 3 ? 1.f : -1.f;
    CHECK_FAILS(soma_hopfield_store(h, x, 2, 7), SOMA_ERR_ARG);  /* dimension mismatch */
    CHECK_FAILS(soma_hopfield_store(h, x, 0, 8), SOMA_ERR_ARG);  /* zero patterns */
    CHECK_FAILS(soma_hopfield_store(h, NULL, 1, 8), SOMA_ERR_ARG);
    x[5] = 0.5f;
    CHECK_FAILS(soma_hopfield_store(h, x, 2, 8), SOMA_ERR_ARG);  /* not +-1 */
    CHECK(soma_hopfield_patterns(h) == 0);
    x[5] = 1.f;
    CHECK_OK(soma_hopfield_store(h, x, 2, 8));
    CHECK_FAILS(soma_hopfield_update_sync(h, x, 2, 9, 5, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_hopfield_update_sync(h, x, 2, 8, 0, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_hopfield_update_async(h, x, 2, 8, 0, 1, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_hopfield_update_async(h, x, 0, 8, 3, 1, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_hopfield_energy(h, x, 2, 4, e), SOMA_ERR_ARG);
    soma_hopfield_free(h);
    soma_hopfield_free(NULL);

    soma_mhn *m = NULL;
    float P[6] = {1, 0, 0, 1, 1, 1}, out[4];
    CHECK_FAILS(soma_mhn_new(&m, P, 0, 2, 1.f), SOMA_ERR_ARG);    /* zero patterns */
    CHECK_FAILS(soma_mhn_new(&m, P, 3, 0, 1.f), SOMA_ERR_ARG);
    CHECK_FAILS(soma_mhn_new(&m, P, 3, 2, 0.f), SOMA_ERR_ARG);    /* beta <= 0 */
    CHECK_FAILS(soma_mhn_new(&m, P, 3, 2, -1.f), SOMA_ERR_ARG);
    CHECK_FAILS(soma_mhn_new(&m, P, 3, 2, NAN), SOMA_ERR_ARG);
    CHECK_FAILS(soma_mhn_new(&m, NULL, 3, 2, 1.f), SOMA_ERR_ARG);
    CHECK(m == NULL);
    CHECK_OK(soma_mhn_new(&m, P, 3, 2, 1.f));
    if (!m) return;
    CHECK_FAILS(soma_mhn_set_beta(m, 0.f), SOMA_ERR_ARG);
    CHECK_FAILS(soma_mhn_set_beta(m, INFINITY), SOMA_ERR_ARG);
    CHECK(soma_mhn_beta(m) == 1.f);
    CHECK_FAILS(soma_mhn_retrieve(m, out, P, 2, 3, 1, NULL), SOMA_ERR_ARG); /* dimension mismatch */
    CHECK_FAILS(soma_mhn_retrieve(m, out, P, 2, 2, 0, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_mhn_retrieve(m, out, P, 0, 2, 1, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_mhn_energy(m, P, 2, 1, e), SOMA_ERR_ARG);
    soma_mhn_free(m);
    soma_mhn_free(NULL);
}

int main(void) {
    fixture f;
    if (fixture_load(check_src_path("tests/fixtures/nn/hopfield.bin"), &f) == 0) {
        test_classical_numpy(&f);
        test_modern_numpy(&f);
        fixture_free(&f);
    } else {
        CHECK(0);
    }
    test_async_energy();
    test_fixed_points();
    test_two_cycle();
    test_modern_threads();
    test_oom();
    test_modern_regimes();
    test_bad_input();
    return check_report("test_hopfield");
}
