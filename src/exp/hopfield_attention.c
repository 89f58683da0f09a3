// hopfield-attention: a modern Hopfield network (Ramsauer et al. 2020) storing Fashion-MNIST
// images retrieves each from a half-masked cue in one update -- one attention step
// softmax(beta Q K^T) V with Q = the cues and K = V = the stored images -- and a sweep of beta
// shows the three kinds of fixed point: the global average (small beta), metastable averages
// of similar images, single images (large beta).
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/internal.h"
#include "soma/io.h"
#include "soma/nn.h"
#include "soma/plot.h"

static const soma_opt opts_[] = {
    {"data", SOMA_OPT_STR, "fmnist", 0, 0, NULL, "images: fmnist | idx:IMAGES,LABELS | npy:X,Y (training split)", 0},
    {"fmnist-dir", SOMA_OPT_STR, NULL, 0, 0, NULL, "Fashion-MNIST folder (default $SOMA_FMNIST_DIR, else Debian's)", 0},
    {"stored", SOMA_OPT_INT, "1000", 2, 5000, NULL, "images stored (drawn at random from the training split; each is also a cue: memory and time grow as the square)", 1},
    {"beta", SOMA_OPT_FLOAT, "1", 1e-6, 1e6, NULL, "inverse temperature of the headline retrieval", 0},
    {"beta-min", SOMA_OPT_FLOAT, "0.001", 1e-6, 1e6, NULL, "smallest beta of the sweep", 0},
    {"beta-max", SOMA_OPT_FLOAT, "10", 1e-6, 1e6, NULL, "largest beta of the sweep", 0},
    {"beta-steps", SOMA_OPT_INT, "17", 2, 200, NULL, "betas in the sweep (log-spaced)", 1},
    {"mask", SOMA_OPT_FLOAT, "0.5", 0.05, 0.95, NULL, "fraction of image rows masked (from the bottom)", 0},
    {"threshold", SOMA_OPT_FLOAT, "0.5", 0.01, 0.99, NULL, "pixels above it are +1, the rest -1", 0},
    {"show", SOMA_OPT_INT, "8", 1, 32, NULL, "cues and retrievals in the figure", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark landmarks_[] = {
    {"one update of a modern Hopfield network (= one attention step) retrieves a stored image from a half-masked "
     "cue; ours: fraction of 1000 stored Fashion-MNIST images retrieved",
     "Ramsauer et al. 2021 (ICLR)", "https://arxiv.org/abs/2008.02217", "retrieval_accuracy", SOMA_EXP_AT_LEAST, 0.95},
    {"small beta: one global fixed point near the mean of all patterns; ours: fraction of cues at a global "
     "average at the smallest beta of the sweep",
     "Ramsauer et al. 2021 (ICLR)", "https://arxiv.org/abs/2008.02217", "global_fraction_at_min_beta",
     SOMA_EXP_AT_LEAST, 0.99},
    {NULL, NULL, NULL, NULL, 0, 0},
};

static const char *const reduced_[] = {"--stored", "200", "--beta-steps", "9", NULL};

static soma_status check_(const soma_exp_ctx *c) {
    double lo, hi;
    SOMA_TRY(soma_args_double(&c->args, "beta-min", &lo));
    SOMA_TRY(soma_args_double(&c->args, "beta-max", &hi));
    if (!(lo < hi))
        return soma_error(SOMA_ERR_ARG, "--beta-min %g must be below --beta-max %g", lo, hi);
    return SOMA_OK;
}

/* The fraction of cues whose retrieval out [b, d] lies nearest (Euclidean) to its own stored
 * pattern (cue i was made from pattern i); sc [b, m] scratch, sq [m] the squared norms. */
static double accuracy_(const float *out, const float *P, const float *sq, int m, int d, float *sc) {
    /* on one thread: a threaded sgemm's bits depend on the thread count, and so could a
     * near tie of two patterns */
    const int th = soma_get_threads();
    soma_set_threads(1);
    soma_gemm(0, 1, m, m, d, 1.f, out, d, P, d, 0.f, sc, m);
    soma_set_threads(th);
    long hit = 0;
    for (int i = 0; i < m; i++) {
        const float *si = sc + (size_t)i * m;
        int best = 0;
        float bv = -INFINITY;
        for (int j = 0; j < m; j++) {
            float v = si[j] - 0.5f * sq[j];
            if (v > bv) bv = v, best = j;
        }
        hit += best == i;
    }
    return (double)hit / m;
}

static void norms_(float *sq, const float *X, int m, int d) {
    for (int i = 0; i < m; i++) {
        double s = 0;
        for (int j = 0; j < d; j++) s += (double)X[(size_t)i * d + j] * X[(size_t)i * d + j];
        sq[i] = (float)s;
    }
}

static soma_status run_(soma_exp_ctx *c) {
    int m, steps, show;
    float beta, bmin, bmax, maskf, thr;
    SOMA_TRY(soma_args_int(&c->args, "stored", &m));
    SOMA_TRY(soma_args_int(&c->args, "beta-steps", &steps));
    SOMA_TRY(soma_args_int(&c->args, "show", &show));
    SOMA_TRY(soma_args_float(&c->args, "beta", &beta));
    SOMA_TRY(soma_args_float(&c->args, "beta-min", &bmin));
    SOMA_TRY(soma_args_float(&c->args, "beta-max", &bmax));
    SOMA_TRY(soma_args_float(&c->args, "mask", &maskf));
    SOMA_TRY(soma_args_float(&c->args, "threshold", &thr));
    soma_dataset *ds = NULL;
    SOMA_TRY(soma_dataset_load(soma_args_str(&c->args, "data"), 1, soma_args_str(&c->args, "fmnist-dir"), &ds));
    soma_status st = SOMA_OK;
    float *P = NULL, *cue = NULL, *out = NULL, *pr = NULL, *sc = NULL, *sq = NULL, *raw = NULL, *curve = NULL,
          *imgs = NULL;
    int *idx = NULL;
    soma_mhn *h = NULL;
    soma_fig *f = NULL;
    const int d = (int)ds->dim;
    const int side = ds->shape.rank == 3 ? ds->shape.d[1] : 0, width = side ? ds->shape.d[2] : 0;
    if (m > ds->n) {
        st = soma_error(SOMA_ERR_ARG, "--stored %d exceeds the %d images of %s", m, ds->n, ds->name);
        goto out;
    }
    if (show > m) show = m;
    P = soma_alloc((size_t)m * d, sizeof(float));
    raw = soma_alloc((size_t)m * d, sizeof(float));
    cue = soma_alloc((size_t)m * d, sizeof(float));
    out = soma_alloc((size_t)m * d, sizeof(float));
    pr = soma_alloc((size_t)m * m, sizeof(float));
    sc = soma_alloc((size_t)m * m, sizeof(float));
    sq = soma_alloc((size_t)m, sizeof(float));
    curve = soma_alloc((size_t)5 * steps, sizeof(float));
    imgs = soma_alloc((size_t)3 * show * d, sizeof(float));
    idx = soma_alloc((size_t)ds->n, sizeof(int));
    if (!P || !raw || !cue || !out || !pr || !sc || !sq || !curve || !imgs || !idx) {
        st = soma_error(SOMA_ERR_NOMEM, "hopfield-attention: no memory for %d images", m);
        goto out;
    }
    soma_rng r;
    soma_rng_seed(&r, c->seed, 1);
    soma_rng_permutation(&r, idx, ds->n);
    soma_dataset_batch(ds, idx, m, raw, NULL);
    /* patterns: pixels above the threshold +1, the rest -1; a cue keeps the top rows of its
     * image and sets the masked rest to 0 (unknown). Without an image shape, the last
     * fraction `mask` of the vector is masked. */
    const int keep = side ? (int)lroundf((1.f - maskf) * side) * width : (int)lroundf((1.f - maskf) * d);
    for (size_t i = 0; i < (size_t)m * d; i++) P[i] = raw[i] > thr ? 1.f : -1.f;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < d; j++) cue[(size_t)i * d + j] = j < keep ? P[(size_t)i * d + j] : 0.f;
    norms_(sq, P, m, d);
    double t0 = soma_now();
    if ((st = soma_mhn_new(&h, P, m, d, beta)) != SOMA_OK) goto out;
    if ((st = soma_mhn_retrieve(h, out, cue, m, d, 1, pr)) != SOMA_OK) goto out;
    const double t_ret = soma_now() - t0;
    const double acc = accuracy_(out, P, sq, m, d, sc);
    double err = 0; /* mean absolute pixel error of the retrieval in the masked part */
    for (int i = 0; i < m; i++)
        for (int j = keep; j < d; j++) err += fabs((double)out[(size_t)i * d + j] - P[(size_t)i * d + j]);
    err /= (double)m * (d - keep) * 2.0; /* pixels span [-1, 1]: error as a fraction of the range */
    int kinds[SOMA_MHN_KIND_COUNT] = {0};
    for (int i = 0; i < m; i++) kinds[soma_mhn_kind_of(pr + (size_t)i * m, m, NULL)]++;
    soma_exp_put(c, "retrieval_accuracy", acc);
    soma_exp_put(c, "retrieval_masked_error", err);
    soma_exp_put(c, "single_fraction", (double)kinds[SOMA_MHN_SINGLE] / m);
    soma_exp_put(c, "stored", m);
    soma_exp_put(c, "beta", beta);
    soma_exp_put(c, "masked_fraction", 1.0 - (double)keep / d);
    soma_exp_put(c, "retrieval_seconds", t_ret);
    /* the same one step with the grey pixels in [-1, 1] instead of binarized: dot products
     * then favour bright images over the right one */
    double acc_grey;
    {
        soma_mhn *hc = NULL;
        float *cc = soma_alloc((size_t)m * d, sizeof(float)), *sqg = soma_alloc((size_t)m, sizeof(float));
        if (!cc || !sqg) {
            soma_free(cc);
            soma_free(sqg);
            st = soma_error(SOMA_ERR_NOMEM, "hopfield-attention: no memory");
            goto out;
        }
        for (size_t i = 0; i < (size_t)m * d; i++) raw[i] = 2.f * raw[i] - 1.f;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < d; j++) cc[(size_t)i * d + j] = j < keep ? raw[(size_t)i * d + j] : 0.f;
        norms_(sqg, raw, m, d);
        st = soma_mhn_new(&hc, raw, m, d, beta);
        if (st == SOMA_OK) st = soma_mhn_retrieve(hc, cc, cc, m, d, 1, NULL);
        if (st == SOMA_OK) acc_grey = accuracy_(cc, raw, sqg, m, d, sc);
        soma_mhn_free(hc);
        soma_free(cc);
        soma_free(sqg);
        if (st != SOMA_OK) goto out;
        soma_exp_put(c, "retrieval_accuracy_grey", acc_grey);
    }

    // --- the beta sweep: accuracy and the kind of fixed point of each cue
    float *lb = curve, *ab = curve + steps, *fs = curve + 2 * steps, *fm = curve + 3 * steps, *fg = curve + 4 * steps;
    for (int k = 0; k < steps; k++) {
        const double lg = log10(bmin) + (log10(bmax) - log10(bmin)) * k / (steps - 1);
        const float b = (float)pow(10.0, lg);
        if ((st = soma_mhn_set_beta(h, b)) != SOMA_OK) goto out;
        if ((st = soma_mhn_retrieve(h, out, cue, m, d, 1, pr)) != SOMA_OK) goto out;
        int kk[SOMA_MHN_KIND_COUNT] = {0};
        for (int i = 0; i < m; i++) kk[soma_mhn_kind_of(pr + (size_t)i * m, m, NULL)]++;
        lb[k] = (float)lg;
        ab[k] = (float)accuracy_(out, P, sq, m, d, sc);
        fs[k] = (float)kk[SOMA_MHN_SINGLE] / m;
        fm[k] = (float)kk[SOMA_MHN_METASTABLE] / m;
        fg[k] = (float)kk[SOMA_MHN_GLOBAL] / m;
    }
    soma_exp_put_array(c, "sweep_log10_beta", lb, steps);
    soma_exp_put_array(c, "sweep_accuracy", ab, steps);
    soma_exp_put_array(c, "sweep_single", fs, steps);
    soma_exp_put_array(c, "sweep_metastable", fm, steps);
    soma_exp_put_array(c, "sweep_global", fg, steps);
    soma_exp_put(c, "global_fraction_at_min_beta", fg[0]);
    float peak_meta = 0.f;
    for (int k = 0; k < steps; k++) peak_meta = fm[k] > peak_meta ? fm[k] : peak_meta;
    soma_exp_put(c, "metastable_fraction_peak", peak_meta);
    {
        float *delta = sc; /* [m] <= [m, m] */
        if ((st = soma_mhn_set_beta(h, beta)) != SOMA_OK) goto out;
        if ((st = soma_mhn_separation(h, delta)) != SOMA_OK) goto out;
        const double bound = soma_mhn_separation_bound(h);
        int sep = 0;
        for (int i = 0; i < m; i++) sep += delta[i] > bound;
        soma_exp_put(c, "theorem3_bound", bound);
        soma_exp_put(c, "theorem3_separated_fraction", (double)sep / m);
    }
    snprintf(c->headline, sizeof c->headline,
             "%d binarized images stored, %.0f%% of each cue masked: one update (beta %g) retrieves %.1f%% "
             "(grey pixels: %.1f%%)\nbeta sweep %g..%g: global averages %.0f%% at the smallest, metastable up to "
             "%.0f%%, single images %.0f%% at the largest",
             m, 100.0 * (1.0 - (double)keep / d), (double)beta, 100.0 * acc,
             100.0 * acc_grey, (double)bmin,
             (double)bmax, 100.0 * fg[0], 100.0 * peak_meta, 100.0 * fs[steps - 1]);

    // --- figures: the beta sweep; cues and retrievals
    if ((st = soma_fig_new(&f, 1, 2, 1260, 440)) != SOMA_OK) goto out;
    soma_fig_title(f, "Modern Hopfield network = one attention step (Fashion-MNIST, half-masked cues)");
    soma_fig_labels(f, 0, "Regimes of beta", "log10 beta", "fraction of cues");
    {
        soma_line_style s1 = {SOMA_RGB(0x000000), 0, 1, 2.5f};
        if ((st = soma_fig_line(f, 0, lb, ab, steps, "retrieved (nearest = own image)", &s1)) != SOMA_OK) goto out;
        soma_line_style s = {0, 1, 0, 0.f};
        if ((st = soma_fig_line(f, 0, lb, fg, steps, "global average", &s)) != SOMA_OK) goto out;
        if ((st = soma_fig_line(f, 0, lb, fm, steps, "metastable", &s)) != SOMA_OK) goto out;
        if ((st = soma_fig_line(f, 0, lb, fs, steps, "single pattern", &s)) != SOMA_OK) goto out;
        soma_fig_ylim(f, 0, 0, 1.02);
    }
    if (side) { /* rows: stored image, cue (masked part grey), retrieval */
        if ((st = soma_mhn_set_beta(h, beta)) != SOMA_OK) goto out;
        if ((st = soma_mhn_retrieve(h, out, cue, show, d, 1, NULL)) != SOMA_OK) goto out;
        for (int i = 0; i < show; i++)
            for (int j = 0; j < d; j++) {
                imgs[(size_t)i * d + j] = 0.5f * (P[(size_t)i * d + j] + 1.f);
                imgs[(size_t)(show + i) * d + j] = 0.5f * (cue[(size_t)i * d + j] + 1.f);
                imgs[(size_t)(2 * show + i) * d + j] = 0.5f * (out[(size_t)i * d + j] + 1.f);
            }
        soma_fig_labels(f, 1, "Stored (top), cue, one update (bottom)", NULL, NULL);
        if ((st = soma_fig_images(f, 1, imgs, 3 * show, side, width, show, 0)) != SOMA_OK) goto out;
    }
    char path[1100];
    st = soma_fig_save(f, soma_exp_path(c, "hopfield_attention.svg", path, sizeof path));
out:
    soma_fig_free(f);
    soma_mhn_free(h);
    soma_free(P);
    soma_free(raw);
    soma_free(cue);
    soma_free(out);
    soma_free(pr);
    soma_free(sc);
    soma_free(sq);
    soma_free(curve);
    soma_free(imgs);
    soma_free(idx);
    soma_dataset_free(ds);
    return st;
}

const soma_experiment soma__exp_hopfield_attention = {
    "hopfield-attention",
    "A modern Hopfield network storing Fashion-MNIST images retrieves each from a half-masked cue in one update "
    "(one attention step); a beta sweep shows global averaging, metastable states and single-pattern retrieval.",
    landmarks_,
    opts_,
    reduced_,
    run_,
    check_,
};
