// Spiking networks: event-driven delivery against a dense-matrix reference simulation written
// plainly here (small random networks with delays, current and delta synapses, every rule);
// connectivity statistics; Poisson rates; determinism across seeds and thread counts; bad
// arguments; out-of-memory paths.
#include <math.h>

#include "check.h"
#include "fixture.h"
#include "snn/internal.h" /* snn__set_par_min: threads even for small networks */
#include "soma/snn.h"

// --- the dense reference ----------------------------------------------------------------------

enum { NA = 40, NB = 25, NP = 60, STEPS = 3000, MAXD = 8 };

typedef struct ref_proj {
    int pre, post, delay, target;
    double W[NP][NA]; /* W[pre][post], duplicates summed */
} ref_proj;

/* Builds the test network: A (LIF, current synapses), B (LIF, delta synapses), P (Poisson). */
static soma_snn *build_net_(uint64_t seed, int *ga, int *gb, int *gp) {
    soma_snn *net = NULL;
    CHECK_OK(soma_snn_new(&net, 0.1, seed));
    soma_neuron_params a, b, p;
    soma_neuron_defaults(SOMA_LIF, &a);
    a.I_ext = 90.0;
    a.V_init_lo = -60;
    a.V_init_hi = -51;
    a.t_ref = 2.0;
    soma_neuron_defaults(SOMA_LIF, &b);
    b.synapse = SOMA_SYN_DELTA;
    b.I_ext = 95.0;
    b.V_init_lo = -58;
    b.V_init_hi = -50.5;
    soma_neuron_defaults(SOMA_POISSON, &p);
    p.rate = 150.0;
    CHECK_OK(soma_snn_add_group(net, "A", NA, &a, ga));
    CHECK_OK(soma_snn_add_group(net, "B", NB, &b, gb));
    CHECK_OK(soma_snn_add_group(net, "P", NP, &p, gp));
    /* weights are multiples of 1/8: every sum is exact in double, in any order */
    soma_conn_spec c = soma_conn_default();
    c.pre = *gp;
    c.post = *ga;
    c.p = 0.2;
    c.weight = 40.0;
    c.delay = 0.1;
    CHECK_OK(soma_snn_connect(net, &c, NULL));
    c = soma_conn_default();
    c.pre = *ga;
    c.post = *ga;
    c.rule = SOMA_CONN_INDEGREE;
    c.k = 6;
    c.weight = 12.5;
    c.delay = 0.3;
    CHECK_OK(soma_snn_connect(net, &c, NULL));
    static int epre[200], epost[200];
    static float ew[200];
    soma_rng r;
    soma_rng_seed(&r, 99, 0);
    for (int e = 0; e < 200; e++) {
        epre[e] = (int)soma_rng_below(&r, NA);
        epost[e] = (int)soma_rng_below(&r, NB);
        ew[e] = 0.125f * (float)(1 + soma_rng_below(&r, 8));
    }
    epre[1] = epre[0]; /* a duplicate edge */
    epost[1] = epost[0];
    c = soma_conn_default();
    c.pre = *ga;
    c.post = *gb;
    c.rule = SOMA_CONN_EDGES;
    c.edge_pre = epre;
    c.edge_post = epost;
    c.edge_w = ew;
    c.n_edges = 200;
    c.delay = 0.2;
    CHECK_OK(soma_snn_connect(net, &c, NULL));
    c = soma_conn_default();
    c.pre = *gb;
    c.post = *ga;
    c.p = 0.3;
    c.target = SOMA_TARGET_INH;
    c.weight = -60.0;
    c.delay = 0.8;
    CHECK_OK(soma_snn_connect(net, &c, NULL));
    c = soma_conn_default();
    c.pre = *gb;
    c.post = *gb;
    c.rule = SOMA_CONN_ONE_TO_ONE;
    c.target = SOMA_TARGET_INH;
    c.weight = -0.5;
    c.delay = 0.5;
    c.autapses = 1;
    CHECK_OK(soma_snn_connect(net, &c, NULL));
    c = soma_conn_default();
    c.pre = *gp;
    c.post = *gb;
    c.p = 0.1;
    c.weight = 0.75;
    c.delay = 0.4;
    CHECK_OK(soma_snn_connect(net, &c, NULL));
    return net;
}

static const int ref_pre_[6] = {2, 0, 0, 1, 1, 2}, ref_post_[6] = {0, 0, 1, 0, 1, 1};
static const int ref_delay_[6] = {1, 3, 2, 8, 5, 4}, ref_target_[6] = {0, 0, 0, 1, 1, 0};

/* Dense reference: per step, update both LIF groups with their propagators (from the closed
 * form, computed here), threshold, reset, refractory (held for R - 1 steps); Poisson spikes
 * are taken from the net's own record; every spike adds its dense row into a delay line. */
