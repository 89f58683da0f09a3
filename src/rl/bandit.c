/* Bandit agents: epsilon-greedy, UCB and the gradient (softmax-preference) bandit. */
#include <math.h>
#include <stdlib.h>

#include "soma/rl.h"

struct soma_bandit_agent {
    soma_bandit_agent_config cfg;
    double *q;  /* estimates (e-greedy, UCB) or preferences H (gradient) [k] */
    double *pi; /* gradient: action probabilities [k] */
    long *n;    /* pulls per arm [k] */
    long t;     /* pulls in all */
    double mean_r; /* gradient baseline: mean reward so far */
};

soma_bandit_agent_config soma_bandit_agent_defaults(soma_bandit_agent_kind kind, int k) {
    soma_bandit_agent_config c = {kind, k, 0.1, 2.0, kind == SOMA_BANDIT_GRADIENT ? 0.1 : 0.0, 0.0, 1};
    return c;
}

soma_status soma_bandit_agent_new(soma_bandit_agent **out, const soma_bandit_agent_config *cfg) {
    if (!out || !cfg) return soma_error(SOMA_ERR_ARG, "bandit agent: NULL argument");
    *out = NULL;
    if (cfg->kind < 0 || cfg->kind >= SOMA_BANDIT_AGENT_COUNT)
        return soma_error(SOMA_ERR_ARG, "bandit agent: unknown kind %d", (int)cfg->kind);
    if (cfg->k < 1 || cfg->k > (1 << 20)) return soma_error(SOMA_ERR_ARG, "bandit agent: k %d outside 1..%d", cfg->k, 1 << 20);
    if (!(cfg->epsilon >= 0 && cfg->epsilon <= 1))
        return soma_error(SOMA_ERR_ARG, "bandit agent: epsilon %g outside [0,1]", cfg->epsilon);
    if (!(cfg->c >= 0 && isfinite(cfg->c))) return soma_error(SOMA_ERR_ARG, "bandit agent: c %g must be >= 0", cfg->c);
    if (!(cfg->alpha >= 0 && cfg->alpha <= 1e6))
        return soma_error(SOMA_ERR_ARG, "bandit agent: alpha %g must be >= 0", cfg->alpha);
    if (cfg->kind == SOMA_BANDIT_GRADIENT && cfg->alpha <= 0)
        return soma_error(SOMA_ERR_ARG, "bandit agent: the gradient bandit needs alpha > 0");
    if (!isfinite(cfg->q0)) return soma_error(SOMA_ERR_ARG, "bandit agent: q0 is not finite");
    soma_bandit_agent *a = calloc(1, sizeof *a);
    double *q = calloc((size_t)cfg->k, sizeof *q), *pi = calloc((size_t)cfg->k, sizeof *pi);
    long *n = calloc((size_t)cfg->k, sizeof *n);
    if (!a || !q || !pi || !n) {
        free(a);
        free(q);
        free(pi);
        free(n);
        return soma_error(SOMA_ERR_NOMEM, "bandit agent: out of memory");
    }
    a->cfg = *cfg;
    a->q = q;
    a->pi = pi;
    a->n = n;
    soma_bandit_agent_reset(a);
    *out = a;
    return SOMA_OK;
}

void soma_bandit_agent_free(soma_bandit_agent *a) {
    if (!a) return;
    free(a->q);
    free(a->pi);
    free(a->n);
    free(a);
}

void soma_bandit_agent_reset(soma_bandit_agent *a) {
    int k = a->cfg.k;
    for (int i = 0; i < k; i++) {
        a->q[i] = a->cfg.kind == SOMA_BANDIT_GRADIENT ? 0.0 : a->cfg.q0;
        a->pi[i] = 1.0 / k;
        a->n[i] = 0;
    }
    a->t = 0;
    a->mean_r = 0.0;
}

/* The index of the largest v, ties broken uniformly at random. */
static int argmax_(const double *v, int k, soma_rng *rng) {
    int best = 0, ties = 1;
    for (int i = 1; i < k; i++) {
        if (v[i] > v[best]) {
            best = i;
            ties = 1;
        } else if (v[i] == v[best] && soma_rng_below(rng, (uint64_t)++ties) == 0) {
            best = i; /* reservoir choice among the tied */
        }
    }
    return best;
}

int soma_bandit_agent_act(soma_bandit_agent *a, soma_rng *rng) {
    int k = a->cfg.k;
    switch (a->cfg.kind) {
    case SOMA_BANDIT_EGREEDY:
        if (a->cfg.epsilon > 0 && soma_rng_uniform(rng) < a->cfg.epsilon) return (int)soma_rng_below(rng, (uint64_t)k);
        return argmax_(a->q, k, rng);
    case SOMA_BANDIT_UCB: {
        int best = -1;
        double bv = -INFINITY, lt = log((double)(a->t > 0 ? a->t : 1));
        for (int i = 0; i < k; i++) {
            if (a->n[i] == 0) return i; /* an untried arm is maximising */
            double v = a->q[i] + a->cfg.c * sqrt(lt / (double)a->n[i]);
            if (v > bv) {
                bv = v;
                best = i;
            }
        }
        return best;
    }
    default: {
        double u = soma_rng_uniform(rng), acc = 0.0;
        for (int i = 0; i < k; i++) {
            acc += a->pi[i];
            if (u < acc) return i;
        }
        return k - 1;
    }
    }
}

void soma_bandit_agent_update(soma_bandit_agent *a, int action, double reward) {
    int k = a->cfg.k;
    if (action < 0 || action >= k) return;
    a->t++;
    a->n[action]++;
    if (a->cfg.kind != SOMA_BANDIT_GRADIENT) {
        double step = a->cfg.alpha > 0 ? a->cfg.alpha : 1.0 / (double)a->n[action];
        a->q[action] += step * (reward - a->q[action]);
        return;
    }
    double base = a->cfg.baseline ? a->mean_r : 0.0; /* the baseline excludes this reward */
    double g = a->cfg.alpha * (reward - base);
    for (int i = 0; i < k; i++) a->q[i] += g * ((i == action ? 1.0 : 0.0) - a->pi[i]);
    a->mean_r += (reward - a->mean_r) / (double)a->t;
    double mx = a->q[0], z = 0.0;
    for (int i = 1; i < k; i++) mx = a->q[i] > mx ? a->q[i] : mx;
    for (int i = 0; i < k; i++) z += (a->pi[i] = exp(a->q[i] - mx));
    for (int i = 0; i < k; i++) a->pi[i] /= z;
}

const double *soma_bandit_agent_values(const soma_bandit_agent *a) {
    return a->cfg.kind == SOMA_BANDIT_GRADIENT ? a->pi : a->q;
}
