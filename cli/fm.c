// soma fm: the population foundation model (the Neural Data Transformer, soma/neuro.h).
//   soma fm pretrain --data A.npy,B.nwb,DIR ... --out CKPT     masked pre-training over sessions
//   soma fm finetune --ckpt CKPT --data FILE --task T -o DIR   adaptation to a new session
//   soma fm info CKPT                                          what a checkpoint holds
//   soma fm synth --index I -o X.npy                           a synthetic session as NPY
// Bad options, files and arrays: one line on stderr, exit 2. docs/fm.md.
#define _DEFAULT_SOURCE
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "soma/io.h"
#include "soma/neuro.h"
#include "soma/plot.h"
#include "soma/soma.h"

static int fail_(soma_status st) {
    fprintf(stderr, "soma: %s\n", soma_errmsg()[0] ? soma_errmsg() : soma_status_str(st));
    return soma_status_exit_code(st);
}

static int ends_(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

// --- data ------------------------------------------------------------------------------

/* How NWB files are binned into trials. */
typedef struct bin_args_ {
    double bin_ms, pre_ms, post_ms;
    const char *align;
} bin_args_;

#define BIN_OPTS                                                                                                    \
    {"bin-ms", SOMA_OPT_FLOAT, "20", 1e-3, 1e6, NULL, "NWB: bin width, ms (NPY counts are taken as binned)", 0},  \
        {"align", SOMA_OPT_STR, "start_time", 0, 0, NULL, "NWB: trial event the window is aligned to", 0},        \
        {"pre-ms", SOMA_OPT_FLOAT, "0", -1e7, 1e7, NULL, "NWB: window start relative to the event, ms", 0},        \
        {"post-ms", SOMA_OPT_FLOAT, "1000", -1e7, 1e7, NULL, "NWB: window end relative to the event, ms", 0}

static soma_status bin_args_get_(const soma_args *a, bin_args_ *b) {
    SOMA_TRY(soma_args_double(a, "bin-ms", &b->bin_ms));
    SOMA_TRY(soma_args_double(a, "pre-ms", &b->pre_ms));
    SOMA_TRY(soma_args_double(a, "post-ms", &b->post_ms));
    b->align = soma_args_str(a, "align");
    if (!(b->post_ms > b->pre_ms))
        return soma_error(SOMA_ERR_ARG, "fm: --post-ms %g must be after --pre-ms %g", b->post_ms, b->pre_ms);
    return SOMA_OK;
}

/* One session's counts from an NPY [trials, bins, units] or an NWB file (binned by b). rec
 * (may be NULL) keeps the NWB recording for behaviour. */
static soma_status load_counts_(const char *path, const bin_args_ *b, soma_counts *c, soma_recording *rec) {
    memset(c, 0, sizeof *c);
    if (ends_(path, ".nwb")) {
        soma_recording r = {0};
        SOMA_TRY(soma_nwb_read(path, &r));
        if (r.n_trials < 1) {
            soma_recording_free(&r);
            return soma_error(SOMA_ERR_ARG, "fm: %s has no trials table; HINT: bin it yourself (soma neuro bin) "
                                            "into an NPY [trials, bins, units]", path);
        }
        soma_bin_opts o = {.bin_ms = b->bin_ms, .align = b->align, .pre_ms = b->pre_ms, .post_ms = b->post_ms};
        soma_status st = soma_recording_bin(&r, &o, c);
        if (st == SOMA_OK && rec) *rec = r;
        else soma_recording_free(&r);
        return st;
    }
    if (!ends_(path, ".npy"))
        return soma_error(SOMA_ERR_ARG, "fm: %s: want an NPY counts array [trials, bins, units] or an NWB file", path);
    soma_array arr = {0};
    soma_tensor *t = NULL;
    SOMA_TRY(soma_npy_read(path, &arr));
    soma_status st = SOMA_OK;
    if (arr.ndim != 3 || arr.n == 0 || arr.shape[0] > 10000000 || arr.shape[1] > 4096 || arr.shape[2] > 1000000)
        st = soma_error(SOMA_ERR_ARG, "fm: %s is not a counts array [trials, bins <= 4096, units] (%d dimensions)",
                        path, arr.ndim);
    if (st == SOMA_OK) st = soma_array_to_f32(&arr, &t);
    if (st == SOMA_OK)
        st = soma_counts_alloc(c, (int)arr.shape[0], (int)arr.shape[1], (int)arr.shape[2], b ? b->bin_ms : 20);
    for (size_t i = 0; st == SOMA_OK && i < t->n; i++) {
        if (!(t->data[i] >= 0) || !isfinite(t->data[i]))
            st = soma_error(SOMA_ERR_ARG, "fm: %s holds %g at %zu (counts must be finite and >= 0)", path,
                            (double)t->data[i], i);
        else c->x[i] = t->data[i];
    }
    if (st != SOMA_OK) soma_counts_free(c);
    soma_tensor_free(t);
    soma_array_deinit(&arr);
    return st;
}

/* The --data list: comma-separated NPY / NWB files and folders (their .npy and .nwb files,
 * sorted by name). *paths (malloc'd strings) of *n. */
typedef struct paths_ {
    char **p;
    int n, cap;
} paths_;
static void paths_free_(paths_ *ps) {
    for (int i = 0; i < ps->n; i++) free(ps->p[i]);
    free(ps->p);
    memset(ps, 0, sizeof *ps);
}
static soma_status paths_add_(paths_ *ps, const char *s) {
    if (ps->n == ps->cap) {
        int cap = ps->cap ? 2 * ps->cap : 16;
        char **np = realloc(ps->p, sizeof(char *) * (size_t)cap);
        if (!np) return SOMA_ERR_NOMEM;
        ps->p = np, ps->cap = cap;
    }
    if (!(ps->p[ps->n] = strdup(s))) return SOMA_ERR_NOMEM;
    ps->n++;
    return SOMA_OK;
}
static int cmp_str_(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static soma_status expand_data_(const char *list, paths_ *ps) {
    char *dup = strdup(list);
    if (!dup) return SOMA_ERR_NOMEM;
    soma_status st = SOMA_OK;
    for (char *tok = strtok(dup, ","); tok && st == SOMA_OK; tok = strtok(NULL, ",")) {
        if (!*tok) continue;
        struct stat sb;
        if (stat(tok, &sb) != 0) {
            st = soma_error(SOMA_ERR_IO, "fm: --data %s: no such file or folder", tok);
            break;
        }
        if (!S_ISDIR(sb.st_mode)) {
            st = paths_add_(ps, tok);
            continue;
        }
        DIR *d = opendir(tok);
        if (!d) {
            st = soma_error(SOMA_ERR_IO, "fm: --data %s: cannot open the folder", tok);
            break;
        }
        const int first = ps->n;
        struct dirent *e;
        char path[4096];
        while (st == SOMA_OK && (e = readdir(d)))
            if (ends_(e->d_name, ".npy") || ends_(e->d_name, ".nwb")) {
                snprintf(path, sizeof path, "%s/%s", tok, e->d_name);
                st = paths_add_(ps, path);
            }
        closedir(d);
        if (st == SOMA_OK && ps->n == first)
            st = soma_error(SOMA_ERR_ARG, "fm: --data %s: the folder holds no .npy or .nwb file", tok);
        if (st == SOMA_OK) qsort(ps->p + first, (size_t)(ps->n - first), sizeof(char *), cmp_str_);
    }
    free(dup);
    if (st == SOMA_OK && ps->n == 0) st = soma_error(SOMA_ERR_ARG, "fm: --data names no file");
    return st;
}

/* Synthetic session i: soma_session_make's family (docs/fm_data.md: one rotational latent
 * system recorded through 40-80 neurons of a shared pool, own gains and offsets) with the
 * family's seed `seed`. The counts are taken over; beh / anomaly (may be NULL) receive the
 * hand velocity [trials, bins, 2] and the anomaly labels [trials] (malloc'd). */
static soma_status synth_session_(int i, int trials, int bins, uint64_t seed, double anomaly_frac, soma_counts *c,
                                  float **beh, uint8_t **anomaly) {
    soma_sessions_opts o = soma_sessions_opts_default();
    o.n_trials = trials, o.n_bins = bins, o.seed = seed, o.anomaly_frac = anomaly_frac;
    soma_session s;
    SOMA_TRY(soma_session_make(&o, i, &s));
    const size_t nb = (size_t)trials * bins * (size_t)s.beh_dims;
    soma_status st = SOMA_OK;
    if (beh && !(*beh = malloc(sizeof(float) * nb))) st = SOMA_ERR_NOMEM;
    if (st == SOMA_OK && anomaly && !(*anomaly = malloc((size_t)trials))) st = SOMA_ERR_NOMEM;
    if (st == SOMA_OK) {
        if (beh) memcpy(*beh, s.beh, sizeof(float) * nb);
        if (anomaly) memcpy(*anomaly, s.anomaly, (size_t)trials);
        *c = s.spikes; /* taken over */
        memset(&s.spikes, 0, sizeof s.spikes);
    }
    soma_session_free(&s);
    return st;
}

// --- figures and JSON --------------------------------------------------------------------

static soma_status loss_figure_(const char *path, const soma_ndt_history *h, const char *title) {
    if (h->n_evals < 1) return SOMA_OK;
    soma_fig *f;
    SOMA_TRY(soma_fig_new(&f, 1, 2, 960, 400));
    float *x = malloc(sizeof(float) * (size_t)h->n_evals);
    soma_status st = x ? SOMA_OK : SOMA_ERR_NOMEM;
    if (st == SOMA_OK) {
        for (int i = 0; i < h->n_evals; i++) x[i] = (float)h->step[i];
        soma_fig_title(f, title);
        soma_fig_labels(f, 0, "masked Poisson NLL per entry", "step", "NLL");
        soma_fig_labels(f, 1, "validation bits per spike (masked entries)", "step", "bits/spike");
        st = soma_fig_line(f, 0, x, h->train_nll, h->n_evals, "training", NULL);
        int any_valid = 0;
        for (int i = 0; i < h->n_evals; i++) any_valid |= isfinite(h->valid_nll[i]);
        if (st == SOMA_OK && any_valid) st = soma_fig_line(f, 0, x, h->valid_nll, h->n_evals, "validation", NULL);
        if (st == SOMA_OK && any_valid) st = soma_fig_line(f, 1, x, h->valid_bps, h->n_evals, "validation", NULL);
        if (st == SOMA_OK) st = soma_fig_save(f, path);
    }
    free(x);
    soma_fig_free(f);
    return st;
}

static void history_json_(cJSON *js, const soma_ndt_history *h) {
    cJSON *a = cJSON_AddArrayToObject(js, "history");
    for (int i = 0; a && i < h->n_evals; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "step", (double)h->step[i]);
        cJSON_AddNumberToObject(e, "train_nll", h->train_nll[i]);
        if (isfinite(h->valid_nll[i])) cJSON_AddNumberToObject(e, "valid_nll", h->valid_nll[i]);
        else cJSON_AddNullToObject(e, "valid_nll");
        if (isfinite(h->valid_bps[i])) cJSON_AddNumberToObject(e, "valid_bps", h->valid_bps[i]);
        else cJSON_AddNullToObject(e, "valid_bps");
        cJSON_AddItemToArray(a, e);
    }
    cJSON_AddNumberToObject(js, "train_seconds", h->train_seconds);
}

static void num_or_null_(cJSON *js, const char *k, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(js, k, v);
    else cJSON_AddNullToObject(js, k);
}

// --- training options shared by both commands ------------------------------------------------

#define TRAIN_OPTS(steps, lr, warmup)                                                                                       \
    {"steps", SOMA_OPT_INT, steps, 0, 100000000, NULL, "optimizer steps", 0},                                      \
        {"batch", SOMA_OPT_INT, "32", 1, 65536, NULL, "trials a step", 0},                                          \
        {"lr", SOMA_OPT_FLOAT, lr, 1e-8, 10, NULL, "peak learning rate (AdamW; warm-up, then cosine)", 0},         \
        {"lr-min", SOMA_OPT_FLOAT, "1e-5", 0, 10, NULL, "final learning rate", 0},                                  \
        {"warmup", SOMA_OPT_INT, warmup, 0, 100000000, NULL, "linear warm-up steps", 0},                             \
        {"weight-decay", SOMA_OPT_FLOAT, "0.01", 0, 10, NULL, "AdamW weight decay (weight matrices)", 0},           \
        {"clip", SOMA_OPT_FLOAT, "1", 0, 1e9, NULL, "global gradient-norm clip (0: off)", 0},                      \
        {"mask-ratio", SOMA_OPT_FLOAT, "0.25", 0.001, 0.999, NULL, "share of entries masked", 0},                   \
        {"mask", SOMA_OPT_ENUM, "both", 0, 0, "bins|units|both", "what is masked: time bins, units or both", 0},    \
        {"forecast-bins", SOMA_OPT_INT, "0", 0, 4096, NULL, "also mask the last F bins of half the trials", 0},     \
        {"eval-every", SOMA_OPT_INT, "100", 1, 100000000, NULL, "validation every so many steps", 0},               \
        {"seed", SOMA_OPT_INT, "1", 0, 2147483647, NULL, "initialisation, batches, masks, splits", 0},              \
        {"threads", SOMA_OPT_INT, NULL, 1, 256, NULL, "threads (training itself runs on one)", 0},                  \
        {"quiet", SOMA_OPT_FLAG, NULL, 0, 0, NULL, "no progress line or summary", 0}

static soma_status train_opts_get_(const soma_args *a, soma_ndt_train_opts *o) {
    int steps, batch, warmup, fb, ee, seed;
    SOMA_TRY(soma_args_int(a, "steps", &steps));
    SOMA_TRY(soma_args_int(a, "batch", &batch));
    SOMA_TRY(soma_args_int(a, "warmup", &warmup));
    SOMA_TRY(soma_args_int(a, "forecast-bins", &fb));
    SOMA_TRY(soma_args_int(a, "eval-every", &ee));
    SOMA_TRY(soma_args_int(a, "seed", &seed));
    SOMA_TRY(soma_args_float(a, "lr", &o->lr));
    SOMA_TRY(soma_args_float(a, "lr-min", &o->lr_min));
    SOMA_TRY(soma_args_float(a, "weight-decay", &o->weight_decay));
    SOMA_TRY(soma_args_float(a, "clip", &o->clip));
    SOMA_TRY(soma_args_float(a, "mask-ratio", &o->mask_ratio));
    const char *mk = soma_args_str(a, "mask");
    o->mask = !strcmp(mk, "bins") ? SOMA_NDT_MASK_BINS : !strcmp(mk, "units") ? SOMA_NDT_MASK_UNITS : SOMA_NDT_MASK_BOTH;
    o->steps = steps, o->batch = batch, o->warmup = warmup, o->forecast_bins = fb, o->eval_every = ee;
    o->seed = (uint64_t)seed;
    o->progress = !soma_args_flag(a, "quiet");
    if (o->lr_min > o->lr)
        return soma_error(SOMA_ERR_ARG, "fm: --lr-min %g is above --lr %g", (double)o->lr_min, (double)o->lr);
    int th;
    if (soma_args_given(a, "threads") && soma_args_int(a, "threads", &th) == SOMA_OK) soma_set_threads(th);
    return SOMA_OK;
}

// --- pretrain --------------------------------------------------------------------------------

static const soma_opt pre_opts_[] = {
    {"data", SOMA_OPT_STR, NULL, 0, 0, NULL, "sessions: NPY counts [trials, bins, units], NWB files, folders (comma-separated)", 0},
    {"synthetic", SOMA_OPT_INT, NULL, 1, 10000, NULL, "N synthetic sessions (0..N-1 of soma fm synth's family: shared latent dynamics, own neurons each) instead of --data", 0},
    {"synth-trials", SOMA_OPT_INT, "100", 2, 1000000, NULL, "--synthetic: trials a session", 0},
    {"synth-bins", SOMA_OPT_INT, "50", 2, 4096, NULL, "--synthetic: bins a trial", 0},
    {"out", SOMA_OPT_STR, NULL, 0, 0, NULL, "the checkpoint to write (required; also written every --ckpt-every steps)", 0},
    {"resume", SOMA_OPT_FLAG, NULL, 0, 0, NULL, "continue the run in --out (same data; its saved options)", 0},
    {"results", SOMA_OPT_STR, NULL, 0, 0, NULL, "folder for results.json and loss.svg", 0},
    {"d-model", SOMA_OPT_INT, "64", 2, 4096, NULL, "transformer width", 0},
    {"layers", SOMA_OPT_INT, "2", 0, 64, NULL, "transformer blocks", 0},
    {"heads", SOMA_OPT_INT, "4", 1, 256, NULL, "attention heads (divide the width)", 0},
    {"dropout", SOMA_OPT_FLOAT, "0.1", 0, 0.95, NULL, "dropout on the embeddings and after each block", 0},
    {"mix", SOMA_OPT_INT, "1", 1, 65536, NULL, "sessions a batch", 0},
    {"valid", SOMA_OPT_FLOAT, "0.1", 0, 0.9, NULL, "held-out share of each session's trials", 0},
    {"ckpt-every", SOMA_OPT_INT, "200", 0, 100000000, NULL, "checkpoint interval, steps (0: only at the end)", 0},
    BIN_OPTS,
    TRAIN_OPTS("2000", "1e-3", "100"),
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static int pretrain_(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: soma fm pretrain (--data A.npy,B.nwb,DIR | --synthetic N) --out CKPT [--resume]\n"
                   "                        [--results DIR] [--steps 2000] [--d-model 64 --layers 2 --heads 4] ...\n"
                   "Masked modelling over sessions with different neurons (one read-in/read-out each, shared\n"
                   "transformer). Every session needs the same bins a trial. docs/fm.md.\n\noptions:\n");
            soma_cli_print_opts(pre_opts_);
            return 0;
        }
    soma_args a;
    soma_status st = soma_args_parse(&a, "fm pretrain", pre_opts_, argc, (const char *const *)argv);
    if (st != SOMA_OK) return fail_(st);
    paths_ ps = {0};
    soma_counts *cs = NULL;
    soma_ndt_data *d = NULL;
    soma_ndt *m = NULL;
    cJSON *js = NULL;
    int n = 0;
    const char *data = soma_args_str(&a, "data"), *out = soma_args_str(&a, "out"),
               *res = soma_args_str(&a, "results");
    const int quiet = soma_args_flag(&a, "quiet");
    bin_args_ b;
    soma_ndt_train_opts o = soma_ndt_train_default();
    if ((st = bin_args_get_(&a, &b)) || (st = train_opts_get_(&a, &o))) goto done;
    if (!out) {
        st = soma_error(SOMA_ERR_ARG, "fm pretrain: --out CKPT is required");
        goto done;
    }
    if (!data == !soma_args_given(&a, "synthetic")) {
        st = soma_error(SOMA_ERR_ARG, "fm pretrain: give one of --data FILES and --synthetic N");
        goto done;
    }
    int mix, ce, dm, nl, nh, ns = 0, strials, sbins;
    double valid, drop;
    if ((st = soma_args_double(&a, "dropout", &drop)) || (st = soma_args_int(&a, "mix", &mix)) || (st = soma_args_int(&a, "ckpt-every", &ce)) ||
        (st = soma_args_int(&a, "d-model", &dm)) || (st = soma_args_int(&a, "layers", &nl)) ||
        (st = soma_args_int(&a, "heads", &nh)) || (st = soma_args_double(&a, "valid", &valid)) ||
        (st = soma_args_int(&a, "synthetic", &ns)) || (st = soma_args_int(&a, "synth-trials", &strials)) ||
        (st = soma_args_int(&a, "synth-bins", &sbins)))
        goto done;
    o.mix = mix, o.ckpt_every = ce, o.valid_frac = (float)valid, o.ckpt_path = out;
    if (data && (st = expand_data_(data, &ps))) goto done;
    n = data ? ps.n : ns;
    cs = calloc((size_t)n, sizeof *cs);
    d = calloc((size_t)n, sizeof *d);
    if (!cs || !d) {
        st = SOMA_ERR_NOMEM;
        goto done;
    }
    for (int i = 0; i < n; i++) {
        st = data ? load_counts_(ps.p[i], &b, &cs[i], NULL) : synth_session_(i, strials, sbins, o.seed, 0, &cs[i], NULL, NULL);
        if (st != SOMA_OK) goto done;
        if (cs[i].n_bins != cs[0].n_bins) {
            st = soma_error(SOMA_ERR_ARG, "fm pretrain: %s has %d bins a trial, %s has %d (every session needs the same)",
                            ps.p[i], cs[i].n_bins, ps.p[0], cs[0].n_bins);
            goto done;
        }
        d[i] = (soma_ndt_data){.counts = &cs[i], .session = i};
    }
    struct stat sb;
    if (soma_args_flag(&a, "resume") && stat(out, &sb) == 0) {
        if ((st = soma_ndt_load(&m, out))) goto done;
        if (soma_ndt_n_sessions(m) != n || soma_ndt_get_arch(m).n_bins != cs[0].n_bins) {
            st = soma_error(SOMA_ERR_ARG, "fm pretrain: %s holds %d sessions of %d bins, --data gives %d of %d", out,
                            soma_ndt_n_sessions(m), soma_ndt_get_arch(m).n_bins, n, cs[0].n_bins);
            goto done;
        }
        for (int i = 0; i < n; i++)
            if (soma_ndt_session_units(m, i) != cs[i].n_units) {
                st = soma_error(SOMA_ERR_ARG, "fm pretrain: session %d of %s has %d units, --data gives %d", i, out,
                                soma_ndt_session_units(m, i), cs[i].n_units);
                goto done;
            }
        soma_ndt_train_opts saved = soma_ndt_get_train_opts(m);
        saved.ckpt_path = out, saved.progress = o.progress;
        o = saved;
        if (!quiet) fprintf(stderr, "fm pretrain: resuming %s at step %ld of %ld\n", out, soma_ndt_step(m), o.steps);
    } else {
        soma_ndt_arch ar = soma_ndt_arch_default();
        ar.n_bins = cs[0].n_bins, ar.d_model = dm, ar.n_layers = nl, ar.n_heads = nh, ar.seed = o.seed;
        ar.dropout = (float)drop;
        if ((st = soma_ndt_new(&m, &ar))) goto done;
        for (int i = 0; i < n; i++)
            if ((st = soma_ndt_add_session(m, cs[i].n_units, -1, NULL))) goto done;
    }
    if ((st = soma_ndt_train(m, d, n, &o, -1))) goto done;
    if ((st = soma_ndt_save(m, out))) goto done;
    soma_ndt_history h = soma_ndt_get_history(m);
    if (res) {
        char path[4096];
        if ((st = soma_mkdir_p(res))) goto done;
        snprintf(path, sizeof path, "%s/loss.svg", res);
        if ((st = loss_figure_(path, &h, "NDT pre-training"))) goto done;
        js = cJSON_CreateObject();
        if (!js) {
            st = SOMA_ERR_NOMEM;
            goto done;
        }
        cJSON_AddStringToObject(js, "checkpoint", out);
        cJSON_AddNumberToObject(js, "sessions", n);
        cJSON_AddNumberToObject(js, "bins", cs[0].n_bins);
        cJSON_AddNumberToObject(js, "steps", (double)soma_ndt_step(m));
        cJSON_AddNumberToObject(js, "trunk_params", (double)soma_ndt_n_params(m, -1));
        num_or_null_(js, "valid_nll", h.n_evals ? h.valid_nll[h.n_evals - 1] : NAN);
        num_or_null_(js, "valid_bps", h.n_evals ? h.valid_bps[h.n_evals - 1] : NAN);
        history_json_(js, &h);
        snprintf(path, sizeof path, "%s/results.json", res);
        if ((st = soma_json_write(path, js))) goto done;
    }
    if (!quiet)
        printf("fm pretrain: %d sessions, %ld steps in %.1f s: valid masked NLL %.4f, bps %.4f -> %s\n", n,
               soma_ndt_step(m), h.train_seconds, h.n_evals ? (double)h.valid_nll[h.n_evals - 1] : NAN,
               h.n_evals ? (double)h.valid_bps[h.n_evals - 1] : NAN, out);
done:
    cJSON_Delete(js);
    soma_ndt_free(m);
    for (int i = 0; cs && i < n; i++) soma_counts_free(&cs[i]);
    free(cs);
    free(d);
    paths_free_(&ps);
    soma_args_free(&a);
    return st == SOMA_OK ? 0 : fail_(st);
}

