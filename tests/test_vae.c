// The variational autoencoder: the negative ELBO and its gradients against PyTorch
// (tests/ref/gen_vae.py) and central finite differences for each likelihood, training lowers the
// loss, warm-up, clones, determinism by seed, bad options.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "fixture.h"
#include "soma/soma.h"

static const char *const cases_[] = {"bernoulli", "gaussian", "gaussian_learned", "poisson"};

/* A VAE with the fixture's options and weights. */
static soma_vae *from_fixture_(const fixture *f, int with_weights) {
    const fixture_array *meta = fixture_get(f, "meta"), *x = fixture_get(f, "x"), *eps = fixture_get(f, "eps");
    if (!meta || !x || !eps) return NULL;
    soma_vae_opts o = soma_vae_opts_default();
    o.latent = eps->dims[1];
    o.enc_hidden = f->spec;
    o.beta = meta->data[0];
    o.gauss_logvar = meta->data[1];
    o.learn_var = (int)meta->data[2];
    o.lik = (soma_vae_lik)(int)meta->data[3];
    o.max_batch = 8;
    soma_vae *v = NULL;
    if (soma_vae_new(&v, &o, soma_shape1(x->dims[1])) != SOMA_OK) return NULL;
    if (!with_weights) return v;
    soma_net *nets[2] = {soma_vae_encoder(v), soma_vae_decoder(v)};
    const char *pre[2] = {"enc", "dec"};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < soma_net_n_params(nets[k]); i++) {
            char key[64];
            snprintf(key, sizeof key, "%s.%s", pre[k], soma_net_param_name(nets[k], i));
            const fixture_array *a = fixture_get(f, key);
            soma_param *p = soma_net_param(nets[k], i);
            if (!a || a->n != p->n) {
                fprintf(stderr, "fixture lacks %s or its size differs\n", key);
                soma_vae_free(v);
                return NULL;
            }
            memcpy(p->value, a->data, a->n * sizeof(float));
        }
    return v;
}

static int load_(const char *name, fixture *f) {
    char rel[128];
    snprintf(rel, sizeof rel, "tests/fixtures/vae/%s.bin", name);
    if (fixture_load(check_src_path(rel), f) != 0) {
        CHECK(!"fixture");
        return -1;
    }
    return 0;
}

static void test_torch(void) {
    for (int c = 0; c < 4; c++) {
        fixture f;
        if (load_(cases_[c], &f) != 0) continue;
        soma_vae *v = from_fixture_(&f, 1);
        CHECK(v != NULL);
        if (!v) {
            fixture_free(&f);
            continue;
        }
        const fixture_array *x = fixture_get(&f, "x");
        soma_vae_loss p;
        CHECK_OK(soma_vae_grad(v, x->data, x->dims[0], fixture_get(&f, "eps")->data, &p));
        float got[3] = {(float)p.loss, (float)p.rec, (float)p.kl};
        float ref[3] = {fixture_get(&f, "loss")->data[0], fixture_get(&f, "rec")->data[0], fixture_get(&f, "kl")->data[0]};
        char label[96];
        snprintf(label, sizeof label, "vae %s loss/rec/kl", cases_[c]);
        CHECK_CLOSE(label, got, ref, 3, 1e-5f, 1e-5f);
        soma_net *nets[2] = {soma_vae_encoder(v), soma_vae_decoder(v)};
        const char *pre[2] = {"enc", "dec"};
        for (int k = 0; k < 2; k++)
            for (int i = 0; i < soma_net_n_params(nets[k]); i++) {
                char key[64];
                snprintf(key, sizeof key, "%s.%s.grad", pre[k], soma_net_param_name(nets[k], i));
                const fixture_array *g = fixture_get(&f, key);
                CHECK(g != NULL);
                if (!g) continue;
                snprintf(label, sizeof label, "vae %s %s", cases_[c], key);
                CHECK_CLOSE(label, soma_net_param(nets[k], i)->grad, g->data, g->n, 1e-5f, 1e-4f);
            }
        soma_vae_free(v);
        fixture_free(&f);
    }
}

