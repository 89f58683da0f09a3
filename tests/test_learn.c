// The training loop and its rules: data-parallel slices under any thread grant, hooks, losses
// (classification, regression, per-position), validation splits, logs, trainable flags.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "scratch.h"
#include "soma/soma.h"

// --- data-parallel slices ----------------------------------------------------------------

/* Two epochs of data-parallel training with 2 replicas (threads = 2) on a small conv net
 * (big = 0: batch 50, slices of 25) or on a dense net whose GEMMs are large enough for the
 * BLAS to thread (big = 1: 256 features, batch 256); returns the final flat parameters
 * (caller frees). */
static float *dp_train_(int data_parallel, int big, size_t *n) {
    soma_dataset *d = NULL;
    float *out = NULL;
    soma_net *net = NULL;
    soma_optim *o = NULL;
    soma_rule *r = NULL;
    soma_set_threads(2);
    if (soma_dataset_synthetic("gauss", big ? 1024 : 300, big ? 256 : 64, 3, 4.0f, 5, &d) != SOMA_OK) return NULL;
    if (!big) d->shape = soma_shape3(1, 8, 8);
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_SGD);
    oc.momentum = 0.9f;
    soma_train_config c = soma_train_defaults();
    c.epochs = 2;
    c.batch = big ? 256 : 50;
    c.sched.lr = 0.05f;
    c.quiet = 1;
    c.data_parallel = data_parallel;
    soma_train_log log = {0};
    const char *spec = big ? "fc256,relu,fc3" : "conv3x3x4p1,relu,maxpool2,fc3";
    soma_shape in = big ? soma_shape1(256) : soma_shape3(1, 8, 8);
    if (soma_net_new(&net, spec, in, 7) == SOMA_OK &&
        soma_optim_new(&o, net, &oc) == SOMA_OK && soma_rule_backprop_new(&r, SOMA_LOSS_XENT) == SOMA_OK &&
        soma_train_classifier(net, r, o, d, NULL, &c, &log) == SOMA_OK) {
        float *v = soma_net_flat_values(net, n);
        out = malloc(*n * sizeof *out);
        if (out) memcpy(out, v, *n * sizeof *out);
    } else {
        fprintf(stderr, "dp_train_: %s\n", soma_errmsg());
    }
    soma_train_log_free(&log);
    soma_rule_free(r);
    soma_optim_free(o);
    soma_net_free(net);
    soma_dataset_free(d);
    return out;
}

/* The child of test_dp_thread_grant: trains under whatever OpenMP grants and writes the bits. */
/* Case 0: conv net, sliced; 1: dense net, sliced; 2: dense net under the default policy (one
 * net, its GEMMs threaded inside the BLAS). */
static int dp_mode_(int c) { return c == 2 ? 1 : 2; }

static int dp_child_(const char *path, int c) {
    alarm(60); /* the old code never finished here: the BLAS waited for threads never granted */
    size_t n = 0;
    float *v = dp_train_(dp_mode_(c), c >= 1, &n);
    if (!v) return 1;
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(v, sizeof *v, n, f) == n;
    if (f) fclose(f);
    free(v);
    return ok ? 0 : 1;
}

/* Every slice trains whatever thread count OpenMP grants: the same run under OMP_THREAD_LIMIT=1
 * (a child process: the limit is read at start-up) gives the same bits as with both threads,
 * and both follow the single-net run to rounding -- for a conv net, and for a dense net whose
 * GEMMs the BLAS threads (which hung when asked for more threads than OpenMP grants). Without
 * OpenMP the child and this process run the same single-threaded code, and the single-net
 * comparison checks that slice 1 trained. */
static void test_dp_thread_grant(const char *self) {
    for (int c = 0; c < 3; c++) {
        const int big = c >= 1;
        size_t n_full = 0, n_one = 0;
        float *full = dp_train_(dp_mode_(c), big, &n_full), *one = dp_train_(0, big, &n_one);
        CHECK(full && one && n_full == n_one);
        if (full && one) CHECK_CLOSE("data-parallel (2 slices) vs one net", full, one, n_full, 1e-4f, 1e-3f);
        char out[512];
        snprintf(out, sizeof out, "%s", scratch_path("dp_child.bin"));
        unlink(out);
        double t0 = soma_now();
        pid_t pid = fork();
        if (pid == 0) {
            setenv("OMP_THREAD_LIMIT", "1", 1);
            char cs[8];
            snprintf(cs, sizeof cs, "%d", c);
            execl(self, self, "--dp-child", out, cs, (char *)NULL);
            _exit(127);
        }
        int status = 0;
        CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        printf("training under OMP_THREAD_LIMIT=1 (%s): %.2f s\n",
               c == 0 ? "conv, sliced" : c == 1 ? "dense 256, sliced" : "dense 256, one net", soma_now() - t0);
        float *lim = full ? calloc(n_full, sizeof *lim) : NULL;
        FILE *f = fopen(out, "rb");
        CHECK(f && lim && fread(lim, sizeof *lim, n_full, f) == n_full);
        if (f) fclose(f);
        if (lim && full) CHECK(memcmp(lim, full, n_full * sizeof *lim) == 0); /* bit for bit */
        if (lim && full) CHECK_CLOSE("OMP_THREAD_LIMIT=1 vs full grant", lim, full, n_full, 0.f, 0.f);
        free(lim);
        free(full);
        free(one);
    }
}

// --- helpers ---------------------------------------------------------------------------

/* A data set from float x [n, dx] and either int labels [n, ly] (ly > 0) or float targets
 * [n, per-sample shape tdims] (ly == 0). */
