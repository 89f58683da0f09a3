// neuro: the Neural Data Transformer -- masking statistics; the loss counts masked entries only
// and masked inputs never reach the model; a step and inference allocate nothing once the
// buffers exist; per-session read-in shapes (sessions of different
// unit counts in one batch); the whole model's gradient (read-in, tokens, trunk, read-out)
// against central differences at a tiny size, the same for any thread count; a tiny model's
// loss falls on a fixed batch; a run stopped at step k and resumed from its checkpoint ends
// exactly where an uninterrupted run does (also with another thread count); adaptation of a
// pre-trained model to a new session (held-out units, forecast, anomaly scores); bad input.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "soma/neuro.h"
#include "soma/nn.h"

static void counts_(float *y, size_t n, double lam, uint64_t seed) {
    soma_rng r;
    soma_rng_seed(&r, seed, 0);
    for (size_t i = 0; i < n; i++) y[i] = (float)soma_rng_poisson(&r, lam);
}

static soma_ndt *tiny_drop_(int T, int subjects, float dropout) {
    soma_ndt_arch a = soma_ndt_arch_default();
    a.n_bins = T, a.d_model = 8, a.n_layers = 1, a.n_heads = 2, a.subjects = subjects, a.seed = 5, a.dropout = dropout;
    soma_ndt *m = NULL;
    CHECK_OK(soma_ndt_new(&m, &a));
    return m;
}
static soma_ndt *tiny_(int T, int subjects) { return tiny_drop_(T, subjects, 0.f); }

/* Exact counts per trial for each kind, every bin and unit equally likely, the forecast bins. */
static void test_masks(void) {
    enum { K = 2000, T = 20, N = 30 };
    uint8_t *mk = malloc((size_t)K * T * N);
    soma_rng r;
    soma_rng_seed(&r, 3, 0);
    const soma_ndt_mask_kind kinds[3] = {SOMA_NDT_MASK_BINS, SOMA_NDT_MASK_UNITS, SOMA_NDT_MASK_BOTH};
    for (int ki = 0; ki < 3; ki++) {
        soma_ndt_mask_draw(mk, K, T, N, 0.25f, kinds[ki], 0, 0.f, &r);
        /* nb bins fully masked, nu units fully masked, nothing else */
        const int nb = ki == 0 ? 5 : ki == 1 ? 0 : 3, nu = ki == 0 ? 0 : ki == 1 ? 8 : 4;
        int ok = 1;
        long bin_hits[T] = {0}, unit_hits[N] = {0}, total = 0;
        for (int k = 0; k < K; k++) {
            const uint8_t *m = mk + (size_t)k * T * N;
            int fb = 0, fu = 0;
            uint8_t rowfull[T], colfull[N];
            for (int t = 0; t < T; t++) {
                int s = 0;
                for (int u = 0; u < N; u++) s += m[t * N + u];
                rowfull[t] = s == N;
                fb += rowfull[t];
                bin_hits[t] += rowfull[t];
            }
            for (int u = 0; u < N; u++) {
                int s = 0;
                for (int t = 0; t < T; t++) s += m[t * N + u];
                colfull[u] = s == T;
                fu += colfull[u];
                unit_hits[u] += colfull[u];
            }
            for (int t = 0; t < T; t++)
                for (int u = 0; u < N; u++) {
                    ok &= m[t * N + u] == (rowfull[t] || colfull[u]);
                    total += m[t * N + u];
                }
            ok &= fb == nb && fu == nu;
        }
        CHECK(ok);
        const double frac = (double)total / ((double)K * T * N);
        const double want = 1.0 - (1.0 - (double)nb / T) * (1.0 - (double)nu / N);
        CHECK(fabs(frac - want) < 1e-12);
        CHECK(fabs(frac - 0.25) < 0.03);
        /* uniform: each bin / unit masked in nb/T (nu/N) of the trials, within 5 sd */
        for (int t = 0; t < T && nb; t++) {
            const double p = (double)nb / T, sd = sqrt(p * (1 - p) / K);
            CHECK(fabs((double)bin_hits[t] / K - p) < 5 * sd);
        }
        for (int u = 0; u < N && nu; u++) {
            const double p = (double)nu / N, sd = sqrt(p * (1 - p) / K);
            CHECK(fabs((double)unit_hits[u] / K - p) < 5 * sd);
        }
        printf("  mask %d: %.4f of entries masked (%d bins, %d units a trial)\n", ki, frac, nb, nu);
    }
    /* forecast: with share 1 the last 3 bins are always masked; share 0.5 about half */
    soma_ndt_mask_draw(mk, K, T, N, 0.25f, SOMA_NDT_MASK_UNITS, 3, 1.f, &r);
    int all = 1;
    for (int k = 0; k < K; k++)
        for (int i = (T - 3) * N; i < T * N; i++) all &= mk[(size_t)k * T * N + i];
    CHECK(all);
    soma_ndt_mask_draw(mk, K, T, N, 0.25f, SOMA_NDT_MASK_UNITS, 3, 0.5f, &r);
    int tails = 0;
    for (int k = 0; k < K; k++) {
        int full = 1;
        for (int i = (T - 3) * N; i < T * N; i++) full &= mk[(size_t)k * T * N + i];
        tails += full;
    }
    CHECK(fabs(tails / (double)K - 0.5) < 5 * sqrt(0.25 / K));
    free(mk);
}

