/* Multi-session synthetic data (soma/neuro.h): shapes, determinism (a session made alone is
 * the same as in a family), that sessions record different subsets of one pool with different
 * gains but share the pool's tuning and the latent dynamics, that each anomaly label matches
 * the perturbation seen in the latents and rates, LIF sessions, and bad options. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "soma/neuro.h"

/* Per unit, the affine fit of log rates on latents over the trials whose anomaly is NONE:
 * coef [N, L + 1] (slopes, then intercept). Returns the worst |residual| of those rows. */
static double fit_log_rates(const soma_session *s, double *coef) {
    const int K = s->spikes.n_trials, T = s->spikes.n_bins, N = s->spikes.n_units, L = s->n_latents;
    long n = 0;
    for (int k = 0; k < K; k++) n += s->anomaly[k] == SOMA_ANOMALY_NONE ? T : 0;
    double *X = soma_alloc((size_t)n * L, sizeof(double)), *Y = soma_alloc((size_t)n * N, sizeof(double));
    double *W = soma_alloc((size_t)L * N, sizeof(double)), *b = soma_alloc((size_t)N, sizeof(double));
    long r = 0;
    for (int k = 0; k < K; k++) {
        if (s->anomaly[k] != SOMA_ANOMALY_NONE) continue;
        for (int t = 0; t < T; t++, r++) {
            const size_t kt = (size_t)k * T + t;
            for (int l = 0; l < L; l++) X[r * L + l] = s->latents[kt * L + l];
            for (int u = 0; u < N; u++) Y[r * N + u] = log(s->rates[kt * N + u]);
        }
    }
    double worst = INFINITY;
    if (soma_ridge_solve(X, Y, n, L, N, 0.0, W, b) == SOMA_OK) {
        worst = 0;
        for (int u = 0; u < N; u++) {
            for (int l = 0; l < L; l++) coef[u * (L + 1) + l] = W[l * N + u];
            coef[u * (L + 1) + L] = b[u];
        }
        for (long i = 0; i < n; i++)
            for (int u = 0; u < N; u++) {
                double v = b[u];
                for (int l = 0; l < L; l++) v += X[i * L + l] * W[l * N + u];
                worst = fmax(worst, fabs(v - Y[i * N + u]));
            }
    }
    soma_free(X), soma_free(Y), soma_free(W), soma_free(b);
    return worst;
}

/* Latents of the condition-averaged counts (PCA of smoothed root counts, L components):
 * z [n_conds * T, L]. */
static int cond_latents(const soma_session *s, int L, float *z) {
    soma_counts psth = {0};
    double *cond = soma_alloc((size_t)s->spikes.n_trials, sizeof(double));
    for (int k = 0; k < s->spikes.n_trials; k++) cond[k] = s->angle[k];
    int n_levels = 0, ok = 0;
    if (soma_counts_psth(&s->spikes, cond, &psth, NULL, &n_levels) == SOMA_OK) {
        soma_latent_opts o = soma_latent_opts_default(SOMA_LATENT_PCA);
        o.n_latents = L;
        soma_latent *m = NULL;
        ok = soma_latent_fit(&m, &psth, &o) == SOMA_OK && soma_latent_infer(m, &psth, 0, z) == SOMA_OK;
        soma_latent_free(m);
    }
    soma_counts_free(&psth);
    soma_free(cond);
    return ok ? n_levels : 0;
}