static soma_dataset *make_set_(const float *x, int n, int dx, const int *y, int ly, const float *t, int tnd,
                               const int *tdims) {
    soma_array ax = {0}, ay = {0};
    ax.dtype = SOMA_DTYPE_F32;
    ax.ndim = 2;
    ax.shape[0] = n;
    ax.shape[1] = dx;
    ax.n = (size_t)n * dx;
    ax.data = (void *)x;
    if (ly > 0) {
        ay.dtype = SOMA_DTYPE_I32;
        ay.ndim = ly > 1 ? 2 : 1;
        ay.shape[0] = n;
        ay.shape[1] = ly;
        ay.n = (size_t)n * ly;
        ay.data = (void *)y;
    } else {
        ay.dtype = SOMA_DTYPE_F32;
        ay.ndim = 1 + tnd;
        ay.shape[0] = n;
        ay.n = (size_t)n;
        for (int i = 0; i < tnd; i++) {
            ay.shape[1 + i] = tdims[i];
            ay.n *= (size_t)tdims[i];
        }
        ay.data = (void *)t;
    }
    soma_dataset *d = NULL;
    CHECK_OK(soma_dataset_from_arrays(&ax, &ay, "test", &d));
    return d;
}

static soma_train_config cfg_(int epochs, int batch, float lr) {
    soma_train_config c = soma_train_defaults();
    c.epochs = epochs;
    c.batch = batch;
    c.sched.lr = lr;
    c.quiet = 1;
    return c;
}

static soma_optim *sgd_(soma_net *net) {
    soma_optim *o = NULL;
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_SGD);
    CHECK_OK(soma_optim_new(&o, net, &oc));
    return o;
}

// --- hooks -------------------------------------------------------------------------------

typedef struct hook_state {
    long after_grad, after_step, next_step;
    int epochs_seen[8], n_epoch_end, task, task_calls, task_after_epochs;
    const soma_dataset *task_data;
    int zero_grads;     /* after_grad zeroes the gradients */
    float add_loss;     /* after_grad adds this to the loss (a consolidation penalty's value) */
    int fail_at_step;   /* after_step fails at this step (-1: never) */
    float *snapshot;    /* parameters as after_grad saw them */
    size_t n;
    int moved, not_moved, lr_ok;
    long saved_counter; /* what save/load carry */
} hook_state;

static soma_status h_after_grad_(void *u, soma_net *net, long step, float *loss) {
    hook_state *h = u;
    h->after_grad++;
    if (step != h->next_step) return soma_error(SOMA_ERR_INTERNAL, "after_grad: step %ld, want %ld", step, h->next_step);
    size_t n;
    float *g = soma_net_flat_grads(net, &n);
    if (h->zero_grads) memset(g, 0, n * sizeof *g);
    *loss += h->add_loss;
    float *v = soma_net_flat_values(net, &h->n);
    if (!h->snapshot) h->snapshot = malloc(h->n * sizeof(float));
    memcpy(h->snapshot, v, h->n * sizeof(float));
    return SOMA_OK;
}

static soma_status h_after_step_(void *u, soma_net *net, long step, float lr) {
    hook_state *h = u;
    h->after_step++;
    h->next_step = step + 1;
    float *v = soma_net_flat_values(net, NULL);
    if (memcmp(v, h->snapshot, h->n * sizeof(float)) != 0) h->moved++;
    else h->not_moved++;
    h->lr_ok += lr == 0.05f;
    if (step == h->fail_at_step) return soma_error(SOMA_ERR_ARG, "hook: stop at step %ld", step);
    return SOMA_OK;
}

static soma_status h_epoch_end_(void *u, soma_net *net, int epoch, const soma_train_log *log) {
    hook_state *h = u;
    (void)net;
    if (h->n_epoch_end < 8 && isfinite(log->train_loss[epoch])) h->epochs_seen[h->n_epoch_end] = epoch;
    h->n_epoch_end++;
    return SOMA_OK;
}

static soma_status h_task_end_(void *u, soma_net *net, int task, const soma_dataset *train) {
    hook_state *h = u;
    (void)net;
    h->task = task;
    h->task_calls++;
    h->task_data = train;
    h->task_after_epochs = h->n_epoch_end;
    return SOMA_OK;
}

static soma_status h_save_(void *u, void **data, size_t *size) {
    hook_state *h = u;
    long *p = soma_alloc(1, sizeof *p);
    if (!p) return SOMA_ERR_NOMEM;
    *p = h->after_step;
    *data = p;
    *size = sizeof *p;
    return SOMA_OK;
}

static soma_status h_load_(void *u, const void *data, size_t size) {
    hook_state *h = u;
    if (size != sizeof(long)) return soma_error(SOMA_ERR_FORMAT, "hooks: bad state size %zu", size);
    memcpy(&h->saved_counter, data, sizeof(long));
    h->after_step = h->saved_counter;
    return SOMA_OK;
}

static soma_train_hooks hooks_(hook_state *h) {
    soma_train_hooks k = {h, h_after_grad_, h_after_step_, h_epoch_end_, h_task_end_, NULL, NULL};
    return k;
}

/* Each hook runs at its point: after_grad on the complete (slice-summed) gradients before the
 * optimizer -- zeroing them there freezes the net, and the penalty it adds shows in the loss;
 * after_step after the parameters moved; epoch_end per epoch; task_end once, after the last. */