/* The loss is the Poisson NLL over the masked entries only, from the log rates inference
 * gives; a masked input never reaches the model; an unmasked one does. */
static void test_loss_masked_only(void) {
    enum { K = 3, T = 6, N = 5 };
    soma_ndt *m = tiny_(T, 0);
    if (!m) return;
    int s;
    CHECK_OK(soma_ndt_add_session(m, N, -1, &s));
    float x[K * T * N], lr[K * T * N], z0[K * T * 8], z1[K * T * 8];
    counts_(x, K * T * N, 1.2, 4);
    uint8_t mask[K * T * N];
    soma_rng r;
    soma_rng_seed(&r, 9, 0);
    soma_ndt_mask_draw(mask, K, T, N, 0.3f, SOMA_NDT_MASK_BOTH, 0, 0.f, &r);
    double loss, loss2;
    CHECK_OK(soma_ndt_batch_loss(m, s, x, K, mask, 0, &loss));
    CHECK_OK(soma_ndt_infer(m, s, x, K, mask, z0, lr));
    double sum = 0, all = 0;
    long nm = 0;
    for (int i = 0; i < K * T * N; i++) {
        const double e = exp(lr[i]) - x[i] * lr[i];
        all += e;
        if (mask[i]) sum += e, nm++;
    }
    CHECK(nm > 0 && nm < K * T * N);
    CHECK(fabs(loss - sum / nm) <= 1e-5 * fabs(loss) + 1e-6);
    CHECK(fabs(loss - all / (K * T * N)) > 1e-3);
    /* change a masked entry: latents the same, loss different */
    int im = -1, iu = -1;
    for (int i = 0; i < K * T * N; i++) {
        if (mask[i] && im < 0) im = i;
        if (!mask[i] && iu < 0) iu = i;
    }
    float keep = x[im];
    x[im] = keep + 3.f;
    CHECK_OK(soma_ndt_infer(m, s, x, K, mask, z1, NULL));
    CHECK(memcmp(z0, z1, sizeof z0) == 0);
    CHECK_OK(soma_ndt_batch_loss(m, s, x, K, mask, 0, &loss2));
    CHECK(loss2 != loss);
    x[im] = keep;
    /* change an unmasked entry: the latents move */
    x[iu] += 3.f;
    CHECK_OK(soma_ndt_infer(m, s, x, K, mask, z1, NULL));
    CHECK(memcmp(z0, z1, sizeof z0) != 0);
    soma_ndt_free(m);
}

