// Optimizers (SGD with momentum/Nesterov, Adam, AdamW) over a network's carved parameters,
// and learning-rate schedules. Update rules follow torch.optim exactly, so the tests can
// compare step by step against PyTorch.
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "nn/internal.h"

struct soma_optim {
    soma_optim_config cfg;
    soma_net *net;
    float *state;  /* SGD: momentum buffer; Adam: m then v; each n_train long */
    size_t *off;   /* per parameter: its offset in one state slot (trainable ones only) */
    size_t n_train, n_state;
    long t;
};

static const char *const optim_names_[SOMA_OPTIM_COUNT] = {"sgd", "adam", "adamw"};

const char *soma_optim_name(soma_optim_kind kind) {
    return (int)kind >= 0 && kind < SOMA_OPTIM_COUNT ? optim_names_[kind] : "?";
}

soma_status soma_optim_parse(const char *name, soma_optim_kind *kind) {
    for (int i = 0; i < SOMA_OPTIM_COUNT; i++)
        if (name && strcmp(name, optim_names_[i]) == 0) {
            *kind = (soma_optim_kind)i;
            return SOMA_OK;
        }
    return soma_error(SOMA_ERR_ARG, "unknown optimizer '%s' (sgd, adam, adamw)", name ? name : "");
}

soma_optim_config soma_optim_defaults(soma_optim_kind kind) {
    soma_optim_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.beta1 = 0.9f;
    c.beta2 = 0.999f;
    c.eps = 1e-8f;
    c.weight_decay = kind == SOMA_OPTIM_ADAMW ? 0.01f : 0.f;
    return c;
}

static int unit_(float v) { return v >= 0.f && v < 1.f; }

soma_status soma_optim_new(soma_optim **out, soma_net *net, const soma_optim_config *cfg) {
    *out = NULL;
    if ((int)cfg->kind < 0 || cfg->kind >= SOMA_OPTIM_COUNT)
        return soma_error(SOMA_ERR_ARG, "optim: unknown kind %d", (int)cfg->kind);
    if (!(cfg->weight_decay >= 0.f) || !isfinite(cfg->weight_decay) || !unit_(cfg->momentum))
        return soma_error(SOMA_ERR_ARG, "optim: weight decay %g / momentum %g out of range (>= 0; 0..1)",
                          (double)cfg->weight_decay, (double)cfg->momentum);
    if (cfg->kind != SOMA_OPTIM_SGD &&
        (!unit_(cfg->beta1) || !unit_(cfg->beta2) || !(cfg->eps >= 0.f) || !isfinite(cfg->eps)))
        return soma_error(SOMA_ERR_ARG,
                          "optim: %s betas (%g, %g) must lie in [0, 1) and eps %g be >= 0; HINT: start "
                          "from soma_optim_defaults()",
                          soma_optim_name(cfg->kind), (double)cfg->beta1, (double)cfg->beta2, (double)cfg->eps);
    soma_optim *o = soma_calloc(1, sizeof *o);
    if (!o) return SOMA_ERR_NOMEM;
    o->cfg = *cfg;
    o->net = net;
    int np = soma_net_n_params(net);
    o->off = soma_calloc((size_t)(np ? np : 1), sizeof *o->off);
    if (!o->off) {
        soma_free(o);
        return SOMA_ERR_NOMEM;
    }
    for (int k = 0; k < np; k++) {
        soma_param *p = soma_net_param(net, k);
        o->off[k] = p->trainable ? o->n_train : SIZE_MAX; /* frozen: no state, never stepped */
        if (p->trainable) o->n_train += p->n;
    }
    int slots = cfg->kind == SOMA_OPTIM_SGD ? (cfg->momentum > 0.f ? 1 : 0) : 2;
    o->n_state = (size_t)slots * o->n_train;
    o->state = soma_calloc(o->n_state ? o->n_state : 1, sizeof(float));
    if (!o->state) {
        soma_free(o->off);
        soma_free(o);
        return SOMA_ERR_NOMEM;
    }
    *out = o;
    return SOMA_OK;
}

void soma_optim_free(soma_optim *o) {
    if (!o) return;
    soma_free(o->state);
    soma_free(o->off);
    soma_free(o);
}

