// The soma command: argument parsing and dispatch only. It alone prints and exits:
// 0 on success, 2 on bad input (options, specs, files), 1 on internal failure.
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soma/exp.h"
#include "soma/plot.h"
#include "soma/soma.h"

// --- option tables ---------------------------------------------------------------------

typedef struct cli_opt {
    const char *name; /* without the leading -- */
    int flag;         /* 1: takes no value */
    const char *help;
    const char *value; /* parsed value (flags: "1") */
} cli_opt;

static int fail_(soma_status st) {
    fprintf(stderr, "soma: %s\n", soma_errmsg()[0] ? soma_errmsg() : soma_status_str(st));
    return soma_status_exit_code(st);
}

/* Parses --name value / --name=value / --flag into opts; positional args are refused. */
static soma_status parse_opts_(const char *cmd, int argc, char **argv, cli_opt *opts) {
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || !a[2])
            return soma_error(SOMA_ERR_ARG, "%s: unexpected argument '%s' (see 'soma %s --help')", cmd, a, cmd);
        const char *eq = strchr(a + 2, '=');
        size_t kl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        cli_opt *o = NULL;
        for (cli_opt *p = opts; p->name; p++)
            if (strlen(p->name) == kl && strncmp(p->name, a + 2, kl) == 0) o = p;
        if (!o) return soma_error(SOMA_ERR_ARG, "%s: unknown option '%.*s' (see 'soma %s --help')", cmd, (int)kl + 2, a, cmd);
        if (o->flag) {
            if (eq) return soma_error(SOMA_ERR_ARG, "%s: option --%s takes no value", cmd, o->name);
            o->value = "1";
        } else if (eq) {
            o->value = eq + 1;
        } else if (i + 1 < argc) {
            o->value = argv[++i];
        } else {
            return soma_error(SOMA_ERR_ARG, "%s: option --%s needs a value", cmd, o->name);
        }
    }
    return SOMA_OK;
}

static const char *opt_(const cli_opt *opts, const char *name) {
    for (const cli_opt *p = opts; p->name; p++)
        if (strcmp(p->name, name) == 0) return p->value;
    return NULL;
}

static void print_opts_(const cli_opt *opts) {
    for (const cli_opt *p = opts; p->name; p++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s", p->name, p->flag ? "" : " V");
        printf("  %-22s %s\n", left, p->help);
    }
}

static int wants_help_(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
    return 0;
}

static soma_status int_opt_(const cli_opt *o, const char *name, long lo, long hi, int *out) {
    const char *v = opt_(o, name);
    if (!v) return SOMA_OK;
    char what[64];
    snprintf(what, sizeof what, "--%s", name);
    long x;
    SOMA_TRY(soma_parse_long(what, v, lo, hi, &x));
    *out = (int)x;
    return SOMA_OK;
}

static soma_status float_opt_(const cli_opt *o, const char *name, double lo, double hi, float *out) {
    const char *v = opt_(o, name);
    if (!v) return SOMA_OK;
    char what[64];
    snprintf(what, sizeof what, "--%s", name);
    double x;
    SOMA_TRY(soma_parse_double(what, v, lo, hi, &x));
    *out = (float)x;
    return SOMA_OK;
}

static void print_json_(const cJSON *j) {
    char *s = cJSON_Print(j);
    if (s) {
        printf("%s\n", s);
        cJSON_free(s);
    }
}

// --- list ------------------------------------------------------------------------------

static int cmd_list_(int argc, char **argv) {
    if (argc > 0 && !wants_help_(argc, argv)) {
        soma_error(SOMA_ERR_ARG, "list: takes no arguments");
        return fail_(SOMA_ERR_ARG);
    }
    for (int i = 0; i < soma_exp_count(); i++) {
        const soma_experiment *e = soma_exp_get(i);
        printf("%-16s %s\n", e->name, e->summary);
    }
    return 0;
}

// --- run -------------------------------------------------------------------------------

