// Multi-session synthetic data (soma/neuro.h, "multi-session synthetic data"): one shared
// rotational latent system recorded in many sessions through different subsets of a shared
// neuron pool, with per-session gains and offsets, hand velocity and labelled anomaly trials.
// Serial on purpose: every draw comes from seeded streams (the family from stream 0, session i
// from stream i + 1), so a session is the same bit for bit wherever and however it is made.
#include <math.h>
#include <string.h>

#include "soma/neuro.h"

static const double PI_ = 3.14159265358979323846;

soma_sessions_opts soma_sessions_opts_default(void) {
    return (soma_sessions_opts){
        .n_trials = 100,
        .n_bins = 50,
        .n_pool = 200,
        .units_min = 40,
        .units_max = 80,
        .n_latents = 8,
        .n_conds = 0,
        .bin_ms = 20.0,
        .period_min = 12.0,
        .period_max = 60.0,
        .base_rate_hz = 15.0,
        .w_scale = 0.8,
        .gain_sd = 0.3,
        .offset_sd = 0.3,
        .init_noise = 0.2,
        .speed_sd = 0.05,
        .anomaly_frac = 0.0,
        .freq_scale = 2.0,
        .pulse = 1.5,
        .unit_frac = 0.3,
        .lif_rate_hz = 400.0,
        .seed = 1,
    };
}

static const char *const anomaly_names[SOMA_ANOMALY_KIND_COUNT] = {"none", "dynamics", "pulse", "units"};

const char *soma_anomaly_kind_name(soma_anomaly_kind k) {
    return (k >= 0 && k < SOMA_ANOMALY_KIND_COUNT) ? anomaly_names[k] : "?";
}

void soma_session_free(soma_session *s) {
    if (!s) return;
    soma_counts_free(&s->spikes);
    soma_free(s->rates);
    soma_free(s->latents);
    soma_free(s->beh);
    soma_free(s->unit_pool);
    soma_free(s->gain);
    soma_free(s->offset);
    soma_free(s->angle);
    soma_free(s->anomaly);
    memset(s, 0, sizeof *s);
}

static soma_status check_opts(const soma_sessions_opts *o, int index) {
    if (!o) return soma_error(SOMA_ERR_ARG, "sessions: NULL options");
    if (index < 0 || index > 1000000) return soma_error(SOMA_ERR_ARG, "sessions: index %d (0..1e6)", index);
    if (o->n_trials < 1 || o->n_bins < 1 || o->n_pool < 1 || o->units_min < 1 || o->n_latents < 2)
        return soma_error(SOMA_ERR_ARG, "sessions: %d trials, %d bins, pool %d, %d units min, %d latents (each >= 1; "
                          "latents >= 2)", o->n_trials, o->n_bins, o->n_pool, o->units_min, o->n_latents);
    if (o->n_latents % 2 || o->n_latents > 1024)
        return soma_error(SOMA_ERR_ARG, "sessions: n_latents %d must be even (pairs of rotation planes) and <= 1024",
                          o->n_latents);
    if (o->units_max < o->units_min || o->units_max > o->n_pool || o->n_pool > 1000000)
        return soma_error(SOMA_ERR_ARG, "sessions: units %d..%d must lie within the pool of %d (<= 1e6)", o->units_min,
                          o->units_max, o->n_pool);
    if ((double)o->n_trials * o->n_bins * (o->units_max > o->n_latents ? o->units_max : o->n_latents) > 2e9)
        return soma_error(SOMA_ERR_ARG, "sessions: %d trials x %d bins x %d units is too large", o->n_trials,
                          o->n_bins, o->units_max);
    if (o->n_conds < 0) return soma_error(SOMA_ERR_ARG, "sessions: n_conds %d (>= 0)", o->n_conds);
    if (!(o->bin_ms > 0 && o->bin_ms <= 1e4) || !(o->period_min >= 2) || !(o->period_max >= o->period_min) ||
        !(o->period_max <= 1e6))
        return soma_error(SOMA_ERR_ARG, "sessions: bin_ms %g (0..1e4), periods %g..%g bins (2 <= min <= max)",
                          o->bin_ms, o->period_min, o->period_max);
    if (!(o->base_rate_hz > 0 && o->base_rate_hz < 1e4) || !(o->w_scale >= 0 && o->w_scale <= 5) ||
        !(o->gain_sd >= 0 && o->gain_sd <= 3) || !(o->offset_sd >= 0 && o->offset_sd <= 3))
        return soma_error(SOMA_ERR_ARG, "sessions: base rate %g Hz (0..1e4), w_scale %g (0..5), gain_sd %g and "
                          "offset_sd %g (0..3)", o->base_rate_hz, o->w_scale, o->gain_sd, o->offset_sd);
    if (!(o->init_noise >= 0 && o->init_noise <= 10) || !(o->speed_sd >= 0 && o->speed_sd <= 1))
        return soma_error(SOMA_ERR_ARG, "sessions: init_noise %g (0..10), speed_sd %g (0..1)", o->init_noise,
                          o->speed_sd);
    if (!(o->anomaly_frac >= 0 && o->anomaly_frac <= 1) || !(o->freq_scale > 0 && o->freq_scale <= 100) ||
        !(o->pulse >= 0 && o->pulse <= 100) || !(o->unit_frac > 0 && o->unit_frac <= 1))
        return soma_error(SOMA_ERR_ARG, "sessions: anomaly_frac %g (0..1), freq_scale %g (0..100], pulse %g (0..100), "
                          "unit_frac %g (0..1]", o->anomaly_frac, o->freq_scale, o->pulse, o->unit_frac);
    if (!(o->lif_rate_hz > 0 && o->lif_rate_hz <= 1e5))
        return soma_error(SOMA_ERR_ARG, "sessions: lif_rate_hz %g (0..1e5]", o->lif_rate_hz);
    return SOMA_OK;
}

