// Networks as graphs: the layer chain (the body of soma_net and of every composite), the
// composite kinds res(...) and cat(...|...), and the time-axis kinds tmean, tsum, repeatT.
#include <stdio.h>
#include <string.h>

#include "nn/internal.h"

// --- chain -----------------------------------------------------------------------------

soma_status soma__chain_add(soma__chain *c, const soma_layer *l) {
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 8;
        soma_layer *nl = soma_calloc((size_t)cap, sizeof *nl);
        if (!nl) {
            soma_layer tmp = *l; /* ownership came with the call: release, never leak */
            soma_layer_release(&tmp);
            return soma_error(SOMA_ERR_NOMEM, "net: no memory for %d layers", cap);
        }
        if (c->layers) memcpy(nl, c->layers, (size_t)c->n * sizeof *nl);
        soma_free(c->layers);
        c->layers = nl;
        c->cap = cap;
    }
    c->layers[c->n++] = *l;
    return SOMA_OK;
}

/* The end of the token starting at p: the next ',' (or `stop`) outside parentheses. */
static const char *token_end_(const char *p, const char *end, char stop, int *bad) {
    int depth = 0;
    *bad = 0;
    for (; p < end; p++) {
        if (*p == '(') depth++;
        else if (*p == ')') {
            if (--depth < 0) break;
        } else if (depth == 0 && (*p == ',' || *p == stop)) return p;
    }
    if (depth != 0) *bad = 1;
    return p;
}

soma_status soma__chain_parse(soma__chain *c, const char *spec, size_t len) {
    const char *p = spec, *end = spec + len;
    int pos = 0;
    if (len == 0) return soma_error(SOMA_ERR_PARSE, "net: empty spec");
    for (;;) {
        while (p < end && *p == ' ') p++;
        int bad;
        const char *e = token_end_(p, end, '\0', &bad);
        if (bad || (e < end && *e == ')'))
            return soma_error(SOMA_ERR_PARSE, "net: unbalanced parentheses in '%.*s'", (int)len, spec);
        const char *te = e;
        while (te > p && te[-1] == ' ') te--;
        size_t tl = (size_t)(te - p);
        if (tl == 0)
            return soma_error(SOMA_ERR_PARSE, "net: empty layer at position %d in '%.*s'", pos,
                              (int)len, spec);
        char tok[sizeof ((soma_layer *)0)->spec];
        if (tl >= sizeof tok)
            return soma_error(SOMA_ERR_PARSE, "net: layer %d '%.20s...' is too long", pos, p);
        memcpy(tok, p, tl);
        tok[tl] = '\0';
        soma_layer l;
        soma_status st = soma_layer_parse(tok, &l);
        if (st != SOMA_OK) return soma_error_wrap(st, "net: layer %d", pos);
        SOMA_TRY(soma__chain_add(c, &l));
        pos++;
        if (e >= end) break;
        p = e + 1;
        if (p >= end)
            return soma_error(SOMA_ERR_PARSE, "net: spec '%.*s' ends with a comma", (int)len, spec);
    }
    return SOMA_OK;
}

soma_status soma__chain_setup(soma__chain *c, soma_shape in, const char *who) {
    if (c->n == 0) return soma_error(SOMA_ERR_PARSE, "%s: no layers", who);
    soma_shape cur = in;
    c->in = in;
    for (int i = 0; i < c->n; i++) {
        soma_layer *l = &c->layers[i];
        l->in = cur;
        l->n_params = 0;
        soma_status st = l->ops->setup(l);
        if (st != SOMA_OK)
            return soma_error_wrap(st, "%s: layer %d '%s' on input %s", who, i, l->spec,
                                   SOMA__SHAPE_STR(cur));
        if (!soma_shape_ok(l->out))
            return soma_error(SOMA_ERR_SHAPE, "%s: layer %d '%s' has an empty or huge output %s",
                              who, i, l->spec, SOMA__SHAPE_STR(l->out));
        cur = l->out;
    }
    c->out = cur;
    return SOMA_OK;
}

