/* Forward-forward (src/learn/ff.c): the layer-local gradients against central finite
 * differences of each layer's own FF loss (computed here naively, in double), goodness and the
 * label embedding on a hand example, prediction by goodness on hand-built weights, training on
 * a small synthetic problem, determinism, refusal of nets and options it cannot serve, and one
 * step against a NumPy reference (tests/ref/gen_ff.py). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "check.h"
#include "fixture.h"
#include "soma/soma.h"

// --- a naive reference of the FF losses --------------------------------------------------

#define MAXB 4
#define MAXW 64

/* The chain "fcA,act,fcB,act,...,fcK": per block b, loss Lb[b] on positives (labels y) and m
 * negatives a sample (neg[j * n + i]); xe = the read-out's cross-entropy on the neutral label;
 * gsum[i * K + k] = goodness of sample i with label k summed over the voting blocks. */
typedef struct ref_out {
    double Lb[MAXB], xe;
    double gpos[MAXB][MAXW], gneg[MAXB][MAXW];
} ref_out;

static double act_(const char *kind, double z) {
    if (strcmp(kind, "relu") == 0) return z > 0 ? z : 0;
    if (strcmp(kind, "tanh") == 0) return tanh(z);
    if (strcmp(kind, "sigmoid") == 0) return 1 / (1 + exp(-z));
    return NAN;
}

static double softplus_(double v) { return v > 30 ? v : log1p(exp(v)); }

/* Runs the chain on one sample with label lab (-1: neutral); g[b] = goodness of block b,
 * v = normalised last activity (MAXW), returns the number of blocks. */
static int ref_forward(soma_net *net, const float *x, int D, int K, int lab, double *g, double *v) {
    double in[MAXW * 4], h[MAXW * 4];
    int I = D;
    for (int d = 0; d < D; d++) in[d] = x[d];
    for (int k = 0; k < K; k++) in[k] = lab < 0 ? 1.0 / K : (k == lab ? 1.0 : 0.0);
    int nb = 0;
    const int L = soma_net_n_layers(net);
    for (int li = 0; li + 1 < L; li += 2) { /* dense, activation */
        soma_layer *dl = soma_net_layer(net, li), *al = soma_net_layer(net, li + 1);
        const int O = dl->params[0].dims[0];
        double s = 0;
        for (int o = 0; o < O; o++) {
            double z = dl->params[1].value[o];
            for (int j = 0; j < I; j++) z += (double)dl->params[0].value[o * I + j] * in[j];
            h[o] = act_(al->ops->kind, z);
            s += h[o] * h[o];
        }
        g[nb++] = s;
        for (int o = 0; o < O; o++) in[o] = h[o] / (sqrt(s) + 1e-6);
        I = O;
    }
    for (int j = 0; j < I; j++) v[j] = in[j];
    return nb;
}

static void ref_losses(soma_net *net, const float *x, const int *y, const int *neg, int n, int m, int D, int K,
                       double theta, ref_out *r) {
    memset(r, 0, sizeof *r);
    double g[MAXB], v[MAXW * 4];
    soma_layer *ro = soma_net_layer(net, soma_net_n_layers(net) - 1);
    const int H = ro->params[0].dims[1];
    for (int i = 0; i < n; i++) {
        int nb = ref_forward(net, x + (size_t)i * D, D, K, y[i], g, v);
        for (int b = 0; b < nb; b++) {
            r->gpos[b][i] = g[b];
            r->Lb[b] += softplus_(theta - g[b]) / n;
        }
        for (int j = 0; j < m; j++) {
            nb = ref_forward(net, x + (size_t)i * D, D, K, neg[j * n + i], g, v);
            for (int b = 0; b < nb; b++) {
                r->gneg[b][j * n + i] = g[b];
                r->Lb[b] += softplus_(g[b] - theta) / ((double)n * m);
            }
        }
        ref_forward(net, x + (size_t)i * D, D, K, -1, g, v);
        double z[16], mx = -1e300, se = 0;
        for (int k = 0; k < K; k++) {
            z[k] = ro->params[1].value[k];
            for (int j = 0; j < H; j++) z[k] += (double)ro->params[0].value[k * H + j] * v[j];
            mx = fmax(mx, z[k]);
        }
        for (int k = 0; k < K; k++) se += exp(z[k] - mx);
        r->xe += (mx + log(se) - z[y[i]]) / n;
    }
}

static soma_net *mknet(const char *spec, int D, uint64_t seed) {
    soma_net *net = NULL;
    CHECK_OK(soma_net_new(&net, spec, soma_shape1(D), seed));
    return net;
}

