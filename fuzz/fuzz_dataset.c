/* libFuzzer target: a data set from two arrays, as `--data npy:X,Y` and `idx:I,L` build one.
 * The first byte picks the format (even: NPY, odd: IDX), the next two give the length of the
 * image file, the rest is the label file. A data set that builds is subset and batched. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "soma/io.h"

static soma_status parse_(int idx, const uint8_t *p, size_t n, soma_array *a) {
    return idx ? soma_idx_parse(p, n, "fuzz.idx", a) : soma_npy_parse(p, n, "fuzz.npy", a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    int idx = data[0] & 1;
    size_t nx = (size_t)data[1] | (size_t)data[2] << 8;
    data += 3;
    size -= 3;
    if (nx > size) nx = size;
    soma_array x = {0}, y = {0};
    if (parse_(idx, data, nx, &x) == SOMA_OK && parse_(idx, data + nx, size - nx, &y) == SOMA_OK &&
        x.n <= ((size_t)1 << 22)) {
        soma_dataset *d = NULL, *sub = NULL;
        if (soma_dataset_from_arrays(&x, &y, "fuzz", &d) == SOMA_OK) {
            if (d->n > 0 && soma_dataset_subset(d, d->n > 1 ? d->n - 1 : 1, &sub) == SOMA_OK)
                soma_dataset_free(sub);
            if (d->n > 0 && d->dim <= ((size_t)1 << 20)) {
                float *xb = malloc(2 * d->dim * sizeof(float));
                int yb[2], ib[2] = {0, d->n - 1};
                if (xb) soma_dataset_batch(d, ib, 2, xb, yb);
                free(xb);
            }
            soma_dataset_free(d);
        }
    }
    soma_array_deinit(&x);
    soma_array_deinit(&y);
    return 0;
}
