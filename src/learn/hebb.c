// Hebbian learning: Oja's rule, Sanger's generalized Hebbian algorithm and winner-take-all
// competitive learning, mini-batched through BLAS (soma_hebb_epoch), and the `hebb` rule that
// trains the hidden dense layers of a chain with one of them under a delta-rule read-out.
//
// All three rules share one form. For a batch X [B, d] and units W [k, d], with M [B, k] the
// units' outputs Y = X W' (Oja, GHA) or the winners as one-hot rows (competitive):
//     C = M' X - T(M' M) W,  dW = lr C / B
// where T keeps the lower triangle with the diagonal (GHA: unit i unlearns what units j <= i
// explain) or the diagonal alone (Oja; competitive, where M' M is the count of wins a unit).
#include <math.h>
#include <string.h>

#include "learn/internal.h"
#include "soma/learn.h"

/* C [k, d] = M' X - T(M' M) W for X [B, d]; Y [B, k] and L [k, k] are scratch.
 *
 * The units are cut into blocks of HEBB_BLOCK, each block's products one single-threaded GEMM
 * run inside one parallel region: every unit's row depends only on its block's products, and
 * the blocks are fixed by k, so the bits are the same for any thread count (OpenBLAS's
 * Zen/Haswell SGEMM, what soma selects on Zen 4, gives other bits threaded two ways than one). */
#define HEBB_BLOCK 16

static void hebb_delta_(soma_hebb_kind kind, const float *W, int k, int d, const float *X, int B, float *Y,
                        float *L, float *C) {
    const int nb = (k + HEBB_BLOCK - 1) / HEBB_BLOCK;
    /* Products the BLAS never threads (OpenBLAS 0.3: M N K <= 4 x 65536; the online rules'
     * B = 1) need no region, whose barriers cost more than the product on a loaded machine.
     * The largest product a block: B d m, and for GHA m d k. */
    const double inner = kind == SOMA_HEBB_GHA && k > B ? k : B;
    const int big = (double)d * (k < HEBB_BLOCK ? k : HEBB_BLOCK) * inner > 262144.0;
    const int serial = big ? soma__learn_blas_serial_begin() : 0;
#ifdef _OPENMP
#pragma omp parallel if (big)
#endif
    {
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (int b = 0; b < nb; b++) { /* Y[:, block] = X W[block]' */
            const int i0 = b * HEBB_BLOCK, m = k - i0 < HEBB_BLOCK ? k - i0 : HEBB_BLOCK;
            soma_gemm(0, 1, B, m, d, 1.f, X, d, W + (size_t)i0 * d, d, 0.f, Y + i0, k);
        }
        if (kind == SOMA_HEBB_COMPETITIVE) {
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
            for (int r = 0; r < B; r++) { /* the winners, one-hot */
                float *y = Y + (size_t)r * k;
                int win = 0;
                for (int i = 1; i < k; i++)
                    if (y[i] > y[win]) win = i;
                memset(y, 0, (size_t)k * sizeof *y);
                y[win] = 1.f;
            }
        }
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (int b = 0; b < nb; b++) {
            const int i0 = b * HEBB_BLOCK, m = k - i0 < HEBB_BLOCK ? k - i0 : HEBB_BLOCK, i1 = i0 + m;
            float *Cb = C + (size_t)i0 * d;
            soma_gemm(1, 0, m, d, B, 1.f, Y + i0, k, X, d, 0.f, Cb, d); /* C[block] = M[:, block]' X */
            if (kind == SOMA_HEBB_GHA) {
                /* L[block, 0:i1] = M[:, block]' M[:, 0:i1], lower triangle kept;
                 * C[block] -= L[block, 0:i1] W[0:i1] */
                float *Lb = L + (size_t)i0 * k;
                soma_gemm(1, 0, m, i1, B, 1.f, Y + i0, k, Y, k, 0.f, Lb, k);
                for (int i = i0; i < i1; i++)
                    for (int j = i + 1; j < i1; j++) L[(size_t)i * k + j] = 0.f;
                soma_gemm(0, 0, m, d, i1, -1.f, Lb, k, W, d, 1.f, Cb, d);
            } else {
                for (int i = i0; i < i1; i++) { /* the diagonal of M' M */
                    double sq = 0.0;
                    for (int r = 0; r < B; r++) {
                        const double y = Y[(size_t)r * k + i];
                        sq += y * y;
                    }
                    const float fs = (float)sq;
                    float *c = C + (size_t)i * d;
                    const float *w = W + (size_t)i * d;
                    for (int j = 0; j < d; j++) c[j] -= fs * w[j];
                }
            }
        }
    }
    if (big) soma__learn_blas_serial_end(serial);
}

