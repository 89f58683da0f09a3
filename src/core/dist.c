// Open MPI underneath soma's distributed runs: initialisation only under a launcher (or when
// asked), a private communicator that returns errors, collectives and small point-to-point
// messages. Everything answers for one process when MPI is not active.
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "soma/core.h"

static MPI_Comm comm_ = MPI_COMM_NULL;
static int active_ = 0, owner_ = 0, rank_ = 0, size_ = 1;
static MPI_Request reqs_[SOMA_DIST_MAX_REQ];
static int req_used_[SOMA_DIST_MAX_REQ];

/* MPI's error text as a soma error. */
static soma_status mpi_fail_(int rc, const char *what) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) len = 0;
    msg[len < (int)sizeof msg ? len : (int)sizeof msg - 1] = '\0';
    return soma_error(SOMA_ERR_IO, "mpi: %s failed on rank %d of %d: %s", what, rank_, size_,
                      len ? msg : "unknown error");
}

#define MPI_TRY(call, what)                      \
    do {                                         \
        int mpi_rc_ = (call);                    \
        if (mpi_rc_ != MPI_SUCCESS)              \
            return mpi_fail_(mpi_rc_, what);     \
    } while (0)

int soma_dist_launched(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

static soma_status init_(int *argc, char ***argv) {
    if (active_) return SOMA_OK;
    int inited = 0, finalized = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (finalized) return soma_error(SOMA_ERR_ARG, "mpi: already finalized; MPI cannot start twice in one process");
    if (!inited) {
        int provided = 0;
        int rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) return soma_error(SOMA_ERR_IO, "mpi: MPI_Init_thread failed (error %d)", rc);
        owner_ = 1;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_TRY(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
    MPI_TRY(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    MPI_TRY(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    MPI_TRY(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
    memset(req_used_, 0, sizeof req_used_);
    active_ = 1;
    return SOMA_OK;
}

soma_status soma_dist_init(int *argc, char ***argv) {
    const char *want = getenv("SOMA_MPI");
    if (!soma_dist_launched() && !(want && strcmp(want, "1") == 0)) return SOMA_OK;
    return init_(argc, argv);
}

soma_status soma_dist_init_always(int *argc, char ***argv) { return init_(argc, argv); }

int soma_dist_active(void) { return active_; }
int soma_dist_rank(void) { return active_ ? rank_ : 0; }
int soma_dist_size(void) { return active_ ? size_ : 1; }

// --- collectives -----------------------------------------------------------------------

/* MPI counts are ints: large buffers go in chunks (the same chunks on every rank). */
#define CHUNK ((size_t)1 << 28)

static soma_status allreduce_(void *buf, size_t n, MPI_Datatype type, size_t elem, MPI_Op op, const char *what) {
    if (!active_ || size_ == 1 || n == 0) return SOMA_OK;
    char *p = buf;
    for (size_t off = 0; off < n; off += CHUNK) {
        size_t m = n - off < CHUNK ? n - off : CHUNK;
        MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, p + off * elem, (int)m, type, op, comm_), what);
    }
    return SOMA_OK;
}

soma_status soma_dist_allreduce_sum(float *buf, size_t n) {
    return allreduce_(buf, n, MPI_FLOAT, sizeof(float), MPI_SUM, "MPI_Allreduce(float sum)");
}

soma_status soma_dist_allreduce_sum_f64(double *buf, size_t n) {
    return allreduce_(buf, n, MPI_DOUBLE, sizeof(double), MPI_SUM, "MPI_Allreduce(double sum)");
}

soma_status soma_dist_allreduce_max_f64(double *buf, size_t n) {
    return allreduce_(buf, n, MPI_DOUBLE, sizeof(double), MPI_MAX, "MPI_Allreduce(double max)");
}

soma_status soma_dist_iallreduce_sum(float *buf, size_t n, int *req) {
    *req = -1;
    if (!active_ || size_ == 1 || n == 0) return SOMA_OK;
    if (n > (size_t)INT_MAX)
        return soma_error(SOMA_ERR_ARG, "mpi: non-blocking all-reduce of %zu floats (at most %d)", n, INT_MAX);
    int slot = -1;
    for (int i = 0; i < SOMA_DIST_MAX_REQ && slot < 0; i++)
        if (!req_used_[i]) slot = i;
    if (slot < 0)
        return soma_error(SOMA_ERR_ARG, "mpi: more than %d non-blocking all-reduces outstanding; wait on some first",
                          SOMA_DIST_MAX_REQ);
    MPI_TRY(MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, comm_, &reqs_[slot]), "MPI_Iallreduce");
    req_used_[slot] = 1;
    *req = slot;
    return SOMA_OK;
}

soma_status soma_dist_wait(int req) {
    if (req < 0) return SOMA_OK;
    if (req >= SOMA_DIST_MAX_REQ || !req_used_[req])
        return soma_error(SOMA_ERR_ARG, "mpi: wait on request %d, which is not outstanding", req);
    req_used_[req] = 0;
    MPI_TRY(MPI_Wait(&reqs_[req], MPI_STATUS_IGNORE), "MPI_Wait");
    return SOMA_OK;
}

soma_status soma_dist_test(int req, int *done) {
    *done = 1;
    if (req < 0) return SOMA_OK;
    if (req >= SOMA_DIST_MAX_REQ || !req_used_[req])
        return soma_error(SOMA_ERR_ARG, "mpi: test of request %d, which is not outstanding", req);
    int flag = 0;
    MPI_TRY(MPI_Test(&reqs_[req], &flag, MPI_STATUS_IGNORE), "MPI_Test");
    *done = flag != 0;
    return SOMA_OK;
}

soma_status soma_dist_barrier(void) {
    if (!active_ || size_ == 1) return SOMA_OK;
    MPI_TRY(MPI_Barrier(comm_), "MPI_Barrier");
    return SOMA_OK;
}

soma_status soma_dist_bcast(void *buf, size_t bytes, int root) {
    if (!active_ || size_ == 1 || bytes == 0) {
        if (root != 0 && (!active_ || size_ == 1))
            return soma_error(SOMA_ERR_ARG, "mpi: broadcast from rank %d in a run of one process", root);
        return SOMA_OK;
    }
    if (root < 0 || root >= size_) return soma_error(SOMA_ERR_ARG, "mpi: broadcast from rank %d of %d", root, size_);
    char *p = buf;
    for (size_t off = 0; off < bytes; off += CHUNK) {
        size_t m = bytes - off < CHUNK ? bytes - off : CHUNK;
        MPI_TRY(MPI_Bcast(p + off, (int)m, MPI_BYTE, root, comm_), "MPI_Bcast");
    }
    return SOMA_OK;
}

// --- point to point ----------------------------------------------------------------------

static soma_status p2p_check_(int peer, int tag, int any_ok, const char *what) {
    if (!active_) return soma_error(SOMA_ERR_ARG, "mpi: %s without MPI (run under mpirun)", what);
    if (!(any_ok && peer == SOMA_DIST_ANY) && (peer < 0 || peer >= size_))
        return soma_error(SOMA_ERR_ARG, "mpi: %s: rank %d out of range (0..%d)", what, peer, size_ - 1);
    if (!(any_ok && tag == SOMA_DIST_ANY) && (tag < 0 || tag > 32767))
        return soma_error(SOMA_ERR_ARG, "mpi: %s: tag %d out of range (0..32767)", what, tag);
    return SOMA_OK;
}

soma_status soma_dist_send(const void *buf, size_t bytes, int dest, int tag) {
    SOMA_TRY(p2p_check_(dest, tag, 0, "send"));
    if (bytes > (size_t)INT_MAX) return soma_error(SOMA_ERR_ARG, "mpi: send of %zu bytes (at most %d)", bytes, INT_MAX);
    MPI_TRY(MPI_Send(buf, (int)bytes, MPI_BYTE, dest, tag, comm_), "MPI_Send");
    return SOMA_OK;
}

static void status_out_(const MPI_Status *s, size_t *bytes, int *source_out, int *tag_out) {
    int count = 0;
    MPI_Get_count(s, MPI_BYTE, &count);
    if (bytes) *bytes = (size_t)(count > 0 ? count : 0);
    if (source_out) *source_out = s->MPI_SOURCE;
    if (tag_out) *tag_out = s->MPI_TAG;
}

soma_status soma_dist_probe(int source, int tag, double timeout_s, int *found, int *source_out, int *tag_out,
                            size_t *bytes) {
    *found = 0;
    SOMA_TRY(p2p_check_(source, tag, 1, "probe"));
    const int src = source == SOMA_DIST_ANY ? MPI_ANY_SOURCE : source;
    const int tg = tag == SOMA_DIST_ANY ? MPI_ANY_TAG : tag;
    MPI_Status s;
    if (timeout_s < 0) {
        MPI_TRY(MPI_Probe(src, tg, comm_, &s), "MPI_Probe");
        *found = 1;
    } else {
        const double end = soma_now() + timeout_s;
        for (;;) {
            int flag = 0;
            MPI_TRY(MPI_Iprobe(src, tg, comm_, &flag, &s), "MPI_Iprobe");
            if (flag) {
                *found = 1;
                break;
            }
            if (soma_now() >= end) break;
            struct timespec ts = {0, 200000}; /* 0.2 ms between looks */
            nanosleep(&ts, NULL);
        }
    }
    if (*found) status_out_(&s, bytes, source_out, tag_out);
    return SOMA_OK;
}

soma_status soma_dist_recv(void *buf, size_t cap, int source, int tag, size_t *bytes, int *source_out,
                           int *tag_out) {
    int found = 0, src = 0, tg = 0;
    size_t len = 0;
    SOMA_TRY(soma_dist_probe(source, tag, -1.0, &found, &src, &tg, &len));
    if (len > cap)
        return soma_error(SOMA_ERR_ARG, "mpi: message of %zu bytes from rank %d (tag %d), buffer holds %zu", len, src,
                          tg, cap);
    MPI_Status s;
    MPI_TRY(MPI_Recv(buf, (int)len, MPI_BYTE, src, tg, comm_, &s), "MPI_Recv");
    status_out_(&s, bytes, source_out, tag_out);
    return SOMA_OK;
}

// --- the end -----------------------------------------------------------------------------

void soma_dist_abort(int code) {
    if (!active_) return;
    MPI_Abort(comm_ != MPI_COMM_NULL ? comm_ : MPI_COMM_WORLD, code);
}

void soma_dist_finalize(void) {
    if (!active_) return;
    for (int i = 0; i < SOMA_DIST_MAX_REQ; i++)
        if (req_used_[i]) {
            MPI_Wait(&reqs_[i], MPI_STATUS_IGNORE);
            req_used_[i] = 0;
        }
    if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
    comm_ = MPI_COMM_NULL;
    if (owner_) MPI_Finalize();
    active_ = owner_ = 0;
    rank_ = 0;
    size_ = 1;
}
