// scaling-fmnist at reduced size: the test loss falls with parameters (at the largest data
// size) and with data (at the largest width), the fitted exponents are positive and finite
// with intervals around them, cells.jsonl holds what `soma fit-scaling` reads, the cells give
// the same bits one at a time as side by side (--threads 1 vs 2), and --resume takes finished
// cells from an earlier run instead of training them again.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "json_util.h"
#include "soma/soma.h"

static int have_fmnist_(void) {
    struct stat sb;
    return stat(soma_fmnist_dir(NULL), &sb) == 0;
}

/* The losses of out/scaling-fmnist/cells.jsonl in file order (n of them), read with the
 * fits' own reader. */
static int read_cells_(const char *out, double *loss, double *np, double *nd, int cap) {
    char path[512];
    snprintf(path, sizeof path, "%s/scaling-fmnist/cells.jsonl", out);
    soma_scaling_point *p = NULL;
    int n = 0;
    if (soma_scaling_read_jsonl(path, SOMA_SCALING_ND, &p, &n) != SOMA_OK) return -1;
    for (int i = 0; i < n && i < cap; i++) loss[i] = p[i].loss, np[i] = p[i].n_params, nd[i] = p[i].n_data;
    soma_free(p);
    return n;
}

static cJSON *run_(const char *out, const char *threads, const char *resume) {
    const soma_experiment *e = soma_exp_find("scaling-fmnist");
    CHECK(e != NULL);
    if (!e) return NULL;
    const char *args[] = {"--widths", "2,8,32,128", "--sizes", "500,1000,2000,4000", "--n-test", "2000", "--val", "1000",
                          "--epochs", "2", "--min-steps", "120", "--evals", "4", "--lr", "0.003", "--bootstrap", "30",
                          "--quiet", "--threads", threads, "--resume", resume};
    cJSON *r = NULL;
    CHECK_OK(soma_exp_run(e, (int)(sizeof args / sizeof *args) - (resume ? 0 : 2), args, out, &r));
    return r;
}

static void test_scaling(void) {
    double t0 = soma_now();
    cJSON *r = run_("test_exp_scaling_t1", "1", NULL);
    if (!r) return;
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(r, "ours");
    const double alpha = num_(o, "alpha"), beta = num_(o, "beta"), E = num_(o, "E");
    const double an = num_(o, "alpha_n"), bd = num_(o, "beta_d");
    const cJSON *aci = cJSON_GetObjectItemCaseSensitive(o, "alpha_ci"), *bci = cJSON_GetObjectItemCaseSensitive(o, "beta_ci");
    const double a0 = cJSON_GetArrayItem(aci, 0) ? cJSON_GetArrayItem(aci, 0)->valuedouble : NAN;
    const double a1 = cJSON_GetArrayItem(aci, 1) ? cJSON_GetArrayItem(aci, 1)->valuedouble : NAN;
    const double b0 = cJSON_GetArrayItem(bci, 0) ? cJSON_GetArrayItem(bci, 0)->valuedouble : NAN;
    const double b1 = cJSON_GetArrayItem(bci, 1) ? cJSON_GetArrayItem(bci, 1)->valuedouble : NAN;
    printf("scaling-fmnist reduced (%.1f s): E %.3f, alpha %.3f [%.3f, %.3f], beta %.3f [%.3f, %.3f]; L(N) alpha %.3f, "
           "L(D) beta %.3f\n", soma_now() - t0, E, alpha, a0, a1, beta, b0, b1, an, bd);
    CHECK(isfinite(alpha) && alpha > 0 && isfinite(beta) && beta > 0 && isfinite(E) && E >= 0);
    CHECK(isfinite(an) && an > 0 && isfinite(bd) && bd > 0);
    CHECK(a0 <= alpha && alpha <= a1 && b0 <= beta && beta <= b1); /* the intervals hold the fit */
    // the grid itself: loss falls with N at the largest D and with D at the largest N
    double loss[64], np[64], nd[64];
    const int n = read_cells_("test_exp_scaling_t1", loss, np, nd, 64);
    CHECK(n == 16);
    if (n == 16) {
        /* file order: width-major, then size */
        CHECK(loss[3] > loss[15]);  /* width 2 vs 128 at 4000 examples */
        CHECK(loss[12] > loss[15]); /* 500 vs 4000 examples at width 128 */
        CHECK(np[0] == 784 * 2 + 2 + 2 * 10 + 10 && nd[0] == 500 && np[15] == 784 * 128 + 128 + 1280 + 10);
    }
    CHECK(exp_file_exists_("test_exp_scaling_t1", "scaling-fmnist", "scaling.svg"));

    // side by side: the same cells, the same bits
    cJSON *r2 = run_("test_exp_scaling_t2", "2", NULL);
    double loss2[64], np2[64], nd2[64];
    const int n2 = read_cells_("test_exp_scaling_t2", loss2, np2, nd2, 64);
    CHECK(n2 == n && n2 > 0 && memcmp(loss, loss2, sizeof(double) * (size_t)(n > 0 ? n : 0)) == 0);
    CHECK(r2 && num_(cJSON_GetObjectItemCaseSensitive(r2, "ours"), "alpha") == alpha);

    // resumed from the first run's cells: nothing trained, the same figures
    cJSON *r3 = run_("test_exp_scaling_t3", "2", "test_exp_scaling_t1/scaling-fmnist/cells.jsonl");
    const cJSON *o3 = r3 ? cJSON_GetObjectItemCaseSensitive(r3, "ours") : NULL;
    CHECK(num_(o3, "cells_resumed") == 16);
    CHECK(num_(o3, "beta") == beta);
    double loss3[64], np3[64], nd3[64];
    CHECK(read_cells_("test_exp_scaling_t3", loss3, np3, nd3, 64) == n &&
          memcmp(loss, loss3, sizeof(double) * (size_t)(n > 0 ? n : 0)) == 0);
    cJSON_Delete(r);
    cJSON_Delete(r2);
    cJSON_Delete(r3);
}

static void test_bad_options(void) {
    const soma_experiment *e = soma_exp_find("scaling-fmnist");
    if (!e) return;
    const char *a1[] = {"--widths", "2,8", "--quiet"}; /* too few widths to fit */
    CHECK(soma_exp_run(e, 3, a1, "test_exp_scaling_bad", NULL) == SOMA_ERR_ARG);
    const char *a2[] = {"--sizes", "1000,3000,60000", "--quiet"}; /* no room for the validation images */
    CHECK(soma_exp_run(e, 3, a2, "test_exp_scaling_bad", NULL) == SOMA_ERR_ARG);
    const char *a3[] = {"--widths", "8,4,2", "--quiet"};
    CHECK(soma_exp_run(e, 3, a3, "test_exp_scaling_bad", NULL) == SOMA_ERR_ARG);
    struct stat sb;
    CHECK(stat("test_exp_scaling_bad", &sb) != 0); /* refused before anything was written */
}

int main(void) {
    test_bad_options();
    if (!have_fmnist_()) {
        check_missing_dep("SOMA_REQUIRE_FMNIST", "Fashion-MNIST (dataset-fashion-mnist)");
    } else {
        test_scaling();
    }
    return check_report("test_exp_scaling");
}
