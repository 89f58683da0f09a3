/* Scaling-law fits (soma/scaling.h): Hoffmann et al. 2022's approach 3 with bootstrap
 * intervals.
 *
 * Parameters: x = (e, a, alpha) for law n, (e, b, beta) for law d, (e, a, alpha, b, beta) for
 * nd; E = exp(e), A = exp(a), B = exp(b). The model in logs is the log-sum-exp of the terms
 * t_0 = e, t_A = a - alpha log N, t_B = b - beta log D, and the objective is
 *
 *     sum_i H(LSE(t(i)) - log L_i),   H(r) = r^2 / 2 if |r| <= delta, else delta (|r| - delta/2)
 *
 * (scipy.special.huber). Its gradient: with w_j = softmax(t)_j and h = H'(r) (r clipped to
 * +-delta), de = h w_0, da = h w_A, dalpha = -h w_A log N, db = h w_B, dbeta = -h w_B log D.
 *
 * Starts: the Cartesian product of the grid axes in the order (e, a, alpha[, b, beta]) with the
 * last axis varying fastest; each start runs soma_lbfgs to its gradient tolerance; the best
 * objective wins, ties to the earlier start (so any thread count gives the same fit).
 *
 * Bootstrap: resample k (stream k + 1 of opts.seed) draws n points with replacement and is
 * refitted from the grid (or from the refit_top best grid points on that resample plus the
 * full-data optimum); the interval of each parameter is the (1 - level)/2 and (1 + level)/2
 * quantiles of its B refits (linear interpolation between order statistics, numpy's default).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "soma/io.h"
#include "soma/scaling.h"

#ifdef _OPENMP
#include <omp.h>
#endif

enum { MAXP_ = 5, LBFGS_M_ = 8, NSTAT_ = 7 };

static const soma_scaling_range DEF_E_ = {-1, 1, 5}, DEF_A_ = {0, 25, 6}, DEF_ALPHA_ = {0, 2, 5};

const char *soma_scaling_law_name(soma_scaling_law law) {
    switch (law) {
    case SOMA_SCALING_N: return "n";
    case SOMA_SCALING_D: return "d";
    case SOMA_SCALING_ND: return "nd";
    default: return NULL;
    }
}

soma_status soma_scaling_law_parse(const char *name, soma_scaling_law *law) {
    if (!name || !law) return soma_error(SOMA_ERR_ARG, "scaling: NULL law name");
    for (int k = 0; k < SOMA_SCALING_LAW_COUNT; k++)
        if (strcmp(name, soma_scaling_law_name((soma_scaling_law)k)) == 0) {
            *law = (soma_scaling_law)k;
            return SOMA_OK;
        }
    return soma_error(SOMA_ERR_ARG, "scaling: unknown law '%s' (n, d or nd)", name);
}

static int n_par_(soma_scaling_law law) { return law == SOMA_SCALING_ND ? 5 : 3; }
static int uses_n_(soma_scaling_law law) { return law != SOMA_SCALING_D; }
static int uses_d_(soma_scaling_law law) { return law != SOMA_SCALING_N; }

// --- objective -----------------------------------------------------------------------------

/* The data in logs: lnN, lnD (the one the law lacks unused), lnL. */
typedef struct data_ {
    int n;
    soma_scaling_law law;
    double delta;
    const double *lnN, *lnD, *lnL;
} data_;

