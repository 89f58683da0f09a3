// inductive-bias: what an architecture's built-in assumptions buy. An MLP (no assumption), a
// CNN ending in global average pooling (locality, weight sharing, translation equivariance)
// and a small vision transformer (patches, attention: few assumptions beyond the patch grid),
// of similar parameter counts, trained on Fashion-MNIST subsets from 100 to 60,000 examples
// with several seeds (sample-efficiency curves), then tested on images shifted by 0..6 pixels.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/grid_common.h"
#include "exp/internal.h"
#include "soma/learn.h"
#include "soma/nn.h"
#include "soma/plot.h"

/* The models, in results.json's order. */
enum { IB_MLP = 0, IB_CNN, IB_GAP, IB_VIT, IB_MODELS };
#define IB_MAX_SIZES 16
#define IB_MAX_SHIFT 13

/* 26,506, 20,490, 19,162 and 27,978 parameters. The CNN reads its last feature map out through a
 * dense layer (where a feature is matters to it); cnn_gap ends in global average pooling, here
 * avgpool7 over the whole 7x7 map of its last convolution ([48,7,7] -> [48,1,1]; fc10
 * flattens it), so where a feature is does not. */
#define IB_MLP_NET "fc32,relu,fc32,relu,fc10"
#define IB_CNN_NET "conv3x3x16p1,relu,maxpool2,conv3x3x32p1,relu,maxpool2,fc10"
#define IB_GAP_NET "conv3x3x16p1,relu,maxpool2,conv3x3x32p1,relu,maxpool2,conv3x3x48p1,relu,avgpool7,fc10"
#define IB_VIT_NET "patch7x7d32,cls,pos,block2h32,block2h32,clsout,layernorm,fc10"

static const char *const ib_names_[IB_MODELS] = {"mlp", "cnn", "cnn_gap", "vit"};
static const char *const ib_keys_[IB_MODELS] = {"mlp", "cnn", "cnn-gap", "vit"};
static const char *const ib_lr_keys_[IB_MODELS] = {"lr-mlp", "lr-cnn", "lr-cnn-gap", "lr-vit"};

static const char *const ib_reduced_[] = {"--sizes", "100,1000", "--seeds", "1", "--n-test", "1000",
                                          "--min-steps", "40", "--epochs", "1", "--max-shift", "3", NULL};

