// shortcut-maze: Sutton & Barto 2018, figures 8.4 and 8.5 -- Dyna-Q vs Dyna-Q+ when the maze
// changes. Shortcut maze: after 3000 steps a shorter path opens on the right; Dyna-Q+ (whose
// planning rewards long-untried actions, kappa sqrt(tau)) finds it, Dyna-Q keeps the long way.
// Blocking maze: after 1000 steps the short path closes and a longer one opens on the left;
// both find the new path, Dyna-Q+ sooner.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/internal.h"
#include "soma/plot.h"
#include "soma/rl.h"

static const soma_opt opts_[] = {
    {"alpha", SOMA_OPT_FLOAT, "1", 1e-6, 1, NULL, "step size (the maze is deterministic)", 0},
    {"epsilon", SOMA_OPT_FLOAT, "0.1", 0, 1, NULL, "epsilon-greedy exploration", 0},
    {"gamma", SOMA_OPT_FLOAT, "0.95", 0, 1, NULL, "discount", 0},
    {"planning", SOMA_OPT_INT, "50", 0, 10000, NULL, "planning steps per real step", 0},
    {"kappa", SOMA_OPT_FLOAT, "1e-3", 0, 10, NULL, "Dyna-Q+ exploration bonus kappa sqrt(tau)", 0},
    {"runs", SOMA_OPT_INT, "30", 1, 100000, NULL, "independent runs averaged", 1},
    {"steps", SOMA_OPT_INT, "6000", 2, 100000000, NULL, "shortcut maze: real steps in all", 1},
    {"change", SOMA_OPT_INT, "3000", 1, 100000000, NULL, "shortcut maze: the step at which the shortcut opens", 1},
    {"blocking-steps", SOMA_OPT_INT, "3000", 0, 100000000, NULL, "blocking maze: real steps in all (0: skip it)", 1},
    {"blocking-change", SOMA_OPT_INT, "1000", 1, 100000000, NULL, "blocking maze: the step at which the path moves", 1},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark landmarks_[] = {
    {"fraction of runs whose greedy path takes the shortcut (10 steps) at the end, Dyna-Q+ (the book: it "
     "finds the shortcut; 0.7 is this project's threshold)",
     "Sutton & Barto 2018, Reinforcement Learning, 2nd ed., figure 8.5", "http://incompleteideas.net/book/the-book-2nd.html",
     "shortcut_found_dynaq_plus", SOMA_EXP_AT_LEAST, 0.7},
    {"fraction of runs whose greedy path takes the shortcut at the end, Dyna-Q (the book: it never does)",
     "Sutton & Barto 2018, Reinforcement Learning, 2nd ed., figure 8.5", "http://incompleteideas.net/book/the-book-2nd.html",
     "shortcut_found_dynaq", SOMA_EXP_AT_MOST, 0.2},
    {"blocking maze: reward per step late after the change over before it, Dyna-Q+ (the book: it finds the "
     "new path; 0.5 is this project's threshold)",
     "Sutton & Barto 2018, Reinforcement Learning, 2nd ed., figure 8.4", "http://incompleteideas.net/book/the-book-2nd.html",
     "blocking_recovery_dynaq_plus", SOMA_EXP_AT_LEAST, 0.5},
    {NULL, NULL, NULL, NULL, 0, 0},
};

static const char *const reduced_[] = {"--runs", "10", NULL};

typedef struct maze_run_ {
    const char *map0, *map1; /* before and after the change */
    int steps, change, optimal_after;
} maze_run_;

/* One agent on one maze: cumulative reward per step (added into cum / runs), and whether its
 * greedy path at the end is the optimal one of the changed maze. */
static soma_status run_agent_(const maze_run_ *m, soma_tab_kind kind, const soma_tab_config *cfg, uint64_t seed,
                              int runs, float *cum, int *found) {
    soma_env *env = NULL, *eval = NULL;
    soma_tab *t = NULL;
    float obs[64];
    soma_status st;
    if ((st = soma_env_grid_new(&env, m->map0, NULL)) != SOMA_OK) goto out;
    if ((st = soma_env_grid_new(&eval, m->map1, NULL)) != SOMA_OK) goto out;
    if ((st = soma_tab_new(&t, kind, env->n_states, env->n_actions, cfg, seed)) != SOMA_OK) goto out;
    soma_env_seed(env, seed);
    if ((st = soma_env_reset(env, obs)) != SOMA_OK) goto out;
    int s = env->state, a = soma_tab_begin(t, s), done;
    double total = 0, r;
    for (int i = 0; i < m->steps; i++) {
        if (i == m->change && (st = soma_env_grid_set_map(env, m->map1)) != SOMA_OK) goto out;
        if ((st = soma_env_step(env, a, obs, &r, &done)) != SOMA_OK) goto out;
        total += r;
        cum[i] += (float)(total / runs);
        a = soma_tab_observe(t, s, a, r, env->state, done);
        if (done != SOMA_RUNNING) {
            if ((st = soma_env_reset(env, obs)) != SOMA_OK) goto out;
            a = soma_tab_begin(t, env->state);
        }
        s = env->state;
    }
    long g;
    if ((st = soma_tab_greedy_steps(t, eval, obs, 1000, &g)) != SOMA_OK) goto out;
    *found = g == m->optimal_after;
out:
    soma_tab_free(t);
    soma_env_free(env);
    soma_env_free(eval);
    return st;
}

/* Both agents on one maze, runs each: cumulative reward curves [2][steps], found counts. */
static soma_status run_maze_(soma_exp_ctx *c, const maze_run_ *m, const soma_tab_config *cq,
                             const soma_tab_config *cp, int runs, float *cum, int *found) {
    const soma_tab_kind kinds[2] = {SOMA_TAB_DYNA_Q, SOMA_TAB_DYNA_Q_PLUS};
    for (int k = 0; k < 2; k++) {
        found[k] = 0;
        for (int r = 0; r < runs; r++) {
            int f = 0;
            SOMA_TRY(run_agent_(m, kinds[k], k ? cp : cq, c->seed * 1000003u + (uint64_t)r, runs,
                                cum + (size_t)k * m->steps, &f));
            found[k] += f;
        }
    }
    return SOMA_OK;
}

/* Every stride-th point of the two curves in cum[2][steps] (the last one always), for the
 * results and the figure: xs[n], ys[2][n]. Returns n. */
static int decimate_(const float *cum, int steps, float *xs, float *ys) {
    int stride = steps > 600 ? steps / 600 : 1, n = 0;
    for (int i = stride - 1; i < steps; i += stride) xs[n++] = (float)(i + 1);
    if (xs[n - 1] != (float)steps) xs[n++] = (float)steps;
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < n; j++) ys[k * n + j] = cum[(size_t)k * steps + (size_t)xs[j] - 1];
    return n;
}

