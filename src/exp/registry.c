// The experiment registry and runner: options, seed, threads, results.json.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exp/internal.h"
#include "soma/io.h"
#include "soma/soma.h"

static const soma_experiment *const registry_[] = {
    &soma__exp_perceptron,
    &soma__exp_mlp_fmnist,
    &soma__exp_lenet_fmnist,
};

int soma_exp_count(void) { return (int)(sizeof registry_ / sizeof *registry_); }
const soma_experiment *soma_exp_get(int i) {
    return i >= 0 && i < soma_exp_count() ? registry_[i] : NULL;
}
const soma_experiment *soma_exp_find(const char *name) {
    for (int i = 0; i < soma_exp_count(); i++)
        if (name && strcmp(registry_[i]->name, name) == 0) return registry_[i];
    return NULL;
}

soma_status soma_parse_long(const char *what, const char *s, long lo, long hi, long *out) {
    if (!s || !*s) return soma_error(SOMA_ERR_ARG, "%s: empty value (want an integer)", what);
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end || errno) return soma_error(SOMA_ERR_ARG, "%s: '%s' is not an integer", what, s);
    if (v < lo || v > hi) return soma_error(SOMA_ERR_ARG, "%s: %ld is out of range (%ld..%ld)", what, v, lo, hi);
    *out = v;
    return SOMA_OK;
}

soma_status soma_parse_double(const char *what, const char *s, double lo, double hi, double *out) {
    if (!s || !*s) return soma_error(SOMA_ERR_ARG, "%s: empty value (want a number)", what);
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno || !isfinite(v)) return soma_error(SOMA_ERR_ARG, "%s: '%s' is not a number", what, s);
    if (v < lo || v > hi) return soma_error(SOMA_ERR_ARG, "%s: %g is out of range (%g..%g)", what, v, lo, hi);
    *out = v;
    return SOMA_OK;
}

static const char *lookup_(const soma_exp_ctx *c, const char *key) {
    for (int i = 0; i < c->n_opts; i++)
        if (strcmp(c->keys[i], key) == 0) return c->vals[i];
    return NULL;
}

soma_status soma_exp_str(const soma_exp_ctx *c, const char *key, const char **out) {
    const char *v = lookup_(c, key);
    if (!v) return soma_error(SOMA_ERR_INTERNAL, "%s: option --%s is not declared", c->exp->name, key);
    *out = v;
    return SOMA_OK;
}

/* The value of a declared option and its name for messages ("lenet-fmnist --epochs"). */
static soma_status named_value_(const soma_exp_ctx *c, const char *key, char *what, size_t cap,
                                const char **v) {
    SOMA_TRY(soma_exp_str(c, key, v));
    snprintf(what, cap, "%s --%s", c->exp->name, key);
    return SOMA_OK;
}

soma_status soma_exp_int(const soma_exp_ctx *c, const char *key, long lo, long hi, int *out) {
    const char *v;
    char what[96];
    long x;
    SOMA_TRY(named_value_(c, key, what, sizeof what, &v));
    SOMA_TRY(soma_parse_long(what, v, lo, hi, &x));
    *out = (int)x;
    return SOMA_OK;
}

soma_status soma_exp_float(const soma_exp_ctx *c, const char *key, double lo, double hi, float *out) {
    const char *v;
    char what[96];
    double x;
    SOMA_TRY(named_value_(c, key, what, sizeof what, &v));
    SOMA_TRY(soma_parse_double(what, v, lo, hi, &x));
    *out = (float)x;
    return SOMA_OK;
}

void soma_exp_put(soma_exp_ctx *c, const char *key, double v) {
    cJSON_DeleteItemFromObjectCaseSensitive(c->ours, key);
    if (isfinite(v)) cJSON_AddNumberToObject(c->ours, key, v);
    else cJSON_AddNullToObject(c->ours, key);
}

void soma_exp_put_array(soma_exp_ctx *c, const char *key, const float *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(a, isfinite(v[i]) ? cJSON_CreateNumber((double)v[i]) : cJSON_CreateNull());
    cJSON_DeleteItemFromObjectCaseSensitive(c->ours, key);
    cJSON_AddItemToObject(c->ours, key, a);
}

const char *soma_exp_path(const soma_exp_ctx *c, const char *file, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/%s", c->out_dir, file);
    return buf;
}

static int declared_(const soma_experiment *e, const char *key) {
    for (const soma_exp_opt *o = e->opts; o && o->key; o++)
        if (strcmp(o->key, key) == 0) return 1;
    return 0;
}

