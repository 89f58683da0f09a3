// dyna-maze: Sutton & Barto 2018, figure 8.2 -- Dyna-Q on the 6 x 9 maze: steps per episode for
// 0, 5 and 50 planning steps per real step, mean over runs. With planning the agent finds the
// optimal 14-step path in a few episodes; without, it needs many more.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/internal.h"
#include "soma/plot.h"
#include "soma/rl.h"

static const soma_opt opts_[] = {
    {"alpha", SOMA_OPT_FLOAT, "0.1", 1e-6, 1, NULL, "step size", 0},
    {"epsilon", SOMA_OPT_FLOAT, "0.1", 0, 1, NULL, "epsilon-greedy exploration", 0},
    {"gamma", SOMA_OPT_FLOAT, "0.95", 0, 1, NULL, "discount", 0},
    {"planning", SOMA_OPT_STR, "0,5,50", 0, 0, NULL, "planning steps per real step: a comma list (up to 8, each 0..10000)", 1},
    {"runs", SOMA_OPT_INT, "30", 1, 100000, NULL, "independent runs averaged", 1},
    {"episodes", SOMA_OPT_INT, "50", 3, 100000, NULL, "episodes per run", 1},
    {"sweep-planning", SOMA_OPT_INT, "5", 1, 10000, NULL, "planning steps of the prioritized sweeping vs Dyna-Q comparison", 0},
    {"sweep-alpha", SOMA_OPT_FLOAT, "1", 1e-6, 1, NULL, "step size of that comparison (1: the maze is deterministic)", 0},
    {"theta", SOMA_OPT_FLOAT, "1e-4", 0, 1, NULL, "prioritized sweeping: priority threshold", 0},
    {"max-steps", SOMA_OPT_INT, "100000", 100, 100000000, NULL, "step limit of one episode", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark landmarks_[] = {
    {"episodes until the greedy path is within 10% of the optimal 14 steps (mean over runs), 50 planning steps",
     "Sutton & Barto 2018, Reinforcement Learning, 2nd ed., figure 8.2", "http://incompleteideas.net/book/the-book-2nd.html",
     "n50_episodes_to_optimal", SOMA_EXP_AT_MOST, 3},
    {"episodes to the near-optimal path without planning over those with 50 planning steps (the book: about 25 "
     "vs 3; a lower bound when no planning does not get there within the run's episodes)",
     "Sutton 1990, Dyna (Integrated architectures for learning, planning, and reacting)",
     "https://doi.org/10.1016/B978-1-55860-141-3.50030-4", "n0_over_n50_episodes", SOMA_EXP_AT_LEAST, 5},
    {"value updates to a near-optimal greedy path (<= 16 steps), prioritized sweeping over Dyna-Q, 5 planning "
     "steps each (the book's example 8.4: 5 to 10 times fewer, more on larger mazes)",
     "Moore & Atkeson 1993, Prioritized sweeping", "https://doi.org/10.1007/BF00993104",
     "sweeping_over_dynaq_updates", SOMA_EXP_AT_MOST, 0.2},
    {NULL, NULL, NULL, NULL, 0, 0},
};

static const char *const reduced_[] = {"--runs", "5", "--episodes", "30", NULL};

#define MAX_N_ 8

static soma_status parse_planning_(const char *s, int *ns, int *k) {
    *k = 0;
    const char *p = s;
    while (*p) {
        char buf[32];
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof buf || *k == MAX_N_)
            return soma_error(SOMA_ERR_ARG, "--planning '%s': want up to %d comma-separated integers", s,
                              MAX_N_);
        memcpy(buf, p, len);
        buf[len] = 0;
        long v;
        SOMA_TRY(soma_parse_long("--planning", buf, 0, 10000, &v));
        for (int j = 0; j < *k; j++)
            if (ns[j] == v) return soma_error(SOMA_ERR_ARG, "--planning '%s': %ld appears twice", s, v);
        ns[(*k)++] = (int)v;
        p += len;
        if (*p == ',') p++;
    }
    if (*k == 0) return soma_error(SOMA_ERR_ARG, "--planning is empty");
    return SOMA_OK;
}

static soma_status check_(const soma_exp_ctx *c) {
    int ns[MAX_N_], k;
    return parse_planning_(soma_args_str(&c->args, "planning"), ns, &k);
}

/* First episode (1-based) from which the mean greedy path stays within 10% of optimal; 0: never. */
static int episodes_to_optimal_(const float *greedy, int episodes, int optimal) {
    int first = 0;
    for (int e = episodes - 1; e >= 0 && greedy[e] <= 1.1f * optimal; e--) first = e + 1;
    return first;
}

/* Runs episodes until the greedy path is at most 16 steps (the 14-step route, or the 16-step one
 * over the top that epsilon-greedy runs from zero values may settle on); *updates: the value
 * updates it took (-1 when 500 episodes were not enough). */
static soma_status updates_to_near_optimal_(soma_env *env, soma_tab_kind kind, const soma_tab_config *cfg,
                                            uint64_t seed, long max_steps, double *updates) {
    soma_tab *t = NULL;
    float obs[64];
    long g = 0, n;
    SOMA_TRY(soma_tab_new(&t, kind, env->n_states, env->n_actions, cfg, seed));
    soma_status st = SOMA_OK;
    for (int e = 0; e < 500 && (g == 0 || g > 16) && st == SOMA_OK; e++) {
        st = soma_tab_episode(t, env, obs, max_steps, &n, NULL);
        if (st == SOMA_OK) st = soma_tab_greedy_steps(t, env, obs, 1000, &g);
    }
    *updates = g > 0 && g <= 16 ? (double)soma_tab_updates(t) : -1;
    soma_tab_free(t);
    return st;
}

static soma_status run_(soma_exp_ctx *c) {
    soma_tab_config cfg = soma_tab_defaults(SOMA_TAB_DYNA_Q);
    int runs, episodes, max_steps, ns[MAX_N_], k;
    SOMA_TRY(soma_args_double(&c->args, "alpha", &cfg.alpha));
    SOMA_TRY(soma_args_double(&c->args, "epsilon", &cfg.epsilon));
    SOMA_TRY(soma_args_double(&c->args, "gamma", &cfg.gamma));
    SOMA_TRY(soma_args_int(&c->args, "runs", &runs));
    SOMA_TRY(soma_args_int(&c->args, "episodes", &episodes));
    SOMA_TRY(soma_args_int(&c->args, "max-steps", &max_steps));
    SOMA_TRY(parse_planning_(soma_args_str(&c->args, "planning"), ns, &k));
    soma_tab_config cs = cfg;
    SOMA_TRY(soma_args_int(&c->args, "sweep-planning", &cs.planning_steps));
    SOMA_TRY(soma_args_double(&c->args, "theta", &cs.theta));
    SOMA_TRY(soma_args_double(&c->args, "sweep-alpha", &cs.alpha));

    soma_status st = SOMA_OK;
    soma_env *env = NULL;
    soma_tab *t = NULL;
    soma_fig *f = NULL;
    float *steps = soma_calloc((size_t)k * episodes, sizeof(float));
    float *greedy = soma_calloc((size_t)k * episodes, sizeof(float));
    float *xs = soma_alloc((size_t)episodes, sizeof(float));
    float obs[64];
    if (!steps || !greedy || !xs) {
        st = soma_error(SOMA_ERR_NOMEM, "dyna-maze: out of memory");
        goto out;
    }
    if ((st = soma_env_grid_new(&env, soma_grid_map_dyna_maze(), NULL)) != SOMA_OK) goto out;
    for (int i = 0; i < k; i++) {
        cfg.planning_steps = ns[i];
        for (int r = 0; r < runs; r++) {
            /* the same seeds for every n: run r of each setting starts from the same streams */
            if ((st = soma_tab_new(&t, SOMA_TAB_DYNA_Q, env->n_states, env->n_actions, &cfg,
                                   c->seed * 1000003u + (uint64_t)r)) != SOMA_OK)
                goto out;
            soma_env_seed(env, c->seed + (uint64_t)r);
            for (int e = 0; e < episodes; e++) {
                long n, g;
                if ((st = soma_tab_episode(t, env, obs, max_steps, &n, NULL)) != SOMA_OK) goto out;
                if ((st = soma_tab_greedy_steps(t, env, obs, 1000, &g)) != SOMA_OK) goto out;
                steps[(size_t)i * episodes + e] += (float)n / runs;
                greedy[(size_t)i * episodes + e] += (float)g / runs;
            }
            soma_tab_free(t);
            t = NULL;
        }
    }

    /* prioritized sweeping vs Dyna-Q: value updates to a near-optimal path, mean over runs */
    double upd[2] = {0, 0};
    int reached[2] = {0, 0};
    const soma_tab_kind kinds[2] = {SOMA_TAB_DYNA_Q, SOMA_TAB_PRIORITIZED_SWEEPING};
    for (int j = 0; j < 2; j++)
        for (int r = 0; r < runs; r++) {
            double u;
            soma_env_seed(env, c->seed + (uint64_t)r);
            if ((st = updates_to_near_optimal_(env, kinds[j], &cs, c->seed * 1000003u + (uint64_t)r, max_steps, &u)) !=
                SOMA_OK)
                goto out;
            if (u >= 0) {
                upd[j] += u;
                reached[j]++;
            }
        }
    for (int j = 0; j < 2; j++) upd[j] = reached[j] ? upd[j] / reached[j] : NAN;
    cJSON *uo = cJSON_AddObjectToObject(c->ours, "updates_to_near_optimal");
    soma_json_put_num(uo, "dynaq", upd[0]);
    soma_json_put_num(uo, "prioritized_sweeping", upd[1]);
    soma_json_put_num(uo, "runs_reached_dynaq", reached[0]);
    soma_json_put_num(uo, "runs_reached_prioritized_sweeping", reached[1]);
    /* over the runs that got there (an epsilon-greedy run from zero values may never try the
     * moves of the short route: runs_reached_* say how many did) */
    if (reached[0] > 0 && reached[1] > 0) soma_exp_put(c, "sweeping_over_dynaq_updates", upd[1] / upd[0]);

    cJSON *spe = cJSON_AddObjectToObject(c->ours, "steps_per_episode");
    cJSON *gpe = cJSON_AddObjectToObject(c->ours, "greedy_steps_per_episode");
    cJSON *eto = cJSON_AddObjectToObject(c->ours, "episodes_to_optimal");
    int e0 = -1, e50 = -1;
    char line[512] = "";
    for (int i = 0; i < k; i++) {
        char key[16];
        snprintf(key, sizeof key, "n%d", ns[i]);
        soma_json_put_floats(spe, key, steps + (size_t)i * episodes, episodes);
        soma_json_put_floats(gpe, key, greedy + (size_t)i * episodes, episodes);
        int eo = episodes_to_optimal_(greedy + (size_t)i * episodes, episodes, 14);
        soma_json_put_num(eto, key, eo ? eo : NAN);
        if (ns[i] == 0) e0 = eo;
        if (ns[i] == 50) e50 = eo;
        size_t len = strlen(line);
        snprintf(line + len, sizeof line - len, "%sn=%d: episode 3 %.1f steps, greedy path %.1f, near-optimal from episode %s%d",
                 i ? "; " : "", ns[i], (double)steps[(size_t)i * episodes + 2], (double)greedy[(size_t)i * episodes + 2],
                 eo ? "" : ">", eo ? eo : episodes);
    }
    if (e50 > 0) soma_exp_put(c, "n50_episodes_to_optimal", e50);
    if (e50 > 0 && e0 >= 0) soma_exp_put(c, "n0_over_n50_episodes", (double)(e0 > 0 ? e0 : episodes + 1) / e50);
    soma_exp_put(c, "optimal_steps", 14);
    soma_exp_put(c, "runs", runs);
    snprintf(c->headline, sizeof c->headline,
             "Dyna maze, mean over %d runs (optimal path 14 steps): %s\n"
             "value updates to a greedy path <= 16 steps, %d planning steps, alpha %g: Dyna-Q %.0f (%d/%d runs got "
             "there), prioritized sweeping %.0f (%d/%d)",
             runs, line, cs.planning_steps, cs.alpha, upd[0], reached[0], runs, upd[1], reached[1], runs);

    // --- figure: steps per episode from episode 2 (the book's axes), and the greedy path
    if ((st = soma_fig_new(&f, 1, 2, 1100, 420)) != SOMA_OK) goto out;
    soma_fig_title(f, "Dyna-Q on the Dyna maze (Sutton & Barto fig. 8.2)");
    soma_fig_labels(f, 0, "Steps per episode", "episode", "steps per episode");
    soma_fig_labels(f, 1, "Greedy path after each episode", "episode", "greedy path length (steps)");
    for (int e = 0; e < episodes; e++) xs[e] = (float)(e + 1);
    for (int i = 0; i < k; i++) {
        char lab[48];
        snprintf(lab, sizeof lab, "%d planning steps", ns[i]);
        if ((st = soma_fig_line(f, 0, xs + 1, steps + (size_t)i * episodes + 1, episodes - 1, lab, NULL)) != SOMA_OK)
            goto out;
        if ((st = soma_fig_line(f, 1, xs + 1, greedy + (size_t)i * episodes + 1, episodes - 1, lab, NULL)) != SOMA_OK)
            goto out;
    }
    soma_fig_logy(f, 1, 1);
    if ((st = soma_fig_hline(f, 0, 14.f, "optimal: 14")) != SOMA_OK) goto out;
    if ((st = soma_fig_hline(f, 1, 14.f, "optimal: 14")) != SOMA_OK) goto out;
    char path[1100];
    st = soma_fig_save(f, soma_exp_path(c, "dyna_maze.svg", path, sizeof path));
out:
    soma_fig_free(f);
    soma_tab_free(t);
    soma_env_free(env);
    soma_free(steps);
    soma_free(greedy);
    soma_free(xs);
    return st;
}

const soma_experiment soma__exp_dyna_maze = {
    "dyna-maze",
    "Dyna-Q on Sutton & Barto's maze (fig. 8.2): 50 planning steps find the 14-step path in a few "
    "episodes, no planning needs many more.",
    landmarks_,
    opts_,
    reduced_,
    run_,
    check_,
};
