// nn: the GRU kernels and the gruH / gruHr / bigruH layers -- forward and backward against
// torch.nn.GRU fixtures (tests/ref/gen_gru.py: one direction, reversed, bidirectional, a stack,
// and the kernel with a given initial state h0), gradients against central differences,
// results independent of the thread count, clones, and bad tokens.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fixture.h"
#include "net_util.h"
#include "soma/nn.h"

static const float ATOL = 1e-5f, RTOL = 1e-4f;

static fixture *load_(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/nn/%s.bin", name);
    fixture *f = malloc(sizeof *f);
    if (!f || fixture_load(check_src_path(path), f) != 0) {
        check_failures_++;
        free(f);
        return NULL;
    }
    return f;
}

/* A net from the fixture's spec with its parameters: y, dx and every gradient vs PyTorch. */
static void run_torch(const char *name) {
    fixture *f = load_(name);
    if (!f) return;
    const fixture_array *ins = fixture_get(f, "in_shape"), *x = fixture_get(f, "x"), *dy = fixture_get(f, "dy"),
                        *yr = fixture_get(f, "y"), *dxr = fixture_get(f, "dx");
    CHECK(ins && x && dy && yr && dxr);
    soma_net *net = NULL;
    if (!ins || !x || !dy || !yr || !dxr) goto out;
    CHECK_OK(soma_net_new(&net, f->spec, soma_shape2((int)ins->data[0], (int)ins->data[1]), 1));
    if (!net) goto out;
    for (int k = 0; k < soma_net_n_params(net); k++) {
        soma_param *p = soma_net_param(net, k);
        const fixture_array *a = fixture_get(f, soma_net_param_name(net, k));
        int same = a && a->ndim == p->ndim && a->n == p->n;
        for (int d = 0; same && d < p->ndim; d++) same = a->dims[d] == p->dims[d];
        if (!same) fprintf(stderr, "%s: %s has no state_dict entry of its shape\n", name, soma_net_param_name(net, k));
        CHECK(same);
        if (!same) goto out;
        memcpy(p->value, a->data, p->n * sizeof(float));
    }
    size_t ny = (size_t)f->n * soma_shape_size(soma_net_out_shape(net));
    CHECK(yr->n == ny && dy->n == ny && dxr->n == x->n);
    if (yr->n != ny || dy->n != ny || dxr->n != x->n) goto out;
    float *dx = malloc(x->n * sizeof *dx);
    for (size_t i = 0; i < x->n; i++) dx[i] = NAN;
    const float *y;
    soma_net_zero_grad(net);
    CHECK_OK(soma_net_forward(net, x->data, f->n, SOMA_MODE_EVAL, &y));
    CHECK_CLOSE("y", y, yr->data, ny, ATOL, RTOL);
    CHECK_OK(soma_net_backward_ex(net, dy->data, f->n, SOMA_GRAD_PARAMS | SOMA_GRAD_INPUT, dx));
    CHECK_CLOSE("dx", dx, dxr->data, x->n, ATOL, RTOL);
    for (int k = 0; k < soma_net_n_params(net); k++) {
        char nm[128];
        snprintf(nm, sizeof nm, "%s.grad", soma_net_param_name(net, k));
        const fixture_array *gr = fixture_get(f, nm);
        CHECK(gr != NULL);
        if (gr) CHECK_CLOSE(nm, soma_net_param(net, k)->grad, gr->data, gr->n, ATOL, RTOL);
    }
    printf("  %-10s %-28s matches torch.nn.GRU (y, dx, %d parameter grads)\n", name, f->spec,
           soma_net_n_params(net));
    free(dx);
out:
    soma_net_free(net);
    fixture_free(f);
    free(f);
}

