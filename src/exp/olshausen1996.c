// olshausen1996: sparse coding of whitened natural-image patches learns localized, oriented,
// band-pass bases like V1 simple cells (Olshausen & Field 1996).
//
// Pipeline: 16x16 patches from skimage's photographs, each image whitened by O&F's filter
// f exp(-(f/f0)^4) (soma_image_patches); soma_dict_learn (L1 sparse inference by FISTA/ISTA/LCA,
// gradient step on the dictionary, atoms renormalised); a least-squares Gabor fit of every
// basis (soma_gabor_fit, one basis a thread). Two landmark readings are reported: the fraction
// of bases a Gabor fits with R^2 >= 0.8 (the acceptance of this reproduction) and the stricter
// fraction that is also localized and band-pass by soma_gabor_localized/bandpass; the fractions
// passing each criterion alone are in results.json too, so a failing strict reading says why
// (on these photographs most misses are bars elongated over the whole patch, sy >= side/3, and
// thin lines fitted best by an envelope without a carrier, f sx < 0.15).
// Measured (defaults, --threads 1, AMD EPYC 2 cores at load ~19): R^2 >= 0.8 for 94% of 256
// bases (mean R^2 0.909), strict 32% (localized 46%, band-pass 53%), MSE 0.218, L0 18.5;
// learning 283 s wall on that shared machine, Gabor fits 13 s.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exp/internal.h"
#include "soma/analysis.h"
#include "soma/plot.h"

#define SIDE_ 16

