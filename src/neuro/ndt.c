// The Neural Data Transformer: per-session read-in, context tokens, a shared transformer trunk
// (a soma_net of the nn stack's blocks), per-session Poisson read-out, masked modelling. The
// forward and backward of one batch, inference, evaluation and the masks; training is in
// ndt_train.c, files in ndt_io.c. Contract in soma/neuro.h.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "neuro/ndt_internal.h"

soma_ndt_arch soma_ndt_arch_default(void) {
    return (soma_ndt_arch){.n_bins = 0, .d_model = 64, .n_layers = 2, .n_heads = 4, .subjects = 0, .seed = 1, .dropout = 0.1f};
}

void soma__ndt_offsets(int N, int D, size_t off[NDT_NPART + 1]) {
    const size_t sz[NDT_NPART] = {(size_t)D * N, (size_t)D, (size_t)N * D, (size_t)N, (size_t)D};
    off[0] = 0;
    for (int i = 0; i < NDT_NPART; i++) off[i + 1] = off[i] + sz[i];
}

static void free_bufs_(soma_ndt *m) {
    float *f[] = {m->x, m->y, m->lr, m->h, m->z, m->dz, m->tin, m->dtin, m->dtout};
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) soma_free(f[i]);
    soma_free(m->mask);
    soma_free(m->gs);
    soma_free(m->gk);
    soma_free(m->gd);
    soma_free(m->idx);
    soma_free(m->nmu);
    m->nmu = NULL;
    m->x = m->y = m->lr = m->h = m->z = m->dz = m->tin = m->dtin = m->dtout = NULL;
    m->mask = NULL;
    m->gs = m->gk = m->gd = m->idx = NULL;
    m->cap_B = m->cap_N = 0;
}

void soma_ndt_free(soma_ndt *m) {
    if (!m) return;
    free_bufs_(m);
    for (int s = 0; s < m->n_sess; s++) {
        soma_free(m->sess[s].p);
        soma_free(m->sess[s].g);
        soma_free(m->sess[s].m1);
        soma_free(m->sess[s].m2);
    }
    soma_free(m->sess);
    soma_free(m->sp);
    soma_free(m->sg);
    soma_free(m->sm1);
    soma_free(m->sm2);
    soma_free(m->h_step);
    soma_free(m->h_train);
    soma_free(m->h_valid);
    soma_free(m->h_bps);
    soma_free(m->fp);
    soma_optim_free(m->opt);
    soma_net_free(m->trunk);
    soma_free(m);
}

soma_status soma__ndt_new_opt(soma_ndt *m, float wd) {
    soma_optim_free(m->opt);
    m->opt = NULL;
    soma_optim_config c = soma_optim_defaults(SOMA_OPTIM_ADAMW);
    c.weight_decay = wd;
    SOMA_TRY(soma_optim_new(&m->opt, m->trunk, &c));
    m->opt_wd = wd;
    return SOMA_OK;
}

