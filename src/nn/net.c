// Sequential networks: spec parsing, shape inference, one carved parameter block,
// activation buffers, forward and backward.
#include <stdio.h>
#include <string.h>

#include "nn/internal.h"

struct soma_net {
    char *spec; /* the layers' tokens joined, built by soma_net_build */
    soma_shape in;
    uint64_t seed;
    soma__chain chain;
    int built;
    /* every parameter's value and grad, carved from two blocks */
    float *values, *grads;
    size_t n_values;
    soma_param **params;
    int *param_layer;
    char *param_names; /* [n_params][SOMA__PATH] */
    int n_params;
    int values_borrowed; /* a replica: values belong to another net */
};

#define SOMA__PATH 96

soma_status soma_net_new_empty(soma_net **out, soma_shape in, uint64_t seed) {
    *out = NULL;
    if (!soma_shape_ok(in))
        return soma_error(SOMA_ERR_SHAPE, "net: input shape %s is not a positive shape of rank 1..%d (or is too large)",
                          SOMA__SHAPE_STR(in), SOMA_SHAPE_RANK);
    soma_net *net = soma_calloc(1, sizeof *net);
    if (!net) return SOMA_ERR_NOMEM;
    net->in = in;
    net->seed = seed;
    *out = net;
    return SOMA_OK;
}

soma_status soma_net_add(soma_net *net, const soma_layer *l) {
    if (net->built) {
        soma_layer tmp = *l; /* the layer came with the call: release it, never leave it twice owned */
        soma_layer_release(&tmp);
        return soma_error(SOMA_ERR_ARG, "net: cannot add layers after build");
    }
    return soma__chain_add(&net->chain, l);
}

/* Walks every parameter depth first: pass 0 counts, pass 1 carves and names. */
typedef struct walk_ {
    soma_net *net;
    int pass, k;
    size_t off;
} walk_;

static void walk_params_(walk_ *w, soma_layer *l, int top, const char *prefix) {
    soma_net *net = w->net;
    for (int p = 0; p < l->n_params; p++) {
        soma_param *q = &l->params[p];
        size_t slot = (q->n + 15) & ~(size_t)15; /* 64-byte aligned slices */
        if (w->pass == 1) {
            q->value = net->values + w->off;
            q->grad = net->grads + w->off;
            net->params[w->k] = q;
            net->param_layer[w->k] = top;
            snprintf(net->param_names + (size_t)w->k * SOMA__PATH, SOMA__PATH, "%s%s", prefix, q->name);
        }
        w->off += slot;
        w->k++;
    }
    int nc = l->ops->n_children ? l->ops->n_children(l) : 0;
    for (int i = 0; i < nc; i++) {
        char sub[SOMA__PATH];
        snprintf(sub, sizeof sub, "%s%d.", prefix, i);
        walk_params_(w, l->ops->child(l, i), top, sub);
    }
}

/* Dropout streams: top-level layer i draws from stream 1000+i (as always); sub-layers from
 * 50000 + their depth-first number; replica k adds 100000*k. */
static void seed_children_(soma_layer *l, uint64_t seed, uint64_t k, int *counter) {
    int nc = l->ops->n_children ? l->ops->n_children(l) : 0;
    for (int i = 0; i < nc; i++) {
        soma_layer *c = l->ops->child(l, i);
        soma_rng_seed(&c->rng, seed, 50000u + (uint64_t)(*counter)++ + 100000u * k);
        seed_children_(c, seed, k, counter);
    }
}

static void seed_layers_(soma_net *net, uint64_t k) {
    int counter = 0;
    for (int i = 0; i < net->chain.n; i++) {
        soma_layer *l = &net->chain.layers[i];
        soma_rng_seed(&l->rng, net->seed, 1000u + (uint64_t)i + 100000u * k);
        seed_children_(l, net->seed, k, &counter);
    }
}

static soma_status build_spec_(soma_net *net) {
    size_t len = 1;
    for (int i = 0; i < net->chain.n; i++) len += strlen(net->chain.layers[i].spec) + 1;
    char *s = soma_alloc(len, 1);
    if (!s) return soma_error(SOMA_ERR_NOMEM, "net: no memory for the spec");
    size_t o = 0;
    for (int i = 0; i < net->chain.n; i++) {
        size_t a = strlen(net->chain.layers[i].spec);
        if (i) s[o++] = ',';
        memcpy(s + o, net->chain.layers[i].spec, a);
        o += a;
    }
    s[o] = '\0';
    soma_free(net->spec);
    net->spec = s;
    return SOMA_OK;
}

