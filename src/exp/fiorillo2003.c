// fiorillo2003: reward probability and the dopamine response (Fiorillo, Tobler & Schultz 2003).
// A CS predicts a reward delivered with probability p in {0, .25, .5, .75, 1}. TD learning sets
// V(CS) to p x the discounted reward, so the error at the CS grows with p, and the error a
// delivered reward evokes is r - p r = (1 - p) r. The responses "after learning" are those the
// CS and a delivered reward evoke under the weights after each of the final --test-trials
// training trials (TD's weights keep fluctuating with a constant step size when rewards are
// random), averaged over those trials and over --runs independent runs. That also defines the
// reward response at p = 0, where no reward is ever delivered.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/internal.h"
#include "soma/plot.h"
#include "soma/rl.h"
#include "exp/td_common.h"

#define N_P_ 5
static const double ps_[N_P_] = {0.0, 0.25, 0.5, 0.75, 1.0};

static const soma_opt opts_[] = {
    TD_OPTS_LEARN_("0.02"),
    {"trials", SOMA_OPT_INT, "2000", 2, 10000000, NULL, "training trials per run and p", 1},
    {"test-trials", SOMA_OPT_INT, "1000", 1, 10000000, NULL, "final trials whose responses are averaged", 1},
    {"runs", SOMA_OPT_INT, "10", 1, 100000, NULL, "independent runs (seeds) per p", 1},
    TD_OPTS_TRIAL_,
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark landmarks_[] = {
    {"the CS response grows with reward probability p (1 = strictly increasing over p = 0, .25, .5, .75, 1)",
     "Fiorillo, Tobler & Schultz 2003", "https://doi.org/10.1126/science.1077349", "cs_increasing",
     SOMA_EXP_AT_LEAST, 1.0},
    {"the reward response shrinks as (1 - p) x reward: the largest deviation from it over p",
     "Fiorillo, Tobler & Schultz 2003", "https://doi.org/10.1126/science.1077349", "us_max_deviation",
     SOMA_EXP_AT_MOST, 0.05},
    {NULL, NULL, NULL, NULL, 0, 0},
};

static const char *const reduced_[] = {"--trials", "800", "--test-trials", "400", "--runs", "4", NULL};

static soma_status run_(soma_exp_ctx *c) {
    int trials, test_trials, runs;
    double reward, gamma;
    SOMA_TRY(soma_args_int(&c->args, "trials", &trials));
    SOMA_TRY(soma_args_int(&c->args, "test-trials", &test_trials));
    SOMA_TRY(soma_args_int(&c->args, "runs", &runs));
    SOMA_TRY(soma_args_double(&c->args, "reward", &reward));
    SOMA_TRY(soma_args_double(&c->args, "gamma", &gamma));
    if (test_trials > trials)
        return soma_error(SOMA_ERR_ARG, "--test-trials %d exceeds --trials %d", test_trials, trials);
    float cs[N_P_], us[N_P_], pf[N_P_], cs_td[N_P_], us_td[N_P_];
    soma_status st = SOMA_OK;
    soma_fig *f = NULL;
    double *delta = NULL, *tr = NULL; /* tr[2][N_P_][cols]: mean delta over trial time, rewarded / not */
    float *xs = NULL, *tx = NULL, *ty = NULL;
    long tn[2][N_P_] = {{0}};
    double us_obs[N_P_] = {0}, non_obs[N_P_] = {0};
    int isi = 0, cols = 0;
    SOMA_TRY(soma_args_int(&c->args, "isi", &isi));
    for (int pi = 0; pi < N_P_ && st == SOMA_OK; pi++) {
        double sum_cs = 0, sum_us = 0;
        long n = 0;
        for (int run = 0; run < runs && st == SOMA_OK; run++) {
            soma_env *env = NULL;
            soma_stimrep *rep = NULL;
            soma_td *td = NULL;
            int n_steps = 0;
            st = soma__exp_td_setup(&c->args, ps_[pi], &env, &rep, &td, &n_steps);
            int dim = st == SOMA_OK ? soma_stimrep_dim(rep) : 1;
            if (st == SOMA_OK && !delta) {
                cols = n_steps + 1;
                delta = soma_alloc((size_t)cols, sizeof(double));
                xs = soma_alloc((size_t)cols, (size_t)dim * sizeof(float));
                tr = soma_calloc((size_t)2 * N_P_ * cols, sizeof(double));
                tx = soma_alloc((size_t)cols, sizeof(float));
                ty = soma_alloc((size_t)cols, sizeof(float));
                if (!delta || !xs || !tr || !tx || !ty) st = soma_error(SOMA_ERR_NOMEM, "fiorillo2003: out of memory");
            }
            if (st == SOMA_OK) soma_env_seed(env, c->seed + 1000003ull * (uint64_t)(run * N_P_ + pi + 1));
            for (int k = 0; k < trials && st == SOMA_OK; k++) {
                int len;
                soma_trial_info ti;
                st = soma_td_run_trial(td, rep, env, 1, delta, xs, cols, &len);
                if (st == SOMA_OK) st = soma_env_conditioning_trial(env, &ti);
                if (st != SOMA_OK || k < trials - test_trials) continue;
                /* the responses under the weights after this trial: the CS's error (the pre-CS
                 * features predict nothing) and a delivered reward's */
                const float *xc = xs + (size_t)ti.cs_onset * dim, *xp = xc - dim;
                const float *xu = xs + (size_t)ti.us_time * dim, *xb = xu - dim;
                sum_cs += gamma * soma_td_value(td, xc) - soma_td_value(td, xp);
                double vu = ti.us_time >= n_steps ? 0.0 : soma_td_value(td, xu);
                sum_us += reward + gamma * vu - soma_td_value(td, xb);
                n++;
                /* what the trials themselves gave: the error over trial time, rewarded or not */
                int g = ti.us_given ? 0 : 1;
                double *row = tr + ((size_t)g * N_P_ + pi) * cols;
                for (int t = 0; t < len && t < cols; t++) row[t] += delta[t];
                tn[g][pi]++;
                if (g == 0) us_obs[pi] += delta[ti.us_time];
                else non_obs[pi] += delta[ti.us_time];
            }
            soma_td_free(td);
            soma_stimrep_free(rep);
            soma_env_free(env);
        }
        pf[pi] = (float)ps_[pi];
        cs[pi] = (float)(sum_cs / (double)(n > 0 ? n : 1));
        us[pi] = (float)(sum_us / (double)(n > 0 ? n : 1));
        cs_td[pi] = (float)(ps_[pi] * pow(gamma, isi) * reward);
        us_td[pi] = (float)((1.0 - ps_[pi]) * reward);
    }
    if (st != SOMA_OK) goto out;
    int increasing = 1;
    double dev = 0;
    for (int i = 0; i < N_P_; i++) {
        if (i > 0 && !(cs[i] > cs[i - 1])) increasing = 0;
        double d = fabs(us[i] - us_td[i]);
        dev = d > dev ? d : dev;
    }
    soma_exp_put_array(c, "p", pf, N_P_);
    soma_exp_put_array(c, "cs_response", cs, N_P_);
    soma_exp_put_array(c, "us_response", us, N_P_);
    soma_exp_put_array(c, "us_expected", us_td, N_P_);
    soma_exp_put(c, "cs_increasing", increasing);
    soma_exp_put(c, "us_max_deviation", dev);
    {
        /* observed on the test trials: the error at a delivered reward (p > 0) and at an
         * undelivered one (p < 1; TD expects -p x reward) */
        float uo[N_P_ - 1], no[N_P_ - 1];
        for (int i = 0; i < N_P_ - 1; i++) {
            uo[i] = (float)(us_obs[i + 1] / (double)(tn[0][i + 1] > 0 ? tn[0][i + 1] : 1));
            no[i] = (float)(non_obs[i] / (double)(tn[1][i] > 0 ? tn[1][i] : 1));
        }
        soma_exp_put_array(c, "us_observed", uo, N_P_ - 1);       /* p = .25, .5, .75, 1 */
        soma_exp_put_array(c, "nonreward_response", no, N_P_ - 1); /* p = 0, .25, .5, .75 */
    }
    soma_exp_put(c, "reward", reward);
    soma_exp_put(c, "gamma", gamma);
    snprintf(c->headline, sizeof c->headline,
             "CS response   p=0..1: %.3f %.3f %.3f %.3f %.3f (%s)\n"
             "reward resp.  p=0..1: %.3f %.3f %.3f %.3f %.3f (largest deviation from (1-p) x reward: %.3f)",
             cs[0], cs[1], cs[2], cs[3], cs[4], increasing ? "strictly increasing" : "NOT strictly increasing", us[0],
             us[1], us[2], us[3], us[4], dev);

    // --- figure: the two responses against p, beside TD's expectation
    if ((st = soma_fig_new(&f, 2, 2, 1000, 800)) != SOMA_OK) goto out;
    soma_fig_title(f, "Reward probability and the TD error (Fiorillo, Tobler & Schultz 2003)");
    soma_fig_labels(f, 0, "Response to the CS grows with p", "reward probability p", "prediction error");
    soma_line_style so = {1, 0, 1, 2.f}, se = {0x1000000 | 0x555555, 1, 0, 1.f};
    if ((st = soma_fig_line(f, 0, pf, cs, N_P_, "TD model", &so)) != SOMA_OK) goto out;
    if ((st = soma_fig_line(f, 0, pf, cs_td, N_P_, "p gamma^isi reward", &se)) != SOMA_OK) goto out;
    soma_fig_labels(f, 1, "Response to the reward shrinks as 1 - p", "reward probability p", "prediction error");
    if ((st = soma_fig_line(f, 1, pf, us, N_P_, "TD model", &so)) != SOMA_OK) goto out;
    if ((st = soma_fig_line(f, 1, pf, us_td, N_P_, "(1 - p) reward", &se)) != SOMA_OK) goto out;
    for (int g = 0; g < 2; g++) {
        soma_fig_labels(f, 2 + g, g == 0 ? "Rewarded trials: error over trial time" : "Unrewarded trials: error over trial time",
                        "time step", "prediction error");
        for (int i = 0; i < N_P_; i++) {
            if (tn[g][i] == 0) continue;
            for (int t = 0; t < cols; t++) {
                tx[t] = (float)t;
                ty[t] = (float)(tr[((size_t)g * N_P_ + i) * cols + t] / (double)tn[g][i]);
            }
            char lab[32];
            snprintf(lab, sizeof lab, "p = %.2f", ps_[i]);
            soma_line_style sl = {i + 1, 0, 0, 1.8f};
            if ((st = soma_fig_line(f, 2 + g, tx, ty, cols, lab, &sl)) != SOMA_OK) goto out;
        }
        soma_fig_ylim(f, 2 + g, -1.1 * reward, 1.1 * reward);
    }
    char path[1100];
    st = soma_fig_save(f, soma_exp_path(c, "fiorillo2003.svg", path, sizeof path));
out:
    soma_fig_free(f);
    soma_free(delta);
    soma_free(xs);
    soma_free(tr);
    soma_free(tx);
    soma_free(ty);
    return st;
}

const soma_experiment soma__exp_fiorillo2003 = {
    "fiorillo2003",
    "Reward probability p: the TD error at the CS grows with p and the error at the reward "
    "shrinks as 1 - p.",
    landmarks_,
    opts_,
    reduced_,
    run_,
    NULL, /* no check beyond the typed options */
};
