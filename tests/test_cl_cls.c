// The complementary-learning-systems model (src/learn/cl_cls.c): the store's read-out against
// NumPy (tests/ref/gen_cls.py, tests/fixtures/cl/cls.bin), one-shot storage (every stored
// training example answered after one presentation, for each key kind), the capacity bound and
// exact memory under both eviction policies, sleep consolidation against no sleep on a
// class-incremental Gaussian split (backprop and feedback alignment), layer keys that stay
// valid as the net learns, determinism, bad options, and the ab-ac experiment's headline at
// reduced size.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "json_util.h"
#include "fixture.h"
#include "scratch.h"
#include "soma/exp.h"
#include "soma/io.h"
#include "soma/learn.h"
#include "soma/nn.h"

// --- the read-out against NumPy ------------------------------------------------------------

static void test_readout_numpy(void) {
    fixture f;
    if (fixture_load(check_src_path("tests/fixtures/cl/cls.bin"), &f) != 0) {
        CHECK(0);
        return;
    }
    const int nq = f.n, ns = f.c, kd = f.h, K = f.w;
    const fixture_array *q = fixture_get(&f, "q"), *keys = fixture_get(&f, "keys"), *lab = fixture_get(&f, "labels");
    const fixture_array *att = fixture_get(&f, "att"), *knp = fixture_get(&f, "knn_p");
    const float beta = fixture_get(&f, "beta")->data[0];
    const int knn = (int)fixture_get(&f, "knn")->data[0];
    int labels[64];
    for (int j = 0; j < ns; j++) labels[j] = (int)lab->data[j];
    float p[64], work[1024];
    CHECK_OK(soma_cls_readout(p, q->data, nq, keys->data, labels, ns, kd, K, beta, 0, work));
    CHECK_CLOSE("cls attention", p, att->data, (size_t)nq * K, 1e-5f, 1e-4f);
    CHECK_OK(soma_cls_readout(p, q->data, nq, keys->data, labels, ns, kd, K, beta, knn, NULL));
    CHECK_CLOSE("cls knn", p, knp->data, (size_t)nq * K, 1e-6f, 0.f);
    /* queries 0 and 1 are scaled stored keys: 1-NN returns their labels */
    CHECK_OK(soma_cls_readout(p, q->data, 2, keys->data, labels, ns, kd, K, beta, 1, NULL));
    CHECK(p[labels[5]] == 1.f && p[K + labels[11]] == 1.f);
    /* bad sizes and labels */
    labels[0] = K;
    CHECK_FAILS(soma_cls_readout(p, q->data, nq, keys->data, labels, ns, kd, K, beta, 0, NULL), SOMA_ERR_ARG);
    labels[0] = 0;
    CHECK_FAILS(soma_cls_readout(p, q->data, nq, keys->data, labels, ns, kd, K, 0.f, 0, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_cls_readout(p, q->data, nq, keys->data, labels, ns, 0, K, beta, 0, NULL), SOMA_ERR_ARG);
    fixture_free(&f);
}

// --- the store: capacity, eviction, exact memory ----------------------------------------------

static void test_store_capacity(void) {
    const int dim = 5, n = 40;
    float x[40 * 5];
    int y[40];
    for (int i = 0; i < n * dim; i++) x[i] = (float)((i * 37) % 11) - 5.f;
    for (int i = 0; i < n; i++) y[i] = i % 3;
    soma_cl_opts o = soma_cl_opts_default();
    o.cls_capacity = 50;
    o.cls_key_dim = 7;
    soma_cls_store *s;
    CHECK_OK(soma_cls_store_new(&s, &o, dim, NULL));
    CHECK(soma_cls_store_memory(s) == 50 * ((5 + 7) * sizeof(float) + 2 * sizeof(int)) + 7 * 5 * sizeof(float));
    for (int t = 0; t < 3; t++) {
        CHECK_OK(soma_cls_store_write(s, x, y, n, t));
        CHECK(soma_cls_store_count(s, -1) == (t == 0 ? 40 : 50));
    }
    /* reservoir: 120 offered, 50 kept, later tasks present too */
    CHECK(soma_cls_store_count(s, 0) + soma_cls_store_count(s, 1) + soma_cls_store_count(s, 2) == 50);
    CHECK(soma_cls_store_count(s, 2) > 0 && soma_cls_store_count(s, 0) > 0);
    CHECK_FAILS(soma_cls_store_write(s, x, y, n, 1), SOMA_ERR_ARG); /* tasks in order */
    soma_cls_store_free(s);
    /* quota: each task keeps capacity / tasks */
    o.cls_capacity = 60;
    o.cls_evict = SOMA_CLS_EVICT_QUOTA;
    o.cls_keys = SOMA_CLS_KEYS_INPUT;
    CHECK_OK(soma_cls_store_new(&s, &o, dim, NULL));
    CHECK(soma_cls_store_memory(s) == 60 * ((5 + 5) * sizeof(float) + 2 * sizeof(int)));
    CHECK_OK(soma_cls_store_write(s, x, y, n, 0));
    CHECK(soma_cls_store_count(s, 0) == 40);
    CHECK_OK(soma_cls_store_write(s, x, y, 25, 1));
    CHECK_OK(soma_cls_store_write(s, x + 25 * dim, y + 25, 15, 1)); /* the same task in two writes */
    CHECK(soma_cls_store_count(s, 0) == 30 && soma_cls_store_count(s, 1) == 30);
    CHECK_OK(soma_cls_store_write(s, x, y, n, 2));
    printf("quota after 3 tasks: %ld %ld %ld\n", soma_cls_store_count(s, 0), soma_cls_store_count(s, 1),
           soma_cls_store_count(s, 2));
    CHECK(soma_cls_store_count(s, 0) == 20 && soma_cls_store_count(s, 1) == 20 && soma_cls_store_count(s, 2) == 20);
    /* every episode kept is one that was written, with its label: 1-NN on the inputs answers it */
    float p[60 * 3];
    o.cls_knn = 1;
    soma_cls_store_free(s);
    CHECK_OK(soma_cls_store_new(&s, &o, dim, NULL));
    CHECK_OK(soma_cls_store_write(s, x, y, 11, 0)); /* rows repeat from 11 on */
    CHECK_OK(soma_cls_store_read(s, x, 11, 3, p));
    int ok = 1;
    for (int i = 0; i < 11; i++) ok &= p[i * 3 + y[i]] == 1.f;
    CHECK(ok);
    soma_cls_store_free(s);
    /* bad options */
    o = soma_cl_opts_default();
    CHECK_FAILS(soma_cls_store_new(&s, &o, dim, NULL), SOMA_ERR_ARG); /* capacity 0: the method resolves it */
    o.cls_capacity = 10;
    o.cls_keys = SOMA_CLS_KEYS_LAYER;
    CHECK_FAILS(soma_cls_store_new(&s, &o, dim, NULL), SOMA_ERR_ARG); /* layer keys without a net */
    o.cls_keys = SOMA_CLS_KEYS_PROJECTION;
    o.cls_capacity = 2000000000L;
    CHECK_FAILS(soma_cls_store_new(&s, &o, 1000, NULL), SOMA_ERR_ARG);
}

// --- runs over a stream -------------------------------------------------------------------------

typedef struct run_cfg {
    int epochs;
    float lr;
    uint64_t seed;
} run_cfg;

static soma_status run_(const soma_task_stream *s, const soma_cl_opts *o, const run_cfg *rc, soma_cl_result *res) {
    soma_net *net;
    SOMA_TRY(soma_net_new(&net, "fc32,relu,fc4", s->train[0]->shape, rc->seed));
    soma_rule *rule;
    soma_optim *opt;
    soma_rule_backprop_new(&rule, SOMA_LOSS_XENT);
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_ADAM);
    soma_optim_new(&opt, net, &oc);
    soma_train_config cfg = soma_train_defaults();
    cfg.epochs = rc->epochs;
    cfg.batch = 16;
    cfg.sched.lr = rc->lr;
    cfg.seed = rc->seed;
    cfg.quiet = 1;
    soma_status st = soma_cl_run(net, rule, opt, s, o, &cfg, NULL, NULL, res);
    soma_optim_free(opt);
    soma_rule_free(rule);
    soma_net_free(net);
    return st;
}

