// Data sets: Fashion-MNIST, any IDX or NPY pair, synthetic classes; batch gathering.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/internal.h"

#define FMNIST_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"
#define DATASET_MAX_CLASSES 65536

const char *soma_fmnist_dir(const char *dir) {
    if (dir && dir[0]) return dir;
    const char *env = getenv("SOMA_FMNIST_DIR");
    if (env && env[0]) return env;
    return FMNIST_DEFAULT_DIR;
}

void soma_dataset_free(soma_dataset *d) {
    if (!d) return;
    soma_free(d->x_u8);
    soma_free(d->x_f32);
    soma_free(d->y);
    soma_free(d->t);
    soma_free(d);
}

static int is_int_dtype_(soma_dtype t) {
    return t == SOMA_DTYPE_U8 || t == SOMA_DTYPE_I8 || t == SOMA_DTYPE_I16 || t == SOMA_DTYPE_I32 ||
           t == SOMA_DTYPE_I64;
}

/* Builds a data set from x and y. With adopt, x's data are taken over when they are uint8
 * (x is then zeroed); otherwise copied. max_classes > 0 fixes the label range. */
static soma_status from_arrays_(soma_array *x, const soma_array *y, const char *name, int adopt,
                                int n_classes_fixed, soma_dataset **out) {
    *out = NULL;
    if (!name) name = "data";
    if (!x->data || !y->data) return soma_error(SOMA_ERR_ARG, "%s: arrays not initialised", name);
    if (x->ndim < 1 || x->ndim > 5)
        return soma_error(SOMA_ERR_SHAPE,
                          "%s: samples have %d dimensions (want [N], [N,D], [N,H,W], [N,C,H,W] or [N,T,C,H,W])",
                          name, x->ndim);
    int64_t N = x->shape[0];
    if (N < 1 || N > INT32_MAX)
        return soma_error(SOMA_ERR_SHAPE, "%s: %lld samples (1..%d allowed)", name, (long long)N, INT32_MAX);
    /* one convention (core.h): [N,D] vectors; [N,T,D] sequences when the targets have a T axis
     * too ([N,T] labels, [N,T,...] values), else [N,H,W] one-channel images; [N,C,H,W] images;
     * [N,T,C,H,W] sequences of images */
    soma_shape s = {0};
    for (int i = 1; i < x->ndim; i++)
        if (x->shape[i] < 1 || x->shape[i] > (1 << 28))
            return soma_error(SOMA_ERR_SHAPE, "%s: dimension %d of the samples is %lld (empty or huge)",
                              name, i, (long long)x->shape[i]);
    if (x->ndim == 1) s = soma_shape1(1);
    else if (x->ndim == 2) s = soma_shape1((int)x->shape[1]);
    else if (x->ndim == 3 && y->ndim >= 2 && y->shape[1] == x->shape[1])
        s = soma_shape2((int)x->shape[1], (int)x->shape[2]); /* [N,T,D] with targets a position */
    else if (x->ndim == 3) s = soma_shape3(1, (int)x->shape[1], (int)x->shape[2]);
    else if (x->ndim == 4) s = soma_shape3((int)x->shape[1], (int)x->shape[2], (int)x->shape[3]);
    else s = soma_shape4((int)x->shape[1], (int)x->shape[2], (int)x->shape[3], (int)x->shape[4]);
    if (!soma_shape_ok(s))
        return soma_error(SOMA_ERR_SHAPE, "%s: per-sample shape is too large", name);
    if (x->n != (size_t)N * soma_shape_size(s))
        return soma_error(SOMA_ERR_SHAPE, "%s: image array holds %zu values, its shape says otherwise",
                          name, x->n);
    int regress = y->dtype == SOMA_DTYPE_F32 || y->dtype == SOMA_DTYPE_F64;
    if (!regress && !is_int_dtype_(y->dtype))
        return soma_error(SOMA_ERR_FORMAT, "%s: targets are %s, want integer labels or float values", name,
                          soma_dtype_name(y->dtype));
    if (y->ndim < 1 || y->shape[0] != N)
        return soma_error(SOMA_ERR_SHAPE, "%s: %lld samples but %lld targets", name, (long long)N,
                          (long long)(y->ndim ? y->shape[0] : 0));
    if (regress ? y->ndim > 5 : y->ndim > 2)
        return soma_error(SOMA_ERR_SHAPE, "%s: %s targets have %d dimensions (labels: [N] or [N,T]; values: [N,...] up to 4 more)",
                          name, regress ? "float" : "integer", y->ndim);
    size_t per = N ? y->n / (size_t)N : 0;
    if (per < 1 || per > INT32_MAX)
        return soma_error(SOMA_ERR_SHAPE, "%s: %zu target values for %lld samples", name, y->n, (long long)N);
    soma_dataset *d = soma_calloc(1, sizeof *d);
    if (!d) return SOMA_ERR_NOMEM;
    snprintf(d->name, sizeof d->name, "%s", name);
    d->n = (int)N;
    d->shape = s;
    d->dim = soma_shape_size(s);
    if (regress) {
        d->t = soma_alloc(y->n, sizeof(float));
        if (!d->t) goto nomem;
        d->t_dim = per;
        /* [N] -> [1]; [N,...] -> [...] (at most SOMA_SHAPE_RANK axes, checked above) */
        d->t_shape = y->ndim == 1 ? soma_shape1(1) : (soma_shape){0};
        for (int i = 1; i < y->ndim; i++) d->t_shape.d[d->t_shape.rank++] = (int)y->shape[i];
        for (size_t i = 0; i < y->n; i++) {
            double v = soma_array_get(y, i);
            if (!isfinite(v)) {
                soma_dataset_free(d);
                return soma_error(SOMA_ERR_FORMAT, "%s: target value %zu is %g", name, i, v);
            }
            d->t[i] = (float)v;
        }
    } else {
        d->y_len = (int)per;
        d->y = soma_alloc(y->n, sizeof(int));
        if (!d->y) goto nomem;
        int64_t maxy = -1;
        for (size_t i = 0; i < y->n; i++) {
            double v = soma_array_get(y, i);
            int64_t lim = n_classes_fixed > 0 ? n_classes_fixed : DATASET_MAX_CLASSES;
            if (v < 0 || v >= (double)lim) {
                soma_dataset_free(d);
                return soma_error(SOMA_ERR_FORMAT, "%s: label %zu is %.0f (want 0..%lld)", name, i, v,
                                  (long long)lim - 1);
            }
            d->y[i] = (int)v;
            if (d->y[i] > maxy) maxy = d->y[i];
        }
        d->n_classes = n_classes_fixed > 0 ? n_classes_fixed : (int)maxy + 1;
    }
    if (x->dtype == SOMA_DTYPE_U8) {
        d->scale = 1.0f / 255.0f;
        if (adopt) {
            d->x_u8 = x->data;
            memset(x, 0, sizeof *x);
        } else {
            d->x_u8 = soma_alloc(x->n, 1);
            if (!d->x_u8) goto nomem;
            memcpy(d->x_u8, x->data, x->n);
        }
    } else {
        d->scale = 1.0f;
        d->x_f32 = soma_alloc(x->n, sizeof(float));
        if (!d->x_f32) goto nomem;
        soma__array_to_float(x, d->x_f32);
    }
    *out = d;
    return SOMA_OK;
nomem:
    soma_dataset_free(d);
    return soma_error(SOMA_ERR_NOMEM, "%s: out of memory for %lld samples", name, (long long)N);
}

