// Attention: the fused scaled dot-product kernel (online softmax over blocks of keys, backward
// recomputing the probabilities row by row), the self-attention kind "mhaH[c]", the
// cross-attention composite "xattnH(SPEC)", and the net-wide key-padding mask.
//
// Projections are token-wise GEMMs over the whole batch (soma_dense_forward on [n*T, D]);
// only the score/softmax/weighted-sum part runs per (sample, head), one OpenMP work item each.
// Every work item computes its rows the same way whatever the thread count.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/internal.h"

// --- kernels ---------------------------------------------------------------------------

#define ATTN_BK 64 /* keys per block of the online softmax */

/* Whether key j is visible to query i. */
static inline int attn_sees_(const uint8_t *pad, int causal, int i, int j) {
    return !(causal && j > i) && !(pad && pad[j]);
}

/* One query row against every key: o[dh] written, returns the row's log-sum-exp. */
SOMA_HOT static float attn_row_fwd_(float *o, const float *qi, const float *k, const float *v,
                                    const uint8_t *pad, int i, int Tk, int dh, int ldk,
                                    int causal, float scale) {
    float s[ATTN_BK];
    float m = -INFINITY, l = 0.f;
    for (int d = 0; d < dh; d++) o[d] = 0.f;
    int jend = causal && i + 1 < Tk ? i + 1 : Tk;
    for (int j0 = 0; j0 < jend; j0 += ATTN_BK) {
        int nb = jend - j0 < ATTN_BK ? jend - j0 : ATTN_BK;
        float bm = -INFINITY;
        for (int b = 0; b < nb; b++) {
            int j = j0 + b;
            if (!attn_sees_(pad, causal, i, j)) {
                s[b] = -INFINITY;
                continue;
            }
            const float *kj = k + (size_t)j * ldk;
            float acc = 0.f;
#pragma omp simd reduction(+ : acc)
            for (int d = 0; d < dh; d++) acc += qi[d] * kj[d];
            s[b] = acc * scale;
            if (s[b] > bm) bm = s[b];
        }
        if (bm == -INFINITY) continue; /* nothing visible in this block */
        if (bm > m) {                   /* rescale what has been summed so far */
            float c = expf(m - bm);     /* m = -inf: c = 0, and l, o are 0 anyway */
            l *= c;
#pragma omp simd
            for (int d = 0; d < dh; d++) o[d] *= c;
            m = bm;
        }
        for (int b = 0; b < nb; b++) {
            if (s[b] == -INFINITY) continue;
            float p = expf(s[b] - m);
            l += p;
            const float *vj = v + (size_t)(j0 + b) * ldk;
#pragma omp simd
            for (int d = 0; d < dh; d++) o[d] += p * vj[d];
        }
    }
    if (l == 0.f) return -INFINITY; /* no visible key: output 0 */
    float r = 1.f / l;
#pragma omp simd
    for (int d = 0; d < dh; d++) o[d] *= r;
    return m + logf(l);
}

void soma_attn_forward(float *o, float *lse, const float *q, const float *k, const float *v,
                       const uint8_t *pad, int N, int Tq, int Tk, int H, int dh, int ldq, int ldk,
                       int ldo, int causal) {
    const float scale = 1.f / sqrtf((float)dh);
    const int items = N * H;
#pragma omp parallel for schedule(static) if (items > 1 && (size_t)items * Tq * Tk * dh >= 32768)
    for (int it = 0; it < items; it++) {
        int n = it / H, h = it % H;
        const float *qn = q + (size_t)n * Tq * ldq + (size_t)h * dh;
        const float *kn = k + (size_t)n * Tk * ldk + (size_t)h * dh;
        const float *vn = v + (size_t)n * Tk * ldk + (size_t)h * dh;
        float *on = o + (size_t)n * Tq * ldo + (size_t)h * dh;
        const uint8_t *pn = pad ? pad + (size_t)n * Tk : NULL;
        float *ln = lse + ((size_t)n * H + h) * Tq;
        for (int i = 0; i < Tq; i++)
            ln[i] = attn_row_fwd_(on + (size_t)i * ldo, qn + (size_t)i * ldq, kn, vn, pn, i, Tk, dh,
                                  ldk, causal, scale);
    }
}

