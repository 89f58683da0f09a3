// Latent-variable models of binned counts (soma/neuro.h, "latent-variable models"): Gaussian
// smoothing, PCA, factor analysis by EM, the Poisson VAE, and nlb's co-smoothing around them
// (a Poisson GLM readout from latents to every unit). GPFA is in gpfa.c.
// Dense algebra in double: products by analysis' thread-count-independent soma__dgemm_det /
// dsyrk_det, solves by LAPACKE (dsyevd, dposv) with the BLAS held at one thread.
#include <math.h>
#include <string.h>

#include "analysis/internal.h"
#include "latent_internal.h"

#include <lapacke.h> /* after the soma headers: its complex.h defines I */

#ifdef SOMA_HAVE_OPENMP
#include <omp.h>
#endif

static const char *const kind_names[SOMA_LATENT_KIND_COUNT] = {"smooth", "pca", "fa", "gpfa", "vae"};

const char *soma_latent_kind_name(soma_latent_kind k) {
    return (k >= 0 && k < SOMA_LATENT_KIND_COUNT) ? kind_names[k] : "?";
}

soma_status soma_latent_kind_parse(const char *name, soma_latent_kind *out) {
    for (int k = 0; k < SOMA_LATENT_KIND_COUNT; k++)
        if (name && strcmp(name, kind_names[k]) == 0) {
            *out = (soma_latent_kind)k;
            return SOMA_OK;
        }
    return soma_error(SOMA_ERR_ARG, "latent model '%s' unknown (smooth, pca, fa, gpfa, vae)", name ? name : "(null)");
}

soma_latent_opts soma_latent_opts_default(soma_latent_kind kind) {
    soma_latent_opts o = {kind, 3, 40.0, kind == SOMA_LATENT_GPFA ? 50 : 100, 1e-7, 100.0, 1e-3, 40, 64, 3e-3f,
                          1e-3, 1, 1};
    return o;
}

// --- smoothing ------------------------------------------------------------------------------

void soma_neuro_smooth(const float *x, int n_trials, int n_bins, int n_units, double sd_bins, float *y) {
    const size_t per = (size_t)n_bins * n_units;
    if (!(sd_bins > 0)) {
        memcpy(y, x, sizeof(float) * per * n_trials);
        return;
    }
    int h = (int)ceil(4 * sd_bins);
    if (h > n_bins - 1) h = n_bins - 1;
    double w[h + 1];
    for (int s = 0; s <= h; s++) w[s] = exp(-0.5 * s * s / (sd_bins * sd_bins));
#pragma omp parallel for schedule(static)
    for (int k = 0; k < n_trials; k++)
        for (int t = 0; t < n_bins; t++) {
            const int lo = t - h < 0 ? 0 : t - h, hi = t + h > n_bins - 1 ? n_bins - 1 : t + h;
            double norm = 0;
            for (int s = lo; s <= hi; s++) norm += w[abs(s - t)];
            float *yo = y + k * per + (size_t)t * n_units;
            for (int u = 0; u < n_units; u++) {
                double a = 0;
                for (int s = lo; s <= hi; s++) a += w[abs(s - t)] * x[k * per + (size_t)s * n_units + u];
                yo[u] = (float)(a / norm);
            }
        }
}

// --- shared linear algebra ---------------------------------------------------------------------

soma_status soma__sym_eig(double *A, int n, double *w) {
    int saved_[2];
    soma__lapack_serial_begin(saved_);
    lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', n, A, n, w);
    soma__lapack_serial_end(saved_);
    if (info != 0) return soma_error(SOMA_ERR_ARG, "latent: eigendecomposition failed (LAPACKE_dsyevd info %d)", (int)info);
    return SOMA_OK;
}

/* The covariance S [p, p] (1/n) and mean mu [p] of rows Y [n, p]; Yc [n, p] scratch. */
static void cov_of(const double *Y, long n, int p, double *mu, double *S, double *Yc) {
    for (int j = 0; j < p; j++) mu[j] = 0;
    for (long i = 0; i < n; i++)
        for (int j = 0; j < p; j++) mu[j] += Y[i * p + j];
    for (int j = 0; j < p; j++) mu[j] /= (double)n;
    for (long i = 0; i < n; i++)
        for (int j = 0; j < p; j++) Yc[i * p + j] = Y[i * p + j] - mu[j];
    soma__dgemm_det(1, 0, p, p, (int)n, 1.0 / (double)n, Yc, p, Yc, p, 0.0, S, p);
}

/* The top L eigenvectors of S as columns of V [p, L] (descending), eigenvalues lam [L]; each
 * column signed so that its largest-|.| entry is positive. */
static soma_status top_eig(const double *S, int p, int L, double *V, double *lam) {
    double *A = soma_alloc((size_t)p * p, sizeof(double)), *w = soma_alloc((size_t)p, sizeof(double));
    if (!A || !w) {
        soma_free(A);
        soma_free(w);
        return SOMA_ERR_NOMEM;
    }
    memcpy(A, S, sizeof(double) * p * p);
    soma_status st = soma__sym_eig(A, p, w);
    if (st == SOMA_OK)
        for (int l = 0; l < L; l++) {
            const int c = p - 1 - l;
            int arg = 0;
            for (int j = 1; j < p; j++)
                if (fabs(A[j * p + c]) > fabs(A[arg * p + c])) arg = j;
            const double sg = A[arg * p + c] < 0 ? -1.0 : 1.0;
            for (int j = 0; j < p; j++) V[j * L + l] = sg * A[j * p + c];
            lam[l] = w[c];
        }
    soma_free(A);
    soma_free(w);
    return st;
}

