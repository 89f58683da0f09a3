/* CartPole and DQN: the physics against reference trajectories computed in Python from the
 * same equations (tests/ref/gen_cartpole.py), termination and truncation; the replay ring
 * buffer; the target net between syncs; the TD-loss gradient against finite differences; Q
 * values learnt on a two-state chain against their closed form; determinism by seed;
 * checkpoints; the reduced dqn-cartpole run against a random policy. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fixture.h"
#include "scratch.h"
#include "soma/exp.h"
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

// --- replay ----------------------------------------------------------------------------

static void test_replay(void) {
    soma_replay *rb;
    CHECK_FAILS(soma_replay_new(&rb, 0, 2), SOMA_ERR_ARG);
    CHECK_OK(soma_replay_new(&rb, 3, 2));
    CHECK(soma_replay_size(rb) == 0);
    for (int i = 0; i < 5; i++) { // transitions 0..4; after 3 each overwrites the oldest
        float o[2] = {(float)i, -(float)i}, n[2] = {(float)i + 0.5f, 1.f};
        soma_replay_add(rb, o, i % 2, 10.f * i, n, i == 4);
        CHECK(soma_replay_size(rb) == (i + 1 < 3 ? i + 1 : 3));
    }
    for (int i = 0; i < 3; i++) { // held: 2, 3, 4, oldest first
        float o[2], n[2], r;
        int a, t;
        CHECK_OK(soma_replay_get(rb, i, o, &a, &r, n, &t));
        int want = i + 2;
        CHECK(o[0] == (float)want && o[1] == -(float)want && n[0] == want + 0.5f && a == want % 2 &&
              r == 10.f * want && t == (want == 4));
    }
    CHECK_FAILS(soma_replay_get(rb, 3, NULL, NULL, NULL, NULL, NULL), SOMA_ERR_ARG);
    soma_rng rng;
    soma_rng_seed(&rng, 3, 0);
    float o[64 * 2], n[64 * 2], r[64], t[64];
    int a[64], seen[5] = {0};
    soma_replay_sample(rb, &rng, 64, o, a, r, n, t);
    for (int k = 0; k < 64; k++) {
        int i = (int)o[2 * k];
        CHECK(i >= 2 && i <= 4 && r[k] == 10.f * i && n[2 * k] == i + 0.5f && t[k] == (i == 4));
        if (i >= 0 && i < 5) seen[i] = 1;
    }
    CHECK(seen[2] && seen[3] && seen[4]);
    soma_replay_free(rb);
}

// --- DQN -------------------------------------------------------------------------------

static soma_dqn_config small_cfg(void) {
    soma_dqn_config c = soma_dqn_defaults();
    c.net = "fc8,tanh";
    c.batch = 4;
    c.buffer = 100;
    c.learn_start = 4;
    c.seed = 11;
    return c;
}

static void test_config_errors(void) {
    soma_dqn *d;
    soma_dqn_config c = small_cfg();
    c.gamma = 1.5f;
    CHECK_FAILS(soma_dqn_new(&d, 3, 2, &c), SOMA_ERR_ARG);
    c = small_cfg();
    c.learn_start = 2;
    CHECK_FAILS(soma_dqn_new(&d, 3, 2, &c), SOMA_ERR_ARG);
    c = small_cfg();
    c.target_update = 0;
    c.tau = 0.f;
    CHECK_FAILS(soma_dqn_new(&d, 3, 2, &c), SOMA_ERR_ARG);
    c = small_cfg();
    c.net = "fc8,bogus";
    CHECK_FAILS(soma_dqn_new(&d, 3, 2, &c), SOMA_ERR_PARSE);
    c = small_cfg();
    CHECK_OK(soma_dqn_new(&d, 3, 2, &c));
    float o[3] = {0};
    CHECK_FAILS(soma_dqn_observe(d, o, 2, 0.0, o, SOMA_RUNNING, NULL), SOMA_ERR_ARG);
    soma_dqn_free(d);
}

/* Fills a batch of n transitions (obs_dim 3) with rewards both inside and beyond Huber's
 * quadratic zone. */
static void make_batch(float *o, int *a, float *r, float *nx, float *t, int n) {
    soma_rng rng;
    soma_rng_seed(&rng, 99, 0);
    for (int k = 0; k < n; k++) {
        for (int i = 0; i < 3; i++) {
            o[k * 3 + i] = (float)soma_rng_normal(&rng);
            nx[k * 3 + i] = (float)soma_rng_normal(&rng);
        }
        a[k] = k % 2;
        r[k] = k % 3 == 0 ? 3.f : 0.3f * (float)k;
        t[k] = k == 1;
    }
}

