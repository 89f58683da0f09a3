// Predictive coding by inference learning (src/learn/pc.c): the delta rule on one layer, the
// inference's fixed point, a NumPy reference of the same equations, agreement with backprop
// in the small-error regime (dense and conv chains), learning, determinism, refusals, and the
// pc-equals-bp experiment at reduced size.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "json_util.h"
#include "fixture.h"
#include "soma/soma.h"

static void fill_(float *x, size_t n, uint64_t seed, float scale) {
    soma_rng g;
    soma_rng_seed(&g, seed, 0);
    for (size_t i = 0; i < n; i++) x[i] = scale * (float)(2.0 * soma_rng_uniform(&g) - 1.0);
}

static soma_rule *pc_(soma_net *net, soma_loss_kind loss, int steps, float rate, float scale, int fpa) {
    soma_rule_opts o = soma_rule_opts_default();
    o.kind = SOMA_RULE_PC;
    o.loss = loss;
    o.pc_steps = steps;
    o.pc_rate = rate;
    o.pc_err_scale = scale;
    o.pc_fixed_pred = fpa;
    soma_rule *r = NULL;
    if (soma_rule_new(&r, net, &o) != SOMA_OK) fprintf(stderr, "pc_: %s\n", soma_errmsg());
    return r;
}

/* One dense layer, output clamped: PC has no hidden node and is the delta rule,
 * dW = (2 / (N D)) (y - t)' x for MSE, (softmax - onehot)' x / N for cross-entropy. */
static void test_delta_rule(void) {
    enum { N = 4, I = 5, O = 3 };
    soma_net *net = NULL;
    CHECK_OK(soma_net_new(&net, "fc3", soma_shape1(I), 3));
    float x[N * I], t[N * O];
    int lab[N] = {0, 2, 1, 2};
    fill_(x, N * I, 1, 1.f);
    fill_(t, N * O, 2, 1.f);
    soma_param *W = soma_net_param(net, 0), *b = soma_net_param(net, 1);
    for (int kind = 0; kind < 2; kind++) {
        soma_rule *r = pc_(net, kind ? SOMA_LOSS_MSE : SOMA_LOSS_XENT, 30, 0.1f, 0.f, 0);
        CHECK(r != NULL);
        if (!r) continue;
        soma_target tg = {.labels = lab, .values = t, .dim = O};
        float loss;
        CHECK_OK(soma_rule_step(r, net, x, &tg, N, &loss, NULL));
        double y[N][O], dy[N][O], want_w[O * I] = {0}, want_b[O] = {0};
        for (int n = 0; n < N; n++) {
            double mx = -1e30, z = 0;
            for (int o = 0; o < O; o++) {
                y[n][o] = b->value[o];
                for (int i = 0; i < I; i++) y[n][o] += (double)W->value[o * I + i] * x[n * I + i];
                if (y[n][o] > mx) mx = y[n][o];
            }
            for (int o = 0; o < O; o++) z += exp(y[n][o] - mx);
            for (int o = 0; o < O; o++)
                dy[n][o] = kind ? 2.0 * (y[n][o] - t[n * O + o]) / (N * O)
                                : (exp(y[n][o] - mx) / z - (o == lab[n])) / N;
        }
        for (int n = 0; n < N; n++)
            for (int o = 0; o < O; o++) {
                want_b[o] += dy[n][o];
                for (int i = 0; i < I; i++) want_w[o * I + i] += dy[n][o] * x[n * I + i];
            }
        float fw[O * I], fb[O];
        for (int i = 0; i < O * I; i++) fw[i] = (float)want_w[i];
        for (int i = 0; i < O; i++) fb[i] = (float)want_b[i];
        CHECK_CLOSE("delta rule dW", W->grad, fw, O * I, 1e-6, 1e-5);
        CHECK_CLOSE("delta rule db", b->grad, fb, O, 1e-6, 1e-5);
        soma_rule_free(r);
    }
    soma_net_free(net);
}

/* After many inference steps with large errors (far from backprop's regime) the value nodes
 * sit where dF/dv = 0: e_l = J_l' e_{l+1}, checked by hand for fc, tanh, fc, tanh, fc; and the
 * top error is the loss's own gradient at the settled prediction. */
