/* Comparing RDMs (declared in soma/analysis.h, "comparing RDMs"): the comparators, Kendall's
 * tau-a by Knight's merge sort, and the permutation test.
 *
 * Whitened cosine. With C [m, n] the signed pair contrasts (+1 at i, -1 at j for pair i < j)
 * and U = |C| the unsigned incidences, V = (C C') o (C C') = 2 I + U U' (4 on the diagonal,
 * 1 for pairs sharing a condition, 0 otherwise). U'U = (n - 2) I + J, so by Woodbury
 *   V^-1 x = (x - U t) / 2,  t = (n I + J)^-1 U'x = (s - sum(s) / (2n)) / n,  s = U'x,
 * and (U t)_ij = t_i + t_j: O(m). The value is a'V^-1 b / sqrt(a'V^-1 a  b'V^-1 b).
 * soma__vinv_masked (some pairs missing, as in a condition bootstrap) solves the principal
 * subsystem by conjugate gradients with the same O(m) product.
 *
 * Permutation test. Relabelling the conditions of b permutes its entries, so the rank
 * vector of b permutes with it, and V^-1 commutes with the relabelling: Pearson, Spearman,
 * the cosines reduce to a dot product of a fixed vector (z-scored values, z-scored ranks,
 * unit-norm or V^-1-whitened a) with the permuted b-vector. Kendall recomputes tau-a per
 * permutation in per-thread scratch from tie-group keys (the keys of b relabel with it), by
 * counting sorts and a Fenwick tree. Permutation k is drawn from stream k of the seed, so
 * the result is the same on any thread count; nothing is allocated per permutation.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rsa_internal.h"
#include "soma/analysis.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static const char *const METHOD_NAMES[SOMA_RSA_METHOD_COUNT] = {"pearson", "spearman", "kendall-tau-a", "cosine",
                                                                "whitened-cosine"};

const char *soma_rsa_method_name(soma_rsa_method m) {
    return (unsigned)m < SOMA_RSA_METHOD_COUNT ? METHOD_NAMES[m] : "?";
}

soma_status soma_rsa_method_parse(const char *name, soma_rsa_method *out) {
    for (int m = 0; name && m < SOMA_RSA_METHOD_COUNT; m++)
        if (strcmp(name, METHOD_NAMES[m]) == 0) {
            *out = (soma_rsa_method)m;
            return SOMA_OK;
        }
    return soma_error(SOMA_ERR_ARG,
                      "unknown RSA method '%s' (pearson, spearman, kendall-tau-a, cosine, whitened-cosine)",
                      name ? name : "(null)");
}

// --- ranks ----------------------------------------------------------------------------------

typedef struct {
    double v;
    long i;
} vi_;

/* Stable bottom-up merge sorts with the comparison inlined (qsort's callback costs several
 * times more on these short keys); t and tmp hold m entries, the result ends in t. */
#define SOMA_MERGE_SORT_(NAME, T, LESS)                                                        \
    static void NAME(T *t, T *tmp, long m) {                                                   \
        T *src = t, *dst = tmp;                                                                \
        for (long w = 1; w < m; w *= 2) {                                                      \
            for (long lo = 0; lo < m; lo += 2 * w) {                                           \
                long mid = lo + w < m ? lo + w : m, hi = lo + 2 * w < m ? lo + 2 * w : m;      \
                long i = lo, j = mid, k = lo;                                                  \
                while (i < mid && j < hi) dst[k++] = LESS(src[j], src[i]) ? src[j++] : src[i++]; \
                while (i < mid) dst[k++] = src[i++];                                           \
                while (j < hi) dst[k++] = src[j++];                                            \
            }                                                                                  \
            T *x = src;                                                                        \
            src = dst, dst = x;                                                                \
        }                                                                                      \
        if (src != t) memcpy(t, src, sizeof(T) * (size_t)m);                                   \
    }
