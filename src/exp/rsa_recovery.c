// rsa-recovery: synthetic "brains" whose responses are a noisy random linear mix of one LeNet
// layer's features, measured in several subjects with repetitions. RSA (with its noise
// ceiling), linear CKA and ridge encoding models must each identify the layer that made them.
//
// A brain: a true layer t; each subject s has `voxels` response channels, channel v = the
// layer's features (centred over the stimuli, scaled to unit total variance) times random
// Gaussian weights w_v, plus Gaussian noise of SD `noise` at each of `reps` repetitions: the
// signal of a channel has variance ~1 across stimuli, so `noise` is the noise-to-signal SD
// ratio of one repetition. The candidate models are the layers in --layers; chance is 1/K.
//
// The features enter CKA and the encoding model as their principal-component scores (all
// n - 1 components): linear CKA and ridge regression with an intercept are invariant to a
// rotation of the centred features, so the scores give the same values as the raw features
// at the cost of an n-column design (the LeNet's first layer has 4704 features). The model
// RDMs come from the raw activations.
//
// Which RDMs fit this generative model: a random Gaussian mix preserves the Euclidean geometry
// of the centred features in expectation (E ||W'(x - y)||^2 = V ||x - y||^2), and the noise adds
// about the same amount to every squared distance, a monotone change that Spearman ignores: so
// the defaults are Euclidean RDMs compared by Spearman (squared Euclidean with Pearson fits too).
// Pattern correlations and cosines across channels are not those of the features (the mix
// centres nothing, the model's activations are not centred), and cosine-type comparators see
// the noise's offset: with --rdm-metric correlation|cosine or --rsa-method cosine|whitened-cosine
// the true model falls below the noise ceiling and RSA loses it (measured: rank-1 0.17-0.67 at
// the reduced size) -- a mismatch of analysis and generative model, shown, not hidden.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exp/internal.h"
#include "exp/rsa_common.h"
#include "soma/analysis.h"
#include "soma/plot.h"

/* after the soma headers: OpenBLAS's cblas.h may pull in <complex.h>, whose macro I clashes with
 * parameter names there */
#include <cblas.h>

#define MAX_MODELS 16
#define MAX_LEVELS 16

