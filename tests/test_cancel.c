// The cancellation flag (core.h): the training loop, the spiking simulator, the experiment
// runner and the other long calls (VAE, GPFA, LFADS and NDT training, the world model, encoding
// models, RSA permutation tests, dictionary learning) stop with SOMA_ERR_CANCELLED while it is
// set, and run normally once it is cleared;
// soma_cancel_on_sigint turns SIGINT into the flag and puts the previous handler back.
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <math.h>
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


/* Fills c with seeded Poisson-ish counts (small integers). */
static void fill_counts_(soma_counts *c, uint64_t seed) {
    soma_rng r;
    soma_rng_seed(&r, seed, 0);
    const size_t n = (size_t)c->n_trials * c->n_bins * c->n_units;
    for (size_t i = 0; i < n; i++) c->x[i] = (float)soma_rng_below(&r, 3);
}

/* The other long calls poll the flag too: set, each stops with SOMA_ERR_CANCELLED; cleared,
 * the same call runs. */
static void test_models(void) {
    /* VAE training */
    soma_vae_opts vo = soma_vae_opts_default();
    vo.latent = 2;
    vo.enc_hidden = "fc8,relu";
    vo.max_batch = 16;
    soma_vae *v = NULL;
    soma_dataset *d = NULL;
    CHECK_OK(soma_dataset_synthetic("gauss", 64, 6, 2, 3.f, 5, &d));
    CHECK_OK(soma_vae_new(&v, &vo, soma_shape1(6)));
    if (v && d) {
        for (size_t i = 0; i < (size_t)d->n * d->dim; i++) d->x_f32[i] = 1.f / (1.f + expf(-d->x_f32[i]));
        soma_cancel_request();
        CHECK_FAILS(soma_vae_train(v, d, 2, 16, NULL), SOMA_ERR_CANCELLED);
        soma_cancel_clear();
        CHECK_OK(soma_vae_train(v, d, 2, 16, NULL));
    }
    soma_vae_free(v);
    soma_dataset_free(d);

    /* GPFA, LFADS, NDT on one small count array */
    soma_counts c = {0};
    CHECK_OK(soma_counts_alloc(&c, 8, 10, 5, 20.0));
    if (c.x) {
        fill_counts_(&c, 3);
        soma_latent_opts lo = soma_latent_opts_default(SOMA_LATENT_GPFA);
        lo.n_latents = 2;
        lo.max_iter = 3;
        soma_latent *lm = NULL;
        soma_cancel_request();
        CHECK_FAILS(soma_latent_fit(&lm, &c, &lo), SOMA_ERR_CANCELLED);
        soma_cancel_clear();
        CHECK_OK(soma_latent_fit(&lm, &c, &lo));
        soma_latent_free(lm);

        soma_lfads_opts fo = soma_lfads_opts_default();
        fo.enc_dim = fo.gen_dim = 8;
        fo.factors = 2;
        fo.epochs = 2;
        fo.batch = 4;
        soma_lfads *lf = NULL;
        CHECK_OK(soma_lfads_new(&lf, 10, 5, 5, &fo));
        if (lf) {
            soma_cancel_request();
            CHECK_FAILS(soma_lfads_fit(lf, &c), SOMA_ERR_CANCELLED);
            soma_cancel_clear();
            CHECK_OK(soma_lfads_fit(lf, &c));
        }
        soma_lfads_free(lf);

        soma_ndt_arch na = soma_ndt_arch_default();
        na.n_bins = 10;
        na.d_model = 8;
        na.n_layers = 1;
        na.n_heads = 2;
        soma_ndt *nd = NULL;
        int sess = -1;
        CHECK_OK(soma_ndt_new(&nd, &na));
        if (nd) CHECK_OK(soma_ndt_add_session(nd, 5, -1, &sess));
        if (nd && sess >= 0) {
            soma_ndt_train_opts no = soma_ndt_train_default();
            no.steps = 4;
            no.batch = 4;
            no.eval_every = 2;
            soma_ndt_data nd_data = {.counts = &c, .session = sess};
            soma_cancel_request();
            CHECK_FAILS(soma_ndt_train(nd, &nd_data, 1, &no, -1), SOMA_ERR_CANCELLED);
            CHECK(soma_ndt_step(nd) == 1); /* polled after each step: the run stays resumable */
            soma_cancel_clear();
            CHECK_OK(soma_ndt_train(nd, &nd_data, 1, &no, -1));
            CHECK(soma_ndt_step(nd) == 4);
        }
        soma_ndt_free(nd);
    }
    soma_counts_free(&c);

    /* world model */
    soma_wm_config wc = soma_wm_defaults(2, 2);
    wc.net = "fc8,relu";
    wc.capacity = 32;
    wc.batch = 8;
    wc.max_predict = 4;
    soma_wm *wm = NULL;
    CHECK_OK(soma_wm_new(&wm, &wc));
    if (wm) {
        for (int i = 0; i < 16; i++) {
            const float s[2] = {(float)i, (float)(i % 3)}, s2[2] = {(float)i + 1.f, (float)((i + 1) % 3)};
            CHECK_OK(soma_wm_add(wm, s, i % 2, s2));
        }
        soma_cancel_request();
        CHECK_FAILS(soma_wm_train(wm, 5, NULL), SOMA_ERR_CANCELLED);
        soma_cancel_clear();
        CHECK_OK(soma_wm_train(wm, 5, NULL));
    }
    soma_wm_free(wm);
}