void soma_attn_forward_ref(float *o, float *lse, const float *q, const float *k, const float *v,
                           const uint8_t *pad, int N, int Tq, int Tk, int H, int dh, int ldq,
                           int ldk, int ldo, int causal) {
    const double scale = 1.0 / sqrt((double)dh);
    double *s = soma_alloc((size_t)(Tk > 0 ? Tk : 1), sizeof *s);
    if (!s) return; /* a reference for tests: no memory leaves o as it was */
    for (int n = 0; n < N; n++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < Tq; i++) {
                const float *qi = q + ((size_t)n * Tq + i) * ldq + (size_t)h * dh;
                double m = -INFINITY, l = 0;
                for (int j = 0; j < Tk; j++) {
                    s[j] = -INFINITY;
                    if (!attn_sees_(pad ? pad + (size_t)n * Tk : NULL, causal, i, j)) continue;
                    const float *kj = k + ((size_t)n * Tk + j) * ldk + (size_t)h * dh;
                    double a = 0;
                    for (int d = 0; d < dh; d++) a += (double)qi[d] * kj[d];
                    s[j] = a * scale;
                    if (s[j] > m) m = s[j];
                }
                for (int j = 0; j < Tk; j++) l += s[j] == -INFINITY ? 0.0 : exp(s[j] - m);
                float *oi = o + ((size_t)n * Tq + i) * ldo + (size_t)h * dh;
                for (int d = 0; d < dh; d++) {
                    double a = 0;
                    for (int j = 0; j < Tk && l > 0; j++)
                        if (s[j] != -INFINITY)
                            a += exp(s[j] - m) / l * v[((size_t)n * Tk + j) * ldk + (size_t)h * dh + d];
                    oi[d] = (float)a;
                }
                if (lse) lse[((size_t)n * H + h) * Tq + i] = l > 0 ? (float)(m + log(l)) : -INFINITY;
            }
    soma_free(s);
}

/* With P the probabilities, dO the output gradient and D_i = dO_i . O_i:
 *     dV += P^T dO,   dS = P * (dO V^T - D),   dQ = scale dS K,   dK += scale dS^T Q. */
SOMA_HOT static void attn_item_bwd_(float *dq, float *dk, float *dv, const float *dout,
                                    const float *o, const float *lse, const float *q,
                                    const float *k, const float *v, const uint8_t *pad, int Tq,
                                    int Tk, int dh, int ldq, int ldk, int ldo, int causal,
                                    float scale) {
    for (int j = 0; j < Tk; j++) {
        memset(dk + (size_t)j * ldk, 0, (size_t)dh * sizeof *dk);
        memset(dv + (size_t)j * ldk, 0, (size_t)dh * sizeof *dv);
    }
    for (int i = 0; i < Tq; i++) {
        const float *qi = q + (size_t)i * ldq, *gi = dout + (size_t)i * ldo, *oi = o + (size_t)i * ldo;
        float *dqi = dq + (size_t)i * ldq;
        for (int d = 0; d < dh; d++) dqi[d] = 0.f;
        const float L = lse[i];
        if (L == -INFINITY) continue;
        float Di = 0.f;
#pragma omp simd reduction(+ : Di)
        for (int d = 0; d < dh; d++) Di += gi[d] * oi[d];
        int jend = causal && i + 1 < Tk ? i + 1 : Tk;
        for (int j = 0; j < jend; j++) {
            if (pad && pad[j]) continue;
            const float *kj = k + (size_t)j * ldk, *vj = v + (size_t)j * ldk;
            float sd = 0.f, dp = 0.f;
#pragma omp simd reduction(+ : sd, dp)
            for (int d = 0; d < dh; d++) {
                sd += qi[d] * kj[d];
                dp += gi[d] * vj[d];
            }
            float p = expf(sd * scale - L);
            float ds = p * (dp - Di) * scale;
            float *dkj = dk + (size_t)j * ldk, *dvj = dv + (size_t)j * ldk;
#pragma omp simd
            for (int d = 0; d < dh; d++) {
                dvj[d] += p * gi[d];
                dkj[d] += ds * qi[d];
                dqi[d] += ds * kj[d];
            }
        }
    }
}

void soma_attn_backward(float *dq, float *dk, float *dv, const float *dout, const float *o,
                        const float *lse, const float *q, const float *k, const float *v,
                        const uint8_t *pad, int N, int Tq, int Tk, int H, int dh, int ldq, int ldk,
                        int ldo, int causal) {
    const float scale = 1.f / sqrtf((float)dh);
    const int items = N * H;
#pragma omp parallel for schedule(static) if (items > 1 && (size_t)items * Tq * Tk * dh >= 32768)
    for (int it = 0; it < items; it++) {
        int n = it / H, h = it % H;
        size_t oq = (size_t)n * Tq * ldq + (size_t)h * dh, ok = (size_t)n * Tk * ldk + (size_t)h * dh;
        size_t oo = (size_t)n * Tq * ldo + (size_t)h * dh;
        attn_item_bwd_(dq + oq, dk + ok, dv + ok, dout + oo, o + oo, lse + ((size_t)n * H + h) * Tq,
                       q + oq, k + ok, v + ok, pad ? pad + (size_t)n * Tk : NULL, Tq, Tk, dh, ldq, ldk,
                       ldo, causal, scale);
    }
}

