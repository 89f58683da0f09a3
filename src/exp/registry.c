// The experiment registry and runner: options, seed, threads, landmarks, results.json.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exp/internal.h"
#include "soma/io.h"
#include "soma/soma.h"

#define SOMA_EXP(name) &soma__exp_##name,
static const soma_experiment *const registry_[] = {
#include "exp/list.h"
};
#undef SOMA_EXP

#define REDUCED_NOTE "reduced: not comparable with the landmark"

int soma_exp_count(void) { return (int)(sizeof registry_ / sizeof *registry_); }
const soma_experiment *soma_exp_get(int i) {
    return i >= 0 && i < soma_exp_count() ? registry_[i] : NULL;
}
const soma_experiment *soma_exp_find(const char *name) {
    for (int i = 0; i < soma_exp_count(); i++)
        if (name && strcmp(registry_[i]->name, name) == 0) return registry_[i];
    return NULL;
}

static const soma_opt globals_[] = {
    {"seed", SOMA_OPT_INT, "1", 0, 2147483647.0, NULL, "random seed", 0},
    {"threads", SOMA_OPT_INT, NULL, 1, 256, NULL, "threads for OpenMP and BLAS (default: all cores)", 0},
    {"out", SOMA_OPT_STR, NULL, 0, 0, NULL, "output root; the run goes into OUT/NAME (default: out)", 0},
    {"quiet", SOMA_OPT_FLAG, NULL, 0, 0, NULL, "no progress line", 0},
    {"reduced", SOMA_OPT_FLAG, NULL, 0, 0, NULL,
     "a small run (the experiment's test size; options given override it); not comparable with the landmark", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

const soma_opt *soma_exp_global_opts(void) { return globals_; }

static int starts_with_(const char *s, const char *p) { return s && strncmp(s, p, strlen(p)) == 0; }

soma_status soma_exp_check(const soma_experiment *e) {
    if (!e || !e->name || !e->summary || !e->run)
        return soma_error(SOMA_ERR_INTERNAL, "experiment %s: needs a name, a summary and a run function",
                          e && e->name ? e->name : "(unnamed)");
    SOMA_TRY(soma_opts_check(e->name, e->opts));
    for (const soma_opt *o = e->opts; o && o->key; o++)
        for (const soma_opt *g = globals_; g->key; g++)
            if (strcmp(o->key, g->key) == 0)
                return soma_error(SOMA_ERR_INTERNAL,
                                  "experiment %s: option --%s shadows the global option of that name", e->name,
                                  o->key);
    int n = 0;
    for (const soma_exp_landmark *l = e->landmarks; l && l->figure; l++, n++) {
        if (!l->source || !l->source[0] || !l->key || !l->key[0])
            return soma_error(SOMA_ERR_INTERNAL, "experiment %s: landmark '%s' needs a source and a key", e->name,
                              l->figure);
        if (!starts_with_(l->link, "https://") && !starts_with_(l->link, "http://"))
            return soma_error(SOMA_ERR_INTERNAL,
                              "experiment %s: landmark '%s' needs one link to its source (a DOI as "
                              "https://doi.org/... or a URL), has '%s'",
                              e->name, l->figure, l->link ? l->link : "(none)");
        if ((unsigned)l->cmp >= SOMA_EXP_CMP_COUNT || !isfinite(l->value))
            return soma_error(SOMA_ERR_INTERNAL, "experiment %s: landmark '%s' needs a comparison and a finite value",
                              e->name, l->figure);
    }
    if (n == 0) return soma_error(SOMA_ERR_INTERNAL, "experiment %s: declares no landmark", e->name);
    /* reduced_args: "--key", "value" pairs of declared options, each value valid */
    for (int i = 0; e->reduced_args && e->reduced_args[i]; i += 2) {
        const char *k = e->reduced_args[i], *v = e->reduced_args[i + 1];
        const soma_opt *o = NULL;
        for (const soma_opt *p = e->opts; p && p->key && k[0] == '-' && k[1] == '-'; p++)
            if (strcmp(p->key, k + 2) == 0) o = p;
        if (!o || !v || o->type == SOMA_OPT_FLAG)
            return soma_error(SOMA_ERR_INTERNAL,
                              "experiment %s: reduced arguments must be --key value pairs of its options; '%s' is not",
                              e->name, k);
        char what[160];
        snprintf(what, sizeof what, "experiment %s: reduced %s", e->name, k);
        if (soma_opt_check_value(what, o, v) != SOMA_OK) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", soma_errmsg());
            return soma_error(SOMA_ERR_INTERNAL, "%s", msg);
        }
    }
    return SOMA_OK;
}

void soma_json_put_num(cJSON *o, const char *key, double v) {
    cJSON_DeleteItemFromObjectCaseSensitive(o, key);
    if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

void soma_json_put_floats(cJSON *o, const char *key, const float *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) {
        cJSON *x = isfinite(v[i]) ? cJSON_CreateNumber((double)v[i]) : cJSON_CreateNull();
        if (!x || !cJSON_AddItemToArray(a, x)) { /* out of memory: nothing may leak */
            cJSON_Delete(x);
            break;
        }
    }
    cJSON_DeleteItemFromObjectCaseSensitive(o, key);
    if (a && !cJSON_AddItemToObject(o, key, a)) cJSON_Delete(a);
}

void soma_exp_put(soma_exp_ctx *c, const char *key, double v) { soma_json_put_num(c->ours, key, v); }

void soma_exp_put_array(soma_exp_ctx *c, const char *key, const float *v, int n) {
    soma_json_put_floats(c->ours, key, v, n);
}

const char *soma_exp_path(const soma_exp_ctx *c, const char *file, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/%s", c->out_dir, file);
    return buf;
}

/* The CPU's model name as /proc/cpuinfo gives it ("" when it does not). */
void soma_exp_put_provenance(cJSON *o) {
    soma_cpu_info cpu;
    soma_cpu_detect(&cpu);
    soma_blas_info bi;
    soma_blas_info_get(&bi);
    char line[512];
    soma_machine_describe(line, sizeof line);
    cJSON_DeleteItemFromObjectCaseSensitive(o, "machine");
    cJSON *m = cJSON_AddObjectToObject(o, "machine");
    cJSON_AddStringToObject(m, "description", line);
    cJSON_AddStringToObject(m, "cpu", cpu.model_name);
    cJSON_AddStringToObject(m, "cpu_vendor", cpu.vendor);
    cJSON_AddNumberToObject(m, "cpu_family", cpu.family);
    cJSON_AddNumberToObject(m, "cpu_model", cpu.model);
    cJSON_AddNumberToObject(m, "cores", (double)sysconf(_SC_NPROCESSORS_ONLN));
    cJSON_AddStringToObject(m, "blas", bi.name);
    /* the BLAS's own report; it names the kernels it runs ("... Haswell MAX_THREADS=64") */
    cJSON_AddStringToObject(m, "blas_config", bi.config);
    cJSON_AddStringToObject(m, "blas_core", bi.core);           /* the kernels that ran */
    cJSON_AddStringToObject(m, "blas_core_source", bi.core_source); /* openblas | soma | user */
    cJSON_AddStringToObject(m, "blas_core_openblas_pick", bi.core_auto);
    cJSON_AddBoolToObject(m, "openmp", soma_have_openmp());
    cJSON_DeleteItemFromObjectCaseSensitive(o, "soma_version");
    cJSON_AddStringToObject(o, "soma_version", SOMA_VERSION);
    char stamp[32];
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    cJSON_DeleteItemFromObjectCaseSensitive(o, "date");
    cJSON_AddStringToObject(o, "date", stamp);
}

/* Whether option k's value differs from its default (numbers compared as numbers). */
static int differs_(const soma_opt *o, const char *v) {
    if (!o->def || !v) return o->def != v;
    if (o->type == SOMA_OPT_INT || o->type == SOMA_OPT_FLOAT) return strtod(o->def, NULL) != strtod(v, NULL);
    return strcmp(o->def, v) != 0;
}

/* The landmarks with ours beside each, and the run's status. */
static void put_landmarks_(soma_exp_ctx *c) {
    const soma_experiment *e = c->exp;
    cJSON *arr = cJSON_AddArrayToObject(c->root, "landmarks");
    int all = 1, any_miss = 0;
    for (const soma_exp_landmark *l = e->landmarks; l && l->figure; l++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "figure", l->figure);
        cJSON_AddStringToObject(o, "source", l->source);
        cJSON_AddStringToObject(o, "link", l->link);
        cJSON_AddStringToObject(o, "key", l->key);
        cJSON_AddStringToObject(o, "compare", l->cmp == SOMA_EXP_AT_MOST ? "<=" : ">=");
        cJSON_AddNumberToObject(o, "value", l->value);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->ours, l->key);
        const char *verdict;
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
            cJSON_AddNullToObject(o, "ours");
            cJSON_AddNullToObject(o, "meets");
            verdict = "not measured";
            all = 0;
        } else {
            double x = v->valuedouble;
            int meets = l->cmp == SOMA_EXP_AT_MOST ? x <= l->value : x >= l->value;
            cJSON_AddNumberToObject(o, "ours", x);
            if (c->reduced) {
                cJSON_AddNullToObject(o, "meets");
                verdict = REDUCED_NOTE;
            } else {
                cJSON_AddBoolToObject(o, "meets", meets);
                verdict = meets ? "meets" : "misses";
                any_miss |= !meets;
            }
        }
        cJSON_AddStringToObject(o, "verdict", verdict);
        if (!cJSON_AddItemToArray(arr, o)) cJSON_Delete(o); /* out of memory: nothing may leak */
    }
    const char *status = c->reduced ? "reduced" : any_miss ? "fail" : all ? "pass" : "incomplete";
    cJSON_AddStringToObject(c->root, "status", status);
    if (!c->reduced && (any_miss || all)) cJSON_AddBoolToObject(c->root, "pass", !any_miss);
}

