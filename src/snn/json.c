// Spiking networks from JSON descriptions (format: docs/snn-json.md). The description is read
// in full with cJSON, then the network is built through the public soma/snn.h API only:
// groups, then connections, then monitors, in the order given. Every key is checked against
// the table of its object (a typo is an error, never a silent default), every number against
// its range, and every error names the entry: "snn json: connections[2]: unknown group "exc2"".
// Structure errors (syntax, types, unknown keys or names, missing keys) are SOMA_ERR_PARSE;
// values out of range are SOMA_ERR_ARG; errors of the simulator's own checks keep its status.
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "soma/io.h"
#include "soma/snn.h"

/* Sizes a description may ask for (larger networks: the C API). The fuzz target lowers them
 * through soma__snn_json_set_limits so that inputs stay cheap to build. */
static long max_neurons_ = 100000000L;   /* all groups together */
static double max_synapses_ = 1e9;       /* expected count, all connections together */
#define MAX_GROUPS 4096
#define MAX_CONNS 100000
#define MAX_MONITORS 4096
#define MAX_STATE_NEURONS 100000

void soma__snn_json_set_limits(long max_neurons, double max_synapses); /* fuzz/fuzz_snn_json.c */
void soma__snn_json_set_limits(long max_neurons, double max_synapses) {
    max_neurons_ = max_neurons;
    max_synapses_ = max_synapses;
}

// --- typed access with the entry's name in every message --------------------------------

/* o is an object whose keys are all in allowed (NULL-terminated) and none given twice. */
static soma_status keys_(const cJSON *o, const char *where, const char *const *allowed) {
    if (!cJSON_IsObject(o)) return soma_error(SOMA_ERR_PARSE, "snn json: %s: want an object {...}", where);
    for (const cJSON *c = o->child; c; c = c->next) {
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++) ok = c->string && strcmp(c->string, *a) == 0;
        if (!ok) {
            char list[512];
            size_t u = 0;
            list[0] = '\0';
            for (const char *const *a = allowed; *a && u < sizeof list; a++)
                u += (size_t)snprintf(list + u, sizeof list - u, "%s%s", a == allowed ? "" : ", ", *a);
            return soma_error(SOMA_ERR_PARSE, "snn json: %s: unknown key \"%s\" (known: %s)", where,
                              c->string ? c->string : "", list);
        }
        for (const cJSON *d = o->child; d != c; d = d->next)
            if (strcmp(d->string, c->string) == 0)
                return soma_error(SOMA_ERR_PARSE, "snn json: %s: key \"%s\" given twice", where, c->string);
    }
    return SOMA_OK;
}

static const cJSON *get_(const cJSON *o, const char *key) {
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* A number in [lo, hi] (lo excluded when open_lo). Absent: SOMA_OK with *out unchanged, or a
 * parse error when required. */
static soma_status num_(const cJSON *o, const char *key, const char *where, int required, double lo,
                        int open_lo, double hi, double *out) {
    const cJSON *v = get_(o, key);
    if (!v)
        return required ? soma_error(SOMA_ERR_PARSE, "snn json: %s: missing \"%s\"", where, key) : SOMA_OK;
    if (!cJSON_IsNumber(v)) return soma_error(SOMA_ERR_PARSE, "snn json: %s: \"%s\" must be a number", where, key);
    double d = v->valuedouble;
    if (!isfinite(d) || d < lo || (open_lo && d == lo) || d > hi)
        return soma_error(SOMA_ERR_ARG, "snn json: %s: %s = %g is outside %s%g, %g]", where, key, d,
                          open_lo ? "(" : "[", lo, hi);
    *out = d;
    return SOMA_OK;
}

/* A whole number in [lo, hi]. */
static soma_status int_of_(const cJSON *v, const char *what, const char *where, double lo, double hi, double *out) {
    if (!cJSON_IsNumber(v)) return soma_error(SOMA_ERR_PARSE, "snn json: %s: %s must be a number", where, what);
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d))
        return soma_error(SOMA_ERR_ARG, "snn json: %s: %s = %g is not a whole number", where, what, d);
    if (d < lo || d > hi)
        return soma_error(SOMA_ERR_ARG, "snn json: %s: %s = %.15g is outside [%.15g, %.15g]", where, what, d, lo, hi);
    *out = d;
    return SOMA_OK;
}

