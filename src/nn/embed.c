// Token-level layers of a transformer: position embeddings ("posN", "sinpos"), the patch
// embedding ("patchPxQdE"), the class token ("cls", "clsout"), and the pre-norm transformer
// block "blockHhD[fF][c]", a macro that expands to the core's composites
// seq(res(layernorm,mhaH[c]),res(layernorm,fcF,gelu,fcD)).
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/internal.h"

// --- position embeddings: posN (learned), sinpos (fixed) ---------------------------------

void soma_sinpos_table(float *pe, int T, int D) {
    for (int t = 0; t < T; t++)
        for (int i = 0; i < D; i += 2) {
            double f = exp(-log(10000.0) * (double)i / (double)D);
            pe[(size_t)t * D + i] = (float)sin(t * f);
            if (i + 1 < D) pe[(size_t)t * D + i + 1] = (float)cos(t * f);
        }
}

typedef struct pos_impl {
    int kind; /* 0 learned, 1 sinusoidal */
    int len;  /* learned: rows of the table (0: the input's T) */
    int T, D;
    float *pe; /* sinusoidal: [T,D] */
} pos_impl;

static void pos_destroy(soma_layer *l) {
    pos_impl *p = l->impl;
    if (!p) return;
    soma_free(p->pe);
    soma_free(p);
    l->impl = NULL;
}

static soma_status pos_setup(soma_layer *l) {
    pos_impl *p = l->impl;
    if (l->in.rank != 2)
        return soma_error(SOMA_ERR_SHAPE, "layer %s: wants a sequence [T,D], got %s", l->spec,
                          SOMA__SHAPE_STR(l->in));
    p->T = l->in.d[0];
    p->D = l->in.d[1];
    l->out = l->in;
    if (p->kind == 1) {
        soma_free(p->pe);
        p->pe = soma_alloc((size_t)p->T * p->D, sizeof *p->pe);
        if (!p->pe) return soma_error(SOMA_ERR_NOMEM, "layer %s: no memory", l->spec);
        soma_sinpos_table(p->pe, p->T, p->D);
        return SOMA_OK;
    }
    int len = p->len ? p->len : p->T;
    if (p->T > len)
        return soma_error(SOMA_ERR_SHAPE,
                          "layer %s: the sequence has %d positions, longer than the position table (%d)",
                          l->spec, p->T, len);
    return soma_layer_add_param(l, "weight", 2, (int[]){len, p->D}, 0, p->D, p->D);
}

static void pos_init(soma_layer *l, soma_rng *rng) {
    if (l->n_params) soma_init_normal(&l->params[0], rng, 0.02f);
}

static void pos_forward(soma_layer *l, float *y, const float *x, int n, soma_mode mode) {
    (void)mode;
    const pos_impl *p = l->impl;
    size_t S = (size_t)p->T * p->D;
    const float *pe = p->kind == 1 ? p->pe : l->params[0].value;
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * S;
        float *yi = y + (size_t)i * S;
#pragma omp simd
        for (size_t j = 0; j < S; j++) yi[j] = xi[j] + pe[j];
    }
}

static void pos_backward(soma_layer *l, float *dx, const float *dy, const float *x,
                         const float *y, int n) {
    (void)x;
    (void)y;
    const pos_impl *p = l->impl;
    size_t S = (size_t)p->T * p->D;
    if (dx) memcpy(dx, dy, (size_t)n * S * sizeof *dx);
    float *g = p->kind == 0 ? soma_layer_grad(l, 0) : NULL;
    if (!g) return;
    for (int i = 0; i < n; i++) {
        const float *di = dy + (size_t)i * S;
#pragma omp simd
        for (size_t j = 0; j < S; j++) g[j] += di[j];
    }
}

static soma_status pos_clone(const soma_layer *src, soma_layer *dst) {
    SOMA_TRY(soma__impl_copy(src, dst, sizeof(pos_impl)));
    pos_impl *p = dst->impl, *s = src->impl;
    p->pe = NULL;
    if (s->pe) {
        p->pe = soma_alloc((size_t)s->T * s->D, sizeof *p->pe);
        if (!p->pe) return SOMA_ERR_NOMEM;
        memcpy(p->pe, s->pe, (size_t)s->T * s->D * sizeof *p->pe);
    }
    return SOMA_OK;
}

