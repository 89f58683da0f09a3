// What the spiking-network experiments share: the Vogels & Abbott network (cuba, coba), the
// statistics over several spike records, the raster + rate panels, the performance figures.
#define _DEFAULT_SOURCE
#include "exp/snn_common.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

// --- options ---------------------------------------------------------------------------


soma_status soma__va_cfg_from_args(const soma_exp_ctx *c, int coba, soma__va_cfg *cfg) {
    memset(cfg, 0, sizeof *cfg);
    double dur_s;
    cfg->coba = coba;
    SOMA_TRY(soma_args_int(&c->args, "neurons", &cfg->n));
    SOMA_TRY(soma_args_double(&c->args, "duration", &dur_s));
    SOMA_TRY(soma_args_double(&c->args, "dt", &cfg->dt));
    if (coba) {
        SOMA_TRY(soma_args_double(&c->args, "kick", &cfg->kick_ms));
        SOMA_TRY(soma_args_double(&c->args, "kick-rate", &cfg->kick_rate));
    }
    cfg->duration = dur_s * 1000.0;
    cfg->w_scale = 1.0;
    cfg->p = 80.0 / cfg->n;
    if (soma_args_given(&c->args, "p")) {
        SOMA_TRY(soma_args_double(&c->args, "p", &cfg->p));
        cfg->w_scale = (0.02 * 4000.0) / (cfg->p * cfg->n);
    }
    if (cfg->p > 1.0)
        return soma_error(SOMA_ERR_ARG, "--neurons %d gives connection probability 80/N = %.3g > 1; "
                          "use at least 80 neurons or give --p", cfg->n, cfg->p);
    if (cfg->n < 5) return soma_error(SOMA_ERR_ARG, "--neurons %d: need at least 5", cfg->n);
    return SOMA_OK;
}

// --- the network -----------------------------------------------------------------------

static void va_params_(const soma__va_cfg *cfg, soma_neuron_params *p) {
    soma_neuron_defaults(SOMA_LIF, p);
    p->C = 200.0; /* pF; tau_m = C / gL = 20 ms */
    p->gL = 10.0; /* nS */
    p->V_th = -50.0;
    p->V_reset = -60.0;
    p->t_ref = 5.0;
    p->tau_e = 5.0;
    p->tau_i = 10.0;
    p->I_ext = 0.0;
    p->V_init_lo = -60.0;
    p->V_init_hi = -50.0;
    if (cfg->coba) {
        p->synapse = SOMA_SYN_CONDUCTANCE;
        p->EL = -60.0;
        p->E_e = 0.0;
        p->E_i = -80.0;
    } else {
        p->synapse = SOMA_SYN_CURRENT;
        p->EL = -49.0; /* above threshold: the network fires without input */
    }
}

void soma__va_free(soma__va_net *v) {
    if (!v) return;
    soma_snn_free(v->net);
    v->net = NULL;
}

