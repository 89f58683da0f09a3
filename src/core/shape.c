// Per-sample shapes: the checks and the text form used in messages (helpers are in core.h).
#include <stdio.h>

#include "soma/core.h"

int soma_shape_ok(soma_shape s) {
    if (s.rank < 1 || s.rank > SOMA_SHAPE_RANK) return 0;
    size_t n = 1;
    for (int i = 0; i < s.rank; i++) {
        if (s.d[i] < 1 || !soma_mul_ok(n, (size_t)s.d[i], &n) || n > ((size_t)1 << 28)) return 0;
    }
    return 1;
}

const char *soma_shape_str(soma_shape s, char *buf, size_t cap) {
    if (!buf || cap == 0) return buf;
    buf[0] = '\0';
    if (s.rank < 1 || s.rank > SOMA_SHAPE_RANK) {
        snprintf(buf, cap, "[rank %d?]", s.rank);
        return buf;
    }
    size_t off = 0;
    off += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < s.rank && off < cap; i++)
        off += (size_t)snprintf(buf + off, cap - off, "%s%d", i ? "," : "", s.d[i]);
    if (off < cap) snprintf(buf + off, cap - off, "]");
    return buf;
}
