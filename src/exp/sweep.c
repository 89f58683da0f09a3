/* Sweep files: parsing and checking a grid of `soma train` runs, the cells' ids and folders,
 * and their records in OUT/results.jsonl (include/soma/sweep.h).
 *
 * It lives in exp/ because it validates against the train command's option table and its
 * option rules (soma_classify_from_args), which live here; running the cells (child
 * processes, MPI ranks) is the command's business (cli/sweep.c). */
#include "soma/sweep.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "soma/io.h"
#include "soma/nn.h"

/* Options the sweep sets for each cell itself (or that make no sense in one). */
static const char *const reserved_[] = {"out", "ckpt", "resume", "quiet", "log", "save-npy", "distributed", NULL};

static char *dup_(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = soma_alloc(n, 1);
    if (d) memcpy(d, s, n);
    return d;
}

static int find_opt_(const soma_opt *opts, const char *key) {
    for (int i = 0; opts[i].key; i++)
        if (strcmp(opts[i].key, key) == 0) return i;
    return -1;
}

static int reserved_key_(const char *key) {
    for (int i = 0; reserved_[i]; i++)
        if (strcmp(reserved_[i], key) == 0) return 1;
    return 0;
}

static const char *json_type_(const cJSON *v) {
    return cJSON_IsString(v) ? "a string" : cJSON_IsNumber(v) ? "a number" : cJSON_IsBool(v) ? "a boolean"
         : cJSON_IsNull(v)   ? "null"     : cJSON_IsArray(v)  ? "a list"   : cJSON_IsObject(v) ? "an object"
                                                                                               : "an unknown value";
}

/* The shortest text that reads back as the same double. */
static void num_text_(double v, char *buf, size_t cap) {
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, cap, "%.*g", p, v);
        if (strtod(buf, NULL) == v) return;
    }
}

// --- values ----------------------------------------------------------------------------

/* One option's value in a cell: its text for argv (NULL: not set, e.g. a false flag) and the
 * JSON value it came from. */
typedef struct val_ {
    char *text;
    const cJSON *json;
} val_;

/* Checks v against option o and makes its text; *out->text stays NULL for a false flag.
 * where: "grid 'seed'[2]" and the like. */
static soma_status value_(const soma_sweep *s, const char *where, const soma_opt *o, const cJSON *v, val_ *out) {
    char buf[64];
    const char *text = NULL;
    out->text = NULL;
    out->json = v;
    switch (o->type) {
    case SOMA_OPT_FLAG:
        if (!cJSON_IsBool(v))
            return soma_error(SOMA_ERR_ARG, "sweep %s: %s: want true or false (a flag), got %s", s->label, where,
                              json_type_(v));
        if (!cJSON_IsTrue(v)) return SOMA_OK;
        text = "true";
        break;
    case SOMA_OPT_INT:
        if (!cJSON_IsNumber(v))
            return soma_error(SOMA_ERR_ARG, "sweep %s: %s: want an integer, got %s", s->label, where, json_type_(v));
        if (!isfinite(v->valuedouble) || floor(v->valuedouble) != v->valuedouble || fabs(v->valuedouble) > 9.0e15)
            return soma_error(SOMA_ERR_ARG, "sweep %s: %s: want an integer, got %g", s->label, where, v->valuedouble);
        snprintf(buf, sizeof buf, "%.0f", v->valuedouble);
        text = buf;
        break;
    case SOMA_OPT_FLOAT:
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
            return soma_error(SOMA_ERR_ARG, "sweep %s: %s: want a number, got %s", s->label, where, json_type_(v));
        num_text_(v->valuedouble, buf, sizeof buf);
        text = buf;
        break;
    default: /* STR, ENUM */
        if (!cJSON_IsString(v))
            return soma_error(SOMA_ERR_ARG, "sweep %s: %s: want a string, got %s", s->label, where, json_type_(v));
        if (!v->valuestring[0]) return soma_error(SOMA_ERR_ARG, "sweep %s: %s: empty string", s->label, where);
        for (const char *c = v->valuestring; *c; c++) /* one line a value keeps the ids' text unambiguous */
            if ((unsigned char)*c < 0x20)
                return soma_error(SOMA_ERR_ARG, "sweep %s: %s: control character in the value", s->label, where);
        text = v->valuestring;
        break;
    }
    char what[512];
    snprintf(what, sizeof what, "sweep %s: %s", s->label, where);
    if (o->type != SOMA_OPT_FLAG) SOMA_TRY(soma_opt_check_value(what, o, text));
    out->text = dup_(text);
    return out->text ? SOMA_OK : soma_error(SOMA_ERR_NOMEM, "sweep %s: out of memory", s->label);
}

