// The training loop: one loop for every task (classification, per-position classification,
// regression) and every rule, data-parallel steps, hooks, checkpoints with the rule's and the
// hooks' state, per-epoch logs.
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "soma/learn.h"

#define SOMA_DP_MAX 64 /* most replicas (threads) of a data-parallel step */

#ifdef _OPENMP
#include <omp.h>
#endif

soma_train_config soma_train_defaults(void) {
    soma_train_config c;
    memset(&c, 0, sizeof c);
    c.epochs = 10;
    c.batch = 64;
    c.sched.kind = SOMA_SCHED_CONSTANT;
    c.sched.lr = 1e-3f;
    c.sched.gamma = 0.1f;
    c.seed = 1;
    c.eval_batch = 1000;
    c.eval_every = 1;
    c.label = "train";
    c.data_parallel = 1;
    return c;
}

void soma_train_log_free(soma_train_log *log) {
    if (!log) return;
    soma_free(log->train_loss);
    soma_free(log->train_acc);
    soma_free(log->test_acc);
    soma_free(log->test_loss);
    soma_free(log->lr);
    soma_free(log->epoch_seconds);
    memset(log, 0, sizeof *log);
}

static int positions_(const soma_dataset *d) { return d->y_len > 1 ? d->y_len : 1; }

// --- batches ---------------------------------------------------------------------------

/* One batch's buffers: inputs [B, dim], labels [B, P], float targets [B, t_dim]. */
typedef struct batch_buf {
    float *x, *t;
    int *y;
    int P;
    size_t t_dim;
} batch_buf;

static void batch_free_(batch_buf *b) {
    soma_free(b->x);
    soma_free(b->t);
    soma_free(b->y);
    memset(b, 0, sizeof *b);
}

static soma_status batch_alloc_(batch_buf *b, const soma_dataset *d, int B) {
    memset(b, 0, sizeof *b);
    b->P = positions_(d);
    b->t_dim = d->t ? d->t_dim : 0;
    b->x = soma_alloc((size_t)B, d->dim * sizeof(float));
    b->y = d->y ? soma_alloc((size_t)B * (size_t)b->P, sizeof(int)) : NULL;
    b->t = d->t ? soma_alloc((size_t)B, b->t_dim * sizeof(float)) : NULL;
    if (!b->x || (d->y && !b->y) || (d->t && !b->t)) {
        batch_free_(b);
        return SOMA_ERR_NOMEM;
    }
    return SOMA_OK;
}

/* Gathers samples idx[0..n) into rows lo.. of b and describes their targets. */
static soma_target batch_fill_(batch_buf *b, const soma_dataset *d, const int *idx, int lo, int n) {
    float *x = b->x + (size_t)lo * d->dim;
    int *y = b->y ? b->y + (size_t)lo * b->P : NULL;
    float *t = b->t ? b->t + (size_t)lo * b->t_dim : NULL;
    soma_dataset_batch(d, idx, n, x, NULL);
    soma_dataset_batch_targets(d, idx, n, y, t);
    soma_target tg = {.labels = y, .values = t, .dim = (int)b->t_dim, .positions = b->P};
    return tg;
}

// --- evaluation ------------------------------------------------------------------------

/* rule NULL: cross-entropy and argmax. head_count > 0: through that head (XENT, rule given).
 * dist: the batches are dealt out over the ranks of an MPI job (batch k to rank k mod size)
 * and the sums reduced, so every rank returns the same figures (and a failure on any rank
 * fails on all, rather than leaving the others waiting). */
static soma_status eval_(soma_net *net, soma_rule *rule, soma_loss_kind kind, const soma_dataset *d, int batch,
                         int head_offset, int head_count, int dist, float *acc, float *loss) {
    const int out = (int)soma_shape_size(soma_net_out_shape(net));
    const int P = positions_(d);
    if (kind == SOMA_LOSS_XENT) {
        if (!d->y)
            return soma_error(SOMA_ERR_ARG, "evaluate: %s has float targets, not labels; HINT: use the mse loss", d->name);
        if (out % P != 0 || d->n_classes > out / P)
            return soma_error(SOMA_ERR_SHAPE, "evaluate: data has %d classes at %d position(s), net outputs %d", d->n_classes,
                              P, out);
    } else if (!d->t || d->t_dim != (size_t)out) {
        return soma_error(SOMA_ERR_SHAPE, "evaluate: %s has %zu target values a sample, net outputs %d", d->name,
                          d->t ? d->t_dim : 0, out);
    }
    if (batch < 1) batch = 1000;
    if (batch > d->n) batch = d->n;
    batch_buf b;
    SOMA_TRY(batch_alloc_(&b, d, batch));
    int *idx = soma_alloc((size_t)batch, sizeof(int));
    const int own_pred = rule && rule->ops->predict;
    int *pred = own_pred ? soma_alloc((size_t)batch * (size_t)P, sizeof(int)) : NULL;
    if (!idx || (own_pred && !pred)) {
        batch_free_(&b);
        soma_free(idx);
        soma_free(pred);
        return SOMA_ERR_NOMEM;
    }
    long right = 0;
    double lsum = 0.0;
    soma_status st = SOMA_OK;
    const int S = dist ? soma_dist_size() : 1, R = dist ? soma_dist_rank() : 0;
    for (int s = 0, k = 0; s < d->n && st == SOMA_OK; s += batch, k++) {
        if (k % S != R) continue;
        int n = d->n - s < batch ? d->n - s : batch;
        for (int i = 0; i < n; i++) idx[i] = s + i;
        soma_target tg = batch_fill_(&b, d, idx, 0, n);
        const float *y;
        st = soma_net_forward(net, b.x, n, SOMA_MODE_EVAL, &y);
        if (st != SOMA_OK) break;
        if (kind == SOMA_LOSS_XENT && head_count != 0) {
            /* the head's softmax and argmax (rules with their own predict refuse a head) */
            float l;
            int c;
            tg.head_offset = head_offset;
            tg.head_count = head_count;
            if (own_pred) {
                st = soma_rule_predict_head(rule, net, b.x, n, P, head_offset, head_count, tg.labels, pred);
                break;
            }
            st = soma_rule_loss(rule, y, out, &tg, n, &l, &c);
            lsum += (double)l * n;
            right += c;
        } else if (kind == SOMA_LOSS_XENT) {
            const int K = out / P;
            lsum += (double)soma_softmax_xent(NULL, NULL, y, tg.labels, n * P, K) * n;
            if (pred) {
                st = soma_rule_predict(rule, net, b.x, n, P, pred);
                for (long i = 0; st == SOMA_OK && i < (long)n * P; i++) right += pred[i] == tg.labels[i];
            } else {
                right += soma_count_correct(y, tg.labels, n * P, K);
            }
        } else {
            lsum += (double)soma_mse(NULL, y, tg.values, n, out) * n;
        }
    }
    batch_free_(&b);
    soma_free(idx);
    soma_free(pred);
    if (S > 1) {
        double sums[3] = {lsum, (double)right, st != SOMA_OK};
        soma_status rst = soma_dist_allreduce_sum_f64(sums, 3);
        if (st == SOMA_OK && rst != SOMA_OK) st = rst;
        if (st == SOMA_OK && sums[2] > 0)
            st = soma_error(SOMA_ERR_INTERNAL, "evaluate: failed on %d other rank(s) of %d", (int)sums[2], S);
        lsum = sums[0];
        right = (long)sums[1];
    }
    if (acc) *acc = kind == SOMA_LOSS_XENT && d->n ? (float)((double)right / ((double)d->n * P)) : NAN;
    if (loss) *loss = d->n ? (float)(lsum / d->n) : 0.f;
    return st;
}