soma_status soma_exp_run(const soma_experiment *e, int argc, const char *const *argv, const char *out_root,
                         cJSON **results) {
    if (results) *results = NULL;
    soma_exp_ctx c;
    memset(&c, 0, sizeof c);
    c.exp = e;
    c.seed = 1;
    c.threads = soma_get_threads();
    c.pass = -1;
    for (const soma_exp_opt *o = e->opts; o && o->key; o++) {
        if (c.n_opts >= SOMA_EXP_MAX_OPTS) return soma_error(SOMA_ERR_INTERNAL, "%s: too many options", e->name);
        c.keys[c.n_opts] = o->key;
        c.vals[c.n_opts++] = o->def;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0)
            return soma_error(SOMA_ERR_ARG, "run %s: unexpected argument '%s' (options are --key value)", e->name, a);
        char key[64];
        const char *val = NULL;
        const char *eq = strchr(a + 2, '=');
        size_t kl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (kl == 0 || kl >= sizeof key) return soma_error(SOMA_ERR_ARG, "run %s: bad option '%s'", e->name, a);
        memcpy(key, a + 2, kl);
        key[kl] = '\0';
        if (strcmp(key, "quiet") == 0 && !eq) {
            c.quiet = 1;
            continue;
        }
        if (eq) val = eq + 1;
        else if (i + 1 < argc) val = argv[++i];
        else return soma_error(SOMA_ERR_ARG, "run %s: option --%s needs a value", e->name, key);
        if (strcmp(key, "seed") == 0) {
            long s;
            SOMA_TRY(soma_parse_long("--seed", val, 0, 2147483647L, &s));
            c.seed = (uint64_t)s;
        } else if (strcmp(key, "threads") == 0) {
            long t;
            SOMA_TRY(soma_parse_long("--threads", val, 1, 256, &t));
            c.threads = (int)t;
        } else if (declared_(e, key)) {
            for (int k = 0; k < c.n_opts; k++)
                if (strcmp(c.keys[k], key) == 0) c.vals[k] = val;
        } else {
            char list[512] = "";
            for (const soma_exp_opt *o = e->opts; o && o->key; o++)
                snprintf(list + strlen(list), sizeof list - strlen(list), " --%s", o->key);
            return soma_error(SOMA_ERR_ARG, "run %s: unknown option --%s (options:%s --seed --threads --quiet)",
                              e->name, key, list);
        }
    }
    soma_set_threads(c.threads);
    int n = snprintf(c.out_dir, sizeof c.out_dir, "%s/%s", out_root ? out_root : "out", e->name);
    if (n < 0 || (size_t)n >= sizeof c.out_dir) return soma_error(SOMA_ERR_ARG, "run: output path too long");
    SOMA_TRY(soma_mkdir_p(c.out_dir));

    c.root = cJSON_CreateObject();
    if (!c.root) return soma_error(SOMA_ERR_NOMEM, "run %s: out of memory for the results", e->name);
    cJSON_AddStringToObject(c.root, "experiment", e->name);
    cJSON_AddStringToObject(c.root, "summary", e->summary);
    cJSON *lm = cJSON_AddObjectToObject(c.root, "landmark");
    cJSON_AddStringToObject(lm, "paper", e->paper);
    cJSON_AddStringToObject(lm, "figure", e->figure);
    if (isfinite(e->landmark)) cJSON_AddNumberToObject(lm, "value", e->landmark);
    if (e->key) cJSON_AddStringToObject(lm, "key", e->key);
    c.ours = cJSON_AddObjectToObject(c.root, "ours");
    double t0 = soma_now();
    soma_status st = e->run(&c);
    if (st != SOMA_OK) {
        cJSON_Delete(c.root);
        return soma_error_wrap(st, "run %s", e->name);
    }
    /* The measured headline numbers also sit at the top level (test_accuracy, ...). */
    cJSON *it;
    cJSON_ArrayForEach(it, c.ours) {
        if (cJSON_IsNumber(it)) cJSON_AddNumberToObject(c.root, it->string, it->valuedouble);
    }
    if (c.pass >= 0) cJSON_AddBoolToObject(c.root, "pass", c.pass);
    if (c.headline[0]) cJSON_AddStringToObject(c.root, "headline", c.headline);
    cJSON *opts = cJSON_AddObjectToObject(c.root, "options");
    for (int k = 0; k < c.n_opts; k++) cJSON_AddStringToObject(opts, c.keys[k], c.vals[k]);
    cJSON_AddNumberToObject(c.root, "seed", (double)c.seed);
    cJSON_AddNumberToObject(c.root, "threads", c.threads);
    cJSON_AddNumberToObject(c.root, "wall_seconds", soma_now() - t0);
    cJSON_AddStringToObject(c.root, "soma_version", SOMA_VERSION);
    cJSON_AddStringToObject(c.root, "blas", soma_blas_name());
    char stamp[32];
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    cJSON_AddStringToObject(c.root, "date", stamp);
    char path[1100];
    st = soma_json_write(soma_exp_path(&c, "results.json", path, sizeof path), c.root);
    if (st != SOMA_OK) {
        cJSON_Delete(c.root);
        return st;
    }
    if (results) *results = c.root;
    else cJSON_Delete(c.root);
    return SOMA_OK;
}