// --- finetune --------------------------------------------------------------------------------

static const soma_opt fine_opts_[] = {
    {"ckpt", SOMA_OPT_STR, NULL, 0, 0, NULL, "pre-trained checkpoint (soma fm pretrain; required, also with --scratch: its architecture)", 0},
    {"data", SOMA_OPT_STR, NULL, 0, 0, NULL, "the new session: NPY counts [trials, bins, units] or NWB (required)", 0},
    {"task", SOMA_OPT_ENUM, NULL, 0, 0, "decode|cosmooth|forecast|anomaly", "what to adapt for (required)", 0},
    {"out", SOMA_OPT_STR, NULL, 0, 0, NULL, "output folder (-o; required)", 0},
    {"train-trials", SOMA_OPT_INT, NULL, 1, 10000000, NULL, "the first K trials adapt the model, the rest evaluate (default half)", 0},
    {"scratch", SOMA_OPT_FLAG, NULL, 0, 0, NULL, "train the same architecture from scratch on this session alone", 0},
    {"finetune-trunk", SOMA_OPT_FLAG, NULL, 0, 0, NULL, "also train the shared transformer (default: frozen)", 0},
    {"behavior", SOMA_OPT_STR, NULL, 0, 0, NULL, "decode: NPY [trials, bins, dims], or an NWB series name", 0},
    {"heldout", SOMA_OPT_FLOAT, "0.25", 0.001, 0.999, NULL, "cosmooth: share of units held out", 0},
    {"labels", SOMA_OPT_STR, NULL, 0, 0, NULL, "anomaly: NPY [trials] of 0/1 (1 = anomalous) for AUROC", 0},
    {"anomaly-mask", SOMA_OPT_ENUM, "bins", 0, 0, "bins|units|both", "anomaly: what the scores mask", 0},
    {"draws", SOMA_OPT_INT, "8", 1, 10000, NULL, "anomaly: masks a trial", 0},
    {"valid", SOMA_OPT_FLOAT, "0", 0, 0.9, NULL, "held-out share of the adaptation trials (validation curve)", 0},
    {"save", SOMA_OPT_STR, NULL, 0, 0, NULL, "write the adapted model (the new session is the last) to this checkpoint", 0},
    BIN_OPTS,
    TRAIN_OPTS("300", "1e-3", "50"),
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static soma_status anomaly_figure_(const char *path, const float *score, const unsigned char *lab, int n) {
    float lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++) lo = fminf(lo, score[i]), hi = fmaxf(hi, score[i]);
    if (!(hi > lo)) hi = lo + 1;
    enum { NB = 20 };
    float x[NB], h0[NB] = {0}, h1[NB] = {0};
    for (int k = 0; k < NB; k++) x[k] = lo + (hi - lo) * (k + 0.5f) / NB;
    for (int i = 0; i < n; i++) {
        int k = (int)((score[i] - lo) / (hi - lo) * NB);
        if (k >= NB) k = NB - 1;
        if (lab && lab[i]) h1[k] += 1;
        else h0[k] += 1;
    }
    soma_fig *f;
    SOMA_TRY(soma_fig_new(&f, 1, 1, 640, 420));
    soma_fig_title(f, "anomaly scores of the evaluation trials");
    soma_fig_labels(f, 0, NULL, "score (masked NLL minus the trial's own baseline, per entry)", "trials");
    soma_status st = soma_fig_line(f, 0, x, h0, NB, lab ? "normal" : "trials", NULL);
    if (st == SOMA_OK && lab) st = soma_fig_line(f, 0, x, h1, NB, "anomalous", NULL);
    if (st == SOMA_OK) st = soma_fig_save(f, path);
    soma_fig_free(f);
    return st;
}

