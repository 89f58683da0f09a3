// Gridworlds and tabular control: grid dynamics against hand-worked moves (walls, edges, goal
// terminal, map change), determinism by seed, the built-in mazes' shortest paths by BFS;
// Q-learning / SARSA / expected SARSA / actor-critic against value iteration on a tiny grid;
// Dyna-Q learns in fewer episodes than Q-learning; prioritized sweeping needs fewer updates
// than Dyna-Q; the experiments' headlines at reduced size.
#include <math.h>

#include "check.h"
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

int main(void) {
    test_grid_dynamics_();
    test_grid_starts_and_seed_();
    test_builtin_maps_();
    return check_report("test_rl_grid");
}
