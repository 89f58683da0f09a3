// nn: forward and backward of every layer kind, both losses and a LeNet-like stack against
// PyTorch's values in tests/fixtures/nn/*.bin (written once by tests/ref/gen_torch.py; the
// format is documented there):
//     char magic[8] "SOMANNFX"; int32 version 1; char spec[128]; int32 n, c, h, w, mode;
//     int32 n_arrays; then per array: char name[32]; int32 ndim, dims[4]; float32 data[].
// Agreement: |got - ref| <= 1e-5 + 1e-4 |ref| for outputs, input gradients and every
// parameter gradient.
#include <math.h>
#include <stdint.h>

#include "check.h"
#include "fixture.h"
#include "nn_util.h"
#include "soma/nn.h"

#define ATOL 1e-5f
#define RTOL 1e-4f
#define MAX_LAYERS 16

typedef fixture_array fx_array;

/* Loads tests/fixtures/nn/NAME.bin; 0 on success, -1 with a message printed. */
static int fx_load(fixture *f, const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/fixtures/nn/%s.bin", name);
    return fixture_load(check_src_path(rel), f);
}

static void fx_free(fixture *f) { fixture_free(f); }

static const fx_array *fx_get(const fixture *f, const char *name) { return fixture_get(f, name); }

/* The per-sample input shape: the "in_shape" array when present (any rank), else the header's
 * c, h, w ([c] when h = w = 1). */
static soma_shape fx_shape(const fixture *f) {
    const fx_array *a = fx_get(f, "in_shape");
    if (a && a->n >= 1 && a->n <= SOMA_SHAPE_RANK) {
        soma_shape s = {(int)a->n, {0}};
        for (size_t i = 0; i < a->n; i++) s.d[i] = (int)a->data[i];
        return s;
    }
    return f->h == 1 && f->w == 1 ? soma_shape1(f->c) : soma_shape3(f->c, f->h, f->w);
}

/* Worst |got - ref| / (ATOL + RTOL |ref|), overall and in the current case (<= 1 passes). */
static double worst_q_ = 0.0, case_q_ = 0.0;

/* Compares got against the named reference array of n values. */
static void compare(const fixture *f, const char *case_name, const char *arr, const float *got,
                    size_t n) {
    char lab[128];
    snprintf(lab, sizeof lab, "%s: %s", case_name, arr);
    const fx_array *r = fx_get(f, arr);
    CHECK(r != NULL && r->n == n);
    if (!r || r->n != n) {
        fprintf(stderr, "%s: missing or wrong size\n", lab);
        return;
    }
    CHECK_CLOSE(lab, got, r->data, n, ATOL, RTOL);
    for (size_t i = 0; i < n; i++) {
        double q = fabs((double)got[i] - r->data[i]) / (ATOL + RTOL * fabs(r->data[i]));
        if (q > worst_q_) worst_q_ = q;
        if (q > case_q_) case_q_ = q;
    }
}

/* A stack of layers from the spec: forward, then backward from "dy" (or from the mean softmax
 * cross-entropy of the "labels"), comparing every output and gradient. */
