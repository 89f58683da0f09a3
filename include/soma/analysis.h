/* soma/analysis.h -- analyses of model and brain data.
 *
 * Part 1, spike trains. A soma_spikes holds the spikes of n_neurons neurons (ids
 * 0..n_neurons-1) recorded over the window [t_start, t_stop) ms, in time order. Simulated
 * networks fill it (soma/snn.h), and so do readers of recorded data. Every statistic takes the
 * window from the record. The exact definitions (ddof 0, whole bins from t_start, which
 * neurons count) are documented at the top of src/analysis/spikes.c.
 *
 *     double rates[N], mean_cv;
 *     SOMA_TRY(soma_spike_rates(s, rates));
 *     SOMA_TRY(soma_spike_cv(s, NULL, &mean_cv));
 *
 * Part 2, comparing representations (models with brains): representational dissimilarity
 * matrices (RDMs) and their comparison (RSA) with noise ceilings, bootstrap and permutation
 * tests; CKA and Procrustes distance; ridge encoding models; population geometry (PCA,
 * participation ratio, power-law spectra); sparse coding of natural images and sparse
 * autoencoders. Data matrices are row-major doubles: X[i * p + j] is feature j of condition
 * (stimulus, sample) i. Dense linear algebra goes through BLAS and LAPACKE.
 *
 *     double *rdm = malloc(sizeof(double) * soma_rdm_len(n));   // condensed, n(n-1)/2
 *     SOMA_TRY(soma_rdm(X, n, p, 1, &(soma_rdm_opts){SOMA_RDM_CORRELATION, -1}, rdm));
 *     double r;
 *     SOMA_TRY(soma_rsa_compare(rdm, rdm_brain, n, SOMA_RSA_SPEARMAN, &r));
 *
 * Conventions of part 2. Errors: SOMA_ERR_ARG for bad sizes or options (too few
 * conditions, p < 1, mismatched lengths, a non-finite value anywhere in the input: the
 * message names the row) and for a result that is undefined (a constant RDM in a
 * correlation, a singular covariance without shrinkage): never a silent NaN. Every function is deterministic for a given seed and
 * gives the same bits for any thread count unless its comment says otherwise.
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


// =========================================================================================
// Part 2: comparing representations
// =========================================================================================

// --- RDMs (src/analysis/rdm.c) ------------------------------------------------------------

/* An RDM of n conditions is kept condensed: the n(n-1)/2 entries above the diagonal in
 * SciPy's pdist order (0,1), (0,2), ..., (0,n-1), (1,2), ... Index of pair i < j:
 * soma_rdm_index(n, i, j). */
static inline long soma_rdm_len(int n) { return (long)n * (n - 1) / 2; }
static inline long soma_rdm_index(int n, int i, int j) {
    return (long)i * n - (long)i * (i + 1) / 2 + (j - i - 1);
}
/* Condensed <-> full square (zero diagonal, symmetric). to_condensed checks that sq is
 * symmetric (to 1e-6 relative), finite, with a zero diagonal; SOMA_ERR_ARG otherwise. */
void soma_rdm_to_square(const double *rdm, int n, double *sq);
soma_status soma_rdm_from_square(const double *sq, int n, double *rdm);

typedef enum soma_rdm_metric {
    SOMA_RDM_EUCLIDEAN = 0, /* ||xi - xj|| */
    SOMA_RDM_SQEUCLIDEAN,   /* ||xi - xj||^2 */
    SOMA_RDM_CORRELATION,   /* 1 - Pearson r of the two patterns (SciPy's "correlation") */
    SOMA_RDM_COSINE,        /* 1 - cosine of the two patterns */
    SOMA_RDM_MAHALANOBIS,   /* (xi - xj)' S^-1 (xi - xj) / p, S the shrunk covariance below */
    SOMA_RDM_CROSSNOBIS,    /* cross-validated Mahalanobis: needs n_rep >= 2, below */
    SOMA_RDM_METRIC_COUNT
} soma_rdm_metric;
/* "euclidean", "sqeuclidean", "correlation", "cosine", "mahalanobis", "crossnobis". */
const char *soma_rdm_metric_name(soma_rdm_metric m);
soma_status soma_rdm_metric_parse(const char *name, soma_rdm_metric *out);

