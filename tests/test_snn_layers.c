// snn layers for the nn stack (src/snn/layer_lif.c, layer_code.c): spiking nets against
// PyTorch with the same surrogate (tests/fixtures/snn/*.bin from tests/ref/gen_snn_torch.py),
// central differences where the recursion is differentiable, the encoders' statistics, clone and
// checkpoint round trips, no allocation in forward/backward, and spec errors.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "fixture.h"
#include "nn_util.h"
#include "soma/exp.h"
#include "soma/io.h"
#include "soma/nn.h"
#include "soma/snn.h"
#include <cjson/cJSON.h>
#include <sys/stat.h>

#define ATOL 1e-5f
#define RTOL 1e-4f

// --- against PyTorch ----------------------------------------------------------------------

static void compare_(const fixture *f, const char *cs, const char *arr, const float *got, size_t n) {
    char lab[128];
    snprintf(lab, sizeof lab, "%s: %s", cs, arr);
    const fixture_array *r = fixture_get(f, arr);
    CHECK(r != NULL && r->n == n);
    if (!r || r->n != n) {
        fprintf(stderr, "%s: missing or wrong size\n", lab);
        return;
    }
    CHECK_CLOSE(lab, got, r->data, n, ATOL, RTOL);
}

static void torch_case(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/fixtures/snn/%s.bin", name);
    fixture f;
    if (fixture_load(check_src_path(rel), &f) != 0) {
        check_failures_++;
        return;
    }
    const fixture_array *sh = fixture_get(&f, "in_shape");
    CHECK(sh && sh->n >= 1 && sh->n <= SOMA_SHAPE_RANK);
    soma_shape in = {(int)sh->n, {0}};
    for (size_t i = 0; i < sh->n; i++) in.d[i] = (int)sh->data[i];
    const int N = f.n;
    soma_net *net = NULL;
    CHECK_OK(soma_net_new(&net, f.spec, in, 5));
    if (!net) goto out;
    CHECK_OK(soma_net_reserve(net, N));
    int loaded = 0;
    for (int i = 0; i < soma_net_n_params(net); i++) {
        soma_param *p = soma_net_param(net, i);
        const fixture_array *a = fixture_get(&f, soma_net_param_name(net, i));
        CHECK(a && a->n == p->n);
        if (a && a->n == p->n) memcpy(p->value, a->data, a->n * sizeof(float)), loaded++;
    }
    CHECK(loaded >= 2);
    const fixture_array *x = fixture_get(&f, "x"), *lab = fixture_get(&f, "labels");
    const float *y;
    CHECK_OK(soma_net_forward(net, x->data, N, SOMA_MODE_TRAIN, &y));
    for (int i = 0; i < soma_net_n_layers(net); i++) {
        char an[40];
        snprintf(an, sizeof an, "spk.%d", i);
        if (!fixture_get(&f, an)) continue;
        size_t n = (size_t)N * soma_shape_size(soma_net_layer(net, i)->out);
        compare_(&f, name, an, soma_net_activation(net, i + 1), n);
    }
    int K = (int)soma_shape_size(soma_net_out_shape(net));
    int labels[64];
    for (int i = 0; i < N; i++) labels[i] = (int)lab->data[i];
    float *dl = malloc((size_t)N * K * sizeof *dl), *dx = malloc(x->n * sizeof *dx);
    compare_(&f, name, "y", y, (size_t)N * K);
    float loss = soma_softmax_xent(dl, NULL, y, labels, N, K);
    compare_(&f, name, "loss", &loss, 1);
    soma_net_zero_grad(net);
    CHECK_OK(soma_net_backward_ex(net, dl, N, SOMA_GRAD_PARAMS | SOMA_GRAD_INPUT, dx));
    compare_(&f, name, "dx", dx, x->n);
    for (int i = 0; i < soma_net_n_params(net); i++) {
        char gn[64];
        snprintf(gn, sizeof gn, "%s.grad", soma_net_param_name(net, i));
        compare_(&f, name, gn, soma_net_param(net, i)->grad, soma_net_param(net, i)->n);
    }
    free(dl);
    free(dx);
out:
    soma_net_free(net);
    fixture_free(&f);
}

// --- central differences --------------------------------------------------------------------

