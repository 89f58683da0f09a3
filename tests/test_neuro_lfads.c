// neuro: LFADS -- the whole model's gradient (encoder, sampled g0, generator, factors, rates,
// KL, L2, coordinated dropout) against central differences at a tiny size; coordinated dropout
// (which entries the encoder sees, which ones the reconstruction counts); training lowers the
// loss on Lorenz data and recovers its latents; determinism (same seed, any thread count);
// bad sizes and options.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "soma/exp.h"
#include "soma/neuro.h"

enum { T = 6, DI = 3, DO = 5, K = 3 };

static soma_lfads_opts tiny_opts_(void) {
    soma_lfads_opts o = soma_lfads_opts_default();
    o.enc_dim = 4, o.gen_dim = 5, o.factors = 2, o.batch = 4, o.cd_rate = 0.3f, o.seed = 3;
    return o;
}

static void counts_(float *y, int n, uint64_t seed) {
    soma_rng r;
    soma_rng_seed(&r, seed, 0);
    for (int i = 0; i < n; i++) y[i] = (float)soma_rng_poisson(&r, 1.5);
}

/* dL/dp of every parameter tensor (sampled values) against the five-point stencil, with the
 * noise (eps and the dropout mask) fixed by the seed. */
static void test_gradient(void) {
    soma_lfads_opts o = tiny_opts_();
    soma_lfads *m = NULL;
    CHECK_OK(soma_lfads_new(&m, T, DI, DO, &o));
    if (!m) return;
    float y[K * T * DO];
    counts_(y, K * T * DO, 5);
    size_t np;
    float *p = soma_lfads_params(m, &np), *g = soma_lfads_grads(m, NULL);
    /* non-trivial biases everywhere (posterior log-variances near -1) */
    soma_rng r;
    soma_rng_seed(&r, 8, 0);
    for (int i = 0; i < soma_lfads_n_tensors(m); i++) {
        size_t off, n;
        const char *nm = soma_lfads_tensor(m, i, &off, &n);
        if (strstr(nm, "bias")) soma_rng_uniform_fill(&r, p + off, n, -0.5f, 0.5f);
    }
    const float klw = 0.7f, l2w = 0.3f;
    double l0;
    CHECK_OK(soma_lfads_batch_loss(m, y, K, 1, 99, klw, l2w, 1, &l0, NULL, NULL, NULL));
    float *ga = malloc(np * sizeof *ga);
    memcpy(ga, g, np * sizeof *ga);
    /* the same loss and gradient, bit for bit, with another thread count */
    int saved = soma_get_threads();
    soma_set_threads(saved == 1 ? 3 : 1);
    double l1;
    CHECK_OK(soma_lfads_batch_loss(m, y, K, 1, 99, klw, l2w, 1, &l1, NULL, NULL, NULL));
    soma_set_threads(saved);
    CHECK(l1 == l0 && memcmp(ga, g, np * sizeof *ga) == 0);
    const float h = 5e-2f;
    double worst = 0;
    for (int i = 0; i < soma_lfads_n_tensors(m); i++) {
        size_t off, n;
        const char *nm = soma_lfads_tensor(m, i, &off, &n);
        double scale = 0, w = 0;
        for (size_t j = 0; j < n; j++) scale = fmax(scale, fabs(ga[off + j]));
        size_t step = 1 + n / 17;
        for (size_t j = 0; j < n; j += step) {
            float keep = p[off + j];
            double l[4];
            static const float at[4] = {2, 1, -1, -2};
            for (int s = 0; s < 4; s++) {
                p[off + j] = keep + at[s] * h;
                CHECK_OK(soma_lfads_batch_loss(m, y, K, 1, 99, klw, l2w, 0, &l[s], NULL, NULL, NULL));
            }
            p[off + j] = keep;
            double num = (-l[0] + 8 * l[1] - 8 * l[2] + l[3]) / (12.0 * h);
            double err = fabs(ga[off + j] - num) / fmax(fmax(fabs(num), fabs(ga[off + j])), 0.05 * scale + 1e-7);
            w = fmax(w, err);
        }
        if (w > 1e-2) fprintf(stderr, "lfads gradient: %s relative error %.3e\n", nm, w);
        worst = fmax(worst, w);
    }
    CHECK(worst <= 1e-2);
    printf("  gradient of the whole model (%zu values, 16 tensors) vs five-point differences: worst %.2e\n", np, worst);
    free(ga);
    soma_lfads_free(m);
}

