/* soma/neuro.h -- machine learning for neural recordings: NWB data, binning and trial
 * alignment, synthetic populations with ground truth, latent-variable models (PCA, FA, GPFA,
 * Poisson VAE, LFADS), connectivity inference, and the Neural Latents Benchmark's metrics.
 * Code in src/neuro/. Models run on the nn stack (soma/nn.h, soma/learn.h).
 *
 * Conventions. Spike times are kept as a soma_spikes (soma/analysis.h: ids and times in ms,
 * time-ordered) so every spike-train statistic serves recorded data too. Binned data are a
 * soma_counts: float counts [trials, bins, units] row-major (continuous recordings are one
 * trial). Behaviour is float [trials, bins, dims] on the same bins. Readers never trust a
 * file: absent datasets, index arrays past the data, non-monotonic times and wrong dtypes
 * give SOMA_ERR_FORMAT with a message naming the dataset; bad sizes and options SOMA_ERR_ARG.
 */
#ifndef SOMA_NEURO_H
#define SOMA_NEURO_H

#include "soma/analysis.h"
#include "soma/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Binned spike counts (or rates, or smoothed rates): x[(k * n_bins + b) * n_units + u] is unit
 * u in bin b of trial k. Bins are bin_ms wide; bin b of trial k starts at
 * t0[k] + b * bin_ms (t0 NULL: 0 for every trial). */
typedef struct soma_counts {
    int n_trials, n_bins, n_units;
    double bin_ms;
    float *x;   /* [n_trials * n_bins * n_units], owned */
    double *t0; /* [n_trials] each trial's first bin's start, ms (owned; may be NULL) */
} soma_counts;
/* Allocates x (zeroed) and t0 (zeroed). SOMA_ERR_ARG on sizes < 1 or too large (> 2^31
 * floats in all). */
soma_status soma_counts_alloc(soma_counts *c, int n_trials, int n_bins, int n_units, double bin_ms);
void soma_counts_free(soma_counts *c); /* releases the arrays; the struct may be reused */

// --- data: NWB files, spike tables, binning, alignment (src/neuro/nwb.c, bin.c) ----------
/* A recording read from an NWB 2.x file (HDF5) or a spike table (NPY, CSV). Times in ms
 * (files hold seconds). Reading, in short (docs/neuro.md):
 *
 *     soma_recording r;
 *     SOMA_TRY(soma_nwb_read("session.nwb", &r));
 *     soma_bin_opts o = {.bin_ms = 20, .align = "start_time", .pre_ms = -200, .post_ms = 800};
 *     soma_counts c;
 *     SOMA_TRY(soma_recording_bin(&r, &o, &c));   // [trials, 50, units]
 *     ...
 *     soma_counts_free(&c);
 *     soma_recording_free(&r);
 *
 * Units: spikes.id u is the u-th row of /units (unit_id[u] its /units/id; electrode[u] the
 * first entry of its /units/electrodes row, -1 if none; electrode NULL when the file has no
 * electrodes column). Spikes are merged across units into time order (ties: lower unit first).
 * spikes.t_start = min(0, the first spike), spikes.t_stop = max(the last spike, the last
 * trial's stop).
 * Trials: /intervals/trials start_time and stop_time (ms) and every other 1-D numeric column
 * of that length (values as stored: NWB *_time columns are seconds; string and ragged
 * columns are skipped). Behaviour: every group under /processing and /acquisition holding a
 * numeric `data` ([n] or [n, dim]) with `timestamps` [n] (s) or `starting_time` (s, with its
 * `rate` attribute, Hz).
 * Checks: a missing /units/spike_times, spike_times_index or id; an index that decreases or
 * runs past spike_times; spike times that decrease within a unit or are not finite;
 * non-numeric dtypes where numbers belong; trial columns of the wrong length; decreasing
 * timestamps; a dataset larger than the storage the file gives it: SOMA_ERR_FORMAT naming the
 * dataset (never a crash, no allocation beyond what the file holds). Unreadable file:
 * SOMA_ERR_IO. HDF5's own error printing is off. Not thread-safe (HDF5 serial build). */
typedef struct soma_series {
    char *name;  /* path in the file without the leading '/', e.g. "processing/behavior/Position/xy" */
    long n;      /* samples */
    int dim;     /* values per sample (1 for 1-D data) */
    float *data; /* [n * dim] row-major */
    double *t;   /* [n] sample times, ms, non-decreasing */
} soma_series;

typedef struct soma_recording {
    soma_spikes spikes; /* n_neurons = n_units */
    int n_units;
    int64_t *unit_id;   /* [n_units] */
    int64_t *electrode; /* [n_units] or NULL */
    int n_trials;       /* 0: no trials table */
    double *trial_start, *trial_stop; /* [n_trials] ms */
    int n_cols;         /* extra trial columns */
    char **col_name;    /* [n_cols] */
    double **col;       /* [n_cols][n_trials], as stored */
    int n_series;
    soma_series *series; /* [n_series], sorted by name */
} soma_recording;

void soma_recording_free(soma_recording *r); /* releases everything; safe on a zeroed struct */
/* Reads an NWB 2.x file. r is zeroed on failure. */
soma_status soma_nwb_read(const char *path, soma_recording *r);
/* The same from an HDF5 file image in memory (label names it in messages). */
soma_status soma_nwb_parse(const void *buf, size_t n, const char *label, soma_recording *r);
/* A spike table: NPY times (s) [n] with ids_path NPY unit ids [n] (any integer values), or,
 * ids_path NULL, one NPY [n, 2] of (time s, unit id) rows; CSV: "unit,time" rows (time in
 * s; a header row is allowed). Rows need not be sorted. Units are the distinct ids ascending
 * (unit_id), no trials, no behaviour. SOMA_ERR_FORMAT on non-integer ids, non-finite times,
 * mismatched lengths. */
soma_status soma_spikes_read_npy(const char *times_path, const char *ids_path, soma_recording *r);
soma_status soma_spikes_read_csv(const char *path, soma_recording *r);
/* The trial column named name ("start_time", "stop_time" or an extra column), or NULL. */
const double *soma_recording_col(const soma_recording *r, const char *name);
/* The behaviour series whose full name or last path component is name, or NULL. */
const soma_series *soma_recording_series(const soma_recording *r, const char *name);

/* Binning: bins of bin_ms. align NULL: the whole recording as one trial, bins from
 * spikes.t_start to cover spikes.t_stop. Else one trial per row of the trials table, bins from
 * event + pre_ms to event + post_ms ((post_ms - pre_ms) / bin_ms bins, rounded down), event
 * the trial's start ("start_time"), stop ("stop_time") or any trial column read as seconds
 * (NaN in it: SOMA_ERR_ARG). Spike t goes to bin floor((t - t0) / bin_ms + 1e-9) (as in
 * soma/analysis.h); windows may overlap. smooth_ms > 0: then convolves each unit's counts in
 * each trial with a Gaussian of sigma smooth_ms, truncated at 4 sigma and summing to 1
 * (zero beyond the trial's edges); causal: only the kernel's half at lags >= 0 (the past and
 * the present bin), renormalised. O(spikes + trials log spikes + output). */
typedef struct soma_bin_opts {
    double bin_ms;
    const char *align;      /* NULL: continuous */
    double pre_ms, post_ms; /* window around the event (pre_ms < post_ms; e.g. -200, 800) */
    double smooth_ms;       /* 0: none */
    int causal;
} soma_bin_opts;
soma_status soma_recording_bin(const soma_recording *r, const soma_bin_opts *o, soma_counts *out);
/* The same on bare spikes: n_trials trials whose first bins start at t0[k] ms, n_bins bins of
 * bin_ms each. out is allocated (soma_counts_free). */
soma_status soma_spikes_bin(const soma_spikes *s, const double *t0, int n_trials, int n_bins, double bin_ms,
                            soma_counts *out);
