/* Learning without forgetting (src/learn/cl_lwf.c): it keeps task 0 better than fine-tuning
 * in the task-incremental scenario, its teacher stays frozen while the next task trains,
 * alpha 0 is fine-tuning bit for bit, the same seed gives the same run, bad options and rules
 * are refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "learn/internal.h"
#include "soma/soma.h"

typedef struct run_cfg {
    const char *net;
    soma_rule_kind rule;
    int epochs, batch, data_parallel;
    float lr, alpha, temp;
    uint64_t seed;
} run_cfg;

static run_cfg defaults_(void) {
    return (run_cfg){.net = "fc16,relu,fc4", .rule = SOMA_RULE_BP, .epochs = 4, .batch = 16, .data_parallel = 0,
                     .lr = 0.01f, .alpha = 1.f, .temp = 2.f, .seed = 3};
}

/* One run of method k; *params (may be NULL) receives the final parameters (caller frees). */
static soma_status run_(const soma_task_stream *s, soma_cl_method_kind k, const run_cfg *rc, soma_cl_result *res,
                        float **params, size_t *np) {
    soma_net *net;
    SOMA_TRY(soma_net_new(&net, rc->net, s->train[0]->shape, rc->seed));
    soma_rule *rule = NULL;
    soma_optim *opt = NULL;
    soma_rule_opts ro = soma_rule_opts_default();
    ro.kind = rc->rule;
    ro.seed = rc->seed;
    soma_status st = soma_rule_new(&rule, net, &ro);
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_ADAM);
    if (st == SOMA_OK) st = soma_optim_new(&opt, net, &oc);
    soma_cl_opts o = soma_cl_opts_default();
    o.method = k;
    o.seed = rc->seed;
    o.lwf_alpha = rc->alpha;
    o.lwf_temp = rc->temp;
    soma_train_config cfg = soma_train_defaults();
    cfg.epochs = rc->epochs;
    cfg.batch = rc->batch;
    cfg.sched.lr = rc->lr;
    cfg.seed = rc->seed;
    cfg.quiet = 1;
    cfg.data_parallel = rc->data_parallel;
    if (st == SOMA_OK) st = soma_cl_run(net, rule, opt, s, &o, &cfg, NULL, NULL, res);
    if (st == SOMA_OK && params) {
        const float *v = soma_net_flat_values(net, np);
        *params = malloc(*np * sizeof(float));
        memcpy(*params, v, *np * sizeof(float));
    }
    soma_optim_free(opt);
    soma_rule_free(rule);
    soma_net_free(net);
    return st;
}

/* A split of 4 Gaussian classes into 2 tasks of 2 in scenario sc. */
static soma_task_stream *stream_(soma_cl_scenario sc) {
    soma_dataset *tr, *te;
    soma_task_stream *s = NULL;
    CHECK_OK(soma_dataset_synthetic("gauss", 400, 8, 4, 3.f, 21, &tr));
    CHECK_OK(soma_dataset_synthetic("gauss", 200, 8, 4, 3.f, 22, &te));
    CHECK_OK(soma_task_stream_split(tr, te, 2, sc, &s));
    soma_dataset_free(tr);
    soma_dataset_free(te);
    return s;
}

/* Task-incremental: fine-tuning's shared hidden layer (a 2-unit bottleneck) drifts to the
 * second task and loses the first task's head; the teacher's soft targets keep it. */
static void test_task_incremental(void) {
    soma_task_stream *s = stream_(SOMA_CL_TASK);
    double gap = 0.0;
    int never_worse = 1;
    soma_net *probe;
    size_t nv = 0;
    CHECK_OK(soma_net_new(&probe, "fc2,relu,fc4", soma_shape1(8), 1));
    soma_net_flat_values(probe, &nv);
    soma_net_free(probe);
    for (uint64_t seed = 1; seed <= 4; seed++) {
        run_cfg rc = defaults_();
        rc.net = "fc2,relu,fc4";
        rc.epochs = 16;
        rc.lr = 0.03f;
        rc.seed = seed;
        soma_cl_result f, l;
        CHECK_OK(run_(s, SOMA_CL_FINETUNE, &rc, &f, NULL, NULL));
        CHECK_OK(run_(s, SOMA_CL_LWF, &rc, &l, NULL, NULL));
        if (!f.R || !l.R) continue;
        printf("task-incremental gauss, seed %d: R[1][0] finetune %.3f lwf %.3f; R[1][1] %.3f %.3f; memory %zu\n",
               (int)seed, f.R[2], l.R[2], f.R[3], l.R[3], l.memory_bytes);
        gap += (l.R[2] - f.R[2]) / 4;
        never_worse &= l.R[2] >= f.R[2];
        CHECK(f.R[0] > 0.85f && l.R[3] > 0.8f); /* both learn each task */
        /* the teacher kept through task 1: its flat values and grads (fc2,relu,fc4 on 8 inputs)
         * and activations (2 + 2 + 4 floats a row, 16 rows) */
        CHECK(l.memory_bytes == (2 * nv + 8 * 16) * sizeof(float) && f.memory_bytes == 0);
        soma_cl_result_free(&f);
        soma_cl_result_free(&l);
    }
    CHECK(never_worse && gap > 0.05);
    soma_task_stream_free(s);
}