// --- shared by mha and xattn --------------------------------------------------------------

/* The [T,D] input of an attention layer and its head split; SOMA_ERR_SHAPE when H does not
 * divide D. */
static soma_status attn_shape_(soma_layer *l, int H, int *T, int *D) {
    if (l->in.rank != 2)
        return soma_error(SOMA_ERR_SHAPE, "layer %s: wants a sequence [T,D], got %s", l->spec,
                          SOMA__SHAPE_STR(l->in));
    *T = l->in.d[0];
    *D = l->in.d[1];
    if (*D % H != 0)
        return soma_error(SOMA_ERR_SHAPE, "layer %s: %d heads do not divide the width %d", l->spec, H,
                          *D);
    return SOMA_OK;
}

/* in_proj_weight [3D,D], in_proj_bias [3D], out_proj.weight [D,D], out_proj.bias [D]. */
static soma_status attn_params_(soma_layer *l, int D) {
    SOMA_TRY(soma_layer_add_param(l, "in_proj_weight", 2, (int[]){3 * D, D}, 1, D, 3 * D));
    SOMA_TRY(soma_layer_add_param(l, "in_proj_bias", 1, (int[]){3 * D}, 0, D, 3 * D));
    SOMA_TRY(soma_layer_add_param(l, "out_proj.weight", 2, (int[]){D, D}, 1, D, D));
    SOMA_TRY(soma_layer_add_param(l, "out_proj.bias", 1, (int[]){D}, 0, D, D));
    return SOMA_OK;
}

/* As torch.nn.MultiheadAttention._reset_parameters: Xavier-uniform in_proj, zero biases, the
 * out projection a Linear's default. */
static void attn_init_(soma_layer *l, soma_rng *rng) {
    soma_init_xavier_uniform(&l->params[0], rng);
    soma_init_const(&l->params[1], 0.f);
    soma_init_kaiming_uniform(&l->params[2], rng);
    soma_init_const(&l->params[3], 0.f);
}

static float *attn_buf_(float **p, size_t n) {
    soma_free(*p);
    *p = soma_alloc(n ? n : 1, sizeof **p);
    return *p;
}

/* H heads from "<prefix>H" at *s; -1 with the error set when absent or 0. */
static int attn_parse_heads_(const char *tok, const char **s, const char *want) {
    int H = soma__parse_uint(s);
    if (H < 1 || H > 4096) {
        soma_error(SOMA_ERR_PARSE, "layer '%s': want %s with H >= 1 heads", tok, want);
        return -1;
    }
    return H;
}

// --- mhaH[c]: self-attention ---------------------------------------------------------------

typedef struct mha_impl {
    int H, causal;
    int T, D;
    float *qkv;  /* [max_n*T, 3D] projections */
    float *ctx;  /* [max_n*T, D] attention output before out_proj */
    float *lse;  /* [max_n, H, T] */
    float *dctx; /* [max_n*T, D] */
    float *dqkv; /* [max_n*T, 3D] */
    const uint8_t *pad; /* borrowed key-padding mask [rows, T], or NULL */
} mha_impl;

static void mha_free_bufs_(mha_impl *m) {
    soma_free(m->qkv);
    soma_free(m->ctx);
    soma_free(m->lse);
    soma_free(m->dctx);
    soma_free(m->dqkv);
    m->qkv = m->ctx = m->lse = m->dctx = m->dqkv = NULL;
}

static void mha_destroy(soma_layer *l) {
    mha_impl *m = l->impl;
    if (!m) return;
    mha_free_bufs_(m);
    soma_free(m);
    l->impl = NULL;
}

static soma_status mha_setup(soma_layer *l) {
    mha_impl *m = l->impl;
    SOMA_TRY(attn_shape_(l, m->H, &m->T, &m->D));
    l->out = l->in;
    return attn_params_(l, m->D);
}

