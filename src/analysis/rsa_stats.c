/* RSA statistics (declared in soma/analysis.h, "comparing RDMs"): noise ceiling, model
 * evaluation with bootstrap standard errors and tests, multiple-comparison corrections.
 *
 * Noise ceiling (Nili et al. 2014). Each subject's RDM is brought to the method's scale
 * (average ranks for Spearman and Kendall, left unscaled so that the sums of ranks stay exact
 * and ties in them stay ties; z-scores for Pearson; unit Euclidean norm for both cosines); lower = mean_s compare(rdm_s, mean of the others' scaled RDMs), upper = mean_s
 * compare(rdm_s, mean of all of them).
 *
 * Evaluation. subj[k, s] = compare(model k, subject s); score = its mean over subjects.
 *   SOMA_BOOT_NONE: se = sd(subj[k, .]) / sqrt(S) (ddof 1); p_zero from a one-sided t-test of
 *     mean <= 0 (S - 1 dof); p_pair from a two-sided paired t-test.
 *   Bootstrap: sample b (b = 0 .. n_boot-1) draws from stream b + 1 of the seed (the same
 *     samples on any thread count): subjects with replacement (SUBJECTS, BOTH), and/or
 *     conditions with replacement (CONDITIONS, BOTH), where the RDMs are cut to the pairs of
 *     sampled positions a < b holding two different conditions (a sampled condition's pair
 *     with itself has no dissimilarity). The whitened cosine of such a cut RDM whitens by V
 *     restricted to the pairs kept (conjugate gradients, rsa.c). The bootstrap score is the
 *     mean over the sampled subjects. A sample where some RDM becomes constant (or has fewer
 *     than 3 pairs) is drawn again from the next stream index n_boot + ..., so exactly
 *     n_boot samples count. se = sd of the bootstrap scores (ddof 1);
 *     p_zero = (1 + #{boot <= 0}) / (1 + n_boot);
 *     p_pair(i, j) = min(1, 2 min(1 + #{d <= 0}, 1 + #{d >= 0}) / (1 + n_boot)) with
 *     d = boot_i - boot_j per sample.
 *   p_pair is corrected (o->correct) over the n_models (n_models - 1) / 2 pairs.
 *
 * Corrections. Holm: the i-th smallest of k p-values (0-based) becomes
 * max_{j <= i} min(1, (k - j) p_(j)). Benjamini-Hochberg: min_{j >= i} min(1, k p_(j) / (j + 1)).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rsa_internal.h"
#include "soma/analysis.h"

// --- Student's t ---------------------------------------------------------------------------

/* Continued fraction of the incomplete beta function (modified Lentz). */
static double beta_cf_(double a, double b, double x) {
    const double tiny = 1e-300;
    double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
    if (fabs(d) < tiny) d = tiny;
    d = 1.0 / d;
    double h = d;
    for (int m = 1; m <= 500; m++) {
        double m2 = 2.0 * m;
        double num = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
        d = 1.0 + num * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1.0 + num / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        h *= d * c;
        num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
        d = 1.0 + num * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1.0 + num / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1.0) < 1e-15) break;
    }
    return h;
}

/* Regularised incomplete beta I_x(a, b). */
static double betainc_(double a, double b, double x) {
    if (x <= 0) return 0.0;
    if (x >= 1) return 1.0;
    double lbt = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    if (x < (a + 1.0) / (a + b + 2.0)) return exp(lbt) * beta_cf_(a, b, x) / a;
    return 1.0 - exp(lbt) * beta_cf_(b, a, 1.0 - x) / b;
}

/* P(T >= t) for Student's t with df degrees of freedom. */
static double t_upper_(double t, double df) {
    double tail = 0.5 * betainc_(0.5 * df, 0.5, df / (df + t * t)); /* P(T >= |t|) */
    return t >= 0 ? tail : 1.0 - tail;
}

/* One-sample t statistic's p-values for x[S]: one-sided P(mean <= 0) rejected (upper tail),
 * or two-sided. A zero spread gives 0 or 1 by the sign of the mean. */