/* Central finite differences of the loss (fixed noise) against soma_vae_grad's gradient, at the
 * VAE's own initial weights, for every parameter of both nets. */
static void test_finite_differences(void) {
    for (int c = 0; c < 4; c++) {
        fixture f;
        if (load_(cases_[c], &f) != 0) continue;
        soma_vae *v = from_fixture_(&f, 0);
        CHECK(v != NULL);
        if (!v) {
            fixture_free(&f);
            continue;
        }
        const fixture_array *x = fixture_get(&f, "x");
        const float *eps = fixture_get(&f, "eps")->data;
        const int n = x->dims[0];
        soma_vae_loss p;
        CHECK_OK(soma_vae_grad(v, x->data, n, eps, &p));
        soma_net *nets[2] = {soma_vae_encoder(v), soma_vae_decoder(v)};
        size_t ng[2];
        float *g0[2];
        for (int k = 0; k < 2; k++) {
            const float *g = soma_net_flat_grads(nets[k], &ng[k]);
            g0[k] = malloc(ng[k] * sizeof(float));
            memcpy(g0[k], g, ng[k] * sizeof(float));
        }
        int bad = 0, kinks = 0;
        double worst = 0.0;
        for (int k = 0; k < 2; k++) {
            float *w = soma_net_flat_values(nets[k], NULL);
            for (size_t i = 0; i < ng[k]; i++) {
                /* a 5-point stencil (error O(h^4)) at two step sizes: where they disagree, a
                 * ReLU kink lies within reach and the loss is not smooth there (skipped) */
                const float w0 = w[i];
                double fdh[2];
                for (int s2 = 0; s2 < 2; s2++) {
                    const float h = s2 ? 2.5e-3f : 5e-3f;
                    double lf[4];
                    const float at[4] = {2.f, 1.f, -1.f, -2.f};
                    for (int q = 0; q < 4; q++) {
                        soma_vae_loss l;
                        w[i] = w0 + at[q] * h;
                        soma_vae_grad(v, x->data, n, eps, &l);
                        lf[q] = l.loss;
                    }
                    fdh[s2] = (-lf[0] + 8.0 * lf[1] - 8.0 * lf[2] + lf[3]) / (12.0 * h);
                }
                w[i] = w0;
                const double fd = fdh[1], an = g0[k][i];
                if (fabs(fdh[0] - fdh[1]) > 0.01 + 0.01 * fabs(fd)) {
                    kinks++;
                    continue;
                }
                const double err = fabs(fd - an) / (0.05 + 0.05 * fabs(fd));
                if (err > worst) worst = err;
                if (err > 1.0) {
                    bad++;
                    printf("  net %d param %zu: fd %.5f analytic %.5f\n", k, i, fd, an);
                }
            }
        }
        printf("vae %s: finite differences, worst error %.3f of tolerance, %d outside, %d at kinks of %zu\n", cases_[c], worst,
               bad, kinks, ng[0] + ng[1]);
        CHECK(bad == 0 && kinks * 20 <= (int)(ng[0] + ng[1]));
        free(g0[0]);
        free(g0[1]);
        soma_vae_free(v);
        fixture_free(&f);
    }
}

/* A toy data set: 4 prototypes of D values with noise (binary flips, Gaussian noise or Poisson
 * counts, by likelihood). */
static void toy_(soma_vae_lik lik, int n, int D, float *x, soma_rng *r) {
    for (int i = 0; i < n; i++) {
        const int k = i % 4;
        for (int j = 0; j < D; j++) {
            const int on = (j / (D / 4)) == k || j % 4 == k;
            float *o = x + (size_t)i * D + j;
            if (lik == SOMA_VAE_BERNOULLI) *o = soma_rng_uniform(r) < 0.05 ? (float)!on : (float)on;
            else if (lik == SOMA_VAE_GAUSSIAN) *o = (on ? 2.f : -1.f) + 0.3f * (float)soma_rng_normal(r);
            else *o = (float)soma_rng_poisson(r, on ? 6.0 : 0.5);
        }
    }
}