static const soma_opt opts_[] = {
    SOMA__RSA_OPTS,
    {"brains", SOMA_OPT_INT, "100", 1, 100000, NULL, "synthetic brains (true layers in turn over --layers)", 1},
    {"subjects", SOMA_OPT_INT, "5", 2, 1000, NULL, "subjects of each brain", 0},
    {"voxels", SOMA_OPT_INT, "60", 2, 100000, NULL, "response channels (voxels, neurons) of each subject", 0},
    {"reps", SOMA_OPT_INT, "4", 2, 1000, NULL, "repetitions of each stimulus (split-half reliability)", 0},
    {"noise", SOMA_OPT_FLOAT, "2.5", 0, 1000, NULL, "noise SD of one repetition over the signal SD of a channel", 0},
    {"layers", SOMA_OPT_STR, "pixels,2,5,7,9,10", 0, 0, NULL,
     "candidate models: 'pixels' and layer indices of the net (LeNet: 0-10), comma-separated", 0},
    {"rdm-metric", SOMA_OPT_ENUM, "euclidean", 0, 0, "euclidean|sqeuclidean|correlation|cosine",
     "dissimilarity of the data and model RDMs (see the file's comment: Euclidean-type fits the mix)", 0},
    {"rsa-method", SOMA_OPT_ENUM, "spearman", 0, 0, "pearson|spearman|kendall-tau-a|cosine|whitened-cosine",
     "RDM comparator (and noise ceiling)", 0},
    {"sweep", SOMA_OPT_STR, "1,2.5,4,6,10,16,25", 0, 0, NULL, "noise levels of the degradation figure, comma-separated",
     0},
    {"sweep-brains", SOMA_OPT_INT, "30", 1, 100000, NULL, "brains at each noise level of the sweep", 1},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark landmarks_[] = {
    {"fraction of synthetic brains whose generating layer ranks first by RSA",
     "Kriegeskorte, Mur & Bandettini 2008", "https://doi.org/10.3389/neuro.06.004.2008", "rank1_rsa",
     SOMA_EXP_AT_LEAST, 0.95},
    {"fraction whose generating layer ranks first by linear CKA", "Kornblith et al. 2019",
     "https://proceedings.mlr.press/v97/kornblith19a.html", "rank1_cka", SOMA_EXP_AT_LEAST, 0.95},
    {"fraction whose generating layer ranks first by encoding-model predictivity",
     "Naselaris, Kay, Nishimoto & Gallant 2011", "https://doi.org/10.1016/j.neuroimage.2010.07.073",
     "rank1_encoding", SOMA_EXP_AT_LEAST, 0.95},
    {"fraction of brains whose noise ceiling [lower, upper] contains the true model's RSA score",
     "Nili et al. 2014", "https://doi.org/10.1371/journal.pcbi.1003553", "ceiling_contains_true", SOMA_EXP_AT_LEAST,
     0.95},
    {NULL, NULL, NULL, NULL, 0, 0},
};

/* A test-sized run: a LeNet trained briefly, 12 brains (2 per candidate layer), smaller subjects. */
static const char *const reduced_[] = {"--n-train", "2000", "--epochs",  "1",     "--n-test",       "500",
                                       "--brains",  "12",   "--voxels",  "30",    "--subjects",     "4",
                                       "--sweep",   "1,25", "--sweep-brains", "3", NULL};

// --- options -----------------------------------------------------------------------------

/* --layers: "pixels" -> representation 0, layer index L -> representation L + 1. */
static soma_status parse_layers_(const char *s, int n_layers, int *rep, int *k) {
    *k = 0;
    char buf[512];
    if (strlen(s) >= sizeof buf) return soma_error(SOMA_ERR_ARG, "rsa-recovery: --layers is too long");
    strcpy(buf, s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int r;
        if (strcmp(t, "pixels") == 0) {
            r = 0;
        } else {
            long v;
            SOMA_TRY(soma_parse_long("rsa-recovery: --layers entry", t, 0, n_layers - 1, &v));
            r = (int)v + 1;
        }
        for (int j = 0; j < *k; j++)
            if (rep[j] == r) return soma_error(SOMA_ERR_ARG, "rsa-recovery: --layers names '%s' twice", t);
        if (*k == MAX_MODELS) return soma_error(SOMA_ERR_ARG, "rsa-recovery: --layers: at most %d models", MAX_MODELS);
        rep[(*k)++] = r;
    }
    if (*k < 2) return soma_error(SOMA_ERR_ARG, "rsa-recovery: --layers needs at least 2 candidate models, got '%s'", s);
    return SOMA_OK;
}

static soma_status parse_levels_(const char *s, double *lv, int *k) {
    *k = 0;
    char buf[512];
    if (strlen(s) >= sizeof buf) return soma_error(SOMA_ERR_ARG, "rsa-recovery: --sweep is too long");
    strcpy(buf, s);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*k == MAX_LEVELS) return soma_error(SOMA_ERR_ARG, "rsa-recovery: --sweep: at most %d levels", MAX_LEVELS);
        SOMA_TRY(soma_parse_double("rsa-recovery: --sweep level", t, 0, 1000, &lv[(*k)++]));
    }
    if (*k < 1) return soma_error(SOMA_ERR_ARG, "rsa-recovery: --sweep needs at least one noise level");
    return SOMA_OK;
}

static soma_status check_(const soma_exp_ctx *c) {
    int rep[MAX_MODELS], k;
    double lv[MAX_LEVELS];
    int nl;
    SOMA_TRY(soma__rsa_spec_layers(soma__rsa_spec(&c->args), &nl));
    SOMA_TRY(parse_layers_(soma_args_str(&c->args, "layers"), nl, rep, &k));
    return parse_levels_(soma_args_str(&c->args, "sweep"), lv, &k);
}

// --- one synthetic brain -------------------------------------------------------------------

typedef struct setup_ {
    int n, K, subjects, voxels, reps;
    long m;                /* RDM length */
    int rep[MAX_MODELS];   /* representation of each candidate */
    int k[MAX_MODELS];     /* PC scores of each */
    double *Z[MAX_MODELS]; /* [n, k] scores, unit total variance */
    double *models;        /* [K, m] model RDMs */
    soma_rdm_opts rdm;
    soma_rsa_eval_opts eval;
    soma_ridge_opts ridge;
} setup_;

