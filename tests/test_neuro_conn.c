/* Connectivity inference (soma/neuro.h): the GLM objective against finite differences, the GLM
 * (and the GNN, the correlogram) recovering planted couplings of a simulated Poisson GLM
 * network, AUROC/AUPRC/ROC against NumPy fixtures (tests/ref/gen_conn.py), the LIF ground
 * truth, determinism (also across thread counts) and bad input. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fixture.h"
#include "scratch.h"
#include "soma/exp.h"
#include "soma/neuro.h"

static void test_metrics(void) {
    fixture f;
    if (fixture_load(check_src_path("tests/fixtures/conn/auc.bin"), &f) != 0) {
        CHECK(0);
        return;
    }
    for (int c = 0; c < f.n; c++) {
        char k[5][16];
        snprintf(k[0], 16, "score%d", c);
        snprintf(k[1], 16, "label%d", c);
        snprintf(k[2], 16, "auc%d", c);
        snprintf(k[3], 16, "fpr%d", c);
        snprintf(k[4], 16, "tpr%d", c);
        const fixture_array *s = fixture_get(&f, k[0]), *l = fixture_get(&f, k[1]), *a = fixture_get(&f, k[2]);
        const fixture_array *fp = fixture_get(&f, k[3]), *tp = fixture_get(&f, k[4]);
        CHECK(s && l && a && fp && tp);
        if (!s || !l || !a || !fp || !tp) continue;
        const long n = (long)s->n;
        unsigned char *lab = malloc((size_t)n);
        float *x = malloc((size_t)(n + 1) * sizeof *x), *y = malloc((size_t)(n + 1) * sizeof *y);
        for (long i = 0; i < n; i++) lab[i] = l->data[i] != 0.f;
        double roc, pr;
        long m = 0;
        CHECK_OK(soma_auc(s->data, lab, n, &roc, &pr));
        CHECK(fabs(roc - a->data[0]) < 1e-6 && fabs(pr - a->data[1]) < 1e-6);
        CHECK_OK(soma_roc_curve(s->data, lab, n, x, y, &m));
        CHECK(m == (long)fp->n);
        if (m == (long)fp->n) {
            CHECK_CLOSE("fpr", x, fp->data, (size_t)m, 1e-6, 0);
            CHECK_CLOSE("tpr", y, tp->data, (size_t)m, 1e-6, 0);
        }
        free(lab);
        free(x);
        free(y);
    }
    fixture_free(&f);
    /* edge AUC: off-diagonal only, by |score|: an inhibitory edge counts as found */
    const float w[9] = {0, 1, 0, 0, 5, -2, 0, 0, 0}; /* 0->1, 1->2 (the diagonal 5 is ignored) */
    const float sc[9] = {9, 0.5f, 0.1f, 0.2f, 9, -0.7f, 0.3f, 0.05f, 9};
    double roc, pr;
    CHECK_OK(soma_edge_auc(sc, w, 3, &roc, &pr));
    CHECK(roc == 1.0 && pr == 1.0);
    const float sc2[9] = {0, 0.1f, 0.2f, 0.3f, 0, 0.05f, 0.4f, 0.5f, 0}; /* every true edge last */
    CHECK_OK(soma_edge_auc(sc2, w, 3, &roc, &pr));
    CHECK(roc == 0.0 && fabs(pr - 0.5 * (1.0 / 5 + 2.0 / 6)) < 1e-12);
    const unsigned char one[3] = {1, 1, 1};
    CHECK_FAILS(soma_auc(sc, one, 3, &roc, &pr), SOMA_ERR_ARG); /* no negatives */
    CHECK_FAILS(soma_auc(sc, one, 0, &roc, &pr), SOMA_ERR_ARG);
    CHECK_FAILS(soma_edge_auc(sc, w, 1, &roc, &pr), SOMA_ERR_ARG);
}

