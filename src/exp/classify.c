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
    c.rule = "bp";
    c.fb_scale = 1.f;
    c.pc_steps = 20;
    c.pc_rate = 0.1f;
    c.hebb = "gha";
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

// --- the rule and its alignment with the true gradient ------------------------------------

static soma_status rule_opts_(const soma_classify_config *cfg, soma_loss_kind lk, soma_rule_opts *o) {
    *o = soma_rule_opts_default();
    SOMA_TRY(soma_rule_kind_parse(cfg->rule ? cfg->rule : "bp", &o->kind));
    o->loss = lk;
    o->seed = cfg->seed;
    o->fb_scale = cfg->fb_scale;
    o->pc_steps = cfg->pc_steps;
    o->pc_rate = cfg->pc_rate;
    o->pc_fixed_pred = cfg->pc_fixed_pred;
    o->ff_theta = cfg->ff_theta;
    o->ff_hard = cfg->ff_hard;
    o->ff_vote_all = cfg->ff_vote_all;
    static const char *const hebbs[] = {"oja", "gha", "competitive"};
    const char *h = cfg->hebb ? cfg->hebb : "gha";
    for (int i = 0; i < 3; i++)
        if (strcmp(h, hebbs[i]) == 0) {
            o->hebb = (soma_hebb_kind)i;
            return SOMA_OK;
        }
    return soma_error(SOMA_ERR_ARG, "unknown Hebbian rule '%s' (oja, gha, competitive)", h);
}

/* The angle between the rule's update and backprop's gradient on a fixed batch, measured
 * before training and after every `every` optimizer steps (the after_step hook). The time it
 * takes is kept per epoch and taken off the training time afterwards. Everything is allocated
 * before training. */
typedef struct align_ {
    soma_rule *rule;
    int every, n, steps_per_epoch, epochs;
    float *x, *t;
    int *y;
    soma_target tg;
    double *ang;       /* [n_params] */
    int count, cap;
    double *step;      /* [cap] optimizer steps done at each measurement */
    double *mean;      /* [cap] mean angle over the weight parameters */
    double *hidden;    /* [cap] the same without the last weight (a chain's output layer) */
    double *signal;    /* [cap] FA: mean over hidden layers of soma_rule_signal_alignment */
    double *sig_ang;   /* [n_layers] */
    double *last;      /* [n_params] the last measurement */
    double *seconds;   /* [epochs] time spent measuring in each epoch */
} align_;

static void align_free_(align_ *a) {
    soma_free(a->x);
    soma_free(a->t);
    soma_free(a->y);
    soma_free(a->ang);
    soma_free(a->step);
    soma_free(a->mean);
    soma_free(a->hidden);
    soma_free(a->signal);
    soma_free(a->sig_ang);
    soma_free(a->last);
    soma_free(a->seconds);
}

static soma_status align_init_(align_ *a, soma_net *net, soma_rule *rule, const soma_dataset *d, int every,
                               long total_steps, int steps_per_epoch, int epochs) {
    memset(a, 0, sizeof *a);
    a->rule = rule;
    a->every = every;
    a->n = d->n < 256 ? d->n : 256;
    a->steps_per_epoch = steps_per_epoch;
    a->epochs = epochs;
    a->cap = (int)(total_steps / every) + 2;
    const int np = soma_net_n_params(net);
    int idx[256];
    a->x = soma_alloc((size_t)a->n * d->dim, sizeof(float));
    a->y = soma_alloc((size_t)a->n * (size_t)(d->y_len > 1 ? d->y_len : 1), sizeof(int));
    a->t = d->t ? soma_alloc((size_t)a->n * d->t_dim, sizeof(float)) : NULL;
    a->ang = soma_alloc((size_t)np + 1, sizeof(double));
    a->last = soma_alloc((size_t)np + 1, sizeof(double));
    a->step = soma_alloc((size_t)a->cap, sizeof(double));
    a->mean = soma_alloc((size_t)a->cap, sizeof(double));
    a->hidden = soma_alloc((size_t)a->cap, sizeof(double));
    a->signal = soma_alloc((size_t)a->cap, sizeof(double));
    a->sig_ang = soma_alloc((size_t)soma_net_n_layers(net) + 1, sizeof(double));
    a->seconds = soma_calloc((size_t)epochs + 1, sizeof(double));
    if (!a->x || !a->y || (d->t && !a->t) || !a->ang || !a->last || !a->step || !a->mean || !a->hidden || !a->signal || !a->sig_ang || !a->seconds) {
        align_free_(a);
        return SOMA_ERR_NOMEM;
    }
    for (int i = 0; i < a->n; i++) idx[i] = i;
    if (rule->loss == SOMA_LOSS_MSE && d->t) {
        soma_dataset_batch(d, idx, a->n, a->x, NULL);
        soma_dataset_batch_targets(d, idx, a->n, NULL, a->t);
        a->tg.values = a->t;
        a->tg.dim = (int)d->t_dim;
    } else {
        soma_dataset_batch_targets(d, idx, a->n, a->y, NULL);
        soma_dataset_batch(d, idx, a->n, a->x, NULL);
        a->tg.labels = a->y;
        a->tg.positions = d->y_len;
    }
    for (int i = 0; i < np; i++) a->last[i] = NAN;
    return SOMA_OK;
}