/* The three methods, and (reported beside them, not judged) linear CKA with the biased HSIC
 * estimator: noise adds to the diagonal of the data's Gram matrix, which the biased estimator
 * counts, so it drifts toward models of higher effective dimensionality as noise grows; the
 * unbiased estimator (Song et al. 2012) leaves the diagonal out. */
enum { M_RSA = 0, M_CKA, M_ENC, M_CKA_BIASED, N_METHODS };
static const char *const method_key_[N_METHODS] = {"rsa", "cka", "encoding", "cka_biased"};

typedef struct brain_ {
    int truth;
    double score[N_METHODS][MAX_MODELS];
    double lower, upper; /* RSA noise ceiling */
    soma_status st;
    char msg[256];
} brain_;

static soma_status brain_run_(const setup_ *S, double noise, soma_rng *rng, brain_ *b) {
    const int n = S->n, V = S->voxels, R = S->reps, t = b->truth, kt = S->k[t];
    double *W = soma_alloc((size_t)kt * V, sizeof(double)), *sig = soma_alloc((size_t)n * V, sizeof(double));
    double *Y = soma_alloc((size_t)n * V * R, sizeof(double)), *Ym = soma_alloc((size_t)n * V, sizeof(double));
    double *data = soma_alloc((size_t)S->subjects * S->m, sizeof(double));
    soma_status st = W && sig && Y && Ym && data ? SOMA_OK : soma_error(SOMA_ERR_NOMEM, "rsa-recovery: out of memory");
    for (int j = 0; j < N_METHODS; j++)
        for (int l = 0; l < S->K; l++) b->score[j][l] = 0.0;
    for (int s = 0; st == SOMA_OK && s < S->subjects; s++) {
        for (size_t i = 0; i < (size_t)kt * V; i++) W[i] = soma_rng_normal(rng);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, V, kt, 1.0, S->Z[t], kt, W, V, 0.0, sig, V);
        for (size_t i = 0; i < (size_t)n * V; i++) {
            double mean = 0.0;
            for (int r = 0; r < R; r++) mean += Y[i * R + r] = sig[i] + noise * soma_rng_normal(rng);
            Ym[i] = mean / R;
        }
        if ((st = soma_rdm(Y, n, V, R, &S->rdm, data + (size_t)s * S->m)) != SOMA_OK) break;
        for (int l = 0; l < S->K && st == SOMA_OK; l++) {
            double v;
            const soma_cka_opts unbiased = {SOMA_CKA_LINEAR, 0.0, 1};
            if ((st = soma_cka(S->Z[l], S->k[l], Ym, V, n, &unbiased, &v)) != SOMA_OK) break;
            b->score[M_CKA][l] += v / S->subjects;
            if ((st = soma_cka(S->Z[l], S->k[l], Ym, V, n, NULL, &v)) != SOMA_OK) break;
            b->score[M_CKA_BIASED][l] += v / S->subjects;
            soma_encode_result er;
            if ((st = soma_encode(S->Z[l], n, S->k[l], Y, V, R, &S->ridge, &er)) != SOMA_OK) break;
            b->score[M_ENC][l] += er.mean_r / S->subjects;
            soma_encode_result_free(&er);
        }
    }
    if (st == SOMA_OK) {
        soma_rsa_eval ev;
        st = soma_rsa_evaluate(S->models, S->K, data, S->subjects, n, &S->eval, &ev);
        if (st == SOMA_OK) {
            for (int l = 0; l < S->K; l++) b->score[M_RSA][l] = ev.score[l];
            b->lower = ev.ceil_lower;
            b->upper = ev.ceil_upper;
            soma_rsa_eval_free(&ev);
        }
    }
    soma_free(W);
    soma_free(sig);
    soma_free(Y);
    soma_free(Ym);
    soma_free(data);
    return st;
}

/* count brains, true layers in turn, noise level `level` (numbered li for the random streams);
 * brains run side by side, each on its own stream: the same numbers on any thread count. */
