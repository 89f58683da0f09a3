// soma rdm | rsa | cka | encode | geometry: the analyses of src/analysis on the user's own
// data (NPY of any numeric dtype, or CSV). Each prints one JSON object on stdout, writes its
// outputs atomically (the io writers do), and draws an SVG figure with -f/--figure PATH (or
// beside -o OUT as OUT's name with .svg). Bad input (a missing file, a wrong shape, NaN, a
// size mismatch, an unknown option) is one "soma: ..." line on stderr and exit 2.
// User guide: docs/analysis-cli.md.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

#include "soma/analysis.h"
#include "soma/exp.h"
#include "soma/io.h"
#include "soma/plot.h"
#include "soma/soma.h"


#define END_OPTS {NULL, 0, NULL, 0, 0, NULL, NULL, 0}
#define OUT_OPT(what) {"out", SOMA_OPT_STR, NULL, 0, 0, NULL, what " (also -o; .npy or .csv)", 0}
#define FIG_OPT {"figure", SOMA_OPT_STR, NULL, 0, 0, NULL, "the SVG figure to write (also -f)", 0}
#define FIG_OUT_OPT {"figure", SOMA_OPT_STR, NULL, 0, 0, NULL, "the SVG figure to write (also -f; default: beside -o)", 0}
#define QUIET_OPT {"quiet", SOMA_OPT_FLAG, NULL, 0, 0, NULL, "print no JSON (the files are still written)", 0}
#define THREADS_OPT {"threads", SOMA_OPT_INT, NULL, 1, 256, NULL, "threads (default: all cores)", 0}
#define SEED_OPT {"seed", SOMA_OPT_INT, "0", 0, 2147483647, NULL, "random seed", 0}
#define MAX_POS 64 /* positional arguments (input files) */

static int fail_(soma_status st) {
    fprintf(stderr, "soma: %s\n", soma_errmsg()[0] ? soma_errmsg() : soma_status_str(st));
    return soma_status_exit_code(st);
}

// --- arguments ---------------------------------------------------------------------------

/* The end of every command's figure: saved to path when st is still SOMA_OK, freed either way,
 * and named in the JSON as "figure" once written. Returns the status to go on with. */
static soma_status fig_finish_(soma_fig *f, soma_status st, const char *path, cJSON *root) {
    if (st == SOMA_OK) st = soma_fig_save(f, path);
    soma_fig_free(f);
    if (st == SOMA_OK) cJSON_AddStringToObject(root, "figure", path);
    return st;
}

/* The files and the options of a command line. */
typedef struct cmdline_ {
    soma_args a;
    const char *pos[MAX_POS];
    int n_pos;
} cmdline_;

/* With --help (-h) anywhere: prints usage and options, returns 0. Else separates the
 * positional arguments (files) from the options (-o is --out, -f is --figure; an option that
 * takes a value takes the next argument), parses the options and checks the file count
 * (min_pos..max_pos); returns -1 when the command should go on, else the exit status. */
static int start_(const char *cmd, const char *usage, const soma_opt *opts, int argc, char **argv, int min_pos,
                  int max_pos, cmdline_ *c) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            soma_cli_print_opts(opts);
            return 0;
        }
    const char **rest = malloc(sizeof(char *) * (size_t)(argc + 1));
    if (!rest) return fail_(soma_error(SOMA_ERR_NOMEM, "%s: out of memory", cmd));
    int n_rest = 0;
    c->n_pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "-o")) s = "--out";
        else if (!strcmp(s, "-f")) s = "--figure";
        if (s[0] == '-' && s[1] == '-' && s[2]) {
            rest[n_rest++] = s;
            if (strchr(s, '=')) continue;
            const soma_opt *o = opts;
            while (o->key && strcmp(o->key, s + 2)) o++;
            if (o->key && o->type != SOMA_OPT_FLAG && i + 1 < argc) rest[n_rest++] = argv[++i];
        } else if (s[0] == '-' && s[1]) {
            free(rest);
            return fail_(soma_error(SOMA_ERR_ARG, "%s: unknown option '%s' (see 'soma %s --help')", cmd, s, cmd));
        } else if (c->n_pos < MAX_POS) {
            c->pos[c->n_pos++] = s;
        } else {
            free(rest);
            return fail_(soma_error(SOMA_ERR_ARG, "%s: more than %d files", cmd, MAX_POS));
        }
    }
    soma_status st = soma_args_parse(&c->a, cmd, opts, n_rest, rest);
    free(rest);
    if (st != SOMA_OK) return fail_(st);
    if (c->n_pos < min_pos || c->n_pos > max_pos) {
        soma_args_free(&c->a);
        if (min_pos == 0)
            st = soma_error(SOMA_ERR_ARG, "%s: at most %d input files, got %d (see 'soma %s --help')", cmd, max_pos,
                            c->n_pos, cmd);
        else if (min_pos == max_pos)
            st = soma_error(SOMA_ERR_ARG, "%s: want %d input file%s, got %d (see 'soma %s --help')", cmd, min_pos,
                            min_pos == 1 ? "" : "s", c->n_pos, cmd);
        else
            st = soma_error(SOMA_ERR_ARG, "%s: want %d to %d input files, got %d (see 'soma %s --help')", cmd, min_pos,
                            max_pos, c->n_pos, cmd);
        return fail_(st);
    }
    int t = soma_get_threads();
    if (soma_args_int(&c->a, "threads", &t) == SOMA_OK) soma_set_threads(t);
    return -1;
}

static int ends_with_(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcasecmp(s + n - k, suffix);
}

/* The figure's path: --figure, else OUT with its extension replaced by .svg, else none. */
static const char *figure_path_(const soma_args *a, char *buf, size_t cap) {
    const char *f = soma_args_str(a, "figure"), *o = soma_args_str(a, "out");
    if (f) return f;
    if (!o) return NULL;
    const char *dot = strrchr(o, '.'), *slash = strrchr(o, '/');
    size_t n = dot && (!slash || dot > slash) ? (size_t)(dot - o) : strlen(o);
    snprintf(buf, cap, "%.*s.svg", (int)n, o);
    return buf;
}

/* The file's name without folder and extension ("models/layer3.npy" -> "layer3"). */
static void base_name_(const char *path, char *buf, size_t cap) {
    const char *b = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    const char *dot = strrchr(b, '.');
    size_t n = dot && dot > b ? (size_t)(dot - b) : strlen(b);
    snprintf(buf, cap, "%.*s", (int)n, b);
}

// --- reading and writing matrices --------------------------------------------------------

/* A numeric array read as doubles: 1 to 3 dimensions. */
typedef struct mat_ {
    double *x;
    int ndim;
    int dim[3];
    long n;
} mat_;

static void mat_free_(mat_ *m) {
    soma_free(m->x);
    memset(m, 0, sizeof *m);
}

static void shape_str_(const mat_ *m, char *buf, size_t cap) {
    size_t u = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < m->ndim && u < cap; d++) u += (size_t)snprintf(buf + u, cap - u, "%s%d", d ? ", " : "", m->dim[d]);
    if (u < cap) snprintf(buf + u, cap - u, "]");
}

/* Reads path (NPY, or CSV when it ends in .csv) as doubles with 1..max_ndim dimensions, every
 * value finite; cmd names the command in messages. With flatten, an array of more than max_ndim
 * dimensions (a conv layer's activations [N, C, H, W] from soma predict --layer) becomes
 * [N, C*H*W]. */