static soma_status int_(const cJSON *o, const char *key, const char *where, int required, double lo, double hi,
                        double *out) {
    const cJSON *v = get_(o, key);
    if (!v)
        return required ? soma_error(SOMA_ERR_PARSE, "snn json: %s: missing \"%s\"", where, key) : SOMA_OK;
    return int_of_(v, key, where, lo, hi, out);
}

static soma_status str_(const cJSON *o, const char *key, const char *where, int required, const char **out) {
    const cJSON *v = get_(o, key);
    if (!v)
        return required ? soma_error(SOMA_ERR_PARSE, "snn json: %s: missing \"%s\"", where, key) : SOMA_OK;
    if (!cJSON_IsString(v) || !v->valuestring)
        return soma_error(SOMA_ERR_PARSE, "snn json: %s: \"%s\" must be a string", where, key);
    *out = v->valuestring;
    return SOMA_OK;
}

static soma_status bool_(const cJSON *o, const char *key, const char *where, int *out) {
    const cJSON *v = get_(o, key);
    if (!v) return SOMA_OK;
    if (!cJSON_IsBool(v)) return soma_error(SOMA_ERR_PARSE, "snn json: %s: \"%s\" must be true or false", where, key);
    *out = cJSON_IsTrue(v);
    return SOMA_OK;
}

static soma_status array_(const cJSON *o, const char *key, const char *where, int required, long max,
                          const cJSON **out, long *n) {
    const cJSON *v = get_(o, key);
    *out = NULL;
    *n = 0;
    if (!v)
        return required ? soma_error(SOMA_ERR_PARSE, "snn json: %s: missing \"%s\"", where, key) : SOMA_OK;
    if (!cJSON_IsArray(v)) return soma_error(SOMA_ERR_PARSE, "snn json: %s: \"%s\" must be a list [...]", where, key);
    long k = 0;
    for (const cJSON *c = v->child; c; c = c->next)
        if (++k > max)
            return soma_error(SOMA_ERR_ARG, "snn json: %s: \"%s\" has more than %ld entries", where, key, max);
    *out = v;
    *n = k;
    return SOMA_OK;
}

/* One of names[] (NULL-terminated): its index. */
static soma_status choice_(const char *s, const char *key, const char *where, const char *const *names, int *out) {
    for (int i = 0; names[i]; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return SOMA_OK;
        }
    char list[256];
    size_t u = 0;
    list[0] = '\0';
    for (int i = 0; names[i] && u < sizeof list; i++)
        u += (size_t)snprintf(list + u, sizeof list - u, "%s%s", i ? ", " : "", names[i]);
    return soma_error(SOMA_ERR_PARSE, "snn json: %s: unknown %s \"%s\" (known: %s)", where, key, s, list);
}

// --- groups ----------------------------------------------------------------------------

enum { M_LIF = 1 << SOMA_LIF, M_ADEX = 1 << SOMA_ADEX, M_IZH = 1 << SOMA_IZHIKEVICH, M_POI = 1 << SOMA_POISSON };
#define M_IF (M_LIF | M_ADEX)
#define M_CELL (M_LIF | M_ADEX | M_IZH)

typedef struct field_ {
    const char *key;
    size_t off;
    int models;         /* which models use it: a key a model ignores is an error */
    int syn;            /* 0: any synapse; S_COND: conductance synapses only; S_DECAY: not delta */
    double lo, hi;
    int open_lo;        /* lo itself excluded (time constants, capacitance) */
} field_;
enum { S_COND = 1, S_DECAY = 2 };