static soma_status run_brains_(const setup_ *S, double noise, int li, int count, uint64_t seed, int threads,
                               brain_ *out) {
    (void)threads;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads > 0 ? threads : 1)
#endif
    for (int i = 0; i < count; i++) {
        brain_ *b = &out[i];
        b->truth = i % S->K;
        soma_rng rng;
        soma_rng_seed(&rng, seed, 1000003ull * (uint64_t)(li + 1) + (uint64_t)i);
        b->st = brain_run_(S, noise, &rng, b);
        b->msg[0] = 0;
        if (b->st != SOMA_OK) snprintf(b->msg, sizeof b->msg, "%s", soma_errmsg());
    }
    for (int i = 0; i < count; i++)
        if (out[i].st != SOMA_OK) return soma_error(out[i].st, "rsa-recovery: brain %d: %s", i, out[i].msg);
    return SOMA_OK;
}

static int argmax_(const double *v, int k) {
    int a = 0;
    for (int i = 1; i < k; i++)
        if (v[i] > v[a]) a = i;
    return a;
}

/* Rank-1 fractions (frac[N_METHODS]), ceiling containment, and confusion counts
 * conf[method][truth * K + chosen] (may be NULL). */
static double summarize_(const setup_ *S, const brain_ *b, int count, double *frac, double *conf) {
    int inside = 0, hits[N_METHODS] = {0};
    if (conf) memset(conf, 0, sizeof(double) * N_METHODS * S->K * S->K);
    for (int i = 0; i < count; i++) {
        for (int j = 0; j < N_METHODS; j++) {
            int a = argmax_(b[i].score[j], S->K);
            hits[j] += a == b[i].truth;
            if (conf) conf[(size_t)j * S->K * S->K + (size_t)b[i].truth * S->K + a] += 1.0;
        }
        double s = b[i].score[M_RSA][b[i].truth];
        inside += s >= b[i].lower && s <= b[i].upper;
    }
    for (int j = 0; j < N_METHODS; j++) frac[j] = (double)hits[j] / count;
    return (double)inside / count;
}

// --- setup ---------------------------------------------------------------------------------

static soma_status setup_init_(soma_exp_ctx *c, const soma__rsa_model *m, setup_ *S) {
    memset(S, 0, sizeof *S);
    S->n = m->n;
    S->m = soma_rdm_len(m->n);
    SOMA_TRY(soma_args_int(&c->args, "subjects", &S->subjects));
    SOMA_TRY(soma_args_int(&c->args, "voxels", &S->voxels));
    SOMA_TRY(soma_args_int(&c->args, "reps", &S->reps));
    SOMA_TRY(parse_layers_(soma_args_str(&c->args, "layers"), m->n_reps - 1, S->rep, &S->K));
    SOMA_TRY(soma_rdm_metric_parse(soma_args_str(&c->args, "rdm-metric"), &S->rdm.metric));
    S->rdm.shrinkage = -1.0;
    memset(&S->eval, 0, sizeof S->eval);
    SOMA_TRY(soma_rsa_method_parse(soma_args_str(&c->args, "rsa-method"), &S->eval.method));
    S->eval.boot = SOMA_BOOT_NONE;
    S->eval.seed = c->seed;
    S->ridge = soma_ridge_opts_default();
    S->ridge.seed = c->seed;
    /* 3 outer (and inner) folds and a decade grid: the encoding model is most of the run's time */
    static const double alphas[] = {1e-2, 1e-1, 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6};
    S->ridge.alphas = alphas;
    S->ridge.n_alphas = (int)(sizeof alphas / sizeof *alphas);
    S->ridge.folds = 3;
    S->models = soma_alloc((size_t)S->K * S->m, sizeof(double));
    if (!S->models) return soma_error(SOMA_ERR_NOMEM, "rsa-recovery: out of memory");
    for (int l = 0; l < S->K; l++) {
        const int r = S->rep[l], p = m->dim[r], n = m->n;
        soma_status st = soma_rdm(m->act[r], n, p, 1, &S->rdm, S->models + (size_t)l * S->m);
        if (st != SOMA_OK) return soma_error(st, "rsa-recovery: model RDM of %s: %s", m->name[r], soma_errmsg());
        soma_pca pca;
        SOMA_TRY(soma_pca_fit(m->act[r], n, p, 0, &pca));
        S->k[l] = pca.k;
        S->Z[l] = soma_alloc((size_t)n * pca.k, sizeof(double));
        st = S->Z[l] ? soma_pca_transform(&pca, m->act[r], n, S->Z[l])
                     : soma_error(SOMA_ERR_NOMEM, "rsa-recovery: out of memory");
        /* unit total variance (ddof 1) over the stimuli: every layer drives the voxels equally */
        double tv = 0.0;
        for (size_t i = 0; st == SOMA_OK && i < (size_t)n * pca.k; i++) tv += S->Z[l][i] * S->Z[l][i];
        tv /= (n - 1);
        if (st == SOMA_OK && !(tv > 0.0))
            st = soma_error(SOMA_ERR_ARG, "rsa-recovery: %s does not vary over the stimuli", m->name[r]);
        for (size_t i = 0; st == SOMA_OK && i < (size_t)n * pca.k; i++) S->Z[l][i] /= sqrt(tv);
        soma_pca_free(&pca);
        SOMA_TRY(st);
    }
    return SOMA_OK;
}

