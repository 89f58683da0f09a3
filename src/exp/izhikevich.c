// izhikevich: the firing patterns of Izhikevich's (2003) simple model under a step of current:
// regular spiking (RS), fast spiking (FS), intrinsically bursting (IB) and chattering (CH),
// as voltage traces, measured by their inter-spike intervals.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/internal.h"
#include "soma/plot.h"
#include "soma/snn.h"

#define IZH_DOI "https://doi.org/10.1109/TNN.2003.820440"
#define IZH_SRC "Izhikevich 2003, Simple model of spiking neurons, Fig. 2"
/* ISIs below this are within a burst */
#define BURST_ISI_MS 10.0

static const soma_opt opts_[] = {
    {"dt", SOMA_OPT_FLOAT, "0.1", 0.01, 1.0, NULL, "simulation step, ms", 1},
    {"duration", SOMA_OPT_FLOAT, "1", 0.1, 1000, NULL, "seconds of biological time with the current on", 1},
    {"current", SOMA_OPT_FLOAT, "10", 0, 100, NULL, "step of input current (the model's units)", 1},
    {"onset", SOMA_OPT_FLOAT, "20", 0, 1000, NULL, "time of the current step, ms", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark landmarks_[] = {
    {"RS: spike-frequency adaptation, last over first inter-spike interval", IZH_SRC, IZH_DOI, "rs_isi_ratio",
     SOMA_EXP_AT_LEAST, 1.5},
    {"RS: tonic firing after the first spikes, fraction of ISIs within a burst (< 10 ms)", IZH_SRC, IZH_DOI,
     "rs_burst_fraction", SOMA_EXP_AT_MOST, 0.1},
    {"FS: high-frequency firing, rate over the RS rate at the same current", IZH_SRC, IZH_DOI, "fs_rate_over_rs",
     SOMA_EXP_AT_LEAST, 2.0},
    {"FS: little adaptation, coefficient of variation of the steady ISIs", IZH_SRC, IZH_DOI, "fs_isi_cv",
     SOMA_EXP_AT_MOST, 0.1},
    {"IB: an initial burst, its spikes", IZH_SRC, IZH_DOI, "ib_first_burst_spikes", SOMA_EXP_AT_LEAST, 3},
    {"IB: then single spikes, fraction of later ISIs within a burst", IZH_SRC, IZH_DOI, "ib_late_burst_fraction",
     SOMA_EXP_AT_MOST, 0.1},
    {"CH: repeated bursts, bursts per second", IZH_SRC, IZH_DOI, "ch_bursts_per_s", SOMA_EXP_AT_LEAST, 5},
    {"CH: most spikes within bursts, fraction of ISIs < 10 ms", IZH_SRC, IZH_DOI, "ch_burst_fraction",
     SOMA_EXP_AT_LEAST, 0.5},
    {NULL, NULL, NULL, NULL, 0, 0},
};

static const char *const reduced_[] = {"--duration", "0.3", NULL};

typedef struct isi_summary {
    int spikes;
    double rate_hz;
    double isi_ratio;       /* last / first ISI */
    double cv;              /* of the ISIs after the first two */
    double burst_fraction;  /* ISIs < BURST_ISI_MS over all ISIs */
    int first_burst_spikes; /* spikes in the run of short ISIs at the start (1 when none) */
    double late_burst_fraction; /* short ISIs after the first burst, over the ISIs after it */
    int bursts;             /* runs of short ISIs */
    double adaptation_index; /* mean of (ISI_k+1 - ISI_k) / (ISI_k+1 + ISI_k) */
} isi_summary;

static void summarise_(const double *t, int n, double T, isi_summary *s) {
    memset(s, 0, sizeof *s);
    s->spikes = n;
    s->rate_hz = 1000.0 * n / T;
    s->first_burst_spikes = n > 0 ? 1 : 0;
    if (n < 2) return;
    const int m = n - 1;
    int nshort = 0, run = 0, first_done = 0, late_short = 0, late = 0;
    double ai = 0;
    for (int k = 0; k < m; k++) {
        const double isi = t[k + 1] - t[k];
        const int sh = isi < BURST_ISI_MS;
        nshort += sh;
        if (!first_done) {
            if (sh) s->first_burst_spikes++;
            else first_done = 1;
        }
        if (first_done) {
            late++;
            late_short += sh;
        }
        if (sh) {
            if (!run) s->bursts++;
            run = 1;
        } else {
            run = 0;
        }
        if (k + 1 < m) {
            const double nx = t[k + 2] - t[k + 1];
            ai += (nx - isi) / (nx + isi);
        }
    }
    s->burst_fraction = (double)nshort / m;
    s->late_burst_fraction = late ? (double)late_short / late : 0.0;
    s->isi_ratio = (t[n - 1] - t[n - 2]) / (t[1] - t[0]);
    s->adaptation_index = m > 1 ? ai / (m - 1) : 0.0;
    if (m > 3) {
        double mu = 0, q = 0;
        for (int k = 2; k < m; k++) mu += t[k + 1] - t[k];
        mu /= m - 2;
        for (int k = 2; k < m; k++) q += (t[k + 1] - t[k] - mu) * (t[k + 1] - t[k] - mu);
        s->cv = sqrt(q / (m - 2)) / mu;
    }
}

static const char *const names_[4] = {"RS", "FS", "IB", "CH"};
static const char *const long_names_[4] = {"regular spiking (RS)", "fast spiking (FS)", "intrinsically bursting (IB)",
                                           "chattering (CH)"};

static soma_status run_(soma_exp_ctx *c) {
    double dt, dur, cur, onset;
    SOMA_TRY(soma_args_double(&c->args, "dt", &dt));
    SOMA_TRY(soma_args_double(&c->args, "duration", &dur));
    dur *= 1000.0; /* seconds -> ms */
    SOMA_TRY(soma_args_double(&c->args, "current", &cur));
    SOMA_TRY(soma_args_double(&c->args, "onset", &onset));
    soma_status st = SOMA_OK;
    soma_snn *net = NULL;
    soma_fig *f = NULL;
    float *tt = NULL, *vv[4] = {NULL, NULL, NULL, NULL};
    double *spk = NULL;
    long ns = 0;
    isi_summary sum[4];
    /* the four neurons in one network, each its own group, all driven from `onset` on */
    int g[4], mv[4], msp[4];
    if ((st = soma_snn_new(&net, dt, c->seed)) != SOMA_OK) goto out;
    for (int k = 0; k < 4; k++) {
        soma_neuron_params p;
        if ((st = soma_izhikevich_preset(names_[k], &p)) != SOMA_OK) goto out;
        if ((st = soma_snn_add_group(net, names_[k], 1, &p, &g[k])) != SOMA_OK) goto out;
        if ((st = soma_snn_record_state(net, g[k], "v", (int[]){0}, 1, 1, &mv[k])) != SOMA_OK) goto out;
        if ((st = soma_snn_record_spikes(net, g[k], &msp[k])) != SOMA_OK) goto out;
    }
    if ((st = soma_snn_run(net, onset)) != SOMA_OK) goto out;
    for (int k = 0; k < 4; k++)
        if ((st = soma_snn_set_current(net, g[k], &cur)) != SOMA_OK) goto out;
    if ((st = soma_snn_run(net, dur)) != SOMA_OK) goto out;
    spk = soma_alloc(1 + (size_t)(dur / dt), sizeof *spk);
    if (!spk) {
        st = soma_error(SOMA_ERR_NOMEM, "izhikevich: out of memory");
        goto out;
    }
    for (int k = 0; k < 4; k++) {
        const soma_spikes *s = soma_snn_spikes(net, msp[k]);
        int n = 0;
        for (long j = 0; j < s->n; j++)
            if (s->t[j] >= onset) spk[n++] = s->t[j];
        summarise_(spk, n, dur, &sum[k]);
        char key[64];
        const char *lc[4] = {"rs", "fs", "ib", "ch"};
#define PUT_(field, name)                                      \
    do {                                                       \
        snprintf(key, sizeof key, "%s_%s", lc[k], name);       \
        soma_exp_put(c, key, (double)sum[k].field);            \
    } while (0)
        PUT_(spikes, "spikes");
        PUT_(rate_hz, "rate_hz");
        PUT_(isi_ratio, "isi_ratio");
        PUT_(cv, "isi_cv");
        PUT_(burst_fraction, "burst_fraction");
        PUT_(first_burst_spikes, "first_burst_spikes");
        PUT_(late_burst_fraction, "late_burst_fraction");
        PUT_(adaptation_index, "adaptation_index");
#undef PUT_
        snprintf(key, sizeof key, "%s_bursts_per_s", lc[k]);
        soma_exp_put(c, key, 1000.0 * sum[k].bursts / dur);
    }
    soma_exp_put(c, "fs_rate_over_rs", sum[0].rate_hz > 0 ? sum[1].rate_hz / sum[0].rate_hz : 0.0);
    snprintf(c->headline, sizeof c->headline,
             "Izhikevich patterns at I = %g, dt %.3g ms: RS %.0f Hz (ISI last/first %.2f), FS %.0f Hz (CV %.3f), "
             "IB first burst %d spikes then %.0f%% short ISIs, CH %.1f bursts/s (%.0f%% short ISIs)",
             cur, dt, sum[0].rate_hz, sum[0].isi_ratio, sum[1].rate_hz, sum[1].cv, sum[2].first_burst_spikes,
             100.0 * sum[2].late_burst_fraction, 1000.0 * sum[3].bursts / dur, 100.0 * sum[3].burst_fraction);

    /* figures: the four voltage traces (the first 300 ms after the onset, as Fig. 2 shows) */
    const float *data;
    const double *t;
    int nn;
    if ((st = soma_snn_state(net, mv[0], &data, &t, &ns, &nn)) != SOMA_OK) goto out;
    const double shown = fmin(dur, 300.0) + onset;
    long nshow = 0;
    while (nshow < ns && t[nshow] < shown) nshow++;
    tt = soma_alloc((size_t)nshow + 1, sizeof *tt);
    for (int k = 0; k < 4; k++) vv[k] = soma_alloc((size_t)nshow + 1, sizeof *vv[k]);
    if (!tt || !vv[0] || !vv[1] || !vv[2] || !vv[3]) {
        st = soma_error(SOMA_ERR_NOMEM, "izhikevich: out of memory");
        goto out;
    }
    for (long j = 0; j < nshow; j++) tt[j] = (float)t[j];
    if ((st = soma_fig_new(&f, 2, 2, 1100, 700)) != SOMA_OK) goto out;
    soma_fig_title(f, "Izhikevich (2003) neurons under a current step (cf. his Fig. 2)");
    for (int k = 0; k < 4; k++) {
        if ((st = soma_snn_state(net, mv[k], &data, NULL, NULL, NULL)) != SOMA_OK) goto out;
        /* samples are taken at the steps' starts, so a spike (v >= 30 mV, reset within its step)
         * never shows in them: draw it at its step as the cut, 30 mV, as Fig. 2 does */
        for (long j = 0; j < nshow; j++) vv[k][j] = data[j];
        const soma_spikes *s = soma_snn_spikes(net, msp[k]);
        for (long j = 0; j < s->n; j++) {
            const long at = lround(s->t[j] / dt);
            if (at < nshow) vv[k][at] = 30.0f;
        }
        char title[128];
        snprintf(title, sizeof title, "%s: %.0f Hz", long_names_[k], sum[k].rate_hz);
        soma_fig_labels(f, k, title, "time (ms)", "v (mV)");
        soma_line_style ls = {k + 1, 0, 0, 1.2f};
        if ((st = soma_fig_line(f, k, tt, vv[k], (int)nshow, NULL, &ls)) != SOMA_OK) goto out;
        soma_fig_ylim(f, k, -90, 40);
    }
    char path[1100];
    st = soma_fig_save(f, soma_exp_path(c, "izhikevich.svg", path, sizeof path));
out:
    soma_fig_free(f);
    soma_snn_free(net);
    soma_free(spk);
    soma_free(tt);
    for (int k = 0; k < 4; k++) soma_free(vv[k]);
    return st;
}

const soma_experiment soma__exp_izhikevich = {
    "izhikevich",
    "Izhikevich's simple model reproduces regular spiking, fast spiking, intrinsic bursting and chattering "
    "under a current step.",
    landmarks_,
    opts_,
    reduced_,
    run_,
    NULL, /* no check beyond the typed options */
};