soma_status soma__va_build(const soma__va_cfg *cfg, uint64_t seed, soma__va_net *out) {
    memset(out, 0, sizeof *out);
    out->g_kick_e = out->g_kick_i = -1;
    int n_exc = (int)lround(0.8 * cfg->n), n_inh = cfg->n - n_exc;
    soma_neuron_params p;
    va_params_(cfg, &p);
    /* R I = w (mV) with R = 1/gL: 1.62 mV -> 16.2 pA, -9 mV -> -90 pA (gL 10 nS) */
    double we = (cfg->coba ? 6.0 : 1.62 * p.gL) * cfg->w_scale;
    double wi = (cfg->coba ? 67.0 : -9.0 * p.gL) * cfg->w_scale;
    soma_status st = soma_snn_new(&out->net, cfg->dt, seed);
    if (st != SOMA_OK) return st;
    soma_snn *net = out->net;
    if ((st = soma_snn_add_group(net, "exc", n_exc, &p, &out->g_exc)) != SOMA_OK) goto fail;
    if ((st = soma_snn_add_group(net, "inh", n_inh, &p, &out->g_inh)) != SOMA_OK) goto fail;
    const int pre[4] = {out->g_exc, out->g_exc, out->g_inh, out->g_inh};
    const int post[4] = {out->g_exc, out->g_inh, out->g_exc, out->g_inh};
    for (int k = 0; k < 4; k++) {
        soma_conn_spec cs = soma_conn_default();
        cs.pre = pre[k];
        cs.post = post[k];
        cs.rule = SOMA_CONN_PROB;
        cs.p = cfg->p;
        cs.target = k < 2 ? SOMA_TARGET_EXC : SOMA_TARGET_INH;
        cs.weight = k < 2 ? we : wi;
        cs.delay = cfg->dt;
        cs.autapses = 1;
        if ((st = soma_snn_connect(net, &cs, NULL)) != SOMA_OK) goto fail;
    }
    if (cfg->coba && cfg->kick_ms > 0 && cfg->kick_rate > 0) {
        soma_neuron_params pk;
        soma_neuron_defaults(SOMA_POISSON, &pk);
        pk.rate = cfg->kick_rate;
        const int sz[2] = {n_exc, n_inh}, tgt[2] = {out->g_exc, out->g_inh};
        int *g[2] = {&out->g_kick_e, &out->g_kick_i};
        const char *names[2] = {"kick_exc", "kick_inh"};
        for (int k = 0; k < 2; k++) {
            if ((st = soma_snn_add_group(net, names[k], sz[k], &pk, g[k])) != SOMA_OK) goto fail;
            soma_conn_spec cs = soma_conn_default();
            cs.pre = *g[k];
            cs.post = tgt[k];
            cs.rule = SOMA_CONN_ONE_TO_ONE;
            cs.target = SOMA_TARGET_EXC;
            cs.weight = we;
            cs.delay = cfg->dt;
            if ((st = soma_snn_connect(net, &cs, NULL)) != SOMA_OK) goto fail;
        }
    }
    if ((st = soma_snn_record_spikes(net, out->g_exc, &out->mon_exc)) != SOMA_OK) goto fail;
    if ((st = soma_snn_record_spikes(net, out->g_inh, &out->mon_inh)) != SOMA_OK) goto fail;
    return SOMA_OK;
fail:
    soma__va_free(out);
    return st;
}

soma_status soma__va_run(soma__va_net *v, const soma__va_cfg *cfg) {
    double first = v->g_kick_e >= 0 ? fmin(cfg->kick_ms, cfg->duration) : cfg->duration;
    SOMA_TRY(soma_snn_run(v->net, first));
    if (v->g_kick_e >= 0) {
        SOMA_TRY(soma_snn_set_rate(v->net, v->g_kick_e, 0.0));
        SOMA_TRY(soma_snn_set_rate(v->net, v->g_kick_i, 0.0));
        if (cfg->duration > first) SOMA_TRY(soma_snn_run(v->net, cfg->duration - first));
    }
    return SOMA_OK;
}

// --- statistics and figures ------------------------------------------------------------

soma_status soma__snn_rate_cv(const soma_spikes *const *recs, int n_recs, double *mean_rate, double *mean_cv) {
    long spikes = 0, neurons = 0, with_cv = 0;
    double cv_sum = 0.0, span = 0.0;
    for (int r = 0; r < n_recs; r++) {
        const soma_spikes *s = recs[r];
        spikes += s->n;
        neurons += s->n_neurons;
        span = s->t_stop - s->t_start;
        if (s->n_neurons == 0) continue;
        double *cv = soma_alloc((size_t)s->n_neurons, sizeof *cv);
        if (!cv) return soma_error(SOMA_ERR_NOMEM, "spike statistics: out of memory");
        double m;
        soma_status st = soma_spike_cv(s, cv, &m);
        if (st != SOMA_OK) {
            soma_free(cv);
            return st;
        }
        for (int i = 0; i < s->n_neurons; i++)
            if (isfinite(cv[i])) {
                cv_sum += cv[i];
                with_cv++;
            }
        soma_free(cv);
    }
    *mean_rate = neurons > 0 && span > 0 ? spikes / (neurons * span * 1e-3) : NAN;
    *mean_cv = with_cv > 0 ? cv_sum / with_cv : NAN;
    return SOMA_OK;
}

soma_status soma__snn_pop_rate(const soma_spikes *const *recs, int n_recs, double bin, float *hz, long n_bins) {
    float *tmp = soma_alloc((size_t)(n_bins > 0 ? n_bins : 1), sizeof *tmp);
    if (!tmp) return soma_error(SOMA_ERR_NOMEM, "population rate: out of memory");
    long neurons = 0;
    for (int r = 0; r < n_recs; r++) neurons += recs[r]->n_neurons;
    for (long b = 0; b < n_bins; b++) hz[b] = 0.f;
    soma_status st = SOMA_OK;
    for (int r = 0; r < n_recs && neurons > 0; r++) {
        if (recs[r]->n_neurons == 0) continue;
        if ((st = soma_spike_pop_rate(recs[r], bin, tmp, n_bins)) != SOMA_OK) break;
        double wgt = (double)recs[r]->n_neurons / neurons;
        for (long b = 0; b < n_bins; b++) hz[b] += (float)(wgt * tmp[b]);
    }
    soma_free(tmp);
    return st;
}