static double t_test_(const double *x, int S, int two_sided) {
    double mean = 0, ss = 0;
    for (int s = 0; s < S; s++) mean += x[s];
    mean /= S;
    for (int s = 0; s < S; s++) ss += (x[s] - mean) * (x[s] - mean);
    double sd = sqrt(ss / (S - 1));
    if (!(sd > 1e-300)) {
        if (two_sided) return mean == 0 ? 1.0 : 0.0;
        return mean > 0 ? 0.0 : 1.0;
    }
    double t = mean / (sd / sqrt((double)S));
    if (two_sided) return fmin(1.0, 2.0 * t_upper_(fabs(t), S - 1));
    return t_upper_(t, S - 1);
}

// --- corrections ---------------------------------------------------------------------------

/* Insertion sort of indices by p (k is small: pairs of models), no global state. */
static void order_(const double *p, int k, int *ord) {
    for (int i = 0; i < k; i++) {
        int v = ord[i] = i, j = i;
        while (j > 0 && (p[ord[j - 1]] > p[v] || (p[ord[j - 1]] == p[v] && ord[j - 1] > v))) {
            ord[j] = ord[j - 1];
            j--;
        }
        ord[j] = v;
    }
}

void soma_p_correct(double *p, int k, soma_rsa_correct how) {
    if (!p || k < 2 || how == SOMA_CORRECT_NONE) return;
    int *ord = soma_alloc((size_t)k, sizeof(int));
    double *adj = soma_alloc((size_t)k, sizeof(double));
    if (!ord || !adj) { /* no status to return: Bonferroni in place, which bounds both from above */
        for (int i = 0; i < k; i++) p[i] = fmin(1.0, p[i] * k);
        soma_free(ord), soma_free(adj);
        return;
    }
    order_(p, k, ord);
    if (how == SOMA_CORRECT_HOLM) {
        double run = 0;
        for (int i = 0; i < k; i++) {
            double v = fmin(1.0, (double)(k - i) * p[ord[i]]);
            if (v > run) run = v;
            adj[ord[i]] = run;
        }
    } else {
        double run = 1.0;
        for (int i = k - 1; i >= 0; i--) {
            double v = fmin(1.0, (double)k * p[ord[i]] / (i + 1));
            if (v < run) run = v;
            adj[ord[i]] = run;
        }
    }
    memcpy(p, adj, sizeof(double) * (size_t)k);
    soma_free(ord), soma_free(adj);
}

// --- noise ceiling ---------------------------------------------------------------------------

/* y [m] = x brought to the method's scale (tmp: rank scratch). */
static void to_scale_(const double *x, long m, soma_rsa_method method, double *y, void *tmp) {
    if (method == SOMA_RSA_SPEARMAN || method == SOMA_RSA_KENDALL_A)
        soma__rsa_ranks(x, m, y, tmp);
    else
        memcpy(y, x, sizeof(double) * (size_t)m);
    if (method == SOMA_RSA_SPEARMAN || method == SOMA_RSA_KENDALL_A) return; /* sums of ranks stay exact */
    double mean = 0, ss = 0;
    if (method != SOMA_RSA_COSINE && method != SOMA_RSA_WHITENED_COSINE) {
        for (long k = 0; k < m; k++) mean += y[k];
        mean /= m;
    }
    for (long k = 0; k < m; k++) y[k] -= mean, ss += y[k] * y[k];
    double inv = ss > 0 ? 1.0 / sqrt(ss) : 0.0;
    for (long k = 0; k < m; k++) y[k] *= inv;
}

static soma_status check_set_(const double *x, int count, long m, soma_rsa_method method, const char *what,
                              const char *fn) {
    char name[64];
    for (int s = 0; s < count; s++) {
        snprintf(name, sizeof name, "%s %d", what, s);
        SOMA_TRY(soma__rsa_check(x + (size_t)s * m, m, method, name, fn));
    }
    return SOMA_OK;
}

