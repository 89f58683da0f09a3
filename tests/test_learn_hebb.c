// Hebbian rules (Oja, GHA, competitive) and the hebb rule; Rao & Ballard's predictive coding.
// Reference values: tests/ref/gen_hebb.py (NumPy), fixtures in tests/fixtures/learn/.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "scratch.h"
#include "fixture.h"
#include "soma/soma.h"

static const float *fx_(const fixture *f, const char *name, size_t want) {
    const fixture_array *a = fixture_get(f, name);
    if (!a || a->n != want) {
        fprintf(stderr, "fixture: array %s missing or of size %zu, want %zu\n", name, a ? a->n : 0, want);
        return NULL;
    }
    return a->data;
}

// --- one step of each Hebbian rule against NumPy ---------------------------------------------

static void test_hebb_fixture(void) {
    fixture f;
    CHECK(fixture_load(check_src_path("tests/fixtures/learn/hebb.bin"), &f) == 0);
    if (f.n_arrays == 0) return;
    const int n = f.n, d = f.c, k = f.h;
    const float *W0 = fx_(&f, "W0", (size_t)k * d), *X = fx_(&f, "X", (size_t)n * d), *lr = fx_(&f, "lr", 1);
    CHECK(W0 && X && lr);
    if (!W0 || !X || !lr) goto out;
    const char *names[3] = {"oja", "gha", "comp"};
    const soma_hebb_kind kinds[3] = {SOMA_HEBB_OJA, SOMA_HEBB_GHA, SOMA_HEBB_COMPETITIVE};
    float W[64];
    for (int r = 0; r < 3; r++) {
        for (int batched = 0; batched < 2; batched++) {
            char key[48];
            snprintf(key, sizeof key, "%s.%s", names[r], batched ? "batch" : "online");
            const float *ref = fx_(&f, key, (size_t)k * d);
            CHECK(ref != NULL);
            if (!ref) continue;
            memcpy(W, W0, (size_t)k * d * sizeof *W);
            CHECK_OK(soma_hebb_epoch(kinds[r], W, k, d, X, n, batched ? n : 1, lr[0]));
            CHECK_CLOSE(key, W, ref, (size_t)k * d, 1e-5f, 1e-5f);
        }
    }
out:
    fixture_free(&f);
}

// --- synthetic data with a known covariance -------------------------------------------------

/* x = Q diag(sqrt(lam)) z with Q [d, d] orthonormal (columns: the eigenvectors, stored as rows
 * of Qr), n samples */
static void gauss_data_(float *X, float *Qr, const double *lam, int n, int d, uint64_t seed) {
    soma_rng r;
    soma_rng_seed(&r, seed, 0);
    for (int i = 0; i < d * d; i++) Qr[i] = (float)soma_rng_normal(&r);
    for (int i = 0; i < d; i++) { /* Gram-Schmidt on the rows */
        float *q = Qr + i * d;
        for (int j = 0; j < i; j++) {
            double dot = 0;
            for (int t = 0; t < d; t++) dot += (double)q[t] * Qr[j * d + t];
            for (int t = 0; t < d; t++) q[t] -= (float)dot * Qr[j * d + t];
        }
        double nn = 0;
        for (int t = 0; t < d; t++) nn += (double)q[t] * q[t];
        for (int t = 0; t < d; t++) q[t] = (float)(q[t] / sqrt(nn));
    }
    for (int s = 0; s < n; s++) {
        float *x = X + (size_t)s * d;
        memset(x, 0, (size_t)d * sizeof *x);
        for (int i = 0; i < d; i++) {
            const float z = (float)(sqrt(lam[i]) * soma_rng_normal(&r));
            for (int t = 0; t < d; t++) x[t] += z * Qr[i * d + t];
        }
    }
}

static double abs_cos_(const float *a, const float *b, int d) {
    double ab = 0, aa = 0, bb = 0;
    for (int t = 0; t < d; t++) {
        ab += (double)a[t] * b[t];
        aa += (double)a[t] * a[t];
        bb += (double)b[t] * b[t];
    }
    return fabs(ab) / sqrt(aa * bb + 1e-300);
}

