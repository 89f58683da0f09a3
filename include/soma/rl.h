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

// --- successor representation (src/rl/sr.c) --------------------------------------------
/* The successor representation (Dayan 1993) of a policy whose state-to-state transition matrix
 * is T (row-major double[n*n], rows sum to 1, or less where episodes end):
 *     M = sum_t gamma^t T^t = (I - gamma T)^-1,
 * M[s*n+j] is the expected discounted number of visits to j starting from s; the value of a
 * reward vector r is v = M r. Columns of M are the place fields of Stachenfeld et al. 2017.
 * Nothing here allocates; the caller passes every buffer. */

/* M[n*n] = (I - gamma T)^-1 by Gauss-Jordan elimination without pivoting (LAPACK is not
 * linked): I - gamma T is strictly diagonally dominant by rows when gamma in [0, 1) and every
 * row of T is non-negative and sums to at most 1, so every pivot is >= 1 - gamma > 0 and no
 * pivoting is needed. work: n*n doubles of scratch. SOMA_ERR_ARG for NULL buffers, n < 1,
 * gamma outside [0, 1), or a row of T negative or summing past 1. */
soma_status soma_sr_closed_form(double *M, const double *T, int n, double gamma, double *work);

/* T[n*n] of a policy on a deterministic tabular model: next[s*A+a] is where action a leads
 * from s (0..n-1), pi[s*A+a] its probability (rows sum to 1); a state with terminal[s] != 0
 * (terminal may be NULL) ends the episode and its row continues at `restart` (restart < 0: a
 * zero row, nothing beyond). SOMA_ERR_ARG for a next state or restart out of range. */
soma_status soma_sr_policy_T(double *T, const int *next, const double *pi, const unsigned char *terminal,
                             int n, int n_actions, int restart);

/* One TD update of the SR after the transition s -> s_next (s_next < 0: the episode ended,
 * nothing beyond): M[s,:] += alpha (1_s + gamma M[s_next,:] - M[s,:]). No checks, no
 * allocation. */
void soma_sr_td_update(double *M, int n, int s, int s_next, double alpha, double gamma);

/* v[n] = M[n,n] r[n]. */
void soma_sr_value(double *v, const double *M, const double *r, int n);

// --- prioritized replay by gain x need (src/rl/replay.c) -------------------------------
/* A Dyna-style Q-learner that, at chosen moments (the start of an episode, after reward),
 * replays remembered one-step experiences in the order of their expected value of backup
 * EVB = gain x need (Mattar & Daw 2018):
 *   gain(s,a) = sum_b (pi_new(b|s) - pi_old(b|s)) Q_new(s,b), the policy improvement of the
 *               backup Q(s,a) <- r + gamma max_b Q(s',b) under the softmax policy;
 *   need(s)   = M[s_cur, s], the SR row of the agent's current state under its current
 *               policy through its learned model (episode ends continue at the start state).
 * Candidates are every remembered one-step experience and the n-step backups (lengths
 * 2..n_step_max) along one path from the agent's state through its memory: at each state the
 * remembered experience that leads off the path with the largest one-step target (ties: the
 * lower action), up to an episode end. The EVB of an n-step backup sums gain x need over the
 * states it updates. The end phase, with the agent at a terminal state, has no path. Each planning step
 * replays the candidate of largest EVB (ties: the lower state, then action) while EVB >=
 * evb_min. All memory is allocated by soma_evb_new; act, observe and plan allocate
 * nothing. */

/* pi[A] = softmax(beta q[A]) (beta: inverse temperature >= 0). */
void soma_softmax(double *pi, const double *q, int n_actions, double beta);
/* Gain of the backup Q(s,a) <- q_new for a state with action values q_s[A], under softmax(beta)
 * before and after the backup. NaN for more than 32 actions (the agent's limit too). */
double soma_evb_gain(const double *q_s, int n_actions, int a, double q_new, double beta);

typedef struct soma_evb_config {
    int n_states, n_actions;
    int start;         /* the state episodes start from (need continues there after an end) */
    double gamma;      /* discount, [0, 1) */
    double alpha;      /* online learning rate, (0, 1] (replayed backups use 1) */
    double beta;       /* softmax inverse temperature, >= 0 */
    double evb_min;    /* replay stops when the best EVB falls below it, >= 0 */
    int n_plan;        /* backups per planning phase, >= 0 */
    int n_step_max;    /* longest n-step backup, >= 1 (1: one-step experiences only) */
} soma_evb_config;

