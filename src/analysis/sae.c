/* analysis/sae.c -- a sparse autoencoder: an overcomplete dictionary of the features of a
 * network's activations (Cunningham et al. 2023; Bricken et al. 2023).
 *
 *   xc = x - b_d                       [B, d]
 *   f  = ReLU(xc W_e' + b_e)           [B, k]
 *   x^ = f W_d + b_d                   [B, d]   (decoder rows W_d,j are the dictionary)
 *   L  = sum ||x - x^||^2 / (B d) + l1 / B * sum_ij f_ij ||W_d,j||
 *
 * The sparsity penalty is weighted by the decoder row norms, so shrinking the codes while
 * growing the decoder does not evade it, and the rows need no renormalisation. Training is
 * Adam (beta 0.9, 0.999, eps 1e-8) on shuffled mini-batches; every product goes through
 * soma_gemm (BLAS sgemm), the element-wise passes through OpenMP, and all scratch is
 * allocated before the first step. Each element is computed by one thread in a fixed order,
 * so the same seed gives the same bits for any thread count.
 */
#include "analysis/sae_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Element-wise passes below this many elements stay serial: they are memory-bound, and a
 * parallel region costs more than it saves on a loaded machine. Tests lower it. */
long soma__sae_par_min = 1L << 20;
#define SAE_PAR_MIN soma__sae_par_min

// --- checks ---------------------------------------------------------------------------------

static soma_status sae_check_rows(const char *what, const float *X, int n, int d) {
    for (long i = 0; i < n; i++) {
        const float *x = X + (size_t)i * d;
        for (int j = 0; j < d; j++)
            if (!isfinite(x[j]))
                return soma_error(SOMA_ERR_ARG, "%s: row %ld, column %d is not finite (%g)",
                                  what, i, j, (double)x[j]);
    }
    return SOMA_OK;
}

static soma_status sae_check_model(const char *what, const soma_sae *m) {
    if (!m || !m->W_e || !m->b_e || !m->W_d || !m->b_d)
        return soma_error(SOMA_ERR_ARG, "%s: no model (train one with soma_sae_train)", what);
    if (m->d < 1 || m->k < 1)
        return soma_error(SOMA_ERR_ARG, "%s: model has d = %d, k = %d (both must be >= 1)", what,
                          m->d, m->k);
    return SOMA_OK;
}

// --- work -----------------------------------------------------------------------------------

soma_status soma__sae_work_init(soma__sae_work *w, int cap, int d, int k) {
    memset(w, 0, sizeof *w);
    w->cap = cap, w->d = d, w->k = k;
    w->xc = soma_alloc((size_t)cap * d, sizeof(float));
    w->r = soma_alloc((size_t)cap * d, sizeof(float));
    w->f = soma_alloc((size_t)cap * k, sizeof(float));
    w->df = soma_alloc((size_t)cap * k, sizeof(float));
    w->cs = soma_alloc((size_t)k, sizeof(float));
    w->nrm = soma_alloc((size_t)k, sizeof(float));
    if (!w->xc || !w->r || !w->f || !w->df || !w->cs || !w->nrm) {
        soma__sae_work_deinit(w);
        return soma_error(SOMA_ERR_NOMEM, "sae: no memory for the scratch of %d rows", cap);
    }
    return SOMA_OK;
}

void soma__sae_work_deinit(soma__sae_work *w) {
    soma_free(w->xc), soma_free(w->r), soma_free(w->f), soma_free(w->df);
    soma_free(w->cs), soma_free(w->nrm);
    memset(w, 0, sizeof *w);
}

// --- loss and gradient ----------------------------------------------------------------------

/* c[j] = sum_i a[i, j] over B rows of width w (serial: a fixed order). */
static void col_sums(float *c, const float *a, int B, int w) {
    for (int j = 0; j < w; j++) c[j] = 0.f;
    for (int i = 0; i < B; i++) {
        const float *row = a + (size_t)i * w;
        for (int j = 0; j < w; j++) c[j] += row[j];
    }
}

