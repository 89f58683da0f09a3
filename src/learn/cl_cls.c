// Continual learning: the complementary-learning-systems model (McClelland, McNaughton &
// O'Reilly 1995; Kumaran, Hassabis & McClelland 2016). A fast episodic store writes every
// training example of a task in one shot (key, input, label); attention (or k-NN) over its
// keys answers a query; sleep replays batches drawn from the whole store into the slow net,
// which soma_cl_run trains task by task. The system answers from the store when the store is
// confident, else from the slow net.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "learn/internal.h"
#include "soma/learn.h"

// --- names ------------------------------------------------------------------------------

static const char *const keys_names_[SOMA_CLS_KEYS_COUNT] = {"projection", "input", "layer"};
static const char *const answer_names_[SOMA_CLS_ANSWER_COUNT] = {"system", "slow", "store"};
static const char *const evict_names_[SOMA_CLS_EVICT_COUNT] = {"reservoir", "quota"};

const char *soma_cls_keys_name(int k) { return k >= 0 && k < SOMA_CLS_KEYS_COUNT ? keys_names_[k] : "?"; }
const char *soma_cls_answer_name(int a) { return a >= 0 && a < SOMA_CLS_ANSWER_COUNT ? answer_names_[a] : "?"; }
const char *soma_cls_evict_name(int e) { return e >= 0 && e < SOMA_CLS_EVICT_COUNT ? evict_names_[e] : "?"; }

static soma_status parse_(const char *what, const char *const *names, int count, const char *name, int *out) {
    for (int i = 0; i < count; i++)
        if (name && strcmp(name, names[i]) == 0) {
            *out = i;
            return SOMA_OK;
        }
    char list[128] = "";
    for (int i = 0; i < count; i++) {
        strncat(list, names[i], sizeof list - strlen(list) - 1);
        if (i + 1 < count) strncat(list, ", ", sizeof list - strlen(list) - 1);
    }
    return soma_error(SOMA_ERR_ARG, "cls: unknown %s '%s' (%s)", what, name ? name : "", list);
}
soma_status soma_cls_keys_parse(const char *name, int *k) {
    return parse_("key kind", keys_names_, SOMA_CLS_KEYS_COUNT, name, k);
}
soma_status soma_cls_answer_parse(const char *name, int *a) {
    return parse_("answer", answer_names_, SOMA_CLS_ANSWER_COUNT, name, a);
}
soma_status soma_cls_evict_parse(const char *name, int *e) {
    return parse_("eviction policy", evict_names_, SOMA_CLS_EVICT_COUNT, name, e);
}

// --- the read-out -------------------------------------------------------------------------

#define KNN_MAX 1024