/* Sessions of 3 and 7 units share the trunk: parameter counts, output shapes, mixed batches. */
static void test_readin_shapes(void) {
    enum { T = 5, K = 4, D = 8 };
    soma_ndt *m = tiny_(T, 0);
    if (!m) return;
    int s0, s1;
    CHECK_OK(soma_ndt_add_session(m, 3, -1, &s0));
    CHECK_OK(soma_ndt_add_session(m, 7, -1, &s1));
    CHECK(s0 == 0 && s1 == 1 && soma_ndt_n_sessions(m) == 2);
    CHECK(soma_ndt_session_units(m, s0) == 3 && soma_ndt_session_units(m, s1) == 7);
    CHECK(soma_ndt_n_params(m, s0) == (size_t)(D * 3 + D + 3 * D + 3 + D));
    CHECK(soma_ndt_n_params(m, s1) == (size_t)(D * 7 + D + 7 * D + 7 + D));
    CHECK(soma_ndt_n_params(m, -1) > 0);
    float x0[K * T * 3], x1[K * T * 7], z[K * T * D], l1[K * T * 7 + 1];
    counts_(x0, sizeof x0 / 4, 1.0, 1);
    counts_(x1, sizeof x1 / 4, 1.0, 2);
    l1[K * T * 7] = -12345.f; /* the guard past [K, T, 7] stays */
    CHECK_OK(soma_ndt_infer(m, s1, x1, K, NULL, z, l1));
    CHECK(l1[K * T * 7] == -12345.f);
    CHECK_FAILS(soma_ndt_infer(m, 2, x1, K, NULL, z, l1), SOMA_ERR_ARG);
    /* both sessions in one batch (mix 2) */
    soma_counts c0, c1;
    CHECK_OK(soma_counts_alloc(&c0, 12, T, 3, 10));
    CHECK_OK(soma_counts_alloc(&c1, 12, T, 7, 10));
    counts_(c0.x, 12 * T * 3, 1.0, 3);
    counts_(c1.x, 12 * T * 7, 1.0, 4);
    soma_ndt_data d[2] = {{.counts = &c0, .session = s0}, {.counts = &c1, .session = s1}};
    soma_ndt_train_opts o = soma_ndt_train_default();
    o.steps = 3, o.batch = 6, o.mix = 2, o.eval_every = 3, o.valid_frac = 0.25f;
    size_t n0, n1;
    float *p0 = soma_ndt_params(m, s0, &n0), *p1 = soma_ndt_params(m, s1, &n1);
    float *b0 = malloc(n0 * 4), *b1 = malloc(n1 * 4);
    memcpy(b0, p0, n0 * 4), memcpy(b1, p1, n1 * 4);
    CHECK_OK(soma_ndt_train(m, d, 2, &o, -1));
    CHECK(memcmp(b0, p0, n0 * 4) != 0 && memcmp(b1, p1, n1 * 4) != 0); /* both sessions learn every step */
    soma_ndt_history h = soma_ndt_get_history(m);
    CHECK(h.n_evals == 1 && h.step[0] == 3 && isfinite(h.train_nll[0]) && isfinite(h.valid_nll[0]));
    /* wrong unit count for a session */
    soma_ndt_data bad = {.counts = &c1, .session = s0};
    soma_ndt_reset_run(m);
    CHECK_FAILS(soma_ndt_train(m, &bad, 1, &o, -1), SOMA_ERR_ARG);
    free(b0), free(b1);
    soma_counts_free(&c0), soma_counts_free(&c1);
    soma_ndt_free(m);
}

static void alloc_probe_(soma_ndt *m, int s, const float *x, int K, const uint8_t *mask) {
    double l;
    float lr[64 * 16];
    soma_alloc_fail_after(0);
    CHECK_OK(soma_ndt_batch_loss(m, s, x, K, mask, 1, &l));
    CHECK_OK(soma_ndt_infer(m, s, x, K, mask, NULL, lr));
    CHECK(soma_alloc_fail_after(-1) == 0); /* still armed: nothing was allocated */
}

