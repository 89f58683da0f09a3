// LFADS: a bidirectional GRU encoder, a Gaussian initial-condition posterior, an autonomous GRU
// generator, linear factors and exponential Poisson rates, trained with coordinated dropout,
// KL and L2 warm-up and Adam. The GRUs are the nn kernels (soma_gru_forward/_backward), every
// dense product a batched GEMM over the trials (and bins) of a batch; the contract is in
// soma/neuro.h.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "latent_internal.h"
#include "soma/neuro.h"
#include "soma/nn.h"

/* The products of a step are small (a batch of trials times 3 x units): threading each GEMM
 * costs more than it gains, and on a busy machine far more (the lfads-lorenz run took 30x
 * longer with 2 threads than with 1 under a load of 20 on 2 cores). Training and inference
 * therefore hold the process to one thread and restore the count after (results do not
 * depend on it either way). */
static int serial_begin_(void) {
    const int t = soma_get_threads();
    if (t > 1) soma_set_threads(1);
    return t;
}
static void serial_end_(int t) {
    if (t > 1) soma_set_threads(t);
}

enum { P_ENC_WIH, P_ENC_WHH, P_ENC_BIH, P_ENC_BHH, P_ENR_WIH, P_ENR_WHH, P_ENR_BIH, P_ENR_BHH,
       P_POST_W, P_POST_B, P_GEN_WHH, P_GEN_BIH, P_GEN_BHH, P_FAC_W, P_OUT_W, P_OUT_B, P_COUNT };
static const char *const PNAME[P_COUNT] = {
    "enc.weight_ih_l0",         "enc.weight_hh_l0",         "enc.bias_ih_l0",         "enc.bias_hh_l0",
    "enc.weight_ih_l0_reverse", "enc.weight_hh_l0_reverse", "enc.bias_ih_l0_reverse", "enc.bias_hh_l0_reverse",
    "post.weight",              "post.bias",                "gen.weight_hh_l0",       "gen.bias_ih_l0",
    "gen.bias_hh_l0",           "fac.weight",               "out.weight",             "out.bias"};

struct soma_lfads {
    soma_lfads_opts o;
    int T, n_in, n_out, E, G, F, B;
    size_t off[P_COUNT + 1];
    float *p, *g, *m1, *m2, *best; /* parameters, gradients, Adam moments, best snapshot */
    long steps;
    /* batch buffers (B trials) */
    float *xin;   /* [B,T,n_in] encoder input (dropout applied) */
    uint8_t *mask; /* [B,T,n_in] */
    float *yenc;  /* [B,T,2E] */
    float *wenc;  /* 2 x soma_gru_work(B,T,E) */
    float *e;     /* [B,2E] final encoder states; later its gradient */
    float *post;  /* [B,2G] mean | logvar */
    float *eps, *g0, *dg0, *dpost; /* [B,G], [B,G], [B,G], [B,2G] */
    float *ygen;  /* [B,T,G] */
    float *wgen;  /* soma_gru_work(B,T,G) */
    float *fac;   /* [B*T,F] */
    float *lr;    /* [B*T,n_out] log rates; then their gradient */
    float *dfac;  /* [B*T,F] */
    float *dygen; /* [B*T,G] */
    float *dyenc; /* [B,T,2E] */
    float *ybuf;  /* [B,T,n_out] a batch of counts gathered for fit */
    /* history */
    int n_hist, best_epoch;
    float *h_train, *h_valid;
};

soma_lfads_opts soma_lfads_opts_default(void) {
    return (soma_lfads_opts){.enc_dim = 64, .gen_dim = 64, .factors = 8, .epochs = 200, .batch = 25,
                             .lr = 5e-3f, .cd_rate = 0.3f, .kl_weight = 1.f, .l2_gen = 1e-3f,
                             .kl_warmup = 200, .l2_warmup = 200, .valid_frac = 0.1f, .clip = 200.f,
                             .logvar0 = -2.302585f, .lr_end = 0.05f, .glm_readout = 1, .seed = 1};
}

void soma_lfads_free(soma_lfads *m) {
    if (!m) return;
    float *bufs[] = {m->p,   m->g,    m->m1,  m->m2,    m->best,  m->xin,   m->yenc,  m->wenc,
                     m->e,   m->post, m->eps, m->g0,    m->dg0,   m->dpost, m->ygen,  m->wgen,
                     m->fac, m->lr,   m->dfac, m->dygen, m->dyenc, m->ybuf, m->h_train, m->h_valid};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) soma_free(bufs[i]);
    soma_free(m->mask);
    soma_free(m);
}

