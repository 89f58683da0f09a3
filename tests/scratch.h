/* A scratch folder for a test's files: $TMPDIR (else /tmp)/soma-test-NAME-PID. scratch_init
 * creates it, scratch_path names a file in it (four rotating buffers: up to four names may be
 * in use at once), scratch_remove deletes it with everything in it. POSIX: define
 * _POSIX_C_SOURCE before the first include. */
#ifndef SOMA_TESTS_SCRATCH_H
#define SOMA_TESTS_SCRATCH_H
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char scratch_dir_[512];

/* 0 (the reason on stderr) when the folder cannot be made. */
static inline int scratch_init(const char *name) {
    const char *base = getenv("TMPDIR");
    snprintf(scratch_dir_, sizeof scratch_dir_, "%s/soma-test-%s-%d", base && base[0] ? base : "/tmp", name,
             (int)getpid());
    if (mkdir(scratch_dir_, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "test_%s: cannot create %s\n", name, scratch_dir_);
        return 0;
    }
    return 1;
}

static inline const char *scratch_path(const char *file) {
    static char buf[4][1024];
    static int slot = 0;
    slot = (slot + 1) % 4;
    snprintf(buf[slot], sizeof buf[slot], "%s/%s", scratch_dir_, file);
    return buf[slot];
}

static inline void scratch_remove(void) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch_dir_);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", scratch_dir_);
}
#endif
