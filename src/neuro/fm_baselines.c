// Few-shot baselines on a new session (soma/neuro.h, "few-shot baselines"): smoothing and GPFA
// co-smoothing, velocity decoding from smoothed rates, a smoothing + ridge forecaster and a
// smoothing-likelihood anomaly score: what a pre-trained population model must beat.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "soma/neuro.h"

soma_fewshot_opts soma_fewshot_opts_default(void) {
    return (soma_fewshot_opts){.smooth_ms = 40.0, .gpfa_latents = 8, .gpfa_iter = 50, .fwd_bins = 10};
}

static int count_mask(const uint8_t *m, int n) {
    int c = 0;
    for (int i = 0; i < n; i++) c += m[i] != 0;
    return c;
}

static soma_status check_split(const char *what, const uint8_t *train, const uint8_t *test, int K) {
    if (!train) return soma_error(SOMA_ERR_ARG, "%s: NULL mask", what);
    int n_tr = 0, n_te = 0, both = 0;
    for (int k = 0; k < K; k++) {
        n_tr += train[k] != 0;
        if (test) n_te += test[k] != 0, both += train[k] && test[k];
    }
    if (n_tr < 1 || (test && n_te < 1) || both)
        return soma_error(SOMA_ERR_ARG, "%s: %d training and %d test trials of %d, %d in both (need >= 1 each, "
                          "disjoint)", what, n_tr, n_te, K, both);
    return SOMA_OK;
}

soma_status soma_fewshot_decode(const float *feat, int p, const float *beh, int q, int n_trials, int n_bins,
                                const uint8_t *train, const uint8_t *test, double *r2) {
    if (!feat || !beh || !r2 || p < 1 || q < 1 || n_trials < 2 || n_bins < 1)
        return soma_error(SOMA_ERR_ARG, "decode: bad arguments (%d features, %d outputs, %d trials, %d bins)", p, q,
                          n_trials, n_bins);
    SOMA_TRY(check_split("decode", train, test, n_trials));
    const long n_tr = (long)count_mask(train, n_trials) * n_bins, n_te = (long)count_mask(test, n_trials) * n_bins;
    float *xa = soma_alloc((size_t)(n_tr + n_te) * p, sizeof(float));
    float *ya = soma_alloc((size_t)(n_tr + n_te) * q, sizeof(float));
    if (!xa || !ya) {
        soma_free(xa), soma_free(ya);
        return SOMA_ERR_NOMEM;
    }
    long a = 0, b = n_tr;
    for (int k = 0; k < n_trials; k++) {
        if (!train[k] && !test[k]) continue;
        long *r = train[k] ? &a : &b;
        memcpy(xa + (size_t)*r * p, feat + (size_t)k * n_bins * p, (size_t)n_bins * p * sizeof(float));
        memcpy(ya + (size_t)*r * q, beh + (size_t)k * n_bins * q, (size_t)n_bins * q * sizeof(float));
        *r += n_bins;
    }
    soma_status st = soma_nlb_vel_r2(xa, ya, n_tr, xa + (size_t)n_tr * p, ya + (size_t)n_tr * q, n_te, p, q, r2);
    soma_free(xa), soma_free(ya);
    return st;
}

soma_status soma_fewshot_fp_bps(const soma_counts *c, const uint8_t *test, int f, const float *rates, double *bps) {
    if (!c || !test || !rates || !bps || f < 1 || f >= c->n_bins)
        return soma_error(SOMA_ERR_ARG, "fp-bps: bad arguments (forward window %d of %d bins)", f, c ? c->n_bins : 0);
    const int K = c->n_trials, T = c->n_bins, N = c->n_units, n_te = count_mask(test, K);
    if (n_te < 1) return soma_error(SOMA_ERR_ARG, "fp-bps: no test trials");
    float *y = soma_alloc((size_t)n_te * f * N, sizeof(float)), *r = soma_alloc((size_t)n_te * f * N, sizeof(float));
    if (!y || !r) {
        soma_free(y), soma_free(r);
        return SOMA_ERR_NOMEM;
    }
    const size_t per = (size_t)f * N;
    for (int k = 0, j = 0; k < K; k++) {
        if (!test[k]) continue;
        memcpy(y + j * per, c->x + ((size_t)k * T + (T - f)) * N, per * sizeof(float));
        memcpy(r + j * per, rates + (size_t)k * per, per * sizeof(float));
        j++;
    }
    soma_status st = soma_nlb_bits_per_spike(r, y, (long)n_te * f, N, bps);
    soma_free(y), soma_free(r);
    return st;
}