static soma_status mat_read_(const char *cmd, const char *path, int max_ndim, int flatten, mat_ *m) {
    memset(m, 0, sizeof *m);
    if (ends_with_(path, ".csv")) {
        soma_tensor *t = NULL;
        soma_status st = soma_csv_read(path, &t, NULL);
        if (st != SOMA_OK) return soma_error_wrap(st, "%s", cmd);
        m->ndim = 2;
        m->dim[0] = t->shape[0];
        m->dim[1] = t->ndim > 1 ? t->shape[1] : 1;
        m->n = (long)t->n;
        m->x = soma_alloc((size_t)m->n, sizeof *m->x);
        if (!m->x) {
            soma_tensor_free(t);
            return soma_error(SOMA_ERR_NOMEM, "%s: %s: out of memory", cmd, path);
        }
        for (long i = 0; i < m->n; i++) m->x[i] = t->data[i];
        soma_tensor_free(t);
    } else {
        soma_array a;
        soma_status st = soma_npy_read(path, &a);
        if (st != SOMA_OK) return soma_error_wrap(st, "%s", cmd);
        if (a.ndim < 1 || (a.ndim > max_ndim && !flatten)) {
            int nd = a.ndim;
            soma_array_deinit(&a);
            return soma_error(SOMA_ERR_SHAPE, "%s: %s: %d-D array; want %s", cmd, path, nd,
                              max_ndim == 1 ? "1-D" : max_ndim == 2 ? "1-D or 2-D" : "1-D, 2-D or 3-D");
        }
        for (int d = 0; d < a.ndim; d++)
            if (a.shape[d] < 1 || a.shape[d] > 1000000000) {
                long long s = (long long)a.shape[d];
                soma_array_deinit(&a);
                return soma_error(SOMA_ERR_SHAPE, "%s: %s: dimension %d has size %lld", cmd, path, d, s);
            }
        m->ndim = a.ndim;
        for (int d = 0; d < a.ndim && d < 3; d++) m->dim[d] = (int)a.shape[d];
        if (a.ndim > max_ndim) { /* flatten: [N, everything else] */
            int64_t rest = (int64_t)a.n / a.shape[0];
            if (rest > 1000000000) {
                soma_array_deinit(&a);
                return soma_error(SOMA_ERR_SHAPE, "%s: %s: %lld features per row", cmd, path, (long long)rest);
            }
            m->ndim = 2;
            m->dim[1] = (int)rest;
        }
        m->n = (long)a.n;
        m->x = soma_alloc((size_t)m->n, sizeof *m->x);
        if (!m->x) {
            soma_array_deinit(&a);
            return soma_error(SOMA_ERR_NOMEM, "%s: %s: out of memory", cmd, path);
        }
        for (long i = 0; i < m->n; i++) m->x[i] = soma_array_get(&a, (size_t)i);
        soma_array_deinit(&a);
    }
    long row = m->n / m->dim[0];
    for (long i = 0; i < m->n; i++)
        if (!isfinite(m->x[i])) {
            double v = m->x[i];
            mat_free_(m);
            return soma_error(SOMA_ERR_ARG, "%s: %s: row %ld holds %s; HINT: drop or impute it", cmd, path, i / row,
                              isnan(v) ? "NaN" : "an infinite value");
        }
    return SOMA_OK;
}

/* Writes x (ndim 1..3, shape) as float64 NPY, or as CSV (float32, 1-D or 2-D, optional
 * header) when path ends in .csv. */
static soma_status mat_write_(const char *cmd, const char *path, const double *x, int ndim, const int64_t *shape,
                              const char *const *header) {
    if (!ends_with_(path, ".csv")) return soma_npy_write(path, SOMA_DTYPE_F64, ndim, shape, x);
    if (ndim > 2)
        return soma_error(SOMA_ERR_ARG, "%s: %s: a CSV holds one table, this is a %d-D array; HINT: write .npy",
                          cmd, path, ndim);
    int rows = (int)shape[0], cols = ndim == 2 ? (int)shape[1] : 1;
    float *f = soma_alloc((size_t)rows * cols, sizeof *f);
    if (!f) return soma_error(SOMA_ERR_NOMEM, "%s: out of memory", cmd);
    for (long i = 0; i < (long)rows * cols; i++) f[i] = (float)x[i];
    soma_status st = soma_csv_write(path, f, rows, cols, header);
    soma_free(f);
    return st;
}

