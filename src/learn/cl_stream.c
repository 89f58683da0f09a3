// Continual learning: task streams (permuted and split Fashion-MNIST, the user's npy data with
// task ids) and the head of each task in each scenario.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soma/learn.h"

static const char *const scenario_names_[SOMA_CL_SCENARIO_COUNT] = {"task", "domain", "class"};

const char *soma_cl_scenario_name(soma_cl_scenario s) {
    return (int)s >= 0 && s < SOMA_CL_SCENARIO_COUNT ? scenario_names_[s] : "?";
}

soma_stream_opts soma_stream_opts_default(void) {
    soma_stream_opts o;
    memset(&o, 0, sizeof o);
    o.seed = 1;
    o.test_frac = 0.2;
    return o;
}

void soma_task_stream_free(soma_task_stream *s) {
    if (!s) return;
    for (int t = 0; t < s->n_tasks; t++) {
        if (s->train) soma_dataset_free(s->train[t]);
        if (s->test) soma_dataset_free(s->test[t]);
    }
    soma_free(s->train);
    soma_free(s->test);
    soma_free(s->classes);
    soma_free(s);
}

void soma_task_stream_head(const soma_task_stream *s, int t, int upto, int *offset, int *count) {
    const int c = s->classes_per_task;
    switch (s->scenario) {
    case SOMA_CL_TASK:
        *offset = SOMA_HEAD_BY_LABEL;
        *count = c;
        break;
    case SOMA_CL_DOMAIN:
        *offset = 0;
        *count = c;
        break;
    default: { /* class: every class seen so far when tasks hold consecutive blocks of classes
                  (split streams), else every output (the user's data) */
        int blocks = s->n_outputs == s->n_tasks * c;
        for (int k = 0; blocks && k < s->n_tasks * c; k++) blocks = s->classes[k] == k;
        const int last = upto > t ? upto : t;
        *offset = 0;
        *count = blocks ? (last + 1) * c : 0;
        break;
    }
    }
}

static soma_status stream_alloc_(soma_task_stream **out, const char *name, int T, int c) {
    *out = NULL;
    soma_task_stream *s = soma_calloc(1, sizeof *s);
    if (!s) return SOMA_ERR_NOMEM;
    snprintf(s->name, sizeof s->name, "%s", name);
    s->n_tasks = T;
    s->classes_per_task = c;
    s->train = soma_calloc((size_t)T, sizeof *s->train);
    s->test = soma_calloc((size_t)T, sizeof *s->test);
    s->classes = soma_alloc((size_t)T * (size_t)c, sizeof(int));
    if (!s->train || !s->test || !s->classes) {
        soma_task_stream_free(s);
        return SOMA_ERR_NOMEM;
    }
    for (int i = 0; i < T * c; i++) s->classes[i] = -1;
    *out = s;
    return SOMA_OK;
}

static soma_status check_labels_(const soma_dataset *d, const char *what) {
    if (!d || !d->y || d->y_len != 1 || d->n < 1)
        return soma_error(SOMA_ERR_ARG, "stream: %s needs one integer label a sample%s", what,
                          d && d->t ? " (it has float targets)" : "");
    return SOMA_OK;
}

/* A new data set of d's samples idx[0..n) (all when idx is NULL), labels mapped through map
 * (NULL: kept), pixels permuted by perm (out[k] = in[perm[k]]; NULL: kept). */
static soma_status pick_(const soma_dataset *d, const int *idx, int n, const int *map, const int *perm, int n_classes,
                         const char *name, soma_dataset **out) {
    *out = NULL;
    soma_dataset *o = soma_calloc(1, sizeof *o);
    if (!o) return SOMA_ERR_NOMEM;
    snprintf(o->name, sizeof o->name, "%s", name);
    o->n = n;
    o->shape = d->shape;
    o->dim = d->dim;
    o->n_classes = n_classes;
    o->scale = d->scale;
    o->y_len = 1;
    const size_t D = d->dim;
    o->y = soma_alloc((size_t)n, sizeof(int));
    if (d->x_u8) o->x_u8 = soma_alloc((size_t)n, D);
    else o->x_f32 = soma_alloc((size_t)n, D * sizeof(float));
    if (!o->y || (!o->x_u8 && !o->x_f32)) {
        soma_dataset_free(o);
        return soma_error(SOMA_ERR_NOMEM, "stream: out of memory for %d samples of %zu values", n, D);
    }
    for (int i = 0; i < n; i++) {
        const size_t src = (size_t)(idx ? idx[i] : i);
        o->y[i] = map ? map[d->y[src]] : d->y[src];
        if (d->x_u8) {
            const uint8_t *a = d->x_u8 + src * D;
            uint8_t *b = o->x_u8 + (size_t)i * D;
            if (perm) for (size_t k = 0; k < D; k++) b[k] = a[perm[k]];
            else memcpy(b, a, D);
        } else {
            const float *a = d->x_f32 + src * D;
            float *b = o->x_f32 + (size_t)i * D;
            if (perm) for (size_t k = 0; k < D; k++) b[k] = a[perm[k]];
            else memcpy(b, a, D * sizeof(float));
        }
    }
    *out = o;
    return SOMA_OK;
}

