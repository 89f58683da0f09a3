// mlp-fmnist and lenet-fmnist: supervised networks on Fashion-MNIST.
#include <cjson/cJSON.h>
#include <math.h>

#include "exp/internal.h"

#define CLASSIFY_OPTS(NET, EPOCHS, LR, SCHED, OPTIM, WD)                                             \
    {"data", "fmnist", "data set: fmnist | idx:IMAGES,LABELS | npy:X,Y"},                   \
    {"fmnist-dir", "", "Fashion-MNIST folder (default $SOMA_FMNIST_DIR or Debian's)"},      \
    {"net", NET, "network spec"},                                                           \
    {"epochs", EPOCHS, "passes over the training set"},                                     \
    {"batch", "64", "mini-batch size"},                                                     \
    {"lr", LR, "learning rate"},                                                            \
    {"lr-min", "0", "final learning rate of the cosine schedule"},                          \
    {"sched", SCHED, "learning-rate schedule: constant | step | cosine"},                   \
    {"optim", OPTIM, "optimizer: sgd | adam | adamw"},                                      \
    {"weight-decay", WD, "weight decay"},                                                   \
    {"n-train", "0", "use only the first N training samples (0: all)"},                     \
    {"n-test", "0", "use only the first N test samples (0: all)"}

static soma_status run_classify_(soma_exp_ctx *c) {
    soma_classify_config cfg;
    SOMA_TRY(soma__classify_from_opts(c, &cfg));
    SOMA_TRY(soma_classify_run(&cfg, c->ours));
    cJSON *acc = cJSON_GetObjectItemCaseSensitive(c->ours, "test_accuracy");
    if (cJSON_IsNumber(acc)) c->pass = acc->valuedouble >= c->exp->landmark;
    return SOMA_OK;
}

static const soma_exp_opt mlp_opts_[] = {
    CLASSIFY_OPTS("fc512,relu,dropout0.2,fc256,relu,dropout0.2,fc10", "20", "0.001", "cosine", "adam", "0"),
    {NULL, NULL, NULL},
};

const soma_experiment soma__exp_mlp_fmnist = {
    "mlp-fmnist",
    "A 784-512-256-10 multilayer perceptron trained by backprop on Fashion-MNIST.",
    "Xiao, Rasul & Vollgraf 2017 (Fashion-MNIST benchmark: MLP 256-128-100)",
    "test accuracy",
    0.8833,
    "test_accuracy",
    mlp_opts_,
    run_classify_,
};

static const soma_exp_opt lenet_opts_[] = {
    CLASSIFY_OPTS("conv5x5x6p2,relu,maxpool2,conv5x5x16,relu,maxpool2,fc120,relu,fc84,relu,fc10", "20",
                  "0.002", "cosine", "adamw", "0.05"),
    {NULL, NULL, NULL},
};

const soma_experiment soma__exp_lenet_fmnist = {
    "lenet-fmnist",
    "A LeNet-5-style CNN (LeCun et al. 1998) on Fashion-MNIST; its first-layer filters are the "
    "model's 'simple cells'.",
    "LeCun et al. 1998 (LeNet-5); Xiao et al. 2017 benchmark: 2 Conv+pooling (PyTorch)",
    "test accuracy",
    0.903,
    "test_accuracy",
    lenet_opts_,
    run_classify_,
};
