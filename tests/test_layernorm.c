// nn: the layer-norm kernels (vectorised, float statistics) against a double-precision
// reference written here: widths below, at and past a vector (1, 5, 8, 13, 64, 100, 784),
// with and without gain/shift, rows with a large common offset (the mean taken as x0 +
// mean(x - x0)), the backward's dx, dgamma, dbeta (accumulated onto what is there), and the
// same bits from the one-thread and the two-thread backward.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "check.h"
#include "soma/core.h"
#include "soma/nn.h"

/* y, mean, rstd of each row; dx, dgamma += , dbeta += from dy. Biased variance, in double. */
static void ref_ln(double *y, double *mean, double *rstd, double *dx, double *dg, double *db,
                   const float *x, const float *g, const float *b, const float *dy, int N, int D,
                   double eps) {
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * D, *dr = dy + (size_t)n * D;
        double m = 0, v = 0;
        for (int i = 0; i < D; i++) m += xr[i];
        m /= D;
        for (int i = 0; i < D; i++) v += (xr[i] - m) * (xr[i] - m);
        double rs = 1.0 / sqrt(v / D + eps), sg = 0, sgh = 0;
        mean[n] = m, rstd[n] = rs;
        for (int i = 0; i < D; i++) {
            double h = (xr[i] - m) * rs, gi = g ? g[i] : 1.0;
            y[(size_t)n * D + i] = h * gi + (b ? b[i] : 0.0);
            dg[i] += dr[i] * h;
            db[i] += dr[i];
            sg += dr[i] * gi;
            sgh += dr[i] * gi * h;
        }
        for (int i = 0; i < D; i++) {
            double h = (xr[i] - m) * rs, gi = g ? g[i] : 1.0;
            dx[(size_t)n * D + i] = rs * (dr[i] * gi - sg / D - h * sgh / D);
        }
    }
}

static float *to_f(const double *a, size_t n) {
    float *f = malloc(n * sizeof *f);
    for (size_t i = 0; i < n; i++) f[i] = (float)a[i];
    return f;
}

static void one(int N, int D, int affine, float offset, soma_rng *r) {
    size_t nd = (size_t)N * D;
    float *x = malloc(nd * 4), *dy = malloc(nd * 4), *y = malloc(nd * 4), *dx = malloc(nd * 4);
    float *g = malloc((size_t)D * 4), *b = malloc((size_t)D * 4), *dg = malloc((size_t)D * 4),
          *db = malloc((size_t)D * 4), *mean = malloc((size_t)N * 4), *rstd = malloc((size_t)N * 4);
    double *ry = malloc(nd * 8), *rdx = malloc(nd * 8), *rm = malloc((size_t)N * 8),
           *rr = malloc((size_t)N * 8), *rdg = calloc((size_t)D, 8), *rdb = calloc((size_t)D, 8);
    soma_rng_normal_fill(r, x, nd, 0.f, 1.f);
    for (size_t i = 0; i < nd; i++) x[i] = offset + x[i] * (1.f + (float)(i % 7)); /* spread varies */
    soma_rng_normal_fill(r, dy, nd, 0.f, 1.f);
    soma_rng_normal_fill(r, g, (size_t)D, 1.f, 0.5f);
    soma_rng_normal_fill(r, b, (size_t)D, 0.f, 0.5f);
    for (int i = 0; i < D; i++) dg[i] = db[i] = 0.25f, rdg[i] = rdb[i] = 0.25; /* accumulated onto */
    memset(dx, 0xff, nd * 4); /* NaN: every value must be written */
    soma_layernorm_forward(y, mean, rstd, x, affine ? g : NULL, affine ? b : NULL, N, D, 1e-5f);
    soma_layernorm_backward(dx, dg, db, dy, x, mean, rstd, affine ? g : NULL, N, D);
    ref_ln(ry, rm, rr, rdx, rdg, rdb, x, affine ? g : NULL, affine ? b : NULL, dy, N, D, 1e-5);
    char lab[96];
    float *f;
    snprintf(lab, sizeof lab, "layernorm y N %d D %d affine %d offset %g", N, D, affine, offset);
    CHECK_CLOSE(lab, y, (f = to_f(ry, nd)), nd, 2e-5f, 2e-5f); free(f);
    snprintf(lab, sizeof lab, "layernorm mean N %d D %d offset %g", N, D, offset);
    CHECK_CLOSE(lab, mean, (f = to_f(rm, (size_t)N)), (size_t)N, 1e-5f, 1e-6f); free(f);
    if (D > 1) {
        snprintf(lab, sizeof lab, "layernorm rstd N %d D %d offset %g", N, D, offset);
        CHECK_CLOSE(lab, rstd, (f = to_f(rr, (size_t)N)), (size_t)N, 0.f, 2e-5f); free(f);
        snprintf(lab, sizeof lab, "layernorm dx N %d D %d affine %d offset %g", N, D, affine, offset);
        CHECK_CLOSE(lab, dx, (f = to_f(rdx, nd)), nd, 1e-4f, 1e-4f); free(f);
    }
    snprintf(lab, sizeof lab, "layernorm dgamma N %d D %d", N, D);
    CHECK_CLOSE(lab, dg, (f = to_f(rdg, (size_t)D)), (size_t)D, 1e-4f, 1e-4f); free(f);
    snprintf(lab, sizeof lab, "layernorm dbeta N %d D %d", N, D);
    CHECK_CLOSE(lab, db, (f = to_f(rdb, (size_t)D)), (size_t)D, 1e-4f, 1e-5f); free(f);
    free(x), free(dy), free(y), free(dx), free(g), free(b), free(dg), free(db), free(mean), free(rstd);
    free(ry), free(rdx), free(rm), free(rr), free(rdg), free(rdb);
}

