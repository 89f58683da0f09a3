// hebbian-pca: Sanger's generalized Hebbian algorithm finds the leading principal components
// of Fashion-MNIST (centered), checked against the eigenvectors of the covariance (LAPACKE);
// Oja's single unit finds the first; a competitive layer learns prototypes.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/internal.h"
#include "soma/io.h"
#include "soma/learn.h"
#include "soma/plot.h"

/* after soma's headers: lapacke.h brings complex.h, whose I macro clashes with names there */
#include <lapacke.h>

static const soma_opt opts_[] = {
    {"data", SOMA_OPT_STR, "fmnist", 0, 0, NULL, "images: fmnist | idx:IMAGES,LABELS | npy:X,Y (training split)", 0},
    {"fmnist-dir", SOMA_OPT_STR, NULL, 0, 0, NULL, "Fashion-MNIST folder (default $SOMA_FMNIST_DIR, else Debian's)", 0},
    {"n-train", SOMA_OPT_INT, "0", 0, 1 << 30, NULL, "use only the first N images (0: all)", 1},
    {"components", SOMA_OPT_INT, "8", 1, 64, NULL, "GHA units (principal components compared)", 0},
    {"epochs", SOMA_OPT_INT, "10", 1, 10000, NULL, "passes of GHA and Oja over the data", 1},
    {"batch", SOMA_OPT_INT, "32", 1, 65536, NULL, "images a mini-batch (1: the online rules)", 0},
    {"lr", SOMA_OPT_FLOAT, "0.02", 1e-7, 1, NULL, "first learning rate of GHA and Oja (pixels in [0, 1])", 0},
    {"lr-final", SOMA_OPT_FLOAT, "0.0005", 1e-8, 1, NULL, "last learning rate (geometric decay over the epochs)", 0},
    {"prototypes", SOMA_OPT_INT, "16", 2, 256, NULL, "units of the competitive layer", 0},
    {"competitive-epochs", SOMA_OPT_INT, "3", 1, 1000, NULL, "passes of the competitive layer", 0},
    {"competitive-batch", SOMA_OPT_INT, "256", 1, 65536, NULL, "images a mini-batch of the competitive layer", 0},
    {"competitive-lr", SOMA_OPT_FLOAT, "0.5", 1e-6, 1, NULL, "learning rate of the competitive layer", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark landmarks_[] = {
    {"GHA: |cosine| of each of the top 8 components with PCA's (minimum)", "Sanger 1989",
     "https://doi.org/10.1016/0893-6080(89)90044-0", "cosine_min", SOMA_EXP_AT_LEAST, 0.99},
    {"Oja's rule: one unit converges to the first principal component (|cosine|)", "Oja 1982",
     "https://doi.org/10.1007/BF00275687", "oja_cosine", SOMA_EXP_AT_LEAST, 0.99},
    {NULL, NULL, NULL, NULL, 0, 0},
};

static const char *const reduced_[] = {"--n-train", "6000", "--epochs", "20", "--competitive-epochs", "1", NULL};

static double abs_cos_(const float *a, const float *b, int d) {
    double ab = 0, aa = 0, bb = 0;
    for (int t = 0; t < d; t++) {
        ab += (double)a[t] * b[t];
        aa += (double)a[t] * a[t];
        bb += (double)b[t] * b[t];
    }
    return aa > 0 && bb > 0 ? fabs(ab) / sqrt(aa * bb) : 0.0;
}

/* The top k eigenvectors (rows of pcs [k, d], largest first) and eigenvalues of the
 * covariance of the centered X [n, d]: LAPACK's dsyevr for the k largest only. It runs on one
 * thread: for d = 784 threads gain little, and on a loaded 2-core machine its OpenMP build took
 * 4.6-7.6 s with 2 threads against 0.09 s with one. */
static soma_status pca_(const float *X, int n, int d, int k, float *pcs, double *eig) {
    float *Cf = soma_alloc((size_t)d * d, sizeof(float));
    double *C = soma_alloc((size_t)d * d, sizeof(double)), *w = soma_alloc((size_t)d, sizeof(double));
    double *Z = soma_alloc((size_t)d * k, sizeof(double));
    lapack_int *isuppz = soma_alloc((size_t)2 * k, sizeof(lapack_int));
    soma_status st = SOMA_OK;
    if (!Cf || !C || !w || !Z || !isuppz) {
        st = SOMA_ERR_NOMEM;
        goto out;
    }
    soma_gemm(1, 0, d, d, n, 1.f / (float)n, X, d, X, d, 0.f, Cf, d);
    for (size_t i = 0; i < (size_t)d * d; i++) C[i] = Cf[i];
    const int threads = soma_get_threads();
    soma_set_threads(1);
    lapack_int found = 0;
    lapack_int info = LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'I', 'U', d, C, d, 0.0, 0.0, d - k + 1, d, 0.0, &found, w,
                                     Z, k, isuppz);
    soma_set_threads(threads);
    if (info != 0 || found != k) {
        st = soma_error(SOMA_ERR_ARG, "hebbian-pca: the eigen-decomposition of the covariance failed (info %d)",
                        (int)info);
        goto out;
    }
    for (int i = 0; i < k; i++) { /* ascending: column k-1-i is the i-th largest */
        const int col = k - 1 - i;
        eig[i] = w[col];
        for (int t = 0; t < d; t++) pcs[(size_t)i * d + t] = (float)Z[(size_t)t * k + col];
    }
out:
    soma_free(Cf);
    soma_free(C);
    soma_free(w);
    soma_free(Z);
    soma_free(isuppz);
    return st;
}

static soma_status run_(soma_exp_ctx *c) {
    int n_train, k, epochs, batch, P, cepochs, cbatch;
    float lr0, lr1, clr;
    SOMA_TRY(soma_args_int(&c->args, "n-train", &n_train));
    SOMA_TRY(soma_args_int(&c->args, "components", &k));
    SOMA_TRY(soma_args_int(&c->args, "epochs", &epochs));
    SOMA_TRY(soma_args_int(&c->args, "batch", &batch));
    SOMA_TRY(soma_args_float(&c->args, "lr", &lr0));
    SOMA_TRY(soma_args_float(&c->args, "lr-final", &lr1));
    SOMA_TRY(soma_args_int(&c->args, "prototypes", &P));
    SOMA_TRY(soma_args_int(&c->args, "competitive-epochs", &cepochs));
    SOMA_TRY(soma_args_float(&c->args, "competitive-lr", &clr));
    SOMA_TRY(soma_args_int(&c->args, "competitive-batch", &cbatch));
    soma_dataset *ds = NULL;
    SOMA_TRY(soma_dataset_load(soma_args_str(&c->args, "data"), 1, soma_args_str(&c->args, "fmnist-dir"), &ds));
    const int n = n_train > 0 && n_train < ds->n ? n_train : ds->n, d = (int)ds->dim;
    soma_status st = SOMA_OK;
    float *X = NULL, *mean = NULL, *pcs = NULL, *W = NULL, *w1 = NULL, *curve = NULL, *proto = NULL, *imgs = NULL;
    int *idx = NULL;
    double *eig = NULL;
    soma_fig *f = NULL;
    if (k > d) {
        st = soma_error(SOMA_ERR_ARG, "hebbian-pca: --components %d exceeds the %d pixels an image", k, d);
        goto out;
    }
    X = soma_alloc((size_t)n * d, sizeof(float));
    mean = soma_calloc((size_t)d, sizeof(float));
    pcs = soma_alloc((size_t)k * d, sizeof(float));
    W = soma_alloc((size_t)k * d, sizeof(float));
    w1 = soma_alloc((size_t)d, sizeof(float));
    curve = soma_alloc((size_t)(epochs + 1) * (k + 1), sizeof(float));
    proto = soma_alloc((size_t)P * d, sizeof(float));
    imgs = soma_alloc((size_t)2 * k * d, sizeof(float));
    idx = soma_alloc((size_t)n, sizeof(int));
    eig = soma_alloc((size_t)k, sizeof(double));
    if (!X || !mean || !pcs || !W || !w1 || !curve || !proto || !imgs || !idx || !eig) {
        st = SOMA_ERR_NOMEM;
        goto out;
    }
    for (int i = 0; i < n; i++) idx[i] = i;
    soma_dataset_batch(ds, idx, n, X, NULL);
    { /* center */
        double *m = soma_calloc((size_t)d, sizeof(double));
        if (!m) {
            st = SOMA_ERR_NOMEM;
            goto out;
        }
        for (int i = 0; i < n; i++)
            for (int t = 0; t < d; t++) m[t] += X[(size_t)i * d + t];
        for (int t = 0; t < d; t++) mean[t] = (float)(m[t] / n);
        soma_free(m);
        for (int i = 0; i < n; i++)
            for (int t = 0; t < d; t++) X[(size_t)i * d + t] -= mean[t];
    }
    const double t0 = soma_now();
    if ((st = pca_(X, n, d, k, pcs, eig)) != SOMA_OK) goto out;
    const double pca_s = soma_now() - t0;

    // --- GHA and Oja, the same schedule: lr decays geometrically from lr0 to lr1
    soma_rng rng;
    soma_rng_seed(&rng, c->seed, 1);
    soma_rng_normal_fill(&rng, W, (size_t)k * d, 0.f, 0.01f);
    soma_rng_normal_fill(&rng, w1, (size_t)d, 0.f, 0.01f);
    const int K1 = k + 1; /* curve rows: k GHA cosines, then Oja's */
    for (int i = 0; i < k; i++) curve[i] = (float)abs_cos_(W + (size_t)i * d, pcs + (size_t)i * d, d);
    curve[k] = (float)abs_cos_(w1, pcs, d);
    double gha_s = 0, oja_s = 0;
    soma_progress prog;
    soma_progress_begin(&prog, "hebbian-pca", epochs);
    prog.enabled = !c->quiet;
    for (int e = 0; e < epochs; e++) {
        const float lr = epochs > 1 ? lr0 * powf(lr1 / lr0, (float)e / (float)(epochs - 1)) : lr0;
        double t = soma_now();
        if ((st = soma_hebb_epoch(SOMA_HEBB_GHA, W, k, d, X, n, batch, lr)) != SOMA_OK) goto out;
        gha_s += soma_now() - t;
        t = soma_now();
        if ((st = soma_hebb_epoch(SOMA_HEBB_OJA, w1, 1, d, X, n, batch, lr)) != SOMA_OK) goto out;
        oja_s += soma_now() - t;
        float *row = curve + (size_t)(e + 1) * K1;
        float lo = 1.f;
        for (int i = 0; i < k; i++) {
            row[i] = (float)abs_cos_(W + (size_t)i * d, pcs + (size_t)i * d, d);
            if (row[i] < lo) lo = row[i];
        }
        row[k] = (float)abs_cos_(w1, pcs, d);
        char extra[96];
        snprintf(extra, sizeof extra, "lr %.4g, GHA min |cos| %.4f, Oja %.4f", (double)lr, (double)lo, (double)row[k]);
        soma_progress_update(&prog, e + 1, extra);
    }
    soma_progress_end(&prog);
    const float *last = curve + (size_t)epochs * K1;
    float cmin = 1.f, *percomp = imgs; /* scratch for the per-component list */
    for (int i = 0; i < k; i++) {
        percomp[i] = last[i];
        if (last[i] < cmin) cmin = last[i];
    }
    soma_exp_put(c, "cosine_min", cmin);
    soma_exp_put_array(c, "cosine", percomp, k);
    soma_exp_put(c, "oja_cosine", last[k]);
    double nrm = 0;
    for (int t = 0; t < d; t++) nrm += (double)w1[t] * w1[t];
    soma_exp_put(c, "oja_norm", sqrt(nrm));
    {
        float ev[64];
        for (int i = 0; i < k; i++) ev[i] = (float)eig[i];
        soma_exp_put_array(c, "pca_eigenvalues", ev, k);
    }
    soma_exp_put(c, "images", n);
    soma_exp_put(c, "gha_seconds", gha_s);
    soma_exp_put(c, "oja_seconds", oja_s);
    soma_exp_put(c, "pca_seconds", pca_s);

    // --- competitive layer on the raw images: prototypes start at random images
    for (int i = 0; i < n; i++)
        for (int t = 0; t < d; t++) X[(size_t)i * d + t] += mean[t];
    for (int j = 0; j < P; j++)
        memcpy(proto + (size_t)j * d, X + (size_t)soma_rng_below(&rng, (uint64_t)n) * d, (size_t)d * sizeof(float));
    for (int e = 0; e < cepochs; e++)
        if ((st = soma_hebb_epoch(SOMA_HEBB_COMPETITIVE, proto, P, d, X, n, cbatch, clr)) != SOMA_OK) goto out;
    { /* how many units win some image: a unit that never wins keeps its starting image */
        enum { CH = 512 };
        float *y = soma_alloc((size_t)CH * P, sizeof(float));
        int *wins = soma_calloc((size_t)P, sizeof(int));
        if (!wins || !y) {
            soma_free(wins);
            soma_free(y);
            st = SOMA_ERR_NOMEM;
            goto out;
        }
        for (int r = 0; r < n; r += CH) {
            const int B = n - r < CH ? n - r : CH;
            soma_gemm(0, 1, B, P, d, 1.f, X + (size_t)r * d, d, proto, d, 0.f, y, P);
            for (int i = 0; i < B; i++) {
                const float *yi = y + (size_t)i * P;
                int b = 0;
                for (int j = 1; j < P; j++)
                    if (yi[j] > yi[b]) b = j;
                wins[b]++;
            }
        }
        int used = 0;
        for (int j = 0; j < P; j++) used += wins[j] > 0;
        soma_free(wins);
        soma_free(y);
        soma_exp_put(c, "competitive_units_used", used);
    }

    snprintf(c->headline, sizeof c->headline,
             "GHA (%d units, %d epochs, %d images): |cosine| with PCA's components, min %.4f (Sanger 1989: -> 1)\n"
             "Oja's single unit vs PC 1: |cosine| %.4f, |w| %.4f",
             k, epochs, n, (double)cmin, (double)last[k], sqrt(nrm));

    // --- figures
    const int side = (int)lround(sqrt((double)d)), square = side * side == d;
    if ((st = soma_fig_new(&f, 1, square ? 3 : 1, square ? 1500 : 500, 420)) != SOMA_OK) goto out;
    soma_fig_title(f, "Hebbian learning: GHA vs PCA, and competitive prototypes");
    int pl = 0;
    if (square) {
        for (int i = 0; i < k; i++) { /* top row GHA (sign-aligned), bottom row PCA */
            double dot = 0;
            for (int t = 0; t < d; t++) dot += (double)W[(size_t)i * d + t] * pcs[(size_t)i * d + t];
            for (int t = 0; t < d; t++) {
                imgs[(size_t)i * d + t] = (dot < 0 ? -1.f : 1.f) * W[(size_t)i * d + t];
                imgs[(size_t)(k + i) * d + t] = pcs[(size_t)i * d + t];
            }
        }
        soma_fig_labels(f, pl, "GHA components (top) and PCA's (bottom)", "", "");
        if ((st = soma_fig_images(f, pl++, imgs, 2 * k, side, side, k, 1)) != SOMA_OK) goto out;
    }
    {
        float *x = soma_alloc((size_t)epochs + 1, sizeof(float)), *y = soma_alloc((size_t)epochs + 1, sizeof(float));
        if (!x || !y) {
            soma_free(x);
            soma_free(y);
            st = SOMA_ERR_NOMEM;
            goto out;
        }
        for (int e = 0; e <= epochs; e++) x[e] = (float)e;
        soma_fig_labels(f, pl, "|cosine| with PCA over training", "epoch", "|cosine|");
        for (int i = 0; i <= k && st == SOMA_OK; i++) {
            char lab[32];
            if (i < k) snprintf(lab, sizeof lab, "GHA %d", i + 1);
            else snprintf(lab, sizeof lab, "Oja vs PC 1");
            for (int e = 0; e <= epochs; e++) y[e] = curve[(size_t)e * K1 + i];
            soma_line_style s = {0, i == k, 0, 0.f};
            st = soma_fig_line(f, pl, x, y, epochs + 1, lab, &s);
        }
        soma_free(x);
        soma_free(y);
        if (st != SOMA_OK) goto out;
        if ((st = soma_fig_hline(f, pl, 0.99f, "0.99")) != SOMA_OK) goto out;
        soma_fig_ylim(f, pl, 0, 1.02);
        pl++;
    }
    if (square) {
        soma_fig_labels(f, pl, "Competitive layer: prototypes", "", "");
        if ((st = soma_fig_images(f, pl, proto, P, side, side, 0, 1)) != SOMA_OK) goto out;
    }
    char path[1100];
    st = soma_fig_save(f, soma_exp_path(c, "hebbian_pca.svg", path, sizeof path));
out:
    soma_fig_free(f);
    soma_dataset_free(ds);
    soma_free(X);
    soma_free(mean);
    soma_free(pcs);
    soma_free(W);
    soma_free(w1);
    soma_free(curve);
    soma_free(proto);
    soma_free(imgs);
    soma_free(idx);
    soma_free(eig);
    return st;
}

const soma_experiment soma__exp_hebbian_pca = {
    "hebbian-pca",
    "Sanger's generalized Hebbian algorithm recovers the top principal components of Fashion-MNIST "
    "(against the covariance's eigenvectors); Oja's unit finds the first; a competitive layer "
    "learns prototypes.",
    landmarks_,
    opts_,
    reduced_,
    run_,
    NULL,
};
