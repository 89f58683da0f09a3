// nn: every layer kind's backward (dx and each parameter grad) against central finite
// differences of L = sum(y * r) for a random projection r; both losses against finite
// differences; the optimised kernels against naive references; softmax cross-entropy with
// huge logits.
#include <math.h>

#include "check.h"
#include "nn/internal.h" /* soma__conv_dx_ok: which geometries take the dx kernel */
#include "nn_util.h"
#include "soma/nn.h"

#define REL_TOL 1e-2

typedef enum { IN_UNIFORM, IN_AWAY0, IN_SPACED } in_kind;

/* Worst elementwise relative error, each difference measured against
 * max(|a|, |n|, 1e-2 * max|n|) so that near-zero entries do not dominate. */
static double rel_err(const float *a, const double *num, size_t n) {
    double mx = 1e-6, worst = 0.0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(num[i]));
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - num[i]);
        double s = fmax(fmax(fabs(a[i]), fabs(num[i])), 1e-2 * mx);
        if (!(d / s <= worst)) worst = isnan(d) ? INFINITY : d / s;
    }
    return worst;
}

static void fill_input(float *x, size_t n, in_kind k, soma_rng *r) {
    if (k == IN_UNIFORM) {
        soma_rng_uniform_fill(r, x, n, -1.f, 1.f);
    } else if (k == IN_AWAY0) { /* |x| >= 0.1: no relu kink within eps */
        for (size_t i = 0; i < n; i++) {
            float u = 0.1f + (float)soma_rng_uniform(r);
            x[i] = soma_rng_uniform(r) < 0.5 ? -u : u;
        }
    } else { /* distinct values 0.05 apart: no max-pool tie within eps */
        int *perm = soma_alloc(n, sizeof *perm);
        soma_rng_permutation(r, perm, (int)n);
        for (size_t i = 0; i < n; i++) x[i] = 0.05f * (float)(perm[i] - (int)n / 2);
        soma_free(perm);
    }
}

/* L = sum y*r of one forward, with the layer's rng reset (same dropout mask every time). */
static double proj_loss(soma_layer *l, float *y, const float *x, const float *r, int N,
                        const soma_rng *rng0) {
    l->rng = *rng0;
    l->ops->forward(l, y, x, N, SOMA_MODE_TRAIN);
    size_t ny = (size_t)N * soma_shape_size(l->out);
    double s = 0.0;
    for (size_t i = 0; i < ny; i++) s += (double)y[i] * r[i];
    return s;
}

static double fd_one(soma_layer *l, float *y, float *x, const float *r, int N,
                     const soma_rng *rng0, float *v, float eps) {
    float keep = *v;
    *v = keep + eps;
    double lp = proj_loss(l, y, x, r, N, rng0);
    *v = keep - eps;
    double lm = proj_loss(l, y, x, r, N, rng0);
    *v = keep;
    return (lp - lm) / (2.0 * (double)eps);
}

static double worst_all_ = 0.0;

