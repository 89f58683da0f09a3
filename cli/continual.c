// soma continual --stream S --method M: trains a network on a task stream with one
// continual-learning method and writes the accuracy matrix, the metrics and the method's memory
// as JSON (stdout, and DIR/results.json with --out DIR) and a figure of every task's accuracy
// through the sequence (DIR/accuracy.svg).
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "exp/cl_common.h"
#include "soma/exp.h"
#include "soma/io.h"
#include "soma/learn.h"
#include "soma/soma.h"


static const soma_opt opts_[] = {
    {"stream", SOMA_OPT_STR, NULL, 0, 0, NULL,
     "tasks: permuted-fmnist[:T] | split-fmnist[:task|domain|class] | npy:X,Y,TASKS[;XT,YT,TT] (required)", 0},
    {"method", SOMA_OPT_ENUM, "finetune", 0, 0, "finetune|joint|ewc|online_ewc|si|replay|lwf|generative_replay|cls", "continual-learning method", 0},
    {"net", SOMA_OPT_STR, NULL, 0, 0, NULL, "network spec (default fc400,relu,fc400,relu,fcK; K the stream's outputs)", 0},
    {"rule", SOMA_OPT_ENUM, "bp", 0, 0, "bp|fa|dfa|pc|ff|hebb", "learning rule", 0},
    {"optim", SOMA_OPT_ENUM, "adam", 0, 0, "sgd|adam|adamw", "optimizer", 0},
    {"epochs", SOMA_OPT_INT, "1", 1, 100000, NULL, "epochs a task", 0},
    {"lr", SOMA_OPT_FLOAT, "0.001", 1e-8, 10, NULL, "learning rate", 0},
    {"batch", SOMA_OPT_INT, "128", 1, 65536, NULL, "mini-batch", 0},
    {"n-train", SOMA_OPT_INT, "0", 0, 1 << 30, NULL, "training samples a task (0: all)", 0},
    {"n-test", SOMA_OPT_INT, "0", 0, 1 << 30, NULL, "test samples a task (0: all)", 0},
    {"ewc-lambda", SOMA_OPT_FLOAT, "100", 0, 1e12, NULL, "EWC's penalty strength lambda", 0},
    {"ewc-gamma", SOMA_OPT_FLOAT, "1", 0, 1, NULL, "online EWC's decay of the old Fisher", 0},
    {"fisher", SOMA_OPT_ENUM, "true", 0, 0, "true|empirical", "Fisher: labels drawn from the model, or the data's", 0},
    {"fisher-samples", SOMA_OPT_INT, "500", 0, 1 << 30, NULL, "samples a task for the Fisher (0: all)", 0},
    {"fisher-batch", SOMA_OPT_INT, "1", 1, 65536, NULL, "samples a gradient for the Fisher (1: per sample)", 0},
    {"si-c", SOMA_OPT_FLOAT, "0.1", 0, 1e12, NULL, "synaptic intelligence's penalty strength c", 0},
    {"si-xi", SOMA_OPT_FLOAT, "0.001", 1e-12, 1e6, NULL, "synaptic intelligence's damping xi", 0},
    {"penalty", SOMA_OPT_ENUM, "coupled", 0, 0, "coupled|decoupled",
     "EWC/SI penalty: its gradient through the optimizer, or a proximal step after it", 0},
    {"buffer", SOMA_OPT_STR, "1%", 0, 0, NULL, "replay buffer: N samples, or P% of the stream's training data", 0},
    {"replay-batch", SOMA_OPT_INT, "0", 0, 65536, NULL, "replayed samples a step (0: the batch)", 0},
    {"cls-capacity", SOMA_OPT_INT, "0", 0, 1 << 30, NULL, "cls: episodes the fast store keeps (0: every training sample)", 0},
    {"cls-evict", SOMA_OPT_ENUM, "reservoir", 0, 0, "reservoir|quota", "cls: a full store's policy (quota: capacity/tasks each)", 0},
    {"cls-keys", SOMA_OPT_ENUM, "projection", 0, 0, "projection|input|layer", "cls: the store's keys", 0},
    {"cls-key-dim", SOMA_OPT_INT, "256", 1, 65536, NULL, "cls: the random projection's size", 0},
    {"cls-layer", SOMA_OPT_INT, "1", 0, 1 << 20, NULL, "cls: layer keys are the input of the slow net's layer i", 0},
    {"cls-beta", SOMA_OPT_FLOAT, "50", 1e-6, 1e6, NULL, "cls: the read-out's inverse temperature on cosine similarity", 0},
    {"cls-knn", SOMA_OPT_INT, "0", 0, 1024, NULL, "cls: k-nearest-neighbour vote (0: attention)", 0},
    {"cls-answer", SOMA_OPT_ENUM, "system", 0, 0, "system|slow|store", "cls: whose answer is measured", 0},
    {"cls-confidence", SOMA_OPT_FLOAT, "0.5", 0, 1, NULL, "cls: the store answers when its top class has this share", 0},
    {"cls-sleep-every", SOMA_OPT_INT, "0", -1, 1 << 30, NULL, "cls: sleep after each task (0), every k steps, never (-1)", 0},
    {"cls-sleep-steps", SOMA_OPT_INT, "0", 0, 1 << 30, NULL, "cls: steps of one sleep (0: one wake epoch's worth)", 0},
    {"cls-sleep-batch", SOMA_OPT_INT, "0", 0, 65536, NULL, "cls: samples a sleep step (0: --batch)", 0},
    {"cls-sleep-lr", SOMA_OPT_FLOAT, "0", 0, 10, NULL, "cls: sleep's SGD learning rate (0: --lr)", 0},
    {"cls-replay", SOMA_OPT_INT, "0", 0, 65536, NULL, "cls: store samples of earlier tasks added to each wake step", 0},
    {"lwf-alpha", SOMA_OPT_FLOAT, "1", 0, 1e6, NULL, "LwF: weight of the distillation term", 0},
    {"lwf-temp", SOMA_OPT_FLOAT, "2", 1e-3, 1e3, NULL, "LwF: distillation temperature", 0},
    {"lwf-balance", SOMA_OPT_FLAG, NULL, 0, 0, NULL, "LwF: distillation weight alpha * (tasks before), van de Ven et al.'s", 0},
    {"gen-latent", SOMA_OPT_INT, "32", 1, 4096, NULL, "generative replay: the VAE's latent size", 0},
    {"gen-hidden", SOMA_OPT_STR, "fc400,relu,fc400,relu", 0, 0, NULL, "generative replay: the VAE's encoder and decoder hidden spec", 0},
    {"gen-lr", SOMA_OPT_FLOAT, "0.001", 1e-8, 10, NULL, "generative replay: the VAE's learning rate", 0},
    {"gen-beta", SOMA_OPT_FLOAT, "1", 0, 1e6, NULL, "generative replay: the VAE's KL weight", 0},
    {"gen-lik", SOMA_OPT_ENUM, "bernoulli", 0, 0, "bernoulli|gaussian|poisson", "generative replay: the VAE's likelihood", 0},
    {"gen-iters", SOMA_OPT_INT, "2", 1, 100, NULL, "generative replay: VAE steps a training step", 0},
    {"gen-targets", SOMA_OPT_ENUM, "soft", 0, 0, "soft|hard", "generative replay: replayed rows' targets (distillation or argmax)", 0},
    {"gen-temp", SOMA_OPT_FLOAT, "2", 1e-3, 1e3, NULL, "generative replay: distillation temperature", 0},
    {"fmnist-dir", SOMA_OPT_STR, NULL, 0, 0, NULL, "Fashion-MNIST folder", 0},
    {"seed", SOMA_OPT_INT, "1", 0, 2147483647, NULL, "seed (net, permutations, buffer, shuffling)", 0},
    {"threads", SOMA_OPT_INT, NULL, 1, 256, NULL, "threads (default: all cores)", 0},
    {"out", SOMA_OPT_STR, NULL, 0, 0, NULL, "also write DIR/results.json and DIR/accuracy.svg", 0},
    {"quiet", SOMA_OPT_FLAG, NULL, 0, 0, NULL, "no progress output", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static int fail_(soma_status st) {
    fprintf(stderr, "soma: %s\n", soma_errmsg()[0] ? soma_errmsg() : soma_status_str(st));
    return soma_status_exit_code(st);
}

static void help_(void) {
    printf("usage: soma continual --stream S --method M [options]\n"
           "Trains a network task after task and measures forgetting: the accuracy matrix R[i][j] (task j\n"
           "after training task i), average accuracy, backward and forward transfer, forgetting, and the\n"
           "memory the method keeps (docs/continual.md).\n\noptions:\n");
    for (const soma_opt *o = opts_; o->key; o++) printf("  --%-16s %s%s%s\n", o->key, o->help, o->def ? "; default " : "",
                                                       o->def ? o->def : "");
}

/* "N" samples or "P%" of the data. */
static soma_status buffer_(const char *s, soma_cl_opts *o) {
    char *end;
    double v = strtod(s, &end);
    if (end != s && strcmp(end, "%") == 0 && v > 0 && v <= 100) {
        o->buffer = 0;
        o->buffer_frac = v / 100.0;
        return SOMA_OK;
    }
    long n;
    SOMA_TRY(soma_parse_long("continual: --buffer (N samples or P%)", s, 1, 1L << 40, &n));
    o->buffer = n;
    return SOMA_OK;
}

/* The --cls-* options into o's CLS block. */
static soma_status cls_opts_(const soma_args *a, soma_cl_opts *o) {
    int cap = 0;
    soma_args_int(a, "cls-capacity", &cap);
    o->cls_capacity = cap;
    SOMA_TRY(soma_cls_evict_parse(soma_args_str(a, "cls-evict"), &o->cls_evict));
    SOMA_TRY(soma_cls_keys_parse(soma_args_str(a, "cls-keys"), &o->cls_keys));
    SOMA_TRY(soma_cls_answer_parse(soma_args_str(a, "cls-answer"), &o->cls_answer));
    soma_args_int(a, "cls-key-dim", &o->cls_key_dim);
    soma_args_int(a, "cls-layer", &o->cls_layer);
    soma_args_float(a, "cls-beta", &o->cls_beta);
    soma_args_int(a, "cls-knn", &o->cls_knn);
    soma_args_float(a, "cls-confidence", &o->cls_confidence);
    soma_args_int(a, "cls-sleep-every", &o->cls_sleep_every);
    soma_args_int(a, "cls-sleep-steps", &o->cls_sleep_steps);
    soma_args_int(a, "cls-sleep-batch", &o->cls_sleep_batch);
    soma_args_float(a, "cls-sleep-lr", &o->cls_sleep_lr);
    soma_args_int(a, "cls-replay", &o->cls_replay);
    return SOMA_OK;
}

int soma_cli_continual(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            help_();
            return 0;
        }
    soma_args a;
    soma_status st = soma_args_parse(&a, "continual", opts_, argc, (const char *const *)argv);
    if (st != SOMA_OK) return fail_(st);
    soma_task_stream *s = NULL;
    soma_cl_result res;
    memset(&res, 0, sizeof res);
    cJSON *root = NULL;
    soma_cl_opts o = soma_cl_opts_default();
    soma_stream_opts so = soma_stream_opts_default();
    soma__cl_setup u = {0};
    int seed = 1, threads = soma_get_threads(), fs = 500, fb = 1, rb = 0;
    const char *stream = soma_args_str(&a, "stream"), *out = soma_args_str(&a, "out");
    if (!stream) {
        st = soma_error(SOMA_ERR_ARG, "continual: --stream is required (see 'soma continual --help')");
        goto done;
    }
    if ((st = soma_cl_method_parse(soma_args_str(&a, "method"), &o.method)) != SOMA_OK) goto done;
    soma_args_float(&a, "ewc-lambda", &o.ewc_lambda);
    soma_args_float(&a, "ewc-gamma", &o.ewc_gamma);
    o.fisher = strcmp(soma_args_str(&a, "fisher"), "true") == 0 ? SOMA_FISHER_TRUE : SOMA_FISHER_EMPIRICAL;
    soma_args_int(&a, "fisher-samples", &fs);
    soma_args_int(&a, "fisher-batch", &fb);
    soma_args_int(&a, "replay-batch", &rb);
    o.fisher_samples = fs;
    o.fisher_batch = fb;
    o.replay_batch = rb;
    soma_args_float(&a, "si-c", &o.si_c);
    soma_args_float(&a, "si-xi", &o.si_xi);
    o.penalty_decoupled = strcmp(soma_args_str(&a, "penalty"), "decoupled") == 0;
    soma_args_float(&a, "lwf-alpha", &o.lwf_alpha);
    soma_args_float(&a, "lwf-temp", &o.lwf_temp);
    o.lwf_balance = soma_args_flag(&a, "lwf-balance");
    { /* generative replay */
        soma_vae_lik lik;
        if ((st = soma_vae_lik_parse(soma_args_str(&a, "gen-lik"), &lik)) != SOMA_OK) goto done;
        o.gen_lik = (int)lik;
        o.gen_hidden = soma_args_str(&a, "gen-hidden");
        o.gen_soft = strcmp(soma_args_str(&a, "gen-targets"), "soft") == 0;
        soma_args_int(&a, "gen-latent", &o.gen_latent);
        soma_args_int(&a, "gen-iters", &o.gen_iters);
        soma_args_float(&a, "gen-lr", &o.gen_lr);
        soma_args_float(&a, "gen-beta", &o.gen_beta);
        soma_args_float(&a, "gen-temp", &o.gen_temp);
    }
    if ((st = buffer_(soma_args_str(&a, "buffer"), &o)) != SOMA_OK) goto done;
    if ((st = cls_opts_(&a, &o)) != SOMA_OK) goto done;
    soma_args_int(&a, "seed", &seed);
    soma_args_int(&a, "threads", &threads);
    soma_set_threads(threads);
    o.seed = (uint64_t)seed;
    so.seed = (uint64_t)seed;
    so.fmnist_dir = soma_args_str(&a, "fmnist-dir");
    soma_args_int(&a, "n-train", &so.n_train);
    soma_args_int(&a, "n-test", &so.n_test);
    u.net = soma_args_str(&a, "net");
    u.rule = soma_args_str(&a, "rule");
    u.optim = soma_args_str(&a, "optim");
    soma_args_float(&a, "lr", &u.lr);
    soma_args_int(&a, "epochs", &u.epochs);
    soma_args_int(&a, "batch", &u.batch);
    u.seed = (uint64_t)seed;
    u.quiet = soma_args_flag(&a, "quiet");
    if ((st = soma_task_stream_load(stream, &so, &s)) != SOMA_OK) goto done;
    if (out && (st = soma_mkdir_p(out)) != SOMA_OK) goto done;
    if ((st = soma__cl_run_one(s, &u, &o, &res)) != SOMA_OK) goto done;
    root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "stream", stream);
    cJSON_AddStringToObject(root, "scenario", soma_cl_scenario_name(s->scenario));
    cJSON_AddStringToObject(root, "method", soma_cl_method_name(o.method));
    cJSON_AddNumberToObject(root, "tasks", s->n_tasks);
    soma__cl_put_result(root, &res);
    cJSON_AddNumberToObject(root, "seed", seed);
    cJSON_AddNumberToObject(root, "threads", soma_get_threads());
    soma_exp_put_provenance(root);
    if (out) {
        char path[4096];
        snprintf(path, sizeof path, "%s/results.json", out);
        if ((st = soma_json_write(path, root)) != SOMA_OK) goto done;
        snprintf(path, sizeof path, "%s/accuracy.svg", out);
        const soma_cl_result *rs[1] = {&res};
        const char *names[1] = {soma_cl_method_name(o.method)};
        char title[160];
        snprintf(title, sizeof title, "%s on %s", names[0], stream);
        if ((st = soma__cl_figure(path, title, rs, names, 1)) != SOMA_OK) goto done;
    }
    char *txt = cJSON_Print(root);
    if (txt) printf("%s\n", txt);
    free(txt);
done:
    cJSON_Delete(root);
    soma_cl_result_free(&res);
    soma_task_stream_free(s);
    soma_args_free(&a);
    return st == SOMA_OK ? 0 : fail_(st);
}