static void test_shapes_and_determinism(void) {
    soma_sessions_opts o = soma_sessions_opts_default();
    o.n_trials = 30;
    soma_session a, b, c;
    CHECK_OK(soma_session_make(&o, 0, &a));
    CHECK_OK(soma_session_make(&o, 1, &b));
    const int N = a.spikes.n_units;
    CHECK(a.spikes.n_trials == 30 && a.spikes.n_bins == 50 && N >= 40 && N <= 80 && a.n_latents == 8);
    CHECK(a.beh_dims == 2 && a.spikes.bin_ms == 20.0 && !a.lif && a.index == 0 && b.index == 1);
    CHECK_OK(soma_session_make(&o, 0, &c)); /* the same session made again */
    const size_t nr = (size_t)30 * 50 * N;
    CHECK(c.spikes.n_units == N && memcmp(a.spikes.x, c.spikes.x, nr * sizeof(float)) == 0);
    CHECK(memcmp(a.latents, c.latents, (size_t)30 * 50 * 8 * sizeof(float)) == 0);
    CHECK(memcmp(a.beh, c.beh, (size_t)30 * 50 * 2 * sizeof(float)) == 0);
    soma_session_free(&c);
    /* units are distinct pool neurons; sessions record different subsets with different gains */
    int dup = 0, shared = 0;
    for (int u = 0; u < N; u++) {
        CHECK(a.unit_pool[u] >= 0 && a.unit_pool[u] < 200);
        for (int v = 0; v < u; v++) dup += a.unit_pool[u] == a.unit_pool[v];
        for (int v = 0; v < b.spikes.n_units; v++) shared += a.unit_pool[u] == b.unit_pool[v];
    }
    CHECK(dup == 0);
    CHECK(shared > 0 && shared < N); /* overlapping, not the same */
    double gmin = INFINITY, gmax = 0;
    for (int u = 0; u < N; u++) gmin = fmin(gmin, a.gain[u]), gmax = fmax(gmax, a.gain[u]);
    CHECK(gmax / gmin > 1.5);
    /* the rate model: log rates are affine in the latents (exactly), counts are Poisson of them */
    double *ca = soma_alloc((size_t)N * 9, sizeof(double)), *cb = soma_alloc((size_t)b.spikes.n_units * 9, sizeof(double));
    CHECK(fit_log_rates(&a, ca) < 1e-3);
    CHECK(fit_log_rates(&b, cb) < 1e-3);
    double sum_r = 0, sum_c = 0;
    for (size_t i = 0; i < nr; i++) {
        sum_r += a.rates[i], sum_c += a.spikes.x[i];
        CHECK(a.spikes.x[i] >= 0 && a.spikes.x[i] == floorf(a.spikes.x[i]));
    }
    CHECK(fabs(sum_c - sum_r) < 4 * sqrt(sum_r));
    const double mean_hz = sum_r / (double)nr / 0.020;
    CHECK(mean_hz > 5 && mean_hz < 60);
    /* one pool neuron in two sessions: tuning vectors parallel, scaled by the gains' ratio, the
     * intercepts apart by the offsets' difference */
    int pairs = 0;
    for (int u = 0; u < N; u++)
        for (int v = 0; v < b.spikes.n_units; v++) {
            if (a.unit_pool[u] != b.unit_pool[v]) continue;
            pairs++;
            double worst = 0;
            for (int l = 0; l < 8; l++)
                worst = fmax(worst, fabs(ca[u * 9 + l] / a.gain[u] - cb[v * 9 + l] / b.gain[v]));
            CHECK(worst < 1e-3);
            CHECK(fabs((ca[u * 9 + 8] - a.offset[u]) - (cb[v * 9 + 8] - b.offset[v])) < 1e-3);
        }
    CHECK(pairs == shared);
    soma_free(ca), soma_free(cb);
    /* behaviour is a fixed linear map of the latents, the same in every session */
    double *X = soma_alloc((size_t)1500 * 8, sizeof(double)), *Y = soma_alloc((size_t)1500 * 2, sizeof(double));
    double W[16], bb[2];
    for (int i = 0; i < 1500 * 8; i++) X[i] = a.latents[i];
    for (int i = 0; i < 1500 * 2; i++) Y[i] = a.beh[i];
    CHECK_OK(soma_ridge_solve(X, Y, 1500, 8, 2, 0.0, W, bb));
    double worst = 0;
    for (int i = 0; i < 1500; i++)
        for (int d = 0; d < 2; d++) {
            double v = bb[d];
            for (int l = 0; l < 8; l++) v += b.latents[i * 8 + l] * W[l * 2 + d];
            worst = fmax(worst, fabs(v - b.beh[i * 2 + d]));
        }
    CHECK(worst < 1e-3);
    soma_free(X), soma_free(Y);
    /* another seed: another pool */
    o.seed = 2;
    CHECK_OK(soma_session_make(&o, 0, &c));
    CHECK(c.spikes.n_units != N || memcmp(c.unit_pool, a.unit_pool, (size_t)N * sizeof(int)) != 0);
    soma_session_free(&c);
    soma_session_free(&a);
    soma_session_free(&b);
}

/* Sessions share latents: with conditions shared across sessions, the latents of one
 * session's condition-averaged smoothed counts map affinely onto another's; onto those of a
 * family with other dynamics (another seed) they do not. */
