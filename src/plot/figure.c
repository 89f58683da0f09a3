/* The figure builder: panels and their series (copies of the caller's data). Rendering to
 * SVG lives in render.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot/figure.h"

// --- copies ----------------------------------------------------------------------------

static void *dup_mem(const void *p, size_t n, size_t size, int *fail) {
    if (!p || n == 0) return NULL;
    void *q = malloc(n * size);
    if (!q) {
        *fail = 1;
        return NULL;
    }
    memcpy(q, p, n * size);
    return q;
}

static char *dup_str(const char *s, int *fail) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *q = malloc(n);
    if (!q) {
        *fail = 1;
        return NULL;
    }
    memcpy(q, s, n);
    return q;
}

static char **dup_strv(const char *const *v, int n, int *fail) {
    if (!v || n <= 0) return NULL;
    char **q = calloc((size_t)n, sizeof *q);
    if (!q) {
        *fail = 1;
        return NULL;
    }
    for (int i = 0; i < n; i++) q[i] = dup_str(v[i] ? v[i] : "", fail);
    return q;
}

static void free_strv(char **v, int n) {
    if (!v) return;
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

static void item_free(soma__item *it) {
    free(it->label);
    free(it->x);
    free(it->y);
    free(it->ids);
    free_strv(it->names, it->n_names);
    free(it->m);
    free_strv(it->row_labels, it->rows);
    free_strv(it->col_labels, it->cols);
    free(it->cbar_label);
    memset(it, 0, sizeof *it);
}

// --- figure ----------------------------------------------------------------------------

soma_status soma_fig_new(soma_fig **out, int rows, int cols, int width, int height) {
    if (!out) return soma_error(SOMA_ERR_ARG, "fig: out is NULL");
    *out = NULL;
    if (rows < 1 || rows > 16 || cols < 1 || cols > 16)
        return soma_error(SOMA_ERR_ARG, "fig: %d x %d panels; HINT: rows and cols in 1..16",
                          rows, cols);
    if (width < 100 || width > 8000 || height < 100 || height > 8000)
        return soma_error(SOMA_ERR_ARG, "fig: size %d x %d px; HINT: 100..8000 each", width,
                          height);
    soma_fig *f = calloc(1, sizeof *f);
    if (!f) return soma_error(SOMA_ERR_NOMEM, "fig: out of memory");
    f->panels = calloc((size_t)rows * cols, sizeof *f->panels);
    if (!f->panels) {
        free(f);
        return soma_error(SOMA_ERR_NOMEM, "fig: out of memory");
    }
    f->rows = rows;
    f->cols = cols;
    f->width = width;
    f->height = height;
    for (int i = 0; i < rows * cols; i++) {
        f->panels[i].xlim[0] = f->panels[i].xlim[1] = NAN;
        f->panels[i].ylim[0] = f->panels[i].ylim[1] = NAN;
    }
    *out = f;
    return SOMA_OK;
}

void soma_fig_free(soma_fig *f) {
    if (!f) return;
    for (int i = 0; i < f->rows * f->cols; i++) {
        soma__panel *p = &f->panels[i];
        for (int k = 0; k < p->n_items; k++) item_free(&p->items[k]);
        free(p->items);
        free(p->title);
        free(p->xlabel);
        free(p->ylabel);
    }
    free(f->panels);
    free(f->title);
    free(f);
}

static soma_status get_panel(soma_fig *f, int panel, soma__panel **p) {
    if (!f) return soma_error(SOMA_ERR_ARG, "fig: figure is NULL");
    if (panel < 0 || panel >= f->rows * f->cols)
        return soma_error(SOMA_ERR_ARG, "fig: panel %d out of range 0..%d", panel,
                          f->rows * f->cols - 1);
    *p = &f->panels[panel];
    return SOMA_OK;
}

static soma_status set_str(char **dst, const char *s) {
    if (!s) return SOMA_OK;
    int fail = 0;
    char *q = dup_str(s, &fail);
    if (fail) return soma_error(SOMA_ERR_NOMEM, "fig: out of memory");
    free(*dst);
    *dst = q;
    return SOMA_OK;
}

soma_status soma_fig_title(soma_fig *f, const char *title) {
    if (!f) return soma_error(SOMA_ERR_ARG, "fig: figure is NULL");
    return set_str(&f->title, title ? title : "");
}

soma_status soma_fig_labels(soma_fig *f, int panel, const char *title, const char *xlabel,
                            const char *ylabel) {
    soma__panel *p = NULL;
    SOMA_TRY(get_panel(f, panel, &p));
    SOMA_TRY(set_str(&p->title, title));
    SOMA_TRY(set_str(&p->xlabel, xlabel));
    return set_str(&p->ylabel, ylabel);
}

soma_status soma_fig_logy(soma_fig *f, int panel, int on) {
    soma__panel *p = NULL;
    SOMA_TRY(get_panel(f, panel, &p));
    p->logy = on != 0;
    return SOMA_OK;
}

static soma_status set_lim(soma_fig *f, int panel, double lo, double hi, int y) {
    soma__panel *p = NULL;
    SOMA_TRY(get_panel(f, panel, &p));
    double *lim = y ? p->ylim : p->xlim;
    if (isnan(lo) || isnan(hi)) {
        lim[0] = lim[1] = NAN;
        return SOMA_OK;
    }
    if (!isfinite(lo) || !isfinite(hi) || !(lo < hi))
        return soma_error(SOMA_ERR_ARG, "fig: %s limits [%g, %g]; HINT: finite, lo < hi",
                          y ? "y" : "x", lo, hi);
    lim[0] = lo;
    lim[1] = hi;
    return SOMA_OK;
}

soma_status soma_fig_xlim(soma_fig *f, int panel, double lo, double hi) {
    return set_lim(f, panel, lo, hi, 0);
}

soma_status soma_fig_ylim(soma_fig *f, int panel, double lo, double hi) {
    return set_lim(f, panel, lo, hi, 1);
}

/* Checks the panel's mode and appends a slot; *it is zeroed. The slot only counts once
 * commit_item is called, so a failed copy leaves the figure unchanged. */