soma_status soma_net_build(soma_net *net) {
    if (net->built) return SOMA_OK;
    if (net->chain.n == 0) return soma_error(SOMA_ERR_PARSE, "net: no layers");
    SOMA_TRY(soma__chain_setup(&net->chain, net->in, "net"));
    SOMA_TRY(build_spec_(net));
    walk_ w = {net, 0, 0, 0};
    for (int i = 0; i < net->chain.n; i++) walk_params_(&w, &net->chain.layers[i], i, "");
    size_t total = w.off;
    int np = w.k;
    net->values = soma_calloc(total ? total : 1, sizeof(float));
    net->grads = soma_calloc(total ? total : 1, sizeof(float));
    net->params = soma_calloc((size_t)(np ? np : 1), sizeof *net->params);
    net->param_layer = soma_calloc((size_t)(np ? np : 1), sizeof *net->param_layer);
    net->param_names = soma_calloc((size_t)(np ? np : 1), SOMA__PATH);
    if (!net->values || !net->grads || !net->params || !net->param_layer || !net->param_names)
        return soma_error(SOMA_ERR_NOMEM, "net: no memory for %zu parameters", total);
    net->n_values = total;
    w = (walk_){net, 1, 0, 0};
    for (int i = 0; i < net->chain.n; i++) {
        char pre[16];
        snprintf(pre, sizeof pre, "%d.", i);
        walk_params_(&w, &net->chain.layers[i], i, pre);
    }
    net->n_params = np;
    seed_layers_(net, 0);
    soma_rng init;
    soma_rng_seed(&init, net->seed, 0);
    soma__chain_init(&net->chain, &init);
    net->built = 1;
    return SOMA_OK;
}

soma_status soma_net_new(soma_net **out, const char *spec, soma_shape in, uint64_t seed) {
    *out = NULL;
    if (!spec) return soma_error(SOMA_ERR_PARSE, "net: no spec");
    while (*spec == ' ') spec++;
    if (*spec == '{') return soma_net_new_json(out, spec, in, seed);
    if (*spec == '@') return soma__net_new_json_file(out, spec + 1, in, seed);
    soma_net *net;
    SOMA_TRY(soma_net_new_empty(&net, in, seed));
    soma_status st = soma__chain_parse(&net->chain, spec, strlen(spec));
    if (st == SOMA_OK) st = soma_net_build(net);
    if (st != SOMA_OK) {
        soma_net_free(net);
        return st;
    }
    *out = net;
    return SOMA_OK;
}

void soma_net_free(soma_net *net) {
    if (!net) return;
    soma__chain_free(&net->chain);
    if (!net->values_borrowed) soma_free(net->values);
    soma_free(net->grads);
    soma_free(net->params);
    soma_free(net->param_layer);
    soma_free(net->param_names);
    soma_free(net->spec);
    soma_free(net);
}

soma_status soma_net_reserve(soma_net *net, int max_n) {
    if (!net->built) SOMA_TRY(soma_net_build(net));
    if (max_n < 1 || max_n > (1 << 24)) return soma_error(SOMA_ERR_ARG, "net: batch size %d out of range", max_n);
    return soma__chain_reserve(&net->chain, max_n);
}

soma_status soma_net_forward(soma_net *net, const float *x, int n, soma_mode mode, const float **y) {
    if (n < 1) return soma_error(SOMA_ERR_ARG, "net: forward of %d samples", n);
    if (n > net->chain.max_n) SOMA_TRY(soma_net_reserve(net, n));
    const float *o = soma__chain_forward(&net->chain, x, n, mode);
    if (y) *y = o;
    return SOMA_OK;
}

soma_status soma_net_backward_ex(soma_net *net, const float *dy, int n, unsigned what, float *dx) {
    if (n < 1 || n > net->chain.max_n)
        return soma_error(SOMA_ERR_ARG, "net: backward of %d samples (forward first)", n);
    if (what & ~(SOMA_GRAD_PARAMS | SOMA_GRAD_INPUT))
        return soma_error(SOMA_ERR_ARG, "net: backward asked for unknown parts (0x%x)", what);
    if (!(what & SOMA_GRAD_INPUT)) dx = NULL;
    if (!(what & SOMA_GRAD_PARAMS) && !dx) return SOMA_OK;
    soma__chain_backward(&net->chain, dx, dy, n, !(what & SOMA_GRAD_PARAMS));
    return SOMA_OK;
}

