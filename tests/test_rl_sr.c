// The successor representation and prioritized replay (src/rl/sr.c, src/rl/replay.c):
// the closed form against NumPy's inverse (tests/ref/gen_rl_sr.py), the power series sum_t gamma^t T^t and against a hand-derived
// chain, TD learning converging to it, M r against value iteration, gain and need of a
// hand-worked 3-state case, replay direction counting, determinism by seed, and the
// headlines of the reduced sr-gridworld and replay-mattar-daw runs.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fixture.h"
#include "scratch.h"
#include "soma/exp.h"
#include "soma/rl.h"

static double maxdiff_(const double *a, const double *b, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

/* Random walk on a ring of n states: left or right with probability 1/2. */
static void ring_(double *T, int n) {
    memset(T, 0, (size_t)n * n * sizeof(double));
    for (int i = 0; i < n; i++) {
        T[(size_t)i * n + (i + 1) % n] += 0.5;
        T[(size_t)i * n + (i + n - 1) % n] += 0.5;
    }
}

/* Random walk on a track of n states, biased rightward (p), bumping at the ends. */
static void track_(double *T, int n, double p) {
    memset(T, 0, (size_t)n * n * sizeof(double));
    for (int i = 0; i < n; i++) {
        T[(size_t)i * n + (i + 1 < n ? i + 1 : i)] += p;
        T[(size_t)i * n + (i > 0 ? i - 1 : i)] += 1 - p;
    }
}

/* sum_t gamma^t T^t by the series, to 1e-14: an independent computation of (I - gamma T)^-1. */
static void series_(double *S, const double *T, int n, double gamma) {
    size_t nn = (size_t)n * n;
    double *P = calloc(nn, sizeof(double)), *Q = calloc(nn, sizeof(double));
    memset(S, 0, nn * sizeof(double));
    for (int i = 0; i < n; i++) P[(size_t)i * n + i] = 1.0;
    double g = 1.0;
    for (int t = 0; g > 1e-15; t++) {
        for (size_t k = 0; k < nn; k++) S[k] += g * P[k];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double acc = 0.0;
                for (int l = 0; l < n; l++) acc += P[(size_t)i * n + l] * T[(size_t)l * n + j];
                Q[(size_t)i * n + j] = acc;
            }
        memcpy(P, Q, nn * sizeof(double));
        g *= gamma;
    }
    free(P);
    free(Q);
}

/* The closed form and M r against NumPy's LAPACK inverse (tests/ref/gen_rl_sr.py). */
static void test_numpy_fixture_(void) {
    const char *names[] = {"sr_ring", "sr_track", "sr_field"};
    for (int c = 0; c < 3; c++) {
        char rel[128];
        snprintf(rel, sizeof rel, "tests/fixtures/rl/%s.bin", names[c]);
        static fixture f;
        if (fixture_load(check_src_path(rel), &f) != 0) {
            CHECK(0);
            continue;
        }
        const fixture_array *T = fixture_get(&f, "T"), *g = fixture_get(&f, "gamma"), *M = fixture_get(&f, "M");
        const fixture_array *r = fixture_get(&f, "r"), *v = fixture_get(&f, "v");
        CHECK(T && g && M && r && v);
        if (!T || !g || !M || !r || !v) {
            fixture_free(&f);
            continue;
        }
        int n = T->dims[0];
        size_t nn = (size_t)n * n;
        double *Td = malloc(nn * sizeof(double)), *Md = malloc(nn * sizeof(double)), *W = malloc(nn * sizeof(double));
        double *rd = malloc((size_t)n * sizeof(double)), *vd = malloc((size_t)n * sizeof(double));
        float *Mf = malloc(nn * sizeof(float)), *vf = malloc((size_t)n * sizeof(float));
        for (size_t k = 0; k < nn; k++) Td[k] = T->data[k];
        for (int i = 0; i < n; i++) rd[i] = r->data[i];
        CHECK_OK(soma_sr_closed_form(Md, Td, n, g->data[0], W));
        soma_sr_value(vd, Md, rd, n);
        for (size_t k = 0; k < nn; k++) Mf[k] = (float)Md[k];
        for (int i = 0; i < n; i++) vf[i] = (float)vd[i];
        CHECK_CLOSE(names[c], Mf, M->data, nn, 1e-5f, 1e-4f);
        CHECK_CLOSE(names[c], vf, v->data, (size_t)n, 1e-5f, 1e-4f);
        free(Td), free(Md), free(W), free(rd), free(vd), free(Mf), free(vf);
        fixture_free(&f);
    }
}

