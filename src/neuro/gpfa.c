// Gaussian-process factor analysis (Yu, Cunningham, Santhanam, Ryu, Shenoy & Sahani 2009):
// y_t = C x_t + d + e, e ~ N(0, diag R); latent l is a GP over bins with the squared-
// exponential kernel of timescale tau_l plus a fixed small noise variance. EM: the E-step
// solves the posterior of a whole trial's latents (bins * L values, time-major: index
// t * L + l) by one Cholesky factorisation of P = Kbar^-1 + I (x) C'R^-1C, shared by every
// trial of that length; the M-step sets [C d] and R in closed form and each tau by gradient
// ascent on the expected log prior, accepting only steps that raise it (a generalised EM:
// the log-likelihood never falls).
#include <math.h>
#include <string.h>

#include "analysis/internal.h"
#include "latent_internal.h"

#include <lapacke.h> /* after the soma headers: its complex.h defines I */

/* Kinv [T, T] = K^-1 for timescale tau (bins), noise s; *logdet = log |K|. */
static soma_status kernel_inv(double tau, double s, int T, double *Kinv, double *logdet) {
    for (int a = 0; a < T; a++)
        for (int b = 0; b < T; b++) {
            const double d = a - b;
            Kinv[a * T + b] = (1 - s) * exp(-0.5 * d * d / (tau * tau)) + (a == b ? s : 0.0);
        }
    int saved[2];
    soma__lapack_serial_begin(saved);
    lapack_int info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', T, Kinv, T);
    double ld = 0;
    if (info == 0) {
        for (int a = 0; a < T; a++) ld += 2 * log(Kinv[a * T + a]);
        info = LAPACKE_dpotri(LAPACK_ROW_MAJOR, 'U', T, Kinv, T);
    }
    soma__lapack_serial_end(saved);
    if (info != 0) return soma_error(SOMA_ERR_ARG, "gpfa: the GP kernel (tau %g bins) is singular (info %d)", tau, (int)info);
    for (int a = 0; a < T; a++)
        for (int b = 0; b < a; b++) Kinv[a * T + b] = Kinv[b * T + a];
    *logdet = ld;
    return SOMA_OK;
}

/* E-step on rows Y [K * T, p]: Mu [K, T * L] posterior means; Pinv [LT, LT] the shared
 * posterior covariance (scratch Kinv [T, T], U [K * T, L] b vectors, Ys [K * T, p]); ll the
 * log-likelihood of Y. */
static soma_status estep(const soma_latent *m, const double *Y, int K, int T, double *Mu, double *Pinv, double *Kinv,
                         double *U, double *Ys, double *ll) {
    const int p = m->p, L = m->L, LT = L * T;
    const long n = (long)K * T;
    memset(Pinv, 0, sizeof(double) * LT * LT);
    double logdetK = 0;
    for (int l = 0; l < L; l++) {
        double ld;
        SOMA_TRY(kernel_inv(m->tau[l], m->o.gp_noise, T, Kinv, &ld));
        logdetK += ld;
        for (int a = 0; a < T; a++)
            for (int b = 0; b < T; b++) Pinv[(size_t)(a * L + l) * LT + b * L + l] = Kinv[a * T + b];
    }
    for (int l1 = 0; l1 < L; l1++)
        for (int l2 = 0; l2 < L; l2++) {
            double c = 0;
            for (int j = 0; j < p; j++) c += m->C[j * L + l1] * m->C[j * L + l2] / m->R[j];
            for (int t = 0; t < T; t++) Pinv[(size_t)(t * L + l1) * LT + t * L + l2] += c;
        }
    int saved[2];
    soma__lapack_serial_begin(saved);
    lapack_int info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', LT, Pinv, LT);
    double logdetP = 0;
    if (info == 0) {
        for (int a = 0; a < LT; a++) logdetP += 2 * log(Pinv[(size_t)a * LT + a]);
        info = LAPACKE_dpotri(LAPACK_ROW_MAJOR, 'U', LT, Pinv, LT);
    }
    soma__lapack_serial_end(saved);
    if (info != 0) return soma_error(SOMA_ERR_ARG, "gpfa: the posterior precision is singular (info %d)", (int)info);
    for (int a = 0; a < LT; a++)
        for (int b = 0; b < a; b++) Pinv[(size_t)a * LT + b] = Pinv[(size_t)b * LT + a];
    double q1 = 0, logR = 0;
    for (int j = 0; j < p; j++) logR += log(m->R[j]);
    for (long i = 0; i < n; i++)
        for (int j = 0; j < p; j++) {
            const double r = Y[i * p + j] - m->mu[j];
            q1 += r * r / m->R[j];
            Ys[i * p + j] = r / m->R[j];
        }
    soma__dgemm_det(0, 0, (int)n, L, p, 1.0, Ys, p, m->C, L, 0.0, U, L); /* U = (Y - d) R^-1 C */
    soma__dgemm_det(0, 0, K, LT, LT, 1.0, U, LT, Pinv, LT, 0.0, Mu, LT);
    double q2 = 0;
    for (size_t i = 0; i < (size_t)n * L; i++) q2 += U[i] * Mu[i];
    *ll = -0.5 * (K * (p * (double)T * 1.8378770664093453 /* log 2 pi */ + logdetK + logdetP + T * logR) + q1 - q2);
    return SOMA_OK;
}