long soma_optim_steps(const soma_optim *o) { return o->t; }
void soma_optim_set_steps(soma_optim *o, long steps) { o->t = steps; }
soma_optim_kind soma_optim_get_kind(const soma_optim *o) { return o->cfg.kind; }
soma_status soma__optim_state_from_flat(soma_optim *o, const float *state, size_t n, int apply) {
    /* Version 1's layout: every parameter's slice rounded up to 16 floats, in order. */
    int np = soma_net_n_params(o->net);
    size_t n_flat = 0;
    for (int k = 0; k < np; k++) n_flat += (soma_net_param(o->net, k)->n + 15) & ~(size_t)15;
    size_t slots = o->n_train ? o->n_state / o->n_train : 0;
    if (n != slots * n_flat)
        return soma_error(SOMA_ERR_SHAPE, "checkpoint: version-1 optimizer state of %zu values, optimizer needs %zu",
                          n, slots * n_flat);
    if (!apply) return SOMA_OK;
    size_t flat = 0;
    for (int k = 0; k < np; k++) {
        soma_param *p = soma_net_param(o->net, k);
        if (o->off[k] != SIZE_MAX)
            for (size_t s = 0; s < slots; s++)
                memcpy(o->state + s * o->n_train + o->off[k], state + s * n_flat + flat, p->n * sizeof(float));
        flat += (p->n + 15) & ~(size_t)15;
    }
    return SOMA_OK;
}

float *soma_optim_state(soma_optim *o, size_t *n) {
    *n = o->n_state;
    return o->state;
}

/* One parameter tensor's slice [w, g, buffers) of n values. */
SOMA_HOT static void sgd_(float *restrict w, const float *restrict g, float *restrict buf, size_t n,
                 float lr, float wd, float mom, int nesterov, int first) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float d = g[i] + wd * w[i];
        if (buf) {
            float b = first ? d : mom * buf[i] + d;
            buf[i] = b;
            d = nesterov ? d + mom * b : b;
        }
        w[i] -= lr * d;
    }
}

SOMA_HOT static void adam_(float *restrict w, const float *restrict g, float *restrict m, float *restrict v,
                  size_t n, float lr, float wd, int decoupled, float b1, float b2, float eps,
                  float bc1, float bc2) {
    const float step = lr / bc1, rbc2 = 1.0f / sqrtf(bc2), shrink = 1.0f - lr * wd;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        float wi = w[i];
        if (decoupled) wi *= shrink;
        else gi += wd * wi;
        float mi = b1 * m[i] + (1.0f - b1) * gi;
        float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] = wi - step * mi / (sqrtf(vi) * rbc2 + eps);
    }
}

void soma_optim_step(soma_optim *o, float lr) {
    o->t++;
    const soma_optim_config *c = &o->cfg;
    int np = soma_net_n_params(o->net);
    float bc1 = 1.0f - powf(c->beta1, (float)o->t), bc2 = 1.0f - powf(c->beta2, (float)o->t);
    for (int k = 0; k < np; k++) {
        soma_param *p = soma_net_param(o->net, k);
        if (!p->trainable || o->off[k] == SIZE_MAX) continue;
        size_t off = o->off[k];
        float wd = p->decay ? c->weight_decay : 0.f;
        switch (c->kind) {
        case SOMA_OPTIM_SGD:
            sgd_(p->value, p->grad, c->momentum > 0.f ? o->state + off : NULL, p->n, lr, wd,
                 c->momentum, c->nesterov, o->t == 1);
            break;
        case SOMA_OPTIM_ADAM:
        case SOMA_OPTIM_ADAMW:
            adam_(p->value, p->grad, o->state + off, o->state + o->n_train + off, p->n, lr, wd,
                  c->kind == SOMA_OPTIM_ADAMW, c->beta1, c->beta2, c->eps, bc1, bc2);
            break;
        default: SOMA_ASSERT(0 && "unknown optimizer");
        }
    }
}

// --- schedules -------------------------------------------------------------------------

soma_status soma_sched_parse(const char *name, soma_sched_kind *kind) {
    static const char *const names[SOMA_SCHED_COUNT] = {"constant", "step", "cosine"};
    for (int i = 0; i < SOMA_SCHED_COUNT; i++)
        if (name && strcmp(name, names[i]) == 0) {
            *kind = (soma_sched_kind)i;
            return SOMA_OK;
        }
    return soma_error(SOMA_ERR_ARG, "unknown schedule '%s' (constant, step, cosine)", name ? name : "");
}

float soma_sched_lr(const soma_sched *s, long step) {
    float lr = s->lr;
    switch (s->kind) {
    case SOMA_SCHED_STEP:
        if (s->step_size > 0) lr = s->lr * powf(s->gamma, (float)(step / s->step_size));
        break;
    case SOMA_SCHED_COSINE:
        if (s->total > 0) {
            double f = (double)(step < s->total ? step : s->total) / (double)s->total;
            lr = s->lr_min + (s->lr - s->lr_min) * (float)(0.5 * (1.0 + cos(3.14159265358979323846 * f)));
        }
        break;
    default: break;
    }
    if (s->warmup > 0 && step < s->warmup) lr *= (float)(step + 1) / (float)s->warmup;
    return lr;
}