double soma__sae_loss_grad(const soma_sae *m, const float *X, int B, float l1, soma_sae *g,
                           soma__sae_work *w) {
    const int d = m->d, k = m->k;
    const long nd = (long)B * d, nk = (long)B * k;
    float *xc = w->xc, *f = w->f, *r = w->r, *df = w->df, *nrm = w->nrm, *cs = w->cs;
    const float *W_e = m->W_e, *b_e = m->b_e, *W_d = m->W_d, *b_d = m->b_d;
    (void)nd, (void)nk; /* only in the OpenMP clauses */

#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (nd > SAE_PAR_MIN)
#endif
    for (int i = 0; i < B; i++)
        for (int j = 0; j < d; j++) xc[(size_t)i * d + j] = X[(size_t)i * d + j] - b_d[j];
    soma_gemm(0, 1, B, k, d, 1.f, xc, d, W_e, d, 0.f, f, k); /* pre = xc W_e' */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (nk > SAE_PAR_MIN)
#endif
    for (int i = 0; i < B; i++)
        for (int j = 0; j < k; j++) {
            float v = f[(size_t)i * k + j] + b_e[j];
            f[(size_t)i * k + j] = v > 0.f ? v : 0.f;
        }
    for (int j = 0; j < k; j++) {
        double s = 0;
        for (int c = 0; c < d; c++) s += (double)W_d[(size_t)j * d + c] * W_d[(size_t)j * d + c];
        nrm[j] = (float)sqrt(s);
    }
    soma_gemm(0, 0, B, d, k, 1.f, f, k, W_d, d, 0.f, r, d); /* f W_d */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (nd > SAE_PAR_MIN)
#endif
    for (int i = 0; i < B; i++)
        for (int j = 0; j < d; j++) r[(size_t)i * d + j] += b_d[j] - X[(size_t)i * d + j];

    double sse = 0, pen = 0;
    for (long e = 0; e < nd; e++) sse += (double)r[e] * r[e];
    col_sums(cs, f, B, k);
    for (int j = 0; j < k; j++) pen += (double)cs[j] * nrm[j];
    double loss = sse / ((double)B * d) + (double)l1 / B * pen;
    if (!g) return loss;

    const float sr = 2.f / ((float)B * d), sl = l1 / (float)B;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (nd > SAE_PAR_MIN)
#endif
    for (long e = 0; e < nd; e++) r[e] *= sr; /* dL/dx^ */
    /* dW_d = f' dx^ + sl * cs_j W_d,j / ||W_d,j|| */
    soma_gemm(1, 0, k, d, B, 1.f, f, k, r, d, 0.f, g->W_d, d);
    for (int j = 0; j < k; j++) {
        if (nrm[j] <= 0.f || cs[j] == 0.f) continue;
        float s = sl * cs[j] / nrm[j];
        for (int c = 0; c < d; c++) g->W_d[(size_t)j * d + c] += s * W_d[(size_t)j * d + c];
    }
    /* dL/dpre = (dx^ W_d' + sl ||W_d,j||) where pre > 0 */
    soma_gemm(0, 1, B, k, d, 1.f, r, d, W_d, d, 0.f, df, k);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (nk > SAE_PAR_MIN)
#endif
    for (int i = 0; i < B; i++)
        for (int j = 0; j < k; j++) {
            size_t e = (size_t)i * k + j;
            df[e] = f[e] > 0.f ? df[e] + sl * nrm[j] : 0.f;
        }
    col_sums(g->b_e, df, B, k);
    soma_gemm(1, 0, k, d, B, 1.f, df, k, xc, d, 0.f, g->W_e, d); /* dW_e = dpre' xc */
    soma_gemm(0, 0, B, d, k, 1.f, df, k, W_e, d, 0.f, xc, d);    /* dL/dxc */
    /* db_d = sum dx^ - sum dxc */
    for (int j = 0; j < d; j++) g->b_d[j] = 0.f;
    for (int i = 0; i < B; i++)
        for (int j = 0; j < d; j++) g->b_d[j] += r[(size_t)i * d + j] - xc[(size_t)i * d + j];
    return loss;
}

// --- training -------------------------------------------------------------------------------

