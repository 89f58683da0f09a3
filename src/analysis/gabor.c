/* Fitting a 2-D Gabor to an image (declared in soma/analysis.h).
 *
 * Model: g(x, y) = amp E cos(2 pi f x' + phase) + offset, E = exp(-(x'^2/(2 sx^2) +
 * y'^2/(2 sy^2))), x' and y' the pixel offsets from (x0, y0) rotated by theta.
 *
 * Starts. The spectrum of the mean-removed image (a direct DFT: patches are small) gives the
 * carrier: its NPEAK_ largest peaks in the half plane, each a frequency and an orientation.
 * The centre is either the energy centre (the centroid of img^2) or the pixel of largest
 * |img|. With each envelope width in WIDTHS_, amp, phase and offset then follow by linear least
 * squares (the model is linear in amp cos(phase), amp sin(phase) and offset once the rest is
 * fixed). Every start is refined by Levenberg-Marquardt with the analytic Jacobian (9 x 9
 * normal equations solved by LAPACKE_dposv), parameters projected on their bounds after
 * each step: 0.5 <= sx, sy <= 2 max(h, w); 0 <= f <= 0.75; the centre within one side of the
 * image. The best fit (least SSE) is returned, normalised: amp >= 0, theta in [0, pi),
 * phase in (-pi, pi].
 */
#include <lapacke.h>
#include <math.h>
#include <string.h>

#include "soma/analysis.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#define NP_ 9
#define NPEAK_ 2
#define MAX_IT_ 80
static const double WIDTHS_[] = {1.2, 2.0, 3.5};
#define NW_ ((int)(sizeof WIDTHS_ / sizeof WIDTHS_[0]))

/* p: x0 y0 theta f phase sx sy amp offset (the order of soma_gabor) */
static void from_p_(const double *p, soma_gabor *g) {
    g->x0 = p[0], g->y0 = p[1], g->theta = p[2], g->f = p[3], g->phase = p[4];
    g->sx = p[5], g->sy = p[6], g->amp = p[7], g->offset = p[8];
}

/* Residuals r = model - img and (J != NULL) the Jacobian J [n, 9]; returns the SSE. */
static double eval_(const double *p, const float *img, int h, int w, double *r, double *J) {
    double c = cos(p[2]), s = sin(p[2]), f = p[3], sx = p[5], sy = p[6], amp = p[7];
    double sse = 0.0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int i = y * w + x;
            double dx = x - p[0], dy = y - p[1];
            double xp = dx * c + dy * s, yp = -dx * s + dy * c;
            double E = exp(-(xp * xp / (2 * sx * sx) + yp * yp / (2 * sy * sy)));
            double arg = 2 * M_PI * f * xp + p[4], C = cos(arg), S = sin(arg);
            double m = amp * E * C + p[8];
            r[i] = m - img[i];
            sse += r[i] * r[i];
            if (!J) continue;
            double *j = J + (size_t)i * NP_;
            double gxp = amp * E * (-xp / (sx * sx) * C - 2 * M_PI * f * S);
            double gyp = amp * E * (-yp / (sy * sy)) * C;
            j[0] = gxp * -c + gyp * s;
            j[1] = gxp * -s + gyp * -c;
            j[2] = gxp * yp + gyp * -xp;
            j[3] = -amp * E * S * 2 * M_PI * xp;
            j[4] = -amp * E * S;
            j[5] = amp * E * C * xp * xp / (sx * sx * sx);
            j[6] = amp * E * C * yp * yp / (sy * sy * sy);
            j[7] = E * C;
            j[8] = 1.0;
        }
    return sse;
}

static void project_(double *p, int h, int w) {
    double side = h > w ? h : w;
    if (p[0] < -side) p[0] = -side;
    if (p[0] > 2 * side) p[0] = 2 * side;
    if (p[1] < -side) p[1] = -side;
    if (p[1] > 2 * side) p[1] = 2 * side;
    if (p[3] < 0.0) p[3] = 0.0;
    if (p[3] > 0.75) p[3] = 0.75;
    for (int k = 5; k <= 6; k++) {
        if (p[k] < 0.5) p[k] = 0.5;
        if (p[k] > 2 * side) p[k] = 2 * side;
    }
}

