/* Model-predictive control over discrete action sequences: random shooting and the
 * cross-entropy method. Every candidate sequence goes through the model at once, one batched
 * call per step of the horizon; the return of a sequence is the number of steps it survives
 * under the model. The planner replans at every step and executes the first action. */
#include <math.h>
#include <string.h>

#include "soma/rl.h"

/* CEM's warm start mixes this much of the uniform distribution into the shifted plan, so no
 * action's probability starts a step at 0; the previous best sequence, shifted by one step,
 * is one of the first iteration's candidates. */
#define MPC_WARM_MIX 0.1f

struct soma_mpc {
    soma_mpc_config cfg;
    int D, A, H, C, E;
    soma_mpc_model_fn model;
    void *ctx;
    soma_rng rng;
    float *probs;  /* [H, A]: CEM's per-step action distribution */
    int *seqs;     /* [C, H] */
    int *col;      /* [C]: the actions of one step */
    int *best_seq; /* [H] */
    int *elite;    /* [E]: candidate indices */
    float *s, *s2; /* [C, D] */
    float *ret;    /* [C] */
    float *tie;    /* [D] tie-break bounds, 0: none */
    int has_tie;
    int have_plan; /* CEM: best_seq holds the previous step's plan */
    unsigned char *term, *alive; /* [C] */
};

soma_mpc_config soma_mpc_defaults(soma_mpc_kind kind) {
    soma_mpc_config c = {kind, 30, 100, kind == SOMA_MPC_CEM ? 3 : 1, 10, 0.3f, 0, NULL};
    return c;
}

void soma_mpc_free(soma_mpc *p) {
    if (!p) return;
    soma_free(p->probs);
    soma_free(p->seqs);
    soma_free(p->col);
    soma_free(p->best_seq);
    soma_free(p->elite);
    soma_free(p->s);
    soma_free(p->s2);
    soma_free(p->ret);
    soma_free(p->tie);
    soma_free(p->term);
    soma_free(p->alive);
    soma_free(p);
}

void soma_mpc_reset(soma_mpc *p) {
    if (!p) return;
    for (int i = 0; i < p->H * p->A; i++) p->probs[i] = 1.f / (float)p->A;
    p->have_plan = 0;
}

soma_status soma_mpc_new(soma_mpc **out, const soma_mpc_config *cfg, int obs_dim, int n_actions,
                         soma_mpc_model_fn model, void *ctx) {
    if (!out || !cfg || !model) return soma_error(SOMA_ERR_ARG, "mpc: NULL argument");
    *out = NULL;
    if (cfg->kind < 0 || cfg->kind >= SOMA_MPC_KIND_COUNT)
        return soma_error(SOMA_ERR_ARG, "mpc: unknown planner kind %d", (int)cfg->kind);
    if (obs_dim < 1 || n_actions < 1 || cfg->horizon < 1 || cfg->candidates < 1 || cfg->iters < 1)
        return soma_error(SOMA_ERR_ARG, "mpc: obs_dim %d, n_actions %d, horizon %d, candidates %d, iters %d "
                          "must all be >= 1", obs_dim, n_actions, cfg->horizon, cfg->candidates, cfg->iters);
    if (cfg->kind == SOMA_MPC_CEM && (cfg->elites < 1 || cfg->elites > cfg->candidates))
        return soma_error(SOMA_ERR_ARG, "mpc: %d elites, want 1..%d (the candidates)", cfg->elites,
                          cfg->candidates);
    if (!(cfg->smoothing >= 0.f && cfg->smoothing < 1.f))
        return soma_error(SOMA_ERR_ARG, "mpc: smoothing %g outside [0, 1)", (double)cfg->smoothing);
    soma_mpc *p = soma_calloc(1, sizeof *p);
    if (!p) return soma_error(SOMA_ERR_NOMEM, "mpc: out of memory");
    p->cfg = *cfg;
    p->D = obs_dim;
    p->A = n_actions;
    p->H = cfg->horizon;
    p->C = cfg->candidates;
    p->E = cfg->kind == SOMA_MPC_CEM ? cfg->elites : 1;
    p->model = model;
    p->ctx = ctx;
    size_t C = (size_t)p->C, H = (size_t)p->H, D = (size_t)p->D;
    p->probs = soma_alloc(H * (size_t)p->A, sizeof(float));
    p->seqs = soma_alloc(C * H, sizeof(int));
    p->col = soma_alloc(C, sizeof(int));
    p->best_seq = soma_calloc(H, sizeof(int));
    p->elite = soma_alloc((size_t)p->E, sizeof(int));
    p->s = soma_alloc(C * D, sizeof(float));
    p->s2 = soma_alloc(C * D, sizeof(float));
    p->ret = soma_alloc(C, sizeof(float));
    p->tie = soma_calloc(D, sizeof(float));
    p->term = soma_alloc(C, 1);
    p->alive = soma_alloc(C, 1);
    if (!p->probs || !p->seqs || !p->col || !p->best_seq || !p->elite || !p->s || !p->s2 || !p->ret ||
        !p->tie || !p->term || !p->alive) {
        soma_mpc_free(p);
        return soma_error(SOMA_ERR_NOMEM, "mpc: out of memory for %d candidates x horizon %d", cfg->candidates,
                          cfg->horizon);
    }
    p->cfg.tie_bounds = NULL;
    for (int j = 0; cfg->tie_bounds && j < p->D; j++) {
        p->tie[j] = cfg->tie_bounds[j] > 0.f ? cfg->tie_bounds[j] : 0.f;
        p->has_tie |= p->tie[j] > 0.f;
    }
    soma_rng_seed(&p->rng, cfg->seed, 0x6d7063);
    soma_mpc_reset(p);
    *out = p;
    return SOMA_OK;
}

