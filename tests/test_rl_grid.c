// Gridworlds and tabular control: grid dynamics against hand-worked moves (walls, edges, goal
// terminal, map change), determinism by seed, the built-in mazes' shortest paths by BFS;
// Q-learning / SARSA / expected SARSA / actor-critic against value iteration on a tiny grid;
// Dyna-Q learns in fewer episodes than Q-learning; prioritized sweeping needs fewer updates
// than Dyna-Q; the experiments' headlines at reduced size.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "json_util.h"
#include "soma/soma.h"

/* Shortest path length (steps) from the 'S' cell to any goal, by BFS over the env's dynamics. */
static int bfs_(const soma_env *e, int start) {
    int n = e->n_states, dist[1024], queue[1024], head = 0, tail = 0;
    if (n > 1024) return -1;
    for (int i = 0; i < n; i++) dist[i] = -1;
    dist[start] = 0;
    queue[tail++] = start;
    while (head < tail) {
        int s = queue[head++];
        if (soma_env_grid_cell(e, s) == 'G') return dist[s];
        for (int a = 0; a < 4; a++) {
            int s2, term;
            double r;
            if (soma_env_grid_next(e, s, a, &s2, &r, &term) != SOMA_OK) return -2;
            if (dist[s2] < 0) {
                dist[s2] = dist[s] + 1;
                queue[tail++] = s2;
            }
        }
    }
    return -1;
}

