/* Generative replay (src/learn/cl_genreplay.c): on a class-incremental split of Gaussian classes
 * it keeps task 0 clearly above fine-tuning (soft targets and hard labels, with any rule), the
 * same seed gives the same run, a generator trained on task 0 draws samples that a classifier of
 * all classes puts in task 0's classes, bad options are refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "soma/soma.h"

typedef struct gen_cfg {
    soma_cl_method_kind method;
    soma_rule_kind rule;
    int soft, data_parallel;
    uint64_t seed;
} gen_cfg;

static soma_cl_opts opts_(const gen_cfg *g) {
    soma_cl_opts o = soma_cl_opts_default();
    o.method = g->method;
    o.seed = g->seed;
    o.gen_latent = 4;
    o.gen_hidden = "fc32,relu";
    o.gen_lr = 3e-3f;
    o.gen_lik = SOMA_VAE_GAUSSIAN;
    o.gen_iters = 2;
    o.gen_soft = g->soft;
    return o;
}

static soma_status run_(const soma_task_stream *s, const gen_cfg *g, const soma_cl_opts *o, soma_cl_result *res) {
    soma_net *net;
    SOMA_TRY(soma_net_new(&net, "fc32,relu,fc4", s->train[0]->shape, g->seed));
    soma_rule *rule = NULL;
    soma_optim *opt = NULL;
    soma_rule_opts ro = soma_rule_opts_default();
    ro.kind = g->rule;
    ro.seed = g->seed;
    soma_status st = soma_rule_new(&rule, net, &ro);
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_ADAM);
    if (st == SOMA_OK) st = soma_optim_new(&opt, net, &oc);
    soma_train_config cfg = soma_train_defaults();
    cfg.epochs = 4;
    cfg.batch = 16;
    cfg.sched.lr = 0.01f;
    cfg.seed = g->seed;
    cfg.quiet = 1;
    cfg.data_parallel = g->data_parallel;
    if (st == SOMA_OK) st = soma_cl_run(net, rule, opt, s, o, &cfg, NULL, NULL, res);
    soma_optim_free(opt);
    soma_rule_free(rule);
    soma_net_free(net);
    return st;
}

static void test_keeps_task0(const soma_task_stream *s) {
    const gen_cfg cases[] = {
        {SOMA_CL_FINETUNE, SOMA_RULE_BP, 1, 0, 3}, {SOMA_CL_GEN_REPLAY, SOMA_RULE_BP, 1, 0, 3},
        {SOMA_CL_GEN_REPLAY, SOMA_RULE_BP, 0, 0, 3}, {SOMA_CL_GEN_REPLAY, SOMA_RULE_FA, 1, 0, 3},
    };
    soma_cl_result r[4];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 4; i++) {
        soma_cl_opts o = opts_(&cases[i]);
        CHECK_OK(run_(s, &cases[i], &o, &r[i]));
        if (!r[i].R) return;
        printf("class-incremental gauss, %-17s %s rule %-3s acc %.3f R[0][0] %.3f R[1][0] %.3f R[1][1] %.3f memory %zu\n",
               soma_cl_method_name(cases[i].method), cases[i].soft ? "soft" : "hard", soma_rule_kind_name(cases[i].rule),
               r[i].metrics.acc, r[i].R[0], r[i].R[2], r[i].R[3], r[i].memory_bytes);
    }
    CHECK(r[0].R[0] > 0.9f && r[0].R[2] < 0.2f); /* fine-tuning learned task 0, then forgot it */
    for (int i = 1; i < 4; i++) {
        CHECK(r[i].R[2] > r[0].R[2] + 0.5f);    /* task 0 kept */
        CHECK(r[i].R[3] > 0.7f);                /* task 1 learned */
        CHECK(r[i].metrics.acc > r[0].metrics.acc + 0.25);
        CHECK(r[i].memory_bytes > 2 * sizeof(float) * (8 * 32 + 32 * 8)); /* generator, copies */
    }
    CHECK(r[0].memory_bytes == 0);
    /* determinism: the same seed, the same matrix bit for bit; also with data-parallel replicas */
    for (int dp = 0; dp <= 1; dp++) {
        gen_cfg g = cases[1];
        g.data_parallel = dp ? 2 : 0;
        soma_cl_opts o = opts_(&g);
        soma_cl_result a, b;
        CHECK_OK(run_(s, &g, &o, &a));
        CHECK_OK(run_(s, &g, &o, &b));
        if (a.R && b.R) CHECK(memcmp(a.R, b.R, 4 * sizeof(float)) == 0);
        if (!dp && a.R) CHECK(memcmp(a.R, r[1].R, 4 * sizeof(float)) == 0);
        soma_cl_result_free(&a);
        soma_cl_result_free(&b);
    }
    for (int i = 0; i < 4; i++) soma_cl_result_free(&r[i]);
}