static void add_num_(cJSON *o, const char *key, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

static cJSON *num_array_(const double *v, long n) {
    cJSON *arr = cJSON_CreateArray();
    for (long i = 0; i < n; i++) cJSON_AddItemToArray(arr, isfinite(v[i]) ? cJSON_CreateNumber(v[i]) : cJSON_CreateNull());
    return arr;
}

/* Prints j unless --quiet. */
static void print_json_(const soma_args *a, const cJSON *j) {
    if (soma_args_flag(a, "quiet")) return;
    char *s = cJSON_Print(j);
    if (s) {
        printf("%s\n", s);
        cJSON_free(s);
    }
}

/* Squared-Euclidean-like heatmap panel of a condensed RDM. */
static soma_status rdm_panel_(soma_fig *f, int panel, const double *rdm, int n, const char *title) {
    float *sq = soma_alloc((size_t)n * n, sizeof *sq);
    if (!sq) return soma_error(SOMA_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        sq[(size_t)i * n + i] = 0;
        for (int j = i + 1; j < n; j++) {
            float v = (float)rdm[soma_rdm_index(n, i, j)];
            sq[(size_t)i * n + j] = sq[(size_t)j * n + i] = v;
        }
    }
    soma_fig_labels(f, panel, title, "condition", "condition");
    soma_heatmap_opts ho = {.colorbar_label = "dissimilarity"};
    soma_status st = soma_fig_heatmap(f, panel, sq, n, n, &ho);
    soma_free(sq);
    return st;
}

// --- soma rdm ----------------------------------------------------------------------------

static const soma_opt rdm_opts_[] = {
    {"metric", SOMA_OPT_ENUM, "correlation", 0, 0, "euclidean|sqeuclidean|correlation|cosine|mahalanobis|crossnobis",
     "dissimilarity", 0},
    {"shrinkage", SOMA_OPT_FLOAT, "-1", -1, 1, NULL,
     "covariance shrinkage for mahalanobis/crossnobis in [0, 1]; < 0: Ledoit-Wolf", 0},
    OUT_OPT("the RDM file to write: [n, n] float64, [n_subj, n, n] for several inputs"),
    FIG_OUT_OPT,
    THREADS_OPT,
    QUIET_OPT,
    END_OPTS,
};

static const char rdm_usage_[] =
    "usage: soma rdm X.npy [X2.npy ...] [--metric M] [--shrinkage W] [-o RDM.npy] [-f FIG.svg]\n"
    "Representational dissimilarity matrix of each data file: X is conditions x features [n, p], or\n"
    "conditions x features x repetitions [n, p, r] (NPY; CSV is [n, p]); 4-D and more (a conv layer's\n"
    "activations [n, C, H, W]) are flattened to [n, C*H*W]. Several files (subjects, all\n"
    "with n conditions) give a stack [n_subj, n, n]. -o writes the full square float64 matrix (NPY)\n"
    "or a table (CSV, one subject); without -o the JSON holds the condensed RDM (\"rdm\", SciPy's\n"
    "pdist order). The figure is the RDM's heatmap (the mean over subjects for several).\n\noptions:\n";

int soma_cli_rdm(int argc, char **argv) {
    cmdline_ c;
    int rc = start_("rdm", rdm_usage_, rdm_opts_, argc, argv, 1, MAX_POS, &c);
    if (rc >= 0) return rc;
    soma_status st = SOMA_OK;
    soma_rdm_opts o = {0};
    double *rdms = NULL, *sq = NULL;
    mat_ m = {0};
    cJSON *root = NULL;
    int n = 0, ns = c.n_pos;
    long len = 0;
    if ((st = soma_rdm_metric_parse(soma_args_str(&c.a, "metric"), &o.metric)) != SOMA_OK ||
        (st = soma_args_double(&c.a, "shrinkage", &o.shrinkage)) != SOMA_OK)
        goto out;
    for (int s = 0; s < ns; s++) {
        if ((st = mat_read_("rdm", c.pos[s], 3, 1, &m)) != SOMA_OK) goto out;
        if (m.ndim < 2) {
            st = soma_error(SOMA_ERR_SHAPE, "rdm: %s: a 1-D array; want conditions x features [n, p] (or [n, p, reps])",
                            c.pos[s]);
            goto out;
        }
        if (s == 0) {
            n = m.dim[0];
            len = soma_rdm_len(n);
            if (n < 2) {
                st = soma_error(SOMA_ERR_ARG, "rdm: %s: %d condition; an RDM needs at least 2", c.pos[s], n);
                goto out;
            }
            rdms = soma_alloc((size_t)ns * (size_t)len, sizeof *rdms);
            if (!rdms) {
                st = soma_error(SOMA_ERR_NOMEM, "rdm: out of memory");
                goto out;
            }
        } else if (m.dim[0] != n) {
            st = soma_error(SOMA_ERR_SHAPE, "rdm: %s has %d conditions, %s has %d; every subject needs the same", c.pos[s],
                            m.dim[0], c.pos[0], n);
            goto out;
        }
        int n_rep = m.ndim == 3 ? m.dim[2] : 1;
        st = soma_rdm(m.x, n, m.dim[1], n_rep, &o, rdms + (size_t)s * len);
        if (st != SOMA_OK) {
            st = soma_error_wrap(st, "rdm: %s", c.pos[s]);
            goto out;
        }
        mat_free_(&m);
    }
    root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "metric", soma_rdm_metric_name(o.metric));
    cJSON_AddNumberToObject(root, "n", n);
    cJSON_AddNumberToObject(root, "subjects", ns);
    double lo = INFINITY, hi = -INFINITY, mean = 0;
    for (long k = 0; k < (long)ns * len; k++) {
        lo = fmin(lo, rdms[k]);
        hi = fmax(hi, rdms[k]);
        mean += rdms[k];
    }
    add_num_(root, "min", lo);
    add_num_(root, "max", hi);
    add_num_(root, "mean", mean / ((double)ns * len));
    const char *out = soma_args_str(&c.a, "out");
    if (out) {
        sq = soma_alloc((size_t)ns * n * n, sizeof *sq);
        if (!sq) {
            st = soma_error(SOMA_ERR_NOMEM, "rdm: out of memory");
            goto out;
        }
        for (int s = 0; s < ns; s++) soma_rdm_to_square(rdms + (size_t)s * len, n, sq + (size_t)s * n * n);
        int64_t shape[3] = {ns, n, n};
        if (ns == 1) st = mat_write_("rdm", out, sq, 2, shape + 1, NULL);
        else st = mat_write_("rdm", out, sq, 3, shape, NULL);
        if (st != SOMA_OK) goto out;
        cJSON_AddStringToObject(root, "out", out);
    } else if (ns == 1) {
        cJSON_AddItemToObject(root, "rdm", num_array_(rdms, len));
    } else {
        cJSON *arr = cJSON_AddArrayToObject(root, "rdm");
        for (int s = 0; s < ns; s++) cJSON_AddItemToArray(arr, num_array_(rdms + (size_t)s * len, len));
    }
    char fbuf[4096];
    const char *fig = figure_path_(&c.a, fbuf, sizeof fbuf);
    if (fig) {
        for (int s = 1; s < ns; s++) /* the mean over subjects, into the first */
            for (long k = 0; k < len; k++) rdms[k] += rdms[(size_t)s * len + k];
        for (long k = 0; ns > 1 && k < len; k++) rdms[k] /= ns;
        soma_fig *f = NULL;
        if ((st = soma_fig_new(&f, 1, 1, 620, 560)) != SOMA_OK) goto out;
        char title[256], name[128];
        base_name_(c.pos[0], name, sizeof name);
        if (ns == 1) snprintf(title, sizeof title, "RDM of %s (%s)", name, soma_rdm_metric_name(o.metric));
        else snprintf(title, sizeof title, "mean RDM of %d subjects (%s)", ns, soma_rdm_metric_name(o.metric));
        st = rdm_panel_(f, 0, rdms, n, title);
        st = fig_finish_(f, st, fig, root);
        if (st != SOMA_OK) goto out;
    }
    print_json_(&c.a, root);
out:
    cJSON_Delete(root);
    mat_free_(&m);
    soma_free(rdms);
    soma_free(sq);
    soma_args_free(&c.a);
    return st == SOMA_OK ? 0 : fail_(st);
}

// --- soma rsa ----------------------------------------------------------------------------

/* The condensed RDM in m: a square [n, n] (checked symmetric with a zero diagonal), or a
 * condensed [m] / [1, m] with m = n(n-1)/2. Replaces m->x by the condensed entries. */
static soma_status rdm_from_mat_(const char *path, mat_ *m, int *n) {
    char sh[96];
    shape_str_(m, sh, sizeof sh);
    if (m->ndim == 2 && m->dim[0] == m->dim[1] && m->dim[0] > 1) {
        *n = m->dim[0];
        double *c = soma_alloc((size_t)soma_rdm_len(*n), sizeof *c);
        if (!c) return soma_error(SOMA_ERR_NOMEM, "rsa: out of memory");
        soma_status st = soma_rdm_from_square(m->x, *n, c);
        if (st != SOMA_OK) {
            soma_free(c);
            return soma_error_wrap(st, "rsa: %s", path);
        }
        soma_free(m->x);
        m->x = c;
        m->n = soma_rdm_len(*n);
        return SOMA_OK;
    }
    if (m->ndim == 1 || (m->ndim == 2 && m->dim[0] == 1)) {
        long len = m->n;
        int k = (int)floor((1 + sqrt(1 + 8.0 * (double)len)) / 2 + 0.5);
        if (soma_rdm_len(k) != len)
            return soma_error(SOMA_ERR_SHAPE, "rsa: %s: %ld entries is not n(n-1)/2 for any n: not a condensed RDM",
                              path, len);
        *n = k;
        return SOMA_OK;
    }
    return soma_error(SOMA_ERR_SHAPE, "rsa: %s: shape %s is neither a square RDM [n, n] nor a condensed one [n(n-1)/2]",
                      path, sh);
}

static const soma_opt rsa_opts_[] = {
    {"method", SOMA_OPT_ENUM, "spearman", 0, 0, "pearson|spearman|kendall-tau-a|cosine|whitened-cosine",
     "how to compare RDMs", 0},
    {"permutations", SOMA_OPT_INT, "0", 0, 100000000, NULL, "condition-label permutations for a p value (pair form)", 0},
    SEED_OPT,
    {"models", SOMA_OPT_STR, NULL, 0, 0, NULL, "model RDM files, comma-separated (model-comparison form)", 0},
    {"names", SOMA_OPT_STR, NULL, 0, 0, NULL, "the models' names, comma-separated (default: file names)", 0},
    {"data", SOMA_OPT_STR, NULL, 0, 0, NULL, "subjects' data RDMs: [n_subj, n, n] or [n_subj, n(n-1)/2]", 0},
    {"bootstrap", SOMA_OPT_ENUM, "none", 0, 0, "none|subjects|conditions|both",
     "what to resample for se and p (none: across-subject t statistics)", 0},
    {"boot", SOMA_OPT_INT, "1000", 10, 1000000, NULL, "bootstrap samples", 0},
    {"correct", SOMA_OPT_ENUM, "holm", 0, 0, "none|holm|fdr", "multiple-comparison correction of pairwise p", 0},
    FIG_OPT,
    THREADS_OPT,
    QUIET_OPT,
    END_OPTS,
};

