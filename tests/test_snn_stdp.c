// STDP: single pairings against the formula; weights after random pre and post spike trains
// against a brute-force sum over all spike-time pairs (additive and multiplicative), with the
// bounds [0, w_max] applied at every event.
#include <math.h>

#include "check.h"
#include "soma/snn.h"

/* One pre and one post neuron, weight w0; pre forced to spike at t_pre, post at t_post (ms,
 * multiples of dt). Returns the final weight. */
static double pair_(const soma_stdp *sd, double w0, double t_pre, double t_post) {
    soma_snn *net = NULL;
    CHECK_OK(soma_snn_new(&net, 0.1, 1));
    soma_neuron_params p;
    soma_neuron_defaults(SOMA_LIF, &p);
    int a, b;
    CHECK_OK(soma_snn_add_group(net, "pre", 1, &p, &a));
    CHECK_OK(soma_snn_add_group(net, "post", 1, &p, &b));
    soma_conn_spec c = soma_conn_default();
    c.pre = a;
    c.post = b;
    c.rule = SOMA_CONN_ONE_TO_ONE;
    c.weight = w0;
    c.stdp = sd;
    CHECK_OK(soma_snn_connect(net, &c, NULL));
    const double first = fmin(t_pre, t_post), second = fmax(t_pre, t_post);
    double up = -40.0;
    CHECK_OK(soma_snn_run(net, first));
    CHECK_OK(soma_snn_set_state(net, t_pre <= t_post ? a : b, "v", &up));
    if (second > first) CHECK_OK(soma_snn_run(net, second - first));
    CHECK_OK(soma_snn_set_state(net, t_pre <= t_post ? b : a, "v", &up));
    CHECK_OK(soma_snn_run(net, 50.0));
    float w;
    CHECK_OK(soma_snn_proj_get(net, 0, NULL, NULL, &w));
    soma_snn_free(net);
    return w;
}

static void test_pairs(void) {
    soma_stdp sd = {16.8, 33.7, 0.01, 0.012, 2.0, 0};
    const double w0 = 1.0;
    double w = pair_(&sd, w0, 10.0, 15.0); /* pre 5 ms before post: potentiation */
    CHECK(fabs(w - (w0 + 0.01 * 2.0 * exp(-5.0 / 16.8))) < 1e-6);
    w = pair_(&sd, w0, 15.0, 10.0); /* post 5 ms before pre: depression */
    CHECK(fabs(w - (w0 - 0.012 * 2.0 * exp(-5.0 / 33.7))) < 1e-6);
    w = pair_(&sd, w0, 10.0, 10.0); /* same step: counts as pre before post */
    CHECK(fabs(w - (w0 + 0.01 * 2.0)) < 1e-6);
    sd.multiplicative = 1;
    w = pair_(&sd, 0.5, 10.0, 12.0);
    CHECK(fabs(w - (0.5 + 0.01 * (2.0 - 0.5) * exp(-2.0 / 16.8))) < 1e-6);
    w = pair_(&sd, 0.5, 12.0, 10.0);
    CHECK(fabs(w - (0.5 - 0.012 * 0.5 * exp(-2.0 / 33.7))) < 1e-6);
    /* bounds: a big step clips */
    sd.multiplicative = 0;
    sd.A_plus = 0.8;
    w = pair_(&sd, 1.9, 10.0, 11.0);
    CHECK(w == 2.0f);
    sd.A_minus = 0.9;
    w = pair_(&sd, 0.1, 11.0, 10.0);
    CHECK(w == 0.0f);
}

/* Brute force: every synapse's events in time order (pre before post within a step), each
 * change summed over all earlier partner spikes, then clipped. */
