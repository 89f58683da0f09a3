// The Neural Latents Benchmark's metrics as nlb_tools' evaluation.py defines them: bits per
// spike (co-bps, fp-bps), velocity decoding R^2 (ridge, alpha by 5-fold grid search), PSTH
// R^2, and the latent-recovery R^2 of synthetic benchmarks (soma/neuro.h, "metrics").
// Double precision throughout; products by soma__dgemm_det (the same bits on any thread
// count), solves by LAPACKE_dposv.
#include <lapacke.h>
#include <math.h>
#include <string.h>

#include "analysis/internal.h"
#include "soma/neuro.h"

soma_status soma_nlb_bits_per_spike(const float *rates, const float *spikes, long n_rows, int n_units,
                                    double *bps) {
    if (n_rows < 1 || n_units < 1)
        return soma_error(SOMA_ERR_ARG, "bits per spike: %ld rows x %d units", n_rows, n_units);
    double *mean = soma_calloc((size_t)n_units, sizeof(double));
    long *cnt = soma_calloc((size_t)n_units, sizeof(long));
    if (!mean || !cnt) {
        soma_free(mean);
        soma_free(cnt);
        return SOMA_ERR_NOMEM;
    }
    soma_status st = SOMA_OK;
    for (long r = 0; r < n_rows; r++)
        for (int u = 0; u < n_units; u++) {
            const float k = spikes[r * n_units + u];
            if (isnan(k)) continue;
            const float lam = rates[r * n_units + u];
            if (!(lam >= 0) && st == SOMA_OK)
                st = soma_error(SOMA_ERR_ARG, "bits per spike: rate %g at row %ld unit %d (rates must be >= 0)",
                                (double)lam, r, u);
            mean[u] += k;
            cnt[u]++;
        }
    double total = 0, nll_model = 0, nll_null = 0;
    if (st == SOMA_OK) {
        for (int u = 0; u < n_units; u++) {
            total += mean[u];
            mean[u] = cnt[u] ? mean[u] / (double)cnt[u] : 0.0;
            if (mean[u] == 0.0) mean[u] = 1e-9;
        }
        for (long r = 0; r < n_rows; r++)
            for (int u = 0; u < n_units; u++) {
                const double k = spikes[r * n_units + u];
                if (isnan(k)) continue;
                double lam = rates[r * n_units + u];
                if (lam == 0.0) lam = 1e-9;
                nll_model += lam - k * log(lam);
                nll_null += mean[u] - k * log(mean[u]);
            }
        if (!(total > 0)) st = soma_error(SOMA_ERR_ARG, "bits per spike: no spikes in the evaluated data");
    }
    soma_free(mean);
    soma_free(cnt);
    if (st == SOMA_OK) *bps = (nll_null - nll_model) / total / log(2.0);
    return st;
}

double soma_r2_score(const double *y, const double *yhat, long n, int q, int weighted) {
    double sum_res = 0, sum_tot = 0, mean_r2 = 0;
    for (int j = 0; j < q; j++) {
        double m = 0;
        for (long i = 0; i < n; i++) m += y[i * q + j];
        m /= (double)n;
        double res = 0, tot = 0;
        for (long i = 0; i < n; i++) {
            res += (y[i * q + j] - yhat[i * q + j]) * (y[i * q + j] - yhat[i * q + j]);
            tot += (y[i * q + j] - m) * (y[i * q + j] - m);
        }
        sum_res += res;
        sum_tot += tot;
        mean_r2 += tot != 0 ? 1.0 - res / tot : (res == 0 ? 1.0 : 0.0);
    }
    if (weighted) return sum_tot != 0 ? 1.0 - sum_res / sum_tot : (sum_res == 0 ? 1.0 : 0.0);
    return mean_r2 / q;
}

