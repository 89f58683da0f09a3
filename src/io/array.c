// Typed n-dimensional arrays (what the NPY and IDX readers return).
#include <string.h>

#include "io/internal.h"

static const size_t dtype_sizes_[SOMA_DTYPE_COUNT] = {
    [SOMA_DTYPE_F32] = 4, [SOMA_DTYPE_F64] = 8, [SOMA_DTYPE_I32] = 4, [SOMA_DTYPE_I64] = 8,
    [SOMA_DTYPE_U8] = 1,  [SOMA_DTYPE_I8] = 1,  [SOMA_DTYPE_I16] = 2,
};
static const char *const dtype_names_[SOMA_DTYPE_COUNT] = {
    [SOMA_DTYPE_F32] = "float32", [SOMA_DTYPE_F64] = "float64", [SOMA_DTYPE_I32] = "int32",
    [SOMA_DTYPE_I64] = "int64",   [SOMA_DTYPE_U8] = "uint8",    [SOMA_DTYPE_I8] = "int8",
    [SOMA_DTYPE_I16] = "int16",
};

size_t soma_dtype_size(soma_dtype t) {
    return (int)t >= 0 && t < SOMA_DTYPE_COUNT ? dtype_sizes_[t] : 0;
}

const char *soma_dtype_name(soma_dtype t) {
    return (int)t >= 0 && t < SOMA_DTYPE_COUNT ? dtype_names_[t] : "unknown";
}

void soma_array_deinit(soma_array *a) {
    if (!a) return;
    soma_free(a->data);
    memset(a, 0, sizeof *a);
}

double soma_array_get(const soma_array *a, size_t i) {
    const uint8_t *p = (const uint8_t *)a->data;
    switch (a->dtype) {
    case SOMA_DTYPE_F32: { float v; memcpy(&v, p + 4 * i, 4); return v; }
    case SOMA_DTYPE_F64: { double v; memcpy(&v, p + 8 * i, 8); return v; }
    case SOMA_DTYPE_I32: { int32_t v; memcpy(&v, p + 4 * i, 4); return v; }
    case SOMA_DTYPE_I64: { int64_t v; memcpy(&v, p + 8 * i, 8); return (double)v; }
    case SOMA_DTYPE_U8: return p[i];
    case SOMA_DTYPE_I8: return (int8_t)p[i];
    case SOMA_DTYPE_I16: { int16_t v; memcpy(&v, p + 2 * i, 2); return v; }
    default: return 0.0;
    }
}

/* Converts n elements to float32 (the data are aligned: they come from soma_alloc). */
void soma__array_to_float(const soma_array *a, float *out) {
    const size_t n = a->n;
    switch (a->dtype) {
    case SOMA_DTYPE_F32: memcpy(out, a->data, n * sizeof(float)); break;
    case SOMA_DTYPE_U8: {
        const uint8_t *p = (const uint8_t *)a->data;
        for (size_t i = 0; i < n; i++) out[i] = (float)p[i];
        break;
    }
    default:
        for (size_t i = 0; i < n; i++) out[i] = (float)soma_array_get(a, i);
    }
}

soma_status soma_array_to_f32(const soma_array *a, soma_tensor **out) {
    *out = NULL;
    if (a->dtype < 0 || a->dtype >= SOMA_DTYPE_COUNT || !a->data)
        return soma_error(SOMA_ERR_ARG, "array: not initialised");
    int shape[SOMA_MAX_DIMS], ndim = a->ndim;
    if (ndim == 0) {
        shape[0] = 1;
        ndim = 1;
    } else if (ndim > SOMA_MAX_DIMS) {
        return soma_error(SOMA_ERR_SHAPE, "array: %d dimensions, a tensor holds at most %d",
                          a->ndim, SOMA_MAX_DIMS);
    } else {
        for (int i = 0; i < ndim; i++) {
            if (a->shape[i] < 1 || a->shape[i] > INT32_MAX)
                return soma_error(SOMA_ERR_SHAPE, "array: dimension %d is %lld, a tensor needs 1..%d",
                                  i, (long long)a->shape[i], INT32_MAX);
            shape[i] = (int)a->shape[i];
        }
    }
    soma_tensor *t;
    SOMA_TRY(soma_tensor_new(&t, ndim, shape));
    soma__array_to_float(a, t->data);
    *out = t;
    return SOMA_OK;
}

soma_status soma__array_count(soma_array *a, size_t *bytes, const char *what, const char *label) {
    size_t n = 1;
    for (int i = 0; i < a->ndim; i++) {
        if (a->shape[i] < 0)
            return soma_error(SOMA_ERR_FORMAT, "%s: %s: dimension %d is negative", what, label, i);
        if ((uint64_t)a->shape[i] > SIZE_MAX || !soma_mul_ok(n, (size_t)a->shape[i], &n))
            return soma_error(SOMA_ERR_FORMAT, "%s: %s: element count overflows", what, label);
    }
    if (!soma_mul_ok(n, soma_dtype_size(a->dtype), bytes))
        return soma_error(SOMA_ERR_FORMAT, "%s: %s: byte count overflows", what, label);
    a->n = n;
    return SOMA_OK;
}
