// The MPI layer (src/core/dist.c). Run by ctest as one process, it checks the one-process
// answers (no MPI started), then runs itself under `mpirun -np 2` for the collectives and the
// point-to-point messages on two ranks, and once more with one rank aborting while the other
// waits in a collective: the job must end, not hang.
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "soma/core.h"

/* mpirun: $SOMA_MPIRUN (set by CMake to the one found at configure), else from PATH. */
static const char *mpirun_(void) {
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

// --- one process, no MPI ------------------------------------------------------------------

static void test_single_(void) {
    CHECK_OK(soma_dist_init(NULL, NULL)); /* not launched, SOMA_MPI unset: starts nothing */
    CHECK(!soma_dist_launched());
    CHECK(!soma_dist_active());
    CHECK(soma_dist_rank() == 0);
    CHECK(soma_dist_size() == 1);
    float v[3] = {1.5f, -2.f, 3.25f};
    CHECK_OK(soma_dist_allreduce_sum(v, 3));
    CHECK(v[0] == 1.5f && v[1] == -2.f && v[2] == 3.25f);
    int req = 7;
    CHECK_OK(soma_dist_iallreduce_sum(v, 3, &req));
    CHECK(req == -1);
    CHECK_OK(soma_dist_wait(req));
    CHECK_OK(soma_dist_barrier());
    CHECK_OK(soma_dist_bcast(v, sizeof v, 0));
    CHECK_FAILS(soma_dist_bcast(v, sizeof v, 1), SOMA_ERR_ARG);
    CHECK_FAILS(soma_dist_send(v, sizeof v, 0, 1), SOMA_ERR_ARG);
    soma_dist_abort(3); /* not active: returns */
    soma_dist_finalize();
    CHECK(!soma_dist_active());
}

// --- two ranks -------------------------------------------------------------------------

static int child_(void) {
    CHECK(soma_dist_launched());
    CHECK_OK(soma_dist_init(NULL, NULL));
    CHECK(soma_dist_active());
    const int r = soma_dist_rank(), S = soma_dist_size();
    CHECK(S == 2);
    CHECK(r == 0 || r == 1);

    /* sums: rank r holds (r + 1) * i / 2, so the sum is 1.5 i (exact in float) */
    enum { N = 1000 };
    float a[N], b[N];
    for (int i = 0; i < N; i++) a[i] = b[i] = (float)(r + 1) * (float)i * 0.5f;
    CHECK_OK(soma_dist_allreduce_sum(a, N));
    int bad = 0;
    for (int i = 0; i < N; i++) bad += a[i] != 1.5f * (float)i;
    CHECK(bad == 0);
    double d[2] = {r + 0.25, -(double)r};
    CHECK_OK(soma_dist_allreduce_sum_f64(d, 2));
    CHECK(d[0] == 1.5 && d[1] == -1.0);
    double m[2] = {(double)r, 10.0 - r};
    CHECK_OK(soma_dist_allreduce_max_f64(m, 2));
    CHECK(m[0] == 1.0 && m[1] == 10.0);

    /* two non-blocking sums in flight at once */
    float c[4] = {1.f, 2.f, 3.f, (float)r};
    int q1 = -1, q2 = -1;
    CHECK_OK(soma_dist_iallreduce_sum(b, N, &q1));
    CHECK_OK(soma_dist_iallreduce_sum(c, 4, &q2));
    CHECK(q1 >= 0 && q2 >= 0 && q1 != q2);
    CHECK_OK(soma_dist_wait(q2));
    CHECK_OK(soma_dist_wait(q1));
    bad = 0;
    for (int i = 0; i < N; i++) bad += b[i] != 1.5f * (float)i;
    CHECK(bad == 0);
    CHECK(c[0] == 2.f && c[1] == 4.f && c[2] == 6.f && c[3] == 1.f);
    CHECK_FAILS(soma_dist_wait(q1), SOMA_ERR_ARG); /* released already */

    /* broadcast from rank 1 */
    char text[32] = "";
    if (r == 1) snprintf(text, sizeof text, "from rank one");
    CHECK_OK(soma_dist_bcast(text, sizeof text, 1));
    CHECK(strcmp(text, "from rank one") == 0);
    CHECK_FAILS(soma_dist_bcast(text, sizeof text, 2), SOMA_ERR_ARG);

    /* messages: rank 1 sends two, rank 0 probes, refuses a too-small buffer, receives */
    CHECK_FAILS(soma_dist_send(text, 1, 5, 0), SOMA_ERR_ARG);
    CHECK_FAILS(soma_dist_send(text, 1, 0, 40000), SOMA_ERR_ARG);
    if (r == 1) {
        int msg[3] = {42, 43, 44};
        CHECK_OK(soma_dist_send(msg, sizeof msg, 0, 7));
        CHECK_OK(soma_dist_send(msg, sizeof(int), 0, 8));
    } else {
        int found = -1, src = -1, tag = -1;
        size_t len = 0;
        CHECK_OK(soma_dist_probe(SOMA_DIST_ANY, 9, 0.05, &found, &src, &tag, &len)); /* nobody sends tag 9 */
        CHECK(found == 0);
        CHECK_OK(soma_dist_probe(1, 7, 30.0, &found, &src, &tag, &len));
        CHECK(found == 1 && src == 1 && tag == 7 && len == 3 * sizeof(int));
        int got[3] = {0, 0, 0};
        CHECK_FAILS(soma_dist_recv(got, sizeof(int), 1, 7, &len, &src, &tag), SOMA_ERR_ARG);
        CHECK_OK(soma_dist_recv(got, sizeof got, SOMA_DIST_ANY, 7, &len, &src, &tag));
        CHECK(len == sizeof got && src == 1 && tag == 7 && got[0] == 42 && got[1] == 43 && got[2] == 44);
        CHECK_OK(soma_dist_recv(got, sizeof got, SOMA_DIST_ANY, SOMA_DIST_ANY, &len, &src, &tag));
        CHECK(len == sizeof(int) && tag == 8 && got[0] == 42);
    }
    CHECK_OK(soma_dist_barrier());
    soma_dist_finalize();
    CHECK(!soma_dist_active() && soma_dist_size() == 1);
    char name[64];
    snprintf(name, sizeof name, "test_dist rank %d of %d", r, S);
    return check_report(name);
}

/* Rank 1 aborts while rank 0 waits in an all-reduce that never completes. */
static int child_abort_(void) {
    if (soma_dist_init(NULL, NULL) != SOMA_OK) return 1;
    if (soma_dist_rank() == 1) soma_dist_abort(3);
    float v = 1.f;
    soma_dist_allreduce_sum(&v, 1);
    soma_dist_finalize();
    return 0;
}

/* Runs `timeout 60 mpirun ... -np 2 SELF MODE`, its output into out; returns its exit status
 * (124: the timeout killed it). */
static int spawn_(const char *mpirun, const char *mode, char *out, size_t cap) {
    char self[4096], cmd[9000];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) return -1;
    self[len] = '\0';
    snprintf(cmd, sizeof cmd, "timeout 60 '%s' --allow-run-as-root --oversubscribe -np 2 '%s' %s 2>&1", mpirun, self,
             mode);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int rc = pclose(p);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--child") == 0) return child_();
    if (argc > 1 && strcmp(argv[1], "--child-abort") == 0) return child_abort_();
    test_single_();
    const char *mpirun = mpirun_();
    if (!mpirun) {
        check_missing_dep("SOMA_REQUIRE_MPI", "mpirun (Debian openmpi-bin)");
        return check_report("test_dist");
    }
    static char out[65536];
    int rc = spawn_(mpirun, "--child", out, sizeof out);
    fputs(out, stdout);
    CHECK(rc == 0);
    for (int r = 0; r < 2; r++) { /* each rank ran its checks, and all of them passed */
        char key[64];
        snprintf(key, sizeof key, "test_dist rank %d of 2: ", r);
        const char *at = strstr(out, key);
        int passed = -1, failed = -1;
        CHECK(at && sscanf(at + strlen(key), "%d passed, %d failed", &passed, &failed) == 2);
        CHECK(passed >= 25 && failed == 0);
    }
    const double t0 = soma_now();
    rc = spawn_(mpirun, "--child-abort", out, sizeof out);
    printf("abort run: exit %d after %.1f s\n", rc, soma_now() - t0);
    CHECK(rc != 0 && rc != 124); /* ended by the abort, not by the timeout */
    return check_report("test_dist");
}