static void dataset_(soma_dataset *d, float *x, int n, int D) {
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "toy");
    d->n = n;
    d->shape = soma_shape1(D);
    d->dim = (size_t)D;
    d->scale = 1.f;
    d->x_f32 = x;
}

static void test_training(void) {
    enum { N = 256, D = 16 };
    static float x[N * D];
    for (int lik = 0; lik < SOMA_VAE_LIK_COUNT; lik++) {
        soma_rng r;
        soma_rng_seed(&r, 5, (uint64_t)lik);
        toy_((soma_vae_lik)lik, N, D, x, &r);
        soma_dataset d;
        dataset_(&d, x, N, D);
        soma_vae_opts o = soma_vae_opts_default();
        o.latent = 2;
        o.enc_hidden = "fc32,relu";
        o.lik = (soma_vae_lik)lik;
        o.learn_var = lik == SOMA_VAE_GAUSSIAN;
        o.lr = 3e-3f;
        o.max_batch = N;
        soma_vae *v;
        CHECK_OK(soma_vae_new(&v, &o, soma_shape1(D)));
        soma_vae_loss before, after;
        static float eps[N * 2];
        soma_rng_normal_fill(&r, eps, N * 2, 0.f, 1.f);
        CHECK_OK(soma_vae_grad(v, x, N, eps, &before));
        CHECK_OK(soma_vae_train(v, &d, 40, 32, NULL));
        CHECK_OK(soma_vae_grad(v, x, N, eps, &after));
        printf("vae %s toy: negative ELBO %.3f -> %.3f (rec %.3f, kl %.3f)\n", soma_vae_lik_name(o.lik), before.loss,
               after.loss, after.rec, after.kl);
        CHECK(after.loss < before.loss - 0.25 * fabs(before.loss) || after.loss < 0.5 * before.loss);
        if (lik == SOMA_VAE_BERNOULLI) { /* reconstructions of the prototypes keep their on pixels */
            float mu[4 * 2], rec[4 * D];
            CHECK_OK(soma_vae_encode(v, x, 4, mu, NULL));
            CHECK_OK(soma_vae_decode(v, mu, 4, rec));
            int right = 0;
            for (int i = 0; i < 4 * D; i++) right += (rec[i] > 0.5f) == (x[i] > 0.5f);
            printf("vae bernoulli toy: %d of %d pixels reconstructed\n", right, 4 * D);
            CHECK(right >= 4 * D - 4);
        }
        soma_vae_free(v);
    }
}

static void test_determinism_clone_warmup(void) {
    enum { N = 64, D = 16 };
    static float x[N * D];
    soma_rng r;
    soma_rng_seed(&r, 9, 0);
    toy_(SOMA_VAE_BERNOULLI, N, D, x, &r);
    soma_dataset d;
    dataset_(&d, x, N, D);
    float s[3][8 * D];
    for (int k = 0; k < 3; k++) {
        soma_vae_opts o = soma_vae_opts_default();
        o.latent = 4;
        o.enc_hidden = "fc16,relu";
        o.max_batch = 32;
        o.seed = k == 2 ? 2 : 1;
        soma_vae *v;
        CHECK_OK(soma_vae_new(&v, &o, soma_shape1(D)));
        CHECK_OK(soma_vae_train(v, &d, 3, 16, NULL));
        CHECK_OK(soma_vae_sample(v, 8, s[k]));
        soma_vae_free(v);
    }
    CHECK(memcmp(s[0], s[1], sizeof s[0]) == 0);
    CHECK(memcmp(s[0], s[2], sizeof s[0]) != 0);
    /* a clone samples what the original samples (values and rng copied), and cannot train */
    soma_vae_opts o = soma_vae_opts_default();
    o.latent = 4;
    o.enc_hidden = "fc16,relu";
    o.max_batch = 40; /* sample() runs 100 in chunks */
    o.beta = 2.f;
    o.warmup = 10;
    soma_vae *v, *c;
    CHECK_OK(soma_vae_new(&v, &o, soma_shape1(D)));
    soma_vae_loss p;
    CHECK_OK(soma_vae_step(v, x, 16, &p));
    CHECK(fabs(p.beta - 0.2) < 1e-9); /* step 0 of 10 */
    for (int i = 0; i < 12; i++) CHECK_OK(soma_vae_step(v, x, 16, &p));
    CHECK(p.beta == 2.0);
    CHECK_OK(soma_vae_clone(v, &c));
    static float a[100 * D], b[100 * D];
    CHECK_OK(soma_vae_sample(v, 100, a));
    CHECK_OK(soma_vae_sample(c, 100, b));
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK_FAILS(soma_vae_step(c, x, 16, &p), SOMA_ERR_ARG);
    CHECK_FAILS(soma_vae_train(c, &d, 1, 16, NULL), SOMA_ERR_ARG);
    CHECK(soma_vae_memory(c) < soma_vae_memory(v)); /* no optimizer state */
    CHECK_OK(soma_vae_step(v, x, 16, &p));
    CHECK_OK(soma_vae_copy_values(c, v));
    CHECK(memcmp(soma_net_flat_values(soma_vae_decoder(c), NULL), soma_net_flat_values(soma_vae_decoder(v), NULL),
                 sizeof(float)) == 0);
    /* the probabilities lie in [0, 1] */
    int in = 1;
    for (int i = 0; i < 100 * D; i++) in &= a[i] >= 0.f && a[i] <= 1.f;
    CHECK(in);
    soma_vae_free(c);
    soma_vae_free(v);
}