soma_status soma_ridge_solve(const double *X, const double *Y, long n, int p, int q, double alpha, double *W,
                             double *b) {
    if (n < 1 || p < 1 || q < 1 || !(alpha >= 0))
        return soma_error(SOMA_ERR_ARG, "ridge: %ld rows, %d inputs, %d outputs, alpha %g", n, p, q, alpha);
    double *mx = soma_calloc((size_t)p, sizeof(double)), *my = soma_calloc((size_t)q, sizeof(double));
    double *Xc = soma_alloc((size_t)(n > q ? n : q) * p, sizeof(double)), *Yc = soma_alloc((size_t)n * q, sizeof(double));
    double *G = soma_alloc((size_t)p * p, sizeof(double)), *G2 = soma_alloc((size_t)p * p, sizeof(double));
    soma_status st = SOMA_OK;
    if (!mx || !my || !Xc || !Yc || !G || !G2) {
        st = SOMA_ERR_NOMEM;
        goto done;
    }
    for (long i = 0; i < n; i++) {
        for (int j = 0; j < p; j++) mx[j] += X[i * p + j];
        for (int j = 0; j < q; j++) my[j] += Y[i * q + j];
    }
    for (int j = 0; j < p; j++) mx[j] /= (double)n;
    for (int j = 0; j < q; j++) my[j] /= (double)n;
    for (long i = 0; i < n; i++) {
        for (int j = 0; j < p; j++) Xc[i * p + j] = X[i * p + j] - mx[j];
        for (int j = 0; j < q; j++) Yc[i * q + j] = Y[i * q + j] - my[j];
    }
    soma__dgemm_det(1, 0, p, p, (int)n, 1.0, Xc, p, Xc, p, 0.0, G, p);
    soma__dgemm_det(1, 0, p, q, (int)n, 1.0, Xc, p, Yc, q, 0.0, W, q);
    double tr = 0;
    for (int j = 0; j < p; j++) tr += G[j * p + j];
    double jitter = alpha;
    for (int attempt = 0; attempt < 3; attempt++) {
        memcpy(G2, G, sizeof(double) * p * p);
        for (int j = 0; j < p; j++) G2[j * p + j] += jitter;
        memcpy(Xc, W, sizeof(double) * p * q); /* Xc ([max(n, q), p]) is free now: holds X'Y */
        int saved_[2];
        soma__lapack_serial_begin(saved_);
        lapack_int info = LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', p, q, G2, p, Xc, q);
        soma__lapack_serial_end(saved_);
        if (info == 0) {
            memcpy(W, Xc, sizeof(double) * p * q);
            for (int j = 0; j < q; j++) {
                double s = my[j];
                for (int k = 0; k < p; k++) s -= mx[k] * W[k * q + j];
                b[j] = s;
            }
            goto done;
        }
        jitter = alpha + (tr > 0 ? tr / p : 1.0) * (attempt == 0 ? 1e-10 : 1e-6);
    }
    st = soma_error(SOMA_ERR_ARG, "ridge: the inputs' covariance is singular");
done:
    soma_free(mx);
    soma_free(my);
    soma_free(Xc);
    soma_free(Yc);
    soma_free(G);
    soma_free(G2);
    return st;
}

/* Yhat [n, q] = X W + b */
static void ridge_apply(const double *X, long n, int p, int q, const double *W, const double *b, double *Yhat) {
    for (long i = 0; i < n; i++)
        for (int j = 0; j < q; j++) Yhat[i * q + j] = b[j];
    soma__dgemm_det(0, 0, (int)n, q, p, 1.0, X, p, W, q, 1.0, Yhat, q);
}

/* Rows of (rates, beh) whose first behaviour value is not NaN, as doubles. */
static long keep_rows(const float *rates, const float *beh, long n, int p, int q, double *X, double *Y, int *bad) {
    long m = 0;
    for (long i = 0; i < n; i++) {
        if (isnan(beh[i * q])) continue;
        for (int j = 0; j < p; j++) {
            X[m * p + j] = rates[i * p + j];
            if (!isfinite(rates[i * p + j])) *bad = 1;
        }
        for (int j = 0; j < q; j++) Y[m * q + j] = beh[i * q + j];
        m++;
    }
    return m;
}

