// Associative memory: the classical binary Hopfield network (Hebbian weights, synchronous
// and asynchronous updates, energy) and the modern continuous one (Ramsauer et al. 2020:
// one update is one attention step). Contracts in include/soma/nn.h, "associative memory".
#include <float.h>
#include <math.h>
#include <string.h>

#include "soma/nn.h"

/* Threads only where a loop has work enough to pay for them (HOP_WORK elements): many small
 * calls (a capacity sweep) otherwise spend their time waking threads. */
#define HOP_WORK 65536
#ifdef SOMA_HAVE_OPENMP
#define HOP_PRAGMA_(x) _Pragma(#x)
#define HOP_FOR(work) HOP_PRAGMA_(omp parallel for schedule(static) if ((work) >= HOP_WORK))
#define HOP_FOR_DYN(work) HOP_PRAGMA_(omp parallel for schedule(dynamic, 1) if ((work) >= HOP_WORK))
#else
#define HOP_FOR(work)
#define HOP_FOR_DYN(work)
#endif

/* soma_gemm, on one thread when the product is small: waking the BLAS's threads for a
 * product of a millisecond costs more than it saves (on a busy machine, many times more).
 * For the classical network only: its products are of integers, exact in any order. */
static void gemm_(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                  float beta, float *C, int ldc) {
    const int t = soma_get_threads();
    const int small = t > 1 && (double)M * N * K < (double)(1 << 22);
    if (small) soma_set_threads(1);
    soma_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    if (small) soma_set_threads(t);
}

/* C[M, N] = alpha A[M, K] op(B) (B [K, N], or [N, K] when tb), tiled in blocks of HOP_TM
 * rows and HOP_TN columns, each tile one GEMM on one thread. The tile grid depends only on
 * the sizes, so the bits do not depend on the thread count (a threaded sgemm of OpenBLAS
 * splits the work by thread count and its edge kernels round differently). */
#define HOP_TM 64
#define HOP_TN 256
static void gemm_tiles_(int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                        float *C, int ldc) {
    const int tm = (M + HOP_TM - 1) / HOP_TM, tn = (N + HOP_TN - 1) / HOP_TN;
    const long nt = (long)tm * tn;
    const int threads = soma_get_threads();
    const int par = threads > 1 && nt > 1 && (double)M * N * K >= (double)(1 << 22);
#define HOP_TILE_(t)                                                                                         \
    do {                                                                                                     \
        const int i0 = (int)((t) / tn) * HOP_TM, j0 = (int)((t) % tn) * HOP_TN;                              \
        const int mi = M - i0 < HOP_TM ? M - i0 : HOP_TM, nj = N - j0 < HOP_TN ? N - j0 : HOP_TN;            \
        soma_gemm(0, tb, mi, nj, K, alpha, A + (size_t)i0 * lda, lda, tb ? B + (size_t)j0 * ldb : B + j0, ldb, \
                  0.f, C + (size_t)i0 * ldc + j0, ldc);                                                      \
    } while (0)
#ifdef SOMA_HAVE_OPENMP
    if (par) {
        /* inside the region OpenBLAS runs each tile on the calling thread */
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
        for (long t = 0; t < nt; t++) HOP_TILE_(t);
        return;
    }
#else
    (void)par;
#endif
    if (threads > 1) soma_set_threads(1); /* outside a region the BLAS would thread each tile */
    for (long t = 0; t < nt; t++) HOP_TILE_(t);
    if (threads > 1) soma_set_threads(threads);
#undef HOP_TILE_
}

/* Grows *buf to hold n elements of size sz (contents lost); no-op when large enough. */
static soma_status grow_(void **buf, size_t *cap, size_t n, size_t sz, const char *what) {
    if (n <= *cap) return SOMA_OK;
    void *p = soma_alloc(n, sz);
    if (!p) return soma_error(SOMA_ERR_NOMEM, "%s: no memory for %zu scratch elements", what, n);
    soma_free(*buf);
    *buf = p;
    *cap = n;
    return SOMA_OK;
}

