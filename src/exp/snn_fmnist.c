// snn-fmnist: a spiking network of leaky integrate-and-fire layers (src/snn/layer_lif.c) trained
// by surrogate gradients through time on Fashion-MNIST (Neftci, Mostafa & Zenke 2019; the
// fast-sigmoid surrogate of SuperSpike, Zenke & Ganguli 2018).
//
// The net is ENCODER,BODY: the encoder from --coding and --T (rateT: Bernoulli spikes with
// P = pixel intensity at each of T steps; latencyT: one spike per pixel, brighter earlier;
// direct: repeatT, the analog image at every step), the body from --net. The default body,
// "lif256,fc10,tmean", is a fully connected SNN 784-256-10: 256 LIF neurons (fc then lif), and a
// read-out that is the mean over time of the output layer's currents (a non-leaky integrator of
// its input, divided by T), whose softmax the cross-entropy trains. The training loop is
// soma_train's (progress lines, learning curves, results.json), via soma_classify_run.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/internal.h"
#include "soma/snn.h"

#define SNN_DEFAULT_BODY "lif256,fc10,tmean"

static const char *const reduced_[] = {"--n-train", "2000", "--n-test", "1000", "--epochs", "1", NULL};

static const soma_opt opts_[] = {
    {"net", SOMA_OPT_STR, SNN_DEFAULT_BODY, 0, 0, NULL,
     "the layers after the encoder, e.g. \"lif256,fc10,tmean\" (lifN: fcN then LIF neurons; see soma train --help)", 0},
    {"coding", SOMA_OPT_ENUM, "rate", 0, 0, "rate|latency|direct",
     "input coding: Bernoulli rate, time to first spike, or direct (the image at every step)", 0},
    {"steps", SOMA_OPT_INT, "8", 1, 1000, NULL, "time steps T", 0},
    {"fmnist-dir", SOMA_OPT_STR, NULL, 0, 0, NULL, "Fashion-MNIST folder (default $SOMA_FMNIST_DIR, else Debian's)", 0},
    {"epochs", SOMA_OPT_INT, "10", 1, 100000, NULL, "passes over the training set", 1},
    {"batch", SOMA_OPT_INT, "64", 1, 65536, NULL, "mini-batch size", 0},
    {"lr", SOMA_OPT_FLOAT, "0.002", 1e-9, 10, NULL, "learning rate", 0},
    {"lr-min", SOMA_OPT_FLOAT, "0", 0, 10, NULL, "final learning rate of the cosine schedule", 0},
    {"sched", SOMA_OPT_ENUM, "cosine", 0, 0, "constant|step|cosine", "learning-rate schedule", 0},
    {"optim", SOMA_OPT_ENUM, "adam", 0, 0, "sgd|adam|adamw", "optimizer", 0},
    {"weight-decay", SOMA_OPT_FLOAT, "0", 0, 10, NULL, "weight decay", 0},
    {"n-train", SOMA_OPT_INT, "0", 0, 1 << 30, NULL, "use only the first N training samples (0: all)", 1},
    {"n-test", SOMA_OPT_INT, "0", 0, 1 << 30, NULL, "use only the first N test samples (0: all)", 1},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark landmarks_[] = {
    {"test accuracy of a fully connected SNN (784-400-400-10, 5 time steps) trained by TSSL-BP on Fashion-MNIST",
     "Zhang & Li 2020, Temporal spike sequence learning via backpropagation for deep spiking neural networks, "
     "NeurIPS 33",
     "https://arxiv.org/abs/2002.10085", "test_accuracy", SOMA_EXP_AT_LEAST, 0.8980},
    {"test accuracy of a convolutional SNN of PLIF neurons (8 time steps, GPU) on Fashion-MNIST",
     "Fang, Yu, Chen, Masquelier, Huang & Tian 2021, Incorporating learnable membrane time constant to enhance "
     "learning of spiking neural networks, ICCV",
     "https://doi.org/10.1109/ICCV48922.2021.00266", "test_accuracy", SOMA_EXP_AT_LEAST, 0.9438},
    {NULL, NULL, NULL, NULL, 0, 0},
};

static soma_status run_(soma_exp_ctx *c) {
    SOMA_TRY(soma_snn_register_layers());
    soma_classify_config cfg = soma_classify_defaults();
    SOMA_TRY(soma_classify_from_args(&c->args, &cfg));
    const char *coding = soma_args_str(&c->args, "coding");
    int T = 8;
    SOMA_TRY(soma_args_int(&c->args, "steps", &T));
    const char *enc = !strcmp(coding, "rate") ? "rate" : !strcmp(coding, "latency") ? "latency" : "repeat";
    char spec[1024];
    int len = snprintf(spec, sizeof spec, "%s%d,%s", enc, T, cfg.net);
    if (len < 0 || (size_t)len >= sizeof spec)
        return soma_error(SOMA_ERR_ARG, "run snn-fmnist: --net is too long (%zu characters)", strlen(cfg.net));
    cfg.data = "fmnist";
    cfg.net = spec;
    cfg.seed = c->seed;
    cfg.quiet = c->quiet;
    cfg.out_dir = c->out_dir;
    cfg.label = c->exp->name;
    cfg.landmark = (float)c->exp->landmarks[0].value;
    cfg.landmark_label = "TSSL-BP FC SNN";
    SOMA_TRY(soma_classify_run(&cfg, c->ours));
    cJSON_AddStringToObject(c->ours, "coding", coding);
    cJSON_AddNumberToObject(c->ours, "time_steps", T);
    const cJSON *acc = cJSON_GetObjectItemCaseSensitive(c->ours, "test_accuracy");
    snprintf(c->headline, sizeof c->headline, "snn-fmnist: %.900s: test accuracy %.2f%% (%s coding, T = %d)",
             spec, cJSON_IsNumber(acc) ? 100.0 * acc->valuedouble : NAN, coding, T);
    return SOMA_OK;
}

const soma_experiment soma__exp_snn_fmnist = {
    "snn-fmnist",
    "A spiking network of LIF neurons trained by surrogate gradients through time (SuperSpike's fast "
    "sigmoid) on rate-coded Fashion-MNIST.",
    landmarks_,
    opts_,
    reduced_,
    run_,
};
