/* Prioritized replay by gain x need (Mattar & Daw 2018) in a Dyna-style Q-learner: softmax
 * policy, gain of a backup, need from the successor representation of the agent's state,
 * one-step and n-step (greedy path from the agent) candidates, and the direction of replayed
 * sequences. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "soma/rl.h"

struct soma_evb {
    soma_evb_config c;
    double *q;              /* [S*A] action values */
    int *mem_next;          /* [S*A] remembered next state, -1 unseen */
    double *mem_rew;        /* [S*A] remembered reward */
    unsigned char *mem_end; /* [S*A] the experience ended the episode */
    unsigned char *term;    /* [S] states where an episode ended */
    double *pi;             /* [S*A] the current policy */
    double *need, *d, *d2;  /* [S] each: the need row, occupancy at t and t+1 */
    double *qrow;           /* [A] scratch */
    int *path_s, *path_a;   /* [n_step_max] the greedy path from the agent */
    double *path_g;         /* [n_step_max] n-step targets */
};

void soma_softmax(double *pi, const double *q, int n_actions, double beta) {
    double mx = q[0];
    for (int a = 1; a < n_actions; a++)
        if (q[a] > mx) mx = q[a];
    double z = 0.0;
    for (int a = 0; a < n_actions; a++) z += (pi[a] = exp(beta * (q[a] - mx)));
    for (int a = 0; a < n_actions; a++) pi[a] /= z;
}

/* gain with a caller's scratch of 2*A doubles (new values and the policies). */
static double gain_(const double *q_s, int A, int a, double q_new, double beta, double *scratch) {
    double *pold = scratch, *pnew = scratch + A;
    soma_softmax(pold, q_s, A, beta);
    /* the softmax of the new values, written without copying q_s */
    double mx = q_new;
    for (int b = 0; b < A; b++)
        if (b != a && q_s[b] > mx) mx = q_s[b];
    double z = 0.0;
    for (int b = 0; b < A; b++) z += (pnew[b] = exp(beta * ((b == a ? q_new : q_s[b]) - mx)));
    double g = 0.0;
    for (int b = 0; b < A; b++) g += (pnew[b] / z - pold[b]) * (b == a ? q_new : q_s[b]);
    return g;
}

double soma_evb_gain(const double *q_s, int n_actions, int a, double q_new, double beta) {
    double scratch[64];
    if (n_actions > 32) return NAN; /* the public helper covers small action sets */
    return gain_(q_s, n_actions, a, q_new, beta, scratch);
}

void soma_evb_free(soma_evb *r) {
    if (!r) return;
    soma_free(r->q);
    soma_free(r->mem_next);
    soma_free(r->mem_rew);
    soma_free(r->mem_end);
    soma_free(r->term);
    soma_free(r->pi);
    soma_free(r->need);
    soma_free(r->d);
    soma_free(r->d2);
    soma_free(r->qrow);
    soma_free(r->path_s);
    soma_free(r->path_a);
    soma_free(r->path_g);
    free(r);
}

soma_status soma_evb_new(soma_evb **out, const soma_evb_config *cfg) {
    if (!out || !cfg) return soma_error(SOMA_ERR_ARG, "replay: NULL out or config");
    *out = NULL;
    const soma_evb_config *c = cfg;
    if (c->n_states < 1 || c->n_states > 1000000) return soma_error(SOMA_ERR_ARG, "replay: n_states %d outside 1..1000000", c->n_states);
    if (c->n_actions < 1 || c->n_actions > 32) return soma_error(SOMA_ERR_ARG, "replay: n_actions %d outside 1..32", c->n_actions);
    if (c->start < 0 || c->start >= c->n_states) return soma_error(SOMA_ERR_ARG, "replay: start %d outside 0..%d", c->start, c->n_states - 1);
    if (!(c->gamma >= 0 && c->gamma < 1)) return soma_error(SOMA_ERR_ARG, "replay: gamma %g outside [0, 1)", c->gamma);
    if (!(c->alpha > 0 && c->alpha <= 1)) return soma_error(SOMA_ERR_ARG, "replay: alpha %g outside (0, 1]", c->alpha);
    if (!(c->beta >= 0 && c->beta < 1e6)) return soma_error(SOMA_ERR_ARG, "replay: beta %g outside [0, 1e6)", c->beta);
    if (!(c->evb_min >= 0)) return soma_error(SOMA_ERR_ARG, "replay: evb_min %g is negative", c->evb_min);
    if (c->n_plan < 0) return soma_error(SOMA_ERR_ARG, "replay: n_plan %d is negative", c->n_plan);
    if (c->n_step_max < 1 || c->n_step_max > c->n_states) return soma_error(SOMA_ERR_ARG, "replay: n_step_max %d outside 1..%d", c->n_step_max, c->n_states);
    soma_evb *r = calloc(1, sizeof *r);
    if (!r) return soma_error(SOMA_ERR_NOMEM, "replay: out of memory");
    r->c = *c;
    size_t S = (size_t)c->n_states, SA = S * (size_t)c->n_actions;
    r->q = soma_calloc(SA, sizeof(double));
    r->mem_next = soma_alloc(SA, sizeof(int));
    r->mem_rew = soma_calloc(SA, sizeof(double));
    r->mem_end = soma_calloc(SA, 1);
    r->term = soma_calloc(S, 1);
    r->pi = soma_alloc(SA, sizeof(double));
    r->need = soma_alloc(S, sizeof(double));
    r->d = soma_alloc(S, sizeof(double));
    r->d2 = soma_alloc(S, sizeof(double));
    r->qrow = soma_alloc(2 * (size_t)c->n_actions, sizeof(double));
    r->path_s = soma_alloc((size_t)c->n_step_max + 1, sizeof(int));
    r->path_a = soma_alloc((size_t)c->n_step_max + 1, sizeof(int));
    r->path_g = soma_alloc((size_t)c->n_step_max + 1, sizeof(double));
    if (!r->q || !r->mem_next || !r->mem_rew || !r->mem_end || !r->term || !r->pi || !r->need ||
        !r->d || !r->d2 || !r->qrow || !r->path_s || !r->path_a || !r->path_g) {
        soma_evb_free(r);
        return soma_error(SOMA_ERR_NOMEM, "replay: out of memory for %d states", c->n_states);
    }
    for (size_t k = 0; k < SA; k++) r->mem_next[k] = -1;
    *out = r;
    return SOMA_OK;
}

