// Experiments and options: the one option parser (types, ranges, choices, repeats), the
// declarations of every registered experiment (no shadowed global option, landmarks with a
// source and a link), every experiment run at reduced size with the results.json contract
// (landmarks, status "reduced" instead of a failure), bad options refused before anything is
// created on disk, the classification headlines and reproducibility (same seed + threads ->
// same numbers).
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "json_util.h"
#include "soma/soma.h"

static char out_[256];

/* Expects status want and a message containing every word in words (NULL-terminated). */
#define CHECK_MSG(call, want, ...)                                                                    \
    do {                                                                                             \
        soma_error_clear();                                                                          \
        soma_status got_ = (call);                                                                   \
        const char *words_[] = {__VA_ARGS__, NULL};                                                  \
        int ok_ = got_ == (want);                                                                    \
        for (int w_ = 0; words_[w_]; w_++) ok_ &= strstr(soma_errmsg(), words_[w_]) != NULL;         \
        if (!ok_) fprintf(stderr, "%s: got %s \"%s\"\n", #call, soma_status_str(got_), soma_errmsg()); \
        CHECK(ok_);                                                                                  \
    } while (0)

static const char *str_(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static int exists_(const char *exp, const char *file) {
    char p[600];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s/%s", out_, exp, file);
    return stat(p, &sb) == 0 && (file[0] == '\0' || sb.st_size > 0);
}

// --- the option parser -----------------------------------------------------------------

static const soma_opt opts_[] = {
    {"epochs", SOMA_OPT_INT, "10", 1, 100, NULL, "passes", 0},
    {"lr", SOMA_OPT_FLOAT, "0.001", 1e-9, 10, NULL, "learning rate", 0},
    {"optim", SOMA_OPT_ENUM, "adam", 0, 0, "sgd|adam|adamw", "optimizer", 0},
    {"name", SOMA_OPT_STR, NULL, 0, 0, NULL, "a name", 0},
    {"fast", SOMA_OPT_FLAG, NULL, 0, 0, NULL, "a flag", 0},
    {NULL, 0, NULL, 0, 0, NULL, NULL, 0},
};

#define PARSE(...) (argv_n_ = 0, parse_((const char *[]){__VA_ARGS__, NULL}))
static int argv_n_;
static soma_args args_;
static soma_status parse_(const char **argv) {
    while (argv[argv_n_]) argv_n_++;
    return soma_args_parse(&args_, "t", opts_, argv_n_, argv);
}

static void test_parser(void) {
    CHECK_OK(soma_opts_check("t", opts_));
    CHECK_OK(PARSE("--epochs", "3", "--lr=0.5", "--fast"));
    int e = 0;
    float lr = 0.f;
    CHECK_OK(soma_args_int(&args_, "epochs", &e));
    CHECK_OK(soma_args_float(&args_, "lr", &lr));
    CHECK(e == 3 && lr == 0.5f);
    CHECK(soma_args_flag(&args_, "fast") && soma_args_given(&args_, "epochs") && !soma_args_given(&args_, "optim"));
    CHECK(strcmp(soma_args_str(&args_, "optim"), "adam") == 0); /* the default */
    CHECK(strcmp(soma_args_str(&args_, "lr"), "0.5") == 0);     /* as given, not rounded */
    CHECK(soma_args_str(&args_, "name") == NULL);              /* unset, no default */
    CHECK_MSG(soma_args_int(&args_, "nope", &e), SOMA_ERR_INTERNAL, "--nope", "not declared");
    soma_args_free(&args_);

    CHECK_MSG(PARSE("--epochs", "3", "--epochs", "4"), SOMA_ERR_ARG, "--epochs", "twice");
    CHECK_MSG(PARSE("--epochs", "0"), SOMA_ERR_ARG, "--epochs", "out of range", "1..100");
    CHECK_MSG(PARSE("--epochs", "99999999999999999999"), SOMA_ERR_ARG, "--epochs", "out of range");
    CHECK_MSG(PARSE("--epochs", "3x"), SOMA_ERR_ARG, "--epochs", "not an integer");
    CHECK_MSG(PARSE("--lr", "nan"), SOMA_ERR_ARG, "--lr", "not a number");
    CHECK_MSG(PARSE("--lr", "20"), SOMA_ERR_ARG, "--lr", "out of range");
    CHECK_MSG(PARSE("--optim", "rmsprop"), SOMA_ERR_ARG, "--optim", "rmsprop", "sgd|adam|adamw");
    CHECK_MSG(PARSE("--fast=1"), SOMA_ERR_ARG, "--fast", "takes no value");
    CHECK_MSG(PARSE("--epochs"), SOMA_ERR_ARG, "--epochs", "needs a value");
    CHECK_MSG(PARSE("--bogus", "1"), SOMA_ERR_ARG, "--bogus", "unknown", "--epochs --lr --optim");
    CHECK_MSG(PARSE("positional"), SOMA_ERR_ARG, "positional", "unexpected");

    /* declarations are checked: a bad default, a duplicate key, an enum without choices */
    const soma_opt bad_def[] = {{"k", SOMA_OPT_INT, "0", 1, 5, NULL, "", 0}, {NULL, 0, NULL, 0, 0, NULL, NULL, 0}};
    CHECK_MSG(soma_opts_check("t", bad_def), SOMA_ERR_INTERNAL, "default of --k");
    const soma_opt dup[] = {{"k", SOMA_OPT_STR, NULL, 0, 0, NULL, "", 0},
                            {"k", SOMA_OPT_STR, NULL, 0, 0, NULL, "", 0},
                            {NULL, 0, NULL, 0, 0, NULL, NULL, 0}};
    CHECK_MSG(soma_opts_check("t", dup), SOMA_ERR_INTERNAL, "--k", "twice");
    const soma_opt no_choice[] = {{"k", SOMA_OPT_ENUM, NULL, 0, 0, NULL, "", 0}, {NULL, 0, NULL, 0, 0, NULL, NULL, 0}};
    CHECK_MSG(soma_opts_check("t", no_choice), SOMA_ERR_INTERNAL, "--k", "no choices");
}

// --- declarations ------------------------------------------------------------------------

static soma_status noop_run_(soma_exp_ctx *c) {
    soma_exp_put(c, "x", 1.0);
    return SOMA_OK;
}

static int runs_;
static soma_status counting_run_(soma_exp_ctx *c) {
    runs_++;
    return noop_run_(c);
}
static soma_status lo_below_hi_(const soma_exp_ctx *c) {
    int lo, hi;
    SOMA_TRY(soma_args_int(&c->args, "lo", &lo));
    SOMA_TRY(soma_args_int(&c->args, "hi", &hi));
    if (lo >= hi) return soma_error(SOMA_ERR_ARG, "--lo %d must be below --hi %d", lo, hi);
    return SOMA_OK;
}

static void test_declarations(void) {
    CHECK(soma_exp_count() >= 3);
    CHECK(soma_exp_find("perceptron") != NULL);
    CHECK(soma_exp_find("nope") == NULL);
    for (int i = 0; i < soma_exp_count(); i++) {
        const soma_experiment *e = soma_exp_get(i);
        CHECK_OK(soma_exp_check(e));
        CHECK(e->reduced_args != NULL);
    }
    /* an experiment option may not shadow a global one */
    static const soma_exp_landmark lm[] = {{"x", "A 2000", "https://doi.org/10.1/x", "x", SOMA_EXP_AT_LEAST, 1},
                                           {NULL, NULL, NULL, NULL, 0, 0}};
    static const soma_opt shadow[] = {{"seed", SOMA_OPT_INT, "1", 0, 9, NULL, "", 0}, {NULL, 0, NULL, 0, 0, NULL, NULL, 0}};
    soma_experiment fake = {"fake", "a fake", lm, shadow, NULL, noop_run_, NULL};
    CHECK_MSG(soma_exp_check(&fake), SOMA_ERR_INTERNAL, "--seed", "shadows");
    const char *args[] = {"--seed", "2"};
    CHECK_MSG(soma_exp_run(&fake, 2, args, out_, NULL), SOMA_ERR_INTERNAL, "shadows");
    CHECK(!exists_("fake", ""));
    /* a landmark needs one link to its source */
    static const soma_exp_landmark nolink[] = {{"x", "A 2000", "A 2000, p. 3", "x", SOMA_EXP_AT_LEAST, 1},
                                               {NULL, NULL, NULL, NULL, 0, 0}};
    soma_experiment fake2 = {"fake", "a fake", nolink, NULL, NULL, noop_run_, NULL};
    CHECK_MSG(soma_exp_check(&fake2), SOMA_ERR_INTERNAL, "link");
    soma_experiment fake3 = {"fake", "a fake", NULL, NULL, NULL, noop_run_, NULL};
    CHECK_MSG(soma_exp_check(&fake3), SOMA_ERR_INTERNAL, "no landmark");
    /* reduced arguments are pairs of its own options with valid values */
    static const soma_opt one[] = {{"n", SOMA_OPT_INT, "5", 1, 9, NULL, "", 1}, {NULL, 0, NULL, 0, 0, NULL, NULL, 0}};
    static const char *const bad_key[] = {"--m", "3", NULL}, *const bad_val[] = {"--n", "30", NULL};
    soma_experiment fake4 = {"fake", "a fake", lm, one, bad_key, noop_run_, NULL};
    CHECK_MSG(soma_exp_check(&fake4), SOMA_ERR_INTERNAL, "reduced", "'--m'");
    fake4.reduced_args = bad_val;
    CHECK_MSG(soma_exp_check(&fake4), SOMA_ERR_INTERNAL, "reduced --n", "out of range");
    /* --reduced takes the reduced size; an option given explicitly overrides it */
    static const char *const good_red[] = {"--n", "2", NULL};
    soma_experiment fake5 = {"fake-reduced", "a fake", lm, one, good_red, noop_run_, NULL};
    cJSON *r5 = NULL;
    const char *a5[] = {"--reduced", "--n", "3"};
    CHECK_OK(soma_exp_run(&fake5, 3, a5, out_, &r5));
    CHECK(!strcmp(str_(cJSON_GetObjectItemCaseSensitive(r5, "options"), "n"), "3"));
    CHECK(!strcmp(str_(r5, "status"), "reduced") && cJSON_GetObjectItemCaseSensitive(r5, "pass") == NULL);
    cJSON_Delete(r5);
    CHECK_OK(soma_exp_run(&fake5, 1, a5, out_, &r5));
    CHECK(!strcmp(str_(cJSON_GetObjectItemCaseSensitive(r5, "options"), "n"), "2"));
    cJSON_Delete(r5);
    /* a good fake experiment runs; ours 1 >= 1 meets its landmark */
    soma_experiment good = {"fake-good", "a fake", lm, NULL, NULL, noop_run_, NULL};
    cJSON *r = NULL;
    CHECK_OK(soma_exp_run(&good, 0, NULL, out_, &r));
    CHECK(strcmp(str_(r, "status"), "pass") == 0 && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "pass")));
    cJSON_Delete(r);
}