static soma_status ceiling_(const double *data, int S, int n, soma_rsa_method method, double *lower,
                            double *upper) {
    long m = soma_rdm_len(n);
    size_t scr = soma__rsa_cmp_scratch(m, n);
    if (scr < soma__rsa_ranks_scratch(m)) scr = soma__rsa_ranks_scratch(m);
    double *z = soma_alloc((size_t)(S + 2) * m, sizeof(double));
    void *tmp = soma_alloc(scr, 1);
    if (!z || !tmp) {
        soma_free(z), soma_free(tmp);
        return SOMA_ERR_NOMEM;
    }
    double *sum = z + (size_t)S * m, *other = sum + m;
    memset(sum, 0, sizeof(double) * (size_t)m);
    for (int s = 0; s < S; s++) {
        to_scale_(data + (size_t)s * m, m, method, z + (size_t)s * m, tmp);
        for (long k = 0; k < m; k++) sum[k] += z[(size_t)s * m + k];
    }
    soma_status st = SOMA_OK;
    double lo = 0, up = 0;
    for (int s = 0; s < S && st == SOMA_OK; s++) {
        const double *zs = z + (size_t)s * m, *ds = data + (size_t)s * m;
        for (long k = 0; k < m; k++) other[k] = (sum[k] - zs[k]) / (S - 1);
        st = soma__rsa_check(other, m, method, "the mean of the other subjects' RDMs", "rsa_noise_ceiling");
        if (st != SOMA_OK) break;
        lo += soma__rsa_cmp(ds, other, m, method, n, NULL, tmp);
        for (long k = 0; k < m; k++) other[k] = sum[k] / S;
        up += soma__rsa_cmp(ds, other, m, method, n, NULL, tmp);
    }
    soma_free(z), soma_free(tmp);
    if (st != SOMA_OK) return st;
    *lower = lo / S;
    *upper = up / S;
    return SOMA_OK;
}

static soma_status check_method_(int n, soma_rsa_method method, const char *fn) {
    if ((unsigned)method >= SOMA_RSA_METHOD_COUNT) return soma_error(SOMA_ERR_ARG, "%s: unknown method %d", fn, (int)method);
    if (n < 3) return soma_error(SOMA_ERR_ARG, "%s: need at least 3 conditions, got %d", fn, n);
    return SOMA_OK;
}

soma_status soma_rsa_noise_ceiling(const double *data, int n_subj, int n, soma_rsa_method method, double *lower,
                                   double *upper) {
    if (!data || !lower || !upper) return soma_error(SOMA_ERR_ARG, "rsa_noise_ceiling: NULL argument");
    SOMA_TRY(check_method_(n, method, "rsa_noise_ceiling"));
    if (n_subj < 2) return soma_error(SOMA_ERR_ARG, "rsa_noise_ceiling: need at least 2 subjects, got %d", n_subj);
    SOMA_TRY(check_set_(data, n_subj, soma_rdm_len(n), method, "subject", "rsa_noise_ceiling"));
    return ceiling_(data, n_subj, n, method, lower, upper);
}

// --- evaluation ---------------------------------------------------------------------------------

void soma_rsa_eval_free(soma_rsa_eval *e) {
    if (!e) return;
    soma_free(e->score); /* one block carries every array */
    memset(e, 0, sizeof *e);
}

/* v [len] := the form whose dot products give the comparison: z-scored values (Pearson),
 * z-scored ranks (Spearman), unit norm (cosine); whitened cosine: a / sqrt(a'V^-1 a) on the
 * model side (side 0), V^-1 b / sqrt(b'V^-1 b) on the subject side (side 1), V restricted to
 * the masked pairs (entries outside the mask stay 0). scratch: soma__rsa_cmp_scratch. */
