// world-model-cartpole: a dynamics model (an MLP on the nn stack) learned from real CartPole
// transitions and used for planning by model-predictive control solves CartPole with far
// fewer environment steps than a model-free DQN: the sample-efficiency argument for world
// models (Ha & Schmidhuber 2018; Chua et al. 2018; Nagabandi et al. 2018).
//
// Protocol. A few random episodes, then rounds of: retrain the model on every real transition
// so far, play one episode in the real environment with MPC (its transitions join the replay).
// When that episode reaches the solved line (return >= 475), the MPC policy is evaluated on
// --eval-episodes fresh episodes of a separate environment stream, adding nothing to the
// replay and never counted as training steps; it is solved when their mean return is >= 475
// (the evaluation stops early once the mean can no longer reach it). env_steps_to_solve is
// the number of real environment steps the agent learned from before the evaluation that
// passed. DQN's figure (dqn_env_steps_to_solve: real steps until its last 100 training
// episodes average >= 475, the dqn-cartpole protocol) comes from a dqn-cartpole results.json
// (--dqn-results; several seeds: the median of those that solved), is given as a number
// (--dqn-env-steps), or else is measured by running dqn-cartpole itself for one seed, this
// run's seed, with its own defaults. When DQN does not solve within its step budget, its
// figure is unknown but larger than the budget, and steps_ratio = ours / budget is an upper
// bound (steps_ratio_is_bound = 1). The two protocols differ in one way, in DQN's favour as
// to the ratio: DQN's count includes the 100 episodes its mean is taken over, ours counts
// only the steps learned from (our evaluation episodes are reported as eval_env_steps).
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exp/internal.h"
#include "soma/io.h"
#include "soma/plot.h"
#include "soma/rl.h"

