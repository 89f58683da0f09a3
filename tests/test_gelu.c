// The vectorised exact GELU (src/nn/act.c) against the libm erff/expf formulas, over a wide
// range, at the tails and at NaN/inf; serial and threaded sizes give the same bits.
#include <math.h>
#include <stdint.h>

#include "check.h"
#include "soma/core.h"
#include "soma/nn.h"

/* in double, through erfc so that the negative tail keeps its digits */
static double ref_fwd(float x) { return 0.5 * (double)x * erfc(-(double)x * 0.70710678118654752); }
static double ref_dx(float x) {
    return 0.5 * erfc(-(double)x * 0.70710678118654752) +
           (double)x * 0.39894228040143268 * exp(-0.5 * (double)x * x);
}
/* the formulas the kernel replaced, in float with libm */
static float erff_fwd(float x) { return 0.5f * x * (1.f + erff(x * 0.70710678118654752f)); }

int main(void) {
    /* every 1/4096 on [-16, 16] plus a log-spaced sweep to 1e30 and 1e-30 on both sides */
    enum { NLIN = 32 * 4096 + 1, NLOG = 2 * 61 * 10 };
    const size_t n = NLIN + NLOG;
    float *x = soma_alloc(n, sizeof *x), *y = soma_alloc(n, sizeof *y), *dx = soma_alloc(n, sizeof *dx),
          *dy = soma_alloc(n, sizeof *dy), *y1 = soma_alloc(n, sizeof *y1), *dx1 = soma_alloc(n, sizeof *dx1);
    CHECK(x && y && dx && dy && y1 && dx1);
    if (!x || !y || !dx || !dy || !y1 || !dx1) return check_report("test_gelu");
    size_t k = 0;
    for (int i = 0; i < NLIN; i++) x[k++] = -16.f + (float)i / 4096.f;
    for (int i = 0; i < 61 * 10; i++) {
        float m = powf(10.f, -30.f + (float)i / 10.f);
        x[k++] = m;
        x[k++] = -m;
    }
    for (size_t i = 0; i < n; i++) dy[i] = 1.f;
    soma_act_forward(SOMA_ACT_GELU, y, x, n); /* n >= 2^15: the threaded path */
    soma_act_backward(SOMA_ACT_GELU, dx, dy, x, y, n);     /* the CDF read back as y / x */
    soma_act_backward(SOMA_ACT_GELU, dx1, dy, x, NULL, n); /* the CDF recomputed */
    double worst_f = 0, worst_erff = 0, worst_b = 0, worst_b0 = 0, worst_rel_neg = 0;
    for (size_t i = 0; i < n; i++) {
        double ef = fabs((double)y[i] - ref_fwd(x[i]));
        double ee = fabs((double)y[i] - (double)erff_fwd(x[i]));
        double eb = fabs((double)dx[i] - ref_dx(x[i])), eb0 = fabs((double)dx1[i] - ref_dx(x[i]));
        if (eb0 > worst_b0) worst_b0 = eb0;
        if (ef > worst_f) worst_f = ef;
        if (ee > worst_erff) worst_erff = ee;
        if (eb > worst_b) worst_b = eb;
        /* the negative tail keeps its relative accuracy (no 1 - erf cancellation) */
        if (x[i] < -0.5f && x[i] > -9.f) {
            double r = ref_fwd(x[i]);
            double rel = fabs((double)y[i] - r) / fabs(r);
            if (rel > worst_rel_neg) worst_rel_neg = rel;
        }
    }
    printf("gelu: max |err| vs double erf %.3g, vs float erff formula %.3g; dx %.3g (y given), %.3g (y NULL); "
           "neg-tail rel %.3g\n", worst_f, worst_erff, worst_b, worst_b0, worst_rel_neg);
    CHECK(worst_erff <= 1e-6);
    CHECK(worst_f <= 1e-6);
    CHECK(worst_b <= 1e-6);
    CHECK(worst_b0 <= 1e-6);
    CHECK(worst_rel_neg <= 2e-5); /* the erff formula: ~1 there */

    /* special values as erff's formula and PyTorch: NaN -> NaN, +inf -> +inf, -inf -> NaN;
     * far negative -> -0; gradient NaN at NaN and +-inf, 0 far out on the negative side, 1 on
     * the positive side */
    const float sp[] = {NAN, INFINITY, -INFINITY, -1e30f, 1e30f, -30.f, 30.f, 0.f, -0.f};
    const int ns = (int)(sizeof sp / sizeof *sp);
    float ys[16], ds[16], ones[16];
    for (int i = 0; i < ns; i++) ones[i] = 1.f;
    soma_act_forward(SOMA_ACT_GELU, ys, sp, (size_t)ns);
    for (int with_y = 0; with_y < 2; with_y++) {
        soma_act_backward(SOMA_ACT_GELU, ds, ones, sp, with_y ? ys : NULL, (size_t)ns);
        CHECK(isnan(ys[0]) && isnan(ds[0]));
        CHECK(isinf(ys[1]) && ys[1] > 0 && isnan(ds[1]));
        CHECK(isnan(ys[2]) && isnan(ds[2]));
        CHECK(ys[3] == 0.f && ds[3] == 0.f);
        CHECK(ys[4] == 1e30f && ds[4] == 1.f);
        CHECK(ys[5] == 0.f && signbit(ys[5]) && ds[5] == 0.f);
        CHECK(ys[6] == 30.f && ds[6] == 1.f);
        CHECK(ys[7] == 0.f && fabsf(ds[7] - 0.5f) < 1e-7f && ys[8] == 0.f);
    }
    for (int i = 0; i < ns; i++) {
        float e = erff_fwd(sp[i]);
        CHECK((isnan(e) && isnan(ys[i])) || e == ys[i]);
    }

    /* the serial path (short calls, lengths not a multiple of 8) gives the same bits as the
     * threaded one */
    for (size_t o = 0; o < n; o += 999) {
        size_t m = n - o < 999 ? n - o : 999;
        soma_act_forward(SOMA_ACT_GELU, y1 + o, x + o, m);
        soma_act_backward(SOMA_ACT_GELU, dx1 + o, dy + o, x + o, y1 + o, m);
    }
    CHECK(memcmp(y1, y, n * sizeof *y) == 0);
    CHECK(memcmp(dx1, dx, n * sizeof *dx) == 0);
    soma_free(x), soma_free(y), soma_free(dx), soma_free(dy), soma_free(y1), soma_free(dx1);
    return check_report("test_gelu");
}
