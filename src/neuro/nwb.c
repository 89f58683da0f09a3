// Neural data in: NWB 2.x files through HDF5 (units, trials, behaviour time series) and spike
// tables from NPY and CSV, into a soma_recording (soma/neuro.h).
//
// Nothing in a file is trusted. Every dataset is opened through one helper (read_num_) that
// checks it exists, its type class (integer or float where numbers belong), its rank, and that
// its shape does not promise more bytes than the file stores for it (so a forged shape never
// makes us allocate beyond what the file holds: contiguous data must be all there, chunked data
// may be compressed at most 1100:1, gzip's ceiling), before anything is allocated or read.
// Index arrays, times and lengths are then checked against each other. External links are
// never followed (a file must not make us open another file). HDF5's own error printing is off.
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soma/io.h"
#include "soma/neuro.h"

#define MAX_ELEMS (1LL << 31)
#define MAX_LINKS 4096  /* links of one group we look at */
#define MAX_VISIT 20000 /* groups visited looking for behaviour */
#define MAX_DEPTH 10
#define BUDGET_RATIO 64.0 /* all datasets read from a file, together: at most 64x its size + 16 MB */

typedef struct rd_ {
    hid_t f, lapl;
    const char *label;
    long visited;
    double file_size; /* bytes: no dataset stores more than this */
    double budget;    /* bytes all datasets together may still expand to (links may repeat one) */
} rd_;

static herr_t deny_elink_(const char *parent_file, const char *parent_group, const char *child_file,
                          const char *child_object, unsigned *acc_flags, hid_t fapl, void *op_data) {
    (void)parent_file, (void)parent_group, (void)child_file, (void)child_object, (void)acc_flags, (void)fapl,
        (void)op_data;
    return -1;
}

// --- path existence and one numeric dataset, checked ---------------------------------------

/* 1 when every component of path (absolute, "/a/b/c") exists as a link that resolves. */
static int exists_(const rd_ *R, const char *path) {
    char buf[1024];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return 0;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (H5Lexists(R->f, buf, R->lapl) <= 0) return 0;
            buf[i] = c;
        }
    }
    return H5Oexists_by_name(R->f, path, R->lapl) > 0;
}

typedef struct num_ {
    int rank;
    hsize_t dims[2];
    size_t n;     /* elements */
    double bytes; /* as stored (uncompressed) */
    int is_int;
    int not_numbers; /* failed as absent, not a dataset, or of another type class or rank (not its size) */
} num_;

/* Opens path and checks it: numeric (integer if want_int), rank in [min_rank, max_rank], no
 * more elements than the file stores. Returns an open dataset in *d (the caller closes). */
static soma_status open_num_(const rd_ *R, const char *path, int want_int, int min_rank, int max_rank, hid_t *d,
                             num_ *info) {
    *d = H5I_INVALID_HID;
    memset(info, 0, sizeof *info);
    if (!exists_(R, path)) {
        info->not_numbers = 1; /* for optional data: nothing there (or a dangling link) */
        return soma_error(SOMA_ERR_FORMAT, "nwb: %s: no dataset %s", R->label, path);
    }
    hid_t ds = H5Dopen2(R->f, path, H5P_DEFAULT); /* exists_ has resolved it without external links */
    info->not_numbers = ds < 0;
    if (ds < 0) return soma_error(SOMA_ERR_FORMAT, "nwb: %s: %s is not a readable dataset", R->label, path);
    soma_status st = SOMA_OK;
    hid_t ty = H5Dget_type(ds), sp = H5Dget_space(ds), dcpl = H5Dget_create_plist(ds);
    if (ty < 0 || sp < 0 || dcpl < 0) {
        st = soma_error(SOMA_ERR_FORMAT, "nwb: %s: %s: unreadable type or shape", R->label, path);
        goto out;
    }
    H5T_class_t cls = H5Tget_class(ty);
    size_t esz = H5Tget_size(ty);
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
        info->not_numbers = 1;
        st = soma_error(SOMA_ERR_FORMAT, "nwb: %s: %s holds %s, not numbers", R->label, path,
                        cls == H5T_STRING ? "strings" : "a non-numeric type");
        goto out;
    }
    if (want_int && cls != H5T_INTEGER) {
        st = soma_error(SOMA_ERR_FORMAT, "nwb: %s: %s holds floats; an index needs integers", R->label, path);
        goto out;
    }
    if (esz == 0 || esz > 16) {
        st = soma_error(SOMA_ERR_FORMAT, "nwb: %s: %s: %zu-byte numbers", R->label, path, esz);
        goto out;
    }
    int rank = H5Sget_simple_extent_ndims(sp);
    if (rank < min_rank || rank > max_rank) {
        info->not_numbers = 1;
        st = soma_error(SOMA_ERR_FORMAT, "nwb: %s: %s has %d dimensions; want %d to %d", R->label, path, rank,
                        min_rank, max_rank);
        goto out;
    }
    hsize_t dims[2] = {1, 1};
    if (rank > 0 && H5Sget_simple_extent_dims(sp, dims, NULL) != rank) {
        st = soma_error(SOMA_ERR_FORMAT, "nwb: %s: %s: unreadable shape", R->label, path);
        goto out;
    }
    double total = 1;
    for (int i = 0; i < rank; i++) total *= (double)dims[i];
    if (total > (double)MAX_ELEMS) {
        st = soma_error(SOMA_ERR_FORMAT, "nwb: %s: %s claims %.3g values, more than 2^31", R->label, path, total);
        goto out;
    }
    double need = total * (double)esz, have = (double)H5Dget_storage_size(ds);
    if (have > R->file_size) have = R->file_size; /* a forged layout message cannot add bytes */
    H5D_layout_t lay = H5Pget_layout(dcpl);
    double ratio = lay == H5D_CHUNKED ? 1100.0 : 1.0;
    if (need > have * ratio + (lay == H5D_CHUNKED ? 65536.0 : 0.0)) {
        st = soma_error(SOMA_ERR_FORMAT, "nwb: %s: %s claims %.0f bytes but the file stores %.0f for it", R->label, path,
                        need, have);
        goto out;
    }
    if (need > R->budget) {
        st = soma_error(SOMA_ERR_FORMAT, "nwb: %s: %s: the datasets read so far and this one expand to more than %.0f "
                        "times the file's size", R->label, path, BUDGET_RATIO);
        goto out;
    }
    info->rank = rank;
    info->dims[0] = dims[0];
    info->dims[1] = rank == 2 ? dims[1] : 1;
    info->n = (size_t)total;
    info->bytes = need;
    info->is_int = cls == H5T_INTEGER;
