// TD learning as the dopamine signal: TD(lambda) against a chain computed by hand and against a
// NumPy loop (tests/ref/gen_rl_td.py), TD(lambda = 0) = TD(0), TD(0)'s known values on the
// random walk, the stimulus representations, the conditioning and bandit environments (timing,
// trial-kind frequencies, reward statistics, determinism by seed, bad configs), the bandit
// agents' known properties, and the headline figures of schultz1997 and fiorillo2003 reduced.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "json_util.h"
#include "soma/soma.h"

static char out_[256];

static soma_td *td_new_(int n, double alpha, double gamma, double lambda, soma_td_trace trace) {
    soma_td_config c = soma_td_defaults(n);
    c.alpha = alpha;
    c.gamma = gamma;
    c.lambda = lambda;
    c.trace = trace;
    soma_td *td = NULL;
    CHECK_OK(soma_td_new(&td, &c));
    return td;
}

/* One episode over one-hot states seq[0..n-1] (n-1 transitions, the last into a terminal),
 * reward r_end on the last transition. */
static void chain_episode_(soma_td *td, const int *seq, int n, int n_states, double r_end) {
    float x[8] = {0}, xn[8] = {0};
    soma_td_begin(td);
    for (int i = 0; i + 1 < n; i++) {
        memset(x, 0, sizeof x);
        memset(xn, 0, sizeof xn);
        x[seq[i]] = 1.f;
        int term = i + 2 == n;
        if (!term) xn[seq[i + 1]] = 1.f;
        (void)n_states;
        soma_td_step(td, x, term ? r_end : 0.0, xn, term, 1);
    }
}

// --- TD(lambda) on a chain, by hand -----------------------------------------------------------

static void test_chain_by_hand_(void) {
    /* Chain A -> B -> C -> terminal, reward 1 on the last step; one-hot features; alpha 0.5,
     * gamma 0.9, lambda 0.8 (gamma lambda = 0.72), accumulating traces, w = 0.
     * Episode 1: the first two errors are 0 (all values 0); at C -> T, e = [0.72^2, 0.72, 1] =
     *   [0.5184, 0.72, 1], delta = 1, so w = 0.5 e = [0.2592, 0.36, 0.5].
     * Episode 2 (traces cleared):
     *   A -> B: e = [1,0,0], delta = 0.9*0.36 - 0.2592 = 0.0648; w_A += 0.5*0.0648 -> 0.2916.
     *   B -> C: e = [0.72,1,0], delta = 0.9*0.5 - 0.36 = 0.09; w_A += 0.5*0.09*0.72 = 0.0324 ->
     *           0.324; w_B += 0.045 -> 0.405.
     *   C -> T: e = [0.5184,0.72,1], delta = 1 - 0.5 = 0.5; w_A += 0.25*0.5184 -> 0.4536;
     *           w_B += 0.25*0.72 -> 0.585; w_C += 0.25 -> 0.75. */
    soma_td *td = td_new_(3, 0.5, 0.9, 0.8, SOMA_TD_ACCUMULATE);
    if (!td) return;
    const int seq[4] = {0, 1, 2, -1};
    chain_episode_(td, seq, 4, 3, 1.0);
    const float w1[3] = {0.2592f, 0.36f, 0.5f}, w2[3] = {0.4536f, 0.585f, 0.75f};
    CHECK_CLOSE("chain episode 1", soma_td_weights(td), w1, 3, 1e-6f, 1e-5f);
    chain_episode_(td, seq, 4, 3, 1.0);
    CHECK_CLOSE("chain episode 2", soma_td_weights(td), w2, 3, 1e-6f, 1e-5f);
    /* the second episode's first error, from the weights of the first: 0.9*0.36 - 0.2592 */
    soma_td_free(td);

    /* A revisit: A -> A -> terminal, reward 1. Accumulating: at the second step e_A =
     * 0.72*1 + 1 = 1.72 and delta = 1, so w_A = 0.5*1.72 = 0.86. Replacing: e_A = max(0.72, 1)
     * = 1, w_A = 0.5. */
    const int loop[3] = {0, 0, -1};
    soma_td *acc = td_new_(1, 0.5, 0.9, 0.8, SOMA_TD_ACCUMULATE), *rep = td_new_(1, 0.5, 0.9, 0.8, SOMA_TD_REPLACE);
    if (!acc || !rep) return;
    chain_episode_(acc, loop, 3, 1, 1.0);
    chain_episode_(rep, loop, 3, 1, 1.0);
    CHECK(fabsf(soma_td_weights(acc)[0] - 0.86f) < 1e-6f);
    CHECK(fabsf(soma_td_weights(rep)[0] - 0.5f) < 1e-6f);
    /* learn = 0 returns the error and changes nothing: V(A) = 0.86, terminal, r = 1 */
    float x1[1] = {1.f};
    double d = soma_td_step(acc, x1, 1.0, x1, 1, 0);
    CHECK(fabs(d - (1.0 - 0.86)) < 1e-6);
    CHECK(fabsf(soma_td_weights(acc)[0] - 0.86f) < 1e-6f);
    soma_td_free(acc);
    soma_td_free(rep);
}

// --- TD(lambda) against the NumPy loop of tests/ref/gen_rl_td.py ------------------------------