soma_status soma_task_stream_permuted(const soma_dataset *train, const soma_dataset *test, int n_tasks, uint64_t seed,
                                      soma_task_stream **out) {
    *out = NULL;
    SOMA_TRY(check_labels_(train, "permuted training data"));
    SOMA_TRY(check_labels_(test, "permuted test data"));
    if (n_tasks < 1 || n_tasks > 1000) return soma_error(SOMA_ERR_ARG, "stream: %d permuted tasks (1..1000)", n_tasks);
    if (!soma_shape_eq(train->shape, test->shape))
        return soma_error(SOMA_ERR_ARG, "stream: training and test samples differ in size (%zu, %zu values)", train->dim,
                          test->dim);
    const int K = train->n_classes > test->n_classes ? train->n_classes : test->n_classes;
    soma_task_stream *s;
    SOMA_TRY(stream_alloc_(&s, "permuted", n_tasks, K));
    s->scenario = SOMA_CL_DOMAIN;
    s->n_outputs = K;
    int *perm = soma_alloc(train->dim, sizeof(int));
    if (!perm) {
        soma_task_stream_free(s);
        return SOMA_ERR_NOMEM;
    }
    soma_status st = SOMA_OK;
    char nm[64];
    for (int t = 0; t < n_tasks && st == SOMA_OK; t++) {
        for (int j = 0; j < K; j++) s->classes[t * K + j] = j;
        if (t == 0) { /* the plain images */
            for (size_t k = 0; k < train->dim; k++) perm[k] = (int)k;
        } else {
            soma_rng r;
            soma_rng_seed(&r, seed, 0x5045524dULL + (uint64_t)t);
            soma_rng_permutation(&r, perm, (int)train->dim);
        }
        snprintf(nm, sizeof nm, "%.40s-perm%d", train->name, t);
        st = pick_(train, NULL, train->n, NULL, perm, K, nm, &s->train[t]);
        snprintf(nm, sizeof nm, "%.40s-perm%d", test->name, t);
        if (st == SOMA_OK) st = pick_(test, NULL, test->n, NULL, perm, K, nm, &s->test[t]);
    }
    soma_free(perm);
    if (st != SOMA_OK) soma_task_stream_free(s);
    else *out = s;
    return st;
}

/* The samples of d whose label maps to a task t (task_of[label] == t), relabelled. */
static soma_status split_one_(const soma_dataset *d, const int *task_of, const int *map, int t, int n_classes,
                              const char *name, soma_dataset **out) {
    int *idx = soma_alloc((size_t)d->n, sizeof(int));
    if (!idx) return SOMA_ERR_NOMEM;
    int n = 0;
    for (int i = 0; i < d->n; i++)
        if (task_of[d->y[i]] == t) idx[n++] = i;
    soma_status st = n ? pick_(d, idx, n, map, NULL, n_classes, name, out)
                       : soma_error(SOMA_ERR_ARG, "stream: %s has no samples of task %d", d->name, t);
    soma_free(idx);
    return st;
}

