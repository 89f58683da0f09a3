// What rsa-layers and rsa-recovery share: the trained LeNet, the stimuli, every layer's activations.
#include "exp/rsa_common.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/internal.h"
#include "soma/io.h"
#include "soma/learn.h"

const char *soma__rsa_lenet_spec(void) {
    const soma_experiment *e = soma_exp_find("lenet-fmnist");
    for (const soma_opt *o = e ? e->opts : NULL; o && o->key; o++)
        if (strcmp(o->key, "net") == 0) return o->def;
    return "conv5x5x6p2,relu,maxpool2,conv5x5x16,relu,maxpool2,fc120,relu,fc84,relu,fc10"; /* not reached */
}

const char *soma__rsa_spec(const soma_args *a) {
    const char *s = soma_args_str(a, "net");
    return s ? s : soma__rsa_lenet_spec();
}

soma_status soma__rsa_spec_layers(const char *spec, int *n_layers) {
    soma_net *net = NULL;
    SOMA_TRY(soma_net_new(&net, spec, soma_shape3(1, 28, 28), 1));
    *n_layers = soma_net_n_layers(net);
    soma_net_free(net);
    return SOMA_OK;
}

soma_status soma__rsa_stimuli(const char *fmnist_dir, int per_class, int *n, int **label, int **index,
                              float **pixels, soma_shape *shape) {
    soma_dataset *d = NULL;
    SOMA_TRY(soma_dataset_load("fmnist", 0, fmnist_dir, &d));
    const int k = d->n_classes, total = k * per_class;
    int *lab = soma_alloc((size_t)total, sizeof(int)), *idx = soma_alloc((size_t)total, sizeof(int));
    int *taken = soma_calloc((size_t)k, sizeof(int));
    float *x = soma_alloc((size_t)total, d->dim * sizeof(float));
    soma_status st = SOMA_OK;
    if (!lab || !idx || !taken || !x) {
        st = soma_error(SOMA_ERR_NOMEM, "rsa: out of memory for %d stimuli", total);
        goto out;
    }
    /* the first per_class test images of each class, in test-set order, grouped by class */
    for (int i = 0; i < d->n; i++) {
        int y = d->y[(size_t)i * d->y_len];
        if (y < 0 || y >= k || taken[y] == per_class) continue;
        idx[y * per_class + taken[y]] = i;
        lab[y * per_class + taken[y]] = y;
        taken[y]++;
    }
    for (int y = 0; y < k; y++)
        if (taken[y] < per_class) {
            st = soma_error(SOMA_ERR_ARG, "rsa: the test split has %d images of class %d, %d wanted (--per-class)",
                            taken[y], y, per_class);
            goto out;
        }
    soma_dataset_batch(d, idx, total, x, NULL);
    *n = total;
    *label = lab;
    *index = idx;
    *pixels = x;
    *shape = d->shape;
    lab = idx = NULL;
    x = NULL;
out:
    soma_free(lab);
    soma_free(idx);
    soma_free(taken);
    soma_free(x);
    soma_dataset_free(d);
    return st;
}

soma_status soma__rsa_layer_acts(soma_net *net, const float *x, int n, double **act) {
    const int nl = soma_net_n_layers(net);
    for (int l = 0; l < nl; l++) act[l] = NULL;
    /* the path of `soma predict --layer` (soma_classify_predict): an eval-mode forward, then
     * the input of layer l + 1 */
    SOMA_TRY(soma_net_forward(net, x, n, SOMA_MODE_EVAL, NULL));
    for (int l = 0; l < nl; l++) {
        size_t per = soma_shape_size(soma_net_layer(net, l)->out);
        const float *a = soma_net_activation(net, l + 1);
        act[l] = soma_alloc((size_t)n * per, sizeof(double));
        if (!act[l]) {
            for (int j = 0; j <= l; j++) {
                soma_free(act[j]);
                act[j] = NULL;
            }
            return soma_error(SOMA_ERR_NOMEM, "rsa: out of memory for %d x %zu activations", n, per);
        }
        for (size_t i = 0; i < (size_t)n * per; i++) act[l][i] = a[i];
    }
    return SOMA_OK;
}