#define VI_LESS_(x, y) ((x).v < (y).v)
SOMA_MERGE_SORT_(sort_vi_, vi_, VI_LESS_)

/* Average ranks (1-based, ties share their mean) of x[m] into r; tmp [m] scratch. */
void soma__rsa_ranks(const double *x, long m, double *r, void *tmp) {
    vi_ *t = tmp;
    for (long k = 0; k < m; k++) t[k].v = x[k], t[k].i = k;
    sort_vi_(t, t + m, m);
    for (long k = 0; k < m;) {
        long e = k + 1;
        while (e < m && t[e].v == t[k].v) e++;
        double rank = 0.5 * (double)(k + 1 + e); /* mean of k+1 .. e */
        for (long q = k; q < e; q++) r[t[q].i] = rank;
        k = e;
    }
}

void soma__rsa_groups(const double *x, long m, int *key, void *tmp) {
    vi_ *t = tmp;
    for (long k = 0; k < m; k++) t[k].v = x[k], t[k].i = k;
    sort_vi_(t, t + m, m);
    for (long k = 0; k < m;) {
        long e = k + 1;
        while (e < m && t[e].v == t[k].v) e++;
        for (long q = k; q < e; q++) key[t[q].i] = (int)k;
        k = e;
    }
}

size_t soma__rsa_ranks_scratch(long m) { return 2 * (size_t)m * sizeof(vi_); }

// --- Kendall tau-a (Knight 1966) ---------------------------------------------------------------

typedef struct {
    double a, b;
} ab_;

#define AB_LESS_(x, y) ((x).a < (y).a || ((x).a == (y).a && (x).b < (y).b))
SOMA_MERGE_SORT_(sort_ab_, ab_, AB_LESS_)

/* Sorts v[lo, hi) ascending (stable merge, tmp scratch) and returns the number of swaps:
 * pairs k < l with v[k] > v[l] (strictly). */
static long long merge_count_(double *v, double *tmp, long n) {
    long long swaps = 0;
    for (long w = 1; w < n; w *= 2) {
        for (long lo = 0; lo < n; lo += 2 * w) {
            long mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            long i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                if (v[j] < v[i]) {
                    tmp[k++] = v[j++];
                    swaps += mid - i;
                } else {
                    tmp[k++] = v[i++];
                }
            }
            while (i < mid) tmp[k++] = v[i++];
            while (j < hi) tmp[k++] = v[j++];
        }
        memcpy(v, tmp, sizeof(double) * (size_t)n);
    }
    return swaps;
}

size_t soma__kendall_scratch(long m) { return (size_t)m * 2 * sizeof(ab_); }

/* tau-a of a, b [m], m >= 2; scratch of soma__kendall_scratch(m) bytes. */
double soma__kendall(const double *a, const double *b, long m, void *scratch) {
    ab_ *p = scratch;
    for (long k = 0; k < m; k++) p[k].a = a[k], p[k].b = b[k];
    sort_ab_(p, p + m, m);
    long long n0 = (long long)m * (m - 1) / 2, n1 = 0, n3 = 0, n2 = 0;
    for (long k = 0; k < m;) { /* ties in a, and joint ties in (a, b) */
        long e = k + 1;
        while (e < m && p[e].a == p[k].a) e++;
        n1 += (long long)(e - k) * (e - k - 1) / 2;
        for (long q = k; q < e;) {
            long f = q + 1;
            while (f < e && p[f].b == p[q].b) f++;
            n3 += (long long)(f - q) * (f - q - 1) / 2;
            q = f;
        }
        k = e;
    }
    double *v = (double *)(p + m), *tmp = v + m; /* the second half of the scratch, free now */
    for (long k = 0; k < m; k++) v[k] = p[k].b;
    long long swaps = merge_count_(v, tmp, m);
    for (long k = 0; k < m;) { /* ties in b, now sorted */
        long e = k + 1;
        while (e < m && v[e] == v[k]) e++;
        n2 += (long long)(e - k) * (e - k - 1) / 2;
        k = e;
    }
    long long diff = n0 - n1 - n2 + n3 - 2 * swaps; /* concordant - discordant */
    return (double)diff / (double)n0;
}

