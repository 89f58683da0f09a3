// Continual learning: the methods as training-loop hooks (EWC, online EWC, synaptic
// intelligence, experience replay; fine-tuning and joint training need none), and the diagonal
// Fisher information.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "learn/internal.h"
#include "soma/learn.h"

static const char *const method_names_[SOMA_CL_METHOD_COUNT] = {
    "finetune", "joint", "ewc", "online_ewc", "si", "replay", "lwf", "generative_replay", "cls"};

/* The methods kept in files of their own. */
static const soma__cl_ext_ops *ext_ops_(soma_cl_method_kind k) {
    switch (k) {
    case SOMA_CL_LWF: return &soma__cl_lwf_ops;
    case SOMA_CL_GEN_REPLAY: return &soma__cl_genreplay_ops;
    case SOMA_CL_CLS: return &soma__cl_cls_ops;
    default: return NULL;
    }
}

const char *soma_cl_method_name(soma_cl_method_kind k) {
    return (int)k >= 0 && k < SOMA_CL_METHOD_COUNT ? method_names_[k] : "?";
}

soma_status soma_cl_method_parse(const char *name, soma_cl_method_kind *k) {
    for (int i = 0; i < SOMA_CL_METHOD_COUNT; i++)
        if (name && strcmp(name, method_names_[i]) == 0) {
            *k = (soma_cl_method_kind)i;
            return SOMA_OK;
        }
    return soma_error(SOMA_ERR_ARG, "unknown continual-learning method '%s' (finetune, joint, ewc, online_ewc, si, replay, lwf, "
                      "generative_replay, cls)",
                      name ? name : "");
}

soma_cl_opts soma_cl_opts_default(void) {
    soma_cl_opts o;
    memset(&o, 0, sizeof o);
    o.method = SOMA_CL_FINETUNE;
    o.ewc_lambda = 100.f;
    o.ewc_gamma = 1.f;
    o.fisher = SOMA_FISHER_TRUE;
    o.fisher_samples = 500;
    o.fisher_batch = 1;
    o.si_c = 0.1f;
    o.si_xi = 1e-3f;
    o.buffer_frac = 0.01;
    o.seed = 1;
    o.lwf_alpha = 1.f;
    o.lwf_temp = 2.f;
    o.lwf_balance = 0;
    o.gen_latent = 32;
    o.gen_hidden = "fc400,relu,fc400,relu";
    o.gen_lr = 1e-3f;
    o.gen_beta = 1.f;
    o.gen_lik = 0;
    o.gen_iters = 2;
    o.gen_soft = 1;
    o.gen_temp = 2.f;
    o.cls_capacity = 0;
    o.cls_key_dim = 256;
    o.cls_layer = 1;
    o.cls_beta = 50.f;
    o.cls_confidence = 0.5f;
    return o;
}

// --- Fisher information ------------------------------------------------------------------

/* A label drawn from the softmax of row y over [o, o + c). */
static int draw_(soma_rng *rng, const float *y, int o, int c) {
    float m = y[o];
    for (int k = 1; k < c; k++) m = fmaxf(m, y[o + k]);
    double z = 0.0;
    for (int k = 0; k < c; k++) z += exp((double)(y[o + k] - m));
    double u = soma_rng_uniform(rng) * z, acc = 0.0;
    for (int k = 0; k < c; k++) {
        acc += exp((double)(y[o + k] - m));
        if (u < acc) return o + k;
    }
    return o + c - 1;
}

/* The outputs [*o, *o + *c) a sample of label y competes in (soma_target's heads). */
static soma_status head_(int y, int head_offset, int head_count, int out, int *o, int *c) {
    *o = 0, *c = out;
    if (head_count > 0) {
        *c = head_count;
        *o = head_offset == SOMA_HEAD_BY_LABEL ? y / head_count * head_count : head_offset;
    }
    if (*o < 0 || *o + *c > out)
        return soma_error(SOMA_ERR_ARG, "fisher: head [%d, %d) does not fit %d outputs", *o, *o + *c, out);
    return SOMA_OK;
}

/* The fast path of the per-sample Fisher (batch 1): under backprop, for a net whose
 * parameters all sit in top-level dense layers between element-wise activations (an MLP).
 * Each sample's weight gradient in a dense layer is the outer product dy_n x_n^T, so the sum of
 * its squares over a chunk of samples is one GEMM, (dy^2)^T (x^2), and the bias's sum_n dy_n^2:
 * a chunk goes forward and backward at once instead of one sample at a time (the same F as the
 * per-sample loop, up to rounding; the true Fisher's labels are drawn in the same order). */