static void setup_free_(setup_ *S) {
    for (int l = 0; l < S->K; l++) soma_free(S->Z[l]);
    soma_free(S->models);
}

// --- figures -------------------------------------------------------------------------------

static soma_status draw_(soma_exp_ctx *c, const setup_ *S, const soma__rsa_model *m, const double *levels, int nlv,
                         const double *sweep, const double *conf, const brain_ *ex, double noise) {
    const int K = S->K;
    const char *lab[MAX_MODELS];
    for (int l = 0; l < K; l++) lab[l] = m->name[S->rep[l]];
    soma_fig *f;
    SOMA_TRY(soma_fig_new(&f, 1, 4, 1800, 460));
    soma_status st = SOMA_OK;
    char buf[200];
    snprintf(buf, sizeof buf, "Which layer made the brain? %d subjects x %d channels x %d repetitions", S->subjects,
             S->voxels, S->reps);
    soma_fig_title(f, buf);
    soma_fig_labels(f, 0, "Rank-1 identification vs noise", "noise SD / signal SD (one repetition)",
                    "fraction of brains");
    float x[MAX_LEVELS], y[MAX_LEVELS];
    for (int i = 0; i < nlv; i++) x[i] = (float)levels[i];
    soma_line_style ls = {0, 0, 1, 0.f};
    for (int j = 0; j < N_METHODS && st == SOMA_OK; j++) {
        for (int i = 0; i < nlv; i++) y[i] = (float)sweep[(size_t)j * nlv + i];
        ls.dashed = j == M_CKA_BIASED;
        st = soma_fig_line(f, 0, x, y, nlv, j == M_CKA_BIASED ? "cka (biased HSIC)" : method_key_[j], &ls);
    }
    snprintf(buf, sizeof buf, "chance 1/%d", K);
    if (st == SOMA_OK) st = soma_fig_hline(f, 0, 1.0f / K, buf);
    soma_fig_ylim(f, 0, 0.0, 1.05);
    float cm[MAX_MODELS * MAX_MODELS];
    soma_heatmap_opts ho = {SOMA_CMAP_VIRIDIS, 1, 0.f, 1.f, lab, lab, "fraction of brains"};
    for (int j = 0; j < M_CKA_BIASED && st == SOMA_OK; j++) { /* the three judged methods */
        for (int a = 0; a < K; a++) {
            double tot = 0;
            for (int b = 0; b < K; b++) tot += conf[(size_t)j * K * K + a * K + b];
            for (int b = 0; b < K; b++) cm[a * K + b] = tot > 0 ? (float)(conf[(size_t)j * K * K + a * K + b] / tot) : 0.f;
        }
        snprintf(buf, sizeof buf, "%s at noise %g: true (rows) vs ranked first", method_key_[j], noise);
        soma_fig_labels(f, j + 1, buf, "", "");
        st = soma_fig_heatmap(f, j + 1, cm, K, K, &ho);
    }
    char path[1100];
    if (st == SOMA_OK) st = soma_fig_save(f, soma_exp_path(c, "recovery.svg", path, sizeof path));
    soma_fig_free(f);
    if (st != SOMA_OK) return st;
    /* one brain's model comparison with its noise ceiling band (the classic RSA bar plot) */
    SOMA_TRY(soma_fig_new(&f, 1, 1, 640, 420));
    float v[MAX_MODELS];
    for (int l = 0; l < K; l++) v[l] = (float)ex->score[M_RSA][l];
    snprintf(buf, sizeof buf, "Brain 0 (made by %s): RSA of each model, noise ceiling", lab[ex->truth]);
    soma_fig_labels(f, 0, buf, "model", soma_rsa_method_name(S->eval.method));
    st = soma_fig_bars(f, 0, v, NULL, K, lab, 0);
    if (st == SOMA_OK) st = soma_fig_hline(f, 0, (float)ex->lower, "ceiling (lower)");
    if (st == SOMA_OK) st = soma_fig_hline(f, 0, (float)ex->upper, "ceiling (upper)");
    if (st == SOMA_OK) st = soma_fig_save(f, soma_exp_path(c, "ceiling.svg", path, sizeof path));
    soma_fig_free(f);
    return st;
}

