// World models and planning: the learned dynamics model against CartPole's true dynamics on
// held-out states, MPC with the true dynamics balancing the pole for 500 steps (the planner
// alone), CEM beating random shooting at the same budget on a combination lock, determinism
// by seed, bad settings refused, and the world-model-cartpole experiment at reduced size.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "json_util.h"
#include "soma/soma.h"

// --- models for the planner ------------------------------------------------------------

/* CartPole's true dynamics as a batched planning model. */
static soma_status true_cartpole_(void *ctx, float *s2, unsigned char *term, const float *s,
                                  const int *a, int n) {
    (void)ctx;
    for (int i = 0; i < n; i++) {
        double x[4], y[4];
        for (int j = 0; j < 4; j++) x[j] = s[4 * i + j];
        soma_cartpole_dynamics(x, a[i], y);
        for (int j = 0; j < 4; j++) s2[4 * i + j] = (float)y[j];
        term[i] = (unsigned char)soma_cartpole_failed(y);
    }
    return SOMA_OK;
}

/* A combination lock: state [t]; the sequence survives step t only when its action equals
 * key[t]. Random sequences survive 2^-k of the time past k steps. */
typedef struct lock_ {
    int key[64];
} lock_;
static soma_status lock_model_(void *ctx, float *s2, unsigned char *term, const float *s, const int *a,
                               int n) {
    const lock_ *l = ctx;
    for (int i = 0; i < n; i++) {
        int t = (int)s[i];
        s2[i] = (float)(t + 1);
        term[i] = (unsigned char)(t >= 64 || a[i] != l->key[t]);
    }
    return SOMA_OK;
}

/* Position and angle limits of CartPole, and soft velocity limits: the planner's tie-break. */
static const float tie_[4] = {2.4f, 2.f, 0.2094395f, 3.f};

/* Plays one CartPole episode with the planner; returns the return. */
static double episode_(soma_mpc *p, uint64_t seed) {
    soma_env *env = NULL;
    double total = 0.0;
    if (soma_env_cartpole_new(&env) != SOMA_OK) return -1.0;
    float obs[4];
    int done = 0;
    if (soma_env_seed(env, seed) != SOMA_OK || soma_env_reset(env, obs) != SOMA_OK) done = -1;
    soma_mpc_reset(p);
    while (!done) {
        int a;
        double r;
        if (soma_mpc_act(p, obs, &a, NULL) != SOMA_OK || soma_env_step(env, a, obs, &r, &done) != SOMA_OK) {
            total = -1.0;
            break;
        }
        total += r;
    }
    soma_env_free(env);
    return total;
}

// --- tests -------------------------------------------------------------------------------

/* Random CartPole states inside the failure bounds, actions, and their true next states. */
static void cartpole_data_(soma_rng *r, float *s, int *a, float *s2, int n) {
    const double span[4] = {2.4, 2.0, 0.2, 2.5};
    for (int i = 0; i < n; i++) {
        double x[4], y[4];
        for (int j = 0; j < 4; j++) x[j] = span[j] * (2.0 * soma_rng_uniform(r) - 1.0);
        a[i] = (int)soma_rng_below(r, 2);
        soma_cartpole_dynamics(x, a[i], y);
        for (int j = 0; j < 4; j++) {
            s[4 * i + j] = (float)x[j];
            s2[4 * i + j] = (float)y[j];
        }
    }
}

