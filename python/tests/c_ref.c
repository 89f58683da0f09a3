/* The C side of the Python suite's exact comparisons, where the soma command prints rounded
 * numbers (cJSON's 15 digits, CSV's %.7g): calls the library and prints every value as a
 * hexadecimal float (%a), exact.
 *   c_ref rsa A.npy B.npy METRIC METHOD   RDMs of two [n, p] float64 arrays, then RSA
 *   c_ref snn FILE.json                   runs a JSON network; every monitor's records */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soma/soma.h"

static int fail_(soma_status st) {
    fprintf(stderr, "c_ref: %s\n", soma_errmsg());
    return st ? 1 : 0;
}

static int rsa_(char **argv) {
    soma_array a = {0}, b = {0};
    soma_status st;
    if ((st = soma_npy_read(argv[0], &a)) || (st = soma_npy_read(argv[1], &b))) return fail_(st);
    if (a.dtype != SOMA_DTYPE_F64 || b.dtype != SOMA_DTYPE_F64 || a.ndim != 2 || b.ndim != 2) return 2;
    int n = (int)a.shape[0];
    soma_rdm_opts o = {0};
    soma_rsa_method m;
    if ((st = soma_rdm_metric_parse(argv[2], &o.metric)) || (st = soma_rsa_method_parse(argv[3], &m)))
        return fail_(st);
    o.shrinkage = -1;
    double *ra = malloc(sizeof(double) * (size_t)soma_rdm_len(n)), *rb = malloc(sizeof(double) * (size_t)soma_rdm_len(n));
    double v;
    if ((st = soma_rdm(a.data, n, (int)a.shape[1], 1, &o, ra)) || (st = soma_rdm(b.data, n, (int)b.shape[1], 1, &o, rb)) ||
        (st = soma_rsa_compare(ra, rb, n, m, &v)))
        return fail_(st);
    printf("%a\n", v);
    free(ra);
    free(rb);
    soma_array_deinit(&a);
    soma_array_deinit(&b);
    return 0;
}

static int snn_(char **argv) {
    void *buf;
    size_t n;
    soma_status st;
    if ((st = soma_file_read(argv[0], 0, &buf, &n))) return fail_(st);
    char *text = malloc(n + 1);
    memcpy(text, buf, n);
    text[n] = 0;
    soma_free(buf);
    soma_snn *net;
    double dur;
    if ((st = soma_snn_from_json(text, &net, &dur)) || (st = soma_snn_run(net, dur))) return fail_(st);
    for (int m = 0; m < soma_snn_n_monitors(net); m++) {
        soma_monitor_kind k;
        soma_snn_monitor_info(net, m, &k, NULL);
        if (k == SOMA_MON_SPIKES) {
            const soma_spikes *s = soma_snn_spikes(net, m);
            printf("spikes %d %ld\n", m, s->n);
            for (long i = 0; i < s->n; i++) printf("%d %a\n", s->id[i], s->t[i]);
        } else if (k == SOMA_MON_STATE) {
            const float *d;
            const double *t;
            long ns;
            int nn;
            soma_snn_state(net, m, &d, &t, &ns, &nn);
            printf("state %d %ld %d\n", m, ns, nn);
            for (long i = 0; i < ns * nn; i++) printf("%a\n", (double)d[i]);
        } else {
            const float *hz;
            long ns;
            soma_snn_rate(net, m, &hz, &ns);
            printf("rate %d %ld\n", m, ns);
            for (long i = 0; i < ns; i++) printf("%a\n", (double)hz[i]);
        }
    }
    soma_snn_free(net);
    free(text);
    return 0;
}

int main(int argc, char **argv) {
    soma_set_threads(1);
    if (argc == 6 && !strcmp(argv[1], "rsa")) return rsa_(argv + 2);
    if (argc == 3 && !strcmp(argv[1], "snn")) return snn_(argv + 2);
    fprintf(stderr, "usage: c_ref rsa A.npy B.npy METRIC METHOD | c_ref snn FILE.json\n");
    return 2;
}
