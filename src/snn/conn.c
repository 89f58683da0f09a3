/* Projections: building the connectivity (PROB, INDEGREE, EDGES, ONE_TO_ONE) into a compact
 * CSR (rows by pre neuron, int32 targets sorted within a row, float weights: 8 bytes a
 * synapse), the column index of plastic projections, and the delivery of spikes.
 *
 * Random rules draw from one stream per block of SNN_CONN_BLOCK rows (PROB) or columns
 * (INDEGREE), seeded from the net's seed and the projection's index: the synapses depend on
 * neither the thread count nor the projections added before. PROB skips geometrically over
 * the (pre, post) grid (one draw a synapse, not one a pair); it runs twice over its blocks,
 * counting then filling, so it needs no scratch memory. */
#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "snn/internal.h"

soma_conn_spec soma_conn_default(void) {
    soma_conn_spec c;
    memset(&c, 0, sizeof c);
    c.rule = SOMA_CONN_PROB;
    c.delay = 0.1;
    return c;
}

void snn__proj_free(snn_proj *p) {
    soma_free(p->row);
    soma_free(p->col);
    soma_free(p->w);
    soma_free(p->cptr);
    soma_free(p->cidx);
    soma_free(p->cpre);
    soma_free(p->xpre);
    soma_free(p->xpost);
    soma_free(p->tpre);
    soma_free(p->tpost);
    memset(p, 0, sizeof *p);
}

static int conn_threads_(void) {
#ifdef _OPENMP
    int t = soma_get_threads();
    if (t > omp_get_max_threads()) t = omp_get_max_threads();
    return t < 1 ? 1 : t;
#else
    return 1;
#endif
}