static soma_status check_vec_(const double *x, long m, const char *what, const char *fn) {
    for (long k = 0; k < m; k++)
        if (!isfinite(x[k])) return soma_error(SOMA_ERR_ARG, "%s: %s entry %ld is not finite", fn, what, k);
    return SOMA_OK;
}

/* 1 when x [m] is constant (its centred sum of squares vanishes next to its raw one). */
int soma__rsa_is_constant(const double *x, long m) {
    double mean = 0, raw = 0, ss = 0;
    for (long k = 0; k < m; k++) mean += x[k], raw += x[k] * x[k];
    mean /= m;
    for (long k = 0; k < m; k++) ss += (x[k] - mean) * (x[k] - mean);
    return !(ss > 1e-24 * raw) || ss == 0.0;
}

size_t soma__kendall_keys_scratch(long K, long m) {
    return (size_t)(K + 1) * (sizeof(long) + sizeof(int)) + 2 * (size_t)m * sizeof(int);
}

/* tau-a of two vectors given as tie-group keys in [0, K) (soma__rsa_groups: keys order the
 * values, equal values share a key): counting sorts by (a, b) and a Fenwick tree counting,
 * for each entry in that order, the earlier ones with a larger b key: O(m log K) without
 * comparisons of doubles. The same count as Knight's merge (pairs out of order in b). */
double soma__kendall_keys(const int *ka, const int *kb, long m, long K, void *scratch) {
    long *cnt = scratch;
    int *fen = (int *)(cnt + K + 1), *o1 = fen + K + 1, *o2 = o1 + m;
    long long n0 = (long long)m * (m - 1) / 2, n1 = 0, n2 = 0, n3 = 0, swaps = 0;
    /* by b, then stably by a */
    memset(cnt, 0, sizeof(long) * (size_t)(K + 1));
    for (long k = 0; k < m; k++) cnt[kb[k] + 1]++;
    for (long g = 0; g < K; g++) n2 += (long long)cnt[g + 1] * (cnt[g + 1] - 1) / 2, cnt[g + 1] += cnt[g];
    for (long k = 0; k < m; k++) o1[cnt[kb[k]]++] = (int)k;
    memset(cnt, 0, sizeof(long) * (size_t)(K + 1));
    for (long k = 0; k < m; k++) cnt[ka[k] + 1]++;
    for (long g = 0; g < K; g++) n1 += (long long)cnt[g + 1] * (cnt[g + 1] - 1) / 2, cnt[g + 1] += cnt[g];
    for (long t = 0; t < m; t++) o2[cnt[ka[o1[t]]]++] = o1[t];
    memset(fen, 0, sizeof(int) * (size_t)(K + 1));
    long run = 1;
    for (long t = 0; t < m; t++) {
        int i = o2[t], b = kb[i];
        if (t > 0) {
            int h = o2[t - 1];
            if (ka[h] == ka[i] && kb[h] == b)
                run++;
            else
                n3 += (long long)run * (run - 1) / 2, run = 1;
        }
        long le = 0; /* earlier entries with a b key <= b */
        for (long x = b + 1; x > 0; x -= x & -x) le += fen[x];
        swaps += t - le;
        for (long x = b + 1; x <= K; x += x & -x) fen[x]++;
    }
    n3 += (long long)run * (run - 1) / 2;
    return (double)(n0 - n1 - n2 + n3 - 2 * swaps) / (double)n0;
}