/* The encoder sees only kept held-in entries; the reconstruction counts only dropped held-in
 * entries (times 1/p) and every held-out one. */
static void test_coordinated_dropout(void) {
    soma_lfads_opts o = tiny_opts_();
    o.batch = 4;
    soma_lfads *m = NULL;
    CHECK_OK(soma_lfads_new(&m, T, DI, DO, &o));
    if (!m) return;
    float y[K * T * DO], lr[K * T * DO], lr2[K * T * DO];
    uint8_t mask[K * T * DI];
    counts_(y, K * T * DO, 6);
    double parts[3], parts2[3], loss;
    CHECK_OK(soma_lfads_batch_loss(m, y, K, 1, 42, 0.f, 0.f, 0, &loss, parts, lr, mask));
    /* the reconstruction term from the log rates and the mask, written out here */
    const double p = o.cd_rate, norm = 1.0 / (K * T * DO);
    double rec = 0;
    int dropped = 0, first_drop = -1, first_keep = -1;
    for (int row = 0; row < K * T; row++)
        for (int u = 0; u < DO; u++) {
            double w = 1.0;
            if (u < DI) {
                int keep = mask[row * DI + u];
                w = keep ? 0.0 : 1.0 / p;
                dropped += !keep;
                if (!keep && first_drop < 0) first_drop = row * DO + u;
                if (keep && first_keep < 0) first_keep = row * DO + u;
            }
            double l = lr[row * DO + u], c = y[row * DO + u];
            rec += w * (exp(l) - c * l + lgamma(c + 1));
        }
    rec *= norm;
    CHECK(fabs(rec - parts[0]) <= 1e-5 * fabs(rec));
    CHECK(fabs(loss - parts[0]) <= 1e-12 && parts[1] == 0 && parts[2] == 0);
    CHECK(dropped > 0 && dropped < K * T * DI && first_drop >= 0 && first_keep >= 0);
    /* a dropped entry: the encoder never sees it (log rates unchanged, bit for bit), the loss
     * moves by exactly its reconstruction term */
    float y2[K * T * DO];
    memcpy(y2, y, sizeof y2);
    y2[first_drop] += 2;
    CHECK_OK(soma_lfads_batch_loss(m, y2, K, 1, 42, 0.f, 0.f, 0, &loss, parts2, lr2, NULL));
    CHECK(memcmp(lr, lr2, sizeof lr) == 0);
    double c0 = y[first_drop], l0 = lr[first_drop];
    double want = norm / p * (-2 * l0 + lgamma(c0 + 3) - lgamma(c0 + 1));
    CHECK(fabs((parts2[0] - parts[0]) - want) <= 1e-5 * fmax(1, fabs(want)));
    /* a kept entry: the encoder sees it (log rates move); its own reconstruction is not counted */
    memcpy(y2, y, sizeof y2);
    y2[first_keep] += 2;
    CHECK_OK(soma_lfads_batch_loss(m, y2, K, 1, 42, 0.f, 0.f, 0, &loss, parts2, lr2, NULL));
    CHECK(memcmp(lr, lr2, sizeof lr) != 0);
    double rec2 = 0;
    for (int row = 0; row < K * T; row++)
        for (int u = 0; u < DO; u++) {
            double w = u < DI ? (mask[row * DI + u] ? 0.0 : 1.0 / p) : 1.0;
            double l = lr2[row * DO + u], c = y2[row * DO + u];
            rec2 += w * (exp(l) - c * l + lgamma(c + 1));
        }
    CHECK(fabs(rec2 * norm - parts2[0]) <= 1e-5 * parts2[0]);
    /* the share dropped over many draws is cd_rate; evaluation drops nothing */
    long drop = 0, tot = 0;
    for (uint64_t s = 0; s < 200; s++) {
        CHECK_OK(soma_lfads_batch_loss(m, y, K, 1, s, 0.f, 0.f, 0, &loss, NULL, NULL, mask));
        for (int i = 0; i < K * T * DI; i++) drop += !mask[i];
        tot += K * T * DI;
    }
    double share = (double)drop / tot;
    CHECK(fabs(share - p) < 0.02);
    CHECK_OK(soma_lfads_batch_loss(m, y, K, 0, 1, 0.f, 0.f, 0, &loss, NULL, NULL, mask));
    int all = 1;
    for (int i = 0; i < K * T * DI; i++) all &= mask[i] == 1;
    CHECK(all);
    printf("  coordinated dropout: %.3f of held-in entries dropped (cd_rate %.2f); encoder blind to dropped, "
           "reconstruction blind to kept\n", share, p);
    soma_lfads_free(m);
}

