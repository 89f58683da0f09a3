/* soma/exp.h -- options, the experiment registry, and supervised classification runs.
 *
 * Options. One parser serves the soma command and the experiments. A command declares its
 * options in a table of soma_opt (type, default, range or choices), and soma_args_parse reads
 * "--key value", "--key=value" and "--flag" against it. Every value, given or default, is
 * checked against its declaration before the parse returns, so a command can refuse bad input
 * before it creates anything on disk. Unknown, repeated and positional arguments are errors.
 *
 *     static const soma_opt opts[] = {
 *         {"epochs", SOMA_OPT_INT, "10", 1, 100000, NULL, "passes over the data", 0},
 *         {"optim", SOMA_OPT_ENUM, "adam", 0, 0, "sgd|adam|adamw", "optimizer", 0},
 *         {NULL},
 *     };
 *     soma_args a;
 *     SOMA_TRY(soma_args_parse(&a, "train", opts, argc, argv));
 *     int epochs;
 *     soma_args_int(&a, "epochs", &epochs);
 *     soma_args_free(&a);
 *
 * Experiments. An experiment reproduces one or more landmark figures. It has a name, a
 * one-line summary, its landmarks (each: what is measured, one source with a DOI or URL, the
 * number, and which of our figures is compared with it), options, the arguments that run it at
 * reduced size for tests, and a run function that fills the measured figures into ctx->ours
 * and writes its figures into ctx->out_dir. The runner (soma_exp_run) parses the options
 * (global: --seed, --threads, --out, --quiet, --reduced), checks them, fixes the seed and threads,
 * creates OUT/NAME/, and writes OUT/NAME/results.json atomically: our figures, each landmark
 * with ours beside it and whether ours meets it, and the status of the run: "pass", "fail",
 * or "reduced" when an option that shrinks the run was changed (then the run is not comparable
 * with the landmark, and says so instead of failing).
 *
 *     const soma_experiment *e = soma_exp_find("lenet-fmnist");
 *     const char *argv[] = {"--epochs", "2"};
 *     SOMA_TRY(soma_exp_run(e, 2, argv, "out", NULL));
 *
 * Adding an experiment: one file in src/exp/ defining `const soma_experiment soma__exp_NAME`,
 * and one line SOMA_EXP(NAME) in src/exp/list.h. test_exp runs every registered experiment
 * with its reduced arguments and checks its declarations and its results.json.
 */
#ifndef SOMA_EXP_H
#define SOMA_EXP_H

#include "soma/core.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cJSON;

// --- options ---------------------------------------------------------------------------

typedef enum soma_opt_type {
    SOMA_OPT_STR = 0, /* any text */
    SOMA_OPT_INT,     /* an integer in [lo, hi] */
    SOMA_OPT_FLOAT,   /* a finite number in [lo, hi] */
    SOMA_OPT_ENUM,    /* one of choices ("sgd|adam|adamw") */
    SOMA_OPT_FLAG,    /* takes no value; set or not */
    SOMA_OPT_TYPE_COUNT
} soma_opt_type;

typedef struct soma_opt {
    const char *key;     /* "epochs", given as --epochs; NULL ends a table */
    soma_opt_type type;
    const char *def;     /* default as text; NULL: unset unless given (flags: always NULL) */
    double lo, hi;       /* range of INT and FLOAT values */
    const char *choices; /* ENUM: the values, separated by '|' */
    const char *help;
    int reduces;         /* experiments: a value other than the default makes the run reduced,
                            not comparable with the landmark */
} soma_opt;

/* Parsed arguments: a view over the declarations plus one value per option. */
typedef struct soma_args {
    const char *cmd;      /* names the command in messages ("train", "run lenet-fmnist") */
    const soma_opt *opts; /* the declarations (borrowed; must outlive the args) */
    int n;                /* number of options */
    const char **vals;    /* vals[i]: value of option i as text (given, else default; NULL unset);
                             given values borrow argv */
    unsigned char *given; /* given[i]: 1 when option i was on the command line */
} soma_args;

/* Parses argv against opts (terminated by {NULL}). Checks every value against its
 * declaration. SOMA_ERR_ARG names cmd and the option for: an unknown option (listing the
 * valid ones), a repeated one, a missing value, a value given to a flag, a positional
 * argument, a value of the wrong type, out of range, or not among the choices. On success
 * *a owns two small arrays (soma_args_free); on failure there is nothing to free. */
soma_status soma_args_parse(soma_args *a, const char *cmd, const soma_opt *opts, int argc,
                            const char *const *argv);