void soma__chain_init(soma__chain *c, soma_rng *rng) {
    for (int i = 0; i < c->n; i++)
        if (c->layers[i].ops->init) c->layers[i].ops->init(&c->layers[i], rng);
}

static void chain_free_buffers_(soma__chain *c) {
    if (c->act)
        for (int i = 1; i <= c->n; i++) soma_free(c->act[i]);
    soma_free(c->act);
    soma_free(c->act_in);
    soma_free(c->dbuf[0]);
    soma_free(c->dbuf[1]);
    c->act = NULL;
    c->act_in = NULL;
    c->dbuf[0] = c->dbuf[1] = NULL;
    c->max_n = 0;
}

soma_status soma__chain_reserve(soma__chain *c, int max_n) {
    if (max_n <= c->max_n) return SOMA_OK;
    chain_free_buffers_(c);
    int L = c->n;
    c->act = soma_calloc((size_t)L + 1, sizeof *c->act);
    c->act_in = soma_calloc((size_t)L + 1, sizeof *c->act_in);
    if (!c->act || !c->act_in) return soma_error(SOMA_ERR_NOMEM, "net: no memory for activations");
    size_t biggest = soma_shape_size(c->in);
    for (int i = 0; i < L; i++) {
        size_t sz = soma_shape_size(c->layers[i].out);
        if (sz > biggest) biggest = sz;
        c->act[i + 1] = soma_alloc((size_t)max_n, sz * sizeof(float));
        if (!c->act[i + 1]) return soma_error(SOMA_ERR_NOMEM, "net: no memory for activations");
    }
    for (int b = 0; b < 2; b++) {
        c->dbuf[b] = soma_alloc((size_t)max_n, biggest * sizeof(float));
        if (!c->dbuf[b]) return soma_error(SOMA_ERR_NOMEM, "net: no memory for gradients");
    }
    for (int i = 0; i < L; i++) {
        soma_layer *l = &c->layers[i];
        if (l->ops->reserve) {
            soma_status st = l->ops->reserve(l, max_n);
            if (st != SOMA_OK) return soma_error_wrap(st, "net: layer %d '%s'", i, l->spec);
        }
        l->max_n = max_n;
    }
    c->max_n = max_n;
    return SOMA_OK;
}

const float *soma__chain_forward(soma__chain *c, const float *x, int n, soma_mode mode) {
    c->act_in[0] = x;
    for (int i = 0; i < c->n; i++) {
        soma_layer *l = &c->layers[i];
        l->ops->forward(l, c->act[i + 1], c->act_in[i], n, mode);
        c->act_in[i + 1] = c->act[i + 1];
    }
    return c->act[c->n];
}

void soma__chain_backward(soma__chain *c, float *dx, const float *dy, int n, int no_param_grads) {
    int lo = 0;
    if (!dx) { /* nobody wants dx: stop at the lowest layer that leads to a trainable one */
        lo = c->n;
        for (int i = 0; i < c->n; i++)
            if (soma_layer_trainable(&c->layers[i])) {
                lo = i;
                break;
            }
        if (no_param_grads) lo = c->n;
    }
    const float *g = dy;
    int which = 0;
    for (int i = c->n - 1; i >= lo; i--) {
        soma_layer *l = &c->layers[i];
        float *d = i > lo ? c->dbuf[which] : dx;
        l->no_param_grads = no_param_grads;
        l->ops->backward(l, d, g, c->act_in[i], c->act_in[i + 1], n);
        if (c->after_layer && !no_param_grads) c->after_layer(c->after_user, i);
        g = d;
        which ^= 1;
    }
}

void soma__chain_free(soma__chain *c) {
    for (int i = 0; i < c->n; i++) soma_layer_release(&c->layers[i]);
    chain_free_buffers_(c);
    soma_free(c->layers);
    memset(c, 0, sizeof *c);
}

soma_status soma__impl_copy(const soma_layer *src, soma_layer *dst, size_t size) {
    void *p = soma_alloc(1, size);
    if (!p) return SOMA_ERR_NOMEM;
    memcpy(p, src->impl, size);
    dst->impl = p;
    return SOMA_OK;
}

