/* Tests for soma/io.h: every reader on NumPy-made fixtures, truncated and corrupt files,
 * round trips, atomic writes, synthetic data, and the real Fashion-MNIST when installed. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "soma/io.h"

static char tmpdir_[512];

static const char *tmp_path(const char *name) {
    static char buf[4][1024];
    static int k = 0;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir_, name);
    return buf[k];
}

static const char *fixture(const char *name) {
    static char buf[4][4200];
    static int k = 0;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s", check_src_path("tests/fixtures/io/"));
    strncat(buf[k], name, sizeof buf[k] - strlen(buf[k]) - 1);
    return buf[k];
}

/* The generator's values: v[i] = (i*7 % 23) - 5 (+5 for unsigned, +0.25 for floats). */
static double ref_value(size_t i, char kind) {
    double v = (double)((long)(i * 7 % 23) - 5);
    if (kind == 'u') v += 5;
    if (kind == 'f') v += 0.25;
    return v;
}

static int count_tmp_files(void) {
    DIR *d = opendir(tmpdir_);
    int c = 0;
    struct dirent *e;
    if (!d) return -1;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) c++;
    closedir(d);
    return c;
}

// --- NPY -------------------------------------------------------------------------------

static void test_npy_fixtures(void) {
    FILE *f = fopen(fixture("npy_cases.txt"), "r");
    CHECK(f != NULL);
    if (!f) return;
    char name[64], dt[8];
    int ndim, cases = 0;
    while (fscanf(f, "%63s %7s %d", name, dt, &ndim) == 3) {
        int64_t shape[8] = {0};
        for (int d = 0; d < ndim; d++) {
            long long v;
            if (fscanf(f, "%lld", &v) != 1) break;
            shape[d] = v;
        }
        soma_array a;
        soma_status st = soma_npy_read(fixture(name), &a);
        CHECK(st == SOMA_OK);
        if (st != SOMA_OK) {
            fprintf(stderr, "  %s: %s\n", name, soma_errmsg());
            continue;
        }
        cases++;
        CHECK(a.ndim == ndim);
        size_t n = 1;
        for (int d = 0; d < ndim; d++) {
            CHECK(a.shape[d] == shape[d]);
            n *= (size_t)shape[d];
        }
        CHECK(a.n == n);
        CHECK(soma_dtype_size(a.dtype) == (size_t)(dt[2] - '0'));
        int bad = 0;
        for (size_t i = 0; i < a.n; i++)
            if (soma_array_get(&a, i) != ref_value(i, dt[1])) bad++;
        if (bad) fprintf(stderr, "  %s: %d values differ\n", name, bad);
        CHECK(bad == 0);
        soma_array_deinit(&a);
    }
    fclose(f);
    CHECK(cases == 18);
    // to f32
    soma_array a;
    CHECK_OK(soma_npy_read(fixture("f8_be.npy"), &a));
    soma_tensor *t = NULL;
    CHECK_OK(soma_array_to_f32(&a, &t));
    if (t) {
        CHECK(t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3);
        CHECK(t->data[5] == (float)ref_value(5, 'f'));
    }
    soma_tensor_free(t);
    soma_array_deinit(&a);
    soma_array_deinit(&a); /* safe twice */
}

/* With SOMA_NPY_EXPORT_DIR set, writes a few arrays there for tests/ref/check_npy_interop.py
 * to load with NumPy: v[i] = i*3 - 7 in every dtype (0..n for uint8). */
