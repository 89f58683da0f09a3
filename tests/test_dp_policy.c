/* When training slices the batch across threads (data_parallel 1 = auto): a stack of dense and
 * elementwise layers stays on one net (its GEMMs run threaded in the BLAS, faster than sliced),
 * a net with convolutions is sliced, and 2 slices any net. Seen through the bits: the one-net
 * run is reproduced exactly by data_parallel 0; the sliced run sums per-slice gradients and
 * differs from it in rounding. */
#include <string.h>

#include "check.h"
#include "soma/soma.h"

static float *train_(const char *spec, soma_shape in, soma_dataset *d, int dp, size_t *n) {
    soma_net *net = NULL;
    soma_optim *o = NULL;
    soma_rule *r = NULL;
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_SGD);
    oc.momentum = 0.9f;
    CHECK_OK(soma_net_new(&net, spec, in, 7));
    CHECK_OK(soma_optim_new(&o, net, &oc));
    CHECK_OK(soma_rule_backprop_new(&r, SOMA_LOSS_XENT));
    float *v = NULL;
    if (net && o && r) {
        soma_train_config c = soma_train_defaults();
        c.epochs = 1;
        c.batch = 50;
        c.sched.lr = 0.05f;
        c.quiet = 1;
        c.data_parallel = dp;
        soma_train_log log = {0};
        CHECK_OK(soma_train_classifier(net, r, o, d, NULL, &c, &log));
        soma_train_log_free(&log);
        float *flat = soma_net_flat_values(net, n);
        v = malloc(*n * sizeof *v);
        if (v) memcpy(v, flat, *n * sizeof *v);
    }
    soma_rule_free(r);
    soma_optim_free(o);
    soma_net_free(net);
    return v;
}

static void check_policy_(const char *spec, soma_shape in, soma_dataset *d, int sliced_by_default) {
    size_t n0 = 0, n1 = 0, n2 = 0;
    float *one = train_(spec, in, d, 0, &n0), *dflt = train_(spec, in, d, 1, &n1), *forced = train_(spec, in, d, 2, &n2);
    CHECK(one && dflt && forced && n0 == n1 && n0 == n2);
    if (one && dflt && forced) {
        int same_default = memcmp(one, dflt, n0 * sizeof *one) == 0;
        int same_forced = memcmp(one, forced, n0 * sizeof *one) == 0;
        if (same_default == sliced_by_default || same_forced)
            fprintf(stderr, "%s: default run %s the one-net run, forced slicing %s it\n", spec,
                    same_default ? "equals" : "differs from", same_forced ? "equals" : "differs from");
        CHECK(same_default != sliced_by_default);
        CHECK(!same_forced);
        CHECK_CLOSE(spec, forced, one, n0, 1e-4f, 1e-3f); /* slicing changes rounding only */
    }
    free(one);
    free(dflt);
    free(forced);
}

int main(void) {
    soma_set_threads(2);
    soma_dataset *d = NULL;
    CHECK_OK(soma_dataset_synthetic("gauss", 400, 64, 3, 4.0f, 5, &d));
    if (!d) return check_report("test_dp_policy");
    if (soma_have_openmp()) { /* without OpenMP every run is one net */
        check_policy_("fc32,relu,fc16,tanh,fc3", d->shape, d, 0);
        d->shape = soma_shape3(1, 8, 8);
        check_policy_("conv3x3x8p1,relu,maxpool2,fc3", d->shape, d, 1);
    }
    soma_dataset_free(d);
    return check_report("test_dp_policy");
}