soma_status soma_task_stream_split(const soma_dataset *train, const soma_dataset *test, int c, soma_cl_scenario scenario,
                                   soma_task_stream **out) {
    *out = NULL;
    SOMA_TRY(check_labels_(train, "split training data"));
    SOMA_TRY(check_labels_(test, "split test data"));
    if ((int)scenario < 0 || scenario >= SOMA_CL_SCENARIO_COUNT)
        return soma_error(SOMA_ERR_ARG, "stream: unknown scenario %d", (int)scenario);
    if (!soma_shape_eq(train->shape, test->shape))
        return soma_error(SOMA_ERR_ARG, "stream: training and test samples differ in size (%zu, %zu values)", train->dim,
                          test->dim);
    const int K = train->n_classes;
    if (test->n_classes > K)
        return soma_error(SOMA_ERR_ARG, "stream: the test data have %d classes, the training data %d", test->n_classes, K);
    if (c < 1 || K % c != 0 || K / c < 1)
        return soma_error(SOMA_ERR_ARG, "stream: %d classes do not split into tasks of %d", K, c);
    const int T = K / c;
    soma_task_stream *s;
    SOMA_TRY(stream_alloc_(&s, "split", T, c));
    s->scenario = scenario;
    s->n_outputs = scenario == SOMA_CL_DOMAIN ? c : K;
    int *task_of = soma_alloc((size_t)K, sizeof(int)), *map = soma_alloc((size_t)K, sizeof(int));
    if (!task_of || !map) {
        soma_free(task_of);
        soma_free(map);
        soma_task_stream_free(s);
        return SOMA_ERR_NOMEM;
    }
    for (int k = 0; k < K; k++) {
        task_of[k] = k / c;
        map[k] = scenario == SOMA_CL_DOMAIN ? k % c : k; /* task and class: t*c + j = k */
        s->classes[k] = k;
    }
    soma_status st = SOMA_OK;
    char nm[64];
    for (int t = 0; t < T && st == SOMA_OK; t++) {
        snprintf(nm, sizeof nm, "%.40s-task%d", train->name, t);
        st = split_one_(train, task_of, map, t, s->n_outputs, nm, &s->train[t]);
        snprintf(nm, sizeof nm, "%.40s-task%d", test->name, t);
        if (st == SOMA_OK) st = split_one_(test, task_of, map, t, s->n_outputs, nm, &s->test[t]);
    }
    soma_free(task_of);
    soma_free(map);
    if (st != SOMA_OK) soma_task_stream_free(s);
    else *out = s;
    return st;
}

soma_status soma_task_stream_by_id(const soma_dataset *train, const int *tasks, const soma_dataset *test,
                                   const int *test_tasks, soma_task_stream **out) {
    *out = NULL;
    SOMA_TRY(check_labels_(train, "training data"));
    SOMA_TRY(check_labels_(test, "test data"));
    if (!soma_shape_eq(train->shape, test->shape))
        return soma_error(SOMA_ERR_ARG, "stream: training samples have %zu values, test samples %zu: every task must "
                          "have the same input size", train->dim, test->dim);
    int T = 0;
    for (int i = 0; i < train->n; i++) {
        if (tasks[i] < 0 || tasks[i] >= 100000)
            return soma_error(SOMA_ERR_ARG, "stream: task id %d of training sample %d out of range (0..99999)", tasks[i], i);
        if (tasks[i] + 1 > T) T = tasks[i] + 1;
    }
    for (int i = 0; i < test->n; i++)
        if (test_tasks[i] < 0 || test_tasks[i] >= T)
            return soma_error(SOMA_ERR_ARG, "stream: task id %d of test sample %d out of range (0..%d)", test_tasks[i], i,
                              T - 1);
    const int K = train->n_classes > test->n_classes ? train->n_classes : test->n_classes;
    /* the classes of each task: a [T, K] presence table */
    unsigned char *has = soma_calloc((size_t)T * (size_t)K, 1);
    int *cnt = soma_calloc((size_t)T, sizeof(int)), *cnt_test = soma_calloc((size_t)T, sizeof(int));
    soma_status st = SOMA_OK;
    soma_task_stream *s = NULL;
    int *idx = NULL;
    if (!has || !cnt || !cnt_test) {
        st = SOMA_ERR_NOMEM;
        goto out;
    }
    for (int i = 0; i < train->n; i++) {
        has[(size_t)tasks[i] * K + train->y[i]] = 1;
        cnt[tasks[i]]++;
    }
    for (int i = 0; i < test->n; i++) cnt_test[test_tasks[i]]++;
    int c = 0;
    for (int t = 0; t < T; t++) {
        if (!cnt[t] || !cnt_test[t]) {
            st = soma_error(SOMA_ERR_ARG, "stream: task %d has no %s samples (task ids must be 0..%d, each present)", t,
                            cnt[t] ? "test" : "training", T - 1);
            goto out;
        }
        int k = 0;
        for (int j = 0; j < K; j++) k += has[(size_t)t * K + j];
        if (k > c) c = k;
    }
    if ((st = stream_alloc_(&s, "npy", T, c)) != SOMA_OK) goto out;
    s->scenario = SOMA_CL_CLASS;
    s->n_outputs = K;
    for (int t = 0; t < T; t++)
        for (int j = 0, k = 0; j < K; j++)
            if (has[(size_t)t * K + j]) s->classes[t * c + k++] = j;
    idx = soma_alloc((size_t)(train->n > test->n ? train->n : test->n), sizeof(int));
    if (!idx) {
        st = SOMA_ERR_NOMEM;
        goto out;
    }
    char nm[64];
    for (int t = 0; t < T && st == SOMA_OK; t++) {
        int n = 0;
        for (int i = 0; i < train->n; i++)
            if (tasks[i] == t) idx[n++] = i;
        snprintf(nm, sizeof nm, "train-task%d", t);
        st = pick_(train, idx, n, NULL, NULL, K, nm, &s->train[t]);
        n = 0;
        for (int i = 0; i < test->n; i++)
            if (test_tasks[i] == t) idx[n++] = i;
        snprintf(nm, sizeof nm, "test-task%d", t);
        if (st == SOMA_OK) st = pick_(test, idx, n, NULL, NULL, K, nm, &s->test[t]);
    }
out:
    soma_free(has);
    soma_free(cnt);
    soma_free(cnt_test);
    soma_free(idx);
    if (st != SOMA_OK) soma_task_stream_free(s);
    else *out = s;
    return st;
}

