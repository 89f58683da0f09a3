/* soma/nn.h -- layers, losses, sequential networks, optimizers, schedules, checkpoints.
 *
 * Three levels, each usable on its own:
 *
 *  1. Kernels on raw pointers (soma_dense_forward, soma_conv2d_forward, ...): no allocation,
 *     no globals, outputs first, then inputs, saved activations, sizes. Backward kernels
 *     ACCUMULATE parameter gradients (+=) and WRITE the input gradient dx (dx may be NULL
 *     when the caller does not need it -- the first layer of a network never does).
 *
 *  2. Layers: a small struct behind a vtable (soma_layer_ops). A layer declares its
 *     parameters as soma_param {name, value, grad, shape, decay}; the network carves every
 *     parameter's value and gradient out of one contiguous block each, so optimizers,
 *     learning rules, checkpoints, EWC and gradient all-reduce walk them uniformly (or as one
 *     flat vector). New kinds (spiking layers, attention blocks, recurrent layers) register a
 *     constructor under a spec token with soma_layer_register(), and then parse in specs.
 *
 *  3. soma_net: a graph of layers built from a spec string, e.g.
 *         "conv5x5x6p2,relu,maxpool2,conv5x5x16,relu,maxpool2,fc120,relu,fc84,relu,fc10"
 *         "fc64,res(layernorm,fc256,gelu,fc64),fc10"      (a residual pre-norm block)
 *     or from a JSON description (soma_net_new_json), keeping every layer's input activation
 *     for the learning rule to use. Composite layers (res, cat) own sub-layers; the net lists
 *     every parameter with its PyTorch state_dict key ("1.2.weight"). Copies are cloned from
 *     the built graph (soma_net_clone).
 *
 *     soma_net *net;
 *     SOMA_TRY(soma_net_new(&net, spec, soma_shape3(1, 28, 28), seed));
 *     SOMA_TRY(soma_net_reserve(net, 64));                  // max batch; allocates caches
 *     soma_net_zero_grad(net);
 *     const float *logits;
 *     SOMA_TRY(soma_net_forward(net, x, 64, SOMA_MODE_TRAIN, &logits));
 *     float loss = soma_softmax_xent(dlogits, probs, logits, labels, 64, 10);
 *     SOMA_TRY(soma_net_backward(net, dlogits, 64));
 *     soma_optim_step(opt, lr);
 *
 * Thread safety: a soma_net is used by one thread at a time; its kernels use OpenMP and BLAS
 * threads internally (soma_set_threads).
 */
#ifndef SOMA_NN_H
#define SOMA_NN_H

#include "soma/core.h"

#ifdef __cplusplus
extern "C" {
#endif

// --- kernels ---------------------------------------------------------------------------

/* y[N,O] = x[N,I] . w[O,I]^T + b[O]  (b may be NULL). */
void soma_dense_forward(float *y, const float *x, const float *w, const float *b, int N, int I,
                        int O);
/* dx[N,I] = dy . w (written; may be NULL); dw[O,I] += dy^T . x; db[O] += sum_n dy (may be NULL). */
void soma_dense_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                         const float *w, int N, int I, int O);

/* Geometry of a 2-D convolution or pooling window over [C,H,W] planes. */
typedef struct soma_conv_geom {
    int c_in, h_in, w_in;
    int c_out, h_out, w_out;
    int kh, kw, stride, pad;
} soma_conv_geom;
/* Fills h_out/w_out from the rest; SOMA_ERR_SHAPE when the window does not fit. */
soma_status soma_conv_geom_init(soma_conv_geom *g);

/* y[N,Co,Ho,Wo] = conv(x[N,Ci,H,W], w[Co,Ci,kh,kw]) + b[Co] (cross-correlation, as PyTorch).
 * The images are shared out among up to `threads` OpenMP threads; scratch holds
 * soma_conv2d_scratch(g, threads) floats. */
size_t soma_conv2d_scratch(const soma_conv_geom *g, int threads);
void soma_conv2d_forward(float *y, const float *x, const float *w, const float *b,
                         const soma_conv_geom *g, int N, float *scratch, int threads);
/* dx written (may be NULL), dw/db accumulated (either may be NULL). Same scratch. */
void soma_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                          const float *w, const soma_conv_geom *g, int N, float *scratch,
                          int threads);
void soma_conv2d_forward_ref(float *y, const float *x, const float *w, const float *b,
                             const soma_conv_geom *g, int N);

/* Max pooling; argmax[N,C,Ho,Wo] records the winning input index within its plane. */
void soma_maxpool_forward(float *y, int32_t *argmax, const float *x, const soma_conv_geom *g,
                          int N);
void soma_maxpool_backward(float *dx, const float *dy, const int32_t *argmax,
                           const soma_conv_geom *g, int N);
/* Average pooling (padding counts as zeros, divisor kh*kw as PyTorch's count_include_pad). */
void soma_avgpool_forward(float *y, const float *x, const soma_conv_geom *g, int N);
void soma_avgpool_backward(float *dx, const float *dy, const soma_conv_geom *g, int N);

/* Elementwise activations; backward writes dx from dy and the saved x or y. */
typedef enum soma_act {
    SOMA_ACT_RELU = 0,
    SOMA_ACT_TANH = 1,
    SOMA_ACT_SIGMOID = 2,
    SOMA_ACT_GELU = 3, /* exact (erf) GELU, as PyTorch's default */
    SOMA_ACT_COUNT
} soma_act;
void soma_act_forward(soma_act a, float *y, const float *x, size_t n);
void soma_act_backward(soma_act a, float *dx, const float *dy, const float *x, const float *y,
                       size_t n);

