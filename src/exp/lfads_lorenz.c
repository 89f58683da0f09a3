// lfads-lorenz: the LFADS benchmark's synthetic Lorenz population (Sussillo et al. 2016;
// Pandarinath et al. 2018). Each model sees the held-in units of the training trials (and the
// held-out units there, to learn their readout); on the test trials it sees only the held-in
// units, and is scored by nlb_tools' co-smoothing bits per spike on the held-out units and by
// latent recovery R^2 (an affine map from its latents to the true Lorenz state, fit on the
// training trials, scored on the test trials).
//   smoothing  Gaussian-smoothed held-in counts; held-out rates by a ridge readout from them
//   lfads      soma_lfads (src/neuro/lfads.c): latents = factors, held-out rates from its readout
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/internal.h"
#include "soma/neuro.h"
#include "soma/plot.h"

static const soma_opt opts_[] = {
    {"trials", SOMA_OPT_INT, "250", 10, 100000, NULL, "trials (each from its own initial state)", 1},
    {"bins", SOMA_OPT_INT, "50", 5, 10000, NULL, "bins per trial (10 ms each)", 1},
    {"units", SOMA_OPT_INT, "50", 4, 10000, NULL, "units (held-in and held-out)", 1},
    {"heldout", SOMA_OPT_FLOAT, "0.25", 0.05, 0.9, NULL, "share of units held out (co-smoothing)", 0},
    {"test", SOMA_OPT_FLOAT, "0.2", 0.05, 0.9, NULL, "share of trials kept for testing", 0},
    {"rate", SOMA_OPT_FLOAT, "20", 0.1, 1000, NULL, "baseline firing rate, Hz", 0},
    {"smooth-ms", SOMA_OPT_FLOAT, "30", 1, 1000, NULL, "smoothing baseline: Gaussian kernel sd, ms", 0},
    {"epochs", SOMA_OPT_INT, "200", 1, 100000, NULL, "LFADS: passes over the training trials", 1},
    {"enc", SOMA_OPT_INT, "64", 1, 4096, NULL, "LFADS: encoder GRU units per direction", 1},
    {"gen", SOMA_OPT_INT, "64", 1, 4096, NULL, "LFADS: generator GRU units", 1},
    {"factors", SOMA_OPT_INT, "8", 1, 4096, NULL, "LFADS: factor dimensions", 0},
    {"batch", SOMA_OPT_INT, "25", 1, 4096, NULL, "LFADS: trials a batch", 0},
    {"lr", SOMA_OPT_FLOAT, "0.005", 1e-6, 1, NULL, "LFADS: Adam learning rate", 0},
    {"cd", SOMA_OPT_FLOAT, "0.3", 0, 0.9, NULL, "LFADS: coordinated dropout share", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark landmarks_[] = {
    {"LFADS recovers the Lorenz latents: R^2 of an affine map from its factors (test trials)",
     "Sussillo, Jozefowicz, Abbott & Pandarinath 2016 (LFADS, Lorenz benchmark)", "https://arxiv.org/abs/1608.06315",
     "lfads_latent_r2", SOMA_EXP_AT_LEAST, 0.9},
    {"LFADS co-smoothing bits per spike above the smoothing baseline's (difference)",
     "Pei et al. 2021 (Neural Latents Benchmark)", "https://arxiv.org/abs/2109.04463", "lfads_minus_smoothing_co_bps",
     SOMA_EXP_AT_LEAST, 0.0},
    {NULL, NULL, NULL, NULL, 0, 0},
};

static const char *const reduced_[] = {"--trials", "40",  "--bins",    "20", "--units", "20", "--epochs",
                                       "12",       "--enc", "16",      "--gen", "16",   NULL};

typedef struct model_res {
    double latent_r2, co_bps;
} model_res;

/* Gaussian smoothing along time of x [K,T,U] into y (sd in bins), truncated at 3 sd,
 * renormalised at the edges. */
static void smooth_(float *y, const float *x, int K, int T, int U, double sd) {
    int w = (int)ceil(3 * sd);
    for (int k = 0; k < K; k++)
        for (int t = 0; t < T; t++)
            for (int u = 0; u < U; u++) {
                double s = 0, ws = 0;
                for (int d = -w; d <= w; d++) {
                    int tt = t + d;
                    if (tt < 0 || tt >= T) continue;
                    double g = exp(-0.5 * d * d / (sd * sd));
                    s += g * x[((size_t)k * T + tt) * U + u];
                    ws += g;
                }
                y[((size_t)k * T + t) * U + u] = (float)(s / ws);
            }
}

/* A ridge readout from z [rows, d] to y [rows, q] fit on the first n_fit rows and applied to all:
 * out [rows, q] (clipped below at floor when floor > 0). */
static soma_status readout_(float *out, const float *z, const float *y, long n_fit, long rows, int d, int q,
                            double alpha, double floor) {
    double *X = soma_alloc((size_t)n_fit * d, sizeof(double)), *Y = soma_alloc((size_t)n_fit * q, sizeof(double));
    double *W = soma_alloc((size_t)d * q, sizeof(double)), *b = soma_alloc((size_t)q, sizeof(double));
    soma_status st = SOMA_ERR_NOMEM;
    if (X && Y && W && b) {
        for (size_t i = 0; i < (size_t)n_fit * d; i++) X[i] = z[i];
        for (size_t i = 0; i < (size_t)n_fit * q; i++) Y[i] = y[i];
        st = soma_ridge_solve(X, Y, n_fit, d, q, alpha, W, b);
        if (st == SOMA_OK)
            for (long r = 0; r < rows; r++)
                for (int j = 0; j < q; j++) {
                    double v = b[j];
                    for (int i = 0; i < d; i++) v += (double)z[(size_t)r * d + i] * W[(size_t)i * q + j];
                    out[(size_t)r * q + j] = (float)(floor > 0 && v < floor ? floor : v);
                }
    }
    soma_free(X), soma_free(Y), soma_free(W), soma_free(b);
    return st;
}

/* Scores latents z [K,T,d] and held-out rates [K,T,n_ho] (trials 0..k_train-1 train, the rest
 * test) against the truth. */
static soma_status score_(model_res *r, const float *z, int d, const float *rates_ho, const soma_synth *s,
                          const float *spk_ho, int k_train, int K, int T, int n_ho) {
    const long nf = (long)k_train * T, ne = (long)(K - k_train) * T;
    SOMA_TRY(soma_latent_r2(z, s->latents, nf, z + (size_t)nf * d, s->latents + (size_t)nf * 3, ne, d, 3,
                            &r->latent_r2));
    SOMA_TRY(soma_nlb_bits_per_spike(rates_ho + (size_t)nf * n_ho, spk_ho + (size_t)nf * n_ho, ne, n_ho, &r->co_bps));
    return SOMA_OK;
}

static void put_model_(soma_exp_ctx *c, const char *name, const model_res *r) {
    cJSON *o = cJSON_AddObjectToObject(c->ours, name);
    if (!o) return;
    soma_json_put_num(o, "latent_r2", r->latent_r2);
    soma_json_put_num(o, "co_bps", r->co_bps);
}

static soma_status run_(soma_exp_ctx *c) {
    int K, T, U, epochs, enc, gen, fac, batch;
    float heldout, test, rate, smooth_ms, lr, cd;
    SOMA_TRY(soma_args_int(&c->args, "trials", &K));
    SOMA_TRY(soma_args_int(&c->args, "bins", &T));
    SOMA_TRY(soma_args_int(&c->args, "units", &U));
    SOMA_TRY(soma_args_int(&c->args, "epochs", &epochs));
    SOMA_TRY(soma_args_int(&c->args, "enc", &enc));
    SOMA_TRY(soma_args_int(&c->args, "gen", &gen));
    SOMA_TRY(soma_args_int(&c->args, "factors", &fac));
    SOMA_TRY(soma_args_int(&c->args, "batch", &batch));
    SOMA_TRY(soma_args_float(&c->args, "heldout", &heldout));
    SOMA_TRY(soma_args_float(&c->args, "test", &test));
    SOMA_TRY(soma_args_float(&c->args, "rate", &rate));
    SOMA_TRY(soma_args_float(&c->args, "smooth-ms", &smooth_ms));
    SOMA_TRY(soma_args_float(&c->args, "lr", &lr));
    SOMA_TRY(soma_args_float(&c->args, "cd", &cd));
    const int n_ho = (int)lroundf(heldout * U) < 1 ? 1 : (int)lroundf(heldout * U), n_in = U - n_ho;
    const int k_test = (int)lroundf(test * K) < 1 ? 1 : (int)lroundf(test * K), k_train = K - k_test;
    if (n_in < 1 || k_train < 2)
        return soma_error(SOMA_ERR_ARG, "lfads-lorenz: %d units and %d trials leave too few held-in units or "
                                         "training trials", U, K);
    soma_synth_opts so = soma_synth_opts_default(SOMA_SYNTH_LORENZ);
    so.n_trials = K, so.n_bins = T, so.n_units = U, so.base_rate_hz = rate, so.seed = c->seed;
    soma_synth s;
    SOMA_TRY(soma_synth_make(&so, &s));
    soma_status st = SOMA_OK;
    const size_t KT = (size_t)K * T;
    float *xin = soma_alloc(KT * n_in, sizeof(float)), *spk_ho = soma_alloc(KT * n_ho, sizeof(float));
    float *sm = soma_alloc(KT * n_in, sizeof(float)), *rho = soma_alloc(KT * n_ho, sizeof(float));
    float *fz = soma_alloc(KT * fac, sizeof(float)), *rates = soma_alloc(KT * U, sizeof(float));
    float *map_s = soma_alloc(KT * 3, sizeof(float)), *map_l = soma_alloc(KT * 3, sizeof(float));
    soma_lfads *m = NULL;
    soma_fig *f = NULL;
    soma_counts train = {0};
    model_res rs = {NAN, NAN}, rl = {NAN, NAN};
    if (!xin || !spk_ho || !sm || !rho || !fz || !rates || !map_s || !map_l) {
        st = SOMA_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < KT; i++) {
        memcpy(xin + i * n_in, s.spikes.x + i * U, (size_t)n_in * sizeof(float));
        memcpy(spk_ho + i * n_ho, s.spikes.x + i * U + n_in, (size_t)n_ho * sizeof(float));
    }
    // --- smoothing: smoothed held-in counts are the latents; a ridge readout gives held-out rates
    double t0 = soma_now();
    smooth_(sm, xin, K, T, n_in, smooth_ms / so.bin_ms);
    if ((st = readout_(rho, sm, spk_ho, (long)k_train * T, (long)KT, n_in, n_ho, 1.0, 1e-4)) != SOMA_OK) goto out;
    if ((st = score_(&rs, sm, n_in, rho, &s, spk_ho, k_train, K, T, n_ho)) != SOMA_OK) goto out;
    soma_exp_put(c, "smoothing_seconds", soma_now() - t0);
    // --- LFADS on the training trials (held-in and held-out units); test trials held-in only
    t0 = soma_now();
    if ((st = soma_counts_alloc(&train, k_train, T, U, so.bin_ms)) != SOMA_OK) goto out;
    memcpy(train.x, s.spikes.x, (size_t)k_train * T * U * sizeof(float));
    soma_lfads_opts lo = soma_lfads_opts_default();
    lo.enc_dim = enc, lo.gen_dim = gen, lo.factors = fac, lo.batch = batch, lo.epochs = epochs, lo.lr = lr;
    lo.cd_rate = cd, lo.seed = c->seed;
    if ((st = soma_lfads_new(&m, T, n_in, U, &lo)) != SOMA_OK) goto out;
    if ((st = soma_lfads_fit(m, &train)) != SOMA_OK) goto out;
    if ((st = soma_lfads_infer(m, xin, K, fz, rates)) != SOMA_OK) goto out;
    for (size_t i = 0; i < KT; i++) memcpy(rho + i * n_ho, rates + i * U + n_in, (size_t)n_ho * sizeof(float));
    if ((st = score_(&rl, fz, fac, rho, &s, spk_ho, k_train, K, T, n_ho)) != SOMA_OK) goto out;
    soma_lfads_history h = soma_lfads_get_history(m);
    soma_exp_put(c, "lfads_seconds", soma_now() - t0);
    soma_exp_put(c, "lfads_best_epoch", h.best_epoch);
    soma_exp_put_array(c, "lfads_train_loss", h.train_loss, h.n_epochs);
    soma_exp_put_array(c, "lfads_valid_loss", h.valid_loss, h.n_epochs);

    put_model_(c, "smoothing", &rs);
    put_model_(c, "lfads", &rl);
    soma_exp_put(c, "lfads_latent_r2", rl.latent_r2);
    soma_exp_put(c, "lfads_minus_smoothing_co_bps", rl.co_bps - rs.co_bps);
    soma_exp_put(c, "held_in_units", n_in);
    soma_exp_put(c, "held_out_units", n_ho);
    soma_exp_put(c, "train_trials", k_train);
    soma_exp_put(c, "test_trials", k_test);
    snprintf(c->headline, sizeof c->headline,
             "Lorenz %d trials x %d bins x %d units (%d held out), %d test trials\n"
             "latent R2 / co-bps: smoothing %.3f / %.4f, LFADS %.3f / %.4f",
             K, T, U, n_ho, k_test, rs.latent_r2, rs.co_bps, rl.latent_r2, rl.co_bps);

    // --- figure: the first test trial's true latents and each model's affine estimate of them
    if ((st = readout_(map_s, sm, s.latents, (long)k_train * T, (long)KT, n_in, 3, 0.0, 0)) != SOMA_OK) goto out;
    if ((st = readout_(map_l, fz, s.latents, (long)k_train * T, (long)KT, fac, 3, 0.0, 0)) != SOMA_OK) goto out;
    if ((st = soma_fig_new(&f, 1, 4, 1600, 380)) != SOMA_OK) goto out;
    soma_fig_title(f, "Lorenz latents of a test trial: true and inferred (affine map fit on training trials)");
    {
        const size_t r0 = (size_t)k_train * T;
        float *tv = soma_alloc((size_t)T * 9, sizeof(float));
        if (!tv) {
            st = SOMA_ERR_NOMEM;
            goto out;
        }
        static const char *dim[3] = {"x", "y", "z"};
        for (int j = 0; j < 3; j++) {
            for (int t = 0; t < T; t++) {
                tv[t] = s.latents[(r0 + t) * 3 + j];
                tv[T + t] = map_l[(r0 + t) * 3 + j];
                tv[2 * T + t] = map_s[(r0 + t) * 3 + j];
            }
            char title[32];
            snprintf(title, sizeof title, "latent %s", dim[j]);
            soma_fig_labels(f, j, title, "bin", "z-scored");
            soma_fig_line(f, j, NULL, tv, T, "true", &(soma_line_style){.color = SOMA_RGB(0x000000), .width = 2.5f});
            soma_fig_line(f, j, NULL, tv + T, T, "LFADS", NULL);
            soma_fig_line(f, j, NULL, tv + 2 * T, T, "smoothing", &(soma_line_style){.dashed = 1});
        }
        const float bars[4] = {(float)rs.latent_r2, (float)rl.latent_r2, (float)rs.co_bps, (float)rl.co_bps};
        static const char *const bl[4] = {"smooth R2", "LFADS R2", "smooth bps", "LFADS bps"};
        soma_fig_labels(f, 3, "latent R2 and co-bps (test trials)", "", "");
        soma_fig_bars(f, 3, bars, NULL, 4, bl, 0);
        soma_free(tv);
    }
    char path[1200];
    st = soma_fig_save(f, soma_exp_path(c, "latents.svg", path, sizeof path));
out:
    soma_fig_free(f);
    soma_lfads_free(m);
    soma_counts_free(&train);
    soma_free(xin), soma_free(spk_ho), soma_free(sm), soma_free(rho), soma_free(fz), soma_free(rates);
    soma_free(map_s), soma_free(map_l);
    soma_synth_free(&s);
    return st;
}

const soma_experiment soma__exp_lfads_lorenz = {
    .name = "lfads-lorenz",
    .summary = "LFADS vs smoothing on the Lorenz benchmark: latent recovery R^2 and co-smoothing bits per spike",
    .landmarks = landmarks_,
    .opts = opts_,
    .reduced_args = reduced_,
    .run = run_,
};
