// The recurrent composite rec(SPEC): a cell built from existing layers, run over the time
// axis of a sequence [T,D] and trained by backpropagation through time.
//
//   h_{-1} = 0;   h_t = SPEC([x_t, h_{t-1}])   (D + H values in, H out);   y = [h_0 .. h_{T-1}]
//
// H is found by shape inference: the cell is set up on [D] (H = 0), then on [D + H] with the
// width it gave, until its output width stops changing; a cell whose output does not close
// (a width that depends on its input, a rank other than 1) is SOMA_ERR_SHAPE.
//
// Backward through time needs every step's activations and every sub-layer's per-step caches
// (dropout masks, layer-norm statistics, ...). Each layer kind keeps its caches in its impl
// for one forward call, so the cell is held T times: step 0 runs the cell itself (the one whose
// parameters the network carves and names "i.0.weight", as PyTorch's nn.Sequential), steps
// 1..T-1 run copies cloned from it at setup, with buffers and caches of their own allocated in
// reserve. The copies carry no parameters of their own: before each forward and backward their
// parameter records (value, grad, trainable, feedback) are pointed at the cell's, so gradients
// of every step accumulate into the cell's, and the dropout streams are handed from step to
// step so the cell draws from one stream as a single layer would. Nothing is allocated in
// forward or backward, and every sub-layer keeps the kernel contract unchanged.
#include <stdio.h>
#include <string.h>

#include "nn/internal.h"

typedef struct rec_impl {
    soma__chain cell;   /* step 0, and the parameters' owner */
    soma__chain *steps; /* [T-1] copies for steps 1..T-1 */
    int n_steps;        /* copies allocated (T-1 after setup) */
    int T, D, H;
    int max_n;
    float *z;  /* [T][max_n][D+H] each step's input [x_t, h_{t-1}], kept for backward */
    float *g;  /* [max_n][H] dL/dh_t: the output's gradient plus the carry from step t+1 */
    float *dz; /* [max_n][D+H] dL/d[x_t, h_{t-1}] */
} rec_impl;

static soma__chain *rec_chain_(rec_impl *r, int t) { return t == 0 ? &r->cell : &r->steps[t - 1]; }

static void rec_free_steps_(rec_impl *r) {
    for (int i = 0; i < r->n_steps; i++) soma__chain_free(&r->steps[i]);
    soma_free(r->steps);
    r->steps = NULL;
    r->n_steps = 0;
}

static void rec_free_buffers_(rec_impl *r) {
    soma_free(r->z);
    soma_free(r->g);
    soma_free(r->dz);
    r->z = r->g = r->dz = NULL;
    r->max_n = 0;
}

static void rec_destroy(soma_layer *l) {
    rec_impl *r = l->impl;
    if (!r) return;
    soma__chain_free(&r->cell);
    rec_free_steps_(r);
    rec_free_buffers_(r);
    soma_free(r);
    l->impl = NULL;
}

// --- copies that borrow the cell's parameters -------------------------------------------

/* Parameters of a layer and its sub-layers, counted depth first. */
static int count_params_(soma_layer *l) {
    int k = l->n_params;
    int nc = l->ops->n_children ? l->ops->n_children(l) : 0;
    for (int i = 0; i < nc; i++) k += count_params_(l->ops->child(l, i));
    return k;
}

/* dst (a step copy) takes src's parameter records, and with rng its dropout stream too. */
static void lend_(soma_layer *dst, soma_layer *src, int rng) {
    if (src->n_params) memcpy(dst->params, src->params, (size_t)src->n_params * sizeof *src->params);
    if (rng) dst->rng = src->rng;
    int nc = src->ops->n_children ? src->ops->n_children(src) : 0;
    for (int i = 0; i < nc; i++) lend_(dst->ops->child(dst, i), src->ops->child(src, i), rng);
}

/* The cell takes the stream back after a step copy drew from it. */
static void take_rng_(soma_layer *cell, soma_layer *step) {
    cell->rng = step->rng;
    int nc = cell->ops->n_children ? cell->ops->n_children(cell) : 0;
    for (int i = 0; i < nc; i++) take_rng_(cell->ops->child(cell, i), step->ops->child(step, i));
}

static void lend_chain_(soma__chain *dst, soma__chain *src, int rng) {
    for (int i = 0; i < src->n; i++) lend_(&dst->layers[i], &src->layers[i], rng);
}

// --- setup: the width H that closes the loop --------------------------------------------

