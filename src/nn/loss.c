// Losses and metrics: softmax cross-entropy (stable), mean squared error, argmax, accuracy.
#include <math.h>

#include "nn/internal.h"

/* Per row: m = max logit, lse = m + log(sum exp(z - m)), loss = lse - z[label]. Every exp()
 * sees an argument <= 0, so huge logits neither overflow nor lose the answer. Rows are
 * summed in double. */
float soma_softmax_xent(float *dlogits, float *probs, const float *logits, const int *labels,
                        int N, int K) {
    double total = 0.0;
    float inv_n = 1.f / (float)N;
    for (int n = 0; n < N; n++) {
        const float *z = logits + (size_t)n * K;
        int lab = labels[n];
        SOMA_ASSERT(lab >= 0 && lab < K);
        float m = z[0];
        for (int k = 1; k < K; k++) m = z[k] > m ? z[k] : m;
        double s = 0.0;
        for (int k = 0; k < K; k++) s += exp((double)z[k] - m);
        double lse = m + log(s);
        total += lse - z[lab];
        if (probs || dlogits) {
            float *p = probs ? probs + (size_t)n * K : NULL;
            float *d = dlogits ? dlogits + (size_t)n * K : NULL;
            for (int k = 0; k < K; k++) {
                float pk = (float)exp((double)z[k] - lse);
                if (p) p[k] = pk;
                if (d) d[k] = (pk - (k == lab ? 1.f : 0.f)) * inv_n;
            }
        }
    }
    return (float)(total / N);
}

float soma_mse(float *dy, const float *y, const float *t, int N, int D) {
    size_t n = (size_t)N * D;
    double s = 0.0;
    float scale = 2.f / (float)n;
    for (size_t i = 0; i < n; i++) {
        float e = y[i] - t[i];
        s += (double)e * e;
        if (dy) dy[i] = scale * e;
    }
    return (float)(s / (double)n);
}

/* numpy.argmax's rule: the index of the first NaN if there is one, else the first index of
 * the largest value. The answer never depends on where a NaN sits relative to the maximum. */
int soma_argmax(const float *x, int n) {
    int best = 0;
    for (int i = 0; i < n; i++) {
        if (isnan(x[i])) return i;
        if (x[i] > x[best]) best = i;
    }
    return best;
}

int soma_count_correct(const float *logits, const int *labels, int N, int K) {
    int c = 0;
    for (int n = 0; n < N; n++) c += soma_argmax(logits + (size_t)n * K, K) == labels[n];
    return c;
}
