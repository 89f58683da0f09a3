/* The C side of bench/py_overhead.py: times soma_rdm on an n x p float64 matrix (correlation,
 * condensed output) and soma_rdm + soma_rdm_to_square, the two forms soma.rdm returns, in
 * `batches` batches of `calls` calls each after a warm-up; prints the median per-call time of
 * the batches in nanoseconds for each form: "rdm NS\nsquare NS". The data are the same as the
 * Python side's (read from an NPY file). Timing: soma_now(). */
#include <stdio.h>
#include <stdlib.h>

#include "soma/soma.h"

static int cmp_(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: py_rdm_timer X.npy CALLS BATCHES\n");
        return 2;
    }
    soma_array a = {0};
    if (soma_npy_read(argv[1], &a) != SOMA_OK || a.dtype != SOMA_DTYPE_F64 || a.ndim != 2) {
        fprintf(stderr, "py_rdm_timer: %s: want a 2-D float64 NPY (%s)\n", argv[1], soma_errmsg());
        return 2;
    }
    const int n = (int)a.shape[0], p = (int)a.shape[1];
    const long calls = atol(argv[2]);
    const int batches = atoi(argv[3]);
    soma_set_threads(1);
    soma_rdm_opts o = {.metric = SOMA_RDM_CORRELATION, .shrinkage = -1};
    double *rdm = malloc(sizeof(double) * (size_t)soma_rdm_len(n)), *sq = malloc(sizeof(double) * (size_t)n * n);
    double *t1 = malloc(sizeof(double) * (size_t)batches), *t2 = malloc(sizeof(double) * (size_t)batches);
    for (long i = 0; i < calls; i++) soma_rdm(a.data, n, p, 1, &o, rdm); /* warm-up */
    for (int b = 0; b < batches; b++) {
        double t0 = soma_now();
        for (long i = 0; i < calls; i++)
            if (soma_rdm(a.data, n, p, 1, &o, rdm) != SOMA_OK) return 1;
        t1[b] = (soma_now() - t0) / (double)calls;
        t0 = soma_now();
        for (long i = 0; i < calls; i++) {
            if (soma_rdm(a.data, n, p, 1, &o, rdm) != SOMA_OK) return 1;
            soma_rdm_to_square(rdm, n, sq);
        }
        t2[b] = (soma_now() - t0) / (double)calls;
    }
    qsort(t1, (size_t)batches, sizeof *t1, cmp_);
    qsort(t2, (size_t)batches, sizeof *t2, cmp_);
    printf("rdm %.1f\nsquare %.1f\n", t1[batches / 2] * 1e9, t2[batches / 2] * 1e9);
    free(rdm);
    free(sq);
    free(t1);
    free(t2);
    soma_array_deinit(&a);
    return 0;
}