static soma_cl_opts cls_opts_(void) {
    soma_cl_opts o = soma_cl_opts_default();
    o.method = SOMA_CL_CLS;
    o.seed = 5;
    return o;
}

/* After one presentation (one epoch at a learning rate of 1e-7: the slow net learns nothing) the store
 * answers every training example of both tasks correctly, for each key kind. */
static void test_one_shot(void) {
    soma_dataset *tr;
    CHECK_OK(soma_dataset_synthetic("gauss", 200, 8, 4, 1.f, 31, &tr)); /* overlapping classes */
    soma_task_stream *s;
    CHECK_OK(soma_task_stream_split(tr, tr, 2, SOMA_CL_CLASS, &s)); /* tested on the training set */
    const run_cfg rc = {1, 1e-7f, 3};
    for (int k = 0; k < SOMA_CLS_KEYS_COUNT; k++) {
        soma_cl_opts o = cls_opts_();
        o.cls_keys = k;
        o.cls_answer = SOMA_CLS_ANSWER_STORE;
        o.cls_beta = 200.f;
        soma_cl_result r, slow;
        CHECK_OK(run_(s, &o, &rc, &r));
        o.cls_answer = SOMA_CLS_ANSWER_SLOW;
        CHECK_OK(run_(s, &o, &rc, &slow));
        printf("one shot, %-10s keys: store R = %.3f %.3f / %.3f %.3f, slow net %.3f %.3f\n", soma_cls_keys_name(k), r.R[0],
               r.R[1], r.R[2], r.R[3], slow.R[2], slow.R[3]);
        CHECK(r.R[0] == 1.f && r.R[2] == 1.f && r.R[3] == 1.f);
        CHECK(r.b[0] == 0.f); /* an empty store answers nothing */
        CHECK(slow.R[2] < 0.9f);  /* the untrained slow net does not */
        soma_cl_result_free(&r);
        soma_cl_result_free(&slow);
    }
    soma_task_stream_free(s);
    soma_dataset_free(tr);
}