// --- the run -------------------------------------------------------------------------------

static soma_status run_(soma_exp_ctx *c) {
    soma__rsa_model m;
    SOMA_TRY(soma__rsa_model_build(c, &m));
    setup_ S;
    brain_ *br = NULL, *sw = NULL;
    double *sweep = NULL, *conf = NULL;
    int brains, sweep_brains, nlv = 0;
    double noise, levels[MAX_LEVELS];
    /* brains run side by side, each on its own random stream, the library's calls serial inside
     * the parallel region: every number after the training is the same for any --threads
     * (test_exp_rsa checks 1 and 2) */
    soma_status st = setup_init_(c, &m, &S);
    if (st == SOMA_OK) st = soma_args_int(&c->args, "brains", &brains);
    if (st == SOMA_OK) st = soma_args_int(&c->args, "sweep-brains", &sweep_brains);
    if (st == SOMA_OK) st = soma_args_double(&c->args, "noise", &noise);
    if (st == SOMA_OK) st = parse_levels_(soma_args_str(&c->args, "sweep"), levels, &nlv);
    if (st != SOMA_OK) goto out;
    const int K = S.K;
    br = soma_calloc((size_t)brains, sizeof(brain_));
    sw = soma_calloc((size_t)sweep_brains, sizeof(brain_));
    sweep = soma_calloc((size_t)N_METHODS * nlv, sizeof(double));
    conf = soma_calloc((size_t)N_METHODS * K * K, sizeof(double));
    if (!br || !sw || !sweep || !conf) {
        st = soma_error(SOMA_ERR_NOMEM, "rsa-recovery: out of memory");
        goto out;
    }
    double t0 = soma_now();
    if ((st = run_brains_(&S, noise, 0, brains, c->seed, c->threads, br)) != SOMA_OK) goto out;
    const double main_seconds = soma_now() - t0;
    double frac[N_METHODS];
    const double inside = summarize_(&S, br, brains, frac, conf);
    double ceil_sweep[MAX_LEVELS];
    for (int li = 0; li < nlv; li++) {
        if ((st = run_brains_(&S, levels[li], li + 1, sweep_brains, c->seed, c->threads, sw)) != SOMA_OK) goto out;
        double fr[N_METHODS];
        ceil_sweep[li] = summarize_(&S, sw, sweep_brains, fr, NULL);
        for (int j = 0; j < N_METHODS; j++) sweep[(size_t)j * nlv + li] = fr[j];
    }
    const double seconds = soma_now() - t0;

    // --- results
    double mean_true = 0, mean_lo = 0, mean_hi = 0;
    for (int i = 0; i < brains; i++) {
        mean_true += br[i].score[M_RSA][br[i].truth] / brains;
        mean_lo += br[i].lower / brains;
        mean_hi += br[i].upper / brains;
    }
    cJSON *rf = cJSON_AddObjectToObject(c->ours, "rank1_fraction");
    for (int j = 0; j < N_METHODS; j++) {
        if (rf && j != M_CKA_BIASED) soma_json_put_num(rf, method_key_[j], frac[j]);
        char key[32];
        snprintf(key, sizeof key, "rank1_%s", method_key_[j]);
        soma_exp_put(c, key, frac[j]);
    }
    soma_exp_put(c, "ceiling_contains_true", inside);
    soma_exp_put(c, "chance", 1.0 / K);
    soma_exp_put(c, "mean_true_rsa", mean_true);
    soma_exp_put(c, "mean_ceiling_lower", mean_lo);
    soma_exp_put(c, "mean_ceiling_upper", mean_hi);
    cJSON *set = cJSON_AddObjectToObject(c->ours, "settings");
    if (set) {
        cJSON_AddNumberToObject(set, "brains", brains);
        cJSON_AddNumberToObject(set, "subjects", S.subjects);
        cJSON_AddNumberToObject(set, "voxels", S.voxels);
        cJSON_AddNumberToObject(set, "reps", S.reps);
        cJSON_AddNumberToObject(set, "noise", noise);
        cJSON_AddNumberToObject(set, "conditions", S.n);
        cJSON_AddStringToObject(set, "rdm_metric", soma_rdm_metric_name(S.rdm.metric));
        cJSON_AddStringToObject(set, "rsa_method", soma_rsa_method_name(S.eval.method));
        cJSON *ln = cJSON_AddArrayToObject(set, "layers");
        for (int l = 0; ln && l < K; l++) {
            cJSON *s = cJSON_CreateString(m.name[S.rep[l]]);
            if (!cJSON_AddItemToArray(ln, s)) cJSON_Delete(s);
        }
    }
    cJSON *so = cJSON_AddObjectToObject(c->ours, "sweep");
    if (so) {
        soma__rsa_put_array(so, "noise", levels, nlv);
        for (int j = 0; j < N_METHODS; j++) soma__rsa_put_array(so, method_key_[j], sweep + (size_t)j * nlv, nlv);
        soma__rsa_put_array(so, "ceiling_contains_true", ceil_sweep, nlv);
        cJSON_AddNumberToObject(so, "brains", sweep_brains);
    }
    for (int j = 0; j < N_METHODS; j++) {
        char key[32];
        snprintf(key, sizeof key, "confusion_%s", method_key_[j]);
        soma__rsa_put_matrix(c->ours, key, conf + (size_t)j * K * K, K, K);
    }
    soma_exp_put(c, "seconds", seconds);
    soma_exp_put(c, "main_seconds", main_seconds);
    const cJSON *acc = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c->ours, "lenet"),
                                                        "test_accuracy");
    snprintf(c->headline, sizeof c->headline,
             "%d brains, %d candidate layers (chance %.2f), noise %g: true layer ranked first by RSA %.2f, CKA %.2f, "
             "encoding %.2f (CKA with the biased HSIC %.2f); noise ceiling contains the true model in %.2f (mean true %.3f in [%.3f, %.3f])\n"
             "noise sweep %g..%g (%d brains each): RSA %.2f -> %.2f, CKA %.2f -> %.2f, encoding %.2f -> %.2f; LeNet "
             "test accuracy %.3f; %.1f s",
             brains, K, 1.0 / K, noise, frac[M_RSA], frac[M_CKA], frac[M_ENC], frac[M_CKA_BIASED], inside, mean_true, mean_lo, mean_hi,
             levels[0], levels[nlv - 1], sweep_brains, sweep[0], sweep[nlv - 1], sweep[nlv], sweep[2 * nlv - 1],
             sweep[2 * nlv], sweep[3 * nlv - 1], cJSON_IsNumber(acc) ? acc->valuedouble : NAN, seconds);
    st = draw_(c, &S, &m, levels, nlv, sweep, conf, &br[0], noise);
out:
    soma_free(br);
    soma_free(sw);
    soma_free(sweep);
    soma_free(conf);
    setup_free_(&S);
    soma__rsa_model_free(&m);
    return st;
}

const soma_experiment soma__exp_rsa_recovery = {
    "rsa-recovery",
    "Synthetic brains made from one LeNet layer (a noisy random linear mix, several subjects and repetitions): "
    "RSA, CKA and encoding models must name the layer, and the noise ceiling must bracket the true model.",
    landmarks_,
    opts_,
    reduced_,
    run_,
    check_,
};
