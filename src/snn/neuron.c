/* Neuron models: documented defaults, Izhikevich's presets, parameter checks, the analytic LIF
 * rate, and the per-step kernels of every model (coefficients fixed once by snn__calibrate).
 *
 * Integrators (dt is the network step, ms):
 *   LIF, current or delta synapses: exact. V, I_e, I_i form a linear system; its propagator
 *     over dt (Rotter & Diesmann 1999; Brian2's "exact") is precomputed, so a step is five
 *     multiply-adds a neuron whatever dt is.
 *   LIF, conductance synapses: exponential Euler (Brian2's exponential_euler): over a step the
 *     conductances are held at their start values, so V relaxes exactly towards
 *     V_inf = (gL EL + ge E_e + gi E_i + I) / (gL + ge + gi) with rate (gL + ge + gi) / C;
 *     the conductances then decay exactly.
 *   AdEx: forward Euler on (V, w) in sub-steps of at most 0.02 ms, synaptic inputs held over
 *     the step; a sub-step that takes V to V_peak ends the step with a spike.
 *   Izhikevich: as in Izhikevich (2003)'s own code, v takes two Euler half steps of dt/2, then
 *     u one Euler step of dt using the new v; spike at v >= V_peak (30).
 * Refractoriness (as Brian2's): a neuron that spikes in step n is held at V_reset, without
 * threshold test, for steps n+1 .. n+R-1, R = round(t_ref / dt); its synaptic variables keep
 * decaying. Stamped with the step's start time t_n (Brian2's convention), its next spike can
 * come at t_n + t_ref at the earliest. */
#include <math.h>
#include <string.h>
#include <strings.h>

#include "snn/internal.h"

/* The vectorisable loops are also compiled for AVX2 and picked at load time (GCC's function
 * multi-versioning): 4 doubles a vector instead of SSE2's 2, about 20% off a LIF step. No FMA
 * (the target does not enable it, and -std=c11 keeps contraction off): the same bits either
 * way. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define SNN_X86_GCC 1
#define SNN_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SNN_X86_GCC 0
#define SNN_CLONES
#endif

// --- defaults and presets ---------------------------------------------------------------

void soma_neuron_defaults(soma_neuron_model model, soma_neuron_params *p) {
    memset(p, 0, sizeof *p);
    p->model = model;
    p->synapse = SOMA_SYN_CURRENT;
    /* Vogels & Abbott (2005)'s LIF: tau_m = 20 ms, threshold 10 mV above rest */
    p->C = 200.0;
    p->gL = 10.0;
    p->EL = -60.0;
    p->V_th = -50.0;
    p->V_reset = -60.0;
    p->t_ref = 5.0;
    p->tau_e = 5.0;
    p->tau_i = 10.0;
    p->E_e = 0.0;
    p->E_i = -80.0;
    p->V_init_lo = p->V_init_hi = -60.0;
    switch (model) {
    case SOMA_ADEX: /* Brette & Gerstner (2005), their Fig. 2 neuron */
        p->C = 281.0;
        p->gL = 30.0;
        p->EL = -70.6;
        p->V_T = -50.4;
        p->V_th = -50.4;
        p->delta_T = 2.0;
        p->V_peak = 0.0;
        p->V_reset = -70.6;
        p->a = 4.0;
        p->b = 80.5;
        p->tau_w = 144.0;
        p->t_ref = 0.0;
        p->V_init_lo = p->V_init_hi = -70.6;
        break;
    case SOMA_IZHIKEVICH:
        p->izh_a = 0.02;
        p->izh_b = 0.2;
        p->izh_c = -65.0;
        p->izh_d = 8.0;
        p->V_peak = 30.0;
        p->V_th = 30.0;
        p->V_reset = -65.0;
        p->t_ref = 0.0;
        p->V_init_lo = p->V_init_hi = -65.0;
        break;
    case SOMA_POISSON:
        p->rate = 10.0;
        p->t_ref = 0.0;
        break;
    default:
        break;
    }
}