static void ref_sim_(const soma_snn *net, ref_proj *rp, const soma_spikes *pin, const double *va0,
                     const double *vb0, soma_spikes *oa, soma_spikes *ob, double *va_end) {
    const double dt = 0.1, C = 200, gL = 10, EL = -60, tm = C / gL, te = 5, ti = 10;
    const double Pvv = exp(-dt / tm), PvI = (1 - exp(-dt / tm)) / gL;
    const double Pve = (exp(-dt / te) - exp(-dt / tm)) / (1 / tm - 1 / te) / C;
    const double Pvi = (exp(-dt / ti) - exp(-dt / tm)) / (1 / tm - 1 / ti) / C;
    static double line[MAXD + 1][2][2][NA]; /* [slot][group A/B][exc/inh][neuron] */
    memset(line, 0, sizeof line);
    double va[NA], ea[NA] = {0}, ia[NA] = {0}, vb[NB];
    int ra[NA] = {0}, rb[NB] = {0};
    memcpy(va, va0, sizeof va);
    memcpy(vb, vb0, sizeof vb);
    long pi = 0;
    const int Ra = 20, Rb = 50;
    for (int n = 0; n < STEPS; n++) {
        int sa[NA], sb[NB], sp[NP], na = 0, nb = 0, np = 0;
        for (int j = 0; j < NA; j++) {
            double v = EL + (va[j] - EL) * Pvv + 90.0 * PvI + ea[j] * Pve + ia[j] * Pvi;
            ea[j] *= exp(-dt / te);
            ia[j] *= exp(-dt / ti);
            if (ra[j] > 0) {
                ra[j]--;
                v = -60;
            } else if (v > -50) {
                sa[na++] = j;
                v = -60;
                ra[j] = Ra - 1;
            }
            va[j] = v;
        }
        for (int j = 0; j < NB; j++) {
            double v = EL + (vb[j] - EL) * Pvv + 95.0 * PvI;
            if (rb[j] > 0) {
                rb[j]--;
                v = -60;
            } else if (v > -50) {
                sb[nb++] = j;
                v = -60;
                rb[j] = Rb - 1;
            }
            vb[j] = v;
        }
        while (pi < pin->n && lround(pin->t[pi] / dt) == n) sp[np++] = pin->id[pi++];
        for (int k = 0; k < na; k++) CHECK_OK(soma_spikes_push(oa, sa[k], n * dt));
        for (int k = 0; k < nb; k++) CHECK_OK(soma_spikes_push(ob, sb[k], n * dt));
        for (int q = 0; q < 6; q++) {
            const int *src = rp[q].pre == 0 ? sa : rp[q].pre == 1 ? sb : sp;
            const int ns = rp[q].pre == 0 ? na : rp[q].pre == 1 ? nb : np;
            const int npost = rp[q].post == 0 ? NA : NB;
            double *dst = line[(n + rp[q].delay) % (MAXD + 1)][rp[q].post][rp[q].target];
            for (int k = 0; k < ns; k++)
                for (int j = 0; j < npost; j++) dst[j] += rp[q].W[src[k]][j];
        }
        double(*in)[2][NA] = line[(n + 1) % (MAXD + 1)];
        for (int j = 0; j < NA; j++) {
            ea[j] += in[0][0][j];
            ia[j] += in[0][1][j];
        }
        for (int j = 0; j < NB; j++)
            if (rb[j] == 0) vb[j] += in[1][0][j] + in[1][1][j];
        memset(in, 0, sizeof line[0]);
    }
    memcpy(va_end, va, sizeof va);
    (void)net;
}

static int same_spikes_(const soma_spikes *a, const soma_spikes *b) {
    if (a->n != b->n) return 0;
    for (long k = 0; k < a->n; k++)
        if (a->id[k] != b->id[k] || a->t[k] != b->t[k]) return 0;
    return 1;
}

static void test_dense_reference(void) {
    soma_set_threads(1); /* test_determinism: 2 threads give the same bits */
    int ga, gb, gp;
    soma_snn *net = build_net_(5, &ga, &gb, &gp);
    static ref_proj rp[6];
    memset(rp, 0, sizeof rp);
    for (int q = 0; q < 6; q++) {
        rp[q].pre = ref_pre_[q];
        rp[q].post = ref_post_[q];
        rp[q].delay = ref_delay_[q];
        rp[q].target = ref_target_[q];
        long n = soma_snn_proj_size(net, q);
        CHECK(n > 0);
        int *pre = malloc((size_t)n * sizeof *pre), *post = malloc((size_t)n * sizeof *post);
        float *w = malloc((size_t)n * sizeof *w);
        CHECK_OK(soma_snn_proj_get(net, q, pre, post, w));
        for (long k = 0; k < n; k++) rp[q].W[pre[k]][post[k]] += w[k];
        free(pre);
        free(post);
        free(w);
    }
    double va0[NA], vb0[NB], va_end[NA], va_net[NA];
    CHECK_OK(soma_snn_get_state(net, ga, "v", va0));
    CHECK_OK(soma_snn_get_state(net, gb, "v", vb0));
    int ma, mb, mp;
    CHECK_OK(soma_snn_record_spikes(net, ga, &ma));
    CHECK_OK(soma_snn_record_spikes(net, gb, &mb));
    CHECK_OK(soma_snn_record_spikes(net, gp, &mp));
    CHECK_OK(soma_snn_run(net, 100.0));
    CHECK_OK(soma_snn_run(net, STEPS * 0.1 - 100.0)); /* two runs make one */
    soma_spikes oa, ob;
    CHECK_OK(soma_spikes_init(&oa, NA, 0));
    CHECK_OK(soma_spikes_init(&ob, NB, 0));
    ref_sim_(net, rp, soma_snn_spikes(net, mp), va0, vb0, &oa, &ob, va_end);
    const soma_spikes *sa = soma_snn_spikes(net, ma), *sb = soma_snn_spikes(net, mb);
    printf("dense reference: A %ld spikes (ref %ld), B %ld (ref %ld), P %ld\n", sa->n, oa.n, sb->n, ob.n,
           soma_snn_spikes(net, mp)->n);
    CHECK(sa->n > 200 && sb->n > 100);
    CHECK(same_spikes_(sa, &oa));
    CHECK(same_spikes_(sb, &ob));
    CHECK_OK(soma_snn_get_state(net, ga, "v", va_net));
    double worst = 0;
    for (int j = 0; j < NA; j++) worst = fmax(worst, fabs(va_net[j] - va_end[j]));
    CHECK(worst < 1e-9);
    CHECK(sa->t_stop == STEPS * 0.1);
    soma_spikes_free(&oa);
    soma_spikes_free(&ob);
    soma_snn_stats s;
    soma_snn_stats_get(net, &s);
    CHECK(s.steps == STEPS);
    long ev = 0; /* syn events: every spike times its out-degree */
    CHECK(s.spikes == sa->n + sb->n + soma_snn_spikes(net, mp)->n);
    (void)ev;
    CHECK(s.bytes > 0 && s.syn_events > 0);
    soma_snn_free(net);
    soma_set_threads(2);
}

// --- against Brian2 ---------------------------------------------------------------------------

/* Edges of a fixture into a projection (weights' sign picks EXC or INH when split). */
static void fix_edges_(soma_snn *net, const fixture *f, const char *name, int pre, int post, double delay,
                       int sign) {
    char k1[40], k2[40], k3[40];
    snprintf(k1, sizeof k1, "%s_pre", name);
    snprintf(k2, sizeof k2, "%s_post", name);
    snprintf(k3, sizeof k3, "%s_w", name);
    const fixture_array *a = fixture_get(f, k1), *b = fixture_get(f, k2), *w = fixture_get(f, k3);
    CHECK(a && b && w && a->n == b->n && a->n == w->n);
    if (!a || !b || !w) return;
    int *ep = malloc(a->n * sizeof *ep), *eq = malloc(a->n * sizeof *eq);
    float *ew = malloc(a->n * sizeof *ew);
    long m = 0;
    for (size_t e = 0; e < a->n; e++)
        if (sign == 0 || (sign > 0) == (w->data[e] > 0)) {
            ep[m] = (int)a->data[e];
            eq[m] = (int)b->data[e];
            ew[m] = w->data[e];
            m++;
        }
    soma_conn_spec c = soma_conn_default();
    c.pre = pre;
    c.post = post;
    c.rule = SOMA_CONN_EDGES;
    c.edge_pre = ep;
    c.edge_post = eq;
    c.edge_w = ew;
    c.n_edges = m;
    c.target = sign < 0 || (sign == 0 && m && ew[0] < 0) ? SOMA_TARGET_INH : SOMA_TARGET_EXC;
    c.delay = delay;
    CHECK_OK(soma_snn_connect(net, &c, NULL));
    free(ep);
    free(eq);
    free(ew);
}

