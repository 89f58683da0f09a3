/* libFuzzer target: network specs (`soma train --net SPEC`, the spec stored in a checkpoint).
 * Every comma-separated token goes through the layer parser. Specs whose numbers are all
 * small (<= 16, at most 6 layers: nets of bounded size, since a valid spec may ask for
 * gigabytes) are also built on one of four input shapes and run forward and backward on one
 * sample. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "soma/nn.h"

/* 1 when every decimal number in s is <= 16 and s has at most 6 tokens. */
static int small_(const char *s) {
    int commas = 0;
    for (const char *p = s; *p; p++) {
        commas += *p == ',';
        if (*p >= '0' && *p <= '9') {
            long v = 0;
            while (*p >= '0' && *p <= '9' && v <= 16) v = v * 10 + (*p++ - '0');
            if (v > 16) return 0;
            p--;
        }
    }
    return commas < 6;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0 || size > 256) return 0;
    char spec[257];
    memcpy(spec, data + 1, size - 1);
    spec[size - 1] = '\0';
    char tok[257];
    for (const char *p = spec; *p;) {
        size_t n = strcspn(p, ",");
        memcpy(tok, p, n);
        tok[n] = '\0';
        soma_layer l;
        if (soma_layer_parse(tok, &l) == SOMA_OK && l.ops->destroy) l.ops->destroy(&l);
        p += n + (p[n] == ',');
    }
    if (!small_(spec)) return 0;
    const soma_shape ins[4] = {soma_shape3(1, 8, 8), soma_shape3(3, 5, 7), soma_shape1(10), soma_shape3(2, 16, 16)};
    soma_shape in = ins[data[0] & 3];
    soma_net *net = NULL;
    if (soma_net_new(&net, spec, in, 1) != SOMA_OK) return 0;
    char sum[4096];
    soma_net_summary(net, sum, sizeof sum);
    if (soma_net_reserve(net, 1) == SOMA_OK) {
        float *x = calloc(soma_shape_size(in), sizeof(float));
        float *dy = calloc(soma_shape_size(soma_net_out_shape(net)), sizeof(float));
        const float *y;
        if (x && dy && soma_net_forward(net, x, 1, SOMA_MODE_TRAIN, &y) == SOMA_OK) {
            soma_net_zero_grad(net);
            (void)soma_net_backward(net, dy, 1);
        }
        free(x);
        free(dy);
    }
    soma_net_free(net);
    return 0;
}