static void grad_check(const char *tok, soma_shape in, int N, in_kind kind, float eps,
                       int randomize_params) {
    soma_layer l;
    soma_status st = tl_make(&l, tok, in, N, 11);
    CHECK_OK(st);
    if (st != SOMA_OK) return;
    soma_rng r;
    soma_rng_seed(&r, 5, 0);
    if (randomize_params)
        for (int i = 0; i < l.n_params; i++)
            soma_rng_uniform_fill(&r, l.params[i].value, l.params[i].n, -1.f, 1.f);
    size_t nx = (size_t)N * soma_shape_size(l.in), ny = (size_t)N * soma_shape_size(l.out);
    float *x = soma_alloc(nx, sizeof *x), *dx = soma_alloc(nx, sizeof *dx);
    float *y = soma_alloc(ny, sizeof *y), *proj = soma_alloc(ny, sizeof *proj);
    size_t nmax = nx;
    for (int i = 0; i < l.n_params; i++) nmax = l.params[i].n > nmax ? l.params[i].n : nmax;
    double *num = soma_alloc(nmax, sizeof *num);
    fill_input(x, nx, kind, &r);
    soma_rng_normal_fill(&r, proj, ny, 0.f, 1.f);

    soma_rng rng0 = l.rng;
    tl_zero_grad(&l);
    proj_loss(&l, y, x, proj, N, &rng0);
    for (size_t i = 0; i < nx; i++) dx[i] = NAN; /* backward must write every entry */
    l.ops->backward(&l, dx, proj, x, y, N);
    /* The gradients accumulate: a second backward with dx NULL doubles them. */
    l.ops->backward(&l, NULL, proj, x, y, N);

    for (size_t i = 0; i < nx; i++) num[i] = fd_one(&l, y, x, proj, N, &rng0, &x[i], eps);
    double worst = rel_err(dx, num, nx);
    char what[128];
    char sh[64];
    printf("  %-16s %-12s N=%d  dx %.2e", tok, soma_shape_str(in, sh, sizeof sh), N, worst);
    snprintf(what, sizeof what, "%s dx", tok);
    if (!(worst <= REL_TOL)) {
        check_failures_++;
        fprintf(stderr, "\n%s: relative error %.3e > %.0e\n", what, worst, REL_TOL);
    }
    check_count_++;
    double w_layer = worst;
    for (int pi = 0; pi < l.n_params; pi++) {
        soma_param *p = &l.params[pi];
        for (size_t j = 0; j < p->n; j++) {
            num[j] = 2.0 * fd_one(&l, y, x, proj, N, &rng0, &p->value[j], eps);
        }
        double w = rel_err(p->grad, num, p->n);
        printf("  d%s %.2e", p->name, w);
        check_count_++;
        if (!(w <= REL_TOL)) {
            check_failures_++;
            fprintf(stderr, "\n%s d%s: relative error %.3e > %.0e\n", tok, p->name, w, REL_TOL);
        }
        w_layer = fmax(w_layer, w);
    }
    printf("  (worst %.2e)\n", w_layer);
    worst_all_ = fmax(worst_all_, w_layer);
    soma_free(x);
    soma_free(dx);
    soma_free(y);
    soma_free(proj);
    soma_free(num);
    tl_free(&l);
}