static void test_model_learns_dynamics_(void) {
    enum { NTR = 3000, NTE = 500 };
    static float s[NTR * 4], s2[NTR * 4], ts[NTE * 4], ts2[NTE * 4], pred[NTE * 4];
    static int a[NTR], ta[NTE];
    soma_rng r;
    soma_rng_seed(&r, 7, 0);
    cartpole_data_(&r, s, a, s2, NTR);
    cartpole_data_(&r, ts, ta, ts2, NTE);
    const float bounds[4] = {2.4f, 0.f, 0.2094395f, 0.f};
    soma_wm_config c = soma_wm_defaults(4, 2);
    c.bounds = bounds;
    c.max_predict = NTE;
    c.seed = 3;
    soma_wm *m = NULL;
    CHECK_OK(soma_wm_new(&m, &c));
    if (!m) return;
    for (int i = 0; i < NTR; i++) CHECK_OK(soma_wm_add(m, s + 4 * i, a[i], s2 + 4 * i));
    CHECK(soma_wm_size(m) == NTR);
    float loss0, loss;
    CHECK_OK(soma_wm_train(m, 20, &loss0));
    CHECK_OK(soma_wm_train(m, 3000, &loss));
    unsigned char term[NTE];
    CHECK_OK(soma_wm_predict(m, pred, term, ts, ta, NTE));
    /* error of the predicted change relative to the spread of the true change, per variable */
    int term_agree = 0;
    for (int j = 0; j < 4; j++) {
        double se = 0.0, sd = 0.0, mu = 0.0;
        for (int i = 0; i < NTE; i++) mu += ts2[4 * i + j] - ts[4 * i + j];
        mu /= NTE;
        for (int i = 0; i < NTE; i++) {
            double d = ts2[4 * i + j] - ts[4 * i + j], e = pred[4 * i + j] - ts2[4 * i + j];
            se += e * e;
            sd += (d - mu) * (d - mu);
        }
        double rel = sqrt(se / sd);
        printf("  held-out one-step error, variable %d: %.4f of the change's std\n", j, rel);
        CHECK(rel < 0.05);
    }
    for (int i = 0; i < NTE; i++) {
        double y[4] = {ts2[4 * i], ts2[4 * i + 1], ts2[4 * i + 2], ts2[4 * i + 3]};
        term_agree += term[i] == soma_cartpole_failed(y);
    }
    printf("  training loss %.4f -> %.5f; termination agrees on %d/%d\n", (double)loss0, (double)loss,
           term_agree, NTE);
    CHECK(loss < 0.05f * loss0);
    CHECK(term_agree >= NTE * 97 / 100);
    /* determinism: the same seed and data give the same model, bit for bit */
    static float pred2[2][NTE * 4];
    for (int k = 0; k < 2; k++) {
        soma_wm *m2 = NULL;
        CHECK_OK(soma_wm_new(&m2, &c));
        if (!m2) continue;
        for (int i = 0; i < NTR; i++) CHECK_OK(soma_wm_add(m2, s + 4 * i, a[i], s2 + 4 * i));
        CHECK_OK(soma_wm_train(m2, 20, NULL));
        CHECK_OK(soma_wm_train(m2, 200, NULL));
        CHECK_OK(soma_wm_predict(m2, pred2[k], NULL, ts, ta, NTE));
        soma_wm_free(m2);
    }
    CHECK(memcmp(pred2[0], pred2[1], sizeof pred2[0]) == 0);
    CHECK(memcmp(pred2[0], pred, sizeof pred2[0]) != 0); /* and a model trained longer does not */
    soma_wm_free(m);
}

static void test_mpc_true_dynamics_(void) {
    for (int kind = 0; kind < 2; kind++) {
        soma_mpc_config pc = soma_mpc_defaults((soma_mpc_kind)kind);
        pc.horizon = 30;
        pc.candidates = 100;
        pc.seed = 11;
        pc.tie_bounds = tie_;
        soma_mpc *p = NULL;
        CHECK_OK(soma_mpc_new(&p, &pc, 4, 2, true_cartpole_, NULL));
        if (!p) continue;
        for (uint64_t ep = 0; ep < 2; ep++) {
            double ret = episode_(p, 100 + ep);
            printf("  %s with the true dynamics, episode %d: return %.0f\n", kind ? "CEM" : "random shooting",
                   (int)ep, ret);
            CHECK(ret == 500.0);
        }
        soma_mpc_free(p);
    }
}