out:
    if (ty >= 0) H5Tclose(ty);
    if (sp >= 0) H5Sclose(sp);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (st == SOMA_OK) *d = ds;
    else H5Dclose(ds);
    return st;
}

/* Reads a checked numeric dataset converted to mem_type (H5T_NATIVE_DOUBLE, _INT64, _FLOAT)
 * into a new array *out (soma_free; at least one element allocated). */
static soma_status read_num_(rd_ *R, const char *path, int want_int, int min_rank, int max_rank,
                             hid_t mem_type, void **out, num_ *info) {
    *out = NULL;
    hid_t d;
    SOMA_TRY(open_num_(R, path, want_int, min_rank, max_rank, &d, info));
    size_t esz = H5Tget_size(mem_type);
    void *buf = soma_alloc(info->n ? info->n : 1, esz);
    if (!buf) {
        H5Dclose(d);
        return soma_error(SOMA_ERR_NOMEM, "nwb: %s: out of memory reading %s", R->label, path);
    }
    herr_t e = info->n ? H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) : 0;
    H5Dclose(d);
    if (e < 0) {
        soma_free(buf);
        return soma_error(SOMA_ERR_FORMAT, "nwb: %s: cannot read %s (corrupt data or an unsupported filter)", R->label,
                          path);
    }
    *out = buf;
    R->budget -= info->bytes;
    return SOMA_OK;
}

static soma_status check_finite_(const rd_ *R, const char *path, const double *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return soma_error(SOMA_ERR_FORMAT, "nwb: %s: %s[%zu] is not a finite number", R->label, path, i);
    return SOMA_OK;
}

// --- recording: free, merge spikes into time order ----------------------------------------

void soma_recording_free(soma_recording *r) {
    if (!r) return;
    soma_spikes_free(&r->spikes);
    soma_free(r->unit_id);
    soma_free(r->electrode);
    soma_free(r->trial_start);
    soma_free(r->trial_stop);
    for (int i = 0; i < r->n_cols; i++) {
        if (r->col_name) soma_free(r->col_name[i]);
        if (r->col) soma_free(r->col[i]);
    }
    soma_free(r->col_name);
    soma_free(r->col);
    for (int i = 0; i < r->n_series; i++) {
        soma_free(r->series[i].name);
        soma_free(r->series[i].data);
        soma_free(r->series[i].t);
    }
    soma_free(r->series);
    memset(r, 0, sizeof *r);
}

typedef struct spk_ {
    double t;
    int id;
} spk_;