/* Layer norm over the last D values of each of N rows; gamma/beta [D] may be NULL (no affine).
 * mean/rstd [N] are saved for backward. */
void soma_layernorm_forward(float *y, float *mean, float *rstd, const float *x,
                            const float *gamma, const float *beta, int N, int D, float eps);
void soma_layernorm_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                             const float *x, const float *mean, const float *rstd,
                             const float *gamma, int N, int D);

// --- losses ----------------------------------------------------------------------------

/* Mean softmax cross-entropy over N rows of K logits. Writes dlogits = (softmax - onehot)/N
 * (may be NULL) and probs [N,K] (may be NULL). Returns the mean loss. Labels outside 0..K-1
 * are a broken invariant: validate data first. */
float soma_softmax_xent(float *dlogits, float *probs, const float *logits, const int *labels,
                        int N, int K);
/* Mean squared error: mean over all N*D of (y - t)^2; dy = 2 (y - t) / (N*D) (may be NULL). */
float soma_mse(float *dy, const float *y, const float *t, int N, int D);
/* Number of rows whose argmax equals the label. */
int soma_count_correct(const float *logits, const int *labels, int N, int K);
/* numpy.argmax's rule: the first NaN if any, else the first index of the largest value. */
int soma_argmax(const float *x, int n);

// --- layers ----------------------------------------------------------------------------

typedef enum soma_mode { SOMA_MODE_EVAL = 0, SOMA_MODE_TRAIN = 1 } soma_mode;

/* Shapes (soma_shape, core.h) follow one convention: [D] a vector, [C,H,W] an image, [T,D] and
 * [T,C,H,W] sequences with the time axis first (a batch is [N,T,...]). How each kind treats
 * them:
 *   dense      [D] or [C,H,W] -> [O] (flattens, as torch.flatten + Linear);
 *              [T,D] -> [T,O] and [T,C,H,W] -> [T,O]: token-wise, one Linear at each time step
 *   layernorm  over the last axis of [D] and [T,D] (weight [D], as nn.LayerNorm(D)); over
 *              [C,H,W] of an image or of each time step of [T,C,H,W] (weight [C,H,W])
 *   conv, pool [C,H,W] -> [C',H',W']; [T,C,H,W] -> [T,C',H',W'], each time step on its own
 *   act, dropout, norm  elementwise, any shape
 *   flatten    any shape -> [size]
 *   tmean      [T,...] -> [...]: mean over time
 *   tsum       [T,...] -> [...]: sum over time (spike-count read-out)
 *   repeatT    [...] -> [T,...]: the input repeated at T time steps (e.g. "repeat8")
 *   res(...)   x + branch(x); the branch must give back the input's shape
 *   cat(a|b)   branches side by side on the feature axis: the last axis of [D]/[T,D], the
 *              channel axis of [C,H,W]/[T,C,H,W]; other axes must agree
 *   rec(...)   [T,D] -> [T,H]: a recurrent cell, h_t = cell([x_t, h_{t-1}]) from h_{-1} = 0; the
 *              cell maps [D+H] to [H] (H found by shape inference); backprop through time
 * Inside res(...) and cat(...|...) a branch is a comma-separated spec of its own; composites
 * nest ("fc64,res(layernorm,fc256,gelu,fc64),fc10", "cat(fc32|fc16,relu)"); one composite's
 * text is at most 255 characters. Parameter paths follow PyTorch modules of the same shape:
 * res(...) is an nn.Sequential whose output is added to its input ("2.1.weight"), cat(...) an
 * nn.ModuleList of nn.Sequential branches ("2.0.1.weight"), rec(...) an nn.Sequential cell
 * looped over time ("2.0.weight"). */

#define SOMA_PARAM_NAME 24
typedef struct soma_param {
    char name[SOMA_PARAM_NAME]; /* "weight", "bias", ... */
    float *value;               /* carved by the network from one block */
    float *grad;                /* ditto, same offsets */
    size_t n;
    int ndim;
    int dims[SOMA_MAX_DIMS]; /* PyTorch's layout: dense [out,in], conv [out,in,kh,kw] */
    int decay;               /* 1 if weight decay applies (weights), 0 (biases, norm gains) */
    int fan_in, fan_out;     /* for initialisers */
    int trainable;           /* 1 (default): optimizers update it; 0: fixed (feedback matrices,
                                frozen layers) -- no gradient, skipped by optimizers and left out
                                of their state */
    /* NULL (default), or n floats (borrowed) used in place of `value` when a layer computes its
     * input gradient dx: feedback alignment replaces only the input gradient. */
    const float *feedback;
} soma_param;

typedef struct soma_layer soma_layer;

