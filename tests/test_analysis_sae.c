/* Tests of the sparse autoencoder (src/analysis/sae.c): the gradient against central finite
 * differences, recovery of a planted sparse dictionary, FVE and L0 against the l1 weight,
 * encode/eval against naive loops, determinism across runs and thread counts, bad inputs. */
#include "soma/analysis.h"
#include "analysis/sae_internal.h"
#include "check.h"

#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

// --- gradient ---------------------------------------------------------------------------

static void test_grad(void) {
    const int d = 6, k = 9, B = 7;
    const float l1 = 0.3f;
    soma_rng r;
    soma_rng_seed(&r, 11, 0);
    float W_e[9 * 6], b_e[9], W_d[9 * 6], b_d[6], X[7 * 6];
    float gW_e[9 * 6], gb_e[9], gW_d[9 * 6], gb_d[6];
    soma_rng_normal_fill(&r, W_e, (size_t)k * d, 0.f, 0.6f);
    soma_rng_normal_fill(&r, b_e, (size_t)k, 0.1f, 0.3f);
    soma_rng_normal_fill(&r, W_d, (size_t)k * d, 0.f, 0.6f);
    soma_rng_normal_fill(&r, b_d, (size_t)d, 0.f, 0.3f);
    soma_rng_normal_fill(&r, X, (size_t)B * d, 0.f, 1.f);
    soma_sae m = {d, k, W_e, b_e, W_d, b_d}, g = {d, k, gW_e, gb_e, gW_d, gb_d};
    soma__sae_work w;
    CHECK_OK(soma__sae_work_init(&w, B, d, k));
    double loss = soma__sae_loss_grad(&m, X, B, l1, &g, &w);
    CHECK(isfinite(loss) && loss > 0);
    CHECK(soma__sae_loss_grad(&m, X, B, l1, NULL, &w) == loss);

    struct { const char *name; float *p, *g; int n; } seg[4] = {
        {"dW_e", W_e, gW_e, k * d}, {"db_e", b_e, gb_e, k},
        {"dW_d", W_d, gW_d, k * d}, {"db_d", b_d, gb_d, d}};
    const float eps = 1e-3f;
    int nonzero = 0;
    for (int s = 0; s < 4; s++) {
        float num[64];
        for (int e = 0; e < seg[s].n; e++) {
            float keep = seg[s].p[e];
            seg[s].p[e] = keep + eps;
            double lp = soma__sae_loss_grad(&m, X, B, l1, NULL, &w);
            seg[s].p[e] = keep - eps;
            double lm = soma__sae_loss_grad(&m, X, B, l1, NULL, &w);
            seg[s].p[e] = keep;
            num[e] = (float)((lp - lm) / (double)((keep + eps) - (keep - eps)));
            nonzero += fabsf(seg[s].g[e]) > 1e-3f;
        }
        CHECK_CLOSE(seg[s].name, seg[s].g, num, (size_t)seg[s].n, 2e-3f, 2e-2f);
    }
    CHECK(nonzero > (2 * k * d + k + d) / 2); /* most features active: the check has teeth */
    soma__sae_work_deinit(&w);
}

// --- planted dictionary --------------------------------------------------------------------

/* n signals, each a sum of s of the K unit atoms (rows of A [K, d]) with positive weights. */
static float *planted(int n, int d, int K, int s, uint64_t seed, float *A) {
    soma_rng r;
    soma_rng_seed(&r, seed, 0);
    soma_rng_normal_fill(&r, A, (size_t)K * d, 0.f, 1.f);
    for (int j = 0; j < K; j++) {
        double q = 0;
        for (int c = 0; c < d; c++) q += (double)A[j * d + c] * A[j * d + c];
        for (int c = 0; c < d; c++) A[j * d + c] /= (float)sqrt(q);
    }
    float *X = calloc((size_t)n * d, sizeof(float));
    for (int i = 0; i < n; i++)
        for (int t = 0; t < s; t++) {
            int j = (int)soma_rng_below(&r, (uint64_t)K);
            float a = 0.5f + (float)soma_rng_uniform(&r);
            for (int c = 0; c < d; c++) X[(size_t)i * d + c] += a * A[j * d + c];
        }
    return X;
}

/* Mean over true atoms of the largest |cos| with any decoder row. */
static double recovery(const float *A, int K, const soma_sae *m) {
    const int d = m->d;
    double tot = 0;
    for (int a = 0; a < K; a++) {
        double best = 0;
        for (int j = 0; j < m->k; j++) {
            double dot = 0, nn = 0;
            for (int c = 0; c < d; c++) {
                dot += (double)A[a * d + c] * m->W_d[(size_t)j * d + c];
                nn += (double)m->W_d[(size_t)j * d + c] * m->W_d[(size_t)j * d + c];
            }
            double cs = nn > 0 ? fabs(dot) / sqrt(nn) : 0;
            if (cs > best) best = cs;
        }
        tot += best;
    }
    return tot / K;
}