static void export_npy_for_numpy(void) {
    const char *dir = getenv("SOMA_NPY_EXPORT_DIR");
    if (!dir) return;
    static const struct {
        const char *name;
        soma_dtype t;
        int ndim;
        int64_t shape[8];
    } cases[] = {{"f32.npy", SOMA_DTYPE_F32, 3, {2, 3, 4}}, {"f64.npy", SOMA_DTYPE_F64, 0, {0}},
                 {"i32.npy", SOMA_DTYPE_I32, 1, {7}},       {"i64.npy", SOMA_DTYPE_I64, 2, {2, 2}},
                 {"u8.npy", SOMA_DTYPE_U8, 2, {3, 5}},      {"i8.npy", SOMA_DTYPE_I8, 1, {4}},
                 {"i16.npy", SOMA_DTYPE_I16, 8, {1, 2, 1, 2, 1, 2, 1, 2}},
                 {"empty.npy", SOMA_DTYPE_F32, 2, {0, 3}}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        uint8_t buf[24 * 8];
        size_t n = 1, sz = soma_dtype_size(cases[k].t);
        for (int d = 0; d < cases[k].ndim; d++) n *= (size_t)cases[k].shape[d];
        for (size_t i = 0; i < n; i++) {
            double v = cases[k].t == SOMA_DTYPE_U8 ? (double)i : (double)i * 3 - 7;
            switch (cases[k].t) {
            case SOMA_DTYPE_F32: { float x = (float)v; memcpy(buf + i * sz, &x, sz); break; }
            case SOMA_DTYPE_F64: memcpy(buf + i * sz, &v, sz); break;
            case SOMA_DTYPE_I32: { int32_t x = (int32_t)v; memcpy(buf + i * sz, &x, sz); break; }
            case SOMA_DTYPE_I64: { int64_t x = (int64_t)v; memcpy(buf + i * sz, &x, sz); break; }
            case SOMA_DTYPE_U8: buf[i] = (uint8_t)v; break;
            case SOMA_DTYPE_I8: buf[i] = (uint8_t)(int8_t)v; break;
            case SOMA_DTYPE_I16: { int16_t x = (int16_t)v; memcpy(buf + i * sz, &x, sz); break; }
            default: break;
            }
        }
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, cases[k].name);
        CHECK_OK(soma_npy_write(path, cases[k].t, cases[k].ndim, cases[k].shape, buf));
    }
    printf("test_io: wrote NPY files for NumPy into %s\n", dir);
}

static void test_npy_roundtrip(void) {
    export_npy_for_numpy();
    const char *p = tmp_path("rt.npy");
    float x[24];
    for (int i = 0; i < 24; i++) x[i] = (float)i * 0.5f - 3.f;
    CHECK_OK(soma_npy_write_f32(p, 3, (int[]){2, 3, 4}, x));
    soma_array a;
    CHECK_OK(soma_npy_read(p, &a));
    CHECK(a.dtype == SOMA_DTYPE_F32 && a.ndim == 3 && a.n == 24);
    if (a.data) CHECK(memcmp(a.data, x, sizeof x) == 0);
    soma_array_deinit(&a);
    // header padded to a multiple of 64
    void *buf;
    size_t n;
    CHECK_OK(soma_file_read(p, 0, &buf, &n));
    CHECK(n == 64 + sizeof x || n == 128 + sizeof x);
    CHECK(((const uint8_t *)buf)[(n - sizeof x) - 1] == '\n');
    soma_free(buf);
    // every dtype, a scalar and a 1-d shape
    int64_t s1[1] = {5};
    int16_t v16[5] = {-3, 0, 7, 32767, -32768};
    CHECK_OK(soma_npy_write(p, SOMA_DTYPE_I16, 1, s1, v16));
    CHECK_OK(soma_npy_read(p, &a));
    CHECK(a.dtype == SOMA_DTYPE_I16 && a.ndim == 1 && a.shape[0] == 5);
    CHECK(soma_array_get(&a, 4) == -32768.0);
    soma_array_deinit(&a);
    double sc = 2.5;
    CHECK_OK(soma_npy_write(p, SOMA_DTYPE_F64, 0, NULL, &sc));
    CHECK_OK(soma_npy_read(p, &a));
    CHECK(a.ndim == 0 && a.n == 1 && soma_array_get(&a, 0) == 2.5);
    soma_array_deinit(&a);
    CHECK(count_tmp_files() == 0);
    CHECK_FAILS(soma_npy_write(p, SOMA_DTYPE_COUNT, 1, s1, v16), SOMA_ERR_ARG);
}

