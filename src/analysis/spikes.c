/* Spike-train statistics over a soma_spikes record (declared in soma/analysis.h).
 *
 * Definitions (the reference is tests/ref/gen_spikes.py, which computes the same with NumPy
 * and SciPy):
 *
 *   Window. Every statistic reads the window [t_start, t_stop] from the record; its length
 *   T = t_stop - t_start must be positive. Every spike in the record must lie inside it (a
 *   record filled by soma_spikes_push ends at its last spike, so a spike exactly at t_stop
 *   is allowed). All n_neurons neurons count, silent ones included, unless a statistic says
 *   otherwise.
 *
 *   Rates: spikes of a neuron / T (every spike of the record counts, one at t_stop too).
 *
 *   CV: per neuron, the ISIs of consecutive spikes; std (ddof = 0) / mean. Needs at least 3
 *   spikes (2 intervals) and a positive mean interval, else NaN. The mean is over the neurons
 *   with a CV.
 *
 *   Bins (Fano, correlation, synchrony): B = floor(T / bin) whole bins from t_start; a bin
 *   that would straddle the window end is dropped, and so are the spikes past the last whole
 *   bin (so a spike exactly at t_stop never counts when T is a multiple of bin). Spike t goes
 *   to bin floor((t - t_start) / bin + 1e-9): the 1e-9 keeps a spike at a bin edge computed as
 *   k * dt in floating point in the bin that starts there. Moments over bins use ddof = 0.
 *   B must be at least 2.
 *
 *   Fano: var / mean of a neuron's counts, averaged over the neurons with at least one
 *   counted spike (NaN when none).
 *
 *   Correlation: Pearson's r of two neurons' counts, averaged over pairs of distinct
 *   "active" neurons: those whose counts vary over the bins (a silent neuron, or one with the
 *   same count in every bin, has no correlation). When there are at most max_pairs such
 *   pairs, all of them; else max_pairs distinct pairs drawn uniformly (Floyd's algorithm on
 *   the pair index) from seed. NaN when there is no pair. Memory O(n_spikes + n_neurons +
 *   max_pairs): a pair's product sum merges the two neurons' sorted bin lists, so no
 *   [neurons, bins] count matrix and nothing of O(N^2) is held.
 *
 *   Synchrony chi (Golomb 2007): chi^2 = Var_b(A) / mean_i Var_b(c_i), A(b) = mean_i c_i(b)
 *   over all n_neurons neurons. NaN when no neuron's count varies.
 *
 *   Population rate: spikes in bin b / (n_neurons * bin); bins are [t_start + b bin,
 *   t_start + (b+1) bin) with the same edge rule; bins reaching past t_stop hold only the
 *   spikes recorded there (the caller chooses n_bins).
 *
 *   Spectrum: Welch's average of periodograms (SciPy's scipy.signal.welch defaults made
 *   explicit): segments of L samples, L the largest power of two <= n / 16 and at least 16,
 *   overlapping by L / 2 (the tail that fills no whole segment is dropped); each segment has
 *   its mean removed and is multiplied by a periodic Hann window; the power of bins
 *   0 < k < L/2 is doubled (one-sided spectrum). Frequencies k / (L dt) for k = 0..L/2; the
 *   resolution is 1000 / (L dt) Hz. Averaging ~30 segments is what makes white noise give a
 *   ratio near 1 (about 1.5 for n = 10^4; a single raw periodogram would give ln(n/2), ~8).
 *   The peak is the first largest power at or above fmin; the ratio divides it by the mean
 *   power at or above fmin. NaN (both) for a constant signal.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "soma/analysis.h"

#define SPIKES_MAX_BINS 2147483647L
#define BIN_EPS 1e-9

// --- checks and binning ----------------------------------------------------------------

/* The record is well-formed: a positive window, every spike in it, in time order, ids in
 * range. O(n). */