static const char rsa_usage_[] =
    "usage: soma rsa RDM_A.npy RDM_B.npy [--method M] [--permutations K --seed S] [-f FIG.svg]\n"
    "       soma rsa --models M1.npy,M2.npy,... --data SUBJECTS.npy [--method M]\n"
    "                [--bootstrap subjects|conditions|both --boot K] [--correct holm|fdr] [-f FIG.svg]\n"
    "Compares RDMs (square [n, n] or condensed [n(n-1)/2], NPY or CSV). The pair form prints the\n"
    "value (and p, one-sided, with --permutations). The model-comparison form scores each model\n"
    "against every subject's RDM (--data [n_subj, n, n] or [n_subj, n(n-1)/2]) and prints per model\n"
    "score, se and p (score <= 0), the pairwise p matrix (corrected) and the noise ceiling; its\n"
    "figure is a bar plot with se whiskers and the ceiling as a grey band.\n\noptions:\n";

static soma_status rsa_pair_(const cmdline_ *c, soma_rsa_method method, cJSON *root) {
    mat_ a = {0}, b = {0};
    int na = 0, nb = 0, perms = 0, seed = 0;
    soma_status st;
    if ((st = soma_args_int(&c->a, "permutations", &perms)) != SOMA_OK || (st = soma_args_int(&c->a, "seed", &seed)) != SOMA_OK)
        return st;
    if ((st = mat_read_("rsa", c->pos[0], 2, 0, &a)) != SOMA_OK || (st = rdm_from_mat_(c->pos[0], &a, &na)) != SOMA_OK ||
        (st = mat_read_("rsa", c->pos[1], 2, 0, &b)) != SOMA_OK || (st = rdm_from_mat_(c->pos[1], &b, &nb)) != SOMA_OK)
        goto out;
    if (na != nb) {
        st = soma_error(SOMA_ERR_SHAPE, "rsa: %s has %d conditions, %s has %d; compare RDMs of the same conditions",
                        c->pos[0], na, c->pos[1], nb);
        goto out;
    }
    double value = NAN, p = NAN;
    if (perms > 0) st = soma_rsa_permtest(a.x, b.x, na, method, perms, (uint64_t)seed, &value, &p);
    else st = soma_rsa_compare(a.x, b.x, na, method, &value);
    if (st != SOMA_OK) {
        st = soma_error_wrap(st, "rsa");
        goto out;
    }
    cJSON_AddStringToObject(root, "method", soma_rsa_method_name(method));
    cJSON_AddNumberToObject(root, "n", na);
    add_num_(root, "value", value);
    if (perms > 0) {
        add_num_(root, "p", p);
        cJSON_AddNumberToObject(root, "permutations", perms);
        cJSON_AddNumberToObject(root, "seed", seed);
    }
    char fbuf[4096];
    const char *fig = figure_path_(&c->a, fbuf, sizeof fbuf);
    if (fig) {
        soma_fig *f = NULL;
        if ((st = soma_fig_new(&f, 1, 3, 1500, 480)) != SOMA_OK) goto out;
        char title[256], name[128];
        snprintf(title, sizeof title, "%s: %s = %.4g", soma_rsa_method_name(method), "value", value);
        soma_fig_title(f, title);
        base_name_(c->pos[0], name, sizeof name);
        st = rdm_panel_(f, 0, a.x, na, name);
        base_name_(c->pos[1], name, sizeof name);
        if (st == SOMA_OK) st = rdm_panel_(f, 1, b.x, nb, name);
        long m = soma_rdm_len(na);
        float *x = soma_alloc((size_t)m, sizeof *x), *y = soma_alloc((size_t)m, sizeof *y);
        if (st == SOMA_OK && (!x || !y)) st = soma_error(SOMA_ERR_NOMEM, "rsa: out of memory");
        if (st == SOMA_OK) {
            for (long k = 0; k < m; k++) x[k] = (float)a.x[k], y[k] = (float)b.x[k];
            char xl[160], yl[160];
            base_name_(c->pos[0], xl, sizeof xl);
            base_name_(c->pos[1], yl, sizeof yl);
            soma_fig_labels(f, 2, "pairs of conditions", xl, yl);
            st = soma_fig_scatter(f, 2, x, y, NULL, (int)m, NULL, 0);
        }
        soma_free(x);
        soma_free(y);
        st = fig_finish_(f, st, fig, root);
    }
out:
    mat_free_(&a);
    mat_free_(&b);
    return st;
}

/* Splits a comma-separated list in place into at most cap items. */
static int split_list_(char *s, char **items, int cap) {
    int k = 0;
    for (char *t = strtok(s, ","); t && k < cap; t = strtok(NULL, ",")) items[k++] = t;
    return k;
}