void soma_args_free(soma_args *a);
/* Number of options in a table terminated by {NULL}. */
int soma_opts_count(const soma_opt *opts);
/* Checks a declaration table: known types, keys unique and well formed, lo <= hi, enum
 * choices present, every default valid. SOMA_ERR_INTERNAL names cmd and the bad option. */
soma_status soma_opts_check(const char *cmd, const soma_opt *opts);
/* Checks one value against its declaration (what: names it in the message). */
soma_status soma_opt_check_value(const char *what, const soma_opt *o, const char *val);

/* Getters: the value of a declared option (given or default). An undeclared key gives
 * SOMA_ERR_INTERNAL. When the option is unset (no default, not given) the getters leave *out
 * as it is and return SOMA_OK; soma_args_str returns NULL. */
const char *soma_args_str(const soma_args *a, const char *key);
int soma_args_given(const soma_args *a, const char *key);
int soma_args_flag(const soma_args *a, const char *key);
soma_status soma_args_int(const soma_args *a, const char *key, int *out);
soma_status soma_args_double(const soma_args *a, const char *key, double *out);
soma_status soma_args_float(const soma_args *a, const char *key, float *out);

/* Parses a value as an integer / float with a range check; what names the option. */
soma_status soma_parse_long(const char *what, const char *s, long lo, long hi, long *out);
soma_status soma_parse_double(const char *what, const char *s, double lo, double hi, double *out);

// --- experiments -----------------------------------------------------------------------

typedef enum soma_exp_cmp {
    SOMA_EXP_AT_LEAST = 0, /* ours meets the landmark when ours >= value */
    SOMA_EXP_AT_MOST,      /* ... when ours <= value */
    SOMA_EXP_CMP_COUNT
} soma_exp_cmp;

/* One landmark figure and its source. */
typedef struct soma_exp_landmark {
    const char *figure; /* what the number is: "test accuracy, MLP 256-128-100" */
    const char *source; /* one source: "Xiao, Rasul & Vollgraf 2017" */
    const char *link;   /* its DOI ("https://doi.org/...") or URL ("https://...") */
    const char *key;    /* which of ours is compared with value */
    soma_exp_cmp cmp;
    double value;       /* the landmark's number */
} soma_exp_landmark;

typedef struct soma_experiment soma_experiment;

/* What a run sees: its options, seed, threads, output folder, and the JSON to fill. */
typedef struct soma_exp_ctx {
    const soma_experiment *exp;
    char out_dir[1024];
    uint64_t seed;
    int threads;
    int quiet;
    int reduced;        /* 1 when a reducing option differs from its default */
    soma_args args;     /* the experiment's options and the global ones */
    struct cJSON *root; /* the whole results.json */
    struct cJSON *ours; /* root["ours"]: the measured figures */
    char headline[1024]; /* set by the run: one or two lines for the terminal ("" = none) */
} soma_exp_ctx;

struct soma_experiment {
    const char *name;
    const char *summary;
    const soma_exp_landmark *landmarks; /* terminated by {NULL} */
    const soma_opt *opts;               /* terminated by {NULL} */
    const char *const *reduced_args;    /* a small test run: "--key", "value" pairs, NULL-terminated */
    soma_status (*run)(soma_exp_ctx *ctx);
    /* Checks what the typed options cannot say alone (relations between options, lists in a
     * string option) before anything is written; SOMA_ERR_ARG naming the option. May be NULL
     * (left out of an initializer). ctx holds the parsed options; out_dir does not exist yet. */
    soma_status (*check)(const soma_exp_ctx *ctx);
};

int soma_exp_count(void);
const soma_experiment *soma_exp_get(int i);
const soma_experiment *soma_exp_find(const char *name);
/* The options every experiment takes (--seed, --threads, --out, --quiet, --reduced); an
 * experiment may not declare one of these keys. --reduced runs it with its reduced_args first
 * (the run is then "reduced", whatever its options). */
const soma_opt *soma_exp_global_opts(void);
/* Checks an experiment's declarations: its options (soma_opts_check, no global key), at least
 * one landmark, each with a figure, a source, a link starting "https://" or "http://", a key
 * and a comparison. SOMA_ERR_INTERNAL names the experiment and what is wrong. */
soma_status soma_exp_check(const soma_experiment *e);

/* Runs e with argv ("--key value" pairs: its options and the global ones), writing into
 * OUT/NAME/ where OUT is --out, else out_root (NULL: "out"). *results (may be NULL) receives
 * the results JSON (cJSON_Delete it). Unknown options and bad values give SOMA_ERR_ARG naming
 * the option, before anything is created on disk. */