static int cmd_run_(int argc, char **argv) {
    if (argc < 1 || (argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")))) {
        printf("usage: soma run NAME [--out DIR] [--seed S] [--threads T] [--quiet] [--KEY VALUE ...]\n"
               "Runs one experiment, writing DIR/NAME/results.json and its figures (DIR: out).\n"
               "'soma run NAME --help' lists its options; 'soma list' lists the experiments.\n");
        return argc < 1 ? 2 : 0;
    }
    const soma_experiment *e = soma_exp_find(argv[0]);
    if (!e) {
        soma_error(SOMA_ERR_ARG, "run: no experiment '%s' (see 'soma list')", argv[0]);
        return fail_(SOMA_ERR_ARG);
    }
    if (wants_help_(argc - 1, argv + 1)) {
        printf("soma run %s: %s\nlandmark: %s -- %s", e->name, e->summary, e->paper, e->figure);
        if (e->landmark == e->landmark) printf(": %g", e->landmark);
        printf("\noptions:\n");
        for (const soma_exp_opt *o = e->opts; o && o->key; o++) {
            char left[64];
            snprintf(left, sizeof left, "--%s V", o->key);
            printf("  %-22s %s (default: %s)\n", left, o->help, o->def[0] ? o->def : "\"\"");
        }
        printf("  %-22s %s\n  %-22s %s\n  %-22s %s\n  %-22s %s\n", "--out DIR", "output root (default: out)",
               "--seed S", "random seed (default 1)", "--threads T", "threads (default: all cores)", "--quiet",
               "no progress line");
        return 0;
    }
    const char *out = "out";
    const char **rest = calloc((size_t)argc, sizeof *rest);
    if (!rest) return 1;
    int nr = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strncmp(argv[i], "--out=", 6)) out = argv[i] + 6;
        else rest[nr++] = argv[i];
    }
    cJSON *res = NULL;
    soma_status st = soma_exp_run(e, nr, rest, out, &res);
    free(rest);
    if (st != SOMA_OK) return fail_(st);
    const cJSON *head = cJSON_GetObjectItemCaseSensitive(res, "headline");
    if (cJSON_IsString(head)) printf("%s\n", head->valuestring);
    const cJSON *ours = cJSON_GetObjectItemCaseSensitive(res, "ours");
    if (e->key) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(ours, e->key);
        if (cJSON_IsNumber(v)) {
            printf("%s: %s = %.4g", e->name, e->key, v->valuedouble);
            if (e->landmark == e->landmark) printf("  (landmark: %.4g, %s)", e->landmark, e->paper);
            printf("\n");
        }
    }
    const cJSON *pass = cJSON_GetObjectItemCaseSensitive(res, "pass");
    if (cJSON_IsBool(pass)) printf("%s: %s\n", e->name, cJSON_IsTrue(pass) ? "reproduced" : "NOT reproduced");
    const cJSON *sps = cJSON_GetObjectItemCaseSensitive(ours, "samples_per_second");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(ours, "train_seconds");
    if (cJSON_IsNumber(sps) && cJSON_IsNumber(ts))
        printf("%s: trained in %.1f s, %.0f samples/s\n", e->name, ts->valuedouble, sps->valuedouble);
    printf("results: %s/%s/results.json\n", out, e->name);
    cJSON_Delete(res);
    return 0;
}

// --- train / eval ----------------------------------------------------------------------

static cli_opt train_opts_[] = {
    {"data", 0, "data: fmnist | idx:IMAGES,LABELS[;TEST_IMAGES,TEST_LABELS] | npy:X,Y (required)", NULL},
    {"net", 0, "network spec, e.g. \"conv5x5x6p2,relu,maxpool2,fc10\" (required)", NULL},
    {"epochs", 0, "passes over the training set (default 10)", NULL},
    {"batch", 0, "mini-batch size (default 64)", NULL},
    {"lr", 0, "learning rate (default 0.001)", NULL},
    {"lr-min", 0, "final learning rate of the cosine schedule (default 0)", NULL},
    {"sched", 0, "learning-rate schedule: constant | step | cosine (default constant)", NULL},
    {"step-size", 0, "epochs between decays of the step schedule (default 10)", NULL},
    {"gamma", 0, "decay factor of the step schedule (default 0.1)", NULL},
    {"optim", 0, "optimizer: sgd | adam | adamw (default adam)", NULL},
    {"momentum", 0, "SGD momentum (default 0.9)", NULL},
    {"weight-decay", 0, "weight decay (default 0)", NULL},
    {"threads", 0, "threads for OpenMP and BLAS (default: all cores)", NULL},
    {"seed", 0, "random seed (default 1)", NULL},
    {"out", 0, "write results.json and figures into this folder", NULL},
    {"init-npy", 0, "initialise parameters from DIR/<i>.weight.npy, DIR/<i>.bias.npy", NULL},
    {"save-npy", 0, "save parameters as NPY files (PyTorch layouts) into DIR", NULL},
    {"ckpt", 0, "checkpoint file written after every epoch", NULL},
    {"resume", 1, "continue from --ckpt if it exists", NULL},
    {"n-train", 0, "use only the first N training samples", NULL},
    {"n-test", 0, "use only the first N test samples", NULL},
    {"no-eval", 1, "do not evaluate on the test split", NULL},
    {"eval-end", 1, "evaluate only after the last epoch", NULL},
    {"fmnist-dir", 0, "Fashion-MNIST folder (default $SOMA_FMNIST_DIR, else Debian's)", NULL},
    {"quiet", 1, "no progress line", NULL},
    {NULL, 0, NULL, NULL},
};

