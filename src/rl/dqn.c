/* Experience replay and the deep Q-network (Mnih et al. 2015) on the nn stack. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soma/nn.h"
#include "soma/rl.h"

// --- replay ----------------------------------------------------------------------------

struct soma_replay {
    long cap, size, next; /* next: the slot the next addition writes */
    int obs_dim;
    float *obs, *next_obs, *reward;
    int *action;
    unsigned char *terminal;
};

soma_status soma_replay_new(soma_replay **out, long capacity, int obs_dim) {
    if (!out) return soma_error(SOMA_ERR_ARG, "replay: NULL output");
    *out = NULL;
    if (capacity < 1 || obs_dim < 1)
        return soma_error(SOMA_ERR_ARG, "replay: capacity %ld and obs_dim %d must be >= 1", capacity,
                          obs_dim);
    soma_replay *rb = calloc(1, sizeof *rb);
    if (!rb) return soma_error(SOMA_ERR_NOMEM, "replay: out of memory");
    rb->cap = capacity;
    rb->obs_dim = obs_dim;
    size_t m = (size_t)capacity * (size_t)obs_dim;
    rb->obs = malloc(m * sizeof(float));
    rb->next_obs = malloc(m * sizeof(float));
    rb->reward = malloc((size_t)capacity * sizeof(float));
    rb->action = malloc((size_t)capacity * sizeof(int));
    rb->terminal = malloc((size_t)capacity);
    if (!rb->obs || !rb->next_obs || !rb->reward || !rb->action || !rb->terminal) {
        soma_replay_free(rb);
        return soma_error(SOMA_ERR_NOMEM, "replay: out of memory for %ld transitions", capacity);
    }
    *out = rb;
    return SOMA_OK;
}

void soma_replay_free(soma_replay *rb) {
    if (!rb) return;
    free(rb->obs);
    free(rb->next_obs);
    free(rb->reward);
    free(rb->action);
    free(rb->terminal);
    free(rb);
}

void soma_replay_add(soma_replay *rb, const float *obs, int action, float reward,
                     const float *next_obs, int terminal) {
    long i = rb->next;
    size_t D = (size_t)rb->obs_dim;
    memcpy(rb->obs + (size_t)i * D, obs, D * sizeof(float));
    memcpy(rb->next_obs + (size_t)i * D, next_obs, D * sizeof(float));
    rb->action[i] = action;
    rb->reward[i] = reward;
    rb->terminal[i] = terminal ? 1 : 0;
    rb->next = (i + 1) % rb->cap;
    if (rb->size < rb->cap) rb->size++;
}

long soma_replay_size(const soma_replay *rb) { return rb ? rb->size : 0; }

static void replay_copy(const soma_replay *rb, long slot, int k, float *obs, int *action,
                        float *reward, float *next_obs, float *terminal) {
    size_t D = (size_t)rb->obs_dim;
    if (obs) memcpy(obs + (size_t)k * D, rb->obs + (size_t)slot * D, D * sizeof(float));
    if (next_obs) memcpy(next_obs + (size_t)k * D, rb->next_obs + (size_t)slot * D, D * sizeof(float));
    if (action) action[k] = rb->action[slot];
    if (reward) reward[k] = rb->reward[slot];
    if (terminal) terminal[k] = rb->terminal[slot];
}

soma_status soma_replay_get(const soma_replay *rb, long i, float *obs, int *action, float *reward,
                            float *next_obs, int *terminal) {
    if (!rb || i < 0 || i >= rb->size)
        return soma_error(SOMA_ERR_ARG, "replay: transition %ld outside 0..%ld", i,
                          rb ? rb->size - 1 : -1);
    long oldest = rb->size < rb->cap ? 0 : rb->next;
    long slot = (oldest + i) % rb->cap;
    float t;
    replay_copy(rb, slot, 0, obs, action, reward, next_obs, &t);
    if (terminal) *terminal = t != 0.f;
    return SOMA_OK;
}

void soma_replay_sample(const soma_replay *rb, soma_rng *rng, int n, float *obs, int *action,
                        float *reward, float *next_obs, float *terminal) {
    for (int k = 0; k < n; k++) {
        long slot = (long)soma_rng_below(rng, (uint64_t)rb->size);
        replay_copy(rb, slot, k, obs, action, reward, next_obs, terminal);
    }
}

