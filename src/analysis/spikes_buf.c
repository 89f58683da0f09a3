/* The spike record (soma_spikes): a growable pair of arrays, ids and times in time order. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "soma/analysis.h"

soma_status soma_spikes_init(soma_spikes *s, int n_neurons, double t_start) {
    if (!s) return soma_error(SOMA_ERR_ARG, "spikes: NULL record");
    memset(s, 0, sizeof *s);
    if (n_neurons < 0) return soma_error(SOMA_ERR_ARG, "spikes: %d neurons", n_neurons);
    if (!isfinite(t_start)) return soma_error(SOMA_ERR_ARG, "spikes: non-finite start time");
    s->n_neurons = n_neurons;
    s->t_start = s->t_stop = t_start;
    return SOMA_OK;
}

void soma_spikes_free(soma_spikes *s) {
    if (!s) return;
    free(s->id);
    free(s->t);
    s->id = NULL;
    s->t = NULL;
    s->n = s->cap = 0;
}

soma_status soma_spikes_push(soma_spikes *s, int id, double t) {
    if (id < 0 || id >= s->n_neurons)
        return soma_error(SOMA_ERR_ARG, "spikes: neuron %d outside 0..%d", id, s->n_neurons - 1);
    if (!(t >= (s->n ? s->t[s->n - 1] : s->t_start)))
        return soma_error(SOMA_ERR_ARG, "spikes: time %g ms out of order", t);
    if (s->n == s->cap) {
        long cap = s->cap ? s->cap * 2 : 1024;
        if (cap > (long)(SIZE_MAX / sizeof(double))) return soma_error(SOMA_ERR_NOMEM, "spikes: too many");
        int *id2 = realloc(s->id, (size_t)cap * sizeof *id2);
        if (!id2) return soma_error(SOMA_ERR_NOMEM, "spikes: out of memory at %ld spikes", s->n);
        s->id = id2;
        double *t2 = realloc(s->t, (size_t)cap * sizeof *t2);
        if (!t2) return soma_error(SOMA_ERR_NOMEM, "spikes: out of memory at %ld spikes", s->n);
        s->t = t2;
        s->cap = cap;
    }
    s->id[s->n] = id;
    s->t[s->n] = t;
    s->n++;
    if (t > s->t_stop) s->t_stop = t;
    return SOMA_OK;
}