static void train_help_(void) {
    char grammar[4096];
    soma_layer_grammar(grammar, sizeof grammar);
    printf("usage: soma train --data D --net SPEC [options]\n"
           "Trains a classifier by backprop and prints its results as JSON.\n\noptions:\n");
    print_opts_(train_opts_);
    printf("\nnetwork spec: comma-separated layers, applied in order:\n%s"
           "example: conv5x5x6p2,relu,maxpool2,conv5x5x16,relu,maxpool2,fc120,relu,fc84,relu,fc10\n",
           grammar);
}

static int cmd_train_(int argc, char **argv) {
    if (wants_help_(argc, argv)) {
        train_help_();
        return 0;
    }
    for (cli_opt *p = train_opts_; p->name; p++) p->value = NULL;
    soma_status st = parse_opts_("train", argc, argv, train_opts_);
    if (st != SOMA_OK) return fail_(st);
    soma_classify_config cfg = soma_classify_defaults();
    cfg.data = opt_(train_opts_, "data");
    cfg.net = opt_(train_opts_, "net");
    if (!cfg.data || !cfg.net) {
        soma_error(SOMA_ERR_ARG, "train: --data and --net are required (see 'soma train --help')");
        return fail_(SOMA_ERR_ARG);
    }
    int threads = soma_get_threads(), seed = 1;
    if ((st = int_opt_(train_opts_, "epochs", 1, 100000, &cfg.epochs)) ||
        (st = int_opt_(train_opts_, "batch", 1, 65536, &cfg.batch)) ||
        (st = float_opt_(train_opts_, "lr", 1e-9, 10, &cfg.lr)) ||
        (st = float_opt_(train_opts_, "lr-min", 0, 10, &cfg.lr_min)) ||
        (st = int_opt_(train_opts_, "step-size", 1, 1000000, &cfg.step_size)) ||
        (st = float_opt_(train_opts_, "gamma", 1e-6, 1, &cfg.gamma)) ||
        (st = float_opt_(train_opts_, "momentum", 0, 0.9999, &cfg.momentum)) ||
        (st = float_opt_(train_opts_, "weight-decay", 0, 10, &cfg.weight_decay)) ||
        (st = int_opt_(train_opts_, "threads", 1, 256, &threads)) ||
        (st = int_opt_(train_opts_, "seed", 0, 2147483647, &seed)) ||
        (st = int_opt_(train_opts_, "n-train", 1, 1 << 30, &cfg.n_train)) ||
        (st = int_opt_(train_opts_, "n-test", 1, 1 << 30, &cfg.n_test)))
        return fail_(st);
    if (opt_(train_opts_, "optim")) cfg.optim = opt_(train_opts_, "optim");
    if (opt_(train_opts_, "sched")) cfg.sched = opt_(train_opts_, "sched");
    cfg.seed = (uint64_t)seed;
    cfg.init_npy = opt_(train_opts_, "init-npy");
    cfg.save_npy = opt_(train_opts_, "save-npy");
    cfg.ckpt = opt_(train_opts_, "ckpt");
    cfg.resume = opt_(train_opts_, "resume") != NULL;
    if (cfg.resume && !cfg.ckpt) {
        soma_error(SOMA_ERR_ARG, "train: --resume needs --ckpt FILE");
        return fail_(SOMA_ERR_ARG);
    }
    cfg.eval = opt_(train_opts_, "no-eval") ? -1 : opt_(train_opts_, "eval-end") ? 0 : 1;
    cfg.fmnist_dir = opt_(train_opts_, "fmnist-dir");
    cfg.quiet = opt_(train_opts_, "quiet") != NULL;
    cfg.out_dir = opt_(train_opts_, "out");
    soma_set_threads(threads);
    if (cfg.out_dir && (st = soma_mkdir_p(cfg.out_dir)) != SOMA_OK) return fail_(st);
    cJSON *root = cJSON_CreateObject();
    cJSON *ours = cJSON_CreateObject();
    st = soma_classify_run(&cfg, ours);
    if (st != SOMA_OK) {
        cJSON_Delete(root);
        cJSON_Delete(ours);
        return fail_(st);
    }
    /* headline numbers first, then the setup */
    cJSON *it;
    cJSON_ArrayForEach(it, ours) if (!cJSON_IsArray(it)) cJSON_AddItemToObject(root, it->string, cJSON_Duplicate(it, 1));
    cJSON_AddStringToObject(root, "data", cfg.data);
    cJSON_AddStringToObject(root, "optim", cfg.optim);
    cJSON_AddNumberToObject(root, "batch", cfg.batch);
    cJSON_AddNumberToObject(root, "lr", cfg.lr);
    cJSON_AddNumberToObject(root, "seed", seed);
    cJSON_AddNumberToObject(root, "threads", threads);
    cJSON_AddStringToObject(root, "blas", soma_blas_name());
    if (cfg.out_dir) {
        cJSON *full = cJSON_Duplicate(root, 1);
        cJSON_AddStringToObject(full, "experiment", "train");
        cJSON_AddItemToObject(full, "ours", ours);
        ours = NULL;
        char path[4096];
        snprintf(path, sizeof path, "%s/results.json", cfg.out_dir);
        st = soma_json_write(path, full);
        cJSON_Delete(full);
        if (st != SOMA_OK) {
            cJSON_Delete(root);
            return fail_(st);
        }
    }
    cJSON_Delete(ours);
    print_json_(root);
    cJSON_Delete(root);
    return 0;
}

