// Byte buffers: a growable writer and a bounds-checked reader, for the binary file formats
// (checkpoints, model files) that are built in memory and parsed from memory.
#include <string.h>

#include "soma/core.h"

void soma_wbuf_put(soma_wbuf *b, const void *src, size_t n) {
    if (b->oom || n == 0) return;
    if (n > SIZE_MAX - b->n) {
        b->oom = 1;
        return;
    }
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) {
            if (cap > SIZE_MAX / 2) {
                b->oom = 1;
                return;
            }
            cap *= 2;
        }
        unsigned char *np = soma_alloc(cap, 1);
        if (!np) {
            b->oom = 1;
            return;
        }
        if (b->n) memcpy(np, b->p, b->n);
        soma_free(b->p);
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

void soma_wbuf_free(soma_wbuf *b) {
    soma_free(b->p);
    *b = (soma_wbuf){0};
}

int soma_rbuf_get(soma_rbuf *r, void *dst, size_t k) {
    if (r->bad || k > r->n - r->off) {
        r->bad = 1;
        if (dst && k) memset(dst, 0, k);
        return 0;
    }
    if (dst && k) memcpy(dst, r->p + r->off, k);
    r->off += k;
    return 1;
}
