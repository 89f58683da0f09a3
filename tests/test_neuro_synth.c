/* Synthetic populations (soma/neuro.h): shapes, determinism, the rate model, the z-scored
 * Lorenz latents, Sompolinsky's transition to chaos at g = 1, and bad options. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "soma/neuro.h"

static double latent_sd(const soma_synth *s, int i, double *mean) {
    const size_t n = (size_t)s->spikes.n_trials * s->spikes.n_bins;
    double m = 0, v = 0;
    for (size_t j = 0; j < n; j++) m += s->latents[j * s->n_latents + i];
    m /= (double)n;
    for (size_t j = 0; j < n; j++) v += pow(s->latents[j * s->n_latents + i] - m, 2);
    if (mean) *mean = m;
    return sqrt(v / (double)n);
}

int main(void) {
    soma_synth_opts o = soma_synth_opts_default(SOMA_SYNTH_LORENZ);
    o.n_trials = 40;
    o.n_bins = 50;
    o.n_units = 30;
    soma_synth a, b;
    CHECK_OK(soma_synth_make(&o, &a));
    CHECK(a.spikes.n_trials == 40 && a.spikes.n_bins == 50 && a.spikes.n_units == 30 && a.n_latents == 3);
    CHECK_OK(soma_synth_make(&o, &b));
    const size_t nr = (size_t)40 * 50 * 30;
    CHECK(memcmp(a.spikes.x, b.spikes.x, nr * sizeof(float)) == 0); /* same seed, same data */
    CHECK(memcmp(a.latents, b.latents, (size_t)40 * 50 * 3 * sizeof(float)) == 0);
    soma_synth_free(&b);
    o.seed = 2;
    CHECK_OK(soma_synth_make(&o, &b));
    CHECK(memcmp(a.latents, b.latents, (size_t)40 * 50 * 3 * sizeof(float)) != 0);
    soma_synth_free(&b);
    for (int i = 0; i < 3; i++) { /* z-scored over all trials and bins */
        double m, sd = latent_sd(&a, i, &m);
        CHECK(fabs(m) < 1e-4 && fabs(sd - 1.0) < 1e-4);
    }
    /* rates = exp(b + W z), counts ~ Poisson(rates): the mean count matches the mean rate */
    const double b0 = log(10.0 * 10.0 / 1000.0);
    double worst = 0, sum_r = 0, sum_c = 0;
    for (size_t s = 0; s < (size_t)40 * 50; s++)
        for (int n = 0; n < 30; n++) {
            double x = b0;
            for (int i = 0; i < 3; i++) x += a.w[n * 3 + i] * a.latents[s * 3 + i];
            worst = fmax(worst, fabs(exp(x) - a.rates[s * 30 + n]) / exp(x));
            sum_r += a.rates[s * 30 + n];
            sum_c += a.spikes.x[s * 30 + n];
            CHECK(a.spikes.x[s * 30 + n] == floorf(a.spikes.x[s * 30 + n]) && a.spikes.x[s * 30 + n] >= 0);
        }
    CHECK(worst < 1e-5);
    CHECK(fabs(sum_c - sum_r) < 4 * sqrt(sum_r)); /* Poisson: sd of the total is sqrt(mean) */
    /* Lorenz: the latents move smoothly (consecutive bins close) yet fill the attractor: the
     * first coordinate visits both lobes (x < 0 and x > 0) across trials */
    int neg = 0, pos = 0;
    double step = 0;
    for (int k = 0; k < 40; k++)
        for (int t = 0; t < 50; t++) {
            const float *z = a.latents + ((size_t)k * 50 + t) * 3;
            neg += z[0] < -0.5f;
            pos += z[0] > 0.5f;
            if (t) step = fmax(step, fabs(z[0] - z[-3]));
        }
    CHECK(neg > 100 && pos > 100 && step < 0.6);
    soma_synth_free(&a);

    /* conditions share latents and rates, not spikes */
    o.n_conds = 4;
    CHECK_OK(soma_synth_make(&o, &a));
    CHECK(a.cond[5] == 1 && a.n_conds == 4);
    CHECK(memcmp(a.rates + (size_t)1 * 50 * 30, a.rates + (size_t)5 * 50 * 30, 50 * 30 * sizeof(float)) == 0);
    CHECK(memcmp(a.spikes.x + (size_t)1 * 50 * 30, a.spikes.x + (size_t)5 * 50 * 30, 50 * 30 * sizeof(float)) != 0);
    soma_synth_free(&a);

    /* rate RNN: g = 1.5 stays chaotic (tanh units keep fluctuating after the burn-in); g = 0.5
     * decays to the fixed point 0 (Sompolinsky et al. 1988) */
    soma_synth_opts r = soma_synth_opts_default(SOMA_SYNTH_RNN);
    r.n_trials = 4;
    r.n_bins = 100;
    r.n_units = 10;
    r.n_latents = 100;
    CHECK_OK(soma_synth_make(&r, &a));
    double sd_chaos = 0;
    for (int i = 0; i < 100; i++) sd_chaos += latent_sd(&a, i, NULL) / 100;
    soma_synth_free(&a);
    r.g = 0.5;
    CHECK_OK(soma_synth_make(&r, &a));
    double sd_quiet = 0, amax = 0;
    for (int i = 0; i < 100; i++) sd_quiet += latent_sd(&a, i, NULL) / 100;
    for (size_t j = 0; j < (size_t)4 * 100 * 100; j++) amax = fmax(amax, fabs(a.latents[j]));
    soma_synth_free(&a);
    CHECK(sd_chaos > 0.2 && sd_quiet < 1e-3 && amax < 1e-3);

    /* bad options */
    o = soma_synth_opts_default(SOMA_SYNTH_LORENZ);
    o.n_latents = 4;
    CHECK_FAILS(soma_synth_make(&o, &a), SOMA_ERR_ARG);
    CHECK(a.rates == NULL);
    o = soma_synth_opts_default(SOMA_SYNTH_LORENZ);
    o.n_units = 0;
    CHECK_FAILS(soma_synth_make(&o, &a), SOMA_ERR_ARG);
    o = soma_synth_opts_default(SOMA_SYNTH_LORENZ);
    o.base_rate_hz = -1;
    CHECK_FAILS(soma_synth_make(&o, &a), SOMA_ERR_ARG);
    o = soma_synth_opts_default(SOMA_SYNTH_LORENZ);
    o.n_conds = 1000;
    CHECK_FAILS(soma_synth_make(&o, &a), SOMA_ERR_ARG);
    soma_synth_kind k;
    CHECK_OK(soma_synth_kind_parse("rnn", &k));
    CHECK(k == SOMA_SYNTH_RNN);
    CHECK_FAILS(soma_synth_kind_parse("lorentz", &k), SOMA_ERR_ARG);
    soma_synth_free(NULL);
    return check_report("neuro_synth");
}