void soma_sae_free(soma_sae *m) {
    if (!m) return;
    soma_free(m->W_e), soma_free(m->b_e), soma_free(m->W_d), soma_free(m->b_d);
    m->W_e = m->b_e = m->W_d = m->b_d = NULL;
}

static soma_status sae_alloc(soma_sae *m, int d, int k) {
    memset(m, 0, sizeof *m);
    m->d = d, m->k = k;
    m->W_e = soma_calloc((size_t)k * d, sizeof(float));
    m->b_e = soma_calloc((size_t)k, sizeof(float));
    m->W_d = soma_calloc((size_t)k * d, sizeof(float));
    m->b_d = soma_calloc((size_t)d, sizeof(float));
    if (!m->W_e || !m->b_e || !m->W_d || !m->b_d) {
        soma_sae_free(m);
        return soma_error(SOMA_ERR_NOMEM, "sae: no memory for %d x %d weights", k, d);
    }
    return SOMA_OK;
}

static void adam_update(float *p, const float *g, float *mo, float *ve, long n, float lr,
                        float c1, float c2) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n > SAE_PAR_MIN)
#endif
    for (long e = 0; e < n; e++) {
        mo[e] = 0.9f * mo[e] + 0.1f * g[e];
        ve[e] = 0.999f * ve[e] + 0.001f * g[e] * g[e];
        p[e] -= lr * (mo[e] / c1) / (sqrtf(ve[e] / c2) + 1e-8f);
    }
}