static soma_status align_measure_(align_ *a, soma_net *net, long steps_done) {
    if (a->count >= a->cap) return SOMA_OK;
    const double t0 = soma_now();
    SOMA_TRY(soma_rule_alignment(a->rule, net, a->x, &a->tg, a->n, a->ang));
    double sum = 0, top = NAN;
    int k = 0;
    for (int i = 0; i < soma_net_n_params(net); i++) {
        a->last[i] = a->ang[i];
        if (!isnan(a->ang[i])) sum += a->ang[i], k++, top = a->ang[i];
    }
    a->step[a->count] = (double)steps_done;
    a->mean[a->count] = k ? sum / k : NAN;
    a->hidden[a->count] = k > 1 ? (sum - top) / (k - 1) : NAN;
    a->signal[a->count] = NAN; /* FA's hidden error signals against backprop's (Lillicrap 2016) */
    soma_status sst = SOMA_ERR_ARG;
    if (strcmp(a->rule->ops->name, "fa") == 0 &&
        (sst = soma_rule_signal_alignment(a->rule, net, a->x, &a->tg, a->n, a->sig_ang)) == SOMA_ERR_ARG)
        soma_error_clear(); /* no hidden weight layer: no signal to compare */
    if (sst == SOMA_ERR_NOMEM) return sst;
    if (sst == SOMA_OK) {
        double ss = 0;
        int ks = 0;
        for (int i = 0; i < soma_net_n_layers(net); i++)
            if (!isnan(a->sig_ang[i])) ss += a->sig_ang[i], ks++;
        a->signal[a->count] = ks ? ss / ks : NAN;
    }
    a->count++;
    if (steps_done > 0) {
        long e = (steps_done - 1) / a->steps_per_epoch;
        if (e >= 0 && e < a->epochs) a->seconds[e] += soma_now() - t0;
    }
    return SOMA_OK;
}

static soma_status align_after_step_(void *user, soma_net *net, long step, float lr) {
    (void)lr;
    align_ *a = user;
    return (step + 1) % a->every == 0 ? align_measure_(a, net, step + 1) : SOMA_OK;
}

