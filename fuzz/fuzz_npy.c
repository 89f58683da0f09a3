/* libFuzzer target: NPY parsing from memory (and conversion to float32). */
#include <stddef.h>
#include <stdint.h>

#include "soma/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    soma_array a;
    if (soma_npy_parse(data, size, "fuzz.npy", &a) == SOMA_OK) {
        soma_tensor *t = NULL;
        if (soma_array_to_f32(&a, &t) == SOMA_OK) soma_tensor_free(t);
        if (a.n) (void)soma_array_get(&a, a.n - 1);
        soma_array_deinit(&a);
    }
    return 0;
}
