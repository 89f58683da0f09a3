/* Private to src/nn: the built-in layer kinds' token parsers, registered by registry.c.
 * Each returns 1 and fills l (ops, impl, spec) when the token is its kind, 0 when it is not,
 * -1 with the error set when it is its kind but malformed (e.g. "fc0", "conv5x5"). */
#ifndef SOMA_NN_INTERNAL_H
#define SOMA_NN_INTERNAL_H
#include <string.h>

#include "soma/nn.h"

int soma__parse_dense(const char *tok, soma_layer *l);   /* fcN, denseN */
int soma__parse_conv2d(const char *tok, soma_layer *l);  /* convKxKxC[sS][pP], convKHxKWxC... */
int soma__parse_pool(const char *tok, soma_layer *l);    /* maxpoolK[sS][pP], avgpoolK[sS][pP] */
int soma__parse_act(const char *tok, soma_layer *l);     /* relu, tanh, sigmoid, gelu */
int soma__parse_dropout(const char *tok, soma_layer *l); /* dropoutP (0 <= P < 1) */
int soma__parse_flatten(const char *tok, soma_layer *l); /* flatten */
int soma__parse_layernorm(const char *tok, soma_layer *l); /* layernorm[EPS] */

/* Parses a non-negative decimal integer at *s (advancing it); -1 if none or > INT_MAX/4. */
int soma__parse_uint(const char **s);

/* Hot loops are compiled three times, for AVX-512 (x86-64-v4: F/BW/VL/DQ), for AVX2+FMA
 * (x86-64-v3) and for the baseline, and the loader picks one for the CPU at hand (GCC's
 * function multi-versioning; dev/check_clones.sh shows which). No fast-math involved.
 * SOMA_HOT_AVX2 leaves the AVX-512 clone out, for loops that measured slower with it: the
 * 2x2 max-pool planes of LeNet (rows of 14 and 5) ran 10x slower on Zen 4, their 16-lane main
 * loop never entered and the scalar tail branchy (GCC 12). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(__SANITIZE_ADDRESS__)
#define SOMA_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define SOMA_HOT_AVX2 __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define SOMA_HOT
#define SOMA_HOT_AVX2
#endif
/* Parses the optional suffixes sS (S >= 1) and pP (P >= 0) of conv and pool tokens, each at
 * most once, in any order, up to the end of s; leaves absent ones untouched. 0 ok, -1 bad. */
int soma__parse_stride_pad(const char *s, int *stride, int *pad);

/* This thread's share [lo, hi) of n items inside an OpenMP parallel region (all of it
 * outside one or without OpenMP). */
#ifdef _OPENMP
#include <omp.h>
#endif
static inline void soma__split(size_t n, size_t *lo, size_t *hi) {
#ifdef _OPENMP
    size_t t = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
#else
    size_t t = 0, nt = 1;
#endif
    size_t q = n / nt, r = n % nt;
    *lo = t * q + (t < r ? t : r);
    *hi = *lo + q + (t < r);
}
/* Eight floats as one value (GCC/Clang vector extension): an AVX2 register in the AVX2
 * clones, two SSE registers in the baseline. Loads go through memcpy (unaligned); a scalar
 * times a vector broadcasts the scalar. The helpers are always inlined, so the ABI note about
 * passing 32-byte vectors without AVX does not apply. */
typedef float soma__v8 __attribute__((vector_size(32)));
#pragma GCC diagnostic ignored "-Wpsabi"
static inline soma__v8 soma__v8_load(const float *p) {
    soma__v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline soma__v8 soma__v8_splat(float x) { return x + (soma__v8){0}; }

/* x[Ci,H,W] into xp[Ci, H+2p, wq] (wq >= W+2p) with zeros around (conv.c). */
void soma__conv_pad(float *xp, const float *x, const soma_conv_geom *g, int wq);

/* Channel-vectorised convolution (conv_cv.c), one image at a time: the output channels fill
 * whole 8-lane vectors and each input value is broadcast against them. For layers whose
 * output rows are too short for the row kernels (LeNet's second convolution). */
int soma__conv_cv_ok(const soma_conv_geom *g);
size_t soma__conv_cv_scratch(const soma_conv_geom *g); /* floats a thread needs */
/* Once per call and thread: the weights transposed to [K, Co] into the scratch. */
void soma__conv_cv_prepare(float *scratch, const float *w, const soma_conv_geom *g);
void soma__conv_cv_forward(float *y, const float *x, const float *b, const soma_conv_geom *g,
                           float *scratch);
/* Adds this image's dW, transposed [K, Co], into the scratch's accumulator; flush adds the
 * accumulator into dw [Co, K] and clears it. */
void soma__conv_cv_dw(const float *dy, const float *x, const soma_conv_geom *g, float *scratch);
void soma__conv_cv_flush(float *dw, const soma_conv_geom *g, float *scratch);

#endif
