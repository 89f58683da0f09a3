// cnn-v1: "a CNN as a model of V1", measured. Three sets of filters are scored by one Gabor
// test: gabor_fraction is the fraction a 2-D Gabor fits with R^2 >= r2 (soma_gabor_fit, the
// issue's definition, the same as olshausen1996's); gabor_strict_fraction also asks
// soma_gabor_localized and soma_gabor_bandpass:
//   natural        the first layer (k x k kernels) of a CNN trained to denoise whitened
//                  natural-image patches: "conv KxKxF, relu, conv KxKx1" with same padding,
//                  noisy patch in, clean patch out, MSE, Adam;
//   lenet_fmnist   the first-layer kernels of a LeNet trained on Fashion-MNIST by the
//                  lenet-fmnist code path (soma_classify_run, parameters saved as NPY);
//   sparse_coding  the atoms of a sparse-coding dictionary of whitened natural-image patches
//                  (soma_dict_learn, Olshausen & Field 1996).
// The natural images are the photographs of soma_image_patches (skimage's data folder).
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/internal.h"
#include "soma/analysis.h"
#include "soma/io.h"
#include "soma/learn.h"
#include "soma/nn.h"
#include "soma/plot.h"

#define N_SETS 3

static const char *const set_keys_[N_SETS] = {"natural", "lenet_fmnist", "sparse_coding"};
static const char *const set_names_[N_SETS] = {"CNN, natural images (denoising)", "LeNet, Fashion-MNIST",
                                               "sparse coding (O&F)"};