static cli_opt eval_opts_[] = {
    {"data", 0, "data (test split): fmnist | idx:... | npy:X,Y (required)", NULL},
    {"net", 0, "network spec (required)", NULL},
    {"init-npy", 0, "parameters as NPY files (PyTorch layouts) in DIR", NULL},
    {"ckpt", 0, "parameters from a soma checkpoint", NULL},
    {"threads", 0, "threads (default: all cores)", NULL},
    {"fmnist-dir", 0, "Fashion-MNIST folder", NULL},
    {NULL, 0, NULL, NULL},
};

static int cmd_eval_(int argc, char **argv) {
    if (wants_help_(argc, argv)) {
        printf("usage: soma eval --data D --net SPEC (--init-npy DIR | --ckpt FILE)\n"
               "Prints the test accuracy of a network as JSON.\n\noptions:\n");
        print_opts_(eval_opts_);
        return 0;
    }
    for (cli_opt *p = eval_opts_; p->name; p++) p->value = NULL;
    soma_status st = parse_opts_("eval", argc, argv, eval_opts_);
    if (st != SOMA_OK) return fail_(st);
    const char *data = opt_(eval_opts_, "data"), *net = opt_(eval_opts_, "net");
    const char *npy = opt_(eval_opts_, "init-npy"), *ckpt = opt_(eval_opts_, "ckpt");
    if (!data || !net || (!npy && !ckpt)) {
        soma_error(SOMA_ERR_ARG, "eval: --data, --net and one of --init-npy / --ckpt are required");
        return fail_(SOMA_ERR_ARG);
    }
    int threads = soma_get_threads();
    if ((st = int_opt_(eval_opts_, "threads", 1, 256, &threads)) != SOMA_OK) return fail_(st);
    soma_set_threads(threads);
    cJSON *res = cJSON_CreateObject();
    st = soma_classify_eval(data, opt_(eval_opts_, "fmnist-dir"), net, npy, ckpt, res);
    if (st != SOMA_OK) {
        cJSON_Delete(res);
        return fail_(st);
    }
    print_json_(res);
    cJSON_Delete(res);
    return 0;
}

// --- report ----------------------------------------------------------------------------

static cli_opt report_opts_[] = {
    {"out", 0, "the runs' folder (default: out)", NULL},
    {"html", 0, "the page to write (default: OUT/report.html)", NULL},
    {NULL, 0, NULL, NULL},
};

static int cmd_report_(int argc, char **argv) {
    if (wants_help_(argc, argv)) {
        printf("usage: soma report [--out DIR] [--html FILE]\n"
               "Builds one self-contained HTML page of every run in DIR.\n\noptions:\n");
        print_opts_(report_opts_);
        return 0;
    }
    for (cli_opt *p = report_opts_; p->name; p++) p->value = NULL;
    soma_status st = parse_opts_("report", argc, argv, report_opts_);
    if (st != SOMA_OK) return fail_(st);
    const char *out = opt_(report_opts_, "out") ? opt_(report_opts_, "out") : "out";
    char html[4096];
    if (opt_(report_opts_, "html")) snprintf(html, sizeof html, "%s", opt_(report_opts_, "html"));
    else snprintf(html, sizeof html, "%s/report.html", out);
    if ((st = soma_report_build(out, html)) != SOMA_OK) return fail_(st);
    printf("report: %s\n", html);
    return 0;
}

// --- dispatch --------------------------------------------------------------------------

static int cmd_version_(int argc, char **argv) {
    (void)argc;
    (void)argv;
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
    {"report", cmd_report_, "one HTML page of every run: soma report [--out DIR]"},
    {"version", cmd_version_, "version and build"},
    {"help", cmd_help_, "this text"},
};

static int cmd_help_(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("soma %s -- neuroscience-inspired AI\n\nusage: soma COMMAND [options]   (soma COMMAND --help)\n\n",
           SOMA_VERSION);
    for (size_t i = 0; i < sizeof cmds_ / sizeof *cmds_; i++) printf("  %-8s %s\n", cmds_[i].name, cmds_[i].help);
    return 0;
}

void soma_cli_blas_reexec(char **argv); /* blas_core.c */

int main(int argc, char **argv) {
    soma_cli_blas_reexec(argv);
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
