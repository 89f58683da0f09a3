/* ndt-synthetic at reduced size, the whole pipeline (synthetic sessions, NDT pre-training,
 * few-shot adaptation and training from scratch, baselines, scores, figures): results.json
 * holds every metric for every model and few-shot size, in range; pre-training lowers the
 * masked loss; the units' anomalies are found; the scaling runs report every figure and more
 * pre-training sessions lower the held-out sessions' masked loss; bad options are refused
 * before anything runs. */
#include <cjson/cJSON.h>
#include <math.h>

#include "check.h"
#include "json_util.h"
#include "soma/soma.h"

static const char *out_ = "test_exp_ndt_out";

int main(void) {
    const soma_experiment *e = soma_exp_find("ndt-synthetic");
    CHECK(e != NULL);
    if (!e) return check_report("test_exp_ndt");
    CHECK_OK(soma_exp_check(e));
    cJSON *r = NULL;
    const double t0 = soma_now();
    CHECK_OK(soma_exp_run_reduced(e, 0, NULL, out_, &r));
    if (!r) return check_report("test_exp_ndt");
    printf("ndt-synthetic (reduced): %.1f s\n", soma_now() - t0);
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(r, "ours");
    static const char *metric[] = {"co_bps", "vel_r2", "fp_bps", "anomaly_auroc", "anomaly_auroc_units"};
    static const char *model[] = {"pretrained", "scratch", "smoothing"};
    static const char *size[] = {"10", "20"};
    for (int i = 0; i < 5; i++) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, metric[i]);
        CHECK(cJSON_IsObject(m));
        for (int j = 0; j < 3; j++) {
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(m, model[j]);
            CHECK(cJSON_IsObject(p));
            for (int k = 0; k < 2; k++) {
                const double v = num_(p, size[k]);
                CHECK(isfinite(v));
                if (i >= 3) CHECK(v >= 0 && v <= 1);
                if (i == 1) CHECK(v <= 1);
            }
            CHECK(cJSON_GetObjectItemCaseSensitive(p, "30") == NULL);
        }
        CHECK((cJSON_GetObjectItemCaseSensitive(m, "gpfa") != NULL) == (i == 0));
    }
    /* the unit anomalies (silent and re-identified units) stand out under every model */
    const cJSON *au = cJSON_GetObjectItemCaseSensitive(o, "anomaly_auroc_units");
    CHECK(num_(cJSON_GetObjectItemCaseSensitive(au, "smoothing"), "20") > 0.8);
    CHECK(num_(o, "pretrain_seconds") > 0);
    /* pre-training lowers the masked validation loss */
    const cJSON *vn = cJSON_GetObjectItemCaseSensitive(o, "pretrain_valid_nll");
    const int nv = cJSON_GetArraySize(vn);
    CHECK(nv >= 2);
    if (nv >= 2) CHECK(cJSON_GetArrayItem(vn, nv - 1)->valuedouble < cJSON_GetArrayItem(vn, 0)->valuedouble);
    /* --mix 4: every pre-training step draws from 4 sessions; the same steps then reach a lower
     * validation loss on the pre-training sessions than one session a step */
    {
        const char *mix[] = {"--mix", "4", "--scaling", "0"};
        cJSON *r4 = NULL;
        CHECK_OK(soma_exp_run_reduced(e, 4, mix, out_, &r4));
        const cJSON *o4 = cJSON_GetObjectItemCaseSensitive(r4, "ours");
        const cJSON *v4 = cJSON_GetObjectItemCaseSensitive(o4, "pretrain_valid_nll");
        const int n4 = cJSON_GetArraySize(v4);
        CHECK(n4 == nv && n4 >= 2);
        if (n4 == nv && n4 >= 2)
            CHECK(cJSON_GetArrayItem(v4, n4 - 1)->valuedouble < cJSON_GetArrayItem(vn, nv - 1)->valuedouble);
        CHECK(cJSON_GetObjectItemCaseSensitive(o4, "scaling") == NULL);
        cJSON_Delete(r4);
    }
    static const char *keys[] = {"pretrained_minus_scratch_co_bps", "pretrained_minus_scratch_vel_r2",
                                 "pretrained_minus_scratch_fp_bps", "pretrained_anomaly_auroc",
                                 "pretrained_minus_gpfa_co_bps", "pretrained_minus_smoothing_co_bps"};
    for (int i = 0; i < 6; i++) CHECK(isfinite(num_(o, keys[i])));
    /* scaling (reduced: 1 and 4 pre-training sessions): every figure per count, finite; the
     * held-out sessions' masked loss is lower after pre-training on 4 sessions than on 1 */
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(o, "scaling");
    CHECK(cJSON_IsObject(sc));
    static const char *sk[] = {"sessions", "heldout_nll", "heldout_bps", "co_bps", "fp_bps", "vel_r2",
                               "pretrain_valid_nll", "pretrain_valid_bps", "seconds"};
    for (int i = 0; i < 9; i++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(sc, sk[i]);
        CHECK(cJSON_GetArraySize(a) == 2);
        for (int j = 0; j < cJSON_GetArraySize(a); j++) CHECK(isfinite(cJSON_GetArrayItem(a, j)->valuedouble));
    }
    const cJSON *ss = cJSON_GetObjectItemCaseSensitive(sc, "sessions"), *sn = cJSON_GetObjectItemCaseSensitive(sc, "heldout_nll");
    if (cJSON_GetArraySize(ss) == 2 && cJSON_GetArraySize(sn) == 2) {
        CHECK(cJSON_GetArrayItem(ss, 0)->valuedouble == 1 && cJSON_GetArrayItem(ss, 1)->valuedouble == 4);
        CHECK(cJSON_GetArrayItem(sn, 0)->valuedouble > 0);
        CHECK(cJSON_GetArrayItem(sn, 1)->valuedouble < cJSON_GetArrayItem(sn, 0)->valuedouble);
    }
    CHECK(num_(sc, "adapt_trials") == 20);
    const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "status"));
    CHECK(st && strcmp(st, "reduced") == 0);
    static const char *figs[] = {"pretrain_loss.svg", "fewshot.svg", "anomaly_scores.svg", "pretrained.ckpt",
                                 "scaling.svg"};
    for (int i = 0; i < 5; i++) CHECK(exp_file_exists_(out_, "ndt-synthetic", figs[i]));
    cJSON_Delete(r);
    /* bad options: refused before anything runs */
    const char *bad1[] = {"--fewshot", "30,10"}, *bad2[] = {"--fwd-bins", "48"}, *bad3[] = {"--units-max", "300"};
    const char *bad4[] = {"--fewshot", "10,x"}, *bad5[] = {"--scaling", "5,2"}, *bad6[] = {"--scaling", "2,30"};
    CHECK_FAILS(soma_exp_run(e, 2, bad1, out_, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_exp_run(e, 2, bad2, out_, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_exp_run(e, 2, bad3, out_, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_exp_run(e, 2, bad4, out_, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_exp_run(e, 2, bad5, out_, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_exp_run(e, 2, bad6, out_, NULL), SOMA_ERR_ARG);
    return check_report("test_exp_ndt");
}