static void test_closed_form_(void) {
    enum { N = 9 };
    double T[N * N], M[N * N], S[N * N], W[N * N];
    const double gammas[] = {0.0, 0.5, 0.9, 0.95};
    for (int gi = 0; gi < 4; gi++) {
        ring_(T, N);
        CHECK_OK(soma_sr_closed_form(M, T, N, gammas[gi], W));
        series_(S, T, N, gammas[gi]);
        CHECK(maxdiff_(M, S, N * N) < 1e-9);
        track_(T, N, 0.8);
        CHECK_OK(soma_sr_closed_form(M, T, N, gammas[gi], W));
        series_(S, T, N, gammas[gi]);
        CHECK(maxdiff_(M, S, N * N) < 1e-9);
    }
    /* A deterministic chain 0 -> 1 -> ... -> N-1 that ends there: M[i,j] = gamma^(j-i), j >= i. */
    memset(T, 0, sizeof T);
    for (int i = 0; i + 1 < N; i++) T[i * N + i + 1] = 1.0;
    CHECK_OK(soma_sr_closed_form(M, T, N, 0.9, W));
    double worst = 0.0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) worst = fmax(worst, fabs(M[i * N + j] - (j >= i ? pow(0.9, j - i) : 0.0)));
    CHECK(worst < 1e-12);
    /* bad input */
    CHECK_FAILS(soma_sr_closed_form(M, T, N, 1.0, W), SOMA_ERR_ARG);
    CHECK_FAILS(soma_sr_closed_form(M, T, 0, 0.5, W), SOMA_ERR_ARG);
    T[0] = 0.5; /* row 0 sums to 1.5 */
    CHECK_FAILS(soma_sr_closed_form(M, T, N, 0.5, W), SOMA_ERR_ARG);
    T[0] = -0.1;
    CHECK_FAILS(soma_sr_closed_form(M, T, N, 0.5, W), SOMA_ERR_ARG);
}

/* The transition matrix of a policy on a deterministic model, episode ends restarting. */
static void test_policy_T_(void) {
    /* 3 states on a track, actions left/right, state 2 ends the episode and restarts at 0 */
    const int next[] = {0, 1, 0, 2, 1, 2};
    const double pi[] = {0.25, 0.75, 0.5, 0.5, 0.5, 0.5};
    const unsigned char term[] = {0, 0, 1};
    double T[9];
    CHECK_OK(soma_sr_policy_T(T, next, pi, term, 3, 2, 0));
    const double want[9] = {0.25, 0.75, 0, 0.5, 0, 0.5, 1, 0, 0};
    CHECK(maxdiff_(T, want, 9) == 0.0);
    CHECK_OK(soma_sr_policy_T(T, next, pi, term, 3, 2, -1));
    CHECK(T[6] == 0.0 && T[7] == 0.0 && T[8] == 0.0);
    const int bad[] = {0, 1, 0, 3, 1, 2};
    CHECK_FAILS(soma_sr_policy_T(T, bad, pi, term, 3, 2, 0), SOMA_ERR_ARG);
    CHECK_FAILS(soma_sr_policy_T(T, next, pi, term, 3, 2, 3), SOMA_ERR_ARG);
}

/* TD learning of the SR along a sampled random walk converges to the closed form. */
static void test_td_(void) {
    enum { N = 7 };
    double T[N * N], M[N * N], W[N * N], L[N * N];
    const double gamma = 0.8;
    ring_(T, N);
    CHECK_OK(soma_sr_closed_form(M, T, N, gamma, W));
    memset(L, 0, sizeof L);
    soma_rng rng;
    soma_rng_seed(&rng, 3, 0);
    long visits[N] = {0};
    int s = 0;
    double err_early = 0.0;
    for (long t = 0; t < 400000; t++) {
        int s2 = soma_rng_bernoulli(&rng, 0.5) ? (s + 1) % N : (s + N - 1) % N;
        visits[s]++;
        double alpha = fmax(0.002, 1.0 / (1.0 + 0.05 * (double)visits[s]));
        soma_sr_td_update(L, N, s, s2, alpha, gamma);
        s = s2;
        if (t == 200) err_early = maxdiff_(L, M, N * N);
    }
    double err = maxdiff_(L, M, N * N);
    printf("td: max |M_td - M| %.4f after 200 steps, %.4f after 400000 (max M %.3f)\n", err_early, err, M[0]);
    CHECK(err < 0.05 * M[0]);
    CHECK(err < 0.2 * err_early);
    /* a deterministic chain: TD with alpha 1 visiting states backward gives the closed form exactly */
    memset(T, 0, sizeof T);
    for (int i = 0; i + 1 < N; i++) T[i * N + i + 1] = 1.0;
    CHECK_OK(soma_sr_closed_form(M, T, N, gamma, W));
    memset(L, 0, sizeof L);
    soma_sr_td_update(L, N, N - 1, -1, 1.0, gamma);
    for (int i = N - 2; i >= 0; i--) soma_sr_td_update(L, N, i, i + 1, 1.0, gamma);
    CHECK(maxdiff_(L, M, N * N) < 1e-12);
}

