// Forward-forward (Hinton 2022, "The Forward-Forward Algorithm: Some Preliminary
// Investigations"): every dense layer of a chain learns on its own to give a high goodness
// (the sum of its squared activities) to positive data (an input carrying its correct label)
// and a low goodness to negative data (the same input carrying a wrong label).
//
// The net: optional leading flatten layers, then B >= 1 blocks "dense + elementwise
// activations (relu, tanh, sigmoid, gelu)", then one dense read-out fcK with nothing after it.
// K, the read-out's width, is the number of classes. For example (Fashion-MNIST):
//     fc1000,relu,fc1000,relu,fc10
// Block b's input is the previous block's activity divided by its length (plus 1e-6), so only
// its direction passes on (the paper's layer normalisation); block 0 reads the input with its
// first K features replaced by the one-hot label (the paper's MNIST embedding; the input
// needs at least K features and the images lose their first K pixels, a corner that is blank
// in MNIST and Fashion-MNIST).
//
// Per block, with g = sum of squared activities and theta = ff_theta (0: the block's number
// of units), the loss of a batch of n positives and m n negatives (m = ff_negatives) is
//     mean_pos softplus(theta - g) + mean_neg softplus(g - theta)
// and its gradient with respect to the block's own weights and biases alone goes into their
// grads (the normalised input is a constant for the block: no gradient crosses blocks).
// Negatives: the same samples with a uniformly random wrong label each (m of them a sample),
// or with ff_hard the m wrong labels with the largest goodness under the current model
// (K extra forward passes a step, as the paper does).
//
// The read-out fcK learns, also locally, softmax cross-entropy on the last block's normalised
// activity for the input carrying the neutral label (1/K in each of the K features); it gives
// the step's correct count. The step's *loss is the sum of the blocks' FF losses plus the
// read-out's cross-entropy. predict ignores the read-out and classifies by goodness: every
// label embedded in turn, goodness summed over the blocks except the first (all of them when
// there is one block, or with ff_vote_all), the label with the largest total wins. Note that
// soma_evaluate_rule's loss is the plain net's cross-entropy, not a meaningful figure here.
//
// What works (Fashion-MNIST, Adam lr 3e-3, batch 100, theta the default): with the paper's vote
// the second layer's goodness ranks the labels the wrong way round for the first epochs (test
// accuracy below chance; presumably negatives, whose activity the first layer learns to
// suppress, reach the second layer in directions it rewards); letting every layer vote
// (ff_vote_all) and hard negatives (ff_hard) learn fastest: fc200,relu,fc200,relu,fc10 on a
// 10,000-sample subset reached 80% test accuracy after 10 epochs, on all 60,000 samples
// 73.8, 79.0, 83.0, 83.7, 83.2 and 84.98% after epochs 1 to 6 (Adam, lr 3e-3, batch 100).
//
// All products are batched GEMMs over the rows (positives and negatives together); buffers
// grow with the largest batch seen and are reused (no allocation in a step of the same size).
#include <math.h>
#include <string.h>

#include "soma/learn.h"

#define FF_NORM_EPS 1e-6f

typedef struct ff_block {
    int dense;    /* top-level layer index of the block's dense layer */
    int n_act;    /* activation layers after it (indices dense+1 .. dense+n_act) */
    int in, out;  /* dense sizes */
    float theta;
    float **a;    /* a[0] = dense output, a[j] = output of activation j: [cap, out] each */
    float *g;     /* goodness of each row [cap] */
} ff_block;

typedef struct ff_impl {
    soma_rule_opts o;
    int nb, readout, first; /* blocks, read-out layer index, first dense layer index */
    int K, D;               /* classes, input features */
    int m;                  /* negatives a positive */
    int max_out;
    ff_block *b;
    soma_rng rng;
    uint64_t stream;
    int clones;             /* replicas made so far (each gets a stream of its own) */
    /* buffers for cap rows */
    int cap, pcap;
    float *xin;    /* [cap, D] embedded input */
    float **u;     /* u[b]: block b's input for b >= 1, u[nb]: normalised last activity [cap, .] */
    float *d0, *d1; /* [cap, max_out] backward scratch */
    float *logits, *dlog; /* [cap, K] */
    int *lab;      /* [cap] embedded label of each row */
    float *score;  /* [pcap, K] goodness of each label */
} ff_impl;

