// rsa-layers and rsa-recovery: the layer-activation path, the reduced experiments' headline
// figures, determinism by seed.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "exp/rsa_common.h"
#include "scratch.h"
#include "soma/analysis.h"
#include "soma/exp.h"
#include "soma/io.h"
#include "soma/nn.h"
#include "soma/soma.h"

static int have_fmnist_(void) {
    struct stat sb;
    return stat(soma_fmnist_dir(NULL), &sb) == 0;
}

/* The first k comma-separated tokens of spec (top level: the LeNet's tokens have no commas
 * inside parentheses). */
static void spec_prefix_(const char *spec, int k, char *out, size_t cap) {
    size_t j = 0;
    int toks = 0;
    for (size_t i = 0; spec[i] && j + 1 < cap; i++) {
        if (spec[i] == ',' && ++toks == k) break;
        out[j++] = spec[i];
    }
    out[j] = 0;
}

/* Activations of layer L from soma__rsa_layer_acts equal the output of a network made of the
 * first L + 1 layers only, carrying the same parameter values: a forward that stops there. */
static void test_layer_acts(void) {
    const char *spec = soma__rsa_lenet_spec();
    const soma_shape in = soma_shape3(1, 28, 28);
    const int n = 37;
    soma_net *net = NULL;
    CHECK_OK(soma_net_new(&net, spec, in, 11));
    if (!net) return;
    float *x = soma_alloc((size_t)n * 784, sizeof(float));
    soma_rng r;
    soma_rng_seed(&r, 5, 0);
    soma_rng_uniform_fill(&r, x, (size_t)n * 784, 0.f, 1.f);
    const int nl = soma_net_n_layers(net);
    CHECK(nl == 11);
    double *act[16] = {0};
    CHECK_OK(soma__rsa_layer_acts(net, x, n, act));
    for (int L = 0; L < nl && act[L]; L++) {
        char pre[512];
        spec_prefix_(spec, L + 1, pre, sizeof pre);
        soma_net *sub = NULL;
        CHECK_OK(soma_net_new(&sub, pre, in, 99)); /* another seed: its own values replaced below */
        if (!sub) continue;
        CHECK(soma_net_n_layers(sub) == L + 1);
        for (int k = 0; k < soma_net_n_params(sub); k++) {
            soma_param *a = soma_net_param(sub, k), *b = soma_net_param(net, k);
            CHECK(a->n == b->n);
            memcpy(a->value, b->value, a->n * sizeof(float));
        }
        const float *y = NULL;
        CHECK_OK(soma_net_forward(sub, x, n, SOMA_MODE_EVAL, &y));
        size_t per = soma_shape_size(soma_net_out_shape(sub)), bad = 0;
        double worst = 0;
        for (size_t i = 0; y && i < (size_t)n * per; i++) {
            double d = fabs(act[L][i] - (double)y[i]);
            if (d > 1e-6 * (1.0 + fabs((double)y[i]))) bad++;
            if (d > worst) worst = d;
        }
        if (bad) fprintf(stderr, "layer %d (%s): %zu entries differ, worst %g\n", L, pre, bad, worst);
        CHECK(bad == 0);
        soma_net_free(sub);
    }
    /* a broken path (the input of the layer instead of its output) would fail above: layer 0's
     * output is not the image */
    CHECK(act[0] && soma_shape_size(soma_net_layer(net, 0)->out) == 6 * 28 * 28);
    for (int L = 0; L < nl; L++) soma_free(act[L]);
    soma_free(x);
    soma_net_free(net);
}

/* The same activations through `soma predict --layer` (soma_classify_predict to an NPY file) on
 * the first test images. */
static void test_predict_path(void) {
    if (!have_fmnist_()) {
        check_missing_dep("SOMA_REQUIRE_FMNIST", "Fashion-MNIST (dataset-fashion-mnist)");
        return;
    }
    const char *spec = soma__rsa_lenet_spec();
    soma_net *net = NULL;
    CHECK_OK(soma_net_new(&net, spec, soma_shape3(1, 28, 28), 3));
    if (!net) return;
    CHECK_OK(soma_net_save_npy(net, scratch_path("params")));
    const int n = 20, layer = 5;
    soma_dataset *d = NULL;
    CHECK_OK(soma_dataset_load("fmnist", 0, NULL, &d));
    if (!d) {
        soma_net_free(net);
        return;
    }
    int idx[20];
    for (int i = 0; i < n; i++) idx[i] = i;
    float *x = soma_alloc((size_t)n, d->dim * sizeof(float));
    soma_dataset_batch(d, idx, n, x, NULL);
    double *act[16] = {0};
    CHECK_OK(soma__rsa_layer_acts(net, x, n, act));
    CHECK_OK(soma_classify_predict("fmnist", NULL, 0, n, spec, scratch_path("params"), NULL, layer,
                                   scratch_path("act.npy"), NULL));
    soma_array a;
    memset(&a, 0, sizeof a);
    CHECK_OK(soma_npy_read(scratch_path("act.npy"), &a));
    size_t per = soma_shape_size(soma_net_layer(net, layer)->out), bad = 0;
    CHECK(a.n == (size_t)n * per);
    for (size_t i = 0; act[layer] && a.n == (size_t)n * per && i < a.n; i++)
        bad += fabs(soma_array_get(&a, i) - act[layer][i]) > 1e-6;
    CHECK(bad == 0);
    soma_array_deinit(&a);
    for (int L = 0; L < 16; L++) soma_free(act[L]);
    soma_free(x);
    soma_dataset_free(d);
    soma_net_free(net);
}

/* The stimulus set: 10 classes x per_class, sorted by class, each image the test image it names. */
static void test_stimuli(void) {
    if (!have_fmnist_()) {
        check_missing_dep("SOMA_REQUIRE_FMNIST", "Fashion-MNIST (dataset-fashion-mnist)");
        return;
    }
    int n = 0, *label = NULL, *index = NULL;
    float *px = NULL;
    soma_shape sh;
    CHECK_OK(soma__rsa_stimuli(NULL, 3, &n, &label, &index, &px, &sh));
    CHECK(n == 30);
    soma_dataset *d = NULL;
    CHECK_OK(soma_dataset_load("fmnist", 0, NULL, &d));
    for (int i = 0; d && label && i < n; i++) {
        CHECK(label[i] == i / 3);
        CHECK(d->y[index[i]] == label[i]);
        if (i % 3) CHECK(index[i] > index[i - 1]);
        float img[784];
        soma_dataset_batch(d, &index[i], 1, img, NULL);
        CHECK(memcmp(img, px + (size_t)i * 784, sizeof img) == 0);
    }
    /* too many per class for the test split */
    int n2;
    CHECK_FAILS(soma__rsa_stimuli(NULL, 5000, &n2, &label, &index, &px, &sh), SOMA_ERR_ARG);
    soma_free(label);
    soma_free(index);
    soma_free(px);
    soma_dataset_free(d);
}

int main(void) {
    soma_set_threads(2);
    if (!scratch_init("exp_rsa")) return 1;
    test_layer_acts();
    test_predict_path();
    test_stimuli();
    scratch_remove();
    return check_report("test_exp_rsa");
}