soma_status soma_evaluate(soma_net *net, const soma_dataset *d, int batch, float *acc, float *loss) {
    return eval_(net, NULL, SOMA_LOSS_XENT, d, batch, 0, 0, 0, acc, loss);
}

soma_status soma_evaluate_rule(soma_net *net, soma_rule *rule, const soma_dataset *d, int batch, float *acc,
                               float *loss) {
    return eval_(net, rule, rule->loss, d, batch, 0, 0, 0, acc, loss);
}

soma_status soma_evaluate_head(soma_net *net, soma_rule *rule, const soma_dataset *d, int batch, int head_offset,
                               int head_count, float *acc, float *loss) {
    if (head_count != 0 && rule->loss != SOMA_LOSS_XENT)
        return soma_error(SOMA_ERR_ARG, "evaluate: a head of the outputs needs the xent loss, not %s",
                          soma_loss_name(rule->loss));
    return eval_(net, rule, rule->loss, d, batch, head_offset, head_count, 0, acc, loss);
}

static soma_status log_alloc_(soma_train_log *log, int epochs) {
    soma_train_log_free(log);
    log->epochs = epochs;
    log->train_loss = soma_alloc((size_t)epochs, sizeof(float));
    log->train_acc = soma_alloc((size_t)epochs, sizeof(float));
    log->test_acc = soma_alloc((size_t)epochs, sizeof(float));
    log->test_loss = soma_alloc((size_t)epochs, sizeof(float));
    log->lr = soma_alloc((size_t)epochs, sizeof(float));
    log->epoch_seconds = soma_alloc((size_t)epochs, sizeof(double));
    if (!log->train_loss || !log->train_acc || !log->test_acc || !log->test_loss || !log->lr ||
        !log->epoch_seconds)
        return SOMA_ERR_NOMEM;
    for (int e = 0; e < epochs; e++)
        log->train_loss[e] = log->train_acc[e] = log->test_acc[e] = log->test_loss[e] = log->lr[e] = NAN;
    for (int e = 0; e < epochs; e++) log->epoch_seconds[e] = 0.0;
    return SOMA_OK;
}

// --- data-parallel steps ----------------------------------------------------------------

/* T replicas of a net and its rule: slice t of every batch runs on replica t (replica 0 is
 * the net itself) in one parallel region; the slices' gradients are then summed into the net's,
 * weighted by slice size, in replica order -- the same T gives the same bits, whatever number
 * of threads OpenMP grants the region. */
typedef struct dp_group {
    int T;
    soma_net *net[SOMA_DP_MAX];
    soma_rule *rule[SOMA_DP_MAX];
} dp_group;

static void dp_free_(dp_group *g) {
    for (int t = 1; t < g->T; t++) {
        soma_net_free(g->net[t]);
        soma_rule_free(g->rule[t]);
    }
    g->T = 0;
}

/* Slicing the batch pays where layers run kernels image by image (convolution, pooling: one
 * parallel region each, short work per image). A stack of dense layers (with elementwise
 * layers between) runs its GEMMs threaded inside the BLAS on the whole batch; slices halve
 * each GEMM's rows and add a pass over all gradients to sum them. MLP 784-512-256-10, batch
 * 64, 2 threads, Zen 4: 57k and 55k samples/s on one net against 52k and 47k sliced. */
static int dp_pays_(soma_net *net) {
    static const char *const blas_bound[] = {"dense", "relu", "tanh", "sigmoid", "gelu", "dropout", "flatten"};
    for (int i = 0; i < soma_net_n_layers(net); i++) {
        const char *k = soma_net_layer(net, i)->ops->kind;
        int found = 0;
        for (size_t j = 0; j < sizeof blas_bound / sizeof *blas_bound; j++) found |= strcmp(k, blas_bound[j]) == 0;
        if (!found) return 1;
    }
    return 0;
}

