/* libFuzzer target: spiking-network descriptions (soma_snn_from_json_info), built under small
 * size limits and then run for a few steps, so that every accepted description is one the
 * simulator can take. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "soma/snn.h"

void soma__snn_json_set_limits(long max_neurons, double max_synapses); /* src/snn/json.c */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 8192) return 0;
    /* the target is the reader, not the allocator: small networks only */
    soma__snn_json_set_limits(2000, 20000);
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    soma_snn *net = NULL;
    soma_snn_json_info info;
    if (soma_snn_from_json_info(s, &net, &info) == SOMA_OK) {
        soma_snn_run(net, 5 * soma_snn_dt(net));
        for (int m = 0; m < info.n_monitors; m++) {
            soma_monitor_kind k;
            int g;
            if (soma_snn_monitor_info(net, m, &k, &g) != SOMA_OK) abort(); /* every monitor exists */
            if (k == SOMA_MON_STATE && !info.monitors[m].var[0]) abort();
        }
        soma_snn_free(net);
    }
    soma_snn_json_info_free(&info);
    free(s);
    return 0;
}