static void prep_(double *v, long len, soma_rsa_method method, int side, int n, const unsigned char *mask,
                  void *scratch) {
    double *t = scratch;
    if (method == SOMA_RSA_WHITENED_COSINE) {
        soma__vinv_masked(v, mask, n, t, t + len);
        double q = 0;
        for (long k = 0; k < len; k++) q += v[k] * t[k];
        double inv = 1.0 / sqrt(q);
        if (side)
            for (long k = 0; k < len; k++) v[k] = t[k] * inv;
        else
            for (long k = 0; k < len; k++) v[k] *= inv;
        return;
    }
    if (method == SOMA_RSA_SPEARMAN) {
        soma__rsa_ranks(v, len, t, t + len);
        memcpy(v, t, sizeof(double) * (size_t)len);
    }
    double mean = 0, ss = 0;
    if (method != SOMA_RSA_COSINE) {
        for (long k = 0; k < len; k++) mean += v[k];
        mean /= len;
    }
    for (long k = 0; k < len; k++) v[k] -= mean, ss += v[k] * v[k];
    double inv = 1.0 / sqrt(ss);
    for (long k = 0; k < len; k++) v[k] *= inv;
}

/* Per-thread workspace of one bootstrap sample. */
typedef struct {
    int *subj, *cond;
    unsigned char *used;  /* [n_subj] subject drawn in this sample */
    long *src;            /* [m] source pair of each kept pair (compact) */
    unsigned char *mask;  /* [m] kept positions' pairs (whitened cosine) */
    double *mv, *dv;      /* [n_models * m], [n_subj * m] cut RDMs */
    int *cnt;             /* [m] entries per tie group (Spearman) */
    int *mk, *dk;         /* [n_models * m], [n_subj * m] cut tie-group keys (Kendall) */
    double *avg;          /* [m] average rank of each tie group in the cut (Spearman) */
    void *cmp;            /* comparator scratch */
} boot_ws_;

static void ws_free_(boot_ws_ *w) {
    soma_free(w->subj), soma_free(w->cond), soma_free(w->used), soma_free(w->src), soma_free(w->mask);
    soma_free(w->mv), soma_free(w->dv), soma_free(w->cmp), soma_free(w->cnt), soma_free(w->avg);
    soma_free(w->mk), soma_free(w->dk);
}

static int ws_alloc_(boot_ws_ *w, int M, int S, int n) {
    long m = soma_rdm_len(n);
    memset(w, 0, sizeof *w);
    w->subj = soma_alloc((size_t)S, sizeof(int));
    w->cond = soma_alloc((size_t)n, sizeof(int));
    w->used = soma_alloc((size_t)S, 1);
    w->src = soma_alloc((size_t)m, sizeof(long));
    w->mask = soma_alloc((size_t)m, 1);
    w->mv = soma_alloc((size_t)M * m, sizeof(double));
    w->dv = soma_alloc((size_t)S * m, sizeof(double));
    size_t cs = soma__rsa_cmp_scratch(m, n), ks = soma__kendall_keys_scratch(m, m);
    w->cmp = soma_alloc(cs > ks ? cs : ks, 1);
    w->cnt = soma_alloc((size_t)m, sizeof(int));
    w->avg = soma_alloc((size_t)m, sizeof(double));
    w->mk = soma_alloc((size_t)M * m, sizeof(int));
    w->dk = soma_alloc((size_t)S * m, sizeof(int));
    return w->subj && w->cond && w->used && w->src && w->mask && w->mv && w->dv && w->cmp && w->cnt && w->avg &&
           w->mk && w->dk;
}

/* One bootstrap sample from stream `stream`: out[M] scores; 0 when the sample is unusable
 * (a cut RDM constant or too short), -1 never. */