/* Lorenz data: training lowers the validation loss, the factors carry the latents. Twice with
 * the same seed (1 and 2 threads): identical parameters. */
static void test_train_lorenz(void) {
    soma_synth_opts so = soma_synth_opts_default(SOMA_SYNTH_LORENZ);
    so.n_trials = 48, so.n_bins = 30, so.n_units = 24, so.seed = 4, so.base_rate_hz = 20;
    soma_synth s;
    CHECK_OK(soma_synth_make(&so, &s));
    if (!s.spikes.x) return;
    soma_lfads_opts o = soma_lfads_opts_default();
    o.enc_dim = 24, o.gen_dim = 24, o.factors = 4, o.batch = 16, o.epochs = 30, o.lr = 1e-2f;
    o.kl_warmup = o.l2_warmup = 40, o.seed = 5;
    const int n_in = 18;
    float *par[2] = {NULL, NULL};
    size_t np = 0;
    int saved = soma_get_threads();
    double t0 = soma_now();
    for (int run = 0; run < 2; run++) {
        soma_set_threads(run + 1);
        soma_lfads *m = NULL;
        CHECK_OK(soma_lfads_new(&m, so.n_bins, n_in, so.n_units, &o));
        if (!m) break;
        CHECK_OK(soma_lfads_fit(m, &s.spikes));
        soma_lfads_history h = soma_lfads_get_history(m);
        CHECK(h.n_epochs == o.epochs);
        if (run == 0 && h.n_epochs == o.epochs) {
            float best = h.valid_loss[h.best_epoch];
            CHECK(best < 0.9f * h.valid_loss[0]);
            CHECK(h.train_loss[o.epochs - 1] < 0.9f * h.train_loss[0]);
            /* latent recovery from the factors, in sample (a smoke test: the experiment measures
             * it properly, on held-out trials) */
            const int KT = so.n_trials * so.n_bins;
            float *x = malloc((size_t)KT * n_in * sizeof *x), *f = malloc((size_t)KT * o.factors * sizeof *f);
            for (int i = 0; i < KT; i++) memcpy(x + (size_t)i * n_in, s.spikes.x + (size_t)i * so.n_units, n_in * sizeof *x);
            CHECK_OK(soma_lfads_infer(m, x, so.n_trials, f, NULL));
            double r2 = 0;
            CHECK_OK(soma_latent_r2(f, s.latents, KT, f, s.latents, KT, o.factors, 3, &r2));
            CHECK(r2 > 0.5);
            printf("  Lorenz %dx%dx%d: validation loss %.4f -> %.4f (best epoch %d), train %.4f -> %.4f, latent R2 "
                   "%.3f (in sample)\n",
                   so.n_trials, so.n_bins, so.n_units, h.valid_loss[0], best, h.best_epoch, h.train_loss[0],
                   h.train_loss[o.epochs - 1], r2);
            free(x), free(f);
        }
        float *p = soma_lfads_params(m, &np);
        par[run] = malloc(np * sizeof(float));
        memcpy(par[run], p, np * sizeof(float));
        soma_lfads_free(m);
    }
    soma_set_threads(saved);
    CHECK(par[0] && par[1] && memcmp(par[0], par[1], np * sizeof(float)) == 0);
    printf("  two fits, same seed, 1 and 2 threads: identical parameters (%.1f s for both)\n", soma_now() - t0);
    free(par[0]), free(par[1]);
    soma_synth_free(&s);
}

