// The CUBA network of Vogels & Abbott (2005) as in Brian2's example (4000 LIF neurons, 80/20
// exc/inh, p = 0.02, current synapses, we = 1.62 mV, wi = -9 mV jumps of V expressed as
// currents) to time the simulator: sim time, synaptic events a second, bytes. Not built by
// CMake:
//
//   cc -O2 -std=c11 -fopenmp -Iinclude dev/snn_cuba.c build/libsoma.a \
//      -L/usr/lib/x86_64-linux-gnu/openblas-openmp -lopenblas -lpng -lz -lcjson -lm -o /tmp/snn_cuba
//   /tmp/snn_cuba [neurons=4000] [threads=2] [ms=1000] [p=0.02; weights scale by 0.02/p; 0: no synapses]
//
// The machine may be shared: run it a few times and take the medians.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soma/soma.h"

int main(int argc, char **argv) {
    int N = argc > 1 ? atoi(argv[1]) : 4000;
    int T = argc > 2 ? atoi(argv[2]) : 2;
    double ms = argc > 3 ? atof(argv[3]) : 1000.0;
    double p = argc > 4 ? atof(argv[4]) : 0.02;
    soma_set_threads(T);
    soma_snn *net;
    if (soma_snn_new(&net, 0.1, 1) != SOMA_OK) return 1;
    soma_neuron_params lif;
    soma_neuron_defaults(SOMA_LIF, &lif);
    /* Brian2's CUBA: taum 20 ms, taue 5, taui 10, Vt -50, Vr -60, El -49 (drive), refractory 5 ms;
     * v jumps: we = (60*0.27/10) mV = 1.62 mV, wi = -20*4.5/10 mV = -9 mV. With C = 200 pF a jump
     * of x mV in V after an exponential current needs a current jump of x*C/tau_s (exactly:
     * Brian2's ge is a voltage-like variable entering dv/dt = (ge+gi-(v-El))/taum). */
    lif.EL = -49.0;
    lif.V_init_lo = -60.0;
    lif.V_init_hi = -50.0;
    int ne = N * 4 / 5, ni = N - ne, e, i;
    if (soma_snn_add_group(net, "exc", ne, &lif, &e) || soma_snn_add_group(net, "inh", ni, &lif, &i)) goto fail;
    double scale = p > 0 ? 0.02 / p : 1.0; /* same mean input when p shrinks */
    /* ge in Brian2 is mV: taum dv/dt = ... + ge  ->  I = C ge / taum = 10 nS * ge; a jump of
     * 1.62 mV in ge = 16.2 pA */
    double we = 16.2 * scale, wi = -90.0 * scale;
    int pre[2] = {e, i};
    double wt[2] = {we, wi};
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            soma_conn_spec c = soma_conn_default();
            c.pre = pre[a];
            c.post = pre[b];
            c.p = p;
            c.weight = wt[a];
            c.target = a == 0 ? SOMA_TARGET_EXC : SOMA_TARGET_INH;
            if (p > 0 && soma_snn_connect(net, &c, NULL) != SOMA_OK) goto fail;
        }
    soma_snn_set_progress(net, "cuba");
    int me, mi;
    if (soma_snn_record_spikes(net, e, &me) || soma_snn_record_spikes(net, i, &mi)) goto fail;
    if (soma_snn_run(net, ms) != SOMA_OK) goto fail;
    soma_snn_stats s;
    soma_snn_stats_get(net, &s);
    const soma_spikes *se = soma_snn_spikes(net, me), *si = soma_snn_spikes(net, mi);
    printf("N %d threads %d: %ld synapses, setup %.3f s, sim %.3f s for %.0f ms, %ld spikes (%.2f Hz), "
           "%ld syn events, %.3g events/s, %.1f MB\n",
           N, T, soma_snn_n_synapses(net), s.setup_seconds, s.sim_seconds, ms, s.spikes,
           (double)(se->n + si->n) / (N * ms * 1e-3), s.syn_events, s.syn_events / s.sim_seconds, s.bytes / 1e6);
    soma_snn_free(net);
    return 0;
fail:
    fprintf(stderr, "error: %s\n", soma_errmsg());
    return 1;
}
