/* Few-shot baselines (soma/neuro.h): decoding, forward-prediction bits per spike, the
 * smoothing + ridge forecaster and the anomaly scores on data whose answer is known, then
 * every baseline on a held-out synthetic session, and bad arguments. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "soma/neuro.h"

enum { K = 40, T = 12, N = 5 };

static void test_decode(void) {
    /* behaviour = a linear map of the features: R^2 ~ 1; features unrelated to it: R^2 ~ 0 */
    static float feat[K * T * 3], noise[K * T * 3], beh[K * T * 2];
    soma_rng r;
    soma_rng_seed(&r, 3, 0);
    soma_rng_normal_fill(&r, feat, K * T * 3, 0, 1);
    soma_rng_normal_fill(&r, noise, K * T * 3, 0, 1);
    for (int i = 0; i < K * T; i++) {
        beh[2 * i] = 2 * feat[3 * i] - feat[3 * i + 1] + 0.5f;
        beh[2 * i + 1] = feat[3 * i + 2];
    }
    uint8_t tr[K], te[K];
    for (int k = 0; k < K; k++) tr[k] = k < 10, te[k] = k >= 20;
    double r2 = 0;
    CHECK_OK(soma_fewshot_decode(feat, 3, beh, 2, K, T, tr, te, &r2));
    CHECK(r2 > 0.999);
    CHECK_OK(soma_fewshot_decode(noise, 3, beh, 2, K, T, tr, te, &r2));
    CHECK(r2 < 0.1);
    /* the test trials are the ones scored: scramble their features and R^2 falls */
    memcpy(noise, feat, sizeof feat);
    for (int i = 20 * T * 3; i < K * T * 3; i++) noise[i] = -noise[i];
    CHECK_OK(soma_fewshot_decode(noise, 3, beh, 2, K, T, tr, te, &r2));
    CHECK(r2 < 0);
    te[3] = 1; /* overlapping split */
    CHECK_FAILS(soma_fewshot_decode(feat, 3, beh, 2, K, T, tr, te, &r2), SOMA_ERR_ARG);
}

static void test_fp_bps(void) {
    /* by hand: one test trial, forward window 2 bins x 2 units */
    soma_counts c;
    CHECK_OK(soma_counts_alloc(&c, 2, 4, 2, 10));
    const float y[4] = {1, 0, 3, 2}; /* trial 1, bins 2-3 */
    memcpy(c.x + 1 * 8 + 4, y, sizeof y);
    float rates[2 * 2 * 2] = {9, 9, 9, 9, 0.5f, 0.25f, 2.0f, 1.5f};
    const uint8_t te[2] = {0, 1};
    double bps = 0;
    CHECK_OK(soma_fewshot_fp_bps(&c, te, 2, rates, &bps));
    double nll = 0, nll0 = 0;
    const double null[2] = {2.0, 1.0}; /* each unit's mean count over the 2 rows */
    for (int i = 0; i < 4; i++) {
        nll += rates[4 + i] - y[i] * log(rates[4 + i]);
        nll0 += null[i % 2] - y[i] * log(null[i % 2]);
    }
    CHECK(fabs(bps - (nll0 - nll) / (6 * log(2.0))) < 1e-6);
    CHECK_FAILS(soma_fewshot_fp_bps(&c, te, 4, rates, &bps), SOMA_ERR_ARG);
    soma_counts_free(&c);
}

static void test_forecast(void) {
    /* real-valued "counts" whose forward bins are an affine function of the last observed bin:
     * with no smoothing the ridge recovers it (cross-validation picks a small alpha) */
    soma_counts c;
    CHECK_OK(soma_counts_alloc(&c, K, T, N, 20));
    soma_rng r;
    soma_rng_seed(&r, 5, 0);
    soma_rng_uniform_fill(&r, c.x, (size_t)K * T * N, 0, 2);
    const int f = 3;
    for (int k = 0; k < K; k++)
        for (int j = 0; j < f; j++)
            for (int u = 0; u < N; u++) {
                const float *x = c.x + ((size_t)k * T + T - f - 1) * N;
                c.x[((size_t)k * T + T - f + j) * N + u] = 3.0f + 0.5f * x[u] - 0.3f * x[(u + 1) % N] * (j + 1);
            }
    uint8_t tr[K];
    for (int k = 0; k < K; k++) tr[k] = k < 25;
    float *rates = soma_alloc((size_t)K * f * N, sizeof(float));
    CHECK_OK(soma_fewshot_forecast_smooth(&c, tr, f, 0.0, rates));
    double worst = 0;
    for (int k = 25; k < K; k++)
        for (int i = 0; i < f * N; i++)
            worst = fmax(worst, fabs(rates[(size_t)k * f * N + i] - c.x[((size_t)k * T + T - f) * N + i]));
    CHECK(worst < 0.05);
    /* Poisson counts of constant rates: the forecasts sit near each unit's rate, never below the floor */
    for (int k = 0; k < K; k++)
        for (int t = 0; t < T; t++)
            for (int u = 0; u < N; u++) c.x[((size_t)k * T + t) * N + u] = (float)soma_rng_poisson(&r, 0.5 + u);
    CHECK_OK(soma_fewshot_forecast_smooth(&c, tr, f, 40.0, rates));
    double err = 0;
    for (int k = 25; k < K; k++)
        for (int i = 0; i < f * N; i++) {
            err = fmax(err, fabs(rates[(size_t)k * f * N + i] - (0.5 + i % N)));
            CHECK(rates[(size_t)k * f * N + i] > 0);
        }
    CHECK(err < 1.0);
    CHECK_FAILS(soma_fewshot_forecast_smooth(&c, tr, T, 40.0, rates), SOMA_ERR_ARG);
    memset(tr, 0, sizeof tr);
    CHECK_FAILS(soma_fewshot_forecast_smooth(&c, tr, f, 40.0, rates), SOMA_ERR_ARG);
    soma_free(rates);
    soma_counts_free(&c);
}

