// pc-equals-bp: predictive coding's weight updates (inference learning, src/learn/pc.c) approach
// backprop's gradients as inference settles (Whittington & Bogacz 2017), on a fixed batch of
// Fashion-MNIST, for an MLP and LeNet: the cosine between the two per weight layer as a
// function of inference steps, and at convergence as a function of the size of the output
// error (small errors: the regime where PC equals BP); with the fixed prediction assumption
// (Millidge, Tschantz & Buckley 2022) the equality holds whatever the error size. Also PC's cost
// per epoch as a multiple of BP's (soma_train on the MLP).
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/internal.h"
#include "soma/io.h"
#include "soma/learn.h"
#include "soma/nn.h"
#include "soma/plot.h"

static const soma_opt opts_[] = {
    {"data", SOMA_OPT_ENUM, "fmnist", 0, 0, "fmnist|gauss",
     "the batch: Fashion-MNIST's first test images (the 10000 load fastest), or synthetic 28x28 Gaussian classes", 1},
    {"fmnist-dir", SOMA_OPT_STR, NULL, 0, 0, NULL, "Fashion-MNIST folder (default $SOMA_FMNIST_DIR, else Debian's)", 0},
    {"mlp", SOMA_OPT_STR, "fc256,relu,fc128,relu,fc10", 0, 0, NULL, "the MLP's spec", 0},
    {"lenet", SOMA_OPT_STR, "conv5x5x6p2,relu,maxpool2,conv5x5x16,relu,maxpool2,flatten,fc120,relu,fc84,relu,fc10", 0,
     0, NULL, "the convolutional net's spec", 0},
    {"batch", SOMA_OPT_INT, "64", 2, 4096, NULL, "samples in the fixed batch", 1},
    {"max-steps", SOMA_OPT_INT, "500", 1, 100000, NULL, "inference steps at convergence (the curve: 1, 2, 5, .. up to it)", 1},
    {"rate", SOMA_OPT_FLOAT, "0.2", 1e-4, 1, NULL, "inference rate", 0},
    {"time-samples", SOMA_OPT_INT, "10000", 0, 60000, NULL, "training samples of the timed epoch, BP against PC (0: no timing)", 1},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark landmarks_[] = {
    {"cosine between PC's weight updates and backprop's gradients, every layer (MLP and LeNet), at convergence of "
     "inference with small errors (PC approximates BP)",
     "Whittington & Bogacz 2017", "https://doi.org/10.1162/NECO_a_00949", "cosine_min", SOMA_EXP_AT_LEAST, 0.99},
    {"the same with the fixed prediction assumption and large errors: PC converges to exact backprop on arbitrary "
     "graphs (here a CNN)",
     "Millidge, Tschantz & Buckley 2022", "https://direct.mit.edu/neco/article/34/6/1329/110646",
     "cosine_min_fpa", SOMA_EXP_AT_LEAST, 0.999},
    {NULL, NULL, NULL, NULL, 0, 0},
};

/* synthetic data, a small batch and a shallower conv net (fewer nodes settle sooner) */
static const char *const reduced_[] = {"--data", "gauss", "--batch", "8", "--max-steps", "100", "--time-samples", "256",
                                       "--mlp", "fc64,relu,fc32,relu,fc10",
                                       "--lenet", "conv5x5x4p2,relu,maxpool2,flatten,fc10", NULL};

static const int steps_all_[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000};
#define N_STEPS_ALL 10
/* top-error scales: the batch-mean loss's gradient times these */
static const float scales_[] = {0.01f, 1.f, 100.f, 10000.f};
#define N_SCALES 4
/* the scale of the steps curves (small errors) and of the FPA landmark (large errors) */
#define CURVE_SCALE 0.01f
#define FPA_SCALE 10000.f
#define MAX_W 32

/* cosine of each weight parameter (decay == 1) between PC (steps, scale, fpa) and BP on (x, t) */
static soma_status cosines_(soma_net *net, const float *x, const soma_target *t, int n, int steps, float rate,
                            float scale, int fpa, double *cw, int *nw) {
    soma_rule_opts o = soma_rule_opts_default();
    o.kind = SOMA_RULE_PC;
    o.pc_steps = steps;
    o.pc_rate = rate;
    o.pc_err_scale = scale;
    o.pc_fixed_pred = fpa;
    soma_rule *r = NULL;
    SOMA_TRY(soma_rule_new(&r, net, &o));
    const int np = soma_net_n_params(net);
    double *cs = soma_alloc((size_t)np, sizeof *cs);
    soma_status st = cs ? soma_rule_alignment_cos(r, net, x, t, n, cs) : SOMA_ERR_NOMEM;
    *nw = 0;
    for (int i = 0; st == SOMA_OK && i < np; i++)
        if (!isnan(cs[i]) && *nw < MAX_W) cw[(*nw)++] = cs[i];
    soma_free(cs);
    soma_rule_free(r);
    return st;
}

static double min_(const double *v, int n) {
    double m = INFINITY;
    for (int i = 0; i < n; i++) m = v[i] < m ? v[i] : m;
    return m;
}

typedef struct net_result {
    int nw;                          /* weight layers */
    char wname[MAX_W][32];           /* their parameter paths */
    float curve[MAX_W][N_STEPS_ALL]; /* cosine per weight layer against steps (CURVE_SCALE) */
    float curve_fpa_min[N_STEPS_ALL];
    float by_scale[N_SCALES], by_scale_fpa[N_SCALES]; /* min cosine at max steps */
    double cos_min, cos_min_fpa;
} net_result;

static soma_status sweep_(soma_exp_ctx *c, const char *spec, soma_shape in, const float *x, const soma_target *t,
                          int n, const int *steps, int ns, float rate, net_result *res) {
    soma_net *net = NULL;
    SOMA_TRY(soma_net_new(&net, spec, in, c->seed));
    soma_status st = soma_net_reserve(net, n);
    double cw[MAX_W];
    int nw = 0;
    for (int k = 0; st == SOMA_OK && k < ns; k++) {
        st = cosines_(net, x, t, n, steps[k], rate, CURVE_SCALE, 0, cw, &nw);
        for (int i = 0; st == SOMA_OK && i < nw; i++) res->curve[i][k] = (float)cw[i];
        res->nw = nw;
        if (st == SOMA_OK) st = cosines_(net, x, t, n, steps[k], rate, FPA_SCALE, 1, cw, &nw);
        if (st == SOMA_OK) res->curve_fpa_min[k] = (float)min_(cw, nw);
    }
    /* the curves' last points are two of these (CURVE_SCALE plain, FPA_SCALE with FPA) */
    for (int k = 0; st == SOMA_OK && k < N_SCALES; k++) {
        if (scales_[k] == CURVE_SCALE) {
            double last[MAX_W];
            for (int i = 0; i < res->nw; i++) last[i] = res->curve[i][ns - 1];
            res->by_scale[k] = (float)min_(last, res->nw);
        } else {
            st = cosines_(net, x, t, n, steps[ns - 1], rate, scales_[k], 0, cw, &nw);
            if (st == SOMA_OK) res->by_scale[k] = (float)min_(cw, nw);
        }
        if (st != SOMA_OK) break;
        if (scales_[k] == FPA_SCALE) {
            res->by_scale_fpa[k] = res->curve_fpa_min[ns - 1];
        } else {
            st = cosines_(net, x, t, n, steps[ns - 1], rate, scales_[k], 1, cw, &nw);
            if (st == SOMA_OK) res->by_scale_fpa[k] = (float)min_(cw, nw);
        }
    }
    if (st == SOMA_OK) {
        int w = 0;
        for (int i = 0; i < soma_net_n_params(net) && w < MAX_W; i++)
            if (soma_net_param(net, i)->trainable && soma_net_param(net, i)->decay)
                snprintf(res->wname[w++], sizeof res->wname[0], "%s", soma_net_param_name(net, i));
        double last[MAX_W];
        for (int i = 0; i < res->nw; i++) last[i] = res->curve[i][ns - 1];
        res->cos_min = min_(last, res->nw);
        res->cos_min_fpa = res->curve_fpa_min[ns - 1];
    }
    soma_net_free(net);
    return st;
}

/* One epoch of soma_train on d with rule kind k on the MLP: the training seconds. */
static soma_status time_epoch_(soma_exp_ctx *c, const char *spec, const soma_dataset *d, soma_rule_kind k, float rate,
                               double *seconds) {
    soma_net *net = NULL;
    soma_optim *o = NULL;
    soma_rule *r = NULL;
    soma_train_log log = {0};
    soma_status st = soma_net_new(&net, spec, d->shape, c->seed);
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_ADAM);
    if (st == SOMA_OK) st = soma_optim_new(&o, net, &oc);
    soma_rule_opts ro = soma_rule_opts_default();
    ro.kind = k;
    ro.pc_rate = rate;
    if (st == SOMA_OK) st = soma_rule_new(&r, net, &ro);
    soma_train_config tc = soma_train_defaults();
    tc.epochs = 1;
    tc.batch = 64;
    tc.sched.lr = 1e-3f;
    tc.quiet = 1;
    tc.seed = c->seed;
    if (st == SOMA_OK) st = soma_train(net, r, o, d, NULL, &tc, &log);
    if (st == SOMA_OK) *seconds = log.train_seconds;
    soma_train_log_free(&log);
    soma_rule_free(r);
    soma_optim_free(o);
    soma_net_free(net);
    return st;
}