static void test_gha_recovers_eigenvectors(void) {
    enum { D = 10, K = 4, N = 4000 };
    const double lam[D] = {10, 7, 5, 3.5, 2, 1.5, 1, 0.7, 0.5, 0.3};
    float *X = soma_alloc((size_t)N * D, sizeof(float)), Q[D * D], W[K * D];
    CHECK(X != NULL);
    if (!X) return;
    gauss_data_(X, Q, lam, N, D, 3);
    soma_rng r;
    soma_rng_seed(&r, 11, 0);
    soma_rng_normal_fill(&r, W, K * D, 0.f, 0.1f);
    for (int e = 0; e < 30; e++)
        CHECK_OK(soma_hebb_epoch(SOMA_HEBB_GHA, W, K, D, X, N, 10, e < 10 ? 0.01f : e < 20 ? 0.003f : 0.001f));
    double worst = 1.0;
    for (int i = 0; i < K; i++) {
        const double c = abs_cos_(W + i * D, Q + i * D, D);
        if (c < worst) worst = c;
    }
    printf("GHA on known covariance: min |cos| over the top %d eigenvectors %.5f\n", K, worst);
    CHECK(worst > 0.99);
    /* the rule's fixed point is orthonormal: rows of unit norm */
    for (int i = 0; i < K; i++) {
        double nn = 0;
        for (int t = 0; t < D; t++) nn += (double)W[i * D + t] * W[i * D + t];
        CHECK(fabs(sqrt(nn) - 1.0) < 0.03);
    }
    /* Oja: one unit from a small start; its norm converges to 1 and it finds PC 1 */
    float w[D];
    soma_rng_normal_fill(&r, w, D, 0.f, 0.05f);
    double n0 = 0;
    for (int t = 0; t < D; t++) n0 += (double)w[t] * w[t];
    CHECK(sqrt(n0) < 0.5);
    for (int e = 0; e < 10; e++) CHECK_OK(soma_hebb_epoch(SOMA_HEBB_OJA, w, 1, D, X, N, 1, e < 5 ? 0.002f : 0.0005f));
    double nw = 0;
    for (int t = 0; t < D; t++) nw += (double)w[t] * w[t];
    printf("Oja: |w| from %.3f to %.4f, |cos(w, PC1)| %.5f\n", sqrt(n0), sqrt(nw), abs_cos_(w, Q, D));
    CHECK(fabs(sqrt(nw) - 1.0) < 0.02);
    CHECK(abs_cos_(w, Q, D) > 0.99);
    soma_free(X);
}

static void test_competitive_clusters(void) {
    enum { D = 3, N = 400 };
    float X[N * D], W[2 * D] = {0.1f, 0.f, 0.f, 0.f, 0.1f, 0.f};
    const float c0[D] = {4, 0, 1}, c1[D] = {0, 4, 1};
    soma_rng r;
    soma_rng_seed(&r, 5, 0);
    for (int s = 0; s < N; s++)
        for (int t = 0; t < D; t++) X[s * D + t] = (s % 2 ? c1[t] : c0[t]) + 0.1f * (float)soma_rng_normal(&r);
    for (int e = 0; e < 20; e++) CHECK_OK(soma_hebb_epoch(SOMA_HEBB_COMPETITIVE, W, 2, D, X, N, 1, 0.05f));
    CHECK_CLOSE("competitive unit 0 -> cluster 0", W, c0, D, 0.15f, 0.f);
    CHECK_CLOSE("competitive unit 1 -> cluster 1", W + D, c1, D, 0.15f, 0.f);
}

// --- the hebb rule ---------------------------------------------------------------------------