/* For law d, x = (e, b, beta) plays the role of (e, a, alpha) over lnD. */
static double objective_(const double *x, double *g, void *vc) {
    const data_ *c = vc;
    const double delta = c->delta;
    const int nd = c->law == SOMA_SCALING_ND;
    const double *u = c->law == SOMA_SCALING_D ? c->lnD : c->lnN;
    double f = 0, g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0;
    for (int i = 0; i < c->n; i++) {
        const double t0 = x[0], t1 = x[1] - x[2] * u[i], t2 = nd ? x[3] - x[4] * c->lnD[i] : -INFINITY;
        const double m = fmax(t0, fmax(t1, t2));
        const double e0 = exp(t0 - m), e1 = exp(t1 - m), e2 = nd ? exp(t2 - m) : 0;
        const double s = e0 + e1 + e2, r = m + log(s) - c->lnL[i], ar = fabs(r);
        double h;
        if (ar <= delta) {
            f += 0.5 * r * r;
            h = r;
        } else {
            f += delta * (ar - 0.5 * delta);
            h = r > 0 ? delta : -delta;
        }
        if (!g) continue;
        const double hs = h / s;
        g0 += hs * e0;
        g1 += hs * e1;
        g2 -= hs * e1 * u[i];
        if (nd) {
            g3 += hs * e2;
            g4 -= hs * e2 * c->lnD[i];
        }
    }
    if (g) {
        g[0] = g0, g[1] = g1, g[2] = g2;
        if (nd) g[3] = g3, g[4] = g4;
    }
    return f;
}

double soma_scaling_objective(const soma_scaling_point *pts, int n, soma_scaling_law law,
                              double huber_delta, const double *x, double *grad) {
    if (!pts || n < 1 || !x || (unsigned)law >= SOMA_SCALING_LAW_COUNT) return NAN;
    double *buf = soma_alloc((size_t)3 * n, sizeof *buf);
    if (!buf) return NAN;
    for (int i = 0; i < n; i++) {
        buf[i] = uses_n_(law) ? log(pts[i].n_params) : 0;
        buf[n + i] = uses_d_(law) ? log(pts[i].n_data) : 0;
        buf[2 * n + i] = log(pts[i].loss);
    }
    data_ c = {.n = n, .law = law, .delta = huber_delta > 0 ? huber_delta : 1e-3, .lnN = buf,
               .lnD = buf + n, .lnL = buf + 2 * n};
    double gtmp[MAXP_];
    const double f = objective_(x, grad ? gtmp : NULL, &c);
    if (grad)
        for (int k = 0; k < n_par_(law); k++) grad[k] = gtmp[k];
    soma_free(buf);
    return f;
}

// --- options and the grid ------------------------------------------------------------------

typedef struct cfg_ {
    soma_scaling_law law;
    int P;                 /* parameters */
    int n_starts;
    double *starts;        /* [n_starts, P] */
    soma_lbfgs_opts lbfgs; /* .work set per thread */
    double delta, level;
    int boot, top;
} cfg_;

static double axis_(soma_scaling_range r, int k) {
    return r.n == 1 ? r.lo : r.lo + (r.hi - r.lo) * k / (r.n - 1);
}

static soma_status check_range_(const char *name, soma_scaling_range *r, soma_scaling_range def) {
    if (r->n == 0) {
        *r = def;
        return SOMA_OK;
    }
    if (r->n < 1 || r->n > 100 || !isfinite(r->lo) || !isfinite(r->hi) || r->hi < r->lo)
        return soma_error(SOMA_ERR_ARG, "scaling: grid_%s: %d values from %g to %g (want 1..100 values, lo <= hi)",
                          name, r->n, r->lo, r->hi);
    return SOMA_OK;
}