static soma_status plot_(soma_exp_ctx *c, const net_result *res, const char *const *titles, const int *steps, int ns) {
    soma_fig *f = NULL;
    SOMA_TRY(soma_fig_new(&f, 1, 3, 1500, 460));
    soma_status st = soma_fig_title(f, "Predictive coding's updates against backprop's gradients");
    float lx[N_STEPS_ALL];
    for (int k = 0; k < ns; k++) lx[k] = (float)log10((double)steps[k]);
    for (int p = 0; p < 2 && st == SOMA_OK; p++) {
        char t[160];
        snprintf(t, sizeof t, "%s: cosine per weight layer (error scale %g)", titles[p], (double)CURVE_SCALE);
        st = soma_fig_labels(f, p, t, "inference steps (log10)", "cosine with BP");
        for (int i = 0; st == SOMA_OK && i < res[p].nw; i++) {
            soma_line_style s = {0, 0, 1, 0.f};
            st = soma_fig_line(f, p, lx, res[p].curve[i], ns, res[p].wname[i], &s);
        }
        if (st == SOMA_OK) {
            soma_line_style s = {SOMA_RGB(0x000000), 1, 0, 1.4f};
            st = soma_fig_line(f, p, lx, res[p].curve_fpa_min, ns, "fixed prediction (min), scale 1e4", &s);
        }
        if (st == SOMA_OK) st = soma_fig_hline(f, p, 0.99f, "0.99");
        if (st == SOMA_OK) st = soma_fig_ylim(f, p, -0.1, 1.05);
    }
    float sx[N_SCALES];
    for (int k = 0; k < N_SCALES; k++) sx[k] = (float)log10((double)scales_[k]);
    if (st == SOMA_OK) st = soma_fig_labels(f, 2, "Converged: min cosine over layers vs error size", "top-error scale (log10)", "min cosine with BP");
    for (int p = 0; p < 2 && st == SOMA_OK; p++) {
        char lab[96];
        soma_line_style s = {1 + p, 0, 1, 0.f};
        snprintf(lab, sizeof lab, "%s, PC", titles[p]);
        st = soma_fig_line(f, 2, sx, res[p].by_scale, N_SCALES, lab, &s);
        soma_line_style s2 = {1 + p, 1, 1, 0.f};
        snprintf(lab, sizeof lab, "%s, fixed prediction", titles[p]);
        if (st == SOMA_OK) st = soma_fig_line(f, 2, sx, res[p].by_scale_fpa, N_SCALES, lab, &s2);
    }
    char path[1100];
    if (st == SOMA_OK) st = soma_fig_save(f, soma_exp_path(c, "pc_equals_bp.svg", path, sizeof path));
    soma_fig_free(f);
    return st;
}