soma_status soma_dataset_from_arrays(const soma_array *x, const soma_array *y, const char *name,
                                     soma_dataset **out) {
    soma_array xc = *x; /* not adopted: the caller's array stays intact */
    return from_arrays_(&xc, y, name, 0, 0, out);
}

// --- Fashion-MNIST ---------------------------------------------------------------------

soma_status soma_dataset_fmnist(const char *dir, int train, soma_dataset **out) {
    *out = NULL;
    const char *root = soma_fmnist_dir(dir);
    const char *split = train ? "train" : "t10k";
    char pi[4096], pl[4096];
    snprintf(pi, sizeof pi, "%s/%s-images-idx3-ubyte.gz", root, split);
    snprintf(pl, sizeof pl, "%s/%s-labels-idx1-ubyte.gz", root, split);
    struct stat st;
    const char *miss = stat(pi, &st) != 0 ? pi : stat(pl, &st) != 0 ? pl : NULL;
    if (miss)
        return soma_error(SOMA_ERR_IO,
                          "fmnist: %s not found; HINT: apt-get install dataset-fashion-mnist, or "
                          "set SOMA_FMNIST_DIR / --fmnist-dir",
                          miss);
    soma_array x = {0}, y = {0};
    SOMA_TRY(soma_idx_read(pi, &x));
    soma_status s = soma_idx_read(pl, &y);
    if (s != SOMA_OK) goto done;
    if (x.dtype != SOMA_DTYPE_U8 || x.ndim != 3 || x.shape[1] != 28 || x.shape[2] != 28) {
        s = soma_error(SOMA_ERR_FORMAT, "fmnist: %s: want uint8 images of 28x28, got %s with %d dims",
                       pi, soma_dtype_name(x.dtype), x.ndim);
        goto done;
    }
    if (y.dtype != SOMA_DTYPE_U8 || y.ndim != 1 || y.shape[0] != x.shape[0]) {
        s = soma_error(SOMA_ERR_FORMAT, "fmnist: %s: %lld labels for %lld images", pl,
                       (long long)(y.ndim ? y.shape[0] : 0), (long long)x.shape[0]);
        goto done;
    }
    s = from_arrays_(&x, &y, train ? "fmnist-train" : "fmnist-test", 1, 10, out);
    if (s != SOMA_OK) s = soma_error_wrap(s, "fmnist: %s", pl);
done:
    soma_array_deinit(&x);
    soma_array_deinit(&y);
    return s;
}

