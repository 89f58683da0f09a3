// Whole-file reads (plain or gzip), gunzip from memory, atomic writes, mkdir -p.
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <zlib.h>

#include "io/internal.h"

void soma__byteswap(void *data, size_t n, size_t size) {
    uint8_t *p = (uint8_t *)data;
    if (size <= 1) return;
    for (size_t i = 0; i < n; i++, p += size) {
        for (size_t a = 0, b = size - 1; a < b; a++, b--) {
            uint8_t t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
    }
}

// --- whole-file reads ------------------------------------------------------------------

soma_status soma_file_read(const char *path, size_t max_bytes, void **buf, size_t *n) {
    *buf = NULL;
    *n = 0;
    if (!max_bytes) max_bytes = SOMA_IO_DEFAULT_MAX;
    FILE *f = fopen(path, "rb");
    if (!f) return soma_error(SOMA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return soma_error(SOMA_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > (uint64_t)max_bytes) {
        fclose(f);
        return soma_error(SOMA_ERR_FORMAT, "%s: file is %lld bytes, over the %zu-byte limit", path,
                          (long long)st.st_size, max_bytes);
    }
    size_t size = (size_t)st.st_size;
    uint8_t *p = soma_alloc(size + 1, 1);
    if (!p) {
        fclose(f);
        return soma_error(SOMA_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, size);
    }
    size_t got = fread(p, 1, size, f);
    int err = ferror(f);
    fclose(f);
    if (err || got != size) {
        soma_free(p);
        return soma_error(SOMA_ERR_IO, "%s: read %zu of %zu bytes", path, got, size);
    }
    p[size] = 0; /* convenient for text parsers; not counted in *n */
    *buf = p;
    *n = size;
    return SOMA_OK;
}

// --- gzip ------------------------------------------------------------------------------

/* zlib's memory through soma_alloc, so the allocation-failure tests reach it. */
static voidpf z_alloc_(voidpf opaque, uInt items, uInt size) {
    (void)opaque;
    return soma_alloc(items, size);
}

static void z_free_(voidpf opaque, voidpf p) {
    (void)opaque;
    soma_free(p);
}

/* Runs inflate over all gzip members in buf. With out_cap bytes of room at out; stops with
 * *full = 1 when the room is used up and more output is pending. */
static soma_status inflate_into_(const void *buf, size_t n, uint8_t *out, size_t out_cap,
                                 size_t *got, int *full, int stop_when_full, const char *label) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    zs.zalloc = z_alloc_;
    zs.zfree = z_free_;
    *got = 0;
    *full = 0;
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        return soma_error(SOMA_ERR_NOMEM, "%s: cannot start zlib", label);
    const uint8_t *in = (const uint8_t *)buf;
    size_t in_left = n, out_pos = 0;
    soma_status st = SOMA_OK;
    uint8_t sink[256];
    for (;;) {
        uInt in_chunk = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
        zs.next_in = (Bytef *)(uintptr_t)in;
        zs.avail_in = in_chunk;
        int probing = out_pos >= out_cap; /* room used up: inflate into a sink to see if more */
        size_t room = probing ? sizeof sink : out_cap - out_pos;
        uInt out_chunk = room > (1u << 30) ? (1u << 30) : (uInt)room;
        zs.next_out = probing ? sink : out + out_pos;
        zs.avail_out = out_chunk;
        int rc = inflate(&zs, Z_NO_FLUSH);
        size_t used_in = in_chunk - zs.avail_in, made = out_chunk - zs.avail_out;
        in += used_in;
        in_left -= used_in;
        if (probing && made > 0) {
            *full = 1;
            if (stop_when_full) break;
            st = soma_error(SOMA_ERR_FORMAT, "%s: gzip data decompresses to more than %zu bytes",
                            label, out_cap);
            break;
        }
        if (!probing) out_pos += made;
        if (rc == Z_STREAM_END) {
            if (in_left == 0) break;
            if (!soma__is_gzip(in, in_left)) {
                st = soma_error(SOMA_ERR_FORMAT, "%s: %zu bytes of garbage after the gzip stream",
                                label, in_left);
                break;
            }
            if (inflateReset(&zs) != Z_OK) {
                st = soma_error(SOMA_ERR_FORMAT, "%s: cannot restart zlib", label);
                break;
            }
            continue;
        }
        if (rc == Z_NEED_DICT || rc == Z_DATA_ERROR || rc == Z_STREAM_ERROR) {
            st = soma_error(SOMA_ERR_FORMAT, "%s: corrupt gzip data after %zu output bytes (%s)",
                            label, out_pos, zs.msg ? zs.msg : "zlib error");
            break;
        }
        if (rc == Z_MEM_ERROR) {
            st = soma_error(SOMA_ERR_NOMEM, "%s: zlib out of memory", label);
            break;
        }
        if (used_in == 0 && made == 0) {
            if (in_left == 0) {
                st = soma_error(SOMA_ERR_FORMAT, "%s: gzip data is truncated after %zu output bytes",
                                label, out_pos);
                break;
            }
            if (stop_when_full && out_pos >= out_cap) {
                *full = 1;
                break;
            }
            st = soma_error(SOMA_ERR_FORMAT, "%s: gzip stream makes no progress", label);
            break;
        }
    }
    inflateEnd(&zs);
    *got = out_pos;
    return st;
}

soma_status soma__gunzip_prefix(const void *buf, size_t n, void *out, size_t want, size_t *got,
                                const char *label) {
    int full;
    soma_status st = inflate_into_(buf, n, (uint8_t *)out, want, got, &full, 1, label);
    /* once `want` bytes are out, what follows (more data, or a cut) is the caller's business;
     * running out of memory is not (zlib allocates its window after the first output) */
    if (*got >= want && st != SOMA_ERR_NOMEM) return SOMA_OK;
    return st;
}

soma_status soma_gunzip(const void *buf, size_t n, size_t max_out, void **out, size_t *out_n) {
    *out = NULL;
    *out_n = 0;
    if (!max_out) max_out = SOMA_IO_DEFAULT_MAX;
    const char *label = "gunzip";
    if (!soma__is_gzip(buf, n) || n < 18)
        return soma_error(SOMA_ERR_FORMAT, "%s: not gzip data (%zu bytes)", label, n);
    /* The trailer's ISIZE (size mod 2^32 of the last member) is only a hint: start there,
     * capped by max_out, and grow by doubling when the data says otherwise. */
    const uint8_t *p = (const uint8_t *)buf;
    size_t cap = soma__le32(p + n - 4);
    /* ISIZE can lie: deflate expands at most ~1032:1, so never start above that */
    size_t bound = n < SIZE_MAX / 1040 ? n * 1040 + 1024 : SIZE_MAX;
    if (cap > bound) cap = bound;
    if (cap < 64) cap = 64;
    if (cap > max_out) cap = max_out;
    for (;;) {
        uint8_t *o = soma_alloc(cap, 1);
        if (!o) return soma_error(SOMA_ERR_NOMEM, "%s: out of memory (%zu bytes)", label, cap);
        size_t got;
        int full;
        soma_status st = inflate_into_(buf, n, o, cap, &got, &full, 1, label);
        if (st != SOMA_OK) {
            soma_free(o);
            return st;
        }
        if (!full) {
            *out = o;
            *out_n = got;
            return SOMA_OK;
        }
        soma_free(o);
        if (cap >= max_out)
            return soma_error(SOMA_ERR_FORMAT, "%s: decompresses to more than the %zu-byte limit",
                              label, max_out);
        cap = cap > max_out / 2 ? max_out : cap * 2;
    }
}

soma_status soma_file_read_maybe_gz(const char *path, size_t max_bytes, void **buf, size_t *n) {
    void *raw;
    size_t raw_n;
    *buf = NULL;
    *n = 0;
    if (!max_bytes) max_bytes = SOMA_IO_DEFAULT_MAX;
    SOMA_TRY(soma_file_read(path, max_bytes, &raw, &raw_n));
    if (!soma__is_gzip(raw, raw_n)) {
        *buf = raw;
        *n = raw_n;
        return SOMA_OK;
    }
    soma_status st = soma_gunzip(raw, raw_n, max_bytes, buf, n);
    soma_free(raw);
    if (st != SOMA_OK) return soma_error_wrap(st, "%s", path);
    return SOMA_OK;
}

// --- atomic writes ---------------------------------------------------------------------

soma_status soma_atomic_open(soma_atomic_file *af, const char *path) {
    memset(af, 0, sizeof *af);
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof af->path)
        return soma_error(SOMA_ERR_ARG, "write: path of %zu characters (1..%zu allowed)", len,
                          sizeof af->path - 1);
    memcpy(af->path, path, len + 1);
    snprintf(af->tmp, sizeof af->tmp, "%s.tmp.%ld", path, (long)getpid());
    af->f = fopen(af->tmp, "wb");
    if (!af->f)
        return soma_error(SOMA_ERR_IO, "%s: cannot create %s: %s", path, af->tmp, strerror(errno));
    return SOMA_OK;
}

