// NDT training: batches drawn across sessions, masked modelling, AdamW with warm-up + cosine,
// gradient clipping, validation, progress and periodic checkpoints. Contract in soma/neuro.h.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "neuro/ndt_internal.h"

soma_ndt_train_opts soma_ndt_train_default(void) {
    return (soma_ndt_train_opts){.steps = 2000, .batch = 32, .mix = 1, .mask_ratio = 0.25f,
                                 .mask = SOMA_NDT_MASK_BOTH, .forecast_bins = 0, .forecast_share = 0.5f,
                                 .lr = 1e-3f, .lr_min = 1e-5f, .warmup = 100, .weight_decay = 0.01f, .clip = 1.f,
                                 .train_trunk = 1, .valid_frac = 0.1f, .eval_every = 100, .ckpt_every = 0,
                                 .ckpt_path = NULL, .progress = 0, .seed = 1};
}

long soma_ndt_step(const soma_ndt *m) { return m->step; }
soma_ndt_train_opts soma_ndt_get_train_opts(const soma_ndt *m) { return m->o; }

soma_ndt_history soma_ndt_get_history(const soma_ndt *m) {
    return (soma_ndt_history){.n_evals = m->n_hist, .step = m->h_step, .train_nll = m->h_train,
                              .valid_nll = m->h_valid, .valid_bps = m->h_bps, .train_seconds = m->secs};
}

void soma_ndt_reset_run(soma_ndt *m) {
    m->running = 0;
    m->step = 0;
    m->secs = 0, m->acc_loss = 0, m->acc_n = 0;
    m->n_hist = 0;
    m->fp_n = 0;
    for (int s = 0; s < m->n_sess; s++) {
        soma__ndt_sess *x = &m->sess[s];
        memset(x->m1, 0, x->n * sizeof(float));
        memset(x->m2, 0, x->n * sizeof(float));
        x->t = 0;
    }
    if (m->sm1) {
        memset(m->sm1, 0, (size_t)m->a.subjects * m->D * sizeof(float));
        memset(m->sm2, 0, (size_t)m->a.subjects * m->D * sizeof(float));
    }
    m->st = 0;
    soma_optim *old = m->opt;
    m->opt = NULL;
    if (soma__ndt_new_opt(m, m->opt_wd) != SOMA_OK) m->opt = old; /* out of memory: keep the old state */
    else soma_optim_free(old);
}

/* The options that must match to continue a run bit for bit. */
static int same_run_opts_(const soma_ndt_train_opts *a, const soma_ndt_train_opts *b) {
    return a->steps == b->steps && a->batch == b->batch && a->mix == b->mix && a->mask_ratio == b->mask_ratio &&
           a->mask == b->mask && a->forecast_bins == b->forecast_bins && a->forecast_share == b->forecast_share &&
           a->lr == b->lr && a->lr_min == b->lr_min && a->warmup == b->warmup && a->weight_decay == b->weight_decay &&
           a->clip == b->clip && a->train_trunk == b->train_trunk && a->valid_frac == b->valid_frac &&
           a->eval_every == b->eval_every && a->seed == b->seed;
}

static soma_status check_opts_(const soma_ndt_train_opts *o) {
    if (o->steps < 0 || o->batch < 1 || o->batch > 65536 || o->mix < 1 || !(o->mask_ratio > 0 && o->mask_ratio < 1) ||
        (int)o->mask < 0 || o->mask >= SOMA_NDT_MASK_KIND_COUNT || o->forecast_bins < 0 ||
        !(o->forecast_share >= 0 && o->forecast_share <= 1) || !(o->lr > 0) || !isfinite(o->lr) ||
        !(o->lr_min >= 0) || o->lr_min > o->lr || o->warmup < 0 || !(o->weight_decay >= 0) || !(o->clip >= 0) ||
        !(o->valid_frac >= 0 && o->valid_frac < 1) || o->eval_every < 1 || o->ckpt_every < 0 ||
        (o->ckpt_every > 0 && (!o->ckpt_path || !*o->ckpt_path)))
        return soma_error(SOMA_ERR_ARG,
                          "ndt: bad training option (steps %ld >= 0, batch %d >= 1, mix %d >= 1, mask ratio %g in "
                          "(0,1), forecast bins %d >= 0, share %g in [0,1], lr %g > 0 >= lr_min %g, warmup %ld >= "
                          "0, weight decay %g >= 0, clip %g >= 0, valid_frac %g in [0,1), eval_every %ld >= 1, "
                          "ckpt_every %ld >= 0 with a path)",
                          o->steps, o->batch, o->mix, (double)o->mask_ratio, o->forecast_bins,
                          (double)o->forecast_share, (double)o->lr, (double)o->lr_min, o->warmup,
                          (double)o->weight_decay, (double)o->clip, (double)o->valid_frac, o->eval_every,
                          o->ckpt_every);
    return SOMA_OK;
}

