// The variational autoencoder (Kingma & Welling 2014): an encoder and a decoder net from nn specs,
// the reparameterisation trick, Bernoulli / Gaussian / Poisson likelihoods, the negative ELBO
// with a KL weight and warm-up, and its gradient through both nets' own backward ops.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "soma/learn.h"

#define HIDDEN_CAP 200

struct soma_vae {
    soma_vae_opts o;
    char enc_hidden[HIDDEN_CAP], dec_hidden[HIDDEN_CAP];
    soma_shape in;
    int D, L, OD, MB; /* data size, latent size, decoder outputs (D or 2D), max rows */
    soma_net *enc, *dec;
    soma_optim *opt_e, *opt_d; /* NULL in a frozen clone */
    soma_rng rng;
    long steps;
    float *eps, *z, *dz, *dh, *dout; /* [MB*L] x3, [MB*2L], [MB*OD] */
    double *row;                     /* [MB] per-row sums, added in order (thread-count free) */
};

static const char *const lik_names_[SOMA_VAE_LIK_COUNT] = {"bernoulli", "gaussian", "poisson"};

const char *soma_vae_lik_name(soma_vae_lik k) { return (int)k >= 0 && k < SOMA_VAE_LIK_COUNT ? lik_names_[k] : "?"; }

soma_status soma_vae_lik_parse(const char *name, soma_vae_lik *k) {
    for (int i = 0; i < SOMA_VAE_LIK_COUNT; i++)
        if (name && strcmp(name, lik_names_[i]) == 0) {
            *k = (soma_vae_lik)i;
            return SOMA_OK;
        }
    return soma_error(SOMA_ERR_ARG, "vae: unknown likelihood '%s' (bernoulli, gaussian, poisson)", name ? name : "");
}

soma_vae_opts soma_vae_opts_default(void) {
    soma_vae_opts o;
    memset(&o, 0, sizeof o);
    o.latent = 32;
    o.enc_hidden = "fc400,relu";
    o.dec_hidden = NULL;
    o.lik = SOMA_VAE_BERNOULLI;
    o.beta = 1.f;
    o.optim = soma_optim_defaults(SOMA_OPTIM_ADAM);
    o.lr = 1e-3f;
    o.max_batch = 256;
    o.seed = 1;
    return o;
}

static soma_status check_opts_(const soma_vae_opts *o) {
    if (o->latent < 1 || o->latent > 4096) return soma_error(SOMA_ERR_ARG, "vae: latent %d out of range (1..4096)", o->latent);
    if ((int)o->lik < 0 || o->lik >= SOMA_VAE_LIK_COUNT) return soma_error(SOMA_ERR_ARG, "vae: unknown likelihood %d", (int)o->lik);
    if (!(o->beta >= 0) || !isfinite(o->beta)) return soma_error(SOMA_ERR_ARG, "vae: beta %g must be >= 0", (double)o->beta);
    if (o->warmup < 0) return soma_error(SOMA_ERR_ARG, "vae: warmup %ld must be >= 0", o->warmup);
    if (!(o->lr > 0) || !isfinite(o->lr)) return soma_error(SOMA_ERR_ARG, "vae: learning rate %g must be positive", (double)o->lr);
    if (o->max_batch < 1 || o->max_batch > 65536)
        return soma_error(SOMA_ERR_ARG, "vae: max_batch %d out of range (1..65536)", o->max_batch);
    if (!isfinite(o->gauss_logvar) || fabsf(o->gauss_logvar) > 30.f)
        return soma_error(SOMA_ERR_ARG, "vae: gauss_logvar %g out of range (-30..30)", (double)o->gauss_logvar);
    if (o->learn_var && o->lik != SOMA_VAE_GAUSSIAN)
        return soma_error(SOMA_ERR_ARG, "vae: learn_var needs the gaussian likelihood, not %s", soma_vae_lik_name(o->lik));
    const char *h[2] = {o->enc_hidden, o->dec_hidden};
    for (int i = 0; i < 2; i++)
        if (h[i] && strlen(h[i]) >= HIDDEN_CAP - 16)
            return soma_error(SOMA_ERR_ARG, "vae: %s hidden spec longer than %d characters", i ? "decoder" : "encoder",
                              HIDDEN_CAP - 16);
    return SOMA_OK;
}

