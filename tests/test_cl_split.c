// Continual learning, the loop's plumbing and the split-fmnist experiment: a caller's hooks
// (after_grad, after_step, epoch_end, task_end, batch_hook) still run under every method that
// is built, with their own user pointer, in the documented order, without changing what the
// method computes (the same accuracy matrix bit for bit); a caller's batch hook beside a
// method's own is refused; re-attaching the same config does not chain a hook to itself; joint
// training on a task's worth of samples drawn from the past (joint_sampled); and the
// split-fmnist experiment's headline at reduced size (the three scenarios: class-incremental
// fine-tuning, EWC and SI forget, replay does not, task-incremental EWC and SI keep every task).
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "scratch.h"
#include "soma/exp.h"
#include "soma/io.h"
#include "soma/learn.h"
#include "soma/nn.h"

// --- the caller's hooks under every method ----------------------------------------------------

typedef struct calls_ {
    long after_grad, after_step, batch, rows;
    int epoch_end, task_end, tasks[8], epochs_seen[16];
    int bad_order; /* after_step seen without an after_grad of the same step */
    long last_grad_step;
} calls_;

static soma_status c_after_grad_(void *user, soma_net *net, long step, float *loss) {
    (void)net;
    (void)loss;
    calls_ *c = user;
    c->after_grad++;
    c->last_grad_step = step;
    return SOMA_OK;
}

static soma_status c_after_step_(void *user, soma_net *net, long step, float lr) {
    (void)net;
    (void)lr;
    calls_ *c = user;
    c->after_step++;
    if (step != c->last_grad_step) c->bad_order++;
    return SOMA_OK;
}

static soma_status c_epoch_end_(void *user, soma_net *net, int epoch, const soma_train_log *log) {
    (void)net;
    (void)log;
    calls_ *c = user;
    if (c->epoch_end < 16) c->epochs_seen[c->epoch_end] = epoch;
    c->epoch_end++;
    return SOMA_OK;
}

static soma_status c_task_end_(void *user, soma_net *net, int task, const soma_dataset *train) {
    (void)net;
    (void)train;
    calls_ *c = user;
    if (c->task_end < 8) c->tasks[c->task_end] = task;
    c->task_end++;
    return SOMA_OK;
}

/* appends nothing: counts the calls and the rows offered */
static soma_status c_batch_(void *user, soma_net *net, long step, float *x, int *labels, float *values, int n,
                            int *n_extra) {
    (void)net;
    (void)step;
    (void)x;
    (void)labels;
    (void)values;
    calls_ *c = user;
    c->batch++;
    c->rows += n;
    *n_extra = 0;
    return SOMA_OK;
}

/* 3 tasks of 2 Gaussian classes each (class-incremental over 6 labels) */
static soma_task_stream *stream_(void) {
    soma_dataset *tr, *te;
    soma_task_stream *s = NULL;
    if (soma_dataset_synthetic("gauss", 240, 6, 6, 3.f, 31, &tr) != SOMA_OK) return NULL;
    if (soma_dataset_synthetic("gauss", 120, 6, 6, 3.f, 32, &te) == SOMA_OK) {
        if (soma_task_stream_split(tr, te, 2, SOMA_CL_CLASS, &s) != SOMA_OK) s = NULL;
        soma_dataset_free(te);
    }
    soma_dataset_free(tr);
    return s;
}

/* One run of method k; hooks: 0 none, 1 the caller's counting hooks (with c), 2 those and a
 * batch hook. */
