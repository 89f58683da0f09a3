/* libFuzzer target: JSON parsing from memory (no NUL terminator) and printing back. */
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "soma/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cJSON *j = NULL;
    if (soma_json_parse((const char *)data, size, "fuzz.json", &j) == SOMA_OK) {
        char *s = cJSON_PrintUnformatted(j);
        cJSON_free(s);
        cJSON_Delete(j);
    }
    return 0;
}