static soma_status cfg_init_(cfg_ *c, soma_scaling_law law, const soma_scaling_opts *o) {
    const soma_scaling_opts def = {0};
    if (!o) o = &def;
    soma_scaling_range re = o->grid_e, ra = o->grid_a, rl = o->grid_alpha;
    SOMA_TRY(check_range_("e", &re, DEF_E_));
    SOMA_TRY(check_range_("a", &ra, DEF_A_));
    SOMA_TRY(check_range_("alpha", &rl, DEF_ALPHA_));
    if (o->huber_delta < 0 || !isfinite(o->huber_delta))
        return soma_error(SOMA_ERR_ARG, "scaling: huber_delta %g (want > 0, or 0 for 1e-3)", o->huber_delta);
    if (o->level < 0 || o->level >= 1 || isnan(o->level))
        return soma_error(SOMA_ERR_ARG, "scaling: level %g (want 0 < level < 1, or 0 for 0.95)", o->level);
    if (o->bootstrap < 0 || o->bootstrap > 1000000)
        return soma_error(SOMA_ERR_ARG, "scaling: bootstrap %d (want 0..1000000)", o->bootstrap);
    if (o->refit_top < 0 || o->max_iter < 0 || o->g_tol < 0 || isnan(o->g_tol))
        return soma_error(SOMA_ERR_ARG, "scaling: refit_top %d, max_iter %d, g_tol %g (want >= 0)", o->refit_top,
                          o->max_iter, o->g_tol);
    const int P = n_par_(law);
    long ns = (long)re.n * ra.n * rl.n;
    if (P == 5) ns *= (long)ra.n * rl.n;
    if (ns > 1000000) return soma_error(SOMA_ERR_ARG, "scaling: the grid has %ld starts (at most 1000000)", ns);
    *c = (cfg_){.law = law, .P = P, .n_starts = (int)ns, .delta = o->huber_delta > 0 ? o->huber_delta : 1e-3,
                .level = o->level > 0 ? o->level : 0.95, .boot = o->bootstrap, .top = o->refit_top};
    c->lbfgs = (soma_lbfgs_opts){.m = LBFGS_M_, .max_iter = o->max_iter > 0 ? o->max_iter : 2000,
                                 .g_tol = o->g_tol > 0 ? o->g_tol : 1e-10};
    c->starts = soma_alloc((size_t)ns * P, sizeof *c->starts);
    if (!c->starts) return soma_error(SOMA_ERR_NOMEM, "scaling: out of memory for %ld starts", ns);
    long k = 0;
    for (int ie = 0; ie < re.n; ie++)
        for (int ia = 0; ia < ra.n; ia++)
            for (int il = 0; il < rl.n; il++) {
                const int nb = P == 5 ? ra.n : 1, nl = P == 5 ? rl.n : 1;
                for (int ib = 0; ib < nb; ib++)
                    for (int jl = 0; jl < nl; jl++, k++) {
                        double *x = c->starts + (size_t)k * P;
                        x[0] = axis_(re, ie), x[1] = axis_(ra, ia), x[2] = axis_(rl, il);
                        if (P == 5) x[3] = axis_(ra, ib), x[4] = axis_(rl, jl);
                    }
            }
    return SOMA_OK;
}

// --- fitting from many starts --------------------------------------------------------------

typedef struct best_ {
    double x[MAXP_], f;
    int converged;
} best_;

/* One start: x0 -> (x, f, converged). A start whose objective is not finite gives f = inf. */
static void run_start_(const cfg_ *c, const data_ *d, const double *x0, best_ *out) {
    double work[(2 * LBFGS_M_ + 4) * MAXP_ + 2 * LBFGS_M_];
    soma_lbfgs_opts lo = c->lbfgs;
    lo.work = work;
    memcpy(out->x, x0, (size_t)c->P * sizeof *x0);
    soma_lbfgs_result r;
    if (soma_lbfgs(c->P, out->x, objective_, (void *)d, &lo, &r) != SOMA_OK || !isfinite(r.f)) {
        out->f = INFINITY;
        out->converged = 0;
        return;
    }
    out->f = r.f;
    out->converged = r.converged;
}

/* Keeps the lower objective, ties (and NaN) to the earlier start. */
static void keep_(best_ *b, const best_ *cand) {
    if (cand->f < b->f) *b = *cand;
}

/* Fits from the whole grid; the starts spread over threads when par (results per start, then
 * a serial scan: the same for any thread count). res: [n_starts] scratch. */
static void fit_grid_(const cfg_ *c, const data_ *d, int par, best_ *res, best_ *out) {
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 4) if (par)
#endif
    for (int k = 0; k < c->n_starts; k++) run_start_(c, d, c->starts + (size_t)k * c->P, &res[k]);
    (void)par;
    *out = (best_){.f = INFINITY};
    for (int k = 0; k < c->n_starts; k++) keep_(out, &res[k]);
}

/* A bootstrap refit from the top `top` grid points on this resample (by objective at the
 * start; ties to the earlier) plus `extra` (the full-data optimum). fs, idx: [n_starts]. */