#define F_(name, models, syn, lo, hi, open) {#name, offsetof(soma_neuron_params, name), models, syn, lo, hi, open}
static const field_ fields_[] = {
    F_(C, M_IF, 0, 0, 1e9, 1),           F_(gL, M_IF, 0, 0, 1e9, 1),
    F_(EL, M_IF, 0, -1e3, 1e3, 0),       F_(V_th, M_LIF, 0, -1e3, 1e3, 0),
    F_(V_reset, M_IF, 0, -1e3, 1e3, 0),  F_(t_ref, M_CELL, 0, 0, 1e6, 0),
    F_(I_ext, M_CELL, 0, -1e9, 1e9, 0),  F_(tau_e, M_CELL, S_DECAY, 0, 1e6, 1),
    F_(tau_i, M_CELL, S_DECAY, 0, 1e6, 1), F_(E_e, M_CELL, S_COND, -1e3, 1e3, 0),
    F_(E_i, M_CELL, S_COND, -1e3, 1e3, 0), F_(delta_T, M_ADEX, 0, 0, 1e3, 1),
    F_(V_T, M_ADEX, 0, -1e3, 1e3, 0),    F_(V_peak, M_ADEX | M_IZH, 0, -1e3, 1e3, 0),
    F_(a, M_ADEX, 0, -1e9, 1e9, 0),      F_(b, M_ADEX, 0, -1e9, 1e9, 0),
    F_(tau_w, M_ADEX, 0, 0, 1e6, 1),     F_(izh_a, M_IZH, 0, -1e3, 1e3, 0),
    F_(izh_b, M_IZH, 0, -1e3, 1e3, 0),   F_(izh_c, M_IZH, 0, -1e3, 1e3, 0),
    F_(izh_d, M_IZH, 0, -1e3, 1e3, 0),   F_(rate, M_POI, 0, 0, 1e6, 0),
    F_(V_init_lo, M_CELL, 0, -1e3, 1e3, 0), F_(V_init_hi, M_CELL, 0, -1e3, 1e3, 0),
};
#undef F_
#define N_FIELDS (sizeof fields_ / sizeof *fields_)

static const char *const synapse_names_[] = {"current", "conductance", "delta", NULL};

static soma_status params_(const cJSON *o, const char *where, soma_neuron_params *p) {
    if (!o) return SOMA_OK;
    if (!cJSON_IsObject(o)) return soma_error(SOMA_ERR_PARSE, "snn json: %s: \"params\" must be an object {...}", where);
    char w[128];
    snprintf(w, sizeof w, "%s.params", where);
    for (const cJSON *c = o->child; c; c = c->next) {
        const field_ *f = NULL;
        for (size_t k = 0; k < N_FIELDS && !f; k++)
            if (c->string && strcmp(c->string, fields_[k].key) == 0) f = &fields_[k];
        if (!f)
            return soma_error(SOMA_ERR_PARSE, "snn json: %s: unknown parameter \"%s\" (names as in soma_neuron_params: "
                                              "C, gL, EL, V_th, V_reset, t_ref, tau_e, ...; see docs/snn-json.md)",
                              w, c->string ? c->string : "");
        if (!(f->models & (1 << p->model)))
            return soma_error(SOMA_ERR_PARSE, "snn json: %s: parameter \"%s\" does not apply to model %s", w, f->key,
                              soma_neuron_model_name(p->model));
        if ((f->syn == S_COND && p->synapse != SOMA_SYN_CONDUCTANCE) || (f->syn == S_DECAY && p->synapse == SOMA_SYN_DELTA))
            return soma_error(SOMA_ERR_PARSE, "snn json: %s: parameter \"%s\" does not apply to %s synapses", w, f->key,
                              synapse_names_[p->synapse]);
        for (const cJSON *d = o->child; d != c; d = d->next)
            if (strcmp(d->string, c->string) == 0)
                return soma_error(SOMA_ERR_PARSE, "snn json: %s: key \"%s\" given twice", w, c->string);
        SOMA_TRY(num_(o, f->key, w, 1, f->lo, f->open_lo, f->hi, (double *)(void *)((char *)p + f->off)));
    }
    return SOMA_OK;
}

/* Group names end up in file names (soma snn writes spikes_NAME.csv): letters, digits, '_',
 * '-', '.', not starting with '.' or '-'. */
static int name_ok_(const char *s) {
    size_t n = strlen(s);
    if (n < 1 || n > 63 || s[0] == '.' || s[0] == '-') return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '.'))
            return 0;
    }
    return 1;
}

