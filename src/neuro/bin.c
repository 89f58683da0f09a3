// Binning of spike times into soma_counts, Gaussian smoothing, behaviour on the bins, PSTHs and
// held-in / held-out unit splits (soma/neuro.h).
//
// Binning is O(spikes): the output is cut into work items (a trial's run of at most CHUNK
// bins); each item finds its first spike by binary search on the time-ordered spikes and then
// walks the spikes until its last bin ends, so no spike is searched for per bin. Items write
// disjoint parts of the output, so they run in parallel and the counts do not depend on the
// thread count.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "soma/neuro.h"

#define CHUNK 4096 /* bins of one work item */
#define EDGE_EPS 1e-9

/* The first spike with t >= x (n when none). */
static long lower_bound_(const double *t, long n, double x) {
    long lo = 0, hi = n;
    while (lo < hi) {
        long mid = lo + (hi - lo) / 2;
        if (t[mid] < x) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

soma_status soma_spikes_bin(const soma_spikes *s, const double *t0, int n_trials, int n_bins, double bin_ms,
                            soma_counts *out) {
    memset(out, 0, sizeof *out);
    if (!s || !t0) return soma_error(SOMA_ERR_ARG, "bin: NULL spikes or trial starts");
    if (!(bin_ms > 0) || !isfinite(bin_ms)) return soma_error(SOMA_ERR_ARG, "bin: bin width %g ms must be > 0", bin_ms);
    if (s->n_neurons < 1) return soma_error(SOMA_ERR_ARG, "bin: the recording has no units");
    for (int k = 0; k < n_trials; k++)
        if (!isfinite(t0[k])) return soma_error(SOMA_ERR_ARG, "bin: trial %d starts at a non-finite time", k);
    SOMA_TRY(soma_counts_alloc(out, n_trials, n_bins, s->n_neurons, bin_ms));
    memcpy(out->t0, t0, (size_t)n_trials * sizeof *t0);
    const int U = s->n_neurons;
    const long chunks = (n_bins + CHUNK - 1) / CHUNK, items = (long)n_trials * chunks;
    const double *tt = s->t;
    const int *id = s->id;
    const long ns = s->n;
    float *x = out->x;
#ifdef SOMA_HAVE_OPENMP
#pragma omp parallel for schedule(dynamic, 1)
#endif
    for (long it = 0; it < items; it++) {
        const int k = (int)(it / chunks);
        const long b_lo = (it % chunks) * CHUNK, b_hi = b_lo + CHUNK < n_bins ? b_lo + CHUNK : n_bins;
        const double start = t0[k];
        float *xk = x + (size_t)k * n_bins * U;
        for (long i = lower_bound_(tt, ns, start + ((double)b_lo - 1.0) * bin_ms); i < ns; i++) {
            const double b = floor((tt[i] - start) / bin_ms + EDGE_EPS);
            if (b < (double)b_lo) continue;
            if (b >= (double)b_hi) break;
            const int u = id[i];
            if (u >= 0 && u < U) xk[(size_t)b * U + u] += 1.0f;
        }
    }
    return SOMA_OK;
}

soma_status soma_counts_smooth(soma_counts *c, double sigma_ms, int causal) {
    if (!c || !c->x) return soma_error(SOMA_ERR_ARG, "smooth: no counts");
    if (!(sigma_ms > 0) || !isfinite(sigma_ms))
        return soma_error(SOMA_ERR_ARG, "smooth: sigma %g ms must be > 0", sigma_ms);
    const double s = sigma_ms / c->bin_ms;
    if (s > 1e5) return soma_error(SOMA_ERR_ARG, "smooth: sigma %g ms is %g bins (at most 1e5)", sigma_ms, s);
    const int h = (int)ceil(4.0 * s);
    const int nw = 2 * h + 1;
    double *w = soma_alloc((size_t)nw, sizeof *w);
    const size_t total = (size_t)c->n_trials * c->n_bins * c->n_units;
    float *src = soma_alloc(total, sizeof *src);
    if (!w || !src) {
        soma_free(w);
        soma_free(src);
        return soma_error(SOMA_ERR_NOMEM, "smooth: out of memory");
    }
    double sum = 0;
    for (int j = -h; j <= h; j++) { /* w[h + j] weighs the bin j before the output bin (lag j) */
        double v = causal && j < 0 ? 0.0 : exp(-0.5 * ((double)j / s) * ((double)j / s));
        w[h + j] = v;
        sum += v;
    }
    for (int j = 0; j < nw; j++) w[j] /= sum;
    memcpy(src, c->x, total * sizeof *src);
    const int B = c->n_bins, U = c->n_units;
    float *dst = c->x;
#ifdef SOMA_HAVE_OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (long kb = 0; kb < (long)c->n_trials * B; kb++) {
        const long k = kb / B, b = kb % B;
        const float *xs = src + (size_t)k * B * U;
        float *y = dst + (size_t)kb * U;
        for (int u = 0; u < U; u++) y[u] = 0.0f;
        const long jlo = b - (B - 1) > -h ? b - (B - 1) : -h, jhi = b < h ? b : h;
        for (long j = jlo; j <= jhi; j++) {
            const float wj = (float)w[h + j];
            if (wj == 0.0f) continue;
            const float *xr = xs + (size_t)(b - j) * U;
            for (int u = 0; u < U; u++) y[u] += wj * xr[u];
        }
    }
    soma_free(w);
    soma_free(src);
    return SOMA_OK;
}

soma_status soma_recording_bin(const soma_recording *r, const soma_bin_opts *o, soma_counts *out) {
    memset(out, 0, sizeof *out);
    if (!r || !o) return soma_error(SOMA_ERR_ARG, "bin: NULL recording or options");
    const double bin = o->bin_ms;
    if (!(bin > 0) || !isfinite(bin)) return soma_error(SOMA_ERR_ARG, "bin: --bin-ms %g must be > 0", bin);
    if (o->smooth_ms < 0 || !isfinite(o->smooth_ms))
        return soma_error(SOMA_ERR_ARG, "bin: smoothing sigma %g ms must be >= 0", o->smooth_ms);
    if (r->n_units < 1) return soma_error(SOMA_ERR_ARG, "bin: the recording has no units");
    double *t0 = NULL;
    int n_trials, n_bins;
    if (!o->align) {
        const double span = (r->spikes.t_stop - r->spikes.t_start) / bin;
        if (span > 2e9) return soma_error(SOMA_ERR_ARG, "bin: %.3g bins of %g ms; use wider bins", span, bin);
        n_trials = 1;
        n_bins = (int)floor(span + EDGE_EPS) + 1;
        t0 = soma_alloc(1, sizeof *t0);
        if (!t0) return soma_error(SOMA_ERR_NOMEM, "bin: out of memory");
        t0[0] = r->spikes.t_start;
    } else {
        if (r->n_trials < 1) return soma_error(SOMA_ERR_ARG, "bin: align on '%s' but the file has no trials", o->align);
        const double *ev = soma_recording_col(r, o->align);
        if (!ev) return soma_error(SOMA_ERR_ARG, "bin: no trial column '%s' to align on", o->align);
        if (!(o->post_ms > o->pre_ms) || !isfinite(o->pre_ms) || !isfinite(o->post_ms))
            return soma_error(SOMA_ERR_ARG, "bin: window %g..%g ms is empty", o->pre_ms, o->post_ms);
        const double nb = floor((o->post_ms - o->pre_ms) / bin + EDGE_EPS);
        if (nb < 1 || nb > 2e9)
            return soma_error(SOMA_ERR_ARG, "bin: window %g..%g ms holds %.0f bins of %g ms", o->pre_ms, o->post_ms, nb,
                              bin);
        n_trials = r->n_trials;
        n_bins = (int)nb;
        const double scale = ev == r->trial_start || ev == r->trial_stop ? 1.0 : 1000.0;
        t0 = soma_alloc((size_t)n_trials, sizeof *t0);
        if (!t0) return soma_error(SOMA_ERR_NOMEM, "bin: out of memory");
        for (int k = 0; k < n_trials; k++) {
            if (!isfinite(ev[k])) {
                soma_free(t0);
                return soma_error(SOMA_ERR_ARG, "bin: trial %d has no '%s' (NaN) to align on", k, o->align);
            }
            t0[k] = ev[k] * scale + o->pre_ms;
        }
    }
    soma_status st = soma_spikes_bin(&r->spikes, t0, n_trials, n_bins, bin, out);
    soma_free(t0);
    if (st == SOMA_OK && o->smooth_ms > 0) st = soma_counts_smooth(out, o->smooth_ms, o->causal);
    if (st != SOMA_OK) soma_counts_free(out);
    return st;
}

soma_status soma_series_align(const soma_series *s, const soma_counts *c, float *out) {
    if (!s || !c || !out || !c->x) return soma_error(SOMA_ERR_ARG, "align: NULL argument");
    if (s->n < 1 || s->dim < 1) return soma_error(SOMA_ERR_ARG, "align: series %s is empty", s->name ? s->name : "");
    const int D = s->dim, B = c->n_bins;
    const long n = s->n;
#ifdef SOMA_HAVE_OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (int k = 0; k < c->n_trials; k++) {
        const double start = c->t0 ? c->t0[k] : 0.0;
        long i = 0; /* t[i] <= tc < t[i + 1] once inside */
        for (int b = 0; b < B; b++) {
            const double tc = start + ((double)b + 0.5) * c->bin_ms;
            float *y = out + ((size_t)k * B + b) * D;
            if (tc <= s->t[0]) {
                for (int d = 0; d < D; d++) y[d] = s->data[d];
                continue;
            }
            if (tc >= s->t[n - 1]) {
                for (int d = 0; d < D; d++) y[d] = s->data[(size_t)(n - 1) * D + d];
                continue;
            }
            if (b == 0 || s->t[i] > tc) i = lower_bound_(s->t, n, tc) - 1;
            while (i + 1 < n - 1 && s->t[i + 1] <= tc) i++;
            if (i < 0) i = 0;
            const double dt = s->t[i + 1] - s->t[i];
            for (int d = 0; d < D; d++) {
                const double f0 = s->data[(size_t)i * D + d], f1 = s->data[(size_t)(i + 1) * D + d];
                y[d] = dt > 0 ? (float)((f1 - f0) / dt * (tc - s->t[i]) + f0) : (float)f1;
            }
        }
    }
    return SOMA_OK;
}