static soma_status check_(const soma_spikes *s, const char *fn) {
    if (!s) return soma_error(SOMA_ERR_ARG, "%s: NULL spike record", fn);
    if (s->n_neurons < 1) return soma_error(SOMA_ERR_ARG, "%s: record of %d neurons", fn, s->n_neurons);
    if (s->n < 0 || (s->n > 0 && (!s->id || !s->t)))
        return soma_error(SOMA_ERR_ARG, "%s: record holds %ld spikes but no arrays", fn, s->n);
    if (!isfinite(s->t_start) || !isfinite(s->t_stop) || !(s->t_stop > s->t_start))
        return soma_error(SOMA_ERR_ARG, "%s: empty or bad window [%g, %g] ms", fn, s->t_start, s->t_stop);
    double prev = s->t_start;
    for (long k = 0; k < s->n; k++) {
        if (s->id[k] < 0 || s->id[k] >= s->n_neurons)
            return soma_error(SOMA_ERR_ARG, "%s: spike %ld: neuron %d outside 0..%d", fn, k, s->id[k],
                              s->n_neurons - 1);
        double t = s->t[k];
        if (!(t >= prev) || !(t <= s->t_stop))
            return soma_error(SOMA_ERR_ARG, "%s: spike %ld: time %g ms out of order or outside [%g, %g]", fn, k,
                              t, s->t_start, s->t_stop);
        prev = t;
    }
    return SOMA_OK;
}

static soma_status check_bin_(double bin, const char *fn) {
    if (!isfinite(bin) || !(bin > 0)) return soma_error(SOMA_ERR_ARG, "%s: bin %g ms (must be > 0)", fn, bin);
    return SOMA_OK;
}

/* Bin of time t from t0 (may be negative or past the last bin; the caller filters). */
static long bin_of_(double t, double t0, double bin) {
    double q = floor((t - t0) / bin + BIN_EPS);
    return q >= (double)SPIKES_MAX_BINS ? SPIKES_MAX_BINS : (long)q;
}

/* Whole bins in the window; at least 2. */
static soma_status n_bins_(const soma_spikes *s, double bin, const char *fn, long *B) {
    SOMA_TRY(check_bin_(bin, fn));
    double q = floor((s->t_stop - s->t_start) / bin + BIN_EPS);
    if (q < 2)
        return soma_error(SOMA_ERR_ARG, "%s: the window [%g, %g] ms holds %.0f whole bins of %g ms; at least 2", fn,
                          s->t_start, s->t_stop, q, bin);
    if (q >= (double)SPIKES_MAX_BINS)
        return soma_error(SOMA_ERR_ARG, "%s: %.3g bins of %g ms; at most 2^31", fn, q, bin);
    *B = (long)q;
    return SOMA_OK;
}

/* Per-neuron sum and sum of squares of the counts in bins 0..B-1: one pass over the spikes
 * (each neuron's spikes arrive in bin order). sum, sumsq: [n_neurons]. */
static soma_status bin_moments_(const soma_spikes *s, double bin, long B, double *sum, double *sumsq) {
    int N = s->n_neurons;
    long *cur = soma_alloc((size_t)N, sizeof *cur), *cnt = soma_calloc((size_t)N, sizeof *cnt);
    if (!cur || !cnt) {
        soma_free(cur);
        soma_free(cnt);
        return SOMA_ERR_NOMEM;
    }
    for (int i = 0; i < N; i++) cur[i] = -1, sum[i] = 0, sumsq[i] = 0;
    for (long k = 0; k < s->n; k++) {
        long b = bin_of_(s->t[k], s->t_start, bin);
        if (b < 0 || b >= B) continue;
        int i = s->id[k];
        if (cur[i] != b) {
            sumsq[i] += (double)cnt[i] * (double)cnt[i];
            cur[i] = b;
            cnt[i] = 0;
        }
        cnt[i]++;
        sum[i] += 1;
    }
    for (int i = 0; i < N; i++) sumsq[i] += (double)cnt[i] * (double)cnt[i];
    soma_free(cur);
    soma_free(cnt);
    return SOMA_OK;
}

/* Variance (ddof 0) over B bins from a sum and a sum of squares of integers. */
static double var_(double sum, double sumsq, long B) {
    double v = (sumsq - sum * sum / (double)B) / (double)B;
    return v > 0 ? v : 0;
}

// --- per-neuron statistics -------------------------------------------------------------

