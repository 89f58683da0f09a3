// The soma command: argument parsing and dispatch only. It alone prints and exits:
// 0 on success, 2 on bad input (options, specs, files), 1 on internal failure.
// Every subcommand declares its options as a soma_opt table and parses them with the
// library's one parser (soma_args_parse), as the experiments do.
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "soma/exp.h"
#include "soma/plot.h"
#include "soma/soma.h"

#define END_OPTS {NULL, 0, NULL, 0, 0, NULL, NULL, 0}
#define QUIET_OPT {"quiet", SOMA_OPT_FLAG, NULL, 0, 0, NULL, "no progress output", 0}
/* eval and predict: the net and its parameters (checked by need_net_), threads, the data's folder */
#define NET_OPTS                                                                                           \
    {"net", SOMA_OPT_STR, NULL, 0, 0, NULL, "network spec (required)", 0},                                  \
    {"init-npy", SOMA_OPT_STR, NULL, 0, 0, NULL, "parameters as NPY files (PyTorch layouts) in DIR", 0},     \
    {"ckpt", SOMA_OPT_STR, NULL, 0, 0, NULL, "parameters from a soma checkpoint (not with --init-npy)", 0}
#define THREADS_OPT {"threads", SOMA_OPT_INT, NULL, 1, 256, NULL, "threads (default: all cores)", 0}
#define FMNIST_DIR_OPT {"fmnist-dir", SOMA_OPT_STR, NULL, 0, 0, NULL, "Fashion-MNIST folder", 0}

static int fail_(soma_status st) {
    fprintf(stderr, "soma: %s\n", soma_errmsg()[0] ? soma_errmsg() : soma_status_str(st));
    return soma_status_exit_code(st);
}

static int wants_help_(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
    return 0;
}

void soma_cli_print_opts(const soma_opt *opts) {
    for (const soma_opt *o = opts; o && o->key; o++) {
        char left[64], extra[160] = "";
        const char *v = o->type == SOMA_OPT_INT ? " N" : o->type == SOMA_OPT_FLOAT ? " X" : o->type == SOMA_OPT_FLAG ? "" : " V";
        snprintf(left, sizeof left, "--%s%s", o->key, v);
        size_t u = 0;
        if (o->type == SOMA_OPT_INT) u += (size_t)snprintf(extra, sizeof extra, "; %.0f..%.0f", o->lo, o->hi);
        else if (o->type == SOMA_OPT_FLOAT) u += (size_t)snprintf(extra, sizeof extra, "; %g..%g", o->lo, o->hi);
        else if (o->type == SOMA_OPT_ENUM) u += (size_t)snprintf(extra, sizeof extra, "; %s", o->choices);
        if (o->def && u < sizeof extra) snprintf(extra + u, sizeof extra - u, "; default %s", o->def[0] ? o->def : "\"\"");
        printf("  %-22s %s%s\n", left, o->help, extra);
    }
}

/* The start of a subcommand with an option table: with --help (or -h) anywhere, prints usage
 * (ending "options:") and the options and returns 0; else parses argv into a and returns -1,
 * or, when that fails, prints why and returns the exit status. */
static int start_(const char *cmd, const char *usage, const soma_opt *opts, int argc, char **argv, soma_args *a) {
    if (wants_help_(argc, argv)) {
        fputs(usage, stdout);
        soma_cli_print_opts(opts);
        return 0;
    }
    soma_status st = soma_args_parse(a, cmd, opts, argc, (const char *const *)argv);
    return st == SOMA_OK ? -1 : fail_(st);
}

static void print_json_(const cJSON *j) {
    char *s = cJSON_Print(j);
    if (s) {
        printf("%s\n", s);
        cJSON_free(s);
    }
}

/* Every option's value as a JSON object: text as given (or the default), flags as booleans,
 * unset ones as null. */