/* v = M r against value iteration v <- r + gamma T v. */
static void test_value_(void) {
    enum { N = 8 };
    double T[N * N], M[N * N], W[N * N], r[N], v[N], vi[N] = {0}, tmp[N];
    const double gamma = 0.9;
    track_(T, N, 0.7);
    for (int i = 0; i < N; i++) r[i] = (i == N - 1) ? 1.0 : (i == 2 ? -0.5 : 0.0);
    CHECK_OK(soma_sr_closed_form(M, T, N, gamma, W));
    soma_sr_value(v, M, r, N);
    for (int it = 0; it < 2000; it++) {
        for (int i = 0; i < N; i++) {
            double acc = r[i];
            for (int j = 0; j < N; j++) acc += gamma * T[i * N + j] * vi[j];
            tmp[i] = acc;
        }
        memcpy(vi, tmp, sizeof vi);
    }
    CHECK(maxdiff_(v, vi, N) < 1e-9);
}

/* Gain and need of a hand-worked 3-state case. */
static void test_gain_need_(void) {
    /* softmax(beta=1) of [0, 0] is [.5, .5]; after Q(s,1) <- 1 it is [1/(1+e), e/(1+e)]:
     * gain = (e/(1+e) - 1/2) * 1 = 0.2310586 */
    const double q0[2] = {0.0, 0.0};
    double g = soma_evb_gain(q0, 2, 1, 1.0, 1.0);
    CHECK(fabs(g - (exp(1.0) / (1.0 + exp(1.0)) - 0.5)) < 1e-12);
    CHECK(fabs(g - 0.2310586) < 1e-6);
    /* a backup that leaves the values as they are gains nothing; one that lowers a
     * non-preferred action barely changes the policy and gains little, but not zero */
    const double q1[2] = {1.0, 0.0};
    CHECK(soma_evb_gain(q1, 2, 0, 1.0, 5.0) == 0.0);
    double g2 = soma_evb_gain(q1, 2, 1, -1.0, 1.0);
    /* pi_old = [e/(1+e), 1/(1+e)], pi_new = [e^2/(1+e^2), 1/(1+e^2)] on values [1, -1] */
    double po0 = exp(1.0) / (1 + exp(1.0)), pn0 = exp(2.0) / (1 + exp(2.0));
    CHECK(fabs(g2 - ((pn0 - po0) * 1.0 + ((1 - pn0) - (1 - po0)) * -1.0)) < 1e-12);
    /* need: the chain 0 -> 1 -> 2, which ends and restarts at 0, gamma 1/2:
     * M[0,:] = [1, 1/2, 1/4] / (1 - 1/8) */
    const int next[] = {1, 2, 0};
    const double pi[] = {1, 1, 1};
    const unsigned char term[] = {0, 0, 1};
    double T[9], M[9], W[9];
    CHECK_OK(soma_sr_policy_T(T, next, pi, term, 3, 1, 0));
    CHECK_OK(soma_sr_closed_form(M, T, 3, 0.5, W));
    const double want[3] = {8.0 / 7, 4.0 / 7, 2.0 / 7};
    CHECK(maxdiff_(M, want, 3) < 1e-12);

    /* The agent on the same 3-state track (actions left, right; state 2 ends with reward 1):
     * after one run 0 -> 1 -> 2 with alpha 1, Q(1,right) = 1 and Q(0,right) = 0 (learned
     * before Q(1) had value). With the agent at 2 the only backup with gain is (0, right) ->
     * gamma; its EVB is gain x need(0) = (softmax gain) x 4/7 ... and it is what gets replayed. */
    soma_evb_config c = {3, 2, 0, 0.5, 1.0, 1.0, 1e-9, 4, 1};
    soma_evb *r = NULL;
    CHECK_OK(soma_evb_new(&r, &c));
    if (!r) return;
    CHECK_OK(soma_evb_observe(r, 0, 1, 0.0, 1, SOMA_RUNNING));
    CHECK_OK(soma_evb_observe(r, 1, 1, 1.0, 2, SOMA_TERMINAL));
    const double *q = soma_evb_q(r);
    CHECK(q[1] == 0.0 && q[3] == 1.0);
    soma_evb_event ev[8];
    int ne = -1;
    CHECK_OK(soma_evb_plan(r, 2, ev, 8, &ne));
    CHECK(ne == 1);
    CHECK(ne >= 1 && ev[0].s == 0 && ev[0].a == 1 && ev[0].s_next == 1);
    CHECK(q[1] == 0.5);
    /* planning again finds nothing left to gain */
    CHECK_OK(soma_evb_plan(r, 2, ev, 8, &ne));
    CHECK(ne == 0);
    soma_evb_free(r);
    c.gamma = 1.0;
    CHECK_FAILS(soma_evb_new(&r, &c), SOMA_ERR_ARG);
    c.gamma = 0.5;
    c.n_step_max = 0;
    CHECK_FAILS(soma_evb_new(&r, &c), SOMA_ERR_ARG);
}

