// Continual learning: the run over a task stream (training task after task with a method's
// hooks, the accuracy matrix, the metrics).
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "learn/internal.h"
#include "soma/learn.h"

void soma_cl_result_free(soma_cl_result *r) {
    if (!r) return;
    soma_free(r->R);
    soma_free(r->b);
    memset(r, 0, sizeof *r);
}

/* Tasks 0..k of s as one data set (joint training): all their samples (rng NULL), or as many
 * as task k has drawn uniformly without replacement from them (rng given). */
static soma_status concat_(const soma_task_stream *s, int k, soma_rng *rng, soma_dataset **out) {
    *out = NULL;
    const soma_dataset *d0 = s->train[0];
    long n = 0;
    for (int t = 0; t <= k; t++) {
        const soma_dataset *d = s->train[t];
        if (d->dim != d0->dim || (d->x_u8 != NULL) != (d0->x_u8 != NULL) || !d->y || d->y_len != 1)
            return soma_error(SOMA_ERR_ARG, "continual: task %d's data differ in size or storage from task 0's", t);
        n += d->n;
    }
    if (n > 2147483647L) return soma_error(SOMA_ERR_ARG, "continual: %ld samples in all, too many to train jointly", n);
    const int n_all = (int)n, n_out = rng ? s->train[k]->n : n_all;
    soma_dataset *o = soma_calloc(1, sizeof *o);
    int *pick = rng ? soma_alloc((size_t)n_all, sizeof(int)) : NULL;
    if (!o || (rng && !pick)) {
        soma_free(o);
        soma_free(pick);
        return SOMA_ERR_NOMEM;
    }
    if (rng) { /* the first n_out of a partial Fisher-Yates shuffle, then in order */
        for (int i = 0; i < n_all; i++) pick[i] = i;
        for (int i = 0; i < n_out; i++) {
            const int j = i + (int)soma_rng_below(rng, (uint64_t)(n_all - i));
            const int tmp = pick[i];
            pick[i] = pick[j];
            pick[j] = tmp;
        }
        /* sorted, so that the copy below walks the tasks in order */
        int *cnt = soma_calloc((size_t)n_all, sizeof(int));
        if (!cnt) {
            soma_free(o);
            soma_free(pick);
            return SOMA_ERR_NOMEM;
        }
        for (int i = 0; i < n_out; i++) cnt[pick[i]] = 1;
        for (int i = 0, at = 0; i < n_all; i++)
            if (cnt[i]) pick[at++] = i;
        soma_free(cnt);
    }
    snprintf(o->name, sizeof o->name, "tasks 0..%d", k);
    o->n = n_out;
    o->shape = d0->shape;
    o->dim = d0->dim;
    o->scale = d0->scale;
    o->y_len = 1;
    o->n_classes = s->n_outputs;
    const size_t es = d0->x_u8 ? 1 : sizeof(float), row = d0->dim * es;
    void *x = soma_alloc((size_t)n_out, row);
    o->y = soma_alloc((size_t)n_out, sizeof(int));
    if (d0->x_u8) o->x_u8 = x;
    else o->x_f32 = x;
    if (!x || !o->y) {
        soma_dataset_free(o);
        soma_free(pick);
        return SOMA_ERR_NOMEM;
    }
    size_t at = 0;
    long base = 0;
    int p = 0;
    for (int t = 0; t <= k; t++) {
        const soma_dataset *d = s->train[t];
        const char *src = d->x_u8 ? (const char *)d->x_u8 : (const char *)d->x_f32;
        if (!rng) {
            memcpy((char *)x + at * row, src, (size_t)d->n * row);
            memcpy(o->y + at, d->y, (size_t)d->n * sizeof(int));
            at += (size_t)d->n;
        } else {
            for (; p < n_out && pick[p] < base + d->n; p++, at++) {
                const long i = pick[p] - base;
                memcpy((char *)x + at * row, src + (size_t)i * row, row);
                o->y[at] = d->y[i];
            }
        }
        base += d->n;
    }
    soma_free(pick);
    *out = o;
    return SOMA_OK;
}

static size_t data_bytes_(const soma_dataset *d) {
    return (size_t)d->n * (d->dim * (d->x_u8 ? 1 : sizeof(float)) + sizeof(int));
}