// --- by spec ---------------------------------------------------------------------------

/* Reads X, Y, TASKS npy files into a data set and a task-id array. */
static soma_status npy_triple_(const char *x, const char *y, const char *tk, soma_dataset **d, int **tasks) {
    *d = NULL;
    *tasks = NULL;
    soma_array ax = {0}, ay = {0}, at = {0};
    soma_status st = soma_npy_read(x, &ax);
    if (st == SOMA_OK) st = soma_npy_read(y, &ay);
    if (st == SOMA_OK) st = soma_npy_read(tk, &at);
    if (st != SOMA_OK) goto out;
    if (at.dtype == SOMA_DTYPE_F32 || at.dtype == SOMA_DTYPE_F64 || at.ndim != 1 || ax.ndim < 1 ||
        at.shape[0] != ax.shape[0]) {
        st = soma_error(SOMA_ERR_ARG, "stream: %s: want integer task ids [%lld], one a sample", tk,
                        (long long)(ax.ndim ? ax.shape[0] : 0));
        goto out;
    }
    if (ay.dtype == SOMA_DTYPE_F32 || ay.dtype == SOMA_DTYPE_F64 || ay.ndim != 1) {
        st = soma_error(SOMA_ERR_ARG, "stream: %s: want integer labels [N], one a sample", y);
        goto out;
    }
    if ((st = soma_dataset_from_arrays(&ax, &ay, "npy", d)) != SOMA_OK) goto out;
    *tasks = soma_alloc(at.n, sizeof(int));
    if (!*tasks) {
        st = SOMA_ERR_NOMEM;
        goto out;
    }
    int T = 0;
    for (size_t i = 0; i < at.n; i++) {
        double v = soma_array_get(&at, i);
        if (v < 0 || v >= 100000) {
            st = soma_error(SOMA_ERR_ARG, "stream: %s: task id %zu is %.0f (want 0..99999)", tk, i, v);
            goto out;
        }
        (*tasks)[i] = (int)v;
        if ((int)v + 1 > T) T = (int)v + 1;
    }
    /* every id 0..T-1 present */
    unsigned char *seen = soma_calloc((size_t)T, 1);
    if (!seen) {
        st = SOMA_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < at.n; i++) seen[(*tasks)[i]] = 1;
    for (int t = 0; t < T && st == SOMA_OK; t++)
        if (!seen[t])
            st = soma_error(SOMA_ERR_ARG, "stream: %s: no sample has task id %d (ids must be 0..%d, each present)", tk, t,
                            T - 1);
    soma_free(seen);
out:
    soma_array_deinit(&ax);
    soma_array_deinit(&ay);
    soma_array_deinit(&at);
    if (st != SOMA_OK) {
        soma_dataset_free(*d);
        soma_free(*tasks);
        *d = NULL;
        *tasks = NULL;
    }
    return st;
}

