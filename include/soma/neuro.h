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
    int epochs, batch;             /* 100, 32 */
    float lr;                      /* Adam learning rate, 5e-3 */
    float cd_rate;                 /* coordinated dropout share, 0.3 (0 turns it off) */
    float kl_weight, l2_gen;       /* final weights: 1, 1e-3 */
    int kl_warmup, l2_warmup;      /* steps of linear ramp: 200, 200 */
    float valid_frac;              /* 0.1 (0: no validation, the last epoch's parameters) */
    float clip;                    /* global gradient-norm clip, 200 */
    float logvar0;                 /* initial posterior log-variance bias, log(0.1) */
    uint64_t seed;                 /* 1 */
} soma_lfads_opts;
soma_lfads_opts soma_lfads_opts_default(void);

typedef struct soma_lfads soma_lfads; /* opaque */
/* A model for trials of n_bins bins, n_in held-in and n_out >= n_in units in all, batches of
 * up to o->batch trials. SOMA_ERR_ARG on sizes or options out of range. */
soma_status soma_lfads_new(soma_lfads **out, int n_bins, int n_in, int n_out, const soma_lfads_opts *o);
void soma_lfads_free(soma_lfads *m);

/* Trains on c ([trials, n_bins, n_out]: units 0..n_in-1 held in). SOMA_ERR_ARG when c's shape
 * does not fit the model or there are fewer than 2 trials. Prints nothing. */
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
float *soma_lfads_params(soma_lfads *m, size_t *n);
float *soma_lfads_grads(soma_lfads *m, size_t *n);
int soma_lfads_n_tensors(const soma_lfads *m);
const char *soma_lfads_tensor(const soma_lfads *m, int i, size_t *offset, size_t *n);

// --- connectivity inference: GLM, GNN, cross-correlograms (src/neuro/conn.c) ------------

#ifdef __cplusplus
}
#endif

#endif