typedef struct soma_layer_ops {
    const char *kind; /* "dense", "conv2d", ... */
    /* Shape inference: given l->in, set l->out and declare parameters with
     * soma_layer_add_param. SOMA_ERR_SHAPE when the input does not fit. */
    soma_status (*setup)(soma_layer *l);
    /* Default initialisation of the (already carved) parameter values. May be NULL. */
    void (*init)(soma_layer *l, soma_rng *rng);
    /* Allocate caches for batches of up to max_n samples. May be NULL. */
    soma_status (*reserve)(soma_layer *l, int max_n);
    /* y[n, out] from x[n, in]; keeps what backward needs. */
    void (*forward)(soma_layer *l, float *y, const float *x, int n, soma_mode mode);
    /* dx[n, in] WRITTEN (dx may be NULL), parameter grads ACCUMULATED through
     * soma_layer_grad() (NULL when l->no_param_grads is set or the parameter is frozen: skip
     * that work). The weights used for dx come from soma_layer_bwd_value(). x and y are the
     * forward's input and output, still intact. */
    void (*backward)(soma_layer *l, float *dx, const float *dy, const float *x, const float *y,
                     int n);
    /* Releases impl and caches (not the parameters). May be NULL. */
    void (*destroy)(soma_layer *l);
    /* Gives dst (a copy of src's struct, parameters not yet declared) an impl of its own:
     * the configuration copied, no caches. May be NULL only for kinds whose impl is NULL;
     * soma_net_clone refuses a layer with an impl and no clone. */
    soma_status (*clone)(const soma_layer *src, soma_layer *dst);
    /* Composite layers: their sub-layers (NULL for plain kinds). Child i is named "i" in
     * parameter paths ("2.1.weight"). */
    int (*n_children)(const soma_layer *l);
    soma_layer *(*child)(soma_layer *l, int i);
    /* Sequence layers that honour a key-padding mask (attention): pad [rows, T] (borrowed,
     * 1 = that key is padding and is never attended to; NULL clears it), used by every later
     * forward; SOMA_ERR_SHAPE when the layer's sequence length is not T. May be NULL (the
     * kind ignores masks). Set through soma_net_set_key_padding. */
    soma_status (*set_key_padding)(soma_layer *l, const uint8_t *pad, int T);
} soma_layer_ops;

struct soma_layer {
    const soma_layer_ops *ops;
    void *impl;         /* kind-specific configuration and caches, owned */
    soma_shape in, out; /* per-sample shapes */
    soma_param *params; /* n_params of them, owned; grown by soma_layer_add_param */
    int n_params, cap_params;
    int max_n;          /* batch capacity after reserve */
    int no_param_grads; /* set by the net for one backward: compute dx only */
    soma_rng rng;       /* the layer's own stream (dropout masks) */
    char spec[256];     /* the spec token it was built from ("fc120", "res(fc8,relu)") */
};

/* Declares a parameter during setup (dims in PyTorch's layout); trainable, no feedback. */
soma_status soma_layer_add_param(soma_layer *l, const char *name, int ndim, const int *dims,
                                 int decay, int fan_in, int fan_out);
/* Finds a parameter by name, NULL if absent. */
soma_param *soma_layer_param(soma_layer *l, const char *name);
/* Releases a layer: its impl (ops->destroy) and its parameter list. */
void soma_layer_release(soma_layer *l);
/* Where backward accumulates parameter i's gradient: NULL when the net asked for the input
 * gradient only (l->no_param_grads) or the parameter is frozen. */
static inline float *soma_layer_grad(const soma_layer *l, int i) {
    const soma_param *p = &l->params[i];
    return l->no_param_grads || !p->trainable ? NULL : p->grad;
}
/* The values backward multiplies dy by for dx: the feedback matrix when set, else the value. */
static inline const float *soma_layer_bwd_value(const soma_layer *l, int i) {
    const soma_param *p = &l->params[i];
    return p->feedback ? p->feedback : p->value;
}
/* 1 if backward must run through l to reach a trainable parameter (its own or a child's). */
int soma_layer_trainable(soma_layer *l);

/* A layer constructor for one spec token. Parses its token (e.g. "fc120", "conv5x5x6p2"), and
 * returns 1 with *l filled (ops, impl, spec) when the token is its kind, 0 when not its kind,
 * -1 with the error set when it is its kind but malformed. */
typedef int (*soma_layer_parse_fn)(const char *token, soma_layer *l);
/* Adds a kind to the spec grammar (built-ins are registered already). Later registrations are
 * tried first. Not thread-safe: register at start-up. */
soma_status soma_layer_register(const char *name, soma_layer_parse_fn parse, const char *grammar);
/* The grammar lines of every registered kind, for --help. */
void soma_layer_grammar(char *buf, size_t cap);
/* Builds one layer from a token (not yet set up). */
soma_status soma_layer_parse(const char *token, soma_layer *l);

/* Initialisers, into a carved parameter. */
void soma_init_kaiming_uniform(soma_param *p, soma_rng *rng); /* PyTorch's default for weights */
void soma_init_bias_uniform(soma_param *p, soma_rng *rng);    /* U(-1/sqrt(fan_in), ..) */
void soma_init_xavier_uniform(soma_param *p, soma_rng *rng);
void soma_init_normal(soma_param *p, soma_rng *rng, float std);
void soma_init_const(soma_param *p, float v);

// --- network ---------------------------------------------------------------------------

typedef struct soma_net soma_net; /* opaque */

/* Builds, sets up and initialises a network for per-sample input shape `in` from
 *   - a one-line spec (see the grammar above and `soma train --help`),
 *   - a JSON description when spec starts with '{' (see soma_net_new_json), or
 *   - "@path.json": the JSON description in a file.
 * SOMA_ERR_PARSE names the bad token and its position; SOMA_ERR_SHAPE names the layer that
 * does not fit. */
soma_status soma_net_new(soma_net **out, const char *spec, soma_shape in, uint64_t seed);
/* From a JSON description, for graphs a line does not hold comfortably:
 *   {"layers": [ "fc64",
 *                {"res": ["layernorm", "fc256", "gelu", "fc64"]},
 *                {"cat": [["fc32"], ["fc16", "relu"]]},
 *                "fc10" ]}
 * Each item is a spec token (string, any kind, composites included) or an object with one key:
 * "res" (a list of items: the branch) or "cat" (a list of branches, each a list of items). */
soma_status soma_net_new_json(soma_net **out, const char *json, soma_shape in, uint64_t seed);
/* An empty network to add layers to by hand (custom kinds), finished by soma_net_build. */
soma_status soma_net_new_empty(soma_net **out, soma_shape in, uint64_t seed);
/* Takes ownership of the layer's contents (ops/impl) whatever the outcome: on failure they
 * are already released, the caller must not destroy them. *l is copied. */
