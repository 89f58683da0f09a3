/* libFuzzer target: the NWB reader (soma_nwb_parse) and binning of what it reads.
 *
 * First byte even: the rest is an HDF5 file image, read as it is (mutations of real files;
 * the seed corpus holds tests/fixtures/neuro/session.nwb). First byte odd: the rest drives the
 * building of a well-formed HDF5 file with NWB's layout whose contents are hostile (index arrays
 * that run past or decrease, times that go back, NaN, wrong dtypes, strings, mismatched
 * lengths, forged shapes, missing datasets), built in memory through HDF5's core driver; so
 * the fuzzer reaches our checks rather than spending its time in HDF5's parser. Whatever reads
 * successfully is binned (continuous and aligned, smoothed) and its behaviour aligned. */
#include <hdf5.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "soma/neuro.h"

typedef struct src_ {
    const uint8_t *p;
    size_t n, i;
} src_;

static unsigned u8_(src_ *s) { return s->i < s->n ? s->p[s->i++] : 0; }
static int i16_(src_ *s) { return (int16_t)(u8_(s) | (u8_(s) << 8)); }

/* A 1-D dataset of n values at path: kind 0 f64, 1 f32, 2 i64, 3 i32, 4 u8, 5 strings; values
 * from base + step * i, perturbed by the input. */