typedef struct soma_rdm_opts {
    soma_rdm_metric metric;
    /* Mahalanobis and crossnobis: the covariance is S = (1 - w) C + w (tr(C) / p) I, C the
     * sample covariance (ddof 1) of the residuals of the repetitions around their condition
     * means (dof n (n_rep - 1)) when n_rep >= 2, else of the condition patterns around their
     * mean (dof n - 1). shrinkage w in [0, 1]; < 0: Ledoit & Wolf's (2004) optimal w. */
    double shrinkage;
} soma_rdm_opts;

/* RDM of data X: [n, p] when n_rep == 1, else [n, p, n_rep] in C order (X[(i*p + f)*n_rep +
 * r], "conditions x features x repetitions", as a NumPy array of that shape). Every metric
 * but crossnobis works on the condition means over repetitions. Crossnobis (Walther et al.
 * 2016) averages, over all ordered pairs of distinct repetitions (a, b), the product
 * (x_ia - x_ja)' S^-1 (x_ib - x_jb) / p: an unbiased estimate of the Mahalanobis distance
 * that is 0 on average (and can be negative) when the conditions do not differ. n >= 2 (3
 * for anything compared by correlation), p >= 1. rdm receives soma_rdm_len(n) entries.
 * Euclidean-type, correlation and cosine distances come from one Gram matrix (BLAS dsyrk),
 * so 1000 x 10000 data take one matrix product. A zero pattern under cosine, or a constant
 * one under correlation, is an error naming the condition. */
soma_status soma_rdm(const double *X, int n, int p, int n_rep, const soma_rdm_opts *o,
                     double *rdm);
/* The shrinkage covariance estimate used above, for the user's own whitening: S [p, p] and
 * the weight w used (may be NULL). X as in soma_rdm. */
soma_status soma_shrinkage_cov(const double *X, int n, int p, int n_rep, double shrinkage,
                               double *S, double *w_used);

// --- comparing RDMs (src/analysis/rsa.c, src/analysis/rsa_stats.c) -----------------------

typedef enum soma_rsa_method {
    SOMA_RSA_PEARSON = 0,
    SOMA_RSA_SPEARMAN,        /* Pearson of average ranks (ties share their mean rank) */
    SOMA_RSA_KENDALL_A,       /* (concordant - discordant) / (m(m-1)/2); O(m log m) */
    SOMA_RSA_COSINE,
    SOMA_RSA_WHITENED_COSINE, /* cosine after whitening by V = (C C')o(C C') of the pair
                                 contrasts C (Diedrichsen et al. 2021), applied in O(m) */
    SOMA_RSA_METHOD_COUNT
} soma_rsa_method;
/* "pearson", "spearman", "kendall-tau-a", "cosine", "whitened-cosine". */
const char *soma_rsa_method_name(soma_rsa_method m);
soma_status soma_rsa_method_parse(const char *name, soma_rsa_method *out);

/* Compares two condensed RDMs of n conditions. A constant RDM under Pearson, Spearman or
 * Kendall, or a zero one under the cosines, is SOMA_ERR_ARG. */
soma_status soma_rsa_compare(const double *a, const double *b, int n, soma_rsa_method method,
                             double *value);
/* Kendall's tau-a of two vectors of length m (any values, ties allowed), by Knight's
 * O(m log m) merge sort. Exposed for the tests, which check it against the O(m^2)
 * definition. */
soma_status soma_kendall_tau_a(const double *a, const double *b, long m, double *tau);