/* Draws an action from the distribution pr[A]. */
static int sample_(soma_rng *r, const float *pr, int A) {
    double u = soma_rng_uniform(r), acc = 0.0;
    for (int k = 0; k < A - 1; k++) {
        acc += pr[k];
        if (u < acc) return k;
    }
    return A - 1;
}

/* Returns of every candidate sequence from obs: steps survived under the model. */
static soma_status rollout_(soma_mpc *p, const float *obs) {
    int C = p->C, H = p->H, D = p->D;
    for (int c = 0; c < C; c++) {
        memcpy(p->s + (size_t)c * D, obs, (size_t)D * sizeof(float));
        p->alive[c] = 1;
        p->ret[c] = 0.f;
    }
    for (int t = 0; t < H; t++) {
        for (int c = 0; c < C; c++) p->col[c] = p->seqs[(size_t)c * H + t];
        SOMA_TRY(p->model(p->ctx, p->s2, p->term, p->s, p->col, C));
        int any = 0;
        for (int c = 0; c < C; c++) {
            if (!p->alive[c]) continue;
            if (p->term[c]) p->alive[c] = 0;
            else p->ret[c] += 1.f, any = 1;
        }
        float *tmp = p->s;
        p->s = p->s2;
        p->s2 = tmp;
        if (!any) return SOMA_OK;
    }
    if (!p->has_tie) return SOMA_OK;
    for (int c = 0; c < C; c++) {
        if (!p->alive[c]) continue;
        const float *s = p->s + (size_t)c * D;
        float margin = 1.f;
        for (int j = 0; j < D; j++)
            if (p->tie[j] > 0.f) {
                float mj = 1.f - fabsf(s[j]) / p->tie[j];
                if (mj < margin) margin = mj;
            }
        p->ret[c] += margin > 0.f ? (margin < 1.f ? margin : 0.999f) : 0.f;
    }
    return SOMA_OK;
}

soma_status soma_mpc_act(soma_mpc *p, const float *obs, int *action, double *value) {
    if (!p || !obs || !action) return soma_error(SOMA_ERR_ARG, "mpc: NULL argument to act");
    int C = p->C, H = p->H, A = p->A, E = p->E;
    int cem = p->cfg.kind == SOMA_MPC_CEM;
    if (!cem) soma_mpc_reset(p);
    float best = -1.f;
    for (int it = 0; it < p->cfg.iters; it++) {
        for (int c = 0; c < C; c++)
            for (int t = 0; t < H; t++) p->seqs[(size_t)c * H + t] = sample_(&p->rng, p->probs + (size_t)t * A, A);
        if (cem && it == 0 && p->have_plan) /* the previous plan, shifted, competes again */
            memcpy(p->seqs, p->best_seq + 1, (size_t)(H - 1) * sizeof(int));
        SOMA_TRY(rollout_(p, obs));
        for (int c = 0; c < C; c++)
            if (p->ret[c] > best) {
                best = p->ret[c];
                memcpy(p->best_seq, p->seqs + (size_t)c * H, (size_t)H * sizeof(int));
            }
        if (!cem) continue;
        /* the E best candidates (ties: the lower index, a random one since candidates are iid) */
        int n_el = 0;
        for (int c = 0; c < C; c++) {
            int k = n_el < E ? n_el++ : E;
            if (k == E && !(p->ret[c] > p->ret[p->elite[E - 1]])) continue;
            if (k == E) k = E - 1;
            while (k > 0 && p->ret[c] > p->ret[p->elite[k - 1]]) {
                p->elite[k] = p->elite[k - 1];
                k--;
            }
            p->elite[k] = c;
        }
        float keep = p->cfg.smoothing, w = (1.f - keep) / (float)E;
        for (int t = 0; t < H; t++) {
            float *pr = p->probs + (size_t)t * A;
            for (int k = 0; k < A; k++) pr[k] *= keep;
            for (int e = 0; e < E; e++) pr[p->seqs[(size_t)p->elite[e] * H + t]] += w;
        }
    }
    *action = p->best_seq[0];
    if (value) *value = best;
    p->have_plan = cem;
    if (cem) { /* warm start: the plan shifted by one step, mixed with the uniform distribution */
        for (int t = 0; t < H; t++) {
            float *pr = p->probs + (size_t)t * A;
            for (int k = 0; k < A; k++) {
                float next = t + 1 < H ? pr[A + k] : 1.f / (float)A;
                pr[k] = (1.f - MPC_WARM_MIX) * next + MPC_WARM_MIX / (float)A;
            }
        }
    }
    return SOMA_OK;
}
