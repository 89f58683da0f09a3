// ndt-synthetic: a population foundation model pre-trained on many synthetic sessions and
// adapted to new ones with few trials (issue 13; Ye & Pandarinath 2021, NDT; Ye et al. 2023,
// NDT2). Sessions come from soma_session_make: one shared rotational latent system recorded
// through different subsets of a neuron pool (plus spiking-network sessions from
// soma_session_make_lif). The NDT (soma_ndt, src/neuro/ndt*.c) is pre-trained by masked
// modelling on the pre-training sessions; on each held-out session and few-shot size it gets a
// new read-in/read-out (trunk frozen) trained on the few trials, and the same model is trained
// from scratch on them alone. Both, and the baselines (soma_fewshot_baselines: smoothing and
// GPFA co-smoothing, velocity from smoothed rates, smoothing + ridge forecasts, a smoothing-
// likelihood anomaly score), are scored on the session's test trials:
//   co_bps         co-smoothing bits per spike of the held-out units (normal test trials)
//   vel_r2         hand velocity R^2 by ridge from the latents / smoothed held-in rates
//   fp_bps         forward-prediction bits per spike of the last fwd-bins bins (every unit)
//   anomaly_auroc  AUROC of perturbed-dynamics trials (altered dynamics, input pulse) against
//                  normal test trials by the anomaly score (also *_units: dropped/inserted units)
// Every figure is the mean over the held-out sessions. Before that (--scaling), models pre-trained
// on 2, 5, 10, 20 of the sessions for a fixed number of steps give the held-out sessions'
// masked loss as a function of the number of pre-training sessions (results.json "scaling").
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exp/internal.h"
#include "soma/neuro.h"
#include "soma/plot.h"

