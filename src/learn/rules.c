// The rule registry (soma_rule_new by kind) and the measure every rule shares: how far its
// update is from backprop's exact gradient (soma_rule_alignment).
#include <math.h>
#include <string.h>

#include "soma/learn.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static const char *const kind_names_[SOMA_RULE_COUNT] = {"bp", "fa", "dfa", "pc", "ff", "hebb"};

const char *soma_rule_kind_name(soma_rule_kind k) {
    return (int)k >= 0 && k < SOMA_RULE_COUNT ? kind_names_[k] : "?";
}

soma_status soma_rule_kind_parse(const char *name, soma_rule_kind *k) {
    if (name && strcmp(name, "backprop") == 0) name = "bp";
    for (int i = 0; i < SOMA_RULE_COUNT; i++)
        if (name && strcmp(name, kind_names_[i]) == 0) {
            *k = (soma_rule_kind)i;
            return SOMA_OK;
        }
    return soma_error(SOMA_ERR_ARG, "unknown rule '%s' (bp, fa, dfa, pc, ff, hebb)", name ? name : "");
}

soma_rule_opts soma_rule_opts_default(void) {
    soma_rule_opts o;
    memset(&o, 0, sizeof o);
    o.kind = SOMA_RULE_BP;
    o.loss = SOMA_LOSS_XENT;
    o.seed = 1;
    o.hebb = SOMA_HEBB_GHA;
    return o;
}

soma_status soma_rule_new(soma_rule **out, soma_net *net, const soma_rule_opts *o) {
    *out = NULL;
    soma_rule_opts d = soma_rule_opts_default();
    if (!o) o = &d;
    switch (o->kind) {
    case SOMA_RULE_BP: return soma_rule_backprop_new(out, o->loss);
    case SOMA_RULE_FA: return soma_rule_fa_new(out, net, o);
    case SOMA_RULE_DFA: return soma_rule_dfa_new(out, net, o);
    case SOMA_RULE_PC: return soma_rule_pc_new(out, net, o);
    /* one line a rule, added as each lands */
    case SOMA_RULE_HEBB: return soma_rule_hebb_new(out, net, o);
    case SOMA_RULE_FF: return soma_rule_ff_new(out, net, o);
    default: break;
    }
    return soma_error(SOMA_ERR_ARG, "rule '%s' is not available", soma_rule_kind_name(o->kind));
}

/* angle or cosine between the rule's grads and backprop's, per weight parameter */
static soma_status alignment_(soma_rule *r, soma_net *net, const float *x, const soma_target *t, int n,
                              double *out, int as_angle) {
    const int np = soma_net_n_params(net);
    size_t total = 0;
    for (int i = 0; i < np; i++) total += soma_net_param(net, i)->n;
    float *g = soma_alloc(total ? total : 1, sizeof(float));
    if (!g) return SOMA_ERR_NOMEM;
    const float **fb = soma_alloc(np ? (size_t)np : 1, sizeof *fb);
    if (!fb) {
        soma_free(g);
        return SOMA_ERR_NOMEM;
    }
    soma_rule *bp = NULL;
    soma_status st = soma_rule_backprop_new(&bp, r->loss);
    /* the true gradient runs through the weights: feedback matrices (FA) are set aside */
    for (int i = 0; i < np; i++) {
        fb[i] = soma_net_param(net, i)->feedback;
        soma_net_param(net, i)->feedback = NULL;
    }
    if (st == SOMA_OK) st = soma_rule_step(bp, net, x, t, n, NULL, NULL);
    for (int i = 0; i < np; i++) soma_net_param(net, i)->feedback = fb[i];
    soma_free(fb);
    if (st == SOMA_OK) {
        size_t off = 0;
        for (int i = 0; i < np; i++) {
            const soma_param *p = soma_net_param(net, i);
            memcpy(g + off, p->grad, p->n * sizeof(float));
            off += p->n;
        }
        st = soma_rule_step(r, net, x, t, n, NULL, NULL);
    }
    if (st == SOMA_OK) {
        size_t off = 0;
        for (int i = 0; i < np; i++) {
            const soma_param *p = soma_net_param(net, i);
            out[i] = NAN;
            if (p->trainable && p->decay) {
                double dot = 0, na = 0, nb = 0;
                for (size_t j = 0; j < p->n; j++) {
                    dot += (double)p->grad[j] * g[off + j];
                    na += (double)p->grad[j] * p->grad[j];
                    nb += (double)g[off + j] * g[off + j];
                }
                const double c = na > 0 && nb > 0 ? dot / sqrt(na * nb) : 0.0;
                const double cc = c > 1 ? 1 : c < -1 ? -1 : c;
                out[i] = as_angle ? acos(cc) * (180.0 / M_PI) : c;
            }
            off += p->n;
        }
    }
    soma_rule_free(bp);
    soma_free(g);
    return st;
}

soma_status soma_rule_alignment(soma_rule *r, soma_net *net, const float *x, const soma_target *t, int n,
                                double *angle_deg) {
    return alignment_(r, net, x, t, n, angle_deg, 1);
}

soma_status soma_rule_alignment_cos(soma_rule *r, soma_net *net, const float *x, const soma_target *t, int n,
                                    double *cosine) {
    return alignment_(r, net, x, t, n, cosine, 0);
}