void soma__impl_free(soma_layer *l) {
    soma_free(l->impl);
    l->impl = NULL;
}

soma_status soma__layer_clone(const soma_layer *src, soma_layer *dst) {
    *dst = *src;
    dst->impl = NULL;
    dst->params = NULL;
    dst->n_params = dst->cap_params = 0;
    dst->max_n = 0;
    dst->no_param_grads = 0;
    if (!src->impl) return SOMA_OK;
    if (!src->ops->clone)
        return soma_error(SOMA_ERR_ARG, "net clone: layer kind '%s' ('%s') cannot be cloned",
                          src->ops->kind, src->spec);
    soma_status st = src->ops->clone(src, dst);
    if (st != SOMA_OK) {
        dst->impl = NULL;
        return soma_error_wrap(st, "net clone: layer '%s'", src->spec);
    }
    return SOMA_OK;
}

soma_status soma__chain_clone(const soma__chain *src, soma__chain *dst) {
    memset(dst, 0, sizeof *dst);
    for (int i = 0; i < src->n; i++) {
        soma_layer l;
        soma_status st = soma__layer_clone(&src->layers[i], &l);
        if (st == SOMA_OK) st = soma__chain_add(dst, &l);
        if (st != SOMA_OK) {
            soma__chain_free(dst);
            return st;
        }
    }
    dst->in = src->in;
    dst->out = src->out;
    return SOMA_OK;
}

// --- composites: res(...) and cat(...|...) ---------------------------------------------

typedef struct graph_impl {
    int is_cat;      /* 0 res, 1 cat, 2 seq */
    int n_br;
    soma__chain *br; /* [n_br] branches */
    /* cat only */
    int steps;       /* rows per sample (T of a sequence, else 1) */
    size_t *row;     /* [n_br] values per row of each branch's output */
    size_t row_out;  /* sum of row[] */
    float **dyb;     /* [n_br] [max_n, branch out]: dy split by branch */
    float *dxs;      /* [max_n, in]: a branch's dx before it is summed */
    struct graph_seq *seqs; /* [n_br] the branches as pseudo-layers (graph_child) */
} graph_impl;

static void graph_destroy(soma_layer *l) {
    graph_impl *g = l->impl;
    if (!g) return;
    for (int b = 0; b < g->n_br; b++) {
        soma__chain_free(&g->br[b]);
        if (g->dyb) soma_free(g->dyb[b]);
    }
    soma_free(g->br);
    soma_free(g->row);
    soma_free(g->dyb);
    soma_free(g->dxs);
    soma_free(g->seqs);
    soma_free(g);
    l->impl = NULL;
}

static soma_status graph_setup(soma_layer *l) {
    graph_impl *g = l->impl;
    char who[300];
    for (int b = 0; b < g->n_br; b++) {
        snprintf(who, sizeof who, "%s branch %d", l->spec, b);
        SOMA_TRY(soma__chain_setup(&g->br[b], l->in, who));
    }
    l->n_params = 0;
    if (g->is_cat == 2) { /* seq: the branch's output as it is */
        l->out = g->br[0].out;
        return SOMA_OK;
    }
    if (!g->is_cat) {
        if (!soma_shape_eq(g->br[0].out, l->in))
            return soma_error(SOMA_ERR_SHAPE,
                              "layer %s: the residual branch maps %s to %s; it must keep the shape",
                              l->spec, SOMA__SHAPE_STR(l->in), SOMA__SHAPE_STR(g->br[0].out));
        l->out = l->in;
        return SOMA_OK;
    }
    /* cat: the feature axis is the first axis of one time step's shape */
    soma_shape o = g->br[0].out;
    g->steps = soma__steps(o);
    g->row_out = 0;
    int feat = 0;
    for (int b = 0; b < g->n_br; b++) {
        soma_shape s = g->br[b].out;
        int ok = s.rank == o.rank;
        for (int i = 0; ok && i < s.rank; i++) {
            int axis = s.rank == 2 || s.rank == 4 ? 1 : 0;
            if (i != axis && s.d[i] != o.d[i]) ok = 0;
        }
        if (!ok)
            return soma_error(SOMA_ERR_SHAPE,
                              "layer %s: branch outputs %s and %s differ off the feature axis",
                              l->spec, SOMA__SHAPE_STR(o), SOMA__SHAPE_STR(s));
        g->row[b] = soma_shape_size(soma__step_shape(s));
        g->row_out += g->row[b];
        feat += (s.rank == 2 || s.rank == 4) ? s.d[1] : s.d[0];
    }
    if (o.rank == 2 || o.rank == 4) o.d[1] = feat;
    else o.d[0] = feat;
    l->out = o;
    return SOMA_OK;
}