/* A generator trained on task 0 alone draws samples that a classifier trained on all four
 * classes puts into task 0's classes, both of them. */
static void test_generator_task0(const soma_dataset *all, const soma_task_stream *s) {
    soma_net *oracle;
    CHECK_OK(soma_net_new(&oracle, "fc32,relu,fc4", all->shape, 5));
    soma_rule *rule;
    CHECK_OK(soma_rule_backprop_new(&rule, SOMA_LOSS_XENT));
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_ADAM);
    soma_optim *opt;
    CHECK_OK(soma_optim_new(&opt, oracle, &oc));
    soma_train_config cfg = soma_train_defaults();
    cfg.epochs = 5;
    cfg.batch = 16;
    cfg.sched.lr = 0.01f;
    cfg.quiet = 1;
    soma_train_log log = {0};
    CHECK_OK(soma_train(oracle, rule, opt, all, NULL, &cfg, &log));
    soma_train_log_free(&log);
    gen_cfg g = {SOMA_CL_GEN_REPLAY, SOMA_RULE_BP, 1, 0, 3};
    soma_cl_opts o = opts_(&g);
    soma_vae_opts vo = soma_vae_opts_default(); /* the generator as the method builds it */
    vo.latent = o.gen_latent;
    vo.enc_hidden = o.gen_hidden;
    vo.lr = o.gen_lr;
    vo.lik = (soma_vae_lik)o.gen_lik;
    vo.max_batch = 32;
    soma_vae *v;
    CHECK_OK(soma_vae_new(&v, &vo, s->train[0]->shape));
    CHECK_OK(soma_vae_train(v, s->train[0], 8, 32, NULL));
    enum { M = 400 };
    float *x = malloc((size_t)M * all->dim * sizeof(float));
    CHECK_OK(soma_vae_sample(v, M, x));
    int pred[M], count[4] = {0};
    CHECK_OK(soma_rule_predict(rule, oracle, x, M, 1, pred));
    for (int i = 0; i < M; i++) count[pred[i]]++;
    printf("generator of task 0: samples classified %d %d | %d %d\n", count[0], count[1], count[2], count[3]);
    CHECK(count[0] + count[1] >= M * 9 / 10);
    CHECK(count[0] >= M / 5 && count[1] >= M / 5);
    free(x);
    soma_vae_free(v);
    soma_optim_free(opt);
    soma_rule_free(rule);
    soma_net_free(oracle);
}

static void test_bad(const soma_task_stream *s) {
    gen_cfg g = {SOMA_CL_GEN_REPLAY, SOMA_RULE_BP, 1, 0, 3};
    soma_cl_result r;
    soma_cl_opts o;
#define BAD(stmt, want)                                    \
    do {                                                   \
        o = opts_(&g);                                     \
        stmt;                                              \
        CHECK_FAILS(run_(s, &g, &o, &r), want);            \
    } while (0)
    BAD(o.gen_temp = 0.f, SOMA_ERR_ARG);
    BAD(o.gen_iters = 0, SOMA_ERR_ARG);
    BAD(o.gen_soft = 2, SOMA_ERR_ARG);
    BAD(o.gen_latent = 0, SOMA_ERR_ARG);
    BAD(o.gen_beta = -1.f, SOMA_ERR_ARG);
    BAD(o.gen_lr = 0.f, SOMA_ERR_ARG);
    BAD(o.gen_lik = 9, SOMA_ERR_ARG);
    BAD(o.gen_lik = SOMA_VAE_BERNOULLI, SOMA_ERR_ARG); /* Gaussian data outside [0, 1] */
    BAD(o.gen_hidden = "fc32,bogus", SOMA_ERR_PARSE);
    BAD(o.replay_batch = -1, SOMA_ERR_ARG);
#undef BAD
    /* the method needs the stream: attach alone refuses */
    soma_net *net;
    CHECK_OK(soma_net_new(&net, "fc4", s->train[0]->shape, 1));
    soma_rule *rule;
    CHECK_OK(soma_rule_backprop_new(&rule, SOMA_LOSS_XENT));
    soma_cl_method *m;
    o = opts_(&g);
    CHECK_OK(soma_cl_method_new(&m, net, rule, &o, 400, 8));
    soma_train_config cfg = soma_train_defaults();
    CHECK_FAILS(soma_cl_method_attach(m, &cfg, 0, 0, 2), SOMA_ERR_ARG);
    soma_cl_method_free(m);
    soma_rule_free(rule);
    soma_net_free(net);
}