static soma_status mha_reserve(soma_layer *l, int max_n) {
    mha_impl *m = l->impl;
    size_t rows = (size_t)max_n * m->T, D = (size_t)m->D;
    if (!attn_buf_(&m->qkv, rows * 3 * D) || !attn_buf_(&m->ctx, rows * D) ||
        !attn_buf_(&m->lse, (size_t)max_n * m->H * m->T) || !attn_buf_(&m->dctx, rows * D) ||
        !attn_buf_(&m->dqkv, rows * 3 * D))
        return soma_error(SOMA_ERR_NOMEM, "layer %s: no memory for batches of %d", l->spec, max_n);
    return SOMA_OK;
}

static void mha_forward(soma_layer *l, float *y, const float *x, int n, soma_mode mode) {
    (void)mode;
    mha_impl *m = l->impl;
    int T = m->T, D = m->D, rows = n * T;
    soma_dense_forward(m->qkv, x, l->params[0].value, l->params[1].value, rows, D, 3 * D);
    soma_attn_forward(m->ctx, m->lse, m->qkv, m->qkv + D, m->qkv + 2 * D, m->pad, n, T, T, m->H,
                      D / m->H, 3 * D, 3 * D, D, m->causal);
    soma_dense_forward(y, m->ctx, l->params[2].value, l->params[3].value, rows, D, D);
}

static void mha_backward(soma_layer *l, float *dx, const float *dy, const float *x,
                         const float *y, int n) {
    (void)y;
    mha_impl *m = l->impl;
    int T = m->T, D = m->D, rows = n * T;
    soma_dense_backward(m->dctx, soma_layer_grad(l, 2), soma_layer_grad(l, 3), dy, m->ctx,
                        soma_layer_bwd_value(l, 2), rows, D, D);
    soma_attn_backward(m->dqkv, m->dqkv + D, m->dqkv + 2 * D, m->dctx, m->ctx, m->lse, m->qkv,
                       m->qkv + D, m->qkv + 2 * D, m->pad, n, T, T, m->H, D / m->H, 3 * D, 3 * D, D,
                       m->causal);
    soma_dense_backward(dx, soma_layer_grad(l, 0), soma_layer_grad(l, 1), m->dqkv, x,
                        soma_layer_bwd_value(l, 0), rows, D, 3 * D);
}

static soma_status mha_clone(const soma_layer *src, soma_layer *dst) {
    SOMA_TRY(soma__impl_copy(src, dst, sizeof(mha_impl)));
    mha_impl *m = dst->impl;
    m->qkv = m->ctx = m->lse = m->dctx = m->dqkv = NULL;
    return SOMA_OK;
}

static soma_status mha_set_key_padding(soma_layer *l, const uint8_t *pad, int T) {
    mha_impl *m = l->impl;
    if (pad && T != m->T)
        return soma_error(SOMA_ERR_SHAPE, "layer %s: a key-padding mask of length %d on a sequence of %d",
                          l->spec, T, m->T);
    m->pad = pad;
    return SOMA_OK;
}

static const soma_layer_ops mha_ops = {
    .kind = "mha",
    .setup = mha_setup,
    .init = attn_init_,
    .reserve = mha_reserve,
    .forward = mha_forward,
    .backward = mha_backward,
    .destroy = mha_destroy,
    .clone = mha_clone,
    .set_key_padding = mha_set_key_padding,
};

// --- xattnH(SPEC): cross-attention to a memory computed by a branch -----------------------

typedef struct xattn_impl {
    int H;
    int T, S, D;
    soma__chain br; /* x [T,D] -> memory [S,D] */
    float *q;       /* [max_n*T, D] */
    float *kv;      /* [max_n*S, 2D] */
    float *ctx, *dctx; /* [max_n*T, D] */
    float *lse;     /* [max_n, H, T] */
    float *dq;      /* [max_n*T, D] */
    float *dkv;     /* [max_n*S, 2D] */
    float *dmem;    /* [max_n*S, D] */
    float *dxb;     /* [max_n*T, D] the branch's dx */
} xattn_impl;

static void xattn_free_bufs_(xattn_impl *a) {
    float **b[] = {&a->q, &a->kv, &a->ctx, &a->dctx, &a->lse, &a->dq, &a->dkv, &a->dmem, &a->dxb};
    for (size_t i = 0; i < sizeof b / sizeof *b; i++) {
        soma_free(*b[i]);
        *b[i] = NULL;
    }
}

static void xattn_destroy(soma_layer *l) {
    xattn_impl *a = l->impl;
    if (!a) return;
    soma__chain_free(&a->br);
    xattn_free_bufs_(a);
    soma_free(a);
    l->impl = NULL;
}

