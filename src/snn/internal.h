/* Private structures of the spiking simulator (src/snn/). Shared by neuron.c (models and
 * their per-step kernels), net.c (groups and the step loop), conn.c (projections), monitor.c
 * and stdp.c. Nothing here is part of the public API. */
#ifndef SOMA_SNN_INTERNAL_H
#define SOMA_SNN_INTERNAL_H

#include <stdint.h>

#include "soma/snn.h"

/* Poisson sources draw from one random stream per block of this many neurons, so their spikes
 * do not depend on the thread count (a thread always handles whole blocks). */
#define SNN_POIS_BLOCK 1024
/* Fewest neurons a thread of the step loop (net.c) */
#define SNN_PAR_MIN 2000
/* Random connectivity draws from one stream per block of this many rows (PROB: pre neurons)
 * or columns (INDEGREE: post neurons). */
#define SNN_CONN_BLOCK 256
/* Most synapses one random projection may make (2^29: 4 GiB of CSR); more is refused with
 * SOMA_ERR_NOMEM before anything is drawn. */
#define SNN_MAX_SYNAPSES (1LL << 29)
/* Longest transmission delay, in steps (ring buffers hold max delay + 1 slots). */
#define SNN_MAX_DELAY_STEPS (1 << 20)
/* Random stream kinds, mixed into the stream number with the object's index. */
enum { SNN_STREAM_INIT = 1, SNN_STREAM_POISSON = 2, SNN_STREAM_CONN = 3, SNN_STREAM_PINPUT = 4 };

static inline uint64_t snn__stream(int kind, int index, int64_t block) {
    return ((uint64_t)kind << 56) ^ ((uint64_t)(uint32_t)index << 24) ^ (uint64_t)block;
}

/* Coefficients of one group for the step dt, fixed at freeze (NEST's "variables"). */
typedef struct snn_coef {
    double dt;
    /* LIF, current or delta synapses: the exact propagator of the linear system
     * V' = EL + (V - EL) P_vv + I_ext P_vI + I_e P_ve + I_i P_vi,  I_x' = I_x P_xx */
    double P_vv, P_vI, P_ve, P_vi;
    double P_ee, P_ii; /* exp(-dt/tau_e), exp(-dt/tau_i): every model's synaptic decay */
    int ref_steps;     /* round(t_ref / dt) */
    int n_sub;         /* AdEx: Euler sub-steps per step */
    double h_sub;      /* AdEx: sub-step, ms */
    int avx2;          /* the CPU runs AVX2 (the threshold scan's vector path) */
} snn_coef;

typedef struct snn_group {
    char name[64];
    int n;
    soma_neuron_params p;
    snn_coef c;
    /* state, one array a variable (NULL where the model has none) */
    double *v;   /* membrane potential, mV */
    double *ge;  /* excitatory synaptic variable (pA or nS) */
    double *gi;  /* inhibitory synaptic variable */
    double *w;   /* AdEx adaptation current (pA) / Izhikevich recovery u */
    int *ref;    /* steps of refractoriness left after this one */
    double *I;   /* per-neuron constant current */
    int I_uniform; /* 1 while every I[i] is p.I_ext (the LIF kernels then skip the array) */
    /* delayed input: ring buffers [slots][n] of summed jumps, one per synaptic variable, in
     * float like the weights (half the memory traffic of a step; a single jump is exact) */
    int slots;   /* max delay into the group + 1 (0 before freeze or without input) */
    float *buf_e, *buf_i;
    /* Spikes of a step, double-buffered by the step's parity (spk + par * n), so threads can
     * find the next step's spikes while others still read this step's. Thread t of nt writes
     * the ids it finds, ascending, from seg_lo[t] on, and their count to seg_cnt[par][t];
     * thread order is id order. snn__seg reads them. */
    int *spk;
    int *seg_lo;  /* [cap_threads + 1] */
    int *seg_cnt; /* [2][cap_threads] */
    int seg_cap;
    /* Poisson sources: a stream and a skip count per block (geometric skipping over the
     * flattened (step, neuron) grid of the block) */
    double rate_p;   /* spike probability per step */
    int n_blocks;
    soma_rng *prng;
    int64_t *pnext;
    long n_spikes_total;
    /* Poisson input without synapses (soma_snn_poisson_input), per target variable: mean
     * count a step, jump a spike; lam 0 = none */
    double pin_lam[2], pin_w[2];
} snn_group;

typedef struct snn_proj {
    int pre, post;
    soma_syn_target target;
    int delay; /* steps, >= 1 */
    int n_pre, n_post;
    int64_t nnz;
    int64_t *row; /* [n_pre + 1] CSR row starts */
    int32_t *col; /* [nnz] post indices, sorted within each row */
    float *w;     /* [nnz] weights */
    /* plasticity (STDP): column access for post spikes and the two traces */
    int plastic;
    soma_stdp stdp;
    int64_t *cptr; /* [n_post + 1] */
    int64_t *cidx; /* [nnz] index into col/w of the k-th incoming synapse */
    int32_t *cpre; /* [nnz] its pre neuron */
    double *xpre, *xpost;   /* trace values at their last update */
    int64_t *tpre, *tpost;  /* step of the last update of each trace */
} snn_proj;

