/* Plot utilities: text buffer, escaping, number formatting, nice ticks, colour maps, an
 * in-memory PNG encoder (zlib) and the atomic file write. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "plot/internal.h"

// --- text buffer -----------------------------------------------------------------------

static int buf_reserve(soma__buf *b, size_t extra) {
    if (b->oom) return 0;
    if (b->n + extra + 1 <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + extra + 1) {
        if (cap > ((size_t)1 << 40)) {
            b->oom = 1;
            return 0;
        }
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return 0;
    }
    b->p = p;
    b->cap = cap;
    return 1;
}

void soma__buf_putn(soma__buf *b, const char *s, size_t n) {
    if (!buf_reserve(b, n)) return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void soma__buf_put(soma__buf *b, const char *s) { soma__buf_putn(b, s, strlen(s)); }

void soma__buf_printf(soma__buf *b, const char *fmt, ...) {
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (k < 0) return;
    if ((size_t)k < sizeof small) {
        soma__buf_putn(b, small, (size_t)k);
        return;
    }
    if (!buf_reserve(b, (size_t)k)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

void soma__buf_esc(soma__buf *b, const char *s) {
    if (!s) return;
    const char *run = s;
    for (; *s; s++) {
        const char *rep = NULL;
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default:
            if (c < 0x20 && c != '\t' && c != '\n') rep = "";
        }
        if (rep) {
            soma__buf_putn(b, run, (size_t)(s - run));
            soma__buf_put(b, rep);
            run = s + 1;
        }
    }
    soma__buf_putn(b, run, (size_t)(s - run));
}

void soma__buf_num(soma__buf *b, double v) {
    if (!isfinite(v)) v = 0;
    if (fabs(v) < 0.005) v = 0;
    char t[64];
    int k = snprintf(t, sizeof t, "%.2f", v);
    if (k <= 0 || k >= (int)sizeof t) return;
    while (k > 0 && t[k - 1] == '0') t[--k] = 0;
    if (k > 0 && t[k - 1] == '.') t[--k] = 0;
    soma__buf_putn(b, t, (size_t)k);
}

void soma__buf_base64(soma__buf *b, const uint8_t *d, size_t n) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (!buf_reserve(b, (n + 2) / 3 * 4)) return;
    char *o = b->p + b->n;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = tab[(v >> 6) & 63];
        *o++ = tab[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0);
        *o++ = tab[v >> 18];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    b->n = (size_t)(o - b->p);
    b->p[b->n] = 0;
}

soma_status soma__buf_finish(soma__buf *b, char **out, size_t *len) {
    if (buf_reserve(b, 0)) b->p[b->n] = 0;
    if (b->oom) {
        soma__buf_free(b);
        return soma_error(SOMA_ERR_NOMEM, "plot: out of memory building text");
    }
    *out = b->p;
    if (len) *len = b->n;
    b->p = NULL;
    b->n = b->cap = 0;
    return SOMA_OK;
}

void soma__buf_free(soma__buf *b) {
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

// --- numbers and ticks -----------------------------------------------------------------

char *soma_plot_fmt(double v, char *buf, size_t cap) {
    if (!buf || cap == 0) return buf;
    if (isnan(v)) {
        snprintf(buf, cap, "NaN");
        return buf;
    }
    if (isinf(v)) {
        snprintf(buf, cap, v > 0 ? "Inf" : "-Inf");
        return buf;
    }
    if (v == 0) v = 0; /* no "-0" */
    double a = fabs(v);
    if (a != 0 && (a >= 1e6 || a < 1e-4)) {
        snprintf(buf, cap, "%.3g", v);
        return buf;
    }
    snprintf(buf, cap, "%.6g", v);
    return buf;
}

/* Heckbert's nice number: 1, 2, 5 or 10 x 10^k near x (rounded or at least x). */
static double nice_num(double x, int round_it) {
    double e = floor(log10(x));
    double f = x / pow(10, e), nf;
    if (round_it)
        nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
    else
        nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nf * pow(10, e);
}

int soma_plot_ticks(double lo, double hi, int target, double *ticks, int cap) {
    if (!ticks || cap < 2 || !isfinite(lo) || !isfinite(hi)) return 0;
    if (target < 2) target = 2;
    if (target > 20) target = 20;
    if (lo > hi) {
        double t = lo;
        lo = hi;
        hi = t;
    }
    if (hi - lo <= 1e-12 * fmax(1, fmax(fabs(lo), fabs(hi)))) {
        double d = lo == 0 ? 1 : fabs(lo) * 0.1;
        lo -= d;
        hi += d;
    }
    double range = nice_num(hi - lo, 0);
    double d = nice_num(range / (target - 1), 1);
    double g0 = floor(lo / d + 1e-9) * d, g1 = ceil(hi / d - 1e-9) * d;
    int n = (int)floor((g1 - g0) / d + 0.5) + 1;
    if (n > cap) n = cap;
    for (int i = 0; i < n; i++) {
        double v = g0 + i * d;
        v = round(v / d) * d; /* 0.30000000000000004 -> 0.3 */
        if (fabs(v) < d * 1e-9) v = 0;
        ticks[i] = v;
    }
    return n;
}

// --- colours ---------------------------------------------------------------------------

/* Okabe & Ito (2008): blue, orange, bluish green, vermillion, reddish purple, sky blue,
 * yellow, black. */
static const int PALETTE[8] = {0x0072B2, 0xE69F00, 0x009E73, 0xD55E00,
                               0xCC79A7, 0x56B4E9, 0xF0E442, 0x000000};

int soma_plot_palette(int k) {
    if (k < 0) k = -k;
    return PALETTE[k % 8];
}

