// soma neuro fit: a latent model (smoothing, PCA, FA, GPFA, Poisson VAE, LFADS) fit by co-smoothing
// on binned counts (an NPY [trials, bins, units], or a synthetic population with ground
// truth), written to a folder: latents and rates of the test trials as NPY, metrics.json, and
// two figures. Bad options and arrays: one line on stderr, exit 2.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "soma/io.h"
#include "soma/neuro.h"
#include "soma/plot.h"
#include "soma/soma.h"

static const soma_opt fit_opts_[] = {
    {"model", SOMA_OPT_ENUM, "gpfa", 0, 0, "smooth|pca|fa|gpfa|vae|lfads", "latent model", 0},
    {"data", SOMA_OPT_STR, NULL, 0, 0, NULL, "counts NPY [trials, bins, units] (or --synth)", 0},
    {"synth", SOMA_OPT_ENUM, NULL, 0, 0, "lorenz|rnn", "a synthetic population instead of --data", 0},
    {"true-latents", SOMA_OPT_STR, NULL, 0, 0, NULL, "NPY [trials, bins, k] of true latents (latent R2)", 0},
    {"trials", SOMA_OPT_INT, "100", 4, 100000, NULL, "--synth: trials", 0},
    {"bins", SOMA_OPT_INT, "100", 2, 100000, NULL, "--synth: bins a trial", 0},
    {"units", SOMA_OPT_INT, "50", 2, 100000, NULL, "--synth: neurons", 0},
    {"bin-ms", SOMA_OPT_FLOAT, "10", 1e-3, 1e7, NULL, "bin width, ms", 0},
    {"heldout", SOMA_OPT_FLOAT, "0.25", 0.001, 0.999, NULL, "fraction of units held out (co-smoothing)", 0},
    {"test", SOMA_OPT_FLOAT, "0.2", 0.001, 0.999, NULL, "fraction of trials for testing", 0},
    {"latents", SOMA_OPT_INT, "3", 1, 1000, NULL, "latent dimensions", 0},
    {"smooth-ms", SOMA_OPT_FLOAT, "40", 0, 1e7, NULL, "Gaussian smoothing sd for smooth, pca, fa, vae", 0},
    {"iters", SOMA_OPT_INT, NULL, 1, 100000, NULL, "EM iterations (fa 100, gpfa 50) or VAE epochs (40)", 0},
    {"epochs", SOMA_OPT_INT, NULL, 1, 100000, NULL, "lfads: passes over the training trials (default 200)", 0},
    {"enc", SOMA_OPT_INT, NULL, 1, 4096, NULL, "lfads: encoder GRU units per direction (default 64)", 0},
    {"gen", SOMA_OPT_INT, NULL, 1, 4096, NULL, "lfads: generator GRU units (default 64)", 0},
    {"factors", SOMA_OPT_INT, NULL, 1, 4096, NULL, "lfads: factors, its latents (default 8)", 0},
    {"batch", SOMA_OPT_INT, NULL, 1, 4096, NULL, "lfads: trials a batch (default 25)", 0},
    {"lr", SOMA_OPT_FLOAT, NULL, 1e-6, 1, NULL, "lfads: Adam learning rate (default 0.005)", 0},
    {"cd", SOMA_OPT_FLOAT, NULL, 0, 0.9, NULL, "lfads: coordinated dropout share (default 0.3)", 0},
    {"seed", SOMA_OPT_INT, "1", 0, 2147483647, NULL, "seed of the split, synthetic data, VAE and LFADS", 0},
    {"out", SOMA_OPT_STR, NULL, 0, 0, NULL, "output folder (-o; required)", 0},
    {"threads", SOMA_OPT_INT, NULL, 1, 256, NULL, "threads (default: all cores)", 0},
    {"quiet", SOMA_OPT_FLAG, NULL, 0, 0, NULL, "no summary line", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static int fail_(soma_status st) {
    fprintf(stderr, "soma: %s\n", soma_errmsg()[0] ? soma_errmsg() : soma_status_str(st));
    return soma_status_exit_code(st);
}

static void usage_(void) {
    printf("usage: soma neuro fit --model smooth|pca|fa|gpfa|vae|lfads (--data X.npy | --synth lorenz|rnn)\n"
           "                      [--heldout 0.25] [--test 0.2] [--latents 3] [--true-latents Z.npy] -o DIR\n"
           "Fits the model on the held-in units of the training trials, reads every unit out of its\n"
           "latents by a Poisson GLM (LFADS: its own readout of its factors, trained with it), and scores\n"
           "the held-out units of the test trials (co-bps, as nlb_tools). DIR gets latents.npy, rates.npy\n"
           "[test trials, bins, ...], metrics.json, latents.svg and rates.svg. docs/neuro.md.\n\noptions:\n");
    soma_cli_print_opts(fit_opts_);
}

/* An NPY of rank 3 as floats; what names it in messages. */
static soma_status read3_(const char *path, const char *what, soma_array *a, soma_tensor **t) {
    SOMA_TRY(soma_npy_read(path, a));
    if (a->ndim != 3 || a->n == 0)
        return soma_error(SOMA_ERR_ARG, "neuro fit: %s %s has %d dimensions (want [trials, bins, %s], non-empty)",
                          what, path, a->ndim, strcmp(what, "--data") ? "k" : "units");
    if (a->shape[0] > 1000000 || a->shape[1] > 1000000 || a->shape[2] > 1000000)
        return soma_error(SOMA_ERR_ARG, "neuro fit: %s %s is too large", what, path);
    SOMA_TRY(soma_array_to_f32(a, t));
    for (size_t i = 0; i < (*t)->n; i++)
        if (!isfinite((*t)->data[i]))
            return soma_error(SOMA_ERR_ARG, "neuro fit: %s %s holds a non-finite value at %zu", what, path, i);
    return SOMA_OK;
}

static soma_status figures_(const char *dir, const soma_cosmooth *r, const soma_counts *c, const unsigned char *ho,
                            const char *model) {
    char path[4096];
    soma_fig *f = NULL;
    const int T = r->n_bins, L = r->n_latents, P = r->n_units;
    float *x = malloc(sizeof(float) * T), *y = malloc(sizeof(float) * T), *k = malloc(sizeof(float) * T);
    soma_status st = x && y && k ? SOMA_OK : SOMA_ERR_NOMEM;
    char title[128];
    /* latent trajectories: latent 1 against latent 2 (or time) for up to 6 test trials */
    if (st == SOMA_OK && (st = soma_fig_new(&f, 1, 1, 640, 480)) == SOMA_OK) {
        snprintf(title, sizeof title, "%s latents of %d test trials", model, r->n_test < 6 ? r->n_test : 6);
        soma_fig_title(f, title);
        soma_fig_labels(f, 0, NULL, L > 1 ? "latent 1" : "bin", L > 1 ? "latent 2" : "latent 1");
        for (int i = 0; i < r->n_test && i < 6 && st == SOMA_OK; i++) {
            for (int t = 0; t < T; t++) {
                x[t] = L > 1 ? r->z[((size_t)i * T + t) * L] : (float)t;
                y[t] = L > 1 ? r->z[((size_t)i * T + t) * L + 1] : r->z[(size_t)i * T + t];
            }
            char lab[32];
            snprintf(lab, sizeof lab, "trial %d", r->test_idx[i]);
            st = soma_fig_line(f, 0, x, y, T, lab, NULL);
        }
        snprintf(path, sizeof path, "%s/latents.svg", dir);
        if (st == SOMA_OK) st = soma_fig_save(f, path);
        soma_fig_free(f);
        f = NULL;
    }
    /* rates against spikes: the first 4 held-out units on the first test trial */
    if (st == SOMA_OK && (st = soma_fig_new(&f, 2, 2, 900, 560)) == SOMA_OK) {
        snprintf(title, sizeof title, "%s: predicted rate and counts of held-out units, trial %d", model,
                 r->test_idx[0]);
        soma_fig_title(f, title);
        int panel = 0;
        for (int u = 0; u < P && panel < 4 && st == SOMA_OK; u++) {
            if (!ho[u]) continue;
            for (int t = 0; t < T; t++) {
                x[t] = (float)(t * c->bin_ms);
                y[t] = r->rates[(size_t)t * P + u];
                k[t] = c->x[((size_t)r->test_idx[0] * T + t) * P + u];
            }
            char lab[48];
            snprintf(lab, sizeof lab, "unit %d (held out)", u);
            soma_fig_labels(f, panel, lab, "ms", "spikes / bin");
            soma_line_style dots = {SOMA_RGB(0x999999), 0, 1, 0.5f};
            if ((st = soma_fig_line(f, panel, x, k, T, "counts", &dots)) == SOMA_OK)
                st = soma_fig_line(f, panel, x, y, T, "rate", NULL);
            panel++;
        }
        snprintf(path, sizeof path, "%s/rates.svg", dir);
        if (st == SOMA_OK) st = soma_fig_save(f, path);
        soma_fig_free(f);
    }
    free(x);
    free(y);
    free(k);
    return st;
}

int soma_cli_neuro_fit(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage_();
            return 0;
        }
    const char **av = malloc(sizeof(char *) * (size_t)(argc + 1));
    if (!av) return fail_(SOMA_ERR_NOMEM);
    for (int i = 0; i < argc; i++) av[i] = !strcmp(argv[i], "-o") ? "--out" : argv[i];
    soma_args a;
    soma_status st = soma_args_parse(&a, "neuro fit", fit_opts_, argc, av);
    free(av);
    if (st != SOMA_OK) return fail_(st);
    soma_array arr = {0}, tarr = {0};
    soma_tensor *xt = NULL, *zt = NULL;
    soma_synth syn = {0};
    soma_counts c = {0};
    soma_cosmooth r = {0};
    unsigned char *ho = NULL, *te = NULL;
    cJSON *js = NULL;
    const float *true_lat = NULL;
    int n_true = 0;
    const char *data = soma_args_str(&a, "data"), *synth = soma_args_str(&a, "synth"),
               *tpath = soma_args_str(&a, "true-latents"), *out = soma_args_str(&a, "out"),
               *model = soma_args_str(&a, "model");
    int seed = 1, nl = 3, iters = 0, th = 0, trials = 100, bins = 100, units = 50;
    double heldout = 0.25, test = 0.2, bin_ms = 10, smooth = 40;
    if ((st = soma_args_int(&a, "seed", &seed)) || (st = soma_args_int(&a, "latents", &nl)) ||
        (st = soma_args_double(&a, "heldout", &heldout)) || (st = soma_args_double(&a, "test", &test)) ||
        (st = soma_args_double(&a, "bin-ms", &bin_ms)) || (st = soma_args_double(&a, "smooth-ms", &smooth)) ||
        (st = soma_args_int(&a, "trials", &trials)) || (st = soma_args_int(&a, "bins", &bins)) ||
        (st = soma_args_int(&a, "units", &units)))
        goto done;
    if (soma_args_given(&a, "threads") && soma_args_int(&a, "threads", &th) == SOMA_OK) soma_set_threads(th);
    if (!out) {
        st = soma_error(SOMA_ERR_ARG, "neuro fit: -o DIR is required");
        goto done;
    }
    if (!data == !synth) {
        st = soma_error(SOMA_ERR_ARG, "neuro fit: give one of --data X.npy and --synth lorenz|rnn");
        goto done;
    }
    if (synth) {
        soma_synth_kind sk;
        if ((st = soma_synth_kind_parse(synth, &sk))) goto done;
        soma_synth_opts so = soma_synth_opts_default(sk);
        so.n_trials = trials;
        so.n_bins = bins;
        so.n_units = units;
        so.bin_ms = bin_ms;
        so.seed = (uint64_t)seed;
        if ((st = soma_synth_make(&so, &syn))) goto done;
        c = syn.spikes; /* borrowed; freed with syn */
        if (!tpath) {
            true_lat = syn.latents;
            n_true = syn.n_latents;
        }
    } else {
        if ((st = read3_(data, "--data", &arr, &xt))) goto done;
        if ((st = soma_counts_alloc(&c, (int)arr.shape[0], (int)arr.shape[1], (int)arr.shape[2], bin_ms))) goto done;
        for (size_t i = 0; i < xt->n; i++) {
            if (xt->data[i] < 0) {
                st = soma_error(SOMA_ERR_ARG, "neuro fit: --data %s holds a negative count at %zu", data, i);
                goto done;
            }
            c.x[i] = xt->data[i];
        }
    }
    if (tpath) {
        if ((st = read3_(tpath, "--true-latents", &tarr, &zt))) goto done;
        if (tarr.shape[0] != c.n_trials || tarr.shape[1] != c.n_bins) {
            st = soma_error(SOMA_ERR_ARG, "neuro fit: --true-latents is [%lld, %lld, k], the data [%d, %d, units]",
                            (long long)tarr.shape[0], (long long)tarr.shape[1], c.n_trials, c.n_bins);
            goto done;
        }
        true_lat = zt->data;
        n_true = (int)tarr.shape[2];
    }
    static const char *const lfads_only[] = {"epochs", "enc", "gen", "factors", "batch", "lr", "cd"};
    const int is_lfads = !strcmp(model, "lfads");
    soma_lfads_opts lo = soma_lfads_opts_default();
    for (size_t i = 0; i < sizeof lfads_only / sizeof *lfads_only; i++) {
        if (!soma_args_given(&a, lfads_only[i])) continue;
        if (!is_lfads) {
            st = soma_error(SOMA_ERR_ARG, "neuro fit: --%s is an LFADS option (--model lfads)", lfads_only[i]);
            goto done;
        }
    }
    if (is_lfads && (soma_args_given(&a, "iters") || soma_args_given(&a, "latents"))) {
        st = soma_error(SOMA_ERR_ARG, "neuro fit: --model lfads takes --epochs and --factors, not --%s",
                        soma_args_given(&a, "iters") ? "iters" : "latents");
        goto done;
    }
    if (is_lfads) {
        double lr = lo.lr, cd = lo.cd_rate;
        if ((soma_args_given(&a, "epochs") && (st = soma_args_int(&a, "epochs", &lo.epochs))) ||
            (soma_args_given(&a, "enc") && (st = soma_args_int(&a, "enc", &lo.enc_dim))) ||
            (soma_args_given(&a, "gen") && (st = soma_args_int(&a, "gen", &lo.gen_dim))) ||
            (soma_args_given(&a, "factors") && (st = soma_args_int(&a, "factors", &lo.factors))) ||
            (soma_args_given(&a, "batch") && (st = soma_args_int(&a, "batch", &lo.batch))) ||
            (soma_args_given(&a, "lr") && (st = soma_args_double(&a, "lr", &lr))) ||
            (soma_args_given(&a, "cd") && (st = soma_args_double(&a, "cd", &cd))))
            goto done;
        lo.lr = (float)lr, lo.cd_rate = (float)cd, lo.seed = (uint64_t)seed;
    }
    soma_latent_opts o;
    soma_latent_kind kind = SOMA_LATENT_KIND_COUNT;
    if (!is_lfads && (st = soma_latent_kind_parse(model, &kind))) goto done;
    o = soma_latent_opts_default(is_lfads ? SOMA_LATENT_SMOOTH : kind);
    o.n_latents = nl;
    o.smooth_ms = smooth;
    o.seed = (uint64_t)seed;
    if (soma_args_given(&a, "iters")) {
        soma_args_int(&a, "iters", &iters);
        o.max_iter = iters;
        o.vae_epochs = iters;
    }
    ho = malloc((size_t)c.n_units);
    te = malloc((size_t)c.n_trials);
    if (!ho || !te) {
        st = SOMA_ERR_NOMEM;
        goto done;
    }
    if ((st = soma_neuro_split(c.n_units, c.n_trials, heldout, test, (uint64_t)seed, ho, te))) goto done;
    if (is_lfads)
        st = soma_lfads_cosmooth(&c, ho, te, true_lat, n_true, &lo, &r, NULL);
    else
        st = soma_neuro_cosmooth(&c, ho, te, true_lat, n_true, &o, &r);
    if (st) goto done;
    if ((st = soma_mkdir_p(out))) goto done;
    char path[4096];
    snprintf(path, sizeof path, "%s/latents.npy", out);
    if ((st = soma_npy_write_f32(path, 3, (int[]){r.n_test, r.n_bins, r.n_latents}, r.z))) goto done;
    snprintf(path, sizeof path, "%s/rates.npy", out);
    if ((st = soma_npy_write_f32(path, 3, (int[]){r.n_test, r.n_bins, r.n_units}, r.rates))) goto done;
    if ((st = figures_(out, &r, &c, ho, model))) goto done;
    js = cJSON_CreateObject();
    if (!js) {
        st = SOMA_ERR_NOMEM;
        goto done;
    }
    cJSON_AddStringToObject(js, "model", model);
    cJSON_AddStringToObject(js, "data", data ? data : synth);
    cJSON_AddNumberToObject(js, "trials", c.n_trials);
    cJSON_AddNumberToObject(js, "bins", c.n_bins);
    cJSON_AddNumberToObject(js, "units", c.n_units);
    cJSON_AddNumberToObject(js, "latents", r.n_latents);
    cJSON_AddNumberToObject(js, "co_bps", r.co_bps);
    if (isfinite(r.latent_r2))
        cJSON_AddNumberToObject(js, "latent_r2", r.latent_r2);
    else
        cJSON_AddNullToObject(js, "latent_r2");
    cJSON_AddNumberToObject(js, "fit_s", r.fit_s);
    cJSON *hj = cJSON_AddArrayToObject(js, "heldout_units"), *tj = cJSON_AddArrayToObject(js, "test_trials");
    for (int u = 0; u < c.n_units; u++)
        if (ho[u]) cJSON_AddItemToArray(hj, cJSON_CreateNumber(u));
    for (int i = 0; i < r.n_test; i++) cJSON_AddItemToArray(tj, cJSON_CreateNumber(r.test_idx[i]));
    snprintf(path, sizeof path, "%s/metrics.json", out);
    if ((st = soma_json_write(path, js))) goto done;
    if (!soma_args_flag(&a, "quiet")) {
        printf("neuro fit: %s, %d x %d x %d, %d latents: co-bps %.4f", model, c.n_trials, c.n_bins, c.n_units,
               r.n_latents, r.co_bps);
        if (isfinite(r.latent_r2)) printf(", latent R2 %.4f", r.latent_r2);
        printf(" (%.2f s) -> %s\n", r.fit_s, out);
    }
done:
    cJSON_Delete(js);
    soma_cosmooth_free(&r);
    free(ho);
    free(te);
    if (synth)
        soma_synth_free(&syn);
    else
        soma_counts_free(&c);
    soma_tensor_free(xt);
    soma_tensor_free(zt);
    soma_array_deinit(&arr);
    soma_array_deinit(&tarr);
    soma_args_free(&a);
    return st == SOMA_OK ? 0 : fail_(st);
}
