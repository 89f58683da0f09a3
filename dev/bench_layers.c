// Micro-benchmark: ms per forward + backward (minimum over the repetitions) of each layer of the LeNet and MLP specs at
// batch 64 (the first layer of each stack skips dx, as a network does). Not built by CMake:
//
//   cc -O2 -std=c11 -fopenmp -Iinclude -Isrc -Itests -I/usr/include/x86_64-linux-gnu/openblas-openmp \
//      dev/bench_layers.c build-nn/libsoma.a -L/usr/lib/x86_64-linux-gnu/openblas-openmp \
//      -lopenblas -lpng -lz -lcjson -lm -o /tmp/bench_layers
//   OMP_NUM_THREADS=2 /tmp/bench_layers [threads] [batch] [reps]
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_util.h"
#include "soma/nn.h"

static double bench_stack(const char *name, const char *spec, soma_shape in, int N, int reps) {
    soma_layer L[16];
    int nl = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", spec);
    soma_shape s = in;
    for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
        if (tl_make(&L[nl], t, s, N, 1) != SOMA_OK) {
            fprintf(stderr, "%s: %s\n", t, soma_errmsg());
            exit(1);
        }
        s = L[nl++].out;
    }
    float *act[17], *grad[17];
    soma_rng r;
    soma_rng_seed(&r, 1, 0);
    s = in;
    for (int i = 0; i <= nl; i++) {
        size_t n = (size_t)N * soma_shape_size(i ? L[i - 1].out : in);
        act[i] = soma_alloc(n, 4);
        grad[i] = soma_alloc(n, 4);
        soma_rng_uniform_fill(&r, act[i], n, -1.f, 1.f);
        soma_rng_uniform_fill(&r, grad[i], n, -0.01f, 0.01f);
    }
    printf("%s (batch %d, %d threads):\n", name, N, soma_get_threads());
    double total = 0.0;
    for (int i = 0; i < nl; i++) {
        float *dx = i ? grad[i] : NULL;
        for (int w = 0; w < 5; w++) {
            L[i].ops->forward(&L[i], act[i + 1], act[i], N, SOMA_MODE_TRAIN);
            L[i].ops->backward(&L[i], dx, grad[i + 1], act[i], act[i + 1], N);
        }
        /* The minimum over reps: the machine is shared, and the mean mostly measures the
         * neighbours. */
        double tf = 1e9, tb = 1e9;
        for (int k = 0; k < reps; k++) {
            double t0 = soma_now();
            L[i].ops->forward(&L[i], act[i + 1], act[i], N, SOMA_MODE_TRAIN);
            double t1 = soma_now();
            L[i].ops->backward(&L[i], dx, grad[i + 1], act[i], act[i + 1], N);
            double t2 = soma_now();
            tf = t1 - t0 < tf ? t1 - t0 : tf;
            tb = t2 - t1 < tb ? t2 - t1 : tb;
        }
        tf *= 1e3;
        tb *= 1e3;
        total += tf + tb;
        printf("  %-14s fwd %7.4f  bwd %7.4f  sum %7.4f ms\n", L[i].spec, tf, tb, tf + tb);
    }
    printf("  %-14s %35.4f ms per step\n", "total", total);
    for (int i = 0; i <= nl; i++) {
        soma_free(act[i]);
        soma_free(grad[i]);
    }
    for (int i = 0; i < nl; i++) tl_free(&L[i]);
    return total;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2, N = argc > 2 ? atoi(argv[2]) : 64;
    int reps = argc > 3 ? atoi(argv[3]) : 200;
    soma_set_threads(threads);
    bench_stack("lenet", "conv5x5x6p2,relu,maxpool2,conv5x5x16,relu,maxpool2,fc120,relu,fc84,relu,fc10",
                soma_shape3(1, 28, 28), N, reps);
    bench_stack("mlp", "fc512,relu,fc256,relu,fc10", soma_shape1(784), N, reps);
    return 0;
}