static soma_status new_item(soma_fig *f, int panel, soma__mode mode, soma__panel **pp,
                            soma__item **it) {
    soma__panel *p = NULL;
    SOMA_TRY(get_panel(f, panel, &p));
    if (p->n_items > 0 && p->mode != mode)
        return soma_error(SOMA_ERR_ARG, "fig: panel %d already holds another kind of plot "
                          "(x-y, heatmap and image grid do not mix); HINT: use another panel",
                          panel);
    if (p->n_items == p->cap) {
        int cap = p->cap ? p->cap * 2 : 4;
        soma__item *q = realloc(p->items, (size_t)cap * sizeof *q);
        if (!q) return soma_error(SOMA_ERR_NOMEM, "fig: out of memory");
        p->items = q;
        p->cap = cap;
    }
    *it = &p->items[p->n_items];
    memset(*it, 0, sizeof **it);
    *pp = p;
    return SOMA_OK;
}

static soma_status commit_item(soma__panel *p, soma__item *it, soma__mode mode, int fail) {
    if (fail) {
        item_free(it);
        return soma_error(SOMA_ERR_NOMEM, "fig: out of memory copying series");
    }
    p->mode = mode;
    p->n_items++;
    return SOMA_OK;
}

soma_status soma_fig_line(soma_fig *f, int panel, const float *x, const float *y, int n,
                          const char *label, const soma_line_style *style) {
    if (n < 0 || (n > 0 && !y)) return soma_error(SOMA_ERR_ARG, "fig: line: n=%d, y=%p", n,
                                                  (const void *)y);
    soma__panel *p = NULL;
    soma__item *it = NULL;
    SOMA_TRY(new_item(f, panel, SOMA__MODE_XY, &p, &it));
    int fail = 0;
    it->kind = SOMA__ITEM_LINE;
    it->n = n;
    it->y = dup_mem(y, (size_t)n, sizeof *y, &fail);
    if (x) it->x = dup_mem(x, (size_t)n, sizeof *x, &fail);
    it->label = dup_str(label, &fail);
    soma_line_style st = style ? *style : (soma_line_style){0};
    it->color = soma__color_resolve(st.color, p->n_auto);
    if (st.color == 0) p->n_auto++;
    it->dashed = st.dashed;
    it->markers = st.markers;
    it->width = st.width > 0 ? st.width : 1.8f;
    return commit_item(p, it, SOMA__MODE_XY, fail);
}

