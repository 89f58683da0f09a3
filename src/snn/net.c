/* Networks: groups of neurons, their state, and the step loop.
 *
 * One step n advances every group from t_n = n dt to t_(n+1), in this order (the order of
 * Brian2's default schedule, so networks built the same way give the same numbers as Brian2's):
 *   1. state monitors sample (Brian2's "start" slot): the values at t_n, the input due at
 *      step n included;
 *   2. every group takes in the jumps due at step n (its ring buffer slot, then cleared) into
 *      its synaptic variables (delta synapses: into V, unless the neuron is refractory: the
 *      input is lost), updates its state over the step (neuron.c), tests the threshold and
 *      resets; Poisson sources draw their spikes;
 *   3. spike and rate monitors record the step's spikes, stamped t_n;
 *   4. every projection queues the jumps of its pre group's new spikes into the ring buffer
 *      slot of step n + delay of its post group (delay >= 1 step). So the jumps of a spike of
 *      step n with a delay of d steps act from the update of step n + d on, as in NEST;
 *      Brian2 (which delivers after the update) reads the same for its delay D = d dt - dt:
 *      our minimum delay of one step is Brian2's delay 0;
 *   5. STDP updates the weights of plastic projections (after the jumps used the old weights).
 * Threads: one OpenMP region for a chunk of steps (run_chunk_; soma_snn_run times threads
 * against one thread and picks, see below). Each thread owns a contiguous range of every
 * group's neurons (Poisson groups: whole blocks of SNN_POIS_BLOCK sources, each with its own
 * random stream) and, in step 4, adds for every spike only the part of the row that falls into
 * the post neurons it owns (a binary search into the sorted row). No atomics, and every target
 * sums its inputs in the same order (projection, then spike) whatever the thread count, so
 * results are bit-identical across thread counts. No allocation inside a step (spike monitors
 * grow their record geometrically, like any recording). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "snn/internal.h"

// --- networks -----------------------------------------------------------------------------

soma_status soma_snn_new(soma_snn **out, double dt, uint64_t seed) {
    if (!out) return soma_error(SOMA_ERR_ARG, "snn: NULL output");
    *out = NULL;
    if (!(dt > 0 && dt <= 10))
        return soma_error(SOMA_ERR_ARG, "snn: dt must be in (0, 10] ms, got %g", dt);
    soma_snn *net = soma_calloc(1, sizeof *net);
    if (!net) return soma_error(SOMA_ERR_NOMEM, "snn: out of memory");
    net->dt = dt;
    net->seed = seed;
    *out = net;
    return SOMA_OK;
}

static void group_free_(snn_group *g) {
    soma_free(g->v);
    soma_free(g->ge);
    soma_free(g->gi);
    soma_free(g->w);
    soma_free(g->ref);
    soma_free(g->I);
    soma_free(g->buf_e);
    soma_free(g->buf_i);
    soma_free(g->spk);
    soma_free(g->seg_lo);
    soma_free(g->seg_cnt);
    soma_free(g->prng);
    soma_free(g->pnext);
}

void soma_snn_free(soma_snn *net) {
    if (!net) return;
    for (int i = 0; i < net->n_groups; i++) group_free_(&net->g[i]);
    for (int i = 0; i < net->n_proj; i++) snn__proj_free(&net->pr[i]);
    for (int i = 0; i < net->n_mon; i++) snn__monitor_free(&net->mon[i]);
    soma_free(net->g);
    soma_free(net->pr);
    soma_free(net->mon);
    soma_free(net);
}

/* Grows an array of structs (zeroing the new part) to hold at least need items. */
static soma_status grow_(void **arr, int *cap, int need, size_t size) {
    if (need <= *cap) return SOMA_OK;
    int nc = *cap ? *cap * 2 : 8;
    if (nc < need) nc = need;
    void *n = soma_calloc((size_t)nc, size);
    if (!n) return soma_error(SOMA_ERR_NOMEM, "snn: out of memory");
    if (*arr) memcpy(n, *arr, (size_t)*cap * size);
    soma_free(*arr);
    *arr = n;
    *cap = nc;
    return SOMA_OK;
}