static const soma_opt opts_[] = {
    {"solver", SOMA_OPT_ENUM, "fista", 0, 0, "ista|fista|lca", "sparse inference", 0},
    {"lambda", SOMA_OPT_FLOAT, "1.5", 1e-4, 100, NULL, "L1 weight of the codes (patches have unit variance)", 1},
    {"bases", SOMA_OPT_INT, "256", 4, 4096, NULL, "dictionary atoms (16x16 patches)", 1},
    {"patches", SOMA_OPT_INT, "50000", 100, 10000000, NULL, "whitened patches drawn from the photographs", 1},
    {"steps", SOMA_OPT_INT, "2000", 1, 10000000, NULL, "dictionary updates", 1},
    {"batch", SOMA_OPT_INT, "100", 1, 100000, NULL, "patches per update", 1},
    {"lr", SOMA_OPT_FLOAT, "0.05", 1e-6, 100, NULL, "step of the dictionary update", 1},
    {"iters", SOMA_OPT_INT, "40", 1, 100000, NULL, "inference iterations per batch (at most)", 1},
    {"images-dir", SOMA_OPT_STR, NULL, 0, 0, NULL, "folder of PNG photographs (default $SOMA_IMAGES_DIR, else skimage's)", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark landmarks_[] = {
    {"fraction of the learned bases that fit a 2-D Gabor with R^2 >= 0.8 (the bases are Gabor-like: "
     "localized, oriented, band-pass; acceptance of this reproduction: >= 70% of 256)",
     "Olshausen & Field 1996, Nature 381:607", "https://doi.org/10.1038/381607a0", "gabor_fraction", SOMA_EXP_AT_LEAST,
     0.7},
    {"fraction of the learned bases that fit a 2-D Gabor with R^2 >= 0.8 AND are localized (both envelope "
     "widths < side/3, centre inside the patch) AND band-pass (1/side <= f <= 0.5 cycles/pixel, f sx >= 0.15): "
     "the stricter reading of 'localized, oriented and band-pass'",
     "Olshausen & Field 1996, Nature 381:607", "https://doi.org/10.1038/381607a0", "gabor_strict_fraction",
     SOMA_EXP_AT_LEAST, 0.7},
    {NULL, NULL, NULL, NULL, 0, 0},
};

static const char *const reduced_[] = {"--bases", "64", "--patches", "8000", "--steps", "400", NULL};

static int cmp_float_(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static soma_status run_(soma_exp_ctx *c) {
    int bases, n_patches, steps, batch, iters;
    float lambda, lr;
    SOMA_TRY(soma_args_int(&c->args, "bases", &bases));
    SOMA_TRY(soma_args_int(&c->args, "patches", &n_patches));
    SOMA_TRY(soma_args_int(&c->args, "steps", &steps));
    SOMA_TRY(soma_args_int(&c->args, "batch", &batch));
    SOMA_TRY(soma_args_int(&c->args, "iters", &iters));
    SOMA_TRY(soma_args_float(&c->args, "lambda", &lambda));
    SOMA_TRY(soma_args_float(&c->args, "lr", &lr));
    const char *solver_s = soma_args_str(&c->args, "solver");
    soma_sparse_solver solver = strcmp(solver_s, "ista") == 0   ? SOMA_SPARSE_ISTA
                                : strcmp(solver_s, "lca") == 0 ? SOMA_SPARSE_LCA
                                                               : SOMA_SPARSE_FISTA;
    const int d = SIDE_ * SIDE_;
    soma_status st = SOMA_OK;
    float *X = NULL, *D = NULL, *r2f = NULL, *sorted = NULL, *rank = NULL;
    unsigned char *good = NULL;
    soma_fig *f = NULL;

    double t0 = soma_now();
    soma_patch_opts po = {SIDE_, n_patches, 1, c->seed};
    if ((st = soma_image_patches(soma_args_str(&c->args, "images-dir"), &po, &X)) != SOMA_OK) goto out;
    double t_patches = soma_now() - t0;

    soma_dict_opts o = {{solver, lambda, iters, 1e-3f, 0}, bases, steps, batch, lr, c->seed};
    soma_progress pr;
    double mse = NAN, l0 = NAN;
    t0 = soma_now();
    if ((st = soma_dict_learn(X, n_patches, d, &o, c->quiet ? NULL : &pr, &D, &mse, &l0)) != SOMA_OK) goto out;
    double t_learn = soma_now() - t0;

    // --- Gabor fits, one basis a thread (each fit is serial and deterministic)
    r2f = soma_alloc((size_t)bases, sizeof(float));
    sorted = soma_alloc((size_t)bases, sizeof(float));
    rank = soma_alloc((size_t)bases, sizeof(float));
    good = soma_calloc((size_t)bases, 1);
    soma_status *sts = soma_alloc((size_t)bases, sizeof(soma_status));
    if (!r2f || !sorted || !rank || !good || !sts) {
        soma_free(sts);
        st = SOMA_ERR_NOMEM;
        goto out;
    }
    t0 = soma_now();
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1)
#endif
    for (int i = 0; i < bases; i++) {
        soma_gabor g;
        double r2 = 0;
        sts[i] = soma_gabor_fit(D + (size_t)i * d, SIDE_, SIDE_, &g, &r2);
        r2f[i] = sts[i] == SOMA_OK ? (float)r2 : 0.f;
        int ok = sts[i] == SOMA_OK && r2 >= 0.8;
        good[i] = (unsigned char)((ok ? 1 : 0) | (ok && soma_gabor_localized(&g, SIDE_, SIDE_) ? 2 : 0) |
                                  (ok && soma_gabor_bandpass(&g, SIDE_, SIDE_) ? 4 : 0));
    }
    double t_fit = soma_now() - t0;
    int n_good = 0, n_r2 = 0, n_failed = 0, n_loc = 0, n_band = 0;
    double mean_r2 = 0;
    for (int i = 0; i < bases; i++) {
        n_failed += sts[i] != SOMA_OK; /* a flat (dead) atom cannot be fitted: it counts as no Gabor */
        n_good += good[i] == 7;
        n_loc += (good[i] & 2) != 0;
        n_band += (good[i] & 4) != 0;
        n_r2 += r2f[i] >= 0.8f;
        mean_r2 += r2f[i] / bases;
    }
    soma_free(sts);
    double frac = (double)n_good / bases;
    /* the definition: gabor_fraction is the fraction that a Gabor fits with R^2 >= 0.8;
     * the stricter reading (also localized and band-pass) is gabor_strict_fraction */
    soma_exp_put(c, "gabor_fraction", (double)n_r2 / bases);
    soma_exp_put(c, "gabor_strict_fraction", frac);
    soma_exp_put(c, "r2_and_localized_fraction", (double)n_loc / bases);
    soma_exp_put(c, "r2_and_bandpass_fraction", (double)n_band / bases);
    soma_exp_put(c, "n_bases", bases);
    soma_exp_put(c, "mean_r2", mean_r2);
    soma_exp_put(c, "final_mse", mse);
    soma_exp_put(c, "final_l0", l0);
    soma_exp_put(c, "unfittable_bases", n_failed);
    soma_exp_put(c, "seconds_patches", t_patches);
    soma_exp_put(c, "seconds_learning", t_learn);
    soma_exp_put(c, "seconds_gabor_fits", t_fit);
    cJSON_AddStringToObject(c->ours, "gabor_fraction_definition",
                            "fraction of bases whose least-squares 2-D Gabor fit (soma_gabor_fit) has R^2 >= 0.8");
    cJSON_AddStringToObject(c->ours, "gabor_strict_fraction_definition",
                            "fraction of bases with Gabor R^2 >= 0.8 that are also localized (both envelope widths "
                            "< side/3, centre inside the patch) and band-pass (1/side <= f <= 0.5 cycles/pixel, "
                            "f * sx >= 0.15)");
    soma_exp_put_array(c, "gabor_r2", r2f, bases);

    snprintf(c->headline, sizeof c->headline,
             "%d bases on %d whitened %dx%d patches (%s, lambda %g, %d steps): %.0f%% Gabor-like "
             "(R^2 >= 0.8, localized, band-pass), %.0f%% with R^2 >= 0.8, mean R^2 %.3f\n"
             "final batch: MSE %.4f per pixel, L0 %.1f active of %d; learning %.1f s, fits %.1f s",
             bases, n_patches, SIDE_, SIDE_, solver_s, (double)lambda, steps, 100 * frac, 100.0 * n_r2 / bases,
             mean_r2, mse, l0, bases, t_learn, t_fit);

    // --- figure: the bases, and the sorted R^2
    memcpy(sorted, r2f, sizeof(float) * (size_t)bases);
    qsort(sorted, (size_t)bases, sizeof(float), cmp_float_);
    for (int i = 0; i < bases; i++) rank[i] = (float)(i + 1) / bases;
    if ((st = soma_fig_new(&f, 1, 2, 1200, 560)) != SOMA_OK) goto out;
    soma_fig_title(f, "Sparse coding of natural images (Olshausen & Field 1996)");
    soma_fig_labels(f, 0, "Learned bases (16x16, whitened)", "", "");
    if ((st = soma_fig_images(f, 0, D, bases, SIDE_, SIDE_, 0, 1)) != SOMA_OK) goto out;
    soma_fig_labels(f, 1, "Gabor fit of each basis", "fraction of bases (sorted)", "R^2");
    if ((st = soma_fig_line(f, 1, rank, sorted, bases, "R^2", NULL)) != SOMA_OK) goto out;
    if ((st = soma_fig_hline(f, 1, 0.8f, "R^2 = 0.8")) != SOMA_OK) goto out;
    soma_fig_ylim(f, 1, 0, 1);
    char path[1100];
    st = soma_fig_save(f, soma_exp_path(c, "olshausen1996.svg", path, sizeof path));
out:
    soma_fig_free(f);
    soma_free(X);
    soma_free(D);
    soma_free(r2f);
    soma_free(sorted);
    soma_free(rank);
    soma_free(good);
    return st;
}

const soma_experiment soma__exp_olshausen1996 = {
    "olshausen1996",
    "Sparse coding of whitened natural-image patches (ISTA/FISTA/LCA + gradient steps on the "
    "dictionary) learns localized, oriented, band-pass bases; a Gabor is fitted to each.",
    landmarks_,
    opts_,
    reduced_,
    run_,
    NULL,
};
