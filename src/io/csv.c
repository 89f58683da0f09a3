// Numeric CSV: comma-separated floats, an optional header row of (maybe quoted) names.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/internal.h"

#define CSV_MAX_BYTES ((size_t)1 << 31)
#define CSV_MAX_FIELD 4096

/* One field starting at *pp (line ends at end): unquoted and copied into out (cap bytes).
 * Returns 0 on a malformed field (unterminated quote, too long). *pp moves past the comma. */
static int next_field_(const char **pp, const char *end, char *out, size_t cap, int *last) {
    const char *p = *pp;
    size_t k = 0;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    if (p < end && *p == '"') {
        p++;
        for (;;) {
            if (p >= end) return 0;
            if (*p == '"') {
                if (p + 1 < end && p[1] == '"') p++;
                else break;
            }
            if (k + 1 >= cap) return 0;
            out[k++] = *p++;
        }
        p++;
        while (p < end && (*p == ' ' || *p == '\t')) p++;
        if (p < end && *p != ',') return 0;
    } else {
        while (p < end && *p != ',') {
            if (k + 1 >= cap) return 0;
            out[k++] = *p++;
        }
        while (k > 0 && (out[k - 1] == ' ' || out[k - 1] == '\t')) k--;
    }
    out[k] = 0;
    *last = p >= end;
    *pp = p < end ? p + 1 : p;
    return 1;
}

static int parse_float_(const char *s, float *v) {
    if (!s[0]) return 0;
    char *e;
    errno = 0;
    double d = strtod(s, &e);
    if (*e) return 0;
    *v = (float)d;
    return 1;
}

void soma_csv_free_header(char **names, int cols) {
    if (!names) return;
    for (int i = 0; i < cols; i++) soma_free(names[i]);
    soma_free(names);
}

/* Counts fields of a line (quote-aware), or -1 when malformed. */
static long count_fields_(const char *p, const char *end, char *tmp) {
    long c = 0;
    int last = 0;
    while (!last) {
        if (!next_field_(&p, end, tmp, CSV_MAX_FIELD, &last)) return -1;
        c++;
    }
    return c;
}

