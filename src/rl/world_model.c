/* A learned dynamics model: an MLP (the nn stack) that predicts the normalised state change
 * (s' - s - mean) / std from the normalised state and a one-hot action, trained by MSE on a
 * replay of real transitions. Termination comes from known failure bounds, not from the net. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "soma/nn.h"
#include "soma/rl.h"

struct soma_wm {
    soma_wm_config cfg;
    int D, A, in_dim, max_n;
    soma_net *net;
    soma_optim *opt;
    soma_rng rng;
    float *bounds;                     /* [D], 0 = none */
    float *rs, *rs2;                   /* replay [cap, D] */
    int *ra;                           /* [cap] */
    long size, head;
    float *s_mean, *s_std, *d_mean, *d_std; /* [D] each */
    float *xin, *tgt, *dy;             /* scratch: [max_n, in_dim], [batch, D], [batch, D] */
};

soma_wm_config soma_wm_defaults(int obs_dim, int n_actions) {
    soma_wm_config c = {obs_dim, n_actions, "fc64,relu,fc64,relu", NULL, 100000, 64, 1e-3f, 1024, 0};
    return c;
}

void soma_wm_free(soma_wm *m) {
    if (!m) return;
    soma_optim_free(m->opt);
    soma_net_free(m->net);
    soma_free(m->bounds);
    soma_free(m->rs);
    soma_free(m->rs2);
    soma_free(m->ra);
    soma_free(m->s_mean);
    soma_free(m->s_std);
    soma_free(m->d_mean);
    soma_free(m->d_std);
    soma_free(m->xin);
    soma_free(m->tgt);
    soma_free(m->dy);
    soma_free(m);
}

soma_status soma_wm_new(soma_wm **out, const soma_wm_config *cfg) {
    if (!out || !cfg) return soma_error(SOMA_ERR_ARG, "world model: NULL argument");
    *out = NULL;
    if (cfg->obs_dim < 1 || cfg->n_actions < 1 || cfg->capacity < 1 || cfg->batch < 1 ||
        cfg->max_predict < 1 || !(cfg->lr > 0.f) || !cfg->net)
        return soma_error(SOMA_ERR_ARG,
                          "world model: obs_dim %d, n_actions %d, capacity %d, batch %d, max_predict %d "
                          "must be >= 1, lr > 0 and a net spec given",
                          cfg->obs_dim, cfg->n_actions, cfg->capacity, cfg->batch, cfg->max_predict);
    soma_wm *m = soma_calloc(1, sizeof *m);
    if (!m) return soma_error(SOMA_ERR_NOMEM, "world model: out of memory");
    m->cfg = *cfg;
    m->cfg.bounds = NULL;
    m->D = cfg->obs_dim;
    m->A = cfg->n_actions;
    m->in_dim = m->D + m->A;
    m->max_n = cfg->max_predict > cfg->batch ? cfg->max_predict : cfg->batch;
    size_t cap = (size_t)cfg->capacity, D = (size_t)m->D;
    m->bounds = soma_calloc(D, sizeof(float));
    m->rs = soma_alloc(cap * D, sizeof(float));
    m->rs2 = soma_alloc(cap * D, sizeof(float));
    m->ra = soma_alloc(cap, sizeof(int));
    m->s_mean = soma_calloc(D, sizeof(float));
    m->s_std = soma_alloc(D, sizeof(float));
    m->d_mean = soma_calloc(D, sizeof(float));
    m->d_std = soma_alloc(D, sizeof(float));
    m->xin = soma_alloc((size_t)m->max_n * (size_t)m->in_dim, sizeof(float));
    m->tgt = soma_alloc((size_t)cfg->batch * D, sizeof(float));
    m->dy = soma_alloc((size_t)cfg->batch * D, sizeof(float));
    if (!m->bounds || !m->rs || !m->rs2 || !m->ra || !m->s_mean || !m->s_std || !m->d_mean ||
        !m->d_std || !m->xin || !m->tgt || !m->dy) {
        soma_wm_free(m);
        return soma_error(SOMA_ERR_NOMEM, "world model: out of memory for a replay of %d", cfg->capacity);
    }
    for (int i = 0; i < m->D; i++) {
        m->s_std[i] = m->d_std[i] = 1.f;
        if (cfg->bounds) m->bounds[i] = cfg->bounds[i];
    }
    soma_rng_seed(&m->rng, cfg->seed, 0x776d);
    char spec[512];
    int k = snprintf(spec, sizeof spec, "%s%sfc%d", cfg->net, cfg->net[0] ? "," : "", m->D);
    soma_status st;
    if (k < 0 || (size_t)k >= sizeof spec)
        st = soma_error(SOMA_ERR_ARG, "world model: net spec longer than %zu characters", sizeof spec - 16);
    else if ((st = soma_net_new(&m->net, spec, soma_shape1(m->in_dim), cfg->seed)) == SOMA_OK &&
             (st = soma_net_reserve(m->net, m->max_n)) == SOMA_OK) {
        soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_ADAM);
        st = soma_optim_new(&m->opt, m->net, &oc);
    }
    if (st != SOMA_OK) {
        soma_wm_free(m);
        return st;
    }
    *out = m;
    return SOMA_OK;
}