soma_status soma_ndt_new(soma_ndt **out, const soma_ndt_arch *a) {
    *out = NULL;
    if (a->n_bins < 1 || a->n_bins > 4096)
        return soma_error(SOMA_ERR_ARG, "ndt: %d bins per trial (1..4096; set arch.n_bins)", a->n_bins);
    if (a->d_model < 1 || a->d_model > 4096 || a->n_layers < 0 || a->n_layers > 64 || a->n_heads < 1 ||
        a->d_model % a->n_heads != 0 || a->subjects < 0 || a->subjects > 100000 || !(a->dropout >= 0) ||
        !(a->dropout < 1))
        return soma_error(SOMA_ERR_ARG,
                          "ndt: width %d (1..4096), %d layers (0..64), %d heads (must divide the width), %d "
                          "subjects (>= 0), dropout %g (0 <= p < 1)",
                          a->d_model, a->n_layers, a->n_heads, a->subjects, (double)a->dropout);
    soma_ndt *m = soma_calloc(1, sizeof *m);
    if (!m) return SOMA_ERR_NOMEM;
    m->a = *a;
    m->T = a->n_bins, m->D = a->d_model, m->C = a->subjects > 0 ? 2 : 1;
    char spec[4096];
    char drop[32] = "";
    if (a->dropout > 0) snprintf(drop, sizeof drop, ",dropout%.6g", (double)a->dropout);
    int off = snprintf(spec, sizeof spec, "pos%s", drop);
    for (int l = 0; l < a->n_layers; l++)
        off += snprintf(spec + off, sizeof spec - (size_t)off, ",block%dh%d%s", a->n_heads, a->d_model, drop);
    snprintf(spec + off, sizeof spec - (size_t)off, ",layernorm");
    soma_status st = soma_net_new(&m->trunk, spec, soma_shape2(m->C + m->T, m->D), a->seed);
    if (st == SOMA_OK) st = soma__ndt_new_opt(m, 0.01f);
    if (st == SOMA_OK && a->subjects > 0) {
        const size_t n = (size_t)a->subjects * m->D;
        m->sp = soma_alloc(n, sizeof(float));
        m->sg = soma_calloc(n, sizeof(float));
        m->sm1 = soma_calloc(n, sizeof(float));
        m->sm2 = soma_calloc(n, sizeof(float));
        if (!m->sp || !m->sg || !m->sm1 || !m->sm2) st = soma_error(SOMA_ERR_NOMEM, "ndt: subject tokens");
        else {
            soma_rng r;
            soma_rng_seed(&r, a->seed, 0x5bu);
            soma_rng_normal_fill(&r, m->sp, n, 0.f, 0.02f);
        }
    }
    if (st != SOMA_OK) {
        soma_ndt_free(m);
        return st;
    }
    m->o = soma_ndt_train_default();
    *out = m;
    return SOMA_OK;
}

soma_ndt_arch soma_ndt_get_arch(const soma_ndt *m) { return m->a; }
int soma_ndt_n_sessions(const soma_ndt *m) { return m->n_sess; }
int soma_ndt_session_units(const soma_ndt *m, int s) { return s >= 0 && s < m->n_sess ? m->sess[s].N : -1; }

size_t soma_ndt_n_params(const soma_ndt *m, int s) {
    if (s == -1) {
        size_t n = 0;
        for (int i = 0; i < soma_net_n_params(m->trunk); i++) n += soma_net_param(m->trunk, i)->n;
        return n;
    }
    if (s == -2) return (size_t)m->a.subjects * m->D;
    return s >= 0 && s < m->n_sess ? m->sess[s].n : 0;
}

soma_status soma_ndt_add_session(soma_ndt *m, int n_units, int subject, int *session) {
    if (n_units < 1 || n_units > 1000000)
        return soma_error(SOMA_ERR_ARG, "ndt: a session of %d units (1..1000000)", n_units);
    if (subject < -1 || subject >= m->a.subjects)
        return soma_error(SOMA_ERR_ARG, "ndt: subject %d (the model has %d: -1 or 0..%d)", subject, m->a.subjects,
                          m->a.subjects - 1);
    if (m->n_sess == m->cap_sess) {
        int cap = m->cap_sess ? 2 * m->cap_sess : 8;
        soma__ndt_sess *ns = soma_calloc((size_t)cap, sizeof *ns);
        if (!ns) return SOMA_ERR_NOMEM;
        if (m->n_sess) memcpy(ns, m->sess, (size_t)m->n_sess * sizeof *ns);
        soma_free(m->sess);
        m->sess = ns;
        m->cap_sess = cap;
    }
    soma__ndt_sess *s = &m->sess[m->n_sess];
    memset(s, 0, sizeof *s);
    size_t off[NDT_NPART + 1];
    soma__ndt_offsets(n_units, m->D, off);
    s->N = n_units, s->subject = subject, s->n = off[NDT_NPART];
    s->p = soma_alloc(s->n, sizeof(float));
    s->g = soma_calloc(s->n, sizeof(float));
    s->m1 = soma_calloc(s->n, sizeof(float));
    s->m2 = soma_calloc(s->n, sizeof(float));
    if (!s->p || !s->g || !s->m1 || !s->m2) {
        soma_free(s->p), soma_free(s->g), soma_free(s->m1), soma_free(s->m2);
        return soma_error(SOMA_ERR_NOMEM, "ndt: session of %d units", n_units);
    }
    /* torch.nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)); tokens N(0, 0.02) */
    soma_rng r;
    soma_rng_seed(&r, m->a.seed, 0x1000u + (uint64_t)m->n_sess);
    const float ki = 1.f / sqrtf((float)n_units), ko = 1.f / sqrtf((float)m->D);
    soma_rng_uniform_fill(&r, s->p + off[NDT_WIN], off[NDT_BIN] - off[NDT_WIN], -ki, ki);
    soma_rng_uniform_fill(&r, s->p + off[NDT_BIN], off[NDT_WOUT] - off[NDT_BIN], -ki, ki);
    soma_rng_uniform_fill(&r, s->p + off[NDT_WOUT], off[NDT_BOUT] - off[NDT_WOUT], -ko, ko);
    soma_rng_uniform_fill(&r, s->p + off[NDT_BOUT], off[NDT_TOK] - off[NDT_BOUT], -ko, ko);
    soma_rng_normal_fill(&r, s->p + off[NDT_TOK], (size_t)m->D, 0.f, 0.02f);
    if (session) *session = m->n_sess;
    m->n_sess++;
    return SOMA_OK;
}