soma_status soma_sae_train(const float *X, int n, int d, const soma_sae_opts *o,
                           soma_progress *progress, soma_sae *out) {
    if (!X || !o || !out) return soma_error(SOMA_ERR_ARG, "sae: NULL data, options or output");
    memset(out, 0, sizeof *out);
    if (n < 2 || d < 1)
        return soma_error(SOMA_ERR_ARG, "sae: need at least 2 rows and 1 column (got %d x %d)",
                          n, d);
    if (o->k < 1) return soma_error(SOMA_ERR_ARG, "sae: k = %d features (must be >= 1)", o->k);
    if (!(o->l1 >= 0.f) || !isfinite(o->l1))
        return soma_error(SOMA_ERR_ARG, "sae: l1 = %g (must be finite and >= 0)", (double)o->l1);
    if (!(o->lr > 0.f) || !isfinite(o->lr))
        return soma_error(SOMA_ERR_ARG, "sae: lr = %g (must be finite and > 0)", (double)o->lr);
    if (o->epochs < 1 || o->batch < 1)
        return soma_error(SOMA_ERR_ARG, "sae: epochs = %d, batch = %d (both must be >= 1)",
                          o->epochs, o->batch);
    SOMA_TRY(sae_check_rows("sae", X, n, d));

    const int k = o->k, cap = o->batch < n ? o->batch : n;
    const long kd = (long)k * d;
    /* the data's mean and its total variance (rows identical: nothing to learn) */
    double *mean = soma_calloc((size_t)d, sizeof(double));
    if (!mean) return soma_error(SOMA_ERR_NOMEM, "sae: no memory");
    for (long i = 0; i < n; i++)
        for (int j = 0; j < d; j++) mean[j] += X[(size_t)i * d + j];
    for (int j = 0; j < d; j++) mean[j] /= n;
    double var = 0;
    for (long i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            double e = X[(size_t)i * d + j] - mean[j];
            var += e * e;
        }
    var /= n; /* mean squared norm of the centred rows */
    if (!(var > 0)) {
        soma_free(mean);
        return soma_error(SOMA_ERR_ARG, "sae: all %d rows are equal: no variance to explain", n);
    }

    soma_status st = sae_alloc(out, d, k);
    if (st) {
        soma_free(mean);
        return st;
    }
    soma_sae g = {0};
    soma__sae_work w = {0};
    float *mo = NULL, *ve = NULL, *xb = NULL;
    int *perm = NULL;
    const long P = 2 * kd + k + d;
    if ((st = sae_alloc(&g, d, k)) || (st = soma__sae_work_init(&w, cap, d, k))) goto fail;
    mo = soma_calloc((size_t)P, sizeof(float));
    ve = soma_calloc((size_t)P, sizeof(float));
    xb = soma_alloc((size_t)cap * d, sizeof(float));
    perm = soma_alloc((size_t)n, sizeof(int));
    if (!mo || !ve || !xb || !perm) {
        st = soma_error(SOMA_ERR_NOMEM, "sae: no memory for the optimizer");
        goto fail;
    }

    /* Initial dictionary: random unit directions u_j, tied: W_e,j = W_d,j = sqrt(2d / k) u_j.
     * Half the features are active on a sample, and sum_j ReLU(u_j . x) u_j ~ k / (2d) x, so
     * the first reconstructions already have about the right size; the decoder bias starts
     * at the data mean. */
    soma_rng rng;
    soma_rng_seed(&rng, o->seed, 0);
    soma_rng_normal_fill(&rng, out->W_d, (size_t)kd, 0.f, 1.f);
    const double s0 = sqrt(2.0 * d / k);
    for (int j = 0; j < k; j++) {
        float *row = out->W_d + (size_t)j * d;
        double s = 0;
        for (int c = 0; c < d; c++) s += (double)row[c] * row[c];
        float sc = (float)(s0 / sqrt(s > 0 ? s : 1));
        for (int c = 0; c < d; c++) {
            row[c] *= sc;
            out->W_e[(size_t)j * d + c] = row[c];
        }
    }
    for (int j = 0; j < d; j++) out->b_d[j] = (float)mean[j];

    struct { float *p, *g; long off, n; } seg[4] = {
        {out->W_e, g.W_e, 0, kd}, {out->b_e, g.b_e, kd, k},
        {out->W_d, g.W_d, kd + k, kd}, {out->b_d, g.b_d, 2 * kd + k, d}};
    const int nb = (n + cap - 1) / cap;
    if (progress) soma_progress_begin(progress, "sae", (long)o->epochs * nb);
    long t = 0;
    for (int ep = 0; ep < o->epochs; ep++) {
        soma_rng_permutation(&rng, perm, n);
        double lsum = 0;
        for (int b = 0; b < nb; b++) {
            int i0 = b * cap, B = n - i0 < cap ? n - i0 : cap;
            for (int i = 0; i < B; i++)
                memcpy(xb + (size_t)i * d, X + (size_t)perm[i0 + i] * d, sizeof(float) * d);
            double loss = soma__sae_loss_grad(out, xb, B, o->l1, &g, &w);
            lsum += loss * B;
            t++;
            float c1 = (float)(1.0 - pow(0.9, (double)t)), c2 = (float)(1.0 - pow(0.999, (double)t));
            for (int s = 0; s < 4; s++)
                adam_update(seg[s].p, seg[s].g, mo + seg[s].off, ve + seg[s].off, seg[s].n, o->lr,
                            c1, c2);
            if (progress) {
                char extra[48];
                snprintf(extra, sizeof extra, "loss %.4g", loss);
                soma_progress_update(progress, t, extra);
            }
        }
        if (!isfinite(lsum)) {
            st = soma_error(SOMA_ERR_ARG, "sae: the loss diverged at epoch %d (lr %g too large?)",
                            ep + 1, (double)o->lr);
            goto fail;
        }
        if (progress) {
            char line[96];
            snprintf(line, sizeof line, "epoch %d/%d loss %.5g", ep + 1, o->epochs, lsum / n);
            soma_progress_note(progress, line);
        }
    }
    if (progress) soma_progress_end(progress);
    goto done;
fail:
    soma_sae_free(out);
done:
    soma_free(mean), soma_free(mo), soma_free(ve), soma_free(xb), soma_free(perm);
    soma_sae_free(&g);
    soma__sae_work_deinit(&w);
    return st;
}

// --- use ------------------------------------------------------------------------------------

