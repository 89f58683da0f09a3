/* libFuzzer target: IDX parsing from memory, plain and gzip (detected by magic), plus the
 * bare gunzip with a small output cap. */
#include <stddef.h>
#include <stdint.h>

#include "soma/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    soma_array a;
    if (soma_idx_parse(data, size, "fuzz.idx", &a) == SOMA_OK) {
        if (a.n) (void)soma_array_get(&a, a.n - 1);
        soma_array_deinit(&a);
    }
    void *out;
    size_t n;
    if (soma_gunzip(data, size, 1 << 20, &out, &n) == SOMA_OK) soma_free(out);
    return 0;
}