// --- classical -------------------------------------------------------------------------

struct soma_hopfield {
    int n, p;
    /* c: sum_mu xi xi^T with a zero diagonal, integers held exactly in float (|c| <= p <
     * 2^24), so local fields are exact and ties (h == 0) are real ties on every machine and
     * thread count; w = c / N is the public weight matrix. */
    float *c, *w;
    float *f; /* scratch: local fields [cap_f] */
    size_t cap_f;
    int *perm; /* scratch: one unit order a state [cap_perm]; synchronous: active rows */
    size_t cap_perm;
    float *g; /* scratch: synchronous updates' gathered states and previous states [cap_g] */
    size_t cap_g;
};

soma_status soma_hopfield_new(soma_hopfield **out, int n) {
    *out = NULL;
    if (n < 1 || n > (1 << 15))
        return soma_error(SOMA_ERR_ARG, "hopfield: %d units; HINT: give 1..32768 units", n);
    soma_hopfield *h = soma_calloc(1, sizeof *h);
    if (!h) return soma_error(SOMA_ERR_NOMEM, "hopfield: no memory");
    h->n = n;
    h->c = soma_calloc((size_t)n * n, sizeof(float));
    h->w = soma_calloc((size_t)n * n, sizeof(float));
    if (!h->c || !h->w) {
        soma_hopfield_free(h);
        return soma_error(SOMA_ERR_NOMEM, "hopfield: no memory for %d x %d weights", n, n);
    }
    *out = h;
    return SOMA_OK;
}

void soma_hopfield_free(soma_hopfield *h) {
    if (!h) return;
    soma_free(h->c);
    soma_free(h->w);
    soma_free(h->f);
    soma_free(h->perm);
    soma_free(h->g);
    soma_free(h);
}

int soma_hopfield_units(const soma_hopfield *h) { return h->n; }
int soma_hopfield_patterns(const soma_hopfield *h) { return h->p; }
const float *soma_hopfield_weights(const soma_hopfield *h) { return h->w; }

void soma_hopfield_clear(soma_hopfield *h) {
    memset(h->c, 0, (size_t)h->n * h->n * sizeof(float));
    memset(h->w, 0, (size_t)h->n * h->n * sizeof(float));
    h->p = 0;
}

/* SOMA_ERR_ARG unless n matches, b >= 1 and every entry of x [b, n] is +-1. */
static soma_status check_states_(const soma_hopfield *h, const char *fn, const char *what, const float *x,
                                 int b, int n) {
    if (!x) return soma_error(SOMA_ERR_ARG, "%s: %s is NULL", fn, what);
    if (b < 1) return soma_error(SOMA_ERR_ARG, "%s: %d %s; HINT: give at least one", fn, b, what);
    if (n != h->n)
        return soma_error(SOMA_ERR_ARG, "%s: %s of %d units for a network of %d", fn, what, n, h->n);
    size_t total = (size_t)b * n;
    for (size_t i = 0; i < total; i++)
        if (x[i] != 1.f && x[i] != -1.f)
            return soma_error(SOMA_ERR_ARG, "%s: %s entry %zu is %g, not +1 or -1", fn, what, i, (double)x[i]);
    return SOMA_OK;
}

soma_status soma_hopfield_store(soma_hopfield *h, const float *patterns, int p, int n) {
    SOMA_TRY(check_states_(h, "hopfield_store", "patterns", patterns, p, n));
    if ((long)h->p + p >= (1L << 24))
        return soma_error(SOMA_ERR_ARG, "hopfield_store: %ld patterns in all; at most 2^24 - 1", (long)h->p + p);
    /* C += X^T X: one GEMM over the patterns, then the diagonal back to 0 */
    gemm_(1, 0, n, n, p, 1.f, patterns, n, patterns, n, 1.f, h->c, n);
    const float inv = 1.f / (float)n;
    HOP_FOR((size_t)n * n)
    for (int i = 0; i < n; i++) {
        float *ci = h->c + (size_t)i * n, *wi = h->w + (size_t)i * n;
        ci[i] = 0.f;
        for (int j = 0; j < n; j++) wi[j] = ci[j] * inv;
    }
    h->p += p;
    return SOMA_OK;
}