/* Every parameter block (trunk, session, subject tokens) against five-point differences. */
static void test_gradient(void) {
    enum { K = 3, T = 5, N = 4 };
    soma_ndt *m = tiny_(T, 2);
    if (!m) return;
    int s;
    CHECK_OK(soma_ndt_add_session(m, N, 1, &s));
    float x[K * T * N];
    counts_(x, K * T * N, 1.3, 7);
    uint8_t mask[K * T * N];
    soma_rng r;
    soma_rng_seed(&r, 2, 0);
    soma_ndt_mask_draw(mask, K, T, N, 0.4f, SOMA_NDT_MASK_BOTH, 0, 0.f, &r);
    /* larger tokens than the initial 0.02 so their gradients are not tiny */
    size_t ns;
    float *ps = soma_ndt_params(m, s, &ns);
    soma_rng_uniform_fill(&r, ps + ns - 8, 8, -0.5f, 0.5f);
    double l0, l1;
    CHECK_OK(soma_ndt_batch_loss(m, s, x, K, mask, 1, &l0));
    const int blocks[3] = {-1, s, -2};
    float *ga[3];
    size_t nb[3];
    for (int b = 0; b < 3; b++) {
        float *g = soma_ndt_grads(m, blocks[b], &nb[b]);
        ga[b] = malloc(nb[b] * sizeof(float));
        memcpy(ga[b], g, nb[b] * sizeof(float));
    }
    /* the same numbers, bit for bit, with another thread count */
    const int saved = soma_get_threads();
    soma_set_threads(saved == 1 ? 3 : 1);
    CHECK_OK(soma_ndt_batch_loss(m, s, x, K, mask, 1, &l1));
    soma_set_threads(saved);
    CHECK(l1 == l0);
    for (int b = 0; b < 3; b++) CHECK(memcmp(ga[b], soma_ndt_grads(m, blocks[b], NULL), nb[b] * sizeof(float)) == 0);
    /* a step's forward and backward (and inference) allocate nothing once the buffers exist:
     * the next allocation would fail, and none is attempted */
    alloc_probe_(m, s, x, K, mask);
    const float h = 1e-2f;
    double worst = 0;
    int checked = 0;
    for (int b = 0; b < 3; b++) {
        float *p = soma_ndt_params(m, blocks[b], NULL);
        double scale = 0;
        for (size_t j = 0; j < nb[b]; j++) scale = fmax(scale, fabs(ga[b][j]));
        const size_t step = 1 + nb[b] / 60;
        for (size_t j = 0; j < nb[b]; j += step) {
            const float keep = p[j];
            double l[4];
            static const float at[4] = {2, 1, -1, -2};
            for (int k = 0; k < 4; k++) {
                p[j] = keep + at[k] * h;
                CHECK_OK(soma_ndt_batch_loss(m, s, x, K, mask, 0, &l[k]));
            }
            p[j] = keep;
            const double num = (-l[0] + 8 * l[1] - 8 * l[2] + l[3]) / (12.0 * h);
            const double err = fabs(ga[b][j] - num) / fmax(fmax(fabs(num), fabs(ga[b][j])), 0.05 * scale + 1e-6);
            if (err > 2e-2) fprintf(stderr, "ndt gradient: block %d index %zu: %g vs %g\n", blocks[b], j, ga[b][j], num);
            worst = fmax(worst, err);
            checked++;
        }
    }
    CHECK(worst <= 2e-2);
    printf("  gradient (trunk %zu, session %zu, subject tokens %zu values; %d checked): worst %.2e\n", nb[0], nb[1],
           nb[2], checked, worst);
    for (int b = 0; b < 3; b++) free(ga[b]);
    soma_ndt_free(m);
}