static soma_status group_(soma_snn *net, const cJSON *g, int idx) {
    static const char *const keys[] = {"name", "n", "model", "synapse", "preset", "params", "comment", NULL};
    char where[64];
    snprintf(where, sizeof where, "groups[%d]", idx);
    SOMA_TRY(keys_(g, where, keys));
    const char *name = NULL, *model = NULL, *syn = NULL, *preset = NULL, *comment = NULL;
    double n = 0;
    SOMA_TRY(str_(g, "name", where, 1, &name));
    SOMA_TRY(str_(g, "comment", where, 0, &comment));
    if (!name_ok_(name))
        return soma_error(SOMA_ERR_ARG, "snn json: %s: bad group name \"%.80s\" (1..63 letters, digits, '_', '-', '.')",
                          where, name);
    int other = soma_snn_find_group(net, name);
    if (other >= 0)
        return soma_error(SOMA_ERR_PARSE, "snn json: %s: duplicate group \"%s\" (also groups[%d])", where, name, other);
    SOMA_TRY(int_(g, "n", where, 1, 1, 2147483647.0, &n));
    SOMA_TRY(str_(g, "model", where, 1, &model));
    int m = soma_neuron_model_parse(model);
    if (m < 0)
        return soma_error(SOMA_ERR_PARSE, "snn json: %s: unknown model \"%.80s\" (known: lif, adex, izhikevich, poisson)",
                          where, model);
    soma_neuron_params p;
    soma_neuron_defaults((soma_neuron_model)m, &p);
    SOMA_TRY(str_(g, "preset", where, 0, &preset));
    if (preset) {
        if (m != SOMA_IZHIKEVICH)
            return soma_error(SOMA_ERR_PARSE, "snn json: %s: \"preset\" is for izhikevich groups only", where);
        soma_status st = soma_izhikevich_preset(preset, &p);
        if (st != SOMA_OK) return soma_error_wrap(st, "snn json: %s", where);
    }
    SOMA_TRY(str_(g, "synapse", where, 0, &syn));
    if (syn) {
        if (m == SOMA_POISSON)
            return soma_error(SOMA_ERR_PARSE, "snn json: %s: \"synapse\" does not apply to poisson groups (no inputs)",
                              where);
        int k;
        SOMA_TRY(choice_(syn, "synapse", where, synapse_names_, &k));
        p.synapse = (soma_synapse_kind)k;
    }
    SOMA_TRY(params_(get_(g, "params"), where, &p));
    soma_status st = soma_neuron_params_check(&p);
    if (st != SOMA_OK) return soma_error_wrap(st, "snn json: %s", where);
    int id = -1;
    st = soma_snn_add_group(net, name, (int)n, &p, &id);
    if (st != SOMA_OK) return soma_error_wrap(st, "snn json: %s", where);
    return SOMA_OK;
}

static soma_status group_ref_(const soma_snn *net, const cJSON *o, const char *key, const char *where, int required,
                              int *out) {
    const char *s = NULL;
    *out = -1;
    SOMA_TRY(str_(o, key, where, required, &s));
    if (!s) return SOMA_OK;
    *out = soma_snn_find_group(net, s);
    if (*out < 0) return soma_error(SOMA_ERR_PARSE, "snn json: %s: unknown group \"%.80s\"", where, s);
    return SOMA_OK;
}

// --- connections -----------------------------------------------------------------------

static soma_status stdp_(const cJSON *o, const char *where, soma_stdp *s) {
    static const char *const keys[] = {"tau_plus", "tau_minus", "A_plus", "A_minus", "w_max", "multiplicative", NULL};
    char w[96];
    snprintf(w, sizeof w, "%s.stdp", where);
    SOMA_TRY(keys_(o, w, keys));
    *s = (soma_stdp){.tau_plus = 20, .tau_minus = 20, .A_plus = 0.005, .A_minus = 0.00525, .w_max = 0};
    SOMA_TRY(num_(o, "tau_plus", w, 0, 0, 1, 1e6, &s->tau_plus));
    SOMA_TRY(num_(o, "tau_minus", w, 0, 0, 1, 1e6, &s->tau_minus));
    SOMA_TRY(num_(o, "A_plus", w, 0, 0, 0, 1, &s->A_plus));
    SOMA_TRY(num_(o, "A_minus", w, 0, 0, 0, 1, &s->A_minus));
    SOMA_TRY(num_(o, "w_max", w, 1, 0, 1, 1e9, &s->w_max));
    return bool_(o, "multiplicative", w, &s->multiplicative);
}