static void uniform_(soma_rng *r, float *x, size_t n, float k) { soma_rng_uniform_fill(r, x, n, -k, k); }

soma_status soma_lfads_new(soma_lfads **out, int n_bins, int n_in, int n_out, const soma_lfads_opts *o) {
    *out = NULL;
    if (n_bins < 1 || n_in < 1 || n_out < n_in || n_bins > 100000 || n_out > 100000)
        return soma_error(SOMA_ERR_ARG, "lfads: %d bins, %d held-in of %d units (want bins >= 1, 1 <= held-in <= units)",
                          n_bins, n_in, n_out);
    if (o->enc_dim < 1 || o->gen_dim < 1 || o->factors < 1 || o->enc_dim > 4096 || o->gen_dim > 4096 ||
        o->factors > 4096)
        return soma_error(SOMA_ERR_ARG, "lfads: encoder %d, generator %d, factors %d (each 1..4096)", o->enc_dim,
                          o->gen_dim, o->factors);
    if (o->batch < 1 || o->epochs < 0 || !(o->lr > 0) || !(o->cd_rate >= 0 && o->cd_rate < 1) ||
        !(o->kl_weight >= 0) || !(o->l2_gen >= 0) || o->kl_warmup < 0 || o->l2_warmup < 0 ||
        !(o->valid_frac >= 0 && o->valid_frac < 1) || !(o->clip > 0) || !isfinite(o->logvar0) ||
        !(o->lr_end > 0 && o->lr_end <= 1))
        return soma_error(SOMA_ERR_ARG,
                          "lfads: bad option (batch %d >= 1, epochs %d >= 0, lr %g > 0, cd_rate %g in [0,1), "
                          "weights %g, %g >= 0, warm-ups >= 0, valid_frac %g in [0,1), clip %g > 0, lr_end %g in (0,1])",
                          o->batch, o->epochs, o->lr, o->cd_rate, o->kl_weight, o->l2_gen, o->valid_frac, o->clip,
                          o->lr_end);
    soma_lfads *m = soma_calloc(1, sizeof *m);
    if (!m) return SOMA_ERR_NOMEM;
    m->o = *o;
    m->T = n_bins, m->n_in = n_in, m->n_out = n_out;
    const int E = o->enc_dim, G = o->gen_dim, F = o->factors, B = o->batch, T = n_bins;
    m->E = E, m->G = G, m->F = F, m->B = B;
    const size_t sz[P_COUNT] = {
        (size_t)3 * E * n_in, (size_t)3 * E * E, 3 * (size_t)E, 3 * (size_t)E,
        (size_t)3 * E * n_in, (size_t)3 * E * E, 3 * (size_t)E, 3 * (size_t)E,
        (size_t)2 * G * 2 * E, 2 * (size_t)G, (size_t)3 * G * G, 3 * (size_t)G, 3 * (size_t)G,
        (size_t)F * G, (size_t)n_out * F, (size_t)n_out};
    m->off[0] = 0;
    for (int i = 0; i < P_COUNT; i++) m->off[i + 1] = m->off[i] + ((sz[i] + 15) & ~(size_t)15);
    const size_t np = m->off[P_COUNT], BT = (size_t)B * T;
    m->p = soma_calloc(np, sizeof(float));
    m->g = soma_calloc(np, sizeof(float));
    m->m1 = soma_calloc(np, sizeof(float));
    m->m2 = soma_calloc(np, sizeof(float));
    m->best = soma_calloc(np, sizeof(float));
    m->xin = soma_alloc(BT * n_in, sizeof(float));
    m->mask = soma_alloc(BT * n_in, 1);
    m->yenc = soma_alloc(BT * 2 * E, sizeof(float));
    m->wenc = soma_alloc(2 * soma_gru_work(B, T, E), sizeof(float));
    m->e = soma_alloc((size_t)B * 2 * E, sizeof(float));
    m->post = soma_alloc((size_t)B * 2 * G, sizeof(float));
    m->eps = soma_alloc((size_t)B * G, sizeof(float));
    m->g0 = soma_alloc((size_t)B * G, sizeof(float));
    m->dg0 = soma_alloc((size_t)B * G, sizeof(float));
    m->dpost = soma_alloc((size_t)B * 2 * G, sizeof(float));
    m->ygen = soma_alloc(BT * G, sizeof(float));
    m->wgen = soma_alloc(soma_gru_work(B, T, G), sizeof(float));
    m->fac = soma_alloc(BT * F, sizeof(float));
    m->lr = soma_alloc(BT * n_out, sizeof(float));
    m->dfac = soma_alloc(BT * F, sizeof(float));
    m->dygen = soma_alloc(BT * G, sizeof(float));
    m->dyenc = soma_alloc(BT * 2 * E, sizeof(float));
    m->ybuf = soma_alloc(BT * n_out, sizeof(float));
    if (!m->p || !m->g || !m->m1 || !m->m2 || !m->best || !m->xin || !m->mask || !m->yenc || !m->wenc || !m->e ||
        !m->post || !m->eps || !m->g0 || !m->dg0 || !m->dpost || !m->ygen || !m->wgen || !m->fac || !m->lr ||
        !m->dfac || !m->dygen || !m->dyenc || !m->ybuf) {
        soma_lfads_free(m);
        return soma_error(SOMA_ERR_NOMEM, "lfads: no memory for batches of %d trials of %d bins", B, T);
    }
    /* initialisation: GRUs as torch.nn.GRU, linear maps U(-1/sqrt(fan_in), ..) */
    soma_rng r;
    soma_rng_seed(&r, o->seed, 11);
    float *p = m->p;
    for (int i = P_ENC_WIH; i <= P_ENR_BHH; i++) uniform_(&r, p + m->off[i], sz[i], 1.f / sqrtf((float)E));
    uniform_(&r, p + m->off[P_POST_W], sz[P_POST_W], 1.f / sqrtf(2.f * E));
    for (int j = 0; j < G; j++) p[m->off[P_POST_B] + G + j] = o->logvar0;
    for (int i = P_GEN_WHH; i <= P_GEN_BHH; i++) uniform_(&r, p + m->off[i], sz[i], 1.f / sqrtf((float)G));
    uniform_(&r, p + m->off[P_FAC_W], sz[P_FAC_W], 1.f / sqrtf((float)G));
    uniform_(&r, p + m->off[P_OUT_W], sz[P_OUT_W], 1.f / sqrtf((float)F));
    memcpy(m->best, m->p, np * sizeof(float));
    *out = m;
    return SOMA_OK;
}