static const soma_layer_ops pos_ops = {
    .kind = "pos",
    .setup = pos_setup,
    .init = pos_init,
    .forward = pos_forward,
    .backward = pos_backward,
    .destroy = pos_destroy,
    .clone = pos_clone,
};

// --- patchPxQdE: [C,H,W] -> [(H/P)(W/Q), E] ------------------------------------------------
//
// A convolution whose stride equals its kernel reads every pixel once, so it is one GEMM over
// the gathered patches: cols [n*T, C*P*Q] (each row a patch in the weight's (c, i, j) order),
// y [n*T, E] = cols . W[E, C*P*Q]^T + b, already token-major (flatten(2).transpose(1,2)).

typedef struct patch_impl {
    int P, Q, E;
    int C, H, W, gh, gw; /* grid of gh x gw patches */
    float *cols;         /* [max_n*T, C*P*Q] */
    float *dcols;
} patch_impl;

static void patch_destroy(soma_layer *l) {
    patch_impl *p = l->impl;
    if (!p) return;
    soma_free(p->cols);
    soma_free(p->dcols);
    soma_free(p);
    l->impl = NULL;
}

static soma_status patch_setup(soma_layer *l) {
    patch_impl *p = l->impl;
    if (l->in.rank != 3)
        return soma_error(SOMA_ERR_SHAPE, "layer %s: wants an image [C,H,W], got %s", l->spec,
                          SOMA__SHAPE_STR(l->in));
    p->C = l->in.d[0];
    p->H = l->in.d[1];
    p->W = l->in.d[2];
    if (p->H % p->P != 0 || p->W % p->Q != 0)
        return soma_error(SOMA_ERR_SHAPE, "layer %s: %dx%d patches do not tile the %dx%d image", l->spec,
                          p->P, p->Q, p->H, p->W);
    p->gh = p->H / p->P;
    p->gw = p->W / p->Q;
    l->out = soma_shape2(p->gh * p->gw, p->E);
    int K = p->C * p->P * p->Q;
    SOMA_TRY(soma_layer_add_param(l, "weight", 4, (int[]){p->E, p->C, p->P, p->Q}, 1, K, p->E * p->P * p->Q));
    return soma_layer_add_param(l, "bias", 1, (int[]){p->E}, 0, K, p->E * p->P * p->Q);
}

static void patch_init(soma_layer *l, soma_rng *rng) {
    soma_init_kaiming_uniform(&l->params[0], rng);
    soma_init_bias_uniform(&l->params[1], rng);
}

static soma_status patch_reserve(soma_layer *l, int max_n) {
    patch_impl *p = l->impl;
    size_t n = (size_t)max_n * p->C * p->H * p->W;
    soma_free(p->cols);
    soma_free(p->dcols);
    p->cols = soma_alloc(n, sizeof *p->cols);
    p->dcols = soma_alloc(n, sizeof *p->dcols);
    if (!p->cols || !p->dcols) return soma_error(SOMA_ERR_NOMEM, "layer %s: no memory", l->spec);
    return SOMA_OK;
}

/* dir 0: image x -> cols; dir 1: cols -> image x (every pixel in exactly one patch). */
static void patch_move_(const patch_impl *p, float *x, float *cols, int n, int dir) {
    int P = p->P, Q = p->Q, K = p->C * P * Q, T = p->gh * p->gw;
    size_t img = (size_t)p->C * p->H * p->W;
#pragma omp parallel for schedule(static) if ((size_t)n * img >= ((size_t)1 << 16))
    for (int s = 0; s < n; s++)
        for (int t = 0; t < T; t++) {
            int r0 = (t / p->gw) * P, c0 = (t % p->gw) * Q;
            float *row = cols + ((size_t)s * T + t) * K;
            for (int c = 0; c < p->C; c++)
                for (int i = 0; i < P; i++) {
                    float *px = x + (size_t)s * img + ((size_t)c * p->H + r0 + i) * p->W + c0;
                    float *pc = row + (c * P + i) * Q;
                    if (dir == 0) memcpy(pc, px, (size_t)Q * sizeof *pc);
                    else memcpy(px, pc, (size_t)Q * sizeof *px);
                }
        }
}