int snn__fits_memory(double bytes) {
    static double phys = 0;
    if (phys == 0) {
        long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
        phys = pages > 0 && size > 0 ? (double)pages * (double)size : 1e18;
    }
    return bytes < phys;
}

static soma_status group_alloc_(snn_group *g) {
    const size_t n = (size_t)g->n;
    /* a group whose state alone exceeds the machine's memory is refused up front (the OS
     * might grant the allocation lazily and kill the process when it is touched) */
    const double need = (double)n * (g->p.model == SOMA_POISSON ? sizeof(int) : 6 * sizeof(double) + 2 * sizeof(int));
    if (!snn__fits_memory(need))
        return soma_error(SOMA_ERR_NOMEM, "snn: group %s: %d neurons need %.3g GB, more than this machine has", g->name,
                          g->n, need / 1e9);
    if (g->p.model == SOMA_POISSON) {
        g->n_blocks = (int)((n + SNN_POIS_BLOCK - 1) / SNN_POIS_BLOCK);
        g->prng = soma_calloc((size_t)g->n_blocks, sizeof *g->prng);
        g->pnext = soma_calloc((size_t)g->n_blocks, sizeof *g->pnext);
        g->spk = soma_alloc(2 * n, sizeof *g->spk);
        if (!g->prng || !g->pnext || !g->spk) return soma_error(SOMA_ERR_NOMEM, "snn: group %s: out of memory", g->name);
        return SOMA_OK;
    }
    g->v = soma_alloc(n, sizeof *g->v);
    g->ge = soma_calloc(n, sizeof *g->ge);
    g->gi = soma_calloc(n, sizeof *g->gi);
    g->w = soma_calloc(n, sizeof *g->w);
    g->ref = soma_calloc(n, sizeof *g->ref);
    g->I = soma_alloc(n, sizeof *g->I);
    g->spk = soma_alloc(2 * n, sizeof *g->spk);
    if (!g->v || !g->ge || !g->gi || !g->w || !g->ref || !g->I || !g->spk)
        return soma_error(SOMA_ERR_NOMEM, "snn: group %s: out of memory for %d neurons", g->name, g->n);
    return SOMA_OK;
}

static void group_init_state_(snn_group *g, uint64_t seed, int index) {
    if (g->p.model == SOMA_POISSON) {
        snn__poisson_reset(g, seed, index);
        return;
    }
    soma_rng r;
    soma_rng_seed(&r, seed, snn__stream(SNN_STREAM_INIT, index, 0));
    const double lo = g->p.V_init_lo, span = g->p.V_init_hi - g->p.V_init_lo;
    for (int i = 0; i < g->n; i++) {
        g->v[i] = span > 0 ? lo + span * soma_rng_uniform(&r) : lo;
        g->I[i] = g->p.I_ext;
        if (g->p.model == SOMA_IZHIKEVICH) g->w[i] = g->p.izh_b * g->v[i];
    }
    g->I_uniform = 1;
}

soma_status soma_snn_add_group(soma_snn *net, const char *name, int n, const soma_neuron_params *p, int *group) {
    if (!net || !name || !p) return soma_error(SOMA_ERR_ARG, "snn: add_group: NULL argument");
    size_t len = strlen(name);
    if (len < 1 || len > 63) return soma_error(SOMA_ERR_ARG, "snn: group name must be 1..63 characters");
    if (net->frozen) return soma_error(SOMA_ERR_ARG, "snn: group %s: cannot add groups after the first run", name);
    if (soma_snn_find_group(net, name) >= 0) return soma_error(SOMA_ERR_ARG, "snn: group name '%s' used twice", name);
    if (n < 1) return soma_error(SOMA_ERR_ARG, "snn: group %s: size %d, need at least 1 neuron", name, n);
    if (net->n_neurons + n > INT32_MAX)
        return soma_error(SOMA_ERR_ARG, "snn: group %s: %lld neurons in all, more than 2^31 - 1", name,
                          (long long)(net->n_neurons + n));
    soma_status st = soma_neuron_params_check(p);
    if (st != SOMA_OK) return soma_error_wrap(st, "snn: group %s", name);
    SOMA_TRY(grow_((void **)&net->g, &net->cap_groups, net->n_groups + 1, sizeof *net->g));
    snn_group *g = &net->g[net->n_groups];
    memset(g, 0, sizeof *g);
    memcpy(g->name, name, len + 1);
    g->n = n;
    g->p = *p;
    st = group_alloc_(g);
    if (st == SOMA_OK) st = snn__calibrate(g, net->dt);
    if (st != SOMA_OK) {
        group_free_(g);
        memset(g, 0, sizeof *g);
        return st;
    }
    group_init_state_(g, net->seed, net->n_groups);
    if (group) *group = net->n_groups;
    net->n_groups++;
    net->n_neurons += n;
    return SOMA_OK;
}

