// Connectivity inference from spike trains (soma/neuro.h): a cross-correlogram baseline, a
// Poisson GLM with raised-cosine coupling filters (Pillow et al. 2008), and a message-passing
// graph neural network with a learned weighted adjacency. The GLM and the GNN share the
// binned, basis-filtered spike histories (built chunk by chunk in time, so memory stays at one
// chunk of the design whatever the recording's length), a chunked BLAS objective and one
// L-BFGS minimiser.
#include <math.h>
#include <string.h>

#include "soma/neuro.h"

/* CHUNK_ bins per design block; MEM_ L-BFGS pairs; RBLK_ rows per summed block; below PAR_
 * rows (bins x neurons) a loop runs on one thread (a parallel region costs more). */
enum { CHUNK_ = 4096, MEM_ = 8, RBLK_ = 2048, PAR_ = 100000 };
static const double PI_ = 3.14159265358979323846;

// --- cross-correlogram ------------------------------------------------------------------

soma_status soma_infer_ccg(const soma_spikes *s, double window_ms, double flank_ms, float *score) {
    if (!s || !score || s->n_neurons < 2) return soma_error(SOMA_ERR_ARG, "ccg: need spikes of >= 2 neurons");
    if (!(window_ms > 0) || !(flank_ms > window_ms) || !(flank_ms <= 10000))
        return soma_error(SOMA_ERR_ARG, "ccg: window %g ms must be > 0 and flank %g ms in (window, 10000]",
                          window_ms, flank_ms);
    const int n = s->n_neurons;
    double *cw = soma_calloc((size_t)n * n, sizeof *cw), *cf = soma_calloc((size_t)n * n, sizeof *cf);
    if (!cw || !cf) {
        soma_free(cw);
        soma_free(cf);
        return soma_error(SOMA_ERR_NOMEM, "ccg: out of memory");
    }
    long lo = 0;
    for (long a = 0; a < s->n; a++) {
        const double t = s->t[a];
        const int j = s->id[a];
        if (j < 0 || j >= n) {
            soma_free(cw);
            soma_free(cf);
            return soma_error(SOMA_ERR_ARG, "ccg: spike %ld has id %d outside [0, %d)", a, j, n);
        }
        while (lo < s->n && s->t[lo] < t - flank_ms) lo++;
        double *rw = cw + (size_t)j * n, *rf = cf + (size_t)j * n;
        for (long b = lo; b < s->n && s->t[b] <= t + flank_ms; b++) {
            if (b == a) continue;
            const double d = s->t[b] - t;
            const int i = s->id[b];
            if (i < 0 || i >= n) continue; /* reported when it is the reference spike */
            if (d > 0 && d <= window_ms) rw[i] += 1;
            else if (fabs(d) > window_ms && fabs(d) <= flank_ms) rf[i] += 1;
        }
    }
    const double per = window_ms / (2.0 * (flank_ms - window_ms));
    for (int j = 0; j < n; j++)
        for (int i = 0; i < n; i++) {
            const size_t k = (size_t)j * n + i;
            const double e = cf[k] * per;
            score[k] = i == j ? 0.f : (float)((cw[k] - e) / sqrt(e + 1.0));
        }
    soma_free(cw);
    soma_free(cf);
    return SOMA_OK;
}

// --- shared: options, bins, bases, the chunked design ---------------------------------------

soma_glm_opts soma_glm_defaults(void) {
    soma_glm_opts o = {2.0, 2, 10, 1.0, 100, 1e-7};
    return o;
}

soma_gnn_opts soma_gnn_defaults(void) {
    soma_gnn_opts o;
    o.glm = soma_glm_defaults();
    o.hidden = 8;
    return o;
}

soma_status soma_glm_basis(float *basis, int n_bases, int n_lags) {
    if (!basis || n_bases < 1 || n_lags < 1 || n_bases > n_lags || n_lags > 10000)
        return soma_error(SOMA_ERR_ARG, "glm: %d bases over %d lags (need 1 <= bases <= lags <= 10000)", n_bases,
                          n_lags);
    const double x0 = log(2.0), x1 = log(n_lags + 1.0);
    const double d = n_bases > 1 ? (x1 - x0) / (n_bases - 1) : (x1 - x0 > 0 ? x1 - x0 : 1.0);
    for (int k = 0; k < n_bases; k++) {
        const double c = x0 + k * (n_bases > 1 ? d : 0.0);
        for (int l = 0; l < n_lags; l++) {
            double a = (log(l + 2.0) - c) * PI_ / (2.0 * d);
            a = a < -PI_ ? -PI_ : a > PI_ ? PI_ : a;
            basis[k * n_lags + l] = (float)(0.5 * (1.0 + cos(a)));
        }
    }
    return SOMA_OK;
}