void soma_atomic_abort(soma_atomic_file *af) {
    if (af->f) {
        fclose(af->f);
        af->f = NULL;
    }
    if (af->tmp[0]) remove(af->tmp);
    af->tmp[0] = 0;
}

soma_status soma_atomic_commit(soma_atomic_file *af) {
    if (!af->f) return soma_error(SOMA_ERR_ARG, "write: commit without an open file");
    int bad = fflush(af->f) != 0 || ferror(af->f);
    int err = errno;
    if (!bad && fsync(fileno(af->f)) != 0) {
        bad = 1;
        err = errno;
    }
    if (fclose(af->f) != 0 && !bad) {
        bad = 1;
        err = errno;
    }
    af->f = NULL;
    if (bad) {
        soma_atomic_abort(af);
        return soma_error(SOMA_ERR_IO, "%s: write failed: %s", af->path, strerror(err));
    }
    if (rename(af->tmp, af->path) != 0) {
        err = errno;
        soma_atomic_abort(af);
        return soma_error(SOMA_ERR_IO, "%s: cannot rename the temp file into place: %s", af->path,
                          strerror(err));
    }
    af->tmp[0] = 0;
    return SOMA_OK;
}

soma_status soma_file_write_atomic(const char *path, const void *buf, size_t n) {
    soma_atomic_file af;
    SOMA_TRY(soma_atomic_open(&af, path));
    if (n && fwrite(buf, 1, n, af.f) != n) {
        int err = errno;
        soma_atomic_abort(&af);
        return soma_error(SOMA_ERR_IO, "%s: write failed: %s", path, strerror(err));
    }
    return soma_atomic_commit(&af);
}

// --- directories -----------------------------------------------------------------------

soma_status soma_mkdir_p(const char *path) {
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof buf)
        return soma_error(SOMA_ERR_ARG, "mkdir: path of %zu characters (1..%zu allowed)", len,
                          sizeof buf - 1);
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return soma_error(SOMA_ERR_IO, "mkdir: %s: %s", buf, strerror(errno));
        struct stat st;
        if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
            return soma_error(SOMA_ERR_IO, "mkdir: %s exists and is not a directory", buf);
        buf[i] = c;
    }
    return SOMA_OK;
}