/* L = sum_j c_j y_j of one layer's output; checks dL/dx (and the first parameter's gradient
 * when the layer has one) against central differences. The layer's output must be a
 * piecewise-linear function of its inputs (a membrane read-out with a detached reset, or no
 * spikes at all): entries whose perturbation changes the spike pattern (the boundary of a
 * piece) are left out and counted; *checked receives how many were compared. */
static void fd_layer(const char *tok, soma_shape in, int N, float theta, int *checked) {
    soma_layer l;
    soma_status st = tl_make(&l, tok, in, N, 9);
    CHECK_OK(st);
    if (st != SOMA_OK) return;
    size_t nx = (size_t)N * soma_shape_size(in), ny = (size_t)N * soma_shape_size(l.out);
    float *x = malloc(nx * sizeof *x), *y = malloc(ny * sizeof *y), *c = malloc(ny * sizeof *c);
    float *dx = malloc(nx * sizeof *dx), *yp = malloc(ny * sizeof *yp), *ym = malloc(ny * sizeof *ym);
    soma_rng r;
    soma_rng_seed(&r, 77, 0);
    soma_rng_uniform_fill(&r, x, nx, -0.2f, 1.2f);
    soma_rng_uniform_fill(&r, c, ny, -1.f, 1.f);
    l.ops->forward(&l, y, x, N, SOMA_MODE_TRAIN);
    int fired = 0;
    for (size_t j = 0; j < ny; j++) fired += y[j] > theta;
    l.ops->backward(&l, dx, c, x, y, N);
    float *dw0 = NULL;
    size_t nw = l.n_params ? l.params[0].n : 0;
    if (nw) {
        dw0 = malloc(nw * sizeof *dw0);
        memcpy(dw0, l.params[0].grad, nw * sizeof *dw0);
    }
    const double eps = 1e-3;
    int ok = 0, flips = 0, bad = 0;
    for (size_t k = 0; k < nx + nw; k++) {
        float *v = k < nx ? &x[k] : &l.params[0].value[k - nx];
        float v0 = *v;
        *v = (float)(v0 + eps);
        l.ops->forward(&l, yp, x, N, SOMA_MODE_TRAIN);
        *v = (float)(v0 - eps);
        l.ops->forward(&l, ym, x, N, SOMA_MODE_TRAIN);
        *v = v0;
        int flip = 0;
        double lp = 0.0, lm = 0.0;
        for (size_t j = 0; j < ny; j++) {
            flip |= (yp[j] > theta) != (y[j] > theta) || (ym[j] > theta) != (y[j] > theta);
            lp += (double)c[j] * yp[j];
            lm += (double)c[j] * ym[j];
        }
        if (flip) {
            flips++;
            continue;
        }
        double fd = (lp - lm) / (2 * eps), an = k < nx ? dx[k] : dw0[k - nx];
        if (fabs(fd - an) > 2e-3 + 2e-3 * fabs(fd)) {
            if (bad++ < 5) fprintf(stderr, "fd %s: entry %zu: analytic %g, differences %g\n", tok, k, an, fd);
        }
        ok++;
    }
    CHECK(bad == 0);
    *checked = ok;
    if (theta < 1e30f) CHECK(fired > 0); /* the reset was exercised */
    (void)flips;
    free(x), free(y), free(c), free(dx), free(yp), free(ym), free(dw0);
    tl_free(&l);
}

static void test_finite_differences(void) {
    int n = 0;
    /* no threshold: a linear leaky integrator */
    fd_layer("li(beta=0.8)", soma_shape2(6, 5), 3, 1e30f, &n);
    CHECK(n == 3 * 6 * 5);
    fd_layer("li4(tau=5)", soma_shape2(5, 3), 2, 1e30f, &n);
    CHECK(n == 2 * 5 * 3 + 4 * 3);
    /* firing neurons, membrane read out, reset detached: piecewise linear in the input */
    fd_layer("lif(out=mem,detach=1,beta=0.9,theta=0.7)", soma_shape2(8, 6), 3, 0.7f, &n);
    CHECK(n > 3 * 8 * 6 / 2);
    fd_layer("lif(out=mem,detach=1,reset=zero,beta=0.85,theta=0.6)", soma_shape2(8, 6), 3, 0.6f, &n);
    CHECK(n > 3 * 8 * 6 / 2);
    fd_layer("lif5(out=mem,detach=1,theta=0.5)", soma_shape4(4, 2, 2, 2), 2, 0.5f, &n);
    CHECK(n > (2 * 4 * 8 + 5 * 8) / 2);
}