static void test_random_walk_fixture_(void) {
    void *buf = NULL;
    size_t n = 0;
    CHECK_OK(soma_file_read(check_src_path("tests/fixtures/rl/td_random_walk.json"), 1 << 20, &buf, &n));
    if (!buf) return;
    cJSON *doc = cJSON_ParseWithLength(buf, n);
    soma_free(buf);
    CHECK(doc != NULL);
    if (!doc) return;
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(doc, "episodes");
    const cJSON *dense = cJSON_GetObjectItemCaseSensitive(doc, "dense");
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(doc, "cases");
    CHECK(cJSON_GetArraySize(eps) == 20 && cJSON_GetArraySize(dense) == 5 && cJSON_GetArraySize(cases) == 7);
    float fd[5][3], fo[5][5] = {{0}};
    for (int s = 0; s < 5; s++) {
        fo[s][s] = 1.f;
        for (int j = 0; j < 3; j++) fd[s][j] = (float)cJSON_GetArrayItem(cJSON_GetArrayItem(dense, s), j)->valuedouble;
    }
    const cJSON *cs;
    int n_cases = 0;
    cJSON_ArrayForEach(cs, cases) {
        int onehot = strcmp(cJSON_GetObjectItemCaseSensitive(cs, "features")->valuestring, "onehot") == 0;
        int nf = onehot ? 5 : 3;
        soma_td *td = td_new_(nf, cJSON_GetObjectItemCaseSensitive(cs, "alpha")->valuedouble,
                              cJSON_GetObjectItemCaseSensitive(cs, "gamma")->valuedouble,
                              cJSON_GetObjectItemCaseSensitive(cs, "lambda")->valuedouble,
                              cJSON_GetObjectItemCaseSensitive(cs, "replace")->valueint ? SOMA_TD_REPLACE
                                                                                        : SOMA_TD_ACCUMULATE);
        if (!td) break;
        const cJSON *ep;
        cJSON_ArrayForEach(ep, eps) {
            soma_td_begin(td);
            int len = cJSON_GetArraySize(ep);
            for (int i = 0; i + 1 < len; i++) {
                int s = cJSON_GetArrayItem(ep, i)->valueint, s2 = cJSON_GetArrayItem(ep, i + 1)->valueint;
                int term = s2 < 0 || s2 > 4;
                const float *x = onehot ? fo[s] : fd[s], *xn = term ? x : onehot ? fo[s2] : fd[s2];
                soma_td_step(td, x, s2 == 5 ? 1.0 : 0.0, xn, term, 1);
            }
        }
        float ref[5];
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(cs, "w");
        CHECK(cJSON_GetArraySize(w) == nf);
        for (int j = 0; j < nf; j++) ref[j] = (float)cJSON_GetArrayItem(w, j)->valuedouble;
        CHECK_CLOSE(cJSON_GetObjectItemCaseSensitive(cs, "name")->valuestring, soma_td_weights(td), ref, (size_t)nf,
                    1e-5f, 1e-4f);
        soma_td_free(td);
        n_cases++;
    }
    CHECK(n_cases == 7);
    cJSON_Delete(doc);
}

// --- TD(lambda = 0) is TD(0); TD(0) learns the random walk's values --------------------------

/* One random-walk episode from state 2 into seq (returns its length). */
static int walk_(soma_rng *r, int *seq) {
    int n = 0, s = 2;
    seq[n++] = s;
    while (s >= 0 && s <= 4 && n < 999) {
        s += soma_rng_uniform(r) < 0.5 ? -1 : 1;
        seq[n++] = s;
    }
    return n;
}

static void test_td0_(void) {
    soma_rng r;
    soma_rng_seed(&r, 11, 0);
    soma_td *td = td_new_(5, 0.05, 1.0, 0.0, SOMA_TD_ACCUMULATE), *tr = td_new_(5, 0.05, 1.0, 0.0, SOMA_TD_REPLACE);
    if (!td || !tr) return;
    double w0[5] = {0}; /* a plain TD(0) table: V(s) += alpha (r + V(s') - V(s)) */
    float eye[5][5] = {{0}};
    for (int s = 0; s < 5; s++) eye[s][s] = 1.f;
    int seq[1000];
    double sum[5] = {0};
    int counted = 0;
    for (int ep = 0; ep < 3000; ep++) {
        int n = walk_(&r, seq);
        soma_td_begin(td);
        soma_td_begin(tr);
        for (int i = 0; i + 1 < n; i++) {
            int s = seq[i], s2 = seq[i + 1], term = s2 < 0 || s2 > 4;
            double rw = s2 == 5 ? 1.0 : 0.0;
            soma_td_step(td, eye[s], rw, term ? eye[s] : eye[s2], term, 1);
            soma_td_step(tr, eye[s], rw, term ? eye[s] : eye[s2], term, 1);
            w0[s] += 0.05 * (rw + (term ? 0.0 : w0[s2]) - w0[s]);
        }
        if (ep >= 1000) {
            for (int s = 0; s < 5; s++) sum[s] += soma_td_weights(td)[s];
            counted++;
        }
    }
    float ref[5], mean[5];
    const float truth[5] = {1.f / 6, 2.f / 6, 3.f / 6, 4.f / 6, 5.f / 6};
    for (int s = 0; s < 5; s++) {
        ref[s] = (float)w0[s];
        mean[s] = (float)(sum[s] / counted);
    }
    CHECK_CLOSE("TD(lambda=0) accumulating = TD(0)", soma_td_weights(td), ref, 5, 1e-5f, 1e-4f);
    CHECK_CLOSE("TD(lambda=0) replacing = TD(0)", soma_td_weights(tr), ref, 5, 1e-5f, 1e-4f);
    /* Sutton & Barto example 6.2: the true values are 1/6 .. 5/6; the weights averaged over the
     * last 2000 episodes sit within 0.03 of them */
    CHECK_CLOSE("TD(0) random walk values", mean, truth, 5, 0.03f, 0.f);
    soma_td_free(td);
    soma_td_free(tr);
}