/* Gaussian smoothing in place (as above); sigma_ms > 0. */
soma_status soma_counts_smooth(soma_counts *c, double sigma_ms, int causal);
/* Behaviour on c's bins: out[(k * n_bins + b) * dim + d] is dimension d of s linearly
 * interpolated at bin b's centre of trial k (t0[k] + (b + 0.5) bin_ms); before the first or
 * after the last sample it holds that sample's value (as numpy.interp). out [n_trials, n_bins,
 * s->dim], caller-owned. */
soma_status soma_series_align(const soma_series *s, const soma_counts *c, float *out);
/* PSTHs: the mean over trials of each condition. cond [c->n_trials] (NULL: one condition);
 * conditions are its distinct values, ascending, written to levels[*n_levels] (caller-owned,
 * c->n_trials long; may be NULL). out [n_levels, n_bins, n_units] (allocated; t0 of each
 * condition's first trial). NaN in cond: SOMA_ERR_ARG. */
soma_status soma_counts_psth(const soma_counts *c, const double *cond, soma_counts *out, double *levels,
                             int *n_levels);
/* Held-in / held-out neurons: held_out[u] = 1 for n_held_out units drawn uniformly without
 * replacement with seed (held_out [n_units], caller-owned). */
soma_status soma_units_split(int n_units, int n_held_out, uint64_t seed, uint8_t *held_out);
/* mask[u] = 1 for the units whose unit_id is in ids[n] (a given held-out list), else 0 (mask
 * [r->n_units], caller-owned). SOMA_ERR_ARG on an id the recording does not have. */
soma_status soma_units_mask(const soma_recording *r, const int64_t *ids, int n, uint8_t *mask);
/* The units u of c with (mask[u] != 0) == want (want 1: the held-out ones; 0: held-in), in
 * order, into out (allocated). A given list of units is a mask the caller sets. SOMA_ERR_ARG
 * when none is selected. */
soma_status soma_counts_select(const soma_counts *c, const uint8_t *mask, int want, soma_counts *out);

// --- synthetic populations with ground truth (src/neuro/synth.c) ------------------------

/* Populations whose latent state is known, for testing latent models and their metrics.
 *   LORENZ: the Lorenz system (sigma 10, rho 28, beta 8/3) integrated by RK4, the setup of
 *     the LFADS benchmark (Sussillo et al. 2016): each condition starts from a random state
 *     on the attractor (a random start run burn_in bins first); the three latents are
 *     z-scored over all trials and bins; n_latents must be 3.
 *   RNN: a chaotic rate network (Sompolinsky, Crisanti & Sommers 1988), x' = -x + J tanh(x)
 *     with J ~ N(0, g^2 / M), M = n_latents units, tau = 1, RK4; the latents are tanh(x).
 * Both: log rate of neuron n = log(base_rate_hz * bin_ms / 1000) + sum_l W[n,l] z_l with
 * W ~ N(0, w_scale^2 / n_latents) (so log-rate sd ~ w_scale for unit-variance latents); counts
 * are Poisson draws of these rates. Trial k belongs to condition k % n_conds (each condition
 * its own initial state; n_conds 0: every trial its own), so rates are the true PSTHs.
 * Everything is drawn from soma_rng streams of seed: same options, same data, bit for bit. */
typedef enum soma_synth_kind { SOMA_SYNTH_LORENZ = 0, SOMA_SYNTH_RNN, SOMA_SYNTH_KIND_COUNT } soma_synth_kind;
typedef struct soma_synth_opts {
    soma_synth_kind kind;
    int n_trials, n_bins, n_units, n_latents;
    int n_conds;         /* 0: one condition per trial */
    double bin_ms;       /* bin width (for the rate in Hz and the counts' bin_ms) */
    double dt;           /* model time per bin (Lorenz: 0.01; RNN: 0.1 tau); RK4 substeps <= 0.005 / 0.05 */
    int burn_in;         /* bins run (and dropped) before each condition's first bin */
    double base_rate_hz; /* baseline rate exp(b) */
    double w_scale;      /* sd of the log rate driven by unit-variance latents */
    double g;            /* RNN gain (1.5) */
    uint64_t seed;
} soma_synth_opts;
/* Defaults: LORENZ 100 trials x 100 bins x 50 units, 3 latents, 10 ms bins, dt 0.01, burn-in
 * 300, 10 Hz base, w_scale 1, n_conds 0, seed 1; RNN the same with 20 latents, dt 0.1, g 1.5. */
soma_synth_opts soma_synth_opts_default(soma_synth_kind kind);
const char *soma_synth_kind_name(soma_synth_kind k);
soma_status soma_synth_kind_parse(const char *name, soma_synth_kind *out); /* "lorenz", "rnn" */
typedef struct soma_synth {
    soma_counts spikes; /* Poisson counts [trials, bins, units] */
    float *rates;       /* [trials, bins, units] true expected counts per bin (owned) */
    float *latents;     /* [trials, bins, n_latents] true latents (owned) */
    float *w;           /* [n_units, n_latents] readout W; b = log(base_rate_hz * bin_ms / 1000) */
    int *cond;          /* [trials] condition of each trial */
    int n_latents, n_conds;
} soma_synth;
/* Builds the population. SOMA_ERR_ARG (with a message) on sizes < 1, n_latents != 3 for
 * LORENZ, bad rates or steps; the output is zeroed on failure. Free with soma_synth_free. */
soma_status soma_synth_make(const soma_synth_opts *o, soma_synth *out);
void soma_synth_free(soma_synth *s); /* NULL and a zeroed struct are no-ops */

/* A sparse LIF network with known weights (src/neuro/synth_snn.c): n leaky integrate-and-fire
 * neurons (soma/snn.h defaults, delta synapses: a spike jumps V by the weight in mV, t_ref
 * 2 ms), the first n - round(frac_inh n) excitatory (weight w_exc >= 0), the rest inhibitory
 * (w_inh <= 0), each ordered pair (no autapses) connected with probability p, delay delay_ms;
 * every neuron driven to irregular firing by its own Poisson source (drive_hz, drive_mv). */
typedef struct soma_synth_lif_opts {
    int n;
    double frac_inh, p, w_exc, w_inh, delay_ms;
    double drive_hz, drive_mv;
    double duration_ms, dt_ms;
} soma_synth_lif_opts;
/* n 100, frac_inh 0.2, p 0.1, w_exc 1 mV, w_inh -2 mV, delay 1.5 ms, drive 400 Hz x 1 mV,
 * 10 minutes (600000 ms), dt 0.25 ms. */
soma_synth_lif_opts soma_synth_lif_defaults(void);
/* Simulates the network: *spikes (initialised here; soma_spikes_free) gets every spike (ids
 * 0..n-1, window [0, duration]); w[j * n + i] (caller's, n * n) the true weight of j -> i
 * (0: no synapse). SOMA_ERR_ARG on impossible options. */
soma_status soma_synth_lif(const soma_synth_lif_opts *o, uint64_t seed, soma_spikes *spikes, float *w);

// --- multi-session synthetic data (src/neuro/synth_sessions.c) ---------------------------

