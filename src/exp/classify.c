// Supervised classification runs shared by mlp-fmnist, lenet-fmnist and `soma train`.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/internal.h"
#include "soma/io.h"
#include "soma/learn.h"
#include "soma/nn.h"
#include "soma/plot.h"

soma_classify_config soma_classify_defaults(void) {
    soma_classify_config c;
    memset(&c, 0, sizeof c);
    c.data = "fmnist";
    c.net = "fc512,relu,fc256,relu,fc10";
    c.epochs = 10;
    c.batch = 64;
    c.lr = 1e-3f;
    c.lr_min = 0.f;
    c.optim = "adam";
    c.sched = "constant";
    c.step_size = 10;
    c.gamma = 0.1f;
    c.momentum = 0.9f;
    c.eval = 1;
    c.seed = 1;
    c.label = "train";
    c.landmark = NAN;
    return c;
}

static soma_status load_data_(const char *spec, const char *fdir, int train, int limit, soma_dataset **out) {
    soma_dataset *d;
    SOMA_TRY(soma_dataset_load(spec, train, fdir, &d));
    if (limit > 0 && limit < d->n) {
        soma_dataset *s;
        soma_status st = soma_dataset_subset(d, limit, &s);
        soma_dataset_free(d);
        SOMA_TRY(st);
        d = s;
    }
    *out = d;
    return SOMA_OK;
}

static void put_curve_(cJSON *ours, const char *key, const float *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) {
        cJSON *x = isfinite(v[i]) ? cJSON_CreateNumber((double)v[i]) : cJSON_CreateNull();
        if (!x || !cJSON_AddItemToArray(a, x)) { /* out of memory: nothing may leak */
            cJSON_Delete(x);
            break;
        }
    }
    if (a && !cJSON_AddItemToObject(ours, key, a)) cJSON_Delete(a);
}

