// Networks end to end: spec errors, gradients through the whole stack, optimizers against
// torch.optim, schedules, checkpoints (round trip, corruption, mismatch), NPY export/import,
// reproducibility and resume.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "scratch.h"
#include "fixture.h"
#include "soma/soma.h"

static void test_spec_errors(void) {
    soma_net *n = NULL;
    soma_shape img = soma_shape3(1, 28, 28);
    CHECK_FAILS(soma_net_new(&n, "fc10,,relu", img, 1), SOMA_ERR_PARSE);
    CHECK_FAILS(soma_net_new(&n, "bogus", img, 1), SOMA_ERR_PARSE);
    CHECK_FAILS(soma_net_new(&n, "fc10,", img, 1), SOMA_ERR_PARSE);
    CHECK_FAILS(soma_net_new(&n, "", img, 1), SOMA_ERR_PARSE);
    CHECK_FAILS(soma_net_new(&n, "fc0", img, 1), SOMA_ERR_PARSE);
    CHECK_FAILS(soma_net_new(&n, "conv5x5x6,relu,conv9x9x4", soma_shape3(1, 12, 12), 1), SOMA_ERR_SHAPE);
    CHECK_FAILS(soma_net_new(&n, "fc10", soma_shape1(0), 1), SOMA_ERR_SHAPE);
    CHECK_FAILS(soma_net_new(&n, "fc99999999", img, 1), SOMA_ERR_SHAPE);
    CHECK(n == NULL);
    CHECK_OK(soma_net_new(&n, " conv5x5x6p2 , relu,maxpool2,fc10", img, 1));
    if (n) {
        CHECK(soma_net_n_layers(n) == 4);
        CHECK(soma_shape_eq(soma_net_out_shape(n), soma_shape1(10)));
        char buf[1024];
        soma_net_summary(n, buf, sizeof buf);
        CHECK(strstr(buf, "total") != NULL);
    }
    soma_net_free(n);
}

/* dL/dparam of L = sum(r * y) through the whole network, against central differences. */
static void test_net_gradients(void) {
    soma_net *net = NULL;
    const int N = 3;
    CHECK_OK(soma_net_new(&net, "conv3x3x4p1,relu,maxpool2,conv3x3x3,tanh,fc6,gelu,layernorm,fc3", soma_shape3(2, 8, 8), 5));
    if (!net) return;
    soma_rng r;
    soma_rng_seed(&r, 9, 0);
    float x[3 * 2 * 8 * 8], proj[3 * 3];
    soma_rng_normal_fill(&r, x, sizeof x / sizeof *x, 0, 1);
    soma_rng_normal_fill(&r, proj, 9, 0, 1);
    const float *y;
    soma_net_zero_grad(net);
    CHECK_OK(soma_net_forward(net, x, N, SOMA_MODE_TRAIN, &y));
    CHECK_OK(soma_net_backward(net, proj, N));
    double worst = 0;
    for (int k = 0; k < soma_net_n_params(net); k++) {
        soma_param *p = soma_net_param(net, k);
        for (size_t i = 0; i < p->n; i += 1 + p->n / 7) {
            float keep = p->value[i];
            double lp, lm;
            const float eps = 1e-3f;
            p->value[i] = keep + eps;
            soma_net_forward(net, x, N, SOMA_MODE_TRAIN, &y);
            lp = 0;
            for (int j = 0; j < 9; j++) lp += (double)proj[j] * y[j];
            p->value[i] = keep - eps;
            soma_net_forward(net, x, N, SOMA_MODE_TRAIN, &y);
            lm = 0;
            for (int j = 0; j < 9; j++) lm += (double)proj[j] * y[j];
            p->value[i] = keep;
            double num = (lp - lm) / (2 * eps), ana = p->grad[i];
            double rel = fabs(num - ana) / fmax(1e-2, fabs(num) + fabs(ana));
            if (!(rel <= worst)) worst = isnan(rel) ? INFINITY : rel; /* a NaN gradient fails */
        }
    }
    printf("network gradient check: worst relative error %.2e\n", worst);
    CHECK(worst < 1e-2);
    soma_net_free(net);
}