soma_status soma_cls_readout(float *p, const float *q, int nq, const float *keys, const int *labels, int ns, int kd,
                             int K, float beta, int knn, float *work) {
    if (nq < 0 || ns < 0 || kd < 1 || K < 1 || knn > KNN_MAX || !(beta > 0) || !isfinite(beta))
        return soma_error(SOMA_ERR_ARG, "cls: read-out of %d queries over %d keys of %d, %d classes, beta %g, k %d", nq, ns,
                          kd, K, (double)beta, knn);
    for (int j = 0; j < ns; j++)
        if (labels[j] < 0 || labels[j] >= K)
            return soma_error(SOMA_ERR_ARG, "cls: stored label %d outside 0..%d", labels[j], K - 1);
    if (nq == 0) return SOMA_OK;
    memset(p, 0, (size_t)nq * K * sizeof(float));
    if (ns == 0) return SOMA_OK;
    float *w = work ? work : soma_alloc((size_t)(nq + 1) * ns + nq, sizeof(float));
    if (!w) return SOMA_ERR_NOMEM;
    float *S = w, *kn = w + (size_t)nq * ns, *qn = kn + ns;
    soma_gemm(0, 1, nq, ns, kd, 1.f, q, kd, keys, kd, 0.f, S, ns); /* S = Q K' */
    for (int j = 0; j < ns; j++) {
        double a = 0.0;
        for (int c = 0; c < kd; c++) a += (double)keys[(size_t)j * kd + c] * keys[(size_t)j * kd + c];
        kn[j] = a > 0 ? (float)(1.0 / sqrt(a)) : 0.f;
    }
    for (int i = 0; i < nq; i++) {
        double a = 0.0;
        for (int c = 0; c < kd; c++) a += (double)q[(size_t)i * kd + c] * q[(size_t)i * kd + c];
        qn[i] = a > 0 ? (float)(1.0 / sqrt(a)) : 0.f;
    }
    const int k = knn > ns ? ns : knn;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((long)nq * ns > 65536)
#endif
    for (int i = 0; i < nq; i++) {
        float *s = S + (size_t)i * ns, *pi = p + (size_t)i * K;
        for (int j = 0; j < ns; j++) s[j] *= qn[i] * kn[j];
        if (k > 0) { /* the k largest, ties to the lower index (strict comparisons, in order) */
            int top[KNN_MAX];
            int m = 0;
            for (int j = 0; j < ns; j++) {
                if (m == k && !(s[j] > s[top[k - 1]])) continue;
                int at = m < k ? m++ : k - 1;
                while (at > 0 && s[j] > s[top[at - 1]]) {
                    top[at] = top[at - 1];
                    at--;
                }
                top[at] = j;
            }
            for (int r = 0; r < k; r++) pi[labels[top[r]]] += 1.f / (float)k;
        } else {
            float mx = s[0];
            for (int j = 1; j < ns; j++) mx = fmaxf(mx, s[j]);
            double z = 0.0;
            for (int j = 0; j < ns; j++) {
                const float e = expf(beta * (s[j] - mx));
                z += e;
                pi[labels[j]] += e;
            }
            for (int c = 0; c < K; c++) pi[c] = (float)(pi[c] / z);
        }
    }
    if (!work) soma_free(w);
    return SOMA_OK;
}

// --- the store ------------------------------------------------------------------------------

struct soma_cls_store {
    int keys, layer, knn, evict;
    float beta;
    size_t dim, kd;
    long cap, n, seen; /* slots, episodes held, episodes offered (reservoir) */
    int last_task, tasks; /* the task being written, tasks seen */
    long base, task_seen; /* quota: where the current task's episodes begin, how many it offered */
    float *x, *k, *proj;  /* [cap, dim], [cap, kd], [kd, dim] */
    int *y, *task;        /* [cap] */
    soma_net *net;
    soma_rng rng;
};

void soma_cls_store_free(soma_cls_store *s) {
    if (!s) return;
    soma_free(s->x);
    soma_free(s->k);
    soma_free(s->proj);
    soma_free(s->y);
    soma_free(s->task);
    soma_free(s);
}

/* Checks the cls_* options that the store and the method share. */
static soma_status check_opts_(const soma_cl_opts *o) {
    if (o->cls_capacity < 0) return soma_error(SOMA_ERR_ARG, "cls: capacity %ld must be >= 0", o->cls_capacity);
    if (o->cls_keys < 0 || o->cls_keys >= SOMA_CLS_KEYS_COUNT)
        return soma_error(SOMA_ERR_ARG, "cls: unknown key kind %d (projection, input, layer)", o->cls_keys);
    if (o->cls_evict < 0 || o->cls_evict >= SOMA_CLS_EVICT_COUNT)
        return soma_error(SOMA_ERR_ARG, "cls: unknown eviction policy %d (reservoir, quota)", o->cls_evict);
    if (o->cls_answer < 0 || o->cls_answer >= SOMA_CLS_ANSWER_COUNT)
        return soma_error(SOMA_ERR_ARG, "cls: unknown answer %d (system, slow, store)", o->cls_answer);
    if (o->cls_keys == SOMA_CLS_KEYS_PROJECTION && (o->cls_key_dim < 1 || o->cls_key_dim > 65536))
        return soma_error(SOMA_ERR_ARG, "cls: key size %d outside 1..65536", o->cls_key_dim);
    if (!(o->cls_beta > 0) || !isfinite(o->cls_beta))
        return soma_error(SOMA_ERR_ARG, "cls: beta %g must be > 0", (double)o->cls_beta);
    if (o->cls_knn < 0 || o->cls_knn > KNN_MAX) return soma_error(SOMA_ERR_ARG, "cls: knn %d outside 0..%d", o->cls_knn, KNN_MAX);
    if (!(o->cls_confidence >= 0 && o->cls_confidence <= 1))
        return soma_error(SOMA_ERR_ARG, "cls: confidence %g outside [0, 1]", (double)o->cls_confidence);
    if (o->cls_sleep_every < -1 || o->cls_sleep_steps < 0 || o->cls_sleep_batch < 0 || o->cls_sleep_batch > 65536)
        return soma_error(SOMA_ERR_ARG, "cls: sleep every %d (-1 never, 0 after each task, k steps), steps %d (>= 0) or "
                          "batch %d (0..65536) out of range",
                          o->cls_sleep_every, o->cls_sleep_steps, o->cls_sleep_batch);
    if (!(o->cls_sleep_lr >= 0) || !isfinite(o->cls_sleep_lr))
        return soma_error(SOMA_ERR_ARG, "cls: sleep learning rate %g must be >= 0", (double)o->cls_sleep_lr);
    if (o->cls_replay < 0 || o->cls_replay > 65536) return soma_error(SOMA_ERR_ARG, "cls: replay %d outside 0..65536", o->cls_replay);
    return SOMA_OK;
}