/* amp, phase and offset by linear least squares for the other parameters in p. */
static void linear_init_(double *p, const float *img, int h, int w) {
    double c = cos(p[2]), s = sin(p[2]);
    double A[3][3] = {{0}}, b[3] = {0};
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double dx = x - p[0], dy = y - p[1];
            double xp = dx * c + dy * s, yp = -dx * s + dy * c;
            double E = exp(-(xp * xp / (2 * p[5] * p[5]) + yp * yp / (2 * p[6] * p[6])));
            double arg = 2 * M_PI * p[3] * xp;
            double v[3] = {E * cos(arg), -E * sin(arg), 1.0};
            for (int a = 0; a < 3; a++) {
                b[a] += v[a] * img[y * w + x];
                for (int k = 0; k < 3; k++) A[a][k] += v[a] * v[k];
            }
        }
    double M[9], rhs[3];
    for (int a = 0; a < 3; a++) {
        A[a][a] += 1e-9 * (A[a][a] + 1.0);
        for (int k = 0; k < 3; k++) M[a * 3 + k] = A[a][k];
        rhs[a] = b[a];
    }
    if (LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', 3, 1, M, 3, rhs, 1) != 0) return;
    /* amp cos(arg + phase) = amp cos(phase) cos(arg) - amp sin(phase) sin(arg) */
    p[7] = hypot(rhs[0], rhs[1]);
    p[4] = atan2(rhs[1], rhs[0]);
    p[8] = rhs[2];
}

/* Levenberg-Marquardt from p; returns the final SSE. */
static double lm_(double *p, const float *img, int h, int w, double *r, double *J) {
    int n = h * w;
    double mu = 1e-3, sse = eval_(p, img, h, w, r, J);
    for (int it = 0; it < MAX_IT_; it++) {
        double JtJ[NP_ * NP_] = {0}, g[NP_] = {0};
        for (int i = 0; i < n; i++) {
            const double *j = J + (size_t)i * NP_;
            for (int a = 0; a < NP_; a++) {
                g[a] += j[a] * r[i];
                for (int b = a; b < NP_; b++) JtJ[a * NP_ + b] += j[a] * j[b];
            }
        }
        int improved = 0;
        for (int tries = 0; tries < 10 && !improved; tries++) {
            double M[NP_ * NP_], d[NP_], q[NP_];
            memcpy(M, JtJ, sizeof M);
            for (int a = 0; a < NP_; a++) {
                M[a * NP_ + a] += mu * (JtJ[a * NP_ + a] + 1e-9);
                d[a] = -g[a];
            }
            if (LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', NP_, 1, M, NP_, d, 1) != 0) {
                mu *= 10;
                continue;
            }
            for (int a = 0; a < NP_; a++) q[a] = p[a] + d[a];
            project_(q, h, w);
            double s2 = eval_(q, img, h, w, r, NULL);
            if (s2 < sse) {
                double rel = (sse - s2) / (sse + 1e-300);
                memcpy(p, q, sizeof q);
                sse = eval_(p, img, h, w, r, J);
                mu = mu / 3 > 1e-9 ? mu / 3 : 1e-9;
                improved = 1;
                if (rel < 1e-9) return sse;
            } else {
                mu *= 4;
            }
        }
        if (!improved) break;
    }
    eval_(p, img, h, w, r, NULL);
    return sse;
}

static double wrap_pi_(double a) {
    a = fmod(a, 2 * M_PI);
    if (a <= -M_PI) a += 2 * M_PI;
    if (a > M_PI) a -= 2 * M_PI;
    return a;
}

static void normalise_(double *p) {
    if (p[7] < 0) {
        p[7] = -p[7];
        p[4] += M_PI;
    }
    double t = fmod(p[2], 2 * M_PI);
    if (t < 0) t += 2 * M_PI;
    if (t >= M_PI) { /* x' -> -x': cos(-u + phase) = cos(u - phase) */
        t -= M_PI;
        p[4] = -p[4];
    }
    p[2] = t;
    p[4] = wrap_pi_(p[4]);
}

