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

static char out_[512];

static double num_(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}
static const cJSON *ours_(const cJSON *r) { return cJSON_GetObjectItemCaseSensitive(r, "ours"); }
static int exists_(const char *exp, const char *file) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s/%s", out_, exp, file);
    struct stat sb;
    return stat(p, &sb) == 0 && sb.st_size > 0;
}
/* ours[key] as a flat array of doubles (rows of a matrix one after another); returns the count. */
static int array_(const cJSON *o, const char *key, double *v, int cap) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key), *x;
    int k = 0;
    cJSON_ArrayForEach(x, a) {
        if (cJSON_IsArray(x)) {
            const cJSON *y;
            cJSON_ArrayForEach(y, x) if (k < cap) v[k++] = cJSON_IsNumber(y) ? y->valuedouble : NAN;
        } else if (k < cap) {
            v[k++] = cJSON_IsNumber(x) ? x->valuedouble : NAN;
        }
    }
    return k;
}

/* rsa-layers, reduced: 12 representations; the comparison matrices are symmetric with a unit
 * diagonal; the pixels' category RSA equals one computed here from the stimuli (the wiring:
 * right images, right labels, right metric); the top layer is more categorical than pixels. */
static void test_layers_reduced(void) {
    const soma_experiment *e = soma_exp_find("rsa-layers");
    CHECK(e != NULL);
    if (!e) return;
    cJSON *r = NULL;
    const char *extra[] = {"--threads", "2"};
    CHECK_OK(soma_exp_run_reduced(e, 2, extra, out_, &r));
    if (!r) return;
    const cJSON *o = ours_(r);
    double rsa[144], cka[144], cat[12];
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "layers")) == 12);
    CHECK(array_(o, "rsa_spearman", rsa, 144) == 144);
    CHECK(array_(o, "cka_linear", cka, 144) == 144);
    CHECK(array_(o, "category_rsa", cat, 12) == 12);
    for (int a = 0; a < 12; a++) {
        CHECK(rsa[a * 12 + a] == 1.0 && cka[a * 12 + a] == 1.0);
        for (int b = 0; b < 12; b++) {
            CHECK(rsa[a * 12 + b] == rsa[b * 12 + a] && cka[a * 12 + b] == cka[b * 12 + a]);
            CHECK(rsa[a * 12 + b] >= -1.0 && rsa[a * 12 + b] <= 1.0);
            CHECK(cka[a * 12 + b] >= 0.0 && cka[a * 12 + b] <= 1.0 + 1e-12);
        }
    }
    /* neighbours (a conv layer and its ReLU) are far more alike than pixels and the logits */
    CHECK(rsa[1 * 12 + 2] > rsa[0 * 12 + 11]);
    int n = 0, *label = NULL, *index = NULL;
    float *px = NULL;
    soma_shape sh;
    CHECK_OK(soma__rsa_stimuli(NULL, 10, &n, &label, &index, &px, &sh));
    if (px) {
        double *X = soma_alloc((size_t)n * 784, sizeof(double));
        long m = soma_rdm_len(n);
        double *rdm = soma_alloc((size_t)m, sizeof(double)), *model = soma_alloc((size_t)m, sizeof(double));
        for (size_t i = 0; i < (size_t)n * 784; i++) X[i] = px[i];
        soma_rdm_opts ro = {SOMA_RDM_CORRELATION, -1.0};
        CHECK_OK(soma_rdm(X, n, 784, 1, &ro, rdm));
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++) model[soma_rdm_index(n, i, j)] = label[i] != label[j];
        double want = NAN;
        CHECK_OK(soma_rsa_compare(model, rdm, n, SOMA_RSA_SPEARMAN, &want));
        printf("rsa-layers: pixels' category RSA %.6f (here %.6f), top layer %.4f\n", cat[0], want, cat[11]);
        CHECK(fabs(cat[0] - want) <= 1e-9);
        soma_free(X);
        soma_free(rdm);
        soma_free(model);
    }
    soma_free(label);
    soma_free(index);
    soma_free(px);
    CHECK(cat[11] > cat[0]);
    CHECK(num_(o, "category_rsa_rise") > 0.0);
    CHECK(exists_("rsa-layers", "rdms.svg") && exists_("rsa-layers", "layers.svg"));
    CHECK(exists_("rsa-layers", "lenet/0.weight.npy"));
    cJSON_Delete(r);
}

/* rsa-recovery, reduced (12 brains over 6 candidate layers, chance 1/6): each method names the
 * true layer far above chance, the noise ceiling brackets the true model, and recovery
 * degrades at high noise. */