/* An object of options ("fixed" or one of "cells") into vals[n_opts]; section names it. */
static soma_status section_(const soma_sweep *s, const char *section, const cJSON *obj, const soma_opt *opts,
                            val_ *vals) {
    if (!cJSON_IsObject(obj))
        return soma_error(SOMA_ERR_ARG, "sweep %s: '%s' must be an object of options, got %s", s->label, section,
                          json_type_(obj));
    const cJSON *it;
    cJSON_ArrayForEach(it, obj) {
        if (reserved_key_(it->string))
            return soma_error(SOMA_ERR_ARG, "sweep %s: key '%s' in %s is set by the sweep for each cell; leave it out",
                              s->label, it->string, section);
        int k = find_opt_(opts, it->string);
        if (k < 0)
            return soma_error(SOMA_ERR_ARG, "sweep %s: unknown key '%s' in %s (not an option of soma train; see 'soma "
                              "train --help')", s->label, it->string, section);
        if (vals[k].json)
            return soma_error(SOMA_ERR_ARG, "sweep %s: key '%s' is given twice in %s", s->label, it->string, section);
        char where[300];
        snprintf(where, sizeof where, "%s '%s'", section, it->string);
        SOMA_TRY(value_(s, where, &opts[k], it, &vals[k]));
    }
    return SOMA_OK;
}

static void vals_free_(val_ *v, int n) {
    if (!v) return;
    for (int i = 0; i < n; i++) soma_free(v[i].text);
    soma_free(v);
}

// --- cells -----------------------------------------------------------------------------

typedef struct parse_ {
    soma_sweep *s;
    const soma_opt *opts;
    int n_opts;
    int *sorted;  /* option indices by key */
    char **canon; /* canonical text a cell */
    int cap;
} parse_;