static int same_as_fixture_(const soma_spikes *s, const fixture_array *fi, const fixture_array *ft) {
    if (!fi || !ft || (long)fi->n != s->n) return 0;
    /* Brian2 orders the spikes of a step by neuron, as soma does */
    for (long k = 0; k < s->n; k++)
        if (s->id[k] != (int)fi->data[k] || fabs(s->t[k] - ft->data[k]) > 1e-4) return 0;
    return 1;
}

/* tests/ref/gen_snn.py: the same network simulated by Brian2 (exact and exponential-Euler
 * integration, delays, refractoriness, current and conductance synapses) gives the same
 * spikes, to the step; soma's delays are Brian2's + dt. */
static void test_brian2(void) {
    fixture f;
    if (fixture_load(check_src_path("tests/fixtures/snn/brian2_net.bin"), &f) != 0) {
        CHECK(0);
        return;
    }
    soma_set_threads(1); /* (2 threads give the same bits: test_determinism) */
    soma_snn *net = NULL;
    CHECK_OK(soma_snn_new(&net, 0.1, 1));
    soma_neuron_params a, b;
    soma_neuron_defaults(SOMA_LIF, &a);
    a.t_ref = 2.0;
    b = a;
    b.synapse = SOMA_SYN_CONDUCTANCE;
    b.t_ref = 5.0;
    int ga, gb, ma, mb;
    CHECK_OK(soma_snn_add_group(net, "A", 40, &a, &ga));
    CHECK_OK(soma_snn_add_group(net, "B", 20, &b, &gb));
    double x[40];
    const char *arr[4] = {"a_v0", "a_I", "b_v0", "b_I"};
    for (int k = 0; k < 4; k++) {
        const fixture_array *fa = fixture_get(&f, arr[k]);
        CHECK(fa && fa->n == (k < 2 ? 40u : 20u));
        if (!fa) continue;
        for (size_t i = 0; i < fa->n; i++) x[i] = fa->data[i];
        if (k % 2 == 0) CHECK_OK(soma_snn_set_state(net, k < 2 ? ga : gb, "v", x));
        else CHECK_OK(soma_snn_set_current(net, k < 2 ? ga : gb, x));
    }
    fix_edges_(net, &f, "aa", ga, ga, 0.3, 1);
    fix_edges_(net, &f, "aa", ga, ga, 0.3, -1);
    fix_edges_(net, &f, "ab", ga, gb, 0.6, 0);
    fix_edges_(net, &f, "ba", gb, ga, 0.1, 0);
    CHECK_OK(soma_snn_record_spikes(net, ga, &ma));
    CHECK_OK(soma_snn_record_spikes(net, gb, &mb));
    CHECK_OK(soma_snn_run(net, 300.0));
    const soma_spikes *sa = soma_snn_spikes(net, ma), *sb = soma_snn_spikes(net, mb);
    printf("brian2: A %ld spikes (Brian2 %zu), B %ld (Brian2 %zu)\n", sa->n,
           fixture_get(&f, "a_spk_i") ? fixture_get(&f, "a_spk_i")->n : 0, sb->n,
           fixture_get(&f, "b_spk_i") ? fixture_get(&f, "b_spk_i")->n : 0);
    CHECK(same_as_fixture_(sa, fixture_get(&f, "a_spk_i"), fixture_get(&f, "a_spk_t")));
    CHECK(same_as_fixture_(sb, fixture_get(&f, "b_spk_i"), fixture_get(&f, "b_spk_t")));
    soma_snn_free(net);
    fixture_free(&f);
    soma_set_threads(2);
}

// --- determinism ---------------------------------------------------------------------------

static void run_twice_(uint64_t seed, int threads, soma_spikes *out_a, double *v) {
    soma_set_threads(threads);
    int ga, gb, gp, ma;
    soma_snn *net = build_net_(seed, &ga, &gb, &gp);
    CHECK_OK(soma_snn_record_spikes(net, ga, &ma));
    CHECK_OK(soma_snn_run(net, 80.0)); /* 800 steps: the least that probes threads */
    const soma_spikes *s = soma_snn_spikes(net, ma);
    CHECK_OK(soma_spikes_init(out_a, NA, 0));
    for (long k = 0; k < s->n; k++) CHECK_OK(soma_spikes_push(out_a, s->id[k], s->t[k]));
    CHECK_OK(soma_snn_get_state(net, ga, "v", v));
    soma_snn_free(net);
}

static void test_determinism(void) {
    soma_spikes a, b, c, d;
    double va[NA], vb[NA], vc[NA], vd[NA];
    run_twice_(11, 1, &a, va);
    run_twice_(11, 1, &b, vb);
    run_twice_(11, 2, &c, vc);
    run_twice_(12, 1, &d, vd);
    CHECK(a.n > 0);
    CHECK(same_spikes_(&a, &b) && memcmp(va, vb, sizeof va) == 0);
    CHECK(same_spikes_(&a, &c) && memcmp(va, vc, sizeof va) == 0); /* 1 vs 2 threads: same bits */
    CHECK(!same_spikes_(&a, &d));
    /* with the timing of threads on, a run switches between 2 threads and 1 (net.c): the
     * same bits again */
    for (int mode = 1; mode <= 2; mode++) { /* 2: the probe on 2 threads is cut short */
        snn__set_probe(mode);
        soma_spikes e;
        double ve[NA];
        run_twice_(11, 2, &e, ve);
        snn__set_probe(0);
        CHECK(same_spikes_(&a, &e) && memcmp(va, ve, sizeof va) == 0);
        soma_spikes_free(&e);
    }
    soma_spikes_free(&a);
    soma_spikes_free(&b);
    soma_spikes_free(&c);
    soma_spikes_free(&d);
    soma_set_threads(2);
}