// --- forecasting: smoothing + ridge ------------------------------------------------------------

/* Ridge fit on rows idx[0..n) of X [*, p] and Y [*, q] (double), into W [p, q] and b [q]. */
static soma_status ridge_rows(const double *X, const double *Y, const int *idx, int n, int p, int q, double alpha,
                              double *Xs, double *Ys, double *W, double *b) {
    for (int i = 0; i < n; i++) {
        memcpy(Xs + (size_t)i * p, X + (size_t)idx[i] * p, (size_t)p * sizeof(double));
        memcpy(Ys + (size_t)i * q, Y + (size_t)idx[i] * q, (size_t)q * sizeof(double));
    }
    return soma_ridge_solve(Xs, Ys, n, p, q, alpha, W, b);
}

soma_status soma_fewshot_forecast_smooth(const soma_counts *c, const uint8_t *train, int f, double smooth_ms,
                                         float *rates) {
    if (!c || !c->x || !rates || f < 1 || f >= c->n_bins || !(smooth_ms >= 0))
        return soma_error(SOMA_ERR_ARG, "forecast: bad arguments (forward window %d of %d bins, smooth %g ms)", f,
                          c ? c->n_bins : 0, smooth_ms);
    SOMA_TRY(check_split("forecast", train, NULL, c->n_trials));
    const int K = c->n_trials, T = c->n_bins, N = c->n_units, n = count_mask(train, K), q = f * N;
    soma_counts sm = {0};
    SOMA_TRY(soma_counts_alloc(&sm, K, T, N, c->bin_ms));
    memcpy(sm.x, c->x, (size_t)K * T * N * sizeof(float));
    soma_status st = smooth_ms > 0 ? soma_counts_smooth(&sm, smooth_ms, 1) : SOMA_OK;
    double *X = soma_alloc((size_t)K * N, sizeof(double)), *Y = soma_alloc((size_t)K * q, sizeof(double));
    double *Xs = soma_alloc((size_t)n * N, sizeof(double)), *Ys = soma_alloc((size_t)n * q, sizeof(double));
    double *W = soma_alloc((size_t)N * q, sizeof(double)), *b = soma_alloc((size_t)q, sizeof(double));
    double *mu = soma_alloc((size_t)N * 2, sizeof(double)), *umean = soma_alloc((size_t)N, sizeof(double));
    int *idx = soma_alloc((size_t)n, sizeof(int)), *fit = soma_alloc((size_t)n, sizeof(int));
    float *Xf = soma_alloc((size_t)K * N, sizeof(float)), *Wf = soma_alloc((size_t)N * q, sizeof(float));
    if (st == SOMA_OK && (!X || !Y || !Xs || !Ys || !W || !b || !mu || !umean || !idx || !fit || !Xf || !Wf))
        st = SOMA_ERR_NOMEM;
    if (st != SOMA_OK) goto out;
    for (int k = 0, j = 0; k < K; k++)
        if (train[k]) idx[j++] = k;
    /* features: the smoothed counts at the last observed bin, standardised over training trials */
    for (int u = 0; u < N; u++) {
        double m = 0, v = 0;
        for (int j = 0; j < n; j++) m += sm.x[((size_t)idx[j] * T + T - f - 1) * N + u];
        m /= n;
        for (int j = 0; j < n; j++) v += pow(sm.x[((size_t)idx[j] * T + T - f - 1) * N + u] - m, 2);
        const double sd = sqrt(v / n);
        mu[2 * u] = m, mu[2 * u + 1] = sd > 1e-6 ? sd : 1.0;
        double cm = 0;
        for (int j = 0; j < n; j++)
            for (int t = 0; t < T; t++) cm += c->x[((size_t)idx[j] * T + t) * N + u];
        umean[u] = cm / ((double)n * T);
    }
    for (int k = 0; k < K; k++) {
        for (int u = 0; u < N; u++)
            X[(size_t)k * N + u] = (sm.x[((size_t)k * T + T - f - 1) * N + u] - mu[2 * u]) / mu[2 * u + 1];
        for (int i = 0; i < q; i++) Y[(size_t)k * q + i] = c->x[((size_t)k * T + T - f) * N + i];
    }
    /* alpha by n_folds-fold cross-validation over the training trials (contiguous folds) */
    double best_alpha = 1e4 * n, best_err = INFINITY;
    const int n_folds = n < 5 ? n : 5;
    for (int a = 0; a < 7 && n >= 2; a++) {
        const double alpha = pow(10.0, -2.0 + a) * n;
        double err = 0;
        for (int fo = 0; fo < n_folds && st == SOMA_OK; fo++) {
            const int lo = fo * n / n_folds, hi = (fo + 1) * n / n_folds;
            int m = 0;
            for (int j = 0; j < n; j++)
                if (j < lo || j >= hi) fit[m++] = idx[j];
            if ((st = ridge_rows(X, Y, fit, m, N, q, alpha, Xs, Ys, W, b)) != SOMA_OK) break;
            for (int j = lo; j < hi; j++) {
                const double *x = X + (size_t)idx[j] * N, *y = Y + (size_t)idx[j] * q;
                for (int i = 0; i < q; i++) {
                    double v = b[i];
                    for (int u = 0; u < N; u++) v += x[u] * W[(size_t)u * q + i];
                    const double fl = 0.1 * umean[i % N] + 1e-6;
                    v = v > fl ? v : fl;
                    err += v - y[i] * log(v); /* Poisson NLL of the floored forecast */
                }
            }
        }
        if (st != SOMA_OK) goto out;
        if (err < best_err) best_err = err, best_alpha = alpha;
    }
    if ((st = ridge_rows(X, Y, idx, n, N, q, best_alpha, Xs, Ys, W, b)) != SOMA_OK) goto out;
    /* rates [K, q] = X W + b, through BLAS */
    for (size_t i = 0; i < (size_t)K * N; i++) Xf[i] = (float)X[i];
    for (size_t i = 0; i < (size_t)N * q; i++) Wf[i] = (float)W[i];
    for (int k = 0; k < K; k++)
        for (int i = 0; i < q; i++) rates[(size_t)k * q + i] = (float)b[i];
    soma_gemm(0, 0, K, q, N, 1.f, Xf, N, Wf, q, 1.f, rates, q);
    for (int k = 0; k < K; k++)
        for (int i = 0; i < q; i++) {
            const float fl = (float)(0.1 * umean[i % N] + 1e-6);
            float *r = rates + (size_t)k * q + i;
            if (!(*r >= fl)) *r = fl;
        }
out:
    soma_counts_free(&sm);
    soma_free(X), soma_free(Y), soma_free(Xs), soma_free(Ys), soma_free(W), soma_free(b), soma_free(mu);
    soma_free(umean), soma_free(idx), soma_free(fit), soma_free(Xf), soma_free(Wf);
    return st;
}

