// soma sweep: a grid of `soma train` runs, each a child process of this binary, resumable;
// under mpirun the cells are spread over the ranks (rank 0 schedules, longest first, and runs
// cells too). The sweep file, the cells' ids, folders and records: include/soma/sweep.h.
#define _GNU_SOURCE /* prctl, environ */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "soma/soma.h"

extern char **environ;

static const soma_opt sweep_opts_[] = {
    {"out", SOMA_OPT_STR, NULL, 0, 0, NULL, "the sweep's folder (default: the file's \"out\", else sweeps/NAME)", 0},
    {"dry-run", SOMA_OPT_FLAG, NULL, 0, 0, NULL, "check the file, print the cells (JSON lines), run nothing", 0},
    {"quiet", SOMA_OPT_FLAG, NULL, 0, 0, NULL, "no progress line", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const char usage_[] =
    "usage: soma sweep SWEEP.json [--out DIR] [--dry-run] [--quiet]\n"
    "       mpirun -np N soma sweep SWEEP.json\n"
    "Runs a grid of 'soma train' runs (docs/sweep.md), each in OUT/cells/ID/, and writes one JSON\n"
    "line a finished cell to OUT/results.jsonl (n_params, n_data, loss: 'soma fit-scaling' reads\n"
    "them). A finished cell is never run again; a killed one resumes from its checkpoint. Under\n"
    "mpirun the cells are spread over the ranks.\n\noptions:\n";

static void sleep_ms_(int ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

// --- one cell: a child process ----------------------------------------------------------

typedef struct runner_ {
    const soma_sweep *s;
    char **envp; /* this process's environment without MPI's variables: a cell is a plain run */
    int rank;
} runner_;

/* The environment for the cells: MPI's launch variables left out, so `soma train` in a cell
 * never mistakes itself for a rank. The strings are borrowed from environ. */
static char **cell_env_(void) {
    size_t n = 0;
    while (environ[n]) n++;
    char **e = calloc(n + 1, sizeof *e);
    if (!e) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *v = environ[i];
        if (!strncmp(v, "OMPI_", 5) || !strncmp(v, "PMIX_", 5) || !strncmp(v, "PMI_", 4) || !strncmp(v, "OPAL_", 5) ||
            !strncmp(v, "PRTE_", 5) || !strncmp(v, "HYDRA_", 6) || !strncmp(v, "MPI_LOCALRANKID", 15) ||
            !strncmp(v, "SOMA_MPI=", 9))
            continue;
        e[k++] = environ[i];
    }
    return e;
}

/* Starts cell i as `soma train ... --out DIR --ckpt DIR/ckpt.bin --resume --quiet` with its
 * output in DIR/stdout.json and DIR/stderr.txt, and notes the start in DIR/runs.log. */
static soma_status cell_start_(const runner_ *r, int i, pid_t *pid) {
    const soma_sweep *s = r->s;
    const soma_sweep_cell *c = &s->cells[i];
    SOMA_TRY(soma_sweep_cell_prepare(s, i));
    char dir[1200], ckpt[1300], logp[1300], outp[1300], errp[1300], runs[1300];
    soma_sweep_cell_path(s, i, NULL, dir, sizeof dir);
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.bin", dir);
    snprintf(logp, sizeof logp, "%s/epochs.jsonl", dir);
    snprintf(outp, sizeof outp, "%s/stdout.json", dir);
    snprintf(errp, sizeof errp, "%s/stderr.txt", dir);
    snprintf(runs, sizeof runs, "%s/runs.log", dir);
    const char *fixed[] = {"--out", dir, "--ckpt", ckpt, "--resume", "--quiet", "--log", logp};
    const int nf = (int)(sizeof fixed / sizeof *fixed);
    char **argv = calloc((size_t)c->argc + (size_t)nf + 3, sizeof *argv);
    if (!argv) return soma_error(SOMA_ERR_NOMEM, "sweep: out of memory");
    int a = 0;
    argv[a++] = (char *)"soma";
    argv[a++] = (char *)"train";
    for (int k = 0; k < c->argc; k++) argv[a++] = c->argv[k];
    for (int k = 0; k < nf; k++) argv[a++] = (char *)fixed[k];
    argv[a] = NULL;
    int fo = open(outp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int fe = open(errp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fo < 0 || fe < 0) {
        if (fo >= 0) close(fo);
        if (fe >= 0) close(fe);
        free(argv);
        return soma_error(SOMA_ERR_IO, "sweep: cannot create %s: %s", fo < 0 ? outp : errp, strerror(errno));
    }
    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid();
    pid_t p = fork();
    if (p == 0) { /* the child: only async-signal-safe calls until exec */
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a killed sweep takes its cells along */
        if (getppid() != parent) _exit(125);
        if (dup2(fo, 1) < 0 || dup2(fe, 2) < 0) _exit(126);
        execve("/proc/self/exe", argv, r->envp);
        _exit(127);
    }
    int err = errno;
    close(fo);
    close(fe);
    free(argv);
    if (p < 0) return soma_error(SOMA_ERR_IO, "sweep: cannot start a process for cell %s: %s", c->id, strerror(err));
    char line[128];
    int n = snprintf(line, sizeof line, "start rank %d pid %ld sweep %ld\n", r->rank, (long)p, (long)parent);
    int fr = open(runs, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fr >= 0) {
        if (write(fr, line, (size_t)n) != n) { /* the count is a record, not a need: carry on */
        }
        close(fr);
    }
    *pid = p;
    return SOMA_OK;
}

/* After the child of cell i ended with wait status ws: 1 when the cell finished (then its
 * run.json is written), 0 when it failed. */
static int cell_end_(const runner_ *r, int i, int ws, double seconds) {
    if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0 && soma_sweep_cell_done(r->s, i)) {
        if (soma_sweep_cell_finish(r->s, i, r->rank, seconds) != SOMA_OK) soma_error_clear();
        return 1;
    }
    return 0;
}

// --- the schedule ------------------------------------------------------------------------

typedef struct sched_ {
    runner_ run;
    int size;         /* ranks */
    const int *queue; /* pending cells, longest first */
    int n_queue, next;
    int ran, failed, first_failed;
    soma_progress prog;
    int n_done_before; /* finished before this run */
    int *worker;       /* rank 0 under MPI: worker[r] 0 not heard from, 1 running a cell, 2 waiting */
} sched_;

/* Rank 0's part of a finished cell: its record, the progress line, the failure count. */
static void settle_(sched_ *q, int i, int ok) {
    const soma_sweep *s = q->run.s;
    if (ok) {
        if (soma_sweep_append_result(s, i) != SOMA_OK) soma_error_clear();
        q->ran++;
    } else {
        if (q->failed++ == 0) q->first_failed = i;
        char dir[1200], line[1400];
        snprintf(line, sizeof line, "cell %s failed; see %s/stderr.txt", s->cells[i].id,
                 soma_sweep_cell_path(s, i, NULL, dir, sizeof dir));
        soma_progress_note(&q->prog, line);
    }
    char extra[64];
    snprintf(extra, sizeof extra, "%d of %d cells done", q->n_done_before + q->ran, s->n_cells);
    soma_progress_update(&q->prog, q->ran + q->failed, extra);
}

// --- ranks ---------------------------------------------------------------------------------
//
// Under mpirun (soma_dist_* in core.h; cli/main.c starts and ends MPI) rank 0 holds the queue.
// The other ranks send TAG_ASK {cell they finished or -1, 1 if it finished} and get TAG_CELL
// {next cell, or -1: stop}. Nobody blocks inside MPI while a cell runs: rank 0 looks for
// requests between looks at its own child; a worker waits for its child in waitpid and for
// rank 0's answer in 5 ms naps, so waiting ranks take no core from the cells.

enum { TAG_ASK = 7101, TAG_CELL = 7102 };

static int quiet_error_; /* this rank's error is another rank's, already printed there */

/* Every rank's check of the file agrees: when any failed, all fail; the failing ranks print
 * their message (the others only when rank 0 did not fail: then it is theirs to tell). */
static soma_status sweep_mpi_agree_(soma_status st, int rank, int size) {
    if (size <= 1) return st;
    double flags[2] = {st != SOMA_OK, rank == 0 && st != SOMA_OK};
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", soma_errmsg());
    soma_status rs = soma_dist_allreduce_max_f64(flags, 2);
    if (rs != SOMA_OK) return rs;
    if (st != SOMA_OK) {
        quiet_error_ = rank != 0 && flags[1] > 0; /* rank 0 says it */
        return soma_error(st, "%s", msg);
    }
    if (flags[0] > 0) {
        quiet_error_ = 1;
        return soma_error(SOMA_ERR_ARG, "sweep: another rank refused the sweep file");
    }
    return SOMA_OK;
}

/* Rank 0: answers the other ranks' requests, settling the cells they finished. *busy: how
 * many are running a cell. */
static soma_status sweep_mpi_serve_(sched_ *q, int *busy) {
    *busy = 0;
    if (q->size <= 1) return SOMA_OK;
    for (;;) {
        int found = 0, src = 0;
        SOMA_TRY(soma_dist_probe(SOMA_DIST_ANY, TAG_ASK, 0.0, &found, &src, NULL, NULL));
        if (!found) break;
        int msg[2];
        size_t got = 0;
        SOMA_TRY(soma_dist_recv(msg, sizeof msg, src, TAG_ASK, &got, NULL, NULL));
        if (got != sizeof msg || msg[0] < -1 || msg[0] >= q->run.s->n_cells)
            return soma_error(SOMA_ERR_INTERNAL, "sweep: a bad request from rank %d", src);
        if (msg[0] >= 0) settle_(q, msg[0], msg[1]);
        q->worker[src] = 0;
        if (q->next < q->n_queue) {
            int cell = q->queue[q->next++];
            SOMA_TRY(soma_dist_send(&cell, sizeof cell, src, TAG_CELL));
            q->worker[src] = 1;
        } else {
            q->worker[src] = 2; /* waits for the end */
        }
    }
    for (int r = 1; r < q->size; r++) *busy += q->worker[r] == 1;
    return SOMA_OK;
}

/* Rank 0, the queue empty and every cell settled: waits until every rank has asked once more
 * (a rank that never got a cell asks too), then tells them all to stop. */
static soma_status sweep_mpi_stop_(sched_ *q) {
    for (;;) {
        int busy, waiting = 0;
        SOMA_TRY(sweep_mpi_serve_(q, &busy));
        for (int r = 1; r < q->size; r++) waiting += q->worker[r] == 2;
        if (waiting == q->size - 1) break;
        sleep_ms_(5);
    }
    int stop = -1;
    for (int r = 1; r < q->size; r++) SOMA_TRY(soma_dist_send(&stop, sizeof stop, r, TAG_CELL));
    return SOMA_OK;
}

/* The other ranks: ask rank 0 for cells and run them until it says stop. */
static soma_status sweep_mpi_work_(sched_ *q) {
    int msg[2] = {-1, 0};
    for (;;) {
        SOMA_TRY(soma_dist_send(msg, sizeof msg, 0, TAG_ASK));
        int found = 0, cell = -1;
        while (!found) {
            SOMA_TRY(soma_dist_probe(0, TAG_CELL, 0.0, &found, NULL, NULL, NULL));
            if (!found) sleep_ms_(5);
        }
        SOMA_TRY(soma_dist_recv(&cell, sizeof cell, 0, TAG_CELL, NULL, NULL, NULL));
        if (cell < 0) return SOMA_OK;
        if (cell >= q->run.s->n_cells) return soma_error(SOMA_ERR_INTERNAL, "sweep: rank 0 sent cell %d", cell);
        pid_t pid;
        double t0 = soma_now();
        SOMA_TRY(cell_start_(&q->run, cell, &pid));
        int ws = 0;
        while (waitpid(pid, &ws, 0) < 0)
            if (errno != EINTR)
                return soma_error(SOMA_ERR_IO, "sweep: lost the process of cell %s: %s", q->run.s->cells[cell].id,
                                  strerror(errno));
        msg[0] = cell;
        msg[1] = cell_end_(&q->run, cell, ws, soma_now() - t0);
    }
}

// --- rank 0's loop -------------------------------------------------------------------------

/* Serial, and rank 0 under MPI: runs cells of the queue in its own children, and (size > 1)
 * hands cells to the other ranks as they ask. */
static soma_status schedule_(sched_ *q) {
    int own = -1;
    pid_t pid = 0;
    double t0 = 0;
    for (;;) {
        if (own >= 0) {
            int ws;
            pid_t w = waitpid(pid, &ws, q->size > 1 ? WNOHANG : 0);
            if (w == pid) {
                settle_(q, own, cell_end_(&q->run, own, ws, soma_now() - t0));
                own = -1;
            } else if (w < 0 && errno != EINTR) {
                return soma_error(SOMA_ERR_IO, "sweep: lost the process of cell %s: %s", q->run.s->cells[own].id,
                                  strerror(errno));
            }
        }
        if (own < 0 && q->next < q->n_queue) {
            own = q->queue[q->next++];
            t0 = soma_now();
            soma_status st = cell_start_(&q->run, own, &pid);
            if (st != SOMA_OK) return st;
            continue;
        }
        int workers_busy = 0;
        SOMA_TRY(sweep_mpi_serve_(q, &workers_busy));
        if (own < 0 && q->next >= q->n_queue && !workers_busy) break;
        if (q->size > 1) sleep_ms_(5);
    }
    return sweep_mpi_stop_(q);
}

// --- the command -------------------------------------------------------------------------

static int fail_(soma_status st) {
    fprintf(stderr, "soma: %s\n", soma_errmsg()[0] ? soma_errmsg() : soma_status_str(st));
    return soma_status_exit_code(st);
}

static void dry_run_(const soma_sweep *s) {
    for (int i = 0; i < s->n_cells; i++) {
        const soma_sweep_cell *c = &s->cells[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "cell", c->id);
        cJSON_AddNumberToObject(o, "n_params", (double)c->n_params);
        cJSON_AddNumberToObject(o, "n_samples", (double)c->n_samples);
        cJSON_AddNumberToObject(o, "epochs", c->epochs);
        cJSON_AddNumberToObject(o, "cost", c->cost);
        cJSON_AddBoolToObject(o, "done", soma_sweep_cell_done(s, i));
        cJSON_AddItemToObject(o, "options", cJSON_Duplicate(c->options, 1));
        char *line = cJSON_PrintUnformatted(o);
        if (line) printf("%s\n", line);
        cJSON_free(line);
        cJSON_Delete(o);
    }
}

/* One sweep at a time in a folder: an exclusive lock on OUT/sweep.lock, held until this
 * process ends (the kernel drops it when the process dies, however it dies). */
static soma_status lock_(const soma_sweep *s, int *fd) {
    char path[1100];
    snprintf(path, sizeof path, "%s/sweep.lock", s->out);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (*fd < 0) return soma_error(SOMA_ERR_IO, "sweep: cannot create %s: %s", path, strerror(errno));
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0)
        return soma_error(SOMA_ERR_ARG, "sweep: another sweep is running in %s (it holds %s); wait for it or use "
                          "another --out", s->out, path);
    return SOMA_OK;
}

int soma_cli_sweep(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_, stdout);
            soma_cli_print_opts(sweep_opts_);
            return 0;
        }
    const int rank = soma_dist_rank(), size = soma_dist_size(); /* cli/main.c started MPI under mpirun */
    soma_status st;
    soma_args a = {0};
    soma_sweep *s = NULL;
    int *order = NULL, rc = 0, lock_fd = -1;
    sched_ q = {.worker = NULL};
    char **envp = NULL;
    if (argc < 1 || argv[0][0] == '-') {
        st = soma_error(SOMA_ERR_ARG, "sweep: name the sweep file first: soma sweep SWEEP.json (see 'soma sweep --help')");
        goto out;
    }
    if ((st = soma_args_parse(&a, "sweep", sweep_opts_, argc - 1, (const char *const *)(argv + 1))) != SOMA_OK) goto out;
    /* Every rank checks the whole file (the same answer) before any cell runs. */
    if ((st = soma_sweep_read(argv[0], soma_classify_train_opts(), soma_args_str(&a, "out"), &s)) == SOMA_OK)
        st = soma_sweep_check_data(s);
    if ((st = sweep_mpi_agree_(st, rank, size)) != SOMA_OK) goto out;
    if (soma_args_flag(&a, "dry-run")) {
        if (rank == 0) dry_run_(s);
        goto out;
    }
    envp = cell_env_();
    if (!envp) {
        st = soma_error(SOMA_ERR_NOMEM, "sweep: out of memory");
        goto out;
    }
    q = (sched_){.run = {.s = s, .envp = envp, .rank = rank}, .size = size, .first_failed = -1};
    double t0 = soma_now();
    if (rank == 0) {
        char cells[1100];
        snprintf(cells, sizeof cells, "%s/cells", s->out);
        int done = 0;
        if ((st = soma_mkdir_p(cells)) != SOMA_OK || (st = lock_(s, &lock_fd)) != SOMA_OK ||
            (st = soma_sweep_write_results(s, &done)) != SOMA_OK) {
            goto out; /* cli/main.c ends the other ranks */
        }
        order = malloc((size_t)s->n_cells * sizeof *order);
        if (!order) {
            st = soma_error(SOMA_ERR_NOMEM, "sweep: out of memory");
            goto out; /* cli/main.c ends the other ranks */
        }
        soma_sweep_order(s, order);
        if (size > 1 && !(q.worker = calloc((size_t)size, sizeof *q.worker))) {
            st = soma_error(SOMA_ERR_NOMEM, "sweep: out of memory");
            goto out;
        }
        int np = 0;
        for (int k = 0; k < s->n_cells; k++)
            if (!soma_sweep_cell_done(s, order[k])) order[np++] = order[k];
        q.queue = order;
        q.n_queue = np;
        q.n_done_before = s->n_cells - np;
        soma_progress_begin(&q.prog, "sweep", np);
        q.prog.enabled = !soma_args_flag(&a, "quiet") && q.prog.enabled;
        st = schedule_(&q);
        soma_progress_end(&q.prog);
        if (st != SOMA_OK) goto out; /* cli/main.c ends the other ranks */
        if ((st = soma_sweep_write_results(s, &done)) != SOMA_OK) goto out;
        cJSON *res = cJSON_CreateObject();
        char path[1200];
        snprintf(path, sizeof path, "%s/results.jsonl", s->out);
        cJSON_AddStringToObject(res, "sweep", s->name);
        cJSON_AddStringToObject(res, "results", path);
        cJSON_AddNumberToObject(res, "cells", s->n_cells);
        cJSON_AddNumberToObject(res, "done", done);
        cJSON_AddNumberToObject(res, "ran", q.ran);
        cJSON_AddNumberToObject(res, "already_done", q.n_done_before);
        cJSON_AddNumberToObject(res, "failed", q.failed);
        cJSON_AddNumberToObject(res, "ranks", size);
        cJSON_AddNumberToObject(res, "seconds", soma_now() - t0);
        char *txt = cJSON_Print(res);
        if (txt) printf("%s\n", txt);
        cJSON_free(txt);
        cJSON_Delete(res);
        if (q.failed) {
            char dir[1200];
            st = soma_error(SOMA_ERR_INTERNAL, "sweep: %d of %d cells failed (first: %s; see %s/stderr.txt); run the "
                            "sweep again to retry them", q.failed, s->n_cells, s->cells[q.first_failed].id,
                            soma_sweep_cell_path(s, q.first_failed, NULL, dir, sizeof dir));
        }
    } else {
        st = sweep_mpi_work_(&q);
    }
out:
    if (st != SOMA_OK && !quiet_error_) rc = fail_(st);
    else if (st != SOMA_OK) rc = soma_status_exit_code(st);
    if (lock_fd >= 0) close(lock_fd); /* releases the lock */
    free(q.worker);
    free(order);
    free(envp);
    soma_sweep_free(s);
    soma_args_free(&a);
    return rc;
}