static const soma_opt ib_opts_[] = {
    {"fmnist-dir", SOMA_OPT_STR, NULL, 0, 0, NULL, "Fashion-MNIST folder (default $SOMA_FMNIST_DIR, else Debian's)", 0},
    {"sizes", SOMA_OPT_STR, "100,300,1000,3000,10000,30000,60000", 0, 0, NULL,
     "training-set sizes, increasing (random subsets of the training split, one per seed)", 1},
    {"seeds", SOMA_OPT_INT, "3", 1, 100, NULL, "seeds (initialisation, subset, order) at each size", 1},
    {"seeds-large", SOMA_OPT_INT, "2", 1, 100, NULL, "seeds at sizes of 30,000 and more (at most --seeds)", 1},
    {"mlp", SOMA_OPT_STR, IB_MLP_NET, 0, 0, NULL, "the MLP's spec", 1},
    {"cnn", SOMA_OPT_STR, IB_CNN_NET, 0, 0, NULL, "the CNN's spec (conv layers, a dense read-out)", 1},
    {"cnn-gap", SOMA_OPT_STR, IB_GAP_NET, 0, 0, NULL, "the CNN with global average pooling (conv layers, GAP, fc10)", 1},
    {"vit", SOMA_OPT_STR, IB_VIT_NET, 0, 0, NULL, "the vision transformer's spec", 1},
    {"lr-mlp", SOMA_OPT_FLOAT, "0.01", 1e-6, 1, NULL, "peak learning rate of the MLP (Adam, cosine decay)", 1},
    {"lr-cnn", SOMA_OPT_FLOAT, "0.003", 1e-6, 1, NULL, "peak learning rate of the CNN", 1},
    {"lr-cnn-gap", SOMA_OPT_FLOAT, "0.01", 1e-6, 1, NULL, "peak learning rate of the CNN with GAP", 1},
    {"lr-vit", SOMA_OPT_FLOAT, "0.003", 1e-6, 1, NULL, "peak learning rate of the ViT", 1},
    {"batch", SOMA_OPT_INT, "64", 1, 4096, NULL, "mini-batch size", 1},
    {"epochs", SOMA_OPT_INT, "4", 1, 10000, NULL, "passes over the data, at least", 1},
    {"min-steps", SOMA_OPT_INT, "1000", 0, 10000000, NULL,
     "optimizer steps, at least (small subsets get as many steps as mid-sized ones)", 1},
    {"max-shift", SOMA_OPT_INT, "6", 0, IB_MAX_SHIFT, NULL, "translation probe: shifts 0..K pixels", 1},
    {"n-test", SOMA_OPT_INT, "0", 0, 1 << 30, NULL, "use only the first N evaluation images (0: all)", 1},
    {"eval", SOMA_OPT_ENUM, "test", 0, 0, "test|val",
     "test: train on the training split, measure on the test split; val: train on its first 50,000 "
     "images, measure on the last 10,000 (the runs that chose the settings)", 1},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark ib_landmarks_[] = {
    {"convolution's built-in locality and weight sharing make it more sample-efficient than an MLP: "
     "CNN minus MLP test accuracy, the smallest margin over sizes below 10,000 (expected > 0; no number claimed)",
     "LeCun, Bottou, Bengio & Haffner 1998, Gradient-based learning applied to document recognition",
     "https://doi.org/10.1109/5.726791", "cnn_minus_mlp_min_below_10k", SOMA_EXP_AT_LEAST, 0.0},
    {"a CNN with global average pooling is nearly translation-invariant, an MLP is not: the MLP's accuracy "
     "loss minus the GAP CNN's, the smallest over shifts of 2 pixels or more (expected > 0; soma issue 14's bar)",
     "Azulay & Weiss 2019, Why do deep convolutional networks generalize so poorly to small image transformations?",
     "https://jmlr.org/papers/v20/19-519.html", "shift_loss_margin_min", SOMA_EXP_AT_LEAST, 0.0},
    {NULL, NULL, NULL, NULL, 0, 0},
};

typedef struct ib_cell_ {
    int model, size_i, seed_k;
    soma_status st;
    char msg[256];
    xp_cell_out out;
    float shift_acc[IB_MAX_SHIFT + 1];
} ib_cell_;

typedef struct ib_setup_ {
    const char *spec[IB_MODELS];
    float lr[IB_MODELS];
    int sizes[IB_MAX_SIZES], n_sizes, seeds, seeds_large, batch, epochs, min_steps, max_shift;
    uint64_t seed;
} ib_setup_;

static int ib_seeds_at_(const ib_setup_ *s, int size) { return size >= 30000 ? s->seeds_large : s->seeds; }

static soma_status ib_setup_read_(const soma_exp_ctx *c, ib_setup_ *s) {
    const soma_args *a = &c->args;
    memset(s, 0, sizeof *s);
    s->seed = c->seed;
    SOMA_TRY(xp_parse_ints("sizes", soma_args_str(a, "sizes"), 10, 60000, s->sizes, IB_MAX_SIZES, &s->n_sizes));
    SOMA_TRY(soma_args_int(a, "seeds", &s->seeds));
    SOMA_TRY(soma_args_int(a, "seeds-large", &s->seeds_large));
    if (s->seeds_large > s->seeds) s->seeds_large = s->seeds;
    SOMA_TRY(soma_args_int(a, "batch", &s->batch));
    SOMA_TRY(soma_args_int(a, "epochs", &s->epochs));
    SOMA_TRY(soma_args_int(a, "min-steps", &s->min_steps));
    SOMA_TRY(soma_args_int(a, "max-shift", &s->max_shift));
    for (int m = 0; m < IB_MODELS; m++) {
        s->spec[m] = soma_args_str(a, ib_keys_[m]);
        SOMA_TRY(soma_args_float(a, ib_lr_keys_[m], &s->lr[m]));
    }
    if (strcmp(soma_args_str(a, "eval"), "val") == 0 && s->sizes[s->n_sizes - 1] > 50000)
        return soma_error(SOMA_ERR_ARG, "inductive-bias: --eval val trains on 50,000 images at most; --sizes ends at %d",
                          s->sizes[s->n_sizes - 1]);
    return SOMA_OK;
}

static soma_status ib_check_(const soma_exp_ctx *c) {
    ib_setup_ s;
    SOMA_TRY(ib_setup_read_(c, &s));
    for (int m = 0; m < IB_MODELS; m++) {
        soma_net *net = NULL;
        soma_status st = soma_net_new(&net, s.spec[m], soma_shape3(1, 28, 28), 1);
        if (st == SOMA_OK && soma_shape_size(soma_net_out_shape(net)) != 10)
            st = soma_error(SOMA_ERR_ARG, "inductive-bias: --%s '%s' has %zu outputs, Fashion-MNIST has 10 classes",
                            ib_keys_[m], s.spec[m], soma_shape_size(soma_net_out_shape(net)));
        else if (st != SOMA_OK)
            st = soma_error_wrap(st, "inductive-bias: --%s '%s'", ib_keys_[m], s.spec[m]);
        soma_net_free(net);
        SOMA_TRY(st);
    }
    return SOMA_OK;
}

/* Trains one cell; at the largest size also runs the translation probe. */
static void ib_cell_run_(ib_cell_ *cl, const ib_setup_ *s, const soma_dataset *pool, const soma_dataset *test,
                         soma_dataset *const *shifted) {
    const int n = s->sizes[cl->size_i];
    soma_dataset *train = NULL;
    soma_net *net = NULL;
    const int probe = cl->size_i == s->n_sizes - 1;
    /* the subset depends on (seed, k) only: every model sees the same examples */
    soma_status st = xp_random_subset(pool, n, s->seed, 0x1b00u + (uint64_t)cl->seed_k * 64u + (uint64_t)cl->size_i,
                                      &train);
    xp_cell_cfg cfg = {
        .spec = s->spec[cl->model],
        .in = pool->shape,
        .batch = s->batch,
        .lr = s->lr[cl->model],
        .min_epochs = s->epochs,
        .min_steps = s->min_steps,
        .seed = s->seed * 1000003u + (uint64_t)cl->seed_k * 7919u + (uint64_t)cl->model * 131u + (uint64_t)cl->size_i,
    };
    if (st == SOMA_OK) st = xp_train_cell(&cfg, train, NULL, test, &cl->out, probe ? &net : NULL);
    for (int k = 0; st == SOMA_OK && probe && k <= s->max_shift; k++) {
        float loss;
        soma_rule *rule = NULL;
        st = soma_rule_backprop_new(&rule, SOMA_LOSS_XENT);
        if (st == SOMA_OK) st = soma_evaluate_rule(net, rule, shifted[k], 1000, &cl->shift_acc[k], &loss);
        soma_rule_free(rule);
    }
    cl->st = st;
    if (st != SOMA_OK) snprintf(cl->msg, sizeof cl->msg, "%s", soma_errmsg());
    soma_net_free(net);
    soma_dataset_free(train);
}

static void ib_mean_std_(const float *v, int n, float *mean, float *std) {
    double m = 0, q = 0;
    for (int i = 0; i < n; i++) m += v[i];
    m = n ? m / n : NAN;
    for (int i = 0; i < n; i++) q += (v[i] - m) * (v[i] - m);
    *mean = (float)m;
    *std = n > 1 ? (float)sqrt(q / (n - 1)) : 0.f;
}

static soma_status ib_figures_(soma_exp_ctx *c, const ib_setup_ *s, float acc[IB_MODELS][IB_MAX_SIZES],
                               float acc_sd[IB_MODELS][IB_MAX_SIZES], float sh[IB_MODELS][IB_MAX_SHIFT + 1],
                               float sh_sd[IB_MODELS][IB_MAX_SHIFT + 1], const long *params) {
    soma_fig *f = NULL;
    SOMA_TRY(soma_fig_new(&f, 1, 2, 1000, 400));
    soma_status st = SOMA_OK;
    float lx[IB_MAX_SIZES], sx[IB_MAX_SHIFT + 1], y[IB_MAX_SIZES > IB_MAX_SHIFT + 1 ? IB_MAX_SIZES : IB_MAX_SHIFT + 1],
        e[IB_MAX_SIZES > IB_MAX_SHIFT + 1 ? IB_MAX_SIZES : IB_MAX_SHIFT + 1];
    for (int i = 0; i < s->n_sizes; i++) lx[i] = (float)log10((double)s->sizes[i]);
    for (int k = 0; k <= s->max_shift; k++) sx[k] = (float)k;
    soma_fig_title(f, "inductive-bias: MLP vs CNN vs CNN with global average pooling vs ViT on Fashion-MNIST");
    soma_fig_labels(f, 0, "Sample efficiency (mean +- sd over seeds)", "log10 training examples", "test accuracy (%)");
    soma_fig_labels(f, 1, "Translation probe (models of the largest size)", "shift (pixels)", "test accuracy (%)");
    for (int m = 0; m < IB_MODELS && st == SOMA_OK; m++) {
        char label[64];
        snprintf(label, sizeof label, "%s (%ld params)", ib_names_[m], params[m]);
        for (int i = 0; i < s->n_sizes; i++) y[i] = 100.f * acc[m][i], e[i] = 100.f * acc_sd[m][i];
        st = xp_fig_errline(f, 0, lx, y, e, s->n_sizes, label, m + 1, 0);
        for (int k = 0; k <= s->max_shift && st == SOMA_OK; k++) y[k] = 100.f * sh[m][k], e[k] = 100.f * sh_sd[m][k];
        if (st == SOMA_OK) st = xp_fig_errline(f, 1, sx, y, e, s->max_shift + 1, ib_names_[m], m + 1, 0);
    }
    char path[1100];
    if (st == SOMA_OK) st = soma_fig_save(f, soma_exp_path(c, "inductive_bias.svg", path, sizeof path));
    soma_fig_free(f);
    return st;
}

static soma_status ib_run_(soma_exp_ctx *c) {
    ib_setup_ s;
    SOMA_TRY(ib_setup_read_(c, &s));
    int n_test = 0;
    SOMA_TRY(soma_args_int(&c->args, "n-test", &n_test));
    const int use_val = strcmp(soma_args_str(&c->args, "eval"), "val") == 0;
    const char *dir = soma_args_str(&c->args, "fmnist-dir");

    soma_dataset *full = NULL, *pool = NULL, *test = NULL, *shifted[IB_MAX_SHIFT + 1] = {0};
    ib_cell_ *cells = NULL;
    cJSON *acc_o = NULL, *sd_o = NULL, *seeds_o = NULL, *sh_o = NULL, *shsd_o = NULL, *par_o = NULL;
    soma_status st = soma_dataset_load("fmnist", 1, dir, &full);
    if (st != SOMA_OK) goto out;
    if (use_val) {
        /* the first 50,000 training images to train on, the last 10,000 to measure on */
        int *idx = soma_alloc(10000, sizeof *idx);
        if (!idx || full->n != 60000) {
            soma_free(idx);
            st = soma_error(idx ? SOMA_ERR_ARG : SOMA_ERR_NOMEM, "inductive-bias: --eval val needs the 60,000 training images");
            goto out;
        }
        for (int i = 0; i < 10000; i++) idx[i] = 50000 + i;
        st = xp_gather(full, idx, n_test > 0 && n_test < 10000 ? n_test : 10000, &test);
        if (st == SOMA_OK) st = soma_dataset_subset(full, 50000, &pool);
        soma_free(idx);
        if (st != SOMA_OK) goto out;
    } else {
        soma_dataset *t = NULL;
        if ((st = soma_dataset_load("fmnist", 0, dir, &t)) != SOMA_OK) goto out;
        if (n_test > 0 && n_test < t->n) {
            st = soma_dataset_subset(t, n_test, &test);
            soma_dataset_free(t);
            if (st != SOMA_OK) goto out;
        } else {
            test = t;
        }
        pool = full;
        full = NULL;
    }
    if (s.sizes[s.n_sizes - 1] > pool->n) {
        st = soma_error(SOMA_ERR_ARG, "inductive-bias: --sizes asks for %d examples, the training pool holds %d",
                        s.sizes[s.n_sizes - 1], pool->n);
        goto out;
    }
    for (int k = 0; k <= s.max_shift; k++)
        if ((st = xp_shifted(test, k, 20260530u, &shifted[k])) != SOMA_OK) goto out;

    // --- the grid: largest sizes first (the longest cells), CNN before ViT before MLP
    int n_cells = 0;
    for (int i = 0; i < s.n_sizes; i++) n_cells += IB_MODELS * ib_seeds_at_(&s, s.sizes[i]);
    cells = soma_calloc((size_t)n_cells, sizeof *cells);
    if (!cells) {
        st = soma_error(SOMA_ERR_NOMEM, "inductive-bias: out of memory");
        goto out;
    }
    static const int order[IB_MODELS] = {IB_GAP, IB_CNN, IB_VIT, IB_MLP};
    int q = 0;
    for (int i = s.n_sizes - 1; i >= 0; i--)
        for (int mi = 0; mi < IB_MODELS; mi++)
            for (int k = 0; k < ib_seeds_at_(&s, s.sizes[i]); k++)
                cells[q++] = (ib_cell_){.model = order[mi], .size_i = i, .seed_k = k};
    const double t0 = soma_now();
    const int T = c->threads > 0 ? c->threads : 1;
    (void)T;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(T)
#endif
    for (int j = 0; j < n_cells; j++) ib_cell_run_(&cells[j], &s, pool, test, shifted);
    const double wall = soma_now() - t0;
    for (int j = 0; j < n_cells; j++)
        if (cells[j].st != SOMA_OK) {
            st = soma_error(cells[j].st, "inductive-bias: %s, %d examples, seed %d: %s", ib_names_[cells[j].model],
                            s.sizes[cells[j].size_i], cells[j].seed_k, cells[j].msg);
            goto out;
        }

    // --- results
    float acc[IB_MODELS][IB_MAX_SIZES], acc_sd[IB_MODELS][IB_MAX_SIZES];
    float sh[IB_MODELS][IB_MAX_SHIFT + 1], sh_sd[IB_MODELS][IB_MAX_SHIFT + 1];
    long params[IB_MODELS] = {0};
    double train_s = 0;
    acc_o = cJSON_CreateObject(), sd_o = cJSON_CreateObject(), seeds_o = cJSON_CreateObject();
    sh_o = cJSON_CreateObject(), shsd_o = cJSON_CreateObject(), par_o = cJSON_CreateObject();
    if (!acc_o || !sd_o || !seeds_o || !sh_o || !shsd_o || !par_o) {
        st = soma_error(SOMA_ERR_NOMEM, "inductive-bias: out of memory");
        goto out;
    }
    for (int m = 0; m < IB_MODELS; m++) {
        cJSON *am = cJSON_AddObjectToObject(acc_o, ib_names_[m]), *sm = cJSON_AddObjectToObject(sd_o, ib_names_[m]);
        cJSON *km = cJSON_AddObjectToObject(seeds_o, ib_names_[m]);
        cJSON *hm = cJSON_AddObjectToObject(sh_o, ib_names_[m]), *hs = cJSON_AddObjectToObject(shsd_o, ib_names_[m]);
        for (int i = 0; i < s.n_sizes; i++) {
            float v[100];
            int nv = 0;
            for (int j = 0; j < n_cells; j++)
                if (cells[j].model == m && cells[j].size_i == i) {
                    v[nv++] = cells[j].out.test_acc;
                    params[m] = cells[j].out.params;
                    train_s += cells[j].out.train_seconds;
                }
            ib_mean_std_(v, nv, &acc[m][i], &acc_sd[m][i]);
            char key[32];
            snprintf(key, sizeof key, "%d", s.sizes[i]);
            soma_json_put_num(am, key, acc[m][i]);
            soma_json_put_num(sm, key, acc_sd[m][i]);
            soma_json_put_floats(km, key, v, nv);
        }
        for (int k = 0; k <= s.max_shift; k++) {
            float v[100];
            int nv = 0;
            for (int j = 0; j < n_cells; j++)
                if (cells[j].model == m && cells[j].size_i == s.n_sizes - 1) v[nv++] = cells[j].shift_acc[k];
            ib_mean_std_(v, nv, &sh[m][k], &sh_sd[m][k]);
            char key[16];
            snprintf(key, sizeof key, "%d", k);
            soma_json_put_num(hm, key, sh[m][k]);
            soma_json_put_num(hs, key, sh_sd[m][k]);
        }
        cJSON_AddNumberToObject(par_o, ib_names_[m], (double)params[m]);
    }
    cJSON_AddItemToObject(c->ours, "accuracy", acc_o);
    cJSON_AddItemToObject(c->ours, "accuracy_std", sd_o);
    cJSON_AddItemToObject(c->ours, "accuracy_seeds", seeds_o);
    cJSON_AddItemToObject(c->ours, "shift_accuracy", sh_o);
    cJSON_AddItemToObject(c->ours, "shift_accuracy_std", shsd_o);
    cJSON_AddItemToObject(c->ours, "parameters", par_o);
    acc_o = sd_o = seeds_o = sh_o = shsd_o = par_o = NULL;
    cJSON *nets = cJSON_AddObjectToObject(c->ours, "nets");
    for (int m = 0; m < IB_MODELS; m++) cJSON_AddStringToObject(nets, ib_names_[m], s.spec[m]);
    cJSON_AddStringToObject(c->ours, "measured_on", use_val ? "validation (last 10,000 training images)" : "test");
    float sizes_f[IB_MAX_SIZES];
    for (int i = 0; i < s.n_sizes; i++) sizes_f[i] = (float)s.sizes[i];
    soma_exp_put_array(c, "sizes", sizes_f, s.n_sizes);

    /* headline figures: the CNN's smallest lead below 10k examples; the MLP's accuracy loss
     * minus the CNN's, smallest over shifts >= 2 (NaN when the options leave none) */
    double lead = NAN, lead_gap = NAN, margin = NAN, margin_cnn = NAN;
    for (int i = 0; i < s.n_sizes; i++)
        if (s.sizes[i] < 10000) {
            const double d = (double)acc[IB_CNN][i] - acc[IB_MLP][i], g = (double)acc[IB_GAP][i] - acc[IB_MLP][i];
            lead = isnan(lead) || d < lead ? d : lead;
            lead_gap = isnan(lead_gap) || g < lead_gap ? g : lead_gap;
        }
    for (int k = 2; k <= s.max_shift; k++) {
        const double drop_mlp = (double)sh[IB_MLP][0] - sh[IB_MLP][k];
        const double d = drop_mlp - ((double)sh[IB_GAP][0] - sh[IB_GAP][k]);
        const double d2 = drop_mlp - ((double)sh[IB_CNN][0] - sh[IB_CNN][k]);
        margin = isnan(margin) || d < margin ? d : margin;
        margin_cnn = isnan(margin_cnn) || d2 < margin_cnn ? d2 : margin_cnn;
    }
    soma_exp_put(c, "cnn_minus_mlp_min_below_10k", lead);
    soma_exp_put(c, "cnn_gap_minus_mlp_min_below_10k", lead_gap);
    soma_exp_put(c, "shift_loss_margin_min", margin);
    soma_exp_put(c, "shift_loss_margin_min_cnn", margin_cnn);
    soma_exp_put(c, "cells", n_cells);
    soma_exp_put(c, "train_seconds_sum", train_s);
    soma_exp_put(c, "grid_wall_seconds", wall);
    if (c->out_dir[0] && (st = ib_figures_(c, &s, acc, acc_sd, sh, sh_sd, params)) != SOMA_OK) goto out;
    snprintf(c->headline, sizeof c->headline,
             "accuracy at %d examples: mlp %.1f%%, cnn %.1f%%, cnn_gap %.1f%%, vit %.1f%%; at %d: mlp %.1f%%, "
             "cnn %.1f%%, cnn_gap %.1f%%, vit %.1f%%\nCNN's smallest lead below 10k: %+.1f points; MLP's extra "
             "loss under shifts >= 2 over the GAP CNN's (min): %+.1f points",
             s.sizes[0], 100.0 * acc[IB_MLP][0], 100.0 * acc[IB_CNN][0], 100.0 * acc[IB_GAP][0], 100.0 * acc[IB_VIT][0],
             s.sizes[s.n_sizes - 1], 100.0 * acc[IB_MLP][s.n_sizes - 1], 100.0 * acc[IB_CNN][s.n_sizes - 1],
             100.0 * acc[IB_GAP][s.n_sizes - 1], 100.0 * acc[IB_VIT][s.n_sizes - 1], 100.0 * lead, 100.0 * margin);
out:
    cJSON_Delete(acc_o), cJSON_Delete(sd_o), cJSON_Delete(seeds_o);
    cJSON_Delete(sh_o), cJSON_Delete(shsd_o), cJSON_Delete(par_o);
    soma_free(cells);
    for (int k = 0; k <= IB_MAX_SHIFT; k++) soma_dataset_free(shifted[k]);
    soma_dataset_free(test);
    soma_dataset_free(pool);
    soma_dataset_free(full);
    return st;
}

const soma_experiment soma__exp_inductive_bias = {
    .name = "inductive-bias",
    .summary = "MLP vs CNN vs CNN with global average pooling vs vision transformer of similar size on Fashion-MNIST "
               "subsets of 100..60,000 examples: sample efficiency, and accuracy on shifted test images.",
    .landmarks = ib_landmarks_,
    .opts = ib_opts_,
    .reduced_args = ib_reduced_,
    .run = ib_run_,
    .check = ib_check_,
};
