/* soma_lbfgs (core.h): the minimiser of Rosenbrock's function (1, ..., 1) from the classic
 * start, a convex quadratic with a known minimiser (x* = Q^-1 b, by the Thomas algorithm),
 * caller scratch (same iterates), the returned point being the best evaluated, the f_tol and
 * max_iter stops, a region where f is infinite, and bad arguments. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "soma/core.h"

// --- objectives ----------------------------------------------------------------------------

/* Extended Rosenbrock: sum_{i even} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2. */
static double rosen_(const double *x, double *g, void *ctx) {
    const int n = *(const int *)ctx;
    double f = 0;
    for (int i = 0; i < n; i += 2) {
        const double t = x[i + 1] - x[i] * x[i], u = 1 - x[i];
        f += 100 * t * t + u * u;
        g[i] = -400 * x[i] * t - 2 * u;
        g[i + 1] = 200 * t;
    }
    return f;
}

/* 0.5 x'Qx - b'x with Q tridiagonal (4 on the diagonal, -1 off it): SPD, condition ~3. */
typedef struct {
    int n;
    const double *b;
    double scale; /* multiplies Q's diagonal entries i % 3 == 0 (to make it ill-conditioned) */
} quad_;

static double quad_f_(const double *x, double *g, void *ctx) {
    const quad_ *q = ctx;
    double f = 0;
    for (int i = 0; i < q->n; i++) {
        double qx = (i % 3 == 0 ? 4 * q->scale : 4) * x[i];
        if (i > 0) qx -= x[i - 1];
        if (i + 1 < q->n) qx -= x[i + 1];
        g[i] = qx - q->b[i];
        f += 0.5 * x[i] * qx - q->b[i] * x[i];
    }
    return f;
}

/* Records every evaluation, so the test can check that the returned f is the best seen. */
typedef struct {
    int n, calls;
    double f[4096];
} trace_;

static double rosen_traced_(const double *x, double *g, void *ctx) {
    trace_ *t = ctx;
    int n = t->n;
    const double f = rosen_(x, g, &n);
    if (t->calls < 4096) t->f[t->calls] = f;
    t->calls++;
    return f;
}

/* f = (x-3)^2 for x < 5, +inf beyond (a region the line search must step back from). */
static double walled_(const double *x, double *g, void *ctx) {
    (void)ctx;
    if (x[0] > 5) return INFINITY;
    g[0] = 2 * (x[0] - 3);
    return (x[0] - 3) * (x[0] - 3);
}

static double nan_start_(const double *x, double *g, void *ctx) {
    (void)ctx;
    g[0] = 0;
    return x[0] == 0 ? NAN : 1.0;
}

// --- tests ---------------------------------------------------------------------------------

static void test_rosenbrock(void) {
    int n = 2;
    double x[2] = {-1.2, 1.0};
    soma_lbfgs_result r;
    CHECK_OK(soma_lbfgs(n, x, rosen_, &n, &(soma_lbfgs_opts){.g_tol = 1e-10}, &r));
    CHECK(r.converged);
    CHECK(fabs(x[0] - 1) < 1e-7 && fabs(x[1] - 1) < 1e-7);
    CHECK(r.f < 1e-14 && r.g_norm <= 1e-10);
    CHECK(r.iterations > 10 && r.iterations < 200); /* Nocedal & Wright report ~35 */
    CHECK(r.evaluations >= r.iterations + 1);
    printf("rosenbrock 2-d: %d iterations, %d evaluations, x = (%.12f, %.12f)\n", r.iterations,
           r.evaluations, x[0], x[1]);

    /* 20-d extended Rosenbrock from (-1.2, 1, -1.2, 1, ...), small memory */
    n = 20;
    double y[20];
    for (int i = 0; i < n; i++) y[i] = i % 2 ? 1.0 : -1.2;
    CHECK_OK(soma_lbfgs(n, y, rosen_, &n, &(soma_lbfgs_opts){.m = 5, .g_tol = 1e-9}, &r));
    CHECK(r.converged);
    double worst = 0;
    for (int i = 0; i < n; i++) worst = fmax(worst, fabs(y[i] - 1));
    CHECK(worst < 1e-6);

    /* max_iter stops it early: not converged, but lower than the start */
    double z[2] = {-1.2, 1.0};
    n = 2;
    CHECK_OK(soma_lbfgs(n, z, rosen_, &n, &(soma_lbfgs_opts){.max_iter = 3}, &r));
    CHECK(!r.converged && r.iterations == 3 && r.f < 24.2);
}

