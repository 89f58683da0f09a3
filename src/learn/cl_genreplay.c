// Continual learning: generative replay (Shin et al. 2017; van de Ven, Siegelmann & Tolias 2020).
// A VAE learns the inputs beside the solver, on each batch plus the rows replayed, so it keeps
// the earlier tasks too; at each task's end frozen copies of the solver and the generator are
// kept, and while training task t >= 1 the batch hook appends samples of the frozen generator,
// labelled by the frozen solver (soft targets through the target hook, or hard labels).
#include <math.h>
#include <string.h>

#include "learn/internal.h"

typedef struct gr_state {
    soma_cl_opts o;
    soma_net *net;
    const soma_task_stream *s;
    int dim, K, c, task, rb; /* floats a sample, net outputs, classes a task, current task, replayed rows */
    int max_rows;            /* rows the buffers hold (batch + replay) */
    int n_cur;               /* the step's rows of the current task (before the replayed ones) */
    soma_vae_opts vo;
    soma_vae *gen, *gen_old; /* the generator; its frozen copy */
    soma_net *old;           /* the frozen solver */
    float *soft;             /* [max_rows, K] the frozen solver's logits */
    soma_rng rng;            /* task draws (task-incremental hard labels) */
} gr_state;

static void destroy_(void *state) {
    gr_state *g = state;
    if (!g) return;
    soma_vae_free(g->gen);
    soma_vae_free(g->gen_old);
    soma_net_free(g->old);
    soma_free(g->soft);
    soma_free(g);
}

static soma_status create_(void **state, soma_net *net, soma_rule *rule, const soma_cl_opts *o,
                           const soma_task_stream *s) {
    (void)rule;
    *state = NULL;
    if (!(o->gen_temp > 0) || !isfinite(o->gen_temp))
        return soma_error(SOMA_ERR_ARG, "continual: generative replay's temperature %g must be > 0", (double)o->gen_temp);
    if (o->gen_iters < 1 || o->gen_iters > 100)
        return soma_error(SOMA_ERR_ARG, "continual: generative replay's VAE steps a step %d out of range (1..100)", o->gen_iters);
    if (o->gen_soft != 0 && o->gen_soft != 1)
        return soma_error(SOMA_ERR_ARG, "continual: generative replay's gen_soft %d must be 0 or 1", o->gen_soft);
    gr_state *g = soma_calloc(1, sizeof *g);
    if (!g) return SOMA_ERR_NOMEM;
    g->o = *o;
    g->net = net;
    g->s = s;
    g->dim = (int)s->train[0]->dim;
    g->K = s->n_outputs;
    g->c = s->classes_per_task;
    soma_rng_seed(&g->rng, o->seed, 0x4752ULL);
    g->vo = soma_vae_opts_default();
    g->vo.latent = o->gen_latent;
    g->vo.enc_hidden = o->gen_hidden;
    g->vo.lr = o->gen_lr;
    g->vo.beta = o->gen_beta;
    g->vo.lik = (soma_vae_lik)o->gen_lik;
    g->vo.seed = o->seed;
    g->vo.max_batch = 1;
    /* the options are checked here, by building the generator once (rebuilt for the batch at
     * the first task) */
    soma_status st = soma_vae_new(&g->gen, &g->vo, s->train[0]->shape);
    if (st == SOMA_OK && g->vo.lik == SOMA_VAE_BERNOULLI) { /* Bernoulli pixels need data in [0, 1] */
        const soma_dataset *d = s->train[0];
        float *x = soma_alloc(d->dim, sizeof(float));
        if (!x) st = SOMA_ERR_NOMEM;
        for (int i = 0; st == SOMA_OK && i < d->n; i++) {
            soma_dataset_batch(d, &i, 1, x, NULL);
            for (size_t j = 0; j < d->dim; j++)
                if (!(x[j] >= 0.f && x[j] <= 1.f)) {
                    st = soma_error(SOMA_ERR_ARG, "continual: generative replay's bernoulli generator needs inputs in "
                                    "[0, 1], sample %d of task 0 holds %g; HINT: use the gaussian likelihood", i, (double)x[j]);
                    break;
                }
        }
        soma_free(x);
    }
    soma_vae_free(g->gen);
    g->gen = NULL;
    if (st != SOMA_OK) {
        destroy_(g);
        return st;
    }
    *state = g;
    return SOMA_OK;
}

/* The frozen solver's argmax over outputs [o, o + c) of logits row y. */
static int argmax_in_(const float *y, int o, int c) { return o + soma_argmax(y + o, c); }

