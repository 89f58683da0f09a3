// The process-wide cancellation flag that long calls poll (core.h).
#include "soma/core.h"

#include <stdatomic.h>

static atomic_int cancel_ = 0;

void soma_cancel_request(void) { atomic_store_explicit(&cancel_, 1, memory_order_relaxed); }

void soma_cancel_clear(void) { atomic_store_explicit(&cancel_, 0, memory_order_relaxed); }

int soma_cancel_requested(void) { return atomic_load_explicit(&cancel_, memory_order_relaxed) != 0; }