static int spk_cmp_(const void *a, const void *b) {
    const spk_ *x = a, *y = b;
    if (x->t < y->t) return -1;
    if (x->t > y->t) return 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Sorts p[n] into time order and moves it into r->spikes (n_units neurons); t_start =
 * min(0, first), t_stop = the last spike. */
static soma_status spikes_fill_(soma_recording *r, spk_ *p, size_t n, int n_units) {
    qsort(p, n, sizeof *p, spk_cmp_);
    SOMA_TRY(soma_spikes_init(&r->spikes, n_units, n && p[0].t < 0 ? p[0].t : 0.0));
    if (n) {
        r->spikes.id = malloc(n * sizeof(int));
        r->spikes.t = malloc(n * sizeof(double));
        if (!r->spikes.id || !r->spikes.t) return soma_error(SOMA_ERR_NOMEM, "spikes: out of memory for %zu", n);
        r->spikes.cap = (long)n;
        for (size_t i = 0; i < n; i++) r->spikes.id[i] = p[i].id, r->spikes.t[i] = p[i].t;
        r->spikes.n = (long)n;
        r->spikes.t_stop = p[n - 1].t;
    }
    r->n_units = n_units;
    return SOMA_OK;
}

// --- NWB: units ----------------------------------------------------------------------------

static soma_status read_units_(rd_ *R, soma_recording *r) {
    soma_status st = SOMA_OK;
    double *times = NULL;
    int64_t *idx = NULL, *ids = NULL, *el = NULL, *eli = NULL;
    spk_ *p = NULL;
    num_ nt, ni, nid, ne, nei;
    if (!exists_(R, "/units"))
        return soma_error(SOMA_ERR_FORMAT, "nwb: %s: no /units table (no sorted spikes in this file)", R->label);
    if ((st = read_num_(R, "/units/spike_times", 0, 1, 1, H5T_NATIVE_DOUBLE, (void **)&times, &nt)) ||
        (st = read_num_(R, "/units/spike_times_index", 1, 1, 1, H5T_NATIVE_INT64, (void **)&idx, &ni)) ||
        (st = read_num_(R, "/units/id", 1, 1, 1, H5T_NATIVE_INT64, (void **)&ids, &nid)))
        goto out;
    if ((st = check_finite_(R, "/units/spike_times", times, nt.n))) goto out;
    if (nid.n != ni.n) {
        st = soma_error(SOMA_ERR_FORMAT, "nwb: %s: /units/id has %zu rows but spike_times_index %zu", R->label, nid.n,
                        ni.n);
        goto out;
    }
    if (ni.n > (size_t)1 << 24) {
        st = soma_error(SOMA_ERR_FORMAT, "nwb: %s: /units has %zu units (more than 2^24)", R->label, ni.n);
        goto out;
    }
    const int nu = (int)ni.n;
    int64_t prev = 0;
    for (int u = 0; u < nu; u++) {
        if (idx[u] < prev) {
            st = soma_error(SOMA_ERR_FORMAT, "nwb: %s: /units/spike_times_index decreases at row %d (%lld after %lld)",
                            R->label, u, (long long)idx[u], (long long)prev);
            goto out;
        }
        if ((uint64_t)idx[u] > nt.n) {
            st = soma_error(SOMA_ERR_FORMAT,
                            "nwb: %s: /units/spike_times_index[%d] = %lld runs past spike_times (%zu spikes)", R->label,
                            u, (long long)idx[u], nt.n);
            goto out;
        }
        prev = idx[u];
    }
    if ((uint64_t)prev != nt.n) {
        st = soma_error(SOMA_ERR_FORMAT, "nwb: %s: /units/spike_times_index ends at %lld but spike_times has %zu",
                        R->label, (long long)prev, nt.n);
        goto out;
    }
    // electrodes: ragged (with electrodes_index) or one per unit
    if (exists_(R, "/units/electrodes")) {
        if ((st = read_num_(R, "/units/electrodes", 1, 1, 1, H5T_NATIVE_INT64, (void **)&el, &ne))) goto out;
        r->electrode = soma_alloc((size_t)(nu ? nu : 1), sizeof(int64_t));
        if (!r->electrode) {
            st = soma_error(SOMA_ERR_NOMEM, "nwb: out of memory");
            goto out;
        }
        if (exists_(R, "/units/electrodes_index")) {
            if ((st = read_num_(R, "/units/electrodes_index", 1, 1, 1, H5T_NATIVE_INT64, (void **)&eli, &nei)))
                goto out;
            if (nei.n != (size_t)nu) {
                st = soma_error(SOMA_ERR_FORMAT, "nwb: %s: /units/electrodes_index has %zu rows, /units %d", R->label,
                                nei.n, nu);
                goto out;
            }
            int64_t b = 0;
            for (int u = 0; u < nu; u++) {
                if (eli[u] < b || (uint64_t)eli[u] > ne.n) {
                    st = soma_error(SOMA_ERR_FORMAT,
                                    "nwb: %s: /units/electrodes_index[%d] = %lld decreases or runs past electrodes (%zu)",
                                    R->label, u, (long long)eli[u], ne.n);
                    goto out;
                }
                r->electrode[u] = eli[u] > b ? el[b] : -1;
                b = eli[u];
            }
        } else if (ne.n == (size_t)nu) {
            memcpy(r->electrode, el, (size_t)nu * sizeof(int64_t));
        } else {
            st = soma_error(SOMA_ERR_FORMAT, "nwb: %s: /units/electrodes has %zu rows, /units %d, and no electrodes_index",
                            R->label, ne.n, nu);
            goto out;
        }
    }
    p = soma_alloc(nt.n ? nt.n : 1, sizeof *p);
    if (!p) {
        st = soma_error(SOMA_ERR_NOMEM, "nwb: out of memory for %zu spikes", nt.n);
        goto out;
    }
    int64_t b = 0;
    for (int u = 0; u < nu; u++) {
        for (int64_t i = b; i < idx[u]; i++) {
            if (i > b && times[i] < times[i - 1]) {
                st = soma_error(SOMA_ERR_FORMAT, "nwb: %s: /units/spike_times of unit %d decrease at spike %lld",
                                R->label, u, (long long)i);
                goto out;
            }
            p[i].t = times[i] * 1000.0;
            p[i].id = u;
        }
        b = idx[u];
    }
    if ((st = spikes_fill_(r, p, nt.n, nu))) goto out;
    r->unit_id = ids;
    ids = NULL;
out:
    soma_free(times);
    soma_free(idx);
    soma_free(ids);
    soma_free(el);
    soma_free(eli);
    soma_free(p);
    return st;
}

// --- NWB: trials -----------------------------------------------------------------------------

static soma_status read_trials_(rd_ *R, soma_recording *r) {
    if (!exists_(R, "/intervals/trials")) return SOMA_OK;
    num_ a, b;
    soma_status st;
    if ((st = read_num_(R, "/intervals/trials/start_time", 0, 1, 1, H5T_NATIVE_DOUBLE, (void **)&r->trial_start, &a)) ||
        (st = read_num_(R, "/intervals/trials/stop_time", 0, 1, 1, H5T_NATIVE_DOUBLE, (void **)&r->trial_stop, &b)))
        return st;
    if (a.n != b.n)
        return soma_error(SOMA_ERR_FORMAT, "nwb: %s: /intervals/trials: %zu start_time but %zu stop_time", R->label, a.n,
                          b.n);
    if (a.n > (size_t)1 << 24)
        return soma_error(SOMA_ERR_FORMAT, "nwb: %s: /intervals/trials: %zu trials", R->label, a.n);
    SOMA_TRY(check_finite_(R, "/intervals/trials/start_time", r->trial_start, a.n));
    SOMA_TRY(check_finite_(R, "/intervals/trials/stop_time", r->trial_stop, a.n));
    for (size_t k = 0; k < a.n; k++) {
        if (r->trial_stop[k] < r->trial_start[k])
            return soma_error(SOMA_ERR_FORMAT, "nwb: %s: /intervals/trials: trial %zu stops before it starts", R->label,
                              k);
        r->trial_start[k] *= 1000.0;
        r->trial_stop[k] *= 1000.0;
    }
    r->n_trials = (int)a.n;
    hid_t g = H5Gopen2(R->f, "/intervals/trials", H5P_DEFAULT);
    if (g < 0) return soma_error(SOMA_ERR_FORMAT, "nwb: %s: /intervals/trials is not a group", R->label);
    H5G_info_t gi;
    if (H5Gget_info(g, &gi) < 0) {
        H5Gclose(g);
        return soma_error(SOMA_ERR_FORMAT, "nwb: %s: /intervals/trials: unreadable group", R->label);
    }
    hsize_t nl = gi.nlinks < MAX_LINKS ? gi.nlinks : MAX_LINKS;
    r->col_name = soma_calloc(nl ? nl : 1, sizeof(char *));
    r->col = soma_calloc(nl ? nl : 1, sizeof(double *));
    if (!r->col_name || !r->col) {
        H5Gclose(g);
        return soma_error(SOMA_ERR_NOMEM, "nwb: out of memory");
    }
    for (hsize_t i = 0; i < nl; i++) {
        char name[256], path[300], ipath[320];
        ssize_t len = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT);
        if (len <= 0 || len >= (ssize_t)sizeof name) continue;
        if (!strcmp(name, "start_time") || !strcmp(name, "stop_time") || !strcmp(name, "id")) continue;
        if (len > 6 && !strcmp(name + len - 6, "_index")) continue;
        snprintf(path, sizeof path, "/intervals/trials/%s", name);
        snprintf(ipath, sizeof ipath, "%s_index", path);
        if (exists_(R, ipath)) continue; /* a ragged column */
        hid_t d;
        num_ c;
        st = open_num_(R, path, 0, 1, 1, &d, &c);
        if (st != SOMA_OK && c.not_numbers) continue; /* strings, groups, 2-D: not a column of ours */
        if (st != SOMA_OK) {
            H5Gclose(g);
            return st;
        }
        H5Dclose(d);
        if (c.n != a.n) {
            H5Gclose(g);
            return soma_error(SOMA_ERR_FORMAT, "nwb: %s: %s has %zu rows but the table %zu trials", R->label, path, c.n,
                              a.n);
        }
        double *v;
        st = read_num_(R, path, 0, 1, 1, H5T_NATIVE_DOUBLE, (void **)&v, &c);
        if (st != SOMA_OK) {
            H5Gclose(g);
            return st;
        }
        r->col[r->n_cols] = v;
        r->col_name[r->n_cols] = soma_alloc((size_t)len + 1, 1);
        if (!r->col_name[r->n_cols]) {
            soma_free(v);
            H5Gclose(g);
            return soma_error(SOMA_ERR_NOMEM, "nwb: out of memory");
        }
        memcpy(r->col_name[r->n_cols], name, (size_t)len + 1);
        r->n_cols++;
    }
    H5Gclose(g);
    return SOMA_OK;
}