/* Spikes as bin indices (time-ordered) and ids. */
typedef struct bins_ {
    int n, T, B, H;
    long m;
    int *bin, *id;
    float *basis; /* [B, H] */
} bins_;

static void bins_free_(bins_ *b) {
    soma_free(b->bin);
    soma_free(b->id);
    soma_free(b->basis);
    memset(b, 0, sizeof *b);
}

static soma_status bins_make_(bins_ *b, const char *who, const soma_spikes *s, const soma_glm_opts *o) {
    memset(b, 0, sizeof *b);
    if (!s || s->n_neurons < 2) return soma_error(SOMA_ERR_ARG, "%s: need spikes of >= 2 neurons", who);
    if (!o || !(o->bin_ms > 0 && o->bin_ms <= 1000) || !(o->l2 >= 0) || o->max_iter < 1 || !(o->tol >= 0))
        return soma_error(SOMA_ERR_ARG, "%s: bin %g ms (0, 1000], l2 %g (>= 0), %d iterations (>= 1), tol %g", who,
                          o ? o->bin_ms : 0.0, o ? o->l2 : 0.0, o ? o->max_iter : 0, o ? o->tol : 0.0);
    if (o->n_bases < 1 || o->n_bases > 64 || o->n_lags < o->n_bases || o->n_lags > 1000)
        return soma_error(SOMA_ERR_ARG, "%s: %d bases over %d lags (need 1 <= bases <= 64, bases <= lags <= 1000)", who,
                          o->n_bases, o->n_lags);
    const double t0 = s->t_start;
    double t1 = s->t_stop;
    if (!(t1 > t0)) t1 = s->n > 0 ? s->t[s->n - 1] + o->bin_ms : t0;
    const double T = ceil((t1 - t0) / o->bin_ms);
    if (!(T >= 2 * o->n_lags) || T > 2e9)
        return soma_error(SOMA_ERR_ARG, "%s: %.0f bins of %g ms (need %d .. 2e9)", who, T, o->bin_ms, 2 * o->n_lags);
    if ((double)s->n_neurons * o->n_bases > 1e6)
        return soma_error(SOMA_ERR_ARG, "%s: %d neurons x %d bases is too many", who, s->n_neurons, o->n_bases);
    b->n = s->n_neurons;
    b->T = (int)T;
    b->B = o->n_bases;
    b->H = o->n_lags;
    b->bin = soma_alloc((size_t)s->n + 1, sizeof *b->bin);
    b->id = soma_alloc((size_t)s->n + 1, sizeof *b->id);
    b->basis = soma_alloc((size_t)b->B * b->H, sizeof *b->basis);
    if (!b->bin || !b->id || !b->basis) {
        bins_free_(b);
        return soma_error(SOMA_ERR_NOMEM, "%s: out of memory", who);
    }
    soma_glm_basis(b->basis, b->B, b->H);
    double last = -INFINITY;
    for (long k = 0; k < s->n; k++) {
        const double t = s->t[k];
        if (s->id[k] < 0 || s->id[k] >= b->n || !isfinite(t) || t < last) {
            bins_free_(b);
            return soma_error(SOMA_ERR_ARG, "%s: spike %ld (id %d, t %g ms) out of range or out of order", who, k,
                              s->id[k], t);
        }
        last = t;
        if (t < t0) continue;
        const double q = floor((t - t0) / o->bin_ms);
        if (q >= b->T) break;
        b->bin[b->m] = (int)q;
        b->id[b->m] = s->id[k];
        b->m++;
    }
    return SOMA_OK;
}