/* One replayed experience (an n-step backup replays several, first to last). */
typedef struct soma_evb_event {
    int s, a, s_next;
    int backup;        /* index of the planning step within its phase */
} soma_evb_event;

typedef struct soma_evb soma_evb;

/* SOMA_ERR_ARG naming the field for a bad configuration. Q starts at 0, memory empty. */
soma_status soma_evb_new(soma_evb **out, const soma_evb_config *cfg);
void soma_evb_free(soma_evb *r); /* NULL is a no-op */
/* Samples an action from softmax(beta Q(s,.)) with rng. */
int soma_evb_act(const soma_evb *r, int s, soma_rng *rng);
/* Learns from one real step: remembers the experience (s, a, reward, s_next, done) and moves
 * Q(s,a) by alpha toward r + gamma max Q(s_next) (r alone when done == SOMA_TERMINAL). */
soma_status soma_evb_observe(soma_evb *r, int s, int a, double reward, int s_next, int done);
/* One planning phase with the agent at s_cur: up to n_plan backups. Writes the replayed
 * experiences in order into ev[cap] and their count into *n_ev (stops early when ev is full). */
soma_status soma_evb_plan(soma_evb *r, int s_cur, soma_evb_event *ev, int cap, int *n_ev);
/* The action values Q[n_states * n_actions] (borrowed). */
const double *soma_evb_q(const soma_evb *r);
/* Direction of consecutive replayed experiences ev[0..n): a pair is forward when the second
 * starts where the first ended (b.s == a.s_next), reverse when it ends where the first started
 * (b.s_next == a.s); pairs that are both (a step and its undoing) or include a self-transition
 * count as neither. Adds to *fwd and *rev. */
void soma_evb_directions(const soma_evb_event *ev, int n, long *fwd, long *rev);

// --- gridworlds (src/rl/env_grid.c) ----------------------------------------------------
/* A gridworld from a text map: rows separated by '\n' (a final '\n' optional), all of one
 * width; '#' wall, '.' free, 'S' a start cell, 'G' a goal (reward 1, terminal). Four actions
 * (SOMA_GRID_UP, _RIGHT, _DOWN, _LEFT); a move into a wall or off the map leaves the agent in
 * place. States number the cells, state = row * cols + col (walls are states never visited),
 * n_states = rows * cols. An episode starts uniformly among the 'S' cells (one 'S': always
 * there), or with random_start among every free cell that is not a goal. Observation: the
 * one-hot of the state (obs_dim = n_states), or with obs_rowcol the floats (row, col)
 * (obs_dim = 2). Every step that does not reach a goal pays step_reward (default 0). */
enum { SOMA_GRID_UP = 0, SOMA_GRID_RIGHT = 1, SOMA_GRID_DOWN = 2, SOMA_GRID_LEFT = 3 };

typedef struct soma_grid_config { /* zero-initialised (or NULL): the defaults */
    int obs_rowcol;     /* 1: observation (row, col); 0: one-hot of the state */
    int random_start;   /* 1: start on any free non-goal cell; 0: on the 'S' cells */
    double step_reward; /* reward of a step that does not reach a goal */
    long max_steps;     /* episode limit (SOMA_TRUNCATED at it); 0: none */
} soma_grid_config;

/* A new gridworld (soma_env_free). SOMA_ERR_ARG (with the row and column) for a bad
 * character, ragged rows, no free cell, no 'S' without random_start, or over 1e6 cells. */
soma_status soma_env_grid_new(soma_env **out, const char *map, const soma_grid_config *cfg);
/* Replaces the map by one of the same size (the blocking and shortcut mazes open and close
 * walls mid-run); the episode goes on. An agent standing on a cell that became a wall stays
 * there until it moves out. SOMA_ERR_ARG for another size or kind of environment. */
soma_status soma_env_grid_set_map(soma_env *e, const char *map);
/* The grid's size, and the character ('#', '.', 'S', 'G') of a state's cell (0 if out of range
 * or e is not a gridworld). */
void soma_env_grid_size(const soma_env *e, int *rows, int *cols);
char soma_env_grid_cell(const soma_env *e, int state);
/* The deterministic dynamics without moving the agent: where action a from state s leads,
 * its reward, and whether it ends the episode (a goal). SOMA_ERR_ARG for s or a out of range. */
soma_status soma_env_grid_next(const soma_env *e, int s, int a, int *next, double *reward, int *terminal);

