/* Private to src/exp: the experiments in the registry and the classification options. */
#ifndef SOMA_EXP_INTERNAL_H
#define SOMA_EXP_INTERNAL_H
#include "soma/exp.h"

#define SOMA_EXP(name) extern const soma_experiment soma__exp_##name;
#include "exp/list.h"
#undef SOMA_EXP

/* The learning rule and its options (soma_classify_config.rule ...), part of the classification
 * options below. */
#define SOMA_RULE_FB_OPTS                                                                                       \
    {"fb-scale", SOMA_OPT_FLOAT, "1", 1e-6, 1e6, NULL, "fa, dfa: scale of the fixed random feedback matrices", 0}, \
    {"pc-steps", SOMA_OPT_INT, "20", 1, 100000, NULL, "pc: inference steps a batch", 0},                        \
    {"pc-rate", SOMA_OPT_FLOAT, "0.1", 1e-6, 10, NULL, "pc: inference rate", 0},                                \
    {"pc-fixed-pred", SOMA_OPT_INT, "0", 0, 1, NULL, "pc: 1 = the fixed prediction assumption (settles in fewer steps)", 0}, \
    {"ff-theta", SOMA_OPT_FLOAT, "0", 0, 1e9, NULL, "ff: goodness threshold (0: the layer's number of units)", 0}, \
    {"ff-hard", SOMA_OPT_INT, "0", 0, 1, NULL, "ff: 1 = negatives with the wrong labels of largest goodness", 0}, \
    {"ff-vote-all", SOMA_OPT_INT, "0", 0, 1, NULL, "ff: 1 = classify by the goodness of every layer (0: all but the first)", 0}, \
    {"hebb", SOMA_OPT_ENUM, "gha", 0, 0, "oja|gha|competitive", "hebb: the Hebbian rule of the hidden layers", 0}, \
    {"alignment-every", SOMA_OPT_INT, "0", 0, 1 << 30, NULL,                                                    \
     "every K optimizer steps (and before training) measure the angle between the rule's update and the "     \
     "true gradient on the first 256 training samples (0: never); not counted in train_seconds", 0}
#define SOMA_RULE_OPTS                                                                                          \
    {"rule", SOMA_OPT_ENUM, "bp", 0, 0, "bp|fa|dfa|pc|ff|hebb",                                                 \
     "learning rule: bp (backprop) | fa (feedback alignment) | dfa (direct FA) | pc (predictive coding) | "    \
     "ff (forward-forward) | hebb (Hebbian layers, delta-rule read-out)", 0},                                   \
    SOMA_RULE_FB_OPTS

/* The classification options (one declaration for `soma train` and the classification
 * experiments), with the defaults that differ between them as arguments. */
#define SOMA_CLASSIFY_OPTS(DATA, NET, EPOCHS, LR, SCHED, OPTIM, WD)                                              \
    {"data", SOMA_OPT_STR, DATA, 0, 0, NULL, "data set: fmnist | idx:IMAGES,LABELS[;TEST_IMAGES,TEST_LABELS] | npy:X,Y", 0}, \
    {"fmnist-dir", SOMA_OPT_STR, NULL, 0, 0, NULL, "Fashion-MNIST folder (default $SOMA_FMNIST_DIR, else Debian's)", 0}, \
    {"net", SOMA_OPT_STR, NET, 0, 0, NULL, "network spec, e.g. \"conv5x5x6p2,relu,maxpool2,fc10\"", 0},      \
    {"epochs", SOMA_OPT_INT, EPOCHS, 1, 100000, NULL, "passes over the training set", 1},                     \
    {"batch", SOMA_OPT_INT, "64", 1, 65536, NULL, "mini-batch size", 0},                                      \
    {"lr", SOMA_OPT_FLOAT, LR, 1e-9, 10, NULL, "learning rate", 0},                                          \
    {"lr-min", SOMA_OPT_FLOAT, "0", 0, 10, NULL, "final learning rate of the cosine schedule", 0},            \
    {"sched", SOMA_OPT_ENUM, SCHED, 0, 0, "constant|step|cosine", "learning-rate schedule", 0},               \
    {"step-size", SOMA_OPT_INT, "10", 1, 1000000, NULL, "epochs between decays of the step schedule", 0},     \
    {"gamma", SOMA_OPT_FLOAT, "0.1", 1e-6, 1, NULL, "decay factor of the step schedule", 0},                  \
    {"optim", SOMA_OPT_ENUM, OPTIM, 0, 0, "sgd|adam|adamw", "optimizer", 0},                                  \
    {"momentum", SOMA_OPT_FLOAT, "0.9", 0, 0.9999, NULL, "SGD momentum", 0},                                 \
    {"weight-decay", SOMA_OPT_FLOAT, WD, 0, 10, NULL, "weight decay", 0},                                     \
    {"n-train", SOMA_OPT_INT, "0", 0, 1 << 30, NULL, "use only the first N training samples (0: all)", 1},   \
    {"n-test", SOMA_OPT_INT, "0", 0, 1 << 30, NULL, "use only the first N test samples (0: all)", 1}, \
    SOMA_RULE_OPTS

#endif
