/* Private to src/exp: what the spiking-network experiments (cuba, coba, brunel2000,
 * stdp-song2000) share. The Vogels & Abbott (2005) network of Brette et al. (2007)'s first two
 * benchmarks, its options, the spike statistics over several groups, the raster + population
 * rate panels, and the performance figures every network run reports in results.json. */
#ifndef SOMA_EXP_SNN_COMMON_H
#define SOMA_EXP_SNN_COMMON_H
#include "soma/exp.h"
#include "soma/plot.h"
#include "soma/snn.h"

// --- the Vogels & Abbott network (cuba, coba) ------------------------------------------

/* The network as built: N neurons, the first 80% excitatory ("exc"), the rest inhibitory
 * ("inh"); each ordered pair connected with probability p (autapses allowed, as Brian2's
 * connect(p=...) does), delay one step (Brian2's no-delay synapses act in the next step's
 * update, as soma's one-step delay does). Weights as in Brian2's examples/CUBA.py (we 1.62 mV
 * -> 16.2 pA at gL 10 nS, wi -9 mV -> -90 pA) and Brette et al. benchmark 1 (we 6 nS, wi
 * 67 nS), times w_scale. v0 uniform in [V_reset, V_th]. COBA's network is silent at rest: for
 * its first kick_ms each neuron gets its own Poisson train (kick_rate Hz) of excitatory jumps
 * of the same weight, then its activity sustains itself. */
typedef struct soma__va_cfg {
    int coba;       /* 0: current-based (CUBA), 1: conductance-based (COBA) */
    int n;          /* neurons */
    double p;       /* connection probability */
    double w_scale; /* multiplies both weights */
    double dt;      /* ms */
    double duration; /* ms of biological time */
    double kick_ms, kick_rate;
} soma__va_cfg;

typedef struct soma__va_net {
    soma_snn *net;
    int g_exc, g_inh, g_kick_e, g_kick_i; /* groups (kicks -1 for CUBA) */
    int mon_exc, mon_inh;                 /* spike monitors */
} soma__va_net;

/* Reads --neurons, --duration (s), --dt (ms), --p of an experiment into cfg. Without --p,
 * p = 80/N (64 excitatory inputs a neuron, as at N 4000, p 0.02) and w_scale 1; with --p the
 * weights are scaled by 0.02*4000/(p N) so that each neuron receives the mean input of the
 * 4000-neuron network. SOMA_ERR_ARG when p > 1. */
soma_status soma__va_cfg_from_args(const soma_exp_ctx *c, int coba, soma__va_cfg *cfg);
/* Builds the network (monitors included) with seed. On failure nothing is left to free. */
soma_status soma__va_build(const soma__va_cfg *cfg, uint64_t seed, soma__va_net *out);
/* Runs it for cfg->duration ms (the COBA kick switched off after kick_ms). */
soma_status soma__va_run(soma__va_net *v, const soma__va_cfg *cfg);
void soma__va_free(soma__va_net *v);
/* The whole experiment for cuba / coba: build, run, figures, results. */
soma_status soma__va_experiment(soma_exp_ctx *c, int coba);

/* The options of cuba and coba: --neurons, --duration (s), --dt (ms), --p. */
#define SOMA__VA_OPTS                                                                                          \
    {"neurons", SOMA_OPT_INT, "4000", 10, 10000000, NULL,                                                     \
     "neurons (80% excitatory); connection probability 80/N unless --p is given", 1},                         \
    {"duration", SOMA_OPT_FLOAT, "1", 0.001, 3600, NULL, "seconds of biological time", 1},                   \
    {"dt", SOMA_OPT_FLOAT, "0.1", 0.001, 1, NULL, "time step, ms", 1},                                       \
    {"p", SOMA_OPT_FLOAT, NULL, 1e-7, 1, NULL,                                                                \
     "connection probability; weights scaled so each neuron gets the mean input of N 4000, p 0.02", 1}

// --- shared by every network experiment ------------------------------------------------

/* Mean rate (Hz a neuron) and mean ISI CV over the neurons of several spike records taken
 * together (CV: mean over neurons with a CV of their own, soma_spike_cv). */
soma_status soma__snn_rate_cv(const soma_spikes *const *recs, int n_recs, double *mean_rate,
                              double *mean_cv);
/* Population rate (Hz a neuron) of several records taken together, n_bins bins of bin ms. */
soma_status soma__snn_pop_rate(const soma_spikes *const *recs, int n_recs, double bin, float *hz,
                               long n_bins);
/* Draws a raster of at most max_shown neurons (shared out over the records, stacked: the
 * first record at the bottom) for spikes in [t0, t1) ms into panel raster, and the population
 * rate of all of them (bins of bin ms) in panel rate. */
soma_status soma__snn_raster_rate(soma_fig *f, int raster, int rate, const char *title,
                                  const soma_spikes *const *recs, int n_recs, int max_shown,
                                  double t0, double t1, double bin);
/* Into ours, each key prefixed by prefix (may be ""): sim_seconds, setup_seconds, n_neurons
 * (as given: the network's own, not its input sources), n_synapses, syn_events,
 * syn_events_per_second, spikes, net_mib (memory the network holds), and peak_rss_mib (the
 * process's peak resident memory so far, getrusage). */
void soma__snn_put_perf(soma_exp_ctx *c, const soma_snn *net, const char *prefix, long n_neurons);
/* The process's peak resident set size in MiB (getrusage ru_maxrss). */
double soma__peak_rss_mib(void);

#endif