const double *soma_evb_q(const soma_evb *r) { return r->q; }

int soma_evb_act(const soma_evb *r, int s, soma_rng *rng) {
    int A = r->c.n_actions;
    double pi[32];
    soma_softmax(pi, r->q + (size_t)s * A, A, r->c.beta);
    double u = soma_rng_uniform(rng), acc = 0.0;
    for (int a = 0; a < A; a++) {
        acc += pi[a];
        if (u < acc) return a;
    }
    return A - 1;
}

static double vmax_(const soma_evb *r, int s) {
    const double *q = r->q + (size_t)s * r->c.n_actions;
    double m = q[0];
    for (int a = 1; a < r->c.n_actions; a++)
        if (q[a] > m) m = q[a];
    return m;
}

/* The action that extends the path path_s[0..len) (its last state path_s[len-1]): among the
 * remembered experiences from there that lead off the path, the one of largest one-step
 * target (ties: the lower action); -1 when there is none. */
static int next_on_path_(const soma_evb *r, int len) {
    int A = r->c.n_actions, s = r->path_s[len - 1], best = -1;
    double bt = 0.0;
    for (int a = 0; a < A; a++) {
        size_t k = (size_t)s * A + a;
        int nx = r->mem_next[k];
        if (nx < 0) continue;
        int on = 0;
        for (int i = 0; i < len; i++) on |= r->path_s[i] == nx;
        if (on) continue;
        double t = r->mem_rew[k] + (r->mem_end[k] ? 0.0 : r->c.gamma * vmax_(r, nx));
        if (best < 0 || t > bt) best = a, bt = t;
    }
    return best;
}

soma_status soma_evb_observe(soma_evb *r, int s, int a, double reward, int s_next, int done) {
    const soma_evb_config *c = &r->c;
    if (s < 0 || s >= c->n_states || s_next < 0 || s_next >= c->n_states || a < 0 || a >= c->n_actions)
        return soma_error(SOMA_ERR_ARG, "replay: experience (%d, %d, %d) outside %d states, %d actions", s, a,
                          s_next, c->n_states, c->n_actions);
    size_t k = (size_t)s * c->n_actions + a;
    int end = done == SOMA_TERMINAL;
    r->mem_next[k] = s_next;
    r->mem_rew[k] = reward;
    r->mem_end[k] = (unsigned char)end;
    if (end) r->term[s_next] = 1;
    double target = reward + (end ? 0.0 : c->gamma * vmax_(r, s_next));
    r->q[k] += c->alpha * (target - r->q[k]);
    return SOMA_OK;
}

/* One-step target of a remembered experience. */
static double target_(const soma_evb *r, size_t k) {
    return r->mem_rew[k] + (r->mem_end[k] ? 0.0 : r->c.gamma * vmax_(r, r->mem_next[k]));
}

/* The need row M[s_cur, :] under the current softmax policy through the learned model
 * (unseen actions stay put; an episode end continues at the start state), by the series
 * sum_t gamma^t d_t, d_0 = 1_{s_cur}, d_{t+1} = d_t T, propagated through the model's
 * transitions (O(S A) a term) and stopped when gamma^t (its bound: d_t sums to 1) < 1e-12. */
