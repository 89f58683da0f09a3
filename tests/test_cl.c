// Continual learning (src/learn/cl_*.c): the Fisher of a tiny net against PyTorch
// (tests/fixtures/cl, tests/ref/gen_cl.py), SI's path integral on a hand-computed two-step
// example, the metrics on a hand-computed accuracy matrix, the EWC penalty (exact merging of
// per-task penalties; its gradient by finite differences), reservoir sampling (chi-square),
// multi-head loss, prediction and training, task streams and their bad inputs, determinism by
// seed, and the permuted-fmnist experiment's headline at reduced size.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "dataset_util.h"
#include "json_util.h"
#include "fixture.h"
#include "scratch.h"
#include "soma/exp.h"
#include "soma/io.h"
#include "soma/learn.h"
#include "soma/nn.h"

static const char *const pnames_[4] = {"0.weight", "0.bias", "2.weight", "2.bias"};

/* A data set of n float samples of dim d with labels y (copied). */
// --- Fisher against PyTorch ------------------------------------------------------------

static void fisher_case_(soma_net *net, soma_rule *rule, const fixture *f, const soma_dataset *d, const char *c,
                         int batch, int ho, int hc, const int *labels) {
    size_t nv;
    soma_net_flat_values(net, &nv);
    float *F = soma_alloc(nv, sizeof(float));
    CHECK_OK(soma_cl_fisher(net, rule, d, 0, batch, SOMA_FISHER_EMPIRICAL, ho, hc, labels, NULL, F));
    const float *base = soma_net_flat_values(net, NULL);
    for (int i = 0; i < 4; i++) {
        const size_t at = (size_t)(soma_net_param(net, i)->value - base); /* blocks may be padded */
        char key[64], lab[80];
        snprintf(key, sizeof key, "%s.%s", c, pnames_[i]);
        snprintf(lab, sizeof lab, "fisher %s", key);
        const fixture_array *a = fixture_get(f, key);
        CHECK(a != NULL);
        if (a) CHECK_CLOSE(lab, F + at, a->data, a->n, 1e-6f, 1e-4f);
    }
    soma_free(F);
}

static void test_fisher_torch(void) {
    fixture f;
    if (fixture_load(check_src_path("tests/fixtures/cl/fisher.bin"), &f) != 0) {
        CHECK(0);
        return;
    }
    soma_net *net;
    CHECK_OK(soma_net_new(&net, "fc5,tanh,fc4", soma_shape1(4), 1));
    for (int i = 0; i < 4; i++) {
        const fixture_array *a = fixture_get(&f, pnames_[i]);
        soma_param *p = soma_net_param(net, i);
        CHECK(a && a->n == p->n);
        if (a && a->n == p->n) memcpy(p->value, a->data, p->n * sizeof(float));
    }
    const fixture_array *x = fixture_get(&f, "x"), *lab = fixture_get(&f, "labels"), *hl = fixture_get(&f, "head_labels"),
                        *fl = fixture_get(&f, "fixed_labels");
    const int n = f.n;
    int y[16], yh[16], yf[16];
    for (int i = 0; i < n; i++) {
        y[i] = (int)lab->data[i];
        yh[i] = (int)hl->data[i];
        yf[i] = (int)fl->data[i];
    }
    soma_dataset *d = mkdata_(x->data, y, n, 4, 4), *dh = mkdata_(x->data, yh, n, 4, 4);
    soma_rule *rule;
    CHECK_OK(soma_rule_backprop_new(&rule, SOMA_LOSS_XENT));
    fisher_case_(net, rule, &f, d, "emp1", 1, 0, 0, NULL);
    fisher_case_(net, rule, &f, d, "emp2", 2, 0, 0, NULL);
    fisher_case_(net, rule, &f, d, "fixed1", 1, 0, 0, yf);
    fisher_case_(net, rule, &f, dh, "head1", 1, 2, 2, NULL);

    /* the true Fisher draws labels from the model's softmax: on one sample repeated, its mean
     * approaches sum_k p_k F(label k) */
    size_t nv;
    soma_net_flat_values(net, &nv);
    const int R = 4000;
    float *xr = soma_alloc((size_t)R * 4, sizeof(float));
    int *yr = soma_calloc((size_t)R, sizeof(int));
    for (int i = 0; i < R; i++) memcpy(xr + i * 4, x->data, 4 * sizeof(float));
    soma_dataset *dr = mkdata_(xr, yr, R, 4, 4), *d1 = mkdata_(x->data, y, 1, 4, 4);
    float *Ft = soma_alloc(nv, sizeof(float)), *Fk = soma_alloc(nv, sizeof(float)), *Fe = soma_calloc(nv, sizeof(float));
    soma_rng rng;
    soma_rng_seed(&rng, 5, 0);
    CHECK_OK(soma_cl_fisher(net, rule, dr, 0, 1, SOMA_FISHER_TRUE, 0, 0, NULL, &rng, Ft));
    const float *out;
    CHECK_OK(soma_net_forward(net, x->data, 1, SOMA_MODE_EVAL, &out));
    double p[4], z = 0;
    for (int k = 0; k < 4; k++) z += p[k] = exp(out[k]);
    for (int k = 0; k < 4; k++) {
        int lk = k;
        CHECK_OK(soma_cl_fisher(net, rule, d1, 1, 1, SOMA_FISHER_EMPIRICAL, 0, 0, &lk, NULL, Fk));
        for (size_t i = 0; i < nv; i++) Fe[i] += (float)(p[k] / z) * Fk[i];
    }
    double num = 0, den = 0;
    for (size_t i = 0; i < nv; i++) {
        num += fabs(Ft[i] - Fe[i]);
        den += fabs(Fe[i]);
    }
    printf("true Fisher (4000 draws) vs its expectation: relative L1 error %.4f\n", num / den);
    CHECK(num / den < 0.08);
    /* bad input */
    CHECK_FAILS(soma_cl_fisher(net, rule, d, 0, 1, SOMA_FISHER_TRUE, 0, 0, NULL, NULL, Ft), SOMA_ERR_ARG);
    CHECK_FAILS(soma_cl_fisher(net, rule, d, 0, 1, SOMA_FISHER_TRUE, 3, 2, NULL, &rng, Ft), SOMA_ERR_ARG);
    /* labels outside the outputs or the head: an error, not an abort in the loss */
    int bad = 4;
    CHECK_FAILS(soma_cl_fisher(net, rule, d1, 1, 1, SOMA_FISHER_EMPIRICAL, 0, 0, &bad, NULL, Fk), SOMA_ERR_ARG);
    bad = -2;
    CHECK_FAILS(soma_cl_fisher(net, rule, d1, 1, 1, SOMA_FISHER_EMPIRICAL, 0, 0, &bad, NULL, Fk), SOMA_ERR_ARG);
    bad = 1;
    CHECK_FAILS(soma_cl_fisher(net, rule, d1, 1, 1, SOMA_FISHER_EMPIRICAL, 2, 2, &bad, NULL, Fk), SOMA_ERR_ARG);
    CHECK_OK(soma_cl_fisher(net, rule, d1, 1, 1, SOMA_FISHER_EMPIRICAL, 0, 2, &bad, NULL, Fk));
    soma_free(xr);
    soma_free(yr);
    soma_free(Ft);
    soma_free(Fk);
    soma_free(Fe);
    soma_dataset_free(dr);
    soma_dataset_free(d1);
    soma_dataset_free(d);
    soma_dataset_free(dh);
    soma_rule_free(rule);
    soma_net_free(net);
    fixture_free(&f);
}

