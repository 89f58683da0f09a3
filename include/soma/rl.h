/* soma/rl.h -- reinforcement learning: environments, tabular and deep agents, world models,
 * replay.
 *
 * Every environment implements one interface (soma_env): reset, step, its observation and
 * action spaces, and its own seeded random stream. Tabular environments also number their
 * states (n_states > 0; env->state is the current one), so tabular agents index tables by it;
 * every environment writes an observation vector of obs_dim floats for function approximators.
 *
 *     soma_env *env;
 *     SOMA_TRY(soma_env_cartpole_new(&env));
 *     SOMA_TRY(soma_env_seed(env, 42));
 *     float obs[4]; double r; int done = 0;
 *     SOMA_TRY(soma_env_reset(env, obs));
 *     while (!done) SOMA_TRY(soma_env_step(env, action_of(obs), obs, &r, &done));
 *     soma_env_free(env);
 *
 * Thread safety: an environment is used by one thread at a time.
 */
#ifndef SOMA_RL_H
#define SOMA_RL_H

#include "soma/core.h"

#ifdef __cplusplus
extern "C" {
#endif

// --- environments ----------------------------------------------------------------------

/* How an episode ended at this step (soma_env_step's *done). */
typedef enum soma_done {
    SOMA_RUNNING = 0,   /* the episode goes on */
    SOMA_TERMINAL = 1,  /* a terminal state: no value beyond it (bootstrap with 0) */
    SOMA_TRUNCATED = 2  /* the step limit: the state still has a value (bootstrap from it) */
} soma_done;

typedef struct soma_env soma_env;

typedef struct soma_env_ops {
    const char *kind; /* "cartpole", "gridworld", ... */
    /* Starts an episode: sets env->state (tabular) and writes obs[obs_dim]. */
    soma_status (*reset)(soma_env *e, float *obs);
    /* One step with action in [0, n_actions): writes obs (the next observation; after the end
     * of an episode the last one), *reward and *done. */
    soma_status (*step)(soma_env *e, int action, float *obs, double *reward, int *done);
    void (*destroy)(soma_env *e); /* releases impl; may be NULL */
} soma_env_ops;

struct soma_env {
    const soma_env_ops *ops;
    void *impl;
    int obs_dim;   /* floats in an observation */
    int n_actions; /* discrete actions 0 .. n_actions-1 */
    int n_states;  /* tabular environments: states 0 .. n_states-1; 0 otherwise */
    int state;     /* the current state (tabular), -1 before reset */
    long t;        /* steps taken in this episode */
    long max_steps; /* episode limit (SOMA_TRUNCATED at it); 0: none */
    soma_rng rng;  /* the environment's stream (soma_env_seed) */
};

/* Seeds the environment's random stream (start states, noise, stochastic rewards). */
soma_status soma_env_seed(soma_env *e, uint64_t seed);
soma_status soma_env_reset(soma_env *e, float *obs);
/* SOMA_ERR_ARG for an action out of range or a step before reset / after the end. */
soma_status soma_env_step(soma_env *e, int action, float *obs, double *reward, int *done);
void soma_env_free(soma_env *e); /* NULL is a no-op */

// --- CartPole (env_cartpole.c) -----------------------------------------------------------

/* CartPole-v1 (Barto, Sutton & Anderson 1983; Gym's constants): observation [x, x_dot, theta,
 * theta_dot], actions 0 (push left, -10 N) and 1 (push right), reward 1 per step (the failing
 * step included), SOMA_TERMINAL when |x| > 2.4 or |theta| > 12 degrees, SOMA_TRUNCATED at 500
 * steps; reset draws each state variable uniformly in [-0.05, 0.05] from the env's stream. */
soma_status soma_env_cartpole_new(soma_env **out);
/* The deterministic dynamics: out = one Euler step (tau 0.02 s) of s under action (0 or 1).
 * out may alias s. */
void soma_cartpole_dynamics(const double s[4], int action, double out[4]);
/* 1 if s lies outside the limits (|x| > 2.4 or |theta| > 12 degrees), else 0. */
int soma_cartpole_failed(const double s[4]);
/* Reads / overwrites the current physical state (after reset; the episode's step count is
 * kept). SOMA_ERR_ARG when e is not a cartpole or a value is not finite. */
soma_status soma_env_cartpole_state(const soma_env *e, double s[4]);
soma_status soma_env_cartpole_set_state(soma_env *e, const double s[4]);

#ifdef __cplusplus
}
#endif
#endif
