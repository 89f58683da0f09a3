/* Pair-based STDP with exponential traces (all pairs), additive or multiplicative.
 *
 * Each plastic projection keeps a trace a pre neuron, x_pre = sum over its spikes of
 * exp(-(t - t_spike) / tau_plus), and one a post neuron (tau_minus). They are stored with the
 * step of their last change and decayed exactly when read, so a step costs nothing for the
 * neurons that did not spike. In a step, after the spikes' jumps were queued with the old
 * weights (net.c), first every pre spike depresses its outgoing synapses by
 * A_minus w_max x_post (multiplicative: A_minus w x_post) and bumps its trace; then every
 * post spike potentiates its incoming synapses by A_plus w_max x_pre (multiplicative:
 * A_plus (w_max - w) x_pre) and bumps its trace. So a pre and a post spike in the same step
 * count as pre before post (potentiation), as in Brian2's Song et al. example. Spike times
 * are the emission times (no dendritic delay); each change is clipped to [0, w_max]. */
#include <math.h>
#include <string.h>

#include "snn/internal.h"

soma_status snn__stdp_init(snn_proj *p) {
    soma_free(p->xpre); /* (a first run that failed after allocating them) */
    soma_free(p->xpost);
    soma_free(p->tpre);
    soma_free(p->tpost);
    p->xpre = soma_calloc((size_t)p->n_pre, sizeof *p->xpre);
    p->xpost = soma_calloc((size_t)p->n_post, sizeof *p->xpost);
    p->tpre = soma_calloc((size_t)p->n_pre, sizeof *p->tpre);
    p->tpost = soma_calloc((size_t)p->n_post, sizeof *p->tpost);
    if (!p->xpre || !p->xpost || !p->tpre || !p->tpost)
        return soma_error(SOMA_ERR_NOMEM, "snn: out of memory for STDP traces");
    return SOMA_OK;
}

static inline double trace_(const double *x, const int64_t *t, int i, int64_t now, double dt, double tau) {
    return x[i] == 0.0 ? 0.0 : x[i] * exp(-(double)(now - t[i]) * dt / tau);
}

static inline float clip_(double w, double w_max) { return (float)(w < 0 ? 0 : w > w_max ? w_max : w); }

static void pre_spike_(snn_proj *p, int i, int64_t now, double dt) {
    const soma_stdp *s = &p->stdp;
    const double wm = s->w_max;
    for (int64_t e = p->row[i]; e < p->row[i + 1]; e++) {
        const double xp = trace_(p->xpost, p->tpost, p->col[e], now, dt, s->tau_minus);
        if (xp == 0.0) continue;
        const double w = p->w[e];
        const double dw = s->multiplicative ? s->A_minus * w * xp : s->A_minus * wm * xp;
        p->w[e] = clip_(w - dw, wm);
    }
    p->xpre[i] = trace_(p->xpre, p->tpre, i, now, dt, s->tau_plus) + 1.0;
    p->tpre[i] = now;
}

static void post_spike_(snn_proj *p, int j, int64_t now, double dt) {
    const soma_stdp *s = &p->stdp;
    const double wm = s->w_max;
    for (int64_t c = p->cptr[j]; c < p->cptr[j + 1]; c++) {
        const double xp = trace_(p->xpre, p->tpre, p->cpre[c], now, dt, s->tau_plus);
        if (xp == 0.0) continue;
        const int64_t e = p->cidx[c];
        const double w = p->w[e];
        const double dw = s->multiplicative ? s->A_plus * (wm - w) * xp : s->A_plus * wm * xp;
        p->w[e] = clip_(w + dw, wm);
    }
    p->xpost[j] = trace_(p->xpost, p->tpost, j, now, dt, s->tau_minus) + 1.0;
    p->tpost[j] = now;
}

void snn__stdp_step(soma_snn *net, snn_proj *p) {
    const snn_group *pre = &net->g[p->pre], *post = &net->g[p->post];
    const int64_t now = net->step;
    const int par = (int)(now & 1);
    for (int th = 0; th < net->nt; th++) {
        const int *ids;
        const int ns = snn__seg(pre, par, th, &ids);
        for (int k = 0; k < ns; k++) pre_spike_(p, ids[k], now, net->dt);
    }
    for (int th = 0; th < net->nt; th++) {
        const int *ids;
        const int ns = snn__seg(post, par, th, &ids);
        for (int k = 0; k < ns; k++) post_spike_(p, ids[k], now, net->dt);
    }
}
