/* soma/snn.h -- spiking neurons, synapses, networks, plasticity (STDP), monitors.
 *
 * Units everywhere: time ms, potential mV, current pA, conductance nS, capacitance pF,
 * rate Hz. (Izhikevich neurons keep the paper's dimensionless current units.)
 *
 *     soma_snn *net;
 *     SOMA_TRY(soma_snn_new(&net, 0.1, 42));                 // dt = 0.1 ms, seed 42
 *     soma_neuron_params p; soma_neuron_defaults(SOMA_LIF, &p);
 *     int e, i, mon;
 *     SOMA_TRY(soma_snn_add_group(net, "exc", 3200, &p, &e));
 *     SOMA_TRY(soma_snn_add_group(net, "inh", 800, &p, &i));
 *     soma_conn_spec c = soma_conn_default();
 *     c.pre = e; c.post = e; c.rule = SOMA_CONN_PROB; c.p = 0.02; c.weight = 16.2;
 *     SOMA_TRY(soma_snn_connect(net, &c, NULL));
 *     SOMA_TRY(soma_snn_record_spikes(net, e, &mon));
 *     SOMA_TRY(soma_snn_run(net, 1000.0));                   // 1 s of biological time
 *     const soma_spikes *s = soma_snn_spikes(net, mon);
 *     soma_snn_free(net);
 *
 * Simulation is clock-driven for the neurons (a fixed step dt; the linear sub-threshold
 * dynamics are integrated exactly) and event-driven for the synapses (a spike walks its
 * row of the compressed connectivity once; transmission delays go through ring buffers).
 * A seed and a thread count fix every number; the thread count does not change results.
 *
 * Thread safety: a soma_snn is used by one thread at a time; soma_snn_run uses OpenMP
 * threads internally (soma_set_threads).
 */
#ifndef SOMA_SNN_H
#define SOMA_SNN_H

#include "soma/analysis.h"
#include "soma/core.h"

