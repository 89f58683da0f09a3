/* soma/scaling.h -- neural scaling laws: fits, bootstrap intervals, compute-optimal allocation.
 *
 * Three laws of the final loss L of a model with N parameters trained on D examples:
 *
 *     n:   L(N)    = E + A / N^alpha
 *     d:   L(D)    = E + B / D^beta
 *     nd:  L(N, D) = E + A / N^alpha + B / D^beta
 *
 * fitted as in Hoffmann et al. 2022 ("approach 3"): with E = exp(e), A = exp(a), B = exp(b),
 * minimise over (e, a, alpha[, b, beta])
 *
 *     sum_i Huber_delta( LSE(a - alpha log N_i, b - beta log D_i, e) - log L_i )
 *
 * (LSE = log-sum-exp of the terms the law has; delta = 1e-3 by default) with L-BFGS
 * (soma_lbfgs, core.h) run to convergence from every point of a grid of starts, keeping the
 * best. Confidence intervals come from the bootstrap: resample the points with replacement,
 * refit from the grid, take the percentile interval of each parameter over the resamples.
 *
 *     soma_scaling_point *pts; int n;
 *     SOMA_TRY(soma_scaling_read_jsonl("sweep.jsonl", SOMA_SCALING_ND, &pts, &n));
 *     soma_scaling_fit fit;
 *     SOMA_TRY(soma_scaling_fit_points(pts, n, SOMA_SCALING_ND,
 *                                      &(soma_scaling_opts){.bootstrap = 200, .seed = 1}, &fit));
 *     // fit.alpha, fit.alpha_ci[0..1], fit.opt_a (N_opt ~ C^opt_a) ...
 *     double N, D; soma_scaling_optimal(&fit, 1e18, &N, &D);
 *     soma_free(pts);
 *
 * Thread safety: every function is reentrant. The fit spreads its starts (and bootstrap
 * resamples) over OpenMP threads; the result is the same, bit for bit, for any thread count.
 */
#ifndef SOMA_SCALING_H
#define SOMA_SCALING_H

#include "soma/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum soma_scaling_law {
    SOMA_SCALING_N = 0,  /* L(N) = E + A N^-alpha */
    SOMA_SCALING_D = 1,  /* L(D) = E + B D^-beta */
    SOMA_SCALING_ND = 2, /* L(N, D) = E + A N^-alpha + B D^-beta */
    SOMA_SCALING_LAW_COUNT
} soma_scaling_law;

/* "n", "d", "nd"; NULL for a value out of range. */
const char *soma_scaling_law_name(soma_scaling_law law);
/* Parses "n", "d" or "nd" into *law; SOMA_ERR_ARG otherwise. */
soma_status soma_scaling_law_parse(const char *name, soma_scaling_law *law);

/* One training run: its parameter count, training-set size and final loss. A field the law
 * does not use may be NaN (the reader leaves absent ones NaN). */
typedef struct soma_scaling_point {
    double n_params, n_data, loss;
} soma_scaling_point;

/* Values of one grid axis: n values evenly spaced from lo to hi (n == 1: lo alone). */
typedef struct soma_scaling_range {
    double lo, hi;
    int n;
} soma_scaling_range;

/* Zero-initialise, then set what you need; every 0 field takes its default. */
typedef struct soma_scaling_opts {
    double huber_delta;          /* Huber threshold on log residuals; 0 -> 1e-3 */
    int bootstrap;               /* resamples for the intervals; 0 -> no intervals (NaN) */
    uint64_t seed;               /* of the resampling: resample k uses stream k + 1 */
    double level;                /* interval level; 0 -> 0.95 */
    /* Grid of starts; n == 0 -> Hoffmann et al.'s: e in -1..1 (5 values), a (and b) in
     * 0..25 (6), alpha (and beta) in 0..2 (5): 150 starts for n and d, 4500 for nd. */
    soma_scaling_range grid_e, grid_a, grid_alpha;
    /* Each bootstrap refit runs L-BFGS from the refit_top grid points with the lowest
     * objective on its resample plus the full-data optimum; 0 -> every grid point. */
    int refit_top;
    int max_iter;                /* L-BFGS iterations per start; 0 -> 2000 */
    double g_tol;                /* L-BFGS gradient tolerance (inf-norm); 0 -> 1e-10 */
} soma_scaling_opts;

