// Rao & Ballard's (1999) hierarchical predictive coding: a two-level generative model of image
// patches. Level 1's causes r1 predict the patch through U1, level 2's causes r2 predict r1
// through U2; the causes settle by descending the energy
//     E = |x - U1 r1|^2 / s1 + |r1 - U2 r2|^2 / s2 + prior (|r1|_1 + |r2|_1)
// (bottom-up errors drive the causes, top-down predictions constrain them), then the weights
// take a Hebbian step, error x cause. A whole batch settles at once: every product is a GEMM
// over the batch's rows.
#include <math.h>
#include <string.h>

#include "learn/internal.h"
#include "soma/learn.h"

typedef struct rb_cfg {
    int steps;
    float rate, lr, s1, s2, prior;
} rb_cfg;

static soma_status rb_cfg_(const soma_rb_opts *o, rb_cfg *c) {
    if (!o) return soma_error(SOMA_ERR_ARG, "rao-ballard: no options");
    c->steps = o->infer_steps ? o->infer_steps : 50;
    c->rate = o->infer_rate != 0.f ? o->infer_rate : 0.05f;
    c->s1 = o->s1 != 0.f ? o->s1 : 1.f;
    c->s2 = o->s2 != 0.f ? o->s2 : 1.f;
    c->lr = o->lr;
    c->prior = o->prior;
    if (c->steps < 1 || c->steps > 100000)
        return soma_error(SOMA_ERR_ARG, "rao-ballard: infer_steps %d out of [1, 100000]", o->infer_steps);
    if (!(c->rate > 0.f) || !isfinite(c->rate))
        return soma_error(SOMA_ERR_ARG, "rao-ballard: infer_rate %g must be > 0", (double)c->rate);
    if (!(c->s1 > 0.f) || !(c->s2 > 0.f) || !isfinite(c->s1) || !isfinite(c->s2))
        return soma_error(SOMA_ERR_ARG, "rao-ballard: variances s1 %g, s2 %g must be > 0", (double)c->s1,
                          (double)c->s2);
    if (!(c->prior >= 0.f) || !isfinite(c->prior))
        return soma_error(SOMA_ERR_ARG, "rao-ballard: prior %g must be >= 0", (double)c->prior);
    if (!(c->lr >= 0.f) || !isfinite(c->lr))
        return soma_error(SOMA_ERR_ARG, "rao-ballard: learning rate %g must be >= 0", (double)c->lr);
    return SOMA_OK;
}

static soma_status rb_model_check_(const soma_rb *m) {
    if (!m || !m->U1 || !m->U2 || m->d < 1 || m->k1 < 1 || m->k2 < 1)
        return soma_error(SOMA_ERR_ARG, "rao-ballard: the model is not initialised (soma_rb_init)");
    return SOMA_OK;
}

static void unit_columns_(float *U, int rows, int cols) {
    for (int j = 0; j < cols; j++) {
        double s = 0.0;
        for (int i = 0; i < rows; i++) s += (double)U[(size_t)i * cols + j] * U[(size_t)i * cols + j];
        if (s <= 0.0) continue;
        const float inv = (float)(1.0 / sqrt(s));
        for (int i = 0; i < rows; i++) U[(size_t)i * cols + j] *= inv;
    }
}

soma_status soma_rb_init(soma_rb *m, int d, const soma_rb_opts *o) {
    if (!m) return soma_error(SOMA_ERR_ARG, "rao-ballard: no model");
    memset(m, 0, sizeof *m);
    if (!o) return soma_error(SOMA_ERR_ARG, "rao-ballard: no options");
    if (d < 1 || o->k1 < 1 || o->k2 < 1 || d > (1 << 20) || o->k1 > (1 << 16) || o->k2 > (1 << 16))
        return soma_error(SOMA_ERR_ARG, "rao-ballard: want d, k1, k2 >= 1 (got d %d, k1 %d, k2 %d)", d, o->k1, o->k2);
    m->U1 = soma_alloc((size_t)d * o->k1, sizeof(float));
    m->U2 = soma_alloc((size_t)o->k1 * o->k2, sizeof(float));
    if (!m->U1 || !m->U2) {
        soma_rb_free(m);
        return SOMA_ERR_NOMEM;
    }
    m->d = d;
    m->k1 = o->k1;
    m->k2 = o->k2;
    soma_rng rng;
    soma_rng_seed(&rng, o->seed, 0);
    soma_rng_normal_fill(&rng, m->U1, (size_t)d * o->k1, 0.f, 1.f);
    soma_rng_normal_fill(&rng, m->U2, (size_t)o->k1 * o->k2, 0.f, 1.f);
    unit_columns_(m->U1, d, m->k1);
    unit_columns_(m->U2, m->k1, m->k2);
    return SOMA_OK;
}