/* The kernel with an initial state: y, dx, dh0 and the parameter gradients. */
static void test_kernel_h0(void) {
    fixture *f = load_("gru_h0");
    if (!f) return;
    const fixture_array *x = fixture_get(f, "x"), *h0 = fixture_get(f, "h0"), *yr = fixture_get(f, "y"),
                        *dy = fixture_get(f, "dy"), *dxr = fixture_get(f, "dx"), *dh0r = fixture_get(f, "dh0"),
                        *wi = fixture_get(f, "weight_ih_l0"), *wh = fixture_get(f, "weight_hh_l0"),
                        *bi = fixture_get(f, "bias_ih_l0"), *bh = fixture_get(f, "bias_hh_l0");
    CHECK(x && h0 && yr && dy && dxr && dh0r && wi && wh && bi && bh);
    if (!(x && h0 && yr && dy && dxr && dh0r && wi && wh && bi && bh)) goto out;
    int N = f->n, T = f->h, D = f->w, H = h0->dims[1];
    float *work = soma_alloc(soma_gru_work(N, T, H), sizeof(float));
    float *y = calloc(yr->n, sizeof *y), *dx = calloc(x->n, sizeof *dx), *dh0 = calloc(h0->n, sizeof *dh0);
    float *g[4];
    for (int k = 0; k < 4; k++) g[k] = calloc(k == 0 ? wi->n : k == 1 ? wh->n : bi->n, sizeof(float));
    soma_gru_forward(y, H, work, x->data, h0->data, wi->data, wh->data, bi->data, bh->data, N, T, D, H, 0);
    CHECK_CLOSE("y", y, yr->data, yr->n, ATOL, RTOL);
    soma_gru_backward(dx, 0, dh0, g[0], g[1], g[2], g[3], dy->data, H, work, x->data, wi->data, wh->data, N, T,
                      D, H, 0);
    CHECK_CLOSE("dx", dx, dxr->data, x->n, ATOL, RTOL);
    CHECK_CLOSE("dh0", dh0, dh0r->data, h0->n, ATOL, RTOL);
    static const char *gn[4] = {"weight_ih_l0.grad", "weight_hh_l0.grad", "bias_ih_l0.grad", "bias_hh_l0.grad"};
    for (int k = 0; k < 4; k++) {
        const fixture_array *r = fixture_get(f, gn[k]);
        CHECK(r != NULL);
        if (r) CHECK_CLOSE(gn[k], g[k], r->data, r->n, ATOL, RTOL);
        free(g[k]);
    }
    printf("  gru_h0     kernel with h0                matches torch.nn.GRU (y, dx, dh0, 4 grads)\n");
    soma_free(work);
    free(y), free(dx), free(dh0);
out:
    fixture_free(f);
    free(f);
}

static void fd_net(const char *spec, soma_shape in, int N) {
    const tn_fd_opts o = {.mode = SOMA_MODE_EVAL, .five_point = 1, .eps = 6e-2f, .floor = 5e-2, .samples = 29};
    double worst_dx, worst;
    if (!tn_fd_net(spec, in, N, &o, &worst_dx, &worst)) return;
    printf("  %-28s dx %.2e  all %.2e (vs differences, limit 1e-2)\n", spec, worst_dx, worst);
}

/* Output and every gradient bit for bit equal with 1 and 3 threads (batch and width large
 * enough that the gate loops run in parallel). */