// --- stimulus representations -------------------------------------------------------------------

static void test_stimrep_(void) {
    soma_stimrep_config c = soma_stimrep_defaults(SOMA_STIMREP_CSC);
    c.n_steps = 6;
    soma_stimrep *s = NULL;
    CHECK_OK(soma_stimrep_new(&s, &c));
    if (!s) return;
    CHECK(soma_stimrep_dim(s) == 6);
    /* CS at time points 2..4, then off: features one-hot at steps-since-onset 0..5, zero before
     * onset and beyond the last feature */
    const float cs[9] = {0, 0, 1, 1, 1, 0, 0, 0, 0};
    const int want[9] = {-1, -1, 0, 1, 2, 3, 4, 5, -1};
    soma_stimrep_begin(s);
    for (int t = 0; t < 9; t++) {
        float obs[2] = {cs[t], 1.f /* the second entry is not represented */}, x[6];
        soma_stimrep_features(s, obs, x);
        int hot = -1, n_on = 0;
        for (int i = 0; i < 6; i++)
            if (x[i] != 0.f) {
                hot = i;
                n_on++;
            }
        CHECK(hot == want[t] && n_on == (want[t] >= 0));
    }
    soma_stimrep_free(s);

    /* microstimuli: decay 0.9, 10 basis functions of width 0.08: two steps after onset the trace
     * is y = 0.81, and microstimulus i = 8 (centre 0.8) is y N(y; 0.8, 0.08) with the unit-height
     * normal 1/sqrt(2 pi) exp(-z^2/2), z = 0.125: 0.81 * 0.398942 * 0.992218 = 0.3206285 */
    soma_stimrep_config m = soma_stimrep_defaults(SOMA_STIMREP_MICRO);
    CHECK(m.n_micro == 10 && fabs(m.decay - 0.9) < 1e-12 && fabs(m.sigma - 0.08) < 1e-12);
    CHECK_OK(soma_stimrep_new(&s, &m));
    if (!s) return;
    CHECK(soma_stimrep_dim(s) == 11);
    float x[11], obs[1] = {0.f};
    soma_stimrep_begin(s);
    soma_stimrep_features(s, obs, x);
    float zero[11] = {0};
    CHECK_CLOSE("micro before onset", x, zero, 11, 0.f, 0.f);
    obs[0] = 1.f;
    for (int t = 0; t < 3; t++) soma_stimrep_features(s, obs, x);
    CHECK(fabsf(x[7] - 0.3206285f) < 1e-5f);
    CHECK(x[10] == 1.f);                    /* the presence bit */
    CHECK(x[7] > x[6] && x[7] > x[8]);      /* the basis nearest the trace height peaks */
    obs[0] = 0.f;
    soma_stimrep_features(s, obs, x);       /* CS off: the trace goes on, the bit drops */
    CHECK(x[10] == 0.f && x[6] > x[7]);
    soma_stimrep_free(s);

    c.n_steps = 0;
    CHECK_FAILS(soma_stimrep_new(&s, &c), SOMA_ERR_ARG);
    m.decay = 1.0;
    CHECK_FAILS(soma_stimrep_new(&s, &m), SOMA_ERR_ARG);
    m = soma_stimrep_defaults(SOMA_STIMREP_MICRO);
    m.sigma = 0;
    CHECK_FAILS(soma_stimrep_new(&s, &m), SOMA_ERR_ARG);
}

// --- the conditioning environment ------------------------------------------------------------

