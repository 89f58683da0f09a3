// NDT checkpoints: the trunk, its AdamW state and the counters through the nn checkpoint file
// (soma_ckpt_save_ex: versioned, CRC-checked, written to a temporary file and renamed), and
// two named sections of our own:
//   "ndt.model" u32 version; i32 T, D, n_layers, n_heads, subjects; u64 seed; f32 dropout, opt_wd;
//               i32 n_sess; per session: i32 N, subject, bias_init; i64 t; f32 p[n], m1[n],
//               m2[n]; then, with subjects: i64 st; f32 sp, sm1, sm2 [subjects D]
//   "ndt.run"   u32 version; i32 running; i64 step; the training options; rng u64 s[4], f64
//               spare, i32 has_spare; f64 secs, acc_loss; i64 acc_n; i32 fp_n, i32 fp[2 fp_n];
//               i32 n_hist; i64 step[n]; f32 train[n], valid[n], bps[n]
// Little-endian as the machine writes it (as the nn checkpoint). Loading parses everything
// before building anything; a file that does not add up is SOMA_ERR_FORMAT.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "neuro/ndt_internal.h"

#define NDT_FILE_VERSION 1u

static void pi32_(soma_wbuf *b, int32_t v) { soma_wbuf_put(b, &v, 4); }
static void pi64_(soma_wbuf *b, int64_t v) { soma_wbuf_put(b, &v, 8); }
static void pu64_(soma_wbuf *b, uint64_t v) { soma_wbuf_put(b, &v, 8); }
static void pf32_(soma_wbuf *b, float v) { soma_wbuf_put(b, &v, 4); }
static void pf64_(soma_wbuf *b, double v) { soma_wbuf_put(b, &v, 8); }

static int32_t gi32_(soma_rbuf *r) {
    int32_t v;
    soma_rbuf_get(r, &v, 4);
    return v;
}
static int64_t gi64_(soma_rbuf *r) {
    int64_t v;
    soma_rbuf_get(r, &v, 8);
    return v;
}
static uint64_t gu64_(soma_rbuf *r) {
    uint64_t v;
    soma_rbuf_get(r, &v, 8);
    return v;
}
static float gf32_(soma_rbuf *r) {
    float v;
    soma_rbuf_get(r, &v, 4);
    return v;
}
static double gf64_(soma_rbuf *r) {
    double v;
    soma_rbuf_get(r, &v, 8);
    return v;
}

static void put_opts_(soma_wbuf *b, const soma_ndt_train_opts *o) {
    pi64_(b, o->steps), pi32_(b, o->batch), pi32_(b, o->mix), pf32_(b, o->mask_ratio), pi32_(b, (int32_t)o->mask);
    pi32_(b, o->forecast_bins), pf32_(b, o->forecast_share), pf32_(b, o->lr), pf32_(b, o->lr_min);
    pi64_(b, o->warmup), pf32_(b, o->weight_decay), pf32_(b, o->clip), pi32_(b, o->train_trunk);
    pf32_(b, o->valid_frac), pi64_(b, o->eval_every), pi64_(b, o->ckpt_every), pu64_(b, o->seed);
}
static void get_opts_(soma_rbuf *r, soma_ndt_train_opts *o) {
    *o = soma_ndt_train_default();
    o->steps = gi64_(r), o->batch = gi32_(r), o->mix = gi32_(r), o->mask_ratio = gf32_(r);
    o->mask = (soma_ndt_mask_kind)gi32_(r);
    o->forecast_bins = gi32_(r), o->forecast_share = gf32_(r), o->lr = gf32_(r), o->lr_min = gf32_(r);
    o->warmup = gi64_(r), o->weight_decay = gf32_(r), o->clip = gf32_(r), o->train_trunk = gi32_(r);
    o->valid_frac = gf32_(r), o->eval_every = gi64_(r), o->ckpt_every = gi64_(r), o->seed = gu64_(r);
    o->ckpt_path = NULL, o->progress = 0;
}