static void graph_init(soma_layer *l, soma_rng *rng) {
    graph_impl *g = l->impl;
    for (int b = 0; b < g->n_br; b++) soma__chain_init(&g->br[b], rng);
}

static soma_status graph_reserve(soma_layer *l, int max_n) {
    graph_impl *g = l->impl;
    for (int b = 0; b < g->n_br; b++) SOMA_TRY(soma__chain_reserve(&g->br[b], max_n));
    if (g->is_cat == 1) {
        for (int b = 0; b < g->n_br; b++) {
            soma_free(g->dyb[b]);
            g->dyb[b] = soma_alloc((size_t)max_n, soma_shape_size(g->br[b].out) * sizeof(float));
            if (!g->dyb[b]) return soma_error(SOMA_ERR_NOMEM, "layer %s: no memory", l->spec);
        }
        soma_free(g->dxs);
        g->dxs = soma_alloc((size_t)max_n, soma_shape_size(l->in) * sizeof(float));
        if (!g->dxs) return soma_error(SOMA_ERR_NOMEM, "layer %s: no memory", l->spec);
    }
    l->max_n = max_n;
    return SOMA_OK;
}

static void graph_forward(soma_layer *l, float *y, const float *x, int n, soma_mode mode) {
    graph_impl *g = l->impl;
    if (g->is_cat == 2) {
        const float *b = soma__chain_forward(&g->br[0], x, n, mode);
        const size_t total = (size_t)n * soma_shape_size(l->out);
#pragma omp parallel if (total >= ((size_t)1 << 16))
        {
            size_t lo, hi;
            soma__split(total, &lo, &hi);
            memcpy(y + lo, b + lo, (hi - lo) * sizeof *y);
        }
        return;
    }
    if (!g->is_cat) {
        const float *b = soma__chain_forward(&g->br[0], x, n, mode);
        size_t total = (size_t)n * soma_shape_size(l->in);
#pragma omp parallel for simd schedule(static) if (total >= ((size_t)1 << 16))
        for (size_t i = 0; i < total; i++) y[i] = x[i] + b[i];
        return;
    }
    size_t rows = (size_t)n * (size_t)g->steps, off = 0;
    for (int b = 0; b < g->n_br; b++) {
        const float *o = soma__chain_forward(&g->br[b], x, n, mode);
        size_t rb = g->row[b];
        for (size_t r = 0; r < rows; r++) memcpy(y + r * g->row_out + off, o + r * rb, rb * sizeof *y);
        off += rb;
    }
}

static void graph_backward(soma_layer *l, float *dx, const float *dy, const float *x,
                           const float *y, int n) {
    (void)x;
    (void)y;
    graph_impl *g = l->impl;
    size_t nin = (size_t)n * soma_shape_size(l->in);
    if (g->is_cat == 2) {
        soma__chain_backward(&g->br[0], dx, dy, n, l->no_param_grads);
        return;
    }
    if (!g->is_cat) {
        soma__chain_backward(&g->br[0], dx, dy, n, l->no_param_grads);
        if (dx) {
#pragma omp parallel for simd schedule(static) if (nin >= ((size_t)1 << 16))
            for (size_t i = 0; i < nin; i++) dx[i] += dy[i];
        }
        return;
    }
    size_t rows = (size_t)n * (size_t)g->steps, off = 0;
    int first = 1;
    for (int b = 0; b < g->n_br; b++) {
        size_t rb = g->row[b];
        for (size_t r = 0; r < rows; r++)
            memcpy(g->dyb[b] + r * rb, dy + r * g->row_out + off, rb * sizeof *dy);
        off += rb;
        float *d = !dx ? NULL : first ? dx : g->dxs;
        soma__chain_backward(&g->br[b], d, g->dyb[b], n, l->no_param_grads);
        if (dx && !first) {
#pragma omp simd
            for (size_t i = 0; i < nin; i++) dx[i] += g->dxs[i];
        }
        first = 0;
    }
}