/* Cuts a valid file at several points and corrupts bytes: all must fail cleanly. */
static void test_npy_corrupt(void) {
    void *buf;
    size_t n;
    CHECK_OK(soma_file_read(fixture("f4_le.npy"), 0, &buf, &n));
    uint8_t *b = buf, *c = soma_alloc(n + 16, 1);
    soma_array a;
    size_t cuts[] = {0, 5, 9, 11, 60, 127, 128, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        CHECK_FAILS(soma_npy_parse(b, cuts[i], "cut.npy", &a), SOMA_ERR_FORMAT);
    // trailing data
    memcpy(c, b, n);
    c[n] = 0;
    CHECK_FAILS(soma_npy_parse(c, n + 1, "long.npy", &a), SOMA_ERR_FORMAT);
    // bad magic, bad version
    memcpy(c, b, n);
    c[1] = 'X';
    CHECK_FAILS(soma_npy_parse(c, n, "magic.npy", &a), SOMA_ERR_FORMAT);
    memcpy(c, b, n);
    c[6] = 9;
    CHECK_FAILS(soma_npy_parse(c, n, "ver.npy", &a), SOMA_ERR_FORMAT);
    // a header length beyond the file
    memcpy(c, b, n);
    c[8] = 0xff;
    c[9] = 0xff;
    CHECK_FAILS(soma_npy_parse(c, n, "hlen.npy", &a), SOMA_ERR_FORMAT);
    soma_free(c);
    soma_free(buf);
    // headers written by hand: absurd dims, overflow, wrong dtype, bad syntax
    const char *heads[] = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, ), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 5), }",
        "{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }",
        "{'descr': '|f4', 'fortran_order': False, 'shape': (3,), }",
        "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (3,), }",
        "{'descr': '<f4', 'shape': (3,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3,, }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }",
        "[1, 2]",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'extra': 1}",
    };
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        uint8_t f[256 + 12] = "\x93NUMPY\x01\x00";
        size_t hl = strlen(heads[i]);
        f[8] = (uint8_t)hl;
        f[9] = 0;
        memcpy(f + 10, heads[i], hl);
        memset(f + 10 + hl, 0, 12); /* 3 floats of data */
        CHECK_FAILS(soma_npy_parse(f, 10 + hl + 12, "hand.npy", &a), SOMA_ERR_FORMAT);
    }
    CHECK_FAILS(soma_npy_read(tmp_path("does-not-exist.npy"), &a), SOMA_ERR_IO);
    CHECK(a.data == NULL);
}

// --- IDX -------------------------------------------------------------------------------

static void test_idx(void) {
    soma_array a, g;
    CHECK_OK(soma_idx_read(fixture("imgs-idx3-ubyte"), &a));
    CHECK_OK(soma_idx_read(fixture("imgs-idx3-ubyte.gz"), &g));
    CHECK(a.dtype == SOMA_DTYPE_U8 && a.ndim == 3 && a.shape[0] == 4 && a.shape[1] == 3 &&
          a.shape[2] == 2);
    CHECK(g.n == a.n && g.data && a.data && memcmp(a.data, g.data, a.n) == 0);
    if (a.data) CHECK(((uint8_t *)a.data)[23] == (23 * 11) % 256);
    soma_array_deinit(&a);
    soma_array_deinit(&g);
    struct {
        const char *name;
        soma_dtype t;
        char kind;
        size_t n;
    } types[] = {{"i8.idx", SOMA_DTYPE_I8, 'i', 5},     {"i16.idx", SOMA_DTYPE_I16, 'i', 6},
                 {"i32.idx", SOMA_DTYPE_I32, 'i', 6},   {"f32.idx.gz", SOMA_DTYPE_F32, 'f', 4},
                 {"f64.idx", SOMA_DTYPE_F64, 'f', 4}};
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        CHECK_OK(soma_idx_read(fixture(types[k].name), &a));
        CHECK(a.dtype == types[k].t && a.n == types[k].n);
        int bad = 0;
        for (size_t i = 0; i < a.n; i++) bad += soma_array_get(&a, i) != ref_value(i, types[k].kind);
        CHECK(bad == 0);
        soma_array_deinit(&a);
    }
}

