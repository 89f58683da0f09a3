// stdp-song2000: Song, Miller & Abbott (2000): one conductance-based LIF neuron driven by 1000
// excitatory Poisson synapses under additive STDP (and 200 fixed inhibitory ones) develops a
// bimodal weight distribution, most weights near 0 or near g_max, and its rate stays bounded.
//
// The neuron (Song et al. 2000, Methods): tau_m 20 ms, V_rest -70 mV, V_th -54 mV, V_reset
// -60 mV, E_ex 0 mV, E_in -70 mV, tau_ex = tau_in = 5 ms; conductances in units of the leak
// (here gL 10 nS, C 200 pF): g_max 0.015 (0.15 nS), inhibitory synapses fixed at 0.05 (0.5 nS).
// STDP: tau_+ = tau_- = 20 ms, A_+ = 0.005 g_max, A_-/A_+ = 1.05, additive, hard bounds
// [0, g_max]. Inputs: independent Poisson trains, 1000 excitatory (--rate, 20 Hz: inside the
// paper's 10-40 Hz of Fig. 2; at 10 Hz the neuron barely fires at the start and the weights
// take far longer to move) and 200 inhibitory at 10 Hz. Weights start uniform in [0, g_max].
//
// How long: a weight moves by A_+ g_max per pair; the drift of an uncorrelated input is about
// A_+ r_pre r_post tau (1 - A_-/A_+) ~ 0.002 g_max/s at 20 Hz in and out, so crossing [0,
// g_max] takes several hundred seconds, and the distribution settles over ~2000 s (33 min of
// biological time; measured: bimodal fraction 0.57 at 200 s, 0.63 at 300 s, 0.67 at 400 s,
// 0.78 at 1000 s, 0.785 at 2000 s, 0.79 at 3000 s). Larger A_+ moves faster but, the
// diffusion growing as A_+^2, gives a broader, less bimodal distribution.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/internal.h"
#include "exp/snn_common.h"