static soma_status load_npy_(const char *list, const soma_stream_opts *o, soma_task_stream **out) {
    char buf[4096];
    if (strlen(list) >= sizeof buf) return soma_error(SOMA_ERR_ARG, "stream: npy spec too long");
    strcpy(buf, list);
    char *f[6] = {0};
    int nf = 0;
    char *semi = strchr(buf, ';');
    if (semi) *semi = '\0';
    for (char *p = buf, *q; p && nf < 3; p = q) {
        q = strchr(p, ',');
        if (q) *q++ = '\0';
        f[nf++] = p;
    }
    if (semi)
        for (char *p = semi + 1, *q; p && nf < 6; p = q) {
            q = strchr(p, ',');
            if (q) *q++ = '\0';
            f[nf++] = p;
        }
    if ((nf != 3 && nf != 6) || (!semi && nf != 3))
        return soma_error(SOMA_ERR_ARG, "stream: want npy:X,Y,TASKS or npy:X,Y,TASKS;XT,YT,TT, got npy:%s", list);
    for (int i = 0; i < nf; i++)
        if (!f[i][0]) return soma_error(SOMA_ERR_ARG, "stream: empty file name in npy:%s", list);
    soma_dataset *d = NULL, *dt = NULL, *tr = NULL, *te = NULL;
    int *tk = NULL, *tkt = NULL, *tk_tr = NULL, *tk_te = NULL;
    soma_status st = npy_triple_(f[0], f[1], f[2], &d, &tk);
    if (st == SOMA_OK && nf == 6) st = npy_triple_(f[3], f[4], f[5], &dt, &tkt);
    if (st == SOMA_OK && nf == 6) {
        st = soma_task_stream_by_id(d, tk, dt, tkt, out);
    } else if (st == SOMA_OK) { /* hold out test_frac of each task, drawn with the seed */
        double frac = o->test_frac > 0 && o->test_frac < 1 ? o->test_frac : 0.2;
        int *perm = soma_alloc((size_t)d->n, sizeof(int)), *itr = soma_alloc((size_t)d->n, sizeof(int)),
            *ite = soma_alloc((size_t)d->n, sizeof(int));
        tk_tr = soma_alloc((size_t)d->n, sizeof(int));
        tk_te = soma_alloc((size_t)d->n, sizeof(int));
        if (!perm || !itr || !ite || !tk_tr || !tk_te) st = SOMA_ERR_NOMEM;
        int ntr = 0, nte = 0;
        if (st == SOMA_OK) {
            soma_rng r;
            soma_rng_seed(&r, o->seed, 0x4e5059ULL);
            soma_rng_permutation(&r, perm, d->n);
            int T = 0;
            for (int i = 0; i < d->n; i++) T = tk[i] + 1 > T ? tk[i] + 1 : T;
            /* per task: the first ceil(frac * n_t) samples of the shuffled order go to test */
            int *cnt = soma_calloc((size_t)T, sizeof(int)), *seen = soma_calloc((size_t)T, sizeof(int));
            if (!cnt || !seen) st = SOMA_ERR_NOMEM;
            for (int i = 0; st == SOMA_OK && i < d->n; i++) cnt[tk[i]]++;
            for (int k = 0; st == SOMA_OK && k < d->n; k++) {
                int i = perm[k], t = tk[i];
                if (seen[t]++ < (int)(frac * cnt[t] + 0.999999)) {
                    ite[nte] = i;
                    tk_te[nte++] = t;
                } else {
                    itr[ntr] = i;
                    tk_tr[ntr++] = t;
                }
            }
            soma_free(cnt);
            soma_free(seen);
        }
        if (st == SOMA_OK) st = pick_(d, itr, ntr, NULL, NULL, d->n_classes, "npy-train", &tr);
        if (st == SOMA_OK) st = pick_(d, ite, nte, NULL, NULL, d->n_classes, "npy-test", &te);
        if (st == SOMA_OK) st = soma_task_stream_by_id(tr, tk_tr, te, tk_te, out);
        soma_free(perm);
        soma_free(itr);
        soma_free(ite);
    }
    soma_dataset_free(d);
    soma_dataset_free(dt);
    soma_dataset_free(tr);
    soma_dataset_free(te);
    soma_free(tk);
    soma_free(tkt);
    soma_free(tk_tr);
    soma_free(tk_te);
    return st;
}

