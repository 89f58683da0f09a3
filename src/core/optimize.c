/* Limited-memory BFGS (Nocedal & Wright, Numerical Optimization, 2nd ed., algorithms 7.4 and
 * 7.5) with a line search that satisfies the strong Wolfe conditions (their algorithms 3.5 and
 * 3.6: bracketing, then zoom by safeguarded cubic interpolation).
 *
 * Scratch layout (doubles): S[m n] | Y[m n] | g[n] | d[n] | xn[n] | gn[n] | rho[m] | al[m].
 * S and Y form a ring of the last m steps s = x_{k+1} - x_k and gradient changes y. */
#include <math.h>
#include <string.h>

#include "soma/core.h"

#define DEF_M_ 8
#define DEF_ITER_ 1000
#define DEF_GTOL_ 1e-8
#define DEF_C1_ 1e-4
#define DEF_C2_ 0.9
#define DEF_LS_ 40

size_t soma_lbfgs_work_size(int n, int m) {
    if (m <= 0) m = DEF_M_;
    if (n < 1) return 0;
    return (size_t)(2 * m + 4) * (size_t)n + 2 * (size_t)m;
}

// --- line search ---------------------------------------------------------------------------

typedef struct ls_ {
    int n;
    const double *x, *d;
    double *xn, *gn;
    soma_objective f;
    void *ctx;
    int evals, max_evals;
} ls_;

/* phi(t) = f(x + t d) into *ft, phi'(t) into *dt; xn, gn hold the point and its gradient. */
static void ls_eval_(ls_ *s, double t, double *ft, double *dt) {
    for (int k = 0; k < s->n; k++) s->xn[k] = s->x[k] + t * s->d[k];
    *ft = s->f(s->xn, s->gn, s->ctx);
    s->evals++;
    double dd = 0;
    for (int k = 0; k < s->n; k++) dd += s->gn[k] * s->d[k];
    *dt = dd;
    if (!isfinite(*ft) || !isfinite(dd)) *ft = INFINITY;
}

/* Minimiser of the cubic through (a, fa, da), (b, fb, db), kept inside the middle 80% of
 * [a, b]; the midpoint when the cubic has no minimiser there or a value is infinite. */
static double cubic_(double a, double fa, double da, double b, double fb, double db) {
    const double lo = fmin(a, b), hi = fmax(a, b), w = hi - lo;
    double t = 0.5 * (a + b);
    if (isfinite(fa) && isfinite(fb)) {
        const double d1 = da + db - 3 * (fa - fb) / (a - b);
        const double disc = d1 * d1 - da * db;
        if (disc >= 0) {
            const double d2 = copysign(sqrt(disc), b - a);
            const double den = db - da + 2 * d2;
            if (den != 0) {
                const double c = b - (b - a) * (db + d2 - d1) / den;
                if (isfinite(c)) t = c;
            }
        }
    }
    if (t < lo + 0.1 * w || t > hi - 0.1 * w) t = 0.5 * (a + b);
    return t;
}

/* Strong Wolfe line search along d from t0 (f0, dphi0 < 0). Returns the step (xn, gn, *ft
 * at it) or 0 when no step lowered f. Near a minimum the decrease the Armijo condition asks for
 * falls below the rounding of f; there, as in Hager & Zhang's approximate Wolfe conditions, a
 * point whose f is within epsf of f0 passes when its slope shows the step did not overshoot
 * (phi'(t) <= (1 - 2 c1) |phi'(0)|), and values that tie within epsf are told apart by the
 * slope. Accepts the best sufficient-decrease point when the evaluations run out before the
 * curvature condition holds. */
