// Continual learning, soma_cl_opts.reset_optim (src/learn/cl_run.c): the optimizer's state is
// zero (and its step count 0) when every task after the first starts, and only then; a run with
// the reset equals, bit for bit, training each task by hand with a fresh optimizer; with SGD
// momentum and with Adam, and for a penalty method (EWC) as well as fine-tuning.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "soma/learn.h"
#include "soma/nn.h"

/* What the caller's hooks see at each task's first optimizer step. */
typedef struct {
    soma_optim *opt;
    int fresh;          /* the next after_grad is a task's first step */
    int seen;           /* tasks whose first step was recorded */
    double state_abs[4]; /* max |optimizer state| at that step, per task */
    long steps[4];      /* soma_optim_steps at that step, per task */
} probe_;

static soma_status probe_grad_(void *user, soma_net *net, long step, float *loss) {
    (void)net, (void)step, (void)loss;
    probe_ *p = user;
    if (!p->fresh || p->seen >= 4) return SOMA_OK;
    size_t n = 0;
    const float *s = soma_optim_state(p->opt, &n);
    double mx = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs((double)s[i]));
    p->state_abs[p->seen] = mx;
    p->steps[p->seen] = soma_optim_steps(p->opt);
    p->seen++;
    p->fresh = 0;
    return SOMA_OK;
}

static soma_status probe_end_(void *user, soma_net *net, int task, const soma_dataset *train) {
    (void)net, (void)task, (void)train;
    ((probe_ *)user)->fresh = 1;
    return SOMA_OK;
}

static soma_train_config cfg_(void) {
    soma_train_config c = soma_train_defaults();
    c.epochs = 2;
    c.batch = 16;
    c.sched.lr = 0.01f;
    c.seed = 5;
    c.quiet = 1;
    return c;
}

static soma_optim_config ocfg_(soma_optim_kind k) {
    soma_optim_config oc = soma_optim_defaults(k);
    if (k == SOMA_OPTIM_SGD) oc.momentum = 0.9f;
    return oc;
}

/* soma_cl_run of method k over s with reset (0/1) and optimizer kind ok; the final parameters
 * into w (nv floats), the probe filled. */
static void run_(const soma_task_stream *s, soma_cl_method_kind k, soma_optim_kind ok, int reset, float *w,
                 size_t nv, probe_ *p) {
    soma_net *net;
    char spec[32];
    snprintf(spec, sizeof spec, "fc16,relu,fc%d", s->n_outputs);
    CHECK_OK(soma_net_new(&net, spec, s->train[0]->shape, 7));
    soma_rule *rule;
    soma_optim *opt;
    CHECK_OK(soma_rule_backprop_new(&rule, SOMA_LOSS_XENT));
    soma_optim_config oc = ocfg_(ok);
    CHECK_OK(soma_optim_new(&opt, net, &oc));
    soma_cl_opts o = soma_cl_opts_default();
    o.method = k;
    o.fisher_samples = 50;
    o.reset_optim = reset;
    soma_train_config cfg = cfg_();
    memset(p, 0, sizeof *p);
    p->opt = opt;
    p->fresh = 1;
    cfg.hooks.user = p;
    cfg.hooks.after_grad = probe_grad_;
    cfg.hooks.task_end = probe_end_;
    soma_cl_result res;
    CHECK_OK(soma_cl_run(net, rule, opt, s, &o, &cfg, NULL, NULL, &res));
    soma_cl_result_free(&res);
    size_t n;
    const float *v = soma_net_flat_values(net, &n);
    CHECK(n == nv);
    memcpy(w, v, nv * sizeof(float));
    soma_optim_free(opt);
    soma_rule_free(rule);
    soma_net_free(net);
}

