// Core: status text, tensors, RNG (pinned outputs, statistics, reproducibility), GEMM against
// the reference, argmax's NaN rule, the byte buffers (growth, out of memory, bounds).
#include <math.h>
#include <string.h>

#include "check.h"
#include "soma/core.h"
#include "soma/nn.h"

static void test_status(void) {
    CHECK(strcmp(soma_status_str(SOMA_OK), "ok") == 0);
    CHECK(strcmp(soma_status_str((soma_status)99), "unknown status") == 0);
    soma_status s = soma_error(SOMA_ERR_FORMAT, "idx: %s: bad magic", "f.idx");
    CHECK(s == SOMA_ERR_FORMAT);
    CHECK(strcmp(soma_errmsg(), "idx: f.idx: bad magic") == 0);
    soma_error_wrap(s, "dataset %s", "fmnist");
    CHECK(strcmp(soma_errmsg(), "dataset fmnist: idx: f.idx: bad magic") == 0);
    CHECK(soma_status_exit_code(SOMA_ERR_PARSE) == 2);
    CHECK(soma_status_exit_code(SOMA_ERR_NOMEM) == 1);
    CHECK(soma_status_exit_code(SOMA_OK) == 0);
}

static void test_tensor(void) {
    soma_tensor *t = NULL;
    CHECK_OK(soma_tensor_new(&t, 3, (int[]){2, 3, 4}));
    CHECK(t && t->n == 24 && t->data[23] == 0.f);
    CHECK_OK(soma_tensor_reshape(t, 2, (int[]){6, 4}));
    CHECK_FAILS(soma_tensor_reshape(t, 2, (int[]){5, 4}), SOMA_ERR_SHAPE);
    soma_tensor_free(t);
    soma_tensor *u = NULL;
    CHECK_FAILS(soma_tensor_new(&u, 5, (int[]){1, 1, 1, 1, 1}), SOMA_ERR_SHAPE);
    CHECK_FAILS(soma_tensor_new(&u, 2, (int[]){0, 3}), SOMA_ERR_SHAPE);
    CHECK_FAILS(soma_tensor_new(&u, 4, (int[]){1 << 30, 1 << 30, 1 << 30, 1 << 30}), SOMA_ERR_NOMEM);
    CHECK(u == NULL);
    soma_tensor_free(NULL);
    size_t r;
    CHECK(!soma_mul_ok(SIZE_MAX / 2, 3, &r));
    CHECK(soma_alloc(SIZE_MAX / 4, 8) == NULL);
    /* the injected failure: once, at the chosen allocation, then off */
    CHECK(soma_alloc_fail_after(1) == -1);
    void *p0 = soma_alloc(8, 1);
    soma_error_clear();
    void *p1 = soma_calloc(8, 1);
    CHECK(p0 && !p1 && strstr(soma_errmsg(), "injected"));
    void *p2 = soma_alloc(8, 1);
    CHECK(p2 != NULL);
    CHECK(soma_alloc_fail_after(-1) == -1);
    CHECK(soma_alloc_fail_after(5) == -1);
    CHECK(soma_alloc_fail_after(-1) == 5); /* armed, never reached */
    soma_free(p0);
    soma_free(p2);
    CHECK(soma_tensor_new(&u, 1, (int[]){3}) == SOMA_OK);
    soma_tensor_free(u);
    soma_alloc_fail_after(0);
    CHECK_FAILS(soma_tensor_new(&u, 1, (int[]){3}), SOMA_ERR_NOMEM);
    soma_alloc_fail_after(1);
    CHECK_FAILS(soma_tensor_new(&u, 1, (int[]){3}), SOMA_ERR_NOMEM);
    CHECK(u == NULL);
}

/* Outputs pinned to values computed independently by tests/ref/gen_rng.py (plain Python). The
 * raw-state sequence {1,2,3,4} -> 11520, 0, 1509978240, ... is the published reference output of
 * xoshiro256** itself; the seeded ones pin our splitmix64 seeding and stream mixing. */