/* Built-in maps (static strings). Sutton & Barto 2018, ch. 8: the Dyna maze of figure 8.2
 * (6 x 9, shortest path 14 steps); the blocking maze of figure 8.4 (phase 0: the gap on the
 * right, 1: on the left); the shortcut maze of figure 8.5 (phase 0: the gap on the left,
 * 1: the shortcut on the right opens too). */
const char *soma_grid_map_dyna_maze(void);
const char *soma_grid_map_blocking(int phase);
const char *soma_grid_map_shortcut(int phase);
/* Writes an open rows x cols map (no walls; 'S' at the top-left, 'G' at the bottom-right)
 * into buf of cap bytes (rows * (cols + 1) + 1 needed; SOMA_ERR_ARG when it does not fit).
 * A linear track is an open field of one row. The caller may edit the cells before use. */
soma_status soma_grid_map_open_field(char *buf, size_t cap, int rows, int cols);
soma_status soma_grid_map_linear_track(char *buf, size_t cap, int length);

// --- tabular control agents (src/rl/tabular.c, src/rl/dyna.c) ---------------------------
/* Tabular control over an environment's numbered states: Q-learning, SARSA, expected SARSA,
 * actor-critic (softmax policy over preferences, TD(0) critic), and the planning agents of
 * Sutton & Barto ch. 8: Dyna-Q (a deterministic learned model; planning_steps simulated
 * Q-learning updates from previously observed state-actions after each real step), Dyna-Q+
 * (planning rewards get the bonus kappa * sqrt(tau), tau the real steps since the pair was
 * last tried; untried actions of a visited state are modelled as staying put with reward 0),
 * and prioritized sweeping (Moore & Atkeson 1993: a priority queue of state-actions whose
 * |TD error| > theta, predecessors pushed after each update; real experience updates the
 * model and the queue, planning_steps pops per real step do the value updates). The
 * epsilon-greedy policies break ties between equal values at random.
 *
 *     soma_tab *q;
 *     soma_tab_config c = soma_tab_defaults(SOMA_TAB_DYNA_Q);
 *     c.planning_steps = 50;
 *     SOMA_TRY(soma_tab_new(&q, SOMA_TAB_DYNA_Q, env->n_states, env->n_actions, &c, seed));
 *     long steps; double ret;
 *     SOMA_TRY(soma_tab_episode(q, env, obs, 100000, &steps, &ret));   // or, step by step:
 *     int a = soma_tab_begin(q, env->state);
 *     ... soma_env_step(env, a, obs, &r, &done); a = soma_tab_observe(q, s, a, r, env->state, done);
 *     soma_tab_free(q);
 *
 * No call allocates after soma_tab_new. Thread safety: an agent is used by one thread at a time. */
typedef enum soma_tab_kind {
    SOMA_TAB_QLEARNING = 0,
    SOMA_TAB_SARSA,
    SOMA_TAB_EXPECTED_SARSA,
    SOMA_TAB_ACTOR_CRITIC,
    SOMA_TAB_DYNA_Q,
    SOMA_TAB_DYNA_Q_PLUS,
    SOMA_TAB_PRIORITIZED_SWEEPING,
    SOMA_TAB_KIND_COUNT
} soma_tab_kind;

typedef struct soma_tab_config {
    double alpha;       /* step size of the action values (actor-critic: of the critic), (0, 1] */
    double gamma;       /* discount, [0, 1] */
    double epsilon;     /* epsilon-greedy exploration, [0, 1] (not actor-critic) */
    double alpha_actor; /* actor-critic: step size of the policy preferences, > 0 */
    int planning_steps; /* Dyna-Q, Dyna-Q+, prioritized sweeping: simulated updates per real step */
    double kappa;       /* Dyna-Q+: exploration bonus, >= 0 */
    double theta;       /* prioritized sweeping: priority threshold, >= 0 */
    double q_init;      /* initial action values */
} soma_tab_config;

typedef struct soma_tab soma_tab; /* opaque: soma_tab_new / soma_tab_free */

/* The defaults: alpha 0.1, gamma 0.95, epsilon 0.1, alpha_actor 0.1, planning_steps 5 (planning
 * kinds, else 0), kappa 1e-3, theta 1e-4, q_init 0. */
soma_tab_config soma_tab_defaults(soma_tab_kind kind);
/* A new agent over n_states x n_actions; cfg NULL: the defaults. SOMA_ERR_ARG for a bad kind,
 * size or setting (named); SOMA_ERR_NOMEM. */
