/* soma/sweep.h -- sweep files: grids of `soma train` runs, their cells and their records.
 *
 * A sweep file is JSON:
 *
 *     {"name": "mlp-width", "out": "sweeps/mlp-width",
 *      "fixed": {"data": "fmnist", "epochs": 2, "batch": 64, "threads": 1},
 *      "grid":  {"net": ["fc32,relu,fc10", "fc128,relu,fc10"], "n-train": [1000, 4000], "seed": [1, 2]},
 *      "cells": [{"net": "fc64,relu,fc10", "n-train": 2000}]}
 *
 * Every key of "fixed", "grid" and "cells" is an option of `soma train` (checked against an
 * option table, soma_classify_train_opts()), with a JSON value of the option's type: numbers
 * for integer and float options (integers must be whole), strings for text and choices,
 * true/false for flags. The cells are the Cartesian product of "grid" (the last key varies
 * fastest) followed by each object of "cells", each merged with "fixed". The options the
 * sweep sets for every cell (out, ckpt, resume, quiet, log, save-npy, distributed) may not be
 * given; "threads" defaults to 1 (one core a cell). "out" defaults to sweeps/NAME.
 *
 * Each cell has an id: 16 hex digits of the 64-bit FNV-1a hash (then MurmurHash3's fmix64) of its options in canonical
 * text (keys sorted, "key=value" lines, numbers in their shortest round-trip form, flags set
 * to false dropped, "threads" left out since results do not depend on it). Adding values to
 * a grid therefore never renames the cells already there. A cell runs in OUT/cells/ID/:
 *   cell.json      its id and options (written before its first run)
 *   runs.log       one line a start (rank, pid, the sweep's pid): how often the cell was started
 *   results.json   written by `soma train --out` at the end: the cell is finished when it
 *                  parses and holds its figures (soma_sweep_cell_done)
 *   ckpt.bin       the checkpoint after every epoch (a killed cell resumes from it)
 *   run.json       {"rank": R, "seconds": S}: who ran it and its wall time (written after)
 *   stdout.json, stderr.txt, epochs.jsonl: the run's output, messages and epoch log
 *
 * OUT/results.jsonl holds one record (a JSON line) a finished cell: "cell" (its id),
 * "options", "n_params" (parameters), "n_data" (training samples used, after any validation
 * split), "loss" (the final test loss when the data have a test split, else the validation
 * loss, else the training loss; "loss_on" says which: "test", "validation", "train"),
 * train_/val_/test_ loss and accuracy (null when not measured), "epochs", "train_seconds",
 * "seconds" (the cell's wall time) and "rank". `soma fit-scaling` reads n_params, n_data
 * and loss.
 *
 *     soma_sweep *s;
 *     SOMA_TRY(soma_sweep_read("grid.json", soma_classify_train_opts(), &s));
 *     SOMA_TRY(soma_sweep_check_data(s));        // loads the data, builds each net once
 *     int *order = malloc(s->n_cells * sizeof *order);
 *     soma_sweep_order(s, order);                 // longest first
 *     ...
 *     soma_sweep_free(s);
 *
 * Thread safety: none of these functions share state; the error message is thread-local.
 */
#ifndef SOMA_SWEEP_H
#define SOMA_SWEEP_H

#include "soma/exp.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cJSON;

#define SOMA_SWEEP_ID_LEN 16
#define SOMA_SWEEP_MAX_CELLS 100000

typedef struct soma_sweep_cell {
    char id[SOMA_SWEEP_ID_LEN + 1];
    struct cJSON *options; /* {"net": "fc10", "seed": 1, ...}: the cell's options as given, typed */
    int argc;              /* "--key", "value" (flags: "--key" alone) for `soma train`, with */
    char **argv;           /* --threads; without --out, --ckpt, --resume, --quiet, --log */
    /* from the options (borrowing argv): */
    const char *data, *fmnist_dir, *net, *loss;
    int epochs, n_train;
    /* filled by soma_sweep_check_data (0 before): */
    long n_params;  /* parameters of the net built for the data's input shape */
    long n_samples; /* training samples an epoch, before any validation split */
    double cost;    /* n_params x n_samples x epochs: the scheduler's estimate */
} soma_sweep_cell;

typedef struct soma_sweep {
    char name[128];
    char out[1024];
    char label[256]; /* names the file in messages */
    int n_cells;
    soma_sweep_cell *cells; /* file order: the grid's product, then "cells" */
} soma_sweep;

/* Parses a sweep file held in memory (n bytes, no NUL needed) against the option table opts
 * (the options of `soma train`). Checks, before anything runs: syntax, top-level keys,
 * unknown or reserved option keys, a key both in "fixed" and in "grid" or a cell, value
 * types and ranges, empty grids and lists, no cells at all, cells without "data" or "net",
 * contradictory options, duplicate cells (the same options twice), more than
 * SOMA_SWEEP_MAX_CELLS cells. Errors: SOMA_ERR_PARSE (syntax) or SOMA_ERR_ARG, one line
 * naming label and the key. out_dir, when not NULL, replaces the file's "out". Nothing is
 * read from disk (no data, no nets): see soma_sweep_check_data. *out: soma_sweep_free. */
soma_status soma_sweep_parse(const char *buf, size_t n, const char *label, const soma_opt *opts,
                             const char *out_dir, soma_sweep **out);
/* Reads the file at path and parses it (label: the path). */
soma_status soma_sweep_read(const char *path, const soma_opt *opts, const char *out_dir,
                            soma_sweep **out);
/* Loads the training split of each distinct data set once and builds each distinct net once
 * for its input shape: a net that does not build, or a classifier with fewer outputs than the
 * data have classes, gives SOMA_ERR_ARG naming the file, the cell and the net. Fills each
 * cell's n_params, n_samples and cost. */
soma_status soma_sweep_check_data(soma_sweep *s);
void soma_sweep_free(soma_sweep *s); /* NULL: no-op */

/* order[n_cells]: the cells' indices, highest cost first (ties: file order). */
void soma_sweep_order(const soma_sweep *s, int *order);
/* OUT/cells/ID (and a file in it when file is not NULL) into buf; returns buf. */
const char *soma_sweep_cell_path(const soma_sweep *s, int i, const char *file, char *buf, size_t cap);
/* Creates OUT/cells/ID/ and, when absent, its cell.json. */
soma_status soma_sweep_cell_prepare(const soma_sweep *s, int i);
/* 1 when the cell's results.json exists, parses, and holds the figures of a finished run
 * of its epochs; else 0. */
int soma_sweep_cell_done(const soma_sweep *s, int i);
/* Writes OUT/cells/ID/run.json ({"rank", "seconds"}) atomically. */
soma_status soma_sweep_cell_finish(const soma_sweep *s, int i, int rank, double seconds);
/* The cell's record (see above) from its folder; SOMA_ERR_IO / SOMA_ERR_FORMAT when it is
 * not finished. *rec: cJSON_Delete. */
soma_status soma_sweep_cell_record(const soma_sweep *s, int i, struct cJSON **rec);
/* Rewrites OUT/results.jsonl atomically from the cell folders: one line a finished cell, in
 * file order, so a torn or stale file never loses a cell. *n_done (may be NULL): how many. */
soma_status soma_sweep_write_results(const soma_sweep *s, int *n_done);
/* Appends the cell's record to OUT/results.jsonl as one line in one write (O_APPEND). */
soma_status soma_sweep_append_result(const soma_sweep *s, int i);

#ifdef __cplusplus
}
#endif
#endif
