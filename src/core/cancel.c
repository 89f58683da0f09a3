// The process-wide cancellation flag that long calls poll, and a SIGINT handler that sets it
// (core.h).
#define _POSIX_C_SOURCE 200809L
#include "soma/core.h"

#include <signal.h>
#include <stdatomic.h>
#include <string.h>

static atomic_int cancel_ = 0;

void soma_cancel_request(void) { atomic_store_explicit(&cancel_, 1, memory_order_relaxed); }

void soma_cancel_clear(void) { atomic_store_explicit(&cancel_, 0, memory_order_relaxed); }

int soma_cancel_requested(void) { return atomic_load_explicit(&cancel_, memory_order_relaxed) != 0; }

static void on_sigint_(int sig) {
    (void)sig;
    soma_cancel_request(); /* a lock-free atomic store: async-signal-safe */
}

static struct sigaction old_sigint_;
static int sigint_installed_ = 0;

int soma_cancel_on_sigint(int on) {
    if (on && !sigint_installed_) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_sigint_;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        if (sigaction(SIGINT, &sa, &old_sigint_) != 0) return -1;
        sigint_installed_ = 1;
    } else if (!on && sigint_installed_) {
        if (sigaction(SIGINT, &old_sigint_, NULL) != 0) return -1;
        sigint_installed_ = 0;
    }
    return 0;
}