soma_status soma_spike_rates(const soma_spikes *s, double *rates) {
    SOMA_TRY(check_(s, "spike_rates"));
    if (!rates) return soma_error(SOMA_ERR_ARG, "spike_rates: NULL output");
    for (int i = 0; i < s->n_neurons; i++) rates[i] = 0;
    for (long k = 0; k < s->n; k++) rates[s->id[k]] += 1;
    double per_s = 1000.0 / (s->t_stop - s->t_start);
    for (int i = 0; i < s->n_neurons; i++) rates[i] *= per_s;
    return SOMA_OK;
}

soma_status soma_spike_cv(const soma_spikes *s, double *cv, double *mean_cv) {
    SOMA_TRY(check_(s, "spike_cv"));
    int N = s->n_neurons;
    /* Welford's running mean and squared deviations of each neuron's intervals */
    double *last = soma_alloc((size_t)N, sizeof *last), *mean = soma_calloc((size_t)N, sizeof *mean),
           *m2 = soma_calloc((size_t)N, sizeof *m2);
    long *cnt = soma_calloc((size_t)N, sizeof *cnt);
    if (!last || !mean || !m2 || !cnt) {
        soma_free(last);
        soma_free(mean);
        soma_free(m2);
        soma_free(cnt);
        return SOMA_ERR_NOMEM;
    }
    for (long k = 0; k < s->n; k++) {
        int i = s->id[k];
        if (cnt[i] > 0) {
            double isi = s->t[k] - last[i], d = isi - mean[i];
            long m = cnt[i]; /* intervals so far, this one included */
            mean[i] += d / (double)m;
            m2[i] += d * (isi - mean[i]);
        }
        last[i] = s->t[k];
        cnt[i]++;
    }
    double acc = 0;
    long used = 0;
    for (int i = 0; i < N; i++) {
        double c = NAN;
        if (cnt[i] >= 3 && mean[i] > 0) c = sqrt(m2[i] / (double)(cnt[i] - 1)) / mean[i];
        if (cv) cv[i] = c;
        if (!isnan(c)) acc += c, used++;
    }
    if (mean_cv) *mean_cv = used ? acc / (double)used : NAN;
    soma_free(last);
    soma_free(mean);
    soma_free(m2);
    soma_free(cnt);
    return SOMA_OK;
}

soma_status soma_spike_fano(const soma_spikes *s, double bin, double *mean_fano) {
    SOMA_TRY(check_(s, "spike_fano"));
    if (!mean_fano) return soma_error(SOMA_ERR_ARG, "spike_fano: NULL output");
    long B;
    SOMA_TRY(n_bins_(s, bin, "spike_fano", &B));
    int N = s->n_neurons;
    double *sum = soma_alloc((size_t)N, sizeof *sum), *sumsq = soma_alloc((size_t)N, sizeof *sumsq);
    soma_status st = sum && sumsq ? bin_moments_(s, bin, B, sum, sumsq) : SOMA_ERR_NOMEM;
    if (st == SOMA_OK) {
        double acc = 0;
        long used = 0;
        for (int i = 0; i < N; i++) {
            if (sum[i] <= 0) continue;
            acc += var_(sum[i], sumsq[i], B) / (sum[i] / (double)B);
            used++;
        }
        *mean_fano = used ? acc / (double)used : NAN;
    }
    soma_free(sum);
    soma_free(sumsq);
    return st;
}

// --- population statistics -------------------------------------------------------------

soma_status soma_spike_pop_rate(const soma_spikes *s, double bin, float *hz, long n_bins) {
    SOMA_TRY(check_(s, "spike_pop_rate"));
    SOMA_TRY(check_bin_(bin, "spike_pop_rate"));
    if (!hz || n_bins < 1) return soma_error(SOMA_ERR_ARG, "spike_pop_rate: %ld bins (need an output of >= 1)", n_bins);
    double *acc = soma_calloc((size_t)n_bins, sizeof *acc);
    if (!acc) return SOMA_ERR_NOMEM;
    for (long k = 0; k < s->n; k++) {
        long b = bin_of_(s->t[k], s->t_start, bin);
        if (b >= 0 && b < n_bins) acc[b] += 1;
    }
    double scale = 1000.0 / ((double)s->n_neurons * bin);
    for (long b = 0; b < n_bins; b++) hz[b] = (float)(acc[b] * scale);
    soma_free(acc);
    return SOMA_OK;
}