static double wolfe_(ls_ *s, double f0, double d0, double t0, double c1, double c2, double *ft_out) {
    const double epsf = 1e-11 * fabs(f0);
#define SUFFICIENT_(t, ft, dt) ((ft) <= f0 + c1 * (t) * d0 || ((ft) <= f0 + epsf && (dt) <= (1 - 2 * c1) * -d0))
    double tp = 0, fp = f0, dp = d0, t = t0, ft, dt;
    double lo = 0, flo = f0, dlo = d0, hi = 0, fhi = 0, dhi = 0;
    int zoom = 0;
    while (s->evals < s->max_evals) {
        ls_eval_(s, t, &ft, &dt);
        if (!SUFFICIENT_(t, ft, dt) || (tp > 0 && ft > fp + epsf) || (tp > 0 && ft >= fp && dt >= 0)) {
            lo = tp, flo = fp, dlo = dp, hi = t, fhi = ft, dhi = dt;
            zoom = 1;
            break;
        }
        if (fabs(dt) <= -c2 * d0) {
            *ft_out = ft;
            return t;
        }
        if (dt >= 0) {
            lo = t, flo = ft, dlo = dt, hi = tp, fhi = fp, dhi = dp;
            zoom = 1;
            break;
        }
        tp = t, fp = ft, dp = dt;
        lo = t, flo = ft, dlo = dt;
        t *= 4;
    }
    while (zoom && s->evals < s->max_evals) {
        const double tj = cubic_(lo, flo, dlo, hi, fhi, dhi);
        if (tj == lo || tj == hi) break; /* the bracket has shrunk to rounding */
        ls_eval_(s, tj, &ft, &dt);
        const int higher = ft > flo + epsf || (ft >= flo && dt * (hi - lo) >= 0 && ft >= flo - epsf);
        if (!SUFFICIENT_(tj, ft, dt) || higher) {
            hi = tj, fhi = ft, dhi = dt;
        } else {
            if (fabs(dt) <= -c2 * d0) {
                *ft_out = ft;
                return tj;
            }
            if (dt * (hi - lo) >= 0) hi = lo, fhi = flo, dhi = dlo;
            lo = tj, flo = ft, dlo = dt;
        }
    }
#undef SUFFICIENT_
    if (lo > 0 && flo <= f0 + epsf) { /* the best sufficient-decrease point seen */
        ls_eval_(s, lo, &ft, &dt);
        if (ft <= f0 + epsf) {
            *ft_out = ft;
            return lo;
        }
    }
    return 0;
}

// --- L-BFGS --------------------------------------------------------------------------------

static double inf_norm_(const double *g, int n) {
    double m = 0;
    for (int k = 0; k < n; k++) m = fmax(m, fabs(g[k]));
    return m;
}