soma_status soma__orth_from_C(soma_latent *m) {
    const int p = m->p, L = m->L;
    double *G = soma_alloc((size_t)L * L, sizeof(double)), *w = soma_alloc((size_t)L, sizeof(double));
    double *U = soma_alloc((size_t)p * L, sizeof(double));
    soma_free(m->orth);
    m->orth = soma_alloc((size_t)L * L, sizeof(double));
    soma_status st = SOMA_OK;
    if (!G || !w || !U || !m->orth) {
        st = SOMA_ERR_NOMEM;
        goto done;
    }
    soma__dgemm_det(1, 0, L, L, p, 1.0, m->C, L, m->C, L, 0.0, G, L);
    if ((st = soma__sym_eig(G, L, w)) != SOMA_OK) goto done;
    /* C = U D V': V the eigenvectors of C'C (descending), D = sqrt(eigenvalues), U = C V / D;
     * z_orth = D V' z, row r of orth = D_r V[:, r]' */
    for (int r = 0; r < L; r++) {
        const int c = L - 1 - r;
        const double d = sqrt(w[c] > 0 ? w[c] : 0);
        int arg = 0;
        for (int j = 0; j < p; j++) {
            double u = 0;
            for (int l = 0; l < L; l++) u += m->C[j * L + l] * G[l * L + c];
            U[j * L + r] = u;
            if (fabs(u) > fabs(U[arg * L + r])) arg = j;
        }
        const double sg = U[arg * L + r] < 0 ? -1.0 : 1.0;
        for (int l = 0; l < L; l++) m->orth[r * L + l] = sg * d * G[l * L + c];
    }
done:
    soma_free(G);
    soma_free(w);
    soma_free(U);
    return st;
}

// --- factor analysis by EM ----------------------------------------------------------------------

/* log N(Y | mu, C C' + R) per row, from S; and beta = M^-1 C' R^-1 [L, p] (M = I + C'R^-1C). */
static soma_status fa_estep(const double *C, const double *R, const double *S, int p, int L, double *beta,
                            double *M, double *T1, double *ll) {
    /* T1 [L, p] = C' R^-1 */
    for (int l = 0; l < L; l++)
        for (int j = 0; j < p; j++) T1[l * p + j] = C[j * L + l] / R[j];
    soma__dgemm_det(0, 0, L, L, p, 1.0, T1, p, C, L, 0.0, M, L);
    for (int l = 0; l < L; l++) M[l * L + l] += 1.0;
    memcpy(beta, T1, sizeof(double) * L * p);
    lapack_int info = LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', L, p, M, L, beta, p); /* M now holds chol */
    if (info != 0) return soma_error(SOMA_ERR_ARG, "fa: the latent precision is not positive definite (info %d)", (int)info);
    double logdet = 0, trS = 0;
    for (int l = 0; l < L; l++) logdet += 2 * log(M[l * L + l]);
    for (int j = 0; j < p; j++) {
        logdet += log(R[j]);
        trS += S[j * p + j] / R[j];
    }
    /* tr(Sigma^-1 S) = tr(R^-1 S) - tr(beta S R^-1 C) */
    double corr = 0;
    for (int l = 0; l < L; l++)
        for (int j = 0; j < p; j++) {
            double bs = 0;
            for (int i = 0; i < p; i++) bs += beta[l * p + i] * S[i * p + j];
            corr += bs * T1[l * p + j];
        }
    *ll = -0.5 * (p * 1.8378770664093453 /* log 2 pi */ + logdet + trS - corr);
    return SOMA_OK;
}