// --- the teacher stays frozen -------------------------------------------------------------------

/* Wraps LwF's target hook: checks its soft targets against a copy of the net taken when task 0
 * ended (the loop's hooks.user stays LwF's state, so the wrapper's own is static). */
static struct {
    soma_status (*hook)(void *, soma_net *, long, const float *, int, soma_target *);
    soma_net *ref;
    int K, calls, count, block, span_ok, same, moved;
    float temp, alpha;
} w_;

static soma_status wrap_(void *user, soma_net *net, long step, const float *x, int n, soma_target *t) {
    SOMA_TRY(w_.hook(user, net, step, x, n, t));
    w_.calls++;
    w_.span_ok &= t->soft_count == w_.count && t->soft_block == w_.block && t->soft_temp == w_.temp &&
                  t->soft_weight == w_.alpha;
    const float *y;
    SOMA_TRY(soma_net_forward(w_.ref, x, n, SOMA_MODE_EVAL, &y));
    w_.same &= t->soft != NULL && memcmp(t->soft, y, (size_t)n * w_.K * sizeof(float)) == 0;
    /* the student moves away from the teacher as task 1 trains */
    const float *ys;
    SOMA_TRY(soma_net_forward(net, x, n, SOMA_MODE_EVAL, &ys));
    w_.moved += memcmp(ys, y, (size_t)n * w_.K * sizeof(float)) != 0;
    return SOMA_OK;
}

static void test_frozen(void) {
    for (int sc = 0; sc < SOMA_CL_SCENARIO_COUNT; sc++) {
        soma_task_stream *s = stream_((soma_cl_scenario)sc);
        char spec[64];
        snprintf(spec, sizeof spec, "fc6,tanh,fc%d", s->n_outputs);
        soma_net *net;
        soma_rule *rule;
        soma_optim *opt;
        CHECK_OK(soma_net_new(&net, spec, s->train[0]->shape, 2));
        CHECK_OK(soma_rule_backprop_new(&rule, SOMA_LOSS_XENT));
        soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_ADAM);
        CHECK_OK(soma_optim_new(&opt, net, &oc));
        soma_cl_opts o = soma_cl_opts_default();
        o.method = SOMA_CL_LWF;
        o.lwf_alpha = 0.5f;
        o.lwf_temp = 3.f;
        soma_cl_method *m;
        CHECK_OK(soma_cl_method_new(&m, net, rule, &o, 400, 8));
        /* without the stream LwF cannot attach */
        soma_train_config c = soma_train_defaults();
        CHECK_FAILS(soma_cl_method_attach(m, &c, 0, 0, 2), SOMA_ERR_ARG);
        CHECK_OK(soma__cl_method_bind(m, s));
        soma_net *ref = NULL;
        for (int t = 0; t < 2; t++) {
            c = soma_train_defaults();
            c.epochs = 3;
            c.batch = 16;
            c.sched.lr = 0.02f;
            c.quiet = 1;
            int ho, hc;
            soma_task_stream_head(s, t, t, &ho, &hc);
            CHECK_OK(soma_cl_method_attach(m, &c, t, ho, hc));
            CHECK((t == 0) == (c.target_hook == NULL) && c.hooks.task_end != NULL);
            if (t == 1 && c.target_hook) {
                memset(&w_, 0, sizeof w_);
                w_.hook = c.target_hook;
                w_.ref = ref;
                w_.K = s->n_outputs;
                w_.count = 2; /* the first task's 2 classes (task, class) or the shared head (domain) */
                w_.block = sc == SOMA_CL_TASK ? 2 : 0;
                w_.temp = 3.f;
                w_.alpha = 0.5f;
                w_.span_ok = w_.same = 1;
                c.target_hook = wrap_;
            }
            soma_train_log log = {0};
            CHECK_OK(soma_train(net, rule, opt, s->train[t], NULL, &c, &log));
            soma_train_log_free(&log);
            if (t == 0) CHECK_OK(soma_net_clone(net, 0, 0, &ref));
        }
        printf("lwf frozen teacher, %s: %d steps, soft over %d outputs, teacher unchanged %d, student moved in %d\n",
               soma_cl_scenario_name((soma_cl_scenario)sc), w_.calls, w_.count, w_.same, w_.moved);
        CHECK(w_.calls == 3 * 13 && w_.span_ok && w_.same && w_.moved >= w_.calls - 1);
        CHECK(soma_cl_method_memory(m) > 0);
        soma_net_free(ref);
        soma_cl_method_free(m);
        soma_optim_free(opt);
        soma_rule_free(rule);
        soma_net_free(net);
        soma_task_stream_free(s);
    }
}

