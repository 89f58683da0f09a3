// GEMM through CBLAS, the reference triple loop, thread control.
#include "soma/core.h"

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef SOMA_BLAS_NAME
#define SOMA_BLAS_NAME "cblas"
#endif

/* OpenBLAS extensions (declared in its cblas.h; re-declared weakly for other CBLAS builds). */
extern void openblas_set_num_threads(int) __attribute__((weak));
extern char *openblas_get_config(void) __attribute__((weak));

void soma_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M,
                N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void soma_gemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0.0;
            for (int k = 0; k < K; k++) {
                float a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                float b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                acc += (double)a * b;
            }
            float *c = &C[(size_t)i * ldc + j];
            *c = (float)(alpha * acc + (beta == 0.f ? 0.0 : (double)beta * *c));
        }
}

void soma_gemv(int ta, int M, int N, float alpha, const float *A, int lda, const float *x,
               float beta, float *y) {
    cblas_sgemv(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, M, N, alpha, A, lda, x, 1, beta, y,
                1);
}

const char *soma_blas_name(void) { return SOMA_BLAS_NAME; }

const char *soma_blas_config(void) {
    if (openblas_get_config) return openblas_get_config();
    return SOMA_BLAS_NAME;
}

static int threads_ = 0;

void soma_set_threads(int n) {
    if (n < 1) n = 1;
    threads_ = n;
    int blas = n;
#ifdef _OPENMP
    omp_set_num_threads(n);
    /* OpenBLAS's threads wait for one another: asked for more than OpenMP grants (for example
     * under OMP_THREAD_LIMIT) it spins forever. */
    if (blas > omp_get_thread_limit()) blas = omp_get_thread_limit();
#endif
    if (openblas_set_num_threads) openblas_set_num_threads(blas);
}

int soma_get_threads(void) {
    if (threads_ > 0) return threads_;
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int soma_have_openmp(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}