static void test_optim_vs_torch(void) {
    const char *cases[] = {"sgd",  "sgd_momentum_wd", "sgd_nesterov", "adam",
                           "adam_wd", "adamw", "adam_beta1_0", "adamw_eps_0"};
    const soma_optim_kind kinds[] = {SOMA_OPTIM_SGD,  SOMA_OPTIM_SGD,   SOMA_OPTIM_SGD,  SOMA_OPTIM_ADAM,
                                     SOMA_OPTIM_ADAM, SOMA_OPTIM_ADAMW, SOMA_OPTIM_ADAM, SOMA_OPTIM_ADAMW};
    const float mom[] = {0.f, 0.9f, 0.9f, 0.f, 0.f, 0.f, 0.f, 0.f}, wd[] = {0.f, 0.01f, 0.01f, 0.f, 0.05f, 0.05f, 0.f, 0.05f};
    soma_optim_config cfgs[8];
    for (int c = 0; c < 8; c++) {
        cfgs[c] = soma_optim_defaults(kinds[c]);
        cfgs[c].momentum = mom[c];
        cfgs[c].weight_decay = wd[c];
    }
    cfgs[2].nesterov = 1;
    cfgs[6].beta1 = 0.f; /* zero means zero, not "the default" */
    cfgs[7].eps = 0.f;
    for (int c = 0; c < 8; c++) {
        char path[256];
        snprintf(path, sizeof path, "tests/fixtures/optim/%s.bin", cases[c]);
        fixture f;
        if (fixture_load(check_src_path(path), &f) != 0) {
            CHECK(0);
            continue;
        }
        soma_net *net = NULL;
        soma_optim *o = NULL;
        CHECK_OK(soma_net_new(&net, "fc3", soma_shape1(2), 1));
        CHECK_OK(soma_optim_new(&o, net, &cfgs[c]));
        soma_param *w = soma_net_param(net, 0), *b = soma_net_param(net, 1);
        memcpy(w->value, fixture_get(&f, "weight")->data, 6 * sizeof(float));
        memcpy(b->value, fixture_get(&f, "bias")->data, 3 * sizeof(float));
        for (int k = 0; k < 5; k++) {
            char key[64];
            snprintf(key, sizeof key, "%d.weight.grad", k);
            memcpy(w->grad, fixture_get(&f, key)->data, 6 * sizeof(float));
            snprintf(key, sizeof key, "%d.bias.grad", k);
            memcpy(b->grad, fixture_get(&f, key)->data, 3 * sizeof(float));
            soma_optim_step(o, 0.1f);
            char label[96];
            snprintf(key, sizeof key, "%d.weight", k);
            snprintf(label, sizeof label, "%s step %d weight", cases[c], k);
            CHECK_CLOSE(label, w->value, fixture_get(&f, key)->data, 6, 1e-6f, 1e-5f);
            snprintf(key, sizeof key, "%d.bias", k);
            snprintf(label, sizeof label, "%s step %d bias", cases[c], k);
            CHECK_CLOSE(label, b->value, fixture_get(&f, key)->data, 3, 1e-6f, 1e-5f);
        }
        soma_optim_free(o);
        soma_net_free(net);
        fixture_free(&f);
    }
    soma_optim_kind k;
    CHECK_FAILS(soma_optim_parse("rmsprop", &k), SOMA_ERR_ARG);
}

static void test_sched(void) {
    soma_sched s = {SOMA_SCHED_COSINE, 1.0f, 0.1f, 0.f, 0, 100, 0};
    CHECK(fabsf(soma_sched_lr(&s, 0) - 1.0f) < 1e-6f);
    CHECK(fabsf(soma_sched_lr(&s, 50) - 0.55f) < 1e-5f);
    CHECK(fabsf(soma_sched_lr(&s, 100) - 0.1f) < 1e-6f);
    soma_sched t = {SOMA_SCHED_STEP, 1.0f, 0.f, 0.5f, 10, 0, 0};
    CHECK(fabsf(soma_sched_lr(&t, 9) - 1.0f) < 1e-6f && fabsf(soma_sched_lr(&t, 25) - 0.25f) < 1e-6f);
    soma_sched w = {SOMA_SCHED_CONSTANT, 1.0f, 0.f, 0.f, 0, 0, 4};
    CHECK(fabsf(soma_sched_lr(&w, 0) - 0.25f) < 1e-6f && fabsf(soma_sched_lr(&w, 10) - 1.0f) < 1e-6f);
}

static soma_status train_(soma_net *net, soma_optim *o, const soma_dataset *d, int epochs, const char *ckpt,
                          int resume, soma_train_log *log) {
    soma_rule *rule;
    SOMA_TRY(soma_rule_backprop_new(&rule, SOMA_LOSS_XENT));
    soma_train_config c = soma_train_defaults();
    c.epochs = epochs;
    c.batch = 32;
    c.sched.lr = 0.01f;
    c.quiet = 1;
    c.ckpt_path = ckpt;
    c.resume = resume;
    soma_status st = soma_train_classifier(net, rule, o, d, d, &c, log);
    soma_rule_free(rule);
    return st;
}