/* Many recording sessions of one shared latent dynamical system, for pre-training and
 * adapting population models across sessions (docs/fm_data.md). A reaching-like system:
 * n_latents / 2 undamped rotations (periods spread evenly from period_min to period_max bins,
 * the jPCA picture of motor cortex, Churchland et al. 2012) started from a condition-
 * dependent initial state x0 = M [cos a, sin a, 1] / sqrt(2) for reach angle a (plus
 * init_noise sd per latent; each trial's speed scaled by exp(speed_sd N(0,1))); the latents z
 * are the states. Hand velocity [2] = B z (B fixed, unit-variance outputs). A shared pool of
 * n_pool neurons, neuron p with readout w_p ~ N(0, w_scale^2 / n_latents) and baseline b_p =
 * log(base_rate_hz bin_ms / 1000) + N(0, 0.3^2). Session i records units_min..units_max
 * (uniform) distinct pool neurons, each with its own gain g = exp(gain_sd N(0,1)) and offset
 * o ~ N(0, offset_sd^2): log rate = b_p + o + g w_p . z; counts are Poisson.
 * Trial k's reach angle is 2 pi (k % n_conds) / n_conds (n_conds > 0: conditions shared by
 * every session, as MC_Maze's) or uniform (n_conds 0).
 * Anomalies: each trial is anomalous with probability anomaly_frac, of one kind drawn
 * uniformly (labels in soma_session.anomaly):
 *   DYNAMICS  altered dynamics parameters: every rotation's frequency times freq_scale
 *   PULSE     an input pulse: at a bin drawn from [n_bins/4, 3 n_bins/4) the state jumps by
 *             pulse * sqrt(n_latents) along a random unit direction (then rotates on)
 *   UNITS     dropped and inserted units: round(unit_frac * units) units, half of them silent
 *             (dropped), the rest replaced by pool neurons the session does not record
 *             (inserted), with their own gains and offsets
 * The pool, dynamics, M and B come from soma_rng stream 0 of seed; session i from stream i + 1,
 * so any session can be made alone and is the same bit for bit. */
typedef enum soma_anomaly_kind {
    SOMA_ANOMALY_NONE = 0,
    SOMA_ANOMALY_DYNAMICS,
    SOMA_ANOMALY_PULSE,
    SOMA_ANOMALY_UNITS,
    SOMA_ANOMALY_KIND_COUNT
} soma_anomaly_kind;
const char *soma_anomaly_kind_name(soma_anomaly_kind k); /* "none", "dynamics", "pulse", "units" */

typedef struct soma_sessions_opts {
    int n_trials, n_bins;        /* per session (100, 50) */
    int n_pool;                  /* shared neuron pool (200) */
    int units_min, units_max;    /* neurons a session records, uniform in [min, max] (40, 80) */
    int n_latents;               /* even (8) */
    int n_conds;                 /* reach conditions (0: a uniform angle per trial) */
    double bin_ms;               /* (20) */
    double period_min, period_max; /* rotation periods, bins (12, 60) */
    double base_rate_hz;         /* (15) */
    double w_scale;              /* sd of the latent-driven log rate (0.8) */
    double gain_sd, offset_sd;   /* per-session unit gains (log sd 0.3) and log-rate offsets (0.3) */
    double init_noise;           /* trial-to-trial sd of the initial state per latent (0.2) */
    double speed_sd;             /* log sd of each trial's speed (0.05) */
    double anomaly_frac;         /* (0) */
    double freq_scale;           /* DYNAMICS (2) */
    double pulse;                /* PULSE (1.5) */
    double unit_frac;            /* UNITS (0.3) */
    double lif_rate_hz;          /* LIF sessions: the drive (Poisson input, Hz) of the network (400) */
    uint64_t seed;               /* (1) */
} soma_sessions_opts;
soma_sessions_opts soma_sessions_opts_default(void);

/* One session. LIF sessions (soma_session_make_lif) have spikes only: rates, latents, beh,
 * unit_pool, gain, offset and angle are NULL, anomaly all NONE. */
typedef struct soma_session {
    soma_counts spikes; /* Poisson counts [trials, bins, units] */
    float *rates;       /* [trials, bins, units] true expected counts per bin */
    float *latents;     /* [trials, bins, n_latents] */
    float *beh;         /* [trials, bins, beh_dims] hand velocity */
    int n_latents, beh_dims;
    int *unit_pool;     /* [units] the pool neuron each unit records */
    float *gain, *offset; /* [units] */
    float *angle;       /* [trials] reach angle, radians */
    uint8_t *anomaly;   /* [trials] soma_anomaly_kind */
    int index;          /* the session's index */
    int lif;            /* 1: a spiking-network session */
} soma_session;
/* Session `index` (>= 0) of the family o describes. SOMA_ERR_ARG (with a message) on bad
 * options: sizes < 1, odd n_latents, units_max > n_pool, rates, periods or shares out of
 * range. Output zeroed on failure; free with soma_session_free. */
soma_status soma_session_make(const soma_sessions_opts *o, int index, soma_session *out);
/* A spiking-network session: soma_synth_lif (defaults; n = the session's unit count, drive
 * lif_rate_hz) run for n_trials * n_bins * bin_ms, cut into consecutive trials and binned. */
soma_status soma_session_make_lif(const soma_sessions_opts *o, int index, soma_session *out);
void soma_session_free(soma_session *s); /* NULL and a zeroed struct are no-ops */

// --- few-shot baselines on a new session (src/neuro/fm_baselines.c) ----------------------

/* What a population model adapted to a new session with few trials is compared with
 * (docs/fm_data.md). A split of one session: train [trials] 1 for the few training trials,
 * test [trials] 1 for the evaluation trials (disjoint from train), heldout [units] 1 for the
 * co-smoothing held-out units; the last fwd_bins bins of a trial are its forward-prediction
 * window. Each function fits on the training trials only and scores the test trials; every
 * figure is an nlb_tools metric (soma_nlb_bits_per_spike, soma_nlb_vel_r2).
 *   co-smoothing   soma_neuro_cosmooth (SMOOTH, or GPFA with gpfa_latents latents and
 *                  gpfa_iter EM iterations) fit on the training trials' held-in units, its
 *                  Poisson GLM readout of every unit fit on the training trials; co-bps of the
 *                  test trials' held-out units over all bins
 *   velocity       soma_fewshot_decode on the held-in units' counts smoothed by smooth_ms
 *   forecasting    soma_fewshot_forecast_smooth: the causally smoothed counts (every unit) at
 *                  the last observed bin, by ridge, to each unit's counts in each forward bin;
 *                  fp-bps of the test trials' forward window (every unit)
 *   anomalies      soma_fewshot_anomaly_smooth: two scores a trial, AUROC of perturbed-
 *                  dynamics trials (DYNAMICS, PULSE) against normal test trials by the
 *                  dynamics score, of UNITS trials by the units score
 * Errors: SOMA_ERR_ARG on masks with an empty side, sizes or options out of range. */
typedef struct soma_fewshot_opts {
    double smooth_ms; /* Gaussian smoothing sd (40) */
    int gpfa_latents; /* (8) */
    int gpfa_iter;    /* EM iterations (50) */
    int fwd_bins;     /* forward-prediction window, bins (10) */
} soma_fewshot_opts;
soma_fewshot_opts soma_fewshot_opts_default(void);

/* Velocity (any behaviour) decoding: soma_nlb_vel_r2 from features feat [trials, bins, p]
 * (smoothed rates, a model's latents) to beh [trials, bins, q], its ridge fit on the rows of
 * the training trials, scored on the rows of the test trials. */
soma_status soma_fewshot_decode(const float *feat, int p, const float *beh, int q, int n_trials, int n_bins,
                                const uint8_t *train, const uint8_t *test, double *r2);
/* Forward-prediction bits per spike of rates [trials, f, units] (expected counts of the last f
 * bins of each trial; only test trials' rows are read) against c's counts there, over the test
 * trials (soma_nlb_bits_per_spike, every unit). */
soma_status soma_fewshot_fp_bps(const soma_counts *c, const uint8_t *test, int f, const float *rates, double *bps);
/* The forecasting baseline: rates [trials, f, units] for every trial (see above): ridge with
 * intercept from the causally smoothed (smooth_ms) counts of bin T - f - 1 (features
 * standardised over the training trials) to the counts of the f forward bins, alpha from
 * {1e-2 .. 1e4} (7 values, log-spaced, times the training trials) by the Poisson NLL of
 * the floored forecasts in min(5, trials)-fold cross-validation over the training trials
 * (contiguous folds; first best); rates floored at 0.1 x each unit's training mean count per bin + 1e-6 (a linear
 * prediction can go negative; Poisson bits per spike punish near-zero rates hard). */
soma_status soma_fewshot_forecast_smooth(const soma_counts *c, const uint8_t *train, int f, double smooth_ms,
                                         float *rates);