void soma__rsa_model_free(soma__rsa_model *m) {
    if (!m) return;
    for (int r = 0; m->act && r < m->n_reps; r++) soma_free(m->act[r]);
    soma_free(m->act);
    soma_free(m->dim);
    soma_free(m->name);
    soma_free(m->label);
    soma_free(m->index);
    soma_free(m->pixels);
    soma_net_free(m->net);
    memset(m, 0, sizeof *m);
}

/* Trains with lenet-fmnist's own option table (spec, optimizer, schedule, weight decay), only
 * fewer images and epochs; the parameters go to dir as NPY. */
static soma_status train_lenet_(soma_exp_ctx *c, const char *dir, cJSON *ours) {
    const soma_experiment *lenet = soma_exp_find("lenet-fmnist");
    if (!lenet) return soma_error(SOMA_ERR_INTERNAL, "rsa: experiment lenet-fmnist is not registered");
    int n_train, epochs, n_test;
    SOMA_TRY(soma_args_int(&c->args, "n-train", &n_train));
    SOMA_TRY(soma_args_int(&c->args, "epochs", &epochs));
    SOMA_TRY(soma_args_int(&c->args, "n-test", &n_test));
    char a_n[32], a_e[32], a_t[32];
    snprintf(a_n, sizeof a_n, "%d", n_train);
    snprintf(a_e, sizeof a_e, "%d", epochs);
    snprintf(a_t, sizeof a_t, "%d", n_test);
    const char *fdir = soma_args_str(&c->args, "fmnist-dir");
    const char *argv[] = {"--n-train", a_n, "--epochs", a_e, "--n-test", a_t, "--net", soma__rsa_spec(&c->args),
                          "--fmnist-dir", fdir};
    soma_args a;
    SOMA_TRY(soma_args_parse(&a, "rsa (lenet-fmnist's options)", lenet->opts, fdir ? 10 : 8, argv));
    soma_classify_config cfg = soma_classify_defaults();
    soma_status st = soma_classify_from_args(&a, &cfg);
    if (st == SOMA_OK) {
        cfg.seed = c->seed;
        cfg.quiet = c->quiet;
        cfg.eval = 0; /* measured once, at the end */
        cfg.val_split = 0.0;
        cfg.out_dir = c->out_dir; /* learning curves and first-layer filters */
        cfg.label = c->exp->name;
        cfg.save_npy = dir;
        st = soma_classify_run(&cfg, ours);
    }
    soma_args_free(&a);
    return st;
}

/* The test accuracy of a loaded LeNet on the first --n-test test images. */
static soma_status eval_lenet_(soma_net *net, const char *fdir, const soma_args *a, cJSON *lo) {
    int n_test;
    SOMA_TRY(soma_args_int(a, "n-test", &n_test));
    soma_dataset *d = NULL, *s = NULL;
    SOMA_TRY(soma_dataset_load("fmnist", 0, fdir, &d));
    soma_status st = soma_dataset_subset(d, n_test < d->n ? n_test : d->n, &s);
    float acc = NAN, loss = NAN;
    if (st == SOMA_OK) st = soma_evaluate(net, s, 1000, &acc, &loss);
    if (st == SOMA_OK) {
        soma_json_put_num(lo, "test_accuracy", acc);
        soma_json_put_num(lo, "test_loss", loss);
        cJSON_AddNumberToObject(lo, "n_test", s->n);
    }
    soma_dataset_free(s);
    soma_dataset_free(d);
    return st;
}

