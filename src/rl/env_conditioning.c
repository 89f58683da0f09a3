/* Classical-conditioning trials (soma_env_conditioning_new): a CS, a US isi steps later with its
 * reward, and per-trial kinds (normal, omission, probe) drawn from the environment's stream. */
#include <math.h>
#include <stdlib.h>

#include "soma/rl.h"

typedef struct cond_ {
    soma_conditioning_config cfg;
    soma_trial_kind forced; /* SOMA_TRIAL_DRAW: draw each trial */
    soma_trial_info trial;
    int cs_off;             /* first time point without the CS */
} cond_;

soma_conditioning_config soma_conditioning_defaults(void) {
    soma_conditioning_config c = {25, 5, 0, 0, 6, 1.0, 1.0, 0.0, 0.0};
    return c;
}

static int prob_ok_(double p) { return isfinite(p) && p >= 0.0 && p <= 1.0; }

static void obs_(const cond_ *c, int t, float *obs) {
    obs[0] = (t >= c->trial.cs_onset && t < c->cs_off) ? 1.f : 0.f;
    obs[1] = (c->trial.us_given && t == c->trial.us_time) ? 1.f : 0.f;
}

static soma_status reset_(soma_env *e, float *obs) {
    cond_ *c = e->impl;
    const soma_conditioning_config *g = &c->cfg;
    soma_trial_info *tr = &c->trial;
    tr->cs_onset = g->cs_onset + (g->cs_jitter > 0 ? (int)soma_rng_below(&e->rng, (uint64_t)g->cs_jitter + 1) : 0);
    tr->us_time = tr->cs_onset + g->isi;
    c->cs_off = g->cs_duration > 0 ? tr->cs_onset + g->cs_duration : tr->us_time + 1;
    if (c->forced != SOMA_TRIAL_DRAW) {
        tr->kind = c->forced;
    } else {
        double u = soma_rng_uniform(&e->rng);
        tr->kind = u < g->p_omission ? SOMA_TRIAL_OMISSION
                   : u < g->p_omission + g->p_probe ? SOMA_TRIAL_PROBE
                                                    : SOMA_TRIAL_NORMAL;
    }
    switch (tr->kind) {
    case SOMA_TRIAL_REWARDED: tr->us_given = 1; break;
    case SOMA_TRIAL_NORMAL: tr->us_given = soma_rng_uniform(&e->rng) < g->p_reward; break;
    default: tr->us_given = 0; break;
    }
    e->state = 0;
    obs_(c, 0, obs);
    return SOMA_OK;
}

static soma_status step_(soma_env *e, int action, float *obs, double *reward, int *done) {
    (void)action;
    cond_ *c = e->impl;
    int t = (int)e->t + 1; /* the time point this step moves to */
    *reward = (c->trial.us_given && t == c->trial.us_time) ? c->cfg.reward : 0.0;
    e->state = t;
    obs_(c, t, obs);
    *done = t >= c->cfg.n_steps ? SOMA_TERMINAL : SOMA_RUNNING;
    return SOMA_OK;
}

static void destroy_(soma_env *e) { free(e->impl); }

static const soma_env_ops ops_ = {"conditioning", reset_, step_, destroy_};

soma_status soma_env_conditioning_new(soma_env **out, const soma_conditioning_config *cfg) {
    if (!out || !cfg) return soma_error(SOMA_ERR_ARG, "conditioning: NULL argument");
    *out = NULL;
    const soma_conditioning_config *g = cfg;
    if (g->n_steps < 2 || g->n_steps > 1000000)
        return soma_error(SOMA_ERR_ARG, "conditioning: n_steps %d outside 2..1000000", g->n_steps);
    if (g->cs_onset < 1) return soma_error(SOMA_ERR_ARG, "conditioning: cs_onset %d < 1 (time 0 precedes the CS)", g->cs_onset);
    if (g->cs_jitter < 0) return soma_error(SOMA_ERR_ARG, "conditioning: cs_jitter %d < 0", g->cs_jitter);
    if (g->isi < 1) return soma_error(SOMA_ERR_ARG, "conditioning: isi %d < 1", g->isi);
    if (g->cs_duration < 0) return soma_error(SOMA_ERR_ARG, "conditioning: cs_duration %d < 0", g->cs_duration);
    if ((long)g->cs_onset + g->cs_jitter + g->isi > g->n_steps)
        return soma_error(SOMA_ERR_ARG,
                          "conditioning: the US (cs_onset %d + cs_jitter %d + isi %d) falls after the trial's last "
                          "time point %d; HINT: raise n_steps",
                          g->cs_onset, g->cs_jitter, g->isi, g->n_steps);
    if (!isfinite(g->reward)) return soma_error(SOMA_ERR_ARG, "conditioning: reward is not finite");
    if (!prob_ok_(g->p_reward)) return soma_error(SOMA_ERR_ARG, "conditioning: p_reward %g outside [0,1]", g->p_reward);
    if (!prob_ok_(g->p_omission)) return soma_error(SOMA_ERR_ARG, "conditioning: p_omission %g outside [0,1]", g->p_omission);
    if (!prob_ok_(g->p_probe)) return soma_error(SOMA_ERR_ARG, "conditioning: p_probe %g outside [0,1]", g->p_probe);
    if (g->p_omission + g->p_probe > 1.0)
        return soma_error(SOMA_ERR_ARG, "conditioning: p_omission + p_probe = %g > 1", g->p_omission + g->p_probe);
    soma_env *e = calloc(1, sizeof *e);
    cond_ *c = calloc(1, sizeof *c);
    if (!e || !c) {
        free(e);
        free(c);
        return soma_error(SOMA_ERR_NOMEM, "conditioning: out of memory");
    }
    c->cfg = *g;
    c->forced = SOMA_TRIAL_DRAW;
    e->ops = &ops_;
    e->impl = c;
    e->obs_dim = 2;
    e->n_actions = 1;
    e->n_states = g->n_steps + 1;
    e->max_steps = g->n_steps;
    e->state = -1;
    e->t = -1;
    soma_rng_seed(&e->rng, 0, 0);
    *out = e;
    return SOMA_OK;
}

static soma_status check_env_(const soma_env *e) {
    if (!e || e->ops != &ops_) return soma_error(SOMA_ERR_ARG, "conditioning: not a conditioning environment");
    return SOMA_OK;
}

soma_status soma_env_conditioning_force(soma_env *e, soma_trial_kind kind) {
    SOMA_TRY(check_env_(e));
    if (kind < SOMA_TRIAL_DRAW || kind >= SOMA_TRIAL_KIND_COUNT)
        return soma_error(SOMA_ERR_ARG, "conditioning: unknown trial kind %d", (int)kind);
    ((cond_ *)e->impl)->forced = kind;
    return SOMA_OK;
}

soma_status soma_env_conditioning_trial(const soma_env *e, soma_trial_info *info) {
    SOMA_TRY(check_env_(e));
    if (!info) return soma_error(SOMA_ERR_ARG, "conditioning: NULL info");
    if (e->state < 0) return soma_error(SOMA_ERR_ARG, "conditioning: no trial before reset");
    *info = ((const cond_ *)e->impl)->trial;
    return SOMA_OK;
}