soma_status soma__snn_raster_rate(soma_fig *f, int raster, int rate, const char *title,
                                  const soma_spikes *const *recs, int n_recs, int max_shown, double t0, double t1,
                                  double bin) {
    long total = 0, neurons = 0;
    for (int r = 0; r < n_recs; r++) {
        total += recs[r]->n;
        neurons += recs[r]->n_neurons;
    }
    if (neurons == 0) return SOMA_OK;
    if (max_shown > neurons) max_shown = (int)neurons;
    /* each record shows its share of max_shown neurons, stacked */
    int shown[16] = {0}, base[16] = {0}, rows = 0;
    if (n_recs > 16) return soma_error(SOMA_ERR_ARG, "raster: at most 16 records");
    for (int r = 0; r < n_recs; r++) {
        shown[r] = (int)((double)max_shown * recs[r]->n_neurons / neurons + 0.5);
        if (shown[r] > recs[r]->n_neurons) shown[r] = recs[r]->n_neurons;
        base[r] = rows;
        rows += shown[r];
    }
    float *t = soma_alloc((size_t)(total > 0 ? total : 1), sizeof *t);
    int *id = soma_alloc((size_t)(total > 0 ? total : 1), sizeof *id);
    long nb = (long)floor((t1 - t0) / bin);
    float *hz = soma_alloc((size_t)(nb > 0 ? nb : 1), sizeof *hz), *x = soma_alloc((size_t)(nb > 0 ? nb : 1), sizeof *x);
    soma_status st = SOMA_OK;
    if (!t || !id || !hz || !x) {
        st = soma_error(SOMA_ERR_NOMEM, "raster: out of memory");
        goto out;
    }
    long k = 0;
    for (int r = 0; r < n_recs; r++)
        for (long j = 0; j < recs[r]->n; j++)
            if (recs[r]->id[j] < shown[r] && recs[r]->t[j] >= t0 && recs[r]->t[j] < t1) {
                t[k] = (float)recs[r]->t[j];
                id[k++] = base[r] + recs[r]->id[j];
            }
    if (k > 0x7fffffffL) k = 0x7fffffffL;
    char lab[160];
    snprintf(lab, sizeof lab, "%s: raster (%d neurons)", title, rows);
    soma_fig_labels(f, raster, lab, "time (ms)", "neuron");
    if ((st = soma_fig_raster(f, raster, t, id, (int)k, rows)) != SOMA_OK) goto out;
    soma_fig_xlim(f, raster, t0, t1);
    if (nb > 0) {
        /* the population rate of the window: bins counted from the records' start */
        double start = recs[0]->t_start;
        long off = (long)floor((t0 - start) / bin + 1e-9);
        long nall = off + nb;
        float *all = soma_alloc((size_t)nall, sizeof *all);
        if (!all) {
            st = soma_error(SOMA_ERR_NOMEM, "raster: out of memory");
            goto out;
        }
        st = soma__snn_pop_rate(recs, n_recs, bin, all, nall);
        if (st == SOMA_OK) {
            for (long b = 0; b < nb; b++) {
                hz[b] = all[off + b];
                x[b] = (float)(start + (off + b + 0.5) * bin);
            }
        }
        soma_free(all);
        if (st != SOMA_OK) goto out;
        snprintf(lab, sizeof lab, "%s: population rate (%g ms bins)", title, bin);
        soma_fig_labels(f, rate, lab, "time (ms)", "rate (Hz)");
        if ((st = soma_fig_line(f, rate, x, hz, (int)nb, NULL, NULL)) != SOMA_OK) goto out;
        soma_fig_xlim(f, rate, t0, t1);
    }
out:
    soma_free(t);
    soma_free(id);
    soma_free(hz);
    soma_free(x);
    return st;
}

double soma__peak_rss_mib(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return NAN;
    return ru.ru_maxrss / 1024.0; /* Linux: KiB */
}