void soma_rb_free(soma_rb *m) {
    if (!m) return;
    soma_free(m->U1);
    soma_free(m->U2);
    m->U1 = m->U2 = NULL;
}

size_t soma_rb_work_size(const soma_rb *m, int n) {
    if (!m || n < 1) return 0;
    /* R1, R2, E1, E2, G1, G2 */
    return (size_t)n * (2 * (size_t)m->k1 + (size_t)m->k2 + (size_t)m->d + (size_t)m->k1 + (size_t)m->k2);
}

/* E1 = X - R1 U1', E2 = R1 - R2 U2' for n rows; returns the rows' summed energy when want_e,
 * else 0 */
static double rb_errors_(const soma_rb *m, const rb_cfg *c, const float *X, int n, const float *R1, const float *R2,
                         float *E1, float *E2, int want_e) {
    const int d = m->d, k1 = m->k1, k2 = m->k2;
    memcpy(E1, X, (size_t)n * d * sizeof *E1);
    soma_gemm(0, 1, n, d, k1, -1.f, R1, k1, m->U1, k1, 1.f, E1, d);
    memcpy(E2, R1, (size_t)n * k1 * sizeof *E2);
    soma_gemm(0, 1, n, k1, k2, -1.f, R2, k2, m->U2, k2, 1.f, E2, k1);
    if (!want_e) return 0.0;
    double e1 = 0.0, e2 = 0.0, a = 0.0;
    for (size_t i = 0; i < (size_t)n * d; i++) e1 += (double)E1[i] * E1[i];
    for (size_t i = 0; i < (size_t)n * k1; i++) e2 += (double)E2[i] * E2[i];
    if (c->prior > 0.f) {
        for (size_t i = 0; i < (size_t)n * k1; i++) a += fabs((double)R1[i]);
        for (size_t i = 0; i < (size_t)n * k2; i++) a += fabs((double)R2[i]);
    }
    return e1 / c->s1 + e2 / c->s2 + c->prior * a;
}

static void soft_threshold_(float *r, size_t n, float t) {
    if (t <= 0.f) return;
    for (size_t i = 0; i < n; i++) r[i] = r[i] > t ? r[i] - t : r[i] < -t ? r[i] + t : 0.f;
}

/* settles n rows from R = 0; leaves E1, E2 at the settled causes; energy: the rows' summed
 * energy before each step and after the last (may be NULL) */
static void rb_settle_rows_(const soma_rb *m, const rb_cfg *c, const float *X, int n, float *R1, float *R2,
                            float *E1, float *E2, float *G1, float *G2, double *energy) {
    const int d = m->d, k1 = m->k1, k2 = m->k2;
    memset(R1, 0, (size_t)n * k1 * sizeof *R1);
    memset(R2, 0, (size_t)n * k2 * sizeof *R2);
    const float a1 = 2.f * c->rate / c->s1, a2 = 2.f * c->rate / c->s2;
    for (int t = 0; t < c->steps; t++) {
        double e = rb_errors_(m, c, X, n, R1, R2, E1, E2, energy != NULL);
        if (energy) energy[t] = e;
        /* bottom-up: G1 = E1 U1 (the patch's error seen by each cause), G2 = E2 U2 */
        soma_gemm(0, 0, n, k1, d, 1.f, E1, d, m->U1, k1, 0.f, G1, k1);
        soma_gemm(0, 0, n, k2, k1, 1.f, E2, k1, m->U2, k2, 0.f, G2, k2);
        for (size_t i = 0; i < (size_t)n * k1; i++) R1[i] += a1 * G1[i] - a2 * E2[i];
        for (size_t i = 0; i < (size_t)n * k2; i++) R2[i] += a2 * G2[i];
        soft_threshold_(R1, (size_t)n * k1, c->rate * c->prior);
        soft_threshold_(R2, (size_t)n * k2, c->rate * c->prior);
    }
    double e = rb_errors_(m, c, X, n, R1, R2, E1, E2, energy != NULL);
    if (energy) energy[c->steps] = e;
}