/* Leaves g->T = 0 when the run stays on one net. */
static soma_status dp_init_(dp_group *g, soma_net *net, soma_rule *rule, int batch, int want) {
    memset(g, 0, sizeof *g);
    int T = soma_get_threads();
    if (T > SOMA_DP_MAX) T = SOMA_DP_MAX;
    if (!want || T < 2 || !rule->ops->clone || batch < 2 * T || (want == 1 && !dp_pays_(net))) return SOMA_OK;
    g->net[0] = net;
    g->rule[0] = rule;
    g->T = 1;
    int slice = (batch + T - 1) / T;
    SOMA_TRY(soma_net_reserve(net, slice));
    for (int t = 1; t < T; t++) {
        soma_status st = soma_net_clone(net, 1, t, &g->net[t]);
        if (st == SOMA_OK) st = rule->ops->clone(rule, &g->rule[t]);
        if (st == SOMA_OK) st = soma_net_reserve(g->net[t], slice);
        g->T = t + 1;
        if (st != SOMA_OK) {
            dp_free_(g);
            return st;
        }
    }
    return SOMA_OK;
}

/* Replica t's stochastic layers (dropout) draw from streams fixed by (seed, epoch, t), so a run
 * resumed from a checkpoint at an epoch boundary repeats the uninterrupted one exactly. Rank r
 * > 0 of a distributed run reseeds its main net too, with streams of its own (replica index
 * r * SOMA_DP_MAX + t), so the ranks' dropout masks differ. */
static void dp_reseed_(dp_group *g, soma_net *net, uint64_t seed, int epoch, int rank) {
    const int T = g->T > 1 ? g->T : 1;
    for (int t = rank > 0 ? 0 : 1; t < T; t++) {
        soma_net *r = t == 0 ? net : g->net[t];
        const uint64_t k = (uint64_t)rank * SOMA_DP_MAX + (uint64_t)t;
        for (int i = 0; i < soma_net_n_layers(r); i++)
            soma_rng_seed(&soma_net_layer(r, i)->rng, seed ^ 0x9e3779b97f4a7c15ULL,
                          ((uint64_t)epoch << 32) | (k << 16) | (uint64_t)i);
    }
}

// --- data-parallel across processes (MPI) -------------------------------------------------

/* Rank 0's parameters and rule state to every rank: the ranks start from the same point even
 * where initialisation or a checkpoint differed. */
static soma_status dist_sync_(soma_net *net, soma_rule *rule) {
    size_t nv;
    float *v = soma_net_flat_values(net, &nv);
    SOMA_TRY(soma_dist_bcast(v, nv * sizeof(float), 0));
    if (!rule->ops->save || !rule->ops->load) return SOMA_OK;
    void *blob = NULL;
    size_t size = 0;
    uint64_t sz = 0;
    soma_status st = SOMA_OK;
    if (soma_dist_rank() == 0) {
        st = rule->ops->save(rule, &blob, &size);
        sz = st == SOMA_OK ? (uint64_t)size : UINT64_MAX; /* UINT64_MAX: rank 0 failed */
    }
    soma_status bst = soma_dist_bcast(&sz, sizeof sz, 0);
    if (st != SOMA_OK || bst != SOMA_OK) {
        soma_free(blob);
        return st != SOMA_OK ? st : bst;
    }
    if (sz == UINT64_MAX) return soma_error(SOMA_ERR_INTERNAL, "train: rank 0 could not save the rule's state");
    if (soma_dist_rank() != 0 && sz > 0 && !(blob = soma_alloc((size_t)sz, 1))) return SOMA_ERR_NOMEM;
    st = soma_dist_bcast(blob, (size_t)sz, 0);
    if (st == SOMA_OK && soma_dist_rank() != 0) st = rule->ops->load(rule, blob, (size_t)sz);
    soma_free(blob);
    return st;
}

/* All ranks hold the same parameters (CRC-32 of the flat block): the all-reduce gave every
 * rank the same sum. Checked after each epoch; a mismatch fails on every rank. */
static soma_status dist_check_same_(soma_net *net, int epoch) {
    size_t nv;
    const float *v = soma_net_flat_values(net, &nv);
    const double crc = (double)soma_crc32(0, v, nv * sizeof(float));
    double mm[2] = {crc, -crc};
    SOMA_TRY(soma_dist_allreduce_max_f64(mm, 2));
    if (mm[0] != -mm[1])
        return soma_error(SOMA_ERR_INTERNAL, "train: the ranks' parameters differ after epoch %d (CRC %08x on rank %d)",
                          epoch + 1, (unsigned)crc, soma_dist_rank());
    return SOMA_OK;
}

/* This rank's share w of the step's gradient (its rows over all ranks' rows) into the flat
 * block, then the sum over ranks. *seconds += the time spent in the all-reduce. */
static soma_status dist_reduce_(soma_net *net, float w, double *seconds) {
    size_t nv;
    float *g = soma_net_flat_grads(net, &nv);
    if (w != 1.f) {
#pragma omp parallel for schedule(static) if (nv > 32768)
        for (size_t i = 0; i < nv; i++) g[i] *= w;
    }
    const double t0 = soma_now();
    soma_status st = soma_dist_allreduce_sum(g, nv);
    *seconds += soma_now() - t0;
    return st;
}

/* Overlap of the all-reduce with the backward pass (a rule with layerwise_grads, one slice a
 * rank, no batch hook): as each top-level layer's backward returns, its block of the flat
 * gradient is scaled by this rank's share and its non-blocking sum started, and every sum in
 * flight is tested so that MPI moves it forward (Open MPI progresses only inside MPI calls).
 * After the step the blocks no hook reached are started in the same order (from the last
 * layer down, so every rank starts the same collectives in the same order), then all are
 * waited on. Each block is summed elementwise as the one all-reduce of the flat block would. */
typedef struct dist_overlap {
    int on, L;
    size_t *lo, *hi; /* [L]: layer i's block of the flat gradient (lo == hi: none) */
    int *req;        /* [L]: its request, -1 before it starts */
    float *g, w;
    soma_status st;
    double seconds;
} dist_overlap;