static int cmp_fi_(const void *a, const void *b) {
    const double *x = a, *y = b; /* pairs (f, index) */
    if (x[0] < y[0]) return -1;
    if (x[0] > y[0]) return 1;
    return (x[1] > y[1]) - (x[1] < y[1]);
}

static void fit_top_(const cfg_ *c, const data_ *d, const double *extra, double *pairs, best_ *out) {
    for (int k = 0; k < c->n_starts; k++) {
        const double f = objective_(c->starts + (size_t)k * c->P, NULL, (void *)d);
        pairs[2 * k] = isnan(f) ? INFINITY : f;
        pairs[2 * k + 1] = k;
    }
    qsort(pairs, (size_t)c->n_starts, 2 * sizeof *pairs, cmp_fi_);
    best_ b = {.f = INFINITY}, cand;
    run_start_(c, d, extra, &cand);
    keep_(&b, &cand);
    for (int q = 0; q < c->top && q < c->n_starts; q++) {
        run_start_(c, d, c->starts + (size_t)pairs[2 * q + 1] * c->P, &cand);
        keep_(&b, &cand);
    }
    *out = b;
}

// --- the fit -------------------------------------------------------------------------------

static int cmp_d_(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int distinct_(const double *v, int n, double *tmp) {
    memcpy(tmp, v, (size_t)n * sizeof *v);
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_d_);
    int cnt = 0;
    for (int i = 0; i < n; i++)
        if (i == 0 || tmp[i] != tmp[i - 1]) cnt++;
    return cnt;
}

/* Stats of one parameter vector: E, A, alpha, B, beta, opt_a, opt_b (NaN where absent). */
static void stats_(soma_scaling_law law, const double *x, double *s) {
    for (int k = 0; k < NSTAT_; k++) s[k] = NAN;
    s[0] = exp(x[0]);
    if (law == SOMA_SCALING_D) {
        s[3] = exp(x[1]), s[4] = x[2];
        return;
    }
    s[1] = exp(x[1]), s[2] = x[2];
    if (law == SOMA_SCALING_ND) {
        s[3] = exp(x[3]), s[4] = x[4];
        const double al = x[2], be = x[4];
        s[5] = be / (al + be), s[6] = al / (al + be);
    }
}

/* Quantile q of sorted v[n] (linear interpolation between order statistics). */
static double quantile_(const double *v, int n, double q) {
    const double h = (n - 1) * q;
    const int lo = (int)floor(h);
    if (lo >= n - 1) return v[n - 1];
    return v[lo] + (h - lo) * (v[lo + 1] - v[lo]);
}

static soma_status check_points_(const soma_scaling_point *pts, int n, soma_scaling_law law) {
    const int P = n_par_(law);
    if (n <= P)
        return soma_error(SOMA_ERR_ARG, "scaling: law %s has %d parameters and needs at least %d points, got %d",
                          soma_scaling_law_name(law), P, P + 1, n);
    for (int i = 0; i < n; i++) {
        const soma_scaling_point *p = &pts[i];
        if (uses_n_(law) && !(isfinite(p->n_params) && p->n_params > 0))
            return soma_error(SOMA_ERR_ARG, "scaling: point %d: n_params %g (want finite and > 0)", i, p->n_params);
        if (uses_d_(law) && !(isfinite(p->n_data) && p->n_data > 0))
            return soma_error(SOMA_ERR_ARG, "scaling: point %d: n_data %g (want finite and > 0)", i, p->n_data);
        if (!(isfinite(p->loss) && p->loss > 0))
            return soma_error(SOMA_ERR_ARG, "scaling: point %d: loss %g (want finite and > 0)", i, p->loss);
    }
    return SOMA_OK;
}