static void test_cem_beats_random_(void) {
    lock_ l;
    double sum_rs = 0.0, sum_cem = 0.0;
    const int runs = 10;
    for (int run = 0; run < runs; run++) {
        soma_rng r;
        soma_rng_seed(&r, 500 + (uint64_t)run, 0);
        for (int t = 0; t < 64; t++) l.key[t] = (int)soma_rng_below(&r, 3);
        /* the same budget: 5 x 100 model rollouts */
        soma_mpc_config cem = soma_mpc_defaults(SOMA_MPC_CEM), rs = soma_mpc_defaults(SOMA_MPC_RANDOM);
        cem.horizon = rs.horizon = 30;
        cem.candidates = 100;
        cem.iters = 5;
        cem.elites = 10;
        rs.candidates = 500;
        rs.iters = 1;
        cem.seed = rs.seed = 1 + (uint64_t)run;
        soma_mpc *pc = NULL, *pr = NULL;
        CHECK_OK(soma_mpc_new(&pc, &cem, 1, 3, lock_model_, &l));
        CHECK_OK(soma_mpc_new(&pr, &rs, 1, 3, lock_model_, &l));
        if (pc && pr) {
            float s0 = 0.f;
            int a1, a2;
            double v1 = -1, v2 = -1;
            CHECK_OK(soma_mpc_act(pc, &s0, &a1, &v1));
            CHECK_OK(soma_mpc_act(pr, &s0, &a2, &v2));
            sum_cem += v1;
            sum_rs += v2;
        }
        soma_mpc_free(pc);
        soma_mpc_free(pr);
    }
    printf("  combination lock (3 actions, horizon 30, 500 rollouts): steps survived, CEM %.1f, "
           "random shooting %.1f\n", sum_cem / runs, sum_rs / runs);
    CHECK(sum_cem > sum_rs + 3.0 * runs);
}

static void test_mpc_determinism_(void) {
    int acts[2][40];
    for (int k = 0; k < 2; k++) {
        soma_mpc_config pc = soma_mpc_defaults(SOMA_MPC_CEM);
        pc.seed = 99;
        pc.horizon = 12;
        pc.candidates = 30;
        pc.elites = 5;
        soma_mpc *p = NULL;
        CHECK_OK(soma_mpc_new(&p, &pc, 4, 2, true_cartpole_, NULL));
        if (!p) return;
        float obs[4] = {0.01f, -0.02f, 0.03f, 0.f};
        for (int t = 0; t < 40; t++) {
            double s[4] = {obs[0], obs[1], obs[2], obs[3]};
            CHECK_OK(soma_mpc_act(p, obs, &acts[k][t], NULL));
            soma_cartpole_dynamics(s, acts[k][t], s);
            for (int j = 0; j < 4; j++) obs[j] = (float)s[j];
        }
        soma_mpc_free(p);
    }
    CHECK(memcmp(acts[0], acts[1], sizeof acts[0]) == 0);
}

static void test_bad_settings_(void) {
    soma_mpc *p = NULL;
    soma_mpc_config pc = soma_mpc_defaults(SOMA_MPC_CEM);
    pc.elites = pc.candidates + 1;
    CHECK_FAILS(soma_mpc_new(&p, &pc, 4, 2, true_cartpole_, NULL), SOMA_ERR_ARG);
    pc = soma_mpc_defaults(SOMA_MPC_RANDOM);
    pc.horizon = 0;
    CHECK_FAILS(soma_mpc_new(&p, &pc, 4, 2, true_cartpole_, NULL), SOMA_ERR_ARG);
    CHECK(p == NULL);
    soma_wm *m = NULL;
    soma_wm_config c = soma_wm_defaults(4, 2);
    c.net = "fc8,bogus";
    CHECK_FAILS(soma_wm_new(&m, &c), SOMA_ERR_PARSE);
    c = soma_wm_defaults(4, 2);
    c.max_predict = 8;
    c.batch = 8;
    CHECK_OK(soma_wm_new(&m, &c));
    if (m) {
        float s[4 * 9] = {0}, s2[4 * 9];
        int a[9] = {0};
        CHECK_FAILS(soma_wm_train(m, 10, NULL), SOMA_ERR_ARG);
        CHECK_FAILS(soma_wm_add(m, s, 2, s2), SOMA_ERR_ARG);
        CHECK_FAILS(soma_wm_predict(m, s2, NULL, s, a, 9), SOMA_ERR_ARG);
    }
    soma_wm_free(m);
}

static int write_file_(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return 0;
    int ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}

/* The experiment at reduced size (its headline): it solves CartPole on its fresh evaluation
 * episodes with a few thousand real steps, and the ratio to DQN's figure, read from a
 * dqn-cartpole results.json with one figure per seed (their median), is computed from it. */
