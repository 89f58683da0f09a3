// Spike encoders: a static input [D] or [C,H,W] into a spike sequence [T,D] / [T,C,H,W] for the
// spiking layers (layer_lif.c). Direct coding (the analog input at every step) is repeatT.
//
//   rateT     Bernoulli rate coding: at each step, each value x spikes with probability
//             clamp(x, 0, 1), independently (Poisson-like trains of rate x per step). The draws
//             come from the layer's own stream (l->rng, seeded from the net's seed), in training
//             and in evaluation alike: a seed fixes them. Backward passes the gradient of the
//             expected spikes, E[S_t] = x: dx = sum_t dy_t (a straight-through estimator).
//   latencyT  time-to-first-spike coding: x > 0 spikes once, at step round((1 - x) (T - 1))
//             (x >= 1 at step 0, brighter earlier), x <= 0 never. Deterministic; its input
//             gradient is 0 (spike times are piecewise constant in x).
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "soma/nn.h"

typedef struct code_impl {
    int latency; /* 0 rate, 1 latency */
    int T;
} code_impl;

static soma_status code_setup(soma_layer *l) {
    code_impl *c = l->impl;
    char b[64];
    l->n_params = 0;
    if (l->in.rank == 1) l->out = soma_shape2(c->T, l->in.d[0]);
    else if (l->in.rank == 3) l->out = soma_shape4(c->T, l->in.d[0], l->in.d[1], l->in.d[2]);
    else
        return soma_error(SOMA_ERR_SHAPE,
                          "layer %s: encodes a vector [D] or an image [C,H,W] into spikes over time, got %s",
                          l->spec, soma_shape_str(l->in, b, sizeof b));
    return SOMA_OK;
}

static void code_forward(soma_layer *l, float *y, const float *x, int n, soma_mode mode) {
    (void)mode;
    const code_impl *c = l->impl;
    const int T = c->T;
    const size_t S = soma_shape_size(l->in);
    if (c->latency) {
        memset(y, 0, (size_t)n * T * S * sizeof *y);
        for (int i = 0; i < n; i++) {
            const float *xi = x + (size_t)i * S;
            float *yi = y + (size_t)i * T * S;
            for (size_t j = 0; j < S; j++) {
                float v = xi[j];
                if (!(v > 0.f)) continue;
                if (v > 1.f) v = 1.f;
                int t = (int)((1.f - v) * (float)(T - 1) + 0.5f); /* halves round up */
                yi[(size_t)t * S + j] = 1.f;
            }
        }
        return;
    }
    /* rate: compare in 32-bit fixed point, one u32 per value strictly between 0 and 1, in a
     * fixed stream order (values <= 0 never spike and values >= 1 always do, with no draw:
     * the dark background of an image costs nothing) */
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * S;
        float *yi = y + (size_t)i * T * S;
        for (int t = 0; t < T; t++) {
            float *yt = yi + (size_t)t * S;
            for (size_t j = 0; j < S; j++) {
                float v = xi[j];
                if (!(v > 0.f)) yt[j] = 0.f;
                else if (v >= 1.f) yt[j] = 1.f;
                else yt[j] = (double)soma_rng_u32(&l->rng) < (double)v * 4294967296.0 ? 1.f : 0.f;
            }
        }
    }
}

static void code_backward(soma_layer *l, float *dx, const float *dy, const float *x, const float *y,
                          int n) {
    (void)x;
    (void)y;
    if (!dx) return;
    const code_impl *c = l->impl;
    const int T = c->T;
    const size_t S = soma_shape_size(l->in);
    if (c->latency) {
        memset(dx, 0, (size_t)n * S * sizeof *dx);
        return;
    }
    for (int i = 0; i < n; i++) {
        float *d = dx + (size_t)i * S;
        const float *g = dy + (size_t)i * T * S;
        memcpy(d, g, S * sizeof *d);
        for (int t = 1; t < T; t++) {
            const float *gt = g + (size_t)t * S;
#pragma omp simd
            for (size_t j = 0; j < S; j++) d[j] += gt[j];
        }
    }
}

static soma_status code_clone(const soma_layer *src, soma_layer *dst) {
    code_impl *c = soma_alloc(1, sizeof *c);
    if (!c) return soma_error(SOMA_ERR_NOMEM, "layer %s: no memory to clone", src->spec);
    memcpy(c, src->impl, sizeof *c);
    dst->impl = c;
    return SOMA_OK;
}

static void code_destroy(soma_layer *l) {
    soma_free(l->impl);
    l->impl = NULL;
}

#define CODE_OPS(name)                                                                              \
    {                                                                                               \
        .kind = name, .setup = code_setup, .forward = code_forward, .backward = code_backward,       \
        .destroy = code_destroy, .clone = code_clone                                                 \
    }
static const soma_layer_ops code_ops[2] = {CODE_OPS("rate"), CODE_OPS("latency")};

/* rateT, latencyT (1 <= T <= 2^20). */
int soma__snn_parse_code(const char *tok, soma_layer *l) {
    int latency;
    const char *p;
    if (strncmp(tok, "rate", 4) == 0) latency = 0, p = tok + 4;
    else if (strncmp(tok, "latency", 7) == 0) latency = 1, p = tok + 7;
    else return 0;
    long T = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9' && T <= (1L << 20)) T = T * 10 + (*p++ - '0'), digits++;
    if (!digits || *p || T < 1 || T > (1L << 20)) {
        soma_error(SOMA_ERR_PARSE, "layer '%s': want %sT with 1 <= T <= %d time steps (e.g. %s8)", tok,
                   latency ? "latency" : "rate", 1 << 20, latency ? "latency" : "rate");
        return -1;
    }
    code_impl *c = soma_alloc(1, sizeof *c);
    if (!c) {
        soma_error(SOMA_ERR_NOMEM, "layer '%s': no memory", tok);
        return -1;
    }
    c->latency = latency;
    c->T = (int)T;
    l->ops = &code_ops[latency];
    l->impl = c;
    return 1;
}