/* F [n, k] = ReLU(X W_e' + (b_e - W_e b_d)); c [k] scratch. */
static void sae_encode_into(const soma_sae *m, const float *X, int n, float *F, float *c) {
    const int d = m->d, k = m->k;
    for (int j = 0; j < k; j++) {
        double s = m->b_e[j];
        for (int q = 0; q < d; q++) s -= (double)m->W_e[(size_t)j * d + q] * m->b_d[q];
        c[j] = (float)s;
    }
    soma_gemm(0, 1, n, k, d, 1.f, X, d, m->W_e, d, 0.f, F, k);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((long)n * k > SAE_PAR_MIN)
#endif
    for (int i = 0; i < n; i++)
        for (int j = 0; j < k; j++) {
            float v = F[(size_t)i * k + j] + c[j];
            F[(size_t)i * k + j] = v > 0.f ? v : 0.f;
        }
}

soma_status soma_sae_encode(const soma_sae *m, const float *X, int n, float *F) {
    SOMA_TRY(sae_check_model("sae encode", m));
    if (!X || !F || n < 1)
        return soma_error(SOMA_ERR_ARG, "sae encode: need n >= 1 rows and non-NULL X, F");
    SOMA_TRY(sae_check_rows("sae encode", X, n, m->d));
    float *c = soma_alloc((size_t)m->k, sizeof(float));
    if (!c) return soma_error(SOMA_ERR_NOMEM, "sae encode: no memory");
    sae_encode_into(m, X, n, F, c);
    soma_free(c);
    return SOMA_OK;
}

soma_status soma_sae_eval(const soma_sae *m, const float *X, int n, double *fve, double *l0,
                          double *dead) {
    SOMA_TRY(sae_check_model("sae eval", m));
    if (!X || n < 1) return soma_error(SOMA_ERR_ARG, "sae eval: need n >= 1 rows and non-NULL X");
    SOMA_TRY(sae_check_rows("sae eval", X, n, m->d));
    const int d = m->d, k = m->k, chunk = n < 1024 ? n : 1024;
    double *mean = soma_calloc((size_t)d, sizeof(double));
    float *c = soma_alloc((size_t)k, sizeof(float));
    float *F = soma_alloc((size_t)chunk * k, sizeof(float));
    float *R = soma_alloc((size_t)chunk * d, sizeof(float));
    unsigned char *alive = soma_calloc((size_t)k, 1);
    soma_status st = SOMA_OK;
    if (!mean || !c || !F || !R || !alive) {
        st = soma_error(SOMA_ERR_NOMEM, "sae eval: no memory");
        goto out;
    }
    for (long i = 0; i < n; i++)
        for (int j = 0; j < d; j++) mean[j] += X[(size_t)i * d + j];
    for (int j = 0; j < d; j++) mean[j] /= n;
    double sst = 0, sse = 0;
    long active = 0;
    for (int i0 = 0; i0 < n; i0 += chunk) {
        int B = n - i0 < chunk ? n - i0 : chunk;
        const float *Xc = X + (size_t)i0 * d;
        sae_encode_into(m, Xc, B, F, c);
        soma_gemm(0, 0, B, d, k, 1.f, F, k, m->W_d, d, 0.f, R, d);
        for (int i = 0; i < B; i++)
            for (int j = 0; j < d; j++) {
                double x = Xc[(size_t)i * d + j];
                double e = x - (R[(size_t)i * d + j] + m->b_d[j]), v = x - mean[j];
                sse += e * e, sst += v * v;
            }
        for (int i = 0; i < B; i++)
            for (int j = 0; j < k; j++)
                if (F[(size_t)i * k + j] > 0.f) active++, alive[j] = 1;
    }
    if (fve) {
        if (!(sst > 0)) {
            st = soma_error(SOMA_ERR_ARG, "sae eval: all %d rows are equal: the fraction of "
                                          "variance explained is undefined", n);
            goto out;
        }
        *fve = 1.0 - sse / sst;
    }
    if (l0) *l0 = (double)active / n;
    if (dead) {
        long nd = 0;
        for (int j = 0; j < k; j++) nd += !alive[j];
        *dead = (double)nd / k;
    }
out:
    soma_free(mean), soma_free(c), soma_free(F), soma_free(R), soma_free(alive);
    return st;
}
