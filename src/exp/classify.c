// Supervised classification runs shared by mlp-fmnist, lenet-fmnist and `soma train`.
#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
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
    c.val_split = -1.0;
    c.loss = "xent";
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

/* Learning curves: loss, and (classification) accuracy with the landmark as a reference line. */
static soma_status draw_curves_(const soma_classify_config *cfg, const soma_train_log *log, soma_loss_kind lk,
                                const char *held) {
    const int cls = lk == SOMA_LOSS_XENT;
    soma_fig *f;
    SOMA_TRY(soma_fig_new(&f, 1, cls ? 2 : 1, cls ? 960 : 480, 380));
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
    soma_fig_labels(f, 0, cls ? "Cross-entropy" : "Mean squared error", "epoch", "loss");
    soma_line_style dots = {0, 0, 1, 0.f};
    if ((st = soma_fig_line(f, 0, ep, log->train_loss, log->epochs, "train", &dots)) != SOMA_OK) goto out;
    if ((st = soma_fig_line(f, 0, ep, log->test_loss, log->epochs, held, &dots)) != SOMA_OK) goto out;
    if (!cls) goto save;
    soma_fig_labels(f, 1, "Accuracy", "epoch", "accuracy (%)");
    if ((st = soma_fig_line(f, 1, ep, pct, log->epochs, "train", &dots)) != SOMA_OK) goto out;
    if ((st = soma_fig_line(f, 1, ep, pct + log->epochs, log->epochs, held, &dots)) != SOMA_OK) goto out;
    if (isfinite(cfg->landmark)) {
        char lab[128];
        snprintf(lab, sizeof lab, "%s %.1f%%", cfg->landmark_label ? cfg->landmark_label : "landmark",
                 100.0 * cfg->landmark);
        if ((st = soma_fig_hline(f, 1, 100.f * cfg->landmark, lab)) != SOMA_OK) goto out;
    }
save:;
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
    } else if (w->ndim == 2 && l->in.rank == 3 && l->in.d[1] > 1) {
        n = w->dims[0] < 64 ? w->dims[0] : 64;
        h = l->in.d[1];
        wd = l->in.d[2];
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
        snprintf(title, sizeof title, "First-layer filters of %.60s (%d of %dx%d)", l->spec, n, h, wd);
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

/* Where each figure was measured: {"train_loss": "train", "val_accuracy": "validation", ...}. */
static void put_split_(cJSON *on, const char *key, const char *split) {
    if (on) cJSON_AddStringToObject(on, key, split);
}

soma_status soma_classify_run(const soma_classify_config *cfg, cJSON *ours) {
    soma_dataset *all = NULL, *train = NULL, *val = NULL, *test = NULL;
    soma_net *net = NULL;
    soma_optim *opt = NULL;
    soma_rule *rule = NULL;
    soma_train_log log;
    memset(&log, 0, sizeof log);
    soma_status st;
    soma_optim_kind ok;
    soma_loss_kind lk;
    soma_train_config tc = soma_train_defaults();
    if ((st = soma_optim_parse(cfg->optim, &ok)) != SOMA_OK) goto out;
    if ((st = soma_loss_parse(cfg->loss ? cfg->loss : "xent", &lk)) != SOMA_OK) goto out;
    soma_optim_config oc = soma_optim_defaults(ok);
    if ((st = soma_sched_parse(cfg->sched, &tc.sched.kind)) != SOMA_OK) goto out;
    if (cfg->val_split >= 1.0) {
        st = soma_error(SOMA_ERR_ARG, "validation split %g must be below 1", cfg->val_split);
        goto out;
    }
    /* Held-out figures never come from the training data: without a test split of its own,
     * a validation split is held out by default. */
    const int own_test = soma_dataset_spec_has_test(cfg->data);
    const double vs = cfg->val_split >= 0.0 ? cfg->val_split : own_test ? 0.0 : 0.1;
    if ((st = load_data_(cfg->data, cfg->fmnist_dir, 1, cfg->n_train, &all)) != SOMA_OK) goto out;
    if (vs > 0.0 && cfg->eval >= 0) {
        if ((st = soma_dataset_split(all, vs, cfg->seed, &train, &val)) != SOMA_OK) goto out;
        soma_dataset_free(all);
        all = NULL;
    } else {
        train = all;
        all = NULL;
    }
    if (own_test && cfg->eval >= 0 && (st = load_data_(cfg->data, cfg->fmnist_dir, 0, cfg->n_test, &test)) != SOMA_OK)
        goto out;
    soma_shape in = train->shape;
    if ((st = soma_net_new(&net, cfg->net, in, cfg->seed)) != SOMA_OK) goto out;
    if (lk == SOMA_LOSS_XENT && (int)soma_shape_size(soma_net_out_shape(net)) < train->n_classes) {
        st = soma_error(SOMA_ERR_SHAPE, "net '%s' has %zu outputs, data '%s' has %d classes", cfg->net,
                        soma_shape_size(soma_net_out_shape(net)), cfg->data, train->n_classes);
        goto out;
    }
    if (cfg->init_npy && (st = soma_net_load_npy(net, cfg->init_npy)) != SOMA_OK) goto out;
    oc.momentum = oc.kind == SOMA_OPTIM_SGD ? cfg->momentum : 0.f;
    oc.weight_decay = cfg->weight_decay;
    if ((st = soma_optim_new(&opt, net, &oc)) != SOMA_OK) goto out;
    if ((st = soma_rule_backprop_new(&rule, lk)) != SOMA_OK) goto out;
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
    tc.log_path = cfg->log_path;
    /* During training the curves follow the validation split when there is one, else the test
     * split; a test split next to a validation split is measured once, at the end. */
    const soma_dataset *held = val ? val : test;
    if ((st = soma_train(net, rule, opt, train, held, &tc, &log)) != SOMA_OK) goto out;
    int last = log.epochs - 1;
    if (log.start_epoch >= cfg->epochs && log.epochs > 0 && isnan(log.train_loss[last])) {
        /* resumed from a finished run whose checkpoint holds no curves: nothing trained;
         * measure the checkpoint's net again */
        if ((st = soma_evaluate_rule(net, rule, train, 1000, &log.train_acc[last], &log.train_loss[last])) != SOMA_OK)
            goto out;
        if (held && (st = soma_evaluate_rule(net, rule, held, 1000, &log.test_acc[last], &log.test_loss[last])) != SOMA_OK)
            goto out;
    }
    if (log.start_epoch >= cfg->epochs) cJSON_AddBoolToObject(ours, "resumed_finished_run", 1);
    if (cfg->save_npy && (st = soma_net_save_npy(net, cfg->save_npy)) != SOMA_OK) goto out;

    float test_acc = NAN, test_loss = NAN;
    if (test && held == test) {
        test_acc = log.test_acc[last];
        test_loss = log.test_loss[last];
    } else if (test && (st = soma_evaluate_rule(net, rule, test, 1000, &test_acc, &test_loss)) != SOMA_OK) {
        goto out;
    }
    cJSON *on = cJSON_CreateObject();
    const char *vname = "validation (held out of the training data)";
    soma_json_put_num(ours, "train_accuracy", log.train_acc[last]);
    soma_json_put_num(ours, "train_loss", log.train_loss[last]);
    put_split_(on, "train_accuracy", "train");
    put_split_(on, "train_loss", "train");
    if (val) {
        soma_json_put_num(ours, "val_accuracy", log.test_acc[last]);
        soma_json_put_num(ours, "val_loss", log.test_loss[last]);
        put_split_(on, "val_accuracy", vname);
        put_split_(on, "val_loss", vname);
    }
    if (test) {
        soma_json_put_num(ours, "test_accuracy", test_acc);
        soma_json_put_num(ours, "test_loss", test_loss);
        put_split_(on, "test_accuracy", "test");
        put_split_(on, "test_loss", "test");
    }
    if (!cJSON_AddItemToObject(ours, "measured_on", on)) cJSON_Delete(on);
    cJSON_AddStringToObject(ours, "loss", soma_loss_name(lk));
    soma_json_put_num(ours, "train_seconds", log.train_seconds);
    soma_json_put_num(ours, "samples_per_second", log.samples_per_second);
    cJSON_AddNumberToObject(ours, "epochs", log.epochs);
    cJSON_AddNumberToObject(ours, "resumed_from_epoch", log.start_epoch);
    cJSON_AddNumberToObject(ours, "n_train", train->n);
    cJSON_AddNumberToObject(ours, "n_val", val ? val->n : 0);
    cJSON_AddNumberToObject(ours, "val_split", val ? vs : 0.0);
    cJSON_AddNumberToObject(ours, "n_test", test ? test->n : 0);
    size_t count = 0;
    for (int k = 0; k < soma_net_n_params(net); k++) count += soma_net_param(net, k)->n;
    cJSON_AddNumberToObject(ours, "parameters", (double)count);
    cJSON_AddStringToObject(ours, "net", cfg->net);
    soma_json_put_floats(ours, "curve_train_loss", log.train_loss, log.epochs);
    soma_json_put_floats(ours, "curve_train_accuracy", log.train_acc, log.epochs);
    soma_json_put_floats(ours, val ? "curve_val_accuracy" : "curve_test_accuracy", log.test_acc, log.epochs);
    soma_json_put_floats(ours, val ? "curve_val_loss" : "curve_test_loss", log.test_loss, log.epochs);
    if (cfg->out_dir) {
        if ((st = draw_curves_(cfg, &log, lk, val ? "validation" : "test")) != SOMA_OK) goto out;
        if ((st = draw_filters_(cfg, net)) != SOMA_OK) goto out;
    }
out:
    soma_train_log_free(&log);
    soma_rule_free(rule);
    soma_optim_free(opt);
    soma_net_free(net);
    soma_dataset_free(all);
    soma_dataset_free(train);
    soma_dataset_free(val);
    soma_dataset_free(test);
    return st;
}

soma_status soma_classify_eval(const char *data, const char *fmnist_dir, const char *net_spec,
                               const char *init_npy, const char *ckpt, cJSON *ours) {
    soma_dataset *test = NULL;
    soma_net *net = NULL;
    if ((init_npy != NULL) == (ckpt != NULL))
        return soma_error(SOMA_ERR_ARG, "eval: give the parameters as exactly one of --init-npy DIR and --ckpt FILE%s",
                          init_npy ? " (both given)" : " (neither given)");
    soma_status st = soma_dataset_load(data, 0, fmnist_dir, &test);
    if (st != SOMA_OK) return st;
    soma_shape in = test->shape;
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

// --- options shared by `soma train` and the classification experiments ----------------

static const soma_opt train_opts_[] = {
    SOMA_CLASSIFY_OPTS(NULL, NULL, "10", "0.001", "constant", "adam", "0"),
    {"loss", SOMA_OPT_ENUM, "xent", 0, 0, "xent|mse", "loss: xent (classification) | mse (regression on float targets)", 0},
    {"val-split", SOMA_OPT_FLOAT, NULL, 0, 0.9, NULL, "fraction of the training data held out for validation (default 0.1 when the data have no test split of their own, else 0; 0 = none)", 0},
    {"log", SOMA_OPT_STR, NULL, 0, 0, NULL, "append one JSON line per epoch to FILE", 0},
    {"eval-end", SOMA_OPT_FLAG, NULL, 0, 0, NULL, "evaluate only after the last epoch", 0},
    {"no-eval", SOMA_OPT_FLAG, NULL, 0, 0, NULL, "do not evaluate on the test split", 0},
    {"init-npy", SOMA_OPT_STR, NULL, 0, 0, NULL, "initialise parameters from DIR/<i>.weight.npy, DIR/<i>.bias.npy", 0},
    {"save-npy", SOMA_OPT_STR, NULL, 0, 0, NULL, "save parameters as NPY files (PyTorch layouts) into DIR", 0},
    {"ckpt", SOMA_OPT_STR, NULL, 0, 0, NULL, "checkpoint file written after every epoch", 0},
    {"resume", SOMA_OPT_FLAG, NULL, 0, 0, NULL, "continue from --ckpt if it exists", 0},
    {"seed", SOMA_OPT_INT, "1", 0, 2147483647.0, NULL, "random seed", 0},
    {"threads", SOMA_OPT_INT, NULL, 1, 256, NULL, "threads for OpenMP and BLAS (default: all cores)", 0},
    {"out", SOMA_OPT_STR, NULL, 0, 0, NULL, "write results.json and figures into this folder", 0},
    {"quiet", SOMA_OPT_FLAG, NULL, 0, 0, NULL, "no progress output", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

const soma_opt *soma_classify_train_opts(void) { return train_opts_; }

/* Declared in a? (experiments declare a subset of the train options). */
static int has_(const soma_args *a, const char *key) {
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->opts[i].key, key) == 0) return 1;
    return 0;
}

soma_status soma_classify_from_args(const soma_args *a, soma_classify_config *cfg) {
    static const struct { const char *key; size_t off; char kind; } map[] = {
        {"data", offsetof(soma_classify_config, data), 's'},
        {"fmnist-dir", offsetof(soma_classify_config, fmnist_dir), 's'},
        {"net", offsetof(soma_classify_config, net), 's'},
        {"optim", offsetof(soma_classify_config, optim), 's'},
        {"sched", offsetof(soma_classify_config, sched), 's'},
        {"init-npy", offsetof(soma_classify_config, init_npy), 's'},
        {"save-npy", offsetof(soma_classify_config, save_npy), 's'},
        {"ckpt", offsetof(soma_classify_config, ckpt), 's'},
        {"loss", offsetof(soma_classify_config, loss), 's'},
        {"log", offsetof(soma_classify_config, log_path), 's'},
        {"out", offsetof(soma_classify_config, out_dir), 's'},
        {"epochs", offsetof(soma_classify_config, epochs), 'i'},
        {"batch", offsetof(soma_classify_config, batch), 'i'},
        {"step-size", offsetof(soma_classify_config, step_size), 'i'},
        {"n-train", offsetof(soma_classify_config, n_train), 'i'},
        {"n-test", offsetof(soma_classify_config, n_test), 'i'},
        {"lr", offsetof(soma_classify_config, lr), 'f'},
        {"lr-min", offsetof(soma_classify_config, lr_min), 'f'},
        {"gamma", offsetof(soma_classify_config, gamma), 'f'},
        {"momentum", offsetof(soma_classify_config, momentum), 'f'},
        {"weight-decay", offsetof(soma_classify_config, weight_decay), 'f'},
    };
    char *base = (char *)cfg;
    for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
        if (!has_(a, map[i].key)) continue;
        void *p = base + map[i].off;
        if (map[i].kind == 's') {
            const char *v = soma_args_str(a, map[i].key);
            if (v) memcpy(p, &v, sizeof v);
        } else if (map[i].kind == 'i') {
            SOMA_TRY(soma_args_int(a, map[i].key, (int *)p));
        } else {
            SOMA_TRY(soma_args_float(a, map[i].key, (float *)p));
        }
    }
    if (has_(a, "val-split")) SOMA_TRY(soma_args_double(a, "val-split", &cfg->val_split));
    if (has_(a, "seed")) {
        int seed = (int)cfg->seed;
        SOMA_TRY(soma_args_int(a, "seed", &seed));
        cfg->seed = (uint64_t)seed;
    }
    if (has_(a, "resume")) cfg->resume = soma_args_flag(a, "resume");
    if (has_(a, "quiet")) cfg->quiet = soma_args_flag(a, "quiet");
    if (has_(a, "no-eval") && soma_args_flag(a, "no-eval")) cfg->eval = -1;
    else if (has_(a, "eval-end") && soma_args_flag(a, "eval-end")) cfg->eval = 0;
    if (cfg->resume && !cfg->ckpt) return soma_error(SOMA_ERR_ARG, "%s: --resume needs --ckpt FILE", a->cmd);
    if (has_(a, "no-eval") && soma_args_flag(a, "no-eval") && soma_args_flag(a, "eval-end"))
        return soma_error(SOMA_ERR_ARG, "%s: --no-eval and --eval-end contradict each other; give one", a->cmd);
    return SOMA_OK;
}

// --- predict: outputs or a layer's activations as NPY ------------------------------------

/* The NPY dims of n samples of per-sample shape s: [n, d0, d1, ...] (rank + 1 axes). */
static int npy_dims_(soma_shape s, int n, int *dims) {
    dims[0] = n;
    for (int k = 0; k < s.rank; k++) dims[k + 1] = s.d[k];
    return s.rank + 1;
}

soma_status soma_classify_predict(const char *data, const char *fmnist_dir, int train, int n,
                                  const char *net_spec, const char *init_npy, const char *ckpt, int layer,
                                  const char *out_npy, cJSON *info) {
    if ((init_npy != NULL) == (ckpt != NULL))
        return soma_error(SOMA_ERR_ARG, "predict: give the parameters as exactly one of --init-npy DIR and --ckpt FILE%s",
                          init_npy ? " (both given)" : " (neither given)");
    soma_dataset *d = NULL;
    soma_net *net = NULL;
    float *x = NULL, *res = NULL;
    int *idx = NULL, *y = NULL;
    soma_status st = load_data_(data, fmnist_dir, train, n, &d);
    if (st != SOMA_OK) return st;
    soma_shape in = d->shape;
    if ((st = soma_net_new(&net, net_spec, in, 1)) != SOMA_OK) goto out;
    if (init_npy && (st = soma_net_load_npy(net, init_npy)) != SOMA_OK) goto out;
    if (ckpt && (st = soma_ckpt_load(ckpt, net, NULL, NULL)) != SOMA_OK) goto out;
    int nl = soma_net_n_layers(net);
    if (layer < 0) layer = nl - 1;
    if (layer >= nl) {
        st = soma_error(SOMA_ERR_ARG, "predict: --layer %d does not exist; net '%s' has layers 0..%d", layer, net_spec,
                        nl - 1);
        goto out;
    }
    soma_shape s = soma_net_layer(net, layer)->out;
    size_t per = soma_shape_size(s);
    int B = d->n < 256 ? d->n : 256;
    x = soma_alloc((size_t)B, d->dim * sizeof(float));
    idx = soma_alloc((size_t)B, sizeof(int));
    y = soma_alloc((size_t)B, sizeof(int));
    res = soma_alloc((size_t)d->n, per * sizeof(float));
    if (!x || !idx || !y || !res) {
        st = soma_error(SOMA_ERR_NOMEM, "predict: out of memory for %d x %zu activations", d->n, per);
        goto out;
    }
    for (int s0 = 0; s0 < d->n; s0 += B) {
        int m = d->n - s0 < B ? d->n - s0 : B;
        for (int i = 0; i < m; i++) idx[i] = s0 + i;
        soma_dataset_batch(d, idx, m, x, NULL); /* no labels: y [m] cannot hold per-position ones */
        if ((st = soma_net_forward(net, x, m, SOMA_MODE_EVAL, NULL)) != SOMA_OK) goto out;
        memcpy(res + (size_t)s0 * per, soma_net_activation(net, layer + 1), (size_t)m * per * sizeof(float));
    }
    int dims[SOMA_SHAPE_RANK + 1];
    int nd = npy_dims_(s, d->n, dims);
    if ((st = soma_npy_write_f32(out_npy, nd, dims, res)) != SOMA_OK) goto out;
    if (info) {
        cJSON_AddStringToObject(info, "output", out_npy);
        cJSON_AddNumberToObject(info, "layer", layer);
        cJSON_AddStringToObject(info, "layer_spec", soma_net_layer(net, layer)->spec);
        cJSON *sh = cJSON_AddArrayToObject(info, "shape");
        for (int k = 0; k < nd; k++) {
            cJSON *v = cJSON_CreateNumber(dims[k]);
            if (!cJSON_AddItemToArray(sh, v)) cJSON_Delete(v);
        }
        cJSON_AddStringToObject(info, "split", train ? "train" : "test");
    }
out:
    soma_free(x);
    soma_free(idx);
    soma_free(y);
    soma_free(res);
    soma_net_free(net);
    soma_dataset_free(d);
    return st;
}