static void brute_(const soma_stdp *sd, const soma_spikes *pre, const soma_spikes *post, const int *ppre,
                   const int *ppost, float *w, long n) {
    for (long k = 0; k < n; k++) {
        const int i = ppre[k], j = ppost[k];
        long a = 0, b = 0;
        /* merge the two trains */
        double tp[4096], tq[4096];
        int np = 0, nq = 0;
        for (long s = 0; s < pre->n; s++)
            if (pre->id[s] == i && np < 4096) tp[np++] = pre->t[s];
        for (long s = 0; s < post->n; s++)
            if (post->id[s] == j && nq < 4096) tq[nq++] = post->t[s];
        float wk = w[k];
        while (a < np || b < nq) {
            const int pre_next = a < np && (b >= nq || tp[a] <= tq[b]);
            double sum = 0, dw;
            if (pre_next) {
                const double t = tp[a++];
                for (int q = 0; q < nq && tq[q] < t; q++) sum += exp(-(t - tq[q]) / sd->tau_minus);
                dw = -(sd->multiplicative ? sd->A_minus * wk : sd->A_minus * sd->w_max) * sum;
            } else {
                const double t = tq[b++];
                for (int q = 0; q < np && tp[q] <= t; q++) sum += exp(-(t - tp[q]) / sd->tau_plus);
                dw = (sd->multiplicative ? sd->A_plus * (sd->w_max - wk) : sd->A_plus * sd->w_max) * sum;
            }
            if (sum == 0) continue;
            double x = wk + dw;
            wk = (float)(x < 0 ? 0 : x > sd->w_max ? sd->w_max : x);
        }
        w[k] = wk;
    }
}

static void check_random_(int multiplicative) {
    soma_snn *net = NULL;
    CHECK_OK(soma_snn_new(&net, 0.1, 21 + multiplicative));
    soma_neuron_params po, lif;
    soma_neuron_defaults(SOMA_POISSON, &po);
    po.rate = 25.0;
    soma_neuron_defaults(SOMA_LIF, &lif);
    lif.I_ext = 150.0; /* fires on its own too */
    int a, b, ma, mb, q;
    CHECK_OK(soma_snn_add_group(net, "in", 30, &po, &a));
    CHECK_OK(soma_snn_add_group(net, "out", 4, &lif, &b));
    soma_stdp sd = {16.8, 33.7, 0.05, 0.06, 60.0, multiplicative};
    soma_conn_spec c = soma_conn_default();
    c.pre = a;
    c.post = b;
    c.p = 0.7;
    c.weight = 30.0;
    c.delay = 1.0;
    c.stdp = &sd;
    CHECK_OK(soma_snn_connect(net, &c, &q));
    long n = soma_snn_proj_size(net, q);
    int *pp = malloc((size_t)n * sizeof *pp), *pq = malloc((size_t)n * sizeof *pq);
    float *w0 = malloc((size_t)n * sizeof *w0), *w = malloc((size_t)n * sizeof *w);
    CHECK_OK(soma_snn_proj_get(net, q, pp, pq, w0));
    CHECK_OK(soma_snn_record_spikes(net, a, &ma));
    CHECK_OK(soma_snn_record_spikes(net, b, &mb));
    CHECK_OK(soma_snn_run(net, 3000.0));
    CHECK_OK(soma_snn_proj_get(net, q, NULL, NULL, w));
    const soma_spikes *sp = soma_snn_spikes(net, ma), *sq = soma_snn_spikes(net, mb);
    brute_(&sd, sp, sq, pp, pq, w0, n);
    int at0 = 0, atmax = 0, inside = 1;
    double worst = 0;
    for (long k = 0; k < n; k++) {
        worst = fmax(worst, fabs(w[k] - w0[k]));
        at0 += w[k] == 0.0f;
        atmax += w[k] == 60.0f;
        inside &= w[k] >= 0 && w[k] <= 60;
    }
    printf("STDP %s: %ld synapses, %ld pre / %ld post spikes, %d at 0, %d at w_max, worst |w - brute| %.3g\n",
           multiplicative ? "multiplicative" : "additive", n, sp->n, sq->n, at0, atmax, worst);
    CHECK(sp->n > 1000 && sq->n > 50);
    CHECK(worst < 1e-4); /* float weights of up to 60: a few ulps */
    CHECK(inside);
    if (!multiplicative) CHECK(at0 + atmax > 0); /* the bounds were exercised */
    free(pp);
    free(pq);
    free(w0);
    free(w);
    soma_snn_free(net);
}

int main(void) {
    soma_set_threads(2);
    test_pairs();
    check_random_(0);
    check_random_(1);
    return check_report("test_snn_stdp");
}