static void test_bad(void) {
    soma_vae *v = NULL;
    soma_vae_opts o;
#define BAD(stmt, want)                                              \
    do {                                                             \
        o = soma_vae_opts_default();                                 \
        stmt;                                                        \
        CHECK_FAILS(soma_vae_new(&v, &o, soma_shape1(8)), want);     \
        CHECK(v == NULL);                                            \
    } while (0)
    BAD(o.latent = 0, SOMA_ERR_ARG);
    BAD(o.latent = 5000, SOMA_ERR_ARG);
    BAD(o.beta = -1.f, SOMA_ERR_ARG);
    BAD(o.beta = NAN, SOMA_ERR_ARG);
    BAD(o.lr = 0.f, SOMA_ERR_ARG);
    BAD(o.max_batch = 0, SOMA_ERR_ARG);
    BAD(o.warmup = -3, SOMA_ERR_ARG);
    BAD(o.lik = (soma_vae_lik)7, SOMA_ERR_ARG);
    BAD(o.learn_var = 1, SOMA_ERR_ARG); /* bernoulli */
    BAD(o.gauss_logvar = 100.f, SOMA_ERR_ARG);
    BAD(o.enc_hidden = "fcx", SOMA_ERR_PARSE);
    BAD(o.optim.beta1 = 2.f, SOMA_ERR_ARG);
#undef BAD
    soma_vae_lik k;
    CHECK_FAILS(soma_vae_lik_parse("laplace", &k), SOMA_ERR_ARG);
    CHECK_OK(soma_vae_lik_parse("poisson", &k));
    CHECK(k == SOMA_VAE_POISSON);
    o = soma_vae_opts_default();
    o.max_batch = 4;
    o.enc_hidden = "fc8,relu";
    CHECK_OK(soma_vae_new(&v, &o, soma_shape1(8)));
    float x[5 * 8] = {0};
    CHECK_FAILS(soma_vae_step(v, x, 5, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_vae_step(v, x, 0, NULL), SOMA_ERR_ARG);
    soma_dataset d;
    dataset_(&d, x, 5, 4);
    d.shape = soma_shape1(4);
    CHECK_FAILS(soma_vae_train(v, &d, 1, 2, NULL), SOMA_ERR_SHAPE);
    dataset_(&d, x, 5, 8);
    CHECK_FAILS(soma_vae_train(v, &d, 1, 8, NULL), SOMA_ERR_ARG); /* batch over max_batch */
    CHECK_OK(soma_vae_train(v, &d, 1, 4, NULL));
    soma_vae_free(v);
}

int main(void) {
    test_torch();
    test_finite_differences();
    test_training();
    test_determinism_clone_warmup();
    test_bad();
    return check_report("test_vae");
}