static soma_status hebb_kind_check_(const char *who, soma_hebb_kind kind) {
    if ((int)kind < 0 || kind > SOMA_HEBB_COMPETITIVE)
        return soma_error(SOMA_ERR_ARG, "%s: unknown Hebbian rule %d (oja 0, gha 1, competitive 2)", who, (int)kind);
    return SOMA_OK;
}

soma_status soma_hebb_epoch(soma_hebb_kind kind, float *W, int k, int d, const float *X, int n, int batch,
                            float lr) {
    SOMA_TRY(hebb_kind_check_("hebb", kind));
    if (!W || !X) return soma_error(SOMA_ERR_ARG, "hebb: NULL weights or data");
    if (k < 1 || d < 1 || n < 1 || batch < 1)
        return soma_error(SOMA_ERR_ARG, "hebb: want k, d, n, batch >= 1 (got k %d, d %d, n %d, batch %d)", k, d, n,
                          batch);
    if (!(lr > 0.f) || !isfinite(lr)) return soma_error(SOMA_ERR_ARG, "hebb: learning rate %g must be > 0", (double)lr);
    if (batch > n) batch = n;
    float *Y = soma_alloc((size_t)batch * k, sizeof(float));
    float *L = soma_alloc((size_t)k * k, sizeof(float));
    float *C = soma_alloc((size_t)k * d, sizeof(float));
    if (!Y || !L || !C) {
        soma_free(Y);
        soma_free(L);
        soma_free(C);
        return SOMA_ERR_NOMEM;
    }
    for (int r = 0; r < n; r += batch) {
        const int B = n - r < batch ? n - r : batch;
        hebb_delta_(kind, W, k, d, X + (size_t)r * d, B, Y, L, C);
        const float a = lr / (float)B;
        const size_t kd = (size_t)k * d;
        for (size_t j = 0; j < kd; j++) W[j] += a * C[j];
    }
    soma_free(Y);
    soma_free(L);
    soma_free(C);
    return SOMA_OK;
}

// --- the hebb rule ---------------------------------------------------------------------
//
// Hidden dense layers (every dense layer below the last) learn by the chosen Hebbian rule on
// their own input, y = W x without the bias (left unchanged, its grad zero); the read-out (the
// last dense layer) learns by the delta rule: the loss's gradient for its own parameters
// only, run back through the parameter-free layers above it and no further.
//
// Oja and GHA are normalised by the input's energy, as normalised LMS is: their grad holds
// -C / (n s), s the batch's mean squared input norm ||x||^2, so plain SGD (no momentum, no
// weight decay) at learning rate lr applies soma_hebb_epoch's step on the batch at lr / s.
// Unnormalised, the step lr C / n drives a unit's norm a by a += lr lam a (1 - a^2) along the
// input correlation's top eigenvalue lam, a map that is stable only for lr lam < 1 and that
// explodes from Kaiming's start (a ~ 0.6) once lr lam is a few units; on Fashion-MNIST pixels
// lam = 110 (mean ||x||^2 = 162), so SGD with momentum 0.9 (10 lr effective) diverged to NaN
// in the first epoch at --lr 0.01, while the read-out wants rates of that order. Since
// lam <= E||x||^2, the normalised step is stable for lr < 1 under plain SGD (lr < ~0.1 under
// momentum 0.9) whatever the input's scale. Competitive learning keeps -C / n: its decay term
// is the winner's count, not the input's energy, so its step is stable for lr < 1 already.