float *soma_ndt_params(soma_ndt *m, int s, size_t *n) {
    if (s == -1) return soma_net_flat_values(m->trunk, n);
    if (s == -2) {
        if (n) *n = (size_t)m->a.subjects * m->D;
        return m->sp;
    }
    if (s < 0 || s >= m->n_sess) {
        if (n) *n = 0;
        return NULL;
    }
    if (n) *n = m->sess[s].n;
    return m->sess[s].p;
}

float *soma_ndt_grads(soma_ndt *m, int s, size_t *n) {
    if (s == -1) return soma_net_flat_grads(m->trunk, n);
    if (s == -2) {
        if (n) *n = (size_t)m->a.subjects * m->D;
        return m->sg;
    }
    if (s < 0 || s >= m->n_sess) {
        if (n) *n = 0;
        return NULL;
    }
    if (n) *n = m->sess[s].n;
    return m->sess[s].g;
}

/* The products of a step are small (a batch of trials times a few hundred columns): threading
 * them costs more than it gains, far more on a busy machine (the test suite's tiny models ran
 * 20x slower on 2 threads than on 1 under a load of 13 on 2 cores). Training, inference and
 * evaluation hold the process to one thread and restore the count after; results do not
 * depend on it either way. */
int soma__ndt_serial_begin(void) {
    const int t = soma_get_threads();
    if (t > 1) soma_set_threads(1);
    return t;
}
void soma__ndt_serial_end(int t) {
    if (t > 1) soma_set_threads(t);
}

// --- buffers ---------------------------------------------------------------------------

soma_status soma__ndt_reserve(soma_ndt *m, int B, int N) {
    if (B <= m->cap_B && N <= m->cap_N) return SOMA_OK;
    if (B < m->cap_B) B = m->cap_B;
    if (N < m->cap_N) N = m->cap_N;
    free_bufs_(m);
    const size_t T = (size_t)m->T, D = (size_t)m->D, TC = (size_t)(m->T + m->C), bn = (size_t)B * T * N;
    m->x = soma_alloc(bn, sizeof(float));
    m->y = soma_alloc(bn, sizeof(float));
    m->lr = soma_alloc(bn, sizeof(float));
    m->mask = soma_alloc(bn, 1);
    m->h = soma_alloc((size_t)B * T * D, sizeof(float));
    m->z = soma_alloc((size_t)B * T * D, sizeof(float));
    m->dz = soma_alloc((size_t)B * T * D, sizeof(float));
    m->tin = soma_alloc((size_t)B * TC * D, sizeof(float));
    m->dtin = soma_alloc((size_t)B * TC * D, sizeof(float));
    m->dtout = soma_alloc((size_t)B * TC * D, sizeof(float));
    m->gs = soma_alloc((size_t)B, sizeof(int));
    m->gk = soma_alloc((size_t)B, sizeof(int));
    m->gd = soma_alloc((size_t)B, sizeof(int));
    m->idx = soma_alloc((size_t)B, sizeof(int));
    m->nmu = soma_alloc((size_t)N, sizeof(double));
    if (!m->x || !m->y || !m->lr || !m->mask || !m->h || !m->z || !m->dz || !m->tin || !m->dtin || !m->dtout ||
        !m->gs || !m->gk || !m->gd || !m->idx || !m->nmu) {
        free_bufs_(m);
        return soma_error(SOMA_ERR_NOMEM, "ndt: no memory for batches of %d trials of %d units", B, N);
    }
    m->cap_B = B, m->cap_N = N;
    return soma_net_reserve(m->trunk, B);
}

