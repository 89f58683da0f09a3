// Experiments: each headline checked at reduced size, the results.json contract, figures,
// and reproducibility (same seed + threads -> same numbers).
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "soma/soma.h"

static char out_[256];

static double num_(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static int exists_(const char *exp, const char *file) {
    char p[600];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s/%s", out_, exp, file);
    return stat(p, &sb) == 0 && sb.st_size > 0;
}

static void test_registry(void) {
    CHECK(soma_exp_count() >= 3);
    CHECK(soma_exp_find("perceptron") != NULL);
    CHECK(soma_exp_find("nope") == NULL);
    const soma_experiment *e = soma_exp_find("perceptron");
    const char *bad1[] = {"--bogus", "1"};
    CHECK_FAILS(soma_exp_run(e, 2, bad1, out_, NULL), SOMA_ERR_ARG);
    const char *bad2[] = {"--n", "12x"};
    CHECK_FAILS(soma_exp_run(e, 2, bad2, out_, NULL), SOMA_ERR_ARG);
    const char *bad3[] = {"--seed"};
    CHECK_FAILS(soma_exp_run(e, 1, bad3, out_, NULL), SOMA_ERR_ARG);
}

static void test_perceptron(void) {
    const soma_experiment *e = soma_exp_find("perceptron");
    cJSON *r = NULL;
    const char *args[] = {"--quiet", "--margin", "0.05"};
    CHECK_OK(soma_exp_run(e, 3, args, out_, &r));
    if (!r) return;
    const cJSON *ours = cJSON_GetObjectItemCaseSensitive(r, "ours");
    double mistakes = num_(ours, "separable_mistakes"), bound = num_(ours, "novikoff_bound");
    printf("perceptron: %.0f mistakes, Novikoff bound %.0f; XOR perceptron %.2f, XOR 2-layer net %.2f\n",
           mistakes, bound, num_(ours, "xor_perceptron_accuracy"), num_(ours, "xor_mlp_accuracy"));
    CHECK(num_(ours, "separable_converged") == 1.0);
    CHECK(mistakes >= 1 && mistakes <= bound);
    CHECK(num_(ours, "separable_accuracy") == 1.0);
    CHECK(num_(ours, "xor_perceptron_converged") == 0.0);
    CHECK(num_(ours, "xor_perceptron_accuracy") <= 0.75);
    CHECK(num_(ours, "xor_mlp_accuracy") == 1.0);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "pass")));
    CHECK(exists_("perceptron", "results.json") && exists_("perceptron", "perceptron.svg"));
    cJSON_Delete(r);
}

/* Reduced-size classification run; returns test accuracy and checks the results contract. */
static double run_classify_(const char *name, const char *n_train, const char *epochs, cJSON **keep) {
    const soma_experiment *e = soma_exp_find(name);
    cJSON *r = NULL;
    const char *args[] = {"--quiet", "--n-train", n_train, "--n-test", "2000", "--epochs", epochs, "--threads", "2", "--seed", "3"};
    CHECK_OK(soma_exp_run(e, 11, args, out_, &r));
    if (!r) return NAN;
    double acc = num_(r, "test_accuracy");
    CHECK(num_(r, "train_seconds") > 0 && num_(r, "samples_per_second") > 0);
    CHECK(num_(r, "seed") == 3 && num_(r, "threads") == 2);
    CHECK(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(r, "options")));
    CHECK(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(r, "landmark")));
    CHECK(exists_(name, "results.json") && exists_(name, "learning_curves.svg") && exists_(name, "filters.svg"));
    if (keep) *keep = r;
    else cJSON_Delete(r);
    return acc;
}

static void test_fmnist(void) {
    struct stat sb;
    char p[4096];
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", soma_fmnist_dir(NULL));
    if (stat(p, &sb) != 0) {
        check_missing_dep("SOMA_REQUIRE_FMNIST", "Fashion-MNIST (dataset-fashion-mnist)");
        return;
    }
    int sanitized = getenv("SOMA_SANITIZED") != NULL; /* the sanitizer build is ~10x slower */
    cJSON *a = NULL, *b = NULL;
    double mlp = run_classify_("mlp-fmnist", sanitized ? "2000" : "10000", "2", &a);
    printf("mlp-fmnist (reduced: %s train samples, 2 epochs): test accuracy %.4f\n", sanitized ? "2000" : "10000", mlp);
    CHECK(mlp >= (sanitized ? 0.70 : 0.80));
    /* the same seed and threads give the same numbers, bit for bit */
    double again = run_classify_("mlp-fmnist", sanitized ? "2000" : "10000", "2", &b);
    CHECK(again == mlp);
    CHECK(num_(a, "train_loss") == num_(b, "train_loss"));
    cJSON_Delete(a);
    cJSON_Delete(b);
    double lenet = run_classify_("lenet-fmnist", sanitized ? "2000" : "10000", "2", NULL);
    printf("lenet-fmnist (reduced: %s train samples, 2 epochs): test accuracy %.4f\n", sanitized ? "2000" : "10000", lenet);
    CHECK(lenet >= (sanitized ? 0.60 : 0.74));
    char html[600];
    snprintf(html, sizeof html, "%s/report.html", out_);
    CHECK_OK(soma_report_build(out_, html));
    CHECK(access(html, R_OK) == 0);
}

int main(void) {
    snprintf(out_, sizeof out_, "/tmp/soma-test-exp-%d", (int)getpid());
    soma_set_threads(2);
    test_registry();
    test_perceptron();
    test_fmnist();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", out_);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", out_);
    return check_report("test_exp");
}
