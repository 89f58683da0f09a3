/* Latent models (soma/neuro.h): smoothing, PCA and FA against tests/ref/gen_latent.py's NumPy
 * values; FA's and GPFA's EM log-likelihood never falls; GPFA recovers a 1-D GP latent and
 * its timescale; results do not depend on the thread count; co-smoothing on a Lorenz
 * population predicts held-out neurons; bad options are refused. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "fixture.h"
#include "soma/neuro.h"

static int ll_rises(const soma_latent *m, const char *what) {
    int n;
    const double *ll = soma_latent_loglik(m, &n);
    int ok = n >= 2;
    for (int i = 1; i < n; i++)
        if (ll[i] < ll[i - 1] - 1e-9 * fabs(ll[i - 1])) {
            fprintf(stderr, "%s: log-likelihood fell at iteration %d: %.12g -> %.12g\n", what, i, ll[i - 1], ll[i]);
            ok = 0;
        }
    return ok;
}

static void against_numpy(void) {
    fixture f;
    CHECK(fixture_load(check_src_path("tests/fixtures/neuro/latent.bin"), &f) == 0);
    const int K = 4, T = 30, U = 8, L = 2;
    soma_counts c;
    CHECK_OK(soma_counts_alloc(&c, K, T, U, 10.0));
    memcpy(c.x, fixture_get(&f, "counts")->data, sizeof(float) * K * T * U);
    float sm[4 * 30 * 8];
    soma_neuro_smooth(c.x, K, T, U, 2.0, sm);
    CHECK_CLOSE("smoothed", sm, fixture_get(&f, "smoothed")->data, (size_t)K * T * U, 1e-5f, 1e-5f);

    soma_latent_opts o = soma_latent_opts_default(SOMA_LATENT_PCA);
    o.n_latents = L;
    o.smooth_ms = 20.0;
    soma_latent *m;
    CHECK_OK(soma_latent_fit(&m, &c, &o));
    float z[4 * 30 * 2], rec[4 * 30 * 8];
    CHECK_OK(soma_latent_infer(m, &c, 1, z));
    const double *C, *d, *R;
    CHECK_OK(soma_latent_params(m, &C, &d, &R));
    for (int i = 0; i < K * T; i++)
        for (int u = 0; u < U; u++) {
            double a = d[u];
            for (int l = 0; l < L; l++) a += z[i * L + l] * C[u * L + l];
            rec[i * U + u] = (float)a;
        }
    CHECK_CLOSE("pca reconstruction", rec, fixture_get(&f, "pca_recon")->data, (size_t)K * T * U, 1e-4f, 1e-4f);
    soma_latent_free(m);

    o = soma_latent_opts_default(SOMA_LATENT_FA);
    o.n_latents = L;
    o.smooth_ms = 20.0;
    o.max_iter = 15;
    o.tol = 0;
    CHECK_OK(soma_latent_fit(&m, &c, &o));
    int n;
    const double *ll = soma_latent_loglik(m, &n);
    CHECK(n == 16);
    float llf[16], Rf[8], CCt[64], df[8];
    for (int i = 0; i < 16 && i < n; i++) llf[i] = (float)ll[i];
    CHECK_CLOSE("fa log-likelihood", llf, fixture_get(&f, "fa_ll")->data, 16, 1e-5f, 1e-5f);
    CHECK(ll_rises(m, "fa"));
    CHECK_OK(soma_latent_params(m, &C, &d, &R));
    for (int a = 0; a < U; a++) {
        Rf[a] = (float)R[a];
        df[a] = (float)d[a];
        for (int b = 0; b < U; b++) {
            double s = 0;
            for (int l = 0; l < L; l++) s += C[a * L + l] * C[b * L + l];
            CCt[a * U + b] = (float)s;
        }
    }
    CHECK_CLOSE("fa R", Rf, fixture_get(&f, "fa_R")->data, 8, 1e-5f, 1e-4f);
    CHECK_CLOSE("fa CC'", CCt, fixture_get(&f, "fa_CCt")->data, 64, 1e-5f, 1e-4f);
    CHECK_CLOSE("fa d", df, fixture_get(&f, "fa_d")->data, 8, 1e-5f, 1e-5f);
    soma_latent_free(m);
    soma_counts_free(&c);
    fixture_free(&f);
}

/* y = c x + d + noise with x a GP: white noise smoothed by a Gaussian of sd s bins has the
 * squared-exponential covariance of timescale sqrt(2) s. */
