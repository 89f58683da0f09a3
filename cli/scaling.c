/* soma fit-scaling RESULTS.jsonl [--law n|d|nd] [--bootstrap B] [--seed S] [--out DIR]:
 * fits a scaling law to a sweep's JSON lines (soma/scaling.h) and prints the fit as JSON; with
 * --out DIR also writes DIR/results.json and DIR/fit.svg (loss against N and/or D, the points
 * and the fitted curves). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "soma/io.h"
#include "soma/plot.h"
#include "soma/scaling.h"

static const char usage_[] =
    "usage: soma fit-scaling RESULTS.jsonl [--law n|d|nd] [--bootstrap B] [--seed S] [--out DIR]\n"
    "Fits L(N) = E + A/N^alpha (n), L(D) = E + B/D^beta (d) or L(N,D) = E + A/N^alpha + B/D^beta (nd)\n"
    "to JSON lines with n_params, n_data and loss (other keys ignored) by Huber loss on log\n"
    "residuals from a grid of starts (Hoffmann et al. 2022, approach 3), with bootstrap intervals.\n";

static const soma_opt opts_[] = {
    {"law", SOMA_OPT_ENUM, "nd", 0, 0, "n|d|nd", "the law: loss against N (n), D (d) or both (nd)", 0},
    {"bootstrap", SOMA_OPT_INT, "200", 0, 100000, NULL, "resamples for the 95% intervals (0: none)", 0},
    {"seed", SOMA_OPT_INT, "0", 0, 2147483647, NULL, "seed of the resampling", 0},
    {"out", SOMA_OPT_STR, NULL, 0, 0, NULL, "folder for results.json and fit.svg", 0},
    {"huber-delta", SOMA_OPT_FLOAT, "1e-3", 1e-12, 10, NULL, "Huber threshold on log residuals", 0},
    {"level", SOMA_OPT_FLOAT, "0.95", 0.5, 0.999, NULL, "interval level", 0},
    {"refit-top", SOMA_OPT_INT, "20", 0, 1000000, NULL,
     "bootstrap refits start from this many best grid points plus the full fit (0: the whole grid)", 0},
    {"threads", SOMA_OPT_INT, NULL, 1, 256, NULL, "threads (default: all cores)", 0},
    {"quiet", SOMA_OPT_FLAG, NULL, 0, 0, NULL, "print nothing (with --out)", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static int fail_(soma_status st) {
    fprintf(stderr, "soma: %s\n", soma_errmsg()[0] ? soma_errmsg() : soma_status_str(st));
    return soma_status_exit_code(st);
}

static void add_num_(cJSON *o, const char *key, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

static void add_ci_(cJSON *o, const char *key, const double *ci) {
    cJSON *a = cJSON_AddArrayToObject(o, key);
    for (int k = 0; k < 2 && a; k++) cJSON_AddItemToArray(a, isfinite(ci[k]) ? cJSON_CreateNumber(ci[k]) : cJSON_CreateNull());
}

static cJSON *fit_json_(const soma_scaling_fit *f, const soma_scaling_opts *o, const char *path) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "file", path);
    cJSON_AddStringToObject(j, "law", soma_scaling_law_name(f->law));
    cJSON_AddNumberToObject(j, "n_points", f->n_points);
    add_num_(j, "E", f->E);
    add_ci_(j, "E_ci", f->E_ci);
    if (f->law != SOMA_SCALING_D) {
        add_num_(j, "A", f->A);
        add_ci_(j, "A_ci", f->A_ci);
        add_num_(j, "alpha", f->alpha);
        add_ci_(j, "alpha_ci", f->alpha_ci);
    }
    if (f->law != SOMA_SCALING_N) {
        add_num_(j, "B", f->B);
        add_ci_(j, "B_ci", f->B_ci);
        add_num_(j, "beta", f->beta);
        add_ci_(j, "beta_ci", f->beta_ci);
    }
    if (f->law == SOMA_SCALING_ND) {
        /* N_opt = G (C/6)^a, D_opt = (C/6)^b / G */
        cJSON *c = cJSON_AddObjectToObject(j, "compute_optimal");
        add_num_(c, "a", f->opt_a);
        add_ci_(c, "a_ci", f->opt_a_ci);
        add_num_(c, "b", f->opt_b);
        add_ci_(c, "b_ci", f->opt_b_ci);
        add_num_(c, "G", f->opt_G);
        cJSON_AddStringToObject(c, "formula", "N_opt = G (C/6)^a, D_opt = (C/6)^b / G, C = 6 N D");
    }
    add_num_(j, "objective", f->objective);
    cJSON_AddBoolToObject(j, "converged", f->converged);
    cJSON_AddNumberToObject(j, "n_starts", f->n_starts);
    cJSON_AddNumberToObject(j, "bootstrap", f->n_boot);
    cJSON_AddNumberToObject(j, "bootstrap_unconverged", f->boot_unconverged);
    cJSON_AddNumberToObject(j, "refit_top", o->refit_top);
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    cJSON_AddNumberToObject(j, "huber_delta", o->huber_delta);
    cJSON_AddNumberToObject(j, "level", o->level);
    return j;
}