static void ff_free_buffers_(ff_impl *f) {
    soma_free(f->xin);
    if (f->u)
        for (int b = 1; b <= f->nb; b++) {
            soma_free(f->u[b]);
            f->u[b] = NULL;
        }
    for (int b = 0; b < f->nb; b++) {
        if (f->b[b].a)
            for (int j = 0; j <= f->b[b].n_act; j++) {
                soma_free(f->b[b].a[j]);
                f->b[b].a[j] = NULL;
            }
        soma_free(f->b[b].g);
        f->b[b].g = NULL;
    }
    soma_free(f->d0);
    soma_free(f->d1);
    soma_free(f->logits);
    soma_free(f->dlog);
    soma_free(f->lab);
    f->xin = f->d0 = f->d1 = f->logits = f->dlog = NULL;
    f->lab = NULL;
    f->cap = 0;
}

/* Grows the row buffers to at least rows rows (all or nothing). */
static soma_status ff_reserve_(ff_impl *f, int rows) {
    if (rows <= f->cap) return SOMA_OK;
    ff_free_buffers_(f);
    const size_t r = (size_t)rows;
    int ok = 1;
    f->xin = soma_alloc(r * (size_t)f->D, sizeof(float));
    ok &= f->xin != NULL;
    for (int b = 0; b < f->nb; b++) {
        ff_block *k = &f->b[b];
        for (int j = 0; j <= k->n_act; j++) {
            k->a[j] = soma_alloc(r * (size_t)k->out, sizeof(float));
            ok &= k->a[j] != NULL;
        }
        k->g = soma_alloc(r, sizeof(float));
        ok &= k->g != NULL;
        f->u[b + 1] = soma_alloc(r * (size_t)k->out, sizeof(float));
        ok &= f->u[b + 1] != NULL;
    }
    f->d0 = soma_alloc(r * (size_t)f->max_out, sizeof(float));
    f->d1 = soma_alloc(r * (size_t)f->max_out, sizeof(float));
    f->logits = soma_alloc(r * (size_t)f->K, sizeof(float));
    f->dlog = soma_alloc(r * (size_t)f->K, sizeof(float));
    f->lab = soma_alloc(r, sizeof(int));
    ok &= f->d0 && f->d1 && f->logits && f->dlog && f->lab;
    if (!ok) {
        ff_free_buffers_(f);
        return SOMA_ERR_NOMEM;
    }
    f->cap = rows;
    return SOMA_OK;
}

/* Row i of xin = sample src[i] of x with its first K features replaced by the one-hot label
 * lab[i] (-1: the neutral label, 1/K in each). */
static void ff_embed_(ff_impl *f, const float *x, const int *src, int rows) {
    const int D = f->D, K = f->K;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < rows; i++) {
        float *row = f->xin + (size_t)i * D;
        memcpy(row, x + (size_t)src[i] * D, (size_t)D * sizeof(float));
        const int l = f->lab[i];
        for (int k = 0; k < K; k++) row[k] = l < 0 ? 1.f / (float)K : (k == l ? 1.f : 0.f);
    }
}