/* Children: a residual's branch layers directly ("2.1.weight"); a concatenation's branches
 * as pseudo-layers of kind "seq" ("2.0.1.weight"). */
typedef struct seq_impl {
    soma__chain *c; /* borrowed from the cat's impl */
} seq_impl;
static int seq_n_children(const soma_layer *l) { return ((const seq_impl *)l->impl)->c->n; }
static soma_layer *seq_child(soma_layer *l, int i) { return &((seq_impl *)l->impl)->c->layers[i]; }
static soma_status seq_setup(soma_layer *l) {
    (void)l;
    return soma_error(SOMA_ERR_INTERNAL, "seq: not a layer of its own");
}
static void seq_forward(soma_layer *l, float *y, const float *x, int n, soma_mode m) {
    (void)l, (void)y, (void)x, (void)n, (void)m;
}
static void seq_backward(soma_layer *l, float *dx, const float *dy, const float *x,
                         const float *y, int n) {
    (void)l, (void)dx, (void)dy, (void)x, (void)y, (void)n;
}
static const soma_layer_ops seq_ops = {
    .kind = "seq",
    .setup = seq_setup,
    .forward = seq_forward,
    .backward = seq_backward,
    .n_children = seq_n_children,
    .child = seq_child,
};

static int graph_n_children(const soma_layer *l) {
    const graph_impl *g = l->impl;
    return g->is_cat == 1 ? g->n_br : g->br[0].n;
}

/* The pseudo-layers of a cat are made on demand in a small per-impl table. */
typedef struct graph_seq {
    soma_layer layer;
    seq_impl impl;
} graph_seq;

static soma_layer *graph_child(soma_layer *l, int i) {
    graph_impl *g = l->impl;
    if (g->is_cat != 1) return &g->br[0].layers[i];
    graph_seq *s = g->seqs;
    s[i].impl.c = &g->br[i];
    memset(&s[i].layer, 0, sizeof s[i].layer);
    s[i].layer.ops = &seq_ops;
    s[i].layer.impl = &s[i].impl;
    snprintf(s[i].layer.spec, sizeof s[i].layer.spec, "branch%d", i);
    return &s[i].layer;
}

static graph_impl *graph_alloc_(int is_cat, int n_br) {
    graph_impl *g = soma_calloc(1, sizeof *g);
    if (!g) return NULL;
    g->is_cat = is_cat;
    g->n_br = n_br;
    g->br = soma_calloc((size_t)n_br, sizeof *g->br);
    g->row = soma_calloc((size_t)n_br, sizeof *g->row);
    g->dyb = soma_calloc((size_t)n_br, sizeof *g->dyb);
    g->seqs = soma_calloc((size_t)n_br, sizeof *g->seqs);
    if (!g->br || !g->row || !g->dyb || !g->seqs) {
        soma_free(g->br);
        soma_free(g->row);
        soma_free(g->dyb);
        soma_free(g->seqs);
        soma_free(g);
        return NULL;
    }
    return g;
}

static soma_status graph_clone(const soma_layer *src, soma_layer *dst) {
    const graph_impl *s = src->impl;
    graph_impl *g = graph_alloc_(s->is_cat, s->n_br);
    if (!g) return SOMA_ERR_NOMEM;
    dst->impl = g;
    for (int b = 0; b < s->n_br; b++) {
        soma_status st = soma__chain_clone(&s->br[b], &g->br[b]);
        if (st != SOMA_OK) {
            graph_destroy(dst);
            return st;
        }
    }
    return SOMA_OK;
}