static const soma_opt opts_[] = {
    {"kernel", SOMA_OPT_INT, "9", 5, 16, NULL, "side of the denoising CNN's first-layer kernels", 0},
    {"filters", SOMA_OPT_INT, "16", 1, 256, NULL, "first-layer filters of the denoising CNN", 0},
    {"patch", SOMA_OPT_INT, "16", 8, 64, NULL, "side of the denoiser's training patches", 0},
    {"n-patches", SOMA_OPT_INT, "10000", 100, 1000000, NULL, "natural-image patches for the denoiser", 1},
    {"epochs", SOMA_OPT_INT, "4", 1, 1000, NULL, "denoiser training epochs", 1},
    {"whiten", SOMA_OPT_INT, "1", 0, 1, NULL, "1: the denoiser sees whitened patches (as the sparse coder); 0: raw", 0},
    {"noise", SOMA_OPT_FLOAT, "0.5", 0.01, 10, NULL, "noise std of the denoiser's input (patches have unit variance)", 0},
    {"lr", SOMA_OPT_FLOAT, "0.002", 1e-6, 1, NULL, "denoiser learning rate (Adam, cosine)", 0},
    {"lenet-net", SOMA_OPT_STR, "conv9x9x16p4,relu,maxpool2,conv5x5x16,relu,maxpool2,fc120,relu,fc84,relu,fc10", 0, 0,
     NULL, "LeNet spec; its first layer must be a convolution (9x9 kernels: the same size as the denoiser's)", 0},
    {"lenet-epochs", SOMA_OPT_INT, "2", 1, 1000, NULL, "LeNet training epochs", 1},
    {"n-train", SOMA_OPT_INT, "20000", 100, 60000, NULL, "Fashion-MNIST training samples for the LeNet", 1},
    {"fmnist-dir", SOMA_OPT_STR, NULL, 0, 0, NULL, "Fashion-MNIST folder (default $SOMA_FMNIST_DIR, else Debian's)", 0},
    {"dict-size", SOMA_OPT_INT, "12", 6, 32, NULL, "side of the sparse-coding patches", 0},
    {"atoms", SOMA_OPT_INT, "96", 4, 4096, NULL, "dictionary atoms", 0},
    {"lambda", SOMA_OPT_FLOAT, "0.3", 0, 100, NULL, "sparse-coding L1 weight (patches have unit variance)", 0},
    {"dict-steps", SOMA_OPT_INT, "400", 1, 1000000, NULL, "dictionary updates (batches of 100 patches)", 1},
    {"dict-iters", SOMA_OPT_INT, "40", 1, 100000, NULL, "FISTA iterations of each sparse inference (at most)", 1},
    {"r2", SOMA_OPT_FLOAT, "0.8", 0, 1, NULL, "the Gabor test's least R^2", 0},
    {"images", SOMA_OPT_STR, NULL, 0, 0, NULL, "folder of natural PNG images (default $SOMA_IMAGES_DIR, else skimage's)", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark landmarks_[] = {
    {"V1 simple-cell receptive fields are localized, oriented, band-pass: Gabor-like (qualitative; ours: "
     "fraction of sparse-coding bases a Gabor fits with R^2 >= 0.8, >= 0.5)",
     "Jones & Palmer 1987, J Neurophysiol 58:1233 (2-D Gabor fits of cat simple cells; after Hubel & Wiesel 1962)",
     "https://doi.org/10.1152/jn.1987.58.6.1233", "gabor_fraction_sparse_coding", SOMA_EXP_AT_LEAST, 0.5},
    {"simple cells: oriented, localized receptive fields (qualitative; ours: fraction of the natural-image "
     "CNN's first-layer filters a Gabor fits with R^2 >= 0.8, >= 0.5)",
     "Hubel & Wiesel 1962, J Physiol 160:106", "https://doi.org/10.1113/jphysiol.1962.sp006837",
     "gabor_fraction_natural", SOMA_EXP_AT_LEAST, 0.5},
    {"first-layer filters of a CNN trained on natural images resemble Gabors (qualitative; ours: fraction of "
     "the LeNet's first-layer filters a Gabor fits with R^2 >= 0.8, >= 0.5)",
     "Krizhevsky, Sutskever & Hinton 2012, ImageNet classification with deep CNNs (Fig. 3)",
     "https://doi.org/10.1145/3065386", "gabor_fraction_lenet_fmnist", SOMA_EXP_AT_LEAST, 0.5},
    {NULL, NULL, NULL, NULL, 0, 0},
};

/* A small test run: the same models, a few seconds (8x8 sparse-coding patches). */
static const char *const reduced_[] = {"--n-patches", "1000", "--epochs", "1", "--n-train", "1000", "--lenet-epochs", "1",
                                       "--dict-size", "8", "--atoms", "32", "--dict-steps", "80", "--dict-iters", "40",
                                       NULL};

// --- the Gabor test -----------------------------------------------------------------------

typedef struct {
    double fraction;        /* R^2 >= r2min: the gabor_fraction */
    double strict_fraction; /* also localized and band-pass */
    double mean_r2;
    int n, pass;
    int fit, localized, bandpass; /* filters meeting each criterion on its own */
} gabor_score;

/* Scores n filters [n, h, w]; r2[i] (may be NULL) receives each fit's R^2 (0 for a constant
 * filter, which no Gabor describes). */
static soma_status gabor_score_(const float *filt, int n, int h, int w, double r2min, float *r2, gabor_score *s) {
    memset(s, 0, sizeof *s);
    s->n = n;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        const float *img = filt + (size_t)i * h * w;
        float lo = img[0], hi = img[0];
        for (int q = 1; q < h * w; q++) lo = img[q] < lo ? img[q] : lo, hi = img[q] > hi ? img[q] : hi;
        double rr = 0;
        soma_gabor g;
        if (hi > lo) {
            SOMA_TRY(soma_gabor_fit(img, h, w, &g, &rr));
            int f = rr >= r2min, l = soma_gabor_localized(&g, h, w), b = soma_gabor_bandpass(&g, h, w);
            s->fit += f, s->localized += l, s->bandpass += b, s->pass += f && l && b;
        }
        if (r2) r2[i] = (float)rr;
        sum += rr;
    }
    s->fraction = n ? (double)s->fit / n : 0;
    s->strict_fraction = n ? (double)s->pass / n : 0;
    s->mean_r2 = n ? sum / n : 0;
    return SOMA_OK;
}

// --- (1) the denoising CNN on natural-image patches ------------------------------------------

static soma_status natural_filters_(soma_exp_ctx *c, const char *images, float **out, int *nf, int *kk) {
    int K, F, P, n, epochs, whiten;
    float noise, lr;
    SOMA_TRY(soma_args_int(&c->args, "whiten", &whiten));
    SOMA_TRY(soma_args_int(&c->args, "kernel", &K));
    SOMA_TRY(soma_args_int(&c->args, "filters", &F));
    SOMA_TRY(soma_args_int(&c->args, "patch", &P));
    SOMA_TRY(soma_args_int(&c->args, "n-patches", &n));
    SOMA_TRY(soma_args_int(&c->args, "epochs", &epochs));
    SOMA_TRY(soma_args_float(&c->args, "noise", &noise));
    SOMA_TRY(soma_args_float(&c->args, "lr", &lr));
    soma_patch_opts po = {P, n, whiten, c->seed};
    float *clean = NULL;
    SOMA_TRY(soma_image_patches(images, &po, &clean));
    soma_array x, y;
    memset(&x, 0, sizeof x), memset(&y, 0, sizeof y);
    soma_dataset *ds = NULL;
    soma_net *net = NULL;
    soma_optim *opt = NULL;
    soma_rule *rule = NULL;
    soma_train_log log;
    memset(&log, 0, sizeof log);
    soma_status st = SOMA_OK;
    const size_t tot = (size_t)n * P * P;
    x.data = soma_alloc(tot, sizeof(float));
    if (!x.data) {
        soma_free(clean);
        return soma_error(SOMA_ERR_NOMEM, "cnn-v1: out of memory for %d patches", n);
    }
    soma_rng r;
    soma_rng_seed(&r, c->seed, 31);
    float *nx = x.data;
    soma_rng_normal_fill(&r, nx, tot, 0.f, noise);
    for (size_t e = 0; e < tot; e++) nx[e] += clean[e];
    x.dtype = y.dtype = SOMA_DTYPE_F32;
    x.ndim = y.ndim = 4;
    x.shape[0] = y.shape[0] = n;
    x.shape[1] = y.shape[1] = 1;
    x.shape[2] = x.shape[3] = y.shape[2] = y.shape[3] = P;
    x.n = y.n = tot;
    y.data = clean;
    clean = NULL;
    if ((st = soma_dataset_from_arrays(&x, &y, "natural-patches", &ds)) != SOMA_OK) goto out;
    char spec[96];
    snprintf(spec, sizeof spec, "conv%dx%dx%dp%d,relu,conv%dx%dx1p%d", K, K, F, K / 2, K, K, K / 2);
    if ((st = soma_net_new(&net, spec, soma_shape3(1, P, P), c->seed)) != SOMA_OK) goto out;
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_ADAM);
    if ((st = soma_optim_new(&opt, net, &oc)) != SOMA_OK) goto out;
    if ((st = soma_rule_backprop_new(&rule, SOMA_LOSS_MSE)) != SOMA_OK) goto out;
    soma_train_config tc = soma_train_defaults();
    tc.epochs = epochs;
    tc.batch = 64;
    tc.sched.kind = SOMA_SCHED_COSINE;
    tc.sched.lr = lr;
    tc.seed = c->seed;
    tc.label = "cnn-v1: denoiser";
    tc.quiet = c->quiet;
    if ((st = soma_train(net, rule, opt, ds, NULL, &tc, &log)) != SOMA_OK) goto out;
    soma_exp_put(c, "denoise_mse_first_epoch", log.train_loss[0]);
    soma_exp_put(c, "denoise_mse", log.train_loss[log.epochs - 1]);
    soma_exp_put(c, "denoise_noise_mse", (double)noise * noise); /* the identity map's MSE */
    cJSON_AddStringToObject(c->ours, "denoiser_net", spec);
    soma_param *w = soma_layer_param(soma_net_layer(net, 0), "weight");
    if (!w || w->n != (size_t)F * K * K) {
        st = soma_error(SOMA_ERR_INTERNAL, "cnn-v1: the denoiser's first layer has no %d x %d x %d weight", F, K, K);
        goto out;
    }
    *out = soma_alloc(w->n, sizeof(float));
    if (!*out) {
        st = soma_error(SOMA_ERR_NOMEM, "cnn-v1: out of memory");
        goto out;
    }
    memcpy(*out, w->value, w->n * sizeof(float));
    *nf = F, *kk = K;
out:
    soma_train_log_free(&log);
    soma_rule_free(rule);
    soma_optim_free(opt);
    soma_net_free(net);
    soma_dataset_free(ds);
    soma_array_deinit(&x);
    soma_array_deinit(&y);
    soma_free(clean);
    return st;
}