/* The first n samples (n <= 0 or >= d->n: d itself, *tmp NULL). */
static soma_status first_(const soma_dataset *d, int n, soma_dataset **tmp, const soma_dataset **use) {
    *tmp = NULL;
    *use = d;
    if (n <= 0 || n >= d->n) return SOMA_OK;
    SOMA_TRY(soma_dataset_subset(d, n, tmp));
    *use = *tmp;
    return SOMA_OK;
}

soma_status soma_task_stream_load(const char *spec, const soma_stream_opts *o, soma_task_stream **out) {
    *out = NULL;
    soma_stream_opts def = soma_stream_opts_default();
    if (!o) o = &def;
    if (!spec || !spec[0]) return soma_error(SOMA_ERR_ARG, "stream: empty spec");
    if (strncmp(spec, "npy:", 4) == 0) {
        SOMA_TRY(load_npy_(spec + 4, o, out));
        snprintf((*out)->name, sizeof (*out)->name, "npy");
        return SOMA_OK;
    }
    const int permuted = strncmp(spec, "permuted-fmnist", 15) == 0 && (!spec[15] || spec[15] == ':');
    const int split = strncmp(spec, "split-fmnist", 12) == 0 && (!spec[12] || spec[12] == ':');
    if (!permuted && !split)
        return soma_error(SOMA_ERR_ARG, "stream: unknown stream '%s' (permuted-fmnist[:T], "
                          "split-fmnist[:task|domain|class], npy:X,Y,TASKS)", spec);
    const char *arg = permuted ? (spec[15] ? spec + 16 : NULL) : (spec[12] ? spec + 13 : NULL);
    int T = 10;
    soma_cl_scenario sc = SOMA_CL_CLASS;
    if (permuted && arg) {
        char *end;
        long v = strtol(arg, &end, 10);
        if (!arg[0] || *end || v < 1 || v > 1000)
            return soma_error(SOMA_ERR_ARG, "stream: permuted-fmnist:%s: want a task count 1..1000", arg);
        T = (int)v;
    }
    if (split && arg) {
        int k = -1;
        for (int i = 0; i < SOMA_CL_SCENARIO_COUNT; i++)
            if (strcmp(arg, scenario_names_[i]) == 0) k = i;
        if (k < 0) return soma_error(SOMA_ERR_ARG, "stream: split-fmnist:%s: want task, domain or class", arg);
        sc = (soma_cl_scenario)k;
    }
    soma_dataset *tr = NULL, *te = NULL, *tr_n = NULL, *te_n = NULL;
    const soma_dataset *tru, *teu;
    soma_status st = soma_dataset_fmnist(o->fmnist_dir, 1, &tr);
    if (st == SOMA_OK) st = soma_dataset_fmnist(o->fmnist_dir, 0, &te);
    if (permuted) {
        if (st == SOMA_OK) st = first_(tr, o->n_train, &tr_n, &tru);
        if (st == SOMA_OK) st = first_(te, o->n_test, &te_n, &teu);
        if (st == SOMA_OK) st = soma_task_stream_permuted(tru, teu, T, o->seed, out);
    } else {
        /* n_train / n_test cap each task: the first 5 * n samples hold about n a task */
        if (st == SOMA_OK) st = first_(tr, o->n_train > 0 ? o->n_train * 5 : 0, &tr_n, &tru);
        if (st == SOMA_OK) st = first_(te, o->n_test > 0 ? o->n_test * 5 : 0, &te_n, &teu);
        if (st == SOMA_OK) st = soma_task_stream_split(tru, teu, 2, sc, out);
    }
    soma_dataset_free(tr);
    soma_dataset_free(te);
    soma_dataset_free(tr_n);
    soma_dataset_free(te_n);
    if (st == SOMA_OK) snprintf((*out)->name, sizeof (*out)->name, "%s", spec);
    return st;
}