static void test_experiment_reduced_(void) {
    const soma_experiment *e = soma_exp_find("world-model-cartpole");
    CHECK(e != NULL);
    if (!e) return;
    char out[128], dqn[200], dqn2[200];
    snprintf(out, sizeof out, "/tmp/soma-test-rl-wm-%d", (int)getpid());
    snprintf(dqn, sizeof dqn, "%s-dqn.json", out);
    snprintf(dqn2, sizeof dqn2, "%s-dqn2.json", out);
    CHECK(write_file_(dqn, "{\"ours\": {\"env_steps_to_solve\": [90000, null, 30000, 60000]}}\n"));
    /* no DQN seed solved within its budget: ours / budget bounds the ratio from above */
    CHECK(write_file_(dqn2, "{\"options\": {\"env-steps\": \"150000\"}, \"ours\": {\"env_steps_to_solve\": [-1, -1]}}\n"));
    const char *args[] = {"--dqn-results", dqn, "--threads", "1", "--seed", "5"};
    cJSON *r = NULL;
    CHECK_OK(soma_exp_run_reduced(e, 6, args, out, &r));
    if (r) {
        const cJSON *ours = cJSON_GetObjectItemCaseSensitive(r, "ours");
        double steps = num_(ours, "env_steps_to_solve"), ret = num_(ours, "eval_mean_return");
        printf("  world-model-cartpole (reduced, seed 5): solved after %.0f env steps, eval mean %.1f over %.0f "
               "episodes, ratio to DQN %.4f, %.1f s\n", steps, ret, num_(ours, "eval_episodes"),
               num_(ours, "steps_ratio"), num_(ours, "run_seconds"));
        CHECK(num_(ours, "solved") == 1.0);
        CHECK(steps > 0 && steps <= 6000);
        CHECK(ret >= 475.0 && num_(ours, "eval_episodes") == 3);
        CHECK(num_(ours, "dqn_env_steps_to_solve") == 60000.0 && num_(ours, "steps_ratio_is_bound") == 0.0);
        CHECK(fabs(num_(ours, "steps_ratio") - steps / 60000.0) < 1e-9);
        cJSON_Delete(r);
    }
    /* determinism: one seed, two runs (random shooting, cheaper), the same episodes; the second
     * reads a DQN file where no seed solved */
    const char *a1[] = {"--planner", "random", "--eval-episodes", "3", "--threads", "1", "--seed", "9", "--quiet",
                        "--dqn-results", dqn};
    cJSON *r1 = NULL, *r2 = NULL;
    CHECK_OK(soma_exp_run(e, 11, a1, out, &r1));
    a1[10] = dqn2;
    CHECK_OK(soma_exp_run(e, 11, a1, out, &r2));
    if (r1 && r2) {
        const cJSON *o1 = cJSON_GetObjectItemCaseSensitive(r1, "ours"), *o2 = cJSON_GetObjectItemCaseSensitive(r2, "ours");
        const char *keys[] = {"curve_env_steps", "curve_return", "eval_return", "model_loss"};
        for (int k = 0; k < 4; k++) {
            char *x = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(o1, keys[k]));
            char *y = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(o2, keys[k]));
            CHECK(x && y && strcmp(x, y) == 0);
            if (k == 1 && x) printf("  returns per training episode (random shooting, seed 9): %s\n", x);
            cJSON_free(x);
            cJSON_free(y);
        }
        double steps = num_(o2, "env_steps_to_solve");
        CHECK(steps > 0 && num_(o2, "steps_ratio_is_bound") == 1.0 && num_(o2, "dqn_solved") == 0.0);
        CHECK(fabs(num_(o2, "steps_ratio") - steps / 150000.0) < 1e-9);
        CHECK(isnan(num_(o2, "dqn_env_steps_to_solve")));
    }
    cJSON_Delete(r1);
    cJSON_Delete(r2);
    /* a DQN file without the figure is refused before anything runs */
    if (write_file_(dqn, "{\"ours\": {\"mean_return_last100\": [500]}}\n"))
        CHECK_FAILS(soma_exp_run_reduced(e, 2, args, out, NULL), SOMA_ERR_FORMAT);
    remove(dqn);
    remove(dqn2);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", out);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", out);
}

int main(void) {
    soma_set_threads(1);
    test_bad_settings_();
    test_cem_beats_random_();
    test_mpc_determinism_();
    test_mpc_true_dynamics_();
    test_model_learns_dynamics_();
    test_experiment_reduced_();
    return check_report("test_rl_wm");
}