static uint64_t fnv1a_(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    /* a final mix (MurmurHash3's fmix64) so cells that differ in one digit do not share a prefix */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static int cmp_key_(const void *a, const void *b, const soma_opt *opts) {
    return strcmp(opts[*(const int *)a].key, opts[*(const int *)b].key);
}

/* Insertion sort (tables are short; qsort has no context argument in C11). */
static void sort_keys_(int *idx, int n, const soma_opt *opts) {
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && cmp_key_(&idx[j - 1], &idx[j], opts) > 0; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
}

static void cell_free_(soma_sweep_cell *c) {
    cJSON_Delete(c->options);
    for (int i = 0; i < c->argc; i++) soma_free(c->argv[i]);
    soma_free(c->argv);
}

/* Adds a cell with the option values cur[n_opts]; origin names it in messages. */
static soma_status add_cell_(parse_ *p, const val_ *cur, const char *origin) {
    soma_sweep *s = p->s;
    if (s->n_cells >= p->cap) {
        int cap = p->cap ? 2 * p->cap : 16;
        soma_sweep_cell *c = soma_calloc((size_t)cap, sizeof *c);
        char **cn = soma_calloc((size_t)cap, sizeof *cn);
        if (!c || !cn) {
            soma_free(c);
            soma_free(cn);
            return soma_error(SOMA_ERR_NOMEM, "sweep %s: out of memory for %d cells", s->label, cap);
        }
        if (s->n_cells) {
            memcpy(c, s->cells, (size_t)s->n_cells * sizeof *c);
            memcpy(cn, p->canon, (size_t)s->n_cells * sizeof *cn);
        }
        soma_free(s->cells);
        soma_free(p->canon);
        s->cells = c;
        p->canon = cn;
        p->cap = cap;
    }
    soma_sweep_cell *c = &s->cells[s->n_cells];
    memset(c, 0, sizeof *c);
    /* canonical text, argv, typed options */
    size_t len = 1;
    int argc = 0, has_threads = 0;
    for (int k = 0; k < p->n_opts; k++)
        if (cur[k].text) {
            len += strlen(p->opts[k].key) + strlen(cur[k].text) + 2;
            argc += p->opts[k].type == SOMA_OPT_FLAG ? 1 : 2;
            if (!strcmp(p->opts[k].key, "threads")) has_threads = 1;
        }
    if (!has_threads) argc += 2;
    char *canon = soma_alloc(len, 1);
    c->argv = soma_calloc((size_t)argc + 1, sizeof *c->argv);
    c->options = cJSON_CreateObject();
    s->n_cells++; /* owned from here: freed with the sweep */
    if (!canon || !c->argv || !c->options) {
        soma_free(canon);
        return soma_error(SOMA_ERR_NOMEM, "sweep %s: out of memory", s->label);
    }
    p->canon[s->n_cells - 1] = canon;
    canon[0] = '\0';
    size_t u = 0;
    for (int j = 0; j < p->n_opts; j++) {
        int k = p->sorted[j];
        if (!cur[k].text) continue;
        const char *key = p->opts[k].key;
        cJSON *dup = cJSON_Duplicate(cur[k].json, 1);
        if (!dup || !cJSON_AddItemToObject(c->options, key, dup)) {
            cJSON_Delete(dup);
            return soma_error(SOMA_ERR_NOMEM, "sweep %s: out of memory", s->label);
        }
        if (strcmp(key, "threads") != 0) u += (size_t)snprintf(canon + u, len - u, "%s=%s\n", key, cur[k].text);
    }
    for (int k = 0; k < p->n_opts; k++) {
        if (!cur[k].text) continue;
        char flag[80];
        snprintf(flag, sizeof flag, "--%s", p->opts[k].key);
        if (!(c->argv[c->argc++] = dup_(flag))) return soma_error(SOMA_ERR_NOMEM, "sweep %s: out of memory", s->label);
        if (p->opts[k].type != SOMA_OPT_FLAG && !(c->argv[c->argc++] = dup_(cur[k].text)))
            return soma_error(SOMA_ERR_NOMEM, "sweep %s: out of memory", s->label);
    }
    if (!has_threads) {
        if (!(c->argv[c->argc++] = dup_("--threads")) || !(c->argv[c->argc++] = dup_("1")))
            return soma_error(SOMA_ERR_NOMEM, "sweep %s: out of memory", s->label);
    }
    snprintf(c->id, sizeof c->id, "%016llx", (unsigned long long)fnv1a_(canon));
    /* the train command's own checks: every value, and the rules between options */
    char cmd[400];
    snprintf(cmd, sizeof cmd, "sweep %s: %s", s->label, origin);
    soma_args a;
    SOMA_TRY(soma_args_parse(&a, cmd, p->opts, c->argc, (const char *const *)c->argv));
    soma_classify_config cfg = soma_classify_defaults();
    const int has_data = soma_args_str(&a, "data") != NULL, has_net = soma_args_str(&a, "net") != NULL;
    soma_status st = soma_classify_from_args(&a, &cfg);
    soma_args_free(&a);
    if (st != SOMA_OK) return st;
    if (!has_data || !has_net) /* as `soma train`: no default data set or net */
        return soma_error(SOMA_ERR_ARG, "sweep %s: %s has no '%s'; give it in fixed, grid or the cell", s->label, origin,
                          has_data ? "net" : "data");
    c->data = cfg.data;
    c->fmnist_dir = cfg.fmnist_dir;
    c->net = cfg.net;
    c->loss = cfg.loss ? cfg.loss : "xent";
    c->epochs = cfg.epochs;
    c->n_train = cfg.n_train;
    return SOMA_OK;
}

typedef struct grid_key_ {
    int opt;
    int n;
    val_ *vals;
} grid_key_;

/* The grid's product, last key fastest: odometer over the keys. */
static soma_status grid_cells_(parse_ *p, const val_ *fixed, const grid_key_ *g, int ng, val_ *cur) {
    int *at = soma_calloc((size_t)ng + 1, sizeof *at);
    if (!at) return soma_error(SOMA_ERR_NOMEM, "sweep %s: out of memory", p->s->label);
    soma_status st = SOMA_OK;
    for (long cell = 0;; cell++) {
        memcpy(cur, fixed, (size_t)p->n_opts * sizeof *cur);
        for (int k = 0; k < ng; k++) cur[g[k].opt] = g[k].vals[at[k]];
        char origin[64];
        snprintf(origin, sizeof origin, "grid cell %ld", cell + 1);
        if ((st = add_cell_(p, cur, origin)) != SOMA_OK) break;
        int k = ng - 1;
        while (k >= 0 && ++at[k] == g[k].n) at[k--] = 0;
        if (k < 0) break;
    }
    soma_free(at);
    return st;
}

typedef struct canon_ref_ {
    const char *text;
    int i;
} canon_ref_;

static int cmp_canon_(const void *a, const void *b) {
    const canon_ref_ *x = a, *y = b;
    int c = strcmp(x->text, y->text);
    return c ? c : x->i - y->i;
}

static soma_status no_duplicates_(const parse_ *p) {
    const soma_sweep *s = p->s;
    canon_ref_ *r = soma_alloc((size_t)s->n_cells, sizeof *r);
    if (!r) return soma_error(SOMA_ERR_NOMEM, "sweep %s: out of memory", s->label);
    for (int i = 0; i < s->n_cells; i++) r[i] = (canon_ref_){.text = p->canon[i], .i = i};
    qsort(r, (size_t)s->n_cells, sizeof *r, cmp_canon_);
    soma_status st = SOMA_OK;
    for (int i = 1; i < s->n_cells && st == SOMA_OK; i++)
        if (!strcmp(r[i].text, r[i - 1].text)) {
            char *o = cJSON_PrintUnformatted(s->cells[r[i].i].options);
            st = soma_error(SOMA_ERR_ARG, "sweep %s: cells %d and %d are the same run (%.300s); remove one", s->label,
                            r[i - 1].i + 1, r[i].i + 1, o ? o : "?");
            cJSON_free(o);
        }
    soma_free(r);
    return st;
}

// --- parse -----------------------------------------------------------------------------

static soma_status parse_root_(parse_ *p, const cJSON *root, const char *out_dir) {
    soma_sweep *s = p->s;
    if (!cJSON_IsObject(root))
        return soma_error(SOMA_ERR_ARG, "sweep %s: want a JSON object with fixed, grid and/or cells, got %s", s->label,
                          json_type_(root));
    static const char *const top[] = {"name", "description", "out", "fixed", "grid", "cells", NULL};
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
        int ok = 0;
        for (int i = 0; top[i]; i++) ok |= !strcmp(top[i], it->string);
        if (!ok)
            return soma_error(SOMA_ERR_ARG, "sweep %s: unknown key '%s' (the file's keys are name, description, out, "
                              "fixed, grid, cells)", s->label, it->string);
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
    const cJSON *out = cJSON_GetObjectItemCaseSensitive(root, "out");
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(root, "description");
    if (desc && !cJSON_IsString(desc))
        return soma_error(SOMA_ERR_ARG, "sweep %s: 'description' must be a string, got %s", s->label, json_type_(desc));
    if (name) {
        if (!cJSON_IsString(name) || !name->valuestring[0] || strlen(name->valuestring) >= sizeof s->name)
            return soma_error(SOMA_ERR_ARG, "sweep %s: 'name' must be a non-empty string of under %zu characters",
                              s->label, sizeof s->name);
        for (const char *c = name->valuestring; *c; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
                  *c == '_' || *c == '.'))
                return soma_error(SOMA_ERR_ARG, "sweep %s: 'name' \"%.60s\": use letters, digits, '-', '_', '.'",
                                  s->label, name->valuestring);
        snprintf(s->name, sizeof s->name, "%s", name->valuestring);
    }
    if (out && (!cJSON_IsString(out) || !out->valuestring[0] || strlen(out->valuestring) >= 900))
        return soma_error(SOMA_ERR_ARG, "sweep %s: 'out' must be a folder name (a non-empty string)", s->label);
    if (out_dir && (!out_dir[0] || strlen(out_dir) >= 900))
        return soma_error(SOMA_ERR_ARG, "sweep %s: the output folder must be a non-empty name", s->label);
    if (out_dir) snprintf(s->out, sizeof s->out, "%s", out_dir);
    else if (out) snprintf(s->out, sizeof s->out, "%s", out->valuestring);
    else if (s->name[0]) snprintf(s->out, sizeof s->out, "sweeps/%s", s->name);
    else return soma_error(SOMA_ERR_ARG, "sweep %s: give a 'name' (output in sweeps/NAME) or an 'out' folder", s->label);
    if (!s->name[0]) {
        const char *b = strrchr(s->out, '/');
        snprintf(s->name, sizeof s->name, "%.127s", b && b[1] ? b + 1 : s->out);
    }

    const cJSON *fixed = cJSON_GetObjectItemCaseSensitive(root, "fixed");
    const cJSON *grid = cJSON_GetObjectItemCaseSensitive(root, "grid");
    const cJSON *cells = cJSON_GetObjectItemCaseSensitive(root, "cells");
    if (!grid && !cells)
        return soma_error(SOMA_ERR_ARG, "sweep %s: no cells: give a 'grid' (lists of values) or a 'cells' list", s->label);
    const int n = p->n_opts;
    val_ *fv = soma_calloc((size_t)n, sizeof *fv), *cur = soma_calloc((size_t)n, sizeof *cur);
    val_ *cv = soma_calloc((size_t)n, sizeof *cv);
    grid_key_ *g = NULL;
    int ng = 0;
    soma_status st = SOMA_OK;
    if (!fv || !cur || !cv) {
        st = soma_error(SOMA_ERR_NOMEM, "sweep %s: out of memory", s->label);
        goto out;
    }
    if (fixed && (st = section_(s, "fixed", fixed, p->opts, fv)) != SOMA_OK) goto out;
    if (grid) {
        if (!cJSON_IsObject(grid)) {
            st = soma_error(SOMA_ERR_ARG, "sweep %s: 'grid' must be an object of value lists, got %s", s->label,
                            json_type_(grid));
            goto out;
        }
        int nk = cJSON_GetArraySize(grid);
        if (nk == 0 && !cells) {
            st = soma_error(SOMA_ERR_ARG, "sweep %s: empty grid: 'grid' has no keys and there is no 'cells' list",
                            s->label);
            goto out;
        }
        g = soma_calloc((size_t)nk + 1, sizeof *g);
        if (!g) {
            st = soma_error(SOMA_ERR_NOMEM, "sweep %s: out of memory", s->label);
            goto out;
        }
        double product = 1;
        cJSON_ArrayForEach(it, grid) {
            const char *key = it->string;
            if (reserved_key_(key)) {
                st = soma_error(SOMA_ERR_ARG, "sweep %s: key '%s' in grid is set by the sweep for each cell; leave it out",
                                s->label, key);
                goto out;
            }
            int k = find_opt_(p->opts, key);
            if (k < 0) {
                st = soma_error(SOMA_ERR_ARG, "sweep %s: unknown key '%s' in grid (not an option of soma train; see "
                                "'soma train --help')", s->label, key);
                goto out;
            }
            if (fv[k].json) {
                st = soma_error(SOMA_ERR_ARG, "sweep %s: key '%s' is both in fixed and in grid; keep one", s->label, key);
                goto out;
            }
            for (int j = 0; j < ng; j++)
                if (g[j].opt == k) {
                    st = soma_error(SOMA_ERR_ARG, "sweep %s: key '%s' is given twice in grid", s->label, key);
                    goto out;
                }
            if (!cJSON_IsArray(it)) {
                st = soma_error(SOMA_ERR_ARG, "sweep %s: grid '%s' must be a list of values, got %s", s->label, key,
                                json_type_(it));
                goto out;
            }
            int nv = cJSON_GetArraySize(it);
            if (nv == 0) {
                st = soma_error(SOMA_ERR_ARG, "sweep %s: empty grid: grid '%s' has no values", s->label, key);
                goto out;
            }
            product *= nv;
            if (product > SOMA_SWEEP_MAX_CELLS) {
                st = soma_error(SOMA_ERR_ARG, "sweep %s: the grid has over %d cells; split the sweep", s->label,
                                SOMA_SWEEP_MAX_CELLS);
                goto out;
            }
            grid_key_ *gk = &g[ng++];
            gk->opt = k;
            gk->vals = soma_calloc((size_t)nv, sizeof *gk->vals);
            if (!gk->vals) {
                st = soma_error(SOMA_ERR_NOMEM, "sweep %s: out of memory", s->label);
                goto out;
            }
            const cJSON *v;
            cJSON_ArrayForEach(v, it) {
                char where[300];
                snprintf(where, sizeof where, "grid '%s'[%d]", key, gk->n);
                if ((st = value_(s, where, &p->opts[k], v, &gk->vals[gk->n])) != SOMA_OK) goto out;
                gk->n++;
            }
        }
    }
    if (cells) {
        if (!cJSON_IsArray(cells)) {
            st = soma_error(SOMA_ERR_ARG, "sweep %s: 'cells' must be a list of objects of options, got %s", s->label,
                            json_type_(cells));
            goto out;
        }
        if (cJSON_GetArraySize(cells) == 0 && (!grid || ng == 0)) {
            st = soma_error(SOMA_ERR_ARG, "sweep %s: no cells: 'cells' is an empty list and there is no grid", s->label);
            goto out;
        }
        if (ng > 0 || cJSON_GetArraySize(cells) > 0) {
            double total = 1;
            for (int k = 0; k < ng; k++) total *= g[k].n;
            if ((ng ? total : 0) + cJSON_GetArraySize(cells) > SOMA_SWEEP_MAX_CELLS) {
                st = soma_error(SOMA_ERR_ARG, "sweep %s: over %d cells; split the sweep", s->label, SOMA_SWEEP_MAX_CELLS);
                goto out;
            }
        }
    }
    if (ng > 0 && (st = grid_cells_(p, fv, g, ng, cur)) != SOMA_OK) goto out;
    if (cells) {
        int ci = 0;
        const cJSON *c;
        cJSON_ArrayForEach(c, cells) {
            char section[64];
            snprintf(section, sizeof section, "cells[%d]", ci++);
            for (int k = 0; k < n; k++) soma_free(cv[k].text);
            memset(cv, 0, (size_t)n * sizeof *cv);
            if ((st = section_(s, section, c, p->opts, cv)) != SOMA_OK) goto out;
            memcpy(cur, fv, (size_t)n * sizeof *cur);
            for (int k = 0; k < n; k++) {
                if (!cv[k].json) continue;
                if (fv[k].json) {
                    st = soma_error(SOMA_ERR_ARG, "sweep %s: key '%s' is both in fixed and in %s; keep one", s->label,
                                    p->opts[k].key, section);
                    goto out;
                }
                cur[k] = cv[k];
            }
            if ((st = add_cell_(p, cur, section)) != SOMA_OK) goto out;
        }
    }
    if (s->n_cells == 0) {
        st = soma_error(SOMA_ERR_ARG, "sweep %s: no cells", s->label);
        goto out;
    }
    st = no_duplicates_(p);
out:
    vals_free_(fv, n);
    vals_free_(cv, n);
    soma_free(cur); /* borrows fv, cv and the grid's texts */
    for (int k = 0; g && k < ng; k++) vals_free_(g[k].vals, g[k].n);
    soma_free(g);
    return st;
}

