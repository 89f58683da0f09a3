/* soma/core.h -- status codes, tensors, random numbers, GEMM, threads, progress.
 *
 * Every fallible soma function returns a soma_status (SOMA_OK == 0) and passes results out
 * through parameters. On failure, soma_errmsg() returns a one-line message saying what and
 * where ("idx: train-images: header says 60000 images, file holds 59999"). The library never
 * prints (except the progress line, which callers switch on), never exits, never aborts on bad
 * input.
 *
 *     soma_rng r; soma_rng_seed(&r, 42, 0);           // stream 0 of seed 42
 *     soma_tensor *t; SOMA_TRY(soma_tensor_new(&t, 2, (int[]){64, 784}));
 *     soma_rng_normal_fill(&r, t->data, t->n, 0.f, 1.f);
 *     soma_gemm(0, 1, M, N, K, 1.f, A, lda, B, ldb, 0.f, C, ldc);  // C = A . B^T
 *     soma_tensor_free(t);
 */
#ifndef SOMA_CORE_H
#define SOMA_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SOMA_VERSION_MAJOR 0
#define SOMA_VERSION_MINOR 1
#define SOMA_VERSION_PATCH 0
#define SOMA_VERSION "0.1.0"

// --- status ----------------------------------------------------------------------------

typedef enum soma_status {
    SOMA_OK = 0,
    SOMA_ERR_NOMEM = 1,  /* allocation failed or a size overflowed */
    SOMA_ERR_SHAPE = 2,  /* shapes do not fit together */
    SOMA_ERR_ARG = 3,    /* a bad argument or option value */
    SOMA_ERR_IO = 4,     /* a file could not be opened, read or written */
    SOMA_ERR_PARSE = 5,  /* text (spec, option, JSON, CSV) could not be parsed */
    SOMA_ERR_FORMAT = 6, /* a binary file is truncated, corrupt or of the wrong kind */
    SOMA_ERR_INTERNAL = 7, /* a broken invariant inside soma */
    SOMA_ERR_CANCELLED = 8, /* stopped by soma_cancel_request() (Ctrl-C in Python, SIGINT) */
    SOMA_STATUS_COUNT    /* append only */
} soma_status;

/* Short name of a status ("shape error"). Never NULL. */
const char *soma_status_str(soma_status s);

/* The message of the last error set on this thread ("" if none). Thread-local. */
const char *soma_errmsg(void);

/* Sets this thread's error message (printf-style) and returns s, so that
 *     return soma_error(SOMA_ERR_FORMAT, "npy: %s: bad magic", path);
 * reports and fails in one line. */
