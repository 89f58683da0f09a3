// Parameter initialisers, matching PyTorch's defaults.
#include <math.h>

#include "nn/internal.h"

/* kaiming_uniform_(w, a=sqrt(5)): gain sqrt(2 / (1 + a^2)) = sqrt(1/3), bound
 * gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in). */
void soma_init_kaiming_uniform(soma_param *p, soma_rng *rng) {
    float b = p->fan_in > 0 ? 1.f / sqrtf((float)p->fan_in) : 0.f;
    soma_rng_uniform_fill(rng, p->value, p->n, -b, b);
}

void soma_init_bias_uniform(soma_param *p, soma_rng *rng) {
    float b = p->fan_in > 0 ? 1.f / sqrtf((float)p->fan_in) : 0.f;
    soma_rng_uniform_fill(rng, p->value, p->n, -b, b);
}

/* xavier_uniform_: bound sqrt(6 / (fan_in + fan_out)). */
void soma_init_xavier_uniform(soma_param *p, soma_rng *rng) {
    int f = p->fan_in + p->fan_out;
    float b = f > 0 ? sqrtf(6.f / (float)f) : 0.f;
    soma_rng_uniform_fill(rng, p->value, p->n, -b, b);
}

void soma_init_normal(soma_param *p, soma_rng *rng, float std) {
    soma_rng_normal_fill(rng, p->value, p->n, 0.f, std);
}

void soma_init_const(soma_param *p, float v) {
    for (size_t i = 0; i < p->n; i++) p->value[i] = v;
}