static void test_idx_corrupt(void) {
    void *buf, *gz;
    size_t n, gn;
    soma_array a;
    CHECK_OK(soma_file_read(fixture("imgs-idx3-ubyte"), 0, &buf, &n));
    CHECK_OK(soma_file_read(fixture("imgs-idx3-ubyte.gz"), 0, &gz, &gn));
    uint8_t *b = buf, c[64];
    for (size_t cut = 0; cut < n; cut += 3)
        CHECK_FAILS(soma_idx_parse(b, cut, "cut-idx", &a), SOMA_ERR_FORMAT);
    for (size_t cut = 2; cut < gn; cut += 5)
        CHECK_FAILS(soma_idx_parse(gz, cut, "cut.gz", &a), SOMA_ERR_FORMAT);
    // message names the file and the numbers
    soma_idx_parse(b, n - 1, "imgs", &a);
    CHECK(strstr(soma_errmsg(), "imgs") && strstr(soma_errmsg(), "4 images of 3x2") &&
          strstr(soma_errmsg(), "39 of 40 bytes"));
    memcpy(c, b, n);
    c[0] = 1;
    CHECK_FAILS(soma_idx_parse(c, n, "magic", &a), SOMA_ERR_FORMAT);
    memcpy(c, b, n);
    c[2] = 0x07;
    CHECK_FAILS(soma_idx_parse(c, n, "type", &a), SOMA_ERR_FORMAT);
    memcpy(c, b, n);
    c[3] = 0;
    CHECK_FAILS(soma_idx_parse(c, n, "ndim0", &a), SOMA_ERR_FORMAT);
    memcpy(c, b, n);
    c[3] = 200;
    CHECK_FAILS(soma_idx_parse(c, n, "ndim200", &a), SOMA_ERR_FORMAT);
    // dims whose product overflows size_t (8 x 0xffffffff), and dims that do not match the data
    uint8_t big[4 + 32 + 8] = {0, 0, 0x0E, 8};
    memset(big + 4, 0xff, 32);
    CHECK_FAILS(soma_idx_parse(big, sizeof big, "overflow", &a), SOMA_ERR_FORMAT);
    memcpy(c, b, n);
    c[7] = 5; /* 5 images said, 4 present */
    CHECK_FAILS(soma_idx_parse(c, n, "dims", &a), SOMA_ERR_FORMAT);
    // corrupt deflate data
    uint8_t *z = soma_alloc(gn, 1);
    memcpy(z, gz, gn);
    for (size_t i = 12; i < gn - 8; i++) z[i] ^= 0x5a;
    CHECK_FAILS(soma_idx_parse(z, gn, "bad.gz", &a), SOMA_ERR_FORMAT);
    soma_free(z);
    // a gzip bomb-ish header: the gz stream says 4 x 3 x 2 but we ask gunzip for less
    void *out;
    size_t on;
    CHECK_FAILS(soma_gunzip(gz, gn, 10, &out, &on), SOMA_ERR_FORMAT);
    CHECK_OK(soma_gunzip(gz, gn, 0, &out, &on));
    CHECK(on == n && memcmp(out, buf, n) == 0);
    soma_free(out);
    CHECK_FAILS(soma_gunzip(buf, n, 0, &out, &on), SOMA_ERR_FORMAT);
    soma_free(buf);
    soma_free(gz);
}

// --- data sets -------------------------------------------------------------------------

static void test_dataset_files(void) {
    soma_dataset *d = NULL;
    char spec[4096];
    snprintf(spec, sizeof spec, "idx:%s,", fixture("imgs-idx3-ubyte.gz"));
    strncat(spec, fixture("labels-idx1-ubyte"), sizeof spec - strlen(spec) - 1);
    CHECK_OK(soma_dataset_load(spec, 1, NULL, &d));
    if (d) {
        CHECK(d->n == 4 && soma_shape_eq(d->shape, soma_shape3(1, 3, 2)) && d->dim == 6 && d->n_classes == 4);
        CHECK(d->x_u8 && !d->x_f32 && d->y[0] == 3 && d->y[3] == 1);
        float x[12];
        int y[2];
        soma_dataset_batch(d, (int[]){3, 0}, 2, x, y);
        CHECK(y[0] == 1 && y[1] == 3);
        CHECK(fabsf(x[0] - (float)((18 * 11) % 256) / 255.f) < 1e-6f);
        CHECK(fabsf(x[6 + 5] - (float)((5 * 11) % 256) / 255.f) < 1e-6f);
        soma_dataset *s = NULL;
        CHECK_OK(soma_dataset_subset(d, 2, &s));
        if (s) CHECK(s->n == 2 && s->y[1] == 0 && s->x_u8[11] == d->x_u8[11]);
        soma_dataset_free(s);
        CHECK_FAILS(soma_dataset_subset(d, 5, &s), SOMA_ERR_ARG);
    }
    soma_dataset_free(d);
    // a train;test spec picks the second pair for test
    snprintf(spec, sizeof spec, "npy:%s,", fixture("ds_x.npy"));
    strncat(spec, fixture("ds_y.npy"), sizeof spec - strlen(spec) - 1);
    CHECK_OK(soma_dataset_load(spec, 0, NULL, &d));
    if (d) {
        CHECK(d->n == 4 && d->dim == 6 && d->x_f32 && d->n_classes == 3);
        float x[6];
        soma_dataset_batch(d, (int[]){1}, 1, x, NULL);
        CHECK(x[0] == (float)ref_value(6, 'f'));
    }
    soma_dataset_free(d);
    // labels/images count mismatch, bad specs
    snprintf(spec, sizeof spec, "idx:%s,", fixture("imgs-idx3-ubyte"));
    strncat(spec, fixture("i8.idx"), sizeof spec - strlen(spec) - 1);
    CHECK_FAILS(soma_dataset_load(spec, 1, NULL, &d), SOMA_ERR_SHAPE);
    CHECK_FAILS(soma_dataset_load("idx:onlyone", 1, NULL, &d), SOMA_ERR_ARG);
    CHECK_FAILS(soma_dataset_load("mnist-ish", 1, NULL, &d), SOMA_ERR_ARG);
    // negative label
    soma_array x = {.dtype = SOMA_DTYPE_U8, .ndim = 2, .shape = {2, 3}, .n = 6};
    soma_array y = {.dtype = SOMA_DTYPE_I8, .ndim = 1, .shape = {2}, .n = 2};
    uint8_t xv[6] = {0}, yv[2] = {1, 0xff};
    x.data = xv;
    y.data = yv;
    CHECK_FAILS(soma_dataset_from_arrays(&x, &y, "neg", &d), SOMA_ERR_FORMAT);
    yv[1] = 0;
    CHECK_OK(soma_dataset_from_arrays(&x, &y, "ok", &d));
    soma_dataset_free(d);
    // missing Fashion-MNIST dir: the hint
    CHECK_FAILS(soma_dataset_fmnist(tmp_path("nowhere"), 1, &d), SOMA_ERR_IO);
    CHECK(strstr(soma_errmsg(), "train-images-idx3-ubyte.gz not found; HINT: apt-get install "
                                "dataset-fashion-mnist") != NULL);
}