soma_status soma_spike_synchrony(const soma_spikes *s, double bin, double *chi) {
    SOMA_TRY(check_(s, "spike_synchrony"));
    if (!chi) return soma_error(SOMA_ERR_ARG, "spike_synchrony: NULL output");
    long B;
    SOMA_TRY(n_bins_(s, bin, "spike_synchrony", &B));
    int N = s->n_neurons;
    double *sum = soma_alloc((size_t)N, sizeof *sum), *sumsq = soma_alloc((size_t)N, sizeof *sumsq);
    double *tot = soma_calloc((size_t)B, sizeof *tot);
    soma_status st = sum && sumsq && tot ? bin_moments_(s, bin, B, sum, sumsq) : SOMA_ERR_NOMEM;
    if (st == SOMA_OK) {
        for (long k = 0; k < s->n; k++) {
            long b = bin_of_(s->t[k], s->t_start, bin);
            if (b >= 0 && b < B) tot[b] += 1;
        }
        double ts = 0, ts2 = 0, vi = 0;
        for (long b = 0; b < B; b++) ts += tot[b], ts2 += tot[b] * tot[b];
        for (int i = 0; i < N; i++) vi += var_(sum[i], sumsq[i], B);
        double var_pop = var_(ts, ts2, B) / ((double)N * (double)N); /* A = total / N */
        vi /= (double)N;
        *chi = vi > 0 ? sqrt(var_pop / vi) : NAN;
    }
    soma_free(sum);
    soma_free(sumsq);
    soma_free(tot);
    return st;
}

// --- pairwise correlation --------------------------------------------------------------

/* sum_b c_a(b) c_b(b) from two sorted lists of bin indices (a bin repeats once per spike). */
static double dot_bins_(const long *x, long nx, const long *y, long ny) {
    double dot = 0;
    long p = 0, q = 0;
    while (p < nx && q < ny) {
        if (x[p] < y[q]) p++;
        else if (x[p] > y[q]) q++;
        else {
            long v = x[p], rp = 0, rq = 0;
            while (p < nx && x[p] == v) p++, rp++;
            while (q < ny && y[q] == v) q++, rq++;
            dot += (double)rp * (double)rq;
        }
    }
    return dot;
}

/* The pair (a, b), a < b < n, at index p of the row-major upper triangle. */
static void pair_of_(uint64_t p, uint64_t n, uint64_t *a, uint64_t *b) {
    /* row a starts at off(a) = a n - a (a + 1) / 2 */
    double m = (double)(2 * n - 1);
    double r = (m - sqrt(m * m - 8.0 * (double)p)) / 2;
    uint64_t i = r < 0 ? 0 : (uint64_t)r;
    if (i > n - 2) i = n - 2;
#define OFF_(k) ((k) * n - (k) * ((k) + 1) / 2)
    while (i > 0 && OFF_(i) > p) i--;
    while (i + 1 < n - 1 && OFF_(i + 1) <= p) i++;
    *a = i;
    *b = p - OFF_(i) + i + 1;
#undef OFF_
}

typedef struct corr_ctx_ {
    const long *bins, *start; /* CSR: neuron i's bins are bins[start[i] .. start[i+1]) */
    const int *act;           /* active neurons */
    const double *mean, *sd;  /* per neuron, over bins */
    long B;
} corr_ctx_;

static double corr_pair_(const corr_ctx_ *c, uint64_t pa, uint64_t pb) {
    int a = c->act[pa], b = c->act[pb];
    double dot = dot_bins_(c->bins + c->start[a], c->start[a + 1] - c->start[a], c->bins + c->start[b],
                           c->start[b + 1] - c->start[b]);
    return (dot / (double)c->B - c->mean[a] * c->mean[b]) / (c->sd[a] * c->sd[b]);
}

/* Open-addressing set of pair indices (Floyd's sampling). */
static int set_insert_(uint64_t *tab, uint64_t mask, uint64_t key) {
    uint64_t h = (key + 1) * 0x9e3779b97f4a7c15ULL;
    for (uint64_t j = h >> 20;; j++) {
        uint64_t *e = &tab[j & mask];
        if (*e == key + 1) return 0;
        if (*e == 0) {
            *e = key + 1;
            return 1;
        }
    }
}