/* Per data set: its trials split into training and validation trials (seeded). */
typedef struct split_ {
    int n_train, n_valid;
    int *perm; /* [trials]: perm[0..n_train) training, the rest validation */
    double *null_mu; /* [units] mean count of each unit over the validation trials */
} split_;

static void splits_free_(split_ *sp, int n) {
    if (!sp) return;
    for (int i = 0; i < n; i++) soma_free(sp[i].perm), soma_free(sp[i].null_mu);
    soma_free(sp);
}

/* Global gradient norm over what this step updates; scales them to clip. */
static void clip_(soma_ndt *m, int ng, int train_trunk, float clip) {
    if (clip <= 0) return;
    double ss = 0;
    size_t n;
    float *tg = NULL;
    if (train_trunk) {
        tg = soma_net_flat_grads(m->trunk, &n);
        for (size_t i = 0; i < n; i++) ss += (double)tg[i] * tg[i];
        if (m->sg)
            for (size_t i = 0; i < (size_t)m->a.subjects * m->D; i++) ss += (double)m->sg[i] * m->sg[i];
    }
    for (int g = 0; g < ng; g++) {
        const soma__ndt_sess *s = &m->sess[m->gs[g]];
        for (size_t i = 0; i < s->n; i++) ss += (double)s->g[i] * s->g[i];
    }
    const double norm = sqrt(ss);
    if (!(norm > clip)) return;
    const float f = (float)(clip / norm);
    if (train_trunk) {
        for (size_t i = 0; i < n; i++) tg[i] *= f;
        if (m->sg)
            for (size_t i = 0; i < (size_t)m->a.subjects * m->D; i++) m->sg[i] *= f;
    }
    for (int g = 0; g < ng; g++) {
        soma__ndt_sess *s = &m->sess[m->gs[g]];
        for (size_t i = 0; i < s->n; i++) s->g[i] *= f;
    }
}

/* torch.optim.AdamW on n values; decay applies where dec is set. */
static void adamw_(float *p, const float *g, float *m1, float *m2, size_t n, long t, float lr, float wd, int dec) {
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    const float c1 = 1.f - powf(b1, (float)t), c2 = 1.f - powf(b2, (float)t);
    const float shrink = dec ? 1.f - lr * wd : 1.f;
    for (size_t i = 0; i < n; i++) {
        p[i] *= shrink;
        m1[i] = b1 * m1[i] + (1.f - b1) * g[i];
        m2[i] = b2 * m2[i] + (1.f - b2) * g[i] * g[i];
        p[i] -= lr * (m1[i] / c1) / (sqrtf(m2[i] / c2) + eps);
    }
}

static void update_(soma_ndt *m, int ng, int train_trunk, float lr, float wd) {
    if (train_trunk) {
        soma_optim_step(m->opt, lr);
        if (m->sp) {
            m->st++;
            adamw_(m->sp, m->sg, m->sm1, m->sm2, (size_t)m->a.subjects * m->D, m->st, lr, wd, 0);
        }
    }
    for (int g = 0; g < ng; g++) {
        soma__ndt_sess *s = &m->sess[m->gs[g]];
        size_t off[NDT_NPART + 1];
        soma__ndt_offsets(s->N, m->D, off);
        s->t++;
        for (int part = 0; part < NDT_NPART; part++)
            adamw_(s->p + off[part], s->g + off[part], s->m1 + off[part], s->m2 + off[part], off[part + 1] - off[part],
                   s->t, lr, wd, part == NDT_WIN || part == NDT_WOUT);
    }
}