/* Training on 8 trials (each step sees all of them) lowers the masked loss of a fixed mask. */
static void test_loss_decreases(void) {
    enum { K = 8, T = 10, N = 6 };
    soma_ndt *m = tiny_(T, 0);
    if (!m) return;
    int s;
    CHECK_OK(soma_ndt_add_session(m, N, -1, &s));
    soma_counts c;
    CHECK_OK(soma_counts_alloc(&c, K, T, N, 10));
    /* structured rates: unit u fires at rate 0.3 + 2 * (u + t even) */
    soma_rng r;
    soma_rng_seed(&r, 1, 0);
    for (int k = 0; k < K; k++)
        for (int t = 0; t < T; t++)
            for (int u = 0; u < N; u++) c.x[(k * T + t) * N + u] = (float)soma_rng_poisson(&r, 0.3 + 2.0 * ((u + t) % 2 == 0));
    uint8_t mask[K * T * N];
    soma_ndt_mask_draw(mask, K, T, N, 0.25f, SOMA_NDT_MASK_BOTH, 0, 0.f, &r);
    double before, after;
    CHECK_OK(soma_ndt_batch_loss(m, s, c.x, K, mask, 0, &before));
    soma_ndt_data d = {.counts = &c, .session = s};
    soma_ndt_train_opts o = soma_ndt_train_default();
    o.steps = 150, o.batch = K, o.valid_frac = 0, o.warmup = 10, o.lr = 1e-2f, o.eval_every = 50;
    CHECK_OK(soma_ndt_train(m, &d, 1, &o, -1));
    CHECK_OK(soma_ndt_batch_loss(m, s, c.x, K, mask, 0, &after));
    CHECK(after < 0.8 * before);
    soma_ndt_history h = soma_ndt_get_history(m);
    CHECK(h.n_evals == 3 && h.train_nll[2] < h.train_nll[0] && isnan(h.valid_nll[0]));
    printf("  fixed-batch masked NLL %.4f -> %.4f after %ld steps\n", before, after, o.steps);
    soma_counts_free(&c);
    soma_ndt_free(m);
}

/* Three sessions of different sizes, subjects, dropout; run A uninterrupted; run B stopped at
 * step 7 (last checkpoint at 6), the model dropped, reloaded from the file and finished:
 * identical parameters and history. */
static void test_resume(void) {
    enum { T = 6 };
    const int units[3] = {4, 6, 5};
    soma_counts c[3];
    for (int i = 0; i < 3; i++) {
        CHECK_OK(soma_counts_alloc(&c[i], 10 + i, T, units[i], 10));
        counts_(c[i].x, (size_t)(10 + i) * T * units[i], 0.8, 20 + (uint64_t)i);
    }
    char pa[64], pb[64];
    snprintf(pa, sizeof pa, "/tmp/ndt_resume_a_%d.ckpt", (int)getpid());
    snprintf(pb, sizeof pb, "/tmp/ndt_resume_b_%d.ckpt", (int)getpid());
    soma_ndt_train_opts o = soma_ndt_train_default();
    o.steps = 15, o.batch = 5, o.mix = 2, o.eval_every = 4, o.ckpt_every = 3, o.warmup = 3, o.valid_frac = 0.2f;
    o.forecast_bins = 2;
    soma_ndt *A = tiny_drop_(T, 2, 0.2f), *B = tiny_drop_(T, 2, 0.2f), *B2 = NULL; /* dropout streams resume too */
    if (!A || !B) return;
    soma_ndt_data d[3];
    for (int i = 0; i < 3; i++) {
        int sa, sb;
        CHECK_OK(soma_ndt_add_session(A, units[i], i % 2, &sa));
        CHECK_OK(soma_ndt_add_session(B, units[i], i % 2, &sb));
        d[i] = (soma_ndt_data){.counts = &c[i], .session = sa};
    }
    const int saved = soma_get_threads();
    soma_set_threads(saved == 1 ? 2 : 1); /* A under another thread count */
    o.ckpt_path = pa;
    CHECK_OK(soma_ndt_train(A, d, 3, &o, -1));
    soma_set_threads(saved);
    o.ckpt_path = pb;
    CHECK_OK(soma_ndt_train(B, d, 3, &o, 7));
    CHECK(soma_ndt_step(B) == 7);
    soma_ndt_free(B); /* "killed" after step 7: the file holds step 6 */
    CHECK_OK(soma_ndt_load(&B2, pb));
    if (!B2) goto out;
    CHECK(soma_ndt_step(B2) == 6 && soma_ndt_n_sessions(B2) == 3);
    /* other options cannot continue the run */
    soma_ndt_train_opts o2 = o;
    o2.lr *= 2;
    CHECK_FAILS(soma_ndt_train(B2, d, 3, &o2, -1), SOMA_ERR_ARG);
    CHECK_OK(soma_ndt_train(B2, d, 3, &o, -1));
    CHECK(soma_ndt_step(B2) == 15);
    for (int b = -2; b < 3; b++) {
        size_t na, nb;
        const float *va = soma_ndt_params(A, b, &na), *vb = soma_ndt_params(B2, b, &nb);
        CHECK(na == nb && na > 0 && memcmp(va, vb, na * sizeof(float)) == 0);
    }
    soma_ndt_history ha = soma_ndt_get_history(A), hb = soma_ndt_get_history(B2);
    CHECK(ha.n_evals == 4 && hb.n_evals == 4);
    for (int i = 0; i < ha.n_evals && i < hb.n_evals; i++)
        CHECK(ha.step[i] == hb.step[i] && ha.train_nll[i] == hb.train_nll[i] && ha.valid_nll[i] == hb.valid_nll[i] &&
              ha.valid_bps[i] == hb.valid_bps[i]);
    /* the final checkpoint of A loads to the same parameters */
    soma_ndt *A2 = NULL;
    CHECK_OK(soma_ndt_load(&A2, pa));
    if (A2) {
        size_t n;
        const float *v = soma_ndt_params(A2, -1, &n);
        CHECK(memcmp(v, soma_ndt_params(A, -1, NULL), n * sizeof(float)) == 0);
        soma_ndt_free(A2);
    }
out:
    soma_ndt_free(A);
    soma_ndt_free(B2);
    remove(pa), remove(pb);
    for (int i = 0; i < 3; i++) soma_counts_free(&c[i]);
}

