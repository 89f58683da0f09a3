// soma neuro info|bin: what is inside a recording (NWB file or spike table), and its spikes
// binned (optionally aligned on trials and smoothed) into NPY files, with a behaviour series on
// the same bins. Bad files, options and arrays: one line on stderr, exit 2.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "soma/io.h"
#include "soma/neuro.h"
#include "soma/soma.h"

#define END_OPTS {NULL, 0, NULL, 0, 0, NULL, NULL, 0}

static const soma_opt info_opts_[] = {
    {"json", SOMA_OPT_FLAG, NULL, 0, 0, NULL, "print JSON", 0},
    {"ids", SOMA_OPT_STR, NULL, 0, 0, NULL, "unit ids NPY beside a spike-times NPY", 0},
    {"quiet", SOMA_OPT_FLAG, NULL, 0, 0, NULL, "no output beyond the result", 0},
    END_OPTS,
};

static const soma_opt bin_opts_[] = {
    {"bin-ms", SOMA_OPT_FLOAT, "20", 1e-3, 1e7, NULL, "bin width, ms", 0},
    {"align", SOMA_OPT_STR, NULL, 0, 0, NULL, "trial column to align on (start_time, stop_time, or any, in s)", 0},
    {"window", SOMA_OPT_STR, NULL, 0, 0, NULL, "PRE,POST ms around the event (with --align), e.g. -200,800", 0},
    {"smooth-ms", SOMA_OPT_FLOAT, "0", 0, 1e7, NULL, "Gaussian smoothing sigma, ms (0: none)", 0},
    {"causal", SOMA_OPT_FLAG, NULL, 0, 0, NULL, "causal smoothing (past and present bins only)", 0},
    {"behavior", SOMA_OPT_STR, NULL, 0, 0, NULL, "behaviour series (name or last path part) to put on the bins", 0},
    {"psth", SOMA_OPT_STR, NULL, 0, 0, NULL, "average the trials of each value of this trial column (with --align)", 0},
    {"held-out", SOMA_OPT_STR, NULL, 0, 0, NULL, "N units drawn with --seed, or ids:A,B,...: written apart", 0},
    {"seed", SOMA_OPT_INT, "1", 0, 2147483647, NULL, "seed of the held-out draw", 0},
    {"out-held-out", SOMA_OPT_STR, NULL, 0, 0, NULL, "held-out units' counts as NPY (with --held-out)", 0},
    {"out", SOMA_OPT_STR, NULL, 0, 0, NULL, "counts as NPY float32 [trials, bins, units] (-o; required)", 0},
    {"out2", SOMA_OPT_STR, NULL, 0, 0, NULL, "behaviour as NPY float32 [trials, bins, dims] (-o2)", 0},
    {"ids", SOMA_OPT_STR, NULL, 0, 0, NULL, "unit ids NPY beside a spike-times NPY", 0},
    {"json", SOMA_OPT_FLAG, NULL, 0, 0, NULL, "print the summary as JSON", 0},
    {"threads", SOMA_OPT_INT, NULL, 1, 256, NULL, "threads (default: all cores)", 0},
    {"quiet", SOMA_OPT_FLAG, NULL, 0, 0, NULL, "no summary", 0},
    END_OPTS,
};

static int fail_(soma_status st) {
    fprintf(stderr, "soma: %s\n", soma_errmsg()[0] ? soma_errmsg() : soma_status_str(st));
    return soma_status_exit_code(st);
}

static void usage_(void) {
    printf("usage: soma neuro info FILE [--json]\n"
           "       soma neuro bin FILE --bin-ms 20 [--align COL --window PRE,POST] [--smooth-ms S] -o X.npy\n"
           "                      [--behavior NAME -o2 B.npy] [--psth COLUMN]\n"
           "                      [--held-out N|ids:A,B,... --out-held-out Y.npy]\n"
           "FILE: an NWB 2.x file (.nwb), a spike table as CSV (\"unit,time\" rows, s) or NPY ([n, 2] rows of\n"
           "time s and unit id, or times [n] with --ids IDS.npy). docs/neuro.md.\n");
}