static void test_threads(void) {
    enum { N = 48, T = 6, D = 5 };
    const char *spec = "bigru96";
    int saved = soma_get_threads();
    float *out[2] = {NULL, NULL}, *gr[2] = {NULL, NULL};
    size_t ny = 0, nv = 0;
    for (int r = 0; r < 2; r++) {
        soma_set_threads(r == 0 ? 1 : 3);
        tn_case c;
        if (!tn_case_new(&c, spec, soma_shape2(T, D), N, 5, 6)) break;
        const float *y;
        CHECK_OK(soma_net_forward(c.net, c.x, N, SOMA_MODE_EVAL, &y));
        ny = c.ny, nv = c.nv;
        out[r] = malloc((ny + c.nx) * sizeof(float));
        memcpy(out[r], y, ny * sizeof(float));
        memcpy(out[r] + ny, c.dx, c.nx * sizeof(float));
        gr[r] = malloc(nv * sizeof(float));
        memcpy(gr[r], c.grads, nv * sizeof(float));
        ny += c.nx;
        tn_case_free(&c);
    }
    soma_set_threads(saved);
    CHECK(out[0] && out[1] && memcmp(out[0], out[1], ny * sizeof(float)) == 0);
    CHECK(gr[0] && gr[1] && memcmp(gr[0], gr[1], nv * sizeof(float)) == 0);
    printf("  %s on [%d,%d] x %d: y, dx and %zu gradients identical with 1 and 3 threads\n", spec, T, D, N, nv);
    for (int r = 0; r < 2; r++) free(out[r]), free(gr[r]);
}

static void scale_first_(soma_net *net) {
    soma_param *w = soma_net_param(net, 1); /* weight_hh_l0 */
    for (size_t i = 0; i < w->n; i++) w->value[i] *= 1.5f;
}

static void test_clone(void) {
    enum { N = 3, T = 5, D = 3, O = 4 };
    soma_net *src = NULL, *rep = NULL, *cp = NULL;
    CHECK_OK(soma_net_new(&src, "bigru4,gru4r", soma_shape2(T, D), 9));
    if (!src) return;
    CHECK_OK(soma_net_clone(src, 1, 1, &rep));
    CHECK_OK(soma_net_clone(src, 0, 0, &cp));
    if (rep && cp) {
        CHECK(strcmp(soma_net_param_name(src, 5), "0.weight_hh_l0_reverse") == 0);
        float x[N * T * D], dy[N * T * O], yr[N * T * O];
        soma_rng g;
        soma_rng_seed(&g, 2, 0);
        soma_rng_uniform_fill(&g, x, N * T * D, -1, 1);
        soma_rng_normal_fill(&g, dy, N * T * O, 0, 1);
        tn_check_clone_values(src, rep, cp, x, N, scale_first_);
        tn_check_replica_grads(src, rep, x, dy, N, SOMA_MODE_EVAL, yr);
    }
    soma_net_free(rep);
    soma_net_free(cp);
    soma_net_free(src);
}

static void test_errors(void) {
    soma_net *net = NULL;
    CHECK_FAILS(soma_net_new(&net, "gru0", soma_shape2(4, 3), 1), SOMA_ERR_PARSE);
    CHECK_FAILS(soma_net_new(&net, "gru8x", soma_shape2(4, 3), 1), SOMA_ERR_PARSE);
    CHECK_FAILS(soma_net_new(&net, "bigru8r", soma_shape2(4, 3), 1), SOMA_ERR_PARSE);
    CHECK_FAILS(soma_net_new(&net, "gru8", soma_shape1(12), 1), SOMA_ERR_SHAPE);
    CHECK(net == NULL);
    CHECK_OK(soma_net_new(&net, "gru8,gru3r,bigru2", soma_shape2(4, 3), 1));
    if (net) CHECK(soma_shape_eq(soma_net_out_shape(net), soma_shape2(4, 4)));
    soma_net_free(net);
}

int main(void) {
    printf("GRU vs PyTorch:\n");
    run_torch("gru_fwd");
    run_torch("gru_rev");
    run_torch("gru_bi");
    run_torch("gru_stack");
    test_kernel_h0();
    printf("GRU gradients vs five-point differences (worst relative error):\n");
    fd_net("gru5", soma_shape2(6, 3), 3);
    fd_net("gru4r", soma_shape2(5, 2), 2);
    fd_net("bigru3", soma_shape2(5, 2), 2);
    fd_net("bigru3,gru2r", soma_shape2(5, 2), 2);
    test_threads();
    test_clone();
    test_errors();
    return check_report("gru");
}