static void test_layers(void) {
    printf("layer gradients (worst relative error):\n");
    grad_check("fc7", soma_shape1(5), 3, IN_UNIFORM, 1e-2f, 0);
    grad_check("dense4", soma_shape3(2, 3, 4), 2, IN_UNIFORM, 1e-2f, 0);
    grad_check("relu", soma_shape3(3, 4, 5), 2, IN_AWAY0, 1e-2f, 0);
    grad_check("tanh", soma_shape1(17), 3, IN_UNIFORM, 1e-2f, 0);
    grad_check("sigmoid", soma_shape1(17), 3, IN_UNIFORM, 1e-2f, 0);
    grad_check("gelu", soma_shape3(2, 3, 3), 3, IN_UNIFORM, 1e-2f, 0);
    grad_check("conv3x3x4", soma_shape3(3, 7, 6), 2, IN_UNIFORM, 1e-2f, 0);
    grad_check("conv3x3x4p1", soma_shape3(2, 5, 7), 2, IN_UNIFORM, 1e-2f, 0);
    grad_check("conv3x3x5s2p1", soma_shape3(2, 7, 8), 3, IN_UNIFORM, 1e-2f, 0);
    grad_check("conv2x3x3s2", soma_shape3(3, 6, 9), 2, IN_UNIFORM, 1e-2f, 0);
    grad_check("conv5x5x6p2", soma_shape3(1, 9, 9), 2, IN_UNIFORM, 1e-2f, 0);
    grad_check("conv1x1x3", soma_shape3(4, 3, 2), 2, IN_UNIFORM, 1e-2f, 0);
    /* the row-vectorised direct path (stride 1, rows of 16+) with its dx */
    grad_check("conv3x3x2p1", soma_shape3(2, 5, 18), 2, IN_UNIFORM, 1e-2f, 0);
    grad_check("conv5x5x3", soma_shape3(1, 6, 21), 2, IN_UNIFORM, 1e-2f, 0);
    grad_check("conv3x3x5p1", soma_shape3(2, 4, 18), 2, IN_UNIFORM, 1e-2f, 0); /* 3 + 2 channels */
    grad_check("conv3x3x4", soma_shape3(1, 4, 19), 2, IN_UNIFORM, 1e-2f, 0);   /* 3 + 1 */
    /* the channel-vectorised path (output channels in multiples of 8, short rows) */
    grad_check("conv3x3x8s2p1", soma_shape3(2, 7, 8), 2, IN_UNIFORM, 1e-2f, 0);
    grad_check("conv3x3x16", soma_shape3(3, 6, 7), 2, IN_UNIFORM, 1e-2f, 0);
    grad_check("conv2x2x24", soma_shape3(2, 5, 5), 3, IN_UNIFORM, 1e-2f, 0);
    /* ... with its column-free dx at stride 1: 7 input channels (a pass of 6 and one), an
     * input row wider than 16 columns, padding */
    grad_check("conv3x2x8p1", soma_shape3(7, 4, 5), 2, IN_UNIFORM, 1e-2f, 0);
    grad_check("conv3x3x8", soma_shape3(1, 4, 17), 2, IN_UNIFORM, 1e-2f, 0);
    grad_check("maxpool2", soma_shape3(3, 6, 8), 2, IN_SPACED, 1e-2f, 0);
    grad_check("maxpool3s2", soma_shape3(2, 7, 9), 2, IN_SPACED, 1e-2f, 0);
    grad_check("maxpool3s2p1", soma_shape3(2, 6, 5), 2, IN_SPACED, 1e-2f, 0);
    grad_check("maxpool2s1", soma_shape3(1, 5, 4), 3, IN_SPACED, 1e-2f, 0);
    grad_check("avgpool2", soma_shape3(3, 6, 8), 2, IN_UNIFORM, 1e-2f, 0);
    grad_check("avgpool3s2p1", soma_shape3(2, 7, 6), 2, IN_UNIFORM, 1e-2f, 0);
    grad_check("dropout0.5", soma_shape3(4, 3, 3), 3, IN_UNIFORM, 1e-2f, 0);
    grad_check("dropout0", soma_shape1(10), 2, IN_UNIFORM, 1e-2f, 0);
    grad_check("flatten", soma_shape3(2, 3, 4), 2, IN_UNIFORM, 1e-2f, 0);
    grad_check("norm0.286/0.353", soma_shape3(2, 3, 4), 2, IN_UNIFORM, 1e-2f, 0);
    grad_check("norm-1.5", soma_shape1(10), 3, IN_UNIFORM, 1e-2f, 0);
    grad_check("layernorm", soma_shape3(3, 4, 5), 3, IN_UNIFORM, 3e-3f, 1);
    grad_check("layernorm", soma_shape1(16), 4, IN_UNIFORM, 3e-3f, 1);
    /* sequences: token-wise dense and layer norm, conv and pool at each time step */
    grad_check("fc7", soma_shape2(3, 5), 2, IN_UNIFORM, 1e-2f, 0);
    grad_check("fc4", soma_shape4(2, 2, 3, 3), 2, IN_UNIFORM, 1e-2f, 0);
    grad_check("layernorm", soma_shape2(4, 6), 3, IN_UNIFORM, 3e-3f, 1);
    grad_check("layernorm", soma_shape4(2, 2, 3, 2), 2, IN_UNIFORM, 3e-3f, 1);
    grad_check("conv3x3x4p1", soma_shape4(3, 2, 5, 6), 2, IN_UNIFORM, 1e-2f, 0);
    grad_check("conv3x3x8", soma_shape4(2, 3, 5, 5), 2, IN_UNIFORM, 1e-2f, 0);
    grad_check("maxpool2", soma_shape4(3, 2, 4, 6), 2, IN_SPACED, 1e-2f, 0);
    grad_check("avgpool2", soma_shape4(2, 2, 4, 4), 2, IN_UNIFORM, 1e-2f, 0);
    grad_check("gelu", soma_shape2(3, 4), 2, IN_UNIFORM, 1e-2f, 0);
    /* the time axis */
    grad_check("tmean", soma_shape2(4, 3), 3, IN_UNIFORM, 1e-2f, 0);
    grad_check("tsum", soma_shape4(3, 2, 2, 3), 2, IN_UNIFORM, 1e-2f, 0);
    grad_check("repeat5", soma_shape1(4), 3, IN_UNIFORM, 1e-2f, 0);
    grad_check("repeat3", soma_shape3(2, 3, 2), 2, IN_UNIFORM, 1e-2f, 0);
    printf("worst over all layers: %.2e\n", worst_all_);
}

