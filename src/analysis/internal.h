/* src/analysis/internal.h -- what the analysis files share (defined in geometry.c).
 *
 * BLAS on one thread around LAPACK calls (saved[0] receives the OpenMP thread count for a
 * num_threads clause, saved[1] the BLAS one; _end restores both), and double products whose
 * bits do not depend on the thread count (row-major; ta/tb/trans 1 for transposed; dsyrk_det
 * fills the upper triangle of G [n, n] = alpha op(A) op(A)'). */
#ifndef SOMA_ANALYSIS_INTERNAL_H
#define SOMA_ANALYSIS_INTERNAL_H

void soma__lapack_serial_begin(int saved[2]);
void soma__lapack_serial_end(const int saved[2]);
void soma__dgemm_det(int ta, int tb, int M, int N, int K, double alpha, const double *A, int lda,
                     const double *B, int ldb, double beta, double *C, int ldc);
void soma__dsyrk_det(int trans, int n, int k, double alpha, const double *A, int lda, double *G);

#endif
