// JSON files through cJSON: parse with a size cap and a line number on error; atomic write.
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "io/internal.h"

#define JSON_MAX_BYTES ((size_t)256 << 20)

soma_status soma_json_parse(const char *buf, size_t n, const char *label, struct cJSON **out) {
    *out = NULL;
    if (!label) label = "<memory>";
    if (n > JSON_MAX_BYTES)
        return soma_error(SOMA_ERR_PARSE, "json: %s: %zu bytes, over the %zu-byte limit", label, n,
                          JSON_MAX_BYTES);
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(buf, n, &end, 0);
    if (!j) {
        size_t off = end && end >= buf && end <= buf + n ? (size_t)(end - buf) : 0;
        long line = 1, col = 1;
        for (size_t i = 0; i < off; i++) {
            if (buf[i] == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        return soma_error(SOMA_ERR_PARSE, "json: %s: syntax error at line %ld, column %ld", label,
                          line, col);
    }
    /* only whitespace may follow the value */
    if (end) {
        const char *p = end, *e = buf + n;
        while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == 0)) p++;
        if (p < e) {
            cJSON_Delete(j);
            return soma_error(SOMA_ERR_PARSE, "json: %s: trailing text after the value at byte %zu",
                              label, (size_t)(p - buf));
        }
    }
    *out = j;
    return SOMA_OK;
}

soma_status soma_json_read(const char *path, struct cJSON **out) {
    void *buf;
    size_t n;
    *out = NULL;
    SOMA_TRY(soma_file_read(path, JSON_MAX_BYTES, &buf, &n));
    soma_status st = soma_json_parse((const char *)buf, n, path, out);
    soma_free(buf);
    return st;
}

soma_status soma_json_write(const char *path, const struct cJSON *json) {
    if (!json) return soma_error(SOMA_ERR_ARG, "json: %s: nothing to write", path);
    char *txt = cJSON_Print(json);
    if (!txt) return soma_error(SOMA_ERR_NOMEM, "json: %s: cannot print (out of memory)", path);
    size_t len = strlen(txt);
    soma_atomic_file af;
    soma_status st = soma_atomic_open(&af, path);
    if (st == SOMA_OK) {
        if (fwrite(txt, 1, len, af.f) != len || fputc('\n', af.f) == EOF) {
            soma_atomic_abort(&af);
            st = soma_error(SOMA_ERR_IO, "json: %s: write failed", path);
        } else {
            st = soma_atomic_commit(&af);
        }
    }
    cJSON_free(txt);
    return st;
}
