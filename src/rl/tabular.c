/* Tabular control: Q-learning, SARSA, expected SARSA, actor-critic; the agent object shared
 * with the planning agents of dyna.c (soma/rl.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rl/tabular_internal.h"

soma_tab_config soma_tab_defaults(soma_tab_kind kind) {
    soma_tab_config c = {0.1, 0.95, 0.1, 0.1, 0, 1e-3, 1e-4, 0.0};
    if (kind == SOMA_TAB_DYNA_Q || kind == SOMA_TAB_DYNA_Q_PLUS || kind == SOMA_TAB_PRIORITIZED_SWEEPING)
        c.planning_steps = 5;
    return c;
}

static int planning_kind_(soma_tab_kind k) {
    return k == SOMA_TAB_DYNA_Q || k == SOMA_TAB_DYNA_Q_PLUS || k == SOMA_TAB_PRIORITIZED_SWEEPING;
}

soma_status soma_tab_new(soma_tab **out, soma_tab_kind kind, int n_states, int n_actions,
                         const soma_tab_config *cfg, uint64_t seed) {
    if (!out) return soma_error(SOMA_ERR_ARG, "tabular: NULL output");
    *out = NULL;
    if ((int)kind < 0 || kind >= SOMA_TAB_KIND_COUNT) return soma_error(SOMA_ERR_ARG, "tabular: unknown kind %d", kind);
    if (n_states < 1 || n_actions < 1 || (long)n_states * n_actions > (1L << 26))
        return soma_error(SOMA_ERR_ARG, "tabular: %d states x %d actions (need >= 1 each, at most 2^26 pairs)",
                          n_states, n_actions);
    soma_tab_config c = cfg ? *cfg : soma_tab_defaults(kind);
    if (!(c.alpha > 0 && c.alpha <= 1)) return soma_error(SOMA_ERR_ARG, "tabular: alpha %g outside (0, 1]", c.alpha);
    if (!(c.gamma >= 0 && c.gamma <= 1)) return soma_error(SOMA_ERR_ARG, "tabular: gamma %g outside [0, 1]", c.gamma);
    if (!(c.epsilon >= 0 && c.epsilon <= 1))
        return soma_error(SOMA_ERR_ARG, "tabular: epsilon %g outside [0, 1]", c.epsilon);
    if (kind == SOMA_TAB_ACTOR_CRITIC && !(c.alpha_actor > 0 && isfinite(c.alpha_actor)))
        return soma_error(SOMA_ERR_ARG, "tabular: alpha_actor %g must be > 0", c.alpha_actor);
    if (c.planning_steps < 0 || (kind == SOMA_TAB_PRIORITIZED_SWEEPING && c.planning_steps < 1))
        return soma_error(SOMA_ERR_ARG, "tabular: planning_steps %d (prioritized sweeping needs >= 1)",
                          c.planning_steps);
    if (!(c.kappa >= 0 && isfinite(c.kappa))) return soma_error(SOMA_ERR_ARG, "tabular: kappa %g must be >= 0", c.kappa);
    if (!(c.theta >= 0 && isfinite(c.theta))) return soma_error(SOMA_ERR_ARG, "tabular: theta %g must be >= 0", c.theta);
    if (!isfinite(c.q_init)) return soma_error(SOMA_ERR_ARG, "tabular: q_init must be finite");
    soma_tab *t = calloc(1, sizeof *t);
    if (!t) return soma_error(SOMA_ERR_NOMEM, "tabular: out of memory");
    t->kind = kind;
    t->cfg = c;
    t->n_states = n_states;
    t->n_actions = n_actions;
    soma_rng_seed(&t->rng, seed, 0);
    size_t n_sa = (size_t)n_states * n_actions;
    t->q = malloc(n_sa * sizeof(double));
    t->probs = malloc((size_t)n_actions * sizeof(double));
    if (kind == SOMA_TAB_ACTOR_CRITIC) t->v = calloc((size_t)n_states, sizeof(double));
    if (!t->q || !t->probs || (kind == SOMA_TAB_ACTOR_CRITIC && !t->v) ||
        (planning_kind_(kind) && soma__dyna_init(t) != SOMA_OK)) {
        soma_tab_free(t);
        return soma_error(SOMA_ERR_NOMEM, "tabular: out of memory for %d x %d tables", n_states, n_actions);
    }
    for (size_t i = 0; i < n_sa; i++) t->q[i] = kind == SOMA_TAB_ACTOR_CRITIC ? 0.0 : c.q_init;
    *out = t;
    return SOMA_OK;
}

void soma_tab_free(soma_tab *t) {
    if (!t) return;
    soma__dyna_free(t);
    free(t->q);
    free(t->v);
    free(t->probs);
    free(t);
}

double soma__tab_max(const soma_tab *t, int s) {
    const double *q = t->q + (size_t)s * t->n_actions;
    double m = q[0];
    for (int a = 1; a < t->n_actions; a++)
        if (q[a] > m) m = q[a];
    return m;
}

int soma_tab_greedy(soma_tab *t, int s) {
    SOMA_ASSERT(t && s >= 0 && s < t->n_states);
    const double *q = t->q + (size_t)s * t->n_actions;
    int best = 0, ties = 1;
    for (int a = 1; a < t->n_actions; a++) {
        if (q[a] > q[best]) {
            best = a;
            ties = 1;
        } else if (q[a] == q[best] && soma_rng_below(&t->rng, (uint64_t)++ties) == 0) {
            best = a; /* reservoir sampling: each of the ties kept with probability 1/ties */
        }
    }
    return best;
}

