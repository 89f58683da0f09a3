/* Sweep files (include/soma/sweep.h): the grid's cells and their order, ids that do not
 * change when a grid grows or a file is reordered, every class of bad file refused with one
 * line naming the key, nets checked against the data, cost order, and the records built from
 * cell folders (finished or not, test or validation loss, results.jsonl rebuilt whole). */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <string.h>

#include "check.h"
#include "scratch.h"
#include "soma/soma.h"

static const soma_opt *opts_(void) { return soma_classify_train_opts(); }

static soma_sweep *parse_(const char *json) {
    soma_sweep *s = NULL;
    soma_status st = soma_sweep_parse(json, strlen(json), "t.json", opts_(), NULL, &s);
    if (st != SOMA_OK) fprintf(stderr, "parse failed: %s\n", soma_errmsg());
    return s;
}

/* The file must fail with want, and the one-line message must name what. */
static void refuse_(const char *json, soma_status want, const char *what) {
    soma_sweep *s = (soma_sweep *)1;
    CHECK_FAILS(soma_sweep_parse(json, strlen(json), "t.json", opts_(), NULL, &s), want);
    CHECK(s == NULL);
    if (!strstr(soma_errmsg(), what) || !strstr(soma_errmsg(), "t.json")) {
        check_failures_++;
        fprintf(stderr, "message for %s lacks '%s' or the file: %s\n", json, what, soma_errmsg());
    }
}

static const char *argv_val_(const soma_sweep_cell *c, const char *flag) {
    for (int i = 0; i < c->argc; i++)
        if (!strcmp(c->argv[i], flag)) return i + 1 < c->argc ? c->argv[i + 1] : "";
    return NULL;
}

static void test_grid_(void) {
    soma_sweep *s = parse_("{\"name\": \"g\", \"fixed\": {\"data\": \"npy:x,y\", \"epochs\": 2, \"lr\": 0.5},"
                           " \"grid\": {\"net\": [\"fc3\", \"fc8,relu,fc3\"], \"seed\": [1, 2, 3]},"
                           " \"cells\": [{\"net\": \"fc4\", \"eval-end\": true, \"threads\": 2}]}");
    CHECK(s != NULL);
    if (!s) return;
    CHECK(s->n_cells == 7);
    CHECK(!strcmp(s->out, "sweeps/g") && !strcmp(s->name, "g"));
    /* last key fastest: (fc3,1) (fc3,2) (fc3,3) (fc8,1) ... then the explicit cell */
    CHECK(!strcmp(s->cells[0].net, "fc3") && !strcmp(argv_val_(&s->cells[0], "--seed"), "1"));
    CHECK(!strcmp(s->cells[2].net, "fc3") && !strcmp(argv_val_(&s->cells[2], "--seed"), "3"));
    CHECK(!strcmp(s->cells[3].net, "fc8,relu,fc3") && !strcmp(argv_val_(&s->cells[3], "--seed"), "1"));
    CHECK(!strcmp(s->cells[6].net, "fc4") && argv_val_(&s->cells[6], "--eval-end") != NULL);
    /* typed values reach argv as text; threads defaults to 1 unless given */
    CHECK(!strcmp(argv_val_(&s->cells[0], "--lr"), "0.5") && !strcmp(argv_val_(&s->cells[0], "--epochs"), "2"));
    CHECK(!strcmp(argv_val_(&s->cells[0], "--threads"), "1"));
    CHECK(!strcmp(argv_val_(&s->cells[6], "--threads"), "2"));
    CHECK(argv_val_(&s->cells[0], "--out") == NULL && argv_val_(&s->cells[0], "--ckpt") == NULL);
    CHECK(s->cells[0].epochs == 2 && !strcmp(s->cells[0].loss, "xent") && !strcmp(s->cells[0].data, "npy:x,y"));
    const cJSON *seed = cJSON_GetObjectItemCaseSensitive(s->cells[4].options, "seed");
    CHECK(cJSON_IsNumber(seed) && seed->valuedouble == 2);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s->cells[6].options, "eval-end")));
    for (int i = 0; i < s->n_cells; i++) {
        CHECK(strlen(s->cells[i].id) == SOMA_SWEEP_ID_LEN && strspn(s->cells[i].id, "0123456789abcdef") == 16);
        for (int j = 0; j < i; j++) CHECK(strcmp(s->cells[i].id, s->cells[j].id) != 0);
    }
    soma_sweep_free(s);
}

