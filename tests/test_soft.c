/* Distillation targets (soma_target.soft ...) in the xent loss and the training loop's
 * target_hook: the loss and its gradient against PyTorch (tests/ref/gen_soft.py) and against
 * finite differences; SOMA_LABEL_NONE rows; bad settings; soft rows under data-parallel
 * slicing; FF's refusal. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fixture.h"
#include "soma/soma.h"

typedef struct soft_case {
    int n, P, K, N;
    int *labels;
    soma_target t;
    const float *y, *z, *loss, *dy, *correct;
} soft_case;

/* Case `name` of the fixture as a target; 0 when every array is there. */
static int case_(const fixture *f, const char *name, soft_case *c) {
    char key[64];
    const fixture_array *a[7];
    const char *parts[7] = {"y", "z", "labels", "cfg", "loss", "dy", "correct"};
    for (int i = 0; i < 7; i++) {
        snprintf(key, sizeof key, "%s.%s", name, parts[i]);
        a[i] = fixture_get(f, key);
        if (!a[i]) {
            fprintf(stderr, "fixture soft: no array %s\n", key);
            return -1;
        }
    }
    const float *cfg = a[3]->data;
    memset(c, 0, sizeof *c);
    c->n = (int)cfg[0];
    c->P = (int)cfg[1];
    c->N = a[0]->dims[0];
    c->K = a[0]->dims[1];
    c->labels = malloc((size_t)c->N * sizeof(int));
    for (int i = 0; i < c->N; i++) c->labels[i] = (int)lrintf(a[2]->data[i]);
    c->t = (soma_target){.labels = c->labels, .positions = c->P, .head_offset = (int)cfg[2], .head_count = (int)cfg[3],
                         .soft = a[1]->data, .soft_count = (int)cfg[4], .soft_block = (int)cfg[5],
                         .soft_temp = cfg[6], .soft_weight = cfg[7]};
    c->y = a[0]->data;
    c->z = a[1]->data;
    c->loss = a[4]->data;
    c->dy = a[5]->data;
    c->correct = a[6]->data;
    return c->N == c->n * c->P ? 0 : -1;
}

static void test_reference(void) {
    fixture f;
    CHECK(fixture_load(check_src_path("tests/fixtures/learn/soft.bin"), &f) == 0);
    soma_rule *r;
    CHECK_OK(soma_rule_backprop_new(&r, SOMA_LOSS_XENT));
    const char *names[] = {"plain", "blocks", "head", "pos"};
    for (int ci = 0; ci < 4; ci++) {
        soft_case c;
        CHECK(case_(&f, names[ci], &c) == 0);
        if (!c.labels) continue;
        const int out = c.P * c.K;
        float loss = NAN;
        int correct = -1;
        char label[64];
        CHECK_OK(soma_rule_loss(r, c.y, out, &c.t, c.n, &loss, &correct));
        snprintf(label, sizeof label, "soft %s: loss", names[ci]);
        CHECK_CLOSE(label, &loss, c.loss, 1, 1e-5f, 1e-5f);
        snprintf(label, sizeof label, "soft %s: dy", names[ci]);
        CHECK_CLOSE(label, r->dy, c.dy, (size_t)c.N * c.K, 1e-6f, 1e-4f);
        CHECK(correct == (int)c.correct[0]);

        /* central finite differences of the loss (float loss: a coarse step, a loose bound) */
        float *y = malloc((size_t)c.N * c.K * sizeof(float)), *g = malloc((size_t)c.N * c.K * sizeof(float));
        memcpy(y, c.y, (size_t)c.N * c.K * sizeof(float));
        memcpy(g, r->dy, (size_t)c.N * c.K * sizeof(float));
        float *fd = malloc((size_t)c.N * c.K * sizeof(float));
        const float h = 1e-2f;
        for (int i = 0; i < c.N * c.K; i++) {
            float lp, lm;
            const float v = y[i];
            y[i] = v + h;
            CHECK_OK(soma_rule_loss(r, y, out, &c.t, c.n, &lp, NULL));
            y[i] = v - h;
            CHECK_OK(soma_rule_loss(r, y, out, &c.t, c.n, &lm, NULL));
            y[i] = v;
            fd[i] = (lp - lm) / (2 * h);
        }
        snprintf(label, sizeof label, "soft %s: finite differences", names[ci]);
        CHECK_CLOSE(label, g, fd, (size_t)c.N * c.K, 2e-4f, 2e-2f);

        /* weight 0: the hard term alone, the same as without soft targets (labelled rows) */
        soma_target t0 = c.t, th = c.t;
        t0.soft_weight = 0.f;
        th.soft = NULL;
        float l0, lh;
        CHECK_OK(soma_rule_loss(r, c.y, out, &t0, c.n, &l0, NULL));
        memcpy(g, r->dy, (size_t)c.N * c.K * sizeof(float));
        CHECK_OK(soma_rule_loss(r, c.y, out, &th, c.n, &lh, NULL));
        CHECK(l0 == lh && memcmp(g, r->dy, (size_t)c.N * c.K * sizeof(float)) == 0);
        CHECK(fabsf(l0 - loss) > 1e-3f); /* the soft term counts */
        free(fd);
        free(g);
        free(y);
        free(c.labels);
    }
    fixture_free(&f);
    soma_rule_free(r);
}

