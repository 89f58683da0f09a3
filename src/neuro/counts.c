// Binned counts: the container every neural-data method shares (soma/neuro.h).
#include <string.h>

#include "soma/neuro.h"

soma_status soma_counts_alloc(soma_counts *c, int n_trials, int n_bins, int n_units, double bin_ms) {
    memset(c, 0, sizeof *c);
    if (n_trials < 1 || n_bins < 1 || n_units < 1)
        return soma_error(SOMA_ERR_ARG, "counts: %d trials, %d bins, %d units (each must be >= 1)", n_trials, n_bins,
                          n_units);
    if (!(bin_ms > 0))
        return soma_error(SOMA_ERR_ARG, "counts: bin width %g ms must be > 0", bin_ms);
    const double total = (double)n_trials * n_bins * n_units;
    if (total > 2147483648.0)
        return soma_error(SOMA_ERR_ARG, "counts: %d x %d x %d = %.3g values, more than 2^31", n_trials, n_bins, n_units,
                          total);
    c->x = soma_calloc((size_t)total, sizeof(float));
    c->t0 = soma_calloc((size_t)n_trials, sizeof(double));
    if (!c->x || !c->t0) {
        soma_counts_free(c);
        return SOMA_ERR_NOMEM;
    }
    c->n_trials = n_trials;
    c->n_bins = n_bins;
    c->n_units = n_units;
    c->bin_ms = bin_ms;
    return SOMA_OK;
}

void soma_counts_free(soma_counts *c) {
    if (!c) return;
    soma_free(c->x);
    soma_free(c->t0);
    memset(c, 0, sizeof *c);
}