/* The anomaly baseline, two scores a trial (either may be NULL), every trial scored:
 *   dyn[k]    how badly trial k's own smoothing predicts it: rates r = leave-one-bin-out
 *             Gaussian smoothing (sd smooth_ms, the centre bin's weight 0) of its counts,
 *             floored at 0.05 x the unit's training mean + 1e-4; Pearson's chi-square of the
 *             counts under Poisson(r) as a z-score, z = sum ((y - r)^2 / r - 1) / sqrt(sum (2 +
 *             1 / r)) over bins and units (its mean and variance were r the truth)
 *   units[k]  how unlike the training trials each unit's spike count is: mean over units of
 *             ((S_ku - m_u) / s_u)^2, S_ku the unit's total count in trial k, m_u and s_u the
 *             mean and sd of it over the training trials (s_u floored at sqrt(m_u) and 0.5) */
soma_status soma_fewshot_anomaly_smooth(const soma_counts *c, const uint8_t *train, double smooth_ms, float *dyn,
                                        float *units);

typedef struct soma_fewshot_res {
    double co_bps_smooth, co_bps_gpfa; /* co-smoothing bits per spike, test trials */
    double vel_r2;                     /* velocity R^2 from smoothed held-in rates (NAN: no behaviour) */
    double fp_bps;                     /* forward prediction, test trials */
    double auroc_dynamics, auroc_units; /* NAN when the test trials hold no such anomaly */
    double seconds;                    /* soma_now() over the whole call */
} soma_fewshot_res;
/* Every baseline on one split of a session (beh [trials, bins, q] may be NULL). The
 * co-smoothing, velocity and forecasting figures use the test trials whose anomaly (may be
 * NULL: all normal) is NONE; the AUROCs use every test trial. */
soma_status soma_fewshot_baselines(const soma_counts *c, const float *beh, int q, const uint8_t *anomaly,
                                   const uint8_t *train, const uint8_t *test, const uint8_t *heldout,
                                   const soma_fewshot_opts *o, soma_fewshot_res *out);

// --- metrics, as the Neural Latents Benchmark's nlb_tools defines them (src/neuro/metrics.c)

/* nlb_tools (evaluation.py) definitions, computed in double. Arrays are row-major
 * [n_rows, n_units] (a [trials, bins, units] block is n_rows = trials * bins rows).
 *
 * Bits per spike (co-bps on the held-out neurons' rates and counts; fp-bps on the forward
 * bins' rates and counts, held-in and held-out together): (NLL(null) - NLL(rates)) /
 * (total spikes * ln 2), NLL = sum(r - k log r) (log k! cancels), null rate of a unit = its
 * mean count over all rows; rates == 0 count as 1e-9; NaN counts are skipped (as nlb's masks).
 * SOMA_ERR_ARG on negative or NaN rates (at a non-NaN count) or no spikes at all. */
soma_status soma_nlb_bits_per_spike(const float *rates, const float *spikes, long n_rows, int n_units, double *bps);
/* sklearn's r2_score of yhat against y [n, q]: per output 1 - SS_res / SS_tot (an output with
 * SS_tot 0 scores 1 if predicted exactly, else 0); weighted 0: mean over outputs
 * ('uniform_average'), 1: 1 - sum SS_res / sum SS_tot ('variance_weighted'). */
double soma_r2_score(const double *y, const double *yhat, long n, int q, int weighted);
/* Velocity decoding R^2 (nlb's fit_and_eval_decoder): ridge regression with intercept from
 * rates [n_train, p] to behaviour [n_train, q], alpha picked from logspace(-4, 0, 9) by
 * 5-fold unshuffled cross-validation (sklearn's GridSearchCV: mean fold R^2, first best),
 * refit on all training rows, scored on the evaluation rows by r2_score 'uniform_average'.
 * Rows whose first behaviour value is NaN are dropped. SOMA_ERR_ARG: n_train < 5, NaN rates. */
soma_status soma_nlb_vel_r2(const float *train_rates, const float *train_beh, long n_train,
                            const float *eval_rates, const float *eval_beh, long n_eval, int p, int q,
                            double *r2);
/* PSTH R^2 (nlb's eval_psth): each trial k's rates [n_bins, n_units] against the true PSTH of
 * its condition cond[k] (psth [n_conds, n_bins, n_units]), all trials' bins stacked, r2_score
 * 'uniform_average' over units; bins whose PSTH first unit is NaN are skipped. */
soma_status soma_nlb_psth_r2(const float *rates, const int *cond, int n_trials, const float *psth, int n_conds,
                             int n_bins, int n_units, double *r2);
/* Latent recovery R^2: the affine map true ~ A z + c fit by least squares on (z_fit [n_fit, d],
 * true_fit [n_fit, l]) and scored on (z_eval, true_eval) [n_eval] (pass the fit set again
 * to score in-sample) by r2_score 'variance_weighted'. SOMA_ERR_ARG when n_fit <= d. */
soma_status soma_latent_r2(const float *z_fit, const float *true_fit, long n_fit, const float *z_eval,
                           const float *true_eval, long n_eval, int d, int l, double *r2);
/* Ridge regression with intercept, the building block of the readouts above: W [p, q] and
 * b [q] minimise |Y - X W - b|^2 + alpha |W|^2 over X [n, p], Y [n, q] (alpha >= 0; alpha 0
 * is least squares, with a 1e-10 relative jitter if X'X is singular). */
soma_status soma_ridge_solve(const double *X, const double *Y, long n, int p, int q, double alpha, double *W,
                             double *b);

// --- latent-variable models: PCA, FA, GPFA, Poisson VAE (src/neuro/latent.c, gpfa.c) -----

/* Latent-variable models of binned counts, fit on training trials and applied to others.
 *   SMOOTH  the counts smoothed by a Gaussian (smooth_ms) are the "latents" (nlb's smoothing
 *           baseline; n_latents is ignored: one per unit)
 *   PCA     principal components of the smoothed (root) counts
 *   FA      factor analysis of the smoothed (root) counts by EM: y = C z + d + e, z ~ N(0, I), e ~
 *           N(0, diag R); started from PCA (C = top eigenvectors * sqrt(eigenvalues), R =
 *           diag cov), private variances floored at 1e-3 * each unit's variance; latents
 *           E[z | y]
 *   GPFA    Gaussian-process factor analysis (Yu et al. 2009) of the unsmoothed (root) counts
 *           by EM: each latent a GP over bins with K(t, t') = (1 - gp_noise) exp(-(t - t')^2 / 2 tau^2)
 *           + gp_noise [t = t']; started from FA; the M-step sets C, d, R in closed form and
 *           each tau by gradient ascent (with backtracking) on the expected log prior; the
 *           E-step solves each trial's [bins * n_latents] posterior by Cholesky (LAPACKE),
 *           one factorisation shared by all trials of a length. Latents: posterior means.
 *   VAE     a Poisson VAE (soma_vae, soma/learn.h) on single bins of smoothed counts; latents
 *           the encoder's means.
 * (root): square roots of the counts when opts.root (the default), else the values as given.
 * Orthonormalised latents (FA, GPFA; soma_latent_infer's orth = 1): with C = U D V' (SVD),
 * z_orth = D V' z, ordered by D, each column of U signed so its largest entry is positive.
 *
 *     soma_latent_opts o = soma_latent_opts_default(SOMA_LATENT_GPFA);
 *     soma_latent *m;
 *     SOMA_TRY(soma_latent_fit(&m, &train, &o));             // train: a soma_counts
 *     SOMA_TRY(soma_latent_infer(m, &test, 1, z));           // z [trials, bins, n_latents]
 *     soma_latent_free(m);
 */