// --- NWB: behaviour time series --------------------------------------------------------------

static soma_status read_rate_(const rd_ *R, const char *path, double *rate) {
    hid_t d = H5Dopen2(R->f, path, H5P_DEFAULT);
    if (d < 0) return soma_error(SOMA_ERR_FORMAT, "nwb: %s: %s is not a dataset", R->label, path);
    soma_status st = SOMA_OK;
    if (H5Aexists(d, "rate") <= 0) {
        H5Dclose(d);
        return soma_error(SOMA_ERR_FORMAT, "nwb: %s: %s has no rate attribute", R->label, path);
    }
    hid_t a = H5Aopen(d, "rate", H5P_DEFAULT);
    hid_t ty = a >= 0 ? H5Aget_type(a) : -1, sp = a >= 0 ? H5Aget_space(a) : -1;
    H5T_class_t cls = ty >= 0 ? H5Tget_class(ty) : H5T_NO_CLASS;
    if (a < 0 || sp < 0 || (cls != H5T_FLOAT && cls != H5T_INTEGER) || H5Sget_simple_extent_npoints(sp) != 1 ||
        H5Aread(a, H5T_NATIVE_DOUBLE, rate) < 0 || !isfinite(*rate) || *rate <= 0)
        st = soma_error(SOMA_ERR_FORMAT, "nwb: %s: %s's rate attribute is not one positive number", R->label, path);
    if (ty >= 0) H5Tclose(ty);
    if (sp >= 0) H5Sclose(sp);
    if (a >= 0) H5Aclose(a);
    H5Dclose(d);
    return st;
}