/* Shared Lorenz dynamics seen through different unit subsets ("sessions"): pre-train on three,
 * adapt to a fourth with a frozen trunk from 20 trials; its held-out units are predicted above
 * the null (co-bps > 0); forecast rates beat the null (fp-bps > 0); trials of a pre-training
 * session whose units were shuffled score as anomalies (AUROC > 0.75). */
static void test_adaptation(void) {
    soma_synth_opts so = soma_synth_opts_default(SOMA_SYNTH_LORENZ);
    so.n_trials = 100, so.n_bins = 20, so.n_units = 64, so.base_rate_hz = 30, so.seed = 11, so.n_conds = 0;
    soma_synth syn;
    CHECK_OK(soma_synth_make(&so, &syn));
    const int T = 20, per = 16;
    soma_counts sess[4];
    for (int i = 0; i < 4; i++) {
        CHECK_OK(soma_counts_alloc(&sess[i], 100, T, per, 10));
        for (int k = 0; k < 100; k++)
            for (int t = 0; t < T; t++)
                for (int u = 0; u < per; u++)
                    sess[i].x[(k * T + t) * per + u] = syn.spikes.x[(k * T + t) * 64 + i * per + u];
    }
    soma_ndt_arch a = soma_ndt_arch_default();
    a.n_bins = T, a.d_model = 16, a.n_layers = 1, a.n_heads = 2, a.dropout = 0;
    soma_ndt *m = NULL;
    CHECK_OK(soma_ndt_new(&m, &a));
    if (!m) return;
    soma_ndt_data d[3];
    for (int i = 0; i < 3; i++) {
        int s;
        CHECK_OK(soma_ndt_add_session(m, per, -1, &s));
        d[i] = (soma_ndt_data){.counts = &sess[i], .session = s};
    }
    soma_ndt_train_opts o = soma_ndt_train_default();
    o.steps = 600, o.batch = 16, o.lr = 5e-3f, o.warmup = 20, o.eval_every = 300, o.forecast_bins = 4;
    CHECK_OK(soma_ndt_train(m, d, 3, &o, -1));
    soma_ndt_history h = soma_ndt_get_history(m);
    CHECK(h.n_evals == 2 && h.valid_bps[1] > 0);
    printf("  pre-training: valid masked NLL %.4f, bps %.3f\n", (double)h.valid_nll[h.n_evals - 1],
           (double)h.valid_bps[h.n_evals - 1]);
    /* adaptation: session 4, 20 training trials, 4 held-out units always masked in training */
    int s4;
    CHECK_OK(soma_ndt_add_session(m, per, -1, &s4));
    soma_counts few, test;
    CHECK_OK(soma_counts_alloc(&few, 20, T, per, 10));
    CHECK_OK(soma_counts_alloc(&test, 50, T, per, 10));
    memcpy(few.x, sess[3].x, sizeof(float) * 20 * T * per);
    memcpy(test.x, sess[3].x + 50 * T * per, sizeof(float) * 50 * T * per);
    uint8_t held[16] = {0};
    held[1] = held[6] = held[10] = held[13] = 1;
    soma_ndt_reset_run(m);
    soma_ndt_train_opts oa = o;
    oa.train_trunk = 0, oa.steps = 150, oa.valid_frac = 0;
    soma_ndt_data df = {.counts = &few, .session = s4, .heldout = held};
    CHECK_OK(soma_ndt_train(m, &df, 1, &oa, -1));
    /* co-smoothing: rates of the held-out units of the test trials, from the held-in ones */
    uint8_t *mk = calloc((size_t)50 * T * per, 1);
    float *lr = malloc(sizeof(float) * 50 * T * per), *rh = malloc(sizeof(float) * 50 * T * 4),
          *yh = malloc(sizeof(float) * 50 * T * 4);
    for (int i = 0; i < 50 * T * per; i++) mk[i] = held[i % per];
    CHECK_OK(soma_ndt_infer(m, s4, test.x, 50, mk, NULL, lr));
    for (int row = 0, j = 0; row < 50 * T; row++)
        for (int u = 0; u < per; u++)
            if (held[u]) rh[j] = expf(lr[row * per + u]), yh[j] = test.x[row * per + u], j++;
    double co_bps = NAN;
    CHECK_OK(soma_nlb_bits_per_spike(rh, yh, 50L * T, 4, &co_bps));
    CHECK(co_bps > 0);
    /* forecast of the last 4 bins */
    float *fr = malloc(sizeof(float) * 50 * 4 * per), *fy = malloc(sizeof(float) * 50 * 4 * per);
    CHECK_OK(soma_ndt_forecast(m, s4, &test, 4, fr));
    for (int k = 0; k < 50; k++) memcpy(fy + k * 4 * per, test.x + (k * T + T - 4) * per, sizeof(float) * 4 * per);
    double fp_bps = NAN;
    CHECK_OK(soma_nlb_bits_per_spike(fr, fy, 50L * 4, per, &fp_bps));
    CHECK(fp_bps > 0);
    /* anomalies, on the pre-training session 0 (trials 50..99): half of them with their units
     * shuffled (swapped channels), scored with time bins masked */
    soma_counts an;
    CHECK_OK(soma_counts_alloc(&an, 50, T, per, 10));
    memcpy(an.x, sess[0].x + 50 * T * per, sizeof(float) * 50 * T * per);
    soma_rng r;
    soma_rng_seed(&r, 77, 0);
    unsigned char lab[50];
    for (int k = 0; k < 50; k++) {
        lab[k] = k % 2;
        if (!lab[k]) continue;
        int perm[16];
        soma_rng_permutation(&r, perm, per);
        float tmp[20 * 16];
        for (int t = 0; t < T; t++)
            for (int u = 0; u < per; u++) tmp[t * per + u] = an.x[(k * T + t) * per + perm[u]];
        memcpy(an.x + k * T * per, tmp, sizeof tmp);
    }
    float score[50];
    soma_ndt_data dt = {.counts = &an, .session = d[0].session};
    CHECK_OK(soma_ndt_anomaly(m, &dt, 0.25f, SOMA_NDT_MASK_BINS, 8, 5, score));
    double auroc = 0;
    CHECK_OK(soma_auc(score, lab, 50, &auroc, NULL));
    CHECK(auroc > 0.75);
    printf("  adaptation from 20 trials (trunk frozen): co-bps %.3f, fp-bps %.3f; unit-shuffled-trial AUROC %.3f\n",
           co_bps, fp_bps, auroc);
    free(mk), free(lr), free(rh), free(yh), free(fr), free(fy);
    soma_counts_free(&few), soma_counts_free(&test), soma_counts_free(&an);
    for (int i = 0; i < 4; i++) soma_counts_free(&sess[i]);
    soma_synth_free(&syn);
    soma_ndt_free(m);
}

