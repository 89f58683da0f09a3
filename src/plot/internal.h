/* Private to src/plot: a growable text buffer, escaping, colour maps, PNG encoding, the
 * atomic file write. Not installed. */
#ifndef SOMA_PLOT_INTERNAL_H
#define SOMA_PLOT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "soma/plot.h"

// --- growable text buffer --------------------------------------------------------------

/* A NUL-terminated, growable string. On allocation failure `oom` is set and further
 * appends are ignored; check it once at the end (soma__buf_finish). Zero-init to start. */
typedef struct soma__buf {
    char *p;
    size_t n, cap;
    int oom;
} soma__buf;

void soma__buf_putn(soma__buf *b, const char *s, size_t n);
void soma__buf_put(soma__buf *b, const char *s);
void soma__buf_printf(soma__buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* XML/HTML-escaped text (& < > " '); control characters other than tab/newline dropped. */
void soma__buf_esc(soma__buf *b, const char *s);
/* A coordinate: at most 2 decimals, trailing zeros stripped, never "nan"/"inf" (as 0). */
void soma__buf_num(soma__buf *b, double v);
void soma__buf_base64(soma__buf *b, const uint8_t *data, size_t n);
/* SOMA_OK and hands over the string (free with soma_free), or SOMA_ERR_NOMEM (freed). */
soma_status soma__buf_finish(soma__buf *b, char **out, size_t *len);
void soma__buf_free(soma__buf *b);

// --- colours ---------------------------------------------------------------------------

/* t in [0, 1] (clamped; NaN -> light grey) to 0xRRGGBB. */
int soma__cmap_rgb(soma_cmap cmap, double t);
/* A colour argument as in soma_line_style (0 -> palette colour `auto_k`) to 0xRRGGBB. */
int soma__color_resolve(int color, int auto_k);

// --- PNG -------------------------------------------------------------------------------

/* Encodes 8-bit pixels (channels 1 = grey, 3 = RGB) as a PNG in memory (malloc'd; free with
 * soma_free). */
soma_status soma__png_encode(const uint8_t *pix, int w, int h, int channels, uint8_t **out,
                             size_t *n);

#endif
