// xoshiro256** seeded through splitmix64; normal, Bernoulli, Poisson, permutations.
#include "soma/core.h"

#include <math.h>

static uint64_t splitmix64_(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl_(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void soma_rng_seed(soma_rng *r, uint64_t seed, uint64_t stream) {
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL + 0x2545f4914f6cdd1dULL);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64_(&x);
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3])) r->s[0] = 1;
    r->has_spare = 0;
    r->spare = 0.0;
}

uint64_t soma_rng_u64(soma_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl_(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl_(s[3], 45);
    return result;
}

uint32_t soma_rng_u32(soma_rng *r) { return (uint32_t)(soma_rng_u64(r) >> 32); }

double soma_rng_uniform(soma_rng *r) { return (double)(soma_rng_u64(r) >> 11) * 0x1.0p-53; }

uint64_t soma_rng_below(soma_rng *r, uint64_t n) {
    if (n <= 1) return 0;
    /* Lemire's nearly divisionless method with rejection: unbiased. */
    uint64_t x = soma_rng_u64(r);
    __uint128_t m = (__uint128_t)x * n;
    uint64_t lo = (uint64_t)m;
    if (lo < n) {
        uint64_t t = (0 - n) % n;
        while (lo < t) {
            x = soma_rng_u64(r);
            m = (__uint128_t)x * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double soma_rng_normal(soma_rng *r) {
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u, v, s;
    do { /* Marsaglia's polar method */
        u = 2.0 * soma_rng_uniform(r) - 1.0;
        v = 2.0 * soma_rng_uniform(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double f = sqrt(-2.0 * log(s) / s);
    r->spare = v * f;
    r->has_spare = 1;
    return u * f;
}

int soma_rng_bernoulli(soma_rng *r, double p) { return soma_rng_uniform(r) < p; }

uint64_t soma_rng_poisson(soma_rng *r, double lambda) {
    if (!(lambda > 0.0)) return 0;
    if (lambda < 30.0) { /* Knuth: multiply uniforms until below e^-lambda */
        double L = exp(-lambda), p = 1.0;
        uint64_t k = 0;
        do {
            k++;
            p *= soma_rng_uniform(r);
        } while (p > L);
        return k - 1;
    }
    /* Hormann's PTRS (transformed rejection with squeeze) for large lambda. */
    double slam = sqrt(lambda), loglam = log(lambda);
    double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
    double invalpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
        double U = soma_rng_uniform(r) - 0.5, V = soma_rng_uniform(r);
        double us = 0.5 - fabs(U);
        double k = floor((2 * a / us + b) * U + lambda + 0.43);
        if (us >= 0.07 && V <= vr) return (uint64_t)k;
        if (k < 0 || (us < 0.013 && V > us)) continue;
        if (log(V) + log(invalpha) - log(a / (us * us) + b) <= -lambda + k * loglam - lgamma(k + 1))
            return (uint64_t)k;
    }
}

void soma_rng_shuffle_int(soma_rng *r, int *a, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)soma_rng_below(r, (uint64_t)i + 1);
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

void soma_rng_permutation(soma_rng *r, int *perm, int n) {
    for (int i = 0; i < n; i++) perm[i] = i;
    soma_rng_shuffle_int(r, perm, n);
}

void soma_rng_uniform_fill(soma_rng *r, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)soma_rng_uniform(r);
}

void soma_rng_normal_fill(soma_rng *r, float *x, size_t n, float mean, float std) {
    for (size_t i = 0; i < n; i++) x[i] = mean + std * (float)soma_rng_normal(r);
}