/* One thread (one fused backward pass) and two (dx by rows, dgamma and dbeta by columns): the
 * same bits, on rows of 100 (whole vectors and a tail). */
static void threads_same_bits(soma_rng *r) {
#ifdef _OPENMP
    const int N = 900, D = 100;
    size_t nd = (size_t)N * D;
    float *x = malloc(nd * 4), *dy = malloc(nd * 4), *y = malloc(nd * 4), *g = malloc((size_t)D * 4),
          *b = malloc((size_t)D * 4), *mean = malloc((size_t)N * 4), *rstd = malloc((size_t)N * 4);
    float *dx[2] = {malloc(nd * 4), malloc(nd * 4)}, *dg[2] = {calloc((size_t)D, 4), calloc((size_t)D, 4)},
          *db[2] = {calloc((size_t)D, 4), calloc((size_t)D, 4)};
    soma_rng_normal_fill(r, x, nd, 0.5f, 2.f);
    soma_rng_normal_fill(r, dy, nd, 0.f, 1.f);
    soma_rng_normal_fill(r, g, (size_t)D, 1.f, 0.5f);
    soma_rng_normal_fill(r, b, (size_t)D, 0.f, 0.5f);
    const int keep = omp_get_max_threads();
    for (int k = 0; k < 2; k++) {
        omp_set_num_threads(k ? 2 : 1);
        soma_layernorm_forward(y, mean, rstd, x, g, b, N, D, 1e-5f);
        soma_layernorm_backward(dx[k], dg[k], db[k], dy, x, mean, rstd, g, N, D);
    }
    omp_set_num_threads(keep);
    CHECK(memcmp(dx[0], dx[1], nd * 4) == 0);
    CHECK(memcmp(dg[0], dg[1], (size_t)D * 4) == 0);
    CHECK(memcmp(db[0], db[1], (size_t)D * 4) == 0);
    free(x), free(dy), free(y), free(g), free(b), free(mean), free(rstd);
    for (int k = 0; k < 2; k++) free(dx[k]), free(dg[k]), free(db[k]);
#else
    (void)r;
#endif
}

int main(void) {
    soma_rng r;
    soma_rng_seed(&r, 5, 0);
    const int Ds[] = {1, 5, 8, 13, 64, 100, 784};
    for (size_t k = 0; k < sizeof Ds / sizeof *Ds; k++)
        for (int affine = 0; affine < 2; affine++) {
            one(7, Ds[k], affine, 0.f, &r);
            one(3, Ds[k], affine, 1000.f, &r); /* a common offset 1000x the smallest spread */
        }
    one(1100, 64, 1, 2.f, &r); /* enough values for the threaded path */
    one(700, 100, 1, 0.f, &r);
    threads_same_bits(&r);
    return check_report("test_layernorm");
}
