// dqn-cartpole: a deep Q-network (Mnih et al. 2015) learns CartPole-v1 to Gym's "solved"
// line (mean return >= 475 over 100 consecutive episodes), over several seeds.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/internal.h"
#include "soma/nn.h"
#include "soma/plot.h"
#include "soma/rl.h"

#define SOLVED 475.0
#define WINDOW 100

static const soma_opt opts_[] = {
    {"seeds", SOMA_OPT_INT, "5", 1, 64, NULL, "independent runs (seeds seed, seed+1, ...)", 1},
    {"episodes", SOMA_OPT_INT, "100000", 1, 1000000, NULL, "most episodes per seed", 1},
    {"env-steps", SOMA_OPT_INT, "300000", 100, 100000000, NULL, "most environment steps per seed", 1},
    {"stop-solved", SOMA_OPT_ENUM, "on", 0, 0, "on|off", "end a seed's run at its first 100-episode window with mean >= 475", 0},
    {"net", SOMA_OPT_STR, "fc64,relu,fc64,relu", 0, 0, NULL, "Q network's hidden layers (an output fc2 is appended)", 0},
    {"gamma", SOMA_OPT_FLOAT, "0.98", 0, 1, NULL, "discount", 0},
    {"lr", SOMA_OPT_FLOAT, "0.0001", 1e-7, 1, NULL, "Adam learning rate", 0},
    {"batch", SOMA_OPT_INT, "64", 1, 4096, NULL, "transitions per gradient step", 0},
    {"buffer", SOMA_OPT_INT, "50000", 1, 10000000, NULL, "replay capacity (transitions)", 0},
    {"learn-start", SOMA_OPT_INT, "1000", 1, 10000000, NULL, "env steps before learning starts (>= batch)", 0},
    {"train-every", SOMA_OPT_INT, "1", 1, 1000, NULL, "env steps per gradient step", 0},
    {"target-update", SOMA_OPT_INT, "0", 0, 10000000, NULL, "gradient steps between target syncs; 0: Polyak averaging with --tau", 0},
    {"tau", SOMA_OPT_FLOAT, "0.005", 1e-6, 1, NULL, "Polyak coefficient of the target net", 0},
    {"eps-start", SOMA_OPT_FLOAT, "1", 0, 1, NULL, "initial exploration rate", 0},
    {"eps-end", SOMA_OPT_FLOAT, "0.01", 0, 1, NULL, "final exploration rate", 0},
    {"eps-decay", SOMA_OPT_INT, "10000", 0, 100000000, NULL, "env steps of the linear epsilon decay", 0},
    {"double", SOMA_OPT_ENUM, "on", 0, 0, "on|off", "double DQN targets", 0},
    {"loss", SOMA_OPT_ENUM, "huber", 0, 0, "huber|mse", "TD loss", 0},
    {"grad-clip", SOMA_OPT_FLOAT, "10", 0, 1e9, NULL, "gradient-norm clip (0: none)", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark landmarks_[] = {
    {"seeds (of 5) reaching CartPole-v1's solved line: mean return >= 475 over 100 consecutive episodes",
     "Gymnasium CartPole-v1 (task of Barto, Sutton & Anderson 1983)",
     "https://gymnasium.farama.org/environments/classic_control/cart_pole/", "seeds_solved", SOMA_EXP_AT_LEAST, 3},
    {"DQN (experience replay + target network): median over seeds of the final 100-episode mean return",
     "Mnih et al. 2015 (the method); 475 is CartPole-v1's solved line", "https://doi.org/10.1038/nature14236",
     "mean_return_last100_median", SOMA_EXP_AT_LEAST, SOLVED},
    {NULL, NULL, NULL, NULL, 0, 0},
};

static const char *const reduced_[] = {"--seeds", "1", "--env-steps", "20000", "--eps-decay", "5000",
                                       "--learn-start", "500", "--lr", "0.001", NULL};

typedef struct seed_run {
    soma_dqn *agent;
    soma_env *env;
    float *ret;   /* per episode */
    float *mov;   /* 100-episode moving mean (over the episodes so far while < 100) */
    long *steps_at; /* env steps at the end of each episode */
    int n_ep;
    long steps_to_solve; /* -1: not solved */
    soma_status st;
} seed_run;

static void run_seed_(seed_run *s, int max_ep, long max_steps, int stop_solved) {
    float obs[4], next[4];
    double sum = 0;
    long steps = 0;
    s->steps_to_solve = -1;
    s->st = SOMA_OK;
    while (s->n_ep < max_ep && steps < max_steps) {
        soma_status st = soma_env_reset(s->env, obs);
        double ret = 0;
        int done = SOMA_RUNNING;
        while (st == SOMA_OK && done == SOMA_RUNNING) {
            int a = soma_dqn_act(s->agent, obs, 0);
            double r;
            st = soma_env_step(s->env, a, next, &r, &done);
            if (st == SOMA_OK) st = soma_dqn_observe(s->agent, obs, a, r, next, done, NULL);
            memcpy(obs, next, sizeof obs);
            ret += r;
            steps++;
        }
        if (st != SOMA_OK) {
            s->st = st;
            return;
        }
        int e = s->n_ep++;
        s->ret[e] = (float)ret;
        s->steps_at[e] = steps;
        sum += ret;
        if (e >= WINDOW) sum -= s->ret[e - WINDOW];
        int w = e + 1 < WINDOW ? e + 1 : WINDOW;
        s->mov[e] = (float)(sum / w);
        if (w == WINDOW && s->mov[e] >= SOLVED && s->steps_to_solve < 0) {
            s->steps_to_solve = steps;
            if (stop_solved) return;
        }
    }
}

static soma_status run_(soma_exp_ctx *c) {
    int n_seeds, max_ep, env_steps, batch, buffer, learn_start, train_every, target_update, eps_decay;
    float gamma, lr, tau, eps_start, eps_end, clip;
    SOMA_TRY(soma_args_int(&c->args, "seeds", &n_seeds));
    SOMA_TRY(soma_args_int(&c->args, "episodes", &max_ep));
    SOMA_TRY(soma_args_int(&c->args, "env-steps", &env_steps));
    SOMA_TRY(soma_args_int(&c->args, "batch", &batch));
    SOMA_TRY(soma_args_int(&c->args, "buffer", &buffer));
    SOMA_TRY(soma_args_int(&c->args, "learn-start", &learn_start));
    SOMA_TRY(soma_args_int(&c->args, "train-every", &train_every));
    SOMA_TRY(soma_args_int(&c->args, "target-update", &target_update));
    SOMA_TRY(soma_args_int(&c->args, "eps-decay", &eps_decay));
    SOMA_TRY(soma_args_float(&c->args, "gamma", &gamma));
    SOMA_TRY(soma_args_float(&c->args, "lr", &lr));
    SOMA_TRY(soma_args_float(&c->args, "tau", &tau));
    SOMA_TRY(soma_args_float(&c->args, "eps-start", &eps_start));
    SOMA_TRY(soma_args_float(&c->args, "eps-end", &eps_end));
    SOMA_TRY(soma_args_float(&c->args, "grad-clip", &clip));
    int stop_solved = strcmp(soma_args_str(&c->args, "stop-solved"), "on") == 0;
    soma_dqn_config cfg = soma_dqn_defaults();
    cfg.net = soma_args_str(&c->args, "net");
    cfg.gamma = gamma;
    cfg.lr = lr;
    cfg.batch = batch;
    cfg.buffer = buffer;
    cfg.learn_start = learn_start;
    cfg.train_every = train_every;
    cfg.target_update = target_update;
    cfg.tau = tau;
    cfg.eps_start = eps_start;
    cfg.eps_end = eps_end;
    cfg.eps_decay = eps_decay;
    cfg.double_dqn = strcmp(soma_args_str(&c->args, "double"), "on") == 0;
    cfg.huber = strcmp(soma_args_str(&c->args, "loss"), "huber") == 0;
    cfg.grad_clip = clip;
    // episodes cannot outnumber env steps
    if ((long)max_ep > env_steps) max_ep = env_steps;

    soma_status st = SOMA_OK;
    seed_run *runs = soma_calloc((size_t)n_seeds, sizeof *runs);
    soma_fig *f = NULL;
    float *buf = NULL;
    if (!runs) return soma_error(SOMA_ERR_NOMEM, "dqn-cartpole: out of memory");
    // everything is built here, on one thread; the seeds then run side by side
    for (int k = 0; k < n_seeds && st == SOMA_OK; k++) {
        seed_run *s = &runs[k];
        cfg.seed = c->seed + (uint64_t)k;
        s->ret = soma_alloc((size_t)max_ep, sizeof(float));
        s->mov = soma_alloc((size_t)max_ep, sizeof(float));
        s->steps_at = soma_alloc((size_t)max_ep, sizeof(long));
        if (!s->ret || !s->mov || !s->steps_at) st = soma_error(SOMA_ERR_NOMEM, "dqn-cartpole: out of memory");
        if (st == SOMA_OK) st = soma_dqn_new(&s->agent, 4, 2, &cfg);
        if (st == SOMA_OK) st = soma_env_cartpole_new(&s->env);
        if (st == SOMA_OK) st = soma_env_seed(s->env, c->seed + 1000u + (uint64_t)k);
    }
    if (st != SOMA_OK) goto out;
    double t0 = soma_now();
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(c->threads > 0 ? c->threads : 1)
#endif
    for (int k = 0; k < n_seeds; k++) run_seed_(&runs[k], max_ep, env_steps, stop_solved);
    double wall = soma_now() - t0;
    for (int k = 0; k < n_seeds; k++)
        if (runs[k].st != SOMA_OK) {
            st = runs[k].st;
            goto out;
        }

    // --- results
    buf = soma_alloc((size_t)n_seeds * 4 + (size_t)max_ep * 2, sizeof(float));
    if (!buf) {
        st = soma_error(SOMA_ERR_NOMEM, "dqn-cartpole: out of memory");
        goto out;
    }
    float *last = buf, *solve = buf + n_seeds, *n_eps = buf + 2 * n_seeds, *best = buf + 3 * n_seeds;
    float *mean_mov = buf + 4 * n_seeds, *ep_x = mean_mov + max_ep;
    int solved = 0, longest = 0;
    double final_mean = 0, random_like = 0;
    for (int k = 0; k < n_seeds; k++) {
        seed_run *s = &runs[k];
        int n = s->n_ep, w = n < WINDOW ? n : WINDOW;
        double m = 0;
        for (int e = n - w; e < n; e++) m += s->ret[e];
        last[k] = w ? (float)(m / w) : 0.f;
        final_mean += last[k];
        solve[k] = (float)s->steps_to_solve;
        solved += s->steps_to_solve >= 0;
        n_eps[k] = (float)n;
        best[k] = 0.f;
        for (int e = WINDOW - 1; e < n; e++) best[k] = s->mov[e] > best[k] ? s->mov[e] : best[k];
        if (n > longest) longest = n;
        int first = n < 10 ? n : 10;
        double r0 = 0;
        for (int e = 0; e < first; e++) r0 += s->ret[e];
        random_like += first ? r0 / first : 0;
    }
    final_mean /= n_seeds;
    random_like /= n_seeds;
    soma_exp_put_array(c, "mean_return_last100", last, n_seeds);
    soma_exp_put(c, "seeds_solved", solved);
    soma_exp_put(c, "mean_return_final", final_mean);
    {
        float sorted[64];
        for (int k = 0; k < n_seeds; k++) sorted[k] = last[k];
        for (int i = 1; i < n_seeds; i++) // insertion sort: a handful of seeds
            for (int j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
                float t = sorted[j];
                sorted[j] = sorted[j - 1];
                sorted[j - 1] = t;
            }
        double med = n_seeds % 2 ? sorted[n_seeds / 2] : 0.5 * (sorted[n_seeds / 2 - 1] + sorted[n_seeds / 2]);
        soma_exp_put(c, "mean_return_last100_median", med);
    }
    soma_exp_put_array(c, "env_steps_to_solve", solve, n_seeds);
    soma_exp_put_array(c, "best_mean100", best, n_seeds);
    soma_exp_put_array(c, "episodes", n_eps, n_seeds);
    soma_exp_put(c, "mean_return_first10", random_like);
    soma_exp_put(c, "wall_time_s", wall);
    soma_exp_put(c, "n_seeds", n_seeds);
    {
        cJSON *curves = cJSON_AddArrayToObject(c->ours, "returns");
        for (int k = 0; curves && k < n_seeds; k++) {
            cJSON *a = cJSON_CreateFloatArray(runs[k].ret, runs[k].n_ep);
            if (a) cJSON_AddItemToArray(curves, a);
        }
    }
    char solves[512] = "";
    for (int k = 0, p = 0; k < n_seeds && p < (int)sizeof solves - 24; k++)
        p += snprintf(solves + p, sizeof solves - (size_t)p, "%s%ld", k ? " " : "", runs[k].steps_to_solve);
    snprintf(c->headline, sizeof c->headline,
             "DQN on CartPole-v1: %d of %d seeds solved (100-episode mean >= 475); final 100-episode mean %.1f "
             "(first 10 episodes %.1f); env steps to solve: %s; %.1f s",
             solved, n_seeds, final_mean, random_like, solves, wall);

    // --- figure: returns per episode, the 100-episode moving mean per seed and their mean
    for (int e = 0; e < longest; e++) {
        double m = 0;
        for (int k = 0; k < n_seeds; k++) {
            const seed_run *s = &runs[k];
            m += e < s->n_ep ? s->mov[e] : (s->n_ep ? s->mov[s->n_ep - 1] : 0.f);
        }
        mean_mov[e] = (float)(m / n_seeds);
        ep_x[e] = (float)(e + 1);
    }
    if ((st = soma_fig_new(&f, 1, 2, 1200, 420)) != SOMA_OK) goto out;
    soma_fig_title(f, "DQN on CartPole-v1 (Mnih et al. 2015 method; solved line 475)");
    soma_fig_labels(f, 0, "return per episode", "episode", "return");
    soma_fig_labels(f, 1, "100-episode moving mean (a finished seed holds its last)", "episode", "mean return");
    for (int k = 0; k < n_seeds; k++) {
        char lab[32];
        snprintf(lab, sizeof lab, "seed %d", k);
        soma_line_style ls = {k + 1, 0, 0, 1.0f};
        if ((st = soma_fig_line(f, 0, ep_x, runs[k].ret, runs[k].n_ep, lab, &ls)) != SOMA_OK) goto out;
        if ((st = soma_fig_line(f, 1, ep_x, runs[k].mov, runs[k].n_ep, lab, &ls)) != SOMA_OK) goto out;
    }
    soma_line_style black = {SOMA_RGB(0x000000), 0, 0, 2.6f};
    if ((st = soma_fig_line(f, 1, ep_x, mean_mov, longest, "mean of seeds", &black)) != SOMA_OK) goto out;
    if ((st = soma_fig_hline(f, 0, (float)SOLVED, "solved (475)")) != SOMA_OK) goto out;
    if ((st = soma_fig_hline(f, 1, (float)SOLVED, "solved (475)")) != SOMA_OK) goto out;
    char path[1200];
    st = soma_fig_save(f, soma_exp_path(c, "learning_curve.svg", path, sizeof path));
out:
    for (int k = 0; k < n_seeds; k++) {
        soma_dqn_free(runs[k].agent);
        soma_env_free(runs[k].env);
        soma_free(runs[k].ret);
        soma_free(runs[k].mov);
        soma_free(runs[k].steps_at);
    }
    soma_free(runs);
    soma_free(buf);
    soma_fig_free(f);
    return st;
}

const soma_experiment soma__exp_dqn_cartpole = {
    "dqn-cartpole",
    "a deep Q-network (replay, target net, double DQN) solves CartPole-v1 over several seeds",
    landmarks_,
    opts_,
    reduced_,
    run_,
    NULL, /* no check beyond the typed options */
};
