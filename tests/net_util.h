/* Test helpers for whole networks (soma_net): gradients against finite differences of
 * L = sum(r * net(x)), a net with random data after one full backward (the start of every
 * backward-parts check), and the checks every clone test makes. Each helper counts its checks
 * through check.h. */
#ifndef SOMA_TESTS_NET_UTIL_H
#define SOMA_TESTS_NET_UTIL_H
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "soma/nn.h"

// --- finite differences ------------------------------------------------------------------

static inline double tn_proj(const float *y, const float *r, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)y[i] * r[i];
    return s;
}

/* Relative error; values under rel_floor * scale (scale: the largest) are measured against it
 * (float32 roundoff in the differences). */
static inline double tn_rel_err(double a, double n, double scale, double rel_floor) {
    return fabs(a - n) / fmax(fmax(fabs(a), fabs(n)), rel_floor * scale);
}

/* Every layer's and sub-layer's dropout stream, depth first: saved once, restored before each
 * forward so that training-mode forwards draw the same masks. */
#define TN_MAX_RNG 64
typedef struct tn_rng_set {
    soma_rng r[TN_MAX_RNG];
    int n;
} tn_rng_set;
static inline void tn_rng_walk_(soma_layer *l, tn_rng_set *s, int restore) {
    if (s->n < TN_MAX_RNG) {
        if (restore) l->rng = s->r[s->n];
        else s->r[s->n] = l->rng;
        s->n++;
    }
    int nc = l->ops->n_children ? l->ops->n_children(l) : 0;
    for (int i = 0; i < nc; i++) tn_rng_walk_(l->ops->child(l, i), s, restore);
}
static inline void tn_rngs(soma_net *net, tn_rng_set *s, int restore) {
    s->n = 0;
    for (int i = 0; i < soma_net_n_layers(net); i++) tn_rng_walk_(soma_net_layer(net, i), s, restore);
}

typedef struct tn_fd_opts {
    soma_mode mode;   /* of every forward; in train mode the dropout streams are rewound first */
    int five_point;   /* five-point stencil, truncation O(eps^4); else central, O(eps^2) */
    float eps;        /* the step */
    double floor;     /* tn_rel_err's rel_floor */
    size_t samples;   /* each parameter: every (1 + n / samples)-th value is checked */
} tn_fd_opts;

static inline const float *tn_fwd_(soma_net *net, const float *x, int N, soma_mode mode, tn_rng_set *s) {
    const float *y = NULL;
    if (mode == SOMA_MODE_TRAIN) tn_rngs(net, s, 1);
    CHECK_OK(soma_net_forward(net, x, N, mode, &y));
    return y;
}

/* dL/dv for one value v (an input or a parameter value). */
static inline double tn_diff_(soma_net *net, const float *x, int N, const tn_fd_opts *o, tn_rng_set *s,
                              const float *r, size_t ny, float *v) {
    static const float at5[4] = {2.f, 1.f, -1.f, -2.f}, at3[2] = {1.f, -1.f};
    const float *at = o->five_point ? at5 : at3;
    float keep = *v;
    double l[4];
    for (int k = 0; k < (o->five_point ? 4 : 2); k++) {
        *v = keep + at[k] * o->eps;
        l[k] = tn_proj(tn_fwd_(net, x, N, o->mode, s), r, ny);
    }
    *v = keep;
    if (o->five_point) return (-l[0] + 8.0 * l[1] - 8.0 * l[2] + l[3]) / (12.0 * o->eps);
    return (l[0] - l[1]) / (2.0 * o->eps);
}

/* L = sum(r * net(x)) for net = spec on N random inputs of shape in: dx (NaN-filled first,
 * so it must be written in full) against differences at every input value, each parameter
 * against differences at sampled values (gains and biases drawn from [0.5, 1.5], never zero).
 * Writes the worst relative errors of dx and of everything, and checks the latter is at most
 * 1e-2 (naming each parameter over it on stderr). Returns 0 when the net could not be built. */
