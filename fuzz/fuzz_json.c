/* libFuzzer target: JSON parsing from memory (no NUL terminator) and printing back; the
 * syntax checker that tells out of memory from bad text never accepts what cJSON refuses. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "soma/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cJSON *j = NULL;
    soma_status st = soma_json_parse((const char *)data, size, "fuzz.json", &j);
    /* Memory never runs out here: out of memory would mean soma's syntax checker accepted
     * text that cJSON refused (it must be at least as strict). */
    if (st == SOMA_ERR_NOMEM) abort();
    if (st == SOMA_OK) {
        char *s = cJSON_PrintUnformatted(j);
        cJSON_free(s);
        cJSON_Delete(j);
    }
    return 0;
}
