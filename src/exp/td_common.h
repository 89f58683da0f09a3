/* Private to src/exp: what schultz1997 and fiorillo2003 share -- the options of a conditioning
 * set-up with a TD learner, and building it from them. */
#ifndef SOMA_EXP_TD_COMMON_H
#define SOMA_EXP_TD_COMMON_H
#include "soma/exp.h"
#include "soma/rl.h"

/* gamma, alpha (default ALPHA), lambda, trace */
#define TD_OPTS_LEARN_(ALPHA) \
    {"gamma", SOMA_OPT_FLOAT, "0.98", 0, 1, NULL, "discount factor per time step", 0}, \
    {"alpha", SOMA_OPT_FLOAT, ALPHA, 1e-6, 1, NULL, "TD step size", 0}, \
    {"lambda", SOMA_OPT_FLOAT, "0", 0, 1, NULL, "eligibility-trace decay (0: TD(0))", 0}, \
    {"trace", SOMA_OPT_ENUM, "accumulate", 0, 0, "accumulate|replace", "eligibility traces", 0}

/* trial timing and the stimulus representation */
#define TD_OPTS_TRIAL_ \
    {"n-steps", SOMA_OPT_INT, "25", 3, 100000, NULL, "time steps in a trial", 0}, \
    {"cs-onset", SOMA_OPT_INT, "5", 1, 100000, NULL, "time step of CS onset", 0}, \
    {"cs-jitter", SOMA_OPT_INT, "0", 0, 100000, NULL, "CS onset drawn from cs-onset..cs-onset+cs-jitter", 0}, \
    {"isi", SOMA_OPT_INT, "6", 1, 100000, NULL, "steps from CS onset to the reward (inter-stimulus interval)", 0}, \
    {"reward", SOMA_OPT_FLOAT, "1", 1e-6, 1e6, NULL, "reward size", 0}, \
    {"repr", SOMA_OPT_ENUM, "csc", 0, 0, "csc|micro", "stimulus representation: complete serial compound or " \
    "microstimuli (Ludvig et al. 2008)", 0}, \
    {"n-micro", SOMA_OPT_INT, "10", 1, 1000, NULL, "microstimuli per stimulus", 0}, \
    {"decay", SOMA_OPT_FLOAT, "0.9", 0.01, 0.9999, NULL, "microstimulus memory-trace decay per step", 0}, \
    {"sigma", SOMA_OPT_FLOAT, "0.08", 1e-3, 10, NULL, "microstimulus basis width", 0}

/* Env, representation and learner from those options (defined in schultz1997.c). */
soma_status soma__exp_td_setup(const soma_args *a, double p_reward, soma_env **env, soma_stimrep **rep,
                               soma_td **td, int *n_steps);

#endif
