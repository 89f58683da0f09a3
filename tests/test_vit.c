// vit-fmnist and the attention-probabilities accessor: soma_attn_probs against the
// probabilities computed here from the layer's own weights and input (plain, causal, key
// padding, inside a block), its errors; the vit-fmnist headline at reduced size (a small ViT
// learns Fashion-MNIST well above chance; its attention maps are distributions).
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "json_util.h"
#include "soma/exp.h"
#include "soma/io.h"
#include "soma/nn.h"

/* softmax(q_i . k_j / sqrt(dh)) from x [T,D] and in_proj (W [3D,D], b [3D]), in double. */
static void naive_probs(double *p, const float *x, const float *W, const float *b, int T, int D, int H,
                        int h, int causal, const uint8_t *pad) {
    const int dh = D / H;
    for (int i = 0; i < T; i++) {
        double s[64], mx = -INFINITY;
        for (int j = 0; j < T; j++) {
            double acc = 0;
            for (int d = 0; d < dh; d++) {
                int rq = h * dh + d, rk = D + h * dh + d;
                double q = b[rq], k = b[rk];
                for (int e = 0; e < D; e++) {
                    q += (double)W[(size_t)rq * D + e] * x[(size_t)i * D + e];
                    k += (double)W[(size_t)rk * D + e] * x[(size_t)j * D + e];
                }
                acc += q * k;
            }
            s[j] = ((causal && j > i) || (pad && pad[j])) ? -INFINITY : acc / sqrt((double)dh);
            if (s[j] > mx) mx = s[j];
        }
        double z = 0;
        for (int j = 0; j < T; j++) z += s[j] == -INFINITY ? 0 : exp(s[j] - mx);
        for (int j = 0; j < T; j++) p[(size_t)i * T + j] = s[j] == -INFINITY ? 0 : exp(s[j] - mx) / z;
    }
}

static void test_probs(const char *spec, int causal, int use_pad) {
    const int T = 6, D = 8, H = 2, N = 3;
    soma_net *net = NULL;
    CHECK_OK(soma_net_new(&net, spec, soma_shape2(T, D), 5));
    if (!net) return;
    CHECK_OK(soma_net_reserve(net, N));
    soma_rng g;
    soma_rng_seed(&g, 9, 0);
    float x[3 * 6 * 8];
    soma_rng_normal_fill(&g, x, sizeof x / sizeof *x, 0.f, 1.f);
    uint8_t pad[3 * 6] = {0};
    pad[1 * T + 2] = pad[2 * T + 0] = pad[2 * T + 5] = 1;
    if (use_pad) CHECK_OK(soma_net_set_key_padding(net, pad, T));
    /* the attention layer: the net's layer 0 (mha) or inside a block (seq -> res -> mha) */
    soma_layer *l = soma_net_layer(net, 0);
    const float *xin = x; /* what the attention layer sees */
    float ln[3 * 6 * 8];
    if (soma_attn_heads(l) == 0) {
        soma_layer *r = l->ops->child(l, 0);
        CHECK(soma_attn_heads(r) == 0);
        l = r->ops->child(r, 1);
        /* its input is the layer norm of x (gain 1, bias 0 at initialisation) */
        for (int row = 0; row < N * T; row++) {
            double m = 0, v = 0;
            for (int e = 0; e < D; e++) m += x[row * D + e];
            m /= D;
            for (int e = 0; e < D; e++) v += (x[row * D + e] - m) * (x[row * D + e] - m);
            v /= D;
            for (int e = 0; e < D; e++) ln[row * D + e] = (float)((x[row * D + e] - m) / sqrt(v + 1e-5));
        }
        xin = ln;
    }
    CHECK(soma_attn_heads(l) == H);
    CHECK_FAILS(soma_attn_probs(l, 0, 0, (float[36]){0}), SOMA_ERR_ARG); /* no forward yet */
    const float *y;
    CHECK_OK(soma_net_forward(net, x, N, SOMA_MODE_EVAL, &y));
    const float *W = soma_layer_param(l, "in_proj_weight")->value, *b = soma_layer_param(l, "in_proj_bias")->value;
    double worst = 0, worst_sum = 0;
    int zeros_ok = 1;
    for (int n = 0; n < N; n++)
        for (int h = 0; h < H; h++) {
            float p[36];
            double r[36];
            CHECK_OK(soma_attn_probs(l, n, h, p));
            naive_probs(r, xin + (size_t)n * T * D, W, b, T, D, H, h, causal, use_pad ? pad + n * T : NULL);
            for (int i = 0; i < T; i++) {
                double sum = 0;
                for (int j = 0; j < T; j++) {
                    double e = fabs(p[i * T + j] - r[i * T + j]);
                    if (e > worst) worst = e;
                    sum += p[i * T + j];
                    if (r[i * T + j] == 0 && p[i * T + j] != 0.f) zeros_ok = 0;
                }
                if (fabs(sum - 1) > worst_sum) worst_sum = fabs(sum - 1);
            }
        }
    printf("attn probs %s causal %d pad %d: max |p - ref| %.2g, max |row sum - 1| %.2g\n", spec, causal,
           use_pad, worst, worst_sum);
    CHECK(worst < 2e-5 && worst_sum < 1e-5 && zeros_ok);
    CHECK_FAILS(soma_attn_probs(l, N, 0, (float[36]){0}), SOMA_ERR_ARG);
    CHECK_FAILS(soma_attn_probs(l, 0, H, (float[36]){0}), SOMA_ERR_ARG);
    CHECK_FAILS(soma_attn_probs(l, -1, 0, (float[36]){0}), SOMA_ERR_ARG);
    if (use_pad) CHECK_OK(soma_net_set_key_padding(net, NULL, 0));
    soma_net_free(net);
}