/* res, cat and seq differ only in graph_impl.is_cat: one table, three kinds. */
#define GRAPH_OPS(name)                                                                        \
    {                                                                                          \
        .kind = name, .setup = graph_setup, .init = graph_init, .reserve = graph_reserve,      \
        .forward = graph_forward, .backward = graph_backward, .destroy = graph_destroy,        \
        .clone = graph_clone, .n_children = graph_n_children, .child = graph_child             \
    }
static const soma_layer_ops graph_ops[3] = {GRAPH_OPS("res"), GRAPH_OPS("cat"), GRAPH_OPS("seq")};

/* res(SPEC), seq(SPEC) and cat(SPEC|SPEC|...): the body between the outer parentheses is one
 * spec per branch, branches split at '|' outside nested parentheses. seq(SPEC) is SPEC as one
 * layer (an nn.Sequential): what a macro token such as an attention block expands to. */
int soma__parse_graph(const char *tok, soma_layer *l) {
    int is_cat;
    if (strncmp(tok, "res(", 4) == 0) is_cat = 0;
    else if (strncmp(tok, "cat(", 4) == 0) is_cat = 1;
    else if (strncmp(tok, "seq(", 4) == 0) is_cat = 2;
    else if (strcmp(tok, "res") == 0 || strcmp(tok, "cat") == 0 || strcmp(tok, "seq") == 0) {
        soma_error(SOMA_ERR_PARSE, "layer '%s': want %s(SPEC%s)", tok, tok, tok[0] == 'c' ? "|SPEC" : "");
        return -1;
    } else
        return 0;
    size_t len = strlen(tok);
    if (tok[len - 1] != ')') {
        soma_error(SOMA_ERR_PARSE, "layer '%s': want %s(...) ending with ')'", tok,
                   is_cat == 1 ? "cat" : is_cat ? "seq" : "res");
        return -1;
    }
    const char *body = tok + 4, *end = tok + len - 1;
    /* count the branches */
    int n_br = 1, depth = 0;
    for (const char *p = body; p < end; p++) {
        if (*p == '(') depth++;
        else if (*p == ')') {
            if (--depth < 0) break;
        } else if (*p == '|' && depth == 0) n_br++;
    }
    if (depth != 0) {
        soma_error(SOMA_ERR_PARSE, "layer '%s': unbalanced parentheses", tok);
        return -1;
    }
    if (is_cat != 1 && n_br != 1) {
        soma_error(SOMA_ERR_PARSE, "layer '%s': %s takes one branch (no '|'); use cat(A|B)", tok,
                   is_cat ? "seq" : "res");
        return -1;
    }
    graph_impl *g = graph_alloc_(is_cat, n_br);
    if (!g) return -1;
    l->ops = &graph_ops[is_cat];
    l->impl = g;
    const char *p = body;
    for (int b = 0; b < n_br; b++) {
        const char *e = p;
        depth = 0;
        while (e < end && !(depth == 0 && *e == '|')) {
            if (*e == '(') depth++;
            else if (*e == ')') depth--;
            e++;
        }
        soma_status st = soma__chain_parse(&g->br[b], p, (size_t)(e - p));
        if (st != SOMA_OK) {
            soma_error_wrap(st, "layer '%s' branch %d", tok, b);
            graph_destroy(l);
            return -1;
        }
        p = e + 1;
    }
    return 1;
}

// --- time axis: tmean, tsum, repeatT ---------------------------------------------------

typedef struct time_impl {
    int kind;  /* 0 mean, 1 sum, 2 repeat */
    int steps; /* T */
} time_impl;

static soma_status time_setup(soma_layer *l) {
    time_impl *t = l->impl;
    l->n_params = 0;
    if (t->kind < 2) {
        if (l->in.rank != 2 && l->in.rank != 4)
            return soma_error(SOMA_ERR_SHAPE, "layer %s: wants a sequence [T,D] or [T,C,H,W], got %s",
                              l->spec, SOMA__SHAPE_STR(l->in));
        t->steps = l->in.d[0];
        l->out = soma__step_shape(l->in);
        return SOMA_OK;
    }
    if (l->in.rank == 1) l->out = soma_shape2(t->steps, l->in.d[0]);
    else if (l->in.rank == 3) l->out = soma_shape4(t->steps, l->in.d[0], l->in.d[1], l->in.d[2]);
    else
        return soma_error(SOMA_ERR_SHAPE,
                          "layer %s: repeats a vector [D] or an image [C,H,W] over time, got %s "
                          "(already a sequence)",
                          l->spec, SOMA__SHAPE_STR(l->in));
    return SOMA_OK;
}