static void test_shared_latents(void) {
    soma_sessions_opts o = soma_sessions_opts_default();
    o.n_conds = 8;
    o.n_trials = 160;
    o.init_noise = 0.0;
    o.speed_sd = 0.0;
    soma_session a, b, c;
    CHECK_OK(soma_session_make(&o, 3, &a));
    CHECK_OK(soma_session_make(&o, 7, &b));
    o.seed = 5;
    CHECK_OK(soma_session_make(&o, 7, &c));
    const int L = 8, R = 8 * 50;
    float *za = soma_alloc((size_t)R * L, sizeof(float)), *zb = soma_alloc((size_t)R * L, sizeof(float));
    float *zc = soma_alloc((size_t)R * L, sizeof(float));
    CHECK(cond_latents(&a, L, za) == 8 && cond_latents(&b, L, zb) == 8 && cond_latents(&c, L, zc) == 8);
    double r2_same = 0, r2_other = 0;
    /* fit on the even conditions' bins, score on the odd ones: rows of condition q are q*50.. */
    float *fa = soma_alloc((size_t)R * L, sizeof(float)), *fb = soma_alloc((size_t)R * L, sizeof(float));
    float *fc = soma_alloc((size_t)R * L, sizeof(float));
    for (int half = 0; half < 2; half++)
        for (int q = half, j = half * 4; q < 8; q += 2, j++) {
            memcpy(fa + (size_t)j * 50 * L, za + (size_t)q * 50 * L, 50 * L * sizeof(float));
            memcpy(fb + (size_t)j * 50 * L, zb + (size_t)q * 50 * L, 50 * L * sizeof(float));
            memcpy(fc + (size_t)j * 50 * L, zc + (size_t)q * 50 * L, 50 * L * sizeof(float));
        }
    CHECK_OK(soma_latent_r2(fa, fb, 200, fa + 200 * L, fb + 200 * L, 200, L, L, &r2_same));
    CHECK_OK(soma_latent_r2(fa, fc, 200, fa + 200 * L, fc + 200 * L, 200, L, L, &r2_other));
    printf("shared latents: held-out R^2 session 3 -> 7 %.3f, -> another family %.3f\n", r2_same, r2_other);
    CHECK(r2_same > 0.85);
    CHECK(r2_other < r2_same - 0.2);
    soma_free(za), soma_free(zb), soma_free(zc), soma_free(fa), soma_free(fb), soma_free(fc);
    soma_session_free(&a), soma_session_free(&b), soma_session_free(&c);
}

/* Each anomaly label matches what the latents and rates show. */
static void test_anomalies(void) {
    soma_sessions_opts o = soma_sessions_opts_default();
    o.n_trials = 120;
    o.anomaly_frac = 0.6;
    soma_session s;
    CHECK_OK(soma_session_make(&o, 2, &s));
    const int K = 120, T = 50, N = s.spikes.n_units, L = 8;
    int n_kind[SOMA_ANOMALY_KIND_COUNT] = {0};
    double *coef = soma_alloc((size_t)N * (L + 1), sizeof(double));
    CHECK(fit_log_rates(&s, coef) < 1e-3); /* the NONE trials */
    const double w0 = 2 * 3.14159265358979 / 12.0; /* the fastest plane: period 12 bins */
    const int n_a = (int)floor(0.3 * N + 0.5), n_drop = (n_a + 1) / 2;
    int bad = 0;
    for (int k = 0; k < K; k++) {
        const int kind = s.anomaly[k];
        CHECK(kind >= 0 && kind < SOMA_ANOMALY_KIND_COUNT);
        n_kind[kind]++;
        /* plane 0: the angle turned per bin (mean), and the bins where its radius jumps */
        double turn = 0;
        int jumps = 0;
        for (int t = 0; t + 1 < T; t++) {
            const float *z0 = s.latents + ((size_t)k * T + t) * L, *z1 = z0 + L;
            double d = atan2(z1[1], z1[0]) - atan2(z0[1], z0[0]);
            while (d < 0) d += 2 * 3.14159265358979;
            turn += d / (T - 1);
            for (int j = 0; j < L / 2; j++)
                if (fabs(hypot(z1[2 * j], z1[2 * j + 1]) - hypot(z0[2 * j], z0[2 * j + 1])) > 1e-4) {
                    jumps++;
                    break;
                }
        }
        /* units whose rates are all zero, and units off their affine model (the rest) */
        int silent = 0, off = 0;
        for (int u = 0; u < N; u++) {
            double mx = 0, dev = 0;
            for (int t = 0; t < T; t++) {
                const size_t kt = (size_t)k * T + t;
                const double r = s.rates[kt * N + u];
                mx = fmax(mx, r);
                double v = coef[u * (L + 1) + L];
                for (int l = 0; l < L; l++) v += coef[u * (L + 1) + l] * s.latents[kt * L + l];
                if (r > 0) dev = fmax(dev, fabs(log(r) - v));
            }
            silent += mx == 0;
            off += mx > 0 && dev > 1e-2;
        }
        const double ratio = turn / w0;
        int ok = 1;
        if (kind == SOMA_ANOMALY_DYNAMICS) ok = ratio > 1.6 && ratio < 2.5 && jumps == 0 && silent == 0 && off == 0;
        else if (kind == SOMA_ANOMALY_PULSE) ok = jumps == 1 && silent == 0 && off == 0;
        else if (kind == SOMA_ANOMALY_UNITS) ok = ratio > 0.8 && ratio < 1.25 && jumps == 0 && silent == n_drop &&
                                                  off == n_a - n_drop;
        else ok = ratio > 0.8 && ratio < 1.25 && jumps == 0 && silent == 0 && off == 0;
        if (!ok) {
            bad++;
            fprintf(stderr, "trial %d (%s): turn ratio %.2f, %d jumps, %d silent, %d off-model units\n", k,
                    soma_anomaly_kind_name((soma_anomaly_kind)kind), ratio, jumps, silent, off);
        }
    }
    CHECK(bad == 0);
    for (int i = 0; i < SOMA_ANOMALY_KIND_COUNT; i++) CHECK(n_kind[i] >= 10);
    CHECK(strcmp(soma_anomaly_kind_name(SOMA_ANOMALY_PULSE), "pulse") == 0);
    soma_free(coef);
    soma_session_free(&s);
    /* anomaly_frac 0: none */
    o.anomaly_frac = 0;
    CHECK_OK(soma_session_make(&o, 2, &s));
    int any = 0;
    for (int k = 0; k < K; k++) any += s.anomaly[k] != 0;
    CHECK(any == 0);
    soma_session_free(&s);
}

