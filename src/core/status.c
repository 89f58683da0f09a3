// Status codes, the thread-local error message, and the invariant hook.
#include "soma/core.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SOMA_ERRMSG_CAP 512
static _Thread_local char errmsg_[SOMA_ERRMSG_CAP];
static _Thread_local soma_status errstatus_ = SOMA_OK; /* the status given with errmsg_ */

static const char *const status_names_[SOMA_STATUS_COUNT] = {
    [SOMA_OK] = "ok",
    [SOMA_ERR_NOMEM] = "out of memory",
    [SOMA_ERR_SHAPE] = "shape error",
    [SOMA_ERR_ARG] = "bad argument",
    [SOMA_ERR_IO] = "i/o error",
    [SOMA_ERR_PARSE] = "parse error",
    [SOMA_ERR_FORMAT] = "bad file format",
    [SOMA_ERR_INTERNAL] = "internal error",
    [SOMA_ERR_CANCELLED] = "cancelled",
};

const char *soma_status_str(soma_status s) {
    if ((int)s < 0 || s >= SOMA_STATUS_COUNT) return "unknown status";
    return status_names_[s];
}

const char *soma_errmsg(void) { return errmsg_; }

soma_status soma_error_status(void) { return errstatus_; }

void soma_error_clear(void) {
    errmsg_[0] = '\0';
    errstatus_ = SOMA_OK;
}

soma_status soma_error(soma_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg_, sizeof errmsg_, fmt, ap);
    va_end(ap);
    errstatus_ = s;
    return s;
}

soma_status soma_error_wrap(soma_status s, const char *fmt, ...) {
    char prefix[256], old[SOMA_ERRMSG_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, errmsg_, sizeof old);
    const char *tail = old[0] ? old : soma_status_str(s);
    size_t pl = strlen(prefix), tl = strlen(tail);
    if (pl > SOMA_ERRMSG_CAP - 3) pl = SOMA_ERRMSG_CAP - 3;
    if (tl > SOMA_ERRMSG_CAP - 3 - pl) tl = SOMA_ERRMSG_CAP - 3 - pl;
    memcpy(errmsg_, prefix, pl);
    memcpy(errmsg_ + pl, ": ", 2);
    memcpy(errmsg_ + pl + 2, tail, tl);
    errmsg_[pl + 2 + tl] = '\0';
    errstatus_ = s;
    return s;
}

int soma_status_exit_code(soma_status s) {
    switch (s) {
    case SOMA_OK: return 0;
    case SOMA_ERR_SHAPE:
    case SOMA_ERR_ARG:
    case SOMA_ERR_PARSE:
    case SOMA_ERR_FORMAT:
    case SOMA_ERR_IO: return 2; /* the user's input: a path, a file, an option */
    default: return 1;
    }
}

static void default_abort_(const char *file, int line, const char *expr) {
    fprintf(stderr, "soma: internal invariant broken at %s:%d: %s\n", file, line, expr);
    abort();
}
static soma_abort_fn abort_hook_ = default_abort_;

void soma_set_abort_hook(soma_abort_fn fn) { abort_hook_ = fn ? fn : default_abort_; }

void soma__abort(const char *file, int line, const char *expr) {
    abort_hook_(file, line, expr);
    abort(); /* a hook that returns still stops here */
}

// --- memory ----------------------------------------------------------------------------

int soma_mul_ok(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

/* Injected failure for tests: the count of allocations still to pass before one fails; -1 =
 * off. Atomic because replicas allocate from OpenMP threads; one relaxed load when off. */
static _Atomic long alloc_fail_after_ = -1;

long soma_alloc_fail_after(long k) {
    return atomic_exchange_explicit(&alloc_fail_after_, k < 0 ? -1 : k, memory_order_relaxed);
}

/* 1 when this allocation is the one chosen to fail (the failure then disarms itself). */
static int alloc_injected_failure_(void) {
    long k = atomic_load_explicit(&alloc_fail_after_, memory_order_relaxed);
    while (k >= 0) {
        if (atomic_compare_exchange_weak_explicit(&alloc_fail_after_, &k, k - 1, memory_order_relaxed,
                                                  memory_order_relaxed))
            return k == 0;
    }
    return 0;
}

void *soma_alloc(size_t n, size_t size) {
    size_t bytes;
    if (!soma_mul_ok(n, size, &bytes) || bytes > ((size_t)1 << 46)) {
        soma_error(SOMA_ERR_NOMEM, "allocation of %zu x %zu bytes overflows", n, size);
        return NULL;
    }
    if (alloc_injected_failure_()) {
        soma_error(SOMA_ERR_NOMEM, "out of memory allocating %zu bytes (injected failure)", bytes);
        return NULL;
    }
    if (bytes == 0) bytes = 1;
    bytes = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, bytes);
    if (!p) soma_error(SOMA_ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
    return p;
}

void *soma_calloc(size_t n, size_t size) {
    void *p = soma_alloc(n, size);
    if (p) memset(p, 0, n * size);
    return p;
}

void soma_free(void *p) { free(p); }