/* y[n,S] = sum over k of x[n,T,S]: tsum's (and tmean's) forward, repeat's backward. */
static void sum_steps_(float *y, const float *x, int n, int T, size_t S) {
    for (int i = 0; i < n; i++) {
        float *yr = y + (size_t)i * S;
        const float *xr = x + (size_t)i * T * S;
        memcpy(yr, xr, S * sizeof *yr);
        for (int k = 1; k < T; k++) {
            const float *xk = xr + (size_t)k * S;
#pragma omp simd
            for (size_t j = 0; j < S; j++) yr[j] += xk[j];
        }
    }
}

/* mean/sum: y[n,S] = s * sum_t x[n,t,S]; repeat: y[n,t,S] = x[n,S]. */
static void time_forward(soma_layer *l, float *y, const float *x, int n, soma_mode mode) {
    (void)mode;
    const time_impl *t = l->impl;
    int T = t->steps;
    if (t->kind < 2) {
        size_t S = soma_shape_size(l->out);
        float s = t->kind == 0 ? 1.f / (float)T : 1.f;
        sum_steps_(y, x, n, T, S);
        if (t->kind == 0)
            for (size_t j = 0; j < (size_t)n * S; j++) y[j] *= s;
        return;
    }
    size_t S = soma_shape_size(l->in);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < T; k++)
            memcpy(y + ((size_t)i * T + k) * S, x + (size_t)i * S, S * sizeof *y);
}

static void time_backward(soma_layer *l, float *dx, const float *dy, const float *x,
                          const float *y, int n) {
    (void)x;
    (void)y;
    if (!dx) return;
    const time_impl *t = l->impl;
    int T = t->steps;
    if (t->kind < 2) {
        size_t S = soma_shape_size(l->out);
        float s = t->kind == 0 ? 1.f / (float)T : 1.f;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < T; k++) {
                float *d = dx + ((size_t)i * T + k) * S;
                const float *g = dy + (size_t)i * S;
#pragma omp simd
                for (size_t j = 0; j < S; j++) d[j] = s * g[j];
            }
        return;
    }
    sum_steps_(dx, dy, n, T, soma_shape_size(l->in)); /* repeat: the copies' gradients add up */
}

static soma_status time_clone(const soma_layer *src, soma_layer *dst) {
    return soma__impl_copy(src, dst, sizeof(time_impl));
}

#define TIME_OPS(name)                                                                         \
    {                                                                                          \
        .kind = name, .setup = time_setup, .forward = time_forward, .backward = time_backward,  \
        .destroy = soma__impl_free, .clone = time_clone                                         \
    }
static const soma_layer_ops time_ops[3] = {TIME_OPS("tmean"), TIME_OPS("tsum"), TIME_OPS("repeat")};

int soma__parse_time(const char *tok, soma_layer *l) {
    int kind, steps = 0;
    if (strcmp(tok, "tmean") == 0) kind = 0;
    else if (strcmp(tok, "tsum") == 0) kind = 1;
    else if (strncmp(tok, "repeat", 6) == 0) {
        kind = 2;
        const char *s = tok + 6;
        steps = soma__parse_uint(&s);
        if (steps < 1 || steps > 1 << 20 || *s) {
            soma_error(SOMA_ERR_PARSE, "layer '%s': want repeatT with T >= 1 time steps (e.g. repeat8)",
                       tok);
            return -1;
        }
    } else
        return 0;
    time_impl *t = soma_alloc(1, sizeof *t);
    if (!t) return -1;
    t->kind = kind;
    t->steps = steps;
    l->ops = &time_ops[kind];
    l->impl = t;
    return 1;
}
