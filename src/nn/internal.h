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
int soma__parse_norm(const char *tok, soma_layer *l);    /* normM[/S] */
int soma__parse_layernorm(const char *tok, soma_layer *l); /* layernorm[EPS] */
int soma__parse_time(const char *tok, soma_layer *l);    /* tmean, tsum, repeatT */
int soma__parse_graph(const char *tok, soma_layer *l);   /* res(...), cat(...|...) */
int soma__parse_rec(const char *tok, soma_layer *l);     /* rec(...) (recur.c) */
int soma__parse_gru(const char *tok, soma_layer *l);     /* gruH, gruHr, bigruH (gru.c) */
int soma__parse_attn(const char *tok, soma_layer *l);    /* mhaH[c], xattnH(...) (attn.c) */
int soma__parse_embed(const char *tok, soma_layer *l);   /* posN, sinpos, patchPxQdE, cls, clsout, blockHhD (embed.c) */

/* The message-friendly text of a shape ("[1,28,28]"), valid within the enclosing expression. */
#define SOMA__SHAPE_STR(s) soma_shape_str((s), (char[64]){0}, 64)

/* Time steps of a per-sample shape: d[0] for a sequence ([T,D], [T,C,H,W]), 1 otherwise; and
 * the shape of one time step. */
static inline int soma__steps(soma_shape s) { return s.rank == 2 || s.rank == 4 ? s.d[0] : 1; }
static inline soma_shape soma__step_shape(soma_shape s) {
    if (s.rank == 2) return soma_shape1(s.d[1]);
    if (s.rank == 4) return soma_shape3(s.d[1], s.d[2], s.d[3]);
    return s;
}

/* A sequence of layers with its activation buffers: the body of soma_net and of the
 * composite layers. act_in[0] is the borrowed input; act[1..n] are owned. */
typedef struct soma__chain {
    soma_layer *layers;
    int n, cap;
    soma_shape in, out;
    int max_n;
    const float **act_in;
    float **act;
    float *dbuf[2];
    void (*after_layer)(void *user, int layer); /* the net's backward hook (top level only) */
    void *after_user;
} soma__chain;
/* Takes ownership of l's contents whatever the outcome (released on failure). */
soma_status soma__chain_add(soma__chain *c, const soma_layer *l);
/* Parses a comma-separated spec (parentheses nest) into layers appended to c. */
soma_status soma__chain_parse(soma__chain *c, const char *spec, size_t len);
/* Shape inference through every layer; `who` prefixes messages. */
soma_status soma__chain_setup(soma__chain *c, soma_shape in, const char *who);
void soma__chain_init(soma__chain *c, soma_rng *rng);
soma_status soma__chain_reserve(soma__chain *c, int max_n);
/* Returns the last activation ([n, out]); x borrowed until backward. */
const float *soma__chain_forward(soma__chain *c, const float *x, int n, soma_mode mode);
/* dx may be NULL: stops at the lowest layer that needs backward. */
void soma__chain_backward(soma__chain *c, float *dx, const float *dy, int n, int no_param_grads);
void soma__chain_free(soma__chain *c);
/* Layers cloned (impl copied, no parameters, no buffers); dst zeroed first. */
soma_status soma__chain_clone(const soma__chain *src, soma__chain *dst);
/* JSON network descriptions (netjson.c): the equivalent one-line spec (soma_free it), and a
 * net from a file holding one. */
soma_status soma__net_json_spec(const char *json, size_t n, char **spec);
soma_status soma__net_new_json_file(soma_net **out, const char *path, soma_shape in, uint64_t seed);
/* Clones one layer (struct copy, impl through ops->clone, parameter list emptied). */
soma_status soma__layer_clone(const soma_layer *src, soma_layer *dst);
/* For kinds whose impl is one flat struct of `size` bytes: a clone op's copy of it into dst
 * (pointers in it still point at src's buffers: the caller clears those), and a destroy op. */
soma_status soma__impl_copy(const soma_layer *src, soma_layer *dst, size_t size);
void soma__impl_free(soma_layer *l);

/* Version-1 checkpoints stored optimizer state over the padded flat parameter block (every
 * parameter, slot after slot): checks the size and, with apply, copies the trainable
 * parameters' parts into the optimizer (optim.c). */
soma_status soma__optim_state_from_flat(soma_optim *o, const float *state, size_t n, int apply);

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
/* The first m lanes of the vector v (all eight when m >= 8) to p: a whole vector store where
 * it fits, rather than a round trip through a stack array. A macro: a 32-byte vector argument
 * draws GCC's ABI note in the baseline clone, and a pointer to it kept it out of registers. */
#define SOMA__V8_STORE_PART(p, v, m)                                  \
    do {                                                              \
        float *p_ = (p);                                              \
        const soma__v8 v_ = (v);                                      \
        const int m_ = (m);                                           \
        if (m_ >= 8) {                                                \
            memcpy(p_, &v_, sizeof v_);                               \
        } else {                                                      \
            for (int i_ = 0; i_ < m_; i_++) p_[i_] = v_[i_];          \
        }                                                             \
    } while (0)

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
/* dx of one image for the same layers at stride 1, with no column buffer: writes
 * dx [Ci,H,W] from dy [Co,Ho,Wo]; dyp is soma__conv_dx_scratch(g) floats of scratch. */
int soma__conv_dx_ok(const soma_conv_geom *g);
size_t soma__conv_dx_scratch(const soma_conv_geom *g);
void soma__conv_dx(float *dx, const float *dy, const float *w, const soma_conv_geom *g, float *dyp);

#endif
