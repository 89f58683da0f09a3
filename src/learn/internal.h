/* src/learn/internal.h -- what the learning-rule files share. */
#ifndef SOMA_LEARN_INTERNAL_H
#define SOMA_LEARN_INTERNAL_H

#include "soma/core.h"

/* Blocked products run each GEMM whole on one thread inside one parallel region. Without
 * OpenMP the blocks run one after another outside any region, where the BLAS would thread
 * each GEMM: hold it to one thread meanwhile (begin returns what end restores). */
static inline int soma__learn_blas_serial_begin(void) {
#ifndef _OPENMP
    const int t = soma_get_threads();
    if (t > 1) soma_set_threads(1);
    return t;
#else
    return 0;
#endif
}

static inline void soma__learn_blas_serial_end(int t) {
#ifndef _OPENMP
    if (t > 1) soma_set_threads(t);
#else
    (void)t;
#endif
}

#endif