int soma_snn_find_group(const soma_snn *net, const char *name) {
    if (!net || !name) return -1;
    for (int i = 0; i < net->n_groups; i++)
        if (strcmp(net->g[i].name, name) == 0) return i;
    return -1;
}

int soma_snn_group_size(const soma_snn *net, int group) {
    return net && group >= 0 && group < net->n_groups ? net->g[group].n : 0;
}

int soma_snn_n_groups(const soma_snn *net) { return net ? net->n_groups : 0; }

const char *soma_snn_group_name(const soma_snn *net, int group) {
    return net && group >= 0 && group < net->n_groups ? net->g[group].name : NULL;
}

// --- external drive and state -------------------------------------------------------------

static soma_status group_arg_(const soma_snn *net, int group, const char *what) {
    if (!net) return soma_error(SOMA_ERR_ARG, "snn: %s: NULL network", what);
    if (group < 0 || group >= net->n_groups)
        return soma_error(SOMA_ERR_ARG, "snn: %s: no group %d (the net has %d)", what, group, net->n_groups);
    return SOMA_OK;
}

soma_status soma_snn_set_current(soma_snn *net, int group, const double *I) {
    SOMA_TRY(group_arg_(net, group, "set_current"));
    snn_group *g = &net->g[group];
    if (g->p.model == SOMA_POISSON)
        return soma_error(SOMA_ERR_ARG, "snn: set_current: group %s is a Poisson group (use set_rate)", g->name);
    if (I)
        for (int i = 0; i < g->n; i++)
            if (!isfinite(I[i])) return soma_error(SOMA_ERR_ARG, "snn: set_current: %s[%d] is %g", g->name, i, I[i]);
    for (int i = 0; i < g->n; i++) g->I[i] = I ? I[i] : g->p.I_ext;
    g->I_uniform = !I;
    return SOMA_OK;
}

soma_status soma_snn_set_rate(soma_snn *net, int group, double rate) {
    SOMA_TRY(group_arg_(net, group, "set_rate"));
    snn_group *g = &net->g[group];
    if (g->p.model != SOMA_POISSON)
        return soma_error(SOMA_ERR_ARG, "snn: set_rate: group %s is not a Poisson group", g->name);
    if (!(rate >= 0) || !isfinite(rate)) return soma_error(SOMA_ERR_ARG, "snn: set_rate: rate %g Hz", rate);
    g->p.rate = rate;
    g->rate_p = rate * net->dt * 1e-3;
    /* geometric skipping is memoryless: redraw each block's skip from its own stream */
    for (int b = 0; b < g->n_blocks; b++) g->pnext[b] = snn__geometric(&g->prng[b], g->rate_p);
    return SOMA_OK;
}