soma_status soma_cl_run(soma_net *net, soma_rule *rule, soma_optim *opt, const soma_task_stream *s,
                        const soma_cl_opts *o, const soma_train_config *cfg, soma_cl_progress_fn progress,
                        void *progress_user, soma_cl_result *res) {
    memset(res, 0, sizeof *res);
    const int T = s->n_tasks;
    const int out = (int)soma_shape_size(soma_net_out_shape(net));
    if (out != s->n_outputs)
        return soma_error(SOMA_ERR_SHAPE, "continual: stream %s (%s-incremental) needs %d outputs, the net has %d", s->name,
                          soma_cl_scenario_name(s->scenario), s->n_outputs, out);
    if (rule->loss != SOMA_LOSS_XENT) return soma_error(SOMA_ERR_ARG, "continual: the rule's loss must be xent");
    long total = 0;
    for (int t = 0; t < T; t++) total += s->train[t]->n;
    soma_cl_method *m = NULL;
    SOMA_TRY(soma_cl_method_new(&m, net, rule, o, total, s->train[0]->dim));
    soma_status bst = soma__cl_method_bind(m, s);
    if (bst != SOMA_OK) {
        soma_cl_method_free(m);
        return bst;
    }
    res->n_tasks = T;
    res->R = soma_alloc((size_t)T * (size_t)T, sizeof(float));
    res->b = soma_alloc((size_t)T, sizeof(float));
    soma_status st = res->R && res->b ? SOMA_OK : SOMA_ERR_NOMEM;
    for (int i = 0; st == SOMA_OK && i < T * T; i++) res->R[i] = NAN;
    const int eb = cfg->eval_batch > 0 ? cfg->eval_batch : 1000;
    for (int j = 0; st == SOMA_OK && j < T; j++) {
        int ho, hc;
        soma_task_stream_head(s, j, j, &ho, &hc);
        st = soma__cl_method_evaluate(m, net, rule, s->test[j], eb, ho, hc, &res->b[j]);
    }
    soma_dataset *joint = NULL;
    char label[64];
    for (int i = 0; st == SOMA_OK && i < T; i++) {
        soma_train_config c = *cfg;
        int ho, hc;
        soma_task_stream_head(s, i, i, &ho, &hc);
        if ((st = soma_cl_method_attach(m, &c, i, ho, hc)) != SOMA_OK) break;
        snprintf(label, sizeof label, "%s task %d/%d", soma_cl_method_name(o->method), i + 1, T);
        c.label = label;
        c.seed = cfg->seed + (uint64_t)i * 7919u;
        c.ckpt_path = NULL;
        c.resume = 0;
        if (o->reset_optim && i > 0) { /* a fresh optimizer state for the new task */
            size_t ns = 0;
            float *os = soma_optim_state(opt, &ns);
            if (os && ns) memset(os, 0, ns * sizeof *os);
            soma_optim_set_steps(opt, 0);
        }
        const soma_dataset *data = s->train[i];
        if (o->method == SOMA_CL_JOINT) {
            soma_dataset_free(joint);
            joint = NULL;
            double t0 = soma_now();
            soma_rng jr;
            soma_rng_seed(&jr, o->seed, 0x4a01ULL + (uint64_t)i);
            if ((st = concat_(s, i, o->joint_sampled ? &jr : NULL, &joint)) != SOMA_OK) break;
            res->seconds += soma_now() - t0;
            data = joint;
            /* what joint training keeps: every past task's data */
            size_t past = 0;
            for (int t = 0; t < i; t++) past += data_bytes_(s->train[t]);
            soma__cl_method_set_extra(m, past);
        }
        soma_train_log log;
        memset(&log, 0, sizeof log);
        double t0 = soma_now();
        st = soma_train(net, rule, opt, data, NULL, &c, &log);
        res->seconds += soma_now() - t0;
        soma_train_log_free(&log);
        for (int j = 0; st == SOMA_OK && j < T; j++) {
            soma_task_stream_head(s, j, i, &ho, &hc);
            st = soma__cl_method_evaluate(m, net, rule, s->test[j], eb, ho, hc, &res->R[(size_t)i * T + j]);
        }
        res->memory_bytes = soma_cl_method_memory(m);
        if (st == SOMA_OK && progress) progress(progress_user, i, res);
    }
    soma_dataset_free(joint);
    if (st == SOMA_OK) soma_cl_metrics_compute(res->R, res->b, T, &res->metrics);
    res->memory_bytes = soma_cl_method_memory(m);
    soma_cl_method_free(m);
    if (st != SOMA_OK) soma_cl_result_free(res);
    return st;
}