static void test_train_resume_ckpt(void) {
    soma_dataset *d = NULL;
    CHECK_OK(soma_dataset_synthetic("gauss", 600, 10, 3, 6.0f, 4, &d));
    if (!d) return;
    const char *spec = "fc16,relu,dropout0.1,fc3";
    soma_shape in = d->shape;
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_ADAM);
    soma_net *a = NULL, *b = NULL;
    soma_optim *oa = NULL, *ob = NULL;
    soma_train_log la = {0}, lb = {0};
    CHECK_OK(soma_net_new(&a, spec, in, 3));
    CHECK_OK(soma_optim_new(&oa, a, &oc));
    CHECK_OK(train_(a, oa, d, 4, NULL, 0, &la));
    printf("synthetic 3-class training accuracy after 4 epochs: %.3f\n", (double)la.test_acc[3]);
    CHECK(la.test_acc[3] > 0.95f);
    /* same seed, 2 epochs + checkpoint + resume to 4: identical parameters, bit for bit */
    unlink(scratch_path("run.ckpt"));
    CHECK_OK(soma_net_new(&b, spec, in, 3));
    CHECK_OK(soma_optim_new(&ob, b, &oc));
    CHECK_OK(train_(b, ob, d, 2, scratch_path("run.ckpt"), 0, &lb));
    soma_optim_free(ob);
    soma_net_free(b);
    soma_train_log_free(&lb);
    CHECK_OK(soma_net_new(&b, spec, in, 3));
    CHECK_OK(soma_optim_new(&ob, b, &oc));
    CHECK_OK(train_(b, ob, d, 4, scratch_path("run.ckpt"), 1, &lb));
    CHECK(lb.start_epoch == 2);
    size_t na, nb;
    float *va = soma_net_flat_values(a, &na), *vb = soma_net_flat_values(b, &nb);
    CHECK(na == nb && memcmp(va, vb, na * sizeof(float)) == 0);

    /* checkpoint corruption: every flipped byte region and truncation is refused */
    void *buf;
    size_t n;
    CHECK_OK(soma_file_read(scratch_path("run.ckpt"), 0, &buf, &n));
    unsigned char *bytes = buf;
    for (size_t at = 0; at < n; at += n / 13 + 1) {
        bytes[at] ^= 0x5a;
        CHECK_FAILS(soma_ckpt_load_mem(bytes, n, b, ob, NULL), SOMA_ERR_FORMAT);
        bytes[at] ^= 0x5a;
    }
    for (size_t cut = 0; cut < n; cut += n / 7 + 1) CHECK_FAILS(soma_ckpt_load_mem(bytes, cut, b, ob, NULL), SOMA_ERR_FORMAT);
    CHECK_OK(soma_ckpt_load_mem(bytes, n, b, ob, NULL));
    soma_free(buf);
    CHECK_FAILS(soma_ckpt_load(scratch_path("missing.ckpt"), b, NULL, NULL), SOMA_ERR_IO);
    soma_net *other = NULL;
    CHECK_OK(soma_net_new(&other, "fc8,relu,fc3", in, 3));
    CHECK_FAILS(soma_ckpt_load(scratch_path("run.ckpt"), other, NULL, NULL), SOMA_ERR_SHAPE);
    char spec2[256];
    soma_shape in2;
    CHECK_OK(soma_ckpt_peek(scratch_path("run.ckpt"), spec2, sizeof spec2, &in2));
    CHECK(strcmp(spec2, spec) == 0 && soma_shape_eq(in2, in));
    struct stat sb;
    char tmpname[600];
    snprintf(tmpname, sizeof tmpname, "%s.tmp.%d", scratch_path("run.ckpt"), (int)getpid());
    CHECK(stat(tmpname, &sb) != 0);

    /* NPY export / import round trip, and a mismatched shape refused without changes */
    CHECK_OK(soma_net_save_npy(a, scratch_path("npy")));
    vb = soma_net_flat_values(b, &nb);
    memset(vb, 0, nb * sizeof(float)); /* b equals a already (resumed): make the load show */
    CHECK_OK(soma_net_load_npy(b, scratch_path("npy")));
    CHECK(memcmp(va, vb, na * sizeof(float)) == 0);
    CHECK_FAILS(soma_net_load_npy(other, scratch_path("npy")), SOMA_ERR_SHAPE);
    CHECK_FAILS(soma_net_load_npy(b, scratch_path("no-such-dir")), SOMA_ERR_IO);

    soma_net_free(other);
    soma_optim_free(oa);
    soma_optim_free(ob);
    soma_net_free(a);
    soma_net_free(b);
    soma_train_log_free(&la);
    soma_train_log_free(&lb);
    soma_dataset_free(d);
}

