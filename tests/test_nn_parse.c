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
    int same = soma_shape_eq(l.out, want);
    char a[64], b[64];
    if (!same)
        fprintf(stderr, "%s: out %s, want %s\n", tok, soma_shape_str(l.out, a, sizeof a),
                soma_shape_str(want, b, sizeof b));
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
    good("fc120", soma_shape3(16, 5, 5), soma_shape1(120), 2, 120 * 400);
    good("dense10", soma_shape1(84), soma_shape1(10), 2, 840);
    good("conv5x5x6", soma_shape3(1, 28, 28), soma_shape3(6, 24, 24), 2, 150);
    good("conv5x5x6p2", soma_shape3(1, 28, 28), soma_shape3(6, 28, 28), 2, 150);
    good("conv3x3x32s2p1", soma_shape3(3, 32, 31), soma_shape3(32, 16, 16), 2, 864);
    good("conv3x3x8p1s2", soma_shape3(3, 9, 9), soma_shape3(8, 5, 5), 2, 216);
    good("conv3x5x2", soma_shape3(1, 6, 7), soma_shape3(2, 4, 3), 2, 30);
    good("maxpool2", soma_shape3(6, 28, 28), soma_shape3(6, 14, 14), 0, 0);
    good("maxpool3s2", soma_shape3(6, 13, 13), soma_shape3(6, 6, 6), 0, 0);
    good("avgpool2", soma_shape3(6, 7, 7), soma_shape3(6, 3, 3), 0, 0);
    good("maxpool3s2p1", soma_shape3(2, 8, 8), soma_shape3(2, 4, 4), 0, 0);
    good("relu", soma_shape3(3, 4, 5), soma_shape3(3, 4, 5), 0, 0);
    good("gelu", soma_shape1(7), soma_shape1(7), 0, 0);
    good("dropout0.5", soma_shape1(7), soma_shape1(7), 0, 0);
    good("dropout.25", soma_shape1(7), soma_shape1(7), 0, 0);
    good("norm0.286/0.353", soma_shape3(1, 4, 4), soma_shape3(1, 4, 4), 0, 0);
    good("norm-2", soma_shape1(5), soma_shape1(5), 0, 0);
    good("flatten", soma_shape3(3, 4, 5), soma_shape1(60), 0, 0);
    good("layernorm", soma_shape3(3, 4, 5), soma_shape3(3, 4, 5), 2, 60);
    good("layernorm1e-6", soma_shape1(8), soma_shape1(8), 2, 8);
    /* sequences [T,...]: token-wise dense and layer norm, conv/pool per time step */
    good("fc5", soma_shape2(7, 3), soma_shape2(7, 5), 2, 15);
    good("fc5", soma_shape4(7, 2, 3, 3), soma_shape2(7, 5), 2, 90);
    good("layernorm", soma_shape2(6, 8), soma_shape2(6, 8), 2, 8);
    good("conv3x3x4p1", soma_shape4(5, 2, 6, 6), soma_shape4(5, 4, 6, 6), 2, 72);
    good("maxpool2", soma_shape4(5, 2, 6, 6), soma_shape4(5, 2, 3, 3), 0, 0);
    good("tmean", soma_shape2(6, 8), soma_shape1(8), 0, 0);
    good("tsum", soma_shape4(6, 2, 3, 3), soma_shape3(2, 3, 3), 0, 0);
    good("repeat8", soma_shape1(10), soma_shape2(8, 10), 0, 0);
    good("repeat4", soma_shape3(1, 5, 5), soma_shape4(4, 1, 5, 5), 0, 0);
    good("flatten", soma_shape2(6, 8), soma_shape1(48), 0, 0);

    /* Parameter metadata for initialisers and optimizers. */
    soma_layer l;
    CHECK_OK(tl_make(&l, "conv5x5x16", soma_shape3(6, 14, 14), 2, 1));
    soma_param *w = soma_layer_param(&l, "weight"), *b = soma_layer_param(&l, "bias");
    CHECK(w->ndim == 4 && w->dims[0] == 16 && w->dims[1] == 6 && w->dims[3] == 5);
    CHECK(w->decay == 1 && b->decay == 0 && w->fan_in == 150 && w->fan_out == 400);
    float bound = 1.f / sqrtf(150.f), mx = 0.f;
    for (size_t i = 0; i < w->n; i++) mx = fabsf(w->value[i]) > mx ? fabsf(w->value[i]) : mx;
    CHECK(mx <= bound && mx > 0.9f * bound);
    tl_free(&l);
    CHECK_OK(tl_make(&l, "gelu", soma_shape1(4), 2, 1));
    CHECK(strcmp(l.ops->kind, "gelu") == 0);
    tl_free(&l);
    CHECK_OK(tl_make(&l, "layernorm", soma_shape1(4), 2, 1));
    CHECK(l.params[0].value[2] == 1.f && l.params[1].value[3] == 0.f && l.params[0].ndim == 1);
    CHECK(l.params[0].trainable == 1 && l.params[0].feedback == NULL);
    tl_free(&l);
    /* layer norm over [T,D] keeps PyTorch's nn.LayerNorm(D) shape [D], not [1,1,D] */
    CHECK_OK(tl_make(&l, "layernorm", soma_shape2(3, 4), 2, 1));
    CHECK(l.params[0].ndim == 1 && l.params[0].dims[0] == 4 && l.params[1].ndim == 1);
    tl_free(&l);

    static const char *bad[] = {
        "fc0",        "fc",         "fc12x",      "dense",      "dense-3",    "conv5x5",
        "conv5",      "conv0x0x6",  "conv5x5x0",  "conv5x5x6s0", "conv5x5x6p", "conv5x5x6q1",
        "conv5x5x6s1s2", "maxpool0", "maxpool",   "maxpool2s0", "avgpool2x",  "maxpool2p",
        "dropout1.5", "dropout1",   "dropout",    "dropout-0.1", "dropoutx",  "flatten2",
        "layernorm0", "layernormx", "layernorm2", "relu6x",     "",           "bogus",
        "res",        "res(",       "res()",      "res(fc3",    "res(fc3|fc4)", "cat(fc3||fc4)",
        "res(fc3,)",  "cat()",      "res(bogus)", "res(fc3))", "repeat0",    "repeat",
        "tmean3",     "tsumx",      "cat(fc3)x",  "norm",       "normx",      "norm0.5/0",
        "norm0.5/-1", "norm1/",     "norm0.5/2x", "norm1e40",   "norm0/1e-40", "norm.",     "norm-",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        soma_error_clear();
        soma_status st = parse_only(bad[i]);
        const char *m = soma_errmsg();
        if (st != SOMA_ERR_PARSE || !m[0] || strchr(m, '\n'))
            fprintf(stderr, "token '%s': %s \"%s\"\n", bad[i], soma_status_str(st), m);
        CHECK(st == SOMA_ERR_PARSE && m[0] && !strchr(m, '\n'));
    }

    CHECK_FAILS(build("conv5x5x6", soma_shape3(1, 3, 3)), SOMA_ERR_SHAPE);
    CHECK(strstr(soma_errmsg(), "conv5x5x6") != NULL);
    CHECK_FAILS(build("conv3x3x6s2", soma_shape3(2, 2, 9)), SOMA_ERR_SHAPE);
    CHECK_FAILS(build("maxpool2", soma_shape1(120)), SOMA_ERR_SHAPE);
    CHECK(strstr(soma_errmsg(), "maxpool2") != NULL);
    CHECK_FAILS(build("avgpool3", soma_shape3(4, 2, 2)), SOMA_ERR_SHAPE);
    CHECK_FAILS(build("maxpool2p2", soma_shape3(4, 8, 8)), SOMA_ERR_SHAPE);
    CHECK_FAILS(build("tmean", soma_shape1(8)), SOMA_ERR_SHAPE);
    CHECK_FAILS(build("tsum", soma_shape3(2, 3, 3)), SOMA_ERR_SHAPE);
    CHECK_FAILS(build("repeat3", soma_shape2(4, 3)), SOMA_ERR_SHAPE);
    CHECK_FAILS(build("conv3x3x2", soma_shape2(4, 9)), SOMA_ERR_SHAPE);
    CHECK_FAILS(build("maxpool2", soma_shape2(4, 8)), SOMA_ERR_SHAPE);
    printf("last shape message: %s\n", soma_errmsg());
    return check_report("test_nn_parse");
}