static void test_conditioning_timing_(void) {
    soma_conditioning_config c = soma_conditioning_defaults();
    CHECK(c.n_steps == 25 && c.cs_onset == 5 && c.isi == 6 && c.reward == 1.0 && c.p_reward == 1.0);
    c.n_steps = 15;
    c.cs_onset = 3;
    c.isi = 4;
    c.reward = 2.5;
    soma_env *e = NULL;
    CHECK_OK(soma_env_conditioning_new(&e, &c));
    if (!e) return;
    CHECK(e->obs_dim == 2 && e->n_actions == 1 && e->n_states == 16 && e->max_steps == 15 && e->state == -1);
    CHECK_OK(soma_env_seed(e, 3));
    float obs[2];
    double r;
    int done = 0;
    CHECK_OK(soma_env_reset(e, obs));
    soma_trial_info ti;
    CHECK_OK(soma_env_conditioning_trial(e, &ti));
    CHECK(ti.kind == SOMA_TRIAL_NORMAL && ti.cs_onset == 3 && ti.us_time == 7 && ti.us_given == 1);
    CHECK(obs[0] == 0.f && obs[1] == 0.f && e->state == 0);
    /* time points 1..15: CS on at 3..7 (through the US), US at 7, reward on the step into 7,
     * terminal on the 15th step */
    for (int t = 1; t <= 15; t++) {
        CHECK_OK(soma_env_step(e, 0, obs, &r, &done));
        CHECK(obs[0] == ((t >= 3 && t <= 7) ? 1.f : 0.f));
        CHECK(obs[1] == (t == 7 ? 1.f : 0.f));
        CHECK(r == (t == 7 ? 2.5 : 0.0));
        CHECK(e->state == t);
        CHECK(done == (t == 15 ? SOMA_TERMINAL : SOMA_RUNNING));
    }
    CHECK_FAILS(soma_env_step(e, 0, obs, &r, &done), SOMA_ERR_ARG); /* after the end */
    CHECK_OK(soma_env_reset(e, obs));
    CHECK_FAILS(soma_env_step(e, 1, obs, &r, &done), SOMA_ERR_ARG); /* one action only */
    soma_env_free(e);

    /* a short CS (trace conditioning) and a forced omission: no US, no reward */
    c.cs_duration = 2;
    CHECK_OK(soma_env_conditioning_new(&e, &c));
    if (!e) return;
    CHECK_OK(soma_env_conditioning_force(e, SOMA_TRIAL_OMISSION));
    CHECK_OK(soma_env_reset(e, obs));
    double total = 0;
    int cs_steps = 0, us_steps = 0;
    for (int t = 1; t <= 15; t++) {
        CHECK_OK(soma_env_step(e, 0, obs, &r, &done));
        total += r;
        cs_steps += obs[0] > 0;
        us_steps += obs[1] > 0;
        if (obs[0] > 0) CHECK(t == 3 || t == 4);
    }
    CHECK(total == 0.0 && cs_steps == 2 && us_steps == 0);
    CHECK_OK(soma_env_conditioning_trial(e, &ti));
    CHECK(ti.kind == SOMA_TRIAL_OMISSION && ti.us_given == 0 && ti.us_time == 7);
    CHECK_FAILS(soma_env_conditioning_force(e, (soma_trial_kind)9), SOMA_ERR_ARG);
    soma_env_free(e);
}

/* Kind frequencies over many trials: within 4.5 standard errors of the configured ones. */
static void test_conditioning_frequencies_(void) {
    soma_conditioning_config c = soma_conditioning_defaults();
    c.p_omission = 0.2;
    c.p_probe = 0.1;
    c.p_reward = 0.6;
    c.cs_jitter = 3;
    soma_env *e = NULL;
    CHECK_OK(soma_env_conditioning_new(&e, &c));
    if (!e) return;
    soma_env_seed(e, 5);
    const int n = 20000;
    int kinds[SOMA_TRIAL_KIND_COUNT] = {0}, given = 0, onset[4] = {0}, bad = 0;
    float obs[2];
    double r;
    int done;
    for (int k = 0; k < n; k++) {
        soma_env_reset(e, obs);
        soma_trial_info ti;
        soma_env_conditioning_trial(e, &ti);
        kinds[ti.kind]++;
        given += ti.us_given;
        if (ti.cs_onset < 5 || ti.cs_onset > 8) bad++;
        else onset[ti.cs_onset - 5]++;
        if (ti.us_given && ti.kind != SOMA_TRIAL_NORMAL) bad++;
        double total = 0;
        do {
            soma_env_step(e, 0, obs, &r, &done);
            total += r;
        } while (done == SOMA_RUNNING);
        if (total != (ti.us_given ? 1.0 : 0.0)) bad++;
    }
    CHECK(bad == 0);
#define FREQ_OK_(count, p) (fabs((count) / (double)n - (p)) <= 4.5 * sqrt((p) * (1 - (p)) / n))
    CHECK(FREQ_OK_(kinds[SOMA_TRIAL_OMISSION], 0.2));
    CHECK(FREQ_OK_(kinds[SOMA_TRIAL_PROBE], 0.1));
    CHECK(FREQ_OK_(kinds[SOMA_TRIAL_NORMAL], 0.7));
    CHECK(FREQ_OK_(given, 0.7 * 0.6));
    for (int j = 0; j < 4; j++) CHECK(FREQ_OK_(onset[j], 0.25));
#undef FREQ_OK_
    soma_env_free(e);
}

static void test_conditioning_bad_(void) {
    soma_env *e = (soma_env *)&e; /* must come back NULL */
    soma_conditioning_config c = soma_conditioning_defaults();
    c.isi = 30; /* the US after the trial's end */
    CHECK_FAILS(soma_env_conditioning_new(&e, &c), SOMA_ERR_ARG);
    CHECK(e == NULL);
    c = soma_conditioning_defaults();
    c.cs_onset = 0;
    CHECK_FAILS(soma_env_conditioning_new(&e, &c), SOMA_ERR_ARG);
    c = soma_conditioning_defaults();
    c.p_reward = 1.5;
    CHECK_FAILS(soma_env_conditioning_new(&e, &c), SOMA_ERR_ARG);
    c = soma_conditioning_defaults();
    c.p_omission = 0.7;
    c.p_probe = 0.5;
    CHECK_FAILS(soma_env_conditioning_new(&e, &c), SOMA_ERR_ARG);
    c = soma_conditioning_defaults();
    c.reward = NAN;
    CHECK_FAILS(soma_env_conditioning_new(&e, &c), SOMA_ERR_ARG);
    c = soma_conditioning_defaults();
    c.n_steps = 1;
    CHECK_FAILS(soma_env_conditioning_new(&e, &c), SOMA_ERR_ARG);
    CHECK_FAILS(soma_env_conditioning_new(&e, NULL), SOMA_ERR_ARG);
    soma_trial_info ti;
    soma_bandit_config bc = soma_bandit_defaults();
    soma_env *b = NULL;
    CHECK_OK(soma_env_bandit_new(&b, &bc));
    CHECK_FAILS(soma_env_conditioning_trial(b, &ti), SOMA_ERR_ARG); /* not a conditioning env */
    soma_env_free(b);
}