/* pi(. | s) of the softmax over the preferences, into t->probs. */
static void softmax_(soma_tab *t, int s) {
    const double *h = t->q + (size_t)s * t->n_actions;
    double m = soma__tab_max(t, s), z = 0;
    for (int a = 0; a < t->n_actions; a++) z += t->probs[a] = exp(h[a] - m);
    for (int a = 0; a < t->n_actions; a++) t->probs[a] /= z;
}

static int act_(soma_tab *t, int s) {
    if (t->kind == SOMA_TAB_ACTOR_CRITIC) {
        softmax_(t, s);
        double u = soma_rng_uniform(&t->rng), acc = 0;
        for (int a = 0; a < t->n_actions - 1; a++)
            if (u < (acc += t->probs[a])) return a;
        return t->n_actions - 1;
    }
    if (t->cfg.epsilon > 0 && soma_rng_uniform(&t->rng) < t->cfg.epsilon)
        return (int)soma_rng_below(&t->rng, (uint64_t)t->n_actions);
    return soma_tab_greedy(t, s);
}

int soma_tab_begin(soma_tab *t, int s) {
    SOMA_ASSERT(t && s >= 0 && s < t->n_states);
    return act_(t, s);
}

int soma_tab_observe(soma_tab *t, int s, int a, double r, int s2, int done) {
    SOMA_ASSERT(t && s >= 0 && s < t->n_states && a >= 0 && a < t->n_actions && s2 >= 0 && s2 < t->n_states);
    int terminal = done == SOMA_TERMINAL, na = t->n_actions;
    double *q = t->q, g = t->cfg.gamma;
    size_t sa = (size_t)s * na + a;
    int a2 = -1;
    t->t++;
    switch (t->kind) {
    case SOMA_TAB_QLEARNING:
        q[sa] += t->cfg.alpha * (r + (terminal ? 0.0 : g * soma__tab_max(t, s2)) - q[sa]);
        t->updates++;
        break;
    case SOMA_TAB_SARSA:
        if (!terminal) a2 = act_(t, s2);
        q[sa] += t->cfg.alpha * (r + (terminal ? 0.0 : g * q[(size_t)s2 * na + a2]) - q[sa]);
        t->updates++;
        break;
    case SOMA_TAB_EXPECTED_SARSA: {
        double ev = 0;
        if (!terminal) { /* epsilon-greedy: (1 - eps) on the greedy value, eps spread evenly */
            double mean = 0;
            for (int b = 0; b < na; b++) mean += q[(size_t)s2 * na + b];
            ev = (1 - t->cfg.epsilon) * soma__tab_max(t, s2) + t->cfg.epsilon * mean / na;
        }
        q[sa] += t->cfg.alpha * (r + g * ev - q[sa]);
        t->updates++;
        break;
    }
    case SOMA_TAB_ACTOR_CRITIC: {
        double delta = r + (terminal ? 0.0 : g * t->v[s2]) - t->v[s];
        t->v[s] += t->cfg.alpha * delta;
        softmax_(t, s); /* grad log pi(a|s) wrt h(s, .) = 1[b = a] - pi(b|s) */
        for (int b = 0; b < na; b++) q[(size_t)s * na + b] += t->cfg.alpha_actor * delta * ((b == a) - t->probs[b]);
        t->updates++;
        break;
    }
    default:
        soma__dyna_observe(t, s, a, r, s2, terminal);
        break;
    }
    if (terminal) return -1;
    return a2 >= 0 ? a2 : act_(t, s2);
}