soma_status soma_spike_corr(const soma_spikes *s, double bin, long max_pairs, uint64_t seed, double *mean_corr) {
    SOMA_TRY(check_(s, "spike_corr"));
    if (!mean_corr) return soma_error(SOMA_ERR_ARG, "spike_corr: NULL output");
    if (max_pairs < 1) return soma_error(SOMA_ERR_ARG, "spike_corr: max_pairs %ld (must be >= 1)", max_pairs);
    long B;
    SOMA_TRY(n_bins_(s, bin, "spike_corr", &B));
    int N = s->n_neurons;
    soma_status st = SOMA_OK;
    double *sum = soma_alloc((size_t)N, sizeof *sum), *sumsq = soma_alloc((size_t)N, sizeof *sumsq);
    double *mean = soma_alloc((size_t)N, sizeof *mean), *sd = soma_alloc((size_t)N, sizeof *sd);
    long *start = soma_calloc((size_t)N + 1, sizeof *start), *fill = soma_alloc((size_t)N, sizeof *fill);
    int *act = soma_alloc((size_t)N, sizeof *act);
    long *bins = NULL;
    uint64_t *tab = NULL;
    if (!sum || !sumsq || !mean || !sd || !start || !fill || !act) {
        st = SOMA_ERR_NOMEM;
        goto out;
    }
    if ((st = bin_moments_(s, bin, B, sum, sumsq)) != SOMA_OK) goto out;
    /* each neuron's counted spikes as a sorted list of bins (a counting sort by neuron) */
    long n_in = 0;
    for (int i = 0; i < N; i++) start[i + 1] = start[i] + (long)sum[i], fill[i] = start[i];
    n_in = start[N];
    bins = soma_alloc(n_in > 0 ? (size_t)n_in : 1, sizeof *bins);
    if (!bins) {
        st = SOMA_ERR_NOMEM;
        goto out;
    }
    for (long k = 0; k < s->n; k++) {
        long b = bin_of_(s->t[k], s->t_start, bin);
        if (b >= 0 && b < B) bins[fill[s->id[k]]++] = b;
    }
    int n_act = 0;
    for (int i = 0; i < N; i++) {
        double v = var_(sum[i], sumsq[i], B);
        mean[i] = sum[i] / (double)B;
        sd[i] = sqrt(v);
        if (v > 0) act[n_act++] = i;
    }
    corr_ctx_ c = {bins, start, act, mean, sd, B};
    uint64_t n = (uint64_t)n_act, M = n * (n - (n > 0)) / 2;
    double acc = 0;
    if (M == 0) {
        *mean_corr = NAN;
    } else if (M <= (uint64_t)max_pairs) {
        for (uint64_t a = 0; a < n; a++)
            for (uint64_t b = a + 1; b < n; b++) acc += corr_pair_(&c, a, b);
        *mean_corr = acc / (double)M;
    } else {
        uint64_t k = (uint64_t)max_pairs, cap = 16;
        while (cap < 2 * k) cap *= 2;
        if (!(tab = soma_calloc((size_t)cap, sizeof *tab))) {
            st = SOMA_ERR_NOMEM;
            goto out;
        }
        soma_rng r;
        soma_rng_seed(&r, seed, 0);
        for (uint64_t j = M - k; j < M; j++) { /* Floyd: k distinct indices of 0..M-1 */
            uint64_t t = soma_rng_below(&r, j + 1);
            if (!set_insert_(tab, cap - 1, t)) {
                set_insert_(tab, cap - 1, j);
                t = j;
            }
            uint64_t a, b;
            pair_of_(t, n, &a, &b);
            acc += corr_pair_(&c, a, b);
        }
        *mean_corr = acc / (double)k;
    }
out:
    soma_free(sum);
    soma_free(sumsq);
    soma_free(mean);
    soma_free(sd);
    soma_free(start);
    soma_free(fill);
    soma_free(act);
    soma_free(bins);
    soma_free(tab);
    return st;
}

// --- spectrum --------------------------------------------------------------------------