soma_status soma_cls_store_new(soma_cls_store **out, const soma_cl_opts *o, size_t dim, soma_net *net) {
    *out = NULL;
    SOMA_TRY(check_opts_(o));
    if (o->cls_capacity < 1) return soma_error(SOMA_ERR_ARG, "cls: a store of %ld episodes (give a capacity > 0)", o->cls_capacity);
    if (dim < 1) return soma_error(SOMA_ERR_ARG, "cls: inputs of %zu floats", dim);
    size_t kd = dim;
    if (o->cls_keys == SOMA_CLS_KEYS_PROJECTION) kd = (size_t)o->cls_key_dim;
    if (o->cls_keys == SOMA_CLS_KEYS_LAYER) {
        if (!net) return soma_error(SOMA_ERR_ARG, "cls: layer keys need the slow net");
        const int L = soma_net_n_layers(net);
        if (o->cls_layer < 0 || o->cls_layer > L)
            return soma_error(SOMA_ERR_ARG, "cls: key layer %d outside 0..%d (the input of top-level layer i; %d: the output)",
                              o->cls_layer, L, L);
        kd = o->cls_layer == L ? soma_shape_size(soma_net_out_shape(net))
                               : soma_shape_size(soma_net_layer(net, o->cls_layer)->in);
    }
    const double bytes = (double)o->cls_capacity * ((double)(dim + kd) * sizeof(float) + 2 * sizeof(int)) +
                         (o->cls_keys == SOMA_CLS_KEYS_PROJECTION ? (double)kd * dim * sizeof(float) : 0.0);
    if (bytes > 4294967296.0 || o->cls_capacity > 100000000L)
        return soma_error(SOMA_ERR_ARG, "cls: a store of %ld episodes needs %.3g GiB (at most 4 GiB)", o->cls_capacity,
                          bytes / 1073741824.0);
    soma_cls_store *s = soma_calloc(1, sizeof *s);
    if (!s) return SOMA_ERR_NOMEM;
    s->keys = o->cls_keys;
    s->layer = o->cls_layer;
    s->knn = o->cls_knn;
    s->evict = o->cls_evict;
    s->beta = o->cls_beta;
    s->dim = dim;
    s->kd = kd;
    s->cap = o->cls_capacity;
    s->last_task = -1;
    s->net = net;
    soma_rng_seed(&s->rng, o->seed, 0x434c53ULL);
    s->x = soma_alloc((size_t)s->cap, dim * sizeof(float));
    s->k = soma_alloc((size_t)s->cap, kd * sizeof(float));
    s->y = soma_alloc((size_t)s->cap, sizeof(int));
    s->task = soma_alloc((size_t)s->cap, sizeof(int));
    int ok = s->x && s->k && s->y && s->task;
    if (ok && s->keys == SOMA_CLS_KEYS_PROJECTION) {
        /* a fixed Gaussian projection, N(0, 1/dim): cosines of keys approximate the inputs' */
        s->proj = soma_alloc(kd, dim * sizeof(float));
        ok = s->proj != NULL;
        soma_rng prng;
        soma_rng_seed(&prng, o->seed, 0x50524fULL);
        const double sd = 1.0 / sqrt((double)dim);
        for (size_t i = 0; ok && i < kd * dim; i++) s->proj[i] = (float)(sd * soma_rng_normal(&prng));
    }
    if (!ok) {
        soma_cls_store_free(s);
        return soma_error(SOMA_ERR_ARG, "cls: a store of %ld episodes (%.3g GiB) is larger than memory allows", o->cls_capacity,
                          bytes / 1073741824.0);
    }
    *out = s;
    return SOMA_OK;
}