/* The expected log prior of latent l, -1/2 (K log|K_tau| + tr(K_tau^-1 S)), and its
 * derivative in log tau. Scratch Kinv, A [T, T]. */
static soma_status prior_f(double tau, double s, int T, int K, const double *S, double *Kinv, double *A, double *f,
                           double *g) {
    double ld;
    SOMA_TRY(kernel_inv(tau, s, T, Kinv, &ld));
    double tr = 0;
    for (int a = 0; a < T; a++)
        for (int b = 0; b < T; b++) tr += Kinv[a * T + b] * S[b * T + a];
    *f = -0.5 * (K * ld + tr);
    if (!g) return SOMA_OK;
    /* A = Kinv S Kinv - K Kinv; g = 1/2 tr(A dK) */
    double *B = A + (size_t)T * T;
    soma__dgemm_det(0, 0, T, T, T, 1.0, Kinv, T, S, T, 0.0, B, T);
    soma__dgemm_det(0, 0, T, T, T, 1.0, B, T, Kinv, T, 0.0, A, T);
    double gg = 0;
    for (int a = 0; a < T; a++)
        for (int b = 0; b < T; b++) {
            const double d = a - b, r = d * d / (tau * tau);
            gg += (A[a * T + b] - K * Kinv[a * T + b]) * (1 - s) * exp(-0.5 * r) * r;
        }
    *g = 0.5 * gg;
    return SOMA_OK;
}

/* The rows [trials * bins, units] in double, square-rooted if root. */
static double *rows_of(const soma_counts *d, int root) {
    const size_t n = (size_t)d->n_trials * d->n_bins * d->n_units;
    double *Y = soma_alloc(n, sizeof(double));
    if (Y)
        for (size_t i = 0; i < n; i++) Y[i] = root ? sqrt(d->x[i] > 0 ? d->x[i] : 0) : d->x[i];
    return Y;
}

soma_status soma__gpfa_infer(const soma_latent *m, const soma_counts *data, double *z) {
    const int K = data->n_trials, T = data->n_bins, p = m->p, L = m->L, LT = L * T;
    if ((long)LT > 3000) return soma_error(SOMA_ERR_ARG, "gpfa: %d latents x %d bins > 3000", L, T);
    const long n = (long)K * T;
    double *Y = rows_of(data, m->o.root), *Pinv = soma_alloc((size_t)LT * LT, sizeof(double));
    double *Kinv = soma_alloc((size_t)T * T, sizeof(double)), *U = soma_alloc((size_t)n * L, sizeof(double));
    double *Ys = soma_alloc((size_t)n * p, sizeof(double));
    double ll;
    soma_status st = Y && Pinv && Kinv && U && Ys ? estep(m, Y, K, T, z, Pinv, Kinv, U, Ys, &ll) : SOMA_ERR_NOMEM;
    soma_free(Y);
    soma_free(Pinv);
    soma_free(Kinv);
    soma_free(U);
    soma_free(Ys);
    return st;
}