static void test_rng_pinned(void) {
    static const uint64_t raw[4] = {0x0000000000002d00ULL, 0x0000000000000000ULL,
                                    0x000000005a007080ULL, 0x10e0000000009d80ULL};
    static const uint64_t s1[4] = {0xffe386a6e6cedb2dULL, 0x9f7656f12b087febULL,
                                   0xb3a9387600d82e36ULL, 0x07d634bfe502df56ULL};
    static const uint64_t s42_3[4] = {0x9c39ef2fb1509730ULL, 0xf732324a95c5df17ULL,
                                      0x455948eb22eb221cULL, 0x55264de1804acee2ULL};
    soma_rng r = {.s = {1, 2, 3, 4}};
    for (int i = 0; i < 4; i++) CHECK(soma_rng_u64(&r) == raw[i]);
    soma_rng_seed(&r, 1, 0);
    for (int i = 0; i < 4; i++) CHECK(soma_rng_u64(&r) == s1[i]);
    soma_rng_seed(&r, 42, 3);
    for (int i = 0; i < 4; i++) CHECK(soma_rng_u64(&r) == s42_3[i]);
    soma_rng_seed(&r, 7, 0);
    CHECK(soma_rng_uniform(&r) == 0.46443920068053324);
    CHECK(soma_rng_uniform(&r) == 0.1805990839260193);
    CHECK(soma_rng_below(&r, 10) == 6);
    CHECK(soma_rng_below(&r, (1ULL << 63) + 5) == 8118207707180799937ULL);
}

/* soma_argmax follows numpy.argmax: the first NaN wins wherever it sits, else the first
 * index of the largest value. */
static void test_argmax(void) {
    const float nan = NAN, inf = INFINITY;
    CHECK(soma_argmax((const float[]){nan, 1.f, 2.f}, 3) == 0);
    CHECK(soma_argmax((const float[]){1.f, nan, 5.f, nan}, 4) == 1);
    CHECK(soma_argmax((const float[]){1.f, 5.f, nan}, 3) == 2);
    CHECK(soma_argmax((const float[]){3.f, 3.f, 1.f}, 3) == 0);
    CHECK(soma_argmax((const float[]){-inf, -1.f, -1.f}, 3) == 1);
    CHECK(soma_argmax((const float[]){inf, nan}, 2) == 1);
    CHECK(soma_argmax((const float[]){-2.f}, 1) == 0);
    /* a NaN row counts as its NaN's class, as numpy would score it */
    const float logits[6] = {nan, 0.f, 9.f, 1.f, 2.f, 0.f};
    CHECK(soma_count_correct(logits, (const int[]){2, 1}, 2, 3) == 1);
    CHECK(soma_count_correct(logits, (const int[]){0, 1}, 2, 3) == 2);
}

static void test_rng(void) {
    soma_rng a, b;
    soma_rng_seed(&a, 42, 0);
    soma_rng_seed(&b, 42, 0);
    int same = 1;
    for (int i = 0; i < 1000; i++) same &= soma_rng_u64(&a) == soma_rng_u64(&b);
    CHECK(same);
    soma_rng_seed(&b, 42, 1);
    CHECK(soma_rng_u64(&a) != soma_rng_u64(&b));
    test_rng_pinned();

    const int N = 200000;
    double s = 0, s2 = 0, su = 0, sp = 0, spv = 0;
    int bern = 0;
    soma_rng_seed(&a, 7, 0);
    for (int i = 0; i < N; i++) {
        double z = soma_rng_normal(&a);
        s += z;
        s2 += z * z;
        double u = soma_rng_uniform(&a);
        CHECK(u >= 0.0 && u < 1.0);
        su += u;
        bern += soma_rng_bernoulli(&a, 0.3);
    }
    double mean = s / N, var = s2 / N - mean * mean;
    CHECK(fabs(mean) < 0.01);
    CHECK(fabs(var - 1.0) < 0.02);
    CHECK(fabs(su / N - 0.5) < 0.005);
    CHECK(fabs((double)bern / N - 0.3) < 0.005);
    for (int k = 0; k < 2; k++) {
        double lam = k ? 50.0 : 3.5;
        sp = spv = 0;
        for (int i = 0; i < N; i++) {
            double x = (double)soma_rng_poisson(&a, lam);
            sp += x;
            spv += x * x;
        }
        double m = sp / N, v = spv / N - m * m;
        CHECK(fabs(m - lam) < 0.02 * lam + 0.02);
        CHECK(fabs(v - lam) < 0.05 * lam + 0.05);
    }
    CHECK(soma_rng_poisson(&a, 0.0) == 0);
    int perm[100], seen[100] = {0};
    soma_rng_permutation(&a, perm, 100);
    int ok = 1;
    for (int i = 0; i < 100; i++) {
        if (perm[i] < 0 || perm[i] >= 100 || seen[perm[i]]++) ok = 0;
    }
    CHECK(ok);
    /* below(n) covers its range uniformly */
    int counts[7] = {0};
    for (int i = 0; i < 70000; i++) counts[soma_rng_below(&a, 7)]++;
    for (int i = 0; i < 7; i++) CHECK(abs(counts[i] - 10000) < 500);
}

