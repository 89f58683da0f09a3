/* Private to src/exp: what inductive-bias and scaling-fmnist share -- training one cell of a
 * grid (a network spec, a training subset, a fixed budget) on one thread, random subsets and
 * shifted copies of a data set, and integer lists in string options. */
#ifndef SOMA_EXP_GRID_COMMON_H
#define SOMA_EXP_GRID_COMMON_H

#include "soma/io.h"
#include "soma/nn.h"
#include "soma/plot.h"

/* One cell's training settings. The budget is the larger of min_epochs passes over the data
 * and min_steps optimizer steps (rounded up to whole epochs), so that a tiny subset gets as
 * many steps as a mid-sized one. Adam(W) with a cosine decay of the learning rate to 0. */
typedef struct xp_cell_cfg {
    const char *spec; /* network spec */
    soma_shape in;    /* per-sample input shape */
    int batch;
    float lr, weight_decay; /* weight_decay > 0: AdamW */
    int min_epochs;
    long min_steps;
    int evals;        /* > 0 and a validation set given: evaluate on it about this many times,
                         evenly, and report the test figures at the lowest validation loss
                         (early stopping); else the test figures after the last step */
    uint64_t seed;    /* initialisation and shuffling */
} xp_cell_cfg;

typedef struct xp_cell_out {
    float test_acc, test_loss; /* on the test set, at the chosen point */
    float val_loss;            /* lowest validation loss (NaN without validation) */
    int best_epoch, epochs;    /* the chosen epoch (1-based) and the epochs trained */
    long steps;                /* optimizer steps taken */
    long params;               /* parameter count */
    double train_seconds;      /* soma_train's clock: training steps only */
} xp_cell_out;

/* Trains cfg->spec on train from a fresh initialisation, on the calling thread only (no
 * data-parallel replicas: the same bits whether or not other cells run beside it). val may
 * be NULL. *net_out (may be NULL) receives the trained net (soma_net_free), else it is freed. */
soma_status xp_train_cell(const xp_cell_cfg *cfg, const soma_dataset *train, const soma_dataset *val,
                          const soma_dataset *test, xp_cell_out *out, soma_net **net_out);

/* Samples idx[0..n) of d as a new data set (copies). */
soma_status xp_gather(const soma_dataset *d, const int *idx, int n, soma_dataset **out);
/* n samples of d drawn without replacement, in random order, from stream `stream` of seed
 * (all of d, reordered, when n == d->n). */
soma_status xp_random_subset(const soma_dataset *d, int n, uint64_t seed, uint64_t stream,
                             soma_dataset **out);
/* A copy of the byte images of d ([C,H,W] or [H,W]), each translated by `shift` pixels in one
 * of four directions (right, left, down, up), chosen per image from stream 0x5417 of seed;
 * pixels moved in from outside are 0. shift 0 gives an exact copy. */
soma_status xp_shifted(const soma_dataset *d, int shift, uint64_t seed, soma_dataset **out);

/* Parses "100,300,1000" into v (up to cap values, each in [lo, hi], strictly increasing);
 * SOMA_ERR_ARG naming the option `what`. */
soma_status xp_parse_ints(const char *what, const char *s, long lo, long hi, int *v, int cap, int *n);

/* Draws a series with +- err whiskers: y[n] against x[n], palette colour `color` (1-based). */
soma_status xp_fig_errline(soma_fig *f, int panel, const float *x, const float *y, const float *err, int n,
                           const char *label, int color, int dashed);

#endif
