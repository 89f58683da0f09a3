// Edge-detection metrics for connectivity inference: AUROC, AUPRC, the ROC curve (soma/neuro.h).
#include <math.h>
#include <stdlib.h>

#include "soma/neuro.h"

typedef struct item_ {
    float s;
    long k;
} item_;

/* descending score, ties by index (a total order: the result never depends on qsort) */
static int cmp_desc_(const void *a, const void *b) {
    const item_ *x = a, *y = b;
    if (x->s > y->s) return -1;
    if (x->s < y->s) return 1;
    return (x->k > y->k) - (x->k < y->k);
}

/* Sorts (score, index) descending; counts the classes. */
static soma_status sorted_(const float *score, const unsigned char *label, long n, item_ **out, long *pos,
                           long *neg) {
    if (!score || !label || n < 1) return soma_error(SOMA_ERR_ARG, "auc: %ld scores (need >= 1)", n);
    long p = 0;
    for (long k = 0; k < n; k++) {
        if (!isfinite(score[k])) return soma_error(SOMA_ERR_ARG, "auc: score %ld is not finite", k);
        p += label[k] != 0;
    }
    if (p == 0 || p == n)
        return soma_error(SOMA_ERR_ARG, "auc: %ld positives of %ld (both classes must be present)", p, n);
    item_ *it = soma_alloc((size_t)n, sizeof *it);
    if (!it) return soma_error(SOMA_ERR_NOMEM, "auc: out of memory");
    for (long k = 0; k < n; k++) it[k].s = score[k], it[k].k = k;
    qsort(it, (size_t)n, sizeof *it, cmp_desc_);
    *out = it;
    *pos = p;
    *neg = n - p;
    return SOMA_OK;
}

soma_status soma_auc(const float *score, const unsigned char *label, long n, double *auroc, double *auprc) {
    item_ *it = NULL;
    long P, N;
    SOMA_TRY(sorted_(score, label, n, &it, &P, &N));
    /* walk groups of tied scores: ROC area by trapezoids (ties count half), AP by steps */
    double tp = 0, fp = 0, area = 0, ap = 0;
    for (long a = 0; a < n;) {
        long b = a;
        double dtp = 0, dfp = 0;
        while (b < n && it[b].s == it[a].s) {
            if (label[it[b].k]) dtp++;
            else dfp++;
            b++;
        }
        area += dfp * (tp + 0.5 * dtp);
        tp += dtp;
        fp += dfp;
        if (dtp > 0) ap += (dtp / (double)P) * (tp / (tp + fp));
        a = b;
    }
    soma_free(it);
    if (auroc) *auroc = area / ((double)P * (double)N);
    if (auprc) *auprc = ap;
    return SOMA_OK;
}

soma_status soma_roc_curve(const float *score, const unsigned char *label, long n, float *fpr, float *tpr,
                           long *n_points) {
    if (!fpr || !tpr || !n_points) return soma_error(SOMA_ERR_ARG, "roc: NULL output");
    item_ *it = NULL;
    long P, N;
    SOMA_TRY(sorted_(score, label, n, &it, &P, &N));
    long m = 0, tp = 0, fp = 0;
    fpr[m] = 0.f, tpr[m] = 0.f, m++;
    for (long a = 0; a < n;) {
        long b = a;
        while (b < n && it[b].s == it[a].s) {
            if (label[it[b].k]) tp++;
            else fp++;
            b++;
        }
        fpr[m] = (float)((double)fp / (double)N);
        tpr[m] = (float)((double)tp / (double)P);
        m++;
        a = b;
    }
    soma_free(it);
    *n_points = m;
    return SOMA_OK;
}

soma_status soma_edge_auc(const float *score, const float *w_true, int n, double *auroc, double *auprc) {
    if (!score || !w_true || n < 2) return soma_error(SOMA_ERR_ARG, "edge-auc: %d neurons (need >= 2)", n);
    const long m = (long)n * (n - 1);
    float *s = soma_alloc((size_t)m, sizeof *s);
    unsigned char *l = soma_alloc((size_t)m, 1);
    if (!s || !l) {
        soma_free(s);
        soma_free(l);
        return soma_error(SOMA_ERR_NOMEM, "edge-auc: out of memory");
    }
    long k = 0;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < n; i++) {
            if (i == j) continue;
            s[k] = fabsf(score[(size_t)j * n + i]);
            l[k] = w_true[(size_t)j * n + i] != 0.f;
            k++;
        }
    soma_status st = soma_auc(s, l, m, auroc, auprc);
    soma_free(s);
    soma_free(l);
    return st;
}