float *soma_lfads_params(soma_lfads *m, size_t *n) {
    if (n) *n = m->off[P_COUNT];
    return m->p;
}
float *soma_lfads_grads(soma_lfads *m, size_t *n) {
    if (n) *n = m->off[P_COUNT];
    return m->g;
}
int soma_lfads_n_tensors(const soma_lfads *m) {
    (void)m;
    return P_COUNT;
}
const char *soma_lfads_tensor(const soma_lfads *m, int i, size_t *offset, size_t *n) {
    if (i < 0 || i >= P_COUNT) return NULL;
    const int E = m->E, G = m->G, F = m->F, D = m->n_in;
    const size_t sz[P_COUNT] = {(size_t)3 * E * D, (size_t)3 * E * E, 3 * (size_t)E, 3 * (size_t)E,
                                (size_t)3 * E * D, (size_t)3 * E * E, 3 * (size_t)E, 3 * (size_t)E,
                                (size_t)4 * G * E, 2 * (size_t)G,     (size_t)3 * G * G, 3 * (size_t)G,
                                3 * (size_t)G,     (size_t)F * G,     (size_t)m->n_out * F, (size_t)m->n_out};
    if (offset) *offset = m->off[i];
    if (n) *n = sz[i];
    return PNAME[i];
}

// --- forward and backward of one batch -----------------------------------------------------

#define PP(i) (m->p + m->off[i])
#define GG(i) (m->g + m->off[i])

/* Encoder -> posterior -> g0 -> generator -> factors -> log rates, for K trials whose encoder
 * input is in m->xin. sample: g0 = mean + std * m->eps. */