// --- gradients against finite differences --------------------------------------------------

/* K = 2: the only wrong label is 1 - y, so the negatives are known. */
static void test_fd(void) {
    const int D = 6, K = 2, n = 5;
    soma_net *net = mknet("fc5,tanh,fc4,relu,fc2", D, 3);
    if (!net) return;
    soma_rng rng;
    soma_rng_seed(&rng, 7, 0);
    float x[5 * 6];
    soma_rng_uniform_fill(&rng, x, sizeof x / sizeof *x, -1.f, 1.f);
    int y[5] = {0, 1, 1, 0, 1}, neg[5];
    for (int i = 0; i < n; i++) neg[i] = 1 - y[i];
    soma_rule_opts o = soma_rule_opts_default();
    o.kind = SOMA_RULE_FF;
    o.ff_theta = 1.f;
    soma_rule *r = NULL;
    CHECK_OK(soma_rule_new(&r, net, &o));
    if (!r) return;
    soma_target t = {.labels = y, .positions = 1};
    float loss = NAN;
    int correct = -1;
    CHECK_OK(soma_rule_step(r, net, x, &t, n, &loss, &correct));
    ref_out ro;
    ref_losses(net, x, y, neg, n, 1, D, K, 1.0, &ro);
    CHECK(fabs(loss - (ro.Lb[0] + ro.Lb[1] + ro.xe)) < 1e-4 * (1 + fabs(loss)));
    CHECK(correct >= 0 && correct <= n);
    /* each block's grads against its own loss; the read-out's against its cross-entropy */
    const int layers[3] = {0, 2, 4};
    double worst = 0;
    for (int q = 0; q < 3; q++) {
        soma_layer *l = soma_net_layer(net, layers[q]);
        for (int pi = 0; pi < 2; pi++) {
            soma_param *p = &l->params[pi];
            for (size_t e = 0; e < p->n; e++) {
                const float keep = p->value[e], h = 1e-3f;
                ref_out a, b;
                p->value[e] = keep + h;
                ref_losses(net, x, y, neg, n, 1, D, K, 1.0, &a);
                p->value[e] = keep - h;
                ref_losses(net, x, y, neg, n, 1, D, K, 1.0, &b);
                p->value[e] = keep;
                const double la = q < 2 ? a.Lb[q] : a.xe, lb = q < 2 ? b.Lb[q] : b.xe;
                const double fd = (la - lb) / (2.0 * h);
                const double err = fabs(fd - p->grad[e]) / fmax(1e-2, fabs(fd));
                if (err > worst) worst = err;
                if (err > 2e-2)
                    fprintf(stderr, "fd: layer %d %s[%zu]: rule %g, finite differences %g\n", layers[q], p->name, e,
                            (double)p->grad[e], fd);
            }
        }
    }
    printf("fd: worst relative error %.2e\n", worst);
    CHECK(worst < 2e-2);
    soma_rule_free(r);
    soma_net_free(net);
}

// --- goodness and embedding on a hand example ----------------------------------------------

/* One block "fc2,relu" on D = 4 (K = 2), W = [[1, 0, 1, 0], [0, 2, 0, 1]], b = 0, read-out zero:
 * x = (9, 9, 0.5, 1) -> label 0 embeds (1, 0, .5, 1): h = (1.5, 1), g = 3.25; label 1 embeds
 * (0, 1, .5, 1): h = (.5, 3), g = 9.25. The first K features are replaced (the 9s vanish). */
static void set_hand(soma_net *net) {
    soma_layer *l = soma_net_layer(net, 0);
    const float W[8] = {1, 0, 1, 0, 0, 2, 0, 1};
    memcpy(l->params[0].value, W, sizeof W);
    memset(l->params[1].value, 0, 2 * sizeof(float));
    soma_layer *ro = soma_net_layer(net, 2);
    memset(ro->params[0].value, 0, ro->params[0].n * sizeof(float));
    memset(ro->params[1].value, 0, ro->params[1].n * sizeof(float));
}

