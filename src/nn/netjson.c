// JSON network descriptions: {"layers": [item, ...]} with an item a spec token (string) or
// {"res": [item, ...]}, {"rec": [item, ...]} (a recurrent cell) or
// {"cat": [[item, ...], [item, ...], ...]}. The description is turned
// into the equivalent one-line spec, which is what the net records (checkpoints compare it).
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "nn/internal.h"
#include "soma/io.h"

#define JSON_MAX_DEPTH 32
#define JSON_MAX_SPEC (1u << 16)

typedef struct sbuf_ {
    char *p;
    size_t n, cap;
} sbuf_;

static soma_status put_(sbuf_ *b, const char *s, size_t n) {
    if (b->n + n + 1 > JSON_MAX_SPEC)
        return soma_error(SOMA_ERR_PARSE, "net json: description too long (over %u bytes as a spec)",
                          JSON_MAX_SPEC);
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *q = soma_alloc(cap, 1);
        if (!q) return SOMA_ERR_NOMEM;
        if (b->n) memcpy(q, b->p, b->n);
        soma_free(b->p);
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return SOMA_OK;
}

static soma_status items_(sbuf_ *b, const cJSON *arr, int depth, const char *where);

static soma_status item_(sbuf_ *b, const cJSON *it, int depth, const char *where) {
    if (depth > JSON_MAX_DEPTH)
        return soma_error(SOMA_ERR_PARSE, "net json: %s: nested deeper than %d", where, JSON_MAX_DEPTH);
    if (cJSON_IsString(it)) {
        const char *s = it->valuestring;
        if (!s || !*s) return soma_error(SOMA_ERR_PARSE, "net json: %s: empty layer", where);
        if (strpbrk(s, ",|"))
            return soma_error(SOMA_ERR_PARSE, "net json: %s: '%s' holds ',' or '|' (one layer per string)",
                              where, s);
        return put_(b, s, strlen(s));
    }
    if (!cJSON_IsObject(it) || !it->child || it->child->next)
        return soma_error(SOMA_ERR_PARSE,
                          "net json: %s: want a layer string or an object with one key, \"res\", \"rec\" or \"cat\"",
                          where);
    const cJSON *v = it->child;
    if (!v->string) return soma_error(SOMA_ERR_PARSE, "net json: %s: object without a key", where);
    if (strcmp(v->string, "res") == 0 || strcmp(v->string, "rec") == 0) {
        if (!cJSON_IsArray(v))
            return soma_error(SOMA_ERR_PARSE, "net json: %s: \"%s\" wants a list of layers", where, v->string);
        SOMA_TRY(put_(b, v->string, 3));
        SOMA_TRY(put_(b, "(", 1));
        SOMA_TRY(items_(b, v, depth + 1, v->string));
        return put_(b, ")", 1);
    }
    if (strcmp(v->string, "cat") == 0) {
        if (!cJSON_IsArray(v) || !v->child)
            return soma_error(SOMA_ERR_PARSE, "net json: %s: \"cat\" wants a list of branches", where);
        SOMA_TRY(put_(b, "cat(", 4));
        int i = 0;
        for (const cJSON *br = v->child; br; br = br->next, i++) {
            if (!cJSON_IsArray(br))
                return soma_error(SOMA_ERR_PARSE, "net json: %s: cat branch %d is not a list of layers",
                                  where, i);
            if (i) SOMA_TRY(put_(b, "|", 1));
            SOMA_TRY(items_(b, br, depth + 1, "cat branch"));
        }
        return put_(b, ")", 1);
    }
    return soma_error(SOMA_ERR_PARSE, "net json: %s: unknown key \"%s\" (want \"res\", \"rec\" or \"cat\")", where,
                      v->string);
}

static soma_status items_(sbuf_ *b, const cJSON *arr, int depth, const char *where) {
    if (!arr->child) return soma_error(SOMA_ERR_PARSE, "net json: %s: empty list of layers", where);
    int i = 0;
    for (const cJSON *it = arr->child; it; it = it->next, i++) {
        if (i) SOMA_TRY(put_(b, ",", 1));
        char w[64];
        snprintf(w, sizeof w, "%s item %d", where, i);
        SOMA_TRY(item_(b, it, depth, w));
    }
    return SOMA_OK;
}

soma_status soma__net_json_spec(const char *json, size_t n, char **spec) {
    *spec = NULL;
    cJSON *j = NULL;
    SOMA_TRY(soma_json_parse(json, n, "net json", &j));
    const cJSON *layers = cJSON_IsArray(j) ? j : cJSON_GetObjectItemCaseSensitive(j, "layers");
    soma_status st = SOMA_OK;
    if (!cJSON_IsArray(layers)) {
        st = soma_error(SOMA_ERR_PARSE, "net json: want {\"layers\": [...]}");
    } else if (cJSON_IsObject(j)) {
        for (const cJSON *k = j->child; k && st == SOMA_OK; k = k->next)
            if (!k->string || strcmp(k->string, "layers") != 0)
                st = soma_error(SOMA_ERR_PARSE, "net json: unknown key \"%s\" (only \"layers\")",
                                k->string ? k->string : "");
    }
    sbuf_ b = {0};
    if (st == SOMA_OK) st = items_(&b, layers, 0, "layers");
    cJSON_Delete(j);
    if (st != SOMA_OK) {
        soma_free(b.p);
        return st;
    }
    *spec = b.p;
    return SOMA_OK;
}

soma_status soma_net_new_json(soma_net **out, const char *json, soma_shape in, uint64_t seed) {
    *out = NULL;
    if (!json) return soma_error(SOMA_ERR_PARSE, "net json: no text");
    char *spec;
    SOMA_TRY(soma__net_json_spec(json, strlen(json), &spec));
    soma_status st = soma_net_new(out, spec, in, seed);
    soma_free(spec);
    return st;
}

soma_status soma__net_new_json_file(soma_net **out, const char *path, soma_shape in, uint64_t seed) {
    *out = NULL;
    void *buf = NULL;
    size_t n = 0;
    SOMA_TRY(soma_file_read(path, JSON_MAX_SPEC * 4, &buf, &n));
    char *spec = NULL;
    soma_status st = soma__net_json_spec(buf, n, &spec);
    soma_free(buf);
    if (st != SOMA_OK) return soma_error_wrap(st, "%s", path);
    st = soma_net_new(out, spec, in, seed);
    soma_free(spec);
    return st;
}