static void test_lif(void) {
    soma_sessions_opts o = soma_sessions_opts_default();
    o.n_trials = 10;
    o.units_min = 20, o.units_max = 30;
    soma_session a, b;
    CHECK_OK(soma_session_make_lif(&o, 4, &a));
    CHECK_OK(soma_session_make_lif(&o, 4, &b));
    const int N = a.spikes.n_units;
    CHECK(a.lif == 1 && N >= 20 && N <= 30 && a.spikes.n_trials == 10 && a.spikes.n_bins == 50);
    CHECK(!a.rates && !a.latents && !a.beh && a.anomaly);
    CHECK(b.spikes.n_units == N && memcmp(a.spikes.x, b.spikes.x, (size_t)10 * 50 * N * sizeof(float)) == 0);
    double total = 0;
    for (size_t i = 0; i < (size_t)10 * 50 * N; i++) total += a.spikes.x[i];
    const double hz = total / N / (10 * 50 * 0.020);
    printf("LIF session: %d units, %.1f Hz\n", N, hz);
    CHECK(hz > 1 && hz < 200);
    soma_session_free(&a), soma_session_free(&b);
    soma_session_free(NULL);
}

static void test_bad_options(void) {
    soma_sessions_opts o = soma_sessions_opts_default();
    soma_session s;
    o.n_latents = 7;
    CHECK_FAILS(soma_session_make(&o, 0, &s), SOMA_ERR_ARG);
    o = soma_sessions_opts_default();
    o.units_max = 300;
    CHECK_FAILS(soma_session_make(&o, 0, &s), SOMA_ERR_ARG);
    o = soma_sessions_opts_default();
    o.anomaly_frac = 1.5;
    CHECK_FAILS(soma_session_make(&o, 0, &s), SOMA_ERR_ARG);
    o = soma_sessions_opts_default();
    o.period_min = 1;
    CHECK_FAILS(soma_session_make(&o, 0, &s), SOMA_ERR_ARG);
    o = soma_sessions_opts_default();
    CHECK_FAILS(soma_session_make(&o, -1, &s), SOMA_ERR_ARG);
    o.units_min = 1, o.units_max = 1;
    CHECK_FAILS(soma_session_make_lif(&o, 0, &s), SOMA_ERR_ARG);
    CHECK(s.spikes.x == NULL && s.rates == NULL);
}

int main(void) {
    test_shapes_and_determinism();
    test_shared_latents();
    test_anomalies();
    test_lif();
    test_bad_options();
    return check_report("test_neuro_sessions");
}