static void test_hooks(void) {
    soma_dataset *d = NULL;
    CHECK_OK(soma_dataset_synthetic("gauss", 200, 6, 3, 3.0f, 2, &d));
    if (!d) return;
    soma_set_threads(2); /* data-parallel: 2 slices of each batch of 50 */
    for (int zero = 0; zero < 2; zero++) {
        soma_net *net = NULL;
        CHECK_OK(soma_net_new(&net, "fc8,tanh,fc3", soma_shape1(6), 4));
        soma_optim *o = sgd_(net);
        soma_rule *r = NULL;
        CHECK_OK(soma_rule_backprop_new(&r, SOMA_LOSS_XENT));
        hook_state h;
        memset(&h, 0, sizeof h);
        h.zero_grads = zero;
        h.add_loss = zero ? 1.0f : 0.f;
        h.fail_at_step = -1;
        soma_train_config c = cfg_(3, 50, 0.05f);
        c.hooks = hooks_(&h);
        c.task = 5;
        size_t n = 0;
        float *v0 = soma_net_flat_values(net, &n);
        float *before = malloc(n * sizeof(float));
        memcpy(before, v0, n * sizeof(float));
        soma_train_log log = {0};
        CHECK_OK(soma_train(net, r, o, d, NULL, &c, &log));
        CHECK(h.after_grad == 12 && h.after_step == 12 && h.lr_ok == 12);
        CHECK(h.n_epoch_end == 3 && h.epochs_seen[0] == 0 && h.epochs_seen[1] == 1 && h.epochs_seen[2] == 2);
        CHECK(h.task_calls == 1 && h.task == 5 && h.task_data == d && h.task_after_epochs == 3);
        if (zero) {
            /* Nothing moved, so every batch saw the initial net: the logged loss is the full
             * set's cross-entropy plus the penalty. */
            CHECK(h.moved == 0 && memcmp(before, soma_net_flat_values(net, NULL), n * sizeof(float)) == 0);
            float acc, loss;
            CHECK_OK(soma_evaluate(net, d, 1000, &acc, &loss));
            CHECK(fabsf(log.train_loss[2] - (loss + 1.0f)) < 1e-5f);
        } else {
            CHECK(h.moved == 12 && h.not_moved == 0);
        }
        /* A hook's error stops the run with that error. */
        free(h.snapshot);
        memset(&h, 0, sizeof h);
        h.fail_at_step = 2;
        CHECK_FAILS(soma_train(net, r, o, d, NULL, &c, &log), SOMA_ERR_ARG);
        CHECK(h.after_step == 3 && h.n_epoch_end == 0);
        free(before);
        free(h.snapshot);
        soma_train_log_free(&log);
        soma_rule_free(r);
        soma_optim_free(o);
        soma_net_free(net);
    }
    soma_dataset_free(d);
}

// --- a rule with state and a predict of its own --------------------------------------------

typedef struct counting_impl {
    long steps;
} counting_impl;

static soma_status counting_step_(soma_rule *r, soma_net *net, const float *x, const soma_target *t, int n,
                                  float *loss, int *correct) {
    ((counting_impl *)r->impl)->steps++;
    const int out = (int)soma_shape_size(soma_net_out_shape(net));
    soma_net_zero_grad(net);
    const float *y;
    SOMA_TRY(soma_net_forward(net, x, n, SOMA_MODE_TRAIN, &y));
    SOMA_TRY(soma_rule_loss(r, y, out, t, n, loss, correct));
    return soma_net_backward(net, r->dy, n);
}

/* Classifies by the smallest output (a stand-in for forward-forward's goodness). */
static soma_status counting_predict_(soma_rule *r, soma_net *net, const float *x, int n, int positions, int *pred) {
    (void)r;
    const float *y;
    SOMA_TRY(soma_net_forward(net, x, n, SOMA_MODE_EVAL, &y));
    const int K = (int)soma_shape_size(soma_net_out_shape(net)) / positions;
    for (int i = 0; i < n * positions; i++) {
        int best = 0;
        for (int k = 1; k < K; k++)
            if (y[i * K + k] < y[i * K + best]) best = k;
        pred[i] = best;
    }
    return SOMA_OK;
}

static soma_status counting_save_(const soma_rule *r, void **data, size_t *size) {
    long *p = soma_alloc(1, sizeof *p);
    if (!p) return SOMA_ERR_NOMEM;
    *p = ((const counting_impl *)r->impl)->steps;
    *data = p;
    *size = sizeof *p;
    return SOMA_OK;
}

static soma_status counting_load_(soma_rule *r, const void *data, size_t size) {
    if (size != sizeof(long)) return soma_error(SOMA_ERR_FORMAT, "counting: bad state");
    memcpy(&((counting_impl *)r->impl)->steps, data, sizeof(long));
    return SOMA_OK;
}

static void counting_destroy_(soma_rule *r) { soma_free(r->impl); }

static const soma_rule_ops counting_ops_ = {
    .name = "counting", .step = counting_step_, .destroy = counting_destroy_,
    .predict = counting_predict_, .save = counting_save_, .load = counting_load_,
};

static soma_rule *counting_new_(void) {
    soma_rule *r = soma_calloc(1, sizeof *r);
    r->ops = &counting_ops_;
    r->loss = SOMA_LOSS_XENT;
    r->impl = soma_calloc(1, sizeof(counting_impl));
    return r;
}

/* A rule's state and the hooks' state go into checkpoints as named sections and come back on
 * resume; evaluation classifies with the rule's predict, not the argmax. */
