// The one option parser: declared options (type, default, range, choices) for the soma
// command and the experiments alike.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soma/exp.h"

soma_status soma_parse_long(const char *what, const char *s, long lo, long hi, long *out) {
    if (!s || !*s) return soma_error(SOMA_ERR_ARG, "%s: empty value (want an integer)", what);
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end) return soma_error(SOMA_ERR_ARG, "%s: '%s' is not an integer", what, s);
    if (errno == ERANGE || v < lo || v > hi)
        return soma_error(SOMA_ERR_ARG, "%s: %s is out of range (%ld..%ld)", what, s, lo, hi);
    *out = v;
    return SOMA_OK;
}

soma_status soma_parse_double(const char *what, const char *s, double lo, double hi, double *out) {
    if (!s || !*s) return soma_error(SOMA_ERR_ARG, "%s: empty value (want a number)", what);
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || isnan(v)) return soma_error(SOMA_ERR_ARG, "%s: '%s' is not a number", what, s);
    if (errno == ERANGE || !isfinite(v) || v < lo || v > hi)
        return soma_error(SOMA_ERR_ARG, "%s: %s is out of range (%g..%g)", what, s, lo, hi);
    *out = v;
    return SOMA_OK;
}

int soma_opts_count(const soma_opt *opts) {
    int n = 0;
    while (opts && opts[n].key) n++;
    return n;
}

/* Whether val is one of the '|'-separated choices. */
static int in_choices_(const char *choices, const char *val) {
    size_t l = strlen(val);
    for (const char *p = choices; p && *p;) {
        const char *bar = strchr(p, '|');
        size_t k = bar ? (size_t)(bar - p) : strlen(p);
        if (k == l && strncmp(p, val, l) == 0) return 1;
        p = bar ? bar + 1 : p + k;
    }
    return 0;
}

soma_status soma_opt_check_value(const char *what, const soma_opt *o, const char *val) {
    double d;
    long x;
    switch (o->type) {
    case SOMA_OPT_STR:
        return SOMA_OK;
    case SOMA_OPT_FLAG:
        return val ? soma_error(SOMA_ERR_ARG, "%s takes no value", what) : SOMA_OK;
    case SOMA_OPT_INT: {
        long lo = o->lo < -2147483647.0 ? -2147483647L : (long)o->lo;
        long hi = o->hi > 2147483647.0 ? 2147483647L : (long)o->hi;
        return soma_parse_long(what, val, lo, hi, &x);
    }
    case SOMA_OPT_FLOAT:
        return soma_parse_double(what, val, o->lo, o->hi, &d);
    case SOMA_OPT_ENUM:
        if (val && in_choices_(o->choices, val)) return SOMA_OK;
        return soma_error(SOMA_ERR_ARG, "%s: '%s' is not one of %s", what, val ? val : "", o->choices);
    default:
        return soma_error(SOMA_ERR_INTERNAL, "%s: unknown option type %d", what, (int)o->type);
    }
}

