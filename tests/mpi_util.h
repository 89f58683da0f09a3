/* Launching test programs under mpirun: where mpirun is, and the command prefix every MPI test
 * uses. The prefix sets ASAN_OPTIONS=...:fast_unwind_on_malloc=0 for the launched processes
 * (ignored by builds without ASan): Open MPI's libraries have no frame pointers, so with the
 * fast unwinder their leaks at exit show one unnamed frame that tests/lsan.supp cannot match. */
#ifndef SOMA_TESTS_MPI_UTIL_H
#define SOMA_TESTS_MPI_UTIL_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* $SOMA_MPIRUN (CMake sets it to the mpirun found at configure), else mpirun on PATH; NULL when
 * there is none (report it with check_missing_dep("SOMA_REQUIRE_MPI", ...): a failure in ctest,
 * which sets SOMA_REQUIRE_MPI=1). */
static inline const char *mpi_find_mpirun(void) {
    static char path[4096];
    const char *e = getenv("SOMA_MPIRUN");
    if (e && e[0] && access(e, X_OK) == 0) return e;
    const char *p = getenv("PATH");
    while (p && *p) {
        const char *c = strchr(p, ':');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        snprintf(path, sizeof path, "%.*s/mpirun", (int)len, p);
        if (access(path, X_OK) == 0) return path;
        p = c ? c + 1 : NULL;
    }
    return NULL;
}

/* "ASAN_OPTIONS=... timeout SECONDS 'MPIRUN' --allow-run-as-root --oversubscribe -np N " into
 * buf (a shell command's start; timeout makes a hang a failure, exit status 124). Returns 0 when
 * it did not fit. */
static inline int mpi_launch_prefix(char *buf, size_t cap, const char *mpirun, int ranks, int seconds) {
    int w = snprintf(buf, cap,
                     "ASAN_OPTIONS=\"$ASAN_OPTIONS:fast_unwind_on_malloc=0\" timeout %d '%s' --allow-run-as-root "
                     "--oversubscribe -np %d ",
                     seconds, mpirun, ranks);
    return w > 0 && (size_t)w < cap;
}
#endif