// --- alpha 0, determinism, data-parallel slices, other rules, bad options ----------------------

static void test_runs(void) {
    soma_task_stream *s = stream_(SOMA_CL_CLASS);
    run_cfg rc = defaults_();
    soma_cl_result f, l0, l1, l2;
    float *pf = NULL, *p0 = NULL, *p1 = NULL, *p2 = NULL;
    size_t nf = 0, n0 = 0, n1 = 0, n2 = 0;
    /* alpha 0: the teacher runs, its soft targets weigh nothing: fine-tuning bit for bit */
    CHECK_OK(run_(s, SOMA_CL_FINETUNE, &rc, &f, &pf, &nf));
    rc.alpha = 0.f;
    CHECK_OK(run_(s, SOMA_CL_LWF, &rc, &l0, &p0, &n0));
    CHECK(nf == n0 && pf && p0 && memcmp(pf, p0, nf * sizeof(float)) == 0 && memcmp(f.R, l0.R, 4 * sizeof(float)) == 0);
    /* the same seed, the same run; alpha > 0 another */
    rc.alpha = 2.f;
    CHECK_OK(run_(s, SOMA_CL_LWF, &rc, &l1, &p1, &n1));
    CHECK_OK(run_(s, SOMA_CL_LWF, &rc, &l2, &p2, &n2));
    CHECK(n1 == n2 && p1 && p2 && memcmp(p1, p2, n1 * sizeof(float)) == 0 && memcmp(l1.R, l2.R, 4 * sizeof(float)) == 0);
    CHECK(p1 && memcmp(pf, p1, nf * sizeof(float)) != 0);
    free(p2);
    soma_cl_result_free(&l2);
    /* data-parallel slices (2 replicas, forced) train as one net does */
    soma_set_threads(2);
    rc.data_parallel = 2;
    CHECK_OK(run_(s, SOMA_CL_LWF, &rc, &l2, &p2, &n2));
    CHECK(n1 == n2);
    if (p2 && n1 == n2) CHECK_CLOSE("lwf: data-parallel vs one net", p2, p1, n1, 1e-4f, 1e-3f);
    rc.data_parallel = 0;
    free(pf);
    free(p0);
    free(p1);
    free(p2);
    soma_cl_result_free(&f);
    soma_cl_result_free(&l0);
    soma_cl_result_free(&l1);
    soma_cl_result_free(&l2);
    /* any rule whose gradient goes through the loss: feedback alignment, DFA, predictive coding */
    const soma_rule_kind kinds[] = {SOMA_RULE_FA, SOMA_RULE_DFA, SOMA_RULE_PC};
    for (int i = 0; i < 3; i++) {
        rc = defaults_();
        rc.rule = kinds[i];
        rc.alpha = 0.f;
        CHECK_OK(run_(s, SOMA_CL_LWF, &rc, &l0, &p0, &n0));
        rc.alpha = 2.f;
        CHECK_OK(run_(s, SOMA_CL_LWF, &rc, &l1, &p1, &n1));
        CHECK(l0.R && l1.R && l1.R[0] > 0.8f && isfinite(l1.metrics.acc));
        CHECK(p0 && p1 && memcmp(p0, p1, n0 * sizeof(float)) != 0); /* the soft term reached the update */
        free(p0);
        free(p1);
        soma_cl_result_free(&l0);
        soma_cl_result_free(&l1);
    }
    /* bad options and a rule with a loss of its own */
    soma_cl_result bad;
    const float alphas[] = {-1.f, NAN, INFINITY}, temps[] = {0.f, -2.f, NAN};
    for (int i = 0; i < 3; i++) {
        rc = defaults_();
        rc.alpha = alphas[i];
        CHECK_FAILS(run_(s, SOMA_CL_LWF, &rc, &bad, NULL, NULL), SOMA_ERR_ARG);
        rc = defaults_();
        rc.temp = temps[i];
        CHECK_FAILS(run_(s, SOMA_CL_LWF, &rc, &bad, NULL, NULL), SOMA_ERR_ARG);
    }
    rc = defaults_();
    rc.net = "fc8,relu,fc8,relu,fc4";
    rc.rule = SOMA_RULE_FF;
    CHECK_FAILS(run_(s, SOMA_CL_LWF, &rc, &bad, NULL, NULL), SOMA_ERR_ARG);
    soma_task_stream_free(s);
}

int main(void) {
    test_task_incremental();
    test_frozen();
    test_runs();
    return check_report("test_cl_lwf");
}