// --- DQN -------------------------------------------------------------------------------

struct soma_dqn {
    soma_dqn_config cfg;
    int obs_dim, n_actions;
    soma_net *net, *target;
    soma_optim *opt;
    soma_replay *rb;
    soma_rng rng; /* exploration and replay sampling */
    long env_steps, grad_steps;
    /* batch buffers, allocated once */
    float *b_obs, *b_next, *b_reward, *b_term, *b_y, *b_dq;
    int *b_action;
};

soma_dqn_config soma_dqn_defaults(void) {
    soma_dqn_config c;
    memset(&c, 0, sizeof c);
    c.net = "fc64,relu,fc64,relu";
    c.gamma = 0.99f;
    c.lr = 1e-3f;
    c.batch = 64;
    c.buffer = 50000;
    c.learn_start = 1000;
    c.train_every = 1;
    c.target_update = 0;
    c.tau = 0.005f;
    c.eps_start = 1.0f;
    c.eps_end = 0.01f;
    c.eps_decay = 10000;
    c.double_dqn = 1;
    c.huber = 1;
    c.grad_clip = 10.f;
    c.seed = 1;
    return c;
}

static soma_status dqn_check(const soma_dqn_config *c, int obs_dim, int n_actions) {
    if (obs_dim < 1 || n_actions < 1)
        return soma_error(SOMA_ERR_ARG, "dqn: obs_dim %d and n_actions %d must be >= 1", obs_dim, n_actions);
    if (!c->net) return soma_error(SOMA_ERR_ARG, "dqn: no network spec");
    if (!(c->gamma >= 0.f && c->gamma <= 1.f))
        return soma_error(SOMA_ERR_ARG, "dqn: gamma %g outside [0, 1]", c->gamma);
    if (!(c->lr > 0.f) || !isfinite(c->lr)) return soma_error(SOMA_ERR_ARG, "dqn: lr %g must be > 0", c->lr);
    if (c->batch < 1 || c->buffer < c->batch)
        return soma_error(SOMA_ERR_ARG, "dqn: batch %d must be >= 1 and <= buffer %ld", c->batch, c->buffer);
    if (c->learn_start < c->batch)
        return soma_error(SOMA_ERR_ARG, "dqn: learn_start %ld must be >= batch %d", c->learn_start, c->batch);
    if (c->train_every < 1) return soma_error(SOMA_ERR_ARG, "dqn: train_every %d must be >= 1", c->train_every);
    if (c->target_update < 0) return soma_error(SOMA_ERR_ARG, "dqn: target_update %ld must be >= 0", c->target_update);
    if (c->target_update == 0 && !(c->tau > 0.f && c->tau <= 1.f))
        return soma_error(SOMA_ERR_ARG, "dqn: tau %g outside (0, 1] (Polyak target, target_update 0)", c->tau);
    if (!(c->eps_start >= 0.f && c->eps_start <= 1.f && c->eps_end >= 0.f && c->eps_end <= 1.f))
        return soma_error(SOMA_ERR_ARG, "dqn: epsilon %g -> %g outside [0, 1]", c->eps_start, c->eps_end);
    if (c->eps_decay < 0) return soma_error(SOMA_ERR_ARG, "dqn: eps_decay %ld must be >= 0", c->eps_decay);
    if (!(c->grad_clip >= 0.f)) return soma_error(SOMA_ERR_ARG, "dqn: grad_clip %g must be >= 0", c->grad_clip);
    return SOMA_OK;
}

