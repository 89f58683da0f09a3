// nn: the recurrent composite rec(SPEC) -- backpropagation through time against central
// differences (eval, and train mode with dropout masks kept per step), the Elman RNN and a
// stacked recurrent net against PyTorch, shape inference of the state width, parameter
// names, input-only and params-only backward, clones (data-parallel replicas and independent
// copies), and a sequence task needing memory that rec(...) learns and a token-wise net of
// the same size cannot.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "fixture.h"
#include "net_util.h"
#include "soma/nn.h"

// --- finite differences through time ---------------------------------------------------

/* L = sum(r * net(x)): every input value and (sampled) every parameter against the five-point
 * central stencil (truncation error O(eps^4): several steps of tanh and GELU curve too much for
 * O(eps^2)); roundoff shrinks with eps, so eps is large. Relative errors of values under 5% of
 * the largest are measured against 5% of it (float32 roundoff in the differences); a wrong
 * gradient through time is wrong by O(1). In train mode the dropout streams are rewound before
 * every forward, so each forward draws the masks the analytic pass used -- at every step of the
 * sequence. */
static void fd_net(const char *spec, soma_shape in, int N, soma_mode mode) {
    const tn_fd_opts o = {.mode = mode, .five_point = 1, .eps = 4e-2f, .floor = 5e-2, .samples = 29};
    double worst_dx, worst;
    if (!tn_fd_net(spec, in, N, &o, &worst_dx, &worst)) return;
    char sh[64];
    printf("  %-5s %-52s %-8s dx %.2e  all %.2e\n", mode == SOMA_MODE_TRAIN ? "train" : "eval", spec,
           soma_shape_str(in, sh, sizeof sh), worst_dx, worst);
}

static void test_gradients(void) {
    printf("rec gradients through time vs central differences (worst relative error):\n");
    fd_net("rec(fc5,tanh)", soma_shape2(4, 3), 3, SOMA_MODE_EVAL);
    fd_net("fc4,rec(layernorm,fc6,gelu,fc5,tanh),fc3", soma_shape2(5, 3), 2, SOMA_MODE_EVAL);
    fd_net("rec(fc6,res(fc6,tanh),tanh),rec(cat(fc3|fc2,sigmoid),tanh),tsum", soma_shape2(4, 2), 2, SOMA_MODE_EVAL);
    fd_net("rec(fc4,tanh),tmean,fc3", soma_shape2(7, 3), 2, SOMA_MODE_EVAL);
    /* dropout inside the cell: each step's mask must be the one its forward drew */
    fd_net("rec(fc6,tanh,dropout0.3),fc3", soma_shape2(5, 3), 3, SOMA_MODE_TRAIN);
    fd_net("rec(dropout0.4,fc5,tanh)", soma_shape2(4, 2), 2, SOMA_MODE_TRAIN);
}

// --- shapes, names, errors -------------------------------------------------------------