/* "<hidden>,fc<k>" or "fc<k>". */
static void spec_(char *buf, size_t cap, const char *hidden, int k) {
    if (hidden && hidden[0]) snprintf(buf, cap, "%s,fc%d", hidden, k);
    else snprintf(buf, cap, "fc%d", k);
}

static soma_status buffers_(soma_vae *v) {
    const size_t mb = (size_t)v->MB;
    v->eps = soma_alloc(mb * v->L, sizeof(float));
    v->z = soma_alloc(mb * v->L, sizeof(float));
    v->dz = soma_alloc(mb * v->L, sizeof(float));
    v->dh = soma_alloc(mb * 2 * v->L, sizeof(float));
    v->dout = soma_alloc(mb * v->OD, sizeof(float));
    v->row = soma_alloc(mb, 2 * sizeof(double));
    if (!v->eps || !v->z || !v->dz || !v->dh || !v->dout || !v->row) return soma_error(SOMA_ERR_NOMEM, "vae: no memory for buffers");
    SOMA_TRY(soma_net_reserve(v->enc, v->MB));
    return soma_net_reserve(v->dec, v->MB);
}

soma_status soma_vae_new(soma_vae **out, const soma_vae_opts *o, soma_shape in) {
    *out = NULL;
    SOMA_TRY(check_opts_(o));
    if (!soma_shape_ok(in)) return soma_error(SOMA_ERR_SHAPE, "vae: bad input shape");
    const size_t D = soma_shape_size(in);
    if (D < 1 || D > (1u << 24)) return soma_error(SOMA_ERR_SHAPE, "vae: %zu values a sample out of range", D);
    soma_vae *v = soma_calloc(1, sizeof *v);
    if (!v) return SOMA_ERR_NOMEM;
    v->o = *o;
    snprintf(v->enc_hidden, sizeof v->enc_hidden, "%s", o->enc_hidden ? o->enc_hidden : "");
    snprintf(v->dec_hidden, sizeof v->dec_hidden, "%s", o->dec_hidden ? o->dec_hidden : v->enc_hidden);
    v->o.enc_hidden = v->enc_hidden;
    v->o.dec_hidden = v->dec_hidden;
    v->in = in;
    v->D = (int)D;
    v->L = o->latent;
    v->OD = o->learn_var ? 2 * v->D : v->D;
    v->MB = o->max_batch;
    soma_rng_seed(&v->rng, o->seed, 0x766165ULL);
    char spec[HIDDEN_CAP + 32];
    soma_status st;
    spec_(spec, sizeof spec, v->enc_hidden, 2 * v->L);
    if ((st = soma_net_new(&v->enc, spec, in, o->seed * 2 + 1)) != SOMA_OK) goto fail;
    spec_(spec, sizeof spec, v->dec_hidden, v->OD);
    if ((st = soma_net_new(&v->dec, spec, soma_shape1(v->L), o->seed * 2 + 2)) != SOMA_OK) goto fail;
    if ((st = soma_optim_new(&v->opt_e, v->enc, &o->optim)) != SOMA_OK) goto fail;
    if ((st = soma_optim_new(&v->opt_d, v->dec, &o->optim)) != SOMA_OK) goto fail;
    if ((st = buffers_(v)) != SOMA_OK) goto fail;
    *out = v;
    return SOMA_OK;
fail:
    soma_vae_free(v);
    return st;
}

void soma_vae_free(soma_vae *v) {
    if (!v) return;
    soma_optim_free(v->opt_e);
    soma_optim_free(v->opt_d);
    soma_net_free(v->enc);
    soma_net_free(v->dec);
    soma_free(v->eps);
    soma_free(v->z);
    soma_free(v->dz);
    soma_free(v->dh);
    soma_free(v->dout);
    soma_free(v->row);
    soma_free(v);
}

soma_status soma_vae_clone(const soma_vae *v, soma_vae **out) {
    *out = NULL;
    soma_vae *c = soma_calloc(1, sizeof *c);
    if (!c) return SOMA_ERR_NOMEM;
    *c = *v;
    c->o.enc_hidden = c->enc_hidden;
    c->o.dec_hidden = c->dec_hidden;
    c->enc = c->dec = NULL;
    c->opt_e = c->opt_d = NULL;
    c->eps = c->z = c->dz = c->dh = c->dout = NULL;
    c->row = NULL;
    soma_status st;
    if ((st = soma_net_clone(v->enc, 0, 0, &c->enc)) != SOMA_OK || (st = soma_net_clone(v->dec, 0, 0, &c->dec)) != SOMA_OK ||
        (st = buffers_(c)) != SOMA_OK) {
        soma_vae_free(c);
        return st;
    }
    *out = c;
    return SOMA_OK;
}