/* "edges": [[pre, post], ...] or [[pre, post, w], ...] (all of one kind). */
static soma_status edges_(const cJSON *arr, long n_edges, int n_pre, int n_post, const char *where,
                          soma_conn_spec *c, int **pre, int **post, float **w) {
    *pre = soma_alloc(n_edges > 0 ? (size_t)n_edges : 1, sizeof **pre);
    *post = soma_alloc(n_edges > 0 ? (size_t)n_edges : 1, sizeof **post);
    if (!*pre || !*post) return SOMA_ERR_NOMEM;
    int width = 0;
    long k = 0;
    char what[64];
    for (const cJSON *e = arr->child; e; e = e->next, k++) {
        int m = 0;
        if (cJSON_IsArray(e))
            for (const cJSON *x = e->child; x && m < 4; x = x->next) m++;
        if (!cJSON_IsArray(e) || m < 2 || m > 3)
            return soma_error(SOMA_ERR_PARSE, "snn json: %s: edges[%ld] must be [pre, post] or [pre, post, weight]",
                              where, k);
        if (!width) width = m;
        if (m != width)
            return soma_error(SOMA_ERR_PARSE, "snn json: %s: edges[%ld] has %d entries, edges[0] %d (give a weight on "
                                              "every edge or on none)",
                              where, k, m, width);
        if (m == 3 && !*w && !(*w = soma_alloc((size_t)n_edges, sizeof **w))) return SOMA_ERR_NOMEM;
        double a, b;
        snprintf(what, sizeof what, "edges[%ld][0] (pre)", k);
        SOMA_TRY(int_of_(e->child, what, where, 0, n_pre - 1, &a));
        snprintf(what, sizeof what, "edges[%ld][1] (post)", k);
        SOMA_TRY(int_of_(e->child->next, what, where, 0, n_post - 1, &b));
        (*pre)[k] = (int)a;
        (*post)[k] = (int)b;
        if (m == 3) {
            const cJSON *x = e->child->next->next;
            if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble) || fabs(x->valuedouble) > 1e9)
                return soma_error(cJSON_IsNumber(x) ? SOMA_ERR_ARG : SOMA_ERR_PARSE,
                                  "snn json: %s: edges[%ld][2] (weight) must be a finite number", where, k);
            (*w)[k] = (float)x->valuedouble;
        }
    }
    c->edge_pre = *pre;
    c->edge_post = *post;
    c->edge_w = *w;
    c->n_edges = n_edges;
    return SOMA_OK;
}

static const char *const rule_names_[] = {"prob", "indegree", "edges", "one_to_one", NULL};
static const soma_conn_rule rules_[] = {SOMA_CONN_PROB, SOMA_CONN_INDEGREE, SOMA_CONN_EDGES, SOMA_CONN_ONE_TO_ONE};

