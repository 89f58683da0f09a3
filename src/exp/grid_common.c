// What inductive-bias and scaling-fmnist share: one grid cell trained on one thread, random
// subsets and shifted copies of a data set, integer lists, error-bar lines.
#include "exp/grid_common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "soma/learn.h"
#include "soma/nn.h"

// --- data ------------------------------------------------------------------------------

soma_status xp_gather(const soma_dataset *d, const int *idx, int n, soma_dataset **out) {
    return soma_dataset_gather(d, idx, n, d->name, out);
}

soma_status xp_random_subset(const soma_dataset *d, int n, uint64_t seed, uint64_t stream, soma_dataset **out) {
    *out = NULL;
    if (n < 1 || n > d->n) return soma_error(SOMA_ERR_ARG, "%s: subset of %d samples (1..%d)", d->name, n, d->n);
    int *perm = soma_alloc((size_t)d->n, sizeof *perm);
    if (!perm) return soma_error(SOMA_ERR_NOMEM, "%s: out of memory", d->name);
    soma_rng r;
    soma_rng_seed(&r, seed, stream);
    soma_rng_permutation(&r, perm, d->n);
    soma_status st = xp_gather(d, perm, n, out);
    soma_free(perm);
    return st;
}

soma_status xp_shifted(const soma_dataset *d, int shift, uint64_t seed, soma_dataset **out) {
    *out = NULL;
    const soma_shape sh = d->shape;
    if (!d->x_u8 || (sh.rank != 2 && sh.rank != 3))
        return soma_error(SOMA_ERR_ARG, "%s: shifting needs byte images [C,H,W] or [H,W]", d->name);
    const int H = sh.d[sh.rank - 2], W = sh.d[sh.rank - 1], C = sh.rank == 3 ? sh.d[0] : 1;
    if (shift < 0 || shift >= H || shift >= W)
        return soma_error(SOMA_ERR_ARG, "%s: shift %d outside 0..%d", d->name, shift, (H < W ? H : W) - 1);
    int *idx = soma_alloc((size_t)d->n, sizeof *idx);
    if (!idx) return soma_error(SOMA_ERR_NOMEM, "%s: out of memory", d->name);
    for (int i = 0; i < d->n; i++) idx[i] = i;
    soma_status st = xp_gather(d, idx, d->n, out);
    soma_free(idx);
    if (st != SOMA_OK || shift == 0) return st;
    static const int dirs[4][2] = {{0, 1}, {0, -1}, {1, 0}, {-1, 0}}; /* (dy, dx): right, left, down, up */
    soma_rng r;
    soma_rng_seed(&r, seed, 0x5417);
    const uint8_t *src = d->x_u8;
    uint8_t *dst = (*out)->x_u8;
    for (int i = 0; i < d->n; i++) {
        const int k = (int)soma_rng_below(&r, 4), dy = dirs[k][0] * shift, dx = dirs[k][1] * shift;
        for (int c = 0; c < C; c++) {
            const uint8_t *s = src + (size_t)i * d->dim + (size_t)c * H * W;
            uint8_t *o = dst + (size_t)i * d->dim + (size_t)c * H * W;
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    const int sy = y - dy, sx = x - dx;
                    o[(size_t)y * W + x] = sy >= 0 && sy < H && sx >= 0 && sx < W ? s[(size_t)sy * W + sx] : 0;
                }
        }
    }
    return SOMA_OK;
}

// --- options and figures ---------------------------------------------------------------

soma_status xp_parse_ints(const char *what, const char *s, long lo, long hi, int *v, int cap, int *n) {
    *n = 0;
    if (!s || !*s) return soma_error(SOMA_ERR_ARG, "--%s: an empty list; give numbers separated by commas", what);
    const char *p = s;
    while (*p) {
        char *end = NULL;
        long x = strtol(p, &end, 10);
        if (end == p || (*end && *end != ','))
            return soma_error(SOMA_ERR_ARG, "--%s '%s': not a list of integers (e.g. 100,1000)", what, s);
        if (x < lo || x > hi) return soma_error(SOMA_ERR_ARG, "--%s: %ld outside %ld..%ld", what, x, lo, hi);
        if (*n >= cap) return soma_error(SOMA_ERR_ARG, "--%s: more than %d values", what, cap);
        if (*n > 0 && x <= v[*n - 1])
            return soma_error(SOMA_ERR_ARG, "--%s: values must increase (%ld after %d)", what, x, v[*n - 1]);
        v[(*n)++] = (int)x;
        p = *end ? end + 1 : end;
        if (*end == ',' && !*p) return soma_error(SOMA_ERR_ARG, "--%s '%s': trailing comma", what, s);
    }
    return SOMA_OK;
}

soma_status xp_fig_errline(soma_fig *f, int panel, const float *x, const float *y, const float *err, int n,
                           const char *label, int color, int dashed) {
    soma_line_style ls = {color, dashed, 1, 0.f}, whisk = {color, 0, 0, 1.f};
    SOMA_TRY(soma_fig_line(f, panel, x, y, n, label, &ls));
    for (int i = 0; err && i < n; i++) {
        if (!(err[i] > 0.f)) continue;
        const float xs[2] = {x[i], x[i]}, ys[2] = {y[i] - err[i], y[i] + err[i]};
        SOMA_TRY(soma_fig_line(f, panel, xs, ys, 2, NULL, &whisk));
    }
    return SOMA_OK;
}