long soma_cls_store_count(const soma_cls_store *s, int task) {
    if (task < 0) return s->n;
    long c = 0;
    for (long i = 0; i < s->n; i++) c += s->task[i] == task;
    return c;
}

size_t soma_cls_store_memory(const soma_cls_store *s) {
    return (size_t)s->cap * ((s->dim + s->kd) * sizeof(float) + 2 * sizeof(int)) +
           (s->proj ? s->kd * s->dim * sizeof(float) : 0);
}

/* keys [n, kd] of inputs x [n, dim] */
static soma_status encode_(soma_cls_store *s, const float *x, long n, float *keys) {
    if (n <= 0) return SOMA_OK;
    if (s->keys == SOMA_CLS_KEYS_INPUT) {
        memcpy(keys, x, (size_t)n * s->dim * sizeof(float));
    } else if (s->keys == SOMA_CLS_KEYS_PROJECTION) {
        for (long at = 0; at < n; at += 65536) { /* keys = X P' */
            const int m = (int)(n - at < 65536 ? n - at : 65536);
            soma_gemm(0, 1, m, (int)s->kd, (int)s->dim, 1.f, x + (size_t)at * s->dim, (int)s->dim, s->proj, (int)s->dim, 0.f,
                      keys + (size_t)at * s->kd, (int)s->kd);
        }
    } else {
        const int L = soma_net_n_layers(s->net);
        for (long at = 0; at < n; at += 256) {
            const int m = (int)(n - at < 256 ? n - at : 256);
            const float *y;
            SOMA_TRY(soma_net_forward(s->net, x + (size_t)at * s->dim, m, SOMA_MODE_EVAL, &y));
            const float *a = s->layer == L ? y : soma_net_activation(s->net, s->layer);
            memcpy(keys + (size_t)at * s->kd, a, (size_t)m * s->kd * sizeof(float));
        }
    }
    return SOMA_OK;
}

/* Moves episode `from` into slot `to`. */
static void move_(soma_cls_store *s, long to, long from) {
    if (to == from) return;
    memcpy(s->x + (size_t)to * s->dim, s->x + (size_t)from * s->dim, s->dim * sizeof(float));
    memcpy(s->k + (size_t)to * s->kd, s->k + (size_t)from * s->kd, s->kd * sizeof(float));
    s->y[to] = s->y[from];
    s->task[to] = s->task[from];
}

/* Quota: a new task arrives; every task held keeps cap / tasks episodes (a uniform draw of
 * its own), the survivors packed in task order, and the new task's episodes go after them. */
static void quota_trim_(soma_cls_store *s) {
    const long q = s->cap / s->tasks;
    long w = 0, r = 0;
    while (r < s->n) {
        long e = r;
        while (e < s->n && s->task[e] == s->task[r]) e++;
        const long have = e - r;
        /* keep q of the have episodes in [r, e): selection sampling (Knuth's algorithm S), in order */
        long need = have < q ? have : q;
        for (long i = r; i < e && need > 0; i++) {
            if ((long)soma_rng_below(&s->rng, (uint64_t)(e - i)) < need) {
                move_(s, w++, i);
                need--;
            }
        }
        r = e;
    }
    s->n = w;
}