/* The agent on a 6-state track driven by a seeded stream: the same seed gives the same
 * actions, values and replays bit for bit; another seed gives another walk. Also: a plan
 * stops when the event buffer is full. */
static int agent_walk_(uint64_t seed, double *q_out, long *n_events, int cap) {
    soma_evb_config c = {6, 2, 0, 0.9, 1.0, 5.0, 1e-9, 20, 6};
    soma_evb *r = NULL;
    if (soma_evb_new(&r, &c) != SOMA_OK) return -1;
    soma_rng rng;
    soma_rng_seed(&rng, seed, 0);
    soma_evb_event ev[200];
    int steps = 0, ne;
    *n_events = 0;
    for (int e = 0; e < 10; e++) {
        int s = 0;
        if (soma_evb_plan(r, s, ev, cap, &ne) != SOMA_OK || ne > cap) return -1;
        *n_events += ne;
        while (s != 5) {
            int a = soma_evb_act(r, s, &rng), s2 = a == 1 ? s + 1 : (s > 0 ? s - 1 : 0);
            if (soma_evb_observe(r, s, a, s2 == 5 ? 1.0 : 0.0, s2, s2 == 5 ? SOMA_TERMINAL : SOMA_RUNNING) != SOMA_OK)
                return -1;
            s = s2;
            steps++;
        }
        if (soma_evb_plan(r, s, ev, cap, &ne) != SOMA_OK || ne > cap) return -1;
        *n_events += ne;
    }
    memcpy(q_out, soma_evb_q(r), 12 * sizeof(double));
    soma_evb_free(r);
    return steps;
}

static void test_agent_determinism_(void) {
    double q1[12], q2[12], q3[12];
    long n1, n2, n3, n4;
    int s1 = agent_walk_(11, q1, &n1, 200), s2 = agent_walk_(11, q2, &n2, 200), s3 = agent_walk_(12, q3, &n3, 200);
    CHECK(s1 > 0 && s1 == s2 && n1 == n2 && memcmp(q1, q2, sizeof q1) == 0);
    CHECK(n1 > 0);
    CHECK(s3 > 0 && s3 != s1);
    /* values learned: going right beats going left in every state before the goal */
    for (int s = 0; s < 5; s++) CHECK(q1[s * 2 + 1] > q1[s * 2]);
    /* a buffer of 2 events: each plan stops there */
    CHECK(agent_walk_(11, q3, &n4, 2) > 0 && n4 <= 2 * 20);
}

static void test_directions_(void) {
    /* 3->4, 4->5 forward; 5->6 then 4->5 reverse; 4->5 then 5->4 neither; self loop neither */
    const soma_evb_event ev[] = {{3, 1, 4, 0}, {4, 1, 5, 1}, {5, 1, 6, 2}, {4, 1, 5, 3},
                                    {5, 0, 4, 4}, {4, 0, 4, 5}, {4, 1, 5, 6}};
    long f = 0, r = 0;
    soma_evb_directions(ev, 7, &f, &r);
    CHECK(f == 2 && r == 1);
}