static cJSON *options_json_(const soma_args *a) {
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < a->n; i++) {
        const char *k = a->opts[i].key, *v = a->vals[i];
        if (a->opts[i].type == SOMA_OPT_FLAG) cJSON_AddBoolToObject(o, k, v != NULL);
        else if (v) cJSON_AddStringToObject(o, k, v);
        else cJSON_AddNullToObject(o, k);
    }
    return o;
}

static soma_status threads_(const soma_args *a) {
    int t = soma_get_threads();
    SOMA_TRY(soma_args_int(a, "threads", &t));
    soma_set_threads(t);
    return SOMA_OK;
}

// --- list ------------------------------------------------------------------------------

static const soma_opt list_opts_[] = {
    {"quiet", SOMA_OPT_FLAG, NULL, 0, 0, NULL, "names only", 0},
    END_OPTS,
};

static int cmd_list_(int argc, char **argv) {
    soma_args a;
    int rc = start_("list", "usage: soma list [--quiet]\nEvery experiment, one line each.\n\noptions:\n", list_opts_, argc,
                    argv, &a);
    if (rc >= 0) return rc;
    int quiet = soma_args_flag(&a, "quiet");
    soma_args_free(&a);
    for (int i = 0; i < soma_exp_count(); i++) {
        const soma_experiment *e = soma_exp_get(i);
        if (quiet) printf("%s\n", e->name);
        else printf("%-16s %s\n", e->name, e->summary);
    }
    return 0;
}

// --- run -------------------------------------------------------------------------------

static void run_help_(const soma_experiment *e) {
    printf("soma run %s: %s\nlandmarks:\n", e->name, e->summary);
    for (const soma_exp_landmark *l = e->landmarks; l && l->figure; l++)
        printf("  %s %s %g -- %s, %s\n", l->figure, l->cmp == SOMA_EXP_AT_MOST ? "<=" : ">=", l->value, l->source,
               l->link);
    printf("options:\n");
    soma_cli_print_opts(e->opts);
    soma_cli_print_opts(soma_exp_global_opts());
    int k = 0;
    for (const soma_opt *o = e->opts; o && o->key; o++)
        if (o->reduces) printf("%s--%s", k++ ? ", " : "Changing ", o->key);
    if (k) printf(" (or giving --reduced) makes the run 'reduced: not comparable with the landmark'.\n");
}

static int cmd_run_(int argc, char **argv) {
    if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
        printf("usage: soma run NAME [--out DIR] [--seed S] [--threads T] [--quiet] [--KEY VALUE ...]\n"
               "Runs one experiment, writing DIR/NAME/results.json and its figures (DIR: out).\n"
               "'soma run NAME --help' lists its options; 'soma list' lists the experiments.\n");
        if (argc < 1) fprintf(stderr, "soma: run: name an experiment (see 'soma list')\n");
        return argc < 1 ? 2 : 0;
    }
    const soma_experiment *e = soma_exp_find(argv[0]);
    if (!e) {
        soma_error(SOMA_ERR_ARG, "run: no experiment '%s' (see 'soma list')", argv[0]);
        return fail_(SOMA_ERR_ARG);
    }
    if (wants_help_(argc - 1, argv + 1)) {
        run_help_(e);
        return 0;
    }
    cJSON *res = NULL;
    soma_status st = soma_exp_run(e, argc - 1, (const char *const *)(argv + 1), "out", &res);
    if (st != SOMA_OK) return fail_(st);
    const cJSON *head = cJSON_GetObjectItemCaseSensitive(res, "headline");
    if (cJSON_IsString(head)) printf("%s\n", head->valuestring);
    const cJSON *l;
    cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(res, "landmarks")) {
        const cJSON *ours = cJSON_GetObjectItemCaseSensitive(l, "ours");
        printf("%s: %s = ", e->name, cJSON_GetObjectItemCaseSensitive(l, "key")->valuestring);
        if (cJSON_IsNumber(ours)) printf("%.4g", ours->valuedouble);
        else printf("not measured");
        printf("  (landmark %s %.4g: %s, %s): %s\n", cJSON_GetObjectItemCaseSensitive(l, "compare")->valuestring,
               cJSON_GetObjectItemCaseSensitive(l, "value")->valuedouble,
               cJSON_GetObjectItemCaseSensitive(l, "source")->valuestring,
               cJSON_GetObjectItemCaseSensitive(l, "link")->valuestring,
               cJSON_GetObjectItemCaseSensitive(l, "verdict")->valuestring);
    }
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(res, "status");
    if (cJSON_IsString(status)) {
        const char *s = status->valuestring;
        printf("%s: %s\n", e->name,
               !strcmp(s, "pass")      ? "reproduced"
               : !strcmp(s, "fail")    ? "NOT reproduced"
               : !strcmp(s, "reduced") ? "reduced: not comparable with the landmark"
                                       : s);
    }
    const cJSON *ours = cJSON_GetObjectItemCaseSensitive(res, "ours");
    const cJSON *sps = cJSON_GetObjectItemCaseSensitive(ours, "samples_per_second");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(ours, "train_seconds");
    if (cJSON_IsNumber(sps) && cJSON_IsNumber(ts))
        printf("%s: trained in %.1f s, %.0f samples/s\n", e->name, ts->valuedouble, sps->valuedouble);
    const cJSON *dir = cJSON_GetObjectItemCaseSensitive(res, "out_dir");
    if (cJSON_IsString(dir)) printf("results: %s/results.json\n", dir->valuestring);
    cJSON_Delete(res);
    return 0;
}

