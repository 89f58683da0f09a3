// Continual learning: the accuracy-matrix metrics (Lopez-Paz & Ranzato 2017; Chaudhry et al.
// 2018), defined in learn.h.
#include <math.h>

#include "soma/learn.h"

void soma_cl_metrics_compute(const float *R, const float *b, int T, soma_cl_metrics *m) {
    m->acc = m->bwt = m->fwt = m->forgetting = NAN;
    if (T < 1) return;
    const float *last = R + (size_t)(T - 1) * T;
    double a = 0.0;
    for (int j = 0; j < T; j++) a += last[j];
    m->acc = a / T;
    if (T < 2) return;
    double bw = 0.0, fw = 0.0, fo = 0.0;
    for (int j = 0; j < T - 1; j++) {
        bw += (double)last[j] - R[(size_t)j * T + j];
        double best = -INFINITY;
        for (int l = 0; l < T - 1; l++) best = fmax(best, (double)R[(size_t)l * T + j]);
        fo += best - last[j];
    }
    for (int j = 1; j < T; j++) fw += (double)R[(size_t)(j - 1) * T + j] - (b ? b[j] : 0.f);
    m->bwt = bw / (T - 1);
    m->fwt = b ? fw / (T - 1) : NAN;
    m->forgetting = fo / (T - 1);
}
