/* CartPole: the cart-pole balancing task of Barto, Sutton & Anderson (1983) with the physics,
 * limits and rewards of Gym's CartPole-v1 (Euler integration, tau 0.02 s). */
#include <math.h>
#include <stdlib.h>

#include "soma/rl.h"

// --- physics ---------------------------------------------------------------------------

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#define CP_GRAVITY 9.8
#define CP_MASS_CART 1.0
#define CP_MASS_POLE 0.1
#define CP_TOTAL_MASS (CP_MASS_CART + CP_MASS_POLE)
#define CP_HALF_LENGTH 0.5
#define CP_POLEMASS_LENGTH (CP_MASS_POLE * CP_HALF_LENGTH)
#define CP_FORCE 10.0
#define CP_TAU 0.02
#define CP_X_LIMIT 2.4
#define CP_THETA_LIMIT (12.0 * 2.0 * M_PI / 360.0)

void soma_cartpole_dynamics(const double s[4], int action, double out[4]) {
    double x = s[0], x_dot = s[1], theta = s[2], theta_dot = s[3];
    double force = action == 1 ? CP_FORCE : -CP_FORCE;
    double c = cos(theta), sn = sin(theta);
    double temp = (force + CP_POLEMASS_LENGTH * theta_dot * theta_dot * sn) / CP_TOTAL_MASS;
    double theta_acc = (CP_GRAVITY * sn - c * temp) /
                       (CP_HALF_LENGTH * (4.0 / 3.0 - CP_MASS_POLE * c * c / CP_TOTAL_MASS));
    double x_acc = temp - CP_POLEMASS_LENGTH * theta_acc * c / CP_TOTAL_MASS;
    out[0] = x + CP_TAU * x_dot;
    out[1] = x_dot + CP_TAU * x_acc;
    out[2] = theta + CP_TAU * theta_dot;
    out[3] = theta_dot + CP_TAU * theta_acc;
}

int soma_cartpole_failed(const double s[4]) {
    return s[0] < -CP_X_LIMIT || s[0] > CP_X_LIMIT || s[2] < -CP_THETA_LIMIT ||
           s[2] > CP_THETA_LIMIT;
}

// --- environment -----------------------------------------------------------------------

typedef struct cartpole {
    double s[4];
} cartpole;

static void cp_obs(const cartpole *c, float *obs) {
    for (int i = 0; i < 4; i++) obs[i] = (float)c->s[i];
}

static soma_status cp_reset(soma_env *e, float *obs) {
    cartpole *c = e->impl;
    for (int i = 0; i < 4; i++) c->s[i] = -0.05 + 0.1 * soma_rng_uniform(&e->rng);
    cp_obs(c, obs);
    return SOMA_OK;
}

static soma_status cp_step(soma_env *e, int action, float *obs, double *reward, int *done) {
    cartpole *c = e->impl;
    double next[4];
    soma_cartpole_dynamics(c->s, action, next);
    for (int i = 0; i < 4; i++) c->s[i] = next[i];
    cp_obs(c, obs);
    *reward = 1.0;
    *done = soma_cartpole_failed(c->s) ? SOMA_TERMINAL : SOMA_RUNNING;
    return SOMA_OK;
}

static void cp_destroy(soma_env *e) { free(e->impl); }

static const soma_env_ops cartpole_ops = {"cartpole", cp_reset, cp_step, cp_destroy};

soma_status soma_env_cartpole_new(soma_env **out) {
    if (!out) return soma_error(SOMA_ERR_ARG, "cartpole: NULL output");
    *out = NULL;
    soma_env *e = calloc(1, sizeof *e);
    cartpole *c = calloc(1, sizeof *c);
    if (!e || !c) {
        free(e);
        free(c);
        return soma_error(SOMA_ERR_NOMEM, "cartpole: out of memory");
    }
    e->ops = &cartpole_ops;
    e->impl = c;
    e->obs_dim = 4;
    e->n_actions = 2;
    e->n_states = 0;
    e->state = -1;
    e->t = -1;
    e->max_steps = 500;
    soma_rng_seed(&e->rng, 0, 0);
    *out = e;
    return SOMA_OK;
}

soma_status soma_env_cartpole_state(const soma_env *e, double s[4]) {
    if (!e || !s || e->ops != &cartpole_ops)
        return soma_error(SOMA_ERR_ARG, "cartpole_state: not a cartpole environment");
    const cartpole *c = e->impl;
    for (int i = 0; i < 4; i++) s[i] = c->s[i];
    return SOMA_OK;
}

soma_status soma_env_cartpole_set_state(soma_env *e, const double s[4]) {
    if (!e || !s || e->ops != &cartpole_ops)
        return soma_error(SOMA_ERR_ARG, "cartpole_set_state: not a cartpole environment");
    for (int i = 0; i < 4; i++)
        if (!isfinite(s[i])) return soma_error(SOMA_ERR_ARG, "cartpole_set_state: state %d is not finite", i);
    cartpole *c = e->impl;
    for (int i = 0; i < 4; i++) c->s[i] = s[i];
    return SOMA_OK;
}