static double loss_at(soma_dqn *d, const float *o, const int *a, const float *r, const float *nx,
                      const float *t, int n) {
    float l = NAN;
    CHECK_OK(soma_dqn_loss_grad(d, o, a, r, nx, t, n, &l));
    return l;
}

static void test_td_gradient(void) {
    for (int variant = 0; variant < 4; variant++) {
        soma_dqn_config c = small_cfg();
        c.huber = variant & 1;
        c.double_dqn = (variant >> 1) & 1;
        c.batch = 6;
        c.learn_start = 6;
        soma_dqn *d;
        CHECK_OK(soma_dqn_new(&d, 3, 2, &c));
        // a target net different from the online one, so that double DQN matters
        size_t nv, ng;
        float *tv = soma_net_flat_values(soma_dqn_target(d), &nv);
        for (size_t i = 0; i < nv; i++) tv[i] *= 1.3f;
        float o[18], r[6], nx[18], t[6];
        int a[6];
        make_batch(o, a, r, nx, t, 6);
        (void)loss_at(d, o, a, r, nx, t, 6);
        float *v = soma_net_flat_values(soma_dqn_net(d), &nv);
        float *g = soma_net_flat_grads(soma_dqn_net(d), &ng);
        float *an = malloc(nv * sizeof(float)), *fd = malloc(nv * sizeof(float));
        memcpy(an, g, nv * sizeof(float));
        const float h = 1e-3f;
        for (size_t i = 0; i < nv; i++) {
            float keep = v[i];
            v[i] = keep + h;
            double lp = loss_at(d, o, a, r, nx, t, 6);
            v[i] = keep - h;
            double lm = loss_at(d, o, a, r, nx, t, 6);
            v[i] = keep;
            fd[i] = (float)((lp - lm) / (2 * h));
        }
        char label[64];
        snprintf(label, sizeof label, "TD gradient (huber %d, double %d)", c.huber, c.double_dqn);
        CHECK_CLOSE(label, an, fd, nv, 2e-3f, 2e-2f);
        double norm = 0;
        for (size_t i = 0; i < nv; i++) norm += fabs(an[i]);
        CHECK(norm > 1e-2); // a gradient that is not trivially zero
        free(an);
        free(fd);
        soma_dqn_free(d);
    }
}

static int values_equal(soma_net *a, soma_net *b) {
    size_t n, m;
    float *x = soma_net_flat_values(a, &n), *y = soma_net_flat_values(b, &m);
    return n == m && memcmp(x, y, n * sizeof(float)) == 0;
}

static void test_target_sync(void) {
    soma_dqn_config c = small_cfg();
    c.target_update = 5;
    soma_dqn *d;
    CHECK_OK(soma_dqn_new(&d, 3, 2, &c));
    CHECK(values_equal(soma_dqn_net(d), soma_dqn_target(d))); // cloned at the start
    size_t nv;
    float *tv = soma_net_flat_values(soma_dqn_target(d), &nv);
    float *snap = malloc(nv * sizeof(float));
    memcpy(snap, tv, nv * sizeof(float));
    float o[18], r[6], nx[18], t[6];
    int a[6];
    make_batch(o, a, r, nx, t, 6);
    int held = 1;
    for (int k = 0; k < 6; k++) {
        float loss;
        CHECK_OK(soma_dqn_observe(d, o + 3 * k, a[k], r[k], nx + 3 * k, t[k] ? SOMA_TERMINAL : SOMA_RUNNING, &loss));
        CHECK((k >= 3) == (loss >= 0.f)); // learning starts at the 4th step
    }
    for (int s = 0; s < 12; s++) {
        long gs = soma_dqn_grad_steps(d);
        if (gs % 5 != 0) held &= memcmp(tv, snap, nv * sizeof(float)) == 0;
        if (gs % 5 == 0) {
            CHECK(values_equal(soma_dqn_net(d), soma_dqn_target(d)));
            memcpy(snap, tv, nv * sizeof(float));
        } else {
            CHECK(!values_equal(soma_dqn_net(d), soma_dqn_target(d)));
        }
        CHECK_OK(soma_dqn_train_step(d, NULL));
    }
    CHECK(held);
    free(snap);
    // Polyak: target moves by tau of the gap at each step
    c.target_update = 0;
    c.tau = 0.25f;
    soma_dqn *p;
    CHECK_OK(soma_dqn_new(&p, 3, 2, &c));
    for (int k = 0; k < 6; k++)
        CHECK_OK(soma_dqn_observe(p, o + 3 * k, a[k], r[k], nx + 3 * k, SOMA_RUNNING, NULL));
    float *pt = soma_net_flat_values(soma_dqn_target(p), &nv);
    float *before = malloc(nv * sizeof(float)), *want = malloc(nv * sizeof(float));
    memcpy(before, pt, nv * sizeof(float));
    CHECK_OK(soma_dqn_train_step(p, NULL));
    float *pv = soma_net_flat_values(soma_dqn_net(p), &nv);
    for (size_t i = 0; i < nv; i++) want[i] = before[i] + 0.25f * (pv[i] - before[i]);
    CHECK_CLOSE("polyak target", pt, want, nv, 1e-6f, 1e-5f);
    free(before);
    free(want);
    soma_dqn_free(p);
    soma_dqn_free(d);
}

