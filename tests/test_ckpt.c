// Checkpoints: the optimizer kind stored and checked, named sections, the previous format
// (version 1) still loading, and trainable flags honoured by the optimizers and their state.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "scratch.h"
#include "soma/soma.h"

static soma_optim *optim_(soma_net *net, soma_optim_kind kind) {
    soma_optim *o = NULL;
    soma_optim_config oc = soma_optim_defaults(kind);
    if (kind == SOMA_OPTIM_SGD) oc.momentum = 0.9f;
    CHECK_OK(soma_optim_new(&o, net, &oc));
    return o;
}

/* tests/fixtures/ckpt/v1_adam.ckpt was written by the version-1 writer (tests/ref/gen_ckpt_v1.c)
 * with closed-form values; it must still load, values, optimizer state and counters intact. */
static void test_v1_loads(void) {
    soma_net *net = NULL;
    CHECK_OK(soma_net_new(&net, "conv3x3x2,relu,fc3", soma_shape3(1, 4, 4), 9));
    if (!net) return;
    soma_optim *o = optim_(net, SOMA_OPTIM_ADAM);
    soma_ckpt_meta m;
    memset(&m, 0, sizeof m);
    soma_ckpt_section *sec = (soma_ckpt_section *)&m; /* must be reset to NULL */
    int n_sec = -1;
    CHECK_OK(soma_ckpt_load_ex(check_src_path("tests/fixtures/ckpt/v1_adam.ckpt"), net, o, &m, &sec, &n_sec));
    CHECK(m.version == 1 && m.epoch == 3 && m.step == 7 && m.seed == 42);
    CHECK(sec == NULL && n_sec == 0);
    /* Version 1 wrote the padded flat block (96 values) and Adam's m and v over it (192);
     * each parameter sits at its offset in that block. */
    const size_t n_flat = 96;
    size_t ns;
    float *s = o ? soma_optim_state(o, &ns) : NULL;
    int bad = 0;
    size_t off = 0, total = 0, flat = 0; /* flat: the v1 writer's slices, rounded up to 16 */
    for (int k = 0; k < soma_net_n_params(net); k++) total += soma_net_param(net, k)->n;
    CHECK(s && ns == 2 * total);
    for (int k = 0; s && k < soma_net_n_params(net); k++) {
        soma_param *p = soma_net_param(net, k);
        for (size_t i = 0; i < p->n; i++) {
            size_t j = flat + i;
            bad += p->value[i] != (float)(j % 17) * 0.125f - 1.f;
            bad += s[off + i] != (float)(j % 13) * 0.0625f;
            bad += s[total + off + i] != (float)((j + n_flat) % 13) * 0.0625f;
        }
        off += p->n;
        flat += (p->n + 15) & ~(size_t)15;
    }
    CHECK(bad == 0 && flat == n_flat);
    CHECK(o && soma_optim_steps(o) == 7);
    soma_rng want;
    soma_rng_seed(&want, 42, 77);
    CHECK(memcmp(want.s, m.data_rng.s, sizeof want.s) == 0);
    soma_optim_free(o);
    soma_net_free(net);
}

/* Defect 4: the optimizer kind is written and checked. An Adam checkpoint does not load into
 * AdamW (same state size) or SGD; the message names both kinds and nothing is changed. */
