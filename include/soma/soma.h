/* soma/soma.h -- the umbrella header: everything public in soma.
 *
 *     #include <soma/soma.h>      // and link with -lsoma (pkg-config --libs soma)
 */
#ifndef SOMA_SOMA_H
#define SOMA_SOMA_H

#include "soma/core.h"
#include "soma/io.h"
#include "soma/nn.h"
#include "soma/learn.h"
#include "soma/analysis.h"
#include "soma/scaling.h"
#include "soma/neuro.h"
#include "soma/plot.h"
#include "soma/snn.h"
#include "soma/rl.h"
#include "soma/exp.h"
#include "soma/sweep.h"

#endif