soma_status soma_tab_new(soma_tab **out, soma_tab_kind kind, int n_states, int n_actions,
                         const soma_tab_config *cfg, uint64_t seed);
void soma_tab_free(soma_tab *t); /* NULL is a no-op */
/* The first action of an episode in state s (the behaviour policy). */
int soma_tab_begin(soma_tab *t, int s);
/* Learns from the step (s, a) -> (r, s2, done) (done: soma_done; SOMA_TERMINAL bootstraps
 * with 0, SOMA_TRUNCATED from s2), plans (the planning kinds), and returns the next action at
 * s2 (-1 after a terminal step). s, a, s2 must be in range (checked by SOMA_ASSERT). */
int soma_tab_observe(soma_tab *t, int s, int a, double r, int s2, int done);
/* The greedy action at s (ties at random; actor-critic: the largest preference). */
int soma_tab_greedy(soma_tab *t, int s);
/* The tables: q[s * n_actions + a] (actor-critic: the policy preferences); v[s] for
 * actor-critic, NULL otherwise. Borrowed, valid until soma_tab_free. */
const double *soma_tab_q(const soma_tab *t);
const double *soma_tab_v(const soma_tab *t);
/* Value-table updates so far, real and simulated (Q or, for actor-critic, V). */
long soma_tab_updates(const soma_tab *t);
/* Runs one episode from soma_env_reset to its end or max_steps agent steps (max_steps > 0),
 * learning all along. obs: the caller's buffer of env->obs_dim floats. *steps (may be NULL):
 * steps taken; *ret (may be NULL): the undiscounted return. Errors come from the
 * environment, or SOMA_ERR_ARG when it has no numbered states or other sizes than t. */
soma_status soma_tab_episode(soma_tab *t, soma_env *env, float *obs, long max_steps, long *steps, double *ret);
/* Runs one episode with the greedy policy (ties at random), learning nothing: *steps is its
 * length, or max_steps when it did not reach a terminal state (a policy that loops, or the
 * environment's own limit). */
soma_status soma_tab_greedy_steps(soma_tab *t, soma_env *env, float *obs, long max_steps, long *steps);

// --- TD learning as the dopamine signal: conditioning, bandits, TD(lambda) --------------
// (src/rl/env_conditioning.c, env_bandit.c, td.c, bandit.c)

/* Classical-conditioning trials. A trial (an episode) is n_steps steps; time points
 * 0..n_steps. obs = [CS, US], each 1 when that stimulus is present at this time point, else 0
 * (obs_dim 2). One action (n_actions 1). The CS comes on at cs_onset (plus a uniform jitter
 * 0..cs_jitter drawn per trial) and stays on cs_duration steps (0: up to and including the
 * US time); the US comes isi steps after CS onset, for one step, and its reward (`reward`)
 * arrives on the step into that time point. Each trial's kind is drawn from the env's stream:
 * an omission trial with probability p_omission (CS, the US withheld), else a probe trial with
 * probability p_probe (CS alone, flagged as a test), else a normal trial, whose US is delivered
 * with probability p_reward. The state (n_states = n_steps + 1) is the time point. */
typedef struct soma_conditioning_config {
    int n_steps;        /* steps in a trial (default 25); >= 2 */
    int cs_onset;       /* time point of CS onset (default 5); >= 1, so the trial opens with a
                           CS-free time that predicts nothing */
    int cs_jitter;      /* CS onset drawn uniformly from cs_onset..cs_onset+cs_jitter (default 0) */
    int cs_duration;    /* steps the CS stays on; 0 (default): through the US time point */
    int isi;            /* inter-stimulus interval, CS onset to US, in steps (default 6); >= 1 */
    double reward;      /* reward size (default 1) */
    double p_reward;    /* probability a normal trial's US is delivered (default 1) */
    double p_omission;  /* probability of an omission trial (default 0) */
    double p_probe;     /* probability of a probe (CS-only) trial (default 0) */
} soma_conditioning_config;

typedef enum soma_trial_kind {
    SOMA_TRIAL_DRAW = -1,    /* soma_env_conditioning_force: draw from the probabilities again */
    SOMA_TRIAL_NORMAL = 0,   /* CS, then the US with probability p_reward */
    SOMA_TRIAL_REWARDED = 1, /* forced: CS, then the US for sure */
    SOMA_TRIAL_OMISSION = 2, /* CS, the US withheld */
    SOMA_TRIAL_PROBE = 3,    /* CS alone, a test trial */
    SOMA_TRIAL_KIND_COUNT
} soma_trial_kind;