/* Ids depend on the options only: not on their order in the file, the grid's other values,
 * the way a number is written, "threads", or a flag set to false. */
static void test_ids_(void) {
    soma_sweep *a = parse_("{\"out\": \"o\", \"fixed\": {\"data\": \"npy:x,y\", \"lr\": 0.5},"
                           " \"grid\": {\"net\": [\"fc3\"], \"seed\": [1, 2]}}");
    soma_sweep *b = parse_("{\"out\": \"o\", \"grid\": {\"seed\": [7, 2, 1]},"
                           " \"fixed\": {\"net\": \"fc3\", \"lr\": 5e-1, \"data\": \"npy:x,y\", \"threads\": 4,"
                           " \"eval-end\": false}}");
    soma_sweep *c = parse_("{\"out\": \"o\", \"fixed\": {\"data\": \"npy:x,y\", \"lr\": 0.25},"
                           " \"grid\": {\"net\": [\"fc3\"], \"seed\": [1, 2]}}");
    CHECK(a && b && c);
    if (a && b && c) {
        CHECK(a->n_cells == 2 && b->n_cells == 3 && !strcmp(a->name, "o"));
        CHECK(!strcmp(a->cells[0].id, b->cells[2].id)); /* seed 1 */
        CHECK(!strcmp(a->cells[1].id, b->cells[1].id)); /* seed 2 */
        CHECK(strcmp(a->cells[0].id, c->cells[0].id) != 0);
        CHECK(strcmp(b->cells[0].id, a->cells[0].id) != 0 && strcmp(b->cells[0].id, a->cells[1].id) != 0);
    }
    soma_sweep_free(a);
    soma_sweep_free(b);
    soma_sweep_free(c);
    /* --out replaces the file's folder */
    soma_sweep *d = NULL;
    const char *j = "{\"name\": \"n\", \"out\": \"o\", \"cells\": [{\"data\": \"npy:x,y\", \"net\": \"fc3\"}]}";
    CHECK_OK(soma_sweep_parse(j, strlen(j), "t.json", opts_(), "elsewhere", &d));
    CHECK(d && !strcmp(d->out, "elsewhere") && !strcmp(d->name, "n"));
    soma_sweep_free(d);
}

