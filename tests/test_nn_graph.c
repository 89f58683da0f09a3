// nn: networks as graphs -- residual and concatenation composites, sequences over a time
// axis, hierarchical parameter names, backward with only the input or only the parameter
// gradients, frozen parameters, feedback matrices, clones, JSON descriptions, and the
// ownership rule of soma_net_add.
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "net_util.h"
#include "soma/io.h"
#include "soma/nn.h"

/* Every parameter (sampled) and every input value of L = sum(r * net(x)) against central
 * differences; dx from soma_net_backward_ex must be written in full (NaN-filled first). */
static void fd_net(const char *spec, soma_shape in, int N) {
    static const tn_fd_opts o = {.mode = SOMA_MODE_TRAIN, .five_point = 0, .eps = 1e-2f, .floor = 1e-2, .samples = 23};
    double worst_dx, worst;
    if (!tn_fd_net(spec, in, N, &o, &worst_dx, &worst)) return;
    char sh[64];
    printf("  %-58s %-10s dx %.2e  all %.2e\n", spec, soma_shape_str(in, sh, sizeof sh), worst_dx, worst);
}

static void test_gradients(void) {
    printf("graph gradients vs central differences (worst relative error):\n");
    fd_net("fc6,res(layernorm,fc12,gelu,fc6),fc3", soma_shape1(5), 3);
    /* pre-norm blocks over a sequence [T,D], then mean over time */
    fd_net("res(layernorm,fc12,gelu,fc4),res(layernorm,fc8,gelu,fc4),tmean,fc3", soma_shape2(3, 4), 2);
    fd_net("cat(fc5|fc3,tanh),fc2", soma_shape1(4), 3);
    fd_net("conv3x3x2p1,cat(conv3x3x3p1,tanh|conv1x1x2),avgpool2,fc3", soma_shape3(2, 4, 4), 2);
    fd_net("cat(fc3|layernorm,fc2),tsum", soma_shape2(3, 4), 2);
    fd_net("repeat3,fc4,tanh,tsum", soma_shape1(5), 2);
    fd_net("conv3x3x2p1,tanh,avgpool2,tsum,fc3", soma_shape4(2, 1, 4, 4), 2);
    fd_net("res(fc4,cat(fc2|fc2,tanh),res(fc4,tanh))", soma_shape1(4), 2);
    /* a ResNet basic block: two 3x3 convolutions around a nonlinearity, added to their input
     * (one channel: three stacked float32 convolutions put central differences at ~1e-2) */
    fd_net("res(conv3x3x1p1,tanh,conv3x3x1p1),tanh,avgpool2,fc3", soma_shape3(1, 4, 4), 2);
}