// --- SI: a hand-computed two-step path integral ------------------------------------------

static void test_si_two_steps(void) {
    soma_net *net;
    CHECK_OK(soma_net_new(&net, "fc1", soma_shape1(1), 1));
    soma_rule *rule;
    CHECK_OK(soma_rule_backprop_new(&rule, SOMA_LOSS_XENT));
    soma_cl_opts o = soma_cl_opts_default();
    o.method = SOMA_CL_SI;
    o.si_c = 0.5f;
    o.si_xi = 0.1f;
    float *th = soma_net_flat_values(net, NULL);
    soma_param *pw = soma_net_param(net, 0), *pb = soma_net_param(net, 1);
    const size_t iw = (size_t)(pw->value - th), ib = (size_t)(pb->value - th); /* blocks may be padded */
    pw->value[0] = 1.f;
    pb->value[0] = 0.f;
    soma_cl_method *m;
    CHECK_OK(soma_cl_method_new(&m, net, rule, &o, 10, 1));
    soma_train_config cfg = soma_train_defaults();
    soma_cl_method_attach(m, &cfg, 0, 0, 0);
    CHECK(cfg.hooks.after_grad && cfg.hooks.after_step && cfg.hooks.task_end);
    /* two SGD steps of lr 0.1 with gradients (0.5, -1) and (0.2, 0.4) */
    const float gs[2][2] = {{0.5f, -1.f}, {0.2f, 0.4f}};
    for (int s = 0; s < 2; s++) {
        soma_net_zero_grad(net);
        pw->grad[0] = gs[s][0];
        pb->grad[0] = gs[s][1];
        float loss = 0.f;
        CHECK_OK(cfg.hooks.after_grad(cfg.hooks.user, net, s, &loss));
        CHECK(loss == 0.f && pw->grad[0] == gs[s][0]); /* nothing consolidated yet: no penalty */
        pw->value[0] -= 0.1f * pw->grad[0];
        pb->value[0] -= 0.1f * pb->grad[0];
        CHECK_OK(cfg.hooks.after_step(cfg.hooks.user, net, s, 0.1f));
    }
    soma_dataset *d = soma_calloc(1, sizeof *d); /* SI's task end does not read the data */
    CHECK_OK(cfg.hooks.task_end(cfg.hooks.user, net, 0, d));
    soma_free(d);
    /* by hand: w = sum -g * dtheta = 0.1 * sum g^2: 0.1 * (0.25 + 0.04) = 0.029 and
     * 0.1 * (1 + 0.16) = 0.116; displacements -0.07 and 0.06; Omega = w / (D^2 + 0.1) */
    const float want[2] = {0.029f / (0.0049f + 0.1f), 0.116f / (0.0036f + 0.1f)};
    const float *om = soma_cl_si_omega(m);
    CHECK(om != NULL);
    if (om) {
        const float got[2] = {om[iw], om[ib]};
        CHECK_CLOSE("SI omega", got, want, 2, 1e-6f, 1e-4f);
    }
    /* the penalty c sum Omega (theta - theta~)^2 around the anchor theta~ = (0.93, 0.06) */
    pw->value[0] = 0.93f + 0.2f;
    pb->value[0] = 0.06f - 0.1f;
    size_t nv;
    soma_net_flat_values(net, &nv);
    float *grad = soma_calloc(nv, sizeof(float)); /* the flat block's length */
    double pen = soma_cl_method_penalty(m, net, grad);
    const double wp = 0.5 * (want[0] * 0.04 + want[1] * 0.01);
    CHECK(fabs(pen - wp) < 1e-5);
    const float wg[2] = {2 * 0.5f * want[0] * 0.2f, 2 * 0.5f * want[1] * -0.1f};
    const float gg[2] = {grad[iw], grad[ib]};
    CHECK_CLOSE("SI penalty gradient", gg, wg, 2, 1e-5f, 1e-4f);
    CHECK(soma_cl_method_memory(m) == 5 * nv * sizeof(float));
    soma_free(grad);
    soma_cl_method_free(m);
    soma_rule_free(rule);
    soma_net_free(net);
}

// --- metrics ------------------------------------------------------------------------------

static void test_metrics(void) {
    const float R[9] = {0.9f, 0.1f, 0.2f, 0.7f, 0.8f, 0.3f, 0.6f, 0.7f, 0.9f};
    const float b[3] = {0.1f, 0.05f, 0.1f};
    soma_cl_metrics m;
    soma_cl_metrics_compute(R, b, 3, &m);
    /* acc (0.6 + 0.7 + 0.9) / 3; bwt ((0.6 - 0.9) + (0.7 - 0.8)) / 2; fwt ((0.1 - 0.05) +
     * (0.3 - 0.1)) / 2; forgetting ((0.9 - 0.6) + (0.8 - 0.7)) / 2 */
    CHECK(fabs(m.acc - 2.2 / 3) < 1e-6);
    CHECK(fabs(m.bwt - -0.2) < 1e-6);
    CHECK(fabs(m.fwt - 0.125) < 1e-6);
    CHECK(fabs(m.forgetting - 0.2) < 1e-6);
    /* forgetting takes the best accuracy before the end, not the one just after learning */
    const float R2[4] = {0.5f, 0.2f, 0.4f, 0.9f};
    soma_cl_metrics_compute(R2, NULL, 2, &m);
    CHECK(fabs(m.forgetting - 0.1) < 1e-6 && fabs(m.bwt - -0.1) < 1e-6 && isnan(m.fwt));
    soma_cl_metrics_compute(R, b, 1, &m);
    CHECK(fabs(m.acc - 0.9) < 1e-6 && isnan(m.bwt) && isnan(m.forgetting));
}