soma_status soma_snn_poisson_input(soma_snn *net, int group, int n_sources, double rate, double weight,
                                   soma_syn_target target) {
    SOMA_TRY(group_arg_(net, group, "poisson_input"));
    snn_group *g = &net->g[group];
    if (g->p.model == SOMA_POISSON)
        return soma_error(SOMA_ERR_ARG, "snn: poisson_input: group %s is a Poisson group; it takes no input", g->name);
    if (n_sources < 0) return soma_error(SOMA_ERR_ARG, "snn: poisson_input: %d sources", n_sources);
    if (!(rate >= 0) || !isfinite(rate)) return soma_error(SOMA_ERR_ARG, "snn: poisson_input: rate %g Hz", rate);
    if (!isfinite(weight)) return soma_error(SOMA_ERR_ARG, "snn: poisson_input: weight %g", weight);
    if (target != SOMA_TARGET_EXC && target != SOMA_TARGET_INH)
        return soma_error(SOMA_ERR_ARG, "snn: poisson_input: target %d is neither EXC nor INH", (int)target);
    if (g->p.synapse == SOMA_SYN_CONDUCTANCE && weight < 0)
        return soma_error(SOMA_ERR_ARG, "snn: poisson_input: group %s: conductance weights must be >= 0 nS", g->name);
    const double lam = (double)n_sources * rate * net->dt * 1e-3;
    if (lam > 1e6) return soma_error(SOMA_ERR_ARG, "snn: poisson_input: %g spikes a step on average, too many", lam);
    g->pin_lam[target] = lam;
    g->pin_w[target] = weight;
    return SOMA_OK;
}

int snn__var_parse(const snn_group *g, const char *var) {
    if (!var) return -1;
    if (g->p.model == SOMA_POISSON) return -1;
    if (strcmp(var, "v") == 0) return 0;
    if (strcmp(var, "ge") == 0) return 1;
    if (strcmp(var, "gi") == 0) return 2;
    if (strcmp(var, "w") == 0 && g->p.model == SOMA_ADEX) return 3;
    if (strcmp(var, "u") == 0 && g->p.model == SOMA_IZHIKEVICH) return 3;
    return -1;
}

const double *snn__var_data(const snn_group *g, int var) {
    switch (var) {
    case 0: return g->v;
    case 1: return g->ge;
    case 2: return g->gi;
    default: return g->w;
    }
}

soma_status soma_snn_get_state(const soma_snn *net, int group, const char *var, double *out) {
    SOMA_TRY(group_arg_(net, group, "get_state"));
    const snn_group *g = &net->g[group];
    int k = snn__var_parse(g, var);
    if (k < 0)
        return soma_error(SOMA_ERR_ARG, "snn: get_state: group %s (%s) has no variable '%s'", g->name,
                          soma_neuron_model_name(g->p.model), var ? var : "(null)");
    if (!out) return soma_error(SOMA_ERR_ARG, "snn: get_state: NULL output");
    const double *x = snn__var_data(g, k);
    for (int i = 0; i < g->n; i++) out[i] = x[i] + snn__pending(g, k, i, net->step);
    return SOMA_OK;
}

soma_status soma_snn_set_state(soma_snn *net, int group, const char *var, const double *x) {
    SOMA_TRY(group_arg_(net, group, "set_state"));
    snn_group *g = &net->g[group];
    int k = snn__var_parse(g, var);
    if (k < 0)
        return soma_error(SOMA_ERR_ARG, "snn: set_state: group %s (%s) has no variable '%s'", g->name,
                          soma_neuron_model_name(g->p.model), var ? var : "(null)");
    if (!x) return soma_error(SOMA_ERR_ARG, "snn: set_state: NULL values");
    for (int i = 0; i < g->n; i++)
        if (!isfinite(x[i])) return soma_error(SOMA_ERR_ARG, "snn: set_state: %s.%s[%d] is %g", g->name, var, i, x[i]);
    memcpy((double *)snn__var_data(g, k), x, (size_t)g->n * sizeof *x);
    /* the value read is the state plus the input due this step: that input is replaced too */
    if (g->slots && k < 3 && (k > 0 || g->p.synapse == SOMA_SYN_DELTA)) {
        const size_t off = (size_t)(net->step % g->slots) * (size_t)g->n;
        for (int i = 0; i < g->n; i++) {
            if (k != 2 && !(k == 0 && g->ref[i] > 0)) g->buf_e[off + (size_t)i] = 0;
            if (k != 1 && !(k == 0 && g->ref[i] > 0)) g->buf_i[off + (size_t)i] = 0;
        }
    }
    return SOMA_OK;
}

