/* Test helpers for nn layers built by hand (without soma_net): parse -> set the input shape
 * -> setup -> allocate each parameter's value and grad -> init -> reserve. */
#ifndef SOMA_TESTS_NN_UTIL_H
#define SOMA_TESTS_NN_UTIL_H
#include <stdio.h>
#include <string.h>

#include "soma/nn.h"

/* Builds layer l from token for input shape in and batches up to max_n. On failure prints
 * why and returns the status (l is then released). */
static inline soma_status tl_make(soma_layer *l, const char *tok, soma_shape in, int max_n,
                           uint64_t seed) {
    soma_status st = soma_layer_parse(tok, l);
    if (st != SOMA_OK) return st;
    l->in = in;
    soma_rng_seed(&l->rng, seed, 7);
    st = l->ops->setup(l);
    if (st != SOMA_OK) {
        soma_layer_release(l);
        return st;
    }
    for (int i = 0; i < l->n_params; i++) {
        l->params[i].value = soma_alloc(l->params[i].n, sizeof(float));
        l->params[i].grad = soma_calloc(l->params[i].n, sizeof(float));
        if (!l->params[i].value || !l->params[i].grad) return SOMA_ERR_NOMEM;
    }
    soma_rng r;
    soma_rng_seed(&r, seed, 3);
    if (l->ops->init) l->ops->init(l, &r);
    if (l->ops->reserve) st = l->ops->reserve(l, max_n);
    return st;
}

static inline void tl_free(soma_layer *l) {
    for (int i = 0; i < l->n_params; i++) {
        soma_free(l->params[i].value);
        soma_free(l->params[i].grad);
        l->params[i].value = l->params[i].grad = NULL;
    }
    soma_layer_release(l);
    l->ops = NULL;
}

static inline void tl_zero_grad(soma_layer *l) {
    for (int i = 0; i < l->n_params; i++)
        memset(l->params[i].grad, 0, l->params[i].n * sizeof(float));
}
#endif