static void forward_(soma_lfads *m, int K, int sample) {
    const int T = m->T, E = m->E, G = m->G, F = m->F, D = m->n_in;
    const size_t wE = soma_gru_work(m->B, T, E);
    soma_gru_forward(m->yenc, 2 * E, m->wenc, m->xin, NULL, PP(P_ENC_WIH), PP(P_ENC_WHH), PP(P_ENC_BIH),
                     PP(P_ENC_BHH), K, T, D, E, 0);
    soma_gru_forward(m->yenc + E, 2 * E, m->wenc + wE, m->xin, NULL, PP(P_ENR_WIH), PP(P_ENR_WHH), PP(P_ENR_BIH),
                     PP(P_ENR_BHH), K, T, D, E, 1);
    for (int k = 0; k < K; k++) { /* forward's last state, reverse's last state (at t = 0) */
        memcpy(m->e + (size_t)k * 2 * E, m->yenc + ((size_t)k * T + T - 1) * 2 * E, (size_t)E * sizeof(float));
        memcpy(m->e + (size_t)k * 2 * E + E, m->yenc + (size_t)k * T * 2 * E + E, (size_t)E * sizeof(float));
    }
    soma_dense_forward(m->post, m->e, PP(P_POST_W), PP(P_POST_B), K, 2 * E, 2 * G);
    for (int k = 0; k < K; k++)
        for (int j = 0; j < G; j++) {
            const float mu = m->post[(size_t)k * 2 * G + j], lv = m->post[(size_t)k * 2 * G + G + j];
            m->g0[(size_t)k * G + j] = sample ? mu + expf(0.5f * lv) * m->eps[(size_t)k * G + j] : mu;
        }
    soma_gru_forward(m->ygen, G, m->wgen, NULL, m->g0, NULL, PP(P_GEN_WHH), PP(P_GEN_BIH), PP(P_GEN_BHH), K, T, 0,
                     G, 0);
    soma_dense_forward(m->fac, m->ygen, PP(P_FAC_W), NULL, K * T, G, F);
    soma_dense_forward(m->lr, m->fac, PP(P_OUT_W), PP(P_OUT_B), K * T, F, m->n_out);
}

/* Backward from dL/dlogrates (in m->lr) and the KL and L2 weights (already normalised). */
static void backward_(soma_lfads *m, int K, int sample, float kl_c, float l2_w) {
    const int T = m->T, E = m->E, G = m->G, F = m->F, D = m->n_in, N = m->n_out;
    const size_t wE = soma_gru_work(m->B, T, E);
    memset(m->g, 0, m->off[P_COUNT] * sizeof(float));
    soma_dense_backward(m->dfac, GG(P_OUT_W), GG(P_OUT_B), m->lr, m->fac, PP(P_OUT_W), K * T, F, N);
    soma_dense_backward(m->dygen, GG(P_FAC_W), NULL, m->dfac, m->ygen, PP(P_FAC_W), K * T, G, F);
    soma_gru_backward(NULL, 0, m->dg0, NULL, GG(P_GEN_WHH), GG(P_GEN_BIH), GG(P_GEN_BHH), m->dygen, G, m->wgen,
                      NULL, NULL, PP(P_GEN_WHH), K, T, 0, G, 0);
    const float *wh = PP(P_GEN_WHH);
    float *gh = GG(P_GEN_WHH);
    for (size_t i = 0; i < (size_t)3 * G * G; i++) gh[i] += l2_w * wh[i];
    for (int k = 0; k < K; k++)
        for (int j = 0; j < G; j++) {
            const size_t a = (size_t)k * 2 * G + j;
            const float mu = m->post[a], lv = m->post[a + G], d = m->dg0[(size_t)k * G + j];
            m->dpost[a] = d + kl_c * mu;
            m->dpost[a + G] = (sample ? d * m->eps[(size_t)k * G + j] * 0.5f * expf(0.5f * lv) : 0.f) +
                              kl_c * 0.5f * (expf(lv) - 1.f);
        }
    soma_dense_backward(m->e, GG(P_POST_W), GG(P_POST_B), m->dpost, m->e, PP(P_POST_W), K, 2 * E, 2 * G);
    /* careful: dense_backward reads x (= m->e) for dW before writing dx into the same array */
    memset(m->dyenc, 0, (size_t)K * T * 2 * E * sizeof(float));
    for (int k = 0; k < K; k++) {
        memcpy(m->dyenc + ((size_t)k * T + T - 1) * 2 * E, m->e + (size_t)k * 2 * E, (size_t)E * sizeof(float));
        memcpy(m->dyenc + (size_t)k * T * 2 * E + E, m->e + (size_t)k * 2 * E + E, (size_t)E * sizeof(float));
    }
    soma_gru_backward(NULL, 0, NULL, GG(P_ENC_WIH), GG(P_ENC_WHH), GG(P_ENC_BIH), GG(P_ENC_BHH), m->dyenc, 2 * E,
                      m->wenc, m->xin, PP(P_ENC_WIH), PP(P_ENC_WHH), K, T, D, E, 0);
    soma_gru_backward(NULL, 0, NULL, GG(P_ENR_WIH), GG(P_ENR_WHH), GG(P_ENR_BIH), GG(P_ENR_BHH), m->dyenc + E,
                      2 * E, m->wenc + wE, m->xin, PP(P_ENR_WIH), PP(P_ENR_WHH), K, T, D, E, 1);
}

