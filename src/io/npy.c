// NPY: NumPy's array file format, versions 1.0, 2.0 and 3.0.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/internal.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAX_HEADER (1u << 20) /* NumPy itself refuses headers over 10 kB by default */

// --- header dictionary -----------------------------------------------------------------

typedef struct {
    const char *p, *end;
} npy_lex;

static void skip_ws_(npy_lex *lx) {
    while (lx->p < lx->end && (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\n' || *lx->p == '\r'))
        lx->p++;
}

static int eat_(npy_lex *lx, char c) {
    skip_ws_(lx);
    if (lx->p < lx->end && *lx->p == c) {
        lx->p++;
        return 1;
    }
    return 0;
}

/* A quoted string (single or double quotes, no escapes) into out (cap bytes). */
static int string_(npy_lex *lx, char *out, size_t cap) {
    skip_ws_(lx);
    if (lx->p >= lx->end || (*lx->p != '\'' && *lx->p != '"')) return 0;
    char q = *lx->p++;
    size_t k = 0;
    while (lx->p < lx->end && *lx->p != q) {
        if (k + 1 >= cap) return 0;
        out[k++] = *lx->p++;
    }
    if (lx->p >= lx->end) return 0;
    lx->p++;
    out[k] = 0;
    return 1;
}

static int word_(npy_lex *lx, const char *w) {
    skip_ws_(lx);
    size_t len = strlen(w);
    if ((size_t)(lx->end - lx->p) >= len && memcmp(lx->p, w, len) == 0) {
        lx->p += len;
        return 1;
    }
    return 0;
}

/* A non-negative decimal integer (an optional trailing L from Python 2 is accepted). */
static int int_(npy_lex *lx, int64_t *v) {
    skip_ws_(lx);
    if (lx->p >= lx->end || *lx->p < '0' || *lx->p > '9') return 0;
    uint64_t x = 0;
    while (lx->p < lx->end && *lx->p >= '0' && *lx->p <= '9') {
        x = x * 10 + (uint64_t)(*lx->p - '0');
        if (x > (uint64_t)INT64_MAX / 16) return 0;
        lx->p++;
    }
    if (lx->p < lx->end && *lx->p == 'L') lx->p++;
    *v = (int64_t)x;
    return 1;
}

typedef struct {
    soma_dtype dtype;
    int swap;    /* data are in the other byte order than the host's */
    int fortran; /* column-major on disk */
    int ndim;
    int64_t shape[SOMA_ARRAY_MAX_DIMS];
} npy_header;

static soma_status descr_(const char *d, npy_header *h, const char *label) {
    static const struct {
        const char *code;
        soma_dtype t;
    } codes[] = {{"f4", SOMA_DTYPE_F32}, {"f8", SOMA_DTYPE_F64}, {"i4", SOMA_DTYPE_I32},
                 {"i8", SOMA_DTYPE_I64}, {"u1", SOMA_DTYPE_U8},  {"i1", SOMA_DTYPE_I8},
                 {"i2", SOMA_DTYPE_I16}, {"b1", SOMA_DTYPE_U8}};
    char order = d[0];
    if (order != '<' && order != '>' && order != '|' && order != '=')
        return soma_error(SOMA_ERR_FORMAT, "npy: %s: dtype '%s' not supported", label, d);
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        if (strcmp(d + 1, codes[i].code) != 0) continue;
        h->dtype = codes[i].t;
        size_t size = soma_dtype_size(h->dtype);
        if (order == '|' && size > 1)
            return soma_error(SOMA_ERR_FORMAT, "npy: %s: dtype '%s' lacks a byte order", label, d);
        int file_le = order == '<' || (order == '=' && soma__host_is_le());
        h->swap = size > 1 && order != '|' && file_le != soma__host_is_le();
        return SOMA_OK;
    }
    return soma_error(SOMA_ERR_FORMAT,
                      "npy: %s: dtype '%s' not supported (f4 f8 i4 i8 u1 i1 i2 are)", label, d);
}

static soma_status parse_header_(const char *txt, size_t len, npy_header *h, const char *label) {
    npy_lex lx = {txt, txt + len};
    int have_descr = 0, have_order = 0, have_shape = 0;
    memset(h, 0, sizeof *h);
    if (!eat_(&lx, '{')) return soma_error(SOMA_ERR_FORMAT, "npy: %s: header is not a dict", label);
    while (!eat_(&lx, '}')) {
        char key[32], val[32];
        if (!string_(&lx, key, sizeof key) || !eat_(&lx, ':'))
            return soma_error(SOMA_ERR_FORMAT, "npy: %s: bad header near offset %d", label,
                              (int)(lx.p - txt));
        if (strcmp(key, "descr") == 0) {
            if (!string_(&lx, val, sizeof val))
                return soma_error(SOMA_ERR_FORMAT, "npy: %s: 'descr' is not a simple dtype string",
                                  label);
            SOMA_TRY(descr_(val, h, label));
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (word_(&lx, "True")) h->fortran = 1;
            else if (word_(&lx, "False")) h->fortran = 0;
            else return soma_error(SOMA_ERR_FORMAT, "npy: %s: 'fortran_order' is not True/False", label);
            have_order = 1;
        } else if (strcmp(key, "shape") == 0) {
            if (!eat_(&lx, '('))
                return soma_error(SOMA_ERR_FORMAT, "npy: %s: 'shape' is not a tuple", label);
            h->ndim = 0;
            while (!eat_(&lx, ')')) {
                int64_t v;
                if (h->ndim >= SOMA_ARRAY_MAX_DIMS)
                    return soma_error(SOMA_ERR_FORMAT, "npy: %s: more than %d dimensions", label,
                                      SOMA_ARRAY_MAX_DIMS);
                if (!int_(&lx, &v))
                    return soma_error(SOMA_ERR_FORMAT, "npy: %s: bad dimension in 'shape'", label);
                h->shape[h->ndim++] = v;
                if (!eat_(&lx, ',')) {
                    if (!eat_(&lx, ')'))
                        return soma_error(SOMA_ERR_FORMAT, "npy: %s: bad 'shape' tuple", label);
                    break;
                }
            }
            have_shape = 1;
        } else {
            return soma_error(SOMA_ERR_FORMAT, "npy: %s: unexpected header key '%s'", label, key);
        }
        if (!eat_(&lx, ',')) {
            if (!eat_(&lx, '}')) return soma_error(SOMA_ERR_FORMAT, "npy: %s: bad header dict", label);
            break;
        }
    }
    if (!have_descr || !have_order || !have_shape)
        return soma_error(SOMA_ERR_FORMAT, "npy: %s: header lacks '%s'", label,
                          !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");
    return SOMA_OK;
}

// --- reading ---------------------------------------------------------------------------

/* Fortran (column-major) to C (row-major) order, element by element. */
static void fortran_to_c_(uint8_t *dst, const uint8_t *src, const npy_header *h, size_t n,
                          size_t size) {
    int64_t idx[SOMA_ARRAY_MAX_DIMS] = {0};
    size_t fstride[SOMA_ARRAY_MAX_DIMS];
    size_t s = 1;
    for (int d = 0; d < h->ndim; d++) {
        fstride[d] = s;
        s *= (size_t)h->shape[d];
    }
    for (size_t i = 0; i < n; i++) {
        size_t off = 0;
        for (int d = 0; d < h->ndim; d++) off += (size_t)idx[d] * fstride[d];
        memcpy(dst + i * size, src + off * size, size);
        for (int d = h->ndim - 1; d >= 0; d--) { /* advance the C-order index */
            if (++idx[d] < h->shape[d]) break;
            idx[d] = 0;
        }
    }
}

soma_status soma_npy_parse(const void *buf, size_t n, const char *label, soma_array *out) {
    const uint8_t *p = (const uint8_t *)buf;
    memset(out, 0, sizeof *out);
    if (!label) label = "<memory>";
    if (n < 10 || memcmp(p, NPY_MAGIC, 6) != 0)
        return soma_error(SOMA_ERR_FORMAT, "npy: %s: not an NPY file (bad magic)", label);
    int major = p[6], minor = p[7];
    size_t hlen, start;
    if (major == 1) {
        hlen = (size_t)p[8] | ((size_t)p[9] << 8);
        start = 10;
    } else if (major == 2 || major == 3) {
        if (n < 12) return soma_error(SOMA_ERR_FORMAT, "npy: %s: truncated header", label);
        hlen = soma__le32(p + 8);
        start = 12;
    } else {
        return soma_error(SOMA_ERR_FORMAT, "npy: %s: version %d.%d not supported (1.0-3.0 are)",
                          label, major, minor);
    }
    if (hlen > NPY_MAX_HEADER)
        return soma_error(SOMA_ERR_FORMAT, "npy: %s: header of %zu bytes is absurd", label, hlen);
    if (hlen > n - start)
        return soma_error(SOMA_ERR_FORMAT, "npy: %s: header says %zu bytes, file holds %zu", label,
                          hlen, n - start);
    npy_header h;
    SOMA_TRY(parse_header_((const char *)p + start, hlen, &h, label));
    out->dtype = h.dtype;
    out->ndim = h.ndim;
    memcpy(out->shape, h.shape, sizeof h.shape);
    size_t bytes, size = soma_dtype_size(h.dtype);
    soma_status st = soma__array_count(out, &bytes, "npy", label);
    if (st != SOMA_OK) {
        memset(out, 0, sizeof *out);
        return st;
    }
    size_t have = n - start - hlen;
    if (have != bytes) {
        char dims[160] = "";
        size_t k = 0;
        for (int d = 0; d < h.ndim && k < sizeof dims - 24; d++)
            k += (size_t)snprintf(dims + k, sizeof dims - k, "%s%lld", d ? "x" : "",
                                  (long long)h.shape[d]);
        memset(out, 0, sizeof *out);
        return soma_error(SOMA_ERR_FORMAT,
                          "npy: %s: header says %s array of shape (%s), %zu bytes of data; file "
                          "holds %zu",
                          label, soma_dtype_name(h.dtype), dims, bytes, have);
    }
    uint8_t *data = soma_alloc(bytes ? bytes : 1, 1);
    if (!data) {
        memset(out, 0, sizeof *out);
        return soma_error(SOMA_ERR_NOMEM, "npy: %s: out of memory for %zu bytes", label, bytes);
    }
    const uint8_t *src = p + start + hlen;
    if (h.fortran && h.ndim > 1) fortran_to_c_(data, src, &h, out->n, size);
    else if (bytes) memcpy(data, src, bytes);
    if (h.swap) soma__byteswap(data, out->n, size);
    out->data = data;
    return SOMA_OK;
}

soma_status soma_npy_read(const char *path, soma_array *out) {
    void *buf;
    size_t n;
    memset(out, 0, sizeof *out);
    SOMA_TRY(soma_file_read(path, 0, &buf, &n));
    soma_status st = soma_npy_parse(buf, n, path, out);
    soma_free(buf);
    return st;
}

// --- writing ---------------------------------------------------------------------------

static const char *descr_le_(soma_dtype t) {
    switch (t) {
    case SOMA_DTYPE_F32: return "<f4";
    case SOMA_DTYPE_F64: return "<f8";
    case SOMA_DTYPE_I32: return "<i4";
    case SOMA_DTYPE_I64: return "<i8";
    case SOMA_DTYPE_U8: return "|u1";
    case SOMA_DTYPE_I8: return "|i1";
    case SOMA_DTYPE_I16: return "<i2";
    default: return NULL;
    }
}

soma_status soma_npy_write(const char *path, soma_dtype dtype, int ndim, const int64_t *shape,
                           const void *data) {
    const char *descr = descr_le_(dtype);
    if (!descr) return soma_error(SOMA_ERR_ARG, "npy: %s: unknown dtype %d", path, (int)dtype);
    if (ndim < 0 || ndim > SOMA_ARRAY_MAX_DIMS)
        return soma_error(SOMA_ERR_ARG, "npy: %s: %d dimensions (0..%d allowed)", path, ndim,
                          SOMA_ARRAY_MAX_DIMS);
    soma_array a = {.dtype = dtype, .ndim = ndim};
    for (int d = 0; d < ndim; d++) a.shape[d] = shape[d];
    size_t bytes, size = soma_dtype_size(dtype);
    if (soma__array_count(&a, &bytes, "npy", path) != SOMA_OK)
        return soma_error(SOMA_ERR_ARG, "npy: %s: bad or overflowing shape", path);

    /* The dict as NumPy writes it, then spaces and '\n' up to a multiple of 64 bytes. */
    char dict[512];
    int k = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int d = 0; d < ndim; d++)
        k += snprintf(dict + k, sizeof dict - (size_t)k, "%lld%s", (long long)shape[d],
                      ndim == 1 ? "," : d + 1 < ndim ? ", " : "");
    k += snprintf(dict + k, sizeof dict - (size_t)k, "), }");
    size_t dlen = (size_t)k, pre = 10, total;
    total = pre + dlen + 1;
    int major = 1;
    if ((total + 63) / 64 * 64 - pre > 65535) { /* cannot happen with 8 dims, kept for form */
        major = 2;
        pre = 12;
        total = pre + dlen + 1;
    }
    total = (total + 63) / 64 * 64;
    size_t hlen = total - pre;
    uint8_t head[640];
    memcpy(head, NPY_MAGIC, 6);
    head[6] = (uint8_t)major;
    head[7] = 0;
    if (major == 1) {
        head[8] = (uint8_t)(hlen & 0xff);
        head[9] = (uint8_t)(hlen >> 8);
    } else {
        for (int i = 0; i < 4; i++) head[8 + i] = (uint8_t)(hlen >> (8 * i));
    }
    memcpy(head + pre, dict, dlen);
    memset(head + pre + dlen, ' ', hlen - dlen - 1);
    head[total - 1] = '\n';

    soma_atomic_file af;
    SOMA_TRY(soma_atomic_open(&af, path));
    int ok = fwrite(head, 1, total, af.f) == total;
    if (ok && (soma__host_is_le() || size == 1)) {
        ok = bytes == 0 || fwrite(data, 1, bytes, af.f) == bytes;
    } else if (ok) { /* big-endian host: swap through a small buffer */
        uint8_t tmp[4096];
        const uint8_t *src = (const uint8_t *)data;
        size_t per = sizeof tmp / size;
        for (size_t i = 0; ok && i < a.n; i += per) {
            size_t m = a.n - i < per ? a.n - i : per;
            memcpy(tmp, src + i * size, m * size);
            soma__byteswap(tmp, m, size);
            ok = fwrite(tmp, size, m, af.f) == m;
        }
    }
    if (!ok) {
        soma_atomic_abort(&af);
        return soma_error(SOMA_ERR_IO, "npy: %s: write failed", path);
    }
    return soma_atomic_commit(&af);
}

soma_status soma_npy_write_f32(const char *path, int ndim, const int *shape, const float *data) {
    int64_t s[SOMA_ARRAY_MAX_DIMS];
    if (ndim < 0 || ndim > SOMA_ARRAY_MAX_DIMS)
        return soma_error(SOMA_ERR_ARG, "npy: %s: %d dimensions (0..%d allowed)", path, ndim,
                          SOMA_ARRAY_MAX_DIMS);
    for (int d = 0; d < ndim; d++) s[d] = shape[d];
    return soma_npy_write(path, SOMA_DTYPE_F32, ndim, s, data);
}