static soma_status connection_(soma_snn *net, const cJSON *o, int idx, double *synapses) {
    static const char *const keys[] = {"pre", "post", "target", "rule", "p", "k", "edges", "weight",
                                       "delay", "autapses", "stdp", "comment", NULL};
    char where[64];
    snprintf(where, sizeof where, "connections[%d]", idx);
    SOMA_TRY(keys_(o, where, keys));
    soma_conn_spec c = soma_conn_default();
    const char *rule = NULL, *target = NULL, *comment = NULL;
    SOMA_TRY(str_(o, "comment", where, 0, &comment));
    SOMA_TRY(group_ref_(net, o, "pre", where, 1, &c.pre));
    SOMA_TRY(group_ref_(net, o, "post", where, 1, &c.post));
    int n_pre = soma_snn_group_size(net, c.pre), n_post = soma_snn_group_size(net, c.post), r = 0;
    SOMA_TRY(str_(o, "target", where, 0, &target));
    if (target) {
        static const char *const tnames[] = {"exc", "inh", NULL};
        int t;
        SOMA_TRY(choice_(target, "target", where, tnames, &t));
        c.target = t ? SOMA_TARGET_INH : SOMA_TARGET_EXC;
    }
    SOMA_TRY(str_(o, "rule", where, 1, &rule));
    SOMA_TRY(choice_(rule, "rule", where, rule_names_, &r));
    c.rule = rules_[r];
    /* the keys of the other rules are errors: a "p" on an indegree rule would do nothing */
    static const char *const own[] = {"p", "k", "edges", NULL};
    for (int j = 0; own[j]; j++)
        if (get_(o, own[j]) && j != r)
            return soma_error(SOMA_ERR_PARSE, "snn json: %s: \"%s\" does not apply to rule %s", where, own[j], rule);
    double expect = 0, v = 0;
    const cJSON *earr = NULL;
    long n_edges = 0;
    switch (c.rule) {
    case SOMA_CONN_PROB:
        SOMA_TRY(num_(o, "p", where, 1, 0, 0, 1, &c.p));
        expect = c.p * (double)n_pre * (double)n_post;
        break;
    case SOMA_CONN_INDEGREE:
        SOMA_TRY(int_(o, "k", where, 1, 0, (double)n_pre, &v));
        c.k = (int)v;
        expect = v * (double)n_post;
        break;
    case SOMA_CONN_EDGES:
        SOMA_TRY(array_(o, "edges", where, 1, (long)fmin(max_synapses_, 2147483647.0), &earr, &n_edges));
        expect = (double)n_edges;
        break;
    case SOMA_CONN_ONE_TO_ONE:
        if (n_pre != n_post)
            return soma_error(SOMA_ERR_ARG, "snn json: %s: one_to_one joins groups of equal size, not %d and %d", where,
                              n_pre, n_post);
        expect = n_pre;
        break;
    }
    if (*synapses + expect > max_synapses_)
        return soma_error(SOMA_ERR_ARG, "snn json: %s: about %.3g synapses bring the network past the limit of %.3g",
                          where, expect, max_synapses_);
    *synapses += expect;
    /* per-edge weights replace "weight"; otherwise it is required */
    int per_edge = 0;
    if (earr && earr->child && cJSON_IsArray(earr->child)) {
        int m = 0;
        for (const cJSON *x = earr->child->child; x; x = x->next) m++;
        per_edge = m == 3;
    }
    if (per_edge && get_(o, "weight"))
        return soma_error(SOMA_ERR_PARSE, "snn json: %s: the edges carry weights; drop \"weight\"", where);
    if (!per_edge) SOMA_TRY(num_(o, "weight", where, 1, -1e9, 0, 1e9, &c.weight));
    SOMA_TRY(num_(o, "delay", where, 0, 0, 0, 1e4, &c.delay));
    SOMA_TRY(bool_(o, "autapses", where, &c.autapses));
    soma_stdp stdp;
    const cJSON *so = get_(o, "stdp");
    if (so) {
        SOMA_TRY(stdp_(so, where, &stdp));
        c.stdp = &stdp;
    }
    int *pre = NULL, *post = NULL;
    float *w = NULL;
    soma_status st = SOMA_OK;
    if (earr) st = edges_(earr, n_edges, n_pre, n_post, where, &c, &pre, &post, &w);
    if (st == SOMA_OK) {
        st = soma_snn_connect(net, &c, NULL);
        if (st != SOMA_OK) st = soma_error_wrap(st, "snn json: %s", where);
    }
    soma_free(pre);
    soma_free(post);
    soma_free(w);
    return st;
}

// --- monitors --------------------------------------------------------------------------

static soma_status add_monitor_(soma_snn_json_info *info, int mon, const char *var, const int *neurons, int n) {
    if (mon != info->n_monitors)
        return soma_error(SOMA_ERR_ARG, "snn json: monitor ids out of step (%d, expected %d)", mon, info->n_monitors);
    soma_snn_json_monitor *m = &info->monitors[info->n_monitors];
    memset(m, 0, sizeof *m);
    if (var) {
        snprintf(m->var, sizeof m->var, "%s", var);
        if (!(m->neurons = soma_alloc((size_t)n, sizeof *m->neurons))) return SOMA_ERR_NOMEM;
        memcpy(m->neurons, neurons, (size_t)n * sizeof *neurons);
        m->n_neurons = n;
    }
    info->n_monitors++;
    return SOMA_OK;
}