soma_status soma__fa_em(soma_latent *m, const double *Y, long n, int max_iter, double tol) {
    const int p = m->p, L = m->L;
    double *S = soma_alloc((size_t)p * p, sizeof(double)), *Yc = soma_alloc((size_t)n * p, sizeof(double));
    double *beta = soma_alloc((size_t)L * p, sizeof(double)), *T1 = soma_alloc((size_t)L * p, sizeof(double));
    double *A = soma_alloc((size_t)L * p, sizeof(double)), *M = soma_alloc((size_t)L * L, sizeof(double));
    double *E = soma_alloc((size_t)L * L, sizeof(double)), *Ct = soma_alloc((size_t)L * p, sizeof(double));
    double *lam = soma_alloc((size_t)L, sizeof(double)), *floor_ = soma_alloc((size_t)p, sizeof(double));
    m->mu = soma_alloc((size_t)p, sizeof(double));
    m->C = soma_alloc((size_t)p * L, sizeof(double));
    m->R = soma_alloc((size_t)p, sizeof(double));
    m->ll = soma_alloc((size_t)max_iter + 1, sizeof(double));
    soma_status st = SOMA_OK;
    if (!S || !Yc || !beta || !T1 || !A || !M || !E || !Ct || !lam || !floor_ || !m->mu || !m->C || !m->R || !m->ll) {
        st = SOMA_ERR_NOMEM;
        goto done;
    }
    cov_of(Y, n, p, m->mu, S, Yc);
    if ((st = top_eig(S, p, L, m->C, lam)) != SOMA_OK) goto done;
    for (int l = 0; l < L; l++)
        for (int j = 0; j < p; j++) m->C[j * L + l] *= sqrt(lam[l] > 0 ? lam[l] : 0);
    for (int j = 0; j < p; j++) {
        floor_[j] = fmax(1e-3 * S[j * p + j], 1e-9);
        m->R[j] = fmax(S[j * p + j], floor_[j]);
    }
    m->n_ll = 0;
    for (int it = 0;; it++) {
        double ll;
        if ((st = fa_estep(m->C, m->R, S, p, L, beta, M, T1, &ll)) != SOMA_OK) goto done;
        m->ll[m->n_ll++] = ll;
        if (it == max_iter) break;
        if (it > 0 && tol > 0 && ll - m->ll[it - 1] < tol * fabs(ll)) break;
        /* A = beta S [L, p]; E = I - beta C + A beta' [L, L]; C = A' E^-1; R = diag(S - C A) */
        soma__dgemm_det(0, 0, L, p, p, 1.0, beta, p, S, p, 0.0, A, p);
        soma__dgemm_det(0, 0, L, L, p, -1.0, beta, p, m->C, L, 0.0, E, L);
        soma__dgemm_det(0, 1, L, L, p, 1.0, A, p, beta, p, 1.0, E, L);
        for (int l = 0; l < L; l++) E[l * L + l] += 1.0;
        memcpy(Ct, A, sizeof(double) * L * p); /* solve E Ct = A (E symmetric): Ct = C' */
        int saved_[2];
        soma__lapack_serial_begin(saved_);
        lapack_int info = LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', L, p, E, L, Ct, p);
        soma__lapack_serial_end(saved_);
        if (info != 0) {
            st = soma_error(SOMA_ERR_ARG, "fa: the latents' second moment is singular (info %d)", (int)info);
            goto done;
        }
        for (int j = 0; j < p; j++) {
            double ca = 0;
            for (int l = 0; l < L; l++) {
                m->C[j * L + l] = Ct[l * p + j];
                ca += Ct[l * p + j] * A[l * p + j];
            }
            m->R[j] = fmax(S[j * p + j] - ca, floor_[j]);
        }
    }
done:
    soma_free(S);
    soma_free(Yc);
    soma_free(beta);
    soma_free(T1);
    soma_free(A);
    soma_free(M);
    soma_free(E);
    soma_free(Ct);
    soma_free(lam);
    soma_free(floor_);
    return st;
}

// --- the model --------------------------------------------------------------------------------

void soma_latent_free(soma_latent *m) {
    if (!m) return;
    soma_free(m->mu);
    soma_free(m->C);
    soma_free(m->R);
    soma_free(m->orth);
    soma_free(m->tau);
    soma_free(m->tau_ms);
    soma_free(m->ll);
    soma_vae_free(m->vae);
    soma_free(m);
}

int soma_latent_dim(const soma_latent *m) { return m->L; }

const double *soma_latent_loglik(const soma_latent *m, int *n) {
    *n = m->n_ll;
    return m->ll;
}

const double *soma_latent_tau_ms(const soma_latent *m) { return m->tau_ms; }

soma_status soma_latent_params(const soma_latent *m, const double **C, const double **d, const double **R) {
    if (m->o.kind != SOMA_LATENT_PCA && m->o.kind != SOMA_LATENT_FA && m->o.kind != SOMA_LATENT_GPFA) {
        *C = *d = *R = NULL;
        return soma_error(SOMA_ERR_ARG, "latent: %s has no loadings", soma_latent_kind_name(m->o.kind));
    }
    *C = m->C;
    *d = m->mu;
    *R = m->R;
    return SOMA_OK;
}

static soma_status check_opts(const soma_latent_opts *o, const soma_counts *data) {
    if (o->kind < 0 || o->kind >= SOMA_LATENT_KIND_COUNT)
        return soma_error(SOMA_ERR_ARG, "latent: unknown model %d", (int)o->kind);
    if (!data || !data->x || data->n_trials < 1)
        return soma_error(SOMA_ERR_ARG, "latent: no data");
    if ((long)data->n_trials * data->n_bins < 2)
        return soma_error(SOMA_ERR_ARG, "latent: %d trials x %d bins is fewer than 2 rows", data->n_trials,
                          data->n_bins);
    if (o->kind != SOMA_LATENT_SMOOTH && (o->n_latents < 1 || o->n_latents > data->n_units))
        return soma_error(SOMA_ERR_ARG, "latent: %d latents for %d units (1..units)", o->n_latents, data->n_units);
    if (!(o->smooth_ms >= 0) || o->max_iter < 0 || o->max_iter > 100000 || !(o->tol >= 0) || !(o->tau_ms > 0) ||
        !(o->gp_noise > 0 && o->gp_noise < 1) || !(o->glm_alpha >= 0))
        return soma_error(SOMA_ERR_ARG, "latent: smooth_ms %g (>= 0), max_iter %d, tol %g, tau_ms %g (> 0), gp_noise "
                          "%g (0..1), glm_alpha %g", o->smooth_ms, o->max_iter, o->tol, o->tau_ms, o->gp_noise,
                          o->glm_alpha);
    if (o->kind == SOMA_LATENT_GPFA && (long)o->n_latents * data->n_bins > 3000)
        return soma_error(SOMA_ERR_ARG, "gpfa: %d latents x %d bins > 3000 (the posterior is solved whole; use "
                          "shorter trials)", o->n_latents, data->n_bins);
    if (o->kind == SOMA_LATENT_VAE && (o->vae_epochs < 1 || o->vae_hidden < 1 || !(o->vae_lr > 0)))
        return soma_error(SOMA_ERR_ARG, "vae: epochs %d, hidden %d, lr %g must be > 0", o->vae_epochs, o->vae_hidden,
                          (double)o->vae_lr);
    return SOMA_OK;
}