static void gpfa_recovers(void) {
    const int K = 16, T = 40, P = 12, W = 12;
    const double s = 3.0;
    soma_counts c;
    CHECK_OK(soma_counts_alloc(&c, K, T, P, 20.0));
    float *x = malloc(sizeof(float) * K * T);
    soma_rng r;
    soma_rng_seed(&r, 3, 0);
    double cw[12], dw[12], noise[40 + 2 * 12];
    for (int j = 0; j < P; j++) cw[j] = soma_rng_normal(&r), dw[j] = 2 * soma_rng_normal(&r);
    double ks = 0;
    for (int a = -W; a <= W; a++) ks += exp(-a * a / (s * s));
    for (int k = 0; k < K; k++) {
        for (int t = 0; t < T + 2 * W; t++) noise[t] = soma_rng_normal(&r);
        for (int t = 0; t < T; t++) {
            double v = 0;
            for (int a = -W; a <= W; a++) v += exp(-0.5 * a * a / (s * s)) * noise[t + W + a];
            x[k * T + t] = (float)(v / sqrt(ks));
            for (int j = 0; j < P; j++)
                c.x[((size_t)k * T + t) * P + j] = (float)(cw[j] * x[k * T + t] + dw[j] + 0.7 * soma_rng_normal(&r));
        }
    }
    soma_latent_opts o = soma_latent_opts_default(SOMA_LATENT_GPFA);
    o.n_latents = 1;
    o.max_iter = 30;
    o.tol = 0;
    soma_latent *m;
    CHECK_OK(soma_latent_fit(&m, &c, &o));
    CHECK(ll_rises(m, "gpfa"));
    int n;
    const double *ll = soma_latent_loglik(m, &n);
    CHECK(n == 31 && ll[n - 1] > ll[0]);
    float *z = malloc(sizeof(float) * K * T);
    CHECK_OK(soma_latent_infer(m, &c, 1, z));
    double r2;
    CHECK_OK(soma_latent_r2(z, x, K * T, z, x, K * T, 1, 1, &r2));
    const double tau = soma_latent_tau_ms(m)[0], want = sqrt(2.0) * s * 20.0;
    printf("gpfa: latent R2 %.4f, tau %.1f ms (generating %.1f ms)\n", r2, tau, want);
    CHECK(r2 > 0.9);
    CHECK(tau > 0.7 * want && tau < 1.3 * want);
    /* the thread count changes nothing */
    float *z1 = malloc(sizeof(float) * K * T);
    soma_latent *m1;
    const int th = soma_get_threads();
    soma_set_threads(1);
    CHECK_OK(soma_latent_fit(&m1, &c, &o));
    CHECK_OK(soma_latent_infer(m1, &c, 1, z1));
    soma_set_threads(th);
    CHECK(memcmp(z, z1, sizeof(float) * K * T) == 0);
    soma_latent_free(m1);
    /* a longer trial than the fit's: the GP posterior adapts to the length */
    soma_counts c2;
    CHECK_OK(soma_counts_alloc(&c2, 1, 2 * T, P, 20.0));
    memcpy(c2.x, c.x, sizeof(float) * 2 * T * P);
    float z2[80];
    CHECK_OK(soma_latent_infer(m, &c2, 0, z2));
    for (int i = 0; i < 80; i++) CHECK(isfinite(z2[i]));
    soma_counts_free(&c2);
    soma_latent_free(m);
    free(z);
    free(z1);
    free(x);
    soma_counts_free(&c);
}

