/* Private to src/exp: the experiments in the registry. */
#ifndef SOMA_EXP_INTERNAL_H
#define SOMA_EXP_INTERNAL_H
#include "soma/exp.h"

extern const soma_experiment soma__exp_perceptron;
extern const soma_experiment soma__exp_mlp_fmnist;
extern const soma_experiment soma__exp_lenet_fmnist;

/* Fills a classify config from the options shared by the classification experiments. */
soma_status soma__classify_from_opts(soma_exp_ctx *c, soma_classify_config *cfg);
#endif