/* Smoothed rows [trials * bins, units] (of the square roots of the counts if root) in double
 * (and float if yf != NULL). */
static soma_status smoothed_rows(const soma_counts *d, double sd_bins, int root, double **Y, float **yf) {
    const size_t n = (size_t)d->n_trials * d->n_bins * d->n_units;
    float *f = soma_alloc(n, sizeof(float)), *f2 = root ? soma_alloc(n, sizeof(float)) : NULL;
    *Y = soma_alloc(n, sizeof(double));
    if (!f || !*Y || (root && !f2)) {
        soma_free(f);
        soma_free(f2);
        soma_free(*Y);
        *Y = NULL;
        return SOMA_ERR_NOMEM;
    }
    if (root) { /* square-rooted counts, smoothed */
        for (size_t i = 0; i < n; i++) f[i] = sqrtf(d->x[i] > 0 ? d->x[i] : 0.f);
        soma_neuro_smooth(f, d->n_trials, d->n_bins, d->n_units, sd_bins, f2);
        memcpy(f, f2, sizeof(float) * n);
        soma_free(f2);
    } else {
        soma_neuro_smooth(d->x, d->n_trials, d->n_bins, d->n_units, sd_bins, f);
    }
    for (size_t i = 0; i < n; i++) (*Y)[i] = f[i];
    if (yf)
        *yf = f;
    else
        soma_free(f);
    return SOMA_OK;
}

static soma_status vae_fit(soma_latent *m, const float *x, long n) {
    char hid[32];
    snprintf(hid, sizeof hid, "fc%d,tanh", m->o.vae_hidden);
    soma_vae_opts vo = soma_vae_opts_default();
    vo.latent = m->L;
    vo.enc_hidden = hid;
    vo.dec_hidden = hid;
    vo.lik = SOMA_VAE_POISSON;
    vo.lr = m->o.vae_lr;
    vo.max_batch = 64;
    vo.seed = m->o.seed;
    SOMA_TRY(soma_vae_new(&m->vae, &vo, soma_shape1(m->p)));
    int *perm = soma_alloc((size_t)n, sizeof(int));
    float *batch = soma_alloc((size_t)64 * m->p, sizeof(float));
    soma_status st = SOMA_OK;
    if (!perm || !batch || n > 2147483647L) {
        st = perm && batch ? soma_error(SOMA_ERR_ARG, "vae: too many rows") : SOMA_ERR_NOMEM;
        goto done;
    }
    soma_rng r;
    soma_rng_seed(&r, m->o.seed, 7);
    for (int e = 0; e < m->o.vae_epochs && st == SOMA_OK; e++) {
        soma_rng_permutation(&r, perm, (int)n);
        for (long s = 0; s < n && st == SOMA_OK; s += 64) {
            const int b = (int)(n - s < 64 ? n - s : 64);
            for (int i = 0; i < b; i++) memcpy(batch + (size_t)i * m->p, x + (size_t)perm[s + i] * m->p, sizeof(float) * m->p);
            st = soma_vae_step(m->vae, batch, b, NULL);
        }
    }
done:
    soma_free(perm);
    soma_free(batch);
    return st;
}

soma_status soma_latent_fit(soma_latent **out, const soma_counts *data, const soma_latent_opts *o) {
    *out = NULL;
    SOMA_TRY(check_opts(o, data));
    soma_latent *m = soma_calloc(1, sizeof *m);
    if (!m) return SOMA_ERR_NOMEM;
    m->o = *o;
    m->p = data->n_units;
    m->L = o->kind == SOMA_LATENT_SMOOTH ? data->n_units : o->n_latents;
    m->bin_ms = data->bin_ms;
    const long n = (long)data->n_trials * data->n_bins;
    const double sd = o->smooth_ms / data->bin_ms;
    double *Y = NULL;
    float *yf = NULL;
    soma_status st = SOMA_OK;
    switch (o->kind) {
    case SOMA_LATENT_SMOOTH:
        break;
    case SOMA_LATENT_PCA: {
        double *S = soma_alloc((size_t)m->p * m->p, sizeof(double)), *Yc = soma_alloc((size_t)n * m->p, sizeof(double));
        double *lam = soma_alloc((size_t)m->L, sizeof(double));
        m->mu = soma_alloc((size_t)m->p, sizeof(double));
        m->C = soma_alloc((size_t)m->p * m->L, sizeof(double));
        if (!S || !Yc || !lam || !m->mu || !m->C || (st = smoothed_rows(data, sd, m->o.root, &Y, NULL)) != SOMA_OK) {
            st = st != SOMA_OK ? st : SOMA_ERR_NOMEM;
        } else {
            cov_of(Y, n, m->p, m->mu, S, Yc);
            st = top_eig(S, m->p, m->L, m->C, lam);
        }
        soma_free(S);
        soma_free(Yc);
        soma_free(lam);
        break;
    }
    case SOMA_LATENT_FA:
        if ((st = smoothed_rows(data, sd, m->o.root, &Y, NULL)) == SOMA_OK && (st = soma__fa_em(m, Y, n, o->max_iter, o->tol)) == SOMA_OK)
            st = soma__orth_from_C(m);
        break;
    case SOMA_LATENT_GPFA:
        if ((st = soma__gpfa_fit(m, data)) == SOMA_OK) st = soma__orth_from_C(m);
        break;
    case SOMA_LATENT_VAE:
        if ((st = smoothed_rows(data, sd, 0, &Y, &yf)) == SOMA_OK) st = vae_fit(m, yf, n);
        break;
    default:
        st = soma_error(SOMA_ERR_ARG, "latent: unknown model");
    }
    soma_free(Y);
    soma_free(yf);
    if (st != SOMA_OK) {
        soma_latent_free(m);
        return st;
    }
    *out = m;
    return SOMA_OK;
}