typedef struct izh_preset {
    const char *name;
    double a, b, c, d;
} izh_preset;

/* Izhikevich (2003), Fig. 2 */
static const izh_preset izh_presets_[] = {
    {"RS", 0.02, 0.2, -65.0, 8.0},   {"IB", 0.02, 0.2, -55.0, 4.0},  {"CH", 0.02, 0.2, -50.0, 2.0},
    {"FS", 0.1, 0.2, -65.0, 2.0},    {"LTS", 0.02, 0.25, -65.0, 2.0}, {"TC", 0.02, 0.25, -65.0, 0.05},
    {"RZ", 0.1, 0.26, -65.0, 2.0},
};

soma_status soma_izhikevich_preset(const char *name, soma_neuron_params *p) {
    if (!name || !p) return soma_error(SOMA_ERR_ARG, "izhikevich: NULL preset name or params");
    for (size_t i = 0; i < sizeof izh_presets_ / sizeof izh_presets_[0]; i++) {
        if (strcasecmp(name, izh_presets_[i].name) == 0) {
            soma_neuron_defaults(SOMA_IZHIKEVICH, p);
            p->izh_a = izh_presets_[i].a;
            p->izh_b = izh_presets_[i].b;
            p->izh_c = izh_presets_[i].c;
            p->izh_d = izh_presets_[i].d;
            p->V_reset = p->izh_c;
            return SOMA_OK;
        }
    }
    return soma_error(SOMA_ERR_ARG, "izhikevich: unknown preset '%s' (RS, IB, CH, FS, LTS, TC, RZ)", name);
}

// --- names ----------------------------------------------------------------------------

static const char *const model_names_[SOMA_NEURON_MODEL_COUNT] = {"lif", "adex", "izhikevich", "poisson"};

const char *soma_neuron_model_name(soma_neuron_model m) {
    return (unsigned)m < SOMA_NEURON_MODEL_COUNT ? model_names_[m] : "?";
}

int soma_neuron_model_parse(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < SOMA_NEURON_MODEL_COUNT; i++)
        if (strcasecmp(name, model_names_[i]) == 0) return i;
    return -1;
}

// --- checks -----------------------------------------------------------------------------

#define FINITE_(field)                                                                          \
    do {                                                                                        \
        if (!isfinite(p->field))                                                                \
            return soma_error(SOMA_ERR_ARG, "neuron params: %s is %g, not a finite number", #field, \
                              p->field);                                                        \
    } while (0)
#define POSITIVE_(field, unit)                                                                  \
    do {                                                                                        \
        if (!(p->field > 0))                                                                    \
            return soma_error(SOMA_ERR_ARG, "neuron params: %s must be > 0 %s, got %g", #field, unit, \
                              p->field);                                                        \
    } while (0)