static const soma_opt opts_[] = {
    {"planner", SOMA_OPT_ENUM, "cem", 0, 0, "cem|random", "MPC planner: random shooting or the cross-entropy method", 0},
    {"horizon", SOMA_OPT_INT, "30", 1, 1000, NULL, "planning horizon (steps simulated through the model)", 0},
    {"candidates", SOMA_OPT_INT, "100", 1, 100000, NULL, "action sequences per planning iteration", 0},
    {"cem-iters", SOMA_OPT_INT, "3", 1, 100, NULL, "CEM iterations per step", 0},
    {"elites", SOMA_OPT_INT, "10", 1, 100000, NULL, "CEM elite sequences", 0},
    {"net", SOMA_OPT_STR, "fc32,relu,fc32,relu", 0, 0, NULL, "hidden layers of the dynamics model (an fc4 output is appended)", 0},
    {"random-episodes", SOMA_OPT_INT, "5", 1, 10000, NULL, "episodes of random actions before planning", 0},
    {"train-steps", SOMA_OPT_INT, "500", 0, 10000000, NULL, "model training steps per round", 0},
    {"batch", SOMA_OPT_INT, "64", 1, 65536, NULL, "model training mini-batch", 0},
    {"lr", SOMA_OPT_FLOAT, "0.001", 1e-7, 1, NULL, "model learning rate (Adam)", 0},
    {"max-rounds", SOMA_OPT_INT, "40", 1, 100000, NULL, "train-and-act rounds before giving up", 0},
    {"eval-episodes", SOMA_OPT_INT, "100", 1, 100000, NULL, "fresh episodes the MPC policy is judged on", 1},
    {"dqn-results", SOMA_OPT_STR, NULL, 0, 0, NULL, "results.json of a dqn-cartpole run: DQN's env_steps_to_solve (neither this nor --dqn-env-steps: run dqn-cartpole for this seed)", 0},
    {"dqn-env-steps", SOMA_OPT_INT, NULL, 1, 1 << 30, NULL, "DQN's environment steps to solve, given as a number", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark landmarks_[] = {
    {"CartPole-v1 solved: mean return over 100 episodes", "Brockman et al. 2016 (OpenAI Gym)",
     "https://arxiv.org/abs/1606.01540", "eval_mean_return", SOMA_EXP_AT_LEAST, 475.0},
    {"environment steps to solve, over DQN's (an upper bound when DQN did not solve in its budget; this "
     "project's acceptance: at most 1/5; model-based RL needs far fewer samples than model-free)", "Chua et al. 2018 (PETS)", "https://arxiv.org/abs/1805.12114",
     "steps_ratio", SOMA_EXP_AT_MOST, 0.2},
    {NULL, NULL, NULL, NULL, 0, 0},
};

static const char *const reduced_[] = {"--eval-episodes", "3", "--max-rounds", "8", "--candidates", "50", "--horizon", "25", NULL};

#define SOLVED 475.0
#define CARTPOLE_MAX 500
#define DQN_CURVE_CAP 100000

typedef struct wmc_ {
    soma_env *env, *eval_env;
    soma_wm *wm;
    soma_mpc *mpc;
    soma_rng rng;
    long steps;                   /* real steps learned from */
    float *curve_x, *curve_y;     /* per training episode: steps so far, return */
    int n_curve, cap_curve;
    float *eval_x, *eval_y;       /* per evaluation: steps so far, mean return */
    int n_eval;
    float *dqn_x, *dqn_y;         /* DQN's episodes, when its results carry them */
    int n_dqn, cap_dqn;
} wmc_;

static soma_status curve_add_(wmc_ *w, double ret) {
    if (w->n_curve == w->cap_curve) return soma_error(SOMA_ERR_INTERNAL, "world-model-cartpole: curve full");
    w->curve_x[w->n_curve] = (float)w->steps;
    w->curve_y[w->n_curve++] = (float)ret;
    return SOMA_OK;
}

/* One episode in the training environment (random actions or MPC); its transitions go into
 * the replay. */
static soma_status train_episode_(wmc_ *w, int random, double *ret) {
    float obs[4], next[4];
    int done = 0;
    double r, total = 0.0;
    SOMA_TRY(soma_env_reset(w->env, obs));
    soma_mpc_reset(w->mpc);
    while (!done) {
        int a;
        if (random) a = (int)soma_rng_below(&w->rng, 2);
        else SOMA_TRY(soma_mpc_act(w->mpc, obs, &a, NULL));
        SOMA_TRY(soma_env_step(w->env, a, next, &r, &done));
        SOMA_TRY(soma_wm_add(w->wm, obs, a, next));
        memcpy(obs, next, sizeof obs);
        total += r;
        w->steps++;
    }
    *ret = total;
    return curve_add_(w, total);
}

/* The MPC policy on n fresh episodes of the evaluation stream; stops once the mean can no
 * longer reach the solved line. *mean: the mean return of the episodes played. */
static soma_status evaluate_(wmc_ *w, int n, double *mean, int *played) {
    double sum = 0.0, deficit = 0.0, budget = (CARTPOLE_MAX - SOLVED) * n;
    int k = 0;
    for (; k < n && deficit <= budget; k++) {
        float obs[4];
        int done = 0;
        double r, total = 0.0;
        SOMA_TRY(soma_env_reset(w->eval_env, obs));
        soma_mpc_reset(w->mpc);
        while (!done) {
            int a;
            SOMA_TRY(soma_mpc_act(w->mpc, obs, &a, NULL));
            SOMA_TRY(soma_env_step(w->eval_env, a, obs, &r, &done));
            total += r;
        }
        sum += total;
        deficit += CARTPOLE_MAX - total;
    }
    *mean = sum / k;
    *played = k;
    return SOMA_OK;
}

/* DQN's figure from a dqn-cartpole results.json (root): ours.env_steps_to_solve, a number or
 * one per seed (-1: that seed did not solve), gives *steps (the median of the seeds that
 * solved). When no seed solved, *steps is NaN and *budget the steps each seed ran
 * (options.env-steps): DQN needs more than that. Curves, when the file has them
 * (ours.curve_env_steps, ours.curve_return: DQN's episodes), go into dqn_x/dqn_y. */
static soma_status dqn_from_json_(const cJSON *root, const char *what, double *steps, double *budget,
                                  float *dqn_x, float *dqn_y, int cap, int *n_curve) {
    const cJSON *ours = cJSON_GetObjectItemCaseSensitive(root, "ours");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ours ? ours : root, "env_steps_to_solve");
    double x = NAN, vals[256];
    int n = 0, listed = 0;
    if (cJSON_IsNumber(v)) {
        listed = 1;
        if (v->valuedouble > 0) vals[n++] = v->valuedouble;
    } else if (cJSON_IsArray(v)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, v) {
            listed += cJSON_IsNumber(e);
            if (!cJSON_IsNumber(e) || !(e->valuedouble > 0) || n == 256) continue;
            int i = n++;
            while (i > 0 && vals[i - 1] > e->valuedouble) vals[i] = vals[i - 1], i--;
            vals[i] = e->valuedouble;
        }
    }
    if (n) x = n % 2 ? vals[n / 2] : 0.5 * (vals[n / 2 - 1] + vals[n / 2]);
    *steps = x;
    *budget = NAN;
    if (!n) { /* listed, none solved: the budget bounds DQN's figure from below */
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "options"), "env-steps");
        if (cJSON_IsString(o)) *budget = strtod(o->valuestring, NULL);
        else if (cJSON_IsNumber(o)) *budget = o->valuedouble;
        if (!listed || !(*budget > 0))
            return soma_error(SOMA_ERR_FORMAT, "%s: no ours.env_steps_to_solve (a number or a list per seed), or none "
                              "solved and no options.env-steps; HINT: give the results.json of a dqn-cartpole run", what);
    }
    *n_curve = 0;
    const cJSON *cx = cJSON_GetObjectItemCaseSensitive(ours, "curve_env_steps");
    const cJSON *cy = cJSON_GetObjectItemCaseSensitive(ours, "curve_return");
    if (cJSON_IsArray(cx) && cJSON_IsArray(cy) && cJSON_GetArraySize(cx) == cJSON_GetArraySize(cy)) {
        int k = 0;
        for (const cJSON *a = cx->child, *b = cy->child; a && b && k < cap; a = a->next, b = b->next)
            if (cJSON_IsNumber(a) && cJSON_IsNumber(b)) {
                dqn_x[k] = (float)a->valuedouble;
                dqn_y[k++] = (float)b->valuedouble;
            }
        *n_curve = k;
    }
    return SOMA_OK;
}