/* What the current trial is (filled at reset). */
typedef struct soma_trial_info {
    soma_trial_kind kind;
    int cs_onset;   /* this trial's CS onset time point */
    int us_time;    /* the time point the US is (or would have been) due: cs_onset + isi */
    int us_given;   /* 1 when the US (and its reward) is delivered on this trial */
} soma_trial_info;

soma_conditioning_config soma_conditioning_defaults(void);
/* SOMA_ERR_ARG (with the field named) for a bad config: the US past the trial's last time
 * point, probabilities outside [0,1] or p_omission + p_probe > 1, a non-finite reward. */
soma_status soma_env_conditioning_new(soma_env **out, const soma_conditioning_config *cfg);
/* The next trials' kind, overriding the draw until called again with SOMA_TRIAL_DRAW. */
soma_status soma_env_conditioning_force(soma_env *e, soma_trial_kind kind);
/* The current trial's kind and timing (after reset). */
soma_status soma_env_conditioning_trial(const soma_env *e, soma_trial_info *info);

/* Multi-armed bandit: k arms, one state, obs = [0] (obs_dim 1), an episode of `steps` pulls
 * (truncated). At reset each arm's true value q*(a) is drawn from the env's stream: N(0,1)
 * (Gaussian; reward ~ N(q*, reward_sd^2)) or U(0,1) (Bernoulli; reward 1 with probability
 * q*). With drift_sd > 0 the values take an independent Gaussian random walk of that size
 * each step (Bernoulli values are clamped to [0,1]): the non-stationary bandit. */
typedef enum soma_bandit_reward { SOMA_BANDIT_GAUSSIAN = 0, SOMA_BANDIT_BERNOULLI = 1,
                                  SOMA_BANDIT_REWARD_COUNT } soma_bandit_reward;
typedef struct soma_bandit_config {
    int k;                     /* arms (default 10), 1..1<<20 */
    soma_bandit_reward reward; /* default Gaussian */
    double reward_sd;          /* Gaussian reward noise (default 1) */
    double drift_sd;           /* random-walk step of the true values (default 0: stationary) */
    long steps;                /* pulls per episode (default 1000) */
} soma_bandit_config;
soma_bandit_config soma_bandit_defaults(void);
soma_status soma_env_bandit_new(soma_env **out, const soma_bandit_config *cfg);
/* The arms' true values now (q[k]); *best (may be NULL) gets the best arm. */
soma_status soma_env_bandit_values(const soma_env *e, double *q, int k, int *best);

/* Linear TD(lambda) value prediction, V(x) = w . x over n_features. Tabular TD is the one-hot
 * case. Per step: delta = r + gamma V(x') - V(x) (V(x') = 0 when terminal); traces
 * e = gamma lambda e + x (accumulating) or e_i = max(gamma lambda e_i, x_i) (replacing: the
 * binary-feature rule e_i = 1 where x_i = 1); w += alpha delta e. lambda = 0 is TD(0). */
typedef enum soma_td_trace { SOMA_TD_ACCUMULATE = 0, SOMA_TD_REPLACE = 1, SOMA_TD_TRACE_COUNT } soma_td_trace;
typedef struct soma_td_config {
    int n_features;
    double alpha;  /* step size (default 0.1), > 0 */
    double gamma;  /* discount (default 0.98), 0..1 */
    double lambda; /* trace decay (default 0), 0..1 */
    soma_td_trace trace;
} soma_td_config;
typedef struct soma_td soma_td;
soma_td_config soma_td_defaults(int n_features);
soma_status soma_td_new(soma_td **out, const soma_td_config *cfg);
void soma_td_free(soma_td *td);
/* Clears the eligibility traces (the start of an episode). */
void soma_td_begin(soma_td *td);
/* One update for the transition x -> x_next with reward r (x_next ignored when terminal);
 * returns delta, the prediction error (the "dopamine" signal). learn = 0 computes delta
 * without changing weights or traces. No allocation. */
double soma_td_step(soma_td *td, const float *x, double r, const float *x_next, int terminal, int learn);
double soma_td_value(const soma_td *td, const float *x);
float *soma_td_weights(soma_td *td); /* w[n_features], owned by td */