static void test_synthetic(void) {
    const char *kinds[] = {"gauss", "xor", "linear"};
    int dims[] = {5, 2, 7}, ks[] = {3, 2, 2};
    for (int k = 0; k < 3; k++) {
        soma_dataset *a = NULL, *b = NULL, *c = NULL;
        CHECK_OK(soma_dataset_synthetic(kinds[k], 300, dims[k], ks[k], 3.f, 7, &a));
        CHECK_OK(soma_dataset_synthetic(kinds[k], 300, dims[k], ks[k], 3.f, 7, &b));
        CHECK_OK(soma_dataset_synthetic(kinds[k], 300, dims[k], ks[k], 3.f, 8, &c));
        if (a && b && c) {
            size_t bytes = (size_t)300 * (size_t)dims[k] * sizeof(float);
            CHECK(memcmp(a->x_f32, b->x_f32, bytes) == 0);
            CHECK(memcmp(a->y, b->y, 300 * sizeof(int)) == 0);
            CHECK(memcmp(a->x_f32, c->x_f32, bytes) != 0);
            int hist[3] = {0};
            for (int i = 0; i < 300; i++) {
                CHECK(a->y[i] >= 0 && a->y[i] < a->n_classes);
                if (a->y[i] >= 0 && a->y[i] < 3) hist[a->y[i]]++;
            }
            for (int j = 0; j < a->n_classes; j++) CHECK(hist[j] > 50);
            /* the classes are separable enough: nearest-class-mean accuracy */
            double mean[3][8] = {{0}};
            for (int i = 0; i < 300; i++)
                for (int j = 0; j < dims[k]; j++) mean[a->y[i]][j] += a->x_f32[i * dims[k] + j] / hist[a->y[i]];
            if (k != 1) { /* xor is not mean-separable */
                int right = 0;
                for (int i = 0; i < 300; i++) {
                    int best = 0;
                    double bd = 1e30;
                    for (int cl = 0; cl < a->n_classes; cl++) {
                        double dd = 0;
                        for (int j = 0; j < dims[k]; j++) {
                            double e = a->x_f32[i * dims[k] + j] - mean[cl][j];
                            dd += e * e;
                        }
                        if (dd < bd) { bd = dd; best = cl; }
                    }
                    right += best == a->y[i];
                }
                CHECK(right > 240);
            } else {
                for (int i = 0; i < 300; i++)
                    CHECK(a->y[i] == ((a->x_f32[2 * i] > 0) != (a->x_f32[2 * i + 1] > 0)));
            }
        }
        soma_dataset_free(a);
        soma_dataset_free(b);
        soma_dataset_free(c);
    }
    soma_dataset *d;
    CHECK_FAILS(soma_dataset_synthetic("spiral", 10, 2, 2, 1.f, 1, &d), SOMA_ERR_ARG);
    CHECK_FAILS(soma_dataset_synthetic("gauss", 0, 2, 2, 1.f, 1, &d), SOMA_ERR_ARG);
}