/* Trials [k0, k0 + k) of c as a counts view copy. */
static soma_status slice_(const soma_counts *c, int k0, int k, soma_counts *out) {
    SOMA_TRY(soma_counts_alloc(out, k, c->n_bins, c->n_units, c->bin_ms));
    const size_t row = (size_t)c->n_bins * c->n_units;
    memcpy(out->x, c->x + (size_t)k0 * row, (size_t)k * row * sizeof(float));
    return SOMA_OK;
}

static int finetune_(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: soma fm finetune --ckpt CKPT --data FILE --task decode|cosmooth|forecast|anomaly -o DIR\n"
                   "                        [--train-trials K] [--scratch] [--finetune-trunk] [--behavior B.npy]\n"
                   "                        [--labels L.npy] [--forecast-bins F] [--steps 500] ...\n"
                   "Adds a read-in/read-out for the new session to the pre-trained model (the transformer\n"
                   "frozen unless --finetune-trunk), trains it on the first K trials, and scores the rest:\n"
                   "  decode    velocity R2 of a ridge decoder (CV alpha) from the latents (--behavior)\n"
                   "  cosmooth  co-bps of held-out units predicted from the others\n"
                   "  forecast  fp-bps of the last --forecast-bins bins (default 5) from the earlier ones\n"
                   "  anomaly   a score a trial (AUROC with --labels)\n"
                   "DIR gets results.json, loss.svg and the task's outputs. docs/fm.md.\n\noptions:\n");
            soma_cli_print_opts(fine_opts_);
            return 0;
        }
    const char **av = malloc(sizeof(char *) * (size_t)(argc + 1));
    if (!av) return fail_(SOMA_ERR_NOMEM);
    for (int i = 0; i < argc; i++) av[i] = !strcmp(argv[i], "-o") ? "--out" : argv[i];
    soma_args a;
    soma_status st = soma_args_parse(&a, "fm finetune", fine_opts_, argc, av);
    free(av);
    if (st != SOMA_OK) return fail_(st);
    soma_ndt *m = NULL;
    soma_counts c = {0}, tr = {0}, ev = {0};
    soma_recording rec = {0};
    soma_array barr = {0}, larr = {0};
    soma_tensor *bt = NULL;
    float *beh = NULL, *lat = NULL, *rates = NULL, *buf = NULL, *score = NULL;
    uint8_t *held = NULL, *mk = NULL;
    unsigned char *lab = NULL;
    cJSON *js = NULL;
    const char *ckpt = soma_args_str(&a, "ckpt"), *data = soma_args_str(&a, "data"), *task = soma_args_str(&a, "task"),
               *out = soma_args_str(&a, "out"), *bpath = soma_args_str(&a, "behavior"),
               *lpath = soma_args_str(&a, "labels");
    const int quiet = soma_args_flag(&a, "quiet"), scratch = soma_args_flag(&a, "scratch");
    bin_args_ b;
    soma_ndt_train_opts o = soma_ndt_train_default();
    double metric = NAN;
    const char *metric_name = "";
    if ((st = bin_args_get_(&a, &b)) || (st = train_opts_get_(&a, &o))) goto done;
    if (!ckpt || !data || !task || !out) {
        st = soma_error(SOMA_ERR_ARG, "fm finetune: --ckpt, --data, --task and -o DIR are required");
        goto done;
    }
    if (!strcmp(task, "decode") && !bpath) {
        st = soma_error(SOMA_ERR_ARG, "fm finetune: --task decode needs --behavior (NPY [trials, bins, dims] or an "
                                      "NWB series name)");
        goto done;
    }
    if ((st = soma_ndt_load(&m, ckpt))) goto done;
    soma_ndt_arch ar = soma_ndt_get_arch(m);
    if ((st = load_counts_(data, &b, &c, ends_(data, ".nwb") ? &rec : NULL))) goto done;
    if (c.n_bins != ar.n_bins) {
        st = soma_error(SOMA_ERR_ARG, "fm finetune: %s has %d bins a trial, the model %d (bin it the same way)", data,
                        c.n_bins, ar.n_bins);
        goto done;
    }
    int K = c.n_trials / 2, T = c.n_bins, N = c.n_units, D = ar.d_model;
    if (soma_args_given(&a, "train-trials") && (st = soma_args_int(&a, "train-trials", &K))) goto done;
    if (K < 1 || K >= c.n_trials) {
        st = soma_error(SOMA_ERR_ARG, "fm finetune: --train-trials %d of %d trials (at least one must be left to "
                                      "evaluate)", K, c.n_trials);
        goto done;
    }
    const int E = c.n_trials - K;
    if ((st = slice_(&c, 0, K, &tr)) || (st = slice_(&c, K, E, &ev))) goto done;
    int q = 0; /* behaviour dimensions (decode) */
    if (!strcmp(task, "decode")) {
        if (ends_(bpath, ".npy")) {
            if ((st = soma_npy_read(bpath, &barr))) goto done;
            if (barr.ndim != 3 || barr.shape[0] != c.n_trials || barr.shape[1] != T || barr.shape[2] < 1) {
                st = soma_error(SOMA_ERR_ARG, "fm finetune: --behavior %s must be [%d, %d, dims]", bpath, c.n_trials, T);
                goto done;
            }
            if ((st = soma_array_to_f32(&barr, &bt))) goto done;
            q = (int)barr.shape[2];
            beh = malloc(sizeof(float) * bt->n);
            if (!beh) {
                st = SOMA_ERR_NOMEM;
                goto done;
            }
            memcpy(beh, bt->data, sizeof(float) * bt->n);
        } else {
            const soma_series *se = rec.n_units ? soma_recording_series(&rec, bpath) : NULL;
            if (!se) {
                st = soma_error(SOMA_ERR_ARG, "fm finetune: --behavior %s is neither an NPY nor a series of %s", bpath,
                                data);
                goto done;
            }
            q = se->dim;
            if (!(beh = malloc(sizeof(float) * (size_t)c.n_trials * T * q))) {
                st = SOMA_ERR_NOMEM;
                goto done;
            }
            if ((st = soma_series_align(se, &c, beh))) goto done;
        }
    }
    int F = 0;
    if (!strcmp(task, "forecast")) {
        F = soma_args_given(&a, "forecast-bins") ? o.forecast_bins : 5;
        if (F < 1 || F >= T) {
            st = soma_error(SOMA_ERR_ARG, "fm finetune: --forecast-bins %d (1..%d)", F, T - 1);
            goto done;
        }
        o.forecast_bins = F;
    }
    double valid;
    if ((st = soma_args_double(&a, "valid", &valid))) goto done;
    o.valid_frac = (float)valid;
    /* the model: the checkpoint's with a new session, or the same architecture from scratch */
    if (scratch) {
        soma_ndt_free(m);
        m = NULL;
        ar.seed = o.seed;
        if ((st = soma_ndt_new(&m, &ar))) goto done;
    }
    int s;
    if ((st = soma_ndt_add_session(m, N, -1, &s))) goto done;
    soma_ndt_reset_run(m);
    o.train_trunk = scratch || soma_args_flag(&a, "finetune-trunk");
    soma_ndt_data dtr = {.counts = &tr, .session = s};
    if (!strcmp(task, "cosmooth")) {
        double hf;
        if ((st = soma_args_double(&a, "heldout", &hf))) goto done;
        int nh = (int)floor(hf * N + 0.5);
        if (nh < 1) nh = 1;
        if (nh >= N) {
            st = soma_error(SOMA_ERR_ARG, "fm finetune: --heldout %g of %d units leaves none held in", hf, N);
            goto done;
        }
        if (!(held = malloc((size_t)N))) {
            st = SOMA_ERR_NOMEM;
            goto done;
        }
        if ((st = soma_units_split(N, nh, o.seed, held))) goto done;
        dtr.heldout = held;
    }
    if ((st = soma_ndt_train(m, &dtr, 1, &o, -1))) goto done;
    const char *save = soma_args_str(&a, "save");
    if (save && (st = soma_ndt_save(m, save))) goto done;
    if ((st = soma_mkdir_p(out))) goto done;
    char path[4096];
    js = cJSON_CreateObject();
    if (!js) {
        st = SOMA_ERR_NOMEM;
        goto done;
    }
    /* evaluation */
    if (!strcmp(task, "decode")) {
        if (!(lat = malloc(sizeof(float) * (size_t)c.n_trials * T * D))) {
            st = SOMA_ERR_NOMEM;
            goto done;
        }
        if ((st = soma_ndt_infer(m, s, c.x, c.n_trials, NULL, lat, NULL))) goto done;
        if ((st = soma_nlb_vel_r2(lat, beh, (long)K * T, lat + (size_t)K * T * D, beh + (size_t)K * T * q, (long)E * T,
                                  D, q, &metric)))
            goto done;
        metric_name = "vel_r2";
        snprintf(path, sizeof path, "%s/latents.npy", out);
        if ((st = soma_npy_write_f32(path, 3, (int[]){c.n_trials, T, D}, lat))) goto done;
    } else if (!strcmp(task, "cosmooth")) {
        const size_t n = (size_t)E * T * N;
        int nh = 0;
        for (int u = 0; u < N; u++) nh += held[u];
        mk = malloc(n);
        rates = malloc(sizeof(float) * n);
        buf = malloc(sizeof(float) * 2 * (size_t)E * T * nh);
        if (!mk || !rates || !buf) {
            st = SOMA_ERR_NOMEM;
            goto done;
        }
        for (size_t i = 0; i < n; i++) mk[i] = held[i % (size_t)N];
        if ((st = soma_ndt_infer(m, s, ev.x, E, mk, NULL, rates))) goto done;
        size_t j = 0;
        for (size_t i = 0; i < n; i++) {
            rates[i] = expf(fminf(rates[i], 20.f));
            if (held[i % (size_t)N]) buf[j] = rates[i], buf[(size_t)E * T * nh + j] = ev.x[i], j++;
        }
        if ((st = soma_nlb_bits_per_spike(buf, buf + (size_t)E * T * nh, (long)E * T, nh, &metric))) goto done;
        metric_name = "co_bps";
        snprintf(path, sizeof path, "%s/rates.npy", out);
        if ((st = soma_npy_write_f32(path, 3, (int[]){E, T, N}, rates))) goto done;
        cJSON *hj = cJSON_AddArrayToObject(js, "heldout_units");
        for (int u = 0; u < N; u++)
            if (held[u]) cJSON_AddItemToArray(hj, cJSON_CreateNumber(u));
    } else if (!strcmp(task, "forecast")) {
        rates = malloc(sizeof(float) * (size_t)E * F * N);
        buf = malloc(sizeof(float) * (size_t)E * F * N);
        if (!rates || !buf) {
            st = SOMA_ERR_NOMEM;
            goto done;
        }
        if ((st = soma_ndt_forecast(m, s, &ev, F, rates))) goto done;
        for (int k = 0; k < E; k++)
            memcpy(buf + (size_t)k * F * N, ev.x + ((size_t)k * T + T - F) * N, sizeof(float) * (size_t)F * N);
        if ((st = soma_nlb_bits_per_spike(rates, buf, (long)E * F, N, &metric))) goto done;
        metric_name = "fp_bps";
        cJSON_AddNumberToObject(js, "forecast_bins", F);
        snprintf(path, sizeof path, "%s/forecast.npy", out);
        if ((st = soma_npy_write_f32(path, 3, (int[]){E, F, N}, rates))) goto done;
    } else { /* anomaly */
        int draws;
        if ((st = soma_args_int(&a, "draws", &draws))) goto done;
        const char *am = soma_args_str(&a, "anomaly-mask");
        const soma_ndt_mask_kind kind = !strcmp(am, "bins") ? SOMA_NDT_MASK_BINS
                                        : !strcmp(am, "units") ? SOMA_NDT_MASK_UNITS
                                                                : SOMA_NDT_MASK_BOTH;
        if (!(score = malloc(sizeof(float) * (size_t)E))) {
            st = SOMA_ERR_NOMEM;
            goto done;
        }
        soma_ndt_data dev = {.counts = &ev, .session = s};
        if ((st = soma_ndt_anomaly(m, &dev, o.mask_ratio, kind, draws, o.seed + 7, score))) goto done;
        if (lpath) {
            if ((st = soma_npy_read(lpath, &larr))) goto done;
            if (larr.ndim != 1 || larr.shape[0] != c.n_trials) {
                st = soma_error(SOMA_ERR_ARG, "fm finetune: --labels %s must be [%d] (one a trial)", lpath, c.n_trials);
                goto done;
            }
            if (!(lab = malloc((size_t)E))) {
                st = SOMA_ERR_NOMEM;
                goto done;
            }
            int pos = 0;
            for (int k = 0; k < E; k++) pos += (lab[k] = soma_array_get(&larr, (size_t)(K + k)) != 0);
            if (pos == 0 || pos == E) {
                st = soma_error(SOMA_ERR_ARG, "fm finetune: --labels: the %d evaluation trials are all one class", E);
                goto done;
            }
            if ((st = soma_auc(score, lab, E, &metric, NULL))) goto done;
        }
        metric_name = "anomaly_auroc"; /* null without labels */
        snprintf(path, sizeof path, "%s/scores.npy", out);
        if ((st = soma_npy_write_f32(path, 1, (int[]){E}, score))) goto done;
        snprintf(path, sizeof path, "%s/scores.svg", out);
        if ((st = anomaly_figure_(path, score, lab, E))) goto done;
    }
    soma_ndt_history h = soma_ndt_get_history(m);
    snprintf(path, sizeof path, "%s/loss.svg", out);
    char title[128];
    snprintf(title, sizeof title, "NDT adaptation (%s, %s)", task,
             scratch ? "from scratch" : o.train_trunk ? "trunk fine-tuned" : "trunk frozen");
    if ((st = loss_figure_(path, &h, title))) goto done;
    cJSON_AddStringToObject(js, "task", task);
    cJSON_AddStringToObject(js, "checkpoint", ckpt);
    cJSON_AddStringToObject(js, "data", data);
    cJSON_AddStringToObject(js, "mode", scratch ? "scratch" : o.train_trunk ? "finetune" : "frozen");
    cJSON_AddNumberToObject(js, "train_trials", K);
    cJSON_AddNumberToObject(js, "eval_trials", E);
    cJSON_AddNumberToObject(js, "steps", (double)o.steps);
    num_or_null_(js, metric_name, metric);
    history_json_(js, &h);
    snprintf(path, sizeof path, "%s/results.json", out);
    if ((st = soma_json_write(path, js))) goto done;
    if (!quiet)
        printf("fm finetune: %s (%s) on %d of %d trials: %s %.4f -> %s\n", task,
               scratch ? "from scratch" : o.train_trunk ? "trunk fine-tuned" : "trunk frozen", K, c.n_trials,
               metric_name, metric, out);