typedef struct hebb_rule {
    soma_hebb_kind kind;
    int readout;      /* top-level index of the last dense layer */
    int n_layers;
    float *ws;        /* scratch: Y [n, k], L [k, k], C [k, d], two dy buffers [n, widest] */
    size_t ws_cap;
    int ws_n;         /* the batch the scratch is laid out for */
    size_t kmax, dmax, wide;
} hebb_rule;

static soma_status hebb_reserve_(hebb_rule *h, int n) {
    if (n <= h->ws_n) return SOMA_OK;
    const size_t need = (size_t)n * h->kmax + h->kmax * h->kmax + h->kmax * h->dmax + 2 * (size_t)n * h->wide;
    soma_free(h->ws);
    h->ws = soma_alloc(need, sizeof(float));
    h->ws_cap = h->ws ? need : 0;
    h->ws_n = h->ws ? n : 0;
    return h->ws ? SOMA_OK : SOMA_ERR_NOMEM;
}

static soma_status hebb_step_(soma_rule *r, soma_net *net, const float *x, const soma_target *t, int n, float *loss,
                              int *correct) {
    hebb_rule *h = r->impl;
    if (n < 1) return soma_error(SOMA_ERR_ARG, "hebb: empty batch");
    if (soma_net_n_layers(net) != h->n_layers)
        return soma_error(SOMA_ERR_ARG, "hebb: the net has %d layers, the rule was made for %d",
                          soma_net_n_layers(net), h->n_layers);
    SOMA_TRY(hebb_reserve_(h, n));
    const int out = (int)soma_shape_size(soma_net_out_shape(net));
    soma_net_zero_grad(net);
    const float *y;
    SOMA_TRY(soma_net_forward(net, x, n, SOMA_MODE_TRAIN, &y));
    SOMA_TRY(soma_rule_loss(r, y, out, t, n, loss, correct));
    float *Y = h->ws, *L = Y + (size_t)n * h->kmax, *C = L + h->kmax * h->kmax;
    float *buf[2] = {C + h->kmax * h->dmax, C + h->kmax * h->dmax + (size_t)n * h->wide};
    /* the delta rule for the read-out: back from the loss through the layers above it */
    const float *dy = r->dy;
    for (int i = h->n_layers - 1, b = 0; i >= h->readout; i--, b ^= 1) {
        soma_layer *l = soma_net_layer(net, i);
        float *dx = i > h->readout ? buf[b] : NULL;
        l->ops->backward(l, dx, dy, soma_net_activation(net, i), soma_net_activation(net, i + 1), n);
        dy = dx;
    }
    /* Hebbian steps for the hidden dense layers, on their inputs */
    for (int i = 0; i < h->readout; i++) {
        soma_layer *l = soma_net_layer(net, i);
        if (l->n_params == 0) continue;
        soma_param *w = &l->params[0];
        if (!w->trainable) continue;
        const int k = w->dims[0], d = w->dims[1];
        const float *xin = soma_net_activation(net, i);
        hebb_delta_(h->kind, w->value, k, d, xin, n, Y, L, C);
        double s = 1.0; /* the input's energy: the batch's mean ||x||^2 (Oja, GHA) */
        if (h->kind != SOMA_HEBB_COMPETITIVE) {
            double sq = 0.0;
            const size_t nd = (size_t)n * d;
            for (size_t j = 0; j < nd; j++) sq += (double)xin[j] * xin[j];
            s = sq / n;
        }
        /* an all-zero batch has C = 0: no step */
        const float a = s > 0.0 ? (float)(-1.0 / ((double)n * s)) : 0.f;
        for (size_t j = 0; j < w->n; j++) w->grad[j] = a * C[j];
    }
    return SOMA_OK;
}

