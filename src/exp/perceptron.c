// perceptron: Rosenblatt's rule converges within Novikoff's bound on separable data, fails on
// XOR, and a two-layer network trained by backprop solves XOR.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/internal.h"
#include "soma/learn.h"
#include "soma/nn.h"
#include "soma/plot.h"

static const soma_opt opts_[] = {
    {"n", SOMA_OPT_INT, "500", 4, 1000000, NULL, "separable samples", 0},
    {"dim", SOMA_OPT_INT, "2", 1, 10000, NULL, "input dimension", 0},
    {"margin", SOMA_OPT_FLOAT, "0.1", 1e-4, 0.9, NULL, "minimum distance of a sample from the true hyperplane", 0},
    {"max-epochs", SOMA_OPT_INT, "1000", 1, 1000000, NULL, "passes before giving up", 0},
    {"xor-steps", SOMA_OPT_INT, "2000", 1, 10000000, NULL, "backprop steps of the two-layer network on XOR", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark landmarks_[] = {
    {"the perceptron rule converges on linearly separable data (1 = converged)", "Rosenblatt 1958",
     "https://doi.org/10.1037/h0042519", "separable_converged", SOMA_EXP_AT_LEAST, 1.0},
    {"mistakes before convergence over the bound (R/gamma)^2", "Block 1962 (also Novikoff 1962)",
     "https://doi.org/10.1103/RevModPhys.34.123", "mistakes_over_bound", SOMA_EXP_AT_MOST, 1.0},
    {"XOR: no linear threshold unit gets more than 3 of 4 right", "Minsky & Papert 1969",
     "https://mitpress.mit.edu/9780262630221/perceptrons/", "xor_perceptron_accuracy", SOMA_EXP_AT_MOST, 0.75},
    {"XOR: a two-layer network trained by backprop gets all 4 right", "Rumelhart, Hinton & Williams 1986",
     "https://doi.org/10.1038/323533a0", "xor_mlp_accuracy", SOMA_EXP_AT_LEAST, 1.0},
    {NULL, NULL, NULL, NULL, 0, 0},
};

static const char *const reduced_[] = {"--n", "200", "--xor-steps", "1500", NULL};

/* Separable data: x uniform in [-1,1]^d, labelled by a random unit hyperplane through an
 * offset, keeping only points at least `margin` from it. */
static void make_separable_(soma_rng *r, float *x, int *y, int n, int d, float margin, float *u, float *c) {
    double norm = 0.0;
    for (int j = 0; j < d; j++) {
        u[j] = (float)soma_rng_normal(r);
        norm += (double)u[j] * u[j];
    }
    norm = sqrt(norm);
    for (int j = 0; j < d; j++) u[j] = (float)(u[j] / norm);
    *c = (float)(0.3 * (2.0 * soma_rng_uniform(r) - 1.0));
    for (int i = 0; i < n;) {
        float *xi = x + (size_t)i * d;
        double a = *c;
        for (int j = 0; j < d; j++) {
            xi[j] = (float)(2.0 * soma_rng_uniform(r) - 1.0);
            a += (double)u[j] * xi[j];
        }
        if (fabs(a) < margin) continue;
        y[i++] = a > 0 ? 1 : -1;
    }
}

static soma_status run_(soma_exp_ctx *c) {
    int n, d, max_epochs, xor_steps;
    float margin;
    SOMA_TRY(soma_args_int(&c->args, "n", &n));
    SOMA_TRY(soma_args_int(&c->args, "dim", &d));
    SOMA_TRY(soma_args_float(&c->args, "margin", &margin));
    SOMA_TRY(soma_args_int(&c->args, "max-epochs", &max_epochs));
    SOMA_TRY(soma_args_int(&c->args, "xor-steps", &xor_steps));
    soma_rng rng;
    soma_rng_seed(&rng, c->seed, 1);
    soma_status st = SOMA_OK;
    float *x = soma_alloc((size_t)n, (size_t)d * sizeof(float));
    int *y = soma_alloc((size_t)n, sizeof(int));
    float *u = soma_alloc((size_t)d, sizeof(float));
    float *w = soma_calloc((size_t)d, sizeof(float));
    long *per_epoch = soma_alloc((size_t)max_epochs, sizeof(long));
    soma_net *net = NULL;
    soma_optim *opt = NULL;
    soma_rule *rule = NULL;
    soma_fig *f = NULL;
    if (!x || !y || !u || !w || !per_epoch) {
        st = SOMA_ERR_NOMEM;
        goto out;
    }
    // --- 1. separable data: convergence within Novikoff's bound
    float cc, b = 0.f;
    make_separable_(&rng, x, y, n, d, margin, u, &cc);
    double gamma, radius;
    soma_perceptron_margin(u, cc, x, y, n, d, &gamma, &radius);
    double bound = (radius / gamma) * (radius / gamma);
    soma_perceptron_result res;
    if ((st = soma_perceptron_train(w, &b, x, y, n, d, 1.f, max_epochs, per_epoch, &res)) != SOMA_OK) goto out;
    int right = 0;
    for (int i = 0; i < n; i++) right += soma_perceptron_predict(w, b, x + (size_t)i * d, d) == y[i];
    soma_exp_put(c, "separable_converged", res.converged);
    soma_exp_put(c, "separable_mistakes", (double)res.mistakes);
    soma_exp_put(c, "novikoff_bound", bound);
    soma_exp_put(c, "margin_gamma", gamma);
    soma_exp_put(c, "radius_R", radius);
    soma_exp_put(c, "separable_epochs", res.epochs);
    soma_exp_put(c, "separable_accuracy", (double)right / n);
    soma_exp_put(c, "mistakes_over_bound", (double)res.mistakes / bound);

    // --- 2. XOR: no line separates it, the perceptron never converges
    const float xx[8] = {0, 0, 0, 1, 1, 0, 1, 1};
    const int xy_pm[4] = {-1, 1, 1, -1}, xy[4] = {0, 1, 1, 0};
    float xw[2] = {0, 0}, xb = 0.f;
    int xor_epochs = 1000;
    soma_perceptron_result xres;
    if ((st = soma_perceptron_train(xw, &xb, xx, xy_pm, 4, 2, 1.f, xor_epochs, NULL, &xres)) != SOMA_OK) goto out;
    int best = 0; /* the best any line can do is 3 of 4; report what the rule ends with */
    for (int i = 0; i < 4; i++) best += soma_perceptron_predict(xw, xb, xx + 2 * i, 2) == xy_pm[i];
    soma_exp_put(c, "xor_perceptron_converged", xres.converged);
    soma_exp_put(c, "xor_perceptron_accuracy", best / 4.0);
    soma_exp_put(c, "xor_perceptron_mistakes", (double)xres.mistakes);

    // --- 3. XOR solved by a two-layer network trained by backprop
    if ((st = soma_net_new(&net, "fc8,tanh,fc2", soma_shape1(2), c->seed)) != SOMA_OK) goto out;
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_ADAM);
    if ((st = soma_optim_new(&opt, net, &oc)) != SOMA_OK) goto out;
    if ((st = soma_rule_backprop_new(&rule, SOMA_LOSS_XENT)) != SOMA_OK) goto out;
    soma_target t = {.labels = xy};
    float loss = NAN;
    int correct = 0;
    for (int s = 0; s < xor_steps; s++) {
        if ((st = soma_rule_step(rule, net, xx, &t, 4, &loss, &correct)) != SOMA_OK) goto out;
        soma_optim_step(opt, 0.02f);
    }
    const float *out;
    if ((st = soma_net_forward(net, xx, 4, SOMA_MODE_EVAL, &out)) != SOMA_OK) goto out;
    int mlp_right = soma_count_correct(out, xy, 4, 2);
    float final_loss = soma_softmax_xent(NULL, NULL, out, xy, 4, 2);
    soma_exp_put(c, "xor_mlp_accuracy", mlp_right / 4.0);
    soma_exp_put(c, "xor_mlp_loss", final_loss);

    snprintf(c->headline, sizeof c->headline,
             "separable data: %ld mistakes before convergence in %d epochs; Novikoff bound (R/gamma)^2 = %.0f "
             "(R %.3f, gamma %.4f)\n"
             "XOR: perceptron %s after %d epochs, %d/4 right; 2-layer net (backprop): %d/4 right, loss %.4f",
             res.mistakes, res.epochs, bound, radius, gamma, xres.converged ? "converged" : "did not converge",
             xres.epochs, best, mlp_right, (double)final_loss);

    // --- figures: the data and boundary, mistakes per epoch against the bound, XOR
    if ((st = soma_fig_new(&f, 1, 3, 1260, 400)) != SOMA_OK) goto out;
    soma_fig_title(f, "Rosenblatt's perceptron");
    if (d == 2) {
        float *px = soma_alloc((size_t)n, sizeof(float)), *py = soma_alloc((size_t)n, sizeof(float));
        int *cls = soma_alloc((size_t)n, sizeof(int));
        if (!px || !py || !cls) {
            soma_free(px);
            soma_free(py);
            soma_free(cls);
            st = SOMA_ERR_NOMEM;
            goto out;
        }
        for (int i = 0; i < n; i++) {
            px[i] = x[2 * i];
            py[i] = x[2 * i + 1];
            cls[i] = y[i] > 0;
        }
        const char *names[2] = {"y = -1", "y = +1"};
        soma_fig_labels(f, 0, "Separable data and the learned boundary", "x1", "x2");
        st = soma_fig_scatter(f, 0, px, py, cls, n, names, 2);
        soma_free(px);
        soma_free(py);
        soma_free(cls);
        if (st != SOMA_OK) goto out;
        if (fabsf(w[1]) > 1e-6f) { /* w0 x + w1 y + b = 0 */
            float lx[2] = {-1.f, 1.f}, ly[2] = {(-b + w[0]) / w[1], (-b - w[0]) / w[1]};
            soma_line_style s = {0, 0, 0, 2.f};
            if ((st = soma_fig_line(f, 0, lx, ly, 2, "perceptron", &s)) != SOMA_OK) goto out;
            soma_fig_ylim(f, 0, -1.1, 1.1);
        }
    }
    {
        int ne = res.epochs;
        float *ex = soma_alloc((size_t)ne, sizeof(float)), *cum = soma_alloc((size_t)ne, sizeof(float));
        if (!ex || !cum) {
            soma_free(ex);
            soma_free(cum);
            st = SOMA_ERR_NOMEM;
            goto out;
        }
        double acc = 0;
        for (int e = 0; e < ne; e++) {
            ex[e] = (float)(e + 1);
            acc += (double)per_epoch[e];
            cum[e] = (float)acc;
        }
        soma_fig_labels(f, 1, "Mistakes vs Novikoff's bound", "epoch", "mistakes (cumulative)");
        soma_line_style s = {0, 0, 1, 0.f};
        st = soma_fig_line(f, 1, ex, cum, ne, "perceptron", &s);
        soma_free(ex);
        soma_free(cum);
        if (st != SOMA_OK) goto out;
        char lab[64];
        snprintf(lab, sizeof lab, "(R/gamma)^2 = %.0f", bound);
        if ((st = soma_fig_hline(f, 1, (float)bound, lab)) != SOMA_OK) goto out;
        soma_fig_logy(f, 1, 1);
    }
    {
        const float v[2] = {(float)(best / 4.0 * 100.0), (float)(mlp_right / 4.0 * 100.0)};
        const char *labels[2] = {"perceptron", "2-layer net"};
        soma_fig_labels(f, 2, "XOR", "", "accuracy (%)");
        if ((st = soma_fig_bars(f, 2, v, NULL, 2, labels, 0)) != SOMA_OK) goto out;
        soma_fig_ylim(f, 2, 0, 100);
    }
    char path[1100];
    st = soma_fig_save(f, soma_exp_path(c, "perceptron.svg", path, sizeof path));
out:
    soma_fig_free(f);
    soma_rule_free(rule);
    soma_optim_free(opt);
    soma_net_free(net);
    soma_free(x);
    soma_free(y);
    soma_free(u);
    soma_free(w);
    soma_free(per_epoch);
    return st;
}

const soma_experiment soma__exp_perceptron = {
    "perceptron",
    "Rosenblatt's rule converges on linearly separable data within Novikoff's bound, fails on "
    "XOR; a two-layer network trained by backprop solves XOR.",
    landmarks_,
    opts_,
    reduced_,
    run_,
    NULL, /* no check beyond the typed options */
};