// --- by spec ---------------------------------------------------------------------------

typedef soma_status (*array_reader_fn)(const char *path, soma_array *out);

/* "A,B" or "A,B;C,D" -> the pair for this split. */
static soma_status load_pair_(const char *kind, const char *list, int train, array_reader_fn rd,
                              soma_dataset **out) {
    char buf[4096];
    if (strlen(list) >= sizeof buf)
        return soma_error(SOMA_ERR_ARG, "dataset: %s spec too long", kind);
    strcpy(buf, list);
    char *pair = buf, *semi = strchr(buf, ';');
    if (semi) {
        *semi = 0;
        if (!train) pair = semi + 1;
        if (strchr(semi + 1, ';'))
            return soma_error(SOMA_ERR_ARG, "dataset: %s:%s: at most two pairs (TRAIN;TEST)", kind, list);
    }
    char *comma = strchr(pair, ',');
    if (!comma || comma == pair || !comma[1] || strchr(comma + 1, ','))
        return soma_error(SOMA_ERR_ARG, "dataset: '%s:%s': want %s:IMAGES,LABELS[;IMAGES,LABELS]",
                          kind, list, kind);
    *comma = 0;
    soma_array x = {0}, y = {0};
    SOMA_TRY(rd(pair, &x));
    soma_status s = rd(comma + 1, &y);
    if (s == SOMA_OK) {
        char name[64];
        snprintf(name, sizeof name, "%s-%s", kind, train ? "train" : "test");
        s = from_arrays_(&x, &y, name, 1, 0, out);
        if (s != SOMA_OK) s = soma_error_wrap(s, "dataset: %s + %s", pair, comma + 1);
    }
    soma_array_deinit(&x);
    soma_array_deinit(&y);
    return s;
}

soma_status soma_dataset_load(const char *spec, int train, const char *fmnist_dir,
                              soma_dataset **out) {
    *out = NULL;
    if (!spec) return soma_error(SOMA_ERR_ARG, "dataset: no spec");
    if (strcmp(spec, "fmnist") == 0) return soma_dataset_fmnist(fmnist_dir, train, out);
    if (strncmp(spec, "idx:", 4) == 0) return load_pair_("idx", spec + 4, train, soma_idx_read, out);
    if (strncmp(spec, "npy:", 4) == 0) return load_pair_("npy", spec + 4, train, soma_npy_read, out);
    return soma_error(SOMA_ERR_ARG, "dataset: unknown spec '%s' (want fmnist, idx:IMAGES,LABELS or npy:X,Y)",
                      spec);
}