soma_status soma_cls_store_write(soma_cls_store *s, const float *x, const int *labels, int n, int task) {
    if (n < 0 || task < 0 || task < s->last_task)
        return soma_error(SOMA_ERR_ARG, "cls: write of %d episodes of task %d (tasks in order; last %d)", n, task, s->last_task);
    if (n == 0) return SOMA_OK;
    float *keys = soma_alloc((size_t)n, s->kd * sizeof(float));
    if (!keys) return SOMA_ERR_NOMEM;
    soma_status st = encode_(s, x, n, keys);
    if (st != SOMA_OK) {
        soma_free(keys);
        return st;
    }
    if (task != s->last_task) {
        s->last_task = task;
        s->tasks++;
        if (s->evict == SOMA_CLS_EVICT_QUOTA) quota_trim_(s);
        s->base = s->n;
        s->task_seen = 0;
    }
    for (int i = 0; i < n; i++) {
        long slot;
        if (s->evict == SOMA_CLS_EVICT_QUOTA) { /* a reservoir of its own within the task's room */
            const long room = s->cap - s->base;
            s->task_seen++;
            if (s->n < s->cap) slot = s->n++;
            else if ((slot = (long)soma_rng_below(&s->rng, (uint64_t)s->task_seen)) < room) slot += s->base;
            else continue;
        } else {
            s->seen++;
            if (s->n < s->cap) slot = s->n++;
            else if ((slot = (long)soma_rng_below(&s->rng, (uint64_t)s->seen)) >= s->cap) continue;
        }
        memcpy(s->x + (size_t)slot * s->dim, x + (size_t)i * s->dim, s->dim * sizeof(float));
        memcpy(s->k + (size_t)slot * s->kd, keys + (size_t)i * s->kd, s->kd * sizeof(float));
        s->y[slot] = labels[i];
        s->task[slot] = task;
    }
    soma_free(keys);
    return SOMA_OK;
}

soma_status soma_cls_store_rekey(soma_cls_store *s) {
    if (s->keys != SOMA_CLS_KEYS_LAYER) return SOMA_OK;
    return encode_(s, s->x, s->n, s->k);
}

soma_status soma_cls_store_read(soma_cls_store *s, const float *x, int n, int K, float *p) {
    if (n <= 0) return SOMA_OK;
    float *q = soma_alloc((size_t)n, s->kd * sizeof(float));
    float *w = soma_alloc((size_t)(n + 1) * (size_t)s->n + (size_t)n, sizeof(float));
    soma_status st = q && w ? encode_(s, x, n, q) : SOMA_ERR_NOMEM;
    if (st == SOMA_OK) st = soma_cls_readout(p, q, n, s->k, s->y, (int)s->n, (int)s->kd, K, s->beta, s->knn, w);
    soma_free(q);
    soma_free(w);
    return st;
}

// --- the method: wake, sleep, the system's answer --------------------------------------------

typedef struct cls_ {
    soma_cl_opts o;
    soma_net *net;
    soma_rule *rule;
    const soma_task_stream *s;
    soma_cls_store *store;
    int task, ho, hc, K, sb, steps;
    float lr;
    float *bx; /* a sleep batch [sb, dim], labels [sb] */
    int *by;
    int bcap;
    long *old, n_old; /* wake replay: the slots of earlier tasks' episodes [cap] */
    soma_rng rng;
} cls_;

static soma_status create_(void **state, soma_net *net, soma_rule *rule, const soma_cl_opts *o,
                           const soma_task_stream *s) {
    *state = NULL;
    SOMA_TRY(check_opts_(o));
    long total = 0;
    for (int t = 0; t < s->n_tasks; t++) total += s->train[t]->n;
    soma_cl_opts so = *o;
    if (so.cls_capacity == 0) so.cls_capacity = total > 0 ? total : 1;
    cls_ *c = soma_calloc(1, sizeof *c);
    if (!c) return SOMA_ERR_NOMEM;
    c->o = so;
    c->net = net;
    c->rule = rule;
    c->s = s;
    c->K = (int)soma_shape_size(soma_net_out_shape(net));
    soma_rng_seed(&c->rng, o->seed, 0x534c50ULL);
    soma_status st = soma_cls_store_new(&c->store, &so, s->train[0]->dim, net);
    if (st == SOMA_OK && so.cls_replay > 0 && !(c->old = soma_alloc((size_t)so.cls_capacity, sizeof(long))))
        st = SOMA_ERR_NOMEM;
    if (st != SOMA_OK) {
        soma_cls_store_free(c->store);
        soma_free(c);
        return st;
    }
    *state = c;
    return SOMA_OK;
}

static void destroy_(void *state) {
    cls_ *c = state;
    if (!c) return;
    soma_cls_store_free(c->store);
    soma_free(c->bx);
    soma_free(c->by);
    soma_free(c->old);
    soma_free(c);
}

/* One sleep: c->steps steps of the rule on batches drawn uniformly from the whole
 * store, each applied by plain SGD at the sleep's learning rate. */