// --- EWC: exact merging and the penalty's gradient ------------------------------------------

static void test_ewc_penalty(void) {
    soma_net *net;
    CHECK_OK(soma_net_new(&net, "fc5,tanh,fc3", soma_shape1(4), 3));
    soma_rule *rule;
    CHECK_OK(soma_rule_backprop_new(&rule, SOMA_LOSS_XENT));
    size_t nv;
    float *th = soma_net_flat_values(net, &nv), *g = soma_net_flat_grads(net, NULL);
    float x[40];
    int y[10];
    soma_rng r;
    soma_rng_seed(&r, 9, 0);
    soma_rng_normal_fill(&r, x, 40, 0.f, 1.f);
    for (int i = 0; i < 10; i++) y[i] = i % 3;
    soma_dataset *d = mkdata_(x, y, 10, 4, 3);
    for (int method = SOMA_CL_EWC; method <= SOMA_CL_ONLINE_EWC; method++) {
        soma_cl_opts o = soma_cl_opts_default();
        o.method = (soma_cl_method_kind)method;
        o.ewc_lambda = 3.f;
        o.ewc_gamma = 0.5f;
        o.fisher = SOMA_FISHER_EMPIRICAL;
        o.fisher_samples = 0;
        soma_cl_method *m;
        CHECK_OK(soma_cl_method_new(&m, net, rule, &o, 10, 4));
        soma_train_config cfg = soma_train_defaults();
        /* three task ends at three parameter vectors, each with its own Fisher */
        float *F[3], *star[3];
        float *keep = soma_alloc(nv, sizeof(float));
        memcpy(keep, th, nv * sizeof(float));
        for (int t = 0; t < 3; t++) {
            for (size_t i = 0; i < nv; i++) th[i] = keep[i] + 0.3f * (float)soma_rng_normal(&r);
            F[t] = soma_alloc(nv, sizeof(float));
            star[t] = soma_alloc(nv, sizeof(float));
            CHECK_OK(soma_cl_fisher(net, rule, d, 0, 1, SOMA_FISHER_EMPIRICAL, 0, 0, NULL, NULL, F[t]));
            memcpy(star[t], th, nv * sizeof(float));
            soma_cl_method_attach(m, &cfg, t, 0, 0);
            CHECK_OK(cfg.hooks.task_end(cfg.hooks.user, net, t, d));
        }
        for (size_t i = 0; i < nv; i++) th[i] = keep[i] + 0.2f * (float)soma_rng_normal(&r);
        /* the penalty against its definition: EWC sum_t lambda/2 F_t (theta - theta*_t)^2;
         * online: lambda/2 (gamma^2 F_0 + gamma F_1 + F_2) (theta - theta*_2)^2 */
        double want = 0.0;
        for (size_t i = 0; i < nv; i++) {
            if (method == SOMA_CL_EWC)
                for (int t = 0; t < 3; t++) want += 1.5 * F[t][i] * (double)(th[i] - star[t][i]) * (th[i] - star[t][i]);
            else
                want += 1.5 * (0.25 * F[0][i] + 0.5 * F[1][i] + F[2][i]) * (double)(th[i] - star[2][i]) *
                        (th[i] - star[2][i]);
        }
        memset(g, 0, nv * sizeof(float));
        double pen = soma_cl_method_penalty(m, net, g);
        printf("%s penalty %.6g, by definition %.6g\n", soma_cl_method_name(o.method), pen, want);
        CHECK(want > 0 && fabs(pen - want) <= 1e-4 * want + 1e-7);
        /* its gradient by central differences (the penalty is quadratic: exact up to rounding) */
        float *fd = soma_alloc(nv, sizeof(float));
        for (size_t i = 0; i < nv; i++) {
            const float t0 = th[i], h = 1e-2f;
            th[i] = t0 + h;
            double up = soma_cl_method_penalty(m, net, NULL);
            th[i] = t0 - h;
            double dn = soma_cl_method_penalty(m, net, NULL);
            th[i] = t0;
            fd[i] = (float)((up - dn) / (2.0 * h));
        }
        CHECK_CLOSE("EWC penalty gradient vs finite differences", g, fd, nv, 1e-5f, 2e-3f);
        /* the after_grad hook adds the penalty to the loss and its gradient to the grads */
        memset(g, 0, nv * sizeof(float));
        float loss = 1.f;
        CHECK_OK(cfg.hooks.after_grad(cfg.hooks.user, net, 0, &loss));
        CHECK(fabs(loss - (1.0 + pen)) < 1e-4 * (1 + pen));
        CHECK_CLOSE("after_grad adds the penalty gradient", g, fd, nv, 1e-5f, 2e-3f);
        CHECK(soma_cl_method_memory(m) == 2 * nv * sizeof(float));
        for (int t = 0; t < 3; t++) {
            soma_free(F[t]);
            soma_free(star[t]);
        }
        soma_free(fd);
        memcpy(th, keep, nv * sizeof(float));
        soma_free(keep);
        soma_cl_method_free(m);
    }
    soma_dataset_free(d);
    soma_rule_free(rule);
    soma_net_free(net);
}

// --- reservoir sampling is uniform ------------------------------------------------------