static const soma_opt opts_[] = {
    {"duration", SOMA_OPT_FLOAT, "2000", 1, 100000, NULL, "seconds of biological time", 1},
    {"rate", SOMA_OPT_FLOAT, "20", 0.1, 200, NULL, "rate of each excitatory input, Hz", 0},
    {"n-exc", SOMA_OPT_INT, "1000", 10, 1000000, NULL, "excitatory (plastic) inputs", 1},
    {"dt", SOMA_OPT_FLOAT, "0.1", 0.01, 1, NULL, "time step, ms", 1},
    {"g-max", SOMA_OPT_FLOAT, "0.015", 1e-5, 10, NULL, "weight bound g_max, in units of the leak conductance", 1},
    {"a-plus", SOMA_OPT_FLOAT, "0.005", 1e-6, 0.5, NULL, "potentiation per pair, fraction of g_max (A_-/A_+ stays 1.05)", 1},
    {"w-init", SOMA_OPT_ENUM, "uniform", 0, 0, "uniform|max", "initial weights: uniform in [0, g_max], or all g_max", 0},
    {"chunk", SOMA_OPT_FLOAT, "1", 0.01, 1000, NULL, "seconds between weight snapshots", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark landmarks_[] = {
    {"additive STDP drives the weights to the bounds: fraction below 10% or above 90% of g_max "
     "(most: at least three quarters)",
     "Song, Miller & Abbott 2000, Fig. 1", "https://doi.org/10.1038/78829", "frac_bimodal", SOMA_EXP_AT_LEAST, 0.75},
    {"the upper mode is populated: fraction of weights above 90% of g_max (> 0.05)",
     "Song, Miller & Abbott 2000, Fig. 1", "https://doi.org/10.1038/78829", "frac_high", SOMA_EXP_AT_LEAST, 0.05},
    {"the lower mode is populated: fraction of weights below 10% of g_max (> 0.05)",
     "Song, Miller & Abbott 2000, Fig. 1", "https://doi.org/10.1038/78829", "frac_low", SOMA_EXP_AT_LEAST, 0.05},
    {"the output rate stays bounded (Hz, < 40) whatever the inputs do",
     "Song, Miller & Abbott 2000, Fig. 2", "https://doi.org/10.1038/78829", "output_rate_hz", SOMA_EXP_AT_MOST, 40.0},
    {NULL, NULL, NULL, NULL, 0, 0},
};

static const char *const reduced_[] = {"--duration", "20", NULL};

#define N_INH_ 200
#define N_BINS_ 20

static soma_status run_(soma_exp_ctx *c) {
    double dur_s, rate, dt, chunk_s;
    int n_exc;
    SOMA_TRY(soma_args_double(&c->args, "duration", &dur_s));
    SOMA_TRY(soma_args_double(&c->args, "rate", &rate));
    SOMA_TRY(soma_args_int(&c->args, "n-exc", &n_exc));
    SOMA_TRY(soma_args_double(&c->args, "dt", &dt));
    SOMA_TRY(soma_args_double(&c->args, "chunk", &chunk_s));
    double a_plus;
    SOMA_TRY(soma_args_double(&c->args, "a-plus", &a_plus));
    const int w_all_max = strcmp(soma_args_str(&c->args, "w-init"), "max") == 0;
    double g_max_rel;
    SOMA_TRY(soma_args_double(&c->args, "g-max", &g_max_rel));
    const double gL = 10.0, g_max = g_max_rel * gL, g_in = 0.05 * gL;
    long n_chunks = (long)ceil(dur_s / chunk_s - 1e-9);
    if (n_chunks > 100000) return soma_error(SOMA_ERR_ARG, "more than 100000 weight snapshots (--duration / --chunk); raise --chunk");

    soma_snn *net = NULL;
    soma_fig *f = NULL;
    soma_status st = SOMA_OK;
    int *pre = soma_alloc((size_t)n_exc, sizeof *pre), *post = soma_calloc((size_t)n_exc, sizeof *post);
    float *w0 = soma_alloc((size_t)n_exc, sizeof *w0), *w = soma_alloc((size_t)n_exc, sizeof *w);
    float *t_s = soma_alloc((size_t)n_chunks, sizeof *t_s), *mean_w = soma_alloc((size_t)n_chunks, sizeof *mean_w);
    float *hi_w = soma_alloc((size_t)n_chunks, sizeof *hi_w), *lo_w = soma_alloc((size_t)n_chunks, sizeof *lo_w);
    float *out_hz = soma_alloc((size_t)n_chunks, sizeof *out_hz);
    if (!pre || !post || !w0 || !w || !t_s || !mean_w || !hi_w || !lo_w || !out_hz) {
        st = soma_error(SOMA_ERR_NOMEM, "stdp-song2000: out of memory");
        goto out;
    }
    soma_rng rng;
    soma_rng_seed(&rng, c->seed, 7);
    for (int k = 0; k < n_exc; k++) {
        pre[k] = k;
        w0[k] = w_all_max ? nextafterf((float)g_max, 0.f) : (float)(g_max * soma_rng_uniform(&rng));
    }
    if ((st = soma_snn_new(&net, dt, c->seed)) != SOMA_OK) goto out;
    soma_neuron_params p;
    soma_neuron_defaults(SOMA_LIF, &p);
    p.synapse = SOMA_SYN_CONDUCTANCE;
    p.gL = gL;
    p.C = 20.0 * gL; /* tau_m 20 ms */
    p.EL = -70.0;
    p.V_th = -54.0;
    p.V_reset = -60.0;
    p.t_ref = 0.0;
    p.I_ext = 0.0;
    p.tau_e = p.tau_i = 5.0;
    p.E_e = 0.0;
    p.E_i = -70.0;
    p.V_init_lo = p.V_init_hi = -70.0;
    soma_neuron_params pe, pi;
    soma_neuron_defaults(SOMA_POISSON, &pe);
    soma_neuron_defaults(SOMA_POISSON, &pi);
    pe.rate = rate;
    pi.rate = 10.0;
    int g_out, g_exc, g_inh, mon, proj;
    if ((st = soma_snn_add_group(net, "neuron", 1, &p, &g_out)) != SOMA_OK) goto out;
    if ((st = soma_snn_add_group(net, "exc_inputs", n_exc, &pe, &g_exc)) != SOMA_OK) goto out;
    if ((st = soma_snn_add_group(net, "inh_inputs", N_INH_, &pi, &g_inh)) != SOMA_OK) goto out;
    soma_stdp stdp = {20.0, 20.0, a_plus, a_plus * 1.05, g_max, 0};
    soma_conn_spec cs = soma_conn_default();
    cs.pre = g_exc;
    cs.post = g_out;
    cs.rule = SOMA_CONN_EDGES;
    cs.edge_pre = pre;
    cs.edge_post = post;
    cs.edge_w = w0;
    cs.n_edges = n_exc;
    cs.target = SOMA_TARGET_EXC;
    cs.delay = dt;
    cs.stdp = &stdp;
    if ((st = soma_snn_connect(net, &cs, &proj)) != SOMA_OK) goto out;
    cs = soma_conn_default();
    cs.pre = g_inh;
    cs.post = g_out;
    cs.rule = SOMA_CONN_PROB;
    cs.p = 1.0;
    cs.target = SOMA_TARGET_INH;
    cs.weight = g_in;
    cs.delay = dt;
    if ((st = soma_snn_connect(net, &cs, NULL)) != SOMA_OK) goto out;
    if ((st = soma_snn_record_spikes(net, g_out, &mon)) != SOMA_OK) goto out;

    long seen = 0;
    for (long k = 0; k < n_chunks; k++) {
        double len = fmin(chunk_s, dur_s - k * chunk_s) * 1e3;
        if ((st = soma_snn_run(net, len)) != SOMA_OK) goto out;
        if ((st = soma_snn_proj_get(net, proj, NULL, NULL, w)) != SOMA_OK) goto out;
        double sum = 0.0;
        long lo = 0, hi = 0;
        for (int i = 0; i < n_exc; i++) {
            sum += w[i];
            lo += w[i] < 0.1 * g_max;
            hi += w[i] > 0.9 * g_max;
        }
        const soma_spikes *s = soma_snn_spikes(net, mon);
        t_s[k] = (float)(soma_snn_time(net) * 1e-3);
        mean_w[k] = (float)(sum / n_exc / g_max);
        lo_w[k] = (float)((double)lo / n_exc);
        hi_w[k] = (float)((double)hi / n_exc);
        out_hz[k] = (float)((s->n - seen) / (len * 1e-3));
        seen = s->n;
    }
    /* the final distribution, and the output rate over the last quarter of the run */
    long lo = 0, hi = 0;
    float hist[N_BINS_] = {0};
    for (int i = 0; i < n_exc; i++) {
        double x = w[i] / g_max;
        lo += x < 0.1;
        hi += x > 0.9;
        int b = (int)(x * N_BINS_);
        hist[b < 0 ? 0 : b >= N_BINS_ ? N_BINS_ - 1 : b] += 1.f;
    }
    long q0 = n_chunks - (n_chunks + 3) / 4;
    double rsum = 0.0, tsum = 0.0;
    for (long k = q0; k < n_chunks; k++) {
        double len = fmin(chunk_s, dur_s - k * chunk_s);
        rsum += out_hz[k] * len;
        tsum += len;
    }
    const soma_spikes *s = soma_snn_spikes(net, mon);
    double frac_low = (double)lo / n_exc, frac_high = (double)hi / n_exc;
    double out_rate = tsum > 0 ? rsum / tsum : NAN;
    soma_exp_put(c, "frac_low", frac_low);
    soma_exp_put(c, "frac_high", frac_high);
    soma_exp_put(c, "frac_bimodal", frac_low + frac_high);
    soma_exp_put(c, "output_rate_hz", out_rate);
    soma_exp_put(c, "output_rate_whole_run_hz", s->n / dur_s);
    soma_exp_put(c, "output_rate_start_hz", out_hz[0]);
    soma_exp_put(c, "mean_weight_over_gmax", mean_w[n_chunks - 1]);
    soma_exp_put(c, "duration_s", dur_s);
    soma_exp_put_array(c, "weight_histogram", hist, N_BINS_);
    soma__snn_put_perf(c, net, "", 1);
    snprintf(c->headline, sizeof c->headline,
             "after %.0f s: %.1f%% of weights below 0.1 g_max, %.1f%% above 0.9 g_max (bimodal: %.1f%%); "
             "output rate %.1f Hz over the last quarter (%.1f Hz at the start)",
             dur_s, 100 * frac_low, 100 * frac_high, 100 * (frac_low + frac_high), out_rate, (double)out_hz[0]);

    if ((st = soma_fig_new(&f, 1, 3, 1300, 400)) != SOMA_OK) goto out;
    soma_fig_title(f, "Song, Miller & Abbott 2000: additive STDP makes the weights bimodal");
    {
        const char *labels[N_BINS_];
        char buf[N_BINS_][8];
        for (int b = 0; b < N_BINS_; b++) {
            if (b % 4 == 0) snprintf(buf[b], sizeof buf[b], "%.1f", (double)b / N_BINS_);
            else buf[b][0] = '\0';
            labels[b] = buf[b];
        }
        soma_fig_labels(f, 0, "final weights", "w / g_max (bin start)", "synapses");
        if ((st = soma_fig_bars(f, 0, hist, NULL, N_BINS_, labels, 0)) != SOMA_OK) goto out;
    }
    soma_fig_labels(f, 1, "weights over time", "time (s)", "fraction");
    if ((st = soma_fig_line(f, 1, t_s, mean_w, (int)n_chunks, "mean w / g_max", NULL)) != SOMA_OK) goto out;
    if ((st = soma_fig_line(f, 1, t_s, lo_w, (int)n_chunks, "w < 0.1 g_max", NULL)) != SOMA_OK) goto out;
    if ((st = soma_fig_line(f, 1, t_s, hi_w, (int)n_chunks, "w > 0.9 g_max", NULL)) != SOMA_OK) goto out;
    soma_fig_ylim(f, 1, 0, 1);
    soma_fig_labels(f, 2, "output rate", "time (s)", "rate (Hz)");
    if ((st = soma_fig_line(f, 2, t_s, out_hz, (int)n_chunks, NULL, NULL)) != SOMA_OK) goto out;
    char path[1100];
    st = soma_fig_save(f, soma_exp_path(c, "stdp_song2000.svg", path, sizeof path));
out:
    soma_fig_free(f);
    soma_snn_free(net);
    soma_free(pre);
    soma_free(post);
    soma_free(w0);
    soma_free(w);
    soma_free(t_s);
    soma_free(mean_w);
    soma_free(hi_w);
    soma_free(lo_w);
    soma_free(out_hz);
    return st;
}

const soma_experiment soma__exp_stdp_song2000 = {
    "stdp-song2000",
    "Song, Miller & Abbott (2000): one LIF neuron, 1000 Poisson inputs under additive STDP; the "
    "weights become bimodal (near 0 or g_max) and the output rate stays bounded.",
    landmarks_,
    opts_,
    reduced_,
    run_,
    NULL, /* no check beyond the typed options */
};
