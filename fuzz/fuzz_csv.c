/* libFuzzer target: numeric CSV parsing from memory, with and without header names. */
#include <stddef.h>
#include <stdint.h>

#include "soma/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    soma_tensor *t = NULL;
    char **names = NULL;
    if (soma_csv_parse((const char *)data, size, "fuzz.csv", &t, &names) == SOMA_OK) {
        soma_csv_free_header(names, t->shape[1]);
        soma_tensor_free(t);
    }
    if (soma_csv_parse((const char *)data, size, "fuzz.csv", &t, NULL) == SOMA_OK)
        soma_tensor_free(t);
    return 0;
}
