// The MLP training step's throughput against sgemm-1024 on the same machine (issue 5, item 6:
// the step should reach >= 70% of it), and where a step's time goes. Not built by CMake:
//
//   cc -O2 -std=c11 -fopenmp -Iinclude dev/mlp_step.c build/libsoma.a  (continued:)
//      -L/usr/lib/x86_64-linux-gnu/openblas-openmp -lopenblas -lpng -lz -lcjson -lm
//      -o /tmp/mlp_step
//   OPENBLAS_CORETYPE=Zen /tmp/mlp_step [threads=2] [spec=fc512,relu,fc256,relu,fc10] [batch=64]
//
// FLOPs of a step are those of its dense layers' GEMMs as run: forward and dW for every layer,
// dx for all but the first (a network skips the input's gradient): 2.41 MFLOP a sample for
// the bench's MLP. The figure ("about 100 GFLOP/s" at 31.6k samples/s) counted three
// times the forward, 3.21 MFLOP; both are printed ("as run" and "3x fwd"). Figures:
//   sgemm-1024    best of 10, soma_gemm at the thread count
//   train loop    soma_train_classifier, 1 epoch of Fashion-MNIST, no evaluation: what
//                 `soma train` and bench/vs_torch.sh time; the batch sliced across threads
//                 (data_parallel 2) and on one net (0); the default (1) picks one net for
//                 a dense stack
//   phases        one net, no data parallelism: batch assembly, forward, loss + backward,
//                 optimizer; the mean of 300 steps after 30 of warm-up
// The machine may be shared: run it a few times and take the medians.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soma/soma.h"

static double sgemm1024(void) {
    const int n = 1024;
    float *a = soma_alloc((size_t)n * n, 4), *b = soma_alloc((size_t)n * n, 4), *c = soma_alloc((size_t)n * n, 4);
    soma_rng r;
    soma_rng_seed(&r, 1, 0);
    soma_rng_uniform_fill(&r, a, (size_t)n * n, -1.f, 1.f);
    soma_rng_uniform_fill(&r, b, (size_t)n * n, -1.f, 1.f);
    double best = 1e30;
    for (int k = 0; k < 11; k++) {
        double t0 = soma_now();
        soma_gemm(0, 0, n, n, n, 1.f, a, n, b, n, 0.f, c, n);
        double dt = soma_now() - t0;
        if (k && dt < best) best = dt;
    }
    soma_free(a);
    soma_free(b);
    soma_free(c);
    return 2.0 * n * n * n / best * 1e-9;
}

/* as run (first dense layer: no dx), or 3x the forward */
static double flops_per_sample(soma_net *net, int three_fwd) {
    double f = 0.0;
    int first = 1;
    for (int i = 0; i < soma_net_n_layers(net); i++) {
        soma_layer *l = soma_net_layer(net, i);
        if (strcmp(l->ops->kind, "dense") != 0) continue;
        double io = 2.0 * l->params[0].dims[0] * l->params[0].dims[1];
        f += io * (first && !three_fwd ? 2 : 3);
        first = 0;
    }
    return f;
}

static soma_status make_(const char *spec, const soma_dataset *d, soma_net **net, soma_rule **rule,
                         soma_optim **opt) {
    SOMA_TRY(soma_net_new(net, spec, d->shape, 1));
    SOMA_TRY(soma_rule_backprop_new(rule, SOMA_LOSS_XENT));
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_ADAM);
    return soma_optim_new(opt, *net, &oc);
}

static void free_(soma_net *net, soma_rule *rule, soma_optim *opt) {
    soma_optim_free(opt);
    soma_rule_free(rule);
    soma_net_free(net);
}