/* F [b, n] = S C (exact integer fields). */
static soma_status fields_(soma_hopfield *h, const float *s, int b) {
    size_t need = (size_t)b * h->n;
    SOMA_TRY(grow_((void **)&h->f, &h->cap_f, need, sizeof(float), "hopfield"));
    gemm_(0, 0, b, h->n, h->n, 1.f, s, h->n, h->c, h->n, 0.f, h->f, h->n);
    return SOMA_OK;
}

soma_status soma_hopfield_energy(soma_hopfield *h, const float *s, int b, int n, float *e) {
    SOMA_TRY(check_states_(h, "hopfield_energy", "states", s, b, n));
    if (!e) return soma_error(SOMA_ERR_ARG, "hopfield_energy: e is NULL");
    SOMA_TRY(fields_(h, s, b));
    const double scale = -0.5 / n;
    HOP_FOR((size_t)b * n)
    for (int i = 0; i < b; i++) {
        const float *si = s + (size_t)i * n, *fi = h->f + (size_t)i * n;
        double acc = 0.0;
        for (int j = 0; j < n; j++) acc += (double)si[j] * fi[j];
        e[i] = (float)(scale * acc);
    }
    return SOMA_OK;
}

static inline float sign_keep_(float field, float old) { return field > 0.f ? 1.f : field < 0.f ? -1.f : old; }

soma_status soma_hopfield_update_sync(soma_hopfield *h, float *s, int b, int n, int max_steps, int *steps) {
    SOMA_TRY(check_states_(h, "hopfield_update_sync", "states", s, b, n));
    if (max_steps < 1) return soma_error(SOMA_ERR_ARG, "hopfield_update_sync: max_steps %d; must be >= 1", max_steps);
    /* Only the states still moving take part in a step: the active rows are gathered into
     * a [na, n] block (cur) for one GEMM; a state leaves at a fixed point, or on entering a
     * 2-cycle (the state two steps back returns), the only other attractor of synchronous
     * updates with symmetric weights. */
    const size_t bn = (size_t)b * n;
    SOMA_TRY(grow_((void **)&h->f, &h->cap_f, bn, sizeof(float), "hopfield"));
    SOMA_TRY(grow_((void **)&h->g, &h->cap_g, 2 * bn, sizeof(float), "hopfield"));
    SOMA_TRY(grow_((void **)&h->perm, &h->cap_perm, 2 * (size_t)b, sizeof(int), "hopfield"));
    float *cur = h->g, *back = h->g + bn; /* back: row i's state one step before its current */
    int *act = h->perm, *done = h->perm + b;
    int na = b;
    for (int i = 0; i < b; i++) {
        act[i] = i;
        if (steps) steps[i] = 0;
    }
    for (int t = 0; t < max_steps && na > 0; t++) {
        for (int k = 0; k < na; k++) memcpy(cur + (size_t)k * n, s + (size_t)act[k] * n, sizeof(float) * n);
        gemm_(0, 0, na, n, n, 1.f, cur, n, h->c, n, 0.f, h->f, n);
        HOP_FOR((size_t)na * n)
        for (int k = 0; k < na; k++) {
            const int i = act[k];
            float *si = s + (size_t)i * n, *bi = back + (size_t)i * n;
            const float *fk = h->f + (size_t)k * n, *ck = cur + (size_t)k * n;
            int changed = 0, cycle = t > 0;
            for (int j = 0; j < n; j++) {
                const float v = sign_keep_(fk[j], ck[j]);
                changed |= v != ck[j];
                if (t > 0) cycle &= v == bi[j];
                si[j] = v;
                bi[j] = ck[j];
            }
            done[k] = !changed ? 1 : cycle ? 2 : 0;
            if (steps && changed) steps[i] = done[k] == 2 ? -1 : t + 1 == max_steps ? max_steps + 1 : t + 1;
        }
        int kept = 0;
        for (int k = 0; k < na; k++)
            if (!done[k]) act[kept++] = act[k];
        na = kept;
    }
    return SOMA_OK;
}

