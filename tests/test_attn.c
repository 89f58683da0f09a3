// nn: attention and transformer layers -- the fused row-by-row kernel against the
// materialised reference (causal and padding masks, rows with no visible key, long sequences,
// row counts that are not a multiple of the kernel's row block, large scores), forward and backward of mhaH[c], xattnH(SPEC), sinpos,
// the pre-norm block and a small ViT against PyTorch (tests/ref/gen_attn.py; weights imported
// through soma_net_load_npy, the --init-npy path), every new layer's backward against finite
// differences, thread-count independence, clones, and bad input (heads that do not divide the
// width, patches that do not tile the image, sequences longer than the position table).
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "fixture.h"
#include "net_util.h"
#include "soma/io.h"
#include "soma/nn.h"

// --- the kernel against its reference ----------------------------------------------------

static void test_kernel(void) {
    const int N = 2, Hs[] = {3, 2}, dhs[] = {5, 16}; /* a scalar head width, and whole vectors */
    const int Tqs[] = {1, 7, 150}, Tks[] = {1, 9, 150};
    soma_rng g;
    soma_rng_seed(&g, 11, 0);
    for (int hc = 0; hc < 2; hc++)
    for (int c = 0; c < 3; c++)
        for (int causal = 0; causal < 2; causal++)
            for (int use_pad = 0; use_pad < 2; use_pad++) {
                int H = Hs[hc], dh = dhs[hc], D = H * dh;
                int Tq = Tqs[c], Tk = causal ? Tq : Tks[c];
                size_t nq = (size_t)N * Tq * D, nk = (size_t)N * Tk * 2 * D;
                float *q = soma_alloc(nq, 4), *kv = soma_alloc(nk, 4), *o = soma_alloc(nq, 4),
                      *r = soma_alloc(nq, 4), *lse = soma_alloc((size_t)N * H * Tq, 4),
                      *lr = soma_alloc((size_t)N * H * Tq, 4);
                uint8_t *pad = soma_alloc((size_t)N * Tk, 1);
                soma_rng_normal_fill(&g, q, nq, 0.f, 3.f); /* scores up to ~50: exp overflows unless stable */
                soma_rng_normal_fill(&g, kv, nk, 0.f, 3.f);
                for (int i = 0; i < N * Tk; i++) pad[i] = use_pad && soma_rng_uniform(&g) < 0.4;
                if (use_pad) pad[0] = 1; /* causal: query 0 of sample 0 sees nothing */
                float *scr = soma_alloc(soma_attn_scratch(Tk, dh, 2), 4);
                soma_attn_forward(o, lse, q, kv, kv + D, use_pad ? pad : NULL, N, Tq, Tk, H, dh, D, 2 * D,
                                  D, causal, scr, 2);
                soma_free(scr);
                soma_attn_forward_ref(r, lr, q, kv, kv + D, use_pad ? pad : NULL, N, Tq, Tk, H, dh, D,
                                      2 * D, D, causal);
                char lab[64];
                snprintf(lab, sizeof lab, "attn dh %d Tq %d Tk %d causal %d pad %d", dh, Tq, Tk, causal, use_pad);
                CHECK_CLOSE(lab, o, r, nq, 1e-5f, 1e-4f);
                int same_inf = 1;
                for (int i = 0; i < N * H * Tq; i++)
                    if (isinf(lr[i]) != isinf(lse[i])) same_inf = 0;
                CHECK(same_inf);
                if (use_pad && causal) { /* the fully masked row: output 0, lse -inf */
                    CHECK(isinf(lse[0]) && lse[0] < 0);
                    for (int d = 0; d < dh; d++) CHECK(o[d] == 0.f);
                }
                for (int i = 0; i < N * H * Tq; i++)
                    if (isinf(lse[i])) lse[i] = lr[i] = 0.f;
                CHECK_CLOSE("attn lse", lse, lr, (size_t)N * H * Tq, 1e-4f, 1e-5f);
                soma_free(q), soma_free(kv), soma_free(o), soma_free(r), soma_free(lse), soma_free(lr);
                soma_free(pad);
            }
    printf("fused attention kernel vs materialised reference: ok\n");
}

