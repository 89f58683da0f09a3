/* soma's side of bench/vs_numpy.sh: times one RSA computation and prints one JSON line.
 *
 *   rsa_bench rdm METRIC N P SEED        soma_rdm of N x P standard-normal data
 *   rsa_bench perm N N_PERM SEED         soma_rsa_permtest, Spearman, two random RDMs of N
 *                                        conditions (b = a + noise), N_PERM permutations
 *
 * Only the call is timed (soma_now); the data are drawn before. Built by vs_numpy.sh with cc
 * against build/libsoma.a and the link flags of build/soma-static.pc. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soma/analysis.h"

static int usage_(void) {
    fprintf(stderr, "usage: rsa_bench rdm METRIC N P SEED | rsa_bench perm N N_PERM SEED\n");
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 2) return usage_();
    if (strcmp(argv[1], "rdm") == 0 && argc == 6) {
        soma_rdm_opts o = {SOMA_RDM_EUCLIDEAN, 0};
        if (soma_rdm_metric_parse(argv[2], &o.metric) != SOMA_OK) {
            fprintf(stderr, "rsa_bench: %s\n", soma_errmsg());
            return 2;
        }
        int n = atoi(argv[3]), p = atoi(argv[4]);
        if (n < 2 || p < 1) return usage_();
        double *X = malloc(sizeof(double) * (size_t)n * p), *rdm = malloc(sizeof(double) * soma_rdm_len(n));
        if (!X || !rdm) return 1;
        soma_rng r;
        soma_rng_seed(&r, strtoull(argv[5], NULL, 10), 0);
        for (size_t k = 0; k < (size_t)n * p; k++) X[k] = soma_rng_normal(&r);
        double t0 = soma_now();
        soma_status st = soma_rdm(X, n, p, 1, &o, rdm);
        double t = soma_now() - t0;
        if (st != SOMA_OK) {
            fprintf(stderr, "rsa_bench: %s\n", soma_errmsg());
            return 1;
        }
        double sum = 0;
        for (long k = 0; k < soma_rdm_len(n); k++) sum += rdm[k];
        printf("{\"task\": \"rdm-%s\", \"n\": %d, \"p\": %d, \"threads\": %d, \"blas_core\": \"%s\", "
               "\"seconds\": %.6f, \"mean\": %.9g}\n",
               argv[2], n, p, soma_get_threads(), soma_blas_core(), t, sum / soma_rdm_len(n));
        free(X), free(rdm);
        return 0;
    }
    if (strcmp(argv[1], "perm") == 0 && argc == 5) {
        int n = atoi(argv[2]);
        long n_perm = atol(argv[3]);
        if (n < 3 || n_perm < 1) return usage_();
        long m = soma_rdm_len(n);
        double *a = malloc(sizeof(double) * m), *b = malloc(sizeof(double) * m);
        if (!a || !b) return 1;
        soma_rng r;
        soma_rng_seed(&r, strtoull(argv[4], NULL, 10), 0);
        for (long k = 0; k < m; k++) a[k] = soma_rng_uniform(&r);
        for (long k = 0; k < m; k++) b[k] = a[k] + soma_rng_normal(&r);
        double v, pv, t0 = soma_now();
        soma_status st = soma_rsa_permtest(a, b, n, SOMA_RSA_SPEARMAN, n_perm, 1, &v, &pv);
        double t = soma_now() - t0;
        if (st != SOMA_OK) {
            fprintf(stderr, "rsa_bench: %s\n", soma_errmsg());
            return 1;
        }
        printf("{\"task\": \"perm-spearman\", \"n\": %d, \"n_perm\": %ld, \"threads\": %d, \"seconds\": %.6f, "
               "\"value\": %.9g, \"p\": %.9g}\n",
               n, n_perm, soma_get_threads(), t, v, pv);
        free(a), free(b);
        return 0;
    }
    return usage_();
}
