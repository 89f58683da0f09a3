// GFLOP/s of soma_gemm on sgemm-1024 and on the GEMM shapes of the MLP training step, with the
// BLAS kernel named; run it under each OPENBLAS_CORETYPE to pick the fastest. Not built by CMake:
//
//   cc -O2 -std=c11 -Iinclude dev/gemm_shapes.c build/libsoma.a \
//      -L/usr/lib/x86_64-linux-gnu/openblas-openmp -lopenblas -lpng -lz -lcjson -lm -fopenmp \
//      -o /tmp/gemm_shapes
//   for c in Haswell Zen SkylakeX; do OPENBLAS_CORETYPE=$c /tmp/gemm_shapes 2; done
//
// Each figure is the best of REPS timings (the machine is shared; the best is the least
// disturbed). Shapes: ta tb M N K as soma_gemm takes them.
#include <stdio.h>
#include <stdlib.h>

#include "soma/core.h"

typedef struct { const char *what; int ta, tb, M, N, K; } shape;

static double gflops(const shape *s, int reps) {
    size_t na = (size_t)s->M * s->K, nb = (size_t)s->K * s->N, nc = (size_t)s->M * s->N;
    float *a = soma_alloc(na, 4), *b = soma_alloc(nb, 4), *c = soma_alloc(nc, 4);
    soma_rng r;
    soma_rng_seed(&r, 1, 0);
    soma_rng_uniform_fill(&r, a, na, -1.f, 1.f);
    soma_rng_uniform_fill(&r, b, nb, -1.f, 1.f);
    int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    double flop = 2.0 * s->M * s->N * s->K, best = 1e30;
    long inner = (long)(2e8 / flop) + 1; /* ~0.1 s of work a timing at 2 GFLOP/s */
    soma_gemm(s->ta, s->tb, s->M, s->N, s->K, 1.f, a, lda, b, ldb, 0.f, c, s->N);
    for (int k = 0; k < reps; k++) {
        double t0 = soma_now();
        for (long i = 0; i < inner; i++)
            soma_gemm(s->ta, s->tb, s->M, s->N, s->K, 1.f, a, lda, b, ldb, 1.f, c, s->N);
        double dt = (soma_now() - t0) / (double)inner;
        if (dt < best) best = dt;
    }
    soma_free(a);
    soma_free(b);
    soma_free(c);
    return flop / best * 1e-9;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2, reps = argc > 2 ? atoi(argv[2]) : 5;
    soma_set_threads(threads);
    char info[512];
    soma_machine_describe(info, sizeof info);
    printf("%s, %d threads\n", info, threads);
    const shape sh[] = {
        {"sgemm-1024", 0, 0, 1024, 1024, 1024},
        {"fc512 fwd n64", 0, 1, 64, 512, 784},   {"fc512 dW n64", 1, 0, 512, 784, 64},
        {"fc256 fwd n64", 0, 1, 64, 256, 512},   {"fc256 dW n64", 1, 0, 256, 512, 64},
        {"fc256 dx n64", 0, 0, 64, 512, 256},    {"fc512 fwd n32", 0, 1, 32, 512, 784},
        {"fc512 dW n32", 1, 0, 512, 784, 32},    {"fc256 dx n32", 0, 0, 32, 512, 256},
    };
    for (size_t i = 0; i < sizeof sh / sizeof *sh; i++)
        printf("  %-14s %c%c M%-5d N%-5d K%-5d %7.1f GFLOP/s\n", sh[i].what, sh[i].ta ? 'T' : 'N',
               sh[i].tb ? 'T' : 'N', sh[i].M, sh[i].N, sh[i].K, gflops(&sh[i], reps));
    return 0;
}