/* A bigger network across thread counts: 3 threads split rows unevenly, Poisson blocks too. */
static void test_threads_big(void) {
    uint32_t crc[3];
    long nsp[3];
    for (int t = 1; t <= 3; t++) {
        soma_set_threads(t);
        soma_snn *net;
        CHECK_OK(soma_snn_new(&net, 0.1, 3));
        soma_neuron_params lif, po;
        soma_neuron_defaults(SOMA_LIF, &lif);
        lif.synapse = SOMA_SYN_CONDUCTANCE;
        lif.V_init_lo = -60;
        lif.V_init_hi = -50;
        soma_neuron_defaults(SOMA_POISSON, &po);
        po.rate = 20;
        int e, p, m;
        CHECK_OK(soma_snn_add_group(net, "E", 1500, &lif, &e));
        CHECK_OK(soma_snn_add_group(net, "P", 2500, &po, &p)); /* 3 blocks: thread 3 gets one */
        soma_conn_spec c = soma_conn_default();
        c.pre = p;
        c.post = e;
        c.p = 0.05;
        c.weight = 1.1;
        CHECK_OK(soma_snn_connect(net, &c, NULL));
        c.pre = e;
        c.p = 0.02;
        c.weight = 0.4;
        c.delay = 1.5;
        CHECK_OK(soma_snn_connect(net, &c, NULL));
        CHECK_OK(soma_snn_record_spikes(net, e, &m));
        CHECK_OK(soma_snn_run(net, 30.0));
        const soma_spikes *s = soma_snn_spikes(net, m);
        double v[1500];
        CHECK_OK(soma_snn_get_state(net, e, "v", v));
        crc[t - 1] = soma_crc32(soma_crc32(soma_crc32(0, s->id, (size_t)s->n * sizeof *s->id), s->t,
                                           (size_t)s->n * sizeof *s->t), v, sizeof v);
        nsp[t - 1] = s->n;
        soma_snn_free(net);
    }
    printf("threads 1/2/3: %ld %ld %ld spikes, crc %08x %08x %08x\n", nsp[0], nsp[1], nsp[2], crc[0], crc[1], crc[2]);
    CHECK(nsp[0] > 50);
    CHECK(crc[0] == crc[1] && crc[0] == crc[2]);
    soma_set_threads(2);
}

// --- connectivity ---------------------------------------------------------------------------

static soma_snn *two_groups_(int n1, int n2, int *a, int *b) {
    soma_snn *net = NULL;
    soma_neuron_params p;
    soma_neuron_defaults(SOMA_LIF, &p);
    CHECK_OK(soma_snn_new(&net, 0.1, 77));
    CHECK_OK(soma_snn_add_group(net, "a", n1, &p, a));
    if (n2 > 0) CHECK_OK(soma_snn_add_group(net, "b", n2, &p, b));
    return net;
}

static void test_conn_prob(void) {
    int a, b, q;
    soma_snn *net = two_groups_(1000, 700, &a, &b);
    soma_conn_spec c = soma_conn_default();
    c.pre = a;
    c.post = b;
    c.p = 0.05;
    CHECK_OK(soma_snn_connect(net, &c, &q));
    const double mu = 0.05 * 1000 * 700, sd = sqrt(mu * 0.95);
    long n = soma_snn_proj_size(net, q);
    printf("PROB: %ld synapses, expected %.0f +- %.0f\n", n, mu, sd);
    CHECK(fabs(n - mu) < 4 * sd);
    /* pre == post without autapses: p N (N - 1), no i -> i, rows sorted and distinct */
    c.post = a;
    c.p = 0.1;
    CHECK_OK(soma_snn_connect(net, &c, &q));
    n = soma_snn_proj_size(net, q);
    const double mu2 = 0.1 * 1000 * 999, sd2 = sqrt(mu2 * 0.9);
    CHECK(fabs(n - mu2) < 4 * sd2);
    int *pre = malloc((size_t)n * sizeof *pre), *post = malloc((size_t)n * sizeof *post);
    CHECK_OK(soma_snn_proj_get(net, q, pre, post, NULL));
    int ok = 1;
    long col_count[1000] = {0};
    for (long k = 0; k < n; k++) {
        if (pre[k] == post[k]) ok = 0;
        if (k && (pre[k] < pre[k - 1] || (pre[k] == pre[k - 1] && post[k] <= post[k - 1]))) ok = 0;
        col_count[post[k]]++;
    }
    CHECK(ok);
    /* the columns are uniform too: chi-square of the in-degrees within bounds */
    double chi = 0, e = (double)n / 1000;
    for (int j = 0; j < 1000; j++) chi += (col_count[j] - e) * (col_count[j] - e) / e;
    CHECK(chi < 1000 + 4 * sqrt(2000.0));
    free(pre);
    free(post);
    /* p = 0 and p = 1 */
    c.p = 0;
    CHECK_OK(soma_snn_connect(net, &c, &q));
    CHECK(soma_snn_proj_size(net, q) == 0);
    c.p = 1;
    c.pre = b;
    c.post = b;
    c.autapses = 1;
    CHECK_OK(soma_snn_connect(net, &c, &q));
    CHECK(soma_snn_proj_size(net, q) == 700L * 700);
    soma_snn_free(net);
}

static void test_conn_indegree(void) {
    int a, b, q;
    soma_snn *net = two_groups_(300, 0, &a, &b);
    soma_conn_spec c = soma_conn_default();
    c.pre = a;
    c.post = a;
    c.rule = SOMA_CONN_INDEGREE;
    c.k = 299; /* all but self */
    CHECK_OK(soma_snn_connect(net, &c, &q));
    CHECK(soma_snn_proj_size(net, q) == 300L * 299);
    c.k = 17;
    CHECK_OK(soma_snn_connect(net, &c, &q));
    long n = soma_snn_proj_size(net, q);
    CHECK(n == 300L * 17);
    int *pre = malloc((size_t)n * sizeof *pre), *post = malloc((size_t)n * sizeof *post);
    CHECK_OK(soma_snn_proj_get(net, q, pre, post, NULL));
    static unsigned char seen[300][300];
    memset(seen, 0, sizeof seen);
    int indeg[300] = {0}, ok = 1;
    for (long k = 0; k < n; k++) {
        if (pre[k] == post[k] || seen[post[k]][pre[k]]) ok = 0;
        seen[post[k]][pre[k]] = 1;
        indeg[post[k]]++;
    }
    for (int j = 0; j < 300; j++) ok &= indeg[j] == 17;
    CHECK(ok);
    free(pre);
    free(post);
    c.k = 300;
    CHECK_FAILS(soma_snn_connect(net, &c, NULL), SOMA_ERR_ARG);
    c.autapses = 1;
    CHECK_OK(soma_snn_connect(net, &c, NULL));
    soma_snn_free(net);
}

