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
#include "soma/nn.h"

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

// --- experience replay and DQN (dqn.c) -------------------------------------------------

/* A ring buffer of transitions (obs, action, reward, next_obs, terminal), allocated once:
 * after `capacity` additions each new one overwrites the oldest. */
typedef struct soma_replay soma_replay; /* opaque */
soma_status soma_replay_new(soma_replay **out, long capacity, int obs_dim);
void soma_replay_free(soma_replay *rb); /* NULL is a no-op */
/* Stores one transition (copied). terminal: 1 when next_obs is terminal (no bootstrap);
 * a truncated episode stores 0. */
void soma_replay_add(soma_replay *rb, const float *obs, int action, float reward,
                     const float *next_obs, int terminal);
long soma_replay_size(const soma_replay *rb); /* transitions held, <= capacity */
/* Transition i in [0, size), 0 the oldest held; any output may be NULL. SOMA_ERR_ARG out of
 * range. */
soma_status soma_replay_get(const soma_replay *rb, long i, float *obs, int *action, float *reward,
                            float *next_obs, int *terminal);
/* n transitions drawn uniformly with replacement (size must be >= 1): obs/next_obs [n, obs_dim],
 * action/reward/terminal [n]. No allocation. */
void soma_replay_sample(const soma_replay *rb, soma_rng *rng, int n, float *obs, int *action,
                        float *reward, float *next_obs, float *terminal);

/* Deep Q-network (Mnih et al. 2015): a Q network built from an nn spec, experience replay, a
 * target network cloned from the built graph and synced every target_update gradient steps
 * (or Polyak-averaged with tau when target_update is 0), epsilon-greedy exploration decayed
 * linearly, Huber or squared TD loss, optional double DQN (van Hasselt et al. 2016), Adam.
 *
 *     soma_dqn *d;
 *     soma_dqn_config cfg = soma_dqn_defaults();
 *     SOMA_TRY(soma_dqn_new(&d, env->obs_dim, env->n_actions, &cfg));
 *     ... a = soma_dqn_act(d, obs); step the env; soma_dqn_observe(d, obs, a, r, next, done, &loss);
 *
 * A soma_dqn is used by one thread at a time; act and observe allocate nothing. */
typedef struct soma_dqn_config {
    const char *net;      /* hidden layers + output, e.g. "fc128,relu,fc128,relu" (the output
                             layer "fcA" is appended); borrowed during soma_dqn_new */
    float gamma;          /* discount, [0, 1] */
    float lr;             /* Adam's learning rate */
    int batch;            /* transitions per gradient step */
    long buffer;          /* replay capacity */
    long learn_start;     /* env steps before the first gradient step (>= batch) */
    int train_every;      /* env steps per gradient step */
    long target_update;   /* gradient steps between hard target syncs; 0: Polyak with tau */
    float tau;            /* Polyak coefficient (target += tau (online - target)) */
    float eps_start, eps_end;
    long eps_decay;       /* env steps over which epsilon falls linearly start -> end */
    int double_dqn;       /* 1: the online net picks the next action, the target rates it */
    int huber;            /* 1: Huber loss (delta 1), 0: squared error (1/2 (q - y)^2) */
    float grad_clip;      /* global gradient-norm clip; 0: none */
    uint64_t seed;        /* network initialisation, exploration and replay sampling */
} soma_dqn_config;

soma_dqn_config soma_dqn_defaults(void);
typedef struct soma_dqn soma_dqn; /* opaque */
/* SOMA_ERR_ARG names a setting out of range; SOMA_ERR_PARSE / SHAPE come from the spec. */
soma_status soma_dqn_new(soma_dqn **out, int obs_dim, int n_actions, const soma_dqn_config *cfg);
void soma_dqn_free(soma_dqn *d); /* NULL is a no-op */
/* Q values of one observation [obs_dim] -> q [n_actions], online (target 0) or target net. */
soma_status soma_dqn_q(soma_dqn *d, const float *obs, int target, float *q);
/* The epsilon-greedy action (epsilon at the current env step); greedy when eval is 1. */
int soma_dqn_act(soma_dqn *d, const float *obs, int eval);
float soma_dqn_epsilon(const soma_dqn *d);
/* Records one env step (done as soma_env_step gives it: only SOMA_TERMINAL stops the
 * bootstrap), then trains when due. *loss (may be NULL): the TD loss of the gradient step
 * taken, or -1 if none. */
soma_status soma_dqn_observe(soma_dqn *d, const float *obs, int action, double reward,
                             const float *next_obs, int done, float *loss);
/* The TD loss of a batch against the current target net and its gradient, written into the
 * online net's grads (zeroed first; soma_net_flat_grads): obs/next_obs [n, obs_dim], n <= batch.
 * The target y = r + gamma (1 - terminal) Q_target(next, a*) is held fixed (semi-gradient). */
soma_status soma_dqn_loss_grad(soma_dqn *d, const float *obs, const int *action,
                               const float *reward, const float *next_obs, const float *terminal,
                               int n, float *loss);
/* One gradient step on a batch sampled from replay (and the target update when due). */
soma_status soma_dqn_train_step(soma_dqn *d, float *loss);
/* Copies the online net's values into the target net. */
void soma_dqn_sync_target(soma_dqn *d);
soma_net *soma_dqn_net(soma_dqn *d);
soma_net *soma_dqn_target(soma_dqn *d);
soma_replay *soma_dqn_replay(soma_dqn *d);
long soma_dqn_env_steps(const soma_dqn *d);
long soma_dqn_grad_steps(const soma_dqn *d);
/* Checkpoint (soma_ckpt_save_ex): the online net, Adam's state, the target net's values and
 * the counters as section "dqn". Load into a soma_dqn built with the same config; the replay
 * buffer is not saved. */
soma_status soma_dqn_save(soma_dqn *d, const char *path);
soma_status soma_dqn_load(soma_dqn *d, const char *path);

#ifdef __cplusplus
}
#endif
#endif