static inline int tn_fd_net(const char *spec, soma_shape in, int N, const tn_fd_opts *o, double *worst_dx,
                            double *worst_all) {
    soma_net *net = NULL;
    CHECK_OK(soma_net_new(&net, spec, in, 21));
    if (!net) return 0;
    size_t nx = (size_t)N * soma_shape_size(in), ny = (size_t)N * soma_shape_size(soma_net_out_shape(net));
    float *x = soma_alloc(nx, sizeof *x), *dx = soma_alloc(nx, sizeof *dx), *r = soma_alloc(ny, sizeof *r);
    double *num = soma_alloc(nx, sizeof *num);
    soma_rng g;
    soma_rng_seed(&g, 4, 0);
    soma_rng_uniform_fill(&g, x, nx, -1.f, 1.f);
    soma_rng_normal_fill(&g, r, ny, 0.f, 1.f);
    for (int k = 0; k < soma_net_n_params(net); k++) { /* no zero gains or biases */
        soma_param *p = soma_net_param(net, k);
        if (p->ndim == 1) soma_rng_uniform_fill(&g, p->value, p->n, 0.5f, 1.5f);
    }
    tn_rng_set s;
    tn_rngs(net, &s, 0);
    soma_net_zero_grad(net);
    tn_fwd_(net, x, N, o->mode, &s);
    for (size_t i = 0; i < nx; i++) dx[i] = NAN;
    CHECK_OK(soma_net_backward_ex(net, r, N, SOMA_GRAD_PARAMS | SOMA_GRAD_INPUT, dx));
    double worst = 0, scale = 0;
    for (size_t i = 0; i < nx; i++) {
        num[i] = tn_diff_(net, x, N, o, &s, r, ny, &x[i]);
        scale = fmax(scale, fabs(num[i]));
    }
    for (size_t i = 0; i < nx; i++)
        worst = fmax(worst, isnan(dx[i]) ? INFINITY : tn_rel_err(dx[i], num[i], scale, o->floor));
    *worst_dx = worst;
    for (int k = 0; k < soma_net_n_params(net); k++) {
        soma_param *p = soma_net_param(net, k);
        double sc = 0, w = 0;
        size_t step = 1 + p->n / o->samples;
        for (size_t i = 0; i < p->n; i += step) sc = fmax(sc, fabs(p->grad[i]));
        for (size_t i = 0; i < p->n; i += step)
            w = fmax(w, tn_rel_err(p->grad[i], tn_diff_(net, x, N, o, &s, r, ny, &p->value[i]), sc, o->floor));
        if (w > 1e-2) fprintf(stderr, "%s: %s relative error %.3e\n", spec, soma_net_param_name(net, k), w);
        worst = fmax(worst, w);
    }
    *worst_all = worst;
    CHECK(worst <= 1e-2);
    soma_free(num);
    soma_free(x);
    soma_free(dx);
    soma_free(r);
    soma_net_free(net);
    return 1;
}

// --- a net after one full backward -------------------------------------------------------

/* net = spec (built with net_seed) on N inputs x ~ U(-1,1), then dy ~ N(0,1) (both drawn from
 * data_seed), after a training forward and a backward of both parts: dx holds the input
 * gradient, grads (nv values, the net's flat block) the parameter gradients. */
typedef struct tn_case {
    soma_net *net;
    float *x, *dy, *dx, *grads;
    size_t nx, ny, nv;
    int N;
} tn_case;

static inline void tn_case_free(tn_case *c) {
    soma_free(c->x);
    soma_free(c->dy);
    soma_free(c->dx);
    soma_net_free(c->net);
    memset(c, 0, sizeof *c);
}