soma_status soma_vae_copy_values(soma_vae *dst, const soma_vae *src) {
    soma_net *ns[2] = {src->enc, src->dec}, *nd[2] = {dst->enc, dst->dec};
    for (int i = 0; i < 2; i++) {
        size_t a, b;
        float *s = soma_net_flat_values(ns[i], &a), *d = soma_net_flat_values(nd[i], &b);
        if (a != b || dst->D != src->D || dst->L != src->L || dst->OD != src->OD)
            return soma_error(SOMA_ERR_SHAPE, "vae: copy between VAEs of different shapes");
        memcpy(d, s, a * sizeof(float));
    }
    return SOMA_OK;
}

static double beta_eff_(const soma_vae *v) {
    if (v->o.warmup <= 0) return v->o.beta;
    const double r = (double)(v->steps + 1) / (double)v->o.warmup;
    return v->o.beta * (r < 1.0 ? r : 1.0);
}

/* NLL of row x [D] under decoder output y [OD], its gradient (times s) into g [OD]. */
static double nll_row_(const soma_vae *v, const float *x, const float *y, float *g, float s) {
    const int D = v->D;
    double acc = 0.0;
    switch (v->o.lik) {
    case SOMA_VAE_BERNOULLI:
        for (int j = 0; j < D; j++) {
            const double l = y[j];
            const double sp = l > 0 ? l + log1p(exp(-l)) : log1p(exp(l)); /* softplus */
            acc += sp - (double)x[j] * l;
            const double sig = l >= 0 ? 1.0 / (1.0 + exp(-l)) : exp(l) / (1.0 + exp(l));
            g[j] = s * (float)(sig - x[j]);
        }
        break;
    case SOMA_VAE_GAUSSIAN: {
        const double l2pi = log(6.283185307179586);
        if (v->o.learn_var) {
            for (int j = 0; j < D; j++) {
                const double d = (double)x[j] - y[j], lv = y[D + j], iv = exp(-lv);
                acc += 0.5 * (d * d * iv + lv + l2pi);
                g[j] = s * (float)(-d * iv);
                g[D + j] = s * (float)(0.5 * (1.0 - d * d * iv));
            }
        } else {
            const double lv = v->o.gauss_logvar, iv = exp(-lv);
            for (int j = 0; j < D; j++) {
                const double d = (double)x[j] - y[j];
                acc += 0.5 * (d * d * iv + lv + l2pi);
                g[j] = s * (float)(-d * iv);
            }
        }
        break;
    }
    case SOMA_VAE_POISSON:
        for (int j = 0; j < D; j++) {
            const double r = y[j], er = exp(r);
            acc += er - (double)x[j] * r + lgamma((double)x[j] + 1.0);
            g[j] = s * (float)(er - x[j]);
        }
        break;
    default:
        break;
    }
    return acc;
}