/* Rows settle independently, so the batch is cut into slices of RB_SLICE rows that settle in
 * one parallel region, each slice's products single-threaded. The slices are fixed by n, not
 * by the threads granted: OpenBLAS's Zen/Haswell kernels (what soma selects on Zen 4) give
 * other bits for one GEMM threaded two ways than one way, so every product here runs whole on
 * one thread, inside the region. Many small GEMMs threaded one by one inside the BLAS would
 * also cost a barrier each (on a loaded 2-core machine 38 s against 3 s for the reduced
 * experiment). With energy wanted the batch settles as one slice. */
#define RB_SLICE 32

static void rb_settle_(const soma_rb *m, const rb_cfg *c, const float *X, int n, float *R1, float *R2, float *E1,
                       float *E2, float *G1, float *G2, double *energy) {
    const int d = m->d, k1 = m->k1, k2 = m->k2;
    /* a batch whose products the BLAS never threads (OpenBLAS 0.3: M N K <= 4 x 65536) settles
     * as one slice, with no region (its barriers cost more than such products) */
    const int big = (double)n * d * (k1 > k2 ? k1 : k2) > 262144.0;
    const int one = energy || !big;
    const int ns = one ? 1 : (n + RB_SLICE - 1) / RB_SLICE, slice = one ? n : RB_SLICE;
    const int serial = big ? soma__learn_blas_serial_begin() : 0;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) if (big)
#endif
    for (int s = 0; s < ns; s++) {
        const size_t r0 = (size_t)s * slice;
        const int rows = n - (int)r0 < slice ? n - (int)r0 : slice;
        rb_settle_rows_(m, c, X + r0 * d, rows, R1 + r0 * k1, R2 + r0 * k2, E1 + r0 * d, E2 + r0 * k1, G1 + r0 * k1,
                        G2 + r0 * k2, energy);
    }
    if (big) soma__learn_blas_serial_end(serial);
    if (energy)
        for (int t = 0; t <= c->steps; t++) energy[t] /= n;
}

/* U[rows, k] += a E' R for E [n, rows], R [n, k]: blocks of RB_SLICE rows of U, each one
 * single-threaded GEMM inside one parallel region (the same bits for any thread count) */
static void rb_weight_step_(float *U, int rows, int k, float a, const float *E, const float *R, int n) {
    const int big = (double)rows * k * n > 262144.0; /* as in rb_settle_ */
    const int nb = big ? (rows + RB_SLICE - 1) / RB_SLICE : 1, blk = big ? RB_SLICE : rows;
    const int serial = big ? soma__learn_blas_serial_begin() : 0;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) if (big)
#endif
    for (int b = 0; b < nb; b++) {
        const int r0 = b * blk, m = rows - r0 < blk ? rows - r0 : blk;
        soma_gemm(1, 0, m, k, n, a, E + r0, rows, R, k, 1.f, U + (size_t)r0 * k, k);
    }
    if (big) soma__learn_blas_serial_end(serial);
}

static soma_status rb_args_(const soma_rb *m, const float *X, int n) {
    SOMA_TRY(rb_model_check_(m));
    if (!X || n < 1) return soma_error(SOMA_ERR_ARG, "rao-ballard: empty batch");
    return SOMA_OK;
}

soma_status soma_rb_infer(const soma_rb *m, const soma_rb_opts *o, const float *X, int n, float *R1, float *R2,
                          double *energy, float *work) {
    rb_cfg c;
    SOMA_TRY(rb_cfg_(o, &c));
    SOMA_TRY(rb_args_(m, X, n));
    if (!R1 || !R2) return soma_error(SOMA_ERR_ARG, "rao-ballard: NULL causes");
    float *own = NULL;
    if (!work) {
        own = work = soma_alloc(soma_rb_work_size(m, n), sizeof(float));
        if (!own) return SOMA_ERR_NOMEM;
    }
    float *E1 = work + (size_t)n * (m->k1 + m->k2), *E2 = E1 + (size_t)n * m->d, *G1 = E2 + (size_t)n * m->k1,
          *G2 = G1 + (size_t)n * m->k1;
    rb_settle_(m, &c, X, n, R1, R2, E1, E2, G1, G2, energy);
    soma_free(own);
    return SOMA_OK;
}