soma_status soma_opts_check(const char *cmd, const soma_opt *opts) {
    int n = soma_opts_count(opts);
    for (int i = 0; i < n; i++) {
        const soma_opt *o = &opts[i];
        const char *k = o->key;
        int ok = k[0] && k[0] != '-';
        for (const char *p = k; *p; p++) ok &= (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-';
        if (!ok) return soma_error(SOMA_ERR_INTERNAL, "%s: option '%s': keys are lower-case words joined by '-'", cmd, k);
        for (int j = 0; j < i; j++)
            if (strcmp(opts[j].key, k) == 0) return soma_error(SOMA_ERR_INTERNAL, "%s: option --%s is declared twice", cmd, k);
        if ((unsigned)o->type >= SOMA_OPT_TYPE_COUNT)
            return soma_error(SOMA_ERR_INTERNAL, "%s: option --%s has unknown type %d", cmd, k, (int)o->type);
        if ((o->type == SOMA_OPT_INT || o->type == SOMA_OPT_FLOAT) && !(o->lo <= o->hi))
            return soma_error(SOMA_ERR_INTERNAL, "%s: option --%s has an empty range (%g..%g)", cmd, k, o->lo, o->hi);
        if (o->type == SOMA_OPT_ENUM && (!o->choices || !o->choices[0]))
            return soma_error(SOMA_ERR_INTERNAL, "%s: enum option --%s declares no choices", cmd, k);
        if (o->type == SOMA_OPT_FLAG && o->def)
            return soma_error(SOMA_ERR_INTERNAL, "%s: flag --%s cannot have a default", cmd, k);
        if (o->def) {
            char what[160];
            snprintf(what, sizeof what, "%s: default of --%s", cmd, k);
            soma_status st = soma_opt_check_value(what, o, o->def);
            if (st != SOMA_OK) {
                char msg[512];
                snprintf(msg, sizeof msg, "%s", soma_errmsg());
                return soma_error(SOMA_ERR_INTERNAL, "%s", msg);
            }
        }
    }
    return SOMA_OK;
}

static soma_status unknown_(const char *cmd, const soma_opt *opts, const char *a, size_t kl) {
    char list[1024] = "";
    size_t used = 0;
    for (const soma_opt *o = opts; o && o->key && used + 1 < sizeof list; o++) {
        int w = snprintf(list + used, sizeof list - used, " --%s", o->key);
        if (w < 0) break;
        used += (size_t)w;
    }
    if (used >= sizeof list) memcpy(list + sizeof list - 5, " ...", 5);
    return soma_error(SOMA_ERR_ARG, "%s: unknown option '%.*s' (options:%s)", cmd, (int)(kl + 2), a, list);
}

soma_status soma_args_parse(soma_args *a, const char *cmd, const soma_opt *opts, int argc,
                            const char *const *argv) {
    memset(a, 0, sizeof *a);
    int n = soma_opts_count(opts);
    a->cmd = cmd;
    a->opts = opts;
    a->n = n;
    a->vals = calloc((size_t)n + 1, sizeof *a->vals);
    a->given = calloc((size_t)n + 1, 1);
    if (!a->vals || !a->given) {
        soma_args_free(a);
        return soma_error(SOMA_ERR_NOMEM, "%s: out of memory parsing options", cmd);
    }
    soma_status st = SOMA_OK;
    for (int i = 0; i < argc && st == SOMA_OK; i++) {
        const char *s = argv[i];
        if (strncmp(s, "--", 2) != 0 || !s[2]) {
            st = soma_error(SOMA_ERR_ARG, "%s: unexpected argument '%s' (options are --key value)", cmd, s);
            break;
        }
        const char *eq = strchr(s + 2, '=');
        size_t kl = eq ? (size_t)(eq - s - 2) : strlen(s + 2);
        int k = -1;
        for (int j = 0; j < n; j++)
            if (strlen(opts[j].key) == kl && strncmp(opts[j].key, s + 2, kl) == 0) k = j;
        if (k < 0) {
            st = unknown_(cmd, opts, s, kl);
            break;
        }
        const soma_opt *o = &opts[k];
        if (a->given[k]) {
            st = soma_error(SOMA_ERR_ARG, "%s: option --%s is given twice", cmd, o->key);
            break;
        }
        a->given[k] = 1;
        if (o->type == SOMA_OPT_FLAG) {
            if (eq) st = soma_error(SOMA_ERR_ARG, "%s: option --%s takes no value", cmd, o->key);
            else a->vals[k] = "1";
        } else if (eq) {
            a->vals[k] = eq + 1;
        } else if (i + 1 < argc) {
            a->vals[k] = argv[++i];
        } else {
            st = soma_error(SOMA_ERR_ARG, "%s: option --%s needs a value", cmd, o->key);
        }
    }
    for (int k = 0; k < n && st == SOMA_OK; k++) {
        if (!a->given[k]) a->vals[k] = opts[k].def;
        if (!a->vals[k] || opts[k].type == SOMA_OPT_FLAG) continue;
        char what[160];
        snprintf(what, sizeof what, "%s --%s", cmd, opts[k].key);
        st = soma_opt_check_value(what, &opts[k], a->vals[k]);
    }
    if (st != SOMA_OK) soma_args_free(a);
    return st;
}

void soma_args_free(soma_args *a) {
    if (!a) return;
    free((void *)a->vals);
    free(a->given);
    a->vals = NULL;
    a->given = NULL;
    a->n = 0;
}

static int find_(const soma_args *a, const char *key) {
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->opts[i].key, key) == 0) return i;
    return -1;
}

const char *soma_args_str(const soma_args *a, const char *key) {
    int i = find_(a, key);
    return i < 0 ? NULL : a->vals[i];
}

int soma_args_given(const soma_args *a, const char *key) {
    int i = find_(a, key);
    return i >= 0 && a->given[i];
}

int soma_args_flag(const soma_args *a, const char *key) { return soma_args_given(a, key); }

/* The value of a declared option (NULL when unset) and its name for messages. */
static soma_status value_(const soma_args *a, const char *key, char *what, size_t cap, const char **v) {
    int i = find_(a, key);
    if (i < 0) return soma_error(SOMA_ERR_INTERNAL, "%s: option --%s is not declared", a->cmd, key);
    snprintf(what, cap, "%s --%s", a->cmd, key);
    *v = a->vals[i];
    return SOMA_OK;
}

soma_status soma_args_double(const soma_args *a, const char *key, double *out) {
    const char *v = NULL;
    char what[160];
    SOMA_TRY(value_(a, key, what, sizeof what, &v));
    if (!v) return SOMA_OK;
    return soma_parse_double(what, v, -HUGE_VAL, HUGE_VAL, out);
}

soma_status soma_args_float(const soma_args *a, const char *key, float *out) {
    double d = *out;
    SOMA_TRY(soma_args_double(a, key, &d));
    *out = (float)d;
    return SOMA_OK;
}

soma_status soma_args_int(const soma_args *a, const char *key, int *out) {
    const char *v = NULL;
    char what[160];
    long x;
    SOMA_TRY(value_(a, key, what, sizeof what, &v));
    if (!v) return SOMA_OK;
    SOMA_TRY(soma_parse_long(what, v, -2147483647L - 1, 2147483647L, &x));
    *out = (int)x;
    return SOMA_OK;
}