static void test_hand(void) {
    soma_net *net = mknet("fc2,relu,fc2", 4, 1);
    if (!net) return;
    set_hand(net);
    soma_rule_opts o = soma_rule_opts_default();
    o.kind = SOMA_RULE_FF;
    o.ff_theta = 5.f;
    soma_rule *r = NULL;
    CHECK_OK(soma_rule_new(&r, net, &o));
    if (!r) return;
    const float x[8] = {9, 9, 0.5f, 1, 9, 9, 0.5f, 1};
    int y[2] = {1, 0};
    soma_target t = {.labels = y, .positions = 1};
    float loss = NAN;
    CHECK_OK(soma_rule_step(r, net, x, &t, 2, &loss, NULL));
    /* sample 0: positive g 9.25, negative 3.25; sample 1: positive 3.25, negative 9.25 */
    const double want = (softplus_(5 - 9.25) + softplus_(5 - 3.25)) / 2 + (softplus_(3.25 - 5) + softplus_(9.25 - 5)) / 2 +
                        log(2.0);
    CHECK(fabs(loss - want) < 1e-5);
    int pred[2] = {-1, -1};
    CHECK_OK(soma_rule_predict(r, net, x, 2, 1, pred));
    CHECK(pred[0] == 1 && pred[1] == 1); /* label 1 has the larger goodness whatever the true label */
    /* swap the units' roles: label 0 wins */
    soma_layer *l = soma_net_layer(net, 0);
    l->params[0].value[0] = 3.f; /* label 0: h0 = 3.5, g = 13.25 > 9.25 */
    CHECK_OK(soma_rule_predict(r, net, x, 2, 1, pred));
    CHECK(pred[0] == 0 && pred[1] == 0);
    soma_rule_free(r);
    soma_net_free(net);
}

/* Two blocks: prediction sums the goodness of every block but the first; the first block
 * favours label 0, the second label 1, and label 1 must win (label 0 with ff_vote_all). */
static void test_predict_votes(void) {
    soma_net *net = mknet("fc2,relu,fc2,relu,fc2", 3, 1);
    if (!net) return;
    soma_layer *a = soma_net_layer(net, 0), *b = soma_net_layer(net, 2);
    /* block 0: h = (10 * x0, x1): label 0 -> g 100, label 1 -> g 1 */
    const float Wa[6] = {10, 0, 0, 0, 1, 0};
    memcpy(a->params[0].value, Wa, sizeof Wa);
    memset(a->params[1].value, 0, 2 * sizeof(float));
    /* block 1 reads the normalised h: label 0 -> (1, 0), label 1 -> (0, 1); W = diag(1, 3) */
    const float Wb[4] = {1, 0, 0, 3};
    memcpy(b->params[0].value, Wb, sizeof Wb);
    memset(b->params[1].value, 0, 2 * sizeof(float));
    soma_rule_opts o = soma_rule_opts_default();
    o.kind = SOMA_RULE_FF;
    soma_rule *r = NULL;
    CHECK_OK(soma_rule_new(&r, net, &o));
    if (!r) return;
    const float x[3] = {0, 0, 0.25f};
    int pred = -1;
    CHECK_OK(soma_rule_predict(r, net, x, 1, 1, &pred));
    CHECK(pred == 1);
    CHECK_FAILS(soma_rule_predict(r, net, x, 1, 2, &pred), SOMA_ERR_ARG);
    soma_rule_free(r);
    /* every block votes: label 0 (100 + 1) beats label 1 (1 + 9) */
    o.ff_vote_all = 1;
    r = NULL;
    CHECK_OK(soma_rule_new(&r, net, &o));
    pred = -1;
    if (r) CHECK_OK(soma_rule_predict(r, net, x, 1, 1, &pred));
    CHECK(pred == 0);
    soma_rule_free(r);
    soma_net_free(net);
}

// --- training on a small problem; determinism ----------------------------------------------

static void roll_features(soma_dataset *d, int by) {
    float tmp[64];
    const int D = (int)d->dim;
    for (int i = 0; i < d->n; i++) {
        float *row = d->x_f32 + (size_t)i * D;
        for (int j = 0; j < D; j++) tmp[(j + by) % D] = row[j];
        memcpy(row, tmp, (size_t)D * sizeof(float));
    }
}