static const char *const kind_names_[] = {"spikes", "state", "rate", NULL};

static soma_status monitor_(soma_snn *net, const cJSON *o, int idx, soma_snn_json_info *info) {
    static const char *const keys[] = {"kind", "group", "var", "neurons", "every", "comment", NULL};
    char where[64];
    snprintf(where, sizeof where, "monitors[%d]", idx);
    SOMA_TRY(keys_(o, where, keys));
    const char *kind = NULL, *var = NULL, *comment = NULL;
    int k, g;
    SOMA_TRY(str_(o, "comment", where, 0, &comment));
    SOMA_TRY(str_(o, "kind", where, 1, &kind));
    SOMA_TRY(choice_(kind, "kind", where, kind_names_, &k));
    SOMA_TRY(group_ref_(net, o, "group", where, k == SOMA_MON_STATE, &g));
    if (k != SOMA_MON_STATE) {
        static const char *const state_only[] = {"var", "neurons", "every", NULL};
        for (int j = 0; state_only[j]; j++)
            if (get_(o, state_only[j]))
                return soma_error(SOMA_ERR_PARSE, "snn json: %s: \"%s\" is for state monitors only", where,
                                  state_only[j]);
        int lo = g < 0 ? 0 : g, hi = g < 0 ? soma_snn_n_groups(net) : g + 1; /* no group: every group */
        for (int j = lo; j < hi; j++) {
            int mon = -1;
            soma_status st = k == SOMA_MON_SPIKES ? soma_snn_record_spikes(net, j, &mon) : soma_snn_record_rate(net, j, &mon);
            if (st != SOMA_OK) return soma_error_wrap(st, "snn json: %s", where);
            SOMA_TRY(add_monitor_(info, mon, NULL, NULL, 0));
        }
        return SOMA_OK;
    }
    SOMA_TRY(str_(o, "var", where, 1, &var));
    const cJSON *arr;
    long n;
    double every = 1, v;
    SOMA_TRY(array_(o, "neurons", where, 1, MAX_STATE_NEURONS, &arr, &n));
    if (n < 1) return soma_error(SOMA_ERR_ARG, "snn json: %s: \"neurons\" is empty", where);
    SOMA_TRY(int_(o, "every", where, 0, 1, 1e9, &every));
    int *ids = soma_alloc((size_t)n, sizeof *ids), size = soma_snn_group_size(net, g);
    if (!ids) return SOMA_ERR_NOMEM;
    long j = 0;
    soma_status st = SOMA_OK;
    char what[48];
    for (const cJSON *x = arr->child; x && st == SOMA_OK; x = x->next, j++) {
        snprintf(what, sizeof what, "neurons[%ld]", j);
        st = int_of_(x, what, where, 0, size - 1, &v);
        ids[j] = (int)v;
    }
    int mon = -1;
    if (st == SOMA_OK && (st = soma_snn_record_state(net, g, var, ids, (int)n, (int)every, &mon)) != SOMA_OK)
        st = soma_error_wrap(st, "snn json: %s", where);
    if (st == SOMA_OK) st = add_monitor_(info, mon, var, ids, (int)n);
    soma_free(ids);
    return st;
}

// --- the description -------------------------------------------------------------------

void soma_snn_json_info_free(soma_snn_json_info *info) {
    if (!info) return;
    for (int i = 0; info->monitors && i < info->n_monitors; i++) soma_free(info->monitors[i].neurons);
    soma_free(info->monitors);
    memset(info, 0, sizeof *info);
}