/* The objective's gradient and Hessian against central differences of f and of the gradient. */
static void test_objective_fd(void) {
    enum { T = 400, F = 5 };
    float *X = malloc(sizeof(float) * T * F), y[T];
    soma_rng r;
    soma_rng_seed(&r, 7, 0);
    double w[F] = {0.3, -0.2, 0.5, 0.1, -1.0}, g[F], H[F * F], gp[F], gm[F], f, fp, fm;
    for (int t = 0; t < T; t++) {
        double eta = 0;
        for (int k = 0; k < F; k++) {
            X[t * F + k] = k == F - 1 ? 1.f : (float)soma_rng_uniform(&r);
            eta += w[k] * X[t * F + k];
        }
        y[t] = (float)soma_rng_poisson(&r, exp(eta));
    }
    w[0] += 0.4; /* away from the optimum */
    CHECK_OK(soma_glm_objective(X, y, w, T, F, 0.7, F - 1, &f, g, H));
    double worst_g = 0, worst_h = 0;
    const double h = 1e-2;
    for (int k = 0; k < F; k++) {
        double wp[F], wm[F];
        memcpy(wp, w, sizeof wp);
        memcpy(wm, w, sizeof wm);
        wp[k] += h;
        wm[k] -= h;
        CHECK_OK(soma_glm_objective(X, y, wp, T, F, 0.7, F - 1, &fp, gp, NULL));
        CHECK_OK(soma_glm_objective(X, y, wm, T, F, 0.7, F - 1, &fm, gm, NULL));
        const double num = (fp - fm) / (2 * h);
        worst_g = fmax(worst_g, fabs(num - g[k]) / (1 + fabs(g[k])));
        for (int q = 0; q < F; q++) {
            const double nh = (gp[q] - gm[q]) / (2 * h);
            worst_h = fmax(worst_h, fabs(nh - H[q * F + k]) / (1 + fabs(H[q * F + k])));
        }
    }
    printf("glm objective: worst relative error gradient %.2e, Hessian %.2e\n", worst_g, worst_h);
    CHECK(worst_g < 1e-3 && worst_h < 1e-3);
    CHECK(fabs(H[0 * F + 1] - H[1 * F + 0]) < 1e-9 * (1 + fabs(H[1])));
    CHECK_FAILS(soma_glm_objective(X, y, w, T, F, 0.7, F + 1, &f, g, H), SOMA_ERR_ARG);
    CHECK_FAILS(soma_glm_objective(X, y, w, 0, F, 0.7, 0, &f, g, H), SOMA_ERR_ARG);
    free(X);
}

/* A Poisson GLM network simulated from known filters on the same raised-cosine bases: 1 ms
 * bins, 6 neurons, couplings 0 -> 1 (+), 2 -> 3 (-), 4 -> 5 (+), a refractory self-filter. */
enum { PN = 6, PB = 2, PH = 10 };
static const double planted_[PN][PN] = {
    /* planted_[j][i]: the weight of both bases of j's filter onto i */
    {0, 1.2, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0}, {0, 0, 0, -1.5, 0, 0},
    {0, 0, 0, 0, 0, 0},   {0, 0, 0, 0, 0, 1.0}, {0, 0, 0, 0, 0, 0},
};

static void simulate_glm_(soma_spikes *s, long T) {
    float basis[PB * PH];
    soma_glm_basis(basis, PB, PH);
    double kern[PH + 1]; /* kern[l]: summed basis at lag l */
    for (int l = 1; l <= PH; l++) kern[l] = basis[l - 1] + basis[PH + l - 1];
    int *y = calloc((size_t)T * PN, sizeof *y);
    soma_rng r;
    soma_rng_seed(&r, 11, 0);
    soma_spikes_init(s, PN, 0.0);
    for (long t = 0; t < T; t++)
        for (int i = 0; i < PN; i++) {
            double eta = log(0.03);
            for (int l = 1; l <= PH && l <= t; l++) {
                const int *past = y + (t - l) * PN;
                eta += -2.0 * kern[l] * past[i];
                for (int j = 0; j < PN; j++) eta += planted_[j][i] * kern[l] * past[j];
            }
            y[t * PN + i] = (int)soma_rng_poisson(&r, exp(eta));
        }
    for (long t = 0; t < T; t++)
        for (int i = 0; i < PN; i++)
            for (int k = 0; k < y[t * PN + i]; k++) soma_spikes_push(s, i, (double)t + 0.5);
    s->t_stop = (double)T;
    free(y);
}