static soma_status rsa_models_(const cmdline_ *c, soma_rsa_method method, cJSON *root) {
    soma_status st = SOMA_OK;
    char *list = NULL, *names_s = NULL, *files[MAX_POS], *names[MAX_POS], nbuf[MAX_POS][128];
    mat_ d = {0}, mm = {0};
    double *models = NULL, *data = NULL;
    soma_rsa_eval ev;
    memset(&ev, 0, sizeof ev);
    int have_eval = 0;
    const char *data_path = soma_args_str(&c->a, "data");
    if (!data_path || !soma_args_str(&c->a, "models"))
        return soma_error(SOMA_ERR_ARG, "rsa: --models and --data go together (see 'soma rsa --help')");
    if (c->n_pos)
        return soma_error(SOMA_ERR_ARG, "rsa: give either two RDM files or --models with --data, not both");
    list = strdup(soma_args_str(&c->a, "models"));
    if (!list) return soma_error(SOMA_ERR_NOMEM, "rsa: out of memory");
    int nm = split_list_(list, files, MAX_POS);
    if (nm < 1) {
        st = soma_error(SOMA_ERR_ARG, "rsa: --models: no file named");
        goto out;
    }
    if (soma_args_str(&c->a, "names")) {
        names_s = strdup(soma_args_str(&c->a, "names"));
        if (!names_s) {
            st = soma_error(SOMA_ERR_NOMEM, "rsa: out of memory");
            goto out;
        }
        int k = split_list_(names_s, names, MAX_POS);
        if (k != nm) {
            st = soma_error(SOMA_ERR_ARG, "rsa: --names gives %d names for %d models", k, nm);
            goto out;
        }
    } else {
        for (int i = 0; i < nm; i++) base_name_(files[i], nbuf[i], sizeof nbuf[i]), names[i] = nbuf[i];
    }
    /* the subjects' RDMs */
    if ((st = mat_read_("rsa", data_path, 3, 0, &d)) != SOMA_OK) goto out;
    int n = 0, n_subj = d.dim[0];
    long len = 0;
    char sh[96];
    shape_str_(&d, sh, sizeof sh);
    if (d.ndim == 3 && d.dim[1] == d.dim[2] && d.dim[1] > 1) {
        n = d.dim[1];
        len = soma_rdm_len(n);
        data = soma_alloc((size_t)n_subj * len, sizeof *data);
        if (!data) {
            st = soma_error(SOMA_ERR_NOMEM, "rsa: out of memory");
            goto out;
        }
        for (int s = 0; s < n_subj; s++)
            if ((st = soma_rdm_from_square(d.x + (size_t)s * n * n, n, data + (size_t)s * len)) != SOMA_OK) {
                st = soma_error_wrap(st, "rsa: %s: subject %d", data_path, s);
                goto out;
            }
    } else if (d.ndim == 2) {
        len = d.dim[1];
        n = (int)floor((1 + sqrt(1 + 8.0 * (double)len)) / 2 + 0.5);
        if (soma_rdm_len(n) != len) {
            st = soma_error(SOMA_ERR_SHAPE, "rsa: %s: %ld entries per subject is not n(n-1)/2 for any n", data_path, len);
            goto out;
        }
        data = d.x;
        d.x = NULL;
    } else {
        st = soma_error(SOMA_ERR_SHAPE, "rsa: --data %s: shape %s; want [n_subj, n, n] or [n_subj, n(n-1)/2]", data_path,
                        sh);
        goto out;
    }
    if (n_subj < 2) {
        st = soma_error(SOMA_ERR_ARG, "rsa: --data %s holds %d subject; the noise ceiling and se need at least 2",
                        data_path, n_subj);
        goto out;
    }
    models = soma_alloc((size_t)nm * len, sizeof *models);
    if (!models) {
        st = soma_error(SOMA_ERR_NOMEM, "rsa: out of memory");
        goto out;
    }
    for (int i = 0; i < nm; i++) {
        int k = 0;
        if ((st = mat_read_("rsa", files[i], 2, 0, &mm)) != SOMA_OK || (st = rdm_from_mat_(files[i], &mm, &k)) != SOMA_OK)
            goto out;
        if (k != n) {
            st = soma_error(SOMA_ERR_SHAPE, "rsa: model %s has %d conditions, the data %s have %d", files[i], k, data_path,
                            n);
            goto out;
        }
        memcpy(models + (size_t)i * len, mm.x, sizeof(double) * (size_t)len);
        mat_free_(&mm);
    }
    soma_rsa_eval_opts eo = {.method = method};
    const char *boot = soma_args_str(&c->a, "bootstrap"), *corr = soma_args_str(&c->a, "correct");
    eo.boot = !strcmp(boot, "subjects") ? SOMA_BOOT_SUBJECTS : !strcmp(boot, "conditions") ? SOMA_BOOT_CONDITIONS
              : !strcmp(boot, "both")   ? SOMA_BOOT_BOTH : SOMA_BOOT_NONE;
    eo.correct = !strcmp(corr, "holm") ? SOMA_CORRECT_HOLM : !strcmp(corr, "fdr") ? SOMA_CORRECT_FDR : SOMA_CORRECT_NONE;
    int seed = 0;
    if ((st = soma_args_int(&c->a, "boot", &eo.n_boot)) != SOMA_OK || (st = soma_args_int(&c->a, "seed", &seed)) != SOMA_OK)
        goto out;
    eo.seed = (uint64_t)seed;
    if ((st = soma_rsa_evaluate(models, nm, data, n_subj, n, &eo, &ev)) != SOMA_OK) {
        st = soma_error_wrap(st, "rsa");
        goto out;
    }
    have_eval = 1;
    cJSON_AddStringToObject(root, "method", soma_rsa_method_name(method));
    cJSON_AddNumberToObject(root, "n", n);
    cJSON_AddNumberToObject(root, "n_subj", n_subj);
    cJSON_AddStringToObject(root, "bootstrap", boot);
    if (eo.boot != SOMA_BOOT_NONE) cJSON_AddNumberToObject(root, "boot", eo.n_boot);
    cJSON_AddStringToObject(root, "correct", corr);
    cJSON_AddNumberToObject(root, "seed", seed);
    cJSON *arr = cJSON_AddArrayToObject(root, "models");
    for (int i = 0; i < nm; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", names[i]);
        cJSON_AddStringToObject(o, "file", files[i]);
        add_num_(o, "score", ev.score[i]);
        add_num_(o, "se", ev.se[i]);
        add_num_(o, "p", ev.p_zero[i]);
        cJSON_AddItemToObject(o, "subjects", num_array_(ev.subj + (size_t)i * n_subj, n_subj));
        cJSON_AddItemToArray(arr, o);
    }
    cJSON *pp = cJSON_AddArrayToObject(root, "pairwise_p");
    for (int i = 0; i < nm; i++) cJSON_AddItemToArray(pp, num_array_(ev.p_pair + (size_t)i * nm, nm));
    cJSON *nc = cJSON_AddObjectToObject(root, "noise_ceiling");
    add_num_(nc, "lower", ev.ceil_lower);
    add_num_(nc, "upper", ev.ceil_upper);
    char fbuf[4096];
    const char *fig = figure_path_(&c->a, fbuf, sizeof fbuf);
    if (fig) {
        float v[MAX_POS], e[MAX_POS];
        for (int i = 0; i < nm; i++) v[i] = (float)ev.score[i], e[i] = (float)ev.se[i];
        soma_fig *f = NULL;
        int width = 200 + 80 * nm < 560 ? 560 : 200 + 80 * nm;
        if ((st = soma_fig_new(&f, 1, 1, width > 8000 ? 8000 : width, 460)) != SOMA_OK) goto out;
        char ylab[96];
        snprintf(ylab, sizeof ylab, "RDM correlation (%s)", soma_rsa_method_name(method));
        soma_fig_labels(f, 0, "models vs data: mean over subjects +- se", "model", ylab);
        if (isfinite(ev.ceil_lower) && isfinite(ev.ceil_upper) && ev.ceil_lower <= ev.ceil_upper)
            st = soma_fig_hband(f, 0, (float)ev.ceil_lower, (float)ev.ceil_upper, "noise ceiling");
        if (st == SOMA_OK) st = soma_fig_bars(f, 0, v, e, nm, (const char *const *)names, 0);
        st = fig_finish_(f, st, fig, root);
    }
out:
    if (have_eval) soma_rsa_eval_free(&ev);
    free(list);
    free(names_s);
    mat_free_(&d);
    mat_free_(&mm);
    soma_free(models);
    soma_free(data);
    return st;
}

int soma_cli_rsa(int argc, char **argv) {
    cmdline_ c;
    int rc = start_("rsa", rsa_usage_, rsa_opts_, argc, argv, 0, 2, &c);
    if (rc >= 0) return rc;
    soma_status st;
    soma_rsa_method method;
    cJSON *root = cJSON_CreateObject();
    if ((st = soma_rsa_method_parse(soma_args_str(&c.a, "method"), &method)) != SOMA_OK) goto out;
    static const char *const model_only[] = {"names", "bootstrap", "boot", "correct"};
    int model_form = soma_args_given(&c.a, "models") || soma_args_given(&c.a, "data");
    for (int i = 0; i < 4 && !model_form; i++)
        if (soma_args_given(&c.a, model_only[i])) {
            st = soma_error(SOMA_ERR_ARG, "rsa: --%s belongs to the model comparison (--models with --data)", model_only[i]);
            goto out;
        }
    if (model_form && soma_args_given(&c.a, "permutations")) {
        st = soma_error(SOMA_ERR_ARG, "rsa: --permutations tests one pair of RDMs; the model comparison takes "
                                      "--bootstrap");
        goto out;
    }
    if (model_form) st = rsa_models_(&c, method, root);
    else if (c.n_pos != 2)
        st = soma_error(SOMA_ERR_ARG, "rsa: want two RDM files, or --models with --data (see 'soma rsa --help')");
    else st = rsa_pair_(&c, method, root);
    if (st == SOMA_OK) print_json_(&c.a, root);
out:
    cJSON_Delete(root);
    soma_args_free(&c.a);
    return st == SOMA_OK ? 0 : fail_(st);
}