soma_status soma_fig_scatter(soma_fig *f, int panel, const float *x, const float *y,
                             const int *cls, int n, const char *const *class_names,
                             int n_classes) {
    if (n < 0 || (n > 0 && (!x || !y)) || n_classes < 0 || n_classes > 1000)
        return soma_error(SOMA_ERR_ARG, "fig: scatter: n=%d, n_classes=%d, x or y NULL", n,
                          n_classes);
    soma__panel *p = NULL;
    soma__item *it = NULL;
    SOMA_TRY(new_item(f, panel, SOMA__MODE_XY, &p, &it));
    int fail = 0;
    it->kind = SOMA__ITEM_SCATTER;
    it->n = n;
    it->x = dup_mem(x, (size_t)n, sizeof *x, &fail);
    it->y = dup_mem(y, (size_t)n, sizeof *y, &fail);
    if (cls) it->ids = dup_mem(cls, (size_t)n, sizeof *cls, &fail);
    it->n_classes = n_classes < 1 ? 1 : n_classes;
    it->names = dup_strv(class_names, n_classes, &fail);
    it->n_names = class_names ? n_classes : 0;
    return commit_item(p, it, SOMA__MODE_XY, fail);
}

soma_status soma_fig_heatmap(soma_fig *f, int panel, const float *m, int rows, int cols,
                             const soma_heatmap_opts *opts) {
    if (rows < 1 || cols < 1 || !m || (size_t)rows * cols > ((size_t)1 << 26))
        return soma_error(SOMA_ERR_ARG, "fig: heatmap: %d x %d matrix (m %s)", rows, cols,
                          m ? "given" : "NULL");
    soma_heatmap_opts o = opts ? *opts : (soma_heatmap_opts){0};
    if (o.fixed_limits && !(isfinite(o.vmin) && isfinite(o.vmax) && o.vmin < o.vmax))
        return soma_error(SOMA_ERR_ARG, "fig: heatmap: limits [%g, %g]; HINT: vmin < vmax",
                          o.vmin, o.vmax);
    soma__panel *p = NULL;
    soma__item *it = NULL;
    SOMA_TRY(new_item(f, panel, SOMA__MODE_HEAT, &p, &it));
    if (p->n_items > 0)
        return soma_error(SOMA_ERR_ARG, "fig: panel %d already holds a heatmap", panel);
    int fail = 0;
    size_t n = (size_t)rows * cols;
    it->kind = SOMA__ITEM_HEAT;
    it->rows = rows;
    it->cols = cols;
    it->m = dup_mem(m, n, sizeof *m, &fail);
    soma_plot_color_limits(m, n, o.cmap, &it->vmin, &it->vmax, &it->cmap);
    if (o.fixed_limits) {
        it->vmin = o.vmin;
        it->vmax = o.vmax;
    }
    it->row_labels = dup_strv(o.row_labels, rows, &fail);
    it->col_labels = dup_strv(o.col_labels, cols, &fail);
    it->cbar_label = dup_str(o.colorbar_label, &fail);
    return commit_item(p, it, SOMA__MODE_HEAT, fail);
}

