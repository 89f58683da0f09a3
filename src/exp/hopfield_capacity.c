// hopfield-capacity: how many random patterns a Hopfield network holds. The classical network
// with Hebbian weights loses its stored patterns near 0.138 N (Amit, Gutfreund & Sompolinsky
// 1985); the modern continuous network (Ramsauer et al. 2020) retrieves 2 N patterns from
// noisy cues in one update.
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exp/internal.h"
#include "soma/nn.h"
#include "soma/plot.h"

#define CAP_MAX_SIZES 8

static const soma_opt opts_[] = {
    {"sizes", SOMA_OPT_STR, "100,200,500,1000", 0, 0, NULL, "network sizes N, comma-separated (16..4096, at most 8)", 1},
    {"trials", SOMA_OPT_INT, "4", 1, 1000, NULL, "independent pattern sets a size (classical)", 1},
    {"max-load", SOMA_OPT_FLOAT, "0.25", 0.02, 1, NULL, "classical: the largest load P/N tried", 0},
    {"load-step", SOMA_OPT_FLOAT, "0.005", 0.001, 0.1, NULL, "classical: load grid step (at least one pattern)", 0},
    {"modern-max-load", SOMA_OPT_FLOAT, "2", 0.1, 8, NULL, "modern: the largest load P/N tried (at least 2 for the landmark)", 0},
    {"noise", SOMA_OPT_FLOAT, "0.2", 0, 0.45, NULL, "modern: fraction of a cue's bits flipped", 0},
    {"beta", SOMA_OPT_FLOAT, "1", 1e-6, 1e6, NULL, "modern: inverse temperature", 0},
    {"tolerance", SOMA_OPT_FLOAT, "0.01", 0, 0.5, NULL, "retrieved: at most this fraction of bits wrong", 0},
    {"max-sweeps", SOMA_OPT_INT, "100", 1, 100000, NULL, "classical: asynchronous sweeps before giving up", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark landmarks_[] = {
    {"classical capacity (patterns / N at which half the stored patterns are retrieved within 1%): "
     "0.138 in the limit of large N; ours at least 0.12",
     "Amit, Gutfreund & Sompolinsky 1985", "https://doi.org/10.1103/PhysRevLett.55.1530", "classical_capacity_ratio",
     SOMA_EXP_AT_LEAST, 0.12},
    {"classical capacity: about 0.15 N patterns before errors grow severe; ours at most 0.16", "Hopfield 1982",
     "https://doi.org/10.1073/pnas.79.8.2554", "classical_capacity_ratio", SOMA_EXP_AT_MOST, 0.16},
    {"modern Hopfield network: exponential capacity, retrieval in one update; ours: fraction retrieved at 2 N "
     "patterns from cues with 20% of bits flipped (smallest over N)",
     "Ramsauer et al. 2021 (ICLR)", "https://arxiv.org/abs/2008.02217", "modern_retrieval_at_max", SOMA_EXP_AT_LEAST,
     0.99},
    {NULL, NULL, NULL, NULL, 0, 0},
};

static const char *const reduced_[] = {"--sizes", "100,200", "--trials", "2", NULL};

static soma_status parse_sizes_(const char *s, int *sizes, int *n) {
    *n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 16 || v > 4096)
            return soma_error(SOMA_ERR_ARG, "--sizes \"%s\": each size an integer in 16..4096", s);
        if (*n == CAP_MAX_SIZES)
            return soma_error(SOMA_ERR_ARG, "--sizes \"%s\": at most %d sizes", s, CAP_MAX_SIZES);
        sizes[(*n)++] = (int)v;
        p = end;
        if (*p == ',') p++;
        else if (*p)
            return soma_error(SOMA_ERR_ARG, "--sizes \"%s\": separate sizes by commas", s);
    }
    if (*n == 0) return soma_error(SOMA_ERR_ARG, "--sizes is empty");
    return SOMA_OK;
}

static soma_status check_(const soma_exp_ctx *c) {
    int sizes[CAP_MAX_SIZES], n;
    return parse_sizes_(soma_args_str(&c->args, "sizes"), sizes, &n);
}

/* Pattern i of s [b, n] within tol * n bits of ref [b, n] (row-wise, sign of s). */
static int retrieved_(const float *s, const float *ref, int n, float tol) {
    int wrong = 0;
    for (int j = 0; j < n; j++) wrong += (s[j] > 0.f ? 1.f : -1.f) != ref[j];
    return wrong <= (int)floorf(tol * (float)n + 1e-6f);
}

