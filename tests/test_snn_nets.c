// The benchmark networks' headline figures: cuba and coba at full size (4000 neurons, 1 s)
// inside Brian2's range for the same networks (tests/fixtures/brian2_cuba_coba.json, made by
// tests/ref/gen_brian2.py: Brian2 2.5.1 cpp_standalone, 8 seeds), the --neurons / --p scaling
// of their connectivity and weights, and reduced runs of brunel2000 (the AI point irregular and
// asynchronous, the SR point oscillating) and stdp-song2000 (a bimodal weight distribution,
// a bounded output rate). One thread everywhere: the figures do not depend on it, and the
// runs stay quick on a busy machine.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "json_util.h"
#include "soma/soma.h"

static char out_[256];

/* Brian2's [min, max] over seeds is widened by this fraction of the bound on each side: the
 * seed-to-seed spread of a 4000-neuron, 1 s run is a few percent (rate 5.33..5.98 Hz for CUBA
 * over 8 seeds), and soma draws other random numbers than Brian2 does. */
#define MARGIN_ 0.10

static cJSON *load_json_(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open; HINT: /usr/bin/python3 tests/ref/gen_brian2.py\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cJSON *j = NULL;
    if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) {
        buf[n] = '\0';
        j = cJSON_Parse(buf);
    }
    free(buf);
    fclose(f);
    return j;
}

/* Runs experiment name with args (--threads 1 --quiet added); the results' "ours" (owned by
 * *root), or NULL. */
static const cJSON *run_(const char *name, int argc, const char **argv, cJSON **root) {
    const soma_experiment *e = soma_exp_find(name);
    CHECK(e != NULL);
    *root = NULL;
    if (!e) return NULL;
    const char *all[32];
    int n = 0;
    for (int i = 0; i < argc && n < 28; i++) all[n++] = argv[i];
    all[n++] = "--threads";
    all[n++] = "1";
    all[n++] = "--quiet";
    CHECK_OK(soma_exp_run(e, n, all, out_, root));
    return *root ? cJSON_GetObjectItemCaseSensitive(*root, "ours") : NULL;
}

static int in_range_(const char *what, double x, double lo, double hi) {
    lo -= MARGIN_ * fabs(lo);
    hi += MARGIN_ * fabs(hi);
    int ok = x >= lo && x <= hi;
    printf("  %-28s %8.4f  Brian2 range widened: [%.4f, %.4f]  %s\n", what, x, lo, hi, ok ? "ok" : "OUTSIDE");
    return ok;
}

/* cuba and coba at full size, two seeds each (one under the sanitizers), within Brian2's range. */
static void test_brian2_range(void) {
    cJSON *fix = load_json_(check_src_path("tests/fixtures/brian2_cuba_coba.json"));
    CHECK(fix != NULL);
    if (!fix) return;
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(fix, "models");
    const char *names[2] = {"cuba", "coba"};
    for (int m = 0; m < 2; m++) {
        const cJSON *ref = cJSON_GetObjectItemCaseSensitive(models, names[m]);
        const cJSON *rr = cJSON_GetObjectItemCaseSensitive(ref, "mean_rate_hz");
        const cJSON *rc = cJSON_GetObjectItemCaseSensitive(ref, "mean_cv");
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ref, "runs")) >= 5);
        double rmin = num_(rr, "min"), rmax = num_(rr, "max"), cmin = num_(rc, "min"), cmax = num_(rc, "max");
        CHECK(rmin > 0 && rmax >= rmin && cmin > 0 && cmax >= cmin);
        const char *seeds[2] = {"1", "2"};
        const int n_seeds = getenv("SOMA_SANITIZED") ? 1 : 2; /* the sanitizer build is ~10x slower */
        for (int s = 0; s < n_seeds; s++) {
            const char *argv[] = {"--seed", seeds[s]};
            cJSON *root;
            const cJSON *o = run_(names[m], 2, argv, &root);
            if (!o) continue;
            printf("%s seed %s:\n", names[m], seeds[s]);
            CHECK(in_range_("mean_rate_hz", num_(o, "mean_rate_hz"), rmin, rmax));
            CHECK(in_range_("mean_cv", num_(o, "mean_cv"), cmin, cmax));
            CHECK(num_(o, "n_neurons") == 4000);
            /* 4000^2 pairs at p 0.02: 320000 +- 570 (1 sd) recurrent synapses */
            double syn = num_(o, "n_synapses"); /* the recurrent ones (not coba's kick inputs) */
            CHECK(fabs(syn - 320000.0) < 4000.0);
            CHECK(num_(o, "sim_seconds") > 0 && num_(o, "setup_seconds") > 0);
            CHECK(num_(o, "syn_events_per_second") > 0 && num_(o, "peak_rss_mib") > 0);
            /* the landmarks (Brian2's range, widened) are met: the run says "pass" */
            const cJSON *st = cJSON_GetObjectItemCaseSensitive(root, "status");
            CHECK(cJSON_IsString(st) && strcmp(st->valuestring, "pass") == 0);
            cJSON_Delete(root);
        }
    }
    cJSON_Delete(fix);
}