static soma_status run_(const soma_experiment *e, int argc, const char *const *argv, const char *out_root,
                        cJSON **results);

soma_status soma_exp_run(const soma_experiment *e, int argc, const char *const *argv, const char *out_root,
                         cJSON **results) {
    if (results) *results = NULL;
    SOMA_TRY(soma_exp_check(e));
    int reduced = 0;
    for (int i = 0; i < argc; i++) reduced |= strcmp(argv[i], "--reduced") == 0;
    if (!reduced) return run_(e, argc, argv, out_root, results);
    /* --reduced: the experiment's reduced arguments ("--key", "value" pairs), except those
     * the user gives */
    int nr = 0;
    while (e->reduced_args && e->reduced_args[nr]) nr++;
    const char **all = calloc((size_t)(nr + argc + 1), sizeof *all);
    if (!all) return soma_error(SOMA_ERR_NOMEM, "run %s: out of memory", e->name);
    int n = 0;
    for (int i = 0; i + 1 < nr; i += 2) {
        const char *k = e->reduced_args[i];
        size_t kl = strlen(k);
        int user = 0;
        for (int j = 0; j < argc; j++)
            user |= strncmp(argv[j], k, kl) == 0 && (argv[j][kl] == '\0' || argv[j][kl] == '=');
        if (!user) {
            all[n++] = k;
            all[n++] = e->reduced_args[i + 1];
        }
    }
    for (int i = 0; i < argc; i++) all[n++] = argv[i];
    soma_status st = run_(e, n, all, out_root, results);
    free(all);
    return st;
}