#ifdef __cplusplus
extern "C" {
#endif

// --- neuron models ---------------------------------------------------------------------

typedef enum soma_neuron_model {
    SOMA_LIF = 0,    /* leaky integrate-and-fire */
    SOMA_ADEX,       /* adaptive exponential integrate-and-fire (Brette & Gerstner 2005) */
    SOMA_IZHIKEVICH, /* Izhikevich (2003) */
    SOMA_POISSON,    /* independent Poisson spike sources (no state, no inputs) */
    SOMA_NEURON_MODEL_COUNT
} soma_neuron_model;

/* How the synaptic inputs of a group act on its neurons. Either way each group has two
 * synaptic variables, excitatory (e) and inhibitory (i), each a sum of exponentially
 * decaying jumps (time constants tau_e, tau_i). */
typedef enum soma_synapse_kind {
    SOMA_SYN_CURRENT = 0, /* I_e + I_i enter the membrane equation as currents (pA) */
    SOMA_SYN_CONDUCTANCE, /* g_e (E_e - V) + g_i (E_i - V), g in nS */
    SOMA_SYN_DELTA,       /* a spike jumps V by the weight (mV) at once (Brunel 2000); no
                           * synaptic variables; inputs arriving while refractory are lost */
    SOMA_SYNAPSE_KIND_COUNT
} soma_synapse_kind;

typedef struct soma_neuron_params {
    soma_neuron_model model;
    soma_synapse_kind synapse;
    /* LIF and AdEx:  C dV/dt = -gL (V - EL) [+ AdEx terms] + I_syn + I_ext */
    double C;          /* pF, membrane capacitance (tau_m = C / gL) */
    double gL;         /* nS, leak conductance */
    double EL;         /* mV, leak reversal potential */
    double V_th;       /* mV, LIF threshold (AdEx: V_peak is the cut) */
    double V_reset;    /* mV, potential after a spike */
    double t_ref;      /* ms, absolute refractory period (V held at V_reset) */
    double I_ext;      /* pA, constant input current (Izhikevich: its own units) */
    double tau_e, tau_i; /* ms, decay of the excitatory / inhibitory synaptic variable */
    double E_e, E_i;   /* mV, reversal potentials (conductance synapses) */
    /* AdEx: + gL delta_T exp((V - V_T)/delta_T) - w;  tau_w dw/dt = a (V - EL) - w;
     * at V >= V_peak: V = V_reset, w += b */
    double delta_T, V_T, V_peak; /* mV */
    double a;          /* nS */
    double b;          /* pA */
    double tau_w;      /* ms */
    /* Izhikevich: dv/dt = 0.04 v^2 + 5 v + 140 - u + I;  du/dt = a (b v - u);
     * at v >= 30: v = c, u += d */
    double izh_a, izh_b, izh_c, izh_d;
    double rate;       /* Hz, Poisson sources */
    double V_init_lo, V_init_hi; /* mV, initial V drawn uniformly in [lo, hi] */
} soma_neuron_params;

/* Documented defaults of a model (LIF: C 200 pF, gL 10 nS, EL -60, V_th -50, V_reset -60,
 * t_ref 5 ms, tau_e 5, tau_i 10, E_e 0, E_i -80, current synapses; see the source). */
void soma_neuron_defaults(soma_neuron_model model, soma_neuron_params *p);
/* Izhikevich's published patterns: "RS" regular spiking, "FS" fast spiking, "IB"
 * intrinsically bursting, "CH" chattering (also "LTS", "TC", "RZ"). SOMA_ERR_ARG if unknown. */
soma_status soma_izhikevich_preset(const char *name, soma_neuron_params *p);
/* SOMA_ERR_ARG with a message naming the field for impossible values (non-positive C, gL,
 * time constants; V_reset >= V_th; negative rate, t_ref; non-finite values). */
soma_status soma_neuron_params_check(const soma_neuron_params *p);
/* The analytic firing rate (Hz) of a LIF neuron under a constant current I (pA) with no
 * synaptic input: 1 / (t_ref + tau_m ln((R I + EL - V_reset) / (R I + EL - V_th))), and 0
 * below the rheobase. */
double soma_lif_rate(const soma_neuron_params *p, double I);
const char *soma_neuron_model_name(soma_neuron_model m); /* "lif", "adex", ... */
int soma_neuron_model_parse(const char *name);           /* -1 if unknown */

// --- networks --------------------------------------------------------------------------

typedef struct soma_snn soma_snn;

/* dt in ms (0 < dt <= 10). */
soma_status soma_snn_new(soma_snn **out, double dt, uint64_t seed);
void soma_snn_free(soma_snn *net); /* NULL is a no-op */

/* Adds n neurons (1 <= n, total <= 2^31 - 1) of one model; *group receives its id (0, 1, ...;
 * may be NULL). Names are unique, 1..63 characters. */
soma_status soma_snn_add_group(soma_snn *net, const char *name, int n,
                               const soma_neuron_params *p, int *group);
int soma_snn_find_group(const soma_snn *net, const char *name); /* -1 if none */
int soma_snn_group_size(const soma_snn *net, int group);        /* 0 for a bad id */
int soma_snn_n_groups(const soma_snn *net);

typedef enum soma_conn_rule {
    SOMA_CONN_PROB = 0,   /* each (pre, post) pair independently with probability p */
    SOMA_CONN_INDEGREE,   /* each post neuron draws k distinct pre neurons */
    SOMA_CONN_EDGES,      /* a user-supplied edge list */
    SOMA_CONN_ONE_TO_ONE  /* pre i -> post i (equal sizes) */
} soma_conn_rule;

typedef enum soma_syn_target { SOMA_TARGET_EXC = 0, SOMA_TARGET_INH = 1 } soma_syn_target;

/* Pair-based STDP with exponential traces. A post spike at t after a pre spike at t - s adds
 * A_plus w_max exp(-s/tau_plus); a pre spike after a post spike subtracts A_minus w_max
 * exp(-s/tau_minus) (all pairs, via traces). Additive: the change is as written, then w is
 * clipped to [0, w_max]. Multiplicative (soft bounds): potentiation is scaled by
 * (w_max - w)/w_max, depression by w/w_max. */
typedef struct soma_stdp {
    double tau_plus, tau_minus; /* ms */
    double A_plus, A_minus;     /* fractions of w_max */
    double w_max;               /* weights stay in [0, w_max] */
    int multiplicative;
} soma_stdp;

typedef struct soma_conn_spec {
    int pre, post;          /* group ids */
    soma_syn_target target; /* which synaptic variable of post the spikes jump */
    soma_conn_rule rule;
    double p;               /* SOMA_CONN_PROB */
    int k;                  /* SOMA_CONN_INDEGREE */
    const int *edge_pre, *edge_post; /* SOMA_CONN_EDGES: n_edges pairs of in-group indices */
    const float *edge_w;    /* SOMA_CONN_EDGES: per-edge weights, or NULL for weight */
    long n_edges;
    /* Jump of the target variable per spike: pA for current synapses (signed: an inhibitory
     * current is negative), nS for conductance synapses (>= 0), mV for delta synapses. */
    double weight;
    double delay;           /* ms, rounded to whole steps, at least one step */
    int autapses;           /* allow i -> i when pre == post */
    const soma_stdp *stdp;  /* NULL: static weights (copied by soma_snn_connect) */
} soma_conn_spec;

/* A spec with every field zero except rule PROB, delay 0.1 ms (one step at the default dt). */
soma_conn_spec soma_conn_default(void);

/* Builds a projection; *proj receives its id (may be NULL). Random rules draw from the net's
 * seed and the projection's index, so adding a projection never changes earlier ones. */
soma_status soma_snn_connect(soma_snn *net, const soma_conn_spec *c, int *proj);
int soma_snn_n_projections(const soma_snn *net);
long soma_snn_n_synapses(const soma_snn *net);        /* all projections */
long soma_snn_proj_size(const soma_snn *net, int proj); /* -1 for a bad id */
/* Copies a projection's synapses (any pointer may be NULL): pre and post in-group indices and
 * current weights, ordered by pre then post. */
soma_status soma_snn_proj_get(const soma_snn *net, int proj, int *pre, int *post, float *w);

/* External drive. Per-neuron constant currents (pA; NULL restores the group's I_ext), or a
 * Poisson group's rate (Hz). Take effect from the next step. */
soma_status soma_snn_set_current(soma_snn *net, int group, const double *I);
soma_status soma_snn_set_rate(soma_snn *net, int group, double rate);

// --- monitors --------------------------------------------------------------------------

/* Records every spike of a group (ids within the group, times in ms). */
soma_status soma_snn_record_spikes(soma_snn *net, int group, int *mon);
/* Records a state variable ("v", "ge", "gi", "w" for AdEx, "u" for Izhikevich) of the
 * chosen neurons every `every` steps. */
soma_status soma_snn_record_state(soma_snn *net, int group, const char *var, const int *neurons,
                                  int n, int every, int *mon);
/* Records the population rate (Hz) of a group at every step. */
soma_status soma_snn_record_rate(soma_snn *net, int group, int *mon);

typedef enum soma_monitor_kind { SOMA_MON_SPIKES = 0, SOMA_MON_STATE, SOMA_MON_RATE } soma_monitor_kind;
int soma_snn_n_monitors(const soma_snn *net);
/* A monitor's kind and group (either may be NULL); SOMA_ERR_ARG for a bad id. */
soma_status soma_snn_monitor_info(const soma_snn *net, int mon, soma_monitor_kind *kind,
                                  int *group);

const soma_spikes *soma_snn_spikes(const soma_snn *net, int mon); /* NULL for a bad id */
/* A state monitor's samples, row-major [n_samples, n_neurons], and sample times (ms). */
soma_status soma_snn_state(const soma_snn *net, int mon, const float **data, const double **t,
                           long *n_samples, int *n_neurons);
soma_status soma_snn_rate(const soma_snn *net, int mon, const float **hz, long *n_steps);

// --- running ---------------------------------------------------------------------------

/* Advances the network by duration ms (rounded to whole steps); may be called again to go on.
 * Connectivity is frozen at the first run (connect after it: SOMA_ERR_ARG). */
soma_status soma_snn_run(soma_snn *net, double duration);
double soma_snn_time(const soma_snn *net); /* ms simulated so far */
double soma_snn_dt(const soma_snn *net);

typedef struct soma_snn_stats {
    long steps;
    long spikes;          /* emitted by all groups */
    long syn_events;      /* synaptic deliveries (spikes x out-degree) */
    double setup_seconds; /* wall time of building connectivity (connect + freeze) */
    double sim_seconds;   /* wall time inside soma_snn_run */
    size_t bytes;         /* memory held by the network (connectivity, state, buffers) */
} soma_snn_stats;
void soma_snn_stats_get(const soma_snn *net, soma_snn_stats *s);

// --- engine additions (issue 6, simulator) ---------------------------------------------
//
// Semantics of a step n (t_n = n dt to t_n+1), the order of Brian2's default schedule: state
// monitors sample the values at t_n; each group takes in the jumps due at step n, updates
// (LIF: exact for current and delta synapses, exponential Euler for conductances; AdEx: Euler
// in sub-steps <= 0.02 ms; Izhikevich: two half steps for v, as in his code), tests V > V_th
// (AdEx, Izhikevich: V >= V_peak) and resets; spikes are stamped t_n; their jumps are queued
// for step n + delay. So a delay of d steps here equals Brian2's delay (d - 1) dt: the
// one-step minimum is Brian2's delay 0 (tests/ref/gen_snn.py checks it spike for spike). A
// neuron that spikes at step n is held at V_reset, without threshold, for round(t_ref/dt) - 1
// steps (Brian2's refractoriness); delta-synapse input arriving then is lost. EDGES keeps every
// edge as given (duplicates, self-edges: the autapses flag applies to PROB and INDEGREE only);
// ONE_TO_ONE likewise. A random projection of more than 2^29 synapses, or a group or projection
// larger than the machine's memory, is refused with SOMA_ERR_NOMEM before anything is drawn.
// Threads: at least 2000 neurons a thread (smaller networks run on one), and a run on T > 1
// threads times them against one thread every 5000 steps and goes on with the faster (on a
// loaded machine a barrier a step can cost a time slice); results never depend on the count.

/* A group's name (NULL for a bad id); borrowed, valid while the net lives. */
const char *soma_snn_group_name(const soma_snn *net, int group);
/* Copies (get) or overwrites (set) a state variable of every neuron of a group, in double
 * precision: "v", "ge", "gi", "w" (AdEx), "u" (Izhikevich); out/x hold group-size values.
 * The value is the one at the start of the next step, the input due then included (what a
 * state monitor would sample); set replaces that input too.
 * SOMA_ERR_ARG for a bad group, a variable the model lacks, or (set) a non-finite value. */
soma_status soma_snn_get_state(const soma_snn *net, int group, const char *var, double *out);
soma_status soma_snn_set_state(soma_snn *net, int group, const char *var, const double *x);
/* Independent Poisson input to every neuron of a group without synapses (Brian2's
 * PoissonInput, NEST's poisson_generator): n_sources sources of `rate` Hz each, so each step
 * every neuron receives a Poisson number of spikes with mean n_sources rate dt (the exact
 * count of their superposition), each a jump of `weight` on the target variable, acting in
 * that step's update (as input with a delay of one step from the step before). One input per
 * target variable: calling again replaces it; rate 0 removes it. Draws are counter-based on
 * (seed, group, target, neuron, step): they do not depend on the thread count. */
soma_status soma_snn_poisson_input(soma_snn *net, int group, int n_sources, double rate, double weight,
                                   soma_syn_target target);
/* Shows a progress line on stderr during soma_snn_run, labelled `label`, and notes the sim
 * time and synaptic events per second when a run ends (core.h's soma_progress; SOMA_PROGRESS
 * applies). NULL (the default) keeps the library silent. */
void soma_snn_set_progress(soma_snn *net, const char *label);

// --- networks from JSON ----------------------------------------------------------------

/* Builds a network from the JSON description documented in docs/snn-json.md (groups,
 * connections, monitors, dt, seed, duration). *duration receives the description's run time
 * in ms. Bad descriptions give SOMA_ERR_PARSE or SOMA_ERR_ARG with a message naming the
 * offending entry. */
soma_status soma_snn_from_json(const char *text, soma_snn **out, double *duration);

/* What a description holds beyond the network, for tools that write its records (soma snn):
 * its run time and seed, and per monitor id the state variable and neurons it records (var ""
 * and no neurons for spike and rate monitors). */
typedef struct soma_snn_json_monitor {
    char var[8];
    int n_neurons;
    int *neurons;
} soma_snn_json_monitor;
typedef struct soma_snn_json_info {
    double duration; /* ms */
    uint64_t seed;
    int n_monitors;
    soma_snn_json_monitor *monitors; /* [n_monitors] */
} soma_snn_json_info;
/* soma_snn_from_json that also fills *info (caller-owned struct; release its arrays with
 * soma_snn_json_info_free, also after a failure, which leaves it empty). */
soma_status soma_snn_from_json_info(const char *text, soma_snn **out, soma_snn_json_info *info);
void soma_snn_json_info_free(soma_snn_json_info *info);

// --- spiking layers for the nn stack (surrogate-gradient training) ----------------------

/* Adds the spiking layer kinds to the nn spec grammar (soma_layer_register); idempotent, not
 * thread-safe (call at start-up; the soma CLI and the snn-fmnist experiment do). Tokens:
 *   lif[(OPTS)]   leaky integrate-and-fire neurons over the time axis: input currents [T,...]
 *                 -> spikes [T,...]. U[t] = beta U[t-1] + I[t] - theta S[t-1] (reset by
 *                 subtraction; reset=zero: U[t] = beta U[t-1] (1 - S[t-1]) + I[t]),
 *                 S[t] = H(U[t] - theta), U[-1] = S[-1] = 0. Backward: BPTT with SuperSpike's
 *                 fast-sigmoid surrogate dS/dU = 1 / (1 + k |U - theta|)^2.
 *   lifN[(OPTS)]  fcN (token-wise, weight [N,I], bias [N]) followed by lif: [T,...] -> [T,N].
 *   OPTS          beta=B (0..1) or tau=MS,dt=MS (beta = exp(-dt/tau); default tau 10, dt 1:
 *                 beta 0.905), theta=V (default 1), k=K (default 25), reset=sub|zero (default
 *                 sub), detach=0|1 (1: no gradient through the reset; default 0), out=spike|mem
 *                 (the output: spikes, or the membrane U), learn=0|1 (per-neuron beta and
 *                 threshold as parameters "beta", "threshold" [D]; default 0).
 *   li[N][(OPTS)] a leaky integrator read-out (liN: fcN first): U[t] = beta U[t-1] + I[t],
 *                 no threshold, output U; OPTS beta or tau,dt.
 *   rateT         Bernoulli rate coding [...] -> [T,...]: P(spike) = clamp(x, 0, 1) per step,
 *                 drawn from the layer's stream; backward dx = sum_t dy_t.
 *   latencyT      one spike at step round((1 - x)(T - 1)) for x > 0 (none for x <= 0);
 *                 backward dx = 0.
 * e.g. "rate8,lif256,fc10,tmean" (the read-out: the time mean of the last dense layer's
 * currents). Details in src/snn/layer_lif.c and layer_code.c. */
soma_status soma_snn_register_layers(void);

#ifdef __cplusplus
}
#endif
#endif