/* Splits argv into one positional FILE and options (-o is --out, -o2 --out2), parses them. */
static int start_(const char *cmd, const soma_opt *opts, int argc, char **argv, soma_args *a, const char **file) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage_();
            printf("\noptions of %s:\n", cmd);
            soma_cli_print_opts(opts);
            return 0;
        }
    const char **rest = malloc(sizeof(char *) * (size_t)(argc + 1));
    if (!rest) return fail_(soma_error(SOMA_ERR_NOMEM, "neuro: out of memory"));
    int n_rest = 0;
    *file = NULL;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "-o")) s = "--out";
        else if (!strcmp(s, "-o2")) s = "--out2";
        if (s[0] == '-' && s[1] == '-' && s[2]) {
            rest[n_rest++] = s;
            const char *eq = strchr(s, '=');
            size_t klen = eq ? (size_t)(eq - s - 2) : strlen(s + 2);
            const soma_opt *o = opts;
            while (o->key && (strlen(o->key) != klen || strncmp(o->key, s + 2, klen))) o++;
            if (!o->key) {
                free(rest);
                return fail_(soma_error(SOMA_ERR_ARG, "neuro %s: unknown option '%.*s' (see 'soma neuro %s --help')",
                                        cmd, (int)klen + 2, s, cmd));
            }
            if (eq) continue;
            if (o->key && o->type != SOMA_OPT_FLAG && i + 1 < argc) rest[n_rest++] = argv[++i];
        } else if (s[0] == '-' && s[1]) {
            free(rest);
            return fail_(soma_error(SOMA_ERR_ARG, "neuro %s: unknown option '%s' (see 'soma neuro %s --help')", cmd, s,
                                    cmd));
        } else if (!*file) {
            *file = s;
        } else {
            free(rest);
            return fail_(soma_error(SOMA_ERR_ARG, "neuro %s: one input file, got '%s' and '%s'", cmd, *file, s));
        }
    }
    /* soma_args keeps the command's name: a string that outlives it */
    const char *name = !strcmp(cmd, "info") ? "neuro info" : "neuro bin";
    soma_status st = soma_args_parse(a, name, opts, n_rest, rest);
    free(rest);
    if (st != SOMA_OK) return fail_(st);
    if (!*file) {
        soma_args_free(a);
        return fail_(soma_error(SOMA_ERR_ARG, "neuro %s: no input file (see 'soma neuro %s --help')", cmd, cmd));
    }
    int t = soma_get_threads();
    if (soma_args_int(a, "threads", &t) == SOMA_OK) soma_set_threads(t);
    return -1;
}

static int ends_with_(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcasecmp(s + n - k, suffix);
}

static soma_status load_(const char *file, const char *ids, soma_recording *r) {
    memset(r, 0, sizeof *r);
    if (ends_with_(file, ".csv")) {
        if (ids) return soma_error(SOMA_ERR_ARG, "neuro: --ids goes with a spike-times NPY, not a CSV");
        return soma_spikes_read_csv(file, r);
    }
    if (ends_with_(file, ".npy")) return soma_spikes_read_npy(file, ids, r);
    if (ids) return soma_error(SOMA_ERR_ARG, "neuro: --ids goes with a spike-times NPY, not %s", file);
    return soma_nwb_read(file, r);
}

static cJSON *info_json_(const char *file, const soma_recording *r) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "file", file);
    cJSON_AddNumberToObject(j, "units", r->n_units);
    cJSON *ids = cJSON_AddArrayToObject(j, "unit_ids");
    for (int u = 0; u < r->n_units; u++) cJSON_AddItemToArray(ids, cJSON_CreateNumber((double)r->unit_id[u]));
    if (r->electrode) {
        cJSON *el = cJSON_AddArrayToObject(j, "electrodes");
        for (int u = 0; u < r->n_units; u++) cJSON_AddItemToArray(el, cJSON_CreateNumber((double)r->electrode[u]));
    }
    cJSON_AddNumberToObject(j, "spikes", (double)r->spikes.n);
    cJSON_AddNumberToObject(j, "t_start_ms", r->spikes.t_start);
    cJSON_AddNumberToObject(j, "t_stop_ms", r->spikes.t_stop);
    cJSON_AddNumberToObject(j, "trials", r->n_trials);
    cJSON *cols = cJSON_AddArrayToObject(j, "trial_columns");
    if (r->n_trials) {
        cJSON_AddItemToArray(cols, cJSON_CreateString("start_time"));
        cJSON_AddItemToArray(cols, cJSON_CreateString("stop_time"));
    }
    for (int i = 0; i < r->n_cols; i++) cJSON_AddItemToArray(cols, cJSON_CreateString(r->col_name[i]));
    cJSON *beh = cJSON_AddArrayToObject(j, "behavior");
    for (int i = 0; i < r->n_series; i++) {
        const soma_series *s = &r->series[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", s->name);
        cJSON *sh = cJSON_AddArrayToObject(o, "shape");
        cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)s->n));
        cJSON_AddItemToArray(sh, cJSON_CreateNumber(s->dim));
        if (s->n) {
            cJSON_AddNumberToObject(o, "t_start_ms", s->t[0]);
            cJSON_AddNumberToObject(o, "t_stop_ms", s->t[s->n - 1]);
        }
        cJSON_AddItemToArray(beh, o);
    }
    return j;
}

