// cuba: the current-based Vogels & Abbott (2005) network, benchmark 2 of Brette et al. (2007),
// as Brian2's examples/CUBA.py runs it; mean rate and CV against Brian2's range over seeds.
#include "exp/internal.h"
#include "exp/snn_common.h"

/* The landmarks are Brian2's range for the same network (tests/fixtures/brian2_cuba_coba.json,
 * tests/ref/gen_brian2.py: 8 seeds, min and max), widened by 10%. */
static const soma_exp_landmark landmarks_[] = {
    {"mean rate (Hz), at least Brian2's lowest over 8 seeds (5.33) - 10%",
     "Brian2 2.5.1 cpp_standalone, the same network (Stimberg, Brette & Goodman 2019)",
     "https://doi.org/10.7554/eLife.47314", "mean_rate_hz", SOMA_EXP_AT_LEAST, 4.80},
    {"mean rate (Hz), at most Brian2's highest over 8 seeds (5.98) + 10%",
     "Brian2 2.5.1 cpp_standalone, the same network (Stimberg, Brette & Goodman 2019)",
     "https://doi.org/10.7554/eLife.47314", "mean_rate_hz", SOMA_EXP_AT_MOST, 6.58},
    {"mean ISI CV, at least Brian2's lowest over 8 seeds (0.507) - 10%",
     "Brian2 2.5.1 cpp_standalone; network of Vogels & Abbott 2005 / Brette et al. 2007",
     "https://doi.org/10.1007/s10827-007-0038-6", "mean_cv", SOMA_EXP_AT_LEAST, 0.457},
    {"mean ISI CV, at most Brian2's highest over 8 seeds (0.542) + 10%",
     "Brian2 2.5.1 cpp_standalone; network of Vogels & Abbott 2005 / Brette et al. 2007",
     "https://doi.org/10.1007/s10827-007-0038-6", "mean_cv", SOMA_EXP_AT_MOST, 0.596},
    {NULL, NULL, NULL, NULL, 0, 0},
};

static const soma_opt opts_[] = {SOMA__VA_OPTS, {NULL, 0, NULL, 0, 0, NULL, NULL, 0}};

static const char *const reduced_[] = {"--neurons", "1000", "--duration", "0.1", NULL};

static soma_status run_(soma_exp_ctx *c) { return soma__va_experiment(c, 0); }

/* Sizes and the connection probability fit together (--neurons, --p). */
static soma_status check_(const soma_exp_ctx *c) {
    soma__va_cfg cfg;
    return soma__va_cfg_from_args(c, 0, &cfg);
}

const soma_experiment soma__exp_cuba = {
    "cuba",
    "Vogels & Abbott's current-based network (Brette et al. 2007 benchmark 2): 4000 LIF "
    "neurons, 80/20 exc/inh, p 0.02; mean rate and CV against Brian2's, raster.",
    landmarks_,
    opts_,
    reduced_,
    run_,
    check_,
};