/* One panel and its curves in ours[name] = {step, dynaq, dynaq_plus} (decimated). */
static soma_status plot_(soma_exp_ctx *c, soma_fig *f, int panel, const char *title, const char *name,
                         const float *cum, int steps, int change) {
    float *xs = soma_alloc((size_t)steps + 1, sizeof(float)), *ys = soma_alloc(2 * ((size_t)steps + 1), sizeof(float));
    if (!xs || !ys) {
        soma_free(xs);
        soma_free(ys);
        return soma_error(SOMA_ERR_NOMEM, "shortcut-maze: out of memory");
    }
    int n = decimate_(cum, steps, xs, ys);
    cJSON *o = cJSON_AddObjectToObject(c->ours, name);
    soma_json_put_floats(o, "step", xs, n);
    soma_json_put_floats(o, "dynaq", ys, n);
    soma_json_put_floats(o, "dynaq_plus", ys + n, n);
    soma_fig_labels(f, panel, title, "time steps", "cumulative reward");
    soma_status st = soma_fig_line(f, panel, xs, ys, n, "Dyna-Q", NULL);
    if (st == SOMA_OK) st = soma_fig_line(f, panel, xs, ys + n, n, "Dyna-Q+", NULL);
    if (st == SOMA_OK) { /* the change, as a dashed vertical segment */
        float vx[2] = {(float)change, (float)change}, vy[2] = {0.f, fmaxf(ys[n - 1], ys[2 * n - 1])};
        soma_line_style ls = {SOMA_RGB(0x888888), 1, 0, 1.f};
        st = soma_fig_line(f, panel, vx, vy, 2, "maze changes", &ls);
    }
    soma_free(xs);
    soma_free(ys);
    return st;
}

/* Each maze changes before its run ends. */
static soma_status check_(const soma_exp_ctx *c) {
    int steps, change, bsteps, bchange;
    SOMA_TRY(soma_args_int(&c->args, "steps", &steps));
    SOMA_TRY(soma_args_int(&c->args, "change", &change));
    SOMA_TRY(soma_args_int(&c->args, "blocking-steps", &bsteps));
    SOMA_TRY(soma_args_int(&c->args, "blocking-change", &bchange));
    if (change >= steps)
        return soma_error(SOMA_ERR_ARG, "--change %d must come before --steps %d", change, steps);
    if (bsteps > 0 && bchange >= bsteps)
        return soma_error(SOMA_ERR_ARG, "--blocking-change %d must come before --blocking-steps %d",
                          bchange, bsteps);
    return SOMA_OK;
}

