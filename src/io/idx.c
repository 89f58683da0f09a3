// IDX (the MNIST file format), plain or gzip-compressed; big-endian on disk.
#include <stdio.h>
#include <string.h>

#include "io/internal.h"

#define IDX_MAX_HEADER (4 + 4 * SOMA_ARRAY_MAX_DIMS)

static int idx_type_(uint8_t code, soma_dtype *t) {
    switch (code) {
    case 0x08: *t = SOMA_DTYPE_U8; return 1;
    case 0x09: *t = SOMA_DTYPE_I8; return 1;
    case 0x0B: *t = SOMA_DTYPE_I16; return 1;
    case 0x0C: *t = SOMA_DTYPE_I32; return 1;
    case 0x0D: *t = SOMA_DTYPE_F32; return 1;
    case 0x0E: *t = SOMA_DTYPE_F64; return 1;
    default: return 0;
    }
}

/* Parses the header at p (n bytes available) into a (shape, dtype, n); *hdr is its size and
 * *total the size the whole file must have. Does not look at the data. */
static soma_status idx_header_(const uint8_t *p, size_t n, const char *label, soma_array *a,
                               size_t *hdr, size_t *total) {
    memset(a, 0, sizeof *a);
    if (n < 4) return soma_error(SOMA_ERR_FORMAT, "idx: %s: %zu bytes, too short for a header", label, n);
    if (p[0] != 0 || p[1] != 0)
        return soma_error(SOMA_ERR_FORMAT, "idx: %s: bad magic %02x %02x (want 00 00)", label, p[0],
                          p[1]);
    if (!idx_type_(p[2], &a->dtype))
        return soma_error(SOMA_ERR_FORMAT, "idx: %s: unknown data type 0x%02x", label, p[2]);
    int ndim = p[3];
    if (ndim < 1 || ndim > SOMA_ARRAY_MAX_DIMS)
        return soma_error(SOMA_ERR_FORMAT, "idx: %s: %d dimensions (1..%d supported)", label, ndim,
                          SOMA_ARRAY_MAX_DIMS);
    *hdr = 4 + 4 * (size_t)ndim;
    if (n < *hdr)
        return soma_error(SOMA_ERR_FORMAT, "idx: %s: header of %zu bytes cut at %zu", label, *hdr, n);
    a->ndim = ndim;
    for (int d = 0; d < ndim; d++) a->shape[d] = soma__be32(p + 4 + 4 * d);
    size_t bytes;
    soma_status st = soma__array_count(a, &bytes, "idx", label);
    if (st != SOMA_OK || bytes > SIZE_MAX - *hdr) {
        memset(a, 0, sizeof *a);
        return st != SOMA_OK ? st : soma_error(SOMA_ERR_FORMAT, "idx: %s: size overflows", label);
    }
    *total = *hdr + bytes;
    return SOMA_OK;
}

/* "60000 images of 28x28" / "60000 items" */
static void describe_(const soma_array *a, char *buf, size_t cap) {
    int k = snprintf(buf, cap, "%lld %s", (long long)a->shape[0],
                     a->ndim == 1 ? "items" : a->ndim >= 3 ? "images of " : "rows of ");
    for (int d = 1; d < a->ndim && k > 0 && (size_t)k < cap; d++)
        k += snprintf(buf + k, cap - (size_t)k, "%s%lld", d > 1 ? "x" : "", (long long)a->shape[d]);
}

static soma_status size_error_(const soma_array *a, const char *label, size_t have, size_t want) {
    char what[200];
    describe_(a, what, sizeof what);
    return soma_error(SOMA_ERR_FORMAT, "idx: %s: header says %s, file holds %zu of %zu bytes%s",
                      label, what, have, want, have > want ? " (trailing data)" : "");
}

/* Parses a plain (already decompressed) IDX buffer. */
static soma_status idx_parse_plain_(const uint8_t *p, size_t n, const char *label, soma_array *out) {
    size_t hdr, total;
    SOMA_TRY(idx_header_(p, n, label, out, &hdr, &total));
    if (n != total) {
        soma_status st = size_error_(out, label, n, total);
        memset(out, 0, sizeof *out);
        return st;
    }
    size_t bytes = total - hdr, size = soma_dtype_size(out->dtype);
    uint8_t *data = soma_alloc(bytes ? bytes : 1, 1);
    if (!data) {
        memset(out, 0, sizeof *out);
        return soma_error(SOMA_ERR_NOMEM, "idx: %s: out of memory for %zu bytes", label, bytes);
    }
    if (bytes) memcpy(data, p + hdr, bytes);
    if (soma__host_is_le()) soma__byteswap(data, out->n, size);
    out->data = data;
    return SOMA_OK;
}

/* gzip: peek at the header, then inflate exactly the size it announces (so a gzip bomb or
 * a lying header costs no more than the header's size, capped by max_out). */
static soma_status idx_parse_gz_(const uint8_t *p, size_t n, const char *label, size_t max_out,
                                 soma_array *out) {
    uint8_t head[IDX_MAX_HEADER];
    size_t got, hdr, total;
    SOMA_TRY(soma__gunzip_prefix(p, n, head, sizeof head, &got, label));
    SOMA_TRY(idx_header_(head, got, label, out, &hdr, &total));
    if (total > max_out) {
        char what[200];
        describe_(out, what, sizeof what);
        memset(out, 0, sizeof *out);
        return soma_error(SOMA_ERR_FORMAT, "idx: %s: header says %s (%zu bytes), over the %zu-byte limit",
                          label, what, total, max_out);
    }
    void *raw;
    size_t raw_n;
    soma_status st = soma_gunzip(p, n, total, &raw, &raw_n);
    if (st != SOMA_OK) {
        char what[200];
        describe_(out, what, sizeof what);
        memset(out, 0, sizeof *out);
        return soma_error_wrap(st, "idx: %s: header says %s (%zu bytes)", label, what, total);
    }
    if (raw_n != total) {
        st = size_error_(out, label, raw_n, total);
        soma_free(raw);
        memset(out, 0, sizeof *out);
        return st;
    }
    /* reuse the inflated buffer: slide the data to its front (no second copy) */
    memmove(raw, (uint8_t *)raw + hdr, total - hdr);
    if (soma__host_is_le()) soma__byteswap(raw, out->n, soma_dtype_size(out->dtype));
    out->data = raw;
    return SOMA_OK;
}

static soma_status idx_parse_(const void *buf, size_t n, const char *label, size_t max_out,
                              soma_array *out) {
    memset(out, 0, sizeof *out);
    if (!label) label = "<memory>";
    if (soma__is_gzip(buf, n)) return idx_parse_gz_((const uint8_t *)buf, n, label, max_out, out);
    return idx_parse_plain_((const uint8_t *)buf, n, label, out);
}

soma_status soma_idx_parse(const void *buf, size_t n, const char *label, soma_array *out) {
    return idx_parse_(buf, n, label, SOMA_IO_DEFAULT_MAX, out);
}

soma_status soma_idx_read(const char *path, soma_array *out) {
    void *buf;
    size_t n;
    memset(out, 0, sizeof *out);
    SOMA_TRY(soma_file_read(path, 0, &buf, &n));
    soma_status st = idx_parse_(buf, n, path, SOMA_IO_DEFAULT_MAX, out);
    soma_free(buf);
    return st;
}