soma_status soma_sweep_parse(const char *buf, size_t n, const char *label, const soma_opt *opts, const char *out_dir,
                             soma_sweep **out) {
    *out = NULL;
    soma_sweep *s = soma_calloc(1, sizeof *s);
    if (!s) return soma_error(SOMA_ERR_NOMEM, "sweep: out of memory");
    snprintf(s->label, sizeof s->label, "%s", label ? label : "(memory)");
    cJSON *root = NULL;
    parse_ p = {.s = s, .opts = opts, .n_opts = soma_opts_count(opts)};
    soma_status st = soma_json_parse(buf, n, s->label, &root);
    if (st != SOMA_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", soma_errmsg());
        st = soma_error(SOMA_ERR_PARSE, "sweep %s: not valid JSON (%s)", s->label, msg);
        goto out;
    }
    p.sorted = soma_alloc((size_t)p.n_opts + 1, sizeof *p.sorted);
    if (!p.sorted) {
        st = soma_error(SOMA_ERR_NOMEM, "sweep: out of memory");
        goto out;
    }
    for (int i = 0; i < p.n_opts; i++) p.sorted[i] = i;
    sort_keys_(p.sorted, p.n_opts, opts);
    st = parse_root_(&p, root, out_dir);
out:
    for (int i = 0; p.canon && i < s->n_cells; i++) soma_free(p.canon[i]);
    soma_free(p.canon);
    soma_free(p.sorted);
    cJSON_Delete(root);
    if (st != SOMA_OK) soma_sweep_free(s);
    else *out = s;
    return st;
}