static int boot_sample_(const double *models, int M, const double *data, int S, int n, soma_rsa_method method,
                        soma_rsa_boot boot, const double *subj_scores, const int *keys, uint64_t seed,
                        uint64_t stream, boot_ws_ *w, double *out) {
    long m = soma_rdm_len(n);
    soma_rng r;
    soma_rng_seed(&r, seed, stream);
    int rs = boot == SOMA_BOOT_SUBJECTS || boot == SOMA_BOOT_BOTH;
    int rc = boot == SOMA_BOOT_CONDITIONS || boot == SOMA_BOOT_BOTH;
    for (int s = 0; s < S; s++) w->subj[s] = rs ? (int)soma_rng_below(&r, (uint64_t)S) : s;
    if (!rc) {
        for (int k = 0; k < M; k++) {
            double acc = 0;
            for (int s = 0; s < S; s++) acc += subj_scores[(size_t)k * S + w->subj[s]];
            out[k] = acc / S;
        }
        return 1;
    }
    for (int i = 0; i < n; i++) w->cond[i] = (int)soma_rng_below(&r, (uint64_t)n);
    long mc = 0, q = 0;
    for (int a = 0; a < n; a++)
        for (int b = a + 1; b < n; b++, q++) {
            int ca = w->cond[a], cb = w->cond[b];
            w->mask[q] = ca != cb;
            if (ca != cb) w->src[mc++] = ca < cb ? soma_rdm_index(n, ca, cb) : soma_rdm_index(n, cb, ca);
        }
    if (mc < 3) return 0;
    int whit = method == SOMA_RSA_WHITENED_COSINE;
    long len = whit ? m : mc; /* the whitened cosine keeps full-length vectors with a mask */
    /* cut RDMs of the models and of the sampled subjects (each distinct one once), each
     * brought to a form whose dot product is the comparison (prep_), except for Kendall */
    for (int s = 0; s < S; s++) w->used[s] = 0;
    for (int s = 0; s < S; s++) w->used[w->subj[s]] = 1;
    for (int side = 0; side < 2; side++) {
        int count = side ? S : M;
        for (int k = 0; k < count; k++) {
            if (side && !w->used[k]) continue;
            double *v = (side ? w->dv : w->mv) + (size_t)k * m;
            const double *src = (side ? data : models) + (size_t)k * m;
            if (whit) {
                long c = 0;
                for (long t = 0; t < m; t++) v[t] = w->mask[t] ? src[w->src[c++]] : 0.0;
            } else {
                for (long c = 0; c < mc; c++) v[c] = src[w->src[c]];
            }
            if (soma__rsa_check(v, len, method, side ? "subject" : "model", "bootstrap") != SOMA_OK) return 0;
            if (method == SOMA_RSA_SPEARMAN && keys) {
                /* ranks of the cut in O(m) from the full vector's tie groups: count the cut's
                 * entries per group, then each group's average rank in group order */
                const int *key = keys + (size_t)(side ? M + k : k) * m;
                memset(w->cnt, 0, sizeof(int) * (size_t)m);
                for (long c = 0; c < mc; c++) w->cnt[key[w->src[c]]]++;
                long before = 0;
                for (long g = 0; g < m; g++)
                    if (w->cnt[g]) {
                        w->avg[g] = (double)before + 0.5 * (w->cnt[g] + 1);
                        before += w->cnt[g];
                    }
                for (long c = 0; c < mc; c++) v[c] = w->avg[key[w->src[c]]];
                prep_(v, len, SOMA_RSA_PEARSON, side, n, w->mask, w->cmp);
            } else if (method == SOMA_RSA_KENDALL_A && keys) {
                const int *key = keys + (size_t)(side ? M + k : k) * m;
                int *kv = (side ? w->dk : w->mk) + (size_t)k * m;
                for (long c = 0; c < mc; c++) kv[c] = key[w->src[c]];
            } else if (method != SOMA_RSA_KENDALL_A) {
                prep_(v, len, method, side, n, w->mask, w->cmp);
            }
        }
    }
    for (int k = 0; k < M; k++) {
        double acc = 0;
        const double *a = w->mv + (size_t)k * m;
        for (int s = 0; s < S; s++) {
            const double *b = w->dv + (size_t)w->subj[s] * m;
            if (method == SOMA_RSA_KENDALL_A) {
                acc += keys ? soma__kendall_keys(w->mk + (size_t)k * m, w->dk + (size_t)w->subj[s] * m, len, m, w->cmp)
                            : soma__kendall(a, b, len, w->cmp);
            } else {
                double d = 0;
                for (long t = 0; t < len; t++) d += a[t] * b[t];
                acc += d;
            }
        }
        out[k] = acc / S;
    }
    return 1;
}