// --- synthetic -------------------------------------------------------------------------

static soma_status synth_alloc_(soma_dataset **out, const char *name, int n, int dim, int k) {
    soma_dataset *d = soma_calloc(1, sizeof *d);
    if (!d) return SOMA_ERR_NOMEM;
    snprintf(d->name, sizeof d->name, "%s", name);
    d->n = n;
    d->shape = soma_shape1(dim);
    d->dim = (size_t)dim;
    d->n_classes = k;
    d->y_len = 1;
    d->scale = 1.0f;
    d->x_f32 = soma_alloc((size_t)n, (size_t)dim * sizeof(float));
    d->y = soma_alloc((size_t)n, sizeof(int));
    if (!d->x_f32 || !d->y) {
        soma_dataset_free(d);
        return soma_error(SOMA_ERR_NOMEM, "synthetic: out of memory for %d x %d", n, dim);
    }
    *out = d;
    return SOMA_OK;
}

soma_status soma_dataset_synthetic(const char *kind, int n, int dim, int k, float sep,
                                   uint64_t seed, soma_dataset **out) {
    *out = NULL;
    if (!kind) kind = "gauss";
    if (n < 1 || dim < 1 || (size_t)n * (size_t)dim > ((size_t)1 << 34))
        return soma_error(SOMA_ERR_ARG, "synthetic: n=%d, dim=%d (both >= 1, product <= 2^34)", n, dim);
    if (!(sep >= 0.f) || !isfinite(sep))
        return soma_error(SOMA_ERR_ARG, "synthetic: sep=%g (want a finite value >= 0)", (double)sep);
    soma_rng r;
    soma_rng_seed(&r, seed, 0x5e7);
    soma_dataset *d;
    if (strcmp(kind, "gauss") == 0 || strcmp(kind, "gaussian") == 0) {
        if (k < 2 || k > DATASET_MAX_CLASSES)
            return soma_error(SOMA_ERR_ARG, "synthetic: k=%d classes (2..%d)", k, DATASET_MAX_CLASSES);
        SOMA_TRY(synth_alloc_(&d, "gauss", n, dim, k));
        /* Means: sep/sqrt(2) along one axis per class (pairwise sep apart) when dim >= k,
         * else evenly spaced sep apart along the first axis. */
        for (int i = 0; i < n; i++) d->y[i] = i % k;
        soma_rng_shuffle_int(&r, d->y, n);
        for (int i = 0; i < n; i++) {
            float *x = d->x_f32 + (size_t)i * (size_t)dim;
            soma_rng_normal_fill(&r, x, (size_t)dim, 0.f, 1.f);
            int c = d->y[i];
            if (dim >= k) x[c] += sep / sqrtf(2.f);
            else x[0] += sep * (float)c;
        }
    } else if (strcmp(kind, "xor") == 0) {
        if (dim != 2 || (k != 2 && k != 0))
            return soma_error(SOMA_ERR_ARG, "synthetic: xor is 2-D with 2 classes (dim=%d, k=%d)", dim, k);
        SOMA_TRY(synth_alloc_(&d, "xor", n, 2, 2));
        /* Each coordinate is +-(m + (1-m)u), u uniform: the quadrants are 2m apart. */
        float m = sep / 2.f > 0.9f ? 0.9f : sep / 2.f;
        for (int i = 0; i < n; i++) {
            float *x = d->x_f32 + (size_t)i * 2;
            int s0 = soma_rng_bernoulli(&r, 0.5), s1 = soma_rng_bernoulli(&r, 0.5);
            x[0] = (s0 ? 1.f : -1.f) * (m + (1.f - m) * (float)soma_rng_uniform(&r));
            x[1] = (s1 ? 1.f : -1.f) * (m + (1.f - m) * (float)soma_rng_uniform(&r));
            d->y[i] = s0 != s1;
        }
    } else if (strcmp(kind, "linear") == 0) {
        if (k != 2 && k != 0)
            return soma_error(SOMA_ERR_ARG, "synthetic: linear has 2 classes (k=%d)", k);
        SOMA_TRY(synth_alloc_(&d, "linear", n, dim, 2));
        float *wv = soma_alloc((size_t)dim, sizeof(float));
        if (!wv) {
            soma_dataset_free(d);
            return SOMA_ERR_NOMEM;
        }
        double norm = 0;
        do {
            soma_rng_normal_fill(&r, wv, (size_t)dim, 0.f, 1.f);
            norm = 0;
            for (int j = 0; j < dim; j++) norm += (double)wv[j] * wv[j];
        } while (norm == 0);
        for (int j = 0; j < dim; j++) wv[j] = (float)(wv[j] / sqrt(norm));
        for (int i = 0; i < n; i++) {
            float *x = d->x_f32 + (size_t)i * (size_t)dim;
            soma_rng_normal_fill(&r, x, (size_t)dim, 0.f, 1.f);
            double t = 0;
            for (int j = 0; j < dim; j++) t += (double)wv[j] * x[j];
            int pos = t >= 0;
            /* push each point sep/2 away from the hyperplane: a margin of sep */
            float push = (pos ? 1.f : -1.f) * sep / 2.f;
            for (int j = 0; j < dim; j++) x[j] += push * wv[j];
            d->y[i] = pos;
        }
        soma_free(wv);
    } else {
        return soma_error(SOMA_ERR_ARG, "synthetic: unknown kind '%s' (gauss, xor, linear)", kind);
    }
    *out = d;
    return SOMA_OK;
}