// --- one batch -------------------------------------------------------------------------

soma_status soma__ndt_batch(soma_ndt *m, int ng, int train, int y_ok, int grad, int train_trunk, int lgam,
                            double *sum, long *cnt) {
    const int T = m->T, D = m->D, C = m->C, TC = T + C;
    int K = 0;
    for (int g = 0; g < ng; g++) K += m->gk[g];
    /* read-in and context tokens */
    size_t ox = 0;
    int row = 0;
    for (int g = 0; g < ng; g++) {
        const soma__ndt_sess *s = &m->sess[m->gs[g]];
        size_t off[NDT_NPART + 1];
        soma__ndt_offsets(s->N, D, off);
        const int k = m->gk[g];
        soma_dense_forward(m->h + (size_t)row * T * D, m->x + ox, s->p + off[NDT_WIN], s->p + off[NDT_BIN], k * T,
                           s->N, D);
        for (int i = 0; i < k; i++) {
            float *ti = m->tin + (size_t)(row + i) * TC * D;
            memcpy(ti, s->p + off[NDT_TOK], (size_t)D * sizeof(float));
            if (C == 2) {
                if (s->subject >= 0) memcpy(ti + D, m->sp + (size_t)s->subject * D, (size_t)D * sizeof(float));
                else memset(ti + D, 0, (size_t)D * sizeof(float));
            }
            memcpy(ti + (size_t)C * D, m->h + (size_t)(row + i) * T * D, (size_t)T * D * sizeof(float));
        }
        ox += (size_t)k * T * s->N;
        row += k;
    }
    const float *tout;
    SOMA_TRY(soma_net_forward(m->trunk, m->tin, K, train ? SOMA_MODE_TRAIN : SOMA_MODE_EVAL, &tout));
    for (int r = 0; r < K; r++)
        memcpy(m->z + (size_t)r * T * D, tout + ((size_t)r * TC + C) * D, (size_t)T * D * sizeof(float));
    ox = 0, row = 0;
    for (int g = 0; g < ng; g++) {
        const soma__ndt_sess *s = &m->sess[m->gs[g]];
        size_t off[NDT_NPART + 1];
        soma__ndt_offsets(s->N, D, off);
        soma_dense_forward(m->lr + ox, m->z + (size_t)row * T * D, s->p + off[NDT_WOUT], s->p + off[NDT_BOUT],
                           m->gk[g] * T, D, s->N);
        ox += (size_t)m->gk[g] * T * s->N;
        row += m->gk[g];
    }
    if (!y_ok) return SOMA_OK;
    /* masked Poisson NLL */
    const size_t n_all = ox;
    double tot = 0;
    long nm = 0;
    for (size_t i = 0; i < n_all; i++)
        if (m->mask[i]) {
            const float l = m->lr[i], rate = expf(fminf(l, NDT_LR_MAX));
            tot += (double)rate - (double)m->y[i] * l + (lgam ? lgamma((double)m->y[i] + 1.0) : 0.0);
            nm++;
        }
    if (sum) *sum = tot;
    if (cnt) *cnt = nm;
    if (!grad) return SOMA_OK;
    const float inv = nm > 0 ? 1.f / (float)nm : 0.f;
    for (size_t i = 0; i < n_all; i++)
        m->lr[i] = m->mask[i] ? (expf(fminf(m->lr[i], NDT_LR_MAX)) - m->y[i]) * inv : 0.f;
    /* backward */
    if (train_trunk) soma_net_zero_grad(m->trunk);
    if (train_trunk && m->sg) memset(m->sg, 0, (size_t)m->a.subjects * D * sizeof(float));
    for (int g = 0; g < ng; g++) memset(m->sess[m->gs[g]].g, 0, m->sess[m->gs[g]].n * sizeof(float));
    ox = 0, row = 0;
    for (int g = 0; g < ng; g++) {
        soma__ndt_sess *s = &m->sess[m->gs[g]];
        size_t off[NDT_NPART + 1];
        soma__ndt_offsets(s->N, D, off);
        soma_dense_backward(m->dz + (size_t)row * T * D, s->g + off[NDT_WOUT], s->g + off[NDT_BOUT], m->lr + ox,
                            m->z + (size_t)row * T * D, s->p + off[NDT_WOUT], m->gk[g] * T, D, s->N);
        ox += (size_t)m->gk[g] * T * s->N;
        row += m->gk[g];
    }
    for (int r = 0; r < K; r++) {
        float *d = m->dtout + (size_t)r * TC * D;
        memset(d, 0, (size_t)C * D * sizeof(float));
        memcpy(d + (size_t)C * D, m->dz + (size_t)r * T * D, (size_t)T * D * sizeof(float));
    }
    SOMA_TRY(soma_net_backward_ex(m->trunk, m->dtout, K, SOMA_GRAD_INPUT | (train_trunk ? SOMA_GRAD_PARAMS : 0u),
                                  m->dtin));
    ox = 0, row = 0;
    for (int g = 0; g < ng; g++) {
        soma__ndt_sess *s = &m->sess[m->gs[g]];
        size_t off[NDT_NPART + 1];
        soma__ndt_offsets(s->N, D, off);
        const int k = m->gk[g];
        float *gt = s->g + off[NDT_TOK];
        for (int i = 0; i < k; i++) {
            const float *d = m->dtin + (size_t)(row + i) * TC * D;
            for (int j = 0; j < D; j++) gt[j] += d[j];
            if (C == 2 && train_trunk && s->subject >= 0) {
                float *gs = m->sg + (size_t)s->subject * D;
                for (int j = 0; j < D; j++) gs[j] += d[D + j];
            }
            memcpy(m->h + (size_t)(row + i) * T * D, d + (size_t)C * D, (size_t)T * D * sizeof(float));
        }
        soma_dense_backward(NULL, s->g + off[NDT_WIN], s->g + off[NDT_BIN], m->h + (size_t)row * T * D, m->x + ox,
                            s->p + off[NDT_WIN], k * T, s->N, D);
        ox += (size_t)k * T * s->N;
        row += k;
    }
    return SOMA_OK;
}

