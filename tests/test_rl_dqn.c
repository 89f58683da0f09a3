/* CartPole and DQN: the physics against reference trajectories computed in Python from the
 * same equations (tests/ref/gen_cartpole.py), termination and truncation, determinism. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fixture.h"
#include "soma/nn.h"
#include "soma/rl.h"

// --- CartPole --------------------------------------------------------------------------

static void test_cartpole_reference(void) {
    fixture f;
    CHECK(fixture_load(check_src_path("tests/fixtures/rl/cartpole.bin"), &f) == 0);
    if (f.n_arrays == 0) return;
    const fixture_array *s0 = fixture_get(&f, "s0"), *act = fixture_get(&f, "actions"),
                        *traj = fixture_get(&f, "traj"), *fail = fixture_get(&f, "fail_step");
    CHECK(s0 && act && traj && fail);
    if (!s0 || !act || !traj || !fail) {
        fixture_free(&f);
        return;
    }
    int K = act->dims[0], T = act->dims[1];
    soma_env *env;
    CHECK_OK(soma_env_cartpole_new(&env));
    float *got = malloc(sizeof(float) * (size_t)T * 4), *got_env = malloc(sizeof(float) * (size_t)T * 4);
    for (int k = 0; k < K; k++) {
        double s[4];
        for (int i = 0; i < 4; i++) s[i] = s0->data[k * 4 + i];
        int first_fail = 0;
        for (int t = 0; t < T; t++) {
            soma_cartpole_dynamics(s, (int)act->data[k * T + t], s);
            for (int i = 0; i < 4; i++) got[t * 4 + i] = (float)s[i];
            if (!first_fail && soma_cartpole_failed(s)) first_fail = t + 1;
        }
        char label[64];
        snprintf(label, sizeof label, "cartpole trajectory %d", k);
        CHECK_CLOSE(label, got, traj->data + (size_t)k * T * 4, (size_t)T * 4, 1e-6f, 1e-5f);
        CHECK(first_fail == (int)fail->data[k]);
        // the same through the environment: observations, rewards, the terminal step
        float obs[4];
        CHECK_OK(soma_env_reset(env, obs));
        CHECK_OK(soma_env_cartpole_set_state(env, (double[4]){s0->data[k * 4], s0->data[k * 4 + 1],
                                                             s0->data[k * 4 + 2], s0->data[k * 4 + 3]}));
        int steps = 0, done = SOMA_RUNNING;
        while (done == SOMA_RUNNING && steps < T) {
            double r;
            CHECK_OK(soma_env_step(env, (int)act->data[k * T + steps], got_env + steps * 4, &r, &done));
            CHECK(r == 1.0);
            steps++;
        }
        CHECK_CLOSE(label, got_env, traj->data + (size_t)k * T * 4, (size_t)steps * 4, 1e-6f, 1e-5f);
        if (fail->data[k] > 0) {
            CHECK(done == SOMA_TERMINAL && steps == (int)fail->data[k]);
        } else {
            CHECK(done == SOMA_RUNNING && steps == T);
        }
    }
    CHECK(fail->data[2] > 0 && fail->data[3] > 0); // the fixture does exercise failure
    free(got);
    free(got_env);
    soma_env_free(env);
    fixture_free(&f);
}

static void test_cartpole_episode(void) {
    soma_env *a, *b;
    CHECK_OK(soma_env_cartpole_new(&a));
    CHECK_OK(soma_env_cartpole_new(&b));
    CHECK(a->obs_dim == 4 && a->n_actions == 2 && a->n_states == 0 && a->max_steps == 500);
    float oa[4], ob[4];
    double r;
    int done;
    CHECK_FAILS(soma_env_step(a, 0, oa, &r, &done), SOMA_ERR_ARG); // before reset
    CHECK_OK(soma_env_seed(a, 5));
    CHECK_OK(soma_env_seed(b, 5));
    CHECK_OK(soma_env_reset(a, oa));
    CHECK_OK(soma_env_reset(b, ob));
    CHECK(memcmp(oa, ob, sizeof oa) == 0);
    for (int i = 0; i < 4; i++) CHECK(oa[i] >= -0.05f && oa[i] <= 0.05f);
    CHECK_OK(soma_env_reset(b, ob));
    CHECK(memcmp(oa, ob, sizeof oa) != 0); // the stream moves on
    CHECK_FAILS(soma_env_step(a, 2, oa, &r, &done), SOMA_ERR_ARG);
    // truncation: hold the pole upright by resetting the state each step; 500 steps, then done
    int steps = 0;
    done = SOMA_RUNNING;
    while (done == SOMA_RUNNING && steps < 1000) {
        CHECK_OK(soma_env_cartpole_set_state(a, (double[4]){0, 0, 0, 0}));
        CHECK_OK(soma_env_step(a, steps & 1, oa, &r, &done));
        steps++;
    }
    CHECK(steps == 500 && done == SOMA_TRUNCATED);
    CHECK_FAILS(soma_env_step(a, 0, oa, &r, &done), SOMA_ERR_ARG); // after the end
    // termination at the limits: just inside stays running, just outside ends
    CHECK_OK(soma_env_reset(a, oa));
    CHECK_OK(soma_env_cartpole_set_state(a, (double[4]){2.39, 0, 0, 0}));
    CHECK_OK(soma_env_step(a, 1, oa, &r, &done));
    CHECK(done == SOMA_RUNNING);
    CHECK_OK(soma_env_cartpole_set_state(a, (double[4]){2.39, 1.0, 0, 0}));
    CHECK_OK(soma_env_step(a, 1, oa, &r, &done));
    CHECK(done == SOMA_TERMINAL && r == 1.0 && oa[0] > 2.4f);
    CHECK_OK(soma_env_reset(a, oa));
    CHECK_OK(soma_env_cartpole_set_state(a, (double[4]){0, 0, -0.2, -1.0}));
    CHECK_OK(soma_env_step(a, 0, oa, &r, &done));
    CHECK(done == SOMA_TERMINAL);
    CHECK_FAILS(soma_env_cartpole_set_state(a, (double[4]){0, NAN, 0, 0}), SOMA_ERR_ARG);
    soma_env_free(a);
    soma_env_free(b);
}

int main(void) {
    test_cartpole_reference();
    test_cartpole_episode();
    return check_report("test_rl_dqn");
}