static soma_status rec_setup(soma_layer *l) {
    rec_impl *r = l->impl;
    l->n_params = 0;
    rec_free_steps_(r);
    rec_free_buffers_(r);
    if (l->in.rank != 2)
        return soma_error(SOMA_ERR_SHAPE, "layer %s: wants a sequence [T,D], got %s", l->spec,
                          SOMA__SHAPE_STR(l->in));
    int T = l->in.d[0], D = l->in.d[1], H = 0, closed = 0;
    char who[300];
    snprintf(who, sizeof who, "%s cell", l->spec);
    for (int it = 0; it < 3 && !closed; it++) {
        SOMA_TRY(soma__chain_setup(&r->cell, soma_shape1(D + H), who));
        soma_shape o = r->cell.out;
        if (o.rank != 1)
            return soma_error(SOMA_ERR_SHAPE,
                              "layer %s: the cell maps [%d] to %s; it must give a vector [H] (the state)",
                              l->spec, D + H, SOMA__SHAPE_STR(o));
        if (o.d[0] == H) closed = 1;
        else H = o.d[0];
    }
    if (!closed)
        return soma_error(SOMA_ERR_SHAPE,
                          "layer %s: the cell's output width depends on its input ([%d] -> [%d]); "
                          "it must map [D+H] to [H] (end it with a layer of fixed width, e.g. fcH)",
                          l->spec, D + H, r->cell.out.d[0]);
    r->T = T, r->D = D, r->H = H;
    if (T > 1) {
        r->steps = soma_calloc((size_t)T - 1, sizeof *r->steps);
        if (!r->steps) return soma_error(SOMA_ERR_NOMEM, "layer %s: no memory for %d steps", l->spec, T);
        int want = 0;
        for (int i = 0; i < r->cell.n; i++) want += count_params_(&r->cell.layers[i]);
        for (int t = 0; t < T - 1; t++) {
            SOMA_TRY(soma__chain_clone(&r->cell, &r->steps[t]));
            r->n_steps = t + 1;
            SOMA_TRY(soma__chain_setup(&r->steps[t], soma_shape1(D + H), who));
            int got = 0;
            for (int i = 0; i < r->steps[t].n; i++) got += count_params_(&r->steps[t].layers[i]);
            if (got != want)
                return soma_error(SOMA_ERR_INTERNAL, "layer %s: step %d has %d parameters, the cell %d",
                                  l->spec, t + 1, got, want);
        }
    }
    l->out = soma_shape2(T, H);
    return SOMA_OK;
}

static void rec_init(soma_layer *l, soma_rng *rng) {
    rec_impl *r = l->impl;
    soma__chain_init(&r->cell, rng);
}

static soma_status rec_reserve(soma_layer *l, int max_n) {
    rec_impl *r = l->impl;
    for (int t = 0; t < r->T; t++) {
        soma_status st = soma__chain_reserve(rec_chain_(r, t), max_n);
        if (st != SOMA_OK) return soma_error_wrap(st, "layer %s step %d", l->spec, t);
    }
    if (max_n > r->max_n) {
        rec_free_buffers_(r);
        size_t Z = (size_t)r->D + (size_t)r->H, per = (size_t)max_n * Z;
        r->z = soma_alloc((size_t)r->T, per * sizeof(float));
        r->g = soma_alloc((size_t)max_n, (size_t)r->H * sizeof(float));
        r->dz = soma_alloc((size_t)max_n, Z * sizeof(float));
        if (!r->z || !r->g || !r->dz) {
            rec_free_buffers_(r);
            return soma_error(SOMA_ERR_NOMEM, "layer %s: no memory for %d steps of %d samples", l->spec,
                              r->T, max_n);
        }
        r->max_n = max_n;
    }
    l->max_n = max_n;
    return SOMA_OK;
}

// --- forward and backward through time --------------------------------------------------

/* x[n,T,D] -> y[n,T,H]. */
static void rec_forward(soma_layer *l, float *y, const float *x, int n, soma_mode mode) {
    rec_impl *r = l->impl;
    const int T = r->T, D = r->D, H = r->H;
    const size_t Z = (size_t)D + (size_t)H;
    const float *h = NULL; /* h_{t-1} [n,H], NULL at t = 0 */
    for (int t = 0; t < T; t++) {
        float *zt = r->z + (size_t)t * (size_t)r->max_n * Z;
        for (int i = 0; i < n; i++) {
            memcpy(zt + i * Z, x + ((size_t)i * T + t) * D, (size_t)D * sizeof *zt);
            if (h) memcpy(zt + i * Z + D, h + (size_t)i * H, (size_t)H * sizeof *zt);
            else memset(zt + i * Z + D, 0, (size_t)H * sizeof *zt);
        }
        soma__chain *c = rec_chain_(r, t);
        if (t) lend_chain_(c, &r->cell, 1);
        h = soma__chain_forward(c, zt, n, mode);
        if (t)
            for (int i = 0; i < c->n; i++) take_rng_(&r->cell.layers[i], &c->layers[i]);
        for (int i = 0; i < n; i++)
            memcpy(y + ((size_t)i * T + t) * H, h + (size_t)i * H, (size_t)H * sizeof *y);
    }
}