static void test_hebb_rule(void) {
    enum { N = 8, I = 6, H = 5, O = 3 };
    soma_net *net = NULL;
    soma_rule *hebb = NULL, *bp = NULL;
    soma_optim *opt = NULL;
    CHECK_OK(soma_net_new(&net, "fc5,relu,fc3", soma_shape1(I), 7));
    if (!net) return;
    CHECK_OK(soma_net_reserve(net, N));
    soma_rule_opts o = soma_rule_opts_default();
    o.kind = SOMA_RULE_HEBB;
    o.hebb = SOMA_HEBB_GHA;
    CHECK_OK(soma_rule_new(&hebb, net, &o));
    CHECK_OK(soma_rule_backprop_new(&bp, SOMA_LOSS_XENT));
    float x[N * I];
    int lab[N];
    soma_rng r;
    soma_rng_seed(&r, 2, 0);
    soma_rng_normal_fill(&r, x, N * I, 0.f, 1.f);
    for (int i = 0; i < N; i++) lab[i] = i % O;
    soma_target t = {.labels = lab};
    if (!hebb || !bp) goto out;
    /* params: 0 fc5.weight, 1 fc5.bias, 2 fc3.weight, 3 fc3.bias */
    float gb[O * H + O], gh[O * H + O], hw[H * I], hb[H];
    float loss_bp, loss_h;
    CHECK_OK(soma_rule_step(bp, net, x, &t, N, &loss_bp, NULL));
    memcpy(gb, soma_net_param(net, 2)->grad, sizeof(float) * O * H);
    memcpy(gb + O * H, soma_net_param(net, 3)->grad, sizeof(float) * O);
    CHECK_OK(soma_rule_step(hebb, net, x, &t, N, &loss_h, NULL));
    memcpy(gh, soma_net_param(net, 2)->grad, sizeof(float) * O * H);
    memcpy(gh + O * H, soma_net_param(net, 3)->grad, sizeof(float) * O);
    memcpy(hw, soma_net_param(net, 0)->grad, sizeof hw);
    memcpy(hb, soma_net_param(net, 1)->grad, sizeof hb);
    CHECK(loss_bp == loss_h);
    CHECK_CLOSE("hebb rule: read-out update = delta rule (backprop's last-layer gradient)", gh, gb, O * H + O, 1e-7f,
                1e-6f);
    /* hidden layer: grad = -(GHA's step at lr 1 / s on the batch), s the batch's mean ||x||^2 */
    double s = 0.0;
    for (int j = 0; j < N * I; j++) s += (double)x[j] * x[j];
    s /= N;
    float W[H * I], want[H * I];
    memcpy(W, soma_net_param(net, 0)->value, sizeof W);
    CHECK_OK(soma_hebb_epoch(SOMA_HEBB_GHA, W, H, I, x, N, N, (float)(1.0 / s)));
    for (int j = 0; j < H * I; j++) want[j] = -(W[j] - soma_net_param(net, 0)->value[j]);
    CHECK_CLOSE("hebb rule: hidden grad = -GHA step", hw, want, H * I, 1e-6f, 1e-5f);
    for (int j = 0; j < H; j++) CHECK(hb[j] == 0.f);
    /* plain SGD at lr applies the rule's step */
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_SGD);
    CHECK_OK(soma_optim_new(&opt, net, &oc));
    if (opt) {
        memcpy(W, soma_net_param(net, 0)->value, sizeof W);
        CHECK_OK(soma_hebb_epoch(SOMA_HEBB_GHA, W, H, I, x, N, N, (float)(0.1 / s)));
        soma_optim_step(opt, 0.1f);
        CHECK_CLOSE("hebb rule + SGD = GHA step at lr / s", soma_net_param(net, 0)->value, W, H * I, 1e-6f, 1e-5f);
    }
    /* clone: same kind and settings, the same update on the same net */
    soma_rule *cl = NULL;
    CHECK(hebb->ops->clone != NULL);
    if (hebb->ops->clone) CHECK_OK(hebb->ops->clone(hebb, &cl));
    if (cl) {
        CHECK_OK(soma_rule_step(hebb, net, x, &t, N, NULL, NULL));
        memcpy(hw, soma_net_param(net, 0)->grad, sizeof hw);
        CHECK_OK(soma_rule_step(cl, net, x, &t, N, NULL, NULL));
        CHECK(memcmp(hw, soma_net_param(net, 0)->grad, sizeof hw) == 0);
        soma_rule_free(cl);
    }
out:
    soma_optim_free(opt);
    soma_rule_free(hebb);
    soma_rule_free(bp);
    soma_net_free(net);
}

/* the hebb rule as a feature learner under soma_train: GHA on a Gaussian-cluster task, then
 * a read-out above chance */
static void test_hebb_rule_trains(void) {
    soma_dataset *d = NULL;
    soma_net *net = NULL;
    soma_rule *rule = NULL;
    soma_optim *opt = NULL;
    CHECK_OK(soma_dataset_synthetic("gauss", 600, 20, 3, 4.0f, 5, &d));
    if (!d) return;
    CHECK_OK(soma_net_new(&net, "fc6,fc3", d->shape, 3));
    soma_rule_opts o = soma_rule_opts_default();
    o.kind = SOMA_RULE_HEBB;
    if (net) CHECK_OK(soma_rule_new(&rule, net, &o));
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_SGD);
    if (net) CHECK_OK(soma_optim_new(&opt, net, &oc));
    if (rule && opt) {
        soma_train_config cfg = soma_train_defaults();
        cfg.epochs = 20;
        cfg.batch = 20;
        cfg.sched.lr = 0.5f; /* the Hebbian step runs at lr / E||x||^2 (about 28 here) */
        cfg.quiet = 1;
        soma_train_log log = {0};
        CHECK_OK(soma_train(net, rule, opt, d, d, &cfg, &log));
        if (log.epochs) {
            printf("hebb rule on gauss (3 classes): accuracy %.3f\n", (double)log.test_acc[log.epochs - 1]);
            CHECK(log.test_acc[log.epochs - 1] > 0.8f);
        }
        /* the hidden layer went to GHA's fixed point: orthonormal rows (Kaiming's start: norms
         * about 0.58) */
        const soma_param *w = soma_net_param(net, 0);
        double worst = 0;
        for (int i = 0; i < w->dims[0]; i++)
            for (int j = 0; j < w->dims[0]; j++) {
                double dot = 0;
                for (int t = 0; t < w->dims[1]; t++)
                    dot += (double)w->value[i * w->dims[1] + t] * w->value[j * w->dims[1] + t];
                const double dev = fabs(dot - (i == j));
                if (dev > worst) worst = dev;
            }
        printf("hebb rule: hidden rows' largest deviation from orthonormal %.4f\n", worst);
        CHECK(worst < 0.05);
        soma_train_log_free(&log);
    }
    soma_optim_free(opt);
    soma_rule_free(rule);
    soma_net_free(net);
    soma_dataset_free(d);
}

