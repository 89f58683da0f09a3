// Spike-train statistics (src/analysis/spikes.c) against NumPy/SciPy reference values
// (tests/ref/gen_spikes.py -> tests/fixtures/spikes/*.bin), closed-form edge cases, the pair
// sampling of the correlation, the spectral peak, and bad arguments.
#include <math.h>

#include "check.h"
#include "fixture.h"
#include "soma/analysis.h"

static const fixture_array *need_(const fixture *f, const char *name) {
    const fixture_array *a = fixture_get(f, name);
    if (!a) fprintf(stderr, "fixture %s: no array '%s'; HINT: re-run tests/ref/gen_spikes.py\n", f->spec, name);
    return a;
}

/* A record from a fixture's meta/id/t arrays; t_stop set to the fixture's window end. */
static int load_record_(const fixture *f, soma_spikes *s) {
    const fixture_array *meta = need_(f, "meta"), *id = need_(f, "id"), *t = need_(f, "t");
    if (!meta || !id || !t || meta->n != 4 || id->n != t->n) return -1;
    if (soma_spikes_init(s, (int)meta->data[0], meta->data[1]) != SOMA_OK) return -1;
    for (size_t k = 0; k < t->n; k++)
        if (soma_spikes_push(s, (int)id->data[k], t->data[k]) != SOMA_OK) return -1;
    s->t_stop = meta->data[2];
    return 0;
}

static void check_scalar_(const char *label, double got, const fixture_array *ref, float atol, float rtol) {
    if (!ref) {
        CHECK(ref != NULL);
        return;
    }
    if (isnan(ref->data[0])) {
        CHECK(isnan(got));
        return;
    }
    float g = (float)got;
    CHECK_CLOSE(label, &g, ref->data, 1, atol, rtol);
}