static void ov_free_(dist_overlap *o) {
    soma_free(o->lo), soma_free(o->hi), soma_free(o->req);
    memset(o, 0, sizeof *o);
}

/* Off (o->on = 0) unless every layer's parameters are one contiguous block of the flat
 * gradient and there are few enough layers for the requests in flight. */
static soma_status ov_init_(dist_overlap *o, soma_net *net) {
    memset(o, 0, sizeof *o);
    const int L = soma_net_n_layers(net);
    if (L < 1 || L > SOMA_DIST_MAX_REQ) return SOMA_OK;
    size_t nv;
    o->g = soma_net_flat_grads(net, &nv);
    o->lo = soma_alloc((size_t)L, sizeof *o->lo), o->hi = soma_alloc((size_t)L, sizeof *o->hi);
    o->req = soma_alloc((size_t)L, sizeof *o->req);
    size_t *sum = soma_calloc((size_t)L, sizeof *sum);
    if (!o->lo || !o->hi || !o->req || !sum) {
        soma_free(sum);
        ov_free_(o);
        return SOMA_ERR_NOMEM;
    }
    for (int i = 0; i < L; i++) o->lo[i] = SIZE_MAX, o->hi[i] = 0;
    for (int k = 0; k < soma_net_n_params(net); k++) {
        const soma_param *p = soma_net_param(net, k);
        const int i = soma_net_param_layer(net, k);
        const size_t off = (size_t)(p->grad - o->g);
        if (i < 0 || i >= L || p->n == 0) continue;
        if (off < o->lo[i]) o->lo[i] = off;
        if (off + p->n > o->hi[i]) o->hi[i] = off + p->n;
        sum[i] += p->n;
    }
    int ok = 1;
    for (int i = 0; i < L; i++) {
        if (o->lo[i] == SIZE_MAX) o->lo[i] = o->hi[i] = 0;
        if (o->hi[i] - o->lo[i] != sum[i]) ok = 0;
    }
    soma_free(sum);
    o->L = L;
    o->on = ok;
    return SOMA_OK;
}

static void ov_start_(dist_overlap *o, int i) {
    if (o->st != SOMA_OK || o->req[i] >= 0 || o->lo[i] == o->hi[i]) return;
    float *g = o->g + o->lo[i];
    const size_t m = o->hi[i] - o->lo[i];
    if (o->w != 1.f)
        for (size_t j = 0; j < m; j++) g[j] *= o->w;
    o->st = soma_dist_iallreduce_sum(g, m, &o->req[i]);
}

static void ov_hook_(void *user, int layer) {
    dist_overlap *o = user;
    if (layer < 0 || layer >= o->L) return;
    const double t0 = soma_now();
    ov_start_(o, layer);
    for (int i = o->L - 1; i >= 0 && o->st == SOMA_OK; i--) {
        int done;
        if (o->req[i] >= 0) o->st = soma_dist_test(o->req[i], &done);
    }
    o->seconds += soma_now() - t0;
}

static void ov_begin_(dist_overlap *o, float w) {
    for (int i = 0; i < o->L; i++) o->req[i] = -1;
    o->w = w, o->st = SOMA_OK, o->seconds = 0;
}

static soma_status ov_finish_(dist_overlap *o, double *seconds) {
    const double t0 = soma_now();
    for (int i = o->L - 1; i >= 0; i--) ov_start_(o, i);
    soma_status st = o->st;
    for (int i = o->L - 1; i >= 0; i--) {
        soma_status w = soma_dist_wait(o->req[i]);
        if (st == SOMA_OK) st = w;
        o->req[i] = -1;
    }
    *seconds += o->seconds + (soma_now() - t0);
    return st;
}

/* prefilled: the batch's n rows are in b already (a batch hook appended rows, a target hook
 * read them); else each slice gathers its own rows. full: the step's target for all n rows
 * (labels and values in b, or the target hook's; head; soft targets [n * positions, K]), cut
 * into the slices' rows. */