done:
    cJSON_Delete(js);
    soma_ndt_free(m);
    soma_counts_free(&c), soma_counts_free(&tr), soma_counts_free(&ev);
    soma_recording_free(&rec);
    soma_tensor_free(bt);
    soma_array_deinit(&barr), soma_array_deinit(&larr);
    free(beh), free(lat), free(rates), free(buf), free(score), free(held), free(mk), free(lab);
    soma_args_free(&a);
    return st == SOMA_OK ? 0 : fail_(st);
}

// --- synth ---------------------------------------------------------------------------------

static const soma_opt synth_opts_[] = {
    {"index", SOMA_OPT_INT, "0", 0, 1000000, NULL, "which session (--synthetic N pre-trains on 0..N-1)", 0},
    {"trials", SOMA_OPT_INT, "100", 1, 1000000, NULL, "trials", 0},
    {"bins", SOMA_OPT_INT, "50", 2, 4096, NULL, "bins a trial", 0},
    {"seed", SOMA_OPT_INT, "1", 0, 2147483647, NULL, "the family's seed (as fm pretrain --seed)", 0},
    {"out", SOMA_OPT_STR, NULL, 0, 0, NULL, "counts NPY [trials, bins, units] to write (-o; required)", 0},
    {"behavior-out", SOMA_OPT_STR, NULL, 0, 0, NULL, "also write the hand velocity NPY [trials, bins, 2] (finetune --task decode)", 0},
    {"anomaly-frac", SOMA_OPT_FLOAT, "0", 0, 0.9, NULL, "share of anomalous trials (perturbed dynamics, pulses, swapped units)", 0},
    {"labels-out", SOMA_OPT_STR, NULL, 0, 0, NULL, "also write the anomaly labels NPY [trials] (0 normal, 1 dynamics, 2 pulse, 3 units)", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static int synth_(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: soma fm synth --index I [--trials 100] [--bins 50] -o X.npy\n"
                   "Session I of the synthetic family that fm pretrain --synthetic N draws sessions 0..N-1\n"
                   "from (soma_session_make: a rotational latent system seen through 40-80 neurons of a\n"
                   "shared pool, docs/fm_data.md), as an NPY of counts: a new session to adapt to.\n\noptions:\n");
            soma_cli_print_opts(synth_opts_);
            return 0;
        }
    const char **av = malloc(sizeof(char *) * (size_t)(argc + 1));
    if (!av) return fail_(SOMA_ERR_NOMEM);
    for (int i = 0; i < argc; i++) av[i] = !strcmp(argv[i], "-o") ? "--out" : argv[i];
    soma_args a;
    soma_status st = soma_args_parse(&a, "fm synth", synth_opts_, argc, av);
    free(av);
    if (st != SOMA_OK) return fail_(st);
    int idx, trials, bins, seed;
    const char *out = soma_args_str(&a, "out");
    const char *bout = soma_args_str(&a, "behavior-out"), *lout = soma_args_str(&a, "labels-out");
    soma_counts c = {0};
    float *beh = NULL, *lab = NULL;
    uint8_t *anom = NULL;
    double af;
    if ((st = soma_args_int(&a, "index", &idx)) || (st = soma_args_int(&a, "trials", &trials)) ||
        (st = soma_args_int(&a, "bins", &bins)) || (st = soma_args_int(&a, "seed", &seed)) ||
        (st = soma_args_double(&a, "anomaly-frac", &af)))
        goto done;
    if (!out) {
        st = soma_error(SOMA_ERR_ARG, "fm synth: -o X.npy is required");
        goto done;
    }
    if ((st = synth_session_(idx, trials, bins, (uint64_t)seed, af, &c, &beh, &anom))) goto done;
    if ((st = soma_npy_write_f32(out, 3, (int[]){c.n_trials, c.n_bins, c.n_units}, c.x))) goto done;
    if (bout && (st = soma_npy_write_f32(bout, 3, (int[]){trials, bins, 2}, beh))) goto done;
    if (lout) {
        if (!(lab = malloc(sizeof(float) * (size_t)trials))) {
            st = SOMA_ERR_NOMEM;
            goto done;
        }
        for (int k = 0; k < trials; k++) lab[k] = anom[k];
        st = soma_npy_write_f32(lout, 1, (int[]){trials}, lab);
    }
done:
    free(beh), free(lab), free(anom);
    soma_counts_free(&c);
    soma_args_free(&a);
    return st == SOMA_OK ? 0 : fail_(st);
}

