/* Multi-armed bandits (soma_env_bandit_new): Gaussian or Bernoulli arms, optionally drifting. */
#include <math.h>
#include <stdlib.h>

#include "soma/rl.h"

typedef struct bandit_ {
    soma_bandit_config cfg;
    double *q; /* true values q*[k] */
} bandit_;

soma_bandit_config soma_bandit_defaults(void) {
    soma_bandit_config c = {10, SOMA_BANDIT_GAUSSIAN, 1.0, 0.0, 1000};
    return c;
}

static soma_status reset_(soma_env *e, float *obs) {
    bandit_ *b = e->impl;
    for (int a = 0; a < b->cfg.k; a++)
        b->q[a] = b->cfg.reward == SOMA_BANDIT_GAUSSIAN ? soma_rng_normal(&e->rng) : soma_rng_uniform(&e->rng);
    e->state = 0;
    obs[0] = 0.f;
    return SOMA_OK;
}

static soma_status step_(soma_env *e, int action, float *obs, double *reward, int *done) {
    bandit_ *b = e->impl;
    double q = b->q[action];
    if (b->cfg.reward == SOMA_BANDIT_GAUSSIAN)
        *reward = q + b->cfg.reward_sd * soma_rng_normal(&e->rng);
    else
        *reward = soma_rng_uniform(&e->rng) < q ? 1.0 : 0.0;
    if (b->cfg.drift_sd > 0) {
        for (int a = 0; a < b->cfg.k; a++) {
            double v = b->q[a] + b->cfg.drift_sd * soma_rng_normal(&e->rng);
            if (b->cfg.reward == SOMA_BANDIT_BERNOULLI) v = v < 0 ? 0 : v > 1 ? 1 : v;
            b->q[a] = v;
        }
    }
    obs[0] = 0.f;
    *done = SOMA_RUNNING; /* the interface truncates at max_steps */
    return SOMA_OK;
}

static void destroy_(soma_env *e) {
    bandit_ *b = e->impl;
    if (b) free(b->q);
    free(b);
}

static const soma_env_ops ops_ = {"bandit", reset_, step_, destroy_};

soma_status soma_env_bandit_new(soma_env **out, const soma_bandit_config *cfg) {
    if (!out || !cfg) return soma_error(SOMA_ERR_ARG, "bandit: NULL argument");
    *out = NULL;
    if (cfg->k < 1 || cfg->k > (1 << 20)) return soma_error(SOMA_ERR_ARG, "bandit: k %d outside 1..%d", cfg->k, 1 << 20);
    if (cfg->reward < 0 || cfg->reward >= SOMA_BANDIT_REWARD_COUNT)
        return soma_error(SOMA_ERR_ARG, "bandit: unknown reward kind %d", (int)cfg->reward);
    if (!isfinite(cfg->reward_sd) || cfg->reward_sd < 0)
        return soma_error(SOMA_ERR_ARG, "bandit: reward_sd %g must be finite and >= 0", cfg->reward_sd);
    if (!isfinite(cfg->drift_sd) || cfg->drift_sd < 0)
        return soma_error(SOMA_ERR_ARG, "bandit: drift_sd %g must be finite and >= 0", cfg->drift_sd);
    if (cfg->steps < 1) return soma_error(SOMA_ERR_ARG, "bandit: steps %ld < 1", cfg->steps);
    soma_env *e = calloc(1, sizeof *e);
    bandit_ *b = calloc(1, sizeof *b);
    double *q = calloc((size_t)cfg->k, sizeof *q);
    if (!e || !b || !q) {
        free(e);
        free(b);
        free(q);
        return soma_error(SOMA_ERR_NOMEM, "bandit: out of memory");
    }
    b->cfg = *cfg;
    b->q = q;
    e->ops = &ops_;
    e->impl = b;
    e->obs_dim = 1;
    e->n_actions = cfg->k;
    e->n_states = 1;
    e->max_steps = cfg->steps;
    e->state = -1;
    e->t = -1;
    soma_rng_seed(&e->rng, 0, 0);
    *out = e;
    return SOMA_OK;
}

soma_status soma_env_bandit_values(const soma_env *e, double *q, int k, int *best) {
    if (!e || e->ops != &ops_) return soma_error(SOMA_ERR_ARG, "bandit: not a bandit environment");
    const bandit_ *b = e->impl;
    if (!q || k != b->cfg.k) return soma_error(SOMA_ERR_ARG, "bandit: values need q[%d], got k %d", b->cfg.k, k);
    if (e->state < 0) return soma_error(SOMA_ERR_ARG, "bandit: no values before reset");
    int bi = 0;
    for (int a = 0; a < k; a++) {
        q[a] = b->q[a];
        if (q[a] > q[bi]) bi = a;
    }
    if (best) *best = bi;
    return SOMA_OK;
}