void soma_snn_set_progress(soma_snn *net, const char *label) {
    if (!net) return;
    net->progress_label[0] = 0;
    if (label) snprintf(net->progress_label, sizeof net->progress_label, "%s", label);
}

// --- freeze -------------------------------------------------------------------------------

static soma_status freeze_(soma_snn *net) {
    for (int gi = 0; gi < net->n_groups; gi++) {
        snn_group *g = &net->g[gi];
        if (g->p.model == SOMA_POISSON) continue;
        int maxd = 0;
        for (int k = 0; k < net->n_proj; k++)
            if (net->pr[k].post == gi && net->pr[k].delay > maxd) maxd = net->pr[k].delay;
        g->slots = maxd + 1;
        if (!snn__fits_memory(8.0 * g->slots * (double)g->n))
            return soma_error(SOMA_ERR_NOMEM, "snn: group %s: %d delay slots x %d neurons need %.3g GB, more than this "
                              "machine has; HINT: shorter delays or a coarser dt", g->name, g->slots, g->n,
                              8e-9 * g->slots * (double)g->n);
        soma_free(g->buf_e); /* (a run that failed here before) */
        soma_free(g->buf_i);
        g->buf_e = soma_calloc((size_t)g->slots * (size_t)g->n, sizeof *g->buf_e);
        g->buf_i = soma_calloc((size_t)g->slots * (size_t)g->n, sizeof *g->buf_i);
        if (!g->buf_e || !g->buf_i)
            return soma_error(SOMA_ERR_NOMEM, "snn: group %s: out of memory for %d x %d ring buffer slots", g->name,
                              g->slots, g->n);
    }
    for (int k = 0; k < net->n_proj; k++)
        if (net->pr[k].plastic) {
            SOMA_TRY(snn__proj_build_csc(&net->pr[k]));
            SOMA_TRY(snn__stdp_init(&net->pr[k]));
        }
    net->frozen = 1;
    return SOMA_OK;
}

// --- the step loop ------------------------------------------------------------------------

static inline void part_(int n, int t, int nt, int *lo, int *hi) {
    *lo = (int)((int64_t)n * t / nt);
    *hi = (int)((int64_t)n * (t + 1) / nt);
}

/* The range of neurons a thread owns in phase 2 (Poisson: whole blocks). */
static void own_range_(const snn_group *g, int t, int nt, int *lo, int *hi) {
    if (g->p.model == SOMA_POISSON) {
        int b0, b1;
        part_(g->n_blocks, t, nt, &b0, &b1);
        *lo = b0 * SNN_POIS_BLOCK;
        *hi = b1 * SNN_POIS_BLOCK < g->n ? b1 * SNN_POIS_BLOCK : g->n;
        if (*lo > g->n) *lo = g->n;
        return;
    }
    part_(g->n, t, nt, lo, hi);
}

/* Step 2 for one thread: update its neurons; spikes go to its segment of the parity's list. */
static void phase_update_(soma_snn *net, int t, int nt, int64_t step) {
    const int par = (int)(step & 1);
    for (int gi = 0; gi < net->n_groups; gi++) {
        snn_group *g = &net->g[gi];
        int *out = g->spk + (size_t)par * (size_t)g->n + (size_t)g->seg_lo[t];
        int k;
        if (g->p.model == SOMA_POISSON) {
            int b0, b1;
            part_(g->n_blocks, t, nt, &b0, &b1);
            k = snn__poisson(g, b0, b1, out);
        } else {
            int lo, hi;
            part_(g->n, t, nt, &lo, &hi);
            if (g->pin_lam[0] > 0 || g->pin_lam[1] > 0) snn__poisson_input(net, g, gi, lo, hi, step);
            k = snn__update(g, lo, hi, step, out);
        }
        g->seg_cnt[par * g->seg_cap + t] = k;
    }
}

