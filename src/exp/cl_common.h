/* Continual-learning results as JSON and figures, shared by `soma continual` (cli/continual.c)
 * and the permuted-fmnist experiment (implemented in src/exp/permuted_fmnist.c). */
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
} soma__cl_setup;
soma_status soma__cl_run_one(const soma_task_stream *s, const soma__cl_setup *u, const soma_cl_opts *o,
                             soma_cl_result *res);

#endif