static void test_rule_state_and_predict(void) {
    soma_dataset *d = NULL;
    CHECK_OK(soma_dataset_synthetic("gauss", 120, 4, 3, 3.0f, 8, &d));
    if (!d) return;
    soma_net *net = NULL;
    CHECK_OK(soma_net_new(&net, "fc3", soma_shape1(4), 2));
    soma_optim *o = sgd_(net);
    soma_rule *r = counting_new_();
    hook_state h;
    memset(&h, 0, sizeof h);
    h.fail_at_step = -1;
    soma_train_config c = cfg_(2, 40, 0.05f);
    c.hooks = hooks_(&h);
    c.hooks.save = h_save_;
    c.hooks.load = h_load_;
    char ck[512];
    snprintf(ck, sizeof ck, "%s", scratch_path("rule.ckpt"));
    c.ckpt_path = ck;
    c.resume = 1;
    unlink(c.ckpt_path);
    soma_train_log log = {0};
    CHECK_OK(soma_train(net, r, o, d, d, &c, &log));
    CHECK(((counting_impl *)r->impl)->steps == 6);
    float first_loss[2] = {log.train_loss[0], log.train_loss[1]}, first_acc = log.test_acc[1];
    /* A fresh rule and fresh hooks resume from epoch 2 with the saved counts, then go on. */
    soma_rule *r2 = counting_new_();
    hook_state h2;
    memset(&h2, 0, sizeof h2);
    h2.fail_at_step = -1;
    h2.next_step = 6;
    c.hooks = hooks_(&h2);
    c.hooks.save = h_save_;
    c.hooks.load = h_load_;
    c.epochs = 4;
    CHECK_OK(soma_train(net, r2, o, d, d, &c, &log));
    CHECK(log.start_epoch == 2);
    CHECK(((counting_impl *)r2->impl)->steps == 12);
    CHECK(h2.saved_counter == 6 && h2.after_step == 12);
    /* the curves of the epochs before the resume come back from the checkpoint */
    CHECK(log.train_loss[0] == first_loss[0] && log.train_loss[1] == first_loss[1] && log.test_acc[1] == first_acc);
    CHECK(isfinite(log.train_loss[3]) && isfinite(log.test_acc[3]));
    /* resuming a finished run trains nothing and reports its final figures */
    float done_loss = log.train_loss[3], done_acc = log.test_acc[3];
    double done_sps = log.samples_per_second;
    CHECK_OK(soma_train(net, r2, o, d, d, &c, &log));
    CHECK(log.start_epoch == 4 && ((counting_impl *)r2->impl)->steps == 12);
    CHECK(log.train_loss[3] == done_loss && log.test_acc[3] == done_acc && fabs(log.samples_per_second - done_sps) < 1e-6 * done_sps);
    /* The figures use the rule's predict: accuracy by the smallest output. */
    float acc_rule, acc_argmax, loss;
    CHECK_OK(soma_evaluate_rule(net, r2, d, 50, &acc_rule, &loss));
    CHECK_OK(soma_evaluate(net, d, 50, &acc_argmax, NULL));
    const float *y;
    float *x = malloc(d->dim * d->n * sizeof *x);
    soma_dataset_batch(d, (int[]){0}, 1, x, NULL);
    int right = 0;
    for (int i = 0; i < d->n; i++) {
        soma_dataset_batch(d, &i, 1, x, NULL);
        CHECK_OK(soma_net_forward(net, x, 1, SOMA_MODE_EVAL, &y));
        int best = 0;
        for (int k = 1; k < 3; k++)
            if (y[k] < y[best]) best = k;
        right += best == d->y[i];
    }
    free(x);
    CHECK(fabsf(acc_rule - (float)right / d->n) < 1e-6f);
    printf("predict: accuracy by argmax %.3f, by the rule's argmin %.3f\n", acc_argmax, acc_rule);
    CHECK(acc_argmax > 0.6f && acc_rule < 0.2f); /* trained towards argmax, so argmin is mostly wrong */
    CHECK(fabsf(log.test_acc[3] - acc_rule) < 1e-6f);
    /* A checkpoint without the rule's section does not resume a rule that keeps state. */
    soma_rule *bp = NULL;
    CHECK_OK(soma_rule_backprop_new(&bp, SOMA_LOSS_XENT));
    soma_train_config c2 = cfg_(1, 40, 0.05f);
    c2.ckpt_path = scratch_path("plain.ckpt");
    unlink(c2.ckpt_path);
    CHECK_OK(soma_train(net, bp, o, d, NULL, &c2, &log));
    c2.resume = 1;
    c2.epochs = 2;
    CHECK_FAILS(soma_train(net, r2, o, d, NULL, &c2, &log), SOMA_ERR_FORMAT);
    CHECK(strstr(soma_errmsg(), "rule.counting") != NULL);
    soma_rule_free(bp);
    free(h.snapshot);
    free(h2.snapshot);
    soma_train_log_free(&log);
    soma_rule_free(r);
    soma_rule_free(r2);
    soma_optim_free(o);
    soma_net_free(net);
    soma_dataset_free(d);
}

// --- losses -------------------------------------------------------------------------------

/* Per-position cross-entropy: labels [n, T] against outputs [n, T, K]. The loss is the mean
 * over the n*T positions (checked against a double-precision sum here), its gradient matches
 * central differences, and a small sequence task trains. */