static const soma_opt opts_[] = {
    {"sessions", SOMA_OPT_INT, "20", 1, 1000, NULL, "pre-training sessions of the shared latent system", 1},
    {"lif-sessions", SOMA_OPT_INT, "2", 0, 100, NULL, "pre-training sessions from a spiking (LIF) network", 1},
    {"heldout-sessions", SOMA_OPT_INT, "3", 1, 100, NULL, "new sessions the model is adapted to", 1},
    {"heldout-offset", SOMA_OPT_INT, "0", 0, 100000, NULL,
     "held-out sessions start this many indices after the pre-training ones (validation runs: 100)", 1},
    {"trials", SOMA_OPT_INT, "100", 4, 100000, NULL, "trials of each pre-training session", 1},
    {"test-trials", SOMA_OPT_INT, "100", 10, 100000, NULL, "about this many test trials a held-out session", 1},
    {"fewshot", SOMA_OPT_STR, "10,30,100", 0, 0, NULL, "few-shot training-trial counts, ascending (comma-separated)", 1},
    {"bins", SOMA_OPT_INT, "50", 12, 1000, NULL, "bins a trial (20 ms)", 1},
    {"units-min", SOMA_OPT_INT, "40", 8, 10000, NULL, "fewest units a session records", 1},
    {"units-max", SOMA_OPT_INT, "80", 8, 10000, NULL, "most units a session records (pool: 200)", 1},
    {"anomaly-frac", SOMA_OPT_FLOAT, "0.2", 0.01, 0.9, NULL, "share of anomalous trials in held-out sessions", 0},
    {"heldout-units", SOMA_OPT_FLOAT, "0.25", 0.05, 0.9, NULL, "share of a held-out session's units held out", 0},
    {"fwd-bins", SOMA_OPT_INT, "10", 1, 500, NULL, "forward-prediction window, bins", 0},
    {"d-model", SOMA_OPT_INT, "64", 4, 1024, NULL, "NDT width", 1},
    {"layers", SOMA_OPT_INT, "2", 1, 24, NULL, "NDT transformer blocks", 1},
    {"heads", SOMA_OPT_INT, "4", 1, 64, NULL, "NDT attention heads", 0},
    {"steps", SOMA_OPT_INT, "6000", 1, 10000000, NULL, "pre-training optimizer steps", 1},
    {"adapt-steps", SOMA_OPT_INT, "600", 1, 10000000, NULL, "steps of each adaptation and each from-scratch run", 1},
    {"batch", SOMA_OPT_INT, "32", 1, 4096, NULL, "trials a step", 0},
    {"mix", SOMA_OPT_INT, "1", 1, 1000, NULL, "pre-training: sessions a step (the batch split among them)", 1},
    {"lr", SOMA_OPT_FLOAT, "0.001", 1e-6, 1, NULL, "peak learning rate (pre-training)", 0},
    {"adapt-lr", SOMA_OPT_FLOAT, "0.001", 1e-6, 1, NULL, "peak learning rate (adaptation and from scratch)", 0},
    {"adapt-wd", SOMA_OPT_FLOAT, "10", 0, 1000, NULL, "adaptation of the pre-trained model: AdamW weight decay", 0},
    {"scratch-wd", SOMA_OPT_FLOAT, "30", 0, 1000, NULL, "training from scratch: AdamW weight decay", 0},
    {"finetune", SOMA_OPT_INT, "30", 0, 100000, NULL,
     "adaptation: the pre-trained trunk learns too when the few-shot set has at least this many trials (0: never, "
     "the trunk stays frozen; 1: always)", 0},
    {"anomaly-model", SOMA_OPT_ENUM, "frozen", 0, 0, "frozen|adapted",
     "the pre-trained model's anomaly score: from an adaptation with the trunk frozen, or from the adaptation the "
     "other tasks use (--finetune)", 0},
    {"mask", SOMA_OPT_FLOAT, "0.25", 0.01, 0.9, NULL, "mask ratio", 0},
    {"anomaly-draws", SOMA_OPT_INT, "8", 1, 1000, NULL, "masks a trial for the anomaly score", 0},
    {"anomaly-mask", SOMA_OPT_ENUM, "bins", 0, 0, "bins|units|both", "what the anomaly score masks", 0},
    {"pretrained", SOMA_OPT_STR, NULL, 0, 0, NULL,
     "skip pre-training: adapt this checkpoint (an earlier run's pretrained.ckpt, same pre-training options)", 1},
    {"gpfa-iter", SOMA_OPT_INT, "50", 1, 10000, NULL, "GPFA baseline: EM iterations", 1},
    {"scaling", SOMA_OPT_STR, "2,5,10,20", 0, 0, NULL,
     "scaling of the held-out loss: pre-train on the first n latent sessions for each n (ascending, <= --sessions; "
     "'0': none)", 0},
    {"scaling-steps", SOMA_OPT_INT, "1000", 1, 10000000, NULL, "scaling: pre-training steps of each model", 0},
    {"scaling-adapt-steps", SOMA_OPT_INT, "300", 1, 10000000, NULL,
     "scaling: adaptation steps (frozen trunk) on each held-out session's second few-shot size", 0},
    {"scaling-only", SOMA_OPT_INT, "0", 0, 1, NULL, "1: only the scaling runs (no main pre-training, no few-shot curves)",
     1},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark landmarks_[] = {
    {"NDT co-smoothing bits per spike above GPFA's on held-out sessions (NLB MC_Maze: NDT 0.323, GPFA 0.229); "
     "ours: pre-trained NDT minus GPFA at the largest few-shot size",
     "Pei et al. 2021 (Neural Latents Benchmark)", "https://arxiv.org/abs/2109.04463", "pretrained_minus_gpfa_co_bps",
     SOMA_EXP_AT_LEAST, 0.0},
    {"NDT co-smoothing bits per spike above smoothing's (NLB MC_Maze: NDT 0.323, smoothing 0.225); ours: pre-trained "
     "NDT minus smoothing at the largest few-shot size",
     "Ye & Pandarinath 2021 (Neural Data Transformers)", "https://arxiv.org/abs/2108.01210",
     "pretrained_minus_smoothing_co_bps", SOMA_EXP_AT_LEAST, 0.0},
    {"pre-training helps few-shot adaptation to a new session: pre-trained minus from-scratch co-bps, the smaller "
     "at 10 and 30 trials",
     "Ye et al. 2023 (NDT2: multi-context pre-training)", "https://doi.org/10.1101/2023.09.18.558113",
     "pretrained_minus_scratch_co_bps", SOMA_EXP_AT_LEAST, 0.0},
    {"... velocity decoding R^2, pre-trained minus from scratch, the smaller at 10 and 30 trials",
     "Ye et al. 2023 (NDT2: multi-context pre-training)", "https://doi.org/10.1101/2023.09.18.558113",
     "pretrained_minus_scratch_vel_r2", SOMA_EXP_AT_LEAST, 0.0},
    {"... forward-prediction bits per spike, pre-trained minus from scratch, the smaller at 10 and 30 trials",
     "Ye et al. 2023 (NDT2: multi-context pre-training)", "https://doi.org/10.1101/2023.09.18.558113",
     "pretrained_minus_scratch_fp_bps", SOMA_EXP_AT_LEAST, 0.0},
    {"anomaly detection by the pre-trained model's masked likelihood: AUROC of perturbed-dynamics trials, the "
     "smaller at 10 and 30 trials (the issue's bar: 0.9)",
     "Ye et al. 2023 (NDT2: multi-context pre-training)", "https://doi.org/10.1101/2023.09.18.558113",
     "pretrained_anomaly_auroc", SOMA_EXP_AT_LEAST, 0.9},
    {NULL, NULL, NULL, NULL, 0, 0},
};

static const char *const reduced_[] = {"--sessions", "4", "--lif-sessions", "1", "--heldout-sessions", "1",
                                       "--trials", "24", "--test-trials", "30", "--fewshot", "10,20",
                                       "--bins", "20", "--units-min", "16", "--units-max", "24",
                                       "--fwd-bins", "4", "--d-model", "16", "--layers", "1",
                                       "--steps", "60", "--adapt-steps", "40", "--batch", "8",
                                       "--gpfa-iter", "5", "--anomaly-draws", "2", "--scaling", "1,4",
                                       "--scaling-steps", "30", "--scaling-adapt-steps", "20",
                                       "--finetune", "20", NULL}; /* as the defaults: frozen, then the trunk learns */

enum { MAX_SIZES = 8 };

static int parse_sizes_(const char *s, int *sizes, int min) {
    int n = 0;
    const char *p = s;
    while (p && *p) {
        char *end;
        const long v = strtol(p, &end, 10);
        if (end == p || v < min || v > 100000 || n >= MAX_SIZES || (n > 0 && v <= sizes[n - 1])) return -1;
        sizes[n++] = (int)v;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return n;
}

static soma_status check_(const soma_exp_ctx *c) {
    int sizes[MAX_SIZES], umin, umax, T, f;
    if (parse_sizes_(soma_args_str(&c->args, "fewshot"), sizes, 2) < 1)
        return soma_error(SOMA_ERR_ARG, "ndt-synthetic: --fewshot '%s': want up to %d ascending counts >= 2, e.g. "
                          "10,30,100", soma_args_str(&c->args, "fewshot"), MAX_SIZES);
    SOMA_TRY(soma_args_int(&c->args, "units-min", &umin));
    SOMA_TRY(soma_args_int(&c->args, "units-max", &umax));
    SOMA_TRY(soma_args_int(&c->args, "bins", &T));
    SOMA_TRY(soma_args_int(&c->args, "fwd-bins", &f));
    if (umax < umin || umax > 200)
        return soma_error(SOMA_ERR_ARG, "ndt-synthetic: --units-max %d must be in --units-min (%d)..200 (the pool)",
                          umax, umin);
    if (f > T - 4) return soma_error(SOMA_ERR_ARG, "ndt-synthetic: --fwd-bins %d leaves too few of %d bins", f, T);
    const char *sc = soma_args_str(&c->args, "scaling");
    int ns[MAX_SIZES], S;
    SOMA_TRY(soma_args_int(&c->args, "sessions", &S));
    const int n = strcmp(sc, "0") == 0 ? 0 : parse_sizes_(sc, ns, 1);
    if (n < 0 || (n > 0 && ns[n - 1] > S))
        return soma_error(SOMA_ERR_ARG, "ndt-synthetic: --scaling '%s': want up to %d ascending session counts in "
                          "1..--sessions (%d), e.g. 2,5,10,20, or 0", sc, MAX_SIZES, S);
    return SOMA_OK;
}

/* The figures of one model on one session and size. */
typedef struct scores {
    double co_bps, vel_r2, fp_bps, auroc, auroc_units;
} scores;

/* metrics[metric][model][size], summed over sessions (divided at the end) */
enum { M_CO, M_VEL, M_FP, M_AUC, M_AUCU, N_METRICS };
enum { PRE, SCR, SMOOTH, GPFA, N_MODELS };
static const char *const METRIC_[N_METRICS] = {"co_bps", "vel_r2", "fp_bps", "anomaly_auroc", "anomaly_auroc_units"};
static const char *const MODEL_[N_MODELS] = {"pretrained", "scratch", "smoothing", "gpfa"};

typedef struct run_cfg {
    int T, f, batch, adapt_steps, draws, finetune, anomaly_frozen;
    float adapt_lr, mask;
    soma_ndt_mask_kind anomaly_mask;
    float adapt_wd, scratch_wd;
    uint64_t seed;
} run_cfg;

/* AUROC over test trials: normal (label 0) against kinds k1, k2 (label 1); NAN when a class is empty. */
static double auroc_(const float *score, const uint8_t *anomaly, const uint8_t *test, int K, int k1, int k2,
                     float *s, unsigned char *lab) {
    long n = 0, pos = 0;
    for (int k = 0; k < K; k++) {
        if (!test[k] || (anomaly[k] && anomaly[k] != k1 && anomaly[k] != k2)) continue;
        s[n] = score[k], lab[n] = anomaly[k] != 0, pos += lab[n], n++;
    }
    double auc = NAN;
    if (pos > 0 && pos < n && soma_auc(s, lab, n, &auc, NULL) != SOMA_OK) auc = NAN;
    return auc;
}

/* Trains m's session sid on the few trials (held-out units scored, never seen) and scores it. */
static soma_status adapt_and_score_(soma_ndt *m, int sid, int scratch, int train_trunk, const soma_session *s,
                                    const uint8_t *train, const uint8_t *test, const uint8_t *norm,
                                    const uint8_t *heldout, const run_cfg *rc,
                                    scores *out, float *anomaly_score) {
    const soma_counts *c = &s->spikes;
    const int K = c->n_trials, T = c->n_bins, N = c->n_units;
    const int D = soma_ndt_get_arch(m).d_model;
    int n_tr = 0, n_te = 0;
    for (int k = 0; k < K; k++) n_tr += train[k] != 0, n_te += norm[k] != 0;
    soma_counts few = {0};
    soma_status st = soma_counts_alloc(&few, n_tr, T, N, c->bin_ms);
    uint8_t *mask = soma_alloc((size_t)K * T * N, 1);
    float *lat = soma_alloc((size_t)K * T * D, sizeof(float)), *lr = soma_alloc((size_t)K * T * N, sizeof(float));
    float *ro = soma_alloc((size_t)n_te * T * N, sizeof(float)), *yo = soma_alloc((size_t)n_te * T * N, sizeof(float));
    float *fr = soma_alloc((size_t)K * rc->f * N, sizeof(float)), *sc = soma_alloc((size_t)K, sizeof(float));
    unsigned char *lab = soma_alloc((size_t)K, 1);
    if (st == SOMA_OK && (!mask || !lat || !lr || !ro || !yo || !fr || !sc || !lab)) st = SOMA_ERR_NOMEM;
    if (st != SOMA_OK) goto out;
    for (int k = 0, j = 0; k < K; k++)
        if (train[k]) memcpy(few.x + (size_t)j++ * T * N, c->x + (size_t)k * T * N, (size_t)T * N * sizeof(float));
    soma_ndt_train_opts o = soma_ndt_train_default();
    o.steps = rc->adapt_steps;
    o.batch = rc->batch < n_tr ? rc->batch : n_tr;
    o.mask_ratio = rc->mask;
    o.forecast_bins = rc->f;
    o.lr = rc->adapt_lr;
    o.weight_decay = scratch ? rc->scratch_wd : rc->adapt_wd;
    o.warmup = rc->adapt_steps / 10;
    o.train_trunk = train_trunk;
    o.valid_frac = 0;
    o.eval_every = rc->adapt_steps / 10 > 0 ? rc->adapt_steps / 10 : 1;
    o.seed = rc->seed;
    const soma_ndt_data d = {.counts = &few, .session = sid, .heldout = heldout};
    soma_ndt_reset_run(m);
    if ((st = soma_ndt_train(m, &d, 1, &o, -1)) != SOMA_OK) goto out;
    /* co-smoothing and latents: every trial with its held-out units masked */
    for (size_t r = 0; r < (size_t)K * T; r++)
        for (int u = 0; u < N; u++) mask[r * N + u] = heldout[u] != 0;
    if ((st = soma_ndt_infer(m, sid, c->x, K, mask, lat, lr)) != SOMA_OK) goto out;
    int n_ho = 0;
    for (int u = 0; u < N; u++) n_ho += heldout[u] != 0;
    long rows = 0;
    for (int k = 0; k < K; k++) {
        if (!norm[k]) continue;
        for (int t = 0; t < T; t++, rows++)
            for (int u = 0, v = 0; u < N; u++)
                if (heldout[u]) {
                    const size_t i = ((size_t)k * T + t) * N + u;
                    ro[rows * n_ho + v] = expf(lr[i]);
                    yo[rows * n_ho + v++] = c->x[i];
                }
    }
    if ((st = soma_nlb_bits_per_spike(ro, yo, rows, n_ho, &out->co_bps)) != SOMA_OK) goto out;
    out->vel_r2 = NAN;
    if (s->beh && (st = soma_fewshot_decode(lat, D, s->beh, s->beh_dims, K, T, train, norm, &out->vel_r2)) != SOMA_OK)
        goto out;
    /* forward prediction */
    if ((st = soma_ndt_forecast(m, sid, c, rc->f, fr)) != SOMA_OK) goto out;
    if ((st = soma_fewshot_fp_bps(c, norm, rc->f, fr, &out->fp_bps)) != SOMA_OK) goto out;
    /* anomalies: every trial scored, test trials ranked */
    const soma_ndt_data all = {.counts = c, .session = sid, .heldout = heldout};
    if ((st = soma_ndt_anomaly(m, &all, rc->mask, rc->anomaly_mask, rc->draws, rc->seed + 7, sc)) != SOMA_OK) goto out;
    out->auroc = auroc_(sc, s->anomaly, test, K, SOMA_ANOMALY_DYNAMICS, SOMA_ANOMALY_PULSE, ro, lab);
    out->auroc_units = auroc_(sc, s->anomaly, test, K, SOMA_ANOMALY_UNITS, SOMA_ANOMALY_UNITS, ro, lab);
    if (anomaly_score) memcpy(anomaly_score, sc, (size_t)K * sizeof(float));
out:
    soma_counts_free(&few);
    soma_free(mask), soma_free(lat), soma_free(lr), soma_free(ro), soma_free(yo), soma_free(fr), soma_free(sc);
    soma_free(lab);
    return st;
}

/* Session s's split for `size` training trials: train = the first `size` normal trials, test =
 * every trial after the first max_fs normal ones (norm: the normal test trials), heldout = a
 * seeded share ho_frac of the units (at least one, at most N - 1). */
static soma_status split_(const soma_session *s, int max_fs, int size, float ho_frac, uint64_t seed, uint8_t *train,
                          uint8_t *test, uint8_t *norm, uint8_t *heldout) {
    const int K = s->spikes.n_trials, N = s->spikes.n_units;
    int n_ho = (int)floor(ho_frac * N + 0.5);
    n_ho = n_ho < 1 ? 1 : n_ho >= N ? N - 1 : n_ho;
    SOMA_TRY(soma_units_split(N, n_ho, seed, heldout));
    int boundary = 0, seen = 0;
    for (int k = 0; k < K && seen < max_fs; k++)
        if (!s->anomaly[k]) seen++, boundary = k + 1;
    for (int k = 0, n = 0; k < K; k++) {
        test[k] = k >= boundary, norm[k] = test[k] && !s->anomaly[k];
        train[k] = k < boundary && !s->anomaly[k] && n < size;
        n += train[k];
    }
    return SOMA_OK;
}

/* Scaling of the held-out loss with the number of pre-training sessions: for each count n in
 * ns, a model of architecture a pre-trained (steps) on the first n latent sessions, then on
 * each held-out session a new read-in/read-out adapted (trunk frozen, rc) on `size` trials and
 * scored on the normal test trials: masked Poisson NLL per entry and bits per spike (mask
 * ratio rc->mask, bins and units, 4 draws, held-out units masked too), co-bps, fp-bps,
 * velocity R^2. results.json "scaling": {sessions, steps, adapt_trials, heldout_nll,
 * heldout_bps, co_bps, fp_bps, vel_r2, pretrain_valid_nll, pretrain_valid_bps, seconds}. */
static soma_status scaling_(soma_exp_ctx *c, const soma_session *sess, int n_pre, int H, const soma_ndt_arch *a,
                            const run_cfg *rc, int batch, int mix, float lr, int steps, const int *ns, int n_ns, int max_fs,
                            int size, float ho_frac) {
    enum { NQ = 8 };
    static const char *const key[NQ] = {"heldout_nll", "heldout_bps", "co_bps", "fp_bps", "vel_r2",
                                        "pretrain_valid_nll", "pretrain_valid_bps", "seconds"};
    double q[NQ][MAX_SIZES] = {{0}};
    int Kmax = 0, Nmax = 0;
    for (int h = 0; h < H; h++) {
        Kmax = sess[n_pre + h].spikes.n_trials > Kmax ? sess[n_pre + h].spikes.n_trials : Kmax;
        Nmax = sess[n_pre + h].spikes.n_units > Nmax ? sess[n_pre + h].spikes.n_units : Nmax;
    }
    const int T = sess[n_pre].spikes.n_bins;
    soma_ndt_data *pd = soma_calloc((size_t)ns[n_ns - 1], sizeof *pd);
    uint8_t *flags = soma_alloc((size_t)3 * Kmax + Nmax, 1);
    soma_counts ev = {0};
    soma_ndt *m = NULL;
    soma_fig *fig = NULL;
    soma_status st = pd && flags ? soma_counts_alloc(&ev, Kmax, T, Nmax, sess[n_pre].spikes.bin_ms) : SOMA_ERR_NOMEM;
    uint8_t *train = flags, *test = flags + Kmax, *norm = flags + 2 * Kmax, *heldout = flags + 3 * Kmax;
    run_cfg r = *rc;
    r.finetune = 0;
    for (int p = 0; st == SOMA_OK && p < n_ns; p++) {
        const double t0 = soma_now();
        if ((st = soma_ndt_new(&m, a)) != SOMA_OK) break;
        for (int i = 0; st == SOMA_OK && i < ns[p]; i++) {
            pd[i] = (soma_ndt_data){.counts = &sess[i].spikes};
            st = soma_ndt_add_session(m, sess[i].spikes.n_units, -1, &pd[i].session);
        }
        soma_ndt_train_opts po = soma_ndt_train_default();
        po.steps = steps, po.batch = batch, po.lr = lr, po.mask_ratio = rc->mask, po.forecast_bins = rc->f;
        po.mix = mix < ns[p] ? mix : ns[p];
        po.warmup = steps / 20, po.eval_every = steps / 5 > 0 ? steps / 5 : 1, po.seed = c->seed;
        po.progress = !c->quiet;
        if (st == SOMA_OK) st = soma_ndt_train(m, pd, ns[p], &po, -1);
        if (st != SOMA_OK) break;
        const soma_ndt_history ph = soma_ndt_get_history(m);
        q[5][p] = ph.n_evals ? ph.valid_nll[ph.n_evals - 1] : NAN;
        q[6][p] = ph.n_evals ? ph.valid_bps[ph.n_evals - 1] : NAN;
        for (int h = 0; st == SOMA_OK && h < H; h++) {
            const soma_session *s = &sess[n_pre + h];
            const int K = s->spikes.n_trials, N = s->spikes.n_units;
            int sid = 0;
            scores sc;
            if ((st = split_(s, max_fs, size, ho_frac, c->seed + 100 + h, train, test, norm, heldout)) != SOMA_OK ||
                (st = soma_ndt_add_session(m, N, -1, &sid)) != SOMA_OK ||
                (st = adapt_and_score_(m, sid, 0, 0, s, train, test, norm, heldout, &r, &sc, NULL)) != SOMA_OK)
                break;
            int n_ev = 0;
            for (int k = 0; k < K; k++)
                if (norm[k])
                    memcpy(ev.x + (size_t)n_ev++ * T * N, s->spikes.x + (size_t)k * T * N, sizeof(float) * T * N);
            soma_counts evk = {.x = ev.x, .n_trials = n_ev, .n_bins = T, .n_units = N, .bin_ms = ev.bin_ms};
            double nll, bps;
            const soma_ndt_data d = {.counts = &evk, .session = sid, .heldout = heldout};
            if ((st = soma_ndt_eval(m, &d, rc->mask, SOMA_NDT_MASK_BOTH, 4, c->seed + 11, &nll, &bps)) != SOMA_OK)
                break;
            q[0][p] += nll / H, q[1][p] += bps / H, q[2][p] += sc.co_bps / H, q[3][p] += sc.fp_bps / H;
            q[4][p] += sc.vel_r2 / H;
        }
        soma_ndt_free(m), m = NULL;
        q[7][p] = soma_now() - t0;
        if (st == SOMA_OK && !c->quiet)
            fprintf(stderr, "ndt-synthetic scaling: %d sessions: held-out masked NLL %.4f, bps %.4f, co-bps %.4f\n",
                    ns[p], q[0][p], q[1][p], q[2][p]);
    }
    if (st == SOMA_OK) {
        cJSON *o = cJSON_AddObjectToObject(c->ours, "scaling");
        double x[MAX_SIZES];
        for (int p = 0; p < n_ns; p++) x[p] = ns[p];
        if (o) {
            cJSON_AddItemToObject(o, "sessions", cJSON_CreateDoubleArray(x, n_ns));
            cJSON_AddNumberToObject(o, "steps", steps);
            cJSON_AddNumberToObject(o, "adapt_trials", size);
            cJSON_AddNumberToObject(o, "adapt_steps", r.adapt_steps);
            for (int i = 0; i < NQ; i++) cJSON_AddItemToObject(o, key[i], cJSON_CreateDoubleArray(q[i], n_ns));
        }
        float xs[MAX_SIZES], ys[MAX_SIZES];
        for (int p = 0; p < n_ns; p++) xs[p] = (float)ns[p];
        st = soma_fig_new(&fig, 1, 2, 1100, 380);
        if (st == SOMA_OK) {
            char title[160];
            snprintf(title, sizeof title, "held-out sessions vs pre-training sessions (%d steps each; new read-in and "
                     "read-out on %d trials, trunk frozen)", steps, size);
            soma_fig_title(fig, title);
            soma_fig_labels(fig, 0, "masked Poisson NLL per entry, held-out sessions' test trials", "pre-training sessions",
                            "NLL");
            for (int p = 0; p < n_ns; p++) ys[p] = (float)q[0][p];
            soma_fig_line(fig, 0, xs, ys, n_ns, "held-out masked NLL", &(soma_line_style){.markers = 1});
            soma_fig_labels(fig, 1, "bits per spike", "pre-training sessions", "bits/spike");
            static const char *const lab[3] = {"masked entries", "co-bps (held-out units)", "fp-bps"};
            for (int i = 0; i < 3; i++) {
                for (int p = 0; p < n_ns; p++) ys[p] = (float)q[1 + i][p];
                soma_fig_line(fig, 1, xs, ys, n_ns, lab[i], &(soma_line_style){.markers = 1});
            }
            char path[1200];
            st = soma_fig_save(fig, soma_exp_path(c, "scaling.svg", path, sizeof path));
        }
    }
    soma_fig_free(fig);
    soma_ndt_free(m);
    soma_counts_free(&ev);
    soma_free(pd), soma_free(flags);
    return st;
}

/* A histogram of the scores of trials of one kind (test trials) on fixed edges: counts [nb]. */
static void hist_(const float *score, const uint8_t *anomaly, const uint8_t *test, int K, int kind, float lo, float hi,
                  int nb, float *h) {
    memset(h, 0, (size_t)nb * sizeof(float));
    for (int k = 0; k < K; k++) {
        if (!test[k] || anomaly[k] != kind) continue;
        int b = (int)((score[k] - lo) / (hi - lo) * nb);
        b = b < 0 ? 0 : b >= nb ? nb - 1 : b;
        h[b] += 1;
    }
}

static soma_status run_(soma_exp_ctx *c) {
    int S, S_lif, H, H_off, K_pre, n_test, T, umin, umax, f, dm, layers, heads, steps, adapt_steps, batch, draws, gpfa_iter;
    float af, ho_frac, lr, adapt_lr, mask;
    SOMA_TRY(soma_args_int(&c->args, "sessions", &S));
    SOMA_TRY(soma_args_int(&c->args, "lif-sessions", &S_lif));
    SOMA_TRY(soma_args_int(&c->args, "heldout-sessions", &H));
    SOMA_TRY(soma_args_int(&c->args, "heldout-offset", &H_off));
    SOMA_TRY(soma_args_int(&c->args, "trials", &K_pre));
    SOMA_TRY(soma_args_int(&c->args, "test-trials", &n_test));
    SOMA_TRY(soma_args_int(&c->args, "bins", &T));
    SOMA_TRY(soma_args_int(&c->args, "units-min", &umin));
    SOMA_TRY(soma_args_int(&c->args, "units-max", &umax));
    SOMA_TRY(soma_args_int(&c->args, "fwd-bins", &f));
    SOMA_TRY(soma_args_int(&c->args, "d-model", &dm));
    SOMA_TRY(soma_args_int(&c->args, "layers", &layers));
    SOMA_TRY(soma_args_int(&c->args, "heads", &heads));
    SOMA_TRY(soma_args_int(&c->args, "steps", &steps));
    SOMA_TRY(soma_args_int(&c->args, "adapt-steps", &adapt_steps));
    SOMA_TRY(soma_args_int(&c->args, "batch", &batch));
    int mix;
    SOMA_TRY(soma_args_int(&c->args, "mix", &mix));
    SOMA_TRY(soma_args_int(&c->args, "anomaly-draws", &draws));
    SOMA_TRY(soma_args_int(&c->args, "gpfa-iter", &gpfa_iter));
    SOMA_TRY(soma_args_float(&c->args, "anomaly-frac", &af));
    SOMA_TRY(soma_args_float(&c->args, "heldout-units", &ho_frac));
    SOMA_TRY(soma_args_float(&c->args, "lr", &lr));
    SOMA_TRY(soma_args_float(&c->args, "adapt-lr", &adapt_lr));
    SOMA_TRY(soma_args_float(&c->args, "mask", &mask));
    int sizes[MAX_SIZES];
    const int n_sizes = parse_sizes_(soma_args_str(&c->args, "fewshot"), sizes, 2);
    const int max_fs = sizes[n_sizes - 1];
    const char *am = soma_args_str(&c->args, "anomaly-mask");
    int finetune;
    float adapt_wd, scratch_wd;
    SOMA_TRY(soma_args_int(&c->args, "finetune", &finetune));

    SOMA_TRY(soma_args_float(&c->args, "adapt-wd", &adapt_wd));
    SOMA_TRY(soma_args_float(&c->args, "scratch-wd", &scratch_wd));
    const run_cfg rc = {.T = T, .f = f, .batch = batch, .adapt_steps = adapt_steps, .draws = draws,
                        .finetune = finetune, .anomaly_frozen = strcmp(soma_args_str(&c->args, "anomaly-model"), "frozen") == 0,
                        .adapt_lr = adapt_lr, .mask = mask, .adapt_wd = adapt_wd,
                        .scratch_wd = scratch_wd, 
                        .anomaly_mask = strcmp(am, "bins") == 0    ? SOMA_NDT_MASK_BINS
                                        : strcmp(am, "units") == 0 ? SOMA_NDT_MASK_UNITS
                                                                   : SOMA_NDT_MASK_BOTH,
                        .seed = c->seed};
    int scal_n[MAX_SIZES], scal_steps, scal_adapt, scal_only;
    const char *scal = soma_args_str(&c->args, "scaling");
    const int n_scal = strcmp(scal, "0") == 0 ? 0 : parse_sizes_(scal, scal_n, 1);
    SOMA_TRY(soma_args_int(&c->args, "scaling-steps", &scal_steps));
    SOMA_TRY(soma_args_int(&c->args, "scaling-adapt-steps", &scal_adapt));
    SOMA_TRY(soma_args_int(&c->args, "scaling-only", &scal_only));

    soma_sessions_opts so = soma_sessions_opts_default();
    so.n_bins = T, so.units_min = umin, so.units_max = umax, so.seed = c->seed;
    const int n_pre = S + S_lif;
    soma_session *sess = soma_calloc((size_t)(n_pre + H), sizeof(soma_session));
    soma_ndt_data *pd = soma_calloc((size_t)n_pre, sizeof(soma_ndt_data));
    double (*acc)[N_MODELS][MAX_SIZES] = soma_calloc(N_METRICS, sizeof *acc);
    soma_ndt *pre = NULL, *m = NULL;
    soma_fig *fig = NULL;
    uint8_t *train = NULL, *test = NULL, *norm = NULL, *heldout = NULL;
    float *hscore = NULL;
    soma_status st = SOMA_OK;
    char ckpt[1200], path[1200];
    if (!sess || !pd || !acc) {
        st = SOMA_ERR_NOMEM;
        goto out;
    }
    // --- the sessions: pre-training (latent, then LIF), then held-out with anomalies
    so.n_trials = K_pre;
    for (int i = 0; i < n_pre; i++) {
        st = i < S ? soma_session_make(&so, i, &sess[i]) : soma_session_make_lif(&so, i, &sess[i]);
        if (st != SOMA_OK) goto out;
    }
    so.n_trials = (int)ceil(max_fs / (1.0 - af)) + 20 + n_test;
    so.anomaly_frac = af;
    for (int h = 0; h < H; h++)
        if ((st = soma_session_make(&so, n_pre + H_off + h, &sess[n_pre + h])) != SOMA_OK) goto out;
    soma_ndt_arch a = soma_ndt_arch_default();
    a.n_bins = T, a.d_model = dm, a.n_layers = layers, a.n_heads = heads, a.seed = c->seed;
    // --- scaling of the held-out loss with the number of pre-training sessions
    if (n_scal > 0) {
        run_cfg rs = rc;
        rs.adapt_steps = scal_adapt;
        if ((st = scaling_(c, sess, n_pre, H, &a, &rs, batch, mix, lr, scal_steps, scal_n, n_scal, max_fs,
                           sizes[n_sizes > 1 ? 1 : 0], ho_frac)) != SOMA_OK)
            goto out;
    }
    if (scal_only) {
        snprintf(c->headline, sizeof c->headline, "scaling runs only (--scaling-only 1): results.json \"scaling\"");
        goto out;
    }
    // --- pre-training
    const char *init = soma_args_str(&c->args, "pretrained");
    if (init) {
        if ((st = soma_ndt_load(&pre, init)) != SOMA_OK) goto out;
        const soma_ndt_arch la = soma_ndt_get_arch(pre);
        if (soma_ndt_n_sessions(pre) != n_pre || la.n_bins != T || la.d_model != dm || la.n_layers != layers) {
            st = soma_error(SOMA_ERR_ARG, "ndt-synthetic: --pretrained %s holds %d sessions, %d bins, width %d, %d "
                            "layers; these options make %d, %d, %d, %d", init, soma_ndt_n_sessions(pre), la.n_bins,
                            la.d_model, la.n_layers, n_pre, T, dm, layers);
            goto out;
        }
        for (int i = 0; i < n_pre; i++)
            if (soma_ndt_session_units(pre, i) != sess[i].spikes.n_units) {
                st = soma_error(SOMA_ERR_ARG, "ndt-synthetic: --pretrained %s: session %d has %d units, not %d "
                                "(another seed?)", init, i, soma_ndt_session_units(pre, i), sess[i].spikes.n_units);
                goto out;
            }
        a = la;
    } else {
        if ((st = soma_ndt_new(&pre, &a)) != SOMA_OK) goto out;
        for (int i = 0; i < n_pre; i++) {
            pd[i] = (soma_ndt_data){.counts = &sess[i].spikes};
            if ((st = soma_ndt_add_session(pre, sess[i].spikes.n_units, -1, &pd[i].session)) != SOMA_OK) goto out;
        }
        soma_ndt_train_opts po = soma_ndt_train_default();
        po.steps = steps, po.batch = batch, po.lr = lr, po.mask_ratio = mask, po.forecast_bins = f, po.mix = mix;
        po.warmup = steps / 20, po.eval_every = steps / 20 > 0 ? steps / 20 : 1, po.seed = c->seed;
        po.progress = !c->quiet;
        if ((st = soma_ndt_train(pre, pd, n_pre, &po, -1)) != SOMA_OK) goto out;
    }
    const soma_ndt_history ph = soma_ndt_get_history(pre);
    soma_exp_put(c, "pretrain_seconds", ph.train_seconds);
    soma_exp_put(c, "pretrain_params", (double)soma_ndt_n_params(pre, -1));
    if (ph.n_evals > 0) {
        soma_exp_put(c, "pretrain_valid_nll", ph.valid_nll[ph.n_evals - 1]);
        soma_exp_put(c, "pretrain_valid_bps", ph.valid_bps[ph.n_evals - 1]);
    }
    soma_exp_path(c, "pretrained.ckpt", ckpt, sizeof ckpt);
    if ((st = soma_ndt_save(pre, ckpt)) != SOMA_OK) goto out;
    if ((fig = NULL, st = soma_fig_new(&fig, 1, 2, 1100, 380)) != SOMA_OK) goto out;
    {
        float *xs = soma_alloc((size_t)(ph.n_evals > 0 ? ph.n_evals : 1), sizeof(float));
        if (!xs) {
            st = SOMA_ERR_NOMEM;
            goto out;
        }
        for (int i = 0; i < ph.n_evals; i++) xs[i] = (float)ph.step[i];
        soma_fig_title(fig, "NDT masked pre-training on the synthetic sessions");
        soma_fig_labels(fig, 0, "masked Poisson NLL per entry", "step", "NLL");
        soma_fig_line(fig, 0, xs, ph.train_nll, ph.n_evals, "train", NULL);
        soma_fig_line(fig, 0, xs, ph.valid_nll, ph.n_evals, "validation", NULL);
        soma_fig_labels(fig, 1, "validation bits per spike (masked entries)", "step", "bits/spike");
        soma_fig_line(fig, 1, xs, ph.valid_bps, ph.n_evals, "validation", NULL);
        soma_exp_put_array(c, "pretrain_steps", xs, ph.n_evals);
        soma_exp_put_array(c, "pretrain_train_nll", ph.train_nll, ph.n_evals);
        soma_exp_put_array(c, "pretrain_valid_nll", ph.valid_nll, ph.n_evals);
        soma_free(xs);
    }
    if ((st = soma_fig_save(fig, soma_exp_path(c, "pretrain_loss.svg", path, sizeof path))) != SOMA_OK) goto out;
    soma_fig_free(fig), fig = NULL;
    soma_ndt_free(pre), pre = NULL;

    // --- few-shot adaptation on each held-out session
    soma_fewshot_opts fo = soma_fewshot_opts_default();
    fo.fwd_bins = f, fo.gpfa_iter = gpfa_iter;
    const double t_adapt = soma_now();
    double base_s = 0;
    for (int h = 0; h < H; h++) {
        const soma_session *s = &sess[n_pre + h];
        const int K = s->spikes.n_trials, N = s->spikes.n_units;
        soma_free(train), soma_free(test), soma_free(norm), soma_free(heldout);
        train = soma_alloc((size_t)K, 1), test = soma_alloc((size_t)K, 1), norm = soma_alloc((size_t)K, 1);
        heldout = soma_alloc((size_t)N, 1);
        if (!hscore) hscore = soma_alloc((size_t)K * 2, sizeof(float));
        if (!train || !test || !norm || !heldout || !hscore) {
            st = SOMA_ERR_NOMEM;
            goto out;
        }
        for (int z = 0; z < n_sizes; z++) {
            if ((st = split_(s, max_fs, sizes[z], ho_frac, c->seed + 100 + h, train, test, norm, heldout)) != SOMA_OK)
                goto out;
            soma_fewshot_res br;
            if ((st = soma_fewshot_baselines(&s->spikes, s->beh, s->beh_dims, s->anomaly, train, test, heldout, &fo,
                                             &br)) != SOMA_OK)
                goto out;
            base_s += br.seconds;
            const double bv[N_METRICS] = {br.co_bps_smooth, br.vel_r2, br.fp_bps, br.auroc_dynamics, br.auroc_units};
            for (int i = 0; i < N_METRICS; i++) acc[i][SMOOTH][z] += bv[i];
            acc[M_CO][GPFA][z] += br.co_bps_gpfa;
            for (int model = PRE; model <= SCR; model++) {
                int sid = 0;
                if (model == PRE) {
                    if ((st = soma_ndt_load(&m, ckpt)) != SOMA_OK) goto out;
                } else if ((st = soma_ndt_new(&m, &a)) != SOMA_OK) {
                    goto out;
                }
                if ((st = soma_ndt_add_session(m, N, -1, &sid)) != SOMA_OK) goto out;
                scores sc;
                const int keep = h == 0 && z == (n_sizes > 1 ? 1 : 0);
                const int trunk = model == SCR || (rc.finetune > 0 && sizes[z] >= rc.finetune);
                const int frozen_anomaly = model == PRE && trunk && rc.anomaly_frozen;
                if ((st = adapt_and_score_(m, sid, model == SCR, trunk, s, train, test, norm, heldout, &rc, &sc,
                                           keep && !frozen_anomaly ? hscore + (size_t)model * K : NULL)) != SOMA_OK)
                    goto out;
                if (frozen_anomaly) { /* the anomaly score from a fresh copy adapted with the trunk frozen */
                    soma_ndt_free(m), m = NULL;
                    scores fz;
                    int sid2 = 0;
                    if ((st = soma_ndt_load(&m, ckpt)) != SOMA_OK) goto out;
                    if ((st = soma_ndt_add_session(m, N, -1, &sid2)) != SOMA_OK) goto out;
                    if ((st = adapt_and_score_(m, sid2, 0, 0, s, train, test, norm, heldout, &rc, &fz,
                                               keep ? hscore + (size_t)model * K : NULL)) != SOMA_OK)
                        goto out;
                    sc.auroc = fz.auroc, sc.auroc_units = fz.auroc_units;
                }
                const double v[N_METRICS] = {sc.co_bps, sc.vel_r2, sc.fp_bps, sc.auroc, sc.auroc_units};
                for (int i = 0; i < N_METRICS; i++) acc[i][model][z] += v[i];
                soma_ndt_free(m), m = NULL;
            }
        }
        if (h == 0) { /* anomaly score histograms: the first held-out session at the second size */
            if ((st = soma_fig_new(&fig, 1, 2, 1100, 380)) != SOMA_OK) goto out;
            soma_fig_title(fig, "anomaly scores of a held-out session's test trials (masked NLL per entry minus a "
                                "per-trial mean-rate model's)");
            enum { NB = 20 };
            for (int model = 0; model < 2; model++) {
                const float *sc = hscore + (size_t)model * K;
                float lo = INFINITY, hi = -INFINITY, hx[NB], hy[NB];
                for (int k = 0; k < K; k++)
                    if (test[k]) lo = fminf(lo, sc[k]), hi = fmaxf(hi, sc[k]);
                if (!(hi > lo)) hi = lo + 1;
                for (int b = 0; b < NB; b++) hx[b] = lo + (hi - lo) * (b + 0.5f) / NB;
                char title[96];
                snprintf(title, sizeof title, "%s, %d training trials", model ? "from scratch" : "pre-trained",
                         sizes[n_sizes > 1 ? 1 : 0]);
                soma_fig_labels(fig, model, title, "score", "trials");
                for (int kind = 0; kind < SOMA_ANOMALY_KIND_COUNT; kind++) {
                    hist_(sc, s->anomaly, test, K, kind, lo, hi, NB, hy);
                    soma_fig_line(fig, model, hx, hy, NB, soma_anomaly_kind_name((soma_anomaly_kind)kind),
                                  &(soma_line_style){.markers = 1});
                }
            }
            if ((st = soma_fig_save(fig, soma_exp_path(c, "anomaly_scores.svg", path, sizeof path))) != SOMA_OK)
                goto out;
            soma_fig_free(fig), fig = NULL;
        }
    }
    soma_exp_put(c, "adapt_seconds", soma_now() - t_adapt - base_s);
    soma_exp_put(c, "baselines_seconds", base_s);

    // --- results: per metric {model: {size: mean over held-out sessions}}
    float xs[MAX_SIZES], ys[MAX_SIZES];
    for (int z = 0; z < n_sizes; z++) xs[z] = (float)sizes[z];
    for (int i = 0; i < N_METRICS; i++)
        for (int mo = 0; mo < N_MODELS; mo++)
            for (int z = 0; z < n_sizes; z++) acc[i][mo][z] /= H;
    for (int i = 0; i < N_METRICS; i++) {
        cJSON *o = cJSON_AddObjectToObject(c->ours, METRIC_[i]);
        for (int mo = 0; o && mo < N_MODELS; mo++) {
            if (mo == GPFA && i != M_CO) continue;
            cJSON *p = cJSON_AddObjectToObject(o, MODEL_[mo]);
            for (int z = 0; p && z < n_sizes; z++) {
                char key[16];
                snprintf(key, sizeof key, "%d", sizes[z]);
                soma_json_put_num(p, key, acc[i][mo][z]);
            }
        }
    }
    /* the bars: pre-trained minus scratch, the smaller at 10 and 30 trials (the sizes <= 30;
     * the smallest size when none is) */
    double gap[3] = {INFINITY, INFINITY, INFINITY}, auc_min = INFINITY;
    for (int z = 0; z < n_sizes; z++) {
        if (sizes[z] > 30 && z > 0) continue;
        for (int i = 0; i < 3; i++) gap[i] = fmin(gap[i], acc[i][PRE][z] - acc[i][SCR][z]);
        auc_min = fmin(auc_min, acc[M_AUC][PRE][z]);
    }
    soma_exp_put(c, "pretrained_minus_scratch_co_bps", gap[M_CO]);
    soma_exp_put(c, "pretrained_minus_scratch_vel_r2", gap[M_VEL]);
    soma_exp_put(c, "pretrained_minus_scratch_fp_bps", gap[M_FP]);
    soma_exp_put(c, "pretrained_anomaly_auroc", auc_min);
    const int zl = n_sizes - 1;
    soma_exp_put(c, "pretrained_minus_gpfa_co_bps", acc[M_CO][PRE][zl] - acc[M_CO][GPFA][zl]);
    soma_exp_put(c, "pretrained_minus_smoothing_co_bps", acc[M_CO][PRE][zl] - acc[M_CO][SMOOTH][zl]);
    soma_exp_put(c, "pretrain_sessions", S);
    soma_exp_put(c, "pretrain_lif_sessions", S_lif);
    soma_exp_put(c, "heldout_sessions", H);
    {
        char *p = c->headline;
        size_t cap = sizeof c->headline;
        int w = snprintf(p, cap, "%d+%d sessions, pre-trained %.0f s; at %d trials pre-trained / scratch / smoothing:"
                         " co-bps %.3f / %.3f / %.3f (GPFA %.3f), vel R2 %.2f / %.2f / %.2f,", S, S_lif,
                         ph.train_seconds, sizes[0], acc[M_CO][PRE][0], acc[M_CO][SCR][0], acc[M_CO][SMOOTH][0],
                         acc[M_CO][GPFA][0], acc[M_VEL][PRE][0], acc[M_VEL][SCR][0], acc[M_VEL][SMOOTH][0]);
        if (w > 0 && (size_t)w < cap)
            snprintf(p + w, cap - (size_t)w, "\nfp-bps %.3f / %.3f / %.3f, anomaly AUROC %.2f / %.2f / %.2f",
                     acc[M_FP][PRE][0], acc[M_FP][SCR][0], acc[M_FP][SMOOTH][0], acc[M_AUC][PRE][0],
                     acc[M_AUC][SCR][0], acc[M_AUC][SMOOTH][0]);
    }
    // --- few-shot curves
    if ((st = soma_fig_new(&fig, 1, 4, 1700, 400)) != SOMA_OK) goto out;
    soma_fig_title(fig, "few-shot adaptation to held-out sessions: pre-trained NDT vs from scratch vs baselines");
    static const char *const ylab[4] = {"co-smoothing bits/spike", "velocity R^2", "forward-prediction bits/spike",
                                        "AUROC, perturbed dynamics"};
    for (int i = 0; i < 4; i++) {
        soma_fig_labels(fig, i, ylab[i], "training trials", "");
        for (int mo = 0; mo < N_MODELS; mo++) {
            if (mo == GPFA && i != M_CO) continue;
            for (int z = 0; z < n_sizes; z++) ys[z] = (float)acc[i][mo][z];
            soma_fig_line(fig, i, xs, ys, n_sizes, MODEL_[mo],
                          &(soma_line_style){.markers = 1, .dashed = mo >= SMOOTH});
        }
        if (i == M_AUC) soma_fig_hline(fig, i, 0.9f, "bar: 0.9");
    }
    st = soma_fig_save(fig, soma_exp_path(c, "fewshot.svg", path, sizeof path));
out:
    soma_fig_free(fig);
    soma_ndt_free(pre);
    soma_ndt_free(m);
    for (int i = 0; sess && i < n_pre + H; i++) soma_session_free(&sess[i]);
    soma_free(sess), soma_free(pd), soma_free(acc);
    soma_free(train), soma_free(test), soma_free(norm), soma_free(heldout), soma_free(hscore);
    return st;
}

const soma_experiment soma__exp_ndt_synthetic = {
    .name = "ndt-synthetic",
    .summary = "a Neural Data Transformer pre-trained on 20 synthetic sessions, adapted to new ones with 10-100 "
               "trials: co-bps, velocity R^2, forecasting, anomaly AUROC vs from scratch and baselines",
    .landmarks = landmarks_,
    .opts = opts_,
    .reduced_args = reduced_,
    .run = run_,
    .check = check_,
};