/* Oja and GHA under the rule at a rate the read-out wants, on inputs of large energy (all
 * positive, as pixels are: the input correlation's top eigenvalue about 60): before the step
 * was normalised by the input's energy, GHA's unit norms overshot from Kaiming's start and
 * the loss became NaN in the first epoch (`soma train --rule hebb --optim sgd --lr 0.01` on
 * Fashion-MNIST, momentum 0.9). Now the leading unit settles at norm 1 and nothing blows up. */
static void test_hebb_rule_stable(void) {
    static const struct {
        soma_hebb_kind kind;
        float lr, momentum;
    } runs[] = {{SOMA_HEBB_GHA, 0.01f, 0.9f}, {SOMA_HEBB_GHA, 0.1f, 0.f}, {SOMA_HEBB_OJA, 0.01f, 0.9f}};
    for (size_t q = 0; q < sizeof runs / sizeof runs[0]; q++) {
        soma_dataset *d = NULL;
        soma_net *net = NULL;
        soma_rule *rule = NULL;
        soma_optim *opt = NULL;
        CHECK_OK(soma_dataset_synthetic("gauss", 600, 256, 3, 6.0f, 5, &d));
        if (!d) return;
        for (size_t j = 0; j < (size_t)d->n * d->dim; j++) d->x_f32[j] = 0.5f + 0.1f * d->x_f32[j];
        CHECK_OK(soma_net_new(&net, "fc8,relu,fc3", d->shape, 3));
        soma_rule_opts o = soma_rule_opts_default();
        o.kind = SOMA_RULE_HEBB;
        o.hebb = runs[q].kind;
        if (net) CHECK_OK(soma_rule_new(&rule, net, &o));
        soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_SGD);
        oc.momentum = runs[q].momentum;
        if (net) CHECK_OK(soma_optim_new(&opt, net, &oc));
        if (rule && opt) {
            soma_train_config cfg = soma_train_defaults();
            cfg.epochs = 3;
            cfg.batch = 32;
            cfg.sched.lr = runs[q].lr;
            cfg.quiet = 1;
            soma_train_log log = {0};
            const soma_status st = soma_train(net, rule, opt, d, d, &cfg, &log);
            CHECK(st == SOMA_OK);
            const soma_param *w = soma_net_param(net, 0);
            double lo = 1e9, hi = 0;
            for (int i = 0; i < w->dims[0]; i++) {
                double sq = 0;
                for (int t = 0; t < w->dims[1]; t++) sq += (double)w->value[i * w->dims[1] + t] * w->value[i * w->dims[1] + t];
                if (!(sqrt(sq) >= lo)) lo = sqrt(sq);
                if (!(sqrt(sq) <= hi)) hi = sqrt(sq);
            }
            printf("hebb rule (%s, lr %g, momentum %g) on positive inputs: %s, unit norms %.3f..%.3f, accuracy %.3f\n",
                   runs[q].kind == SOMA_HEBB_GHA ? "gha" : "oja", (double)runs[q].lr, (double)runs[q].momentum,
                   st == SOMA_OK ? "ok" : soma_errmsg(), lo, hi,
                   log.epochs ? (double)log.test_acc[log.epochs - 1] : NAN);
            /* the leading unit (the inputs' mean direction) at Oja's fixed point, norm 1; the
             * minor ones still on their way from Kaiming's 0.58; nothing blew up */
            CHECK(lo > 0.4 && hi > 0.95 && hi < 1.05);
            CHECK(log.epochs == 3 && isfinite(log.train_loss[log.epochs - 1]));
            soma_train_log_free(&log);
        }
        soma_optim_free(opt);
        soma_rule_free(rule);
        soma_net_free(net);
        soma_dataset_free(d);
    }
}

