// Ground truth for connectivity inference: a sparse LIF network with known weights, driven to
// irregular firing by independent Poisson input to every neuron (soma/neuro.h).
#include <string.h>

#include "soma/neuro.h"
#include "soma/snn.h"

soma_synth_lif_opts soma_synth_lif_defaults(void) {
    soma_synth_lif_opts o;
    memset(&o, 0, sizeof o);
    o.n = 100;
    o.frac_inh = 0.2;
    o.p = 0.1;
    o.w_exc = 1.0;
    o.w_inh = -2.0;
    o.delay_ms = 1.5;
    o.drive_hz = 400.0;
    o.drive_mv = 1.0;
    o.duration_ms = 600000.0;
    o.dt_ms = 0.25;
    return o;
}

soma_status soma_synth_lif(const soma_synth_lif_opts *o, uint64_t seed, soma_spikes *spikes, float *w) {
    if (!o || !spikes || !w) return soma_error(SOMA_ERR_ARG, "synth-lif: NULL argument");
    memset(spikes, 0, sizeof *spikes);
    const int n = o->n, n_inh = (int)(o->frac_inh * o->n + 0.5), n_exc = n - n_inh;
    if (n < 2 || n > 4096)
        return soma_error(SOMA_ERR_ARG, "synth-lif: %d neurons (must be 2..4096)", n);
    if (!(o->frac_inh >= 0 && o->frac_inh < 1) || n_exc < 1)
        return soma_error(SOMA_ERR_ARG, "synth-lif: inhibitory fraction %g must be in [0, 1)", o->frac_inh);
    if (!(o->p > 0 && o->p <= 1)) return soma_error(SOMA_ERR_ARG, "synth-lif: connection probability %g", o->p);
    if (!(o->w_exc >= 0) || !(o->w_inh <= 0))
        return soma_error(SOMA_ERR_ARG, "synth-lif: weights exc %g (>= 0), inh %g (<= 0)", o->w_exc, o->w_inh);
    if (!(o->dt_ms > 0 && o->dt_ms <= 1) || !(o->delay_ms >= o->dt_ms) || !(o->duration_ms > 0) ||
        !(o->duration_ms <= 3.6e6) || !(o->drive_hz > 0) || !(o->drive_mv > 0))
        return soma_error(SOMA_ERR_ARG,
                          "synth-lif: dt %g ms (0..1], delay %g ms (>= dt), duration %g ms (0..3.6e6], drive %g Hz x "
                          "%g mV (> 0)",
                          o->dt_ms, o->delay_ms, o->duration_ms, o->drive_hz, o->drive_mv);
    soma_neuron_params p, ps;
    soma_neuron_defaults(SOMA_LIF, &p);
    p.synapse = SOMA_SYN_DELTA; /* tau_m = 20 ms, threshold 10 mV above rest */
    p.t_ref = 2.0;
    p.V_init_lo = p.EL;
    p.V_init_hi = p.V_th;
    soma_neuron_defaults(SOMA_POISSON, &ps);
    ps.rate = o->drive_hz;
    soma_snn *net = NULL;
    int ge, gi = -1, src, mon_e, mon_i = -1, pe, pi = -1;
    soma_status st;
    int *pre = NULL, *post = NULL;
    float *ww = NULL;
    if ((st = soma_snn_new(&net, o->dt_ms, seed)) != SOMA_OK) return st;
    /* Neurons 0..n_exc-1 excitatory, the rest inhibitory: two groups, one id space. */
    if ((st = soma_snn_add_group(net, "exc", n_exc, &p, &ge)) != SOMA_OK) goto out;
    if (n_inh > 0 && (st = soma_snn_add_group(net, "inh", n_inh, &p, &gi)) != SOMA_OK) goto out;
    if ((st = soma_snn_add_group(net, "drive", n, &ps, &src)) != SOMA_OK) goto out;
    soma_conn_spec c = soma_conn_default();
    const int groups[2] = {ge, gi}, sizes[2] = {n_exc, n_inh};
    /* drive: source k -> neuron k */
    for (int g = 0; g < 2; g++) {
        if (sizes[g] == 0) continue;
        int *a = soma_alloc((size_t)sizes[g], sizeof *a);
        int *b = soma_alloc((size_t)sizes[g], sizeof *b);
        if (!a || !b) {
            soma_free(a);
            soma_free(b);
            st = soma_error(SOMA_ERR_NOMEM, "synth-lif: out of memory");
            goto out;
        }
        for (int k = 0; k < sizes[g]; k++) a[k] = (g ? n_exc : 0) + k, b[k] = k;
        c = soma_conn_default();
        c.pre = src;
        c.post = groups[g];
        c.rule = SOMA_CONN_EDGES;
        c.edge_pre = a;
        c.edge_post = b;
        c.n_edges = sizes[g];
        c.weight = o->drive_mv;
        c.delay = o->dt_ms;
        st = soma_snn_connect(net, &c, NULL);
        soma_free(a);
        soma_free(b);
        if (st != SOMA_OK) goto out;
    }
    /* recurrent: every ordered pair (no autapses) with probability p */
    int proj[2][2];
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            proj[a][b] = -1;
            if (sizes[a] == 0 || sizes[b] == 0) continue;
            c = soma_conn_default();
            c.pre = groups[a];
            c.post = groups[b];
            c.rule = SOMA_CONN_PROB;
            c.p = o->p;
            c.weight = a == 0 ? o->w_exc : o->w_inh;
            c.target = a == 0 ? SOMA_TARGET_EXC : SOMA_TARGET_INH;
            c.delay = o->delay_ms;
            if ((st = soma_snn_connect(net, &c, &proj[a][b])) != SOMA_OK) goto out;
        }
    (void)pe;
    (void)pi;
    if ((st = soma_snn_record_spikes(net, ge, &mon_e)) != SOMA_OK) goto out;
    if (gi >= 0 && (st = soma_snn_record_spikes(net, gi, &mon_i)) != SOMA_OK) goto out;
    if ((st = soma_snn_run(net, o->duration_ms)) != SOMA_OK) goto out;
    memset(w, 0, (size_t)n * n * sizeof *w);
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            if (proj[a][b] < 0) continue;
            const long m = soma_snn_proj_size(net, proj[a][b]);
            pre = soma_alloc((size_t)m + 1, sizeof *pre);
            post = soma_alloc((size_t)m + 1, sizeof *post);
            ww = soma_alloc((size_t)m + 1, sizeof *ww);
            if (!pre || !post || !ww) {
                st = soma_error(SOMA_ERR_NOMEM, "synth-lif: out of memory");
                goto out;
            }
            if ((st = soma_snn_proj_get(net, proj[a][b], pre, post, ww)) != SOMA_OK) goto out;
            const int oa = a ? n_exc : 0, ob = b ? n_exc : 0;
            for (long k = 0; k < m; k++) w[(size_t)(oa + pre[k]) * n + ob + post[k]] = ww[k];
            soma_free(pre);
            soma_free(post);
            soma_free(ww);
            pre = post = NULL;
            ww = NULL;
        }
    /* merge the two groups' spikes in time order */
    const soma_spikes *se = soma_snn_spikes(net, mon_e), *si = mon_i >= 0 ? soma_snn_spikes(net, mon_i) : NULL;
    if ((st = soma_spikes_init(spikes, n, 0.0)) != SOMA_OK) goto out;
    long ke = 0, ki = 0;
    const long ne = se->n, ni = si ? si->n : 0;
    while (ke < ne || ki < ni) {
        if (ki >= ni || (ke < ne && se->t[ke] <= si->t[ki])) {
            st = soma_spikes_push(spikes, se->id[ke], se->t[ke]);
            ke++;
        } else {
            st = soma_spikes_push(spikes, n_exc + si->id[ki], si->t[ki]);
            ki++;
        }
        if (st != SOMA_OK) goto out;
    }
    spikes->t_stop = o->duration_ms;
out:
    soma_free(pre);
    soma_free(post);
    soma_free(ww);
    soma_snn_free(net);
    if (st != SOMA_OK) soma_spikes_free(spikes);
    return st;
}
