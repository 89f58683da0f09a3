/* soma/exp.h -- the experiment registry.
 *
 * An experiment reproduces one landmark result. It has a name, a one-line summary, the
 * landmark (paper, figure, the paper's number), options with defaults, and a run function
 * that fills the measured figures into ctx->ours and writes its figures into ctx->out_dir.
 * The runner (soma_exp_run) parses options, fixes the seed and threads, creates
 * OUT/NAME/, and writes OUT/NAME/results.json atomically with our figures next to the
 * landmark's (the convention of soma/plot.h's report).
 *
 *     const soma_experiment *e = soma_exp_find("lenet-fmnist");
 *     const char *argv[] = {"--epochs", "2"};
 *     SOMA_TRY(soma_exp_run(e, 2, argv, "out", NULL));
 */
#ifndef SOMA_EXP_H
#define SOMA_EXP_H

#include "soma/core.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cJSON;

typedef struct soma_exp_opt {
    const char *key;  /* "epochs" (given as --epochs) */
    const char *def;  /* default value as text */
    const char *help;
} soma_exp_opt;

#define SOMA_EXP_MAX_OPTS 40

typedef struct soma_experiment soma_experiment;

/* What a run sees: its options, seed, threads, output folder, and the JSON to fill. */
typedef struct soma_exp_ctx {
    const soma_experiment *exp;
    char out_dir[1024];
    uint64_t seed;
    int threads;
    int quiet;
    int n_opts;
    const char *keys[SOMA_EXP_MAX_OPTS];
    const char *vals[SOMA_EXP_MAX_OPTS];
    struct cJSON *root; /* the whole results.json */
    struct cJSON *ours; /* root["ours"]: the measured figures */
    int pass;           /* set by the run: 1 when the landmark is reproduced, -1 unknown */
    char headline[1024]; /* set by the run: one or two lines for the terminal ("" = default) */
} soma_exp_ctx;

struct soma_experiment {
    const char *name;
    const char *summary;
    const char *paper;      /* "Rosenblatt 1958; Novikoff 1962" */
    const char *figure;     /* what the paper's number is */
    double landmark;        /* the paper's number (NaN when it is a qualitative result) */
    const char *key;        /* which of ours is compared with it */
    const soma_exp_opt *opts; /* terminated by {NULL} */
    soma_status (*run)(soma_exp_ctx *ctx);
};

int soma_exp_count(void);
const soma_experiment *soma_exp_get(int i);
const soma_experiment *soma_exp_find(const char *name);

/* Runs e with "--key value" pairs (also --seed, --threads, --quiet), writing into
 * out_root/NAME/. *results (may be NULL) receives the results JSON (cJSON_Delete it).
 * Unknown options and bad values give SOMA_ERR_ARG naming the option. */
soma_status soma_exp_run(const soma_experiment *e, int argc, const char *const *argv,
                         const char *out_root, struct cJSON **results);

/* Option getters for run functions; a bad value gives SOMA_ERR_ARG naming the option. */
soma_status soma_exp_str(const soma_exp_ctx *c, const char *key, const char **out);
soma_status soma_exp_int(const soma_exp_ctx *c, const char *key, long lo, long hi, int *out);
soma_status soma_exp_float(const soma_exp_ctx *c, const char *key, double lo, double hi, float *out);

/* Helpers for run functions: record a number in ours, a path under out_dir. */
void soma_exp_put(soma_exp_ctx *c, const char *key, double v);
void soma_exp_put_array(soma_exp_ctx *c, const char *key, const float *v, int n);
const char *soma_exp_path(const soma_exp_ctx *c, const char *file, char *buf, size_t cap);

/* Parses a value as an integer / float with a range check; what names the option. */
soma_status soma_parse_long(const char *what, const char *s, long lo, long hi, long *out);
soma_status soma_parse_double(const char *what, const char *s, double lo, double hi, double *out);

// --- supervised classification runs (mlp-fmnist, lenet-fmnist, `soma train`) -------------

typedef struct soma_classify_config {
    const char *data;       /* data-set spec: "fmnist", "idx:I,L", "npy:X,Y" (soma_dataset_load) */
    const char *fmnist_dir; /* may be NULL */
    const char *net;        /* network spec */
    int epochs, batch;
    float lr, lr_min, weight_decay, momentum;
    const char *optim;      /* "sgd", "adam", "adamw" */
    const char *sched;      /* "constant", "step", "cosine" */
    int step_size;          /* epochs between step decays */
    float gamma;            /* step decay factor */
    int n_train, n_test;    /* use the first n samples (0: all) */
    int eval;               /* evaluate on the test split after each epoch (1) or only at the end (0),
                               or never (-1) */
    const char *init_npy;   /* load parameters from a folder of NPY files first (may be NULL) */
    const char *save_npy;   /* save parameters as NPY files at the end (may be NULL) */
    const char *ckpt;       /* checkpoint after every epoch (may be NULL) */
    int resume;             /* continue from ckpt if it exists */
    uint64_t seed;
    int quiet;
    const char *out_dir;    /* figures (learning curves, first-layer filters) go here; NULL = none */
    const char *label;      /* progress label */
    float landmark;         /* drawn as a reference line on the accuracy curve (NaN: none) */
    const char *landmark_label;
    double val_split;       /* fraction of the training set held out for validation; < 0: 0.1
                               when the data have no test split of their own, else none */
    const char *loss;       /* "xent" (classification) or "mse" (regression on float targets) */
    const char *log_path;   /* one JSON line per epoch (may be NULL) */
} soma_classify_config;

soma_classify_config soma_classify_defaults(void);
/* Loads the data, builds the net, trains, evaluates; fills ours with the figures (train_*,
 * val_* on a held-out validation split, test_* only on a test split of its own -- never on
 * the training data), "measured_on" naming each figure's split, train_seconds,
 * samples_per_second, epochs, parameters, curves; draws figures. */
soma_status soma_classify_run(const soma_classify_config *cfg, struct cJSON *ours);
/* Evaluates a network (spec + NPY parameters) on the test split: fills test_accuracy,
 * test_loss, n. */
soma_status soma_classify_eval(const char *data, const char *fmnist_dir, const char *net_spec,
                               const char *init_npy, const char *ckpt, struct cJSON *ours);

#ifdef __cplusplus
}
#endif
#endif