// --- losses ----------------------------------------------------------------------------

static void test_losses(void) {
    enum { N = 5, K = 7 };
    soma_rng r;
    soma_rng_seed(&r, 9, 0);
    float z[N * K], d[N * K], p[N * K], t[N * K];
    double num[N * K];
    int lab[N] = {0, 6, 3, 3, 1};
    soma_rng_normal_fill(&r, z, N * K, 0.f, 2.f);
    soma_rng_normal_fill(&r, t, N * K, 0.f, 1.f);
    const float eps = 1e-2f;

    soma_softmax_xent(d, p, z, lab, N, K);
    for (int i = 0; i < N * K; i++) {
        float k = z[i];
        z[i] = k + eps;
        double lp = soma_softmax_xent(NULL, NULL, z, lab, N, K);
        z[i] = k - eps;
        double lm = soma_softmax_xent(NULL, NULL, z, lab, N, K);
        z[i] = k;
        num[i] = (lp - lm) / (2.0 * eps);
    }
    double w = rel_err(d, num, N * K);
    printf("softmax-xent dlogits: %.2e\n", w);
    CHECK(w <= REL_TOL);
    for (int n = 0; n < N; n++) {
        double s = 0;
        for (int k = 0; k < K; k++) s += p[n * K + k];
        CHECK(fabs(s - 1.0) < 1e-5);
    }

    soma_mse(d, z, t, N, K);
    for (int i = 0; i < N * K; i++) {
        float k = z[i];
        z[i] = k + eps;
        double lp = soma_mse(NULL, z, t, N, K);
        z[i] = k - eps;
        double lm = soma_mse(NULL, z, t, N, K);
        z[i] = k;
        num[i] = (lp - lm) / (2.0 * eps);
    }
    w = rel_err(d, num, N * K);
    printf("mse dy: %.2e\n", w);
    CHECK(w <= REL_TOL);
    CHECK(fabs(soma_mse(NULL, (float[]){1, 2}, (float[]){0, 0}, 1, 2) - 2.5) < 1e-6);

    /* Huge logits: no overflow, no NaN, the exact answer. */
    float big[6] = {1000.f, 999.f, -1000.f, 3e38f, -3e38f, 0.f};
    float db[6], pb[6];
    float l0 = soma_softmax_xent(db, pb, big, (int[]){0, 0}, 2, 3);
    CHECK(isfinite(l0));
    CHECK(fabs(l0 - 0.5 * log1p(exp(-1.0))) < 1e-5);
    for (int i = 0; i < 6; i++) CHECK(isfinite(db[i]) && isfinite(pb[i]));
    CHECK(fabs(pb[3] - 1.f) < 1e-6 && pb[4] == 0.f);
    float l1 = soma_softmax_xent(NULL, NULL, big + 3, (int[]){2}, 1, 3);
    CHECK(isfinite(l1) && l1 > 1e38f);
    /* Shift invariance. */
    float a[3] = {1.f, 2.f, 3.f}, b[3] = {4097.f, 4098.f, 4099.f};
    CHECK(fabs(soma_softmax_xent(NULL, NULL, a, (int[]){1}, 1, 3) -
               soma_softmax_xent(NULL, NULL, b, (int[]){1}, 1, 3)) < 1e-5);

    CHECK(soma_argmax((float[]){1, 5, 5, 2}, 4) == 1);
    CHECK(soma_count_correct((float[]){0, 1, 1, 0, 2, 3}, (int[]){1, 1, 1}, 3, 2) == 2);
}