typedef struct cap_curve {
    int n_loads;
    float *load, *frac; /* [n_loads] */
} cap_curve;

/* Classical: trials pattern sets of P_max patterns, stored incrementally; at each load every
 * stored pattern is the cue, asynchronous updates to a fixed point. */
static soma_status classical_(int N, int trials, float max_load, float step, float tol, int max_sweeps, uint64_t seed,
                              cap_curve *cv) {
    int loads[1024], nl = 0, last = 0;
    for (int k = 1; nl < 1024; k++) {
        float a = k * step;
        if (a > max_load + 1e-6f) break;
        int p = (int)lroundf(a * (float)N);
        if (p <= last) continue;
        loads[nl++] = last = p;
    }
    const int pmax = last;
    cv->n_loads = nl;
    cv->load = soma_calloc((size_t)nl, sizeof(float));
    cv->frac = soma_calloc((size_t)nl, sizeof(float));
    float *xi = soma_alloc((size_t)pmax * N, sizeof(float)), *s = soma_alloc((size_t)pmax * N, sizeof(float));
    long *hit = soma_calloc((size_t)nl, sizeof(long)), *tot = soma_calloc((size_t)nl, sizeof(long));
    soma_hopfield *h = NULL;
    soma_status st = soma_hopfield_new(&h, N);
    if (st == SOMA_OK && (!cv->load || !cv->frac || !xi || !s || !hit || !tot))
        st = soma_error(SOMA_ERR_NOMEM, "hopfield-capacity: no memory");
    for (int t = 0; st == SOMA_OK && t < trials; t++) {
        soma_rng r;
        soma_rng_seed(&r, seed, 1000 + (uint64_t)N * 64 + (uint64_t)t);
        for (size_t i = 0; i < (size_t)pmax * N; i++) xi[i] = (soma_rng_u64(&r) >> 63) ? 1.f : -1.f;
        soma_hopfield_clear(h);
        int stored = 0;
        for (int l = 0; st == SOMA_OK && l < nl; l++) {
            const int p = loads[l];
            if ((st = soma_hopfield_store(h, xi + (size_t)stored * N, p - stored, N)) != SOMA_OK) break;
            stored = p;
            memcpy(s, xi, sizeof(float) * (size_t)p * N);
            if ((st = soma_hopfield_update_async(h, s, p, N, max_sweeps, seed + 7 * (uint64_t)l + 1, NULL)) != SOMA_OK)
                break;
            for (int i = 0; i < p; i++) hit[l] += retrieved_(s + (size_t)i * N, xi + (size_t)i * N, N, tol);
            tot[l] += p;
        }
    }
    for (int l = 0; st == SOMA_OK && l < nl; l++) {
        cv->load[l] = (float)loads[l] / (float)N;
        cv->frac[l] = (float)((double)hit[l] / (double)tot[l]);
    }
    soma_hopfield_free(h);
    soma_free(xi);
    soma_free(s);
    soma_free(hit);
    soma_free(tot);
    return st;
}

/* Modern: P = load N random +-1 patterns, cues with a fraction `noise` of bits flipped, one
 * update with beta; retrieved when sign(xi_new) is within tol of the pattern. */
static soma_status modern_(int N, const float *lf, int nlf, float noise, float beta, float tol, uint64_t seed,
                           float *frac) {
    soma_status st = SOMA_OK;
    const int pmax = (int)lroundf(lf[nlf - 1] * (float)N);
    float *xi = soma_alloc((size_t)pmax * N, sizeof(float)), *cue = soma_alloc((size_t)pmax * N, sizeof(float));
    float *out = soma_alloc((size_t)pmax * N, sizeof(float));
    int *perm = soma_alloc((size_t)N, sizeof(int));
    if (!xi || !cue || !out || !perm) st = soma_error(SOMA_ERR_NOMEM, "hopfield-capacity: no memory");
    soma_rng r;
    soma_rng_seed(&r, seed, 500000 + (uint64_t)N);
    const int flips = (int)lroundf(noise * (float)N);
    for (int l = 0; st == SOMA_OK && l < nlf; l++) {
        const int p = (int)lroundf(lf[l] * (float)N);
        for (size_t i = 0; i < (size_t)p * N; i++) xi[i] = (soma_rng_u64(&r) >> 63) ? 1.f : -1.f;
        memcpy(cue, xi, sizeof(float) * (size_t)p * N);
        for (int i = 0; i < p; i++) {
            soma_rng_permutation(&r, perm, N);
            for (int k = 0; k < flips; k++) cue[(size_t)i * N + perm[k]] *= -1.f;
        }
        soma_mhn *m = NULL;
        if ((st = soma_mhn_new(&m, xi, p, N, beta)) != SOMA_OK) break;
        st = soma_mhn_retrieve(m, out, cue, p, N, 1, NULL);
        soma_mhn_free(m);
        if (st != SOMA_OK) break;
        long hit = 0;
        for (int i = 0; i < p; i++) hit += retrieved_(out + (size_t)i * N, xi + (size_t)i * N, N, tol);
        frac[l] = (float)((double)hit / p);
    }
    soma_free(xi);
    soma_free(cue);
    soma_free(out);
    soma_free(perm);
    return st;
}

