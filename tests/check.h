/* Tiny test harness shared by the test programs: CHECK counts failures, the report exits
 * non-zero when any check failed, so ctest sees it. */
#ifndef SOMA_TESTS_CHECK_H
#define SOMA_TESTS_CHECK_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures_ = 0, check_count_ = 0;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        check_count_++;                                                             \
        if (!(cond)) {                                                              \
            check_failures_++;                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                           \
    } while (0)

#define CHECK_OK(call)                                                                  \
    do {                                                                                \
        check_count_++;                                                                 \
        soma_status st_ = (call);                                                       \
        if (st_ != SOMA_OK) {                                                           \
            check_failures_++;                                                          \
            fprintf(stderr, "%s:%d: %s returned %s: %s\n", __FILE__, __LINE__, #call,   \
                    soma_status_str(st_), soma_errmsg());                               \
        }                                                                               \
    } while (0)

/* Expects a specific failure status and a non-empty, single-line message. */
#define CHECK_FAILS(call, want)                                                          \
    do {                                                                                 \
        check_count_++;                                                                  \
        soma_error_clear();                                                              \
        soma_status st_ = (call);                                                        \
        const char *m_ = soma_errmsg();                                                  \
        if (st_ != (want) || !m_[0] || strchr(m_, '\n')) {                               \
            check_failures_++;                                                           \
            fprintf(stderr, "%s:%d: %s: want %s, got %s (\"%s\")\n", __FILE__, __LINE__, \
                    #call, soma_status_str(want), soma_status_str(st_), m_);             \
        }                                                                                \
    } while (0)

#define CHECK_CLOSE(label, got, ref, n, atol, rtol) \
    do {                                            \
        check_count_++;                             \
        if (!soma_check_close(label, got, ref, n, atol, rtol)) check_failures_++; \
    } while (0)

static inline int check_report(const char *name) {
    printf("%s: %d passed, %d failed\n", name, check_count_ - check_failures_, check_failures_);
    return check_failures_ ? 1 : 0;
}

/* Path of a file under the source tree (tests run from the build dir). */
static inline const char *check_src_path(const char *rel) {
    static char buf[4096];
    const char *root = getenv("SOMA_SOURCE_DIR");
    snprintf(buf, sizeof buf, "%s/%s", root ? root : "..", rel);
    return buf;
}
#endif
