// Sequential networks: spec parsing, shape inference, one carved parameter block,
// activation buffers, forward and backward.
#include <stdio.h>
#include <string.h>

#include "nn/internal.h"

struct soma_net {
    char *spec;
    soma_shape in;
    uint64_t seed;
    soma_layer *layers;
    int n_layers, cap_layers;
    int built;
    /* every parameter's value and grad, carved from two blocks */
    float *values, *grads;
    size_t n_values;
    soma_param **params;
    int *param_layer;
    int n_params;
    /* activations: act[0] is the borrowed input, act[1..L] are owned */
    int max_n;
    const float **act_in;
    float **act;
    float *dbuf[2];
    int first_trainable; /* layers below it need no backward at all */
    int values_borrowed; /* a replica: values belong to another net */
};

static soma_status grow_(soma_net *net) {
    if (net->n_layers < net->cap_layers) return SOMA_OK;
    int cap = net->cap_layers ? 2 * net->cap_layers : 8;
    soma_layer *nl = soma_calloc((size_t)cap, sizeof *nl);
    if (!nl) return SOMA_ERR_NOMEM;
    if (net->layers) memcpy(nl, net->layers, (size_t)net->n_layers * sizeof *nl);
    soma_free(net->layers);
    net->layers = nl;
    net->cap_layers = cap;
    return SOMA_OK;
}

soma_status soma_net_new_empty(soma_net **out, soma_shape in, uint64_t seed) {
    *out = NULL;
    if (in.c < 1 || in.h < 1 || in.w < 1)
        return soma_error(SOMA_ERR_SHAPE, "net: input shape [%d,%d,%d] is not positive", in.c, in.h, in.w);
    size_t sz;
    if (!soma_mul_ok((size_t)in.c * (size_t)in.h, (size_t)in.w, &sz) || sz > ((size_t)1 << 28))
        return soma_error(SOMA_ERR_SHAPE, "net: input shape [%d,%d,%d] is too large", in.c, in.h, in.w);
    soma_net *net = soma_calloc(1, sizeof *net);
    if (!net) return SOMA_ERR_NOMEM;
    net->in = in;
    net->seed = seed;
    net->spec = soma_calloc(1, 1);
    if (!net->spec) {
        soma_free(net);
        return SOMA_ERR_NOMEM;
    }
    *out = net;
    return SOMA_OK;
}

soma_status soma_net_add(soma_net *net, const soma_layer *l) {
    if (net->built) return soma_error(SOMA_ERR_ARG, "net: cannot add layers after build");
    SOMA_TRY(grow_(net));
    /* the spec grows with each token; every allocation comes before the layer is stored, so
     * a failure leaves it with the caller (storing first made both free it) */
    size_t old = strlen(net->spec), add = strlen(l->spec);
    char *s = soma_alloc(old + add + 2, 1);
    if (!s) return SOMA_ERR_NOMEM;
    memcpy(s, net->spec, old);
    size_t o = old;
    if (old) s[o++] = ',';
    memcpy(s + o, l->spec, add);
    s[o + add] = '\0';
    soma_free(net->spec);
    net->spec = s;
    net->layers[net->n_layers++] = *l;
    return SOMA_OK;
}

soma_status soma_net_build(soma_net *net) {
    if (net->built) return SOMA_OK;
    if (net->n_layers == 0) return soma_error(SOMA_ERR_PARSE, "net: no layers");
    soma_shape cur = net->in;
    size_t total = 0;
    int np = 0;
    for (int i = 0; i < net->n_layers; i++) {
        soma_layer *l = &net->layers[i];
        l->in = cur;
        l->n_params = 0;
        soma_status st = l->ops->setup(l);
        if (st != SOMA_OK)
            return soma_error_wrap(st, "net: layer %d '%s' on input [%d,%d,%d]", i, l->spec, cur.c,
                                   cur.h, cur.w);
        if (l->out.c < 1 || l->out.h < 1 || l->out.w < 1)
            return soma_error(SOMA_ERR_SHAPE, "net: layer %d '%s' has an empty output", i, l->spec);
        cur = l->out;
        for (int p = 0; p < l->n_params; p++) {
            total += (l->params[p].n + 15) & ~(size_t)15; /* 64-byte aligned slices */
            np++;
        }
        soma_rng_seed(&l->rng, net->seed, 1000u + (uint64_t)i);
    }
    net->values = soma_calloc(total ? total : 1, sizeof(float));
    net->grads = soma_calloc(total ? total : 1, sizeof(float));
    net->params = soma_calloc((size_t)(np ? np : 1), sizeof *net->params);
    net->param_layer = soma_calloc((size_t)(np ? np : 1), sizeof *net->param_layer);
    if (!net->values || !net->grads || !net->params || !net->param_layer) return SOMA_ERR_NOMEM;
    net->n_values = total;
    size_t off = 0;
    int k = 0;
    net->first_trainable = net->n_layers;
    for (int i = 0; i < net->n_layers; i++) {
        soma_layer *l = &net->layers[i];
        if (l->n_params && net->first_trainable == net->n_layers) net->first_trainable = i;
        for (int p = 0; p < l->n_params; p++) {
            l->params[p].value = net->values + off;
            l->params[p].grad = net->grads + off;
            off += (l->params[p].n + 15) & ~(size_t)15;
            net->params[k] = &l->params[p];
            net->param_layer[k++] = i;
        }
    }
    net->n_params = np;
    soma_rng init;
    soma_rng_seed(&init, net->seed, 0);
    for (int i = 0; i < net->n_layers; i++)
        if (net->layers[i].ops->init) net->layers[i].ops->init(&net->layers[i], &init);
    net->built = 1;
    return SOMA_OK;
}