static void test_names_and_shapes(void) {
    soma_net *net = NULL;
    CHECK_OK(soma_net_new(&net, "fc64,res(layernorm,fc256,gelu,fc64),fc10", soma_shape1(20), 1));
    if (net) {
        static const char *want[] = {"0.weight",   "0.bias",   "1.0.weight", "1.0.bias", "1.1.weight",
                                     "1.1.bias",   "1.3.weight", "1.3.bias", "2.weight", "2.bias"};
        CHECK(soma_net_n_params(net) == 10);
        for (int k = 0; k < soma_net_n_params(net) && k < 10; k++) {
            if (strcmp(soma_net_param_name(net, k), want[k]) != 0)
                fprintf(stderr, "param %d: %s, want %s\n", k, soma_net_param_name(net, k), want[k]);
            CHECK(strcmp(soma_net_param_name(net, k), want[k]) == 0);
        }
        CHECK(soma_net_param_layer(net, 5) == 1 && soma_net_n_layers(net) == 3);
        CHECK(soma_net_param(net, 4)->dims[0] == 256 && soma_net_param(net, 4)->dims[1] == 64);
        CHECK(strcmp(soma_net_spec(net), "fc64,res(layernorm,fc256,gelu,fc64),fc10") == 0);
        char buf[2048];
        soma_net_summary(net, buf, sizeof buf);
        CHECK(strstr(buf, "res") != NULL);
    }
    soma_net_free(net);
    CHECK_OK(soma_net_new(&net, "cat(fc32|fc16,relu)", soma_shape1(8), 1));
    if (net) {
        CHECK(soma_shape_eq(soma_net_out_shape(net), soma_shape1(48)));
        CHECK(strcmp(soma_net_param_name(net, 0), "0.0.0.weight") == 0);
        CHECK(strcmp(soma_net_param_name(net, 3), "0.1.0.bias") == 0);
    }
    soma_net_free(net);
    /* channels side by side for images, features for sequences */
    CHECK_OK(soma_net_new(&net, "cat(conv3x3x4p1|conv1x1x2)", soma_shape3(3, 5, 5), 1));
    if (net) CHECK(soma_shape_eq(soma_net_out_shape(net), soma_shape3(6, 5, 5)));
    soma_net_free(net);
    CHECK_OK(soma_net_new(&net, "cat(fc4|fc3)", soma_shape2(7, 5), 1));
    if (net) CHECK(soma_shape_eq(soma_net_out_shape(net), soma_shape2(7, 7)));
    soma_net_free(net);
    net = NULL;
    CHECK_FAILS(soma_net_new(&net, "res(fc3)", soma_shape1(4), 1), SOMA_ERR_SHAPE);
    CHECK(strstr(soma_errmsg(), "res(fc3)") != NULL);
    CHECK_FAILS(soma_net_new(&net, "cat(conv3x3x2|conv1x1x2)", soma_shape3(1, 5, 5), 1), SOMA_ERR_SHAPE);
    CHECK_FAILS(soma_net_new(&net, "fc4,res(fc4", soma_shape1(4), 1), SOMA_ERR_PARSE);
    CHECK_FAILS(soma_net_new(&net, "fc4),fc3", soma_shape1(4), 1), SOMA_ERR_PARSE);
    CHECK_FAILS(soma_net_new(&net, "fc4", (soma_shape){5, {1, 1, 1, 1}}, 1), SOMA_ERR_SHAPE);
    CHECK(net == NULL);
}

/* Input-only backward gives full backward's dx and leaves the grads zero; params-only gives
 * full backward's grads. */
static void test_backward_parts(void) {
    tn_case c;
    if (!tn_case_new(&c, "fc8,res(layernorm,fc16,gelu,fc8),layernorm,fc5", soma_shape2(3, 6), 4, 3, 8)) return;
    soma_net *net = c.net;
    const int N = c.N;
    const float *dy = c.dy, *dx_full = c.dx;
    float *grads = c.grads, *dx_in = soma_alloc(c.nx, sizeof *dx_in);
    size_t nv = c.nv, dx_bytes = c.nx * sizeof *dx_in;
    float *full = soma_alloc(nv, sizeof *full);
    memcpy(full, grads, nv * sizeof *full);
    double gsum = 0;
    for (size_t i = 0; i < nv; i++) gsum += fabs(full[i]);
    CHECK(gsum > 0);

    soma_net_zero_grad(net);
    CHECK_OK(soma_net_backward_ex(net, dy, N, SOMA_GRAD_INPUT, dx_in));
    CHECK(memcmp(dx_in, dx_full, dx_bytes) == 0);
    CHECK(tn_all_zero(grads, nv));

    soma_net_zero_grad(net);
    CHECK_OK(soma_net_backward_ex(net, dy, N, SOMA_GRAD_PARAMS, NULL));
    CHECK(memcmp(grads, full, nv * sizeof *full) == 0);
    /* the old call is params-only */
    soma_net_zero_grad(net);
    CHECK_OK(soma_net_backward(net, dy, N));
    CHECK(memcmp(grads, full, nv * sizeof *full) == 0);
    CHECK_FAILS(soma_net_backward_ex(net, dy, N, 8u, NULL), SOMA_ERR_ARG);

    /* frozen: the first layer's parameters get no gradient, the rest are unchanged */
    soma_param *w0 = soma_net_param(net, 0), *b0 = soma_net_param(net, 1);
    w0->trainable = b0->trainable = 0;
    soma_net_zero_grad(net);
    CHECK_OK(soma_net_backward_ex(net, dy, N, SOMA_GRAD_PARAMS, NULL));
    size_t off0 = (size_t)(w0->grad - grads), end0 = (size_t)(b0->grad - grads) + b0->n;
    int ok = 1;
    for (size_t i = 0; i < nv; i++) ok &= (i >= off0 && i < end0) ? grads[i] == 0.f : grads[i] == full[i];
    CHECK(ok);
    /* everything frozen: nothing to do, nothing written */
    for (int k = 0; k < soma_net_n_params(net); k++) soma_net_param(net, k)->trainable = 0;
    soma_net_zero_grad(net);
    CHECK_OK(soma_net_backward_ex(net, dy, N, SOMA_GRAD_PARAMS, NULL));
    CHECK(tn_all_zero(grads, nv));
    /* ... but the input gradient still flows through frozen layers */
    CHECK_OK(soma_net_backward_ex(net, dy, N, SOMA_GRAD_PARAMS | SOMA_GRAD_INPUT, dx_in));
    CHECK(memcmp(dx_in, dx_full, dx_bytes) == 0);
    soma_free(full);
    soma_free(dx_in);
    tn_case_free(&c);
}