static void test_planted(void) {
    soma_spikes s;
    simulate_glm_(&s, 30000);
    float basis[PB * PH];
    soma_glm_basis(basis, PB, PH);
    double ksum = 0;
    for (int k = 0; k < PB * PH; k++) ksum += basis[k];
    soma_glm_opts o = soma_glm_defaults();
    o.bin_ms = 1.0;
    o.n_bases = PB;
    o.n_lags = PH;
    o.l2 = 0.1;
    float sc[PN * PN], sc2[PN * PN], w[PN * PN];
    for (int j = 0; j < PN; j++)
        for (int i = 0; i < PN; i++) w[j * PN + i] = (float)planted_[j][i];
    double nll, roc, pr;
    CHECK_OK(soma_infer_glm(&s, &o, sc, &nll));
    double worst = 0, worst_null = 0;
    for (int j = 0; j < PN; j++)
        for (int i = 0; i < PN; i++) {
            if (i == j) continue;
            const double truth = planted_[j][i] * ksum, got = sc[j * PN + i];
            if (truth != 0) worst = fmax(worst, fabs(got - truth) / fabs(truth));
            else worst_null = fmax(worst_null, fabs(got));
        }
    printf("planted GLM: worst relative error of a planted summed filter %.3f, largest null |score| %.3f "
           "(planted %.2f .. %.2f), nll/bin %.4f\n",
           worst, worst_null, 1.0 * ksum, -1.5 * ksum, nll);
    CHECK(worst < 0.25 && worst_null < 0.3 * ksum);
    CHECK(sc[0 * PN + 1] > 0 && sc[2 * PN + 3] < 0 && sc[4 * PN + 5] > 0);
    CHECK_OK(soma_edge_auc(sc, w, PN, &roc, &pr));
    CHECK(roc == 1.0 && pr == 1.0);
    /* determinism, and the thread count changes nothing */
    soma_set_threads(1);
    CHECK_OK(soma_infer_glm(&s, &o, sc2, NULL));
    soma_set_threads(2);
    CHECK(memcmp(sc, sc2, sizeof sc) == 0);
    /* the GNN finds the same edges, deterministically for a seed */
    soma_gnn_opts g = soma_gnn_defaults();
    g.glm = o;
    g.hidden = 4;
    g.glm.max_iter = 40;
    CHECK_OK(soma_infer_gnn(&s, &g, 3, sc, &nll));
    CHECK_OK(soma_edge_auc(sc, w, PN, &roc, &pr));
    printf("planted GNN: AUROC %.3f AUPRC %.3f, nll/bin %.4f, scores 0->1 %.3f 2->3 %.3f 4->5 %.3f\n", roc, pr, nll,
           (double)sc[1], (double)sc[2 * PN + 3], (double)sc[4 * PN + 5]);
    CHECK(roc == 1.0 && sc[0 * PN + 1] > 0 && sc[2 * PN + 3] < 0 && sc[4 * PN + 5] > 0);
    g.glm.max_iter = 15; /* the same few steps on 1 and on 2 threads */
    CHECK_OK(soma_infer_gnn(&s, &g, 3, sc, NULL));
    soma_set_threads(1);
    CHECK_OK(soma_infer_gnn(&s, &g, 3, sc2, NULL));
    soma_set_threads(2);
    CHECK(memcmp(sc, sc2, sizeof sc) == 0);
    /* the correlogram ranks the excitatory edges first */
    CHECK_OK(soma_infer_ccg(&s, 6.0, 40.0, sc));
    double best_null = -1e30;
    for (int k = 0; k < PN * PN; k++)
        if (w[k] == 0 && k % (PN + 1) != 0) best_null = fmax(best_null, sc[k]);
    CHECK(sc[0 * PN + 1] > best_null && sc[4 * PN + 5] > best_null && sc[2 * PN + 3] < 0);

    /* bad input */
    CHECK_FAILS(soma_infer_ccg(&s, 5.0, 5.0, sc), SOMA_ERR_ARG);
    soma_glm_opts bad = o;
    bad.n_bases = 20; /* more bases than lags */
    CHECK_FAILS(soma_infer_glm(&s, &bad, sc, NULL), SOMA_ERR_ARG);
    bad = o;
    bad.bin_ms = 0;
    CHECK_FAILS(soma_infer_glm(&s, &bad, sc, NULL), SOMA_ERR_ARG);
    g.hidden = 0;
    CHECK_FAILS(soma_infer_gnn(&s, &g, 3, sc, NULL), SOMA_ERR_ARG);
    s.id[5] = PN; /* a spike of a neuron the record does not have */
    CHECK_FAILS(soma_infer_glm(&s, &o, sc, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_infer_ccg(&s, 5.0, 40.0, sc), SOMA_ERR_ARG);
    soma_spikes_free(&s);
}

static void test_synth_lif(void) {
    soma_synth_lif_opts o = soma_synth_lif_defaults();
    o.n = 40;
    o.duration_ms = 5000;
    soma_spikes s, s2;
    float *w = malloc(sizeof(float) * 40 * 40), *w2 = malloc(sizeof(float) * 40 * 40);
    CHECK_OK(soma_synth_lif(&o, 5, &s, w));
    int ne = 0, bad_sign = 0, diag = 0;
    for (int j = 0; j < 40; j++)
        for (int i = 0; i < 40; i++) {
            const float v = w[j * 40 + i];
            ne += v != 0;
            diag += i == j && v != 0;
            bad_sign += v != 0 && (j < 32 ? v != (float)o.w_exc : v != (float)o.w_inh);
        }
    double rate = s.n / 40.0 / 5.0, ordered = 1;
    for (long k = 1; k < s.n; k++) ordered = ordered && s.t[k] >= s.t[k - 1];
    printf("synth-lif: %d synapses of 1560 pairs, %.1f Hz\n", ne, rate);
    CHECK(ne > 100 && ne < 220 && bad_sign == 0 && diag == 0 && ordered);
    CHECK(rate > 2 && rate < 80 && s.n_neurons == 40 && s.t_stop == 5000);
    CHECK_OK(soma_synth_lif(&o, 5, &s2, w2)); /* deterministic */
    CHECK(s2.n == s.n && memcmp(s.t, s2.t, (size_t)s.n * sizeof *s.t) == 0 &&
          memcmp(w, w2, sizeof(float) * 1600) == 0);
    soma_spikes_free(&s2);
    o.w_inh = 1.0;
    CHECK_FAILS(soma_synth_lif(&o, 5, &s2, w2), SOMA_ERR_ARG);
    o = soma_synth_lif_defaults();
    o.n = 1;
    CHECK_FAILS(soma_synth_lif(&o, 5, &s2, w2), SOMA_ERR_ARG);
    soma_spikes_free(&s);
    free(w);
    free(w2);
}

static double method_(const cJSON *ours, const char *m, const char *k) {
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(ours, m);
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* The experiment's headline at reduced size (30 neurons, 10 s): every method well above
 * chance, the GNN within reach of the GLM, both figures written; bad options refused. */
static void test_experiment(void) {
    const soma_experiment *e = soma_exp_find("connectivity-lif");
    CHECK(e != NULL);
    if (!e || !scratch_init("neuro_conn")) return;
    cJSON *r = NULL;
    CHECK_OK(soma_exp_run_reduced(e, 0, NULL, scratch_dir_, &r));
    if (!r) return;
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(r, "ours");
    const double glm = method_(o, "glm", "auroc"), gnn = method_(o, "gnn", "auroc"), ccg = method_(o, "ccg", "auroc");
    printf("connectivity-lif (reduced): AUROC GLM %.3f, GNN %.3f, correlogram %.3f; AUPRC GLM %.3f GNN %.3f\n", glm,
           gnn, ccg, method_(o, "glm", "auprc"), method_(o, "gnn", "auprc"));
    CHECK(glm > 0.8 && gnn > 0.8 && ccg > 0.8 && gnn > glm - 0.05);
    CHECK(method_(o, "glm", "auprc") > 0.3 && method_(o, "glm", "sign_accuracy") > 0.9);
    struct stat st;
    char p[1200];
    snprintf(p, sizeof p, "%s/connectivity-lif/roc.svg", scratch_dir_);
    CHECK(stat(p, &st) == 0 && st.st_size > 1000);
    snprintf(p, sizeof p, "%s/connectivity-lif/weights.svg", scratch_dir_);
    CHECK(stat(p, &st) == 0 && st.st_size > 1000);
    cJSON_Delete(r);
    const char *bad[] = {"--neurons", "5"};
    CHECK_FAILS(soma_exp_run(e, 2, bad, scratch_dir_, NULL), SOMA_ERR_ARG);
    scratch_remove();
}

int main(void) {
    soma_set_threads(2);
    test_metrics();
    test_objective_fd();
    test_planted();
    test_synth_lif();
    test_experiment();
    return check_report("neuro_conn");
}
