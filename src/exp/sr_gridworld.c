// sr-gridworld: successor-representation place fields (Stachenfeld, Botvinick & Gershman 2017).
// The SR M = (I - gamma T)^-1 of a random walk in an open field (its columns are place fields)
// and of a walk along a linear track biased in one direction of travel (its fields skew
// backward: each field's centre of mass lies behind its peak); the closed form against the SR
// learned by TD from sampled walks (Dayan 1993).
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/internal.h"
#include "soma/plot.h"
#include "soma/rl.h"

static const soma_opt opts_[] = {
    {"width", SOMA_OPT_INT, "10", 4, 40, NULL, "open field: columns", 0},
    {"height", SOMA_OPT_INT, "10", 3, 40, NULL, "open field: rows", 0},
    {"track", SOMA_OPT_INT, "20", 3, 400, NULL, "linear track: states", 0},
    {"p-forward", SOMA_OPT_FLOAT, "0.8", 0.5, 1, NULL, "track: probability of a step in the direction of travel (else one back)", 0},
    {"gamma", SOMA_OPT_FLOAT, "0.9", 0, 0.99, NULL, "discount of the SR", 0},
    {"td-steps", SOMA_OPT_INT, "300000", 1000, 100000000, NULL, "steps of each sampled walk the TD-learned SR sees", 1},
    {"alpha", SOMA_OPT_FLOAT, "0.5", 1e-6, 1, NULL, "TD learning rate at a state's first visit (it decays as alpha/(1+alpha n/20), floored at 0.002)", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark landmarks_[] = {
    {"SR place fields on a track travelled in one direction skew backward, against travel "
     "(fraction of fields with centre of mass behind peak; more than half is this project's "
     "threshold, the paper shows the skew, as Mehta et al. 2000 measured in CA1)",
     "Stachenfeld, Botvinick & Gershman 2017, Fig. 3", "https://doi.org/10.1038/nn.4650",
     "backward_fraction", SOMA_EXP_AT_LEAST, 0.5},
    {"TD learning converges to the SR: max |M_td - M| / max M on the track (at most 0.1, this "
     "project's threshold)",
     "Dayan 1993", "https://doi.org/10.1162/neco.1993.5.4.613", "td_rel_error_track", SOMA_EXP_AT_MOST, 0.1},
    {"SR fields respect walls: a field's value just across a wall over its value at the same "
     "distance in the open (at most 0.1, this project's threshold; the paper's Fig. 2 shows "
     "fields bounded by walls)",
     "Stachenfeld, Botvinick & Gershman 2017, Fig. 2", "https://doi.org/10.1038/nn.4650", "wall_ratio",
     SOMA_EXP_AT_MOST, 0.1},
    {NULL, NULL, NULL, NULL, 0, 0},
};

static const char *const reduced_[] = {"--width", "6", "--height", "6", "--track", "12", "--td-steps", "60000", NULL};

/* The deterministic dynamics of a gridworld as tables: next[s*A+a], terminal[s] (a goal). */
static soma_status grid_tables_(const soma_env *e, int *next, unsigned char *term) {
    int n = e->n_states, A = e->n_actions;
    for (int s = 0; s < n; s++) {
        term[s] = soma_env_grid_cell(e, s) == 'G';
        for (int a = 0; a < A; a++) {
            double rew;
            int t;
            SOMA_TRY(soma_env_grid_next(e, s, a, &next[(size_t)s * A + a], &rew, &t));
        }
    }
    return SOMA_OK;
}

/* Walks the gridworld env for `steps` steps with the policy pi[s*A+a] (actions drawn from
 * rng) and learns the SR by TD into Ld: each transition s -> s', and on reaching a goal the
 * goal itself (nothing beyond), then a new episode. err[k] records max |Ld - M| / max M at
 * n_err checkpoints. */
static soma_status td_learn_(double *Ld, soma_env *env, const double *pi, const double *M, double gamma,
                             double alpha0, long steps, soma_rng *rng, long *visits, float *err, float *at, int n_err) {
    int n = env->n_states, A = env->n_actions;
    float obs[2];
    memset(Ld, 0, (size_t)n * n * sizeof(double));
    memset(visits, 0, (size_t)n * sizeof(long));
    double mmax = 0.0;
    for (size_t k = 0; k < (size_t)n * n; k++) mmax = fmax(mmax, M[k]);
    SOMA_TRY(soma_env_reset(env, obs));
    int e = 0;
    for (long t = 1; t <= steps; t++) {
        int s = env->state, a = A - 1, done;
        double u = soma_rng_uniform(rng), acc = 0.0, rew;
        for (int b = 0; b < A; b++) {
            acc += pi[(size_t)s * A + b];
            if (u < acc) {
                a = b;
                break;
            }
        }
        SOMA_TRY(soma_env_step(env, a, obs, &rew, &done));
        int s2 = env->state;
        visits[s]++;
        soma_sr_td_update(Ld, n, s, s2, fmax(0.002, alpha0 / (1.0 + alpha0 * (double)visits[s] / 20.0)), gamma);
        if (done == SOMA_TERMINAL) {
            visits[s2]++;
            soma_sr_td_update(Ld, n, s2, -1, fmax(0.002, alpha0 / (1.0 + alpha0 * (double)visits[s2] / 20.0)), gamma);
        }
        if (done != SOMA_RUNNING) SOMA_TRY(soma_env_reset(env, obs));
        if (e < n_err && t == (long)((double)steps * (e + 1) / n_err)) {
            double m = 0.0;
            for (size_t k = 0; k < (size_t)n * n; k++) m = fmax(m, fabs(Ld[k] - M[k]));
            err[e] = (float)(m / mmax);
            at[e] = (float)t;
            e++;
        }
    }
    return SOMA_OK;
}

static soma_status run_(soma_exp_ctx *c) {
    int W, H, L, td_steps;
    double p, gamma, alpha;
    SOMA_TRY(soma_args_int(&c->args, "width", &W));
    SOMA_TRY(soma_args_int(&c->args, "height", &H));
    SOMA_TRY(soma_args_int(&c->args, "track", &L));
    SOMA_TRY(soma_args_double(&c->args, "p-forward", &p));
    SOMA_TRY(soma_args_double(&c->args, "gamma", &gamma));
    SOMA_TRY(soma_args_int(&c->args, "td-steps", &td_steps));
    SOMA_TRY(soma_args_double(&c->args, "alpha", &alpha));
    enum { N_ERR = 20, N_SHOW = 16 };
    int n = W * H, nmax = n > L ? n : L;
    size_t nn = (size_t)nmax * nmax;
    soma_status st = SOMA_OK;
    soma_fig *f = NULL;
    soma_env *field = NULL, *track = NULL;
    int *next = soma_alloc((size_t)nmax * 4, sizeof(int));
    double *pi = soma_calloc((size_t)nmax * 4, sizeof(double));
    unsigned char *term = soma_alloc((size_t)nmax, 1);
    char *map = soma_alloc((size_t)(H + 1) * (W + 2) + (size_t)L + 8, 1);
    soma_grid_config gcfg = {1, 0, 0.0, 0};
    double *T = soma_alloc(nn, sizeof(double)), *M = soma_alloc(nn, sizeof(double));
    double *Ld = soma_alloc(nn, sizeof(double)), *work = soma_alloc(nn, sizeof(double));
    long *visits = soma_alloc((size_t)nmax, sizeof(long));
    float *wimgs = soma_alloc((size_t)4 * n, sizeof(float));
    float *imgs = soma_alloc((size_t)N_SHOW * n, sizeof(float)), *skew = soma_alloc((size_t)L, sizeof(float));
    float *fld = soma_alloc((size_t)L, sizeof(float)), *pos = soma_alloc((size_t)L, sizeof(float));
    float err_t[N_ERR], at_t[N_ERR], err_o[N_ERR], at_o[N_ERR];
    if (!T || !M || !Ld || !work || !visits || !imgs || !wimgs || !skew || !fld || !pos || !next || !pi || !term || !map) {
        st = SOMA_ERR_NOMEM;
        goto out;
    }
    soma_rng rng;

    // --- open field: fields, and TD against the closed form
    /* the open field without its goal: a walk that never ends */
    size_t mcap = (size_t)(H + 1) * (W + 2) + (size_t)L + 8;
    if ((st = soma_grid_map_open_field(map, mcap, H, W)) != SOMA_OK) goto out;
    for (char *q = map; *q; q++)
        if (*q == 'G') *q = '.';
    if ((st = soma_env_grid_new(&field, map, &gcfg)) != SOMA_OK || (st = soma_env_seed(field, c->seed)) != SOMA_OK ||
        (st = grid_tables_(field, next, term)) != SOMA_OK)
        goto out;
    for (int k = 0; k < n * 4; k++) pi[k] = 0.25;
    if ((st = soma_sr_policy_T(T, next, pi, term, n, 4, -1)) != SOMA_OK) goto out;
    if ((st = soma_sr_closed_form(M, T, n, gamma, work)) != SOMA_OK) goto out;
    for (int k = 0; k < N_SHOW; k++) { /* a 4 x 4 spread of field centres */
        int cx = (int)((k % 4 + 0.5) * W / 4.0), cy = (int)((k / 4 + 0.5) * H / 4.0), j = cy * W + cx;
        for (int i = 0; i < n; i++) imgs[(size_t)k * n + i] = (float)M[(size_t)i * n + j];
    }
    soma_rng_seed(&rng, c->seed, 1);
    if ((st = td_learn_(Ld, field, pi, M, gamma, alpha, td_steps, &rng, visits, err_o, at_o, N_ERR)) != SOMA_OK) goto out;

    // --- the open field with a wall down its middle column (open in the bottom row)
    int wc = W / 2, jw = wc - 1, across = wc + 1, open_cell = wc >= 3 ? wc - 3 : 2 * W + wc - 1;
    if ((st = soma_grid_map_open_field(map, mcap, H, W)) != SOMA_OK) goto out;
    for (int y = 0; y + 1 < H; y++) map[(size_t)y * (W + 1) + wc] = '#';
    for (char *q = map; *q; q++)
        if (*q == 'G') *q = '.';
    soma_env_free(field);
    field = NULL;
    if ((st = soma_env_grid_new(&field, map, &gcfg)) != SOMA_OK || (st = grid_tables_(field, next, term)) != SOMA_OK)
        goto out;
    if ((st = soma_sr_policy_T(T, next, pi, term, n, 4, -1)) != SOMA_OK) goto out;
    if ((st = soma_sr_closed_form(M, T, n, gamma, work)) != SOMA_OK) goto out;
    const int wall_fields[4] = {jw, across, (H / 2) * W + jw, (H - 1) * W + wc};
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < n; i++) wimgs[(size_t)k * n + i] = (float)M[(size_t)i * n + wall_fields[k]];
    double v_across = M[(size_t)across * n + jw], v_open = M[(size_t)open_cell * n + jw];
    double wall_ratio = v_across / v_open;

    // --- track: skew of every field (column j over positions i), and TD
    /* the track: 'S' at 0, the goal at L-1 ends an episode; right with p, left with 1 - p */
    if ((st = soma_grid_map_linear_track(map, mcap, L)) != SOMA_OK) goto out;
    if ((st = soma_env_grid_new(&track, map, &gcfg)) != SOMA_OK || (st = soma_env_seed(track, c->seed)) != SOMA_OK ||
        (st = grid_tables_(track, next, term)) != SOMA_OK)
        goto out;
    memset(pi, 0, (size_t)L * 4 * sizeof(double));
    for (int i = 0; i < L; i++) {
        pi[(size_t)i * 4 + SOMA_GRID_RIGHT] = p;
        pi[(size_t)i * 4 + SOMA_GRID_LEFT] = 1 - p;
    }
    if ((st = soma_sr_policy_T(T, next, pi, term, L, 4, -1)) != SOMA_OK) goto out;
    if ((st = soma_sr_closed_form(M, T, L, gamma, work)) != SOMA_OK) goto out;
    int n_back = 0, n_fields = 0;
    double skew_sum = 0.0;
    for (int j = 0; j < L; j++) {
        double mass = 0.0, com = 0.0, peak = -1.0;
        int arg = 0;
        for (int i = 0; i < L; i++) {
            double m = M[(size_t)i * L + j];
            mass += m;
            com += m * i;
            if (m > peak) peak = m, arg = i;
        }
        com /= mass;
        skew[j] = (float)(arg - com); /* > 0: the field's mass lies behind its peak */
        pos[j] = (float)j;
        if (j == 0) continue; /* the first field has no states behind it */
        n_fields++;
        n_back += skew[j] > 0;
        skew_sum += skew[j];
    }
    double back_frac = (double)n_back / n_fields, mean_skew = skew_sum / n_fields;
    soma_rng_seed(&rng, c->seed, 2);
    if ((st = td_learn_(Ld, track, pi, M, gamma, alpha, td_steps, &rng, visits, err_t, at_t, N_ERR)) != SOMA_OK) goto out;

    soma_exp_put(c, "backward_fraction", back_frac);
    soma_exp_put(c, "mean_skew_states", mean_skew);
    soma_exp_put(c, "td_rel_error_track", err_t[N_ERR - 1]);
    soma_exp_put(c, "td_rel_error_open_field", err_o[N_ERR - 1]);
    soma_exp_put_array(c, "track_skew", skew, L);
    soma_exp_put(c, "wall_ratio", wall_ratio);
    soma_exp_put(c, "gamma", gamma);
    soma_exp_put(c, "p_forward", p);
    snprintf(c->headline, sizeof c->headline,
             "track (%d states, p forward %.2f): %d/%d fields skew backward, mean skew %.2f states "
             "behind the peak; TD vs closed form: max error %.3f (track), %.3f (open field %dx%d) of max M; "
             "across a wall a field keeps %.3f of its value at the same distance in the open",
             L, p, n_back, n_fields, mean_skew, (double)err_t[N_ERR - 1], (double)err_o[N_ERR - 1], W, H, wall_ratio);

    // --- figure: open-field fields, track fields, skew, TD error
    if ((st = soma_fig_new(&f, 2, 3, 1500, 860)) != SOMA_OK) goto out;
    soma_fig_title(f, "Successor-representation place fields (Stachenfeld et al. 2017)");
    soma_fig_labels(f, 0, "Open field: SR columns M[:, j] (16 fields)", "", "");
    if ((st = soma_fig_images(f, 0, imgs, N_SHOW, H, W, 4, 1)) != SOMA_OK) goto out;
    soma_fig_labels(f, 1, "A wall down the middle (open at the bottom): 4 fields", "", "");
    if ((st = soma_fig_images(f, 1, wimgs, 4, H, W, 2, 1)) != SOMA_OK) goto out;
    {
        const float v[2] = {(float)v_open, (float)v_across};
        const char *labels[2] = {"2 cells away, open", "2 cells away, across the wall"};
        soma_fig_labels(f, 2, "A field by a wall", "", "M[cell, field]");
        if ((st = soma_fig_bars(f, 2, v, NULL, 2, labels, 0)) != SOMA_OK) goto out;
    }
    soma_fig_labels(f, 3, "Track (travel ->): fields M[:, j]", "position", "expected discounted visits");
    for (int j = L / 4; j < L; j += L / 4 > 0 ? L / 4 : 1) {
        for (int i = 0; i < L; i++) fld[i] = (float)M[(size_t)i * L + j];
        char lab[32];
        snprintf(lab, sizeof lab, "field %d", j);
        if ((st = soma_fig_line(f, 3, pos, fld, L, lab, NULL)) != SOMA_OK) goto out;
    }
    soma_fig_labels(f, 4, "Skew: peak - centre of mass (> 0: backward)", "field (position of its state)", "skew (states)");
    soma_line_style dots = {0, 0, 1, 0.f};
    if ((st = soma_fig_line(f, 4, pos + 1, skew + 1, L - 1, "SR field", &dots)) != SOMA_OK) goto out;
    if ((st = soma_fig_hline(f, 4, 0.f, "no skew")) != SOMA_OK) goto out;
    soma_fig_labels(f, 5, "TD-learned SR vs closed form", "steps", "max |M_td - M| / max M");
    if ((st = soma_fig_line(f, 5, at_t, err_t, N_ERR, "track", NULL)) != SOMA_OK) goto out;
    if ((st = soma_fig_line(f, 5, at_o, err_o, N_ERR, "open field", NULL)) != SOMA_OK) goto out;
    soma_fig_logy(f, 5, 1);
    char path[1100];
    st = soma_fig_save(f, soma_exp_path(c, "sr_gridworld.svg", path, sizeof path));
out:
    soma_fig_free(f);
    soma_env_free(field);
    soma_env_free(track);
    soma_free(next);
    soma_free(pi);
    soma_free(term);
    soma_free(map);
    soma_free(T);
    soma_free(M);
    soma_free(Ld);
    soma_free(work);
    soma_free(visits);
    soma_free(imgs);
    soma_free(wimgs);
    soma_free(skew);
    soma_free(fld);
    soma_free(pos);
    return st;
}

const soma_experiment soma__exp_sr_gridworld = {
    "sr-gridworld",
    "Successor-representation place fields: a grid of fields in an open field, backward-skewed "
    "fields on a track travelled in one direction, and TD learning of the SR against its closed form.",
    landmarks_,
    opts_,
    reduced_,
    run_,
    NULL, /* no check beyond the typed options */
};