soma_status soma_net_add(soma_net *net, const soma_layer *l);
soma_status soma_net_build(soma_net *net);
void soma_net_free(soma_net *net);
/* A copy of a built network, cloned layer by layer from the graph (not re-parsed), with its own
 * gradients, caches and activation buffers. share_values = 1: a data-parallel replica that
 * reads src's parameter values (borrowed: src must outlive it) and draws dropout masks from
 * streams of its own (k >= 1 numbers the replica); 0: an independent copy of the values (a
 * DQN's target net), k numbering its dropout streams likewise. */
soma_status soma_net_clone(soma_net *src, int share_values, int k, soma_net **out);

/* Allocates activation buffers and layer caches for batches of up to max_n. */
soma_status soma_net_reserve(soma_net *net, int max_n);
/* Runs every layer; *y points into the net's last activation buffer (valid until the next
 * forward). x is [n, in] and is borrowed until backward returns. */
soma_status soma_net_forward(soma_net *net, const float *x, int n, soma_mode mode,
                             const float **y);
/* Backward from dL/dy [n, out]; ACCUMULATES into every trainable parameter's grad. */
soma_status soma_net_backward(soma_net *net, const float *dy, int n);
#define SOMA_GRAD_PARAMS 1u /* accumulate parameter gradients */
#define SOMA_GRAD_INPUT 2u  /* compute dL/d(net input) */
/* Backward asking for what it needs: PARAMS accumulates parameter grads (dense, conv and layer
 * norm skip their weight-gradient work without it), INPUT writes dL/d(net input) [n, in] into
 * dx (dx may be NULL: then INPUT only runs backward to the bottom). Without INPUT, backward
 * stops at the lowest layer holding a trainable parameter. */
soma_status soma_net_backward_ex(soma_net *net, const float *dy, int n, unsigned what,
                                 float *dx);
void soma_net_zero_grad(soma_net *net);
/* fn(user, i) runs after top-level layer i's backward (from the last layer down), once the
 * parameter gradients of layer i are complete for this backward call: a distributed run starts
 * reducing them while the layers below are still working. NULL clears. Not copied to clones. */
void soma_net_set_backward_hook(soma_net *net, void (*fn)(void *user, int layer), void *user);

int soma_net_n_layers(const soma_net *net);
soma_layer *soma_net_layer(soma_net *net, int i);
/* The input of layer i (i == n_layers: the output), as kept by the last forward. */
float *soma_net_activation(soma_net *net, int i);
soma_shape soma_net_in_shape(const soma_net *net);
soma_shape soma_net_out_shape(const soma_net *net);
const char *soma_net_spec(const soma_net *net);
/* Every parameter in order (layer by layer, sub-layers depth first), and the flat blocks
 * behind them. */
int soma_net_n_params(const soma_net *net);
soma_param *soma_net_param(soma_net *net, int i);
int soma_net_param_layer(const soma_net *net, int i); /* which top-level layer holds param i */
/* Its path, as PyTorch's state_dict keys: "3.weight", "2.1.bias" (sub-layer 1 of layer 2). */
const char *soma_net_param_name(const soma_net *net, int i);
float *soma_net_flat_values(soma_net *net, size_t *n);
float *soma_net_flat_grads(soma_net *net, size_t *n);
/* One-line-per-layer summary (kind, output shape, parameter count). */
void soma_net_summary(const soma_net *net, char *buf, size_t cap);

/* Parameters as NPY files in PyTorch's layouts, one per parameter: DIR/<path>.npy with path as
 * soma_net_param_name ("0.weight", "2.1.bias"). A dense layer after a conv stack sees its
 * input flattened in [C,H,W] order, as torch.flatten. Import checks every shape. */
soma_status soma_net_save_npy(soma_net *net, const char *dir);
soma_status soma_net_load_npy(soma_net *net, const char *dir);
// --- optimizers ------------------------------------------------------------------------

typedef enum soma_optim_kind {
    SOMA_OPTIM_SGD = 0,   /* momentum (optionally Nesterov), L2 weight decay into the gradient */
    SOMA_OPTIM_ADAM = 1,  /* L2 weight decay into the gradient, as torch.optim.Adam */
    SOMA_OPTIM_ADAMW = 2, /* decoupled weight decay, as torch.optim.AdamW */
    SOMA_OPTIM_COUNT
} soma_optim_kind;

typedef struct soma_optim_config {
    soma_optim_kind kind;
    float momentum;     /* SGD */
    int nesterov;       /* SGD */
    float weight_decay; /* applied to params with decay == 1 */
    float beta1, beta2, eps; /* Adam(W): taken as given (0 means 0; start from the defaults) */
} soma_optim_config;

/* PyTorch's defaults for kind: SGD lr-free, no momentum; Adam(W) beta1 0.9, beta2 0.999,
 * eps 1e-8; weight decay 0 for SGD and Adam, 0.01 for AdamW (as torch.optim.AdamW). Start
 * every configuration here and change what differs: every field is taken as given. */
soma_optim_config soma_optim_defaults(soma_optim_kind kind);

typedef struct soma_optim soma_optim; /* opaque */
/* Optimises every trainable parameter of net (borrowed: the net must outlive the optimizer).
 * Parameters with trainable == 0 (fixed feedback matrices, frozen layers) are never changed
 * and hold no optimizer state: set the flags before creating the optimizer. SOMA_ERR_ARG on
 * an unknown kind or a setting out of range (momentum, betas outside [0,1), negative eps or
 * weight decay). */