soma_status soma_lfads_batch_loss(soma_lfads *m, const float *y, int K, int train, uint64_t noise_seed,
                                  float kl_w, float l2_w, int grad, double *loss, double *parts,
                                  float *logrates, uint8_t *mask) {
    if (K < 1 || K > m->B)
        return soma_error(SOMA_ERR_ARG, "lfads: batch of %d trials (the model holds 1..%d)", K, m->B);
    const int T = m->T, D = m->n_in, N = m->n_out, G = m->G;
    const float p = train ? m->o.cd_rate : 0.f, keep_scale = 1.f / (1.f - p);
    soma_rng r;
    soma_rng_seed(&r, noise_seed, 7);
    for (int k = 0; k < K; k++)
        for (int t = 0; t < T; t++)
            for (int u = 0; u < D; u++) {
                const size_t i = ((size_t)k * T + t) * D + u;
                const uint8_t keep = p > 0 ? soma_rng_uniform(&r) >= p : 1;
                m->mask[i] = keep;
                m->xin[i] = keep ? y[((size_t)k * T + t) * N + u] * keep_scale : 0.f;
            }
    if (train)
        for (size_t i = 0; i < (size_t)K * G; i++) m->eps[i] = (float)soma_rng_normal(&r);
    forward_(m, K, train);
    /* Poisson NLL over the counted entries, normalised by K * T * N */
    const double norm = 1.0 / ((double)K * T * N);
    const float drop_w = p > 0 ? 1.f / p : 1.f;
    double rec = 0, kl = 0;
    if (logrates) memcpy(logrates, m->lr, (size_t)K * T * N * sizeof(float));
    for (size_t row = 0; row < (size_t)K * T; row++) {
        float *l = m->lr + row * N;
        const float *yy = y + row * N;
        const uint8_t *mk = m->mask + row * D;
        for (int u = 0; u < N; u++) {
            float w = u < D ? (p > 0 ? (mk[u] ? 0.f : drop_w) : 1.f) : 1.f;
            float lr = fminf(l[u], 30.f), rate = expf(lr);
            rec += w * ((double)rate - (double)yy[u] * lr + lgamma((double)yy[u] + 1.0));
            l[u] = (float)(w * (rate - yy[u]) * norm); /* now dL/dlograte */
        }
    }
    for (int k = 0; k < K; k++)
        for (int j = 0; j < G; j++) {
            const double mu = m->post[(size_t)k * 2 * G + j], lv = m->post[(size_t)k * 2 * G + G + j];
            kl += 0.5 * (exp(lv) + mu * mu - 1.0 - lv);
        }
    rec *= norm;
    kl *= kl_w * norm;
    const float *wh = PP(P_GEN_WHH);
    double l2 = 0;
    for (size_t i = 0; i < (size_t)3 * G * G; i++) l2 += (double)wh[i] * wh[i];
    l2 *= 0.5 * l2_w;
    if (loss) *loss = rec + kl + l2;
    if (parts) parts[0] = rec, parts[1] = kl, parts[2] = l2;
    if (mask) memcpy(mask, m->mask, (size_t)K * T * D);
    if (grad) backward_(m, K, train, (float)(kl_w * norm), l2_w);
    return SOMA_OK;
}

soma_status soma_lfads_infer(soma_lfads *m, const float *x, int K, float *factors, float *rates) {
    if (K < 0) return soma_error(SOMA_ERR_ARG, "lfads: %d trials", K);
    const int T = m->T, D = m->n_in, N = m->n_out, F = m->F;
    const int threads = serial_begin_();
    for (int k0 = 0; k0 < K; k0 += m->B) {
        const int kb = K - k0 < m->B ? K - k0 : m->B;
        memcpy(m->xin, x + (size_t)k0 * T * D, (size_t)kb * T * D * sizeof(float));
        forward_(m, kb, 0);
        if (factors) memcpy(factors + (size_t)k0 * T * F, m->fac, (size_t)kb * T * F * sizeof(float));
        if (rates)
            for (size_t i = 0; i < (size_t)kb * T * N; i++) rates[(size_t)k0 * T * N + i] = expf(fminf(m->lr[i], 30.f));
    }
    serial_end_(threads);
    return SOMA_OK;
}

// --- training -------------------------------------------------------------------------------

