/* Tiny test harness shared by the test programs: CHECK counts failures, the report exits
 * non-zero when any check failed, so ctest sees it. */
#ifndef SOMA_TESTS_CHECK_H
#define SOMA_TESTS_CHECK_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures_ = 0, check_count_ = 0, check_skipped_ = 0;

/* The exit status of a test some of whose checks were skipped for a missing dependency;
 * CMake registers it as SKIP_RETURN_CODE, so ctest lists the test as "Skipped". */
#define CHECK_SKIPPED_EXIT 77

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

/* 1 when any check failed; else CHECK_SKIPPED_EXIT when a dependency was missing; else 0. */
static inline int check_report(const char *name) {
    printf("%s: %d passed, %d failed%s\n", name, check_count_ - check_failures_, check_failures_,
           check_skipped_ ? ", some checks SKIPPED (missing dependency, see above)" : "");
    return check_failures_ ? 1 : check_skipped_ ? CHECK_SKIPPED_EXIT : 0;
}

/* A dependency a test needs (a data set, a browser) is missing. Under `make test`, which
 * installs every dependency and sets env_var (e.g. SOMA_REQUIRE_FMNIST=1), that is a failure;
 * elsewhere (a bare ctest) the checks are skipped with a loud note on stderr. */
static inline void check_missing_dep(const char *env_var, const char *what) {
    const char *req = getenv(env_var);
    if (req && strcmp(req, "1") == 0) {
        check_count_++;
        check_failures_++;
        fprintf(stderr, "FAIL: %s is missing and %s=1 (make test installs it: scripts/deps.sh)\n",
                what, env_var);
    } else {
        check_skipped_++;
        fprintf(stderr, "*** SKIPPED: %s is missing; its checks did not run (set %s=1 to make "
                        "this a failure) ***\n", what, env_var);
    }
}

/* Path of a file under the source tree (tests run from the build dir). */
static inline const char *check_src_path(const char *rel) {
    static char buf[4096];
    const char *root = getenv("SOMA_SOURCE_DIR");
    snprintf(buf, sizeof buf, "%s/%s", root ? root : "..", rel);
    return buf;
}
#endif