soma_status soma__gpfa_fit(soma_latent *m, const soma_counts *data) {
    const int K = data->n_trials, T = data->n_bins, p = m->p, L = m->L, LT = L * T;
    const long n = (long)K * T;
    const int max_iter = m->o.max_iter;
    double *Y = rows_of(data, m->o.root);
    if (!Y) return SOMA_ERR_NOMEM;
    soma_status st = soma__fa_em(m, Y, n, 100, 1e-6); /* the start: FA of the counts */
    soma_free(m->ll);
    m->ll = soma_alloc((size_t)max_iter + 1, sizeof(double));
    m->n_ll = 0;
    m->tau = soma_alloc((size_t)L, sizeof(double));
    m->tau_ms = soma_alloc((size_t)L, sizeof(double));
    double *Mu = soma_alloc((size_t)n * L, sizeof(double)), *Pinv = soma_alloc((size_t)LT * LT, sizeof(double));
    double *Kinv = soma_alloc((size_t)T * T, sizeof(double)), *U = soma_alloc((size_t)n * L, sizeof(double));
    double *Ys = soma_alloc((size_t)n * p, sizeof(double)), *S = soma_alloc((size_t)T * T, sizeof(double));
    double *A = soma_alloc((size_t)2 * T * T, sizeof(double));
    const int Q = L + 1;
    double *G = soma_alloc((size_t)Q * Q, sizeof(double)), *X = soma_alloc((size_t)Q * p, sizeof(double));
    double *Syx = soma_alloc((size_t)p * L, sizeof(double)), *var = soma_alloc((size_t)p * 3, sizeof(double));
    if (st == SOMA_OK && (!m->ll || !m->tau || !m->tau_ms || !Mu || !Pinv || !Kinv || !U || !Ys || !S || !A || !G ||
                          !X || !Syx || !var))
        st = SOMA_ERR_NOMEM;
    if (st != SOMA_OK) goto done;
    for (int l = 0; l < L; l++) m->tau[l] = m->o.tau_ms / m->bin_ms;
    double *Sy = var + p, *Syy = var + 2 * p;
    for (int j = 0; j < p; j++) Sy[j] = Syy[j] = 0;
    for (long i = 0; i < n; i++)
        for (int j = 0; j < p; j++) {
            Sy[j] += Y[i * p + j];
            Syy[j] += Y[i * p + j] * Y[i * p + j];
        }
    for (int j = 0; j < p; j++) var[j] = fmax(1e-3 * (Syy[j] / n - (Sy[j] / n) * (Sy[j] / n)), 1e-9);
    for (int it = 0;; it++) {
        double ll;
        if (soma_cancel_requested()) {
            st = soma_error(SOMA_ERR_CANCELLED, "gpfa: fit cancelled at EM iteration %d", it);
            goto done;
        }
        if ((st = estep(m, Y, K, T, Mu, Pinv, Kinv, U, Ys, &ll)) != SOMA_OK) goto done;
        m->ll[m->n_ll++] = ll;
        if (it == max_iter) break;
        if (it > 0 && m->o.tol > 0 && ll - m->ll[it - 1] < m->o.tol * fabs(ll)) break;
        /* [C d] = [Syx Sy] [[Sxx Sx] [Sx' n]]^-1 */
        memset(G, 0, sizeof(double) * Q * Q);
        soma__dgemm_det(1, 0, L, L, (int)n, 1.0, Mu, L, Mu, L, 0.0, G, Q); /* into the top-left L x L of G */
        for (int t = 0; t < T; t++)
            for (int a = 0; a < L; a++)
                for (int b = 0; b < L; b++) G[a * Q + b] += K * Pinv[(size_t)(t * L + a) * LT + t * L + b];
        for (int a = 0; a < L; a++) {
            double sx = 0;
            for (long i = 0; i < n; i++) sx += Mu[i * L + a];
            G[a * Q + L] = G[L * Q + a] = sx;
        }
        G[L * Q + L] = (double)n;
        soma__dgemm_det(1, 0, p, L, (int)n, 1.0, Y, p, Mu, L, 0.0, Syx, L);
        for (int j = 0; j < p; j++) {
            for (int a = 0; a < L; a++) X[a * p + j] = Syx[j * L + a];
            X[L * p + j] = Sy[j];
        }
        int saved[2];
        soma__lapack_serial_begin(saved);
        lapack_int info = LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', Q, p, G, Q, X, p);
        soma__lapack_serial_end(saved);
        if (info != 0) {
            st = soma_error(SOMA_ERR_ARG, "gpfa: the latents' second moment is singular (info %d)", (int)info);
            goto done;
        }
        for (int j = 0; j < p; j++) {
            double r = Syy[j];
            for (int a = 0; a < L; a++) {
                m->C[j * L + a] = X[a * p + j];
                r -= X[a * p + j] * Syx[j * L + a];
            }
            m->mu[j] = X[L * p + j];
            r -= m->mu[j] * Sy[j];
            m->R[j] = fmax(r / (double)n, var[j]);
        }
        /* timescales: gradient ascent in log tau on each latent's expected log prior */
        for (int l = 0; l < L; l++) {
            for (int a = 0; a < T; a++)
                for (int b = 0; b < T; b++) {
                    double s = K * Pinv[(size_t)(a * L + l) * LT + b * L + l];
                    for (int k = 0; k < K; k++) s += Mu[((size_t)k * T + a) * L + l] * Mu[((size_t)k * T + b) * L + l];
                    S[a * T + b] = s;
                }
            double f, g, lt = log(m->tau[l]);
            const double lo = log(0.25), hi = log(10.0 * T);
            for (int step = 0; step < 8; step++) {
                if ((st = prior_f(exp(lt), m->o.gp_noise, T, K, S, Kinv, A, &f, &g)) != SOMA_OK) goto done;
                if (g == 0) break;
                double eta = 0.5 / fabs(g), moved = 0;
                for (int h = 0; h < 12 && !moved; h++, eta *= 0.5) {
                    double ln = lt + eta * g, fn;
                    ln = ln < lo ? lo : ln > hi ? hi : ln;
                    if (ln == lt) break;
                    if ((st = prior_f(exp(ln), m->o.gp_noise, T, K, S, Kinv, A, &fn, NULL)) != SOMA_OK) goto done;
                    if (fn > f) {
                        lt = ln;
                        moved = 1;
                    }
                }
                if (!moved) break;
            }
            m->tau[l] = exp(lt);
        }
    }
    for (int l = 0; l < L; l++) m->tau_ms[l] = m->tau[l] * m->bin_ms;
done:
    soma_free(Y);
    soma_free(Mu);
    soma_free(Pinv);
    soma_free(Kinv);
    soma_free(U);
    soma_free(Ys);
    soma_free(S);
    soma_free(A);
    soma_free(G);
    soma_free(X);
    soma_free(Syx);
    soma_free(var);
    return st;
}