soma_status soma_neuron_params_check(const soma_neuron_params *p) {
    if (!p) return soma_error(SOMA_ERR_ARG, "neuron params: NULL");
    if ((unsigned)p->model >= SOMA_NEURON_MODEL_COUNT)
        return soma_error(SOMA_ERR_ARG, "neuron params: unknown model %d", (int)p->model);
    if ((unsigned)p->synapse >= SOMA_SYNAPSE_KIND_COUNT)
        return soma_error(SOMA_ERR_ARG, "neuron params: unknown synapse kind %d", (int)p->synapse);
    if (p->model == SOMA_POISSON) {
        FINITE_(rate);
        if (p->rate < 0) return soma_error(SOMA_ERR_ARG, "neuron params: rate must be >= 0 Hz, got %g", p->rate);
        return SOMA_OK;
    }
    FINITE_(t_ref);
    FINITE_(I_ext);
    FINITE_(E_e);
    FINITE_(E_i);
    FINITE_(V_init_lo);
    FINITE_(V_init_hi);
    FINITE_(V_reset);
    if (p->t_ref < 0) return soma_error(SOMA_ERR_ARG, "neuron params: t_ref must be >= 0 ms, got %g", p->t_ref);
    if (p->synapse != SOMA_SYN_DELTA) {
        POSITIVE_(tau_e, "ms");
        POSITIVE_(tau_i, "ms");
        FINITE_(tau_e);
        FINITE_(tau_i);
    }
    if (!(p->V_init_lo <= p->V_init_hi))
        return soma_error(SOMA_ERR_ARG, "neuron params: V_init_lo %g > V_init_hi %g", p->V_init_lo, p->V_init_hi);
    if (p->model == SOMA_LIF || p->model == SOMA_ADEX) {
        POSITIVE_(C, "pF");
        POSITIVE_(gL, "nS");
        FINITE_(C);
        FINITE_(gL);
        FINITE_(EL);
    }
    if (p->model == SOMA_LIF) {
        FINITE_(V_th);
        if (!(p->V_reset < p->V_th))
            return soma_error(SOMA_ERR_ARG, "neuron params: V_reset %g must be below V_th %g", p->V_reset, p->V_th);
    } else if (p->model == SOMA_ADEX) {
        POSITIVE_(delta_T, "mV");
        POSITIVE_(tau_w, "ms");
        FINITE_(delta_T);
        FINITE_(tau_w);
        FINITE_(V_T);
        FINITE_(V_peak);
        FINITE_(a);
        FINITE_(b);
        if (!(p->V_peak > p->V_T))
            return soma_error(SOMA_ERR_ARG, "neuron params: V_peak %g must be above V_T %g", p->V_peak, p->V_T);
        if (!(p->V_reset < p->V_peak))
            return soma_error(SOMA_ERR_ARG, "neuron params: V_reset %g must be below V_peak %g", p->V_reset, p->V_peak);
        if ((p->V_peak - p->V_T) / p->delta_T > 600)
            return soma_error(SOMA_ERR_ARG, "neuron params: (V_peak - V_T) / delta_T = %g overflows exp()",
                              (p->V_peak - p->V_T) / p->delta_T);
    } else {
        FINITE_(izh_a);
        FINITE_(izh_b);
        FINITE_(izh_c);
        FINITE_(izh_d);
        FINITE_(V_peak);
        if (!(p->izh_c < p->V_peak))
            return soma_error(SOMA_ERR_ARG, "neuron params: izh_c %g must be below V_peak %g", p->izh_c, p->V_peak);
    }
    return SOMA_OK;
}

double soma_lif_rate(const soma_neuron_params *p, double I) {
    const double RI = I / p->gL, tau_m = p->C / p->gL;
    const double top = RI + p->EL - p->V_reset, bot = RI + p->EL - p->V_th;
    if (!(bot > 0)) return 0.0;
    return 1000.0 / (p->t_ref + tau_m * log(top / bot));
}

// --- coefficients -------------------------------------------------------------------------

/* integral_0^h exp(-(h-s)/tau_m) exp(-s/tau_s) ds, stable when tau_s is near tau_m */
static double exp_conv_(double h, double tau_m, double tau_s) {
    const double d = 1.0 / tau_s - 1.0 / tau_m;
    if (d == 0.0) return h * exp(-h / tau_m);
    return exp(-h / tau_m) * (-expm1(-d * h)) / d;
}

soma_status snn__calibrate(snn_group *g, double dt) {
    const soma_neuron_params *p = &g->p;
    snn_coef *c = &g->c;
    memset(c, 0, sizeof *c);
    c->dt = dt;
#if SNN_X86_GCC
    c->avx2 = __builtin_cpu_supports("avx2");
#endif
    if (p->model == SOMA_POISSON) {
        g->rate_p = p->rate * dt * 1e-3;
        return SOMA_OK;
    }
    c->ref_steps = (int)llround(p->t_ref / dt);
    if (p->synapse != SOMA_SYN_DELTA) {
        c->P_ee = exp(-dt / p->tau_e);
        c->P_ii = exp(-dt / p->tau_i);
    }
    if (p->model == SOMA_LIF) {
        const double tau_m = p->C / p->gL;
        c->P_vv = exp(-dt / tau_m);
        c->P_vI = -expm1(-dt / tau_m) / p->gL;
        if (p->synapse == SOMA_SYN_CURRENT) {
            c->P_ve = exp_conv_(dt, tau_m, p->tau_e) / p->C;
            c->P_vi = exp_conv_(dt, tau_m, p->tau_i) / p->C;
        }
    } else if (p->model == SOMA_ADEX) {
        c->n_sub = (int)ceil(dt / 0.02 - 1e-9);
        if (c->n_sub < 1) c->n_sub = 1;
        c->h_sub = dt / c->n_sub;
    }
    return SOMA_OK;
}