static int dbl_cmp_(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

soma_status soma_counts_psth(const soma_counts *c, const double *cond, soma_counts *out, double *levels,
                             int *n_levels) {
    memset(out, 0, sizeof *out);
    if (!c || !c->x) return soma_error(SOMA_ERR_ARG, "psth: no counts");
    const int K = c->n_trials;
    double *lv = soma_alloc((size_t)K, sizeof *lv);
    int *lvl = soma_alloc((size_t)K, sizeof *lvl);
    if (!lv || !lvl) {
        soma_free(lv);
        soma_free(lvl);
        return soma_error(SOMA_ERR_NOMEM, "psth: out of memory");
    }
    int L = 0;
    soma_status st = SOMA_OK;
    for (int k = 0; k < K; k++) {
        double v = cond ? cond[k] : 0.0;
        if (isnan(v)) {
            st = soma_error(SOMA_ERR_ARG, "psth: the condition of trial %d is NaN", k);
            goto out;
        }
        lv[k] = v;
    }
    qsort(lv, (size_t)K, sizeof *lv, dbl_cmp_);
    for (int k = 0; k < K; k++)
        if (L == 0 || lv[k] != lv[L - 1]) lv[L++] = lv[k];
    for (int k = 0; k < K; k++) {
        double v = cond ? cond[k] : 0.0;
        lvl[k] = (int)((double *)bsearch(&v, lv, (size_t)L, sizeof *lv, dbl_cmp_) - lv);
    }
    if ((st = soma_counts_alloc(out, L, c->n_bins, c->n_units, c->bin_ms)) != SOMA_OK) goto out;
    const size_t per = (size_t)c->n_bins * c->n_units;
#ifdef SOMA_HAVE_OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (int l = 0; l < L; l++) {
        float *y = out->x + (size_t)l * per;
        int cnt = 0;
        for (int k = 0; k < K; k++) {
            if (lvl[k] != l) continue;
            if (cnt++ == 0) out->t0[l] = c->t0 ? c->t0[k] : 0.0;
            const float *xk = c->x + (size_t)k * per;
            for (size_t i = 0; i < per; i++) y[i] += xk[i];
        }
        for (size_t i = 0; i < per; i++) y[i] /= (float)cnt;
    }
    if (levels) memcpy(levels, lv, (size_t)L * sizeof *lv);
    if (n_levels) *n_levels = L;
out:
    soma_free(lv);
    soma_free(lvl);
    return st;
}