static void test_conn_edges(void) {
    int a, b, q;
    soma_snn *net = two_groups_(5, 4, &a, &b);
    int ep[] = {3, 0, 3, 1, 3, 0}, eq[] = {2, 1, 0, 3, 2, 0};
    float ew[] = {1, 2, 3, 4, 5, 6};
    soma_conn_spec c = soma_conn_default();
    c.pre = a;
    c.post = b;
    c.rule = SOMA_CONN_EDGES;
    c.edge_pre = ep;
    c.edge_post = eq;
    c.edge_w = ew;
    c.n_edges = 6;
    CHECK_OK(soma_snn_connect(net, &c, &q));
    int pre[6], post[6];
    float w[6];
    CHECK(soma_snn_proj_size(net, q) == 6);
    CHECK_OK(soma_snn_proj_get(net, q, pre, post, w));
    /* by pre, then post, duplicates kept in the given order */
    const int wp[] = {0, 0, 1, 3, 3, 3}, wq[] = {0, 1, 3, 0, 2, 2};
    const float ww[] = {6, 2, 4, 3, 1, 5};
    int ok = 1;
    for (int k = 0; k < 6; k++) ok &= pre[k] == wp[k] && post[k] == wq[k] && w[k] == ww[k];
    CHECK(ok);
    eq[2] = 4;
    CHECK_FAILS(soma_snn_connect(net, &c, NULL), SOMA_ERR_ARG);
    eq[2] = 0;
    ep[5] = -1;
    CHECK_FAILS(soma_snn_connect(net, &c, NULL), SOMA_ERR_ARG);
    ep[5] = 0;
    c.n_edges = -1;
    CHECK_FAILS(soma_snn_connect(net, &c, NULL), SOMA_ERR_ARG);
    c.n_edges = 0;
    CHECK_OK(soma_snn_connect(net, &c, &q));
    CHECK(soma_snn_proj_size(net, q) == 0);
    c.rule = SOMA_CONN_ONE_TO_ONE;
    CHECK_FAILS(soma_snn_connect(net, &c, NULL), SOMA_ERR_ARG); /* 5 vs 4 */
    c.post = a;
    CHECK_OK(soma_snn_connect(net, &c, &q));
    CHECK(soma_snn_proj_size(net, q) == 5);
    CHECK(soma_snn_n_synapses(net) == 6 + 0 + 5);
    CHECK(soma_snn_n_projections(net) == 3);
    soma_snn_free(net);
}

static void test_conn_seeds(void) {
    /* same seed, same synapses; a projection added before does not change a later one's
     * stream, and a different seed gives different synapses */
    long sizes[3];
    uint32_t crcs[3];
    for (int k = 0; k < 3; k++) {
        int a, b, q;
        soma_snn *net = NULL;
        soma_neuron_params p;
        soma_neuron_defaults(SOMA_LIF, &p);
        CHECK_OK(soma_snn_new(&net, 0.1, k == 2 ? 78 : 77));
        CHECK_OK(soma_snn_add_group(net, "a", 600, &p, &a));
        CHECK_OK(soma_snn_add_group(net, "b", 500, &p, &b));
        soma_conn_spec c = soma_conn_default();
        c.pre = a;
        c.post = b;
        c.p = 0.03;
        CHECK_OK(soma_snn_connect(net, &c, &q));
        long n = soma_snn_proj_size(net, q);
        int *pre = malloc((size_t)n * sizeof *pre), *post = malloc((size_t)n * sizeof *post);
        CHECK_OK(soma_snn_proj_get(net, q, pre, post, NULL));
        crcs[k] = soma_crc32(soma_crc32(0, pre, (size_t)n * sizeof *pre), post, (size_t)n * sizeof *post);
        sizes[k] = n;
        free(pre);
        free(post);
        soma_snn_free(net);
        soma_set_threads(k == 0 ? 1 : 2);
    }
    CHECK(sizes[0] == sizes[1] && crcs[0] == crcs[1]);
    CHECK(crcs[0] != crcs[2]);
    soma_set_threads(2);
}

// --- Poisson sources ----------------------------------------------------------------------------

static void test_poisson(void) {
    soma_set_threads(1); /* test_threads_big: Poisson blocks give the same bits on 1..3 threads */
    soma_snn *net = NULL;
    CHECK_OK(soma_snn_new(&net, 0.1, 4));
    soma_neuron_params p;
    soma_neuron_defaults(SOMA_POISSON, &p);
    p.rate = 8.0;
    int g, m, r;
    CHECK_OK(soma_snn_add_group(net, "in", 3000, &p, &g));
    CHECK_OK(soma_snn_record_spikes(net, g, &m));
    CHECK_OK(soma_snn_record_rate(net, g, &r));
    CHECK_OK(soma_snn_run(net, 2000.0));
    const soma_spikes *s = soma_snn_spikes(net, m);
    const double mu = 8.0 * 3000 * 2.0;
    printf("poisson: %ld spikes, expected %.0f\n", s->n, mu);
    CHECK(fabs(s->n - mu) < 4 * sqrt(mu));
    /* per neuron counts: Poisson, so the variance over neurons is about the mean */
    static int cnt[3000];
    memset(cnt, 0, sizeof cnt);
    for (long k = 0; k < s->n; k++) cnt[s->id[k]]++;
    double m1 = 0, m2 = 0;
    for (int i = 0; i < 3000; i++) m1 += cnt[i];
    m1 /= 3000;
    for (int i = 0; i < 3000; i++) m2 += (cnt[i] - m1) * (cnt[i] - m1);
    m2 /= 2999;
    CHECK(fabs(m2 / m1 - 1.0) < 0.15);
    const float *hz;
    long nr;
    CHECK_OK(soma_snn_rate(net, r, &hz, &nr));
    double sum = 0;
    for (long k = 0; k < nr; k++) sum += hz[k];
    CHECK(nr == 20000 && fabs(sum / nr - s->n / (3000 * 2.0)) < 1e-3);
    /* a new rate takes effect; rate 0 silences */
    CHECK_OK(soma_snn_set_rate(net, g, 0.0));
    long before = s->n;
    CHECK_OK(soma_snn_run(net, 100.0));
    CHECK(soma_snn_spikes(net, m)->n == before);
    CHECK_OK(soma_snn_set_rate(net, g, 100.0));
    CHECK_OK(soma_snn_run(net, 100.0));
    const double mu3 = 100.0 * 3000 * 0.1;
    CHECK(fabs(soma_snn_spikes(net, m)->n - before - mu3) < 4 * sqrt(mu3));
    soma_snn_free(net);
    soma_set_threads(2);
}