static int blank_(const char *p, const char *end) {
    for (; p < end; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r') return 0;
    return 1;
}

soma_status soma_csv_parse(const char *buf, size_t n, const char *label, soma_tensor **out,
                           char ***header_names) {
    *out = NULL;
    if (header_names) *header_names = NULL;
    if (!label) label = "<memory>";
    if (n > CSV_MAX_BYTES)
        return soma_error(SOMA_ERR_PARSE, "csv: %s: %zu bytes, over the %zu-byte limit", label, n,
                          CSV_MAX_BYTES);
    char *tmp = soma_alloc(CSV_MAX_FIELD, 1);
    if (!tmp) return SOMA_ERR_NOMEM;
    soma_status st = SOMA_OK;
    char **names = NULL;
    soma_tensor *t = NULL;
    long cols = -1, rows = 0, header_line = 0, cols_line = 0;
    /* Pass 1: the shape (and header detection); pass 2: the values. */
    for (int pass = 0; pass < 2 && st == SOMA_OK; pass++) {
        const char *p = buf, *bend = buf + n;
        long line = 0, r = 0;
        while (p < bend && st == SOMA_OK) {
            size_t rest = (size_t)(bend - p);
            const char *nl = memchr(p, '\n', rest);
            size_t len = nl ? (size_t)(nl - p) : rest;
            const char *next = nl ? nl + 1 : bend;
            if (len > 0 && p[len - 1] == '\r') len--;
            const char *e = p + len;
            line++;
            if (len > 0 && memchr(p, 0, len)) {
                st = soma_error(SOMA_ERR_PARSE, "csv: %s: line %ld: NUL byte", label, line);
                break;
            }
            if (blank_(p, e) || line == header_line) {
                p = next;
                continue;
            }
            if (pass == 0) {
                long c = count_fields_(p, e, tmp);
                if (c < 0) {
                    st = soma_error(SOMA_ERR_PARSE, "csv: %s: line %ld: bad quoting or a field over %d bytes",
                                    label, line, CSV_MAX_FIELD - 1);
                    break;
                }
                if (cols < 0) {
                    cols = c;
                    cols_line = line;
                    /* header iff some field of the first row is not a number */
                    const char *q = p;
                    int last = 0, numeric = 1;
                    float v;
                    while (!last && next_field_(&q, e, tmp, CSV_MAX_FIELD, &last))
                        if (!parse_float_(tmp, &v)) numeric = 0;
                    if (!numeric) {
                        header_line = line;
                        p = next;
                        continue;
                    }
                } else if (c != cols) {
                    st = soma_error(SOMA_ERR_PARSE, "csv: %s: line %ld has %ld columns, line %ld has %ld",
                                    label, line, c, cols_line, cols);
                    break;
                }
                r++;
            } else {
                int last = 0;
                for (long j = 0; j < cols; j++) {
                    next_field_(&p, e, tmp, CSV_MAX_FIELD, &last);
                    float v;
                    if (!parse_float_(tmp, &v)) {
                        st = soma_error(SOMA_ERR_PARSE, "csv: %s: line %ld, column %ld: '%.40s' is not a number",
                                        label, line, j + 1, tmp);
                        break;
                    }
                    t->data[(size_t)r * (size_t)cols + (size_t)j] = v;
                }
                r++;
            }
            p = next;
        }
        if (st != SOMA_OK) break;
        if (pass == 0) {
            rows = r;
            if (rows == 0 || cols < 1) {
                st = soma_error(SOMA_ERR_PARSE, "csv: %s: no data rows", label);
                break;
            }
            if (rows > INT32_MAX || cols > INT32_MAX) {
                st = soma_error(SOMA_ERR_PARSE, "csv: %s: %ld x %ld is too large", label, rows, cols);
                break;
            }
            st = soma_tensor_new(&t, 2, (int[]){(int)rows, (int)cols});
        }
    }
    if (st == SOMA_OK && header_line && header_names) {
        /* find the header line again and keep its names */
        const char *p = buf;
        for (long line = 1; line < header_line; line++) p = (const char *)memchr(p, '\n', (size_t)(buf + n - p)) + 1;
        const char *e = memchr(p, '\n', (size_t)(buf + n - p));
        if (!e) e = buf + n;
        if (e > p && e[-1] == '\r') e--;
        names = soma_calloc((size_t)cols, sizeof(char *));
        if (!names) st = SOMA_ERR_NOMEM;
        int last = 0;
        for (long j = 0; st == SOMA_OK && j < cols; j++) {
            next_field_(&p, e, tmp, CSV_MAX_FIELD, &last);
            size_t len = strlen(tmp);
            names[j] = soma_alloc(len + 1, 1);
            if (!names[j]) st = SOMA_ERR_NOMEM;
            else memcpy(names[j], tmp, len + 1);
        }
    }
    soma_free(tmp);
    if (st != SOMA_OK) {
        soma_tensor_free(t);
        soma_csv_free_header(names, (int)cols);
        return st;
    }
    *out = t;
    if (header_names) *header_names = names;
    return SOMA_OK;
}

soma_status soma_csv_read(const char *path, soma_tensor **out, char ***header_names) {
    void *buf;
    size_t n;
    *out = NULL;
    if (header_names) *header_names = NULL;
    SOMA_TRY(soma_file_read(path, CSV_MAX_BYTES, &buf, &n));
    soma_status st = soma_csv_parse(buf, n, path, out, header_names);
    soma_free(buf);
    return st;
}

soma_status soma_csv_write(const char *path, const float *x, int rows, int cols,
                           const char *const *header) {
    if (rows < 0 || cols < 1)
        return soma_error(SOMA_ERR_ARG, "csv: %s: %d rows x %d columns", path, rows, cols);
    soma_atomic_file af;
    SOMA_TRY(soma_atomic_open(&af, path));
    FILE *f = af.f;
    int ok = 1;
    if (header) {
        for (int j = 0; j < cols && ok; j++) {
            const char *s = header[j] ? header[j] : "";
            ok = fputc('"', f) != EOF;
            for (; *s && ok; s++) {
                if (*s == '"') ok = fputc('"', f) != EOF;
                if (*s == '\n' || *s == '\r') continue;
                ok = ok && fputc(*s, f) != EOF;
            }
            ok = ok && fputs(j + 1 < cols ? "\"," : "\"\n", f) != EOF;
        }
    }
    for (int i = 0; i < rows && ok; i++)
        for (int j = 0; j < cols && ok; j++)
            ok = fprintf(f, "%.9g%c", (double)x[(size_t)i * (size_t)cols + (size_t)j],
                         j + 1 < cols ? ',' : '\n') > 0;
    if (!ok) {
        soma_atomic_abort(&af);
        return soma_error(SOMA_ERR_IO, "csv: %s: write failed", path);
    }
    return soma_atomic_commit(&af);
}