soma_status soma_hopfield_update_async(soma_hopfield *h, float *s, int b, int n, int max_sweeps, uint64_t seed,
                                       int *sweeps) {
    SOMA_TRY(check_states_(h, "hopfield_update_async", "states", s, b, n));
    if (max_sweeps < 1)
        return soma_error(SOMA_ERR_ARG, "hopfield_update_async: max_sweeps %d; must be >= 1", max_sweeps);
    SOMA_TRY(fields_(h, s, b));
    SOMA_TRY(grow_((void **)&h->perm, &h->cap_perm, (size_t)b * n, sizeof(int), "hopfield"));
    const float *c = h->c;
    /* a sweep costs at least n per state, a flip n more */
    HOP_FOR_DYN((size_t)b * n * 4)
    for (int i = 0; i < b; i++) {
        float *si = s + (size_t)i * n, *fi = h->f + (size_t)i * n;
        int *perm = h->perm + (size_t)i * n;
        soma_rng r;
        soma_rng_seed(&r, seed, (uint64_t)i);
        int sweep = 0;
        for (; sweep < max_sweeps;) {
            soma_rng_permutation(&r, perm, n);
            int flips = 0;
            for (int k = 0; k < n; k++) {
                int u = perm[k];
                float v = sign_keep_(fi[u], si[u]);
                if (v == si[u]) continue;
                si[u] = v;
                flips++;
                /* h_j += C_ju (v - old) = 2 v C_uj (C symmetric, C_uu = 0) */
                const float *cu = c + (size_t)u * n;
                const float d = 2.f * v;
                for (int j = 0; j < n; j++) fi[j] += d * cu[j];
            }
            sweep++;
            if (!flips) break;
        }
        if (sweeps) sweeps[i] = sweep;
    }
    return SOMA_OK;
}

// --- modern ----------------------------------------------------------------------------

struct soma_mhn {
    int m, d;
    float beta;
    float *p;      /* [m, d] */
    double r2;     /* max_mu |x_mu|^2 */
    float *a;      /* scratch: scores / weights [cap_a] */
    size_t cap_a;
    float *t;      /* scratch: the current state [cap_t] */
    size_t cap_t;
};

static soma_status check_beta_(const char *fn, float beta) {
    if (!(beta > 0.f) || !isfinite(beta))
        return soma_error(SOMA_ERR_ARG, "%s: beta %g; must be a finite number > 0", fn, (double)beta);
    return SOMA_OK;
}

soma_status soma_mhn_new(soma_mhn **out, const float *patterns, int m, int d, float beta) {
    *out = NULL;
    if (!patterns) return soma_error(SOMA_ERR_ARG, "mhn_new: patterns is NULL");
    if (m < 1) return soma_error(SOMA_ERR_ARG, "mhn_new: %d patterns; store at least one", m);
    if (d < 1) return soma_error(SOMA_ERR_ARG, "mhn_new: pattern dimension %d; must be >= 1", d);
    SOMA_TRY(check_beta_("mhn_new", beta));
    size_t total;
    if (!soma_mul_ok((size_t)m, (size_t)d, &total) || total > ((size_t)1 << 31))
        return soma_error(SOMA_ERR_ARG, "mhn_new: %d x %d patterns is too many", m, d);
    for (size_t i = 0; i < total; i++)
        if (!isfinite(patterns[i]))
            return soma_error(SOMA_ERR_ARG, "mhn_new: pattern entry %zu is not finite", i);
    soma_mhn *h = soma_calloc(1, sizeof *h);
    if (!h) return soma_error(SOMA_ERR_NOMEM, "mhn_new: no memory");
    h->m = m;
    h->d = d;
    h->beta = beta;
    h->p = soma_alloc(total, sizeof(float));
    if (!h->p) {
        soma_free(h);
        return soma_error(SOMA_ERR_NOMEM, "mhn_new: no memory for %d x %d patterns", m, d);
    }
    memcpy(h->p, patterns, total * sizeof(float));
    for (int i = 0; i < m; i++) {
        double s = 0.0;
        for (int j = 0; j < d; j++) s += (double)patterns[(size_t)i * d + j] * patterns[(size_t)i * d + j];
        if (s > h->r2) h->r2 = s;
    }
    *out = h;
    return SOMA_OK;
}