static soma_status run_(const soma_experiment *e, int argc, const char *const *argv, const char *out_root,
                        cJSON **results) {
    int ne = soma_opts_count(e->opts), ng = soma_opts_count(globals_);
    soma_opt *all = calloc((size_t)(ne + ng + 1), sizeof *all);
    if (!all) return soma_error(SOMA_ERR_NOMEM, "run %s: out of memory", e->name);
    if (ne) memcpy(all, e->opts, (size_t)ne * sizeof *all);
    memcpy(all + ne, globals_, (size_t)ng * sizeof *all);
    soma_exp_ctx c;
    memset(&c, 0, sizeof c);
    c.exp = e;
    c.threads = soma_get_threads();
    char cmd[160];
    snprintf(cmd, sizeof cmd, "run %s", e->name);
    soma_status st = soma_args_parse(&c.args, cmd, all, argc, argv);
    if (st != SOMA_OK) {
        free(all);
        return st;
    }
    int seed = 1;
    if ((st = soma_args_int(&c.args, "seed", &seed)) != SOMA_OK ||
        (st = soma_args_int(&c.args, "threads", &c.threads)) != SOMA_OK)
        goto done;
    c.seed = (uint64_t)seed;
    c.quiet = soma_args_flag(&c.args, "quiet");
    const char *root = soma_args_str(&c.args, "out");
    if (!root) root = out_root ? out_root : "out";
    c.reduced = soma_args_flag(&c.args, "reduced");
    for (int k = 0; k < ne; k++) c.reduced |= e->opts[k].reduces && differs_(&e->opts[k], c.args.vals[k]);
    int n = snprintf(c.out_dir, sizeof c.out_dir, "%s/%s", root, e->name);
    if (n < 0 || (size_t)n >= sizeof c.out_dir) {
        st = soma_error(SOMA_ERR_ARG, "%s: output path too long", cmd);
        goto done;
    }
    if (e->check && (st = e->check(&c)) != SOMA_OK) {
        st = soma_error_wrap(st, "%s", cmd);
        goto done;
    }
    soma_set_threads(c.threads);
    if ((st = soma_mkdir_p(c.out_dir)) != SOMA_OK) goto done;

    c.root = cJSON_CreateObject();
    if (!c.root) {
        st = soma_error(SOMA_ERR_NOMEM, "%s: out of memory for the results", cmd);
        goto done;
    }
    cJSON_AddStringToObject(c.root, "experiment", e->name);
    cJSON_AddStringToObject(c.root, "summary", e->summary);
    c.ours = cJSON_AddObjectToObject(c.root, "ours");
    double t0 = soma_now();
    st = soma_cancel_requested() ? soma_error(SOMA_ERR_CANCELLED, "cancelled before it started") : e->run(&c);
    if (st == SOMA_OK && soma_cancel_requested()) st = soma_error(SOMA_ERR_CANCELLED, "cancelled");
    if (st != SOMA_OK) {
        st = soma_error_wrap(st, "%s", cmd);
        goto done;
    }
    /* The measured headline numbers also sit at the top level (test_accuracy, ...). */
    cJSON *it;
    cJSON_ArrayForEach(it, c.ours) {
        if (cJSON_IsNumber(it)) cJSON_AddNumberToObject(c.root, it->string, it->valuedouble);
    }
    put_landmarks_(&c);
    if (c.reduced) {
        cJSON *r = cJSON_AddObjectToObject(c.root, "reduced");
        cJSON_AddStringToObject(r, "note", REDUCED_NOTE);
        cJSON *by = cJSON_AddArrayToObject(r, "options");
        for (int k = 0; k < ne; k++) {
            if (!e->opts[k].reduces || !differs_(&e->opts[k], c.args.vals[k])) continue;
            cJSON *key = cJSON_CreateString(e->opts[k].key);
            if (!cJSON_AddItemToArray(by, key)) cJSON_Delete(key);
        }
    }
    if (c.headline[0]) cJSON_AddStringToObject(c.root, "headline", c.headline);
    cJSON *opts = cJSON_AddObjectToObject(c.root, "options");
    for (int k = 0; k < ne; k++) {
        const char *v = c.args.vals[k];
        if (e->opts[k].type == SOMA_OPT_FLAG) cJSON_AddBoolToObject(opts, e->opts[k].key, v != NULL);
        else if (v) cJSON_AddStringToObject(opts, e->opts[k].key, v);
        else cJSON_AddNullToObject(opts, e->opts[k].key);
    }
    cJSON_AddStringToObject(c.root, "out_dir", c.out_dir);
    cJSON_AddNumberToObject(c.root, "seed", (double)c.seed);
    cJSON_AddNumberToObject(c.root, "threads", c.threads);
    cJSON_AddNumberToObject(c.root, "wall_seconds", soma_now() - t0);
    cJSON_AddStringToObject(c.root, "blas", soma_blas_name());
    soma_exp_put_provenance(c.root);
    char path[1100];
    st = soma_json_write(soma_exp_path(&c, "results.json", path, sizeof path), c.root);
done:
    if (st == SOMA_OK && results) *results = c.root;
    else cJSON_Delete(c.root);
    soma_args_free(&c.args);
    free(all);
    return st;
}

soma_status soma_exp_run_reduced(const soma_experiment *e, int argc_extra, const char *const *extra,
                                 const char *out_root, cJSON **results) {
    const char **argv = calloc((size_t)argc_extra + 3, sizeof *argv);
    if (!argv) return soma_error(SOMA_ERR_NOMEM, "run %s: out of memory", e->name);
    int n = 0, has_quiet = 0;
    argv[n++] = "--reduced";
    for (int i = 0; i < argc_extra; i++) {
        has_quiet |= strcmp(extra[i], "--quiet") == 0;
        argv[n++] = extra[i];
    }
    if (!has_quiet) argv[n++] = "--quiet";
    soma_status st = soma_exp_run(e, n, argv, out_root, results);
    free(argv);
    return st;
}