static void test_shapes_and_names(void) {
    soma_net *net = NULL;
    CHECK_OK(soma_net_new(&net, "fc4,rec(fc8,tanh),fc3", soma_shape2(6, 5), 1));
    if (net) {
        static const char *want[] = {"0.weight", "0.bias", "1.0.weight", "1.0.bias", "2.weight", "2.bias"};
        CHECK(soma_net_n_params(net) == 6);
        for (int k = 0; k < soma_net_n_params(net) && k < 6; k++) {
            if (strcmp(soma_net_param_name(net, k), want[k]) != 0)
                fprintf(stderr, "param %d: %s, want %s\n", k, soma_net_param_name(net, k), want[k]);
            CHECK(strcmp(soma_net_param_name(net, k), want[k]) == 0);
        }
        soma_param *w = soma_net_param(net, 2);
        CHECK(w->ndim == 2 && w->dims[0] == 8 && w->dims[1] == 4 + 8); /* Linear(D+H, H) */
        CHECK(soma_shape_eq(soma_net_layer(net, 1)->out, soma_shape2(6, 8)));
        CHECK(soma_shape_eq(soma_net_out_shape(net), soma_shape2(6, 3)));
        char buf[1024];
        soma_net_summary(net, buf, sizeof buf);
        CHECK(strstr(buf, "rec") != NULL);
    }
    soma_net_free(net);
    /* nested composites inside the cell name their parameters depth first */
    CHECK_OK(soma_net_new(&net, "rec(cat(fc3|fc2,tanh),fc4)", soma_shape2(3, 2), 1));
    if (net) {
        CHECK(strcmp(soma_net_param_name(net, 0), "0.0.0.0.weight") == 0);
        CHECK(strcmp(soma_net_param_name(net, 3), "0.0.1.0.bias") == 0);
        CHECK(strcmp(soma_net_param_name(net, 4), "0.1.weight") == 0);
        CHECK(soma_net_param(net, 0)->dims[1] == 2 + 4);
    }
    soma_net_free(net);
    /* T = 1 has no step copies */
    CHECK_OK(soma_net_new(&net, "rec(fc3,tanh)", soma_shape2(1, 2), 1));
    if (net) {
        float x[2] = {0.5f, -1.f};
        const float *y;
        CHECK_OK(soma_net_forward(net, x, 1, SOMA_MODE_EVAL, &y));
        const float *w = soma_net_param(net, 0)->value, *b = soma_net_param(net, 1)->value;
        float ref[3];
        for (int o = 0; o < 3; o++) ref[o] = tanhf(w[o * 5] * x[0] + w[o * 5 + 1] * x[1] + b[o]);
        CHECK_CLOSE("rec T=1", y, ref, 3, 1e-6f, 1e-5f);
    }
    soma_net_free(net);
    net = NULL;
    /* the state width must close: the cell's output is the next step's state */
    CHECK_FAILS(soma_net_new(&net, "rec(tanh)", soma_shape2(4, 3), 1), SOMA_ERR_SHAPE);
    CHECK(strstr(soma_errmsg(), "rec(tanh)") != NULL && strstr(soma_errmsg(), "[H]") != NULL);
    CHECK_FAILS(soma_net_new(&net, "rec(fc3,repeat2)", soma_shape2(4, 3), 1), SOMA_ERR_SHAPE);
    CHECK(strstr(soma_errmsg(), "vector") != NULL);
    CHECK_FAILS(soma_net_new(&net, "rec(fc3,tanh)", soma_shape1(4), 1), SOMA_ERR_SHAPE);
    CHECK(strstr(soma_errmsg(), "[T,D]") != NULL);
    CHECK_FAILS(soma_net_new(&net, "rec(fc3,tanh)", soma_shape3(1, 4, 4), 1), SOMA_ERR_SHAPE);
    CHECK_FAILS(soma_net_new(&net, "rec", soma_shape2(4, 3), 1), SOMA_ERR_PARSE);
    CHECK(strstr(soma_errmsg(), "rec(SPEC)") != NULL);
    CHECK_FAILS(soma_net_new(&net, "rec(fc3|fc2)", soma_shape2(4, 3), 1), SOMA_ERR_PARSE);
    CHECK_FAILS(soma_net_new(&net, "rec(fc3,tanh", soma_shape2(4, 3), 1), SOMA_ERR_PARSE);
    CHECK_FAILS(soma_net_new(&net, "rec()", soma_shape2(4, 3), 1), SOMA_ERR_PARSE);
    CHECK_FAILS(soma_net_new(&net, "rec(fc3,bogus)", soma_shape2(4, 3), 1), SOMA_ERR_PARSE);
    CHECK(strstr(soma_errmsg(), "bogus") != NULL);
    CHECK(net == NULL);
    /* the JSON form: {"rec": [items]} is the same net as the line */
    soma_net *a = NULL, *b = NULL;
    const char *line = "fc4,rec(layernorm,fc8,res(fc8,tanh),tanh),fc3";
    CHECK_OK(soma_net_new(&a, line, soma_shape2(5, 3), 7));
    CHECK_OK(soma_net_new(&b, "{\"layers\": [\"fc4\", {\"rec\": [\"layernorm\", \"fc8\", {\"res\": [\"fc8\", \"tanh\"]},"
                              " \"tanh\"]}, \"fc3\"]}", soma_shape2(5, 3), 7));
    if (a && b) {
        size_t na, nb;
        float *va = soma_net_flat_values(a, &na), *vb = soma_net_flat_values(b, &nb);
        CHECK(strcmp(soma_net_spec(b), line) == 0 && na == nb && memcmp(va, vb, na * sizeof *va) == 0);
        CHECK(strcmp(soma_net_param_name(b, 6), "1.2.0.weight") == 0);
    }
    soma_net_free(a);
    soma_net_free(b);
    CHECK_FAILS(soma_net_new(&net, "{\"layers\": [{\"rec\": \"fc3\"}]}", soma_shape2(5, 3), 1), SOMA_ERR_PARSE);
    CHECK(strstr(soma_errmsg(), "\"rec\" wants a list") != NULL);
    char gram[4096];
    soma_layer_grammar(gram, sizeof gram);
    CHECK(strstr(gram, "rec(SPEC)") != NULL);
}