/* A feedback matrix replaces the weights only in dx: the layer's own grads stay, the layers
 * below see dy . B. With B = 2W everything below doubles exactly; with B = 0 it vanishes. */
/* The same for conv layers on each of their paths (row kernels, channel-vectorised, 1x1) and
 * on sequences of images: input-only dx equals full dx, bit for bit, grads untouched. */
static void parts_check(const char *spec, soma_shape in) {
    tn_case c;
    if (!tn_case_new(&c, spec, in, 3, 4, 6)) return;
    float *b = soma_alloc(c.nx, sizeof *b);
    soma_net_zero_grad(c.net);
    CHECK_OK(soma_net_backward_ex(c.net, c.dy, c.N, SOMA_GRAD_INPUT, b));
    CHECK(tn_all_zero(c.grads, c.nv) && memcmp(c.dx, b, c.nx * sizeof *b) == 0);
    soma_free(b);
    tn_case_free(&c);
}

static void test_feedback(void) {
    tn_case c;
    if (!tn_case_new(&c, "conv3x3x4p1,tanh,fc6,tanh,fc3", soma_shape3(2, 4, 4), 3, 5, 2)) return;
    soma_net *net = c.net;
    const int N = c.N;
    const float *dy = c.dy, *dx0 = c.dx;
    float *grads = c.grads, *dx1 = soma_alloc(c.nx, sizeof *dx1);
    size_t nv = c.nv;
    float *ref = soma_alloc(nv, sizeof *ref);
    memcpy(ref, grads, nv * sizeof *ref);
    soma_param *w2 = soma_net_param(net, 2); /* 2.weight [6, 64] */
    CHECK(strcmp(soma_net_param_name(net, 2), "2.weight") == 0);
    float *B = soma_alloc(w2->n, sizeof *B);
    for (size_t i = 0; i < w2->n; i++) B[i] = 2.f * w2->value[i];
    w2->feedback = B;
    soma_net_zero_grad(net);
    CHECK_OK(soma_net_backward_ex(net, dy, N, SOMA_GRAD_PARAMS | SOMA_GRAD_INPUT, dx1));
    size_t lo = (size_t)(w2->grad - grads);
    int ok = 1;
    for (size_t i = 0; i < nv; i++) ok &= i >= lo ? grads[i] == ref[i] : grads[i] == 2.f * ref[i];
    CHECK(ok);
    ok = 1;
    for (size_t i = 0; i < c.nx; i++) ok &= dx1[i] == 2.f * dx0[i];
    CHECK(ok);
    /* a feedback on a conv weight: zero feedback, zero dx */
    memset(B, 0, w2->n * sizeof *B);
    soma_net_zero_grad(net);
    CHECK_OK(soma_net_backward_ex(net, dy, N, SOMA_GRAD_PARAMS | SOMA_GRAD_INPUT, dx1));
    ok = 1;
    for (size_t i = 0; i < nv; i++) ok &= i >= lo ? grads[i] == ref[i] : grads[i] == 0.f;
    for (size_t i = 0; i < c.nx; i++) ok &= dx1[i] == 0.f;
    CHECK(ok);
    w2->feedback = NULL;
    soma_free(B);
    soma_free(ref);
    soma_free(dx1);
    tn_case_free(&c);
}

