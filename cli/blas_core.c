// The soma command's first step: run on the BLAS kernels this CPU should run.
#define _POSIX_C_SOURCE 200809L /* setenv, unsetenv, execv */
#include <stdlib.h>
#include <unistd.h>

#include "soma/core.h"

void soma_cli_blas_reexec(char **argv);

/* OpenBLAS reads OPENBLAS_CORETYPE only when it loads, and 0.3.21 falls back to SSE3 kernels
 * on a CPU it does not recognise (3x slower on an AVX-512 VM). When the kernels it picked are
 * not the ones this CPU should run, start this program again, once, with the right core set;
 * the second start finds the variable set and runs on. A user-set OPENBLAS_CORETYPE is kept.
 * Returns only when nothing needs doing or the exec failed (then it runs on as it is). */
void soma_cli_blas_reexec(char **argv) {
    const char *core = soma_blas_core_advice();
    if (!core) return;
    if (setenv("SOMA_BLAS_CORE_WAS", soma_blas_core(), 1) != 0 ||
        setenv("OPENBLAS_CORETYPE", core, 1) != 0)
        return;
    execv("/proc/self/exe", argv);
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv("SOMA_BLAS_CORE_WAS");
}
