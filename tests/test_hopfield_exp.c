// The headlines of hopfield-capacity and hopfield-attention at reduced size: the classical
// network loses its patterns at a load near 0.14 (finite N: a little above) while the modern
// one holds 2 N from noisy cues; one attention step retrieves half-masked Fashion-MNIST
// images, and the beta sweep passes from global averages through metastable states to single
// images. Bad options give SOMA_ERR_ARG before anything runs.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <sys/stat.h>

#include "check.h"
#include "json_util.h"
#include "soma/soma.h"

static const char *out_ = "test_hopfield_exp_out";

static int exists_(const char *exp, const char *file) { return exp_file_exists_(out_, exp, file); }

/* The array o[k] as doubles into v (at most cap); returns its length (-1 when absent). */
static int arr_(const cJSON *o, const char *k, double *v, int cap) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, k), *x;
    if (!cJSON_IsArray(a)) return -1;
    int n = 0;
    cJSON_ArrayForEach(x, a) if (n < cap) v[n++] = x->valuedouble;
    return n;
}

static void test_capacity(void) {
    const soma_experiment *e = soma_exp_find("hopfield-capacity");
    CHECK(e != NULL);
    if (!e) return;
    cJSON *r = NULL;
    double t0 = soma_now();
    CHECK_OK(soma_exp_run_reduced(e, 0, NULL, out_, &r));
    if (!r) return;
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(r, "ours");
    double cap = num_(o, "classical_capacity_ratio"), mod = num_(o, "modern_retrieval_at_max");
    printf("hopfield-capacity (reduced, %.1f s): classical capacity %.3f at N = %.0f, modern %.3f at %.1f N\n",
           soma_now() - t0, cap, num_(o, "classical_capacity_n"), mod, num_(o, "modern_max_load"));
    /* N = 200 (reduced): finite-size capacity a little above 0.138 */
    CHECK(num_(o, "classical_capacity_n") == 200);
    CHECK(cap >= 0.12 && cap <= 0.20);
    CHECK(mod >= 0.99 && num_(o, "modern_max_load") >= 2);
    double f[256], l[256];
    int nf = arr_(o, "classical_retrieved_n200", f, 256), nl = arr_(o, "classical_loads_n200", l, 256);
    CHECK(nf == nl && nf > 10);
    if (nf == nl && nf > 10) {
        CHECK(f[0] == 1.0);          /* few patterns: all retrieved */
        CHECK(f[nf - 1] < 0.3);      /* load 0.25: most lost */
        CHECK(fabs(l[nf - 1] - 0.25) < 1e-6);
    }
    CHECK(exists_("hopfield-capacity", "hopfield_capacity.svg"));
    cJSON_Delete(r);

    /* bad options: refused before anything runs */
    const char *bad1[] = {"--sizes", "100,abc"}, *bad2[] = {"--sizes", "8"}, *bad3[] = {"--noise", "0.6"};
    CHECK_FAILS(soma_exp_run(e, 2, bad1, out_, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_exp_run(e, 2, bad2, out_, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_exp_run(e, 2, bad3, out_, NULL), SOMA_ERR_ARG);
}

static void test_attention(void) {
    const soma_experiment *e = soma_exp_find("hopfield-attention");
    CHECK(e != NULL);
    if (!e) return;
    const char *bad[] = {"--beta-min", "2", "--beta-max", "1"};
    CHECK_FAILS(soma_exp_run(e, 4, bad, out_, NULL), SOMA_ERR_ARG);
    struct stat sb;
    if (stat(soma_fmnist_dir(NULL), &sb) != 0) {
        check_missing_dep("SOMA_REQUIRE_FMNIST", "Fashion-MNIST (dataset-fashion-mnist)");
        return;
    }
    cJSON *r = NULL;
    double t0 = soma_now();
    CHECK_OK(soma_exp_run_reduced(e, 0, NULL, out_, &r));
    if (!r) return;
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(r, "ours");
    double acc = num_(o, "retrieval_accuracy");
    printf("hopfield-attention (reduced, %.1f s): retrieval %.3f (grey pixels %.3f), global at min beta %.3f, "
           "metastable peak %.3f\n",
           soma_now() - t0, acc, num_(o, "retrieval_accuracy_grey"), num_(o, "global_fraction_at_min_beta"),
           num_(o, "metastable_fraction_peak"));
    CHECK(acc >= 0.95);
    CHECK(num_(o, "stored") == 200 && fabs(num_(o, "masked_fraction") - 0.5) < 0.02);
    CHECK(num_(o, "retrieval_masked_error") < 0.05); /* the masked half is filled in */
    /* the three regimes in order along beta */
    double g[64], m[64], s[64], a[64];
    int n = arr_(o, "sweep_global", g, 64);
    CHECK(n == 9 && arr_(o, "sweep_metastable", m, 64) == n && arr_(o, "sweep_single", s, 64) == n &&
          arr_(o, "sweep_accuracy", a, 64) == n);
    if (n == 9) {
        CHECK(g[0] >= 0.99 && a[0] < 0.05);         /* small beta: the global average */
        CHECK(num_(o, "metastable_fraction_peak") >= 0.5); /* in between: metastable states */
        CHECK(s[n - 1] >= 0.95 && a[n - 1] >= 0.95); /* large beta: single images */
        int peak = 0;
        for (int k = 1; k < n; k++) peak = m[k] > m[peak] ? k : peak;
        CHECK(peak > 0 && peak < n - 1);
    }
    CHECK(exists_("hopfield-attention", "hopfield_attention.svg"));
    cJSON_Delete(r);
}

int main(void) {
    soma_set_threads(2);
    test_capacity();
    test_attention();
    return check_report("test_hopfield_exp");
}