static soma_status xattn_setup(soma_layer *l) {
    xattn_impl *a = l->impl;
    SOMA_TRY(attn_shape_(l, a->H, &a->T, &a->D));
    char who[300];
    snprintf(who, sizeof who, "%s memory branch", l->spec);
    SOMA_TRY(soma__chain_setup(&a->br, l->in, who));
    soma_shape m = a->br.out;
    if (m.rank != 2 || m.d[1] != a->D)
        return soma_error(SOMA_ERR_SHAPE, "layer %s: the memory branch gives %s; it must give a sequence [S,%d]",
                          l->spec, SOMA__SHAPE_STR(m), a->D);
    a->S = m.d[0];
    l->out = l->in;
    return attn_params_(l, a->D);
}

static void xattn_init(soma_layer *l, soma_rng *rng) {
    attn_init_(l, rng);
    soma__chain_init(&((xattn_impl *)l->impl)->br, rng);
}

static soma_status xattn_reserve(soma_layer *l, int max_n) {
    xattn_impl *a = l->impl;
    SOMA_TRY(soma__chain_reserve(&a->br, max_n));
    size_t rt = (size_t)max_n * a->T, rs = (size_t)max_n * a->S, D = (size_t)a->D;
    if (!attn_buf_(&a->q, rt * D) || !attn_buf_(&a->kv, rs * 2 * D) || !attn_buf_(&a->ctx, rt * D) ||
        !attn_buf_(&a->dctx, rt * D) || !attn_buf_(&a->lse, (size_t)max_n * a->H * a->T) ||
        !attn_buf_(&a->dq, rt * D) || !attn_buf_(&a->dkv, rs * 2 * D) || !attn_buf_(&a->dmem, rs * D) ||
        !attn_buf_(&a->dxb, rt * D))
        return soma_error(SOMA_ERR_NOMEM, "layer %s: no memory for batches of %d", l->spec, max_n);
    return SOMA_OK;
}

static void xattn_forward(soma_layer *l, float *y, const float *x, int n, soma_mode mode) {
    xattn_impl *a = l->impl;
    int T = a->T, S = a->S, D = a->D;
    const float *w = l->params[0].value, *b = l->params[1].value;
    const float *mem = soma__chain_forward(&a->br, x, n, mode);
    soma_dense_forward(a->q, x, w, b, n * T, D, D);
    soma_dense_forward(a->kv, mem, w + (size_t)D * D, b + D, n * S, D, 2 * D);
    soma_attn_forward(a->ctx, a->lse, a->q, a->kv, a->kv + D, NULL, n, T, S, a->H, D / a->H, D,
                      2 * D, D, 0);
    soma_dense_forward(y, a->ctx, l->params[2].value, l->params[3].value, n * T, D, D);
}

static void xattn_backward(soma_layer *l, float *dx, const float *dy, const float *x,
                           const float *y, int n) {
    (void)y;
    xattn_impl *a = l->impl;
    int T = a->T, S = a->S, D = a->D;
    const float *mem = a->br.act[a->br.n];
    soma_dense_backward(a->dctx, soma_layer_grad(l, 2), soma_layer_grad(l, 3), dy, a->ctx,
                        soma_layer_bwd_value(l, 2), n * T, D, D);
    soma_attn_backward(a->dq, a->dkv, a->dkv + D, a->dctx, a->ctx, a->lse, a->q, a->kv, a->kv + D,
                       NULL, n, T, S, a->H, D / a->H, D, 2 * D, D, 0);
    float *dw = soma_layer_grad(l, 0), *db = soma_layer_grad(l, 1);
    const float *wb = soma_layer_bwd_value(l, 0);
    soma_dense_backward(dx, dw, db, a->dq, x, wb, n * T, D, D);
    soma_dense_backward(a->dmem, dw ? dw + (size_t)D * D : NULL, db ? db + D : NULL, a->dkv, mem,
                        wb + (size_t)D * D, n * S, D, 2 * D);
    soma__chain_backward(&a->br, dx ? a->dxb : NULL, a->dmem, n, l->no_param_grads);
    if (dx) {
        size_t nt = (size_t)n * T * D;
#pragma omp simd
        for (size_t i = 0; i < nt; i++) dx[i] += a->dxb[i];
    }
}

