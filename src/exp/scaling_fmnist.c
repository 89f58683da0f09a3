// scaling-fmnist: neural scaling laws on Fashion-MNIST. MLPs of one to a few hidden layers,
// from about 10^3 to 10^6 parameters, times training subsets from 1,000 to 55,000 examples, each
// trained to a fixed budget with early stopping on a validation split held out of the training
// data; the test cross-entropy of every cell is fitted with L(N) (at the largest D), L(D) (at
// the largest N) and the joint L(N, D) = E + A/N^alpha + B/D^beta (Hoffmann et al. 2022,
// approach 3; soma/scaling.h), with bootstrap 95% intervals.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/grid_common.h"
#include "exp/internal.h"
#include "soma/learn.h"
#include "soma/nn.h"
#include "soma/plot.h"
#include "soma/scaling.h"

#define SF_MAX 32

static const char *const sf_reduced_[] = {"--widths", "2,8,32,128", "--sizes", "500,1000,2000,4000", "--n-test", "2000",
                                          "--val", "1000", "--epochs", "2", "--min-steps", "100", "--evals", "4", "--lr", "0.003",
                                          "--bootstrap", "20", NULL};

static const soma_opt sf_opts_[] = {
    {"fmnist-dir", SOMA_OPT_STR, NULL, 0, 0, NULL, "Fashion-MNIST folder (default $SOMA_FMNIST_DIR, else Debian's)", 0},
    {"widths", SOMA_OPT_STR, "2,4,8,16,32,64,128,256,512,1280", 0, 0, NULL, "hidden widths of the MLPs, increasing", 1},
    {"depth", SOMA_OPT_INT, "1", 1, 8, NULL, "hidden layers of each MLP", 1},
    {"sizes", SOMA_OPT_STR, "1000,3000,10000,30000,55000", 0, 0, NULL,
     "training-set sizes, increasing (random subsets of the training split minus the validation images)", 1},
    {"val", SOMA_OPT_INT, "5000", 100, 30000, NULL,
     "validation images held out of the training split (its last V) for early stopping", 1},
    {"seeds", SOMA_OPT_INT, "1", 1, 100, NULL, "seeds a cell (initialisation, subset, order)", 1},
    {"lr", SOMA_OPT_FLOAT, "0.001", 1e-6, 1, NULL, "peak learning rate (Adam, cosine decay to 0)", 1},
    {"batch", SOMA_OPT_INT, "128", 1, 4096, NULL, "mini-batch size", 1},
    {"epochs", SOMA_OPT_INT, "20", 1, 10000, NULL, "passes over the data, at least", 1},
    {"min-steps", SOMA_OPT_INT, "2000", 0, 10000000, NULL, "optimizer steps, at least", 1},
    {"evals", SOMA_OPT_INT, "20", 1, 1000, NULL, "validation checks a cell (early stopping)", 1},
    {"n-test", SOMA_OPT_INT, "0", 0, 1 << 30, NULL, "use only the first N test images (0: all)", 1},
    {"bootstrap", SOMA_OPT_INT, "200", 0, 100000, NULL, "bootstrap resamples for the 95% intervals", 1},
    {"resume", SOMA_OPT_STR, NULL, 0, 0, NULL,
     "a cells.jsonl of an earlier run (or its cells.partial.jsonl): cells it holds with the same settings "
     "are taken from it, not trained again", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark sf_landmarks_[] = {
    {"alpha_N, loss against parameters (language models, Kaplan et al.'s L(N) fit; for scale, a different domain)",
     "Kaplan et al. 2020, Scaling laws for neural language models", "https://arxiv.org/abs/2001.08361",
     "alpha_n", SOMA_EXP_AT_LEAST, 0.076},
    {"alpha_D, loss against data (language models, Kaplan et al.'s L(D) fit; for scale, a different domain)",
     "Kaplan et al. 2020, Scaling laws for neural language models", "https://arxiv.org/abs/2001.08361",
     "beta_d", SOMA_EXP_AT_LEAST, 0.095},
    {"alpha of the joint fit L(N,D) = E + A/N^alpha + B/D^beta (approach 3; language models)",
     "Hoffmann et al. 2022, Training compute-optimal large language models", "https://arxiv.org/abs/2203.15556",
     "alpha", SOMA_EXP_AT_LEAST, 0.34},
    {"beta of the joint fit (approach 3; language models)",
     "Hoffmann et al. 2022, Training compute-optimal large language models", "https://arxiv.org/abs/2203.15556",
     "beta", SOMA_EXP_AT_LEAST, 0.28},
    {"alpha of the joint fit refitted to convergence on Hoffmann et al.'s reconstructed data",
     "Besiroglu, Erdil, Barnett & You 2024, Chinchilla scaling: a replication attempt",
     "https://arxiv.org/abs/2404.10102", "alpha", SOMA_EXP_AT_LEAST, 0.35},
    {"beta of the same refit", "Besiroglu, Erdil, Barnett & You 2024, Chinchilla scaling: a replication attempt",
     "https://arxiv.org/abs/2404.10102", "beta", SOMA_EXP_AT_LEAST, 0.37},
    {NULL, NULL, NULL, NULL, 0, 0},
};

typedef struct sf_setup_ {
    int widths[SF_MAX], n_widths, sizes[SF_MAX], n_sizes, depth, val, seeds, batch, epochs, min_steps, evals, boot;
    float lr;
    uint64_t seed;
} sf_setup_;

typedef struct sf_cell_ {
    int wi, si, k;
    soma_status st;
    char msg[256];
    xp_cell_out out;
} sf_cell_;

static soma_status sf_setup_read_(const soma_exp_ctx *c, sf_setup_ *s) {
    const soma_args *a = &c->args;
    memset(s, 0, sizeof *s);
    s->seed = c->seed;
    SOMA_TRY(xp_parse_ints("widths", soma_args_str(a, "widths"), 1, 100000, s->widths, SF_MAX, &s->n_widths));
    SOMA_TRY(xp_parse_ints("sizes", soma_args_str(a, "sizes"), 10, 60000, s->sizes, SF_MAX, &s->n_sizes));
    SOMA_TRY(soma_args_int(a, "depth", &s->depth));
    SOMA_TRY(soma_args_int(a, "val", &s->val));
    SOMA_TRY(soma_args_int(a, "seeds", &s->seeds));
    SOMA_TRY(soma_args_int(a, "batch", &s->batch));
    SOMA_TRY(soma_args_int(a, "epochs", &s->epochs));
    SOMA_TRY(soma_args_int(a, "min-steps", &s->min_steps));
    SOMA_TRY(soma_args_int(a, "evals", &s->evals));
    SOMA_TRY(soma_args_int(a, "bootstrap", &s->boot));
    SOMA_TRY(soma_args_float(a, "lr", &s->lr));
    if (s->sizes[s->n_sizes - 1] > 60000 - s->val)
        return soma_error(SOMA_ERR_ARG, "scaling-fmnist: --sizes ends at %d, but only %d training images remain "
                          "beside --val %d", s->sizes[s->n_sizes - 1], 60000 - s->val, s->val);
    if (s->n_widths < 4 || s->n_sizes < 4)
        return soma_error(SOMA_ERR_ARG, "scaling-fmnist: the fits need at least 4 --widths and 4 --sizes (got %d and %d)",
                          s->n_widths, s->n_sizes);
    return SOMA_OK;
}

static soma_status sf_check_(const soma_exp_ctx *c) {
    sf_setup_ s;
    return sf_setup_read_(c, &s);
}

/* "fcW,relu,...,fc10" with `depth` hidden layers. */
static void sf_spec_(char *buf, size_t cap, int width, int depth) {
    size_t off = 0;
    buf[0] = '\0';
    for (int l = 0; l < depth && off < cap; l++) off += (size_t)snprintf(buf + off, cap - off, "fc%d,relu,", width);
    if (off < cap) snprintf(buf + off, cap - off, "fc10");
}

static void sf_cell_run_(sf_cell_ *cl, const sf_setup_ *s, const soma_dataset *pool, const soma_dataset *val,
                         const soma_dataset *test) {
    char spec[256];
    sf_spec_(spec, sizeof spec, s->widths[cl->wi], s->depth);
    soma_dataset *train = NULL;
    /* the subset depends on (seed, size, k): every width sees the same examples */
    soma_status st = xp_random_subset(pool, s->sizes[cl->si], s->seed, 0x5ca1e00u + (uint64_t)cl->k * 64u + (uint64_t)cl->si,
                                      &train);
    xp_cell_cfg cfg = {
        .spec = spec,
        .in = pool->shape,
        .batch = s->batch,
        .lr = s->lr,
        .min_epochs = s->epochs,
        .min_steps = s->min_steps,
        .evals = s->evals,
        .seed = s->seed * 1000003u + (uint64_t)cl->k * 7919u + (uint64_t)cl->wi * 131u + (uint64_t)cl->si,
    };
    if (st == SOMA_OK) st = xp_train_cell(&cfg, train, val, test, &cl->out, NULL);
    cl->st = st;
    if (st != SOMA_OK) snprintf(cl->msg, sizeof cl->msg, "%s", soma_errmsg());
    soma_dataset_free(train);
}

/* The settings a cell's result depends on besides (width, depth, size, seed): a resumed run
 * takes a cell from an earlier run only when these match. */
static void sf_budget_(char *buf, size_t cap, const sf_setup_ *s, int n_test) {
    snprintf(buf, cap, "lr=%.9g,batch=%d,epochs=%d,min_steps=%d,evals=%d,val=%d,n_test=%d,seed=%llu", (double)s->lr,
             s->batch, s->epochs, s->min_steps, s->evals, s->val, n_test, (unsigned long long)s->seed);
}

static void sf_cell_line_(FILE *fp, const sf_cell_ *cl, const sf_setup_ *s, const char *budget) {
    fprintf(fp,
            "{\"n_params\": %ld, \"n_data\": %d, \"loss\": %.9g, \"test_accuracy\": %.9g, \"val_loss\": %.9g, "
            "\"width\": %d, \"depth\": %d, \"seed\": %d, \"best_epoch\": %d, \"epochs\": %d, \"steps\": %ld, "
            "\"train_seconds\": %.3f, \"budget\": \"%s\"}\n",
            cl->out.params, s->sizes[cl->si], (double)cl->out.test_loss, (double)cl->out.test_acc,
            (double)cl->out.val_loss, s->widths[cl->wi], s->depth, cl->k, cl->out.best_epoch, cl->out.epochs,
            cl->out.steps, cl->out.train_seconds, budget);
}

static double sf_num_(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* Marks done[j] for every cell found in path (lines of sf_cell_line_ with the same budget). */
static soma_status sf_resume_(const char *path, sf_cell_ *cells, int n_cells, unsigned char *done, const sf_setup_ *s,
                              const char *budget, int *n_found) {
    *n_found = 0;
    FILE *fp = fopen(path, "r");
    if (!fp) return soma_error(SOMA_ERR_IO, "scaling-fmnist: --resume %s: cannot open it", path);
    char line[4096];
    int ln = 0;
    soma_status st = SOMA_OK;
    while (st == SOMA_OK && fgets(line, sizeof line, fp)) {
        ln++;
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ')) line[--len] = '\0';
        if (!len) continue;
        cJSON *o = NULL;
        char label[64];
        snprintf(label, sizeof label, "line %d", ln);
        if ((st = soma_json_parse(line, len, label, &o)) != SOMA_OK) {
            st = soma_error_wrap(st, "scaling-fmnist: --resume %s", path);
            break;
        }
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "budget");
        const double w = sf_num_(o, "width"), d = sf_num_(o, "depth"), nd = sf_num_(o, "n_data"), k = sf_num_(o, "seed");
        static const char *const need[] = {"test_accuracy", "loss", "val_loss", "best_epoch", "epochs", "steps",
                                           "n_params", "train_seconds"};
        int complete = 1;
        for (size_t i = 0; i < sizeof need / sizeof *need; i++) complete &= isfinite(sf_num_(o, need[i])) != 0;
        if (complete && cJSON_IsString(b) && strcmp(b->valuestring, budget) == 0 && d == s->depth)
            for (int j = 0; j < n_cells; j++) {
                sf_cell_ *cl = &cells[j];
                if (done[j] || s->widths[cl->wi] != w || s->sizes[cl->si] != nd || cl->k != k) continue;
                cl->out = (xp_cell_out){
                    .test_acc = (float)sf_num_(o, "test_accuracy"),
                    .test_loss = (float)sf_num_(o, "loss"),
                    .val_loss = (float)sf_num_(o, "val_loss"),
                    .best_epoch = (int)sf_num_(o, "best_epoch"),
                    .epochs = (int)sf_num_(o, "epochs"),
                    .steps = (long)sf_num_(o, "steps"),
                    .params = (long)sf_num_(o, "n_params"),
                    .train_seconds = sf_num_(o, "train_seconds"),
                };
                done[j] = 1;
                (*n_found)++;
            }
        cJSON_Delete(o);
    }
    fclose(fp);
    return st;
}

static void sf_put_fit_(cJSON *o, const soma_scaling_fit *f) {
    if (!o) return;
    soma_json_put_num(o, "E", f->E);
    float ci[2] = {(float)f->E_ci[0], (float)f->E_ci[1]};
    soma_json_put_floats(o, "E_ci", ci, 2);
    if (f->law != SOMA_SCALING_D) {
        soma_json_put_num(o, "A", f->A);
        soma_json_put_num(o, "alpha", f->alpha);
        ci[0] = (float)f->A_ci[0], ci[1] = (float)f->A_ci[1];
        soma_json_put_floats(o, "A_ci", ci, 2);
        ci[0] = (float)f->alpha_ci[0], ci[1] = (float)f->alpha_ci[1];
        soma_json_put_floats(o, "alpha_ci", ci, 2);
    }
    if (f->law != SOMA_SCALING_N) {
        soma_json_put_num(o, "B", f->B);
        soma_json_put_num(o, "beta", f->beta);
        ci[0] = (float)f->B_ci[0], ci[1] = (float)f->B_ci[1];
        soma_json_put_floats(o, "B_ci", ci, 2);
        ci[0] = (float)f->beta_ci[0], ci[1] = (float)f->beta_ci[1];
        soma_json_put_floats(o, "beta_ci", ci, 2);
    }
    if (f->law == SOMA_SCALING_ND) {
        soma_json_put_num(o, "opt_a", f->opt_a);
        soma_json_put_num(o, "opt_b", f->opt_b);
        ci[0] = (float)f->opt_a_ci[0], ci[1] = (float)f->opt_a_ci[1];
        soma_json_put_floats(o, "opt_a_ci", ci, 2);
        ci[0] = (float)f->opt_b_ci[0], ci[1] = (float)f->opt_b_ci[1];
        soma_json_put_floats(o, "opt_b_ci", ci, 2);
    }
    cJSON_AddNumberToObject(o, "n_points", f->n_points);
    cJSON_AddBoolToObject(o, "converged", f->converged);
    cJSON_AddNumberToObject(o, "bootstrap", f->n_boot);
    cJSON_AddNumberToObject(o, "bootstrap_unconverged", f->boot_unconverged);
}

/* Loss against N (one series a data size) and against D (one a width): measured (markers) and
 * the joint fit (dashed), log-log. */
static soma_status sf_figure_(const soma_exp_ctx *c, const sf_setup_ *s, const float *loss, const double *np,
                              const soma_scaling_fit *nd) {
    soma_fig *f = NULL;
    SOMA_TRY(soma_fig_new(&f, 1, 2, 1100, 420));
    soma_status st = SOMA_OK;
    char title[256], label[64], path[1100];
    snprintf(title, sizeof title, "scaling-fmnist: test loss of MLPs; dashed: L = %.3f + %.3g/N^%.3f + %.3g/D^%.3f",
             nd->E, nd->A, nd->alpha, nd->B, nd->beta);
    soma_fig_title(f, title);
    soma_fig_labels(f, 0, "Loss against parameters (one line a training-set size)", "log10 N (parameters)",
                    "test cross-entropy");
    soma_fig_labels(f, 1, "Loss against data (one line a width)", "log10 D (training examples)", "test cross-entropy");
    soma_fig_logy(f, 0, 1);
    soma_fig_logy(f, 1, 1);
    float x[SF_MAX], y[SF_MAX], yf[SF_MAX];
    for (int si = 0; si < s->n_sizes && st == SOMA_OK; si++) {
        for (int wi = 0; wi < s->n_widths; wi++) {
            x[wi] = (float)log10(np[wi]);
            y[wi] = loss[wi * s->n_sizes + si];
            yf[wi] = (float)soma_scaling_predict(nd, np[wi], s->sizes[si]);
        }
        snprintf(label, sizeof label, "D = %d", s->sizes[si]);
        soma_line_style meas = {1 + si % 8, 0, 1, 0.f}, fit = {1 + si % 8, 1, 0, 1.2f};
        st = soma_fig_line(f, 0, x, y, s->n_widths, label, &meas);
        if (st == SOMA_OK) st = soma_fig_line(f, 0, x, yf, s->n_widths, NULL, &fit);
    }
    for (int wi = 0; wi < s->n_widths && st == SOMA_OK; wi++) {
        for (int si = 0; si < s->n_sizes; si++) {
            x[si] = (float)log10((double)s->sizes[si]);
            y[si] = loss[wi * s->n_sizes + si];
            yf[si] = (float)soma_scaling_predict(nd, np[wi], s->sizes[si]);
        }
        snprintf(label, sizeof label, "N = %.0f", np[wi]);
        soma_line_style meas = {1 + wi % 8, 0, 1, 0.f}, fit = {1 + wi % 8, 1, 0, 1.2f};
        st = soma_fig_line(f, 1, x, y, s->n_sizes, label, &meas);
        if (st == SOMA_OK) st = soma_fig_line(f, 1, x, yf, s->n_sizes, NULL, &fit);
    }
    if (st == SOMA_OK) st = soma_fig_save(f, soma_exp_path(c, "scaling.svg", path, sizeof path));
    soma_fig_free(f);
    return st;
}

static soma_status sf_run_(soma_exp_ctx *c) {
    sf_setup_ s;
    SOMA_TRY(sf_setup_read_(c, &s));
    int n_test = 0;
    SOMA_TRY(soma_args_int(&c->args, "n-test", &n_test));
    const char *dir = soma_args_str(&c->args, "fmnist-dir");
    soma_dataset *full = NULL, *pool = NULL, *val = NULL, *test = NULL;
    sf_cell_ *cells = NULL;
    soma_scaling_point *pts = NULL;
    float *loss = NULL;
    double np[SF_MAX];
    FILE *fp = NULL;
    unsigned char *done = NULL;
    soma_status st = soma_dataset_load("fmnist", 1, dir, &full);
    if (st != SOMA_OK) goto out;
    if (full->n != 60000) {
        st = soma_error(SOMA_ERR_ARG, "scaling-fmnist: expected 60,000 training images, found %d", full->n);
        goto out;
    }
    {
        int *idx = soma_alloc((size_t)s.val, sizeof *idx);
        if (!idx) {
            st = soma_error(SOMA_ERR_NOMEM, "scaling-fmnist: out of memory");
            goto out;
        }
        for (int i = 0; i < s.val; i++) idx[i] = full->n - s.val + i;
        st = xp_gather(full, idx, s.val, &val);
        soma_free(idx);
        if (st == SOMA_OK) st = soma_dataset_subset(full, full->n - s.val, &pool);
        if (st != SOMA_OK) goto out;
    }
    {
        soma_dataset *t = NULL;
        if ((st = soma_dataset_load("fmnist", 0, dir, &t)) != SOMA_OK) goto out;
        if (n_test > 0 && n_test < t->n) {
            st = soma_dataset_subset(t, n_test, &test);
            soma_dataset_free(t);
            if (st != SOMA_OK) goto out;
        } else {
            test = t;
        }
    }

    // --- the grid, widest and largest first
    const int n_cells = s.n_widths * s.n_sizes * s.seeds;
    cells = soma_calloc((size_t)n_cells, sizeof *cells);
    pts = soma_calloc((size_t)n_cells, sizeof *pts);
    loss = soma_calloc((size_t)s.n_widths * s.n_sizes, sizeof *loss);
    if (!cells || !pts || !loss) {
        st = soma_error(SOMA_ERR_NOMEM, "scaling-fmnist: out of memory");
        goto out;
    }
    int q = 0;
    for (int wi = s.n_widths - 1; wi >= 0; wi--)
        for (int si = s.n_sizes - 1; si >= 0; si--)
            for (int k = 0; k < s.seeds; k++) cells[q++] = (sf_cell_){.wi = wi, .si = si, .k = k};
    char budget[256], path[1100];
    sf_budget_(budget, sizeof budget, &s, n_test);
    done = soma_calloc((size_t)n_cells, 1);
    if (!done) {
        st = soma_error(SOMA_ERR_NOMEM, "scaling-fmnist: out of memory");
        goto out;
    }
    int resumed = 0;
    const char *resume = soma_args_str(&c->args, "resume");
    if (resume && (st = sf_resume_(resume, cells, n_cells, done, &s, budget, &resumed)) != SOMA_OK) goto out;
    /* each cell as it finishes, so that a killed run can be resumed from it */
    if (c->out_dir[0] && !(fp = fopen(soma_exp_path(c, "cells.partial.jsonl", path, sizeof path), "w"))) {
        st = soma_error(SOMA_ERR_IO, "scaling-fmnist: cannot write %s", path);
        goto out;
    }
    const double t0 = soma_now();
    const int T = c->threads > 0 ? c->threads : 1;
    (void)T;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(T)
#endif
    for (int j = 0; j < n_cells; j++) {
        if (done[j]) continue;
        sf_cell_run_(&cells[j], &s, pool, val, test);
#ifdef _OPENMP
#pragma omp critical(sf_partial)
#endif
        if (fp && cells[j].st == SOMA_OK) {
            sf_cell_line_(fp, &cells[j], &s, budget);
            fflush(fp);
        }
    }
    const double wall = soma_now() - t0;
    if (fp) fclose(fp);
    fp = NULL;
    for (int j = 0; j < n_cells; j++)
        if (cells[j].st != SOMA_OK) {
            st = soma_error(cells[j].st, "scaling-fmnist: width %d, %d examples, seed %d: %s", s.widths[cells[j].wi],
                            s.sizes[cells[j].si], cells[j].k, cells[j].msg);
            goto out;
        }

    // --- cells.jsonl (grid order: width, then size, then seed) and the per-cell means
    if (c->out_dir[0] && !(fp = fopen(soma_exp_path(c, "cells.jsonl", path, sizeof path), "w"))) {
        st = soma_error(SOMA_ERR_IO, "scaling-fmnist: cannot write %s", path);
        goto out;
    }
    double train_s = 0;
    int n_pts = 0;
    for (int wi = 0; wi < s.n_widths; wi++)
        for (int si = 0; si < s.n_sizes; si++) {
            double sum = 0;
            for (int j = 0; j < n_cells; j++) {
                const sf_cell_ *cl = &cells[j];
                if (cl->wi != wi || cl->si != si) continue;
                np[wi] = (double)cl->out.params;
                sum += cl->out.test_loss;
                train_s += cl->out.train_seconds;
                pts[n_pts++] = (soma_scaling_point){(double)cl->out.params, (double)s.sizes[si], cl->out.test_loss};
                if (fp) sf_cell_line_(fp, cl, &s, budget);
            }
            loss[wi * s.n_sizes + si] = (float)(sum / s.seeds);
        }
    if (fp && fclose(fp) != 0) {
        fp = NULL;
        st = soma_error(SOMA_ERR_IO, "scaling-fmnist: cannot write %s", path);
        goto out;
    }
    fp = NULL;

    // --- fits: L(N) at the largest D, L(D) at the largest N, and the joint law on every cell
    /* bootstrap refits start from the 32 best grid points on each resample plus the full-data
     * optimum (soma_scaling_opts.refit_top): the whole 4,500-point grid a refit is too slow here */
    soma_scaling_opts so = {.bootstrap = s.boot, .seed = c->seed, .refit_top = 32};
    soma_scaling_fit fn, fd, fnd;
    soma_scaling_point *sub = soma_calloc((size_t)n_cells, sizeof *sub);
    if (!sub) {
        st = soma_error(SOMA_ERR_NOMEM, "scaling-fmnist: out of memory");
        goto out;
    }
    int m = 0;
    for (int i = 0; i < n_pts; i++)
        if (pts[i].n_data == s.sizes[s.n_sizes - 1]) sub[m++] = pts[i];
    st = soma_scaling_fit_points(sub, m, SOMA_SCALING_N, &so, &fn);
    m = 0;
    for (int i = 0; st == SOMA_OK && i < n_pts; i++)
        if (pts[i].n_params == np[s.n_widths - 1]) sub[m++] = pts[i];
    if (st == SOMA_OK) st = soma_scaling_fit_points(sub, m, SOMA_SCALING_D, &so, &fd);
    soma_free(sub);
    if (st == SOMA_OK) st = soma_scaling_fit_points(pts, n_pts, SOMA_SCALING_ND, &so, &fnd);
    if (st != SOMA_OK) {
        st = soma_error_wrap(st, "scaling-fmnist: fit");
        goto out;
    }
    soma_exp_put(c, "alpha", fnd.alpha);
    soma_exp_put(c, "beta", fnd.beta);
    soma_exp_put(c, "E", fnd.E);
    soma_exp_put(c, "A", fnd.A);
    soma_exp_put(c, "B", fnd.B);
    soma_exp_put(c, "opt_a", fnd.opt_a);
    soma_exp_put(c, "opt_b", fnd.opt_b);
    const float a_ci[2] = {(float)fnd.alpha_ci[0], (float)fnd.alpha_ci[1]};
    const float b_ci[2] = {(float)fnd.beta_ci[0], (float)fnd.beta_ci[1]};
    const float e_ci[2] = {(float)fnd.E_ci[0], (float)fnd.E_ci[1]};
    soma_exp_put_array(c, "alpha_ci", a_ci, 2);
    soma_exp_put_array(c, "beta_ci", b_ci, 2);
    soma_exp_put_array(c, "E_ci", e_ci, 2);
    soma_exp_put(c, "alpha_n", fn.alpha);
    soma_exp_put(c, "beta_d", fd.beta);
    sf_put_fit_(cJSON_AddObjectToObject(c->ours, "fit_n"), &fn);
    sf_put_fit_(cJSON_AddObjectToObject(c->ours, "fit_d"), &fd);
    sf_put_fit_(cJSON_AddObjectToObject(c->ours, "fit_nd"), &fnd);
    {
        float v[SF_MAX];
        for (int wi = 0; wi < s.n_widths; wi++) v[wi] = (float)np[wi];
        soma_exp_put_array(c, "n_params", v, s.n_widths);
        for (int si = 0; si < s.n_sizes; si++) v[si] = (float)s.sizes[si];
        soma_exp_put_array(c, "n_data", v, s.n_sizes);
        soma_exp_put_array(c, "loss_grid", loss, s.n_widths * s.n_sizes); /* [width][size], mean over seeds */
    }
    soma_exp_put(c, "cells", n_cells);
    soma_exp_put(c, "cells_resumed", resumed);
    soma_exp_put(c, "train_seconds_sum", train_s);
    soma_exp_put(c, "grid_wall_seconds", wall);
    if (c->out_dir[0] && (st = sf_figure_(c, &s, loss, np, &fnd)) != SOMA_OK) goto out;
    snprintf(c->headline, sizeof c->headline,
             "joint fit: E %.3f, alpha %.3f [%.3f, %.3f], beta %.3f [%.3f, %.3f]; L(N): alpha %.3f; L(D): beta %.3f",
             fnd.E, fnd.alpha, fnd.alpha_ci[0], fnd.alpha_ci[1], fnd.beta, fnd.beta_ci[0], fnd.beta_ci[1], fn.alpha,
             fd.beta);
out:
    if (fp) fclose(fp);
    soma_free(cells);
    soma_free(done);
    soma_free(pts);
    soma_free(loss);
    soma_dataset_free(test);
    soma_dataset_free(val);
    soma_dataset_free(pool);
    soma_dataset_free(full);
    return st;
}

const soma_experiment soma__exp_scaling_fmnist = {
    .name = "scaling-fmnist",
    .summary = "Scaling laws of MLPs on Fashion-MNIST: test loss over ~10^3..10^6 parameters x 1k..55k examples, "
               "fits of L(N), L(D) and L(N,D) with bootstrap 95% intervals.",
    .landmarks = sf_landmarks_,
    .opts = sf_opts_,
    .reduced_args = sf_reduced_,
    .run = sf_run_,
    .check = sf_check_,
};