// --- masks -----------------------------------------------------------------------------

/* Selection sampling: visits 0..n-1 in order and says whether each is one of the `*want`
 * still to choose from the `left` remaining (exactly want of n, uniformly; no scratch). */
static int pick_(int *want, int left, soma_rng *rng) {
    const int on = *want > 0 && soma_rng_below(rng, (uint64_t)left) < (uint64_t)*want;
    if (on) (*want)--;
    return on;
}

void soma_ndt_mask_draw(uint8_t *mask, int K, int T, int N, float ratio, soma_ndt_mask_kind kind, int forecast_bins,
                        float forecast_share, soma_rng *rng) {
    double rb = 0, ru = 0;
    if (kind == SOMA_NDT_MASK_BINS) rb = ratio;
    else if (kind == SOMA_NDT_MASK_UNITS) ru = ratio;
    else rb = ru = 1.0 - sqrt(1.0 - (double)ratio);
    int nb = (int)floor(rb * T + 0.5), nu = (int)floor(ru * N + 0.5);
    if (nb + nu == 0 && ratio > 0) {
        if (kind == SOMA_NDT_MASK_UNITS) nu = 1;
        else nb = 1;
    }
    if (nb > T) nb = T;
    if (nu > N) nu = N;
    for (int k = 0; k < K; k++) {
        uint8_t *mk = mask + (size_t)k * T * N;
        memset(mk, 0, (size_t)T * N);
        for (int t = 0, want = nb; t < T; t++)
            if (pick_(&want, T - t, rng)) memset(mk + (size_t)t * N, 1, (size_t)N);
        for (int u = 0, want = nu; u < N; u++)
            if (pick_(&want, N - u, rng))
                for (int t = 0; t < T; t++) mk[(size_t)t * N + u] = 1;
        if (forecast_bins > 0 && soma_rng_uniform(rng) < forecast_share) {
            const int f = forecast_bins < T ? forecast_bins : T;
            memset(mk + (size_t)(T - f) * N, 1, (size_t)f * N);
        }
    }
}

// --- inference and evaluation ----------------------------------------------------------

static soma_status check_session_(const soma_ndt *m, int s) {
    if (s < 0 || s >= m->n_sess)
        return soma_error(SOMA_ERR_ARG, "ndt: session %d unknown (the model has %d)", s, m->n_sess);
    return SOMA_OK;
}

