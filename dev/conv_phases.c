// Micro-benchmark: ms per call (minimum over the repetitions) of LeNet's convolutions at one
// thread, by phase: forward, backward with dW only, with dx only, and with both. Not built by
// CMake:
//
//   cc -O2 -std=c11 -fopenmp -Iinclude -Isrc dev/conv_phases.c build/libsoma.a
//      -L/usr/lib/x86_64-linux-gnu/openblas-openmp -lopenblas -lpng -lz -lcjson -lm -o /tmp/conv_phases
//   OMP_NUM_THREADS=1 /tmp/conv_phases [batch] [reps] [phase]
//
// With a phase (conv1f, conv1w, conv2f, conv2w, conv2x) only that one runs, for CPU time on a
// busy machine (minus a run with phase "none"): perf stat -e task-clock /tmp/conv_phases 32 400 conv2x
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soma/core.h"
#include "soma/nn.h"

static double t_min(double *best, double t) { return *best = t < *best ? t : *best; }

static const char *only; /* one phase, or NULL for all */

static int run(const char *name, char c) {
    char ph[16];
    snprintf(ph, sizeof ph, "%s%c", name, c);
    return !only || !strcmp(only, ph);
}

static void phases(const char *name, soma_conv_geom g, int N, int reps) {
    if (soma_conv_geom_init(&g) != SOMA_OK) exit(1);
    size_t nx = (size_t)N * g.c_in * g.h_in * g.w_in, ny = (size_t)N * g.c_out * g.h_out * g.w_out;
    size_t nw = (size_t)g.c_out * g.c_in * g.kh * g.kw;
    float *x = soma_alloc(nx, 4), *dx = soma_alloc(nx, 4), *y = soma_alloc(ny, 4);
    float *w = soma_alloc(nw, 4), *dw = soma_alloc(nw, 4), *b = soma_alloc(g.c_out, 4);
    float *db = soma_alloc(g.c_out, 4), *s = soma_alloc(soma_conv2d_scratch(&g, 1), 4);
    soma_rng r;
    soma_rng_seed(&r, 1, 0);
    soma_rng_uniform_fill(&r, x, nx, -1.f, 1.f);
    soma_rng_uniform_fill(&r, y, ny, -1.f, 1.f);
    soma_rng_uniform_fill(&r, w, nw, -1.f, 1.f);
    soma_rng_uniform_fill(&r, b, g.c_out, -1.f, 1.f);
    double tf = 1e9, tw = 1e9, tx = 1e9, tb = 1e9;
    for (int k = 0; k < reps; k++) {
        double t0 = soma_now();
        if (run(name, 'f')) soma_conv2d_forward(y, x, w, b, &g, N, s, 1);
        double t1 = soma_now();
        if (run(name, 'w')) soma_conv2d_backward(NULL, dw, db, y, x, w, &g, N, s, 1);
        double t2 = soma_now();
        if (run(name, 'x')) soma_conv2d_backward(dx, NULL, NULL, y, x, w, &g, N, s, 1);
        double t3 = soma_now();
        if (!only) soma_conv2d_backward(dx, dw, db, y, x, w, &g, N, s, 1);
        double t4 = soma_now();
        t_min(&tf, t1 - t0);
        t_min(&tw, t2 - t1);
        t_min(&tx, t3 - t2);
        t_min(&tb, t4 - t3);
    }
    printf("%-8s N=%d  fwd %.4f  bwd dW %.4f  bwd dx %.4f  bwd both %.4f ms\n", name, N, tf * 1e3,
           tw * 1e3, tx * 1e3, tb * 1e3);
    soma_free(x), soma_free(dx), soma_free(y), soma_free(w), soma_free(dw), soma_free(b);
    soma_free(db), soma_free(s);
}

int main(int argc, char **argv) {
    int N = argc > 1 ? atoi(argv[1]) : 32, reps = argc > 2 ? atoi(argv[2]) : 200;
    only = argc > 3 ? argv[3] : NULL;
    soma_set_threads(1);
    phases("conv1", (soma_conv_geom){.c_in = 1, .h_in = 28, .w_in = 28, .c_out = 6, .kh = 5, .kw = 5, .stride = 1, .pad = 2}, N, reps);
    phases("conv2", (soma_conv_geom){.c_in = 6, .h_in = 14, .w_in = 14, .c_out = 16, .kh = 5, .kw = 5, .stride = 1}, N, reps);
    return 0;
}