soma_status soma_scaling_fit_points(const soma_scaling_point *pts, int n, soma_scaling_law law,
                                    const soma_scaling_opts *opts, soma_scaling_fit *out) {
    if (!pts || !out) return soma_error(SOMA_ERR_ARG, "scaling: NULL points or output");
    if ((unsigned)law >= SOMA_SCALING_LAW_COUNT) return soma_error(SOMA_ERR_ARG, "scaling: unknown law %d", (int)law);
    if (n < 0 || n > 100000000) return soma_error(SOMA_ERR_ARG, "scaling: %d points", n);
    SOMA_TRY(check_points_(pts, n, law));
    cfg_ c;
    SOMA_TRY(cfg_init_(&c, law, opts));
    soma_status st = SOMA_OK;
    double *buf = soma_alloc((size_t)4 * n, sizeof *buf);
    best_ *res = soma_alloc((size_t)c.n_starts, sizeof *res);
    double *boot = c.boot ? soma_alloc((size_t)c.boot * NSTAT_, sizeof *boot) : NULL;
    int *bconv = c.boot ? soma_alloc((size_t)c.boot, sizeof *bconv) : NULL;
    if (!buf || !res || (c.boot && (!boot || !bconv))) {
        st = soma_error(SOMA_ERR_NOMEM, "scaling: out of memory (%d points, %d starts, %d resamples)", n,
                        c.n_starts, c.boot);
        goto out;
    }
    double *lnN = buf, *lnD = buf + n, *lnL = buf + 2 * n, *tmp = buf + 3 * n;
    for (int i = 0; i < n; i++) {
        lnN[i] = uses_n_(law) ? log(pts[i].n_params) : 0;
        lnD[i] = uses_d_(law) ? log(pts[i].n_data) : 0;
        lnL[i] = log(pts[i].loss);
    }
    if (uses_n_(law) && distinct_(lnN, n, tmp) < 3) {
        st = soma_error(SOMA_ERR_ARG, "scaling: law %s needs at least 3 distinct n_params values", soma_scaling_law_name(law));
        goto out;
    }
    if (uses_d_(law) && distinct_(lnD, n, tmp) < 3) {
        st = soma_error(SOMA_ERR_ARG, "scaling: law %s needs at least 3 distinct n_data values", soma_scaling_law_name(law));
        goto out;
    }
    const data_ d = {.n = n, .law = law, .delta = c.delta, .lnN = lnN, .lnD = lnD, .lnL = lnL};
    best_ best;
    fit_grid_(&c, &d, 1, res, &best);
    if (!isfinite(best.f)) {
        st = soma_error(SOMA_ERR_ARG, "scaling: no start of the grid gave a finite fit");
        goto out;
    }
    double s[NSTAT_];
    stats_(law, best.x, s);
    soma_scaling_fit f = {.law = law, .n_points = n, .E = s[0], .A = s[1], .alpha = s[2], .B = s[3],
                          .beta = s[4], .objective = best.f, .converged = best.converged,
                          .n_starts = c.n_starts, .opt_a = s[5], .opt_b = s[6], .opt_G = NAN};
    if (law == SOMA_SCALING_ND)
        f.opt_G = pow(f.alpha * f.A / (f.beta * f.B), 1.0 / (f.alpha + f.beta));
    double *cis[NSTAT_] = {f.E_ci, f.A_ci, f.alpha_ci, f.B_ci, f.beta_ci, f.opt_a_ci, f.opt_b_ci};
    for (int k = 0; k < NSTAT_; k++) cis[k][0] = cis[k][1] = NAN;

    if (c.boot) {
        int oom = 0;
#ifdef _OPENMP
#pragma omp parallel
#endif
        {
            /* per thread: a resample in logs [3 n], and the grid scratch */
            double *rb = soma_alloc((size_t)3 * n, sizeof *rb);
            best_ *rres = c.top ? NULL : soma_alloc((size_t)c.n_starts, sizeof *rres);
            double *pairs = c.top ? soma_alloc((size_t)2 * c.n_starts, sizeof *pairs) : NULL;
            const int ok = rb && (c.top ? pairs != NULL : rres != NULL);
            if (!ok) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
                oom = 1;
            }
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
            for (int k = 0; k < c.boot; k++) {
                if (!ok) continue;
                soma_rng r;
                soma_rng_seed(&r, opts ? opts->seed : 0, (uint64_t)k + 1);
                for (int i = 0; i < n; i++) {
                    const int j = (int)soma_rng_below(&r, (uint64_t)n);
                    rb[i] = lnN[j], rb[n + i] = lnD[j], rb[2 * n + i] = lnL[j];
                }
                const data_ dk = {.n = n, .law = law, .delta = c.delta, .lnN = rb, .lnD = rb + n, .lnL = rb + 2 * n};
                best_ bk;
                if (c.top)
                    fit_top_(&c, &dk, best.x, pairs, &bk);
                else
                    fit_grid_(&c, &dk, 0, rres, &bk);
                stats_(law, bk.x, boot + (size_t)k * NSTAT_);
                bconv[k] = bk.converged && isfinite(bk.f);
            }
            soma_free(rb);
            soma_free(rres);
            soma_free(pairs);
        }
        if (oom) {
            st = soma_error(SOMA_ERR_NOMEM, "scaling: out of memory for the bootstrap");
            goto out;
        }
        f.n_boot = c.boot;
        for (int k = 0; k < c.boot; k++) f.boot_unconverged += !bconv[k];
        const double qlo = 0.5 * (1 - c.level), qhi = 0.5 * (1 + c.level);
        double *col = soma_alloc((size_t)c.boot, sizeof *col);
        if (!col) {
            st = soma_error(SOMA_ERR_NOMEM, "scaling: out of memory");
            goto out;
        }
        for (int j = 0; j < NSTAT_; j++) {
            if (isnan(s[j])) continue;
            int m = 0; /* a refit whose parameter is NaN (none so far) is left out */
            for (int k = 0; k < c.boot; k++) {
                const double v = boot[(size_t)k * NSTAT_ + j];
                if (!isnan(v)) col[m++] = v;
            }
            if (m == 0) continue;
            qsort(col, (size_t)m, sizeof *col, cmp_d_);
            cis[j][0] = quantile_(col, m, qlo);
            cis[j][1] = quantile_(col, m, qhi);
        }
        soma_free(col);
    }
    *out = f;
