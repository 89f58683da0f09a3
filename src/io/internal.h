/* Private helpers shared by the io module (not installed). */
#ifndef SOMA_IO_INTERNAL_H
#define SOMA_IO_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "soma/io.h"

/* Default cap on whole-file reads and decompressed sizes: 4 GiB. */
#define SOMA_IO_DEFAULT_MAX ((size_t)1 << 32)

static inline int soma__host_is_le(void) {
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static inline uint32_t soma__be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint32_t soma__le32(const uint8_t *p) {
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}

/* Reverses the bytes of each of n elements of size `size` in place. */
void soma__byteswap(void *data, size_t n, size_t size);

/* Inflates at most `want` bytes of a gzip stream into out (no allocation); *got says how many
 * came out. Used to peek at the header inside a .gz before sizing the real buffer. */
soma_status soma__gunzip_prefix(const void *buf, size_t n, void *out, size_t want, size_t *got,
                                const char *label);

/* 1 if buf starts with the gzip magic 1f 8b. */
static inline int soma__is_gzip(const void *buf, size_t n) {
    const uint8_t *p = (const uint8_t *)buf;
    return n >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

/* Converts a->n elements to float32 into out. */
void soma__array_to_float(const soma_array *a, float *out);

/* Fills out->n from out->ndim/shape, checking overflow and the byte count against `limit`;
 * returns the data bytes in *bytes. */
soma_status soma__array_count(soma_array *a, size_t *bytes, const char *what, const char *label);

#endif
