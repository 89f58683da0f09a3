/* The 2x2 stride-2 max-pool layer (a fast path that keeps no indices and finds each window's
 * winner again in the backward) against the indexed kernels (soma_maxpool_forward with argmax,
 * soma_maxpool_backward): bit for bit, on inputs full of ties and NaNs, even and odd sizes.
 * The winner of a window is its first input equal to the maximum, or its first NaN. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "nn_util.h"

static void check_shape_(int C, int H, int W, int N) {
    soma_layer l;
    memset(&l, 0, sizeof l);
    CHECK_OK(tl_make(&l, "maxpool2", soma_shape3(C, H, W), N, 1));
    if (!l.ops) return;
    const size_t xs = (size_t)C * H * W, ys = soma_shape_size(l.out);
    float *x = soma_alloc(N * xs, 4), *y = soma_alloc(N * ys, 4), *yr = soma_alloc(N * ys, 4);
    float *dy = soma_alloc(N * ys, 4), *dx = soma_alloc(N * xs, 4), *dxr = soma_alloc(N * xs, 4);
    int32_t *am = soma_alloc(N * ys, sizeof(int32_t));
    soma_rng r;
    soma_rng_seed(&r, (uint64_t)(C * 1000 + H * 10 + W), 0);
    for (size_t i = 0; i < N * xs; i++) {
        uint64_t u = soma_rng_below(&r, 16);
        x[i] = u == 0 ? NAN : (float)(u % 4); /* four values: most windows hold ties */
    }
    soma_rng_uniform_fill(&r, dy, N * ys, -1.f, 1.f);
    for (size_t i = 0; i < N * xs; i++) dx[i] = dxr[i] = NAN; /* both must write every input */
    l.ops->forward(&l, y, x, N, SOMA_MODE_TRAIN);
    l.ops->backward(&l, dx, dy, x, y, N);
    soma_conv_geom g = {.c_in = C, .h_in = H, .w_in = W, .c_out = C, .kh = 2, .kw = 2, .stride = 2};
    CHECK_OK(soma_conv_geom_init(&g));
    soma_maxpool_forward(yr, am, x, &g, N);
    soma_maxpool_backward(dxr, dy, am, &g, N);
    int same_y = memcmp(y, yr, N * ys * 4) == 0, same_dx = memcmp(dx, dxr, N * xs * 4) == 0;
    if (!same_y || !same_dx) {
        for (size_t i = 0; i < N * xs; i++)
            if (memcmp(&dx[i], &dxr[i], 4)) {
                fprintf(stderr, "maxpool2 [%d,%d,%d]: dx[%zu] = %g, indexed path %g\n", C, H, W, i, dx[i], dxr[i]);
                break;
            }
    }
    CHECK(same_y);
    CHECK(same_dx);
    soma_free(x), soma_free(y), soma_free(yr), soma_free(dy), soma_free(dx), soma_free(dxr), soma_free(am);
    tl_free(&l);
}

int main(void) {
    soma_set_threads(2);
    check_shape_(6, 28, 28, 5); /* LeNet's first pool */
    check_shape_(16, 10, 10, 3);
    check_shape_(3, 9, 7, 4);   /* odd: the last row and column belong to no window */
    check_shape_(2, 2, 70, 2);  /* a row longer than any vector */
    /* rows of 8-window vectors: exactly one, two, and one plus an odd column */
    check_shape_(2, 4, 16, 2);
    check_shape_(1, 4, 32, 2);
    check_shape_(2, 5, 17, 2);
    return check_report("test_pool_fast");
}