static void test_anomaly_scores(void) {
    /* constant-rate Poisson trials; trial 30: every unit's rate alternates between 0.2 and 3
     * every 2 bins (its own smoothing predicts it badly); trial 31: unit 0 silent (its count is unlike the
     * training trials') */
    soma_counts c;
    CHECK_OK(soma_counts_alloc(&c, K, 40, N, 20));
    soma_rng r;
    soma_rng_seed(&r, 9, 0);
    for (int k = 0; k < K; k++)
        for (int t = 0; t < 40; t++)
            for (int u = 0; u < N; u++) {
                double lam = 1.0;
                if (k == 30) lam = (t / 2) % 2 ? 0.2 : 3.0;
                if (k == 31 && u == 0) lam = 0;
                c.x[((size_t)k * 40 + t) * N + u] = (float)soma_rng_poisson(&r, lam);
            }
    uint8_t tr[K];
    for (int k = 0; k < K; k++) tr[k] = k < 20;
    float dyn[K], units[K];
    CHECK_OK(soma_fewshot_anomaly_smooth(&c, tr, 40.0, dyn, units));
    int top_dyn = 0, top_units = 0;
    for (int k = 0; k < K; k++) {
        if (dyn[k] > dyn[top_dyn]) top_dyn = k;
        if (units[k] > units[top_units]) top_units = k;
    }
    CHECK(top_dyn == 30);
    CHECK(top_units == 31 || top_units == 30);
    CHECK(units[31] > 5 * units[5]);
    /* the oscillating trial stands far out of the normal ones' spread */
    double m = 0, v = 0;
    for (int k = 0; k < 30; k++) m += dyn[k] / 30;
    for (int k = 0; k < 30; k++) v += (dyn[k] - m) * (dyn[k] - m) / 29;
    CHECK(dyn[30] > m + 5 * sqrt(v));
    CHECK_FAILS(soma_fewshot_anomaly_smooth(&c, tr, 0.0, dyn, units), SOMA_ERR_ARG);
    soma_counts_free(&c);
}

static void test_session(void) {
    soma_sessions_opts o = soma_sessions_opts_default();
    o.n_trials = 200;
    o.n_bins = 40;
    o.anomaly_frac = 0.25;
    soma_session s;
    CHECK_OK(soma_session_make(&o, 20, &s));
    const int Ks = s.spikes.n_trials, Ns = s.spikes.n_units;
    uint8_t *ho = soma_alloc((size_t)Ns, 1), *tr = soma_alloc((size_t)Ks, 1), *te = soma_alloc((size_t)Ks, 1);
    CHECK_OK(soma_units_split(Ns, Ns / 4, 7, ho));
    soma_fewshot_opts fo = soma_fewshot_opts_default();
    fo.gpfa_iter = 20;
    static const int sizes[2] = {10, 80};
    soma_fewshot_res res[2];
    for (int i = 0; i < 2; i++) {
        int n = 0;
        for (int k = 0; k < Ks; k++) {
            tr[k] = k < 100 && n < sizes[i] && s.anomaly[k] == 0;
            n += tr[k];
            te[k] = k >= 100;
        }
        soma_fewshot_res *r = &res[i];
        CHECK_OK(soma_fewshot_baselines(&s.spikes, s.beh, 2, s.anomaly, tr, te, ho, &fo, r));
        printf("%3d trials: co-bps smooth %.4f gpfa %.4f, vel R2 %.3f, fp-bps %.4f, AUROC dyn %.3f units %.3f (%.2f s)\n",
               sizes[i], r->co_bps_smooth, r->co_bps_gpfa, r->vel_r2, r->fp_bps, r->auroc_dynamics, r->auroc_units,
               r->seconds);
        CHECK(r->co_bps_gpfa > 0.1);
        CHECK(r->auroc_units > 0.9);
        CHECK(r->auroc_dynamics > 0.5);
        CHECK(r->vel_r2 > 0.3 && r->vel_r2 < 1);
    }
    /* more training trials, better baselines */
    CHECK(res[1].co_bps_smooth > res[0].co_bps_smooth);
    CHECK(res[1].fp_bps > res[0].fp_bps && res[1].fp_bps > 0);
    CHECK(res[1].vel_r2 > res[0].vel_r2);
    /* bad arguments */
    memset(ho, 0, (size_t)Ns);
    CHECK_FAILS(soma_fewshot_baselines(&s.spikes, s.beh, 2, s.anomaly, tr, te, ho, &fo, &res[0]), SOMA_ERR_ARG);
    ho[0] = 1;
    fo.fwd_bins = 39;
    CHECK_FAILS(soma_fewshot_baselines(&s.spikes, s.beh, 2, s.anomaly, tr, te, ho, &fo, &res[0]), SOMA_ERR_ARG);
    soma_free(ho), soma_free(tr), soma_free(te);
    soma_session_free(&s);
}

int main(void) {
    test_decode();
    test_fp_bps();
    test_forecast();
    test_anomaly_scores();
    test_session();
    return check_report("test_neuro_fewshot");
}