/* first spike with bin >= t */
static long first_at_(const bins_ *b, int t) {
    long lo = 0, hi = b->m;
    while (lo < hi) {
        const long mid = lo + (hi - lo) / 2;
        if (b->bin[mid] < t) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* X[r, j*B + k] = sum_l basis_k(l) y_j(r0 + r - l) for rows r0..r1-1 (ldx columns; column
 * n*B is set to 1 when ldx > n*B: the bias); Y[r, i] = the counts in those bins. */
static void chunk_(const bins_ *b, int r0, int r1, float *X, int ldx, float *Y) {
    const int rows = r1 - r0, nb = b->n * b->B;
    memset(X, 0, (size_t)rows * ldx * sizeof *X);
    memset(Y, 0, (size_t)rows * b->n * sizeof *Y);
    if (ldx > nb)
        for (int r = 0; r < rows; r++) X[(size_t)r * ldx + nb] = 1.f;
    for (long k = first_at_(b, r0 - b->H); k < b->m && b->bin[k] < r1; k++) {
        const int t = b->bin[k], j = b->id[k];
        if (t >= r0) Y[(size_t)(t - r0) * b->n + j] += 1.f;
        for (int l = 1; l <= b->H; l++) {
            const int r = t + l - r0;
            if (r < 0) continue;
            if (r >= rows) break;
            float *x = X + (size_t)r * ldx + (size_t)j * b->B;
            for (int q = 0; q < b->B; q++) x[q] += b->basis[q * b->H + l - 1];
        }
    }
}

// --- L-BFGS ---------------------------------------------------------------------------------

/* Minimises fn from x (updated in place) with the core L-BFGS: stops when an iteration lowers
 * the objective by <= tol * max(1, |f|) (tol 0: only max_iter stops it), no gradient test.
 * work: soma_lbfgs_work_size(n, MEM_) doubles. */
static soma_status lbfgs_(int n, double *x, soma_objective fn, void *ctx, int max_iter, double tol, double *work,
                          double *f) {
    const soma_lbfgs_opts lo = {.m = MEM_, .max_iter = max_iter, .g_tol = -1, .f_tol = tol, .work = work};
    soma_lbfgs_result r;
    SOMA_TRY(soma_lbfgs(n, x, fn, ctx, &lo, &r));
    *f = r.f;
    return SOMA_OK;
}

// --- Poisson GLM ----------------------------------------------------------------------------

/* One chunk of the Poisson objective for N neurons sharing the design X [rows, F]: E = X W
 * (W [F, N] float), f += sum exp(E) - Y E, R = exp(E) - Y, G = X^T R ([F, N], overwritten).
 * eta is capped at 30 (the cap only guards exp; such a point is far off the optimum). */
static double glm_chunk_(const float *X, int F, const float *Y, const float *W, int N, int rows, float *E,
                         float *G) {
    soma_gemm(0, 0, rows, N, F, 1.f, X, F, W, N, 0.f, E, N);
    double f = 0;
    for (long k = 0; k < (long)rows * N; k++) {
        const float e = E[k] < 30.f ? E[k] : 30.f, lam = expf(e);
        f += (double)lam - (double)Y[k] * e;
        E[k] = lam - Y[k];
    }
    soma_gemm(1, 0, F, N, rows, 1.f, X, F, E, N, 0.f, G, N);
    return f;
}

soma_status soma_glm_objective(const float *X, const float *y, const double *w, int T, int F, double l2, int n_pen,
                               double *f, double *grad, double *hess) {
    if (!X || !y || !w || !f || T < 1 || F < 1 || n_pen < 0 || n_pen > F || !(l2 >= 0))
        return soma_error(SOMA_ERR_ARG, "glm-objective: T %d, F %d, n_pen %d, l2 %g", T, F, n_pen, l2);
    float *wf = soma_alloc((size_t)F, sizeof *wf), *E = soma_alloc((size_t)CHUNK_, sizeof *E);
    float *G = soma_alloc((size_t)F, sizeof *G);
    if (!wf || !E || !G) {
        soma_free(wf);
        soma_free(E);
        soma_free(G);
        return soma_error(SOMA_ERR_NOMEM, "glm-objective: out of memory");
    }
    for (int k = 0; k < F; k++) wf[k] = (float)w[k];
    double s = 0;
    if (grad) memset(grad, 0, (size_t)F * sizeof *grad);
    if (hess) memset(hess, 0, (size_t)F * F * sizeof *hess);
    for (int r0 = 0; r0 < T; r0 += CHUNK_) {
        const int rows = T - r0 < CHUNK_ ? T - r0 : CHUNK_;
        const float *Xc = X + (size_t)r0 * F;
        s += glm_chunk_(Xc, F, y + r0, wf, 1, rows, E, G);
        if (grad)
            for (int k = 0; k < F; k++) grad[k] += G[k];
        if (hess)
            for (int r = 0; r < rows; r++) {
                const double lam = E[r] + y[r0 + r]; /* E holds exp(eta) - y */
                const float *x = Xc + (size_t)r * F;
                for (int a = 0; a < F; a++)
                    for (int b = 0; b < F; b++) hess[(size_t)a * F + b] += lam * x[a] * x[b];
            }
    }
    for (int k = 0; k < n_pen; k++) {
        s += 0.5 * l2 * w[k] * w[k];
        if (grad) grad[k] += l2 * w[k];
        if (hess) hess[(size_t)k * F + k] += l2;
    }
    *f = s;
    soma_free(wf);
    soma_free(E);
    soma_free(G);
    return SOMA_OK;
}

typedef struct glm_ctx_ {
    const bins_ *b;
    int F;
    double l2;
    float *X, *Y, *W, *E, *G;
} glm_ctx_;

/* The summed objective over all neurons; x = W [F, N] (row F-1: the biases). */
static double glm_eval_(const double *x, double *g, void *vc) {
    glm_ctx_ *c = vc;
    const int F = c->F, N = c->b->n, nb = N * c->b->B;
    for (long k = 0; k < (long)F * N; k++) c->W[k] = (float)x[k];
    memset(g, 0, (size_t)F * N * sizeof *g);
    double f = 0;
    for (int r0 = 0; r0 < c->b->T; r0 += CHUNK_) {
        const int r1 = c->b->T - r0 < CHUNK_ ? c->b->T : r0 + CHUNK_;
        chunk_(c->b, r0, r1, c->X, F, c->Y);
        f += glm_chunk_(c->X, F, c->Y, c->W, N, r1 - r0, c->E, c->G);
        for (long k = 0; k < (long)F * N; k++) g[k] += c->G[k];
    }
    for (long k = 0; k < (long)nb * N; k++) {
        f += 0.5 * c->l2 * x[k] * x[k];
        g[k] += c->l2 * x[k];
    }
    return f;
}

/* Mean count per bin of each neuron (the starting biases). */
static void mean_counts_(const bins_ *b, double *mu) {
    for (int i = 0; i < b->n; i++) mu[i] = 0;
    for (long k = 0; k < b->m; k++) mu[b->id[k]] += 1;
    for (int i = 0; i < b->n; i++) mu[i] = (mu[i] + 0.5) / b->T;
}

soma_status soma_infer_glm(const soma_spikes *s, const soma_glm_opts *o, float *score, double *nll) {
    if (!score) return soma_error(SOMA_ERR_ARG, "glm: NULL score");
    bins_ b;
    SOMA_TRY(bins_make_(&b, "glm", s, o));
    const int N = b.n, B = b.B, F = N * B + 1;
    const long P = (long)F * N;
    glm_ctx_ c = {&b, F, o->l2, NULL, NULL, NULL, NULL, NULL};
    c.X = soma_alloc((size_t)CHUNK_ * F, sizeof *c.X);
    c.Y = soma_alloc((size_t)CHUNK_ * N, sizeof *c.Y);
    c.E = soma_alloc((size_t)CHUNK_ * N, sizeof *c.E);
    c.W = soma_alloc((size_t)P, sizeof *c.W);
    c.G = soma_alloc((size_t)P, sizeof *c.G);
    double *x = soma_calloc((size_t)P, sizeof *x), *work = soma_alloc(soma_lbfgs_work_size((int)P, MEM_), sizeof(double));
    double *mu = soma_alloc((size_t)N, sizeof *mu);
    soma_status st = SOMA_OK;
    if (!c.X || !c.Y || !c.E || !c.W || !c.G || !x || !work || !mu) {
        st = soma_error(SOMA_ERR_NOMEM, "glm: out of memory");
        goto out;
    }
    mean_counts_(&b, mu);
    for (int i = 0; i < N; i++) x[(size_t)(F - 1) * N + i] = log(mu[i]);
    double f = 0;
    st = lbfgs_((int)P, x, glm_eval_, &c, o->max_iter, o->tol, work, &f);
    if (st != SOMA_OK) goto out;
    if (nll) *nll = f / ((double)b.T * N);
    double bsum[64];
    for (int k = 0; k < B && k < 64; k++) {
        bsum[k] = 0;
        for (int l = 0; l < b.H; l++) bsum[k] += b.basis[k * b.H + l];
    }
    for (int j = 0; j < N; j++)
        for (int i = 0; i < N; i++) {
            double v = 0;
            for (int k = 0; k < B && k < 64; k++) v += x[(size_t)(j * B + k) * N + i] * bsum[k];
            score[(size_t)j * N + i] = i == j ? 0.f : (float)v;
        }
out:
    soma_free(c.X);
    soma_free(c.Y);
    soma_free(c.E);
    soma_free(c.W);
    soma_free(c.G);
    soma_free(x);
    soma_free(work);
    soma_free(mu);
    bins_free_(&b);
    return st;
}

// --- graph neural network ---------------------------------------------------------------

/* Parameters, one vector: A [N, N] (A[i*N + j]: edge j -> i; the diagonal is held at 0),
 * b [N], s [N, B], U [Hd, B], c [Hd], v [Hd]. */
typedef struct gnn_ctx_ {
    const bins_ *b;
    int Hd;
    double l2;
    float *Z, *Y, *Hh, *M, *E, *dM, *Af, *dA, *Uf; /* chunk buffers and float copies */
    float *cf, *vf;                                     /* [Hd] x 2 */
    double *part;                                       /* per-block sums [blocks, 2 Hd + Hd B] */
    double *fi;                                         /* [N] per-neuron objective */
} gnn_ctx_;

static double gnn_eval_(const double *x, double *g, void *vc) {
    gnn_ctx_ *c = vc;
    const bins_ *b = c->b;
    const int N = b->n, B = b->B, Hd = c->Hd, NB = N * B;
    const double *A = x, *bias = A + (size_t)N * N, *sw = bias + N, *U = sw + NB, *cc = U + (size_t)Hd * B,
                 *v = cc + Hd;
    double *gA = g, *gb = gA + (size_t)N * N, *gs = gb + N, *gU = gs + NB, *gc = gU + (size_t)Hd * B,
           *gv = gc + Hd;
    const long P = (long)N * N + N + NB + (long)Hd * B + 2L * Hd;
    memset(g, 0, (size_t)P * sizeof *g);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) c->Af[i * N + j] = i == j ? 0.f : (float)A[(size_t)i * N + j];
    for (int k = 0; k < Hd * B; k++) c->Uf[k] = (float)U[k];
    for (int q = 0; q < Hd; q++) c->cf[q] = (float)cc[q], c->vf[q] = (float)v[q];
    for (int i = 0; i < N; i++) c->fi[i] = 0;
    for (int r0 = 0; r0 < b->T; r0 += CHUNK_) {
        const int r1 = b->T - r0 < CHUNK_ ? b->T : r0 + CHUNK_, rows = r1 - r0;
        const long RN = (long)rows * N;
        chunk_(b, r0, r1, c->Z, NB, c->Y); /* Z [rows, N, B]: every node's state */
        /* messages: H = tanh(Z U^T + c) [rows*N, Hd], M = H v */
        /* (U z: B is a few bases, so inline rather than a GEMM with K = B) */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (RN > PAR_)
#endif
        for (long r = 0; r < RN; r++) {
            float *h = c->Hh + (size_t)r * Hd;
            const float *z = c->Z + (size_t)r * B;
            float m = 0;
            for (int q = 0; q < Hd; q++) {
                float a = c->cf[q];
                for (int k = 0; k < B; k++) a += c->Uf[q * B + k] * z[k];
                h[q] = tanhf(a);
                m += c->vf[q] * h[q];
            }
            c->M[r] = m;
        }
        /* eta = M A^T + b + s_i . z_i; R = exp(eta) - y into E. Each neuron's sums run over the
         * rows in order, so the thread count never changes a number. */
        soma_gemm(0, 1, rows, N, N, 1.f, c->M, N, c->Af, N, 0.f, c->E, N);
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (RN > PAR_)
#endif
        for (int i = 0; i < N; i++) {
            double fi = 0, gbi = 0, gsi[64] = {0};
            for (int r = 0; r < rows; r++) {
                const float *z = c->Z + ((size_t)r * N + i) * B;
                double e = c->E[(size_t)r * N + i] + bias[i];
                for (int q = 0; q < B; q++) e += sw[i * B + q] * z[q];
                if (e > 30) e = 30;
                const double lam = exp(e), y = c->Y[(size_t)r * N + i];
                fi += lam - y * e;
                const double R = lam - y;
                c->E[(size_t)r * N + i] = (float)R;
                gbi += R;
                for (int q = 0; q < B; q++) gsi[q] += R * z[q];
            }
            c->fi[i] += fi;
            gb[i] += gbi;
            for (int q = 0; q < B; q++) gs[i * B + q] += gsi[q];
        }
        /* dA = R^T M, dM = R A */
        soma_gemm(1, 0, N, N, rows, 1.f, c->E, N, c->M, N, 0.f, c->dA, N);
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++)
                if (i != j) gA[(size_t)i * N + j] += c->dA[i * N + j];
        soma_gemm(0, 0, rows, N, N, 1.f, c->E, N, c->Af, N, 0.f, c->dM, N);
        /* dv = H^T dM; dPre = dM v (1 - H^2); dc = dPre^T 1; dU = dPre^T Z. Summed in blocks of
         * fixed size (each block by one thread, the blocks in order), so the thread count never
         * changes a number. */
        const int nblk = (int)((RN + RBLK_ - 1) / RBLK_), W = 2 * Hd + Hd * B;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (RN > PAR_)
#endif
        for (int bk = 0; bk < nblk; bk++) {
            double *acc = c->part + (size_t)bk * W;
            memset(acc, 0, (size_t)W * sizeof *acc);
            const long e = (long)(bk + 1) * RBLK_ < RN ? (long)(bk + 1) * RBLK_ : RN;
            for (long r = (long)bk * RBLK_; r < e; r++) {
                const float *h = c->Hh + (size_t)r * Hd, *z = c->Z + (size_t)r * B;
                const float dm = c->dM[r];
                for (int q = 0; q < Hd; q++) {
                    acc[q] += dm * h[q];
                    const float dp = dm * c->vf[q] * (1.f - h[q] * h[q]);
                    acc[Hd + q] += dp;
                    for (int k = 0; k < B; k++) acc[2 * Hd + q * B + k] += dp * z[k];
                }
            }
        }
        for (int bk = 0; bk < nblk; bk++) {
            const double *acc = c->part + (size_t)bk * W;
            for (int q = 0; q < Hd; q++) gv[q] += acc[q], gc[q] += acc[Hd + q];
            for (int k = 0; k < Hd * B; k++) gU[k] += acc[2 * Hd + k];
        }
    }
    double f = 0;
    for (int i = 0; i < N; i++) f += c->fi[i];
    /* L2 on A, s, U and v (not the biases b and c) */
    const double l2 = c->l2;
    for (long k = 0; k < (long)N * N; k++) f += 0.5 * l2 * A[k] * A[k], gA[k] += l2 * A[k];
    for (int k = 0; k < NB; k++) f += 0.5 * l2 * sw[k] * sw[k], gs[k] += l2 * sw[k];
    for (int k = 0; k < Hd * B; k++) f += 0.5 * l2 * U[k] * U[k], gU[k] += l2 * U[k];
    for (int k = 0; k < Hd; k++) f += 0.5 * l2 * v[k] * v[k], gv[k] += l2 * v[k];
    return f;
}