static void test_fixture_case(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/fixtures/spikes/%s.bin", name);
    fixture f;
    soma_spikes s;
    memset(&s, 0, sizeof s);
    if (fixture_load(check_src_path(rel), &f) != 0 || load_record_(&f, &s) != 0) {
        CHECK(!"fixture loads");
        fixture_free(&f);
        soma_spikes_free(&s);
        return;
    }
    int N = s.n_neurons;
    double bin = fixture_get(&f, "meta")->data[3];
    double *rates = calloc((size_t)N, sizeof *rates), *cv = calloc((size_t)N, sizeof *cv);
    float *r32 = calloc((size_t)N, sizeof *r32);
    const fixture_array *ref_rates = need_(&f, "rates"), *ref_cv = need_(&f, "cv"), *ref_pop = need_(&f, "pop_rate");
    if (!rates || !cv || !r32 || !ref_rates || !ref_cv || !ref_pop) {
        CHECK(!"allocations and arrays");
        goto out;
    }
    char label[128];
    CHECK_OK(soma_spike_rates(&s, rates));
    for (int i = 0; i < N; i++) r32[i] = (float)rates[i];
    snprintf(label, sizeof label, "%s rates", name);
    CHECK_CLOSE(label, r32, ref_rates->data, (size_t)N, 1e-6f, 1e-5f);

    double mean_cv = 0;
    CHECK_OK(soma_spike_cv(&s, cv, &mean_cv));
    int nan_match = 1;
    for (int i = 0; i < N; i++) {
        if (isnan(ref_cv->data[i]) != isnan(cv[i])) nan_match = 0;
        r32[i] = isnan(cv[i]) ? 0.f : (float)cv[i];
        if (isnan(ref_cv->data[i])) ref_cv->data[i] = 0.f;
    }
    CHECK(nan_match);
    snprintf(label, sizeof label, "%s cv", name);
    CHECK_CLOSE(label, r32, ref_cv->data, (size_t)N, 1e-6f, 1e-5f);
    snprintf(label, sizeof label, "%s mean_cv", name);
    check_scalar_(label, mean_cv, need_(&f, "mean_cv"), 1e-6f, 1e-5f);

    double fano = 0, corr = 0, chi = 0;
    CHECK_OK(soma_spike_fano(&s, bin, &fano));
    snprintf(label, sizeof label, "%s fano", name);
    check_scalar_(label, fano, need_(&f, "fano"), 1e-6f, 1e-5f);
    CHECK_OK(soma_spike_corr(&s, bin, 1L << 40, 1, &corr));
    snprintf(label, sizeof label, "%s corr", name);
    check_scalar_(label, corr, need_(&f, "corr"), 1e-6f, 1e-4f);
    CHECK_OK(soma_spike_synchrony(&s, bin, &chi));
    snprintf(label, sizeof label, "%s chi", name);
    check_scalar_(label, chi, need_(&f, "chi"), 1e-6f, 1e-5f);

    long B = (long)ref_pop->n;
    float *pop = calloc((size_t)B, sizeof *pop);
    CHECK(pop != NULL);
    if (pop) {
        CHECK_OK(soma_spike_pop_rate(&s, bin, pop, B));
        snprintf(label, sizeof label, "%s pop_rate", name);
        CHECK_CLOSE(label, pop, ref_pop->data, (size_t)B, 1e-4f, 1e-5f);
        if (!strcmp(name, "oscillating")) { /* its 62.5 Hz rhythm, from our own population rate */
            double hz = 0, ratio = 0;
            CHECK_OK(soma_spectrum_peak(pop, B, bin, 10.0, &hz, &ratio));
            CHECK(fabs(hz - 62.5) < 1e-9);
            CHECK(ratio > 5);
        }
        if (!strcmp(name, "synchronous")) CHECK(chi > 0.7 && corr > 0.5);
        if (!strcmp(name, "poisson")) CHECK(chi < 0.35 && fabs(corr) < 0.02 && fabs(fano - 1) < 0.1);
        if (!strcmp(name, "bursty")) CHECK(mean_cv > 1.5);
        free(pop);
    }
out:
    free(rates);
    free(cv);
    free(r32);
    fixture_free(&f);
    soma_spikes_free(&s);
}

static void test_spectrum_fixture(const char *name, double tol_hz) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/fixtures/spikes/%s.bin", name);
    fixture f;
    if (fixture_load(check_src_path(rel), &f) != 0) {
        CHECK(!"fixture loads");
        return;
    }
    const fixture_array *x = need_(&f, "x"), *meta = need_(&f, "meta"), *peak = need_(&f, "peak");
    if (x && meta && peak) {
        double hz = 0, ratio = 0;
        CHECK_OK(soma_spectrum_peak(x->data, (long)x->n, meta->data[0], meta->data[1], &hz, &ratio));
        float got[2] = {(float)hz, (float)ratio};
        CHECK_CLOSE(name, got, peak->data, 2, 1e-4f, 1e-4f);
        if (!strcmp(name, "white_noise")) CHECK(ratio < 2.0);
        if (!strcmp(name, "sine_noise")) CHECK(fabs(hz - 5 * 1000.0 / 51.2) < tol_hz && ratio > 20);
        if (!strcmp(name, "sine_odd")) CHECK(fabs(hz - 137.0) < tol_hz);
    }
    fixture_free(&f);
}

// --- closed-form cases -------------------------------------------------------------------