/* The same seed gives the same trials; another seed, other ones. */
static void test_determinism_(void) {
    soma_conditioning_config c = soma_conditioning_defaults();
    c.p_reward = 0.5;
    c.p_omission = 0.1;
    c.cs_jitter = 5;
    uint64_t sig[3] = {0};
    const uint64_t seeds[3] = {42, 42, 43};
    for (int k = 0; k < 3; k++) {
        soma_env *e = NULL;
        CHECK_OK(soma_env_conditioning_new(&e, &c));
        if (!e) return;
        soma_env_seed(e, seeds[k]);
        float obs[2];
        for (int trial = 0; trial < 200; trial++) {
            soma_env_reset(e, obs);
            soma_trial_info ti;
            soma_env_conditioning_trial(e, &ti);
            sig[k] = sig[k] * 1000003u + (uint64_t)(ti.kind * 100 + ti.cs_onset * 2 + ti.us_given);
        }
        soma_env_free(e);
    }
    CHECK(sig[0] == sig[1] && sig[0] != sig[2]);

    soma_bandit_config bc = soma_bandit_defaults();
    bc.drift_sd = 0.01;
    double tot[3] = {0};
    for (int k = 0; k < 3; k++) {
        soma_env *e = NULL;
        CHECK_OK(soma_env_bandit_new(&e, &bc));
        if (!e) return;
        soma_env_seed(e, seeds[k]);
        float obs[1];
        double r;
        int done = 0;
        soma_env_reset(e, obs);
        for (int t = 0; t < 100; t++) {
            soma_env_step(e, t % 10, obs, &r, &done);
            tot[k] = tot[k] * 1.1 + r;
        }
        soma_env_free(e);
    }
    CHECK(tot[0] == tot[1] && tot[0] != tot[2]);
}

// --- the bandit environment -------------------------------------------------------------------

static void test_bandit_env_(void) {
    soma_bandit_config c = soma_bandit_defaults();
    CHECK(c.k == 10 && c.reward == SOMA_BANDIT_GAUSSIAN && c.reward_sd == 1.0 && c.drift_sd == 0.0 && c.steps == 1000);
    c.steps = 20000;
    soma_env *e = NULL;
    CHECK_OK(soma_env_bandit_new(&e, &c));
    if (!e) return;
    CHECK(e->n_actions == 10 && e->obs_dim == 1 && e->n_states == 1);
    soma_env_seed(e, 9);
    float obs[1];
    double r, q[10], q_after[10];
    int done = 0, best = -1;
    /* the true values over 500 resets: N(0, 1) */
    double s1 = 0, s2 = 0;
    for (int k = 0; k < 500; k++) {
        CHECK_OK(soma_env_reset(e, obs));
        CHECK_OK(soma_env_bandit_values(e, q, 10, &best));
        for (int a = 0; a < 10; a++) {
            s1 += q[a];
            s2 += q[a] * q[a];
            if (q[a] > q[best]) best = -2;
        }
    }
    CHECK(best >= 0);
    double m = s1 / 5000, var = s2 / 5000 - m * m;
    CHECK(fabs(m) < 4.5 / sqrt(5000.0) && fabs(var - 1) < 0.1);
    /* rewards of arm 3 over 20000 pulls: mean q*(3) and sd 1, stationary */
    double rs = 0, rs2 = 0;
    int step_errors = 0;
    for (int t = 0; t < 20000; t++) {
        step_errors += soma_env_step(e, 3, obs, &r, &done) != SOMA_OK;
        rs += r;
        rs2 += r * r;
    }
    CHECK(step_errors == 0 && done == SOMA_TRUNCATED);
    CHECK_OK(soma_env_bandit_values(e, q_after, 10, NULL));
    CHECK(memcmp(q, q_after, sizeof q) == 0);
    double rm = rs / 20000, rv = rs2 / 20000 - rm * rm;
    CHECK(fabs(rm - q[3]) < 4.5 / sqrt(20000.0) && fabs(rv - 1) < 0.05);
    soma_env_free(e);

    /* Bernoulli arms with drift: values in [0,1], rewards 0/1, and the values wander with
     * variance drift_sd^2 per step (while far from the bounds) */
    c.reward = SOMA_BANDIT_BERNOULLI;
    c.drift_sd = 0.001;
    c.k = 200;
    c.steps = 100;
    CHECK_OK(soma_env_bandit_new(&e, &c));
    if (!e) return;
    soma_env_seed(e, 10);
    double qb[200], qa[200];
    CHECK_OK(soma_env_reset(e, obs));
    CHECK_OK(soma_env_bandit_values(e, qb, 200, NULL));
    int bin = 1;
    for (int t = 0; t < 100; t++) {
        soma_env_step(e, t % 200, obs, &r, &done);
        bin &= r == 0.0 || r == 1.0;
    }
    CHECK(bin);
    CHECK_OK(soma_env_bandit_values(e, qa, 200, NULL));
    double dv = 0;
    int nd = 0, in01 = 1;
    for (int a = 0; a < 200; a++) {
        in01 &= qa[a] >= 0 && qa[a] <= 1;
        if (qb[a] > 0.05 && qb[a] < 0.95) {
            dv += (qa[a] - qb[a]) * (qa[a] - qb[a]);
            nd++;
        }
    }
    CHECK(in01 && nd > 100);
    dv /= nd; /* expected 100 * 1e-6 = 1e-4 */
    CHECK(dv > 0.6e-4 && dv < 1.5e-4);
    soma_env_free(e);

    c = soma_bandit_defaults();
    c.k = 0;
    CHECK_FAILS(soma_env_bandit_new(&e, &c), SOMA_ERR_ARG);
    c = soma_bandit_defaults();
    c.drift_sd = -1;
    CHECK_FAILS(soma_env_bandit_new(&e, &c), SOMA_ERR_ARG);
    c = soma_bandit_defaults();
    c.steps = 0;
    CHECK_FAILS(soma_env_bandit_new(&e, &c), SOMA_ERR_ARG);
    c = soma_bandit_defaults();
    c.reward = (soma_bandit_reward)7;
    CHECK_FAILS(soma_env_bandit_new(&e, &c), SOMA_ERR_ARG);
}