static void test_fixed_point(void) {
    enum { N = 5, I = 6, H1 = 8, H2 = 6, K = 3 };
    soma_net *net = NULL;
    CHECK_OK(soma_net_new(&net, "fc8,tanh,fc6,tanh,fc3", soma_shape1(I), 11));
    float x[N * I];
    int lab[N] = {0, 1, 2, 1, 0};
    fill_(x, N * I, 5, 1.5f);
    const float s = 40.f;
    soma_rule *r = pc_(net, SOMA_LOSS_XENT, 3000, 0.2f, s, 0);
    CHECK(r != NULL);
    if (!r) {
        soma_net_free(net);
        return;
    }
    soma_target tg = {.labels = lab};
    CHECK_OK(soma_rule_step(r, net, x, &tg, N, NULL, NULL));
    const float *v[6] = {0}, *e[6] = {0};
    for (int l = 1; l <= 5; l++) CHECK_OK(soma_rule_pc_nodes(r, l, &v[l], &e[l]));
    CHECK(v[5] == NULL);
    const float *W2 = soma_net_param(net, 2)->value, *W4 = soma_net_param(net, 4)->value;
    const float *b4 = soma_net_param(net, 5)->value;
    double worst = 0, big = 0;
    for (int n = 0; n < N; n++) {
        /* node 4 (tanh out, H2) against the top error through fc3: e4 = e5 W4 */
        for (int j = 0; j < H2; j++) {
            double g = 0;
            for (int k = 0; k < K; k++) g += (double)e[5][n * K + k] * W4[k * H2 + j];
            worst = fmax(worst, fabs(e[4][n * H2 + j] - g));
            big = fmax(big, fabs(g));
        }
        /* node 3 (fc6 out) through tanh: e3 = tanh'(v3) e4 */
        for (int j = 0; j < H2; j++) {
            const double th = tanh(v[3][n * H2 + j]);
            worst = fmax(worst, fabs(e[3][n * H2 + j] - (1 - th * th) * e[4][n * H2 + j]));
        }
        /* node 2 (tanh out, H1) through fc6: e2 = e3 W2 */
        for (int j = 0; j < H1; j++) {
            double g = 0;
            for (int k = 0; k < H2; k++) g += (double)e[3][n * H2 + k] * W2[k * H1 + j];
            worst = fmax(worst, fabs(e[2][n * H1 + j] - g));
        }
        for (int j = 0; j < H1; j++) {
            const double th = tanh(v[1][n * H1 + j]);
            worst = fmax(worst, fabs(e[1][n * H1 + j] - (1 - th * th) * e[2][n * H1 + j]));
        }
        /* top: e5 = -s (softmax(f(v4)) - onehot) / N */
        double y[K], mx = -1e30, z = 0;
        for (int k = 0; k < K; k++) {
            y[k] = b4[k];
            for (int j = 0; j < H2; j++) y[k] += (double)W4[k * H2 + j] * v[4][n * H2 + j];
            mx = fmax(mx, y[k]);
        }
        for (int k = 0; k < K; k++) z += exp(y[k] - mx);
        for (int k = 0; k < K; k++)
            worst = fmax(worst, fabs(e[5][n * K + k] + s * (exp(y[k] - mx) / z - (k == lab[n])) / N));
    }
    /* the errors are large (far from feedforward) yet balanced to float precision */
    CHECK(big > 0.05);
    CHECK(worst < 1e-5 * (1 + big));
    if (!(worst < 1e-5 * (1 + big))) fprintf(stderr, "fixed point: worst %g of %g\n", worst, big);
    /* and not after 2 steps: the check can fail */
    soma_rule *r2 = pc_(net, SOMA_LOSS_XENT, 2, 0.2f, s, 0);
    CHECK_OK(soma_rule_step(r2, net, x, &tg, N, NULL, NULL));
    const float *e1, *e2;
    CHECK_OK(soma_rule_pc_nodes(r2, 2, NULL, &e2));
    CHECK_OK(soma_rule_pc_nodes(r2, 1, NULL, &e1));
    double off = 0;
    for (int n = 0; n < N; n++)
        for (int j = 0; j < H1; j++) off = fmax(off, fabs(e1[n * H1 + j]));
    CHECK(off < 1e-12); /* node 1 not reached in 2 steps */
    soma_rule_free(r2);
    soma_rule_free(r);
    soma_net_free(net);
}

