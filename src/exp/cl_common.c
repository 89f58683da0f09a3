// Continual learning: what `soma continual` and the permuted-fmnist and split-fmnist
// experiments share (cl_common.h): results as JSON, figures, one run from scratch, the method
// list, the Fashion-MNIST streams with a validation split.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/cl_common.h"
#include "soma/io.h"
#include "soma/learn.h"
#include "soma/nn.h"
#include "soma/plot.h"


static void put_num_(cJSON *o, const char *key, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

void soma__cl_put_result(cJSON *o, const soma_cl_result *r) {
    put_num_(o, "acc", r->metrics.acc);
    put_num_(o, "bwt", r->metrics.bwt);
    put_num_(o, "fwt", r->metrics.fwt);
    put_num_(o, "forgetting", r->metrics.forgetting);
    cJSON_AddNumberToObject(o, "memory_bytes", (double)r->memory_bytes);
    put_num_(o, "seconds", r->seconds);
    const int T = r->n_tasks;
    cJSON *R = cJSON_AddArrayToObject(o, "R");
    for (int i = 0; i < T; i++) {
        cJSON *row = cJSON_CreateArray();
        for (int j = 0; j < T; j++) cJSON_AddItemToArray(row, cJSON_CreateNumber(r->R[(size_t)i * T + j]));
        cJSON_AddItemToArray(R, row);
    }
    cJSON *b = cJSON_AddArrayToObject(o, "b");
    for (int j = 0; j < T; j++) cJSON_AddItemToArray(b, cJSON_CreateNumber(r->b[j]));
}

soma_status soma__cl_figure(const char *path, const char *title, const soma_cl_result *const *results,
                            const char *const *names, int k) {
    if (k < 1) return SOMA_OK;
    const int cols = k < 3 ? k : 3, rows = (k + cols - 1) / cols;
    soma_fig *f;
    SOMA_TRY(soma_fig_new(&f, rows, cols, 380 * cols, 320 * rows));
    soma_fig_title(f, title);
    soma_status st = SOMA_OK;
    for (int m = 0; m < k && st == SOMA_OK; m++) {
        const soma_cl_result *r = results[m];
        const int T = r->n_tasks;
        char pt[128];
        snprintf(pt, sizeof pt, "%s: average %.3f", names[m], r->metrics.acc);
        soma_fig_labels(f, m, pt, "after training task", "test accuracy");
        float x[1024], y[1024];
        for (int j = 0; j < T && j < 16; j++) {
            char lab[32];
            snprintf(lab, sizeof lab, "task %d", j + 1);
            int n = 0;
            for (int i = j; i < T && n < 1024; i++, n++) {
                x[n] = (float)(i + 1);
                y[n] = r->R[(size_t)i * T + j];
            }
            soma_line_style ls = {j + 1, 0, 1, 0.f};
            st = soma_fig_line(f, m, x, y, n, T <= 10 ? lab : NULL, &ls);
        }
        if (st == SOMA_OK) st = soma_fig_ylim(f, m, 0.0, 1.0);
    }
    if (st == SOMA_OK) st = soma_fig_save(f, path);
    soma_fig_free(f);
    return st;
}

soma_status soma__cl_run_one(const soma_task_stream *s, const soma__cl_setup *u, const soma_cl_opts *o,
                             soma_cl_result *res) {
    memset(res, 0, sizeof *res);
    char spec[1024];
    if (u->net && u->net[0]) snprintf(spec, sizeof spec, "%s", u->net);
    else snprintf(spec, sizeof spec, "fc400,relu,fc400,relu,fc%d", s->n_outputs);
    soma_net *net = NULL;
    soma_rule *rule = NULL;
    soma_optim *opt = NULL;
    soma_status st = soma_net_new(&net, spec, s->train[0]->shape, u->seed);
    if (st == SOMA_OK && (int)soma_shape_size(soma_net_out_shape(net)) != s->n_outputs)
        st = soma_error(SOMA_ERR_ARG, "continual: --net '%s' has %d outputs, the stream %s needs %d; HINT: end it with fc%d",
                        spec, (int)soma_shape_size(soma_net_out_shape(net)), s->name, s->n_outputs, s->n_outputs);
    soma_rule_opts ro = soma_rule_opts_default();
    ro.seed = u->seed;
    if (st == SOMA_OK) st = soma_rule_kind_parse(u->rule ? u->rule : "bp", &ro.kind);
    if (st == SOMA_OK) st = soma_rule_new(&rule, net, &ro);
    soma_optim_kind ok = SOMA_OPTIM_ADAM;
    if (st == SOMA_OK) st = soma_optim_parse(u->optim ? u->optim : "adam", &ok);
    soma_optim_config oc = soma_optim_defaults(ok);
    if (ok == SOMA_OPTIM_SGD) oc.momentum = u->momentum;
    if (st == SOMA_OK) st = soma_optim_new(&opt, net, &oc);
    if (st == SOMA_OK) {
        soma_train_config cfg = soma_train_defaults();
        cfg.epochs = u->epochs;
        cfg.batch = u->batch;
        cfg.sched.lr = u->lr;
        cfg.seed = u->seed;
        cfg.quiet = u->quiet;
        cfg.eval_every = 0;
        st = soma_cl_run(net, rule, opt, s, o, &cfg, NULL, NULL, res);
    }
    soma_optim_free(opt);
    soma_rule_free(rule);
    soma_net_free(net);
    return st;
}


soma_status soma__cl_methods(const char *what, const char *list, int *on) {
    char buf[256], pre[64] = "";
    if (what) snprintf(pre, sizeof pre, "%.40s: ", what);
    memset(on, 0, SOMA_CL_METHOD_COUNT * sizeof(int));
    if (!list || strlen(list) >= sizeof buf) return soma_error(SOMA_ERR_ARG, "%s--methods missing or too long", pre);
    if (strcmp(list, "all") == 0) {
        for (int k = 0; k < SOMA_CL_METHOD_COUNT; k++) on[k] = 1;
        return SOMA_OK;
    }
    strcpy(buf, list);
    int n = 0;
    for (char *p = buf, *q; p; p = q) {
        q = strchr(p, ',');
        if (q) *q++ = '\0';
        soma_cl_method_kind k;
        SOMA_TRY(soma_cl_method_parse(p, &k));
        if (on[k]) return soma_error(SOMA_ERR_ARG, "%s--methods names %s twice", pre, p);
        on[k] = 1;
        n++;
    }
    return n ? SOMA_OK : soma_error(SOMA_ERR_ARG, "%s--methods is empty", pre);
}

/* The first n samples of d (n <= 0 or >= d->n: d itself). */
static soma_status first_(const soma_dataset *d, int n, soma_dataset **tmp, const soma_dataset **use) {
    *tmp = NULL;
    *use = d;
    if (n <= 0 || n >= d->n) return SOMA_OK;
    SOMA_TRY(soma_dataset_subset(d, n, tmp));
    *use = *tmp;
    return SOMA_OK;
}

soma_status soma__cl_fmnist_stream(int permuted_tasks, soma_cl_scenario sc, const char *dir, int n_train, int n_test,
                                   uint64_t seed, int validate, soma_task_stream **out) {
    *out = NULL;
    char spec[64];
    if (permuted_tasks > 0) snprintf(spec, sizeof spec, "permuted-fmnist:%d", permuted_tasks);
    else snprintf(spec, sizeof spec, "split-fmnist:%s", soma_cl_scenario_name(sc));
    if (!validate) {
        soma_stream_opts so = soma_stream_opts_default();
        so.fmnist_dir = dir;
        so.n_train = n_train;
        so.n_test = n_test;
        so.seed = seed;
        return soma_task_stream_load(spec, &so, out);
    }
    soma_dataset *all = NULL, *tr = NULL, *val = NULL, *tr_n = NULL, *val_n = NULL;
    const soma_dataset *tru, *valu;
    soma_status st = soma_dataset_fmnist(dir, 1, &all);
    /* the training file's last sixth (10,000 images) is the validation set, its first five sixths
     * the training set: the test run (first n_train images) trains on the same images */
    int *idx = NULL;
    if (st == SOMA_OK && !(idx = soma_alloc((size_t)all->n, sizeof *idx))) st = SOMA_ERR_NOMEM;
    const int n_fit = st == SOMA_OK ? all->n - all->n / 6 : 0;
    for (int i = 0; st == SOMA_OK && i < all->n; i++) idx[i] = i;
    if (st == SOMA_OK) st = soma_dataset_gather(all, idx, n_fit, "fashion-mnist (training part)", &tr);
    if (st == SOMA_OK) st = soma_dataset_gather(all, idx + n_fit, all->n - n_fit, "fashion-mnist (validation part)", &val);
    soma_free(idx);
    const int per = permuted_tasks > 0 ? 1 : 5; /* split: n a task of 2 of 10 classes */
    if (st == SOMA_OK) st = first_(tr, n_train > 0 ? n_train * per : 0, &tr_n, &tru);
    if (st == SOMA_OK) st = first_(val, n_test > 0 ? n_test * per : 0, &val_n, &valu);
    if (st == SOMA_OK)
        st = permuted_tasks > 0 ? soma_task_stream_permuted(tru, valu, permuted_tasks, seed, out)
                                : soma_task_stream_split(tru, valu, 2, sc, out);
    if (st == SOMA_OK) snprintf((*out)->name, sizeof (*out)->name, "%.48s (validation)", spec);
    soma_dataset_free(all);
    soma_dataset_free(tr);
    soma_dataset_free(val);
    soma_dataset_free(tr_n);
    soma_dataset_free(val_n);
    return st;
}

void soma__cl_print_progress(const char *label, const soma_cl_result *r, int quiet) {
    if (quiet) return;
    const int T = r->n_tasks;
    double a = 0;
    for (int j = 0; j < T; j++) a += r->R[(size_t)(T - 1) * T + j];
    fprintf(stderr, "%s: after task %d, mean accuracy on tasks 1..%d %.4f\n", label, T, T, a / T);
}
