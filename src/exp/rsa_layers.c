// rsa-layers: the representational geometry of every layer of a trained LeNet on a fixed set
// of Fashion-MNIST images: RDMs of pixels and of each layer, the layer x layer comparison by
// Spearman RSA and by linear CKA, and how categorical each layer is (RSA with a category model).
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exp/internal.h"
#include "exp/rsa_common.h"
#include "soma/analysis.h"
#include "soma/plot.h"

static const soma_opt opts_[] = {
    SOMA__RSA_OPTS,
    {"metric", SOMA_OPT_ENUM, "correlation", 0, 0, "correlation|euclidean|sqeuclidean|cosine|mahalanobis",
     "dissimilarity of two activation patterns", 0},
    {"perms", SOMA_OPT_INT, "1000", 10, 1000000, NULL,
     "condition relabellings of the permutation test of each layer's category RSA", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark landmarks_[] = {
    {"category RSA (Spearman with a same/different-class model RDM) of the network's top layer minus that of "
     "the pixels: deep supervised layers are more categorical than the image",
     "Khaligh-Razavi & Kriegeskorte 2014", "https://doi.org/10.1371/journal.pcbi.1003915", "category_rsa_rise",
     SOMA_EXP_AT_LEAST, 0.0},
    {"Kendall tau-a of layer depth with category RSA: categorical structure grows along the hierarchy",
     "Yamins et al. 2014", "https://doi.org/10.1073/pnas.1403112111", "category_depth_tau", SOMA_EXP_AT_LEAST, 0.0},
    {NULL, NULL, NULL, NULL, 0, 0},
};

static const char *const reduced_[] = {"--n-train", "2000", "--epochs", "1", "--n-test", "500", "--perms", "100",
                                       NULL};

typedef struct { double v; long i; } vi_;
static int vi_cmp_(const void *a, const void *b) {
    const vi_ *x = a, *y = b;
    return x->v < y->v ? -1 : x->v > y->v ? 1 : (x->i > y->i) - (x->i < y->i);
}

/* Percentile ranks of a condensed RDM as a square float matrix (diagonal 0), for display. */
static soma_status rank_square_(const double *rdm, int n, float *sq) {
    long m = soma_rdm_len(n);
    vi_ *o = soma_alloc((size_t)m, sizeof(vi_));
    double *rk = soma_alloc((size_t)m, sizeof(double)), *full = soma_alloc((size_t)n * n, sizeof(double));
    soma_status st = o && rk && full ? SOMA_OK : soma_error(SOMA_ERR_NOMEM, "rsa-layers: out of memory");
    if (st == SOMA_OK) {
        for (long k = 0; k < m; k++) o[k] = (vi_){rdm[k], k};
        qsort(o, (size_t)m, sizeof(vi_), vi_cmp_);
        for (long k = 0; k < m; k++) rk[o[k].i] = m > 1 ? (double)k / (double)(m - 1) : 0.0;
        soma_rdm_to_square(rk, n, full);
        for (size_t i = 0; i < (size_t)n * n; i++) sq[i] = (float)full[i];
    }
    soma_free(o);
    soma_free(rk);
    soma_free(full);
    return st;
}

static soma_status draw_rdms_(soma_exp_ctx *c, const soma__rsa_model *m, double *const *rdm, const char *metric) {
    const int R = m->n_reps, cols = R < 6 ? R : 6, rows = (R + cols - 1) / cols, n = m->n;
    soma_fig *f;
    SOMA_TRY(soma_fig_new(&f, rows, cols, 230 * cols, 240 * rows + 40));
    float *sq = soma_alloc((size_t)n * n, sizeof(float));
    soma_status st = sq ? SOMA_OK : soma_error(SOMA_ERR_NOMEM, "rsa-layers: out of memory");
    char title[200];
    snprintf(title, sizeof title,
             "RDMs (%s distance, percentile ranks) of %d Fashion-MNIST images sorted by class", metric, n);
    soma_fig_title(f, title);
    soma_heatmap_opts ho = {SOMA_CMAP_VIRIDIS, 1, 0.f, 1.f, NULL, NULL, NULL};
    for (int r = 0; st == SOMA_OK && r < R; r++) {
        if ((st = rank_square_(rdm[r], n, sq)) != SOMA_OK) break;
        soma_fig_labels(f, r, m->name[r], "stimulus", "stimulus");
        st = soma_fig_heatmap(f, r, sq, n, n, &ho);
    }
    char path[1100];
    if (st == SOMA_OK) st = soma_fig_save(f, soma_exp_path(c, "rdms.svg", path, sizeof path));
    soma_free(sq);
    soma_fig_free(f);
    return st;
}

static soma_status draw_layers_(soma_exp_ctx *c, const soma__rsa_model *m, const double *rsa, const double *cka,
                                const double *cat) {
    const int R = m->n_reps;
    soma_fig *f;
    SOMA_TRY(soma_fig_new(&f, 1, 3, 1500, 520));
    float *v = soma_alloc((size_t)R * R, sizeof(float));
    const char **lab = soma_alloc((size_t)R, sizeof(char *));
    soma_status st = v && lab ? SOMA_OK : soma_error(SOMA_ERR_NOMEM, "rsa-layers: out of memory");
    for (int r = 0; lab && r < R; r++) lab[r] = m->name[r];
    soma_fig_title(f, "Layers compared: RSA, CKA, and with the category model");
    soma_heatmap_opts ho = {SOMA_CMAP_VIRIDIS, 1, 0.f, 1.f, lab, lab, NULL};
    if (st == SOMA_OK) {
        for (int i = 0; i < R * R; i++) v[i] = (float)rsa[i];
        float lo = 0.f;
        for (int i = 0; i < R * R; i++) lo = v[i] < lo ? v[i] : lo;
        ho.vmin = lo;
        ho.colorbar_label = "Spearman r";
        soma_fig_labels(f, 0, "RSA (Spearman of RDMs)", "", "");
        st = soma_fig_heatmap(f, 0, v, R, R, &ho);
    }
    if (st == SOMA_OK) {
        for (int i = 0; i < R * R; i++) v[i] = (float)cka[i];
        ho.vmin = 0.f;
        ho.colorbar_label = "linear CKA";
        soma_fig_labels(f, 1, "Linear CKA", "", "");
        st = soma_fig_heatmap(f, 1, v, R, R, &ho);
    }
    if (st == SOMA_OK) {
        for (int r = 0; r < R; r++) v[r] = (float)cat[r];
        soma_fig_labels(f, 2, "RSA with the category model RDM", "", "Spearman r");
        st = soma_fig_bars(f, 2, v, NULL, R, lab, 0);
    }
    char path[1100];
    if (st == SOMA_OK) st = soma_fig_save(f, soma_exp_path(c, "layers.svg", path, sizeof path));
    soma_free(v);
    soma_free(lab);
    soma_fig_free(f);
    return st;
}

/* A --net spec that does not parse or fit 28x28 images is refused before anything is written. */
static soma_status check_(const soma_exp_ctx *c) {
    int nl;
    return soma__rsa_spec_layers(soma__rsa_spec(&c->args), &nl);
}

static soma_status run_(soma_exp_ctx *c) {
    soma__rsa_model m;
    SOMA_TRY(soma__rsa_model_build(c, &m));
    const char *metric_name = soma_args_str(&c->args, "metric");
    int perms;
    soma_rdm_opts ro = {SOMA_RDM_CORRELATION, -1.0};
    soma_status st = soma_rdm_metric_parse(metric_name, &ro.metric);
    if (st == SOMA_OK) st = soma_args_int(&c->args, "perms", &perms);
    if (st != SOMA_OK) {
        soma__rsa_model_free(&m);
        return st;
    }
    const int R = m.n_reps, n = m.n;
    const long len = soma_rdm_len(n);
    double **rdm = soma_calloc((size_t)R, sizeof(double *));
    double *cat = soma_alloc((size_t)len, sizeof(double));
    double *rsa = soma_alloc((size_t)R * R, sizeof(double)), *cka = soma_alloc((size_t)R * R, sizeof(double));
    double *cat_r = soma_alloc((size_t)R, sizeof(double)), *cat_tau = soma_alloc((size_t)R, sizeof(double));
    double *cat_p = soma_alloc((size_t)R, sizeof(double)), *depth = soma_alloc((size_t)R, sizeof(double));
    if (!rdm || !cat || !rsa || !cka || !cat_r || !cat_tau || !cat_p || !depth) {
        st = soma_error(SOMA_ERR_NOMEM, "rsa-layers: out of memory");
        goto out;
    }
    double t0 = soma_now();
    for (int r = 0; r < R; r++) {
        if (!(rdm[r] = soma_alloc((size_t)len, sizeof(double)))) {
            st = soma_error(SOMA_ERR_NOMEM, "rsa-layers: out of memory");
            goto out;
        }
        if ((st = soma_rdm(m.act[r], n, m.dim[r], 1, &ro, rdm[r])) != SOMA_OK) {
            st = soma_error(st, "rsa-layers: RDM of %s: %s", m.name[r], soma_errmsg());
            goto out;
        }
    }
    /* the category model: 0 for two images of one class, 1 otherwise */
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) cat[soma_rdm_index(n, i, j)] = m.label[i] != m.label[j];
    for (int a = 0; a < R; a++) {
        rsa[a * R + a] = 1.0;
        cka[a * R + a] = 1.0;
        for (int b = a + 1; b < R; b++) {
            if ((st = soma_rsa_compare(rdm[a], rdm[b], n, SOMA_RSA_SPEARMAN, &rsa[a * R + b])) != SOMA_OK) goto out;
            if ((st = soma_cka(m.act[a], m.dim[a], m.act[b], m.dim[b], n, NULL, &cka[a * R + b])) != SOMA_OK)
                goto out;
            rsa[b * R + a] = rsa[a * R + b];
            cka[b * R + a] = cka[a * R + b];
        }
    }
    for (int a = 0; a < R; a++) {
        if ((st = soma_rsa_permtest(cat, rdm[a], n, SOMA_RSA_SPEARMAN, perms, c->seed + 17, &cat_r[a], &cat_p[a])) !=
            SOMA_OK)
            goto out;
        if ((st = soma_rsa_compare(cat, rdm[a], n, SOMA_RSA_KENDALL_A, &cat_tau[a])) != SOMA_OK) goto out;
        depth[a] = a;
    }
    double depth_tau;
    if ((st = soma_kendall_tau_a(depth, cat_r, R, &depth_tau)) != SOMA_OK) goto out;
    const double seconds = soma_now() - t0;

    cJSON *names = cJSON_AddArrayToObject(c->ours, "layers");
    for (int r = 0; names && r < R; r++) {
        cJSON *s = cJSON_CreateString(m.name[r]);
        if (!cJSON_AddItemToArray(names, s)) cJSON_Delete(s);
    }
    cJSON_AddStringToObject(c->ours, "metric", soma_rdm_metric_name(ro.metric));
    cJSON_AddNumberToObject(c->ours, "n_conditions", n);
    soma__rsa_put_matrix(c->ours, "rsa_spearman", rsa, R, R);
    soma__rsa_put_matrix(c->ours, "cka_linear", cka, R, R);
    soma__rsa_put_array(c->ours, "category_rsa", cat_r, R);
    soma__rsa_put_array(c->ours, "category_tau_a", cat_tau, R);
    soma__rsa_put_array(c->ours, "category_rsa_p", cat_p, R);
    soma_exp_put(c, "category_rsa_pixels", cat_r[0]);
    soma_exp_put(c, "category_rsa_top", cat_r[R - 1]);
    soma_exp_put(c, "category_rsa_rise", cat_r[R - 1] - cat_r[0]);
    soma_exp_put(c, "category_depth_tau", depth_tau);
    soma_exp_put(c, "rsa_pixels_top", rsa[R - 1]);
    soma_exp_put(c, "cka_pixels_top", cka[R - 1]);
    soma_exp_put(c, "analysis_seconds", seconds);
    const cJSON *lo = cJSON_GetObjectItemCaseSensitive(c->ours, "lenet");
    const cJSON *acc = cJSON_GetObjectItemCaseSensitive(lo, "test_accuracy");
    snprintf(c->headline, sizeof c->headline,
             "net (test accuracy %.3f): category RSA (Spearman) pixels %.3f -> top layer %.3f (p %.3g, %d perms); "
             "depth-category tau-a %.2f\n"
             "RSA pixels vs top %.3f, linear CKA pixels vs top %.3f; %d conditions, %s distance, analysis %.1f s",
             cJSON_IsNumber(acc) ? acc->valuedouble : NAN, cat_r[0], cat_r[R - 1], cat_p[R - 1], perms, depth_tau,
             rsa[R - 1], cka[R - 1], n, soma_rdm_metric_name(ro.metric), seconds);
    if ((st = draw_rdms_(c, &m, rdm, soma_rdm_metric_name(ro.metric))) != SOMA_OK) goto out;
    st = draw_layers_(c, &m, rsa, cka, cat_r);
out:
    for (int r = 0; rdm && r < R; r++) soma_free(rdm[r]);
    soma_free(rdm);
    soma_free(cat);
    soma_free(rsa);
    soma_free(cka);
    soma_free(cat_r);
    soma_free(cat_tau);
    soma_free(cat_p);
    soma_free(depth);
    soma__rsa_model_free(&m);
    return st;
}

const soma_experiment soma__exp_rsa_layers = {
    "rsa-layers",
    "Representational similarity of every layer of a trained LeNet on 100 Fashion-MNIST images: RDMs, "
    "layer x layer RSA and CKA, and how categorical each layer is (Kriegeskorte et al. 2008).",
    landmarks_,
    opts_,
    reduced_,
    run_,
    check_,
};