// --- Rao & Ballard ---------------------------------------------------------------------------

static void test_rb_fixture(void) {
    fixture f;
    CHECK(fixture_load(check_src_path("tests/fixtures/learn/rb.bin"), &f) == 0);
    if (f.n_arrays == 0) return;
    const int n = f.n, d = f.c, k1 = f.h, k2 = f.w;
    const float *op = fx_(&f, "opts", 6), *U1 = fx_(&f, "U1", (size_t)d * k1), *U2 = fx_(&f, "U2", (size_t)k1 * k2),
                *X = fx_(&f, "X", (size_t)n * d);
    CHECK(op && U1 && U2 && X);
    if (!op || !U1 || !U2 || !X) goto out;
    const int steps = (int)op[0];
    soma_rb_opts o = {.k1 = k1, .k2 = k2, .infer_steps = steps, .infer_rate = op[1], .s1 = op[2], .s2 = op[3],
                      .prior = op[4], .lr = op[5]};
    soma_rb m = {.d = d, .k1 = k1, .k2 = k2};
    m.U1 = soma_alloc((size_t)d * k1, sizeof(float));
    m.U2 = soma_alloc((size_t)k1 * k2, sizeof(float));
    float *R1 = soma_alloc((size_t)n * k1, sizeof(float)), *R2 = soma_alloc((size_t)n * k2, sizeof(float));
    double *E = soma_alloc((size_t)steps + 1, sizeof(double));
    float *Ef = soma_alloc((size_t)steps + 1, sizeof(float));
    CHECK(m.U1 && m.U2 && R1 && R2 && E && Ef);
    if (m.U1 && m.U2 && R1 && R2 && E && Ef) {
        memcpy(m.U1, U1, (size_t)d * k1 * sizeof(float));
        memcpy(m.U2, U2, (size_t)k1 * k2 * sizeof(float));
        CHECK_OK(soma_rb_infer(&m, &o, X, n, R1, R2, E, NULL));
        for (int i = 0; i <= steps; i++) Ef[i] = (float)E[i];
        const float *ref;
        if ((ref = fx_(&f, "energy", (size_t)steps + 1))) CHECK_CLOSE("rb energy", Ef, ref, steps + 1, 1e-5f, 1e-5f);
        if ((ref = fx_(&f, "R1", (size_t)n * k1))) CHECK_CLOSE("rb R1", R1, ref, (size_t)n * k1, 1e-5f, 1e-4f);
        if ((ref = fx_(&f, "R2", (size_t)n * k2))) CHECK_CLOSE("rb R2", R2, ref, (size_t)n * k2, 1e-5f, 1e-4f);
        double e1, e2;
        CHECK_OK(soma_rb_step(&m, &o, X, n, NULL, &e1, &e2));
        const float err[2] = {(float)e1, (float)e2};
        if ((ref = fx_(&f, "err", 2))) CHECK_CLOSE("rb errors", err, ref, 2, 1e-6f, 1e-5f);
        if ((ref = fx_(&f, "U1.new", (size_t)d * k1))) CHECK_CLOSE("rb U1 step", m.U1, ref, (size_t)d * k1, 1e-5f, 1e-4f);
        if ((ref = fx_(&f, "U2.new", (size_t)k1 * k2)))
            CHECK_CLOSE("rb U2 step", m.U2, ref, (size_t)k1 * k2, 1e-5f, 1e-4f);
    }
    soma_rb_free(&m);
    soma_free(R1);
    soma_free(R2);
    soma_free(E);
    soma_free(Ef);
out:
    fixture_free(&f);
}

/* patches from a sparse generative model: X = A D + noise, A sparse, D [k, d] */
static void sparse_data_(float *X, int n, int d, int k, uint64_t seed) {
    soma_rng r;
    soma_rng_seed(&r, seed, 0);
    float *D = soma_alloc((size_t)k * d, sizeof(float));
    if (!D) return;
    soma_rng_normal_fill(&r, D, (size_t)k * d, 0.f, 1.f / sqrtf((float)d));
    for (int s = 0; s < n; s++) {
        float *x = X + (size_t)s * d;
        for (int t = 0; t < d; t++) x[t] = 0.05f * (float)soma_rng_normal(&r);
        for (int j = 0; j < k; j++) {
            if (soma_rng_uniform(&r) > 0.15) continue;
            const float a = (float)soma_rng_normal(&r) * 2.f;
            for (int t = 0; t < d; t++) x[t] += a * D[(size_t)j * d + t];
        }
    }
    soma_free(D);
}