static int thread_id_(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

// --- rules ----------------------------------------------------------------------------------

/* Rows [r0, r1) of a PROB block: counts (fill == 0: row[r+1] += count) or fills col. The
 * grid is walked row-major; self pairs are dropped when autapses are off. */
static void prob_block_(snn_proj *p, double prob, int self_skip, soma_rng *r, int r0, int r1, int fill) {
    const int M = p->n_post;
    int64_t c = snn__geometric(r, prob);
    for (int i = r0; i < r1; i++) {
        int64_t k = fill ? p->row[i] : 0;
        while (c < M) {
            if (!(self_skip && c == i)) {
                if (fill) p->col[k] = (int32_t)c;
                k++;
            }
            c += 1 + snn__geometric(r, prob);
        }
        c -= M;
        if (!fill) p->row[i + 1] = k;
    }
}

static soma_status rows_to_ptr_(snn_proj *p) {
    /* row[i + 1] holds row i's count: prefix sums into starts */
    p->row[0] = 0;
    for (int i = 0; i < p->n_pre; i++) p->row[i + 1] += p->row[i];
    p->nnz = p->row[p->n_pre];
    p->col = soma_alloc((size_t)(p->nnz ? p->nnz : 1), sizeof *p->col);
    p->w = soma_alloc((size_t)(p->nnz ? p->nnz : 1), sizeof *p->w);
    if (!p->col || !p->w)
        return soma_error(SOMA_ERR_NOMEM, "snn: connect: out of memory for %lld synapses", (long long)p->nnz);
    return SOMA_OK;
}

static soma_status build_prob_(soma_snn *net, snn_proj *p, const soma_conn_spec *c, int index) {
    const double expect = c->p * (double)p->n_pre * (double)p->n_post;
    if (expect > SNN_MAX_SYNAPSES || !snn__fits_memory(expect * 8.0))
        return soma_error(SOMA_ERR_NOMEM, "snn: connect: p = %g over %d x %d neurons makes ~%.3g synapses, too many",
                          c->p, p->n_pre, p->n_post, expect);
    const int self_skip = c->pre == c->post && !c->autapses;
    const int nb = (p->n_pre + SNN_CONN_BLOCK - 1) / SNN_CONN_BLOCK, T = conn_threads_();
    (void)T; /* unused without OpenMP */
    for (int pass = 0; pass < 2; pass++) {
#pragma omp parallel for schedule(dynamic, 4) num_threads(T) if (T > 1 && nb > 1)
        for (int b = 0; b < nb; b++) {
            soma_rng r;
            soma_rng_seed(&r, net->seed, snn__stream(SNN_STREAM_CONN, index, b));
            const int r0 = b * SNN_CONN_BLOCK, r1 = r0 + SNN_CONN_BLOCK < p->n_pre ? r0 + SNN_CONN_BLOCK : p->n_pre;
            prob_block_(p, c->p, self_skip, &r, r0, r1, pass);
        }
        if (pass == 0) SOMA_TRY(rows_to_ptr_(p));
    }
    return SOMA_OK;
}

static soma_status build_indegree_(soma_snn *net, snn_proj *p, const soma_conn_spec *c, int index) {
    const int self_skip = c->pre == c->post && !c->autapses;
    const int avail = p->n_pre - self_skip, k = c->k, M = p->n_post;
    const int64_t total = (int64_t)k * M;
    if (total > SNN_MAX_SYNAPSES || !snn__fits_memory((double)total * 12.0))
        return soma_error(SOMA_ERR_NOMEM, "snn: connect: k = %d onto %d neurons makes %lld synapses, too many", k, M,
                          (long long)total);
    const int T = conn_threads_();
    int32_t *pres = soma_alloc((size_t)(total ? total : 1), sizeof *pres);
    unsigned char *mark = soma_calloc((size_t)T, (size_t)(avail > 0 ? avail : 1));
    if (!pres || !mark) {
        soma_free(pres);
        soma_free(mark);
        return soma_error(SOMA_ERR_NOMEM, "snn: connect: out of memory for %lld synapses", (long long)total);
    }
    const int nb = (M + SNN_CONN_BLOCK - 1) / SNN_CONN_BLOCK;
#pragma omp parallel for schedule(dynamic, 4) num_threads(T) if (T > 1 && nb > 1)
    for (int b = 0; b < nb; b++) {
        unsigned char *mk = mark + (size_t)thread_id_() * (size_t)(avail > 0 ? avail : 1);
        soma_rng r;
        soma_rng_seed(&r, net->seed, snn__stream(SNN_STREAM_CONN, index, b));
        const int q1 = (b + 1) * SNN_CONN_BLOCK < M ? (b + 1) * SNN_CONN_BLOCK : M;
        for (int q = b * SNN_CONN_BLOCK; q < q1; q++) {
            int32_t *out = pres + (int64_t)q * k;
            /* Floyd's sampling of k distinct of 0..avail-1 */
            int m = 0;
            for (int j = avail - k; j < avail; j++) {
                int t = (int)soma_rng_below(&r, (uint64_t)j + 1);
                if (mk[t]) t = j;
                mk[t] = 1;
                out[m++] = t;
            }
            for (int i = 0; i < k; i++) {
                mk[out[i]] = 0;
                if (self_skip && out[i] >= q) out[i]++;
            }
        }
    }
    soma_free(mark);
    memset(p->row, 0, (size_t)(p->n_pre + 1) * sizeof *p->row);
    for (int64_t i = 0; i < total; i++) p->row[pres[i] + 1]++;
    soma_status st = rows_to_ptr_(p);
    if (st == SOMA_OK) {
        /* fill by post, ascending: every row comes out sorted */
        int64_t *cur = soma_alloc((size_t)p->n_pre, sizeof *cur);
        if (!cur) {
            st = soma_error(SOMA_ERR_NOMEM, "snn: connect: out of memory");
        } else {
            memcpy(cur, p->row, (size_t)p->n_pre * sizeof *cur);
            for (int q = 0; q < M; q++)
                for (int i = 0; i < k; i++) p->col[cur[pres[(int64_t)q * k + i]]++] = q;
            soma_free(cur);
        }
    }
    soma_free(pres);
    return st;
}

static soma_status build_edges_(snn_proj *p, const soma_conn_spec *c) {
    const long E = c->n_edges;
    if (E > 0 && (!c->edge_pre || !c->edge_post))
        return soma_error(SOMA_ERR_ARG, "snn: connect: EDGES with %ld edges but no edge_pre/edge_post arrays", E);
    for (long e = 0; e < E; e++) {
        if (c->edge_pre[e] < 0 || c->edge_pre[e] >= p->n_pre)
            return soma_error(SOMA_ERR_ARG, "snn: connect: edge %ld: pre %d outside 0..%d", e, c->edge_pre[e], p->n_pre - 1);
        if (c->edge_post[e] < 0 || c->edge_post[e] >= p->n_post)
            return soma_error(SOMA_ERR_ARG, "snn: connect: edge %ld: post %d outside 0..%d", e, c->edge_post[e],
                              p->n_post - 1);
        if (c->edge_w && !isfinite(c->edge_w[e]))
            return soma_error(SOMA_ERR_ARG, "snn: connect: edge %ld: weight %g", e, (double)c->edge_w[e]);
    }
    /* two stable counting sorts (by post, then by pre): order (pre, post, given order) */
    int64_t *cnt = soma_calloc((size_t)(p->n_post > p->n_pre ? p->n_post : p->n_pre) + 1, sizeof *cnt);
    int64_t *ord = soma_alloc((size_t)(E ? E : 1), sizeof *ord);
    if (!cnt || !ord) {
        soma_free(cnt);
        soma_free(ord);
        return soma_error(SOMA_ERR_NOMEM, "snn: connect: out of memory for %ld edges", E);
    }
    for (long e = 0; e < E; e++) cnt[c->edge_post[e] + 1]++;
    for (int q = 0; q < p->n_post; q++) cnt[q + 1] += cnt[q];
    for (long e = 0; e < E; e++) ord[cnt[c->edge_post[e]]++] = e;
    memset(p->row, 0, (size_t)(p->n_pre + 1) * sizeof *p->row);
    for (long e = 0; e < E; e++) p->row[c->edge_pre[e] + 1]++;
    soma_status st = rows_to_ptr_(p);
    if (st == SOMA_OK) {
        memcpy(cnt, p->row, (size_t)p->n_pre * sizeof *cnt);
        for (long j = 0; j < E; j++) {
            const int64_t e = ord[j];
            const int64_t k = cnt[c->edge_pre[e]]++;
            p->col[k] = c->edge_post[e];
            p->w[k] = c->edge_w ? c->edge_w[e] : (float)c->weight;
        }
    }
    soma_free(cnt);
    soma_free(ord);
    return st;
}

static soma_status build_one_(snn_proj *p) {
    if (p->n_pre != p->n_post)
        return soma_error(SOMA_ERR_ARG, "snn: connect: ONE_TO_ONE needs groups of equal size, got %d and %d", p->n_pre,
                          p->n_post);
    for (int i = 0; i < p->n_pre; i++) p->row[i + 1] = 1;
    SOMA_TRY(rows_to_ptr_(p));
    for (int i = 0; i < p->n_pre; i++) p->col[i] = i;
    return SOMA_OK;
}

// --- connect ------------------------------------------------------------------------------

static soma_status check_spec_(const soma_snn *net, const soma_conn_spec *c, int *delay_steps) {
    if (net->frozen) return soma_error(SOMA_ERR_ARG, "snn: connect: the network has run; connect before the first run");
    if (c->pre < 0 || c->pre >= net->n_groups)
        return soma_error(SOMA_ERR_ARG, "snn: connect: no pre group %d (the net has %d)", c->pre, net->n_groups);
    if (c->post < 0 || c->post >= net->n_groups)
        return soma_error(SOMA_ERR_ARG, "snn: connect: no post group %d (the net has %d)", c->post, net->n_groups);
    const snn_group *pre = &net->g[c->pre], *post = &net->g[c->post];
    if (post->p.model == SOMA_POISSON)
        return soma_error(SOMA_ERR_ARG, "snn: connect: %s -> %s: a Poisson group takes no input", pre->name, post->name);
    if (c->target != SOMA_TARGET_EXC && c->target != SOMA_TARGET_INH)
        return soma_error(SOMA_ERR_ARG, "snn: connect: %s -> %s: target %d is neither EXC nor INH", pre->name,
                          post->name, (int)c->target);
    if (!isfinite(c->delay) || c->delay < 0)
        return soma_error(SOMA_ERR_ARG, "snn: connect: %s -> %s: delay %g ms, need a finite delay >= 0", pre->name,
                          post->name, c->delay);
    const double d = floor(c->delay / net->dt + 0.5);
    if (d > SNN_MAX_DELAY_STEPS)
        return soma_error(SOMA_ERR_ARG, "snn: connect: %s -> %s: delay %g ms is %g steps, more than %d", pre->name,
                          post->name, c->delay, d, SNN_MAX_DELAY_STEPS);
    *delay_steps = d < 1 ? 1 : (int)d;
    if (!isfinite(c->weight))
        return soma_error(SOMA_ERR_ARG, "snn: connect: %s -> %s: weight %g", pre->name, post->name, c->weight);
    if (post->p.synapse == SOMA_SYN_CONDUCTANCE) {
        int neg = c->weight < 0;
        if (c->rule == SOMA_CONN_EDGES && c->edge_w)
            for (long e = 0; e < c->n_edges && !neg; e++) neg = c->edge_w[e] < 0;
        if (neg)
            return soma_error(SOMA_ERR_ARG, "snn: connect: %s -> %s: conductance weights must be >= 0 nS", pre->name,
                              post->name);
    }
    switch (c->rule) {
    case SOMA_CONN_PROB:
        if (!(c->p >= 0 && c->p <= 1))
            return soma_error(SOMA_ERR_ARG, "snn: connect: %s -> %s: p = %g outside [0, 1]", pre->name, post->name, c->p);
        break;
    case SOMA_CONN_INDEGREE: {
        const int avail = pre->n - (c->pre == c->post && !c->autapses);
        if (c->k < 0 || c->k > avail)
            return soma_error(SOMA_ERR_ARG, "snn: connect: %s -> %s: k = %d, need 0 <= k <= %d (distinct pre neurons%s)",
                              pre->name, post->name, c->k, avail, avail < pre->n ? ", no autapses" : "");
        break;
    }
    case SOMA_CONN_EDGES:
        if (c->n_edges < 0)
            return soma_error(SOMA_ERR_ARG, "snn: connect: %s -> %s: %ld edges", pre->name, post->name, c->n_edges);
        break;
    case SOMA_CONN_ONE_TO_ONE:
        break;
    default:
        return soma_error(SOMA_ERR_ARG, "snn: connect: %s -> %s: unknown rule %d", pre->name, post->name, (int)c->rule);
    }
    if (c->stdp) {
        const soma_stdp *s = c->stdp;
        if (!(s->tau_plus > 0) || !(s->tau_minus > 0) || !isfinite(s->tau_plus) || !isfinite(s->tau_minus))
            return soma_error(SOMA_ERR_ARG, "snn: connect: %s -> %s: STDP time constants must be > 0 ms", pre->name,
                              post->name);
        if (!(s->A_plus >= 0) || !(s->A_minus >= 0) || !isfinite(s->A_plus) || !isfinite(s->A_minus))
            return soma_error(SOMA_ERR_ARG, "snn: connect: %s -> %s: STDP amplitudes must be finite and >= 0", pre->name,
                              post->name);
        if (!(s->w_max > 0) || !isfinite(s->w_max))
            return soma_error(SOMA_ERR_ARG, "snn: connect: %s -> %s: STDP w_max must be > 0", pre->name, post->name);
        int out = !(c->weight >= 0 && c->weight <= s->w_max);
        if (c->rule == SOMA_CONN_EDGES && c->edge_w) {
            out = 0;
            for (long e = 0; e < c->n_edges && !out; e++) out = !(c->edge_w[e] >= 0 && c->edge_w[e] <= s->w_max);
        }
        if (out)
            return soma_error(SOMA_ERR_ARG, "snn: connect: %s -> %s: plastic weights must lie in [0, w_max = %g]",
                              pre->name, post->name, s->w_max);
    }
    return SOMA_OK;
}

soma_status soma_snn_connect(soma_snn *net, const soma_conn_spec *c, int *proj) {
    if (!net || !c) return soma_error(SOMA_ERR_ARG, "snn: connect: NULL argument");
    const double t0 = soma_now();
    int delay = 1;
    SOMA_TRY(check_spec_(net, c, &delay));
    if (net->n_proj == net->cap_proj) {
        int nc = net->cap_proj ? net->cap_proj * 2 : 8;
        snn_proj *n = soma_calloc((size_t)nc, sizeof *n);
        if (!n) return soma_error(SOMA_ERR_NOMEM, "snn: out of memory");
        if (net->pr) memcpy(n, net->pr, (size_t)net->n_proj * sizeof *n);
        soma_free(net->pr);
        net->pr = n;
        net->cap_proj = nc;
    }
    const int index = net->n_proj;
    snn_proj *p = &net->pr[index];
    memset(p, 0, sizeof *p);
    p->pre = c->pre;
    p->post = c->post;
    p->target = c->target;
    p->delay = delay;
    p->n_pre = net->g[c->pre].n;
    p->n_post = net->g[c->post].n;
    if (c->stdp) {
        p->plastic = 1;
        p->stdp = *c->stdp;
    }
    p->row = soma_calloc((size_t)p->n_pre + 1, sizeof *p->row);
    if (!p->row) return soma_error(SOMA_ERR_NOMEM, "snn: connect: out of memory");
    soma_status st;
    switch (c->rule) {
    case SOMA_CONN_PROB: st = build_prob_(net, p, c, index); break;
    case SOMA_CONN_INDEGREE: st = build_indegree_(net, p, c, index); break;
    case SOMA_CONN_EDGES: st = build_edges_(p, c); break;
    default: st = build_one_(p); break;
    }
    if (st == SOMA_OK && c->rule != SOMA_CONN_EDGES)
        for (int64_t k = 0; k < p->nnz; k++) p->w[k] = (float)c->weight;
    if (st != SOMA_OK) {
        snn__proj_free(p);
        return soma_error_wrap(st, "%s -> %s", net->g[c->pre].name, net->g[c->post].name);
    }
    net->n_proj++;
    if (proj) *proj = index;
    net->stats.setup_seconds += soma_now() - t0;
    return SOMA_OK;
}

int soma_snn_n_projections(const soma_snn *net) { return net ? net->n_proj : 0; }

long soma_snn_n_synapses(const soma_snn *net) {
    long n = 0;
    for (int k = 0; net && k < net->n_proj; k++) n += (long)net->pr[k].nnz;
    return n;
}

long soma_snn_proj_size(const soma_snn *net, int proj) {
    if (!net || proj < 0 || proj >= net->n_proj) return -1;
    return (long)net->pr[proj].nnz;
}

soma_status soma_snn_proj_get(const soma_snn *net, int proj, int *pre, int *post, float *w) {
    if (!net || proj < 0 || proj >= net->n_proj)
        return soma_error(SOMA_ERR_ARG, "snn: proj_get: no projection %d (the net has %d)", proj, net ? net->n_proj : 0);
    const snn_proj *p = &net->pr[proj];
    for (int i = 0; i < p->n_pre; i++)
        for (int64_t k = p->row[i]; k < p->row[i + 1]; k++) {
            if (pre) pre[k] = i;
            if (post) post[k] = p->col[k];
            if (w) w[k] = p->w[k];
        }
    return SOMA_OK;
}

soma_status snn__proj_build_csc(snn_proj *p) {
    const size_t nz = (size_t)(p->nnz ? p->nnz : 1);
    soma_free(p->cptr); /* (a first run that failed after building it) */
    soma_free(p->cidx);
    soma_free(p->cpre);
    p->cptr = soma_calloc((size_t)p->n_post + 1, sizeof *p->cptr);
    p->cidx = soma_alloc(nz, sizeof *p->cidx);
    p->cpre = soma_alloc(nz, sizeof *p->cpre);
    int64_t *cur = soma_alloc((size_t)p->n_post + 1, sizeof *cur);
    if (!p->cptr || !p->cidx || !p->cpre || !cur) {
        soma_free(cur);
        return soma_error(SOMA_ERR_NOMEM, "snn: out of memory for the column index of a plastic projection");
    }
    for (int64_t k = 0; k < p->nnz; k++) p->cptr[p->col[k] + 1]++;
    for (int q = 0; q < p->n_post; q++) p->cptr[q + 1] += p->cptr[q];
    memcpy(cur, p->cptr, (size_t)p->n_post * sizeof *cur);
    for (int i = 0; i < p->n_pre; i++)
        for (int64_t k = p->row[i]; k < p->row[i + 1]; k++) {
            const int64_t at = cur[p->col[k]]++;
            p->cidx[at] = k;
            p->cpre[at] = i;
        }
    soma_free(cur);
    return SOMA_OK;
}

// --- delivery -------------------------------------------------------------------------------

/* First index in col[b, e) whose value is >= x. */
static inline int64_t lower_bound_(const int32_t *col, int64_t b, int64_t e, int32_t x) {
    while (b < e) {
        const int64_t m = b + ((e - b) >> 1);
        if (col[m] < x) b = m + 1;
        else e = m;
    }
    return b;
}

void snn__deliver(soma_snn *net, const snn_proj *p, int64_t now, int lo, int hi) {
    const snn_group *pre = &net->g[p->pre];
    snn_group *post = &net->g[p->post];
    if (lo >= hi) return;
    const int par = (int)(now & 1);
    const size_t off = (size_t)((now + p->delay) % post->slots) * (size_t)post->n;
    float *restrict buf = (p->target == SOMA_TARGET_EXC ? post->buf_e : post->buf_i) + off;
    const int32_t *restrict col = p->col;
    const float *restrict w = p->w;
    const int whole = lo == 0 && hi == p->n_post;
    for (int t = 0; t < net->nt; t++) {
        const int *ids;
        const int ns = snn__seg(pre, par, t, &ids);
        for (int s = 0; s < ns; s++) {
            const int i = ids[s];
            int64_t b = p->row[i], e = p->row[i + 1];
            if (!whole) {
                if (lo > 0) b = lower_bound_(col, b, e, lo);
                if (hi < p->n_post) e = lower_bound_(col, b, e, hi);
            }
            for (int64_t k = b; k < e; k++) buf[col[k]] += w[k];
        }
    }
}

long snn__events(const soma_snn *net, const snn_proj *p, int par) {
    const snn_group *pre = &net->g[p->pre];
    long ev = 0;
    for (int t = 0; t < net->nt; t++) {
        const int *ids;
        const int ns = snn__seg(pre, par, t, &ids);
        for (int s = 0; s < ns; s++) ev += (long)(p->row[ids[s] + 1] - p->row[ids[s]]);
    }
    return ev;
}