soma_status soma_kendall_tau_a(const double *a, const double *b, long m, double *tau) {
    if (!a || !b || !tau) return soma_error(SOMA_ERR_ARG, "kendall_tau_a: NULL argument");
    if (m < 2) return soma_error(SOMA_ERR_ARG, "kendall_tau_a: need at least 2 values, got %ld", m);
    SOMA_TRY(check_vec_(a, m, "first vector", "kendall_tau_a"));
    SOMA_TRY(check_vec_(b, m, "second vector", "kendall_tau_a"));
    void *s = soma_alloc(soma__kendall_scratch(m), 1);
    if (!s) return SOMA_ERR_NOMEM;
    *tau = soma__kendall(a, b, m, s);
    soma_free(s);
    return SOMA_OK;
}

// --- whitening by V^-1 -------------------------------------------------------------------------

/* y = V^-1 x for a complete RDM of n conditions (y may alias x); s [n] scratch. */
void soma__vinv(const double *x, int n, double *y, double *s) {
    for (int i = 0; i < n; i++) s[i] = 0;
    long k = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++, k++) s[i] += x[k], s[j] += x[k];
    double tot = 0;
    for (int i = 0; i < n; i++) tot += s[i];
    for (int i = 0; i < n; i++) s[i] = (s[i] - tot / (2.0 * n)) / n;
    k = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++, k++) y[k] = 0.5 * (x[k] - s[i] - s[j]);
}

/* y = V x (complete RDM): 2x + U U'x. */
static void vmul_(const double *x, int n, double *y, double *s) {
    for (int i = 0; i < n; i++) s[i] = 0;
    long k = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++, k++) s[i] += x[k], s[j] += x[k];
    k = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++, k++) y[k] = 2.0 * x[k] + s[i] + s[j];
}

size_t soma__vinv_masked_scratch(int n) { return (size_t)(4 * soma_rdm_len(n) + n) * sizeof(double); }

/* y[mask] = (V restricted to the pairs with mask != 0)^-1 x[mask], by conjugate gradients
 * with the O(m) product of V (x, y: full length m, entries outside the mask ignored / set
 * to 0). A complete mask takes the closed form. */
void soma__vinv_masked(const double *x, const unsigned char *mask, int n, double *y, void *scratch) {
    long m = soma_rdm_len(n);
    double *r = scratch, *d = r + m, *q = d + m, *xx = q + m, *s = xx + m;
    for (long k = 0; k < m; k++) {
        xx[k] = mask[k] ? x[k] : 0.0;
        y[k] = 0.0;
        r[k] = xx[k];
        d[k] = r[k];
    }
    double rr = 0, bb = 0;
    for (long k = 0; k < m; k++) rr += r[k] * r[k];
    bb = rr;
    for (int it = 0; it < 1000 && rr > 1e-28 * bb && rr > 0; it++) {
        vmul_(d, n, q, s);
        double dq = 0;
        for (long k = 0; k < m; k++) {
            if (!mask[k]) q[k] = 0.0;
            dq += d[k] * q[k];
        }
        double alpha = rr / dq, rr2 = 0;
        for (long k = 0; k < m; k++) {
            y[k] += alpha * d[k];
            r[k] -= alpha * q[k];
            rr2 += r[k] * r[k];
        }
        double beta = rr2 / rr;
        for (long k = 0; k < m; k++) d[k] = r[k] + beta * d[k];
        rr = rr2;
    }
}

// --- comparators ------------------------------------------------------------------------------

static double dot_(const double *a, const double *b, long m) {
    double s = 0;
    for (long k = 0; k < m; k++) s += a[k] * b[k];
    return s;
}

/* Pearson r of a, b [m] (neither constant). */
static double pearson_(const double *a, const double *b, long m) {
    double ma = 0, mb = 0;
    for (long k = 0; k < m; k++) ma += a[k], mb += b[k];
    ma /= m, mb /= m;
    double sab = 0, saa = 0, sbb = 0;
    for (long k = 0; k < m; k++) {
        double x = a[k] - ma, y = b[k] - mb;
        sab += x * y, saa += x * x, sbb += y * y;
    }
    return sab / sqrt(saa * sbb);
}

