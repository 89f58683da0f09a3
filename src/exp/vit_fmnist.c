// vit-fmnist: a small vision transformer (patch embedding, class token, learned positions,
// pre-norm blocks) trained by backprop with AdamW, linear warm-up and cosine decay on
// Fashion-MNIST; learning curves and the class token's attention over the patches.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp/internal.h"
#include "soma/io.h"
#include "soma/learn.h"
#include "soma/nn.h"
#include "soma/plot.h"

#define VIT_NET "patch4x4d64,cls,pos,block4h64,block4h64,block4h64,clsout,layernorm,fc10"

/* A run of a few seconds for tests: 2 epochs on 2000 training samples, a smaller model
 * (7x7 patches, width 32, one block). */
static const char *const vit_reduced_[] = {"--n-train", "2000", "--n-test", "500", "--epochs", "2",
                                           "--net", "patch7x7d32,cls,pos,block2h32,clsout,layernorm,fc10",
                                           "--batch", "32", "--lr", "0.005", "--warmup", "0.2", NULL};

static const soma_opt vit_opts_[] = {
    {"fmnist-dir", SOMA_OPT_STR, NULL, 0, 0, NULL, "Fashion-MNIST folder (default $SOMA_FMNIST_DIR, else Debian's)", 0},
    {"net", SOMA_OPT_STR, VIT_NET, 0, 0, NULL, "network spec (a ViT: patch..., cls, pos, blocks, clsout, head)", 1},
    {"epochs", SOMA_OPT_INT, "15", 1, 100000, NULL, "passes over the training set", 1},
    {"batch", SOMA_OPT_INT, "128", 1, 65536, NULL, "mini-batch size", 0},
    {"lr", SOMA_OPT_FLOAT, "0.002", 1e-9, 10, NULL, "peak learning rate (after the warm-up)", 0},
    {"lr-min", SOMA_OPT_FLOAT, "0", 0, 10, NULL, "final learning rate of the cosine decay", 0},
    {"warmup", SOMA_OPT_FLOAT, "1", 0, 1000, NULL, "linear warm-up from 0, in epochs (fractions allowed)", 0},
    {"weight-decay", SOMA_OPT_FLOAT, "0.05", 0, 10, NULL, "AdamW weight decay", 0},
    {"n-train", SOMA_OPT_INT, "0", 0, 1 << 30, NULL, "use only the first N training samples (0: all)", 1},
    {"n-test", SOMA_OPT_INT, "0", 0, 1 << 30, NULL, "use only the first N test samples (0: all)", 1},
    {"maps", SOMA_OPT_INT, "8", 0, 64, NULL, "test images whose class-token attention is drawn", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const soma_exp_landmark vit_landmarks_[] = {
    {"test accuracy a small ViT must reach on Fashion-MNIST (the acceptance bar of soma issue 11)",
     "soma issue 11: attention and associative memory", "https://github.com/zalandoresearch/fashion-mnist#benchmark",
     "test_accuracy", SOMA_EXP_AT_LEAST, 0.88},
    {NULL, NULL, NULL, NULL, 0, 0},
};

static soma_status vit_load_(const char *dir, int train, int limit, soma_dataset **out) {
    soma_dataset *d;
    SOMA_TRY(soma_dataset_load("fmnist", train, dir, &d));
    if (limit > 0 && limit < d->n) {
        soma_dataset *s;
        soma_status st = soma_dataset_subset(d, limit, &s);
        soma_dataset_free(d);
        SOMA_TRY(st);
        d = s;
    }
    *out = d;
    return SOMA_OK;
}

/* The last self-attention layer of the net, depth first through composites (a block is
 * seq(res(layernorm, mhaH), res(...))). */
static soma_layer *vit_last_mha_(soma_layer *l) {
    soma_layer *found = soma_attn_heads(l) > 0 ? l : NULL;
    if (l->ops->n_children && l->ops->child)
        for (int i = 0, n = l->ops->n_children(l); i < n; i++) {
            soma_layer *c = vit_last_mha_(l->ops->child(l, i));
            if (c) found = c;
        }
    return found;
}

static soma_status vit_curves_(const soma_exp_ctx *c, const soma_train_log *log) {
    const int E = log->epochs;
    float *ep = soma_alloc((size_t)E, sizeof *ep), *pct = soma_alloc((size_t)2 * E, sizeof *pct);
    soma_fig *f = NULL;
    soma_status st = ep && pct ? soma_fig_new(&f, 1, 2, 900, 360) : SOMA_ERR_NOMEM;
    if (st != SOMA_OK) goto out;
    for (int e = 0; e < E; e++) {
        ep[e] = (float)(e + 1);
        pct[e] = 100.f * log->train_acc[e];
        pct[E + e] = 100.f * log->test_acc[e];
    }
    soma_fig_title(f, "vit-fmnist");
    soma_line_style dots = {0, 0, 1, 0.f};
    soma_fig_labels(f, 0, "Cross-entropy", "epoch", "loss");
    if ((st = soma_fig_line(f, 0, ep, log->train_loss, E, "train", &dots)) != SOMA_OK) goto out;
    if ((st = soma_fig_line(f, 0, ep, log->test_loss, E, "test", &dots)) != SOMA_OK) goto out;
    soma_fig_labels(f, 1, "Accuracy", "epoch", "accuracy (%)");
    if ((st = soma_fig_line(f, 1, ep, pct, E, "train", &dots)) != SOMA_OK) goto out;
    if ((st = soma_fig_line(f, 1, ep, pct + E, E, "test", &dots)) != SOMA_OK) goto out;
    if ((st = soma_fig_hline(f, 1, 100.f * (float)c->exp->landmarks[0].value, "issue bar 88%")) != SOMA_OK)
        goto out;
    char path[1100];
    st = soma_fig_save(f, soma_exp_path(c, "learning_curves.svg", path, sizeof path));
out:
    soma_free(ep);
    soma_free(pct);
    soma_fig_free(f);
    return st;
}

/* The class token's attention over the patches in the last block, averaged over heads, for the
 * first k test images: a grid with the images on top and, below each, the image blended with
 * its attention map (each patch's weight spread over its pixels, scaled to the map's maximum). */
static soma_status vit_maps_(soma_exp_ctx *c, soma_net *net, const soma_dataset *test, int k) {
    soma_shape in = soma_net_in_shape(net);
    soma_layer *first = soma_net_layer(net, 0), *mha = NULL;
    for (int i = 0; i < soma_net_n_layers(net); i++) {
        soma_layer *m = vit_last_mha_(soma_net_layer(net, i));
        if (m) mha = m;
    }
    if (k > test->n) k = test->n;
    if (k < 1 || !mha || in.rank != 3 || in.d[0] != 1 || first->out.rank != 2) return SOMA_OK;
    const int H = in.d[1], W = in.d[2], T = mha->in.d[0], P = first->out.d[0];
    const int gh = (int)lround(sqrt((double)P)), gw = gh ? P / gh : 0;
    if (gh * gw != P || T != P + 1 || H % gh || W % gw) return SOMA_OK; /* not a square patch grid + cls */
    const int heads = soma_attn_heads(mha), ph = H / gh, pw = W / gw;
    float *x = soma_alloc((size_t)k * test->dim, sizeof *x), *p = soma_alloc((size_t)T * T, sizeof *p);
    float *img = soma_alloc((size_t)2 * k * H * W, sizeof *img), *att = soma_alloc((size_t)P, sizeof *att);
    int *idx = soma_alloc((size_t)k, sizeof *idx), *pred = soma_alloc((size_t)k, sizeof *pred);
    cJSON *maps = cJSON_CreateArray();
    soma_fig *f = NULL;
    soma_status st = x && p && img && att && idx && pred && maps ? SOMA_OK : SOMA_ERR_NOMEM;
    const float *out = NULL;
    if (st != SOMA_OK) goto done;
    for (int i = 0; i < k; i++) idx[i] = i;
    soma_dataset_batch(test, idx, k, x, NULL);
    if ((st = soma_net_forward(net, x, k, SOMA_MODE_EVAL, &out)) != SOMA_OK) goto done;
    const int K = (int)soma_shape_size(soma_net_out_shape(net));
    for (int i = 0; i < k; i++) {
        int best = 0;
        for (int j = 1; j < K; j++)
            if (out[(size_t)i * K + j] > out[(size_t)i * K + best]) best = j;
        pred[i] = best;
    }
    for (int i = 0; i < k; i++) {
        memset(att, 0, (size_t)P * sizeof *att);
        for (int h = 0; h < heads; h++) {
            if ((st = soma_attn_probs(mha, i, h, p)) != SOMA_OK) goto done;
            for (int j = 0; j < P; j++) att[j] += p[1 + j] / (float)heads; /* row 0: the class token */
        }
        float mx = 0.f, cls_self = 0.f;
        for (int j = 0; j < P; j++) mx = att[j] > mx ? att[j] : mx;
        cls_self = 1.f;
        for (int j = 0; j < P; j++) cls_self -= att[j];
        const float *xi = x + (size_t)i * test->dim;
        float *top = img + (size_t)i * H * W, *bot = img + (size_t)(k + i) * H * W;
        for (int r = 0; r < H; r++)
            for (int q = 0; q < W; q++) {
                const float a = mx > 0.f ? att[(r / ph) * gw + q / pw] / mx : 0.f;
                top[(size_t)r * W + q] = xi[(size_t)r * W + q];
                bot[(size_t)r * W + q] = 0.3f * xi[(size_t)r * W + q] + 0.7f * a;
            }
        cJSON *m = cJSON_CreateObject();
        cJSON_AddNumberToObject(m, "label", test->y[i]);
        cJSON_AddNumberToObject(m, "predicted", pred[i]);
        soma_json_put_num(m, "cls_self_attention", cls_self);
        soma_json_put_floats(m, "patch_attention", att, P);
        cJSON_AddItemToArray(maps, m);
    }
    if ((st = soma_fig_new(&f, 1, 1, 110 * k + 40, 260)) != SOMA_OK) goto done;
    soma_fig_title(f, "Class-token attention, last block, mean over heads (top: test images; below: overlay)");
    if ((st = soma_fig_images(f, 0, img, 2 * k, H, W, k, 0)) != SOMA_OK) goto done;
    char path[1100];
    if ((st = soma_fig_save(f, soma_exp_path(c, "attention_maps.svg", path, sizeof path))) != SOMA_OK) goto done;
    cJSON_AddItemToObject(c->ours, "attention_maps", maps);
    maps = NULL;
done:
    cJSON_Delete(maps);
    soma_fig_free(f);
    soma_free(x), soma_free(p), soma_free(img), soma_free(att), soma_free(idx), soma_free(pred);
    return st;
}

static soma_status vit_run_(soma_exp_ctx *c) {
    const soma_args *a = &c->args;
    int epochs = 15, batch = 128, n_train = 0, n_test = 0, k = 8;
    float lr = 2e-3f, lr_min = 0.f, wd = 0.05f, warm = 1.f;
    SOMA_TRY(soma_args_int(a, "epochs", &epochs));
    SOMA_TRY(soma_args_int(a, "batch", &batch));
    SOMA_TRY(soma_args_int(a, "n-train", &n_train));
    SOMA_TRY(soma_args_int(a, "n-test", &n_test));
    SOMA_TRY(soma_args_int(a, "maps", &k));
    SOMA_TRY(soma_args_float(a, "lr", &lr));
    SOMA_TRY(soma_args_float(a, "lr-min", &lr_min));
    SOMA_TRY(soma_args_float(a, "weight-decay", &wd));
    SOMA_TRY(soma_args_float(a, "warmup", &warm));
    const char *spec = soma_args_str(a, "net"), *dir = soma_args_str(a, "fmnist-dir");

    soma_dataset *train = NULL, *test = NULL;
    soma_net *net = NULL;
    soma_rule *rule = NULL;
    soma_optim *opt = NULL;
    soma_train_log log = {0};
    soma_status st;
    if ((st = vit_load_(dir, 1, n_train, &train)) != SOMA_OK) goto out;
    if ((st = vit_load_(dir, 0, n_test, &test)) != SOMA_OK) goto out;
    if ((st = soma_net_new(&net, spec, train->shape, c->seed)) != SOMA_OK) goto out;
    if ((int)soma_shape_size(soma_net_out_shape(net)) != train->n_classes) {
        st = soma_error(SOMA_ERR_ARG, "vit-fmnist: net '%s' has %zu outputs, Fashion-MNIST has %d classes", spec,
                        soma_shape_size(soma_net_out_shape(net)), train->n_classes);
        goto out;
    }
    soma_optim_config oc = soma_optim_defaults(SOMA_OPTIM_ADAMW);
    oc.weight_decay = wd;
    if ((st = soma_optim_new(&opt, net, &oc)) != SOMA_OK) goto out;
    if ((st = soma_rule_backprop_new(&rule, SOMA_LOSS_XENT)) != SOMA_OK) goto out;
    soma_train_config tc = soma_train_defaults();
    const long spe = (train->n + batch - 1) / batch;
    tc.epochs = epochs;
    tc.batch = batch;
    tc.sched.kind = SOMA_SCHED_COSINE;
    tc.sched.lr = lr;
    tc.sched.lr_min = lr_min;
    tc.sched.total = spe * epochs;
    tc.sched.warmup = (long)lround((double)warm * (double)spe);
    if (tc.sched.warmup >= tc.sched.total) tc.sched.warmup = tc.sched.total / 2;
    tc.seed = c->seed;
    tc.eval_every = 1;
    tc.label = c->exp->name;
    tc.quiet = c->quiet;
    if ((st = soma_train(net, rule, opt, train, test, &tc, &log)) != SOMA_OK) goto out;
    const int last = log.epochs - 1;
    soma_exp_put(c, "test_accuracy", log.test_acc[last]);
    soma_exp_put(c, "test_loss", log.test_loss[last]);
    soma_exp_put(c, "train_accuracy", log.train_acc[last]);
    soma_exp_put(c, "train_loss", log.train_loss[last]);
    soma_exp_put(c, "train_seconds", log.train_seconds);
    soma_exp_put(c, "samples_per_second", log.samples_per_second);
    soma_exp_put(c, "epochs", log.epochs);
    soma_exp_put(c, "n_train", train->n);
    soma_exp_put(c, "n_test", test->n);
    size_t count = 0;
    for (int i = 0; i < soma_net_n_params(net); i++) count += soma_net_param(net, i)->n;
    soma_exp_put(c, "parameters", (double)count);
    soma_exp_put(c, "warmup_steps", (double)tc.sched.warmup);
    cJSON_AddStringToObject(c->ours, "net", spec);
    cJSON_AddStringToObject(c->ours, "optimizer", "adamw");
    soma_exp_put_array(c, "test_accuracy_curve", log.test_acc, log.epochs);
    soma_exp_put_array(c, "train_loss_curve", log.train_loss, log.epochs);
    soma_exp_put_array(c, "lr_curve", log.lr, log.epochs);
    if (c->out_dir[0] && (st = vit_curves_(c, &log)) != SOMA_OK) goto out;
    if (c->out_dir[0] && (st = vit_maps_(c, net, test, k)) != SOMA_OK) goto out;
    snprintf(c->headline, sizeof c->headline, "test accuracy %.2f%% (bar 88%%), %.0f s training, %.0f samples/s",
             100.0 * log.test_acc[last], log.train_seconds, log.samples_per_second);
out:
    soma_train_log_free(&log);
    soma_optim_free(opt);
    soma_rule_free(rule);
    soma_net_free(net);
    soma_dataset_free(train);
    soma_dataset_free(test);
    return st;
}

const soma_experiment soma__exp_vit_fmnist = {
    "vit-fmnist",
    "A small vision transformer (4x4 patches, class token, learned positions, pre-norm blocks) on "
    "Fashion-MNIST with AdamW, warm-up and cosine decay; the class token's attention maps.",
    vit_landmarks_,
    vit_opts_,
    vit_reduced_,
    vit_run_,
    NULL, /* no check beyond the typed options */
};