soma_status soma_rb_step(soma_rb *m, const soma_rb_opts *o, const float *X, int n, float *work, double *err1,
                         double *err2) {
    rb_cfg c;
    SOMA_TRY(rb_cfg_(o, &c));
    SOMA_TRY(rb_args_(m, X, n));
    float *own = NULL;
    if (!work) {
        own = work = soma_alloc(soma_rb_work_size(m, n), sizeof(float));
        if (!own) return SOMA_ERR_NOMEM;
    }
    const int d = m->d, k1 = m->k1, k2 = m->k2;
    float *R1 = work, *R2 = R1 + (size_t)n * k1, *E1 = R2 + (size_t)n * k2, *E2 = E1 + (size_t)n * d,
          *G1 = E2 + (size_t)n * k1, *G2 = G1 + (size_t)n * k1;
    rb_settle_(m, &c, X, n, R1, R2, E1, E2, G1, G2, NULL);
    if (err1 || err2) {
        double e1 = 0.0, e2 = 0.0;
        for (size_t i = 0; i < (size_t)n * d; i++) e1 += (double)E1[i] * E1[i];
        for (size_t i = 0; i < (size_t)n * k1; i++) e2 += (double)E2[i] * E2[i];
        if (err1) *err1 = e1 / ((double)n * d);
        if (err2) *err2 = e2 / ((double)n * k1);
    }
    /* error x cause, averaged over the batch */
    rb_weight_step_(m->U1, d, k1, 2.f * c.lr / (c.s1 * n), E1, R1, n);
    rb_weight_step_(m->U2, k1, k2, 2.f * c.lr / (c.s2 * n), E2, R2, n);
    unit_columns_(m->U1, d, k1);
    unit_columns_(m->U2, k1, k2);
    soma_free(own);
    return SOMA_OK;
}

soma_status soma_rb_train(const float *X, int n, int d, const soma_rb_opts *o, soma_progress *progress, soma_rb *out,
                          double *err1, double *err2) {
    if (!out) return soma_error(SOMA_ERR_ARG, "rao-ballard: no model to fill");
    memset(out, 0, sizeof *out);
    rb_cfg c;
    SOMA_TRY(rb_cfg_(o, &c));
    if (!X || n < 1) return soma_error(SOMA_ERR_ARG, "rao-ballard: no patches");
    const int batch = o->batch ? o->batch : 100;
    if (batch < 1 || o->steps < 1)
        return soma_error(SOMA_ERR_ARG, "rao-ballard: want batch >= 1 and steps >= 1 (got %d, %d)", o->batch,
                          o->steps);
    if (!(c.lr > 0.f)) return soma_error(SOMA_ERR_ARG, "rao-ballard: learning rate %g must be > 0", (double)c.lr);
    const int B = batch < n ? batch : n;
    SOMA_TRY(soma_rb_init(out, d, o));
    float *work = soma_alloc(soma_rb_work_size(out, B) + (size_t)B * d, sizeof(float));
    if (!work) {
        soma_rb_free(out);
        return SOMA_ERR_NOMEM;
    }
    float *Xb = work + soma_rb_work_size(out, B);
    soma_rng rng;
    soma_rng_seed(&rng, o->seed, 1);
    soma_status st = SOMA_OK;
    double e1 = NAN, e2 = NAN;
    for (int s = 0; s < o->steps && st == SOMA_OK; s++) {
        for (int b = 0; b < B; b++) {
            const long row = B == n ? b : (long)soma_rng_below(&rng, (uint64_t)n);
            memcpy(Xb + (size_t)b * d, X + (size_t)row * d, (size_t)d * sizeof *Xb);
        }
        st = soma_rb_step(out, o, Xb, B, work, &e1, &e2);
        if (progress) soma_progress_update(progress, s + 1, NULL);
    }
    soma_free(work);
    if (st != SOMA_OK) {
        soma_rb_free(out);
        return st;
    }
    if (err1) *err1 = e1;
    if (err2) *err2 = e2;
    return SOMA_OK;
}