static void print_json_(const cJSON *j) {
    char *s = cJSON_Print(j);
    if (s) {
        printf("%s\n", s);
        cJSON_free(s);
    }
}

static int cmd_info_(int argc, char **argv) {
    soma_args a;
    const char *file;
    int rc = start_("info", info_opts_, argc, argv, &a, &file);
    if (rc >= 0) return rc;
    soma_recording r;
    soma_status st = load_(file, soma_args_str(&a, "ids"), &r);
    if (st != SOMA_OK) {
        soma_args_free(&a);
        return fail_(st);
    }
    if (soma_args_flag(&a, "json")) {
        cJSON *j = info_json_(file, &r);
        print_json_(j);
        cJSON_Delete(j);
    } else {
        printf("%s: %d units, %ld spikes, %.3f .. %.3f ms\n", file, r.n_units, r.spikes.n, r.spikes.t_start,
               r.spikes.t_stop);
        printf("trials: %d", r.n_trials);
        if (r.n_trials) {
            printf(" (columns: start_time, stop_time");
            for (int i = 0; i < r.n_cols; i++) printf(", %s", r.col_name[i]);
            printf(")");
        }
        printf("\nbehaviour series: %d\n", r.n_series);
        for (int i = 0; i < r.n_series; i++) {
            const soma_series *s = &r.series[i];
            printf("  %s [%ld, %d]", s->name, s->n, s->dim);
            if (s->n) printf(" %.3f .. %.3f ms", s->t[0], s->t[s->n - 1]);
            printf("\n");
        }
    }
    soma_recording_free(&r);
    soma_args_free(&a);
    return 0;
}

/* "PRE,POST" -> two finite numbers. */
static soma_status parse_window_(const char *s, double *pre, double *post) {
    char *e1, *e2;
    *pre = strtod(s, &e1);
    if (e1 == s || *e1 != ',') goto bad;
    *post = strtod(e1 + 1, &e2);
    if (e2 == e1 + 1 || *e2 != '\0' || !(*post > *pre) || !isfinite(*pre) || !isfinite(*post)) goto bad;
    return SOMA_OK;
bad:
    return soma_error(SOMA_ERR_ARG, "neuro bin: --window '%s': want PRE,POST in ms with PRE < POST (e.g. -200,800)", s);
}

/* --held-out: "N" (drawn with seed) or "ids:A,B,..." (unit ids as in the file) -> mask. */
static soma_status held_out_(const soma_recording *r, const char *spec, int seed, uint8_t *mask) {
    if (!strncmp(spec, "ids:", 4)) {
        int n = 0, cap = r->n_units + 1;
        int64_t *ids = soma_alloc((size_t)cap, sizeof *ids);
        if (!ids) return soma_error(SOMA_ERR_NOMEM, "neuro bin: out of memory");
        const char *p = spec + 4;
        soma_status st = SOMA_OK;
        while (st == SOMA_OK) {
            char *e;
            long long v = strtoll(p, &e, 10);
            if (e == p || (*e != ',' && *e != '\0')) {
                st = soma_error(SOMA_ERR_ARG, "neuro bin: --held-out '%s': want ids:A,B,... (integers)", spec);
                break;
            }
            if (n == cap) {
                st = soma_error(SOMA_ERR_ARG, "neuro bin: --held-out lists more ids than the %d units", r->n_units);
                break;
            }
            ids[n++] = v;
            if (*e == '\0') break;
            p = e + 1;
        }
        if (st == SOMA_OK) st = soma_units_mask(r, ids, n, mask);
        soma_free(ids);
        if (st == SOMA_OK && n == r->n_units) st = soma_error(SOMA_ERR_ARG, "neuro bin: --held-out holds every unit out");
        return st;
    }
    char *e;
    long k = strtol(spec, &e, 10);
    if (e == spec || *e || k < 1 || k >= r->n_units)
        return soma_error(SOMA_ERR_ARG, "neuro bin: --held-out '%s': want N in 1..%d (units: %d) or ids:A,B,...", spec,
                          r->n_units - 1, r->n_units);
    return soma_units_split(r->n_units, (int)k, (uint64_t)seed, mask);
}