static int fisher_fast_ok_(soma_net *net, const soma_rule *rule) {
    if (!rule->ops->name || strcmp(rule->ops->name, "backprop") != 0) return 0;
    static const char *const plain[] = {"relu", "tanh", "sigmoid", "gelu", "flatten", "norm"};
    for (int i = 0; i < soma_net_n_layers(net); i++) {
        const soma_layer *l = soma_net_layer(net, i);
        if (l->n_params == 0) {
            int ok = 0;
            for (size_t k = 0; k < sizeof plain / sizeof *plain; k++) ok |= strcmp(l->ops->kind, plain[k]) == 0;
            if (!ok) return 0;
            continue;
        }
        if (strcmp(l->ops->kind, "dense") != 0 || l->out.rank != 1 || l->n_params != 2) return 0;
        for (int p = 0; p < 2; p++)
            if (!l->params[p].trainable || l->params[p].feedback) return 0;
    }
    return 1;
}

static soma_status fisher_fast_(soma_net *net, const soma_dataset *d, int n, soma_fisher_kind kind, int head_offset,
                                int head_count, const int *labels, soma_rng *rng, float *F, size_t nv) {
    enum { CHUNK = 256 };
    const int L = soma_net_n_layers(net), out = (int)soma_shape_size(soma_net_out_shape(net));
    size_t w = d->dim;
    for (int i = 0; i < L; i++) {
        const soma_layer *l = soma_net_layer(net, i);
        w = soma_shape_size(l->in) > w ? soma_shape_size(l->in) : w;
        w = soma_shape_size(l->out) > w ? soma_shape_size(l->out) : w;
    }
    const int B = n < CHUNK ? n : CHUNK;
    SOMA_TRY(soma_net_reserve(net, B));
    memset(F, 0, nv * sizeof(float));
    const float *base = soma_net_flat_values(net, NULL);
    float *x = soma_alloc((size_t)B, d->dim * sizeof(float)), *buf = soma_alloc((size_t)B * 4, w * sizeof(float));
    int *y = soma_alloc((size_t)B, sizeof(int)), *idx = soma_alloc((size_t)B, sizeof(int));
    soma_status st = x && buf && y && idx ? SOMA_OK : SOMA_ERR_NOMEM;
    float *dy = buf, *dx = buf + (size_t)B * w, *sq = buf + (size_t)2 * B * w, *xs = buf + (size_t)3 * B * w;
    for (int s = 0; s < n && st == SOMA_OK; s += B) {
        const int m = n - s < B ? n - s : B;
        for (int i = 0; i < m; i++) idx[i] = s + i;
        soma_dataset_batch(d, idx, m, x, y);
        const float *yo;
        if ((st = soma_net_forward(net, x, m, SOMA_MODE_EVAL, &yo)) != SOMA_OK) break;
        /* each sample's dL/dz of its own cross-entropy: softmax over its head less the one-hot */
        for (int i = 0; i < m && st == SOMA_OK; i++) {
            int o, c;
            if ((st = head_(y[i], head_offset, head_count, out, &o, &c)) != SOMA_OK) break;
            const float *z = yo + (size_t)i * out;
            const int lab = labels ? labels[s + i] : kind == SOMA_FISHER_TRUE ? draw_(rng, z, o, c) : y[i];
            if (lab < o || lab >= o + c) {
                st = soma_error(SOMA_ERR_ARG, "fisher: sample %d has label %d, outside the outputs [%d, %d) of a net of %d",
                                s + i, lab, o, o + c, out);
                break;
            }
            float *g = dy + (size_t)i * out, mx = z[o];
            for (int k = 1; k < c; k++) mx = fmaxf(mx, z[o + k]);
            double t = 0.0;
            for (int k = 0; k < c; k++) t += exp((double)(z[o + k] - mx));
            memset(g, 0, (size_t)out * sizeof(float));
            for (int k = 0; k < c; k++) g[o + k] = (float)(exp((double)(z[o + k] - mx)) / t);
            g[lab] -= 1.f;
        }
        for (int li = L - 1; li >= 0 && st == SOMA_OK; li--) {
            soma_layer *l = soma_net_layer(net, li);
            const float *xin = soma_net_activation(net, li), *yout = soma_net_activation(net, li + 1);
            const int I = (int)soma_shape_size(l->in), O = (int)soma_shape_size(l->out);
            if (l->n_params) {
                for (size_t k = 0; k < (size_t)m * O; k++) sq[k] = dy[k] * dy[k];
                for (size_t k = 0; k < (size_t)m * I; k++) xs[k] = xin[k] * xin[k];
                float *fw = F + (l->params[0].value - base), *fb = F + (l->params[1].value - base);
                soma_gemm(1, 0, O, I, m, 1.f, sq, O, xs, I, 1.f, fw, I);
                for (int i = 0; i < m; i++)
                    for (int o = 0; o < O; o++) fb[o] += sq[(size_t)i * O + o];
                if (li > 0) soma_dense_backward(dx, NULL, NULL, dy, xin, l->params[0].value, m, I, O);
            } else if (li > 0) {
                l->ops->backward(l, dx, dy, xin, yout, m);
            }
            float *t = dy;
            dy = dx;
            dx = t;
        }
    }
    if (st == SOMA_OK && n > 0)
        for (size_t i = 0; i < nv; i++) F[i] /= (float)n;
    soma_free(x);
    soma_free(buf);
    soma_free(y);
    soma_free(idx);
    return st;
}