/* Draws one batch into the buffers: groups sorted by data index; returns the group count. */
static int draw_batch_(soma_ndt *m, const soma_ndt_data *d, int n, const split_ *sp, const soma_ndt_train_opts *o) {
    const int T = m->T;
    int mix = o->mix;
    int n_ok = 0;
    long total = 0;
    for (int i = 0; i < n; i++)
        if (sp[i].n_train > 0) n_ok++, total += sp[i].n_train;
    if (mix > n_ok) mix = n_ok;
    if (mix > o->batch) mix = o->batch;
    /* choose `mix` data sets without replacement, weighted by training trials */
    int ng = 0;
    long left = total;
    for (int g = 0; g < mix; g++) {
        long r = (long)soma_rng_below(&m->rng, (uint64_t)left);
        for (int i = 0; i < n; i++) {
            int taken = 0;
            for (int j = 0; j < ng; j++) taken |= m->gd[j] == i;
            if (taken || sp[i].n_train == 0) continue;
            if (r < sp[i].n_train) {
                m->gd[ng++] = i;
                left -= sp[i].n_train;
                break;
            }
            r -= sp[i].n_train;
        }
    }
    for (int a = 1; a < ng; a++) /* insertion sort by data index */
        for (int b = a; b > 0 && m->gd[b - 1] > m->gd[b]; b--) {
            const int t = m->gd[b];
            m->gd[b] = m->gd[b - 1], m->gd[b - 1] = t;
        }
    size_t ox = 0;
    for (int g = 0; g < ng; g++) {
        const int di = m->gd[g], k = o->batch / ng + (g < o->batch % ng);
        const soma_counts *c = d[di].counts;
        const int N = c->n_units, nt = sp[di].n_train;
        m->gs[g] = d[di].session, m->gk[g] = k;
        /* trials: a uniform subset when k <= n_train (selection sampling), else all then draws */
        int got = 0;
        if (k >= nt)
            for (int i = 0; i < nt; i++) m->idx[got++] = sp[di].perm[i];
        else
            for (int i = 0, want = k; i < nt && want > 0; i++)
                if ((int)soma_rng_below(&m->rng, (uint64_t)(nt - i)) < want) m->idx[got++] = sp[di].perm[i], want--;
        while (got < k) m->idx[got++] = sp[di].perm[soma_rng_below(&m->rng, (uint64_t)nt)];
        const size_t row = (size_t)T * N;
        for (int i = 0; i < k; i++) memcpy(m->y + ox + i * row, c->x + (size_t)m->idx[i] * row, row * sizeof(float));
        soma_ndt_mask_draw(m->mask + ox, k, T, N, o->mask_ratio, o->mask, o->forecast_bins, o->forecast_share,
                           &m->rng);
        if (d[di].heldout)
            for (size_t i = 0; i < (size_t)k * row; i++)
                if (d[di].heldout[i % (size_t)N]) m->mask[ox + i] = 1;
        for (size_t i = 0; i < (size_t)k * row; i++) m->x[ox + i] = m->mask[ox + i] ? 0.f : m->y[ox + i];
        ox += (size_t)k * row;
    }
    return ng;
}

/* Bits per spike of the batch just run on its masked entries (model NLL sum given), each
 * unit's mean count over its group's entries as the null rate: for the progress line. */
static double batch_bps_(soma_ndt *m, int ng, double model_sum) {
    double null_sum = 0, spikes = 0;
    size_t ox = 0;
    for (int g = 0; g < ng; g++) {
        const int N = m->sess[m->gs[g]].N;
        const size_t n = (size_t)m->gk[g] * m->T * N;
        for (int u = 0; u < N; u++) m->nmu[u] = 0;
        for (size_t i = 0; i < n; i++) m->nmu[i % (size_t)N] += m->y[ox + i];
        for (int u = 0; u < N; u++) m->nmu[u] = m->nmu[u] * N / (double)n > 1e-9 ? m->nmu[u] * N / (double)n : 1e-9;
        for (size_t i = 0; i < n; i++)
            if (m->mask[ox + i]) {
                const double lam = m->nmu[i % (size_t)N], y = m->y[ox + i];
                null_sum += lam - y * log(lam);
                spikes += y;
            }
        ox += n;
    }
    return spikes > 0 ? (null_sum - model_sum) / (spikes * log(2.0)) : NAN;
}