static soma_status xattn_clone(const soma_layer *src, soma_layer *dst) {
    const xattn_impl *s = src->impl;
    xattn_impl *a = soma_calloc(1, sizeof *a);
    if (!a) return SOMA_ERR_NOMEM;
    a->H = s->H;
    a->T = s->T;
    a->S = s->S;
    a->D = s->D;
    dst->impl = a;
    soma_status st = soma__chain_clone(&s->br, &a->br);
    if (st != SOMA_OK) {
        soma_free(a);
        dst->impl = NULL;
    }
    return st;
}

static int xattn_n_children(const soma_layer *l) { return ((const xattn_impl *)l->impl)->br.n; }
static soma_layer *xattn_child(soma_layer *l, int i) { return &((xattn_impl *)l->impl)->br.layers[i]; }

static const soma_layer_ops xattn_ops = {
    .kind = "xattn",
    .setup = xattn_setup,
    .init = xattn_init,
    .reserve = xattn_reserve,
    .forward = xattn_forward,
    .backward = xattn_backward,
    .destroy = xattn_destroy,
    .clone = xattn_clone,
    .n_children = xattn_n_children,
    .child = xattn_child,
};

// --- parsing ----------------------------------------------------------------------------

/* mhaH[c] and xattnH(SPEC). */
int soma__parse_attn(const char *tok, soma_layer *l) {
    if (strncmp(tok, "mha", 3) == 0 && (tok[3] == '\0' || (tok[3] >= '0' && tok[3] <= '9'))) {
        const char *s = tok + 3;
        int H = attn_parse_heads_(tok, &s, "mhaH[c] (e.g. mha4, mha4c)");
        if (H < 0) return -1;
        int causal = 0;
        if (*s == 'c') causal = 1, s++;
        if (*s) {
            soma_error(SOMA_ERR_PARSE, "layer '%s': want mhaH[c] (e.g. mha4, mha4c)", tok);
            return -1;
        }
        mha_impl *m = soma_calloc(1, sizeof *m);
        if (!m) return -1;
        m->H = H;
        m->causal = causal;
        l->ops = &mha_ops;
        l->impl = m;
        return 1;
    }
    if (strncmp(tok, "xattn", 5) != 0) return 0;
    const char *s = tok + 5;
    const char *want = "xattnH(SPEC) (e.g. xattn4(tmean,repeat4,fc64))";
    int H = attn_parse_heads_(tok, &s, want);
    if (H < 0) return -1;
    size_t len = strlen(s);
    if (len < 3 || s[0] != '(' || s[len - 1] != ')') {
        soma_error(SOMA_ERR_PARSE, "layer '%s': want %s", tok, want);
        return -1;
    }
    xattn_impl *a = soma_calloc(1, sizeof *a);
    if (!a) return -1;
    a->H = H;
    l->ops = &xattn_ops;
    l->impl = a;
    soma_status st = soma__chain_parse(&a->br, s + 1, len - 2);
    if (st != SOMA_OK) {
        soma_error_wrap(st, "layer '%s' memory branch", tok);
        xattn_destroy(l);
        return -1;
    }
    return 1;
}

// --- the net-wide key-padding mask ------------------------------------------------------

static soma_status set_pad_walk_(soma_layer *l, const uint8_t *pad, int T, int *taken) {
    if (l->ops->set_key_padding) {
        SOMA_TRY(l->ops->set_key_padding(l, pad, T));
        (*taken)++;
    }
    int nc = l->ops->n_children ? l->ops->n_children(l) : 0;
    for (int i = 0; i < nc; i++) SOMA_TRY(set_pad_walk_(l->ops->child(l, i), pad, T, taken));
    return SOMA_OK;
}

soma_status soma_net_set_key_padding(soma_net *net, const uint8_t *pad, int T) {
    if (!net) return soma_error(SOMA_ERR_ARG, "key padding: no net");
    if (pad && T < 1) return soma_error(SOMA_ERR_ARG, "key padding: sequence length %d", T);
    int taken = 0;
    for (int i = 0; i < soma_net_n_layers(net); i++) {
        soma_status st = set_pad_walk_(soma_net_layer(net, i), pad, T, &taken);
        if (st != SOMA_OK) {
            int dummy = 0; /* leave no layer holding half a setting */
            for (int k = 0; k < soma_net_n_layers(net); k++) set_pad_walk_(soma_net_layer(net, k), NULL, 0, &dummy);
            return st;
        }
    }
    if (pad && taken == 0)
        return soma_error(SOMA_ERR_ARG, "key padding: no layer of net '%s' takes a mask (add an mhaH layer)",
                          soma_net_spec(net));
    return SOMA_OK;
}