soma_status soma_latent_infer(soma_latent *m, const soma_counts *data, int orth, float *z) {
    if (!data || !data->x || data->n_units != m->p)
        return soma_error(SOMA_ERR_ARG, "latent: data with %d units for a model of %d", data ? data->n_units : 0, m->p);
    const long n = (long)data->n_trials * data->n_bins;
    const int p = m->p, L = m->L;
    const double sd = m->o.smooth_ms / data->bin_ms;
    double *Y = NULL, *Z = soma_alloc((size_t)n * L, sizeof(double));
    float *yf = NULL;
    soma_status st = Z ? SOMA_OK : SOMA_ERR_NOMEM;
    if (st != SOMA_OK) goto done;
    switch (m->o.kind) {
    case SOMA_LATENT_SMOOTH:
        soma_neuro_smooth(data->x, data->n_trials, data->n_bins, p, sd, z);
        goto done;
    case SOMA_LATENT_PCA:
        if ((st = smoothed_rows(data, sd, m->o.root, &Y, NULL)) != SOMA_OK) goto done;
        for (long i = 0; i < n; i++)
            for (int j = 0; j < p; j++) Y[i * p + j] -= m->mu[j];
        soma__dgemm_det(0, 0, (int)n, L, p, 1.0, Y, p, m->C, L, 0.0, Z, L);
        break;
    case SOMA_LATENT_FA: {
        if ((st = smoothed_rows(data, sd, m->o.root, &Y, NULL)) != SOMA_OK) goto done;
        double *beta = soma_alloc((size_t)L * p, sizeof(double)), *T1 = soma_alloc((size_t)L * p, sizeof(double));
        double *M = soma_alloc((size_t)L * L, sizeof(double)), *S = soma_calloc((size_t)p * p, sizeof(double));
        double ll;
        if (!beta || !T1 || !M || !S)
            st = SOMA_ERR_NOMEM;
        else
            st = fa_estep(m->C, m->R, S, p, L, beta, M, T1, &ll);
        if (st == SOMA_OK) {
            for (long i = 0; i < n; i++)
                for (int j = 0; j < p; j++) Y[i * p + j] -= m->mu[j];
            soma__dgemm_det(0, 1, (int)n, L, p, 1.0, Y, p, beta, p, 0.0, Z, L);
        }
        soma_free(beta);
        soma_free(T1);
        soma_free(M);
        soma_free(S);
        break;
    }
    case SOMA_LATENT_GPFA:
        st = soma__gpfa_infer(m, data, Z);
        break;
    case SOMA_LATENT_VAE: {
        yf = soma_alloc((size_t)n * p, sizeof(float));
        if (!yf) {
            st = SOMA_ERR_NOMEM;
            goto done;
        }
        soma_neuro_smooth(data->x, data->n_trials, data->n_bins, p, sd, yf);
        st = soma_vae_encode(m->vae, yf, (int)n, z, NULL);
        goto done;
    }
    default:
        st = soma_error(SOMA_ERR_ARG, "latent: unknown model");
    }
    if (st != SOMA_OK) goto done;
    if (orth && m->orth) {
        double zo[L];
        for (long i = 0; i < n; i++) {
            for (int r = 0; r < L; r++) {
                double a = 0;
                for (int l = 0; l < L; l++) a += m->orth[r * L + l] * Z[i * L + l];
                zo[r] = a;
            }
            for (int r = 0; r < L; r++) z[i * L + r] = (float)zo[r];
        }
    } else {
        for (long i = 0; i < n * L; i++) z[i] = (float)Z[i];
    }
done:
    soma_free(Y);
    soma_free(Z);
    soma_free(yf);
    return st;
}

// --- co-smoothing ---------------------------------------------------------------------------------

/* Poisson GLM y ~ Poisson(exp(X w + b)) for one unit: X [n, q] standardised features, mean loss
 * + alpha/2 |w|^2, by Newton with step halving. wb [q + 1] (w then b). Scratch: eta [n],
 * Xs [n, q + 1], H [(q+1)^2], g [q + 1], wn [q + 1]. */