typedef enum soma_latent_kind {
    SOMA_LATENT_SMOOTH = 0,
    SOMA_LATENT_PCA,
    SOMA_LATENT_FA,
    SOMA_LATENT_GPFA,
    SOMA_LATENT_VAE,
    SOMA_LATENT_KIND_COUNT
} soma_latent_kind;
const char *soma_latent_kind_name(soma_latent_kind k); /* "smooth", "pca", "fa", "gpfa", "vae" */
soma_status soma_latent_kind_parse(const char *name, soma_latent_kind *out);
typedef struct soma_latent_opts {
    soma_latent_kind kind;
    int n_latents;     /* (default 3) */
    double smooth_ms;  /* Gaussian smoothing sd for SMOOTH, PCA, FA, VAE (default 40; 0: none) */
    int max_iter;      /* EM iterations, FA and GPFA (default 100 and 50) */
    double tol;        /* EM stops when the log-likelihood gains < tol * |ll| (default 1e-7; 0: never) */
    double tau_ms;     /* GPFA's initial timescale (default 100) */
    double gp_noise;   /* GPFA's fixed GP noise variance (default 1e-3) */
    int vae_epochs;    /* (default 40) */
    int vae_hidden;    /* encoder and decoder hidden width (default 64) */
    float vae_lr;      /* (default 3e-3) */
    double glm_alpha;  /* co-smoothing readout's L2 penalty (per row mean loss; default 1e-3) */
    uint64_t seed;     /* (default 1) */
    int root;          /* PCA, FA, GPFA: model the square roots of the counts (variance-stabilising,
                          as Yu et al. 2009; default 1); 0: the counts (or any real data) as given */
} soma_latent_opts;
soma_latent_opts soma_latent_opts_default(soma_latent_kind kind);
typedef struct soma_latent soma_latent; /* a fitted model (opaque) */
/* Fits on data [trials, bins, units] (every trial). SOMA_ERR_ARG (with a message) on bad
 * options, n_latents > units, fewer than 2 rows, GPFA with bins * n_latents > 3000. */
soma_status soma_latent_fit(soma_latent **out, const soma_counts *data, const soma_latent_opts *o);
/* Latents z [trials, bins, soma_latent_dim(m)] of data (the same units as the fit; GPFA: any
 * number of bins). orth = 1: orthonormalised (FA, GPFA; others ignore it). Not thread-safe
 * on one model (the VAE's buffers). */
soma_status soma_latent_infer(soma_latent *m, const soma_counts *data, int orth, float *z);
int soma_latent_dim(const soma_latent *m);
/* The EM log-likelihood of the training data before each update and after the last (FA,
 * GPFA; per-row mean for FA's Gaussian, the total for GPFA's); *n 0 for the others. */
const double *soma_latent_loglik(const soma_latent *m, int *n);
/* GPFA's timescales in ms [n_latents] (NULL for the others). */
const double *soma_latent_tau_ms(const soma_latent *m);
/* Parameters (borrowed): C [units, n_latents] loadings (PCA: the components as columns), d
 * [units] offsets (PCA: the mean), R [units] private variances (PCA: NULL). SOMA_ERR_ARG for
 * SMOOTH and VAE. */
soma_status soma_latent_params(const soma_latent *m, const double **C, const double **d, const double **R);
void soma_latent_free(soma_latent *m);
/* Gaussian smoothing within each trial: y[k, t, u] = sum_s w(t - s) x[k, s, u] / sum_s w(t - s),
 * w a Gaussian of sd sd_bins truncated at 4 sd (renormalised at the trial's edges); sd_bins
 * 0 copies. */
void soma_neuro_smooth(const float *x, int n_trials, int n_bins, int n_units, double sd_bins, float *y);

/* Co-smoothing (nlb): fit the model on the held-in units of the training trials, infer the
 * latents of every trial, fit a Poisson GLM readout (rates = exp(z w + b), L2 penalty
 * glm_alpha, Newton) from the training trials' latents to each unit's counts, predict every
 * unit's rates on the test trials. heldout [units] and test [trials] are 0/1 masks (at least
 * one of each and one of each's complement). true_latents [trials, bins, n_true] (may be
 * NULL) gives latent_r2: the affine map fit on the training trials, scored on the test ones. */
typedef struct soma_cosmooth {
    soma_latent_kind kind;
    double co_bps;    /* bits per spike of the test trials' held-out units */
    double latent_r2; /* NAN without true latents */
    double fit_s;     /* seconds to fit the model, infer and fit the readout (soma_now) */
    int n_test, n_bins, n_units, n_latents;
    int *test_idx;    /* [n_test] the test trials, ascending */
    float *z;         /* [n_test, n_bins, n_latents] orthonormalised test latents */
    float *rates;     /* [n_test, n_bins, n_units] predicted rates, every unit */
} soma_cosmooth;
soma_status soma_neuro_cosmooth(const soma_counts *data, const unsigned char *heldout, const unsigned char *test,
                                const float *true_latents, int n_true, const soma_latent_opts *o,
                                soma_cosmooth *out);
void soma_cosmooth_free(soma_cosmooth *r);
/* A seeded split: round(heldout_frac * units) held-out units and round(test_frac * trials)
 * test trials (each at least 1, at most all but 1), chosen by soma_rng permutations. */
soma_status soma_neuro_split(int n_units, int n_trials, double heldout_frac, double test_frac, uint64_t seed,
                             unsigned char *heldout, unsigned char *test);
/* The baselines of the Lorenz benchmark on one data set: soma_neuro_cosmooth for each model
 * (SMOOTH, PCA, FA, GPFA, VAE: res[kind]) on soma_neuro_split(heldout_frac, test_frac, seed)
 * with n_latents latents and each kind's default options (max_iter scaled by iter_scale, in
 * (0, 1], for quick runs). res[k] must be freed with soma_cosmooth_free. */
soma_status soma_neuro_baselines(const soma_counts *data, const float *true_latents, int n_true, int n_latents,
                                 double heldout_frac, double test_frac, uint64_t seed, double iter_scale,
                                 soma_cosmooth res[SOMA_LATENT_KIND_COUNT]);

// --- LFADS (src/neuro/lfads.c) ----------------------------------------------------------

/* LFADS (Pandarinath et al. 2018), a sequential VAE of spike counts, without the controller
 * and inferred inputs (the generator is autonomous: enough for Lorenz-like dynamics):
 *   encoder   a bidirectional GRU (enc_dim units per direction, torch.nn.GRU equations,
 *             soma_gru_forward) over the held-in counts [T, n_in]; its two final states
 *             [2 enc_dim] -> a linear map -> posterior mean and log-variance of g0 [gen_dim]
 *   g0        mean + exp(logvar/2) * eps in training (eps ~ N(0,1)); the mean at inference
 *   generator a GRU with no input (gen_dim units) started from h0 = g0, T steps
 *   factors   f_t = W_fac g_t (no bias) [factors]: the latents
 *   rates     log rate = W_out f_t + b_out for all n_out units (the first n_in are the held-in
 *             units the encoder sees; the rest are held-out units read out from the factors
 *             only, as the NLB's co-smoothing asks); expected counts per bin = exp(log rate)
 * Loss per trial: Poisson NLL (with log y!) summed over bins and units, + kl_w KL(q(g0) ||
 * N(0, I)), averaged over trials and divided by T * n_out; + l2_w * 0.5 ||W_hh(generator)||^2.
 * kl_w and l2_w ramp linearly from 0 to kl_weight / l2_gen over kl_warmup / l2_warmup
 * optimizer steps. Coordinated dropout (Keshtkaran & Pandarinath 2019): in training each
 * held-in entry of the encoder's input is dropped with probability cd_rate (the rest scaled by
 * 1 / (1 - cd_rate)) and the held-in reconstruction counts only the dropped entries (scaled by
 * 1 / cd_rate); held-out units always count. Adam (torch.optim.Adam's update) on one flat
 * parameter block, the gradient's global norm clipped at clip. A seeded share of the trials
 * (valid_frac) is held out for validation; the parameters of the epoch with the lowest
 * validation loss are kept. Same options, seed and data: the same model, bit for bit, for any
 * thread count. Buffers are allocated once (soma_lfads_new); a training step allocates nothing. */
