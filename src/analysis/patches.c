/* Natural-image patches for sparse coding (declared in soma/analysis.h).
 *
 * Whitening. Each image is whitened by Olshausen & Field's (1996) filter, applied in the 2-D
 * frequency domain: R(f) = f exp(-(f / f0)^4), f the radial frequency in cycles/pixel and
 * f0 = 0.4 cycles/pixel (their 200 cycles/picture on 512-pixel images, 0.8 of the Nyquist
 * frequency). Natural images have an amplitude spectrum close to 1/f, so the ramp f flattens it
 * (decorrelates neighbouring pixels) and the exp(-(f/f0)^4) roll-off keeps the corner
 * frequencies, where pixelation and noise dominate, from being amplified. We chose the
 * frequency-domain filter over ZCA on the patches because it is the paper's own, acts on the
 * whole image (no patch-edge effects), and does not depend on the sample of patches drawn
 * (ZCA's eigenvectors would change with the seed and n). The FFT is our own radix-2
 * complex transform: the image (after its mean is removed) is cropped, centred, to the largest
 * power of two in each dimension (512 x 512 for most of skimage's photographs). The filter
 * treats the image as periodic, so patches are cut at least EDGE_ pixels away from its border.
 *
 * Patches. A patch is drawn by picking an image uniformly, then a position uniformly inside it
 * (one soma_rng stream, seed o->seed), so the set is the same for a seed on any machine and
 * thread count. Each patch has its mean removed; the whole set is scaled to unit variance
 * (the mean of all squared values is 1).
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "soma/analysis.h"
#include "soma/io.h"

#define EDGE_ 4
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#define F0_ 0.4 /* cycles/pixel */

static const char *const names_[] = {
    "astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png", "coins.png",
    "grass.png", "gravel.png", "motorcycle_left.png", "motorcycle_right.png", NULL,
};

const char *const *soma_natural_image_names(void) { return names_; }

const char *soma_images_dir(const char *dir) {
    if (dir && dir[0]) return dir;
    const char *e = getenv("SOMA_IMAGES_DIR");
    if (e && e[0]) return e;
    return "/usr/lib/python3/dist-packages/skimage/data";
}

// --- FFT ---------------------------------------------------------------------------------

/* In-place radix-2 complex FFT of n (a power of two) contiguous points; twiddles tc, ts [n/2]
 * hold cos and sin of -2 pi j / n; inv = 1: the inverse (conjugate twiddles) without the 1/n. */
static void fft1_(double *re, double *im, int n, const double *tc, const double *ts, int inv) {
    for (int i = 1, j = 0; i < n; i++) { /* bit reversal */
        int bit = n >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j ^= bit;
        if (i < j) {
            double t = re[i];
            re[i] = re[j];
            re[j] = t;
            t = im[i];
            im[i] = im[j];
            im[j] = t;
        }
    }
    double sg = inv ? -1.0 : 1.0;
    for (int len = 2; len <= n; len <<= 1) {
        int step = n / len;
        for (int k = 0; k < len / 2; k++) {
            double wr = tc[k * step], wi = sg * ts[k * step];
            for (int i = k; i < n; i += len) {
                int b = i + len / 2;
                double xr = re[b] * wr - im[b] * wi, xi = re[b] * wi + im[b] * wr;
                re[b] = re[i] - xr;
                im[b] = im[i] - xi;
                re[i] += xr;
                im[i] += xi;
            }
        }
    }
}

static void twiddles_(double *tc, double *ts, int n) {
    for (int j = 0; j < n / 2; j++) {
        tc[j] = cos(-2.0 * M_PI * j / n);
        ts[j] = sin(-2.0 * M_PI * j / n);
    }
}

static void transpose_(double *dst, const double *src, int h, int w) { /* src [h, w] -> dst [w, h] */
    for (int x = 0; x < w; x++)
        for (int y = 0; y < h; y++) dst[(size_t)x * h + y] = src[(size_t)y * w + x];
}

/* 2-D FFT of an h x w (powers of two) complex image: rows, then (transposed) columns. t: 2 h w
 * doubles of scratch, tw: twiddles of w then of h (w/2 + h/2 cos, then as many sin). */
static void fft2_(double *re, double *im, double *t, int h, int w, const double *tw, int inv) {
    const double *cw = tw, *sw = tw + w / 2, *ch = tw + w, *sh = tw + w + h / 2;
    for (int y = 0; y < h; y++) fft1_(re + (size_t)y * w, im + (size_t)y * w, w, cw, sw, inv);
    double *tr = t, *ti = t + (size_t)h * w;
    transpose_(tr, re, h, w);
    transpose_(ti, im, h, w);
    for (int x = 0; x < w; x++) fft1_(tr + (size_t)x * h, ti + (size_t)x * h, h, ch, sh, inv);
    transpose_(re, tr, w, h);
    transpose_(im, ti, w, h);
}