static void test_per_position_xent(void) {
    enum { N = 5, T = 3, K = 4, D = 6 };
    soma_net *net = NULL;
    CHECK_OK(soma_net_new(&net, "fc12", soma_shape1(D), 3));
    if (!net) return;
    soma_rule *r = NULL;
    CHECK_OK(soma_rule_backprop_new(&r, SOMA_LOSS_XENT));
    soma_rng g;
    soma_rng_seed(&g, 4, 0);
    float x[N * D];
    int lab[N * T];
    soma_rng_normal_fill(&g, x, N * D, 0.f, 1.f);
    for (int i = 0; i < N * T; i++) lab[i] = (i * 7 + 1) % K;
    soma_target t = {.labels = lab, .positions = T};
    float loss;
    int correct;
    CHECK_OK(soma_rule_step(r, net, x, &t, N, &loss, &correct));
    const float *y;
    CHECK_OK(soma_net_forward(net, x, N, SOMA_MODE_EVAL, &y));
    double want = 0;
    int right = 0;
    for (int i = 0; i < N * T; i++) {
        double m = y[i * K];
        int best = 0;
        for (int k = 1; k < K; k++)
            if (y[i * K + k] > m) m = y[i * K + k], best = k;
        double z = 0;
        for (int k = 0; k < K; k++) z += exp((double)y[i * K + k] - m);
        want += -((double)y[i * K + lab[i]] - m - log(z));
        right += best == lab[i];
    }
    want /= N * T;
    CHECK(fabs(loss - want) < 1e-5);
    CHECK(correct == right);
    /* gradients (filled by the step) against central differences of the step's loss */
    size_t nv = 0;
    soma_rule_step(r, net, x, &t, N, &loss, NULL);
    float *g0 = soma_net_flat_grads(net, &nv);
    float *grad = malloc(nv * sizeof *grad);
    memcpy(grad, g0, nv * sizeof *grad);
    double worst = 0;
    for (int k = 0; k < soma_net_n_params(net); k++) {
        soma_param *p = soma_net_param(net, k);
        float *gp = grad + (p->grad - soma_net_flat_grads(net, NULL));
        for (size_t i = 0; i < p->n; i += 5) {
            float keep = p->value[i], lp, lm;
            p->value[i] = keep + 1e-2f;
            soma_rule_step(r, net, x, &t, N, &lp, NULL);
            p->value[i] = keep - 1e-2f;
            soma_rule_step(r, net, x, &t, N, &lm, NULL);
            p->value[i] = keep;
            double num = ((double)lp - lm) / 2e-2, rel = fabs(num - gp[i]) / fmax(1e-3, fabs(num) + fabs(gp[i]));
            if (rel > worst) worst = rel;
        }
    }
    printf("per-position cross-entropy gradient: worst relative error %.2e\n", worst);
    CHECK(worst < 1e-2);
    free(grad);
    /* Labels [n, T] that 12 outputs do not split into: a shape error naming the positions. */
    soma_target t5 = {.labels = lab, .positions = 5};
    CHECK_FAILS(soma_rule_step(r, net, x, &t5, 1, &loss, NULL), SOMA_ERR_SHAPE);
    soma_rule_free(r);
    soma_net_free(net);

    /* A sequence task: position t's label is (class + t) mod 4, the class in the features. */
    soma_dataset *g4 = NULL;
    CHECK_OK(soma_dataset_synthetic("gauss", 600, 8, 4, 5.0f, 6, &g4));
    if (!g4) return;
    int *ys = malloc(600 * T * sizeof *ys);
    for (int i = 0; i < 600; i++)
        for (int s = 0; s < T; s++) ys[i * T + s] = (g4->y[i] + s) % 4;
    soma_dataset *seq = make_set_(g4->x_f32, 600, 8, ys, T, NULL, 0, NULL), *tr = NULL, *va = NULL;
    free(ys);
    if (!seq) return;
    CHECK(seq->y_len == T && seq->n_classes == 4);
    CHECK_OK(soma_dataset_split(seq, 0.25, 1, &tr, &va));
    CHECK_OK(soma_net_new(&net, "fc32,relu,fc12", soma_shape1(8), 1));
    CHECK_OK(soma_rule_backprop_new(&r, SOMA_LOSS_XENT));
    soma_optim *o = NULL;
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_ADAM);
    CHECK_OK(soma_optim_new(&o, net, &oc));
    soma_train_config c = cfg_(8, 32, 0.01f);
    soma_train_log log = {0};
    CHECK_OK(soma_train(net, r, o, tr, va, &c, &log));
    printf("per-position task: held-out accuracy %.4f over %d positions\n", log.test_acc[7], T);
    CHECK(log.test_acc[7] > 0.9f);
    soma_train_log_free(&log);
    soma_optim_free(o);
    soma_rule_free(r);
    soma_net_free(net);
    soma_dataset_free(tr);
    soma_dataset_free(va);
    soma_dataset_free(seq);
    soma_dataset_free(g4);
}

/* MSE regression on float targets of a per-sample shape [2, 3]: the loop recovers a linear
 * map, data-parallel or not, and reports no accuracy. */