/* dy[n,T,H] -> dx[n,T,D] (may be NULL); the cell's parameter grads accumulate over the steps. */
static void rec_backward(soma_layer *l, float *dx, const float *dy, const float *x, const float *y,
                         int n) {
    (void)x;
    (void)y;
    rec_impl *r = l->impl;
    if (!dx && l->no_param_grads) return;
    const int T = r->T, D = r->D, H = r->H;
    const size_t Z = (size_t)D + (size_t)H;
    for (int t = T - 1; t >= 0; t--) {
        for (int i = 0; i < n; i++) {
            float *gi = r->g + (size_t)i * H;
            const float *dyi = dy + ((size_t)i * T + t) * H;
            if (t == T - 1) memcpy(gi, dyi, (size_t)H * sizeof *gi);
            else {
                const float *carry = r->dz + i * Z + D; /* dL/dh_t from step t+1 */
#pragma omp simd
                for (int k = 0; k < H; k++) gi[k] = dyi[k] + carry[k];
            }
        }
        soma__chain *c = rec_chain_(r, t);
        if (t) lend_chain_(c, &r->cell, 0); /* flags or feedback may have changed since forward */
        /* step 0's input gradient is wanted only for dx: h_{-1} is a constant */
        float *d = (t > 0 || dx) ? r->dz : NULL;
        soma__chain_backward(c, d, r->g, n, l->no_param_grads);
        if (dx)
            for (int i = 0; i < n; i++)
                memcpy(dx + ((size_t)i * T + t) * D, r->dz + i * Z, (size_t)D * sizeof *dx);
    }
}

// --- sub-layers, clones, parsing --------------------------------------------------------

static int rec_n_children(const soma_layer *l) { return ((const rec_impl *)l->impl)->cell.n; }
static soma_layer *rec_child(soma_layer *l, int i) { return &((rec_impl *)l->impl)->cell.layers[i]; }

static soma_status rec_clone(const soma_layer *src, soma_layer *dst) {
    const rec_impl *s = src->impl;
    rec_impl *r = soma_calloc(1, sizeof *r);
    if (!r) return SOMA_ERR_NOMEM;
    soma_status st = soma__chain_clone(&s->cell, &r->cell);
    if (st != SOMA_OK) {
        soma_free(r);
        return st;
    }
    dst->impl = r; /* the step copies and buffers come with setup and reserve */
    return SOMA_OK;
}

static const soma_layer_ops rec_ops = {
    .kind = "rec",
    .setup = rec_setup,
    .init = rec_init,
    .reserve = rec_reserve,
    .forward = rec_forward,
    .backward = rec_backward,
    .destroy = rec_destroy,
    .clone = rec_clone,
    .n_children = rec_n_children,
    .child = rec_child,
};

/* rec(SPEC): SPEC is a comma-separated chain (composites nest), no '|'. */
int soma__parse_rec(const char *tok, soma_layer *l) {
    if (strcmp(tok, "rec") == 0) {
        soma_error(SOMA_ERR_PARSE, "layer 'rec': want rec(SPEC), a cell such as rec(fc32,tanh)");
        return -1;
    }
    if (strncmp(tok, "rec(", 4) != 0) return 0;
    size_t len = strlen(tok);
    if (tok[len - 1] != ')') {
        soma_error(SOMA_ERR_PARSE, "layer '%s': want rec(SPEC) ending with ')'", tok);
        return -1;
    }
    const char *body = tok + 4, *end = tok + len - 1;
    int depth = 0;
    for (const char *p = body; p < end; p++) {
        if (*p == '(') depth++;
        else if (*p == ')' && --depth < 0) break;
        else if (*p == '|' && depth == 0) {
            soma_error(SOMA_ERR_PARSE, "layer '%s': rec takes one cell (no '|'); use rec(cat(A|B),...)", tok);
            return -1;
        }
    }
    if (depth != 0) {
        soma_error(SOMA_ERR_PARSE, "layer '%s': unbalanced parentheses", tok);
        return -1;
    }
    rec_impl *r = soma_calloc(1, sizeof *r);
    if (!r) {
        soma_error(SOMA_ERR_NOMEM, "layer '%s': no memory", tok);
        return -1;
    }
    l->ops = &rec_ops;
    l->impl = r;
    soma_status st = soma__chain_parse(&r->cell, body, (size_t)(end - body));
    if (st != SOMA_OK) {
        soma_error_wrap(st, "layer '%s' cell", tok);
        rec_destroy(l);
        l->ops = NULL;
        return -1;
    }
    return 1;
}
