/* Gridworlds from text maps: walls, start set, goals, map changes mid-run (soma/rl.h). */
#include <stdlib.h>
#include <string.h>

#include "soma/rl.h"

typedef struct grid_ {
    int rows, cols;
    char *cells;   /* rows * cols characters: '#', '.', 'S', 'G' */
    int *starts;   /* the start set (capacity rows * cols) */
    int n_starts;
    soma_grid_config cfg;
} grid_;

static const soma_env_ops grid_ops_;

/* Measures a map: rows, columns, and checks its characters and shape. */
static soma_status grid_measure_(const char *map, int *rows, int *cols) {
    if (!map) return soma_error(SOMA_ERR_ARG, "gridworld: NULL map");
    int r = 0, c = 0, w = -1;
    for (const char *p = map;; p++) {
        if (*p == '\n' || *p == 0) {
            if (*p == 0 && c == 0) break; /* a final '\n' or an empty map */
            if (w >= 0 && c != w)
                return soma_error(SOMA_ERR_ARG, "gridworld: row %d has %d cells, row 0 has %d; HINT: every row "
                                  "needs the same width", r, c, w);
            w = c;
            r++;
            c = 0;
            if (*p == 0) break;
            continue;
        }
        if (*p != '#' && *p != '.' && *p != 'S' && *p != 'G')
            return soma_error(SOMA_ERR_ARG, "gridworld: row %d column %d: '%c' is not one of # . S G", r, c, *p);
        c++;
    }
    if (r == 0 || w <= 0) return soma_error(SOMA_ERR_ARG, "gridworld: empty map");
    if ((long)r * w > 1000000L) return soma_error(SOMA_ERR_ARG, "gridworld: %d x %d cells, over 1e6", r, w);
    *rows = r;
    *cols = w;
    return SOMA_OK;
}

/* Copies a measured map into g->cells and rebuilds the start set. */
static soma_status grid_load_(grid_ *g, const char *map) {
    int k = 0, free_cells = 0;
    for (const char *p = map; *p; p++)
        if (*p != '\n') g->cells[k++] = *p;
    g->n_starts = 0;
    for (int i = 0; i < g->rows * g->cols; i++) {
        char ch = g->cells[i];
        if (ch != '#') free_cells++;
        if (g->cfg.random_start ? (ch == '.' || ch == 'S') : ch == 'S') g->starts[g->n_starts++] = i;
    }
    if (free_cells == 0) return soma_error(SOMA_ERR_ARG, "gridworld: no free cell");
    if (g->n_starts == 0)
        return soma_error(SOMA_ERR_ARG, "gridworld: no start cell; HINT: mark one with 'S' or set random_start");
    return SOMA_OK;
}

static void grid_obs_(const soma_env *e, const grid_ *g, float *obs) {
    if (g->cfg.obs_rowcol) {
        obs[0] = (float)(e->state / g->cols);
        obs[1] = (float)(e->state % g->cols);
    } else {
        memset(obs, 0, (size_t)e->n_states * sizeof(float));
        obs[e->state] = 1.f;
    }
}

static int grid_move_(const grid_ *g, int s, int a) {
    static const int dr[4] = {-1, 0, 1, 0}, dc[4] = {0, 1, 0, -1};
    int r = s / g->cols + dr[a], c = s % g->cols + dc[a];
    if (r < 0 || r >= g->rows || c < 0 || c >= g->cols || g->cells[r * g->cols + c] == '#') return s;
    return r * g->cols + c;
}

static soma_status grid_reset_(soma_env *e, float *obs) {
    grid_ *g = e->impl;
    e->state = g->starts[g->n_starts == 1 ? 0 : (int)soma_rng_below(&e->rng, (uint64_t)g->n_starts)];
    grid_obs_(e, g, obs);
    return SOMA_OK;
}

static soma_status grid_step_(soma_env *e, int action, float *obs, double *reward, int *done) {
    grid_ *g = e->impl;
    e->state = grid_move_(g, e->state, action);
    int goal = g->cells[e->state] == 'G';
    *reward = goal ? 1.0 : g->cfg.step_reward;
    *done = goal ? SOMA_TERMINAL : SOMA_RUNNING;
    grid_obs_(e, g, obs);
    return SOMA_OK;
}

static void grid_destroy_(soma_env *e) {
    grid_ *g = e->impl;
    if (!g) return;
    free(g->cells);
    free(g->starts);
    free(g);
}

static const soma_env_ops grid_ops_ = {"gridworld", grid_reset_, grid_step_, grid_destroy_};

soma_status soma_env_grid_new(soma_env **out, const char *map, const soma_grid_config *cfg) {
    if (!out) return soma_error(SOMA_ERR_ARG, "gridworld: NULL output");
    *out = NULL;
    int rows, cols;
    SOMA_TRY(grid_measure_(map, &rows, &cols));
    if (cfg && cfg->max_steps < 0) return soma_error(SOMA_ERR_ARG, "gridworld: max_steps %ld < 0", cfg->max_steps);
    soma_env *e = calloc(1, sizeof *e);
    grid_ *g = calloc(1, sizeof *g);
    size_t n = (size_t)rows * (size_t)cols;
    if (g) {
        g->cells = malloc(n);
        g->starts = malloc(n * sizeof(int));
    }
    if (!e || !g || !g->cells || !g->starts) {
        if (g) {
            free(g->cells);
            free(g->starts);
        }
        free(g);
        free(e);
        return soma_error(SOMA_ERR_NOMEM, "gridworld: out of memory for %d x %d cells", rows, cols);
    }
    g->rows = rows;
    g->cols = cols;
    if (cfg) g->cfg = *cfg;
    e->ops = &grid_ops_;
    e->impl = g;
    e->n_states = rows * cols;
    e->obs_dim = g->cfg.obs_rowcol ? 2 : e->n_states;
    e->n_actions = 4;
    e->max_steps = g->cfg.max_steps;
    e->state = -1;
    e->t = -1;
    soma_rng_seed(&e->rng, 0, 0);
    soma_status st = grid_load_(g, map);
    if (st != SOMA_OK) {
        soma_env_free(e);
        return st;
    }
    *out = e;
    return SOMA_OK;
}