static void test_fmnist(void) {
    const char *dir = soma_fmnist_dir(NULL);
    char p[4096];
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", dir);
    struct stat st;
    if (stat(p, &st) != 0) {
        check_missing_dep("SOMA_REQUIRE_FMNIST", "Fashion-MNIST (dataset-fashion-mnist)");
        return;
    }
    soma_dataset *tr = NULL, *te = NULL;
    double t0 = soma_now();
    CHECK_OK(soma_dataset_load("fmnist", 1, NULL, &tr));
    CHECK_OK(soma_dataset_load("fmnist", 0, NULL, &te));
    printf("test_io: Fashion-MNIST loaded in %.2f s\n", soma_now() - t0);
    if (tr && te) {
        CHECK(tr->n == 60000 && te->n == 10000);
        CHECK(soma_shape_eq(tr->shape, soma_shape3(1, 28, 28)) && tr->dim == 784 && tr->n_classes == 10);
        CHECK(tr->x_u8 && !tr->x_f32 && fabsf(tr->scale - 1.f / 255.f) < 1e-9f);
        CHECK(tr->y[0] == 9 && te->y[0] == 9);
        int h[10] = {0}, ht[10] = {0};
        for (int i = 0; i < tr->n; i++) h[tr->y[i]]++;
        for (int i = 0; i < te->n; i++) ht[te->y[i]]++;
        for (int c = 0; c < 10; c++) CHECK(h[c] == 6000 && ht[c] == 1000);
        // batch gather: values in [0, 1], matches the bytes
        enum { B = 128 };
        static float x[B * 784];
        int idx[B], y[B];
        for (int i = 0; i < B; i++) idx[i] = (i * 7919) % tr->n;
        soma_dataset_batch(tr, idx, B, x, y);
        int bad = 0;
        for (int i = 0; i < B; i++) {
            bad += y[i] != tr->y[idx[i]];
            for (int j = 0; j < 784; j++)
                bad += x[i * 784 + j] != (float)tr->x_u8[(size_t)idx[i] * 784 + j] * tr->scale;
        }
        CHECK(bad == 0);
        t0 = soma_now();
        for (int r = 0; r < 200; r++) soma_dataset_batch(tr, idx, B, x, y);
        printf("test_io: batch gather of %d x 784: %.1f us\n", B, (soma_now() - t0) / 200 * 1e6);
    }
    soma_dataset_free(tr);
    soma_dataset_free(te);
}

// --- CSV -------------------------------------------------------------------------------

static void test_csv(void) {
    soma_tensor *t = NULL;
    char **names = NULL;
    CHECK_OK(soma_csv_read(fixture("plain.csv"), &t, &names));
    CHECK(names == NULL);
    if (t) {
        CHECK(t->shape[0] == 2 && t->shape[1] == 3);
        CHECK(t->data[3] == 4.5f && t->data[4] == -6.f && t->data[5] == 70.f);
    }
    soma_tensor_free(t);
    CHECK_OK(soma_csv_read(fixture("header.csv"), &t, &names));
    if (t && names) {
        CHECK(t->shape[0] == 2 && t->shape[1] == 3 && t->data[5] == 6.f);
        CHECK(strcmp(names[0], "a") == 0 && strcmp(names[1], "b, c") == 0 &&
              strcmp(names[2], "d") == 0);
    }
    soma_csv_free_header(names, 3);
    soma_tensor_free(t);
    CHECK_FAILS(soma_csv_read(fixture("ragged.csv"), &t, NULL), SOMA_ERR_PARSE);
    CHECK(strstr(soma_errmsg(), "line 2") != NULL);
    CHECK_FAILS(soma_csv_read(fixture("badnum.csv"), &t, NULL), SOMA_ERR_PARSE);
    CHECK(strstr(soma_errmsg(), "line 3") != NULL);
    CHECK_FAILS(soma_csv_parse("", 0, "empty", &t, NULL), SOMA_ERR_PARSE);
    CHECK_FAILS(soma_csv_parse("a,b\n", 4, "hdr-only", &t, NULL), SOMA_ERR_PARSE);
    CHECK_FAILS(soma_csv_parse("\"a,b\n1,2\n", 9, "quote", &t, NULL), SOMA_ERR_PARSE);
    CHECK_FAILS(soma_csv_read(tmp_path("nope.csv"), &t, NULL), SOMA_ERR_IO);
    // round trip with a header
    float x[6] = {1.5f, -2.f, 3.25e-7f, 4e9f, 0.f, 0.1f};
    const char *hdr[3] = {"alpha", "b\"q", "c,d"};
    const char *p = tmp_path("rt.csv");
    CHECK_OK(soma_csv_write(p, x, 2, 3, hdr));
    CHECK_OK(soma_csv_read(p, &t, &names));
    if (t) CHECK(memcmp(t->data, x, sizeof x) == 0);
    if (names) CHECK(strcmp(names[1], "b\"q") == 0 && strcmp(names[2], "c,d") == 0);
    soma_csv_free_header(names, 3);
    soma_tensor_free(t);
    CHECK(count_tmp_files() == 0);
}

