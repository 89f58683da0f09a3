// The gated recurrent unit: raw kernels over a batch of sequences and the "gruH", "gruHr" and
// "bigruH" layer kinds, with torch.nn.GRU's equations and parameter layout (gates r, z, n):
//
//   r_t = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
//   z_t = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
//   n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))
//   h_t = (1 - z_t) * n_t + z_t * h_{t-1}
//
// The input projections of every time step and sample are one GEMM ([N*T, D] x [D, 3H]) before
// the loop; each step is one [N, H] x [H, 3H] GEMM plus elementwise gates. Backward keeps each
// step's gate gradients and does the weight gradients as two GEMMs over all N*T rows after the
// loop; only the carry dL/dh_{t-1} is a GEMM per step.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/internal.h"

// --- kernels ---------------------------------------------------------------------------

/* Work layout (floats), T steps of N samples:
 *   gates [N*T, 3H]  rows n*T + t: input projections, then r, z, n after the forward step,
 *                    then the pre-activation gradients after backward
 *   dgh   [T, N, 3H] gradients of the recurrent projections (backward)
 *   ghn   [T, N, H]  W_hn h_{t-1} + b_hn of each step (processing order)
 *   hprev [T, N, H]  h_{t-1} of each step (processing order)
 *   gh    [N, 3H]    one step's recurrent projection
 *   dh, carry [N, H] backward's running gradients */
size_t soma_gru_work(int N, int T, int H) {
    size_t nt = (size_t)N * (size_t)T, h = (size_t)H;
    return nt * (3 * h + 3 * h + h + h) + (size_t)N * (3 * h + 2 * h);
}

typedef struct gru_work_ {
    float *gates, *dgh, *ghn, *hprev, *gh, *dh, *carry;
} gru_work_;

static gru_work_ gru_carve_(float *w, int N, int T, int H) {
    size_t nt = (size_t)N * (size_t)T, h = (size_t)H;
    gru_work_ g;
    g.gates = w;
    g.dgh = g.gates + nt * 3 * h;
    g.ghn = g.dgh + nt * 3 * h;
    g.hprev = g.ghn + nt * h;
    g.gh = g.hprev + nt * h;
    g.dh = g.gh + (size_t)N * 3 * h;
    g.carry = g.dh + (size_t)N * h;
    return g;
}

static inline float sigm_(float a) { return 1.f / (1.f + expf(-a)); }

void soma_gru_forward(float *y, int ldy, float *work, const float *x, const float *h0,
                      const float *w_ih, const float *w_hh, const float *b_ih, const float *b_hh,
                      int N, int T, int D, int H, int reverse) {
    if (N <= 0 || T <= 0 || H <= 0) return;
    gru_work_ g = gru_carve_(work, N, T, H);
    const int G = 3 * H;
    const size_t NT = (size_t)N * (size_t)T;
    /* every step's input projection at once */
    for (size_t r = 0; r < NT; r++) memcpy(g.gates + r * G, b_ih, (size_t)G * sizeof(float));
    if (D > 0) soma_gemm(0, 1, (int)NT, G, D, 1.f, x, D, w_ih, D, 1.f, g.gates, G);
    for (int s = 0; s < T; s++) {
        const int t = reverse ? T - 1 - s : s, tp = reverse ? t + 1 : t - 1;
        float *hp = g.hprev + (size_t)s * N * H, *gn = g.ghn + (size_t)s * N * H;
        for (int n = 0; n < N; n++) {
            float *dst = hp + (size_t)n * H;
            if (s == 0) {
                if (h0) memcpy(dst, h0 + (size_t)n * H, (size_t)H * sizeof *dst);
                else memset(dst, 0, (size_t)H * sizeof *dst);
            } else {
                memcpy(dst, y + ((size_t)n * T + tp) * ldy, (size_t)H * sizeof *dst);
            }
            memcpy(g.gh + (size_t)n * G, b_hh, (size_t)G * sizeof(float));
        }
        soma_gemm(0, 1, N, G, H, 1.f, hp, H, w_hh, H, 1.f, g.gh, G);
#pragma omp parallel for schedule(static) if (N * H > 4096)
        for (int n = 0; n < N; n++) {
            float *a = g.gates + ((size_t)n * T + t) * G;
            const float *b = g.gh + (size_t)n * G, *h1 = hp + (size_t)n * H;
            float *yo = y + ((size_t)n * T + t) * ldy, *gnn = gn + (size_t)n * H;
            for (int j = 0; j < H; j++) {
                float r = sigm_(a[j] + b[j]);
                float z = sigm_(a[H + j] + b[H + j]);
                float c = tanhf(a[2 * H + j] + r * b[2 * H + j]);
                a[j] = r, a[H + j] = z, a[2 * H + j] = c;
                gnn[j] = b[2 * H + j];
                yo[j] = (1.f - z) * c + z * h1[j];
            }
        }
    }
}