static void cosmooth_lorenz(void) {
    soma_synth_opts so = soma_synth_opts_default(SOMA_SYNTH_LORENZ);
    so.n_trials = 30;
    so.n_bins = 40;
    so.n_units = 24;
    so.base_rate_hz = 20;
    soma_synth s;
    CHECK_OK(soma_synth_make(&so, &s));
    unsigned char ho[24], te[30];
    CHECK_OK(soma_neuro_split(24, 30, 0.25, 0.2, 1, ho, te));
    int nh = 0, nt = 0;
    for (int i = 0; i < 24; i++) nh += ho[i];
    for (int i = 0; i < 30; i++) nt += te[i];
    CHECK(nh == 6 && nt == 6);
    for (int k = 0; k < SOMA_LATENT_KIND_COUNT; k++) {
        soma_latent_opts o = soma_latent_opts_default((soma_latent_kind)k);
        o.max_iter = 20;
        o.vae_epochs = 15;
        soma_cosmooth r;
        CHECK_OK(soma_neuro_cosmooth(&s.spikes, ho, te, s.latents, 3, &o, &r));
        printf("%-6s co-bps %.4f latent R2 %.4f (%.2f s)\n", soma_latent_kind_name(k), r.co_bps, r.latent_r2, r.fit_s);
        CHECK(r.co_bps > 0.1); /* better than each neuron's mean rate */
        CHECK(r.latent_r2 > 0.3);
        CHECK(r.n_test == 6 && r.n_latents == (k == SOMA_LATENT_SMOOTH ? 18 : 3));
        soma_cosmooth_free(&r);
    }
    /* the baselines in one call, quick */
    soma_cosmooth res[SOMA_LATENT_KIND_COUNT];
    CHECK_OK(soma_neuro_baselines(&s.spikes, NULL, 0, 2, 0.25, 0.2, 2, 0.2, res));
    for (int k = 0; k < SOMA_LATENT_KIND_COUNT; k++) {
        CHECK(isfinite(res[k].co_bps) && isnan(res[k].latent_r2));
        soma_cosmooth_free(&res[k]);
    }
    /* bad input */
    soma_latent_opts o = soma_latent_opts_default(SOMA_LATENT_FA);
    soma_cosmooth r;
    unsigned char none[24] = {0};
    CHECK_FAILS(soma_neuro_cosmooth(&s.spikes, none, te, NULL, 0, &o, &r), SOMA_ERR_ARG);
    o.n_latents = 30;
    soma_latent *m;
    CHECK_FAILS(soma_latent_fit(&m, &s.spikes, &o), SOMA_ERR_ARG);
    CHECK(m == NULL);
    o = soma_latent_opts_default(SOMA_LATENT_GPFA);
    o.n_latents = 3;
    soma_counts big;
    CHECK_OK(soma_counts_alloc(&big, 2, 1001, 4, 10.0));
    CHECK_FAILS(soma_latent_fit(&m, &big, &o), SOMA_ERR_ARG);
    soma_counts_free(&big);
    o.gp_noise = 0;
    CHECK_FAILS(soma_latent_fit(&m, &s.spikes, &o), SOMA_ERR_ARG);
    CHECK_FAILS(soma_neuro_split(24, 30, 1.5, 0.2, 1, ho, te), SOMA_ERR_ARG);
    soma_latent_kind k;
    CHECK_OK(soma_latent_kind_parse("gpfa", &k));
    CHECK(k == SOMA_LATENT_GPFA);
    CHECK_FAILS(soma_latent_kind_parse("lfads", &k), SOMA_ERR_ARG);
    soma_synth_free(&s);
}

int main(void) {
    against_numpy();
    gpfa_recovers();
    cosmooth_lorenz();
    return check_report("neuro_latent");
}