static soma_status run_(soma_exp_ctx *c) {
    soma_tab_config cq = soma_tab_defaults(SOMA_TAB_DYNA_Q);
    int runs, steps, change, bsteps, bchange;
    SOMA_TRY(soma_args_double(&c->args, "alpha", &cq.alpha));
    SOMA_TRY(soma_args_double(&c->args, "epsilon", &cq.epsilon));
    SOMA_TRY(soma_args_double(&c->args, "gamma", &cq.gamma));
    SOMA_TRY(soma_args_int(&c->args, "planning", &cq.planning_steps));
    SOMA_TRY(soma_args_double(&c->args, "kappa", &cq.kappa));
    SOMA_TRY(soma_args_int(&c->args, "runs", &runs));
    SOMA_TRY(soma_args_int(&c->args, "steps", &steps));
    SOMA_TRY(soma_args_int(&c->args, "change", &change));
    SOMA_TRY(soma_args_int(&c->args, "blocking-steps", &bsteps));
    SOMA_TRY(soma_args_int(&c->args, "blocking-change", &bchange));
    soma_tab_config cp = cq;

    soma_status st = SOMA_OK;
    soma_fig *f = NULL;
    float *cum = soma_calloc(2 * (size_t)steps, sizeof(float));
    float *bcum = bsteps > 0 ? soma_calloc(2 * (size_t)bsteps, sizeof(float)) : NULL;
    if (!cum || (bsteps > 0 && !bcum)) {
        st = soma_error(SOMA_ERR_NOMEM, "shortcut-maze: out of memory");
        goto out;
    }
    maze_run_ sm = {soma_grid_map_shortcut(0), soma_grid_map_shortcut(1), steps, change, 10};
    int found[2], bfound[2] = {0, 0};
    if ((st = run_maze_(c, &sm, &cq, &cp, runs, cum, found)) != SOMA_OK) goto out;
    /* reward in the steps after the change, per agent */
    double after_q = cum[steps - 1] - cum[change - 1], after_p = cum[2 * steps - 1] - cum[steps + change - 1];
    soma_exp_put(c, "shortcut_found_dynaq", (double)found[0] / runs);
    soma_exp_put(c, "shortcut_found_dynaq_plus", (double)found[1] / runs);
    soma_exp_put(c, "shortcut_reward_after_change_dynaq", after_q);
    soma_exp_put(c, "shortcut_reward_after_change_dynaq_plus", after_p);
    int n = snprintf(c->headline, sizeof c->headline,
                     "shortcut maze (%d runs): the shortcut at the end taken by Dyna-Q+ in %d/%d runs, Dyna-Q in %d/%d; "
                     "reward after the change %.1f (Q+) vs %.1f (Q)",
                     runs, found[1], runs, found[0], runs, after_p, after_q);

    if (bsteps > 0) {
        maze_run_ bm = {soma_grid_map_blocking(0), soma_grid_map_blocking(1), bsteps, bchange, 16};
        if ((st = run_maze_(c, &bm, &cq, &cp, runs, bcum, bfound)) != SOMA_OK) goto out;
        /* reward rate after the change (its second half: time to find the new path first) over before it */
        int mid = bchange + (bsteps - bchange) / 2;
        double rec[2];
        for (int k = 0; k < 2; k++) {
            const float *cu = bcum + (size_t)k * bsteps;
            double before = cu[bchange - 1] / bchange, after = (cu[bsteps - 1] - cu[mid - 1]) / (bsteps - mid);
            rec[k] = before > 0 ? after / before : NAN;
        }
        soma_exp_put(c, "blocking_recovery_dynaq", rec[0]);
        soma_exp_put(c, "blocking_recovery_dynaq_plus", rec[1]);
        soma_exp_put(c, "blocking_found_dynaq", (double)bfound[0] / runs);
        soma_exp_put(c, "blocking_found_dynaq_plus", (double)bfound[1] / runs);
        if (n > 0 && (size_t)n < sizeof c->headline)
            snprintf(c->headline + n, sizeof c->headline - n,
                     "\nblocking maze: the new path at the end taken by Dyna-Q+ in %d/%d runs, Dyna-Q in %d/%d; "
                     "reward rate late after the change / before: %.2f (Q+), %.2f (Q)",
                     bfound[1], runs, bfound[0], runs, rec[1], rec[0]);
    }

    if ((st = soma_fig_new(&f, 1, bsteps > 0 ? 2 : 1, bsteps > 0 ? 1100 : 600, 420)) != SOMA_OK) goto out;
    soma_fig_title(f, "Dyna-Q vs Dyna-Q+ when the maze changes (Sutton & Barto figs. 8.4, 8.5)");
    if ((st = plot_(c, f, 0, "Shortcut maze", "shortcut_cumulative_reward", cum, steps, change)) != SOMA_OK) goto out;
    if (bsteps > 0 &&
        (st = plot_(c, f, 1, "Blocking maze", "blocking_cumulative_reward", bcum, bsteps, bchange)) != SOMA_OK)
        goto out;
    char path[1100];
    st = soma_fig_save(f, soma_exp_path(c, "shortcut_maze.svg", path, sizeof path));
out:
    soma_fig_free(f);
    soma_free(cum);
    soma_free(bcum);
    return st;
}

const soma_experiment soma__exp_shortcut_maze = {
    "shortcut-maze",
    "Dyna-Q vs Dyna-Q+ when the maze changes (figs. 8.4, 8.5): Dyna-Q+ finds the shortcut that "
    "opens at step 3000, Dyna-Q does not; both find the new path around a block.",
    landmarks_,
    opts_,
    reduced_,
    run_,
    check_,
};