// --- train -----------------------------------------------------------------------------

static void train_help_(void) {
    char grammar[4096];
    soma_layer_grammar(grammar, sizeof grammar);
    printf("usage: soma train --data D --net SPEC [options]\n"
           "Trains a network by backprop (a classifier, or a regression with --loss mse) and prints\n"
           "its results as JSON; with --out DIR also DIR/results.json (every option as given, the\n"
           "machine, version and date) and figures. Figures are measured on the split they name:\n"
           "train_*, val_* (a validation split held out of the training data, --val-split) and\n"
           "test_* (only when the data have a test split of their own); results.json's\n"
           "\"measured_on\" says which.\n\n"
           "options:\n");
    soma_cli_print_opts(soma_classify_train_opts());
    printf("\nnetwork spec: comma-separated layers, applied in order:\n%s"
           "example: conv5x5x6p2,relu,maxpool2,conv5x5x16,relu,maxpool2,fc120,relu,fc84,relu,fc10\n",
           grammar);
}

static int cmd_train_(int argc, char **argv) {
    if (wants_help_(argc, argv)) {
        train_help_();
        return 0;
    }
    soma_args a;
    soma_status st = soma_args_parse(&a, "train", soma_classify_train_opts(), argc, (const char *const *)argv);
    if (st != SOMA_OK) return fail_(st);
    cJSON *root = NULL, *ours = NULL;
    soma_classify_config cfg = soma_classify_defaults();
    if (!soma_args_str(&a, "data") || !soma_args_str(&a, "net")) {
        st = soma_error(SOMA_ERR_ARG, "train: --data and --net are required (see 'soma train --help')");
        goto out;
    }
    if ((st = soma_classify_from_args(&a, &cfg)) != SOMA_OK || (st = threads_(&a)) != SOMA_OK) goto out;
    if (cfg.out_dir && (st = soma_mkdir_p(cfg.out_dir)) != SOMA_OK) goto out;
    root = cJSON_CreateObject();
    ours = cJSON_CreateObject();
    if ((st = soma_classify_run(&cfg, ours)) != SOMA_OK) goto out;
    /* headline numbers first, then the setup */
    cJSON *it;
    cJSON_ArrayForEach(it, ours) if (!cJSON_IsArray(it)) cJSON_AddItemToObject(root, it->string, cJSON_Duplicate(it, 1));
    cJSON_AddItemToObject(root, "options", options_json_(&a));
    cJSON_AddNumberToObject(root, "seed", (double)cfg.seed);
    cJSON_AddNumberToObject(root, "threads", soma_get_threads());
    cJSON_AddStringToObject(root, "blas", soma_blas_name());
    soma_exp_put_provenance(root);
    if (cfg.out_dir) {
        cJSON *full = cJSON_Duplicate(root, 1);
        cJSON_AddStringToObject(full, "experiment", "train");
        cJSON_AddItemToObject(full, "ours", ours);
        ours = NULL;
        char path[4096];
        snprintf(path, sizeof path, "%s/results.json", cfg.out_dir);
        st = soma_json_write(path, full);
        cJSON_Delete(full);
        if (st != SOMA_OK) goto out;
    }
    print_json_(root);
out:
    cJSON_Delete(root);
    cJSON_Delete(ours);
    soma_args_free(&a);
    return st == SOMA_OK ? 0 : fail_(st);
}