static void test_planted(void) {
    const int n = 6000, d = 24, K = 32, s = 3;
    float A[32 * 24];
    float *X = planted(n, d, K, s, 5, A);
    soma_sae m;
    soma_sae_opts o = {.k = 64, .l1 = 0.02f, .lr = 3e-3f, .epochs = 20, .batch = 64, .seed = 1};
    double t0 = soma_now();
    CHECK_OK(soma_sae_train(X, n, d, &o, NULL, &m));
    double rec = recovery(A, K, &m), fve, l0, dead;
    CHECK_OK(soma_sae_eval(&m, X, n, &fve, &l0, &dead));
    printf("planted: recovery %.3f fve %.3f l0 %.2f dead %.2f (%.2f s)\n", rec, fve, l0, dead,
           soma_now() - t0);
    CHECK(rec > 0.9);
    CHECK(fve > 0.8);
    /* a random dictionary of the same size recovers far less: the measure has teeth */
    soma_sae rnd = m;
    float *Wr = malloc(sizeof(float) * (size_t)o.k * d);
    soma_rng r;
    soma_rng_seed(&r, 99, 0);
    soma_rng_normal_fill(&r, Wr, (size_t)o.k * d, 0.f, 1.f);
    rnd.W_d = Wr;
    CHECK(recovery(A, K, &rnd) < 0.7);
    free(Wr);
    soma_sae_free(&m);
    free(X);
}

// --- l1 sweep, encode/eval against naive loops ------------------------------------------

static void naive_eval(const soma_sae *m, const float *X, int n, float *F, double *fve,
                       double *l0) {
    const int d = m->d, k = m->k;
    double sse = 0, sst = 0, act = 0;
    double *mean = calloc((size_t)d, sizeof(double));
    for (int i = 0; i < n; i++)
        for (int c = 0; c < d; c++) mean[c] += X[(size_t)i * d + c] / (double)n;
    for (int i = 0; i < n; i++) {
        const float *x = X + (size_t)i * d;
        for (int j = 0; j < k; j++) {
            double p = m->b_e[j];
            for (int c = 0; c < d; c++) p += (double)m->W_e[(size_t)j * d + c] * (x[c] - m->b_d[c]);
            F[(size_t)i * k + j] = p > 0 ? (float)p : 0.f;
            act += p > 0;
        }
        for (int c = 0; c < d; c++) {
            double xh = m->b_d[c];
            for (int j = 0; j < k; j++) xh += (double)F[(size_t)i * k + j] * m->W_d[(size_t)j * d + c];
            sse += (x[c] - xh) * (x[c] - xh);
            sst += (x[c] - mean[c]) * (x[c] - mean[c]);
        }
    }
    *fve = 1 - sse / sst, *l0 = act / n;
    free(mean);
}

static void test_l1_sweep(void) {
    const int n = 2000, d = 16, K = 24;
    float A[24 * 16];
    float *X = planted(n, d, K, 3, 8, A);
    const float l1s[3] = {0.003f, 0.03f, 0.3f};
    double fve[3], l0[3];
    for (int t = 0; t < 3; t++) {
        soma_sae m;
        soma_sae_opts o = {.k = 48, .l1 = l1s[t], .lr = 3e-3f, .epochs = 8, .batch = 64, .seed = 3};
        CHECK_OK(soma_sae_train(X, n, d, &o, NULL, &m));
        double dead;
        CHECK_OK(soma_sae_eval(&m, X, n, &fve[t], &l0[t], &dead));
        printf("l1 %.3f: fve %.4f l0 %.2f dead %.2f\n", (double)l1s[t], fve[t], l0[t], dead);
        CHECK(dead >= 0 && dead <= 1);
        if (t == 1) {
            float *F = malloc(sizeof(float) * (size_t)n * o.k);
            float *Fn = malloc(sizeof(float) * (size_t)n * o.k);
            double nf, nl;
            CHECK_OK(soma_sae_encode(&m, X, n, F));
            naive_eval(&m, X, n, Fn, &nf, &nl);
            CHECK_CLOSE("encode", F, Fn, (size_t)n * o.k, 1e-4f, 1e-4f);
            CHECK(fabs(nf - fve[t]) < 1e-4);
            CHECK(fabs(nl - l0[t]) < 0.01 * nl + 0.01);
            free(F), free(Fn);
        }
        soma_sae_free(&m);
    }
    CHECK(fve[0] > fve[1] && fve[1] > fve[2]);
    CHECK(l0[0] > l0[1] && l0[1] > l0[2]);
    free(X);
}

// --- determinism ---------------------------------------------------------------------------

static int same_model(const soma_sae *a, const soma_sae *b) {
    size_t kd = (size_t)a->k * a->d;
    return a->k == b->k && a->d == b->d && !memcmp(a->W_e, b->W_e, kd * 4) &&
           !memcmp(a->W_d, b->W_d, kd * 4) && !memcmp(a->b_e, b->b_e, (size_t)a->k * 4) &&
           !memcmp(a->b_d, b->b_d, (size_t)a->d * 4);
}