// --- soma cka ----------------------------------------------------------------------------

static const soma_opt cka_opts_[] = {
    {"kernel", SOMA_OPT_ENUM, "linear", 0, 0, "linear|rbf", "kernel", 0},
    {"unbiased", SOMA_OPT_FLAG, NULL, 0, 0, NULL, "the unbiased HSIC estimator (n >= 4)", 0},
    {"sigma", SOMA_OPT_FLOAT, "1", 1e-6, 1e6, NULL, "RBF bandwidth as a fraction of the median distance", 0},
    FIG_OPT,
    THREADS_OPT,
    QUIET_OPT,
    END_OPTS,
};

static const char cka_usage_[] =
    "usage: soma cka A.npy B.npy [--kernel linear|rbf] [--unbiased] [--sigma F] [-f FIG.svg]\n"
    "Centered kernel alignment of two representations of the same n stimuli (A [n, p], B [n, q],\n"
    "NPY or CSV; more dimensions, as a conv layer's [n, C, H, W], are flattened to [n, C*H*W]), and\n"
    "their Procrustes distance and angle. Prints value, procrustes and\n"
    "procrustes_angle. The figure shows both stimulus-by-stimulus similarity (centered Gram)\n"
    "matrices.\n\noptions:\n";

/* The centered linear Gram matrix (X - mean)(X - mean)' of X [n, p] as a heatmap panel (float,
 * through soma_gemm: a figure needs no double precision). */
static soma_status gram_panel_(soma_fig *f, int panel, const double *X, int n, int p, const char *title) {
    double *mu = soma_calloc((size_t)p, sizeof *mu);
    float *xc = soma_alloc((size_t)n * p, sizeof *xc), *g = soma_alloc((size_t)n * n, sizeof *g);
    soma_status st = SOMA_OK;
    if (!mu || !xc || !g) st = soma_error(SOMA_ERR_NOMEM, "cka: out of memory");
    if (st == SOMA_OK) {
        for (int i = 0; i < n; i++)
            for (int j = 0; j < p; j++) mu[j] += X[(size_t)i * p + j] / n;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < p; j++) xc[(size_t)i * p + j] = (float)(X[(size_t)i * p + j] - mu[j]);
        soma_gemm(0, 1, n, n, p, 1.f, xc, p, xc, p, 0.f, g, n);
        soma_fig_labels(f, panel, title, "stimulus", "stimulus");
        soma_heatmap_opts ho = {.colorbar_label = "centered similarity"};
        st = soma_fig_heatmap(f, panel, g, n, n, &ho);
    }
    soma_free(mu);
    soma_free(xc);
    soma_free(g);
    return st;
}

int soma_cli_cka(int argc, char **argv) {
    cmdline_ c;
    int rc = start_("cka", cka_usage_, cka_opts_, argc, argv, 2, 2, &c);
    if (rc >= 0) return rc;
    soma_status st;
    mat_ A = {0}, B = {0};
    cJSON *root = NULL;
    soma_cka_opts o = {.kernel = strcmp(soma_args_str(&c.a, "kernel"), "rbf") ? SOMA_CKA_LINEAR : SOMA_CKA_RBF,
                       .unbiased = soma_args_flag(&c.a, "unbiased")};
    if ((st = soma_args_double(&c.a, "sigma", &o.sigma_frac)) != SOMA_OK) goto out;
    if ((st = mat_read_("cka", c.pos[0], 2, 1, &A)) != SOMA_OK || (st = mat_read_("cka", c.pos[1], 2, 1, &B)) != SOMA_OK)
        goto out;
    int n = A.dim[0], p = A.ndim == 2 ? A.dim[1] : 1, q = B.ndim == 2 ? B.dim[1] : 1;
    if (B.dim[0] != n) {
        st = soma_error(SOMA_ERR_SHAPE, "cka: %s has %d rows, %s has %d rows; the rows must be the same stimuli",
                        c.pos[0], n, c.pos[1], B.dim[0]);
        goto out;
    }
    double value = NAN, dist = NAN, angle = NAN;
    if ((st = soma_cka(A.x, p, B.x, q, n, &o, &value)) != SOMA_OK || (st = soma_procrustes(A.x, p, B.x, q, n, &dist, &angle)) != SOMA_OK) {
        st = soma_error_wrap(st, "cka");
        goto out;
    }
    root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "kernel", o.kernel == SOMA_CKA_RBF ? "rbf" : "linear");
    cJSON_AddBoolToObject(root, "unbiased", o.unbiased);
    if (o.kernel == SOMA_CKA_RBF) cJSON_AddNumberToObject(root, "sigma", o.sigma_frac);
    cJSON_AddNumberToObject(root, "n", n);
    cJSON_AddNumberToObject(root, "p", p);
    cJSON_AddNumberToObject(root, "q", q);
    add_num_(root, "value", value);
    add_num_(root, "procrustes", dist);
    add_num_(root, "procrustes_angle", angle);
    char fbuf[4096];
    const char *fig = figure_path_(&c.a, fbuf, sizeof fbuf);
    if (fig) {
        soma_fig *f = NULL;
        if ((st = soma_fig_new(&f, 1, 2, 1100, 520)) != SOMA_OK) goto out;
        char title[200], name[128];
        snprintf(title, sizeof title, "CKA (%s%s) = %.4f, Procrustes distance %.4f", o.kernel == SOMA_CKA_RBF ? "rbf" : "linear",
                 o.unbiased ? ", unbiased" : "", value, dist);
        soma_fig_title(f, title);
        base_name_(c.pos[0], name, sizeof name);
        st = gram_panel_(f, 0, A.x, n, p, name);
        base_name_(c.pos[1], name, sizeof name);
        if (st == SOMA_OK) st = gram_panel_(f, 1, B.x, n, q, name);
        st = fig_finish_(f, st, fig, root);
        if (st != SOMA_OK) goto out;
    }
    print_json_(&c.a, root);
out:
    cJSON_Delete(root);
    mat_free_(&A);
    mat_free_(&B);
    soma_args_free(&c.a);
    return st == SOMA_OK ? 0 : fail_(st);
}

// --- soma encode -------------------------------------------------------------------------

static const soma_opt encode_opts_[] = {
    {"folds", SOMA_OPT_INT, "5", 2, 1000, NULL, "cross-validation folds (outer, and inner for alpha)", 0},
    {"alphas", SOMA_OPT_STR, NULL, 0, 0, NULL, "ridge penalties, comma-separated (default 1e-2..1e6, 17 values)", 0},
    SEED_OPT,
    OUT_OPT("per-target table [q, 4]: r, r2, ceiling, alpha"),
    FIG_OUT_OPT,
    THREADS_OPT,
    QUIET_OPT,
    END_OPTS,
};

static const char encode_usage_[] =
    "usage: soma encode FEATURES.npy RESPONSES.npy [--folds K] [--alphas a,b,c] [--seed S] [-o T.npy] [-f FIG.svg]\n"
    "A ridge encoding model from model features X [n, p] (more dimensions are flattened to [n, p])\n"
    "to recorded responses Y [n, q] or\n"
    "[n, q, reps] (NPY; CSV is [n, q]), evaluated by k-fold cross-validation with the penalty\n"
    "chosen per target by inner cross-validation. Prints mean_r, mean_r2, mean_ceiling,\n"
    "mean_r_norm and the per-target arrays r, r2, ceiling (split-half, Spearman-Brown; null with one\n"
    "repetition) and alpha. -o writes the per-target table; the figure plots r per target against\n"
    "sqrt(ceiling) (or per target index without repetitions).\n\noptions:\n";