/* The kernels alone (no BLAS), big enough to be shared out: the same bits with 1 and 3 threads. */
static void test_kernel_threads(void) {
    const int N = 4, H = 4, dh = 16, D = H * dh, T = 70;
    size_t nr = (size_t)N * T * 3 * D, no = (size_t)N * T * D;
    float *qkv = soma_alloc(nr, 4), *o[2], *lse[2], *d[2], *dout = soma_alloc(no, 4);
    soma_rng g;
    soma_rng_seed(&g, 12, 0);
    soma_rng_normal_fill(&g, qkv, nr, 0.f, 1.f);
    soma_rng_normal_fill(&g, dout, no, 0.f, 1.f);
    float *scr = soma_alloc(soma_attn_scratch(T, dh, 3), 4);
    for (int k = 0; k < 2; k++) {
        int th = k ? 3 : 1;
        o[k] = soma_alloc(no, 4), lse[k] = soma_alloc((size_t)N * H * T, 4), d[k] = soma_calloc(nr, 4);
        soma_attn_forward(o[k], lse[k], qkv, qkv + D, qkv + 2 * D, NULL, N, T, T, H, dh, 3 * D, 3 * D, D, 1,
                          scr, th);
        soma_attn_backward(d[k], d[k] + D, d[k] + 2 * D, dout, o[k], lse[k], qkv, qkv + D, qkv + 2 * D, NULL,
                           N, T, T, H, dh, 3 * D, 3 * D, D, 1, scr, th);
    }
    soma_free(scr);
    CHECK(memcmp(o[0], o[1], no * 4) == 0);
    CHECK(memcmp(d[0], d[1], nr * 4) == 0);
    for (int k = 0; k < 2; k++) soma_free(o[k]), soma_free(lse[k]), soma_free(d[k]);
    soma_free(qkv);
    soma_free(dout);
    printf("attention kernels: the same bits with 1 and 3 threads\n");
}

// --- PyTorch fixtures ---------------------------------------------------------------------