typedef struct soma_scaling_fit {
    soma_scaling_law law;
    int n_points;
    /* The fit; parameters the law lacks are NaN (A, alpha for d; B, beta for n). */
    double E, A, alpha, B, beta;
    /* Percentile intervals [low, high] at opts.level; NaN without a bootstrap or where the
     * law lacks the parameter. */
    double E_ci[2], A_ci[2], alpha_ci[2], B_ci[2], beta_ci[2];
    double objective; /* the Huber sum at the optimum */
    int converged;    /* 1 iff the best start met the gradient tolerance */
    int n_starts;     /* grid points tried */
    int n_boot;       /* bootstrap refits done (== opts.bootstrap) */
    int boot_unconverged; /* of those, refits whose best start did not converge */
    /* Compute-optimal allocation (nd only, else NaN): for compute C = 6 N D,
     *     N_opt(C) = G (C/6)^opt_a,   D_opt(C) = (1/G) (C/6)^opt_b,
     * opt_a = beta / (alpha + beta), opt_b = alpha / (alpha + beta),
     * G = (alpha A / (beta B))^(1 / (alpha + beta)); intervals from the bootstrap. */
    double opt_a, opt_b, opt_G;
    double opt_a_ci[2], opt_b_ci[2];
} soma_scaling_fit;

/* Fits `law` to pts[n] (n_params and/or n_data and loss must be finite and > 0 where the law
 * uses them). Needs more points than the law has parameters (4 for n and d, 6 for nd) and at
 * least 3 distinct values of each variable the law uses. Errors: SOMA_ERR_ARG (bad values,
 * too few points, bad options: the message names the point or option), SOMA_ERR_NOMEM. */
soma_status soma_scaling_fit_points(const soma_scaling_point *pts, int n, soma_scaling_law law,
                                    const soma_scaling_opts *opts, soma_scaling_fit *out);

/* The fitted loss at (n_params, n_data) (the argument the law lacks is ignored). */
double soma_scaling_predict(const soma_scaling_fit *fit, double n_params, double n_data);

/* Compute-optimal N and D for compute C (FLOPs, C = 6 N D) from an nd fit; SOMA_ERR_ARG for
 * another law or C <= 0. */
soma_status soma_scaling_optimal(const soma_scaling_fit *fit, double C, double *n_params,
                                 double *n_data);

/* The objective of the fit at x = (e, a, alpha) for n, (e, b, beta) for d, (e, a, alpha, b,
 * beta) for nd, and its gradient into grad (may be NULL); for tests and for callers with an
 * optimiser of their own. */
double soma_scaling_objective(const soma_scaling_point *pts, int n, soma_scaling_law law,
                              double huber_delta, const double *x, double *grad);

/* Reads JSON lines (one object a line; blank lines allowed) with the numbers n_params,
 * n_data and loss, as `soma sweep` writes them; other keys are ignored. The keys the law uses
 * are required, finite and > 0 (a key it does not use is read when it is a number, else left
 * NaN). *pts (soma_free) gets *n points. Errors: SOMA_ERR_IO (the file), SOMA_ERR_PARSE
 * (malformed JSON, a missing key, a non-number or non-positive value: "LABEL:LINE: ...").
 * An empty file gives SOMA_ERR_PARSE too. */
soma_status soma_scaling_read_jsonl(const char *path, soma_scaling_law law,
                                    soma_scaling_point **pts, int *n);
/* The same from memory: n_bytes of text (no NUL needed); label names it in messages. */
soma_status soma_scaling_parse_jsonl(const char *buf, size_t n_bytes, const char *label,
                                     soma_scaling_law law, soma_scaling_point **pts, int *n);

#ifdef __cplusplus
}
#endif
#endif