static void test_regression(void) {
    enum { N = 400, D = 5, O = 6 };
    float *x = malloc(N * D * sizeof *x), *t = malloc(N * O * sizeof *t), W[O * D], bias[O];
    soma_rng g;
    soma_rng_seed(&g, 11, 0);
    soma_rng_normal_fill(&g, x, N * D, 0.f, 1.f);
    soma_rng_normal_fill(&g, W, O * D, 0.f, 0.5f);
    soma_rng_normal_fill(&g, bias, O, 0.f, 0.5f);
    for (int i = 0; i < N; i++)
        for (int o = 0; o < O; o++) {
            double v = bias[o];
            for (int j = 0; j < D; j++) v += (double)W[o * D + j] * x[i * D + j];
            t[i * O + o] = (float)v;
        }
    soma_dataset *d = make_set_(x, N, D, NULL, 0, t, 2, (int[]){2, 3});
    free(x);
    free(t);
    if (!d) return;
    CHECK(d->y == NULL && d->t_dim == O && soma_shape_eq(d->t_shape, soma_shape2(2, 3)));
    float *res[2] = {NULL, NULL};
    size_t n = 0;
    for (int dp = 0; dp < 2; dp++) {
        soma_set_threads(2);
        soma_net *net = NULL;
        CHECK_OK(soma_net_new(&net, "fc6", soma_shape1(D), 1));
        soma_rule *r = NULL;
        CHECK_OK(soma_rule_backprop_new(&r, SOMA_LOSS_MSE));
        soma_optim *o = sgd_(net);
        soma_train_config c = cfg_(40, 20, 0.1f);
        c.data_parallel = dp;
        soma_train_log log = {0};
        CHECK_OK(soma_train(net, r, o, d, d, &c, &log));
        CHECK(isnan(log.train_acc[39]) && isnan(log.test_acc[39]));
        CHECK(log.test_loss[39] < 1e-6f);
        printf("regression (data-parallel %d): held-out MSE %.3g\n", dp, log.test_loss[39]);
        soma_param *w = soma_net_param(net, 0), *b = soma_net_param(net, 1);
        CHECK_CLOSE("regression weight", w->value, W, O * D, 1e-3f, 1e-3f);
        CHECK_CLOSE("regression bias", b->value, bias, O, 1e-3f, 1e-3f);
        float *v = soma_net_flat_values(net, &n);
        res[dp] = malloc(n * sizeof(float));
        memcpy(res[dp], v, n * sizeof(float));
        /* xent on float targets and mse on labels are refused with a hint */
        soma_rule *xr = NULL;
        CHECK_OK(soma_rule_backprop_new(&xr, SOMA_LOSS_XENT));
        CHECK_FAILS(soma_train(net, xr, o, d, NULL, &c, &log), SOMA_ERR_ARG);
        CHECK(strstr(soma_errmsg(), "mse") != NULL);
        soma_rule_free(xr);
        soma_train_log_free(&log);
        soma_optim_free(o);
        soma_rule_free(r);
        soma_net_free(net);
    }
    if (res[0] && res[1]) CHECK_CLOSE("regression: data-parallel vs one net", res[1], res[0], n, 1e-5f, 1e-4f);
    free(res[0]);
    free(res[1]);
    soma_dataset *cls = NULL;
    CHECK_OK(soma_dataset_synthetic("gauss", 50, D, 2, 1.0f, 1, &cls));
    soma_net *net = NULL;
    CHECK_OK(soma_net_new(&net, "fc6", soma_shape1(D), 1));
    soma_rule *r = NULL;
    CHECK_OK(soma_rule_backprop_new(&r, SOMA_LOSS_MSE));
    soma_optim *o = sgd_(net);
    soma_train_config c = cfg_(1, 10, 0.1f);
    soma_train_log log = {0};
    CHECK_FAILS(soma_train(net, r, o, cls, NULL, &c, &log), SOMA_ERR_ARG);
    CHECK(strstr(soma_errmsg(), "float targets") != NULL);
    soma_train_log_free(&log);
    soma_optim_free(o);
    soma_rule_free(r);
    soma_net_free(net);
    soma_dataset_free(cls);
    soma_dataset_free(d);
}

// --- data: splits -------------------------------------------------------------------------

/* A validation split is a shuffled partition: every sample once, labels and float targets
 * travelling with their inputs; bad fractions are refused. */
static void test_split(void) {
    enum { N = 100 };
    float x[N], t[N * 2];
    int y[N];
    for (int i = 0; i < N; i++) x[i] = (float)i, y[i] = i % 3, t[2 * i] = (float)i, t[2 * i + 1] = -(float)i;
    for (int kind = 0; kind < 2; kind++) {
        soma_dataset *d = kind ? make_set_(x, N, 1, NULL, 0, t, 1, (int[]){2}) : make_set_(x, N, 1, y, 1, NULL, 0, NULL);
        soma_dataset *tr = NULL, *va = NULL;
        if (!d) return;
        CHECK_OK(soma_dataset_split(d, 0.2, 7, &tr, &va));
        if (!tr || !va) return;
        CHECK(va->n == 20 && tr->n == 80);
        int seen[N] = {0}, ok = 1, moved = 0;
        for (int part = 0; part < 2; part++) {
            const soma_dataset *s = part ? tr : va;
            for (int i = 0; i < s->n; i++) {
                int id = (int)s->x_f32[i];
                seen[id]++;
                moved += part == 0 && id != i;
                if (kind == 0) ok &= s->y[i] == id % 3;
                else ok &= s->t[2 * i] == (float)id && s->t[2 * i + 1] == -(float)id;
            }
        }
        for (int i = 0; i < N; i++) ok &= seen[i] == 1;
        CHECK(ok && moved > 0);
        soma_dataset_free(tr);
        soma_dataset_free(va);
        CHECK_FAILS(soma_dataset_split(d, 0.0, 7, &tr, &va), SOMA_ERR_ARG);
        CHECK_FAILS(soma_dataset_split(d, 1.0, 7, &tr, &va), SOMA_ERR_ARG);
        CHECK_FAILS(soma_dataset_split(d, 0.001, 7, &tr, &va), SOMA_ERR_ARG);
        CHECK(tr == NULL && va == NULL);
        soma_dataset_free(d);
    }
    CHECK(soma_dataset_spec_has_test("fmnist") == 1);
    CHECK(soma_dataset_spec_has_test("npy:a.npy,b.npy") == 0);
    CHECK(soma_dataset_spec_has_test("npy:a.npy,b.npy;c.npy,d.npy") == 1);
}

// --- logs, epoch lines, frozen parameters ---------------------------------------------------

/* cfg.log_path gets one JSON line per epoch with the epoch's figures; with stderr not a
 * terminal, one plain line per epoch goes there. A frozen parameter stays bit for bit. */