/* Runs every block on the first rows rows of xin: activities, goodness, normalised inputs. */
static void ff_forward_(ff_impl *f, soma_net *net, int rows, soma_mode mode) {
    for (int b = 0; b < f->nb; b++) {
        ff_block *k = &f->b[b];
        soma_layer *dl = soma_net_layer(net, k->dense);
        const float *in = b == 0 ? f->xin : f->u[b];
        soma_dense_forward(k->a[0], in, dl->params[0].value, dl->params[1].value, rows, k->in, k->out);
        for (int j = 1; j <= k->n_act; j++) {
            soma_layer *al = soma_net_layer(net, k->dense + j);
            al->ops->forward(al, k->a[j], k->a[j - 1], rows, mode);
        }
        const float *h = k->a[k->n_act];
        float *u = f->u[b + 1];
        const int O = k->out;
#pragma omp parallel for schedule(static)
        for (int i = 0; i < rows; i++) {
            const float *hr = h + (size_t)i * O;
            double s = 0.0;
            for (int o = 0; o < O; o++) s += (double)hr[o] * hr[o];
            k->g[i] = (float)s;
            const float inv = 1.f / ((float)sqrt(s) + FF_NORM_EPS);
            float *ur = u + (size_t)i * O;
            for (int o = 0; o < O; o++) ur[o] = hr[o] * inv;
        }
    }
}

static float softplus_(float v) { return v > 20.f ? v : log1pf(expf(v)); }
static float sigmoid_(float v) { return v >= 0.f ? 1.f / (1.f + expf(-v)) : expf(v) / (1.f + expf(v)); }

/* score[i, k] = the goodness of sample i with label k, summed over the blocks that vote. */
static soma_status ff_scores_(ff_impl *f, soma_net *net, const float *x, int n) {
    SOMA_TRY(ff_reserve_(f, n));
    if (n > f->pcap) {
        soma_free(f->score);
        f->score = soma_alloc((size_t)n * (size_t)f->K, sizeof(float));
        f->pcap = f->score ? n : 0;
        if (!f->score) return SOMA_ERR_NOMEM;
    }
    int *src = (int *)f->dlog; /* the identity map, kept in scratch: [cap] ints fit in [cap, K] floats */
    for (int i = 0; i < n; i++) src[i] = i;
    const int b0 = f->nb > 1 && !f->o.ff_vote_all ? 1 : 0;
    for (int c = 0; c < f->K; c++) {
        for (int i = 0; i < n; i++) f->lab[i] = c;
        ff_embed_(f, x, src, n);
        ff_forward_(f, net, n, SOMA_MODE_EVAL);
        for (int i = 0; i < n; i++) {
            float s = 0.f;
            for (int b = b0; b < f->nb; b++) s += f->b[b].g[i];
            f->score[(size_t)i * f->K + c] = s;
        }
    }
    return SOMA_OK;
}

static soma_status ff_predict_(soma_rule *r, soma_net *net, const float *x, int n, int positions, int *pred) {
    ff_impl *f = r->impl;
    if (positions > 1) return soma_error(SOMA_ERR_ARG, "ff: one label a sample only (got %d positions)", positions);
    if (n < 0) return soma_error(SOMA_ERR_ARG, "ff: predict: bad batch size %d", n);
    if (n == 0) return SOMA_OK;
    SOMA_TRY(ff_scores_(f, net, x, n));
    for (int i = 0; i < n; i++) pred[i] = soma_argmax(f->score + (size_t)i * f->K, f->K);
    return SOMA_OK;
}

