// The cancellation flag (core.h): the training loop, the spiking simulator and the experiment
// runner stop with SOMA_ERR_CANCELLED while it is set, and run normally once it is cleared;
// soma_cancel_on_sigint turns SIGINT into the flag and puts the previous handler back.
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "soma/soma.h"

static void test_flag(void) {
    soma_cancel_clear();
    CHECK(!soma_cancel_requested());
    soma_cancel_request();
    CHECK(soma_cancel_requested());
    soma_cancel_request(); /* twice: still one flag */
    soma_cancel_clear();
    CHECK(!soma_cancel_requested());
    CHECK(strcmp(soma_status_str(SOMA_ERR_CANCELLED), "cancelled") == 0);
    CHECK(soma_status_exit_code(SOMA_ERR_CANCELLED) == 1);
}

static volatile sig_atomic_t prev_hits_ = 0;
static void prev_handler_(int sig) {
    (void)sig;
    prev_hits_++;
}

static void test_sigint(void) {
    struct sigaction sa, cur;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = prev_handler_;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGINT, &sa, NULL) == 0);
    soma_cancel_clear();
    CHECK(soma_cancel_on_sigint(1) == 0);
    CHECK(soma_cancel_on_sigint(1) == 0); /* twice: still the first one's saved handler */
    raise(SIGINT);
    CHECK(soma_cancel_requested());
    CHECK(prev_hits_ == 0);
    soma_cancel_clear();
    CHECK(soma_cancel_on_sigint(0) == 0);
    CHECK(sigaction(SIGINT, NULL, &cur) == 0 && cur.sa_handler == prev_handler_);
    raise(SIGINT);
    CHECK(prev_hits_ == 1 && !soma_cancel_requested());
    CHECK(soma_cancel_on_sigint(0) == 0); /* nothing installed: a no-op */
    sa.sa_handler = SIG_DFL;
    sigaction(SIGINT, &sa, NULL);
}

static void test_train(void) {
    soma_dataset *d = NULL;
    soma_net *net = NULL;
    soma_optim *opt = NULL;
    soma_rule *rule = NULL;
    CHECK_OK(soma_dataset_synthetic("gauss", 256, 8, 2, 3.f, 7, &d));
    CHECK_OK(soma_net_new(&net, "fc4,relu,fc2", soma_shape1(8), 3));
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_ADAM);
    CHECK_OK(soma_optim_new(&opt, net, &oc));
    CHECK_OK(soma_rule_backprop_new(&rule, SOMA_LOSS_XENT));
    if (!d || !net || !opt || !rule) goto out;
    size_t nv;
    float *v = soma_net_flat_values(net, &nv);
    float *before = soma_alloc(nv, sizeof *before);
    CHECK(before != NULL);
    if (!before) goto out;
    memcpy(before, v, nv * sizeof *v);
    soma_train_config tc = soma_train_defaults();
    tc.epochs = 3;
    tc.batch = 32;
    tc.sched.lr = 1e-2f;
    tc.quiet = 1;
    soma_train_log log = {0};
    soma_cancel_request();
    CHECK_FAILS(soma_train(net, rule, opt, d, NULL, &tc, &log), SOMA_ERR_CANCELLED);
    CHECK(strstr(soma_errmsg(), "cancelled") != NULL);
    CHECK(memcmp(before, v, nv * sizeof *v) == 0); /* polled before the first step */
    soma_train_log_free(&log);
    soma_cancel_clear();
    memset(&log, 0, sizeof log);
    CHECK_OK(soma_train(net, rule, opt, d, NULL, &tc, &log));
    CHECK(memcmp(before, v, nv * sizeof *v) != 0);
    CHECK(log.epochs == 3);
    soma_train_log_free(&log);
    soma_free(before);
out:
    soma_rule_free(rule);
    soma_optim_free(opt);
    soma_net_free(net);
    soma_dataset_free(d);
}

static void test_snn(void) {
    soma_snn *net = NULL;
    CHECK_OK(soma_snn_new(&net, 0.1, 5));
    if (!net) return;
    soma_neuron_params p;
    soma_neuron_defaults(SOMA_LIF, &p);
    p.I_ext = 300.0;
    int g, mon;
    CHECK_OK(soma_snn_add_group(net, "a", 10, &p, &g));
    CHECK_OK(soma_snn_record_spikes(net, g, &mon));
    soma_cancel_request();
    CHECK_FAILS(soma_snn_run(net, 100.0), SOMA_ERR_CANCELLED); /* 1000 steps: polled at 256 */
    soma_cancel_clear();
    soma_snn *n2 = NULL;
    CHECK_OK(soma_snn_new(&n2, 0.1, 5));
    CHECK_OK(soma_snn_add_group(n2, "a", 10, &p, &g));
    CHECK_OK(soma_snn_record_spikes(n2, g, &mon));
    CHECK_OK(soma_snn_run(n2, 100.0));
    CHECK(soma_snn_spikes(n2, mon)->n > 0);
    soma_snn_free(n2);
    soma_snn_free(net);
}

static void test_exp(void) {
    const soma_experiment *e = soma_exp_find("perceptron");
    CHECK(e != NULL);
    if (!e) return;
    char out[256];
    snprintf(out, sizeof out, "test_cancel_out");
    soma_cancel_request();
    CHECK_FAILS(soma_exp_run_reduced(e, 0, NULL, out, NULL), SOMA_ERR_CANCELLED);
    soma_cancel_clear();
    CHECK_OK(soma_exp_run_reduced(e, 0, NULL, out, NULL));
}

int main(void) {
    test_flag();
    test_sigint();
    test_train();
    test_snn();
    test_exp();
    return check_report("test_cancel");
}