soma_status soma_cl_fisher(soma_net *net, soma_rule *rule, const soma_dataset *d, int n, int batch,
                           soma_fisher_kind kind, int head_offset, int head_count, const int *labels, soma_rng *rng,
                           float *F) {
    if ((int)kind < 0 || kind >= SOMA_FISHER_COUNT) return soma_error(SOMA_ERR_ARG, "fisher: unknown kind %d", (int)kind);
    if (rule->loss != SOMA_LOSS_XENT || !d->y || d->y_len != 1)
        return soma_error(SOMA_ERR_ARG, "fisher: needs a classifier (xent loss, one label a sample)");
    if (kind == SOMA_FISHER_TRUE && !labels && !rng) return soma_error(SOMA_ERR_ARG, "fisher: the true Fisher needs an rng");
    if (n <= 0 || n > d->n) n = d->n;
    const int B = batch < 1 ? 1 : batch > n ? n : batch;
    const int out = (int)soma_shape_size(soma_net_out_shape(net));
    size_t nv;
    float *g = soma_net_flat_grads(net, &nv);
    if (B == 1 && fisher_fast_ok_(net, rule)) return fisher_fast_(net, d, n, kind, head_offset, head_count, labels, rng, F, nv);
    memset(F, 0, nv * sizeof(float));
    SOMA_TRY(soma_net_reserve(net, B));
    float *x = soma_alloc((size_t)B, d->dim * sizeof(float));
    int *y = soma_alloc((size_t)B, sizeof(int)), *idx = soma_alloc((size_t)B, sizeof(int));
    soma_status st = x && y && idx ? SOMA_OK : SOMA_ERR_NOMEM;
    long batches = 0;
    for (int s = 0; s < n && st == SOMA_OK; s += B) {
        const int m = n - s < B ? n - s : B;
        for (int i = 0; i < m; i++) idx[i] = s + i;
        soma_dataset_batch(d, idx, m, x, y);
        if (labels) {
            memcpy(y, labels + s, (size_t)m * sizeof(int));
        } else if (kind == SOMA_FISHER_TRUE) {
            const float *yo;
            if ((st = soma_net_forward(net, x, m, SOMA_MODE_EVAL, &yo)) != SOMA_OK) break;
            for (int i = 0; i < m; i++) {
                int o, c;
                if ((st = head_(y[i], head_offset, head_count, out, &o, &c)) != SOMA_OK) break;
                y[i] = draw_(rng, yo + (size_t)i * out, o, c);
            }
            if (st != SOMA_OK) break;
        }
        /* labels index all outputs and fall inside the head (soma_target) */
        const int lo = head_count > 0 && head_offset != SOMA_HEAD_BY_LABEL ? head_offset : 0;
        const int hi = head_count > 0 && head_offset != SOMA_HEAD_BY_LABEL ? head_offset + head_count : out;
        for (int i = 0; i < m && st == SOMA_OK; i++)
            if (y[i] < lo || y[i] >= hi || hi > out)
                st = soma_error(SOMA_ERR_ARG, "fisher: sample %d has label %d, outside the outputs [%d, %d) of a "
                                "net of %d", s + i, y[i], lo, hi, out);
        if (st != SOMA_OK) break;
        soma_target tg = {.labels = y, .positions = 1, .head_offset = head_offset, .head_count = head_count};
        float l;
        if ((st = soma_rule_step(rule, net, x, &tg, m, &l, NULL)) != SOMA_OK) break;
        for (size_t i = 0; i < nv; i++) F[i] += g[i] * g[i];
        batches++;
    }
    if (st == SOMA_OK && batches)
        for (size_t i = 0; i < nv; i++) F[i] /= (float)batches;
    soma_net_zero_grad(net);
    soma_free(x);
    soma_free(y);
    soma_free(idx);
    return st;
}