soma_status soma_net_new(soma_net **out, const char *spec, soma_shape in, uint64_t seed) {
    *out = NULL;
    if (!spec) return soma_error(SOMA_ERR_PARSE, "net: no spec");
    soma_net *net;
    SOMA_TRY(soma_net_new_empty(&net, in, seed));
    const char *p = spec;
    int pos = 0;
    soma_status st = SOMA_OK;
    while (*p) {
        while (*p == ' ') p++;
        const char *e = p;
        while (*e && *e != ',') e++;
        const char *te = e;
        while (te > p && te[-1] == ' ') te--;
        char tok[64];
        size_t len = (size_t)(te - p);
        if (len == 0) {
            st = soma_error(SOMA_ERR_PARSE, "net: empty layer at position %d in '%s'", pos, spec);
            goto fail;
        }
        if (len >= sizeof tok) {
            st = soma_error(SOMA_ERR_PARSE, "net: layer %d '%.20s...' is too long", pos, p);
            goto fail;
        }
        memcpy(tok, p, len);
        tok[len] = '\0';
        soma_layer l;
        st = soma_layer_parse(tok, &l);
        if (st != SOMA_OK) {
            soma_error_wrap(st, "net: layer %d", pos);
            goto fail;
        }
        st = soma_net_add(net, &l);
        if (st != SOMA_OK) {
            if (l.ops->destroy) l.ops->destroy(&l);
            goto fail;
        }
        pos++;
        p = *e ? e + 1 : e;
        if (*e == ',' && !*p) {
            st = soma_error(SOMA_ERR_PARSE, "net: spec '%s' ends with a comma", spec);
            goto fail;
        }
    }
    st = soma_net_build(net);
    if (st != SOMA_OK) goto fail;
    *out = net;
    return SOMA_OK;
fail:
    soma_net_free(net);
    return st;
}

static void free_buffers_(soma_net *net) {
    if (net->act)
        for (int i = 1; i <= net->n_layers; i++) soma_free(net->act[i]);
    soma_free(net->act);
    soma_free(net->act_in);
    soma_free(net->dbuf[0]);
    soma_free(net->dbuf[1]);
    net->act = NULL;
    net->act_in = NULL;
    net->dbuf[0] = net->dbuf[1] = NULL;
    net->max_n = 0;
}

void soma_net_free(soma_net *net) {
    if (!net) return;
    for (int i = 0; i < net->n_layers; i++)
        if (net->layers[i].ops && net->layers[i].ops->destroy) net->layers[i].ops->destroy(&net->layers[i]);
    free_buffers_(net);
    soma_free(net->layers);
    if (!net->values_borrowed) soma_free(net->values);
    soma_free(net->grads);
    soma_free(net->params);
    soma_free(net->param_layer);
    soma_free(net->spec);
    soma_free(net);
}