/* DQN's figure by running dqn-cartpole itself, one seed (ours), with its own defaults (its
 * reduced arguments when this run is reduced), into OUT/world-model-cartpole/dqn-cartpole/. */
static soma_status run_dqn_(soma_exp_ctx *c, double *steps, double *budget, float *dqn_x, float *dqn_y, int cap,
                            int *n_curve) {
    const soma_experiment *e = soma_exp_find("dqn-cartpole");
    if (!e)
        return soma_error(SOMA_ERR_ARG, "no dqn-cartpole experiment in this build; "
                          "HINT: give --dqn-results or --dqn-env-steps");
    char seed[32], threads[16];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)c->seed);
    snprintf(threads, sizeof threads, "%d", c->threads > 0 ? c->threads : 1);
    const char *argv[] = {"--seeds", "1", "--seed", seed, "--threads", threads, "--quiet"};
    cJSON *r = NULL;
    soma_status st = c->reduced ? soma_exp_run_reduced(e, 4, argv + 2, c->out_dir, &r)
                                : soma_exp_run(e, 7, argv, c->out_dir, &r);
    if (st == SOMA_OK) st = dqn_from_json_(r, "dqn-cartpole run", steps, budget, dqn_x, dqn_y, cap, n_curve);
    cJSON_Delete(r);
    return st;
}

