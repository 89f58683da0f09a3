// Continual learning, soma_cl_opts.penalty_decoupled (src/learn/cl_method.c): EWC's and SI's
// quadratic penalty applied as an implicit (proximal) step after the optimizer's, per parameter
// theta <- a + (theta - a) / (1 + lr s), s = lambda F (EWC) or 2 c Omega (SI): the data's
// gradient is left alone, the loss still reports the penalty, and the step matches the formula
// computed here from the Fisher (soma_cl_fisher) and the anchors; SI's path integral counts the
// whole step. Coupled mode (the default) keeps adding the penalty's gradient.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "dataset_util.h"
#include "soma/learn.h"
#include "soma/nn.h"

static void test_ewc_decoupled(void) {
    soma_net *net;
    CHECK_OK(soma_net_new(&net, "fc4,tanh,fc3", soma_shape1(3), 7));
    soma_rule *rule;
    CHECK_OK(soma_rule_backprop_new(&rule, SOMA_LOSS_XENT));
    size_t nv;
    float *th = soma_net_flat_values(net, &nv), *g = soma_net_flat_grads(net, NULL);
    float x[36];
    int y[12];
    soma_rng r;
    soma_rng_seed(&r, 3, 0);
    soma_rng_normal_fill(&r, x, 36, 0.f, 1.f);
    for (int i = 0; i < 12; i++) y[i] = i % 3;
    soma_dataset *d = mkdata_(x, y, 12, 3, 3);
    for (int decoupled = 0; decoupled <= 1; decoupled++) {
        soma_cl_opts o = soma_cl_opts_default();
        o.method = SOMA_CL_EWC;
        o.ewc_lambda = 40.f;
        o.fisher = SOMA_FISHER_EMPIRICAL;
        o.fisher_samples = 0;
        o.penalty_decoupled = decoupled;
        soma_cl_method *m;
        CHECK_OK(soma_cl_method_new(&m, net, rule, &o, 12, 3));
        soma_train_config cfg = soma_train_defaults();
        CHECK_OK(soma_cl_method_attach(m, &cfg, 0, 0, 0));
        CHECK((cfg.hooks.after_step != NULL) == decoupled);
        float *F = soma_alloc(nv, sizeof(float)), *star = soma_alloc(nv, sizeof(float));
        float *g0 = soma_alloc(nv, sizeof(float)), *want = soma_alloc(nv, sizeof(float));
        CHECK_OK(soma_cl_fisher(net, rule, d, 0, 1, SOMA_FISHER_EMPIRICAL, 0, 0, NULL, NULL, F));
        memcpy(star, th, nv * sizeof(float));
        CHECK_OK(cfg.hooks.task_end(cfg.hooks.user, net, 0, d));
        double fmax = 0;
        for (size_t i = 0; i < nv; i++) fmax = fmax > F[i] ? fmax : F[i];
        CHECK(fmax > 1e-3); /* the Fisher is not trivially zero: the step below moves something */
        /* away from the anchor, with some data gradient */
        for (size_t i = 0; i < nv; i++) th[i] = star[i] + 0.5f * (float)soma_rng_normal(&r);
        soma_rng_normal_fill(&r, g0, nv, 0.f, 1.f);
        memcpy(g, g0, nv * sizeof(float));
        const double pen = soma_cl_method_penalty(m, net, NULL);
        float loss = 2.f;
        CHECK_OK(cfg.hooks.after_grad(cfg.hooks.user, net, 0, &loss));
        CHECK(pen > 0 && fabs(loss - (2.0 + pen)) < 1e-4 * (2 + pen)); /* reported either way */
        if (!decoupled) { /* coupled: the penalty's gradient joins the data's */
            for (size_t i = 0; i < nv; i++) want[i] = g0[i] + 40.f * F[i] * (th[i] - star[i]);
            CHECK_CLOSE("coupled: data + penalty gradient", g, want, nv, 1e-5f, 1e-4f);
        } else { /* decoupled: the gradient is the data's alone; the proximal step follows */
            CHECK(memcmp(g, g0, nv * sizeof(float)) == 0);
            const float lr = 0.05f;
            for (size_t i = 0; i < nv; i++) want[i] = star[i] + (th[i] - star[i]) / (1.f + lr * 40.f * F[i]);
            CHECK_OK(cfg.hooks.after_step(cfg.hooks.user, net, 0, lr));
            CHECK_CLOSE("decoupled: the proximal step", th, want, nv, 1e-6f, 1e-5f);
            /* the step shrinks the penalty, and more where F is larger */
            CHECK(soma_cl_method_penalty(m, net, NULL) < pen);
        }
        memcpy(th, star, nv * sizeof(float));
        soma_free(F), soma_free(star), soma_free(g0), soma_free(want);
        soma_cl_method_free(m);
    }
    /* a value other than 0 and 1 is refused */
    soma_cl_opts o = soma_cl_opts_default();
    o.method = SOMA_CL_EWC;
    o.penalty_decoupled = 2;
    soma_cl_method *m = NULL;
    CHECK(soma_cl_method_new(&m, net, rule, &o, 12, 3) == SOMA_ERR_ARG);
    soma_dataset_free(d);
    soma_rule_free(rule);
    soma_net_free(net);
}