// --- bandit agents ---------------------------------------------------------------------------

/* Average reward and fraction of optimal actions at each step, over runs of the 10-armed
 * testbed (Sutton & Barto section 2.3), for one agent configuration. */
static void testbed_(const soma_bandit_agent_config *ac, double q_shift, int runs, int steps, double *late_reward,
                     double *late_optimal) {
    soma_bandit_config bc = soma_bandit_defaults();
    bc.steps = steps;
    soma_env *e = NULL;
    soma_bandit_agent *a = NULL;
    CHECK_OK(soma_env_bandit_new(&e, &bc));
    CHECK_OK(soma_bandit_agent_new(&a, ac));
    *late_reward = *late_optimal = 0;
    if (!e || !a) goto out;
    soma_env_seed(e, 2024);
    soma_rng rng;
    soma_rng_seed(&rng, 77, 0);
    long n_late = 0;
    for (int run = 0; run < runs; run++) {
        float obs[1];
        double q[10], r;
        int best, done = 0;
        soma_env_reset(e, obs);
        soma_env_bandit_values(e, q, 10, &best);
        soma_bandit_agent_reset(a);
        for (int t = 0; t < steps; t++) {
            int act = soma_bandit_agent_act(a, &rng);
            soma_env_step(e, act, obs, &r, &done);
            soma_bandit_agent_update(a, act, r + q_shift);
            if (t >= steps / 2) {
                *late_reward += r + q_shift;
                *late_optimal += act == best;
                n_late++;
            }
        }
    }
    *late_reward /= (double)n_late;
    *late_optimal /= (double)n_late;
out:
    soma_bandit_agent_free(a);
    soma_env_free(e);
}