/* Validation: masked NLL per entry and bits per spike over every data set's validation trials,
 * the same masks at every evaluation (drawn from the seed); the null rate of a unit is its mean
 * count over the validation trials. */
static soma_status validate_(soma_ndt *m, const soma_ndt_data *d, int n, const split_ *sp,
                             const soma_ndt_train_opts *o, double *nll, double *bps) {
    const int T = m->T;
    double sm = 0, sn = 0, spk = 0;
    long cnt = 0;
    for (int di = 0; di < n; di++) {
        if (sp[di].n_valid == 0) continue;
        const soma_counts *c = d[di].counts;
        const int N = c->n_units;
        const size_t row = (size_t)T * N;
        soma_rng r;
        soma_rng_seed(&r, o->seed, 0x2000u + (uint64_t)di);
        for (int k0 = 0; k0 < sp[di].n_valid; k0 += m->cap_B) {
            const int kb = sp[di].n_valid - k0 < m->cap_B ? sp[di].n_valid - k0 : m->cap_B;
            for (int i = 0; i < kb; i++)
                memcpy(m->y + i * row, c->x + (size_t)sp[di].perm[sp[di].n_train + k0 + i] * row, row * sizeof(float));
            soma_ndt_mask_draw(m->mask, kb, T, N, o->mask_ratio, o->mask, 0, 0.f, &r);
            if (d[di].heldout)
                for (size_t i = 0; i < (size_t)kb * row; i++)
                    if (d[di].heldout[i % (size_t)N]) m->mask[i] = 1;
            for (size_t i = 0; i < (size_t)kb * row; i++) m->x[i] = m->mask[i] ? 0.f : m->y[i];
            m->gs[0] = d[di].session, m->gk[0] = kb;
            SOMA_TRY(soma__ndt_batch(m, 1, 0, 1, 0, 0, 0, NULL, NULL));
            for (size_t i = 0; i < (size_t)kb * row; i++) {
                if (!m->mask[i]) continue;
                const double y = m->y[i], l = fmin(m->lr[i], NDT_LR_MAX);
                double lam = sp[di].null_mu[i % (size_t)N];
                if (lam < 1e-9) lam = 1e-9;
                sm += exp(l) - y * l;
                sn += lam - y * log(lam);
                spk += y;
                cnt++;
            }
        }
    }
    *nll = cnt > 0 ? sm / (double)cnt : NAN;
    *bps = spk > 0 ? (sn - sm) / (spk * log(2.0)) : NAN;
    return SOMA_OK;
}

