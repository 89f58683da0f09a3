// schultz1997: the TD prediction error as the dopamine signal (Schultz, Dayan & Montague 1997).
// A CS predicts a reward isi steps later. Before learning the error fires at the reward; after
// learning it fires at the CS and not at the reward; when the reward is omitted it dips below
// zero at the time the reward was due. The CS onset itself is unpredictable because the time
// before it has no features (the stimulus representation is all zeros until the CS appears),
// so V(pre-CS) = 0 and the CS's jump in value, gamma^isi x reward, is an error of its own.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/internal.h"
#include "soma/plot.h"
#include "soma/rl.h"
#include "exp/td_common.h"

static const soma_opt opts_[] = {
    TD_OPTS_LEARN_("0.1"),
    {"trials", SOMA_OPT_INT, "200", 2, 10000000, NULL, "training trials", 1},
    TD_OPTS_TRIAL_,
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark landmarks_[] = {
    {"after training: |RPE at the reward| / its first-trial value (dopamine stops firing at a predicted reward)",
     "Schultz, Dayan & Montague 1997", "https://doi.org/10.1126/science.275.5306.1593", "us_final_over_first",
     SOMA_EXP_AT_MOST, 0.05},
    {"after training: RPE at the CS / the discounted reward gamma^isi x reward (dopamine fires at the CS)",
     "Schultz, Dayan & Montague 1997", "https://doi.org/10.1126/science.275.5306.1593", "cs_over_discounted",
     SOMA_EXP_AT_LEAST, 0.8},
    {"omission: RPE at the time the reward was due / reward (a dip below baseline)",
     "Schultz, Dayan & Montague 1997", "https://doi.org/10.1126/science.275.5306.1593", "omission_over_reward",
     SOMA_EXP_AT_MOST, -0.8},
    {NULL, NULL, NULL, NULL, 0, 0},
};

static const char *const reduced_[] = {"--trials", "120", NULL};

soma_status soma__exp_td_setup(const soma_args *a, double p_reward, soma_env **env, soma_stimrep **rep, soma_td **td,
                          int *n_steps) {
    soma_conditioning_config cc = soma_conditioning_defaults();
    SOMA_TRY(soma_args_int(a, "n-steps", &cc.n_steps));
    SOMA_TRY(soma_args_int(a, "cs-onset", &cc.cs_onset));
    SOMA_TRY(soma_args_int(a, "cs-jitter", &cc.cs_jitter));
    SOMA_TRY(soma_args_int(a, "isi", &cc.isi));
    SOMA_TRY(soma_args_double(a, "reward", &cc.reward));
    cc.p_reward = p_reward;
    SOMA_TRY(soma_env_conditioning_new(env, &cc));
    const char *repr = soma_args_str(a, "repr");
    soma_stimrep_config rc = soma_stimrep_defaults(strcmp(repr, "micro") == 0 ? SOMA_STIMREP_MICRO : SOMA_STIMREP_CSC);
    rc.n_steps = cc.n_steps + 1;
    SOMA_TRY(soma_args_int(a, "n-micro", &rc.n_micro));
    SOMA_TRY(soma_args_double(a, "decay", &rc.decay));
    SOMA_TRY(soma_args_double(a, "sigma", &rc.sigma));
    SOMA_TRY(soma_stimrep_new(rep, &rc));
    soma_td_config tc = soma_td_defaults(soma_stimrep_dim(*rep));
    SOMA_TRY(soma_args_double(a, "gamma", &tc.gamma));
    SOMA_TRY(soma_args_double(a, "alpha", &tc.alpha));
    SOMA_TRY(soma_args_double(a, "lambda", &tc.lambda));
    tc.trace = strcmp(soma_args_str(a, "trace"), "replace") == 0 ? SOMA_TD_REPLACE : SOMA_TD_ACCUMULATE;
    SOMA_TRY(soma_td_new(td, &tc));
    *n_steps = cc.n_steps;
    return SOMA_OK;
}

static soma_status trace_panel_(soma_fig *f, int panel, const char *title, const double *d, int len, int cs, int us,
                                double reward) {
    float *x = soma_alloc((size_t)len, sizeof(float)), *y = soma_alloc((size_t)len, sizeof(float));
    if (!x || !y) {
        soma_free(x);
        soma_free(y);
        return soma_error(SOMA_ERR_NOMEM, "schultz1997: out of memory for a figure");
    }
    for (int t = 0; t < len; t++) {
        x[t] = (float)t;
        y[t] = (float)d[t];
    }
    char xl[96];
    snprintf(xl, sizeof xl, "time step (CS at %d, reward due at %d)", cs, us);
    soma_fig_labels(f, panel, title, xl, "prediction error delta");
    soma_line_style s = {1, 0, 1, 0.f};
    soma_status st = soma_fig_line(f, panel, x, y, len, "TD error", &s);
    soma_free(x);
    soma_free(y);
    SOMA_TRY(st);
    SOMA_TRY(soma_fig_hline(f, panel, 0.f, "baseline"));
    soma_fig_ylim(f, panel, -1.15 * reward, 1.15 * reward);
    soma_fig_xlim(f, panel, 0, len - 1);
    return SOMA_OK;
}

static soma_status run_(soma_exp_ctx *c) {
    int trials;
    double gamma, reward;
    int isi;
    SOMA_TRY(soma_args_int(&c->args, "trials", &trials));
    SOMA_TRY(soma_args_double(&c->args, "gamma", &gamma));
    SOMA_TRY(soma_args_double(&c->args, "reward", &reward));
    SOMA_TRY(soma_args_int(&c->args, "isi", &isi));
    soma_env *env = NULL;
    soma_stimrep *rep = NULL;
    soma_td *td = NULL;
    soma_fig *f = NULL;
    double *delta = NULL, *om = NULL;
    float *xs = NULL, *heat = NULL;
    int n_steps = 0;
    soma_status st = soma__exp_td_setup(&c->args, 1.0, &env, &rep, &td, &n_steps);
    if (st != SOMA_OK) goto out;
    soma_env_seed(env, c->seed);
    int cols = n_steps + 1, dim = soma_stimrep_dim(rep);
    delta = soma_alloc((size_t)trials, (size_t)cols * sizeof(double));
    om = soma_alloc((size_t)cols, sizeof(double));
    xs = soma_alloc((size_t)cols, (size_t)dim * sizeof(float));
    int rows = trials < 100 ? trials : 100;
    heat = soma_alloc((size_t)rows, (size_t)cols * sizeof(float));
    if (!delta || !om || !xs || !heat) {
        st = soma_error(SOMA_ERR_NOMEM, "schultz1997: out of memory for %d trials", trials);
        goto out;
    }
    // --- training: every trial rewarded
    int len = 0;
    soma_trial_info first = {0}, last = {0}, omi = {0};
    for (int k = 0; k < trials; k++) {
        if ((st = soma_td_run_trial(td, rep, env, 1, delta + (size_t)k * cols, xs, cols, &len)) != SOMA_OK) goto out;
        if ((st = soma_env_conditioning_trial(env, k == 0 ? &first : &last)) != SOMA_OK) goto out;
    }
    // --- an omission test trial (learning off: it probes the trained values without changing them)
    if ((st = soma_env_conditioning_force(env, SOMA_TRIAL_OMISSION)) != SOMA_OK) goto out;
    if ((st = soma_td_run_trial(td, rep, env, 0, om, xs, cols, &len)) != SOMA_OK) goto out;
    if ((st = soma_env_conditioning_trial(env, &omi)) != SOMA_OK) goto out;
    const double *d0 = delta, *dl = delta + (size_t)(trials - 1) * cols;
    double us_first = d0[first.us_time], us_final = dl[last.us_time], cs_final = dl[last.cs_onset];
    double om_rpe = om[omi.us_time], disc = pow(gamma, isi) * reward;
    soma_exp_put(c, "rpe_us_first", us_first);
    soma_exp_put(c, "rpe_us_final", us_final);
    soma_exp_put(c, "rpe_cs_final", cs_final);
    soma_exp_put(c, "rpe_omission", om_rpe);
    soma_exp_put(c, "reward", reward);
    soma_exp_put(c, "gamma", gamma);
    soma_exp_put(c, "discounted_reward", disc);
    soma_exp_put(c, "us_final_over_first", fabs(us_final) / fabs(us_first));
    soma_exp_put(c, "cs_over_discounted", cs_final / disc);
    soma_exp_put(c, "omission_over_reward", om_rpe / reward);
    soma_exp_put(c, "trials", trials);
    snprintf(c->headline, sizeof c->headline,
             "RPE at the reward: %.3f on trial 1, %.4f after %d trials (%.1f%% of the first); RPE at the CS %.3f "
             "(%.0f%% of gamma^isi x reward = %.3f)\nomission: RPE %.3f at the time the reward was due (%.2f x reward)",
             us_first, us_final, trials, 100.0 * fabs(us_final) / fabs(us_first), cs_final, 100.0 * cs_final / disc,
             disc, om_rpe, om_rpe / reward);

    // --- figures: the three panels and delta over trial time across learning
    if ((st = soma_fig_new(&f, 2, 2, 1100, 800)) != SOMA_OK) goto out;
    soma_fig_title(f, "TD prediction error as the dopamine signal (Schultz, Dayan & Montague 1997)");
    if ((st = trace_panel_(f, 0, "Before learning (trial 1): error at the reward", d0, cols, first.cs_onset,
                           first.us_time, reward)) != SOMA_OK)
        goto out;
    if ((st = trace_panel_(f, 1, "After learning: error at the CS, none at the reward", dl, cols, last.cs_onset,
                           last.us_time, reward)) != SOMA_OK)
        goto out;
    if ((st = trace_panel_(f, 2, "After learning, reward omitted: a dip when it was due", om, cols, omi.cs_onset,
                           omi.us_time, reward)) != SOMA_OK)
        goto out;
    for (int i = 0; i < rows; i++) {
        int k = rows > 1 ? (int)((long)i * (trials - 1) / (rows - 1)) : 0;
        for (int t = 0; t < cols; t++) heat[(size_t)i * cols + t] = (float)delta[(size_t)k * cols + t];
    }
    soma_fig_labels(f, 3, "Across learning (rows: trials, first at the top)", "time step", "trial");
    soma_heatmap_opts ho = {SOMA_CMAP_DIVERGING, 0, 0, 0, NULL, NULL, "delta"};
    if ((st = soma_fig_heatmap(f, 3, heat, rows, cols, &ho)) != SOMA_OK) goto out;
    char path[1100];
    st = soma_fig_save(f, soma_exp_path(c, "schultz1997.svg", path, sizeof path));
out:
    soma_fig_free(f);
    soma_free(delta);
    soma_free(om);
    soma_free(xs);
    soma_free(heat);
    soma_td_free(td);
    soma_stimrep_free(rep);
    soma_env_free(env);
    return st;
}

const soma_experiment soma__exp_schultz1997 = {
    "schultz1997",
    "TD prediction error as the dopamine signal: before learning it fires at the reward, after "
    "learning at the CS, and on omission it dips when the reward was due.",
    landmarks_,
    opts_,
    reduced_,
    run_,
    NULL, /* no check beyond the typed options */
};
