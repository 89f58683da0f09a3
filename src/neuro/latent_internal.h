/* Private to src/neuro/latent.c and gpfa.c: the fitted latent model and shared linear algebra. */
#ifndef SOMA_NEURO_LATENT_INTERNAL_H
#define SOMA_NEURO_LATENT_INTERNAL_H

#include "soma/learn.h"
#include "soma/neuro.h"

struct soma_latent {
    soma_latent_opts o;
    int p, L;       /* units, latents */
    double bin_ms;
    double *mu;     /* [p] data mean (PCA) or offset d (FA, GPFA) */
    double *C;      /* [p, L] loadings (PCA: the components as columns) */
    double *R;      /* [p] private variances (FA, GPFA) */
    double *orth;   /* [L, L] z -> z_orth (FA, GPFA) */
    double *tau;    /* [L] GPFA timescales, bins */
    double *tau_ms; /* [L] the same in ms */
    double *ll;     /* [n_ll] EM log-likelihoods */
    int n_ll;
    soma_vae *vae;
};

/* Symmetric eigendecomposition of A [n, n] (row-major, overwritten by the eigenvectors as
 * columns), w [n] ascending. */
soma_status soma__sym_eig(double *A, int n, double *w);
/* FA by EM on rows Y [n, p]: fills m->mu, C, R, ll (allocated here). */
soma_status soma__fa_em(soma_latent *m, const double *Y, long n, int max_iter, double tol);
/* m->orth from m->C (SVD by the eigendecomposition of C'C). */
soma_status soma__orth_from_C(soma_latent *m);
/* GPFA: fit (from FA) and E-step means. */
soma_status soma__gpfa_fit(soma_latent *m, const soma_counts *data);
soma_status soma__gpfa_infer(const soma_latent *m, const soma_counts *data, double *z);
/* nlb's co-smoothing readout: every unit's Poisson GLM (L2 alpha, Newton) from the standardised
 * training latents ztr [ntr, L] to its counts ycol [P, ntr] (unit-major), applied to zte [nte,
 * L] (clamped to the training range): rates [nte, P]. Same result on any thread count. */
soma_status soma__glm_readout(const float *ztr, long ntr, const float *zte, long nte, int L, const float *ycol, int P,
                              double alpha, float *rates);

#endif