static int cmp_d_(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The distinct values of v[n] (sorted) into u; returns their count. */
static int distinct_(const double *v, int n, double *u) {
    memcpy(u, v, (size_t)n * sizeof *v);
    qsort(u, (size_t)n, sizeof *u, cmp_d_);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (m == 0 || u[i] != u[m - 1]) u[m++] = u[i];
    return m;
}

enum { MAX_GROUPS_ = 8, CURVE_ = 100 };

/* One panel: loss (log) against log10 of x (N when along_n, else D), points grouped by the
 * other variable (nd, at most MAX_GROUPS_ distinct values) with one fitted curve per group. */
static soma_status panel_(soma_fig *fig, int panel, const soma_scaling_fit *f, const soma_scaling_point *p, int n,
                          int along_n) {
    soma_status st = SOMA_OK;
    double *xs = soma_alloc((size_t)n, sizeof *xs), *os = soma_alloc((size_t)n, sizeof *os);
    double *ux = soma_alloc((size_t)n, sizeof *ux), *uo = soma_alloc((size_t)n, sizeof *uo);
    float *px = soma_alloc((size_t)n, sizeof *px), *py = soma_alloc((size_t)n, sizeof *py);
    int *cls = soma_alloc((size_t)n, sizeof *cls);
    if (!xs || !os || !ux || !uo || !px || !py || !cls) {
        st = soma_error(SOMA_ERR_NOMEM, "fit-scaling: out of memory for the figure");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        xs[i] = along_n ? p[i].n_params : p[i].n_data;
        os[i] = along_n ? p[i].n_data : p[i].n_params;
    }
    const int nx = distinct_(xs, n, ux);
    int ng = f->law == SOMA_SCALING_ND ? distinct_(os, n, uo) : 1;
    const int grouped = ng > 1 && ng <= MAX_GROUPS_;
    if (!grouped) ng = 1;
    char names[MAX_GROUPS_][48];
    const char *name_ptrs[MAX_GROUPS_];
    for (int g = 0; g < ng; g++) {
        if (grouped) snprintf(names[g], sizeof names[g], "%s = %.3g", along_n ? "D" : "N", uo[g]);
        else snprintf(names[g], sizeof names[g], "runs");
        name_ptrs[g] = names[g];
    }
    for (int i = 0; i < n; i++) {
        px[i] = (float)log10(xs[i]);
        py[i] = (float)p[i].loss;
        cls[i] = 0;
        if (grouped)
            for (int g = 0; g < ng; g++)
                if (os[i] == uo[g]) cls[i] = g;
    }
    soma_fig_labels(fig, panel, along_n ? "loss against model size" : "loss against data size",
                    along_n ? "log10 N (parameters)" : "log10 D (training examples)", "loss");
    soma_fig_logy(fig, panel, 1);
    if ((st = soma_fig_scatter(fig, panel, px, py, cls, n, name_ptrs, ng)) != SOMA_OK) goto out;
    const double lo = log10(ux[0]), hi = log10(ux[nx - 1]);
    float cx[CURVE_], cy[CURVE_];
    /* the median of the other variable when the groups are not drawn */
    const double other_med = f->law == SOMA_SCALING_ND ? uo[(distinct_(os, n, uo) - 1) / 2] : NAN;
    for (int g = 0; g < ng; g++) {
        const double o = grouped ? uo[g] : other_med;
        for (int k = 0; k < CURVE_; k++) {
            const double lx = lo + (hi - lo) * k / (CURVE_ - 1), x = pow(10, lx);
            cx[k] = (float)lx;
            cy[k] = (float)(along_n ? soma_scaling_predict(f, x, o) : soma_scaling_predict(f, o, x));
        }
        const soma_line_style style = {.color = grouped ? g + 1 : 1};
        if ((st = soma_fig_line(fig, panel, cx, cy, CURVE_, g == 0 ? "fit" : NULL, &style)) != SOMA_OK) goto out;
    }
out:
    soma_free(xs);
    soma_free(os);
    soma_free(ux);
    soma_free(uo);
    soma_free(px);
    soma_free(py);
    soma_free(cls);
    return st;
}

static soma_status figure_(const char *path, const soma_scaling_fit *f, const soma_scaling_point *p, int n) {
    const int panels = f->law == SOMA_SCALING_ND ? 2 : 1;
    soma_fig *fig = NULL;
    SOMA_TRY(soma_fig_new(&fig, 1, panels, 520 * panels, 440));
    char title[256];
    if (f->law == SOMA_SCALING_N)
        snprintf(title, sizeof title, f->n_boot ? "L(N) = %.3g + %.3g / N^%.3f  [alpha 95%%: %.3f .. %.3f]" : "L(N) = %.3g + %.3g / N^%.3f", f->E, f->A, f->alpha,
                 f->alpha_ci[0], f->alpha_ci[1]);
    else if (f->law == SOMA_SCALING_D)
        snprintf(title, sizeof title, f->n_boot ? "L(D) = %.3g + %.3g / D^%.3f  [beta 95%%: %.3f .. %.3f]" : "L(D) = %.3g + %.3g / D^%.3f", f->E, f->B, f->beta,
                 f->beta_ci[0], f->beta_ci[1]);
    else if (f->n_boot)
        snprintf(title, sizeof title, "L(N, D) = %.3g + %.3g / N^%.3f + %.3g / D^%.3f  [95%%: alpha %.3f .. %.3f, beta %.3f .. %.3f]",
                 f->E, f->A, f->alpha, f->B, f->beta, f->alpha_ci[0], f->alpha_ci[1], f->beta_ci[0], f->beta_ci[1]);
    else
        snprintf(title, sizeof title, "L(N, D) = %.3g + %.3g / N^%.3f + %.3g / D^%.3f", f->E, f->A, f->alpha, f->B,
                 f->beta);
    soma_fig_title(fig, title);
    soma_status st = SOMA_OK;
    if (f->law != SOMA_SCALING_D) st = panel_(fig, 0, f, p, n, 1);
    if (st == SOMA_OK && f->law != SOMA_SCALING_N) st = panel_(fig, panels - 1, f, p, n, 0);
    if (st == SOMA_OK) st = soma_fig_save(fig, path);
    soma_fig_free(fig);
    return st;
}

int soma_cli_fit_scaling(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_, stdout);
            soma_cli_print_opts(opts_);
            return 0;
        }
    /* the one positional argument (the file), the rest are options */
    const char *file = NULL;
    const char **rest = calloc((size_t)argc + 1, sizeof(char *));
    if (!rest) return fail_(soma_error(SOMA_ERR_NOMEM, "fit-scaling: out of memory"));
    int n_rest = 0;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (s[0] == '-' && s[1] == '-' && s[2]) {
            rest[n_rest++] = s;
            if (strchr(s, '=')) continue;
            const soma_opt *o = opts_;
            while (o->key && strcmp(o->key, s + 2)) o++;
            if (!o->key) {
                free(rest);
                return fail_(soma_error(SOMA_ERR_ARG, "fit-scaling: unknown option '%s' (see 'soma fit-scaling --help')", s));
            }
            if (o->type != SOMA_OPT_FLAG && i + 1 < argc) rest[n_rest++] = argv[++i];
        } else if (s[0] == '-' && s[1]) {
            free(rest);
            return fail_(soma_error(SOMA_ERR_ARG, "fit-scaling: unknown option '%s' (see 'soma fit-scaling --help')", s));
        } else if (!file) {
            file = s;
        } else {
            free(rest);
            return fail_(soma_error(SOMA_ERR_ARG, "fit-scaling: one results file, got '%s' and '%s'", file, s));
        }
    }
    soma_args a;
    soma_status st = soma_args_parse(&a, "fit-scaling", opts_, n_rest, rest);
    free(rest);
    if (st != SOMA_OK) return fail_(st);
    soma_scaling_point *pts = NULL;
    cJSON *j = NULL;
    int n = 0, boot = 0, seed = 0, top = 0, threads = 0;
    soma_scaling_opts o = {0};
    soma_scaling_law law = SOMA_SCALING_ND;
    soma_scaling_fit fit;
    if (!file) {
        st = soma_error(SOMA_ERR_ARG, "fit-scaling: want a results file (JSON lines; see 'soma fit-scaling --help')");
        goto out;
    }
    if ((st = soma_scaling_law_parse(soma_args_str(&a, "law"), &law)) != SOMA_OK ||
        (st = soma_args_int(&a, "bootstrap", &boot)) != SOMA_OK || (st = soma_args_int(&a, "seed", &seed)) != SOMA_OK ||
        (st = soma_args_int(&a, "refit-top", &top)) != SOMA_OK ||
        (st = soma_args_double(&a, "huber-delta", &o.huber_delta)) != SOMA_OK ||
        (st = soma_args_double(&a, "level", &o.level)) != SOMA_OK)
        goto out;
    if (soma_args_given(&a, "threads") && soma_args_int(&a, "threads", &threads) == SOMA_OK) soma_set_threads(threads);
    o.bootstrap = boot, o.seed = (uint64_t)seed, o.refit_top = top;
    const char *outdir = soma_args_str(&a, "out");
    if ((st = soma_scaling_read_jsonl(file, law, &pts, &n)) != SOMA_OK) {
        st = soma_error_wrap(st, "fit-scaling");
        goto out;
    }
    if ((st = soma_scaling_fit_points(pts, n, law, &o, &fit)) != SOMA_OK) {
        st = soma_error_wrap(st, "fit-scaling: %s", file);
        goto out;
    }
    j = fit_json_(&fit, &o, file);
    if (!j) {
        st = soma_error(SOMA_ERR_NOMEM, "fit-scaling: out of memory");
        goto out;
    }
    if (outdir) {
        char path[4096];
        if ((st = soma_mkdir_p(outdir)) != SOMA_OK) goto out;
        snprintf(path, sizeof path, "%s/fit.svg", outdir);
        if ((st = figure_(path, &fit, pts, n)) != SOMA_OK) goto out;
        cJSON_AddStringToObject(j, "figure", "fit.svg");
        snprintf(path, sizeof path, "%s/results.json", outdir);
        if ((st = soma_json_write(path, j)) != SOMA_OK) goto out;
    }
    if (!soma_args_flag(&a, "quiet")) {
        char *s = cJSON_Print(j);
        if (s) printf("%s\n", s);
        cJSON_free(s);
    }
out:
    cJSON_Delete(j);
    soma_free(pts);
    soma_args_free(&a);
    return st == SOMA_OK ? 0 : fail_(st);
}