/* SI decoupled on one weight and one bias: two plain steps build Omega as in the coupled
 * case (the penalty is zero before the first consolidation), then a step away from the anchor
 * with zero data gradient is the proximal step alone, and the path integral counts nothing
 * for it (the data gradient is zero). */
static void test_si_decoupled(void) {
    soma_net *net;
    CHECK_OK(soma_net_new(&net, "fc1", soma_shape1(1), 1));
    soma_rule *rule;
    CHECK_OK(soma_rule_backprop_new(&rule, SOMA_LOSS_XENT));
    soma_cl_opts o = soma_cl_opts_default();
    o.method = SOMA_CL_SI;
    o.si_c = 2.f;
    o.si_xi = 0.1f;
    o.penalty_decoupled = 1;
    soma_param *pw = soma_net_param(net, 0), *pb = soma_net_param(net, 1);
    pw->value[0] = 1.f;
    pb->value[0] = 0.f;
    soma_cl_method *m;
    CHECK_OK(soma_cl_method_new(&m, net, rule, &o, 10, 1));
    soma_train_config cfg = soma_train_defaults();
    CHECK_OK(soma_cl_method_attach(m, &cfg, 0, 0, 0));
    const float gs[2][2] = {{0.5f, -1.f}, {0.2f, 0.4f}};
    for (int s = 0; s < 2; s++) {
        soma_net_zero_grad(net);
        pw->grad[0] = gs[s][0];
        pb->grad[0] = gs[s][1];
        float loss = 0.f;
        CHECK_OK(cfg.hooks.after_grad(cfg.hooks.user, net, s, &loss));
        pw->value[0] -= 0.1f * pw->grad[0];
        pb->value[0] -= 0.1f * pb->grad[0];
        CHECK_OK(cfg.hooks.after_step(cfg.hooks.user, net, s, 0.1f)); /* nothing consolidated: no pull */
    }
    CHECK(fabsf(pw->value[0] - 0.93f) < 1e-6f && fabsf(pb->value[0] - 0.06f) < 1e-6f);
    soma_dataset *d = soma_calloc(1, sizeof *d);
    CHECK_OK(cfg.hooks.task_end(cfg.hooks.user, net, 0, d));
    soma_free(d);
    const float om[2] = {0.029f / (0.0049f + 0.1f), 0.116f / (0.0036f + 0.1f)}; /* as test_cl's hand example */
    /* away from the anchor (0.93, 0.06); zero data gradient; step of lr 0.2 */
    pw->value[0] = 0.93f + 0.4f;
    pb->value[0] = 0.06f - 0.3f;
    soma_net_zero_grad(net);
    float loss = 0.f;
    CHECK_OK(cfg.hooks.after_grad(cfg.hooks.user, net, 2, &loss));
    CHECK(pw->grad[0] == 0.f && pb->grad[0] == 0.f);
    CHECK_OK(cfg.hooks.after_step(cfg.hooks.user, net, 2, 0.2f));
    const float want[2] = {0.93f + 0.4f / (1.f + 0.2f * 4.f * om[0]), 0.06f - 0.3f / (1.f + 0.2f * 4.f * om[1])};
    const float got[2] = {pw->value[0], pb->value[0]};
    CHECK_CLOSE("SI decoupled proximal step", got, want, 2, 1e-6f, 1e-5f);
    soma_cl_method_free(m);
    soma_rule_free(rule);
    soma_net_free(net);
}

int main(void) {
    test_ewc_decoupled();
    test_si_decoupled();
    return check_report("cl_penalty");
}
