/* Shared between src/analysis/rsa.c and rsa_stats.c (not public). */
#ifndef SOMA_ANALYSIS_RSA_INTERNAL_H
#define SOMA_ANALYSIS_RSA_INTERNAL_H
#include <stddef.h>

#include "soma/analysis.h"

/* Average ranks (1-based, ties share their mean) of x[m] into r; tmp of
 * soma__rsa_ranks_scratch(m) bytes. */
void soma__rsa_ranks(const double *x, long m, double *r, void *tmp);
size_t soma__rsa_ranks_scratch(long m);
/* key[k] = the sorted position (0-based) where x[k]'s tie group starts: keys order the values,
 * ties share one. tmp as for soma__rsa_ranks. */
void soma__rsa_groups(const double *x, long m, int *key, void *tmp);
/* Kendall's tau-a of a, b [m] (m >= 2) in O(m log m); scratch of soma__kendall_scratch(m). */
double soma__kendall(const double *a, const double *b, long m, void *scratch);
size_t soma__kendall_scratch(long m);
/* The same from tie-group keys in [0, K) (soma__rsa_groups) of m entries, in O(m log K);
 * scratch of soma__kendall_keys_scratch(K, m) bytes. */
double soma__kendall_keys(const int *ka, const int *kb, long m, long K, void *scratch);
size_t soma__kendall_keys_scratch(long K, long m);
/* y = V^-1 x for a complete condensed RDM of n conditions; s [n] scratch. */
void soma__vinv(const double *x, int n, double *y, double *s);
/* V^-1 restricted to the pairs with mask[k] != 0 (conjugate gradients); scratch of
 * soma__vinv_masked_scratch(n) bytes. */
void soma__vinv_masked(const double *x, const unsigned char *mask, int n, double *y, void *scratch);
size_t soma__vinv_masked_scratch(int n);
/* 1 when x [m] is constant. */
int soma__rsa_is_constant(const double *x, long m);
/* The comparison of a and b [m] by method (checked by soma__rsa_check beforehand). For the
 * whitened cosine a, b are complete RDMs of n conditions (m = soma_rdm_len(n)) and mask (may
 * be NULL: every pair) marks the pairs present. scratch: soma__rsa_cmp_scratch(m, n) bytes. */
double soma__rsa_cmp(const double *a, const double *b, long m, soma_rsa_method method, int n,
                     const unsigned char *mask, void *scratch);
size_t soma__rsa_cmp_scratch(long m, int n);
/* Finite, and not constant (correlations) or not all zero (cosines); SOMA_ERR_ARG naming
 * `what` otherwise. */
soma_status soma__rsa_check(const double *x, long m, soma_rsa_method method, const char *what, const char *fn);
#endif