// --- anomaly scores ---------------------------------------------------------------------------

soma_status soma_fewshot_anomaly_smooth(const soma_counts *c, const uint8_t *train, double smooth_ms, float *dyn,
                                        float *units) {
    if (!c || !c->x || !(smooth_ms > 0))
        return soma_error(SOMA_ERR_ARG, "anomaly: bad arguments (smooth %g ms must be > 0)", smooth_ms);
    SOMA_TRY(check_split("anomaly", train, NULL, c->n_trials));
    const int K = c->n_trials, T = c->n_bins, N = c->n_units, n = count_mask(train, K);
    double *m = soma_alloc((size_t)N * 3, sizeof(double)); /* per-bin mean, trial-total mean and sd */
    if (!m) return SOMA_ERR_NOMEM;
    for (int u = 0; u < N; u++) {
        double s1 = 0, s2 = 0;
        for (int k = 0; k < K; k++) {
            if (!train[k]) continue;
            double s = 0;
            for (int t = 0; t < T; t++) s += c->x[((size_t)k * T + t) * N + u];
            s1 += s, s2 += s * s;
        }
        const double mean = s1 / n, var = s2 / n - mean * mean;
        double sd = sqrt(var > 0 ? var : 0);
        if (sd < sqrt(mean)) sd = sqrt(mean);
        if (sd < 0.5) sd = 0.5;
        m[3 * u] = mean / T, m[3 * u + 1] = mean, m[3 * u + 2] = sd;
    }
    const double sd_bins = smooth_ms / c->bin_ms;
    int h = (int)ceil(4 * sd_bins);
    if (h < 1) h = 1;
    if (h > T - 1) h = T - 1 > 0 ? T - 1 : 0;
    double *w = soma_alloc((size_t)h + 1, sizeof(double));
    if (!w) {
        soma_free(m);
        return SOMA_ERR_NOMEM;
    }
    for (int s = 0; s <= h; s++) w[s] = s == 0 ? 0.0 : exp(-0.5 * s * s / (sd_bins * sd_bins));
#pragma omp parallel for schedule(static)
    for (int k = 0; k < K; k++) {
        const float *y = c->x + (size_t)k * T * N;
        if (dyn) {
            double ex = 0, var = 0;
            for (int t = 0; t < T; t++) {
                const int lo = t - h < 0 ? 0 : t - h, hi = t + h > T - 1 ? T - 1 : t + h;
                double norm = 0;
                for (int s = lo; s <= hi; s++) norm += w[abs(s - t)];
                for (int u = 0; u < N; u++) {
                    double r = 0;
                    for (int s = lo; s <= hi; s++) r += w[abs(s - t)] * y[(size_t)s * N + u];
                    r = norm > 0 ? r / norm : 0;
                    const double fl = 0.05 * m[3 * u] + 1e-4;
                    if (r < fl) r = fl;
                    const double yy = y[(size_t)t * N + u];
                    ex += (yy - r) * (yy - r) / r - 1.0;
                    var += 2.0 + 1.0 / r;
                }
            }
            dyn[k] = (float)(ex / sqrt(var > 0 ? var : 1e-12));
        }
        if (units) {
            double s = 0;
            for (int u = 0; u < N; u++) {
                double tot = 0;
                for (int t = 0; t < T; t++) tot += y[(size_t)t * N + u];
                const double z = (tot - m[3 * u + 1]) / m[3 * u + 2];
                s += z * z;
            }
            units[k] = (float)(s / N);
        }
    }
    soma_free(w), soma_free(m);
    return SOMA_OK;
}

