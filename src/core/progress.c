// Monotonic time, the progress line, numeric comparison, CRC-32.
#define _POSIX_C_SOURCE 200809L
#include "soma/core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

double soma_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void soma_progress_begin(soma_progress *p, const char *label, long total) {
    const char *env = getenv("SOMA_PROGRESS");
    p->label = label;
    p->total = total;
    p->done = 0;
    p->t0 = soma_now();
    p->last_draw = 0.0;
    p->enabled = 1;
    p->tty = isatty(STDERR_FILENO);
    if (env && *env) {
        p->enabled = env[0] != '0';
        p->tty = env[0] == '1';
    }
}

static void draw_(soma_progress *p, const char *extra) {
    double el = soma_now() - p->t0;
    double frac = p->total > 0 ? (double)p->done / (double)p->total : 0.0;
    double eta = frac > 0 ? el * (1.0 - frac) / frac : 0.0;
    fprintf(stderr, "\r%s %5.1f%% %ld/%ld %.0fs elapsed, %.0fs left%s%s\033[K", p->label, 100.0 * frac, p->done,
            p->total, el, eta, extra ? "  " : "", extra ? extra : "");
    fflush(stderr);
}

void soma_progress_update(soma_progress *p, long done, const char *extra) {
    p->done = done;
    if (!p->enabled || !p->tty) return;
    double now = soma_now();
    if (now - p->last_draw < 0.1 && done < p->total) return;
    p->last_draw = now;
    draw_(p, extra);
}

void soma_progress_note(soma_progress *p, const char *line) {
    if (!p->enabled) return;
    /* on a terminal: replace the redrawn line by the note; the next update redraws below it */
    fprintf(stderr, "%s%s: %s\n", p->tty ? "\r\033[K" : "", p->label, line);
    fflush(stderr);
    p->last_draw = 0.0;
}

void soma_progress_end(soma_progress *p) {
    if (!p->enabled || !p->tty) return;
    fprintf(stderr, "\r\033[K");
    fflush(stderr);
}

int soma_check_close(const char *label, const float *got, const float *ref, size_t n, float atol,
                     float rtol) {
    size_t worst = 0;
    double worst_excess = -1.0;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)ref[i]);
        double tol = atol + rtol * fabs((double)ref[i]);
        int nan = isnan(got[i]) != isnan(ref[i]) || (isnan(got[i]) && 0);
        if (nan || d > tol || isnan(d) != isnan((double)ref[i] - (double)ref[i])) {
            double excess = isnan(d) ? INFINITY : d - tol;
            if (!bad || excess > worst_excess) {
                worst_excess = excess;
                worst = i;
            }
            bad++;
        }
    }
    if (bad) {
        fprintf(stderr, "FAIL %s: %d of %zu values off; worst at [%zu]: got %.8g, ref %.8g "
                        "(atol %g, rtol %g)\n",
                label, bad, n, worst, (double)got[worst], (double)ref[worst], (double)atol,
                (double)rtol);
        return 0;
    }
    return 1;
}

uint32_t soma_crc32(uint32_t crc, const void *buf, size_t n) {
    const unsigned char *p = buf;
    while (n > 0) {
        uInt chunk = n > 0x40000000u ? 0x40000000u : (uInt)n;
        crc = (uint32_t)crc32(crc, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return crc;
}