/* Without a soft target, a SOMA_LABEL_NONE row adds nothing to the loss's sum and gets no
 * gradient; the mean stays over all rows. */
static void test_label_none(void) {
    soma_rule *r;
    CHECK_OK(soma_rule_backprop_new(&r, SOMA_LOSS_XENT));
    const float y[9] = {1, 2, 0.5f, -1, 0, 3, 2, 2, 2};
    const int lab[3] = {1, SOMA_LABEL_NONE, 0}, lab1[1] = {1}, lab3[1] = {0};
    soma_target t = {.labels = lab, .positions = 1};
    float l, l1, l3;
    int c = -1;
    CHECK_OK(soma_rule_loss(r, y, 3, &t, 3, &l, &c));
    float dy[9];
    memcpy(dy, r->dy, sizeof dy);
    soma_target t1 = {.labels = lab1, .positions = 1}, t3 = {.labels = lab3, .positions = 1};
    CHECK_OK(soma_rule_loss(r, y, 3, &t1, 1, &l1, NULL));
    CHECK_OK(soma_rule_loss(r, y + 6, 3, &t3, 1, &l3, NULL));
    CHECK(fabsf(l - (l1 + l3) / 3.f) < 1e-6f);
    CHECK(c == 2); /* row 0 right (argmax 1), row 2 a tie won by 0: right; row 1 not counted */
    CHECK(dy[3] == 0.f && dy[4] == 0.f && dy[5] == 0.f && dy[0] != 0.f);
    soma_rule_free(r);
}

static void test_bad(void) {
    soma_rule *r, *m;
    CHECK_OK(soma_rule_backprop_new(&r, SOMA_LOSS_XENT));
    CHECK_OK(soma_rule_backprop_new(&m, SOMA_LOSS_MSE));
    const float y[8] = {0}, z[8] = {0};
    const int lab[2] = {0, 1};
    soma_target t = {.labels = lab, .positions = 1, .soft = z, .soft_count = 4, .soft_weight = 1.f, .soft_temp = 2.f};
    float l;
    CHECK_OK(soma_rule_loss(r, y, 4, &t, 2, &l, NULL));
    t.soft_count = 5;
    CHECK_FAILS(soma_rule_loss(r, y, 4, &t, 2, &l, NULL), SOMA_ERR_ARG);
    t.soft_count = 0;
    CHECK_FAILS(soma_rule_loss(r, y, 4, &t, 2, &l, NULL), SOMA_ERR_ARG);
    t.soft_count = 4;
    t.soft_block = 3;
    CHECK_FAILS(soma_rule_loss(r, y, 4, &t, 2, &l, NULL), SOMA_ERR_ARG);
    t.soft_block = 0;
    t.soft_weight = -1.f;
    CHECK_FAILS(soma_rule_loss(r, y, 4, &t, 2, &l, NULL), SOMA_ERR_ARG);
    t.soft_weight = NAN;
    CHECK_FAILS(soma_rule_loss(r, y, 4, &t, 2, &l, NULL), SOMA_ERR_ARG);
    t.soft_weight = 1.f;
    t.soft_temp = INFINITY;
    CHECK_FAILS(soma_rule_loss(r, y, 4, &t, 2, &l, NULL), SOMA_ERR_ARG);
    t.soft_temp = 1.f;
    const int badlab[2] = {0, 7};
    t.labels = badlab;
    CHECK_FAILS(soma_rule_loss(r, y, 4, &t, 2, &l, NULL), SOMA_ERR_ARG);
    /* soft targets need the xent loss */
    soma_target tm = {.values = y, .dim = 4, .soft = z, .soft_count = 4};
    CHECK_FAILS(soma_rule_loss(m, y, 4, &tm, 2, &l, NULL), SOMA_ERR_ARG);
    /* forward-forward has a loss of its own: it refuses soft targets */
    soma_net *net;
    CHECK_OK(soma_net_new(&net, "fc6,relu,fc6,relu,fc2", soma_shape1(4), 1));
    soma_rule_opts ro = soma_rule_opts_default();
    ro.kind = SOMA_RULE_FF;
    soma_rule *ff;
    CHECK_OK(soma_rule_new(&ff, net, &ro));
    CHECK_OK(soma_net_reserve(net, 2));
    soma_target tf = {.labels = lab, .positions = 1, .soft = z, .soft_count = 2, .soft_weight = 1.f};
    const float x[8] = {0.1f, 0.2f, 0.3f, 0.4f, -0.1f, 0.f, 1.f, 2.f};
    CHECK_FAILS(soma_rule_step(ff, net, x, &tf, 2, &l, NULL), SOMA_ERR_ARG);
    soma_rule_free(ff);
    soma_net_free(net);
    soma_rule_free(m);
    soma_rule_free(r);
}