// --- (2) the LeNet's first layer -----------------------------------------------------------

static soma_status lenet_filters_(soma_exp_ctx *c, float **out, int *nf, int *kk) {
    const char *spec = soma_args_str(&c->args, "lenet-net"), *fdir = soma_args_str(&c->args, "fmnist-dir");
    int epochs, n_train;
    SOMA_TRY(soma_args_int(&c->args, "lenet-epochs", &epochs));
    SOMA_TRY(soma_args_int(&c->args, "n-train", &n_train));
    char dir[1100], path[1200];
    soma_exp_path(c, "lenet_params", dir, sizeof dir);
    soma_classify_config cfg = soma_classify_defaults();
    cfg.data = "fmnist";
    cfg.fmnist_dir = fdir;
    cfg.net = spec;
    cfg.epochs = epochs;
    cfg.lr = 0.002f;
    cfg.optim = "adamw";
    cfg.sched = "cosine";
    cfg.weight_decay = 0.05f;
    cfg.n_train = n_train;
    cfg.n_test = 2000;
    cfg.eval = 0;
    cfg.save_npy = dir;
    cfg.seed = c->seed + 1; /* not the denoiser's seed: the two first layers start apart */
    cfg.quiet = c->quiet;
    cfg.label = "cnn-v1: LeNet";
    cJSON *lo = cJSON_CreateObject();
    if (!lo) return soma_error(SOMA_ERR_NOMEM, "cnn-v1: out of memory");
    soma_status st = soma_classify_run(&cfg, lo);
    if (st == SOMA_OK) {
        cJSON *ta = cJSON_GetObjectItem(lo, "test_accuracy");
        soma_exp_put(c, "lenet_test_accuracy", cJSON_IsNumber(ta) ? ta->valuedouble : NAN);
    }
    cJSON_Delete(lo);
    SOMA_TRY(st);
    snprintf(path, sizeof path, "%s/0.weight.npy", dir);
    soma_array a;
    memset(&a, 0, sizeof a);
    SOMA_TRY(soma_npy_read(path, &a));
    if (a.ndim != 4 || a.shape[1] != 1 || a.shape[2] != a.shape[3]) {
        soma_array_deinit(&a);
        return soma_error(SOMA_ERR_ARG, "cnn-v1: --lenet-net '%s' must begin with a square convolution of the "
                                        "gray image (its first weight has %d axes)", spec, a.ndim);
    }
    *nf = (int)a.shape[0], *kk = (int)a.shape[2];
    *out = soma_alloc(a.n, sizeof(float));
    if (!*out) st = soma_error(SOMA_ERR_NOMEM, "cnn-v1: out of memory");
    for (size_t e = 0; st == SOMA_OK && e < a.n; e++) (*out)[e] = (float)soma_array_get(&a, e);
    soma_array_deinit(&a);
    return st;
}