static soma_status check_counts_(const soma_ndt *m, const soma_counts *c, int s) {
    SOMA_TRY(check_session_(m, s));
    if (!c || !c->x || c->n_trials < 1)
        return soma_error(SOMA_ERR_ARG, "ndt: session %d: no trials", s);
    if (c->n_bins != m->T || c->n_units != m->sess[s].N)
        return soma_error(SOMA_ERR_ARG, "ndt: session %d: counts of %d bins x %d units, the model wants %d x %d", s,
                          c->n_bins, c->n_units, m->T, m->sess[s].N);
    return SOMA_OK;
}

/* Chunk size for inference: the buffers' capacity, or 32 when there are none yet. */
static soma_status chunk_(soma_ndt *m, int N, int K, int *kb) {
    int B = m->cap_B >= 1 ? m->cap_B : (K < 32 ? K : 32);
    SOMA_TRY(soma__ndt_reserve(m, B, N));
    *kb = m->cap_B;
    return SOMA_OK;
}

/* Loads trials k0..k0+kb-1 of x (N units) into the buffers as one group, masked by mask (may
 * be NULL) and the held-out units (may be NULL). */
static void load_(soma_ndt *m, int s, const float *x, int k0, int kb, const uint8_t *mask, const uint8_t *heldout) {
    const int N = m->sess[s].N;
    const size_t n = (size_t)kb * m->T * N, o = (size_t)k0 * m->T * N;
    m->gs[0] = s, m->gk[0] = kb;
    memcpy(m->y, x + o, n * sizeof(float));
    if (mask) memcpy(m->mask, mask + o, n);
    else memset(m->mask, 0, n);
    if (heldout)
        for (size_t i = 0; i < n; i++)
            if (heldout[i % (size_t)N]) m->mask[i] = 1;
    for (size_t i = 0; i < n; i++) m->x[i] = m->mask[i] ? 0.f : m->y[i];
}

static soma_status soma_ndt_infer_impl_(soma_ndt *m, int s, const float *x, int K, const uint8_t *mask, float *latents,
                           float *logrates) {
    SOMA_TRY(check_session_(m, s));
    if (K < 1 || !x) return soma_error(SOMA_ERR_ARG, "ndt: inference on %d trials", K);
    const int T = m->T, D = m->D, N = m->sess[s].N;
    int B;
    SOMA_TRY(chunk_(m, N, K, &B));
    for (int k0 = 0; k0 < K; k0 += B) {
        const int kb = K - k0 < B ? K - k0 : B;
        load_(m, s, x, k0, kb, mask, NULL);
        SOMA_TRY(soma__ndt_batch(m, 1, 0, 0, 0, 0, 0, NULL, NULL));
        if (latents) memcpy(latents + (size_t)k0 * T * D, m->z, (size_t)kb * T * D * sizeof(float));
        if (logrates) memcpy(logrates + (size_t)k0 * T * N, m->lr, (size_t)kb * T * N * sizeof(float));
    }
    return SOMA_OK;
}

static soma_status soma_ndt_batch_loss_impl_(soma_ndt *m, int s, const float *x, int K, const uint8_t *mask, int grad,
                                double *loss) {
    SOMA_TRY(check_session_(m, s));
    if (K < 1 || !x || !mask) return soma_error(SOMA_ERR_ARG, "ndt: batch loss of %d trials (x and mask needed)", K);
    SOMA_TRY(soma__ndt_reserve(m, K, m->sess[s].N));
    load_(m, s, x, 0, K, mask, NULL);
    double sum;
    long cnt;
    SOMA_TRY(soma__ndt_batch(m, 1, grad, 1, grad, 1, 0, &sum, &cnt));
    if (loss) *loss = cnt > 0 ? sum / (double)cnt : 0.0;
    return SOMA_OK;
}

/* Per-unit mean counts of c (the null model of bits per spike). */
static void unit_means_(const soma_counts *c, double *mu) {
    const int N = c->n_units;
    for (int u = 0; u < N; u++) mu[u] = 0;
    const size_t rows = (size_t)c->n_trials * c->n_bins;
    for (size_t r = 0; r < rows; r++)
        for (int u = 0; u < N; u++) mu[u] += c->x[r * N + u];
    for (int u = 0; u < N; u++) mu[u] /= (double)rows;
}