soma_status soma_vae_grad(soma_vae *v, const float *x, int n, const float *eps, soma_vae_loss *parts) {
    if (n < 1 || n > v->MB) return soma_error(SOMA_ERR_ARG, "vae: batch of %d rows (1..%d, max_batch)", n, v->MB);
    const int L = v->L, OD = v->OD;
    soma_net_zero_grad(v->enc);
    soma_net_zero_grad(v->dec);
    const float *h;
    SOMA_TRY(soma_net_forward(v->enc, x, n, SOMA_MODE_TRAIN, &h));
    if (eps) memcpy(v->eps, eps, (size_t)n * L * sizeof(float));
    else soma_rng_normal_fill(&v->rng, v->eps, (size_t)n * L, 0.f, 1.f);
    for (int i = 0; i < n; i++) {
        const float *mu = h + (size_t)i * 2 * L, *lv = mu + L;
        float *z = v->z + (size_t)i * L;
        const float *e = v->eps + (size_t)i * L;
        for (int j = 0; j < L; j++) z[j] = mu[j] + expf(0.5f * lv[j]) * e[j];
    }
    const float *y;
    SOMA_TRY(soma_net_forward(v->dec, v->z, n, SOMA_MODE_TRAIN, &y));
    const float s = 1.f / (float)n;
    double *rrec = v->row, *rkl = v->row + v->MB;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((long)n * v->D > 65536)
#endif
    for (int i = 0; i < n; i++)
        rrec[i] = nll_row_(v, x + (size_t)i * v->D, y + (size_t)i * OD, v->dout + (size_t)i * OD, s);
    SOMA_TRY(soma_net_backward_ex(v->dec, v->dout, n, SOMA_GRAD_PARAMS | SOMA_GRAD_INPUT, v->dz));
    const double be = beta_eff_(v);
    const float bs = (float)be * s;
    for (int i = 0; i < n; i++) {
        const float *mu = h + (size_t)i * 2 * L, *lv = mu + L;
        const float *e = v->eps + (size_t)i * L, *dz = v->dz + (size_t)i * L;
        float *dmu = v->dh + (size_t)i * 2 * L, *dlv = dmu + L;
        double kl = 0.0;
        for (int j = 0; j < L; j++) {
            const double elv = exp((double)lv[j]);
            kl += 0.5 * ((double)mu[j] * mu[j] + elv - 1.0 - lv[j]);
            dmu[j] = dz[j] + bs * mu[j];
            dlv[j] = dz[j] * e[j] * 0.5f * expf(0.5f * lv[j]) + bs * 0.5f * (float)(elv - 1.0);
        }
        rkl[i] = kl;
    }
    SOMA_TRY(soma_net_backward(v->enc, v->dh, n));
    double rec = 0.0, kl = 0.0;
    for (int i = 0; i < n; i++) {
        rec += rrec[i];
        kl += rkl[i];
    }
    rec /= n;
    kl /= n;
    if (parts) *parts = (soma_vae_loss){.loss = rec + be * kl, .rec = rec, .kl = kl, .beta = be};
    if (!isfinite(rec) || !isfinite(kl))
        return soma_error(SOMA_ERR_ARG, "vae: the loss became %g (rec) + %g (kl); HINT: lower the learning rate", rec, kl);
    return SOMA_OK;
}

soma_status soma_vae_step(soma_vae *v, const float *x, int n, soma_vae_loss *parts) {
    if (!v->opt_e) return soma_error(SOMA_ERR_ARG, "vae: a frozen copy (soma_vae_clone) cannot be trained");
    SOMA_TRY(soma_vae_grad(v, x, n, NULL, parts));
    soma_optim_step(v->opt_e, v->o.lr);
    soma_optim_step(v->opt_d, v->o.lr);
    v->steps++;
    return SOMA_OK;
}

soma_status soma_vae_train(soma_vae *v, const soma_dataset *d, int epochs, int batch, soma_vae_loss *last) {
    if (!v->opt_e) return soma_error(SOMA_ERR_ARG, "vae: a frozen copy (soma_vae_clone) cannot be trained");
    if (d->dim != (size_t)v->D)
        return soma_error(SOMA_ERR_SHAPE, "vae: data of %zu values a sample, the VAE takes %d", d->dim, v->D);
    if (epochs < 1 || epochs > 100000) return soma_error(SOMA_ERR_ARG, "vae: epochs %d out of range (1..100000)", epochs);
    if (batch < 1 || batch > v->MB) return soma_error(SOMA_ERR_ARG, "vae: batch %d out of range (1..%d, max_batch)", batch, v->MB);
    if (d->n < 1) return soma_error(SOMA_ERR_ARG, "vae: empty data set");
    int *perm = soma_alloc((size_t)d->n, sizeof(int));
    float *xb = soma_alloc((size_t)batch, (size_t)v->D * sizeof(float));
    soma_status st = perm && xb ? SOMA_OK : SOMA_ERR_NOMEM;
    soma_vae_loss acc = {0};
    for (int e = 0; e < epochs && st == SOMA_OK; e++) {
        soma_rng_permutation(&v->rng, perm, d->n);
        memset(&acc, 0, sizeof acc);
        for (int off = 0; off < d->n && st == SOMA_OK; off += batch) {
            const int m = d->n - off < batch ? d->n - off : batch;
            soma_dataset_batch(d, perm + off, m, xb, NULL);
            soma_vae_loss p;
            if ((st = soma_vae_step(v, xb, m, &p)) != SOMA_OK) break;
            acc.loss += p.loss * m;
            acc.rec += p.rec * m;
            acc.kl += p.kl * m;
            acc.beta = p.beta;
            if (soma_cancel_requested()) /* Ctrl-C from Python: once per batch */
                st = soma_error(SOMA_ERR_CANCELLED, "vae: training cancelled in epoch %d", e + 1);
        }
    }
    if (st == SOMA_OK && last) {
        acc.loss /= d->n;
        acc.rec /= d->n;
        acc.kl /= d->n;
        *last = acc;
    }
    soma_free(perm);
    soma_free(xb);
    return st;
}

