// nn: forward and backward of every layer kind, both losses and a LeNet-like stack against
// PyTorch's values in tests/fixtures/nn/*.bin (written once by tests/ref/gen_torch.py; the
// format is documented there):
//     char magic[8] "SOMANNFX"; int32 version 1; char spec[128]; int32 n, c, h, w, mode;
//     int32 n_arrays; then per array: char name[32]; int32 ndim, dims[4]; float32 data[].
// Agreement: |got - ref| <= 1e-5 + 1e-4 |ref| for outputs, input gradients and every
// parameter gradient.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "fixture.h"
#include "nn_util.h"
#include "soma/io.h"
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

/* 1 iff name is a parameter array (a state_dict key), not data or a gradient. */
static int is_param_(const char *name) {
    static const char *data[] = {"in_shape", "x", "y", "dy", "dx", "labels", "loss"};
    for (size_t i = 0; i < sizeof data / sizeof *data; i++)
        if (strcmp(name, data[i]) == 0) return 0;
    size_t n = strlen(name);
    return !(n > 5 && strcmp(name + n - 5, ".grad") == 0);
}

/* A network from a one-line spec (composites, sequences) against the PyTorch module of the
 * same architecture: its parameters are PyTorch's state_dict one for one (same keys, same
 * shapes); they go in as NPY files named by key (soma_net_load_npy) and come back out
 * (soma_net_save_npy) bit for bit; y, dx and every parameter gradient agree. With
 * SOMA_NN_EXPORT_DIR set, the export is kept in DIR/<case>/ for tests/ref/check_torch_interop.py. */
static void run_graph(const char *case_name) {
    fixture f;
    if (fx_load(&f, case_name) != 0) {
        check_failures_++;
        return;
    }
    soma_shape in = fx_shape(&f);
    soma_net *net = NULL;
    char dir[512], out[600], path[700];
    snprintf(dir, sizeof dir, "/tmp/soma_test_nn_torch_%d_%s", (int)getpid(), case_name);
    const char *keep = getenv("SOMA_NN_EXPORT_DIR");
    if (keep) snprintf(out, sizeof out, "%s/%s", keep, case_name);
    else snprintf(out, sizeof out, "%s.out", dir);
    CHECK_OK(soma_net_new(&net, f.spec, in, 1));
    if (!net) goto done;
    /* the same parameter set as the state_dict */
    int n_fx = 0;
    for (int i = 0; i < f.n_arrays; i++) n_fx += is_param_(f.a[i].name);
    CHECK(n_fx == soma_net_n_params(net));
    CHECK_OK(soma_mkdir_p(dir));
    for (int k = 0; k < soma_net_n_params(net); k++) {
        const char *key = soma_net_param_name(net, k);
        soma_param *p = soma_net_param(net, k);
        const fx_array *a = fx_get(&f, key);
        int same = a && a->ndim == p->ndim;
        for (int d = 0; same && d < p->ndim; d++) same = a->dims[d] == p->dims[d];
        if (!same) fprintf(stderr, "%s: parameter %s: no state_dict entry of its shape\n", case_name, key);
        CHECK(same);
        if (!same) goto done;
        snprintf(path, sizeof path, "%s/%s.npy", dir, key);
        CHECK_OK(soma_npy_write_f32(path, a->ndim, a->dims, a->data));
    }
    CHECK_OK(soma_net_load_npy(net, dir));
    for (int k = 0; k < soma_net_n_params(net); k++) {
        soma_param *p = soma_net_param(net, k);
        CHECK(memcmp(p->value, fx_get(&f, soma_net_param_name(net, k))->data, p->n * sizeof(float)) == 0);
    }
    const fx_array *x = fx_get(&f, "x"), *dy = fx_get(&f, "dy");
    const float *y;
    int N = f.n;
    size_t ny = (size_t)N * soma_shape_size(soma_net_out_shape(net));
    CHECK(x && dy && x->n == (size_t)N * soma_shape_size(in) && dy->n == ny);
    if (!x || !dy || dy->n != ny || x->n != (size_t)N * soma_shape_size(in)) goto done;
    float *dx = malloc(x->n * sizeof *dx);
    soma_net_zero_grad(net);
    CHECK_OK(soma_net_forward(net, x->data, N, SOMA_MODE_EVAL, &y));
    compare(&f, case_name, "y", y, ny);
    CHECK_OK(soma_net_backward_ex(net, dy->data, N, SOMA_GRAD_PARAMS | SOMA_GRAD_INPUT, dx));
    compare(&f, case_name, "dx", dx, x->n);
    for (int k = 0; k < soma_net_n_params(net); k++) {
        char nm[128];
        snprintf(nm, sizeof nm, "%s.grad", soma_net_param_name(net, k));
        compare(&f, case_name, nm, soma_net_param(net, k)->grad, soma_net_param(net, k)->n);
    }
    free(dx);
    /* soma -> PyTorch: the export holds the state_dict's keys, shapes and values exactly */
    CHECK_OK(soma_net_save_npy(net, out));
    for (int k = 0; k < soma_net_n_params(net); k++) {
        const char *key = soma_net_param_name(net, k);
        const fx_array *a = fx_get(&f, key);
        snprintf(path, sizeof path, "%s/%s.npy", out, key);
        soma_array arr = {0};
        CHECK_OK(soma_npy_read(path, &arr));
        int same = arr.dtype == SOMA_DTYPE_F32 && arr.ndim == a->ndim && arr.n == a->n;
        for (int d = 0; same && d < a->ndim; d++) same = arr.shape[d] == a->dims[d];
        CHECK(same && memcmp(arr.data, a->data, a->n * sizeof(float)) == 0);
        soma_array_deinit(&arr);
        if (!keep) unlink(path);
        snprintf(path, sizeof path, "%s/%s.npy", dir, key);
        unlink(path);
    }
    char sh[64];
    printf("  %-18s %-10s %-60.60s worst error / tolerance %.3f\n", case_name,
           soma_shape_str(in, sh, sizeof sh), f.spec, case_q_);
    case_q_ = 0.0;
done:
    if (!keep) rmdir(out);
    rmdir(dir);
    soma_net_free(net);
    fx_free(&f);
}

int main(void) {
    soma_set_threads(2);
    static const char *cases[] = {
        "dense_flat",   "dense_img",     "conv3x3x4",     "conv5x5x6p2",    "conv3x3x5s2p1",
        "conv3x3x4s2",  "maxpool2",      "maxpool3s2p1",  "avgpool2",       "avgpool3s2p1",
        "relu",         "tanh",          "sigmoid",       "gelu",           "layernorm_img",
        "layernorm_flat", "dropout_eval", "lenet",          "norm_img",       "norm_shift",
    };
    printf("against PyTorch (atol %.0e, rtol %.0e):\n", ATOL, RTOL);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_stack(cases[i]);
    static const char *graphs[] = {
        "graph_resnet", "graph_prenorm_seq", "graph_cat_img", "graph_seq_img", "graph_seq_vec",
        "graph_resblock_conv",
    };
    for (size_t i = 0; i < sizeof graphs / sizeof *graphs; i++) run_graph(graphs[i]);
    run_losses();
    printf("  losses: worst error / tolerance %.3f\n", case_q_);
    printf("worst error / tolerance over all cases: %.3f\n", worst_q_);
    return check_report("test_nn_torch");
}
