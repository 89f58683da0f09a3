/* soma/learn.h -- learning rules and the training loop.
 *
 * A rule turns one batch of activity into an update signal for every parameter of a network
 * (it fills the parameters' grad fields); an optimizer then applies it. Backprop computes the
 * exact gradient; the coming rules (feedback alignment, DFA, predictive coding, forward-forward,
 * EWC/SI) implement the same vtable, keep their own state behind impl, classify their own way
 * (predict) and save that state as a named checkpoint section.
 *
 * One loop, soma_train, serves every task: classification (labels [n]), per-position
 * classification of sequences (labels [n, T]: cross-entropy at each of T positions of an
 * output [T, K]) and regression (MSE on float targets of any per-sample shape, e.g. [T, D]).
 * Hooks run at the points other modules plug into: after the gradients are complete (gradient
 * all-reduce, consolidation penalties), after each optimizer step (synaptic intelligence), at
 * epoch ends and at the end of a task.
 *
 *     soma_rule *rule;
 *     SOMA_TRY(soma_rule_backprop_new(&rule, SOMA_LOSS_XENT));
 *     soma_train_config cfg = soma_train_defaults();
 *     cfg.epochs = 10;
 *     soma_train_log log = {0};
 *     SOMA_TRY(soma_train(net, rule, opt, train, val, &cfg, &log));
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
    SOMA_LOSS_XENT = 0, /* softmax cross-entropy on integer labels, at each position */
    SOMA_LOSS_MSE = 1,  /* mean squared error on float targets */
    SOMA_LOSS_COUNT
} soma_loss_kind;
const char *soma_loss_name(soma_loss_kind k);                      /* "xent", "mse" */
soma_status soma_loss_parse(const char *name, soma_loss_kind *k); /* "xent" (or "ce"), "mse" */

/* What a batch is trained towards. XENT: labels [n, positions] (positions 0 counts as 1); the
 * net's output per sample is [positions, K] and the loss is the mean cross-entropy over all
 * n * positions rows. MSE: values [n, dim] with dim the net's output size per sample. */
typedef struct soma_target {
    const int *labels;
    const float *values;
    int dim;
    int positions;
    /* XENT, multi-head outputs (continual learning): only the active head, the K outputs
     * [head_offset, head_offset + head_count) of each position, compete in the softmax and in
     * the argmax; the others get no gradient. Labels stay indices into all K outputs and must
     * fall inside the head. head_count 0 (default): every output. head_offset
     * SOMA_HEAD_BY_LABEL: each row's head is the block of head_count outputs holding its label
     * (task-incremental learning with the task known, replayed samples of several tasks in
     * one batch). */
    int head_offset;
    int head_count;
    /* XENT, distillation (learning without forgetting, generative replay with soft targets):
     * teacher logits soft [n * positions, K] (NULL: none). The outputs [0, soft_count) are cut
     * into blocks of soft_block outputs (0: one block of soft_count), each its own softmax at
     * temperature soft_temp (<= 0: 1); each row's loss adds
     *     soft_weight * soft_temp^2 * mean over blocks of KL(teacher block || net block)
     * to its hard-label cross-entropy. A row whose label is SOMA_LABEL_NONE has no hard-label
     * term (a replayed sample with soft targets only) and is not counted as correct. The loss
     * stays the mean over rows; the soft term's gradient for block b of row r is
     * soft_weight * soft_temp / n_blocks * (softmax(y_b / T) - softmax(soft_b / T)) / rows.
     * soft_weight 0 is exactly the hard loss. SOMA_ERR_ARG: soft_count outside 1..K, blocks
     * that do not split it, a negative or non-finite weight, a non-finite temperature, soft
     * targets with the mse loss or the ff rule (a loss of its own). */
    const float *soft;
    int soft_count, soft_block;
    float soft_temp, soft_weight;
} soma_target;
#define SOMA_HEAD_BY_LABEL (-1)
#define SOMA_LABEL_NONE (-1)