// --- encoders ----------------------------------------------------------------------------

static void test_rate(void) {
    const int T = 2000, N = 3, D = 7;
    const float in[7] = {0.f, 0.05f, 0.3f, 0.5f, 0.9f, 1.f, -0.5f};
    float *x = malloc((size_t)N * D * sizeof *x), *y = malloc((size_t)N * T * D * sizeof *y);
    float *y2 = malloc((size_t)N * T * D * sizeof *y2);
    for (int i = 0; i < N; i++) memcpy(x + i * D, in, sizeof in);
    soma_layer l, l2;
    CHECK_OK(tl_make(&l, "rate2000", soma_shape1(D), N, 1));
    CHECK(l.out.rank == 2 && l.out.d[0] == T && l.out.d[1] == D);
    l.ops->forward(&l, y, x, N, SOMA_MODE_EVAL);
    for (int j = 0; j < D; j++) {
        double cnt = 0.0, lag = 0.0;
        for (int i = 0; i < N; i++)
            for (int t = 0; t < T; t++) {
                float s = y[((size_t)i * T + t) * D + j];
                CHECK(s == 0.f || s == 1.f);
                cnt += s;
                if (t) lag += s * y[((size_t)i * T + t - 1) * D + j];
            }
        double p = in[j] < 0.f ? 0.0 : in[j], m = N * (double)T;
        double sd = sqrt(p * (1.0 - p) / m);
        if (fabs(cnt / m - p) > 4.0 * sd + 1e-12) {
            fprintf(stderr, "rate: x = %g: mean spikes per step %g\n", in[j], cnt / m);
            CHECK(0);
        }
        /* independent steps: P(spike at t and t-1) = p^2 */
        double pl = lag / (N * (double)(T - 1));
        CHECK(fabs(pl - p * p) <= 4.0 * sqrt(p * p * (1 - p * p) / m) + 1e-12);
    }
    /* the same seed gives the same spikes, another seed other spikes */
    CHECK_OK(tl_make(&l2, "rate2000", soma_shape1(D), N, 1));
    l2.ops->forward(&l2, y2, x, N, SOMA_MODE_EVAL);
    CHECK(memcmp(y, y2, (size_t)N * T * D * sizeof *y) == 0);
    tl_free(&l2);
    CHECK_OK(tl_make(&l2, "rate2000", soma_shape1(D), N, 2));
    l2.ops->forward(&l2, y2, x, N, SOMA_MODE_EVAL);
    CHECK(memcmp(y, y2, (size_t)N * T * D * sizeof *y) != 0);
    /* backward: dx = sum over time of dy */
    for (size_t k = 0; k < (size_t)N * T * D; k++) y2[k] = (float)((k * 7) % 5) - 2.f;
    float dx[3 * 7];
    l.ops->backward(&l, dx, y2, x, y, N);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) {
            double s = 0.0;
            for (int t = 0; t < T; t++) s += y2[((size_t)i * T + t) * D + j];
            CHECK(fabs(dx[i * D + j] - s) < 1e-3);
        }
    tl_free(&l2);
    tl_free(&l);
    free(x), free(y), free(y2);
}

static void test_latency(void) {
    const int T = 10, D = 6;
    const float x[6] = {1.f, 0.8f, 0.5f, 0.1f, 0.f, 1.5f};
    float y[10 * 6];
    soma_layer l;
    CHECK_OK(tl_make(&l, "latency10", soma_shape3(1, 2, 3), 1, 1));
    CHECK(l.out.rank == 4 && l.out.d[0] == T);
    l.ops->forward(&l, y, x, 1, SOMA_MODE_TRAIN);
    int first[6];
    for (int j = 0; j < D; j++) {
        int cnt = 0;
        first[j] = -1;
        for (int t = 0; t < T; t++)
            if (y[t * D + j] != 0.f) {
                CHECK(y[t * D + j] == 1.f);
                if (first[j] < 0) first[j] = t;
                cnt++;
            }
        CHECK(cnt == (x[j] > 0.f ? 1 : 0));
    }
    CHECK(first[0] == 0 && first[5] == 0);           /* full intensity: the first step */
    CHECK(first[0] < first[1] && first[1] < first[2] && first[2] < first[3]); /* brighter earlier */
    CHECK(first[2] == 5 && first[3] == 8);           /* round((1 - x) (T - 1)) */
    CHECK(first[4] == -1);                            /* dark: silent */
    tl_free(&l);
}

