/* libFuzzer target: the JSON-lines reader of `soma fit-scaling` (soma_scaling_parse_jsonl) for
 * every law, from memory (no NUL terminator). Whatever it accepts must be points the fit takes:
 * finite, positive values where the law uses them. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "soma/core.h"
#include "soma/scaling.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    for (int law = 0; law < SOMA_SCALING_LAW_COUNT; law++) {
        soma_scaling_point *p = NULL;
        int n = 0;
        soma_status st = soma_scaling_parse_jsonl((const char *)data, size, "fuzz.jsonl", (soma_scaling_law)law, &p, &n);
        if (st == SOMA_ERR_NOMEM) abort(); /* inputs are small: memory never runs out */
        if (st != SOMA_OK) {
            if (p || !soma_errmsg()[0]) abort(); /* a failure leaves no points and says why */
            continue;
        }
        if (!p || n < 1) abort();
        for (int i = 0; i < n; i++) {
            if (!(isfinite(p[i].loss) && p[i].loss > 0)) abort();
            if (law != SOMA_SCALING_D && !(isfinite(p[i].n_params) && p[i].n_params > 0)) abort();
            if (law != SOMA_SCALING_N && !(isfinite(p[i].n_data) && p[i].n_data > 0)) abort();
        }
        soma_free(p);
    }
    return 0;
}
