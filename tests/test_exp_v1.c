// The headlines of sae-lenet and cnn-v1 at reduced size: the numbers each experiment
// exists to measure, checked against what a working pipeline must give (an SAE that explains
// the layer with sparse codes; Gabor fractions that are fractions, with the figure drawn).
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <sys/stat.h>

#include "check.h"
#include "json_util.h"
#include "soma/soma.h"

static const char *out_ = "test_exp_v1_out";

static int exists_(const char *exp, const char *file) { return exp_file_exists_(out_, exp, file); }

static int have_fmnist_(void) {
    struct stat sb;
    return stat(soma_fmnist_dir(NULL), &sb) == 0;
}

static void test_sae_lenet(void) {
    const soma_experiment *e = soma_exp_find("sae-lenet");
    CHECK(e != NULL);
    if (!e) return;
    cJSON *r = NULL;
    double t0 = soma_now();
    CHECK_OK(soma_exp_run_reduced(e, 0, NULL, out_, &r));
    if (!r) return;
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(r, "ours");
    double fve = num_(o, "fve"), l0 = num_(o, "l0"), dead = num_(o, "dead_fraction");
    double k = num_(o, "features"), d = num_(o, "neurons");
    double sn = num_(o, "selectivity_neurons"), sf = num_(o, "selectivity_features");
    double pn = num_(o, "purity_neurons"), pf = num_(o, "purity_features");
    printf("sae-lenet (reduced, %.1f s): LeNet %.3f, fve %.3f, l0 %.1f of %.0f, dead %.3f, selectivity "
           "%.3f vs %.3f (neurons), purity %.3f vs %.3f\n",
           soma_now() - t0, num_(o, "lenet_test_accuracy"), fve, l0, k, dead, sf, sn, pf, pn);
    CHECK(num_(o, "lenet_test_accuracy") > 0.4); /* the LeNet learned something (chance 0.1) */
    CHECK(k == 8 * d && d == 84);
    CHECK(fve > 0.8 && fve <= 1.0);   /* the dictionary explains the layer ... */
    CHECK(l0 > 0 && l0 < k / 4);      /* ... with sparse codes */
    CHECK(dead >= 0 && dead < 0.5);
    CHECK(sn > 0 && sn < 1 && sf > 0 && sf < 1);
    CHECK(sf > sn);                   /* the headline: features more class-selective */
    CHECK(pn >= 0.1 && pn <= 1 && pf >= 0.1 && pf <= 1);
    CHECK(fabs(num_(o, "selectivity_gain") - (sf - sn)) < 1e-12);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "selectivity_hist_features")) == 10);
    CHECK(exists_("sae-lenet", "sae_lenet.svg") && exists_("sae-lenet", "results.json"));
    CHECK(!exists_("sae-lenet", "acts_train.npy")); /* the activations were read back and removed */
    cJSON_Delete(r);
}

static void test_cnn_v1(void) {
    const soma_experiment *e = soma_exp_find("cnn-v1");
    CHECK(e != NULL);
    if (!e) return;
    cJSON *r = NULL;
    double t0 = soma_now();
    CHECK_OK(soma_exp_run_reduced(e, 0, NULL, out_, &r));
    if (!r) return;
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(r, "ours");
    const cJSON *gf = cJSON_GetObjectItemCaseSensitive(o, "gabor_fraction");
    const cJSON *mr = cJSON_GetObjectItemCaseSensitive(o, "mean_r2");
    const cJSON *nf = cJSON_GetObjectItemCaseSensitive(o, "filters");
    const char *keys[3] = {"natural", "lenet_fmnist", "sparse_coding"};
    const double want_n[3] = {16, 16, 32}; /* the reduced run's filter counts */
    printf("cnn-v1 (reduced, %.1f s):", soma_now() - t0);
    for (int s = 0; s < 3; s++) {
        double f = num_(gf, keys[s]), m = num_(mr, keys[s]), n = num_(nf, keys[s]);
        char key[64];
        printf(" %s %.3f (R^2 %.3f, %.0f filters)", keys[s], f, m, n);
        CHECK(f >= 0 && f <= 1 && m >= 0 && m <= 1);
        CHECK(n == want_n[s]);
        CHECK(fabs(f * n - round(f * n)) < 1e-9); /* a count of filters over n */
        snprintf(key, sizeof key, "gabor_fraction_%s", keys[s]);
        CHECK(num_(o, key) == f);
        snprintf(key, sizeof key, "r2_%s", keys[s]);
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, key), *v;
        CHECK(cJSON_GetArraySize(arr) == (int)n);
        double sum = 0;
        cJSON_ArrayForEach(v, arr) sum += v->valuedouble;
        CHECK(fabs(sum / n - m) < 1e-5); /* the mean R^2 is the mean of the fits */
    }
    printf("\n");
    CHECK(num_(o, "lenet_test_accuracy") > 0.3);
    /* sparse coding of natural patches gives filters a Gabor describes much better than the
     * barely trained LeNet's: the fit tells them apart even at this size */
    CHECK(num_(mr, "sparse_coding") > num_(mr, "lenet_fmnist") + 0.2);
    CHECK(num_(o, "dict_l0") > 0 && num_(o, "dict_l0") < 32);
    CHECK(exists_("cnn-v1", "cnn_v1.svg") && exists_("cnn-v1", "results.json"));
    cJSON_Delete(r);
}

int main(void) {
    if (!have_fmnist_()) {
        check_missing_dep("SOMA_REQUIRE_FMNIST", "Fashion-MNIST (dataset-fashion-mnist)");
    } else {
        test_sae_lenet();
        test_cnn_v1();
    }
    return check_report("test_exp_v1");
}
