/* Linear TD(lambda) value prediction (soma_td) and the stimulus representations that feed it
 * in conditioning (soma_stimrep: complete serial compound, microstimuli). */
#include <math.h>
#include <stdlib.h>

#include "soma/rl.h"

// --- TD(lambda) ----------------------------------------------------------------------------

struct soma_td {
    soma_td_config cfg;
    float *w; /* weights [n] */
    float *e; /* eligibility traces [n] */
};

soma_td_config soma_td_defaults(int n_features) {
    soma_td_config c = {n_features, 0.1, 0.98, 0.0, SOMA_TD_ACCUMULATE};
    return c;
}

soma_status soma_td_new(soma_td **out, const soma_td_config *cfg) {
    if (!out || !cfg) return soma_error(SOMA_ERR_ARG, "td: NULL argument");
    *out = NULL;
    if (cfg->n_features < 1) return soma_error(SOMA_ERR_ARG, "td: n_features %d < 1", cfg->n_features);
    if (!isfinite(cfg->alpha) || cfg->alpha <= 0) return soma_error(SOMA_ERR_ARG, "td: alpha %g must be > 0", cfg->alpha);
    if (!(cfg->gamma >= 0 && cfg->gamma <= 1)) return soma_error(SOMA_ERR_ARG, "td: gamma %g outside [0,1]", cfg->gamma);
    if (!(cfg->lambda >= 0 && cfg->lambda <= 1)) return soma_error(SOMA_ERR_ARG, "td: lambda %g outside [0,1]", cfg->lambda);
    if (cfg->trace < 0 || cfg->trace >= SOMA_TD_TRACE_COUNT)
        return soma_error(SOMA_ERR_ARG, "td: unknown trace kind %d", (int)cfg->trace);
    soma_td *td = calloc(1, sizeof *td);
    float *w = soma_calloc((size_t)cfg->n_features, sizeof(float));
    float *e = soma_calloc((size_t)cfg->n_features, sizeof(float));
    if (!td || !w || !e) {
        free(td);
        soma_free(w);
        soma_free(e);
        return soma_error(SOMA_ERR_NOMEM, "td: out of memory for %d features", cfg->n_features);
    }
    td->cfg = *cfg;
    td->w = w;
    td->e = e;
    *out = td;
    return SOMA_OK;
}

void soma_td_free(soma_td *td) {
    if (!td) return;
    soma_free(td->w);
    soma_free(td->e);
    free(td);
}

void soma_td_begin(soma_td *td) {
    for (int i = 0; i < td->cfg.n_features; i++) td->e[i] = 0.f;
}

double soma_td_value(const soma_td *td, const float *x) {
    double v = 0.0;
    for (int i = 0; i < td->cfg.n_features; i++) v += (double)td->w[i] * x[i];
    return v;
}

double soma_td_step(soma_td *td, const float *x, double r, const float *x_next, int terminal, int learn) {
    const soma_td_config *c = &td->cfg;
    double v_next = terminal ? 0.0 : soma_td_value(td, x_next);
    double delta = r + c->gamma * v_next - soma_td_value(td, x);
    if (!learn) return delta;
    float decay = (float)(c->gamma * c->lambda), step = (float)(c->alpha * delta);
    int n = c->n_features;
    if (c->trace == SOMA_TD_ACCUMULATE) {
        for (int i = 0; i < n; i++) td->e[i] = decay * td->e[i] + x[i];
    } else {
        for (int i = 0; i < n; i++) {
            float d = decay * td->e[i];
            td->e[i] = x[i] > d ? x[i] : d;
        }
    }
    for (int i = 0; i < n; i++) td->w[i] += step * td->e[i];
    return delta;
}

float *soma_td_weights(soma_td *td) { return td->w; }

// --- stimulus representations ---------------------------------------------------------------

struct soma_stimrep {
    soma_stimrep_config cfg;
    int per;    /* features per stimulus */
    int *since; /* steps since onset per stimulus; -1: not yet seen this trial */
    float *prev; /* previous observation entry per stimulus */
};

soma_stimrep_config soma_stimrep_defaults(soma_stimrep_kind kind) {
    soma_stimrep_config c = {kind, 1, 25, 10, 0.9, 0.08};
    return c;
}