soma_status soma_error(soma_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Prefixes the current message with "<prefix>: " (adds context while unwinding). Returns s. */
soma_status soma_error_wrap(soma_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

void soma_error_clear(void);
/* The status that came with the current message (SOMA_OK after soma_error_clear): lets a
 * caller of an int-returning hook (a layer parser's -1) pass on out-of-memory as such. */
soma_status soma_error_status(void);

/* Bad user input -> 2, internal failure (memory, I/O, invariants) -> 1, OK -> 0. */
int soma_status_exit_code(soma_status s);

#define SOMA_TRY(call)                          \
    do {                                        \
        soma_status soma_try_st_ = (call);      \
        if (soma_try_st_ != SOMA_OK)            \
            return soma_try_st_;                \
    } while (0)

/* For broken invariants only, never for bad input. Calls the hook (default: print + abort). */
typedef void (*soma_abort_fn)(const char *file, int line, const char *expr);
void soma_set_abort_hook(soma_abort_fn fn);
void soma__abort(const char *file, int line, const char *expr);
#define SOMA_ASSERT(x)                               \
    do {                                             \
        if (!(x))                                    \
            soma__abort(__FILE__, __LINE__, #x);     \
    } while (0)

// --- cancellation ----------------------------------------------------------------------
//
// One process-wide flag (an atomic int) that long calls poll: the training loop once per batch
// (soma_train), the spiking simulator every 256 steps (soma_snn_run), the experiment runner
// before and after an experiment's run (soma_exp_run), LFADS once per epoch (soma_lfads_fit),
// the NDT once per step (soma_ndt_train: the run stays resumable), the VAE once per batch
// (soma_vae_train), GPFA once per EM iteration, the world model once per step (soma_wm_train),
// encoding models once per outer fold (soma_encode), RSA permutation tests every 1024
// permutations (soma_rsa_permtest) and dictionary learning once per update (soma_dict_learn).
// A call that sees it set stops and returns
// SOMA_ERR_CANCELLED ("... cancelled"); what it was computing is left partly done (a network
// half trained, a simulation stopped mid-way). The flag stays set until soma_cancel_clear(), so
// every long call of the process stops: clear it before starting new work. Safe to call from any
// thread and from a signal handler (lock-free atomic store).

void soma_cancel_request(void);
void soma_cancel_clear(void);
int soma_cancel_requested(void); /* 1 while the flag is set */
/* on = 1: installs a SIGINT handler that calls soma_cancel_request() (Ctrl-C stops the long
 * call in progress instead of the process), remembering the handler it replaces; on = 0: puts
 * that one back. For programs that run long calls on their main thread (the Python package
 * around each long call). Returns 0, or -1 when sigaction fails. Process-wide; call it from
 * one thread. */
int soma_cancel_on_sigint(int on);

// --- memory ----------------------------------------------------------------------------

/* Overflow-checked allocation: returns NULL (and sets the error text) when n*size overflows
 * or memory runs out. soma_alloc returns 64-byte-aligned, uninitialised memory; soma_calloc
 * zeroes it. Release both with soma_free. */
void *soma_alloc(size_t n, size_t size);
void *soma_calloc(size_t n, size_t size);
void soma_free(void *p);
/* For tests of the out-of-memory paths: the k-th soma_alloc/soma_calloc from now (k = 0: the
 * next one) returns NULL as if memory ran out, once; k < 0 disarms. Returns the count that was
 * still pending before this call: -1 when none was armed or the armed failure has fired. Global
 * to the process (not per thread); costs one relaxed atomic load per allocation when off. */
long soma_alloc_fail_after(long k);

/* Bytes built in memory, then written at once (a file is written to a temporary name and
 * renamed into place): soma_wbuf_put appends, growing the buffer by doubling; when memory runs
 * out it sets oom and ignores every later put (check oom once at the end). Start from
 * (soma_wbuf){0}; release with soma_wbuf_free. */
typedef struct soma_wbuf {
    unsigned char *p;
    size_t n, cap;
    int oom;
} soma_wbuf;
void soma_wbuf_put(soma_wbuf *b, const void *src, size_t n);
void soma_wbuf_free(soma_wbuf *b);
/* A bounds-checked reader over n bytes: soma_rbuf_get copies the next k bytes into dst (NULL:
 * skips them) and returns 1; past the end it copies nothing, zero-fills dst, sets bad (every
 * later get fails too) and returns 0. */
typedef struct soma_rbuf {
    const unsigned char *p;
    size_t n, off;
    int bad;
} soma_rbuf;
int soma_rbuf_get(soma_rbuf *r, void *dst, size_t k);
/* a*b into *out, 0 on overflow. */
int soma_mul_ok(size_t a, size_t b, size_t *out);

// --- tensor ----------------------------------------------------------------------------

#define SOMA_MAX_DIMS 4

/* float32, contiguous, row-major, up to 4 dimensions. The creator owns it. */
typedef struct soma_tensor {
    float *data;
    int ndim;
    int shape[SOMA_MAX_DIMS];
    size_t n;  /* product of shape */
    int owns;  /* 1: soma_tensor_free releases data */
} soma_tensor;

/* New zeroed tensor. Fails with SOMA_ERR_SHAPE on ndim outside 1..4 or a dimension < 1,
 * SOMA_ERR_NOMEM on overflow. */
soma_status soma_tensor_new(soma_tensor **out, int ndim, const int *shape);
/* A view over borrowed memory (never frees data). */
soma_tensor soma_tensor_view(float *data, int ndim, const int *shape);
void soma_tensor_free(soma_tensor *t); /* NULL is a no-op */
/* Same element count required. */
soma_status soma_tensor_reshape(soma_tensor *t, int ndim, const int *shape);
void soma_tensor_fill(soma_tensor *t, float v);

// --- shapes ----------------------------------------------------------------------------

/* A per-sample shape of rank 1..SOMA_SHAPE_RANK; dimensions past `rank` are 0. ONE
 * convention, everywhere (networks, data sets, NPY import and export):
 *     [D]           a flat vector (rank 1)
 *     [C,H,W]       an image (rank 3)
 *     [T,D]         a sequence of vectors, time first (rank 2)
 *     [T,C,H,W]     a sequence of images, time first (rank 4)
 * A batch prepends N: [N,D], [N,C,H,W], [N,T,D], [N,T,C,H,W]; the time axis always comes
 * right after the batch axis. Build shapes with the helpers, never by position. */
#define SOMA_SHAPE_RANK 4
typedef struct soma_shape {
    int rank;
    int d[SOMA_SHAPE_RANK];
} soma_shape;
static inline soma_shape soma_shape1(int D) { return (soma_shape){1, {D, 0, 0, 0}}; }
static inline soma_shape soma_shape2(int T, int D) { return (soma_shape){2, {T, D, 0, 0}}; }
static inline soma_shape soma_shape3(int C, int H, int W) { return (soma_shape){3, {C, H, W, 0}}; }
static inline soma_shape soma_shape4(int T, int C, int H, int W) {
    return (soma_shape){4, {T, C, H, W}};
}
/* Product of the dimensions (0 for a rank outside 1..SOMA_SHAPE_RANK). */
static inline size_t soma_shape_size(soma_shape s) {
    if (s.rank < 1 || s.rank > SOMA_SHAPE_RANK) return 0;
    size_t n = 1;
    for (int i = 0; i < s.rank; i++) n *= (size_t)(s.d[i] > 0 ? s.d[i] : 0);
    return n;
}
/* 1 iff same rank and the same dimensions. */
static inline int soma_shape_eq(soma_shape a, soma_shape b) {
    if (a.rank != b.rank) return 0;
    for (int i = 0; i < a.rank && i < SOMA_SHAPE_RANK; i++)
        if (a.d[i] != b.d[i]) return 0;
    return 1;
}
/* 1 iff rank is 1..SOMA_SHAPE_RANK, every dimension >= 1 and the size <= 2^28. */
int soma_shape_ok(soma_shape s);
/* "[1,28,28]" into buf (always terminated); returns buf, for messages. */
const char *soma_shape_str(soma_shape s, char *buf, size_t cap);

// --- random numbers --------------------------------------------------------------------

/* xoshiro256** seeded by splitmix64 from (seed, stream). One generator per stream: the same
 * seed, stream and call sequence give the same numbers on every machine. Not thread-safe:
 * give each thread its own stream. */
typedef struct soma_rng {
    uint64_t s[4];
    double spare; /* cached second normal from Box-Muller */
    int has_spare;
} soma_rng;

void soma_rng_seed(soma_rng *r, uint64_t seed, uint64_t stream);
uint64_t soma_rng_u64(soma_rng *r);
uint32_t soma_rng_u32(soma_rng *r);
double soma_rng_uniform(soma_rng *r);              /* [0, 1) with 53 bits */
uint64_t soma_rng_below(soma_rng *r, uint64_t n);  /* uniform in [0, n), unbiased; n >= 1 */
double soma_rng_normal(soma_rng *r);               /* N(0, 1) */
int soma_rng_bernoulli(soma_rng *r, double p);
uint64_t soma_rng_poisson(soma_rng *r, double lambda); /* lambda >= 0 */
void soma_rng_permutation(soma_rng *r, int *perm, int n); /* a uniform permutation of 0..n-1 */
void soma_rng_shuffle_int(soma_rng *r, int *a, int n);
void soma_rng_uniform_fill(soma_rng *r, float *x, size_t n, float lo, float hi);
void soma_rng_normal_fill(soma_rng *r, float *x, size_t n, float mean, float std);

// --- linear algebra --------------------------------------------------------------------

/* C[M,N] = alpha * op(A)[M,K] . op(B)[K,N] + beta * C, row-major, op = transpose when ta/tb.
 * lda/ldb/ldc are row strides as stored. Calls CBLAS sgemm (the OpenMP build of OpenBLAS by
 * default). beta == 0 overwrites C (NaNs in C are ignored). */
void soma_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc);
/* The naive triple loop, same contract: the reference for tests. */
void soma_gemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc);
/* y[M] = alpha * op(A) . x + beta * y */
void soma_gemv(int ta, int M, int N, float alpha, const float *A, int lda, const float *x,
               float beta, float *y);
/* The BLAS this build links ("openblas-openmp") and its own config string. */
const char *soma_blas_name(void);
const char *soma_blas_config(void);

// --- machine and BLAS kernels ----------------------------------------------------------
//
// OpenBLAS picks its kernels from the CPU model when it loads; on a CPU it does not know (a
// cloud VM that masks the model) 0.3.21 falls back to SSE3 kernels, 3x slower. soma checks
// the kernel set against what the CPU can run (CPUID) and, when they disagree, names the
// core that should run. OPENBLAS_CORETYPE is read only when OpenBLAS loads, so the soma
// command re-executes itself once with it set (soma_blas_core_advice); a user-set value is
// always kept. A program of your own does the same, or sets the variable before it starts.

/* CPU features that decide which kernels run; set only when the OS saves the registers. */
enum {
    SOMA_CPU_AVX = 1u << 0,
    SOMA_CPU_AVX2 = 1u << 1,
    SOMA_CPU_FMA = 1u << 2,
    SOMA_CPU_AVX512F = 1u << 3,
    SOMA_CPU_AVX512BW = 1u << 4,
    SOMA_CPU_AVX512VL = 1u << 5,
    SOMA_CPU_AVX512DQ = 1u << 6,
};

typedef struct soma_cpu_info {
    char vendor[16];      /* CPUID vendor: "GenuineIntel", "AuthenticAMD"; "" off x86 */
    char model_name[64];  /* CPUID brand string, trimmed (a VM may mask it: "AMD EPYC") */
    int family, model;    /* display family and model (AMD Zen 4: 25, 17) */
    unsigned features;    /* SOMA_CPU_* bits */
    int n_cpus;           /* online logical CPUs */
} soma_cpu_info;

/* This machine's CPU (CPUID + XGETBV on x86-64; vendor "" and no features elsewhere). */
void soma_cpu_detect(soma_cpu_info *out);

/* Vector level of a feature set: 3 = AVX-512 F+BW+VL+DQ, 2 = AVX2+FMA, 1 = AVX, 0 = less. */
int soma_cpu_level(unsigned features);

/* Vector level of an OpenBLAS core (kernel set) by name, case-insensitive (Prescott 0,
 * Sandybridge 1, Haswell/Zen 2, SkylakeX/Cooperlake/SapphireRapids 3); -1 when unknown. */
int soma_blas_core_level(const char *core);

/* The OpenBLAS core `cpu` should run, given the one running (`current`); NULL when that one
 * is right or when `current` is unknown (NULL, "", another BLAS). Pure: a table test drives
 * it. The right core is the fastest measured for the CPU's level: SkylakeX on AVX-512,
 * except AMD family 25 (Zen 3/4: AVX-512 in two 256-bit halves), where Zen's AVX2 kernels
 * ran sgemm-1024 at 215 GFLOP/s against 204-207 for SkylakeX/Cooperlake (2 cores, Zen 4);
 * Zen on other AVX2 AMD CPUs, Haswell on other AVX2 CPUs, Sandybridge on AVX-only ones. */
const char *soma_blas_core_pick(const soma_cpu_info *cpu, const char *current);

/* The running OpenBLAS core ("Haswell"), or "" when the BLAS is not OpenBLAS. */
const char *soma_blas_core(void);

/* For a program's first lines: the OPENBLAS_CORETYPE value to re-execute itself with, or NULL
 * when the kernels running are right, the user has set OPENBLAS_CORETYPE, or the BLAS is not
 * an OpenBLAS that can switch (DYNAMIC_ARCH). Sets nothing. Before re-executing, set SOMA_BLAS_CORE_WAS to soma_blas_core() so
 * that soma_blas_info_get can tell what OpenBLAS had picked by itself. */
const char *soma_blas_core_advice(void);

typedef struct soma_blas_info {
    char name[32];        /* soma_blas_name(): "openblas-openmp" */
    char config[160];     /* the BLAS's own config string ("OpenBLAS 0.3.21 ... Haswell ...") */
    char core[32];        /* the kernels running ("" when unknown) */
    char core_auto[32];   /* what OpenBLAS picked by itself when soma replaced it, else core */
    char core_source[16]; /* "openblas" (its own pick), "soma" (soma replaced it), "user" */
    char core_advice[32]; /* the core soma would run instead, "" when the running one is right */
} soma_blas_info;

void soma_blas_info_get(soma_blas_info *out);

/* One line naming the CPU and the BLAS kernels, e.g. "AMD EPYC (AuthenticAMD family 25 model
 * 17, 2 cpus, avx2 fma avx512f avx512bw avx512vl avx512dq); BLAS openblas-openmp core Zen
 * (set by soma; OpenBLAS picked Cooperlake)". Truncated to cap; returns the full length
 * (snprintf-style). */
int soma_machine_describe(char *buf, size_t cap);

// --- threads ---------------------------------------------------------------------------

/* Sets the thread count for OpenMP loops and the BLAS (n >= 1). Same seed + same count give
 * the same numbers, bit for bit. */
void soma_set_threads(int n);
int soma_get_threads(void);
/* 1 if built with OpenMP. */
int soma_have_openmp(void);

// --- time and progress -----------------------------------------------------------------

double soma_now(void); /* monotonic seconds */

/* Progress on stderr. On a terminal: one line redrawn in place (rate-limited to ~10 redraws a
 * second), and the lines given to soma_progress_note stay on screen above it (the epoch
 * history). Elsewhere (a batch job's log): no redraws, only the noted lines, one each.
 * SOMA_PROGRESS=1 forces the terminal form, SOMA_PROGRESS=0 turns everything off; callers
 * switch it off with enabled = 0 (--quiet). */
typedef struct soma_progress {
    const char *label;
    long total, done;
    double t0, last_draw;
    int enabled;
    int tty; /* redraw in place (a terminal) or print noted lines only */
} soma_progress;
void soma_progress_begin(soma_progress *p, const char *label, long total);
/* extra: a short free text such as "loss 0.412" (may be NULL). */
void soma_progress_update(soma_progress *p, long done, const char *extra);
/* A line that stays: "epoch 3/10 loss 0.412 ..." (the label is put in front). */
void soma_progress_note(soma_progress *p, const char *line);
void soma_progress_end(soma_progress *p);

// --- minimisation ----------------------------------------------------------------------

/* An objective for soma_lbfgs: returns f(x) and writes its gradient into grad[n]. A
 * non-finite return rejects the point (the line search steps back). */
typedef double (*soma_objective)(const double *x, double *grad, void *ctx);

/* Zero-initialise, then set what you need; every 0 field takes its default. */
typedef struct soma_lbfgs_opts {
    int m;          /* correction pairs kept; 0 -> 8 */
    int max_iter;   /* iterations; 0 -> 1000 */
    double g_tol;   /* converged when max_k |grad_k| <= g_tol * max(1, |f|); 0 -> 1e-8, < 0: off */
    double f_tol;   /* also converged when an iteration lowers f by <= f_tol * max(1, |f|); 0: off */
    double c1, c2;  /* strong Wolfe constants; 0 -> 1e-4 and 0.9 */
    int max_ls;     /* objective evaluations per line search; 0 -> 40 */
    double *work;   /* optional scratch of soma_lbfgs_work_size(n, m) doubles; NULL: allocated */
} soma_lbfgs_opts;

typedef struct soma_lbfgs_result {
    double f;         /* the objective at the returned x */
    double g_norm;    /* max_k |grad_k| there */
    int iterations;   /* accepted steps */
    int evaluations;  /* objective calls */
    int converged;    /* 1 iff g_tol (or f_tol) was met; 0: max_iter, or no step lowered f */
} soma_lbfgs_result;

/* Doubles of scratch soma_lbfgs needs for n variables and memory m (0 -> 8). */
size_t soma_lbfgs_work_size(int n, int m);

/* Minimises f from x[n] (updated in place to the best point found) by limited-memory BFGS
 * with a line search satisfying the strong Wolfe conditions. r may be NULL. Deterministic;
 * allocates only when o->work is NULL. Errors: SOMA_ERR_ARG (n < 1, NULL x or f, a bad
 * option, a non-finite objective at the start), SOMA_ERR_NOMEM. Not reaching a tolerance is
 * no error: r->converged says so. */
soma_status soma_lbfgs(int n, double *x, soma_objective f, void *ctx, const soma_lbfgs_opts *o,
                       soma_lbfgs_result *r);

// --- numeric checks --------------------------------------------------------------------

/* 1 iff |got-ref| <= atol + rtol*|ref| everywhere (and no NaN); on failure prints to stderr
 * the label, the worst index and both values. For tests and self-checks. */
int soma_check_close(const char *label, const float *got, const float *ref, size_t n, float atol,
                     float rtol);

/* CRC-32 (zlib's polynomial) of a buffer, chained through crc (start with 0). */
uint32_t soma_crc32(uint32_t crc, const void *buf, size_t n);

// --- distributed runs (Open MPI) -------------------------------------------------------
//
// A thin layer over MPI for data-parallel training and sweeps across processes. MPI is
// initialised only when needed: under a launcher (mpirun / mpiexec: OMPI_COMM_WORLD_SIZE; srun:
// PMIX_RANK or PMI_RANK) or when asked (SOMA_MPI=1, or soma_dist_init_always); a plain run
// never pays for MPI_Init. Without MPI initialised every call is the one-process answer: rank
// 0, size 1, reductions leave the buffer as it is, barriers return at once. The calls use a
// private duplicate of MPI_COMM_WORLD with MPI_ERRORS_RETURN, so a failed call returns
// SOMA_ERR_IO with MPI's message instead of killing the job. Call from one thread per process
// (OpenMP regions inside a rank are fine: MPI is initialised with MPI_THREAD_FUNNELED).
//
//     SOMA_TRY(soma_dist_init(&argc, &argv));        // first thing in main
//     ... soma_dist_allreduce_sum(grads, n) ...       // every rank, same n
//     soma_dist_finalize();                          // last thing (or soma_dist_abort on error)

/* Initialises MPI when launched by mpirun/srun or SOMA_MPI=1 is set; else does nothing.
 * argc/argv may be NULL. Idempotent. SOMA_ERR_IO when MPI_Init fails. */
soma_status soma_dist_init(int *argc, char ***argv);
/* The same, but initialises MPI in any case (a lone process becomes a singleton of size 1). */
soma_status soma_dist_init_always(int *argc, char ***argv);
/* 1 iff soma_dist_init started MPI (or found it started) and it is not finalized. */
int soma_dist_active(void);
/* 1 iff the environment says a launcher started this process (mpirun, srun). */
int soma_dist_launched(void);
int soma_dist_rank(void); /* 0 when not active */
int soma_dist_size(void); /* 1 when not active */
/* In-place sum over all ranks; every rank passes the same n. */
soma_status soma_dist_allreduce_sum(float *buf, size_t n);
soma_status soma_dist_allreduce_sum_f64(double *buf, size_t n);
/* In-place max over all ranks (e.g. an error flag: any rank's nonzero wins). */
soma_status soma_dist_allreduce_max_f64(double *buf, size_t n);
/* Non-blocking in-place sum (MPI_Iallreduce): *req receives a handle (>= 0) to wait on; buf
 * must stay untouched until then. At most SOMA_DIST_MAX_REQ outstanding per process; n must
 * fit an int. Not active: *req = -1 and nothing to wait for. */
#define SOMA_DIST_MAX_REQ 256
soma_status soma_dist_iallreduce_sum(float *buf, size_t n, int *req);
/* Waits for a handle from soma_dist_iallreduce_sum (-1 is a no-op) and releases it. */
soma_status soma_dist_wait(int req);
/* Lets MPI progress request req (Open MPI moves a non-blocking reduction forward only inside
 * MPI calls); *done = 1 once it has completed (wait on it still, which then returns at once). */
soma_status soma_dist_test(int req, int *done);
soma_status soma_dist_barrier(void);
/* root's bytes into every rank's buf. */
soma_status soma_dist_bcast(void *buf, size_t bytes, int root);

/* Point-to-point messages of a few bytes for schedulers (tags 0..32767; SOMA_DIST_ANY as
 * source or tag in recv/probe matches any). Blocking send; bytes <= INT_MAX. */
#define SOMA_DIST_ANY (-1)
soma_status soma_dist_send(const void *buf, size_t bytes, int dest, int tag);
/* Receives one matching message into buf (cap bytes; SOMA_ERR_ARG if larger, the message then
 * stays queued); *bytes, *source, *tag_out may be NULL. Blocks. */
soma_status soma_dist_recv(void *buf, size_t cap, int source, int tag, size_t *bytes, int *source_out,
                           int *tag_out);
/* Waits up to timeout_s seconds (< 0: forever, 0: just look) for a matching message without
 * receiving it: *found 1 and its source, tag and size (each may be NULL), or *found 0. */
soma_status soma_dist_probe(int source, int tag, double timeout_s, int *found, int *source_out, int *tag_out,
                            size_t *bytes);
/* Ends every rank of the job (MPI_Abort) with exit status code; for an error on one rank that
 * would leave the others waiting in a collective. Returns only when not active. */
void soma_dist_abort(int code);
/* MPI_Finalize when soma_dist_init started MPI; then soma_dist_active() is 0. */
void soma_dist_finalize(void);

#ifdef __cplusplus
}
#endif
#endif
