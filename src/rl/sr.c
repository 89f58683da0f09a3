/* The successor representation: closed form (Gauss-Jordan on I - gamma T), the transition
 * matrix of a policy on a deterministic tabular model, TD learning and values (Dayan 1993). */
#include <string.h>

#include "soma/rl.h"

soma_status soma_sr_closed_form(double *M, const double *T, int n, double gamma, double *work) {
    if (!M || !T || !work) return soma_error(SOMA_ERR_ARG, "sr: NULL M, T or work");
    if (n < 1) return soma_error(SOMA_ERR_ARG, "sr: %d states (need >= 1)", n);
    if (!(gamma >= 0.0 && gamma < 1.0)) return soma_error(SOMA_ERR_ARG, "sr: gamma %g outside [0, 1)", gamma);
    for (int i = 0; i < n; i++) {
        double sum = 0.0;
        for (int j = 0; j < n; j++) {
            double t = T[(size_t)i * n + j];
            if (!(t >= 0.0)) return soma_error(SOMA_ERR_ARG, "sr: T[%d,%d] = %g is negative or NaN", i, j, t);
            sum += t;
        }
        if (sum > 1.0 + 1e-9) return soma_error(SOMA_ERR_ARG, "sr: row %d of T sums to %g (> 1)", i, sum);
    }
    /* A = I - gamma T in work, M = I; eliminate column by column (Gauss-Jordan), applying
     * each row operation to M too. Strict row diagonal dominance keeps every pivot positive
     * (>= 1 - gamma) through the elimination, so no pivoting is needed. */
    double *A = work;
    for (size_t k = 0; k < (size_t)n * n; k++) A[k] = -gamma * T[k];
    memset(M, 0, (size_t)n * n * sizeof(double));
    for (int i = 0; i < n; i++) {
        A[(size_t)i * n + i] += 1.0;
        M[(size_t)i * n + i] = 1.0;
    }
    for (int k = 0; k < n; k++) {
        double *ak = A + (size_t)k * n, *mk = M + (size_t)k * n;
        double inv = 1.0 / ak[k];
        for (int j = 0; j < n; j++) {
            ak[j] *= inv;
            mk[j] *= inv;
        }
        for (int i = 0; i < n; i++) {
            if (i == k) continue;
            double *ai = A + (size_t)i * n, *mi = M + (size_t)i * n;
            double f = ai[k];
            if (f == 0.0) continue;
            for (int j = 0; j < n; j++) {
                ai[j] -= f * ak[j];
                mi[j] -= f * mk[j];
            }
        }
    }
    return SOMA_OK;
}

soma_status soma_sr_policy_T(double *T, const int *next, const double *pi, const unsigned char *terminal,
                             int n, int n_actions, int restart) {
    if (!T || !next || !pi) return soma_error(SOMA_ERR_ARG, "sr: NULL T, next or pi");
    if (n < 1 || n_actions < 1) return soma_error(SOMA_ERR_ARG, "sr: %d states, %d actions (need >= 1)", n, n_actions);
    if (restart >= n) return soma_error(SOMA_ERR_ARG, "sr: restart state %d outside 0..%d", restart, n - 1);
    memset(T, 0, (size_t)n * n * sizeof(double));
    for (int s = 0; s < n; s++) {
        double *row = T + (size_t)s * n;
        if (terminal && terminal[s]) {
            if (restart >= 0) row[restart] = 1.0;
            continue;
        }
        for (int a = 0; a < n_actions; a++) {
            int j = next[(size_t)s * n_actions + a];
            if (j < 0 || j >= n) return soma_error(SOMA_ERR_ARG, "sr: next[%d,%d] = %d outside 0..%d", s, a, j, n - 1);
            row[j] += pi[(size_t)s * n_actions + a];
        }
    }
    return SOMA_OK;
}

void soma_sr_td_update(double *M, int n, int s, int s_next, double alpha, double gamma) {
    double *ms = M + (size_t)s * n;
    if (s_next >= 0) {
        const double *mn = M + (size_t)s_next * n;
        for (int j = 0; j < n; j++) ms[j] += alpha * ((j == s ? 1.0 : 0.0) + gamma * mn[j] - ms[j]);
    } else {
        for (int j = 0; j < n; j++) ms[j] += alpha * ((j == s ? 1.0 : 0.0) - ms[j]);
    }
}

void soma_sr_value(double *v, const double *M, const double *r, int n) {
    for (int i = 0; i < n; i++) {
        double acc = 0.0;
        const double *mi = M + (size_t)i * n;
        for (int j = 0; j < n; j++) acc += mi[j] * r[j];
        v[i] = acc;
    }
}