soma_status soma_stimrep_new(soma_stimrep **out, const soma_stimrep_config *cfg) {
    if (!out || !cfg) return soma_error(SOMA_ERR_ARG, "stimrep: NULL argument");
    *out = NULL;
    if (cfg->kind < 0 || cfg->kind >= SOMA_STIMREP_KIND_COUNT)
        return soma_error(SOMA_ERR_ARG, "stimrep: unknown kind %d", (int)cfg->kind);
    if (cfg->n_stimuli < 1 || cfg->n_stimuli > 1024)
        return soma_error(SOMA_ERR_ARG, "stimrep: n_stimuli %d outside 1..1024", cfg->n_stimuli);
    int per;
    if (cfg->kind == SOMA_STIMREP_CSC) {
        if (cfg->n_steps < 1 || cfg->n_steps > 1000000)
            return soma_error(SOMA_ERR_ARG, "stimrep: n_steps %d outside 1..1000000", cfg->n_steps);
        per = cfg->n_steps;
    } else {
        if (cfg->n_micro < 1 || cfg->n_micro > 10000)
            return soma_error(SOMA_ERR_ARG, "stimrep: n_micro %d outside 1..10000", cfg->n_micro);
        if (!(cfg->decay > 0 && cfg->decay < 1)) return soma_error(SOMA_ERR_ARG, "stimrep: decay %g outside (0,1)", cfg->decay);
        if (!(cfg->sigma > 0 && isfinite(cfg->sigma))) return soma_error(SOMA_ERR_ARG, "stimrep: sigma %g must be > 0", cfg->sigma);
        per = cfg->n_micro + 1;
    }
    soma_stimrep *s = calloc(1, sizeof *s);
    int *since = calloc((size_t)cfg->n_stimuli, sizeof *since);
    float *prev = calloc((size_t)cfg->n_stimuli, sizeof *prev);
    if (!s || !since || !prev) {
        free(s);
        free(since);
        free(prev);
        return soma_error(SOMA_ERR_NOMEM, "stimrep: out of memory");
    }
    s->cfg = *cfg;
    s->per = per;
    s->since = since;
    s->prev = prev;
    soma_stimrep_begin(s);
    *out = s;
    return SOMA_OK;
}

void soma_stimrep_free(soma_stimrep *s) {
    if (!s) return;
    free(s->since);
    free(s->prev);
    free(s);
}

int soma_stimrep_dim(const soma_stimrep *s) { return s->per * s->cfg.n_stimuli; }

void soma_stimrep_begin(soma_stimrep *s) {
    for (int j = 0; j < s->cfg.n_stimuli; j++) {
        s->since[j] = -1;
        s->prev[j] = 0.f;
    }
}

void soma_stimrep_features(soma_stimrep *s, const float *obs, float *x) {
    const soma_stimrep_config *c = &s->cfg;
    const double norm = 1.0 / sqrt(2.0 * 3.14159265358979323846);
    for (int j = 0; j < c->n_stimuli; j++) {
        int on = obs[j] > 0.5f, was = s->prev[j] > 0.5f;
        s->prev[j] = obs[j];
        if (on && !was) s->since[j] = 0;         /* onset: the clock (re)starts */
        else if (s->since[j] >= 0) s->since[j]++;
        float *xj = x + (size_t)j * s->per;
        for (int i = 0; i < s->per; i++) xj[i] = 0.f;
        int k = s->since[j];
        if (k < 0) continue;
        if (c->kind == SOMA_STIMREP_CSC) {
            if (k < c->n_steps) xj[k] = 1.f;
        } else {
            double y = pow(c->decay, k);
            for (int i = 1; i <= c->n_micro; i++) {
                double z = (y - (double)i / c->n_micro) / c->sigma;
                xj[i - 1] = (float)(y * norm * exp(-0.5 * z * z));
            }
            xj[c->n_micro] = on ? 1.f : 0.f;
        }
    }
}

// --- a conditioning trial ---------------------------------------------------------------------

soma_status soma_td_run_trial(soma_td *td, soma_stimrep *rep, soma_env *env, int learn, double *delta,
                              float *xs, int cap, int *len) {
    if (!td || !rep || !env || !delta || !xs || !len) return soma_error(SOMA_ERR_ARG, "td: NULL argument to run_trial");
    if (env->obs_dim > 16 || env->obs_dim < rep->cfg.n_stimuli)
        return soma_error(SOMA_ERR_ARG, "td: run_trial needs an observation of %d..16 floats, env has %d",
                          rep->cfg.n_stimuli, env->obs_dim);
    int dim = soma_stimrep_dim(rep);
    if (dim != td->cfg.n_features)
        return soma_error(SOMA_ERR_ARG, "td: %d features from the representation, %d in the learner", dim,
                          td->cfg.n_features);
    if (cap < 2) return soma_error(SOMA_ERR_ARG, "td: run_trial cap %d < 2", cap);
    float obs[16];
    SOMA_TRY(soma_env_reset(env, obs));
    soma_stimrep_begin(rep);
    soma_td_begin(td);
    soma_stimrep_features(rep, obs, xs);
    delta[0] = 0.0;
    int t = 0, done = SOMA_RUNNING;
    while (done == SOMA_RUNNING) {
        if (t + 1 >= cap) return soma_error(SOMA_ERR_ARG, "td: the trial is longer than cap - 1 = %d steps", cap - 1);
        double r;
        SOMA_TRY(soma_env_step(env, 0, obs, &r, &done));
        float *x = xs + (size_t)t * dim, *xn = x + dim;
        soma_stimrep_features(rep, obs, xn);
        delta[t + 1] = soma_td_step(td, x, r, xn, done == SOMA_TERMINAL, learn);
        t++;
    }
    *len = t + 1;
    return SOMA_OK;
}