// --- all of them on one split -----------------------------------------------------------------

/* AUROC of score over the test trials whose anomaly is NONE (label 0) or in kinds (label 1). */
static soma_status auroc_kinds(const float *score, const uint8_t *anomaly, const uint8_t *test, int K, int k1, int k2,
                               double *auc) {
    *auc = NAN;
    float *s = soma_alloc((size_t)K, sizeof(float));
    unsigned char *lab = soma_alloc((size_t)K, 1);
    if (!s || !lab) {
        soma_free(s), soma_free(lab);
        return SOMA_ERR_NOMEM;
    }
    long n = 0, pos = 0;
    for (int k = 0; k < K; k++) {
        if (!test[k]) continue;
        const int a = anomaly[k];
        if (a != SOMA_ANOMALY_NONE && a != k1 && a != k2) continue;
        s[n] = score[k], lab[n] = a != SOMA_ANOMALY_NONE, pos += lab[n], n++;
    }
    soma_status st = pos > 0 && pos < n ? soma_auc(s, lab, n, auc, NULL) : SOMA_OK;
    soma_free(s), soma_free(lab);
    return st;
}

soma_status soma_fewshot_baselines(const soma_counts *c, const float *beh, int q, const uint8_t *anomaly,
                                   const uint8_t *train, const uint8_t *test, const uint8_t *heldout,
                                   const soma_fewshot_opts *o, soma_fewshot_res *out) {
    if (!c || !c->x || !heldout || !o || !out || (beh && q < 1))
        return soma_error(SOMA_ERR_ARG, "fewshot: NULL argument");
    const double t0 = soma_now();
    *out = (soma_fewshot_res){NAN, NAN, NAN, NAN, NAN, NAN, 0};
    const int K = c->n_trials, T = c->n_bins, N = c->n_units;
    SOMA_TRY(check_split("fewshot", train, test, K));
    if (!(o->smooth_ms > 0) || o->gpfa_latents < 1 || o->gpfa_iter < 1 || o->fwd_bins < 1 || o->fwd_bins >= T - 1)
        return soma_error(SOMA_ERR_ARG, "fewshot: smooth_ms %g (> 0), gpfa_latents %d, gpfa_iter %d (>= 1), "
                          "fwd_bins %d (1..bins - 2)", o->smooth_ms, o->gpfa_latents, o->gpfa_iter, o->fwd_bins);
    const int n_ho = count_mask(heldout, N), n_in = N - n_ho;
    if (n_ho < 1 || n_in < 1)
        return soma_error(SOMA_ERR_ARG, "fewshot: %d of %d units held out (need >= 1 on each side)", n_ho, N);
    if (n_in < o->gpfa_latents)
        return soma_error(SOMA_ERR_ARG, "fewshot: %d held-in units for %d GPFA latents", n_in, o->gpfa_latents);
    uint8_t *norm = soma_alloc((size_t)K, 1);
    int *rows = soma_alloc((size_t)K, sizeof(int));
    unsigned char *sub_test = soma_alloc((size_t)K, 1);
    float *feat = soma_alloc((size_t)K * T * n_in, sizeof(float)), *sm = soma_alloc((size_t)K * T * N, sizeof(float));
    float *fr = soma_alloc((size_t)K * o->fwd_bins * N, sizeof(float));
    float *sd = soma_alloc((size_t)K, sizeof(float)), *su = soma_alloc((size_t)K, sizeof(float));
    soma_counts sub = {0};
    soma_cosmooth cs = {0};
    soma_status st = SOMA_OK;
    if (!norm || !rows || !sub_test || !feat || !sm || !fr || !sd || !su) {
        st = SOMA_ERR_NOMEM;
        goto out;
    }
    int n_rows = 0;
    for (int k = 0; k < K; k++) {
        norm[k] = test[k] && (!anomaly || anomaly[k] == SOMA_ANOMALY_NONE);
        if (train[k] || norm[k]) sub_test[n_rows] = norm[k], rows[n_rows++] = k;
    }
    if (count_mask(norm, K) < 1) {
        st = soma_error(SOMA_ERR_ARG, "fewshot: no normal test trials");
        goto out;
    }
    /* co-smoothing on the training and the normal test trials */
    if ((st = soma_counts_alloc(&sub, n_rows, T, N, c->bin_ms)) != SOMA_OK) goto out;
    for (int j = 0; j < n_rows; j++)
        memcpy(sub.x + (size_t)j * T * N, c->x + (size_t)rows[j] * T * N, (size_t)T * N * sizeof(float));
    for (int kind = 0; kind < 2; kind++) {
        soma_latent_opts lo = soma_latent_opts_default(kind ? SOMA_LATENT_GPFA : SOMA_LATENT_SMOOTH);
        lo.smooth_ms = o->smooth_ms;
        if (kind) lo.n_latents = o->gpfa_latents, lo.max_iter = o->gpfa_iter;
        if ((st = soma_neuro_cosmooth(&sub, heldout, sub_test, NULL, 0, &lo, &cs)) != SOMA_OK) goto out;
        *(kind ? &out->co_bps_gpfa : &out->co_bps_smooth) = cs.co_bps;
        soma_cosmooth_free(&cs);
    }
    /* velocity from the smoothed held-in counts */
    if (beh) {
        soma_neuro_smooth(c->x, K, T, N, o->smooth_ms / c->bin_ms, sm);
        for (size_t r = 0; r < (size_t)K * T; r++)
            for (int u = 0, v = 0; u < N; u++)
                if (!heldout[u]) feat[r * n_in + v++] = sm[r * N + u];
        if ((st = soma_fewshot_decode(feat, n_in, beh, q, K, T, train, norm, &out->vel_r2)) != SOMA_OK) goto out;
    }
    /* forecasting */
    if ((st = soma_fewshot_forecast_smooth(c, train, o->fwd_bins, o->smooth_ms, fr)) != SOMA_OK) goto out;
    if ((st = soma_fewshot_fp_bps(c, norm, o->fwd_bins, fr, &out->fp_bps)) != SOMA_OK) goto out;
    /* anomalies */
    if (anomaly) {
        if ((st = soma_fewshot_anomaly_smooth(c, train, o->smooth_ms, sd, su)) != SOMA_OK) goto out;
        if ((st = auroc_kinds(sd, anomaly, test, K, SOMA_ANOMALY_DYNAMICS, SOMA_ANOMALY_PULSE, &out->auroc_dynamics)) !=
            SOMA_OK)
            goto out;
        if ((st = auroc_kinds(su, anomaly, test, K, SOMA_ANOMALY_UNITS, SOMA_ANOMALY_UNITS, &out->auroc_units)) != SOMA_OK)
            goto out;
    }
    out->seconds = soma_now() - t0;
out:
    soma_cosmooth_free(&cs);
    soma_counts_free(&sub);
    soma_free(norm), soma_free(rows), soma_free(sub_test), soma_free(feat), soma_free(sm), soma_free(fr);
    soma_free(sd), soma_free(su);
    return st;
}