/* Class-incremental Gaussian split (as test_cl's test_runs): sleep replay from the store keeps
 * the slow net's accuracy on task 0, which it loses without sleep; the system keeps it too;
 * memory is the store's exact size; the same seed gives the same bits. */
static void test_sleep(void) {
    soma_dataset *tr, *te;
    CHECK_OK(soma_dataset_synthetic("gauss", 400, 8, 4, 3.f, 21, &tr));
    CHECK_OK(soma_dataset_synthetic("gauss", 200, 8, 4, 3.f, 22, &te));
    soma_task_stream *s;
    CHECK_OK(soma_task_stream_split(tr, te, 2, SOMA_CL_CLASS, &s));
    const run_cfg rc = {3, 0.01f, 3};
    soma_cl_opts o = cls_opts_();
    o.cls_answer = SOMA_CLS_ANSWER_SLOW;
    o.cls_sleep_every = -1;
    soma_cl_result never, after, every, sys, again;
    CHECK_OK(run_(s, &o, &rc, &never));
    o.cls_sleep_every = 0;
    o.cls_sleep_lr = 0.05f;
    o.cls_sleep_steps = 200; /* (the default, one wake epoch's worth, is 13 here) */
    CHECK_OK(run_(s, &o, &rc, &after));
    o.cls_sleep_every = 10;
    o.cls_sleep_steps = 5;
    o.cls_replay = 4;
    CHECK_OK(run_(s, &o, &rc, &every));
    o.cls_sleep_every = 0;
    o.cls_sleep_steps = 200;
    o.cls_replay = 0;
    o.cls_answer = SOMA_CLS_ANSWER_SYSTEM;
    CHECK_OK(run_(s, &o, &rc, &sys));
    printf("slow net on task 0 after task 1: no sleep %.3f, sleep after the task %.3f, every 10 steps + wake replay %.3f; "
           "system %.3f (acc %.3f, memory %zu)\n",
           never.R[2], after.R[2], every.R[2], sys.R[2], sys.metrics.acc, sys.memory_bytes);
    printf("on task 1: no sleep %.3f, sleep %.3f, every %.3f, system %.3f\n", never.R[3], after.R[3], every.R[3], sys.R[3]);
    CHECK(never.R[0] > 0.9f && never.R[2] < 0.2f);
    CHECK(after.R[2] > never.R[2] + 0.5f && after.R[3] > 0.7f && after.metrics.acc > never.metrics.acc + 0.25);
    CHECK(every.R[2] > never.R[2] + 0.3f);
    CHECK(sys.R[2] > never.R[2] + 0.5f && sys.R[3] > 0.7f);
    /* capacity 0: every training sample (400), inputs and projection keys of 256, label, task */
    CHECK(sys.memory_bytes == 400 * ((8 + 256) * sizeof(float) + 2 * sizeof(int)) + 256 * 8 * sizeof(float));
    o.cls_capacity = 100;
    o.cls_evict = SOMA_CLS_EVICT_QUOTA;
    o.cls_keys = SOMA_CLS_KEYS_LAYER;
    o.cls_layer = 2;
    CHECK_OK(run_(s, &o, &rc, &again));
    CHECK(again.memory_bytes == 100 * ((8 + 32) * sizeof(float) + 2 * sizeof(int)));
    printf("capacity 100, quota, layer-2 keys: acc %.3f, R[1][0] %.3f\n", again.metrics.acc, again.R[2]);
    CHECK(again.R[2] > never.R[2] + 0.5f);
    soma_cl_result_free(&again);
    /* determinism */
    o = cls_opts_();
    o.cls_sleep_every = 10;
    o.cls_sleep_steps = 5;
    o.cls_replay = 4;
    o.cls_sleep_lr = 0.05f;
    o.cls_answer = SOMA_CLS_ANSWER_SLOW;
    CHECK_OK(run_(s, &o, &rc, &again));
    CHECK(memcmp(again.R, every.R, 4 * sizeof(float)) == 0);
    soma_cl_result_free(&again);
    soma_cl_result_free(&never);
    soma_cl_result_free(&after);
    soma_cl_result_free(&every);
    soma_cl_result_free(&sys);

    /* bad options: each refused with SOMA_ERR_ARG */
    for (int k = 0; k < 14; k++) {
        o = cls_opts_();
        switch (k) {
        case 0: o.cls_capacity = -1; break;
        case 1: o.cls_keys = 3; break;
        case 2: o.cls_evict = -1; break;
        case 3: o.cls_answer = 7; break;
        case 4: o.cls_key_dim = 0; break;
        case 5: o.cls_beta = -1.f; break;
        case 6: o.cls_knn = 5000; break;
        case 7: o.cls_confidence = 1.5f; break;
        case 8: o.cls_sleep_every = -2; break;
        case 9: o.cls_sleep_steps = -1; break;
        case 10: o.cls_sleep_lr = NAN; break;
        case 11: o.cls_replay = -3; break;
        case 12: o.cls_keys = SOMA_CLS_KEYS_LAYER; o.cls_layer = 9; break;
        default: o.cls_capacity = 2000000000L; break;
        }
        soma_cl_result bad;
        CHECK_FAILS(run_(s, &o, &rc, &bad), SOMA_ERR_ARG);
    }
    int v;
    CHECK_OK(soma_cls_answer_parse("slow", &v));
    CHECK(v == SOMA_CLS_ANSWER_SLOW);
    CHECK_OK(soma_cls_keys_parse("layer", &v));
    CHECK(v == SOMA_CLS_KEYS_LAYER);
    CHECK_OK(soma_cls_evict_parse("quota", &v));
    CHECK(v == SOMA_CLS_EVICT_QUOTA);
    CHECK_FAILS(soma_cls_keys_parse("hash", &v), SOMA_ERR_ARG);
    CHECK_FAILS(soma_cls_answer_parse(NULL, &v), SOMA_ERR_ARG);
    soma_task_stream_free(s);
    soma_dataset_free(tr);
    soma_dataset_free(te);
}

