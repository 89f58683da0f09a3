/* Monitors: every spike of a group, a state variable of chosen neurons, a group's population
 * rate. State monitors sample at the start of a step (the values at t_n, Brian2's "start"
 * slot); spike and rate monitors record a step's spikes, stamped t_n. Sample buffers are grown
 * before a run for all its steps, so the step loop never allocates for them. */
#include <math.h>
#include <string.h>

#include "snn/internal.h"

void snn__monitor_free(snn_monitor *m) {
    soma_spikes_free(&m->spikes);
    soma_free(m->idx);
    soma_free(m->data);
    soma_free(m->t);
    soma_free(m->hz);
    memset(m, 0, sizeof *m);
}

static soma_status add_(soma_snn *net, int group, soma_monitor_kind kind, snn_monitor **out, int *mon) {
    if (!net) return soma_error(SOMA_ERR_ARG, "snn: monitor: NULL network");
    if (group < 0 || group >= net->n_groups)
        return soma_error(SOMA_ERR_ARG, "snn: monitor: no group %d (the net has %d)", group, net->n_groups);
    if (net->n_mon == net->cap_mon) {
        int nc = net->cap_mon ? net->cap_mon * 2 : 8;
        snn_monitor *n = soma_calloc((size_t)nc, sizeof *n);
        if (!n) return soma_error(SOMA_ERR_NOMEM, "snn: out of memory");
        if (net->mon) memcpy(n, net->mon, (size_t)net->n_mon * sizeof *n);
        soma_free(net->mon);
        net->mon = n;
        net->cap_mon = nc;
    }
    snn_monitor *m = &net->mon[net->n_mon];
    memset(m, 0, sizeof *m);
    m->kind = kind;
    m->group = group;
    m->step0 = net->step;
    *out = m;
    if (mon) *mon = net->n_mon;
    return SOMA_OK;
}

soma_status soma_snn_record_spikes(soma_snn *net, int group, int *mon) {
    snn_monitor *m = NULL;
    int id = -1;
    SOMA_TRY(add_(net, group, SOMA_MON_SPIKES, &m, &id));
    SOMA_TRY(soma_spikes_init(&m->spikes, net->g[group].n, soma_snn_time(net)));
    net->n_mon++;
    if (mon) *mon = id;
    return SOMA_OK;
}

soma_status soma_snn_record_state(soma_snn *net, int group, const char *var, const int *neurons, int n, int every,
                                  int *mon) {
    snn_monitor *m = NULL;
    int id = -1;
    SOMA_TRY(add_(net, group, SOMA_MON_STATE, &m, &id));
    const snn_group *g = &net->g[group];
    const int k = snn__var_parse(g, var);
    if (k < 0)
        return soma_error(SOMA_ERR_ARG, "snn: record_state: group %s (%s) has no variable '%s'", g->name,
                          soma_neuron_model_name(g->p.model), var ? var : "(null)");
    if (n < 1 || !neurons) return soma_error(SOMA_ERR_ARG, "snn: record_state: %d neurons, need at least 1", n);
    if (every < 1) return soma_error(SOMA_ERR_ARG, "snn: record_state: every = %d, need >= 1 step", every);
    for (int j = 0; j < n; j++)
        if (neurons[j] < 0 || neurons[j] >= g->n)
            return soma_error(SOMA_ERR_ARG, "snn: record_state: neuron %d outside 0..%d of %s", neurons[j], g->n - 1,
                              g->name);
    m->idx = soma_alloc((size_t)n, sizeof *m->idx);
    if (!m->idx) return soma_error(SOMA_ERR_NOMEM, "snn: out of memory");
    memcpy(m->idx, neurons, (size_t)n * sizeof *m->idx);
    m->var = k;
    m->n = n;
    m->every = every;
    net->n_mon++;
    if (mon) *mon = id;
    return SOMA_OK;
}

soma_status soma_snn_record_rate(soma_snn *net, int group, int *mon) {
    snn_monitor *m = NULL;
    int id = -1;
    SOMA_TRY(add_(net, group, SOMA_MON_RATE, &m, &id));
    net->n_mon++;
    if (mon) *mon = id;
    return SOMA_OK;
}

int soma_snn_n_monitors(const soma_snn *net) { return net ? net->n_mon : 0; }

soma_status soma_snn_monitor_info(const soma_snn *net, int mon, soma_monitor_kind *kind, int *group) {
    if (!net || mon < 0 || mon >= net->n_mon)
        return soma_error(SOMA_ERR_ARG, "snn: no monitor %d (the net has %d)", mon, net ? net->n_mon : 0);
    if (kind) *kind = net->mon[mon].kind;
    if (group) *group = net->mon[mon].group;
    return SOMA_OK;
}

const soma_spikes *soma_snn_spikes(const soma_snn *net, int mon) {
    if (!net || mon < 0 || mon >= net->n_mon || net->mon[mon].kind != SOMA_MON_SPIKES) return NULL;
    return &net->mon[mon].spikes;
}