static void adam_(soma_lfads *m, float lr) {
    const size_t n = m->off[P_COUNT];
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)m->g[i] * m->g[i];
    const float scale = sqrt(ss) > m->o.clip ? (float)(m->o.clip / sqrt(ss)) : 1.f;
    m->steps++;
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    const float c1 = 1.f - powf(b1, (float)m->steps), c2 = 1.f - powf(b2, (float)m->steps);
    for (size_t i = 0; i < n; i++) {
        const float g = m->g[i] * scale;
        m->m1[i] = b1 * m->m1[i] + (1.f - b1) * g;
        m->m2[i] = b2 * m->m2[i] + (1.f - b2) * g * g;
        m->p[i] -= lr * (m->m1[i] / c1) / (sqrtf(m->m2[i] / c2) + eps);
    }
}

static float ramp_(float w, int warm, long step) { return warm <= 0 || step >= warm ? w : w * (float)step / warm; }

static soma_status fit_(soma_lfads *m, const soma_counts *c);
soma_status soma_lfads_fit(soma_lfads *m, const soma_counts *c) {
    const int t = serial_begin_();
    soma_status st = fit_(m, c);
    serial_end_(t);
    return st;
}

static soma_status fit_(soma_lfads *m, const soma_counts *c) {
    const int T = m->T, N = m->n_out, B = m->B;
    if (!c || !c->x || c->n_bins != T || c->n_units != N)
        return soma_error(SOMA_ERR_ARG, "lfads: data of %d bins x %d units, the model wants %d x %d", c ? c->n_bins : 0,
                          c ? c->n_units : 0, T, N);
    const int K = c->n_trials;
    if (K < 2) return soma_error(SOMA_ERR_ARG, "lfads: %d trials (at least 2)", K);
    int n_valid = (int)(m->o.valid_frac * K + 0.5f);
    if (m->o.valid_frac > 0 && n_valid < 1) n_valid = 1;
    if (n_valid >= K) n_valid = K - 1;
    const int n_train = K - n_valid;
    int *order = soma_alloc((size_t)K, sizeof *order);
    soma_free(m->h_train);
    soma_free(m->h_valid);
    m->h_train = soma_alloc((size_t)m->o.epochs + 1, sizeof(float));
    m->h_valid = soma_alloc((size_t)m->o.epochs + 1, sizeof(float));
    if (!order || !m->h_train || !m->h_valid) {
        soma_free(order);
        return soma_error(SOMA_ERR_NOMEM, "lfads: no memory for %d trials", K);
    }
    soma_rng r;
    soma_rng_seed(&r, m->o.seed, 3);
    for (int i = 0; i < K; i++) order[i] = i;
    soma_rng_shuffle_int(&r, order, K); /* order[0..n_train) train, the rest validation */
    /* output biases start at the training trials' mean log rate of each unit */
    float *ob = PP(P_OUT_B);
    for (int u = 0; u < N; u++) {
        double s = 0;
        for (int i = 0; i < n_train; i++)
            for (int t = 0; t < T; t++) s += c->x[((size_t)order[i] * T + t) * N + u];
        ob[u] = (float)log(s / ((double)n_train * T) + 1e-3);
    }
    size_t np = m->off[P_COUNT];
    memcpy(m->best, m->p, np * sizeof(float));
    double best = INFINITY;
    m->best_epoch = 0;
    m->n_hist = 0;
    const size_t row = (size_t)T * N;
    int cancelled = 0;
    for (int ep = 0; ep < m->o.epochs && !cancelled; ep++) {
        /* cosine decay from lr (first epoch) to lr * lr_end (last epoch) */
        const double ph = m->o.epochs > 1 ? (double)ep / (m->o.epochs - 1) : 0.0, pi = 3.14159265358979323846;
        const float lr = (float)(m->o.lr * (m->o.lr_end + (1.0 - m->o.lr_end) * 0.5 * (1.0 + cos(pi * ph))));
        soma_rng_shuffle_int(&r, order, n_train);
        double tot = 0;
        int nb = 0;
        for (int b0 = 0; b0 < n_train; b0 += B) {
            const int kb = n_train - b0 < B ? n_train - b0 : B;
            for (int k = 0; k < kb; k++) memcpy(m->ybuf + k * row, c->x + (size_t)order[b0 + k] * row, row * sizeof(float));
            const float kl_w = ramp_(m->o.kl_weight, m->o.kl_warmup, m->steps);
            const float l2_w = ramp_(m->o.l2_gen, m->o.l2_warmup, m->steps);
            double l;
            soma_status st = soma_lfads_batch_loss(m, m->ybuf, kb, 1, soma_rng_u64(&r), kl_w, l2_w, 1, &l, NULL, NULL,
                                                   NULL);
            if (st != SOMA_OK) {
                soma_free(order);
                return st;
            }
            adam_(m, lr);
            tot += l;
            nb++;
        }
        m->h_train[ep] = (float)(tot / nb);
        double vl = NAN;
        if (n_valid > 0) {
            double s = 0;
            for (int b0 = 0; b0 < n_valid; b0 += B) {
                const int kb = n_valid - b0 < B ? n_valid - b0 : B;
                for (int k = 0; k < kb; k++)
                    memcpy(m->ybuf + k * row, c->x + (size_t)order[n_train + b0 + k] * row, row * sizeof(float));
                double l;
                soma_status st = soma_lfads_batch_loss(m, m->ybuf, kb, 0, 0, m->o.kl_weight, m->o.l2_gen, 0, &l, NULL,
                                                       NULL, NULL);
                if (st != SOMA_OK) {
                    soma_free(order);
                    return st;
                }
                s += l * kb;
            }
            vl = s / n_valid;
            if (vl < best) {
                best = vl;
                m->best_epoch = ep;
                memcpy(m->best, m->p, np * sizeof(float));
            }
        }
        m->h_valid[ep] = (float)vl;
        m->n_hist = ep + 1;
        cancelled = soma_cancel_requested(); /* Ctrl-C from Python: once per epoch */
    }
    if (n_valid > 0 && m->n_hist > 0) memcpy(m->p, m->best, np * sizeof(float));
    else m->best_epoch = m->n_hist - 1;
    soma_free(order);
    if (cancelled)
        return soma_error(SOMA_ERR_CANCELLED, "lfads: fit cancelled after %d of %d epochs", m->n_hist, m->o.epochs);
    return SOMA_OK;
}