/* When a spike acts: soma's one-step delay against Brian2's no-delay synapse, on two CUBA
 * neurons (the fixture's "timing"): the same spike time, and neuron 1's v trace within 1e-4 mV
 * at every recorded step, the first step of the jump included. */
static void test_spike_timing(void) {
    cJSON *fix = load_json_(check_src_path("tests/fixtures/brian2_cuba_coba.json"));
    CHECK(fix != NULL);
    if (!fix) return;
    const cJSON *tm = cJSON_GetObjectItemCaseSensitive(fix, "timing");
    const cJSON *jt = cJSON_GetObjectItemCaseSensitive(tm, "t_ms"), *jv = cJSON_GetObjectItemCaseSensitive(tm, "v_mV");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(tm, "spike_ms");
    int n_ref = cJSON_GetArraySize(jt);
    CHECK(n_ref >= 50 && n_ref == cJSON_GetArraySize(jv) && cJSON_GetArraySize(js) == 1);
    soma_snn *net = NULL;
    CHECK_OK(soma_snn_new(&net, 0.1, 1));
    soma_neuron_params p;
    soma_neuron_defaults(SOMA_LIF, &p);
    p.synapse = SOMA_SYN_CURRENT;
    p.C = 200, p.gL = 10, p.V_th = -50, p.V_reset = -60, p.t_ref = 5, p.tau_e = 5, p.tau_i = 10, p.I_ext = 0;
    p.V_init_lo = p.V_init_hi = -60;
    p.EL = -49;
    int g0, g1, ms, mv;
    CHECK_OK(soma_snn_add_group(net, "a", 1, &p, &g0));
    p.EL = -60;
    CHECK_OK(soma_snn_add_group(net, "b", 1, &p, &g1));
    soma_conn_spec c = soma_conn_default();
    c.pre = g0, c.post = g1, c.rule = SOMA_CONN_ONE_TO_ONE, c.weight = 16.2, c.delay = 0.1;
    CHECK_OK(soma_snn_connect(net, &c, NULL));
    const int who[1] = {0};
    CHECK_OK(soma_snn_record_spikes(net, g0, &ms));
    CHECK_OK(soma_snn_record_state(net, g1, "v", who, 1, 1, &mv));
    CHECK_OK(soma_snn_run(net, 60.0));
    const soma_spikes *s = soma_snn_spikes(net, ms);
    CHECK(s && s->n == 1 && fabs(s->t[0] - cJSON_GetArrayItem(js, 0)->valuedouble) < 1e-6);
    const float *v;
    const double *t;
    long ns = 0;
    int nn = 0;
    CHECK_OK(soma_snn_state(net, mv, &v, &t, &ns, &nn));
    int matched = 0, first_jump_ok = 0;
    double worst = 0;
    for (int k = 0; k < n_ref && ns > 0; k++) {
        double tr = cJSON_GetArrayItem(jt, k)->valuedouble, vr = cJSON_GetArrayItem(jv, k)->valuedouble;
        long i = lround(tr / 0.1);
        if (i < 0 || i >= ns || fabs(t[i] - tr) > 1e-6) continue;
        matched++;
        worst = fmax(worst, fabs(v[i] - vr));
        /* the first sample that moved off rest is the same step on both sides */
        if (vr > -59.9999 && cJSON_GetArrayItem(jv, k - 1)->valuedouble <= -59.9999)
            first_jump_ok = v[i] > -59.9999 && v[i - 1] <= -59.9999;
    }
    printf("spike timing: %d samples compared, worst |v - v_brian2| %.2e mV, first jump step %s\n", matched, worst,
           first_jump_ok ? "equal" : "DIFFERS");
    CHECK(matched == n_ref && worst < 1e-4 && first_jump_ok);
    soma_snn_free(net);
    cJSON_Delete(fix);
}

/* --neurons keeps 64 excitatory inputs a neuron; --p scales the weights to the mean input of
 * the 4000-neuron network. */
