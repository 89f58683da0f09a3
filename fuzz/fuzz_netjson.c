/* libFuzzer target: JSON network descriptions (soma_net_new_json), built for a small input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "soma/nn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    /* sizes of at most 4 digits: the target is the reader, not the allocator */
    for (size_t i = 0, run = 0; i < size; i++)
        if ((run = data[i] >= '0' && data[i] <= '9' ? run + 1 : 0) > 4) return 0;
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    soma_net *net = NULL;
    if (soma_net_new_json(&net, s, soma_shape1(6), 1) == SOMA_OK) {
        float x[2 * 6] = {0};
        const float *y;
        if (soma_shape_size(soma_net_out_shape(net)) <= 4096 &&
            soma_net_forward(net, x, 2, SOMA_MODE_TRAIN, &y) == SOMA_OK) {
            float *dy = calloc(2 * soma_shape_size(soma_net_out_shape(net)), sizeof *dy);
            if (dy) soma_net_backward(net, dy, 2);
            free(dy);
        }
        soma_net_free(net);
    }
    free(s);
    return 0;
}
