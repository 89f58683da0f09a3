// lif-fi: the f-I curve of the leaky integrate-and-fire neuron, simulated (exact integration,
// dt = 0.1 ms) against the analytic rate 1 / (t_ref + tau_m ln((R I + EL - V_reset) /
// (R I + EL - V_th))).
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/internal.h"
#include "soma/plot.h"
#include "soma/snn.h"

static const soma_opt opts_[] = {
    {"dt", SOMA_OPT_FLOAT, "0.1", 0.001, 1.0, NULL, "simulation step, ms", 1},
    {"duration", SOMA_OPT_FLOAT, "3", 0.1, 1000, NULL, "seconds of biological time at each current", 1},
    {"points", SOMA_OPT_INT, "40", 4, 10000, NULL, "currents on the curve, I_max/points .. I_max", 1},
    {"i-max", SOMA_OPT_FLOAT, "400", 110, 1e5, NULL, "largest current, pA", 1},
    {"t-ref", SOMA_OPT_FLOAT, "5", 0, 100, NULL, "refractory period, ms", 1},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark landmarks_[] = {
    {"largest relative error of the simulated LIF rate against the analytic f-I formula over the curve "
     "(dt = 0.1 ms; the issue's acceptance)",
     "Gerstner, Kistler, Naud & Paninski 2014, Neuronal Dynamics, sec. 1.3 (the LIF rate under constant input)",
     "https://neuronaldynamics.epfl.ch/online/Ch1.S3.html", "max_rel_error", SOMA_EXP_AT_MOST, 0.01},
    {NULL, NULL, NULL, NULL, 0, 0},
};

static const char *const reduced_[] = {"--duration", "0.6", "--points", "12", NULL};

/* Rate of neuron k from its steady-state ISIs (the first spike comes from rest, not from a
 * reset): (spikes - 1) / (last - first); 0 with fewer than 2 spikes. */
static double rate_of_(const soma_spikes *s, int k) {
    double first = -1, last = -1;
    long n = 0;
    for (long j = 0; j < s->n; j++)
        if (s->id[j] == k) {
            if (first < 0) first = s->t[j];
            last = s->t[j];
            n++;
        }
    return n > 1 && last > first ? 1000.0 * (double)(n - 1) / (last - first) : 0.0;
}

static soma_status run_(soma_exp_ctx *c) {
    double dt, dur, imax, tref;
    int K;
    SOMA_TRY(soma_args_double(&c->args, "dt", &dt));
    SOMA_TRY(soma_args_double(&c->args, "duration", &dur));
    dur *= 1000.0; /* seconds -> ms */
    SOMA_TRY(soma_args_int(&c->args, "points", &K));
    SOMA_TRY(soma_args_double(&c->args, "i-max", &imax));
    SOMA_TRY(soma_args_double(&c->args, "t-ref", &tref));
    soma_neuron_params p;
    soma_neuron_defaults(SOMA_LIF, &p);
    p.t_ref = tref;
    soma_snn *net = NULL;
    soma_fig *f = NULL;
    double *I = soma_alloc((size_t)K, sizeof *I);
    float *fi = soma_alloc((size_t)K, sizeof *fi), *sim = soma_alloc((size_t)K, sizeof *sim);
    float *ana = soma_alloc((size_t)K, sizeof *ana), *err = soma_alloc((size_t)K, sizeof *err);
    enum { DENSE = 400 };
    float dx[DENSE], dy[DENSE];
    soma_status st = SOMA_OK;
    if (!I || !fi || !sim || !ana || !err) {
        st = soma_error(SOMA_ERR_NOMEM, "lif-fi: out of memory");
        goto out;
    }
    for (int k = 0; k < K; k++) {
        I[k] = imax * (k + 1) / K;
        fi[k] = (float)I[k];
    }
    int g, mon;
    if ((st = soma_snn_new(&net, dt, c->seed)) != SOMA_OK) goto out;
    if ((st = soma_snn_add_group(net, "lif", K, &p, &g)) != SOMA_OK) goto out;
    if ((st = soma_snn_set_current(net, g, I)) != SOMA_OK) goto out;
    if ((st = soma_snn_record_spikes(net, g, &mon)) != SOMA_OK) goto out;
    if (!c->quiet) soma_snn_set_progress(net, "lif-fi");
    if ((st = soma_snn_run(net, dur)) != SOMA_OK) goto out;
    const soma_spikes *s = soma_snn_spikes(net, mon);
    double worst = 0, worst_I = 0;
    int n_firing = 0;
    for (int k = 0; k < K; k++) {
        const double a = soma_lif_rate(&p, I[k]), r = rate_of_(s, k);
        sim[k] = (float)r;
        ana[k] = (float)a;
        double e;
        if (a > 0) {
            e = fabs(r - a) / a;
            n_firing++;
        } else {
            e = r > 0 ? 1.0 : 0.0; /* below the rheobase it must stay silent */
        }
        err[k] = (float)(100.0 * e);
        if (e > worst) {
            worst = e;
            worst_I = I[k];
        }
    }
    soma_snn_stats stats;
    soma_snn_stats_get(net, &stats);
    const double rheobase = p.gL * (p.V_th - p.EL);
    soma_exp_put(c, "max_rel_error", worst);
    soma_exp_put(c, "worst_current_pA", worst_I);
    soma_exp_put(c, "rheobase_pA", rheobase);
    soma_exp_put(c, "points", K);
    soma_exp_put(c, "points_firing", n_firing);
    soma_exp_put(c, "dt_ms", dt);
    soma_exp_put(c, "duration_ms", dur);
    soma_exp_put(c, "tau_m_ms", p.C / p.gL);
    soma_exp_put(c, "sim_seconds", stats.sim_seconds);
    soma_exp_put_array(c, "current_pA", fi, K);
    soma_exp_put_array(c, "rate_hz", sim, K);
    soma_exp_put_array(c, "analytic_rate_hz", ana, K);
    snprintf(c->headline, sizeof c->headline,
             "LIF f-I curve, %d currents up to %.0f pA (rheobase %.0f pA), dt %.3g ms: largest relative rate error "
             "%.3f%% (at %.0f pA); analytic %.2f Hz vs simulated %.2f Hz at the top",
             K, imax, rheobase, dt, 100.0 * worst, worst_I, (double)ana[K - 1], (double)sim[K - 1]);

    if ((st = soma_fig_new(&f, 1, 2, 1100, 420)) != SOMA_OK) goto out;
    soma_fig_title(f, "LIF f-I curve: simulation vs the analytic formula");
    for (int k = 0; k < DENSE; k++) {
        dx[k] = (float)(imax * k / (DENSE - 1));
        dy[k] = (float)soma_lif_rate(&p, dx[k]);
    }
    soma_fig_labels(f, 0, "Firing rate", "input current I (pA)", "rate (Hz)");
    soma_line_style ls = {0, 0, 0, 2.f}, ms = {0, 0, 1, 0.5f};
    if ((st = soma_fig_line(f, 0, dx, dy, DENSE, "analytic", &ls)) != SOMA_OK) goto out;
    if ((st = soma_fig_line(f, 0, fi, sim, K, "simulated (dt 0.1 ms)", &ms)) != SOMA_OK) goto out;
    soma_fig_labels(f, 1, "Relative error", "input current I (pA)", "|simulated - analytic| / analytic (%)");
    if ((st = soma_fig_line(f, 1, fi, err, K, "simulated", &ms)) != SOMA_OK) goto out;
    if ((st = soma_fig_hline(f, 1, 1.0f, "acceptance: 1%")) != SOMA_OK) goto out;
    soma_fig_ylim(f, 1, 0, 1.5);
    char path[1100];
    st = soma_fig_save(f, soma_exp_path(c, "lif_fi.svg", path, sizeof path));
out:
    soma_fig_free(f);
    soma_snn_free(net);
    soma_free(I);
    soma_free(fi);
    soma_free(sim);
    soma_free(ana);
    soma_free(err);
    return st;
}

const soma_experiment soma__exp_lif_fi = {
    "lif-fi",
    "The f-I curve of the leaky integrate-and-fire neuron (exact integration, dt = 0.1 ms) against the "
    "analytic rate formula.",
    landmarks_,
    opts_,
    reduced_,
    run_,
    NULL, /* no check beyond the typed options */
};