/* Shared by eval and anomaly: n_draws masks a trial; per-trial sums (may be NULL), totals. */
static soma_status masked_pass_impl_(soma_ndt *m, const soma_ndt_data *d, float ratio, soma_ndt_mask_kind kind, int n_draws,
                                uint64_t seed, int rel, double *trial_sum, long *trial_cnt, double *nll_model,
                                double *nll_null, double *spikes, long *count) {
    const soma_counts *c = d->counts;
    SOMA_TRY(check_counts_(m, c, d->session));
    if (!(ratio > 0 && ratio < 1) || n_draws < 1 || (int)kind < 0 || kind >= SOMA_NDT_MASK_KIND_COUNT)
        return soma_error(SOMA_ERR_ARG, "ndt: evaluation mask ratio %g (0..1), %d draws (>= 1)", (double)ratio, n_draws);
    const int T = m->T, N = c->n_units, K = c->n_trials;
    double *mu = soma_alloc((size_t)2 * N, sizeof(double)), *tmu = mu + N;
    if (!mu) return SOMA_ERR_NOMEM;
    unit_means_(c, mu);
    int B;
    soma_status st = chunk_(m, N, K, &B);
    soma_rng rng;
    soma_rng_seed(&rng, seed, 0x3u);
    double sm = 0, sn = 0, sp = 0;
    long cnt = 0;
    for (int dr = 0; dr < n_draws && st == SOMA_OK; dr++)
        for (int k0 = 0; k0 < K && st == SOMA_OK; k0 += B) {
            const int kb = K - k0 < B ? K - k0 : B;
            const size_t n = (size_t)kb * T * N;
            soma_ndt_mask_draw(m->mask, kb, T, N, ratio, kind, 0, 0.f, &rng);
            memcpy(m->y, c->x + (size_t)k0 * T * N, n * sizeof(float));
            m->gs[0] = d->session, m->gk[0] = kb;
            if (d->heldout)
                for (size_t i = 0; i < n; i++)
                    if (d->heldout[i % (size_t)N]) m->mask[i] = 1;
            for (size_t i = 0; i < n; i++) m->x[i] = m->mask[i] ? 0.f : m->y[i];
            st = soma__ndt_batch(m, 1, 0, 1, 0, 0, 0, NULL, NULL);
            if (st != SOMA_OK) break;
            for (int k = 0; k < kb; k++) {
                double ts = 0;
                long tc = 0;
                const float *yk = m->y + (size_t)k * T * N;
                if (rel) {
                    for (int u = 0; u < N; u++) tmu[u] = 0;
                    for (int t = 0; t < T; t++)
                        for (int u = 0; u < N; u++) tmu[u] += yk[t * N + u];
                    for (int u = 0; u < N; u++) tmu[u] = tmu[u] / T > 1e-9 ? tmu[u] / T : 1e-9;
                }
                for (size_t i = (size_t)k * T * N; i < (size_t)(k + 1) * T * N; i++) {
                    if (!m->mask[i]) continue;
                    const double y = m->y[i], l = fmin(m->lr[i], NDT_LR_MAX), r = exp(l);
                    const double e = r - y * l - (rel ? tmu[i % (size_t)N] - y * log(tmu[i % (size_t)N]) : 0.0);
                    const double lam = mu[i % (size_t)N] > 1e-9 ? mu[i % (size_t)N] : 1e-9;
                    ts += e;
                    tc++;
                    sm += r - y * l;
                    sn += lam - y * log(lam);
                    sp += y;
                }
                if (trial_sum) trial_sum[k0 + k] += ts;
                if (trial_cnt) trial_cnt[k0 + k] += tc;
                cnt += tc;
            }
        }
    soma_free(mu);
    if (nll_model) *nll_model = sm;
    if (nll_null) *nll_null = sn;
    if (spikes) *spikes = sp;
    if (count) *count = cnt;
    return st;
}

static soma_status masked_pass_(soma_ndt *m, const soma_ndt_data *d, float ratio, soma_ndt_mask_kind kind, int n_draws,
                                uint64_t seed, int rel, double *trial_sum, long *trial_cnt, double *nll_model,
                                double *nll_null, double *spikes, long *count) {
    const int th = soma__ndt_serial_begin();
    soma_status st = masked_pass_impl_(m, d, ratio, kind, n_draws, seed, rel, trial_sum, trial_cnt, nll_model,
                                       nll_null, spikes, count);
    soma__ndt_serial_end(th);
    return st;
}