soma_status soma_snn_state(const soma_snn *net, int mon, const float **data, const double **t, long *n_samples,
                           int *n_neurons) {
    if (!net || mon < 0 || mon >= net->n_mon || net->mon[mon].kind != SOMA_MON_STATE)
        return soma_error(SOMA_ERR_ARG, "snn: monitor %d is not a state monitor", mon);
    const snn_monitor *m = &net->mon[mon];
    if (data) *data = m->data;
    if (t) *t = m->t;
    if (n_samples) *n_samples = m->n_samples;
    if (n_neurons) *n_neurons = m->n;
    return SOMA_OK;
}

soma_status soma_snn_rate(const soma_snn *net, int mon, const float **hz, long *n_steps) {
    if (!net || mon < 0 || mon >= net->n_mon || net->mon[mon].kind != SOMA_MON_RATE)
        return soma_error(SOMA_ERR_ARG, "snn: monitor %d is not a rate monitor", mon);
    if (hz) *hz = net->mon[mon].hz;
    if (n_steps) *n_steps = net->mon[mon].n_rate;
    return SOMA_OK;
}

// --- inside a run ---------------------------------------------------------------------------

soma_status snn__monitors_reserve(soma_snn *net, long steps) {
    for (int i = 0; i < net->n_mon; i++) {
        snn_monitor *m = &net->mon[i];
        if (m->kind == SOMA_MON_STATE) {
            const long need = m->n_samples + steps / m->every + 1;
            if (need <= m->cap) continue;
            size_t cells;
            if (!soma_mul_ok((size_t)need, (size_t)m->n, &cells))
                return soma_error(SOMA_ERR_NOMEM, "snn: state monitor %d: %ld samples x %d neurons", i, need, m->n);
            float *d = soma_alloc(cells, sizeof *d);
            double *t = soma_alloc((size_t)need, sizeof *t);
            if (!d || !t) {
                soma_free(d);
                soma_free(t);
                return soma_error(SOMA_ERR_NOMEM, "snn: state monitor %d: out of memory for %ld samples x %d neurons", i,
                                  need, m->n);
            }
            if (m->n_samples) {
                memcpy(d, m->data, (size_t)m->n_samples * (size_t)m->n * sizeof *d);
                memcpy(t, m->t, (size_t)m->n_samples * sizeof *t);
            }
            soma_free(m->data);
            soma_free(m->t);
            m->data = d;
            m->t = t;
            m->cap = need;
        } else if (m->kind == SOMA_MON_RATE) {
            const long need = m->n_rate + steps;
            if (need <= m->cap_rate) continue;
            float *h = soma_alloc((size_t)(need ? need : 1), sizeof *h);
            if (!h) return soma_error(SOMA_ERR_NOMEM, "snn: rate monitor %d: out of memory for %ld steps", i, need);
            if (m->n_rate) memcpy(h, m->hz, (size_t)m->n_rate * sizeof *h);
            soma_free(m->hz);
            m->hz = h;
            m->cap_rate = need;
        }
    }
    return SOMA_OK;
}

void snn__monitors_state(soma_snn *net) {
    for (int i = 0; i < net->n_mon; i++) {
        snn_monitor *m = &net->mon[i];
        if (m->kind != SOMA_MON_STATE || (net->step - m->step0) % m->every != 0 || m->n_samples >= m->cap) continue;
        const snn_group *g = &net->g[m->group];
        const double *x = snn__var_data(g, m->var);
        float *row = m->data + (size_t)m->n_samples * (size_t)m->n;
        for (int j = 0; j < m->n; j++) row[j] = (float)(x[m->idx[j]] + snn__pending(g, m->var, m->idx[j], net->step));
        m->t[m->n_samples++] = (double)net->step * net->dt;
    }
}

soma_status snn__monitors_spikes(soma_snn *net, int par) {
    const double t = (double)net->step * net->dt;
    for (int i = 0; i < net->n_mon; i++) {
        snn_monitor *m = &net->mon[i];
        const snn_group *g = &net->g[m->group];
        if (m->kind == SOMA_MON_SPIKES) {
            for (int th = 0; th < net->nt; th++) {
                const int *ids;
                const int ns = snn__seg(g, par, th, &ids);
                for (int s = 0; s < ns; s++) SOMA_TRY(soma_spikes_push(&m->spikes, ids[s], t));
            }
        } else if (m->kind == SOMA_MON_RATE && m->n_rate < m->cap_rate) {
            const int ns = snn__n_spikes(g, par, net->nt);
            m->hz[m->n_rate++] = (float)((double)ns / ((double)g->n * net->dt * 1e-3));
        }
    }
    return SOMA_OK;
}

void snn__monitors_finish(soma_snn *net) {
    const double t = soma_snn_time(net);
    for (int i = 0; i < net->n_mon; i++)
        if (net->mon[i].kind == SOMA_MON_SPIKES && net->mon[i].spikes.t_stop < t) net->mon[i].spikes.t_stop = t;
}