out:
    soma_free(buf);
    soma_free(res);
    soma_free(boot);
    soma_free(bconv);
    soma_free(c.starts);
    return st;
}

double soma_scaling_predict(const soma_scaling_fit *fit, double n_params, double n_data) {
    if (!fit) return NAN;
    switch (fit->law) {
    case SOMA_SCALING_N: return fit->E + fit->A * pow(n_params, -fit->alpha);
    case SOMA_SCALING_D: return fit->E + fit->B * pow(n_data, -fit->beta);
    case SOMA_SCALING_ND:
        return fit->E + fit->A * pow(n_params, -fit->alpha) + fit->B * pow(n_data, -fit->beta);
    default: return NAN;
    }
}

soma_status soma_scaling_optimal(const soma_scaling_fit *fit, double C, double *n_params, double *n_data) {
    if (!fit || !n_params || !n_data) return soma_error(SOMA_ERR_ARG, "scaling: NULL argument");
    if (fit->law != SOMA_SCALING_ND)
        return soma_error(SOMA_ERR_ARG, "scaling: compute-optimal allocation needs the nd law, not %s",
                          soma_scaling_law_name(fit->law) ? soma_scaling_law_name(fit->law) : "?");
    if (!(C > 0) || !isfinite(C)) return soma_error(SOMA_ERR_ARG, "scaling: compute %g (want > 0)", C);
    if (!(fit->alpha > 0 && fit->beta > 0))
        return soma_error(SOMA_ERR_ARG, "scaling: alpha %g, beta %g: no compute-optimal allocation unless both > 0",
                          fit->alpha, fit->beta);
    const double c6 = C / 6;
    *n_params = fit->opt_G * pow(c6, fit->opt_a);
    *n_data = pow(c6, fit->opt_b) / fit->opt_G;
    return SOMA_OK;
}

// --- JSON lines ----------------------------------------------------------------------------