static soma_status run_(const soma_task_stream *s, soma_cl_method_kind k, int hooks, int joint_sampled, calls_ *c,
                        soma_cl_result *res) {
    soma_net *net;
    SOMA_TRY(soma_net_new(&net, "fc16,relu,fc6", s->train[0]->shape, 5));
    soma_rule *rule = NULL;
    soma_optim *opt = NULL;
    soma_status st = soma_rule_backprop_new(&rule, SOMA_LOSS_XENT);
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_ADAM);
    if (st == SOMA_OK) st = soma_optim_new(&opt, net, &oc);
    soma_cl_opts o = soma_cl_opts_default();
    o.method = k;
    o.buffer = 20;
    o.fisher_samples = 40;
    o.ewc_lambda = 100.f;
    o.joint_sampled = joint_sampled;
    o.gen_lik = SOMA_VAE_GAUSSIAN; /* Gaussian clouds, not pixels in [0, 1] */
    soma_train_config cfg = soma_train_defaults();
    cfg.epochs = 2;
    cfg.batch = 16;
    cfg.sched.lr = 0.01f;
    cfg.seed = 9;
    cfg.quiet = 1;
    if (hooks) {
        cfg.hooks.user = c;
        cfg.hooks.after_grad = c_after_grad_;
        cfg.hooks.after_step = c_after_step_;
        cfg.hooks.epoch_end = c_epoch_end_;
        cfg.hooks.task_end = c_task_end_;
    }
    if (hooks == 2) cfg.batch_hook = c_batch_;
    if (st == SOMA_OK) st = soma_cl_run(net, rule, opt, s, &o, &cfg, NULL, NULL, res);
    soma_optim_free(opt);
    soma_rule_free(rule);
    soma_net_free(net);
    return st;
}

static void test_caller_hooks(void) {
    soma_task_stream *s = stream_();
    CHECK(s != NULL);
    if (!s) return;
    const int T = s->n_tasks, E = 2;
    int built = 0;
    for (int k = 0; k < SOMA_CL_METHOD_COUNT; k++) {
        const soma_cl_method_kind mk = (soma_cl_method_kind)k;
        calls_ c;
        memset(&c, 0, sizeof c);
        c.last_grad_step = -1;
        soma_cl_result with, without;
        soma_status st = run_(s, mk, 1, 0, &c, &with);
        CHECK_OK(st);
        if (st != SOMA_OK) continue;
        built++;
        printf("caller hooks under %-17s after_grad %ld after_step %ld epoch_end %d task_end %d\n",
               soma_cl_method_name(mk), c.after_grad, c.after_step, c.epoch_end, c.task_end);
        /* every epoch of every task, every task once in order, every step */
        CHECK(c.epoch_end == T * E);
        for (int i = 0; i < T * E && i < 16; i++) CHECK(c.epochs_seen[i] == i % E);
        CHECK(c.task_end == T);
        for (int t = 0; t < T; t++) CHECK(c.tasks[t] == t);
        CHECK(c.after_grad > 0 && c.after_step == c.after_grad && c.bad_order == 0);
        /* the caller's hooks leave what the method computes unchanged */
        CHECK_OK(run_(s, mk, 0, 0, NULL, &without));
        CHECK(memcmp(with.R, without.R, (size_t)T * T * sizeof(float)) == 0);
        CHECK(with.memory_bytes == without.memory_bytes);
        soma_cl_result_free(&with);
        soma_cl_result_free(&without);
        /* a caller's batch hook: run where the method has none of its own, refused beside one */
        memset(&c, 0, sizeof c);
        c.last_grad_step = -1;
        st = run_(s, mk, 2, 0, &c, &with);
        if (mk == SOMA_CL_REPLAY) {
            CHECK(st == SOMA_ERR_ARG && strstr(soma_errmsg(), "batch_hook"));
        } else if (mk == SOMA_CL_FINETUNE || mk == SOMA_CL_JOINT || mk == SOMA_CL_EWC || mk == SOMA_CL_ONLINE_EWC ||
                   mk == SOMA_CL_SI) {
            CHECK_OK(st);
            CHECK(c.batch == c.after_grad && c.batch > 0 && c.rows > 0);
        }
        soma_cl_result_free(&with);
    }
    CHECK(built == SOMA_CL_METHOD_COUNT);
    soma_task_stream_free(s);
}