static soma_status ff_step_(soma_rule *r, soma_net *net, const float *x, const soma_target *t, int n, float *loss,
                            int *correct) {
    ff_impl *f = r->impl;
    const int K = f->K, m = f->m;
    if (n < 1) return soma_error(SOMA_ERR_ARG, "ff: bad batch size %d", n);
    if (!t || !t->labels) return soma_error(SOMA_ERR_ARG, "ff: forward-forward needs class labels");
    if (t->positions > 1) return soma_error(SOMA_ERR_ARG, "ff: one label a sample only (got %d positions)", t->positions);
    if (t->soft) return soma_error(SOMA_ERR_ARG, "ff: forward-forward has a loss of its own and takes no soft targets");
    for (int i = 0; i < n; i++)
        if (t->labels[i] < 0 || t->labels[i] >= K)
            return soma_error(SOMA_ERR_ARG, "ff: label %d of sample %d is outside 0..%d (the read-out has %d classes)",
                              t->labels[i], i, K - 1, K);
    if ((long)n * (m + 1) > (1L << 30)) return soma_error(SOMA_ERR_ARG, "ff: batch %d too large", n);
    const int rows = n * (m + 1);
    soma_net_zero_grad(net);
    SOMA_TRY(ff_reserve_(f, rows));

    /* negatives: row n + j n + i is sample i with its j-th wrong label */
    if (f->o.ff_hard) {
        SOMA_TRY(ff_scores_(f, net, x, n));
        for (int i = 0; i < n; i++) {
            float *s = f->score + (size_t)i * K;
            s[t->labels[i]] = -INFINITY;
            for (int j = 0; j < m; j++) {
                int best = 0;
                for (int c = 1; c < K; c++)
                    if (s[c] > s[best]) best = c;
                f->lab[n + j * n + i] = best;
                s[best] = -INFINITY;
            }
        }
    } else {
        for (int j = 0; j < m; j++)
            for (int i = 0; i < n; i++)
                f->lab[n + j * n + i] = (t->labels[i] + 1 + (int)soma_rng_below(&f->rng, (uint64_t)(K - 1))) % K;
    }
    for (int i = 0; i < n; i++) f->lab[i] = t->labels[i];
    int *src = (int *)f->dlog; /* row -> sample, in scratch ([cap] ints fit in [cap, K] floats) */
    for (int j = 0; j <= m; j++)
        for (int i = 0; i < n; i++) src[j * n + i] = i;
    ff_embed_(f, x, src, rows);
    ff_forward_(f, net, rows, SOMA_MODE_TRAIN);

    double total = 0.0;
    const float wp = 1.f / (float)n, wn = 1.f / ((float)n * (float)m);
    for (int b = 0; b < f->nb; b++) {
        ff_block *k = &f->b[b];
        const int O = k->out;
        const float th = k->theta;
        double lb = 0.0;
        for (int i = 0; i < rows; i++) {
            const float gi = k->g[i];
            lb += i < n ? wp * softplus_(th - gi) : wn * softplus_(gi - th);
        }
        total += lb;
        /* dL/dh = dL/dg 2 h, row by row */
        const float *h = k->a[k->n_act];
        float *dy = f->d0;
#pragma omp parallel for schedule(static)
        for (int i = 0; i < rows; i++) {
            const float gi = k->g[i];
            const float c = i < n ? -wp * sigmoid_(th - gi) : wn * sigmoid_(gi - th);
            const float *hr = h + (size_t)i * O;
            float *dr = dy + (size_t)i * O;
            for (int o = 0; o < O; o++) dr[o] = 2.f * c * hr[o];
        }
        for (int j = k->n_act; j >= 1; j--) {
            soma_layer *al = soma_net_layer(net, k->dense + j);
            float *dx = dy == f->d0 ? f->d1 : f->d0;
            al->ops->backward(al, dx, dy, k->a[j - 1], k->a[j], rows);
            dy = dx;
        }
        soma_layer *dl = soma_net_layer(net, k->dense);
        soma_dense_backward(NULL, soma_layer_grad(dl, 0), soma_layer_grad(dl, 1), dy, b == 0 ? f->xin : f->u[b],
                            dl->params[0].value, rows, k->in, O);
    }

    /* the read-out, on the neutral label */
    for (int i = 0; i < n; i++) {
        f->lab[i] = -1;
        src[i] = i;
    }
    ff_embed_(f, x, src, n);
    ff_forward_(f, net, n, SOMA_MODE_TRAIN);
    soma_layer *ro = soma_net_layer(net, f->readout);
    const int Hl = f->b[f->nb - 1].out;
    const float *v = f->u[f->nb];
    soma_dense_forward(f->logits, v, ro->params[0].value, ro->params[1].value, n, Hl, K);
    /* dlog holds src: the indices are no longer needed */
    const float xe = soma_softmax_xent(f->dlog, NULL, f->logits, t->labels, n, K);
    soma_dense_backward(NULL, soma_layer_grad(ro, 0), soma_layer_grad(ro, 1), f->dlog, v, ro->params[0].value, n,
                        Hl, K);
    if (correct) *correct = soma_count_correct(f->logits, t->labels, n, K);
    if (loss) *loss = (float)(total + xe);
    return SOMA_OK;
}