/* Returns 0 (c released) when the net could not be built or memory ran out. */
static inline int tn_case_new(tn_case *c, const char *spec, soma_shape in, int N, uint64_t net_seed,
                              uint64_t data_seed) {
    memset(c, 0, sizeof *c);
    CHECK_OK(soma_net_new(&c->net, spec, in, net_seed));
    if (!c->net) return 0;
    c->N = N;
    c->nx = (size_t)N * soma_shape_size(in);
    c->ny = (size_t)N * soma_shape_size(soma_net_out_shape(c->net));
    c->x = soma_alloc(c->nx, sizeof *c->x);
    c->dx = soma_alloc(c->nx, sizeof *c->dx);
    c->dy = soma_alloc(c->ny, sizeof *c->dy);
    CHECK(c->x && c->dx && c->dy);
    if (!c->x || !c->dx || !c->dy) {
        tn_case_free(c);
        return 0;
    }
    soma_rng g;
    soma_rng_seed(&g, data_seed, 0);
    soma_rng_uniform_fill(&g, c->x, c->nx, -1, 1);
    soma_rng_normal_fill(&g, c->dy, c->ny, 0, 1);
    const float *y;
    c->grads = soma_net_flat_grads(c->net, &c->nv);
    CHECK_OK(soma_net_forward(c->net, c->x, N, SOMA_MODE_TRAIN, &y));
    soma_net_zero_grad(c->net);
    CHECK_OK(soma_net_backward_ex(c->net, c->dy, N, SOMA_GRAD_PARAMS | SOMA_GRAD_INPUT, c->dx));
    return 1;
}

static inline int tn_all_zero(const float *v, size_t n) {
    int zero = 1;
    for (size_t i = 0; i < n; i++) zero &= v[i] == 0.f;
    return zero;
}

// --- clones ------------------------------------------------------------------------------

/* rep (a replica: clone(src, 1, 1)) and cp (a copy: clone(src, 0, 0)) compute src's outputs
 * on x in eval mode; after perturb(src) changes src's values, rep still follows src (it reads
 * src's values) and cp keeps its own (its outputs unchanged, now unlike src's). */
static inline void tn_check_clone_values(soma_net *src, soma_net *rep, soma_net *cp, const float *x, int N,
                                         void (*perturb)(soma_net *)) {
    size_t ny = (size_t)N * soma_shape_size(soma_net_out_shape(src));
    float *ys = soma_alloc(ny, sizeof *ys), *yr = soma_alloc(ny, sizeof *yr), *yc = soma_alloc(ny, sizeof *yc);
    const float *y;
    CHECK_OK(soma_net_forward(src, x, N, SOMA_MODE_EVAL, &y));
    memcpy(ys, y, ny * sizeof *ys);
    CHECK_OK(soma_net_forward(rep, x, N, SOMA_MODE_EVAL, &y));
    memcpy(yr, y, ny * sizeof *yr);
    CHECK_OK(soma_net_forward(cp, x, N, SOMA_MODE_EVAL, &y));
    memcpy(yc, y, ny * sizeof *yc);
    CHECK(memcmp(ys, yr, ny * sizeof *ys) == 0 && memcmp(ys, yc, ny * sizeof *ys) == 0);
    perturb(src);
    CHECK_OK(soma_net_forward(src, x, N, SOMA_MODE_EVAL, &y));
    memcpy(ys, y, ny * sizeof *ys);
    CHECK_OK(soma_net_forward(rep, x, N, SOMA_MODE_EVAL, &y));
    CHECK(memcmp(ys, y, ny * sizeof *ys) == 0);
    CHECK_OK(soma_net_forward(cp, x, N, SOMA_MODE_EVAL, &y));
    CHECK(memcmp(yc, y, ny * sizeof *yc) == 0 && memcmp(ys, y, ny * sizeof *ys) != 0);
    soma_free(ys);
    soma_free(yr);
    soma_free(yc);
}

/* Gradients of its own: with both zeroed, a forward (in mode) and backward of the replica rep
 * leave src's grads zero and give rep nonzero ones. Copies rep's output into y_rep. */
static inline void tn_check_replica_grads(soma_net *src, soma_net *rep, const float *x, const float *dy,
                                          int N, soma_mode mode, float *y_rep) {
    size_t nv;
    const float *y;
    soma_net_zero_grad(src);
    soma_net_zero_grad(rep);
    CHECK_OK(soma_net_forward(rep, x, N, mode, &y));
    memcpy(y_rep, y, (size_t)N * soma_shape_size(soma_net_out_shape(rep)) * sizeof *y_rep);
    CHECK_OK(soma_net_backward(rep, dy, N));
    float *gs = soma_net_flat_grads(src, &nv), *gr = soma_net_flat_grads(rep, NULL);
    int nonzero = 0;
    for (size_t i = 0; i < nv; i++) nonzero |= gr[i] != 0.f;
    CHECK(tn_all_zero(gs, nv) && nonzero);
}
#endif