static void test_analysis(void) {
    enum { N = 12, P = 3, Q = 2 };
    double X[N * P], Y[N * Q];
    soma_rng r;
    soma_rng_seed(&r, 11, 0);
    for (int i = 0; i < N * P; i++) X[i] = soma_rng_normal(&r);
    for (int i = 0; i < N; i++)
        for (int t = 0; t < Q; t++) Y[i * Q + t] = X[i * P + t] + 0.1 * soma_rng_normal(&r);
    soma_ridge_opts ro = soma_ridge_opts_default();
    ro.folds = 3;
    soma_encode_result e;
    memset(&e, 0, sizeof e);
    soma_cancel_request();
    CHECK_FAILS(soma_encode(X, N, P, Y, Q, 1, &ro, &e), SOMA_ERR_CANCELLED);
    soma_encode_result_free(&e);
    soma_cancel_clear();
    memset(&e, 0, sizeof e);
    CHECK_OK(soma_encode(X, N, P, Y, Q, 1, &ro, &e));
    soma_encode_result_free(&e);

    /* RSA permutation test: the flag is polled every 1024 permutations */
    enum { M = 6 };
    double a[M * (M - 1) / 2], b[M * (M - 1) / 2], val = 0, p = 0;
    for (int i = 0; i < M * (M - 1) / 2; i++) a[i] = soma_rng_uniform(&r), b[i] = soma_rng_uniform(&r);
    soma_cancel_request();
    CHECK_FAILS(soma_rsa_permtest(a, b, M, SOMA_RSA_SPEARMAN, 2048, 3, &val, &p), SOMA_ERR_CANCELLED);
    soma_cancel_clear();
    CHECK_OK(soma_rsa_permtest(a, b, M, SOMA_RSA_SPEARMAN, 2048, 3, &val, &p));
    CHECK(p > 0 && p <= 1);

    /* dictionary learning */
    float Xf[32 * 4];
    for (int i = 0; i < 32 * 4; i++) Xf[i] = (float)soma_rng_normal(&r);
    soma_dict_opts dop = {{SOMA_SPARSE_FISTA, 0.1f, 20, 1e-4f, 0}, 3, 5, 8, 0.5f, 9};
    float *D = NULL;
    soma_cancel_request();
    CHECK_FAILS(soma_dict_learn(Xf, 32, 4, &dop, NULL, &D, NULL, NULL), SOMA_ERR_CANCELLED);
    soma_free(D);
    D = NULL;
    soma_cancel_clear();
    CHECK_OK(soma_dict_learn(Xf, 32, 4, &dop, NULL, &D, NULL, NULL));
    soma_free(D);
}

int main(void) {
    test_flag();
    test_sigint();
    test_train();
    test_snn();
    test_exp();
    test_models();
    test_analysis();
    return check_report("test_cancel");
}