// --- per-step kernels ---------------------------------------------------------------------


/* After a LIF update: refractory neurons back to V_reset and one step less to wait (a
 * branch-free pass, which vectorises), then V > th spikes and resets. The held neurons sit at
 * V_reset < V_th, so the threshold scan needs no test of its own for them; spikes are rare, so
 * it looks at four neurons a branch. Returns the number of spikes written to out. */
SNN_CLONES static void hold_(double *restrict v, int *restrict ref, int lo, int hi, double vr) {
    for (int i = lo; i < hi; i++) {
        const int x = ref[i];
        v[i] = x > 0 ? vr : v[i];
        ref[i] = x > 0 ? x - 1 : 0;
    }
}

/* The first neuron at or after i (below hi) whose V is above th, or hi. Spikes are rare, so
 * this is the threshold test's cost: with AVX2, 16 neurons a branch in four vector compares;
 * otherwise four a branch. */
#if SNN_X86_GCC
typedef double snn_v4d_ __attribute__((vector_size(32)));
typedef long long snn_v4l_ __attribute__((vector_size(32)));
__attribute__((target("avx2"))) static int next_above_avx2_(const double *v, int i, int hi, double th) {
    const snn_v4d_ t = {th, th, th, th};
    for (; i + 16 <= hi; i += 16) {
        snn_v4d_ a, b, c, d;
        memcpy(&a, v + i, sizeof a);
        memcpy(&b, v + i + 4, sizeof b);
        memcpy(&c, v + i + 8, sizeof c);
        memcpy(&d, v + i + 12, sizeof d);
        const snn_v4l_ m = (a > t) | (b > t) | (c > t) | (d > t);
        if (m[0] | m[1] | m[2] | m[3]) break;
    }
    for (; i < hi; i++)
        if (v[i] > th) return i;
    return hi;
}
#endif

static int next_above_(const double *v, int i, int hi, double th, int avx2) {
#if SNN_X86_GCC
    if (avx2) return next_above_avx2_(v, i, hi, th);
#else
    (void)avx2;
#endif
    for (; i + 4 <= hi; i += 4)
        if ((v[i] > th) | (v[i + 1] > th) | (v[i + 2] > th) | (v[i + 3] > th)) break;
    for (; i < hi; i++)
        if (v[i] > th) return i;
    return hi;
}

static int threshold_(snn_group *g, int lo, int hi, int *out, double th) {
    double *restrict v = g->v;
    int *restrict ref = g->ref;
    const double vr = g->p.V_reset;
    const int r1 = g->c.ref_steps > 1 ? g->c.ref_steps - 1 : 0, avx2 = g->c.avx2;
    hold_(v, ref, lo, hi, vr);
    int k = 0;
    for (int i = next_above_(v, lo, hi, th, avx2); i < hi; i = next_above_(v, i + 1, hi, th, avx2)) {
        out[k++] = i;
        v[i] = vr;
        ref[i] = r1;
    }
    return k;
}

/* Every kernel first takes in the jumps due this step (the ring buffer slot be/bi, which it
 * clears): into the synaptic variables, or for delta synapses into V unless the neuron is
 * refractory (the input is lost). Then it advances the state by one step. */