static soma_status dp_step_(dp_group *g, const soma_dataset *d, const int *idx, int n, batch_buf *b, int prefilled,
                            const soma_target *full, float *loss, int *correct) {
    const int T = g->T;
    const size_t K = soma_shape_size(soma_net_out_shape(g->net[0])) / (size_t)b->P;
    double lsum[SOMA_DP_MAX] = {0};
    int csum[SOMA_DP_MAX] = {0}, cnt[SOMA_DP_MAX] = {0};
    soma_status sts[SOMA_DP_MAX] = {SOMA_OK};
    char msgs[SOMA_DP_MAX][160];
    /* The slices are fixed by T (the replica count), not by the threads OpenMP grants: each
     * thread runs slices tid, tid + team, ... so a smaller team (OMP_THREAD_LIMIT, nested
     * regions, a build without OpenMP) trains every slice and sums the same gradients. */
#pragma omp parallel num_threads(T)
    {
#ifdef _OPENMP
        const int tid = omp_get_thread_num(), team = omp_get_num_threads();
#else
        const int tid = 0, team = 1;
#endif
        const int per = (n + T - 1) / T;
        for (int t = tid; t < T; t += team) {
            const int lo = t * per, hi = lo + per < n ? lo + per : n;
            if (hi <= lo) continue;
            soma_target tg = *full;
            if (tg.labels) tg.labels += (size_t)lo * b->P;
            if (tg.values) tg.values += (size_t)lo * b->t_dim;
            if (tg.soft) tg.soft += (size_t)lo * b->P * K;
            if (!prefilled) batch_fill_(b, d, idx + lo, lo, hi - lo);
            float l = 0.f;
            int c = 0;
            sts[t] = soma_rule_step(g->rule[t], g->net[t], b->x + (size_t)lo * d->dim, &tg, hi - lo, &l, &c);
            if (sts[t] != SOMA_OK) snprintf(msgs[t], sizeof msgs[t], "%s", soma_errmsg());
            lsum[t] = (double)l * (hi - lo);
            csum[t] = c;
            cnt[t] = hi - lo;
        }
    }
    for (int t = 0; t < T; t++)
        if (sts[t] != SOMA_OK) return soma_error(sts[t], "data-parallel slice %d: %s", t, msgs[t]);
    /* Each slice's gradient is the mean over its samples: weight by slice size. */
    size_t nv;
    float *g0 = soma_net_flat_grads(g->net[0], &nv);
    const float w0 = (float)cnt[0] / (float)n;
    float *gt[SOMA_DP_MAX];
    float wt[SOMA_DP_MAX];
    for (int t = 1; t < T; t++) {
        gt[t] = soma_net_flat_grads(g->net[t], NULL);
        wt[t] = (float)cnt[t] / (float)n;
    }
    if (T == 2) { /* the common case, as one vectorisable pass */
        const float *restrict g1 = gt[1];
        const float w1 = wt[1];
#pragma omp parallel for schedule(static) if (nv > 32768)
        for (size_t i = 0; i < nv; i++) g0[i] = w0 * g0[i] + w1 * g1[i];
    } else {
#pragma omp parallel for schedule(static) if (nv > 32768)
        for (size_t i = 0; i < nv; i++) {
            float v = w0 * g0[i];
            for (int t = 1; t < T; t++)
                if (cnt[t]) v += wt[t] * gt[t][i];
            g0[i] = v;
        }
    }
    double ls = 0.0;
    int cs = 0;
    for (int t = 0; t < T; t++) {
        ls += lsum[t];
        cs += csum[t];
    }
    *loss = (float)(ls / n);
    *correct = cs;
    return SOMA_OK;
}

// --- checkpoints with the rule's and the hooks' state -----------------------------------

/* The curves of the epochs done, as section "train.log", so a resumed run (a finished one
 * too) reports its whole history: i32 epochs, f64 train_seconds, i64 samples, then per epoch
 * f32 train_loss, train_acc, test_acc, test_loss, lr and f64 seconds. */
#define LOG_HEAD (4 + 8 + 8)
#define LOG_EPOCH (5 * 4 + 8)

static soma_status log_save_(const soma_train_log *log, int done, soma_ckpt_section *sec) {
    snprintf(sec->name, sizeof sec->name, "train.log");
    sec->size = LOG_HEAD + (size_t)done * LOG_EPOCH;
    unsigned char *p = soma_alloc(sec->size, 1);
    if (!p) return SOMA_ERR_NOMEM;
    sec->data = p;
    int32_t e32 = done;
    int64_t smp = log->samples;
    memcpy(p, &e32, 4);
    memcpy(p + 4, &log->train_seconds, 8);
    memcpy(p + 12, &smp, 8);
    p += LOG_HEAD;
    for (int e = 0; e < done; e++, p += LOG_EPOCH) {
        const float v[5] = {log->train_loss[e], log->train_acc[e], log->test_acc[e], log->test_loss[e], log->lr[e]};
        memcpy(p, v, sizeof v);
        memcpy(p + sizeof v, &log->epoch_seconds[e], 8);
    }
    return SOMA_OK;
}

static soma_status log_load_(soma_train_log *log, const soma_ckpt_section *sec) {
    int32_t done;
    if (sec->size < LOG_HEAD) return soma_error(SOMA_ERR_FORMAT, "checkpoint: section train.log truncated");
    const unsigned char *p = sec->data;
    memcpy(&done, p, 4);
    if (done < 0 || sec->size != LOG_HEAD + (size_t)done * LOG_EPOCH)
        return soma_error(SOMA_ERR_FORMAT, "checkpoint: section train.log of %zu bytes for %d epochs", sec->size, (int)done);
    int64_t smp;
    memcpy(&log->train_seconds, p + 4, 8);
    memcpy(&smp, p + 12, 8);
    log->samples = (long)smp;
    p += LOG_HEAD;
    for (int e = 0; e < done && e < log->epochs; e++, p += LOG_EPOCH) {
        float v[5];
        memcpy(v, p, sizeof v);
        log->train_loss[e] = v[0];
        log->train_acc[e] = v[1];
        log->test_acc[e] = v[2];
        log->test_loss[e] = v[3];
        log->lr[e] = v[4];
        memcpy(&log->epoch_seconds[e], p + sizeof v, 8);
    }
    return SOMA_OK;
}

static soma_status ckpt_save_(const soma_train_config *cfg, soma_net *net, soma_rule *rule, soma_optim *opt,
                              const soma_ckpt_meta *meta, const soma_train_log *log) {
    soma_ckpt_section sec[3];
    int n = 0;
    memset(sec, 0, sizeof sec);
    soma_status st = soma_rule_save_section(rule, &sec[0]);
    if (st == SOMA_OK && (sec[0].size || rule->ops->save)) n++;
    else soma_free(sec[0].data);
    if (st == SOMA_OK && cfg->hooks.save) {
        snprintf(sec[n].name, sizeof sec[n].name, "hooks");
        st = cfg->hooks.save(cfg->hooks.user, &sec[n].data, &sec[n].size);
        n++;
    }
    if (st == SOMA_OK) {
        st = log_save_(log, (int)meta->epoch, &sec[n]);
        n++;
    }
    if (st == SOMA_OK) st = soma_ckpt_save_ex(cfg->ckpt_path, net, opt, meta, sec, n);
    for (int i = 0; i < n; i++) soma_free(sec[i].data);
    return st;
}