static int pow2_(int n) { return n > 0 && (n & (n - 1)) == 0; }

soma_status soma_image_whiten(float *img, int h, int w) {
    if (!img || !pow2_(h) || !pow2_(w) || h < 4 || w < 4)
        return soma_error(SOMA_ERR_ARG, "image whiten: sides %d x %d must be powers of two >= 4", h, w);
    size_t n = (size_t)h * w;
    double *re = soma_alloc(n, sizeof(double)), *im = soma_calloc(n, sizeof(double));
    double *t = soma_alloc(2 * n, sizeof(double)), *tw = soma_alloc((size_t)(h + w), sizeof(double));
    if (!re || !im || !t || !tw) {
        soma_free(re);
        soma_free(im);
        soma_free(t);
        soma_free(tw);
        return SOMA_ERR_NOMEM;
    }
    twiddles_(tw, tw + w / 2, w);
    twiddles_(tw + w, tw + w + h / 2, h);
    double mean = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(img[i])) {
            soma_free(re);
            soma_free(im);
            soma_free(t);
            soma_free(tw);
            return soma_error(SOMA_ERR_ARG, "image whiten: non-finite pixel at row %zu", i / (size_t)w);
        }
        mean += img[i];
    }
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) re[i] = img[i] - mean;
    fft2_(re, im, t, h, w, tw, 0);
    for (int y = 0; y < h; y++) {
        double fy = (double)(y <= h / 2 ? y : y - h) / h;
        for (int x = 0; x < w; x++) {
            double fx = (double)(x <= w / 2 ? x : x - w) / w;
            double f = sqrt(fx * fx + fy * fy), q = f / F0_;
            double g = f * exp(-q * q * q * q);
            re[(size_t)y * w + x] *= g;
            im[(size_t)y * w + x] *= g;
        }
    }
    fft2_(re, im, t, h, w, tw, 1);
    for (size_t i = 0; i < n; i++) img[i] = (float)(re[i] / (double)n);
    soma_free(re);
    soma_free(im);
    soma_free(t);
    soma_free(tw);
    return SOMA_OK;
}

// --- images ------------------------------------------------------------------------------

typedef struct img_ {
    float *p;
    int h, w;
} img_;

static int largest_pow2_(int n) {
    int p = 1;
    while (p * 2 <= n) p *= 2;
    return p;
}

/* Reads path as gray, crops it centred to powers of two, scales to [0, 1], whitens. */
static soma_status load_(const char *path, int whiten, int size, img_ *out) {
    uint8_t *pix = NULL;
    int w, h, ch = 1;
    SOMA_TRY(soma_png_read(path, &pix, &w, &h, &ch));
    int ch2 = largest_pow2_(h), cw2 = largest_pow2_(w);
    if (ch2 < size + 2 * EDGE_ || cw2 < size + 2 * EDGE_) {
        soma_free(pix);
        return soma_error(SOMA_ERR_ARG, "images: %s is %d x %d, too small for %d-pixel patches", path, w, h, size);
    }
    int oy = (h - ch2) / 2, ox = (w - cw2) / 2;
    out->h = ch2;
    out->w = cw2;
    out->p = soma_alloc((size_t)ch2 * cw2, sizeof(float));
    if (!out->p) {
        soma_free(pix);
        return SOMA_ERR_NOMEM;
    }
    for (int y = 0; y < ch2; y++)
        for (int x = 0; x < cw2; x++) out->p[(size_t)y * cw2 + x] = pix[(size_t)(y + oy) * w + x + ox] / 255.f;
    soma_free(pix);
    if (whiten) {
        soma_status st = soma_image_whiten(out->p, ch2, cw2);
        if (st != SOMA_OK) {
            soma_free(out->p);
            out->p = NULL;
            return soma_error_wrap(st, "images: %s", path);
        }
    }
    return SOMA_OK;
}

