// nn: spec tokens -- every built-in kind parses and infers its output shape and parameters;
// malformed tokens give SOMA_ERR_PARSE with a one-line message; inputs that do not fit give
// SOMA_ERR_SHAPE naming the token.
#include <math.h>

#include "check.h"
#include "nn_util.h"
#include "soma/nn.h"

static void good(const char *tok, soma_shape in, soma_shape want, int n_params,
                 size_t n_weight) {
    soma_layer l;
    soma_status st = tl_make(&l, tok, in, 4, 1);
    CHECK_OK(st);
    if (st != SOMA_OK) return;
    int same = l.out.c == want.c && l.out.h == want.h && l.out.w == want.w;
    if (!same)
        fprintf(stderr, "%s: out [%d,%d,%d], want [%d,%d,%d]\n", tok, l.out.c, l.out.h, l.out.w,
                want.c, want.h, want.w);
    CHECK(same);
    CHECK(l.n_params == n_params);
    if (n_params) {
        soma_param *w = soma_layer_param(&l, "weight");
        CHECK(w && w->n == n_weight);
        CHECK(soma_layer_param(&l, "bias") != NULL);
    }
    tl_free(&l);
}

static soma_status parse_only(const char *tok) {
    soma_layer l;
    soma_status st = soma_layer_parse(tok, &l);
    if (st == SOMA_OK && l.ops->destroy) l.ops->destroy(&l);
    return st;
}

static soma_status build(const char *tok, soma_shape in) {
    soma_layer l;
    soma_status st = tl_make(&l, tok, in, 2, 1);
    if (st == SOMA_OK) tl_free(&l);
    return st;
}

int main(void) {
    good("fc120", (soma_shape){16, 5, 5}, (soma_shape){120, 1, 1}, 2, 120 * 400);
    good("dense10", (soma_shape){84, 1, 1}, (soma_shape){10, 1, 1}, 2, 840);
    good("conv5x5x6", (soma_shape){1, 28, 28}, (soma_shape){6, 24, 24}, 2, 150);
    good("conv5x5x6p2", (soma_shape){1, 28, 28}, (soma_shape){6, 28, 28}, 2, 150);
    good("conv3x3x32s2p1", (soma_shape){3, 32, 31}, (soma_shape){32, 16, 16}, 2, 864);
    good("conv3x3x8p1s2", (soma_shape){3, 9, 9}, (soma_shape){8, 5, 5}, 2, 216);
    good("conv3x5x2", (soma_shape){1, 6, 7}, (soma_shape){2, 4, 3}, 2, 30);
    good("maxpool2", (soma_shape){6, 28, 28}, (soma_shape){6, 14, 14}, 0, 0);
    good("maxpool3s2", (soma_shape){6, 13, 13}, (soma_shape){6, 6, 6}, 0, 0);
    good("avgpool2", (soma_shape){6, 7, 7}, (soma_shape){6, 3, 3}, 0, 0);
    good("maxpool3s2p1", (soma_shape){2, 8, 8}, (soma_shape){2, 4, 4}, 0, 0);
    good("relu", (soma_shape){3, 4, 5}, (soma_shape){3, 4, 5}, 0, 0);
    good("gelu", (soma_shape){7, 1, 1}, (soma_shape){7, 1, 1}, 0, 0);
    good("dropout0.5", (soma_shape){7, 1, 1}, (soma_shape){7, 1, 1}, 0, 0);
    good("dropout.25", (soma_shape){7, 1, 1}, (soma_shape){7, 1, 1}, 0, 0);
    good("flatten", (soma_shape){3, 4, 5}, (soma_shape){60, 1, 1}, 0, 0);
    good("layernorm", (soma_shape){3, 4, 5}, (soma_shape){3, 4, 5}, 2, 60);
    good("layernorm1e-6", (soma_shape){8, 1, 1}, (soma_shape){8, 1, 1}, 2, 8);

    /* Parameter metadata for initialisers and optimizers. */
    soma_layer l;
    CHECK_OK(tl_make(&l, "conv5x5x16", (soma_shape){6, 14, 14}, 2, 1));
    soma_param *w = soma_layer_param(&l, "weight"), *b = soma_layer_param(&l, "bias");
    CHECK(w->ndim == 4 && w->dims[0] == 16 && w->dims[1] == 6 && w->dims[3] == 5);
    CHECK(w->decay == 1 && b->decay == 0 && w->fan_in == 150 && w->fan_out == 400);
    float bound = 1.f / sqrtf(150.f), mx = 0.f;
    for (size_t i = 0; i < w->n; i++) mx = fabsf(w->value[i]) > mx ? fabsf(w->value[i]) : mx;
    CHECK(mx <= bound && mx > 0.9f * bound);
    tl_free(&l);
    CHECK_OK(tl_make(&l, "gelu", (soma_shape){4, 1, 1}, 2, 1));
    CHECK(strcmp(l.ops->kind, "gelu") == 0);
    tl_free(&l);
    CHECK_OK(tl_make(&l, "layernorm", (soma_shape){4, 1, 1}, 2, 1));
    CHECK(l.params[0].value[2] == 1.f && l.params[1].value[3] == 0.f && l.params[0].ndim == 1);
    tl_free(&l);

    static const char *bad[] = {
        "fc0",        "fc",         "fc12x",      "dense",      "dense-3",    "conv5x5",
        "conv5",      "conv0x0x6",  "conv5x5x0",  "conv5x5x6s0", "conv5x5x6p", "conv5x5x6q1",
        "conv5x5x6s1s2", "maxpool0", "maxpool",   "maxpool2s0", "avgpool2x",  "maxpool2p",
        "dropout1.5", "dropout1",   "dropout",    "dropout-0.1", "dropoutx",  "flatten2",
        "layernorm0", "layernormx", "layernorm2", "relu6x",     "",           "bogus",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        soma_error_clear();
        soma_status st = parse_only(bad[i]);
        const char *m = soma_errmsg();
        if (st != SOMA_ERR_PARSE || !m[0] || strchr(m, '\n'))
            fprintf(stderr, "token '%s': %s \"%s\"\n", bad[i], soma_status_str(st), m);
        CHECK(st == SOMA_ERR_PARSE && m[0] && !strchr(m, '\n'));
    }

    CHECK_FAILS(build("conv5x5x6", (soma_shape){1, 3, 3}), SOMA_ERR_SHAPE);
    CHECK(strstr(soma_errmsg(), "conv5x5x6") != NULL);
    CHECK_FAILS(build("conv3x3x6s2", (soma_shape){2, 2, 9}), SOMA_ERR_SHAPE);
    CHECK_FAILS(build("maxpool2", (soma_shape){120, 1, 1}), SOMA_ERR_SHAPE);
    CHECK(strstr(soma_errmsg(), "maxpool2") != NULL);
    CHECK_FAILS(build("avgpool3", (soma_shape){4, 2, 2}), SOMA_ERR_SHAPE);
    CHECK_FAILS(build("maxpool2p2", (soma_shape){4, 8, 8}), SOMA_ERR_SHAPE);
    printf("last shape message: %s\n", soma_errmsg());
    return check_report("test_nn_parse");
}