// --- eval and predict ------------------------------------------------------------------

static const soma_opt eval_opts_[] = {
    {"data", SOMA_OPT_STR, NULL, 0, 0, NULL, "data (test split): fmnist | idx:... | npy:X,Y (required)", 0},
    NET_OPTS,
    THREADS_OPT,
    FMNIST_DIR_OPT,
    QUIET_OPT,
    END_OPTS,
};

/* --data, --net and exactly one of --init-npy / --ckpt. */
static soma_status need_net_(const soma_args *a) {
    if (!soma_args_str(a, "data") || !soma_args_str(a, "net"))
        return soma_error(SOMA_ERR_ARG, "%s: --data and --net are required (see 'soma %s --help')", a->cmd, a->cmd);
    int npy = soma_args_given(a, "init-npy"), ck = soma_args_given(a, "ckpt");
    if (npy && ck)
        return soma_error(SOMA_ERR_ARG, "%s: --init-npy and --ckpt both give the parameters; give only one", a->cmd);
    if (!npy && !ck)
        return soma_error(SOMA_ERR_ARG, "%s: no parameters; give --init-npy DIR or --ckpt FILE", a->cmd);
    return SOMA_OK;
}

static int cmd_eval_(int argc, char **argv) {
    soma_args a;
    int rc = start_("eval",
                    "usage: soma eval --data D --net SPEC (--init-npy DIR | --ckpt FILE)\n"
                    "Prints the test accuracy of a network as JSON.\n\noptions:\n",
                    eval_opts_, argc, argv, &a);
    if (rc >= 0) return rc;
    soma_status st;
    cJSON *res = NULL;
    if ((st = need_net_(&a)) != SOMA_OK || (st = threads_(&a)) != SOMA_OK) goto out;
    res = cJSON_CreateObject();
    st = soma_classify_eval(soma_args_str(&a, "data"), soma_args_str(&a, "fmnist-dir"), soma_args_str(&a, "net"),
                            soma_args_str(&a, "init-npy"), soma_args_str(&a, "ckpt"), res);
    if (st == SOMA_OK) print_json_(res);
out:
    cJSON_Delete(res);
    soma_args_free(&a);
    return st == SOMA_OK ? 0 : fail_(st);
}

static const soma_opt predict_opts_[] = {
    {"data", SOMA_OPT_STR, NULL, 0, 0, NULL, "data: fmnist | idx:... | npy:X,Y (required)", 0},
    NET_OPTS,
    {"layer", SOMA_OPT_INT, NULL, 0, 1000000, NULL, "write the output of layer I (0-based) instead of the net's", 0},
    {"out", SOMA_OPT_STR, NULL, 0, 0, NULL, "the NPY file to write (also -o; required)", 0},
    {"split", SOMA_OPT_ENUM, "test", 0, 0, "test|train", "which split of the data set", 0},
    {"n", SOMA_OPT_INT, "0", 0, 1 << 30, NULL, "only the first N samples (0: all)", 0},
    THREADS_OPT,
    FMNIST_DIR_OPT,
    QUIET_OPT,
    END_OPTS,
};

