// brunel2000: the sparse excitatory-inhibitory network of Brunel (2000), model A, in its
// asynchronous-irregular (AI: g 5, nu_ext/nu_thr 2) and synchronous-regular (SR: g 3,
// nu_ext/nu_thr 2) regimes of Fig. 8: rates, ISI CV, synchrony, the population rate's
// spectral peak, rasters and a regime-diagram point each.
//
// The network (Brunel 2000, section 2): N_E = 0.8 N excitatory and N_I = 0.2 N inhibitory LIF
// neurons (tau 20 ms, theta 20 mV, V_r 10 mV, t_ref 2 ms, rest 0 mV), each receiving
// C_E = eps N_E excitatory and C_I = eps N_I inhibitory inputs (fixed in-degree, eps 0.1),
// delta synapses: a spike moves V by J (excitatory) or -g J (inhibitory) after D = 1.5 ms.
// At N 12500 this is the paper's N_E 10000, C_E 1000, J 0.1 mV. At other sizes J scales as
// 100 mV / C_E, so that the mean input J C_E and nu_thr = theta / (J C_E tau) are the paper's.
// External drive: each neuron gets C_E independent Poisson sources of rate nu_ext = ratio
// nu_thr, each spike a jump of J (soma_snn_poisson_input: a Poisson count a step, Brian2's
// PoissonInput).
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/internal.h"
#include "exp/snn_common.h"