/* Takes the measuring time off the clock and writes the figures into ours. */
static void align_report_(align_ *a, soma_net *net, soma_train_log *log, cJSON *ours) {
    for (int e = 0; e < log->epochs && e < a->epochs; e++) {
        const double s = a->seconds[e] < log->epoch_seconds[e] ? a->seconds[e] : 0.0;
        log->epoch_seconds[e] -= s;
        log->train_seconds -= s;
    }
    if (log->train_seconds > 0) log->samples_per_second = (double)log->samples / log->train_seconds;
    cJSON *st = cJSON_AddArrayToObject(ours, "alignment_steps");
    cJSON *mn = cJSON_AddArrayToObject(ours, "alignment_deg");
    cJSON *hd = cJSON_AddArrayToObject(ours, "alignment_hidden_deg");
    cJSON *sg = cJSON_AddArrayToObject(ours, "alignment_signal_deg");
    for (int i = 0; i < a->count; i++) {
        cJSON_AddItemToArray(st, cJSON_CreateNumber(a->step[i]));
        cJSON_AddItemToArray(mn, isnan(a->mean[i]) ? cJSON_CreateNull() : cJSON_CreateNumber(a->mean[i]));
        cJSON_AddItemToArray(hd, isnan(a->hidden[i]) ? cJSON_CreateNull() : cJSON_CreateNumber(a->hidden[i]));
        cJSON_AddItemToArray(sg, isnan(a->signal[i]) ? cJSON_CreateNull() : cJSON_CreateNumber(a->signal[i]));
    }
    if (a->count) {
        soma_json_put_num(ours, "alignment_final_deg", a->mean[a->count - 1]);
        soma_json_put_num(ours, "alignment_final_hidden_deg", a->hidden[a->count - 1]);
        soma_json_put_num(ours, "alignment_final_signal_deg", a->signal[a->count - 1]);
        cJSON *per = cJSON_AddObjectToObject(ours, "alignment_final_deg_per_layer");
        for (int i = 0; i < soma_net_n_params(net); i++)
            if (!isnan(a->last[i])) cJSON_AddNumberToObject(per, soma_net_param_name(net, i), a->last[i]);
    }
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
    align_ al;
    memset(&al, 0, sizeof al);
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
    soma_rule_opts ro;
    if ((st = rule_opts_(cfg, lk, &ro)) != SOMA_OK) goto out;
    if ((st = soma_rule_new(&rule, net, &ro)) != SOMA_OK) goto out;
    tc.epochs = cfg->epochs;
    tc.batch = cfg->batch;
    tc.sched.lr = cfg->lr;
    tc.sched.lr_min = cfg->lr_min;
    tc.sched.gamma = cfg->gamma;
    const long gbatch = (long)cfg->batch * (cfg->distributed ? soma_dist_size() : 1); /* steps see S x batch */
    tc.sched.step_size = (long)cfg->step_size * ((train->n + gbatch - 1) / gbatch);
    tc.distributed = cfg->distributed;
    tc.no_overlap = cfg->no_overlap;
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
    if (cfg->alignment_every > 0) {
        const int spe = (train->n + cfg->batch - 1) / cfg->batch;
        if ((st = align_init_(&al, net, rule, train, cfg->alignment_every, (long)spe * cfg->epochs, spe, cfg->epochs)) !=
            SOMA_OK)
            goto out;
        tc.hooks.user = &al;
        tc.hooks.after_step = align_after_step_;
        if (!cfg->resume && (st = align_measure_(&al, net, 0)) != SOMA_OK) goto out;
    }
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
    cJSON_AddStringToObject(ours, "rule", soma_rule_kind_name(ro.kind));
    if (cfg->alignment_every > 0) align_report_(&al, net, &log, ours);
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
    if (cfg->distributed) {
        cJSON_AddNumberToObject(ours, "ranks", log.ranks);
        cJSON_AddNumberToObject(ours, "global_batch", (double)cfg->batch * log.ranks);
        soma_json_put_num(ours, "allreduce_seconds", log.allreduce_seconds);
        cJSON_AddBoolToObject(ours, "allreduce_overlap", log.allreduce_overlap != 0);
    }
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
    align_free_(&al);
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
    {"distributed", SOMA_OPT_FLAG, NULL, 0, 0, NULL, "data-parallel over the ranks of mpirun -np N: --batch per rank, gradients all-reduced; rank 0 writes (docs/distributed.md)", 0},
    {"no-overlap", SOMA_OPT_FLAG, NULL, 0, 0, NULL, "distributed: one all-reduce after each step instead of one a layer started during the backward pass", 0},
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
        {"rule", offsetof(soma_classify_config, rule), 's'},
        {"hebb", offsetof(soma_classify_config, hebb), 's'},
        {"pc-steps", offsetof(soma_classify_config, pc_steps), 'i'},
        {"pc-fixed-pred", offsetof(soma_classify_config, pc_fixed_pred), 'i'},
        {"ff-hard", offsetof(soma_classify_config, ff_hard), 'i'},
        {"ff-vote-all", offsetof(soma_classify_config, ff_vote_all), 'i'},
        {"alignment-every", offsetof(soma_classify_config, alignment_every), 'i'},
        {"fb-scale", offsetof(soma_classify_config, fb_scale), 'f'},
        {"pc-rate", offsetof(soma_classify_config, pc_rate), 'f'},
        {"ff-theta", offsetof(soma_classify_config, ff_theta), 'f'},
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
    if (has_(a, "distributed")) cfg->distributed = soma_args_flag(a, "distributed");
    if (has_(a, "no-overlap")) cfg->no_overlap = soma_args_flag(a, "no-overlap");
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