/* The update of a tiny fc4,tanh,fc3 against tests/ref/gen_pc.py (NumPy, the same equations). */
static void test_numpy_ref(const char *name) {
    char rel[128];
    snprintf(rel, sizeof rel, "tests/fixtures/learn/%s.bin", name);
    fixture f;
    CHECK(fixture_load(check_src_path(rel), &f) == 0);
    if (!f.n_arrays) return;
    const fixture_array *x = fixture_get(&f, "x"), *lab = fixture_get(&f, "labels"), *tg = fixture_get(&f, "targets"),
                        *op = fixture_get(&f, "opts");
    const char *pn[4] = {"W0", "b0", "W2", "b2"}, *gn[4] = {"gW0", "gb0", "gW2", "gb2"};
    soma_net *net = NULL;
    CHECK_OK(soma_net_new(&net, f.spec, soma_shape1(f.c), 1));
    for (int i = 0; i < 4; i++) {
        const fixture_array *a = fixture_get(&f, pn[i]);
        soma_param *p = soma_net_param(net, i);
        CHECK(a && a->n == p->n);
        if (a && a->n == p->n) memcpy(p->value, a->data, p->n * sizeof(float));
    }
    int labels[64];
    for (int i = 0; i < f.n; i++) labels[i] = (int)lab->data[i];
    const int mse = op->data[4] != 0;
    soma_rule *r = pc_(net, mse ? SOMA_LOSS_MSE : SOMA_LOSS_XENT, (int)op->data[0], op->data[1], op->data[2],
                       (int)op->data[3]);
    soma_target t = {.labels = labels, .values = tg->data, .dim = tg->dims[1]};
    CHECK_OK(soma_rule_step(r, net, x->data, &t, f.n, NULL, NULL));
    for (int i = 0; i < 4; i++) {
        const fixture_array *g = fixture_get(&f, gn[i]);
        CHECK_CLOSE(gn[i], soma_net_param(net, i)->grad, g->data, g->n, 1e-6, 1e-4);
    }
    const char *en[3] = {"e1", "e2", "e3"};
    for (int l = 1; l <= 3; l++) {
        const float *e;
        CHECK_OK(soma_rule_pc_nodes(r, l, NULL, &e));
        const fixture_array *a = fixture_get(&f, en[l - 1]);
        CHECK_CLOSE(en[l - 1], e, a->data, a->n, 1e-6, 1e-4);
    }
    soma_rule_free(r);
    soma_net_free(net);
    fixture_free(&f);
}

/* Small errors and enough steps: every weight's update within 0.99 cosine of backprop's; one
 * step reaches only the top layer. With the fixed prediction assumption, backprop's exactly
 * even with large errors. */
static void test_cosine(const char *spec, soma_shape in, int steps, double want) {
    enum { N = 16 };
    soma_net *net = NULL;
    CHECK_OK(soma_net_new(&net, spec, in, 4));
    const size_t d = soma_shape_size(in);
    float *x = malloc(N * d * sizeof *x);
    int lab[N];
    fill_(x, N * d, 9, 1.f);
    for (int i = 0; i < N; i++) lab[i] = (i * 7) % 4;
    soma_target t = {.labels = lab};
    const int np = soma_net_n_params(net);
    double cs[64];
    soma_rule *r = pc_(net, SOMA_LOSS_XENT, steps, 0.1f, 0.01f, 0);
    CHECK_OK(soma_rule_alignment_cos(r, net, x, &t, N, cs));
    int weights = 0;
    for (int i = 0; i < np; i++) {
        if (isnan(cs[i])) continue;
        weights++;
        CHECK(cs[i] >= want);
        if (!(cs[i] >= want)) fprintf(stderr, "%s param %d: cosine %.6f\n", spec, i, cs[i]);
    }
    CHECK(weights >= 2);
    soma_rule_free(r);
    r = pc_(net, SOMA_LOSS_XENT, 1, 0.1f, 0.f, 0);
    CHECK_OK(soma_rule_alignment_cos(r, net, x, &t, N, cs));
    CHECK(fabs(cs[0]) < 0.5); /* the first layer's error is still 0 after one step */
    soma_rule_free(r);
    r = pc_(net, SOMA_LOSS_XENT, steps, 0.1f, 1000.f, 1);
    CHECK_OK(soma_rule_alignment_cos(r, net, x, &t, N, cs));
    for (int i = 0; i < np; i++)
        if (!isnan(cs[i])) CHECK(cs[i] >= 0.999);
    soma_rule_free(r);
    free(x);
    soma_net_free(net);
}