static soma_status train_(soma_ndt *m, const soma_ndt_data *d, int n, const soma_ndt_train_opts *o,
                         long until_step) {
    SOMA_TRY(check_opts_(o));
    if (n < 1 || !d) return soma_error(SOMA_ERR_ARG, "ndt: training on %d data sets", n);
    int maxN = 1;
    for (int i = 0; i < n; i++) {
        const int s = d[i].session;
        if (s < 0 || s >= m->n_sess)
            return soma_error(SOMA_ERR_ARG, "ndt: data set %d names session %d (the model has %d)", i, s, m->n_sess);
        const soma_counts *c = d[i].counts;
        if (!c || !c->x || c->n_trials < 1 || c->n_bins != m->T || c->n_units != m->sess[s].N)
            return soma_error(SOMA_ERR_ARG, "ndt: data set %d: %d trials of %d bins x %d units; session %d wants %d x %d",
                              i, c ? c->n_trials : 0, c ? c->n_bins : 0, c ? c->n_units : 0, s, m->T, m->sess[s].N);
        for (int j = 0; j < i; j++)
            if (d[j].session == s) return soma_error(SOMA_ERR_ARG, "ndt: session %d appears twice in the data", s);
        if (c->n_units > maxN) maxN = c->n_units;
    }
    if (m->running) {
        int same = same_run_opts_(&m->o, o) && m->fp_n == n;
        for (int i = 0; same && i < n; i++)
            same = m->fp[2 * i] == d[i].session && m->fp[2 * i + 1] == d[i].counts->n_trials;
        if (!same)
            return soma_error(SOMA_ERR_ARG,
                              "ndt: a run is in progress (step %ld) with other options or data; HINT: continue it "
                              "with the options and data it was started with, or soma_ndt_reset_run first",
                              m->step);
    }
    if (o->weight_decay != m->opt_wd && (!m->running || m->step == 0)) SOMA_TRY(soma__ndt_new_opt(m, o->weight_decay));
    /* allocations: buffers, splits, history */
    const int B = o->batch;
    SOMA_TRY(soma__ndt_reserve(m, B, maxN));
    split_ *sp = soma_calloc((size_t)n, sizeof *sp);
    if (!sp) return SOMA_ERR_NOMEM;
    soma_status st = SOMA_OK;
    int any_train = 0;
    for (int i = 0; i < n && st == SOMA_OK; i++) {
        const int K = d[i].counts->n_trials;
        sp[i].perm = soma_alloc((size_t)K, sizeof(int));
        if (!sp[i].perm) {
            st = SOMA_ERR_NOMEM;
            break;
        }
        for (int k = 0; k < K; k++) sp[i].perm[k] = k;
        soma_rng r;
        soma_rng_seed(&r, o->seed, 0x1000u + (uint64_t)i);
        soma_rng_shuffle_int(&r, sp[i].perm, K);
        int nv = (int)floor(o->valid_frac * K + 0.5f);
        if (o->valid_frac > 0 && nv < 1) nv = 1;
        if (nv > K - 1) nv = K - 1;
        sp[i].n_valid = nv, sp[i].n_train = K - nv;
        any_train |= sp[i].n_train > 0;
        const int N = d[i].counts->n_units;
        sp[i].null_mu = soma_calloc((size_t)N, sizeof(double));
        if (!sp[i].null_mu) {
            st = SOMA_ERR_NOMEM;
            break;
        }
        for (int v = 0; v < nv; v++)
            for (size_t j = 0; j < (size_t)m->T * N; j++)
                sp[i].null_mu[j % (size_t)N] += d[i].counts->x[(size_t)sp[i].perm[K - nv + v] * m->T * N + j];
        for (int u = 0; u < N && nv > 0; u++) sp[i].null_mu[u] /= (double)nv * m->T;
    }
    const long cap = o->steps / o->eval_every + 2;
    if (st == SOMA_OK && cap > m->cap_hist) {
        long *hs = soma_calloc((size_t)cap, sizeof(long));
        float *ht = soma_calloc((size_t)cap, sizeof(float)), *hv = soma_calloc((size_t)cap, sizeof(float)),
              *hb = soma_calloc((size_t)cap, sizeof(float));
        if (!hs || !ht || !hv || !hb) {
            soma_free(hs), soma_free(ht), soma_free(hv), soma_free(hb);
            st = SOMA_ERR_NOMEM;
        } else {
            if (m->n_hist) {
                memcpy(hs, m->h_step, (size_t)m->n_hist * sizeof(long));
                memcpy(ht, m->h_train, (size_t)m->n_hist * sizeof(float));
                memcpy(hv, m->h_valid, (size_t)m->n_hist * sizeof(float));
                memcpy(hb, m->h_bps, (size_t)m->n_hist * sizeof(float));
            }
            soma_free(m->h_step), soma_free(m->h_train), soma_free(m->h_valid), soma_free(m->h_bps);
            m->h_step = hs, m->h_train = ht, m->h_valid = hv, m->h_bps = hb;
            m->cap_hist = (int)cap;
        }
    }
    if (st == SOMA_OK && !m->running) {
        int *fp = soma_alloc((size_t)2 * n, sizeof(int));
        if (!fp) st = SOMA_ERR_NOMEM;
        else {
            for (int i = 0; i < n; i++) fp[2 * i] = d[i].session, fp[2 * i + 1] = d[i].counts->n_trials;
            soma_free(m->fp);
            m->fp = fp, m->fp_n = n;
            m->o = *o;
            m->o.ckpt_path = NULL;
            m->running = 1;
            m->step = 0, m->secs = 0, m->acc_loss = 0, m->acc_n = 0, m->n_hist = 0;
            soma_rng_seed(&m->rng, o->seed, 0x77u);
            /* read-out biases of sessions never trained start at log(mean count) */
            for (int i = 0; i < n; i++) {
                soma__ndt_sess *s = &m->sess[d[i].session];
                if (s->bias_init || sp[i].n_train == 0) continue;
                size_t off[NDT_NPART + 1];
                soma__ndt_offsets(s->N, m->D, off);
                const soma_counts *c = d[i].counts;
                for (int u = 0; u < s->N; u++) {
                    double acc = 0;
                    for (int k = 0; k < sp[i].n_train; k++)
                        for (int t = 0; t < m->T; t++) acc += c->x[((size_t)sp[i].perm[k] * m->T + t) * s->N + u];
                    s->p[off[NDT_BOUT] + u] = (float)log(acc / ((double)sp[i].n_train * m->T) + 1e-3);
                }
                s->bias_init = 1;
            }
        }
    }
    if (st == SOMA_OK && !any_train) st = soma_error(SOMA_ERR_ARG, "ndt: no training trials");
    const long end = until_step >= 0 && until_step < o->steps ? until_step : o->steps;
    const soma_sched sch = {.kind = SOMA_SCHED_COSINE, .lr = o->lr, .lr_min = o->lr_min, .total = o->steps,
                            .warmup = o->warmup};
    soma_progress pr;
    soma_progress_begin(&pr, "ndt", o->steps);
    pr.enabled = pr.enabled && o->progress;
    char line[160];
    double t0 = soma_now(), ema_nll = NAN, ema_bps = NAN;
    while (st == SOMA_OK && m->step < end) {
        const int ng = draw_batch_(m, d, n, sp, o);
        double sum;
        long cnt;
        st = soma__ndt_batch(m, ng, 1, 1, 1, o->train_trunk, 0, &sum, &cnt);
        if (st != SOMA_OK) break;
        clip_(m, ng, o->train_trunk, o->clip);
        update_(m, ng, o->train_trunk, soma_sched_lr(&sch, m->step), o->weight_decay);
        m->step++;
        m->acc_loss += cnt > 0 ? sum / (double)cnt : 0.0;
        m->acc_n++;
        if (m->step % o->eval_every == 0 || m->step == o->steps) {
            double vn = NAN, vb = NAN;
            st = validate_(m, d, n, sp, o, &vn, &vb);
            if (st != SOMA_OK) break;
            const int h = m->n_hist++;
            m->h_step[h] = m->step;
            m->h_train[h] = (float)(m->acc_loss / (double)(m->acc_n ? m->acc_n : 1));
            m->h_valid[h] = (float)vn;
            m->h_bps[h] = (float)vb;
            m->acc_loss = 0, m->acc_n = 0;
            snprintf(line, sizeof line, "step %ld/%ld train nll %.4f valid nll %.4f bps %.4f", m->step, o->steps,
                     (double)m->h_train[h], vn, vb);
            soma_progress_note(&pr, line);
        } else if (pr.enabled && pr.tty) {
            const double b = batch_bps_(m, ng, sum);
            if (isfinite(b)) ema_bps = isfinite(ema_bps) ? 0.9 * ema_bps + 0.1 * b : b;
            ema_nll = isfinite(ema_nll) ? 0.9 * ema_nll + 0.1 * (cnt > 0 ? sum / (double)cnt : 0.0)
                                        : (cnt > 0 ? sum / (double)cnt : 0.0);
            snprintf(line, sizeof line, "masked nll %.4f bps %.3f", ema_nll, ema_bps);
            soma_progress_update(&pr, m->step, line);
        }
        const double now = soma_now();
        m->secs += now - t0;
        t0 = now;
        if (o->ckpt_every > 0 && (m->step % o->ckpt_every == 0 || m->step == o->steps)) {
            st = soma_ndt_save(m, o->ckpt_path);
            t0 = soma_now();
        }
        if (st == SOMA_OK && m->step < end && soma_cancel_requested()) /* Ctrl-C from Python: once per step */
            st = soma_error(SOMA_ERR_CANCELLED, "ndt: training cancelled at step %ld (resumable)", m->step);
    }
    soma_progress_end(&pr);
    splits_free_(sp, n);
    return st;
}

soma_status soma_ndt_train(soma_ndt *m, const soma_ndt_data *d, int n, const soma_ndt_train_opts *o,
                           long until_step) {
    const int th = soma__ndt_serial_begin();
    soma_status st = train_(m, d, n, o, until_step);
    soma__ndt_serial_end(th);
    return st;
}