static int cmd_predict_(int argc, char **argv) {
    for (int i = 0; i < argc; i++) /* -o is --out */
        if (!strcmp(argv[i], "-o")) argv[i] = (char *)"--out";
    soma_args a;
    int rc = start_("predict",
                    "usage: soma predict --data D --net SPEC (--init-npy DIR | --ckpt F) [--layer I] -o OUT.npy\n"
                    "Writes a network's outputs, or the activations of layer I, for every sample of a data set\n"
                    "as a float32 NPY file [N, D] (or [N, C, H, W]), and prints what it wrote as JSON.\n\n"
                    "options:\n",
                    predict_opts_, argc, argv, &a);
    if (rc >= 0) return rc;
    soma_status st;
    cJSON *info = NULL;
    int layer = -1, n = 0;
    if ((st = need_net_(&a)) != SOMA_OK || (st = threads_(&a)) != SOMA_OK ||
        (st = soma_args_int(&a, "layer", &layer)) != SOMA_OK || (st = soma_args_int(&a, "n", &n)) != SOMA_OK)
        goto out;
    if (!soma_args_str(&a, "out")) {
        st = soma_error(SOMA_ERR_ARG, "predict: name the NPY file to write with -o OUT.npy");
        goto out;
    }
    info = cJSON_CreateObject();
    st = soma_classify_predict(soma_args_str(&a, "data"), soma_args_str(&a, "fmnist-dir"),
                               !strcmp(soma_args_str(&a, "split"), "train"), n, soma_args_str(&a, "net"),
                               soma_args_str(&a, "init-npy"), soma_args_str(&a, "ckpt"), layer,
                               soma_args_str(&a, "out"), info);
    if (st == SOMA_OK && !soma_args_flag(&a, "quiet")) print_json_(info);
out:
    cJSON_Delete(info);
    soma_args_free(&a);
    return st == SOMA_OK ? 0 : fail_(st);
}

// --- report ----------------------------------------------------------------------------

static const soma_opt report_opts_[] = {
    {"out", SOMA_OPT_STR, "out", 0, 0, NULL, "the runs' folder", 0},
    {"html", SOMA_OPT_STR, NULL, 0, 0, NULL, "the page to write (default: OUT/report.html)", 0},
    {"markdown", SOMA_OPT_STR, NULL, 0, 0, NULL, "also write the landmark table as Markdown to FILE", 0},
    QUIET_OPT,
    END_OPTS,
};

static int cmd_report_(int argc, char **argv) {
    soma_args a;
    int rc = start_("report",
                    "usage: soma report [--out DIR] [--html FILE] [--markdown FILE]\n"
                    "Builds one self-contained HTML page of every run in DIR.\n\noptions:\n",
                    report_opts_, argc, argv, &a);
    if (rc >= 0) return rc;
    soma_status st = SOMA_OK;
    const char *out = soma_args_str(&a, "out");
    char html[4096];
    if (soma_args_str(&a, "html")) snprintf(html, sizeof html, "%s", soma_args_str(&a, "html"));
    else snprintf(html, sizeof html, "%s/report.html", out);
    const char *md = soma_args_str(&a, "markdown");
    st = soma_report_build(out, html);
    if (st == SOMA_OK && md) st = soma_report_markdown(out, md);
    if (st == SOMA_OK && !soma_args_flag(&a, "quiet")) {
        printf("report: %s\n", html);
        if (md) printf("landmark table: %s\n", md);
    }
    soma_args_free(&a);
    return st == SOMA_OK ? 0 : fail_(st);
}

// --- dispatch --------------------------------------------------------------------------

static const soma_opt version_opts_[] = {QUIET_OPT, END_OPTS};