int soma_cli_encode(int argc, char **argv) {
    cmdline_ c;
    int rc = start_("encode", encode_usage_, encode_opts_, argc, argv, 2, 2, &c);
    if (rc >= 0) return rc;
    soma_status st;
    mat_ X = {0}, Y = {0};
    cJSON *root = NULL;
    double *alphas = NULL, *table = NULL;
    soma_encode_result r;
    memset(&r, 0, sizeof r);
    int have_r = 0, seed = 0;
    soma_ridge_opts o = soma_ridge_opts_default();
    if ((st = soma_args_int(&c.a, "folds", &o.folds)) != SOMA_OK || (st = soma_args_int(&c.a, "seed", &seed)) != SOMA_OK)
        goto out;
    o.seed = (uint64_t)seed;
    const char *al = soma_args_str(&c.a, "alphas");
    if (al) {
        int cap = 1;
        for (const char *s = al; *s; s++) cap += *s == ',';
        alphas = soma_alloc((size_t)cap, sizeof *alphas);
        if (!alphas) {
            st = soma_error(SOMA_ERR_NOMEM, "encode: out of memory");
            goto out;
        }
        const char *s = al;
        for (int k = 0; k < cap; k++) {
            char item[64];
            size_t len = strcspn(s, ",");
            snprintf(item, sizeof item, "%.*s", (int)(len < 63 ? len : 63), s);
            if ((st = soma_parse_double("encode: --alphas", item, 0, 1e300, &alphas[k])) != SOMA_OK) goto out;
            s += len + (s[len] == ',');
        }
        o.alphas = alphas;
        o.n_alphas = cap;
    }
    if ((st = mat_read_("encode", c.pos[0], 2, 1, &X)) != SOMA_OK || (st = mat_read_("encode", c.pos[1], 3, 0, &Y)) != SOMA_OK)
        goto out;
    int n = X.dim[0], p = X.ndim == 2 ? X.dim[1] : 1, q = Y.ndim >= 2 ? Y.dim[1] : 1, reps = Y.ndim == 3 ? Y.dim[2] : 1;
    if (Y.dim[0] != n) {
        st = soma_error(SOMA_ERR_SHAPE, "encode: %s has %d rows, %s has %d rows; the rows must be the same stimuli",
                        c.pos[0], n, c.pos[1], Y.dim[0]);
        goto out;
    }
    if ((st = soma_encode(X.x, n, p, Y.x, q, reps, &o, &r)) != SOMA_OK) {
        st = soma_error_wrap(st, "encode");
        goto out;
    }
    have_r = 1;
    root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "n", n);
    cJSON_AddNumberToObject(root, "p", p);
    cJSON_AddNumberToObject(root, "q", q);
    cJSON_AddNumberToObject(root, "reps", reps);
    cJSON_AddNumberToObject(root, "folds", o.folds ? o.folds : 5);
    cJSON_AddNumberToObject(root, "seed", seed);
    add_num_(root, "mean_r", r.mean_r);
    add_num_(root, "mean_r2", r.mean_r2);
    add_num_(root, "mean_ceiling", r.mean_ceiling);
    add_num_(root, "mean_r_norm", r.mean_r_norm);
    cJSON_AddItemToObject(root, "r", num_array_(r.r, q));
    cJSON_AddItemToObject(root, "r2", num_array_(r.r2, q));
    cJSON_AddItemToObject(root, "ceiling", num_array_(r.ceiling, q));
    cJSON_AddItemToObject(root, "alpha", num_array_(r.alpha, q));
    const char *out = soma_args_str(&c.a, "out");
    if (out) {
        table = soma_alloc((size_t)q * 4, sizeof *table);
        if (!table) {
            st = soma_error(SOMA_ERR_NOMEM, "encode: out of memory");
            goto out;
        }
        for (int t = 0; t < q; t++) {
            table[t * 4 + 0] = r.r[t];
            table[t * 4 + 1] = r.r2[t];
            table[t * 4 + 2] = r.ceiling[t];
            table[t * 4 + 3] = r.alpha[t];
        }
        const char *header[] = {"r", "r2", "ceiling", "alpha"};
        int64_t shape[2] = {q, 4};
        if ((st = mat_write_("encode", out, table, 2, shape, header)) != SOMA_OK) goto out;
        cJSON_AddStringToObject(root, "out", out);
    }
    char fbuf[4096];
    const char *fig = figure_path_(&c.a, fbuf, sizeof fbuf);
    if (fig) {
        float *x = soma_alloc((size_t)q, sizeof *x), *y = soma_alloc((size_t)q, sizeof *y);
        soma_fig *f = NULL;
        if (!x || !y) st = soma_error(SOMA_ERR_NOMEM, "encode: out of memory");
        else st = soma_fig_new(&f, 1, 1, 620, 520);
        int with_ceiling = 0;
        for (int t = 0; t < q; t++) with_ceiling |= isfinite(r.ceiling[t]);
        if (st == SOMA_OK) {
            char title[160];
            snprintf(title, sizeof title, "encoding model: mean r = %.3f", r.mean_r);
            for (int t = 0; t < q; t++) {
                y[t] = (float)r.r[t];
                x[t] = with_ceiling ? (r.ceiling[t] >= 0 ? (float)sqrt(r.ceiling[t]) : NAN) : (float)t;
            }
            if (with_ceiling) {
                soma_fig_labels(f, 0, title, "sqrt(split-half ceiling)", "held-out r");
                st = soma_fig_scatter(f, 0, x, y, NULL, q, NULL, 0);
                float d[2] = {0, 1};
                soma_line_style ls = {.color = SOMA_RGB(0x888888), .dashed = 1, .width = 1.2f};
                if (st == SOMA_OK) st = soma_fig_line(f, 0, d, d, 2, "r = sqrt(ceiling)", &ls);
            } else {
                soma_fig_labels(f, 0, title, "target", "held-out r");
                soma_line_style ls = {.markers = 1};
                st = soma_fig_line(f, 0, x, y, q, NULL, &ls);
            }
        }
        st = fig_finish_(f, st, fig, root);
        soma_free(x);
        soma_free(y);
        if (st != SOMA_OK) goto out;
    }
    print_json_(&c.a, root);
out:
    if (have_r) soma_encode_result_free(&r);
    cJSON_Delete(root);
    mat_free_(&X);
    mat_free_(&Y);
    soma_free(alphas);
    soma_free(table);
    soma_args_free(&c.a);
    return st == SOMA_OK ? 0 : fail_(st);
}

// --- soma geometry -----------------------------------------------------------------------

static const soma_opt geometry_opts_[] = {
    {"k", SOMA_OPT_INT, "0", 0, 1000000, NULL, "components (0: min(n - 1, p))", 0},
    {"fit-lo", SOMA_OPT_INT, "1", 1, 1000000, NULL, "first rank of the power-law fit (1-based)", 0},
    {"fit-hi", SOMA_OPT_INT, "0", 0, 1000000, NULL, "last rank of the power-law fit (0: k)", 0},
    {"repeat", SOMA_OPT_STR, NULL, 0, 0, NULL, "a second repeat of the same stimuli [n, p]: cross-validated PCA", 0},
    FIG_OPT,
    THREADS_OPT,
    QUIET_OPT,
    END_OPTS,
};