static int cmp_str_(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The files to read: the default photographs present in dir; when none is, every .png in it
 * (sorted by name). *names is a NULL-terminated list of soma_alloc'd strings. */
static soma_status list_files_(const char *dir, char ***names, int *count) {
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return soma_error(SOMA_ERR_ARG,
                          "images: directory %s not found; HINT: install python3-skimage or set SOMA_IMAGES_DIR", dir);
    int cap = 64, n = 0;
    char **v = soma_calloc((size_t)cap + 1, sizeof(char *));
    if (!v) return SOMA_ERR_NOMEM;
    char path[4096];
    for (const char *const *p = names_; *p; p++) {
        snprintf(path, sizeof path, "%s/%s", dir, *p);
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && n < cap) {
            v[n] = soma_alloc(strlen(*p) + 1, 1);
            if (!v[n]) goto nomem;
            strcpy(v[n++], *p);
        }
    }
    if (n == 0) {
        DIR *d = opendir(dir);
        if (!d) {
            soma_free(v);
            return soma_error(SOMA_ERR_IO, "images: cannot read directory %s", dir);
        }
        struct dirent *e;
        while ((e = readdir(d)) != NULL && n < cap) {
            size_t len = strlen(e->d_name);
            if (len < 5 || strcmp(e->d_name + len - 4, ".png") != 0) continue;
            v[n] = soma_alloc(len + 1, 1);
            if (!v[n]) {
                closedir(d);
                goto nomem;
            }
            strcpy(v[n++], e->d_name);
        }
        closedir(d);
        qsort(v, (size_t)n, sizeof *v, cmp_str_);
    }
    if (n == 0) {
        soma_free(v);
        return soma_error(SOMA_ERR_ARG, "images: no PNG image in %s", dir);
    }
    *names = v;
    *count = n;
    return SOMA_OK;
nomem:
    for (int i = 0; i < n; i++) soma_free(v[i]);
    soma_free(v);
    return SOMA_ERR_NOMEM;
}

soma_status soma_image_patches(const char *dir, const soma_patch_opts *o, float **out) {
    if (!o || !out) return soma_error(SOMA_ERR_ARG, "image patches: NULL options or output");
    *out = NULL;
    if (o->size < 2 || o->size > 256)
        return soma_error(SOMA_ERR_ARG, "image patches: size %d must be in [2, 256]", o->size);
    if (o->n < 1 || o->n > (1L << 28))
        return soma_error(SOMA_ERR_ARG, "image patches: n = %ld must be in [1, 2^28]", o->n);
    dir = soma_images_dir(dir);
    char **names = NULL;
    int n_img = 0;
    SOMA_TRY(list_files_(dir, &names, &n_img));
    soma_status st = SOMA_OK;
    img_ *im = soma_calloc((size_t)n_img, sizeof(img_));
    int s = o->size, d = s * s;
    float *P = soma_alloc((size_t)o->n, (size_t)d * sizeof(float));
    if (!im || !P) {
        st = SOMA_ERR_NOMEM;
        goto done;
    }
    /* one image a thread (serial inside): the error of the first failing image is kept */
    soma_status *sts = soma_alloc((size_t)n_img, sizeof(soma_status));
    char(*msgs)[512] = soma_alloc((size_t)n_img, 512);
    if (!sts || !msgs) {
        soma_free(sts);
        soma_free(msgs);
        st = SOMA_ERR_NOMEM;
        goto done;
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1)
#endif
    for (int i = 0; i < n_img; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        sts[i] = load_(path, o->whiten, s, &im[i]);
        snprintf(msgs[i], 512, "%s", sts[i] == SOMA_OK ? "" : soma_errmsg());
    }
    for (int i = 0; i < n_img && st == SOMA_OK; i++)
        if (sts[i] != SOMA_OK) st = soma_error(sts[i], "%s", msgs[i]);
    soma_free(sts);
    soma_free(msgs);
    if (st != SOMA_OK) goto done;
    soma_rng r;
    soma_rng_seed(&r, o->seed, 0);
    double ss = 0.0;
    for (long i = 0; i < o->n; i++) {
        const img_ *m = &im[soma_rng_below(&r, (uint64_t)n_img)];
        int y0 = EDGE_ + (int)soma_rng_below(&r, (uint64_t)(m->h - s - 2 * EDGE_ + 1));
        int x0 = EDGE_ + (int)soma_rng_below(&r, (uint64_t)(m->w - s - 2 * EDGE_ + 1));
        float *p = P + (size_t)i * d;
        double mean = 0.0;
        for (int y = 0; y < s; y++)
            for (int x = 0; x < s; x++) mean += p[y * s + x] = m->p[(size_t)(y0 + y) * m->w + x0 + x];
        mean /= d;
        for (int j = 0; j < d; j++) {
            p[j] = (float)(p[j] - mean);
            ss += (double)p[j] * p[j];
        }
    }
    double sd = sqrt(ss / ((double)o->n * d));
    if (!(sd > 0.0)) {
        st = soma_error(SOMA_ERR_ARG, "image patches: every patch drawn from %s is flat", dir);
        goto done;
    }
    float inv = (float)(1.0 / sd);
    for (size_t j = 0; j < (size_t)o->n * d; j++) P[j] *= inv;
    *out = P;
    P = NULL;
done:
    for (int i = 0; i < n_img; i++) {
        if (im) soma_free(im[i].p);
        soma_free(names[i]);
    }
    soma_free(names);
    soma_free(im);
    soma_free(P);
    return st;
}