static void train_once(int hard, int threads, float *acc, double *gap, float *params_out, size_t *np_out) {
    (void)threads;
#ifdef _OPENMP
    const int keep = omp_get_max_threads();
    omp_set_num_threads(threads);
#endif
    soma_dataset *tr = NULL, *te = NULL;
    CHECK_OK(soma_dataset_synthetic("gauss", 600, 12, 3, 3.f, 11, &tr));
    CHECK_OK(soma_dataset_synthetic("gauss", 300, 12, 3, 3.f, 12, &te));
    /* the classes differ along axes 0..2, where the label goes: move them to axes 6..8 */
    roll_features(tr, 6);
    roll_features(te, 6);
    soma_net *net = mknet("fc32,relu,fc32,relu,fc3", 12, 5);
    soma_rule_opts o = soma_rule_opts_default();
    o.kind = SOMA_RULE_FF;
    o.ff_hard = hard;
    o.seed = 9;
    soma_rule *r = NULL;
    soma_optim *opt = NULL;
    CHECK_OK(soma_rule_new(&r, net, &o));
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_ADAM);
    CHECK_OK(soma_optim_new(&opt, net, &oc));
    soma_train_config cfg = soma_train_defaults();
    cfg.epochs = 15;
    cfg.batch = 50;
    cfg.sched.lr = 0.01f;
    cfg.quiet = 1;
    cfg.seed = 4;
    soma_train_log log = {0};
    CHECK_OK(soma_train(net, r, opt, tr, te, &cfg, &log));
    *acc = log.epochs ? log.test_acc[log.epochs - 1] : 0.f;
    /* mean goodness of the last block, positives minus negatives (random wrong labels), on the test set */
    double g[MAXB], v[MAXW * 4], sp = 0, sn = 0;
    float *xb = malloc(te->dim * sizeof(float));
    for (int i = 0; i < te->n; i++) {
        int yi;
        soma_dataset_batch(te, &i, 1, xb, &yi);
        int nb = ref_forward(net, xb, 12, 3, yi, g, v);
        sp += g[nb - 1];
        ref_forward(net, xb, 12, 3, (yi + 1 + i % 2) % 3, g, v);
        sn += g[nb - 1];
    }
    free(xb);
    *gap = (sp - sn) / te->n;
    size_t nv = 0;
    const float *vals = soma_net_flat_values(net, &nv);
    if (params_out) memcpy(params_out, vals, nv * sizeof(float));
    if (np_out) *np_out = nv;
    soma_train_log_free(&log);
    soma_optim_free(opt);
    soma_rule_free(r);
    soma_net_free(net);
    soma_dataset_free(tr);
    soma_dataset_free(te);
#ifdef _OPENMP
    omp_set_num_threads(keep);
#endif
}

static void test_train(void) {
    float acc = 0, acc2 = 0, acch = 0;
    double gap = 0, gap2 = 0, gaph = 0;
    size_t np = 0;
    float *p1 = malloc(4096 * sizeof(float)), *p2 = malloc(4096 * sizeof(float));
    train_once(0, 1, &acc, &gap, p1, &np);
    printf("train: random negatives: test accuracy %.3f, goodness gap %.2f (theta %d)\n", acc, gap, 32);
    CHECK(np <= 4096);
    CHECK(acc > 0.33f + 0.25f);
    CHECK(gap > 1.0);
    /* the same bits with two threads */
    train_once(0, 2, &acc2, &gap2, p2, NULL);
    CHECK(memcmp(p1, p2, np * sizeof(float)) == 0);
    CHECK(acc2 == acc);
    /* hard negatives train too */
    train_once(1, 1, &acch, &gaph, NULL, NULL);
    printf("train: hard negatives: test accuracy %.3f, goodness gap %.2f\n", acch, gaph);
    CHECK(acch > 0.33f + 0.25f);
    free(p1);
    free(p2);
}

// --- refusals -----------------------------------------------------------------------------