static void put_(hid_t f, const char *path, int kind, int n, double base, double step, src_ *s) {
    if (n < 0) return;
    double *v = malloc(sizeof(double) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        unsigned c = u8_(s);
        v[i] = base + step * i;
        if (c == 255) v[i] = NAN;
        else if (c >= 240) v[i] = -v[i] + i16_(s);
        else if (c >= 224) v[i] += i16_(s) * 0.01;
    }
    hsize_t dims[1] = {(hsize_t)n};
    hid_t sp = H5Screate_simple(1, dims, NULL);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t ty = kind == 0   ? H5Tcopy(H5T_IEEE_F64LE)
               : kind == 1 ? H5Tcopy(H5T_IEEE_F32LE)
               : kind == 2 ? H5Tcopy(H5T_STD_I64LE)
               : kind == 3 ? H5Tcopy(H5T_STD_I32LE)
               : kind == 4 ? H5Tcopy(H5T_STD_U8LE)
                           : H5Tcopy(H5T_C_S1);
    if (kind == 5) H5Tset_size(ty, 8);
    hid_t d = H5Dcreate2(f, path, ty, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (d >= 0 && n > 0) {
        if (kind == 5) {
            char *buf = calloc((size_t)n, 8);
            for (int i = 0; i < n; i++) buf[8 * i] = (char)('0' + i % 10);
            H5Dwrite(d, ty, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
            free(buf);
        } else {
            H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
        }
    }
    if (d >= 0) H5Dclose(d);
    H5Tclose(ty);
    H5Pclose(lcpl);
    H5Sclose(sp);
    free(v);
}

/* A dataset whose shape promises far more than the file stores. */
static void put_forged_(hid_t f, const char *path) {
    hsize_t dims[1] = {(hsize_t)1 << 28};
    hid_t sp = H5Screate_simple(1, dims, NULL);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t d = H5Dcreate2(f, path, H5T_IEEE_F64LE, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (d >= 0) H5Dclose(d);
    H5Pclose(lcpl);
    H5Sclose(sp);
}

static int kind_(src_ *s, int good) {
    unsigned c = u8_(s);
    return c < 200 ? good : (int)(c % 6);
}

static void build_(src_ *s, hid_t f) {
    int nu = (int)(u8_(s) % 9), counts[9], total = 0;
    for (int u = 0; u < nu; u++) total += counts[u] = (int)(u8_(s) % 20);
    unsigned omit = u8_(s); /* bits: which required dataset to leave out or forge */
    if (!(omit & 1)) put_(f, "/units/spike_times", kind_(s, 0), total + (u8_(s) >= 250 ? i16_(s) % 4 : 0), 0.01,
                          0.013, s);
    if (!(omit & 2)) {
        // the index: cumulative counts, perturbed by the input
        hsize_t dims[1] = {(hsize_t)nu};
        hid_t sp = H5Screate_simple(1, dims, NULL);
        hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
        H5Pset_create_intermediate_group(lcpl, 1);
        int k = kind_(s, 2);
        hid_t d = H5Dcreate2(f, "/units/spike_times_index", k == 0 ? H5T_IEEE_F64LE : k == 5 ? H5T_STD_U8LE : H5T_STD_I64LE,
                             sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
        int64_t idx[9];
        for (int u = 0, c = 0; u < nu; u++) {
            c += counts[u];
            idx[u] = c + (u8_(s) >= 230 ? i16_(s) % 30 : 0);
        }
        if (d >= 0 && nu) H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, idx);
        if (d >= 0) H5Dclose(d);
        H5Pclose(lcpl);
        H5Sclose(sp);
    }
    if (!(omit & 4)) put_(f, "/units/id", kind_(s, 2), nu + (u8_(s) >= 250 ? 1 : 0), 100, 1, s);
    if (omit & 8) put_forged_(f, (omit & 16) ? "/units/spike_times_forged" : "/processing/b/s/data");
    if (u8_(s) & 1) {
        int ne = (int)(u8_(s) % 12);
        put_(f, "/units/electrodes", kind_(s, 2), ne, 0, 1, s);
        if (u8_(s) & 1) put_(f, "/units/electrodes_index", kind_(s, 2), nu, 1, 1, s);
    }
    int nt = (int)(u8_(s) % 7);
    if (nt) {
        put_(f, "/intervals/trials/start_time", kind_(s, 0), nt, 0.1, 0.5, s);
        if (!(omit & 32)) put_(f, "/intervals/trials/stop_time", kind_(s, 0), nt + (u8_(s) >= 250), 0.4, 0.5, s);
        put_(f, "/intervals/trials/cue_time", kind_(s, 0), nt + (u8_(s) >= 240), 0.2, 0.5, s);
        put_(f, "/intervals/trials/cond", kind_(s, 3), nt, 1, 0, s);
    }
    int nb = (int)(u8_(s) % 30);
    if (nb) {
        put_(f, "/processing/behavior/pos/data", kind_(s, 1), nb, 0, 0.5, s);
        if (u8_(s) & 1) {
            put_(f, "/processing/behavior/pos/timestamps", kind_(s, 0), nb + (u8_(s) >= 245), 0, 0.02, s);
        } else {
            put_(f, "/processing/behavior/pos/starting_time", kind_(s, 0), 1, 0.05, 0, s);
            hid_t d = H5Dopen2(f, "/processing/behavior/pos/starting_time", H5P_DEFAULT);
            if (d >= 0 && (u8_(s) & 3)) {
                hid_t sp = H5Screate(H5S_SCALAR);
                hid_t a = H5Acreate2(d, "rate", H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
                double rate = (double)i16_(s) / 16.0;
                if (a >= 0) H5Awrite(a, H5T_NATIVE_DOUBLE, &rate), H5Aclose(a);
                H5Sclose(sp);
            }
            if (d >= 0) H5Dclose(d);
        }
    }
}

static void use_(soma_recording *r, src_ *s) {
    soma_counts c;
    soma_bin_opts o = {.bin_ms = 1 + u8_(s) % 200, .smooth_ms = u8_(s) % 4 * 7.5, .causal = (int)(u8_(s) & 1)};
    /* a recording may legitimately span days: the harness only bins what fits in ~4 M values */
    double values = (r->spikes.t_stop - r->spikes.t_start) / o.bin_ms * (r->n_units + 1);
    if (values < 4e6 && soma_recording_bin(r, &o, &c) == SOMA_OK) soma_counts_free(&c);
    o.align = (u8_(s) & 1) ? "start_time" : "cue_time";
    o.pre_ms = -i16_(s) % 500, o.post_ms = i16_(s) % 2000;
    if (soma_recording_bin(r, &o, &c) == SOMA_OK) {
        for (int i = 0; i < r->n_series; i++) {
            float *b = malloc(sizeof(float) * (size_t)c.n_trials * c.n_bins * r->series[i].dim);
            (void)soma_series_align(&r->series[i], &c, b);
            free(b);
        }
        soma_counts p;
        double *levels = malloc(sizeof(double) * (size_t)c.n_trials);
        int nl;
        if (soma_counts_psth(&c, soma_recording_col(r, "cond"), &p, levels, &nl) == SOMA_OK) soma_counts_free(&p);
        free(levels);
        soma_counts_free(&c);
    }
}

/* HDF5 itself (not instrumented, not ours) leaks a few blocks when it fails to open some
 * corrupt images (H5Fopen -> H5G_mkroot); those leaks are suppressed. Our own leaks of HDF5
 * objects would be reachable through HDF5's tables, so LeakSanitizer could not see them:
 * open_objects_ catches them instead (every parse must close all it opened). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libhdf5_serial.so\n"; }

/* HDF5 answers some forged sizes by trying to malloc them (terabytes); outside ASan malloc
 * returns NULL and HDF5 fails cleanly, so let ASan's malloc do the same. Our own allocations
 * are bounded by the file's size before they happen (src/neuro/nwb.c) and stay under
 * libFuzzer's -rss_limit_mb. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

static ssize_t open_objects_(void) { return H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL); }

static void parse_(const void *img, size_t n, const char *label, src_ *s) {
    soma_recording r;
    ssize_t before = open_objects_();
    if (soma_nwb_parse(img, n, label, &r) == SOMA_OK) {
        use_(&r, s);
        soma_recording_free(&r);
    }
    if (open_objects_() != before) __builtin_trap(); /* the reader left an HDF5 object open */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    src_ s = {data + 1, size - 1, 0};
    if (!(data[0] & 1)) {
        parse_(data + 1, size - 1, "fuzz.nwb", &s);
        return 0;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_core(fapl, 1 << 16, 0);
    hid_t f = H5Fcreate("fuzz-build.nwb", H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (f < 0) return 0;
    build_(&s, f);
    H5Fflush(f, H5F_SCOPE_GLOBAL);
    ssize_t len = H5Fget_file_image(f, NULL, 0);
    void *img = len > 0 ? malloc((size_t)len) : NULL;
    if (img && H5Fget_file_image(f, img, (size_t)len) == len) parse_(img, (size_t)len, "fuzz-built.nwb", &s);
    free(img);
    H5Fclose(f);
    return 0;
}