/* Step 3 (thread 0, while the others deliver): monitors and counters. */
static soma_status record_(soma_snn *net, int par) {
    for (int gi = 0; gi < net->n_groups; gi++) {
        const long k = snn__n_spikes(&net->g[gi], par, net->nt);
        net->g[gi].n_spikes_total += k;
        net->stats.spikes += k;
    }
    for (int k = 0; k < net->n_proj; k++) net->stats.syn_events += snn__events(net, &net->pr[k], par);
    return snn__monitors_spikes(net, par);
}

static int par_min_ = SNN_PAR_MIN, probe_ = 1;
void snn__set_par_min(int n) { par_min_ = n > 0 ? n : SNN_PAR_MIN; }
void snn__set_probe(int on) { probe_ = on; }

/* Threads for a run: the caller's count (soma_set_threads), but at least SNN_PAR_MIN neurons a
 * thread: below that a step is a few microseconds and the threads' barriers cost more than
 * they save. Results do not depend on it. */
static int n_threads_(const soma_snn *net) {
    int t = soma_get_threads();
#ifdef _OPENMP
    if (t > omp_get_max_threads()) t = omp_get_max_threads();
#else
    t = 1;
#endif
    const int64_t by_size = net->n_neurons / par_min_;
    if (t > by_size) t = (int)by_size;
    return t < 1 ? 1 : t;
}

/* Per-group segment arrays for up to T threads (before a run). */
static soma_status segs_reserve_(soma_snn *net, int T) {
    for (int gi = 0; gi < net->n_groups; gi++) {
        snn_group *g = &net->g[gi];
        if (g->seg_cap >= T) continue;
        int *lo = soma_calloc((size_t)T + 1, sizeof *lo), *cnt = soma_calloc(2 * (size_t)T, sizeof *cnt);
        if (!lo || !cnt) {
            soma_free(lo);
            soma_free(cnt);
            return soma_error(SOMA_ERR_NOMEM, "snn: out of memory");
        }
        soma_free(g->seg_lo);
        soma_free(g->seg_cnt);
        g->seg_lo = lo;
        g->seg_cnt = cnt;
        g->seg_cap = T;
    }
    return SOMA_OK;
}

/* Once a run, with the thread count the region got. */
static void segs_layout_(soma_snn *net, int nt) {
    net->nt = nt;
    for (int gi = 0; gi < net->n_groups; gi++) {
        snn_group *g = &net->g[gi];
        for (int t = 0; t < nt; t++) {
            int lo, hi;
            own_range_(g, t, nt, &lo, &hi);
            g->seg_lo[t] = lo;
        }
        g->seg_lo[nt] = g->n;
        memset(g->seg_cnt, 0, 2 * (size_t)g->seg_cap * sizeof *g->seg_cnt);
    }
}

/* What the chunks of one soma_snn_run share. */
typedef struct run_ctx {
    int64_t step0, steps, done; /* first step of the run, its steps, steps done */
    int n_state, n_plastic, show;
    soma_progress prog;
    soma_status st[2];
    int stop[2];     /* a chunk past its deadline: set by thread 0 in step n (slot n & 1), read at
                      * the top of step n + 2, after the barrier of step n + 1 */
} run_ctx;

/* Steps r->done .. r->done + count - 1 on T threads (one OpenMP region). One barrier a step:
 * after it, every thread reads all spikes of the step (their parity's lists) while filling
 * its own post neurons' ring buffers, and thread 0 records; the next step's spikes go to the
 * other parity's lists. Thread 0 records a failure in st[parity]; all threads read it after
 * the next step's barrier, so they leave the loop together. */