// --- JSON ------------------------------------------------------------------------------

static void test_json(void) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "loss", 0.25);
    cJSON_AddStringToObject(j, "name", "run \"1\"");
    const char *p = tmp_path("r.json");
    CHECK_OK(soma_json_write(p, j));
    cJSON_Delete(j);
    j = NULL;
    CHECK_OK(soma_json_read(p, &j));
    if (j) {
        CHECK(cJSON_GetObjectItem(j, "loss")->valuedouble == 0.25);
        CHECK(strcmp(cJSON_GetObjectItem(j, "name")->valuestring, "run \"1\"") == 0);
    }
    cJSON_Delete(j);
    const char *bad = "{\n  \"a\": 1,\n  \"b\": [1, 2,, 3]\n}";
    CHECK_FAILS(soma_json_parse(bad, strlen(bad), "bad.json", &j), SOMA_ERR_PARSE);
    CHECK(strstr(soma_errmsg(), "line 3") != NULL);
    CHECK_FAILS(soma_json_parse("{} x", 4, "trail", &j), SOMA_ERR_PARSE);
    CHECK_FAILS(soma_json_parse("{\"a\": ", 6, "cut", &j), SOMA_ERR_PARSE);
    CHECK_OK(soma_json_parse("[1]", 3, "ok", &j)); /* no NUL terminator needed */
    cJSON_Delete(j);
    CHECK(count_tmp_files() == 0);
}

// --- PNG -------------------------------------------------------------------------------

static void test_png(void) {
    uint8_t *pix = NULL;
    int w, h, ch = 0;
    CHECK_OK(soma_png_read(fixture("gray.png"), &pix, &w, &h, &ch));
    CHECK(w == 3 && h == 2 && ch == 1);
    if (pix) CHECK(pix[1] == 100 && pix[5] == 250);
    soma_free(pix);
    ch = 3;
    CHECK_OK(soma_png_read(fixture("gray.png"), &pix, &w, &h, &ch));
    if (pix) CHECK(ch == 3 && pix[3] == 100 && pix[4] == 100 && pix[5] == 100);
    soma_free(pix);
    ch = 0;
    CHECK_OK(soma_png_read(fixture("rgb.png"), &pix, &w, &h, &ch));
    if (pix) CHECK(ch == 3 && w == 2 && pix[0] == 255 && pix[4] == 128 && pix[5] == 255);
    soma_free(pix);
    ch = 4;
    CHECK_OK(soma_png_read(fixture("rgb.png"), &pix, &w, &h, &ch));
    if (pix) CHECK(ch == 4 && pix[3] == 255 && pix[6] == 255);
    soma_free(pix);
    ch = 0; /* 16-bit gray + alpha -> 8-bit RGBA */
    CHECK_OK(soma_png_read(fixture("ga16.png"), &pix, &w, &h, &ch));
    if (pix) CHECK(ch == 4 && pix[0] == 0x12 && pix[1] == 0x12 && pix[3] == 0xff && pix[4] == 0xab && pix[7] == 0);
    soma_free(pix);
    ch = 1;
    CHECK_OK(soma_png_read(fixture("ga16.png"), &pix, &w, &h, &ch));
    if (pix) CHECK(ch == 1 && pix[0] == 0x12 && pix[1] == 0xab);
    soma_free(pix);
    // round trip RGBA and gray, atomic
    uint8_t img[4 * 5 * 4];
    for (size_t i = 0; i < sizeof img; i++) img[i] = (uint8_t)(i * 37);
    const char *p = tmp_path("rt.png");
    CHECK_OK(soma_png_write(p, img, 5, 4, 4));
    ch = 0;
    CHECK_OK(soma_png_read(p, &pix, &w, &h, &ch));
    CHECK(w == 5 && h == 4 && ch == 4 && pix && memcmp(pix, img, sizeof img) == 0);
    soma_free(pix);
    CHECK_FAILS(soma_png_write(p, img, 5, 4, 2), SOMA_ERR_ARG);
    CHECK_FAILS(soma_png_write(tmp_path("no/such/dir.png"), img, 5, 4, 1), SOMA_ERR_IO);
    // truncated / corrupt
    void *buf;
    size_t n;
    CHECK_OK(soma_file_read(p, 0, &buf, &n));
    for (size_t cut = 0; cut < n; cut += 7) {
        ch = 0;
        CHECK_FAILS(soma_png_parse(buf, cut, &pix, &w, &h, &ch), SOMA_ERR_FORMAT);
    }
    uint8_t *c = buf;
    c[20] ^= 0xff; /* IHDR width: CRC now wrong */
    ch = 0;
    CHECK_FAILS(soma_png_parse(buf, n, &pix, &w, &h, &ch), SOMA_ERR_FORMAT);
    soma_free(buf);
    // grid: 5 images of 3x2 in 3 columns, zoom 2 -> 3*(4+1)+1 x 2*(6+1)+1
    float imgs[5 * 6];
    for (int i = 0; i < 30; i++) imgs[i] = (float)i;
    CHECK_OK(soma_png_write_grid(p, imgs, 5, 3, 2, 3, 1, 2));
    ch = 0;
    CHECK_OK(soma_png_read(p, &pix, &w, &h, &ch));
    CHECK(w == 16 && h == 15 && ch == 1);
    if (pix) CHECK(pix[0] == 128 && pix[1 * 16 + 1] == 0 && pix[6 * 16 + 4] == 255);
    soma_free(pix);
    CHECK(count_tmp_files() == 0);
}