/* A two-state chain, one-hot observations: in s0 action 0 ends with reward 1, action 1 moves
 * to s1 with reward 0; in s1 action 0 ends with reward 2, action 1 ends with 0. With gamma 0.9:
 * Q(s0) = (1, 1.8), Q(s1) = (2, 0). Transitions come uniformly at random (off-policy). */
static void test_chain_values(void) {
    soma_dqn_config c = soma_dqn_defaults();
    c.net = "fc32,relu";
    c.gamma = 0.9f;
    c.lr = 3e-3f;
    c.batch = 32;
    c.buffer = 1000;
    c.learn_start = 64;
    c.target_update = 50;
    c.huber = 0;
    c.seed = 5;
    soma_dqn *d;
    CHECK_OK(soma_dqn_new(&d, 2, 2, &c));
    soma_rng rng;
    soma_rng_seed(&rng, 8, 0);
    const float s0[2] = {1, 0}, s1[2] = {0, 1};
    for (int k = 0; k < 3000; k++) {
        int s = (int)soma_rng_below(&rng, 2), a = (int)soma_rng_below(&rng, 2);
        double r = s == 0 ? (a == 0 ? 1.0 : 0.0) : (a == 0 ? 2.0 : 0.0);
        int term = !(s == 0 && a == 1);
        CHECK_OK(soma_dqn_observe(d, s ? s1 : s0, a, r, term ? (s ? s1 : s0) : s1,
                                  term ? SOMA_TERMINAL : SOMA_RUNNING, NULL));
    }
    float q[4], want[4] = {1.f, 1.8f, 2.f, 0.f};
    CHECK_OK(soma_dqn_q(d, s0, 0, q));
    CHECK_OK(soma_dqn_q(d, s1, 0, q + 2));
    printf("chain Q: s0 (%.3f, %.3f) s1 (%.3f, %.3f); closed form (1, 1.8) (2, 0)\n", q[0], q[1], q[2], q[3]);
    CHECK_CLOSE("chain Q values", q, want, 4, 0.05f, 0.f);
    CHECK(soma_dqn_act(d, s0, 1) == 1 && soma_dqn_act(d, s1, 1) == 0);
    soma_dqn_free(d);
}

/* Episodes of CartPole with a DQN; returns[k] per episode. */
static void cartpole_returns(uint64_t seed, float *returns, int n_ep) {
    soma_dqn_config c = soma_dqn_defaults();
    c.learn_start = 200;
    c.batch = 32;
    c.eps_decay = 1000;
    c.seed = seed;
    soma_dqn *d;
    soma_env *env;
    CHECK_OK(soma_dqn_new(&d, 4, 2, &c));
    CHECK_OK(soma_env_cartpole_new(&env));
    CHECK_OK(soma_env_seed(env, seed + 100));
    for (int e = 0; e < n_ep; e++) {
        float obs[4], nx[4];
        double r, ret = 0;
        int done = SOMA_RUNNING;
        CHECK_OK(soma_env_reset(env, obs));
        while (done == SOMA_RUNNING) {
            int a = soma_dqn_act(d, obs, 0);
            CHECK_OK(soma_env_step(env, a, nx, &r, &done));
            CHECK_OK(soma_dqn_observe(d, obs, a, r, nx, done, NULL));
            memcpy(obs, nx, sizeof obs);
            ret += r;
        }
        returns[e] = (float)ret;
    }
    soma_env_free(env);
    soma_dqn_free(d);
}