static void test_errors(void) {
    soma_lfads_opts o = tiny_opts_();
    soma_lfads *m = NULL;
    CHECK_FAILS(soma_lfads_new(&m, T, 6, 4, &o), SOMA_ERR_ARG); /* more held-in than units */
    CHECK_FAILS(soma_lfads_new(&m, 0, 2, 4, &o), SOMA_ERR_ARG);
    o.cd_rate = 1.f;
    CHECK_FAILS(soma_lfads_new(&m, T, 2, 4, &o), SOMA_ERR_ARG);
    o = tiny_opts_();
    o.gen_dim = 0;
    CHECK_FAILS(soma_lfads_new(&m, T, 2, 4, &o), SOMA_ERR_ARG);
    o = tiny_opts_();
    o.lr = -1;
    CHECK_FAILS(soma_lfads_new(&m, T, 2, 4, &o), SOMA_ERR_ARG);
    o = tiny_opts_();
    o.lr_end = 0;
    CHECK_FAILS(soma_lfads_new(&m, T, 2, 4, &o), SOMA_ERR_ARG);
    o.lr_end = 1.5f;
    CHECK_FAILS(soma_lfads_new(&m, T, 2, 4, &o), SOMA_ERR_ARG);
    CHECK(m == NULL);
    o = tiny_opts_();
    CHECK_OK(soma_lfads_new(&m, T, DI, DO, &o));
    if (!m) return;
    soma_counts c;
    CHECK_OK(soma_counts_alloc(&c, 5, T + 1, DO, 10));
    CHECK_FAILS(soma_lfads_fit(m, &c), SOMA_ERR_ARG);
    soma_counts_free(&c);
    CHECK_OK(soma_counts_alloc(&c, 1, T, DO, 10));
    CHECK_FAILS(soma_lfads_fit(m, &c), SOMA_ERR_ARG);
    soma_counts_free(&c);
    float y[8 * T * DO] = {0};
    double l;
    CHECK_FAILS(soma_lfads_batch_loss(m, y, 8, 1, 1, 0, 0, 1, &l, NULL, NULL, NULL), SOMA_ERR_ARG);
    soma_lfads_free(m);
}

/* soma_lfads_cosmooth's plumbing, with the model's own readout and with the GLM readout: its
 * factors are the returned model's inference on the test trials' held-in units, its co-bps is
 * soma_nlb_bits_per_spike of its rates on the held-out units, its rates are the model's (own
 * readout) or another readout's (GLM), and bad masks are refused. */
static void test_cosmooth(void) {
    soma_synth_opts so = soma_synth_opts_default(SOMA_SYNTH_LORENZ);
    so.n_trials = 30, so.n_bins = 12, so.n_units = 10, so.seed = 4;
    soma_synth s;
    CHECK_OK(soma_synth_make(&so, &s));
    const int Kt = 30, Tt = 12, P = 10;
    unsigned char ho[10], te[30];
    CHECK_OK(soma_neuro_split(P, Kt, 0.3, 0.2, 4, ho, te));
    int n_in = 0, n_ho = 0, n_te = 0;
    for (int u = 0; u < P; u++) n_ho += ho[u];
    n_in = P - n_ho;
    for (int k = 0; k < Kt; k++) n_te += te[k];
    for (int g = 0; g < 2; g++) {
        soma_lfads_opts o = soma_lfads_opts_default();
        o.enc_dim = 6, o.gen_dim = 6, o.factors = 3, o.batch = 8, o.epochs = 4, o.glm_readout = g, o.seed = 2;
        soma_cosmooth r;
        soma_lfads *m = NULL;
        CHECK_OK(soma_lfads_cosmooth(&s.spikes, ho, te, s.latents, 3, &o, &r, &m));
        if (!m) continue;
        CHECK(r.n_test == n_te && r.n_bins == Tt && r.n_units == P && r.n_latents == 3 && isfinite(r.latent_r2));
        float *x = malloc(sizeof(float) * n_te * Tt * n_in), *z = malloc(sizeof(float) * n_te * Tt * 3);
        float *rt = malloc(sizeof(float) * n_te * Tt * P), *rr = malloc(sizeof(float) * n_te * Tt * n_ho);
        float *ss = malloc(sizeof(float) * n_te * Tt * n_ho);
        for (int i = 0; i < n_te; i++) {
            CHECK(te[r.test_idx[i]] && (i == 0 || r.test_idx[i] > r.test_idx[i - 1]));
            for (int t = 0; t < Tt; t++)
                for (int u = 0, a = 0, b = 0; u < P; u++) {
                    const size_t row = (size_t)i * Tt + t;
                    const float y = s.spikes.x[((size_t)r.test_idx[i] * Tt + t) * P + u];
                    if (!ho[u]) x[row * n_in + a++] = y;
                    else {
                        rr[row * n_ho + b] = r.rates[row * P + u];
                        ss[row * n_ho + b++] = y;
                    }
                }
        }
        CHECK_OK(soma_lfads_infer(m, x, n_te, z, rt));
        CHECK(memcmp(z, r.z, sizeof(float) * n_te * Tt * 3) == 0);
        double bps;
        CHECK_OK(soma_nlb_bits_per_spike(rr, ss, (long)n_te * Tt, n_ho, &bps));
        CHECK(bps == r.co_bps);
        /* the model's held-out rates (its units: held-in first) against the reported ones */
        int same = 1;
        for (int i = 0; i < n_te * Tt; i++)
            for (int u = 0, b = 0; u < P; u++)
                if (ho[u]) {
                    same &= rt[(size_t)i * P + n_in + b] == rr[(size_t)i * n_ho + b];
                    b++;
                }
        CHECK(same == !g);
        for (int i = 0; i < n_te * Tt * n_ho; i++) CHECK(rr[i] > 0 && isfinite(rr[i]));
        free(x), free(z), free(rt), free(rr), free(ss);
        soma_lfads_free(m);
        soma_cosmooth_free(&r);
    }
    unsigned char none[10] = {0};
    soma_cosmooth r;
    soma_lfads_opts o = soma_lfads_opts_default();
    CHECK_FAILS(soma_lfads_cosmooth(&s.spikes, none, te, NULL, 0, &o, &r, NULL), SOMA_ERR_ARG);
    soma_synth_free(&s);
}