// --- files -----------------------------------------------------------------------------

static void test_files(void) {
    const char *p = tmp_path("a/b/c");
    CHECK_OK(soma_mkdir_p(p));
    CHECK_OK(soma_mkdir_p(p));
    struct stat st;
    CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode));
    const char *f = tmp_path("a/b/c/x.bin");
    CHECK_OK(soma_file_write_atomic(f, "hello", 5));
    CHECK_OK(soma_file_write_atomic(f, "bye", 3)); /* replaces */
    void *buf;
    size_t n;
    CHECK_OK(soma_file_read(f, 0, &buf, &n));
    CHECK(n == 3 && memcmp(buf, "bye", 3) == 0);
    soma_free(buf);
    CHECK_FAILS(soma_file_read(f, 2, &buf, &n), SOMA_ERR_FORMAT);
    CHECK_FAILS(soma_file_read(p, 0, &buf, &n), SOMA_ERR_IO); /* a directory */
    // an aborted streaming write leaves nothing behind
    soma_atomic_file af;
    CHECK_OK(soma_atomic_open(&af, tmp_path("aborted.txt")));
    fputs("partial", af.f);
    soma_atomic_abort(&af);
    CHECK(stat(tmp_path("aborted.txt"), &st) != 0);
    CHECK(count_tmp_files() == 0);
    CHECK_FAILS(soma_mkdir_p(tmp_path("a/b/c/x.bin/d")), SOMA_ERR_IO);
    CHECK_OK(soma_file_read_maybe_gz(fixture("labels-idx1-ubyte.gz"), 0, &buf, &n));
    CHECK(n == 12 && ((uint8_t *)buf)[8] == 3);
    soma_free(buf);
}

static void rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[2048];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            rm_rf(sub);
        }
        if (d) closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

int main(void) {
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir_, sizeof tmpdir_, "%s/soma_test_io.%ld", base ? base : "/tmp", (long)getpid());
    if (soma_mkdir_p(tmpdir_) != SOMA_OK) {
        fprintf(stderr, "test_io: %s\n", soma_errmsg());
        return 1;
    }
    test_files();
    test_npy_fixtures();
    test_npy_roundtrip();
    test_npy_corrupt();
    test_idx();
    test_idx_corrupt();
    test_dataset_files();
    test_synthetic();
    test_csv();
    test_json();
    test_png();
    test_fmnist();
    rm_rf(tmpdir_);
    return check_report("test_io");
}