/* Stimulus representations: the features a stimulus stream gives a TD learner. Each of the
 * first n_stimuli observation entries is one stimulus; its onset (the entry turning > 0.5)
 * starts a clock. CSC (complete serial compound): one feature per step since onset,
 * 0..n_steps-1 (n_steps features a stimulus). Microstimuli (Ludvig, Sutton & Kehoe 2008): a
 * memory trace y = decay^(steps since onset), and n_micro features y * N(y; i/n_micro, sigma)
 * (Gaussian basis over trace height, i = 1..n_micro), plus a presence bit. Before its first
 * onset in a trial a stimulus gives all-zero features: the inter-trial time predicts nothing. */
typedef enum soma_stimrep_kind { SOMA_STIMREP_CSC = 0, SOMA_STIMREP_MICRO = 1, SOMA_STIMREP_KIND_COUNT } soma_stimrep_kind;
typedef struct soma_stimrep_config {
    soma_stimrep_kind kind;
    int n_stimuli; /* observation entries represented (default 1: the CS) */
    int n_steps;   /* CSC features per stimulus (default 25) */
    int n_micro;   /* microstimuli per stimulus (default 10) */
    double decay;  /* trace decay per step (default 0.9), 0 < decay < 1 */
    double sigma;  /* basis width (default 0.08) */
} soma_stimrep_config;
typedef struct soma_stimrep soma_stimrep;
soma_stimrep_config soma_stimrep_defaults(soma_stimrep_kind kind);
soma_status soma_stimrep_new(soma_stimrep **out, const soma_stimrep_config *cfg);
void soma_stimrep_free(soma_stimrep *s);
int soma_stimrep_dim(const soma_stimrep *s); /* features written by soma_stimrep_features */
void soma_stimrep_begin(soma_stimrep *s);    /* a new trial: no stimulus seen yet */
/* Advances one time point with observation obs and writes its features x[dim]. */
void soma_stimrep_features(soma_stimrep *s, const float *obs, float *x);

/* Runs one episode (a trial) of env (obs_dim <= 16) through rep and td: delta[t] receives the
 * prediction error on the step into time point t, t = 1..len-1 (delta[0] = 0), and xs
 * ((cap) x dim floats) the features at every time point; *len = steps + 1. learn = 0 leaves
 * td's weights unchanged (its traces are cleared at the start of every trial). SOMA_ERR_ARG
 * when the episode is longer than cap - 1 steps. No allocation. */
soma_status soma_td_run_trial(soma_td *td, soma_stimrep *rep, soma_env *env, int learn, double *delta,
                              float *xs, int cap, int *len);

/* Bandit agents: epsilon-greedy over action-value estimates (sample averages, or a constant
 * step size alpha > 0), UCB (Q + c sqrt(ln t / N); untried arms first), and the gradient
 * bandit (softmax over preferences H, H += alpha (r - baseline)(1[a] - pi), baseline the mean
 * reward so far, or 0 without one). */
typedef enum soma_bandit_agent_kind { SOMA_BANDIT_EGREEDY = 0, SOMA_BANDIT_UCB = 1, SOMA_BANDIT_GRADIENT = 2,
                                      SOMA_BANDIT_AGENT_COUNT } soma_bandit_agent_kind;
typedef struct soma_bandit_agent_config {
    soma_bandit_agent_kind kind;
    int k;          /* arms */
    double epsilon; /* e-greedy exploration (default 0.1) */
    double c;       /* UCB exploration (default 2) */
    double alpha;   /* e-greedy/UCB: 0 (default) = sample average; gradient: step (default 0.1) */
    double q0;      /* initial estimates (default 0) */
    int baseline;   /* gradient bandit: 1 (default) = mean-reward baseline */
} soma_bandit_agent_config;
typedef struct soma_bandit_agent soma_bandit_agent;
soma_bandit_agent_config soma_bandit_agent_defaults(soma_bandit_agent_kind kind, int k);
soma_status soma_bandit_agent_new(soma_bandit_agent **out, const soma_bandit_agent_config *cfg);
void soma_bandit_agent_free(soma_bandit_agent *a);
void soma_bandit_agent_reset(soma_bandit_agent *a); /* forgets everything learned */
int soma_bandit_agent_act(soma_bandit_agent *a, soma_rng *rng);
/* Learns from one pull; an action outside 0..k-1 is ignored. No allocation. */
void soma_bandit_agent_update(soma_bandit_agent *a, int action, double reward);
/* Estimates (e-greedy, UCB) or action probabilities (gradient) of the k arms. */
const double *soma_bandit_agent_values(const soma_bandit_agent *a);

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