/* Layer keys stay valid as the slow net learns (stored inputs re-encoded before each read): after
 * three epochs a task the store still answers every training example (1-NN); and the model runs
 * with a rule other than backprop (feedback alignment), sleep included. */
static void test_layer_keys_and_rules(void) {
    soma_dataset *tr;
    CHECK_OK(soma_dataset_synthetic("gauss", 200, 8, 4, 1.f, 41, &tr));
    soma_task_stream *s;
    CHECK_OK(soma_task_stream_split(tr, tr, 2, SOMA_CL_CLASS, &s));
    const run_cfg rc = {3, 0.01f, 7};
    soma_cl_opts o = cls_opts_();
    o.cls_keys = SOMA_CLS_KEYS_LAYER;
    o.cls_layer = 2; /* after the relu */
    o.cls_knn = 1;
    o.cls_answer = SOMA_CLS_ANSWER_STORE;
    soma_cl_result r;
    CHECK_OK(run_(s, &o, &rc, &r));
    printf("layer keys after training: store on the training data R[1] = %.3f %.3f\n", r.R[2], r.R[3]);
    CHECK(r.R[0] == 1.f && r.R[2] == 1.f && r.R[3] == 1.f);
    soma_cl_result_free(&r);
    soma_task_stream_free(s);
    soma_dataset_free(tr);
    /* feedback alignment on the Gaussian split of test_sleep: sleep consolidates task 0 */
    soma_dataset *te;
    CHECK_OK(soma_dataset_synthetic("gauss", 400, 8, 4, 3.f, 21, &tr));
    CHECK_OK(soma_dataset_synthetic("gauss", 200, 8, 4, 3.f, 22, &te));
    CHECK_OK(soma_task_stream_split(tr, te, 2, SOMA_CL_CLASS, &s));
    float r10[2];
    for (int k = 0; k < 2; k++) {
        soma_net *net;
        soma_rule *rule;
        soma_optim *opt;
        CHECK_OK(soma_net_new(&net, "fc32,relu,fc4", tr->shape, 7));
        soma_rule_opts ro = soma_rule_opts_default();
        ro.kind = SOMA_RULE_FA;
        CHECK_OK(soma_rule_new(&rule, net, &ro));
        soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_ADAM);
        CHECK_OK(soma_optim_new(&opt, net, &oc));
        soma_train_config cfg = soma_train_defaults();
        cfg.epochs = 3;
        cfg.batch = 16;
        cfg.sched.lr = 0.01f;
        cfg.seed = 7;
        cfg.quiet = 1;
        o = cls_opts_();
        o.cls_answer = SOMA_CLS_ANSWER_SLOW;
        o.cls_sleep_lr = 0.05f;
        o.cls_sleep_steps = 200;
        o.cls_sleep_every = k ? 0 : -1;
        CHECK_OK(soma_cl_run(net, rule, opt, s, &o, &cfg, NULL, NULL, &r));
        r10[k] = r.R[2];
        soma_cl_result_free(&r);
        soma_optim_free(opt);
        soma_rule_free(rule);
        soma_net_free(net);
    }
    printf("feedback alignment, slow net on task 0 after task 1: no sleep %.3f, sleep %.3f\n", r10[0], r10[1]);
    CHECK(r10[1] > r10[0] + 0.3f);
    soma_dataset_free(te);
    soma_task_stream_free(s);
    soma_dataset_free(tr);
}