// --- against PyTorch -------------------------------------------------------------------

/* A net from the fixture's spec with the fixture's parameters (state_dict keys = soma's paths):
 * y, dx and every parameter gradient against PyTorch's. */
static void run_torch(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "tests/fixtures/nn/%s.bin", name);
    fixture *f = malloc(sizeof *f);
    if (!f || fixture_load(check_src_path(path), f) != 0) {
        check_failures_++;
        free(f);
        return;
    }
    const fixture_array *ins = fixture_get(f, "in_shape"), *x = fixture_get(f, "x"), *dy = fixture_get(f, "dy");
    CHECK(ins && x && dy && ins->n == 2);
    if (!ins || !x || !dy || ins->n != 2) goto out;
    soma_shape in = soma_shape2((int)ins->data[0], (int)ins->data[1]);
    soma_net *net = NULL;
    CHECK_OK(soma_net_new(&net, f->spec, in, 1));
    if (!net) goto out;
    int n_fx = 0;
    for (int i = 0; i < f->n_arrays; i++) {
        const char *a = f->a[i].name;
        size_t l = strlen(a);
        n_fx += strchr(a, '.') && !(l > 5 && strcmp(a + l - 5, ".grad") == 0);
    }
    CHECK(n_fx == soma_net_n_params(net));
    for (int k = 0; k < soma_net_n_params(net); k++) {
        soma_param *p = soma_net_param(net, k);
        const fixture_array *a = fixture_get(f, soma_net_param_name(net, k));
        int same = a && a->ndim == p->ndim && a->n == p->n;
        for (int d = 0; same && d < p->ndim; d++) same = a->dims[d] == p->dims[d];
        if (!same) fprintf(stderr, "%s: %s has no state_dict entry of its shape\n", name, soma_net_param_name(net, k));
        CHECK(same);
        if (!same) goto out_net;
        memcpy(p->value, a->data, p->n * sizeof(float));
    }
    int N = f->n;
    size_t ny = (size_t)N * soma_shape_size(soma_net_out_shape(net));
    const fixture_array *yr = fixture_get(f, "y"), *dxr = fixture_get(f, "dx");
    CHECK(yr && dxr && yr->n == ny && dxr->n == x->n && dy->n == ny);
    if (!yr || !dxr || yr->n != ny || dxr->n != x->n || dy->n != ny) goto out_net;
    const float *y;
    float *dx = malloc(x->n * sizeof *dx);
    for (size_t i = 0; i < x->n; i++) dx[i] = NAN;
    soma_net_zero_grad(net);
    CHECK_OK(soma_net_forward(net, x->data, N, SOMA_MODE_EVAL, &y));
    const float atol = 1e-5f, rtol = 1e-4f;
    CHECK_CLOSE("y", y, yr->data, ny, atol, rtol);
    CHECK_OK(soma_net_backward_ex(net, dy->data, N, SOMA_GRAD_PARAMS | SOMA_GRAD_INPUT, dx));
    CHECK_CLOSE("dx", dx, dxr->data, x->n, atol, rtol);
    for (int k = 0; k < soma_net_n_params(net); k++) {
        char nm[128];
        snprintf(nm, sizeof nm, "%s.grad", soma_net_param_name(net, k));
        const fixture_array *gr = fixture_get(f, nm);
        CHECK(gr != NULL);
        if (gr) CHECK_CLOSE(nm, soma_net_param(net, k)->grad, gr->data, gr->n, atol, rtol);
    }
    printf("  %-10s %-72s matches PyTorch (y, dx, %d parameter grads)\n", name, f->spec, soma_net_n_params(net));
    free(dx);
