/* Private to src/exp: what rsa-layers and rsa-recovery share. A LeNet trained on Fashion-MNIST
 * exactly as lenet-fmnist trains it (its spec and hyperparameters, through soma_classify_run,
 * only shorter), a fixed stimulus set from the test split (the first per_class images of each
 * class, in test-set order, sorted by class), and the activations of every layer on it as
 * double matrices, read the way `soma predict --layer` reads them (an eval-mode forward, then
 * soma_net_activation). */
#ifndef SOMA_EXP_RSA_COMMON_H
#define SOMA_EXP_RSA_COMMON_H

#include "soma/exp.h"
#include "soma/nn.h"

/* The options both experiments declare (a table row each, before their own). */
#define SOMA__RSA_OPTS                                                                                      \
    {"n-train", SOMA_OPT_INT, "20000", 100, 60000, NULL, "training images of the LeNet (first N)", 1},      \
    {"epochs", SOMA_OPT_INT, "2", 1, 1000, NULL, "training epochs of the LeNet", 1},                        \
    {"n-test", SOMA_OPT_INT, "2000", 100, 10000, NULL, "test images its accuracy is measured on", 1},       \
    {"per-class", SOMA_OPT_INT, "10", 2, 100, NULL, "stimuli per class (10 classes: the conditions)", 0},   \
    {"fmnist-dir", SOMA_OPT_STR, NULL, 0, 0, NULL, "Fashion-MNIST folder (default $SOMA_FMNIST_DIR, else Debian's)", 0}, \
    {"init-npy", SOMA_OPT_STR, NULL, 0, 0, NULL,                                                            \
     "use the network parameters in DIR (NPY files, e.g. OUT/rsa-layers/lenet) instead of training", 0},    \
    {"net", SOMA_OPT_STR, NULL, 0, 0, NULL, "network spec (default: lenet-fmnist's LeNet)", 0}

#define SOMA__RSA_NAME 48

typedef struct soma__rsa_model {
    soma_net *net;         /* the trained LeNet (owned) */
    int n;                 /* stimuli (conditions) = 10 * per_class */
    int n_classes;
    int *label;            /* [n] class of each stimulus, non-decreasing */
    int *index;            /* [n] its index in the test split */
    float *pixels;         /* [n, in] the images as the net sees them */
    int n_reps;            /* representations: pixels, then every layer's output */
    char (*name)[SOMA__RSA_NAME]; /* [n_reps] "pixels", "1 relu", ... (layer index + spec) */
    int *dim;              /* [n_reps] features of each */
    double **act;          /* [n_reps] each [n, dim] row-major */
} soma__rsa_model;

/* The fixed stimulus set: per_class images of each class from the test split of Fashion-MNIST
 * (fmnist_dir may be NULL): label, index [10 * per_class], pixels [10 * per_class, 784]
 * (soma_free'd by the caller); *shape the per-sample shape. */
soma_status soma__rsa_stimuli(const char *fmnist_dir, int per_class, int *n, int **label, int **index,
                              float **pixels, soma_shape *shape);
/* Every layer's output on x [n, in] (one eval-mode forward): act[l] [n, size of layer l's output]
 * for l < soma_net_n_layers(net), allocated here (soma_free each). */
soma_status soma__rsa_layer_acts(soma_net *net, const float *x, int n, double **act);
/* Trains the LeNet (options of SOMA__RSA_OPTS in c->args, seed c->seed), saves its parameters
 * into OUT/NAME/lenet/ (NPY, for `soma predict --layer`), records its figures in ours["lenet"],
 * draws its learning curves, and fills m. With --init-npy DIR the parameters come from DIR
 * instead (nothing trained; the test accuracy measured on --n-test images). Training follows
 * the core's contract (the same bits for the same seed and thread count); everything after it
 * is the same for any thread count. */
soma_status soma__rsa_model_build(soma_exp_ctx *c, soma__rsa_model *m);
void soma__rsa_model_free(soma__rsa_model *m);
/* lenet-fmnist's network spec (its --net default). */
const char *soma__rsa_lenet_spec(void);
/* The spec a run uses: --net when given, else the LeNet's. */
const char *soma__rsa_spec(const soma_args *a);
/* Its number of layers on Fashion-MNIST images; SOMA_ERR_PARSE / SOMA_ERR_SHAPE for a bad spec. */
soma_status soma__rsa_spec_layers(const char *spec, int *n_layers);

/* A JSON array of rows x cols numbers (NaN as null), added to o under key. */
void soma__rsa_put_matrix(struct cJSON *o, const char *key, const double *m, int rows, int cols);
/* A JSON array of n numbers (NaN as null). */
void soma__rsa_put_array(struct cJSON *o, const char *key, const double *v, int n);

#endif