static int64_t run_chunk_(soma_snn *net, run_ctx *r, int T, int64_t count, double deadline) {
    soma_status *st = r->st;
    int *stop = r->stop;
    int64_t end = r->done + count;
    stop[0] = stop[1] = 0;
#pragma omp parallel num_threads(T) if (T > 1)
    {
#ifdef _OPENMP
        const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
#else
        const int tid = 0, nt = 1;
#endif
#pragma omp single
        segs_layout_(net, nt);
        for (int64_t s = r->done; s < r->done + count; s++) {
            const int64_t n = r->step0 + s;
            const int par = (int)(n & 1);
            /* set two steps ago, before the last barrier: every thread reads the same */
            if (stop[par]) {
                if (tid == 0) end = s;
                break;
            }
            if (r->n_state) {
#pragma omp barrier
                if (tid == 0) {
                    net->step = n;
                    snn__monitors_state(net);
                }
#pragma omp barrier
            }
            phase_update_(net, tid, nt, n);
#pragma omp barrier
            if (st[par ^ 1] != SOMA_OK) break;
            if (tid == 0) {
                net->step = n;
                st[par] = record_(net, par);
                if (r->show && ((s + 1) % 1000 == 0 || s + 1 == r->steps))
                    soma_progress_update(&r->prog, (long)(s + 1), NULL);
                stop[par] = deadline > 0 && soma_now() > deadline;
                if (st[par] == SOMA_OK && (s & 255) == 255 && soma_cancel_requested())
                    st[par] = soma_error(SOMA_ERR_CANCELLED, "snn: run cancelled at %.10g ms", (double)n * net->dt);
            }
            for (int k = 0; k < net->n_proj; k++) {
                const snn_proj *p = &net->pr[k];
                int lo, hi;
                part_(p->n_post, tid, nt, &lo, &hi);
                snn__deliver(net, p, n, lo, hi);
            }
            if (r->n_plastic) {
#pragma omp barrier
                if (tid == 0)
                    for (int k = 0; k < net->n_proj; k++)
                        if (net->pr[k].plastic) snn__stdp_step(net, &net->pr[k]);
            }
        }
    }
    const int64_t did = end - r->done;
    r->done = end;
    return did;
}

/* Threads are worth their barriers only when the cores are free: on a machine shared with
 * other work a thread that waits for a descheduled partner loses a whole time slice every
 * step. So a run on T > 1 threads times SNN_PROBE_STEPS steps on one thread, then up to as
 * many on T (given up as soon as they take longer), runs the next SNN_CHUNK_STEPS on the
 * faster, and probes again. The thread count never changes results, only the wall time. */
#define SNN_PROBE_STEPS 200
#define SNN_CHUNK_STEPS 5000

