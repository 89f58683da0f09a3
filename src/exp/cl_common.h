/* Continual learning: what `soma continual` (cli/continual.c) and the permuted-fmnist and
 * split-fmnist experiments share (implemented in src/exp/cl_common.c). */
#ifndef SOMA_EXP_CL_COMMON_H
#define SOMA_EXP_CL_COMMON_H

#include "soma/learn.h"

struct cJSON;
/* Fills o with acc, bwt, fwt, forgetting (null when undefined), memory_bytes, seconds, the
 * accuracy matrix R (rows: after task i) and the untrained accuracies b. */
void soma__cl_put_result(struct cJSON *o, const soma_cl_result *r);
/* One panel a method: every task's test accuracy after each task of the sequence (task j from
 * the moment it is learned on, dashed before). names[k] labels results[k]. */
soma_status soma__cl_figure(const char *path, const char *title, const soma_cl_result *const *results,
                            const char *const *names, int k);

/* One continual run from scratch: a net from spec (NULL: "fc400,relu,fc400,relu,fcK", K the
 * stream's outputs; a spec with another output size is refused), a rule by name ("bp", "fa",
 * ... as soma_rule_kind_parse), an optimizer by name, then soma_cl_run. */
typedef struct soma__cl_setup {
    const char *net, *rule, *optim;
    float lr;
    int epochs, batch;
    uint64_t seed;
    int quiet;
    float momentum; /* SGD's momentum (0: none) */
} soma__cl_setup;
soma_status soma__cl_run_one(const soma_task_stream *s, const soma__cl_setup *u, const soma_cl_opts *o,
                             soma_cl_result *res);

/* The methods named in a comma-separated list (each once; "all": every method) into
 * on[SOMA_CL_METHOD_COUNT] (1 = run). what (may be NULL) prefixes messages. */
soma_status soma__cl_methods(const char *what, const char *list, int *on);

/* A Fashion-MNIST stream: permuted_tasks > 0: "permuted-fmnist:T" (n_train / n_test the first
 * samples a task); else split-fmnist in scenario sc (n_train / n_test about that many a task;
 * 0: all). validate 1: the "test" sets are the last sixth of the training file (10000 images,
 * held out) and training uses the first five sixths, so settings can be chosen without touching
 * the test set, on the training images the test run uses. seed: the permutations. */
soma_status soma__cl_fmnist_stream(int permuted_tasks, soma_cl_scenario sc, const char *dir, int n_train, int n_test,
                                   uint64_t seed, int validate, soma_task_stream **out);

/* "METHOD: after task T, mean accuracy on tasks 1..T A" on stderr (nothing when quiet). */
void soma__cl_print_progress(const char *label, const soma_cl_result *r, int quiet);

#endif