soma_status soma_dqn_new(soma_dqn **out, int obs_dim, int n_actions, const soma_dqn_config *cfg) {
    if (!out || !cfg) return soma_error(SOMA_ERR_ARG, "dqn: NULL output or config");
    *out = NULL;
    SOMA_TRY(dqn_check(cfg, obs_dim, n_actions));
    char spec[1024];
    int len = snprintf(spec, sizeof spec, "%s%sfc%d", cfg->net, cfg->net[0] ? "," : "", n_actions);
    if (len < 0 || (size_t)len >= sizeof spec) return soma_error(SOMA_ERR_ARG, "dqn: network spec too long");
    soma_dqn *d = calloc(1, sizeof *d);
    if (!d) return soma_error(SOMA_ERR_NOMEM, "dqn: out of memory");
    d->cfg = *cfg;
    d->cfg.net = NULL; /* borrowed only here */
    d->obs_dim = obs_dim;
    d->n_actions = n_actions;
    soma_rng_seed(&d->rng, cfg->seed, 7);
    soma_status st = soma_net_new(&d->net, spec, soma_shape1(obs_dim), cfg->seed);
    if (st == SOMA_OK && soma_shape_size(soma_net_out_shape(d->net)) != (size_t)n_actions)
        st = soma_error(SOMA_ERR_SHAPE, "dqn: network \"%s\" gives %zu outputs, want %d", spec,
                        soma_shape_size(soma_net_out_shape(d->net)), n_actions);
    if (st == SOMA_OK) st = soma_net_reserve(d->net, cfg->batch);
    if (st == SOMA_OK) st = soma_net_clone(d->net, 0, 1, &d->target);
    if (st == SOMA_OK) st = soma_net_reserve(d->target, cfg->batch);
    if (st == SOMA_OK) {
        soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_ADAM);
        st = soma_optim_new(&d->opt, d->net, &oc);
    }
    if (st == SOMA_OK) st = soma_replay_new(&d->rb, cfg->buffer, obs_dim);
    if (st == SOMA_OK) {
        size_t B = (size_t)cfg->batch, D = (size_t)obs_dim, A = (size_t)n_actions;
        d->b_obs = malloc(B * D * sizeof(float));
        d->b_next = malloc(B * D * sizeof(float));
        d->b_reward = malloc(B * sizeof(float));
        d->b_term = malloc(B * sizeof(float));
        d->b_y = malloc(B * sizeof(float));
        d->b_dq = malloc(B * A * sizeof(float));
        d->b_action = malloc(B * sizeof(int));
        if (!d->b_obs || !d->b_next || !d->b_reward || !d->b_term || !d->b_y || !d->b_dq || !d->b_action)
            st = soma_error(SOMA_ERR_NOMEM, "dqn: out of memory");
    }
    if (st != SOMA_OK) {
        soma_dqn_free(d);
        return st;
    }
    *out = d;
    return SOMA_OK;
}

void soma_dqn_free(soma_dqn *d) {
    if (!d) return;
    soma_optim_free(d->opt);
    soma_net_free(d->target);
    soma_net_free(d->net);
    soma_replay_free(d->rb);
    free(d->b_obs);
    free(d->b_next);
    free(d->b_reward);
    free(d->b_term);
    free(d->b_y);
    free(d->b_dq);
    free(d->b_action);
    free(d);
}

soma_net *soma_dqn_net(soma_dqn *d) { return d->net; }
soma_net *soma_dqn_target(soma_dqn *d) { return d->target; }
soma_replay *soma_dqn_replay(soma_dqn *d) { return d->rb; }
long soma_dqn_env_steps(const soma_dqn *d) { return d->env_steps; }
long soma_dqn_grad_steps(const soma_dqn *d) { return d->grad_steps; }

soma_status soma_dqn_q(soma_dqn *d, const float *obs, int target, float *q) {
    if (!d || !obs || !q) return soma_error(SOMA_ERR_ARG, "dqn: NULL argument");
    const float *y;
    SOMA_TRY(soma_net_forward(target ? d->target : d->net, obs, 1, SOMA_MODE_EVAL, &y));
    memcpy(q, y, (size_t)d->n_actions * sizeof(float));
    return SOMA_OK;
}

float soma_dqn_epsilon(const soma_dqn *d) {
    const soma_dqn_config *c = &d->cfg;
    if (c->eps_decay <= 0 || d->env_steps >= c->eps_decay) return c->eps_end;
    double f = (double)d->env_steps / (double)c->eps_decay;
    return (float)(c->eps_start + f * (c->eps_end - c->eps_start));
}

int soma_dqn_act(soma_dqn *d, const float *obs, int eval) {
    if (!eval && soma_rng_uniform(&d->rng) < soma_dqn_epsilon(d))
        return (int)soma_rng_below(&d->rng, (uint64_t)d->n_actions);
    const float *y;
    if (soma_net_forward(d->net, obs, 1, SOMA_MODE_EVAL, &y) != SOMA_OK) return 0;
    return soma_argmax(y, d->n_actions);
}