typedef struct soma_lfads_opts {
    int enc_dim, gen_dim, factors; /* 64, 64, 8 */
    int epochs, batch;             /* 200, 25 */
    float lr;                      /* Adam learning rate, 5e-3 */
    float cd_rate;                 /* coordinated dropout share, 0.3 (0 turns it off) */
    float kl_weight, l2_gen;       /* final weights: 1, 1e-3 */
    int kl_warmup, l2_warmup;      /* steps of linear ramp: 200, 200 */
    float valid_frac;              /* 0.1 (0: no validation, the last epoch's parameters) */
    float clip;                    /* global gradient-norm clip, 200 */
    float logvar0;                 /* initial posterior log-variance bias, log(0.1) */
    float lr_end;                  /* the last epoch's learning rate as a share of lr, reached by
                                      cosine decay over the epochs (1: constant), 0.05 */
    int glm_readout;               /* soma_lfads_cosmooth only: 1 reads every unit's test rates out of
                                      the factors by the baselines' Poisson GLM (soma_neuro_cosmooth's,
                                      fit on the training trials), 0 by the model's own readout; 1 */
    uint64_t seed;                 /* 1 */
} soma_lfads_opts;
soma_lfads_opts soma_lfads_opts_default(void);

typedef struct soma_lfads soma_lfads; /* opaque */
/* A model for trials of n_bins bins, n_in held-in and n_out >= n_in units in all, batches of
 * up to o->batch trials. SOMA_ERR_ARG on sizes or options out of range. */
soma_status soma_lfads_new(soma_lfads **out, int n_bins, int n_in, int n_out, const soma_lfads_opts *o);
void soma_lfads_free(soma_lfads *m);

/* Trains on c ([trials, n_bins, n_out]: units 0..n_in-1 held in). SOMA_ERR_ARG when c's shape
 * does not fit the model or there are fewer than 2 trials. Prints nothing. Fit and infer run
 * on one thread (soma_set_threads(1), restored after): their GEMMs are too small to gain. */
soma_status soma_lfads_fit(soma_lfads *m, const soma_counts *c);
/* After fit: per epoch training loss (mean over its batches) and validation loss (eval mode,
 * all entries; NAN without validation), n_epochs values each (borrowed); best epoch. */
typedef struct soma_lfads_history {
    int n_epochs, best_epoch;
    const float *train_loss, *valid_loss;
} soma_lfads_history;
soma_lfads_history soma_lfads_get_history(const soma_lfads *m);

/* Inference (posterior means): x [K, n_bins, n_in] held-in counts of any K trials ->
 * factors [K, n_bins, factors] and rates [K, n_bins, n_out] (expected counts per bin); either
 * output may be NULL. */
soma_status soma_lfads_infer(soma_lfads *m, const float *x, int K, float *factors, float *rates);

/* One batch's loss, for tests and custom loops: y [K, n_bins, n_out] counts (K <= batch). train
 * 1: eps and the coordinated-dropout mask are drawn from noise_seed (the same seed, the same
 * draws); 0: g0 = mean, no dropout, every entry counts. With grad, the gradient of the loss
 * with respect to every parameter is WRITTEN to the flat gradient block. parts (may be NULL):
 * [0] reconstruction, [1] KL, [2] L2 terms as they enter the loss (weights applied). logrates
 * [K, n_bins, n_out] (may be NULL) receives the log rates; mask [K, n_bins, n_in] (may be NULL)
 * the dropout mask (1 kept, 0 dropped; all 1 when not training). */
soma_status soma_lfads_batch_loss(soma_lfads *m, const float *y, int K, int train, uint64_t noise_seed,
                                  float kl_w, float l2_w, int grad, double *loss, double *parts,
                                  float *logrates, uint8_t *mask);
/* The flat parameter and gradient blocks (n floats each) and the number of trainable
 * parameters; parameter i's name ("enc.weight_ih_l0", ...), offset and size. */
/* Co-smoothing with LFADS, as soma_neuro_cosmooth does for the other models (same masks, same
 * out fields): the model (soma_lfads_new with o) is fit on the training trials, its encoder
 * seeing their held-in units and its readout trained jointly on every unit (held-out ones
 * included, as nlb's LFADS); inference on the held-in units of every trial. out->z are the
 * test trials' factors [n_test, n_bins, factors] (not orthonormalised), out->rates every
 * unit's rates on them (original unit order): from the model's own readout, or, with
 * o->glm_readout (the default), from soma_neuro_cosmooth's Poisson GLM readout fit on the
 * training trials' factors; out->kind SOMA_LATENT_KIND_COUNT; latent_r2 the affine map fit
 * on the training trials' factors. model (may be NULL) receives the fitted
 * model (the caller frees it; units held-in first, each group in ascending order). */
soma_status soma_lfads_cosmooth(const soma_counts *data, const unsigned char *heldout, const unsigned char *test,
                                const float *true_latents, int n_true, const soma_lfads_opts *o, soma_cosmooth *out,
                                soma_lfads **model);
float *soma_lfads_params(soma_lfads *m, size_t *n);
float *soma_lfads_grads(soma_lfads *m, size_t *n);
int soma_lfads_n_tensors(const soma_lfads *m);
const char *soma_lfads_tensor(const soma_lfads *m, int i, size_t *offset, size_t *n);

// --- foundation model: the Neural Data Transformer (src/neuro/ndt*.c) -------------------

/* NDT (Ye & Pandarinath 2021) with NDT2's context tokens (Joel Ye et al. 2023), pre-trained by
 * masked modelling across sessions and adapted to new ones (docs/fm.md).
 *
 * Model, for a trial of session s (counts x [T, N_s]; every session has the model's T bins):
 *   read-in     h_t = W_in^s x_t + b_in^s            [T, D]   (per session: N_s -> D)
 *   context     [c_sess^s, c_subj^j, h_0 .. h_{T-1}]  [C + T, D] (C = 1, or 2 when the model
 *               has subjects: a learned session token, then the session's subject's token)
 *   trunk       a soma_net "pos,dropoutP,block<H>h<D>,dropoutP,...,layernorm" on [C + T, D]
 *               (nn.h's pre-norm transformer blocks, learned positions over the C + T tokens,
 *               bidirectional; dropout in training only)
 *   read-out    log rate_t = W_out^s z_t + b_out^s   [T, N_s] (z_t: the trunk's output at bin
 *               t, context tokens dropped; the latents); rates are expected counts per bin
 * Masking: mask [T, N_s] (1 = masked) per trial; masked input entries are zeroed (held-out
 * units, soma_ndt_data.heldout, are always masked). Loss = Poisson NLL (rate - y log rate, no
 * log y!) summed over masked entries / number of masked entries in the batch.
 *
 * Training (soma_ndt_train): AdamW (torch.optim.AdamW's update) on the trunk, on the session
 * and subject parameters of the sessions in the data (others untouched), a linear warm-up then
 * cosine learning rate, global gradient-norm clip. A step draws `batch` trials from `mix`
 * sessions (mix 1: a batch from one session at a time; sessions drawn with probability
 * proportional to their training trials), sorted by session so every read-in/read-out is one
 * GEMM over its group and the trunk one pass over the whole batch. A seeded share
 * (valid_frac) of each session's trials is held out for validation (same split for a given
 * seed and trial count). Every `ckpt_every` steps the whole state (model, AdamW moments, step,
 * RNG, history, options) is written to ckpt_path (temp file + rename): soma_ndt_load and
 * soma_ndt_train continue as if never stopped, bit for bit. Same data, options and seed: the
 * same model, bit for bit, for any thread count. Buffers are allocated when train starts; a
 * step allocates nothing.
 *
 * Usage:
 *     soma_ndt *m;
 *     soma_ndt_arch a = soma_ndt_arch_default(); a.n_bins = 50;
 *     SOMA_TRY(soma_ndt_new(&m, &a));
 *     int s0, s1;
 *     SOMA_TRY(soma_ndt_add_session(m, 96, -1, &s0));       // 96 units, no subject
 *     SOMA_TRY(soma_ndt_add_session(m, 120, -1, &s1));
 *     soma_ndt_data d[2] = {{.counts = &c0, .session = s0}, {.counts = &c1, .session = s1}};
 *     soma_ndt_train_opts o = soma_ndt_train_default();
 *     SOMA_TRY(soma_ndt_train(m, d, 2, &o, -1));             // pre-train (-1: to o.steps)
 *     SOMA_TRY(soma_ndt_save(m, "fm.ckpt"));
 *     // adaptation: a new session, trunk frozen (o.train_trunk = 0), few trials
 *     int s2; SOMA_TRY(soma_ndt_add_session(m, 80, -1, &s2));
 *     soma_ndt_reset_run(m);                                 // fresh optimizer state, step 0
 *     SOMA_TRY(soma_ndt_train(m, &(soma_ndt_data){.counts = &few, .session = s2}, 1, &o2, -1));
 *     SOMA_TRY(soma_ndt_infer(m, s2, x, K, NULL, latents, logrates));
 *
 * Errors: SOMA_ERR_ARG on options out of range, an unknown session, counts whose bins or units
 * do not fit; SOMA_ERR_IO / SOMA_ERR_FORMAT from checkpoint files. A model is used by one
 * thread at a time. Training, inference and evaluation hold the process to one thread
 * (soma_set_threads(1), restored after), as LFADS does: a step's products are small, and
 * threads cost far more than they gain on a busy machine. Results do not depend on it. */