static void glm_fit(const double *X, const float *y, long n, int q, double alpha, double *wb, double *eta, double *Xs,
                    double *H, double *g, double *wn) {
    const int Q = q + 1;
    double ybar = 0;
    for (long i = 0; i < n; i++) ybar += y[i];
    ybar /= (double)n;
    for (int j = 0; j < q; j++) wb[j] = 0;
    wb[q] = log(ybar > 1e-6 ? ybar : 1e-6);
    double loss = INFINITY;
    for (int it = 0; it < 40; it++) {
        /* loss and gradient at wb */
        double lcur = 0;
        for (int j = 0; j < Q; j++) g[j] = 0;
        for (long i = 0; i < n; i++) {
            double e = wb[q];
            for (int j = 0; j < q; j++) e += X[i * q + j] * wb[j];
            if (e > 30) e = 30;
            const double mu = exp(e);
            lcur += mu - y[i] * e;
            const double r = (mu - y[i]) / (double)n, s = sqrt(mu / (double)n);
            for (int j = 0; j < q; j++) {
                g[j] += r * X[i * q + j];
                Xs[i * Q + j] = s * X[i * q + j];
            }
            g[q] += r;
            Xs[i * Q + q] = s;
        }
        lcur /= (double)n;
        for (int j = 0; j < q; j++) {
            lcur += 0.5 * alpha * wb[j] * wb[j];
            g[j] += alpha * wb[j];
        }
        (void)eta;
        if (it > 0 && loss - lcur < 1e-10 * (1 + fabs(lcur))) break;
        loss = lcur;
        soma__dsyrk_det(1, Q, (int)n, 1.0, Xs, Q, H);
        for (int j = 0; j < q; j++) H[j * Q + j] += alpha;
        H[q * Q + q] += 1e-10;
        memcpy(wn, g, sizeof(double) * Q);
        int saved_[2];
        soma__lapack_serial_begin(saved_);
        lapack_int info = LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', Q, 1, H, Q, wn, 1);
        soma__lapack_serial_end(saved_);
        if (info != 0) break;
        /* step halving: accept the first step that lowers the loss */
        double step = 1.0;
        int ok = 0;
        for (int h = 0; h < 20 && !ok; h++, step *= 0.5) {
            double lt = 0;
            for (long i = 0; i < n; i++) {
                double e = wb[q] - step * wn[q];
                for (int j = 0; j < q; j++) e += X[i * q + j] * (wb[j] - step * wn[j]);
                if (e > 30) e = 30;
                lt += exp(e) - y[i] * e;
            }
            lt /= (double)n;
            for (int j = 0; j < q; j++) lt += 0.5 * alpha * (wb[j] - step * wn[j]) * (wb[j] - step * wn[j]);
            if (lt <= lcur) {
                for (int j = 0; j < Q; j++) wb[j] -= step * wn[j];
                ok = 1;
            }
        }
        if (!ok) break;
    }
}

void soma_cosmooth_free(soma_cosmooth *r) {
    if (!r) return;
    soma_free(r->test_idx);
    soma_free(r->z);
    soma_free(r->rates);
    memset(r, 0, sizeof *r);
}

/* The rows of trials idx[0..nk) of units with mask[u] == keep into out (allocated). */
static soma_status sub_counts(const soma_counts *d, const int *idx, int nk, const unsigned char *mask, int keep,
                              soma_counts *out) {
    int nu = 0;
    for (int u = 0; u < d->n_units; u++) nu += (mask[u] != 0) == keep;
    SOMA_TRY(soma_counts_alloc(out, nk, d->n_bins, nu, d->bin_ms));
    for (int a = 0; a < nk; a++)
        for (int t = 0; t < d->n_bins; t++) {
            const float *src = d->x + ((size_t)idx[a] * d->n_bins + t) * d->n_units;
            float *dst = out->x + ((size_t)a * d->n_bins + t) * nu;
            for (int u = 0, v = 0; u < d->n_units; u++)
                if ((mask[u] != 0) == keep) dst[v++] = src[u];
        }
    return SOMA_OK;
}

soma_status soma__glm_readout(const float *ztr, long ntr, const float *zte, long nte, int L, const float *ycol, int P,
                              double alpha, float *rates) {
    double *Xtr = soma_alloc((size_t)ntr * L, sizeof(double)), *Xte = soma_alloc((size_t)nte * L, sizeof(double));
    double *scr = NULL;
    soma_status st = SOMA_OK;
    if (!Xtr || !Xte) {
        st = SOMA_ERR_NOMEM;
        goto done;
    }
    for (int j = 0; j < L; j++) {
        double mu = 0, v = 0;
        for (long i = 0; i < ntr; i++) mu += ztr[i * L + j];
        mu /= (double)ntr;
        for (long i = 0; i < ntr; i++) v += (ztr[i * L + j] - mu) * (ztr[i * L + j] - mu);
        const double sd = sqrt(v / (double)ntr) > 1e-12 ? sqrt(v / (double)ntr) : 1.0;
        double lo = INFINITY, hi = -INFINITY;
        for (long i = 0; i < ntr; i++) {
            Xtr[i * L + j] = (ztr[i * L + j] - mu) / sd;
            lo = fmin(lo, Xtr[i * L + j]);
            hi = fmax(hi, Xtr[i * L + j]);
        }
        /* test latents are clamped to the training range: the exponential readout must not
         * extrapolate (a rare unit's one spike would otherwise predict thousands) */
        for (long i = 0; i < nte; i++) Xte[i * L + j] = fmin(fmax((zte[i * L + j] - mu) / sd, lo), hi);
    }
    /* one unit at a time (each independent: the same result on any thread count) */
    const int Q = L + 1;
    int nthr = 1;
#ifdef SOMA_HAVE_OPENMP
    nthr = omp_get_max_threads();
#endif
    const size_t per = (size_t)ntr + (size_t)ntr * Q + (size_t)Q * Q + 3 * (size_t)Q;
    scr = soma_alloc(per * nthr, sizeof(double));
    if (!scr) {
        st = SOMA_ERR_NOMEM;
        goto done;
    }
#pragma omp parallel for schedule(dynamic) num_threads(nthr)
    for (int u = 0; u < P; u++) {
        int th = 0;
#ifdef SOMA_HAVE_OPENMP
        th = omp_get_thread_num();
#endif
        double *s = scr + per * th, *eta = s, *Xs = eta + ntr, *H = Xs + (size_t)ntr * Q, *g = H + Q * Q,
               *wn = g + Q, *wb = wn + Q;
        glm_fit(Xtr, ycol + (size_t)u * ntr, ntr, L, alpha, wb, eta, Xs, H, g, wn);
        for (long i = 0; i < nte; i++) {
            double e = wb[L];
            for (int j = 0; j < L; j++) e += Xte[i * L + j] * wb[j];
            rates[i * P + u] = (float)exp(e > 30 ? 30 : e);
        }
    }
done:
    soma_free(Xtr);
    soma_free(Xte);
    soma_free(scr);
    return st;
}