out_net:
    soma_net_free(net);
out:
    fixture_free(f);
    free(f);
}

// --- backward parts --------------------------------------------------------------------

/* Input-only backward gives full backward's dx and leaves every grad zero; params-only gives
 * full backward's grads (with rec as the first layer, step 0 then computes no input gradient). */
static void parts_check(const char *spec, soma_shape in) {
    tn_case c;
    if (!tn_case_new(&c, spec, in, 3, 3, 8)) return;
    soma_net *net = c.net;
    const int N = c.N;
    size_t nx = c.nx, nv = c.nv;
    const float *dy = c.dy, *dx_full = c.dx;
    float *grads = c.grads, *dx_in = soma_alloc(nx, sizeof *dx_in);
    float *full = soma_alloc(nv, sizeof *full);
    memcpy(full, grads, nv * sizeof *full);
    int all_nonzero = 1;
    for (int k = 0; k < soma_net_n_params(net); k++) {
        soma_param *p = soma_net_param(net, k);
        double s = 0;
        for (size_t i = 0; i < p->n; i++) s += fabs(p->grad[i]);
        all_nonzero &= s > 0;
    }
    CHECK(all_nonzero);
    soma_net_zero_grad(net);
    for (size_t i = 0; i < nx; i++) dx_in[i] = NAN;
    CHECK_OK(soma_net_backward_ex(net, dy, N, SOMA_GRAD_INPUT, dx_in));
    CHECK(memcmp(dx_in, dx_full, nx * sizeof *dx_in) == 0);
    CHECK(tn_all_zero(grads, nv));
    soma_net_zero_grad(net);
    CHECK_OK(soma_net_backward_ex(net, dy, N, SOMA_GRAD_PARAMS, NULL));
    CHECK(memcmp(grads, full, nv * sizeof *full) == 0);
    /* frozen cell: its grads stay zero, the layers around it unchanged, dx unchanged */
    int lo = -1, hi = -1;
    for (int k = 0; k < soma_net_n_params(net); k++)
        if (strcmp(soma_net_layer(net, soma_net_param_layer(net, k))->ops->kind, "rec") == 0) {
            if (lo < 0) lo = k;
            hi = k;
        }
    if (lo >= 0) {
        for (int k = lo; k <= hi; k++) soma_net_param(net, k)->trainable = 0;
        soma_net_zero_grad(net);
        CHECK_OK(soma_net_backward_ex(net, dy, N, SOMA_GRAD_PARAMS | SOMA_GRAD_INPUT, dx_in));
        CHECK(memcmp(dx_in, dx_full, nx * sizeof *dx_in) == 0);
        int ok = 1;
        for (int k = 0; k < soma_net_n_params(net); k++) {
            soma_param *p = soma_net_param(net, k);
            size_t off = (size_t)(p->grad - grads);
            for (size_t i = 0; i < p->n; i++) ok &= k >= lo && k <= hi ? p->grad[i] == 0.f : p->grad[i] == full[off + i];
        }
        CHECK(ok);
    }
    printf("  backward parts of %s: input-only, params-only, frozen cell ok\n", spec);
    soma_free(full);
    soma_free(dx_in);
    tn_case_free(&c);
}

// --- clones ------------------------------------------------------------------------------

/* 1.1.weight, the weight of the cell's fc6 */
static void scale_cell_weight_(soma_net *net) {
    soma_param *w = soma_net_param(net, 4);
    for (size_t i = 0; i < w->n; i++) w->value[i] *= 1.5f;
}