soma_status soma_nlb_vel_r2(const float *train_rates, const float *train_beh, long n_train,
                            const float *eval_rates, const float *eval_beh, long n_eval, int p, int q,
                            double *r2) {
    if (n_train < 5 || n_eval < 1 || p < 1 || q < 1)
        return soma_error(SOMA_ERR_ARG, "velocity R2: %ld training rows (>= 5), %ld evaluation rows, %d rates, %d "
                          "behaviour dims", n_train, n_eval, p, q);
    const long nmax = n_train > n_eval ? n_train : n_eval;
    double *Xt = soma_alloc((size_t)n_train * p, sizeof(double)), *Yt = soma_alloc((size_t)n_train * q, sizeof(double));
    double *Xe = soma_alloc((size_t)n_eval * p, sizeof(double)), *Ye = soma_alloc((size_t)n_eval * q, sizeof(double));
    double *Xf = soma_alloc((size_t)n_train * p, sizeof(double)), *Yf = soma_alloc((size_t)n_train * q, sizeof(double));
    double *Yh = soma_alloc((size_t)nmax * q, sizeof(double));
    double *W = soma_alloc((size_t)p * q, sizeof(double)), *b = soma_alloc((size_t)q, sizeof(double));
    soma_status st = SOMA_OK;
    if (!Xt || !Yt || !Xe || !Ye || !Xf || !Yf || !Yh || !W || !b) {
        st = SOMA_ERR_NOMEM;
        goto done;
    }
    int bad = 0;
    const long nt = keep_rows(train_rates, train_beh, n_train, p, q, Xt, Yt, &bad);
    const long ne = keep_rows(eval_rates, eval_beh, n_eval, p, q, Xe, Ye, &bad);
    if (bad) {
        st = soma_error(SOMA_ERR_ARG, "velocity R2: NaN or infinite rates where behaviour is defined");
        goto done;
    }
    if (nt < 5 || ne < 1) {
        st = soma_error(SOMA_ERR_ARG, "velocity R2: %ld training and %ld evaluation rows with behaviour", nt, ne);
        goto done;
    }
    /* sklearn KFold(5): contiguous folds, the first nt % 5 one row longer */
    double best = -INFINITY, best_alpha = 1e-4;
    for (int a = 0; a < 9; a++) {
        const double alpha = pow(10.0, -4.0 + 0.5 * a);
        double score = 0;
        long start = 0;
        for (int f = 0; f < 5; f++) {
            const long len = nt / 5 + (f < nt % 5 ? 1 : 0);
            const long ntr = nt - len;
            memcpy(Xf, Xt, sizeof(double) * start * p);
            memcpy(Xf + start * p, Xt + (start + len) * p, sizeof(double) * (nt - start - len) * p);
            memcpy(Yf, Yt, sizeof(double) * start * q);
            memcpy(Yf + start * q, Yt + (start + len) * q, sizeof(double) * (nt - start - len) * q);
            if ((st = soma_ridge_solve(Xf, Yf, ntr, p, q, alpha, W, b)) != SOMA_OK) goto done;
            ridge_apply(Xt + start * p, len, p, q, W, b, Yh);
            score += soma_r2_score(Yt + start * q, Yh, len, q, 0);
            start += len;
        }
        score /= 5;
        if (score > best) {
            best = score;
            best_alpha = alpha;
        }
    }
    if ((st = soma_ridge_solve(Xt, Yt, nt, p, q, best_alpha, W, b)) != SOMA_OK) goto done;
    ridge_apply(Xe, ne, p, q, W, b, Yh);
    *r2 = soma_r2_score(Ye, Yh, ne, q, 0);
done:
    soma_free(Xt);
    soma_free(Yt);
    soma_free(Xe);
    soma_free(Ye);
    soma_free(Xf);
    soma_free(Yf);
    soma_free(Yh);
    soma_free(W);
    soma_free(b);
    return st;
}

