// sae-lenet: a sparse autoencoder on the penultimate hidden layer of a LeNet trained on
// Fashion-MNIST, and whether its features are more "monosemantic" than the raw neurons.
//
// The LeNet is trained by the lenet-fmnist code path (soma_classify_run, parameters saved as
// NPY), and the layer's activations are read by the path of `soma predict --layer`
// (soma_classify_predict). The SAE (soma_sae_train) learns expansion x d features on the
// training samples' activations (scaled so that the mean squared norm of a row is d) and is
// measured on the test samples: fraction of variance explained, mean L0, dead features.
//
// Monosemanticity, two measured indices over the live units (neurons or SAE features active
// on at least 8 test samples):
//   class selectivity  SI = (mu_max - mu_rest) / (mu_max + mu_rest), mu_c the unit's mean
//                      activation on the test images of class c, mu_max the largest, mu_rest
//                      the mean of the other nine (0: the same for every class, 1: one class);
//   top-k purity       the fraction of the unit's k most activating test images (k = 8) that
//                      share their most common class.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/internal.h"
#include "soma/analysis.h"
#include "soma/io.h"
#include "soma/nn.h"
#include "soma/plot.h"

#define LENET_SPEC "conv5x5x6p2,relu,maxpool2,conv5x5x16,relu,maxpool2,fc120,relu,fc84,relu,fc10"
#define N_CLASSES 10
#define TOP_K 8
#define N_SHOW 6
#define N_BINS 10