soma_status soma_optim_new(soma_optim **out, soma_net *net, const soma_optim_config *cfg);
void soma_optim_free(soma_optim *o);
/* One update with learning rate lr from the accumulated grads. */
void soma_optim_step(soma_optim *o, float lr);
long soma_optim_steps(const soma_optim *o);
/* The optimizer's state as one flat float vector (momenta of the trainable parameters, in
 * parameter order; Adam: all first moments, then all second moments), for checkpoints. */
float *soma_optim_state(soma_optim *o, size_t *n);
soma_optim_kind soma_optim_get_kind(const soma_optim *o);
const char *soma_optim_name(soma_optim_kind kind); /* "sgd", "adam", "adamw"; "?" if unknown */
void soma_optim_set_steps(soma_optim *o, long steps);
soma_status soma_optim_parse(const char *name, soma_optim_kind *kind); /* "sgd", "adam", "adamw" */

// --- learning-rate schedules -----------------------------------------------------------

typedef enum soma_sched_kind {
    SOMA_SCHED_CONSTANT = 0,
    SOMA_SCHED_STEP = 1,   /* lr * gamma^(floor(epoch / step)) */
    SOMA_SCHED_COSINE = 2, /* cosine from lr to lr_min over total steps */
    SOMA_SCHED_COUNT
} soma_sched_kind;

typedef struct soma_sched {
    soma_sched_kind kind;
    float lr, lr_min, gamma;
    long step_size;    /* SOMA_SCHED_STEP: steps between decays */
    long total;        /* SOMA_SCHED_COSINE: steps in all */
    long warmup;       /* linear warm-up steps from 0 (any kind) */
} soma_sched;
float soma_sched_lr(const soma_sched *s, long step);
soma_status soma_sched_parse(const char *name, soma_sched_kind *kind); /* "constant", "step", "cosine" */

// --- checkpoints -----------------------------------------------------------------------

/* A versioned binary file: magic "SOMACKPT", version (2; version 1 files still load), the
 * spec, the input shape, every parameter (name, shape, values), the optimizer's kind and state,
 * counters, named sections (the state of learning rules, consolidation and hooks, opaque to
 * this module) and a CRC-32 of all of it. Written to a temporary file, synced, then renamed
 * into place. */
typedef struct soma_ckpt_meta {
    long epoch;       /* epochs completed */
    long step;        /* optimizer steps */
    uint64_t seed;
    soma_rng data_rng; /* the stream that shuffles data, to resume bit for bit */
    int version;      /* on load: the file's format version (ignored on save) */
} soma_ckpt_meta;

/* A named blob of state ("rule.fa", "hooks", ...): name non-empty, unique in a file. */
#define SOMA_CKPT_SECTION_NAME 48
typedef struct soma_ckpt_section {
    char name[SOMA_CKPT_SECTION_NAME];
    void *data; /* on load: owned by the returned array (soma_ckpt_sections_free) */
    size_t size;
} soma_ckpt_section;

soma_status soma_ckpt_save(const char *path, soma_net *net, soma_optim *opt /* may be NULL */,
                           const soma_ckpt_meta *meta);
/* The same with n_sec named sections (borrowed). SOMA_ERR_ARG on an empty, overlong or
 * repeated name. */
soma_status soma_ckpt_save_ex(const char *path, soma_net *net, soma_optim *opt,
                              const soma_ckpt_meta *meta, const soma_ckpt_section *sec, int n_sec);
/* Loads into an existing net of the same spec and shape (SOMA_ERR_FORMAT on a corrupt,
 * truncated or foreign file; SOMA_ERR_SHAPE on a mismatched network or an optimizer of another
 * kind or state size than the one saved). opt may be NULL. Nothing is changed on failure. */
soma_status soma_ckpt_load(const char *path, soma_net *net, soma_optim *opt, soma_ckpt_meta *meta);
/* The same, also returning the file's sections: *sec (caller frees with
 * soma_ckpt_sections_free(*sec, *n_sec)); a version-1 file has none. sec may be NULL. */
soma_status soma_ckpt_load_ex(const char *path, soma_net *net, soma_optim *opt,
                              soma_ckpt_meta *meta, soma_ckpt_section **sec, int *n_sec);
void soma_ckpt_sections_free(soma_ckpt_section *sec, int n);
/* The section called name, NULL if absent. */
const soma_ckpt_section *soma_ckpt_section_find(const soma_ckpt_section *sec, int n,
                                                const char *name);
/* Reads only the spec and input shape (to build the net before loading). */
soma_status soma_ckpt_peek(const char *path, char *spec, size_t cap, soma_shape *in);
/* Parses from memory (for the fuzz target); same checks as load. */
soma_status soma_ckpt_load_mem(const void *buf, size_t n, soma_net *net, soma_optim *opt,
                               soma_ckpt_meta *meta);
soma_status soma_ckpt_load_mem_ex(const void *buf, size_t n, soma_net *net, soma_optim *opt,
                                  soma_ckpt_meta *meta, soma_ckpt_section **sec, int *n_sec);