// --- methods -----------------------------------------------------------------------------

struct soma_cl_method {
    soma_cl_opts o;
    soma_net *net;
    soma_rule *rule;
    size_t np;
    int task, head_offset, head_count, consolidated;
    /* EWC (both): the penalty sum_t F_t (theta - theta*_t)^2 kept exactly as
     * A (theta - anchor)^2 + K, A = sum_t F_t, anchor = sum_t F_t theta*_t / A; online EWC:
     * A = gamma A + F, anchor = theta* of the last task, K = 0. SI: anchor = theta at the last
     * task's end (also the start of the path integral's displacement). */
    float *A, *anchor, *F;
    double K;
    /* SI */
    float *w, *theta_old, *g, *omega;
    /* replay: a reservoir of cap samples */
    long cap, seen;
    int n_buf, replay_batch;
    size_t dim;
    float *bx;
    int *by;
    long *bid;
    soma_rng rng;
    size_t extra_bytes; /* what the caller keeps for the method (joint: the past tasks' data) */
    /* a method of its own file (ext_ops_): its state, created by soma__cl_method_bind */
    const soma__cl_ext_ops *ext;
    void *ext_state;
    /* attach chains the method's hooks (own) with those the caller's cfg held (caller): the
     * loop calls the chain_*_ wrappers below with user = the method */
    soma_train_hooks own, caller;
    soma_status (*own_batch)(void *, soma_net *, long, float *, int *, float *, int, int *);
    soma_status (*caller_batch)(void *, soma_net *, long, float *, int *, float *, int, int *);
    soma_status (*own_target)(void *, soma_net *, long, const float *, int, soma_target *);
    soma_status (*caller_target)(void *, soma_net *, long, const float *, int, soma_target *);
    int caller_extra;
};

static float *vec_(size_t n) { return soma_calloc(n, sizeof(float)); }

soma_status soma_cl_method_new(soma_cl_method **out, soma_net *net, soma_rule *rule, const soma_cl_opts *o,
                               long total_train, size_t dim) {
    *out = NULL;
    if ((int)o->method < 0 || o->method >= SOMA_CL_METHOD_COUNT)
        return soma_error(SOMA_ERR_ARG, "continual: unknown method %d", (int)o->method);
    if (!(o->ewc_lambda >= 0) || !isfinite(o->ewc_lambda))
        return soma_error(SOMA_ERR_ARG, "continual: ewc lambda %g must be >= 0", (double)o->ewc_lambda);
    if (!(o->ewc_gamma >= 0 && o->ewc_gamma <= 1))
        return soma_error(SOMA_ERR_ARG, "continual: ewc gamma %g outside [0, 1]", (double)o->ewc_gamma);
    if (!(o->si_c >= 0) || !isfinite(o->si_c) || !(o->si_xi > 0) || !isfinite(o->si_xi))
        return soma_error(SOMA_ERR_ARG, "continual: si c %g must be >= 0 and xi %g > 0", (double)o->si_c,
                          (double)o->si_xi);
    if ((int)o->fisher < 0 || o->fisher >= SOMA_FISHER_COUNT)
        return soma_error(SOMA_ERR_ARG, "continual: unknown Fisher kind %d", (int)o->fisher);
    if (o->penalty_decoupled != 0 && o->penalty_decoupled != 1)
        return soma_error(SOMA_ERR_ARG, "continual: penalty_decoupled %d is neither 0 nor 1", o->penalty_decoupled);
    if (o->buffer < 0 || !(o->buffer_frac >= 0 && o->buffer_frac <= 1) || o->replay_batch < 0 || o->replay_batch > 65536)
        return soma_error(SOMA_ERR_ARG, "continual: buffer %ld, fraction %g (0..1) or replay batch %d (0..65536) out of range",
                          o->buffer, o->buffer_frac, o->replay_batch);
    soma_cl_method *m = soma_calloc(1, sizeof *m);
    if (!m) return SOMA_ERR_NOMEM;
    m->o = *o;
    m->net = net;
    m->rule = rule;
    m->ext = ext_ops_(o->method);
    soma_net_flat_values(net, &m->np);
    m->dim = dim;
    soma_rng_seed(&m->rng, o->seed, 0x434cULL);
    soma_status st = SOMA_OK;
    const size_t np = m->np;
    switch (o->method) {
    case SOMA_CL_EWC:
    case SOMA_CL_ONLINE_EWC:
        m->A = vec_(np);
        m->anchor = vec_(np);
        m->F = vec_(np);
        if (!m->A || !m->anchor || !m->F) st = SOMA_ERR_NOMEM;
        break;
    case SOMA_CL_SI:
        m->anchor = vec_(np);
        m->w = vec_(np);
        m->theta_old = vec_(np);
        m->g = vec_(np);
        m->omega = vec_(np);
        if (!m->anchor || !m->w || !m->theta_old || !m->g || !m->omega) st = SOMA_ERR_NOMEM;
        else memcpy(m->anchor, soma_net_flat_values(net, NULL), np * sizeof(float));
        break;
    case SOMA_CL_REPLAY: {
        long cap = o->buffer > 0 ? o->buffer : (long)ceil(o->buffer_frac * (double)total_train);
        if (cap < 1) {
            st = soma_error(SOMA_ERR_ARG, "continual: replay buffer of %ld samples (give --buffer N or a fraction > 0)", cap);
            break;
        }
        const double bytes = (double)cap * ((double)dim * sizeof(float) + sizeof(int) + sizeof(long));
        if (bytes > 4294967296.0 || cap > 100000000L) {
            st = soma_error(SOMA_ERR_ARG, "continual: a replay buffer of %ld samples needs %.3g GiB (at most 4 GiB)", cap,
                            bytes / 1073741824.0);
            break;
        }
        m->cap = cap;
        m->bx = soma_alloc((size_t)cap, dim * sizeof(float));
        m->by = soma_alloc((size_t)cap, sizeof(int));
        m->bid = soma_alloc((size_t)cap, sizeof(long));
        if (!m->bx || !m->by || !m->bid)
            st = soma_error(SOMA_ERR_ARG, "continual: a replay buffer of %ld samples (%.3g GiB) is larger than memory allows",
                            cap, bytes / 1073741824.0);
        break;
    }
    default:
        break;
    }
    if (st != SOMA_OK) {
        soma_cl_method_free(m);
        return st;
    }
    *out = m;
    return SOMA_OK;
}