soma_status soma_vae_encode(soma_vae *v, const float *x, int n, float *mu, float *lv) {
    const int L = v->L;
    for (int off = 0; off < n; off += v->MB) {
        const int m = n - off < v->MB ? n - off : v->MB;
        const float *h;
        SOMA_TRY(soma_net_forward(v->enc, x + (size_t)off * v->D, m, SOMA_MODE_EVAL, &h));
        for (int i = 0; i < m; i++) {
            memcpy(mu + (size_t)(off + i) * L, h + (size_t)i * 2 * L, (size_t)L * sizeof(float));
            if (lv) memcpy(lv + (size_t)(off + i) * L, h + (size_t)i * 2 * L + L, (size_t)L * sizeof(float));
        }
    }
    return SOMA_OK;
}

soma_status soma_vae_decode(soma_vae *v, const float *z, int n, float *out) {
    const int D = v->D, OD = v->OD;
    for (int off = 0; off < n; off += v->MB) {
        const int m = n - off < v->MB ? n - off : v->MB;
        const float *y;
        SOMA_TRY(soma_net_forward(v->dec, z + (size_t)off * v->L, m, SOMA_MODE_EVAL, &y));
        for (int i = 0; i < m; i++) {
            const float *r = y + (size_t)i * OD;
            float *o = out + (size_t)(off + i) * D;
            switch (v->o.lik) {
            case SOMA_VAE_BERNOULLI:
                for (int j = 0; j < D; j++) o[j] = r[j] >= 0 ? 1.f / (1.f + expf(-r[j])) : expf(r[j]) / (1.f + expf(r[j]));
                break;
            case SOMA_VAE_POISSON:
                for (int j = 0; j < D; j++) o[j] = expf(r[j]);
                break;
            default:
                memcpy(o, r, (size_t)D * sizeof(float));
                break;
            }
        }
    }
    return SOMA_OK;
}

soma_status soma_vae_sample(soma_vae *v, int n, float *out) {
    if (n < 0) return soma_error(SOMA_ERR_ARG, "vae: %d samples", n);
    for (int off = 0; off < n; off += v->MB) {
        const int m = n - off < v->MB ? n - off : v->MB;
        soma_rng_normal_fill(&v->rng, v->z, (size_t)m * v->L, 0.f, 1.f);
        SOMA_TRY(soma_vae_decode(v, v->z, m, out + (size_t)off * v->D));
    }
    return SOMA_OK;
}

soma_net *soma_vae_encoder(soma_vae *v) { return v->enc; }
soma_net *soma_vae_decoder(soma_vae *v) { return v->dec; }
int soma_vae_latent(const soma_vae *v) { return v->L; }
size_t soma_vae_dim(const soma_vae *v) { return (size_t)v->D; }

static size_t net_bytes_(soma_net *net, int mb) {
    size_t np;
    soma_net_flat_values(net, &np);
    size_t b = 2 * np * sizeof(float); /* values and grads */
    const int nl = soma_net_n_layers(net);
    for (int i = 0; i < nl; i++) b += soma_shape_size(soma_net_layer(net, i)->out) * (size_t)mb * sizeof(float);
    b += soma_shape_size(soma_net_in_shape(net)) * (size_t)mb * sizeof(float);
    return b;
}

size_t soma_vae_memory(const soma_vae *v) {
    size_t b = sizeof *v + net_bytes_(v->enc, v->MB) + net_bytes_(v->dec, v->MB);
    soma_optim *o[2] = {v->opt_e, v->opt_d};
    for (int i = 0; i < 2; i++)
        if (o[i]) {
            size_t ns = 0;
            soma_optim_state(o[i], &ns);
            b += ns * sizeof(float);
        }
    b += (size_t)v->MB * ((size_t)5 * v->L + v->OD) * sizeof(float) + (size_t)v->MB * 2 * sizeof(double);
    return b;
}