typedef struct soma_ndt_arch {
    int n_bins;    /* T, bins per trial (every session) (required; default 0) */
    int d_model;   /* D, 64 */
    int n_layers;  /* transformer blocks, 2 */
    int n_heads;   /* H (divides D), 4; the feed-forward width is 4 D */
    int subjects;  /* 0 (default): no subject tokens; n >= 1: n subject tokens, sessions name
                      theirs (0..n-1) */
    uint64_t seed; /* initialisation, 1 */
    float dropout; /* inverted dropout on the token embeddings and after each block in training,
                      0.1 (0: none); nn "dropoutP" layers, so resume stays exact */
} soma_ndt_arch;
soma_ndt_arch soma_ndt_arch_default(void);

typedef enum soma_ndt_mask_kind {
    SOMA_NDT_MASK_BINS = 0,    /* whole time bins (all units): round(ratio T) bins a trial */
    SOMA_NDT_MASK_UNITS = 1,   /* whole units (all bins): round(ratio N) units a trial */
    SOMA_NDT_MASK_BOTH = 2,    /* bins and units, each at 1 - sqrt(1 - ratio), so that the
                                  union covers about `ratio` of the entries (default) */
    SOMA_NDT_MASK_KIND_COUNT
} soma_ndt_mask_kind;

typedef struct soma_ndt_train_opts {
    long steps;              /* optimizer steps in the run, 2000 */
    int batch;               /* trials a step, 32 */
    int mix;                 /* sessions a step, 1 (the batch split among them as evenly as
                                possible) */
    float mask_ratio;        /* 0.25 (0 < ratio < 1) */
    soma_ndt_mask_kind mask; /* SOMA_NDT_MASK_BOTH */
    int forecast_bins;       /* F > 0: in a share forecast_share of the trials also mask the
                                last F bins (trains forward prediction); 0 (default) */
    float forecast_share;    /* 0.5 */
    float lr, lr_min;        /* peak and final learning rate, 1e-3, 1e-5 */
    long warmup;             /* linear warm-up steps, 100 */
    float weight_decay;      /* AdamW's, on weight matrices only (not biases, tokens, norms), 0.01 */
    float clip;              /* global gradient-norm clip, 1 (0: off) */
    int train_trunk;         /* 1 (default): the trunk learns; 0: frozen (adaptation) */
    float valid_frac;        /* held-out share of each session's trials, 0.1 (0: none) */
    long eval_every;         /* validation every so many steps (and at the end), 100 */
    long ckpt_every;         /* checkpoint every so many steps, 0 (off) */
    const char *ckpt_path;   /* where (borrowed); needed when ckpt_every > 0 */
    int progress;            /* 1: a soma_progress line on stderr (terminal form only when
                                stderr is one) with masked NLL and bits per spike; 0 (default) */
    uint64_t seed;           /* batches, masks and the validation split, 1 */
} soma_ndt_train_opts;
soma_ndt_train_opts soma_ndt_train_default(void);

/* A session's trials for training or evaluation: counts [trials, n_bins, units of session]
 * (borrowed) and the session id from soma_ndt_add_session. heldout [units] (may be NULL):
 * units always masked at the input (so never seen) and always scored: co-smoothing's held-out
 * units, whose rates the model learns to predict from the others. */
typedef struct soma_ndt_data {
    const soma_counts *counts;
    int session;
    const uint8_t *heldout;
} soma_ndt_data;

typedef struct soma_ndt soma_ndt; /* opaque */

/* An untrained model with no sessions. SOMA_ERR_ARG on sizes out of range. */
soma_status soma_ndt_new(soma_ndt **out, const soma_ndt_arch *a);
void soma_ndt_free(soma_ndt *m); /* NULL is a no-op */
soma_ndt_arch soma_ndt_get_arch(const soma_ndt *m);
/* Adds a session of n_units units (subject -1: none; else 0..arch.subjects-1) with fresh
 * read-in, read-out and session token (initialised from the model's seed and the session's
 * index); *session receives its id (0, 1, ... in order of addition). */
soma_status soma_ndt_add_session(soma_ndt *m, int n_units, int subject, int *session);
int soma_ndt_n_sessions(const soma_ndt *m);
int soma_ndt_session_units(const soma_ndt *m, int session); /* -1 when unknown */
/* Parameter counts: the shared trunk, and one session's own (read-in, read-out, token). */
size_t soma_ndt_n_params(const soma_ndt *m, int session /* -1: the trunk */);

/* Trains on the n data sets (each a known session, at most once) until the run
 * has taken o->steps steps or, until_step >= 0, until_step steps (for tests that stop a run
 * and resume it). A new run starts at step 0 with zero AdamW moments; soma_ndt_load restores a
 * run in progress, which continues only with the options it was saved with (SOMA_ERR_ARG
 * otherwise: compare soma_ndt_get_train_opts). */
soma_status soma_ndt_train(soma_ndt *m, const soma_ndt_data *d, int n, const soma_ndt_train_opts *o,
                           long until_step);
/* Ends the run: step 0, AdamW moments zero, history cleared (before adaptation). */
void soma_ndt_reset_run(soma_ndt *m);
long soma_ndt_step(const soma_ndt *m);
/* The options of the run in progress (defaults when none). */
soma_ndt_train_opts soma_ndt_get_train_opts(const soma_ndt *m);

/* The run's history at every evaluation (borrowed, n_evals entries each): step, training loss
 * (mean masked NLL per masked entry of the steps since the last evaluation), validation masked
 * NLL per entry and bits per spike on the masked entries (NAN without validation trials), and
 * the seconds spent training so far. */
typedef struct soma_ndt_history {
    int n_evals;
    const long *step;
    const float *train_nll, *valid_nll, *valid_bps;
    double train_seconds;
} soma_ndt_history;
soma_ndt_history soma_ndt_get_history(const soma_ndt *m);

/* The whole model and run state (see above); soma_ndt_load builds a new model from a file. */
soma_status soma_ndt_save(soma_ndt *m, const char *path);
soma_status soma_ndt_load(soma_ndt **out, const char *path);

/* Masks: mask [K, T, N] (1 = masked) drawn for K trials by the rule of `kind` at `ratio` with
 * rng; forecast_bins / forecast_share as in the training options (0: none). */
void soma_ndt_mask_draw(uint8_t *mask, int K, int T, int N, float ratio, soma_ndt_mask_kind kind,
                        int forecast_bins, float forecast_share, soma_rng *rng);

/* Forward pass in eval mode on K trials x [K, T, N_s] of a session. mask [K, T, N_s] (may be
 * NULL: nothing masked) zeroes those inputs. latents [K, T, D] (the trunk's output at the
 * bins) and logrates [K, T, N_s] may each be NULL. Any K >= 1 (processed in chunks). */