static void test_quadratic(void) {
    enum { N = 50 };
    double b[N], x[N], want[N];
    for (int i = 0; i < N; i++) b[i] = sin(0.3 * i) + 0.1 * i;
    for (int pass = 0; pass < 2; pass++) {
        quad_ q = {N, b, pass ? 100.0 : 1.0};
        /* the minimiser by the Thomas algorithm on Q x = b */
        double c[N], d[N];
        for (int i = 0; i < N; i++) {
            const double diag = i % 3 == 0 ? 4 * q.scale : 4;
            const double m = i > 0 ? diag + c[i - 1] : diag; /* diag - sub c'_{i-1}, sub = -1 */
            c[i] = -1.0 / m;
            d[i] = (b[i] + (i > 0 ? d[i - 1] : 0)) / m;
        }
        want[N - 1] = d[N - 1];
        for (int i = N - 2; i >= 0; i--) want[i] = d[i] - c[i] * want[i + 1];
        memset(x, 0, sizeof x);
        soma_lbfgs_result r;
        CHECK_OK(soma_lbfgs(N, x, quad_f_, &q, &(soma_lbfgs_opts){.g_tol = 1e-12}, &r));
        CHECK(r.converged);
        double worst = 0;
        for (int i = 0; i < N; i++) worst = fmax(worst, fabs(x[i] - want[i]));
        CHECK(worst < 1e-9);
        printf("quadratic n=%d scale %g: %d iterations, max |x - x*| = %.2e\n", N, q.scale,
               r.iterations, worst);
        /* the optimal value 0.5 b'x* - b'x* = -0.5 b'x* */
        double fstar = 0;
        for (int i = 0; i < N; i++) fstar -= 0.5 * b[i] * want[i];
        CHECK(fabs(r.f - fstar) < 1e-10 * fmax(1, fabs(fstar)));
    }
}

/* Caller scratch gives the same iterates bit for bit as allocated scratch, and the objective
 * value of each accepted iterate never rises. */
static void test_scratch_and_monotone(void) {
    trace_ t1 = {.n = 2}, t2 = {.n = 2};
    double x1[2] = {-1.2, 1.0}, x2[2] = {-1.2, 1.0};
    double work[64];
    CHECK(soma_lbfgs_work_size(2, 4) <= 64 && soma_lbfgs_work_size(2, 4) == (2 * 4 + 4) * 2 + 8);
    soma_lbfgs_result r1, r2;
    CHECK_OK(soma_lbfgs(2, x1, rosen_traced_, &t1, &(soma_lbfgs_opts){.m = 4}, &r1));
    CHECK_OK(soma_lbfgs(2, x2, rosen_traced_, &t2, &(soma_lbfgs_opts){.m = 4, .work = work}, &r2));
    CHECK(memcmp(x1, x2, sizeof x1) == 0 && r1.iterations == r2.iterations);
    CHECK(t1.calls == r1.evaluations);
    /* the returned f is the smallest value ever evaluated */
    double fmin_seen = INFINITY;
    for (int k = 0; k < t1.calls && k < 4096; k++) fmin_seen = fmin(fmin_seen, t1.f[k]);
    CHECK(r1.f == fmin_seen);
}

static void test_ftol_wall_errors(void) {
    int n = 2;
    double x[2] = {-1.2, 1.0};
    soma_lbfgs_result r;
    /* a loose f_tol stops well before the gradient tolerance */
    CHECK_OK(soma_lbfgs(n, x, rosen_, &n, &(soma_lbfgs_opts){.g_tol = -1, .f_tol = 1e-2}, &r));
    CHECK(r.converged && r.g_norm > 1e-6);

    double w[1] = {0};
    CHECK_OK(soma_lbfgs(1, w, walled_, NULL, NULL, &r));
    CHECK(r.converged && fabs(w[0] - 3) < 1e-6);
    double w2[1] = {4.9}; /* starts beside the wall, first trial step lands beyond it */
    CHECK_OK(soma_lbfgs(1, w2, walled_, NULL, NULL, &r));
    CHECK(r.converged && fabs(w2[0] - 3) < 1e-6);

    double z[1] = {0};
    CHECK_FAILS(soma_lbfgs(1, z, nan_start_, NULL, NULL, &r), SOMA_ERR_ARG);
    CHECK_FAILS(soma_lbfgs(0, z, walled_, NULL, NULL, &r), SOMA_ERR_ARG);
    CHECK_FAILS(soma_lbfgs(1, NULL, walled_, NULL, NULL, &r), SOMA_ERR_ARG);
    CHECK_FAILS(soma_lbfgs(1, z, NULL, NULL, NULL, &r), SOMA_ERR_ARG);
    CHECK_FAILS(soma_lbfgs(1, z, walled_, NULL, &(soma_lbfgs_opts){.c1 = 0.5, .c2 = 0.1}, &r), SOMA_ERR_ARG);
    CHECK_FAILS(soma_lbfgs(1, z, walled_, NULL, &(soma_lbfgs_opts){.m = -1}, &r), SOMA_ERR_ARG);
    /* out of memory while allocating the scratch */
    soma_alloc_fail_after(0);
    CHECK_FAILS(soma_lbfgs(1, z, walled_, NULL, NULL, &r), SOMA_ERR_NOMEM);
    soma_alloc_fail_after(-1);
}

int main(void) {
    test_rosenbrock();
    test_quadratic();
    test_scratch_and_monotone();
    test_ftol_wall_errors();
    return check_report("test_lbfgs");
}