soma_status soma_infer_gnn(const soma_spikes *s, const soma_gnn_opts *o, uint64_t seed, float *score,
                           double *nll) {
    if (!score || !o) return soma_error(SOMA_ERR_ARG, "gnn: NULL argument");
    if (o->hidden < 1 || o->hidden > 256)
        return soma_error(SOMA_ERR_ARG, "gnn: %d hidden units (need 1..256)", o->hidden);
    bins_ b;
    SOMA_TRY(bins_make_(&b, "gnn", s, &o->glm));
    const int N = b.n, B = b.B, Hd = o->hidden, NB = N * B;
    const long P = (long)N * N + N + NB + (long)Hd * B + 2L * Hd;
    gnn_ctx_ c;
    memset(&c, 0, sizeof c);
    c.b = &b;
    c.Hd = Hd;
    c.l2 = o->glm.l2;
    c.Z = soma_alloc((size_t)CHUNK_ * NB, sizeof *c.Z);
    c.Y = soma_alloc((size_t)CHUNK_ * N, sizeof *c.Y);
    c.Hh = soma_alloc((size_t)CHUNK_ * N * Hd, sizeof *c.Hh);
    c.M = soma_alloc((size_t)CHUNK_ * N, sizeof *c.M);
    c.E = soma_alloc((size_t)CHUNK_ * N, sizeof *c.E);
    c.dM = soma_alloc((size_t)CHUNK_ * N, sizeof *c.dM);
    c.Af = soma_alloc((size_t)N * N, sizeof *c.Af);
    c.dA = soma_alloc((size_t)N * N, sizeof *c.dA);
    c.Uf = soma_alloc((size_t)Hd * B, sizeof *c.Uf);
    c.cf = soma_alloc((size_t)Hd, sizeof *c.cf);
    c.vf = soma_alloc((size_t)Hd, sizeof *c.vf);
    c.part = soma_alloc(((size_t)CHUNK_ * N / RBLK_ + 1) * (size_t)(2 * Hd + Hd * B), sizeof *c.part);
    c.fi = soma_alloc((size_t)N, sizeof *c.fi);
    double *x = soma_calloc((size_t)P, sizeof *x), *work = soma_alloc(soma_lbfgs_work_size((int)P, MEM_), sizeof(double));
    double *mu = soma_alloc((size_t)N, sizeof *mu);
    soma_status st = SOMA_OK;
    if (!c.Z || !c.Y || !c.Hh || !c.M || !c.E || !c.dM || !c.Af || !c.dA || !c.Uf || !c.cf || !c.vf || !c.part || !c.fi || !x || !work || !mu) {
        st = soma_error(SOMA_ERR_NOMEM, "gnn: out of memory");
        goto out;
    }
    /* start: A = 0, s = 0, biases at the mean counts, a random message function */
    mean_counts_(&b, mu);
    double *bias = x + (size_t)N * N, *U = bias + N + NB, *cc = U + (size_t)Hd * B, *v = cc + Hd;
    for (int i = 0; i < N; i++) bias[i] = log(mu[i]);
    soma_rng r;
    soma_rng_seed(&r, seed, 0x6e6e);
    for (int k = 0; k < Hd * B; k++) U[k] = soma_rng_normal(&r);
    for (int k = 0; k < Hd; k++) cc[k] = 0.1 * soma_rng_normal(&r), v[k] = soma_rng_normal(&r) / sqrt((double)Hd);
    double f = 0;
    st = lbfgs_((int)P, x, gnn_eval_, &c, o->glm.max_iter, o->glm.tol, work, &f);
    if (st != SOMA_OK) goto out;
    if (nll) *nll = f / ((double)b.T * N);
    /* the sign of the message's response to one spike: sum over lags of m(basis(l)) - m(0) */
    double resp = 0;
    for (int l = 0; l < b.H; l++)
        for (int q = 0; q < Hd; q++) {
            double a = cc[q];
            for (int k = 0; k < B; k++) a += U[q * B + k] * b.basis[k * b.H + l];
            resp += v[q] * (tanh(a) - tanh(cc[q]));
        }
    const double sg = resp < 0 ? -1.0 : 1.0;
    for (int j = 0; j < N; j++)
        for (int i = 0; i < N; i++) score[(size_t)j * N + i] = i == j ? 0.f : (float)(sg * x[(size_t)i * N + j]);
out:
    soma_free(c.Z);
    soma_free(c.Y);
    soma_free(c.Hh);
    soma_free(c.M);
    soma_free(c.E);
    soma_free(c.dM);
    soma_free(c.Af);
    soma_free(c.dA);
    soma_free(c.Uf);
    soma_free(c.cf);
    soma_free(c.vf);
    soma_free(c.part);
    soma_free(c.fi);
    soma_free(x);
    soma_free(work);
    soma_free(mu);
    bins_free_(&b);
    return st;
}