static void bump_first_weight_(soma_net *net) { soma_net_param(net, 0)->value[0] += 1.f; }

static void test_clone(void) {
    soma_net *src = NULL, *rep = NULL, *cp = NULL;
    const char *spec = "fc6,res(layernorm,fc12,gelu,dropout0.3,fc6),cat(fc2|fc3,tanh),fc3";
    const int N = 5;
    CHECK_OK(soma_net_new(&src, spec, soma_shape1(4), 9));
    if (!src) return;
    soma_net_param(src, 2)->trainable = 0;
    CHECK_OK(soma_net_clone(src, 1, 1, &rep));
    CHECK_OK(soma_net_clone(src, 0, 0, &cp));
    if (!rep || !cp) goto out;
    CHECK(strcmp(soma_net_spec(rep), spec) == 0 && soma_net_n_params(cp) == soma_net_n_params(src));
    CHECK(soma_net_param(rep, 2)->trainable == 0 && soma_net_param(cp, 3)->trainable == 1);
    size_t nv, nr, nc;
    float *vs = soma_net_flat_values(src, &nv), *vr = soma_net_flat_values(rep, &nr), *vc = soma_net_flat_values(cp, &nc);
    CHECK(vr == vs && vc != vs && nc == nv && memcmp(vc, vs, nv * sizeof *vs) == 0);
    float x[5 * 4], yr[15];
    soma_rng g;
    soma_rng_seed(&g, 1, 0);
    soma_rng_uniform_fill(&g, x, 20, -1, 1);
    /* the replica reads src's values; the copy keeps its own */
    tn_check_clone_values(src, rep, cp, x, N, bump_first_weight_);
    /* own gradients; own dropout stream (masks differ in training) */
    float dy[15];
    for (int i = 0; i < 15; i++) dy[i] = 1.f;
    tn_check_replica_grads(src, rep, x, dy, N, SOMA_MODE_TRAIN, yr);
    const float *y;
    CHECK_OK(soma_net_forward(src, x, N, SOMA_MODE_TRAIN, &y));
    CHECK(memcmp(yr, y, sizeof yr) != 0);
out:
    soma_net_free(rep);
    soma_net_free(cp);
    soma_net_free(src);
}

static void test_json(void) {
    const char *line = "fc8,res(layernorm,fc16,gelu,fc8),cat(fc3|fc2,relu),fc4";
    const char *json = "{\"layers\": [\"fc8\", {\"res\": [\"layernorm\", \"fc16\", \"gelu\", \"fc8\"]},"
                       " {\"cat\": [[\"fc3\"], [\"fc2\", \"relu\"]]}, \"fc4\"]}";
    soma_net *a = NULL, *b = NULL, *c = NULL;
    CHECK_OK(soma_net_new(&a, line, soma_shape1(5), 3));
    CHECK_OK(soma_net_new(&b, json, soma_shape1(5), 3));
    char path[256];
    snprintf(path, sizeof path, "/tmp/soma_test_graph_%d.json", (int)getpid());
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(json, f);
        fclose(f);
    }
    char at[260];
    snprintf(at, sizeof at, "@%s", path);
    CHECK_OK(soma_net_new(&c, at, soma_shape1(5), 3));
    unlink(path);
    if (a && b && c) {
        CHECK(strcmp(soma_net_spec(b), line) == 0 && strcmp(soma_net_spec(c), line) == 0);
        size_t na, nb;
        float *va = soma_net_flat_values(a, &na), *vb = soma_net_flat_values(b, &nb);
        CHECK(na == nb && memcmp(va, vb, na * sizeof *va) == 0);
        CHECK(strcmp(soma_net_param_name(b, 7), "1.3.bias") == 0);
    }
    soma_net_free(a);
    soma_net_free(b);
    soma_net_free(c);
    soma_net *n = NULL;
    static const char *bad[] = {
        "{", "{\"layers\": []}", "{\"layers\": [\"fc3,relu\"]}", "{\"layers\": [3]}",
        "{\"layers\": [{\"res\": \"fc3\"}]}", "{\"layers\": [{\"cat\": [\"fc3\"]}]}",
        "{\"layers\": [{\"res\": [\"fc3\"], \"cat\": []}]}", "{\"layers\": [\"fc3\"], \"x\": 1}",
        "{\"layers\": [{\"loop\": [\"fc3\"]}]}", "{\"net\": [\"fc3\"]}", "{\"layers\": [\"bogus\"]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_FAILS(soma_net_new(&n, bad[i], soma_shape1(4), 1), SOMA_ERR_PARSE);
        CHECK(n == NULL);
    }
    CHECK_FAILS(soma_net_new(&n, "@/nonexistent/net.json", soma_shape1(4), 1), SOMA_ERR_IO);
    /* deep nesting is refused, not a stack overflow */
    char deep[4096] = "{\"layers\": [";
    for (int i = 0; i < 200; i++) strcat(deep, "{\"res\": [");
    strcat(deep, "\"relu\"");
    for (int i = 0; i < 200; i++) strcat(deep, "]}");
    strcat(deep, "]}");
    CHECK_FAILS(soma_net_new(&n, deep, soma_shape1(4), 1), SOMA_ERR_PARSE);
}