static void test_reservoir(void) {
    soma_net *net;
    CHECK_OK(soma_net_new(&net, "fc2", soma_shape1(1), 1));
    const int N = 400, M = 40, reps = 500;
    long *count = soma_calloc((size_t)N, sizeof(long));
    for (int rep = 0; rep < reps; rep++) {
        soma_cl_opts o = soma_cl_opts_default();
        o.method = SOMA_CL_REPLAY;
        o.buffer = M;
        o.seed = 1000 + (uint64_t)rep;
        soma_cl_method *m;
        CHECK_OK(soma_cl_method_new(&m, net, NULL, &o, N, 1));
        for (int i = 0; i < N; i++) {
            float v = (float)i;
            soma_cl_replay_offer(m, &v, i % 2, i);
        }
        int n;
        const float *x;
        const int *lab;
        const long *ids;
        CHECK_OK(soma_cl_replay_buffer(m, &n, &x, &lab, &ids));
        CHECK(n == M);
        for (int k = 0; k < n; k++) {
            CHECK(x[k] == (float)ids[k] && lab[k] == ids[k] % 2);
            count[ids[k]]++;
        }
        if (rep == 0) CHECK(soma_cl_method_memory(m) == (size_t)M * (sizeof(float) + sizeof(int) + sizeof(long)));
        soma_cl_method_free(m);
    }
    /* each item is kept with probability M / N: chi-square over N cells, N - 1 degrees of
     * freedom (mean 399, sd 28): within 4 sd, first items no likelier than last ones */
    const double e = (double)reps * M / N;
    double chi = 0, first = 0, last = 0;
    for (int i = 0; i < N; i++) {
        chi += (count[i] - e) * (count[i] - e) / e;
        if (i < N / 4) first += count[i];
        if (i >= N - N / 4) last += count[i];
    }
    /* a buffer holds exactly M items: each cell's variance is e (1 - M/N), so scale it out */
    chi /= 1.0 - (double)M / N;
    printf("reservoir: chi-square %.1f (df %d); first quarter %.0f, last %.0f, expected %.0f each\n", chi, N - 1, first,
           last, e * N / 4);
    CHECK(chi > 399 - 4 * 28.2 && chi < 399 + 4 * 28.2);
    CHECK(fabs(first - last) < 0.1 * e * N / 4);
    soma_free(count);
    soma_cl_opts o = soma_cl_opts_default();
    o.method = SOMA_CL_REPLAY;
    o.buffer = 1L << 40;
    soma_cl_method *m;
    CHECK_FAILS(soma_cl_method_new(&m, net, NULL, &o, 10, 784), SOMA_ERR_ARG);
    o.buffer = 0;
    o.buffer_frac = 0;
    CHECK_FAILS(soma_cl_method_new(&m, net, NULL, &o, 10, 784), SOMA_ERR_ARG);
    o = soma_cl_opts_default();
    o.ewc_lambda = -1;
    CHECK_FAILS(soma_cl_method_new(&m, net, NULL, &o, 10, 784), SOMA_ERR_ARG);
    o = soma_cl_opts_default();
    o.si_xi = 0;
    CHECK_FAILS(soma_cl_method_new(&m, net, NULL, &o, 10, 784), SOMA_ERR_ARG);
    soma_net_free(net);
}

// --- multi-head outputs -----------------------------------------------------------------

static void test_heads(void) {
    soma_net *net;
    CHECK_OK(soma_net_new(&net, "fc4", soma_shape1(3), 2));
    soma_rule *rule;
    CHECK_OK(soma_rule_backprop_new(&rule, SOMA_LOSS_XENT));
    const float x[6] = {0.5f, -1.f, 2.f, 1.f, 0.3f, -0.7f};
    const int y[2] = {3, 2};
    const float *out;
    CHECK_OK(soma_net_forward(net, x, 2, SOMA_MODE_EVAL, &out));
    float logit[8];
    memcpy(logit, out, sizeof logit);
    /* the loss over head [2, 4) only, by hand */
    double want = 0;
    for (int i = 0; i < 2; i++) {
        double z = exp(logit[i * 4 + 2]) + exp(logit[i * 4 + 3]);
        want += -(logit[i * 4 + y[i]] - log(z));
    }
    want /= 2;
    soma_target t = {.labels = y, .positions = 1, .head_offset = 2, .head_count = 2};
    float loss;
    int correct;
    CHECK_OK(soma_rule_loss(rule, logit, 4, &t, 2, &loss, &correct));
    CHECK(fabs(loss - want) < 1e-5);
    /* no gradient outside the head */
    CHECK(rule->dy[0] == 0.f && rule->dy[1] == 0.f && rule->dy[4] == 0.f && rule->dy[5] == 0.f);
    CHECK(rule->dy[2] != 0.f && rule->dy[7] != 0.f);
    CHECK(fabs(rule->dy[2] + rule->dy[3]) < 1e-6); /* softmax minus one-hot sums to 0 over the head */
    /* raising the logits outside the head changes nothing; inside, it does */
    float big[8];
    memcpy(big, logit, sizeof big);
    big[0] += 50.f;
    big[5] += 50.f;
    float l2;
    CHECK_OK(soma_rule_loss(rule, big, 4, &t, 2, &l2, NULL));
    CHECK(l2 == loss);
    /* the head by label: row 0 (label 3) uses [2, 4), row 1 (label 0) [0, 2) */
    const int yb[2] = {3, 0};
    soma_target tb = {.labels = yb, .positions = 1, .head_offset = SOMA_HEAD_BY_LABEL, .head_count = 2};
    CHECK_OK(soma_rule_loss(rule, logit, 4, &tb, 2, &loss, NULL));
    double w2 = -(logit[3] - log(exp(logit[2]) + exp(logit[3]))) - (logit[4] - log(exp(logit[4]) + exp(logit[5])));
    CHECK(fabs(loss - w2 / 2) < 1e-5);
    /* a label outside the active head is an error, not a crash */
    const int ybad[2] = {0, 3};
    soma_target tbad = {.labels = ybad, .positions = 1, .head_offset = 2, .head_count = 2};
    CHECK_FAILS(soma_rule_loss(rule, logit, 4, &tbad, 2, &loss, NULL), SOMA_ERR_ARG);
    tbad.head_offset = 3;
    CHECK_FAILS(soma_rule_loss(rule, logit, 4, &tbad, 2, &loss, NULL), SOMA_ERR_ARG);
    /* prediction within the head: make output 0 the largest, the head must ignore it */
    soma_param *b = soma_net_param(net, 1);
    b->value[0] = 100.f;
    int pred[2], pall[2];
    CHECK_OK(soma_rule_predict(rule, net, x, 2, 1, pall));
    CHECK(pall[0] == 0 && pall[1] == 0);
    CHECK_OK(soma_rule_predict_head(rule, net, x, 2, 1, 2, 2, NULL, pred));
    CHECK(pred[0] >= 2 && pred[1] >= 2);
    CHECK_OK(soma_rule_predict_head(rule, net, x, 2, 1, SOMA_HEAD_BY_LABEL, 2, yb, pred));
    CHECK(pred[0] >= 2 && pred[1] == 0); /* row 1's head is [0, 2): unit 0 wins it */
    b->value[0] = 0.f;

    /* training through a head leaves the other outputs' weights untouched (plain SGD) */
    float xs[60];
    int ys[20];
    soma_rng r;
    soma_rng_seed(&r, 4, 0);
    soma_rng_normal_fill(&r, xs, 60, 0.f, 1.f);
    for (int i = 0; i < 20; i++) ys[i] = 2 + (xs[i * 3] > 0);
    soma_dataset *d = mkdata_(xs, ys, 20, 3, 4);
    soma_param *w = soma_net_param(net, 0);
    float w0[12];
    memcpy(w0, w->value, sizeof w0);
    soma_optim *opt;
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_SGD);
    CHECK_OK(soma_optim_new(&opt, net, &oc));
    soma_train_config cfg = soma_train_defaults();
    cfg.epochs = 20;
    cfg.batch = 5;
    cfg.sched.lr = 0.5f;
    cfg.quiet = 1;
    cfg.head_offset = 2;
    cfg.head_count = 2;
    soma_train_log log = {0};
    CHECK_OK(soma_train(net, rule, opt, d, d, &cfg, &log));
    CHECK(memcmp(w->value, w0, 6 * sizeof(float)) == 0);      /* rows 0 and 1 */
    CHECK(memcmp(w->value + 6, w0 + 6, 6 * sizeof(float)) != 0); /* rows 2 and 3 learned */
    float acc, acc_all;
    CHECK_OK(soma_evaluate_head(net, rule, d, 100, 2, 2, &acc, NULL));
    CHECK(acc >= 0.9f && fabs(acc - log.test_acc[19]) < 1e-6);
    /* with rows 0/1 raised above the head, the whole output gets every sample wrong */
    b->value[0] = 100.f;
    CHECK_OK(soma_evaluate_rule(net, rule, d, 100, &acc_all, NULL));
    CHECK_OK(soma_evaluate_head(net, rule, d, 100, 2, 2, &acc, NULL));
    CHECK(acc_all == 0.f && acc >= 0.9f);
    soma_train_log_free(&log);
    soma_optim_free(opt);
    soma_dataset_free(d);
    soma_rule_free(rule);
    soma_net_free(net);
}