static void ff_destroy_(soma_rule *r) {
    ff_impl *f = r->impl;
    if (!f) return;
    if (f->b) {
        ff_free_buffers_(f);
        for (int b = 0; b < f->nb; b++) soma_free(f->b[b].a);
    }
    soma_free(f->u);
    soma_free(f->b);
    soma_free(f->score);
    soma_free(f);
    r->impl = NULL;
}

static const soma_rule_ops ff_ops_;

/* A rule with the blocks of tmpl (layer indices and sizes; buffers come on first use). */
static soma_status ff_make_(soma_rule **out, const ff_impl *tmpl, uint64_t stream) {
    *out = NULL;
    soma_rule *r = soma_calloc(1, sizeof *r);
    ff_impl *f = soma_calloc(1, sizeof *f);
    if (!r || !f) {
        soma_free(r);
        soma_free(f);
        return SOMA_ERR_NOMEM;
    }
    r->ops = &ff_ops_;
    r->loss = SOMA_LOSS_XENT;
    r->impl = f;
    f->o = tmpl->o;
    f->nb = tmpl->nb;
    f->readout = tmpl->readout;
    f->first = tmpl->first;
    f->K = tmpl->K;
    f->D = tmpl->D;
    f->m = tmpl->m;
    f->max_out = tmpl->max_out;
    f->stream = stream;
    soma_rng_seed(&f->rng, f->o.seed, stream);
    f->b = soma_calloc((size_t)f->nb, sizeof *f->b);
    f->u = soma_calloc((size_t)f->nb + 1, sizeof *f->u);
    int ok = f->b && f->u;
    for (int b = 0; ok && b < f->nb; b++) {
        f->b[b] = tmpl->b[b];
        f->b[b].g = NULL;
        f->b[b].a = soma_calloc((size_t)tmpl->b[b].n_act + 1, sizeof(float *));
        ok &= f->b[b].a != NULL;
    }
    if (!ok) {
        soma_rule_free(r);
        return SOMA_ERR_NOMEM;
    }
    *out = r;
    return SOMA_OK;
}

static soma_status ff_clone_(const soma_rule *r, soma_rule **out) {
    ff_impl *f = r->impl; /* the clone counter is the only thing a clone changes */
    f->clones++;
    /* each replica draws its negatives from a stream of its own */
    return ff_make_(out, f, f->stream + (uint64_t)f->clones * 0x9E3779B97F4A7C15ull);
}

static const soma_rule_ops ff_ops_ = {
    .name = "ff", .step = ff_step_, .destroy = ff_destroy_, .clone = ff_clone_, .predict = ff_predict_,
};

static int is_act_(const soma_layer *l) {
    const char *k = l->ops->kind;
    return strcmp(k, "relu") == 0 || strcmp(k, "tanh") == 0 || strcmp(k, "sigmoid") == 0 || strcmp(k, "gelu") == 0;
}

/* dense with a flat input (not token-wise over a sequence) */
static int is_flat_dense_(const soma_layer *l) {
    return strcmp(l->ops->kind, "dense") == 0 && l->n_params == 2 &&
           soma_shape_size(l->in) == (size_t)l->params[0].dims[1] &&
           soma_shape_size(l->out) == (size_t)l->params[0].dims[0];
}