/* Task- and domain-incremental splits: both target kinds keep task 0 at least as well as
 * fine-tuning (domain: clearly better), and learn task 1. */
static void test_scenarios(const soma_dataset *tr, const soma_dataset *te) {
    const soma_cl_scenario sc[2] = {SOMA_CL_TASK, SOMA_CL_DOMAIN};
    for (int k = 0; k < 2; k++) {
        soma_task_stream *s;
        CHECK_OK(soma_task_stream_split(tr, te, 2, sc[k], &s));
        if (!s) continue;
        const char *spec = sc[k] == SOMA_CL_TASK ? "fc32,relu,fc4" : "fc32,relu,fc2";
        soma_cl_result r[3];
        memset(r, 0, sizeof r);
        for (int i = 0; i < 3; i++) {
            gen_cfg g = {i ? SOMA_CL_GEN_REPLAY : SOMA_CL_FINETUNE, SOMA_RULE_BP, i == 1, 0, 3};
            soma_cl_opts o = opts_(&g);
            soma_net *net;
            CHECK_OK(soma_net_new(&net, spec, s->train[0]->shape, 3));
            soma_rule *rule;
            CHECK_OK(soma_rule_backprop_new(&rule, SOMA_LOSS_XENT));
            soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_ADAM);
            soma_optim *opt;
            CHECK_OK(soma_optim_new(&opt, net, &oc));
            soma_train_config cfg = soma_train_defaults();
            cfg.epochs = 4;
            cfg.batch = 16;
            cfg.sched.lr = 0.01f;
            cfg.seed = 3;
            cfg.quiet = 1;
            CHECK_OK(soma_cl_run(net, rule, opt, s, &o, &cfg, NULL, NULL, &r[i]));
            soma_optim_free(opt);
            soma_rule_free(rule);
            soma_net_free(net);
            if (!r[i].R) continue;
            printf("%s-incremental gauss, %-17s %s R[1][0] %.3f R[1][1] %.3f\n", soma_cl_scenario_name(sc[k]),
                   soma_cl_method_name(g.method), i == 0 ? "-" : i == 2 ? "hard" : "soft", r[i].R[2], r[i].R[3]);
        }
        for (int i = 1; i < 3; i++)
            if (r[i].R && r[0].R) {
                CHECK(r[i].R[2] >= r[0].R[2] - 0.05f && r[i].R[3] > 0.7f);
                if (sc[k] == SOMA_CL_DOMAIN) CHECK(r[i].R[2] > r[0].R[2] + 0.08f); /* fine-tuning forgets some */
            }
        for (int i = 0; i < 3; i++) soma_cl_result_free(&r[i]);
        soma_task_stream_free(s);
    }
}

int main(void) {
    soma_dataset *tr, *te;
    CHECK_OK(soma_dataset_synthetic("gauss", 400, 8, 4, 3.f, 21, &tr));
    CHECK_OK(soma_dataset_synthetic("gauss", 200, 8, 4, 3.f, 22, &te));
    soma_task_stream *s;
    CHECK_OK(soma_task_stream_split(tr, te, 2, SOMA_CL_CLASS, &s));
    test_keeps_task0(s);
    test_generator_task0(tr, s);
    test_scenarios(tr, te);
    test_bad(s);
    soma_task_stream_free(s);
    soma_dataset_free(tr);
    soma_dataset_free(te);
    return check_report("test_cl_gen");
}