void soma_mhn_free(soma_mhn *h) {
    if (!h) return;
    soma_free(h->p);
    soma_free(h->a);
    soma_free(h->t);
    soma_free(h);
}

soma_status soma_mhn_set_beta(soma_mhn *h, float beta) {
    SOMA_TRY(check_beta_("mhn_set_beta", beta));
    h->beta = beta;
    return SOMA_OK;
}
float soma_mhn_beta(const soma_mhn *h) { return h->beta; }
int soma_mhn_count(const soma_mhn *h) { return h->m; }
int soma_mhn_dim(const soma_mhn *h) { return h->d; }
const float *soma_mhn_patterns(const soma_mhn *h) { return h->p; }

static soma_status check_cues_(const soma_mhn *h, const char *fn, const float *xi, int b, int d) {
    if (!xi) return soma_error(SOMA_ERR_ARG, "%s: cues are NULL", fn);
    if (b < 1) return soma_error(SOMA_ERR_ARG, "%s: %d cues; give at least one", fn, b);
    if (d != h->d) return soma_error(SOMA_ERR_ARG, "%s: cues of dimension %d for patterns of dimension %d", fn, d, h->d);
    return SOMA_OK;
}

/* Row-wise stable softmax of a [b, m] in place. */
static void softmax_rows_(float *a, int b, int m) {
    HOP_FOR((size_t)b * m)
    for (int i = 0; i < b; i++) {
        float *ai = a + (size_t)i * m;
        float mx = -FLT_MAX;
        for (int j = 0; j < m; j++) mx = ai[j] > mx ? ai[j] : mx;
        double sum = 0.0;
        for (int j = 0; j < m; j++) {
            ai[j] = expf(ai[j] - mx);
            sum += ai[j];
        }
        const float inv = (float)(1.0 / sum);
        for (int j = 0; j < m; j++) ai[j] *= inv;
    }
}

soma_status soma_mhn_retrieve(soma_mhn *h, float *out, const float *xi, int b, int d, int steps, float *probs) {
    SOMA_TRY(check_cues_(h, "mhn_retrieve", xi, b, d));
    if (!out) return soma_error(SOMA_ERR_ARG, "mhn_retrieve: out is NULL");
    if (steps < 1) return soma_error(SOMA_ERR_ARG, "mhn_retrieve: %d steps; must be >= 1", steps);
    const int m = h->m;
    SOMA_TRY(grow_((void **)&h->a, &h->cap_a, (size_t)b * m, sizeof(float), "mhn_retrieve"));
    SOMA_TRY(grow_((void **)&h->t, &h->cap_t, (size_t)b * d, sizeof(float), "mhn_retrieve"));
    memcpy(h->t, xi, (size_t)b * d * sizeof(float));
    for (int s = 0; s < steps; s++) {
        /* A [b, m] = beta Xi P^T (Q K^T), softmax by rows, Xi_new = A P (. V) */
        gemm_tiles_(1, b, m, d, h->beta, h->t, d, h->p, d, h->a, m);
        softmax_rows_(h->a, b, m);
        gemm_tiles_(0, b, d, m, 1.f, h->a, m, h->p, d, out, d);
        if (s + 1 < steps) memcpy(h->t, out, (size_t)b * d * sizeof(float));
    }
    if (probs) memcpy(probs, h->a, (size_t)b * m * sizeof(float));
    return SOMA_OK;
}