/* Bad options are refused before the run's folder is created. */
static void test_refused_before_disk(void) {
    const soma_experiment *e = soma_exp_find("perceptron");
    const char *bad[][4] = {
        {"--bogus", "1", NULL}, {"--n", "12x", NULL}, {"--seed", NULL}, {"--margin", "5", NULL},
        {"--n", "10", "--n", "20"}, {"--threads", "0", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int n = 0;
        while (n < 4 && bad[i][n]) n++;
        CHECK_FAILS(soma_exp_run(e, n, bad[i], out_, NULL), SOMA_ERR_ARG);
        CHECK(!exists_("perceptron", ""));
    }
    const char *twice[] = {"--n", "10", "--n", "20"};
    CHECK_MSG(soma_exp_run(e, 4, twice, out_, NULL), SOMA_ERR_ARG, "--n", "twice");
    /* an experiment's own check (relations between options) runs before the folder exists
     * and before the run; a passing check lets the run go on */
    static const soma_opt lim[] = {{"lo", SOMA_OPT_INT, "1", 0, 100, NULL, "low", 0},
                                   {"hi", SOMA_OPT_INT, "5", 0, 100, NULL, "high", 0},
                                   {NULL, 0, NULL, 0, 0, NULL, NULL, 0}};
    static const soma_exp_landmark lm[] = {{"x", "s", "https://example.org", "x", SOMA_EXP_AT_LEAST, 1},
                                           {NULL, NULL, NULL, NULL, 0, 0}};
    soma_experiment fake = {"fake-check", "a fake", lm, lim, NULL, counting_run_, lo_below_hi_};
    const char *inverted[] = {"--lo", "7", "--hi", "3"};
    runs_ = 0;
    CHECK_MSG(soma_exp_run(&fake, 4, inverted, out_, NULL), SOMA_ERR_ARG, "run fake-check", "--lo 7", "--hi 3");
    CHECK(runs_ == 0 && !exists_("fake-check", ""));
    const char *fine[] = {"--lo", "2", "--hi", "3"};
    CHECK_OK(soma_exp_run(&fake, 4, fine, out_, NULL));
    CHECK(runs_ == 1 && exists_("fake-check", "results.json"));
    /* the experiments whose checks need it */
    const char *real[][3] = {{"dyna-maze", "--planning", "5,5"}, {"dyna-maze", "--planning", "5,x"},
                             {"shortcut-maze", "--change", "9000"}, {"cuba", "--neurons", "50"},
                             {"coba", "--neurons", "50"}};
    for (size_t i = 0; i < sizeof real / sizeof *real; i++) {
        const soma_experiment *x = soma_exp_find(real[i][0]);
        CHECK(x != NULL && x->check != NULL);
        if (!x) continue;
        CHECK_FAILS(soma_exp_run(x, 2, real[i] + 1, out_, NULL), SOMA_ERR_ARG);
        CHECK(!exists_(real[i][0], ""));
    }
}

// --- every experiment at reduced size ----------------------------------------------------

static int have_fmnist_(void) {
    struct stat sb;
    return stat(soma_fmnist_dir(NULL), &sb) == 0;
}

static void check_landmarks_(const char *name, const cJSON *r) {
    const cJSON *lms = cJSON_GetObjectItemCaseSensitive(r, "landmarks"), *l;
    CHECK(cJSON_GetArraySize(lms) >= 1);
    const char *status = str_(r, "status");
    int reduced = strcmp(status, "reduced") == 0;
    cJSON_ArrayForEach(l, lms) {
        CHECK(str_(l, "source")[0] && strncmp(str_(l, "link"), "http", 4) == 0);
        CHECK(isfinite(num_(l, "value")) && isfinite(num_(l, "ours")));
        const cJSON *meets = cJSON_GetObjectItemCaseSensitive(l, "meets");
        if (reduced) CHECK(cJSON_IsNull(meets) && !strcmp(str_(l, "verdict"), "reduced: not comparable with the landmark"));
        else CHECK(cJSON_IsBool(meets));
    }
    if (reduced) {
        CHECK(cJSON_GetObjectItemCaseSensitive(r, "pass") == NULL); /* no FAIL for a reduced run */
        CHECK(!strcmp(str_(cJSON_GetObjectItemCaseSensitive(r, "reduced"), "note"),
                      "reduced: not comparable with the landmark"));
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "machine");
    CHECK(cJSON_IsObject(m) && num_(m, "cores") >= 1 && str_(m, "blas")[0]);
    CHECK(str_(r, "soma_version")[0] && str_(r, "date")[0]);
    printf("%s (reduced args): status %s\n", name, status);
}

static void test_every_experiment_reduced(void) {
    for (int i = 0; i < soma_exp_count(); i++) {
        const soma_experiment *e = soma_exp_get(i);
        /* the experiments that read Fashion-MNIST: by name, and those that train a LeNet on it */
        static const char *const fmnist_users[] = {"sae-lenet", "cnn-v1", "rsa-layers", "rsa-recovery",
                                                   "pc-equals-bp", "hebbian-pca", "hopfield-attention"};
        int needs_data = strstr(e->name, "fmnist") != NULL;
        for (size_t k = 0; k < sizeof fmnist_users / sizeof *fmnist_users; k++)
            if (strcmp(e->name, fmnist_users[k]) == 0) needs_data = 1;
        if (needs_data && !have_fmnist_()) continue; /* test_fmnist reports the missing data */
        cJSON *r = NULL;
        const char *extra[] = {"--threads", "2"};
        CHECK_OK(soma_exp_run_reduced(e, 2, extra, out_, &r));
        if (!r) continue;
        check_landmarks_(e->name, r);
        CHECK(exists_(e->name, "results.json"));
        cJSON_Delete(r);
    }
}

static void test_perceptron(void) {
    const soma_experiment *e = soma_exp_find("perceptron");
    cJSON *r = NULL;
    const char *args[] = {"--quiet", "--margin", "0.05"};
    CHECK_OK(soma_exp_run(e, 3, args, out_, &r));
    if (!r) return;
    const cJSON *ours = cJSON_GetObjectItemCaseSensitive(r, "ours");
    double mistakes = num_(ours, "separable_mistakes"), bound = num_(ours, "novikoff_bound");
    printf("perceptron: %.0f mistakes, Novikoff bound %.0f; XOR perceptron %.2f, XOR 2-layer net %.2f\n",
           mistakes, bound, num_(ours, "xor_perceptron_accuracy"), num_(ours, "xor_mlp_accuracy"));
    CHECK(num_(ours, "separable_converged") == 1.0);
    CHECK(mistakes >= 1 && mistakes <= bound);
    CHECK(num_(ours, "separable_accuracy") == 1.0);
    CHECK(num_(ours, "xor_perceptron_converged") == 0.0);
    CHECK(num_(ours, "xor_perceptron_accuracy") <= 0.75);
    CHECK(num_(ours, "xor_mlp_accuracy") == 1.0);
    /* --margin does not reduce the run: it is judged against all four landmarks */
    CHECK(!strcmp(str_(r, "status"), "pass") && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "pass")));
    check_landmarks_("perceptron", r);
    CHECK(exists_("perceptron", "results.json") && exists_("perceptron", "perceptron.svg"));
    cJSON_Delete(r);
}