static void test_rb_dynamics(void) {
    enum { N = 500, D = 16, K1 = 12, K2 = 4 };
    float *X = soma_alloc((size_t)N * D, sizeof(float));
    CHECK(X != NULL);
    if (!X) return;
    sparse_data_(X, N, D, K1, 4);
    soma_rb_opts o = {.k1 = K1, .k2 = K2, .infer_steps = 40, .infer_rate = 0.05f, .lr = 0.2f, .prior = 0.05f,
                      .batch = 50, .steps = 1, .seed = 9};
    /* the energy falls at every inference step */
    soma_rb m;
    CHECK_OK(soma_rb_init(&m, D, &o));
    float R1[50 * K1], R2[50 * K2];
    double E[41];
    CHECK_OK(soma_rb_infer(&m, &o, X, 50, R1, R2, E, NULL));
    int falls = 1;
    for (int i = 1; i <= 40; i++) falls &= E[i] <= E[i - 1] * (1 + 1e-6);
    printf("rb inference: energy %.4f -> %.4f in 40 steps\n", E[0], E[40]);
    CHECK(falls);
    CHECK(E[40] < 0.9 * E[0]);
    soma_rb_free(&m);
    /* prediction error falls over training; the same seed gives the same bits */
    soma_rb a, b, c;
    double e1_first, e1_last, e2_last, e1_again;
    CHECK_OK(soma_rb_train(X, N, D, &o, NULL, &a, &e1_first, NULL));
    o.steps = 300;
    CHECK_OK(soma_rb_train(X, N, D, &o, NULL, &b, &e1_last, &e2_last));
    CHECK_OK(soma_rb_train(X, N, D, &o, NULL, &c, &e1_again, NULL));
    printf("rb training: level-1 error %.4f after 1 step, %.4f after 300 (level 2: %.4f)\n", e1_first, e1_last,
           e2_last);
    CHECK(e1_last < 0.5 * e1_first);
    CHECK(isfinite(e2_last));
    CHECK(b.U1 && c.U1 && memcmp(b.U1, c.U1, sizeof(float) * D * K1) == 0);
    CHECK(b.U2 && c.U2 && memcmp(b.U2, c.U2, sizeof(float) * K1 * K2) == 0);
    CHECK(e1_last == e1_again);
    soma_rb_free(&a);
    soma_rb_free(&b);
    soma_rb_free(&c);
    soma_free(X);
}

// --- determinism and bad input ---------------------------------------------------------------

/* The same bits for 1 and 2 threads, at sizes where the BLAS threads a single GEMM (above
 * OpenBLAS's M*N*K threshold) -- under the kernels the soma command runs on (main re-executes
 * this test with the CLI's OPENBLAS_CORETYPE: Zen/Haswell's threaded SGEMM differs in the last
 * bits from its single-threaded one). */
static void test_threads(void) {
    enum { N = 600, D = 144, K = 32 };
    float *X = soma_alloc((size_t)N * D, sizeof(float)), *W1 = soma_alloc((size_t)K * D, sizeof(float)),
          *W2 = soma_alloc((size_t)K * D, sizeof(float));
    CHECK(X && W1 && W2);
    if (!X || !W1 || !W2) goto out;
    soma_rng r;
    soma_rng_seed(&r, 1, 0);
    soma_rng_normal_fill(&r, X, (size_t)N * D, 0.f, 1.f);
    soma_rng_normal_fill(&r, W1, (size_t)K * D, 0.f, 0.1f);
    for (int kind = 0; kind < 3; kind++) {
        memcpy(W2, W1, sizeof(float) * K * D);
        float *Wa = W1, *Wb = W2;
        soma_set_threads(1);
        CHECK_OK(soma_hebb_epoch((soma_hebb_kind)kind, Wa, K, D, X, N, 200, 0.001f));
        soma_set_threads(2);
        CHECK_OK(soma_hebb_epoch((soma_hebb_kind)kind, Wb, K, D, X, N, 200, 0.001f));
        CHECK(memcmp(Wa, Wb, sizeof(float) * K * D) == 0);
    }
    /* Rao-Ballard: a batch of 100 settles in slices on any number of threads, same bits */
    soma_rb_opts o = {.k1 = K, .k2 = 8, .infer_steps = 20, .lr = 0.1f, .prior = 0.1f, .seed = 4};
    soma_rb a, b;
    double ea[2], eb[2];
    CHECK_OK(soma_rb_init(&a, D, &o));
    CHECK_OK(soma_rb_init(&b, D, &o));
    soma_set_threads(1);
    for (int s = 0; s < 3; s++) CHECK_OK(soma_rb_step(&a, &o, X + s * 100 * D, 100, NULL, &ea[0], &ea[1]));
    soma_set_threads(2);
    for (int s = 0; s < 3; s++) CHECK_OK(soma_rb_step(&b, &o, X + s * 100 * D, 100, NULL, &eb[0], &eb[1]));
    CHECK(a.U1 && b.U1 && memcmp(a.U1, b.U1, sizeof(float) * D * K) == 0);
    CHECK(a.U2 && b.U2 && memcmp(a.U2, b.U2, sizeof(float) * K * 8) == 0);
    CHECK(ea[0] == eb[0] && ea[1] == eb[1]);
    soma_rb_free(&a);
    soma_rb_free(&b);
out:
    soma_free(X);
    soma_free(W1);
    soma_free(W2);
}

