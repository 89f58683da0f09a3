// permuted-fmnist: catastrophic forgetting and its remedies on 10 permuted Fashion-MNIST tasks:
// fine-tuning (the lower bound), joint training (the upper bound), EWC, online EWC, synaptic
// intelligence and experience replay, each trained from the same initial net on the same
// stream, with the accuracy matrix, its metrics and a figure of every task through the
// sequence. Also the JSON and figure helpers of `soma continual` (cl_common.h).
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/cl_common.h"
#include "exp/internal.h"
#include "soma/learn.h"
#include "soma/nn.h"
#include "soma/plot.h"

// --- the experiment ------------------------------------------------------------------------

static const soma_opt opts_[] = {
    {"tasks", SOMA_OPT_INT, "10", 2, 100, NULL, "permuted tasks (task 1 the plain images)", 1},
    {"n-train", SOMA_OPT_INT, "50000", 10, 60000, NULL,
     "training samples a task (the first N; the default is the size of the validation runs' training part, 5/6 of "
     "the 60000, on which every setting was chosen)", 1},
    {"n-test", SOMA_OPT_INT, "10000", 10, 10000, NULL, "test samples a task (the first N)", 1},
    {"hidden", SOMA_OPT_STR, "norm0.286,fc1000,relu,fc1000,relu", 0, 0, NULL,
     "hidden layers (fc10 is appended); norm0.286 centres the pixels on Fashion-MNIST's mean", 1},
    {"epochs", SOMA_OPT_INT, "1", 1, 1000, NULL, "epochs a task", 1},
    {"batch", SOMA_OPT_INT, "128", 1, 65536, NULL, "mini-batch", 0},
    {"optim", SOMA_OPT_ENUM, "adam", 0, 0, "sgd|adam|adamw", "optimizer", 0},
    {"lr", SOMA_OPT_FLOAT, "0.001", 1e-7, 1, NULL, "learning rate", 0},
    {"momentum", SOMA_OPT_FLOAT, "0", 0, 0.999, NULL, "SGD's momentum", 0},
    {"penalty-optim", SOMA_OPT_ENUM, "adam", 0, 0, "sgd|adam|adamw", "optimizer of EWC, online EWC and SI", 0},
    {"penalty-lr", SOMA_OPT_FLOAT, "0.001", 1e-7, 1, NULL, "learning rate of EWC, online EWC and SI", 0},
    {"penalty-momentum", SOMA_OPT_FLOAT, "0", 0, 0.999, NULL, "SGD's momentum for EWC, online EWC and SI", 0},
    {"joint", SOMA_OPT_ENUM, "all", 0, 0, "all|sampled", "joint training on all past data, or on a task's worth drawn from it", 0},
    {"ewc-lambda", SOMA_OPT_FLOAT, "300", 0, 1e12, NULL, "EWC's lambda", 0},
    {"online-lambda", SOMA_OPT_FLOAT, "300", 0, 1e12, NULL, "online EWC's lambda", 0},
    {"ewc-gamma", SOMA_OPT_FLOAT, "1", 0, 1, NULL, "online EWC's decay", 0},
    {"fisher-samples", SOMA_OPT_INT, "2000", 1, 60000, NULL, "samples a task for the Fisher (per sample)", 0},
    {"si-c", SOMA_OPT_FLOAT, "0.1", 0, 1e12, NULL, "SI's c", 0},
    {"si-xi", SOMA_OPT_FLOAT, "0.001", 1e-12, 1e12, NULL, "SI's xi (damping of Omega's denominator)", 0},
    {"fisher", SOMA_OPT_ENUM, "empirical", 0, 0, "true|empirical", "EWC's Fisher: labels drawn from the model, or the data's", 0},
    {"penalty", SOMA_OPT_ENUM, "coupled", 0, 0, "coupled|decoupled",
     "EWC/SI penalty: its gradient through the optimizer, or a proximal step after it (lambda, c about 1/lr larger)", 0},
    {"reset-optim", SOMA_OPT_ENUM, "off", 0, 0, "off|on", "zero the optimizer's state at every task's start", 0},
    {"buffer", SOMA_OPT_FLOAT, "0.01", 1e-5, 1, NULL, "replay buffer as a fraction of the stream's training data", 0},
    {"gen-hidden", SOMA_OPT_STR, "fc400,relu,fc400,relu", 0, 0, NULL, "generative replay: the VAE's hidden layers", 0},
    {"gen-latent", SOMA_OPT_INT, "32", 1, 4096, NULL, "generative replay: the VAE's latent size", 0},
    {"gen-iters", SOMA_OPT_INT, "1", 1, 100, NULL, "generative replay: VAE steps a training step", 0},
    {"cls-capacity", SOMA_OPT_INT, "6000", 1, 100000000, NULL, "CLS: episodes the fast store keeps (reservoir)", 0},
    {"methods", SOMA_OPT_STR, "all", 0, 0, NULL, "methods to run, comma-separated, or all", 1},
    {"validate", SOMA_OPT_FLAG, NULL, 0, 0, NULL,
     "evaluate on the last sixth of the training images (held out) instead of the test set (to choose settings)", 1},
    {"fmnist-dir", SOMA_OPT_STR, NULL, 0, 0, NULL, "Fashion-MNIST folder", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark landmarks_[] = {
    {"EWC, average accuracy over 10 permuted tasks (issue 10's bar)", "Kirkpatrick et al. 2017",
     "https://doi.org/10.1073/pnas.1611835114", "ewc_acc", SOMA_EXP_AT_LEAST, 0.75},
    {"synaptic intelligence, average accuracy (issue 10's bar)", "Zenke, Poole & Ganguli 2017",
     "https://proceedings.mlr.press/v70/zenke17a.html", "si_acc", SOMA_EXP_AT_LEAST, 0.75},
    {"experience replay, buffer of 1% of the data, average accuracy (issue 10's bar)", "Chaudhry et al. 2019",
     "https://arxiv.org/abs/1902.10486", "replay_acc", SOMA_EXP_AT_LEAST, 0.80},
    {"joint training (upper bound), average accuracy (issue 10's bar)", "van de Ven, Siegelmann & Tolias 2020",
     "https://doi.org/10.1038/s41467-020-17866-2", "joint_acc", SOMA_EXP_AT_LEAST, 0.85},
    {"fine-tuning forgets: the accuracy of EWC, SI, replay and joint training minus fine-tuning's (smallest gap; "
     "LwF is not among them: distilling the old net's answers on a new permutation's images, which look like none "
     "of the old tasks', can cost more than it keeps)",
     "van de Ven, Siegelmann & Tolias 2020", "https://doi.org/10.1038/s41467-020-17866-2", "finetune_gap",
     SOMA_EXP_AT_LEAST, 0.05},
    {NULL, NULL, NULL, NULL, 0, 0},
};

/* Reduced: 3 tasks of 1000 samples, a small net trained hard enough to forget (4 epochs of
 * batch 32 at lr 0.003), a 5% buffer (1% would be 30 samples), the six methods built in
 * cl_method.c (the landmarks' keys); a few seconds. */
static const char *const reduced_[] = {"--tasks", "3", "--n-train", "1000", "--n-test", "500", "--hidden", "norm0.286,fc64,relu",
                                       "--epochs", "4", "--batch", "32", "--lr", "0.003", "--buffer", "0.05",
                                       "--fisher-samples", "100",
                                       "--gen-hidden", "fc64,relu", "--gen-latent", "8", "--cls-capacity", "300",
                                       "--methods", "all", NULL};

static soma_status check_(const soma_exp_ctx *c) {
    int on[SOMA_CL_METHOD_COUNT];
    SOMA_TRY(soma__cl_methods(NULL, soma_args_str(&c->args, "methods"), on));
    const char *h = soma_args_str(&c->args, "hidden");
    if (!h || !h[0]) return soma_error(SOMA_ERR_ARG, "--hidden is empty");
    return SOMA_OK;
}

static soma_status run_(soma_exp_ctx *c) {
    int T, ntr, nte, epochs, batch, fs, on[SOMA_CL_METHOD_COUNT];
    float lr, mom, plr, pmom, lam, olam, gam, sic, sixi;
    double buf;
    SOMA_TRY(soma_args_int(&c->args, "tasks", &T));
    SOMA_TRY(soma_args_int(&c->args, "n-train", &ntr));
    SOMA_TRY(soma_args_int(&c->args, "n-test", &nte));
    SOMA_TRY(soma_args_int(&c->args, "epochs", &epochs));
    SOMA_TRY(soma_args_int(&c->args, "batch", &batch));
    SOMA_TRY(soma_args_int(&c->args, "fisher-samples", &fs));
    SOMA_TRY(soma_args_float(&c->args, "lr", &lr));
    SOMA_TRY(soma_args_float(&c->args, "momentum", &mom));
    SOMA_TRY(soma_args_float(&c->args, "penalty-lr", &plr));
    SOMA_TRY(soma_args_float(&c->args, "penalty-momentum", &pmom));
    const int validate = soma_args_flag(&c->args, "validate");
    const int joint_sampled = strcmp(soma_args_str(&c->args, "joint"), "sampled") == 0;
    SOMA_TRY(soma_args_float(&c->args, "ewc-lambda", &lam));
    SOMA_TRY(soma_args_float(&c->args, "online-lambda", &olam));
    SOMA_TRY(soma_args_float(&c->args, "ewc-gamma", &gam));
    SOMA_TRY(soma_args_float(&c->args, "si-c", &sic));
    SOMA_TRY(soma_args_float(&c->args, "si-xi", &sixi));
    const int reset = strcmp(soma_args_str(&c->args, "reset-optim"), "on") == 0;
    const soma_fisher_kind fk =
        strcmp(soma_args_str(&c->args, "fisher"), "empirical") == 0 ? SOMA_FISHER_EMPIRICAL : SOMA_FISHER_TRUE;
    SOMA_TRY(soma_args_double(&c->args, "buffer", &buf));
    SOMA_TRY(soma__cl_methods(NULL, soma_args_str(&c->args, "methods"), on));
    char net[600];
    snprintf(net, sizeof net, "%s,fc10", soma_args_str(&c->args, "hidden"));
    soma_task_stream *s;
    SOMA_TRY(soma__cl_fmnist_stream(T, SOMA_CL_DOMAIN, soma_args_str(&c->args, "fmnist-dir"), ntr, nte, c->seed, validate,
                                    &s));
    soma_cl_result res[SOMA_CL_METHOD_COUNT];
    memset(res, 0, sizeof res);
    const soma_cl_result *done[SOMA_CL_METHOD_COUNT];
    const char *names[SOMA_CL_METHOD_COUNT];
    soma_cl_opts opts[SOMA_CL_METHOD_COUNT];
    soma__cl_setup setup[SOMA_CL_METHOD_COUNT];
    int cap, k = 0;
    SOMA_TRY(soma_args_int(&c->args, "cls-capacity", &cap));
    for (int m = 0; m < SOMA_CL_METHOD_COUNT; m++) {
        soma_cl_opts o = soma_cl_opts_default();
        o.method = (soma_cl_method_kind)m;
        o.ewc_lambda = m == SOMA_CL_ONLINE_EWC ? olam : lam;
        o.ewc_gamma = gam;
        o.fisher_samples = fs;
        o.si_c = sic;
        o.si_xi = sixi;
        o.fisher = fk;
        o.reset_optim = reset;
        o.penalty_decoupled = strcmp(soma_args_str(&c->args, "penalty"), "decoupled") == 0;
        o.buffer_frac = buf;
        o.seed = c->seed;
        o.joint_sampled = joint_sampled;
        o.gen_hidden = soma_args_str(&c->args, "gen-hidden");
        SOMA_TRY(soma_args_int(&c->args, "gen-latent", &o.gen_latent));
        SOMA_TRY(soma_args_int(&c->args, "gen-iters", &o.gen_iters));
        o.cls_capacity = cap;
        opts[m] = o;
        /* every method starts from the same net (seed) and sees the same batches */
        soma__cl_setup u = {.net = net, .rule = "bp", .optim = soma_args_str(&c->args, "optim"), .lr = lr,
                            .epochs = epochs, .batch = batch, .seed = c->seed, .quiet = c->quiet, .momentum = mom};
        if (m == SOMA_CL_EWC || m == SOMA_CL_ONLINE_EWC || m == SOMA_CL_SI) { /* the penalty methods' own optimizer */
            u.optim = soma_args_str(&c->args, "penalty-optim");
            u.lr = plr;
            u.momentum = pmom;
        }
        setup[m] = u;
    }
    /* The methods are independent runs (each from the same seed, on its own net): with T
     * threads, up to T of them run at once, one thread each, the costliest first (joint
     * training's O(T^2) steps, then the methods with a second network or a Fisher). Each
     * method's numbers are those of a run alone; only the order of the progress lines changes. */
    static const soma_cl_method_kind by_cost[SOMA_CL_METHOD_COUNT] = {
        SOMA_CL_JOINT, SOMA_CL_GEN_REPLAY, SOMA_CL_EWC, SOMA_CL_ONLINE_EWC, SOMA_CL_REPLAY,
        SOMA_CL_CLS,   SOMA_CL_LWF,        SOMA_CL_SI,  SOMA_CL_FINETUNE};
    int todo[SOMA_CL_METHOD_COUNT], n_todo = 0;
    for (int i = 0; i < SOMA_CL_METHOD_COUNT; i++)
        if (on[by_cost[i]]) todo[n_todo++] = by_cost[i];
    soma_status sts[SOMA_CL_METHOD_COUNT];
    char msgs[SOMA_CL_METHOD_COUNT][256];
    int par = soma_get_threads();
    if (par > n_todo) par = n_todo;
#pragma omp parallel for schedule(dynamic, 1) num_threads(par) if (par > 1)
    for (int i = 0; i < n_todo; i++) {
        const int m = todo[i];
        sts[m] = soma__cl_run_one(s, &setup[m], &opts[m], &res[m]);
        snprintf(msgs[m], sizeof msgs[m], "%s", sts[m] == SOMA_OK ? "" : soma_errmsg());
        if (sts[m] == SOMA_OK) soma__cl_print_progress(soma_cl_method_name((soma_cl_method_kind)m), &res[m], c->quiet);
    }
    soma_status st = SOMA_OK;
    for (int m = 0; m < SOMA_CL_METHOD_COUNT && st == SOMA_OK; m++) {
        if (!on[m]) continue;
        if (sts[m] != SOMA_OK) {
            st = soma_error(sts[m], "%s", msgs[m]);
            break;
        }
        cJSON *mo = cJSON_AddObjectToObject(c->ours, soma_cl_method_name((soma_cl_method_kind)m));
        soma__cl_put_result(mo, &res[m]);
        char key[64];
        snprintf(key, sizeof key, "%s_acc", soma_cl_method_name((soma_cl_method_kind)m));
        soma_exp_put(c, key, res[m].metrics.acc);
        done[k] = &res[m];
        names[k++] = soma_cl_method_name((soma_cl_method_kind)m);
    }
    /* the bar: fine-tuning clearly below the four methods it names */
    static const soma_cl_method_kind named[] = {SOMA_CL_EWC, SOMA_CL_SI, SOMA_CL_REPLAY, SOMA_CL_JOINT};
    double gap = INFINITY;
    for (size_t i = 0; i < sizeof named / sizeof *named; i++)
        if (on[named[i]]) gap = fmin(gap, res[named[i]].metrics.acc - res[SOMA_CL_FINETUNE].metrics.acc);
    if (st == SOMA_OK && on[SOMA_CL_FINETUNE] && isfinite(gap)) soma_exp_put(c, "finetune_gap", gap);
    if (st == SOMA_OK) {
        soma_exp_put(c, "tasks", T);
        soma_exp_put(c, "n_train_per_task", s->train[0]->n);
        soma_exp_put(c, "n_test_per_task", s->test[0]->n);
        soma_exp_put(c, "validation", validate);
        char path[2048], title[160];
        snprintf(title, sizeof title, "Permuted Fashion-MNIST, %d tasks: accuracy on each task through the sequence", T);
        st = soma__cl_figure(soma_exp_path(c, "accuracy.svg", path, sizeof path), title, done, names, k);
        int w = 0;
        w += snprintf(c->headline + w, sizeof c->headline - (size_t)w, "average accuracy after %d tasks:", T);
        for (int i = 0; i < k && w < (int)sizeof c->headline - 40; i++)
            w += snprintf(c->headline + w, sizeof c->headline - (size_t)w, " %s %.3f", names[i], done[i]->metrics.acc);
    }
    for (int m = 0; m < SOMA_CL_METHOD_COUNT; m++) soma_cl_result_free(&res[m]);
    soma_task_stream_free(s);
    return st;
}

const soma_experiment soma__exp_permuted_fmnist = {
    .name = "permuted-fmnist",
    .summary = "catastrophic forgetting over 10 permuted Fashion-MNIST tasks: every continual-learning method",
    .landmarks = landmarks_,
    .opts = opts_,
    .reduced_args = reduced_,
    .run = run_,
    .check = check_,
};