soma_status soma_wm_add(soma_wm *m, const float *s, int a, const float *s2) {
    if (!m || !s || !s2) return soma_error(SOMA_ERR_ARG, "world model: NULL argument to add");
    if (a < 0 || a >= m->A) return soma_error(SOMA_ERR_ARG, "world model: action %d outside 0..%d", a, m->A - 1);
    size_t D = (size_t)m->D, i = (size_t)m->head;
    memcpy(m->rs + i * D, s, D * sizeof(float));
    memcpy(m->rs2 + i * D, s2, D * sizeof(float));
    m->ra[i] = a;
    m->head = (m->head + 1) % m->cfg.capacity;
    if (m->size < m->cfg.capacity) m->size++;
    return SOMA_OK;
}

long soma_wm_size(const soma_wm *m) { return m ? m->size : 0; }

/* Mean and std (floored) of column j of rows x[n, D] (minus y[n, D] when y is not NULL). */
static void stats_(float *mean, float *std, const float *x, const float *y, long n, int D) {
    for (int j = 0; j < D; j++) {
        double s = 0.0, ss = 0.0;
        for (long i = 0; i < n; i++) {
            double v = x[i * D + j] - (y ? y[i * D + j] : 0.f);
            s += v;
            ss += v * v;
        }
        double mu = s / (double)n, var = ss / (double)n - mu * mu;
        mean[j] = (float)mu;
        std[j] = (float)sqrt(var > 1e-12 ? var : 1e-12);
        if (std[j] < 1e-6f) std[j] = 1e-6f;
    }
}

/* Row r of the net input: normalised state, one-hot action. */
static void encode_(const soma_wm *m, float *row, const float *s, int a) {
    for (int j = 0; j < m->D; j++) row[j] = (s[j] - m->s_mean[j]) / m->s_std[j];
    for (int j = 0; j < m->A; j++) row[m->D + j] = j == a ? 1.f : 0.f;
}

soma_status soma_wm_train(soma_wm *m, int steps, float *loss) {
    if (!m || steps < 0) return soma_error(SOMA_ERR_ARG, "world model: NULL model or negative steps");
    if (m->size < 1) return soma_error(SOMA_ERR_ARG, "world model: no transitions to train on");
    int D = m->D, B = m->cfg.batch;
    stats_(m->s_mean, m->s_std, m->rs, NULL, m->size, D);
    stats_(m->d_mean, m->d_std, m->rs2, m->rs, m->size, D);
    double tail = 0.0;
    int n_tail = 0, from = steps - (steps + 9) / 10;
    for (int k = 0; k < steps; k++) {
        if (soma_cancel_requested())
            return soma_error(SOMA_ERR_CANCELLED, "world model: training cancelled at step %d of %d", k, steps);
        for (int b = 0; b < B; b++) {
            long i = (long)soma_rng_below(&m->rng, (uint64_t)m->size);
            const float *s = m->rs + i * D, *s2 = m->rs2 + i * D;
            encode_(m, m->xin + (size_t)b * m->in_dim, s, m->ra[i]);
            for (int j = 0; j < D; j++) m->tgt[b * D + j] = (s2[j] - s[j] - m->d_mean[j]) / m->d_std[j];
        }
        const float *y;
        soma_net_zero_grad(m->net);
        SOMA_TRY(soma_net_forward(m->net, m->xin, B, SOMA_MODE_TRAIN, &y));
        float l = soma_mse(m->dy, y, m->tgt, B, D);
        SOMA_TRY(soma_net_backward(m->net, m->dy, B));
        soma_optim_step(m->opt, m->cfg.lr);
        if (k >= from) {
            tail += l;
            n_tail++;
        }
    }
    if (loss) *loss = n_tail ? (float)(tail / n_tail) : NAN;
    return SOMA_OK;
}

soma_status soma_wm_predict(soma_wm *m, float *s2, unsigned char *term, const float *s, const int *a,
                            int n) {
    if (!m || !s2 || !s || !a) return soma_error(SOMA_ERR_ARG, "world model: NULL argument to predict");
    if (n < 0 || n > m->max_n)
        return soma_error(SOMA_ERR_ARG, "world model: %d states to predict, at most %d (max_predict)", n, m->max_n);
    int D = m->D;
    for (int i = 0; i < n; i++) {
        if (a[i] < 0 || a[i] >= m->A)
            return soma_error(SOMA_ERR_ARG, "world model: action %d outside 0..%d", a[i], m->A - 1);
        encode_(m, m->xin + (size_t)i * m->in_dim, s + (size_t)i * D, a[i]);
    }
    if (n == 0) return SOMA_OK;
    const float *y;
    SOMA_TRY(soma_net_forward(m->net, m->xin, n, SOMA_MODE_EVAL, &y));
    for (int i = 0; i < n; i++) {
        int out = 0;
        for (int j = 0; j < D; j++) {
            size_t k = (size_t)i * D + j;
            float v = s[k] + y[k] * m->d_std[j] + m->d_mean[j];
            s2[k] = v;
            if (m->bounds[j] > 0.f && !(fabsf(v) <= m->bounds[j])) out = 1;
        }
        if (term) term[i] = (unsigned char)out;
    }
    return SOMA_OK;
}

soma_status soma_wm_model(void *ctx, float *s2, unsigned char *term, const float *s, const int *a, int n) {
    return soma_wm_predict((soma_wm *)ctx, s2, term, s, a, n);
}
