// PNG through libpng: read (any kind, converted to 8-bit 1/3/4 channels), write, image grids.
//
// libpng reports errors by longjmp; every local that changes after setjmp and is used after
// a jump is volatile, and everything allocated is released on the error path.
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <png.h>

#include "io/internal.h"

#define PNG_MAX_PIXELS ((size_t)1 << 28)
#define PNG_MAX_BYTES ((size_t)1 << 30)

typedef struct {
    const uint8_t *p;
    size_t n, pos;
} png_src;

/* libpng's last error text. Thread-local rather than a local of the caller, so that it is
 * well defined after the longjmp. */
static _Thread_local char png_msg_[200];

static void png_err_(png_structp png, png_const_charp msg) {
    snprintf(png_msg_, sizeof png_msg_, "%s", msg);
    png_longjmp(png, 1);
}

/* libpng's memory comes from soma_alloc (so the allocation-failure tests reach it); a failed
 * allocation is remembered, so that the error path says out of memory, not a corrupt file. */
static _Thread_local int png_oom_;

static png_voidp png_alloc_(png_structp png, png_alloc_size_t n) {
    (void)png;
    void *p = soma_alloc(1, n);
    if (!p) png_oom_ = 1;
    return p;
}

static void png_free_(png_structp png, png_voidp p) {
    (void)png;
    soma_free(p);
}

/* The status of a libpng error: out of memory when an allocation failed, else `other`. */
static soma_status png_status_(soma_status other) { return png_oom_ ? SOMA_ERR_NOMEM : other; }

static void png_warn_(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg; /* the library never prints */
}

static void png_read_mem_(png_structp png, png_bytep out, png_size_t len) {
    png_src *s = (png_src *)png_get_io_ptr(png);
    if (len > s->n - s->pos) png_error(png, "file is truncated");
    memcpy(out, s->p + s->pos, len);
    s->pos += len;
}