static soma_status ckpt_resume_(const soma_train_config *cfg, soma_net *net, soma_rule *rule, soma_optim *opt,
                                soma_ckpt_meta *meta, soma_train_log *log) {
    soma_ckpt_section *sec = NULL;
    int n = 0;
    SOMA_TRY(soma_ckpt_load_ex(cfg->ckpt_path, net, opt, meta, &sec, &n));
    soma_status st = soma_rule_load_section(rule, sec, n);
    if (st == SOMA_OK && cfg->hooks.load) {
        const soma_ckpt_section *h = soma_ckpt_section_find(sec, n, "hooks");
        st = h ? cfg->hooks.load(cfg->hooks.user, h->data, h->size)
               : soma_error(SOMA_ERR_FORMAT, "checkpoint %s: no 'hooks' section for the hooks' state", cfg->ckpt_path);
    }
    const soma_ckpt_section *l = soma_ckpt_section_find(sec, n, "train.log"); /* absent in version 1 */
    if (st == SOMA_OK && l) st = log_load_(log, l);
    soma_ckpt_sections_free(sec, n);
    return st;
}

// --- per-epoch reports -------------------------------------------------------------------

static void json_num_(FILE *f, const char *key, double v) {
    if (isfinite(v)) fprintf(f, ",\"%s\":%.9g", key, v);
    else fprintf(f, ",\"%s\":null", key);
}

static void log_line_(FILE *f, const soma_train_log *log, int e, soma_loss_kind kind, long seen) {
    fprintf(f, "{\"epoch\":%d", e + 1);
    fprintf(f, ",\"loss\":\"%s\"", soma_loss_name(kind));
    json_num_(f, "train_loss", log->train_loss[e]);
    json_num_(f, "train_accuracy", log->train_acc[e]);
    json_num_(f, "heldout_loss", log->test_loss[e]);
    json_num_(f, "heldout_accuracy", log->test_acc[e]);
    json_num_(f, "lr", log->lr[e]);
    json_num_(f, "seconds", log->epoch_seconds[e]);
    json_num_(f, "samples_per_second", log->epoch_seconds[e] > 0 ? (double)seen / log->epoch_seconds[e] : NAN);
    fprintf(f, "}\n");
    fflush(f);
}

/* One line an epoch, as a progress note: kept above the redrawn line on a terminal, a plain
 * line in a log (stderr not a terminal). */
static void epoch_line_(soma_progress *prog, const soma_train_log *log, int e, int epochs, soma_loss_kind kind) {
    char held[64] = "", line[256];
    if (isfinite(log->test_loss[e])) {
        if (kind == SOMA_LOSS_XENT)
            snprintf(held, sizeof held, " heldout_loss %.4f heldout_acc %.4f", log->test_loss[e], log->test_acc[e]);
        else
            snprintf(held, sizeof held, " heldout_loss %.6g", log->test_loss[e]);
    }
    if (kind == SOMA_LOSS_XENT)
        snprintf(line, sizeof line, "epoch %d/%d: train_loss %.4f train_acc %.4f%s lr %.3g %.2fs", e + 1, epochs,
                 log->train_loss[e], log->train_acc[e], held, log->lr[e], log->epoch_seconds[e]);
    else
        snprintf(line, sizeof line, "epoch %d/%d: train_loss %.6g%s lr %.3g %.2fs", e + 1, epochs, log->train_loss[e],
                 held, log->lr[e], log->epoch_seconds[e]);
    soma_progress_note(prog, line);
}

// --- the loop ----------------------------------------------------------------------------

/* The data fit the net and the rule's loss. */
static soma_status check_data_(soma_net *net, soma_rule *rule, const soma_dataset *d, const char *what) {
    soma_shape in = soma_net_in_shape(net);
    if (!soma_shape_eq(in, d->shape)) {
        char ds[64], ns[64];
        return soma_error(SOMA_ERR_SHAPE, "train: %s data samples are %s, net takes %s", what,
                          soma_shape_str(d->shape, ds, sizeof ds), soma_shape_str(in, ns, sizeof ns));
    }
    const int out = (int)soma_shape_size(soma_net_out_shape(net));
    if (rule->loss == SOMA_LOSS_XENT) {
        const int P = positions_(d);
        if (!d->y)
            return soma_error(SOMA_ERR_ARG, "train: %s data has float targets, the xent loss needs integer labels; HINT: use the mse loss",
                              what);
        if (out % P != 0)
            return soma_error(SOMA_ERR_SHAPE, "train: %s data has %d labels a sample, net's %d outputs do not split into %d positions",
                              what, P, out, P);
        if (d->n_classes > out / P)
            return soma_error(SOMA_ERR_SHAPE, "train: %s data has %d classes, net outputs %d%s", what, d->n_classes, out / P,
                              P > 1 ? " a position" : "");
    } else {
        if (!d->t)
            return soma_error(SOMA_ERR_ARG, "train: %s data has integer labels, the mse loss needs float targets; HINT: "
                              "store y as float32, or use the xent loss", what);
        if (d->t_dim != (size_t)out)
            return soma_error(SOMA_ERR_SHAPE, "train: %s targets have %zu values a sample, net outputs %d", what, d->t_dim, out);
    }
    return SOMA_OK;
}