static const soma_opt opts_[] = {
    {"neurons", SOMA_OPT_INT, "12500", 100, 1000000, NULL, "neurons N (N_E = 0.8 N, N_I = 0.2 N)", 1},
    {"duration", SOMA_OPT_FLOAT, "1", 0.05, 3600, NULL, "seconds of biological time per regime", 1},
    {"dt", SOMA_OPT_FLOAT, "0.1", 0.01, 0.5, NULL, "time step, ms", 1},
    {"eps", SOMA_OPT_FLOAT, "0.1", 0.001, 1, NULL, "connection density: C_E = eps N_E, C_I = eps N_I", 1},
    {"transient", SOMA_OPT_FLOAT, "100", 0, 100000, NULL, "ms at the start left out of the statistics", 0},
    {"ai-g", SOMA_OPT_FLOAT, "5", 0, 20, NULL, "relative inhibition g of the AI run", 1},
    {"ai-ratio", SOMA_OPT_FLOAT, "2", 0.01, 20, NULL, "nu_ext / nu_thr of the AI run", 1},
    {"sr-g", SOMA_OPT_FLOAT, "3", 0, 20, NULL, "relative inhibition g of the SR run", 1},
    {"sr-ratio", SOMA_OPT_FLOAT, "2", 0.01, 20, NULL, "nu_ext / nu_thr of the SR run", 1},
    {"only", SOMA_OPT_ENUM, "both", 0, 0, "both|ai|sr", "run both regimes, or one", 1},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark landmarks_[] = {
    {"AI regime (g 5, nu_ext/nu_thr 2): irregular firing; threshold mean ISI CV > 0.8 is this "
     "project's acceptance, not the paper's (its rasters show irregular firing, no CV given; "
     "Brian2 on the same network: 0.40)",
     "Brunel 2000, Fig. 8C", "https://doi.org/10.1023/A:1008925309027", "ai_mean_cv", SOMA_EXP_AT_LEAST, 0.8},
    {"AI regime: asynchronous, synchrony chi (Golomb 2007, 1 ms bins) low (< 0.2)", "Brunel 2000, Fig. 8C",
     "https://doi.org/10.1023/A:1008925309027", "ai_synchrony", SOMA_EXP_AT_MOST, 0.2},
    {"SR regime (g 3, nu_ext/nu_thr 2): a fast population oscillation, spectral peak power over "
     "the mean power above 20 Hz (> 5)",
     "Brunel 2000, Fig. 8A", "https://doi.org/10.1023/A:1008925309027", "sr_peak_ratio", SOMA_EXP_AT_LEAST, 5.0},
    {"SR regime: neurons fire regularly-ish and together, synchrony chi (> 0.3)", "Brunel 2000, Fig. 8A",
     "https://doi.org/10.1023/A:1008925309027", "sr_synchrony", SOMA_EXP_AT_LEAST, 0.3},
    {NULL, NULL, NULL, NULL, 0, 0},
};

static const char *const reduced_[] = {"--neurons", "2500", "--duration", "0.5", NULL};

typedef struct regime_ {
    const char *name, *key; /* "AI", "ai" */
    double g, ratio;
} regime_;


typedef struct brunel_cfg_ {
    int n, n_e, n_i, c_e, c_i;
    double dt, duration, eps, transient, J, tau, theta, D;
} brunel_cfg_;

/* The records' spikes at or after t0, in new records (window [t0, t_stop)). */
static soma_status trim_(const soma_spikes *s, double t0, soma_spikes *out) {
    SOMA_TRY(soma_spikes_init(out, s->n_neurons, t0));
    for (long k = 0; k < s->n; k++)
        if (s->t[k] >= t0) {
            soma_status st = soma_spikes_push(out, s->id[k], s->t[k]);
            if (st != SOMA_OK) {
                soma_spikes_free(out);
                return st;
            }
        }
    out->t_stop = s->t_stop;
    return SOMA_OK;
}

typedef struct result_ {
    double rate, cv, chi, peak_hz, peak_ratio, sim_s, setup_s;
    long n_syn;
} result_;

/* Builds and runs one regime; fills r, the figure's panels and ours. */
static soma_status run_regime_(soma_exp_ctx *c, const brunel_cfg_ *b, const regime_ *rg, int index, soma_fig *f,
                               result_ *r) {
    soma_snn *net = NULL;
    soma_spikes tr[2];
    memset(tr, 0, sizeof tr);
    float *rate = NULL;
    soma_status st = soma_snn_new(&net, b->dt, c->seed + (uint64_t)index);
    if (st != SOMA_OK) return st;
    soma_neuron_params p;
    soma_neuron_defaults(SOMA_LIF, &p);
    p.synapse = SOMA_SYN_DELTA;
    p.gL = 10.0;
    p.C = b->tau * p.gL; /* tau = C / gL = 20 ms */
    p.EL = 0.0;
    p.V_th = b->theta;
    p.V_reset = 10.0;
    p.t_ref = 2.0;
    p.I_ext = 0.0;
    p.V_init_lo = 0.0;
    p.V_init_hi = b->theta;
    int ge, gi, mon_e, mon_i;
    if ((st = soma_snn_add_group(net, "E", b->n_e, &p, &ge)) != SOMA_OK) goto out;
    if ((st = soma_snn_add_group(net, "I", b->n_i, &p, &gi)) != SOMA_OK) goto out;
    const int cpre[4] = {ge, ge, gi, gi}, cpost[4] = {ge, gi, ge, gi};
    for (int k = 0; k < 4; k++) {
        soma_conn_spec cs = soma_conn_default();
        cs.pre = cpre[k];
        cs.post = cpost[k];
        cs.rule = SOMA_CONN_INDEGREE;
        cs.k = k < 2 ? b->c_e : b->c_i;
        cs.target = k < 2 ? SOMA_TARGET_EXC : SOMA_TARGET_INH;
        cs.weight = k < 2 ? b->J : -rg->g * b->J;
        cs.delay = b->D;
        if ((st = soma_snn_connect(net, &cs, NULL)) != SOMA_OK) goto out;
    }
    /* external drive: C_E independent Poisson sources of nu_ext a neuron, each a jump of J */
    double nu_thr = b->theta / (b->J * b->c_e * b->tau) * 1e3; /* Hz */
    if ((st = soma_snn_poisson_input(net, ge, b->c_e, rg->ratio * nu_thr, b->J, SOMA_TARGET_EXC)) != SOMA_OK) goto out;
    if ((st = soma_snn_poisson_input(net, gi, b->c_e, rg->ratio * nu_thr, b->J, SOMA_TARGET_EXC)) != SOMA_OK) goto out;
    if ((st = soma_snn_record_spikes(net, ge, &mon_e)) != SOMA_OK) goto out;
    if ((st = soma_snn_record_spikes(net, gi, &mon_i)) != SOMA_OK) goto out;
    if ((st = soma_snn_run(net, b->duration)) != SOMA_OK) goto out;

    /* statistics over [transient, end) */
    const soma_spikes *all[2] = {soma_snn_spikes(net, mon_e), soma_snn_spikes(net, mon_i)};
    double t0 = fmin(b->transient, 0.5 * b->duration);
    if ((st = trim_(all[0], t0, &tr[0])) != SOMA_OK) goto out;
    if ((st = trim_(all[1], t0, &tr[1])) != SOMA_OK) goto out;
    const soma_spikes *recs[2] = {&tr[0], &tr[1]};
    if ((st = soma__snn_rate_cv(recs, 2, &r->rate, &r->cv)) != SOMA_OK) goto out;
    if ((st = soma_spike_synchrony(&tr[0], 1.0, &r->chi)) != SOMA_OK) goto out;
    const double bin = 0.5; /* ms: the SR oscillation is fast (~ 1/(4 D) .. 1/(2 D)) */
    long nb = (long)floor((tr[0].t_stop - t0) / bin);
    r->peak_hz = r->peak_ratio = NAN;
    if (nb >= 32) {
        rate = soma_alloc((size_t)nb, sizeof *rate);
        if (!rate) {
            st = soma_error(SOMA_ERR_NOMEM, "brunel2000: out of memory");
            goto out;
        }
        if ((st = soma__snn_pop_rate(recs, 2, bin, rate, nb)) != SOMA_OK) goto out;
        if ((st = soma_spectrum_peak(rate, nb, bin, 20.0, &r->peak_hz, &r->peak_ratio)) != SOMA_OK) goto out;
    }
    soma_snn_stats s;
    soma_snn_stats_get(net, &s);
    r->sim_s = s.sim_seconds;
    r->setup_s = s.setup_seconds;
    r->n_syn = soma_snn_n_synapses(net);
    char k[64];
#define PUT_(name, v)                                       \
    do {                                                    \
        snprintf(k, sizeof k, "%s_%s", rg->key, name);      \
        soma_exp_put(c, k, (v));                            \
    } while (0)
    PUT_("mean_rate_hz", r->rate);
    PUT_("mean_cv", r->cv);
    PUT_("synchrony", r->chi);
    PUT_("peak_hz", r->peak_hz);
    PUT_("peak_ratio", r->peak_ratio);
    PUT_("g", rg->g);
    PUT_("nu_ext_over_nu_thr", rg->ratio);
#undef PUT_
    snprintf(k, sizeof k, "%s_", rg->key);
    soma__snn_put_perf(c, net, k, (long)b->n_e + b->n_i);
    /* recurrent synapses only (the external sources' one-to-one edges are input, not network) */
    snprintf(k, sizeof k, "%s_n_synapses", rg->key);
    soma_exp_put(c, k, (double)((long)b->c_e * b->n + (long)b->c_i * b->n));
    char title[96];
    snprintf(title, sizeof title, "%s (g %g, nu_ext/nu_thr %g)", rg->name, rg->g, rg->ratio);
    double t1 = soma_snn_time(net), w0 = fmax(t0, t1 - 200.0);
    st = soma__snn_raster_rate(f, index, 2 + index, title, recs, 2, 250, w0, t1, 0.5);
out:
    soma_free(rate);
    soma_spikes_free(&tr[0]);
    soma_spikes_free(&tr[1]);
    soma_snn_free(net);
    return st;
}

static soma_status run_(soma_exp_ctx *c) {
    brunel_cfg_ b;
    memset(&b, 0, sizeof b);
    double dur_s;
    SOMA_TRY(soma_args_int(&c->args, "neurons", &b.n));
    SOMA_TRY(soma_args_double(&c->args, "duration", &dur_s));
    SOMA_TRY(soma_args_double(&c->args, "dt", &b.dt));
    SOMA_TRY(soma_args_double(&c->args, "eps", &b.eps));
    SOMA_TRY(soma_args_double(&c->args, "transient", &b.transient));
    regime_ rg[2] = {{"AI", "ai", 5.0, 2.0}, {"SR", "sr", 3.0, 2.0}};
    SOMA_TRY(soma_args_double(&c->args, "ai-g", &rg[0].g));
    SOMA_TRY(soma_args_double(&c->args, "ai-ratio", &rg[0].ratio));
    SOMA_TRY(soma_args_double(&c->args, "sr-g", &rg[1].g));
    SOMA_TRY(soma_args_double(&c->args, "sr-ratio", &rg[1].ratio));
    const char *only = soma_args_str(&c->args, "only");
    const int run_k[2] = {strcmp(only, "sr") != 0, strcmp(only, "ai") != 0};
    b.duration = dur_s * 1e3;
    b.n_e = (int)lround(0.8 * b.n);
    b.n_i = b.n - b.n_e;
    b.c_e = (int)lround(b.eps * b.n_e);
    b.c_i = (int)lround(b.eps * b.n_i);
    if (b.c_e < 1 || b.c_i < 1)
        return soma_error(SOMA_ERR_ARG, "--neurons %d with --eps %g gives C_E %d, C_I %d; need >= 1",
                          b.n, b.eps, b.c_e, b.c_i);
    b.tau = 20.0;
    b.theta = 20.0;
    b.D = 1.5;
    b.J = 100.0 / b.c_e; /* J C_E = 100 mV, the paper's 0.1 mV x 1000 */
    soma_exp_put(c, "n_e", b.n_e);
    soma_exp_put(c, "n_i", b.n_i);
    soma_exp_put(c, "c_e", b.c_e);
    soma_exp_put(c, "c_i", b.c_i);
    soma_exp_put(c, "J_mV", b.J);

    soma_fig *f = NULL, *g = NULL;
    SOMA_TRY(soma_fig_new(&f, 2, 2, 1200, 700));
    soma_fig_title(f, "Brunel 2000, model A: asynchronous irregular vs synchronous regular");
    result_ r[2];
    memset(r, 0, sizeof r);
    soma_status st = SOMA_OK;
    for (int k = 0; k < 2 && st == SOMA_OK; k++) {
        r[k].rate = r[k].cv = r[k].chi = r[k].peak_hz = r[k].peak_ratio = NAN;
        if (run_k[k]) st = run_regime_(c, &b, &rg[k], k, f, &r[k]);
    }
    if (st != SOMA_OK) goto out;
    /* the network's size as the issue asks for it: the same in both regimes */
    soma_exp_put(c, "n_neurons", b.n);
    soma_exp_put(c, "n_synapses", (double)((long)(b.c_e + b.c_i) * b.n));
    soma_exp_put(c, "sim_seconds", r[0].sim_s + r[1].sim_s);
    soma_exp_put(c, "setup_seconds", r[0].setup_s + r[1].setup_s);
    char path[1100];
    if ((st = soma_fig_save(f, soma_exp_path(c, "brunel2000.svg", path, sizeof path))) != SOMA_OK) goto out;

    /* the regime diagram: our two points in Brunel's (g, nu_ext/nu_thr) plane */
    if ((st = soma_fig_new(&g, 1, 2, 1000, 420)) != SOMA_OK) goto out;
    soma_fig_title(g, "Brunel 2000 regimes: where we ran, and what we measured");
    {
        const float gx[2] = {(float)rg[0].g, (float)rg[1].g};
        const float gy[2] = {(float)rg[0].ratio, (float)rg[1].ratio};
        const int cls[2] = {0, 1};
        char n0[96], n1[96];
        snprintf(n0, sizeof n0, "AI: CV %.2f, chi %.2f", r[0].cv, r[0].chi);
        snprintf(n1, sizeof n1, "SR: peak %.0f Hz x%.1f", r[1].peak_hz, r[1].peak_ratio);
        const char *names[2] = {n0, n1};
        soma_fig_labels(g, 0, "regime diagram (Brunel 2000 Fig. 2A)", "g (relative inhibition)", "nu_ext / nu_thr");
        if ((st = soma_fig_scatter(g, 0, gx, gy, cls, 2, names, 2)) != SOMA_OK) goto out;
        const float bx[2] = {4.f, 4.f}, by[2] = {0.f, 4.f};
        soma_line_style ls = {SOMA_RGB(0x555555), 1, 0, 1.f};
        if ((st = soma_fig_line(g, 0, bx, by, 2, "g = 4: inhibition balances excitation", &ls)) != SOMA_OK) goto out;
        soma_fig_xlim(g, 0, 0, 8);
        soma_fig_ylim(g, 0, 0, 4);
        const float v[6] = {(float)r[0].cv, (float)r[1].cv, (float)r[0].chi, (float)r[1].chi,
                            (float)(r[0].peak_ratio / 10.0), (float)(r[1].peak_ratio / 10.0)};
        const char *lab[6] = {"CV AI", "CV SR", "chi AI", "chi SR", "peak/10 AI", "peak/10 SR"};
        soma_fig_labels(g, 1, "irregularity, synchrony, oscillation", "", "");
        if ((st = soma_fig_bars(g, 1, v, NULL, 6, lab, 0)) != SOMA_OK) goto out;
    }
    st = soma_fig_save(g, soma_exp_path(c, "brunel2000_regimes.svg", path, sizeof path));
    snprintf(c->headline, sizeof c->headline,
             "AI (g %g, nu_ext/nu_thr %g): %.1f Hz, CV %.2f, chi %.3f, spectral peak %.0f Hz x%.1f\n"
             "SR (g %g, nu_ext/nu_thr %g): %.1f Hz, CV %.2f, chi %.3f, spectral peak %.0f Hz x%.1f; "
             "N %d, %ld synapses, simulation %.2f + %.2f s",
             rg[0].g, rg[0].ratio, r[0].rate, r[0].cv, r[0].chi, r[0].peak_hz, r[0].peak_ratio, rg[1].g, rg[1].ratio, r[1].rate, r[1].cv, r[1].chi, r[1].peak_hz,
             r[1].peak_ratio, b.n, (long)(b.c_e + b.c_i) * b.n, r[0].sim_s, r[1].sim_s);
out:
    soma_fig_free(f);
    soma_fig_free(g);
    return st;
}

const soma_experiment soma__exp_brunel2000 = {
    "brunel2000",
    "Brunel (2000) sparse E-I network of LIF neurons with delta synapses: the asynchronous irregular "
    "(g 5) and synchronous regular (g 3) regimes, with CV, synchrony and the spectral peak.",
    landmarks_,
    opts_,
    reduced_,
    run_,
    NULL, /* no check beyond the typed options */
};
