/* Reader of the "SOMANNFX" reference-value files written by tests/ref/gen_*.py (format in
 * tests/ref/gen_torch.py): named float32 arrays computed once with PyTorch. */
#ifndef SOMA_TESTS_FIXTURE_H
#define SOMA_TESTS_FIXTURE_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIX_MAX 256
typedef struct fixture_array {
    char name[33];
    int ndim, dims[4];
    size_t n;
    float *data;
} fixture_array;

typedef struct fixture {
    char spec[129];
    int n, c, h, w, mode;
    int n_arrays;
    fixture_array a[FIX_MAX];
} fixture;

static void fixture_free(fixture *f) {
    for (int i = 0; i < f->n_arrays; i++) free(f->a[i].data);
    f->n_arrays = 0;
}

/* 0 on success; prints why and returns -1 otherwise. */
static int fixture_load(const char *path, fixture *f) {
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "fixture %s: cannot open; HINT: run tests/ref/gen_*.py with /usr/bin/python3\n", path);
        return -1;
    }
    char magic[8];
    int32_t hdr[7];
    if (fread(magic, 1, 8, fp) != 8 || memcmp(magic, "SOMANNFX", 8) != 0 || fread(hdr, 4, 1, fp) != 1 ||
        hdr[0] != 1 || fread(f->spec, 1, 128, fp) != 128 || fread(hdr, 4, 6, fp) != 6 || hdr[5] < 0 ||
        hdr[5] > FIX_MAX) {
        fprintf(stderr, "fixture %s: bad magic, version or header; HINT: re-run tests/ref/gen_*.py\n", path);
        fclose(fp);
        return -1;
    }
    f->spec[128] = '\0';
    f->n = hdr[0], f->c = hdr[1], f->h = hdr[2], f->w = hdr[3], f->mode = hdr[4];
    int count = hdr[5];
    for (int i = 0; i < count; i++) {
        fixture_array *a = &f->a[i];
        int32_t d[5];
        if (fread(a->name, 1, 32, fp) != 32 || fread(d, 4, 5, fp) != 5 || d[0] < 1 || d[0] > 4) goto bad;
        a->name[32] = '\0';
        a->ndim = d[0];
        a->n = 1;
        for (int k = 0; k < d[0]; k++) {
            if (d[1 + k] < 1 || d[1 + k] > (1 << 24)) goto bad;
            a->dims[k] = d[1 + k];
            a->n *= (size_t)d[1 + k];
        }
        a->data = malloc(a->n * sizeof(float));
        f->n_arrays = i + 1;
        if (!a->data || fread(a->data, sizeof(float), a->n, fp) != a->n) goto bad;
    }
    fclose(fp);
    return 0;
bad:
    fprintf(stderr, "fixture %s: truncated or corrupt\n", path);
    fixture_free(f);
    fclose(fp);
    return -1;
}

/* The array named `name`, or NULL. */
static const fixture_array *fixture_get(const fixture *f, const char *name) {
    for (int i = 0; i < f->n_arrays; i++)
        if (strcmp(f->a[i].name, name) == 0) return &f->a[i];
    return NULL;
}
#endif
