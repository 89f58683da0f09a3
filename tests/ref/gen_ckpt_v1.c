/* Writes tests/fixtures/ckpt/v1_adam.ckpt: a version-1 checkpoint, made once with the format-1
 * writer (commit 1e72e53) before the format moved to version 2, so test_ckpt can check that the
 * old format still loads. Values are closed-form so the test can recompute them exactly:
 *   net "conv3x3x2,relu,fc3" on [1,4,4]; parameter value j (flat order) = (j % 17) * 0.125 - 1,
 *   Adam state value j = (j % 13) * 0.0625; meta epoch 3, step 7, seed 42.
 * Build: cc -std=c11 -Iinclude tests/ref/gen_ckpt_v1.c build/libsoma.a -lopenblas -lz -lpng
 *        -lcjson -lm -fopenmp && ./a.out tests/fixtures/ckpt/v1_adam.ckpt */
#include <stdio.h>

#include "soma/soma.h"

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    soma_net *net;
    soma_optim *opt;
    soma_optim_config oc = {SOMA_OPTIM_ADAM, 0.f, 0, 0.f, 0.f, 0.f, 0.f};
    if (soma_net_new(&net, "conv3x3x2,relu,fc3", (soma_shape){1, 4, 4}, 1) != SOMA_OK) return 1;
    if (soma_optim_new(&opt, net, &oc) != SOMA_OK) return 1;
    size_t n, ns;
    float *v = soma_net_flat_values(net, &n);
    for (size_t j = 0; j < n; j++) v[j] = (float)(j % 17) * 0.125f - 1.f;
    float *s = soma_optim_state(opt, &ns);
    for (size_t j = 0; j < ns; j++) s[j] = (float)(j % 13) * 0.0625f;
    soma_ckpt_meta meta = {3, 7, 42, {{0}, 0.0, 0}};
    soma_rng_seed(&meta.data_rng, 42, 77);
    if (soma_ckpt_save(argv[1], net, opt, &meta) != SOMA_OK) {
        fprintf(stderr, "%s\n", soma_errmsg());
        return 1;
    }
    printf("%zu values, %zu state\n", n, ns);
    soma_optim_free(opt);
    soma_net_free(net);
    return 0;
}