static void test_edges(void) {
    soma_spikes s;
    double rates[3], cv[3], m = 0;
    float pop[4];
    /* no spikes: rates 0, everything else undefined, population rate 0 */
    CHECK_OK(soma_spikes_init(&s, 3, 0.0));
    s.t_stop = 20.0;
    CHECK_OK(soma_spike_rates(&s, rates));
    CHECK(rates[0] == 0 && rates[1] == 0 && rates[2] == 0);
    CHECK_OK(soma_spike_cv(&s, cv, &m));
    CHECK(isnan(cv[0]) && isnan(cv[2]) && isnan(m));
    CHECK_OK(soma_spike_fano(&s, 5.0, &m));
    CHECK(isnan(m));
    CHECK_OK(soma_spike_corr(&s, 5.0, 100, 1, &m));
    CHECK(isnan(m));
    CHECK_OK(soma_spike_synchrony(&s, 5.0, &m));
    CHECK(isnan(m));
    CHECK_OK(soma_spike_pop_rate(&s, 5.0, pop, 4));
    CHECK(pop[0] == 0 && pop[3] == 0);
    soma_spikes_free(&s);

    /* one neuron: chi is exactly 1 (the population is the neuron), no pair to correlate;
     * ISIs 2, 4 -> CV = 1/3; spike at the window end counts in the rate only */
    CHECK_OK(soma_spikes_init(&s, 1, 0.0));
    CHECK_OK(soma_spikes_push(&s, 0, 1.0));
    CHECK_OK(soma_spikes_push(&s, 0, 3.0));
    CHECK_OK(soma_spikes_push(&s, 0, 7.0));
    CHECK_OK(soma_spikes_push(&s, 0, 10.0)); /* t_stop is now 10 */
    CHECK(s.t_stop == 10.0);
    CHECK_OK(soma_spike_rates(&s, rates));
    CHECK(fabs(rates[0] - 400.0) < 1e-9); /* 4 spikes in 10 ms */
    CHECK_OK(soma_spike_cv(&s, cv, &m));
    /* ISIs 2, 4, 3: mean 3, std sqrt(2/3) */
    CHECK(fabs(cv[0] - sqrt(2.0 / 3.0) / 3.0) < 1e-12 && fabs(m - cv[0]) < 1e-15);
    CHECK_OK(soma_spike_synchrony(&s, 2.5, &m));
    CHECK(fabs(m - 1.0) < 1e-12);
    CHECK_OK(soma_spike_corr(&s, 2.5, 100, 1, &m));
    CHECK(isnan(m));
    /* bins of 5: [0,5) holds 2 spikes, [5,10) holds 1; the spike at 10 only in a third bin
     * asked for past the window */
    CHECK_OK(soma_spike_pop_rate(&s, 5.0, pop, 2));
    CHECK(pop[0] == 400.f && pop[1] == 200.f);
    CHECK_OK(soma_spike_pop_rate(&s, 5.0, pop, 4));
    CHECK(pop[2] == 200.f && pop[3] == 0.f);
    CHECK_OK(soma_spike_fano(&s, 5.0, &m)); /* counts 2, 1: var 0.25, mean 1.5 */
    CHECK(fabs(m - 0.25 / 1.5) < 1e-12);
    soma_spikes_free(&s);

    /* full synchrony: identical trains -> chi 1, correlation 1; anti-phase -> correlation -1 */
    CHECK_OK(soma_spikes_init(&s, 3, 0.0));
    const double tt[] = {1.0, 2.5, 11.0, 12.0, 31.0};
    for (int k = 0; k < 5; k++)
        for (int i = 0; i < 3; i++) CHECK_OK(soma_spikes_push(&s, i, tt[k]));
    s.t_stop = 40.0;
    CHECK_OK(soma_spike_synchrony(&s, 10.0, &m));
    CHECK(fabs(m - 1.0) < 1e-12);
    CHECK_OK(soma_spike_corr(&s, 10.0, 100, 1, &m));
    CHECK(fabs(m - 1.0) < 1e-12);
    soma_spikes_free(&s);
    CHECK_OK(soma_spikes_init(&s, 2, 0.0));
    for (int b = 0; b < 10; b++) CHECK_OK(soma_spikes_push(&s, b % 2, 10.0 * b + 1));
    s.t_stop = 100.0;
    CHECK_OK(soma_spike_corr(&s, 10.0, 100, 1, &m));
    CHECK(fabs(m + 1.0) < 1e-12);
    CHECK_OK(soma_spike_synchrony(&s, 10.0, &m)); /* the population count is constant */
    CHECK(fabs(m) < 1e-12);
    soma_spikes_free(&s);

    /* a spike at k * dt computed in floating point stays in the bin that starts there */
    CHECK_OK(soma_spikes_init(&s, 1, 0.0));
    CHECK_OK(soma_spikes_push(&s, 0, 0.7 - 0.4)); /* 0.29999999999999993 */
    CHECK_OK(soma_spikes_push(&s, 0, 3 * 0.1));   /* 0.30000000000000004 */
    s.t_stop = 1.0;
    float p10[10];
    CHECK_OK(soma_spike_pop_rate(&s, 0.1, p10, 10));
    CHECK(p10[2] == 0.f && p10[3] == 20000.f); /* 2 spikes / 0.1 ms */
    soma_spikes_free(&s);
}