static void test_logs_and_frozen(void) {
    soma_dataset *d = NULL;
    CHECK_OK(soma_dataset_synthetic("gauss", 90, 4, 3, 3.0f, 3, &d));
    if (!d) return;
    soma_net *net = NULL;
    CHECK_OK(soma_net_new(&net, "fc5,relu,fc3", soma_shape1(4), 2));
    soma_param *frozen = soma_net_param(net, 0);
    frozen->trainable = 0;
    float keep[20];
    memcpy(keep, frozen->value, sizeof keep);
    float b0 = soma_net_param(net, 1)->value[0];
    soma_optim *o = NULL;
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_ADAMW);
    CHECK_OK(soma_optim_new(&o, net, &oc));
    soma_rule *r = NULL;
    CHECK_OK(soma_rule_backprop_new(&r, SOMA_LOSS_XENT));
    soma_train_config c = cfg_(3, 30, 0.01f);
    c.quiet = 0;
    c.label = "logtest";
    char log_path[512], err_path[512];
    snprintf(log_path, sizeof log_path, "%s", scratch_path("log.jsonl"));
    snprintf(err_path, sizeof err_path, "%s", scratch_path("stderr.txt"));
    c.log_path = log_path;
    unsetenv("SOMA_PROGRESS");
    fflush(stderr);
    int saved = dup(2);
    FILE *errf = fopen(err_path, "w");
    dup2(fileno(errf), 2);
    soma_train_log log = {0};
    soma_status st = soma_train(net, r, o, d, d, &c, &log);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    fclose(errf);
    CHECK_OK(st);
    CHECK(memcmp(keep, frozen->value, sizeof keep) == 0 && soma_net_param(net, 1)->value[0] != b0);
    void *buf;
    size_t len;
    CHECK_OK(soma_file_read(log_path, 0, &buf, &len));
    char *text = soma_alloc(len + 1, 1);
    memcpy(text, buf, len);
    text[len] = '\0';
    soma_free(buf);
    int lines = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        int ep = 0;
        double tl = NAN, ha = NAN;
        const char *p = strstr(line, "\"train_loss\":"), *q = strstr(line, "\"heldout_accuracy\":");
        CHECK(sscanf(line, "{\"epoch\":%d", &ep) == 1 && ep == lines + 1);
        CHECK(p && sscanf(p + 13, "%lf", &tl) == 1 && fabs(tl - log.train_loss[lines]) < 1e-6);
        CHECK(q && sscanf(q + 19, "%lf", &ha) == 1 && fabs(ha - log.test_acc[lines]) < 1e-6);
    }
    CHECK(lines == 3);
    soma_free(text);
    CHECK_OK(soma_file_read(err_path, 0, &buf, &len));
    text = soma_alloc(len + 1, 1);
    memcpy(text, buf, len);
    text[len] = '\0';
    soma_free(buf);
    lines = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        char want[32];
        snprintf(want, sizeof want, "logtest: epoch %d/3: ", lines + 1);
        CHECK(strncmp(line, want, strlen(want)) == 0 && strstr(line, "heldout_acc") != NULL);
    }
    CHECK(lines == 3);
    soma_free(text);
    soma_train_log_free(&log);
    soma_rule_free(r);
    soma_optim_free(o);
    soma_net_free(net);
    soma_dataset_free(d);
}

// --- soma train on the user's own npy data ----------------------------------------------------

/* Runs the soma binary with args; returns its exit code; stderr goes to err_path. */
static int run_soma_(const char *args, const char *err_path) {
    const char *bin = getenv("SOMA_BINARY_DIR");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s/soma' %s >/dev/null 2>'%s'", bin ? bin : ".", args, err_path);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static cJSON *results_(const char *dir) {
    char path[600];
    snprintf(path, sizeof path, "%s/results.json", dir);
    cJSON *j = NULL;
    CHECK_OK(soma_json_read(path, &j));
    return j;
}

/* The figures of a results.json: under "ours" where it has one, else at the top. */
static const cJSON *ours_(const cJSON *root) {
    const cJSON *ours = cJSON_GetObjectItemCaseSensitive(root, "ours");
    return ours ? ours : root;
}