static soma_status png_parse_(const void *buf, size_t n, const char *label, uint8_t **pix, int *w,
                              int *h, int *channels) {
    const int want = *channels;
    *pix = NULL;
    *w = *h = 0;
    if (want != 0 && want != 1 && want != 3 && want != 4)
        return soma_error(SOMA_ERR_ARG, "png: %s: %d channels asked (0, 1, 3 or 4)", label, want);
    if (n < 8 || png_sig_cmp((png_const_bytep)buf, 0, 8) != 0)
        return soma_error(SOMA_ERR_FORMAT, "png: %s: not a PNG file (bad signature)", label);
    png_src src = {(const uint8_t *)buf, n, 8};
    png_msg_[0] = 0;
    png_oom_ = 0;
    png_structp png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, NULL, png_err_, png_warn_,
                                               NULL, png_alloc_, png_free_);
    if (!png) return soma_error(SOMA_ERR_NOMEM, "png: %s: cannot start libpng", label);
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return soma_error(SOMA_ERR_NOMEM, "png: %s: cannot start libpng", label);
    }
    uint8_t *volatile out = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        soma_free(rows);
        soma_free(out);
        png_destroy_read_struct(&png, &info, NULL);
        return soma_error(png_status_(SOMA_ERR_FORMAT), "png: %s: %s", label,
                          png_msg_[0] ? png_msg_ : "corrupt file");
    }
    png_set_read_fn(png, &src, png_read_mem_);
    png_set_sig_bytes(png, 8);
    png_set_user_limits(png, 1u << 20, 1u << 20);
    png_set_chunk_malloc_max(png, 64u << 20);
    png_read_info(png, info);
    png_uint_32 pw = png_get_image_width(png, info), ph = png_get_image_height(png, info);
    int ct = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if ((size_t)pw * (size_t)ph > PNG_MAX_PIXELS) {
        png_destroy_read_struct(&png, &info, NULL);
        return soma_error(SOMA_ERR_FORMAT, "png: %s: %ux%u is over the %zu-pixel limit", label,
                          (unsigned)pw, (unsigned)ph, PNG_MAX_PIXELS);
    }
    int has_trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
    int has_alpha = (ct & PNG_COLOR_MASK_ALPHA) || has_trns;
    int is_color = (ct & PNG_COLOR_MASK_COLOR) != 0; /* palette counts as color */
    int ch = want;
    if (ch == 0) ch = has_alpha ? 4 : is_color ? 3 : 1;

    /* Everything to 8-bit: palette -> RGB, gray < 8 bit -> 8 bit, tRNS -> alpha, 16 -> 8. */
    if (depth == 16) png_set_strip_16(png);
    if (ct == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (ct == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (has_trns && ch == 4) png_set_tRNS_to_alpha(png);
    if (ch == 1) {
        if (has_alpha) png_set_strip_alpha(png);
        if (is_color) png_set_rgb_to_gray_fixed(png, 1, -1, -1);
    } else {
        if (!is_color) png_set_gray_to_rgb(png);
        if (ch == 3 && has_alpha) png_set_strip_alpha(png);
        if (ch == 4 && !has_alpha) png_set_add_alpha(png, 0xff, PNG_FILLER_AFTER);
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (png_get_channels(png, info) != ch || png_get_bit_depth(png, info) != 8 ||
        rowbytes != (size_t)pw * (size_t)ch) {
        png_destroy_read_struct(&png, &info, NULL);
        return soma_error(SOMA_ERR_FORMAT, "png: %s: cannot convert color type %d to %d channels",
                          label, ct, ch);
    }
    out = soma_alloc((size_t)pw * ph, (size_t)ch);
    rows = soma_alloc(ph, sizeof(png_bytep));
    if (!out || !rows) { /* out of memory is not a format error: no png_error here */
        soma_free(rows);
        soma_free(out);
        png_destroy_read_struct(&png, &info, NULL);
        return soma_error(SOMA_ERR_NOMEM, "png: %s: out of memory for %ux%u pixels", label,
                          (unsigned)pw, (unsigned)ph);
    }
    for (png_uint_32 y = 0; y < ph; y++) rows[y] = out + (size_t)y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    soma_free(rows);
    *pix = out;
    *w = (int)pw;
    *h = (int)ph;
    *channels = ch;
    return SOMA_OK;
}

soma_status soma_png_parse(const void *buf, size_t n, uint8_t **pix, int *w, int *h,
                           int *channels) {
    return png_parse_(buf, n, "<memory>", pix, w, h, channels);
}

soma_status soma_png_read(const char *path, uint8_t **pix, int *w, int *h, int *channels) {
    void *buf;
    size_t n;
    *pix = NULL;
    SOMA_TRY(soma_file_read(path, PNG_MAX_BYTES, &buf, &n));
    soma_status st = png_parse_(buf, n, path, pix, w, h, channels);
    soma_free(buf);
    return st;
}

// --- writing ---------------------------------------------------------------------------

soma_status soma_png_write(const char *path, const uint8_t *pix, int w, int h, int channels) {
    if (w < 1 || h < 1 || (size_t)w * (size_t)h > PNG_MAX_PIXELS)
        return soma_error(SOMA_ERR_ARG, "png: %s: size %dx%d (1 to 2^28 pixels)", path, w, h);
    int ct = channels == 1 ? PNG_COLOR_TYPE_GRAY : channels == 3 ? PNG_COLOR_TYPE_RGB
             : channels == 4 ? PNG_COLOR_TYPE_RGBA : -1;
    if (ct < 0) return soma_error(SOMA_ERR_ARG, "png: %s: %d channels (1, 3 or 4)", path, channels);
    soma_atomic_file af;
    SOMA_TRY(soma_atomic_open(&af, path));
    png_msg_[0] = 0;
    png_oom_ = 0;
    png_structp png = png_create_write_struct_2(PNG_LIBPNG_VER_STRING, NULL, png_err_, png_warn_,
                                                NULL, png_alloc_, png_free_);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        soma_atomic_abort(&af);
        return soma_error(SOMA_ERR_NOMEM, "png: %s: cannot start libpng", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        soma_atomic_abort(&af);
        return soma_error(png_status_(SOMA_ERR_IO), "png: %s: %s", path,
                          png_msg_[0] ? png_msg_ : "write failed");
    }
    png_init_io(png, af.f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, ct, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, (png_const_bytep)(pix + (size_t)y * (size_t)w * (size_t)channels));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return soma_atomic_commit(&af);
}

soma_status soma_png_write_grid(const char *path, const float *imgs, int n, int h, int w,
                                int cols, int normalize, int zoom) {
    if (n < 1 || h < 1 || w < 1 || cols < 1 || zoom < 1 || zoom > 64)
        return soma_error(SOMA_ERR_ARG, "png: %s: grid of n=%d %dx%d images, cols=%d, zoom=%d", path,
                          n, h, w, cols, zoom);
    if (cols > n) cols = n;
    size_t rows = ((size_t)n + (size_t)cols - 1) / (size_t)cols;
    size_t cw = (size_t)w * (size_t)zoom + 1, chh = (size_t)h * (size_t)zoom + 1;
    size_t gw = (size_t)cols * cw + 1, gh = rows * chh + 1;
    if (gw > INT32_MAX || gh > INT32_MAX || gw * gh / gh != gw || gw * gh > PNG_MAX_PIXELS)
        return soma_error(SOMA_ERR_ARG, "png: %s: the grid would be over 2^28 pixels", path);
    uint8_t *g = soma_alloc(gw * gh, 1);
    if (!g) return SOMA_ERR_NOMEM;
    memset(g, 128, gw * gh); /* mid-gray borders */
    const size_t npx = (size_t)h * (size_t)w;
    for (int k = 0; k < n; k++) {
        const float *im = imgs + (size_t)k * npx;
        float lo = 0.f, hi = 1.f;
        if (normalize) {
            lo = INFINITY;
            hi = -INFINITY;
            for (size_t i = 0; i < npx; i++) {
                if (im[i] < lo) lo = im[i];
                if (im[i] > hi) hi = im[i];
            }
            if (!(hi > lo)) hi = lo + 1.f; /* flat (or all-NaN) image: draw it black */
            if (!isfinite(lo) || !isfinite(hi)) { lo = 0.f; hi = 1.f; }
        }
        const float inv = 1.f / (hi - lo);
        size_t x0 = (size_t)(k % cols) * cw + 1, y0 = (size_t)(k / cols) * chh + 1;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                float v = (im[(size_t)y * (size_t)w + (size_t)x] - lo) * inv;
                if (!(v > 0.f)) v = 0.f; /* also NaN */
                if (v > 1.f) v = 1.f;
                uint8_t b = (uint8_t)lrintf(v * 255.f);
                for (int zy = 0; zy < zoom; zy++) {
                    uint8_t *row = g + (y0 + (size_t)y * (size_t)zoom + (size_t)zy) * gw + x0 +
                                   (size_t)x * (size_t)zoom;
                    memset(row, b, (size_t)zoom);
                }
            }
        }
    }
    soma_status st = soma_png_write(path, g, (int)gw, (int)gh, 1);
    soma_free(g);
    return st;
}