static void test_refused_(void) {
#define D "\"data\": \"npy:x,y\""
    refuse_("{\"name\": \"x\", \"grid\": {\"net\": [\"fc3\"]", SOMA_ERR_PARSE, "JSON");
    refuse_("[1, 2]", SOMA_ERR_ARG, "object");
    refuse_("{\"name\": \"x\", \"gird\": {\"net\": [\"fc3\"]}}", SOMA_ERR_ARG, "gird");
    refuse_("{\"name\": \"x\", \"fixed\": {" D ", \"epoch\": 2}, \"grid\": {\"net\": [\"fc3\"]}}", SOMA_ERR_ARG, "epoch");
    refuse_("{\"name\": \"x\", \"fixed\": {" D "}, \"grid\": {\"width\": [1, 2]}}", SOMA_ERR_ARG, "width");
    refuse_("{\"name\": \"x\", \"fixed\": {" D "}, \"cells\": [{\"net\": \"fc3\", \"depth\": 2}]}", SOMA_ERR_ARG, "depth");
    refuse_("{\"name\": \"x\", \"fixed\": {" D ", \"out\": \"o\"}, \"grid\": {\"net\": [\"fc3\"]}}", SOMA_ERR_ARG, "out");
    refuse_("{\"name\": \"x\", \"fixed\": {" D "}, \"grid\": {\"net\": [\"fc3\"], \"ckpt\": [\"a\"]}}", SOMA_ERR_ARG,
            "ckpt");
    refuse_("{\"name\": \"x\", \"fixed\": {" D ", \"net\": \"fc3\"}, \"grid\": {}}", SOMA_ERR_ARG, "empty grid");
    refuse_("{\"name\": \"x\", \"fixed\": {" D "}, \"grid\": {\"net\": [\"fc3\"], \"seed\": []}}", SOMA_ERR_ARG, "seed");
    refuse_("{\"name\": \"x\", \"fixed\": {" D ", \"net\": \"fc3\"}, \"cells\": []}", SOMA_ERR_ARG, "no cells");
    refuse_("{\"name\": \"x\", \"fixed\": {" D ", \"net\": \"fc3\"}}", SOMA_ERR_ARG, "no cells");
    refuse_("{\"name\": \"x\", \"fixed\": {" D "}, \"grid\": {\"net\": \"fc3\"}}", SOMA_ERR_ARG, "list");
    refuse_("{\"name\": \"x\", \"fixed\": {" D ", \"epochs\": \"2\"}, \"grid\": {\"net\": [\"fc3\"]}}", SOMA_ERR_ARG,
            "epochs");
    refuse_("{\"name\": \"x\", \"fixed\": {" D "}, \"grid\": {\"net\": [\"fc3\"], \"epochs\": [1, 1.5]}}", SOMA_ERR_ARG,
            "integer");
    refuse_("{\"name\": \"x\", \"fixed\": {" D "}, \"grid\": {\"net\": [\"fc3\", 5]}}", SOMA_ERR_ARG, "net");
    refuse_("{\"name\": \"x\", \"fixed\": {" D "}, \"grid\": {\"net\": [\"fc3\\nseed=2\"]}}", SOMA_ERR_ARG,
            "control character");
    refuse_("{\"name\": \"x\", \"fixed\": {" D ", \"eval-end\": \"yes\"}, \"grid\": {\"net\": [\"fc3\"]}}",
            SOMA_ERR_ARG, "eval-end");
    refuse_("{\"name\": \"x\", \"fixed\": {" D "}, \"grid\": {\"net\": [\"fc3\"], \"epochs\": [0]}}", SOMA_ERR_ARG,
            "out of range");
    refuse_("{\"name\": \"x\", \"fixed\": {" D "}, \"grid\": {\"net\": [\"fc3\"], \"lr\": [-1]}}", SOMA_ERR_ARG, "lr");
    refuse_("{\"name\": \"x\", \"fixed\": {" D ", \"optim\": \"lbfgs\"}, \"grid\": {\"net\": [\"fc3\"]}}", SOMA_ERR_ARG,
            "lbfgs");
    refuse_("{\"name\": \"x\", \"fixed\": {" D "}, \"grid\": {\"net\": [\"fc3\"], \"seed\": [1, 1]}}", SOMA_ERR_ARG,
            "same run");
    refuse_("{\"name\": \"x\", \"fixed\": {" D "}, \"grid\": {\"net\": [\"fc3\"]}, \"cells\": [{\"net\": \"fc3\"}]}",
            SOMA_ERR_ARG, "same run");
    refuse_("{\"name\": \"x\", \"fixed\": {" D ", \"seed\": 1}, \"grid\": {\"net\": [\"fc3\"], \"seed\": [2]}}",
            SOMA_ERR_ARG, "seed");
    refuse_("{\"name\": \"x\", \"fixed\": {" D ", \"seed\": 1}, \"cells\": [{\"net\": \"fc3\", \"seed\": 2}]}",
            SOMA_ERR_ARG, "seed");
    refuse_("{\"name\": \"x\", \"grid\": {\"net\": [\"fc3\"]}}", SOMA_ERR_ARG, "data");
    refuse_("{\"name\": \"x\", \"fixed\": {" D "}, \"grid\": {\"seed\": [1]}}", SOMA_ERR_ARG, "net");
    refuse_("{\"fixed\": {" D "}, \"grid\": {\"net\": [\"fc3\"]}}", SOMA_ERR_ARG, "name");
    refuse_("{\"name\": \"a/b\", \"fixed\": {" D "}, \"grid\": {\"net\": [\"fc3\"]}}", SOMA_ERR_ARG, "name");
    refuse_("{\"name\": \"x\", \"fixed\": {" D ", \"no-eval\": true, \"eval-end\": true}, \"grid\": {\"net\": [\"fc3\"]}}",
            SOMA_ERR_ARG, "eval-end");
    /* 100 x 100 x 11 = 110000 cells: over the limit, refused before any is built */
    char big[8192];
    size_t u = (size_t)snprintf(big, sizeof big, "{\"name\": \"x\", \"fixed\": {" D "}, \"grid\": {\"seed\": [");
    for (int i = 0; i < 100; i++) u += (size_t)snprintf(big + u, sizeof big - u, "%s%d", i ? "," : "", i);
    u += (size_t)snprintf(big + u, sizeof big - u, "], \"batch\": [");
    for (int i = 1; i <= 100; i++) u += (size_t)snprintf(big + u, sizeof big - u, "%s%d", i > 1 ? "," : "", i);
    snprintf(big + u, sizeof big - u, "], \"net\": [\"fc1\",\"fc2\",\"fc3\",\"fc4\",\"fc5\",\"fc6\",\"fc7\",\"fc8\","
                                      "\"fc9\",\"fc10\",\"fc11\"]}}");
    refuse_(big, SOMA_ERR_ARG, "over 100000");
#undef D
}

