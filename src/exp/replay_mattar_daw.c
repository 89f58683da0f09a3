// replay-mattar-daw: prioritized replay by gain x need (Mattar & Daw 2018). A Dyna-style
// Q-learner (soma_evb) runs the gridworld's linear track and open field (start at one end /
// the top-left corner, reward at the other end / corner, Gaussian noise on its size, then back
// to the start) and replays remembered experiences before each run (at the start of an
// episode) and after reward (at its end), each backup the one of largest expected value,
// gain x need. Consecutive replayed experiences of adjacent states form forward or reverse
// pairs: forward replay dominates before a run (n-step backups along the path ahead, where
// need is high), reverse replay after reward (the reward's change propagates backward from
// the goal, one step a backup). Without reward noise and with alpha 1 the values settle after
// a few episodes and there is little left to replay before a run; with one-step backups only
// (--n-step 1) forward replay before a run disappears.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/internal.h"
#include "soma/plot.h"
#include "soma/rl.h"

static const soma_opt opts_[] = {
    {"track", SOMA_OPT_INT, "10", 3, 200, NULL, "linear track: states", 0},
    {"width", SOMA_OPT_INT, "6", 2, 30, NULL, "open field: columns", 0},
    {"height", SOMA_OPT_INT, "6", 2, 30, NULL, "open field: rows", 0},
    {"episodes", SOMA_OPT_INT, "50", 1, 100000, NULL, "episodes in each environment", 1},
    {"runs", SOMA_OPT_INT, "10", 1, 10000, NULL, "independent agents in each environment (seeds)", 1},
    {"gamma", SOMA_OPT_FLOAT, "0.9", 0, 0.99, NULL, "discount", 0},
    {"alpha", SOMA_OPT_FLOAT, "1", 1e-6, 1, NULL, "online learning rate (replayed backups are complete: 1)", 0},
    {"beta", SOMA_OPT_FLOAT, "5", 0, 1000, NULL, "softmax inverse temperature", 0},
    {"plan-steps", SOMA_OPT_INT, "20", 0, 100000, NULL, "backups per planning phase (start, end)", 0},
    {"n-step", SOMA_OPT_INT, "0", 0, 100000, NULL, "longest n-step backup (0: the environment's states)", 0},
    {"evb-min", SOMA_OPT_FLOAT, "1e-6", 0, 1, NULL, "replay stops when the best gain x need falls below it", 0},
    {"reward-sd", SOMA_OPT_FLOAT, "0.1", 0, 10, NULL, "standard deviation of Gaussian noise on the reward at the goal", 0},
    {"max-steps", SOMA_OPT_INT, "1000", 1, 10000000, NULL, "step limit of an episode", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark landmarks_[] = {
    {"linear track: fraction of replayed sequences that run forward, before a run (start of an "
     "episode); the paper: forward replay dominates (> 0.5, this project's threshold)",
     "Mattar & Daw 2018, Fig. 3", "https://doi.org/10.1038/s41593-018-0232-z", "forward_fraction_start",
     SOMA_EXP_AT_LEAST, 0.5},
    {"linear track: fraction of replayed sequences that run in reverse, after reward (end of an "
     "episode); the paper: reverse replay dominates (> 0.5, this project's threshold)",
     "Mattar & Daw 2018, Fig. 3", "https://doi.org/10.1038/s41593-018-0232-z", "reverse_fraction_end",
     SOMA_EXP_AT_LEAST, 0.5},
    {NULL, NULL, NULL, NULL, 0, 0},
};

static const char *const reduced_[] = {"--episodes", "20", "--runs", "3", NULL};

typedef struct tally_ {
    float *per_ep; /* [4 * episodes]: forward start, reverse start, forward end, reverse end pairs,
                      summed over runs, per episode (may be NULL) */
    long fwd[2], rev[2]; /* [phase]: 0 start, 1 end */
    long backups[2];
    double steps_first, steps_last; /* mean episode length: first and last episode */
} tally_;

/* Runs `runs` agents for `episodes` episodes each in the gridworld of map (start 'S', reward
 * at the goal 'G'), planning at the start of each episode and after reward. */
static soma_status run_env_(soma_exp_ctx *c, const char *map, int episodes, int runs, int max_steps, double reward_sd,
                            const soma_evb_config *base, soma_evb_event *ev, int cap, tally_ *out) {
    float *per_ep = out->per_ep;
    memset(out, 0, sizeof *out);
    out->per_ep = per_ep;
    soma_grid_config g = {1, 0, 0.0, max_steps};
    soma_env *env = NULL;
    SOMA_TRY(soma_env_grid_new(&env, map, &g));
    soma_evb_config cfg = *base;
    cfg.n_states = env->n_states;
    cfg.n_actions = env->n_actions;
    float obs[2];
    soma_status st = soma_env_seed(env, c->seed);
    if (st == SOMA_OK) st = soma_env_reset(env, obs);
    cfg.start = env->state;
    if (cfg.n_step_max <= 0 || cfg.n_step_max > env->n_states) cfg.n_step_max = env->n_states;
    for (int run = 0; run < runs && st == SOMA_OK; run++) {
        soma_evb *r = NULL;
        if ((st = soma_evb_new(&r, &cfg)) != SOMA_OK) break;
        soma_rng rng;
        soma_rng_seed(&rng, c->seed, 100 + (uint64_t)run);
        for (int e = 0; e < episodes && st == SOMA_OK; e++) {
            int ne = 0, t = 0, done = SOMA_RUNNING;
            if ((st = soma_env_reset(env, obs)) != SOMA_OK) break;
            if ((st = soma_evb_plan(r, env->state, ev, cap, &ne)) != SOMA_OK) break;
            long f0 = out->fwd[0], r0 = out->rev[0];
            soma_evb_directions(ev, ne, &out->fwd[0], &out->rev[0]);
            if (per_ep) {
                per_ep[e] += (float)(out->fwd[0] - f0);
                per_ep[episodes + e] += (float)(out->rev[0] - r0);
            }
            out->backups[0] += ne;
            while (done == SOMA_RUNNING) {
                int s = env->state, a = soma_evb_act(r, s, &rng);
                double rew;
                if ((st = soma_env_step(env, a, obs, &rew, &done)) != SOMA_OK) break;
                if (done == SOMA_TERMINAL && reward_sd > 0) rew += reward_sd * soma_rng_normal(&rng);
                if ((st = soma_evb_observe(r, s, a, rew, env->state, done)) != SOMA_OK) break;
                t++;
            }
            if (st != SOMA_OK) break;
            if (e == 0) out->steps_first += (double)t / runs;
            if (e == episodes - 1) out->steps_last += (double)t / runs;
            if (done != SOMA_TERMINAL) continue; /* truncated: no reward, no end replay */
            if ((st = soma_evb_plan(r, env->state, ev, cap, &ne)) != SOMA_OK) break;
            long f1 = out->fwd[1], r1 = out->rev[1];
            soma_evb_directions(ev, ne, &out->fwd[1], &out->rev[1]);
            if (per_ep) {
                per_ep[2 * episodes + e] += (float)(out->fwd[1] - f1);
                per_ep[3 * episodes + e] += (float)(out->rev[1] - r1);
            }
            out->backups[1] += ne;
        }
        soma_evb_free(r);
    }
    soma_env_free(env);
    return st;
}

static double frac_(long a, long b) { return a + b > 0 ? (double)a / (double)(a + b) : 0.0; }

static soma_status run_(soma_exp_ctx *c) {
    int L, W, H, episodes, runs, plan, nstep, max_steps;
    double gamma, alpha, beta, evb_min, reward_sd;
    SOMA_TRY(soma_args_int(&c->args, "track", &L));
    SOMA_TRY(soma_args_int(&c->args, "width", &W));
    SOMA_TRY(soma_args_int(&c->args, "height", &H));
    SOMA_TRY(soma_args_int(&c->args, "episodes", &episodes));
    SOMA_TRY(soma_args_int(&c->args, "runs", &runs));
    SOMA_TRY(soma_args_double(&c->args, "gamma", &gamma));
    SOMA_TRY(soma_args_double(&c->args, "alpha", &alpha));
    SOMA_TRY(soma_args_double(&c->args, "beta", &beta));
    SOMA_TRY(soma_args_int(&c->args, "plan-steps", &plan));
    SOMA_TRY(soma_args_int(&c->args, "n-step", &nstep));
    SOMA_TRY(soma_args_double(&c->args, "evb-min", &evb_min));
    SOMA_TRY(soma_args_int(&c->args, "max-steps", &max_steps));
    SOMA_TRY(soma_args_double(&c->args, "reward-sd", &reward_sd));
    soma_evb_config base = {0, 0, 0, gamma, alpha, beta, evb_min, plan, nstep};
    soma_fig *f = NULL;
    soma_evb_event *ev = NULL;
    tally_ tt = {0}, tf = {0};
    float *xs = NULL;
    soma_status st = SOMA_OK;
    size_t mcap = (size_t)(H + 1) * (W + 2) + (size_t)L + 8;
    char *map = soma_alloc(mcap, 1);
    int nmax = L > W * H ? L : W * H, cap = plan * nmax + 1;
    tt.per_ep = soma_calloc((size_t)4 * episodes, sizeof(float));
    xs = soma_alloc((size_t)episodes, sizeof(float));
    if (!map || !tt.per_ep || !xs || !(ev = soma_alloc((size_t)cap, sizeof *ev))) {
        st = SOMA_ERR_NOMEM;
        goto out;
    }
    /* the maps of the gridworld: 'S' at one end / the top-left corner, 'G' at the other */
    if ((st = soma_grid_map_linear_track(map, mcap, L)) != SOMA_OK) goto out;
    if ((st = run_env_(c, map, episodes, runs, max_steps, reward_sd, &base, ev, cap, &tt)) != SOMA_OK) goto out;
    if ((st = soma_grid_map_open_field(map, mcap, H, W)) != SOMA_OK) goto out;
    if ((st = run_env_(c, map, episodes, runs, max_steps, reward_sd, &base, ev, cap, &tf)) != SOMA_OK) goto out;

    double fs = frac_(tt.fwd[0], tt.rev[0]), re = frac_(tt.rev[1], tt.fwd[1]);
    double ffs = frac_(tf.fwd[0], tf.rev[0]), fre = frac_(tf.rev[1], tf.fwd[1]);
    soma_exp_put(c, "forward_fraction_start", fs);
    soma_exp_put(c, "reverse_fraction_end", re);
    soma_exp_put(c, "forward_fraction_end", 1.0 - re);
    soma_exp_put(c, "open_field_forward_fraction_start", ffs);
    soma_exp_put(c, "open_field_reverse_fraction_end", fre);
    soma_exp_put(c, "track_pairs_start", (double)(tt.fwd[0] + tt.rev[0]));
    soma_exp_put(c, "track_pairs_end", (double)(tt.fwd[1] + tt.rev[1]));
    soma_exp_put(c, "open_field_pairs_start", (double)(tf.fwd[0] + tf.rev[0]));
    soma_exp_put(c, "open_field_pairs_end", (double)(tf.fwd[1] + tf.rev[1]));
    soma_exp_put(c, "track_backups_per_episode", (double)(tt.backups[0] + tt.backups[1]) / ((double)episodes * runs));
    soma_exp_put(c, "track_steps_first_episode", tt.steps_first);
    soma_exp_put(c, "track_steps_last_episode", tt.steps_last);
    soma_exp_put(c, "open_field_steps_first_episode", tf.steps_first);
    soma_exp_put(c, "open_field_steps_last_episode", tf.steps_last);
    snprintf(c->headline, sizeof c->headline,
             "linear track (%d states): forward %.2f of replayed pairs before a run (%ld pairs), reverse %.2f "
             "after reward (%ld); open field %dx%d: forward %.2f before, reverse %.2f after",
             L, fs, tt.fwd[0] + tt.rev[0], re, tt.fwd[1] + tt.rev[1], W, H, ffs, fre);

    if ((st = soma_fig_new(&f, 1, 3, 1400, 420)) != SOMA_OK) goto out;
    soma_fig_title(f, "Replay direction by time in the episode (gain x need, Mattar & Daw 2018)");
    const char *labels[4] = {"start: fwd", "start: rev", "end: fwd", "end: rev"};
    double pts = (double)(tt.fwd[0] + tt.rev[0]), pte = (double)(tt.fwd[1] + tt.rev[1]);
    double pfs = (double)(tf.fwd[0] + tf.rev[0]), pfe = (double)(tf.fwd[1] + tf.rev[1]);
    const float vt[4] = {(float)frac_(tt.fwd[0], tt.rev[0]), (float)frac_(tt.rev[0], tt.fwd[0]),
                         (float)frac_(tt.fwd[1], tt.rev[1]), (float)frac_(tt.rev[1], tt.fwd[1])};
    const float vf[4] = {(float)frac_(tf.fwd[0], tf.rev[0]), (float)frac_(tf.rev[0], tf.fwd[0]),
                         (float)frac_(tf.fwd[1], tf.rev[1]), (float)frac_(tf.rev[1], tf.fwd[1])};
    char title[128];
    snprintf(title, sizeof title, "Linear track (%.0f pairs before, %.0f after)", pts, pte);
    soma_fig_labels(f, 0, title, "", "fraction of replayed pairs");
    if ((st = soma_fig_bars(f, 0, vt, NULL, 4, labels, 0)) != SOMA_OK) goto out;
    soma_fig_ylim(f, 0, 0, 1);
    snprintf(title, sizeof title, "Open field (%.0f pairs before, %.0f after)", pfs, pfe);
    soma_fig_labels(f, 1, title, "", "fraction of replayed pairs");
    if ((st = soma_fig_bars(f, 1, vf, NULL, 4, labels, 0)) != SOMA_OK) goto out;
    soma_fig_ylim(f, 1, 0, 1);
    soma_fig_labels(f, 2, "Linear track: replayed pairs per episode", "episode", "pairs (sum over runs)");
    for (int e = 0; e < episodes; e++) xs[e] = (float)(e + 1);
    for (int k = 0; k < 4; k++)
        if ((st = soma_fig_line(f, 2, xs, tt.per_ep + (size_t)k * episodes, episodes, labels[k], NULL)) != SOMA_OK) goto out;
    char path[1100];
    st = soma_fig_save(f, soma_exp_path(c, "replay_mattar_daw.svg", path, sizeof path));
out:
    soma_fig_free(f);
    soma_free(ev);
    soma_free(map);
    soma_free(tt.per_ep);
    soma_free(xs);
    return st;
}

const soma_experiment soma__exp_replay_mattar_daw = {
    "replay-mattar-daw",
    "Prioritized replay by gain x need (Mattar & Daw 2018) on a linear track and an open field: "
    "forward replay before a run, reverse replay after reward.",
    landmarks_,
    opts_,
    reduced_,
    run_,
    NULL, /* no check beyond the typed options */
};
