// JSON files through cJSON: parse with a size cap and a line number on error; atomic write.
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "io/internal.h"

#define JSON_MAX_BYTES ((size_t)256 << 20)

// --- telling a syntax error from out of memory --------------------------------------------
// cJSON returns NULL for both. When it fails, this allocation-free checker, at least as strict
// as cJSON everywhere (RFC 8259, cJSON's nesting limit, its 63-character numbers, paired
// surrogates), decides: text it rejects is a syntax error; text it accepts made cJSON fail
// for want of memory.

typedef struct jv_ {
    const unsigned char *p, *e;
} jv_;

static void jv_ws_(jv_ *v) {
    while (v->p < v->e && (*v->p == ' ' || *v->p == '\t' || *v->p == '\n' || *v->p == '\r')) v->p++;
}

static int jv_hex4_(jv_ *v, unsigned *u) {
    if (v->e - v->p < 4) return 0;
    *u = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = v->p[i];
        unsigned d = c >= '0' && c <= '9' ? c - '0' + 0u : c >= 'a' && c <= 'f' ? c - 'a' + 10u
                   : c >= 'A' && c <= 'F' ? c - 'A' + 10u : 16u;
        if (d > 15) return 0;
        *u = *u << 4 | d;
    }
    v->p += 4;
    return 1;
}

static int jv_string_(jv_ *v) {
    v->p++; /* the opening quote */
    while (v->p < v->e) {
        unsigned char c = *v->p++;
        if (c == '"') return 1;
        if (c < 0x20) return 0;
        if (c != '\\') continue;
        if (v->p >= v->e) return 0;
        c = *v->p++;
        if (c == 'u') {
            unsigned u, lo;
            if (!jv_hex4_(v, &u)) return 0;
            if (u >= 0xDC00 && u <= 0xDFFF) return 0;
            if (u >= 0xD800 && u <= 0xDBFF) { /* a high surrogate needs its low half */
                if (v->e - v->p < 2 || v->p[0] != '\\' || v->p[1] != 'u') return 0;
                v->p += 2;
                if (!jv_hex4_(v, &lo) || lo < 0xDC00 || lo > 0xDFFF) return 0;
            }
        } else if (!strchr("\"\\/bfnrt", c) || c == 0) {
            return 0;
        }
    }
    return 0;
}

static int jv_number_(jv_ *v) {
    const unsigned char *s = v->p;
    if (v->p < v->e && *v->p == '-') v->p++;
    if (v->p >= v->e || *v->p < '0' || *v->p > '9') return 0;
    if (*v->p == '0') v->p++;
    else
        while (v->p < v->e && *v->p >= '0' && *v->p <= '9') v->p++;
    if (v->p < v->e && *v->p == '.') {
        v->p++;
        if (v->p >= v->e || *v->p < '0' || *v->p > '9') return 0;
        while (v->p < v->e && *v->p >= '0' && *v->p <= '9') v->p++;
    }
    if (v->p < v->e && (*v->p == 'e' || *v->p == 'E')) {
        v->p++;
        if (v->p < v->e && (*v->p == '+' || *v->p == '-')) v->p++;
        if (v->p >= v->e || *v->p < '0' || *v->p > '9') return 0;
        while (v->p < v->e && *v->p >= '0' && *v->p <= '9') v->p++;
    }
    return v->p - s <= 63; /* cJSON 1.7's number buffer */
}

static int jv_value_(jv_ *v, int depth) {
    jv_ws_(v);
    if (v->p >= v->e) return 0;
    unsigned char c = *v->p;
    if (c == '"') return jv_string_(v);
    if (c == '-' || (c >= '0' && c <= '9')) return jv_number_(v);
    static const char *const words[3] = {"null", "true", "false"};
    for (int i = 0; i < 3; i++) {
        size_t l = strlen(words[i]);
        if ((size_t)(v->e - v->p) >= l && memcmp(v->p, words[i], l) == 0) {
            v->p += l;
            return 1;
        }
    }
    if (c != '[' && c != '{') return 0;
    if (depth + 1 >= CJSON_NESTING_LIMIT) return 0;
    unsigned char close = c == '[' ? ']' : '}';
    v->p++;
    jv_ws_(v);
    if (v->p < v->e && *v->p == close) {
        v->p++;
        return 1;
    }
    for (;;) {
        if (close == '}') {
            jv_ws_(v);
            if (v->p >= v->e || *v->p != '"' || !jv_string_(v)) return 0;
            jv_ws_(v);
            if (v->p >= v->e || *v->p != ':') return 0;
            v->p++;
        }
        if (!jv_value_(v, depth + 1)) return 0;
        jv_ws_(v);
        if (v->p >= v->e) return 0;
        if (*v->p == close) {
            v->p++;
            return 1;
        }
        if (*v->p++ != ',') return 0;
    }
}

/* 1 when buf[0..n) starts with one well-formed JSON value (what cJSON parses). */
static int json_well_formed_(const char *buf, size_t n) {
    jv_ v = {(const unsigned char *)buf, (const unsigned char *)buf + n};
    /* cJSON skips a BOM, but only in a text of 5 bytes or more */
    if (n >= 5 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0) v.p += 3;
    return jv_value_(&v, 0);
}

soma_status soma_json_parse(const char *buf, size_t n, const char *label, struct cJSON **out) {
    *out = NULL;
    if (!label) label = "<memory>";
    if (n > JSON_MAX_BYTES)
        return soma_error(SOMA_ERR_PARSE, "json: %s: %zu bytes, over the %zu-byte limit", label, n,
                          JSON_MAX_BYTES);
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(buf, n, &end, 0);
    if (!j) {
        if (json_well_formed_(buf, n))
            return soma_error(SOMA_ERR_NOMEM, "json: %s: out of memory while parsing %zu bytes",
                              label, n);
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