// --- no allocation in the step, clone and checkpoint ------------------------------------

static void test_clone_ckpt(void) {
    const char *spec = "repeat6,lif16(beta=0.8,k=10,learn=1),lif12(reset=zero,theta=0.7),li10(beta=0.9),tmean";
    const int N = 8;
    soma_net *a = NULL, *b = NULL, *c = NULL;
    CHECK_OK(soma_net_new(&a, spec, soma_shape3(1, 4, 4), 3));
    if (!a) return;
    CHECK_OK(soma_net_reserve(a, N));
    float x[8 * 16], dl[8 * 10];
    int labels[8];
    soma_rng r;
    soma_rng_seed(&r, 5, 0);
    soma_rng_uniform_fill(&r, x, sizeof x / sizeof *x, 0.f, 3.f);
    for (int i = 0; i < N; i++) labels[i] = i % 10;
    /* one optimizer step, so the values differ from any initialisation */
    soma_optim *opt = NULL;
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_ADAM);
    CHECK_OK(soma_optim_new(&opt, a, &oc));
    const float *y;
    soma_net_zero_grad(a);
    /* nothing is allocated in forward or backward */
    soma_alloc_fail_after(1000000);
    CHECK_OK(soma_net_forward(a, x, N, SOMA_MODE_TRAIN, &y));
    soma_softmax_xent(dl, NULL, y, labels, N, 10);
    CHECK_OK(soma_net_backward(a, dl, N));
    CHECK(soma_alloc_fail_after(-1) == 1000000);
    soma_optim_step(opt, 0.01f);
    float ya[80], yb[80], yc[80];
    CHECK_OK(soma_net_forward(a, x, N, SOMA_MODE_EVAL, &y));
    memcpy(ya, y, sizeof ya);
    int spiking = 0;
    const float *s1 = soma_net_activation(a, 2);
    for (int k = 0; k < N * 6 * 16; k++) spiking += s1[k] != 0.f;
    CHECK(spiking > 0 && spiking < N * 6 * 16);
    /* a clone computes the same outputs and gradients */
    CHECK_OK(soma_net_clone(a, 0, 1, &b));
    CHECK_OK(soma_net_reserve(b, N));
    CHECK_OK(soma_net_forward(b, x, N, SOMA_MODE_EVAL, &y));
    memcpy(yb, y, sizeof yb);
    CHECK(memcmp(ya, yb, sizeof ya) == 0);
    /* a checkpoint loads into a net of another seed */
    char path[] = "/tmp/soma_snn_ckpt_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) close(fd);
    soma_ckpt_meta meta = {0};
    CHECK_OK(soma_ckpt_save(path, a, opt, &meta));
    CHECK_OK(soma_net_new(&c, spec, soma_shape3(1, 4, 4), 99));
    CHECK_OK(soma_net_reserve(c, N));
    CHECK_OK(soma_net_forward(c, x, N, SOMA_MODE_EVAL, &y));
    CHECK(memcmp(ya, y, sizeof ya) != 0);
    CHECK_OK(soma_ckpt_load(path, c, NULL, NULL));
    CHECK_OK(soma_net_forward(c, x, N, SOMA_MODE_EVAL, &y));
    memcpy(yc, y, sizeof yc);
    CHECK(memcmp(ya, yc, sizeof ya) == 0);
    unlink(path);
    soma_optim_free(opt);
    soma_net_free(a);
    soma_net_free(b);
    soma_net_free(c);
}

// --- bad specs ------------------------------------------------------------------------------

