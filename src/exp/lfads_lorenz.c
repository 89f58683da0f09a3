// lfads-lorenz: the LFADS benchmark's synthetic Lorenz population (Sussillo et al. 2016;
// Pandarinath et al. 2018). Each model sees the held-in units of the training trials (and the
// held-out units there, to learn their readout); on the test trials it sees only the held-in
// units, and is scored by nlb_tools' co-smoothing bits per spike on the held-out units and by
// latent recovery R^2 (an affine map from its latents to the true Lorenz state, fit on the
// training trials, scored on the test trials).
//   smoothing, PCA, FA, GPFA, VAE   soma_neuro_baselines (src/neuro/latent.c, gpfa.c): latents
//              of the held-in units, held-out rates by a Poisson GLM readout from them
//   lfads      soma_lfads (src/neuro/lfads.c) on the same split: latents = factors, held-out
//              rates from its own readout of the factors
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/internal.h"
#include "soma/neuro.h"
#include "soma/plot.h"

static const soma_opt opts_[] = {
    {"trials", SOMA_OPT_INT, "500", 10, 100000, NULL, "trials (each from its own initial state)", 1},
    {"bins", SOMA_OPT_INT, "50", 5, 10000, NULL, "bins per trial (10 ms each)", 1},
    {"units", SOMA_OPT_INT, "50", 4, 10000, NULL, "units (held-in and held-out)", 1},
    {"heldout", SOMA_OPT_FLOAT, "0.25", 0.05, 0.9, NULL, "share of units held out (co-smoothing)", 0},
    {"test", SOMA_OPT_FLOAT, "0.2", 0.05, 0.9, NULL, "share of trials kept for testing", 0},
    {"rate", SOMA_OPT_FLOAT, "20", 0.1, 1000, NULL, "baseline firing rate, Hz", 0},
    {"latents", SOMA_OPT_INT, "10", 1, 64, NULL, "baselines (PCA, FA, GPFA, VAE): latent dimensions", 0},
    {"iter-scale", SOMA_OPT_FLOAT, "1", 0.01, 1, NULL, "baselines: share of their default EM iterations", 1},
    {"epochs", SOMA_OPT_INT, "200", 1, 100000, NULL, "LFADS: passes over the training trials", 1},
    {"enc", SOMA_OPT_INT, "64", 1, 4096, NULL, "LFADS: encoder GRU units per direction", 1},
    {"gen", SOMA_OPT_INT, "64", 1, 4096, NULL, "LFADS: generator GRU units", 1},
    {"factors", SOMA_OPT_INT, "8", 1, 4096, NULL, "LFADS: factor dimensions", 0},
    {"batch", SOMA_OPT_INT, "25", 1, 4096, NULL, "LFADS: trials a batch", 0},
    {"lr", SOMA_OPT_FLOAT, "0.005", 1e-6, 1, NULL, "LFADS: Adam learning rate", 0},
    {"cd", SOMA_OPT_FLOAT, "0.3", 0, 0.9, NULL, "LFADS: coordinated dropout share", 0},
    {"lr-end", SOMA_OPT_FLOAT, "0.05", 1e-4, 1, NULL, "LFADS: last epoch's learning rate / lr (cosine decay)", 0},
    {"glm-readout", SOMA_OPT_INT, "1", 0, 1, NULL, "LFADS: held-out rates by the baselines' GLM from its factors", 0},
    {"kl", SOMA_OPT_FLOAT, "1", 0, 100, NULL, "LFADS: final KL weight", 0},
    {"l2", SOMA_OPT_FLOAT, "0.001", 0, 100, NULL, "LFADS: final L2 weight on the generator", 0},
    {"warmup", SOMA_OPT_INT, "200", 0, 1000000, NULL, "LFADS: KL and L2 warm-up steps", 0},
    {"validate", SOMA_OPT_FLAG, NULL, 0, 0, NULL,
     "validation run: drop the test trials; a share (--test) of the training trials plays their part", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark landmarks_[] = {
    {"LFADS recovers the Lorenz latents: R^2 of an affine map from its factors (test trials)",
     "Sussillo, Jozefowicz, Abbott & Pandarinath 2016 (LFADS, Lorenz benchmark)", "https://arxiv.org/abs/1608.06315",
     "lfads_latent_r2", SOMA_EXP_AT_LEAST, 0.9},
    {"LFADS co-smoothing bits per spike above GPFA's (difference; NLB: LFADS/AutoLFADS > GPFA > smoothing)",
     "Pei et al. 2021 (Neural Latents Benchmark)", "https://arxiv.org/abs/2109.04463", "lfads_minus_gpfa_co_bps",
     SOMA_EXP_AT_LEAST, 0.0},
    {"GPFA co-smoothing bits per spike above smoothing's (difference)", "Pei et al. 2021 (Neural Latents Benchmark)",
     "https://arxiv.org/abs/2109.04463", "gpfa_minus_smoothing_co_bps", SOMA_EXP_AT_LEAST, 0.0},
    {NULL, NULL, NULL, NULL, 0, 0},
};

static const char *const reduced_[] = {"--trials", "200", "--bins", "25", "--units",     "30", "--epochs", "40",
                                       "--lr",     "0.01", "--enc",  "16", "--gen",       "16", "--batch",  "20",
                                       "--iter-scale", "0.2", NULL};

typedef struct model_res {
    double latent_r2, co_bps;
} model_res;

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

static void put_model_(soma_exp_ctx *c, const char *name, const model_res *r) {
    cJSON *o = cJSON_AddObjectToObject(c->ours, name);
    if (!o) return;
    soma_json_put_num(o, "latent_r2", r->latent_r2);
    soma_json_put_num(o, "co_bps", r->co_bps);
}

/* A validation run: keeps only the training trials of the seeded split (the test trials are
 * never seen), in their order; *K becomes their number. The split drawn on them afterwards
 * holds out the same units (soma_neuro_split draws the units first) and a share of these
 * trials in place of the test trials. */
static soma_status keep_train_(soma_synth *s, double heldout, double test, uint64_t seed, int *K) {
    const int K0 = s->spikes.n_trials, T = s->spikes.n_bins, U = s->spikes.n_units, L = s->n_latents;
    unsigned char *ho = soma_alloc((size_t)U, 1), *te = soma_alloc((size_t)K0, 1);
    soma_status st = ho && te ? soma_neuro_split(U, K0, heldout, test, seed, ho, te) : SOMA_ERR_NOMEM;
    int k1 = 0;
    for (int k = 0; k < K0 && st == SOMA_OK; k++) {
        if (te[k]) continue;
        const size_t a = (size_t)k * T, b = (size_t)k1 * T; /* b <= a: compaction in place */
        memmove(s->spikes.x + b * U, s->spikes.x + a * U, (size_t)T * U * sizeof(float));
        memmove(s->rates + b * U, s->rates + a * U, (size_t)T * U * sizeof(float));
        memmove(s->latents + b * L, s->latents + a * L, (size_t)T * L * sizeof(float));
        k1++;
    }
    if (st == SOMA_OK) s->spikes.n_trials = *K = k1;
    soma_free(ho), soma_free(te);
    return st;
}

static const char *const MODEL_[] = {"smoothing", "pca", "fa", "gpfa", "vae", "lfads"};
enum { N_MODELS = SOMA_LATENT_KIND_COUNT + 1, LFADS_ = SOMA_LATENT_KIND_COUNT };

static soma_status run_(soma_exp_ctx *c) {
    int K, T, U, epochs, enc, gen, fac, batch, n_lat, warm, glm;
    float heldout, test, rate, lr, cd, iter_scale, kl, l2, lr_end;
    SOMA_TRY(soma_args_int(&c->args, "trials", &K));
    SOMA_TRY(soma_args_int(&c->args, "bins", &T));
    SOMA_TRY(soma_args_int(&c->args, "units", &U));
    SOMA_TRY(soma_args_int(&c->args, "epochs", &epochs));
    SOMA_TRY(soma_args_int(&c->args, "enc", &enc));
    SOMA_TRY(soma_args_int(&c->args, "gen", &gen));
    SOMA_TRY(soma_args_int(&c->args, "factors", &fac));
    SOMA_TRY(soma_args_int(&c->args, "batch", &batch));
    SOMA_TRY(soma_args_int(&c->args, "latents", &n_lat));
    SOMA_TRY(soma_args_float(&c->args, "heldout", &heldout));
    SOMA_TRY(soma_args_float(&c->args, "test", &test));
    SOMA_TRY(soma_args_float(&c->args, "rate", &rate));
    SOMA_TRY(soma_args_float(&c->args, "lr", &lr));
    SOMA_TRY(soma_args_float(&c->args, "cd", &cd));
    SOMA_TRY(soma_args_float(&c->args, "iter-scale", &iter_scale));
    SOMA_TRY(soma_args_float(&c->args, "kl", &kl));
    SOMA_TRY(soma_args_float(&c->args, "lr-end", &lr_end));
    SOMA_TRY(soma_args_int(&c->args, "glm-readout", &glm));
    SOMA_TRY(soma_args_float(&c->args, "l2", &l2));
    SOMA_TRY(soma_args_int(&c->args, "warmup", &warm));
    soma_synth_opts so = soma_synth_opts_default(SOMA_SYNTH_LORENZ);
    so.n_trials = K, so.n_bins = T, so.n_units = U, so.base_rate_hz = rate, so.seed = c->seed;
    soma_synth s;
    SOMA_TRY(soma_synth_make(&so, &s));
    soma_status st = SOMA_OK;
    if (soma_args_flag(&c->args, "validate") && (st = keep_train_(&s, heldout, test, c->seed, &K)) != SOMA_OK) {
        soma_synth_free(&s);
        return st;
    }
    soma_cosmooth base[SOMA_LATENT_KIND_COUNT], lf = {0};
    memset(base, 0, sizeof base);
    unsigned char *ho = soma_alloc((size_t)U, 1), *te = soma_alloc((size_t)K, 1);
    float *lat = NULL, *rr = NULL, *ss = NULL, *map = NULL, *tv = NULL;
    soma_lfads *m = NULL;
    soma_fig *f = NULL;
    model_res res[N_MODELS];
    for (int i = 0; i < N_MODELS; i++) res[i] = (model_res){NAN, NAN};
    if (!ho || !te) {
        st = SOMA_ERR_NOMEM;
        goto out;
    }
    // --- the baselines (soma_neuro_baselines) on a seeded split of units and trials
    double t0 = soma_now();
    if ((st = soma_neuro_baselines(&s.spikes, s.latents, 3, n_lat, heldout, test, c->seed, iter_scale, base)) != SOMA_OK)
        goto out;
    for (int k = 0; k < SOMA_LATENT_KIND_COUNT; k++) {
        res[k] = (model_res){base[k].latent_r2, base[k].co_bps};
        char key[48];
        snprintf(key, sizeof key, "%s_seconds", MODEL_[k]);
        soma_exp_put(c, key, base[k].fit_s);
    }
    soma_exp_put(c, "baselines_seconds", soma_now() - t0);
    // --- LFADS on the same split (soma_lfads_cosmooth)
    if ((st = soma_neuro_split(U, K, heldout, test, c->seed, ho, te)) != SOMA_OK) goto out;
    t0 = soma_now();
    soma_lfads_opts lo = soma_lfads_opts_default();
    lo.enc_dim = enc, lo.gen_dim = gen, lo.factors = fac, lo.batch = batch, lo.epochs = epochs, lo.lr = lr;
    lo.cd_rate = cd, lo.seed = c->seed, lo.kl_weight = kl, lo.l2_gen = l2, lo.kl_warmup = warm, lo.l2_warmup = warm;
    lo.lr_end = lr_end, lo.glm_readout = glm;
    if ((st = soma_lfads_cosmooth(&s.spikes, ho, te, s.latents, 3, &lo, &lf, &m)) != SOMA_OK) goto out;
    res[LFADS_] = (model_res){lf.latent_r2, lf.co_bps};
    soma_lfads_history h = soma_lfads_get_history(m);
    soma_exp_put(c, "lfads_seconds", soma_now() - t0);
    soma_exp_put(c, "lfads_best_epoch", h.best_epoch);
    soma_exp_put_array(c, "lfads_train_loss", h.train_loss, h.n_epochs);
    soma_exp_put_array(c, "lfads_valid_loss", h.valid_loss, h.n_epochs);
    const int k_test = lf.n_test, k_train = K - k_test;
    int n_ho = 0;
    for (int u = 0; u < U; u++) n_ho += ho[u];
    const long ne = (long)k_test * T;
    lat = soma_alloc((size_t)ne * 3, sizeof(float));
    rr = soma_alloc((size_t)ne * n_ho, sizeof(float)), ss = soma_alloc((size_t)ne * n_ho, sizeof(float));
    map = soma_alloc((size_t)T * 3 * N_MODELS, sizeof(float)), tv = soma_alloc((size_t)T * 4, sizeof(float));
    if (!lat || !rr || !ss || !map || !tv) {
        st = SOMA_ERR_NOMEM;
        goto out;
    }
    /* the test trials' true latents, and the ceiling: the true rates' co-bps on the same bins */
    for (long i = 0; i < ne; i++) {
        const size_t src = (size_t)lf.test_idx[i / T] * T + (size_t)(i % T);
        memcpy(lat + (size_t)i * 3, s.latents + src * 3, 3 * sizeof(float));
        for (int u = 0, v = 0; u < U; u++)
            if (ho[u]) {
                rr[(size_t)i * n_ho + v] = s.rates[src * U + u];
                ss[(size_t)i * n_ho + v++] = s.spikes.x[src * U + u];
            }
    }
    double oracle;
    if ((st = soma_nlb_bits_per_spike(rr, ss, ne, n_ho, &oracle)) != SOMA_OK) goto out;
    soma_exp_put(c, "true_rates_co_bps", oracle);

    for (int i = 0; i < N_MODELS; i++) put_model_(c, MODEL_[i], &res[i]);
    const model_res *sm = &res[SOMA_LATENT_SMOOTH], *gp = &res[SOMA_LATENT_GPFA], *lz = &res[LFADS_];
    soma_exp_put(c, "lfads_latent_r2", lz->latent_r2);
    soma_exp_put(c, "lfads_minus_gpfa_co_bps", lz->co_bps - gp->co_bps);
    soma_exp_put(c, "lfads_minus_smoothing_co_bps", lz->co_bps - sm->co_bps);
    soma_exp_put(c, "gpfa_minus_smoothing_co_bps", gp->co_bps - sm->co_bps);
    soma_exp_put(c, "held_in_units", U - n_ho);
    soma_exp_put(c, "held_out_units", n_ho);
    soma_exp_put(c, "train_trials", k_train);
    soma_exp_put(c, "test_trials", k_test);
    soma_exp_put(c, "validate", soma_args_flag(&c->args, "validate"));
    {
        char *p = c->headline;
        size_t cap = sizeof c->headline;
        int w = snprintf(p, cap, "Lorenz %d trials x %d bins x %d units (%d held out), %d %s trials; latent R2 / co-bps:",
                         K, T, U, n_ho, k_test, soma_args_flag(&c->args, "validate") ? "validation" : "test");
        for (int i = 0; i < N_MODELS && w > 0 && (size_t)w < cap; i++)
            w += snprintf(p + w, cap - (size_t)w, "%s %s %.3f / %.4f", i % 3 ? "," : "\n", MODEL_[i], res[i].latent_r2,
                          res[i].co_bps);
    }

    // --- figure: the first test trial's true latents and each model's affine estimate of them
    // (the map fit on all test trials' bins, for display; the scores above are out of sample)
    if ((st = soma_fig_new(&f, 1, 4, 1700, 400)) != SOMA_OK) goto out;
    soma_fig_title(f, "Lorenz latents of a test trial: true and inferred (affine map from each model's latents)");
    static const int show[] = {LFADS_, SOMA_LATENT_GPFA, SOMA_LATENT_SMOOTH};
    for (int q = 0; q < 3; q++) {
        const soma_cosmooth *r = show[q] == LFADS_ ? &lf : &base[show[q]];
        /* every model's z holds its test trials in ascending order, the same order as lat */
        float *mt = soma_alloc((size_t)ne * 3, sizeof(float));
        if (!mt) {
            st = SOMA_ERR_NOMEM;
            goto out;
        }
        st = readout_(mt, r->z, lat, ne, ne, r->n_latents, 3, 0.0, 0);
        if (st == SOMA_OK) memcpy(map + (size_t)q * T * 3, mt, (size_t)T * 3 * sizeof(float));
        soma_free(mt);
        if (st != SOMA_OK) goto out;
    }
    static const char *dim[3] = {"x", "y", "z"};
    for (int j = 0; j < 3; j++) {
        float *tl[4] = {tv, tv + T, tv + 2 * T, tv + 3 * T};
        for (int t = 0; t < T; t++) {
            tl[0][t] = lat[(size_t)t * 3 + j];
            for (int q = 0; q < 3; q++) tl[q + 1][t] = map[((size_t)q * T + t) * 3 + j];
        }
        char title[32];
        snprintf(title, sizeof title, "latent %s", dim[j]);
        soma_fig_labels(f, j, title, "bin (10 ms)", "z-scored");
        soma_fig_line(f, j, NULL, tl[0], T, "true", &(soma_line_style){.color = SOMA_RGB(0x000000), .width = 2.5f});
        soma_fig_line(f, j, NULL, tl[1], T, "LFADS", NULL);
        soma_fig_line(f, j, NULL, tl[2], T, "GPFA", &(soma_line_style){.dashed = 1});
        soma_fig_line(f, j, NULL, tl[3], T, "smoothing", &(soma_line_style){.dashed = 1});
    }
    float bps[N_MODELS];
    for (int i = 0; i < N_MODELS; i++) bps[i] = (float)res[i].co_bps;
    soma_fig_labels(f, 3, "co-smoothing bits per spike (test trials)", "", "bits/spike");
    soma_fig_bars(f, 3, bps, NULL, N_MODELS, MODEL_, 0);
    char path[1200];
    st = soma_fig_save(f, soma_exp_path(c, "latents.svg", path, sizeof path));
out:
    soma_fig_free(f);
    soma_lfads_free(m);
    soma_cosmooth_free(&lf);
    for (int k = 0; k < SOMA_LATENT_KIND_COUNT; k++) soma_cosmooth_free(&base[k]);
    soma_free(ho), soma_free(te), soma_free(lat), soma_free(rr), soma_free(ss), soma_free(map), soma_free(tv);
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