static soma_status build_(const cJSON *root, soma_snn **out, soma_snn_json_info *info) {
    static const char *const keys[] = {"dt", "seed", "duration", "groups", "connections", "monitors", "comment", NULL};
    SOMA_TRY(keys_(root, "top level", keys));
    const char *comment = NULL;
    double dt = 0.1, seed = 1, duration = 1000;
    SOMA_TRY(str_(root, "comment", "top level", 0, &comment));
    SOMA_TRY(num_(root, "dt", "top level", 0, 0, 1, 10, &dt));
    SOMA_TRY(int_(root, "seed", "top level", 0, 0, 9007199254740992.0, &seed));
    SOMA_TRY(num_(root, "duration", "top level", 0, 0, 1, 1e8, &duration));
    if (duration / dt > 2e9)
        return soma_error(SOMA_ERR_ARG, "snn json: top level: duration %g ms at dt %g ms is %.3g steps (at most 2e9)",
                          duration, dt, duration / dt);
    const cJSON *groups, *conns, *mons;
    long n_groups, n_conns, n_mons;
    SOMA_TRY(array_(root, "groups", "top level", 1, MAX_GROUPS, &groups, &n_groups));
    if (n_groups < 1) return soma_error(SOMA_ERR_PARSE, "snn json: top level: \"groups\" is empty");
    SOMA_TRY(array_(root, "connections", "top level", 0, MAX_CONNS, &conns, &n_conns));
    SOMA_TRY(array_(root, "monitors", "top level", 0, MAX_MONITORS, &mons, &n_mons));
    /* a monitor without a group records every group */
    long n_rec = 0;
    for (const cJSON *m = mons ? mons->child : NULL; m; m = m->next) n_rec += get_(m, "group") ? 1 : n_groups;
    if (n_rec > MAX_MONITORS)
        return soma_error(SOMA_ERR_ARG, "snn json: top level: the monitors record %ld groups (at most %d)", n_rec,
                          MAX_MONITORS);
    info->duration = duration;
    info->seed = (uint64_t)seed;
    info->monitors = soma_calloc((size_t)n_rec + 1, sizeof *info->monitors);
    if (!info->monitors) return SOMA_ERR_NOMEM;
    SOMA_TRY(soma_snn_new(out, dt, (uint64_t)seed));
    soma_snn *net = *out;
    /* sizes first: nothing is allocated for a description past the limit */
    long total = 0;
    int i = 0;
    for (const cJSON *g = groups->child; g; g = g->next, i++) {
        const cJSON *n = cJSON_IsObject(g) ? get_(g, "n") : NULL;
        if (!cJSON_IsNumber(n) || !(n->valuedouble >= 1) || !(n->valuedouble <= 2147483647.0)) continue;
        if ((double)total + n->valuedouble > (double)max_neurons_)
            return soma_error(SOMA_ERR_ARG, "snn json: groups[%d]: %.0f more neurons bring the network past the limit of %ld",
                              i, n->valuedouble, max_neurons_);
        total += (long)n->valuedouble;
    }
    i = 0;
    for (const cJSON *g = groups->child; g; g = g->next, i++) SOMA_TRY(group_(net, g, i));
    double synapses = 0;
    i = 0;
    for (const cJSON *c = conns ? conns->child : NULL; c; c = c->next, i++) SOMA_TRY(connection_(net, c, i, &synapses));
    i = 0;
    for (const cJSON *m = mons ? mons->child : NULL; m; m = m->next, i++) SOMA_TRY(monitor_(net, m, i, info));
    return SOMA_OK;
}

soma_status soma_snn_from_json_info(const char *text, soma_snn **out, soma_snn_json_info *info) {
    if (!out || !info) return soma_error(SOMA_ERR_ARG, "snn json: NULL output");
    *out = NULL;
    memset(info, 0, sizeof *info);
    if (!text) return soma_error(SOMA_ERR_ARG, "snn json: NULL text");
    cJSON *root = NULL;
    soma_status st = soma_json_parse(text, strlen(text), "snn description", &root);
    if (st != SOMA_OK) return soma_error_wrap(st, "snn json");
    soma_snn *net = NULL;
    st = build_(root, &net, info);
    cJSON_Delete(root);
    if (st != SOMA_OK) {
        soma_snn_free(net);
        soma_snn_json_info_free(info);
        return st;
    }
    *out = net;
    return SOMA_OK;
}

soma_status soma_snn_from_json(const char *text, soma_snn **out, double *duration) {
    soma_snn_json_info info;
    soma_status st = soma_snn_from_json_info(text, out, &info);
    if (st == SOMA_OK && duration) *duration = info.duration;
    soma_snn_json_info_free(&info);
    return st;
}