// --- kernels against naive references --------------------------------------------------

static void conv_backward_naive(float *dx, float *dw, float *db, const float *dy,
                                const float *x, const float *w, const soma_conv_geom *g, int N) {
    size_t xs = (size_t)g->c_in * g->h_in * g->w_in;
    size_t nw = (size_t)g->c_out * g->c_in * g->kh * g->kw;
    double *ax = calloc((size_t)N * xs, sizeof *ax), *aw = calloc(nw, sizeof *aw);
    double *ab = calloc((size_t)g->c_out, sizeof *ab);
    for (int n = 0; n < N; n++)
        for (int co = 0; co < g->c_out; co++)
            for (int oh = 0; oh < g->h_out; oh++)
                for (int ow = 0; ow < g->w_out; ow++) {
                    double e = dy[(((size_t)n * g->c_out + co) * g->h_out + oh) * g->w_out + ow];
                    ab[co] += e;
                    for (int ci = 0; ci < g->c_in; ci++)
                        for (int ki = 0; ki < g->kh; ki++)
                            for (int kj = 0; kj < g->kw; kj++) {
                                int ih = oh * g->stride - g->pad + ki;
                                int iw = ow * g->stride - g->pad + kj;
                                if (ih < 0 || ih >= g->h_in || iw < 0 || iw >= g->w_in) continue;
                                size_t xi = (size_t)n * xs + ((size_t)ci * g->h_in + ih) * g->w_in + iw;
                                size_t wi = (((size_t)co * g->c_in + ci) * g->kh + ki) * g->kw + kj;
                                ax[xi] += e * w[wi];
                                aw[wi] += e * x[xi];
                            }
                }
    for (size_t i = 0; i < (size_t)N * xs; i++) dx[i] = (float)ax[i];
    for (size_t i = 0; i < nw; i++) dw[i] = (float)aw[i];
    for (int i = 0; i < g->c_out; i++) db[i] = (float)ab[i];
    free(ax);
    free(aw);
    free(ab);
}