/* The series whose data is at group/data. */
static soma_status read_series_(rd_ *R, soma_recording *r, const char *group) {
    char dpath[600], tpath[620];
    snprintf(dpath, sizeof dpath, "%s/data", group);
    hid_t d;
    num_ nd;
    soma_status st = open_num_(R, dpath, 0, 1, 2, &d, &nd);
    if (st != SOMA_OK) return nd.not_numbers ? SOMA_OK : st; /* images, strings, ...: skipped */
    H5Dclose(d);
    int has_ts = (snprintf(tpath, sizeof tpath, "%s/timestamps", group), exists_(R, tpath));
    if (!has_ts && (snprintf(tpath, sizeof tpath, "%s/starting_time", group), !exists_(R, tpath)))
        return SOMA_OK; /* no time base: not a time series we know */
    soma_series s = {0};
    num_ nt;
    s.n = (long)nd.dims[0];
    s.dim = (int)nd.dims[1];
    if (nd.dims[1] > 65536)
        return soma_error(SOMA_ERR_FORMAT, "nwb: %s: %s has %llu columns", R->label, dpath,
                          (unsigned long long)nd.dims[1]);
    if ((st = read_num_(R, dpath, 0, 1, 2, H5T_NATIVE_FLOAT, (void **)&s.data, &nd))) return st;
    if (has_ts) {
        if ((st = read_num_(R, tpath, 0, 1, 1, H5T_NATIVE_DOUBLE, (void **)&s.t, &nt))) goto fail;
        if (nt.n != (size_t)s.n) {
            st = soma_error(SOMA_ERR_FORMAT, "nwb: %s: %s has %zu values but data %ld rows", R->label, tpath, nt.n, s.n);
            goto fail;
        }
        if ((st = check_finite_(R, tpath, s.t, nt.n))) goto fail;
        for (long i = 0; i < s.n; i++) {
            if (i && s.t[i] < s.t[i - 1]) {
                st = soma_error(SOMA_ERR_FORMAT, "nwb: %s: %s decreases at %ld", R->label, tpath, i);
                goto fail;
            }
        }
        for (long i = 0; i < s.n; i++) s.t[i] *= 1000.0;
    } else {
        double *t0, rate;
        if ((st = read_num_(R, tpath, 0, 0, 1, H5T_NATIVE_DOUBLE, (void **)&t0, &nt))) goto fail;
        double start = t0[0];
        int n1 = nt.n == 1;
        soma_free(t0);
        if (!n1 || !isfinite(start)) {
            st = soma_error(SOMA_ERR_FORMAT, "nwb: %s: %s is not one finite number", R->label, tpath);
            goto fail;
        }
        if ((st = read_rate_(R, tpath, &rate))) goto fail;
        s.t = soma_alloc((size_t)(s.n ? s.n : 1), sizeof(double));
        if (!s.t) {
            st = soma_error(SOMA_ERR_NOMEM, "nwb: out of memory");
            goto fail;
        }
        for (long i = 0; i < s.n; i++) s.t[i] = (start + (double)i / rate) * 1000.0;
    }
    s.name = soma_alloc(strlen(group), 1);
    if (!s.name) {
        st = soma_error(SOMA_ERR_NOMEM, "nwb: out of memory");
        goto fail;
    }
    memcpy(s.name, group + 1, strlen(group)); /* without the leading '/' */
    soma_series *grown = soma_alloc((size_t)r->n_series + 1, sizeof *grown);
    if (!grown) {
        st = soma_error(SOMA_ERR_NOMEM, "nwb: out of memory");
        goto fail;
    }
    if (r->n_series) memcpy(grown, r->series, (size_t)r->n_series * sizeof *grown);
    soma_free(r->series);
    r->series = grown;
    r->series[r->n_series++] = s;
    return SOMA_OK;
fail:
    soma_free(s.data);
    soma_free(s.t);
    soma_free(s.name);
    return st;
}