void soma_dqn_sync_target(soma_dqn *d) {
    size_t n, m;
    float *src = soma_net_flat_values(d->net, &n), *dst = soma_net_flat_values(d->target, &m);
    memcpy(dst, src, (n < m ? n : m) * sizeof(float));
}

static void dqn_polyak(soma_dqn *d) {
    size_t n, m;
    float *src = soma_net_flat_values(d->net, &n), *dst = soma_net_flat_values(d->target, &m);
    float tau = d->cfg.tau;
    for (size_t i = 0; i < n && i < m; i++) dst[i] += tau * (src[i] - dst[i]);
}

soma_status soma_dqn_loss_grad(soma_dqn *d, const float *obs, const int *action,
                               const float *reward, const float *next_obs, const float *terminal,
                               int n, float *loss) {
    if (!d || !obs || !action || !reward || !next_obs || !terminal)
        return soma_error(SOMA_ERR_ARG, "dqn: NULL batch");
    if (n < 1 || n > d->cfg.batch)
        return soma_error(SOMA_ERR_ARG, "dqn: batch of %d outside 1..%d", n, d->cfg.batch);
    const int A = d->n_actions;
    const float gamma = d->cfg.gamma;
    const float *q;
    // targets first: the online net's activations must be those of obs at backward
    SOMA_TRY(soma_net_forward(d->target, next_obs, n, SOMA_MODE_EVAL, &q));
    if (d->cfg.double_dqn) {
        memcpy(d->b_dq, q, (size_t)n * A * sizeof(float));
        const float *qo;
        SOMA_TRY(soma_net_forward(d->net, next_obs, n, SOMA_MODE_EVAL, &qo));
        for (int k = 0; k < n; k++) {
            int a = soma_argmax(qo + (size_t)k * A, A);
            d->b_y[k] = reward[k] + (terminal[k] != 0.f ? 0.f : gamma * d->b_dq[(size_t)k * A + a]);
        }
    } else {
        for (int k = 0; k < n; k++) {
            const float *qk = q + (size_t)k * A;
            float best = qk[soma_argmax(qk, A)];
            d->b_y[k] = reward[k] + (terminal[k] != 0.f ? 0.f : gamma * best);
        }
    }
    soma_net_zero_grad(d->net);
    SOMA_TRY(soma_net_forward(d->net, obs, n, SOMA_MODE_TRAIN, &q));
    double total = 0;
    memset(d->b_dq, 0, (size_t)n * A * sizeof(float));
    for (int k = 0; k < n; k++) {
        int a = action[k];
        if (a < 0 || a >= A) return soma_error(SOMA_ERR_ARG, "dqn: action %d outside 0..%d", a, A - 1);
        float e = q[(size_t)k * A + a] - d->b_y[k], g;
        if (d->cfg.huber && fabsf(e) > 1.f) {
            total += fabsf(e) - 0.5f;
            g = e > 0 ? 1.f : -1.f;
        } else {
            total += 0.5f * e * e;
            g = e;
        }
        d->b_dq[(size_t)k * A + a] = g / (float)n;
    }
    SOMA_TRY(soma_net_backward(d->net, d->b_dq, n));
    if (loss) *loss = (float)(total / n);
    return SOMA_OK;
}

soma_status soma_dqn_train_step(soma_dqn *d, float *loss) {
    if (!d) return soma_error(SOMA_ERR_ARG, "dqn: NULL agent");
    if (soma_replay_size(d->rb) < 1) return soma_error(SOMA_ERR_ARG, "dqn: empty replay buffer");
    int B = d->cfg.batch;
    soma_replay_sample(d->rb, &d->rng, B, d->b_obs, d->b_action, d->b_reward, d->b_next, d->b_term);
    SOMA_TRY(soma_dqn_loss_grad(d, d->b_obs, d->b_action, d->b_reward, d->b_next, d->b_term, B, loss));
    if (d->cfg.grad_clip > 0.f) {
        size_t n;
        float *g = soma_net_flat_grads(d->net, &n);
        double ss = 0;
        for (size_t i = 0; i < n; i++) ss += (double)g[i] * g[i];
        double norm = sqrt(ss);
        if (norm > d->cfg.grad_clip) {
            float s = (float)(d->cfg.grad_clip / norm);
            for (size_t i = 0; i < n; i++) g[i] *= s;
        }
    }
    soma_optim_step(d->opt, d->cfg.lr);
    d->grad_steps++;
    if (d->cfg.target_update > 0) {
        if (d->grad_steps % d->cfg.target_update == 0) soma_dqn_sync_target(d);
    } else {
        dqn_polyak(d);
    }
    return SOMA_OK;
}

