// Networks from JSON (src/snn/json.c): good descriptions build the expected groups, sizes,
// synapses, parameters and monitors; every class of bad description gives its status and a
// one-line message naming the entry; out-of-memory paths fail cleanly (the ASan build checks
// for leaks).
#include <math.h>

#include "check.h"
#include "soma/snn.h"

static const char *good_ =
    "{\"dt\": 0.1, \"seed\": 7, \"duration\": 200, \"comment\": \"a test network\",\n"
    " \"groups\": [\n"
    "  {\"name\": \"exc\", \"n\": 80, \"model\": \"lif\", \"synapse\": \"current\",\n"
    "   \"params\": {\"tau_e\": 3, \"I_ext\": 150, \"V_init_lo\": -60, \"V_init_hi\": -52}},\n"
    "  {\"name\": \"inh\", \"n\": 20, \"model\": \"lif\", \"synapse\": \"conductance\", \"params\": {\"E_i\": -75}},\n"
    "  {\"name\": \"in\", \"n\": 50, \"model\": \"poisson\", \"params\": {\"rate\": 40}},\n"
    "  {\"name\": \"fs\", \"n\": 20, \"model\": \"izhikevich\", \"preset\": \"FS\", \"params\": {\"I_ext\": 10}}],\n"
    " \"connections\": [\n"
    "  {\"pre\": \"exc\", \"post\": \"exc\", \"rule\": \"prob\", \"p\": 0.1, \"weight\": 20, \"delay\": 1.5},\n"
    "  {\"pre\": \"in\", \"post\": \"exc\", \"rule\": \"indegree\", \"k\": 5, \"weight\": 30, \"target\": \"exc\",\n"
    "   \"stdp\": {\"tau_plus\": 20, \"tau_minus\": 20, \"A_plus\": 0.01, \"A_minus\": 0.012, \"w_max\": 60}},\n"
    "  {\"pre\": \"exc\", \"post\": \"inh\", \"rule\": \"edges\", \"edges\": [[3, 0, 1.5], [0, 1, 2.5], [3, 1, 0.5]]},\n"
    "  {\"pre\": \"fs\", \"post\": \"inh\", \"rule\": \"one_to_one\", \"weight\": 2, \"target\": \"inh\"}],\n"
    " \"monitors\": [\n"
    "  {\"kind\": \"spikes\"},\n"
    "  {\"kind\": \"rate\", \"group\": \"exc\"},\n"
    "  {\"kind\": \"state\", \"group\": \"exc\", \"var\": \"v\", \"neurons\": [0, 3], \"every\": 2}]}\n";