/* A short training on synthetic Gaussian clusters learns; two runs give the same bits, on one
 * thread or two. */
static float *train_(int threads, float *acc) {
    soma_set_threads(threads);
    soma_dataset *d = NULL;
    soma_net *net = NULL;
    soma_optim *o = NULL;
    soma_rule *r = NULL;
    float *out = NULL;
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_ADAM);
    soma_train_config c = soma_train_defaults();
    c.epochs = 4;
    c.batch = 32;
    c.sched.lr = 0.01f;
    c.quiet = 1;
    soma_train_log log = {0};
    if (soma_dataset_synthetic("gauss", 400, 20, 4, 3.0f, 3, &d) == SOMA_OK &&
        soma_net_new(&net, "fc32,relu,fc32,relu,fc4", soma_shape1(20), 5) == SOMA_OK &&
        soma_optim_new(&o, net, &oc) == SOMA_OK && (r = pc_(net, SOMA_LOSS_XENT, 20, 0.1f, 0.f, 0)) != NULL &&
        soma_train(net, r, o, d, d, &c, &log) == SOMA_OK) {
        *acc = log.test_acc[log.epochs - 1];
        CHECK(log.train_loss[log.epochs - 1] < 0.5f * log.train_loss[0]);
        size_t n;
        float *v = soma_net_flat_values(net, &n);
        out = malloc(n * sizeof *out + sizeof(size_t));
        memcpy(out, v, n * sizeof *out);
    } else {
        fprintf(stderr, "train_: %s\n", soma_errmsg());
    }
    soma_train_log_free(&log);
    soma_rule_free(r);
    soma_optim_free(o);
    soma_net_free(net);
    soma_dataset_free(d);
    return out;
}

static void test_learns(void) {
    float a1 = 0, a2 = 0, a3 = 0;
    float *w1 = train_(1, &a1), *w2 = train_(1, &a2), *w3 = train_(2, &a3);
    CHECK(w1 && w2 && w3);
    CHECK(a1 >= 0.9f);
    if (w1 && w2 && w3) {
        soma_net *net = NULL;
        CHECK_OK(soma_net_new(&net, "fc32,relu,fc32,relu,fc4", soma_shape1(20), 5));
        size_t n;
        soma_net_flat_values(net, &n);
        CHECK(memcmp(w1, w2, n * sizeof(float)) == 0);
        CHECK(memcmp(w1, w3, n * sizeof(float)) == 0);
        soma_net_free(net);
    }
    free(w1);
    free(w2);
    free(w3);
}

/* Data-parallel slices (a conv net under soma_train, two replicas): the rule's clone serves
 * each replica, and the result does not depend on the threads OpenMP grants. */
static float *dp_(int threads, int data_parallel) {
    soma_set_threads(threads);
    soma_dataset *d = NULL;
    soma_net *net = NULL;
    soma_optim *o = NULL;
    soma_rule *r = NULL;
    float *out = NULL;
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_SGD);
    soma_train_config c = soma_train_defaults();
    c.epochs = 1;
    c.batch = 32;
    c.sched.lr = 0.05f;
    c.quiet = 1;
    c.data_parallel = data_parallel;
    soma_train_log log = {0};
    if (soma_dataset_synthetic("gauss", 128, 64, 3, 4.0f, 5, &d) == SOMA_OK) d->shape = soma_shape3(1, 8, 8);
    if (d && soma_net_new(&net, "conv3x3x4p1,relu,maxpool2,fc3", soma_shape3(1, 8, 8), 7) == SOMA_OK &&
        soma_optim_new(&o, net, &oc) == SOMA_OK && (r = pc_(net, SOMA_LOSS_XENT, 10, 0.2f, 0.f, 0)) != NULL &&
        soma_train(net, r, o, d, NULL, &c, &log) == SOMA_OK) {
        CHECK(isfinite(log.train_loss[0]));
        size_t n;
        float *v = soma_net_flat_values(net, &n);
        out = malloc(n * sizeof *out);
        memcpy(out, v, n * sizeof *out);
    } else {
        fprintf(stderr, "dp_: %s\n", soma_errmsg());
    }
    soma_train_log_free(&log);
    soma_rule_free(r);
    soma_optim_free(o);
    soma_net_free(net);
    soma_dataset_free(d);
    return out;
}

