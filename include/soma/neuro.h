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

// --- metrics, as the Neural Latents Benchmark's nlb_tools defines them (src/neuro/metrics.c)

// --- latent-variable models: PCA, FA, GPFA, Poisson VAE (src/neuro/latent.c, gpfa.c) -----

// --- LFADS (src/neuro/lfads.c) ----------------------------------------------------------

// --- connectivity inference: GLM, GNN, cross-correlograms (src/neuro/conn.c) ------------

#ifdef __cplusplus
}
#endif

#endif
