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

// --- synthetic populations with ground truth (src/neuro/synth.c) ------------------------

// --- metrics, as the Neural Latents Benchmark's nlb_tools defines them (src/neuro/metrics.c)

// --- latent-variable models: PCA, FA, GPFA, Poisson VAE (src/neuro/latent.c, gpfa.c) -----

// --- LFADS (src/neuro/lfads.c) ----------------------------------------------------------

// --- connectivity inference: GLM, GNN, cross-correlograms (src/neuro/conn.c) ------------

#ifdef __cplusplus
}
#endif

#endif