soma_status soma_snn_run(soma_snn *net, double duration) {
    if (!net) return soma_error(SOMA_ERR_ARG, "snn: run: NULL network");
    if (!(duration >= 0) || !isfinite(duration))
        return soma_error(SOMA_ERR_ARG, "snn: run: duration must be a finite number >= 0 ms, got %g", duration);
    const double nsteps_d = floor(duration / net->dt + 0.5);
    if (nsteps_d > 1e12) return soma_error(SOMA_ERR_ARG, "snn: run: %g ms is %g steps, too many", duration, nsteps_d);
    if (!net->frozen) {
        double t0 = soma_now();
        soma_status st = freeze_(net);
        net->stats.setup_seconds += soma_now() - t0;
        if (st != SOMA_OK) return st;
    }
    run_ctx r;
    memset(&r, 0, sizeof r);
    r.steps = (int64_t)nsteps_d;
    r.step0 = net->step;
    SOMA_TRY(snn__monitors_reserve(net, (long)r.steps));
    const int T = n_threads_(net);
    SOMA_TRY(segs_reserve_(net, T));
    for (int m = 0; m < net->n_mon; m++) r.n_state += net->mon[m].kind == SOMA_MON_STATE;
    for (int k = 0; k < net->n_proj; k++) r.n_plastic += net->pr[k].plastic;
    r.show = net->progress_label[0] != 0 && r.steps > 0;
    if (r.show) soma_progress_begin(&r.prog, net->progress_label, (long)r.steps);
    const double t0 = soma_now();
    /* a run too short to probe keeps the last probe's choice */
    int use = net->threads_used > 0 && net->threads_used < T ? net->threads_used : T;
    while (r.done < r.steps && r.st[0] == SOMA_OK && r.st[1] == SOMA_OK) {
        int64_t left = r.steps - r.done;
        if (T > 1 && probe_ && left >= 4 * SNN_PROBE_STEPS) {
            double a = soma_now();
            run_chunk_(net, &r, 1, SNN_PROBE_STEPS, 0);
            const double t_one = soma_now() - a;
            a = soma_now();
            /* (probe_ 2, for tests: a deadline already past, so the probe is cut short) */
            const int64_t did = run_chunk_(net, &r, T, SNN_PROBE_STEPS, probe_ == 2 ? a - 1 : a + t_one);
            const double t_multi = soma_now() - a;
            use = did == SNN_PROBE_STEPS && t_multi < t_one ? T : 1;
            net->threads_used = use;
            left = r.steps - r.done;
            run_chunk_(net, &r, use, left < SNN_CHUNK_STEPS ? left : SNN_CHUNK_STEPS, 0);
        } else {
            run_chunk_(net, &r, use, left, 0);
        }
    }
    net->step = r.step0 + r.steps;
    snn__monitors_finish(net);
    if (r.show) soma_progress_end(&r.prog);
    net->stats.sim_seconds += soma_now() - t0;
    net->stats.steps += (long)r.steps;
    if (r.show && r.steps > 0) {
        char line[200];
        snprintf(line, sizeof line, "%.0f ms simulated in %.2f s (%d thread%s), %ld spikes, %.3g synaptic events/s",
                 (double)r.steps * net->dt, net->stats.sim_seconds, use, use > 1 ? "s" : "", net->stats.spikes,
                 net->stats.sim_seconds > 0 ? (double)net->stats.syn_events / net->stats.sim_seconds : 0.0);
        soma_progress_note(&r.prog, line);
    }
    return r.st[0] != SOMA_OK ? r.st[0] : r.st[1];
}

double soma_snn_time(const soma_snn *net) { return net ? (double)net->step * net->dt : 0.0; }
double soma_snn_dt(const soma_snn *net) { return net ? net->dt : 0.0; }

size_t snn__bytes(const soma_snn *net) {
    size_t b = sizeof *net;
    for (int i = 0; i < net->n_groups; i++) {
        const snn_group *g = &net->g[i];
        const size_t n = (size_t)g->n;
        b += sizeof *g + 2 * n * sizeof(int) + 3 * (size_t)g->seg_cap * sizeof(int); /* spike lists */
        if (g->p.model == SOMA_POISSON) {
            b += (size_t)g->n_blocks * (sizeof(soma_rng) + sizeof(int64_t));
            continue;
        }
        b += n * (5 * sizeof(double) + sizeof(int));
        b += 2 * (size_t)g->slots * n * sizeof(float);
    }
    for (int k = 0; k < net->n_proj; k++) {
        const snn_proj *p = &net->pr[k];
        b += sizeof *p + (size_t)(p->n_pre + 1) * sizeof(int64_t) + (size_t)p->nnz * (sizeof(int32_t) + sizeof(float));
        if (p->cptr)
            b += (size_t)(p->n_post + 1) * sizeof(int64_t) + (size_t)p->nnz * (sizeof(int64_t) + sizeof(int32_t)) +
                 (size_t)(p->n_pre + p->n_post) * (sizeof(double) + sizeof(int64_t));
    }
    for (int m = 0; m < net->n_mon; m++) {
        const snn_monitor *mo = &net->mon[m];
        b += sizeof *mo + (size_t)mo->spikes.cap * (sizeof(int) + sizeof(double));
        b += (size_t)mo->cap * ((size_t)mo->n * sizeof(float) + sizeof(double)) + (size_t)mo->n * sizeof(int);
        b += (size_t)mo->cap_rate * sizeof(float);
    }
    return b;
}

void soma_snn_stats_get(const soma_snn *net, soma_snn_stats *s) {
    if (!s) return;
    memset(s, 0, sizeof *s);
    if (!net) return;
    *s = net->stats;
    s->bytes = snn__bytes(net);
}