static void test_clone(void) {
    soma_net *src = NULL, *rep = NULL, *cp = NULL;
    const char *spec = "fc5,rec(layernorm,fc6,dropout0.3,tanh),fc3";
    enum { N = 4, T = 5, D = 3, O = 3 };
    CHECK_OK(soma_net_new(&src, spec, soma_shape2(T, D), 9));
    if (!src) return;
    CHECK_OK(soma_net_clone(src, 1, 1, &rep));
    CHECK_OK(soma_net_clone(src, 0, 0, &cp));
    if (!rep || !cp) goto out;
    size_t nv, nr, nc;
    float *vs = soma_net_flat_values(src, &nv), *vr = soma_net_flat_values(rep, &nr), *vc = soma_net_flat_values(cp, &nc);
    CHECK(vr == vs && vc != vs && nc == nv && nr == nv && memcmp(vc, vs, nv * sizeof *vs) == 0);
    CHECK(strcmp(soma_net_param_name(rep, 4), "1.1.weight") == 0);
    float x[N * T * D], yr[N * T * O], dy[N * T * O];
    soma_rng g;
    soma_rng_seed(&g, 1, 0);
    soma_rng_uniform_fill(&g, x, N * T * D, -1, 1);
    /* the replica reads src's values -- in the cell, at every step; the copy keeps its own */
    tn_check_clone_values(src, rep, cp, x, N, scale_cell_weight_);
    /* gradients of its own: the replica's backward leaves src's grads untouched, and equals
     * src's own backward in eval mode */
    for (int i = 0; i < N * T * O; i++) dy[i] = (float)((i % 7) - 3) * 0.25f;
    tn_check_replica_grads(src, rep, x, dy, N, SOMA_MODE_EVAL, yr);
    float *gs = soma_net_flat_grads(src, NULL), *gr = soma_net_flat_grads(rep, NULL);
    const float *y;
    CHECK_OK(soma_net_forward(src, x, N, SOMA_MODE_EVAL, &y));
    CHECK_OK(soma_net_backward(src, dy, N));
    CHECK(memcmp(gs, gr, nv * sizeof *gs) == 0);
    /* dropout: a stream of the replica's own; within one forward, each step draws a new mask,
     * and the next forward draws new ones again */
    CHECK_OK(soma_net_forward(rep, x, N, SOMA_MODE_TRAIN, &y));
    memcpy(yr, y, sizeof yr);
    CHECK_OK(soma_net_forward(src, x, N, SOMA_MODE_TRAIN, &y));
    CHECK(memcmp(yr, y, sizeof yr) != 0);
    CHECK_OK(soma_net_forward(rep, x, N, SOMA_MODE_TRAIN, &y));
    CHECK(memcmp(yr, y, sizeof yr) != 0);
out:
    soma_net_free(rep);
    soma_net_free(cp);
    soma_net_free(src);
}

/* The dropout layer in the cell draws one stream through the steps, as a single layer would:
 * the zero pattern of the cell's output (dropout last) differs from step to step. */
static void test_step_masks(void) {
    soma_net *net = NULL;
    enum { N = 8, T = 4, D = 2, H = 16 };
    CHECK_OK(soma_net_new(&net, "rec(fc16,tanh,dropout0.5)", soma_shape2(T, D), 5));
    if (!net) return;
    float x[N * T * D];
    for (int i = 0; i < N * T * D; i++) x[i] = 0.3f + 0.01f * (float)i;
    const float *y;
    CHECK_OK(soma_net_forward(net, x, N, SOMA_MODE_TRAIN, &y));
    int same_01 = 1, same_12 = 1, zeros = 0;
    for (int n = 0; n < N; n++)
        for (int k = 0; k < H; k++) {
            const float *yn = y + (size_t)n * T * H;
            same_01 &= (yn[k] == 0.f) == (yn[H + k] == 0.f);
            same_12 &= (yn[H + k] == 0.f) == (yn[2 * H + k] == 0.f);
            zeros += yn[k] == 0.f;
        }
    CHECK(zeros > N * H / 4 && zeros < 3 * N * H / 4);
    CHECK(!same_01 && !same_12);
    soma_net_free(net);
}