static soma_status run_(soma_exp_ctx *c) {
    int sizes[CAP_MAX_SIZES], ns, trials, max_sweeps;
    float max_load, step, mmax, noise, beta, tol;
    SOMA_TRY(parse_sizes_(soma_args_str(&c->args, "sizes"), sizes, &ns));
    SOMA_TRY(soma_args_int(&c->args, "trials", &trials));
    SOMA_TRY(soma_args_int(&c->args, "max-sweeps", &max_sweeps));
    SOMA_TRY(soma_args_float(&c->args, "max-load", &max_load));
    SOMA_TRY(soma_args_float(&c->args, "load-step", &step));
    SOMA_TRY(soma_args_float(&c->args, "modern-max-load", &mmax));
    SOMA_TRY(soma_args_float(&c->args, "noise", &noise));
    SOMA_TRY(soma_args_float(&c->args, "beta", &beta));
    SOMA_TRY(soma_args_float(&c->args, "tolerance", &tol));
    /* modern loads: a grid up to mmax */
    float lf[16];
    int nlf = 0;
    static const float grid[] = {0.1f, 0.25f, 0.5f, 0.75f, 1.f, 1.5f, 2.f, 3.f, 4.f, 6.f, 8.f};
    for (size_t k = 0; k < sizeof grid / sizeof *grid; k++)
        if (grid[k] < mmax - 1e-6f) lf[nlf++] = grid[k];
    lf[nlf++] = mmax;

    soma_status st = SOMA_OK;
    cap_curve cv[CAP_MAX_SIZES];
    memset(cv, 0, sizeof cv);
    float mf[CAP_MAX_SIZES][16];
    double cap[CAP_MAX_SIZES], t_cls = 0, t_mod = 0, modern_min = 1.0;
    soma_fig *f = NULL;
    for (int k = 0; k < ns; k++) {
        double t0 = soma_now();
        if ((st = classical_(sizes[k], trials, max_load, step, tol, max_sweeps, c->seed, &cv[k])) != SOMA_OK) goto out;
        double t1 = soma_now();
        if ((st = modern_(sizes[k], lf, nlf, noise, beta, tol, c->seed, mf[k])) != SOMA_OK) goto out;
        t_cls += t1 - t0;
        t_mod += soma_now() - t1;
        cap[k] = 0.0;
        for (int l = 0; l < cv[k].n_loads; l++)
            if (cv[k].frac[l] >= 0.5f) cap[k] = cv[k].load[l];
        if (mf[k][nlf - 1] < modern_min) modern_min = mf[k][nlf - 1];
        char key[64];
        snprintf(key, sizeof key, "classical_retrieved_n%d", sizes[k]);
        soma_exp_put_array(c, key, cv[k].frac, cv[k].n_loads);
        snprintf(key, sizeof key, "classical_loads_n%d", sizes[k]);
        soma_exp_put_array(c, key, cv[k].load, cv[k].n_loads);
        snprintf(key, sizeof key, "modern_retrieved_n%d", sizes[k]);
        soma_exp_put_array(c, key, mf[k], nlf);
    }
    {
        float capf[CAP_MAX_SIZES], nf[CAP_MAX_SIZES];
        for (int k = 0; k < ns; k++) capf[k] = (float)cap[k], nf[k] = (float)sizes[k];
        soma_exp_put_array(c, "sizes", nf, ns);
        soma_exp_put_array(c, "classical_capacity_ratio_by_n", capf, ns);
        soma_exp_put_array(c, "modern_loads", lf, nlf);
    }
    soma_exp_put(c, "classical_capacity_ratio", cap[ns - 1]); /* at the largest N */
    soma_exp_put(c, "classical_capacity_n", sizes[ns - 1]);
    soma_exp_put(c, "modern_retrieval_at_max", modern_min);
    soma_exp_put(c, "modern_max_load", lf[nlf - 1]);
    soma_exp_put(c, "modern_cue_noise", noise);
    soma_exp_put(c, "modern_beta", beta);
    soma_exp_put(c, "classical_seconds", t_cls);
    soma_exp_put(c, "modern_seconds", t_mod);
    {
        char *p = c->headline;
        size_t left = sizeof c->headline;
        int w = snprintf(p, left, "classical capacity (half the patterns within %.0f%%):", 100.0 * tol);
        for (int k = 0; k < ns && w > 0 && (size_t)w < left; k++) {
            p += w, left -= (size_t)w;
            w = snprintf(p, left, " N=%d %.3f;", sizes[k], cap[k]);
        }
        if (w > 0 && (size_t)w < left) {
            p += w, left -= (size_t)w;
            snprintf(p, left, " Amit et al. 0.138\nmodern: %.1f%% retrieved at %.1f N patterns (%.0f%% bits flipped, "
                     "beta %g, one update; worst N)",
                     100.0 * modern_min, (double)lf[nlf - 1], 100.0 * noise, (double)beta);
        }
    }

    // --- figure: classical retrieval vs load with the 0.14 N line; modern vs classical
    if ((st = soma_fig_new(&f, 1, 2, 1200, 440)) != SOMA_OK) goto out;
    soma_fig_title(f, "Hopfield networks: storage capacity");
    soma_fig_labels(f, 0, "Classical (Hebbian, asynchronous, cue = stored pattern)", "load P / N",
                    "fraction of patterns retrieved");
    for (int k = 0; k < ns; k++) {
        char lab[32];
        snprintf(lab, sizeof lab, "N = %d", sizes[k]);
        if ((st = soma_fig_line(f, 0, cv[k].load, cv[k].frac, cv[k].n_loads, lab, NULL)) != SOMA_OK) goto out;
    }
    {
        const float lx[2] = {0.138f, 0.138f}, ly[2] = {0.f, 1.f};
        soma_line_style s = {SOMA_RGB(0x333333), 1, 0, 1.5f};
        if ((st = soma_fig_line(f, 0, lx, ly, 2, "0.138 N (Amit et al. 1985)", &s)) != SOMA_OK) goto out;
        if ((st = soma_fig_hline(f, 0, 0.5f, "half")) != SOMA_OK) goto out;
        soma_fig_ylim(f, 0, 0, 1.02);
    }
    soma_fig_labels(f, 1, "Modern (one update, noisy cues) vs classical", "load P / N", "fraction retrieved");
    for (int k = 0; k < ns; k++) {
        char lab[48];
        snprintf(lab, sizeof lab, "modern N = %d", sizes[k]);
        soma_line_style s = {0, 0, 1, 0.f};
        if ((st = soma_fig_line(f, 1, lf, mf[k], nlf, lab, &s)) != SOMA_OK) goto out;
    }
    {
        char lab[48];
        snprintf(lab, sizeof lab, "classical N = %d", sizes[ns - 1]);
        soma_line_style s = {SOMA_RGB(0x000000), 1, 0, 2.f};
        if ((st = soma_fig_line(f, 1, cv[ns - 1].load, cv[ns - 1].frac, cv[ns - 1].n_loads, lab, &s)) != SOMA_OK)
            goto out;
        const float lx[2] = {0.14f, 0.14f}, ly[2] = {0.f, 1.f};
        soma_line_style v = {SOMA_RGB(0x333333), 1, 0, 1.f};
        if ((st = soma_fig_line(f, 1, lx, ly, 2, "0.14 N", &v)) != SOMA_OK) goto out;
        soma_fig_ylim(f, 1, 0, 1.02);
    }
    char path[1100];
    st = soma_fig_save(f, soma_exp_path(c, "hopfield_capacity.svg", path, sizeof path));
out:
    soma_fig_free(f);
    for (int k = 0; k < ns; k++) {
        soma_free(cv[k].load);
        soma_free(cv[k].frac);
    }
    return st;
}

const soma_experiment soma__exp_hopfield_capacity = {
    "hopfield-capacity",
    "Storage capacity of Hopfield networks: the classical binary network with Hebbian weights holds about "
    "0.138 N random patterns; the modern continuous one retrieves 2 N patterns from noisy cues in one update.",
    landmarks_,
    opts_,
    reduced_,
    run_,
    check_,
};