SNN_CLONES static void lif_current_(snn_group *g, int lo, int hi, float *restrict be, float *restrict bi) {
    const snn_coef *c = &g->c;
    const double EL = g->p.EL;
    const double Pvv = c->P_vv, PvI = c->P_vI, Pve = c->P_ve, Pvi = c->P_vi, Pee = c->P_ee, Pii = c->P_ii;
    double *restrict v = g->v, *restrict ge = g->ge, *restrict gi = g->gi;
    const double *restrict I = g->I;
    if (g->I_uniform) { /* the same arithmetic with one current for all: no array to read */
        const double I0 = g->p.I_ext;
        for (int i = lo; i < hi; i++) {
            const double e = ge[i] + be[i], in = gi[i] + bi[i];
            be[i] = 0;
            bi[i] = 0;
            v[i] = EL + (v[i] - EL) * Pvv + I0 * PvI + e * Pve + in * Pvi;
            ge[i] = e * Pee;
            gi[i] = in * Pii;
        }
        return;
    }
    for (int i = lo; i < hi; i++) {
        const double e = ge[i] + be[i], in = gi[i] + bi[i];
        be[i] = 0;
        bi[i] = 0;
        v[i] = EL + (v[i] - EL) * Pvv + I[i] * PvI + e * Pve + in * Pvi;
        ge[i] = e * Pee;
        gi[i] = in * Pii;
    }
}

/* delta synapses of any model: the jumps go into V, unless the neuron is refractory */
SNN_CLONES static void take_delta_(snn_group *g, int lo, int hi, float *restrict be, float *restrict bi) {
    double *restrict v = g->v;
    const int *restrict ref = g->ref;
    for (int i = lo; i < hi; i++) {
        const double x = (double)be[i] + (double)bi[i];
        v[i] += ref[i] == 0 ? x : 0.0;
        be[i] = 0;
        bi[i] = 0;
    }
}

SNN_CLONES static void take_syn_(snn_group *g, int lo, int hi, float *restrict be, float *restrict bi) {
    double *restrict ge = g->ge, *restrict gi = g->gi;
    for (int i = lo; i < hi; i++) {
        ge[i] += be[i];
        gi[i] += bi[i];
        be[i] = 0;
        bi[i] = 0;
    }
}

SNN_CLONES static void lif_delta_(snn_group *g, int lo, int hi) {
    const double EL = g->p.EL, Pvv = g->c.P_vv, PvI = g->c.P_vI;
    double *restrict v = g->v;
    const double *restrict I = g->I;
    if (g->I_uniform) {
        const double I0 = g->p.I_ext;
        for (int i = lo; i < hi; i++) v[i] = EL + (v[i] - EL) * Pvv + I0 * PvI;
        return;
    }
    for (int i = lo; i < hi; i++) v[i] = EL + (v[i] - EL) * Pvv + I[i] * PvI;
}

SNN_CLONES static void lif_cond_(snn_group *g, int lo, int hi, float *restrict be, float *restrict bi) {
    const double EL = g->p.EL, gL = g->p.gL, Ee = g->p.E_e, Ei = g->p.E_i, dt = g->c.dt;
    const double inv_C = 1.0 / g->p.C, Pee = g->c.P_ee, Pii = g->c.P_ii;
    double *restrict v = g->v, *restrict ge = g->ge, *restrict gi = g->gi;
    const double *restrict I = g->I;
    for (int i = lo; i < hi; i++) {
        const double e = ge[i] + be[i], in = gi[i] + bi[i];
        be[i] = 0;
        bi[i] = 0;
        const double gt = gL + e + in;
        const double vinf = (gL * EL + e * Ee + in * Ei + I[i]) / gt;
        v[i] = vinf + (v[i] - vinf) * exp(-gt * inv_C * dt);
        ge[i] = e * Pee;
        gi[i] = in * Pii;
    }
}