size_t soma__rsa_cmp_scratch(long m, int n) {
    size_t a = soma__kendall_scratch(m), b = 2 * (size_t)m * sizeof(double) + soma__rsa_ranks_scratch(m),
           c = 2 * (size_t)m * sizeof(double) + soma__vinv_masked_scratch(n);
    size_t s = a > b ? a : b;
    return s > c ? s : c;
}

/* The comparison of two vectors of m entries (already checked: finite, non-constant or
 * non-zero as the method needs). For the whitened cosine, mask (may be NULL: all pairs)
 * says which of the soma_rdm_len(n) pairs a and b hold: a and b are then full-length.
 * scratch: soma__rsa_cmp_scratch(m, n) bytes. */
double soma__rsa_cmp(const double *a, const double *b, long m, soma_rsa_method method, int n,
                     const unsigned char *mask, void *scratch) {
    switch (method) {
    case SOMA_RSA_PEARSON:
        return pearson_(a, b, m);
    case SOMA_RSA_SPEARMAN: {
        double *ra = scratch, *rb = ra + m;
        soma__rsa_ranks(a, m, ra, rb + m);
        soma__rsa_ranks(b, m, rb, rb + m);
        return pearson_(ra, rb, m);
    }
    case SOMA_RSA_KENDALL_A:
        return soma__kendall(a, b, m, scratch);
    case SOMA_RSA_COSINE:
        return dot_(a, b, m) / sqrt(dot_(a, a, m) * dot_(b, b, m));
    case SOMA_RSA_WHITENED_COSINE: {
        long mm = soma_rdm_len(n);
        double *wa = scratch, *wb = wa + mm;
        if (!mask) {
            double *s = wb + mm;
            soma__vinv(a, n, wa, s);
            soma__vinv(b, n, wb, s);
        } else {
            soma__vinv_masked(a, mask, n, wa, wb + mm);
            soma__vinv_masked(b, mask, n, wb, wb + mm);
        }
        double ab = 0, aa = 0, bb = 0;
        for (long k = 0; k < mm; k++)
            if (!mask || mask[k]) ab += a[k] * wb[k], aa += a[k] * wa[k], bb += b[k] * wb[k];
        return ab / sqrt(aa * bb);
    }
    default:
        return NAN;
    }
}

/* Checks one RDM vector for a method: finite, not constant (correlations), not zero
 * (cosines). */
soma_status soma__rsa_check(const double *x, long m, soma_rsa_method method, const char *what, const char *fn) {
    SOMA_TRY(check_vec_(x, m, what, fn));
    if (method == SOMA_RSA_COSINE || method == SOMA_RSA_WHITENED_COSINE) {
        for (long k = 0; k < m; k++)
            if (x[k] != 0.0) return SOMA_OK;
        return soma_error(SOMA_ERR_ARG, "%s: %s is all zero; its %s is undefined", fn, what, METHOD_NAMES[method]);
    }
    if (soma__rsa_is_constant(x, m))
        return soma_error(SOMA_ERR_ARG, "%s: %s is constant; its %s correlation is undefined", fn, what,
                          METHOD_NAMES[method]);
    return SOMA_OK;
}

static soma_status check_call_(int n, soma_rsa_method method, const char *fn) {
    if ((unsigned)method >= SOMA_RSA_METHOD_COUNT) return soma_error(SOMA_ERR_ARG, "%s: unknown method %d", fn, (int)method);
    if (n < 3) return soma_error(SOMA_ERR_ARG, "%s: need at least 3 conditions, got %d", fn, n);
    return SOMA_OK;
}

soma_status soma_rsa_compare(const double *a, const double *b, int n, soma_rsa_method method, double *value) {
    if (!a || !b || !value) return soma_error(SOMA_ERR_ARG, "rsa_compare: NULL argument");
    SOMA_TRY(check_call_(n, method, "rsa_compare"));
    long m = soma_rdm_len(n);
    SOMA_TRY(soma__rsa_check(a, m, method, "first RDM", "rsa_compare"));
    SOMA_TRY(soma__rsa_check(b, m, method, "second RDM", "rsa_compare"));
    void *s = soma_alloc(soma__rsa_cmp_scratch(m, n), 1);
    if (!s) return SOMA_ERR_NOMEM;
    *value = soma__rsa_cmp(a, b, m, method, n, NULL, s);
    soma_free(s);
    return SOMA_OK;
}

