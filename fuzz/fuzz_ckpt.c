/* libFuzzer target: checkpoint parsing from memory. Each input is tried as is, and again with
 * its trailing CRC-32 recomputed, so that mutations reach the parser past the checksum. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "soma/nn.h"

static soma_net *net_;
static soma_optim *opt_;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!net_) {
        if (soma_net_new(&net_, "conv3x3x2,relu,maxpool2,fc3", soma_shape3(1, 6, 6), 1) != SOMA_OK) abort();
        soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_ADAM);
        if (soma_optim_new(&opt_, net_, &oc) != SOMA_OK) abort();
    }
    soma_ckpt_meta meta;
    (void)soma_ckpt_load_mem(data, size, net_, opt_, &meta);
    if (size >= 4 && size < (1u << 20)) {
        uint8_t *copy = malloc(size);
        if (!copy) return 0;
        memcpy(copy, data, size);
        uint32_t crc = soma_crc32(0, copy, size - 4);
        memcpy(copy + size - 4, &crc, 4);
        (void)soma_ckpt_load_mem(copy, size, net_, NULL, &meta);
        (void)soma_ckpt_load_mem(copy, size, net_, opt_, &meta);
        free(copy);
    }
    return 0;
}
