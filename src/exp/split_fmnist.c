// split-fmnist: the three scenarios of continual learning (van de Ven, Siegelmann & Tolias 2020)
// on Fashion-MNIST split into 5 tasks of 2 classes: task-incremental (the task is known: one
// head of 2 outputs a task), domain-incremental (one shared head of 2) and class-incremental
// (one head over every class seen so far). Every method runs in every scenario from the same
// initial net on the same batches; per scenario a figure of every task's accuracy through the
// sequence per method, and the metrics beside the published split-MNIST numbers.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/cl_common.h"
#include "exp/internal.h"
#include "soma/learn.h"

static const soma_opt opts_[] = {
    {"scenarios", SOMA_OPT_STR, "task,domain,class", 0, 0, NULL, "scenarios to run, comma-separated", 1},
    {"methods", SOMA_OPT_STR, "all", 0, 0, NULL, "methods to run, comma-separated, or all", 1},
    {"n-train", SOMA_OPT_INT, "0", 0, 12000, NULL, "training samples a task, about (0: all, 12000)", 1},
    {"n-test", SOMA_OPT_INT, "0", 0, 2000, NULL, "test samples a task, about (0: all, 2000)", 1},
    {"hidden", SOMA_OPT_STR, "fc400,relu,fc400,relu", 0, 0, NULL, "hidden layers (the head fcK is appended)", 1},
    {"epochs", SOMA_OPT_INT, "2", 1, 1000, NULL, "epochs a task", 1},
    {"batch", SOMA_OPT_INT, "128", 1, 65536, NULL, "mini-batch", 0},
    {"optim", SOMA_OPT_ENUM, "adam", 0, 0, "sgd|adam|adamw", "optimizer", 0},
    {"lr", SOMA_OPT_FLOAT, "0.001", 1e-7, 1, NULL, "learning rate", 0},
    {"momentum", SOMA_OPT_FLOAT, "0", 0, 0.999, NULL, "SGD's momentum", 0},
    {"ewc-lambda", SOMA_OPT_FLOAT, "10000", 0, 1e12, NULL, "EWC's lambda", 0},
    {"online-lambda", SOMA_OPT_FLOAT, "10000", 0, 1e12, NULL, "online EWC's lambda", 0},
    {"ewc-gamma", SOMA_OPT_FLOAT, "1", 0, 1, NULL, "online EWC's decay", 0},
    {"fisher-samples", SOMA_OPT_INT, "500", 1, 60000, NULL, "samples a task for the Fisher (per sample)", 0},
    {"si-c", SOMA_OPT_FLOAT, "1", 0, 1e12, NULL, "SI's c", 0},
    {"buffer", SOMA_OPT_FLOAT, "0.01", 1e-5, 1, NULL, "replay buffer as a fraction of the stream's training data", 0},
    {"gen-hidden", SOMA_OPT_STR, "fc400,relu,fc400,relu", 0, 0, NULL, "generative replay: the VAE's hidden layers", 0},
    {"gen-latent", SOMA_OPT_INT, "32", 1, 4096, NULL, "generative replay: the VAE's latent size", 0},
    {"gen-iters", SOMA_OPT_INT, "2", 1, 100, NULL, "generative replay: VAE steps a training step", 0},
    {"validate", SOMA_OPT_FLAG, NULL, 0, 0, NULL,
     "evaluate on the last sixth of the training images (held out) instead of the test set (to choose settings)", 1},
    {"fmnist-dir", SOMA_OPT_STR, NULL, 0, 0, NULL, "Fashion-MNIST folder", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

#define VDV_ "van de Ven, Siegelmann & Tolias 2020 (split MNIST)"
#define VDV_DOI_ "https://doi.org/10.1038/s41467-020-17866-2"

/* The published numbers are split MNIST's; the bars are issue 10's for split Fashion-MNIST. */
static const soma_exp_landmark landmarks_[] = {
    {"class-incremental fine-tuning forgets all but the last task: average accuracy near 0.2 (published 19.9%)",
     VDV_, VDV_DOI_, "class_finetune_acc", SOMA_EXP_AT_MOST, 0.25},
    {"class-incremental EWC does not help: near 0.2 (published 20.0%)", VDV_, VDV_DOI_, "class_ewc_acc",
     SOMA_EXP_AT_MOST, 0.25},
    {"class-incremental SI does not help: near 0.2 (published 20.0%)", VDV_, VDV_DOI_, "class_si_acc",
     SOMA_EXP_AT_MOST, 0.25},
    {"class-incremental experience replay, buffer of 1% of the data, average accuracy (issue 10's bar)", VDV_, VDV_DOI_,
     "class_replay_acc", SOMA_EXP_AT_LEAST, 0.60},
    {"class-incremental generative replay, average accuracy (published 90.8% on split MNIST; issue 10's bar 0.60)", VDV_,
     VDV_DOI_, "class_generative_replay_acc", SOMA_EXP_AT_LEAST, 0.60},
    {"class-incremental complementary learning systems, average accuracy (issue 10's bar)",
     "McClelland, McNaughton & O'Reilly 1995", "https://doi.org/10.1037/0033-295X.102.3.419", "class_cls_acc",
     SOMA_EXP_AT_LEAST, 0.60},
    {"class-incremental LwF barely helps: near 0.2 (published 23.9%)", VDV_, VDV_DOI_, "class_lwf_acc", SOMA_EXP_AT_MOST,
     0.30},
    {"task-incremental EWC, average accuracy (published 98.6%; issue 10's bar)", VDV_, VDV_DOI_, "task_ewc_acc",
     SOMA_EXP_AT_LEAST, 0.95},
    {"task-incremental SI, average accuracy (published 99.1%; issue 10's bar)", VDV_, VDV_DOI_, "task_si_acc",
     SOMA_EXP_AT_LEAST, 0.95},
    {"task-incremental fine-tuning, average accuracy (published 87.2%; the lower bound: at least 0.8)", VDV_, VDV_DOI_,
     "task_finetune_acc", SOMA_EXP_AT_LEAST, 0.80},
    {NULL, NULL, NULL, NULL, 0, 0},
};

/* Reduced: about 300 samples a task, a small net, every method; a few seconds for all three
 * scenarios. */
static const char *const reduced_[] = {"--n-train", "300", "--n-test", "200", "--hidden", "fc32,relu", "--epochs", "3",
                                       "--batch", "32", "--lr", "0.003", "--buffer", "0.05", "--fisher-samples", "100",
                                       "--gen-hidden", "fc64,relu", "--gen-latent", "8", "--gen-iters", "1", NULL};

/* The scenarios named in a comma-separated list (each once). */
static soma_status scenarios_(const char *list, int *on) {
    char buf[64];
    memset(on, 0, SOMA_CL_SCENARIO_COUNT * sizeof(int));
    if (!list || strlen(list) >= sizeof buf) return soma_error(SOMA_ERR_ARG, "--scenarios missing or too long");
    strcpy(buf, list);
    int n = 0;
    for (char *p = buf, *q; p; p = q) {
        q = strchr(p, ',');
        if (q) *q++ = '\0';
        int k = -1;
        for (int i = 0; i < SOMA_CL_SCENARIO_COUNT; i++)
            if (strcmp(p, soma_cl_scenario_name((soma_cl_scenario)i)) == 0) k = i;
        if (k < 0) return soma_error(SOMA_ERR_ARG, "--scenarios: unknown scenario '%s' (task, domain, class)", p);
        if (on[k]) return soma_error(SOMA_ERR_ARG, "--scenarios names %s twice", p);
        on[k] = 1;
        n++;
    }
    return n ? SOMA_OK : soma_error(SOMA_ERR_ARG, "--scenarios is empty");
}

static soma_status check_(const soma_exp_ctx *c) {
    int on[SOMA_CL_METHOD_COUNT], sc[SOMA_CL_SCENARIO_COUNT];
    SOMA_TRY(soma__cl_methods(NULL, soma_args_str(&c->args, "methods"), on));
    SOMA_TRY(scenarios_(soma_args_str(&c->args, "scenarios"), sc));
    const char *h = soma_args_str(&c->args, "hidden");
    if (!h || !h[0]) return soma_error(SOMA_ERR_ARG, "--hidden is empty");
    return SOMA_OK;
}

static soma_status run_(soma_exp_ctx *c) {
    int ntr, nte, epochs, batch, fs, on[SOMA_CL_METHOD_COUNT], sc_on[SOMA_CL_SCENARIO_COUNT];
    float lr, mom, lam, olam, gam, sic;
    double buf;
    SOMA_TRY(soma_args_int(&c->args, "n-train", &ntr));
    SOMA_TRY(soma_args_int(&c->args, "n-test", &nte));
    SOMA_TRY(soma_args_int(&c->args, "epochs", &epochs));
    SOMA_TRY(soma_args_int(&c->args, "batch", &batch));
    SOMA_TRY(soma_args_int(&c->args, "fisher-samples", &fs));
    SOMA_TRY(soma_args_float(&c->args, "lr", &lr));
    SOMA_TRY(soma_args_float(&c->args, "momentum", &mom));
    SOMA_TRY(soma_args_float(&c->args, "ewc-lambda", &lam));
    SOMA_TRY(soma_args_float(&c->args, "online-lambda", &olam));
    SOMA_TRY(soma_args_float(&c->args, "ewc-gamma", &gam));
    SOMA_TRY(soma_args_float(&c->args, "si-c", &sic));
    SOMA_TRY(soma_args_double(&c->args, "buffer", &buf));
    SOMA_TRY(soma__cl_methods(NULL, soma_args_str(&c->args, "methods"), on));
    SOMA_TRY(scenarios_(soma_args_str(&c->args, "scenarios"), sc_on));
    const int validate = soma_args_flag(&c->args, "validate");
    const char *hidden = soma_args_str(&c->args, "hidden"), *optim = soma_args_str(&c->args, "optim");
    soma_status st = SOMA_OK;
    int w = 0;
    for (int sc = 0; sc < SOMA_CL_SCENARIO_COUNT && st == SOMA_OK; sc++) {
        if (!sc_on[sc]) continue;
        const char *scn = soma_cl_scenario_name((soma_cl_scenario)sc);
        soma_task_stream *s;
        SOMA_TRY(soma__cl_fmnist_stream(0, (soma_cl_scenario)sc, soma_args_str(&c->args, "fmnist-dir"), ntr, nte, c->seed,
                                        validate, &s));
        char net[600];
        snprintf(net, sizeof net, "%s,fc%d", hidden, s->n_outputs);
        cJSON *so = cJSON_AddObjectToObject(c->ours, scn);
        soma_cl_result res[SOMA_CL_METHOD_COUNT];
        memset(res, 0, sizeof res);
        const soma_cl_result *done[SOMA_CL_METHOD_COUNT];
        const char *names[SOMA_CL_METHOD_COUNT];
        int k = 0;
        for (int m = 0; m < SOMA_CL_METHOD_COUNT && st == SOMA_OK; m++) {
            if (!on[m]) continue;
            soma_cl_opts o = soma_cl_opts_default();
            o.method = (soma_cl_method_kind)m;
            o.ewc_lambda = m == SOMA_CL_ONLINE_EWC ? olam : lam;
            o.ewc_gamma = gam;
            o.fisher_samples = fs;
            o.si_c = sic;
            o.buffer_frac = buf;
            o.gen_hidden = soma_args_str(&c->args, "gen-hidden");
            SOMA_TRY(soma_args_int(&c->args, "gen-latent", &o.gen_latent));
            SOMA_TRY(soma_args_int(&c->args, "gen-iters", &o.gen_iters));
            o.seed = c->seed;
            /* every method starts from the same net (seed) and sees the same batches */
            soma__cl_setup u = {.net = net, .rule = "bp", .optim = optim, .lr = lr, .epochs = epochs, .batch = batch, .seed = c->seed, .quiet = c->quiet, .momentum = mom};
            if ((st = soma__cl_run_one(s, &u, &o, &res[m])) != SOMA_OK) break;
            char label[64], key[96];
            snprintf(label, sizeof label, "%s, %s-incremental", soma_cl_method_name(o.method), scn);
            soma__cl_print_progress(label, &res[m], c->quiet);
            soma__cl_put_result(cJSON_AddObjectToObject(so, soma_cl_method_name(o.method)), &res[m]);
            snprintf(key, sizeof key, "%s_%s_acc", scn, soma_cl_method_name(o.method));
            soma_exp_put(c, key, res[m].metrics.acc);
            done[k] = &res[m];
            names[k++] = soma_cl_method_name(o.method);
        }
        if (st == SOMA_OK) {
            char path[2048], file[32], title[160];
            snprintf(file, sizeof file, "%s.svg", scn);
            snprintf(title, sizeof title, "Split Fashion-MNIST, %s-incremental%s: accuracy on each task through the sequence",
                     scn, validate ? " (validation split)" : "");
            st = soma__cl_figure(soma_exp_path(c, file, path, sizeof path), title, done, names, k);
            w += snprintf(c->headline + w, sizeof c->headline - (size_t)w, "%s%s-incremental:", w ? "\n" : "", scn);
            for (int i = 0; i < k && w < (int)sizeof c->headline - 40; i++)
                w += snprintf(c->headline + w, sizeof c->headline - (size_t)w, " %s %.3f", names[i], done[i]->metrics.acc);
        }
        if (st == SOMA_OK && sc == SOMA_CL_SCENARIO_COUNT - 1) {
            soma_exp_put(c, "n_train_per_task", s->train[0]->n);
            soma_exp_put(c, "n_test_per_task", s->test[0]->n);
        }
        for (int m = 0; m < SOMA_CL_METHOD_COUNT; m++) soma_cl_result_free(&res[m]);
        soma_task_stream_free(s);
    }
    if (st == SOMA_OK) soma_exp_put(c, "validation", validate);
    return st;
}

const soma_experiment soma__exp_split_fmnist = {
    .name = "split-fmnist",
    .summary = "the three continual-learning scenarios (task, domain, class) on 5 two-class Fashion-MNIST tasks, every method",
    .landmarks = landmarks_,
    .opts = opts_,
    .reduced_args = reduced_,
    .run = run_,
    .check = check_,
};