/* Poisson input without synapses: a non-leaky integrator (delta synapses, tau_m ~ 1e8 ms)
 * sums its counts; mean and variance over neurons are those of Poisson(n rate T); the
 * numbers do not depend on the thread count; lambda >= 30 a step takes the other sampler. */
static void pin_run_(int threads, int n_sources, double rate, double T, double *v) {
    soma_set_threads(threads);
    soma_snn *net = NULL;
    CHECK_OK(soma_snn_new(&net, 0.1, 9));
    soma_neuron_params p;
    soma_neuron_defaults(SOMA_LIF, &p);
    p.synapse = SOMA_SYN_DELTA;
    p.C = 1e9;
    p.V_th = 1e12;
    p.t_ref = 0;
    p.EL = p.V_reset = p.V_init_lo = p.V_init_hi = 0;
    int g;
    CHECK_OK(soma_snn_add_group(net, "x", 1000, &p, &g));
    CHECK_OK(soma_snn_poisson_input(net, g, n_sources, rate, 0.5, SOMA_TARGET_EXC));
    CHECK_OK(soma_snn_poisson_input(net, g, 1, 0.0, 0.5, SOMA_TARGET_INH)); /* rate 0: none */
    CHECK_OK(soma_snn_run(net, T));
    CHECK_OK(soma_snn_get_state(net, g, "v", v));
    soma_snn_free(net);
}

static void test_poisson_input(void) {
    static double v1[1000], v2[1000];
    const int ns[2] = {800, 200000};
    const double rates[2] = {5.0, 20.0}; /* lambda 0.4 and 400 a step */
    for (int c = 0; c < 2; c++) {
        const double T = c == 0 ? 50.0 : 2.0;
        pin_run_(1, ns[c], rates[c], T, v1);
        pin_run_(2, ns[c], rates[c], T, v2);
        CHECK(memcmp(v1, v2, sizeof v1) == 0);
        double m = 0, q = 0;
        for (int i = 0; i < 1000; i++) m += v1[i] / 0.5;
        m /= 1000;
        for (int i = 0; i < 1000; i++) q += (v1[i] / 0.5 - m) * (v1[i] / 0.5 - m);
        q /= 999;
        const double mu = ns[c] * rates[c] * T * 1e-3;
        printf("poisson input: mean count %.2f (expected %.2f), variance %.2f\n", m, mu, q);
        CHECK(fabs(m - mu) < 4 * sqrt(mu / 1000));
        CHECK(fabs(q / mu - 1) < 0.2); /* sd of the ratio ~ sqrt(2/999) = 0.045 */
    }
    soma_set_threads(2);
    soma_snn *net = NULL;
    int a, b;
    net = two_groups_(10, 0, &a, &b);
    CHECK_FAILS(soma_snn_poisson_input(net, a, -1, 5, 1, SOMA_TARGET_EXC), SOMA_ERR_ARG);
    CHECK_FAILS(soma_snn_poisson_input(net, a, 10, NAN, 1, SOMA_TARGET_EXC), SOMA_ERR_ARG);
    CHECK_FAILS(soma_snn_poisson_input(net, a, 10, 5, 1, (soma_syn_target)2), SOMA_ERR_ARG);
    CHECK_FAILS(soma_snn_poisson_input(net, 4, 10, 5, 1, SOMA_TARGET_EXC), SOMA_ERR_ARG);
    soma_snn_free(net);
}

// --- monitors ---------------------------------------------------------------------------------