static void hebb_destroy_(soma_rule *r) {
    hebb_rule *h = r->impl;
    if (h) soma_free(h->ws);
    soma_free(h);
    r->impl = NULL;
}

static soma_status hebb_clone_(const soma_rule *r, soma_rule **out);

static const soma_rule_ops hebb_ops_ = {
    .name = "hebb", .step = hebb_step_, .destroy = hebb_destroy_, .clone = hebb_clone_,
};

static soma_status hebb_wrap_(hebb_rule *h, soma_loss_kind loss, soma_rule **out) {
    soma_rule *r = soma_calloc(1, sizeof *r);
    if (!r) {
        soma_free(h);
        return SOMA_ERR_NOMEM;
    }
    r->ops = &hebb_ops_;
    r->loss = loss;
    r->impl = h;
    *out = r;
    return SOMA_OK;
}

static soma_status hebb_clone_(const soma_rule *r, soma_rule **out) {
    *out = NULL;
    const hebb_rule *src = r->impl;
    hebb_rule *h = soma_calloc(1, sizeof *h);
    if (!h) return SOMA_ERR_NOMEM;
    *h = *src;
    h->ws = NULL;
    h->ws_cap = 0;
    h->ws_n = 0;
    return hebb_wrap_(h, r->loss, out);
}

soma_status soma_rule_hebb_new(soma_rule **out, soma_net *net, const soma_rule_opts *o) {
    *out = NULL;
    soma_rule_opts def = soma_rule_opts_default();
    if (!o) o = &def;
    if (!net) return soma_error(SOMA_ERR_ARG, "hebb: no network");
    SOMA_TRY(hebb_kind_check_("hebb", o->hebb));
    if ((int)o->loss < 0 || o->loss >= SOMA_LOSS_COUNT)
        return soma_error(SOMA_ERR_ARG, "hebb: unknown loss %d", (int)o->loss);
    const int nl = soma_net_n_layers(net);
    int readout = -1;
    size_t kmax = 1, dmax = 1, wide = 1;
    for (int i = 0; i < nl; i++) {
        soma_layer *l = soma_net_layer(net, i);
        const size_t in = soma_shape_size(l->in), o_n = soma_shape_size(l->out);
        if (o_n > wide) wide = o_n;
        if (in > wide) wide = in;
        const int kids = l->ops->n_children ? l->ops->n_children(l) : 0;
        if (strcmp(l->ops->kind, "dense") == 0) {
            const soma_param *w = &l->params[0];
            if ((size_t)w->dims[1] != in)
                return soma_error(SOMA_ERR_ARG,
                                  "hebb: layer %d (%s) is applied at each step of a sequence; the hebb rule trains "
                                  "dense layers on flat inputs only",
                                  i, l->spec);
            if ((size_t)w->dims[0] > kmax) kmax = (size_t)w->dims[0];
            if ((size_t)w->dims[1] > dmax) dmax = (size_t)w->dims[1];
            readout = i;
        } else if (l->n_params > 0 || kids > 0) {
            return soma_error(SOMA_ERR_ARG,
                              "hebb: layer %d (%s) is a %s layer; the hebb rule trains a chain of dense layers "
                              "(with parameter-free layers between them) only",
                              i, l->spec, l->ops->kind);
        } else if (!l->ops->backward) {
            return soma_error(SOMA_ERR_ARG, "hebb: layer %d (%s) has no backward pass", i, l->spec);
        }
    }
    if (readout < 0) return soma_error(SOMA_ERR_ARG, "hebb: the net has no dense layer to read out with");
    hebb_rule *h = soma_calloc(1, sizeof *h);
    if (!h) return SOMA_ERR_NOMEM;
    h->kind = o->hebb;
    h->readout = readout;
    h->n_layers = nl;
    h->kmax = kmax;
    h->dmax = dmax;
    h->wide = wide;
    return hebb_wrap_(h, o->loss, out);
}