static void test_spec_errors(void) {
    static const char *const bad[] = {
        "lif0",           "lif(beta=2)",   "lif(beta=0.9,tau=5)", "lif(k=-1)",       "lif(k=0)",
        "lif(foo=1)",     "lif(reset=half)", "lif(beta=)",        "lif(beta)",       "lif(beta=0.9,)",
        "lif(detach=2)",  "lif(out=volt)", "lifx",                "lif8x",           "lif(theta=nan)",
        "lif99999999999", "rate0",         "rate",                "rate8x",          "latency",
        "latency-1",      "li(theta=2)",   "li(tau=0)",           "lif(,)",          "lif(=3)",
        "rate2000000",    "lif(dt=-1)",    "lif(learn=2)",        "li(learn=1)",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char spec[128];
        snprintf(spec, sizeof spec, "repeat4,%s,fc10,tmean", bad[i]);
        soma_net *net = NULL;
        if (strncmp(bad[i], "rate", 4) == 0 || strncmp(bad[i], "latency", 7) == 0)
            snprintf(spec, sizeof spec, "%s,lif8,fc10,tmean", bad[i]);
        CHECK_FAILS(soma_net_new(&net, spec, soma_shape1(12), 1), SOMA_ERR_PARSE);
        CHECK(net == NULL);
        if (net) fprintf(stderr, "spec '%s' parsed\n", spec);
        soma_net_free(net);
    }
    soma_net *net = NULL;
    /* shapes: lif needs a sequence, an encoder a static input */
    CHECK_FAILS(soma_net_new(&net, "lif8,fc10", soma_shape1(12), 1), SOMA_ERR_SHAPE);
    CHECK_FAILS(soma_net_new(&net, "repeat4,rate4,fc10", soma_shape1(12), 1), SOMA_ERR_SHAPE);
    /* and good ones parse */
    CHECK_OK(soma_net_new(&net, "rate4,lif8(beta=0.5,theta=2,k=3,reset=zero,detach=1,out=spike),li10,tmean",
                          soma_shape1(12), 1));
    soma_net_free(net);
    net = NULL;
    CHECK_OK(soma_net_new(&net, "latency5,lif(tau=20,dt=0.5),lif4,tsum", soma_shape3(1, 3, 3), 1));
    if (net) CHECK(soma_shape_eq(soma_net_out_shape(net), soma_shape1(4)));
    soma_net_free(net);
}

// --- the experiment's headline at reduced size ------------------------------------------

/* snn-fmnist on a few thousand images for one epoch learns well above chance (10%). */
static void test_snn_fmnist_reduced(void) {
    struct stat sb;
    if (stat(soma_fmnist_dir(NULL), &sb) != 0) {
        check_missing_dep("SOMA_REQUIRE_FMNIST", "Fashion-MNIST (dataset-fashion-mnist)");
        return;
    }
    int sanitized = getenv("SOMA_SANITIZED") != NULL; /* the sanitizer build is ~10x slower */
    const soma_experiment *e = soma_exp_find("snn-fmnist");
    CHECK(e != NULL);
    if (!e) return;
    char out[64];
    snprintf(out, sizeof out, "/tmp/soma-test-snn-%d", (int)getpid());
    const char *args[] = {"--quiet", "--n-train", sanitized ? "3000" : "6000", "--n-test", "1000",
                          "--epochs", "1", "--threads", "2", "--seed", "2"};
    cJSON *r = NULL;
    CHECK_OK(soma_exp_run(e, 11, args, out, &r));
    if (!r) return;
    const cJSON *ours = cJSON_GetObjectItemCaseSensitive(r, "ours");
    const cJSON *acc = cJSON_GetObjectItemCaseSensitive(ours, "test_accuracy");
    CHECK(cJSON_IsNumber(acc));
    double a = cJSON_IsNumber(acc) ? acc->valuedouble : 0.0;
    printf("snn-fmnist (reduced: %s images, 1 epoch, defaults otherwise): test accuracy %.4f\n",
           sanitized ? "3000" : "6000", a);
    CHECK(a >= (sanitized ? 0.4 : 0.6));
    cJSON_Delete(r);
}

int main(void) {
    CHECK_OK(soma_snn_register_layers());
    CHECK_OK(soma_snn_register_layers()); /* idempotent */
    torch_case("lif_sub");
    torch_case("lif_zero_detach");
    torch_case("lif_plain");
    torch_case("lif_conv");
    torch_case("lif_learn");
    torch_case("lif_learn_mem");
    test_finite_differences();
    test_rate();
    test_latency();
    test_clone_ckpt();
    test_spec_errors();
    test_snn_fmnist_reduced();
    return check_report("test_snn_layers");
}