static void test_determinism(void) {
    /* every element-wise pass takes its OpenMP path */
    const long par_min = soma__sae_par_min;
    soma__sae_par_min = 1;
    const int n = 1024, d = 64, K = 80;
    float *A = malloc(sizeof(float) * K * d);
    float *X = planted(n, d, K, 4, 21, A);
    soma_sae_opts o = {.k = 256, .l1 = 0.01f, .lr = 1e-3f, .epochs = 2, .batch = 256, .seed = 7};
    soma_sae a, b, c;
    CHECK_OK(soma_sae_train(X, n, d, &o, NULL, &a));
#ifdef _OPENMP
    int nt = omp_get_max_threads();
    omp_set_num_threads(nt > 1 ? 1 : 2);
#endif
    CHECK_OK(soma_sae_train(X, n, d, &o, NULL, &b));
#ifdef _OPENMP
    omp_set_num_threads(nt);
#endif
    CHECK(same_model(&a, &b));
    o.seed = 8;
    CHECK_OK(soma_sae_train(X, n, d, &o, NULL, &c));
    CHECK(!same_model(&a, &c));
    soma_sae_free(&a), soma_sae_free(&b), soma_sae_free(&c);
    free(A), free(X);
    soma__sae_par_min = par_min;
}

// --- bad inputs ----------------------------------------------------------------------------

static void test_bad(void) {
    float X[8 * 3];
    for (int i = 0; i < 24; i++) X[i] = (float)((i * 7) % 5) - 2.f;
    soma_sae m;
    soma_sae_opts o = {.k = 4, .l1 = 0.01f, .lr = 1e-2f, .epochs = 2, .batch = 4, .seed = 1};
    CHECK_FAILS(soma_sae_train(NULL, 8, 3, &o, NULL, &m), SOMA_ERR_ARG);
    CHECK_FAILS(soma_sae_train(X, 1, 3, &o, NULL, &m), SOMA_ERR_ARG);
    CHECK_FAILS(soma_sae_train(X, 8, 0, &o, NULL, &m), SOMA_ERR_ARG);
    soma_sae_opts b = o;
    b.k = 0;
    CHECK_FAILS(soma_sae_train(X, 8, 3, &b, NULL, &m), SOMA_ERR_ARG);
    b = o, b.l1 = -1.f;
    CHECK_FAILS(soma_sae_train(X, 8, 3, &b, NULL, &m), SOMA_ERR_ARG);
    b = o, b.lr = 0.f;
    CHECK_FAILS(soma_sae_train(X, 8, 3, &b, NULL, &m), SOMA_ERR_ARG);
    b = o, b.lr = NAN;
    CHECK_FAILS(soma_sae_train(X, 8, 3, &b, NULL, &m), SOMA_ERR_ARG);
    b = o, b.epochs = 0;
    CHECK_FAILS(soma_sae_train(X, 8, 3, &b, NULL, &m), SOMA_ERR_ARG);
    float Xn[8 * 3];
    memcpy(Xn, X, sizeof X);
    Xn[5 * 3 + 1] = NAN;
    CHECK_FAILS(soma_sae_train(Xn, 8, 3, &o, NULL, &m), SOMA_ERR_ARG);
    CHECK(strstr(soma_errmsg(), "row 5") != NULL);
    float Xc[8 * 3];
    for (int i = 0; i < 24; i++) Xc[i] = (float)(i % 3);
    CHECK_FAILS(soma_sae_train(Xc, 8, 3, &o, NULL, &m), SOMA_ERR_ARG);
    /* a diverging learning rate is reported, not returned as NaN weights */
    b = o, b.lr = 1e30f;
    soma_status st = soma_sae_train(X, 8, 3, &b, NULL, &m);
    if (st == SOMA_OK) {
        double f;
        CHECK(soma_sae_eval(&m, X, 8, &f, NULL, NULL) != SOMA_OK || isfinite(f));
        soma_sae_free(&m);
    }

    CHECK_OK(soma_sae_train(X, 8, 3, &o, NULL, &m));
    float F[8 * 4];
    CHECK_FAILS(soma_sae_encode(&m, Xn, 8, F), SOMA_ERR_ARG);
    CHECK_FAILS(soma_sae_encode(NULL, X, 8, F), SOMA_ERR_ARG);
    CHECK_FAILS(soma_sae_eval(&m, Xn, 8, NULL, NULL, NULL), SOMA_ERR_ARG);
    double f;
    CHECK_FAILS(soma_sae_eval(&m, Xc, 8, &f, NULL, NULL), SOMA_ERR_ARG);
    double l0;
    CHECK_OK(soma_sae_eval(&m, Xc, 8, NULL, &l0, NULL)); /* L0 is defined on constant data */
    soma_sae_free(&m);
    soma_sae_free(&m); /* twice: a no-op */
    soma_sae_free(NULL);
}

int main(void) {
    test_grad();
    test_bad();
    test_l1_sweep();
    test_determinism();
    test_planted();
    return check_report("test_analysis_sae");
}