soma_status soma_ndt_eval(soma_ndt *m, const soma_ndt_data *d, float ratio, soma_ndt_mask_kind kind, int n_draws,
                          uint64_t seed, double *nll, double *bps) {
    double sm = 0, sn = 0, sp = 0;
    long cnt = 0;
    SOMA_TRY(masked_pass_(m, d, ratio, kind, n_draws, seed, 0, NULL, NULL, &sm, &sn, &sp, &cnt));
    if (nll) *nll = cnt > 0 ? sm / (double)cnt : NAN;
    if (bps) *bps = sp > 0 ? (sn - sm) / (sp * log(2.0)) : NAN;
    return SOMA_OK;
}

soma_status soma_ndt_anomaly(soma_ndt *m, const soma_ndt_data *d, float ratio, soma_ndt_mask_kind kind, int n_draws,
                             uint64_t seed, float *score) {
    if (!d || !d->counts) return soma_error(SOMA_ERR_ARG, "ndt: anomaly of no data");
    const int K = d->counts->n_trials;
    double *ts = soma_calloc((size_t)(K > 0 ? K : 1), sizeof(double));
    long *tc = soma_calloc((size_t)(K > 0 ? K : 1), sizeof(long));
    if (!ts || !tc) {
        soma_free(ts), soma_free(tc);
        return SOMA_ERR_NOMEM;
    }
    soma_status st = masked_pass_(m, d, ratio, kind, n_draws, seed, 1, ts, tc, NULL, NULL, NULL, NULL);
    if (st == SOMA_OK)
        for (int k = 0; k < K; k++) score[k] = tc[k] > 0 ? (float)(ts[k] / (double)tc[k]) : 0.f;
    soma_free(ts), soma_free(tc);
    return st;
}

static soma_status soma_ndt_forecast_impl_(soma_ndt *m, int s, const soma_counts *c, int f, float *rates) {
    SOMA_TRY(check_counts_(m, c, s));
    if (f < 1 || f >= m->T) return soma_error(SOMA_ERR_ARG, "ndt: forecast of %d bins (1..%d)", f, m->T - 1);
    const int T = m->T, N = c->n_units, K = c->n_trials;
    int B;
    SOMA_TRY(chunk_(m, N, K, &B));
    for (int k0 = 0; k0 < K; k0 += B) {
        const int kb = K - k0 < B ? K - k0 : B;
        const size_t n = (size_t)kb * T * N;
        memcpy(m->y, c->x + (size_t)k0 * T * N, n * sizeof(float));
        memset(m->mask, 0, n);
        for (int k = 0; k < kb; k++) memset(m->mask + ((size_t)k * T + T - f) * N, 1, (size_t)f * N);
        for (size_t i = 0; i < n; i++) m->x[i] = m->mask[i] ? 0.f : m->y[i];
        m->gs[0] = s, m->gk[0] = kb;
        SOMA_TRY(soma__ndt_batch(m, 1, 0, 0, 0, 0, 0, NULL, NULL));
        for (int k = 0; k < kb; k++)
            for (int t = 0; t < f; t++)
                for (int u = 0; u < N; u++)
                    rates[(((size_t)(k0 + k) * f) + t) * N + u] =
                        expf(fminf(m->lr[((size_t)k * T + T - f + t) * N + u], NDT_LR_MAX));
    }
    return SOMA_OK;
}

soma_status soma_ndt_infer(soma_ndt *m, int s, const float *x, int K, const uint8_t *mask, float *latents,
                           float *logrates) {
    const int th = soma__ndt_serial_begin();
    soma_status st = soma_ndt_infer_impl_(m, s, x, K, mask, latents, logrates);
    soma__ndt_serial_end(th);
    return st;
}

soma_status soma_ndt_batch_loss(soma_ndt *m, int s, const float *x, int K, const uint8_t *mask, int grad,
                                double *loss) {
    const int th = soma__ndt_serial_begin();
    soma_status st = soma_ndt_batch_loss_impl_(m, s, x, K, mask, grad, loss);
    soma__ndt_serial_end(th);
    return st;
}

soma_status soma_ndt_forecast(soma_ndt *m, int s, const soma_counts *c, int f, float *rates) {
    const int th = soma__ndt_serial_begin();
    soma_status st = soma_ndt_forecast_impl_(m, s, c, f, rates);
    soma__ndt_serial_end(th);
    return st;
}