int soma__color_resolve(int color, int auto_k) {
    if (color & 0x1000000) return color & 0xFFFFFF;
    if (color >= 1) return soma_plot_palette(color - 1);
    return soma_plot_palette(auto_k);
}

/* Anchors sampled from matplotlib's viridis (CC0) and a ColorBrewer-like RdBu. */
static const int VIRIDIS[9] = {0x440154, 0x472D7B, 0x3B528B, 0x2C728E, 0x21918C,
                               0x28AE80, 0x5EC962, 0xADDC30, 0xFDE725};
static const int DIVERGING[9] = {0x2166AC, 0x4393C3, 0x92C5DE, 0xD1E5F0, 0xF7F7F7,
                                 0xFDDBC7, 0xF4A582, 0xD6604D, 0xB2182B};

static int lerp_table(const int *tab, int n, double t) {
    double x = t * (n - 1);
    int i = (int)floor(x);
    if (i >= n - 1) return tab[n - 1];
    if (i < 0) return tab[0];
    double f = x - i;
    int a = tab[i], b = tab[i + 1], out = 0;
    for (int s = 16; s >= 0; s -= 8) {
        double ca = (a >> s) & 255, cb = (b >> s) & 255;
        int c = (int)lround(ca + f * (cb - ca));
        out |= c << s;
    }
    return out;
}

int soma__cmap_rgb(soma_cmap cmap, double t) {
    if (isnan(t)) return 0xDDDDDD;
    if (t < 0) t = 0;
    if (t > 1) t = 1;
    switch (cmap) {
    case SOMA_CMAP_DIVERGING: return lerp_table(DIVERGING, 9, t);
    case SOMA_CMAP_GREY: {
        int g = (int)lround(t * 255);
        return g << 16 | g << 8 | g;
    }
    default: return lerp_table(VIRIDIS, 9, t);
    }
}

void soma_plot_color_limits(const float *x, size_t n, soma_cmap cmap, float *lo, float *hi,
                            soma_cmap *cmap_used) {
    double mn = INFINITY, mx = -INFINITY;
    for (size_t i = 0; x && i < n; i++) {
        if (!isfinite(x[i])) continue;
        if (x[i] < mn) mn = x[i];
        if (x[i] > mx) mx = x[i];
    }
    if (cmap == SOMA_CMAP_AUTO || cmap >= SOMA_CMAP_COUNT)
        cmap = (mn < 0 && mx > 0) ? SOMA_CMAP_DIVERGING : SOMA_CMAP_VIRIDIS;
    if (cmap_used) *cmap_used = cmap;
    if (mn > mx) { /* no finite value */
        mn = cmap == SOMA_CMAP_DIVERGING ? -1 : 0;
        mx = 1;
    }
    if (cmap == SOMA_CMAP_DIVERGING) {
        double a = fmax(fabs(mn), fabs(mx));
        if (a == 0) a = 1;
        mn = -a;
        mx = a;
    } else if (mx - mn <= 0) {
        double d = mn == 0 ? 1 : fabs(mn) * 0.1;
        mn -= d;
        mx += d;
    }
    *lo = (float)mn;
    *hi = (float)mx;
}

// --- PNG -------------------------------------------------------------------------------

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Appends a chunk (length, type, data, CRC) at o; returns the new end. */
static uint8_t *put_chunk(uint8_t *o, const char *type, const uint8_t *data, uint32_t n) {
    put_be32(o, n);
    memcpy(o + 4, type, 4);
    if (n) memcpy(o + 8, data, n);
    uLong crc = crc32(0L, o + 4, n + 4);
    put_be32(o + 8 + n, (uint32_t)crc);
    return o + 12 + n;
}

soma_status soma__png_encode(const uint8_t *pix, int w, int h, int channels, uint8_t **out,
                             size_t *n) {
    if (w < 1 || h < 1 || (channels != 1 && channels != 3) || w > 16384 || h > 16384)
        return soma_error(SOMA_ERR_ARG, "png: bad image %dx%dx%d", w, h, channels);
    size_t row = (size_t)w * channels + 1, raw_n = row * h;
    uint8_t *raw = malloc(raw_n);
    uLongf z_n = compressBound((uLong)raw_n);
    uint8_t *z = malloc(z_n);
    uint8_t *png = malloc(z_n + 64);
    if (!raw || !z || !png) {
        free(raw);
        free(z);
        free(png);
        return soma_error(SOMA_ERR_NOMEM, "png: out of memory for %dx%d", w, h);
    }
    for (int y = 0; y < h; y++) {
        uint8_t *r = raw + row * y;
        const uint8_t *src = pix + (size_t)y * w * channels;
        /* filter "Up" (2) helps smooth images; "None" (0) for the first row */
        r[0] = y ? 2 : 0;
        for (size_t i = 0; i < (size_t)w * channels; i++)
            r[1 + i] = y ? (uint8_t)(src[i] - src[i - (size_t)w * channels]) : src[i];
    }
    int zs = compress2(z, &z_n, raw, (uLong)raw_n, 9);
    free(raw);
    if (zs != Z_OK) {
        free(z);
        free(png);
        return soma_error(SOMA_ERR_INTERNAL, "png: zlib compress failed (%d)", zs);
    }
    static const uint8_t sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    uint8_t ihdr[13];
    put_be32(ihdr, (uint32_t)w);
    put_be32(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8;
    ihdr[9] = channels == 1 ? 0 : 2;
    ihdr[10] = ihdr[11] = ihdr[12] = 0;
    memcpy(png, sig, 8);
    uint8_t *o = png + 8;
    o = put_chunk(o, "IHDR", ihdr, 13);
    o = put_chunk(o, "IDAT", z, (uint32_t)z_n);
    o = put_chunk(o, "IEND", NULL, 0);
    free(z);
    *out = png;
    *n = (size_t)(o - png);
    return SOMA_OK;
}