// --- soma_net_add owns the layer whatever the outcome ------------------------------------

static int destroyed_ = 0;
static soma_status cnt_setup(soma_layer *l) {
    l->out = l->in;
    return SOMA_OK;
}
static void cnt_forward(soma_layer *l, float *y, const float *x, int n, soma_mode m) {
    (void)m;
    memcpy(y, x, (size_t)n * soma_shape_size(l->in) * sizeof *y);
}
static void cnt_backward(soma_layer *l, float *dx, const float *dy, const float *x, const float *y, int n) {
    (void)x, (void)y;
    if (dx) memcpy(dx, dy, (size_t)n * soma_shape_size(l->in) * sizeof *dx);
}
static void cnt_destroy(soma_layer *l) {
    destroyed_++;
    soma_free(l->impl);
    l->impl = NULL;
}
static const soma_layer_ops cnt_ops = {.kind = "counted", .setup = cnt_setup, .forward = cnt_forward,
                                       .backward = cnt_backward, .destroy = cnt_destroy};

/* No fixed cap on a layer's parameters (there were 8). */
static soma_status many_setup(soma_layer *l) {
    l->out = l->in;
    for (int i = 0; i < 12; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "p%d", i);
        SOMA_TRY(soma_layer_add_param(l, nm, 1, (int[]){i + 1}, 0, 1, 1));
    }
    return SOMA_OK;
}
static const soma_layer_ops many_ops = {.kind = "many", .setup = many_setup, .forward = cnt_forward,
                                        .backward = cnt_backward};

static void test_add_ownership(void) {
    soma_net *m = NULL;
    CHECK_OK(soma_net_new_empty(&m, soma_shape1(3), 1));
    if (m) {
        soma_layer ml;
        memset(&ml, 0, sizeof ml);
        ml.ops = &many_ops;
        snprintf(ml.spec, sizeof ml.spec, "many");
        CHECK_OK(soma_net_add(m, &ml));
        CHECK_OK(soma_net_build(m));
        CHECK(soma_net_n_params(m) == 12 && soma_net_param(m, 11)->n == 12);
        CHECK(strcmp(soma_net_param_name(m, 11), "0.p11") == 0);
    }
    soma_net_free(m);
    soma_net *net = NULL;
    CHECK_OK(soma_net_new_empty(&net, soma_shape1(3), 1));
    if (!net) return;
    soma_layer l;
    memset(&l, 0, sizeof l);
    l.ops = &cnt_ops;
    l.impl = soma_alloc(1, 16);
    snprintf(l.spec, sizeof l.spec, "counted");
    CHECK_OK(soma_net_add(net, &l));
    CHECK_OK(soma_net_build(net));
    CHECK(strcmp(soma_net_spec(net), "counted") == 0);
    /* a failed add releases the layer once; the caller must not, and the net never does */
    l.impl = soma_alloc(1, 16);
    CHECK_FAILS(soma_net_add(net, &l), SOMA_ERR_ARG);
    CHECK(destroyed_ == 1);
    soma_net_free(net);
    CHECK(destroyed_ == 2);
    /* a kind without a clone op and with an impl cannot be cloned: refused, not shared */
    CHECK_OK(soma_net_new_empty(&net, soma_shape1(3), 1));
    l.impl = soma_alloc(1, 16);
    CHECK_OK(soma_net_add(net, &l));
    CHECK_OK(soma_net_build(net));
    soma_net *c = NULL;
    CHECK_FAILS(soma_net_clone(net, 1, 1, &c), SOMA_ERR_ARG);
    CHECK(c == NULL);
    soma_net_free(net);
    CHECK(destroyed_ == 3);
}