/* Permutation test of one comparison: the conditions of b are relabelled at random n_perm
 * times (the same permutations for a given seed on any thread count) and p = (1 + #{perm
 * value >= observed}) / (1 + n_perm), one-sided. Threads share the permutations. */
soma_status soma_rsa_permtest(const double *a, const double *b, int n, soma_rsa_method method,
                              long n_perm, uint64_t seed, double *value, double *p);

/* The noise ceiling of data RDMs from n_subj subjects (data [n_subj, m], m =
 * soma_rdm_len(n)): lower = mean over subjects s of compare(rdm_s, mean of the others),
 * upper = mean over s of compare(rdm_s, mean of all). "Mean" is of the RDMs brought to the
 * method's scale first: ranks for Spearman and Kendall, z-scores for Pearson, unit norm for
 * the cosines (Nili et al. 2014). n_subj >= 2. */
soma_status soma_rsa_noise_ceiling(const double *data, int n_subj, int n,
                                   soma_rsa_method method, double *lower, double *upper);

typedef enum soma_rsa_boot {
    SOMA_BOOT_NONE = 0,
    SOMA_BOOT_SUBJECTS,   /* resample subjects with replacement */
    SOMA_BOOT_CONDITIONS, /* resample conditions; pairs of a condition with itself dropped */
    SOMA_BOOT_BOTH        /* both at once */
} soma_rsa_boot;
typedef enum soma_rsa_correct {
    SOMA_CORRECT_NONE = 0,
    SOMA_CORRECT_HOLM,    /* Holm-Bonferroni (family-wise error) */
    SOMA_CORRECT_FDR      /* Benjamini-Hochberg (false discovery rate) */
} soma_rsa_correct;

typedef struct soma_rsa_eval_opts {
    soma_rsa_method method;
    soma_rsa_boot boot;       /* SOMA_BOOT_NONE: no bootstrap, se and p from subjects */
    int n_boot;               /* default 1000 when 0 */
    soma_rsa_correct correct; /* for the pairwise model comparisons */
    uint64_t seed;
} soma_rsa_eval_opts;

typedef struct soma_rsa_eval {
    int n_models, n_subj;
    double *score;    /* [n_models] mean over subjects of compare(model, subject) */
    double *se;       /* [n_models] bootstrap (or across-subject) standard error */
    double *subj;     /* [n_models * n_subj] each subject's score */
    double *p_zero;   /* [n_models] one-sided p of score <= 0 (bootstrap, or t-test across
                         subjects without bootstrap), uncorrected */
    double *p_pair;   /* [n_models * n_models] two-sided p of score_i == score_j, corrected
                         over the n_models(n_models-1)/2 pairs; diagonal 1 */
    double ceil_lower, ceil_upper; /* noise ceiling (soma_rsa_noise_ceiling) */
} soma_rsa_eval;
/* Evaluates n_models model RDMs (models [n_models, m]) against n_subj data RDMs (data
 * [n_subj, m]); fills *out (freed with soma_rsa_eval_free). */
soma_status soma_rsa_evaluate(const double *models, int n_models, const double *data,
                              int n_subj, int n, const soma_rsa_eval_opts *o,
                              soma_rsa_eval *out);
void soma_rsa_eval_free(soma_rsa_eval *e);
/* Multiple-comparison correction of k p-values in place. */
void soma_p_correct(double *p, int k, soma_rsa_correct how);

// --- CKA and Procrustes (src/analysis/cka.c) ---------------------------------------------

typedef enum soma_cka_kernel { SOMA_CKA_LINEAR = 0, SOMA_CKA_RBF } soma_cka_kernel;
typedef struct soma_cka_opts {
    soma_cka_kernel kernel;
    /* RBF bandwidth sigma = sigma_frac * sqrt(median of the squared distances between
     * distinct rows), per matrix (Kornblith et al. 2019); 0 means 1.0 */
    double sigma_frac;
    /* 1: the unbiased HSIC estimator (Song et al. 2012; n >= 4), 0: the biased one
     * tr(K H L H) / (n-1)^2 */
    int unbiased;
} soma_cka_opts;
/* Centered kernel alignment of X [n, p] and Y [n, q] (rows are the same n stimuli).
 * Linear biased CKA works in feature space (p x q cross-covariance) when min(p, q) < n, in
 * n x n Gram space otherwise. o may be NULL (linear, biased). Invariant to orthogonal
 * transforms and isotropic scaling of either matrix. */