static void test_grid_dynamics_(void) {
    /* 3 x 4:  S . # G
     *         . # . .
     *         . . . .     */
    const char *map = "S.#G\n.#..\n....";
    soma_env *e = NULL;
    CHECK_OK(soma_env_grid_new(&e, map, NULL));
    if (!e) return;
    CHECK(e->n_states == 12 && e->obs_dim == 12 && e->n_actions == 4 && e->state == -1);
    int rows, cols;
    soma_env_grid_size(e, &rows, &cols);
    CHECK(rows == 3 && cols == 4);
    CHECK(soma_env_grid_cell(e, 2) == '#' && soma_env_grid_cell(e, 3) == 'G' && soma_env_grid_cell(e, 12) == 0);
    float obs[12];
    double r;
    int done;
    CHECK_OK(soma_env_reset(e, obs));
    CHECK(e->state == 0 && obs[0] == 1.f && obs[1] == 0.f);
    /* off the map: up and left stay at (0,0) */
    CHECK_OK(soma_env_step(e, SOMA_GRID_UP, obs, &r, &done));
    CHECK(e->state == 0 && r == 0.0 && done == SOMA_RUNNING);
    CHECK_OK(soma_env_step(e, SOMA_GRID_LEFT, obs, &r, &done));
    CHECK(e->state == 0);
    /* right to (0,1), right again into the wall at (0,2): stays */
    CHECK_OK(soma_env_step(e, SOMA_GRID_RIGHT, obs, &r, &done));
    CHECK(e->state == 1 && obs[1] == 1.f && obs[0] == 0.f);
    CHECK_OK(soma_env_step(e, SOMA_GRID_RIGHT, obs, &r, &done));
    CHECK(e->state == 1);
    /* down into the wall at (1,1): stays; route (0,1)->(0,0)->(1,0)->(2,0)->(2,1)->(2,2)->(1,2)->(1,3)->(0,3) */
    CHECK_OK(soma_env_step(e, SOMA_GRID_DOWN, obs, &r, &done));
    CHECK(e->state == 1);
    const int route[] = {SOMA_GRID_LEFT, SOMA_GRID_DOWN, SOMA_GRID_DOWN, SOMA_GRID_RIGHT, SOMA_GRID_RIGHT,
                         SOMA_GRID_UP, SOMA_GRID_RIGHT, SOMA_GRID_UP};
    const int want[] = {0, 4, 8, 9, 10, 6, 7, 3};
    for (int i = 0; i < 8; i++) {
        CHECK_OK(soma_env_step(e, route[i], obs, &r, &done));
        CHECK(e->state == want[i]);
        CHECK(i < 7 ? (done == SOMA_RUNNING && r == 0.0) : (done == SOMA_TERMINAL && r == 1.0));
    }
    CHECK(e->t == -1);
    CHECK_FAILS(soma_env_step(e, 0, obs, &r, &done), SOMA_ERR_ARG); /* after the end */
    CHECK_OK(soma_env_reset(e, obs));
    CHECK_FAILS(soma_env_step(e, 4, obs, &r, &done), SOMA_ERR_ARG);
    CHECK(bfs_(e, 0) == 7);

    /* map change: open the wall at (1,1), the agent keeps its place; the path shortens to 5 */
    CHECK_OK(soma_env_step(e, SOMA_GRID_DOWN, obs, &r, &done));
    CHECK(e->state == 4);
    CHECK_OK(soma_env_grid_set_map(e, "S.#G\n....\n...."));
    CHECK(e->state == 4 && e->t == 1);
    CHECK_OK(soma_env_step(e, SOMA_GRID_RIGHT, obs, &r, &done));
    CHECK(e->state == 5);
    CHECK(bfs_(e, 0) == 5);
    CHECK_FAILS(soma_env_grid_set_map(e, "S.G\n...\n..."), SOMA_ERR_ARG);      /* another size */
    CHECK_FAILS(soma_env_grid_set_map(e, "S.#G\n.x..\n...."), SOMA_ERR_ARG);   /* bad char */
    CHECK_FAILS(soma_env_grid_set_map(e, "..#G\n....\n...."), SOMA_ERR_ARG);   /* no start */
    CHECK(soma_env_grid_cell(e, 0) == 'S' && soma_env_grid_cell(e, 5) == '.'); /* kept */
    int s2, term;
    CHECK_OK(soma_env_grid_next(e, 7, SOMA_GRID_UP, &s2, &r, &term));
    CHECK(s2 == 3 && term == 1 && r == 1.0);
    CHECK_FAILS(soma_env_grid_next(e, 12, 0, &s2, &r, &term), SOMA_ERR_ARG);
    soma_env_free(e);

    /* bad maps */
    soma_env *bad = NULL;
    CHECK_FAILS(soma_env_grid_new(&bad, "S..\n..", NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_env_grid_new(&bad, "S.x", NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_env_grid_new(&bad, "...G", NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_env_grid_new(&bad, "", NULL), SOMA_ERR_ARG);
    CHECK(bad == NULL);

    /* (row, col) observations and a step reward */
    soma_grid_config cfg = {.obs_rowcol = 1, .step_reward = -0.5, .max_steps = 3};
    CHECK_OK(soma_env_grid_new(&e, map, &cfg));
    if (!e) return;
    CHECK(e->obs_dim == 2);
    CHECK_OK(soma_env_reset(e, obs));
    CHECK_OK(soma_env_step(e, SOMA_GRID_DOWN, obs, &r, &done));
    CHECK(obs[0] == 1.f && obs[1] == 0.f && r == -0.5 && done == SOMA_RUNNING);
    CHECK_OK(soma_env_step(e, SOMA_GRID_DOWN, obs, &r, &done));
    CHECK_OK(soma_env_step(e, SOMA_GRID_RIGHT, obs, &r, &done));
    CHECK(obs[0] == 2.f && obs[1] == 1.f && done == SOMA_TRUNCATED);
    soma_env_free(e);
}

static void test_grid_starts_and_seed_(void) {
    /* a start set of three cells: each is used, and the sequence depends only on the seed */
    const char *map = "S.S\n...\nS.G";
    int seq[2][60], counts[9] = {0};
    for (int rep = 0; rep < 2; rep++) {
        soma_env *e = NULL;
        CHECK_OK(soma_env_grid_new(&e, map, NULL));
        if (!e) return;
        CHECK_OK(soma_env_seed(e, 7));
        float obs[9];
        for (int i = 0; i < 60; i++) {
            CHECK_OK(soma_env_reset(e, obs));
            seq[rep][i] = e->state;
            if (rep == 0) counts[e->state]++;
        }
        soma_env_free(e);
    }
    CHECK(memcmp(seq[0], seq[1], sizeof seq[0]) == 0);
    CHECK(counts[0] > 5 && counts[2] > 5 && counts[6] > 5 && counts[0] + counts[2] + counts[6] == 60);
    /* random_start: every free non-goal cell, never the goal or a wall */
    soma_grid_config cfg = {.random_start = 1};
    soma_env *e = NULL;
    CHECK_OK(soma_env_grid_new(&e, "..#\n..G", &cfg));
    if (!e) return;
    CHECK_OK(soma_env_seed(e, 3));
    int seen[6] = {0};
    float obs[6];
    for (int i = 0; i < 200; i++) {
        CHECK_OK(soma_env_reset(e, obs));
        seen[e->state]++;
    }
    CHECK(seen[0] && seen[1] && seen[3] && seen[4] && !seen[2] && !seen[5]);
    soma_env_free(e);
}

static void test_builtin_maps_(void) {
    soma_env *e = NULL;
    float obs[64];
    /* the Dyna maze: 6 x 9, start (2,0), goal (0,8), shortest path 14 (Sutton & Barto fig 8.2) */
    CHECK_OK(soma_env_grid_new(&e, soma_grid_map_dyna_maze(), NULL));
    if (e) {
        CHECK_OK(soma_env_reset(e, obs));
        CHECK(e->n_states == 54 && e->state == 2 * 9 + 0 && soma_env_grid_cell(e, 8) == 'G');
        CHECK(bfs_(e, e->state) == 14);
        soma_env_free(e);
    }
    /* blocking maze: 10 steps through the right gap, then 16 through the left one */
    CHECK_OK(soma_env_grid_new(&e, soma_grid_map_blocking(0), NULL));
    if (e) {
        CHECK_OK(soma_env_reset(e, obs));
        CHECK(e->state == 5 * 9 + 3 && bfs_(e, e->state) == 10);
        CHECK_OK(soma_env_grid_set_map(e, soma_grid_map_blocking(1)));
        CHECK(bfs_(e, e->state) == 16);
        soma_env_free(e);
    }
    /* shortcut maze: 16 through the left gap, then the shortcut on the right: 10 */
    CHECK_OK(soma_env_grid_new(&e, soma_grid_map_shortcut(0), NULL));
    if (e) {
        CHECK_OK(soma_env_reset(e, obs));
        CHECK(bfs_(e, e->state) == 16);
        CHECK_OK(soma_env_grid_set_map(e, soma_grid_map_shortcut(1)));
        CHECK(bfs_(e, e->state) == 10);
        soma_env_free(e);
    }
    /* open field and linear track */
    char buf[64];
    CHECK_OK(soma_grid_map_open_field(buf, sizeof buf, 3, 4));
    CHECK(strcmp(buf, "S...\n....\n...G\n") == 0);
    CHECK_OK(soma_grid_map_linear_track(buf, sizeof buf, 5));
    CHECK(strcmp(buf, "S...G\n") == 0);
    CHECK_FAILS(soma_grid_map_open_field(buf, 10, 3, 4), SOMA_ERR_ARG);
    CHECK_FAILS(soma_grid_map_linear_track(buf, sizeof buf, 1), SOMA_ERR_ARG);
    CHECK_OK(soma_grid_map_linear_track(buf, sizeof buf, 10));
    CHECK_OK(soma_env_grid_new(&e, buf, NULL));
    if (e) {
        CHECK_OK(soma_env_reset(e, obs));
        CHECK(e->n_states == 10 && bfs_(e, e->state) == 9);
        soma_env_free(e);
    }
}

// --- tabular agents against value iteration ---------------------------------------------------

/* Value iteration on a gridworld's dynamics: eps = 0 gives Q*; eps > 0 the fixed point of the
 * epsilon-greedy policy that is greedy in its own values (expected SARSA's target). */
static void value_iteration_(const soma_env *e, double gamma, double eps, double *q) {
    int n = e->n_states;
    for (int i = 0; i < n * 4; i++) q[i] = 0;
    for (int it = 0; it < 2000; it++)
        for (int s = 0; s < n; s++)
            for (int a = 0; a < 4; a++) {
                int s2, term;
                double r;
                soma_env_grid_next(e, s, a, &s2, &r, &term);
                double mx = q[s2 * 4], mean = 0;
                for (int b = 0; b < 4; b++) {
                    if (q[s2 * 4 + b] > mx) mx = q[s2 * 4 + b];
                    mean += q[s2 * 4 + b] / 4;
                }
                q[s * 4 + a] = r + (term ? 0 : gamma * ((1 - eps) * mx + eps * mean));
            }
}

/* Largest |q - ref| over the states an agent can stand on (not walls, not goals). */
static double max_err_(const soma_env *e, const double *q, const double *ref) {
    double m = 0;
    for (int s = 0; s < e->n_states; s++) {
        char c = soma_env_grid_cell(e, s);
        if (c == '#' || c == 'G') continue;
        for (int a = 0; a < 4; a++) m = fmax(m, fabs(q[s * 4 + a] - ref[s * 4 + a]));
    }
    return m;
}

static soma_tab *train_(soma_env *e, soma_tab_kind kind, const soma_tab_config *c, int episodes, uint64_t seed) {
    soma_tab *t = NULL;
    CHECK_OK(soma_tab_new(&t, kind, e->n_states, e->n_actions, c, seed));
    if (!t) return NULL;
    float obs[64];
    for (int ep = 0; ep < episodes; ep++) {
        long steps;
        if (soma_tab_episode(t, e, obs, 1000, &steps, NULL) != SOMA_OK) {
            CHECK(0);
            break;
        }
    }
    return t;
}

static void test_tabular_values_(void) {
    const char *map = "...\n.#.\n..G\n...";
    soma_grid_config gc = {.random_start = 1, .step_reward = -0.1};
    soma_env *e = NULL;
    CHECK_OK(soma_env_grid_new(&e, map, &gc));
    if (!e) return;
    CHECK_OK(soma_env_seed(e, 11));
    double qstar[48], qeps[48];
    const double gamma = 0.9, eps = 0.3;
    value_iteration_(e, gamma, 0, qstar);
    value_iteration_(e, gamma, eps, qeps);
    CHECK(fabs(qstar[0 * 4 + SOMA_GRID_RIGHT] - (-0.1 - 0.09 - 0.081 + 0.729)) < 1e-12); /* 4 steps to G */

    soma_tab_config c = soma_tab_defaults(SOMA_TAB_QLEARNING);
    c.gamma = gamma;
    c.epsilon = eps;
    c.alpha = 0.5;
    soma_tab *t = train_(e, SOMA_TAB_QLEARNING, &c, 3000, 1);
    if (t) {
        double err = max_err_(e, soma_tab_q(t), qstar);
        printf("Q-learning: max |Q - Q*| = %.2e\n", err);
        CHECK(err < 1e-6);
        CHECK(soma_tab_updates(t) > 3000);
    }
    soma_tab_free(t);
    t = train_(e, SOMA_TAB_EXPECTED_SARSA, &c, 3000, 2);
    if (t) {
        double err = max_err_(e, soma_tab_q(t), qeps);
        printf("expected SARSA: max |Q - Q_eps| = %.2e (Q* differs by %.2e)\n", err, max_err_(e, qeps, qstar));
        CHECK(err < 1e-4);
        CHECK(max_err_(e, qeps, qstar) > 0.05); /* the two targets are told apart */
    }
    soma_tab_free(t);
    c.alpha = 0.05;
    t = train_(e, SOMA_TAB_SARSA, &c, 20000, 3);
    if (t) {
        double err = max_err_(e, soma_tab_q(t), qeps);
        printf("SARSA: max |Q - Q_eps| = %.3f\n", err);
        CHECK(err < 0.08); /* sampling noise of a constant step size; Q* lies 0.18 away */
    }
    soma_tab_free(t);

    /* actor-critic: its most preferred actions walk the shortest path from every start */
    c = soma_tab_defaults(SOMA_TAB_ACTOR_CRITIC);
    c.gamma = gamma;
    c.alpha = 0.2;
    c.alpha_actor = 0.5;
    t = train_(e, SOMA_TAB_ACTOR_CRITIC, &c, 3000, 4);
    if (t) {
        int optimal = 1;
        for (int s = 0; s < e->n_states; s++) {
            char ch = soma_env_grid_cell(e, s);
            if (ch == '#' || ch == 'G') continue;
            int a = soma_tab_greedy(t, s), bfs_a = 0;
            double best = -1e9;
            for (int b = 0; b < 4; b++)
                if (qstar[s * 4 + b] > best) best = qstar[s * 4 + b], bfs_a = b;
            optimal &= qstar[s * 4 + a] > best - 1e-9;
            (void)bfs_a;
        }
        CHECK(optimal);
        /* the critic learns the policy's values: V(s) <= V*(s) and close to it where the policy is sure */
        double v_err = 0;
        for (int s = 0; s < e->n_states; s++) {
            char ch = soma_env_grid_cell(e, s);
            if (ch == '#' || ch == 'G') continue;
            double vs = -1e9;
            for (int b = 0; b < 4; b++) vs = fmax(vs, qstar[s * 4 + b]);
            v_err = fmax(v_err, fabs(soma_tab_v(t)[s] - vs));
        }
        printf("actor-critic: max |V - V*| = %.3f\n", v_err);
        CHECK(v_err < 0.1);
        CHECK(soma_tab_v(t) != NULL);
    }
    soma_tab_free(t);
    soma_env_free(e);

    soma_tab *bad = NULL;
    c = soma_tab_defaults(SOMA_TAB_QLEARNING);
    c.alpha = 0;
    CHECK_FAILS(soma_tab_new(&bad, SOMA_TAB_QLEARNING, 4, 4, &c, 0), SOMA_ERR_ARG);
    c = soma_tab_defaults(SOMA_TAB_QLEARNING);
    c.gamma = 1.5;
    CHECK_FAILS(soma_tab_new(&bad, SOMA_TAB_QLEARNING, 4, 4, &c, 0), SOMA_ERR_ARG);
    CHECK_FAILS(soma_tab_new(&bad, SOMA_TAB_KIND_COUNT, 4, 4, NULL, 0), SOMA_ERR_ARG);
    CHECK_FAILS(soma_tab_new(&bad, SOMA_TAB_QLEARNING, 0, 4, NULL, 0), SOMA_ERR_ARG);
    c = soma_tab_defaults(SOMA_TAB_PRIORITIZED_SWEEPING);
    c.planning_steps = 0;
    CHECK_FAILS(soma_tab_new(&bad, SOMA_TAB_PRIORITIZED_SWEEPING, 4, 4, &c, 0), SOMA_ERR_ARG);
    CHECK(bad == NULL);
}

/* Epsilon-greedy breaks ties at random: with all values equal, each action about 1/4. */
static void test_ties_(void) {
    soma_tab *t = NULL;
    CHECK_OK(soma_tab_new(&t, SOMA_TAB_QLEARNING, 2, 4, NULL, 5));
    if (!t) return;
    int counts[4] = {0};
    for (int i = 0; i < 4000; i++) counts[soma_tab_greedy(t, 0)]++;
    for (int a = 0; a < 4; a++) CHECK(counts[a] > 850 && counts[a] < 1150);
    soma_tab_free(t);
}

// --- planning: Dyna-Q and prioritized sweeping on the Dyna maze ------------------------------

/* Mean over seeds of the steps of episodes 2..10 (episode 1 is the same random walk for any n). */
static double dyna_steps_(int n, int seeds) {
    double sum = 0;
    for (int sd = 0; sd < seeds; sd++) {
        soma_env *e = NULL;
        soma_tab *t = NULL;
        soma_tab_config c = soma_tab_defaults(SOMA_TAB_DYNA_Q);
        c.planning_steps = n;
        CHECK_OK(soma_env_grid_new(&e, soma_grid_map_dyna_maze(), NULL));
        if (e) CHECK_OK(soma_tab_new(&t, SOMA_TAB_DYNA_Q, e->n_states, 4, &c, 100 + sd));
        if (!t) {
            soma_env_free(e);
            return NAN;
        }
        soma_env_seed(e, sd);
        float obs[54];
        for (int ep = 0; ep < 10; ep++) {
            long steps;
            CHECK_OK(soma_tab_episode(t, e, obs, 100000, &steps, NULL));
            if (ep >= 1) sum += steps;
        }
        soma_tab_free(t);
        soma_env_free(e);
    }
    return sum / (9.0 * seeds);
}

/* Value updates until the greedy path is within 2 steps of the optimal 14 (checked after each
 * episode; with epsilon-greedy exploration from zero values some runs settle on the 16-step
 * route over the top, as the book's example 8.4 allows for). */
static double updates_to_optimal_(soma_tab_kind kind, int n, double alpha, int seeds) {
    double sum = 0;
    for (int sd = 0; sd < seeds; sd++) {
        soma_env *e = NULL;
        soma_tab *t = NULL;
        soma_tab_config c = soma_tab_defaults(kind);
        c.planning_steps = n;
        c.alpha = alpha;
        CHECK_OK(soma_env_grid_new(&e, soma_grid_map_dyna_maze(), NULL));
        if (e) CHECK_OK(soma_tab_new(&t, kind, e->n_states, 4, &c, 200 + sd));
        if (!t) {
            soma_env_free(e);
            return NAN;
        }
        float obs[54];
        long greedy = 0;
        for (int ep = 0; ep < 200 && (greedy == 0 || greedy > 16); ep++) {
            long steps;
            CHECK_OK(soma_tab_episode(t, e, obs, 100000, &steps, NULL));
            CHECK_OK(soma_tab_greedy_steps(t, e, obs, 200, &greedy));
        }
        CHECK(greedy >= 14 && greedy <= 16);
        sum += (double)soma_tab_updates(t);
        soma_tab_free(t);
        soma_env_free(e);
    }
    return sum / seeds;
}

/* Same seeds, same tables, bit for bit; another agent seed, other tables. */
static void test_agent_determinism_(void) {
    double q[3][216];
    const uint64_t seeds[3] = {9, 9, 10};
    for (int k = 0; k < 3; k++) {
        soma_env *e = NULL;
        soma_tab *t = NULL;
        CHECK_OK(soma_env_grid_new(&e, soma_grid_map_dyna_maze(), NULL));
        if (e) CHECK_OK(soma_tab_new(&t, SOMA_TAB_DYNA_Q_PLUS, e->n_states, 4, NULL, seeds[k]));
        if (!t) {
            soma_env_free(e);
            return;
        }
        soma_env_seed(e, 1);
        float obs[54];
        for (int ep = 0; ep < 5; ep++) CHECK_OK(soma_tab_episode(t, e, obs, 100000, NULL, NULL));
        memcpy(q[k], soma_tab_q(t), sizeof q[k]);
        soma_tab_free(t);
        soma_env_free(e);
    }
    CHECK(memcmp(q[0], q[1], sizeof q[0]) == 0);
    CHECK(memcmp(q[0], q[2], sizeof q[0]) != 0);
}

static void test_planning_(void) {
    double s0 = dyna_steps_(0, 5), s50 = dyna_steps_(50, 5), s5 = dyna_steps_(5, 5);
    printf("Dyna maze, mean steps of episodes 2-10: n=0 %.1f, n=5 %.1f, n=50 %.1f\n", s0, s5, s50);
    CHECK(s5 < 0.7 * s0 && s50 < 0.7 * s5 && s50 < 25);
    /* full backups (alpha 1, the maze is deterministic): sweeping backs the goal up the path at once */
    double u_dyna = updates_to_optimal_(SOMA_TAB_DYNA_Q, 5, 1.0, 5);
    double u_ps = updates_to_optimal_(SOMA_TAB_PRIORITIZED_SWEEPING, 5, 1.0, 5);
    printf("updates to a near-optimal path, alpha 1: Dyna-Q %.0f, prioritized sweeping %.0f\n", u_dyna, u_ps);
    CHECK(u_ps < 0.2 * u_dyna);
    /* and with alpha 0.1 it still needs fewer */
    u_dyna = updates_to_optimal_(SOMA_TAB_DYNA_Q, 5, 0.1, 5);
    u_ps = updates_to_optimal_(SOMA_TAB_PRIORITIZED_SWEEPING, 5, 0.1, 5);
    printf("updates to a near-optimal path, alpha 0.1: Dyna-Q %.0f, prioritized sweeping %.0f\n", u_dyna, u_ps);
    CHECK(u_ps < u_dyna);
}

// --- the experiments' headlines at reduced size ------------------------------------------------

static void test_experiments_(void) {
    char tmpl[] = "/tmp/soma_rl_grid_XXXXXX";
    const char *root = mkdtemp(tmpl);
    CHECK(root != NULL);
    if (!root) return;
    cJSON *r = NULL;
    /* dyna-maze (5 runs, 30 episodes): 50 planning steps near-optimal by episode 3, no planning far later */
    CHECK_OK(soma_exp_run_reduced(soma_exp_find("dyna-maze"), 0, NULL, root, &r));
    const cJSON *ours = cJSON_GetObjectItemCaseSensitive(r, "ours");
    const cJSON *spe = cJSON_GetObjectItemCaseSensitive(ours, "steps_per_episode");
    const char *keys[3] = {"n0", "n5", "n50"};
    double ep10[3] = {NAN, NAN, NAN};
    for (int i = 0; i < 3; i++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(spe, keys[i]);
        CHECK(cJSON_IsArray(a) && cJSON_GetArraySize(a) == 30);
        if (cJSON_GetArraySize(a) == 30) ep10[i] = cJSON_GetArrayItem(a, 9)->valuedouble;
    }
    double e50 = num_(ours, "n50_episodes_to_optimal"), ratio = num_(ours, "n0_over_n50_episodes");
    double sweep = num_(ours, "sweeping_over_dynaq_updates");
    printf("dyna-maze (reduced): prioritized sweeping / Dyna-Q updates %.3f\n", sweep);
    CHECK(sweep < 0.2);
    printf("dyna-maze (reduced): steps at episode 10: n0 %.1f, n5 %.1f, n50 %.1f; n50 near-optimal from episode %.0f, "
           "n0 %.1fx later\n", ep10[0], ep10[1], ep10[2], e50, ratio);
    CHECK(e50 >= 1 && e50 <= 3);
    CHECK(ratio >= 5);
    CHECK(ep10[2] < 25 && ep10[0] > 3 * ep10[2]);
    cJSON_Delete(r);
    r = NULL;

    /* shortcut-maze (10 runs): Dyna-Q+ takes the shortcut, Dyna-Q does not */
    CHECK_OK(soma_exp_run_reduced(soma_exp_find("shortcut-maze"), 0, NULL, root, &r));
    ours = cJSON_GetObjectItemCaseSensitive(r, "ours");
    double fp = num_(ours, "shortcut_found_dynaq_plus"), fq = num_(ours, "shortcut_found_dynaq");
    double ap = num_(ours, "shortcut_reward_after_change_dynaq_plus"), aq = num_(ours, "shortcut_reward_after_change_dynaq");
    double bp = num_(ours, "blocking_recovery_dynaq_plus");
    printf("shortcut-maze (reduced): shortcut found by Dyna-Q+ %.2f, Dyna-Q %.2f; reward after %.1f vs %.1f; "
           "blocking recovery (Q+) %.2f\n", fp, fq, ap, aq, bp);
    CHECK(fp >= 0.6 && fq <= 0.1);
    CHECK(ap > 1.2 * aq);
    CHECK(bp > 0.4);
    const cJSON *cr = cJSON_GetObjectItemCaseSensitive(ours, "shortcut_cumulative_reward");
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(cr, "dynaq_plus")) ==
          cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(cr, "step")));
    cJSON_Delete(r);

    /* bad options: exit-2 material, refused before running */
    const char *bad1[] = {"--planning", "0,x"};
    CHECK_FAILS(soma_exp_run(soma_exp_find("dyna-maze"), 2, bad1, root, NULL), SOMA_ERR_ARG);
    const char *bad1b[] = {"--planning", "5,5"};
    CHECK_FAILS(soma_exp_run(soma_exp_find("dyna-maze"), 2, bad1b, root, NULL), SOMA_ERR_ARG);
    const char *bad2[] = {"--change", "7000"};
    CHECK_FAILS(soma_exp_run(soma_exp_find("shortcut-maze"), 2, bad2, root, NULL), SOMA_ERR_ARG);
    const char *bad3[] = {"--kappa", "-1"};
    CHECK_FAILS(soma_exp_run(soma_exp_find("shortcut-maze"), 2, bad3, root, NULL), SOMA_ERR_ARG);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    CHECK(system(cmd) == 0);
}

int main(void) {
    test_grid_dynamics_();
    test_grid_starts_and_seed_();
    test_builtin_maps_();
    test_tabular_values_();
    test_ties_();
    test_agent_determinism_();
    test_planning_();
    test_experiments_();
    return check_report("test_rl_grid");
}
