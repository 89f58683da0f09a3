// coba: the conductance-based Vogels & Abbott (2005) network, benchmark 1 of Brette et al.
// (2007); mean rate and CV against Brian2's range over seeds (bench/brian2_cuba.py --model coba).
#include "exp/internal.h"
#include "exp/snn_common.h"

/* The landmarks are Brian2's range for the same network and start (tests/fixtures/
 * brian2_cuba_coba.json, tests/ref/gen_brian2.py: 8 seeds, min and max), widened by 10%. */
static const soma_exp_landmark landmarks_[] = {
    {"mean rate (Hz), at least Brian2's lowest over 8 seeds (18.3) - 10%",
     "Brian2 2.5.1 cpp_standalone, the same network (Stimberg, Brette & Goodman 2019)",
     "https://doi.org/10.7554/eLife.47314", "mean_rate_hz", SOMA_EXP_AT_LEAST, 16.50},
    {"mean rate (Hz), at most Brian2's highest over 8 seeds (20.7) + 10%",
     "Brian2 2.5.1 cpp_standalone, the same network (Stimberg, Brette & Goodman 2019)",
     "https://doi.org/10.7554/eLife.47314", "mean_rate_hz", SOMA_EXP_AT_MOST, 22.76},
    {"mean ISI CV, at least Brian2's lowest over 8 seeds (1.494) - 10%",
     "Brian2 2.5.1 cpp_standalone; network of Vogels & Abbott 2005 / Brette et al. 2007",
     "https://doi.org/10.1007/s10827-007-0038-6", "mean_cv", SOMA_EXP_AT_LEAST, 1.344},
    {"mean ISI CV, at most Brian2's highest over 8 seeds (1.562) + 10%",
     "Brian2 2.5.1 cpp_standalone; network of Vogels & Abbott 2005 / Brette et al. 2007",
     "https://doi.org/10.1007/s10827-007-0038-6", "mean_cv", SOMA_EXP_AT_MOST, 1.719},
    {NULL, NULL, NULL, NULL, 0, 0},
};

static const soma_opt opts_[] = {
    SOMA__VA_OPTS,
    {"kick", SOMA_OPT_FLOAT, "50", 0, 10000, NULL, "ms of initial Poisson drive that starts the silent network", 1},
    {"kick-rate", SOMA_OPT_FLOAT, "200", 0, 10000, NULL, "rate of the initial drive, Hz a neuron", 1},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const char *const reduced_[] = {"--neurons", "1000", "--duration", "0.1", NULL};

static soma_status run_(soma_exp_ctx *c) { return soma__va_experiment(c, 1); }

/* Sizes and the connection probability fit together (--neurons, --p). */
static soma_status check_(const soma_exp_ctx *c) {
    soma__va_cfg cfg;
    return soma__va_cfg_from_args(c, 1, &cfg);
}

const soma_experiment soma__exp_coba = {
    "coba",
    "Vogels & Abbott's conductance-based network (Brette et al. 2007 benchmark 1): 4000 LIF "
    "neurons, 80/20 exc/inh, p 0.02, started by 50 ms of Poisson drive; rate and CV against Brian2's.",
    landmarks_,
    opts_,
    reduced_,
    run_,
    check_,
};