static void test_good(void) {
    soma_snn *net = NULL;
    soma_snn_json_info info;
    CHECK_OK(soma_snn_from_json_info(good_, &net, &info));
    if (!net) return;
    CHECK(info.duration == 200 && info.seed == 7 && soma_snn_dt(net) == 0.1);
    CHECK(soma_snn_n_groups(net) == 4);
    CHECK(soma_snn_find_group(net, "exc") == 0 && soma_snn_find_group(net, "fs") == 3);
    CHECK(soma_snn_group_size(net, 0) == 80 && soma_snn_group_size(net, 1) == 20 &&
          soma_snn_group_size(net, 2) == 50 && soma_snn_group_size(net, 3) == 20);
    CHECK(soma_snn_n_projections(net) == 4);
    long n0 = soma_snn_proj_size(net, 0); /* binomial(80*79, 0.1): 632 +- 24 */
    CHECK(n0 > 632 - 5 * 24 && n0 < 632 + 5 * 24);
    CHECK(soma_snn_proj_size(net, 1) == 5 * 80);
    CHECK(soma_snn_proj_size(net, 2) == 3);
    CHECK(soma_snn_proj_size(net, 3) == 20);
    CHECK(soma_snn_n_synapses(net) == n0 + 400 + 3 + 20);
    /* the edges with their own weights, ordered by pre then post */
    int pre[3], post[3];
    float w[3];
    CHECK_OK(soma_snn_proj_get(net, 2, pre, post, w));
    CHECK(pre[0] == 0 && post[0] == 1 && w[0] == 2.5f);
    CHECK(pre[1] == 3 && post[1] == 0 && w[1] == 1.5f);
    CHECK(pre[2] == 3 && post[2] == 1 && w[2] == 0.5f);
    /* monitors: "spikes" without a group records every group, then the rate and the state */
    CHECK(soma_snn_n_monitors(net) == 6 && info.n_monitors == 6);
    for (int m = 0; m < 4; m++) {
        soma_monitor_kind k;
        int g;
        CHECK_OK(soma_snn_monitor_info(net, m, &k, &g));
        CHECK(k == SOMA_MON_SPIKES && g == m && info.monitors[m].var[0] == 0);
    }
    soma_monitor_kind k;
    int g;
    CHECK_OK(soma_snn_monitor_info(net, 4, &k, &g));
    CHECK(k == SOMA_MON_RATE && g == 0);
    CHECK_OK(soma_snn_monitor_info(net, 5, &k, &g));
    CHECK(k == SOMA_MON_STATE && g == 0);
    CHECK(strcmp(info.monitors[5].var, "v") == 0 && info.monitors[5].n_neurons == 2 &&
          info.monitors[5].neurons[0] == 0 && info.monitors[5].neurons[1] == 3);
    /* the initial potentials drawn in [V_init_lo, V_init_hi] */
    double v[80];
    CHECK_OK(soma_snn_get_state(net, 0, "v", v));
    int in_range = 1, spread = 0;
    for (int i = 0; i < 80; i++) in_range &= v[i] >= -60 && v[i] <= -52, spread |= v[i] != v[0];
    CHECK(in_range && spread);
    /* it runs; the state monitor samples every 2nd step of the two neurons; STDP keeps its
     * weights in [0, w_max] */
    soma_set_threads(1);
    CHECK_OK(soma_snn_run(net, info.duration));
    const float *data;
    const double *t;
    long ns;
    int nn;
    CHECK_OK(soma_snn_state(net, 5, &data, &t, &ns, &nn));
    CHECK(nn == 2 && ns == 1000);
    const soma_spikes *in = soma_snn_spikes(net, 2);
    CHECK(in && in->n > 50 * 40 * 0.2 * 0.7 && in->n < 50 * 40 * 0.2 * 1.3); /* Poisson at 40 Hz */
    /* targets: fs -> inh one-to-one jumps gi of every inh neuron; the exc -> inh edges (target
     * exc by default) reach ge of neurons 0 and 1 only */
    double ge[20], gi[20];
    CHECK_OK(soma_snn_get_state(net, 1, "ge", ge));
    CHECK_OK(soma_snn_get_state(net, 1, "gi", gi));
    int targets_ok = 1;
    for (int i = 0; i < 20; i++) targets_ok &= gi[i] > 0 && (i < 2 || ge[i] == 0);
    CHECK(targets_ok);
    float ws[400];
    CHECK_OK(soma_snn_proj_get(net, 1, NULL, NULL, ws));
    int bounded = 1, moved = 0;
    for (int i = 0; i < 400; i++) bounded &= ws[i] >= 0 && ws[i] <= 60, moved |= ws[i] != 30.f;
    if (!(bounded && moved)) fprintf(stderr, "stdp weights: %g %g %g ...\n", ws[0], ws[1], ws[2]);
    CHECK(bounded && moved);
    soma_snn_free(net);
    soma_snn_json_info_free(&info);

    /* the same description builds the same network; another seed another one */
    soma_snn *a = NULL, *b = NULL, *c = NULL;
    double dur = 0;
    char other[4096];
    snprintf(other, sizeof other, "%s", good_);
    memcpy(strstr(other, "\"seed\": 7"), "\"seed\": 8", 9);
    CHECK_OK(soma_snn_from_json(good_, &a, &dur));
    CHECK_OK(soma_snn_from_json(good_, &b, NULL));
    CHECK_OK(soma_snn_from_json(other, &c, NULL));
    if (a && b && c) {
        long na = soma_snn_proj_size(a, 0), nc = soma_snn_proj_size(c, 0);
        int *pa = calloc((size_t)na, sizeof *pa), *pb = calloc((size_t)na, sizeof *pb);
        CHECK(soma_snn_proj_size(b, 0) == na && dur == 200);
        if (pa && pb) {
            soma_snn_proj_get(a, 0, NULL, pa, NULL);
            soma_snn_proj_get(b, 0, NULL, pb, NULL);
            CHECK(memcmp(pa, pb, (size_t)na * sizeof *pa) == 0);
        }
        int *pc = calloc((size_t)nc, sizeof *pc);
        if (pa && pc) {
            soma_snn_proj_get(c, 0, NULL, pc, NULL);
            CHECK(na != nc || memcmp(pa, pc, (size_t)na * sizeof *pa) != 0);
        }
        free(pa);
        free(pb);
        free(pc);
    }
    soma_snn_free(a);
    soma_snn_free(b);
    soma_snn_free(c);

    /* the smallest description: defaults for dt (0.1), seed (1), duration (1000 ms) */
    CHECK_OK(soma_snn_from_json_info("{\"groups\": [{\"name\": \"a\", \"n\": 1, \"model\": \"lif\"}]}", &a, &info));
    CHECK(a && info.duration == 1000 && info.seed == 1 && soma_snn_dt(a) == 0.1 && info.n_monitors == 0);
    soma_snn_free(a);
    soma_snn_json_info_free(&info);
}