// --- the ab-ac experiment's headline at reduced size -------------------------------------------

static void test_ab_ac_reduced(void) {
    const soma_experiment *e = soma_exp_find("ab-ac");
    CHECK(e != NULL);
    if (!e) return;
    CHECK(scratch_init("cl_cls_exp"));
    cJSON *r = NULL;
    const char *extra[] = {"--threads", "1"};
    CHECK_OK(soma_exp_run_reduced(e, 2, extra, scratch_path(""), &r));
    const cJSON *ours = cJSON_GetObjectItemCaseSensitive(r, "ours");
    const cJSON *ret = cJSON_GetObjectItemCaseSensitive(ours, "ab_retained");
    printf("ab-ac reduced: A-B retained plain %.3f, cls %.3f, cls slow net %.3f; A-C learned plain %.3f, cls %.3f\n",
           num_(ret, "plain"), num_(ret, "cls"), num_(ret, "cls_slow"), num_(ours, "ac_learned_plain"),
           num_(ours, "ac_learned_cls"));
    /* both learned A-B first and A-C by the end; the plain net lost A-B, the CLS model kept it */
    CHECK(num_(ours, "ab_learned_plain") == 1.0 && num_(ours, "ab_learned_cls") == 1.0);
    CHECK(num_(ours, "ac_learned_plain") >= 0.9 && num_(ours, "ac_learned_cls") >= 0.9);
    CHECK(num_(ret, "plain") <= 0.2 && num_(ours, "ab_retained_plain") == num_(ret, "plain"));
    CHECK(num_(ret, "cls") >= 0.8 && num_(ours, "ab_retained_cls") == num_(ret, "cls"));
    const cJSON *pl = cJSON_GetObjectItemCaseSensitive(ours, "plain");
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(pl, "ab_recall")) == 11); /* before + 10 A-C trials */
    /* the store: 20 passes of A-B and 10 of A-C, 8 pairs of 30 inputs (stimulus + context), input keys */
    CHECK(num_(cJSON_GetObjectItemCaseSensitive(ours, "cls"), "memory_bytes") == 240.0 * ((30 + 30) * 4 + 8));
    struct stat sb;
    char path[1200];
    snprintf(path, sizeof path, "%s/ab-ac/ab_ac.svg", scratch_path(""));
    CHECK(stat(path, &sb) == 0 && sb.st_size > 1000);
    cJSON_Delete(r);
    scratch_remove();
}

int main(void) {
    soma_set_threads(1);
    test_readout_numpy();
    test_store_capacity();
    test_one_shot();
    test_sleep();
    test_layer_keys_and_rules();
    test_ab_ac_reduced();
    return check_report("test_cl_cls");
}