static const char geometry_usage_[] =
    "usage: soma geometry X.npy [--k K] [--fit-lo A --fit-hi B] [--repeat X2.npy] [-f FIG.svg]\n"
    "Population geometry of responses X [n stimuli, p neurons] (NPY or CSV; more dimensions are\n"
    "flattened to [n, p]): the PCA eigenspectrum\n"
    "(with --repeat, the cross-validated spectrum of Stringer et al. 2019: stimulus-related variance\n"
    "only), its participation ratio, and the power-law exponent alpha (lambda_r ~ r^-alpha) fitted\n"
    "over ranks fit-lo..fit-hi with its R^2. Prints participation_ratio, powerlaw_alpha, r2,\n"
    "eigenvalues and explained_variance (eigenvalues over the total variance). The figure is the\n"
    "log-log eigenspectrum with the fitted line.\n\noptions:\n";

int soma_cli_geometry(int argc, char **argv) {
    cmdline_ c;
    int rc = start_("geometry", geometry_usage_, geometry_opts_, argc, argv, 1, 1, &c);
    if (rc >= 0) return rc;
    soma_status st;
    mat_ X = {0}, X2 = {0};
    cJSON *root = NULL;
    soma_pca pca;
    memset(&pca, 0, sizeof pca);
    int have_pca = 0, k = 0, lo = 1, hi = 0;
    double *eig = NULL;
    if ((st = soma_args_int(&c.a, "k", &k)) != SOMA_OK || (st = soma_args_int(&c.a, "fit-lo", &lo)) != SOMA_OK ||
        (st = soma_args_int(&c.a, "fit-hi", &hi)) != SOMA_OK)
        goto out;
    if ((st = mat_read_("geometry", c.pos[0], 2, 1, &X)) != SOMA_OK) goto out;
    int n = X.dim[0], p = X.ndim == 2 ? X.dim[1] : 1;
    int kmax = n - 1 < p ? n - 1 : p;
    if (kmax < 1) {
        st = soma_error(SOMA_ERR_ARG, "geometry: %s: %d stimuli x %d neurons; PCA needs at least 2 stimuli", c.pos[0], n, p);
        goto out;
    }
    if (k == 0) k = kmax;
    if (k > kmax) {
        st = soma_error(SOMA_ERR_ARG, "geometry: --k %d: at most min(n - 1, p) = %d components from %s", k, kmax,
                        c.pos[0]);
        goto out;
    }
    if (hi == 0) hi = k;
    if (hi > k || lo >= hi) {
        st = soma_error(SOMA_ERR_ARG, "geometry: fit ranks %d..%d: want 1 <= fit-lo < fit-hi <= k = %d", lo, hi, k);
        goto out;
    }
    eig = soma_alloc((size_t)k, sizeof *eig);
    if (!eig) {
        st = soma_error(SOMA_ERR_NOMEM, "geometry: out of memory");
        goto out;
    }
    const char *rep = soma_args_str(&c.a, "repeat");
    double total = NAN;
    if (rep) {
        if ((st = mat_read_("geometry", rep, 2, 1, &X2)) != SOMA_OK) goto out;
        int p2 = X2.ndim == 2 ? X2.dim[1] : 1;
        if (X2.dim[0] != n || p2 != p) {
            st = soma_error(SOMA_ERR_SHAPE, "geometry: --repeat %s is [%d, %d], %s is [%d, %d]; want the same shape", rep,
                            X2.dim[0], p2, c.pos[0], n, p);
            goto out;
        }
        if ((st = soma_cvpca(X.x, X2.x, n, p, k, eig)) != SOMA_OK) {
            st = soma_error_wrap(st, "geometry");
            goto out;
        }
        total = 0;
        for (int i = 0; i < k; i++) total += eig[i] > 0 ? eig[i] : 0;
    } else {
        if ((st = soma_pca_fit(X.x, n, p, k, &pca)) != SOMA_OK) {
            st = soma_error_wrap(st, "geometry");
            goto out;
        }
        have_pca = 1;
        memcpy(eig, pca.var, sizeof(double) * (size_t)k);
        total = pca.total_var;
    }
    double alpha = NAN, r2 = NAN, pr = soma_participation_ratio(eig, k);
    if ((st = soma_powerlaw_exponent(eig, k, lo, hi, &alpha, &r2)) != SOMA_OK) {
        st = soma_error_wrap(st, "geometry");
        goto out;
    }
    root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "spectrum", rep ? "cvpca" : "pca");
    cJSON_AddNumberToObject(root, "n", n);
    cJSON_AddNumberToObject(root, "p", p);
    cJSON_AddNumberToObject(root, "k", k);
    add_num_(root, "participation_ratio", pr);
    add_num_(root, "powerlaw_alpha", alpha);
    add_num_(root, "r2", r2);
    cJSON_AddNumberToObject(root, "fit_lo", lo);
    cJSON_AddNumberToObject(root, "fit_hi", hi);
    add_num_(root, "total_variance", total);
    cJSON_AddItemToObject(root, "eigenvalues", num_array_(eig, k));
    cJSON *ev = cJSON_AddArrayToObject(root, "explained_variance");
    for (int i = 0; i < k; i++)
        cJSON_AddItemToArray(ev, total > 0 ? cJSON_CreateNumber(eig[i] / total) : cJSON_CreateNull());
    char fbuf[4096];
    const char *fig = figure_path_(&c.a, fbuf, sizeof fbuf);
    if (fig) {
        /* log10 eigenvalue against log10 rank (positive eigenvalues), and the fitted line
         * log10 lambda = b - alpha log10 r through the mean of the fitted points */
        float *x = soma_alloc((size_t)k, sizeof *x), *y = soma_alloc((size_t)k, sizeof *y);
        soma_fig *f = NULL;
        if (!x || !y) st = soma_error(SOMA_ERR_NOMEM, "geometry: out of memory");
        else st = soma_fig_new(&f, 1, 1, 620, 520);
        double sb = 0;
        int nb = 0;
        for (int i = 0; st == SOMA_OK && i < k; i++) {
            x[i] = (float)log10(i + 1.0);
            y[i] = eig[i] > 0 ? (float)log10(eig[i]) : NAN;
            if (i + 1 >= lo && i + 1 <= hi && eig[i] > 0) sb += log10(eig[i]) + alpha * log10(i + 1.0), nb++;
        }
        if (st == SOMA_OK) {
            char title[160], lab[96];
            snprintf(title, sizeof title, "%s eigenspectrum: alpha = %.3f (R^2 %.3f), PR = %.2f", rep ? "cvPCA" : "PCA",
                     alpha, r2, pr);
            soma_fig_labels(f, 0, title, "log10 rank", "log10 variance");
            st = soma_fig_line(f, 0, x, y, k, "eigenvalues", NULL);
            if (st == SOMA_OK && nb > 0) {
                double b = sb / nb;
                float fx[2] = {(float)log10((double)lo), (float)log10((double)hi)};
                float fy[2] = {(float)(b - alpha * fx[0]), (float)(b - alpha * fx[1])};
                soma_line_style ls = {.dashed = 1};
                snprintf(lab, sizeof lab, "fit: alpha = %.3f", alpha);
                st = soma_fig_line(f, 0, fx, fy, 2, lab, &ls);
            }
        }
        st = fig_finish_(f, st, fig, root);
        soma_free(x);
        soma_free(y);
        if (st != SOMA_OK) goto out;
    }
    print_json_(&c.a, root);
out:
    if (have_pca) soma_pca_free(&pca);
    cJSON_Delete(root);
    mat_free_(&X);
    mat_free_(&X2);
    soma_free(eig);
    soma_args_free(&c.a);
    return st == SOMA_OK ? 0 : fail_(st);
}
