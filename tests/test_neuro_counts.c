/* soma_counts: the binned-data container of soma/neuro.h. */
#include "check.h"
#include "soma/neuro.h"

int main(void) {
    soma_counts c;
    CHECK_OK(soma_counts_alloc(&c, 3, 5, 7, 20.0));
    CHECK(c.n_trials == 3 && c.n_bins == 5 && c.n_units == 7 && c.bin_ms == 20.0);
    float s = 0.f;
    for (int i = 0; i < 3 * 5 * 7; i++) s += c.x[i];
    CHECK(s == 0.f && c.t0[2] == 0.0);
    c.x[3 * 5 * 7 - 1] = 4.f; /* the last value is inside the block (ASan checks) */
    soma_counts_free(&c);
    CHECK(c.x == NULL && c.n_units == 0);
    soma_counts_free(&c); /* freeing twice is harmless */
    CHECK_FAILS(soma_counts_alloc(&c, 0, 5, 7, 20.0), SOMA_ERR_ARG);
    CHECK_FAILS(soma_counts_alloc(&c, 1, 5, 7, 0.0), SOMA_ERR_ARG);
    CHECK_FAILS(soma_counts_alloc(&c, 1, 5, 7, -1.0), SOMA_ERR_ARG);
    CHECK_FAILS(soma_counts_alloc(&c, 100000, 100000, 1000, 20.0), SOMA_ERR_ARG); /* 10^13 values */
    CHECK(c.x == NULL);
    return check_report("neuro_counts");
}