soma_status soma_neuro_cosmooth(const soma_counts *data, const unsigned char *heldout, const unsigned char *test,
                                const float *true_latents, int n_true, const soma_latent_opts *o,
                                soma_cosmooth *out) {
    memset(out, 0, sizeof *out);
    out->latent_r2 = NAN;
    if (!data || !data->x) return soma_error(SOMA_ERR_ARG, "cosmooth: no data");
    const int K = data->n_trials, T = data->n_bins, P = data->n_units;
    int n_out = 0, n_test = 0;
    for (int u = 0; u < P; u++) n_out += heldout[u] != 0;
    for (int k = 0; k < K; k++) n_test += test[k] != 0;
    if (n_out < 1 || n_out >= P || n_test < 1 || n_test >= K)
        return soma_error(SOMA_ERR_ARG, "cosmooth: %d of %d units held out and %d of %d trials for testing (each "
                          "needs at least one on both sides)", n_out, P, n_test, K);
    if (true_latents && n_true < 1) return soma_error(SOMA_ERR_ARG, "cosmooth: %d true latents", n_true);
    const double t0 = soma_now();
    const int n_train = K - n_test;
    int *tr_idx = soma_alloc((size_t)n_train, sizeof(int)), *te_idx = soma_alloc((size_t)n_test, sizeof(int));
    unsigned char *none = soma_calloc((size_t)P, 1);
    soma_counts in_tr = {0}, in_te = {0};
    soma_latent *m = NULL;
    float *ztr = NULL, *zte = NULL;
    float *ycol = NULL, *tl_tr = NULL, *tl_te = NULL;
    double *hold_r = NULL;
    soma_status st = SOMA_OK;
    if (!tr_idx || !te_idx || !none) {
        st = SOMA_ERR_NOMEM;
        goto done;
    }
    for (int k = 0, a = 0, b = 0; k < K; k++) {
        if (test[k])
            te_idx[b++] = k;
        else
            tr_idx[a++] = k;
    }
    if ((st = sub_counts(data, tr_idx, n_train, heldout, 0, &in_tr)) != SOMA_OK) goto done;
    if ((st = sub_counts(data, te_idx, n_test, heldout, 0, &in_te)) != SOMA_OK) goto done;
    if ((st = soma_latent_fit(&m, &in_tr, o)) != SOMA_OK) goto done;
    const int L = soma_latent_dim(m);
    const long ntr = (long)n_train * T, nte = (long)n_test * T;
    ztr = soma_alloc((size_t)ntr * L, sizeof(float));
    zte = soma_alloc((size_t)nte * L, sizeof(float));
    out->rates = soma_alloc((size_t)nte * P, sizeof(float));
    out->test_idx = te_idx;
    te_idx = NULL;
    if (!ztr || !zte || !out->rates) {
        st = SOMA_ERR_NOMEM;
        goto done;
    }
    if ((st = soma_latent_infer(m, &in_tr, 1, ztr)) != SOMA_OK || (st = soma_latent_infer(m, &in_te, 1, zte)) != SOMA_OK)
        goto done;
    ycol = soma_alloc((size_t)ntr * P, sizeof(float));
    if (!ycol) {
        st = SOMA_ERR_NOMEM;
        goto done;
    }
    for (int a = 0; a < n_train; a++)
        for (int t = 0; t < T; t++)
            for (int u = 0; u < P; u++)
                ycol[(size_t)u * ntr + (size_t)a * T + t] = data->x[((size_t)tr_idx[a] * T + t) * P + u];
    if ((st = soma__glm_readout(ztr, ntr, zte, nte, L, ycol, P, o->glm_alpha, out->rates)) != SOMA_OK) goto done;
    const float *rates = out->rates;
    out->fit_s = soma_now() - t0;
    /* co-bps on the held-out units of the test trials */
    {
        float *rr = soma_alloc((size_t)nte * n_out, sizeof(float)), *ss = soma_alloc((size_t)nte * n_out, sizeof(float));
        if (!rr || !ss) {
            soma_free(rr);
            soma_free(ss);
            st = SOMA_ERR_NOMEM;
            goto done;
        }
        for (long i = 0; i < nte; i++) {
            const int k = out->test_idx[i / T], t = (int)(i % T);
            for (int u = 0, v = 0; u < P; u++)
                if (heldout[u]) {
                    rr[i * n_out + v] = rates[i * P + u];
                    ss[i * n_out + v++] = data->x[((size_t)k * T + t) * P + u];
                }
        }
        st = soma_nlb_bits_per_spike(rr, ss, nte, n_out, &out->co_bps);
        soma_free(rr);
        soma_free(ss);
        if (st != SOMA_OK) goto done;
    }
    if (true_latents) {
        tl_tr = soma_alloc((size_t)ntr * n_true, sizeof(float));
        tl_te = soma_alloc((size_t)nte * n_true, sizeof(float));
        if (!tl_tr || !tl_te) {
            st = SOMA_ERR_NOMEM;
            goto done;
        }
        for (int a = 0; a < n_train; a++)
            memcpy(tl_tr + (size_t)a * T * n_true, true_latents + (size_t)tr_idx[a] * T * n_true,
                   sizeof(float) * T * n_true);
        for (int b = 0; b < n_test; b++)
            memcpy(tl_te + (size_t)b * T * n_true, true_latents + (size_t)out->test_idx[b] * T * n_true,
                   sizeof(float) * T * n_true);
        if (ntr > L) st = soma_latent_r2(ztr, tl_tr, ntr, zte, tl_te, nte, L, n_true, &out->latent_r2);
        if (st != SOMA_OK) goto done;
    }
    out->kind = o->kind;
    out->n_test = n_test;
    out->n_bins = T;
    out->n_units = P;
    out->n_latents = L;
    out->z = zte;
    zte = NULL;
done:
    soma_free(tr_idx);
    soma_free(te_idx);
    soma_free(none);
    soma_counts_free(&in_tr);
    soma_counts_free(&in_te);
    soma_latent_free(m);
    soma_free(ztr);
    soma_free(zte);
    soma_free(ycol);
    soma_free(tl_tr);
    soma_free(tl_te);
    soma_free(hold_r);
    if (st != SOMA_OK) soma_cosmooth_free(out);
    return st;
}

