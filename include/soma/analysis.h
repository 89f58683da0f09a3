/* soma/analysis.h -- analyses of model and brain data. This part: spike trains.
 *
 * A soma_spikes holds the spikes of n_neurons neurons (ids 0..n_neurons-1) recorded over the
 * window [t_start, t_stop) ms, in time order. Simulated networks fill it (soma/snn.h), and
 * so do readers of recorded data. Every statistic takes the window from the record.
 *
 *     double rates[N], mean_cv;
 *     SOMA_TRY(soma_spike_rates(s, rates));
 *     SOMA_TRY(soma_spike_cv(s, NULL, &mean_cv));
 */
#ifndef SOMA_ANALYSIS_H
#define SOMA_ANALYSIS_H

#include "soma/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct soma_spikes {
    int n_neurons;
    long n, cap;            /* spikes held, capacity */
    int *id;                /* [n] neuron of each spike */
    double *t;              /* [n] time of each spike, ms, non-decreasing */
    double t_start, t_stop; /* recording window, ms */
} soma_spikes;

soma_status soma_spikes_init(soma_spikes *s, int n_neurons, double t_start);
void soma_spikes_free(soma_spikes *s); /* releases the arrays; the struct may be reused */
/* Appends one spike (t >= the last one, 0 <= id < n_neurons); grows geometrically. */
soma_status soma_spikes_push(soma_spikes *s, int id, double t);

/* Per-neuron rates (Hz) over the window: rates[n_neurons]. */
soma_status soma_spike_rates(const soma_spikes *s, double *rates);
/* Coefficient of variation of the inter-spike intervals of each neuron (cv[n_neurons], may be
 * NULL; NaN for neurons with fewer than 3 spikes) and their mean over the neurons that have
 * one (*mean_cv; NaN when none). */
soma_status soma_spike_cv(const soma_spikes *s, double *cv, double *mean_cv);
/* Mean over neurons (with at least one spike) of the Fano factor of spike counts in bins of
 * bin ms: var / mean. */
soma_status soma_spike_fano(const soma_spikes *s, double bin, double *mean_fano);
/* Mean Pearson correlation of spike counts (bins of bin ms) over up to max_pairs distinct
 * pairs of active neurons drawn with seed (all pairs when there are fewer). */
soma_status soma_spike_corr(const soma_spikes *s, double bin, long max_pairs, uint64_t seed,
                            double *mean_corr);
/* Population rate (Hz per neuron) in n_bins bins of bin ms from t_start. */
soma_status soma_spike_pop_rate(const soma_spikes *s, double bin, float *hz, long n_bins);
/* Synchrony chi (Golomb 2007) from spike counts in bins of bin ms: the variance of the
 * population-averaged count over the mean of the single-neuron variances, square-rooted.
 * Near 0 for asynchronous firing, 1 for full synchrony. */
soma_status soma_spike_synchrony(const soma_spikes *s, double bin, double *chi);
/* Spectral peak of a signal x[n] (n >= 32) sampled every dt ms: the frequency (Hz) of the
 * largest power at or above fmin Hz, and that power over the mean power at or above fmin (a
 * flat spectrum gives about 1; a clear oscillation >> 1). The power is Welch's average of
 * mean-removed, Hann-windowed periodograms of segments of L samples (L the largest power of
 * two <= n/16, at least 16; 50% overlap), so the resolution is 1000 / (L dt) Hz; white noise
 * gives about 1.5 (a single periodogram would give ~ln(n/2)). NaN for a constant x. */
soma_status soma_spectrum_peak(const float *x, long n, double dt, double fmin, double *peak_hz,
                               double *peak_ratio);

#ifdef __cplusplus
}
#endif
#endif