// --- attention and transformers --------------------------------------------------------
//
// Sequence layers on [T,D] (time first, as above), registered in the spec grammar:
//   mhaH[c]           multi-head scaled dot-product self-attention, H heads (H divides D),
//                     "c": causal (query t sees keys 0..t). [T,D] -> [T,D]. Parameters as
//                     torch.nn.MultiheadAttention(D, H): in_proj_weight [3D,D] (rows q, k, v),
//                     in_proj_bias [3D], out_proj.weight [D,D], out_proj.bias [D].
//   xattnH(SPEC)      cross-attention: queries from the input x [T,D], keys and values from
//                     the memory M = SPEC(x) [S,D] computed by the branch from the same input
//                     (e.g. "xattn4(tmean,repeat8,fc64)"); output [T,D]. Parameters as
//                     MultiheadAttention(D, H) called (x, M, M); the branch's layers follow as
//                     children ("L.0.weight"). Gradients flow into x through both paths.
//   posN | pos        learned position embedding added to [T,D]: weight [N,D] (N = T when
//                     omitted; a longer sequence than N is SOMA_ERR_SHAPE), rows 0..T-1 used.
//   sinpos            fixed sinusoidal embedding added: PE[t,2i] = sin(t / 10000^(2i/D)),
//                     PE[t,2i+1] = cos(t / 10000^(2i/D)). No parameters.
//   patchPxQdE        patch (token) embedding [C,H,W] -> [(H/P)(W/Q), E]: Conv2d(C, E, (P,Q),
//                     stride (P,Q)) then flatten(2).transpose(1,2) (weight [E,C,P,Q], bias
//                     [E]); patches must tile the image (SOMA_ERR_SHAPE otherwise).
//   cls               prepends a learned token: [T,D] -> [T+1,D], weight [1,D].
//   clsout            takes token 0 out: [T,D] -> [D].
//   blockHhD[fF][c]   the pre-norm transformer block, a macro for the core's composites:
//                       seq(res(layernorm,mhaH[c]),res(layernorm,fcF,gelu,fcD))   (F = 4D)
//                     D must equal the input width. Its parameters match a pre-norm
//                     torch.nn.TransformerEncoderLayer(D, H, F, dropout=0, activation="gelu",
//                     norm_first=True, batch_first=True) through this key table:
//                       L.0.0.{weight,bias}          norm1.{weight,bias}
//                       L.0.1.in_proj_{weight,bias}  self_attn.in_proj_{weight,bias}
//                       L.0.1.out_proj.{weight,bias} self_attn.out_proj.{weight,bias}
//                       L.1.0.{weight,bias}          norm2.{weight,bias}
//                       L.1.1.{weight,bias}          linear1.{weight,bias}
//                       L.1.3.{weight,bias}          linear2.{weight,bias}
// A vision transformer: "patch4x4d64,cls,pos,block4h64,block4h64,clsout,layernorm,fc10" on
// [1,28,28]. docs/transformer.md has the whole story.

/* Attention kernel on projected queries, keys and values, one (sample, head) pair per OpenMP
 * work item (up to `threads` of them; each item computed the same way whatever the count).
 * Each query row's scores are one row of Tk floats in the thread's scratch, softmaxed in place
 * (max-subtracted, stable) and mixed into the output: no [N,H,Tq,Tk] tensor.
 *   q [N*Tq, ldq], k and v [N*Tk, ldk]: head h uses columns h*dh .. h*dh+dh-1 of each row.
 *   o [N*Tq, ldo] written (heads side by side); lse [N,H,Tq] written: each row's log-sum-exp of
 *   scaled scores (-INFINITY for a row that sees no key: its output is 0).
 *   pad [N,Tk] (may be NULL): 1 = padding key, never attended to. causal: query i sees keys
 *   j <= i. Scores are scaled by 1/sqrt(dh). scratch: soma_attn_scratch(Tk, dh, threads) floats. */
size_t soma_attn_scratch(int Tk, int dh, int threads);
void soma_attn_forward(float *o, float *lse, const float *q, const float *k, const float *v,
                       const uint8_t *pad, int N, int Tq, int Tk, int H, int dh, int ldq, int ldk,
                       int ldo, int causal, float *scratch, int threads);
/* The materialised-softmax reference (double accumulation, no scratch); lse may be NULL. */
void soma_attn_forward_ref(float *o, float *lse, const float *q, const float *k, const float *v,
                           const uint8_t *pad, int N, int Tq, int Tk, int H, int dh, int ldq,
                           int ldk, int ldo, int causal);
/* Backward from dout [N*Tq, ldo] (and the forward's o, lse): recomputes the probabilities
 * row by row. dq [N*Tq, ldq], dk and dv [N*Tk, ldk] head columns are WRITTEN (other columns
 * untouched). Same scratch. */
void soma_attn_backward(float *dq, float *dk, float *dv, const float *dout, const float *o,
                        const float *lse, const float *q, const float *k, const float *v,
                        const uint8_t *pad, int N, int Tq, int Tk, int H, int dh, int ldq, int ldk,
                        int ldo, int causal, float *scratch, int threads);

/* The attention probabilities of a self-attention layer (kind "mha"; inside a block, found by
 * walking ops->n_children / ops->child: block -> child 0 -> child 1) in its last forward:
 * p [T, T] WRITTEN for sample n of that forward's batch and head h (row i: query i's
 * distribution over the keys, summing to 1; 0 at keys it may not see). Recomputed from the
 * projections and log-sum-exps the layer keeps, so call it before the next forward or
 * backward through the net. SOMA_ERR_ARG when l is not an mhaH layer, or n, h are out of range
 * (n must be below the last forward's batch size). */
soma_status soma_attn_probs(const soma_layer *l, int n, int h, float *p);
/* The number of heads of an mhaH layer; 0 for any other layer. */
int soma_attn_heads(const soma_layer *l);

/* Sets (pad [rows, T], borrowed until cleared, 1 = padding) or clears (pad NULL) the
 * key-padding mask of every layer in the net, sub-layers included, that takes one (mhaH over
 * a sequence of length T). Row r of the mask belongs to sample r of each later forward (the
 * caller keeps at least n rows for a batch of n). SOMA_ERR_ARG when no layer takes a mask,
 * SOMA_ERR_SHAPE when an attention layer's sequence is not T long. */
soma_status soma_net_set_key_padding(soma_net *net, const uint8_t *pad, int T);