static void test_bandit_agents_(void) {
    soma_rng rng;
    soma_rng_seed(&rng, 1, 0);
    /* UCB tries every arm once before anything else */
    soma_bandit_agent_config uc = soma_bandit_agent_defaults(SOMA_BANDIT_UCB, 5);
    soma_bandit_agent *a = NULL;
    CHECK_OK(soma_bandit_agent_new(&a, &uc));
    if (!a) return;
    int seen = 0;
    for (int t = 0; t < 5; t++) {
        int act = soma_bandit_agent_act(a, &rng);
        seen |= 1 << act;
        soma_bandit_agent_update(a, act, act == 2 ? 1.0 : 0.0);
    }
    CHECK(seen == 31);
    soma_bandit_agent_free(a);

    /* greedy (epsilon 0) with sample averages: the estimates are the arms' reward means, and it
     * then picks the arm with the larger mean */
    soma_bandit_agent_config gc = soma_bandit_agent_defaults(SOMA_BANDIT_EGREEDY, 3);
    gc.epsilon = 0;
    CHECK_OK(soma_bandit_agent_new(&a, &gc));
    if (!a) return;
    soma_bandit_agent_update(a, 0, 1.0);
    soma_bandit_agent_update(a, 0, 2.0);
    soma_bandit_agent_update(a, 1, 3.0);
    soma_bandit_agent_update(a, 1, -2.0);
    soma_bandit_agent_update(a, 2, -1.0);
    const double *v = soma_bandit_agent_values(a);
    CHECK(v[0] == 1.5 && v[1] == 0.5 && v[2] == -1.0);
    int all0 = 1;
    for (int t = 0; t < 50; t++) all0 &= soma_bandit_agent_act(a, &rng) == 0;
    CHECK(all0);
    soma_bandit_agent_free(a);

    /* constant step alpha: the exponential recency-weighted average, Q = (1-a)^2 Q0 + ... */
    gc.alpha = 0.5;
    gc.q0 = 4.0;
    CHECK_OK(soma_bandit_agent_new(&a, &gc));
    if (!a) return;
    soma_bandit_agent_update(a, 1, 2.0); /* 4 + 0.5 (2 - 4) = 3 */
    soma_bandit_agent_update(a, 1, 0.0); /* 3 + 0.5 (0 - 3) = 1.5 */
    CHECK(soma_bandit_agent_values(a)[1] == 1.5 && soma_bandit_agent_values(a)[0] == 4.0);
    soma_bandit_agent_free(a);

    /* gradient bandit, 2 arms, alpha 0.5, baseline: first reward 1 with baseline 0:
     * H0 += 0.5 (1)(1 - 0.5) = 0.25, H1 -= 0.25, pi0 = 1/(1 + e^-0.5) = 0.6224593 */
    soma_bandit_agent_config pc = soma_bandit_agent_defaults(SOMA_BANDIT_GRADIENT, 2);
    pc.alpha = 0.5;
    CHECK_OK(soma_bandit_agent_new(&a, &pc));
    if (!a) return;
    soma_bandit_agent_update(a, 0, 1.0);
    v = soma_bandit_agent_values(a);
    CHECK(fabs(v[0] - 0.6224593) < 1e-6 && fabs(v[0] + v[1] - 1.0) < 1e-12);
    /* a second reward 1 equals the baseline (mean 1): nothing changes */
    soma_bandit_agent_update(a, 1, 1.0);
    CHECK(fabs(v[0] - 0.6224593) < 1e-6);
    soma_bandit_agent_free(a);

    /* the 10-armed testbed (200 runs x 1000 steps; second-half averages): epsilon 0.1 beats
     * greedy in optimal actions; UCB (c = 2) beats epsilon-greedy in reward (Sutton & Barto
     * figures 2.2, 2.4); the gradient bandit with a baseline beats it without one when the
     * true values are shifted by +4 (figure 2.5). */
    double r_eps, o_eps, r_greedy, o_greedy, r_ucb, o_ucb, r_gb, o_gb, r_gn, o_gn;
    soma_bandit_agent_config ec = soma_bandit_agent_defaults(SOMA_BANDIT_EGREEDY, 10);
    testbed_(&ec, 0, 200, 1000, &r_eps, &o_eps);
    ec.epsilon = 0;
    testbed_(&ec, 0, 200, 1000, &r_greedy, &o_greedy);
    uc = soma_bandit_agent_defaults(SOMA_BANDIT_UCB, 10);
    testbed_(&uc, 0, 200, 1000, &r_ucb, &o_ucb);
    pc = soma_bandit_agent_defaults(SOMA_BANDIT_GRADIENT, 10);
    testbed_(&pc, 4, 200, 1000, &r_gb, &o_gb);
    pc.baseline = 0;
    testbed_(&pc, 4, 200, 1000, &r_gn, &o_gn);
    printf("testbed (steps 500-1000): eps0.1 reward %.3f optimal %.3f | greedy %.3f %.3f | UCB %.3f %.3f | "
           "gradient+baseline optimal %.3f, without %.3f\n",
           r_eps, o_eps, r_greedy, o_greedy, r_ucb, o_ucb, o_gb, o_gn);
    CHECK(o_eps > o_greedy + 0.2 && r_eps > r_greedy);
    CHECK(r_eps > 1.2 && r_eps < 1.55);
    CHECK(r_ucb > r_eps);
    CHECK(o_gb > o_gn + 0.2);

    soma_bandit_agent_config bad = soma_bandit_agent_defaults(SOMA_BANDIT_EGREEDY, 10);
    bad.epsilon = 2;
    CHECK_FAILS(soma_bandit_agent_new(&a, &bad), SOMA_ERR_ARG);
    bad = soma_bandit_agent_defaults(SOMA_BANDIT_GRADIENT, 10);
    bad.alpha = 0;
    CHECK_FAILS(soma_bandit_agent_new(&a, &bad), SOMA_ERR_ARG);
    bad = soma_bandit_agent_defaults(SOMA_BANDIT_UCB, 0);
    CHECK_FAILS(soma_bandit_agent_new(&a, &bad), SOMA_ERR_ARG);
}

static void test_td_bad_(void) {
    soma_td *td = NULL;
    soma_td_config c = soma_td_defaults(0);
    CHECK_FAILS(soma_td_new(&td, &c), SOMA_ERR_ARG);
    c = soma_td_defaults(3);
    c.alpha = 0;
    CHECK_FAILS(soma_td_new(&td, &c), SOMA_ERR_ARG);
    c = soma_td_defaults(3);
    c.gamma = 1.5;
    CHECK_FAILS(soma_td_new(&td, &c), SOMA_ERR_ARG);
    c = soma_td_defaults(3);
    c.lambda = NAN;
    CHECK_FAILS(soma_td_new(&td, &c), SOMA_ERR_ARG);
    c = soma_td_defaults(3);
    c.trace = (soma_td_trace)5;
    CHECK_FAILS(soma_td_new(&td, &c), SOMA_ERR_ARG);
    CHECK(td == NULL);
}

// --- the experiments' headline figures, reduced ---------------------------------------------

static const cJSON *run_exp_(const char *name, int argc, const char **argv, cJSON **root) {
    const soma_experiment *e = soma_exp_find(name);
    CHECK(e != NULL);
    *root = NULL;
    if (!e) return NULL;
    CHECK_OK(soma_exp_run_reduced(e, argc, argv, out_, root));
    return *root ? cJSON_GetObjectItemCaseSensitive(*root, "ours") : NULL;
}

