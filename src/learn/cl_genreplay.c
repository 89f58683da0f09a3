// Continual learning: generative replay (being built; refuses to run until then).
#include "learn/internal.h"

static soma_status create_(void **state, soma_net *net, soma_rule *rule, const soma_cl_opts *o,
                           const soma_task_stream *s) {
    (void)net;
    (void)rule;
    (void)s;
    *state = NULL;
    return soma_error(SOMA_ERR_ARG, "continual: method %s is not built yet", soma_cl_method_name(o->method));
}
static void destroy_(void *state) { (void)state; }
static soma_status attach_(void *state, soma_train_config *cfg, int t, int ho, int hc) {
    (void)state;
    (void)cfg;
    (void)t;
    (void)ho;
    (void)hc;
    return SOMA_OK;
}
static size_t memory_(const void *state) {
    (void)state;
    return 0;
}

const soma__cl_ext_ops soma__cl_genreplay_ops = {create_, destroy_, attach_, memory_, NULL};