soma_status soma_dqn_observe(soma_dqn *d, const float *obs, int action, double reward,
                             const float *next_obs, int done, float *loss) {
    if (loss) *loss = -1.f;
    if (!d || !obs || !next_obs) return soma_error(SOMA_ERR_ARG, "dqn: NULL argument");
    if (action < 0 || action >= d->n_actions)
        return soma_error(SOMA_ERR_ARG, "dqn: action %d outside 0..%d", action, d->n_actions - 1);
    soma_replay_add(d->rb, obs, action, (float)reward, next_obs, done == SOMA_TERMINAL);
    d->env_steps++;
    if (d->env_steps >= d->cfg.learn_start && d->env_steps % d->cfg.train_every == 0)
        return soma_dqn_train_step(d, loss);
    return SOMA_OK;
}

// --- checkpoints -----------------------------------------------------------------------

typedef struct dqn_counters {
    char magic[8];
    int64_t env_steps, grad_steps;
} dqn_counters;

soma_status soma_dqn_save(soma_dqn *d, const char *path) {
    if (!d || !path) return soma_error(SOMA_ERR_ARG, "dqn: NULL agent or path");
    size_t n;
    float *tv = soma_net_flat_values(d->target, &n);
    dqn_counters c;
    memset(&c, 0, sizeof c);
    memcpy(c.magic, "SOMADQN1", 8);
    c.env_steps = d->env_steps;
    c.grad_steps = d->grad_steps;
    soma_ckpt_section sec[3] = {{"dqn.counters", &c, sizeof c},
                                {"dqn.target", tv, n * sizeof(float)},
                                {"dqn.rng", &d->rng, sizeof d->rng}};
    soma_ckpt_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.step = d->grad_steps;
    meta.seed = d->cfg.seed;
    return soma_ckpt_save_ex(path, d->net, d->opt, &meta, sec, 3);
}

soma_status soma_dqn_load(soma_dqn *d, const char *path) {
    if (!d || !path) return soma_error(SOMA_ERR_ARG, "dqn: NULL agent or path");
    size_t n;
    float *tv = soma_net_flat_values(d->target, &n);
    // check the sections against a scratch copy first: nothing changes on failure
    soma_net *probe = NULL;
    SOMA_TRY(soma_net_clone(d->net, 0, 2, &probe));
    soma_ckpt_meta meta;
    soma_ckpt_section *sec = NULL;
    int n_sec = 0;
    soma_status st = soma_ckpt_load_ex(path, probe, NULL, &meta, &sec, &n_sec);
    const soma_ckpt_section *c = NULL, *t = NULL, *r = NULL;
    if (st == SOMA_OK) {
        c = soma_ckpt_section_find(sec, n_sec, "dqn.counters");
        t = soma_ckpt_section_find(sec, n_sec, "dqn.target");
        r = soma_ckpt_section_find(sec, n_sec, "dqn.rng");
        if (!c || c->size != sizeof(dqn_counters) || memcmp(c->data, "SOMADQN1", 8) != 0 || !t ||
            t->size != n * sizeof(float) || !r || r->size != sizeof d->rng)
            st = soma_error(SOMA_ERR_FORMAT,
                            "dqn: %s: missing or mismatched dqn sections; HINT: save it with soma_dqn_save", path);
    }
    if (st == SOMA_OK) st = soma_ckpt_load(path, d->net, d->opt, &meta);
    if (st == SOMA_OK) {
        dqn_counters cc;
        memcpy(&cc, c->data, sizeof cc);
        d->env_steps = (long)cc.env_steps;
        d->grad_steps = (long)cc.grad_steps;
        memcpy(tv, t->data, t->size);
        memcpy(&d->rng, r->data, sizeof d->rng);
    }
    soma_ckpt_sections_free(sec, n_sec);
    soma_net_free(probe);
    return st;
}