/* Visits the groups under path (depth-first, links in name order, no external links), reading
 * every group that holds a `data` as a series. Bounded in depth and count (a file may loop). */
static soma_status walk_(rd_ *R, soma_recording *r, const char *path, int depth) {
    if (depth > MAX_DEPTH || ++R->visited > MAX_VISIT) return SOMA_OK;
    hid_t g = H5Gopen2(R->f, path, H5P_DEFAULT);
    if (g < 0) return SOMA_OK;
    H5G_info_t gi;
    if (H5Gget_info(g, &gi) < 0) {
        H5Gclose(g);
        return SOMA_OK;
    }
    soma_status st = SOMA_OK;
    if (depth > 0 && H5Lexists(g, "data", R->lapl) > 0) st = read_series_(R, r, path);
    hsize_t nl = gi.nlinks < MAX_LINKS ? gi.nlinks : MAX_LINKS;
    for (hsize_t i = 0; st == SOMA_OK && i < nl; i++) {
        char name[256], child[600];
        ssize_t len = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT);
        if (len <= 0 || len >= (ssize_t)sizeof name) continue;
        H5L_info_t li;
        if (H5Lget_info(g, name, &li, H5P_DEFAULT) < 0 || li.type == H5L_TYPE_EXTERNAL) continue;
        if ((size_t)snprintf(child, sizeof child, "%s/%s", path, name) >= sizeof child - 32) continue;
        hid_t o = H5Oopen(g, name, R->lapl);
        if (o < 0) continue;
        H5I_type_t it = H5Iget_type(o);
        H5Oclose(o);
        if (it == H5I_GROUP) st = walk_(R, r, child, depth + 1);
    }
    H5Gclose(g);
    return st;
}

static int series_cmp_(const void *a, const void *b) {
    return strcmp(((const soma_series *)a)->name, ((const soma_series *)b)->name);
}

// --- NWB: the whole file ---------------------------------------------------------------------

static soma_status read_file_(hid_t f, const char *label, size_t file_size, soma_recording *r) {
    rd_ R = {.f = f, .label = label, .file_size = (double)file_size,
             .budget = BUDGET_RATIO * (double)file_size + (double)(1 << 24)};
    R.lapl = H5Pcreate(H5P_LINK_ACCESS);
    if (R.lapl < 0 || H5Pset_elink_cb(R.lapl, deny_elink_, NULL) < 0) {
        if (R.lapl >= 0) H5Pclose(R.lapl);
        return soma_error(SOMA_ERR_INTERNAL, "nwb: HDF5 property list");
    }
    soma_status st = read_units_(&R, r);
    if (st == SOMA_OK) st = read_trials_(&R, r);
    if (st == SOMA_OK && exists_(&R, "/processing")) st = walk_(&R, r, "/processing", 0);
    if (st == SOMA_OK && exists_(&R, "/acquisition")) st = walk_(&R, r, "/acquisition", 0);
    H5Pclose(R.lapl);
    if (st != SOMA_OK) return st;
    if (r->n_series > 1) qsort(r->series, (size_t)r->n_series, sizeof *r->series, series_cmp_);
    for (int k = 0; k < r->n_trials; k++)
        if (r->trial_stop[k] > r->spikes.t_stop) r->spikes.t_stop = r->trial_stop[k];
    return SOMA_OK;
}