// --- the batch hook --------------------------------------------------------------------

typedef struct bh_state {
    long calls;
    int rows;
} bh_state;

static soma_status bh_(void *user, soma_net *net, long step, float *x, int *labels, float *values, int n, int *n_extra) {
    (void)net;
    (void)step;
    (void)values;
    bh_state *s = user;
    s->calls++;
    for (int i = 0; i < 3; i++) { /* appends 3 copies of row 0 */
        memcpy(x + (size_t)(n + i) * 2, x, 2 * sizeof(float));
        labels[n + i] = labels[0];
    }
    *n_extra = 3;
    s->rows += n + 3;
    return SOMA_OK;
}

static void test_batch_hook(void) {
    float xs[40];
    int ys[20];
    for (int i = 0; i < 20; i++) {
        xs[2 * i] = (float)i;
        xs[2 * i + 1] = 1.f;
        ys[i] = i % 2;
    }
    soma_dataset *d = mkdata_(xs, ys, 20, 2, 2);
    soma_net *net;
    CHECK_OK(soma_net_new(&net, "fc2", soma_shape1(2), 1));
    soma_rule *rule;
    CHECK_OK(soma_rule_backprop_new(&rule, SOMA_LOSS_XENT));
    soma_optim *opt;
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_SGD);
    CHECK_OK(soma_optim_new(&opt, net, &oc));
    soma_train_config cfg = soma_train_defaults();
    cfg.epochs = 2;
    cfg.batch = 8;
    cfg.quiet = 1;
    bh_state s = {0, 0};
    cfg.hooks.user = &s;
    cfg.batch_hook = bh_;
    cfg.batch_extra = 3;
    soma_train_log log = {0};
    CHECK_OK(soma_train(net, rule, opt, d, NULL, &cfg, &log));
    CHECK(s.calls == 6 && s.rows == 2 * (20 + 9));
    CHECK(log.samples == 2 * (20 + 9)); /* the appended rows were trained on */
    cfg.batch_extra = 2;                /* the hook appends more than it may */
    CHECK_FAILS(soma_train(net, rule, opt, d, NULL, &cfg, &log), SOMA_ERR_ARG);
    cfg.batch_hook = NULL;
    CHECK_FAILS(soma_train(net, rule, opt, d, NULL, &cfg, &log), SOMA_ERR_ARG);
    soma_train_log_free(&log);
    soma_optim_free(opt);
    soma_rule_free(rule);
    soma_net_free(net);
    soma_dataset_free(d);
}

// --- streams --------------------------------------------------------------------------------