static void run_stack(const char *case_name) {
    fixture f;
    if (fx_load(&f, case_name) != 0) {
        check_failures_++;
        return;
    }
    soma_layer L[MAX_LAYERS];
    int nl = 0, N = f.n;
    soma_shape shape = fx_shape(&f);
    char spec[129];
    memcpy(spec, f.spec, sizeof spec);
    for (char *tok = strtok(spec, ","); tok && nl < MAX_LAYERS; tok = strtok(NULL, ",")) {
        soma_status st = tl_make(&L[nl], tok, shape, N, 1);
        CHECK_OK(st);
        if (st != SOMA_OK) goto out;
        shape = L[nl].out;
        for (int pi = 0; pi < L[nl].n_params; pi++) {
            char nm[48];
            snprintf(nm, sizeof nm, "%d.%s", nl, L[nl].params[pi].name);
            const fx_array *a = fx_get(&f, nm);
            CHECK(a && a->n == L[nl].params[pi].n);
            if (a && a->n == L[nl].params[pi].n)
                memcpy(L[nl].params[pi].value, a->data, a->n * sizeof(float));
        }
        nl++;
    }
    /* Activations: act[0] = x, act[i+1] = output of layer i. */
    float *act[MAX_LAYERS + 1], *grad[MAX_LAYERS + 1];
    const fx_array *x = fx_get(&f, "x");
    act[0] = x->data;
    grad[0] = malloc(x->n * sizeof(float));
    for (int i = 0; i < nl; i++) {
        size_t ny = (size_t)N * soma_shape_size(L[i].out);
        act[i + 1] = malloc(ny * sizeof(float));
        grad[i + 1] = malloc(ny * sizeof(float));
        L[i].ops->forward(&L[i], act[i + 1], act[i], N, (soma_mode)f.mode);
    }
    size_t ny = (size_t)N * soma_shape_size(L[nl - 1].out);
    compare(&f, case_name, "y", act[nl], ny);
    const fx_array *labf = fx_get(&f, "labels");
    if (labf) {
        int lab[64];
        for (int i = 0; i < N && i < 64; i++) lab[i] = (int)labf->data[i];
        float loss = soma_softmax_xent(grad[nl], NULL, act[nl], lab, N, (int)(ny / N));
        compare(&f, case_name, "loss", &loss, 1);
    } else {
        const fx_array *dy = fx_get(&f, "dy");
        memcpy(grad[nl], dy->data, ny * sizeof(float));
    }
    for (int i = nl - 1; i >= 0; i--)
        L[i].ops->backward(&L[i], grad[i], grad[i + 1], act[i], act[i + 1], N);
    compare(&f, case_name, "dx", grad[0], x->n);
    for (int i = 0; i < nl; i++)
        for (int pi = 0; pi < L[i].n_params; pi++) {
            char nm[48];
            snprintf(nm, sizeof nm, "%d.%s.grad", i, L[i].params[pi].name);
            compare(&f, case_name, nm, L[i].params[pi].grad, L[i].params[pi].n);
        }
    printf("  %-14s %-40.40s worst error / tolerance %.3f\n", case_name, f.spec, case_q_);
    case_q_ = 0.0;
    for (int i = 0; i <= nl; i++) {
        if (i) free(act[i]);
        free(grad[i]);
    }
out:
    for (int i = 0; i < nl; i++) tl_free(&L[i]);
    fx_free(&f);
}

static void run_losses(void) {
    fixture f;
    if (fx_load(&f, "xent") == 0) {
        int N = f.n, K = f.c, lab[64];
        const fx_array *z = fx_get(&f, "logits"), *l = fx_get(&f, "labels");
        for (int i = 0; i < N; i++) lab[i] = (int)l->data[i];
        float *d = malloc(z->n * sizeof(float)), *p = malloc(z->n * sizeof(float));
        float loss = soma_softmax_xent(d, p, z->data, lab, N, K);
        compare(&f, "xent", "loss", &loss, 1);
        compare(&f, "xent", "dlogits", d, z->n);
        compare(&f, "xent", "probs", p, z->n);
        free(d);
        free(p);
        fx_free(&f);
    } else {
        check_failures_++;
    }
    if (fx_load(&f, "mse") == 0) {
        const fx_array *y = fx_get(&f, "y"), *t = fx_get(&f, "t");
        float *d = malloc(y->n * sizeof(float));
        float loss = soma_mse(d, y->data, t->data, f.n, f.c);
        compare(&f, "mse", "loss", &loss, 1);
        compare(&f, "mse", "dy", d, y->n);
        free(d);
        fx_free(&f);
    } else {
        check_failures_++;
    }
}

int main(void) {
    soma_set_threads(2);
    static const char *cases[] = {
        "dense_flat",   "dense_img",     "conv3x3x4",     "conv5x5x6p2",    "conv3x3x5s2p1",
        "conv3x3x4s2",  "maxpool2",      "maxpool3s2p1",  "avgpool2",       "avgpool3s2p1",
        "relu",         "tanh",          "sigmoid",       "gelu",           "layernorm_img",
        "layernorm_flat", "dropout_eval", "lenet",
    };
    printf("against PyTorch (atol %.0e, rtol %.0e):\n", ATOL, RTOL);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_stack(cases[i]);
    run_losses();
    printf("  losses: worst error / tolerance %.3f\n", case_q_);
    printf("worst error / tolerance over all cases: %.3f\n", worst_q_);
    return check_report("test_nn_torch");
}