static void quiet_(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

soma_status soma_nwb_read(const char *path, soma_recording *r) {
    memset(r, 0, sizeof *r);
    quiet_();
    FILE *fp = fopen(path, "rb");
    if (!fp) return soma_error(SOMA_ERR_IO, "nwb: cannot open %s: %s", path, strerror(errno));
    unsigned char sig[8] = {0};
    size_t got = fread(sig, 1, 8, fp);
    long size = fseek(fp, 0, SEEK_END) == 0 ? ftell(fp) : -1;
    fclose(fp);
    if (size < 0) return soma_error(SOMA_ERR_IO, "nwb: cannot size %s", path);
    if (got < 8 || memcmp(sig, "\x89HDF\r\n\x1a\n", 8) != 0)
        return soma_error(SOMA_ERR_FORMAT, "nwb: %s is not an HDF5 file (no HDF5 signature at its start)", path);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return soma_error(SOMA_ERR_FORMAT, "nwb: %s: HDF5 cannot open it (truncated or corrupt)", path);
    soma_status st = read_file_(f, path, (size_t)size, r);
    H5Fclose(f);
    if (st != SOMA_OK) soma_recording_free(r);
    return st;
}

soma_status soma_nwb_parse(const void *buf, size_t n, const char *label, soma_recording *r) {
    memset(r, 0, sizeof *r);
    quiet_();
    if (!buf || n < 8 || memcmp(buf, "\x89HDF\r\n\x1a\n", 8) != 0)
        return soma_error(SOMA_ERR_FORMAT, "nwb: %s is not an HDF5 image", label);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fapl_core(fapl, 1 << 16, 0) < 0 || H5Pset_file_image(fapl, (void *)buf, n) < 0) {
        if (fapl >= 0) H5Pclose(fapl);
        return soma_error(SOMA_ERR_FORMAT, "nwb: %s: HDF5 cannot take the image", label);
    }
    hid_t f = H5Fopen(label, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (f < 0) return soma_error(SOMA_ERR_FORMAT, "nwb: %s: HDF5 cannot open it (truncated or corrupt)", label);
    soma_status st = read_file_(f, label, n, r);
    H5Fclose(f);
    if (st != SOMA_OK) soma_recording_free(r);
    return st;
}

const double *soma_recording_col(const soma_recording *r, const char *name) {
    if (!r || !name) return NULL;
    if (!strcmp(name, "start_time")) return r->trial_start;
    if (!strcmp(name, "stop_time")) return r->trial_stop;
    for (int i = 0; i < r->n_cols; i++)
        if (!strcmp(r->col_name[i], name)) return r->col[i];
    return NULL;
}

const soma_series *soma_recording_series(const soma_recording *r, const char *name) {
    if (!r || !name) return NULL;
    for (int i = 0; i < r->n_series; i++)
        if (!strcmp(r->series[i].name, name)) return &r->series[i];
    for (int i = 0; i < r->n_series; i++) {
        const char *slash = strrchr(r->series[i].name, '/');
        if (slash && !strcmp(slash + 1, name)) return &r->series[i];
    }
    return NULL;
}

// --- spike tables: NPY and CSV -----------------------------------------------------------------

static int i64_cmp_(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* t (s) and raw ids (integers as doubles) of n spikes -> r: units are the distinct ids. */
static soma_status table_fill_(const char *label, const double *t, const double *idv, size_t n, soma_recording *r) {
    soma_status st = SOMA_OK;
    int64_t *u = soma_alloc(n ? n : 1, sizeof *u);
    spk_ *p = soma_alloc(n ? n : 1, sizeof *p);
    if (!u || !p) {
        st = soma_error(SOMA_ERR_NOMEM, "spikes: %s: out of memory for %zu spikes", label, n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(t[i])) {
            st = soma_error(SOMA_ERR_FORMAT, "spikes: %s: time %zu is not a finite number", label, i);
            goto out;
        }
        if (!(idv[i] == floor(idv[i])) || fabs(idv[i]) > 9e15) {
            st = soma_error(SOMA_ERR_FORMAT, "spikes: %s: unit id %zu (%g) is not an integer", label, i, idv[i]);
            goto out;
        }
        u[i] = (int64_t)idv[i];
    }
    qsort(u, n, sizeof *u, i64_cmp_);
    size_t nu = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || u[i] != u[nu - 1]) u[nu++] = u[i];
    if (nu > (size_t)1 << 24) {
        st = soma_error(SOMA_ERR_FORMAT, "spikes: %s: %zu units", label, nu);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t key = (int64_t)idv[i];
        int64_t *hit = bsearch(&key, u, nu, sizeof *u, i64_cmp_);
        p[i].id = (int)(hit - u);
        p[i].t = t[i] * 1000.0;
    }
    if ((st = spikes_fill_(r, p, n, (int)nu))) goto out;
    r->unit_id = u;
    u = NULL;
out:
    soma_free(u);
    soma_free(p);
    if (st != SOMA_OK) soma_recording_free(r);
    return st;
}

soma_status soma_spikes_read_npy(const char *times_path, const char *ids_path, soma_recording *r) {
    memset(r, 0, sizeof *r);
    soma_array a = {0}, b = {0};
    double *t = NULL, *id = NULL;
    soma_status st = soma_npy_read(times_path, &a);
    if (st == SOMA_OK && ids_path) st = soma_npy_read(ids_path, &b);
    if (st != SOMA_OK) goto out;
    size_t n;
    if (ids_path) {
        if (a.ndim != 1 || b.ndim != 1 || a.n != b.n) {
            st = soma_error(SOMA_ERR_FORMAT, "spikes: %s has %zu times and %s %zu ids; want two 1-D arrays of one length",
                            times_path, a.n, ids_path, b.n);
            goto out;
        }
        n = a.n;
    } else {
        if (a.ndim != 2 || a.shape[1] != 2) {
            st = soma_error(SOMA_ERR_FORMAT, "spikes: %s: want [n, 2] rows of (time s, unit id) or a separate ids file",
                            times_path);
            goto out;
        }
        n = (size_t)a.shape[0];
    }
    t = soma_alloc(n ? n : 1, sizeof *t);
    id = soma_alloc(n ? n : 1, sizeof *id);
    if (!t || !id) {
        st = soma_error(SOMA_ERR_NOMEM, "spikes: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        t[i] = soma_array_get(&a, ids_path ? i : 2 * i);
        id[i] = ids_path ? soma_array_get(&b, i) : soma_array_get(&a, 2 * i + 1);
    }
    st = table_fill_(times_path, t, id, n, r);
out:
    soma_array_deinit(&a);
    soma_array_deinit(&b);
    soma_free(t);
    soma_free(id);
    return st;
}

soma_status soma_spikes_read_csv(const char *path, soma_recording *r) {
    memset(r, 0, sizeof *r);
    FILE *fp = fopen(path, "rb");
    if (!fp) return soma_error(SOMA_ERR_IO, "spikes: cannot open %s: %s", path, strerror(errno));
    soma_status st = SOMA_OK;
    size_t cap = 1024, n = 0;
    double *t = soma_alloc(cap, sizeof *t), *id = soma_alloc(cap, sizeof *id);
    char line[512];
    long lineno = 0;
    if (!t || !id) {
        st = soma_error(SOMA_ERR_NOMEM, "spikes: out of memory");
        goto out;
    }
    while (fgets(line, sizeof line, fp)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            st = soma_error(SOMA_ERR_FORMAT, "spikes: %s:%ld: line too long", path, lineno);
            goto out;
        }
        char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (*s == '\n' || *s == '\r' || *s == '\0') continue;
        char *e1, *e2;
        errno = 0;
        double u = strtod(s, &e1);
        char *c = e1;
        while (*c == ' ' || *c == '\t') c++;
        int ok = e1 != s && *c == ',';
        double tv = ok ? strtod(c + 1, &e2) : 0;
        if (ok) {
            ok = e2 != c + 1;
            while (ok && (*e2 == ' ' || *e2 == '\t' || *e2 == '\r' || *e2 == '\n')) e2++;
            ok = ok && *e2 == '\0';
        }
        if (!ok) {
            if (n == 0 && lineno == 1 && strchr(line, ',')) continue; /* a header row */
            st = soma_error(SOMA_ERR_FORMAT, "spikes: %s:%ld: want \"unit,time\" (time in s)", path, lineno);
            goto out;
        }
        if (n == cap) {
            if (cap >= (size_t)1 << 31) {
                st = soma_error(SOMA_ERR_FORMAT, "spikes: %s: more than 2^31 rows", path);
                goto out;
            }
            double *t2 = soma_alloc(cap * 2, sizeof *t2), *i2 = soma_alloc(cap * 2, sizeof *i2);
            if (!t2 || !i2) {
                soma_free(t2);
                soma_free(i2);
                st = soma_error(SOMA_ERR_NOMEM, "spikes: out of memory");
                goto out;
            }
            memcpy(t2, t, n * sizeof *t);
            memcpy(i2, id, n * sizeof *id);
            soma_free(t);
            soma_free(id);
            t = t2, id = i2, cap *= 2;
        }
        t[n] = tv;
        id[n] = u;
        n++;
    }
    if (ferror(fp)) st = soma_error(SOMA_ERR_IO, "spikes: reading %s failed", path);
    if (st == SOMA_OK) st = table_fill_(path, t, id, n, r);
out:
    fclose(fp);
    soma_free(t);
    soma_free(id);
    return st;
}