/* attach twice on one config: the caller's hook is still called once an epoch */
static void test_reattach(void) {
    soma_dataset *d;
    CHECK_OK(soma_dataset_synthetic("gauss", 64, 4, 2, 3.f, 7, &d));
    soma_net *net;
    CHECK_OK(soma_net_new(&net, "fc2", soma_shape1(4), 1));
    soma_rule *rule;
    CHECK_OK(soma_rule_backprop_new(&rule, SOMA_LOSS_XENT));
    soma_optim *opt;
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_SGD);
    CHECK_OK(soma_optim_new(&opt, net, &oc));
    soma_cl_opts o = soma_cl_opts_default();
    o.method = SOMA_CL_SI;
    soma_cl_method *m;
    CHECK_OK(soma_cl_method_new(&m, net, rule, &o, d->n, d->dim));
    calls_ c;
    memset(&c, 0, sizeof c);
    c.last_grad_step = -1;
    soma_train_config cfg = soma_train_defaults();
    cfg.epochs = 3;
    cfg.batch = 16;
    cfg.quiet = 1;
    cfg.hooks.user = &c;
    cfg.hooks.epoch_end = c_epoch_end_;
    cfg.hooks.task_end = c_task_end_;
    CHECK_OK(soma_cl_method_attach(m, &cfg, 0, 0, 0));
    CHECK_OK(soma_cl_method_attach(m, &cfg, 0, 0, 0));
    soma_train_log log = {0};
    CHECK_OK(soma_train(net, rule, opt, d, NULL, &cfg, &log));
    CHECK(c.epoch_end == 3 && c.task_end == 1);
    /* SI's own hooks ran too: the task's end consolidated a nonzero importance */
    const float *om = soma_cl_si_omega(m);
    size_t np;
    soma_net_flat_values(net, &np);
    double sum = 0;
    for (size_t i = 0; i < np; i++) sum += om[i];
    CHECK(sum > 0);
    soma_train_log_free(&log);
    soma_cl_method_free(m);
    soma_optim_free(opt);
    soma_rule_free(rule);
    soma_net_free(net);
    soma_dataset_free(d);
}

/* joint training on a task's worth drawn from all tasks so far: as many steps as fine-tuning,
 * every past class seen again (the last row keeps the first task), the past data counted */
static void test_joint_sampled(void) {
    soma_task_stream *s = stream_();
    CHECK(s != NULL);
    if (!s) return;
    const int T = s->n_tasks;
    calls_ cf, cj, ca;
    memset(&cf, 0, sizeof cf);
    memset(&cj, 0, sizeof cj);
    memset(&ca, 0, sizeof ca);
    cf.last_grad_step = cj.last_grad_step = ca.last_grad_step = -1;
    soma_cl_result ft, js, ja;
    CHECK_OK(run_(s, SOMA_CL_FINETUNE, 1, 0, &cf, &ft));
    CHECK_OK(run_(s, SOMA_CL_JOINT, 1, 1, &cj, &js));
    CHECK_OK(run_(s, SOMA_CL_JOINT, 1, 0, &ca, &ja));
    printf("joint sampled: steps %ld (fine-tuning %ld, joint on all %ld), acc %.3f (all %.3f, fine-tuning %.3f)\n",
           cj.after_grad, cf.after_grad, ca.after_grad, js.metrics.acc, ja.metrics.acc, ft.metrics.acc);
    CHECK(cj.after_grad == cf.after_grad && ca.after_grad > cj.after_grad);
    CHECK(js.R[(size_t)(T - 1) * T] > 0.7f && ft.R[(size_t)(T - 1) * T] < 0.3f);
    CHECK(js.memory_bytes == ja.memory_bytes && js.memory_bytes > 0);
    soma_cl_result_free(&ft);
    soma_cl_result_free(&js);
    soma_cl_result_free(&ja);
    soma_task_stream_free(s);
}

// --- split-fmnist at reduced size -------------------------------------------------------------