soma_status soma_net_reserve(soma_net *net, int max_n) {
    if (!net->built) SOMA_TRY(soma_net_build(net));
    if (max_n < 1 || max_n > (1 << 24)) return soma_error(SOMA_ERR_ARG, "net: batch size %d out of range", max_n);
    if (max_n <= net->max_n) return SOMA_OK;
    free_buffers_(net);
    int L = net->n_layers;
    net->act = soma_calloc((size_t)L + 1, sizeof *net->act);
    net->act_in = soma_calloc((size_t)L + 1, sizeof *net->act_in);
    if (!net->act || !net->act_in) return SOMA_ERR_NOMEM;
    size_t biggest = soma_shape_size(net->in);
    for (int i = 0; i < L; i++) {
        size_t sz = soma_shape_size(net->layers[i].out);
        if (sz > biggest) biggest = sz;
        net->act[i + 1] = soma_alloc((size_t)max_n, sz * sizeof(float));
        if (!net->act[i + 1]) return SOMA_ERR_NOMEM;
    }
    for (int b = 0; b < 2; b++) {
        net->dbuf[b] = soma_alloc((size_t)max_n, biggest * sizeof(float));
        if (!net->dbuf[b]) return SOMA_ERR_NOMEM;
    }
    for (int i = 0; i < L; i++) {
        soma_layer *l = &net->layers[i];
        if (l->ops->reserve) {
            soma_status st = l->ops->reserve(l, max_n);
            if (st != SOMA_OK) return soma_error_wrap(st, "net: layer %d '%s'", i, l->spec);
        }
        l->max_n = max_n;
    }
    net->max_n = max_n;
    return SOMA_OK;
}

soma_status soma_net_forward(soma_net *net, const float *x, int n, soma_mode mode, const float **y) {
    if (n < 1) return soma_error(SOMA_ERR_ARG, "net: forward of %d samples", n);
    if (n > net->max_n) SOMA_TRY(soma_net_reserve(net, n));
    net->act_in[0] = x;
    for (int i = 0; i < net->n_layers; i++) {
        soma_layer *l = &net->layers[i];
        l->ops->forward(l, net->act[i + 1], net->act_in[i], n, mode);
        net->act_in[i + 1] = net->act[i + 1];
    }
    if (y) *y = net->act[net->n_layers];
    return SOMA_OK;
}

soma_status soma_net_backward(soma_net *net, const float *dy, int n) {
    if (n < 1 || n > net->max_n) return soma_error(SOMA_ERR_ARG, "net: backward of %d samples (forward first)", n);
    const float *g = dy;
    int which = 0;
    for (int i = net->n_layers - 1; i >= net->first_trainable; i--) {
        soma_layer *l = &net->layers[i];
        float *dx = i > net->first_trainable ? net->dbuf[which] : NULL;
        l->ops->backward(l, dx, g, net->act_in[i], net->act_in[i + 1], n);
        g = dx;
        which ^= 1;
    }
    return SOMA_OK;
}

soma_status soma_net_replica(soma_net *src, int k, soma_net **out) {
    *out = NULL;
    soma_net *r;
    SOMA_TRY(soma_net_new(&r, src->spec, src->in, src->seed));
    if (r->n_values != src->n_values || r->n_params != src->n_params) {
        soma_net_free(r);
        return soma_error(SOMA_ERR_INTERNAL, "net replica: layout differs from '%s'", src->spec);
    }
    for (int p = 0; p < r->n_params; p++) r->params[p]->value = src->values + (r->params[p]->value - r->values);
    soma_free(r->values);
    r->values = src->values;
    r->values_borrowed = 1;
    for (int i = 0; i < r->n_layers; i++) /* independent dropout masks per replica */
        soma_rng_seed(&r->layers[i].rng, src->seed, 1000u + (uint64_t)i + 100000u * (uint64_t)k);
    *out = r;
    return SOMA_OK;
}

void soma_net_zero_grad(soma_net *net) {
    if (net->grads) memset(net->grads, 0, net->n_values * sizeof(float));
}

int soma_net_n_layers(const soma_net *net) { return net->n_layers; }
soma_layer *soma_net_layer(soma_net *net, int i) {
    return i >= 0 && i < net->n_layers ? &net->layers[i] : NULL;
}
float *soma_net_activation(soma_net *net, int i) {
    if (!net->act_in || i < 0 || i > net->n_layers) return NULL;
    return (float *)net->act_in[i];
}
soma_shape soma_net_in_shape(const soma_net *net) { return net->in; }
soma_shape soma_net_out_shape(const soma_net *net) {
    return net->n_layers ? net->layers[net->n_layers - 1].out : net->in;
}
const char *soma_net_spec(const soma_net *net) { return net->spec; }
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
    off += (size_t)snprintf(buf + off, cap > off ? cap - off : 0, "input      [%d,%d,%d]\n", net->in.c,
                            net->in.h, net->in.w);
    for (int i = 0; i < net->n_layers && off < cap; i++) {
        const soma_layer *l = &net->layers[i];
        size_t np = 0;
        for (int p = 0; p < l->n_params; p++) np += l->params[p].n;
        total += np;
        off += (size_t)snprintf(buf + off, cap - off, "%2d %-14s %-8s -> [%d,%d,%d]  %zu params\n", i,
                                l->spec, l->ops->kind, l->out.c, l->out.h, l->out.w, np);
    }
    if (off < cap) snprintf(buf + off, cap - off, "total %zu parameters\n", total);
}