static soma_status batch_(void *user, soma_net *net, long step, float *x, int *labels, float *values, int n,
                          int *n_extra) {
    (void)net;
    (void)step;
    (void)values;
    gr_state *g = user;
    *n_extra = 0;
    const int k = g->task >= 1 ? g->rb : 0;
    if (n + k > g->max_rows)
        return soma_error(SOMA_ERR_ARG, "continual: generative replay: %d rows, buffers for %d", n + k, g->max_rows);
    if (k > 0) {
        if (!labels) return soma_error(SOMA_ERR_ARG, "continual: generative replay needs labels (xent)");
        SOMA_TRY(soma_vae_sample(g->gen_old, k, x + (size_t)n * g->dim));
        const float *y;
        SOMA_TRY(soma_net_forward(g->old, x + (size_t)n * g->dim, k, SOMA_MODE_EVAL, &y));
        memcpy(g->soft + (size_t)n * g->K, y, (size_t)k * g->K * sizeof(float));
        const int t = g->task, c = g->c;
        for (int i = n; i < n + k; i++) {
            float *row = g->soft + (size_t)i * g->K;
            if (g->o.gen_soft) {
                labels[i] = SOMA_LABEL_NONE;
                if (g->s->scenario == SOMA_CL_CLASS) /* no mass on the new classes */
                    for (int j = t * c; j < (t + 1) * c && j < g->K; j++) row[j] = -1e4f;
            } else if (g->s->scenario == SOMA_CL_CLASS) {
                labels[i] = argmax_in_(row, 0, t * c);
            } else if (g->s->scenario == SOMA_CL_TASK) {
                const int u = (int)soma_rng_below(&g->rng, (uint64_t)t);
                labels[i] = argmax_in_(row, u * c, c);
            } else {
                labels[i] = argmax_in_(row, 0, c);
            }
        }
    }
    g->n_cur = n;
    /* the generator learns the batch and the replayed rows */
    for (int it = 0; it < g->o.gen_iters; it++) SOMA_TRY(soma_vae_step(g->gen, x, n + k, NULL));
    *n_extra = k;
    return SOMA_OK;
}

/* Soft targets: replayed rows get the frozen solver's logits; the current task's rows the
 * live net's own (a distillation term of zero: they learn from their labels alone). */
static soma_status target_(void *user, soma_net *net, long step, const float *x, int n, soma_target *t) {
    (void)step;
    gr_state *g = user;
    if (g->task < 1 || !g->o.gen_soft || n <= g->n_cur) return SOMA_OK;
    const int c = g->c;
    if (g->n_cur > 0) {
        const float *y;
        SOMA_TRY(soma_net_forward(net, x, g->n_cur, SOMA_MODE_EVAL, &y));
        memcpy(g->soft, y, (size_t)g->n_cur * g->K * sizeof(float));
    }
    t->soft = g->soft;
    t->soft_temp = g->o.gen_temp;
    t->soft_weight = 1.f;
    switch (g->s->scenario) {
    case SOMA_CL_TASK: t->soft_count = g->task * c, t->soft_block = c; break;
    case SOMA_CL_CLASS: t->soft_count = (g->task + 1) * c, t->soft_block = 0; break;
    default: t->soft_count = c, t->soft_block = 0; break;
    }
    return SOMA_OK;
}

static soma_status task_end_(void *user, soma_net *net, int task, const soma_dataset *train) {
    (void)task;
    (void)train;
    gr_state *g = user;
    if (!g->old) {
        SOMA_TRY(soma_net_clone(net, 0, 0, &g->old));
        SOMA_TRY(soma_net_reserve(g->old, g->max_rows));
    } else {
        size_t a, b;
        float *d = soma_net_flat_values(g->old, &a);
        const float *s = soma_net_flat_values(net, &b);
        if (a != b) return soma_error(SOMA_ERR_SHAPE, "continual: generative replay: the net changed shape");
        memcpy(d, s, a * sizeof(float));
    }
    if (!g->gen_old) return soma_vae_clone(g->gen, &g->gen_old);
    return soma_vae_copy_values(g->gen_old, g->gen);
}

static soma_status attach_(void *state, soma_train_config *cfg, int t, int ho, int hc) {
    (void)ho;
    (void)hc;
    gr_state *g = state;
    g->task = t;
    g->rb = g->o.replay_batch > 0 ? g->o.replay_batch : cfg->batch;
    const int rows = cfg->batch + g->rb;
    if (!g->gen) {
        g->vo.max_batch = rows;
        SOMA_TRY(soma_vae_new(&g->gen, &g->vo, g->s->train[0]->shape));
        g->soft = soma_alloc((size_t)rows, (size_t)g->K * sizeof(float));
        if (!g->soft) return SOMA_ERR_NOMEM;
        g->max_rows = rows;
    } else if (rows > g->max_rows) {
        return soma_error(SOMA_ERR_ARG, "continual: generative replay: batch and replay (%d rows) grew past the first task's %d",
                          rows, g->max_rows);
    }
    cfg->batch_hook = batch_;
    cfg->batch_extra = t >= 1 ? g->rb : 0;
    cfg->target_hook = target_;
    cfg->hooks.task_end = task_end_;
    return SOMA_OK;
}

static size_t memory_(const void *state) {
    const gr_state *g = state;
    size_t b = sizeof *g;
    if (g->gen) b += soma_vae_memory(g->gen);
    if (g->gen_old) b += soma_vae_memory(g->gen_old);
    if (g->old) {
        size_t np;
        soma_net_flat_values(g->old, &np);
        b += 2 * np * sizeof(float);
    }
    if (g->soft) b += (size_t)g->max_rows * g->K * sizeof(float);
    return b;
}

const soma__cl_ext_ops soma__cl_genreplay_ops = {create_, destroy_, attach_, memory_, NULL};