soma_status soma_gabor_fit(const float *img, int h, int w, soma_gabor *g, double *r2) {
    if (!img || !g || !r2) return soma_error(SOMA_ERR_ARG, "gabor fit: NULL argument");
    if (h < 4 || w < 4 || h > 128 || w > 128)
        return soma_error(SOMA_ERR_ARG, "gabor fit: image %d x %d must be between 4 x 4 and 128 x 128", h, w);
    int n = h * w;
    double mean = 0.0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(img[i]))
            return soma_error(SOMA_ERR_ARG, "gabor fit: non-finite pixel in row %d", i / w);
        mean += img[i];
    }
    mean /= n;
    double sst = 0.0;
    for (int i = 0; i < n; i++) sst += (img[i] - mean) * (img[i] - mean);
    if (!(sst > 0.0)) return soma_error(SOMA_ERR_ARG, "gabor fit: the image is constant");

    double *r = soma_alloc((size_t)n, sizeof(double)), *J = soma_alloc((size_t)n * NP_, sizeof(double));
    if (!r || !J) {
        soma_free(r);
        soma_free(J);
        return SOMA_ERR_NOMEM;
    }
    // --- spectral peaks (half plane: v >= 0 side of the conjugate pairs) and centres
    double pk_pow[NPEAK_], pk_fx[NPEAK_], pk_fy[NPEAK_];
    for (int k = 0; k < NPEAK_; k++) pk_pow[k] = -1, pk_fx[k] = pk_fy[k] = 0;
    for (int u = -(h / 2); u < h - h / 2; u++)
        for (int v = 0; v <= w / 2; v++) {
            if (v == 0 && u <= 0) continue; /* DC and the conjugate half of the v = 0 column */
            double re = 0, im = 0;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    double a = -2 * M_PI * ((double)u * y / h + (double)v * x / w), z = img[y * w + x] - mean;
                    re += z * cos(a);
                    im += z * sin(a);
                }
            double pw = re * re + im * im;
            for (int k = 0; k < NPEAK_; k++)
                if (pw > pk_pow[k]) {
                    for (int m = NPEAK_ - 1; m > k; m--)
                        pk_pow[m] = pk_pow[m - 1], pk_fx[m] = pk_fx[m - 1], pk_fy[m] = pk_fy[m - 1];
                    pk_pow[k] = pw, pk_fx[k] = (double)v / w, pk_fy[k] = (double)u / h;
                    break;
                }
        }
    double ex = 0, ey = 0, et = 0, best_abs = -1;
    int bx = 0, by = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double z = img[y * w + x] - mean, e = z * z;
            ex += e * x, ey += e * y, et += e;
            if (fabs(z) > best_abs) best_abs = fabs(z), bx = x, by = y;
        }
    double cx[2] = {ex / et, bx}, cy[2] = {ey / et, by};

    double best[NP_] = {0}, best_sse = INFINITY;
    for (int k = 0; k < NPEAK_; k++) {
        if (pk_pow[k] < 0) continue;
        for (int c = 0; c < 2; c++)
            for (int iw = 0; iw < NW_; iw++) {
                double p[NP_];
                p[0] = cx[c], p[1] = cy[c];
                p[2] = atan2(pk_fy[k], pk_fx[k]);
                p[3] = hypot(pk_fx[k], pk_fy[k]);
                p[5] = p[6] = WIDTHS_[iw] * (w > h ? w : h) / 16.0;
                p[4] = 0, p[7] = 0, p[8] = mean;
                linear_init_(p, img, h, w);
                double sse = lm_(p, img, h, w, r, J);
                if (sse < best_sse) {
                    best_sse = sse;
                    memcpy(best, p, sizeof p);
                }
            }
    }
    soma_free(r);
    soma_free(J);
    normalise_(best);
    from_p_(best, g);
    *r2 = 1.0 - best_sse / sst;
    return SOMA_OK;
}

int soma_gabor_localized(const soma_gabor *g, int h, int w) {
    double side = h < w ? h : w;
    return g->sx < side / 3 && g->sy < side / 3 && g->x0 >= -0.5 && g->x0 <= w - 0.5 && g->y0 >= -0.5 &&
           g->y0 <= h - 0.5;
}

int soma_gabor_bandpass(const soma_gabor *g, int h, int w) {
    double side = h > w ? h : w;
    return g->f >= 1.0 / side && g->f <= 0.5 && g->f * g->sx >= 0.15;
}