static void put_num_(cJSON *o, const char *k, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

/* Learning curves: loss, and accuracy with the landmark as a reference line. */
static soma_status draw_curves_(const soma_classify_config *cfg, const soma_train_log *log) {
    soma_fig *f;
    SOMA_TRY(soma_fig_new(&f, 1, 2, 960, 380));
    soma_status st = SOMA_OK;
    float *ep = soma_alloc((size_t)log->epochs, sizeof(float));
    float *pct = soma_alloc((size_t)log->epochs * 2, sizeof(float));
    if (!ep || !pct) {
        st = SOMA_ERR_NOMEM;
        goto out;
    }
    for (int e = 0; e < log->epochs; e++) {
        ep[e] = (float)(e + 1);
        pct[e] = 100.f * log->train_acc[e];
        pct[log->epochs + e] = 100.f * log->test_acc[e];
    }
    soma_fig_title(f, cfg->net);
    soma_fig_labels(f, 0, "Cross-entropy", "epoch", "loss");
    soma_fig_labels(f, 1, "Accuracy", "epoch", "accuracy (%)");
    soma_line_style dots = {0, 0, 1, 0.f};
    if ((st = soma_fig_line(f, 0, ep, log->train_loss, log->epochs, "train", &dots)) != SOMA_OK) goto out;
    if ((st = soma_fig_line(f, 0, ep, log->test_loss, log->epochs, "test", &dots)) != SOMA_OK) goto out;
    if ((st = soma_fig_line(f, 1, ep, pct, log->epochs, "train", &dots)) != SOMA_OK) goto out;
    if ((st = soma_fig_line(f, 1, ep, pct + log->epochs, log->epochs, "test", &dots)) != SOMA_OK) goto out;
    if (isfinite(cfg->landmark)) {
        char lab[128];
        snprintf(lab, sizeof lab, "%s %.1f%%", cfg->landmark_label ? cfg->landmark_label : "landmark",
                 100.0 * cfg->landmark);
        if ((st = soma_fig_hline(f, 1, 100.f * cfg->landmark, lab)) != SOMA_OK) goto out;
    }
    char path[1100];
    snprintf(path, sizeof path, "%s/learning_curves.svg", cfg->out_dir);
    st = soma_fig_save(f, path);
out:
    soma_free(ep);
    soma_free(pct);
    soma_fig_free(f);
    return st;
}

/* The first layer's filters ("simple cells"): conv kernels, or dense receptive fields when
 * the input is an image. */
static soma_status draw_filters_(const soma_classify_config *cfg, soma_net *net) {
    soma_layer *l = soma_net_layer(net, 0);
    soma_param *w = l ? soma_layer_param(l, "weight") : NULL;
    if (!w) return SOMA_OK;
    int n, h, wd;
    if (w->ndim == 4) { /* [Co, Ci, kh, kw]: show each output's first input channel */
        n = w->dims[0];
        h = w->dims[2];
        wd = w->dims[3];
    } else if (w->ndim == 2 && l->in.h > 1) {
        n = w->dims[0] < 64 ? w->dims[0] : 64;
        h = l->in.h;
        wd = l->in.w;
    } else {
        return SOMA_OK;
    }
    size_t plane = (size_t)h * (size_t)wd, stride = w->n / (size_t)w->dims[0];
    float *img = soma_alloc((size_t)n, plane * sizeof(float));
    if (!img) return SOMA_ERR_NOMEM;
    for (int i = 0; i < n; i++) memcpy(img + (size_t)i * plane, w->value + (size_t)i * stride, plane * sizeof(float));
    soma_fig *f;
    soma_status st = soma_fig_new(&f, 1, 1, 520, 420);
    if (st == SOMA_OK) {
        char title[160];
        snprintf(title, sizeof title, "First-layer filters of %s (%d of %dx%d)", l->spec, n, h, wd);
        soma_fig_title(f, title);
        st = soma_fig_images(f, 0, img, n, h, wd, 0, 1);
        char path[1100];
        snprintf(path, sizeof path, "%s/filters.svg", cfg->out_dir);
        if (st == SOMA_OK) st = soma_fig_save(f, path);
        soma_fig_free(f);
    }
    soma_free(img);
    return st;
}

soma_status soma_classify_run(const soma_classify_config *cfg, cJSON *ours) {
    soma_dataset *train = NULL, *test = NULL;
    soma_net *net = NULL;
    soma_optim *opt = NULL;
    soma_rule *rule = NULL;
    soma_train_log log;
    memset(&log, 0, sizeof log);
    soma_status st;
    soma_optim_config oc;
    memset(&oc, 0, sizeof oc);
    soma_train_config tc = soma_train_defaults();
    if ((st = soma_optim_parse(cfg->optim, &oc.kind)) != SOMA_OK) goto out;
    if ((st = soma_sched_parse(cfg->sched, &tc.sched.kind)) != SOMA_OK) goto out;
    if ((st = load_data_(cfg->data, cfg->fmnist_dir, 1, cfg->n_train, &train)) != SOMA_OK) goto out;
    if (cfg->eval >= 0 && (st = load_data_(cfg->data, cfg->fmnist_dir, 0, cfg->n_test, &test)) != SOMA_OK) goto out;
    soma_shape in = {train->c, train->h, train->w};
    if ((st = soma_net_new(&net, cfg->net, in, cfg->seed)) != SOMA_OK) goto out;
    if ((int)soma_shape_size(soma_net_out_shape(net)) < train->n_classes) {
        st = soma_error(SOMA_ERR_SHAPE, "net '%s' has %zu outputs, data '%s' has %d classes", cfg->net,
                        soma_shape_size(soma_net_out_shape(net)), cfg->data, train->n_classes);
        goto out;
    }
    if (cfg->init_npy && (st = soma_net_load_npy(net, cfg->init_npy)) != SOMA_OK) goto out;
    oc.momentum = oc.kind == SOMA_OPTIM_SGD ? cfg->momentum : 0.f;
    oc.weight_decay = cfg->weight_decay;
    if ((st = soma_optim_new(&opt, net, &oc)) != SOMA_OK) goto out;
    if ((st = soma_rule_backprop_new(&rule, SOMA_LOSS_XENT)) != SOMA_OK) goto out;
    tc.epochs = cfg->epochs;
    tc.batch = cfg->batch;
    tc.sched.lr = cfg->lr;
    tc.sched.lr_min = cfg->lr_min;
    tc.sched.gamma = cfg->gamma;
    tc.sched.step_size = (long)cfg->step_size * ((train->n + cfg->batch - 1) / cfg->batch);
    tc.seed = cfg->seed;
    tc.eval_every = cfg->eval > 0 ? 1 : 0;
    tc.ckpt_path = cfg->ckpt;
    tc.resume = cfg->resume;
    tc.label = cfg->label;
    tc.quiet = cfg->quiet;
    if ((st = soma_train_classifier(net, rule, opt, train, test, &tc, &log)) != SOMA_OK) goto out;
    if (cfg->save_npy && (st = soma_net_save_npy(net, cfg->save_npy)) != SOMA_OK) goto out;

    int last = log.epochs - 1;
    put_num_(ours, "test_accuracy", test ? log.test_acc[last] : NAN);
    put_num_(ours, "test_loss", test ? log.test_loss[last] : NAN);
    put_num_(ours, "train_accuracy", log.train_acc[last]);
    put_num_(ours, "train_loss", log.train_loss[last]);
    put_num_(ours, "train_seconds", log.train_seconds);
    put_num_(ours, "samples_per_second", log.samples_per_second);
    cJSON_AddNumberToObject(ours, "epochs", log.epochs);
    cJSON_AddNumberToObject(ours, "resumed_from_epoch", log.start_epoch);
    cJSON_AddNumberToObject(ours, "n_train", train->n);
    cJSON_AddNumberToObject(ours, "n_test", test ? test->n : 0);
    size_t np;
    soma_net_flat_values(net, &np);
    size_t count = 0;
    for (int k = 0; k < soma_net_n_params(net); k++) count += soma_net_param(net, k)->n;
    cJSON_AddNumberToObject(ours, "parameters", (double)count);
    cJSON_AddStringToObject(ours, "net", cfg->net);
    put_curve_(ours, "curve_train_loss", log.train_loss, log.epochs);
    put_curve_(ours, "curve_train_accuracy", log.train_acc, log.epochs);
    put_curve_(ours, "curve_test_accuracy", log.test_acc, log.epochs);
    if (cfg->out_dir) {
        if ((st = draw_curves_(cfg, &log)) != SOMA_OK) goto out;
        if ((st = draw_filters_(cfg, net)) != SOMA_OK) goto out;
    }
out:
    soma_train_log_free(&log);
    soma_rule_free(rule);
    soma_optim_free(opt);
    soma_net_free(net);
    soma_dataset_free(train);
    soma_dataset_free(test);
    return st;
}

soma_status soma_classify_eval(const char *data, const char *fmnist_dir, const char *net_spec,
                               const char *init_npy, const char *ckpt, cJSON *ours) {
    soma_dataset *test = NULL;
    soma_net *net = NULL;
    soma_status st = soma_dataset_load(data, 0, fmnist_dir, &test);
    if (st != SOMA_OK) return st;
    soma_shape in = {test->c, test->h, test->w};
    if ((st = soma_net_new(&net, net_spec, in, 1)) != SOMA_OK) goto out;
    if (init_npy && (st = soma_net_load_npy(net, init_npy)) != SOMA_OK) goto out;
    if (ckpt && (st = soma_ckpt_load(ckpt, net, NULL, NULL)) != SOMA_OK) goto out;
    float acc, loss;
    if ((st = soma_evaluate(net, test, 1000, &acc, &loss)) != SOMA_OK) goto out;
    cJSON_AddNumberToObject(ours, "test_accuracy", acc);
    cJSON_AddNumberToObject(ours, "test_loss", loss);
    cJSON_AddNumberToObject(ours, "n", test->n);
    cJSON_AddStringToObject(ours, "net", net_spec);
out:
    soma_net_free(net);
    soma_dataset_free(test);
    return st;
}

// --- options shared by the classification experiments ----------------------------------

soma_status soma__classify_from_opts(soma_exp_ctx *c, soma_classify_config *cfg) {
    *cfg = soma_classify_defaults();
    SOMA_TRY(soma_exp_str(c, "data", &cfg->data));
    SOMA_TRY(soma_exp_str(c, "net", &cfg->net));
    SOMA_TRY(soma_exp_int(c, "epochs", 1, 100000, &cfg->epochs));
    SOMA_TRY(soma_exp_int(c, "batch", 1, 65536, &cfg->batch));
    SOMA_TRY(soma_exp_float(c, "lr", 1e-9, 10.0, &cfg->lr));
    SOMA_TRY(soma_exp_float(c, "lr-min", 0.0, 10.0, &cfg->lr_min));
    SOMA_TRY(soma_exp_float(c, "weight-decay", 0.0, 10.0, &cfg->weight_decay));
    SOMA_TRY(soma_exp_str(c, "optim", &cfg->optim));
    SOMA_TRY(soma_exp_str(c, "sched", &cfg->sched));
    SOMA_TRY(soma_exp_int(c, "n-train", 0, 1 << 30, &cfg->n_train));
    SOMA_TRY(soma_exp_int(c, "n-test", 0, 1 << 30, &cfg->n_test));
    const char *fd;
    SOMA_TRY(soma_exp_str(c, "fmnist-dir", &fd));
    cfg->fmnist_dir = *fd ? fd : NULL;
    cfg->seed = c->seed;
    cfg->quiet = c->quiet;
    cfg->out_dir = c->out_dir;
    cfg->label = c->exp->name;
    cfg->landmark = (float)c->exp->landmark;
    cfg->landmark_label = "landmark";
    return SOMA_OK;
}