/* The sinusoidal table PE[T,D] of "sinpos" (written). */
void soma_sinpos_table(float *pe, int T, int D);

// --- associative memory ----------------------------------------------------------------
//
// Two Hopfield networks, the classical binary one and the modern continuous one.
//
// Classical (Hopfield 1982): N units of state +-1 and symmetric weights stored by Hebb's rule,
// W = 1/N sum_mu xi^mu xi^mu^T with a zero diagonal. A unit's update is s_i = sign(h_i),
// h_i = sum_j W_ij s_j, keeping s_i when h_i == 0; the energy E(s) = -1/2 s^T W s never rises
// under asynchronous updates (one unit at a time). States are batched row-wise: S [B, N],
// one cue a row. Synchronous updates of a whole batch are one GEMM a step (H = S W, over the
// states still moving); the
// asynchronous sweep keeps each cue's local fields and adds a column of W when a unit flips,
// so a sweep costs O(N) plus O(N) a flip; cues run in parallel (OpenMP), cue b drawing its
// unit order from soma_rng stream (seed, b), so results do not depend on the thread count.
//
//     soma_hopfield *h;
//     SOMA_TRY(soma_hopfield_new(&h, N));
//     SOMA_TRY(soma_hopfield_store(h, patterns, P, N));        // patterns [P, N] of +-1
//     SOMA_TRY(soma_hopfield_update_async(h, s, B, N, 100, seed, sweeps));  // s [B, N] in place
//     soma_hopfield_free(h);
//
// Modern (Ramsauer et al. 2020, "Hopfield networks is all you need"): M stored patterns of
// dimension d, given as the rows of P [M, d] (the paper's X [d, M] is P^T). One update is
//     xi_new = X softmax(beta X^T xi)          (batched: Xi_new = softmax(beta Xi P^T) P)
// which is exactly one attention step softmax(Q K^T / sqrt(d_k)) V with Q = Xi (scaled by
// beta instead of 1/sqrt(d_k)) and K = V = X^T = P: tests/test_hopfield.c checks it against a
// plain attention loop and torch.softmax. Both products are GEMMs over the batch, cut in a
// fixed grid of tiles (one GEMM a tile, tiles spread over the threads), so the numbers do
// not depend on the thread count; the softmax subtracts each row's maximum. The energy is
//     E(xi) = -lse(beta, X^T xi) + 1/2 xi^T xi + 1/beta log M + 1/2 m^2,
//     lse(beta, z) = 1/beta log sum_mu exp(beta z_mu),  m = max_mu |x_mu|,
// (the constant makes E >= 0), and the update never raises it (CCCP). Small beta gives one
// global fixed point near the mean of all patterns, intermediate beta metastable states
// averaging a few similar patterns, large beta retrieval of single patterns:
// soma_mhn_kind_of tells them apart from the softmax weights, soma_mhn_separation computes
// each pattern's separation Delta_mu = x_mu^T x_mu - max_{nu != mu} x_mu^T x_nu, and
// soma_mhn_separation_bound the separation beyond which Ramsauer et al.'s Theorem 3 promises
// retrieval in one step.
//
// Both handles own their weights or patterns (copies) and a scratch buffer that grows to the
// largest batch seen; so a handle is used by one thread at a time. Errors: SOMA_ERR_ARG for
// a size that does not match the handle, zero patterns or units, beta <= 0 or not finite,
// classical patterns or states with an entry other than +-1; SOMA_ERR_NOMEM.

typedef struct soma_hopfield soma_hopfield; /* opaque: N units, weights W [N, N] */

/* A network of n >= 1 units with zero weights. */
soma_status soma_hopfield_new(soma_hopfield **out, int n);
void soma_hopfield_free(soma_hopfield *h); /* NULL is a no-op */
int soma_hopfield_units(const soma_hopfield *h);
int soma_hopfield_patterns(const soma_hopfield *h); /* stored so far */
/* W [N, N], row-major (symmetric, zero diagonal); borrowed, valid until the next store. */
const float *soma_hopfield_weights(const soma_hopfield *h);
/* Adds p >= 1 patterns [p, n] of +-1 to the memory (Hebb's rule, one SYRK-like GEMM):
 * W += 1/N sum xi xi^T, diagonal kept at 0. n must equal the handle's N. */
soma_status soma_hopfield_store(soma_hopfield *h, const float *patterns, int p, int n);
/* Forgets every pattern (W = 0). */
void soma_hopfield_clear(soma_hopfield *h);
/* E(s) = -1/2 s^T W s for each of the b states s [b, n] into e [b]. */
soma_status soma_hopfield_energy(soma_hopfield *h, const float *s, int b, int n, float *e);
/* Synchronous updates of b states s [b, n] (+-1, updated in place): s <- sign(s W) with
 * ties kept, one GEMM a step over the states still moving, until each state reaches a fixed
 * point or a 2-cycle (the state of two steps before returns: the only other attractor of
 * synchronous updates with symmetric weights; s holds the cycle's latest state), or
 * max_steps (>= 1) steps. steps (may be NULL) [b]: the last step (1-based) that changed
 * state i (0: a fixed point already); -1 for a 2-cycle; max_steps + 1 when it still changed
 * at the last step allowed. */
soma_status soma_hopfield_update_sync(soma_hopfield *h, float *s, int b, int n, int max_steps,
                                      int *steps);
/* Asynchronous updates of b states s [b, n] in place: sweeps over the units in a random
 * order (a fresh permutation a sweep, from stream (seed, i) for state i), until a sweep
 * flips nothing or max_sweeps (>= 1) sweeps. sweeps (may be NULL) [b]: the sweeps run,
 * counting the last one that found a fixed point. */