static soma_status sleep_(cls_ *c, soma_net *net) {
    const soma_cls_store *s = c->store;
    if (s->n == 0 || c->steps == 0 || c->lr == 0.f) return SOMA_OK;
    size_t np;
    float *v = soma_net_flat_values(net, &np);
    const float *g = soma_net_flat_grads(net, NULL);
    for (int k = 0; k < c->steps; k++) {
        for (int i = 0; i < c->sb; i++) {
            const long j = (long)soma_rng_below(&c->rng, (uint64_t)s->n);
            memcpy(c->bx + (size_t)i * s->dim, s->x + (size_t)j * s->dim, s->dim * sizeof(float));
            c->by[i] = s->y[j];
        }
        soma_target t = {.labels = c->by, .positions = 1, .head_offset = c->ho, .head_count = c->hc};
        float loss;
        SOMA_TRY(soma_rule_step(c->rule, net, c->bx, &t, c->sb, &loss, NULL));
        for (size_t i = 0; i < np; i++) v[i] -= c->lr * g[i];
    }
    soma_net_zero_grad(net);
    return SOMA_OK;
}

static soma_status task_end_(void *user, soma_net *net, int task, const soma_dataset *train) {
    (void)task;
    (void)train;
    return sleep_(user, net);
}

static soma_status after_step_(void *user, soma_net *net, long step, float lr) {
    (void)lr;
    cls_ *c = user;
    if ((step + 1) % c->o.cls_sleep_every == 0) return sleep_(c, net);
    return SOMA_OK;
}

/* Interleaved wake learning: o.cls_replay episodes of earlier tasks after the batch. */
static soma_status batch_(void *user, soma_net *net, long step, float *x, int *labels, float *values, int n,
                          int *n_extra) {
    (void)net;
    (void)step;
    (void)values;
    cls_ *c = user;
    const soma_cls_store *s = c->store;
    *n_extra = 0;
    if (!labels || c->n_old == 0) return SOMA_OK;
    for (int i = 0; i < c->o.cls_replay; i++) {
        const long j = c->old[soma_rng_below(&c->rng, (uint64_t)c->n_old)];
        memcpy(x + (size_t)(n + i) * s->dim, s->x + (size_t)j * s->dim, s->dim * sizeof(float));
        labels[n + i] = s->y[j];
    }
    *n_extra = c->o.cls_replay;
    return SOMA_OK;
}

static soma_status attach_(void *state, soma_train_config *cfg, int t, int ho, int hc) {
    cls_ *c = state;
    c->task = t;
    c->ho = ho;
    c->hc = hc;
    c->sb = c->o.cls_sleep_batch > 0 ? c->o.cls_sleep_batch : cfg->batch > 0 ? cfg->batch : 1;
    c->lr = c->o.cls_sleep_lr > 0 ? c->o.cls_sleep_lr : cfg->sched.lr;
    c->steps = c->o.cls_sleep_steps > 0 ? c->o.cls_sleep_steps : (c->s->train[t]->n + c->sb - 1) / c->sb;
    if (c->sb > c->bcap) {
        soma_free(c->bx);
        soma_free(c->by);
        c->bx = soma_alloc((size_t)c->sb, c->store->dim * sizeof(float));
        c->by = soma_alloc((size_t)c->sb, sizeof(int));
        if (!c->bx || !c->by) return SOMA_ERR_NOMEM;
        c->bcap = c->sb;
    }
    /* the hippocampus writes the task's episodes in one shot */
    const soma_dataset *d = c->s->train[t];
    if (!d->y || d->y_len != 1) return soma_error(SOMA_ERR_ARG, "cls: task %d's data need one label a sample", t);
    enum { CHUNK = 1024 };
    float *x = soma_alloc(CHUNK, d->dim * sizeof(float));
    int *y = soma_alloc(CHUNK, sizeof(int)), idx[CHUNK];
    soma_status st = x && y ? SOMA_OK : SOMA_ERR_NOMEM;
    for (int at = 0; st == SOMA_OK && at < d->n; at += CHUNK) {
        const int m = d->n - at < CHUNK ? d->n - at : CHUNK;
        for (int i = 0; i < m; i++) idx[i] = at + i;
        soma_dataset_batch(d, idx, m, x, y);
        for (int i = 0; st == SOMA_OK && i < m; i++)
            if (y[i] < 0 || y[i] >= c->K) st = soma_error(SOMA_ERR_ARG, "cls: task %d: label %d outside the net's %d outputs", t, y[i], c->K);
        if (st == SOMA_OK) st = soma_cls_store_write(c->store, x, y, m, t);
    }
    soma_free(x);
    soma_free(y);
    if (st != SOMA_OK) return st;
    if (c->o.cls_sleep_every == 0) cfg->hooks.task_end = task_end_;
    else if (c->o.cls_sleep_every > 0) cfg->hooks.after_step = after_step_;
    if (c->o.cls_replay > 0) { /* the store holds still during the task: index its earlier tasks once */
        c->n_old = 0;
        for (long j = 0; j < c->store->n; j++)
            if (c->store->task[j] < t) c->old[c->n_old++] = j;
        cfg->batch_hook = batch_;
        cfg->batch_extra = c->o.cls_replay;
    }
    return SOMA_OK;
}