/* A record of neurons a, b of src only (renumbered 0, 1). */
static void sub_record_(const soma_spikes *src, int a, int b, soma_spikes *out) {
    soma_spikes_init(out, 2, src->t_start);
    for (long k = 0; k < src->n; k++)
        if (src->id[k] == a || src->id[k] == b) soma_spikes_push(out, src->id[k] == a ? 0 : 1, src->t[k]);
    out->t_stop = src->t_stop;
}

static void test_corr_sampling(void) {
    /* 3 active neurons (3 pairs), 2 drawn: the mean of two distinct pairs' correlations, and
     * over seeds every one of the three choices turns up */
    soma_spikes s;
    CHECK_OK(soma_spikes_init(&s, 3, 0.0));
    soma_rng r;
    soma_rng_seed(&r, 5, 0);
    for (int b = 0; b < 200; b++) {
        int burst = soma_rng_bernoulli(&r, 0.3);
        for (int i = 0; i < 3; i++)
            if (soma_rng_bernoulli(&r, burst ? 0.5 + 0.15 * i : 0.2)) CHECK_OK(soma_spikes_push(&s, i, 5.0 * b + 0.5 * i));
    }
    s.t_stop = 1000.0;
    double pr[3]; /* r01, r02, r12 */
    const int pa[3] = {0, 0, 1}, pb[3] = {1, 2, 2};
    for (int p = 0; p < 3; p++) {
        soma_spikes sub;
        sub_record_(&s, pa[p], pb[p], &sub);
        CHECK_OK(soma_spike_corr(&sub, 5.0, 1, 1, &pr[p]));
        soma_spikes_free(&sub);
    }
    double all = 0;
    CHECK_OK(soma_spike_corr(&s, 5.0, 3, 1, &all));
    CHECK(fabs(all - (pr[0] + pr[1] + pr[2]) / 3) < 1e-12);
    int seen[3] = {0, 0, 0};
    for (uint64_t seed = 0; seed < 40; seed++) {
        double m = 0;
        CHECK_OK(soma_spike_corr(&s, 5.0, 2, seed, &m));
        int hit = 0;
        for (int left = 0; left < 3; left++) { /* the pair not drawn */
            double want = 0;
            for (int p = 0; p < 3; p++)
                if (p != left) want += pr[p] / 2;
            if (fabs(m - want) < 1e-12) seen[left] = hit = 1;
        }
        CHECK(hit);
    }
    CHECK(seen[0] && seen[1] && seen[2]);
    soma_spikes_free(&s);

    /* many neurons: a sample of pairs estimates the all-pairs mean; a seed fixes it */
    fixture f;
    if (fixture_load(check_src_path("tests/fixtures/spikes/synchronous.bin"), &f) != 0 || load_record_(&f, &s) != 0) {
        CHECK(!"fixture loads");
        fixture_free(&f);
        return;
    }
    double full = 0, a = 0, b = 0, c = 0;
    CHECK_OK(soma_spike_corr(&s, 5.0, 1L << 30, 0, &full));
    CHECK_OK(soma_spike_corr(&s, 5.0, 300, 7, &a));
    CHECK_OK(soma_spike_corr(&s, 5.0, 300, 7, &b));
    CHECK_OK(soma_spike_corr(&s, 5.0, 300, 8, &c));
    CHECK(a == b && a != c);
    CHECK(fabs(a - full) < 0.03 && fabs(c - full) < 0.03);
    CHECK_OK(soma_spike_corr(&s, 5.0, 40 * 39 / 2, 3, &a)); /* exactly all pairs */
    CHECK(fabs(a - full) < 1e-12);
    CHECK_OK(soma_spike_corr(&s, 5.0, 40 * 39 / 2 - 1, 3, &a)); /* all but one, drawn */
    CHECK(fabs(a - full) < 0.01 && a != full);
    fixture_free(&f);
    soma_spikes_free(&s);
}