// --- the training loop's target hook ------------------------------------------------------

typedef struct th_state {
    float *soft;
    int *lab;
    int cap, K, dim, calls, rows, bad;
    float w;
} th_state;

/* Teacher logits a fixed function of each row's input; rows whose first input is above 0.5
 * lose their label: both follow the rows wherever the loop slices them. */
static soma_status th_(void *user, soma_net *net, long step, const float *x, int n, soma_target *t) {
    (void)net;
    (void)step;
    th_state *s = user;
    s->calls++;
    s->rows += n;
    if (n > s->cap || t->positions != 1 || !t->labels) {
        s->bad++;
        return soma_error(SOMA_ERR_ARG, "th_: unexpected batch of %d rows", n);
    }
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < s->K; k++) s->soft[i * s->K + k] = 2.f * x[i * s->dim + k] - x[i * s->dim + k + 3];
        s->lab[i] = x[i * s->dim] > 0.5f ? SOMA_LABEL_NONE : t->labels[i];
    }
    t->labels = s->lab;
    t->soft = s->soft;
    t->soft_count = s->K;
    t->soft_temp = 2.f;
    t->soft_weight = s->w;
    return SOMA_OK;
}

/* Trains a small conv net (sliced into replicas when data_parallel is 2) with the hook; the
 * final parameters (caller frees). */
static float *hook_train_(int data_parallel, float w, size_t *np, th_state *s) {
    soma_set_threads(2);
    soma_dataset *d;
    float *out = NULL;
    if (soma_dataset_synthetic("gauss", 200, 64, 3, 3.f, 5, &d) != SOMA_OK) return NULL;
    d->shape = soma_shape3(1, 8, 8);
    soma_net *net;
    soma_optim *o;
    soma_rule *r;
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_SGD);
    soma_train_config c = soma_train_defaults();
    c.epochs = 2;
    c.batch = 40;
    c.sched.lr = 0.05f;
    c.quiet = 1;
    c.data_parallel = data_parallel;
    c.target_hook = th_;
    c.hooks.user = s;
    memset(s, 0, sizeof *s);
    s->cap = 40;
    s->K = 3;
    s->dim = 64;
    s->w = w;
    s->soft = malloc(40 * 3 * sizeof(float));
    s->lab = malloc(40 * sizeof(int));
    soma_train_log log = {0};
    CHECK_OK(soma_net_new(&net, "conv3x3x4p1,relu,maxpool2,fc3", soma_shape3(1, 8, 8), 7));
    CHECK_OK(soma_optim_new(&o, net, &oc));
    CHECK_OK(soma_rule_backprop_new(&r, SOMA_LOSS_XENT));
    CHECK_OK(soma_train(net, r, o, d, NULL, &c, &log));
    float *v = soma_net_flat_values(net, np);
    out = malloc(*np * sizeof *out);
    memcpy(out, v, *np * sizeof *out);
    soma_train_log_free(&log);
    soma_rule_free(r);
    soma_optim_free(o);
    soma_net_free(net);
    soma_dataset_free(d);
    free(s->soft);
    free(s->lab);
    return out;
}

static void test_target_hook(void) {
    th_state s0, s2, sw;
    size_t n0 = 0, n2 = 0, nw = 0;
    float *p0 = hook_train_(0, 1.f, &n0, &s0);
    float *p2 = hook_train_(2, 1.f, &n2, &s2);
    float *pw = hook_train_(0, 0.f, &nw, &sw);
    CHECK(s0.calls == 10 && s0.rows == 400 && s0.bad == 0 && s2.calls == 10 && s2.rows == 400);
    CHECK(n0 == n2 && n0 == nw && n0 > 0);
    /* slices see their own rows' soft targets and labels: the same training as on one net */
    CHECK_CLOSE("target hook: data-parallel vs one net", p2, p0, n0, 1e-5f, 1e-4f);
    /* and the soft term trains: weight 0 ends elsewhere */
    double diff = 0.0;
    for (size_t i = 0; i < n0; i++) diff += fabs((double)pw[i] - p0[i]);
    CHECK(diff > 1e-2);
    free(p0);
    free(p2);
    free(pw);
}

int main(void) {
    test_reference();
    test_label_none();
    test_bad();
    test_target_hook();
    return check_report("test_soft");
}