soma_status soma_cka(const double *X, int p, const double *Y, int q, int n,
                     const soma_cka_opts *o, double *value);
/* Procrustes distance of X [n, p] and Y [n, q], each centered and scaled to unit Frobenius
 * norm (the smaller zero-padded): the Euclidean distance after the best orthogonal map,
 * sqrt(2 - 2 ||X'Y||_*) (may be NULL), and the angular one arccos(||X'Y||_*) (Williams et
 * al. 2021; may be NULL). ||.||_* the nuclear norm, from an SVD (LAPACKE_dgesdd). */
soma_status soma_procrustes(const double *X, int p, const double *Y, int q, int n,
                            double *dist, double *angle);

// --- encoding models (src/analysis/ridge.c) ----------------------------------------------

typedef struct soma_ridge_opts {
    const double *alphas; /* penalty grid; NULL: 10^-2 .. 10^6, 17 log-spaced values */
    int n_alphas;
    int folds;            /* k-fold cross-validation choosing alpha per target; 0 means 5 */
    int intercept;        /* 1 (the default in soma_ridge_opts_default): center X and Y */
    uint64_t seed;        /* fold assignment: a seeded permutation of the rows */
} soma_ridge_opts;
soma_ridge_opts soma_ridge_opts_default(void);

typedef struct soma_ridge {
    int p, q;
    double *W;     /* [p, q] weights */
    double *b;     /* [q] intercepts */
    double *alpha; /* [q] the penalty chosen for each target */
    double *cv_r2; /* [q] the cross-validated R^2 at that penalty */
} soma_ridge;
/* Fits Y [n, q] from X [n, p]: W = argmin ||Y - X W - b||^2 + alpha_t ||w_t||^2 for each
 * target t, with alpha_t chosen by k-fold CV (largest mean R^2 over folds). One SVD of X
 * (per fold) serves every alpha and target. */
soma_status soma_ridge_fit(const double *X, const double *Y, int n, int p, int q,
                           const soma_ridge_opts *o, soma_ridge *out);
soma_status soma_ridge_predict(const soma_ridge *m, const double *X, int n, double *Yhat);
void soma_ridge_free(soma_ridge *m);

typedef struct soma_encode_result {
    int q;
    double *r;        /* [q] Pearson r of held-out predictions with the mean response */
    double *r2;       /* [q] explained variance 1 - SSE/SST of held-out predictions */
    double *ceiling;  /* [q] split-half reliability, Spearman-Brown corrected (NaN with one
                         repetition); the best r a perfect model reaches is sqrt(ceiling) */
    double *alpha;    /* [q] alpha chosen on the full data */
    double mean_r, mean_r2, mean_ceiling;
    double mean_r_norm; /* mean over targets with ceiling > 0 of r / sqrt(ceiling) */
} soma_encode_result;
/* An encoding model evaluated by outer k-fold CV (opts->folds; inner CV for alpha): features
 * X [n, p]; responses Y [n, q] (n_rep == 1) or [n, q, n_rep] (C order) whose mean over
 * repetitions is the target; the split-half ceiling uses the odd vs even repetitions. */
soma_status soma_encode(const double *X, int n, int p, const double *Y, int q, int n_rep,
                        const soma_ridge_opts *o, soma_encode_result *out);
void soma_encode_result_free(soma_encode_result *r);

// --- population geometry (src/analysis/geometry.c) ---------------------------------------