/* Same seed, same replay; the headline figures of the reduced experiments. */
static double ours_(const cJSON *root, const char *k) {
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, "ours");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void test_experiments_(void) {
    if (!scratch_init("rl_sr")) {
        CHECK(0);
        return;
    }
    const char *out = scratch_path("out");
    /* sr-gridworld: the fields of the track skew backward; TD gets close to the closed form */
    cJSON *res = NULL;
    CHECK_OK(soma_exp_run_reduced(soma_exp_find("sr-gridworld"), 0, NULL, out, &res));
    if (res) {
        double bf = ours_(res, "backward_fraction"), ms = ours_(res, "mean_skew_states");
        double et = ours_(res, "td_rel_error_track"), eo = ours_(res, "td_rel_error_open_field");
        printf("sr-gridworld reduced: backward %.3f, mean skew %.3f, TD error %.4f track, %.4f open field\n", bf, ms, et, eo);
        CHECK(bf == 1.0);
        CHECK(ms > 0.5);
        CHECK(et < 0.1 && eo < 0.1);
        /* a wall bounds the fields: across it, far less than at the same distance in the open */
        CHECK(ours_(res, "wall_ratio") < 0.01);
        cJSON_Delete(res);
        res = NULL;
    }
    /* an unbiased walk on the track (p forward 0.5) skews much less than a biased one */
    const char *sym[] = {"--p-forward", "0.5"};
    CHECK_OK(soma_exp_run_reduced(soma_exp_find("sr-gridworld"), 2, sym, out, &res));
    if (res) {
        CHECK(ours_(res, "mean_skew_states") < 0.5);
        cJSON_Delete(res);
        res = NULL;
    }
    /* replay-mattar-daw: forward before a run, reverse after reward on the track; twice with
     * one seed gives the same figures, another seed may differ but keeps the headline */
    double first[4] = {0};
    for (int rep = 0; rep < 3; rep++) {
        const char *seed[] = {"--seed", rep < 2 ? "5" : "6"};
        CHECK_OK(soma_exp_run_reduced(soma_exp_find("replay-mattar-daw"), 2, seed, out, &res));
        if (!res) continue;
        double v[4] = {ours_(res, "forward_fraction_start"), ours_(res, "reverse_fraction_end"),
                       ours_(res, "open_field_forward_fraction_start"), ours_(res, "open_field_steps_last_episode")};
        printf("replay-mattar-daw reduced, seed %s: forward start %.3f, reverse end %.3f, open field forward start "
               "%.3f, steps last episode %.1f\n", seed[1], v[0], v[1], v[2], v[3]);
        CHECK(v[0] > 0.5 && v[1] > 0.5);
        CHECK(ours_(res, "track_pairs_start") >= 5 && ours_(res, "track_pairs_end") >= 5);
        /* the agent learns the track: the last episode is far shorter than the first */
        CHECK(ours_(res, "track_steps_last_episode") < 0.5 * ours_(res, "track_steps_first_episode"));
        if (rep == 0) memcpy(first, v, sizeof v);
        if (rep == 1) CHECK(memcmp(first, v, sizeof v) == 0);
        cJSON_Delete(res);
        res = NULL;
    }
    /* one-step backups alone: reverse replay after reward stays, forward replay before a run
     * goes (it comes from the n-step backups along the path ahead of the agent) */
    const char *one[] = {"--n-step", "1"};
    CHECK_OK(soma_exp_run_reduced(soma_exp_find("replay-mattar-daw"), 2, one, out, &res));
    if (res) {
        CHECK(ours_(res, "forward_fraction_start") < 0.5 && ours_(res, "reverse_fraction_end") > 0.5);
        cJSON_Delete(res);
        res = NULL;
    }
    /* beta 0: a uniform policy that no value changes, so no backup gains anything */
    const char *flat[] = {"--beta", "0"};
    CHECK_OK(soma_exp_run_reduced(soma_exp_find("replay-mattar-daw"), 2, flat, out, &res));
    if (res) {
        CHECK(ours_(res, "track_backups_per_episode") == 0);
        cJSON_Delete(res);
        res = NULL;
    }
    /* without replay there is nothing to count */
    const char *none[] = {"--plan-steps", "0"};
    CHECK_OK(soma_exp_run_reduced(soma_exp_find("replay-mattar-daw"), 2, none, out, &res));
    if (res) {
        CHECK(ours_(res, "track_pairs_start") == 0 && ours_(res, "track_pairs_end") == 0);
        cJSON_Delete(res);
    }
}

int main(void) {
    test_closed_form_();
    test_numpy_fixture_();
    test_policy_T_();
    test_td_();
    test_value_();
    test_gain_need_();
    test_directions_();
    test_agent_determinism_();
    test_experiments_();
    scratch_remove();
    return check_report("test_rl_sr");
}