/* Writes X [n, 6] float32 and Y [n] int64 (classes 0..2) as NPY files in the scratch folder. */
static int write_data_(int n) {
    float x[60 * 6];
    int64_t y[60];
    for (int i = 0; i < n; i++) {
        y[i] = i % 3;
        for (int j = 0; j < 6; j++) x[i * 6 + j] = (float)((i * 7 + j * 3) % 11) / 11.f + (j == y[i] ? 1.f : 0.f);
    }
    int dx[2] = {n, 6};
    int64_t dy[1] = {n};
    return soma_npy_write_f32(scratch_path("X.npy"), 2, dx, x) == SOMA_OK &&
           soma_npy_write(scratch_path("Y.npy"), SOMA_DTYPE_I64, 1, dy, y) == SOMA_OK;
}

static soma_sweep *data_sweep_(const char *grid_json) {
    char j[4096];
    snprintf(j, sizeof j, "{\"name\": \"d\", \"out\": \"%s\", \"fixed\": {\"data\": \"npy:%s,%s\", \"epochs\": 3},"
                          " \"grid\": %s}", scratch_path("out"), scratch_path("X.npy"), scratch_path("Y.npy"), grid_json);
    return parse_(j);
}

static void test_data_(void) {
    if (!write_data_(60)) {
        CHECK(0);
        return;
    }
    soma_sweep *s = data_sweep_("{\"net\": [\"fc8,relu,fc3\", \"fc3\"], \"n-train\": [0, 30]}");
    CHECK(s != NULL);
    if (s) {
        CHECK_OK(soma_sweep_check_data(s));
        /* fc8,relu,fc3 on 6 inputs: 6*8+8 + 8*3+3 = 83; fc3: 6*3+3 = 21 */
        CHECK(s->cells[0].n_params == 83 && s->cells[0].n_samples == 60 && s->cells[0].cost == 83.0 * 60 * 3);
        CHECK(s->cells[1].n_params == 83 && s->cells[1].n_samples == 30);
        CHECK(s->cells[2].n_params == 21 && s->cells[3].cost == 21.0 * 30 * 3);
        int order[4];
        soma_sweep_order(s, order);
        CHECK(order[0] == 0 && order[1] == 1 && order[2] == 2 && order[3] == 3);
        for (int i = 1; i < 4; i++) CHECK(s->cells[order[i - 1]].cost >= s->cells[order[i]].cost);
    }
    soma_sweep_free(s);
    /* a grid whose costs are not in file order: the order sorts them, ties in file order */
    s = data_sweep_("{\"net\": [\"fc3\", \"fc8,relu,fc3\", \"fc4,relu,fc3\", \"fc8,relu,fc3,relu,fc3\"]}");
    if (s && soma_sweep_check_data(s) == SOMA_OK) {
        int order[4];
        soma_sweep_order(s, order);
        CHECK(order[0] == 3 && order[1] == 1 && order[2] == 2 && order[3] == 0); /* 95, 83, 43, 21 */
    } else {
        CHECK(0);
    }
    soma_sweep_free(s);
    /* nets that cannot build, too few outputs, data that cannot be read */
    const char *bad[][2] = {
        {"{\"net\": [\"fc3\", \"conv3x3x4,relu,fc3\"]}", "conv3x3x4"},
        {"{\"net\": [\"fc3\", \"fc8,wobble,fc3\"]}", "wobble"},
        {"{\"net\": [\"fc2\"]}", "classes"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        s = data_sweep_(bad[k][0]);
        CHECK(s != NULL);
        if (!s) continue;
        CHECK_FAILS(soma_sweep_check_data(s), SOMA_ERR_ARG);
        CHECK(strstr(soma_errmsg(), bad[k][1]) != NULL);
        soma_sweep_free(s);
    }
    const char *j = "{\"name\": \"m\", \"fixed\": {\"data\": \"npy:/nonexistent/X.npy,/nonexistent/Y.npy\"},"
                    " \"grid\": {\"net\": [\"fc3\"]}}";
    s = parse_(j);
    if (s) CHECK_FAILS(soma_sweep_check_data(s), SOMA_ERR_ARG);
    soma_sweep_free(s);
}

static int write_text_(const char *path, const char *text) {
    return soma_file_write_atomic(path, text, strlen(text)) == SOMA_OK;
}

static int count_lines_(const char *path) {
    void *buf = NULL;
    size_t n = 0;
    if (soma_file_read(path, 0, &buf, &n) != SOMA_OK) return -1;
    int k = 0;
    for (size_t i = 0; i < n; i++) k += ((char *)buf)[i] == '\n';
    soma_free(buf);
    return k;
}

/* Records from hand-made cell folders: the rules for "finished" and for "loss". */
static void test_records_(void) {
    soma_sweep *s = data_sweep_("{\"net\": [\"fc3\"], \"seed\": [1, 2, 3]}");
    CHECK(s != NULL);
    if (!s) return;
    char path[1200];
    for (int i = 0; i < 3; i++) CHECK_OK(soma_sweep_cell_prepare(s, i));
    CHECK(access(soma_sweep_cell_path(s, 0, "cell.json", path, sizeof path), F_OK) == 0);
    CHECK(!soma_sweep_cell_done(s, 0));
    /* cell 0: a test split; cell 1: validation only; cell 2: a run of 2 epochs, not 3 */
    write_text_(soma_sweep_cell_path(s, 0, "results.json", path, sizeof path),
                "{\"ours\": {\"epochs\": 3, \"parameters\": 21, \"n_train\": 60, \"train_loss\": 0.5, "
                "\"test_loss\": 0.75, \"test_accuracy\": 0.5}}");
    write_text_(soma_sweep_cell_path(s, 1, "results.json", path, sizeof path),
                "{\"ours\": {\"epochs\": 3, \"parameters\": 21, \"n_train\": 54, \"train_loss\": 0.5, "
                "\"val_loss\": 0.625, \"val_accuracy\": 0.25}}");
    write_text_(soma_sweep_cell_path(s, 2, "results.json", path, sizeof path),
                "{\"ours\": {\"epochs\": 2, \"parameters\": 21, \"n_train\": 60, \"train_loss\": 0.5}}");
    CHECK(soma_sweep_cell_done(s, 0) && soma_sweep_cell_done(s, 1) && !soma_sweep_cell_done(s, 2));
    CHECK_OK(soma_sweep_cell_finish(s, 0, 3, 1.5));
    cJSON *r = NULL;
    CHECK_OK(soma_sweep_cell_record(s, 0, &r));
    const cJSON *v;
    CHECK((v = cJSON_GetObjectItemCaseSensitive(r, "loss")) && v->valuedouble == 0.75);
    CHECK((v = cJSON_GetObjectItemCaseSensitive(r, "loss_on")) && !strcmp(v->valuestring, "test"));
    CHECK((v = cJSON_GetObjectItemCaseSensitive(r, "n_params")) && v->valuedouble == 21);
    CHECK((v = cJSON_GetObjectItemCaseSensitive(r, "n_data")) && v->valuedouble == 60);
    CHECK((v = cJSON_GetObjectItemCaseSensitive(r, "rank")) && v->valuedouble == 3);
    CHECK((v = cJSON_GetObjectItemCaseSensitive(r, "seconds")) && v->valuedouble == 1.5);
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r, "val_loss")));
    CHECK((v = cJSON_GetObjectItemCaseSensitive(r, "cell")) && !strcmp(v->valuestring, s->cells[0].id));
    CHECK((v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "options"), "seed")) &&
          v->valuedouble == 1);
    cJSON_Delete(r);
    CHECK_OK(soma_sweep_cell_record(s, 1, &r));
    CHECK((v = cJSON_GetObjectItemCaseSensitive(r, "loss")) && v->valuedouble == 0.625);
    CHECK((v = cJSON_GetObjectItemCaseSensitive(r, "loss_on")) && !strcmp(v->valuestring, "validation"));
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r, "rank"))); /* no run.json */
    cJSON_Delete(r);
    r = NULL;
    CHECK_FAILS(soma_sweep_cell_record(s, 2, &r), SOMA_ERR_IO);
    CHECK(r == NULL);
    /* a torn results.jsonl is rebuilt whole from the folders */
    snprintf(path, sizeof path, "%s/results.jsonl", s->out);
    write_text_(path, "{\"cell\": \"torn");
    int done = -1;
    CHECK_OK(soma_sweep_write_results(s, &done));
    CHECK(done == 2 && count_lines_(path) == 2);
    cJSON *first = NULL;
    void *buf = NULL;
    size_t n = 0;
    CHECK_OK(soma_file_read(path, 0, &buf, &n));
    if (buf) {
        CHECK_OK(soma_json_parse(buf, (size_t)(strchr(buf, '\n') - (char *)buf), "line 1", &first));
        CHECK((v = cJSON_GetObjectItemCaseSensitive(first, "cell")) && !strcmp(v->valuestring, s->cells[0].id));
        cJSON_Delete(first);
        soma_free(buf);
    }
    CHECK_OK(soma_sweep_append_result(s, 1));
    CHECK(count_lines_(path) == 3);
    CHECK_FAILS(soma_sweep_append_result(s, 2), SOMA_ERR_IO);
    CHECK(count_lines_(path) == 3);
    soma_sweep_free(s);
}

int main(void) {
    if (!scratch_init("sweep")) return 1;
    test_grid_();
    test_ids_();
    test_refused_();
    test_data_();
    test_records_();
    scratch_remove();
    return check_report("test_sweep");
}