soma_status soma_nlb_psth_r2(const float *rates, const int *cond, int n_trials, const float *psth, int n_conds,
                             int n_bins, int n_units, double *r2) {
    if (n_trials < 1 || n_conds < 1 || n_bins < 1 || n_units < 1)
        return soma_error(SOMA_ERR_ARG, "PSTH R2: %d trials, %d conditions, %d bins, %d units", n_trials, n_conds,
                          n_bins, n_units);
    for (int k = 0; k < n_trials; k++)
        if (cond[k] < 0 || cond[k] >= n_conds)
            return soma_error(SOMA_ERR_ARG, "PSTH R2: trial %d has condition %d (0..%d)", k, cond[k], n_conds - 1);
    const size_t n = (size_t)n_trials * n_bins;
    double *y = soma_alloc(n * n_units, sizeof(double)), *yh = soma_alloc(n * n_units, sizeof(double));
    if (!y || !yh) {
        soma_free(y);
        soma_free(yh);
        return SOMA_ERR_NOMEM;
    }
    long m = 0;
    int bad = 0;
    for (int k = 0; k < n_trials; k++)
        for (int t = 0; t < n_bins; t++) {
            const float *ps = psth + ((size_t)cond[k] * n_bins + t) * n_units;
            if (isnan(ps[0])) continue;
            const float *rt = rates + ((size_t)k * n_bins + t) * n_units;
            for (int u = 0; u < n_units; u++) {
                y[m * n_units + u] = ps[u];
                yh[m * n_units + u] = rt[u];
                if (!isfinite(rt[u])) bad = 1;
            }
            m++;
        }
    soma_status st = SOMA_OK;
    if (bad || m < 1)
        st = soma_error(SOMA_ERR_ARG, "PSTH R2: %s", bad ? "NaN rates within the PSTH's bins" : "no bins to score");
    else
        *r2 = soma_r2_score(y, yh, m, n_units, 0);
    soma_free(y);
    soma_free(yh);
    return st;
}

soma_status soma_latent_r2(const float *z_fit, const float *true_fit, long n_fit, const float *z_eval,
                           const float *true_eval, long n_eval, int d, int l, double *r2) {
    if (d < 1 || l < 1 || n_eval < 1 || n_fit <= d)
        return soma_error(SOMA_ERR_ARG, "latent R2: %ld fitting rows for %d inferred latents (need more rows), %ld "
                          "evaluation rows, %d true latents", n_fit, d, n_eval, l);
    const long nmax = n_fit > n_eval ? n_fit : n_eval;
    double *X = soma_alloc((size_t)nmax * d, sizeof(double)), *Y = soma_alloc((size_t)nmax * l, sizeof(double));
    double *Yh = soma_alloc((size_t)n_eval * l, sizeof(double));
    double *W = soma_alloc((size_t)d * l, sizeof(double)), *b = soma_alloc((size_t)l, sizeof(double));
    soma_status st = SOMA_OK;
    if (!X || !Y || !Yh || !W || !b) {
        st = SOMA_ERR_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < (size_t)n_fit * d; i++) X[i] = z_fit[i];
    for (size_t i = 0; i < (size_t)n_fit * l; i++) Y[i] = true_fit[i];
    if ((st = soma_ridge_solve(X, Y, n_fit, d, l, 0.0, W, b)) != SOMA_OK) goto done;
    for (size_t i = 0; i < (size_t)n_eval * d; i++) X[i] = z_eval[i];
    for (size_t i = 0; i < (size_t)n_eval * l; i++) Y[i] = true_eval[i];
    ridge_apply(X, n_eval, d, l, W, b, Yh);
    *r2 = soma_r2_score(Y, Yh, n_eval, l, 1);
done:
    soma_free(X);
    soma_free(Y);
    soma_free(Yh);
    soma_free(W);
    soma_free(b);
    return st;
}