/* Parameters reach the neurons: a LIF neuron with every membrane parameter set in the file
 * fires at the analytic rate of those parameters. */
static void test_params_reach_neurons(void) {
    const char *txt = "{\"dt\": 0.01, \"duration\": 1000, \"groups\": [{\"name\": \"n\", \"n\": 1, \"model\": \"lif\","
                      " \"params\": {\"C\": 250, \"gL\": 12.5, \"EL\": -65, \"V_th\": -48, \"V_reset\": -70,"
                      " \"t_ref\": 2, \"I_ext\": 300, \"V_init_lo\": -65, \"V_init_hi\": -65}}],"
                      " \"monitors\": [{\"kind\": \"spikes\", \"group\": \"n\"}]}";
    soma_snn *net = NULL;
    double dur = 0;
    CHECK_OK(soma_snn_from_json(txt, &net, &dur));
    if (!net) return;
    soma_neuron_params p;
    soma_neuron_defaults(SOMA_LIF, &p);
    p.C = 250, p.gL = 12.5, p.EL = -65, p.V_th = -48, p.V_reset = -70, p.t_ref = 2;
    double want = soma_lif_rate(&p, 300);
    soma_set_threads(1);
    CHECK_OK(soma_snn_run(net, dur));
    const soma_spikes *s = soma_snn_spikes(net, 0);
    CHECK(s != NULL);
    if (s) {
        /* the defaults' rate differs by far: this fails if any parameter were dropped */
        soma_neuron_params d;
        soma_neuron_defaults(SOMA_LIF, &d);
        CHECK(fabs(soma_lif_rate(&d, 300) - want) > 5);
        CHECK(want > 20 && fabs((double)s->n - want) <= 0.02 * want + 1);
    }
    soma_snn_free(net);
}

/* The delay reaches the synapses: a spike of a arrives at b's ge 2.5 ms later (to a step). */
static void test_delay(void) {
    const char *txt = "{\"duration\": 40, \"groups\": [{\"name\": \"a\", \"n\": 1, \"model\": \"lif\", \"params\": {\"I_ext\": 500}},"
                      " {\"name\": \"b\", \"n\": 1, \"model\": \"lif\"}], \"connections\": [{\"pre\": \"a\", \"post\": \"b\","
                      " \"rule\": \"one_to_one\", \"weight\": 10, \"delay\": 2.5}], \"monitors\": [{\"kind\": \"spikes\","
                      " \"group\": \"a\"}, {\"kind\": \"state\", \"group\": \"b\", \"var\": \"ge\", \"neurons\": [0]}]}";
    soma_snn *net = NULL;
    double dur = 0;
    CHECK_OK(soma_snn_from_json(txt, &net, &dur));
    if (!net) return;
    soma_set_threads(1);
    CHECK_OK(soma_snn_run(net, dur));
    const soma_spikes *s = soma_snn_spikes(net, 0);
    const float *ge;
    const double *t;
    long ns = 0;
    int nn = 0;
    CHECK_OK(soma_snn_state(net, 1, &ge, &t, &ns, &nn));
    long first = -1;
    for (long k = 0; k < ns && first < 0; k++)
        if (ge[k] != 0) first = k;
    CHECK(s && s->n > 0 && first >= 0);
    if (s && s->n > 0 && first >= 0) {
        double lag = t[first] - s->t[0];
        if (fabs(lag - 2.5) > 0.1 + 1e-9) fprintf(stderr, "delay: spike at %g ms, ge from %g ms\n", s->t[0], t[first]);
        CHECK(fabs(lag - 2.5) <= 0.1 + 1e-9);
    }
    soma_snn_free(net);
}