static void run_torch(const char *name) {
    char rel[256], dir[512], path[700];
    snprintf(rel, sizeof rel, "tests/fixtures/attn/%s.bin", name);
    fixture f;
    if (fixture_load(check_src_path(rel), &f) != 0) {
        check_failures_++;
        return;
    }
    const fixture_array *shp = fixture_get(&f, "in_shape"), *x = fixture_get(&f, "x"),
                        *dy = fixture_get(&f, "dy"), *pad = fixture_get(&f, "pad");
    soma_shape in = {(int)shp->n, {0}};
    for (size_t i = 0; i < shp->n; i++) in.d[i] = (int)shp->data[i];
    soma_net *net = NULL;
    uint8_t *mask = NULL;
    float *dx = NULL;
    CHECK_OK(soma_net_new(&net, f.spec, in, 3));
    if (!net) goto done;
    int N = f.n;
    /* the parameters through the --init-npy path: one NPY per state_dict key */
    snprintf(dir, sizeof dir, "/tmp/soma_test_attn_%d_%s", (int)getpid(), name);
    CHECK_OK(soma_mkdir_p(dir));
    for (int k = 0; k < soma_net_n_params(net); k++) {
        const fixture_array *a = fixture_get(&f, soma_net_param_name(net, k));
        soma_param *p = soma_net_param(net, k);
        if (!a || a->n != p->n) fprintf(stderr, "%s: no fixture array for %s\n", name, soma_net_param_name(net, k));
        CHECK(a && a->n == p->n);
        if (!a || a->n != p->n) goto done;
        snprintf(path, sizeof path, "%s/%s.npy", dir, soma_net_param_name(net, k));
        CHECK_OK(soma_npy_write_f32(path, a->ndim, a->dims, a->data));
    }
    CHECK_OK(soma_net_load_npy(net, dir));
    for (int k = 0; k < soma_net_n_params(net); k++) {
        snprintf(path, sizeof path, "%s/%s.npy", dir, soma_net_param_name(net, k));
        remove(path);
    }
    rmdir(dir);
    int n_fix = 0;
    for (int i = 0; i < f.n_arrays; i++) {
        const char *nm = f.a[i].name;
        size_t l = strlen(nm);
        n_fix += strchr(nm, '.') && !(l > 5 && strcmp(nm + l - 5, ".grad") == 0);
    }
    CHECK(n_fix == soma_net_n_params(net)); /* every state_dict entry has its soma parameter */
    if (pad) {
        int T = in.d[0];
        mask = soma_alloc(pad->n, 1);
        for (size_t i = 0; i < pad->n; i++) mask[i] = pad->data[i] != 0.f;
        CHECK_OK(soma_net_set_key_padding(net, mask, T));
    }
    CHECK_OK(soma_net_reserve(net, N));
    const float *y = NULL;
    size_t ny = (size_t)N * soma_shape_size(soma_net_out_shape(net));
    soma_net_zero_grad(net);
    CHECK_OK(soma_net_forward(net, x->data, N, SOMA_MODE_EVAL, &y));
    char lab[128];
    snprintf(lab, sizeof lab, "%s y", name);
    CHECK_CLOSE(lab, y, fixture_get(&f, "y")->data, ny, 1e-4f, 1e-4f);
    dx = soma_alloc(x->n, sizeof *dx);
    for (size_t i = 0; i < x->n; i++) dx[i] = NAN;
    CHECK_OK(soma_net_backward_ex(net, dy->data, N, SOMA_GRAD_PARAMS | SOMA_GRAD_INPUT, dx));
    snprintf(lab, sizeof lab, "%s dx", name);
    CHECK_CLOSE(lab, dx, fixture_get(&f, "dx")->data, x->n, 1e-4f, 1e-4f);
    for (int k = 0; k < soma_net_n_params(net); k++) {
        char key[64];
        snprintf(key, sizeof key, "%s.grad", soma_net_param_name(net, k));
        const fixture_array *a = fixture_get(&f, key);
        soma_param *p = soma_net_param(net, k);
        CHECK(a && a->n == p->n);
        snprintf(lab, sizeof lab, "%s %s", name, key);
        if (a && a->n == p->n) CHECK_CLOSE(lab, p->grad, a->data, p->n, 1e-4f, 1e-4f);
    }
    if (pad) CHECK_OK(soma_net_set_key_padding(net, NULL, 0));
    printf("  %-15s %-55s y, dx and %d parameter gradients within 1e-4\n", name, f.spec, soma_net_n_params(net));
done:
    soma_free(dx);
    soma_free(mask);
    soma_net_free(net);
    fixture_free(&f);
}