// --- batches and subsets ---------------------------------------------------------------

void soma_dataset_batch(const soma_dataset *d, const int *idx, int n, float *x, int *y) {
    const size_t dim = d->dim;
    if (d->x_u8) {
        const float s = d->scale;
        /* Random rows of a large array: latency-bound, so the rows are shared out among
         * the threads (each converts whole rows; the result does not depend on the split). */
#pragma omp parallel for schedule(static) if ((size_t)n * dim >= 32768)
        for (int b = 0; b < n; b++) {
            const int i = idx[b];
            SOMA_ASSERT(i >= 0 && i < d->n);
            const uint8_t *restrict src = d->x_u8 + (size_t)i * dim;
            float *restrict dst = x + (size_t)b * dim;
            for (size_t j = 0; j < dim; j++) dst[j] = (float)src[j] * s;
        }
    } else {
        for (int b = 0; b < n; b++) {
            const int i = idx[b];
            SOMA_ASSERT(i >= 0 && i < d->n);
            memcpy(x + (size_t)b * dim, d->x_f32 + (size_t)i * dim, dim * sizeof(float));
        }
    }
    soma_dataset_batch_targets(d, idx, n, y, NULL);
}

static size_t ylen_(const soma_dataset *d) { return d->y_len > 1 ? (size_t)d->y_len : 1; }

void soma_dataset_batch_targets(const soma_dataset *d, const int *idx, int n, int *y, float *t) {
    if (y && d->y) {
        const size_t L = ylen_(d);
        if (L == 1)
            for (int b = 0; b < n; b++) y[b] = d->y[idx[b]];
        else
            for (int b = 0; b < n; b++) memcpy(y + (size_t)b * L, d->y + (size_t)idx[b] * L, L * sizeof(int));
    }
    if (t && d->t)
        for (int b = 0; b < n; b++)
            memcpy(t + (size_t)b * d->t_dim, d->t + (size_t)idx[b] * d->t_dim, d->t_dim * sizeof(float));
}

