// The spec grammar: one registration table mapping token kinds to constructors.
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "nn/internal.h"

#define REG_MAX 64
typedef struct reg_entry {
    const char *name;
    soma_layer_parse_fn parse;
    const char *grammar;
} reg_entry;

static const reg_entry builtin_[] = {
    {"dense", soma__parse_dense, "fcN | denseN          fully connected, N outputs (flattens [C,H,W]; per time step on [T,...])"},
    {"conv2d", soma__parse_conv2d,
     "convKxKxC[sS][pP]     2-D convolution, KxK kernel, C output channels, stride S, padding P"},
    {"pool", soma__parse_pool,
     "maxpoolK[sS][pP] | avgpoolK[sS][pP]   KxK pooling, stride S (default K), padding P"},
    {"act", soma__parse_act, "relu | tanh | sigmoid | gelu   elementwise activations"},
    {"dropout", soma__parse_dropout, "dropoutP             inverted dropout with drop probability P"},
    {"norm", soma__parse_norm, "normM | normM/S       fixed normalisation y = (x - M) / S (S default 1), e.g. norm0.286/0.353"},
    {"flatten", soma__parse_flatten, "flatten              any shape -> [size] (dense layers flatten by themselves)"},
    {"layernorm", soma__parse_layernorm,
     "layernorm[EPS]       layer norm over the last axis ([D], [T,D]) or over [C,H,W], gain and bias"},
    {"time", soma__parse_time,
     "tmean | tsum | repeatT   [T,...] -> [...] mean or sum (spike count) over time; [...] -> [T,...]"},
    {"graph", soma__parse_graph,
     "res(SPEC)            x + SPEC(x): a residual branch, e.g. res(layernorm,fc256,gelu,fc64)"},
    {"graph", soma__parse_graph,
     "cat(SPEC|SPEC|...)   branches side by side on the feature/channel axis, e.g. cat(fc32|fc16)"},
    {"graph", soma__parse_graph, "seq(SPEC)            SPEC as one layer (an nn.Sequential), e.g. seq(layernorm,fc64)"},
    {"attn", soma__parse_attn, "mhaH[c]              multi-head self-attention over [T,D], H heads, c causal (torch MultiheadAttention layout)"},
    {"attn", soma__parse_attn, "xattnH(SPEC)         cross-attention: queries from [T,D], keys/values from SPEC(x) [S,D]"},
    {"embed", soma__parse_embed, "posN | pos | sinpos  learned (N rows, default T) or sinusoidal position embedding added to [T,D]"},
    {"embed", soma__parse_embed, "patchPxQdE           patch embedding [C,H,W] -> [(H/P)(W/Q),E] (Conv2d stride = kernel, flattened)"},
    {"embed", soma__parse_embed, "cls | clsout         prepend a learned token [T,D] -> [T+1,D] | take token 0 out [T,D] -> [D]"},
    {"embed", soma__parse_embed, "blockHhD[fF][c]      pre-norm transformer block: seq(res(layernorm,mhaH),res(layernorm,fcF,gelu,fcD)), F = 4D"},
    {"rec", soma__parse_rec,
     "rec(SPEC)            recurrent cell over [T,D]: h_t = SPEC([x_t, h_t-1]), h_-1 = 0 -> [T,H], e.g. rec(fc32,tanh)"},
    {"gru", soma__parse_gru, "gruH | gruHr | bigruH  GRU over [T,D] -> [T,H] (r: reversed time; bi: both, [T,2H]), torch.nn.GRU layout"},
};
static reg_entry user_[REG_MAX];
static int n_user_ = 0;

soma_status soma_layer_register(const char *name, soma_layer_parse_fn parse, const char *grammar) {
    if (!name || !parse) return soma_error(SOMA_ERR_ARG, "layer register: name and parser needed");
    if (n_user_ >= REG_MAX) return soma_error(SOMA_ERR_ARG, "layer register: table full (%d)", REG_MAX);
    user_[n_user_++] = (reg_entry){name, parse, grammar ? grammar : name};
    return SOMA_OK;
}

void soma_layer_grammar(char *buf, size_t cap) {
    size_t off = 0;
    if (cap) buf[0] = '\0';
    for (int i = n_user_ - 1; i >= 0 && off < cap; i--)
        off += (size_t)snprintf(buf + off, cap - off, "  %s\n", user_[i].grammar);
    for (size_t i = 0; i < sizeof builtin_ / sizeof *builtin_ && off < cap; i++)
        off += (size_t)snprintf(buf + off, cap - off, "  %s\n", builtin_[i].grammar);
    if (off < cap)
        snprintf(buf + off, cap - off,
                 "  Shapes: [D] vector, [C,H,W] image, [T,D] / [T,C,H,W] sequence (time first);\n"
                 "  dense and layernorm act at each time step of a sequence, conv and pool on\n"
                 "  each image of one. A spec starting with '{' (or @FILE.json) is a JSON net:\n"
                 "  {\"layers\": [\"fc64\", {\"res\": [\"layernorm\", \"fc64\"]}, {\"cat\": [[\"fc8\"], [\"fc4\"]]}]}\n");
}