static int cmd_version_(int argc, char **argv) {
    soma_args a;
    soma_status st = soma_args_parse(&a, "version", version_opts_, argc, (const char *const *)argv);
    if (st != SOMA_OK) return fail_(st);
    soma_args_free(&a);
    printf("soma %s (BLAS: %s; OpenMP: %s; threads: %d)\n", SOMA_VERSION, soma_blas_config(),
           soma_have_openmp() ? "yes" : "no", soma_get_threads());
    char machine[512];
    soma_machine_describe(machine, sizeof machine);
    printf("machine: %s\n", machine);
    return 0;
}

static int cmd_help_(int argc, char **argv);

typedef struct cli_cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} cli_cmd;

static const cli_cmd cmds_[] = {
    {"list", cmd_list_, "every experiment, one line each"},
    {"run", cmd_run_, "run one experiment: soma run NAME [--out DIR] [--KEY VALUE ...]"},
    {"train", cmd_train_, "train a network on your data: soma train --data D --net SPEC [...]"},
    {"eval", cmd_eval_, "test accuracy of a network: soma eval --data D --net SPEC --init-npy DIR"},
    {"predict", cmd_predict_, "outputs or a layer's activations as NPY: soma predict ... -o OUT.npy"},
    {"report", cmd_report_, "one HTML page of every run: soma report [--out DIR]"},
    {"snn", soma_cli_snn, "run a spiking network from JSON: soma snn FILE.json [-o DIR]"},
    {"rdm", soma_cli_rdm, "dissimilarity matrix of your data: soma rdm X.npy --metric M -o RDM.npy"},
    {"rsa", soma_cli_rsa, "compare RDMs: soma rsa A.npy B.npy | --models M1,M2 --data SUBJ.npy"},
    {"cka", soma_cli_cka, "centered kernel alignment: soma cka A.npy B.npy [--kernel rbf]"},
    {"encode", soma_cli_encode, "ridge encoding model: soma encode FEATURES.npy RESPONSES.npy"},
    {"geometry", soma_cli_geometry, "eigenspectrum, dimensionality, power law: soma geometry X.npy"},
    {"continual", soma_cli_continual, "continual learning on a task stream: soma continual --stream S --method M"},
    {"neuro", soma_cli_neuro, "neural recordings: soma neuro info FILE.nwb | bin FILE.nwb --bin-ms 20 -o X.npy"},
    {"fm", soma_cli_fm, "population foundation model: soma fm pretrain --data FILES --out CKPT | finetune ..."},
    {"fit-scaling", soma_cli_fit_scaling, "fit a scaling law to a sweep: soma fit-scaling RESULTS.jsonl [--law nd]"},
    {"version", cmd_version_, "version and build"},
    {"help", cmd_help_, "this text"},
};

static int cmd_help_(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("soma %s -- neuroscience-inspired AI\n\nusage: soma COMMAND [options]   (soma COMMAND --help)\n\n",
           SOMA_VERSION);
    for (size_t i = 0; i < sizeof cmds_ / sizeof *cmds_; i++) printf("  %-8s %s\n", cmds_[i].name, cmds_[i].help);
    printf("\nEvery command takes --quiet. Options are --key value or --key=value, each at most once.\n");
    return 0;
}

void soma_cli_blas_reexec(char **argv); /* blas_core.c */

int main(int argc, char **argv) {
    soma_cli_blas_reexec(argv);
    if (soma_snn_register_layers() != SOMA_OK) return fail_(SOMA_ERR_INTERNAL); /* lif, rateT, ... in specs */
    if (argc < 2) {
        cmd_help_(0, NULL);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) return cmd_help_(0, NULL);
    if (!strcmp(argv[1], "--version")) return cmd_version_(0, NULL);
    for (size_t i = 0; i < sizeof cmds_ / sizeof *cmds_; i++)
        if (!strcmp(argv[1], cmds_[i].name)) return cmds_[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "soma: unknown command '%s' (see 'soma help')\n", argv[1]);
    return 2;
}