static void test_spectrum_synthetic(void) {
    /* a sine buried in noise of twice its amplitude: found within one frequency bin */
    enum { n = 20000 };
    static float x[n];
    soma_rng r;
    soma_rng_seed(&r, 11, 0);
    for (int i = 0; i < n; i++) x[i] = (float)(0.5 * sin(2 * 3.14159265358979 * 83.0 * i * 0.1 / 1000.0) + soma_rng_normal(&r));
    double hz = 0, ratio = 0;
    CHECK_OK(soma_spectrum_peak(x, n, 0.1, 5.0, &hz, &ratio));
    double df = 1000.0 / (1024 * 0.1); /* L = 1024 for n = 20000 */
    if (!(fabs(hz - 83.0) <= df && ratio > 10)) fprintf(stderr, "sine 83 Hz: peak %g Hz ratio %g\n", hz, ratio);
    CHECK(fabs(hz - 83.0) <= df && ratio > 10);
    /* white noise: a flat spectrum, the largest of ~500 bins is near their mean */
    for (int i = 0; i < n; i++) x[i] = (float)soma_rng_normal(&r);
    CHECK_OK(soma_spectrum_peak(x, n, 0.1, 0.0, &hz, &ratio));
    CHECK(ratio > 1.0 && ratio < 2.0);
    /* a constant has no spectrum */
    for (int i = 0; i < 64; i++) x[i] = 3.f;
    CHECK_OK(soma_spectrum_peak(x, 64, 1.0, 0.0, &hz, &ratio));
    CHECK(isnan(hz) && isnan(ratio));
}

// --- bad arguments ---------------------------------------------------------------------