static void conv_vs_ref(int N, int ci, int h, int w, int co, int kh, int kw, int s, int p) {
    soma_conv_geom g = {.c_in = ci, .h_in = h, .w_in = w, .c_out = co, .kh = kh, .kw = kw,
                        .stride = s, .pad = p};
    CHECK_OK(soma_conv_geom_init(&g));
    size_t nx = (size_t)N * ci * h * w, ny = (size_t)N * co * g.h_out * g.w_out;
    size_t nw = (size_t)co * ci * kh * kw;
    soma_rng r;
    soma_rng_seed(&r, 3, 1);
    float *x = soma_alloc(nx, 4), *wt = soma_alloc(nw, 4), *b = soma_alloc(co, 4);
    float *y = soma_alloc(ny, 4), *yr = soma_alloc(ny, 4), *dy = soma_alloc(ny, 4);
    float *dx = soma_alloc(nx, 4), *dxr = soma_alloc(nx, 4);
    float *dw = soma_calloc(nw, 4), *dwr = soma_alloc(nw, 4), *db = soma_calloc(co, 4),
          *dbr = soma_alloc(co, 4);
    size_t ncol = soma_conv2d_scratch(&g, 2);
    float *col = soma_alloc(ncol, 4);
    for (size_t i = 0; i < ncol; i++) col[i] = NAN; /* a kernel reading scratch it never wrote shows */
    soma_rng_uniform_fill(&r, x, nx, -1, 1);
    soma_rng_uniform_fill(&r, wt, nw, -1, 1);
    soma_rng_uniform_fill(&r, b, co, -1, 1);
    soma_rng_uniform_fill(&r, dy, ny, -1, 1);
    soma_conv2d_forward(y, x, wt, b, &g, N, col, 2);
    soma_conv2d_forward_ref(yr, x, wt, b, &g, N);
    char lab[96];
    snprintf(lab, sizeof lab, "conv N%d %dx%dx%d k%dx%d s%d p%d -> %d: y", N, ci, h, w, kh, kw,
             s, p, co);
    CHECK_CLOSE(lab, y, yr, ny, 1e-5f, 1e-4f);
    soma_conv2d_backward(dx, dw, db, dy, x, wt, &g, N, col, 2);
    conv_backward_naive(dxr, dwr, dbr, dy, x, wt, &g, N);
    CHECK_CLOSE("conv dx", dx, dxr, nx, 1e-4f, 1e-4f);
    CHECK_CLOSE("conv dw", dw, dwr, nw, 1e-3f, 1e-4f);
    CHECK_CLOSE("conv db", db, dbr, co, 1e-3f, 1e-4f);
    /* dx NULL skips; grads keep accumulating. */
    soma_conv2d_backward(NULL, dw, NULL, dy, x, wt, &g, N, col, 2);
    for (size_t i = 0; i < nw; i++) dwr[i] *= 2.f;
    CHECK_CLOSE("conv dw accumulated", dw, dwr, nw, 2e-3f, 1e-4f);
    float *bufs[] = {x, wt, b, y, yr, dy, dx, dxr, dw, dwr, db, dbr, col};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) soma_free(bufs[i]);
}