static double num_(const cJSON *o, const char *model, const char *k) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, model);
    const cJSON *v = m ? cJSON_GetObjectItemCaseSensitive(m, k) : NULL;
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* The experiment's headline at reduced size (100 trials x 25 bins x 30 units, 30 epochs), for
 * seeds 1, 2 and 3 (about 0.5 s of CPU each): LFADS recovers the latents from held-in units of
 * unseen trials, and both LFADS and GPFA predict the held-out units better than smoothing does
 * on every seed. (LFADS above GPFA needs the full size: docs/neuro.md.) */
static void test_experiment(void) {
    const soma_experiment *e = soma_exp_find("lfads-lorenz");
    CHECK(e != NULL);
    if (!e) return;
    static const char *const seeds[] = {"1", "2", "3"};
    for (int si = 0; si < 3; si++) {
        cJSON *r = NULL;
        double t0 = soma_now();
        const char *extra[] = {"--seed", seeds[si]};
        CHECK_OK(soma_exp_run_reduced(e, 2, extra, "test_neuro_lfads_out", &r));
        if (!r) continue;
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(r, "ours");
        double lr2 = num_(o, "lfads", "latent_r2"), lbps = num_(o, "lfads", "co_bps");
        double sr2 = num_(o, "smoothing", "latent_r2"), sbps = num_(o, "smoothing", "co_bps");
        double gbps = num_(o, "gpfa", "co_bps"), top;
        const cJSON *tv = cJSON_GetObjectItemCaseSensitive(o, "true_rates_co_bps");
        top = cJSON_IsNumber(tv) ? tv->valuedouble : NAN;
        printf("  lfads-lorenz (reduced, seed %s, %.1f s): LFADS latent R2 %.3f, co-bps %.4f; GPFA co-bps %.4f; "
               "smoothing %.3f, %.4f; true rates %.4f\n",
               seeds[si], soma_now() - t0, lr2, lbps, gbps, sr2, sbps, top);
        CHECK(lr2 > 0.6 && lr2 <= 1);
        CHECK(lbps > sbps && gbps > sbps && sbps > 0);
        CHECK(top > lbps && top > gbps); /* nothing beats the true rates */
        static const char *const models[] = {"smoothing", "pca", "fa", "gpfa", "vae", "lfads"};
        for (int i = 0; i < 6; i++)
            CHECK(isfinite(num_(o, models[i], "co_bps")) && isfinite(num_(o, models[i], "latent_r2")));
        cJSON_Delete(r);
    }
}

int main(void) {
    printf("LFADS:\n");
    test_gradient();
    test_coordinated_dropout();
    test_train_lorenz();
    test_errors();
    test_cosmooth();
    test_experiment();
    return check_report("neuro_lfads");
}
