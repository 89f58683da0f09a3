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

// --- metrics, as the Neural Latents Benchmark's nlb_tools defines them (src/neuro/metrics.c)

// --- latent-variable models: PCA, FA, GPFA, Poisson VAE (src/neuro/latent.c, gpfa.c) -----

// --- LFADS (src/neuro/lfads.c) ----------------------------------------------------------

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
