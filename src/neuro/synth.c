// Synthetic populations with ground truth: Lorenz latents and a chaotic rate RNN driving
// Poisson neurons (soma/neuro.h, "synthetic populations"). Serial on purpose: the data are
// small and every draw comes from one seeded stream, so the output is bit-identical everywhere.
#include <math.h>
#include <string.h>

#include "soma/neuro.h"

soma_synth_opts soma_synth_opts_default(soma_synth_kind kind) {
    soma_synth_opts o = {kind, 100, 100, 50, 3, 0, 10.0, 0.01, 300, 10.0, 1.0, 1.5, 1};
    if (kind == SOMA_SYNTH_RNN) {
        o.n_latents = 20;
        o.dt = 0.1;
    }
    return o;
}

static const char *const kind_names[SOMA_SYNTH_KIND_COUNT] = {"lorenz", "rnn"};

const char *soma_synth_kind_name(soma_synth_kind k) {
    return (k >= 0 && k < SOMA_SYNTH_KIND_COUNT) ? kind_names[k] : "?";
}

soma_status soma_synth_kind_parse(const char *name, soma_synth_kind *out) {
    for (int k = 0; k < SOMA_SYNTH_KIND_COUNT; k++)
        if (name && strcmp(name, kind_names[k]) == 0) {
            *out = (soma_synth_kind)k;
            return SOMA_OK;
        }
    return soma_error(SOMA_ERR_ARG, "synth: unknown kind '%s' (lorenz, rnn)", name ? name : "(null)");
}

void soma_synth_free(soma_synth *s) {
    if (!s) return;
    soma_counts_free(&s->spikes);
    soma_free(s->rates);
    soma_free(s->latents);
    soma_free(s->w);
    soma_free(s->cond);
    memset(s, 0, sizeof *s);
}

// --- dynamics: f(x) into dx; M the state size; J [M, M] for the RNN ---------------------------

typedef struct {
    soma_synth_kind kind;
    int m;
    const double *J;
    double *k1, *k2, *k3, *k4, *tmp; /* [m] each */
} dyn;

static void dyn_f(const dyn *d, const double *x, double *dx) {
    if (d->kind == SOMA_SYNTH_LORENZ) {
        dx[0] = 10.0 * (x[1] - x[0]);
        dx[1] = x[0] * (28.0 - x[2]) - x[1];
        dx[2] = x[0] * x[1] - (8.0 / 3.0) * x[2];
        return;
    }
    const int m = d->m;
    for (int i = 0; i < m; i++) d->tmp[i] = tanh(x[i]);
    for (int i = 0; i < m; i++) {
        double s = 0.0;
        const double *row = d->J + (size_t)i * m;
        for (int j = 0; j < m; j++) s += row[j] * d->tmp[j];
        dx[i] = -x[i] + s;
    }
}

/* One bin: n_sub RK4 steps of h. */
static void dyn_advance(dyn *d, double *x, double h, int n_sub) {
    const int m = d->m;
    double *xs = d->tmp + m; /* the second half of tmp */
    for (int s = 0; s < n_sub; s++) {
        dyn_f(d, x, d->k1);
        for (int i = 0; i < m; i++) xs[i] = x[i] + 0.5 * h * d->k1[i];
        dyn_f(d, xs, d->k2);
        for (int i = 0; i < m; i++) xs[i] = x[i] + 0.5 * h * d->k2[i];
        dyn_f(d, xs, d->k3);
        for (int i = 0; i < m; i++) xs[i] = x[i] + h * d->k3[i];
        dyn_f(d, xs, d->k4);
        for (int i = 0; i < m; i++) x[i] += h / 6.0 * (d->k1[i] + 2.0 * d->k2[i] + 2.0 * d->k3[i] + d->k4[i]);
    }
}

static soma_status check_opts(const soma_synth_opts *o) {
    if (o->kind < 0 || o->kind >= SOMA_SYNTH_KIND_COUNT)
        return soma_error(SOMA_ERR_ARG, "synth: unknown kind %d", (int)o->kind);
    if (o->n_trials < 1 || o->n_bins < 1 || o->n_units < 1 || o->n_latents < 1)
        return soma_error(SOMA_ERR_ARG, "synth: %d trials, %d bins, %d units, %d latents (each must be >= 1)",
                          o->n_trials, o->n_bins, o->n_units, o->n_latents);
    if (o->kind == SOMA_SYNTH_LORENZ && o->n_latents != 3)
        return soma_error(SOMA_ERR_ARG, "synth: the Lorenz system has 3 latents, not %d", o->n_latents);
    if (o->n_latents > 4096)
        return soma_error(SOMA_ERR_ARG, "synth: %d RNN units (at most 4096)", o->n_latents);
    if (o->n_conds < 0 || o->n_conds > o->n_trials)
        return soma_error(SOMA_ERR_ARG, "synth: n_conds %d must be in 0..n_trials (%d)", o->n_conds, o->n_trials);
    if (!(o->bin_ms > 0) || !(o->dt > 0) || !(o->dt <= 10.0) || o->burn_in < 0 || o->burn_in > 1000000)
        return soma_error(SOMA_ERR_ARG, "synth: bin_ms %g, dt %g (0 < dt <= 10), burn_in %d (0..1e6)", o->bin_ms, o->dt,
                          o->burn_in);
    if (!(o->base_rate_hz > 0) || !(o->base_rate_hz < 1e5) || !(o->w_scale >= 0) || !(o->w_scale <= 10) ||
        !(o->g >= 0) || !(o->g <= 100))
        return soma_error(SOMA_ERR_ARG, "synth: base rate %g Hz (> 0), w_scale %g (0..10), g %g (0..100)",
                          o->base_rate_hz, o->w_scale, o->g);
    return SOMA_OK;
}