static void test_scaling(void) {
    cJSON *root;
    const char *a1[] = {"--neurons", "2000", "--duration", "0.05"};
    const cJSON *o = run_("cuba", 4, a1, &root);
    if (o) {
        CHECK(fabs(num_(o, "p") - 0.04) < 1e-12 && num_(o, "w_scale") == 1.0);
        CHECK(fabs(num_(o, "n_synapses") - 0.04 * 2000.0 * 2000.0) < 3000.0); /* 160000 +- 390 */
        CHECK(num_(o, "n_neurons") == 2000);
    }
    cJSON_Delete(root);
    const char *a2[] = {"--neurons", "4000", "--p", "0.01", "--duration", "0.05"};
    o = run_("cuba", 6, a2, &root);
    if (o) {
        CHECK(fabs(num_(o, "w_scale") - 2.0) < 1e-12);
        CHECK(fabs(num_(o, "n_synapses") - 160000.0) < 3000.0);
    }
    cJSON_Delete(root);
    const soma_experiment *e = soma_exp_find("cuba");
    const char *all[] = {"--neurons", "50", "--quiet"}; /* 80/N > 1 */
    CHECK_FAILS(soma_exp_run(e, 3, all, out_, NULL), SOMA_ERR_ARG);
}

/* brunel2000 reduced: the AI point fires irregularly and asynchronously, the SR point
 * oscillates (a spectral peak far above the flat level) and synchronises. */
static void test_brunel(void) {
    cJSON *root;
    const char *argv[] = {"--reduced"};
    const cJSON *o = run_("brunel2000", 1, argv, &root);
    if (o) {
        printf("brunel2000 reduced: AI rate %.1f Hz CV %.2f chi %.3f; SR rate %.1f Hz chi %.3f peak %.0f Hz x%.1f\n",
               num_(o, "ai_mean_rate_hz"), num_(o, "ai_mean_cv"), num_(o, "ai_synchrony"), num_(o, "sr_mean_rate_hz"),
               num_(o, "sr_synchrony"), num_(o, "sr_peak_hz"), num_(o, "sr_peak_ratio"));
        CHECK(num_(o, "ai_mean_cv") > 0.8);
        CHECK(num_(o, "ai_synchrony") < 0.2);
        CHECK(num_(o, "ai_mean_rate_hz") > 0.5 && num_(o, "ai_mean_rate_hz") < 100);
        CHECK(num_(o, "sr_peak_ratio") > 5.0);
        CHECK(num_(o, "sr_synchrony") > 0.3);
        CHECK(num_(o, "sr_synchrony") > 2 * num_(o, "ai_synchrony"));
    }
    cJSON_Delete(root);
}

/* stdp-song2000 over 300 s (the full run takes 2000 s to settle): the weights, uniform in
 * [0, g_max] at the start, pile up at both bounds (both end bins of the histogram above every
 * bin of its middle), and STDP brings the output rate down from its start and keeps it bounded. */
static void test_stdp(void) {
    cJSON *root;
    const char *argv[] = {"--duration", "300", "--chunk", "5"};
    const cJSON *o = run_("stdp-song2000", 4, argv, &root);
    if (o) {
        double lo = num_(o, "frac_low"), hi = num_(o, "frac_high");
        printf("stdp-song2000 300 s: frac_low %.3f frac_high %.3f output %.1f Hz (start %.1f Hz)\n", lo, hi,
               num_(o, "output_rate_hz"), num_(o, "output_rate_start_hz"));
        CHECK(lo + hi > 0.5); /* 0.2 at the start */
        CHECK(lo > 0.3 && hi > 0.05);
        CHECK(num_(o, "output_rate_hz") > 0.5 && num_(o, "output_rate_hz") < 40);
        CHECK(num_(o, "output_rate_hz") < 0.5 * num_(o, "output_rate_start_hz"));
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "weight_histogram");
        CHECK(cJSON_GetArraySize(h) == 20);
        /* bimodal: the two end bins each hold more than any middle bin */
        if (cJSON_GetArraySize(h) == 20) {
            double mid = 0;
            for (int b = 3; b < 17; b++) mid = fmax(mid, cJSON_GetArrayItem(h, b)->valuedouble);
            CHECK(cJSON_GetArrayItem(h, 0)->valuedouble > mid && cJSON_GetArrayItem(h, 19)->valuedouble > mid);
        }
    }
    cJSON_Delete(root);
}

int main(void) {
    snprintf(out_, sizeof out_, "/tmp/soma-test-snn-nets-%d", (int)getpid());
    test_spike_timing();
    test_brian2_range();
    test_scaling();
    test_brunel();
    test_stdp();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", out_);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", out_);
    return check_report("test_snn_nets");
}