soma_status soma__rsa_model_build(soma_exp_ctx *c, soma__rsa_model *m) {
    memset(m, 0, sizeof *m);
    int per_class;
    SOMA_TRY(soma_args_int(&c->args, "per-class", &per_class));
    char dir[1100];
    const char *init = soma_args_str(&c->args, "init-npy");
    if (init) snprintf(dir, sizeof dir, "%s", init);
    else soma_exp_path(c, "lenet", dir, sizeof dir);
    cJSON *lo = cJSON_CreateObject();
    if (!lo || !cJSON_AddItemToObject(c->ours, "lenet", lo)) {
        cJSON_Delete(lo);
        return soma_error(SOMA_ERR_NOMEM, "rsa: out of memory");
    }
    soma_status st = init ? SOMA_OK : train_lenet_(c, dir, lo);
    cJSON_AddStringToObject(lo, "parameters_npy", dir);
    cJSON_AddBoolToObject(lo, "trained_here", !init);
    soma_shape shape;
    const char *fdir = soma_args_str(&c->args, "fmnist-dir");
    if (st == SOMA_OK) st = soma__rsa_stimuli(fdir, per_class, &m->n, &m->label, &m->index, &m->pixels, &shape);
    if (st == SOMA_OK) st = soma_net_new(&m->net, soma__rsa_spec(&c->args), shape, c->seed);
    if (st == SOMA_OK) st = soma_net_load_npy(m->net, dir);
    if (st == SOMA_OK && init) st = eval_lenet_(m->net, fdir, &c->args, lo);
    if (st != SOMA_OK) goto fail;
    m->n_classes = 10;
    const int nl = soma_net_n_layers(m->net);
    m->n_reps = nl + 1;
    m->name = soma_calloc((size_t)m->n_reps, sizeof *m->name);
    m->dim = soma_calloc((size_t)m->n_reps, sizeof(int));
    m->act = soma_calloc((size_t)m->n_reps, sizeof(double *));
    if (!m->name || !m->dim || !m->act) {
        st = soma_error(SOMA_ERR_NOMEM, "rsa: out of memory");
        goto fail;
    }
    const int in = (int)soma_shape_size(shape);
    snprintf(m->name[0], SOMA__RSA_NAME, "pixels");
    m->dim[0] = in;
    m->act[0] = soma_alloc((size_t)m->n * in, sizeof(double));
    if (!m->act[0]) {
        st = soma_error(SOMA_ERR_NOMEM, "rsa: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < (size_t)m->n * in; i++) m->act[0][i] = m->pixels[i];
    /* on one thread: the threaded BLAS rounds differently from its serial kernels (measured:
     * the dense layers' activations differ in the last bits on 1 and 2 threads) */
    const int threads = soma_get_threads();
    soma_set_threads(1);
    st = soma__rsa_layer_acts(m->net, m->pixels, m->n, m->act + 1);
    soma_set_threads(threads);
    if (st != SOMA_OK) goto fail;
    for (int l = 0; l < nl; l++) {
        const soma_layer *ly = soma_net_layer(m->net, l);
        snprintf(m->name[l + 1], SOMA__RSA_NAME, "%d %.32s", l % 1000, ly->spec);
        m->dim[l + 1] = (int)soma_shape_size(ly->out);
    }
    return SOMA_OK;
fail:
    soma__rsa_model_free(m);
    return st;
}

void soma__rsa_put_matrix(cJSON *o, const char *key, const double *m, int rows, int cols) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < rows; i++) {
        cJSON *row = cJSON_CreateArray();
        if (!row || !cJSON_AddItemToArray(a, row)) {
            cJSON_Delete(row);
            break;
        }
        for (int j = 0; j < cols; j++) {
            double v = m[(size_t)i * cols + j];
            cJSON *x = isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
            if (!x || !cJSON_AddItemToArray(row, x)) {
                cJSON_Delete(x);
                break;
            }
        }
    }
    cJSON_DeleteItemFromObjectCaseSensitive(o, key);
    if (a && !cJSON_AddItemToObject(o, key, a)) cJSON_Delete(a);
}

void soma__rsa_put_array(cJSON *o, const char *key, const double *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) {
        cJSON *x = isfinite(v[i]) ? cJSON_CreateNumber(v[i]) : cJSON_CreateNull();
        if (!x || !cJSON_AddItemToArray(a, x)) {
            cJSON_Delete(x);
            break;
        }
    }
    cJSON_DeleteItemFromObjectCaseSensitive(o, key);
    if (a && !cJSON_AddItemToObject(o, key, a)) cJSON_Delete(a);
}