/* The same tasks trained by hand, a new optimizer for each task: what the reset must equal. */
static void by_hand_(const soma_task_stream *s, soma_cl_method_kind k, soma_optim_kind ok, float *w, size_t nv) {
    soma_net *net;
    char spec[32];
    snprintf(spec, sizeof spec, "fc16,relu,fc%d", s->n_outputs);
    CHECK_OK(soma_net_new(&net, spec, s->train[0]->shape, 7));
    soma_rule *rule;
    CHECK_OK(soma_rule_backprop_new(&rule, SOMA_LOSS_XENT));
    soma_cl_opts o = soma_cl_opts_default();
    o.method = k;
    o.fisher_samples = 50;
    soma_cl_method *m;
    long total = 0;
    for (int t = 0; t < s->n_tasks; t++) total += s->train[t]->n;
    CHECK_OK(soma_cl_method_new(&m, net, rule, &o, total, s->train[0]->dim));
    const soma_train_config base = cfg_();
    for (int t = 0; t < s->n_tasks; t++) {
        soma_optim *opt;
        soma_optim_config oc = ocfg_(ok);
        CHECK_OK(soma_optim_new(&opt, net, &oc));
        soma_train_config c = base;
        int ho, hc;
        soma_task_stream_head(s, t, t, &ho, &hc);
        CHECK_OK(soma_cl_method_attach(m, &c, t, ho, hc));
        c.seed = base.seed + (uint64_t)t * 7919u; /* soma_cl_run's per-task shuffling seed */
        soma_train_log log;
        memset(&log, 0, sizeof log);
        CHECK_OK(soma_train(net, rule, opt, s->train[t], NULL, &c, &log));
        soma_train_log_free(&log);
        soma_optim_free(opt);
    }
    size_t n;
    const float *v = soma_net_flat_values(net, &n);
    CHECK(n == nv);
    memcpy(w, v, nv * sizeof(float));
    soma_cl_method_free(m);
    soma_rule_free(rule);
    soma_net_free(net);
}

static void test_reset(void) {
    soma_dataset *tr, *te;
    CHECK_OK(soma_dataset_synthetic("gauss", 240, 6, 6, 3.f, 31, &tr));
    CHECK_OK(soma_dataset_synthetic("gauss", 90, 6, 6, 3.f, 32, &te));
    soma_task_stream *s;
    CHECK_OK(soma_task_stream_split(tr, te, 2, SOMA_CL_DOMAIN, &s));
    soma_net *net;
    char spec[32];
    snprintf(spec, sizeof spec, "fc16,relu,fc%d", s->n_outputs);
    CHECK_OK(soma_net_new(&net, spec, s->train[0]->shape, 7));
    size_t nv;
    soma_net_flat_values(net, &nv);
    soma_net_free(net);
    float *a = soma_alloc(nv, sizeof(float)), *b = soma_alloc(nv, sizeof(float)), *h = soma_alloc(nv, sizeof(float));
    const soma_optim_kind kinds[2] = {SOMA_OPTIM_ADAM, SOMA_OPTIM_SGD};
    const soma_cl_method_kind methods[2] = {SOMA_CL_FINETUNE, SOMA_CL_EWC};
    for (int ki = 0; ki < 2; ki++)
        for (int mi = 0; mi < 2; mi++) {
            probe_ on, off;
            run_(s, methods[mi], kinds[ki], 1, a, nv, &on);
            run_(s, methods[mi], kinds[ki], 0, b, nv, &off);
            by_hand_(s, methods[mi], kinds[ki], h, nv);
            char lab[96];
            snprintf(lab, sizeof lab, "%s %s", soma_optim_name(kinds[ki]), soma_cl_method_name(methods[mi]));
            CHECK(on.seen == 3 && off.seen == 3);
            /* task 0 starts from a new optimizer either way */
            CHECK(on.state_abs[0] == 0 && on.steps[0] == 0 && off.state_abs[0] == 0 && off.steps[0] == 0);
            long before = 0; /* optimizer steps of the tasks before: 2 epochs of ceil(n / 16) */
            for (int t = 1; t < 3; t++) {
                before += 2 * ((s->train[t - 1]->n + 15) / 16);
                CHECK(on.state_abs[t] == 0 && on.steps[t] == 0);         /* reset */
                CHECK(off.state_abs[t] > 0 && off.steps[t] == before); /* carried */
            }
            /* the reset is a fresh optimizer per task, bit for bit; without it the run differs */
            CHECK(memcmp(a, h, nv * sizeof(float)) == 0);
            CHECK(memcmp(b, h, nv * sizeof(float)) != 0);
            double d = 0;
            for (size_t i = 0; i < nv; i++) d = fmax(d, fabs((double)a[i] - b[i]));
            printf("reset_optim %-14s: max |w(reset) - w(carried)| %.3g, state at task 2 start %.3g vs %.3g\n", lab, d,
                   on.state_abs[2], off.state_abs[2]);
        }
    soma_free(a);
    soma_free(b);
    soma_free(h);
    soma_task_stream_free(s);
    soma_dataset_free(tr);
    soma_dataset_free(te);
}

int main(void) {
    test_reset();
    return check_report("test_cl_ewc");
}