static void test_data_parallel(void) {
    float *a = dp_(2, 2), *b = dp_(2, 2), *c = dp_(1, 0);
    CHECK(a && b && c);
    if (a && b && c) {
        soma_net *net = NULL;
        CHECK_OK(soma_net_new(&net, "conv3x3x4p1,relu,maxpool2,fc3", soma_shape3(1, 8, 8), 7));
        size_t n;
        const float *init = soma_net_flat_values(net, &n);
        CHECK(memcmp(a, b, n * sizeof(float)) == 0);
        /* two slices of 16 settle on their own: the same update up to PC's small nonlinearity */
        double diff = 0, moved = 0;
        for (size_t i = 0; i < n; i++) {
            diff = fmax(diff, fabs(a[i] - c[i]));
            moved = fmax(moved, fabs(c[i] - init[i]));
        }
        fprintf(stderr, "  data-parallel: max |sliced - whole| %.3g, max |moved| %.3g\n", diff, moved);
        CHECK(moved > 1e-3 && diff < 0.05 * moved);
        soma_net_free(net);
    }
    free(a);
    free(b);
    free(c);
}

static void test_refusals(void) {
    soma_net *net = NULL, *drop = NULL;
    CHECK_OK(soma_net_new(&net, "fc8,relu,fc3", soma_shape1(4), 1));
    CHECK_OK(soma_net_new(&drop, "fc8,relu,dropout0.5,fc3", soma_shape1(4), 1));
    soma_rule *r = NULL;
    soma_rule_opts o = soma_rule_opts_default();
    o.kind = SOMA_RULE_PC;
    CHECK_FAILS(soma_rule_new(&r, drop, &o), SOMA_ERR_ARG);
    CHECK(strstr(soma_errmsg(), "dropout") != NULL);
    o.pc_steps = -1;
    CHECK_FAILS(soma_rule_new(&r, net, &o), SOMA_ERR_ARG);
    o.pc_steps = 0;
    o.pc_rate = -0.5f;
    CHECK_FAILS(soma_rule_new(&r, net, &o), SOMA_ERR_ARG);
    o.pc_rate = NAN;
    CHECK_FAILS(soma_rule_new(&r, net, &o), SOMA_ERR_ARG);
    o.pc_rate = 0.f;
    o.pc_err_scale = -1.f;
    CHECK_FAILS(soma_rule_new(&r, net, &o), SOMA_ERR_ARG);
    o.pc_err_scale = 0.f;
    CHECK_FAILS(soma_rule_pc_new(&r, NULL, &o), SOMA_ERR_ARG);
    CHECK(r == NULL);
    /* the wrong net for a step, a node out of range, another rule's nodes */
    CHECK_OK(soma_rule_new(&r, net, &o));
    const float *e;
    CHECK_FAILS(soma_rule_pc_nodes(r, 1, NULL, &e), SOMA_ERR_ARG); /* no step yet */
    float x[8 * 2] = {0};
    int lab[2] = {0, 1};
    soma_target t = {.labels = lab};
    CHECK_FAILS(soma_rule_step(r, drop, x, &t, 2, NULL, NULL), SOMA_ERR_ARG);
    CHECK_OK(soma_rule_step(r, net, x, &t, 2, NULL, NULL));
    CHECK_FAILS(soma_rule_pc_nodes(r, 4, NULL, &e), SOMA_ERR_ARG);
    CHECK_OK(soma_rule_pc_nodes(r, 3, NULL, &e));
    soma_rule *bp = NULL;
    CHECK_OK(soma_rule_backprop_new(&bp, SOMA_LOSS_XENT));
    CHECK_FAILS(soma_rule_pc_nodes(bp, 1, NULL, &e), SOMA_ERR_ARG);
    soma_rule_free(bp);
    soma_rule_free(r);
    soma_net_free(drop);
    soma_net_free(net);
}