typedef struct soma_pca {
    int p, k;
    double *mean;       /* [p] */
    double *components; /* [k, p] orthonormal rows, by decreasing variance; sign fixed so
                           that the largest-|.| entry of each is positive */
    double *var;        /* [k] variance along each (eigenvalues of the ddof-1 covariance) */
    double total_var;   /* trace of the covariance */
} soma_pca;
/* PCA of X [n, p], keeping k components (0: min(n - 1, p)); by LAPACKE (dsyevd on the
 * smaller of the p x p covariance or the n x n Gram matrix). */
soma_status soma_pca_fit(const double *X, int n, int p, int k, soma_pca *out);
/* Z [n, k] = (X - mean) components'. */
soma_status soma_pca_transform(const soma_pca *m, const double *X, int n, double *Z);
void soma_pca_free(soma_pca *m);
/* Participation ratio (sum lambda)^2 / sum lambda^2 of k eigenvalues (negatives count as
 * 0). */
double soma_participation_ratio(const double *eig, int k);
/* Power-law exponent alpha of an eigenspectrum, lambda_r ~ r^-alpha: least-squares line of
 * log lambda on log r over ranks lo..hi (1-based, inclusive; entries <= 0 skipped), at
 * log-spaced ranks as Stringer et al. (2019) did; *r2 the fit's R^2 (may be NULL). */
soma_status soma_powerlaw_exponent(const double *eig, int k, int lo, int hi, double *alpha,
                                   double *r2);
/* Cross-validated PCA (Stringer et al. 2019): two repeats X1, X2 [n, p] of the same
 * stimuli; the components of X1 (k of them) and eig[r] = mean over stimuli of the product
 * of the two repeats' projections on component r: the stimulus-related variance along it,
 * unbiased by noise (can be negative for noise-only dimensions). */
soma_status soma_cvpca(const double *X1, const double *X2, int n, int p, int k, double *eig);

// --- sparse coding (src/analysis/sparse.c, patches.c, gabor.c, sae.c) --------------------

/* Natural images: gray PNGs of photographs. The directory is dir if non-NULL, else
 * $SOMA_IMAGES_DIR, else Debian's python3-skimage data folder
 * (/usr/lib/python3/dist-packages/skimage/data). */
const char *soma_images_dir(const char *dir);
/* The photographs among those files used by default (astronaut, camera, coffee, ...):
 * a NULL-terminated list of file names. */
const char *const *soma_natural_image_names(void);

typedef struct soma_patch_opts {
    int size;          /* patch side (16) */
    long n;            /* patches to draw */
    int whiten;        /* 1: whiten each image by Olshausen & Field's filter
                          R(f) = f exp(-(f / f0)^4), f0 = 0.4 cycles/pixel (times the
                          image's Nyquist) before cutting patches; 0: raw */
    uint64_t seed;     /* patch positions */
} soma_patch_opts;
/* Draws o->n patches (out [n, size*size] floats, each with its mean removed and the whole
 * set scaled to unit variance) uniformly from the images in dir (soma_images_dir), read as
 * gray with soma_png_read. *out is soma_free'd by the caller. */
soma_status soma_image_patches(const char *dir, const soma_patch_opts *o, float **out);
/* Whitens img [h, w] in place by the filter of soma_patch_opts.whiten (its mean removed first,
 * the image taken as periodic): h and w powers of two >= 4. Added for tests and for callers
 * with images of their own. */
soma_status soma_image_whiten(float *img, int h, int w);

typedef enum soma_sparse_solver {
    SOMA_SPARSE_ISTA = 0,
    SOMA_SPARSE_FISTA, /* Beck & Teboulle 2009 */
    SOMA_SPARSE_LCA    /* locally competitive algorithm (Rozell et al. 2008), soft threshold */
} soma_sparse_solver;
typedef struct soma_sparse_opts {
    soma_sparse_solver solver;
    float lambda;      /* L1 weight: min_a 0.5 ||x - D'a||^2 + lambda ||a||_1 */
    int iters;         /* at most; 0 means 200 */
    float tol;         /* stop when the relative change of a is below tol (0: never) */
    int nonneg;        /* 1: a >= 0 */
} soma_sparse_opts;
/* Codes A [n, k] of the signals X [n, d] in the dictionary D [k, d] (atoms as rows). The
 * step is 1 / L, L the largest eigenvalue of D D' (power iteration). Batched through BLAS. */