/* In-place radix-2 FFT of re/im[L] (L a power of two), forward (e^{-2 pi i k n / L}). cs:
 * cos/sin tables [L/2] of 2 pi k / L. */
static void fft_(double *re, double *im, long L, const double *cs, const double *sn) {
    for (long i = 1, j = 0; i < L; i++) { /* bit reversal */
        long bit = L >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j |= bit;
        if (i < j) {
            double t = re[i];
            re[i] = re[j], re[j] = t;
            t = im[i];
            im[i] = im[j], im[j] = t;
        }
    }
    for (long len = 2; len <= L; len <<= 1) {
        long half = len >> 1, step = L / len;
        for (long i = 0; i < L; i += len)
            for (long k = 0; k < half; k++) {
                double wr = cs[k * step], wi = -sn[k * step];
                long p = i + k, q = p + half;
                double xr = re[q] * wr - im[q] * wi, xi = re[q] * wi + im[q] * wr;
                re[q] = re[p] - xr, im[q] = im[p] - xi;
                re[p] += xr, im[p] += xi;
            }
    }
}

soma_status soma_spectrum_peak(const float *x, long n, double dt, double fmin, double *peak_hz,
                               double *peak_ratio) {
    if (!x || !peak_hz || !peak_ratio) return soma_error(SOMA_ERR_ARG, "spectrum_peak: NULL argument");
    if (n < 32) return soma_error(SOMA_ERR_ARG, "spectrum_peak: %ld samples; at least 32", n);
    if (!isfinite(dt) || !(dt > 0)) return soma_error(SOMA_ERR_ARG, "spectrum_peak: dt %g ms (must be > 0)", dt);
    if (!isfinite(fmin) || fmin < 0) return soma_error(SOMA_ERR_ARG, "spectrum_peak: fmin %g Hz (must be >= 0)", fmin);
    for (long i = 0; i < n; i++)
        if (!isfinite(x[i])) return soma_error(SOMA_ERR_ARG, "spectrum_peak: x[%ld] is not finite", i);
    long L = 16;
    while (L * 2 <= n / 16) L *= 2;
    double df = 1000.0 / ((double)L * dt);
    long k0 = (long)ceil(fmin / df - 1e-9);
    if (k0 > L / 2)
        return soma_error(SOMA_ERR_ARG, "spectrum_peak: fmin %g Hz is above the Nyquist frequency %g Hz", fmin,
                          df * (double)(L / 2));
    double *buf = soma_alloc((size_t)(4 * L + L / 2 + 1), sizeof *buf);
    if (!buf) return SOMA_ERR_NOMEM;
    double *re = buf, *im = re + L, *cs = im + L, *sn = cs + L / 2, *pw = sn + L / 2;
    const double two_pi = 6.283185307179586476925;
    for (long k = 0; k < L / 2; k++) cs[k] = cos(two_pi * (double)k / (double)L), sn[k] = sin(two_pi * (double)k / (double)L);
    for (long k = 0; k <= L / 2; k++) pw[k] = 0;
    long step = L / 2, n_seg = (n - L) / step + 1;
    for (long g = 0; g < n_seg; g++) {
        const float *seg = x + g * step;
        double m = 0;
        for (long i = 0; i < L; i++) m += seg[i];
        m /= (double)L;
        for (long i = 0; i < L; i++) {
            double w = 0.5 - 0.5 * cos(two_pi * (double)i / (double)L);
            re[i] = w * ((double)seg[i] - m);
            im[i] = 0;
        }
        fft_(re, im, L, cs, sn);
        for (long k = 0; k <= L / 2; k++) pw[k] += re[k] * re[k] + im[k] * im[k];
    }
    for (long k = 1; k < L / 2; k++) pw[k] *= 2;
    double best = -1, tot = 0;
    long kb = k0;
    for (long k = k0; k <= L / 2; k++) {
        tot += pw[k];
        if (pw[k] > best) best = pw[k], kb = k;
    }
    double mean = tot / (double)(L / 2 - k0 + 1);
    if (mean > 0) {
        *peak_hz = (double)kb * df;
        *peak_ratio = best / mean;
    } else {
        *peak_hz = *peak_ratio = NAN;
    }
    soma_free(buf);
    return SOMA_OK;
}