/* The experiment pc-equals-bp at reduced size (synthetic data): its headline figures. */
static void test_experiment_reduced(void) {
    const soma_experiment *e = soma_exp_find("pc-equals-bp");
    CHECK(e != NULL);
    if (!e) return;
    char dir[] = "/tmp/soma-test-pc-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    cJSON *r = NULL;
    const char *extra[] = {"--threads", "1"};
    CHECK_OK(soma_exp_run_reduced(e, 2, extra, dir, &r));
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(r, "ours");
    CHECK(num_(o, "cosine_min") >= 0.99);
    CHECK(num_(o, "cosine_min_fpa") >= 0.999);
    /* large errors without the fixed prediction assumption: far from backprop */
    const cJSON *by = cJSON_GetObjectItemCaseSensitive(o, "mlp_min_cosine_by_scale");
    CHECK(cJSON_GetArraySize(by) == 4 && cJSON_GetArrayItem(by, 3)->valuedouble < 0.9);
    /* one inference step reaches only the top layer: the first layer's cosine is 0 */
    const cJSON *c0 = cJSON_GetObjectItemCaseSensitive(o, "mlp_cosine_by_steps_0.weight");
    CHECK(cJSON_GetArraySize(c0) >= 5 && fabs(cJSON_GetArrayItem(c0, 0)->valuedouble) < 0.1);
    CHECK(num_(o, "pc_over_bp_time") > 0); /* measured (its size is noise at this scale) */
    printf("pc-equals-bp reduced: cosine_min %.5f, fpa %.6f, PC/BP time %.1f\n", num_(o, "cosine_min"),
           num_(o, "cosine_min_fpa"), num_(o, "pc_over_bp_time"));
    cJSON_Delete(r);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

/* The same on Fashion-MNIST (a batch of 16, the reduced nets): the headline holds on real images. */
static void test_experiment_fmnist(void) {
    struct stat sb;
    if (stat(soma_fmnist_dir(NULL), &sb) != 0) {
        check_missing_dep("SOMA_REQUIRE_FMNIST", "Fashion-MNIST (dataset-fashion-mnist)");
        return;
    }
    const soma_experiment *e = soma_exp_find("pc-equals-bp");
    if (!e) return;
    char dir[] = "/tmp/soma-test-pcf-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    const char *argv[] = {"--data", "fmnist", "--batch", "16", "--max-steps", "100", "--time-samples", "0",
                          "--mlp", "fc64,relu,fc32,relu,fc10", "--lenet", "conv5x5x4p2,relu,maxpool2,flatten,fc10",
                          "--threads", "1", "--quiet"};
    cJSON *r = NULL;
    CHECK_OK(soma_exp_run(e, (int)(sizeof argv / sizeof *argv), argv, dir, &r));
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(r, "ours");
    CHECK(num_(o, "cosine_min") >= 0.99);
    CHECK(num_(o, "cosine_min_fpa") >= 0.999);
    printf("pc-equals-bp on Fashion-MNIST (batch 16, 100 steps): cosine_min %.5f\n", num_(o, "cosine_min"));
    cJSON_Delete(r);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

static void timed_(const char *name, double *t0) {
    const double t = soma_now();
    fprintf(stderr, "  %s: %.2f s\n", name, t - *t0);
    *t0 = t;
}

int main(void) {
    /* one thread: many small parallel regions crawl on a loaded machine; test_learns compares
     * one thread with two */
    soma_set_threads(1);
    double t0 = soma_now();
    test_delta_rule();
    timed_("test_delta_rule", &t0);
    test_fixed_point();
    timed_("test_fixed_point", &t0);
    test_numpy_ref("pc_xent");
    test_numpy_ref("pc_xent_fpa");
    test_numpy_ref("pc_mse");
    timed_("test_numpy_ref", &t0);
    test_cosine("fc32,relu,fc16,relu,fc4", soma_shape1(12), 200, 0.99);
    timed_("test_cosine mlp", &t0);
    test_cosine("conv3x3x4p1,relu,maxpool2,conv3x3x6,relu,flatten,fc16,relu,fc4", soma_shape3(1, 8, 8), 300, 0.99);
    timed_("test_cosine conv", &t0);
    test_learns();
    timed_("test_learns", &t0);
    test_data_parallel();
    timed_("test_data_parallel", &t0);
    test_refusals();
    soma_set_threads(1);
    test_experiment_reduced();
    timed_("test_experiment_reduced", &t0);
    test_experiment_fmnist();
    timed_("test_experiment_fmnist", &t0);
    return check_report("test_learn_pc");
}