static grid_ *grid_of_(const soma_env *e) { return e && e->ops == &grid_ops_ ? e->impl : NULL; }

soma_status soma_env_grid_set_map(soma_env *e, const char *map) {
    grid_ *g = grid_of_(e);
    if (!g) return soma_error(SOMA_ERR_ARG, "gridworld: set_map on a NULL environment or not a gridworld");
    int rows, cols;
    SOMA_TRY(grid_measure_(map, &rows, &cols));
    if (rows != g->rows || cols != g->cols)
        return soma_error(SOMA_ERR_ARG, "gridworld: new map is %d x %d, the grid is %d x %d", rows, cols, g->rows,
                          g->cols);
    char *old = malloc((size_t)rows * cols);
    if (!old) return soma_error(SOMA_ERR_NOMEM, "gridworld: out of memory");
    memcpy(old, g->cells, (size_t)rows * cols);
    soma_status st = grid_load_(g, map);
    if (st != SOMA_OK) { /* keep the old map */
        memcpy(g->cells, old, (size_t)rows * cols);
        g->n_starts = 0;
        for (int i = 0; i < rows * cols; i++)
            if (g->cfg.random_start ? (g->cells[i] == '.' || g->cells[i] == 'S') : g->cells[i] == 'S')
                g->starts[g->n_starts++] = i;
    }
    free(old);
    return st;
}

void soma_env_grid_size(const soma_env *e, int *rows, int *cols) {
    const grid_ *g = grid_of_(e);
    if (rows) *rows = g ? g->rows : 0;
    if (cols) *cols = g ? g->cols : 0;
}

char soma_env_grid_cell(const soma_env *e, int state) {
    const grid_ *g = grid_of_(e);
    return g && state >= 0 && state < g->rows * g->cols ? g->cells[state] : 0;
}

soma_status soma_env_grid_next(const soma_env *e, int s, int a, int *next, double *reward, int *terminal) {
    const grid_ *g = grid_of_(e);
    if (!g || !next || !reward || !terminal)
        return soma_error(SOMA_ERR_ARG, "gridworld: next on a NULL environment/output or not a gridworld");
    if (s < 0 || s >= g->rows * g->cols || a < 0 || a > 3)
        return soma_error(SOMA_ERR_ARG, "gridworld: state %d or action %d out of range", s, a);
    *next = grid_move_(g, s, a);
    *terminal = g->cells[*next] == 'G';
    *reward = *terminal ? 1.0 : g->cfg.step_reward;
    return SOMA_OK;
}

// --- built-in maps (Sutton & Barto 2018, ch. 8) --------------------------------------------

const char *soma_grid_map_dyna_maze(void) {
    return ".......#G\n"
           "..#....#.\n"
           "S.#....#.\n"
           "..#......\n"
           ".....#...\n"
           ".........\n";
}

const char *soma_grid_map_blocking(int phase) {
    return phase == 0 ? "........G\n"
                        ".........\n"
                        ".........\n"
                        "########.\n"
                        ".........\n"
                        "...S.....\n"
                      : "........G\n"
                        ".........\n"
                        ".........\n"
                        ".########\n"
                        ".........\n"
                        "...S.....\n";
}

const char *soma_grid_map_shortcut(int phase) {
    return phase == 0 ? "........G\n"
                        ".........\n"
                        ".........\n"
                        ".########\n"
                        ".........\n"
                        "...S.....\n"
                      : "........G\n"
                        ".........\n"
                        ".........\n"
                        ".#######.\n"
                        ".........\n"
                        "...S.....\n";
}

soma_status soma_grid_map_open_field(char *buf, size_t cap, int rows, int cols) {
    if (!buf || rows < 1 || cols < 1 || (long)rows * cols > 1000000L)
        return soma_error(SOMA_ERR_ARG, "gridworld: open field of %d x %d (need 1..1e6 cells and a buffer)", rows,
                          cols);
    if (rows == 1 && cols == 1) return soma_error(SOMA_ERR_ARG, "gridworld: a 1 x 1 field has no room for S and G");
    size_t need = (size_t)rows * ((size_t)cols + 1) + 1;
    if (cap < need) return soma_error(SOMA_ERR_ARG, "gridworld: map buffer of %zu bytes, %zu needed", cap, need);
    char *p = buf;
    for (int r = 0; r < rows; r++) {
        for (int c = 0; c < cols; c++) *p++ = '.';
        *p++ = '\n';
    }
    *p = 0;
    buf[0] = 'S';
    buf[(size_t)(rows - 1) * (cols + 1) + (cols - 1)] = 'G';
    return SOMA_OK;
}

soma_status soma_grid_map_linear_track(char *buf, size_t cap, int length) {
    return soma_grid_map_open_field(buf, cap, 1, length);
}