// --- the family: pool, dynamics, initial-state map, velocity map (stream 0) ----------------

typedef struct family {
    int L, P;
    double *omega; /* [L/2] radians per bin */
    double *M;     /* [L, 3] initial state = M [cos a, sin a, 1] / sqrt(2) */
    double *B;     /* [2, L] velocity map */
    double *w;     /* [P, L] pool readouts */
    double *b;     /* [P] pool baselines (log expected count per bin) */
} family;

static void family_free(family *f) {
    soma_free(f->omega), soma_free(f->M), soma_free(f->B), soma_free(f->w), soma_free(f->b);
}

static soma_status family_make(const soma_sessions_opts *o, family *f) {
    const int L = o->n_latents, P = o->n_pool;
    *f = (family){.L = L, .P = P};
    f->omega = soma_alloc((size_t)L / 2, sizeof(double));
    f->M = soma_alloc((size_t)L * 3, sizeof(double));
    f->B = soma_alloc((size_t)2 * L, sizeof(double));
    f->w = soma_alloc((size_t)P * L, sizeof(double));
    f->b = soma_alloc((size_t)P, sizeof(double));
    if (!f->omega || !f->M || !f->B || !f->w || !f->b) {
        family_free(f);
        return SOMA_ERR_NOMEM;
    }
    const int np = L / 2;
    for (int j = 0; j < np; j++) {
        const double period = np > 1 ? o->period_min + (o->period_max - o->period_min) * j / (np - 1) : o->period_min;
        f->omega[j] = 2.0 * PI_ / period;
    }
    soma_rng r;
    soma_rng_seed(&r, o->seed, 0);
    for (int i = 0; i < L * 3; i++) f->M[i] = soma_rng_normal(&r);
    for (int i = 0; i < 2 * L; i++) f->B[i] = soma_rng_normal(&r) / sqrt((double)L);
    const double wsd = o->w_scale / sqrt((double)L), b0 = log(o->base_rate_hz * o->bin_ms / 1000.0);
    for (int p = 0; p < P; p++) {
        for (int l = 0; l < L; l++) f->w[(size_t)p * L + l] = wsd * soma_rng_normal(&r);
        f->b[p] = b0 + 0.3 * soma_rng_normal(&r);
    }
    return SOMA_OK;
}

