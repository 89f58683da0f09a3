/* soma/learn.h -- learning rules and the training loop.
 *
 * A rule turns one batch of activity into an update signal for every parameter of a network
 * (it fills the parameters' grad fields); an optimizer then applies it. Backprop computes the
 * exact gradient; later rules (feedback alignment, DFA, predictive coding, forward-forward,
 * Hebbian) implement the same vtable and keep their own state (feedback matrices, value nodes)
 * behind impl.
 *
 *     soma_rule *rule;
 *     SOMA_TRY(soma_rule_backprop_new(&rule, SOMA_LOSS_XENT));
 *     soma_train_config cfg = soma_train_defaults();
 *     cfg.epochs = 10;
 *     soma_train_log log = {0};
 *     SOMA_TRY(soma_train_classifier(net, rule, opt, train, test, &cfg, &log));
 *     printf("%.4f\n", log.test_acc[log.epochs - 1]);
 *     soma_train_log_free(&log);
 */
#ifndef SOMA_LEARN_H
#define SOMA_LEARN_H

#include "soma/core.h"
#include "soma/io.h"
#include "soma/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum soma_loss_kind {
    SOMA_LOSS_XENT = 0, /* softmax cross-entropy on integer labels */
    SOMA_LOSS_MSE = 1,  /* mean squared error on float targets */
    SOMA_LOSS_COUNT
} soma_loss_kind;

/* What a batch is trained towards: labels [n] for XENT, values [n, dim] for MSE. */
typedef struct soma_target {
    const int *labels;
    const float *values;
    int dim;
} soma_target;

typedef struct soma_rule soma_rule;
typedef struct soma_rule_ops {
    const char *name;
    /* Zeroes the grads, runs the batch, fills every parameter's grad; *loss = the batch's mean
     * loss, *correct = how many argmax predictions match (XENT; may be NULL). */
    soma_status (*step)(soma_rule *r, soma_net *net, const float *x, const soma_target *t, int n,
                        float *loss, int *correct);
    void (*destroy)(soma_rule *r);
    /* A fresh rule of the same kind and settings for a replica of the network (data-parallel
     * training); NULL when the rule keeps state that replicas must not duplicate. */
    soma_status (*clone)(const soma_rule *r, soma_rule **out);
} soma_rule_ops;

struct soma_rule {
    const soma_rule_ops *ops;
    soma_loss_kind loss;
    void *impl;
    float *dy; /* dL/dy scratch [max_n, out] */
    size_t dy_cap;
};

/* Plain backpropagation of the loss's exact gradient. */
soma_status soma_rule_backprop_new(soma_rule **out, soma_loss_kind loss);
void soma_rule_free(soma_rule *r);
soma_status soma_rule_step(soma_rule *r, soma_net *net, const float *x, const soma_target *t, int n,
                           float *loss, int *correct);
/* The output-gradient scratch of a rule, grown to n*dim floats (for rule implementations). */
soma_status soma_rule_reserve_dy(soma_rule *r, size_t n);

// --- the training loop -----------------------------------------------------------------

typedef struct soma_train_config {
    int epochs;
    int batch;
    soma_sched sched;       /* learning rate and schedule (total filled in if 0) */
    uint64_t seed;          /* data shuffling stream */
    int eval_batch;         /* batch for evaluation (default 1000) */
    int eval_every;         /* evaluate on the test set every k epochs (0 = only at the end) */
    const char *ckpt_path;  /* save a checkpoint after every epoch (NULL = none) */
    int resume;             /* load ckpt_path first if it exists, continue from its epoch */
    const char *label;      /* progress-line label */
    int quiet;              /* no progress line */
    int data_parallel;      /* 1 (default): with T threads, split each batch into T slices, each
                               run by one thread on a replica of the net (one parallel region
                               per step), for nets with layers other than dense and
                               elementwise ones (a dense stack runs faster on one net);
                               2: slice whatever the net; 0: one net, kernels threaded inside */
} soma_train_config;

soma_train_config soma_train_defaults(void);

/* Per-epoch curves; arrays have `epochs` entries (test_acc is NaN where not evaluated). */
typedef struct soma_train_log {
    int epochs;
    float *train_loss, *train_acc, *test_acc, *test_loss, *lr;
    double *epoch_seconds;
    double train_seconds;      /* training steps only (no evaluation, no I/O) */
    double samples_per_second; /* training samples / train_seconds */
    long samples;
    int start_epoch;           /* > 0 when resumed */
} soma_train_log;
void soma_train_log_free(soma_train_log *log);

/* Trains a classifier with shuffled mini-batches; evaluates on `test` (may be NULL). */
soma_status soma_train_classifier(soma_net *net, soma_rule *rule, soma_optim *opt,
                                  const soma_dataset *train, const soma_dataset *test,
                                  const soma_train_config *cfg, soma_train_log *log);
/* Accuracy (fraction) and mean cross-entropy of net on d. */
soma_status soma_evaluate(soma_net *net, const soma_dataset *d, int batch, float *acc, float *loss);

// --- Rosenblatt's perceptron --------------------------------------------------------------

/* One threshold unit: predicts sign(w . x + b) in {-1, +1} (0 counts as -1). */
int soma_perceptron_predict(const float *w, float b, const float *x, int d);

typedef struct soma_perceptron_result {
    long mistakes;  /* updates made in all */
    int epochs;     /* passes over the data */
    int converged;  /* 1 if the last pass made no mistake */
} soma_perceptron_result;

/* Rosenblatt's rule from the current w[d], *b: for each sample in order, on a mistake
 * w += lr * y * x, b += lr * y. y[n] in {-1, +1}. Stops after a pass with no mistake or after
 * max_epochs. mistakes_per_epoch (may be NULL) receives max_epochs counts (zeros after
 * convergence). SOMA_ERR_ARG on bad sizes or labels. */
soma_status soma_perceptron_train(float *w, float *b, const float *x, const int *y, int n, int d,
                                  float lr, int max_epochs, long *mistakes_per_epoch,
                                  soma_perceptron_result *res);

/* The margin of a unit separator (u, c) / ||(u, c)|| on the data augmented with a constant 1,
 * and R = max ||(x, 1)||: Novikoff's bound on the mistakes from zero is (R / gamma)^2. */
void soma_perceptron_margin(const float *u, float c, const float *x, const int *y, int n, int d,
                            double *gamma, double *radius);

#ifdef __cplusplus
}
#endif
#endif