void soma_cl_method_free(soma_cl_method *m) {
    if (!m) return;
    if (m->ext && m->ext_state) m->ext->destroy(m->ext_state);
    soma_free(m->A);
    soma_free(m->anchor);
    soma_free(m->F);
    soma_free(m->w);
    soma_free(m->theta_old);
    soma_free(m->g);
    soma_free(m->omega);
    soma_free(m->bx);
    soma_free(m->by);
    soma_free(m->bid);
    soma_free(m);
}

size_t soma_cl_method_memory(const soma_cl_method *m) {
    size_t b = m->extra_bytes;
    if (m->ext) return b + (m->ext_state ? m->ext->memory(m->ext_state) : 0);
    const size_t v = m->np * sizeof(float);
    switch (m->o.method) {
    case SOMA_CL_EWC:
    case SOMA_CL_ONLINE_EWC: return b + 2 * v; /* Fisher and anchors (F is scratch of the task's end) */
    case SOMA_CL_SI: return b + 5 * v;         /* anchors, path integral, last step's values and grads, Omega */
    case SOMA_CL_REPLAY: return b + (size_t)m->cap * (m->dim * sizeof(float) + sizeof(int) + sizeof(long));
    default: return b;
    }
}

const float *soma_cl_si_omega(const soma_cl_method *m) { return m->o.method == SOMA_CL_SI ? m->omega : NULL; }

soma_status soma_cl_replay_buffer(const soma_cl_method *m, int *n, const float **x, const int **labels,
                                  const long **ids) {
    if (m->o.method != SOMA_CL_REPLAY) return soma_error(SOMA_ERR_ARG, "continual: %s keeps no replay buffer",
                                                         soma_cl_method_name(m->o.method));
    *n = m->n_buf;
    if (x) *x = m->bx;
    if (labels) *labels = m->by;
    if (ids) *ids = m->bid;
    return SOMA_OK;
}

/* Reservoir sampling (Vitter's algorithm R): the k-th sample offered (k from 1) enters a full
 * buffer of cap with probability cap / k, replacing a uniformly drawn slot. */
soma_status soma_cl_replay_offer(soma_cl_method *m, const float *x, int label, long id) {
    if (m->o.method != SOMA_CL_REPLAY) return soma_error(SOMA_ERR_ARG, "continual: not a replay method");
    long slot;
    m->seen++;
    if (m->n_buf < m->cap) {
        slot = m->n_buf++;
    } else {
        slot = (long)soma_rng_below(&m->rng, (uint64_t)m->seen);
        if (slot >= m->cap) return SOMA_OK;
    }
    memcpy(m->bx + (size_t)slot * m->dim, x, m->dim * sizeof(float));
    m->by[slot] = label;
    m->bid[slot] = id;
    return SOMA_OK;
}