/* The first n of a uniform random permutation of 0..P-1 into idx[P] (idx holds the rest after). */
static void partial_perm(soma_rng *r, int *idx, int P, int n) {
    for (int i = 0; i < P; i++) idx[i] = i;
    for (int i = 0; i < n && i < P - 1; i++) {
        const int j = i + (int)soma_rng_below(r, (uint64_t)(P - i));
        const int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

static int alloc_session(soma_session *s, int K, int T, int N, int L, double bin_ms) {
    if (soma_counts_alloc(&s->spikes, K, T, N, bin_ms) != SOMA_OK) return 0;
    const size_t KT = (size_t)K * T;
    s->rates = soma_alloc(KT * N, sizeof(float));
    s->latents = soma_alloc(KT * L, sizeof(float));
    s->beh = soma_alloc(KT * 2, sizeof(float));
    s->unit_pool = soma_alloc((size_t)N, sizeof(int));
    s->gain = soma_alloc((size_t)N, sizeof(float));
    s->offset = soma_alloc((size_t)N, sizeof(float));
    s->angle = soma_alloc((size_t)K, sizeof(float));
    s->anomaly = soma_calloc((size_t)K, 1);
    return s->rates && s->latents && s->beh && s->unit_pool && s->gain && s->offset && s->angle && s->anomaly;
}

soma_status soma_session_make(const soma_sessions_opts *o, int index, soma_session *out) {
    if (!out) return soma_error(SOMA_ERR_ARG, "sessions: NULL output");
    memset(out, 0, sizeof *out);
    SOMA_TRY(check_opts(o, index));
    family f;
    SOMA_TRY(family_make(o, &f));
    const int K = o->n_trials, T = o->n_bins, L = o->n_latents, P = o->n_pool;
    soma_rng r;
    soma_rng_seed(&r, o->seed, (uint64_t)index + 1);
    const int N = o->units_min + (int)soma_rng_below(&r, (uint64_t)(o->units_max - o->units_min + 1));
    int *perm = soma_alloc((size_t)P, sizeof(int)), *tu = soma_alloc((size_t)N, sizeof(int));
    double *x = soma_alloc((size_t)L * 2, sizeof(double)), *tg = soma_alloc((size_t)N * 2, sizeof(double));
    int *pool_t = soma_alloc((size_t)N, sizeof(int)); /* per trial: the pool neuron each unit shows (-1 silent) */
    if (!perm || !tu || !x || !tg || !pool_t || !alloc_session(out, K, T, N, L, o->bin_ms)) {
        soma_free(perm), soma_free(tu), soma_free(x), soma_free(tg), soma_free(pool_t);
        family_free(&f);
        soma_session_free(out);
        return SOMA_ERR_NOMEM;
    }
    out->n_latents = L;
    out->beh_dims = 2;
    out->index = index;
    partial_perm(&r, perm, P, N); /* perm[0..N) recorded, perm[N..P) the others */
    for (int u = 0; u < N; u++) {
        out->unit_pool[u] = perm[u];
        out->gain[u] = (float)exp(o->gain_sd * soma_rng_normal(&r));
        out->offset[u] = (float)(o->offset_sd * soma_rng_normal(&r));
    }
    const int np = L / 2;
    for (int k = 0; k < K; k++) {
        /* trial parameters, in a fixed order of draws */
        const double a = o->n_conds > 0 ? 2.0 * PI_ * (k % o->n_conds) / o->n_conds
                                        : 2.0 * PI_ * soma_rng_uniform(&r);
        const double speed = exp(o->speed_sd * soma_rng_normal(&r));
        soma_anomaly_kind kind = SOMA_ANOMALY_NONE;
        if (soma_rng_uniform(&r) < o->anomaly_frac)
            kind = (soma_anomaly_kind)(1 + soma_rng_below(&r, SOMA_ANOMALY_KIND_COUNT - 1));
        out->angle[k] = (float)a;
        out->anomaly[k] = (uint8_t)kind;
        const double u3[3] = {cos(a), sin(a), 1.0};
        for (int l = 0; l < L; l++) {
            double v = 0.0;
            for (int j = 0; j < 3; j++) v += f.M[l * 3 + j] * u3[j];
            x[l] = v / sqrt(2.0) + o->init_noise * soma_rng_normal(&r);
        }
        const double fs = speed * (kind == SOMA_ANOMALY_DYNAMICS ? o->freq_scale : 1.0);
        int pulse_bin = -1;
        double *kick = x + L;
        if (kind == SOMA_ANOMALY_PULSE) {
            pulse_bin = T / 4 + (int)soma_rng_below(&r, (uint64_t)(T / 2 > 0 ? T / 2 : 1));
            double nrm = 0.0;
            for (int l = 0; l < L; l++) {
                kick[l] = soma_rng_normal(&r);
                nrm += kick[l] * kick[l];
            }
            nrm = sqrt(nrm) > 0 ? sqrt(nrm) : 1.0;
            for (int l = 0; l < L; l++) kick[l] *= o->pulse * sqrt((double)L) / nrm;
        }
        for (int u = 0; u < N; u++) {
            pool_t[u] = out->unit_pool[u];
            tg[2 * u] = out->gain[u], tg[2 * u + 1] = out->offset[u];
        }
        if (kind == SOMA_ANOMALY_UNITS) {
            int n_a = (int)floor(o->unit_frac * N + 0.5);
            n_a = n_a < 1 ? 1 : n_a;
            partial_perm(&r, tu, N, n_a);
            const int n_drop = (n_a + 1) / 2, n_foreign = P - N;
            for (int i = 0; i < n_a; i++) {
                const int u = tu[i];
                if (i < n_drop || n_foreign < 1) {
                    pool_t[u] = -1;
                } else {
                    pool_t[u] = perm[N + (int)soma_rng_below(&r, (uint64_t)n_foreign)];
                    tg[2 * u] = exp(o->gain_sd * soma_rng_normal(&r));
                    tg[2 * u + 1] = o->offset_sd * soma_rng_normal(&r);
                }
            }
        }
        for (int t = 0; t < T; t++) {
            if (t == pulse_bin)
                for (int l = 0; l < L; l++) x[l] += kick[l];
            const size_t kt = (size_t)k * T + t;
            float *z = out->latents + kt * L;
            for (int l = 0; l < L; l++) z[l] = (float)x[l];
            for (int d = 0; d < 2; d++) {
                double v = 0.0;
                for (int l = 0; l < L; l++) v += f.B[d * L + l] * x[l];
                out->beh[kt * 2 + d] = (float)v;
            }
            float *rt = out->rates + kt * N, *ct = out->spikes.x + kt * N;
            for (int u = 0; u < N; u++) {
                const int p = pool_t[u];
                double lam = 0.0;
                if (p >= 0) {
                    double eta = 0.0;
                    for (int l = 0; l < L; l++) eta += f.w[(size_t)p * L + l] * x[l];
                    lam = exp(f.b[p] + tg[2 * u + 1] + tg[2 * u] * eta);
                }
                rt[u] = (float)lam;
                ct[u] = (float)soma_rng_poisson(&r, lam);
            }
            for (int j = 0; j < np; j++) { /* rotate each plane by omega_j * fs */
                const double th = f.omega[j] * fs, c = cos(th), s = sin(th);
                const double x0 = x[2 * j], x1 = x[2 * j + 1];
                x[2 * j] = c * x0 - s * x1;
                x[2 * j + 1] = s * x0 + c * x1;
            }
        }
    }
    soma_free(perm), soma_free(tu), soma_free(x), soma_free(tg), soma_free(pool_t);
    family_free(&f);
    return SOMA_OK;
}

soma_status soma_session_make_lif(const soma_sessions_opts *o, int index, soma_session *out) {
    if (!out) return soma_error(SOMA_ERR_ARG, "sessions: NULL output");
    memset(out, 0, sizeof *out);
    SOMA_TRY(check_opts(o, index));
    soma_rng r;
    soma_rng_seed(&r, o->seed, (uint64_t)index + 1);
    const int N = o->units_min + (int)soma_rng_below(&r, (uint64_t)(o->units_max - o->units_min + 1));
    if (N < 2) return soma_error(SOMA_ERR_ARG, "sessions: a LIF session needs at least 2 units (units_min %d)", N);
    const int K = o->n_trials, T = o->n_bins;
    soma_synth_lif_opts lo = soma_synth_lif_defaults();
    lo.n = N;
    lo.drive_hz = o->lif_rate_hz;
    lo.duration_ms = (double)K * T * o->bin_ms;
    if (lo.duration_ms > 3.6e6)
        return soma_error(SOMA_ERR_ARG, "sessions: a LIF session of %g ms (at most an hour)", lo.duration_ms);
    float *w = soma_alloc((size_t)N * N, sizeof(float));
    double *t0 = soma_alloc((size_t)K, sizeof(double));
    out->anomaly = soma_calloc((size_t)K, 1);
    if (!w || !t0 || !out->anomaly) {
        soma_free(w), soma_free(t0);
        soma_session_free(out);
        return SOMA_ERR_NOMEM;
    }
    soma_spikes sp;
    soma_status st = soma_synth_lif(&lo, soma_rng_u64(&r), &sp, w);
    if (st == SOMA_OK) {
        for (int k = 0; k < K; k++) t0[k] = (double)k * T * o->bin_ms;
        st = soma_spikes_bin(&sp, t0, K, T, o->bin_ms, &out->spikes);
        soma_spikes_free(&sp);
    }
    soma_free(w), soma_free(t0);
    if (st != SOMA_OK) {
        soma_session_free(out);
        return st;
    }
    out->index = index;
    out->lif = 1;
    return SOMA_OK;
}
