/* soma/io.h -- files: IDX (.gz), NPY, CSV, JSON, PNG; data sets.
 *
 * Readers never trust a header: every size is checked against the bytes actually present and
 * against overflow, and a bad file gives SOMA_ERR_FORMAT with a message naming the file and
 * what is wrong. Writers write to "<path>.tmp.<pid>", flush, fsync, then rename into place, so
 * a crash never leaves a half-written file under the real name.
 *
 *     soma_array a;
 *     SOMA_TRY(soma_npy_read("x.npy", &a));          // any supported dtype
 *     soma_tensor *x;
 *     SOMA_TRY(soma_array_to_f32(&a, &x));            // converted to float32
 *     soma_array_deinit(&a);
 *
 *     soma_dataset *train;
 *     SOMA_TRY(soma_dataset_load("fmnist", 1, NULL, &train));
 */
#ifndef SOMA_IO_H
#define SOMA_IO_H

#include <stdio.h>

#include "soma/core.h"

#ifdef __cplusplus
extern "C" {
#endif

// --- files -----------------------------------------------------------------------------

/* Reads a whole file (at most max_bytes; 0 = 4 GiB). *buf is soma_free'd by the caller. */
soma_status soma_file_read(const char *path, size_t max_bytes, void **buf, size_t *n);
/* Reads a gzip file's decompressed contents, or a plain file as is (detected by magic). */
soma_status soma_file_read_maybe_gz(const char *path, size_t max_bytes, void **buf, size_t *n);
/* Decompresses gzip data (one or more members) held in memory into a new buffer of *out_n
 * bytes (soma_free'd by the caller). Output over max_out bytes (0 = 4 GiB) is refused with
 * SOMA_ERR_FORMAT, as are truncated or corrupt streams and trailing garbage. */
soma_status soma_gunzip(const void *buf, size_t n, size_t max_out, void **out, size_t *out_n);
/* Writes buf atomically (temp file + fsync + rename). */
soma_status soma_file_write_atomic(const char *path, const void *buf, size_t n);

/* Streaming atomic writes: open a temp file beside path, write to f, then commit (fsync +
 * rename) or abort (remove the temp file). */
typedef struct soma_atomic_file {
    FILE *f;
    char path[1024];
    char tmp[1100];
} soma_atomic_file;
soma_status soma_atomic_open(soma_atomic_file *af, const char *path);
soma_status soma_atomic_commit(soma_atomic_file *af);
void soma_atomic_abort(soma_atomic_file *af);

/* mkdir -p. */
soma_status soma_mkdir_p(const char *path);

// --- typed n-dimensional arrays (NPY, IDX) ---------------------------------------------

typedef enum soma_dtype {
    SOMA_DTYPE_F32 = 0,
    SOMA_DTYPE_F64 = 1,
    SOMA_DTYPE_I32 = 2,
    SOMA_DTYPE_I64 = 3,
    SOMA_DTYPE_U8 = 4,
    SOMA_DTYPE_I8 = 5,
    SOMA_DTYPE_I16 = 6,
    SOMA_DTYPE_COUNT
} soma_dtype;
size_t soma_dtype_size(soma_dtype t);
const char *soma_dtype_name(soma_dtype t);

#define SOMA_ARRAY_MAX_DIMS 8
/* A caller-owned struct; data (native byte order, C order) is owned by it. */
typedef struct soma_array {
    soma_dtype dtype;
    int ndim;
    int64_t shape[SOMA_ARRAY_MAX_DIMS];
    size_t n; /* element count */
    void *data;
} soma_array;
void soma_array_deinit(soma_array *a); /* frees data; safe on a zeroed struct */
/* Converts to a new float32 tensor (ndim <= 4). */
soma_status soma_array_to_f32(const soma_array *a, soma_tensor **out);
/* Element i as double / as int64. */
double soma_array_get(const soma_array *a, size_t i);

// --- NPY -------------------------------------------------------------------------------

/* Reads .npy versions 1.0, 2.0, 3.0; dtypes <f4 >f4 <f8 >f8 <i4 >i4 <i8 >i8 |u1 |i1 <i2 >i2
 * (and |b1 as uint8); fortran_order True is converted to C order; data come out in native
 * byte order. Shapes () (a scalar: ndim 0, n 1) up to 8 dimensions. The data must be exactly
 * what the header announces. out is zeroed on failure. */
soma_status soma_npy_read(const char *path, soma_array *out);
soma_status soma_npy_parse(const void *buf, size_t n, const char *label, soma_array *out);
/* Writes version 1.0 (2.0 if the header needs it), little-endian, C order, atomically. */
soma_status soma_npy_write(const char *path, soma_dtype dtype, int ndim, const int64_t *shape,
                           const void *data);
soma_status soma_npy_write_f32(const char *path, int ndim, const int *shape, const float *data);

// --- IDX (MNIST format), plain or gzip -------------------------------------------------

/* Types 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64 (big-endian on disk). */
soma_status soma_idx_read(const char *path, soma_array *out);
soma_status soma_idx_parse(const void *buf, size_t n, const char *label, soma_array *out);

// --- CSV -------------------------------------------------------------------------------

/* A numeric CSV (comma-separated; an optional header row of names is detected and skipped:
 * the first non-blank row is a header when any of its fields is not a number; fields may be
 * quoted, "" escapes a quote; blank lines and \r\n endings are fine; every row must have the
 * same column count). out is [rows, cols]. header_names may be NULL; otherwise it receives
 * cols soma_free'd strings (NULL if there was no header; free with soma_csv_free_header).
 * Errors (SOMA_ERR_PARSE) give the line and column. */
soma_status soma_csv_read(const char *path, soma_tensor **out, char ***header_names);
soma_status soma_csv_parse(const char *buf, size_t n, const char *label, soma_tensor **out,
                           char ***header_names);
void soma_csv_free_header(char **names, int cols);
/* Writes rows x cols floats, with an optional header (NULL for none), atomically. */
soma_status soma_csv_write(const char *path, const float *x, int rows, int cols,
                           const char *const *header);

// --- JSON (cJSON) ----------------------------------------------------------------------

struct cJSON;
/* Parses a JSON file; *out is freed with cJSON_Delete. */
soma_status soma_json_read(const char *path, struct cJSON **out);
/* Parses n bytes of JSON from memory (no NUL needed; at most 256 MiB); label names the source
 * in error messages ("json: LABEL: syntax error at line 3, column 7"). */
soma_status soma_json_parse(const char *buf, size_t n, const char *label, struct cJSON **out);
/* Writes pretty-printed JSON atomically. */
soma_status soma_json_write(const char *path, const struct cJSON *json);

// --- PNG -------------------------------------------------------------------------------

/* 8-bit PNG with 1 (gray), 3 (RGB) or 4 (RGBA) channels, rows top to bottom. */
soma_status soma_png_write(const char *path, const uint8_t *pix, int w, int h, int channels);
/* Reads any PNG, converted to 8-bit with *channels (in: what is wanted, out: what was given)
 * 1, 3 or 4; 0 keeps the stored kind: gray -> 1, RGB and palette -> 3, anything with alpha
 * (gray+alpha, RGBA, or a tRNS chunk) -> 4. 16-bit samples keep their high byte; color to
 * gray uses libpng's default weights; a missing alpha is filled with 255. *pix
 * (h rows of w*channels bytes) is soma_free'd by the caller. Images over 2^28 pixels are
 * refused; corrupt or truncated files give SOMA_ERR_FORMAT. */
soma_status soma_png_read(const char *path, uint8_t **pix, int *w, int *h, int *channels);
soma_status soma_png_parse(const void *buf, size_t n, uint8_t **pix, int *w, int *h,
                           int *channels);
/* n images of h x w floats (one channel) as a grid of `cols` columns with a 1-pixel mid-gray
 * (128) border, each image scaled to its own [min, max] (normalize = 1; a flat image is black)
 * or clamped to [0, 1] (0); NaN draws black; zoom 1..64 repeats pixels. A gray PNG of
 * (cols*(w*zoom+1)+1) x (rows*(h*zoom+1)+1) pixels, written atomically. */
soma_status soma_png_write_grid(const char *path, const float *imgs, int n, int h, int w,
                                int cols, int normalize, int zoom);

// --- data sets -------------------------------------------------------------------------

/* N samples of one per-sample shape (core.h's convention: [D] a vector, [C,H,W] an image,
 * [T,...] a sequence). Pixels are stored as bytes (x_u8, scaled by `scale` on the way out) or
 * as floats (x_f32); exactly one is non-NULL. Targets are either integer labels y [n, y_len]
 * (y_len 1: one class a sample; T: one a position of a sequence) or float targets t [n, t_dim]
 * of per-sample shape t_shape (regression; y NULL, n_classes 0). */
typedef struct soma_dataset {
    char name[64];
    int n;
    soma_shape shape; /* per sample */
    size_t dim;       /* soma_shape_size(shape) */
    int n_classes;
    uint8_t *x_u8;
    float scale; /* x = x_u8 * scale (1/255 by default, as torchvision's ToTensor) */
    float *x_f32;
    int *y; /* labels in 0..n_classes-1, y_len a sample */
    int y_len;          /* labels a sample (1, or T for per-position labels) */
    float *t;           /* float targets [n, t_dim], NULL unless regression */
    size_t t_dim;
    soma_shape t_shape; /* per-sample shape of the targets (rank 0 when none) */
} soma_dataset;

/* Where to find Fashion-MNIST: the dir argument if non-NULL, else $SOMA_FMNIST_DIR, else
 * /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist). */
const char *soma_fmnist_dir(const char *dir);

/* Loads a data set by spec:
 *   "fmnist"             Fashion-MNIST (train or test split)
 *   "idx:IMAGES,LABELS"  any IDX pair (.gz or plain); [N,H,W] or [N,C,H,W] images
 *   "npy:X,Y"            X [N,D], [N,T,D], [N,H,W], [N,C,H,W] or [N,T,C,H,W] (any numeric
 *                        dtype, taken as given); Y integers [N] (classes) or [N,T] (a class a
 *                        position), or floats of any shape [N,...] (regression targets)
 * For idx and npy the same files serve both splits unless "idx:TRAINI,TRAINL;TESTI,TESTL":
 * soma_dataset_spec_has_test tells which. */
soma_status soma_dataset_load(const char *spec, int train, const char *fmnist_dir,
                              soma_dataset **out);
soma_status soma_dataset_fmnist(const char *dir, int train, soma_dataset **out);
/* 1 when spec names a test split of its own (fmnist, or two pairs "A,B;C,D"), 0 when the
 * test split would be the training files again. */
int soma_dataset_spec_has_test(const char *spec);
/* Builds a data set from an image array and a label array (validated: counts, label range);
 * float y arrays become regression targets, integer [N,T] ones per-position labels. */
soma_status soma_dataset_from_arrays(const soma_array *x, const soma_array *y, const char *name,
                                     soma_dataset **out);

/* Synthetic data for tests and experiments, the same for the same seed on every machine:
 *   "gauss"   n samples of dim features in k balanced Gaussian classes (std 1) whose means are
 *             `sep` apart (one axis per class when dim >= k, else spaced along axis 0)
 *   "xor"     2-D XOR (dim 2, k 2 or 0): quadrant points whose coordinates are >= sep/2 away
 *             from the axes (sep/2 capped at 0.9), label = sign(x0) != sign(x1)
 *   "linear"  (k 2 or 0) standard normal points pushed sep/2 away from a random hyperplane
 *             through the origin, labelled by side: a margin of sep
 * Stored as x_f32 with shape [dim]. */
soma_status soma_dataset_synthetic(const char *kind, int n, int dim, int k, float sep,
                                   uint64_t seed, soma_dataset **out);
void soma_dataset_free(soma_dataset *d);
/* Gathers samples idx[0..n) into x [n, dim] (floats; bytes times d->scale) and y [n] (y may
 * be NULL). No allocation; safe to call from several threads on one data set. An index
 * outside 0..d->n-1 is a caller bug (SOMA_ASSERT). */
void soma_dataset_batch(const soma_dataset *d, const int *idx, int n, float *x, int *y);
/* Gathers the targets of samples idx[0..n): labels into y [n, y_len] (may be NULL) and float
 * targets into t [n, t_dim] (may be NULL; ignored when the set has none). */
void soma_dataset_batch_targets(const soma_dataset *d, const int *idx, int n, int *y, float *t);
/* A copy of samples idx[0..n) of d (n >= 1), named name: SOMA_ERR_ARG for an index outside
 * 0..d->n-1, SOMA_ERR_NOMEM when memory runs out. */
soma_status soma_dataset_gather(const soma_dataset *d, const int *idx, int n, const char *name, soma_dataset **out);
/* The first n samples as a view-like copy (a smaller set for quick tests). */
soma_status soma_dataset_subset(const soma_dataset *d, int n, soma_dataset **out);
/* A held-out split: a shuffled fraction val_frac (0 < val_frac < 1) of d, drawn with seed,
 * goes to *val, the rest to *train (both copies; d is untouched). SOMA_ERR_ARG when a part
 * would be empty. */
soma_status soma_dataset_split(const soma_dataset *d, double val_frac, uint64_t seed,
                               soma_dataset **train, soma_dataset **val);

#ifdef __cplusplus
}
#endif
#endif
