/* The NLB metrics (soma/neuro.h) against tests/ref/gen_nlb.py's NumPy values: bits per
 * spike (with a masked NaN count and a zero rate), velocity R^2 (ridge + 5-fold alpha
 * search), PSTH R^2 (with a NaN PSTH bin), latent R^2; exact-fit cases and bad input. */
#include <math.h>

#include "check.h"
#include "fixture.h"
#include "soma/neuro.h"

static float one(const fixture *f, const char *name) {
    const fixture_array *a = fixture_get(f, name);
    return a ? a->data[0] : NAN;
}

static int close_(const char *label, double got, double ref, double tol) {
    if (fabs(got - ref) <= tol * (1 + fabs(ref))) return 1;
    fprintf(stderr, "%s: got %.9g, want %.9g\n", label, got, ref);
    return 0;
}

int main(void) {
    fixture f;
    CHECK(fixture_load(check_src_path("tests/fixtures/neuro/nlb.bin"), &f) == 0);
    double v;
    const fixture_array *r = fixture_get(&f, "bps_rates"), *s = fixture_get(&f, "bps_spikes");
    CHECK_OK(soma_nlb_bits_per_spike(r->data, s->data, 6 * 20, 5, &v));
    CHECK(close_("co-bps", v, one(&f, "bps"), 1e-5));
    float flat[600];
    for (int i = 0; i < 600; i++) flat[i] = 0.3f;
    CHECK_OK(soma_nlb_bits_per_spike(flat, s->data, 120, 5, &v));
    CHECK(close_("bps of a flat rate", v, one(&f, "bps_flat"), 1e-5));
    /* the null model itself scores 0 bits per spike */
    float null[600], mean[5] = {0};
    int cnt[5] = {0};
    for (int i = 0; i < 600; i++)
        if (!isnan(s->data[i])) mean[i % 5] += s->data[i], cnt[i % 5]++;
    for (int i = 0; i < 600; i++) null[i] = mean[i % 5] / cnt[i % 5];
    CHECK_OK(soma_nlb_bits_per_spike(null, s->data, 120, 5, &v));
    CHECK(fabs(v) < 1e-6);
    flat[17] = -0.1f;
    CHECK_FAILS(soma_nlb_bits_per_spike(flat, s->data, 120, 5, &v), SOMA_ERR_ARG);
    float zeros[600] = {0};
    CHECK_FAILS(soma_nlb_bits_per_spike(null, zeros, 120, 5, &v), SOMA_ERR_ARG);

    const fixture_array *xt = fixture_get(&f, "vel_xt"), *yt = fixture_get(&f, "vel_yt");
    const fixture_array *xe = fixture_get(&f, "vel_xe"), *ye = fixture_get(&f, "vel_ye");
    CHECK_OK(soma_nlb_vel_r2(xt->data, yt->data, 203, xe->data, ye->data, 81, 8, 3, &v));
    CHECK(close_("velocity R2", v, one(&f, "vel_r2"), 1e-5));
    CHECK_FAILS(soma_nlb_vel_r2(xt->data, yt->data, 4, xe->data, ye->data, 81, 8, 3, &v), SOMA_ERR_ARG);

    const fixture_array *pr = fixture_get(&f, "psth_rates"), *ps = fixture_get(&f, "psth"),
                        *pc = fixture_get(&f, "psth_cond");
    int cond[7];
    for (int k = 0; k < 7; k++) cond[k] = (int)pc->data[k];
    CHECK_OK(soma_nlb_psth_r2(pr->data, cond, 7, ps->data, 3, 20, 5, &v));
    CHECK(close_("PSTH R2", v, one(&f, "psth_r2"), 1e-5));
    cond[2] = 3;
    CHECK_FAILS(soma_nlb_psth_r2(pr->data, cond, 7, ps->data, 3, 20, 5, &v), SOMA_ERR_ARG);

    const fixture_array *zt = fixture_get(&f, "lat_zt"), *tt = fixture_get(&f, "lat_tt");
    const fixture_array *ze = fixture_get(&f, "lat_ze"), *te = fixture_get(&f, "lat_te");
    CHECK_OK(soma_latent_r2(zt->data, tt->data, 150, ze->data, te->data, 100, 4, 3, &v));
    CHECK(close_("latent R2", v, one(&f, "lat_r2"), 1e-5));
    CHECK_OK(soma_latent_r2(zt->data, tt->data, 150, zt->data, tt->data, 150, 4, 3, &v));
    CHECK(close_("latent R2 in-sample", v, one(&f, "lat_r2_in"), 1e-5));
    /* an exact affine image scores 1 */
    float img[150 * 3];
    for (int i = 0; i < 150; i++)
        for (int j = 0; j < 3; j++) img[i * 3 + j] = 2.f * zt->data[i * 4 + j] - zt->data[i * 4 + 3] + 0.5f * j;
    CHECK_OK(soma_latent_r2(zt->data, img, 150, zt->data, img, 150, 4, 3, &v));
    CHECK(fabs(v - 1) < 1e-6);
    CHECK_FAILS(soma_latent_r2(zt->data, tt->data, 4, ze->data, te->data, 100, 4, 3, &v), SOMA_ERR_ARG);
    /* r2_score: both multioutput modes on a hand case: y = [[0,0],[2,10]], yhat = [[1,0],[1,10]]:
     * output 0: 1 - 2/2 = 0; output 1: 1 - 0/50 = 1; uniform 0.5, weighted 1 - 2/52 */
    const double y[4] = {0, 0, 2, 10}, yh[4] = {1, 0, 1, 10};
    CHECK(fabs(soma_r2_score(y, yh, 2, 2, 0) - 0.5) < 1e-12);
    CHECK(fabs(soma_r2_score(y, yh, 2, 2, 1) - (1 - 2.0 / 52)) < 1e-12);
    fixture_free(&f);
    return check_report("neuro_metrics");
}
