/* soma/soma.h -- the umbrella header: everything public in soma.
 *
 *     #include <soma/soma.h>      // and link with -lsoma (pkg-config --libs soma)
 */
#ifndef SOMA_SOMA_H
#define SOMA_SOMA_H

#define SOMA_VERSION_MAJOR 0
#define SOMA_VERSION_MINOR 1
#define SOMA_VERSION_PATCH 0
#define SOMA_VERSION "0.1.0"

#include "soma/core.h"
#include "soma/io.h"
#include "soma/nn.h"
#include "soma/learn.h"

#endif