double soma_cl_method_penalty(const soma_cl_method *m, soma_net *net, float *grad) {
    if (!m->consolidated) return 0.0;
    const float *th = soma_net_flat_values(net, NULL);
    double v = 0.0;
    if (m->o.method == SOMA_CL_EWC || m->o.method == SOMA_CL_ONLINE_EWC) {
        const float lam = m->o.ewc_lambda;
        for (size_t i = 0; i < m->np; i++) {
            const float d = th[i] - m->anchor[i];
            v += (double)m->A[i] * d * d;
            if (grad) grad[i] += lam * m->A[i] * d;
        }
        return 0.5 * lam * (v + m->K);
    }
    if (m->o.method == SOMA_CL_SI) {
        const float c = m->o.si_c;
        for (size_t i = 0; i < m->np; i++) {
            const float d = th[i] - m->anchor[i];
            v += (double)m->omega[i] * d * d;
            if (grad) grad[i] += 2.f * c * m->omega[i] * d;
        }
        return c * v;
    }
    return 0.0;
}

// --- the hooks ---------------------------------------------------------------------------

static soma_status after_grad_(void *user, soma_net *net, long step, float *loss) {
    (void)step;
    soma_cl_method *m = user;
    float *g = soma_net_flat_grads(net, NULL);
    if (m->o.method == SOMA_CL_SI) { /* the task loss's gradient, before the penalty */
        memcpy(m->g, g, m->np * sizeof(float));
        memcpy(m->theta_old, soma_net_flat_values(net, NULL), m->np * sizeof(float));
    }
    /* decoupled: the penalty is reported in the loss; its step comes after the optimizer's */
    *loss += (float)soma_cl_method_penalty(m, net, m->o.penalty_decoupled ? NULL : g);
    return SOMA_OK;
}

/* The decoupled penalty's step: the quadratic's exact implicit step of size lr, per parameter
 * theta <- a + (theta - a) / (1 + lr s) (soma_cl_opts.penalty_decoupled). */
static void penalty_prox_(soma_cl_method *m, soma_net *net, float lr) {
    if (!m->consolidated) return;
    float *th = soma_net_flat_values(net, NULL);
    const int si = m->o.method == SOMA_CL_SI;
    const float *imp = si ? m->omega : m->A;
    const float k = lr * (si ? 2.f * m->o.si_c : m->o.ewc_lambda);
    for (size_t i = 0; i < m->np; i++) th[i] = m->anchor[i] + (th[i] - m->anchor[i]) / (1.f + k * imp[i]);
}

static soma_status after_step_(void *user, soma_net *net, long step, float lr) {
    (void)step;
    soma_cl_method *m = user;
    if (m->o.penalty_decoupled) penalty_prox_(m, net, lr);
    if (m->o.method != SOMA_CL_SI) return SOMA_OK;
    const float *th = soma_net_flat_values(net, NULL);
    for (size_t i = 0; i < m->np; i++) m->w[i] -= m->g[i] * (th[i] - m->theta_old[i]);
    return SOMA_OK;
}

static soma_status task_end_(void *user, soma_net *net, int task, const soma_dataset *train) {
    soma_cl_method *m = user;
    const float *th = soma_net_flat_values(net, NULL);
    const size_t np = m->np;
    (void)task;
    if (m->o.method == SOMA_CL_EWC || m->o.method == SOMA_CL_ONLINE_EWC) {
        SOMA_TRY(soma_cl_fisher(net, m->rule, train, m->o.fisher_samples, m->o.fisher_batch, m->o.fisher, m->head_offset,
                                m->head_count, NULL, &m->rng, m->F));
        if (m->o.method == SOMA_CL_ONLINE_EWC) {
            for (size_t i = 0; i < np; i++) {
                m->A[i] = m->o.ewc_gamma * m->A[i] + m->F[i];
                m->anchor[i] = th[i];
            }
        } else { /* merge F (theta - theta*)^2 into A (theta - anchor)^2 + K exactly */
            double dk = 0.0;
            for (size_t i = 0; i < np; i++) {
                const double a = m->A[i], f = m->F[i], s = a + f;
                const double na = s > 0 ? (a * m->anchor[i] + f * th[i]) / s : th[i];
                dk += a * (m->anchor[i] - na) * (m->anchor[i] - na) + f * (th[i] - na) * (th[i] - na);
                m->A[i] = (float)s;
                m->anchor[i] = (float)na;
            }
            m->K += dk;
        }
        m->consolidated = 1;
    } else if (m->o.method == SOMA_CL_SI) {
        for (size_t i = 0; i < np; i++) {
            const float d = th[i] - m->anchor[i];
            m->omega[i] += m->w[i] / (d * d + m->o.si_xi);
            m->w[i] = 0.f;
            m->anchor[i] = th[i];
        }
        m->consolidated = 1;
    } else if (m->o.method == SOMA_CL_REPLAY) {
        float *x = soma_alloc(m->dim, sizeof(float));
        if (!x) return SOMA_ERR_NOMEM;
        for (int i = 0; i < train->n; i++) {
            int y;
            soma_dataset_batch(train, &i, 1, x, &y);
            soma_cl_replay_offer(m, x, y, ((long)m->task << 32) | i);
        }
        soma_free(x);
    }
    return SOMA_OK;
}