const double *soma_tab_q(const soma_tab *t) { return t ? t->q : NULL; }
const double *soma_tab_v(const soma_tab *t) { return t ? t->v : NULL; }
long soma_tab_updates(const soma_tab *t) { return t ? t->updates : 0; }

soma_status soma_tab_episode(soma_tab *t, soma_env *env, float *obs, long max_steps, long *steps, double *ret) {
    if (!t || !env || !obs) return soma_error(SOMA_ERR_ARG, "tabular: NULL agent, environment or observation");
    if (env->n_states != t->n_states || env->n_actions != t->n_actions)
        return soma_error(SOMA_ERR_ARG, "tabular: the agent is %d states x %d actions, the %s %d x %d", t->n_states,
                          t->n_actions, env->ops->kind, env->n_states, env->n_actions);
    if (max_steps < 1) return soma_error(SOMA_ERR_ARG, "tabular: max_steps %ld < 1", max_steps);
    SOMA_TRY(soma_env_reset(env, obs));
    int s = env->state, a = soma_tab_begin(t, s), done = SOMA_RUNNING;
    long n = 0;
    double total = 0, r;
    while (done == SOMA_RUNNING && n < max_steps) {
        SOMA_TRY(soma_env_step(env, a, obs, &r, &done));
        n++;
        total += r;
        int s2 = env->state;
        /* the agent's own limit truncates like the environment's */
        a = soma_tab_observe(t, s, a, r, s2, done == SOMA_RUNNING && n >= max_steps ? SOMA_TRUNCATED : done);
        s = s2;
    }
    if (steps) *steps = n;
    if (ret) *ret = total;
    return SOMA_OK;
}

soma_status soma_tab_greedy_steps(soma_tab *t, soma_env *env, float *obs, long max_steps, long *steps) {
    if (!t || !env || !obs || !steps) return soma_error(SOMA_ERR_ARG, "tabular: NULL agent, environment or output");
    if (env->n_states != t->n_states || env->n_actions != t->n_actions)
        return soma_error(SOMA_ERR_ARG, "tabular: the agent is %d states x %d actions, the %s %d x %d", t->n_states,
                          t->n_actions, env->ops->kind, env->n_states, env->n_actions);
    if (max_steps < 1) return soma_error(SOMA_ERR_ARG, "tabular: max_steps %ld < 1", max_steps);
    SOMA_TRY(soma_env_reset(env, obs));
    int done = SOMA_RUNNING;
    long n = 0;
    double r;
    while (done == SOMA_RUNNING && n < max_steps) {
        SOMA_TRY(soma_env_step(env, soma_tab_greedy(t, env->state), obs, &r, &done));
        n++;
    }
    *steps = done == SOMA_TERMINAL ? n : max_steps;
    return SOMA_OK;
}
