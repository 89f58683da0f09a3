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

// --- world models and model-predictive control (world-model-cartpole) --------------------
/*
 * A learned dynamics model (soma_wm) and a planner (soma_mpc) that acts by simulating action
 * sequences through a model:
 *
 *     soma_wm *wm;                      // an MLP predicting s' - s from (s, one-hot a)
 *     soma_wm_config wc = soma_wm_defaults(4, 2);
 *     wc.bounds = cartpole_bounds;      // |s_i| > bounds[i] ends an episode (0: no bound)
 *     SOMA_TRY(soma_wm_new(&wm, &wc));
 *     SOMA_TRY(soma_wm_add(wm, s, a, s2));      // every real transition
 *     SOMA_TRY(soma_wm_train(wm, 500, &loss));  // re-fits normalisation, then 500 Adam steps
 *     soma_mpc *p;
 *     soma_mpc_config pc = soma_mpc_defaults(SOMA_MPC_CEM);
 *     SOMA_TRY(soma_mpc_new(&p, &pc, 4, 2, soma_wm_model, wm));
 *     SOMA_TRY(soma_mpc_act(p, obs, &a, NULL)); // replans from obs; the first action
 *
 * Termination is not learned: the model applies known failure bounds (for CartPole, the
 * cart position and pole angle limits) to its predicted next state. The planner's return is
 * the number of steps a sequence survives under the model; with tie_bounds, sequences that
 * survive the whole horizon are told apart by how far their last state is from the bounds
 * (with the survival count alone, the cart drifts off the track past the horizon's sight).
 * Neither allocates after _new; each is used by one thread at a time.
 */

/* A batched model for planning: from states s[n, obs_dim] and actions a[n], writes the next
 * states s2[n, obs_dim] and term[n] (1 when the transition ends the episode). */
typedef soma_status (*soma_mpc_model_fn)(void *ctx, float *s2, unsigned char *term,
                                         const float *s, const int *a, int n);

typedef struct soma_wm_config {
    int obs_dim, n_actions;
    const char *net;      /* hidden layers, e.g. "fc64,relu,fc64,relu"; a dense output layer
                             of obs_dim is appended */
    const float *bounds;  /* obs_dim failure bounds (copied; 0: unbounded); NULL: none */
    int capacity;         /* transitions kept (a ring: the oldest go first) */
    int batch;            /* training mini-batch */
    float lr;             /* Adam's learning rate */
    int max_predict;      /* largest n for soma_wm_predict (the planner's candidates) */
    uint64_t seed;
} soma_wm_config;
soma_wm_config soma_wm_defaults(int obs_dim, int n_actions);

typedef struct soma_wm soma_wm; /* opaque */
/* SOMA_ERR_ARG on a bad setting, SOMA_ERR_PARSE/SHAPE on a bad net spec. */
soma_status soma_wm_new(soma_wm **out, const soma_wm_config *cfg);
void soma_wm_free(soma_wm *m); /* NULL is a no-op */
/* Stores a real transition s -> s2 under action a. */
soma_status soma_wm_add(soma_wm *m, const float *s, int a, const float *s2);
long soma_wm_size(const soma_wm *m); /* transitions held */
/* Re-fits the input and target normalisation (mean, std) to the replay, then takes `steps`
 * Adam steps on the MSE of the normalised state change over uniform mini-batches. *loss (may
 * be NULL): the mean loss of the last 10% of the steps. SOMA_ERR_ARG with an empty replay. */
soma_status soma_wm_train(soma_wm *m, int steps, float *loss);
/* Next states s2[n, obs_dim] from s[n, obs_dim] and a[n] (n <= max_predict); term[n] (may be
 * NULL) from the bounds. */
soma_status soma_wm_predict(soma_wm *m, float *s2, unsigned char *term, const float *s,
                            const int *a, int n);
/* soma_wm_predict as a soma_mpc_model_fn (ctx: the soma_wm). */
soma_status soma_wm_model(void *ctx, float *s2, unsigned char *term, const float *s,
                          const int *a, int n);

typedef enum soma_mpc_kind {
    SOMA_MPC_RANDOM = 0, /* random shooting: uniform action sequences, the best one's first action */
    SOMA_MPC_CEM = 1,    /* cross-entropy method: per-step action probabilities refitted to
                            the elite sequences, warm-started from the previous step's plan */
    SOMA_MPC_KIND_COUNT
} soma_mpc_kind;

typedef struct soma_mpc_config {
    soma_mpc_kind kind;
    int horizon;    /* steps simulated */
    int candidates; /* sequences per iteration, all through the model in one call per step */
    int iters;      /* CEM iterations (random shooting: 1) */
    int elites;     /* CEM: sequences the distribution is refitted to */
    float smoothing; /* CEM: p <- smoothing * p + (1 - smoothing) * elite frequency */
    uint64_t seed;
    /* NULL, or obs_dim bounds (copied; 0: unbounded) that break ties between sequences that
     * survive equally long: a sequence alive at the horizon adds its last state's margin,
     * min over bounded i of 1 - |s_i| / bounds[i], in [0, 1), to its steps survived. */
    const float *tie_bounds;
} soma_mpc_config;
soma_mpc_config soma_mpc_defaults(soma_mpc_kind kind);

typedef struct soma_mpc soma_mpc; /* opaque */
/* The model is borrowed (ctx must outlive the planner). SOMA_ERR_ARG on a bad setting. */
soma_status soma_mpc_new(soma_mpc **out, const soma_mpc_config *cfg, int obs_dim, int n_actions,
                         soma_mpc_model_fn model, void *ctx);
void soma_mpc_free(soma_mpc *p); /* NULL is a no-op */
/* Forgets the warm start (call at the start of an episode). */
void soma_mpc_reset(soma_mpc *p);
/* Plans from obs and writes the first action of the best sequence; *value (may be NULL): its
 * return under the model, the steps it survives (at most horizon) plus its tie-break margin. */
soma_status soma_mpc_act(soma_mpc *p, const float *obs, int *action, double *value);

#ifdef __cplusplus
}
#endif
#endif