static void need_(soma_evb *r, int s_cur, const double **need) {
    const soma_evb_config *c = &r->c;
    int S = c->n_states, A = c->n_actions;
    for (int s = 0; s < S; s++) soma_softmax(r->pi + (size_t)s * A, r->q + (size_t)s * A, A, c->beta);
    double *d = r->d, *d2 = r->d2, *m = r->need;
    memset(d, 0, (size_t)S * sizeof(double));
    memset(m, 0, (size_t)S * sizeof(double));
    d[s_cur] = 1.0;
    for (double g = 1.0; g >= 1e-12; g *= c->gamma) {
        memset(d2, 0, (size_t)S * sizeof(double));
        for (int s = 0; s < S; s++) {
            if (d[s] == 0.0) continue;
            m[s] += g * d[s];
            if (r->term[s]) {
                d2[c->start] += d[s];
                continue;
            }
            for (int a = 0; a < A; a++) {
                int nx = r->mem_next[(size_t)s * A + a];
                d2[nx >= 0 ? nx : s] += d[s] * r->pi[(size_t)s * A + a];
            }
        }
        double *t = d;
        d = d2;
        d2 = t;
        if (c->gamma == 0.0) break;
    }
    *need = m;
}

soma_status soma_evb_plan(soma_evb *r, int s_cur, soma_evb_event *ev, int cap, int *n_ev) {
    const soma_evb_config *c = &r->c;
    if (!ev || !n_ev || cap < 0) return soma_error(SOMA_ERR_ARG, "replay: NULL events or count");
    if (s_cur < 0 || s_cur >= c->n_states) return soma_error(SOMA_ERR_ARG, "replay: state %d outside 0..%d", s_cur, c->n_states - 1);
    int S = c->n_states, A = c->n_actions, ne = 0;
    *n_ev = 0;
    for (int step = 0; step < c->n_plan && ne < cap; step++) {
        const double *need;
        need_(r, s_cur, &need);
        /* one-step candidates */
        double best = -1.0;
        int best_k = -1, best_len = 0;
        for (int s = 0; s < S; s++) {
            for (int a = 0; a < A; a++) {
                size_t k = (size_t)s * A + a;
                if (r->mem_next[k] < 0 || need[s] <= 0.0) continue;
                double evb = need[s] * gain_(r->q + (size_t)s * A, A, a, target_(r, k), c->beta, r->qrow);
                if (evb > best) {
                    best = evb;
                    best_k = (int)k;
                    best_len = 1;
                }
            }
        }
        /* n-step candidates: the greedy path from the agent through memory, no state twice */
        int len = 0, s = s_cur;
        while (len < c->n_step_max && !r->term[s]) {
            r->path_s[len] = s;
            int a = next_on_path_(r, len + 1);
            if (a < 0) break;
            size_t k = (size_t)s * A + a;
            r->path_a[len] = a;
            len++;
            if (r->mem_end[k]) break;
            s = r->mem_next[k];
        }
        int best_n = 0;
        for (int n = 2; n <= len; n++) {
            /* targets of the n-step backup along path[0..n) */
            size_t kl = (size_t)r->path_s[n - 1] * A + r->path_a[n - 1];
            double g = target_(r, kl), evb = 0.0;
            for (int i = n - 1; i >= 0; i--) {
                size_t ki = (size_t)r->path_s[i] * A + r->path_a[i];
                if (i < n - 1) g = r->mem_rew[ki] + c->gamma * g;
                evb += need[r->path_s[i]] * gain_(r->q + (size_t)r->path_s[i] * A, A, r->path_a[i], g, c->beta, r->qrow);
            }
            if (evb > best) {
                best = evb;
                best_n = n;
            }
        }
        if (best < c->evb_min || (best_k < 0 && best_n == 0)) break;
        if (best_n > 0) {
            size_t kl = (size_t)r->path_s[best_n - 1] * A + r->path_a[best_n - 1];
            double g = target_(r, kl);
            for (int i = best_n - 1; i >= 0; i--) {
                size_t ki = (size_t)r->path_s[i] * A + r->path_a[i];
                if (i < best_n - 1) g = r->mem_rew[ki] + c->gamma * g;
                r->path_g[i] = g;
            }
            for (int i = 0; i < best_n && ne < cap; i++) {
                size_t ki = (size_t)r->path_s[i] * A + r->path_a[i];
                r->q[ki] = r->path_g[i];
                ev[ne++] = (soma_evb_event){r->path_s[i], r->path_a[i], r->mem_next[ki], step};
            }
        } else {
            (void)best_len;
            size_t k = (size_t)best_k;
            r->q[k] = target_(r, k);
            ev[ne++] = (soma_evb_event){(int)(k / A), (int)(k % A), r->mem_next[k], step};
        }
    }
    *n_ev = ne;
    return SOMA_OK;
}

void soma_evb_directions(const soma_evb_event *ev, int n, long *fwd, long *rev) {
    for (int i = 0; i + 1 < n; i++) {
        const soma_evb_event *a = ev + i, *b = ev + i + 1;
        if (a->s == a->s_next || b->s == b->s_next) continue;
        int f = b->s == a->s_next, r = b->s_next == a->s;
        if (f && !r) (*fwd)++;
        if (r && !f) (*rev)++;
    }
}