/* Reduced-size classification run; returns test accuracy and checks the results contract. */
static double run_classify_(const char *name, const char *n_train, const char *epochs, cJSON **keep) {
    const soma_experiment *e = soma_exp_find(name);
    cJSON *r = NULL;
    const char *args[] = {"--quiet", "--n-train", n_train, "--n-test", "2000", "--epochs", epochs, "--threads", "2", "--seed", "3"};
    CHECK_OK(soma_exp_run(e, 11, args, out_, &r));
    if (!r) return NAN;
    double acc = num_(r, "test_accuracy");
    CHECK(num_(r, "train_seconds") > 0 && num_(r, "samples_per_second") > 0);
    CHECK(num_(r, "seed") == 3 && num_(r, "threads") == 2);
    CHECK(!strcmp(str_(cJSON_GetObjectItemCaseSensitive(r, "options"), "epochs"), epochs));
    CHECK(!strcmp(str_(r, "status"), "reduced"));
    check_landmarks_(name, r);
    CHECK(exists_(name, "results.json") && exists_(name, "learning_curves.svg") && exists_(name, "filters.svg"));
    if (keep) *keep = r;
    else cJSON_Delete(r);
    return acc;
}

static void test_fmnist(void) {
    if (!have_fmnist_()) {
        check_missing_dep("SOMA_REQUIRE_FMNIST", "Fashion-MNIST (dataset-fashion-mnist)");
        return;
    }
    int sanitized = getenv("SOMA_SANITIZED") != NULL; /* the sanitizer build is ~10x slower */
    cJSON *a = NULL, *b = NULL;
    double mlp = run_classify_("mlp-fmnist", sanitized ? "2000" : "10000", "2", &a);
    printf("mlp-fmnist (reduced: %s train samples, 2 epochs): test accuracy %.4f\n", sanitized ? "2000" : "10000", mlp);
    CHECK(mlp >= (sanitized ? 0.70 : 0.80));
    /* the same seed and threads give the same numbers, bit for bit */
    double again = run_classify_("mlp-fmnist", sanitized ? "2000" : "10000", "2", &b);
    CHECK(again == mlp);
    CHECK(num_(a, "train_loss") == num_(b, "train_loss"));
    cJSON_Delete(a);
    cJSON_Delete(b);
    double lenet = run_classify_("lenet-fmnist", sanitized ? "2000" : "10000", "2", NULL);
    printf("lenet-fmnist (reduced: %s train samples, 2 epochs): test accuracy %.4f\n", sanitized ? "2000" : "10000", lenet);
    CHECK(lenet >= (sanitized ? 0.60 : 0.74));
    char html[600];
    snprintf(html, sizeof html, "%s/report.html", out_);
    CHECK_OK(soma_report_build(out_, html));
    CHECK(access(html, R_OK) == 0);
}

int main(void) {
    snprintf(out_, sizeof out_, "/tmp/soma-test-exp-%d", (int)getpid());
    soma_set_threads(2);
    test_parser();
    test_declarations();
    test_refused_before_disk();
    test_perceptron();
    test_every_experiment_reduced();
    test_fmnist();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", out_);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", out_);
    return check_report("test_exp");
}