soma_status soma_dataset_gather(const soma_dataset *d, const int *idx, int n, const char *name, soma_dataset **out) {
    *out = NULL;
    if (n < 1) return soma_error(SOMA_ERR_ARG, "%s: a subset needs at least one sample", d->name);
    for (int b = 0; b < n; b++)
        if (idx[b] < 0 || idx[b] >= d->n)
            return soma_error(SOMA_ERR_ARG, "%s: sample %d outside 0..%d", d->name, idx[b], d->n - 1);
    soma_dataset *s = soma_calloc(1, sizeof *s);
    if (!s) return SOMA_ERR_NOMEM;
    *s = *d;
    snprintf(s->name, sizeof s->name, "%s", name);
    s->n = n;
    s->x_u8 = NULL;
    s->x_f32 = NULL;
    s->y = NULL;
    s->t = NULL;
    int ok = 1;
    if (d->y) ok &= (s->y = soma_alloc((size_t)n, ylen_(d) * sizeof(int))) != NULL;
    if (d->t) ok &= (s->t = soma_alloc((size_t)n, d->t_dim * sizeof(float))) != NULL;
    if (d->x_u8) ok &= (s->x_u8 = soma_alloc((size_t)n, d->dim)) != NULL;
    else ok &= (s->x_f32 = soma_alloc((size_t)n, d->dim * sizeof(float))) != NULL;
    if (!ok) {
        soma_dataset_free(s);
        return soma_error(SOMA_ERR_NOMEM, "%s: out of memory for %d samples", d->name, n);
    }
    for (int b = 0; b < n; b++) {
        if (d->x_u8) memcpy(s->x_u8 + (size_t)b * d->dim, d->x_u8 + (size_t)idx[b] * d->dim, d->dim);
        else memcpy(s->x_f32 + (size_t)b * d->dim, d->x_f32 + (size_t)idx[b] * d->dim, d->dim * sizeof(float));
    }
    soma_dataset_batch_targets(d, idx, n, s->y, s->t);
    *out = s;
    return SOMA_OK;
}

soma_status soma_dataset_subset(const soma_dataset *d, int n, soma_dataset **out) {
    *out = NULL;
    if (n < 1 || n > d->n)
        return soma_error(SOMA_ERR_ARG, "%s: subset of %d samples (1..%d)", d->name, n, d->n);
    int *idx = soma_alloc((size_t)n, sizeof(int));
    if (!idx) return SOMA_ERR_NOMEM;
    for (int i = 0; i < n; i++) idx[i] = i;
    soma_status st = soma_dataset_gather(d, idx, n, d->name, out);
    soma_free(idx);
    return st;
}

soma_status soma_dataset_split(const soma_dataset *d, double val_frac, uint64_t seed, soma_dataset **train,
                               soma_dataset **val) {
    *train = *val = NULL;
    if (!(val_frac > 0.0 && val_frac < 1.0))
        return soma_error(SOMA_ERR_ARG, "%s: validation fraction %g must lie strictly between 0 and 1", d->name,
                          val_frac);
    int nv = (int)floor(val_frac * d->n + 0.5);
    if (nv < 1 || nv >= d->n)
        return soma_error(SOMA_ERR_ARG, "%s: a validation fraction of %g leaves %d of %d samples for validation; "
                          "HINT: use more data or another --val-split", d->name, val_frac, nv, d->n);
    int *perm = soma_alloc((size_t)d->n, sizeof(int));
    if (!perm) return SOMA_ERR_NOMEM;
    soma_rng r;
    soma_rng_seed(&r, seed, 0x5e11);
    soma_rng_permutation(&r, perm, d->n);
    char name[64];
    snprintf(name, sizeof name, "%.50s-val", d->name);
    soma_status st = soma_dataset_gather(d, perm, nv, name, val);
    snprintf(name, sizeof name, "%.50s-train", d->name);
    if (st == SOMA_OK) st = soma_dataset_gather(d, perm + nv, d->n - nv, name, train);
    soma_free(perm);
    if (st != SOMA_OK) {
        soma_dataset_free(*val);
        *val = NULL;
    }
    return st;
}

int soma_dataset_spec_has_test(const char *spec) {
    if (!spec) return 0;
    if (strcmp(spec, "fmnist") == 0) return 1;
    return strchr(spec, ';') != NULL;
}