static soma_status figure_(soma_exp_ctx *c, const wmc_ *w, double dqn_steps, int dqn_bound, double solved_at) {
    soma_fig *f = NULL;
    SOMA_TRY(soma_fig_new(&f, 1, 1, 760, 440));
    soma_status st = soma_fig_title(f, "World model + MPC vs DQN on CartPole: return vs environment steps");
    if (st == SOMA_OK) st = soma_fig_labels(f, 0, "", "environment steps learned from", "episode return");
    soma_line_style tr = {0, 0, 1, 0.f}, ev = {0, 1, 1, 0.f}, dq = {0, 0, 0, 1.f};
    if (st == SOMA_OK) st = soma_fig_line(f, 0, w->curve_x, w->curve_y, w->n_curve, "world model: training episodes", &tr);
    if (st == SOMA_OK && w->n_eval)
        st = soma_fig_line(f, 0, w->eval_x, w->eval_y, w->n_eval, "world model: evaluation mean", &ev);
    if (st == SOMA_OK && w->n_dqn) st = soma_fig_line(f, 0, w->dqn_x, w->dqn_y, w->n_dqn, "DQN: episodes", &dq);
    if (st == SOMA_OK && isfinite(dqn_steps)) {
        /* DQN's solve point (its last-100 mean crosses 475), or the budget it did not solve in */
        float x[2] = {(float)dqn_steps, (float)dqn_steps}, y[2] = {0.f, (float)SOLVED};
        soma_line_style ds = {0, 1, 0, 2.f};
        st = soma_fig_line(f, 0, x, y, 2, dqn_bound ? "DQN: not solved by this step" : "DQN: steps to solve", &ds);
    }
    if (st == SOMA_OK && isfinite(solved_at)) {
        float x[2] = {(float)solved_at, (float)solved_at}, y[2] = {0.f, (float)SOLVED};
        soma_line_style ss = {0, 1, 0, 2.f};
        st = soma_fig_line(f, 0, x, y, 2, "world model: steps to solve", &ss);
    }
    if (st == SOMA_OK) st = soma_fig_hline(f, 0, (float)SOLVED, "solved (475)");
    if (st == SOMA_OK) st = soma_fig_ylim(f, 0, 0, 520);
    char path[1100];
    if (st == SOMA_OK) st = soma_fig_save(f, soma_exp_path(c, "world_model_cartpole.svg", path, sizeof path));
    soma_fig_free(f);
    return st;
}