// --- bad descriptions ------------------------------------------------------------------

/* Fails with want, a one-line message that starts "snn json" and holds `part`. */
static void bad_(int line, const char *txt, soma_status want, const char *part) {
    soma_snn *net = (soma_snn *)(uintptr_t)1;
    soma_snn_json_info info;
    soma_error_clear();
    soma_status st = soma_snn_from_json_info(txt, &net, &info);
    const char *m = soma_errmsg();
    check_count_++;
    if (st != want || strncmp(m, "snn json", 8) != 0 || strchr(m, '\n') || !strstr(m, part) || net != NULL ||
        info.monitors != NULL) {
        check_failures_++;
        fprintf(stderr, "%s:%d: want %s with \"%s\", got %s: \"%s\"\n", __FILE__, line, soma_status_str(want), part,
                soma_status_str(st), m);
    }
    soma_snn_json_info_free(&info);
}
#define BAD(txt, want, part) bad_(__LINE__, txt, want, part)

#define G1 "{\"name\": \"exc\", \"n\": 10, \"model\": \"lif\"}"
#define G2 "{\"name\": \"inh\", \"n\": 5, \"model\": \"lif\"}"
#define NET(conns) "{\"groups\": [" G1 ", " G2 "], \"connections\": [" conns "]}"
#define CONN "{\"pre\": \"exc\", \"post\": \"inh\", \"rule\": \"prob\", \"p\": 0.5, \"weight\": 1}"
#define MON(mons) "{\"groups\": [" G1 "], \"monitors\": [" mons "]}"
#define GRP(g) "{\"groups\": [" g "]}"