static void test_determinism(void) {
    float a[30], b[30], c[30];
    cartpole_returns(4, a, 30);
    cartpole_returns(4, b, 30);
    cartpole_returns(5, c, 30);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(a, c, sizeof a) != 0);
}

static void test_checkpoint(void) {
    if (!scratch_init("rl_dqn")) {
        CHECK(0);
        return;
    }
    soma_dqn_config c = small_cfg();
    c.target_update = 3;
    soma_dqn *d, *e;
    CHECK_OK(soma_dqn_new(&d, 3, 2, &c));
    CHECK_OK(soma_dqn_new(&e, 3, 2, &c));
    float o[18], r[6], nx[18], t[6];
    int a[6];
    make_batch(o, a, r, nx, t, 6);
    for (int k = 0; k < 6; k++) CHECK_OK(soma_dqn_observe(d, o + 3 * k, a[k], r[k], nx + 3 * k, SOMA_RUNNING, NULL));
    CHECK_OK(soma_dqn_train_step(d, NULL)); // online and target now differ
    const char *path = scratch_path("dqn.ckpt");
    CHECK_OK(soma_dqn_save(d, path));
    CHECK_OK(soma_dqn_load(e, path));
    CHECK(values_equal(soma_dqn_net(d), soma_dqn_net(e)));
    CHECK(values_equal(soma_dqn_target(d), soma_dqn_target(e)));
    CHECK(!values_equal(soma_dqn_net(e), soma_dqn_target(e)));
    CHECK(soma_dqn_env_steps(e) == 6 && soma_dqn_grad_steps(e) == soma_dqn_grad_steps(d));
    CHECK(soma_dqn_epsilon(e) == soma_dqn_epsilon(d));
    // both go on identically (same replay content added to e, same streams)
    for (int k = 0; k < 6; k++) soma_replay_add(soma_dqn_replay(e), o + 3 * k, a[k], r[k], nx + 3 * k, 0);
    float ld, le;
    CHECK_OK(soma_dqn_train_step(d, &ld));
    CHECK_OK(soma_dqn_train_step(e, &le));
    CHECK(ld == le && values_equal(soma_dqn_net(d), soma_dqn_net(e)));
    // a checkpoint of another net is refused, and leaves the agent as it was
    soma_dqn_config c2 = small_cfg();
    c2.net = "fc4,tanh";
    soma_dqn *f;
    CHECK_OK(soma_dqn_new(&f, 3, 2, &c2));
    CHECK(soma_dqn_load(f, path) != SOMA_OK);
    CHECK(soma_dqn_env_steps(f) == 0);
    soma_dqn_free(f);
    soma_dqn_free(d);
    soma_dqn_free(e);
    scratch_remove();
}

static double ours_num(const cJSON *r, const char *key, int i) {
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "ours"), key);
    if (cJSON_IsArray(o)) o = cJSON_GetArrayItem(o, i);
    return cJSON_IsNumber(o) ? o->valuedouble : NAN;
}

static void test_experiment_reduced(void) {
    const soma_experiment *e = soma_exp_find("dqn-cartpole");
    CHECK(e != NULL);
    if (!e) return;
    cJSON *r = NULL;
    CHECK_OK(soma_exp_run_reduced(e, 0, NULL, "rl_dqn_exp_out", &r));
    if (!r) return;
    double last = ours_num(r, "mean_return_last100", 0), first = ours_num(r, "mean_return_first10", 0);
    printf("dqn-cartpole (reduced): last-100 mean return %.1f, first 10 episodes %.1f, %.1f s\n", last, first,
           ours_num(r, "wall_time_s", 0));
    CHECK(first < 50);   // a random policy's ~22
    CHECK(last > 100);   // learnt: far above it
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "ours"),
                                                              "env_steps_to_solve")) == 1);
    cJSON_Delete(r);
}

int main(void) {
    test_cartpole_reference();
    test_cartpole_episode();
    test_replay();
    test_config_errors();
    test_td_gradient();
    test_target_sync();
    test_chain_values();
    test_determinism();
    test_checkpoint();
    test_experiment_reduced();
    return check_report("test_rl_dqn");
}
