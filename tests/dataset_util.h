// Tests: a small in-memory classification dataset (float samples, one label each) from arrays.
#ifndef SOMA_TESTS_DATASET_UTIL_H
#define SOMA_TESTS_DATASET_UTIL_H

#include <stdio.h>
#include <string.h>

#include "soma/io.h"

/* n samples of d floats from x, labels y in [0, K); free with soma_dataset_free. */
static inline soma_dataset *mkdata_(const float *x, const int *y, int n, int d, int K) {
    soma_dataset *o = soma_calloc(1, sizeof *o);
    snprintf(o->name, sizeof o->name, "t");
    o->n = n;
    o->shape = soma_shape1(d);
    o->dim = (size_t)d;
    o->n_classes = K;
    o->scale = 1.f;
    o->y_len = 1;
    o->x_f32 = soma_alloc((size_t)n * d, sizeof(float));
    o->y = soma_alloc((size_t)n, sizeof(int));
    memcpy(o->x_f32, x, (size_t)n * d * sizeof(float));
    memcpy(o->y, y, (size_t)n * sizeof(int));
    return o;
}

#endif