// --- a task that needs memory ------------------------------------------------------------

/* Each step shows one of K symbols (one-hot, D = K, plus noise); the label at step t is the
 * symbol shown at step t-1 (at step 0: class 0). A token-wise net sees only x_t and is at
 * chance (1/K) from step 1 on; a recurrent one can carry x_{t-1} in its state. */
enum { MK = 4, MT = 8 };
static void memory_data_(float *x, int *lab, int N, uint64_t seed) {
    soma_rng g;
    soma_rng_seed(&g, seed, 0);
    for (int n = 0; n < N; n++) {
        int prev = 0;
        for (int t = 0; t < MT; t++) {
            int s = (int)soma_rng_below(&g, MK);
            float *xt = x + ((size_t)n * MT + t) * MK;
            soma_rng_normal_fill(&g, xt, MK, 0.f, 0.1f);
            xt[s] += 1.f;
            lab[n * MT + t] = prev;
            prev = s;
        }
    }
}

/* Adam, full batch; returns per-position accuracy on fresh data. */
static double memory_train_(const char *spec, int steps, size_t *n_params) {
    enum { NTR = 256, NTE = 256 };
    static float xtr[NTR * MT * MK], xte[NTE * MT * MK], d[NTR * MT * MK];
    static int ltr[NTR * MT], lte[NTE * MT];
    memory_data_(xtr, ltr, NTR, 11);
    memory_data_(xte, lte, NTE, 12);
    soma_net *net = NULL;
    soma_optim *o = NULL;
    double acc = -1;
    CHECK_OK(soma_net_new(&net, spec, soma_shape2(MT, MK), 5));
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_ADAM);
    if (net) CHECK_OK(soma_optim_new(&o, net, &oc));
    if (!o) goto out;
    *n_params = 0;
    for (int k = 0; k < soma_net_n_params(net); k++) *n_params += soma_net_param(net, k)->n;
    const float *y;
    for (int s = 0; s < steps; s++) {
        soma_net_zero_grad(net);
        CHECK_OK(soma_net_forward(net, xtr, NTR, SOMA_MODE_TRAIN, &y));
        soma_softmax_xent(d, NULL, y, ltr, NTR * MT, MK); /* per position: N*T rows */
        CHECK_OK(soma_net_backward(net, d, NTR));
        soma_optim_step(o, 1e-2f);
    }
    CHECK_OK(soma_net_forward(net, xte, NTE, SOMA_MODE_EVAL, &y));
    acc = (double)soma_count_correct(y, lte, NTE * MT, MK) / (NTE * MT);
out:
    soma_optim_free(o);
    soma_net_free(net);
    return acc;
}

static void test_memory_task(void) {
    size_t pr = 0, pt = 0;
    double a_rec = memory_train_("rec(fc16,tanh),fc4", 150, &pr);
    double a_tok = memory_train_("fc48,tanh,fc4", 150, &pt);
    printf("previous-symbol task (K=%d, T=%d, chance %.3f): rec(fc16,tanh),fc4 %.3f (%zu params), "
           "token-wise fc48,tanh,fc4 %.3f (%zu params)\n",
           MK, MT, 1.0 / MK, a_rec, pr, a_tok, pt);
    /* token-wise: step 0 right, the others at chance: (1 + 7/4)/8 = 0.34 at best */
    CHECK(a_rec > 0.95);
    CHECK(a_tok < 0.40);
    CHECK(a_rec - a_tok > 0.5);
    CHECK(pt >= pr * 9 / 10 && pt <= pr * 11 / 10); /* the same size, within 10% */
}

int main(void) {
    soma_set_threads(2);
    test_gradients();
    test_shapes_and_names();
    printf("against PyTorch (atol 1e-5, rtol 1e-4):\n");
    run_torch("rnn_elman");
    run_torch("rnn_stack");
    parts_check("fc4,rec(fc6,tanh),fc3", soma_shape2(5, 3));
    parts_check("rec(layernorm,fc6,tanh),fc3", soma_shape2(4, 2));
    test_clone();
    test_step_masks();
    test_memory_task();
    return check_report("test_nn_recur");
}