static void test_schultz1997_(void) {
    cJSON *root;
    const cJSON *o = run_exp_("schultz1997", 0, NULL, &root);
    if (!o) return;
    double first = num_(o, "rpe_us_first"), fin = num_(o, "rpe_us_final"), cs = num_(o, "rpe_cs_final");
    double om = num_(o, "rpe_omission"), r = num_(o, "reward"), g = num_(o, "gamma");
    printf("schultz1997 reduced: us first %.4f final %.4g, cs %.4f, omission %.4f\n", first, fin, cs, om);
    CHECK(r == 1.0 && fabs(g - 0.98) < 1e-12);
    CHECK(fabs(first - r) < 1e-9);                       /* nothing predicted yet */
    CHECK(fabs(fin) <= 0.05 * fabs(first));
    CHECK(cs >= 0.8 * pow(g, 6) * r && cs <= pow(g, 6) * r + 1e-6);
    CHECK(om <= -0.8 * r);
    cJSON_Delete(root);
    /* no learning at all (alpha tiny): the reward is still a surprise, the CS is not */
    const char *args[] = {"--alpha", "0.000001"};
    o = run_exp_("schultz1997", 2, args, &root);
    if (!o) return;
    CHECK(num_(o, "rpe_us_final") > 0.99 && num_(o, "rpe_cs_final") < 0.01);
    cJSON_Delete(root);
    /* microstimuli (Ludvig et al. 2008) with a finer basis: the same three panels, from a
     * representation with no feature per time step */
    const char *micro[] = {"--repr", "micro", "--n-micro", "20", "--sigma", "0.05", "--decay", "0.85",
                           "--alpha", "0.3", "--trials", "1000"};
    o = run_exp_("schultz1997", 12, micro, &root);
    if (!o) return;
    printf("schultz1997 micro: us final %.4f, cs %.4f, omission %.4f\n", num_(o, "rpe_us_final"),
           num_(o, "rpe_cs_final"), num_(o, "rpe_omission"));
    CHECK(num_(o, "us_final_over_first") <= 0.05 && num_(o, "cs_over_discounted") >= 0.8 &&
          num_(o, "omission_over_reward") <= -0.8);
    cJSON_Delete(root);
    /* a US past the end of the trial is refused */
    const char *bad[] = {"--isi", "30"};
    const soma_experiment *e = soma_exp_find("schultz1997");
    if (e) CHECK_FAILS(soma_exp_run_reduced(e, 2, bad, out_, NULL), SOMA_ERR_ARG);
}

static void test_fiorillo2003_(void) {
    cJSON *root;
    const cJSON *o = run_exp_("fiorillo2003", 0, NULL, &root);
    if (!o) return;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "p"), *cs = cJSON_GetObjectItemCaseSensitive(o, "cs_response"),
                *us = cJSON_GetObjectItemCaseSensitive(o, "us_response");
    CHECK(cJSON_GetArraySize(p) == 5 && cJSON_GetArraySize(cs) == 5 && cJSON_GetArraySize(us) == 5);
    double r = num_(o, "reward");
    for (int i = 0; i < 5 && cJSON_GetArraySize(us) == 5; i++) {
        double pi = cJSON_GetArrayItem(p, i)->valuedouble, c = cJSON_GetArrayItem(cs, i)->valuedouble;
        double u = cJSON_GetArrayItem(us, i)->valuedouble;
        printf("fiorillo2003 reduced: p %.2f cs %.4f us %.4f\n", pi, c, u);
        CHECK(fabs(pi - 0.25 * i) < 1e-6);
        CHECK(fabs(u - (1 - pi) * r) <= 0.05);
        if (i > 0) CHECK(c > cJSON_GetArrayItem(cs, i - 1)->valuedouble);
    }
    /* what the trials gave: a delivered reward (1 - p) r, a withheld one -p r (p = .25 .. 1 and
     * p = 0 .. .75 respectively) */
    const cJSON *uo = cJSON_GetObjectItemCaseSensitive(o, "us_observed"),
                *no = cJSON_GetObjectItemCaseSensitive(o, "nonreward_response");
    CHECK(cJSON_GetArraySize(uo) == 4 && cJSON_GetArraySize(no) == 4);
    for (int i = 0; i < 4 && cJSON_GetArraySize(uo) == 4 && cJSON_GetArraySize(no) == 4; i++) {
        CHECK(fabs(cJSON_GetArrayItem(uo, i)->valuedouble - (0.75 - 0.25 * i) * r) <= 0.05);
        CHECK(fabs(cJSON_GetArrayItem(no, i)->valuedouble + 0.25 * i * r) <= 0.05);
    }
    cJSON_Delete(root);
}

int main(void) {
    snprintf(out_, sizeof out_, "/tmp/soma-test-rl-td-%d", (int)getpid());
    test_chain_by_hand_();
    test_random_walk_fixture_();
    test_td0_();
    test_td_bad_();
    test_stimrep_();
    test_conditioning_timing_();
    test_conditioning_frequencies_();
    test_conditioning_bad_();
    test_determinism_();
    test_bandit_env_();
    test_bandit_agents_();
    test_schultz1997_();
    test_fiorillo2003_();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", out_);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", out_);
    return check_report("test_rl_td");
}
