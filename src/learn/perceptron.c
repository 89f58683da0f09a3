// Rosenblatt's perceptron and Novikoff's margin.
#include <math.h>
#include <string.h>

#include "soma/learn.h"

int soma_perceptron_predict(const float *w, float b, const float *x, int d) {
    double a = b;
    for (int j = 0; j < d; j++) a += (double)w[j] * x[j];
    return a > 0.0 ? 1 : -1;
}

soma_status soma_perceptron_train(float *w, float *b, const float *x, const int *y, int n, int d, float lr,
                                  int max_epochs, long *mistakes_per_epoch, soma_perceptron_result *res) {
    if (n < 1 || d < 1 || max_epochs < 1 || !(lr > 0.f))
        return soma_error(SOMA_ERR_ARG, "perceptron: n %d, d %d, epochs %d, lr %g must be positive", n, d,
                          max_epochs, (double)lr);
    for (int i = 0; i < n; i++)
        if (y[i] != 1 && y[i] != -1)
            return soma_error(SOMA_ERR_ARG, "perceptron: label %d of sample %d is not -1 or +1", y[i], i);
    if (mistakes_per_epoch) memset(mistakes_per_epoch, 0, (size_t)max_epochs * sizeof(long));
    soma_perceptron_result r = {0, 0, 0};
    for (int e = 0; e < max_epochs; e++) {
        long m = 0;
        for (int i = 0; i < n; i++) {
            const float *xi = x + (size_t)i * d;
            if (soma_perceptron_predict(w, *b, xi, d) != y[i]) {
                float s = lr * (float)y[i];
                for (int j = 0; j < d; j++) w[j] += s * xi[j];
                *b += s;
                m++;
            }
        }
        if (mistakes_per_epoch) mistakes_per_epoch[e] = m;
        r.mistakes += m;
        r.epochs = e + 1;
        if (m == 0) {
            r.converged = 1;
            break;
        }
    }
    if (res) *res = r;
    return SOMA_OK;
}

void soma_perceptron_margin(const float *u, float c, const float *x, const int *y, int n, int d, double *gamma,
                            double *radius) {
    double norm = (double)c * c;
    for (int j = 0; j < d; j++) norm += (double)u[j] * u[j];
    norm = sqrt(norm);
    double g = INFINITY, R = 0.0;
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d;
        double a = c, r2 = 1.0;
        for (int j = 0; j < d; j++) {
            a += (double)u[j] * xi[j];
            r2 += (double)xi[j] * xi[j];
        }
        double m = y[i] * a / norm;
        if (m < g) g = m;
        if (r2 > R) R = r2;
    }
    *gamma = g;
    *radius = sqrt(R);
}