static void test_streams(void) {
    soma_dataset *tr, *te;
    CHECK_OK(soma_dataset_synthetic("gauss", 80, 12, 4, 3.f, 11, &tr));
    CHECK_OK(soma_dataset_synthetic("gauss", 40, 12, 4, 3.f, 12, &te));
    /* permuted: task 0 the identity, task t one fixed permutation for train and test */
    soma_task_stream *s;
    CHECK_OK(soma_task_stream_permuted(tr, te, 3, 5, &s));
    CHECK(s->n_tasks == 3 && s->scenario == SOMA_CL_DOMAIN && s->n_outputs == 4);
    CHECK(memcmp(s->train[0]->x_f32, tr->x_f32, 80 * 12 * sizeof(float)) == 0);
    for (int t = 1; t < 3; t++) {
        int perm[12], ok = 1, moved = 0;
        for (int k = 0; k < 12; k++) { /* recover the permutation from sample 0 (no ties) */
            perm[k] = -1;
            for (int j = 0; j < 12; j++)
                if (s->train[t]->x_f32[k] == tr->x_f32[j]) perm[k] = j;
            ok &= perm[k] >= 0;
            moved += perm[k] != k;
        }
        CHECK(ok && moved > 0);
        for (int i = 0; ok && i < 80; i++)
            for (int k = 0; k < 12; k++) ok &= s->train[t]->x_f32[i * 12 + k] == tr->x_f32[i * 12 + perm[k]];
        for (int i = 0; ok && i < 40; i++)
            for (int k = 0; k < 12; k++) ok &= s->test[t]->x_f32[i * 12 + k] == te->x_f32[i * 12 + perm[k]];
        CHECK(ok);
        CHECK(memcmp(s->train[t]->y, tr->y, 80 * sizeof(int)) == 0);
    }
    /* the same seed gives the same permutations, another seed others */
    soma_task_stream *s2, *s3;
    CHECK_OK(soma_task_stream_permuted(tr, te, 3, 5, &s2));
    CHECK_OK(soma_task_stream_permuted(tr, te, 3, 6, &s3));
    CHECK(memcmp(s->train[2]->x_f32, s2->train[2]->x_f32, 80 * 12 * sizeof(float)) == 0);
    CHECK(memcmp(s->train[2]->x_f32, s3->train[2]->x_f32, 80 * 12 * sizeof(float)) != 0);
    soma_task_stream_free(s);
    soma_task_stream_free(s2);
    soma_task_stream_free(s3);
    /* split in the three scenarios: labels and heads */
    for (int sc = 0; sc < SOMA_CL_SCENARIO_COUNT; sc++) {
        CHECK_OK(soma_task_stream_split(tr, te, 2, (soma_cl_scenario)sc, &s));
        CHECK(s->n_tasks == 2 && s->classes_per_task == 2 && s->n_outputs == (sc == SOMA_CL_DOMAIN ? 2 : 4));
        int ok = 1, n = 0;
        for (int t = 0; t < 2; t++) {
            n += s->train[t]->n;
            for (int i = 0; i < s->train[t]->n; i++) {
                int yv = s->train[t]->y[i];
                ok &= sc == SOMA_CL_DOMAIN ? (yv == 0 || yv == 1) : (yv / 2 == t);
            }
            ok &= s->classes[t * 2] == 2 * t && s->classes[t * 2 + 1] == 2 * t + 1;
        }
        CHECK(ok && n == 80);
        int ho, hc;
        soma_task_stream_head(s, 1, 1, &ho, &hc);
        if (sc == SOMA_CL_TASK) CHECK(ho == SOMA_HEAD_BY_LABEL && hc == 2);
        if (sc == SOMA_CL_DOMAIN) CHECK(ho == 0 && hc == 2);
        if (sc == SOMA_CL_CLASS) CHECK(ho == 0 && hc == 4);
        soma_task_stream_head(s, 0, 0, &ho, &hc);
        if (sc == SOMA_CL_CLASS) CHECK(ho == 0 && hc == 2);
        soma_task_stream_free(s);
    }
    CHECK_FAILS(soma_task_stream_split(tr, te, 3, SOMA_CL_CLASS, &s), SOMA_ERR_ARG);
    CHECK_FAILS(soma_task_stream_permuted(tr, te, 0, 1, &s), SOMA_ERR_ARG);

    /* npy with task ids */
    CHECK(scratch_init("cl"));
    const int N = 30;
    float X[90];
    int32_t Y[30], T[30], Tbad[30], Tgap[30];
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < 3; k++) X[i * 3 + k] = (float)(i * 3 + k);
        Y[i] = i % 4;
        T[i] = i / 10;                 /* tasks 0, 1, 2 */
        Tbad[i] = i == 7 ? -1 : T[i];  /* a negative id */
        Tgap[i] = T[i] == 1 ? 2 : T[i]; /* no task 1 */
    }
    int64_t sh[2] = {N, 3}, s1[1] = {N}, sh4[2] = {N, 4};
    float X4[120] = {0};
    CHECK_OK(soma_npy_write(scratch_path("x.npy"), SOMA_DTYPE_F32, 2, sh, X));
    CHECK_OK(soma_npy_write(scratch_path("y.npy"), SOMA_DTYPE_I32, 1, s1, Y));
    CHECK_OK(soma_npy_write(scratch_path("t.npy"), SOMA_DTYPE_I32, 1, s1, T));
    char spec[4096];
    snprintf(spec, sizeof spec, "npy:%s,%s,%s", scratch_path("x.npy"), scratch_path("y.npy"), scratch_path("t.npy"));
    soma_stream_opts so = soma_stream_opts_default();
    CHECK_OK(soma_task_stream_load(spec, &so, &s));
    if (s) {
        CHECK(s->n_tasks == 3 && s->n_outputs == 4 && s->scenario == SOMA_CL_CLASS);
        int ok = 1;
        for (int t = 0; t < 3; t++) {
            ok &= s->train[t]->n + s->test[t]->n == 10 && s->test[t]->n == 2;
            for (int i = 0; i < s->train[t]->n; i++) { /* each sample is from its task's rows */
                int row = (int)s->train[t]->x_f32[i * 3] / 3;
                ok &= row / 10 == t && s->train[t]->y[i] == row % 4;
            }
        }
        CHECK(ok);
        int ho, hc;
        soma_task_stream_head(s, 1, 2, &ho, &hc);
        CHECK(ho == 0 && hc == 0); /* the user's classes: one head over all */
        soma_task_stream_free(s);
    }
    CHECK_OK(soma_npy_write(scratch_path("tbad.npy"), SOMA_DTYPE_I32, 1, s1, Tbad));
    CHECK_OK(soma_npy_write(scratch_path("tgap.npy"), SOMA_DTYPE_I32, 1, s1, Tgap));
    CHECK_OK(soma_npy_write(scratch_path("x4.npy"), SOMA_DTYPE_F32, 2, sh4, X4));
    snprintf(spec, sizeof spec, "npy:%s,%s,%s", scratch_path("x.npy"), scratch_path("y.npy"), scratch_path("tbad.npy"));
    CHECK_FAILS(soma_task_stream_load(spec, &so, &s), SOMA_ERR_ARG);
    snprintf(spec, sizeof spec, "npy:%s,%s,%s", scratch_path("x.npy"), scratch_path("y.npy"), scratch_path("tgap.npy"));
    CHECK_FAILS(soma_task_stream_load(spec, &so, &s), SOMA_ERR_ARG);
    snprintf(spec, sizeof spec, "npy:%s,%s,%s;%s,%s,%s", scratch_path("x.npy"), scratch_path("y.npy"),
             scratch_path("t.npy"), scratch_path("x4.npy"), scratch_path("y.npy"), scratch_path("t.npy"));
    CHECK_FAILS(soma_task_stream_load(spec, &so, &s), SOMA_ERR_ARG); /* tasks of different input sizes */
    snprintf(spec, sizeof spec, "npy:%s,%s", scratch_path("x.npy"), scratch_path("y.npy"));
    CHECK_FAILS(soma_task_stream_load(spec, &so, &s), SOMA_ERR_ARG);
    CHECK_FAILS(soma_task_stream_load("permuted-fmnist:0", &so, &s), SOMA_ERR_ARG);
    CHECK_FAILS(soma_task_stream_load("split-fmnist:sideways", &so, &s), SOMA_ERR_ARG);
    CHECK_FAILS(soma_task_stream_load("rotated-mnist", &so, &s), SOMA_ERR_ARG);
    scratch_remove();
    soma_dataset_free(tr);
    soma_dataset_free(te);
}

// --- whole runs: determinism, methods, bad nets ------------------------------------------------