soma_status soma_ndt_save(soma_ndt *m, const char *path) {
    if (!path || !*path) return soma_error(SOMA_ERR_ARG, "ndt: save to no path");
    soma_wbuf a = {0}, b = {0};
    const size_t SD = (size_t)m->a.subjects * m->D;
    pi32_(&a, (int32_t)NDT_FILE_VERSION);
    pi32_(&a, m->T), pi32_(&a, m->D), pi32_(&a, m->a.n_layers), pi32_(&a, m->a.n_heads), pi32_(&a, m->a.subjects);
    pu64_(&a, m->a.seed);
    pf32_(&a, m->a.dropout);
    pf32_(&a, m->opt_wd);
    pi32_(&a, m->n_sess);
    for (int s = 0; s < m->n_sess; s++) {
        const soma__ndt_sess *x = &m->sess[s];
        pi32_(&a, x->N), pi32_(&a, x->subject), pi32_(&a, x->bias_init), pi64_(&a, x->t);
        soma_wbuf_put(&a, x->p, x->n * sizeof(float));
        soma_wbuf_put(&a, x->m1, x->n * sizeof(float));
        soma_wbuf_put(&a, x->m2, x->n * sizeof(float));
    }
    if (SD) {
        pi64_(&a, m->st);
        soma_wbuf_put(&a, m->sp, SD * sizeof(float));
        soma_wbuf_put(&a, m->sm1, SD * sizeof(float));
        soma_wbuf_put(&a, m->sm2, SD * sizeof(float));
    }
    pi32_(&b, (int32_t)NDT_FILE_VERSION);
    pi32_(&b, m->running), pi64_(&b, m->step);
    put_opts_(&b, &m->o);
    for (int i = 0; i < 4; i++) pu64_(&b, m->rng.s[i]);
    pf64_(&b, m->rng.spare), pi32_(&b, m->rng.has_spare);
    pf64_(&b, m->secs), pf64_(&b, m->acc_loss), pi64_(&b, m->acc_n);
    pi32_(&b, m->fp_n);
    soma_wbuf_put(&b, m->fp, (size_t)2 * m->fp_n * sizeof(int));
    pi32_(&b, m->n_hist);
    for (int h = 0; h < m->n_hist; h++) pi64_(&b, m->h_step[h]);
    soma_wbuf_put(&b, m->h_train, (size_t)m->n_hist * sizeof(float));
    soma_wbuf_put(&b, m->h_valid, (size_t)m->n_hist * sizeof(float));
    soma_wbuf_put(&b, m->h_bps, (size_t)m->n_hist * sizeof(float));
    soma_status st = SOMA_OK;
    if (a.oom || b.oom) st = soma_error(SOMA_ERR_NOMEM, "ndt: no memory to save %s", path);
    else {
        soma_ckpt_section sec[2] = {{.name = "ndt.model", .data = a.p, .size = a.n},
                                    {.name = "ndt.run", .data = b.p, .size = b.n}};
        soma_ckpt_meta meta = {.epoch = 0, .step = soma_optim_steps(m->opt), .seed = m->a.seed, .data_rng = m->rng};
        st = soma_ckpt_save_ex(path, m->trunk, m->opt, &meta, sec, 2);
    }
    soma_free(a.p), soma_free(b.p);
    return st;
}

#define NEED(c, msg)                                                                                              \
    do {                                                                                                          \
        if (!(c)) {                                                                                               \
            st = soma_error(SOMA_ERR_FORMAT, "ndt: %s: %s", path, msg);                                           \
            goto done;                                                                                            \
        }                                                                                                         \
    } while (0)