soma_status soma_exp_run(const soma_experiment *e, int argc, const char *const *argv,
                         const char *out_root, struct cJSON **results);
/* Runs e with --reduced --quiet and extra (may be NULL, argc_extra 0): the test helper. */
soma_status soma_exp_run_reduced(const soma_experiment *e, int argc_extra, const char *const *extra,
                                 const char *out_root, struct cJSON **results);

/* Helpers for run functions: record a number in ours, a path under out_dir. */
void soma_exp_put(soma_exp_ctx *c, const char *key, double v);
void soma_exp_put_array(soma_exp_ctx *c, const char *key, const float *v, int n);
const char *soma_exp_path(const soma_exp_ctx *c, const char *file, char *buf, size_t cap);
/* The same on a bare JSON object (ours of `soma train`). */
void soma_json_put_num(struct cJSON *o, const char *key, double v);
void soma_json_put_floats(struct cJSON *o, const char *key, const float *v, int n);

/* Where a run was measured: machine.cpu (model name), machine.cores, machine.blas (build),
 * machine.blas_kernel (null when the BLAS does not say), soma_version and date, added to o. */
void soma_exp_put_provenance(struct cJSON *o);

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
    /* The learning rule (soma_rule_new): "bp" (default), "fa", "dfa", "pc", "ff", "hebb", and
     * its options (soma_rule_opts; 0 means the rule's default). */
    const char *rule;
    float fb_scale, pc_rate, ff_theta;
    int pc_steps;
    int pc_fixed_pred;      /* pc: 1 for the fixed prediction assumption (soma_rule_opts) */
    const char *hebb;       /* "oja", "gha", "competitive" */
    int ff_hard, ff_vote_all; /* ff: hardest wrong labels as negatives; classify by every layer */
    int alignment_every;    /* > 0: the angle between the rule's update and the true gradient on a
                               fixed batch (the first 256 training samples) before training and
                               every k optimizer steps, into ours, off the clock: alignment_steps,
                               alignment_deg (mean over the weights), alignment_hidden_deg (without
                               the last weight: a chain's output layer), alignment_final_deg,
                               alignment_final_hidden_deg, alignment_final_deg_per_layer; for FA
                               also alignment_signal_deg and alignment_final_signal_deg, the mean
                               over hidden layers of soma_rule_signal_alignment (else null) */
    int distributed;        /* data-parallel over the ranks of an MPI job (soma_train_config's
                               distributed): batch is per rank */
    int no_overlap;         /* distributed: never overlap the all-reduce with the backward pass */
} soma_classify_config;

soma_classify_config soma_classify_defaults(void);
/* The options of `soma train` (the classification options with soma_classify_defaults'
 * values, and the run options: --init-npy, --ckpt, --resume, --seed, --threads, --out ...). */
const soma_opt *soma_classify_train_opts(void);
/* Fills cfg from parsed arguments: every classification option that a declares. */
soma_status soma_classify_from_args(const soma_args *a, soma_classify_config *cfg);
/* Loads the data, builds the net, trains, evaluates; fills ours with the figures (train_*,
 * val_* on a held-out validation split, test_* only on a test split of its own -- never on
 * the training data), "measured_on" naming each figure's split, train_seconds,
 * samples_per_second, epochs, parameters, curves; draws figures. A run resumed from the
 * checkpoint of a finished run trains nothing and reports the checkpoint's net measured again. */
soma_status soma_classify_run(const soma_classify_config *cfg, struct cJSON *ours);
/* Evaluates a network (spec + NPY parameters or a checkpoint, not both) on the test split:
 * fills test_accuracy, test_loss, n. */
soma_status soma_classify_eval(const char *data, const char *fmnist_dir, const char *net_spec,
                               const char *init_npy, const char *ckpt, struct cJSON *ours);
/* The outputs of layer `layer` (0-based; layer < 0: the network's output), in eval mode, for
 * every sample of the data set's split (train: 1, test: 0; n > 0: only the first n), written
 * as an NPY file of float32, [N, D] for flat outputs, else [N, C, H, W]. Parameters from
 * init_npy or ckpt (exactly one). info (may be NULL) receives output, layer, layer_spec,
 * shape and split. */
soma_status soma_classify_predict(const char *data, const char *fmnist_dir, int train, int n,
                                  const char *net_spec, const char *init_npy, const char *ckpt,
                                  int layer, const char *out_npy, struct cJSON *info);

#ifdef __cplusplus
}
#endif
#endif
