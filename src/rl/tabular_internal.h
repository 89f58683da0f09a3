/* Private to src/rl/tabular.c and src/rl/dyna.c: the tabular agent and its planning model. */
#ifndef SOMA_RL_TABULAR_INTERNAL_H
#define SOMA_RL_TABULAR_INTERNAL_H
#include "soma/rl.h"

struct soma_tab {
    soma_tab_kind kind;
    soma_tab_config cfg;
    int n_states, n_actions;
    soma_rng rng;
    double *q;     /* [n_states * n_actions]: action values (actor-critic: preferences) */
    double *v;     /* [n_states]: actor-critic state values, else NULL */
    double *probs; /* [n_actions]: scratch for the softmax policy */
    long updates;
    long t;        /* real steps so far (Dyna-Q+'s clock) */
    /* the learned model (planning kinds), one entry per state-action sa = s * n_actions + a */
    int *m_next;          /* next state, -1: never observed */
    double *m_r;          /* reward */
    unsigned char *m_term;/* 1: the step ended the episode */
    long *m_last;         /* real step at which sa was last tried (Dyna-Q+) */
    int *seen;            /* observed state-actions, n_seen of them (Dyna sampling) */
    int n_seen;
    unsigned char *s_seen;/* [n_states]: 1 once a state was visited (Dyna-Q+) */
    int *pred_head;       /* [n_states]: first state-action predicted to lead there, -1 none */
    int *pred_next;       /* [n_sa]: the next one in that list */
    /* prioritized sweeping's max-heap of state-actions */
    int *heap, heap_n;
    int *heap_pos;        /* [n_sa]: index in heap, -1 when not queued */
    double *prio;         /* [n_sa] */
};

/* max_a q[s, a] */
double soma__tab_max(const soma_tab *t, int s);
/* Allocates the model (t->m_* and the lists) for the planning kinds. */
soma_status soma__dyna_init(soma_tab *t);
void soma__dyna_free(soma_tab *t);
/* A real step for the planning kinds: model update, then planning. */
void soma__dyna_observe(soma_tab *t, int s, int a, double r, int s2, int terminal);

#endif