static void test_refuse(void) {
    soma_rule_opts o = soma_rule_opts_default();
    o.kind = SOMA_RULE_FF;
    soma_rule *r = NULL;
    const char *bad[] = {"fc8,relu",          /* no read-out */
                         "fc8,relu,fc3,relu", /* activation after the read-out */
                         "fc8,fc3",           /* no activation in the block */
                         "fc8,relu,layernorm,fc3", "fc8,relu,dropout0.5,fc3", "fc3"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        soma_net *net = mknet(bad[i], 10, 1);
        if (!net) continue;
        CHECK_FAILS(soma_rule_new(&r, net, &o), SOMA_ERR_ARG);
        CHECK(r == NULL);
        soma_net_free(net);
    }
    soma_net *conv = NULL;
    CHECK_OK(soma_net_new(&conv, "conv3x3x4,relu,fc3", soma_shape3(1, 6, 6), 1));
    if (conv) {
        CHECK_FAILS(soma_rule_new(&r, conv, &o), SOMA_ERR_ARG);
        soma_net_free(conv);
    }
    soma_net *net = mknet("fc8,relu,fc12", 10, 1); /* 12 classes, 10 features */
    if (net) {
        CHECK_FAILS(soma_rule_new(&r, net, &o), SOMA_ERR_ARG);
        soma_net_free(net);
    }
    net = mknet("fc8,relu,fc3", 10, 1);
    if (net) {
        soma_rule_opts b = o;
        b.loss = SOMA_LOSS_MSE;
        CHECK_FAILS(soma_rule_new(&r, net, &b), SOMA_ERR_ARG);
        b = o;
        b.ff_theta = -1.f;
        CHECK_FAILS(soma_rule_new(&r, net, &b), SOMA_ERR_ARG);
        b = o;
        b.ff_hard = 1;
        b.ff_negatives = 3; /* only 2 wrong labels */
        CHECK_FAILS(soma_rule_new(&r, net, &b), SOMA_ERR_ARG);
        b.ff_negatives = 2;
        CHECK_OK(soma_rule_new(&r, net, &b));
        if (r) {
            float x[20] = {0};
            int y[2] = {0, 3};
            soma_target t = {.labels = y, .positions = 1};
            CHECK_FAILS(soma_rule_step(r, net, x, &t, 2, NULL, NULL), SOMA_ERR_ARG); /* label 3 of 3 classes */
            soma_target tv = {.values = x, .dim = 3, .positions = 1};
            CHECK_FAILS(soma_rule_step(r, net, x, &tv, 2, NULL, NULL), SOMA_ERR_ARG);
            y[1] = 2;
            CHECK_OK(soma_rule_step(r, net, x, &t, 2, NULL, NULL));
            soma_rule *c = NULL;
            CHECK_OK(r->ops->clone(r, &c));
            if (c) CHECK_OK(soma_rule_step(c, net, x, &t, 2, NULL, NULL));
            soma_rule_free(c);
            soma_rule_free(r);
        }
        soma_net_free(net);
    }
}

// --- one step against NumPy -----------------------------------------------------------------

static fixture_array *fx_get(fixture *f, const char *name) {
    const fixture_array *a = fixture_get(f, name);
    if (!a) fprintf(stderr, "ff fixture: no array %s\n", name);
    return (fixture_array *)a;
}

static void test_numpy(void) {
    fixture f;
    if (fixture_load(check_src_path("tests/fixtures/learn/ff_step.bin"), &f) != 0) {
        CHECK(0);
        return;
    }
    fixture_array *x = fx_get(&f, "x"), *y = fx_get(&f, "y"), *loss = fx_get(&f, "loss");
    if (!x || !y || !loss) {
        CHECK(0);
        fixture_free(&f);
        return;
    }
    const int n = x->dims[0], D = x->dims[1];
    soma_net *net = mknet(f.spec, D, 1);
    if (!net) {
        fixture_free(&f);
        return;
    }
    const int np = soma_net_n_params(net);
    for (int i = 0; i < np; i++) {
        char key[40];
        snprintf(key, sizeof key, "p%d", i);
        fixture_array *a = fx_get(&f, key);
        CHECK(a && a->n == soma_net_param(net, i)->n);
        if (a && a->n == soma_net_param(net, i)->n) memcpy(soma_net_param(net, i)->value, a->data, a->n * sizeof(float));
    }
    soma_rule_opts o = soma_rule_opts_default();
    o.kind = SOMA_RULE_FF;
    o.ff_theta = fx_get(&f, "theta") ? fx_get(&f, "theta")->data[0] : 0.f;
    soma_rule *r = NULL;
    CHECK_OK(soma_rule_new(&r, net, &o));
    int *lab = malloc((size_t)n * sizeof(int));
    for (int i = 0; i < n; i++) lab[i] = (int)y->data[i];
    soma_target t = {.labels = lab, .positions = 1};
    float l = NAN;
    if (r) CHECK_OK(soma_rule_step(r, net, x->data, &t, n, &l, NULL));
    CHECK_CLOSE("ff loss", &l, loss->data, 1, 1e-5f, 1e-4f);
    for (int i = 0; i < np; i++) {
        char key[40];
        snprintf(key, sizeof key, "g%d", i);
        fixture_array *a = fx_get(&f, key);
        CHECK(a && a->n == soma_net_param(net, i)->n);
        if (a && a->n == soma_net_param(net, i)->n) CHECK_CLOSE(key, soma_net_param(net, i)->grad, a->data, a->n, 1e-6f, 1e-3f);
    }
    free(lab);
    soma_rule_free(r);
    soma_net_free(net);
    fixture_free(&f);
}

int main(void) {
    test_fd();
    test_hand();
    test_predict_votes();
    test_refuse();
    test_train();
    test_numpy();
    return check_report("test_learn_ff");
}
