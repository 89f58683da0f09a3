// Continual learning: learning without forgetting (Li & Hoiem 2017), in the three scenarios of
// van de Ven, Siegelmann & Tolias (2020). At the end of each task the method keeps a frozen
// copy of the net (the teacher); while the next tasks train, the loop's target_hook runs the
// teacher on each batch (eval mode) and sets its logits as soft targets over the outputs of
// the earlier tasks, so the loss adds lwf_alpha * T^2 * KL(teacher || net) at temperature
// T = lwf_temp (soma_target's distillation fields; the loss is the rule's, soma_rule_loss):
//   task    the t earlier heads, each its own softmax (soft_count t*c, blocks of c)
//   class   one softmax over the classes seen before task t (soft_count t*c; the user's npy
//           streams, whose head is every output: every output)
//   domain  the shared head (soft_count c)
// The soft targets point into the teacher's output buffer (valid until its next forward, the
// next step's hook): no copy, and the loop slices them for data-parallel replicas.
#include <math.h>
#include <string.h>

#include "learn/internal.h"

typedef struct lwf_state {
    soma_cl_opts o;
    soma_cl_scenario scenario;
    int c, T, K;          /* classes a task, tasks, outputs */
    int class_blocks;     /* class scenario: tasks hold consecutive blocks of classes */
    int task;             /* the task being trained */
    int reserve;          /* rows the teacher is reserved for */
    soma_net *teacher;    /* the net at the end of the last task (NULL before task 0 ends) */
} lwf_state;

static soma_status create_(void **state, soma_net *net, soma_rule *rule, const soma_cl_opts *o,
                           const soma_task_stream *s) {
    *state = NULL;
    if (!(o->lwf_alpha >= 0.f) || !isfinite(o->lwf_alpha))
        return soma_error(SOMA_ERR_ARG, "lwf: alpha %g must be finite and >= 0", (double)o->lwf_alpha);
    if (!(o->lwf_temp > 0.f) || !isfinite(o->lwf_temp))
        return soma_error(SOMA_ERR_ARG, "lwf: temperature %g must be finite and > 0", (double)o->lwf_temp);
    if (rule->loss != SOMA_LOSS_XENT)
        return soma_error(SOMA_ERR_ARG, "lwf: distillation needs the xent loss, not %s", soma_loss_name(rule->loss));
    if (rule->ops->predict)
        return soma_error(SOMA_ERR_ARG, "lwf: the %s rule classifies its own way, its outputs are no logits to distill",
                          rule->ops->name);
    const int K = (int)soma_shape_size(soma_net_out_shape(net));
    const int c = s->classes_per_task;
    if (K != s->n_outputs || (s->scenario == SOMA_CL_TASK && K < s->n_tasks * c) || c > K)
        return soma_error(SOMA_ERR_SHAPE, "lwf: the net has %d outputs, stream %s needs %d", K, s->name, s->n_outputs);
    lwf_state *st = soma_calloc(1, sizeof *st);
    if (!st) return SOMA_ERR_NOMEM;
    st->o = *o;
    st->scenario = s->scenario;
    st->c = c;
    st->T = s->n_tasks;
    st->K = K;
    int ho, hc;
    soma_task_stream_head(s, 0, 0, &ho, &hc);
    st->class_blocks = hc > 0;
    *state = st;
    return SOMA_OK;
}

static void destroy_(void *state) {
    lwf_state *st = state;
    if (!st) return;
    soma_net_free(st->teacher);
    soma_free(st);
}

/* The earlier tasks' outputs for task t >= 1: [0, *count) in blocks of *block (0: one). */
static void soft_span_(const lwf_state *st, int t, int *count, int *block) {
    switch (st->scenario) {
    case SOMA_CL_TASK:
        *count = t * st->c;
        *block = st->c;
        break;
    case SOMA_CL_DOMAIN:
        *count = st->c;
        *block = 0;
        break;
    default:
        *count = st->class_blocks ? t * st->c : st->K;
        *block = 0;
        break;
    }
}

static soma_status target_(void *user, soma_net *net, long step, const float *x, int n, soma_target *t) {
    (void)net;
    (void)step;
    lwf_state *st = user;
    if (!st->teacher) return SOMA_OK;
    const float *y;
    SOMA_TRY(soma_net_forward(st->teacher, x, n, SOMA_MODE_EVAL, &y));
    t->soft = y;
    soft_span_(st, st->task, &t->soft_count, &t->soft_block);
    t->soft_temp = st->o.lwf_temp;
    t->soft_weight = st->o.lwf_alpha;
    return SOMA_OK;
}

/* The teacher: a copy of the net as it ends the task (its own values, never trained); none
 * after the last task, which no task follows. */
static soma_status task_end_(void *user, soma_net *net, int task, const soma_dataset *train) {
    (void)train;
    lwf_state *st = user;
    if (task >= st->T - 1) return SOMA_OK;
    soma_net *copy;
    SOMA_TRY(soma_net_clone(net, 0, 0, &copy));
    soma_net_free(st->teacher);
    st->teacher = copy;
    st->reserve = 0;
    return SOMA_OK;
}

static soma_status attach_(void *state, soma_train_config *cfg, int t, int ho, int hc) {
    (void)ho;
    (void)hc;
    lwf_state *st = state;
    st->task = t;
    cfg->hooks.task_end = task_end_;
    if (t == 0 || !st->teacher) return SOMA_OK;
    const int rows = cfg->batch + cfg->batch_extra;
    if (rows > st->reserve) { /* the teacher's buffers, once a task at most */
        SOMA_TRY(soma_net_reserve(st->teacher, rows));
        st->reserve = rows;
    }
    cfg->target_hook = target_;
    return SOMA_OK;
}

/* The teacher's parameters and gradient block (a clone has both) and its activation buffers. */
static size_t memory_(const void *state) {
    const lwf_state *st = state;
    if (!st || !st->teacher) return 0;
    size_t nv = 0, ng = 0;
    soma_net_flat_values(st->teacher, &nv);
    soma_net_flat_grads(st->teacher, &ng);
    size_t b = (nv + ng) * sizeof(float);
    soma_net *tn = st->teacher;
    for (int i = 0; i < soma_net_n_layers(tn); i++) {
        const soma_layer *l = soma_net_layer(tn, i);
        b += soma_shape_size(l->out) * (size_t)(st->reserve > 0 ? st->reserve : 0) * sizeof(float);
    }
    return b;
}

const soma__cl_ext_ops soma__cl_lwf_ops = {create_, destroy_, attach_, memory_, NULL};