soma_status soma_mhn_energy(soma_mhn *h, const float *xi, int b, int d, float *e) {
    SOMA_TRY(check_cues_(h, "mhn_energy", xi, b, d));
    if (!e) return soma_error(SOMA_ERR_ARG, "mhn_energy: e is NULL");
    const int m = h->m;
    SOMA_TRY(grow_((void **)&h->a, &h->cap_a, (size_t)b * m, sizeof(float), "mhn_energy"));
    gemm_tiles_(1, b, m, d, 1.f, xi, d, h->p, d, h->a, m);
    const double beta = h->beta, cst = log((double)m) / beta + 0.5 * h->r2;
    HOP_FOR((size_t)b * (m + d))
    for (int i = 0; i < b; i++) {
        const float *ai = h->a + (size_t)i * m, *x = xi + (size_t)i * d;
        double mx = -DBL_MAX, sum = 0.0, sq = 0.0;
        for (int j = 0; j < m; j++) mx = ai[j] > mx ? ai[j] : mx;
        for (int j = 0; j < m; j++) sum += exp(beta * (ai[j] - mx));
        for (int j = 0; j < d; j++) sq += (double)x[j] * x[j];
        const double lse = mx + log(sum) / beta;
        e[i] = (float)(-lse + 0.5 * sq + cst);
    }
    return SOMA_OK;
}

soma_mhn_kind soma_mhn_kind_of(const float *p, int m, float *n_eff) {
    double sq = 0.0, mx = 0.0;
    for (int j = 0; j < m; j++) {
        sq += (double)p[j] * p[j];
        mx = p[j] > mx ? p[j] : mx;
    }
    double ne = sq > 0 ? 1.0 / sq : (double)m;
    if (n_eff) *n_eff = (float)ne;
    if (mx > 0.5) return SOMA_MHN_SINGLE;
    if (ne > 0.5 * m) return SOMA_MHN_GLOBAL;
    return SOMA_MHN_METASTABLE;
}

const char *soma_mhn_kind_name(soma_mhn_kind k) {
    switch (k) {
    case SOMA_MHN_SINGLE: return "single";
    case SOMA_MHN_METASTABLE: return "metastable";
    case SOMA_MHN_GLOBAL: return "global";
    default: return "?";
    }
}

soma_status soma_mhn_separation(soma_mhn *h, float *delta) {
    if (!delta) return soma_error(SOMA_ERR_ARG, "mhn_separation: delta is NULL");
    const int m = h->m, d = h->d, bs = 256;
    SOMA_TRY(grow_((void **)&h->a, &h->cap_a, (size_t)(m < bs ? m : bs) * m, sizeof(float), "mhn_separation"));
    for (int r0 = 0; r0 < m; r0 += bs) {
        const int nb = m - r0 < bs ? m - r0 : bs;
        gemm_tiles_(1, nb, m, d, 1.f, h->p + (size_t)r0 * d, d, h->p, d, h->a, m);
        HOP_FOR((size_t)nb * m)
        for (int i = 0; i < nb; i++) {
            const float *gi = h->a + (size_t)i * m;
            const int mu = r0 + i;
            float mx = -INFINITY;
            for (int j = 0; j < m; j++)
                if (j != mu && gi[j] > mx) mx = gi[j];
            delta[mu] = m == 1 ? INFINITY : gi[mu] - mx;
        }
    }
    return SOMA_OK;
}

double soma_mhn_separation_bound(const soma_mhn *h) {
    const double beta = h->beta, m = h->m;
    if (h->m < 2) return 0.0;
    return 2.0 / (beta * m) + log(2.0 * (m - 1.0) * m * beta * h->r2) / beta;
}
