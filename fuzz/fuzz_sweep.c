/* libFuzzer target: sweep files (soma_sweep_parse against the train command's options), then
 * each cell's order, paths and records (no data are read, no folders made). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "soma/sweep.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 16384) return 0;
    soma_sweep *s = NULL;
    if (soma_sweep_parse((const char *)data, size, "fuzz.json", soma_classify_train_opts(), "/nonexistent/fuzz", &s) ==
        SOMA_OK) {
        int *order = malloc((size_t)s->n_cells * sizeof *order);
        if (order) soma_sweep_order(s, order);
        free(order);
        char path[1200];
        for (int i = 0; i < s->n_cells && i < 8; i++) {
            soma_sweep_cell_path(s, i, "results.json", path, sizeof path);
            (void)soma_sweep_cell_done(s, i);
        }
        soma_sweep_free(s);
    }
    return 0;
}