typedef struct snn_monitor {
    soma_monitor_kind kind;
    int group;
    int64_t step0; /* the step the monitor was added at */
    soma_spikes spikes;
    /* state */
    int var; /* 0 v, 1 ge, 2 gi, 3 w/u */
    int *idx;
    int n;
    int every;
    float *data;
    double *t;
    long n_samples, cap;
    /* rate */
    float *hz;
    long n_rate, cap_rate;
} snn_monitor;

struct soma_snn {
    double dt;
    uint64_t seed;
    int64_t step;
    snn_group *g;
    int n_groups, cap_groups;
    int64_t n_neurons;
    snn_proj *pr;
    int n_proj, cap_proj;
    snn_monitor *mon;
    int n_mon, cap_mon;
    int frozen;
    int nt; /* threads of the current chunk of steps */
    int threads_used; /* the last probe's choice (net.c); 0 before any */
    char progress_label[64];
    soma_snn_stats stats;
};

/* Thread t's spikes of group g in the step of parity par: *ids, and their count. */
static inline int snn__seg(const snn_group *g, int par, int t, const int **ids) {
    *ids = g->spk + (size_t)par * (size_t)g->n + (size_t)g->seg_lo[t];
    return g->seg_cnt[par * g->seg_cap + t];
}
/* All spikes of group g in the step of parity par, over nt threads. */
static inline int snn__n_spikes(const snn_group *g, int par, int nt) {
    int n = 0;
    for (int t = 0; t < nt; t++) n += g->seg_cnt[par * g->seg_cap + t];
    return n;
}

/* neuron.c */
soma_status snn__calibrate(snn_group *g, double dt);
/* Advances neurons [lo, hi) of g by step `step`: takes in the input due (ring buffer slot of
 * the step), updates the state, tests the threshold, resets; writes the ids of those that
 * spiked, ascending, to out and returns their count. No allocation. */
int snn__update(snn_group *g, int lo, int hi, int64_t step, int *out);
/* Input due at `step` not yet taken into variable var (0 v, 1 ge, 2 gi) of neuron i: what a
 * reader of the state at the step's start adds (state monitors, soma_snn_get_state). */
double snn__pending(const snn_group *g, int var, int i, int64_t step);
/* Poisson sources: blocks [b0, b1) of g; ids ascending into out; returns the count. */
int snn__poisson(snn_group *g, int b0, int b1, int *out);
/* Adds the Poisson input (soma_snn_poisson_input) of neurons [lo, hi) of group gi for step
 * `step` into the step's ring buffer slot. Each count is a function of (seed, group, target,
 * neuron, step) alone (a counter-based draw), so it does not depend on the threads. */
void snn__poisson_input(const soma_snn *net, snn_group *g, int gi, int lo, int hi, int64_t step);
/* Redraws every block's skip count for the group's current rate_p. */
void snn__poisson_reset(snn_group *g, uint64_t seed, int group_index);
int64_t snn__geometric(soma_rng *r, double p);

/* conn.c */
void snn__proj_free(snn_proj *p);
soma_status snn__proj_build_csc(snn_proj *p);
/* Adds the jumps of this step's spikes of p's pre group into the ring buffer slot of
 * (now + delay) for the post neurons [lo, hi) of p's post group. */
void snn__deliver(soma_snn *net, const snn_proj *p, int64_t now, int lo, int hi);
/* Synaptic events (spikes x out-degree) of p's pre group's spikes in the step of parity par. */
long snn__events(const soma_snn *net, const snn_proj *p, int par);

/* monitor.c */
soma_status snn__monitors_reserve(soma_snn *net, long steps);
void snn__monitors_state(soma_snn *net);
/* Records the spikes of the step net->step (parity par). */
soma_status snn__monitors_spikes(soma_snn *net, int par);
void snn__monitors_finish(soma_snn *net);
void snn__monitor_free(snn_monitor *m);

/* stdp.c */
soma_status snn__stdp_init(snn_proj *p);
void snn__stdp_step(soma_snn *net, snn_proj *p);

/* net.c */
size_t snn__bytes(const soma_snn *net);
/* For tests: the fewest neurons a thread (n <= 0 restores SNN_PAR_MIN). Not thread-safe. */
void snn__set_par_min(int n);
/* For tests: 0 turns off the timing of threads against one thread (net.c), so a run on T
 * threads uses T throughout; 2 cuts every probe on T threads short after two steps. */
void snn__set_probe(int on);
/* 0 when bytes exceed the machine's physical memory. */
int snn__fits_memory(double bytes);
/* A state variable's index for a group (0 v, 1 ge, 2 gi, 3 w/u), -1 if it has none. */
int snn__var_parse(const snn_group *g, const char *var);
const double *snn__var_data(const snn_group *g, int var);

#endif