soma_status soma_synth_make(const soma_synth_opts *o, soma_synth *out) {
    memset(out, 0, sizeof *out);
    SOMA_TRY(check_opts(o));
    const int K = o->n_trials, T = o->n_bins, N = o->n_units, L = o->n_latents;
    const int C = o->n_conds > 0 ? o->n_conds : K;
    SOMA_TRY(soma_counts_alloc(&out->spikes, K, T, N, o->bin_ms));
    const size_t nz = (size_t)K * T * L, nr = (size_t)K * T * N;
    out->rates = soma_alloc(nr, sizeof(float));
    out->latents = soma_alloc(nz, sizeof(float));
    out->w = soma_alloc((size_t)N * L, sizeof(float));
    out->cond = soma_alloc((size_t)K, sizeof(int));
    double *J = o->kind == SOMA_SYNTH_RNN ? soma_alloc((size_t)L * L, sizeof(double)) : NULL;
    double *work = soma_alloc((size_t)L * 7, sizeof(double)); /* x, k1..k4, tmp[2m] */
    double *zc = soma_alloc((size_t)C * T * L, sizeof(double)); /* latents per condition */
    if (!out->rates || !out->latents || !out->w || !out->cond || (o->kind == SOMA_SYNTH_RNN && !J) || !work || !zc) {
        soma_free(J);
        soma_free(work);
        soma_free(zc);
        soma_synth_free(out);
        return SOMA_ERR_NOMEM;
    }
    out->n_latents = L;
    out->n_conds = C;
    soma_rng r;
    soma_rng_seed(&r, o->seed, 0);
    if (J) {
        const double sd = o->g / sqrt((double)L);
        for (size_t i = 0; i < (size_t)L * L; i++) J[i] = sd * soma_rng_normal(&r);
    }
    const double wsd = o->w_scale / sqrt((double)L);
    for (size_t i = 0; i < (size_t)N * L; i++) out->w[i] = (float)(wsd * soma_rng_normal(&r));

    dyn d = {o->kind, L, J, work + L, work + 2 * L, work + 3 * L, work + 4 * L, work + 5 * L};
    double *x = work;
    const double hmax = o->kind == SOMA_SYNTH_LORENZ ? 0.005 : 0.05;
    const int n_sub = (int)ceil(o->dt / hmax - 1e-9) > 0 ? (int)ceil(o->dt / hmax - 1e-9) : 1;
    const double h = o->dt / n_sub;
    for (int c = 0; c < C; c++) {
        for (int i = 0; i < L; i++)
            x[i] = o->kind == SOMA_SYNTH_LORENZ ? (i == 2 ? 25.0 : 0.0) + 10.0 * (2.0 * soma_rng_uniform(&r) - 1.0)
                                                : soma_rng_normal(&r);
        for (int b = 0; b < o->burn_in; b++) dyn_advance(&d, x, h, n_sub);
        for (int t = 0; t < T; t++) {
            double *z = zc + ((size_t)c * T + t) * L;
            for (int i = 0; i < L; i++) z[i] = o->kind == SOMA_SYNTH_LORENZ ? x[i] : tanh(x[i]);
            dyn_advance(&d, x, h, n_sub);
        }
        for (int i = 0; i < L; i++)
            if (!isfinite(x[i])) {
                soma_free(J);
                soma_free(work);
                soma_free(zc);
                soma_synth_free(out);
                return soma_error(SOMA_ERR_ARG, "synth: the dynamics diverged (dt %g too large?)", o->dt);
            }
    }
    if (o->kind == SOMA_SYNTH_LORENZ) { /* z-score each latent over every condition and bin */
        const size_t n = (size_t)C * T;
        for (int i = 0; i < L; i++) {
            double m = 0.0, v = 0.0;
            for (size_t s = 0; s < n; s++) m += zc[s * L + i];
            m /= (double)n;
            for (size_t s = 0; s < n; s++) v += (zc[s * L + i] - m) * (zc[s * L + i] - m);
            const double sd = sqrt(v / (double)n) > 0 ? sqrt(v / (double)n) : 1.0;
            for (size_t s = 0; s < n; s++) zc[s * L + i] = (zc[s * L + i] - m) / sd;
        }
    }
    const double b0 = log(o->base_rate_hz * o->bin_ms / 1000.0);
    for (int k = 0; k < K; k++) {
        const int c = k % C;
        out->cond[k] = c;
        for (int t = 0; t < T; t++) {
            const double *z = zc + ((size_t)c * T + t) * L;
            float *zl = out->latents + ((size_t)k * T + t) * L;
            float *rt = out->rates + ((size_t)k * T + t) * N;
            float *ct = out->spikes.x + ((size_t)k * T + t) * N;
            for (int i = 0; i < L; i++) zl[i] = (float)z[i];
            for (int n = 0; n < N; n++) {
                double a = b0;
                for (int i = 0; i < L; i++) a += out->w[(size_t)n * L + i] * z[i];
                const double lam = exp(a);
                rt[n] = (float)lam;
                ct[n] = (float)soma_rng_poisson(&r, lam);
            }
        }
    }
    soma_free(J);
    soma_free(work);
    soma_free(zc);
    return SOMA_OK;
}