static void adex_(snn_group *g, int lo, int hi) {
    const soma_neuron_params *p = &g->p;
    const double EL = p->EL, gL = p->gL, dT = p->delta_T, VT = p->V_T, Vp = p->V_peak;
    const double inv_C = 1.0 / p->C, a = p->a, inv_tw = 1.0 / p->tau_w, h = g->c.h_sub;
    const double Ee = p->E_e, Ei = p->E_i, Pee = g->c.P_ee, Pii = g->c.P_ii;
    const int cond = p->synapse == SOMA_SYN_CONDUCTANCE, nsub = g->c.n_sub;
    for (int i = lo; i < hi; i++) {
        double V = g->v[i], w = g->w[i];
        const double e = g->ge[i], in = g->gi[i];
        if (g->ref[i] > 0) {
            V = p->V_reset;
            for (int s = 0; s < nsub; s++) w += h * (a * (V - EL) - w) * inv_tw;
        } else {
            for (int s = 0; s < nsub; s++) {
                const double Isyn = cond ? e * (Ee - V) + in * (Ei - V) : e + in;
                const double dV = (-gL * (V - EL) + gL * dT * exp((V - VT) / dT) - w + Isyn + g->I[i]) * inv_C;
                const double dw = (a * (V - EL) - w) * inv_tw;
                V += h * dV;
                w += h * dw;
                if (V >= Vp) break;
            }
        }
        g->v[i] = V;
        g->w[i] = w;
        if (p->synapse != SOMA_SYN_DELTA) {
            g->ge[i] = e * Pee;
            g->gi[i] = in * Pii;
        }
    }
}

static void izh_(snn_group *g, int lo, int hi) {
    const soma_neuron_params *p = &g->p;
    const double a = p->izh_a, b = p->izh_b, Vp = p->V_peak, Ee = p->E_e, Ei = p->E_i, dt = g->c.dt;
    const double Pee = g->c.P_ee, Pii = g->c.P_ii, hh = 0.5 * dt;
    const int cond = p->synapse == SOMA_SYN_CONDUCTANCE;
    for (int i = lo; i < hi; i++) {
        double v = g->v[i], u = g->w[i];
        const double e = g->ge[i], in = g->gi[i];
        if (g->ref[i] > 0) {
            v = p->izh_c;
        } else {
            for (int s = 0; s < 2 && v < Vp; s++) {
                const double Isyn = cond ? e * (Ee - v) + in * (Ei - v) : e + in;
                v += hh * (0.04 * v * v + 5.0 * v + 140.0 - u + Isyn + g->I[i]);
            }
        }
        u += dt * a * (b * v - u);
        g->v[i] = v;
        g->w[i] = u;
        if (p->synapse != SOMA_SYN_DELTA) {
            g->ge[i] = e * Pee;
            g->gi[i] = in * Pii;
        }
    }
}

/* AdEx and Izhikevich: spike at V >= V_peak; reset to V_reset / c, w += b / u += d. */
static int peak_reset_(snn_group *g, int lo, int hi, int *out, double vr, double jump) {
    const int r1 = g->c.ref_steps > 1 ? g->c.ref_steps - 1 : 0;
    int k = 0;
    for (int i = lo; i < hi; i++) {
        if (g->ref[i] > 0) {
            g->ref[i]--;
            continue;
        }
        if (g->v[i] >= g->p.V_peak) {
            out[k++] = i;
            g->v[i] = vr;
            g->w[i] += jump;
            g->ref[i] = r1;
        }
    }
    return k;
}

int snn__update(snn_group *g, int lo, int hi, int64_t step, int *out) {
    const soma_neuron_params *p = &g->p;
    const size_t off = (size_t)(step % g->slots) * (size_t)g->n;
    float *be = g->buf_e + off, *bi = g->buf_i + off;
    if (p->model == SOMA_LIF) {
        if (p->synapse == SOMA_SYN_CURRENT) {
            lif_current_(g, lo, hi, be, bi);
        } else if (p->synapse == SOMA_SYN_DELTA) {
            take_delta_(g, lo, hi, be, bi);
            lif_delta_(g, lo, hi);
        } else {
            lif_cond_(g, lo, hi, be, bi);
        }
        return threshold_(g, lo, hi, out, p->V_th);
    }
    if (p->synapse == SOMA_SYN_DELTA) take_delta_(g, lo, hi, be, bi);
    else take_syn_(g, lo, hi, be, bi);
    if (p->model == SOMA_ADEX) {
        adex_(g, lo, hi);
        return peak_reset_(g, lo, hi, out, p->V_reset, p->b);
    }
    izh_(g, lo, hi);
    return peak_reset_(g, lo, hi, out, p->izh_c, p->izh_d);
}