static void test_monitors(void) {
    int a, b;
    soma_snn *net = two_groups_(10, 0, &a, &b);
    const int idx[2] = {3, 7};
    int m;
    double I[10];
    for (int i = 0; i < 10; i++) I[i] = 50.0 * i;
    CHECK_OK(soma_snn_set_current(net, a, I));
    CHECK_OK(soma_snn_record_state(net, a, "v", idx, 2, 5, &m));
    CHECK_OK(soma_snn_run(net, 10.0));
    const float *d;
    const double *t;
    long ns;
    int nn;
    CHECK_OK(soma_snn_state(net, m, &d, &t, &ns, &nn));
    CHECK(ns == 20 && nn == 2 && t[1] == 0.5 && d[0] == -60.f);
    double v[10];
    CHECK_OK(soma_snn_run(net, 0.5));
    CHECK_OK(soma_snn_get_state(net, a, "v", v));
    CHECK_OK(soma_snn_state(net, m, &d, &t, &ns, &nn));
    /* the sample at t = 10 ms is the state after 100 steps; the one at 10.5 is not yet taken */
    CHECK(ns == 21 && fabs(t[20] - 10.0) < 1e-12);
    soma_monitor_kind kind;
    int grp;
    CHECK_OK(soma_snn_monitor_info(net, m, &kind, &grp));
    CHECK(kind == SOMA_MON_STATE && grp == a);
    CHECK(soma_snn_n_monitors(net) == 1);
    CHECK(soma_snn_spikes(net, m) == NULL);
    CHECK_FAILS(soma_snn_rate(net, m, NULL, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_snn_monitor_info(net, 5, NULL, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_snn_record_state(net, a, "u", idx, 2, 1, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_snn_record_state(net, a, "v", (int[]){10}, 1, 1, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_snn_record_state(net, a, "v", idx, 2, 0, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_snn_record_spikes(net, 3, NULL), SOMA_ERR_ARG);
    soma_snn_free(net);
    /* a state read between steps includes the input due next; set replaces it */
    net = two_groups_(1, 1, &a, &b);
    soma_conn_spec c = soma_conn_default();
    c.pre = a;
    c.post = b;
    c.rule = SOMA_CONN_ONE_TO_ONE;
    c.weight = 42.0;
    CHECK_OK(soma_snn_connect(net, &c, NULL));
    double x = -40.0, ge = -1, vb = 0;
    CHECK_OK(soma_snn_set_state(net, a, "v", &x)); /* spikes in step 0 */
    CHECK_OK(soma_snn_run(net, 0.1));
    CHECK_OK(soma_snn_get_state(net, b, "ge", &ge));
    CHECK(ge == 42.0);
    x = 0;
    CHECK_OK(soma_snn_set_state(net, b, "ge", &x));
    CHECK_OK(soma_snn_get_state(net, b, "ge", &ge));
    CHECK(ge == 0.0);
    CHECK_OK(soma_snn_run(net, 1.0));
    CHECK_OK(soma_snn_get_state(net, b, "v", &vb));
    CHECK(vb == -60.0);
    soma_snn_free(net);
}

// --- bad arguments and memory ----------------------------------------------------------------------

static void test_bad_args(void) {
    soma_snn *net = NULL;
    CHECK_FAILS(soma_snn_new(&net, 0, 1), SOMA_ERR_ARG);
    CHECK_FAILS(soma_snn_new(&net, NAN, 1), SOMA_ERR_ARG);
    CHECK_FAILS(soma_snn_new(&net, 11, 1), SOMA_ERR_ARG);
    int a, b, pg;
    net = two_groups_(10, 20, &a, &b);
    soma_neuron_params p, po;
    soma_neuron_defaults(SOMA_LIF, &p);
    soma_neuron_defaults(SOMA_POISSON, &po);
    CHECK_OK(soma_snn_add_group(net, "p", 5, &po, &pg));
    CHECK_FAILS(soma_snn_add_group(net, "x", -5, &p, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_snn_add_group(net, "x", 0, &p, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_snn_add_group(net, "a", 5, &p, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_snn_add_group(net, "", 5, &p, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_snn_add_group(net, "big", 2147483640, &p, NULL), SOMA_ERR_ARG); /* > 2^31 - 1 in all */
    /* 2^31 - 100 neurons: allowed by count, refused for memory (about 100 GB of state) */
    CHECK_FAILS(soma_snn_add_group(net, "big", 2147483500, &p, NULL), SOMA_ERR_NOMEM);
    p.tau_e = -1;
    CHECK_FAILS(soma_snn_add_group(net, "x", 5, &p, NULL), SOMA_ERR_ARG);
    CHECK(soma_snn_n_groups(net) == 3 && soma_snn_find_group(net, "b") == b && soma_snn_find_group(net, "q") == -1);
    CHECK(soma_snn_group_size(net, 9) == 0 && soma_snn_group_size(net, b) == 20);
    soma_conn_spec c = soma_conn_default();
    c.pre = a;
    c.post = b;
    c.p = 1.5;
    CHECK_FAILS(soma_snn_connect(net, &c, NULL), SOMA_ERR_ARG);
    c.p = -0.1;
    CHECK_FAILS(soma_snn_connect(net, &c, NULL), SOMA_ERR_ARG);
    c.p = NAN;
    CHECK_FAILS(soma_snn_connect(net, &c, NULL), SOMA_ERR_ARG);
    c.p = 0.1;
    c.pre = 7;
    CHECK_FAILS(soma_snn_connect(net, &c, NULL), SOMA_ERR_ARG);
    c.pre = a;
    c.post = -1;
    CHECK_FAILS(soma_snn_connect(net, &c, NULL), SOMA_ERR_ARG);
    c.post = pg; /* a Poisson group takes no input */
    CHECK_FAILS(soma_snn_connect(net, &c, NULL), SOMA_ERR_ARG);
    c.post = b;
    c.delay = INFINITY;
    CHECK_FAILS(soma_snn_connect(net, &c, NULL), SOMA_ERR_ARG);
    c.delay = -1;
    CHECK_FAILS(soma_snn_connect(net, &c, NULL), SOMA_ERR_ARG);
    c.delay = 1e9;
    CHECK_FAILS(soma_snn_connect(net, &c, NULL), SOMA_ERR_ARG);
    c.delay = 1;
    c.weight = NAN;
    CHECK_FAILS(soma_snn_connect(net, &c, NULL), SOMA_ERR_ARG);
    c.weight = 1;
    c.rule = SOMA_CONN_INDEGREE;
    c.k = 11;
    CHECK_FAILS(soma_snn_connect(net, &c, NULL), SOMA_ERR_ARG);
    c.k = -1;
    CHECK_FAILS(soma_snn_connect(net, &c, NULL), SOMA_ERR_ARG);
    c.rule = (soma_conn_rule)9;
    CHECK_FAILS(soma_snn_connect(net, &c, NULL), SOMA_ERR_ARG);
    c.rule = SOMA_CONN_EDGES;
    c.n_edges = 3;
    CHECK_FAILS(soma_snn_connect(net, &c, NULL), SOMA_ERR_ARG); /* no arrays */
    c.rule = SOMA_CONN_PROB;
    c.target = (soma_syn_target)4;
    CHECK_FAILS(soma_snn_connect(net, &c, NULL), SOMA_ERR_ARG);
    c.target = SOMA_TARGET_EXC;
    soma_stdp sd = {20, 20, 0.01, 0.0105, 2.0, 0};
    c.stdp = &sd;
    c.weight = 3.0; /* above w_max */
    CHECK_FAILS(soma_snn_connect(net, &c, NULL), SOMA_ERR_ARG);
    c.weight = 1.0;
    sd.tau_plus = 0;
    CHECK_FAILS(soma_snn_connect(net, &c, NULL), SOMA_ERR_ARG);
    c.stdp = NULL;
    CHECK_FAILS(soma_snn_set_rate(net, a, 5.0), SOMA_ERR_ARG);
    CHECK_FAILS(soma_snn_set_rate(net, pg, -5.0), SOMA_ERR_ARG);
    CHECK_FAILS(soma_snn_set_current(net, pg, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_snn_set_current(net, 12, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_snn_get_state(net, a, "w", (double[10]){0}), SOMA_ERR_ARG);
    CHECK_FAILS(soma_snn_run(net, -1), SOMA_ERR_ARG);
    CHECK_FAILS(soma_snn_run(net, NAN), SOMA_ERR_ARG);
    CHECK(soma_snn_proj_size(net, 0) == -1);
    CHECK_FAILS(soma_snn_proj_get(net, 0, NULL, NULL, NULL), SOMA_ERR_ARG);
    CHECK_OK(soma_snn_connect(net, &c, NULL));
    CHECK_OK(soma_snn_run(net, 1.0));
    CHECK_FAILS(soma_snn_connect(net, &c, NULL), SOMA_ERR_ARG); /* after the first run */
    CHECK_FAILS(soma_snn_add_group(net, "late", 5, &p, NULL), SOMA_ERR_ARG);
    soma_snn_free(net);
    /* conductance synapses take no negative weights */
    soma_neuron_defaults(SOMA_LIF, &p);
    p.synapse = SOMA_SYN_CONDUCTANCE;
    CHECK_OK(soma_snn_new(&net, 0.1, 1));
    CHECK_OK(soma_snn_add_group(net, "c", 10, &p, &a));
    c = soma_conn_default();
    c.pre = a;
    c.post = a;
    c.p = 0.5;
    c.weight = -1;
    CHECK_FAILS(soma_snn_connect(net, &c, NULL), SOMA_ERR_ARG);
    /* absurd sizes: refused, not attempted */
    CHECK_OK(soma_snn_add_group(net, "c100", 100, &p, &a));
    CHECK_OK(soma_snn_add_group(net, "huge", 20000000, &po, &b));
    c.pre = b;
    c.post = a;
    c.weight = 1;
    c.p = 0.9; /* ~1.8e9 synapses: over the limit of 2^29 a projection */
    CHECK_FAILS(soma_snn_connect(net, &c, NULL), SOMA_ERR_NOMEM);
    soma_snn_free(net);
    soma_snn_free(NULL);
    /* ring buffers larger than the machine: refused at the first run, not attempted */
    soma_neuron_defaults(SOMA_LIF, &p);
    CHECK_OK(soma_snn_new(&net, 0.01, 1));
    CHECK_OK(soma_snn_add_group(net, "wide", 200000, &p, &a));
    c = soma_conn_default();
    c.pre = a;
    c.post = a;
    c.rule = SOMA_CONN_EDGES; /* no edges: only the delay matters */
    c.delay = 10485.0;        /* ~2^20 slots x 2e5 neurons x 16 B: 3.4 TB */
    CHECK_OK(soma_snn_connect(net, &c, NULL));
    CHECK_FAILS(soma_snn_run(net, 0.01), SOMA_ERR_NOMEM);
    soma_snn_free(net);
    /* an empty network runs (time passes) */
    CHECK_OK(soma_snn_new(&net, 0.25, 1));
    CHECK_OK(soma_snn_run(net, 10.0));
    CHECK(fabs(soma_snn_time(net) - 10.0) < 1e-12 && soma_snn_dt(net) == 0.25);
    soma_snn_stats st;
    soma_snn_stats_get(net, &st);
    CHECK(st.steps == 40 && st.spikes == 0);
    soma_snn_free(net);
}

/* Every allocation of building and running a small network fails in turn: an error, never a
 * crash or a leak (ASan checks the leaks). */
static void test_oom(void) {
    int fails = 0, oks = 0;
    for (long k = 0; k < 200; k++) {
        soma_snn *net = NULL;
        soma_alloc_fail_after(k);
        soma_status st = soma_snn_new(&net, 0.1, 1);
        int ga = 0, gp = 0, m;
        soma_neuron_params p, po;
        soma_neuron_defaults(SOMA_LIF, &p);
        soma_neuron_defaults(SOMA_POISSON, &po);
        if (st == SOMA_OK) st = soma_snn_add_group(net, "a", 50, &p, &ga);
        if (st == SOMA_OK) st = soma_snn_add_group(net, "p", 50, &po, &gp);
        soma_conn_spec c = soma_conn_default();
        c.pre = gp;
        c.post = ga;
        c.p = 0.2;
        soma_stdp sd = {20, 20, 0.01, 0.01, 100, 0};
        c.stdp = &sd;
        c.weight = 10;
        if (st == SOMA_OK) st = soma_snn_connect(net, &c, NULL);
        c.rule = SOMA_CONN_INDEGREE;
        c.k = 5;
        c.stdp = NULL;
        if (st == SOMA_OK) st = soma_snn_connect(net, &c, NULL);
        if (st == SOMA_OK) st = soma_snn_record_spikes(net, ga, &m);
        if (st == SOMA_OK) st = soma_snn_record_state(net, ga, "v", (int[]){1}, 1, 1, &m);
        if (st == SOMA_OK) st = soma_snn_record_rate(net, ga, &m);
        if (st == SOMA_OK) st = soma_snn_run(net, 5.0);
        long left = soma_alloc_fail_after(-1);
        if (st == SOMA_OK) {
            oks++;
            if (left >= 0) {
                soma_snn_free(net);
                break; /* no allocation left to fail */
            }
        } else {
            if (st != SOMA_ERR_NOMEM) printf("oom %ld: %s: %s\n", k, soma_status_str(st), soma_errmsg());
            CHECK(st == SOMA_ERR_NOMEM);
            fails++;
            /* what was built still runs once memory is back (a failed first run included) */
            if (net) CHECK_OK(soma_snn_run(net, 1.0));
        }
        soma_snn_free(net);
    }
    printf("oom: %d injected failures reported, %d runs completed\n", fails, oks);
    CHECK(fails > 20 && oks == 1);
}

/* runs a test and says on stderr how long it took (the suite must stay quick) */
#define T_(fn)                                                            \
    do {                                                                  \
        double t0_ = soma_now();                                          \
        fn();                                                             \
        fprintf(stderr, "%s: %.2f s\n", #fn, soma_now() - t0_);          \
    } while (0)

int main(void) {
    soma_set_threads(2);
    snn__set_par_min(1);
    snn__set_probe(0); /* thread invariance must test threads, whatever the machine's load */
    T_(test_dense_reference);
    T_(test_brian2);
    T_(test_determinism);
    T_(test_threads_big);
    T_(test_conn_prob);
    T_(test_conn_indegree);
    T_(test_conn_edges);
    T_(test_conn_seeds);
    T_(test_poisson);
    T_(test_poisson_input);
    soma_set_threads(1); /* the rest need no threads (and tiny nets on 2 threads only wait) */
    T_(test_monitors);
    T_(test_bad_args);
    T_(test_oom);
    return check_report("test_snn_net");
}
