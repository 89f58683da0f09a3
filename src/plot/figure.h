/* Private to src/plot: the figure's insides, shared by figure.c (building) and render.c
 * (drawing). */
#ifndef SOMA_PLOT_FIGURE_H
#define SOMA_PLOT_FIGURE_H

#include "plot/internal.h"

typedef enum soma__mode { SOMA__MODE_XY = 0, SOMA__MODE_HEAT, SOMA__MODE_IMAGES } soma__mode;

typedef enum soma__item_kind {
    SOMA__ITEM_LINE = 0,
    SOMA__ITEM_SCATTER,
    SOMA__ITEM_RASTER,
    SOMA__ITEM_BARS,
    SOMA__ITEM_HLINE,
    SOMA__ITEM_HEAT,
    SOMA__ITEM_IMAGES,
    SOMA__ITEM_HBAND,
} soma__item_kind;

/* One series. Fields by kind:
 *   LINE     x[n] (NULL: 0..n-1), y[n], label, color, dashed, markers, width
 *   SCATTER  x[n], y[n], ids[n] classes (NULL: 0), n_classes, names[n_names]
 *   RASTER   x[n] times, ids[n] neurons, n_classes = neuron count
 *   BARS     y[n] values, x[n] errors (may be NULL), names[n_names] labels, color
 *   HLINE    hy, label
 *   HBAND    hy (lower edge), vmax (upper edge), label
 *   HEAT     m[rows, cols], vmin, vmax, cmap (resolved), row/col_labels, cbar_label
 *   IMAGES   m[n, rows, cols], grid_cols, normalize */
typedef struct soma__item {
    soma__item_kind kind;
    char *label;
    float *x, *y;
    int n;
    int *ids;
    int n_classes;
    char **names;
    int n_names;
    int color, dashed, markers;
    float width;
    float hy;
    float *m;
    int rows, cols;
    float vmin, vmax;
    soma_cmap cmap;
    char **row_labels, **col_labels, *cbar_label;
    int grid_cols, normalize;
} soma__item;

typedef struct soma__panel {
    char *title, *xlabel, *ylabel;
    int logy;
    double xlim[2], ylim[2]; /* NaN: automatic */
    soma__mode mode;
    soma__item *items;
    int n_items, cap;
    int n_auto; /* palette colours handed out */
} soma__panel;

struct soma_fig {
    int rows, cols, width, height;
    char *title;
    soma__panel *panels;
};

#endif