static void test_optim_kind_checked(void) {
    soma_net *a = NULL, *b = NULL;
    CHECK_OK(soma_net_new(&a, "fc5,tanh,fc2", soma_shape1(3), 1));
    CHECK_OK(soma_net_new(&b, "fc5,tanh,fc2", soma_shape1(3), 2));
    if (!a || !b) return;
    soma_optim *adam = optim_(a, SOMA_OPTIM_ADAM);
    size_t ns;
    float *st = soma_optim_state(adam, &ns);
    for (size_t i = 0; i < ns; i++) st[i] = 0.5f;
    soma_ckpt_meta meta = {1, 4, 3, {{1, 2, 3, 4}, 0.0, 0}, 0};
    CHECK_OK(soma_ckpt_save(scratch_path("adam.ckpt"), a, adam, &meta));
    soma_optim *adamw = optim_(b, SOMA_OPTIM_ADAMW), *sgd = optim_(b, SOMA_OPTIM_SGD);
    size_t nb;
    float before = soma_net_flat_values(b, &nb)[0];
    CHECK_FAILS(soma_ckpt_load(scratch_path("adam.ckpt"), b, adamw, NULL), SOMA_ERR_SHAPE);
    CHECK(strstr(soma_errmsg(), "adam's") && strstr(soma_errmsg(), "adamw"));
    CHECK_FAILS(soma_ckpt_load(scratch_path("adam.ckpt"), b, sgd, NULL), SOMA_ERR_SHAPE);
    CHECK(soma_net_flat_values(b, NULL)[0] == before); /* untouched */
    soma_optim *adam_b = optim_(b, SOMA_OPTIM_ADAM);
    soma_ckpt_meta got;
    CHECK_OK(soma_ckpt_load(scratch_path("adam.ckpt"), b, adam_b, &got));
    CHECK(got.version == 2 && got.step == 4);
    size_t nb2;
    float *sb = soma_optim_state(adam_b, &nb2);
    CHECK(nb2 == ns && sb[ns - 1] == 0.5f);
    CHECK(memcmp(soma_net_flat_values(a, NULL), soma_net_flat_values(b, NULL), nb * sizeof(float)) == 0);
    /* Loading the weights only (no optimizer) is always allowed. */
    CHECK_OK(soma_ckpt_load(scratch_path("adam.ckpt"), b, NULL, NULL));
    soma_optim_free(adam);
    soma_optim_free(adamw);
    soma_optim_free(sgd);
    soma_optim_free(adam_b);
    soma_net_free(a);
    soma_net_free(b);
}

/* Named sections round-trip byte for byte; bad names are refused; corrupt ones are caught. */
static void test_sections(void) {
    soma_net *net = NULL;
    CHECK_OK(soma_net_new(&net, "fc4", soma_shape1(2), 1));
    if (!net) return;
    float fisher[5] = {1.5f, -2.f, 0.25f, 8.f, 1e-3f};
    char note[] = "hello";
    soma_ckpt_section sec[3];
    memset(sec, 0, sizeof sec);
    snprintf(sec[0].name, sizeof sec[0].name, "rule.test");
    sec[0].data = fisher;
    sec[0].size = sizeof fisher;
    snprintf(sec[1].name, sizeof sec[1].name, "hooks");
    sec[1].data = note;
    sec[1].size = sizeof note;
    snprintf(sec[2].name, sizeof sec[2].name, "empty");
    CHECK_OK(soma_ckpt_save_ex(scratch_path("sec.ckpt"), net, NULL, NULL, sec, 3));
    soma_ckpt_section *got = NULL;
    int n = 0;
    CHECK_OK(soma_ckpt_load_ex(scratch_path("sec.ckpt"), net, NULL, NULL, &got, &n));
    CHECK(n == 3);
    const soma_ckpt_section *r = soma_ckpt_section_find(got, n, "rule.test");
    CHECK(r && r->size == sizeof fisher && memcmp(r->data, fisher, sizeof fisher) == 0);
    const soma_ckpt_section *h = soma_ckpt_section_find(got, n, "hooks");
    CHECK(h && h->size == sizeof note && strcmp(h->data, "hello") == 0);
    const soma_ckpt_section *e = soma_ckpt_section_find(got, n, "empty");
    CHECK(e && e->size == 0);
    CHECK(soma_ckpt_section_find(got, n, "absent") == NULL);
    soma_ckpt_sections_free(got, n);
    snprintf(sec[1].name, sizeof sec[1].name, "rule.test");
    CHECK_FAILS(soma_ckpt_save_ex(scratch_path("dup.ckpt"), net, NULL, NULL, sec, 2), SOMA_ERR_ARG);
    sec[1].name[0] = '\0';
    CHECK_FAILS(soma_ckpt_save_ex(scratch_path("dup.ckpt"), net, NULL, NULL, sec, 2), SOMA_ERR_ARG);
    /* Every truncation of a file with sections is refused (no partial load). */
    void *buf;
    size_t len;
    CHECK_OK(soma_file_read(scratch_path("sec.ckpt"), 0, &buf, &len));
    int caught = 0, tries = 0;
    for (size_t cut = 0; cut < len; cut += 3, tries++) {
        soma_ckpt_section *s2 = NULL;
        int n2 = 0;
        caught += soma_ckpt_load_mem_ex(buf, cut, net, NULL, NULL, &s2, &n2) == SOMA_ERR_FORMAT && s2 == NULL;
    }
    CHECK(caught == tries);
    soma_free(buf);
    soma_net_free(net);
}