soma_status soma_ndt_load(soma_ndt **out, const char *path) {
    *out = NULL;
    char spec[4096];
    soma_shape in;
    SOMA_TRY(soma_ckpt_peek(path, spec, sizeof spec, &in));
    soma_net *net = NULL;
    soma_optim *opt = NULL;
    soma_ndt *m = NULL;
    soma_ckpt_section *sec = NULL;
    int n_sec = 0;
    float *ostate = NULL;
    soma_ckpt_meta meta;
    soma_status st = soma_net_new(&net, spec, in, 1);
    if (st != SOMA_OK) goto done;
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_ADAMW);
    st = soma_optim_new(&opt, net, &oc);
    if (st != SOMA_OK) goto done;
    st = soma_ckpt_load_ex(path, net, opt, &meta, &sec, &n_sec);
    if (st != SOMA_OK) goto done;
    const soma_ckpt_section *sm = soma_ckpt_section_find(sec, n_sec, "ndt.model");
    const soma_ckpt_section *sr = soma_ckpt_section_find(sec, n_sec, "ndt.run");
    NEED(sm && sr, "not an NDT checkpoint (no ndt.model / ndt.run sections); HINT: write it with soma fm pretrain");
    soma_rbuf r = {.p = sm->data, .n = sm->size};
    NEED(gi32_(&r) == (int32_t)NDT_FILE_VERSION, "unknown ndt.model version");
    soma_ndt_arch a = soma_ndt_arch_default();
    a.n_bins = gi32_(&r), a.d_model = gi32_(&r), a.n_layers = gi32_(&r), a.n_heads = gi32_(&r);
    a.subjects = gi32_(&r), a.seed = gu64_(&r);
    a.dropout = gf32_(&r);
    const float wd = gf32_(&r);
    NEED(!r.bad, "truncated ndt.model");
    st = soma_ndt_new(&m, &a);
    if (st != SOMA_OK) {
        st = soma_error(SOMA_ERR_FORMAT, "ndt: %s: bad architecture (%s)", path, soma_errmsg());
        goto done;
    }
    NEED(strcmp(soma_net_spec(m->trunk), spec) == 0 && in.rank == 2 && in.d[0] == m->T + m->C && in.d[1] == m->D,
         "the trunk does not match the architecture");
    const int n_sess = gi32_(&r);
    NEED(!r.bad && n_sess >= 0 && n_sess <= 1000000, "bad session count");
    for (int s = 0; s < n_sess; s++) {
        const int N = gi32_(&r), subj = gi32_(&r), bi = gi32_(&r);
        const long t = (long)gi64_(&r);
        NEED(!r.bad && N >= 1 && N <= 1000000 && subj >= -1 && subj < a.subjects, "bad session record");
        size_t off[NDT_NPART + 1];
        soma__ndt_offsets(N, a.d_model, off);
        NEED(3 * off[NDT_NPART] * sizeof(float) <= r.n - r.off, "truncated session parameters");
        int id;
        st = soma_ndt_add_session(m, N, subj, &id);
        if (st != SOMA_OK) goto done;
        soma__ndt_sess *x = &m->sess[id];
        x->bias_init = bi, x->t = t;
        soma_rbuf_get(&r, x->p, x->n * sizeof(float));
        soma_rbuf_get(&r, x->m1, x->n * sizeof(float));
        soma_rbuf_get(&r, x->m2, x->n * sizeof(float));
    }
    const size_t SD = (size_t)a.subjects * a.d_model;
    if (SD) {
        m->st = (long)gi64_(&r);
        soma_rbuf_get(&r, m->sp, SD * sizeof(float));
        soma_rbuf_get(&r, m->sm1, SD * sizeof(float));
        soma_rbuf_get(&r, m->sm2, SD * sizeof(float));
    }
    NEED(!r.bad && r.off == r.n, "ndt.model has the wrong size");
    /* the trunk: adopt the loaded net; the optimizer rebuilt with its weight decay, state copied */
    size_t ns;
    const float *os = soma_optim_state(opt, &ns);
    ostate = soma_alloc(ns ? ns : 1, sizeof(float));
    if (!ostate) {
        st = SOMA_ERR_NOMEM;
        goto done;
    }
    memcpy(ostate, os, ns * sizeof(float));
    soma_optim_free(m->opt);
    m->opt = NULL;
    soma_optim_free(opt);
    opt = NULL;
    soma_net_free(m->trunk);
    m->trunk = net;
    net = NULL;
    st = soma__ndt_new_opt(m, wd);
    if (st != SOMA_OK) goto done;
    size_t ns2;
    float *os2 = soma_optim_state(m->opt, &ns2);
    NEED(ns2 == ns, "optimizer state size");
    memcpy(os2, ostate, ns * sizeof(float));
    soma_optim_set_steps(m->opt, meta.step);
    /* the run */
    soma_rbuf q = {.p = sr->data, .n = sr->size};
    NEED(gi32_(&q) == (int32_t)NDT_FILE_VERSION, "unknown ndt.run version");
    m->running = gi32_(&q);
    m->step = (long)gi64_(&q);
    get_opts_(&q, &m->o);
    for (int i = 0; i < 4; i++) m->rng.s[i] = gu64_(&q);
    m->rng.spare = gf64_(&q), m->rng.has_spare = gi32_(&q);
    m->secs = gf64_(&q), m->acc_loss = gf64_(&q), m->acc_n = (long)gi64_(&q);
    const int fp_n = gi32_(&q);
    NEED(!q.bad && fp_n >= 0 && (size_t)fp_n <= (q.n - q.off) / 8, "bad data fingerprint");
    if (fp_n) {
        m->fp = soma_alloc((size_t)2 * fp_n, sizeof(int));
        if (!m->fp) {
            st = SOMA_ERR_NOMEM;
            goto done;
        }
        soma_rbuf_get(&q, m->fp, (size_t)2 * fp_n * sizeof(int));
    }
    m->fp_n = fp_n;
    const int nh = gi32_(&q);
    NEED(!q.bad && nh >= 0 && (size_t)nh <= (q.n - q.off) / 20, "bad history length");
    if (nh) {
        m->h_step = soma_alloc((size_t)nh, sizeof(long));
        m->h_train = soma_alloc((size_t)nh, sizeof(float));
        m->h_valid = soma_alloc((size_t)nh, sizeof(float));
        m->h_bps = soma_alloc((size_t)nh, sizeof(float));
        if (!m->h_step || !m->h_train || !m->h_valid || !m->h_bps) {
            st = SOMA_ERR_NOMEM;
            goto done;
        }
        for (int h = 0; h < nh; h++) m->h_step[h] = (long)gi64_(&q);
        soma_rbuf_get(&q, m->h_train, (size_t)nh * sizeof(float));
        soma_rbuf_get(&q, m->h_valid, (size_t)nh * sizeof(float));
        soma_rbuf_get(&q, m->h_bps, (size_t)nh * sizeof(float));
    }
    m->n_hist = m->cap_hist = nh;
    NEED(!q.bad && q.off == q.n, "ndt.run has the wrong size");
    NEED(m->running == 0 || m->running == 1, "bad run flag");
    for (int i = 0; i < m->fp_n; i++)
        NEED(m->fp[2 * i] >= 0 && m->fp[2 * i] < m->n_sess, "the run names an unknown session");
done:
    soma_free(ostate);
    soma_ckpt_sections_free(sec, n_sec);
    soma_optim_free(opt);
    soma_net_free(net);
    if (st != SOMA_OK) {
        soma_ndt_free(m);
        return st;
    }
    *out = m;
    return SOMA_OK;
}