static void patch_forward(soma_layer *l, float *y, const float *x, int n, soma_mode mode) {
    (void)mode;
    patch_impl *p = l->impl;
    int K = p->C * p->P * p->Q, T = p->gh * p->gw;
    patch_move_(p, (float *)x, p->cols, n, 0); /* dir 0 only reads x */
    soma_dense_forward(y, p->cols, l->params[0].value, l->params[1].value, n * T, K, p->E);
}

static void patch_backward(soma_layer *l, float *dx, const float *dy, const float *x,
                           const float *y, int n) {
    (void)x;
    (void)y;
    patch_impl *p = l->impl;
    int K = p->C * p->P * p->Q, T = p->gh * p->gw;
    soma_dense_backward(dx ? p->dcols : NULL, soma_layer_grad(l, 0), soma_layer_grad(l, 1), dy,
                        p->cols, soma_layer_bwd_value(l, 0), n * T, K, p->E);
    if (dx) patch_move_(p, dx, p->dcols, n, 1);
}

static soma_status patch_clone(const soma_layer *src, soma_layer *dst) {
    SOMA_TRY(soma__impl_copy(src, dst, sizeof(patch_impl)));
    patch_impl *p = dst->impl;
    p->cols = p->dcols = NULL;
    return SOMA_OK;
}

static const soma_layer_ops patch_ops = {
    .kind = "patch",
    .setup = patch_setup,
    .init = patch_init,
    .reserve = patch_reserve,
    .forward = patch_forward,
    .backward = patch_backward,
    .destroy = patch_destroy,
    .clone = patch_clone,
};

// --- cls (prepend a learned token), clsout (token 0 out) ----------------------------------

typedef struct cls_impl {
    int out; /* 0 cls, 1 clsout */
    int T, D;
} cls_impl;

static soma_status cls_setup(soma_layer *l) {
    cls_impl *c = l->impl;
    if (l->in.rank != 2)
        return soma_error(SOMA_ERR_SHAPE, "layer %s: wants a sequence [T,D], got %s", l->spec,
                          SOMA__SHAPE_STR(l->in));
    c->T = l->in.d[0];
    c->D = l->in.d[1];
    if (c->out) {
        l->out = soma_shape1(c->D);
        return SOMA_OK;
    }
    l->out = soma_shape2(c->T + 1, c->D);
    return soma_layer_add_param(l, "weight", 2, (int[]){1, c->D}, 0, c->D, c->D);
}

static void cls_init(soma_layer *l, soma_rng *rng) {
    if (l->n_params) soma_init_normal(&l->params[0], rng, 0.02f);
}

static void cls_forward(soma_layer *l, float *y, const float *x, int n, soma_mode mode) {
    (void)mode;
    const cls_impl *c = l->impl;
    size_t D = (size_t)c->D, S = (size_t)c->T * D;
    for (int i = 0; i < n; i++) {
        if (c->out) {
            memcpy(y + (size_t)i * D, x + (size_t)i * S, D * sizeof *y);
        } else {
            float *yi = y + (size_t)i * (S + D);
            memcpy(yi, l->params[0].value, D * sizeof *y);
            memcpy(yi + D, x + (size_t)i * S, S * sizeof *y);
        }
    }
}

static void cls_backward(soma_layer *l, float *dx, const float *dy, const float *x,
                         const float *y, int n) {
    (void)x;
    (void)y;
    const cls_impl *c = l->impl;
    size_t D = (size_t)c->D, S = (size_t)c->T * D;
    if (c->out) {
        if (!dx) return;
        for (int i = 0; i < n; i++) {
            float *di = dx + (size_t)i * S;
            memcpy(di, dy + (size_t)i * D, D * sizeof *dx);
            memset(di + D, 0, (S - D) * sizeof *dx);
        }
        return;
    }
    float *g = soma_layer_grad(l, 0);
    for (int i = 0; i < n; i++) {
        const float *di = dy + (size_t)i * (S + D);
        if (g)
            for (size_t j = 0; j < D; j++) g[j] += di[j];
        if (dx) memcpy(dx + (size_t)i * S, di + D, S * sizeof *dx);
    }
}

static soma_status cls_clone(const soma_layer *src, soma_layer *dst) {
    return soma__impl_copy(src, dst, sizeof(cls_impl));
}