soma_status soma_ndt_infer(soma_ndt *m, int session, const float *x, int K, const uint8_t *mask,
                           float *latents, float *logrates);
/* Loss of one batch of K trials x [K, T, N_s] with mask [K, T, N_s] (buffers grow to K if
 * needed), for tests and custom loops: the masked Poisson NLL per masked entry as in training,
 * *loss; grad 1: the trunk runs in training mode (dropout drawn) and the gradients of every
 * parameter (trunk, this session, its subject token) are WRITTEN to the gradient blocks
 * (soma_ndt_grads); grad 0: evaluation mode. */
soma_status soma_ndt_batch_loss(soma_ndt *m, int session, const float *x, int K, const uint8_t *mask,
                                int grad, double *loss);
/* The model's parameters and gradients as flat blocks: session -1 the trunk (the soma_net's
 * blocks), -2 the subject tokens [subjects, D] (NULL, *n 0 without subjects; they learn when
 * the trunk does), else that session's read-in weight [D, N] and bias [D], read-out weight
 * [N, D] and bias [N], session token [D] in that order. */
float *soma_ndt_params(soma_ndt *m, int session, size_t *n);
float *soma_ndt_grads(soma_ndt *m, int session, size_t *n);

/* Evaluation on the masked entries of n_draws masks a trial (drawn from seed by the kind and
 * ratio given): nll per masked entry and bits per spike (against each unit's mean count over
 * the data as the null rate); either may be NULL. The held-out units of d are masked too. */
soma_status soma_ndt_eval(soma_ndt *m, const soma_ndt_data *d, float ratio, soma_ndt_mask_kind kind,
                          int n_draws, uint64_t seed, double *nll, double *bps);
/* Anomaly score of each trial over n_draws masks (seeded) of the given kind at `ratio`: the
 * model's Poisson NLL on the masked entries minus that of a per-trial baseline (each unit's
 * mean count in that trial), per masked entry; score [trials], higher = less like the training
 * data. The baseline removes trial-to-trial differences in firing rate that are not anomalies.
 * Masking bins (SOMA_NDT_MASK_BINS) tests the dynamics in time; masking units tests the
 * relations between units at each time. */
soma_status soma_ndt_anomaly(soma_ndt *m, const soma_ndt_data *d, float ratio, soma_ndt_mask_kind kind, int n_draws,
                             uint64_t seed, float *score);
/* Forward prediction: the last f bins of every trial masked (all units), rates [trials, f,
 * N_s] predicted for them (expected counts per bin). */
soma_status soma_ndt_forecast(soma_ndt *m, int session, const soma_counts *c, int f, float *rates);

// --- connectivity inference: GLM, GNN, cross-correlograms (src/neuro/conn.c) ------------

/* Every method scores each ordered pair from spikes alone: score[j * n + i] (caller's, n * n,
 * n = s->n_neurons) for the edge j -> i, signed (> 0 excitatory, < 0 inhibitory); the
 * diagonal is set to 0. Spikes are binned on [t_start, t_stop) (t_stop <= t_start: up to the
 * last spike). Sizes and options out of range give SOMA_ERR_ARG. */

/* Cross-correlogram baseline. For each ordered pair the counts of i's spikes at lags
 * (0, window_ms] after j's spikes, minus the count expected from the correlogram's flanks
 * (lags window_ms < |lag| <= flank_ms, per ms), over sqrt(expected + 1). */
soma_status soma_infer_ccg(const soma_spikes *s, double window_ms, double flank_ms, float *score);

/* Raised-cosine bases on a log-stretched time axis (Pillow et al. 2008): basis[k * n_lags + l]
 * is basis k at lag l + 1 bins, 0.5 (1 + cos(clamp((log(l + 1 + 1) - c_k) pi / (2 d), -pi,
 * pi))), the n_bases centres c_k evenly spaced d apart from log 2 to log(n_lags + 1). */
soma_status soma_glm_basis(float *basis, int n_bases, int n_lags);

/* Poisson GLM with coupling filters (Pillow et al. 2008): in bin t neuron i's expected count
 * is exp(b_i + sum_j sum_k w_ijk x_jk(t)), x_jk(t) = sum_l basis_k(l) y_j(t - l) (j = i: the
 * self-history filter). Fitted for all neurons at once by L-BFGS on the summed penalised
 * negative log-likelihood (L2 weight l2 on the filters, not the biases), batched through
 * BLAS over time chunks. score = the summed coupling filter sum_k w_ijk sum_l basis_k(l). */
typedef struct soma_glm_opts {
    double bin_ms;    /* bin width (default 2) */
    int n_bases;      /* raised-cosine bases per filter (default 2) */
    int n_lags;       /* filter length in bins (default 10) */
    double l2;        /* penalty (default 1) */
    int max_iter;     /* L-BFGS iterations (default 100) */
    double tol;       /* stop when the relative decrease of the objective is below (default 1e-7) */
} soma_glm_opts;
soma_glm_opts soma_glm_defaults(void);
/* nll (may be NULL): the final penalised negative log-likelihood per bin. */
soma_status soma_infer_glm(const soma_spikes *s, const soma_glm_opts *o, float *score, double *nll);
/* One neuron's objective on a design X [T, F] (the caller's columns; include a column of ones
 * for a bias) and counts y [T]: f = sum_t (exp(eta_t) - y_t eta_t) + l2/2 sum_{f < n_pen} w_f^2,
 * eta = X w. grad [F] and hess [F, F] may be NULL. The same kernel as soma_infer_glm. */
soma_status soma_glm_objective(const float *X, const float *y, const double *w, int T, int F, double l2,
                               int n_pen, double *f, double *grad, double *hess);

/* Graph neural network (own gradient code): a message-passing network (Gilmer et al. 2017) on
 * the complete directed graph with a learned weighted adjacency, as in neural relational
 * inference (Kipf et al. 2018) but with one continuous edge weight instead of edge types.
 * Node j's state z_j(t) is its raised-cosine-filtered history (as the GLM's x_jk); the shared
 * message function m(z) = v . tanh(U z + c) (hidden units); neuron i's expected count is
 * exp(b_i + s_i . z_i(t) + sum_{j != i} A_ij m(z_j(t))). Trained by L-BFGS on the Poisson
 * negative log-likelihood with L2 (l2) on A and s. score[j * n + i] = A_ij times the sign of
 * the message's response to a spike. */
typedef struct soma_gnn_opts {
    soma_glm_opts glm; /* binning, bases, lags, l2, iterations, tolerance */
    int hidden;        /* message hidden units (default 8) */
} soma_gnn_opts;
soma_gnn_opts soma_gnn_defaults(void);
soma_status soma_infer_gnn(const soma_spikes *s, const soma_gnn_opts *o, uint64_t seed, float *score,
                           double *nll);

/* Edge-detection metrics (src/neuro/metrics_conn.c). AUROC (Mann-Whitney, ties count half)
 * and AUPRC (average precision, sklearn's average_precision_score: sum over distinct
 * thresholds of (R_k - R_{k-1}) P_k) of scores against binary labels; either output may be
 * NULL. SOMA_ERR_ARG when n < 1 or a class is empty. */
soma_status soma_auc(const float *score, const unsigned char *label, long n, double *auroc, double *auprc);
/* The ROC curve: fpr, tpr [n + 1] (caller's), *n_points filled (thresholds from the highest
 * distinct score down, starting at (0, 0)). */
soma_status soma_roc_curve(const float *score, const unsigned char *label, long n, float *fpr, float *tpr,
                           long *n_points);
/* Edge scores against a true weight matrix (both [n, n], j * n + i for j -> i): off-diagonal
 * pairs, label w_true != 0, score |score| (detection regardless of sign). */
soma_status soma_edge_auc(const float *score, const float *w_true, int n, double *auroc, double *auprc);

#ifdef __cplusplus
}
#endif

#endif