static void test_bad_input(void) {
    float W[6] = {0}, X[6] = {0};
    CHECK_FAILS(soma_hebb_epoch(SOMA_HEBB_OJA, W, 0, 3, X, 2, 1, 0.1f), SOMA_ERR_ARG);
    CHECK_FAILS(soma_hebb_epoch(SOMA_HEBB_OJA, W, 2, 3, X, 2, 0, 0.1f), SOMA_ERR_ARG);
    CHECK_FAILS(soma_hebb_epoch(SOMA_HEBB_OJA, W, 2, 3, X, 2, 1, 0.f), SOMA_ERR_ARG);
    CHECK_FAILS(soma_hebb_epoch(SOMA_HEBB_OJA, W, 2, 3, X, 2, 1, NAN), SOMA_ERR_ARG);
    CHECK_FAILS(soma_hebb_epoch((soma_hebb_kind)7, W, 2, 3, X, 2, 1, 0.1f), SOMA_ERR_ARG);
    CHECK_FAILS(soma_hebb_epoch(SOMA_HEBB_GHA, NULL, 2, 3, X, 2, 1, 0.1f), SOMA_ERR_ARG);
    /* nets the hebb rule cannot train */
    const char *bad[] = {"conv3x3x2,relu,fc3", "fc4,layernorm,fc3", "fc4,res(fc4,relu),fc3", "relu"};
    soma_rule_opts o = soma_rule_opts_default();
    o.kind = SOMA_RULE_HEBB;
    for (int i = 0; i < 4; i++) {
        soma_net *net = NULL;
        soma_rule *rule = NULL;
        CHECK_OK(soma_net_new(&net, bad[i], soma_shape3(1, 5, 5), 1));
        if (!net) continue;
        CHECK_FAILS(soma_rule_new(&rule, net, &o), SOMA_ERR_ARG);
        CHECK(rule == NULL);
        soma_net_free(net);
    }
    soma_net *net = NULL;
    soma_rule *rule = NULL;
    CHECK_OK(soma_net_new(&net, "fc4,relu,fc3", soma_shape1(5), 1));
    if (net) {
        o.hebb = (soma_hebb_kind)9;
        CHECK_FAILS(soma_rule_new(&rule, net, &o), SOMA_ERR_ARG);
        soma_net_free(net);
    }
    /* Rao-Ballard options */
    soma_rb m = {0};
    soma_rb_opts ro = {.k1 = 0, .k2 = 2, .lr = 0.1f, .batch = 2, .steps = 1};
    CHECK_FAILS(soma_rb_init(&m, 4, &ro), SOMA_ERR_ARG);
    ro.k1 = 3;
    CHECK_FAILS(soma_rb_train(X, 1, 6, &(soma_rb_opts){.k1 = 3, .k2 = 2, .lr = 0.f, .steps = 1}, NULL, &m, NULL, NULL),
                SOMA_ERR_ARG);
    CHECK(m.U1 == NULL);
    CHECK_FAILS(soma_rb_train(X, 1, 6, &(soma_rb_opts){.k1 = 3, .k2 = 2, .lr = 0.1f, .infer_rate = -1.f, .steps = 1},
                              NULL, &m, NULL, NULL),
                SOMA_ERR_ARG);
    CHECK_FAILS(soma_rb_train(X, 1, 6, &(soma_rb_opts){.k1 = 3, .k2 = 2, .lr = 0.1f, .steps = 0}, NULL, &m, NULL, NULL),
                SOMA_ERR_ARG);
    CHECK_FAILS(soma_rb_train(X, 1, 6, &(soma_rb_opts){.k1 = 3, .k2 = 2, .lr = 0.1f, .prior = -1, .steps = 1}, NULL, &m,
                              NULL, NULL),
                SOMA_ERR_ARG);
    soma_rb empty = {0};
    float R[8];
    CHECK_FAILS(soma_rb_infer(&empty, &ro, X, 1, R, R, NULL, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_rb_step(&empty, &ro, X, 1, NULL, NULL, NULL), SOMA_ERR_ARG);
}

// --- the experiments' headlines at reduced size ------------------------------------------------

static double num_(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static int exists_(const char *exp, const char *file) {
    struct stat sb;
    char path[1200];
    snprintf(path, sizeof path, "%s/%s/%s", scratch_dir_, exp, file);
    return stat(path, &sb) == 0 && sb.st_size > 0;
}

static void test_hebbian_pca_reduced(void) {
    struct stat sb;
    if (stat(soma_fmnist_dir(NULL), &sb) != 0) {
        check_missing_dep("SOMA_REQUIRE_FMNIST", "Fashion-MNIST (dataset-fashion-mnist)");
        return;
    }
    cJSON *r = NULL;
    const char *extra[] = {"--threads", "2"};
    CHECK_OK(soma_exp_run_reduced(soma_exp_find("hebbian-pca"), 2, extra, scratch_dir_, &r));
    if (!r) return;
    const cJSON *ours = cJSON_GetObjectItemCaseSensitive(r, "ours");
    const cJSON *cos = cJSON_GetObjectItemCaseSensitive(ours, "cosine");
    printf("hebbian-pca (reduced): GHA min |cos| %.5f over %d components, Oja %.5f, |w| %.4f\n",
           num_(ours, "cosine_min"), cJSON_GetArraySize(cos), num_(ours, "oja_cosine"), num_(ours, "oja_norm"));
    CHECK(num_(ours, "cosine_min") >= 0.99);
    CHECK(cJSON_GetArraySize(cos) == 8);
    CHECK(num_(ours, "oja_cosine") >= 0.99);
    CHECK(fabs(num_(ours, "oja_norm") - 1.0) < 0.01);
    CHECK(num_(ours, "competitive_units_used") >= 2);
    CHECK(exists_("hebbian-pca", "hebbian_pca.svg"));
    cJSON_Delete(r);
}

static void test_rao_ballard_reduced(void) {
    cJSON *r = NULL;
    const char *extra[] = {"--threads", "2"};
    CHECK_OK(soma_exp_run_reduced(soma_exp_find("rao-ballard"), 2, extra, scratch_dir_, &r));
    if (!r) return;
    const cJSON *ours = cJSON_GetObjectItemCaseSensitive(r, "ours");
    printf("rao-ballard (reduced): level-1 error %.4f -> %.4f; fields' mean Gabor R^2 %.3f (random start %.3f)\n",
           num_(ours, "err1_first"), num_(ours, "err1_last"), num_(ours, "gabor_r2_mean"),
           num_(ours, "gabor_r2_mean_init"));
    /* prediction error falls well below the random start's; the fields become Gabor-like */
    CHECK(num_(ours, "err1_last") < 0.75 * num_(ours, "err1_first"));
    CHECK(num_(ours, "err1_last") < num_(ours, "patch_mean_square"));
    CHECK(num_(ours, "gabor_r2_mean") > num_(ours, "gabor_r2_mean_init") + 0.2);
    CHECK(num_(ours, "gabor_fraction") >= 0 && num_(ours, "gabor_fraction") <= 1);
    CHECK(exists_("rao-ballard", "rao_ballard.svg"));
    cJSON_Delete(r);
}

int main(int argc, char **argv) {
    (void)argc;
    /* run on the BLAS kernels the soma command runs on (cli/blas_core.c), once */
    const char *core = soma_blas_core_advice();
    if (core && setenv("SOMA_BLAS_CORE_WAS", soma_blas_core(), 1) == 0 && setenv("OPENBLAS_CORETYPE", core, 1) == 0)
        execv("/proc/self/exe", argv);
    printf("BLAS core: %s\n", soma_blas_core());
    if (!scratch_init("learn_hebb")) return 1;
    test_hebb_fixture();
    test_gha_recovers_eigenvectors();
    test_competitive_clusters();
    test_hebb_rule();
    test_hebb_rule_trains();
    test_hebb_rule_stable();
    test_rb_fixture();
    test_rb_dynamics();
    test_threads();
    test_bad_input();
    test_hebbian_pca_reduced();
    test_rao_ballard_reduced();
    scratch_remove();
    return check_report("test_learn_hebb");
}