// --- training ----------------------------------------------------------------------------

/* Adam on a fixed batch: the loss must fall. Returns (first, last) losses. */
static void train_(const char *spec, soma_shape in, const float *x, const int *lab, int N, int K,
                   int steps, float *first, float *last) {
    soma_net *net = NULL;
    soma_optim *o = NULL;
    *first = *last = NAN;
    CHECK_OK(soma_net_new(&net, spec, in, 5));
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_ADAM);
    if (net) CHECK_OK(soma_optim_new(&o, net, &oc));
    if (!o) goto out;
    float *d = soma_alloc((size_t)N * K, sizeof *d);
    for (int s = 0; s < steps; s++) {
        const float *y;
        soma_net_zero_grad(net);
        CHECK_OK(soma_net_forward(net, x, N, SOMA_MODE_TRAIN, &y));
        float loss = soma_softmax_xent(d, NULL, y, lab, N, K);
        if (s == 0) *first = loss;
        *last = loss;
        CHECK_OK(soma_net_backward(net, d, N));
        soma_optim_step(o, 3e-3f);
    }
    soma_free(d);
out:
    soma_optim_free(o);
    soma_net_free(net);
}

static void test_training(void) {
    enum { N = 64, T = 6, D = 8 };
    static float x[N * T * D];
    int lab[N];
    soma_rng g;
    soma_rng_seed(&g, 3, 0);
    soma_rng_normal_fill(&g, x, N * T * D, 0, 1);
    for (int n = 0; n < N; n++) { /* class: which of features 0..2 has the largest time sum */
        double s[3] = {0, 0, 0};
        for (int t = 0; t < T; t++)
            for (int k = 0; k < 3; k++) s[k] += x[(n * T + t) * D + k];
        lab[n] = s[0] > s[1] ? (s[0] > s[2] ? 0 : 2) : (s[1] > s[2] ? 1 : 2);
    }
    float a, b;
    train_("fc16,res(layernorm,fc32,gelu,fc16),fc3", soma_shape1(T * D), x, lab, N, 3, 60, &a, &b);
    printf("residual MLP: loss %.3f -> %.3f over 60 steps\n", (double)a, (double)b);
    CHECK(b < 0.5f * a);
    train_("fc16,res(layernorm,fc32,gelu,fc16),tmean,fc3", soma_shape2(T, D), x, lab, N, 3, 60, &a, &b);
    printf("pre-norm block over [T,D]: loss %.3f -> %.3f over 60 steps\n", (double)a, (double)b);
    CHECK(b < 0.5f * a);
}

int main(void) {
    test_gradients();
    test_names_and_shapes();
    test_backward_parts();
    parts_check("conv3x3x8p1,relu,conv3x3x16,tanh,conv1x1x4,fc3", soma_shape3(2, 8, 8));
    parts_check("conv3x3x2p1,relu,conv5x5x3,fc3", soma_shape3(1, 6, 21));
    parts_check("conv3x3x4p1,maxpool2,cat(conv3x3x8p1|conv1x1x2),fc3,tsum", soma_shape4(2, 2, 6, 6));
    test_feedback();
    test_clone();
    test_json();
    test_add_ownership();
    test_training();
    return check_report("test_nn_graph");
}