static const soma_layer_ops cls_ops[2] = {
    {.kind = "cls", .setup = cls_setup, .init = cls_init, .forward = cls_forward,
     .backward = cls_backward, .destroy = soma__impl_free, .clone = cls_clone},
    {.kind = "clsout", .setup = cls_setup, .forward = cls_forward, .backward = cls_backward,
     .destroy = soma__impl_free, .clone = cls_clone},
};

// --- parsing ----------------------------------------------------------------------------

/* "blockHhD[fF][c]" -> "seq(res(layernorm,mhaH[c]),res(layernorm,fcF,gelu,fcD))". */
static int parse_block_(const char *tok, soma_layer *l) {
    const char *want = "blockHhD[fF][c] (H heads, width D, MLP width F = 4D, c causal; e.g. block4h64)";
    const char *s = tok + 5;
    int H = soma__parse_uint(&s), D = -1, F = -1, causal = 0;
    if (H >= 1 && *s == 'h') {
        s++;
        D = soma__parse_uint(&s);
    }
    if (D >= 1 && *s == 'f') {
        s++;
        F = soma__parse_uint(&s);
        if (F < 1) D = -1;
    }
    if (*s == 'c') causal = 1, s++;
    if (H < 1 || D < 1 || *s || H > 4096) {
        soma_error(SOMA_ERR_PARSE, "layer '%s': want %s", tok, want);
        return -1;
    }
    if (D % H != 0) {
        soma_error(SOMA_ERR_ARG, "layer '%s': %d heads do not divide the width %d", tok, H, D);
        return -1;
    }
    if (F < 0) F = 4 * D;
    char body[256];
    snprintf(body, sizeof body, "seq(res(layernorm,mha%d%s),res(layernorm,fc%d,gelu,fc%d))", H,
             causal ? "c" : "", F, D);
    return soma__parse_graph(body, l);
}

/* posN | pos | sinpos | patchPxQdE | cls | clsout | blockHhD[fF][c]. */
int soma__parse_embed(const char *tok, soma_layer *l) {
    if (strncmp(tok, "block", 5) == 0 && tok[5] >= '0' && tok[5] <= '9') return parse_block_(tok, l);
    if (strcmp(tok, "cls") == 0 || strcmp(tok, "clsout") == 0) {
        cls_impl *c = soma_calloc(1, sizeof *c);
        if (!c) return -1;
        c->out = tok[3] != '\0';
        l->ops = &cls_ops[c->out];
        l->impl = c;
        return 1;
    }
    if (strcmp(tok, "sinpos") == 0 || (strncmp(tok, "pos", 3) == 0 && (tok[3] == '\0' || (tok[3] >= '0' && tok[3] <= '9')))) {
        int kind = tok[0] == 's', len = 0;
        if (!kind && tok[3]) {
            const char *s = tok + 3;
            len = soma__parse_uint(&s);
            if (len < 1 || *s) {
                soma_error(SOMA_ERR_PARSE, "layer '%s': want posN with N >= 1 positions, or pos", tok);
                return -1;
            }
        }
        pos_impl *p = soma_calloc(1, sizeof *p);
        if (!p) return -1;
        p->kind = kind;
        p->len = len;
        l->ops = &pos_ops;
        l->impl = p;
        return 1;
    }
    if (strncmp(tok, "patch", 5) == 0) {
        const char *s = tok + 5;
        int P = soma__parse_uint(&s), Q = -1, E = -1;
        if (P >= 1 && *s == 'x') {
            s++;
            Q = soma__parse_uint(&s);
        }
        if (Q >= 1 && *s == 'd') {
            s++;
            E = soma__parse_uint(&s);
        }
        if (P < 1 || Q < 1 || E < 1 || *s) {
            soma_error(SOMA_ERR_PARSE, "layer '%s': want patchPxQdE (PxQ patches, E features; e.g. patch4x4d64)", tok);
            return -1;
        }
        patch_impl *p = soma_calloc(1, sizeof *p);
        if (!p) return -1;
        p->P = P;
        p->Q = Q;
        p->E = E;
        l->ops = &patch_ops;
        l->impl = p;
        return 1;
    }
    return 0;
}