// --- (3) sparse coding ---------------------------------------------------------------------

static soma_status dict_filters_(soma_exp_ctx *c, const char *images, float **out, int *nf, int *kk) {
    int S, k, steps, iters;
    float lambda;
    SOMA_TRY(soma_args_int(&c->args, "dict-iters", &iters));
    SOMA_TRY(soma_args_int(&c->args, "dict-size", &S));
    SOMA_TRY(soma_args_int(&c->args, "atoms", &k));
    SOMA_TRY(soma_args_int(&c->args, "dict-steps", &steps));
    SOMA_TRY(soma_args_float(&c->args, "lambda", &lambda));
    soma_patch_opts po = {S, 20000, 1, c->seed + 1};
    float *X = NULL;
    SOMA_TRY(soma_image_patches(images, &po, &X));
    soma_dict_opts o = {{SOMA_SPARSE_FISTA, lambda, iters, 1e-4f, 0}, k, steps, 100, 0.5f, c->seed};
    double mse, l0;
    soma_progress pr;
    soma_status st = soma_dict_learn(X, (int)po.n, S * S, &o, c->quiet ? NULL : &pr, out, &mse, &l0);
    soma_free(X);
    SOMA_TRY(st);
    soma_exp_put(c, "dict_mse", mse);
    soma_exp_put(c, "dict_l0", l0);
    *nf = k, *kk = S;
    return SOMA_OK;
}