static void test_recovery_reduced(void) {
    const soma_experiment *e = soma_exp_find("rsa-recovery");
    CHECK(e != NULL);
    if (!e) return;
    cJSON *r = NULL;
    const char *extra[] = {"--threads", "2"};
    double t0 = soma_now();
    CHECK_OK(soma_exp_run_reduced(e, 2, extra, out_, &r));
    if (!r) return;
    const cJSON *o = ours_(r), *rf = cJSON_GetObjectItemCaseSensitive(o, "rank1_fraction");
    double rsa = num_(rf, "rsa"), cka = num_(rf, "cka"), enc = num_(rf, "encoding");
    double ceil = num_(o, "ceiling_contains_true");
    printf("rsa-recovery (reduced, %.1f s): rank-1 RSA %.3f, CKA %.3f, encoding %.3f; ceiling contains true %.3f; "
           "chance %.3f\n",
           soma_now() - t0, rsa, cka, enc, ceil, num_(o, "chance"));
    CHECK(fabs(num_(o, "chance") - 1.0 / 6.0) < 1e-12);
    CHECK(rsa >= 0.9 && cka >= 0.75 && enc >= 0.75);
    CHECK(ceil >= 0.9);
    CHECK(num_(o, "rank1_rsa") == rsa && num_(o, "rank1_cka") == cka && num_(o, "rank1_encoding") == enc);
    const cJSON *sw = cJSON_GetObjectItemCaseSensitive(o, "sweep");
    double lo[3], hi[3], v[16];
    const char *keys[3] = {"rsa", "cka", "encoding"};
    for (int j = 0; j < 3; j++) {
        int k = array_(sw, keys[j], v, 16);
        CHECK(k == 2);
        lo[j] = v[0];
        hi[j] = v[k - 1];
    }
    printf("rsa-recovery sweep: low noise %.2f %.2f %.2f, high noise %.2f %.2f %.2f\n", lo[0], lo[1], lo[2], hi[0],
           hi[1], hi[2]);
    CHECK(lo[0] + lo[1] + lo[2] > hi[0] + hi[1] + hi[2]); /* degradation with noise */
    CHECK(exists_("rsa-recovery", "recovery.svg") && exists_("rsa-recovery", "ceiling.svg"));
    cJSON_Delete(r);
}

/* Determinism: the same seed gives the same numbers, on 1 thread and on 2 once the LeNet is
 * given (--init-npy; its training follows the core's same-thread-count contract); another seed
 * gives other brains. */
static void test_recovery_determinism(void) {
    const soma_experiment *e = soma_exp_find("rsa-recovery");
    if (!e) return;
    char lenet[1200];
    snprintf(lenet, sizeof lenet, "%s/rsa-recovery/lenet", out_); /* from test_recovery_reduced */
    struct stat sb;
    CHECK(stat(lenet, &sb) == 0);
    double got[5][3];
    const char *seeds[5] = {"4", "4", "5", "4", "4"}, *threads[5] = {"1", "2", "2", "2", "2"};
    for (int k = 0; k < 5; k++) {
        /* runs 0-2 load the LeNet; runs 3 and 4 train one each (500 images), alike */
        const char *extra[] = {"--threads", threads[k], "--seed", seeds[k], "--brains", "4", "--sweep", "2",
                               "--sweep-brains", "2", "--n-test", "100", "--voxels", "20",
                               k < 3 ? "--init-npy" : "--n-train", k < 3 ? lenet : "500"};
        cJSON *r = NULL;
        CHECK_OK(soma_exp_run_reduced(e, 16, extra, scratch_path("det"), &r));
        const cJSON *o = r ? ours_(r) : NULL;
        got[k][0] = num_(o, "mean_true_rsa");
        got[k][1] = num_(o, "mean_ceiling_lower");
        got[k][2] = num_(o, "rank1_encoding");
        cJSON_Delete(r);
    }
    printf("rsa-recovery determinism: mean true RSA %.17g (1 thread) %.17g (2 threads) %.17g (seed 5)\n", got[0][0],
           got[1][0], got[2][0]);
    for (int k = 0; k < 2; k++) {
        int a = k ? 3 : 0, b = k ? 4 : 1;
        CHECK(isfinite(got[a][0]) && got[a][0] == got[b][0] && got[a][1] == got[b][1] && got[a][2] == got[b][2]);
    }
    CHECK(got[2][0] != got[0][0]);
}

/* Options the typed table cannot judge alone are refused before anything is written. */
static void test_recovery_refused(void) {
    const soma_experiment *e = soma_exp_find("rsa-recovery");
    if (!e) return;
    const char *bad[][2] = {{"--layers", "pixels"}, {"--layers", "pixels,11"}, {"--layers", "2,2,5"},
                            {"--layers", "pixels,x"}, {"--sweep", "1,a"}, {"--sweep", ","}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *args[] = {bad[i][0], bad[i][1], "--quiet"};
        CHECK_FAILS(soma_exp_run(e, 3, args, scratch_path("refused"), NULL), SOMA_ERR_ARG);
    }
    const soma_experiment *l = soma_exp_find("rsa-layers");
    const char *net[] = {"--net", "conv99x99x3", "--quiet"};
    CHECK_FAILS(soma_exp_run(l, 3, net, scratch_path("refused"), NULL), SOMA_ERR_SHAPE);
    struct stat sb;
    CHECK(stat(scratch_path("refused"), &sb) != 0);
}

/* Any network a user trains: an MLP's 4 layers plus pixels. */
static void test_layers_other_net(void) {
    const soma_experiment *e = soma_exp_find("rsa-layers");
    if (!e) return;
    const char *extra[] = {"--net", "fc32,relu,fc10", "--n-train", "1000", "--perms", "20"};
    cJSON *r = NULL;
    CHECK_OK(soma_exp_run_reduced(e, 6, extra, scratch_path("mlp"), &r));
    const cJSON *o = r ? ours_(r) : NULL;
    double rsa[25];
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "layers")) == 4);
    CHECK(array_(o, "rsa_spearman", rsa, 25) == 16);
    cJSON_Delete(r);
}

int main(void) {
    soma_set_threads(2);
    if (!scratch_init("exp_rsa")) return 1;
    test_layer_acts();
    test_predict_path();
    test_stimuli();
    test_recovery_refused();
    snprintf(out_, sizeof out_, "%s", scratch_path("out"));
    if (have_fmnist_()) {
        test_layers_reduced();
        test_recovery_reduced();
        test_recovery_determinism();
        test_layers_other_net();
    } else {
        check_missing_dep("SOMA_REQUIRE_FMNIST", "Fashion-MNIST (dataset-fashion-mnist)");
    }
    scratch_remove();
    return check_report("test_exp_rsa");
}