soma_status soma_fig_raster(soma_fig *f, int panel, const float *t, const int *id, int n,
                            int n_neurons) {
    if (n < 0 || (n > 0 && (!t || !id)) || n_neurons < 1)
        return soma_error(SOMA_ERR_ARG, "fig: raster: n=%d, n_neurons=%d", n, n_neurons);
    soma__panel *p = NULL;
    soma__item *it = NULL;
    SOMA_TRY(new_item(f, panel, SOMA__MODE_XY, &p, &it));
    int fail = 0;
    it->kind = SOMA__ITEM_RASTER;
    it->n = n;
    it->x = dup_mem(t, (size_t)n, sizeof *t, &fail);
    it->ids = dup_mem(id, (size_t)n, sizeof *id, &fail);
    it->n_classes = n_neurons;
    return commit_item(p, it, SOMA__MODE_XY, fail);
}

soma_status soma_fig_images(soma_fig *f, int panel, const float *imgs, int n, int h, int w,
                            int cols, int normalize) {
    if (n < 1 || h < 1 || w < 1 || !imgs || cols < 0 || (size_t)n * h * w > ((size_t)1 << 24))
        return soma_error(SOMA_ERR_ARG, "fig: images: n=%d of %dx%d, cols=%d", n, h, w, cols);
    soma__panel *p = NULL;
    soma__item *it = NULL;
    SOMA_TRY(new_item(f, panel, SOMA__MODE_IMAGES, &p, &it));
    if (p->n_items > 0)
        return soma_error(SOMA_ERR_ARG, "fig: panel %d already holds an image grid", panel);
    int fail = 0;
    it->kind = SOMA__ITEM_IMAGES;
    it->n = n;
    it->rows = h;
    it->cols = w;
    if (cols == 0) cols = (int)ceil(sqrt((double)n));
    if (cols > n) cols = n;
    it->grid_cols = cols;
    it->normalize = normalize != 0;
    it->m = dup_mem(imgs, (size_t)n * h * w, sizeof *imgs, &fail);
    return commit_item(p, it, SOMA__MODE_IMAGES, fail);
}

soma_status soma_fig_hline(soma_fig *f, int panel, float y, const char *label) {
    soma__panel *p = NULL;
    soma__item *it = NULL;
    SOMA_TRY(new_item(f, panel, SOMA__MODE_XY, &p, &it));
    int fail = 0;
    it->kind = SOMA__ITEM_HLINE;
    it->hy = y;
    it->label = dup_str(label, &fail);
    return commit_item(p, it, SOMA__MODE_XY, fail);
}

soma_status soma_fig_hband(soma_fig *f, int panel, float lo, float hi, const char *label) {
    if (!isfinite(lo) || !isfinite(hi) || lo > hi)
        return soma_error(SOMA_ERR_ARG, "fig: hband: [%g, %g]; HINT: finite lo <= hi", lo, hi);
    soma__panel *p = NULL;
    soma__item *it = NULL;
    SOMA_TRY(new_item(f, panel, SOMA__MODE_XY, &p, &it));
    int fail = 0;
    it->kind = SOMA__ITEM_HBAND;
    it->hy = lo;
    it->vmax = hi;
    it->label = dup_str(label, &fail);
    return commit_item(p, it, SOMA__MODE_XY, fail);
}

soma_status soma_fig_bars(soma_fig *f, int panel, const float *v, const float *err, int n,
                          const char *const *labels, int color) {
    if (n < 0 || (n > 0 && !v)) return soma_error(SOMA_ERR_ARG, "fig: bars: n=%d", n);
    soma__panel *p = NULL;
    soma__item *it = NULL;
    SOMA_TRY(new_item(f, panel, SOMA__MODE_XY, &p, &it));
    int fail = 0;
    it->kind = SOMA__ITEM_BARS;
    it->n = n;
    it->y = dup_mem(v, (size_t)n, sizeof *v, &fail);
    if (err) it->x = dup_mem(err, (size_t)n, sizeof *err, &fail);
    it->names = dup_strv(labels, n, &fail);
    it->n_names = labels ? n : 0;
    it->color = soma__color_resolve(color, p->n_auto);
    if (color == 0) p->n_auto++;
    return commit_item(p, it, SOMA__MODE_XY, fail);
}