soma_lfads_history soma_lfads_get_history(const soma_lfads *m) {
    return (soma_lfads_history){m->n_hist, m->best_epoch, m->h_train, m->h_valid};
}

// --- co-smoothing -----------------------------------------------------------------------------

soma_status soma_lfads_cosmooth(const soma_counts *data, const unsigned char *heldout, const unsigned char *test,
                                const float *true_latents, int n_true, const soma_lfads_opts *o, soma_cosmooth *out,
                                soma_lfads **model) {
    memset(out, 0, sizeof *out);
    out->latent_r2 = NAN;
    if (model) *model = NULL;
    if (!data || !data->x || !heldout || !test || !o) return soma_error(SOMA_ERR_ARG, "lfads cosmooth: no data");
    const int K = data->n_trials, T = data->n_bins, P = data->n_units;
    int n_ho = 0, n_test = 0;
    for (int u = 0; u < P; u++) n_ho += heldout[u] != 0;
    for (int k = 0; k < K; k++) n_test += test[k] != 0;
    const int n_in = P - n_ho, n_train = K - n_test;
    if (n_ho < 1 || n_in < 1 || n_test < 1 || n_train < 2)
        return soma_error(SOMA_ERR_ARG, "lfads cosmooth: %d of %d units held out and %d of %d trials for testing "
                          "(want >= 1 unit on each side, >= 1 test and >= 2 training trials)", n_ho, P, n_test, K);
    if (true_latents && n_true < 1) return soma_error(SOMA_ERR_ARG, "lfads cosmooth: %d true latents", n_true);
    const double t0 = soma_now();
    const int F = o->factors;
    const size_t KT = (size_t)K * T;
    int *unit = soma_alloc((size_t)P, sizeof(int)), *trial = soma_alloc((size_t)K, sizeof(int));
    float *xin = soma_alloc(KT * (n_in > 0 ? n_in : 1), sizeof(float));
    float *fz = F > 0 && F <= 4096 ? soma_alloc(KT * F, sizeof(float)) : NULL;
    float *rates = soma_alloc(KT * P, sizeof(float)), *rr = NULL, *ss = NULL, *lat = NULL;
    soma_counts train = {0};
    soma_lfads *m = NULL;
    soma_status st = SOMA_OK;
    if (!unit || !trial || !xin || !rates || (!fz && F > 0 && F <= 4096)) {
        st = soma_error(SOMA_ERR_NOMEM, "lfads cosmooth: no memory for %d trials x %d bins x %d units", K, T, P);
        goto done;
    }
    if ((st = soma_lfads_new(&m, T, n_in, P, o)) != SOMA_OK) goto done;
    /* units held-in first, training trials first (each in ascending order) */
    for (int u = 0, a = 0, b = n_in; u < P; u++) unit[heldout[u] ? b++ : a++] = u;
    for (int k = 0, a = 0, b = n_train; k < K; k++) trial[test[k] ? b++ : a++] = k;
    if ((st = soma_counts_alloc(&train, n_train, T, P, data->bin_ms)) != SOMA_OK) goto done;
    for (int k = 0; k < K; k++)
        for (int t = 0; t < T; t++) {
            const float *src = data->x + ((size_t)trial[k] * T + t) * P;
            const size_t r = (size_t)k * T + t;
            for (int u = 0; u < n_in; u++) xin[r * n_in + u] = src[unit[u]];
            if (k < n_train)
                for (int u = 0; u < P; u++) train.x[r * P + u] = src[unit[u]];
        }
    if ((st = soma_lfads_fit(m, &train)) != SOMA_OK) goto done;
    if ((st = soma_lfads_infer(m, xin, K, fz, rates)) != SOMA_OK) goto done;
    const long nf = (long)n_train * T, ne = (long)n_test * T;
    if (o->glm_readout) { /* the baselines' readout: every unit's Poisson GLM from the factors */
        float *ycol = soma_alloc((size_t)nf * P, sizeof(float)), *gr = soma_alloc((size_t)ne * P, sizeof(float));
        if (ycol && gr) {
            for (long i = 0; i < nf; i++)
                for (int u = 0; u < P; u++) ycol[(size_t)u * nf + i] = train.x[(size_t)i * P + u];
            st = soma__glm_readout(fz, nf, fz + (size_t)nf * F, ne, F, ycol, P, 1e-3, gr);
            if (st == SOMA_OK) memcpy(rates + (size_t)nf * P, gr, (size_t)ne * P * sizeof(float));
        } else
            st = SOMA_ERR_NOMEM;
        soma_free(ycol), soma_free(gr);
        if (st != SOMA_OK) goto done;
    }
    out->test_idx = soma_alloc((size_t)n_test, sizeof(int));
    out->z = soma_alloc((size_t)ne * F, sizeof(float));
    out->rates = soma_alloc((size_t)ne * P, sizeof(float));
    rr = soma_alloc((size_t)ne * n_ho, sizeof(float));
    ss = soma_alloc((size_t)ne * n_ho, sizeof(float));
    if (!out->test_idx || !out->z || !out->rates || !rr || !ss) {
        st = SOMA_ERR_NOMEM;
        goto done;
    }
    memcpy(out->test_idx, trial + n_train, (size_t)n_test * sizeof(int));
    memcpy(out->z, fz + (size_t)nf * F, (size_t)ne * F * sizeof(float));
    for (long i = 0; i < ne; i++) {
        const float *r = rates + ((size_t)nf + i) * P; /* model order */
        const float *y = data->x + ((size_t)trial[n_train + i / T] * T + (size_t)(i % T)) * P;
        for (int u = 0; u < P; u++) out->rates[(size_t)i * P + unit[u]] = r[u];
        for (int u = 0; u < n_ho; u++) {
            rr[(size_t)i * n_ho + u] = r[n_in + u];
            ss[(size_t)i * n_ho + u] = y[unit[n_in + u]];
        }
    }
    out->fit_s = soma_now() - t0;
    if ((st = soma_nlb_bits_per_spike(rr, ss, ne, n_ho, &out->co_bps)) != SOMA_OK) goto done;
    if (true_latents) {
        lat = soma_alloc(KT * n_true, sizeof(float));
        if (!lat) {
            st = SOMA_ERR_NOMEM;
            goto done;
        }
        for (int k = 0; k < K; k++)
            memcpy(lat + (size_t)k * T * n_true, true_latents + (size_t)trial[k] * T * n_true,
                   (size_t)T * n_true * sizeof(float));
        if (nf > F &&
            (st = soma_latent_r2(fz, lat, nf, fz + (size_t)nf * F, lat + (size_t)nf * n_true, ne, F, n_true,
                                 &out->latent_r2)) != SOMA_OK)
            goto done;
    }
    out->kind = SOMA_LATENT_KIND_COUNT;
    out->n_test = n_test, out->n_bins = T, out->n_units = P, out->n_latents = F;
    if (model) *model = m, m = NULL;
done:
    soma_lfads_free(m);
    soma_counts_free(&train);
    soma_free(unit), soma_free(trial), soma_free(xin), soma_free(fz), soma_free(rates);
    soma_free(rr), soma_free(ss), soma_free(lat);
    if (st != SOMA_OK) soma_cosmooth_free(out);
    return st;
}