soma_status soma_neuro_split(int n_units, int n_trials, double heldout_frac, double test_frac, uint64_t seed,
                             unsigned char *heldout, unsigned char *test) {
    if (n_units < 2 || n_trials < 2 || !(heldout_frac > 0 && heldout_frac < 1) || !(test_frac > 0 && test_frac < 1))
        return soma_error(SOMA_ERR_ARG, "split: %d units and %d trials (>= 2 each), held-out fraction %g and test "
                          "fraction %g (each in (0, 1))", n_units, n_trials, heldout_frac, test_frac);
    int *perm = soma_alloc((size_t)(n_units > n_trials ? n_units : n_trials), sizeof(int));
    if (!perm) return SOMA_ERR_NOMEM;
    soma_rng r;
    soma_rng_seed(&r, seed, 11);
    int h = (int)lround(heldout_frac * n_units), s = (int)lround(test_frac * n_trials);
    h = h < 1 ? 1 : h > n_units - 1 ? n_units - 1 : h;
    s = s < 1 ? 1 : s > n_trials - 1 ? n_trials - 1 : s;
    soma_rng_permutation(&r, perm, n_units);
    memset(heldout, 0, (size_t)n_units);
    for (int i = 0; i < h; i++) heldout[perm[i]] = 1;
    soma_rng_permutation(&r, perm, n_trials);
    memset(test, 0, (size_t)n_trials);
    for (int i = 0; i < s; i++) test[perm[i]] = 1;
    soma_free(perm);
    return SOMA_OK;
}

soma_status soma_neuro_baselines(const soma_counts *data, const float *true_latents, int n_true, int n_latents,
                                 double heldout_frac, double test_frac, uint64_t seed, double iter_scale,
                                 soma_cosmooth res[SOMA_LATENT_KIND_COUNT]) {
    for (int k = 0; k < SOMA_LATENT_KIND_COUNT; k++) memset(&res[k], 0, sizeof res[k]);
    if (!(iter_scale > 0 && iter_scale <= 1))
        return soma_error(SOMA_ERR_ARG, "baselines: iter_scale %g must be in (0, 1]", iter_scale);
    if (!data || !data->x) return soma_error(SOMA_ERR_ARG, "baselines: no data");
    unsigned char *ho = soma_alloc((size_t)data->n_units, 1), *te = soma_alloc((size_t)data->n_trials, 1);
    soma_status st = ho && te ? SOMA_OK : SOMA_ERR_NOMEM;
    if (st == SOMA_OK) st = soma_neuro_split(data->n_units, data->n_trials, heldout_frac, test_frac, seed, ho, te);
    for (int k = 0; k < SOMA_LATENT_KIND_COUNT && st == SOMA_OK; k++) {
        soma_latent_opts o = soma_latent_opts_default((soma_latent_kind)k);
        o.n_latents = n_latents;
        o.seed = seed;
        o.max_iter = (int)ceil(o.max_iter * iter_scale);
        o.vae_epochs = (int)ceil(o.vae_epochs * iter_scale);
        st = soma_neuro_cosmooth(data, ho, te, true_latents, n_true, &o, &res[k]);
    }
    soma_free(ho);
    soma_free(te);
    if (st != SOMA_OK)
        for (int k = 0; k < SOMA_LATENT_KIND_COUNT; k++) soma_cosmooth_free(&res[k]);
    return st;
}