static void test_bad_input(void) {
    soma_ndt_arch a = soma_ndt_arch_default();
    soma_ndt *m = NULL;
    CHECK_FAILS(soma_ndt_new(&m, &a), SOMA_ERR_ARG); /* n_bins unset */
    a.n_bins = 5, a.d_model = 10, a.n_heads = 4;
    CHECK_FAILS(soma_ndt_new(&m, &a), SOMA_ERR_ARG); /* heads do not divide the width */
    m = tiny_(5, 1);
    if (!m) return;
    int s;
    CHECK_FAILS(soma_ndt_add_session(m, 0, -1, &s), SOMA_ERR_ARG);
    CHECK_FAILS(soma_ndt_add_session(m, 4, 1, &s), SOMA_ERR_ARG); /* subject 1 of 1 */
    CHECK_OK(soma_ndt_add_session(m, 4, 0, &s));
    soma_counts c;
    CHECK_OK(soma_counts_alloc(&c, 6, 5, 4, 10));
    counts_(c.x, 6 * 5 * 4, 1.0, 1);
    soma_ndt_data d = {.counts = &c, .session = s};
    soma_ndt_train_opts o = soma_ndt_train_default();
    o.steps = 2;
    o.mask_ratio = 1.f;
    CHECK_FAILS(soma_ndt_train(m, &d, 1, &o, -1), SOMA_ERR_ARG);
    o.mask_ratio = 0.25f, o.batch = 0;
    CHECK_FAILS(soma_ndt_train(m, &d, 1, &o, -1), SOMA_ERR_ARG);
    o.batch = 4, o.ckpt_every = 1;
    CHECK_FAILS(soma_ndt_train(m, &d, 1, &o, -1), SOMA_ERR_ARG); /* no checkpoint path */
    o.ckpt_every = 0;
    soma_ndt_data twice[2] = {d, d};
    CHECK_FAILS(soma_ndt_train(m, twice, 2, &o, -1), SOMA_ERR_ARG);
    d.session = 3;
    CHECK_FAILS(soma_ndt_train(m, &d, 1, &o, -1), SOMA_ERR_ARG);
    d.session = s;
    float rates[6 * 5 * 4];
    CHECK_FAILS(soma_ndt_forecast(m, s, &c, 5, rates), SOMA_ERR_ARG);
    CHECK_FAILS(soma_ndt_eval(m, &d, 0.f, SOMA_NDT_MASK_BOTH, 1, 1, NULL, NULL), SOMA_ERR_ARG);
    /* files: missing, not a checkpoint, a checkpoint without the NDT sections */
    soma_ndt *l = NULL;
    CHECK(soma_ndt_load(&l, "/nonexistent/ndt.ckpt") != SOMA_OK && !l);
    char p[64];
    snprintf(p, sizeof p, "/tmp/ndt_bad_%d.ckpt", (int)getpid());
    FILE *f = fopen(p, "wb");
    fputs("not a checkpoint at all", f);
    fclose(f);
    CHECK_FAILS(soma_ndt_load(&l, p), SOMA_ERR_FORMAT);
    soma_net *net = NULL;
    CHECK_OK(soma_net_new(&net, "pos,layernorm", soma_shape2(6, 8), 1));
    soma_ckpt_meta meta = {0};
    CHECK_OK(soma_ckpt_save(p, net, NULL, &meta));
    CHECK_FAILS(soma_ndt_load(&l, p), SOMA_ERR_FORMAT);
    soma_net_free(net);
    remove(p);
    soma_counts_free(&c);
    soma_ndt_free(m);
}

int main(void) {
    double t0 = soma_now();
    test_masks();
    test_loss_masked_only();
    test_readin_shapes();
    test_gradient();
    test_loss_decreases();
    test_resume();
    test_adaptation();
    test_bad_input();
    printf("  %.2f s\n", soma_now() - t0);
    return check_report("test_neuro_ndt");
}
