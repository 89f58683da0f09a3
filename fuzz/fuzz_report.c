/* libFuzzer target: the HTML report's reading of run folders. The input, split at its first
 * NUL byte, becomes a run's results.json and its figure fig.svg; the report is built from a
 * folder holding that run. */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "soma/io.h"
#include "soma/plot.h"

static char root_[256], run_[300], json_[400], svg_[400], html_[400];

static void put_(const char *path, const uint8_t *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(p, 1, n, f) != n) abort();
    fclose(f);
}

static void cleanup_(void) {
    remove(json_);
    remove(svg_);
    remove(html_);
    rmdir(run_);
    rmdir(root_);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!root_[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(root_, sizeof root_, "%s/soma-fuzz-report-%d", t ? t : "/tmp", (int)getpid());
        snprintf(run_, sizeof run_, "%s/run", root_);
        snprintf(json_, sizeof json_, "%s/results.json", run_);
        snprintf(svg_, sizeof svg_, "%s/fig.svg", run_);
        snprintf(html_, sizeof html_, "%s/report.html", root_);
        if (soma_mkdir_p(run_) != SOMA_OK) abort();
        atexit(cleanup_);
    }
    const uint8_t *nul = memchr(data, 0, size);
    size_t nj = nul ? (size_t)(nul - data) : size;
    put_(json_, data, nj);
    put_(svg_, nul ? nul + 1 : data, nul ? size - nj - 1 : 0);
    (void)soma_report_build(root_, html_);
    return 0;
}