static void test_torch(void) {
    printf("attention and transformer layers vs PyTorch:\n");
    static const char *cases[] = {"mha_plain", "mha_causal", "mha_pad", "mha_causal_pad", "block",
                                  "block_stack", "xattn", "sinpos", "vit", "block_wide_causal"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_torch(cases[i]);
}

// --- finite differences ---------------------------------------------------------------------

static void test_gradients(void) {
    printf("gradients vs five-point differences (worst relative error):\n");
    const tn_fd_opts o = {.mode = SOMA_MODE_EVAL, .five_point = 1, .eps = 2e-2f, .floor = 5e-2, .samples = 23};
    struct {
        const char *spec;
        soma_shape in;
        int N;
    } c[] = {
        {"mha2", {2, {5, 4}}, 2},
        {"mha1c", {2, {6, 8}}, 2},             /* a head of 8: whole vectors */
        {"block1h16f8", {2, {5, 16}}, 1},      /* a head of 16 */
        {"mha2c,fc3", {2, {4, 6}}, 2},
        {"xattn2(tmean,repeat3,fc4)", {2, {4, 4}}, 2},
        {"pos6,sinpos", {2, {5, 4}}, 2},
        {"patch2x3d4,cls,clsout", {3, {2, 4, 6}}, 2},
        /* the class token and the position table start at N(0, 0.02^2): token 0 is tiny, and
         * a layer norm of it curves on a scale the differences cannot follow, so the class
         * token is checked through attention alone and the block without it (the whole ViT is
         * checked against PyTorch above) */
        {"patch2x2d4,cls,pos,mha2,clsout,fc3", {3, {1, 4, 4}}, 2},
        {"patch2x2d4,pos,block2h4f8,tmean,layernorm,fc3", {3, {1, 4, 4}}, 2},
        {"fc4,block1h4c,tmean", {2, {3, 5}}, 2},
        {"seq(fc5,tanh),seq(fc3,res(fc3,gelu))", {1, {4}}, 3}, /* the core's seq(...) on its own */
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        double wdx, wall;
        if (!tn_fd_net(c[i].spec, c[i].in, c[i].N, &o, &wdx, &wall)) continue;
        printf("  %-55s dx %.2e  all %.2e\n", c[i].spec, wdx, wall);
    }
}

// --- threads, clones, buffers ---------------------------------------------------------------

static const char *VIT = "patch4x4d16,cls,pos,block4h16,block2h16c,clsout,layernorm,fc5";

static void test_threads_and_clone(void) {
    soma_net *net = NULL, *cp = NULL;
    CHECK_OK(soma_net_new(&net, VIT, soma_shape3(1, 12, 12), 5));
    if (!net) return;
    const int N = 6;
    size_t nx = (size_t)N * 144, ny = (size_t)N * 5;
    float *x = soma_alloc(nx, 4), *y1 = soma_alloc(ny, 4), *dx1 = soma_alloc(nx, 4), *dx2 = soma_alloc(nx, 4);
    soma_rng g;
    soma_rng_seed(&g, 2, 0);
    soma_rng_uniform_fill(&g, x, nx, -1.f, 1.f);
    CHECK_OK(soma_net_reserve(net, N));
    const float *y;
    int t0 = soma_get_threads();
    size_t nv;
    float *gr = soma_net_flat_grads(net, &nv);
    float *g1 = soma_alloc(nv, 4);
    for (int pass = 0; pass < 2; pass++) {
        soma_set_threads(pass == 0 ? 1 : 3);
        soma_net_zero_grad(net);
        CHECK_OK(soma_net_forward(net, x, N, SOMA_MODE_TRAIN, &y));
        float dy[30];
        for (int i = 0; i < 30; i++) dy[i] = (float)(i % 7) - 3.f;
        CHECK_OK(soma_net_backward_ex(net, dy, N, SOMA_GRAD_PARAMS | SOMA_GRAD_INPUT, pass ? dx2 : dx1));
        if (pass == 0) {
            memcpy(y1, y, ny * 4);
            memcpy(g1, gr, nv * 4);
        } else {
            CHECK(memcmp(y1, y, ny * 4) == 0); /* the same bits whatever the thread count */
            CHECK(memcmp(dx1, dx2, nx * 4) == 0);
            CHECK(memcmp(g1, gr, nv * 4) == 0);
        }
    }
    soma_set_threads(t0);
    CHECK_OK(soma_net_clone(net, 0, 1, &cp));
    if (cp) {
        CHECK_OK(soma_net_reserve(cp, N));
        CHECK_OK(soma_net_forward(cp, x, N, SOMA_MODE_EVAL, &y));
        CHECK(memcmp(y1, y, ny * 4) == 0);
    }
    printf("ViT forward/backward identical with 1 and 3 threads; its clone gives the same output\n");
    soma_net_free(cp);
    soma_net_free(net);
    soma_free(x), soma_free(y1), soma_free(dx1), soma_free(dx2), soma_free(g1);
}

// --- names and shapes ------------------------------------------------------------------------

static void test_names(void) {
    soma_net *net = NULL;
    CHECK_OK(soma_net_new(&net, "patch7x7d8,cls,pos,block2h8,clsout,fc10", soma_shape3(1, 28, 28), 1));
    if (!net) return;
    CHECK(soma_shape_eq(soma_net_layer(net, 0)->out, soma_shape2(16, 8)));
    CHECK(soma_shape_eq(soma_net_layer(net, 1)->out, soma_shape2(17, 8)));
    CHECK(soma_shape_eq(soma_net_layer(net, 4)->out, soma_shape1(8)));
    static const char *want[] = {"0.weight", "0.bias", "1.weight", "2.weight", "3.0.0.weight",
                                 "3.0.0.bias", "3.0.1.in_proj_weight", "3.0.1.in_proj_bias",
                                 "3.0.1.out_proj.weight", "3.0.1.out_proj.bias", "3.1.0.weight",
                                 "3.1.0.bias", "3.1.1.weight", "3.1.1.bias", "3.1.3.weight", "3.1.3.bias",
                                 "5.weight", "5.bias"};
    CHECK(soma_net_n_params(net) == 18);
    for (int k = 0; k < soma_net_n_params(net) && k < 18; k++) {
        int same = strcmp(soma_net_param_name(net, k), want[k]) == 0;
        if (!same) fprintf(stderr, "param %d: %s, want %s\n", k, soma_net_param_name(net, k), want[k]);
        CHECK(same);
    }
    CHECK(soma_net_param(net, 12)->dims[0] == 32); /* linear1: F = 4D */
    CHECK(strcmp(soma_net_layer(net, 3)->spec, "block2h8") == 0);
    soma_net_free(net);
    net = NULL;
    CHECK_OK(soma_net_new(&net, "seq(fc5,tanh),fc3", soma_shape1(4), 1)); /* an nn.Sequential */
    if (net) {
        CHECK(soma_net_n_params(net) == 4 && strcmp(soma_net_param_name(net, 0), "0.0.weight") == 0 &&
              strcmp(soma_net_param_name(net, 2), "1.weight") == 0);
        CHECK(soma_shape_eq(soma_net_layer(net, 0)->out, soma_shape1(5)));
        soma_net_free(net);
    }
    printf("ViT shapes and state_dict keys as documented\n");
}

// --- bad input ---------------------------------------------------------------------------------

static void test_errors(void) {
    soma_net *net = NULL;
    CHECK_FAILS(soma_net_new(&net, "mha3", soma_shape2(5, 8), 1), SOMA_ERR_SHAPE);
    CHECK(strstr(soma_errmsg(), "3 heads do not divide the width 8") != NULL);
    CHECK_FAILS(soma_net_new(&net, "block3h8", soma_shape2(5, 8), 1), SOMA_ERR_ARG);
    CHECK_FAILS(soma_net_new(&net, "patch3x3d8", soma_shape3(1, 28, 28), 1), SOMA_ERR_SHAPE);
    CHECK(strstr(soma_errmsg(), "do not tile the 28x28 image") != NULL);
    CHECK_FAILS(soma_net_new(&net, "patch4x4d8,pos10", soma_shape3(1, 28, 28), 1), SOMA_ERR_SHAPE);
    CHECK(strstr(soma_errmsg(), "longer than the position table (10)") != NULL);
    CHECK_FAILS(soma_net_new(&net, "mha2", soma_shape1(8), 1), SOMA_ERR_SHAPE);
    CHECK_FAILS(soma_net_new(&net, "patch2x2d4", soma_shape2(4, 4), 1), SOMA_ERR_SHAPE);
    CHECK_FAILS(soma_net_new(&net, "cls", soma_shape3(1, 4, 4), 1), SOMA_ERR_SHAPE);
    CHECK_FAILS(soma_net_new(&net, "xattn2(tmean,fc8)", soma_shape2(4, 8), 1), SOMA_ERR_SHAPE);
    CHECK_FAILS(soma_net_new(&net, "xattn2(fc6)", soma_shape2(4, 8), 1), SOMA_ERR_SHAPE);
    CHECK_FAILS(soma_net_new(&net, "block2h8", soma_shape2(4, 6), 1), SOMA_ERR_SHAPE);
    static const char *bad[] = {"mha", "mha0", "mha2x", "xattn2", "xattn2()", "xattn(fc4)", "patch4x4",
                                "patch0x4d8", "pos0", "posx", "block4", "block4h", "block2h8f",
                                "clsx", "seq()", "seq(fc4|fc2)"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        soma_error_clear();
        soma_status st = soma_net_new(&net, bad[i], soma_shape2(4, 8), 1);
        CHECK(st == SOMA_ERR_PARSE && soma_errmsg()[0]);
        if (st != SOMA_ERR_PARSE) fprintf(stderr, "'%s': %s (%s)\n", bad[i], soma_status_str(st), soma_errmsg());
    }
    /* the key-padding mask: a wrong length, and a net with no attention layer */
    uint8_t pad[16] = {0};
    CHECK_OK(soma_net_new(&net, "fc8,res(layernorm,mha2),tmean", soma_shape2(4, 3), 1));
    if (net) {
        CHECK_FAILS(soma_net_set_key_padding(net, pad, 5), SOMA_ERR_SHAPE);
        CHECK_OK(soma_net_set_key_padding(net, pad, 4));
        CHECK_OK(soma_net_set_key_padding(net, NULL, 0));
        soma_net_free(net);
    }
    net = NULL;
    CHECK_OK(soma_net_new(&net, "fc8,tmean", soma_shape2(4, 3), 1));
    if (net) CHECK_FAILS(soma_net_set_key_padding(net, pad, 4), SOMA_ERR_ARG);
    soma_net_free(net);
    printf("bad heads, patches, position tables, specs and masks: clear errors\n");
}

/* A padded key changes nothing when it is masked: the output at real positions does not
 * depend on what the padded positions hold. */
static void test_padding_ignored(void) {
    soma_net *net = NULL;
    CHECK_OK(soma_net_new(&net, "fc8,block2h8,block2h8", soma_shape2(6, 3), 4));
    if (!net) return;
    const int N = 2;
    float x[36], y0[96];
    uint8_t pad[12] = {0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 1};
    soma_rng g;
    soma_rng_seed(&g, 9, 0);
    soma_rng_uniform_fill(&g, x, 36, -1.f, 1.f);
    CHECK_OK(soma_net_set_key_padding(net, pad, 6));
    CHECK_OK(soma_net_reserve(net, N));
    const float *y;
    CHECK_OK(soma_net_forward(net, x, N, SOMA_MODE_EVAL, &y));
    memcpy(y0, y, sizeof y0);
    for (int i = 0; i < 12; i++)
        if (pad[i])
            for (int d = 0; d < 3; d++) x[i * 3 + d] += 5.f;
    CHECK_OK(soma_net_forward(net, x, N, SOMA_MODE_EVAL, &y));
    int same = 1, moved = 0;
    for (int i = 0; i < 12; i++)
        for (int d = 0; d < 8; d++) {
            float a = y0[i * 8 + d], b = y[i * 8 + d];
            if (!pad[i] && fabsf(a - b) > 1e-5f) same = 0;
            if (pad[i] && fabsf(a - b) > 1e-2f) moved = 1;
        }
    CHECK(same && moved);
    soma_net_free(net);
    printf("padded keys never reach the real positions\n");
}

int main(void) {
    test_kernel();
    test_kernel_threads();
    test_torch();
    test_gradients();
    test_threads_and_clone();
    test_names();
    test_errors();
    test_padding_ignored();
    return check_report("test_attn");
}