/* Data-parallel steps (one replica per thread, gradients summed by slice size) follow the
 * single-net run to rounding, conv layers included (their kernels run nested, single-threaded). */
static void test_data_parallel(const char *spec) {
    soma_dataset *d = NULL;
    CHECK_OK(soma_dataset_synthetic("gauss", 700, 64, 3, 4.0f, 5, &d));
    if (!d) return;
    d->shape = soma_shape3(1, 8, 8); /* the same values as 8x8 images */
    float *v[2] = {NULL, NULL};
    size_t n = 0;
    soma_net *nets[2] = {NULL, NULL};
    for (int dp = 0; dp < 2; dp++) {
        soma_optim *o = NULL;
        soma_rule *r = NULL;
        soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_SGD);
        oc.momentum = 0.9f;
        CHECK_OK(soma_net_new(&nets[dp], spec, soma_shape3(1, 8, 8), 7));
        CHECK_OK(soma_optim_new(&o, nets[dp], &oc));
        CHECK_OK(soma_rule_backprop_new(&r, SOMA_LOSS_XENT));
        soma_train_config c = soma_train_defaults();
        c.epochs = 2;
        c.batch = 50; /* 700 = 14 batches; slices of 25 */
        c.sched.lr = 0.05f;
        c.quiet = 1;
        c.data_parallel = dp;
        soma_train_log log = {0};
        CHECK_OK(soma_train_classifier(nets[dp], r, o, d, NULL, &c, &log));
        v[dp] = soma_net_flat_values(nets[dp], &n);
        soma_train_log_free(&log);
        soma_rule_free(r);
        soma_optim_free(o);
    }
    CHECK_CLOSE(spec, v[1], v[0], n, 1e-4f, 1e-3f);
    soma_net_free(nets[0]);
    soma_net_free(nets[1]);
    soma_dataset_free(d);
}

/* One shape convention at the boundaries: data of a different shape (same size) is refused;
 * checkpoints written before ranked shapes ([C,H,W] as three ints) still load. */
static void test_shape_boundaries(void) {
    soma_dataset *d = NULL;
    CHECK_OK(soma_dataset_synthetic("gauss", 64, 10, 2, 3.0f, 1, &d));
    if (!d) return;
    CHECK(soma_shape_eq(d->shape, soma_shape1(10)));
    soma_net *net = NULL;
    /* layer norm on a data set's vectors: weight [D], as nn.LayerNorm(D) (was [1,1,D]) */
    CHECK_OK(soma_net_new(&net, "layernorm,fc2", d->shape, 1));
    if (net) CHECK(soma_net_param(net, 0)->ndim == 1 && soma_net_param(net, 0)->dims[0] == 10);
    soma_net_free(net);
    net = NULL;
    soma_optim *o = NULL;
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_SGD);
    CHECK_OK(soma_net_new(&net, "fc2", soma_shape2(2, 5), 1)); /* 10 values, but [2,5] */
    if (net) CHECK_OK(soma_optim_new(&o, net, &oc));
    if (o) {
        soma_train_log log = {0};
        CHECK_FAILS(train_(net, o, d, 1, NULL, 0, &log), SOMA_ERR_SHAPE);
        CHECK(strstr(soma_errmsg(), "[10]") && strstr(soma_errmsg(), "[2,5]"));
        soma_train_log_free(&log);
    }
    soma_optim_free(o);
    soma_net_free(net);
    soma_dataset_free(d);
    char spec[256];
    soma_shape in = {0};
    const char *old = check_src_path("fuzz/corpus/fuzz_ckpt/params_only.ckpt");
    CHECK_OK(soma_ckpt_peek(old, spec, sizeof spec, &in));
    CHECK(soma_shape_eq(in, soma_shape3(1, 6, 6)));
    net = NULL;
    CHECK_OK(soma_net_new(&net, spec, in, 1));
    if (net) CHECK_OK(soma_ckpt_load(old, net, NULL, NULL));
    soma_net_free(net);
}

int main(void) {
    if (!scratch_init("net")) return 1;
    soma_set_threads(2);
    test_spec_errors();
    test_net_gradients();
    test_optim_vs_torch();
    test_sched();
    test_train_resume_ckpt();
    test_data_parallel("conv3x3x8p1,relu,maxpool2,conv3x3x4,tanh,fc3");
    /* replicas cloned from a graph: composites own sub-layers, caches and buffers */
    test_data_parallel("conv3x3x8p1,relu,res(conv3x3x8p1,tanh),maxpool2,cat(fc4|fc3,tanh),layernorm,fc3");
    test_shape_boundaries();
    scratch_remove();
    return check_report("test_net");
}