/* Replay: appends replay_batch samples drawn uniformly (with replacement) from the buffer. */
static soma_status batch_(void *user, soma_net *net, long step, float *x, int *labels, float *values, int n,
                          int *n_extra) {
    (void)net;
    (void)step;
    (void)values;
    soma_cl_method *m = user;
    *n_extra = 0;
    if (!m->n_buf || !labels) return SOMA_OK;
    const int k = m->replay_batch;
    for (int i = 0; i < k; i++) {
        const long j = (long)soma_rng_below(&m->rng, (uint64_t)m->n_buf);
        memcpy(x + (size_t)(n + i) * m->dim, m->bx + (size_t)j * m->dim, m->dim * sizeof(float));
        labels[n + i] = m->by[j];
    }
    *n_extra = k;
    return SOMA_OK;
}

// --- the chain of the method's hooks and the caller's ----------------------------------
//
// The caller's after_grad runs first (a gradient all-reduce must see the data's gradient
// before a penalty is added, and SI records the reduced one); after_step, epoch_end and
// task_end run the method's first (the caller's task_end sees the consolidated state).

static soma_status chain_after_grad_(void *user, soma_net *net, long step, float *loss) {
    soma_cl_method *m = user;
    if (m->caller.after_grad) SOMA_TRY(m->caller.after_grad(m->caller.user, net, step, loss));
    return m->own.after_grad ? m->own.after_grad(m->own.user, net, step, loss) : SOMA_OK;
}

static soma_status chain_after_step_(void *user, soma_net *net, long step, float lr) {
    soma_cl_method *m = user;
    if (m->own.after_step) SOMA_TRY(m->own.after_step(m->own.user, net, step, lr));
    return m->caller.after_step ? m->caller.after_step(m->caller.user, net, step, lr) : SOMA_OK;
}

static soma_status chain_epoch_end_(void *user, soma_net *net, int epoch, const soma_train_log *log) {
    soma_cl_method *m = user;
    if (m->own.epoch_end) SOMA_TRY(m->own.epoch_end(m->own.user, net, epoch, log));
    return m->caller.epoch_end ? m->caller.epoch_end(m->caller.user, net, epoch, log) : SOMA_OK;
}

static soma_status chain_task_end_(void *user, soma_net *net, int task, const soma_dataset *train) {
    soma_cl_method *m = user;
    if (m->own.task_end) SOMA_TRY(m->own.task_end(m->own.user, net, task, train));
    return m->caller.task_end ? m->caller.task_end(m->caller.user, net, task, train) : SOMA_OK;
}

/* save/load: one side at most has them (checked in attach) */
static soma_status chain_save_(void *user, void **data, size_t *size) {
    soma_cl_method *m = user;
    const soma_train_hooks *h = m->own.save ? &m->own : &m->caller;
    return h->save(h->user, data, size);
}

static soma_status chain_load_(void *user, const void *data, size_t size) {
    soma_cl_method *m = user;
    const soma_train_hooks *h = m->own.load ? &m->own : &m->caller;
    return h->load(h->user, data, size);
}

static soma_status chain_batch_(void *user, soma_net *net, long step, float *x, int *labels, float *values, int n,
                                int *n_extra) {
    soma_cl_method *m = user;
    return m->own_batch ? m->own_batch(m->own.user, net, step, x, labels, values, n, n_extra)
                        : m->caller_batch(m->caller.user, net, step, x, labels, values, n, n_extra);
}

static soma_status chain_target_(void *user, soma_net *net, long step, const float *x, int n, soma_target *t) {
    soma_cl_method *m = user;
    return m->own_target ? m->own_target(m->own.user, net, step, x, n, t)
                         : m->caller_target(m->caller.user, net, step, x, n, t);
}