/* One key of a line: required -> present, a number, finite and > 0; else read when a number. */
static soma_status key_(const cJSON *obj, const char *key, int required, const char *label, long line,
                        double *v) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    *v = NAN;
    if (!it) {
        if (required) return soma_error(SOMA_ERR_PARSE, "%s:%ld: missing key \"%s\"", label, line, key);
        return SOMA_OK;
    }
    if (!cJSON_IsNumber(it)) {
        if (required) return soma_error(SOMA_ERR_PARSE, "%s:%ld: \"%s\" is not a number", label, line, key);
        return SOMA_OK;
    }
    *v = it->valuedouble;
    if (required && !(isfinite(*v) && *v > 0))
        return soma_error(SOMA_ERR_PARSE, "%s:%ld: \"%s\" is %g (want a finite number > 0)", label, line, key, *v);
    return SOMA_OK;
}

soma_status soma_scaling_parse_jsonl(const char *buf, size_t n_bytes, const char *label,
                                     soma_scaling_law law, soma_scaling_point **pts, int *n) {
    if (!pts || !n || (!buf && n_bytes)) return soma_error(SOMA_ERR_ARG, "scaling: NULL argument");
    if ((unsigned)law >= SOMA_SCALING_LAW_COUNT) return soma_error(SOMA_ERR_ARG, "scaling: unknown law %d", (int)law);
    if (!label) label = "jsonl";
    *pts = NULL;
    *n = 0;
    int cap = 0, cnt = 0;
    soma_scaling_point *p = NULL;
    long line = 0;
    size_t pos = 0;
    while (pos < n_bytes) {
        size_t end = pos;
        while (end < n_bytes && buf[end] != '\n') end++;
        line++;
        size_t a = pos, b = end;
        while (a < b && (buf[a] == ' ' || buf[a] == '\t' || buf[a] == '\r')) a++;
        while (b > a && (buf[b - 1] == ' ' || buf[b - 1] == '\t' || buf[b - 1] == '\r')) b--;
        pos = end + 1;
        if (a == b) continue;
        char where[300];
        snprintf(where, sizeof where, "%s:%ld", label, line);
        cJSON *j = NULL;
        soma_status st = soma_json_parse(buf + a, b - a, where, &j);
        if (st != SOMA_OK) {
            soma_free(p);
            return st;
        }
        if (!cJSON_IsObject(j)) {
            cJSON_Delete(j);
            soma_free(p);
            return soma_error(SOMA_ERR_PARSE, "%s: not a JSON object", where);
        }
        soma_scaling_point q;
        st = key_(j, "n_params", uses_n_(law), label, line, &q.n_params);
        if (st == SOMA_OK) st = key_(j, "n_data", uses_d_(law), label, line, &q.n_data);
        if (st == SOMA_OK) st = key_(j, "loss", 1, label, line, &q.loss);
        cJSON_Delete(j);
        if (st != SOMA_OK) {
            soma_free(p);
            return st;
        }
        if (cnt == cap) {
            if (cap >= 1 << 26) {
                soma_free(p);
                return soma_error(SOMA_ERR_PARSE, "%s: more than %d lines", label, 1 << 26);
            }
            const int nc = cap ? 2 * cap : 64;
            soma_scaling_point *np = soma_alloc((size_t)nc, sizeof *np);
            if (!np) {
                soma_free(p);
                return soma_error(SOMA_ERR_NOMEM, "%s: out of memory at line %ld", label, line);
            }
            if (cnt) memcpy(np, p, (size_t)cnt * sizeof *p);
            soma_free(p);
            p = np;
            cap = nc;
        }
        p[cnt++] = q;
    }
    if (cnt == 0) return soma_error(SOMA_ERR_PARSE, "%s: no points (the file has no JSON lines)", label);
    *pts = p;
    *n = cnt;
    return SOMA_OK;
}

soma_status soma_scaling_read_jsonl(const char *path, soma_scaling_law law, soma_scaling_point **pts,
                                    int *n) {
    if (!path) return soma_error(SOMA_ERR_ARG, "scaling: NULL path");
    void *buf = NULL;
    size_t len = 0;
    SOMA_TRY(soma_file_read(path, (size_t)1 << 30, &buf, &len));
    const soma_status st = soma_scaling_parse_jsonl(buf, len, path, law, pts, n);
    soma_free(buf);
    return st;
}