static soma_status run_(soma_exp_ctx *c) {
    int batch, max_steps, time_samples;
    float rate;
    const char *data = soma_args_str(&c->args, "data"), *fdir = soma_args_str(&c->args, "fmnist-dir");
    const char *specs[2] = {soma_args_str(&c->args, "mlp"), soma_args_str(&c->args, "lenet")};
    SOMA_TRY(soma_args_int(&c->args, "batch", &batch));
    SOMA_TRY(soma_args_int(&c->args, "max-steps", &max_steps));
    SOMA_TRY(soma_args_int(&c->args, "time-samples", &time_samples));
    SOMA_TRY(soma_args_float(&c->args, "rate", &rate));
    int steps[N_STEPS_ALL], ns = 0;
    for (int k = 0; k < N_STEPS_ALL && steps_all_[k] <= max_steps; k++) steps[ns++] = steps_all_[k];
    if (steps[ns - 1] != max_steps && ns < N_STEPS_ALL) steps[ns++] = max_steps;

    soma_dataset *d = NULL;
    const int gauss = strcmp(data, "gauss") == 0;
    const int n_data = gauss ? (batch > time_samples ? batch : time_samples) : 0;
    soma_status st = gauss ? soma_dataset_synthetic("gauss", n_data, 784, 10, 3.f, c->seed, &d)
                           : soma_dataset_load("fmnist", 0, fdir, &d);
    if (st != SOMA_OK) return st;
    if (gauss) d->shape = soma_shape3(1, 28, 28);
    float *x = NULL;
    int *y = NULL, *idx = NULL;
    net_result *res = soma_calloc(2, sizeof *res);
    if (d->n < batch) {
        st = soma_error(SOMA_ERR_ARG, "pc-equals-bp: --batch %d but the data hold %d samples", batch, d->n);
        goto out;
    }
    x = soma_alloc((size_t)batch * d->dim, sizeof *x);
    y = soma_alloc((size_t)batch, sizeof *y);
    idx = soma_alloc((size_t)batch, sizeof *idx);
    if (!x || !y || !idx || !res) {
        st = SOMA_ERR_NOMEM;
        goto out;
    }
    for (int i = 0; i < batch; i++) idx[i] = i;
    soma_dataset_batch(d, idx, batch, x, y);
    soma_target t = {.labels = y};
    const char *titles[2] = {"MLP", "LeNet"};
    const char *keys[2] = {"mlp", "lenet"};
    for (int p = 0; p < 2 && st == SOMA_OK; p++) st = sweep_(c, specs[p], d->shape, x, &t, batch, steps, ns, rate, &res[p]);
    if (st != SOMA_OK) goto out;

    const double cmin = fmin(res[0].cos_min, res[1].cos_min), cfpa = fmin(res[0].cos_min_fpa, res[1].cos_min_fpa);
    soma_exp_put(c, "cosine_min", cmin);
    soma_exp_put(c, "cosine_min_fpa", cfpa);
    soma_exp_put(c, "curve_error_scale", CURVE_SCALE);
    soma_exp_put(c, "fpa_error_scale", FPA_SCALE);
    soma_exp_put(c, "batch", batch);
    soma_exp_put(c, "rate", rate);
    float fs[N_STEPS_ALL];
    for (int k = 0; k < ns; k++) fs[k] = (float)steps[k];
    soma_exp_put_array(c, "steps", fs, ns);
    soma_exp_put_array(c, "error_scales", scales_, N_SCALES);
    for (int p = 0; p < 2; p++) {
        char key[96];
        snprintf(key, sizeof key, "cosine_min_%s", keys[p]);
        soma_exp_put(c, key, res[p].cos_min);
        snprintf(key, sizeof key, "cosine_min_fpa_%s", keys[p]);
        soma_exp_put(c, key, res[p].cos_min_fpa);
        snprintf(key, sizeof key, "%s_min_cosine_by_scale", keys[p]);
        soma_exp_put_array(c, key, res[p].by_scale, N_SCALES);
        snprintf(key, sizeof key, "%s_min_cosine_by_scale_fpa", keys[p]);
        soma_exp_put_array(c, key, res[p].by_scale_fpa, N_SCALES);
        snprintf(key, sizeof key, "%s_fpa_min_cosine_by_steps", keys[p]);
        soma_exp_put_array(c, key, res[p].curve_fpa_min, ns);
        for (int i = 0; i < res[p].nw; i++) {
            snprintf(key, sizeof key, "%s_cosine_by_steps_%s", keys[p], res[p].wname[i]);
            soma_exp_put_array(c, key, res[p].curve[i], ns);
        }
    }
    double tb = NAN, tp = NAN;
    if (time_samples > 0) {
        soma_dataset *sub = NULL;
        const int m = time_samples < d->n ? time_samples : d->n;
        st = soma_dataset_subset(d, m, &sub);
        if (st == SOMA_OK) st = time_epoch_(c, specs[0], sub, SOMA_RULE_BP, rate, &tb);
        if (st == SOMA_OK) st = time_epoch_(c, specs[0], sub, SOMA_RULE_PC, rate, &tp);
        soma_dataset_free(sub);
        if (st != SOMA_OK) goto out;
        soma_exp_put(c, "bp_epoch_seconds", tb);
        soma_exp_put(c, "pc_epoch_seconds", tp);
        soma_exp_put(c, "pc_over_bp_time", tp / tb);
        soma_exp_put(c, "timed_samples", m);
        soma_exp_put(c, "pc_steps_timed", 20);
    }
    char cost[160] = "";
    if (time_samples > 0)
        snprintf(cost, sizeof cost, "\ncost of an epoch of %d samples (MLP, 20 inference steps): PC %.2f s, BP %.2f s (%.1fx)",
                 time_samples < d->n ? time_samples : d->n, tp, tb, tp / tb);
    snprintf(c->headline, sizeof c->headline,
             "PC vs BP on a batch of %d (%s): min cosine over weight layers after %d inference steps, error scale %g: "
             "MLP %.5f, LeNet %.5f; fixed prediction, scale %g: %.6f%s",
             batch, data, steps[ns - 1], (double)CURVE_SCALE, res[0].cos_min, res[1].cos_min, (double)FPA_SCALE, cfpa,
             cost);
    st = plot_(c, res, titles, steps, ns);
out:
    soma_free(x);
    soma_free(y);
    soma_free(idx);
    soma_free(res);
    soma_dataset_free(d);
    return st;
}

const soma_experiment soma__exp_pc_equals_bp = {
    "pc-equals-bp",
    "Predictive coding's weight updates (inference learning) against backprop's gradients on a batch of "
    "Fashion-MNIST, MLP and LeNet: cosine per layer vs inference steps and error size; PC's cost per epoch.",
    landmarks_,
    opts_,
    reduced_,
    run_,
    NULL,
};
