/* Private to src/neuro/ndt*.c: the Neural Data Transformer's state (contract in soma/neuro.h). */
#ifndef SOMA_NEURO_NDT_INTERNAL_H
#define SOMA_NEURO_NDT_INTERNAL_H

#include "soma/neuro.h"
#include "soma/nn.h"

/* One session's own parameters, in one block each for values, gradients and AdamW moments:
 * W_in [D, N], b_in [D], W_out [N, D], b_out [N], token [D]. */
typedef struct soma__ndt_sess {
    int N, subject;
    int bias_init; /* 1 once b_out was set from the data's mean counts (first training) */
    long t;        /* AdamW steps taken on this session */
    size_t n;
    float *p, *g, *m1, *m2;
} soma__ndt_sess;

#define NDT_LR_MAX 20.f /* log rates are clamped here before exp (the gradient flows as if not) */

enum { NDT_WIN, NDT_BIN, NDT_WOUT, NDT_BOUT, NDT_TOK, NDT_NPART };
/* Offsets of the parts of a session block of N units at width D (off[NDT_NPART] = total). */
void soma__ndt_offsets(int N, int D, size_t off[NDT_NPART + 1]);

struct soma_ndt {
    soma_ndt_arch a;
    int T, D, C; /* bins, width, context tokens */
    soma_net *trunk;
    soma_optim *opt; /* AdamW over the trunk */
    float opt_wd;    /* the weight decay opt was made with */
    int n_sess, cap_sess;
    soma__ndt_sess *sess;
    /* subject tokens [subjects, D] */
    float *sp, *sg, *sm1, *sm2;
    long st;
    /* batch buffers: B trials of up to NB units */
    int cap_B, cap_N;
    float *x, *y, *lr;    /* [B*T*NB] masked input, counts, log rates (then their gradient) */
    uint8_t *mask;        /* [B*T*NB] */
    float *h, *z, *dz;    /* [B*T*D] */
    float *tin, *dtin, *dtout; /* [B*(C+T)*D] */
    int *gs, *gk, *gd;    /* [B] group session, trials, data index */
    int *idx;             /* [B] trial indices of a batch */
    double *nmu;          /* [NB] per-unit mean counts of a batch group (progress line) */
    /* the run */
    soma_ndt_train_opts o;
    int running;
    long step;
    soma_rng rng;
    double secs, acc_loss;
    long acc_n;
    int n_hist, cap_hist;
    long *h_step;
    float *h_train, *h_valid, *h_bps;
    int fp_n;      /* data fingerprint: sessions and trial counts of the run's data */
    int *fp;       /* [2 fp_n] */
};

/* Grows the batch buffers to B trials of N units (allocation: never inside a step). */
soma_status soma__ndt_reserve(soma_ndt *m, int B, int N);
/* A batch of ng groups (session gs[g], gk[g] trials) whose masked inputs m->x, counts m->y and
 * masks m->mask are laid out group after group (group g's block [gk T, N_g]). Forward; then,
 * with y_ok, the masked loss: *sum over masked entries of (rate - y log rate) (lgam 1: + log
 * y!) and *cnt of them; with grad, gradients of the mean over the batch's masked entries are
 * WRITTEN (trunk when train_trunk, sessions in the batch, subject tokens when train_trunk). */
soma_status soma__ndt_batch(soma_ndt *m, int ng, int train, int y_ok, int grad, int train_trunk, int lgam,
                            double *sum, long *cnt);
/* Holds the process to one thread (returns the count to restore with _end). */
int soma__ndt_serial_begin(void);
void soma__ndt_serial_end(int threads);
/* Rebuilds the trunk optimizer with weight decay wd (fresh state). */
soma_status soma__ndt_new_opt(soma_ndt *m, float wd);

#endif