/* A frozen parameter (trainable = 0) is never changed by any optimizer, not even by weight
 * decay, and holds no state; the others step exactly as without the frozen one. */
static void test_trainable(void) {
    for (int kind = 0; kind < SOMA_OPTIM_COUNT; kind++) {
        soma_net *a = NULL, *b = NULL;
        CHECK_OK(soma_net_new(&a, "fc4,relu,fc3", soma_shape1(5), 3));
        CHECK_OK(soma_net_new(&b, "fc4,relu,fc3", soma_shape1(5), 3));
        if (!a || !b) return;
        soma_param *fa = soma_net_param(a, 2); /* the second layer's weight */
        fa->trainable = 0;
        soma_optim_config oc = soma_optim_defaults((soma_optim_kind)kind);
        oc.momentum = kind == SOMA_OPTIM_SGD ? 0.9f : 0.f;
        oc.weight_decay = 0.1f;
        soma_optim *oa = NULL, *ob = NULL;
        CHECK_OK(soma_optim_new(&oa, a, &oc));
        CHECK_OK(soma_optim_new(&ob, b, &oc));
        size_t na, nb, nv;
        soma_optim_state(oa, &na);
        soma_optim_state(ob, &nb);
        CHECK(nb - na == (kind == SOMA_OPTIM_SGD ? 1 : 2) * fa->n);
        float *keep = malloc(fa->n * sizeof *keep);
        memcpy(keep, fa->value, fa->n * sizeof *keep);
        float *ga = soma_net_flat_grads(a, &nv), *gb = soma_net_flat_grads(b, NULL);
        for (int step = 0; step < 3; step++) {
            for (size_t i = 0; i < nv; i++) ga[i] = gb[i] = sinf((float)(i + 7 * step));
            soma_optim_step(oa, 0.05f);
            soma_optim_step(ob, 0.05f);
        }
        CHECK(memcmp(keep, fa->value, fa->n * sizeof *keep) == 0);
        for (int k = 0; k < soma_net_n_params(a); k++) {
            soma_param *pa = soma_net_param(a, k), *pb = soma_net_param(b, k);
            if (k == 2) CHECK(memcmp(pa->value, pb->value, pa->n * sizeof(float)) != 0);
            else CHECK(memcmp(pa->value, pb->value, pa->n * sizeof(float)) == 0);
        }
        /* Its checkpoint does not load into an optimizer with another frozen set. */
        CHECK_OK(soma_ckpt_save(scratch_path("frozen.ckpt"), a, oa, NULL));
        CHECK_FAILS(soma_ckpt_load(scratch_path("frozen.ckpt"), b, ob, NULL), SOMA_ERR_SHAPE);
        free(keep);
        soma_optim_free(oa);
        soma_optim_free(ob);
        soma_net_free(a);
        soma_net_free(b);
    }
}

/* Settings out of range are refused; zero is a value (eps = 0, beta1 = 0 accepted as given). */
static void test_optim_config(void) {
    soma_net *net = NULL;
    CHECK_OK(soma_net_new(&net, "fc2", soma_shape1(2), 1));
    if (!net) return;
    soma_optim *o = NULL;
    soma_optim_config c = soma_optim_defaults(SOMA_OPTIM_ADAM);
    CHECK(c.beta1 == 0.9f && c.beta2 == 0.999f && c.eps == 1e-8f && c.weight_decay == 0.f);
    CHECK(soma_optim_defaults(SOMA_OPTIM_ADAMW).weight_decay == 0.01f);
    c.beta1 = 1.f;
    CHECK_FAILS(soma_optim_new(&o, net, &c), SOMA_ERR_ARG);
    c.beta1 = 0.f;
    c.eps = -1e-9f;
    CHECK_FAILS(soma_optim_new(&o, net, &c), SOMA_ERR_ARG);
    c.eps = 0.f;
    CHECK_OK(soma_optim_new(&o, net, &c));
    soma_optim_free(o);
    soma_net_free(net);
}

int main(void) {
    if (!scratch_init("ckpt")) return 1;
    test_v1_loads();
    test_optim_kind_checked();
    test_sections();
    test_trainable();
    test_optim_config();
    scratch_remove();
    return check_report("test_ckpt");
}