/* The method's own hooks for task t into cfg (cleared first; hooks.user the method's state). */
static soma_status attach_own_(soma_cl_method *m, soma_train_config *cfg, int t, int head_offset, int head_count) {
    memset(&cfg->hooks, 0, sizeof cfg->hooks);
    cfg->hooks.user = m;
    cfg->batch_hook = NULL;
    cfg->batch_extra = 0;
    cfg->target_hook = NULL;
    if (m->ext) {
        if (!m->ext_state)
            return soma_error(SOMA_ERR_ARG, "continual: %s needs the task stream (soma_cl_run binds it)",
                              soma_cl_method_name(m->o.method));
        cfg->hooks.user = m->ext_state;
        return m->ext->attach(m->ext_state, cfg, t, head_offset, head_count);
    }
    switch (m->o.method) {
    case SOMA_CL_EWC:
    case SOMA_CL_ONLINE_EWC:
        cfg->hooks.after_grad = after_grad_;
        if (m->o.penalty_decoupled) cfg->hooks.after_step = after_step_;
        cfg->hooks.task_end = task_end_;
        break;
    case SOMA_CL_SI:
        cfg->hooks.after_grad = after_grad_;
        cfg->hooks.after_step = after_step_;
        cfg->hooks.task_end = task_end_;
        break;
    case SOMA_CL_REPLAY:
        m->replay_batch = m->o.replay_batch > 0 ? m->o.replay_batch : cfg->batch;
        cfg->hooks.task_end = task_end_;
        cfg->batch_hook = batch_;
        cfg->batch_extra = m->replay_batch;
        break;
    default:
        break;
    }
    return SOMA_OK;
}

soma_status soma_cl_method_attach(soma_cl_method *m, soma_train_config *cfg, int t, int head_offset, int head_count) {
    /* the caller's hooks; a cfg this method already attached keeps the caller's saved then */
    if (cfg->hooks.user != m) {
        m->caller = cfg->hooks;
        m->caller_batch = cfg->batch_hook;
        m->caller_target = cfg->target_hook;
        m->caller_extra = cfg->batch_hook ? cfg->batch_extra : 0;
    }
    m->task = t;
    m->head_offset = head_offset;
    m->head_count = head_count;
    cfg->head_offset = head_offset;
    cfg->head_count = head_count;
    cfg->task = t;
    SOMA_TRY(attach_own_(m, cfg, t, head_offset, head_count));
    m->own = cfg->hooks;
    m->own_batch = cfg->batch_hook;
    m->own_target = cfg->target_hook;
    const char *clash = m->own_batch && m->caller_batch     ? "batch_hook"
                        : m->own_target && m->caller_target ? "target_hook"
                        : (m->own.save || m->own.load) && (m->caller.save || m->caller.load) ? "hooks.save/load"
                                                                                            : NULL;
    if (clash)
        return soma_error(SOMA_ERR_ARG, "continual: %s sets its own %s; the caller's cannot run beside it",
                          soma_cl_method_name(m->o.method), clash);
    soma_train_hooks h;
    memset(&h, 0, sizeof h);
    h.user = m;
    const soma_train_hooks *o = &m->own, *c = &m->caller;
    if (o->after_grad || c->after_grad) h.after_grad = chain_after_grad_;
    if (o->after_step || c->after_step) h.after_step = chain_after_step_;
    if (o->epoch_end || c->epoch_end) h.epoch_end = chain_epoch_end_;
    if (o->task_end || c->task_end) h.task_end = chain_task_end_;
    if (o->save || c->save) h.save = chain_save_;
    if (o->load || c->load) h.load = chain_load_;
    cfg->hooks = h;
    if (m->own_batch || m->caller_batch) {
        cfg->batch_hook = chain_batch_;
        if (!m->own_batch) cfg->batch_extra = m->caller_extra;
    }
    cfg->target_hook = m->own_target || m->caller_target ? chain_target_ : NULL;
    return SOMA_OK;
}

void soma__cl_method_set_extra(soma_cl_method *m, size_t bytes) { m->extra_bytes = bytes; }

soma_status soma__cl_method_bind(soma_cl_method *m, const soma_task_stream *s) {
    if (!m->ext || m->ext_state) return SOMA_OK;
    return m->ext->create(&m->ext_state, m->net, m->rule, &m->o, s);
}

soma_status soma__cl_method_evaluate(soma_cl_method *m, soma_net *net, soma_rule *rule, const soma_dataset *d,
                                     int batch, int head_offset, int head_count, float *acc) {
    if (m->ext && m->ext_state && m->ext->evaluate)
        return m->ext->evaluate(m->ext_state, net, rule, d, batch, head_offset, head_count, acc);
    return soma_evaluate_head(net, rule, d, batch, head_offset, head_count, acc, NULL);
}
