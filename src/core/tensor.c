// float32 tensors: contiguous, row-major, up to 4 dimensions.
#include "soma/core.h"

#include <string.h>

static soma_status shape_count_(int ndim, const int *shape, size_t *n) {
    if (ndim < 1 || ndim > SOMA_MAX_DIMS)
        return soma_error(SOMA_ERR_SHAPE, "tensor: %d dimensions (1..%d allowed)", ndim, SOMA_MAX_DIMS);
    size_t c = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1) return soma_error(SOMA_ERR_SHAPE, "tensor: dimension %d is %d", i, shape[i]);
        if (!soma_mul_ok(c, (size_t)shape[i], &c))
            return soma_error(SOMA_ERR_NOMEM, "tensor: element count overflows");
    }
    *n = c;
    return SOMA_OK;
}

soma_status soma_tensor_new(soma_tensor **out, int ndim, const int *shape) {
    *out = NULL;
    size_t n;
    SOMA_TRY(shape_count_(ndim, shape, &n));
    soma_tensor *t = soma_calloc(1, sizeof *t);
    if (!t) return SOMA_ERR_NOMEM;
    t->data = soma_calloc(n, sizeof(float));
    if (!t->data) {
        soma_free(t);
        return SOMA_ERR_NOMEM;
    }
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof(int));
    t->n = n;
    t->owns = 1;
    *out = t;
    return SOMA_OK;
}

soma_tensor soma_tensor_view(float *data, int ndim, const int *shape) {
    soma_tensor t = {0};
    t.data = data;
    t.ndim = ndim < 1 ? 1 : (ndim > SOMA_MAX_DIMS ? SOMA_MAX_DIMS : ndim);
    t.n = 1;
    for (int i = 0; i < t.ndim; i++) {
        t.shape[i] = shape[i];
        t.n *= (size_t)shape[i];
    }
    return t;
}

void soma_tensor_free(soma_tensor *t) {
    if (!t) return;
    if (t->owns) soma_free(t->data);
    soma_free(t);
}

soma_status soma_tensor_reshape(soma_tensor *t, int ndim, const int *shape) {
    size_t n;
    SOMA_TRY(shape_count_(ndim, shape, &n));
    if (n != t->n)
        return soma_error(SOMA_ERR_SHAPE, "tensor: reshape of %zu elements into %zu", t->n, n);
    t->ndim = ndim;
    memset(t->shape, 0, sizeof t->shape);
    memcpy(t->shape, shape, (size_t)ndim * sizeof(int));
    return SOMA_OK;
}

void soma_tensor_fill(soma_tensor *t, float v) {
    for (size_t i = 0; i < t->n; i++) t->data[i] = v;
}