static double num_(const cJSON *root, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ours_(root), key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *on_(const cJSON *root, const char *key) {
    const cJSON *on = cJSON_GetObjectItemCaseSensitive(ours_(root), "measured_on");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(on, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static int has_(const cJSON *root, const char *key) { return cJSON_GetObjectItemCaseSensitive(ours_(root), key) != NULL; }

static char *slurp_(const char *path) {
    void *buf;
    size_t n;
    if (soma_file_read(path, 0, &buf, &n) != SOMA_OK) return NULL;
    char *s = malloc(n + 1);
    memcpy(s, buf, n);
    s[n] = '\0';
    soma_free(buf);
    return s;
}

/* `soma ARGS --out OUT` (ARGS printf-style, stderr to err): checks exit 0, returns OUT's
 * results.json (NULL, a failed check, when there is none). */
static cJSON *train_ok_(const char *err, const char *out, const char *fmt, ...) {
    char args[3000];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof args) snprintf(args + n, sizeof args - (size_t)n, " --out '%s'", out);
    CHECK(run_soma_(args, err) == 0);
    return results_(out);
}

/* `soma ARGS` (printf-style, stderr to err) is bad input: checks exit 2 and a message holding
 * word and also (unless NULL) word2. */
static void train_fails_(const char *err, const char *word, const char *word2, const char *fmt, ...) {
    char args[3000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    CHECK(run_soma_(args, err) == 2);
    char *msg = slurp_(err);
    CHECK(msg && strstr(msg, word) && (!word2 || strstr(msg, word2)));
    free(msg);
}

/* Defect 8: `soma train --data npy:X,Y` without test files holds out a validation split by
 * default and reports val_* figures, never test figures measured on the training set; every
 * figure names its split. --loss mse trains a regression on float y; integer y [N,T] trains
 * per-position labels. Bad values exit 2 naming the problem. */
static void test_cli_train(void) {
    enum { N = 400, D = 6, T = 2 };
    soma_dataset *g = NULL;
    CHECK_OK(soma_dataset_synthetic("gauss", N, D, 3, 5.0f, 12, &g));
    if (!g) return;
    float *yf = malloc(N * 2 * sizeof *yf);
    int *yt = malloc(N * T * sizeof *yt);
    for (int i = 0; i < N; i++) {
        const float *x = g->x_f32 + (size_t)i * D;
        yf[2 * i] = 0.5f * x[0] - x[1] + 0.25f;
        yf[2 * i + 1] = x[2] + 0.1f * x[3];
        for (int t = 0; t < T; t++) yt[i * T + t] = (g->y[i] + t) % 3;
    }
    char X[512], Y[512], YF[512], YT[512], err[512];
    snprintf(X, sizeof X, "%s", scratch_path("X.npy"));
    snprintf(Y, sizeof Y, "%s", scratch_path("y.npy"));
    snprintf(YF, sizeof YF, "%s", scratch_path("yf.npy"));
    snprintf(YT, sizeof YT, "%s", scratch_path("yt.npy"));
    snprintf(err, sizeof err, "%s", scratch_path("err.txt"));
    CHECK_OK(soma_npy_write(X, SOMA_DTYPE_F32, 2, (int64_t[]){N, D}, g->x_f32));
    CHECK_OK(soma_npy_write(Y, SOMA_DTYPE_I32, 1, (int64_t[]){N}, g->y));
    CHECK_OK(soma_npy_write(YF, SOMA_DTYPE_F32, 2, (int64_t[]){N, 2}, yf));
    CHECK_OK(soma_npy_write(YT, SOMA_DTYPE_I32, 2, (int64_t[]){N, T}, yt));
    free(yf);
    free(yt);
    const char *common = "--batch 20 --quiet --threads 1";

    /* classification, no test files: 10% held out */
    cJSON *r = train_ok_(err, scratch_path("cls"), "train --data 'npy:%s,%s' --net fc16,relu,fc3 --epochs 5 --lr 0.01 %s",
                         X, Y, common);
    if (r) {
        CHECK(num_(r, "n_val") == 40 && num_(r, "n_train") == 360 && num_(r, "n_test") == 0);
        CHECK(!has_(r, "test_accuracy") && !has_(r, "test_loss"));
        CHECK(num_(r, "val_accuracy") > 0.9 && strstr(on_(r, "val_accuracy"), "validation") != NULL);
        CHECK(strcmp(on_(r, "train_accuracy"), "train") == 0);
        printf("soma train npy (xent): val_accuracy %.4f on %g held out\n", num_(r, "val_accuracy"), num_(r, "n_val"));
        cJSON_Delete(r);
    }
    /* --val-split 0: no held-out figures at all (and still none called test) */
    r = train_ok_(err, scratch_path("cls0"), "train --data 'npy:%s,%s' --net fc3 --epochs 2 %s --val-split 0", X, Y, common);
    if (r) {
        CHECK(num_(r, "n_train") == N && !has_(r, "test_accuracy") && !has_(r, "val_accuracy"));
        cJSON_Delete(r);
    }
    /* a test split of its own: test figures on it, no validation by default */
    r = train_ok_(err, scratch_path("clst"), "train --data 'npy:%s,%s;%s,%s' --net fc3 --epochs 2 %s", X, Y, X, Y, common);
    if (r) {
        CHECK(num_(r, "n_test") == N && num_(r, "n_val") == 0 && strcmp(on_(r, "test_accuracy"), "test") == 0);
        cJSON_Delete(r);
    }
    /* regression with --loss mse on float y */
    r = train_ok_(err, scratch_path("mse"),
                  "train --data 'npy:%s,%s' --net fc2 --loss mse --optim sgd --momentum 0 --epochs 30 --lr 0.05 %s", X, YF,
                  common);
    if (r) {
        CHECK(num_(r, "val_loss") < 1e-3 && isnan(num_(r, "train_accuracy")) && !has_(r, "test_loss"));
        const cJSON *lk = cJSON_GetObjectItemCaseSensitive(ours_(r), "loss");
        CHECK(cJSON_IsString(lk) && strcmp(lk->valuestring, "mse") == 0);
        printf("soma train npy --loss mse: val_loss %.3g\n", num_(r, "val_loss"));
        cJSON_Delete(r);
    }
    /* per-position labels [N, T]: a net with T * 3 outputs */
    r = train_ok_(err, scratch_path("seq"), "train --data 'npy:%s,%s' --net fc16,relu,fc6 --epochs 8 --lr 0.01 %s", X, YT, common);
    if (r) {
        CHECK(num_(r, "val_accuracy") > 0.9);
        cJSON_Delete(r);
    }
    /* bad input: exit 2 and a message naming the problem */
    train_fails_(err, "--val-split", NULL, "train --data 'npy:%s,%s' --net fc3 %s --val-split 1.5", X, Y, common);
    train_fails_(err, "float targets", "mse", "train --data 'npy:%s,%s' --net fc2 %s", X, YF, common);
    train_fails_(err, "integer labels", NULL, "train --data 'npy:%s,%s' --net fc3 --loss mse %s", X, Y, common);
    train_fails_(err, "hinge", NULL, "train --data 'npy:%s,%s' --net fc3 --loss hinge %s", X, Y, common);
    soma_dataset_free(g);
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--dp-child") == 0) return dp_child_(argv[2], atoi(argv[3]));
    if (!scratch_init("learn")) return 1;
    char self[4096];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    self[k > 0 ? k : 0] = '\0';
    test_dp_thread_grant(self);
    test_hooks();
    test_rule_state_and_predict();
    test_per_position_xent();
    test_regression();
    test_split();
    test_logs_and_frozen();
    test_cli_train();
    scratch_remove();
    return check_report("test_learn");
}