soma_status soma_train(soma_net *net, soma_rule *rule, soma_optim *opt, const soma_dataset *train,
                       const soma_dataset *held_out, const soma_train_config *cfg, soma_train_log *log) {
    if (cfg->epochs < 1 || cfg->epochs > 100000)
        return soma_error(SOMA_ERR_ARG, "train: epochs %d out of range (1..100000)", cfg->epochs);
    if (cfg->batch < 1 || cfg->batch > 65536)
        return soma_error(SOMA_ERR_ARG, "train: batch %d out of range (1..65536)", cfg->batch);
    if (!(cfg->sched.lr > 0.f) || !isfinite(cfg->sched.lr))
        return soma_error(SOMA_ERR_ARG, "train: learning rate %g must be positive", (double)cfg->sched.lr);
    if (cfg->head_count < 0 || (cfg->head_count > 0 && rule->loss != SOMA_LOSS_XENT))
        return soma_error(SOMA_ERR_ARG, "train: head of %d outputs (a head needs the xent loss and a count >= 0)",
                          cfg->head_count);
    SOMA_TRY(check_data_(net, rule, train, "training"));
    if (held_out) SOMA_TRY(check_data_(net, rule, held_out, "held-out"));
    if (held_out && (positions_(held_out) != positions_(train)))
        return soma_error(SOMA_ERR_SHAPE, "train: held-out data has %d labels a sample, training data %d",
                          positions_(held_out), positions_(train));
    SOMA_TRY(log_alloc_(log, cfg->epochs));

    /* Distributed: S ranks, each a slice of a global batch of G samples; else S = 1, G = B. */
    const int S = cfg->distributed ? soma_dist_size() : 1, R = cfg->distributed ? soma_dist_rank() : 0;
    const long G = (long)S * cfg->batch < train->n ? (long)S * cfg->batch : train->n;
    const int B = (int)((G + S - 1) / S); /* rows of this rank's slice, at most */
    const long steps_per_epoch = (train->n + G - 1) / G;
    soma_sched sched = cfg->sched;
    if (sched.kind == SOMA_SCHED_COSINE && sched.total <= 0) sched.total = steps_per_epoch * cfg->epochs;
    const soma_train_hooks *hk = &cfg->hooks;
    if (cfg->batch_extra < 0 || cfg->batch_extra > 65536 || (cfg->batch_extra > 0 && !cfg->batch_hook))
        return soma_error(SOMA_ERR_ARG, "train: batch_extra %d out of range (0..65536, with a batch hook)", cfg->batch_extra);
    const int BX = B + (cfg->batch_hook ? cfg->batch_extra : 0); /* rows of a step with replayed samples */
    SOMA_TRY(soma_net_reserve(net, BX));
    batch_buf b;
    SOMA_TRY(batch_alloc_(&b, train, BX));
    int *perm = soma_alloc((size_t)train->n, sizeof(int));
    if (!perm) {
        batch_free_(&b);
        return SOMA_ERR_NOMEM;
    }
    soma_rng data_rng;
    soma_rng_seed(&data_rng, cfg->seed, 77);
    int start = 0;
    long step = 0;
    soma_status st = SOMA_OK;
    FILE *logf = NULL;
    dp_group dp;
    memset(&dp, 0, sizeof dp);
    dist_overlap ov;
    memset(&ov, 0, sizeof ov);
    struct stat sb;
    if (cfg->ckpt_path && cfg->resume && stat(cfg->ckpt_path, &sb) == 0) {
        soma_ckpt_meta meta;
        st = ckpt_resume_(cfg, net, rule, opt, &meta, log);
        if (st != SOMA_OK) goto done;
        start = (int)meta.epoch;
        step = meta.step;
        data_rng = meta.data_rng;
        if (start > cfg->epochs) start = cfg->epochs;
    }
    log->start_epoch = start;
    log->ranks = S;
    if (cfg->distributed && (st = dist_sync_(net, rule)) != SOMA_OK) goto done;
    if (cfg->log_path && R == 0) {
        logf = fopen(cfg->log_path, start > 0 ? "a" : "w");
        if (!logf) {
            st = soma_error(SOMA_ERR_IO, "train: cannot open log file %s", cfg->log_path);
            goto done;
        }
    }
    st = dp_init_(&dp, net, rule, BX, cfg->data_parallel);
    if (st != SOMA_OK) goto done;
    if (S > 1 && dp.T <= 1 && rule->ops->layerwise_grads && !cfg->batch_hook && !cfg->no_overlap &&
        (st = ov_init_(&ov, net)) != SOMA_OK)
        goto done;
    log->allreduce_overlap = ov.on;
    const char *label = cfg->label ? cfg->label : "train";
    soma_progress prog;
    soma_progress_begin(&prog, label, (long)(cfg->epochs - start) * steps_per_epoch);
    if (cfg->quiet || R != 0) prog.enabled = 0;
    long done_steps = 0;
    char extra[96];
    for (int e = start; e < cfg->epochs && st == SOMA_OK; e++) {
        soma_rng_permutation(&data_rng, perm, train->n);
        dp_reseed_(&dp, net, cfg->seed, e, S > 1 ? R : 0);
        double t0 = soma_now();
        double lsum = 0.0;
        long right = 0, seen = 0;
        for (long s = 0; s < steps_per_epoch; s++) {
            if (soma_cancel_requested()) { /* Ctrl-C from Python, SIGINT: once per batch */
                st = soma_error(SOMA_ERR_CANCELLED, "train: cancelled at epoch %d, step %ld", e + 1, s);
                break;
            }
            /* this rank's slice [off, off + n) of the global batch [s G, s G + ng) */
            const long gofs = s * G, ng = train->n - gofs < G ? train->n - gofs : G;
            const long per = (ng + S - 1) / S, lo = (long)R * per < ng ? (long)R * per : ng;
            const int off = (int)(gofs + lo);
            int n = (int)(ng - lo < per ? ng - lo : per);
            float l = 0.f;
            int c = 0, nx = 0;
            if (ov.on) ov_begin_(&ov, (float)((double)n / (double)ng));
            if (n == 0) { /* a short last batch left this rank nothing: it adds zero */
                soma_net_zero_grad(net);
                goto reduce;
            }
            /* the hooks see the whole batch gathered first */
            const int prefill = cfg->batch_hook || cfg->target_hook;
            if (prefill) batch_fill_(&b, train, perm + off, 0, n);
            if (cfg->batch_hook) { /* let the hook read the batch and append to it */
                st = cfg->batch_hook(hk->user, net, step, b.x, b.y, b.t, n, &nx);
                if (st == SOMA_OK && (nx < 0 || nx > cfg->batch_extra))
                    st = soma_error(SOMA_ERR_ARG, "train: the batch hook appended %d rows, room for %d", nx, cfg->batch_extra);
                if (st != SOMA_OK) break;
            }
            soma_target tg = {.labels = b.y, .values = b.t, .dim = (int)b.t_dim, .positions = b.P,
                              .head_offset = cfg->head_offset, .head_count = cfg->head_count};
            if (cfg->target_hook && (st = cfg->target_hook(hk->user, net, step, b.x, n + nx, &tg)) != SOMA_OK) break;
            if (dp.T > 1) {
                st = dp_step_(&dp, train, perm + off, n + nx, &b, prefill, &tg, &l, &c);
            } else {
                if (!prefill) batch_fill_(&b, train, perm + off, 0, n);
                if (ov.on) soma_net_set_backward_hook(net, ov_hook_, &ov);
                st = soma_rule_step(rule, net, b.x, &tg, n + nx, &l, &c);
                if (ov.on) soma_net_set_backward_hook(net, NULL, NULL);
            }
            n += nx;
        reduce:
            if (st == SOMA_OK && S > 1) {
                /* weights: this rank's rows over all ranks' rows (ng, unless a batch hook
                 * appended rows: then counted) */
                double rows = (double)ng;
                if (cfg->batch_hook) {
                    rows = (double)n;
                    st = soma_dist_allreduce_sum_f64(&rows, 1);
                }
                if (st == SOMA_OK)
                    st = ov.on ? ov_finish_(&ov, &log->allreduce_seconds)
                               : dist_reduce_(net, (float)((double)n / rows), &log->allreduce_seconds);
            }
            if (st == SOMA_OK && hk->after_grad) st = hk->after_grad(hk->user, net, step, &l);
            if (st != SOMA_OK) break;
            float lr = soma_sched_lr(&sched, step);
            soma_optim_step(opt, lr);
            if (hk->after_step && (st = hk->after_step(hk->user, net, step, lr)) != SOMA_OK) break;
            step++;
            lsum += (double)l * n;
            right += c;
            seen += n;
            done_steps++;
            if (prog.enabled) {
                snprintf(extra, sizeof extra, "epoch %d/%d loss %.4f", e + 1, cfg->epochs, lsum / (double)seen);
                soma_progress_update(&prog, done_steps, extra);
            }
        }
        if (st != SOMA_OK) break;
        if (S > 1) { /* the epoch's figures over all ranks */
            double sums[3] = {lsum, (double)right, (double)seen};
            if ((st = soma_dist_allreduce_sum_f64(sums, 3)) != SOMA_OK) break;
            lsum = sums[0];
            right = (long)sums[1];
            seen = (long)sums[2];
        }
        double dt = soma_now() - t0;
        log->epoch_seconds[e] = dt;
        log->train_seconds += dt;
        log->samples += seen;
        log->train_loss[e] = (float)(lsum / (double)seen);
        log->train_acc[e] = rule->loss == SOMA_LOSS_XENT ? (float)((double)right / ((double)seen * positions_(train))) : NAN;
        log->lr[e] = soma_sched_lr(&sched, step > 0 ? step - 1 : 0);
        if (!isfinite(log->train_loss[e])) {
            st = soma_error(SOMA_ERR_ARG, "train: loss became %g in epoch %d; HINT: lower the learning rate",
                            (double)log->train_loss[e], e + 1);
            break;
        }
        const int last = e == cfg->epochs - 1;
        if (held_out && (last || (cfg->eval_every > 0 && (e + 1) % cfg->eval_every == 0)))
            st = cfg->head_count != 0 && rule->loss != SOMA_LOSS_XENT
                     ? soma_evaluate_head(net, rule, held_out, cfg->eval_batch, cfg->head_offset, cfg->head_count,
                                          &log->test_acc[e], &log->test_loss[e])
                     : eval_(net, rule, rule->loss, held_out, cfg->eval_batch, cfg->head_offset, cfg->head_count,
                             S > 1, &log->test_acc[e], &log->test_loss[e]);
        if (st == SOMA_OK && hk->epoch_end) st = hk->epoch_end(hk->user, net, e, log);
        if (st == SOMA_OK && last && hk->task_end) st = hk->task_end(hk->user, net, cfg->task, train);
        if (st == SOMA_OK && S > 1) st = dist_check_same_(net, e);
        if (st == SOMA_OK && cfg->ckpt_path && R == 0) {
            soma_ckpt_meta meta;
            memset(&meta, 0, sizeof meta);
            meta.epoch = e + 1;
            meta.step = step;
            meta.seed = cfg->seed;
            meta.data_rng = data_rng;
            st = ckpt_save_(cfg, net, rule, opt, &meta, log);
        }
        if (st != SOMA_OK) break;
        if (logf) log_line_(logf, log, e, rule->loss, seen);
        epoch_line_(&prog, log, e, cfg->epochs, rule->loss);
    }
    soma_progress_end(&prog);
    log->samples_per_second = log->train_seconds > 0 ? (double)log->samples / log->train_seconds : 0.0;
done:
    dp_free_(&dp);
    ov_free_(&ov);
    if (logf && fclose(logf) != 0 && st == SOMA_OK) st = soma_error(SOMA_ERR_IO, "train: cannot write %s", cfg->log_path);
    batch_free_(&b);
    soma_free(perm);
    return st;
}

soma_status soma_train_classifier(soma_net *net, soma_rule *rule, soma_optim *opt, const soma_dataset *train,
                                  const soma_dataset *test, const soma_train_config *cfg, soma_train_log *log) {
    if (rule->loss != SOMA_LOSS_XENT)
        return soma_error(SOMA_ERR_ARG, "train_classifier: the rule's loss is %s; use soma_train", soma_loss_name(rule->loss));
    return soma_train(net, rule, opt, train, test, cfg, log);
}