static const cJSON *get_(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }
static double num_(const cJSON *o, const char *k) {
    const cJSON *v = get_(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void test_split_reduced(void) {
    struct stat sb;
    if (stat(soma_fmnist_dir(NULL), &sb) != 0) {
        check_missing_dep("SOMA_REQUIRE_FMNIST", "Fashion-MNIST (dataset-fashion-mnist)");
        return;
    }
    const soma_experiment *e = soma_exp_find("split-fmnist");
    CHECK(e != NULL);
    if (!e) return;
    CHECK(scratch_init("cl_split"));
    cJSON *r = NULL;
    const char *extra[] = {"--threads", "1"};
    CHECK_OK(soma_exp_run_reduced(e, 2, extra, scratch_path(""), &r));
    const cJSON *ours = get_(r, "ours");
    const char *sc[] = {"task", "domain", "class"};
    const char *names[] = {"finetune", "joint", "ewc", "online_ewc", "si", "replay", "lwf", "generative_replay", "cls"};
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 9; k++) {
            const cJSON *m = get_(get_(ours, sc[i]), names[k]);
            printf("split-fmnist reduced, %-6s %-10s acc %.3f bwt %+.3f fwt %+.3f forgetting %.3f memory %.0f\n", sc[i],
                   names[k], num_(m, "acc"), num_(m, "bwt"), num_(m, "fwt"), num_(m, "forgetting"),
                   num_(m, "memory_bytes"));
            CHECK(num_(m, "acc") > 0 && num_(m, "acc") <= 1 && isfinite(num_(m, "bwt")) && isfinite(num_(m, "fwt")) &&
                  isfinite(num_(m, "forgetting")) && num_(m, "memory_bytes") >= 0);
            CHECK(cJSON_GetArraySize(get_(m, "R")) == 5);
        }
    const cJSON *cl = get_(ours, "class"), *tk = get_(ours, "task");
    /* class-incremental: fine-tuning, EWC and SI keep little but the last task; replay and
     * joint training keep much more */
    for (int k = 0; k < 5; k++) {
        if (k == 1 || k == 3) continue; /* joint; online EWC has no bar */
        CHECK(num_(get_(cl, names[k]), "acc") < 0.3);
    }
    CHECK(num_(get_(cl, "replay"), "acc") > num_(get_(cl, "finetune"), "acc") + 0.3);
    CHECK(num_(get_(cl, "joint"), "acc") > 0.6);
    CHECK(num_(get_(cl, "cls"), "acc") > num_(get_(cl, "finetune"), "acc") + 0.3);
    CHECK(num_(ours, "class_cls_acc") == num_(get_(cl, "cls"), "acc"));
    CHECK(num_(get_(get_(ours, "domain"), "joint"), "acc") > num_(get_(get_(ours, "domain"), "finetune"), "acc"));
    /* task-incremental: EWC and SI keep the tasks */
    CHECK(num_(get_(tk, "ewc"), "acc") > 0.9 && num_(get_(tk, "si"), "acc") > 0.9);
    CHECK(num_(ours, "class_replay_acc") == num_(get_(cl, "replay"), "acc"));
    for (int i = 0; i < 3; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/split-fmnist/%s.svg", scratch_path(""), sc[i]);
        CHECK(stat(path, &sb) == 0 && sb.st_size > 1000);
    }
    cJSON_Delete(r);
    /* bad options: an unknown scenario or method, before anything runs */
    const char *bad1[] = {"--scenarios", "task,rotated"}, *bad2[] = {"--methods", "ewc,dream"},
               *bad3[] = {"--scenarios", "class,class"};
    CHECK_FAILS(soma_exp_run(e, 2, bad1, scratch_path(""), NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_exp_run(e, 2, bad2, scratch_path(""), NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_exp_run(e, 2, bad3, scratch_path(""), NULL), SOMA_ERR_ARG);
    scratch_remove();
}

int main(void) {
    soma_set_threads(1);
    test_caller_hooks();
    test_reattach();
    test_joint_sampled();
    test_split_reduced();
    return check_report("test_cl_split");
}