typedef struct soma_rule soma_rule;
typedef struct soma_rule_ops {
    const char *name;
    /* Zeroes the grads, runs the batch, fills every parameter's grad; *loss = the batch's mean
     * loss, *correct = how many predictions match (XENT, counted over positions; may be NULL). */
    soma_status (*step)(soma_rule *r, soma_net *net, const float *x, const soma_target *t, int n,
                        float *loss, int *correct);
    void (*destroy)(soma_rule *r);
    /* A fresh rule of the same kind and settings for a replica of the network (data-parallel
     * training); NULL when the rule keeps state that replicas must not duplicate. */
    soma_status (*clone)(const soma_rule *r, soma_rule **out);
    /* The predicted class at each of `positions` positions of each of n samples, pred[n *
     * positions]. NULL: the argmax of the net's output (forward-forward classifies by goodness
     * instead). May use the net's activation buffers. */
    soma_status (*predict)(soma_rule *r, soma_net *net, const float *x, int n, int positions,
                           int *pred);
    /* The rule's own state (feedback matrices, Fisher information, ...) as one blob, stored in
     * checkpoints as section "rule.<name>"; *data is allocated with soma_alloc and freed by the
     * caller. NULL: nothing to save. load receives what save wrote; both or neither. */
    soma_status (*save)(const soma_rule *r, void **data, size_t *size);
    soma_status (*load)(soma_rule *r, const void *data, size_t size);
    /* 1: step fills the gradients by one backward of the net (soma_net_backward_ex), and layer
     * i's are final when its backward returns (the net's backward hook then may read them): a
     * distributed run overlaps their all-reduce with the layers below. 0: they are final only
     * when step returns. */
    int layerwise_grads;
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
/* ops->predict, or soma_argmax over each position's K outputs. */
soma_status soma_rule_predict(soma_rule *r, soma_net *net, const float *x, int n, int positions,
                              int *pred);
/* soma_rule_predict restricted to a head (soma_target's head_offset / head_count; count 0:
 * all outputs, the same as soma_rule_predict). Predictions are indices into all K outputs.
 * SOMA_HEAD_BY_LABEL needs labels[n * positions] (the rows' true labels, to find each head;
 * NULL otherwise). A rule with its own predict op refuses a head (SOMA_ERR_ARG). */
soma_status soma_rule_predict_head(soma_rule *r, soma_net *net, const float *x, int n, int positions,
                                   int head_offset, int head_count, const int *labels, int *pred);
/* The output-gradient scratch of a rule, grown to n floats (for rule implementations). */
soma_status soma_rule_reserve_dy(soma_rule *r, size_t n);
/* For rule implementations: the loss of output y [n, out] against t, its gradient into
 * r->dy (reserved here) and the correct count (argmax, XENT). Checks the target's shape. */
soma_status soma_rule_loss(soma_rule *r, const float *y, int out, const soma_target *t, int n,
                           float *loss, int *correct);
/* The rule's checkpoint section (name "rule.<ops->name>"): sec->data NULL and size 0 when the
 * rule has no state; sec->data is the caller's to soma_free. */
soma_status soma_rule_save_section(const soma_rule *r, soma_ckpt_section *sec);
/* Restores from the matching section among sec[n] (ignored when the rule keeps no state;
 * SOMA_ERR_FORMAT when it does and the section is missing). */
soma_status soma_rule_load_section(soma_rule *r, const soma_ckpt_section *sec, int n);

// --- the training loop -----------------------------------------------------------------

struct soma_train_log;

/* Callbacks into the loop; any may be NULL. A hook returning an error stops training with it.
 * Each runs on the caller's thread with the main net (never a data-parallel replica). */
typedef struct soma_train_hooks {
    void *user;
    /* After the batch's gradients are complete (summed over data-parallel slices) and before
     * the optimizer: gradient all-reduce across processes, consolidation penalties (add the
     * penalty's gradient to the grads and its value to *loss). */
    soma_status (*after_grad)(void *user, soma_net *net, long step, float *loss);
    /* After the optimizer changed the parameters (synaptic intelligence's path integral). */
    soma_status (*after_step)(void *user, soma_net *net, long step, float lr);
    /* After epoch `epoch` (0-based) was trained and evaluated; log holds its figures. */
    soma_status (*epoch_end)(void *user, soma_net *net, int epoch, const struct soma_train_log *log);
    /* Once the last epoch of a task is done: cfg.task numbers it, train is its data (EWC's
     * Fisher information, SI's consolidation). */
    soma_status (*task_end)(void *user, soma_net *net, int task, const soma_dataset *train);
    /* The hooks' state in checkpoints, as section "hooks" (same contract as a rule's). */
    soma_status (*save)(void *user, void **data, size_t *size);
    soma_status (*load)(void *user, const void *data, size_t size);
} soma_train_hooks;

typedef struct soma_train_config {
    int epochs;
    int batch;
    soma_sched sched;       /* learning rate and schedule (total filled in if 0) */
    uint64_t seed;          /* data shuffling stream */
    int eval_batch;         /* batch for evaluation (default 1000) */
    int eval_every;         /* evaluate on the held-out set every k epochs (0 = only at the end) */
    const char *ckpt_path;  /* save a checkpoint after every epoch (NULL = none), with sections
                               "rule.<name>" (the rule's state), "hooks", "train.log" */
    int resume;             /* load ckpt_path first if it exists, continue from its epoch */
    const char *label;      /* progress-line label */
    int quiet;              /* no progress line */
    int data_parallel;      /* 1 (default): with T threads, split each batch into T slices, each
                               run on a replica of the net by whichever thread is free (one
                               parallel region per step; the same bits whatever OpenMP grants),
                               for nets with layers other than dense and elementwise ones (a
                               dense stack runs faster on one net); 2: slice whatever the net;
                               0: one net, kernels threaded inside */
    soma_train_hooks hooks;
    int task;               /* passed to hooks.task_end (continual learning: 0, 1, ...) */
    const char *log_path;   /* one JSON line per epoch appended here (NULL = none) */
    int head_offset;        /* XENT: the active head of the outputs (soma_target), used in */
    int head_count;         /* training and evaluation; 0/0 = every output */
    /* A hook (user: hooks.user; kept here so that positional initializers of soma_train_hooks
     * still compile) called before each step with the step's n samples gathered in the loop's
     * buffers: x [n + batch_extra, dim], labels [n + batch_extra, positions] (NULL for float
     * targets), values [n + batch_extra, t_dim] (NULL for labels). It may read the batch
     * (learning without forgetting: the old net's outputs on it) and append up to batch_extra
     * samples after row n (experience or generative replay), setting *n_extra (0 by default);
     * the step then trains on all n + *n_extra rows (the loss is their mean) on the head above.
     * Buffers are allocated once, before the first step. */
    soma_status (*batch_hook)(void *user, soma_net *net, long step, float *x, int *labels, float *values,
                              int n, int *n_extra);
    int batch_extra; /* rows reserved for batch_hook (0..65536) */
    /* Called after batch_hook with the step's soma_target (labels, head) for all n rows of x
     * (n includes the hook's extra rows); it may set the target's distillation fields (soft
     * pointing at the hook's own buffer of n rows, sized once; soft_count, soft_block,
     * soft_temp, soft_weight) and relabel rows (SOMA_LABEL_NONE). user: hooks.user. The loop
     * slices soft with the rows for data-parallel replicas. NULL: none. */
    soma_status (*target_hook)(void *user, soma_net *net, long step, const float *x, int n, soma_target *t);
    /* 1: data-parallel across the S processes of an MPI job (soma_dist_*, core.h; every rank
     * calls soma_train with the same data, net spec, rule and settings). batch is per process:
     * each step takes the next S x batch samples of the shuffled order (the same order on every
     * rank, from seed), rank r trains on the r-th slice of them, and the gradients are summed
     * over the ranks (MPI_Allreduce on the net's flat gradient block), each weighted by its
     * slice's share, so the update is the one a single process makes at batch S x batch (to
     * float rounding, for rules whose update is a mean over samples: bp, fa, dfa, pc). It runs
     * before hooks.after_grad, so penalties are added once. At the start rank 0's parameters
     * and rule state are broadcast. Only rank 0 writes checkpoints and the log file and draws
     * the progress line; evaluation is split over the ranks and reduced, so every rank gets
     * the same figures. Stochastic layers (dropout) draw per-rank streams. Without MPI (size
     * 1) the run is the plain one, bit for bit. 0 (default): this process alone. */
    int distributed;
    /* distributed: 1 = one all-reduce after the step, never overlapped with the backward pass
     * (the default 0 overlaps where the rule and the run allow: see docs/distributed.md) */
    int no_overlap;
} soma_train_config;

soma_train_config soma_train_defaults(void);

/* Per-epoch curves; arrays have `epochs` entries (test_* is NaN where not evaluated; *_acc is
 * NaN for regression). "test" is whatever held-out set was given (a validation split or a
 * test set): the caller knows which. */
typedef struct soma_train_log {
    int epochs;
    float *train_loss, *train_acc, *test_acc, *test_loss, *lr;
    double *epoch_seconds;
    double train_seconds;      /* training steps only (no evaluation, no I/O) */
    double samples_per_second; /* training samples / train_seconds */
    long samples;
    int start_epoch;           /* > 0 when resumed: the entries before it (and the time and
                                  sample counts) come from the checkpoint's "train.log" section,
                                  so a resumed finished run reports its final figures */
    int ranks;                 /* processes that trained together (cfg.distributed), else 1 */
    double allreduce_seconds;  /* of train_seconds: waiting for the gradient all-reduce */
    int allreduce_overlap;     /* 1: the all-reduce was overlapped with the backward pass */
} soma_train_log;
void soma_train_log_free(soma_train_log *log);

/* Trains net with rule and opt on shuffled mini-batches of train, evaluating on held_out (may
 * be NULL) every cfg.eval_every epochs and after the last. The task follows the rule's loss:
 * XENT on train's labels (per position when train->y_len > 1), MSE on train's float targets.
 * SOMA_ERR_SHAPE when data and net do not fit (sizes named); SOMA_ERR_ARG on bad settings. */
soma_status soma_train(soma_net *net, soma_rule *rule, soma_optim *opt, const soma_dataset *train,
                       const soma_dataset *held_out, const soma_train_config *cfg,
                       soma_train_log *log);
/* soma_train for classification (kept for callers of the first API). */
soma_status soma_train_classifier(soma_net *net, soma_rule *rule, soma_optim *opt,
                                  const soma_dataset *train, const soma_dataset *test,
                                  const soma_train_config *cfg, soma_train_log *log);
/* Accuracy (fraction) and mean cross-entropy of net on d, by argmax. */
soma_status soma_evaluate(soma_net *net, const soma_dataset *d, int batch, float *acc, float *loss);
/* The same by the rule's loss and its predict op: XENT -> accuracy over all positions and mean
 * cross-entropy; MSE -> *acc NaN, mean squared error. */
soma_status soma_evaluate_rule(soma_net *net, soma_rule *rule, const soma_dataset *d, int batch,
                               float *acc, float *loss);
/* soma_evaluate_rule through one head (soma_target's head_offset / head_count): the softmax
 * and the prediction over the head's outputs only. */
soma_status soma_evaluate_head(soma_net *net, soma_rule *rule, const soma_dataset *d, int batch,
                               int head_offset, int head_count, float *acc, float *loss);

// --- continual learning (src/learn/cl_*.c) ------------------------------------------------
//
// A task stream is a sequence of tasks, each a training and a test soma_dataset. A method
// (fine-tuning, joint training, EWC, online EWC, synaptic intelligence, experience replay) is
// a set of training-loop hooks (after_grad, after_step, task_end, batch_hook), so it works
// with any rule and any network of the nn stack; soma_cl_run trains the tasks in order with
// soma_train and measures the accuracy matrix.
//
//     soma_task_stream *s;
//     SOMA_TRY(soma_task_stream_load("split-fmnist:task", NULL, &s));
//     soma_cl_opts o = soma_cl_opts_default();
//     o.method = SOMA_CL_EWC;
//     soma_cl_result res = {0};
//     SOMA_TRY(soma_cl_run(net, rule, opt, s, &o, &cfg, &res));  // net outputs s->n_outputs
//     printf("%.3f\n", res.metrics.acc);
//     soma_cl_result_free(&res);
//     soma_task_stream_free(s);
//
// Scenarios (van de Ven, Siegelmann & Tolias 2020) fix the labels and the active head of the
// outputs (soma_target's head) of task t with c classes a task:
//   task    labels t*c + j (j = the class's index in the task), the net has T*c outputs, one
//           head of c a task; the task is known in training and testing (SOMA_HEAD_BY_LABEL)
//   domain  labels j, one shared head of c outputs
//   class   labels t*c + j, T*c outputs; while learning and testing after task t the head is
//           every class seen so far, [0, (t+1)*c)

typedef enum soma_cl_scenario {
    SOMA_CL_TASK = 0,
    SOMA_CL_DOMAIN = 1,
    SOMA_CL_CLASS = 2,
    SOMA_CL_SCENARIO_COUNT
} soma_cl_scenario;
const char *soma_cl_scenario_name(soma_cl_scenario s); /* "task", "domain", "class" */

typedef struct soma_task_stream {
    char name[64];
    soma_cl_scenario scenario;
    int n_tasks;
    int classes_per_task; /* c: each task's labels (the most any task has, for npy streams) */
    int n_outputs;        /* outputs the net needs */
    soma_dataset **train, **test; /* [n_tasks], owned */
    int *classes;         /* [n_tasks * c]: the original class of each task's label j (-1 none) */
} soma_task_stream;
void soma_task_stream_free(soma_task_stream *s);
/* The head of task t after training `upto` (>= t) tasks, for training and evaluation
 * (soma_target's head_offset, head_count). */
void soma_task_stream_head(const soma_task_stream *s, int t, int upto, int *offset, int *count);

typedef struct soma_stream_opts {
    const char *fmnist_dir; /* NULL: soma_fmnist_dir's default */
    int n_train, n_test;    /* permuted: the first n samples a task (0: all); split: likewise of
                               each task's samples */
    uint64_t seed;          /* permutations; the npy held-out split */
    double test_frac;       /* npy without a test triple: the held-out fraction of each task
                               (0: 0.2) */
} soma_stream_opts;
soma_stream_opts soma_stream_opts_default(void);

/* Streams by spec:
 *   "permuted-fmnist[:T]"           Fashion-MNIST under T (default 10) fixed pixel permutations,
 *                                   domain-incremental (10 shared labels); task 0 is the
 *                                   identity (the plain images), task t >= 1 a permutation drawn
 *                                   from (seed, t)
 *   "split-fmnist[:task|domain|class]"  5 tasks of 2 classes (0/1, 2/3, ...), class by default
 *   "npy:X,Y,TASKS[;XT,YT,TT]"      the user's data: X as soma_dataset_load's npy, Y integer
 *                                   labels [N], TASKS integer task ids [N] in 0..T-1 (every id
 *                                   present); labels used as given on one head over all classes
 *                                   (class-incremental); the test triple, or a held-out
 *                                   fraction of each task
 * o may be NULL (defaults). SOMA_ERR_ARG on a bad spec, task ids out of range or missing,
 * tasks of different input sizes. */
soma_status soma_task_stream_load(const char *spec, const soma_stream_opts *o, soma_task_stream **out);
/* From data sets in memory (borrowed; copied): n_tasks permutations of train/test (task 0 the
 * identity); split into tasks of c consecutive classes in a scenario; by a task id a sample
 * (tasks[n] of train, test_tasks of test). */
soma_status soma_task_stream_permuted(const soma_dataset *train, const soma_dataset *test, int n_tasks,
                                      uint64_t seed, soma_task_stream **out);
soma_status soma_task_stream_split(const soma_dataset *train, const soma_dataset *test, int c,
                                   soma_cl_scenario scenario, soma_task_stream **out);
soma_status soma_task_stream_by_id(const soma_dataset *train, const int *tasks, const soma_dataset *test,
                                   const int *test_tasks, soma_task_stream **out);

// Metrics (Lopez-Paz & Ranzato 2017; Chaudhry et al. 2018). R[i*T + j] is the accuracy on
// task j after training tasks 0..i, b[j] the untrained net's accuracy on task j:
//   acc        = 1/T sum_j R[T-1][j]
//   bwt        = 1/(T-1) sum_{j<T-1} (R[T-1][j] - R[j][j])
//   fwt        = 1/(T-1) sum_{j>=1} (R[j-1][j] - b[j])
//   forgetting = 1/(T-1) sum_{j<T-1} (max_{l<T-1} R[l][j] - R[T-1][j])
// With T = 1, bwt, fwt and forgetting are NaN.
typedef struct soma_cl_metrics {
    double acc, bwt, fwt, forgetting;
} soma_cl_metrics;
void soma_cl_metrics_compute(const float *R, const float *b, int T, soma_cl_metrics *m);

// Fisher information (diagonal), walking every trainable parameter.
typedef enum soma_fisher_kind {
    SOMA_FISHER_EMPIRICAL = 0, /* the data's labels */
    SOMA_FISHER_TRUE = 1,      /* labels drawn from the model's softmax over the head */
    SOMA_FISHER_COUNT
} soma_fisher_kind;
/* F[i] = mean over mini-batches of g_i^2, g the rule's update signal (backprop: the gradient of
 * the mean loss) on a batch of `batch` samples (1: per sample, the exact diagonal Fisher) of the
 * first n samples of d (n <= 0 or > d->n: all), in order, through the head (head_offset,
 * head_count as soma_target). labels: NULL -> per kind; else n labels used instead (a fixed
 * draw). F has soma_net_flat_values' length (0 for frozen parameters). rng draws the true
 * Fisher's labels. The net's grads are overwritten. */
soma_status soma_cl_fisher(soma_net *net, soma_rule *rule, const soma_dataset *d, int n, int batch,
                           soma_fisher_kind kind, int head_offset, int head_count, const int *labels,
                           soma_rng *rng, float *F);

typedef enum soma_cl_method_kind {
    SOMA_CL_FINETUNE = 0,   /* plain training, task after task (the lower bound) */
    SOMA_CL_JOINT = 1,      /* training on all tasks so far (the upper bound) */
    SOMA_CL_EWC = 2,        /* Kirkpatrick et al. 2017: a penalty per task */
    SOMA_CL_ONLINE_EWC = 3, /* Schwarz et al. 2018: one running Fisher, the last anchor */
    SOMA_CL_SI = 4,         /* synaptic intelligence (Zenke, Poole & Ganguli 2017) */
    SOMA_CL_REPLAY = 5,     /* experience replay from a reservoir buffer */
    SOMA_CL_LWF = 6,        /* learning without forgetting (Li & Hoiem 2017), src/learn/cl_lwf.c */
    SOMA_CL_GEN_REPLAY = 7, /* generative replay from a VAE (Shin et al. 2017; van de Ven et al.
                               2020), src/learn/cl_genreplay.c */
    SOMA_CL_CLS = 8,        /* complementary learning systems: a one-shot episodic store and a
                               slow net consolidated by sleep replay, src/learn/cl_cls.c */
    SOMA_CL_METHOD_COUNT
} soma_cl_method_kind;
const char *soma_cl_method_name(soma_cl_method_kind k); /* "finetune", "joint", "ewc", ... */
soma_status soma_cl_method_parse(const char *name, soma_cl_method_kind *k);

typedef struct soma_cl_opts {
    soma_cl_method_kind method;
    /* EWC: penalty lambda/2 sum_i F_i (theta_i - theta*_i)^2 summed over past tasks (online:
     * F = gamma F_old + F_task, anchored at the last task's end) */
    float ewc_lambda;         /* (default 100) */
    float ewc_gamma;          /* online EWC's decay (default 1) */
    soma_fisher_kind fisher;  /* (default TRUE) */
    int fisher_samples;       /* samples a task (default 500; <= 0 all) */
    int fisher_batch;         /* (default 1: per sample) */
    /* SI: penalty c sum_i Omega_i (theta_i - theta~_i)^2; Omega += w / (delta^2 + xi) */
    float si_c, si_xi;        /* (defaults 0.1, 0.001, Zenke et al.'s) */
    /* replay: a reservoir of `buffer` samples, or of buffer_frac of the stream's training
     * samples when buffer is 0; replay_batch samples appended to each step (0: the batch) */
    long buffer;
    double buffer_frac;       /* (default 0.01) */
    int replay_batch;
    uint64_t seed;            /* reservoir, replay draws, true-Fisher labels */
    /* joint training (cl_run.c): 1 = task t trains on as many samples as it has, drawn
     * uniformly without replacement from tasks 0..t (the other methods' number of steps: a
     * cheaper upper bound); 0 (default) = on all of tasks 0..t (O(T^2) steps in all) */
    int joint_sampled;
    /* soma_cl_run: 1 = zero the optimizer's state (momenta; Adam's moments and step count, so its
     * bias correction starts again) at the start of every task after the first (van de Ven et
     * al.'s practice); 0 = one optimizer state through the stream (default: see soma_cl_opts_default) */
    int reset_optim;

    /* --- learning without forgetting (cl_lwf.c) --- */
    /* At each task's end a frozen clone of the net (the teacher); while task t >= 1 trains, the
     * training loop's target_hook sets the teacher's logits on the batch as soft targets over
     * the earlier tasks' outputs: task scenario the t earlier heads (soft_count t*c, blocks of
     * c), class scenario one block over the classes seen before (the outputs up to the largest
     * class of tasks 0..t-1: t*c for split streams), domain scenario the shared head (c). Any rule whose update
     * comes from soma_rule_loss; rules with a predict op of their own (ff) are refused.
     * Memory: the teacher's values, gradient block and activation buffers. SOMA_ERR_ARG from
     * soma_cl_run on a negative or non-finite alpha or a temperature <= 0. */
    float lwf_alpha;          /* weight of the distillation term (soft_weight; default 1) */
    float lwf_temp;           /* distillation temperature (soft_temp; default 2) */
    int lwf_balance;          /* 1: weigh the distillation by the tasks before, soft_weight =
                                 lwf_alpha * t in task t, the ratio of van de Ven et al.'s (2020)
                                 1/(t+1) current-task and t/(t+1) replay terms (default 0) */

    /* --- generative replay (cl_genreplay.c) --- */
    /* A VAE (soma_vae) trained beside the net on each batch plus the replayed rows; at each
     * task's end frozen copies of net and generator; tasks t >= 1 append replay_batch (0: the
     * batch) samples of the frozen generator, labelled by the frozen net: gen_soft 1 its logits
     * as soft targets at gen_temp (every row distilled, rows replayed have no hard label), 0
     * hard labels (its argmax in the head of the classes seen: class; of a previous task drawn
     * uniformly: task; the shared head: domain) */
    int gen_latent;           /* the VAE's latent size (default 32) */
    const char *gen_hidden;   /* encoder and decoder hidden spec (default "fc400,relu,fc400,relu") */
    float gen_lr;             /* the VAE's Adam learning rate (default 1e-3) */
    float gen_beta;           /* its KL weight (default 1) */
    int gen_lik;              /* its likelihood, a soma_vae_lik (default bernoulli: data in [0, 1]) */
    int gen_iters;            /* VAE steps a training step (default 2) */
    int gen_soft;             /* soft targets (default 1) or hard labels (0) */
    float gen_temp;           /* distillation temperature (default 2) */

    /* --- complementary learning systems (cl_cls.c) --- */
    long cls_capacity;        /* episodes the fast store keeps (0: every training sample) */
    int cls_evict;            /* a full store: SOMA_CLS_EVICT_RESERVOIR (default) or _QUOTA */
    int cls_keys;             /* SOMA_CLS_KEYS_PROJECTION (default), _INPUT or _LAYER */
    int cls_key_dim;          /* the random projection's size (default 256) */
    int cls_layer;            /* layer keys: the input of the slow net's top-level layer i
                                 (default 1) */
    float cls_beta;           /* attention's inverse temperature on cosine similarity (default 50) */
    int cls_knn;              /* k > 0: k-nearest-neighbour vote instead of attention (default 0) */
    int cls_answer;           /* SOMA_CLS_ANSWER_SYSTEM (default), _SLOW or _STORE */
    float cls_confidence;     /* system: the store answers when its top class has at least this
                                 probability, else the slow net (default 0.5) */
    int cls_sleep_every;      /* sleep after each task (0, default), every k optimizer steps
                                 (k > 0) or never (-1) */
    int cls_sleep_steps;      /* steps of one sleep (0, default: as many as one wake epoch of the
                                 task, its training samples / the sleep batch, rounded up) */
    int cls_sleep_batch;      /* samples a sleep step (0: the training batch) */
    float cls_sleep_lr;       /* sleep's plain-SGD learning rate (0: the task's lr) */
    int cls_replay;           /* store samples of earlier tasks appended to each wake step
                                 (interleaved learning; default 0: none) */

    /* --- EWC, online EWC and SI: how the penalty enters (cl_method.c) --- */
    /* 0 (default): its gradient is added to the data's, so the optimizer sees both (Adam then
     * rescales the penalty's pull per parameter by the data gradient's scale); 1: decoupled, as
     * AdamW decouples weight decay: after each optimizer step every parameter takes the exact
     * implicit (proximal) step of the quadratic alone, theta <- a + (theta - a) / (1 + lr s),
     * with a the anchor, lr the step's learning rate and s = lambda F (EWC) or 2 c Omega (SI):
     * the pull towards the anchor is then in proportion to the importance, whatever the
     * optimizer. lambda and c are on another scale in this mode (about 1/lr times larger). */
    int penalty_decoupled;

    /* --- end of the methods' options --- */
} soma_cl_opts;
soma_cl_opts soma_cl_opts_default(void);

/* A method's state for a net (borrowed, must outlive it): its hooks fill a soma_train_config. */
typedef struct soma_cl_method soma_cl_method;
/* SOMA_ERR_ARG on bad options (a buffer over 4 GiB or larger than memory allows, negative
 * lambda, ...). total_train: the stream's training samples (for buffer_frac); dim: floats a
 * sample. */
soma_status soma_cl_method_new(soma_cl_method **out, soma_net *net, soma_rule *rule, const soma_cl_opts *o,
                               long total_train, size_t dim);
void soma_cl_method_free(soma_cl_method *m);
/* Installs the method's hooks (hooks, batch_hook, batch_extra, target_hook) into cfg for task t
 * with head (offset, count), chained with the hooks cfg already holds (the caller's; each keeps
 * its own user): the caller's after_grad runs before the method's, the method's after_step,
 * epoch_end and task_end before the caller's. A caller's batch_hook, target_hook or save/load
 * beside one of the method's own: SOMA_ERR_ARG. Attaching a cfg this method filled before keeps
 * the caller's hooks saved then. LwF, generative replay and CLS need the stream: they are run by
 * soma_cl_run (SOMA_ERR_ARG here otherwise). */
soma_status soma_cl_method_attach(soma_cl_method *m, soma_train_config *cfg, int t, int head_offset, int head_count);
/* Bytes the method holds beyond the net: buffer, Fisher, anchors, path integrals. */
size_t soma_cl_method_memory(const soma_cl_method *m);
/* The consolidation penalty at the net's current parameters, and (grad non-NULL) its gradient
 * added into grad (soma_net_flat_values' length). 0 for methods without one. */
double soma_cl_method_penalty(const soma_cl_method *m, soma_net *net, float *grad);
/* SI's importance Omega (NULL for other methods); replay's buffer: *n samples, x [n, dim],
 * labels [n] and each sample's index in the stream (NULL for other methods). */
const float *soma_cl_si_omega(const soma_cl_method *m);
soma_status soma_cl_replay_buffer(const soma_cl_method *m, int *n, const float **x, const int **labels,
                                  const long **ids);
/* Reservoir sampling over a stream, exposed for tests: offers sample `id` (x dim floats,
 * label) to the buffer. */
soma_status soma_cl_replay_offer(soma_cl_method *m, const float *x, int label, long id);

typedef struct soma_cl_result {
    int n_tasks;
    float *R;            /* [T*T] the accuracy matrix */
    float *b;            /* [T] the untrained net's accuracies */
    soma_cl_metrics metrics;
    size_t memory_bytes; /* soma_cl_method_memory at the end */
    double seconds;      /* training, Fisher and buffer work (no evaluation) */
} soma_cl_result;
void soma_cl_result_free(soma_cl_result *r);

/* Trains net on the stream's tasks in order with method o (cfg: epochs, batch, lr, seed, ...;
 * its head is set per task and its hooks chained with the method's, soma_cl_method_attach; a method with its own answer, the CLS model, is
 * evaluated through it), evaluating every task's test set before training and
 * after each task. progress (may be NULL) is called after each task. The net must have
 * s->n_outputs outputs (SOMA_ERR_SHAPE otherwise). */
typedef void (*soma_cl_progress_fn)(void *user, int task, const soma_cl_result *partial);
soma_status soma_cl_run(soma_net *net, soma_rule *rule, soma_optim *opt, const soma_task_stream *s,
                        const soma_cl_opts *o, const soma_train_config *cfg, soma_cl_progress_fn progress,
                        void *progress_user, soma_cl_result *res);

// --- complementary learning systems (src/learn/cl_cls.c) -----------------------------------
//
// McClelland, McNaughton & O'Reilly (1995); Kumaran, Hassabis & McClelland (2016). Method
// SOMA_CL_CLS pairs the slow net that soma_cl_run trains ("neocortex") with a fast episodic
// store ("hippocampus") that writes every training example of a task in one shot when the
// task begins: a key (a fixed random projection of the input, the input itself, or the
// slow net's activation at a layer, re-encoded from the stored inputs before each read so
// keys never go stale), the raw input and its label. Reading is attention over the keys,
// p(class | q) = sum_j softmax_j(beta cos(q, k_j)) [label_j = class], or a k-nearest-
// neighbour vote. Sleep trains the slow net (any rule: soma_rule_step, then plain SGD) on
// batches drawn uniformly from the whole store, old and recent tasks interleaved. The
// system's answer (cls_answer) is the store's when its top class is confident enough, else
// the slow net's; _SLOW and _STORE report either alone (the training is the same).

enum { SOMA_CLS_KEYS_PROJECTION = 0, SOMA_CLS_KEYS_INPUT = 1, SOMA_CLS_KEYS_LAYER = 2, SOMA_CLS_KEYS_COUNT };
enum { SOMA_CLS_ANSWER_SYSTEM = 0, SOMA_CLS_ANSWER_SLOW = 1, SOMA_CLS_ANSWER_STORE = 2, SOMA_CLS_ANSWER_COUNT };
/* reservoir: Vitter's algorithm R over every episode offered; quota: each task seen keeps
 * capacity / tasks episodes (older tasks trimmed, at random, when a task arrives) */
enum { SOMA_CLS_EVICT_RESERVOIR = 0, SOMA_CLS_EVICT_QUOTA = 1, SOMA_CLS_EVICT_COUNT };
/* Names: "projection", "input", "layer"; "system", "slow", "store"; "reservoir", "quota".
 * Parsing fails with SOMA_ERR_ARG listing the choices. */
const char *soma_cls_keys_name(int k);
const char *soma_cls_answer_name(int a);
const char *soma_cls_evict_name(int e);
soma_status soma_cls_keys_parse(const char *name, int *k);
soma_status soma_cls_answer_parse(const char *name, int *a);
soma_status soma_cls_evict_parse(const char *name, int *e);

/* The store's read-out (the reference kernel): for queries q [nq, kd] and keys [ns, kd]
 * (unnormalised; a zero row has cosine 0 with everything) with labels [ns] in 0..K-1, p [nq, K]
 * = attention (knn <= 0) softmax over j of beta * cos(q_i, k_j), summed by label; or (knn > 0)
 * the fraction of the knn most similar keys holding each label (ties to the lower index).
 * work: (nq + 1) * ns + nq floats (similarities, norms) or NULL (allocated for the call). Similarities
 * through one GEMM; rows in parallel, the same bits at any thread count. ns == 0: p all 0.
 * SOMA_ERR_ARG on bad sizes or a label out of range. */
soma_status soma_cls_readout(float *p, const float *q, int nq, const float *keys, const int *labels, int ns, int kd,
                             int K, float beta, int knn, float *work);

/* The episodic store on its own (the CLS method builds one per run). o: the cls_* options
 * (cls_capacity must be > 0 here) and seed; dim: floats an input; net: the slow net (borrowed;
 * needed for layer keys only, may be NULL otherwise). SOMA_ERR_ARG on bad options. */
typedef struct soma_cls_store soma_cls_store;
soma_status soma_cls_store_new(soma_cls_store **out, const soma_cl_opts *o, size_t dim, soma_net *net);
void soma_cls_store_free(soma_cls_store *s);
/* Writes n episodes x [n, dim], labels [n] of task `task` (>= 0, non-decreasing from call to
 * call) in one shot, evicting by the policy when full. */
soma_status soma_cls_store_write(soma_cls_store *s, const float *x, const int *labels, int n, int task);
/* Episodes held (task < 0: all, else of that task). */
long soma_cls_store_count(const soma_cls_store *s, int task);
/* Exactly the bytes held: capacity * (dim + key size) floats + capacity * 2 ints (label, task)
 * + the projection (key_dim * dim floats, projection keys only). Key size: key_dim, dim or
 * the layer's input size. */
size_t soma_cls_store_memory(const soma_cls_store *s);
/* Layer keys: re-encodes every stored input through the net as it is now (no-op otherwise). */
soma_status soma_cls_store_rekey(soma_cls_store *s);
/* The store's class distribution p [n, K] for inputs x [n, dim] (soma_cls_readout over the
 * stored keys). Layer keys use the keys of the last rekey (or write). */
soma_status soma_cls_store_read(soma_cls_store *s, const float *x, int n, int K, float *p);

// --- learning rules beyond backprop (src/learn/rules.c and one file a rule) ------------------
//
// Every rule fills the parameters' grad fields with its update direction (the negative of the
// step it wants, like a gradient), so optimizers, schedules, data-parallel replicas and
// checkpoints serve each unchanged. Rules that need the network's structure (feedback per
// weight, value nodes per layer) are created for a built net; they walk its top-level layers
// (soma_net_layer, soma_net_activation) and call the layers' own forward and backward ops.
// A rule that cannot handle a net (DFA, PC and FF need a plain chain of top-level layers; FA
// and DFA need dense or conv2d weights) refuses it at creation with SOMA_ERR_ARG naming the
// layer.

typedef enum soma_rule_kind {
    SOMA_RULE_BP = 0, /* backpropagation */
    SOMA_RULE_FA,     /* feedback alignment (Lillicrap et al. 2016) */
    SOMA_RULE_DFA,    /* direct feedback alignment (Nokland 2016) */
    SOMA_RULE_PC,     /* predictive coding by inference learning (Whittington & Bogacz 2017) */
    SOMA_RULE_FF,     /* forward-forward (Hinton 2022) */
    SOMA_RULE_HEBB,   /* Hebbian hidden layers under a delta-rule read-out */
    SOMA_RULE_COUNT
} soma_rule_kind;
const char *soma_rule_kind_name(soma_rule_kind k); /* "bp", "fa", "dfa", "pc", "ff", "hebb" */
soma_status soma_rule_kind_parse(const char *name, soma_rule_kind *k);

typedef enum soma_hebb_kind {
    SOMA_HEBB_OJA = 0,     /* Oja's rule per unit (each converges to the first PC) */
    SOMA_HEBB_GHA,         /* Sanger's generalized Hebbian algorithm: the leading PCs in order */
    SOMA_HEBB_COMPETITIVE  /* winner-take-all competitive learning (the winner moves towards x) */
} soma_hebb_kind;

typedef struct soma_rule_opts {
    soma_rule_kind kind;
    soma_loss_kind loss;
    uint64_t seed;      /* feedback matrices, negative labels */
    /* FA, DFA: feedback matrices drawn like the forward weights (Kaiming-uniform of the same
     * shape for FA; for DFA U(-1/sqrt(K), 1/sqrt(K)) of shape [units, K], K the output size),
     * times fb_scale (0 means 1) */
    float fb_scale;
    /* PC: inference steps and rate (0: 20 and 0.1), and whether the output layer is clamped to
     * the target during inference (1, supervised learning) */
    int pc_steps;
    float pc_rate;
    /* PC: the top error is -pc_err_scale times the loss's gradient (0 means 1; small scales
     * keep the errors small, Whittington & Bogacz's regime; the update is divided back by it);
     * pc_fixed_pred 1: the fixed prediction assumption (Millidge et al. 2022), predictions and
     * Jacobians kept from the feedforward pass, the errors converging to backprop's exactly */
    float pc_err_scale;
    int pc_fixed_pred;
    /* FF: goodness threshold theta (0: the number of units of the layer), negatives per
     * positive (0: 1), and ff_hard = 1 to take the wrong labels with the largest goodness
     * under the current model (K extra forward passes a step) instead of random ones;
     * ff_vote_all = 1 to classify by the goodness of every layer (0: all but the first, as
     * the paper; with a single layer, that layer) */
    float ff_theta;
    int ff_negatives;
    int ff_hard;
    int ff_vote_all;
    /* HEBB */
    soma_hebb_kind hebb;
} soma_rule_opts;
soma_rule_opts soma_rule_opts_default(void); /* BP, XENT, seed 1, the defaults above */

/* Any rule, by kind, for the built net (which must outlive the rule). */
soma_status soma_rule_new(soma_rule **out, soma_net *net, const soma_rule_opts *o);
/* The rules one by one (each refuses a net it cannot train; o->kind is ignored). */
soma_status soma_rule_fa_new(soma_rule **out, soma_net *net, const soma_rule_opts *o);
soma_status soma_rule_dfa_new(soma_rule **out, soma_net *net, const soma_rule_opts *o);
soma_status soma_rule_pc_new(soma_rule **out, soma_net *net, const soma_rule_opts *o);
/* PC's state after its last step, for tests and analysis: node l = 1 .. L (L the net's top-level
 * layers; node l is layer l-1's output) of the last batch, n * size floats: *v the value node
 * (NULL for the top, l == L, which only holds its error), *e its prediction error. Either
 * pointer may be NULL. SOMA_ERR_ARG for another rule, a node out of range or no step yet. */
soma_status soma_rule_pc_nodes(const soma_rule *r, int l, const float **v, const float **e);
soma_status soma_rule_ff_new(soma_rule **out, soma_net *net, const soma_rule_opts *o);
soma_status soma_rule_hebb_new(soma_rule **out, soma_net *net, const soma_rule_opts *o);

/* How far a rule's update is from the true gradient on one batch: for each trainable
 * parameter i with decay == 1 (the weights), the angle in degrees between the rule's grad
 * and backprop's exact gradient of the same loss at the same parameters (90 for an update or
 * gradient of zero norm). Runs the rule's step and a backprop step on (x, t); leaves the
 * parameters unchanged and the grads holding the rule's update. angle_deg has room for
 * soma_net_n_params(net) entries; entries of other parameters are NaN. */
soma_status soma_rule_alignment(soma_rule *r, soma_net *net, const float *x, const soma_target *t,
                                int n, double *angle_deg);
/* Same but the cosine (1 - the angle's cosine is easier to read near 1). */
soma_status soma_rule_alignment_cos(soma_rule *r, soma_net *net, const float *x,
                                    const soma_target *t, int n, double *cosine);
/* Lillicrap et al.'s (2016) measure of feedback alignment: the angle in degrees between the
 * error signals the hidden units receive, dL/dh through the feedback matrices set on the net
 * (FA's B e) and through the transposed weights (backprop's W' e), on one batch. For each
 * top-level dense or conv2d layer i below the last one, h is the input of the next such layer
 * j (layer i's output after the parameter-free layers between, e.g. relu, pool): both signals
 * come from the loss's gradient (r's loss, r->dy) walked down the top-level layers' own
 * backward ops (input gradients only) from the output to j. angle_deg[i] gets it (90 when a
 * signal is zero); angle_deg has room for soma_net_n_layers(net) entries, NaN for other layers.
 * Runs one forward pass (train mode); parameters and their grads are left unchanged, r->dy
 * holds the batch's loss gradient. Feedback pointers left NULL (backprop, DFA) give 0.
 * SOMA_ERR_ARG when the net has fewer than two top-level weight layers. */
soma_status soma_rule_signal_alignment(soma_rule *r, soma_net *net, const float *x,
                                       const soma_target *t, int n, double *angle_deg);

// --- Hebbian learning on its own (src/learn/hebb.c) ---------------------------------------

/* One pass of a Hebbian rule over X [n, d] (rows in order) for k units with weights W [k, d]
 * (rows; updated in place) at learning rate lr: Oja dw_i = lr y_i (x - y_i w_i); GHA dw_i =
 * lr y_i (x - sum_{j<=i} y_j w_j) (Sanger 1989); competitive: the unit with the largest
 * w_i . x moves w_i += lr (x - w_i). y_i = w_i . x. Batched variants through BLAS average
 * the updates over mini-batches of `batch` rows (1: the classic online rule). */
soma_status soma_hebb_epoch(soma_hebb_kind kind, float *W, int k, int d, const float *X, int n,
                            int batch, float lr);
/* The `hebb` rule (soma_rule_hebb_new, --rule hebb): for a chain of dense layers with
 * parameter-free layers between them (refused otherwise, SOMA_ERR_ARG naming the layer), every
 * dense layer below the last learns by o->hebb on its own input, y = W x (the bias is left
 * alone: its grad is 0), and the last (the read-out) by the delta rule: the loss's gradient for
 * its own parameters only. A hidden weight's grad is minus the rule's batched step over lr,
 * so plain SGD (no momentum, no weight decay) at learning rate lr applies exactly
 * soma_hebb_epoch's step on the batch (batch = n), for Oja and GHA at lr / s with s the
 * batch's mean ||x||^2 (normalised as NLMS: stable for lr < 1 whatever the input's scale;
 * competitive learning unscaled); other optimizers rescale it as usual. Inputs
 * are used as given (centre them for PCA). No state of its own beyond scratch. */

// --- Rao & Ballard's hierarchical predictive coding (src/learn/rao_ballard.c) ------------

/* Two-level generative model of image patches: r1 = causes of level 1 [k1], predicting the
 * patch through U1 [d, k1] (x ~ f(U1 r1)); r2 [k2] predicting r1 through U2 [k1, k2]. For each
 * patch, r1 and r2 settle by gradient descent on the energy
 * E = |x - U1 r1|^2 / s1 + |r1 - U2 r2|^2 / s2 + alpha |r|^2 (Gaussian prior; or sparse),
 * with bottom-up errors and top-down predictions, then U1 and U2 take a Hebbian-like step
 * (error x cause). */
typedef struct soma_rb_opts {
    int k1, k2;          /* causes at each level */
    int infer_steps;     /* settling steps a patch (0: 50) */
    float infer_rate;    /* (0: 0.05) */
    float lr;            /* weight learning rate */
    float s1, s2;        /* variances of the two levels' errors (0: 1) */
    float prior;         /* weight of the L1 (sparse) prior on the causes */
    int batch, steps;
    uint64_t seed;
} soma_rb_opts;
typedef struct soma_rb {
    int d, k1, k2;
    float *U1, *U2; /* [d, k1], [k1, k2] */
} soma_rb;
/* Learns on patches X [n, d]; *err1 and *err2 (may be NULL) receive the last batch's mean
 * squared prediction errors at each level. */
soma_status soma_rb_train(const float *X, int n, int d, const soma_rb_opts *o,
                          soma_progress *progress, soma_rb *out, double *err1, double *err2);
void soma_rb_free(soma_rb *m);
/* The pieces of soma_rb_train, for callers that drive the loop (learning curves) and for
 * tests. Level-1 causes use the identity f; the weight step is U1 += lr (2/s1) E1' R1 / n,
 * U2 += lr (2/s2) E2' R2 / n at the settled causes (error x cause), then every column of U1 and
 * U2 is rescaled to unit norm (which also keeps inference at o->infer_rate stable). Inference
 * starts from r = 0 and takes o->infer_steps proximal gradient steps on E (the L1 prior by soft
 * thresholding). SOMA_ERR_ARG on bad sizes or options. */
/* Allocates U1, U2 (unit-norm Gaussian columns from o->seed) for patches of d values. */
soma_status soma_rb_init(soma_rb *m, int d, const soma_rb_opts *o);
/* Scratch floats soma_rb_infer / soma_rb_step need for a batch of n. */
size_t soma_rb_work_size(const soma_rb *m, int n);
/* Settles the causes of X [n, d]: R1 [n, k1], R2 [n, k2] written; energy (may be NULL)
 * receives infer_steps + 1 values, the batch's mean E before each step and after the last.
 * work: soma_rb_work_size(m, n) floats, or NULL (allocated for the call). */
soma_status soma_rb_infer(const soma_rb *m, const soma_rb_opts *o, const float *X, int n,
                          float *R1, float *R2, double *energy, float *work);
/* One learning step on the batch X [n, d]: settle, then the weight step. *err1, *err2 (may be
 * NULL): mean squared prediction errors per element, |x - U1 r1|^2 / d and |r1 - U2 r2|^2 / k1,
 * at the settled causes before the weight step. work as for soma_rb_infer. */
soma_status soma_rb_step(soma_rb *m, const soma_rb_opts *o, const float *X, int n, float *work,
                         double *err1, double *err2);

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

// --- variational autoencoder (src/learn/vae.c) ------------------------------------------------
//
// Kingma & Welling's VAE: an encoder net maps x [D] to the mean and log-variance of q(z|x)
// (its output [2L]: L means, then L log-variances), z = mu + exp(lv / 2) eps with eps ~ N(0, I)
// drawn from the VAE's own rng, and a decoder net maps z [L] to the parameters of p(x|z). The
// loss of a batch is the negative ELBO, the mean over its n rows of
//     NLL(x | decoder(z)) + beta_eff * KL(q(z|x) || N(0, I)),
//     KL = 1/2 sum_j (mu_j^2 + exp(lv_j) - 1 - lv_j),
// with the NLL summed over the D values of a row:
//   bernoulli  decoder output logits l [D] (data in [0, 1]): softplus(l) - x l
//   gaussian   output the mean m [D] with a fixed log-variance v (gauss_logvar), or (learn_var)
//              [2D]: D means, then D log-variances v: 1/2 ((x - m)^2 exp(-v) + v + log 2 pi)
//   poisson    output log-rates r [D] (counts): exp(r) - x r + lgamma(x + 1)
// beta_eff = beta * min(1, (steps + 1) / warmup) ramps the KL in over `warmup` steps (0: none).
// Each net is built from its hidden spec with the last layer appended (encoder: "fc<2L>",
// decoder: "fc<D>" or "fc<2D>"); gradients run through the nets' own backward ops, and each
// net has its own optimizer (vae_opts.optim, learning rate lr). A step allocates nothing
// (buffers for max_batch rows are reserved at creation).
//
//     soma_vae_opts o = soma_vae_opts_default();
//     o.latent = 16;
//     soma_vae *v;
//     SOMA_TRY(soma_vae_new(&v, &o, soma_shape1(784)));
//     SOMA_TRY(soma_vae_train(v, data, 5, 128, NULL));
//     SOMA_TRY(soma_vae_sample(v, 64, images));          // [64, 784] probabilities
//     soma_vae_free(v);
//
// A soma_vae is used by one thread at a time; results do not depend on the thread count.

typedef enum soma_vae_lik {
    SOMA_VAE_BERNOULLI = 0,
    SOMA_VAE_GAUSSIAN = 1,
    SOMA_VAE_POISSON = 2,
    SOMA_VAE_LIK_COUNT
} soma_vae_lik;
const char *soma_vae_lik_name(soma_vae_lik k);                     /* "bernoulli", "gaussian", "poisson" */
soma_status soma_vae_lik_parse(const char *name, soma_vae_lik *k);

typedef struct soma_vae_opts {
    int latent;              /* L (default 32; 1..4096) */
    const char *enc_hidden;  /* encoder body before the last layer (default "fc400,relu"; "" none) */
    const char *dec_hidden;  /* decoder body (NULL: the same as enc_hidden) */
    soma_vae_lik lik;        /* (default bernoulli) */
    int learn_var;           /* gaussian: the decoder also outputs log-variances (default 0) */
    float gauss_logvar;      /* gaussian with a fixed variance: its log (default 0) */
    float beta;              /* KL weight (default 1; >= 0) */
    long warmup;             /* KL warm-up steps (default 0: none) */
    soma_optim_config optim; /* (default Adam) */
    float lr;                /* (default 1e-3) */
    int max_batch;           /* rows a step, encode, decode or sample call handles at once
                                (default 256; larger calls run in chunks, steps are refused) */
    uint64_t seed;           /* weights, noise, shuffling (default 1) */
} soma_vae_opts;
soma_vae_opts soma_vae_opts_default(void);

/* The loss of a step, means over the batch's rows. */
typedef struct soma_vae_loss {
    double loss; /* rec + beta_eff * kl */
    double rec;  /* reconstruction NLL */
    double kl;
    double beta; /* beta_eff of the step */
} soma_vae_loss;

typedef struct soma_vae soma_vae; /* opaque */
/* A VAE for samples of shape in (flattened to D values). SOMA_ERR_ARG on bad options (latent,
 * beta, lr, max_batch out of range, an unknown likelihood) with the field named; SOMA_ERR_PARSE
 * on a bad hidden spec. */
soma_status soma_vae_new(soma_vae **out, const soma_vae_opts *o, soma_shape in);
void soma_vae_free(soma_vae *v);
/* An independent copy (values copied, rng state copied) without an optimizer: a frozen
 * generator. soma_vae_step and soma_vae_train refuse it (SOMA_ERR_ARG). */
soma_status soma_vae_clone(const soma_vae *v, soma_vae **out);
/* Copies src's parameter values into dst (same options and shape; SOMA_ERR_SHAPE otherwise). */
soma_status soma_vae_copy_values(soma_vae *dst, const soma_vae *src);
/* The negative ELBO of x [n, D] (n <= max_batch) and its gradient, accumulated into the zeroed
 * grads of both nets (no optimizer step). eps [n, L]: the reparameterisation noise (NULL: drawn
 * from the VAE's rng). *parts may be NULL. Exposed for tests and for callers with their own
 * update. */
soma_status soma_vae_grad(soma_vae *v, const float *x, int n, const float *eps, soma_vae_loss *parts);
/* One training step on x [n, D] (1 <= n <= max_batch): soma_vae_grad, then both optimizers. */
soma_status soma_vae_step(soma_vae *v, const float *x, int n, soma_vae_loss *parts);
/* epochs over d in shuffled mini-batches of `batch` rows (<= max_batch), drawn from the VAE's
 * rng. last (may be NULL) receives the mean loss of the last epoch. SOMA_ERR_SHAPE when d's
 * samples are not D values. */
soma_status soma_vae_train(soma_vae *v, const soma_dataset *d, int epochs, int batch, soma_vae_loss *last);
/* The posterior means mu [n, L] (and log-variances lv [n, L], may be NULL) of x [n, D]. */
soma_status soma_vae_encode(soma_vae *v, const float *x, int n, float *mu, float *lv);
/* The decoder's means of z [n, L] into out [n, D]: probabilities (bernoulli), means
 * (gaussian), rates (poisson). */
soma_status soma_vae_decode(soma_vae *v, const float *z, int n, float *out);
/* n samples from the prior, decoded to means: out [n, D]. Draws from the VAE's rng. */
soma_status soma_vae_sample(soma_vae *v, int n, float *out);
/* The nets (borrowed; for tests, checkpoints, analysis). */
soma_net *soma_vae_encoder(soma_vae *v);
soma_net *soma_vae_decoder(soma_vae *v);
int soma_vae_latent(const soma_vae *v);
size_t soma_vae_dim(const soma_vae *v);
/* Bytes held: both nets' parameters and grads, optimizer state, activation buffers, scratch. */
size_t soma_vae_memory(const soma_vae *v);

#ifdef __cplusplus
}
#endif
#endif