static void test_probs_not_attention(void) {
    soma_net *net = NULL;
    CHECK_OK(soma_net_new(&net, "fc8,gelu", soma_shape2(4, 8), 1));
    if (!net) return;
    CHECK(soma_attn_heads(soma_net_layer(net, 0)) == 0);
    CHECK_FAILS(soma_attn_probs(soma_net_layer(net, 0), 0, 0, (float[16]){0}), SOMA_ERR_ARG);
    CHECK_FAILS(soma_attn_probs(NULL, 0, 0, (float[16]){0}), SOMA_ERR_ARG);
    soma_net_free(net);
}

/* The headline at reduced size: the reduced run (patch7x7d32, one block, 2000 samples, two
 * epochs) is far above chance (10%); its maps are distributions over the 16 patches. */
static void test_vit_fmnist_reduced(void) {
    struct stat sb;
    if (stat(soma_fmnist_dir(NULL), &sb) != 0) {
        check_missing_dep("SOMA_REQUIRE_FMNIST", "Fashion-MNIST (dataset-fashion-mnist)");
        return;
    }
    char out[128];
    snprintf(out, sizeof out, "/tmp/soma-test-vit-%d", (int)getpid());
    const soma_experiment *e = soma_exp_find("vit-fmnist");
    CHECK(e != NULL);
    if (!e) return;
    cJSON *r = NULL;
    const char *extra[] = {"--threads", "2", "--seed", "4", "--maps", "4"};
    CHECK_OK(soma_exp_run_reduced(e, 6, extra, out, &r));
    if (!r) return;
    const cJSON *ours = cJSON_GetObjectItemCaseSensitive(r, "ours");
    double acc = num_(ours, "test_accuracy");
    printf("vit-fmnist reduced: test accuracy %.4f, %.0f samples/s\n", acc, num_(ours, "samples_per_second"));
    CHECK(acc >= 0.55);
    CHECK(num_(ours, "train_seconds") > 0 && num_(ours, "samples_per_second") > 0);
    const cJSON *maps = cJSON_GetObjectItemCaseSensitive(ours, "attention_maps"), *m;
    CHECK(cJSON_GetArraySize(maps) == 4);
    cJSON_ArrayForEach(m, maps) {
        const cJSON *pa = cJSON_GetObjectItemCaseSensitive(m, "patch_attention"), *v;
        CHECK(cJSON_GetArraySize(pa) == 16);
        double sum = num_(m, "cls_self_attention");
        CHECK(sum >= -1e-6 && sum <= 1 + 1e-6);
        cJSON_ArrayForEach(v, pa) {
            CHECK(v->valuedouble >= 0);
            sum += v->valuedouble;
        }
        CHECK(fabs(sum - 1) < 1e-4); /* the class token's row over itself and the patches */
    }
    char path[300];
    snprintf(path, sizeof path, "%s/vit-fmnist/attention_maps.svg", out);
    CHECK(access(path, R_OK) == 0);
    snprintf(path, sizeof path, "%s/vit-fmnist/learning_curves.svg", out);
    CHECK(access(path, R_OK) == 0);
    cJSON_Delete(r);
    /* a net with the wrong number of outputs is a clear error */
    const char *bad[] = {"--threads", "2", "--net", "patch7x7d32,cls,pos,block2h32,clsout,fc7"};
    CHECK_FAILS(soma_exp_run_reduced(e, 4, bad, out, NULL), SOMA_ERR_ARG);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", out);
    CHECK(system(cmd) == 0);
}

int main(void) {
    soma_set_threads(2);
    test_probs("mha2", 0, 0);
    test_probs("mha2c", 1, 0);
    test_probs("mha2", 0, 1);
    test_probs("block2h8", 0, 0);
    test_probs_not_attention();
    test_vit_fmnist_reduced();
    return check_report("test_vit");
}