static void test_bad(void) {
    const soma_status P = SOMA_ERR_PARSE, A = SOMA_ERR_ARG;
    /* syntax, types, structure */
    BAD("{\"groups\": [" G1, P, "syntax error");
    BAD("", P, "syntax error");
    BAD("[1, 2]", P, "top level: want an object");
    BAD("{\"dtt\": 0.1, \"groups\": [" G1 "]}", P, "top level: unknown key \"dtt\"");
    BAD("{\"dt\": 0.1, \"dt\": 0.2, \"groups\": [" G1 "]}", P, "\"dt\" given twice");
    BAD("{}", P, "missing \"groups\"");
    BAD("{\"groups\": []}", P, "\"groups\" is empty");
    BAD("{\"groups\": {}}", P, "\"groups\" must be a list");
    BAD("{\"dt\": \"0.1\", \"groups\": [" G1 "]}", P, "\"dt\" must be a number");
    BAD("{\"groups\": [7]}", P, "groups[0]: want an object");
    /* run settings out of range */
    BAD("{\"dt\": 0, \"groups\": [" G1 "]}", A, "dt = 0 is outside (0, 10]");
    BAD("{\"dt\": 20, \"groups\": [" G1 "]}", A, "dt = 20");
    BAD("{\"seed\": -1, \"groups\": [" G1 "]}", A, "seed");
    BAD("{\"seed\": 1.5, \"groups\": [" G1 "]}", A, "not a whole number");
    BAD("{\"duration\": -5, \"groups\": [" G1 "]}", A, "duration = -5");
    BAD("{\"duration\": 1e8, \"dt\": 0.001, \"groups\": [" G1 "]}", A, "steps");
    /* groups */
    BAD(GRP("{\"name\": \"a\", \"n\": 10, \"model\": \"lifx\"}"), P, "groups[0]: unknown model \"lifx\"");
    BAD(GRP("{\"name\": \"a\", \"n\": 10, \"model\": 3}"), P, "\"model\" must be a string");
    BAD(GRP("{\"name\": \"a\", \"n\": 10}"), P, "groups[0]: missing \"model\"");
    BAD(GRP("{\"n\": 10, \"model\": \"lif\"}"), P, "missing \"name\"");
    BAD(GRP("{\"name\": \"a\", \"n\": 1e12, \"model\": \"lif\"}"), A, "groups[0]: n = 1000000000000 is outside [1, 2147483647]");
    BAD(GRP("{\"name\": \"a\", \"n\": 0, \"model\": \"lif\"}"), A, "n = 0");
    BAD(GRP("{\"name\": \"a\", \"n\": 2.5, \"model\": \"lif\"}"), A, "not a whole number");
    BAD(GRP("{\"name\": \"a\", \"n\": \"10\", \"model\": \"lif\"}"), P, "groups[0]: n must be a number");
    BAD(GRP("{\"name\": \"a\", \"n\": 60000000, \"model\": \"lif\"}, {\"name\": \"b\", \"n\": 60000000, \"model\": \"lif\"}"),
        A, "groups[1]: 60000000 more neurons bring the network past the limit");
    BAD(GRP("{\"name\": \"a b\", \"n\": 1, \"model\": \"lif\"}"), A, "bad group name \"a b\"");
    BAD(GRP("{\"name\": \"\", \"n\": 1, \"model\": \"lif\"}"), A, "bad group name");
    BAD(GRP(G1 ", " G1), P, "groups[1]: duplicate group \"exc\"");
    BAD(GRP("{\"name\": \"a\", \"n\": 1, \"model\": \"lif\", \"size\": 3}"), P, "groups[0]: unknown key \"size\"");
    BAD(GRP("{\"name\": \"a\", \"n\": 1, \"model\": \"lif\", \"params\": {\"tau_e\": -5}}"), A,
        "groups[0].params: tau_e = -5 is outside (0,");
    BAD(GRP("{\"name\": \"a\", \"n\": 1, \"model\": \"lif\", \"params\": {\"C\": 0}}"), A, "C = 0");
    BAD(GRP("{\"name\": \"a\", \"n\": 1, \"model\": \"lif\", \"params\": {\"t_ref\": -1}}"), A, "t_ref = -1");
    BAD(GRP("{\"name\": \"a\", \"n\": 1, \"model\": \"lif\", \"params\": {\"tau_m\": 20}}"), P,
        "unknown parameter \"tau_m\"");
    BAD(GRP("{\"name\": \"a\", \"n\": 1, \"model\": \"lif\", \"params\": {\"tau_w\": 20}}"), P,
        "\"tau_w\" does not apply to model lif");
    BAD(GRP("{\"name\": \"a\", \"n\": 1, \"model\": \"lif\", \"params\": {\"E_e\": 0}}"), P,
        "\"E_e\" does not apply to current synapses");
    BAD(GRP("{\"name\": \"a\", \"n\": 1, \"model\": \"lif\", \"synapse\": \"delta\", \"params\": {\"tau_e\": 5}}"), P,
        "does not apply to delta synapses");
    BAD(GRP("{\"name\": \"a\", \"n\": 1, \"model\": \"lif\", \"params\": {\"V_th\": -50, \"V_th\": -40}}"), P,
        "given twice");
    BAD(GRP("{\"name\": \"a\", \"n\": 1, \"model\": \"lif\", \"params\": {\"V_th\": \"x\"}}"), P,
        "\"V_th\" must be a number");
    BAD(GRP("{\"name\": \"a\", \"n\": 1, \"model\": \"lif\", \"params\": {\"V_th\": -70}}"), A,
        "groups[0]: neuron params: V_reset");
    BAD(GRP("{\"name\": \"a\", \"n\": 1, \"model\": \"lif\", \"params\": [1]}"), P, "\"params\" must be an object");
    BAD(GRP("{\"name\": \"a\", \"n\": 1, \"model\": \"lif\", \"preset\": \"RS\"}"), P, "izhikevich groups only");
    BAD(GRP("{\"name\": \"a\", \"n\": 1, \"model\": \"izhikevich\", \"preset\": \"XX\"}"), A, "groups[0]: izhikevich");
    BAD(GRP("{\"name\": \"a\", \"n\": 1, \"model\": \"lif\", \"synapse\": \"chemical\"}"), P, "unknown synapse");
    BAD(GRP("{\"name\": \"a\", \"n\": 1, \"model\": \"poisson\", \"synapse\": \"current\"}"), P, "poisson");
    BAD(GRP("{\"name\": \"a\", \"n\": 1, \"model\": \"poisson\", \"params\": {\"rate\": -3}}"), A, "rate = -3");
    /* connections */
    BAD(NET(CONN ", " CONN ", {\"pre\": \"exc2\", \"post\": \"inh\", \"rule\": \"prob\", \"p\": 0.1, \"weight\": 1}"),
        P, "snn json: connections[2]: unknown group \"exc2\"");
    BAD(NET("{\"post\": \"inh\", \"rule\": \"prob\", \"p\": 0.1, \"weight\": 1}"), P, "connections[0]: missing \"pre\"");
    BAD(NET("{\"pre\": \"exc\", \"post\": \"inh\", \"p\": 0.1, \"weight\": 1}"), P, "missing \"rule\"");
    BAD(NET("{\"pre\": \"exc\", \"post\": \"inh\", \"rule\": \"random\", \"p\": 0.1, \"weight\": 1}"), P,
        "unknown rule \"random\"");
    BAD(NET("{\"pre\": \"exc\", \"post\": \"inh\", \"rule\": \"prob\", \"p\": 2, \"weight\": 1}"), A, "p = 2");
    BAD(NET("{\"pre\": \"exc\", \"post\": \"inh\", \"rule\": \"prob\", \"weight\": 1}"), P, "missing \"p\"");
    BAD(NET("{\"pre\": \"exc\", \"post\": \"inh\", \"rule\": \"prob\", \"p\": 0.1, \"k\": 3, \"weight\": 1}"), P,
        "\"k\" does not apply to rule prob");
    BAD(NET("{\"pre\": \"exc\", \"post\": \"inh\", \"rule\": \"indegree\", \"k\": 11, \"weight\": 1}"), A, "k = 11");
    BAD(NET("{\"pre\": \"exc\", \"post\": \"inh\", \"rule\": \"prob\", \"p\": 0.1}"), P, "missing \"weight\"");
    BAD(NET("{\"pre\": \"exc\", \"post\": \"inh\", \"rule\": \"prob\", \"p\": 0.1, \"weight\": 1, \"target\": \"ex\"}"), P,
        "unknown target \"ex\"");
    BAD(NET("{\"pre\": \"exc\", \"post\": \"inh\", \"rule\": \"prob\", \"p\": 0.1, \"weight\": 1, \"delay\": -1}"), A,
        "delay = -1");
    BAD(NET("{\"pre\": \"exc\", \"post\": \"inh\", \"rule\": \"prob\", \"p\": 0.1, \"weight\": 1, \"autapses\": 1}"), P,
        "true or false");
    BAD(NET("{\"pre\": \"exc\", \"post\": \"inh\", \"rule\": \"edges\", \"edges\": [[0, 5]], \"weight\": 1}"), A,
        "edges[0][1] (post) = 5");
    BAD(NET("{\"pre\": \"exc\", \"post\": \"inh\", \"rule\": \"edges\", \"edges\": [[0, 1], [0, 1, 2]], \"weight\": 1}"),
        P, "edges[1] has 3 entries");
    BAD(NET("{\"pre\": \"exc\", \"post\": \"inh\", \"rule\": \"edges\", \"edges\": [[0, 1, 2]], \"weight\": 1}"), P,
        "drop \"weight\"");
    BAD(NET("{\"pre\": \"exc\", \"post\": \"inh\", \"rule\": \"edges\", \"edges\": [[0]], \"weight\": 1}"), P,
        "edges[0] must be [pre, post]");
    BAD(NET("{\"pre\": \"exc\", \"post\": \"inh\", \"rule\": \"edges\", \"edges\": 3, \"weight\": 1}"), P,
        "\"edges\" must be a list");
    BAD(NET("{\"pre\": \"exc\", \"post\": \"inh\", \"rule\": \"one_to_one\", \"weight\": 1}"), A,
        "one_to_one joins groups of equal size, not 10 and 5");
    BAD(NET("{\"pre\": \"exc\", \"post\": \"inh\", \"rule\": \"prob\", \"p\": 0.1, \"weight\": 1, \"stdp\": {}}"), P,
        "connections[0].stdp: missing \"w_max\"");
    BAD(NET("{\"pre\": \"exc\", \"post\": \"inh\", \"rule\": \"prob\", \"p\": 0.1, \"weight\": 1, \"stdp\": "
            "{\"w_max\": 1, \"tau\": 3}}"),
        P, "unknown key \"tau\"");
    BAD(NET("{\"pre\": \"exc\", \"post\": \"inh\", \"rule\": \"prob\", \"p\": 0.1, \"weight\": 1, \"stdp\": "
            "{\"w_max\": 1, \"tau_plus\": -20}}"),
        A, "tau_plus = -20");
    BAD("{\"groups\": [{\"name\": \"a\", \"n\": 100000, \"model\": \"lif\"}], \"connections\": [{\"pre\": \"a\", "
        "\"post\": \"a\", \"rule\": \"prob\", \"p\": 1, \"weight\": 1}]}",
        A, "connections[0]: about 1e+10 synapses bring the network past the limit");
    BAD("{\"groups\": [" G1 "], \"connections\": 5}", P, "\"connections\" must be a list");
    BAD("{\"groups\": [{\"name\": \"a\", \"n\": 2, \"model\": \"lif\", \"synapse\": \"conductance\"}], \"connections\": "
        "[{\"pre\": \"a\", \"post\": \"a\", \"rule\": \"prob\", \"p\": 1, \"weight\": -1}]}",
        A, "snn json: connections[0]: ");
    /* monitors */
    BAD(MON("{\"kind\": \"voltage\", \"group\": \"exc\"}"), P, "monitors[0]: unknown kind \"voltage\"");
    BAD(MON("{\"group\": \"exc\"}"), P, "missing \"kind\"");
    BAD(MON("{\"kind\": \"spikes\", \"group\": \"ex\"}"), P, "unknown group \"ex\"");
    BAD(MON("{\"kind\": \"state\", \"var\": \"v\", \"neurons\": [0]}"), P, "missing \"group\"");
    BAD(MON("{\"kind\": \"state\", \"group\": \"exc\", \"neurons\": [0]}"), P, "missing \"var\"");
    BAD(MON("{\"kind\": \"state\", \"group\": \"exc\", \"var\": \"v\", \"neurons\": [0, 10]}"), A, "neurons[1] = 10");
    BAD(MON("{\"kind\": \"state\", \"group\": \"exc\", \"var\": \"v\", \"neurons\": []}"), A, "\"neurons\" is empty");
    BAD(MON("{\"kind\": \"state\", \"group\": \"exc\", \"var\": \"u\", \"neurons\": [0]}"), A, "monitors[0]: ");
    BAD(MON("{\"kind\": \"state\", \"group\": \"exc\", \"var\": \"v\", \"neurons\": [0], \"every\": 0}"), A, "every = 0");
    BAD(MON("{\"kind\": \"spikes\", \"group\": \"exc\", \"var\": \"v\"}"), P, "\"var\" is for state monitors only");
    BAD(MON("{\"kind\": \"rate\", \"group\": \"exc\", \"size\": 1}"), P, "unknown key \"size\"");

    soma_snn *net = NULL;
    CHECK_FAILS(soma_snn_from_json(NULL, &net, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_snn_from_json("{}", NULL, NULL), SOMA_ERR_ARG);
}

/* Every allocation on the way can fail: a status, no network, nothing leaked. */
static void test_out_of_memory(void) {
    int failed = 0, ok_after = 0;
    for (long k = 0; k < 400; k++) {
        soma_snn *net = NULL;
        soma_snn_json_info info;
        soma_alloc_fail_after(k);
        soma_status st = soma_snn_from_json_info(good_, &net, &info);
        long left = soma_alloc_fail_after(-1);
        if (st == SOMA_OK) {
            soma_snn_free(net);
            soma_snn_json_info_free(&info);
            if (left >= 0) { /* the armed failure never fired: every allocation is past */
                ok_after = 1;
                break;
            }
            continue;
        }
        failed += st == SOMA_ERR_NOMEM && net == NULL && info.monitors == NULL;
        if (st != SOMA_ERR_NOMEM) fprintf(stderr, "alloc %ld: %s: %s\n", k, soma_status_str(st), soma_errmsg());
        CHECK(st == SOMA_ERR_NOMEM);
    }
    CHECK(failed > 5 && ok_after);
}

int main(void) {
    test_good();
    test_params_reach_neurons();
    test_delay();
    test_bad();
    test_out_of_memory();
    return check_report("test_snn_json");
}