void soma_net_set_backward_hook(soma_net *net, void (*fn)(void *user, int layer), void *user) {
    net->chain.after_layer = fn;
    net->chain.after_user = fn ? user : NULL;
}

soma_status soma_net_backward(soma_net *net, const float *dy, int n) {
    return soma_net_backward_ex(net, dy, n, SOMA_GRAD_PARAMS, NULL);
}

soma_status soma_net_clone(soma_net *src, int share_values, int k, soma_net **out) {
    *out = NULL;
    if (!src->built) return soma_error(SOMA_ERR_ARG, "net clone: build the source net first");
    soma_net *r;
    SOMA_TRY(soma_net_new_empty(&r, src->in, src->seed));
    soma_status st = SOMA_OK;
    for (int i = 0; i < src->chain.n && st == SOMA_OK; i++) {
        soma_layer l;
        st = soma__layer_clone(&src->chain.layers[i], &l);
        if (st == SOMA_OK) st = soma__chain_add(&r->chain, &l);
    }
    if (st == SOMA_OK) st = soma_net_build(r);
    if (st == SOMA_OK && (r->n_values != src->n_values || r->n_params != src->n_params))
        st = soma_error(SOMA_ERR_INTERNAL, "net clone: layout differs from '%s'", src->spec);
    if (st != SOMA_OK) {
        soma_net_free(r);
        return st;
    }
    for (int p = 0; p < r->n_params; p++) {
        r->params[p]->trainable = src->params[p]->trainable;
        r->params[p]->feedback = src->params[p]->feedback;
    }
    if (share_values) {
        for (int p = 0; p < r->n_params; p++)
            r->params[p]->value = src->values + (r->params[p]->value - r->values);
        soma_free(r->values);
        r->values = src->values;
        r->values_borrowed = 1;
    } else {
        memcpy(r->values, src->values, src->n_values * sizeof(float));
    }
    seed_layers_(r, (uint64_t)k);
    *out = r;
    return SOMA_OK;
}

void soma_net_zero_grad(soma_net *net) {
    if (net->grads) memset(net->grads, 0, net->n_values * sizeof(float));
}

int soma_net_n_layers(const soma_net *net) { return net->chain.n; }
soma_layer *soma_net_layer(soma_net *net, int i) {
    return i >= 0 && i < net->chain.n ? &net->chain.layers[i] : NULL;
}
float *soma_net_activation(soma_net *net, int i) {
    if (!net->chain.act_in || i < 0 || i > net->chain.n) return NULL;
    return (float *)net->chain.act_in[i];
}
soma_shape soma_net_in_shape(const soma_net *net) { return net->in; }
soma_shape soma_net_out_shape(const soma_net *net) {
    return net->chain.n ? net->chain.layers[net->chain.n - 1].out : net->in;
}
const char *soma_net_param_name(const soma_net *net, int i) {
    return i >= 0 && i < net->n_params ? net->param_names + (size_t)i * SOMA__PATH : NULL;
}
const char *soma_net_spec(const soma_net *net) { return net->spec ? net->spec : ""; }
int soma_net_n_params(const soma_net *net) { return net->n_params; }
soma_param *soma_net_param(soma_net *net, int i) {
    return i >= 0 && i < net->n_params ? net->params[i] : NULL;
}
int soma_net_param_layer(const soma_net *net, int i) {
    return i >= 0 && i < net->n_params ? net->param_layer[i] : -1;
}
float *soma_net_flat_values(soma_net *net, size_t *n) {
    if (n) *n = net->n_values;
    return net->values;
}
float *soma_net_flat_grads(soma_net *net, size_t *n) {
    if (n) *n = net->n_values;
    return net->grads;
}

void soma_net_summary(const soma_net *net, char *buf, size_t cap) {
    size_t off = 0, total = 0;
    if (cap) buf[0] = '\0';
    off += (size_t)snprintf(buf + off, cap > off ? cap - off : 0, "input      %s\n",
                            SOMA__SHAPE_STR(net->in));
    for (int i = 0; i < net->chain.n && off < cap; i++) {
        const soma_layer *l = &net->chain.layers[i];
        size_t np = 0;
        for (int p = 0; p < net->n_params; p++)
            if (net->param_layer[p] == i) np += net->params[p]->n;
        total += np;
        off += (size_t)snprintf(buf + off, cap - off, "%2d %-14s %-8s -> %s  %zu params\n", i, l->spec,
                                l->ops->kind, SOMA__SHAPE_STR(l->out), np);
    }
    if (off < cap) snprintf(buf + off, cap - off, "total %zu parameters\n", total);
}