soma_status soma_rsa_evaluate(const double *models, int n_models, const double *data, int n_subj, int n,
                              const soma_rsa_eval_opts *o, soma_rsa_eval *out) {
    static const char *fn = "rsa_evaluate";
    if (!models || !data || !o || !out) return soma_error(SOMA_ERR_ARG, "%s: NULL argument", fn);
    memset(out, 0, sizeof *out);
    SOMA_TRY(check_method_(n, o->method, fn));
    if (n_models < 1) return soma_error(SOMA_ERR_ARG, "%s: need at least 1 model, got %d", fn, n_models);
    if (n_subj < 2) return soma_error(SOMA_ERR_ARG, "%s: need at least 2 subjects, got %d", fn, n_subj);
    if ((unsigned)o->boot > SOMA_BOOT_BOTH) return soma_error(SOMA_ERR_ARG, "%s: unknown bootstrap %d", fn, (int)o->boot);
    if ((unsigned)o->correct > SOMA_CORRECT_FDR)
        return soma_error(SOMA_ERR_ARG, "%s: unknown correction %d", fn, (int)o->correct);
    int B = o->n_boot ? o->n_boot : 1000;
    if (o->boot != SOMA_BOOT_NONE && B < 2)
        return soma_error(SOMA_ERR_ARG, "%s: need at least 2 bootstrap samples, got %d", fn, B);
    long m = soma_rdm_len(n);
    int M = n_models, S = n_subj;
    soma_rsa_method method = o->method;
    SOMA_TRY(check_set_(models, M, m, method, "model", fn));
    SOMA_TRY(check_set_(data, S, m, method, "subject", fn));

    size_t nblock = (size_t)M * 3 + (size_t)M * S + (size_t)M * M;
    double *blk = soma_calloc(nblock, sizeof(double));
    if (!blk) return SOMA_ERR_NOMEM;
    out->n_models = M, out->n_subj = S;
    out->score = blk;
    out->se = blk + M;
    out->p_zero = blk + 2 * M;
    out->subj = blk + 3 * M;
    out->p_pair = out->subj + (size_t)M * S;

    soma_status st = ceiling_(data, S, n, method, &out->ceil_lower, &out->ceil_upper);
    if (st != SOMA_OK) goto fail;

    void *tmp = soma_alloc(soma__rsa_cmp_scratch(m, n), 1);
    if (!tmp) {
        st = SOMA_ERR_NOMEM;
        goto fail;
    }
    for (int k = 0; k < M; k++) {
        double acc = 0;
        for (int s = 0; s < S; s++) {
            double v = soma__rsa_cmp(models + (size_t)k * m, data + (size_t)s * m, m, method, n, NULL, tmp);
            out->subj[(size_t)k * S + s] = v;
            acc += v;
        }
        out->score[k] = acc / S;
    }
    soma_free(tmp);

    int npair = M * (M - 1) / 2;
    double *pp = soma_alloc((size_t)(npair > 0 ? npair : 1), sizeof(double));
    if (!pp) {
        st = SOMA_ERR_NOMEM;
        goto fail;
    }
    if (o->boot == SOMA_BOOT_NONE) {
        double *d = soma_alloc((size_t)S, sizeof(double));
        if (!d) {
            soma_free(pp);
            st = SOMA_ERR_NOMEM;
            goto fail;
        }
        for (int k = 0; k < M; k++) {
            const double *x = out->subj + (size_t)k * S;
            double ss = 0;
            for (int s = 0; s < S; s++) ss += (x[s] - out->score[k]) * (x[s] - out->score[k]);
            out->se[k] = sqrt(ss / (S - 1)) / sqrt((double)S);
            out->p_zero[k] = t_test_(x, S, 0);
        }
        int q = 0;
        for (int i = 0; i < M; i++)
            for (int j = i + 1; j < M; j++, q++) {
                for (int s = 0; s < S; s++) d[s] = out->subj[(size_t)i * S + s] - out->subj[(size_t)j * S + s];
                pp[q] = t_test_(d, S, 1);
            }
        soma_free(d);
    } else {
        double *bs = soma_alloc((size_t)B * M, sizeof(double));
        if (!bs) {
            soma_free(pp);
            st = SOMA_ERR_NOMEM;
            goto fail;
        }
        /* Spearman and Kendall under a condition bootstrap: each RDM's tie groups, once */
        int *keys = NULL;
        if ((method == SOMA_RSA_SPEARMAN || method == SOMA_RSA_KENDALL_A) && o->boot != SOMA_BOOT_SUBJECTS) {
            keys = soma_alloc((size_t)(M + S) * m, sizeof(int));
            void *gt = soma_alloc(soma__rsa_ranks_scratch(m), 1);
            if (!keys || !gt) {
                soma_free(keys), soma_free(gt), soma_free(bs), soma_free(pp);
                st = SOMA_ERR_NOMEM;
                goto fail;
            }
            for (int k = 0; k < M + S; k++)
                soma__rsa_groups(k < M ? models + (size_t)k * m : data + (size_t)(k - M) * m, m,
                                 keys + (size_t)k * m, gt);
            soma_free(gt);
        }
        int failed = 0;
#ifdef _OPENMP
#pragma omp parallel
#endif
        {
            boot_ws_ w;
            int ok = ws_alloc_(&w, M, S, n);
            if (!ok) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
                failed = 1;
            }
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 4)
#endif
            for (int b = 0; b < B; b++) {
                if (!ok) continue;
                /* an unusable sample is replaced by streams B + b, 2B + b, ...: the same
                 * replacement on any thread count */
                int got = 0;
                for (uint64_t tries = 0; tries < 64 && !got; tries++)
                    got = boot_sample_(models, M, data, S, n, method, o->boot, out->subj, keys, o->seed,
                                       (uint64_t)b + 1 + tries * (uint64_t)B, &w, bs + (size_t)b * M);
                if (!got) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
                    failed = 2;
                }
            }
            ws_free_(&w);
        }
        soma_free(keys);
        if (failed) {
            soma_free(bs), soma_free(pp);
            st = failed == 1 ? soma_error(SOMA_ERR_NOMEM, "%s: out of memory for the bootstrap workspace", fn)
                             : soma_error(SOMA_ERR_ARG,
                                          "%s: bootstrap samples keep making an RDM constant (too few conditions?)",
                                          fn);
            goto fail;
        }
        for (int k = 0; k < M; k++) {
            double mean = 0, ss = 0;
            long le = 0;
            for (int b = 0; b < B; b++) mean += bs[(size_t)b * M + k], le += bs[(size_t)b * M + k] <= 0;
            mean /= B;
            for (int b = 0; b < B; b++) ss += (bs[(size_t)b * M + k] - mean) * (bs[(size_t)b * M + k] - mean);
            out->se[k] = sqrt(ss / (B - 1));
            out->p_zero[k] = (1.0 + le) / (1.0 + B);
        }
        int q = 0;
        for (int i = 0; i < M; i++)
            for (int j = i + 1; j < M; j++, q++) {
                long le = 0, ge = 0;
                for (int b = 0; b < B; b++) {
                    double d = bs[(size_t)b * M + i] - bs[(size_t)b * M + j];
                    le += d <= 0, ge += d >= 0;
                }
                pp[q] = fmin(1.0, 2.0 * (1.0 + (double)(le < ge ? le : ge)) / (1.0 + B));
            }
        soma_free(bs);
    }
    soma_p_correct(pp, npair, o->correct);
    int q = 0;
    for (int i = 0; i < M; i++) {
        out->p_pair[(size_t)i * M + i] = 1.0;
        for (int j = i + 1; j < M; j++, q++) out->p_pair[(size_t)i * M + j] = out->p_pair[(size_t)j * M + i] = pp[q];
    }
    soma_free(pp);
    return SOMA_OK;
fail:
    soma_rsa_eval_free(out);
    return st;
}