static size_t memory_(const void *state) {
    const cls_ *c = state;
    return soma_cls_store_memory(c->store);
}

/* The system's answer: the store's top class within the head when its share of the head's
 * probability is at least cls_confidence (or always, answer store), else the slow net's. */
static soma_status evaluate_(void *state, soma_net *net, soma_rule *rule, const soma_dataset *d, int batch, int ho, int hc,
                             float *acc) {
    cls_ *c = state;
    if (c->o.cls_answer == SOMA_CLS_ANSWER_SLOW) return soma_evaluate_head(net, rule, d, batch, ho, hc, acc, NULL);
    if (!d->y || d->y_len != 1) return soma_error(SOMA_ERR_ARG, "cls: evaluation needs one label a sample");
    SOMA_TRY(soma_cls_store_rekey(c->store));
    const int K = c->K;
    long B = batch > 0 ? batch : 1000;
    const long ns = c->store->n > 0 ? c->store->n : 1;
    if (B * ns > (16L << 20)) B = (16L << 20) / ns > 1 ? (16L << 20) / ns : 1; /* similarities <= 64 MiB */
    float *x = soma_alloc((size_t)B, d->dim * sizeof(float)), *p = soma_alloc((size_t)B * K, sizeof(float));
    int *y = soma_alloc((size_t)B, sizeof(int)), *idx = soma_alloc((size_t)B, sizeof(int)), *pred = soma_alloc((size_t)B, sizeof(int));
    soma_status st = x && p && y && idx && pred ? SOMA_OK : SOMA_ERR_NOMEM;
    long correct = 0;
    for (int at = 0; st == SOMA_OK && at < d->n; at += (int)B) {
        const int m = d->n - at < B ? d->n - at : (int)B;
        for (int i = 0; i < m; i++) idx[i] = at + i;
        soma_dataset_batch(d, idx, m, x, y);
        if ((st = soma_cls_store_read(c->store, x, m, K, p)) != SOMA_OK) break;
        if (c->o.cls_answer == SOMA_CLS_ANSWER_SYSTEM &&
            (st = soma_rule_predict_head(rule, net, x, m, 1, ho, hc, ho == SOMA_HEAD_BY_LABEL ? y : NULL, pred)) != SOMA_OK)
            break;
        for (int i = 0; i < m; i++) {
            int o = 0, n = K;
            if (hc > 0) {
                n = hc;
                o = ho == SOMA_HEAD_BY_LABEL ? y[i] / hc * hc : ho;
            }
            const float *pi = p + (size_t)i * K;
            int top = -1;
            double z = 0.0;
            for (int k = o; k < o + n && k < K; k++) {
                z += pi[k];
                if (top < 0 || pi[k] > pi[top]) top = k;
            }
            int a = -1;
            if (c->o.cls_answer == SOMA_CLS_ANSWER_STORE) a = z > 0 ? top : -1;
            else a = z > 0 && pi[top] >= c->o.cls_confidence * z ? top : pred[i];
            correct += a == y[i];
        }
    }
    soma_free(x);
    soma_free(p);
    soma_free(y);
    soma_free(idx);
    soma_free(pred);
    if (st == SOMA_OK) *acc = d->n > 0 ? (float)((double)correct / d->n) : NAN;
    return st;
}

const soma__cl_ext_ops soma__cl_cls_ops = {create_, destroy_, attach_, memory_, evaluate_};