soma_status soma_lbfgs(int n, double *x, soma_objective f, void *ctx, const soma_lbfgs_opts *o,
                       soma_lbfgs_result *r) {
    const soma_lbfgs_opts def = {0};
    if (!o) o = &def;
    if (n < 1 || !x || !f) return soma_error(SOMA_ERR_ARG, "lbfgs: n = %d, x %s, f %s", n, x ? "set" : "NULL", f ? "set" : "NULL");
    const int M = o->m > 0 ? o->m : DEF_M_, max_iter = o->max_iter > 0 ? o->max_iter : DEF_ITER_;
    const int max_ls = o->max_ls > 0 ? o->max_ls : DEF_LS_;
    const double g_tol = o->g_tol == 0 ? DEF_GTOL_ : o->g_tol, f_tol = o->f_tol;
    const double c1 = o->c1 > 0 ? o->c1 : DEF_C1_, c2 = o->c2 > 0 ? o->c2 : DEF_C2_;
    if (o->m < 0 || o->max_iter < 0 || o->max_ls < 0 || o->f_tol < 0 || !(c1 < c2) || c2 >= 1 || isnan(g_tol))
        return soma_error(SOMA_ERR_ARG, "lbfgs: bad options (m %d, max_iter %d, max_ls %d, f_tol %g, c1 %g, c2 %g)",
                          o->m, o->max_iter, o->max_ls, o->f_tol, c1, c2);
    double *work = o->work;
    if (!work) {
        work = soma_alloc(soma_lbfgs_work_size(n, M), sizeof *work);
        if (!work) return soma_error(SOMA_ERR_NOMEM, "lbfgs: out of memory (n = %d, m = %d)", n, M);
    }
    double *S = work, *Y = S + (size_t)M * n, *g = Y + (size_t)M * n, *d = g + n, *xn = d + n, *gn = xn + n;
    double *rho = gn + n, *al = rho + M;
    soma_lbfgs_result res = {0};
    soma_status st = SOMA_OK;
    double fx = f(x, g, ctx);
    res.evaluations = 1;
    if (!isfinite(fx)) {
        st = soma_error(SOMA_ERR_ARG, "lbfgs: the objective is not finite at the start (%g)", fx);
        goto out;
    }
    int m = 0, head = 0;
    ls_ ls = {.n = n, .x = x, .d = d, .xn = xn, .gn = gn, .f = f, .ctx = ctx};
    for (;;) {
        res.g_norm = inf_norm_(g, n);
        if (g_tol > 0 && res.g_norm <= g_tol * fmax(1.0, fabs(fx))) {
            res.converged = 1;
            break;
        }
        if (res.iterations >= max_iter) break;
        /* d = -H g by the two-loop recursion, H0 = (s'y / y'y) I */
        for (int k = 0; k < n; k++) d[k] = -g[k];
        for (int q = 0; q < m; q++) {
            const int c = (head - 1 - q + M) % M;
            double a = 0;
            for (int k = 0; k < n; k++) a += S[(size_t)c * n + k] * d[k];
            al[c] = a * rho[c];
            for (int k = 0; k < n; k++) d[k] -= al[c] * Y[(size_t)c * n + k];
        }
        if (m > 0) {
            const int c = (head - 1 + M) % M;
            double yy = 0;
            for (int k = 0; k < n; k++) yy += Y[(size_t)c * n + k] * Y[(size_t)c * n + k];
            const double h0 = 1.0 / (rho[c] * yy);
            for (int k = 0; k < n; k++) d[k] *= h0;
        }
        for (int q = m - 1; q >= 0; q--) {
            const int c = (head - 1 - q + M) % M;
            double b = 0;
            for (int k = 0; k < n; k++) b += Y[(size_t)c * n + k] * d[k];
            b *= rho[c];
            for (int k = 0; k < n; k++) d[k] += S[(size_t)c * n + k] * (al[c] - b);
        }
        double gd = 0;
        for (int k = 0; k < n; k++) gd += g[k] * d[k];
        if (!(gd < 0)) { /* not a descent direction: restart from steepest descent */
            m = 0;
            gd = 0;
            for (int k = 0; k < n; k++) d[k] = -g[k], gd -= g[k] * g[k];
        }
        double gn2 = 0;
        for (int k = 0; k < n; k++) gn2 += g[k] * g[k];
        const double t0 = m == 0 ? fmin(1.0, 1.0 / sqrt(gn2)) : 1.0;
        ls.evals = 0;
        ls.max_evals = max_ls;
        double fnew = fx;
        double t = wolfe_(&ls, fx, gd, t0, c1, c2, &fnew);
        res.evaluations += ls.evals;
        if (t == 0 && m > 0) { /* retry once along steepest descent with a fresh memory */
            m = 0;
            gd = 0;
            for (int k = 0; k < n; k++) d[k] = -g[k], gd -= g[k] * g[k];
            ls.evals = 0;
            t = wolfe_(&ls, fx, gd, fmin(1.0, 1.0 / sqrt(gn2)), c1, c2, &fnew);
            res.evaluations += ls.evals;
        }
        if (t == 0) break; /* no step lowers f: x is as good as this precision allows */
        double sy = 0;
        for (int k = 0; k < n; k++) {
            const double sk = xn[k] - x[k], yk = gn[k] - g[k];
            S[(size_t)head * n + k] = sk;
            Y[(size_t)head * n + k] = yk;
            sy += sk * yk;
        }
        if (sy > 0) {
            rho[head] = 1.0 / sy;
            head = (head + 1) % M;
            if (m < M) m++;
        }
        const double drop = fx - fnew;
        memcpy(x, xn, (size_t)n * sizeof *x);
        memcpy(g, gn, (size_t)n * sizeof *g);
        fx = fnew;
        res.iterations++;
        if (f_tol > 0 && drop <= f_tol * fmax(1.0, fabs(fx))) {
            res.g_norm = inf_norm_(g, n);
            res.converged = 1;
            break;
        }
    }
    if (!res.converged) res.g_norm = inf_norm_(g, n);
    res.f = fx;
out:
    if (r) *r = res;
    if (!o->work) soma_free(work);
    return st;
}