// --- run ----------------------------------------------------------------------------------

static soma_status run_(soma_exp_ctx *c) {
    const char *images = soma_args_str(&c->args, "images");
    double r2min;
    SOMA_TRY(soma_args_double(&c->args, "r2", &r2min));
    float *filt[N_SETS] = {NULL, NULL, NULL}, *r2[N_SETS] = {NULL, NULL, NULL};
    int nf[N_SETS] = {0}, kk[N_SETS] = {0};
    gabor_score sc[N_SETS];
    double secs[N_SETS];
    soma_fig *fig = NULL;
    soma_status st;
    double t0 = soma_now();
    if ((st = natural_filters_(c, images, &filt[0], &nf[0], &kk[0])) != SOMA_OK) goto out;
    secs[0] = soma_now() - t0, t0 = soma_now();
    if ((st = lenet_filters_(c, &filt[1], &nf[1], &kk[1])) != SOMA_OK) goto out;
    secs[1] = soma_now() - t0, t0 = soma_now();
    if ((st = dict_filters_(c, images, &filt[2], &nf[2], &kk[2])) != SOMA_OK) goto out;
    secs[2] = soma_now() - t0;

    cJSON *gf = cJSON_AddObjectToObject(c->ours, "gabor_fraction");
    cJSON *gs = cJSON_AddObjectToObject(c->ours, "gabor_strict_fraction");
    cJSON *mr = cJSON_AddObjectToObject(c->ours, "mean_r2");
    cJSON *np = cJSON_AddObjectToObject(c->ours, "filters");
    cJSON *ts = cJSON_AddObjectToObject(c->ours, "train_seconds");
    cJSON *cr = cJSON_AddObjectToObject(c->ours, "criteria"); /* filters meeting each test alone */
    double fit_s = 0;
    for (int s = 0; s < N_SETS; s++) {
        r2[s] = soma_alloc((size_t)nf[s], sizeof(float));
        if (!r2[s]) {
            st = soma_error(SOMA_ERR_NOMEM, "cnn-v1: out of memory");
            goto out;
        }
        t0 = soma_now();
        if ((st = gabor_score_(filt[s], nf[s], kk[s], kk[s], r2min, r2[s], &sc[s])) != SOMA_OK) goto out;
        fit_s += soma_now() - t0;
        char key[64];
        cJSON_AddNumberToObject(gf, set_keys_[s], sc[s].fraction);
        cJSON_AddNumberToObject(gs, set_keys_[s], sc[s].strict_fraction);
        cJSON_AddNumberToObject(mr, set_keys_[s], sc[s].mean_r2);
        cJSON_AddNumberToObject(np, set_keys_[s], nf[s]);
        cJSON_AddNumberToObject(ts, set_keys_[s], secs[s]);
        cJSON *cs = cJSON_AddObjectToObject(cr, set_keys_[s]);
        cJSON_AddNumberToObject(cs, "r2", sc[s].fit);
        cJSON_AddNumberToObject(cs, "localized", sc[s].localized);
        cJSON_AddNumberToObject(cs, "bandpass", sc[s].bandpass);
        cJSON_AddNumberToObject(cs, "all", sc[s].pass);
        snprintf(key, sizeof key, "gabor_fraction_%s", set_keys_[s]);
        soma_exp_put(c, key, sc[s].fraction);
        snprintf(key, sizeof key, "gabor_strict_fraction_%s", set_keys_[s]);
        soma_exp_put(c, key, sc[s].strict_fraction);
        snprintf(key, sizeof key, "mean_r2_%s", set_keys_[s]);
        soma_exp_put(c, key, sc[s].mean_r2);
        snprintf(key, sizeof key, "r2_%s", set_keys_[s]);
        soma_exp_put_array(c, key, r2[s], nf[s]);
    }
    soma_exp_put(c, "gabor_fit_seconds", fit_s);
    soma_exp_put(c, "r2_threshold", r2min);
    snprintf(c->headline, sizeof c->headline,
             "Hubel & Wiesel 1962 / Jones & Palmer 1987: V1 simple cells are Gabor-like; Krizhevsky et al. 2012: "
             "first-layer CNN filters resemble Gabors. Ours, filters a Gabor fits with R^2 >= %.2f (also "
             "localized and band-pass): natural-image CNN %d/%d (%d; mean R^2 %.2f), Fashion-MNIST LeNet %d/%d "
             "(%d; %.2f), sparse coding %d/%d (%d; %.2f)",
             r2min, sc[0].fit, nf[0], sc[0].pass, sc[0].mean_r2, sc[1].fit, nf[1], sc[1].pass, sc[1].mean_r2,
             sc[2].fit, nf[2], sc[2].pass, sc[2].mean_r2);

    /* figure: the three filter sets and the fractions */
    if ((st = soma_fig_new(&fig, 1, 4, 1800, 460)) != SOMA_OK) goto out;
    soma_fig_title(fig, "Which models learn V1-like (Gabor) filters?");
    for (int s = 0; s < N_SETS; s++) {
        char t[160];
        snprintf(t, sizeof t, "%s: %d of %d Gabor (R^2)", set_names_[s], sc[s].fit, nf[s]);
        soma_fig_labels(fig, s, t, NULL, NULL);
        int show = nf[s] < 64 ? nf[s] : 64;
        if ((st = soma_fig_images(fig, s, filt[s], show, kk[s], kk[s], 0, 1)) != SOMA_OK) goto out;
    }
    float v[N_SETS];
    for (int s = 0; s < N_SETS; s++) v[s] = (float)sc[s].fraction;
    const char *const bl[N_SETS] = {"natural CNN", "LeNet F-MNIST", "sparse coding"};
    soma_fig_labels(fig, 3, "Gabor fraction (R^2 >= 0.8)", NULL, "fraction of filters");
    if ((st = soma_fig_bars(fig, 3, v, NULL, N_SETS, bl, 0)) != SOMA_OK) goto out;
    soma_fig_ylim(fig, 3, 0, 1);
    char path[1100];
    st = soma_fig_save(fig, soma_exp_path(c, "cnn_v1.svg", path, sizeof path));
out:
    soma_fig_free(fig);
    for (int s = 0; s < N_SETS; s++) soma_free(filt[s]), soma_free(r2[s]);
    return st;
}

const soma_experiment soma__exp_cnn_v1 = {
    "cnn-v1",
    "A CNN as a model of V1: first-layer filters of a natural-image denoising CNN, of a Fashion-MNIST LeNet "
    "and sparse-coding bases, each scored by one Gabor test.",
    landmarks_,
    opts_,
    reduced_,
    run_,
    NULL, /* no check beyond the typed options */
};
