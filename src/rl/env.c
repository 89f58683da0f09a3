/* The environment interface: argument checks and episode bookkeeping around each kind's ops. */
#include <stdlib.h>

#include "soma/rl.h"

soma_status soma_env_seed(soma_env *e, uint64_t seed) {
    if (!e) return soma_error(SOMA_ERR_ARG, "env: NULL environment");
    soma_rng_seed(&e->rng, seed, 0);
    e->state = -1;
    e->t = -1;
    return SOMA_OK;
}

soma_status soma_env_reset(soma_env *e, float *obs) {
    if (!e || !obs) return soma_error(SOMA_ERR_ARG, "env: NULL environment or observation");
    e->t = 0;
    soma_status st = e->ops->reset(e, obs);
    if (st != SOMA_OK) e->t = -1;
    return st;
}

soma_status soma_env_step(soma_env *e, int action, float *obs, double *reward, int *done) {
    if (!e || !obs || !reward || !done)
        return soma_error(SOMA_ERR_ARG, "env: NULL environment, observation, reward or done");
    if (e->t < 0)
        return soma_error(SOMA_ERR_ARG, "%s: step before reset or after the episode ended", e->ops->kind);
    if (action < 0 || action >= e->n_actions)
        return soma_error(SOMA_ERR_ARG, "%s: action %d outside 0..%d", e->ops->kind, action, e->n_actions - 1);
    SOMA_TRY(e->ops->step(e, action, obs, reward, done));
    e->t++;
    if (*done == SOMA_RUNNING && e->max_steps > 0 && e->t >= e->max_steps) *done = SOMA_TRUNCATED;
    if (*done != SOMA_RUNNING) e->t = -1;
    return SOMA_OK;
}

void soma_env_free(soma_env *e) {
    if (!e) return;
    if (e->ops && e->ops->destroy) e->ops->destroy(e);
    free(e);
}