// --- permutation test ----------------------------------------------------------------------------

/* Dot product of fa with b relabelled by perm (bsq the full square b), without forming the
 * permuted vector: one gather per pair. */
static double perm_dot_(const double *fa, const double *bsq, const int *perm, int n) {
    double s = 0;
    long k = 0;
    for (int i = 0; i < n; i++) {
        const double *row = bsq + (size_t)perm[i] * n;
        for (int j = i + 1; j < n; j++, k++) s += fa[k] * row[perm[j]];
    }
    return s;
}

/* x := (x - mean) / ||x - mean|| */
static void zscore_(double *x, long m) {
    double mean = 0, ss = 0;
    for (long k = 0; k < m; k++) mean += x[k];
    mean /= m;
    for (long k = 0; k < m; k++) x[k] -= mean, ss += x[k] * x[k];
    double inv = 1.0 / sqrt(ss);
    for (long k = 0; k < m; k++) x[k] *= inv;
}

soma_status soma_rsa_permtest(const double *a, const double *b, int n, soma_rsa_method method, long n_perm,
                              uint64_t seed, double *value, double *p) {
    if (!a || !b || !value || !p) return soma_error(SOMA_ERR_ARG, "rsa_permtest: NULL argument");
    SOMA_TRY(check_call_(n, method, "rsa_permtest"));
    if (n_perm < 1) return soma_error(SOMA_ERR_ARG, "rsa_permtest: need at least 1 permutation, got %ld", n_perm);
    long m = soma_rdm_len(n);
    SOMA_TRY(soma__rsa_check(a, m, method, "first RDM", "rsa_permtest"));
    SOMA_TRY(soma__rsa_check(b, m, method, "second RDM", "rsa_permtest"));

    /* fa, fb: the fixed transforms whose permuted dot product is the comparison */
    double *fa = soma_alloc((size_t)m * 2, sizeof(double));
    double *bsq = soma_alloc((size_t)n * n, sizeof(double));
    void *tmp = soma_alloc(soma__rsa_cmp_scratch(m, n), 1);
    if (!fa || !bsq || !tmp) {
        soma_free(fa), soma_free(bsq), soma_free(tmp);
        return SOMA_ERR_NOMEM;
    }
    double *fb = fa + m;
    int dot_form = method != SOMA_RSA_KENDALL_A;
    switch (method) {
    case SOMA_RSA_PEARSON:
        memcpy(fa, a, sizeof(double) * m), memcpy(fb, b, sizeof(double) * m);
        zscore_(fa, m), zscore_(fb, m);
        break;
    case SOMA_RSA_SPEARMAN:
        soma__rsa_ranks(a, m, fa, tmp), soma__rsa_ranks(b, m, fb, tmp);
        zscore_(fa, m), zscore_(fb, m);
        break;
    case SOMA_RSA_COSINE:
    case SOMA_RSA_WHITENED_COSINE: {
        double *s = tmp;
        if (method == SOMA_RSA_WHITENED_COSINE)
            soma__vinv(a, n, fa, s);
        else
            memcpy(fa, a, sizeof(double) * m);
        double aa = dot_(a, fa, m);
        memcpy(fb, b, sizeof(double) * m);
        double *wb = s + n;
        double bb;
        if (method == SOMA_RSA_WHITENED_COSINE) {
            soma__vinv(b, n, wb, s);
            bb = dot_(b, wb, m);
        } else {
            bb = dot_(b, b, m);
        }
        double inv = 1.0 / sqrt(aa * bb);
        for (long k = 0; k < m; k++) fa[k] *= inv;
        break;
    }
    default:
        memcpy(fb, b, sizeof(double) * m);
        break;
    }
    soma_rdm_to_square(fb, n, bsq);
    /* Kendall: tie-group keys of a, and of b as a square matrix to relabel */
    int *ka = NULL, *kbsq = NULL;
    if (!dot_form) {
        ka = soma_alloc((size_t)m * 2, sizeof(int));
        kbsq = soma_alloc((size_t)n * n, sizeof(int));
        if (!ka || !kbsq) {
            soma_free(fa), soma_free(bsq), soma_free(tmp), soma_free(ka), soma_free(kbsq);
            return SOMA_ERR_NOMEM;
        }
        int *kb = ka + m;
        soma__rsa_groups(a, m, ka, tmp);
        soma__rsa_groups(b, m, kb, tmp);
        long k = 0;
        for (int i = 0; i < n; i++) {
            kbsq[(size_t)i * n + i] = 0;
            for (int j = i + 1; j < n; j++, k++) kbsq[(size_t)i * n + j] = kbsq[(size_t)j * n + i] = kb[k];
        }
    }
    int *ident = soma_alloc((size_t)n, sizeof(int));
    if (!ident) {
        soma_free(fa), soma_free(bsq), soma_free(tmp), soma_free(ka), soma_free(kbsq);
        return SOMA_ERR_NOMEM;
    }
    for (int i = 0; i < n; i++) ident[i] = i;
    void *ks0 = dot_form ? NULL : soma_alloc(soma__kendall_keys_scratch(m, m), 1);
    if (!dot_form && !ks0) {
        soma_free(fa), soma_free(bsq), soma_free(tmp), soma_free(ka), soma_free(kbsq), soma_free(ident);
        return SOMA_ERR_NOMEM;
    }
    double obs = dot_form ? perm_dot_(fa, bsq, ident, n) : soma__kendall_keys(ka, ka + m, m, m, ks0);
    soma_free(ks0);
    soma_free(ident);
    soma_free(tmp);

    long count = 0;
    int failed = 0;
#ifdef _OPENMP
#pragma omp parallel reduction(+ : count)
#endif
    {
        int *perm = soma_alloc((size_t)n, sizeof(int));
        int *bp = dot_form ? NULL : soma_alloc((size_t)m, sizeof(int));
        void *ks = dot_form ? NULL : soma_alloc(soma__kendall_keys_scratch(m, m), 1);
        if (!perm || (!dot_form && (!bp || !ks))) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
            failed = 1;
        }
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (long k = 0; k < n_perm; k++) {
            if (!perm || (!dot_form && (!bp || !ks))) continue;
            if ((k & 1023) == 1023 && soma_cancel_requested()) continue; /* Ctrl-C: the rest are skipped */
            soma_rng r;
            soma_rng_seed(&r, seed, (uint64_t)k + 1);
            soma_rng_permutation(&r, perm, n);
            double v;
            if (dot_form) {
                v = perm_dot_(fa, bsq, perm, n);
            } else {
                long k2 = 0;
                for (int i = 0; i < n; i++) {
                    const int *row = kbsq + (size_t)perm[i] * n;
                    for (int j = i + 1; j < n; j++, k2++) bp[k2] = row[perm[j]];
                }
                v = soma__kendall_keys(ka, bp, m, m, ks);
            }
            if (v >= obs) count++;
        }
        soma_free(perm);
        soma_free(bp);
        soma_free(ks);
    }
    soma_free(fa), soma_free(bsq), soma_free(ka), soma_free(kbsq);
    if (failed) return soma_error(SOMA_ERR_NOMEM, "rsa_permtest: out of memory for the per-thread scratch");
    if (soma_cancel_requested()) return soma_error(SOMA_ERR_CANCELLED, "rsa_permtest: cancelled");
    *value = obs;
    *p = (1.0 + (double)count) / (1.0 + (double)n_perm);
    return SOMA_OK;
}