double snn__pending(const snn_group *g, int var, int i, int64_t step) {
    if (!g->slots || var == 3) return 0.0;
    const size_t at = (size_t)(step % g->slots) * (size_t)g->n + (size_t)i;
    if (g->p.synapse == SOMA_SYN_DELTA)
        return var == 0 && g->ref[i] == 0 ? (double)g->buf_e[at] + (double)g->buf_i[at] : 0.0;
    return var == 1 ? (double)g->buf_e[at] : var == 2 ? (double)g->buf_i[at] : 0.0;
}

// --- Poisson sources ----------------------------------------------------------------------

/* Number of failures before the first success of Bernoulli(p) trials (p in (0, 1)). */
int64_t snn__geometric(soma_rng *r, double p) {
    if (p >= 1.0) return 0;
    if (p <= 0.0) return INT64_MAX / 4;
    const double u = 1.0 - soma_rng_uniform(r); /* (0, 1] */
    const double k = floor(log(u) / log1p(-p));
    return k < (double)(INT64_MAX / 4) ? (int64_t)k : INT64_MAX / 4;
}

void snn__poisson_reset(snn_group *g, uint64_t seed, int group_index) {
    for (int b = 0; b < g->n_blocks; b++) {
        soma_rng_seed(&g->prng[b], seed, snn__stream(SNN_STREAM_POISSON, group_index, b));
        g->pnext[b] = snn__geometric(&g->prng[b], g->rate_p);
    }
}

static inline uint64_t mix64_(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Poisson(lam) count from one uniform u in [0, 1) by inversion (lam < 30). */
static inline int poisson_inv_(double u, double lam, double e_lam) {
    int k = 0;
    double p = e_lam, F = p;
    while (u > F && k < 1000) {
        k++;
        p *= lam / k;
        F += p;
    }
    return k;
}

void snn__poisson_input(const soma_snn *net, snn_group *g, int gi, int lo, int hi, int64_t step) {
    const size_t off = (size_t)(step % g->slots) * (size_t)g->n;
    for (int tg = 0; tg < 2; tg++) {
        const double lam = g->pin_lam[tg], w = g->pin_w[tg];
        if (!(lam > 0)) continue;
        float *restrict buf = (tg == 0 ? g->buf_e : g->buf_i) + off;
        const double e_lam = exp(-lam);
        const uint64_t base = mix64_(net->seed ^ mix64_(((uint64_t)SNN_STREAM_PINPUT << 56) ^
                                                        ((uint64_t)(uint32_t)gi << 8) ^ (uint64_t)tg));
        const uint64_t sbase = mix64_(base ^ ((uint64_t)step * 0x9e3779b97f4a7c15ULL));
        for (int i = lo; i < hi; i++) {
            const uint64_t h = mix64_(sbase + (uint64_t)i * 0xd1b54a32d192ed03ULL);
            int k;
            if (lam < 30) {
                k = poisson_inv_((double)(h >> 11) * 0x1.0p-53, lam, e_lam);
            } else {
                soma_rng r;
                soma_rng_seed(&r, h, 0);
                k = (int)soma_rng_poisson(&r, lam);
            }
            buf[i] += (float)(k * w);
        }
    }
}

int snn__poisson(snn_group *g, int b0, int b1, int *out) {
    int k = 0;
    const double p = g->rate_p;
    for (int b = b0; b < b1; b++) {
        const int lo = b * SNN_POIS_BLOCK;
        const int bs = g->n - lo < SNN_POIS_BLOCK ? g->n - lo : SNN_POIS_BLOCK;
        int64_t pos = g->pnext[b];
        while (pos < bs) {
            out[k++] = lo + (int)pos;
            pos += 1 + snn__geometric(&g->prng[b], p);
        }
        g->pnext[b] = pos - bs;
    }
    return k;
}
