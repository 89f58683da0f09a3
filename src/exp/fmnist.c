// mlp-fmnist and lenet-fmnist: supervised networks on Fashion-MNIST.
#include <cjson/cJSON.h>
#include <math.h>

#include "exp/internal.h"

#define FMNIST_BENCHMARK "https://github.com/zalandoresearch/fashion-mnist#benchmark"

/* A small run for tests: 1 epoch on 2000 training samples. */
static const char *const reduced_[] = {"--n-train", "2000", "--n-test", "1000", "--epochs", "1", NULL};

static soma_status run_classify_(soma_exp_ctx *c) {
    soma_classify_config cfg = soma_classify_defaults();
    SOMA_TRY(soma_classify_from_args(&c->args, &cfg));
    cfg.seed = c->seed;
    cfg.quiet = c->quiet;
    cfg.out_dir = c->out_dir;
    cfg.label = c->exp->name;
    cfg.landmark = (float)c->exp->landmarks[0].value;
    cfg.landmark_label = "landmark";
    return soma_classify_run(&cfg, c->ours);
}

static const soma_opt mlp_opts_[] = {
    SOMA_CLASSIFY_OPTS("fmnist", "fc512,relu,dropout0.2,fc256,relu,dropout0.2,fc10", "20", "0.001", "cosine",
                       "adam", "0"),
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark mlp_landmarks_[] = {
    {"test accuracy of an MLP 256-128-100 on Fashion-MNIST",
     "Fashion-MNIST benchmark table (Xiao, Rasul & Vollgraf 2017)", FMNIST_BENCHMARK, "test_accuracy",
     SOMA_EXP_AT_LEAST, 0.8833},
    {NULL, NULL, NULL, NULL, 0, 0},
};

const soma_experiment soma__exp_mlp_fmnist = {
    "mlp-fmnist",
    "A 784-512-256-10 multilayer perceptron trained by backprop on Fashion-MNIST.",
    mlp_landmarks_,
    mlp_opts_,
    reduced_,
    run_classify_,
    NULL, /* no check beyond the typed options */
};

static const soma_opt lenet_opts_[] = {
    SOMA_CLASSIFY_OPTS("fmnist", "conv5x5x6p2,relu,maxpool2,conv5x5x16,relu,maxpool2,fc120,relu,fc84,relu,fc10",
                       "20", "0.002", "cosine", "adamw", "0.05"),
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark lenet_landmarks_[] = {
    {"test accuracy of a CNN with 2 conv+pooling layers (PyTorch) on Fashion-MNIST",
     "Fashion-MNIST benchmark table (Xiao, Rasul & Vollgraf 2017)", FMNIST_BENCHMARK, "test_accuracy",
     SOMA_EXP_AT_LEAST, 0.903},
    {NULL, NULL, NULL, NULL, 0, 0},
};

const soma_experiment soma__exp_lenet_fmnist = {
    "lenet-fmnist",
    "A LeNet-5-style CNN (LeCun et al. 1998) on Fashion-MNIST; its first-layer filters are the "
    "model's 'simple cells'.",
    lenet_landmarks_,
    lenet_opts_,
    reduced_,
    run_classify_,
    NULL, /* no check beyond the typed options */
};