static const soma_opt opts_[] = {
    {"net", SOMA_OPT_STR, LENET_SPEC, 0, 0, NULL, "network spec; the SAE reads its last hidden layer", 0},
    {"fmnist-dir", SOMA_OPT_STR, NULL, 0, 0, NULL, "Fashion-MNIST folder (default $SOMA_FMNIST_DIR, else Debian's)", 0},
    {"epochs", SOMA_OPT_INT, "3", 1, 1000, NULL, "LeNet training epochs", 1},
    {"n-train", SOMA_OPT_INT, "20000", 100, 60000, NULL, "training samples (LeNet and SAE)", 1},
    {"n-test", SOMA_OPT_INT, "0", 0, 10000, NULL, "test samples measured (0: all 10000)", 1},
    {"lr", SOMA_OPT_FLOAT, "0.002", 1e-6, 1, NULL, "LeNet learning rate (AdamW, cosine)", 0},
    {"expansion", SOMA_OPT_INT, "8", 1, 64, NULL, "SAE features per neuron of the layer", 0},
    {"l1", SOMA_OPT_FLOAT, "0.01", 0, 100, NULL, "SAE sparsity weight (on activations scaled to mean squared norm d)", 0},
    {"sae-epochs", SOMA_OPT_INT, "20", 1, 10000, NULL, "SAE training epochs", 1},
    {"sae-lr", SOMA_OPT_FLOAT, "0.001", 1e-7, 1, NULL, "SAE learning rate (Adam)", 0},
    {"sae-batch", SOMA_OPT_INT, "256", 1, 65536, NULL, "SAE mini-batch size", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark landmarks_[] = {
    {"sparse-dictionary features are more monosemantic than neurons (qualitative; ours: mean class "
     "selectivity of SAE features minus that of the neurons, > 0)",
     "Bricken et al. 2023, Towards Monosemanticity: Decomposing Language Models With Dictionary Learning",
     "https://transformer-circuits.pub/2023/monosemantic-features", "selectivity_gain", SOMA_EXP_AT_LEAST, 0.0},
    {"SAE features are more interpretable than neurons (qualitative; ours: top-8 class purity of SAE "
     "features minus that of the neurons, > 0)",
     "Cunningham, Ewart, Riggs, Huben & Sharkey 2023, Sparse Autoencoders Find Highly Interpretable "
     "Features in Language Models",
     "https://arxiv.org/abs/2309.08600", "purity_gain", SOMA_EXP_AT_LEAST, 0.0},
    {NULL, NULL, NULL, NULL, 0, 0},
};

static const char *const reduced_[] = {"--n-train", "2000", "--n-test", "1000", "--epochs", "1",
                                       "--sae-epochs", "6", NULL};

// --- monosemanticity ----------------------------------------------------------------------

/* Class selectivity si[m] of the m units of A [n, m] (non-negative); NaN for a unit that is
 * not live: active (> 0) on fewer than TOP_K samples (a unit that fires once would score 1
 * whatever it codes). mu [K, m] and act [m] are scratch. */
static void selectivity_(const float *A, const int *y, int n, int m, float *si, double *mu, int *act) {
    int cnt[N_CLASSES] = {0};
    memset(mu, 0, sizeof(double) * N_CLASSES * (size_t)m);
    memset(act, 0, sizeof(int) * (size_t)m);
    for (int i = 0; i < n; i++) {
        cnt[y[i]]++;
        double *row = mu + (size_t)y[i] * m;
        const float *a = A + (size_t)i * m;
        for (int u = 0; u < m; u++) row[u] += a[u], act[u] += a[u] > 0.f;
    }
    for (int u = 0; u < m; u++) {
        if (act[u] < TOP_K) {
            si[u] = NAN;
            continue;
        }
        double best = -1, sum = 0;
        int nc = 0;
        for (int c = 0; c < N_CLASSES; c++) {
            if (!cnt[c]) continue;
            double v = mu[(size_t)c * m + u] / cnt[c];
            sum += v, nc++;
            if (v > best) best = v;
        }
        double rest = nc > 1 ? (sum - best) / (nc - 1) : 0;
        si[u] = best > 0 ? (float)((best - rest) / (best + rest)) : NAN;
    }
}

/* The k samples with the largest A[., u], largest first (ties: the earlier sample), into
 * idx[k] (k <= n): one pass keeping a sorted list. */
static void top_k_(const float *A, int n, int m, int u, int k, int *idx) {
    int have = 0;
    for (int i = 0; i < n; i++) {
        float v = A[(size_t)i * m + u];
        if (have == k && v <= A[(size_t)idx[k - 1] * m + u]) continue;
        int p = have < k ? have++ : k - 1;
        while (p > 0 && A[(size_t)idx[p - 1] * m + u] < v) {
            idx[p] = idx[p - 1];
            p--;
        }
        idx[p] = i;
    }
}

/* Top-k purity of every live unit (NaN where si is NaN). */
static void purity_(const float *A, const int *y, int n, int m, const float *si, float *pur) {
    for (int u = 0; u < m; u++) {
        if (isnan(si[u])) {
            pur[u] = NAN;
            continue;
        }
        int idx[TOP_K], cnt[N_CLASSES] = {0}, best = 0;
        top_k_(A, n, m, u, TOP_K, idx);
        for (int t = 0; t < TOP_K; t++) cnt[y[idx[t]]]++;
        for (int c = 0; c < N_CLASSES; c++)
            if (cnt[c] > best) best = cnt[c];
        pur[u] = (float)best / TOP_K;
    }
}

static double nanmean_(const float *v, int m, int *live) {
    double s = 0;
    int n = 0;
    for (int u = 0; u < m; u++)
        if (!isnan(v[u])) s += v[u], n++;
    if (live) *live = n;
    return n ? s / n : NAN;
}

/* Fraction of live units in each of N_BINS bins of [0, 1]. */
static void hist_(const float *v, int m, float *h) {
    int n = 0;
    memset(h, 0, sizeof(float) * N_BINS);
    for (int u = 0; u < m; u++) {
        if (isnan(v[u])) continue;
        int b = (int)(v[u] * N_BINS);
        h[b < 0 ? 0 : b >= N_BINS ? N_BINS - 1 : b] += 1.f, n++;
    }
    for (int b = 0; b < N_BINS; b++) h[b] = n ? h[b] / n : 0.f;
}

// --- data ---------------------------------------------------------------------------------

/* A layer's activations through the path of `soma predict --layer`: written as NPY under the
 * run folder, read back as floats (*out [n, d], soma_tensor_free), and the file removed. */
static soma_status activations_(soma_exp_ctx *c, const char *fdir, int train, int n, const char *spec,
                                const char *npy_dir, int layer, soma_tensor **out) {
    char path[1100];
    soma_exp_path(c, train ? "acts_train.npy" : "acts_test.npy", path, sizeof path);
    SOMA_TRY(soma_classify_predict("fmnist", fdir, train, n, spec, npy_dir, NULL, layer, path, NULL));
    soma_array a;
    memset(&a, 0, sizeof a);
    soma_status st = soma_npy_read(path, &a);
    if (st == SOMA_OK && a.ndim != 2)
        st = soma_error(SOMA_ERR_ARG, "sae-lenet: layer %d of '%s' is not flat (%d axes); give a "
                                      "net whose last hidden layer is a dense one", layer, spec, a.ndim - 1);
    if (st == SOMA_OK) st = soma_array_to_f32(&a, out);
    soma_array_deinit(&a);
    remove(path);
    return st;
}

// --- figures ------------------------------------------------------------------------------

/* The TOP_K most activating test images of each of n units (rows of the grid). */
static soma_status top_images_(soma_fig *f, int panel, const soma_dataset *test, const float *A, int n,
                               int m, const int *units, int nu, float *imgs) {
    for (int r = 0; r < nu; r++) {
        int idx[TOP_K];
        top_k_(A, n, m, units[r], TOP_K, idx);
        soma_dataset_batch(test, idx, TOP_K, imgs + (size_t)r * TOP_K * test->dim, NULL);
    }
    return soma_fig_images(f, panel, imgs, nu * TOP_K, 28, 28, TOP_K, 0);
}

/* nu live units drawn at random (seeded) from m, in increasing order. */
static int pick_units_(const float *si, int m, int nu, uint64_t seed, int *units) {
    soma_rng r;
    soma_rng_seed(&r, seed, 17);
    int got = 0, tries = 0;
    while (got < nu && tries < 100 * m) {
        int u = (int)soma_rng_below(&r, (uint64_t)m), dup = 0;
        tries++;
        if (isnan(si[u])) continue;
        for (int q = 0; q < got; q++) dup |= units[q] == u;
        if (!dup) units[got++] = u;
    }
    return got;
}

// --- run ----------------------------------------------------------------------------------

static soma_status run_(soma_exp_ctx *c) {
    const char *spec = soma_args_str(&c->args, "net"), *fdir = soma_args_str(&c->args, "fmnist-dir");
    int epochs, n_train, n_test, expansion, sae_epochs, sae_batch;
    float lr, l1, sae_lr;
    SOMA_TRY(soma_args_int(&c->args, "epochs", &epochs));
    SOMA_TRY(soma_args_int(&c->args, "n-train", &n_train));
    SOMA_TRY(soma_args_int(&c->args, "n-test", &n_test));
    SOMA_TRY(soma_args_int(&c->args, "expansion", &expansion));
    SOMA_TRY(soma_args_int(&c->args, "sae-epochs", &sae_epochs));
    SOMA_TRY(soma_args_int(&c->args, "sae-batch", &sae_batch));
    SOMA_TRY(soma_args_float(&c->args, "lr", &lr));
    SOMA_TRY(soma_args_float(&c->args, "l1", &l1));
    SOMA_TRY(soma_args_float(&c->args, "sae-lr", &sae_lr));

    soma_status st = SOMA_OK;
    cJSON *lo = cJSON_CreateObject();
    soma_net *net = NULL;
    soma_dataset *test = NULL;
    soma_tensor *Xtr = NULL, *Xte = NULL;
    soma_sae sae;
    memset(&sae, 0, sizeof sae);
    float *F = NULL, *si_n = NULL, *si_f = NULL, *pu_n = NULL, *pu_f = NULL, *imgs = NULL;
    double *mu = NULL;
    int *act = NULL;
    soma_fig *fig = NULL;
    if (!lo) return soma_error(SOMA_ERR_NOMEM, "sae-lenet: out of memory");

    /* 1. the LeNet, by the lenet-fmnist path */
    char npy_dir[1100];
    soma_exp_path(c, "lenet_params", npy_dir, sizeof npy_dir);
    soma_classify_config cfg = soma_classify_defaults();
    cfg.data = "fmnist";
    cfg.fmnist_dir = fdir;
    cfg.net = spec;
    cfg.epochs = epochs;
    cfg.lr = lr;
    cfg.optim = "adamw";
    cfg.sched = "cosine";
    cfg.weight_decay = 0.05f;
    cfg.n_train = n_train;
    cfg.n_test = n_test;
    cfg.eval = 0;
    cfg.save_npy = npy_dir;
    cfg.seed = c->seed;
    cfg.quiet = c->quiet;
    cfg.label = "sae-lenet: LeNet";
    if ((st = soma_classify_run(&cfg, lo)) != SOMA_OK) goto out;
    cJSON *ta = cJSON_GetObjectItem(lo, "test_accuracy");
    const double lenet_acc = cJSON_IsNumber(ta) ? ta->valuedouble : NAN;

    /* 2. the last hidden layer (the one before the output layer) */
    if ((st = soma_net_new(&net, spec, soma_shape3(1, 28, 28), 1)) != SOMA_OK) goto out;
    const int layer = soma_net_n_layers(net) - 2;
    if (layer < 0) {
        st = soma_error(SOMA_ERR_ARG, "sae-lenet: net '%s' has no hidden layer", spec);
        goto out;
    }
    char layer_spec[256];
    snprintf(layer_spec, sizeof layer_spec, "%s", soma_net_layer(net, layer)->spec);
    if ((st = activations_(c, fdir, 1, n_train, spec, npy_dir, layer, &Xtr)) != SOMA_OK) goto out;
    if ((st = activations_(c, fdir, 0, n_test, spec, npy_dir, layer, &Xte)) != SOMA_OK) goto out;
    const int ntr = Xtr->shape[0], nte = Xte->shape[0], d = Xtr->shape[1], k = expansion * d;
    if ((st = soma_dataset_load("fmnist", 0, fdir, &test)) != SOMA_OK) goto out;
    if (test->n < nte) {
        st = soma_error(SOMA_ERR_ARG, "sae-lenet: %d test labels for %d activations", test->n, nte);
        goto out;
    }

    /* 3. the SAE on the training activations, scaled to mean squared norm d */
    double ss = 0;
    for (size_t e = 0; e < Xtr->n; e++) ss += (double)Xtr->data[e] * Xtr->data[e];
    if (!(ss > 0)) {
        st = soma_error(SOMA_ERR_ARG, "sae-lenet: layer %d (%s) is silent on every training sample", layer,
                        layer_spec);
        goto out;
    }
    const float scale = (float)sqrt((double)d * ntr / ss);
    for (size_t e = 0; e < Xtr->n; e++) Xtr->data[e] *= scale;
    for (size_t e = 0; e < Xte->n; e++) Xte->data[e] *= scale;
    soma_sae_opts so = {.k = k, .l1 = l1, .lr = sae_lr, .epochs = sae_epochs, .batch = sae_batch, .seed = c->seed};
    soma_progress pr, *prp = NULL;
    if (!c->quiet) prp = &pr;
    double t0 = soma_now();
    if ((st = soma_sae_train(Xtr->data, ntr, d, &so, prp, &sae)) != SOMA_OK) goto out;
    const double sae_seconds = soma_now() - t0;
    double fve, l0, dead, fve_train;
    if ((st = soma_sae_eval(&sae, Xte->data, nte, &fve, &l0, &dead)) != SOMA_OK) goto out;
    if ((st = soma_sae_eval(&sae, Xtr->data, ntr, &fve_train, NULL, NULL)) != SOMA_OK) goto out;

    /* 4. monosemanticity of neurons and features on the test images */
    F = soma_alloc((size_t)nte * k, sizeof(float));
    si_n = soma_alloc((size_t)d, sizeof(float)), pu_n = soma_alloc((size_t)d, sizeof(float));
    si_f = soma_alloc((size_t)k, sizeof(float)), pu_f = soma_alloc((size_t)k, sizeof(float));
    mu = soma_alloc((size_t)N_CLASSES * k, sizeof(double));
    act = soma_alloc((size_t)k, sizeof(int));
    imgs = soma_alloc((size_t)N_SHOW * TOP_K, test->dim * sizeof(float));
    if (!F || !si_n || !pu_n || !si_f || !pu_f || !mu || !act || !imgs) {
        st = soma_error(SOMA_ERR_NOMEM, "sae-lenet: out of memory for %d x %d features", nte, k);
        goto out;
    }
    if ((st = soma_sae_encode(&sae, Xte->data, nte, F)) != SOMA_OK) goto out;
    selectivity_(Xte->data, test->y, nte, d, si_n, mu, act);
    selectivity_(F, test->y, nte, k, si_f, mu, act);
    purity_(Xte->data, test->y, nte, d, si_n, pu_n);
    purity_(F, test->y, nte, k, si_f, pu_f);
    int live_n, live_f;
    const double sel_n = nanmean_(si_n, d, &live_n), sel_f = nanmean_(si_f, k, &live_f);
    const double pur_n = nanmean_(pu_n, d, NULL), pur_f = nanmean_(pu_f, k, NULL);
    float h_n[N_BINS], h_f[N_BINS], centers[N_BINS];
    hist_(si_n, d, h_n);
    hist_(si_f, k, h_f);
    for (int b = 0; b < N_BINS; b++) centers[b] = (b + 0.5f) / N_BINS;

    soma_exp_put(c, "fve", fve);
    soma_exp_put(c, "fve_train", fve_train);
    soma_exp_put(c, "l0", l0);
    soma_exp_put(c, "dead_fraction", dead);
    soma_exp_put(c, "selectivity_neurons", sel_n);
    soma_exp_put(c, "selectivity_features", sel_f);
    soma_exp_put(c, "selectivity_gain", sel_f - sel_n);
    soma_exp_put(c, "purity_neurons", pur_n);
    soma_exp_put(c, "purity_features", pur_f);
    soma_exp_put(c, "purity_gain", pur_f - pur_n);
    soma_exp_put(c, "live_neurons", live_n);
    soma_exp_put(c, "live_features", live_f);
    soma_exp_put(c, "neurons", d);
    soma_exp_put(c, "features", k);
    soma_exp_put(c, "layer", layer);
    cJSON_AddStringToObject(c->ours, "layer_spec", layer_spec);
    soma_exp_put(c, "lenet_test_accuracy", lenet_acc);
    soma_exp_put(c, "n_train", ntr);
    soma_exp_put(c, "n_test", nte);
    soma_exp_put(c, "sae_seconds", sae_seconds);
    soma_exp_put_array(c, "selectivity_hist_neurons", h_n, N_BINS);
    soma_exp_put_array(c, "selectivity_hist_features", h_f, N_BINS);
    snprintf(c->headline, sizeof c->headline,
             "Bricken et al. 2023 / Cunningham et al. 2023: dictionary features are more interpretable than "
             "neurons. Ours (LeNet %.1f%% on Fashion-MNIST, layer %d '%s', %d neurons -> %d SAE features): "
             "FVE %.3f, L0 %.1f, dead %.1f%%; class selectivity %.3f (features) vs %.3f (neurons), top-%d "
             "purity %.3f vs %.3f",
             100 * lenet_acc, layer, layer_spec, d, k, fve, l0, 100 * dead, sel_f, sel_n, TOP_K, pur_f, pur_n);

    /* 5. figure: selectivity histograms and the top images of a few features and neurons */
    if ((st = soma_fig_new(&fig, 1, 3, 1500, 470)) != SOMA_OK) goto out;
    soma_fig_title(fig, "SAE features vs neurons of a LeNet's last hidden layer (Fashion-MNIST test set)");
    char lab[96];
    soma_fig_labels(fig, 0, "Class selectivity", "selectivity index (max class vs rest)", "fraction of live units");
    soma_line_style ms = {0, 0, 1, 0.f};
    snprintf(lab, sizeof lab, "neurons (%d live, mean %.2f)", live_n, sel_n);
    if ((st = soma_fig_line(fig, 0, centers, h_n, N_BINS, lab, &ms)) != SOMA_OK) goto out;
    snprintf(lab, sizeof lab, "SAE features (%d live, mean %.2f)", live_f, sel_f);
    if ((st = soma_fig_line(fig, 0, centers, h_f, N_BINS, lab, &ms)) != SOMA_OK) goto out;
    int units[N_SHOW], nu;
    nu = pick_units_(si_f, k, N_SHOW, c->seed, units);
    snprintf(lab, sizeof lab, "Top-%d test images of %d random live SAE features (rows)", TOP_K, nu);
    soma_fig_labels(fig, 1, lab, NULL, NULL);
    if (nu > 0 && (st = top_images_(fig, 1, test, F, nte, k, units, nu, imgs)) != SOMA_OK) goto out;
    nu = pick_units_(si_n, d, N_SHOW, c->seed, units);
    snprintf(lab, sizeof lab, "Top-%d test images of %d random live neurons (rows)", TOP_K, nu);
    soma_fig_labels(fig, 2, lab, NULL, NULL);
    if (nu > 0 && (st = top_images_(fig, 2, test, Xte->data, nte, d, units, nu, imgs)) != SOMA_OK) goto out;
    char path[1100];
    st = soma_fig_save(fig, soma_exp_path(c, "sae_lenet.svg", path, sizeof path));
out:
    soma_fig_free(fig);
    soma_free(F), soma_free(si_n), soma_free(si_f), soma_free(pu_n), soma_free(pu_f);
    soma_free(mu), soma_free(act), soma_free(imgs);
    soma_sae_free(&sae);
    soma_tensor_free(Xtr), soma_tensor_free(Xte);
    soma_dataset_free(test);
    soma_net_free(net);
    cJSON_Delete(lo);
    return st;
}

const soma_experiment soma__exp_sae_lenet = {
    "sae-lenet",
    "A sparse autoencoder on a Fashion-MNIST LeNet's last hidden layer: are its features more "
    "class-selective (monosemantic) than the neurons?",
    landmarks_,
    opts_,
    reduced_,
    run_,
    NULL, /* no check beyond the typed options */
};