static soma_status run_(const soma_task_stream *s, soma_cl_method_kind k, uint64_t seed, soma_cl_result *res) {
    soma_net *net;
    SOMA_TRY(soma_net_new(&net, "fc32,relu,fc4", s->train[0]->shape, seed));
    soma_rule *rule;
    soma_optim *opt;
    soma_rule_backprop_new(&rule, SOMA_LOSS_XENT);
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_ADAM);
    soma_optim_new(&opt, net, &oc);
    soma_cl_opts o = soma_cl_opts_default();
    o.method = k;
    o.buffer = 40;
    o.seed = seed;
    o.fisher_samples = 100;
    o.ewc_lambda = 1000.f;
    o.gen_lik = SOMA_VAE_GAUSSIAN; /* Gaussian clouds, not pixels in [0, 1] */
    soma_train_config cfg = soma_train_defaults();
    cfg.epochs = 3;
    cfg.batch = 16;
    cfg.sched.lr = 0.01f;
    cfg.seed = seed;
    cfg.quiet = 1;
    soma_status st = soma_cl_run(net, rule, opt, s, &o, &cfg, NULL, NULL, res);
    soma_optim_free(opt);
    soma_rule_free(rule);
    soma_net_free(net);
    return st;
}

static void test_runs(void) {
    /* class-incremental split of 4 Gaussian classes into 2 tasks: fine-tuning forgets task 0,
     * replay and joint training keep it */
    soma_dataset *tr, *te;
    CHECK_OK(soma_dataset_synthetic("gauss", 400, 8, 4, 3.f, 21, &tr));
    CHECK_OK(soma_dataset_synthetic("gauss", 200, 8, 4, 3.f, 22, &te));
    soma_task_stream *s;
    CHECK_OK(soma_task_stream_split(tr, te, 2, SOMA_CL_CLASS, &s));
    soma_cl_result r[SOMA_CL_METHOD_COUNT];
    memset(r, 0, sizeof r);
    for (int k = 0; k < SOMA_CL_METHOD_COUNT; k++) {
        CHECK_OK(run_(s, (soma_cl_method_kind)k, 3, &r[k]));
        printf("class-incremental gauss, %-10s acc %.3f bwt %+.3f R[1][0] %.3f memory %zu\n",
               soma_cl_method_name((soma_cl_method_kind)k), r[k].metrics.acc, r[k].metrics.bwt, r[k].R[2],
               r[k].memory_bytes);
    }
    CHECK(r[SOMA_CL_FINETUNE].R[0] > 0.9f && r[SOMA_CL_FINETUNE].R[2] < 0.2f); /* learned, then forgot */
    CHECK(r[SOMA_CL_JOINT].R[2] > 0.8f && r[SOMA_CL_REPLAY].R[2] > 0.6f);
    CHECK(r[SOMA_CL_REPLAY].metrics.acc > r[SOMA_CL_FINETUNE].metrics.acc + 0.2);
    CHECK(r[SOMA_CL_REPLAY].memory_bytes == 40 * (8 * sizeof(float) + sizeof(int) + sizeof(long)));
    CHECK(r[SOMA_CL_JOINT].memory_bytes > 0 && r[SOMA_CL_FINETUNE].memory_bytes == 0);
    /* the methods of their own files under the same harness: generative replay and the CLS
     * model keep task 0, every method reports the memory it holds */
    CHECK(r[SOMA_CL_GEN_REPLAY].R[2] > r[SOMA_CL_FINETUNE].R[2] + 0.3f);
    CHECK(r[SOMA_CL_CLS].R[2] > 0.6f && r[SOMA_CL_CLS].metrics.acc > r[SOMA_CL_FINETUNE].metrics.acc + 0.2);
    CHECK(r[SOMA_CL_LWF].memory_bytes > 0 && r[SOMA_CL_GEN_REPLAY].memory_bytes > 0 && r[SOMA_CL_CLS].memory_bytes > 0);
    /* determinism: the same seed gives the same matrix, bit for bit */
    soma_cl_result again;
    CHECK_OK(run_(s, SOMA_CL_REPLAY, 3, &again));
    CHECK(memcmp(again.R, r[SOMA_CL_REPLAY].R, 4 * sizeof(float)) == 0);
    soma_cl_result_free(&again);
    CHECK_OK(run_(s, SOMA_CL_EWC, 3, &again));
    CHECK(memcmp(again.R, r[SOMA_CL_EWC].R, 4 * sizeof(float)) == 0);
    soma_cl_result_free(&again);
    for (int k = 0; k < SOMA_CL_METHOD_COUNT; k++) soma_cl_result_free(&r[k]);
    /* a net whose outputs do not fit the stream */
    soma_net *net;
    CHECK_OK(soma_net_new(&net, "fc3", tr->shape, 1));
    soma_rule *rule;
    soma_optim *opt;
    CHECK_OK(soma_rule_backprop_new(&rule, SOMA_LOSS_XENT));
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_ADAM);
    CHECK_OK(soma_optim_new(&opt, net, &oc));
    soma_cl_opts o = soma_cl_opts_default();
    soma_train_config cfg = soma_train_defaults();
    soma_cl_result bad;
    CHECK_FAILS(soma_cl_run(net, rule, opt, s, &o, &cfg, NULL, NULL, &bad), SOMA_ERR_SHAPE);
    soma_optim_free(opt);
    soma_rule_free(rule);
    soma_net_free(net);
    soma_task_stream_free(s);
    soma_dataset_free(tr);
    soma_dataset_free(te);
}

// --- the experiment's headline at reduced size ------------------------------------------------