// --- one cell --------------------------------------------------------------------------

typedef struct cell_state_ {
    soma_rule *rule;
    const soma_dataset *val, *test;
    int every, epochs;
    xp_cell_out *out;
} cell_state_;

/* Early stopping: at every `every`-th epoch and the last, the validation loss; at a new
 * lowest one, the test figures. */
static soma_status cell_epoch_end_(void *user, soma_net *net, int epoch, const soma_train_log *log) {
    (void)log;
    cell_state_ *s = user;
    if ((epoch + 1) % s->every && epoch + 1 != s->epochs) return SOMA_OK;
    float acc = 0.f, loss = 0.f;
    SOMA_TRY(soma_evaluate_rule(net, s->rule, s->val, 1000, &acc, &loss));
    if (!(loss >= s->out->val_loss)) { /* also the first time (val_loss NaN) */
        s->out->val_loss = loss;
        s->out->best_epoch = epoch + 1;
        SOMA_TRY(soma_evaluate_rule(net, s->rule, s->test, 1000, &s->out->test_acc, &s->out->test_loss));
    }
    return SOMA_OK;
}

static soma_status train_cell_(const xp_cell_cfg *cfg, const soma_dataset *train, const soma_dataset *val,
                               const soma_dataset *test, xp_cell_out *out, soma_net **net_out) {
    if (net_out) *net_out = NULL;
    *out = (xp_cell_out){.test_acc = NAN, .test_loss = NAN, .val_loss = NAN};
    if (cfg->batch < 1 || cfg->min_epochs < 1 || cfg->min_steps < 0 || !(cfg->lr > 0.f))
        return soma_error(SOMA_ERR_ARG, "grid cell: bad settings (batch %d, epochs %d, steps %ld, lr %g)",
                          cfg->batch, cfg->min_epochs, cfg->min_steps, (double)cfg->lr);
    soma_net *net = NULL;
    soma_rule *rule = NULL;
    soma_optim *opt = NULL;
    soma_train_log log = {0};
    soma_status st = soma_net_new(&net, cfg->spec, cfg->in, cfg->seed);
    if (st != SOMA_OK) goto out;
    const long spe = (train->n + cfg->batch - 1) / cfg->batch;
    long epochs = (cfg->min_steps + spe - 1) / spe;
    if (epochs < cfg->min_epochs) epochs = cfg->min_epochs;
    if (epochs > 100000) epochs = 100000;
    for (int i = 0; i < soma_net_n_params(net); i++) out->params += (long)soma_net_param(net, i)->n;
    soma_optim_config oc = soma_optim_defaults(cfg->weight_decay > 0.f ? SOMA_OPTIM_ADAMW : SOMA_OPTIM_ADAM);
    oc.weight_decay = cfg->weight_decay;
    if ((st = soma_optim_new(&opt, net, &oc)) != SOMA_OK) goto out;
    if ((st = soma_rule_backprop_new(&rule, SOMA_LOSS_XENT)) != SOMA_OK) goto out;
    cell_state_ cs = {.rule = rule, .val = val, .test = test, .epochs = (int)epochs, .out = out};
    const int use_val = val && cfg->evals > 0;
    cs.every = use_val ? (int)((epochs + cfg->evals - 1) / cfg->evals) : (int)epochs;
    soma_train_config tc = soma_train_defaults();
    tc.epochs = (int)epochs;
    tc.batch = cfg->batch;
    tc.sched.kind = SOMA_SCHED_COSINE;
    tc.sched.lr = cfg->lr;
    tc.sched.lr_min = 0.f;
    tc.sched.total = spe * epochs;
    tc.seed = cfg->seed;
    tc.eval_every = 0;
    tc.quiet = 1;
    tc.data_parallel = 0;
    if (use_val) {
        tc.hooks.user = &cs;
        tc.hooks.epoch_end = cell_epoch_end_;
    }
    if ((st = soma_train(net, rule, opt, train, NULL, &tc, &log)) != SOMA_OK) goto out;
    out->epochs = (int)epochs;
    out->steps = spe * epochs;
    out->train_seconds = log.train_seconds;
    if (!use_val) {
        out->best_epoch = (int)epochs;
        st = soma_evaluate_rule(net, rule, test, 1000, &out->test_acc, &out->test_loss);
    }
out:
    soma_train_log_free(&log);
    soma_optim_free(opt);
    soma_rule_free(rule);
    if (st == SOMA_OK && net_out) *net_out = net;
    else soma_net_free(net);
    return st;
}

/* With OpenMP the cells run one a thread, so every BLAS call inside a cell is single-threaded
 * whatever --threads says; without OpenMP they run one after another, and each is pinned to one
 * thread here too, so that the thread count changes no bit in either build. */
soma_status xp_train_cell(const xp_cell_cfg *cfg, const soma_dataset *train, const soma_dataset *val,
                          const soma_dataset *test, xp_cell_out *out, soma_net **net_out) {
#ifndef _OPENMP
    const int saved = soma_get_threads();
    soma_set_threads(1);
#endif
    const soma_status st = train_cell_(cfg, train, val, test, out, net_out);
#ifndef _OPENMP
    soma_set_threads(saved);
#endif
    return st;
}