// --- info ------------------------------------------------------------------------------------

static int info_(int argc, char **argv) {
    if (argc != 1 || !strcmp(argv[0], "--help")) {
        if (argc == 1) {
            printf("usage: soma fm info CKPT\n");
            return 0;
        }
        fprintf(stderr, "soma: fm info: want one checkpoint (soma fm info CKPT)\n");
        return 2;
    }
    soma_ndt *m;
    soma_status st = soma_ndt_load(&m, argv[0]);
    if (st != SOMA_OK) return fail_(st);
    soma_ndt_arch a = soma_ndt_get_arch(m);
    soma_ndt_train_opts o = soma_ndt_get_train_opts(m);
    printf("%s: NDT, %d bins a trial, width %d, %d blocks x %d heads, dropout %g, %zu trunk parameters\n", argv[0],
           a.n_bins, a.d_model, a.n_layers, a.n_heads, (double)a.dropout, soma_ndt_n_params(m, -1));
    printf("sessions: %d (units:", soma_ndt_n_sessions(m));
    for (int s = 0; s < soma_ndt_n_sessions(m); s++) printf(" %d", soma_ndt_session_units(m, s));
    printf(")\nrun: step %ld of %ld\n", soma_ndt_step(m), o.steps);
    soma_ndt_free(m);
    return 0;
}

int soma_cli_fm(int argc, char **argv) {
    if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h") || !strcmp(argv[0], "help")) {
        printf("usage: soma fm pretrain|finetune|info|synth ...   (soma fm pretrain --help)\n"
               "The population foundation model: a Neural Data Transformer pre-trained by masked modelling\n"
               "over sessions, adapted to new ones for decoding, co-smoothing, forecasting and anomaly\n"
               "detection. docs/fm.md.\n");
        return argc < 1 ? 2 : 0;
    }
    if (!strcmp(argv[0], "pretrain")) return pretrain_(argc - 1, argv + 1);
    if (!strcmp(argv[0], "finetune")) return finetune_(argc - 1, argv + 1);
    if (!strcmp(argv[0], "info")) return info_(argc - 1, argv + 1);
    if (!strcmp(argv[0], "synth")) return synth_(argc - 1, argv + 1);
    fprintf(stderr, "soma: fm: unknown subcommand '%s' (pretrain, finetune, info, synth)\n", argv[0]);
    return 2;
}