static soma_status run_(soma_exp_ctx *c) {
    int horizon, candidates, iters, elites, random_eps, train_steps, batch, max_rounds, eval_eps;
    float lr;
    SOMA_TRY(soma_args_int(&c->args, "horizon", &horizon));
    SOMA_TRY(soma_args_int(&c->args, "candidates", &candidates));
    SOMA_TRY(soma_args_int(&c->args, "cem-iters", &iters));
    SOMA_TRY(soma_args_int(&c->args, "elites", &elites));
    SOMA_TRY(soma_args_int(&c->args, "random-episodes", &random_eps));
    SOMA_TRY(soma_args_int(&c->args, "train-steps", &train_steps));
    SOMA_TRY(soma_args_int(&c->args, "batch", &batch));
    SOMA_TRY(soma_args_int(&c->args, "max-rounds", &max_rounds));
    SOMA_TRY(soma_args_int(&c->args, "eval-episodes", &eval_eps));
    SOMA_TRY(soma_args_float(&c->args, "lr", &lr));
    const char *planner = soma_args_str(&c->args, "planner"), *net = soma_args_str(&c->args, "net");
    const char *dqn_path = soma_args_str(&c->args, "dqn-results");
    int cem = strcmp(planner, "cem") == 0;
    if (cem && elites > candidates)
        return soma_error(SOMA_ERR_ARG, "--elites %d exceeds --candidates %d", elites,
                          candidates);
    if (dqn_path && soma_args_given(&c->args, "dqn-env-steps"))
        return soma_error(SOMA_ERR_ARG, "give --dqn-results or --dqn-env-steps, not both");
    double dqn_steps = NAN, dqn_budget = NAN;
    wmc_ w = {0};
    w.cap_dqn = DQN_CURVE_CAP;
    w.dqn_x = soma_alloc((size_t)w.cap_dqn, sizeof(float));
    w.dqn_y = soma_alloc((size_t)w.cap_dqn, sizeof(float));
    if (!w.dqn_x || !w.dqn_y) {
        soma_free(w.dqn_x);
        soma_free(w.dqn_y);
        return soma_error(SOMA_ERR_NOMEM, "world-model-cartpole: out of memory");
    }
    soma_status st = SOMA_OK;
    if (dqn_path) {
        cJSON *root = NULL;
        if ((st = soma_json_read(dqn_path, &root)) == SOMA_OK)
            st = dqn_from_json_(root, dqn_path, &dqn_steps, &dqn_budget, w.dqn_x, w.dqn_y, w.cap_dqn, &w.n_dqn);
        cJSON_Delete(root);
        if (st != SOMA_OK) goto out;
    }
    if (soma_args_given(&c->args, "dqn-env-steps")) {
        int v = 0;
        if ((st = soma_args_int(&c->args, "dqn-env-steps", &v)) != SOMA_OK) goto out;
        dqn_steps = v;
    }

    double t0 = soma_now();
    w.cap_curve = random_eps + max_rounds;
    w.curve_x = soma_alloc((size_t)w.cap_curve, sizeof(float));
    w.curve_y = soma_alloc((size_t)w.cap_curve, sizeof(float));
    w.eval_x = soma_alloc((size_t)max_rounds, sizeof(float));
    w.eval_y = soma_alloc((size_t)max_rounds, sizeof(float));
    if (!w.curve_x || !w.curve_y || !w.eval_x || !w.eval_y) {
        st = soma_error(SOMA_ERR_NOMEM, "world-model-cartpole: out of memory");
        goto out;
    }
    soma_rng_seed(&w.rng, c->seed, 0x776d63);
    /* training and evaluation episodes come from two streams of the same seed */
    if ((st = soma_env_cartpole_new(&w.env)) != SOMA_OK || (st = soma_env_seed(w.env, c->seed)) != SOMA_OK ||
        (st = soma_env_cartpole_new(&w.eval_env)) != SOMA_OK ||
        (st = soma_env_seed(w.eval_env, c->seed ^ 0x9e3779b97f4a7c15ULL)) != SOMA_OK)
        goto out;
    /* known failure bounds: |x| <= 2.4, |theta| <= 12 degrees (CartPole-v1's) */
    static const float fail[4] = {2.4f, 0.f, 0.20943951f, 0.f};
    /* the planner's tie-break also keeps the velocities moderate */
    static const float tie[4] = {2.4f, 2.f, 0.20943951f, 3.f};
    soma_wm_config wc = soma_wm_defaults(4, 2);
    wc.net = net;
    wc.bounds = fail;
    wc.batch = batch;
    wc.lr = lr;
    wc.max_predict = candidates;
    wc.capacity = (random_eps + max_rounds) * CARTPOLE_MAX;
    wc.seed = c->seed;
    if ((st = soma_wm_new(&w.wm, &wc)) != SOMA_OK) goto out;
    soma_mpc_config pc = soma_mpc_defaults(cem ? SOMA_MPC_CEM : SOMA_MPC_RANDOM);
    pc.horizon = horizon;
    pc.candidates = candidates;
    pc.iters = cem ? iters : 1;
    pc.elites = elites;
    pc.seed = c->seed;
    pc.tie_bounds = tie;
    if ((st = soma_mpc_new(&w.mpc, &pc, 4, 2, soma_wm_model, w.wm)) != SOMA_OK) goto out;

    double ret = 0.0, eval_mean = NAN, solved_at = NAN, loss = NAN;
    int rounds = 0, evals = 0, eval_played = 0;
    long eval_steps_total = 0;
    for (int e = 0; e < random_eps; e++)
        if ((st = train_episode_(&w, 1, &ret)) != SOMA_OK) goto out;
    long random_steps = w.steps;
    soma_progress prog;
    if (!c->quiet) soma_progress_begin(&prog, "world-model-cartpole", max_rounds);
    for (rounds = 1; rounds <= max_rounds; rounds++) {
        float l;
        if ((st = soma_wm_train(w.wm, train_steps, &l)) != SOMA_OK) goto out;
        loss = l;
        if ((st = train_episode_(&w, 0, &ret)) != SOMA_OK) goto out;
        if (ret >= SOLVED) {
            double m;
            int played;
            if ((st = evaluate_(&w, eval_eps, &m, &played)) != SOMA_OK) goto out;
            eval_steps_total += (long)(m * played);
            w.eval_x[w.n_eval] = (float)w.steps;
            w.eval_y[w.n_eval++] = (float)m;
            evals++;
            eval_mean = m;
            eval_played = played;
            if (played == eval_eps && m >= SOLVED) {
                solved_at = (double)w.steps;
                break;
            }
        }
        if (!c->quiet) {
            char extra[128];
            snprintf(extra, sizeof extra, "steps %ld, return %.0f, model loss %.4f", w.steps, ret, (double)loss);
            soma_progress_update(&prog, rounds, extra);
        }
    }
    if (!c->quiet) soma_progress_end(&prog);
    if (rounds > max_rounds) rounds = max_rounds;
    double secs = soma_now() - t0;
    double dqn_secs = NAN;
    if (!dqn_path && !soma_args_given(&c->args, "dqn-env-steps")) {
        double t1 = soma_now();
        if ((st = run_dqn_(c, &dqn_steps, &dqn_budget, w.dqn_x, w.dqn_y, w.cap_dqn, &w.n_dqn)) != SOMA_OK) goto out;
        dqn_secs = soma_now() - t1;
    }
    /* DQN unsolved within its budget: it needs more steps than that, so ours / budget bounds
     * the ratio from above */
    int bound = !isfinite(dqn_steps);
    double ratio = solved_at / (bound ? dqn_budget : dqn_steps);

    soma_exp_put(c, "env_steps_to_solve", solved_at);
    soma_exp_put(c, "env_steps_used", (double)w.steps);
    soma_exp_put(c, "solved", isfinite(solved_at) ? 1.0 : 0.0);
    soma_exp_put(c, "eval_mean_return", eval_mean);
    soma_exp_put(c, "eval_episodes", eval_played);
    soma_exp_put(c, "evaluations", evals);
    soma_exp_put(c, "eval_env_steps", (double)eval_steps_total);
    soma_exp_put(c, "rounds", rounds);
    soma_exp_put(c, "random_steps", (double)random_steps);
    soma_exp_put(c, "model_loss", loss);
    soma_exp_put(c, "dqn_env_steps_to_solve", dqn_steps);
    soma_exp_put(c, "dqn_solved", bound ? 0.0 : 1.0);
    soma_exp_put(c, "dqn_env_steps_budget", dqn_budget);
    soma_exp_put(c, "dqn_seconds", dqn_secs);
    soma_exp_put(c, "steps_ratio", ratio);
    soma_exp_put(c, "steps_ratio_is_bound", bound ? 1.0 : 0.0);
    soma_exp_put(c, "run_seconds", secs);
    soma_exp_put_array(c, "curve_env_steps", w.curve_x, w.n_curve);
    soma_exp_put_array(c, "curve_return", w.curve_y, w.n_curve);
    soma_exp_put_array(c, "eval_env_steps_at", w.eval_x, w.n_eval);
    soma_exp_put_array(c, "eval_return", w.eval_y, w.n_eval);
    char dqn_txt[160];
    if (bound)
        snprintf(dqn_txt, sizeof dqn_txt, "DQN did not solve within %.0f steps: ratio < %.3f (acceptance <= 0.2)",
                 dqn_budget, ratio);
    else
        snprintf(dqn_txt, sizeof dqn_txt, "DQN needed %.0f: ratio %.3f (acceptance <= 0.2)", dqn_steps, ratio);
    if (isfinite(solved_at))
        snprintf(c->headline, sizeof c->headline,
                 "world model + MPC (%s) solved CartPole after %.0f real env steps (%d rounds): mean return %.1f "
                 "over %d fresh episodes; %s; %.0f s",
                 planner, solved_at, rounds, eval_mean, eval_played, dqn_txt, secs);
    else
        snprintf(c->headline, sizeof c->headline,
                 "world model + MPC (%s) did not solve CartPole in %d rounds (%ld env steps, last return %.0f); %s; "
                 "%.0f s", planner, rounds, w.steps, ret, dqn_txt, secs);
    st = figure_(c, &w, bound ? dqn_budget : dqn_steps, bound, solved_at);
out:
    soma_mpc_free(w.mpc);
    soma_wm_free(w.wm);
    soma_env_free(w.env);
    soma_env_free(w.eval_env);
    soma_free(w.curve_x);
    soma_free(w.curve_y);
    soma_free(w.eval_x);
    soma_free(w.eval_y);
    soma_free(w.dqn_x);
    soma_free(w.dqn_y);
    return st;
}

const soma_experiment soma__exp_world_model_cartpole = {
    "world-model-cartpole",
    "A dynamics model (MLP) learned from real transitions, used for planning by MPC (random shooting "
    "or CEM), solves CartPole with a fraction of DQN's environment steps.",
    landmarks_,
    opts_,
    reduced_,
    run_,
    NULL, /* no check beyond the typed options */
};