soma_status soma_units_split(int n_units, int n_held_out, uint64_t seed, uint8_t *held_out) {
    if (n_units < 1 || n_held_out < 0 || n_held_out > n_units || !held_out)
        return soma_error(SOMA_ERR_ARG, "split: %d held-out units of %d", n_held_out, n_units);
    int *perm = soma_alloc((size_t)n_units, sizeof *perm);
    if (!perm) return soma_error(SOMA_ERR_NOMEM, "split: out of memory");
    soma_rng r;
    soma_rng_seed(&r, seed, 0);
    soma_rng_permutation(&r, perm, n_units);
    memset(held_out, 0, (size_t)n_units);
    for (int i = 0; i < n_held_out; i++) held_out[perm[i]] = 1;
    soma_free(perm);
    return SOMA_OK;
}

soma_status soma_units_mask(const soma_recording *r, const int64_t *ids, int n, uint8_t *mask) {
    if (!r || !mask || (n > 0 && !ids) || n < 0) return soma_error(SOMA_ERR_ARG, "units: NULL recording, ids or mask");
    memset(mask, 0, (size_t)r->n_units);
    for (int i = 0; i < n; i++) {
        int u = 0;
        while (u < r->n_units && r->unit_id[u] != ids[i]) u++;
        if (u == r->n_units) return soma_error(SOMA_ERR_ARG, "units: the recording has no unit with id %lld", (long long)ids[i]);
        mask[u] = 1;
    }
    return SOMA_OK;
}

soma_status soma_counts_select(const soma_counts *c, const uint8_t *mask, int want, soma_counts *out) {
    memset(out, 0, sizeof *out);
    if (!c || !c->x || !mask) return soma_error(SOMA_ERR_ARG, "select: NULL counts or mask");
    int m = 0;
    for (int u = 0; u < c->n_units; u++) m += (mask[u] != 0) == (want != 0);
    if (m == 0) return soma_error(SOMA_ERR_ARG, "select: no unit of %d selected", c->n_units);
    SOMA_TRY(soma_counts_alloc(out, c->n_trials, c->n_bins, m, c->bin_ms));
    if (c->t0) memcpy(out->t0, c->t0, (size_t)c->n_trials * sizeof *c->t0);
    const size_t rows = (size_t)c->n_trials * c->n_bins;
    for (size_t i = 0; i < rows; i++) {
        const float *x = c->x + i * c->n_units;
        float *y = out->x + i * m;
        for (int u = 0, j = 0; u < c->n_units; u++)
            if ((mask[u] != 0) == (want != 0)) y[j++] = x[u];
    }
    return SOMA_OK;
}