void soma_gru_backward(float *dx, int dx_add, float *dh0, float *dw_ih, float *dw_hh, float *db_ih,
                       float *db_hh, const float *dy, int ldy, float *work, const float *x,
                       const float *w_ih, const float *w_hh, int N, int T, int D, int H,
                       int reverse) {
    if (N <= 0 || T <= 0 || H <= 0) return;
    gru_work_ g = gru_carve_(work, N, T, H);
    const int G = 3 * H;
    const size_t NT = (size_t)N * (size_t)T;
    memset(g.carry, 0, (size_t)N * H * sizeof(float));
    for (int s = T - 1; s >= 0; s--) {
        const int t = reverse ? T - 1 - s : s;
        const float *hp = g.hprev + (size_t)s * N * H, *gn = g.ghn + (size_t)s * N * H;
        float *dgh = g.dgh + (size_t)s * N * G;
#pragma omp parallel for schedule(static) if (N * H > 4096)
        for (int n = 0; n < N; n++) {
            float *a = g.gates + ((size_t)n * T + t) * G, *dg = dgh + (size_t)n * G;
            const float *dyi = dy ? dy + ((size_t)n * T + t) * ldy : NULL;
            const float *h1 = hp + (size_t)n * H, *gnn = gn + (size_t)n * H;
            float *cr = g.carry + (size_t)n * H;
            for (int j = 0; j < H; j++) {
                float dh = cr[j] + (dyi ? dyi[j] : 0.f);
                float r = a[j], z = a[H + j], c = a[2 * H + j];
                float dc = dh * (1.f - z) * (1.f - c * c);
                float dz = dh * (h1[j] - c) * z * (1.f - z);
                float dr = dc * gnn[j] * r * (1.f - r);
                a[j] = dr, a[H + j] = dz, a[2 * H + j] = dc;
                dg[j] = dr, dg[H + j] = dz, dg[2 * H + j] = dc * r;
                cr[j] = dh * z;
            }
        }
        /* dL/dh_{t-1} = dh * z + dgh . W_hh */
        soma_gemm(0, 0, N, H, G, 1.f, dgh, G, w_hh, H, 1.f, g.carry, H);
    }
    if (dh0) memcpy(dh0, g.carry, (size_t)N * H * sizeof *dh0);
    if (dw_hh) soma_gemm(1, 0, G, H, (int)NT, 1.f, g.dgh, G, g.hprev, H, 1.f, dw_hh, H);
    if (db_hh)
        for (size_t r = 0; r < NT; r++) {
            const float *d = g.dgh + r * G;
            for (int j = 0; j < G; j++) db_hh[j] += d[j];
        }
    if (D > 0 && dw_ih) soma_gemm(1, 0, G, D, (int)NT, 1.f, g.gates, G, x, D, 1.f, dw_ih, D);
    if (db_ih)
        for (size_t r = 0; r < NT; r++) {
            const float *d = g.gates + r * G;
            for (int j = 0; j < G; j++) db_ih[j] += d[j];
        }
    if (D > 0 && dx) soma_gemm(0, 0, (int)NT, D, G, 1.f, g.gates, G, w_ih, D, dx_add ? 1.f : 0.f, dx, D);
}

// --- layers: gruH, gruHr, bigruH -------------------------------------------------------

typedef struct gru_impl {
    int H, dirs, reverse; /* dirs 2: bidirectional (forward, then reverse) */
    int T, D, max_n;
    float *work; /* [dirs] work blocks of soma_gru_work(max_n, T, H) floats */
} gru_impl;

static soma_status gru_setup(soma_layer *l) {
    gru_impl *g = l->impl;
    if (l->in.rank != 2)
        return soma_error(SOMA_ERR_SHAPE, "layer %s: wants a sequence [T,D], got %s", l->spec,
                          SOMA__SHAPE_STR(l->in));
    int T = l->in.d[0], D = l->in.d[1], H = g->H;
    g->T = T, g->D = D;
    l->n_params = 0;
    l->out = soma_shape2(T, g->dirs * H);
    for (int d = 0; d < g->dirs; d++) {
        const char *suf = d ? "_reverse" : "";
        char nm[SOMA_PARAM_NAME];
        snprintf(nm, sizeof nm, "weight_ih_l0%s", suf);
        SOMA_TRY(soma_layer_add_param(l, nm, 2, (int[]){3 * H, D}, 1, D, 3 * H));
        snprintf(nm, sizeof nm, "weight_hh_l0%s", suf);
        SOMA_TRY(soma_layer_add_param(l, nm, 2, (int[]){3 * H, H}, 1, H, 3 * H));
        snprintf(nm, sizeof nm, "bias_ih_l0%s", suf);
        SOMA_TRY(soma_layer_add_param(l, nm, 1, (int[]){3 * H}, 0, D, 3 * H));
        snprintf(nm, sizeof nm, "bias_hh_l0%s", suf);
        SOMA_TRY(soma_layer_add_param(l, nm, 1, (int[]){3 * H}, 0, H, 3 * H));
    }
    return SOMA_OK;
}