static void test_gemm(void) {
    soma_rng r;
    soma_rng_seed(&r, 3, 0);
    const int M = 37, N = 29, K = 53;
    float A[53 * 53], B[53 * 53], C[37 * 53], R[37 * 53];
    soma_rng_normal_fill(&r, A, sizeof A / sizeof *A, 0, 1);
    soma_rng_normal_fill(&r, B, sizeof B / sizeof *B, 0, 1);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int lda = ta ? M : K, ldb = tb ? K : N;
            soma_rng_normal_fill(&r, C, (size_t)M * N, 0, 1);
            memcpy(R, C, sizeof(float) * M * N);
            soma_gemm(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 0.25f, C, N);
            soma_gemm_ref(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 0.25f, R, N);
            char label[32];
            snprintf(label, sizeof label, "gemm ta=%d tb=%d", ta, tb);
            CHECK_CLOSE(label, C, R, (size_t)M * N, 1e-4f, 1e-4f);
        }
    CHECK(soma_crc32(0, "123456789", 9) == 0xCBF43926u);
    soma_set_threads(2);
    CHECK(soma_get_threads() == 2);
}

static void test_bytes(void) {
    /* growth across several doublings keeps every byte in order */
    soma_wbuf b = {0};
    for (int i = 0; i < 3000; i++) {
        uint32_t v = (uint32_t)i * 2654435761u;
        soma_wbuf_put(&b, &v, sizeof v);
    }
    CHECK(!b.oom && b.n == 12000 && b.cap >= b.n);
    int ok = 1;
    for (int i = 0; i < 3000 && ok; i++) {
        uint32_t v;
        memcpy(&v, b.p + 4 * (size_t)i, 4);
        ok = v == (uint32_t)i * 2654435761u;
    }
    CHECK(ok);
    /* the reader walks the same bytes, then stops at the end: zero-filled, sticky */
    soma_rbuf r = {.p = b.p, .n = b.n};
    uint32_t v = 1;
    CHECK(soma_rbuf_get(&r, &v, 4) && v == 0);
    CHECK(soma_rbuf_get(&r, NULL, 4 * 2998) && r.off == 11996);
    CHECK(soma_rbuf_get(&r, &v, 4) && v == 2999u * 2654435761u);
    v = 7;
    CHECK(!soma_rbuf_get(&r, &v, 1) && r.bad && v == 0 && r.off == 12000);
    r.off = 0;
    CHECK(!soma_rbuf_get(&r, &v, 4)); /* bad stays set */
    soma_wbuf_free(&b);
    CHECK(b.p == NULL && b.n == 0 && b.cap == 0);
    /* out of memory: oom set, later puts ignored, the bytes so far kept */
    soma_wbuf c = {0};
    soma_wbuf_put(&c, "abcd", 4);
    soma_alloc_fail_after(0);
    char big[5000] = {0};
    soma_wbuf_put(&c, big, sizeof big);
    soma_alloc_fail_after(-1);
    soma_wbuf_put(&c, "e", 1);
    CHECK(c.oom && c.n == 4 && memcmp(c.p, "abcd", 4) == 0);
    soma_wbuf_free(&c);
}

int main(void) {
    test_status();
    test_tensor();
    test_rng();
    test_argmax();
    test_gemm();
    test_bytes();
    return check_report("test_core");
}
