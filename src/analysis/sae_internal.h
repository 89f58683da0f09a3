/* analysis/sae_internal.h -- the sparse autoencoder's loss and gradient, exposed for the
 * finite-difference test (tests/test_analysis_sae.c) and used by soma_sae_train. Private. */
#ifndef SOMA_ANALYSIS_SAE_INTERNAL_H
#define SOMA_ANALYSIS_SAE_INTERNAL_H

#include "soma/analysis.h"

/* Scratch of one step on at most cap rows: all of it allocated once, before training. */
typedef struct soma__sae_work {
    int cap, d, k;
    float *xc;  /* [cap, d] x - b_d, then d loss / d xc */
    float *f;   /* [cap, k] features (ReLU of pre-activations) */
    float *r;   /* [cap, d] reconstruction - x, then d loss / d x^ */
    float *df;  /* [cap, k] d loss / d pre-activation */
    float *cs;  /* [k] column sums of f */
    float *nrm; /* [k] decoder row norms */
} soma__sae_work;

/* Element-wise passes over fewer elements than this run serially (default 2^20); the
 * determinism test sets 1 so that every pass takes its OpenMP path. */
extern long soma__sae_par_min;

soma_status soma__sae_work_init(soma__sae_work *w, int cap, int d, int k);
void soma__sae_work_deinit(soma__sae_work *w);

/* Loss of the B rows of X [B, d] (B <= w->cap) under m, as declared in analysis.h:
 * sum ||x - x^||^2 / (B d) + l1 / B * sum_ij f_ij ||W_d,j||. When g is non-NULL its four
 * arrays (shaped like m's) are overwritten with the exact gradient. No allocation. */
double soma__sae_loss_grad(const soma_sae *m, const float *X, int B, float l1, soma_sae *g,
                           soma__sae_work *w);

#endif