static void test_experiment_reduced(void) {
    struct stat sb;
    if (stat(soma_fmnist_dir(NULL), &sb) != 0) {
        check_missing_dep("SOMA_REQUIRE_FMNIST", "Fashion-MNIST (dataset-fashion-mnist)");
        return;
    }
    const soma_experiment *e = soma_exp_find("permuted-fmnist");
    CHECK(e != NULL);
    if (!e) return;
    CHECK(scratch_init("cl_exp"));
    cJSON *r = NULL;
    /* one thread: the numbers do not depend on it, and a loaded machine starves two */
    const char *extra[] = {"--threads", "1"};
    CHECK_OK(soma_exp_run_reduced(e, 2, extra, scratch_path(""), &r));
    const cJSON *ours = cJSON_GetObjectItemCaseSensitive(r, "ours");
    const char *names[] = {"finetune", "joint", "ewc", "online_ewc", "si", "replay"};
    for (int i = 0; i < 6; i++) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(ours, names[i]);
        printf("permuted-fmnist reduced, %-10s acc %.3f bwt %+.3f fwt %+.3f forgetting %.3f memory %.0f\n", names[i],
               num_(m, "acc"), num_(m, "bwt"), num_(m, "fwt"), num_(m, "forgetting"), num_(m, "memory_bytes"));
        CHECK(num_(m, "acc") > 0.5 && num_(m, "acc") <= 1 && isfinite(num_(m, "bwt")) && isfinite(num_(m, "fwt")));
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(m, "R")) == 3);
    }
    const cJSON *ft = cJSON_GetObjectItemCaseSensitive(ours, "finetune"), *rp = cJSON_GetObjectItemCaseSensitive(ours, "replay");
    /* fine-tuning forgets; joint training beats it; replay forgets less */
    CHECK(num_(ft, "bwt") < -0.01);
    CHECK(num_(ours, "joint_acc") > num_(ours, "finetune_acc") + 0.02);
    CHECK(num_(rp, "forgetting") < num_(ft, "forgetting"));
    /* so do the penalty methods, and they keep more than fine-tuning does */
    static const char *const penalty[] = {"ewc", "online_ewc", "si"};
    for (int i = 0; i < 3; i++) {
        const cJSON *pm = cJSON_GetObjectItemCaseSensitive(ours, penalty[i]);
        CHECK(num_(pm, "forgetting") < 0.5 * num_(ft, "forgetting") && num_(pm, "acc") > num_(ft, "acc"));
    }
    /* memory: replay holds 5% of 3000 samples of 784 floats, label and id; EWC two vectors */
    CHECK(num_(rp, "memory_bytes") == 150.0 * (784 * 4 + 4 + 8));
    CHECK(num_(cJSON_GetObjectItemCaseSensitive(ours, "finetune"), "memory_bytes") == 0);
    char path[1200];
    snprintf(path, sizeof path, "%s/permuted-fmnist/accuracy.svg", scratch_path(""));
    CHECK(stat(path, &sb) == 0 && sb.st_size > 1000);
    /* with two threads the methods run two at a time (one thread each): every method's
     * accuracy matrix is the same, bit for bit (JSON keeps doubles exactly) */
    cJSON *r2 = NULL;
    const char *extra2[] = {"--threads", "2"};
    snprintf(path, sizeof path, "%s/two", scratch_path(""));
    CHECK_OK(soma_exp_run_reduced(e, 2, extra2, path, &r2));
    soma_set_threads(1);
    const cJSON *ours2 = cJSON_GetObjectItemCaseSensitive(r2, "ours");
    int methods = 0, same = 1;
    const cJSON *m;
    cJSON_ArrayForEach(m, ours) {
        const cJSON *R = cJSON_GetObjectItemCaseSensitive(m, "R");
        if (!cJSON_IsArray(R)) continue;
        methods++;
        const cJSON *R2 = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ours2, m->string), "R");
        char *a = cJSON_PrintUnformatted(R), *b = R2 ? cJSON_PrintUnformatted(R2) : NULL;
        if (!b || strcmp(a, b) != 0) {
            printf("permuted-fmnist reduced: %s differs with two threads: %s against %s\n", m->string, a, b ? b : "none");
            same = 0;
        }
        cJSON_free(a);
        cJSON_free(b);
    }
    CHECK(methods == SOMA_CL_METHOD_COUNT); /* the reduced run covers every method */
    CHECK(same);
    cJSON_Delete(r2);
    cJSON_Delete(r);
    scratch_remove();
}


/* The per-sample Fisher's batched path (MLPs under backprop: one GEMM a dense layer for a chunk
 * of samples) against the per-sample definition computed here through the public API: one
 * sample's backprop step at a time, its gradient squared and averaged. 300 samples span two
 * chunks; a ReLU MLP, fixed labels, a fixed head and heads found from the labels; the same MLP
 * with fixed normalisations in front and between (norm layers). */
static void fisher_batched_(const char *spec) {
    enum { N = 300, D = 6, K = 6 };
    float x[N * D];
    int y[N];
    soma_rng r;
    soma_rng_seed(&r, 21, 0);
    for (int i = 0; i < N * D; i++) x[i] = (float)soma_rng_normal(&r);
    for (int i = 0; i < N; i++) y[i] = (int)soma_rng_below(&r, K);
    soma_dataset *d = mkdata_(x, y, N, D, K);
    soma_net *net = NULL;
    soma_rule *rule = NULL;
    CHECK_OK(soma_net_new(&net, spec, soma_shape1(D), 4));
    CHECK_OK(soma_rule_backprop_new(&rule, SOMA_LOSS_XENT));
    size_t nv;
    const float *g = soma_net_flat_grads(net, &nv);
    float *F = soma_alloc(nv, sizeof(float)), *R = soma_alloc(nv, sizeof(float)), *xi = soma_alloc(D, sizeof(float));
    const int heads[3][2] = {{0, 0}, {2, 2}, {SOMA_HEAD_BY_LABEL, 2}};
    for (int h = 0; h < 3 && d && net && F && R; h++) {
        const int ho = heads[h][0], hc = heads[h][1];
        int lab[N];
        for (int i = 0; i < N; i++) lab[i] = hc > 0 && ho >= 0 ? ho + y[i] % hc : y[i];
        CHECK_OK(soma_cl_fisher(net, rule, d, 0, 1, SOMA_FISHER_EMPIRICAL, ho, hc, lab, NULL, F));
        memset(R, 0, nv * sizeof(float));
        for (int i = 0; i < N; i++) {
            memcpy(xi, x + (size_t)i * D, D * sizeof(float));
            soma_target tg = {.labels = &lab[i], .positions = 1, .head_offset = ho, .head_count = hc};
            float l;
            CHECK_OK(soma_rule_step(rule, net, xi, &tg, 1, &l, NULL));
            for (size_t k = 0; k < nv; k++) R[k] += g[k] * g[k] / N;
        }
        double num = 0, den = 0;
        for (size_t k = 0; k < nv; k++) num += fabs(F[k] - R[k]), den += fabs(R[k]);
        printf("batched Fisher vs per-sample steps, %s, head %d: relative L1 difference %.2e\n", spec, h, num / den);
        CHECK(den > 0 && num / den < 1e-5);
    }
    soma_free(F);
    soma_free(R);
    soma_free(xi);
    soma_rule_free(rule);
    soma_net_free(net);
    soma_dataset_free(d);
}

static void test_fisher_batched(void) {
    fisher_batched_("fc12,relu,fc9,gelu,fc6");
    fisher_batched_("norm0.3/0.5,fc12,relu,norm-0.2/2,fc9,gelu,fc6");
}

int main(void) {
    soma_set_threads(1);
    test_metrics();
    test_fisher_torch();
    test_fisher_batched();
    test_si_two_steps();
    test_ewc_penalty();
    test_reservoir();
    test_heads();
    test_batch_hook();
    test_streams();
    test_runs();
    test_experiment_reduced();
    return check_report("test_cl");
}