soma_status soma_sweep_read(const char *path, const soma_opt *opts, const char *out_dir, soma_sweep **out) {
    *out = NULL;
    void *buf = NULL;
    size_t n = 0;
    soma_status st = soma_file_read(path, 64u << 20, &buf, &n);
    if (st != SOMA_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", soma_errmsg());
        return soma_error(st, "sweep: cannot read %s (%s)", path, msg);
    }
    st = soma_sweep_parse(buf, n, path, opts, out_dir, out);
    soma_free(buf);
    return st;
}

void soma_sweep_free(soma_sweep *s) {
    if (!s) return;
    for (int i = 0; i < s->n_cells; i++) cell_free_(&s->cells[i]);
    soma_free(s->cells);
    soma_free(s);
}

// --- data and nets ---------------------------------------------------------------------

static int same_(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

soma_status soma_sweep_check_data(soma_sweep *s) {
    typedef struct { const char *data, *dir; soma_shape shape; long n; int n_classes; } data_;
    typedef struct { const char *net; int data; long n_params; size_t n_out; } net_;
    data_ *ds = soma_calloc((size_t)s->n_cells, sizeof *ds);
    net_ *ns = soma_calloc((size_t)s->n_cells, sizeof *ns);
    int nd = 0, nn = 0;
    soma_status st = SOMA_OK;
    char msg[1024];
    if (!ds || !ns) {
        st = soma_error(SOMA_ERR_NOMEM, "sweep %s: out of memory", s->label);
        goto out;
    }
    for (int i = 0; i < s->n_cells; i++) {
        soma_sweep_cell *c = &s->cells[i];
        int d = 0;
        while (d < nd && !(same_(ds[d].data, c->data) && same_(ds[d].dir, c->fmnist_dir))) d++;
        if (d == nd) {
            soma_dataset *set = NULL;
            if ((st = soma_dataset_load(c->data, 1, c->fmnist_dir, &set)) != SOMA_OK) {
                snprintf(msg, sizeof msg, "%s", soma_errmsg());
                st = soma_error(SOMA_ERR_ARG, "sweep %s: cell %d (%s): data '%.200s' cannot be loaded: %s", s->label,
                                i + 1, c->id, c->data, msg);
                goto out;
            }
            ds[nd++] = (data_){.data = c->data, .dir = c->fmnist_dir, .shape = set->shape, .n = set->n,
                               .n_classes = set->n_classes};
            soma_dataset_free(set);
        }
        int k = 0;
        while (k < nn && !(ns[k].data == d && !strcmp(ns[k].net, c->net))) k++;
        if (k == nn) {
            soma_net *net = NULL;
            if ((st = soma_net_new(&net, c->net, ds[d].shape, 1)) != SOMA_OK) {
                snprintf(msg, sizeof msg, "%s", soma_errmsg());
                st = soma_error(SOMA_ERR_ARG, "sweep %s: cell %d (%s): net '%.200s' does not build for data '%.200s': %s",
                                s->label, i + 1, c->id, c->net, c->data, msg);
                goto out;
            }
            long count = 0;
            for (int j = 0; j < soma_net_n_params(net); j++) count += (long)soma_net_param(net, j)->n;
            ns[nn++] = (net_){.net = c->net, .data = d, .n_params = count,
                              .n_out = soma_shape_size(soma_net_out_shape(net))};
            soma_net_free(net);
        }
        if (!strcmp(c->loss, "xent") && ns[k].n_out < (size_t)ds[d].n_classes) {
            st = soma_error(SOMA_ERR_ARG, "sweep %s: cell %d (%s): net '%.200s' has %zu outputs, data '%.200s' has %d "
                            "classes", s->label, i + 1, c->id, c->net, ns[k].n_out, c->data, ds[d].n_classes);
            goto out;
        }
        c->n_params = ns[k].n_params;
        c->n_samples = c->n_train > 0 && c->n_train < ds[d].n ? c->n_train : ds[d].n;
        c->cost = (double)c->n_params * (double)c->n_samples * (double)c->epochs;
    }
out:
    soma_free(ds);
    soma_free(ns);
    return st;
}

// --- order, folders, records -----------------------------------------------------------

typedef struct cost_ref_ {
    double cost;
    int i;
} cost_ref_;

static int cmp_cost_(const void *a, const void *b) {
    const cost_ref_ *x = a, *y = b;
    if (x->cost != y->cost) return x->cost > y->cost ? -1 : 1;
    return x->i - y->i;
}

void soma_sweep_order(const soma_sweep *s, int *order) {
    cost_ref_ *r = soma_alloc((size_t)s->n_cells + 1, sizeof *r);
    if (!r) { /* out of memory: file order still runs every cell */
        for (int i = 0; i < s->n_cells; i++) order[i] = i;
        return;
    }
    for (int i = 0; i < s->n_cells; i++) r[i] = (cost_ref_){.cost = s->cells[i].cost, .i = i};
    qsort(r, (size_t)s->n_cells, sizeof *r, cmp_cost_);
    for (int i = 0; i < s->n_cells; i++) order[i] = r[i].i;
    soma_free(r);
}

const char *soma_sweep_cell_path(const soma_sweep *s, int i, const char *file, char *buf, size_t cap) {
    if (file) snprintf(buf, cap, "%s/cells/%s/%s", s->out, s->cells[i].id, file);
    else snprintf(buf, cap, "%s/cells/%s", s->out, s->cells[i].id);
    return buf;
}

soma_status soma_sweep_cell_prepare(const soma_sweep *s, int i) {
    char path[1200];
    SOMA_TRY(soma_mkdir_p(soma_sweep_cell_path(s, i, NULL, path, sizeof path)));
    soma_sweep_cell_path(s, i, "cell.json", path, sizeof path);
    if (access(path, F_OK) == 0) return SOMA_OK;
    cJSON *o = cJSON_CreateObject();
    if (!o) return soma_error(SOMA_ERR_NOMEM, "sweep: out of memory");
    cJSON_AddStringToObject(o, "cell", s->cells[i].id);
    cJSON_AddStringToObject(o, "sweep", s->name);
    cJSON *dup = cJSON_Duplicate(s->cells[i].options, 1);
    if (!cJSON_AddItemToObject(o, "options", dup)) cJSON_Delete(dup);
    soma_status st = soma_json_write(path, o);
    cJSON_Delete(o);
    return st;
}

/* The cell's results.json's "ours" when it is the figures of a finished run; NULL else. */
static cJSON *finished_(const soma_sweep *s, int i, cJSON **root) {
    char path[1200];
    soma_sweep_cell_path(s, i, "results.json", path, sizeof path);
    *root = NULL;
    if (access(path, F_OK) != 0) return NULL;
    if (soma_json_read(path, root) != SOMA_OK) {
        soma_error_clear();
        return NULL;
    }
    cJSON *ours = cJSON_GetObjectItemCaseSensitive(*root, "ours");
    const cJSON *ep = cJSON_GetObjectItemCaseSensitive(ours, "epochs");
    const cJSON *np = cJSON_GetObjectItemCaseSensitive(ours, "parameters");
    const cJSON *nt = cJSON_GetObjectItemCaseSensitive(ours, "n_train");
    if (!cJSON_IsObject(ours) || !cJSON_IsNumber(ep) || ep->valuedouble != s->cells[i].epochs || !cJSON_IsNumber(np) ||
        !cJSON_IsNumber(nt))
        return NULL;
    return ours;
}

int soma_sweep_cell_done(const soma_sweep *s, int i) {
    cJSON *root;
    int done = finished_(s, i, &root) != NULL;
    cJSON_Delete(root);
    return done;
}

soma_status soma_sweep_cell_finish(const soma_sweep *s, int i, int rank, double seconds) {
    char path[1200];
    cJSON *o = cJSON_CreateObject();
    if (!o) return soma_error(SOMA_ERR_NOMEM, "sweep: out of memory");
    cJSON_AddNumberToObject(o, "rank", rank);
    cJSON_AddNumberToObject(o, "seconds", seconds);
    soma_status st = soma_json_write(soma_sweep_cell_path(s, i, "run.json", path, sizeof path), o);
    cJSON_Delete(o);
    return st;
}

static void copy_num_(cJSON *rec, const char *key, const cJSON *from, const char *from_key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(from, from_key);
    if (cJSON_IsNumber(v)) cJSON_AddNumberToObject(rec, key, v->valuedouble);
    else cJSON_AddNullToObject(rec, key);
}

soma_status soma_sweep_cell_record(const soma_sweep *s, int i, cJSON **rec) {
    *rec = NULL;
    cJSON *root;
    const cJSON *ours = finished_(s, i, &root);
    if (!ours) {
        cJSON_Delete(root);
        return soma_error(SOMA_ERR_IO, "sweep %s: cell %s has not finished (no complete results.json)", s->label,
                          s->cells[i].id);
    }
    cJSON *r = cJSON_CreateObject(), *dup = cJSON_Duplicate(s->cells[i].options, 1);
    if (!r || !dup) {
        cJSON_Delete(r);
        cJSON_Delete(dup);
        cJSON_Delete(root);
        return soma_error(SOMA_ERR_NOMEM, "sweep: out of memory");
    }
    cJSON_AddStringToObject(r, "cell", s->cells[i].id);
    cJSON_AddItemToObject(r, "options", dup);
    copy_num_(r, "n_params", ours, "parameters");
    copy_num_(r, "n_data", ours, "n_train");
    const char *on = cJSON_GetObjectItemCaseSensitive(ours, "test_loss") ? "test"
                   : cJSON_GetObjectItemCaseSensitive(ours, "val_loss") ? "validation"
                                                                         : "train";
    copy_num_(r, "loss", ours, !strcmp(on, "test") ? "test_loss" : !strcmp(on, "validation") ? "val_loss" : "train_loss");
    cJSON_AddStringToObject(r, "loss_on", on);
    static const char *const figs[] = {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss",
                                       "test_accuracy", "epochs", "train_seconds", NULL};
    for (int k = 0; figs[k]; k++) copy_num_(r, figs[k], ours, figs[k]);
    char path[1200];
    cJSON *run = NULL;
    soma_sweep_cell_path(s, i, "run.json", path, sizeof path);
    if (access(path, F_OK) == 0 && soma_json_read(path, &run) != SOMA_OK) soma_error_clear();
    if (run) {
        copy_num_(r, "seconds", run, "seconds");
        copy_num_(r, "rank", run, "rank");
    } else { /* killed between the run's end and run.json: the training time, rank unknown */
        copy_num_(r, "seconds", ours, "train_seconds");
        cJSON_AddNullToObject(r, "rank");
    }
    cJSON_Delete(run);
    cJSON_Delete(root);
    *rec = r;
    return SOMA_OK;
}

soma_status soma_sweep_write_results(const soma_sweep *s, int *n_done) {
    char path[1100];
    snprintf(path, sizeof path, "%s/results.jsonl", s->out);
    soma_atomic_file af;
    SOMA_TRY(soma_atomic_open(&af, path));
    int done = 0;
    for (int i = 0; i < s->n_cells; i++) {
        cJSON *rec;
        if (soma_sweep_cell_record(s, i, &rec) != SOMA_OK) {
            soma_error_clear();
            continue;
        }
        char *line = cJSON_PrintUnformatted(rec);
        cJSON_Delete(rec);
        if (!line) {
            soma_atomic_abort(&af);
            return soma_error(SOMA_ERR_NOMEM, "sweep: out of memory");
        }
        fprintf(af.f, "%s\n", line);
        cJSON_free(line);
        done++;
    }
    SOMA_TRY(soma_atomic_commit(&af));
    if (n_done) *n_done = done;
    return SOMA_OK;
}

soma_status soma_sweep_append_result(const soma_sweep *s, int i) {
    cJSON *rec;
    SOMA_TRY(soma_sweep_cell_record(s, i, &rec));
    char *line = cJSON_PrintUnformatted(rec);
    cJSON_Delete(rec);
    if (!line) return soma_error(SOMA_ERR_NOMEM, "sweep: out of memory");
    size_t n = strlen(line);
    char *buf = soma_alloc(n + 2, 1);
    if (!buf) {
        cJSON_free(line);
        return soma_error(SOMA_ERR_NOMEM, "sweep: out of memory");
    }
    memcpy(buf, line, n);
    buf[n] = '\n';
    cJSON_free(line);
    char path[1100];
    snprintf(path, sizeof path, "%s/results.jsonl", s->out);
    soma_status st = SOMA_OK;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0) {
        st = soma_error(SOMA_ERR_IO, "sweep: cannot open %s: %s", path, strerror(errno));
    } else {
        ssize_t w = write(fd, buf, n + 1); /* one write: a line is whole or absent */
        if (w != (ssize_t)(n + 1)) st = soma_error(SOMA_ERR_IO, "sweep: cannot append to %s: %s", path, strerror(errno));
        if (close(fd) != 0 && st == SOMA_OK) st = soma_error(SOMA_ERR_IO, "sweep: cannot close %s", path);
    }
    soma_free(buf);
    return st;
}