static void test_bad(void) {
    soma_spikes s;
    double v[4], m;
    float pop[4], x[64] = {0};
    CHECK_FAILS(soma_spike_rates(NULL, v), SOMA_ERR_ARG);
    CHECK_OK(soma_spikes_init(&s, 2, 0.0));
    CHECK_FAILS(soma_spike_rates(&s, v), SOMA_ERR_ARG); /* empty window */
    CHECK_FAILS(soma_spikes_push(&s, 2, 1.0), SOMA_ERR_ARG);
    CHECK_OK(soma_spikes_push(&s, 1, 1.0));
    CHECK_FAILS(soma_spikes_push(&s, 0, 0.5), SOMA_ERR_ARG);
    CHECK_OK(soma_spikes_push(&s, 0, 2.0));
    s.t_stop = 10.0;
    CHECK_FAILS(soma_spike_rates(&s, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_spike_fano(&s, 0.0, &m), SOMA_ERR_ARG);
    CHECK_FAILS(soma_spike_fano(&s, NAN, &m), SOMA_ERR_ARG);
    CHECK_FAILS(soma_spike_fano(&s, 6.0, &m), SOMA_ERR_ARG); /* one whole bin */
    CHECK_FAILS(soma_spike_synchrony(&s, -1.0, &m), SOMA_ERR_ARG);
    CHECK_FAILS(soma_spike_synchrony(&s, 1e-9, &m), SOMA_ERR_ARG); /* 10^10 bins */
    CHECK_FAILS(soma_spike_corr(&s, 1.0, 0, 1, &m), SOMA_ERR_ARG);
    CHECK_FAILS(soma_spike_corr(&s, 1.0, 10, 1, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_spike_pop_rate(&s, 1.0, pop, 0), SOMA_ERR_ARG);
    CHECK_FAILS(soma_spike_pop_rate(&s, 1.0, NULL, 4), SOMA_ERR_ARG);
    /* a record filled by hand: out-of-range id, out-of-order or out-of-window times */
    s.id[0] = 5;
    CHECK_FAILS(soma_spike_rates(&s, v), SOMA_ERR_ARG);
    s.id[0] = 1;
    s.t[1] = 0.5;
    CHECK_FAILS(soma_spike_cv(&s, v, &m), SOMA_ERR_ARG);
    s.t[1] = 12.0;
    CHECK_FAILS(soma_spike_cv(&s, v, &m), SOMA_ERR_ARG);
    s.t[1] = 2.0;
    s.n_neurons = 0;
    CHECK_FAILS(soma_spike_cv(&s, v, &m), SOMA_ERR_ARG);
    s.n_neurons = 2;
    s.t_stop = INFINITY;
    CHECK_FAILS(soma_spike_fano(&s, 1.0, &m), SOMA_ERR_ARG);
    s.t_stop = 10.0;
    CHECK_OK(soma_spike_rates(&s, v));
    /* out of memory inside: a status, nothing leaked (the ASan build checks) */
    for (long k = 0; k < 8; k++) {
        soma_alloc_fail_after(k);
        soma_status st = soma_spike_corr(&s, 1.0, 10, 1, &m);
        soma_alloc_fail_after(-1);
        CHECK(st == SOMA_OK || st == SOMA_ERR_NOMEM);
    }
    soma_alloc_fail_after(0);
    CHECK_FAILS(soma_spike_synchrony(&s, 1.0, &m), SOMA_ERR_NOMEM);
    soma_alloc_fail_after(-1);
    soma_spikes_free(&s);

    double hz, ratio;
    CHECK_FAILS(soma_spectrum_peak(NULL, 64, 1.0, 0.0, &hz, &ratio), SOMA_ERR_ARG);
    CHECK_FAILS(soma_spectrum_peak(x, 31, 1.0, 0.0, &hz, &ratio), SOMA_ERR_ARG);
    CHECK_FAILS(soma_spectrum_peak(x, 64, 0.0, 0.0, &hz, &ratio), SOMA_ERR_ARG);
    CHECK_FAILS(soma_spectrum_peak(x, 64, 1.0, -1.0, &hz, &ratio), SOMA_ERR_ARG);
    CHECK_FAILS(soma_spectrum_peak(x, 64, 1.0, 600.0, &hz, &ratio), SOMA_ERR_ARG); /* Nyquist 500 */
    CHECK_FAILS(soma_spectrum_peak(x, 64, 1.0, 0.0, NULL, &ratio), SOMA_ERR_ARG);
    x[7] = NAN;
    CHECK_FAILS(soma_spectrum_peak(x, 64, 1.0, 0.0, &hz, &ratio), SOMA_ERR_ARG);
}

int main(void) {
    const char *cases[] = {"poisson", "regular", "bursty", "synchronous", "oscillating"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) test_fixture_case(cases[i]);
    test_spectrum_fixture("sine_noise", 1000.0 / 51.2 / 2);
    test_spectrum_fixture("white_noise", 0);
    test_spectrum_fixture("sine_odd", 1000.0 / 32.0 / 2);
    test_edges();
    test_corr_sampling();
    test_spectrum_synthetic();
    test_bad();
    return check_report("test_analysis_spikes");
}