void soma__snn_put_perf(soma_exp_ctx *c, const soma_snn *net, const char *prefix, long n_neurons) {
    soma_snn_stats s;
    soma_snn_stats_get(net, &s);
    char k[96];
#define PUT_(name, v)                                  \
    do {                                               \
        snprintf(k, sizeof k, "%s%s", prefix, name);   \
        soma_exp_put(c, k, (v));                       \
    } while (0)
    PUT_("sim_seconds", s.sim_seconds);
    PUT_("setup_seconds", s.setup_seconds);
    PUT_("n_neurons", (double)n_neurons);
    PUT_("n_synapses", (double)soma_snn_n_synapses(net));
    PUT_("syn_events", (double)s.syn_events);
    PUT_("syn_events_per_second", s.sim_seconds > 0 ? s.syn_events / s.sim_seconds : NAN);
    PUT_("spikes", (double)s.spikes);
    PUT_("net_mib", s.bytes / (1024.0 * 1024.0));
    PUT_("peak_rss_mib", soma__peak_rss_mib());
#undef PUT_
}

// --- cuba and coba ---------------------------------------------------------------------

soma_status soma__va_experiment(soma_exp_ctx *c, int coba) {
    soma__va_cfg cfg;
    SOMA_TRY(soma__va_cfg_from_args(c, coba, &cfg));
    soma__va_net v;
    SOMA_TRY(soma__va_build(&cfg, c->seed, &v));
    soma_fig *f = NULL;
    soma_status st = soma__va_run(&v, &cfg);
    if (st != SOMA_OK) goto out;
    const soma_spikes *recs[2] = {soma_snn_spikes(v.net, v.mon_exc), soma_snn_spikes(v.net, v.mon_inh)};
    double rate, cv, rate_e, cv_e, rate_i, cv_i;
    if ((st = soma__snn_rate_cv(recs, 2, &rate, &cv)) != SOMA_OK) goto out;
    if ((st = soma__snn_rate_cv(recs, 1, &rate_e, &cv_e)) != SOMA_OK) goto out;
    if ((st = soma__snn_rate_cv(recs + 1, 1, &rate_i, &cv_i)) != SOMA_OK) goto out;
    soma_exp_put(c, "mean_rate_hz", rate);
    soma_exp_put(c, "mean_cv", cv);
    soma_exp_put(c, "exc_rate_hz", rate_e);
    soma_exp_put(c, "inh_rate_hz", rate_i);
    soma_exp_put(c, "exc_cv", cv_e);
    soma_exp_put(c, "inh_cv", cv_i);
    soma_exp_put(c, "p", cfg.p);
    soma_exp_put(c, "w_scale", cfg.w_scale);
    soma_exp_put(c, "duration_s", cfg.duration * 1e-3);
    soma__snn_put_perf(c, v.net, "", cfg.n);
    long n_rec = 0; /* the network's own synapses (COBA's kick inputs are not part of it) */
    for (int k = 0; k < 4; k++) n_rec += soma_snn_proj_size(v.net, k);
    soma_exp_put(c, "n_synapses", (double)n_rec);
    soma_snn_stats s;
    soma_snn_stats_get(v.net, &s);
    snprintf(c->headline, sizeof c->headline,
             "%s, N %d, p %.3g, %.3g s: mean rate %.2f Hz, mean CV %.3f (exc %.2f Hz, inh %.2f Hz)\n"
             "%ld synapses, set-up %.3f s, simulation %.3f s, %.3g synaptic events/s, peak RSS %.0f MiB",
             coba ? "COBA" : "CUBA", cfg.n, cfg.p, cfg.duration * 1e-3, rate, cv, rate_e, rate_i,
             n_rec, s.setup_seconds, s.sim_seconds,
             s.sim_seconds > 0 ? s.syn_events / s.sim_seconds : 0.0, soma__peak_rss_mib());
    /* figure: the raster of 400 neurons and the population rate over the last 500 ms at most */
    if ((st = soma_fig_new(&f, 2, 1, 900, 640)) != SOMA_OK) goto out;
    char title[160];
    snprintf(title, sizeof title, "%s (Vogels & Abbott 2005; Brette et al. 2007): %.2f Hz, CV %.2f",
             coba ? "COBA" : "CUBA", rate, cv);
    soma_fig_title(f, title);
    double t1 = soma_snn_time(v.net), t0 = fmax(0.0, t1 - 500.0);
    if ((st = soma__snn_raster_rate(f, 0, 1, coba ? "COBA" : "CUBA", recs, 2, 400, t0, t1, 1.0)) != SOMA_OK) goto out;
    char path[1100];
    st = soma_fig_save(f, soma_exp_path(c, coba ? "coba.svg" : "cuba.svg", path, sizeof path));
out:
    soma_fig_free(f);
    soma__va_free(&v);
    return st;
}