soma_status soma_hopfield_update_async(soma_hopfield *h, float *s, int b, int n, int max_sweeps,
                                       uint64_t seed, int *sweeps);

typedef struct soma_mhn soma_mhn; /* opaque: M patterns [M, d] and beta */

/* A modern Hopfield network storing a copy of the m >= 1 patterns P [m, d] (rows), d >= 1,
 * inverse temperature beta > 0. */
soma_status soma_mhn_new(soma_mhn **out, const float *patterns, int m, int d, float beta);
void soma_mhn_free(soma_mhn *h); /* NULL is a no-op */
soma_status soma_mhn_set_beta(soma_mhn *h, float beta);
float soma_mhn_beta(const soma_mhn *h);
int soma_mhn_count(const soma_mhn *h);
int soma_mhn_dim(const soma_mhn *h);
const float *soma_mhn_patterns(const soma_mhn *h); /* [m, d], borrowed */
/* steps >= 1 updates xi <- X softmax(beta X^T xi) of the b cues xi [b, d] into out [b, d]
 * (out == xi is allowed). probs (may be NULL) [b, m]: the softmax weights of the last step
 * (the attention weights; row i sums to 1). */
soma_status soma_mhn_retrieve(soma_mhn *h, float *out, const float *xi, int b, int d, int steps,
                              float *probs);
/* The energy above of each of the b states xi [b, d] into e [b]. */
soma_status soma_mhn_energy(soma_mhn *h, const float *xi, int b, int d, float *e);

/* What a state's softmax weights p [m] say about the fixed point it sits at. */
typedef enum soma_mhn_kind {
    SOMA_MHN_SINGLE = 0,     /* one pattern holds more than half the weight: retrieval */
    SOMA_MHN_METASTABLE = 1, /* a few patterns share it: an average of a subset */
    SOMA_MHN_GLOBAL = 2,     /* spread over more than half the patterns (effective number
                                1 / sum p^2 > m / 2): the global average */
    SOMA_MHN_KIND_COUNT
} soma_mhn_kind;
/* The kind (above) of weights p [m] (non-negative, summing to 1); n_eff (may be NULL)
 * receives 1 / sum p^2, the effective number of patterns averaged. */
soma_mhn_kind soma_mhn_kind_of(const float *p, int m, float *n_eff);
const char *soma_mhn_kind_name(soma_mhn_kind k); /* "single", "metastable", "global" */
/* Delta_mu = x_mu^T x_mu - max_{nu != mu} x_mu^T x_nu for every stored pattern into
 * delta [m] (blocks of the Gram matrix by GEMM; +inf when m == 1). */
soma_status soma_mhn_separation(soma_mhn *h, float *delta);
/* Ramsauer et al.'s Theorem 3: a pattern whose separation Delta exceeds
 * 2 / (beta m) + 1 / beta log(2 (m - 1) m beta r^2), r = max_mu |x_mu|, is retrieved in one
 * update from any point of the sphere around it; the threshold for the handle's beta. */
double soma_mhn_separation_bound(const soma_mhn *h);

// --- gated recurrent units ------------------------------------------------------------
//
// torch.nn.GRU's equations and parameter layout (gates r, z, n in that order):
//   r = sigmoid(W_ir x_t + b_ir + W_hr h + b_hr),  z = sigmoid(W_iz x_t + b_iz + W_hz h + b_hz),
//   n = tanh(W_in x_t + b_in + r * (W_hn h + b_hn)),  h_t = (1 - z) * n + z * h_{t-1}.
// Spec tokens on a sequence [T,D]:
//   gruH     [T,D] -> [T,H] from h_{-1} = 0. Parameters weight_ih_l0 [3H,D], weight_hh_l0
//            [3H,H], bias_ih_l0 [3H], bias_hh_l0 [3H] (torch.nn.GRU(D, H, batch_first=True)).
//   gruHr    the same run backwards in time (step T-1 first); output t is still time t.
//   bigruH   [T,D] -> [T,2H]: forward then reverse direction side by side, the reverse one's
//            parameters suffixed "_reverse" (torch.nn.GRU(D, H, bidirectional=True)).
// The layers start from a zero state. A given initial state h0 (LFADS's generator starts from
// its initial condition) goes through the kernels below, which a model calls directly.

/* Floats of work memory one direction needs for N sequences of T steps and H units. */
size_t soma_gru_work(int N, int T, int H);
/* y[N,T,ldy] (columns 0..H-1 of each row written; ldy >= H) from x[N,T,D] (D may be 0: no
 * input, x unused) and h0[N,H] (NULL: zeros). w_ih [3H,D], w_hh [3H,H], b_ih and b_hh [3H].
 * reverse: steps run from t = T-1 down to 0. work (soma_gru_work(N, T, H) floats) keeps what
 * backward needs; no allocation. */
void soma_gru_forward(float *y, int ldy, float *work, const float *x, const float *h0,
                      const float *w_ih, const float *w_hh, const float *b_ih, const float *b_hh,
                      int N, int T, int D, int H, int reverse);
/* Backward of the last forward on the same work (used up: call once per forward) from dy
 * [N,T,ldy] (columns 0..H-1; NULL: zero, only dh0 flows). Parameter gradients ACCUMULATE
 * (each may be NULL); dx [N,T,D] is written (dx_add 0) or added to (dx_add 1), may be NULL;
 * dh0 [N,H] written (may be NULL). */
void soma_gru_backward(float *dx, int dx_add, float *dh0, float *dw_ih, float *dw_hh, float *db_ih,
                       float *db_hh, const float *dy, int ldy, float *work, const float *x,
                       const float *w_ih, const float *w_hh, int N, int T, int D, int H,
                       int reverse);

#ifdef __cplusplus
}
#endif
#endif
