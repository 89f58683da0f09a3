// rao-ballard: hierarchical predictive coding (Rao & Ballard 1999) learns oriented, localized
// level-1 receptive fields from whitened natural-image patches; prediction errors fall over
// training. The fields are measured by Gabor fits (soma_gabor_fit).
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/internal.h"
#include "soma/analysis.h"
#include "soma/learn.h"
#include "soma/plot.h"

static const soma_opt opts_[] = {
    {"images", SOMA_OPT_STR, NULL, 0, 0, NULL, "folder of photographs (default $SOMA_IMAGES_DIR, else skimage's)", 0},
    {"size", SOMA_OPT_INT, "16", 4, 32, NULL, "patch side (pixels)", 0},
    {"patches", SOMA_OPT_INT, "20000", 100, 10000000, NULL, "whitened patches drawn", 1},
    {"k1", SOMA_OPT_INT, "64", 2, 1024, NULL, "level-1 causes", 0},
    {"k2", SOMA_OPT_INT, "16", 1, 1024, NULL, "level-2 causes", 0},
    {"steps", SOMA_OPT_INT, "3000", 1, 10000000, NULL, "weight updates", 1},
    {"batch", SOMA_OPT_INT, "100", 1, 65536, NULL, "patches a weight update", 0},
    {"infer-steps", SOMA_OPT_INT, "30", 1, 10000, NULL, "settling steps a batch", 0},
    {"infer-rate", SOMA_OPT_FLOAT, "0.05", 1e-5, 0.2, NULL, "settling step size", 0},
    {"lr", SOMA_OPT_FLOAT, "0.05", 1e-6, 10, NULL, "first weight learning rate", 0},
    {"lr-final", SOMA_OPT_FLOAT, "0", 0, 10, NULL, "last weight learning rate, reached by geometric decay (0: lr throughout)", 0},
    {"prior", SOMA_OPT_FLOAT, "0.8", 0, 100, NULL, "weight of the sparse (L1) prior on the causes", 0},
    {"s2", SOMA_OPT_FLOAT, "1", 1e-3, 1e3, NULL, "variance of level 2's prediction error (level 1's is 1)", 0},
    {"r2-min", SOMA_OPT_FLOAT, "0.7", 0, 1, NULL, "a field counts as Gabor-like when the fit's R^2 is at least this", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark landmarks_[] = {
    {"level-1 fields are oriented and localized, like simple cells (fraction fit by a localized, band-pass "
     "Gabor with R^2 >= r2-min; the paper shows them, a majority is our reading)",
     "Rao & Ballard 1999", "https://doi.org/10.1038/4580", "gabor_fraction", SOMA_EXP_AT_LEAST, 0.5},
    {NULL, NULL, NULL, NULL, 0, 0},
};

static const char *const reduced_[] = {"--patches", "2000", "--steps", "100", "--size", "12", "--k1", "32", "--k2", "8", NULL};

/* Gabor fits of the k1 level-1 fields (columns of U1, copied into imgs [k1, d]): r2[k1], the
 * count that fit with R^2 >= r2min and are localized and band-pass, and the mean R^2. */
static soma_status fit_fields_(const soma_rb *m, int size, float r2min, float *imgs, float *r2, int *count,
                               double *mean) {
    const int d = m->d, k1 = m->k1;
    for (int j = 0; j < k1; j++)
        for (int t = 0; t < d; t++) imgs[(size_t)j * d + t] = m->U1[(size_t)t * k1 + j];
    *count = 0;
    *mean = 0;
    for (int j = 0; j < k1; j++) {
        soma_gabor g;
        double q = 0;
        SOMA_TRY(soma_gabor_fit(imgs + (size_t)j * d, size, size, &g, &q));
        r2[j] = (float)q;
        *mean += q / k1;
        *count += q >= r2min && soma_gabor_localized(&g, size, size) && soma_gabor_bandpass(&g, size, size);
    }
    return SOMA_OK;
}

static soma_status run_(soma_exp_ctx *c) {
    int size, n, k1, k2, steps, batch, isteps;
    float irate, lr, lr1, prior, s2, r2min;
    SOMA_TRY(soma_args_int(&c->args, "size", &size));
    SOMA_TRY(soma_args_int(&c->args, "patches", &n));
    SOMA_TRY(soma_args_int(&c->args, "k1", &k1));
    SOMA_TRY(soma_args_int(&c->args, "k2", &k2));
    SOMA_TRY(soma_args_int(&c->args, "steps", &steps));
    SOMA_TRY(soma_args_int(&c->args, "batch", &batch));
    SOMA_TRY(soma_args_int(&c->args, "infer-steps", &isteps));
    SOMA_TRY(soma_args_float(&c->args, "infer-rate", &irate));
    SOMA_TRY(soma_args_float(&c->args, "lr", &lr));
    SOMA_TRY(soma_args_float(&c->args, "lr-final", &lr1));
    SOMA_TRY(soma_args_float(&c->args, "prior", &prior));
    SOMA_TRY(soma_args_float(&c->args, "s2", &s2));
    SOMA_TRY(soma_args_float(&c->args, "r2-min", &r2min));
    const int d = size * size;
    soma_patch_opts po = {.size = size, .n = n, .whiten = 1, .seed = c->seed};
    float *X = NULL;
    SOMA_TRY(soma_image_patches(soma_args_str(&c->args, "images"), &po, &X));
    soma_rb_opts o = {.k1 = k1, .k2 = k2, .infer_steps = isteps, .infer_rate = irate, .lr = lr, .s1 = 1.f,
                      .s2 = s2, .prior = prior, .batch = batch, .steps = steps, .seed = c->seed};
    soma_rb m = {0};
    soma_status st = SOMA_OK;
    const int B = batch < n ? batch : n;
    float *work = NULL, *Xb = NULL, *e1c = NULL, *e2c = NULL, *imgs = NULL, *r2s = NULL;
    soma_fig *f = NULL;
    if ((st = soma_rb_init(&m, d, &o)) != SOMA_OK) goto out;
    work = soma_alloc(soma_rb_work_size(&m, B), sizeof(float));
    Xb = soma_alloc((size_t)B * d, sizeof(float));
    e1c = soma_alloc((size_t)steps, sizeof(float));
    e2c = soma_alloc((size_t)steps, sizeof(float));
    imgs = soma_alloc((size_t)(k1 > k2 ? k1 : k2) * d, sizeof(float));
    r2s = soma_alloc((size_t)k1, sizeof(float));
    if (!work || !Xb || !e1c || !e2c || !imgs || !r2s) {
        st = SOMA_ERR_NOMEM;
        goto out;
    }
    /* the fields' Gabor fits at the random start: the baseline */
    int gabor0 = 0;
    double r2mean0 = 0;
    if ((st = fit_fields_(&m, size, r2min, imgs, r2s, &gabor0, &r2mean0)) != SOMA_OK) goto out;
    // --- training: random batches, settle, error x cause
    soma_rng rng;
    soma_rng_seed(&rng, c->seed, 7);
    soma_progress prog;
    soma_progress_begin(&prog, "rao-ballard", steps);
    prog.enabled = !c->quiet;
    const double t0 = soma_now();
    for (int s = 0; s < steps; s++) {
        for (int b = 0; b < B; b++)
            memcpy(Xb + (size_t)b * d, X + (size_t)soma_rng_below(&rng, (uint64_t)n) * d, (size_t)d * sizeof *Xb);
        double e1, e2;
        o.lr = steps > 1 && lr1 > 0.f ? lr * powf(lr1 / lr, (float)s / (float)(steps - 1)) : lr;
        if ((st = soma_rb_step(&m, &o, Xb, B, work, &e1, &e2)) != SOMA_OK) goto out;
        e1c[s] = (float)e1;
        e2c[s] = (float)e2;
        if (s % 50 == 0 || s == steps - 1) {
            char extra[64];
            snprintf(extra, sizeof extra, "err1 %.4f err2 %.4f", e1, e2);
            soma_progress_update(&prog, s + 1, extra);
        }
    }
    soma_progress_end(&prog);
    const double train_s = soma_now() - t0;
    /* the curve's ends (one batch is noisy): the first updates (at most 10, from the random
     * start) and the last tenth of the run */
    const int w0 = steps < 10 ? steps : 10, w10 = steps / 10 > 0 ? steps / 10 : 1;
    double first1 = 0, last1 = 0, first2 = 0, last2 = 0;
    for (int s = 0; s < w0; s++) first1 += e1c[s], first2 += e2c[s];
    for (int s = 0; s < w10; s++) last1 += e1c[steps - 1 - s], last2 += e2c[steps - 1 - s];
    first1 /= w0, first2 /= w0, last1 /= w10, last2 /= w10;
    /* the data's own mean squared value: the error of predicting 0 */
    double msx = 0;
    for (size_t i = 0; i < (size_t)n * d; i++) msx += (double)X[i] * X[i];
    msx /= (double)n * d;

    // --- the level-1 fields (columns of U1) and their Gabor fits
    int gabor = 0;
    double r2mean = 0;
    const double tg = soma_now();
    if ((st = fit_fields_(&m, size, r2min, imgs, r2s, &gabor, &r2mean)) != SOMA_OK) goto out;
    soma_exp_put(c, "gabor_seconds", soma_now() - tg);
    soma_exp_put(c, "gabor_fraction", (double)gabor / k1);
    soma_exp_put(c, "gabor_r2_mean", r2mean);
    soma_exp_put(c, "gabor_fraction_init", (double)gabor0 / k1);
    soma_exp_put(c, "gabor_r2_mean_init", r2mean0);
    soma_exp_put_array(c, "gabor_r2", r2s, k1);
    soma_exp_put_array(c, "err1_curve", e1c, steps);
    soma_exp_put_array(c, "err2_curve", e2c, steps);
    soma_exp_put(c, "err1_first", first1);
    soma_exp_put(c, "err1_last", last1);
    soma_exp_put(c, "err2_first", first2);
    soma_exp_put(c, "err2_last", last2);
    soma_exp_put(c, "err1_ratio", last1 / first1);
    soma_exp_put(c, "patch_mean_square", msx);
    soma_exp_put(c, "train_seconds", train_s);
    snprintf(c->headline, sizeof c->headline,
             "level-1 fields: %d of %d fit a localized, band-pass Gabor (R^2 >= %.2f; mean R^2 %.3f, %.3f at the random start)\n"
             "prediction error per pixel: level 1 %.4f -> %.4f (patches' mean square %.3f), level 2 %.4f -> %.4f",
             gabor, k1, (double)r2min, r2mean, r2mean0, first1, last1, msx, first2, last2);

    // --- figures: level-1 fields, level-2 fields in pixel space (U1 U2), errors over training
    if ((st = soma_fig_new(&f, 1, 3, 1500, 460)) != SOMA_OK) goto out;
    soma_fig_title(f, "Rao & Ballard predictive coding on whitened natural-image patches");
    soma_fig_labels(f, 0, "Level-1 receptive fields (columns of U1)", "", "");
    if ((st = soma_fig_images(f, 0, imgs, k1, size, size, 0, 1)) != SOMA_OK) goto out;
    /* level 2's fields: U1 U2 [d, k2], column j as an image */
    float *U12 = soma_alloc((size_t)d * k2, sizeof(float));
    if (!U12) {
        st = SOMA_ERR_NOMEM;
        goto out;
    }
    soma_gemm(0, 0, d, k2, k1, 1.f, m.U1, k1, m.U2, k2, 0.f, U12, k2);
    for (int j = 0; j < k2; j++)
        for (int t = 0; t < d; t++) imgs[(size_t)j * d + t] = U12[(size_t)t * k2 + j];
    soma_free(U12);
    soma_fig_labels(f, 1, "Level-2 fields in pixel space (U1 U2)", "", "");
    if ((st = soma_fig_images(f, 1, imgs, k2, size, size, 0, 1)) != SOMA_OK) goto out;
    soma_fig_labels(f, 2, "Prediction errors over training", "weight update", "mean squared error per unit");
    if ((st = soma_fig_line(f, 2, NULL, e1c, steps, "level 1: |x - U1 r1|^2 / d", NULL)) != SOMA_OK) goto out;
    if ((st = soma_fig_line(f, 2, NULL, e2c, steps, "level 2: |r1 - U2 r2|^2 / k1", NULL)) != SOMA_OK) goto out;
    soma_fig_logy(f, 2, 1);
    char path[1100];
    st = soma_fig_save(f, soma_exp_path(c, "rao_ballard.svg", path, sizeof path));
out:
    soma_fig_free(f);
    soma_rb_free(&m);
    soma_free(X);
    soma_free(work);
    soma_free(Xb);
    soma_free(e1c);
    soma_free(e2c);
    soma_free(imgs);
    soma_free(r2s);
    return st;
}

const soma_experiment soma__exp_rao_ballard = {
    "rao-ballard",
    "Rao & Ballard's two-level predictive coding on whitened natural-image patches: learned level-1 "
    "receptive fields (Gabor fits) and prediction errors falling over training.",
    landmarks_,
    opts_,
    reduced_,
    run_,
    NULL,
};