/* torch.nn.GRU's default: every parameter U(-1/sqrt(H), 1/sqrt(H)). */
static void gru_init(soma_layer *l, soma_rng *rng) {
    const gru_impl *g = l->impl;
    float k = 1.f / sqrtf((float)g->H);
    for (int i = 0; i < l->n_params; i++) soma_rng_uniform_fill(rng, l->params[i].value, l->params[i].n, -k, k);
}

static soma_status gru_reserve(soma_layer *l, int max_n) {
    gru_impl *g = l->impl;
    if (max_n > g->max_n || !g->work) {
        soma_free(g->work);
        g->work = soma_alloc((size_t)g->dirs * soma_gru_work(max_n, g->T, g->H), sizeof(float));
        g->max_n = 0;
        if (!g->work)
            return soma_error(SOMA_ERR_NOMEM, "layer %s: no memory for %d sequences", l->spec, max_n);
        g->max_n = max_n;
    }
    l->max_n = max_n;
    return SOMA_OK;
}

static void gru_forward(soma_layer *l, float *y, const float *x, int n, soma_mode mode) {
    (void)mode;
    const gru_impl *g = l->impl;
    const int H = g->H, ldy = g->dirs * H;
    for (int d = 0; d < g->dirs; d++) {
        const soma_param *p = l->params + 4 * d;
        soma_gru_forward(y + d * H, ldy, g->work + (size_t)d * soma_gru_work(g->max_n, g->T, H), x, NULL,
                         p[0].value, p[1].value, p[2].value, p[3].value, n, g->T, g->D, H,
                         d == 1 || g->reverse);
    }
}

static void gru_backward(soma_layer *l, float *dx, const float *dy, const float *x, const float *y,
                         int n) {
    (void)y;
    const gru_impl *g = l->impl;
    if (!dx && l->no_param_grads) return;
    const int H = g->H, ldy = g->dirs * H;
    for (int d = 0; d < g->dirs; d++) {
        int k = 4 * d;
        soma_gru_backward(dx, d > 0, NULL, soma_layer_grad(l, k), soma_layer_grad(l, k + 1),
                          soma_layer_grad(l, k + 2), soma_layer_grad(l, k + 3), dy + d * H, ldy,
                          g->work + (size_t)d * soma_gru_work(g->max_n, g->T, H), x,
                          soma_layer_bwd_value(l, k), soma_layer_bwd_value(l, k + 1), n, g->T, g->D, H,
                          d == 1 || g->reverse);
    }
}

static void gru_destroy(soma_layer *l) {
    gru_impl *g = l->impl;
    if (g) soma_free(g->work);
    soma__impl_free(l);
}

static soma_status gru_clone(const soma_layer *src, soma_layer *dst) {
    SOMA_TRY(soma__impl_copy(src, dst, sizeof(gru_impl)));
    gru_impl *g = dst->impl;
    g->work = NULL; /* buffers of its own come with reserve */
    g->max_n = 0;
    return SOMA_OK;
}

static const soma_layer_ops gru_ops = {
    .kind = "gru",
    .setup = gru_setup,
    .init = gru_init,
    .reserve = gru_reserve,
    .forward = gru_forward,
    .backward = gru_backward,
    .destroy = gru_destroy,
    .clone = gru_clone,
};

/* gruH, gruHr, bigruH. */
int soma__parse_gru(const char *tok, soma_layer *l) {
    const char *p;
    int dirs = 1;
    if (strncmp(tok, "bigru", 5) == 0) p = tok + 5, dirs = 2;
    else if (strncmp(tok, "gru", 3) == 0) p = tok + 3;
    else return 0;
    int H = soma__parse_uint(&p), reverse = 0;
    if (H >= 1 && dirs == 1 && *p == 'r') p++, reverse = 1;
    if (H < 1 || H > (1 << 20) || *p) {
        soma_error(SOMA_ERR_PARSE, "layer '%s': want gruH, gruHr (reverse) or bigruH with H >= 1 units", tok);
        return -1;
    }
    gru_impl *g = soma_calloc(1, sizeof *g);
    if (!g) {
        soma_error(SOMA_ERR_NOMEM, "layer '%s': no memory", tok);
        return -1;
    }
    g->H = H, g->dirs = dirs, g->reverse = reverse;
    l->ops = &gru_ops;
    l->impl = g;
    return 1;
}
