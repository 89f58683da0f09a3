/* Planning agents: Dyna-Q, Dyna-Q+ (Sutton 1990; Sutton & Barto 2018, 8.2-8.3) and
 * prioritized sweeping (Moore & Atkeson 1993; Sutton & Barto 2018, 8.4) over a deterministic
 * learned model. Everything is allocated in soma__dyna_init; steps allocate nothing. */
#include <math.h>
#include <stdlib.h>

#include "rl/tabular_internal.h"

soma_status soma__dyna_init(soma_tab *t) {
    size_t n_sa = (size_t)t->n_states * t->n_actions, ns = (size_t)t->n_states;
    t->m_next = malloc(n_sa * sizeof(int));
    t->m_r = calloc(n_sa, sizeof(double));
    t->m_term = calloc(n_sa, 1);
    t->m_last = calloc(n_sa, sizeof(long));
    t->seen = malloc(n_sa * sizeof(int));
    t->s_seen = calloc(ns, 1);
    t->pred_head = malloc(ns * sizeof(int));
    t->pred_next = malloc(n_sa * sizeof(int));
    t->heap = malloc(n_sa * sizeof(int));
    t->heap_pos = malloc(n_sa * sizeof(int));
    t->prio = calloc(n_sa, sizeof(double));
    if (!t->m_next || !t->m_r || !t->m_term || !t->m_last || !t->seen || !t->s_seen || !t->pred_head ||
        !t->pred_next || !t->heap || !t->heap_pos || !t->prio)
        return SOMA_ERR_NOMEM; /* the caller frees what was allocated */
    for (size_t i = 0; i < n_sa; i++) {
        t->m_next[i] = -1;
        t->pred_next[i] = -1;
        t->heap_pos[i] = -1;
    }
    for (size_t i = 0; i < ns; i++) t->pred_head[i] = -1;
    t->n_seen = 0;
    t->heap_n = 0;
    return SOMA_OK;
}

void soma__dyna_free(soma_tab *t) {
    free(t->m_next);
    free(t->m_r);
    free(t->m_term);
    free(t->m_last);
    free(t->seen);
    free(t->s_seen);
    free(t->pred_head);
    free(t->pred_next);
    free(t->heap);
    free(t->heap_pos);
    free(t->prio);
}

// --- the model ---------------------------------------------------------------------------

/* Records sa -> (next, r, term); keeps the predecessor lists and the observed list. */
static void model_set_(soma_tab *t, int sa, int next, double r, int term) {
    int old = t->m_next[sa];
    if (old < 0) {
        t->seen[t->n_seen++] = sa;
    } else if (old != next) { /* unlink sa from old's predecessors */
        int *p = &t->pred_head[old];
        while (*p != sa) p = &t->pred_next[*p];
        *p = t->pred_next[sa];
    }
    if (old != next) {
        t->pred_next[sa] = t->pred_head[next];
        t->pred_head[next] = sa;
    }
    t->m_next[sa] = next;
    t->m_r[sa] = r;
    t->m_term[sa] = (unsigned char)term;
}

static void q_update_(soma_tab *t, int sa, double r, int next, int term) {
    double target = r + (term ? 0.0 : t->cfg.gamma * soma__tab_max(t, next));
    t->q[sa] += t->cfg.alpha * (target - t->q[sa]);
    t->updates++;
}

// --- prioritized sweeping's queue: a binary max-heap with positions ----------------------

static void heap_swap_(soma_tab *t, int i, int j) {
    int a = t->heap[i], b = t->heap[j];
    t->heap[i] = b;
    t->heap[j] = a;
    t->heap_pos[b] = i;
    t->heap_pos[a] = j;
}

static void heap_up_(soma_tab *t, int i) {
    while (i > 0) {
        int p = (i - 1) / 2;
        if (t->prio[t->heap[p]] >= t->prio[t->heap[i]]) break;
        heap_swap_(t, i, p);
        i = p;
    }
}

static void heap_down_(soma_tab *t, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < t->heap_n && t->prio[t->heap[l]] > t->prio[t->heap[m]]) m = l;
        if (r < t->heap_n && t->prio[t->heap[r]] > t->prio[t->heap[m]]) m = r;
        if (m == i) return;
        heap_swap_(t, i, m);
        i = m;
    }
}

/* Queues sa with priority p, or raises its priority to p when it is queued lower. */
static void heap_push_(soma_tab *t, int sa, double p) {
    if (t->heap_pos[sa] >= 0) {
        if (p > t->prio[sa]) {
            t->prio[sa] = p;
            heap_up_(t, t->heap_pos[sa]);
        }
        return;
    }
    t->prio[sa] = p;
    t->heap[t->heap_n] = sa;
    t->heap_pos[sa] = t->heap_n++;
    heap_up_(t, t->heap_n - 1);
}

static int heap_pop_(soma_tab *t) {
    int top = t->heap[0];
    heap_swap_(t, 0, --t->heap_n);
    t->heap_pos[top] = -1;
    if (t->heap_n > 0) heap_down_(t, 0);
    return top;
}

static double priority_(const soma_tab *t, int sa) {
    int next = t->m_next[sa];
    return fabs(t->m_r[sa] + (t->m_term[sa] ? 0.0 : t->cfg.gamma * soma__tab_max(t, next)) - t->q[sa]);
}

// --- a real step ----------------------------------------------------------------------------

void soma__dyna_observe(soma_tab *t, int s, int a, double r, int s2, int terminal) {
    int na = t->n_actions, sa = s * na + a;
    if (t->kind == SOMA_TAB_DYNA_Q_PLUS && !t->s_seen[s]) {
        /* untried actions of a newly visited state: modelled as staying put with reward 0 */
        t->s_seen[s] = 1;
        for (int b = 0; b < na; b++)
            if (b != a && t->m_next[s * na + b] < 0) {
                model_set_(t, s * na + b, s, 0.0, 0);
                t->m_last[s * na + b] = 0;
            }
    }
    model_set_(t, sa, s2, r, terminal);
    t->m_last[sa] = t->t;

    if (t->kind == SOMA_TAB_PRIORITIZED_SWEEPING) {
        double p = priority_(t, sa);
        if (p > t->cfg.theta) heap_push_(t, sa, p);
        for (int k = 0; k < t->cfg.planning_steps && t->heap_n > 0; k++) {
            int x = heap_pop_(t), xs = x / na;
            q_update_(t, x, t->m_r[x], t->m_next[x], t->m_term[x]);
            for (int y = t->pred_head[xs]; y >= 0; y = t->pred_next[y]) {
                double py = priority_(t, y);
                if (py > t->cfg.theta) heap_push_(t, y, py);
            }
        }
        return;
    }
    /* Dyna-Q, Dyna-Q+: direct RL, then planning from uniformly sampled observed pairs */
    q_update_(t, sa, r, s2, terminal);
    int plus = t->kind == SOMA_TAB_DYNA_Q_PLUS;
    for (int k = 0; k < t->cfg.planning_steps; k++) {
        int x = t->seen[soma_rng_below(&t->rng, (uint64_t)t->n_seen)];
        double rx = t->m_r[x];
        if (plus) rx += t->cfg.kappa * sqrt((double)(t->t - t->m_last[x]));
        q_update_(t, x, rx, t->m_next[x], t->m_term[x]);
    }
}
