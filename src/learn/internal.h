/* src/learn/internal.h -- what the learning-rule files share. */
#ifndef SOMA_LEARN_INTERNAL_H
#define SOMA_LEARN_INTERNAL_H

#include "soma/core.h"
#include "soma/learn.h"

/* Blocked products run each GEMM whole on one thread inside one parallel region. Without
 * OpenMP the blocks run one after another outside any region, where the BLAS would thread
 * each GEMM: hold it to one thread meanwhile (begin returns what end restores). */
static inline int soma__learn_blas_serial_begin(void) {
#ifndef _OPENMP
    const int t = soma_get_threads();
    if (t > 1) soma_set_threads(1);
    return t;
#else
    return 0;
#endif
}

static inline void soma__learn_blas_serial_end(int t) {
#ifndef _OPENMP
    if (t > 1) soma_set_threads(t);
#else
    (void)t;
#endif
}

/* A continual-learning method kept in a file of its own (cl_lwf.c, cl_genreplay.c, cl_cls.c);
 * soma_cl_method (cl_method.c) holds its state and calls these. */
typedef struct soma__cl_ext_ops {
    /* The method's state for a run over stream s (net, rule, s borrowed for the run).
     * SOMA_ERR_ARG on bad options. */
    soma_status (*create)(void **state, soma_net *net, soma_rule *rule, const soma_cl_opts *o,
                          const soma_task_stream *s);
    void (*destroy)(void *state);
    /* Sets cfg's hooks (hooks.user is already the state), batch_hook, batch_extra and
     * target_hook for task t with head (offset, count); cfg arrives with them cleared. */
    soma_status (*attach)(void *state, soma_train_config *cfg, int t, int head_offset, int head_count);
    /* Bytes held beyond the net (teacher copy, generator, episodic store). */
    size_t (*memory)(const void *state);
    /* The method's own answer on d through the head (CLS: store and slow net together); NULL:
     * the net's (soma_evaluate_head). */
    soma_status (*evaluate)(void *state, soma_net *net, soma_rule *rule, const soma_dataset *d, int batch,
                            int head_offset, int head_count, float *acc);
} soma__cl_ext_ops;
extern const soma__cl_ext_ops soma__cl_lwf_ops, soma__cl_genreplay_ops, soma__cl_cls_ops;

/* The extra bytes a caller keeps for a method (joint training: the past tasks' data). */
void soma__cl_method_set_extra(soma_cl_method *m, size_t bytes);
/* Creates the state of a method of its own file for stream s (a no-op for the others). */
soma_status soma__cl_method_bind(soma_cl_method *m, const soma_task_stream *s);
/* The method's answer on d (ext evaluate), else soma_evaluate_head's accuracy. */
soma_status soma__cl_method_evaluate(soma_cl_method *m, soma_net *net, soma_rule *rule, const soma_dataset *d,
                                     int batch, int head_offset, int head_count, float *acc);

#endif