static int cmd_bin_(int argc, char **argv) {
    soma_args a;
    const char *file;
    int rc = start_("bin", bin_opts_, argc, argv, &a, &file);
    if (rc >= 0) return rc;
    soma_recording r = {0};
    soma_counts c = {0}, tmp = {0}, bc = {0}, held = {0};
    double *levels = NULL;
    int n_levels = 0;
    uint8_t *mask = NULL;
    soma_bin_opts o = {0};
    soma_status st = SOMA_OK;
    const char *out = soma_args_str(&a, "out"), *out2 = soma_args_str(&a, "out2"),
               *bname = soma_args_str(&a, "behavior"), *win = soma_args_str(&a, "window"),
               *psth = soma_args_str(&a, "psth"), *hold = soma_args_str(&a, "held-out"),
               *out_held = soma_args_str(&a, "out-held-out");
    int seed = 1;
    o.align = soma_args_str(&a, "align");
    o.causal = soma_args_flag(&a, "causal");
    if ((st = soma_args_double(&a, "bin-ms", &o.bin_ms)) || (st = soma_args_double(&a, "smooth-ms", &o.smooth_ms)))
        goto done;
    if (!out) {
        st = soma_error(SOMA_ERR_ARG, "neuro bin: -o X.npy is required");
        goto done;
    }
    if (!bname != !out2) {
        st = soma_error(SOMA_ERR_ARG, "neuro bin: --behavior NAME and -o2 B.npy go together");
        goto done;
    }
    if (win && !o.align) {
        st = soma_error(SOMA_ERR_ARG, "neuro bin: --window needs --align COLUMN");
        goto done;
    }
    if (o.align && !win) {
        st = soma_error(SOMA_ERR_ARG, "neuro bin: --align needs --window PRE,POST (ms)");
        goto done;
    }
    if (win && (st = parse_window_(win, &o.pre_ms, &o.post_ms))) goto done;
    if (psth && !o.align) {
        st = soma_error(SOMA_ERR_ARG, "neuro bin: --psth needs --align COLUMN --window PRE,POST");
        goto done;
    }
    if (!hold != !out_held) {
        st = soma_error(SOMA_ERR_ARG, "neuro bin: --held-out and --out-held-out Y.npy go together");
        goto done;
    }
    if ((st = soma_args_int(&a, "seed", &seed))) goto done;
    if (o.causal && !(o.smooth_ms > 0)) {
        st = soma_error(SOMA_ERR_ARG, "neuro bin: --causal needs --smooth-ms > 0");
        goto done;
    }
    if ((st = load_(file, soma_args_str(&a, "ids"), &r))) goto done;
    const soma_series *s = NULL;
    if (bname && !(s = soma_recording_series(&r, bname))) {
        st = soma_error(SOMA_ERR_ARG, "neuro bin: %s has no behaviour series '%s' (see 'soma neuro info %s')", file,
                        bname, file);
        goto done;
    }
    const double *cond = NULL;
    if (psth && !(cond = soma_recording_col(&r, psth))) {
        st = soma_error(SOMA_ERR_ARG, "neuro bin: no trial column '%s' for --psth (see 'soma neuro info %s')", psth, file);
        goto done;
    }
    if (hold) {
        if (!(mask = soma_alloc((size_t)r.n_units, 1))) {
            st = soma_error(SOMA_ERR_NOMEM, "neuro bin: out of memory");
            goto done;
        }
        if ((st = held_out_(&r, hold, seed, mask))) goto done;
    }
    if ((st = soma_recording_bin(&r, &o, &c))) goto done;
    // behaviour on the per-trial bins, kept in a soma_counts (units = dims) so a PSTH averages it too
    if (s) {
        if ((st = soma_counts_alloc(&bc, c.n_trials, c.n_bins, s->dim, c.bin_ms))) goto done;
        memcpy(bc.t0, c.t0, (size_t)c.n_trials * sizeof *c.t0);
        if ((st = soma_series_align(s, &c, bc.x))) goto done;
    }
    if (cond) {
        levels = soma_alloc((size_t)c.n_trials, sizeof *levels);
        if (!levels) {
            st = soma_error(SOMA_ERR_NOMEM, "neuro bin: out of memory");
            goto done;
        }
        if ((st = soma_counts_psth(&c, cond, &tmp, levels, &n_levels))) goto done;
        soma_counts_free(&c);
        c = tmp;
        memset(&tmp, 0, sizeof tmp);
        if (s) {
            if ((st = soma_counts_psth(&bc, cond, &tmp, NULL, NULL))) goto done;
            soma_counts_free(&bc);
            bc = tmp;
            memset(&tmp, 0, sizeof tmp);
        }
    }
    if (mask) {
        if ((st = soma_counts_select(&c, mask, 1, &held)) || (st = soma_counts_select(&c, mask, 0, &tmp))) goto done;
        soma_counts_free(&c);
        c = tmp;
        memset(&tmp, 0, sizeof tmp);
    }
    int shape[3] = {c.n_trials, c.n_bins, c.n_units};
    if ((st = soma_npy_write_f32(out, 3, shape, c.x))) goto done;
    if (mask) {
        int hshape[3] = {held.n_trials, held.n_bins, held.n_units};
        if ((st = soma_npy_write_f32(out_held, 3, hshape, held.x))) goto done;
    }
    if (s) {
        int bshape[3] = {bc.n_trials, bc.n_bins, bc.n_units};
        if ((st = soma_npy_write_f32(out2, 3, bshape, bc.x))) goto done;
    }
    if (!soma_args_flag(&a, "quiet")) {
        if (soma_args_flag(&a, "json")) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "file", file);
            cJSON_AddStringToObject(j, "out", out);
            cJSON *sh = cJSON_AddArrayToObject(j, "shape");
            for (int i = 0; i < 3; i++) cJSON_AddItemToArray(sh, cJSON_CreateNumber(shape[i]));
            cJSON_AddNumberToObject(j, "bin_ms", o.bin_ms);
            if (s) cJSON_AddStringToObject(j, "behavior", s->name), cJSON_AddStringToObject(j, "out2", out2);
            if (cond) {
                cJSON *lv = cJSON_AddArrayToObject(j, "conditions");
                for (int i = 0; i < n_levels; i++) cJSON_AddItemToArray(lv, cJSON_CreateNumber(levels[i]));
            }
            if (mask) {
                cJSON *ho = cJSON_AddArrayToObject(j, "held_out_ids");
                for (int u = 0; u < r.n_units; u++)
                    if (mask[u]) cJSON_AddItemToArray(ho, cJSON_CreateNumber((double)r.unit_id[u]));
                cJSON_AddStringToObject(j, "out_held_out", out_held);
            }
            print_json_(j);
            cJSON_Delete(j);
        } else {
            printf("%s: [%d trials, %d bins, %d units] of %g ms -> %s", file, c.n_trials, c.n_bins, c.n_units, o.bin_ms,
                   out);
            if (s) printf("; %s [%d, %d, %d] -> %s", s->name, bc.n_trials, bc.n_bins, bc.n_units, out2);
            if (mask) printf("; %d held-out units -> %s", held.n_units, out_held);
            printf("\n");
        }
    }
done:
    soma_free(levels);
    soma_free(mask);
    soma_counts_free(&c);
    soma_counts_free(&tmp);
    soma_counts_free(&bc);
    soma_counts_free(&held);
    soma_recording_free(&r);
    soma_args_free(&a);
    return st == SOMA_OK ? 0 : fail_(st);
}

int soma_cli_neuro(int argc, char **argv) {
    if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h") || !strcmp(argv[0], "help")) {
        usage_();
        return argc < 1 ? 2 : 0;
    }
    if (!strcmp(argv[0], "info")) return cmd_info_(argc - 1, argv + 1);
    if (!strcmp(argv[0], "bin")) return cmd_bin_(argc - 1, argv + 1);
    if (!strcmp(argv[0], "fit")) return soma_cli_neuro_fit(argc - 1, argv + 1); /* neuro_fit.c */
    fprintf(stderr, "soma: neuro: unknown subcommand '%s' (info, bin)\n", argv[0]);
    return 2;
}
