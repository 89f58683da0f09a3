// soma snn FILE.json: builds a spiking network from its JSON description (docs/snn-json.md),
// runs it with a progress line, and writes the run folder: results.json (per group and total
// figures, the machine), every monitor's records as CSV and a raster + population-rate figure,
// each file atomically. `soma report` picks the folder up like an experiment's.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "soma/exp.h"
#include "soma/io.h"
#include "soma/plot.h"
#include "soma/snn.h"
#include "soma/soma.h"


#define MAX_FIG_GROUPS 8     /* raster rows drawn */
#define MAX_RASTER_NEURONS 200 /* neurons per raster (the figure stays small) */

static const soma_opt snn_opts_[] = {
    {"out", SOMA_OPT_STR, NULL, 0, 0, NULL, "run folder (also -o; default out/snn-NAME, NAME the file's)", 0},
    {"duration", SOMA_OPT_FLOAT, NULL, 1e-6, 1e8, NULL, "biological time in ms (default: the file's)", 0},
    {"seed", SOMA_OPT_INT, NULL, 0, 2147483647, NULL, "random seed (default: the file's)", 0},
    {"threads", SOMA_OPT_INT, NULL, 1, 256, NULL, "threads (default: all cores)", 0},
    {"quiet", SOMA_OPT_FLAG, NULL, 0, 0, NULL, "no progress output", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const char usage_[] =
    "usage: soma snn FILE.json [-o DIR] [--duration MS] [--seed S] [--threads T] [--quiet]\n"
    "Runs the spiking network described in FILE.json (format: docs/snn-json.md) and writes DIR/results.json\n"
    "(per group: n, mean_rate_hz, mean_cv, fano; totals: n_neurons, n_synapses, sim_seconds, setup_seconds,\n"
    "syn_events_per_second), spikes_GROUP.csv (t_ms,neuron), rate_GROUP.csv, state_GROUP_VAR.csv and\n"
    "raster.svg (raster + population rate of the groups with a spike monitor).\n\noptions:\n";

static int fail_(soma_status st) {
    fprintf(stderr, "soma: %s\n", soma_errmsg()[0] ? soma_errmsg() : soma_status_str(st));
    return soma_status_exit_code(st);
}

// --- records as CSV --------------------------------------------------------------------

/* DIR/BASE.csv, or DIR/BASE_MON.csv when an earlier monitor took the name. */
static void csv_path_(char *path, size_t cap, const char *dir, const char *base, int mon, char (*used)[96], int *n_used) {
    int dup = 0;
    for (int i = 0; i < *n_used; i++) dup |= strcmp(used[i], base) == 0;
    if (dup) snprintf(path, cap, "%s/%s_%d.csv", dir, base, mon);
    else snprintf(path, cap, "%s/%s.csv", dir, base);
    snprintf(used[(*n_used)++], 96, "%s", base);
}

static soma_status write_spikes_(const char *path, const soma_spikes *s) {
    soma_atomic_file af;
    SOMA_TRY(soma_atomic_open(&af, path));
    int ok = fprintf(af.f, "t_ms,neuron\n") > 0;
    for (long k = 0; ok && k < s->n; k++) ok = fprintf(af.f, "%.10g,%d\n", s->t[k], s->id[k]) > 0;
    if (!ok) {
        soma_atomic_abort(&af);
        return soma_error(SOMA_ERR_IO, "snn: %s: write failed", path);
    }
    return soma_atomic_commit(&af);
}

static soma_status write_state_(const char *path, const soma_snn *net, int mon, const soma_snn_json_monitor *m) {
    const float *data;
    const double *t;
    long ns;
    int nn;
    SOMA_TRY(soma_snn_state(net, mon, &data, &t, &ns, &nn));
    soma_atomic_file af;
    SOMA_TRY(soma_atomic_open(&af, path));
    int ok = fprintf(af.f, "t_ms") > 0;
    for (int j = 0; ok && j < nn; j++)
        ok = fprintf(af.f, ",%s_%d", m->var, j < m->n_neurons ? m->neurons[j] : j) > 0;
    ok = ok && fputc('\n', af.f) != EOF;
    for (long r = 0; ok && r < ns; r++) {
        ok = fprintf(af.f, "%.10g", t[r]) > 0;
        for (int j = 0; ok && j < nn; j++) ok = fprintf(af.f, ",%.7g", data[r * nn + j]) > 0;
        ok = ok && fputc('\n', af.f) != EOF;
    }
    if (!ok) {
        soma_atomic_abort(&af);
        return soma_error(SOMA_ERR_IO, "snn: %s: write failed", path);
    }
    return soma_atomic_commit(&af);
}

static soma_status write_rate_(const char *path, const soma_snn *net, int mon) {
    const float *hz;
    long n;
    SOMA_TRY(soma_snn_rate(net, mon, &hz, &n));
    double dt = soma_snn_dt(net), t0 = soma_snn_time(net) - (double)n * dt;
    soma_atomic_file af;
    SOMA_TRY(soma_atomic_open(&af, path));
    int ok = fprintf(af.f, "t_ms,rate_hz\n") > 0;
    for (long k = 0; ok && k < n; k++) ok = fprintf(af.f, "%.10g,%.7g\n", t0 + (double)k * dt, hz[k]) > 0;
    if (!ok) {
        soma_atomic_abort(&af);
        return soma_error(SOMA_ERR_IO, "snn: %s: write failed", path);
    }
    return soma_atomic_commit(&af);
}

// --- statistics and the figure ---------------------------------------------------------

/* The record over the whole run: the window ends where the simulation stopped. */
static soma_spikes window_(const soma_spikes *s, const soma_snn *net) {
    soma_spikes w = *s;
    if (w.t_stop < soma_snn_time(net)) w.t_stop = soma_snn_time(net);
    return w;
}

static double fano_bin_(double duration) { return duration >= 1000 ? 100.0 : duration / 10; }

static soma_status group_stats_(const soma_spikes *s, double duration, cJSON *g, double *n_cv, double *sum_cv) {
    int N = s->n_neurons;
    double *v = soma_alloc((size_t)N, sizeof *v);
    if (!v) return SOMA_ERR_NOMEM;
    soma_status st = soma_spike_rates(s, v);
    double mean = 0, mcv = NAN, fano = NAN;
    if (st == SOMA_OK) {
        for (int i = 0; i < N; i++) mean += v[i];
        mean /= N;
        st = soma_spike_cv(s, v, &mcv);
    }
    if (st == SOMA_OK) {
        for (int i = 0; i < N; i++)
            if (!isnan(v[i])) *n_cv += 1, *sum_cv += v[i];
        st = soma_spike_fano(s, fano_bin_(duration), &fano);
    }
    soma_free(v);
    if (st != SOMA_OK) return st;
    cJSON_AddNumberToObject(g, "mean_rate_hz", mean);
    if (isnan(mcv)) cJSON_AddNullToObject(g, "mean_cv");
    else cJSON_AddNumberToObject(g, "mean_cv", mcv);
    if (isnan(fano)) cJSON_AddNullToObject(g, "fano");
    else cJSON_AddNumberToObject(g, "fano", fano);
    cJSON_AddNumberToObject(g, "spikes", (double)s->n);
    return SOMA_OK;
}

/* One row per group with a spike monitor: its raster (the first MAX_RASTER_NEURONS neurons) and
 * its population rate. */
static soma_status figure_(const char *path, const soma_snn *net, const int *mons, const int *groups, int n,
                           double duration) {
    if (n > MAX_FIG_GROUPS) n = MAX_FIG_GROUPS;
    soma_fig *f = NULL;
    SOMA_TRY(soma_fig_new(&f, n, 2, 1000, 260 * n + 40));
    soma_fig_title(f, "soma snn: spike raster and population rate");
    double bin = duration / 1000 > 1 ? duration / 1000 : 1;
    soma_status st = SOMA_OK;
    for (int r = 0; r < n && st == SOMA_OK; r++) {
        soma_spikes s = window_(soma_snn_spikes(net, mons[r]), net);
        int show = s.n_neurons < MAX_RASTER_NEURONS ? s.n_neurons : MAX_RASTER_NEURONS;
        long m = 0;
        for (long k = 0; k < s.n; k++) m += s.id[k] < show;
        long nb = (long)floor((s.t_stop - s.t_start) / bin);
        if (nb < 1) nb = 1;
        float *t = soma_alloc((size_t)(m > 0 ? m : 1), sizeof *t), *x = soma_alloc((size_t)nb, sizeof *x),
              *y = soma_alloc((size_t)nb, sizeof *y);
        int *id = soma_alloc((size_t)(m > 0 ? m : 1), sizeof *id);
        if (!t || !id || !x || !y) st = SOMA_ERR_NOMEM;
        m = 0;
        for (long k = 0; st == SOMA_OK && k < s.n; k++)
            if (s.id[k] < show) t[m] = (float)s.t[k], id[m++] = s.id[k];
        char title[128];
        const char *name = soma_snn_group_name(net, groups[r]);
        if (st == SOMA_OK) {
            snprintf(title, sizeof title, "%s: raster (%d of %d neurons)", name, show, s.n_neurons);
            soma_fig_labels(f, 2 * r, title, "time (ms)", "neuron");
            st = soma_fig_raster(f, 2 * r, t, id, (int)m, show);
        }
        if (st == SOMA_OK) st = soma_spike_pop_rate(&s, bin, y, nb);
        if (st == SOMA_OK) {
            for (long b = 0; b < nb; b++) x[b] = (float)(s.t_start + ((double)b + 0.5) * bin);
            snprintf(title, sizeof title, "%s: population rate (%g ms bins)", name, bin);
            soma_fig_labels(f, 2 * r + 1, title, "time (ms)", "rate (Hz)");
            st = soma_fig_line(f, 2 * r + 1, x, y, (int)nb, NULL, NULL);
        }
        soma_free(t);
        soma_free(id);
        soma_free(x);
        soma_free(y);
    }
    if (st == SOMA_OK) st = soma_fig_save(f, path);
    soma_fig_free(f);
    return st;
}

// --- the command -----------------------------------------------------------------------

/* The description with the seed replaced (as text for soma_snn_from_json_info). */
static soma_status reseed_(const char *text, size_t n, const char *file, int seed, char **out) {
    cJSON *j = NULL;
    soma_status st = soma_json_parse(text, n, "snn description", &j);
    if (st != SOMA_OK) return soma_error_wrap(st, "%s: snn json", file);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return soma_error(SOMA_ERR_PARSE, "%s: snn json: top level: want an object {...}", file);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(j, "seed");
    cJSON_AddNumberToObject(j, "seed", seed);
    *out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return *out ? SOMA_OK : soma_error(SOMA_ERR_NOMEM, "snn: out of memory");
}

static soma_status run_(const soma_args *a, const char *file, cJSON *root, char *dir, size_t dir_cap, int quiet) {
    void *buf = NULL;
    size_t n = 0;
    char *text = NULL;
    soma_snn *net = NULL;
    soma_snn_json_info info;
    memset(&info, 0, sizeof info);
    int *mons = NULL, *mgroups = NULL;
    soma_status st = soma_file_read(file, 64u << 20, &buf, &n);
    if (st != SOMA_OK) goto out;
    if (strlen((const char *)buf) != n) {
        st = soma_error(SOMA_ERR_PARSE, "snn: %s: holds a NUL byte (not a JSON text file)", file);
        goto out;
    }
    int seed = -1;
    if ((st = soma_args_int(a, "seed", &seed)) != SOMA_OK) goto out;
    if (soma_args_given(a, "seed") && (st = reseed_((const char *)buf, n, file, seed, &text)) != SOMA_OK) goto out;
    double t0 = soma_now();
    st = soma_snn_from_json_info(text ? text : (const char *)buf, &net, &info);
    if (st != SOMA_OK) {
        st = soma_error_wrap(st, "%s", file);
        goto out;
    }
    double load_s = soma_now() - t0, duration = info.duration;
    if (soma_args_given(a, "duration")) duration = strtod(soma_args_str(a, "duration"), NULL);
    double dt = soma_snn_dt(net);
    long steps = lround(duration / dt);
    if (steps < 1) {
        st = soma_error(SOMA_ERR_ARG, "snn: duration %g ms is less than one step (dt %g ms)", duration, dt);
        goto out;
    }
    /* run folder */
    if (soma_args_str(a, "out")) snprintf(dir, dir_cap, "%s", soma_args_str(a, "out"));
    else {
        const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
        size_t len = strlen(base);
        if (len > 5 && !strcmp(base + len - 5, ".json")) len -= 5;
        snprintf(dir, dir_cap, "out/snn-%.*s", (int)len, base);
    }
    if ((st = soma_mkdir_p(dir)) != SOMA_OK) goto out;
    if (!quiet) soma_snn_set_progress(net, "snn");
    if ((st = soma_snn_run(net, (double)steps * dt)) != SOMA_OK) goto out;
    duration = (double)steps * dt;

    soma_snn_stats stats;
    soma_snn_stats_get(net, &stats);
    cJSON *ours = cJSON_AddObjectToObject(root, "ours"), *groups = cJSON_AddObjectToObject(root, "groups");
    int nm = soma_snn_n_monitors(net), ng = soma_snn_n_groups(net), n_fig = 0;
    long n_neurons = 0, mon_neurons = 0, mon_spikes = 0;
    double n_cv = 0, sum_cv = 0;
    mons = calloc((size_t)nm + 1, sizeof *mons);
    mgroups = calloc((size_t)nm + 1, sizeof *mgroups);
    char (*used)[96] = calloc((size_t)nm + 1, sizeof *used);
    int n_used = 0;
    if (!mons || !mgroups || !used) {
        free(used);
        st = soma_error(SOMA_ERR_NOMEM, "snn: out of memory");
        goto out;
    }
    for (int g = 0; g < ng; g++) {
        cJSON *gj = cJSON_AddObjectToObject(groups, soma_snn_group_name(net, g));
        cJSON_AddNumberToObject(gj, "n", soma_snn_group_size(net, g));
        n_neurons += soma_snn_group_size(net, g);
    }
    char path[4200], base[96];
    for (int m = 0; m < nm && st == SOMA_OK; m++) {
        soma_monitor_kind kind;
        int g;
        if ((st = soma_snn_monitor_info(net, m, &kind, &g)) != SOMA_OK) break;
        const char *gname = soma_snn_group_name(net, g);
        if (kind == SOMA_MON_SPIKES) {
            soma_spikes s = window_(soma_snn_spikes(net, m), net);
            snprintf(base, sizeof base, "spikes_%s", gname);
            csv_path_(path, sizeof path, dir, base, m, used, &n_used);
            if ((st = write_spikes_(path, &s)) != SOMA_OK) break;
            cJSON *gj = cJSON_GetObjectItemCaseSensitive(groups, gname);
            if (!cJSON_GetObjectItemCaseSensitive(gj, "mean_rate_hz")) { /* a group's first spike monitor */
                if ((st = group_stats_(&s, duration, gj, &n_cv, &sum_cv)) != SOMA_OK) break;
                mon_neurons += s.n_neurons;
                mon_spikes += s.n;
                mons[n_fig] = m;
                mgroups[n_fig++] = g;
            }
        } else if (kind == SOMA_MON_RATE) {
            snprintf(base, sizeof base, "rate_%s", gname);
            csv_path_(path, sizeof path, dir, base, m, used, &n_used);
            st = write_rate_(path, net, m);
        } else {
            snprintf(base, sizeof base, "state_%s_%s", gname, info.monitors[m].var);
            csv_path_(path, sizeof path, dir, base, m, used, &n_used);
            st = write_state_(path, net, m, &info.monitors[m]);
        }
    }
    free(used);
    if (st != SOMA_OK) goto out;
    if (n_fig) {
        snprintf(path, sizeof path, "%s/raster.svg", dir);
        if ((st = figure_(path, net, mons, mgroups, n_fig, duration)) != SOMA_OK) goto out;
    }
    if (mon_neurons) cJSON_AddNumberToObject(ours, "mean_rate_hz", (double)mon_spikes * 1000.0 / (duration * mon_neurons));
    if (n_cv > 0) cJSON_AddNumberToObject(ours, "mean_cv", sum_cv / n_cv);
    cJSON_AddNumberToObject(ours, "n_neurons", (double)n_neurons);
    cJSON_AddNumberToObject(ours, "n_synapses", (double)soma_snn_n_synapses(net));
    cJSON_AddNumberToObject(ours, "sim_seconds", stats.sim_seconds);
    cJSON_AddNumberToObject(ours, "setup_seconds", stats.setup_seconds);
    cJSON_AddNumberToObject(ours, "load_seconds", load_s);
    cJSON_AddNumberToObject(ours, "syn_events", (double)stats.syn_events);
    cJSON_AddNumberToObject(ours, "syn_events_per_second", stats.sim_seconds > 0 ? (double)stats.syn_events / stats.sim_seconds : 0);
    cJSON_AddNumberToObject(ours, "spikes", (double)stats.spikes);
    cJSON_AddNumberToObject(ours, "memory_bytes", (double)stats.bytes);
    cJSON_AddNumberToObject(root, "duration_ms", duration);
    cJSON_AddNumberToObject(root, "dt_ms", dt);
    cJSON_AddNumberToObject(root, "seed", (double)info.seed);
    cJSON_AddNumberToObject(root, "fano_bin_ms", fano_bin_(duration));
    if (!quiet)
        printf("snn: %ld neurons, %ld synapses, %.0f ms in %.2f s (setup %.2f s), %.3g synaptic events/s; mean rate %.2f Hz\n",
               n_neurons, soma_snn_n_synapses(net), duration, stats.sim_seconds, stats.setup_seconds,
               stats.sim_seconds > 0 ? (double)stats.syn_events / stats.sim_seconds : 0,
               mon_neurons ? (double)mon_spikes * 1000.0 / (duration * mon_neurons) : 0);
out:
    free(mons);
    free(mgroups);
    soma_snn_json_info_free(&info);
    soma_snn_free(net);
    cJSON_free(text);
    soma_free(buf);
    return st;
}

int soma_cli_snn(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_, stdout);
            for (const soma_opt *o = snn_opts_; o->key; o++) printf("  --%-20s %s\n", o->key, o->help);
            return 0;
        }
    if (argc < 1 || argv[0][0] == '-') {
        fprintf(stderr, "soma: snn: name the network description first: soma snn FILE.json [options]\n");
        return 2;
    }
    const char *file = argv[0];
    for (int i = 1; i < argc; i++) /* -o is --out */
        if (!strcmp(argv[i], "-o")) argv[i] = (char *)"--out";
    soma_args a;
    soma_status st = soma_args_parse(&a, "snn", snn_opts_, argc - 1, (const char *const *)(argv + 1));
    if (st != SOMA_OK) return fail_(st);
    int threads = soma_get_threads(), quiet = soma_args_flag(&a, "quiet");
    if ((st = soma_args_int(&a, "threads", &threads)) != SOMA_OK) {
        soma_args_free(&a);
        return fail_(st);
    }
    soma_set_threads(threads);
    cJSON *root = cJSON_CreateObject();
    char dir[4096] = "";
    const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    char name[160];
    snprintf(name, sizeof name, "snn %s", base);
    cJSON_AddStringToObject(root, "experiment", name);
    cJSON_AddStringToObject(root, "summary", "A spiking network run from its JSON description with soma snn.");
    cJSON_AddStringToObject(root, "file", file);
    st = run_(&a, file, root, dir, sizeof dir, quiet);
    if (st == SOMA_OK) {
        cJSON *opts = cJSON_AddObjectToObject(root, "options");
        for (int i = 0; i < a.n; i++) {
            if (a.opts[i].type == SOMA_OPT_FLAG) cJSON_AddBoolToObject(opts, a.opts[i].key, a.vals[i] != NULL);
            else if (a.vals[i]) cJSON_AddStringToObject(opts, a.opts[i].key, a.vals[i]);
            else cJSON_AddNullToObject(opts, a.opts[i].key);
        }
        cJSON_AddNumberToObject(root, "threads", soma_get_threads());
        soma_exp_put_provenance(root);
        char path[4200];
        snprintf(path, sizeof path, "%s/results.json", dir);
        st = soma_json_write(path, root);
        if (st == SOMA_OK && !quiet) printf("results: %s\n", path);
    }
    cJSON_Delete(root);
    soma_args_free(&a);
    return st == SOMA_OK ? 0 : fail_(st);
}