soma_status soma_sparse_code(const float *D, int k, int d, const float *X, int n,
                             const soma_sparse_opts *o, float *A);
typedef struct soma_dict_opts {
    soma_sparse_opts code;
    int k;             /* atoms */
    int steps;         /* dictionary updates */
    int batch;         /* signals per update */
    float lr;          /* step of the gradient update of D (atoms renormalised to unit norm) */
    uint64_t seed;
} soma_dict_opts;
/* Learns a dictionary D [k, d] (unit-norm atoms, soma_free'd by the caller) from X [n, d] by
 * alternating sparse inference and a gradient step on the reconstruction error
 * (Olshausen & Field 1996). progress may be NULL. *mse and *l0 (may be NULL) receive the
 * last batch's mean squared error per element and mean number of non-zero codes. */
soma_status soma_dict_learn(const float *X, int n, int d, const soma_dict_opts *o,
                            soma_progress *progress, float **D, double *mse, double *l0);

/* A 2-D Gabor: amp * exp(-(x'^2 / (2 sx^2) + y'^2 / (2 sy^2))) * cos(2 pi f x' + phase) +
 * offset, with x' = (x - x0) cos(theta) + (y - y0) sin(theta), y' = -(x - x0) sin(theta) +
 * (y - y0) cos(theta), x, y in pixels (0 at the top-left pixel's centre). */
typedef struct soma_gabor {
    double x0, y0, theta, f, phase, sx, sy, amp, offset;
} soma_gabor;
/* Least-squares fit of a Gabor to img [h, w] (Levenberg-Marquardt from a grid of starting
 * points seeded by the image's spectral peak and energy centre); *r2 = 1 - SSE/SST. */
soma_status soma_gabor_fit(const float *img, int h, int w, soma_gabor *g, double *r2);
/* The filter's criteria besides the fit: localized (both envelope widths below a third of
 * the patch side, centre inside), band-pass (f between 1/side and 0.5 cycles/pixel, and
 * f * sx >= 0.15: at least a fraction of a cycle under the envelope). */
int soma_gabor_localized(const soma_gabor *g, int h, int w);
int soma_gabor_bandpass(const soma_gabor *g, int h, int w);

/* A sparse autoencoder (a dictionary of features) of activations X [n, d]:
 * f = ReLU(W_e (x - b_d) + b_e), x^ = W_d' f + b_d, loss = mean ||x - x^||^2 / d +
 * l1 * mean sum_j f_j ||W_d,j||, trained with Adam; decoder rows [k, d]. */
typedef struct soma_sae_opts {
    int k;          /* features */
    float l1;
    float lr;
    int epochs, batch;
    uint64_t seed;
} soma_sae_opts;
typedef struct soma_sae {
    int d, k;
    float *W_e, *b_e; /* [k, d], [k] */
    float *W_d, *b_d; /* [k, d], [d] */
} soma_sae;
soma_status soma_sae_train(const float *X, int n, int d, const soma_sae_opts *o,
                           soma_progress *progress, soma_sae *out);
/* Features F [n, k] of X. */
soma_status soma_sae_encode(const soma_sae *m, const float *X, int n, float *F);
/* Fraction of variance explained by the reconstruction, mean L0 of the features, and the
 * fraction of features never active on X (any may be NULL). */
soma_status soma_sae_eval(const soma_sae *m, const float *X, int n, double *fve, double *l0,
                          double *dead);
void soma_sae_free(soma_sae *m);

#ifdef __cplusplus
}
#endif
#endif