int main(int argc, char **argv) {
    int T = argc > 1 ? atoi(argv[1]) : 2;
    const char *spec = argc > 2 ? argv[2] : "fc512,relu,fc256,relu,fc10";
    int B = argc > 3 ? atoi(argv[3]) : 64;
    soma_set_threads(T);
    char info[512];
    soma_machine_describe(info, sizeof info);
    printf("%s\n%s, batch %d, %d threads\n", info, spec, B, T);
    soma_dataset *d;
    if (soma_dataset_load("fmnist", 1, NULL, &d) != SOMA_OK) {
        fprintf(stderr, "mlp_step: %s\n", soma_errmsg());
        return 1;
    }
    double g = sgemm1024();
    printf("  sgemm-1024                 %7.1f GFLOP/s\n", g);

    soma_net *net;
    soma_rule *rule;
    soma_optim *opt;
    for (int dp = 2; dp >= 0; dp -= 2) {
        if (make_(spec, d, &net, &rule, &opt) != SOMA_OK) return 1;
        double f = flops_per_sample(net, 0), f3 = flops_per_sample(net, 1);
        soma_train_config cfg = soma_train_defaults();
        cfg.epochs = 1;
        cfg.batch = B;
        cfg.quiet = 1;
        cfg.data_parallel = dp;
        soma_train_log log = {0};
        if (soma_train_classifier(net, rule, opt, d, NULL, &cfg, &log) != SOMA_OK) {
            fprintf(stderr, "mlp_step: %s\n", soma_errmsg());
            return 1;
        }
        double gf = log.samples_per_second * f * 1e-9, gf3 = log.samples_per_second * f3 * 1e-9;
        printf("  train loop, %-7s  %8.0f samples/s  as run %6.1f GFLOP/s = %5.1f%% of sgemm;"
               "  3x fwd %6.1f = %5.1f%%\n",
               dp ? "sliced" : "one net", log.samples_per_second, gf, 100.0 * gf / g, gf3, 100.0 * gf3 / g);
        soma_train_log_free(&log);
        free_(net, rule, opt);
    }

    /* phases, one net */
    if (make_(spec, d, &net, &rule, &opt) != SOMA_OK || soma_net_reserve(net, B) != SOMA_OK) return 1;
    double f = flops_per_sample(net, 0);
    float *x = soma_alloc((size_t)B, d->dim * sizeof(float));
    int *y = soma_alloc((size_t)B, sizeof(int)), *idx = soma_alloc((size_t)B, sizeof(int));
    double tb = 0, ts = 0, to = 0, tf = 0;
    const int warm = 30, steps = 300;
    for (int s = 0; s < warm + steps; s++) {
        for (int i = 0; i < B; i++) idx[i] = (s * B + i * 7919) % d->n;
        double t0 = soma_now();
        soma_dataset_batch(d, idx, B, x, y);
        double t1 = soma_now();
        const float *out;
        soma_net_forward(net, x, B, SOMA_MODE_TRAIN, &out);
        double t2 = soma_now();
        soma_target tt = {y, NULL, 0};
        float l;
        int c;
        soma_rule_step(rule, net, x, &tt, B, &l, &c); /* forward again + loss + backward */
        double t3 = soma_now();
        soma_optim_step(opt, 1e-3f);
        double t4 = soma_now();
        if (s >= warm) tb += t1 - t0, tf += t2 - t1, ts += t3 - t2, to += t4 - t3;
    }
    tb /= steps, tf /= steps, ts /= steps, to /= steps;
    double step = tb + ts + to; /* the rule's step includes its own forward */
    printf("  phases (one net), us/step: batch %.1f  forward %.1f  fwd+loss+backward %.1f  "
           "(backward %.1f)  optimizer %.1f  = %.1f -> %.1f GFLOP/s\n",
           tb * 1e6, tf * 1e6, ts * 1e6, (ts - tf) * 1e6, to * 1e6, step * 1e6, B * f / step * 1e-9);
    soma_free(x);
    soma_free(y);
    soma_free(idx);
    free_(net, rule, opt);
    soma_dataset_free(d);
    return 0;
}