static void test_kernels(void) {
    conv_vs_ref(64, 1, 28, 28, 6, 5, 5, 1, 2); /* LeNet conv1, several chunks */
    conv_vs_ref(64, 6, 14, 14, 16, 5, 5, 1, 0); /* LeNet conv2 */
    conv_vs_ref(3, 3, 9, 7, 4, 3, 3, 2, 1);
    conv_vs_ref(2, 2, 5, 8, 3, 3, 2, 3, 2);
    conv_vs_ref(1, 2, 4, 4, 2, 4, 4, 1, 0);
    /* the row-vectorised direct kernels (rows of 16+): output channels in threes and the
     * remainders 1 and 2; kernel rows of 7 taps and of 9 (a chunk of 8 and one) in the dW */
    conv_vs_ref(2, 2, 6, 20, 5, 3, 3, 1, 1);
    conv_vs_ref(2, 3, 5, 17, 4, 2, 2, 1, 0);
    conv_vs_ref(1, 1, 3, 40, 1, 1, 3, 1, 0);
    conv_vs_ref(2, 2, 4, 30, 4, 2, 9, 1, 0);
    conv_vs_ref(1, 1, 7, 24, 3, 3, 7, 1, 3);

    /* The column-free dx kernel (stride 1, channel-vectorised layers): input channels in
     * passes of six and every remainder, inputs wider than one 16-column run, padding wider
     * than the kernel (input rows that see no dy row), kh != kw. The output rows (4..15)
     * also give the channel-vectorised forward every length of its last group of positions. */
    static const int dxg[][9] = {
        /* N, ci, h, w, co, kh, kw, s, p */
        {64, 6, 14, 14, 16, 5, 5, 1, 0}, {3, 1, 9, 17, 8, 3, 3, 1, 0}, {2, 7, 6, 5, 16, 3, 2, 1, 1},
        {2, 4, 5, 5, 8, 2, 2, 1, 3},     {2, 11, 7, 6, 24, 3, 3, 1, 2}, {1, 3, 8, 8, 8, 3, 3, 1, 1},
        {1, 2, 6, 6, 8, 3, 3, 1, 0},     {2, 5, 4, 19, 8, 2, 7, 1, 1},  {1, 12, 5, 5, 8, 1, 1, 1, 0},
        {1, 3, 6, 9, 8, 3, 3, 1, 0},
    };
    for (size_t i = 0; i < sizeof dxg / sizeof *dxg; i++) {
        const int *a = dxg[i];
        soma_conv_geom g = {.c_in = a[1], .h_in = a[2], .w_in = a[3], .c_out = a[4], .kh = a[5],
                            .kw = a[6], .stride = a[7], .pad = a[8]};
        CHECK_OK(soma_conv_geom_init(&g));
        CHECK(soma__conv_dx_ok(&g));
        conv_vs_ref(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8]);
    }

    /* Dense against the reference GEMM. */
    enum { N = 9, I = 13, O = 6 };
    soma_rng r;
    soma_rng_seed(&r, 4, 0);
    float x[N * I], w[O * I], b[O], y[N * O], yr[N * O], dy[N * O], dx[N * I], dxr[N * I];
    float dw[O * I] = {0}, dwr[O * I] = {0}, db[O] = {0};
    soma_rng_uniform_fill(&r, x, N * I, -1, 1);
    soma_rng_uniform_fill(&r, w, O * I, -1, 1);
    soma_rng_uniform_fill(&r, b, O, -1, 1);
    soma_rng_uniform_fill(&r, dy, N * O, -1, 1);
    soma_dense_forward(y, x, w, b, N, I, O);
    soma_gemm_ref(0, 1, N, O, I, 1.f, x, I, w, I, 0.f, yr, O);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++) yr[n * O + o] += b[o];
    CHECK_CLOSE("dense y", y, yr, N * O, 1e-5f, 1e-5f);
    soma_dense_backward(dx, dw, db, dy, x, w, N, I, O);
    soma_gemm_ref(0, 0, N, I, O, 1.f, dy, O, w, I, 0.f, dxr, I);
    soma_gemm_ref(1, 0, O, I, N, 1.f, dy, O, x, I, 0.f, dwr, I);
    CHECK_CLOSE("dense dx", dx, dxr, N * I, 1e-5f, 1e-5f);
    CHECK_CLOSE("dense dw", dw, dwr, O * I, 1e-5f, 1e-5f);

    /* Max-pool fast path (2x2 s2) against a naive loop, ties resolved to the first. */
    enum { C = 3, H = 8, W = 6 };
    float px[2 * C * H * W], py[2 * C * 4 * 3], pyr[2 * C * 4 * 3];
    int32_t am[2 * C * 4 * 3];
    soma_rng_uniform_fill(&r, px, sizeof px / 4, -1, 1);
    px[1] = px[0]; /* a tie */
    soma_conv_geom g = {.c_in = C, .h_in = H, .w_in = W, .c_out = C, .kh = 2, .kw = 2,
                        .stride = 2};
    CHECK_OK(soma_conv_geom_init(&g));
    soma_maxpool_forward(py, am, px, &g, 2);
    int ok_am = 1;
    for (int pl = 0; pl < 2 * C; pl++)
        for (int oh = 0; oh < 4; oh++)
            for (int ow = 0; ow < 3; ow++) {
                const float *xp = px + pl * H * W;
                int best = 2 * oh * W + 2 * ow;
                for (int a = 0; a < 2; a++)
                    for (int c = 0; c < 2; c++) {
                        int idx = (2 * oh + a) * W + 2 * ow + c;
                        if (xp[idx] > xp[best]) best = idx;
                    }
                pyr[(pl * 4 + oh) * 3 + ow] = xp[best];
                ok_am &= am[(pl * 4 + oh) * 3 + ow] == best;
            }
    CHECK_CLOSE("maxpool 2x2 fast path", py, pyr, sizeof py / 4, 0.f, 0.f);
    CHECK(ok_am);
}

int main(void) {
    soma_set_threads(2);
    test_losses();
    test_kernels();
    test_layers();
    return check_report("test_nn_grad");
}