soma_status soma_rule_ff_new(soma_rule **out, soma_net *net, const soma_rule_opts *o) {
    *out = NULL;
    soma_rule_opts d = soma_rule_opts_default();
    if (!o) o = &d;
    if (!net) return soma_error(SOMA_ERR_ARG, "ff: no network");
    if (o->loss != SOMA_LOSS_XENT)
        return soma_error(SOMA_ERR_ARG, "ff: forward-forward classifies (loss xent), not %s", soma_loss_name(o->loss));
    if (o->ff_negatives < 0 || o->ff_negatives > 64)
        return soma_error(SOMA_ERR_ARG, "ff: negatives per positive %d outside 0..64", o->ff_negatives);
    if (!(o->ff_theta >= 0.f) || isinf(o->ff_theta))
        return soma_error(SOMA_ERR_ARG, "ff: goodness threshold %g must be >= 0 (0: the layer's units)", (double)o->ff_theta);
    const int L = soma_net_n_layers(net);
    const char *hint = "; HINT: a chain such as fc1000,relu,fc1000,relu,fc10 (the last dense is the read-out)";
    int i = 0;
    while (i < L && strcmp(soma_net_layer(net, i)->ops->kind, "flatten") == 0) i++;
    ff_impl t;
    memset(&t, 0, sizeof t);
    ff_block blk[256];
    t.first = i;
    t.D = (int)soma_shape_size(soma_net_in_shape(net));
    while (i < L) {
        soma_layer *l = soma_net_layer(net, i);
        if (!is_flat_dense_(l))
            return soma_error(SOMA_ERR_ARG, "ff: layer %d (%s) is not a dense layer on a flat input; forward-forward trains "
                              "a chain of dense layers with elementwise activations%s", i, l->spec, hint);
        int j = i + 1;
        while (j < L && is_act_(soma_net_layer(net, j))) j++;
        if (j == L) {
            if (j != i + 1)
                return soma_error(SOMA_ERR_ARG, "ff: the last layer must be the dense read-out fcK (K classes), not %s%s",
                                  soma_net_layer(net, L - 1)->spec, hint);
            t.readout = i;
            break;
        }
        if (j == i + 1)
            return soma_error(SOMA_ERR_ARG, "ff: layer %d (%s) needs an activation (relu, tanh, sigmoid, gelu) before "
                              "layer %d (%s)%s", i, l->spec, j, soma_net_layer(net, j)->spec, hint);
        if (t.nb == (int)(sizeof blk / sizeof blk[0])) return soma_error(SOMA_ERR_ARG, "ff: too many layers");
        ff_block *k = &blk[t.nb++];
        memset(k, 0, sizeof *k);
        k->dense = i;
        k->n_act = j - i - 1;
        k->in = l->params[0].dims[1];
        k->out = l->params[0].dims[0];
        k->theta = o->ff_theta > 0.f ? o->ff_theta : (float)k->out;
        if (k->out > t.max_out) t.max_out = k->out;
        i = j;
    }
    if (i >= L || t.nb == 0)
        return soma_error(SOMA_ERR_ARG, "ff: the net needs at least one dense layer with an activation before the "
                          "dense read-out%s", hint);
    t.K = soma_net_layer(net, t.readout)->params[0].dims[0];
    if (t.K < 2) return soma_error(SOMA_ERR_ARG, "ff: the read-out has %d output(s); it needs one per class (>= 2)", t.K);
    if (t.K > t.D)
        return soma_error(SOMA_ERR_ARG, "ff: the label of %d classes is embedded in the first %d input features, but "
                          "samples have %d", t.K, t.K, t.D);
    t.m = o->ff_negatives > 0 ? o->ff_negatives : 1;
    if (o->ff_hard && t.m > t.K - 1)
        return soma_error(SOMA_ERR_ARG, "ff: %d hard negatives a positive, but only %d wrong labels", t.m, t.K - 1);
    t.o = *o;
    t.o.kind = SOMA_RULE_FF;
    t.b = blk;
    return ff_make_(out, &t, 0);
}