static soma_status parse_failed_(void) {
    soma_status s = soma_error_status();
    return s == SOMA_OK ? SOMA_ERR_PARSE : s;
}

soma_status soma_layer_parse(const char *token, soma_layer *l) {
    memset(l, 0, sizeof *l);
    if (!token || !*token) return soma_error(SOMA_ERR_PARSE, "empty layer token");
    if (strlen(token) >= sizeof l->spec)
        return soma_error(SOMA_ERR_PARSE, "layer token '%.40s...' is too long", token);
    soma_error_clear(); /* a parser's -1 keeps the status it set (out of memory stays so) */
    for (int i = n_user_ - 1; i >= 0; i--) {
        int r = user_[i].parse(token, l);
        if (r < 0) return parse_failed_();
        if (r > 0) goto found;
    }
    for (size_t i = 0; i < sizeof builtin_ / sizeof *builtin_; i++) {
        if (i > 0 && builtin_[i].parse == builtin_[i - 1].parse) continue;
        int r = builtin_[i].parse(token, l);
        if (r < 0) return parse_failed_();
        if (r > 0) goto found;
    }
    return soma_error(SOMA_ERR_PARSE, "unknown layer '%s' (see 'soma train --help' for the grammar)", token);
found:
    snprintf(l->spec, sizeof l->spec, "%s", token);
    return SOMA_OK;
}

int soma__parse_uint(const char **s) {
    const char *p = *s;
    if (*p < '0' || *p > '9') return -1;
    long v = 0;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p - '0');
        if (v > INT_MAX / 4) return -1;
        p++;
    }
    *s = p;
    return (int)v;
}

soma_status soma_layer_add_param(soma_layer *l, const char *name, int ndim, const int *dims,
                                 int decay, int fan_in, int fan_out) {
    if (ndim < 1 || ndim > SOMA_MAX_DIMS)
        return soma_error(SOMA_ERR_SHAPE, "layer %s: parameter %s has %d dims", l->spec, name, ndim);
    if (l->n_params >= l->cap_params) { /* setup time only: no fixed cap */
        int cap = l->cap_params ? 2 * l->cap_params : 4;
        soma_param *np = soma_calloc((size_t)cap, sizeof *np);
        if (!np) return soma_error(SOMA_ERR_NOMEM, "layer %s: no memory for parameters", l->spec);
        if (l->n_params) memcpy(np, l->params, (size_t)l->n_params * sizeof *np);
        soma_free(l->params);
        l->params = np;
        l->cap_params = cap;
    }
    soma_param *p = &l->params[l->n_params];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 1 || !soma_mul_ok(n, (size_t)dims[i], &n))
            return soma_error(SOMA_ERR_SHAPE, "layer %s: parameter %s has a bad size", l->spec, name);
        p->dims[i] = dims[i];
    }
    if (n > ((size_t)1 << 32))
        return soma_error(SOMA_ERR_SHAPE, "layer %s: parameter %s has %zu values (too many)", l->spec, name, n);
    p->ndim = ndim;
    p->n = n;
    p->decay = decay;
    p->fan_in = fan_in;
    p->fan_out = fan_out;
    p->trainable = 1;
    p->feedback = NULL;
    l->n_params++;
    return SOMA_OK;
}

soma_param *soma_layer_param(soma_layer *l, const char *name) {
    for (int i = 0; i < l->n_params; i++)
        if (strcmp(l->params[i].name, name) == 0) return &l->params[i];
    return NULL;
}

void soma_layer_release(soma_layer *l) {
    if (!l) return;
    if (l->ops && l->ops->destroy) l->ops->destroy(l);
    soma_free(l->params);
    l->params = NULL;
    l->n_params = l->cap_params = 0;
    l->impl = NULL;
}

int soma_layer_trainable(soma_layer *l) {
    for (int i = 0; i < l->n_params; i++)
        if (l->params[i].trainable) return 1;
    int nc = l->ops->n_children ? l->ops->n_children(l) : 0;
    for (int i = 0; i < nc; i++)
        if (soma_layer_trainable(l->ops->child(l, i))) return 1;
    return 0;
}
