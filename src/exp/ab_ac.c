// ab-ac: McCloskey & Cohen's (1989) paired associates. A network learns list A-B (each A
// stimulus with a list-context input gives response B), then list A-C (the same A stimuli, the
// A-C context, new responses C). Trained on A-C alone, a plain network loses A-B almost
// entirely within a few passes (catastrophic interference); people lose it gradually (Barnes &
// Underwood 1959: about half is left after 20 A-C trials). The complementary-learning-systems
// model (McClelland, McNaughton & O'Reilly 1995) keeps it: its one-shot episodic store answers
// the A-B probes, and sleep replay of the store into the slow net interleaves A-B with A-C.
//
// Both models run as soma_cl_run over one task stream: task 0 is list A-B presented ab-reps
// times (the first list learned to criterion), then one task a pass of list A-C; after each
// task both lists are tested, so R[k][0] is A-B recall after k A-C trials and R[k][1] A-C's.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/cl_common.h"
#include "exp/internal.h"
#include "soma/io.h"
#include "soma/learn.h"
#include "soma/plot.h"

static const soma_opt opts_[] = {
    {"pairs", SOMA_OPT_INT, "8", 2, 1000, NULL, "pairs a list (McCloskey & Cohen: 8)", 0},
    {"stim-dim", SOMA_OPT_INT, "20", 2, 10000, NULL, "units of an A stimulus (random binary, half on)", 0},
    {"ctx-dim", SOMA_OPT_INT, "10", 1, 10000, NULL, "units of the list context (random binary, half on)", 0},
    {"ab-reps", SOMA_OPT_INT, "20", 1, 100000, NULL, "passes over list A-B before the A-C phase", 0},
    {"ac-trials", SOMA_OPT_INT, "20", 1, 1000, NULL, "passes over list A-C (one task each; Barnes & Underwood: 20)", 1},
    {"hidden", SOMA_OPT_STR, "fc64,relu", 0, 0, NULL, "hidden layers of the network (the output layer is appended)", 0},
    {"lr", SOMA_OPT_FLOAT, "0.1", 1e-6, 10, NULL, "SGD learning rate (wake, and sleep)", 0},
    {"batch", SOMA_OPT_INT, "1", 1, 1000, NULL, "mini-batch (1: one pair a step, as the original)", 0},
    {"sleep-steps", SOMA_OPT_INT, "40", 0, 1000000, NULL, "CLS: sleep replay steps after each task", 0},
    {"beta", SOMA_OPT_FLOAT, "50", 1e-3, 1e6, NULL, "CLS: the store's inverse temperature", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

/* Barnes & Underwood (1959), exp. 1 (MMFR), as re-plotted by McCloskey & Cohen (1989, Fig. 3a):
 * the fraction of A-B and A-C responses recalled after 1, 5, 10 and 20 A-C trials. The shape
 * only: the intermediate points are approximate (recalled from the figure, not measured off
 * it); the end point, about half of A-B after 20 A-C trials, is the published summary. */
static const float human_trials_[4] = {1, 5, 10, 20};
static const float human_ab_[4] = {0.84f, 0.70f, 0.62f, 0.50f};
static const float human_ac_[4] = {0.45f, 0.80f, 0.90f, 0.95f};

static const soma_exp_landmark landmarks_[] = {
    {"plain network (fine-tuning on A-C): A-B recall after the A-C phase (catastrophic interference)",
     "McCloskey & Cohen 1989", "https://doi.org/10.1016/S0079-7421(08)60536-8", "ab_retained_plain", SOMA_EXP_AT_MOST, 0.2},
    {"complementary learning systems: A-B recall after the A-C phase (issue 10's bar)",
     "McClelland, McNaughton & O'Reilly 1995", "https://doi.org/10.1037/0033-295X.102.3.419", "ab_retained_cls",
     SOMA_EXP_AT_LEAST, 0.8},
    {"people keep about half of A-B after 20 A-C trials (the CLS model keeps at least as much)",
     "Barnes & Underwood 1959", "https://doi.org/10.1037/h0047507", "ab_retained_cls", SOMA_EXP_AT_LEAST, 0.5},
    {NULL, NULL, NULL, NULL, 0, 0},
};

static const char *const reduced_[] = {"--ac-trials", "10", NULL};

static soma_status check_(const soma_exp_ctx *c) {
    const char *h = soma_args_str(&c->args, "hidden");
    if (!h || !h[0]) return soma_error(SOMA_ERR_ARG, "ab-ac: --hidden is empty");
    return SOMA_OK;
}

/* A list: pairs rows of [stimulus, context] with labels offset + i, repeated reps times. */
static soma_dataset *list_(const float *stim, const float *ctx, int pairs, int sd, int cd, int offset, int reps,
                           int K, const char *name) {
    soma_dataset *d = soma_calloc(1, sizeof *d);
    if (!d) return NULL;
    const int dim = sd + cd, n = pairs * reps;
    snprintf(d->name, sizeof d->name, "%s", name);
    d->n = n;
    d->shape = soma_shape1(dim);
    d->dim = (size_t)dim;
    d->n_classes = K;
    d->scale = 1.f;
    d->y_len = 1;
    d->x_f32 = soma_alloc((size_t)n, (size_t)dim * sizeof(float));
    d->y = soma_alloc((size_t)n, sizeof(int));
    if (!d->x_f32 || !d->y) {
        soma_dataset_free(d);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        const int p = i % pairs;
        memcpy(d->x_f32 + (size_t)i * dim, stim + (size_t)p * sd, (size_t)sd * sizeof(float));
        memcpy(d->x_f32 + (size_t)i * dim + sd, ctx, (size_t)cd * sizeof(float));
        d->y[i] = offset + p;
    }
    return d;
}

/* Random binary patterns, each with exactly half (rounded down, at least 1) of its units on. */
static void patterns_(soma_rng *r, float *x, int n, int d) {
    const int on = d / 2 > 0 ? d / 2 : 1;
    for (int i = 0; i < n; i++) {
        float *p = x + (size_t)i * d;
        for (int j = 0; j < d; j++) p[j] = j < on ? 1.f : 0.f;
        for (int j = d - 1; j > 0; j--) { /* Fisher-Yates */
            const int k = (int)soma_rng_below(r, (uint64_t)j + 1);
            const float t = p[j];
            p[j] = p[k];
            p[k] = t;
        }
    }
}

/* Task 0: list A-B (ab_reps passes); tasks 1..ac_trials: one pass of list A-C. One head of
 * 2 * pairs responses (B then C). */
static soma_status stream_(uint64_t seed, int pairs, int sd, int cd, int ab_reps, int trials, soma_task_stream **out) {
    *out = NULL;
    const int T = 1 + trials, K = 2 * pairs;
    soma_rng r;
    soma_rng_seed(&r, seed, 0xABACULL);
    float *stim = soma_alloc((size_t)pairs, (size_t)sd * sizeof(float)), *ctx = soma_alloc(2, (size_t)cd * sizeof(float));
    soma_task_stream *s = soma_calloc(1, sizeof *s);
    soma_status st = stim && ctx && s ? SOMA_OK : SOMA_ERR_NOMEM;
    if (st == SOMA_OK) {
        patterns_(&r, stim, pairs, sd);
        patterns_(&r, ctx, 2, cd);
        snprintf(s->name, sizeof s->name, "ab-ac");
        s->scenario = SOMA_CL_DOMAIN;
        s->n_tasks = T;
        s->classes_per_task = K;
        s->n_outputs = K;
        s->train = soma_calloc((size_t)T, sizeof *s->train);
        s->test = soma_calloc((size_t)T, sizeof *s->test);
        s->classes = soma_alloc((size_t)T * K, sizeof(int));
        if (!s->train || !s->test || !s->classes) st = SOMA_ERR_NOMEM;
    }
    for (int t = 0; st == SOMA_OK && t < T; t++) {
        const int ac = t > 0;
        s->train[t] = list_(stim, ctx + (size_t)ac * cd, pairs, sd, cd, ac * pairs, ac ? 1 : ab_reps, K, ac ? "A-C" : "A-B");
        s->test[t] = list_(stim, ctx + (size_t)ac * cd, pairs, sd, cd, ac * pairs, 1, K, ac ? "A-C" : "A-B");
        for (int j = 0; j < K; j++) s->classes[(size_t)t * K + j] = j;
        if (!s->train[t] || !s->test[t]) st = SOMA_ERR_NOMEM;
    }
    soma_free(stim);
    soma_free(ctx);
    if (st != SOMA_OK) {
        soma_task_stream_free(s);
        return st;
    }
    *out = s;
    return SOMA_OK;
}

enum { M_PLAIN, M_CLS, M_SLOW, M_COUNT };
static const char *const mnames_[M_COUNT] = {"plain", "cls", "cls_slow"};
static const char *const mlabels_[M_COUNT] = {"plain network", "CLS (store + slow net)", "CLS slow net alone"};

static soma_status run_(soma_exp_ctx *c) {
    int pairs, sd, cd, reps, trials, batch, sleep;
    float lr, beta;
    SOMA_TRY(soma_args_int(&c->args, "pairs", &pairs));
    SOMA_TRY(soma_args_int(&c->args, "stim-dim", &sd));
    SOMA_TRY(soma_args_int(&c->args, "ctx-dim", &cd));
    SOMA_TRY(soma_args_int(&c->args, "ab-reps", &reps));
    SOMA_TRY(soma_args_int(&c->args, "ac-trials", &trials));
    SOMA_TRY(soma_args_int(&c->args, "batch", &batch));
    SOMA_TRY(soma_args_int(&c->args, "sleep-steps", &sleep));
    SOMA_TRY(soma_args_float(&c->args, "lr", &lr));
    SOMA_TRY(soma_args_float(&c->args, "beta", &beta));
    char net[600];
    snprintf(net, sizeof net, "%s,fc%d", soma_args_str(&c->args, "hidden"), 2 * pairs);
    soma_task_stream *s;
    SOMA_TRY(stream_(c->seed, pairs, sd, cd, reps, trials, &s));
    const int T = s->n_tasks;
    soma_cl_result res[M_COUNT];
    memset(res, 0, sizeof res);
    float *curve = soma_alloc((size_t)M_COUNT * 2, (size_t)T * sizeof(float)), *x = soma_alloc((size_t)T, sizeof(float));
    soma_fig *f = NULL;
    soma_status st = curve && x ? SOMA_OK : SOMA_ERR_NOMEM;
    for (int m = 0; m < M_COUNT && st == SOMA_OK; m++) {
        soma_cl_opts o = soma_cl_opts_default();
        o.seed = c->seed;
        if (m != M_PLAIN) {
            o.method = SOMA_CL_CLS;
            o.cls_keys = SOMA_CLS_KEYS_INPUT;
            o.cls_beta = beta;
            o.cls_sleep_steps = sleep;
            o.cls_answer = m == M_SLOW ? SOMA_CLS_ANSWER_SLOW : SOMA_CLS_ANSWER_SYSTEM;
        }
        /* both models start from the same net (seed) and see the same batches */
        soma__cl_setup u = {.net = net, .rule = "bp", .optim = "sgd", .lr = lr, .epochs = 1, .batch = batch, .seed = c->seed, .quiet = 1};
        if ((st = soma__cl_run_one(s, &u, &o, &res[m])) != SOMA_OK) break;
        float *ab = curve + (size_t)m * 2 * T, *acr = ab + T;
        for (int k = 0; k < T; k++) {
            ab[k] = res[m].R[(size_t)k * T];
            acr[k] = res[m].R[(size_t)k * T + 1];
        }
        cJSON *mo = cJSON_AddObjectToObject(c->ours, mnames_[m]);
        soma_json_put_floats(mo, "ab_recall", ab, T);
        soma_json_put_floats(mo, "ac_recall", acr, T);
        soma_json_put_num(mo, "memory_bytes", (double)res[m].memory_bytes);
        soma_json_put_num(mo, "seconds", res[m].seconds);
        char key[64];
        snprintf(key, sizeof key, "ab_retained_%s", mnames_[m]);
        soma_exp_put(c, key, ab[T - 1]);
        snprintf(key, sizeof key, "ac_learned_%s", mnames_[m]);
        soma_exp_put(c, key, acr[T - 1]);
        snprintf(key, sizeof key, "ab_learned_%s", mnames_[m]);
        soma_exp_put(c, key, ab[0]);
    }
    if (st == SOMA_OK) {
        cJSON *ret = cJSON_AddObjectToObject(c->ours, "ab_retained");
        for (int m = 0; m < M_COUNT; m++) soma_json_put_num(ret, mnames_[m], curve[(size_t)m * 2 * T + T - 1]);
        cJSON *h = cJSON_AddObjectToObject(c->ours, "human_barnes_underwood_1959");
        soma_json_put_floats(h, "ac_trials", human_trials_, 4);
        soma_json_put_floats(h, "ab_recall", human_ab_, 4);
        soma_json_put_floats(h, "ac_recall", human_ac_, 4);
        soma_exp_put(c, "ac_trials", trials);
        soma_exp_put(c, "pairs", pairs);
        for (int k = 0; k < T; k++) x[k] = (float)k;
        st = soma_fig_new(&f, 1, 2, 1100, 420);
    }
    if (st == SOMA_OK) {
        soma_fig_title(f, "A-B, A-C paired associates: recall through the A-C phase");
        soma_fig_labels(f, 0, "A-B recall (the first list)", "A-C trials (passes over list A-C)", "fraction recalled");
        soma_fig_labels(f, 1, "A-C recall (the second list)", "A-C trials (passes over list A-C)", "fraction recalled");
        for (int p = 0; p < 2 && st == SOMA_OK; p++) {
            for (int m = 0; m < M_COUNT && st == SOMA_OK; m++) {
                soma_line_style ls = {m + 1, m == M_SLOW, 0, 0.f};
                st = soma_fig_line(f, p, x, curve + (size_t)m * 2 * T + (size_t)p * T, T, mlabels_[m], &ls);
            }
            soma_line_style hs = {SOMA_RGB(0x000000), 1, 1, 1.2f};
            if (st == SOMA_OK)
                st = soma_fig_line(f, p, human_trials_, p ? human_ac_ : human_ab_, 4,
                                   "people (Barnes & Underwood 1959, approx.)", &hs);
            soma_fig_ylim(f, p, 0, 1.05);
        }
        char path[1100];
        if (st == SOMA_OK) st = soma_fig_save(f, soma_exp_path(c, "ab_ac.svg", path, sizeof path));
    }
    if (st == SOMA_OK)
        snprintf(c->headline, sizeof c->headline,
                 "A-B recall after %d A-C trials: plain network %.2f, CLS %.2f (its slow net alone %.2f); people about "
                 "0.5 after 20\nA-C learned: plain %.2f, CLS %.2f",
                 trials, (double)curve[T - 1], (double)curve[2 * T + T - 1], (double)curve[4 * T + T - 1],
                 (double)curve[2 * T - 1], (double)curve[4 * T - 1]);
    soma_fig_free(f);
    for (int m = 0; m < M_COUNT; m++) soma_cl_result_free(&res[m]);
    soma_free(curve);
    soma_free(x);
    soma_task_stream_free(s);
    return st;
}

const soma_experiment soma__exp_ab_ac = {
    .name = "ab-ac",
    .summary = "A-B then A-C paired associates: a plain network forgets A-B catastrophically, the complementary-"
               "learning-systems model keeps it",
    .landmarks = landmarks_,
    .opts = opts_,
    .reduced_args = reduced_,
    .run = run_,
    .check = check_,
};
