/* Rendering a figure to SVG 1.1 text: layout, axes, ticks, legends, and every series kind.
 * No element ids are written, so any number of figures can be inlined in one HTML page. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot/figure.h"
#include "soma/io.h"

#define FONT "DejaVu Sans, Helvetica, Arial, sans-serif"
#define C_AXIS "#333333"
#define C_GRID "#e6e6e6"
#define C_TEXT "#222222"
#define FS_TICK 11
#define FS_LABEL 12
#define FS_TITLE 13
#define CHAR_W 0.58 /* average glyph width in em, for layout estimates */

/* The plot area of a panel and its axis mapping. */
typedef struct frame {
    double x0, y0, w, h;    /* plot area in px */
    double xa, xb, ya, yb;  /* axis ranges (y in log10 units when logy) */
    int logy;
} frame;

static double text_w(const char *s, double fs) { return s ? strlen(s) * fs * CHAR_W : 0; }

static double map_x(const frame *fr, double v) { return fr->x0 + (v - fr->xa) / (fr->xb - fr->xa) * fr->w; }

static double map_y(const frame *fr, double v) {
    if (fr->logy) v = v > 0 ? log10(v) : NAN;
    return fr->y0 + fr->h - (v - fr->ya) / (fr->yb - fr->ya) * fr->h;
}

/* 1 if (x, y) is a drawable point inside the axis ranges. */
static int inside(const frame *fr, double x, double y) {
    if (!isfinite(x) || !isfinite(y) || (fr->logy && y <= 0)) return 0;
    double ty = fr->logy ? log10(y) : y;
    double ex = (fr->xb - fr->xa) * 1e-9, ey = (fr->yb - fr->ya) * 1e-9;
    return x >= fr->xa - ex && x <= fr->xb + ex && ty >= fr->ya - ey && ty <= fr->yb + ey;
}

static void put_hex(soma__buf *b, int rgb) { soma__buf_printf(b, "#%06x", rgb & 0xFFFFFF); }

/* <text> with escaped content; anchor "start" | "middle" | "end"; rot in degrees. */
static void text_at(soma__buf *b, double x, double y, const char *s, int fs, const char *anchor,
                    double rot, const char *extra) {
    if (!s || !*s) return;
    soma__buf_put(b, "<text x=\"");
    soma__buf_num(b, x);
    soma__buf_put(b, "\" y=\"");
    soma__buf_num(b, y);
    soma__buf_printf(b, "\" font-size=\"%d\"", fs);
    if (anchor && strcmp(anchor, "start")) soma__buf_printf(b, " text-anchor=\"%s\"", anchor);
    if (rot != 0) {
        soma__buf_printf(b, " transform=\"rotate(%g ", rot);
        soma__buf_num(b, x);
        soma__buf_put(b, " ");
        soma__buf_num(b, y);
        soma__buf_put(b, ")\"");
    }
    if (extra) soma__buf_printf(b, " %s", extra);
    soma__buf_put(b, ">");
    soma__buf_esc(b, s);
    soma__buf_put(b, "</text>\n");
}

static void line_seg(soma__buf *b, double x1, double y1, double x2, double y2) {
    soma__buf_put(b, "M");
    soma__buf_num(b, x1);
    soma__buf_put(b, " ");
    soma__buf_num(b, y1);
    soma__buf_put(b, "L");
    soma__buf_num(b, x2);
    soma__buf_put(b, " ");
    soma__buf_num(b, y2);
}

// --- data ranges -----------------------------------------------------------------------

typedef struct range {
    double lo, hi;
} range;

static void grow(range *r, double v) {
    if (!isfinite(v)) return;
    if (v < r->lo) r->lo = v;
    if (v > r->hi) r->hi = v;
}

static int has_range(const range *r) { return r->lo <= r->hi; }

/* Data ranges of an x-y panel; *cat is set when bars make the x axis categorical (the bar
 * count), *raster to the largest neuron count. */
static void xy_ranges(const soma__panel *p, range *rx, range *ry, int *cat, int *raster) {
    rx->lo = ry->lo = INFINITY;
    rx->hi = ry->hi = -INFINITY;
    *cat = 0;
    *raster = 0;
    for (int k = 0; k < p->n_items; k++) {
        const soma__item *it = &p->items[k];
        switch (it->kind) {
        case SOMA__ITEM_LINE:
        case SOMA__ITEM_SCATTER:
            for (int i = 0; i < it->n; i++) {
                double x = it->x ? it->x[i] : i, y = it->y[i];
                if (!isfinite(x) || !isfinite(y) || (p->logy && y <= 0)) continue;
                grow(rx, x);
                grow(ry, y);
            }
            break;
        case SOMA__ITEM_RASTER:
            for (int i = 0; i < it->n; i++)
                if (it->ids[i] >= 0 && it->ids[i] < it->n_classes) grow(rx, it->x[i]);
            if (it->n_classes > *raster) *raster = it->n_classes;
            break;
        case SOMA__ITEM_BARS:
            if (it->n > *cat) *cat = it->n;
            for (int i = 0; i < it->n; i++) {
                double e = it->x && isfinite(it->x[i]) ? fabs(it->x[i]) : 0;
                if (!isfinite(it->y[i])) continue;
                if (!p->logy || it->y[i] - e > 0) grow(ry, it->y[i] - e);
                grow(ry, it->y[i] + e);
            }
            if (!p->logy && it->n > 0) grow(ry, 0);
            break;
        case SOMA__ITEM_HLINE:
            if (!p->logy || it->hy > 0) grow(ry, it->hy);
            break;
        case SOMA__ITEM_HBAND:
            if (!p->logy || it->hy > 0) grow(ry, it->hy);
            if (!p->logy || it->vmax > 0) grow(ry, it->vmax);
            break;
        default: break;
        }
    }
}

// --- legend ----------------------------------------------------------------------------

typedef struct legend_entry {
    const char *text;
    char buf[32];
    int color, dashed, markers, kind; /* kind 0 line, 1 dot */
} legend_entry;

/* Number of drawable points of the panel inside the box (to place the legend). */
static int points_in_box(const soma__panel *p, const frame *fr, double bx, double by,
                         double bw, double bh) {
    int c = 0;
    for (int k = 0; k < p->n_items; k++) {
        const soma__item *it = &p->items[k];
        if (it->kind != SOMA__ITEM_LINE && it->kind != SOMA__ITEM_SCATTER) continue;
        int step = it->n > 2000 ? it->n / 2000 : 1;
        for (int i = 0; i < it->n; i += step) {
            double x = it->x ? it->x[i] : i, y = it->y[i];
            if (!inside(fr, x, y)) continue;
            double px = map_x(fr, x), py = map_y(fr, y);
            if (px >= bx && px <= bx + bw && py >= by && py <= by + bh) c++;
        }
    }
    return c;
}

static void draw_legend(soma__buf *b, const soma__panel *p, const frame *fr) {
    legend_entry e[24];
    int n = 0, more = 0;
    for (int k = 0; k < p->n_items; k++) {
        const soma__item *it = &p->items[k];
        if (it->kind == SOMA__ITEM_LINE && it->label && it->label[0]) {
            if (n == 24) {
                more = 1;
                continue;
            }
            e[n] = (legend_entry){.text = it->label, .color = it->color, .dashed = it->dashed,
                                  .markers = it->markers, .kind = 0};
            n++;
        } else if (it->kind == SOMA__ITEM_SCATTER && (it->n_names > 0 || it->n_classes > 1)) {
            for (int c = 0; c < it->n_classes; c++) {
                if (n == 24) {
                    more = 1;
                    break;
                }
                e[n] = (legend_entry){.color = soma_plot_palette(c), .kind = 1};
                if (c < it->n_names) {
                    e[n].text = it->names[c];
                } else {
                    snprintf(e[n].buf, sizeof e[n].buf, "class %d", c);
                    e[n].text = e[n].buf;
                }
                n++;
            }
        }
    }
    if (n == 0) return;
    double lh = 16, tw = 0;
    for (int i = 0; i < n; i++) tw = fmax(tw, text_w(e[i].text, FS_TICK));
    double bw = 34 + tw + 8, bh = lh * (n + more) + 8;
    /* the corner that hides the fewest points: top-right, top-left, bottom-right, bottom-left */
    double cx[4] = {fr->x0 + fr->w - bw - 6, fr->x0 + 6, fr->x0 + fr->w - bw - 6, fr->x0 + 6};
    double cy[4] = {fr->y0 + 6, fr->y0 + 6, fr->y0 + fr->h - bh - 6, fr->y0 + fr->h - bh - 6};
    int best = 0, best_c = -1;
    for (int c = 0; c < 4; c++) {
        int k = points_in_box(p, fr, cx[c], cy[c], bw, bh);
        if (best_c < 0 || k < best_c) {
            best = c;
            best_c = k;
        }
    }
    double bx = cx[best], by = cy[best];
    soma__buf_put(b, "<g class=\"legend\">\n<rect x=\"");
    soma__buf_num(b, bx);
    soma__buf_put(b, "\" y=\"");
    soma__buf_num(b, by);
    soma__buf_put(b, "\" width=\"");
    soma__buf_num(b, bw);
    soma__buf_put(b, "\" height=\"");
    soma__buf_num(b, bh);
    soma__buf_put(b, "\" rx=\"3\" fill=\"#ffffff\" fill-opacity=\"0.9\" stroke=\"#cccccc\"/>\n");
    for (int i = 0; i < n; i++) {
        double y = by + 4 + lh * i + lh / 2;
        if (e[i].kind == 0) {
            soma__buf_put(b, "<path d=\"");
            line_seg(b, bx + 6, y, bx + 28, y);
            soma__buf_put(b, "\" stroke=\"");
            put_hex(b, e[i].color);
            soma__buf_printf(b, "\" stroke-width=\"2\"%s/>\n",
                             e[i].dashed ? " stroke-dasharray=\"5 3\"" : "");
        }
        if (e[i].kind == 1 || e[i].markers) {
            soma__buf_put(b, "<circle cx=\"");
            soma__buf_num(b, bx + 17);
            soma__buf_put(b, "\" cy=\"");
            soma__buf_num(b, y);
            soma__buf_put(b, "\" r=\"3\" fill=\"");
            put_hex(b, e[i].color);
            soma__buf_put(b, "\"/>\n");
        }
        text_at(b, bx + 34, y + 4, e[i].text, FS_TICK, "start", 0, NULL);
    }
    if (more) text_at(b, bx + 34, by + 4 + lh * n + lh / 2 + 4, "...", FS_TICK, "start", 0, NULL);
    soma__buf_put(b, "</g>\n");
}

// --- axes ------------------------------------------------------------------------------

/* Ticks of one axis inside [lo, hi] (ticks outside are dropped). Returns the count. */
static int ticks_inside(double lo, double hi, int target, double *t, int cap) {
    int n = soma_plot_ticks(lo, hi, target, t, cap), m = 0;
    double eps = (hi - lo) * 1e-9;
    for (int i = 0; i < n; i++)
        if (t[i] >= lo - eps && t[i] <= hi + eps) t[m++] = t[i];
    return m;
}

static void tick_label(double v, int logy, char *buf, size_t cap) {
    if (logy) {
        double p = pow(10, v);
        soma_plot_fmt(p, buf, cap);
    } else {
        soma_plot_fmt(v, buf, cap);
    }
}

/* Draws the grid, frame, ticks and labels of an x-y frame. cat > 0: categorical x with
 * optional names. */
static void draw_axes(soma__buf *b, const frame *fr, const double *xt, int nx, const double *yt,
                      int ny, int cat, char *const *cat_names, int n_cat_names) {
    char lab[48];
    soma__buf_put(b, "<path d=\"");
    for (int i = 0; i < ny; i++) {
        double y = fr->y0 + fr->h - (yt[i] - fr->ya) / (fr->yb - fr->ya) * fr->h;
        line_seg(b, fr->x0, y, fr->x0 + fr->w, y);
    }
    soma__buf_put(b, "\" stroke=\"" C_GRID "\" stroke-width=\"1\"/>\n");
    /* ticks */
    soma__buf_put(b, "<path d=\"");
    for (int i = 0; i < ny; i++) {
        double y = fr->y0 + fr->h - (yt[i] - fr->ya) / (fr->yb - fr->ya) * fr->h;
        line_seg(b, fr->x0 - 4, y, fr->x0, y);
    }
    for (int i = 0; i < nx; i++) {
        double x = map_x(fr, xt[i]);
        line_seg(b, x, fr->y0 + fr->h, x, fr->y0 + fr->h + 4);
    }
    soma__buf_put(b, "\" stroke=\"" C_AXIS "\" stroke-width=\"1\"/>\n");
    /* frame: left and bottom spines */
    soma__buf_put(b, "<path d=\"M");
    soma__buf_num(b, fr->x0);
    soma__buf_put(b, " ");
    soma__buf_num(b, fr->y0);
    soma__buf_put(b, "V");
    soma__buf_num(b, fr->y0 + fr->h);
    soma__buf_put(b, "H");
    soma__buf_num(b, fr->x0 + fr->w);
    soma__buf_put(b, "\" fill=\"none\" stroke=\"" C_AXIS "\" stroke-width=\"1\"/>\n");
    soma__buf_put(b, "<g fill=\"" C_TEXT "\">\n");
    for (int i = 0; i < ny; i++) {
        double y = fr->y0 + fr->h - (yt[i] - fr->ya) / (fr->yb - fr->ya) * fr->h;
        tick_label(yt[i], fr->logy, lab, sizeof lab);
        text_at(b, fr->x0 - 7, y + 4, lab, FS_TICK, "end", 0, NULL);
    }
    double maxw = 0;
    for (int i = 0; i < nx && cat && cat_names; i++)
        if ((int)xt[i] < n_cat_names) maxw = fmax(maxw, text_w(cat_names[(int)xt[i]], FS_TICK));
    int rotate = cat && nx > 0 && maxw > fr->w / nx - 4;
    for (int i = 0; i < nx; i++) {
        double x = map_x(fr, xt[i]);
        const char *s = lab;
        if (cat && cat_names && xt[i] >= 0 && (int)xt[i] < n_cat_names)
            s = cat_names[(int)xt[i]];
        else
            soma_plot_fmt(xt[i], lab, sizeof lab);
        if (rotate)
            text_at(b, x + 3, fr->y0 + fr->h + 14, s, FS_TICK, "end", -35, NULL);
        else
            text_at(b, x, fr->y0 + fr->h + 17, s, FS_TICK, "middle", 0, NULL);
    }
    soma__buf_put(b, "</g>\n");
}

// --- series ----------------------------------------------------------------------------

static void draw_line(soma__buf *b, const frame *fr, const soma__item *it) {
    if (it->n == 0) return;
    soma__buf_put(b, "<path d=\"");
    int pen = 0, any = 0;
    for (int i = 0; i < it->n; i++) {
        double x = it->x ? it->x[i] : i, y = it->y[i];
        if (!inside(fr, x, y)) {
            pen = 0; /* NaN, Inf or out of range: break the line, resume after */
            continue;
        }
        soma__buf_put(b, pen ? "L" : "M");
        soma__buf_num(b, map_x(fr, x));
        soma__buf_put(b, " ");
        soma__buf_num(b, map_y(fr, y));
        pen = any = 1;
    }
    soma__buf_put(b, "\" fill=\"none\" stroke=\"");
    put_hex(b, it->color);
    soma__buf_put(b, "\" stroke-width=\"");
    soma__buf_num(b, it->width);
    soma__buf_printf(b, "\" stroke-linejoin=\"round\" stroke-linecap=\"round\"%s/>\n",
                     it->dashed ? " stroke-dasharray=\"6 4\"" : "");
    if (!any) return;
    /* markers (and isolated points, which a path would not show) as round dots */
    soma__buf_put(b, "<path d=\"");
    for (int i = 0; i < it->n; i++) {
        double x = it->x ? it->x[i] : i, y = it->y[i];
        if (!inside(fr, x, y)) continue;
        int prev = i > 0 && inside(fr, it->x ? it->x[i - 1] : i - 1, it->y[i - 1]);
        int next = i + 1 < it->n && inside(fr, it->x ? it->x[i + 1] : i + 1, it->y[i + 1]);
        if (!it->markers && (prev || next)) continue;
        soma__buf_put(b, "M");
        soma__buf_num(b, map_x(fr, x));
        soma__buf_put(b, " ");
        soma__buf_num(b, map_y(fr, y));
        soma__buf_put(b, "h0");
    }
    soma__buf_put(b, "\" stroke=\"");
    put_hex(b, it->color);
    soma__buf_put(b, "\" stroke-width=\"");
    soma__buf_num(b, it->width + 4);
    soma__buf_put(b, "\" stroke-linecap=\"round\"/>\n");
}

static void draw_scatter(soma__buf *b, const frame *fr, const soma__item *it) {
    /* one path per class: zero-length round-capped segments are compact dots */
    for (int c = -1; c < it->n_classes; c++) {
        int started = 0;
        for (int i = 0; i < it->n; i++) {
            int k = it->ids ? it->ids[i] : 0;
            int in_c = c < 0 ? (k < 0 || k >= it->n_classes) : k == c;
            if (!in_c || !inside(fr, it->x[i], it->y[i])) continue;
            if (!started) {
                soma__buf_put(b, "<path d=\"");
                started = 1;
            }
            soma__buf_put(b, "M");
            soma__buf_num(b, map_x(fr, it->x[i]));
            soma__buf_put(b, " ");
            soma__buf_num(b, map_y(fr, it->y[i]));
            soma__buf_put(b, "h0");
        }
        if (!started) continue;
        soma__buf_put(b, "\" stroke=\"");
        put_hex(b, c < 0 ? 0x999999 : soma_plot_palette(c));
        soma__buf_put(b, "\" stroke-width=\"6\" stroke-linecap=\"round\" stroke-opacity=\"0.8\"/>\n");
    }
}

static void draw_raster(soma__buf *b, const frame *fr, const soma__item *it) {
    double row = fr->h / (fr->yb - fr->ya);
    double tick = fmin(fmax(row * 0.8, 1.5), 10);
    int any = 0;
    for (int i = 0; i < it->n; i++) {
        int id = it->ids[i];
        if (id < 0 || id >= it->n_classes || !inside(fr, it->x[i], id)) continue;
        if (!any) soma__buf_put(b, "<path d=\"");
        any = 1;
        soma__buf_put(b, "M");
        soma__buf_num(b, map_x(fr, it->x[i]));
        soma__buf_put(b, " ");
        soma__buf_num(b, map_y(fr, id) - tick / 2);
        soma__buf_put(b, "v");
        soma__buf_num(b, tick);
    }
    if (any) soma__buf_put(b, "\" stroke=\"#1a1a1a\" stroke-width=\"1.2\"/>\n");
}

static void draw_bars(soma__buf *b, const frame *fr, const soma__item *it, int logy) {
    double slot = fr->w / (fr->xb - fr->xa), bw = slot * 0.7;
    double base = logy ? fr->y0 + fr->h : fmin(fmax(map_y(fr, 0), fr->y0), fr->y0 + fr->h);
    soma__buf_put(b, "<g fill=\"");
    put_hex(b, it->color);
    soma__buf_put(b, "\">\n");
    for (int i = 0; i < it->n; i++) {
        double v = it->y[i];
        if (!isfinite(v) || (logy && v <= 0)) continue;
        double top = fmin(fmax(map_y(fr, v), fr->y0), fr->y0 + fr->h);
        soma__buf_put(b, "<rect x=\"");
        soma__buf_num(b, map_x(fr, i) - bw / 2);
        soma__buf_put(b, "\" y=\"");
        soma__buf_num(b, fmin(top, base));
        soma__buf_put(b, "\" width=\"");
        soma__buf_num(b, bw);
        soma__buf_put(b, "\" height=\"");
        soma__buf_num(b, fabs(base - top));
        soma__buf_put(b, "\"/>\n");
    }
    soma__buf_put(b, "</g>\n");
    if (!it->x) return;
    soma__buf_put(b, "<path d=\"");
    for (int i = 0; i < it->n; i++) {
        double v = it->y[i], e = fabs(it->x[i]);
        if (!isfinite(v) || !isfinite(e) || e == 0) continue;
        if (!inside(fr, i, v - e) || !inside(fr, i, v + e)) continue;
        double x = map_x(fr, i), y1 = map_y(fr, v - e), y2 = map_y(fr, v + e);
        line_seg(b, x, y1, x, y2);
        line_seg(b, x - bw / 6, y1, x + bw / 6, y1);
        line_seg(b, x - bw / 6, y2, x + bw / 6, y2);
    }
    soma__buf_put(b, "\" stroke=\"#222222\" stroke-width=\"1.2\"/>\n");
}

static void draw_hline(soma__buf *b, const frame *fr, const soma__item *it) {
    if (!inside(fr, fr->xa, it->hy)) return;
    double y = map_y(fr, it->hy);
    soma__buf_put(b, "<path d=\"");
    line_seg(b, fr->x0, y, fr->x0 + fr->w, y);
    soma__buf_put(b, "\" stroke=\"#555555\" stroke-width=\"1.3\" stroke-dasharray=\"4 3\"/>\n");
    double ty = y - 5 < fr->y0 + 12 ? y + 14 : y - 5;
    text_at(b, fr->x0 + fr->w - 4, ty, it->label, FS_TICK, "end", 0,
            "fill=\"#444444\" stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\"");
}

/* A grey band across the plot area between hy and vmax, clipped to the axis range. */
static void draw_hband(soma__buf *b, const frame *fr, const soma__item *it) {
    double lo = it->hy, hi = it->vmax;
    if (fr->logy) {
        if (hi <= 0) return;
        if (lo <= 0) lo = pow(10, fr->ya);
    }
    double ya = fr->y0 + fr->h, yb = fr->y0;
    double y1 = fmin(fmax(map_y(fr, lo), yb), ya), y2 = fmin(fmax(map_y(fr, hi), yb), ya);
    if (!isfinite(y1) || !isfinite(y2)) return;
    if (y1 - y2 < 1) { /* a thin band stays visible */
        double mid = (y1 + y2) / 2;
        y1 = mid + 0.5;
        y2 = mid - 0.5;
    }
    soma__buf_put(b, "<rect x=\"");
    soma__buf_num(b, fr->x0);
    soma__buf_put(b, "\" y=\"");
    soma__buf_num(b, y2);
    soma__buf_put(b, "\" width=\"");
    soma__buf_num(b, fr->w);
    soma__buf_put(b, "\" height=\"");
    soma__buf_num(b, y1 - y2);
    soma__buf_put(b, "\" fill=\"#bbbbbb\" fill-opacity=\"0.55\"/>\n");
    text_at(b, fr->x0 + 4, y2 - 4 < fr->y0 + 12 ? y1 + 13 : y2 - 4, it->label, FS_TICK, "start", 0,
            "fill=\"#555555\" stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\"");
}

// --- panels ----------------------------------------------------------------------------

static void panel_labels(soma__buf *b, const soma__panel *p, double px, double pw,
                         const frame *fr, double xlab_y, double ylab_x) {
    text_at(b, fr->x0 + fr->w / 2, fr->y0 - 9, p->title, FS_TITLE, "middle", 0,
            "font-weight=\"bold\" fill=\"" C_TEXT "\"");
    text_at(b, fr->x0 + fr->w / 2, xlab_y, p->xlabel, FS_LABEL, "middle", 0,
            "fill=\"" C_TEXT "\"");
    text_at(b, ylab_x, fr->y0 + fr->h / 2, p->ylabel, FS_LABEL, "middle", -90,
            "fill=\"" C_TEXT "\"");
    (void)px;
    (void)pw;
}

static void render_xy(soma__buf *b, const soma__panel *p, double px, double py, double pw,
                      double ph) {
    range rx, ry;
    int cat, raster;
    xy_ranges(p, &rx, &ry, &cat, &raster);
    int empty = !has_range(&rx) && !has_range(&ry) && !cat && !raster;
    frame fr = {0};
    fr.logy = p->logy;
    double xt[64], yt[64];
    int nx, ny;
    /* x axis */
    if (!isnan(p->xlim[0])) {
        fr.xa = p->xlim[0];
        fr.xb = p->xlim[1];
        nx = ticks_inside(fr.xa, fr.xb, 6, xt, 64);
    } else if (cat) {
        fr.xa = -0.5;
        fr.xb = cat - 0.5;
        if (has_range(&rx)) { /* bars with lines: cover both */
            fr.xa = fmin(fr.xa, rx.lo);
            fr.xb = fmax(fr.xb, rx.hi);
        }
        int step = cat > 24 ? (cat + 23) / 24 : 1;
        nx = 0;
        for (int i = 0; i < cat && nx < 64; i += step) xt[nx++] = i;
    } else {
        if (!has_range(&rx)) rx.lo = 0, rx.hi = 1;
        nx = soma_plot_ticks(rx.lo, rx.hi, 6, xt, 64);
        fr.xa = xt[0];
        fr.xb = xt[nx - 1];
    }
    /* y axis */
    if (!isnan(p->ylim[0]) && !(p->logy && p->ylim[0] <= 0)) {
        fr.ya = p->logy ? log10(p->ylim[0]) : p->ylim[0];
        fr.yb = p->logy ? log10(p->ylim[1]) : p->ylim[1];
        ny = ticks_inside(fr.ya, fr.yb, 5, yt, 64);
    } else if (raster && !has_range(&ry)) {
        fr.ya = -0.5;
        fr.yb = raster - 0.5;
        ny = ticks_inside(0, raster - 1, 5, yt, 64);
        if (raster == 1) yt[0] = 0, ny = 1;
    } else if (p->logy) {
        if (!has_range(&ry)) ry.lo = 1, ry.hi = 10;
        fr.ya = floor(log10(ry.lo));
        fr.yb = ceil(log10(ry.hi));
        if (fr.yb <= fr.ya) fr.yb = fr.ya + 1;
        int step = (int)ceil((fr.yb - fr.ya) / 8);
        ny = 0;
        for (double e = fr.ya; e <= fr.yb + 1e-9 && ny < 64; e += step) yt[ny++] = e;
    } else {
        if (raster) grow(&ry, -0.5), grow(&ry, raster - 0.5);
        if (!has_range(&ry)) ry.lo = 0, ry.hi = 1;
        ny = soma_plot_ticks(ry.lo, ry.hi, 5, yt, 64);
        fr.ya = yt[0];
        fr.yb = yt[ny - 1];
    }
    /* layout: the left margin fits the widest y tick label */
    char lab[48];
    double ylw = 0;
    for (int i = 0; i < ny; i++) {
        tick_label(yt[i], fr.logy, lab, sizeof lab);
        ylw = fmax(ylw, text_w(lab, FS_TICK));
    }
    double cat_h = 0;
    if (cat) {
        double maxw = 0;
        for (int k = 0; k < p->n_items; k++)
            for (int i = 0; i < p->items[k].n_names; i++)
                maxw = fmax(maxw, text_w(p->items[k].names[i], FS_TICK));
        if (nx > 0 && maxw > (pw - ylw - 40) / nx - 4) cat_h = fmin(maxw * 0.6, 80);
    }
    double left = ylw + 12 + (p->ylabel && *p->ylabel ? 20 : 4);
    double top = p->title && *p->title ? 26 : 12;
    double bottom = 24 + cat_h + (p->xlabel && *p->xlabel ? 18 : 0);
    fr.x0 = px + left;
    fr.y0 = py + top;
    fr.w = pw - left - 16;
    fr.h = ph - top - bottom;
    if (fr.w < 20 || fr.h < 20) return;
    char *const *cat_names = NULL;
    int n_cat_names = 0;
    for (int k = 0; k < p->n_items; k++)
        if (p->items[k].kind == SOMA__ITEM_BARS && p->items[k].n_names) {
            cat_names = p->items[k].names;
            n_cat_names = p->items[k].n_names;
            break;
        }
    draw_axes(b, &fr, xt, nx, yt, ny, cat, cat_names, n_cat_names);
    panel_labels(b, p, px, pw, &fr, py + ph - 6, px + 12);
    if (empty) {
        text_at(b, fr.x0 + fr.w / 2, fr.y0 + fr.h / 2, "no data", FS_LABEL, "middle", 0,
                "fill=\"#999999\"");
        return;
    }
    for (int k = 0; k < p->n_items; k++) /* bands beneath everything */
        if (p->items[k].kind == SOMA__ITEM_HBAND) draw_hband(b, &fr, &p->items[k]);
    for (int pass = 0; pass < 2; pass++) /* bars and raster below lines and points */
        for (int k = 0; k < p->n_items; k++) {
            const soma__item *it = &p->items[k];
            int under = it->kind == SOMA__ITEM_BARS || it->kind == SOMA__ITEM_RASTER;
            if (under != (pass == 0)) continue;
            switch (it->kind) {
            case SOMA__ITEM_LINE: draw_line(b, &fr, it); break;
            case SOMA__ITEM_SCATTER: draw_scatter(b, &fr, it); break;
            case SOMA__ITEM_RASTER: draw_raster(b, &fr, it); break;
            case SOMA__ITEM_BARS: draw_bars(b, &fr, it, p->logy); break;
            default: break;
            }
        }
    for (int k = 0; k < p->n_items; k++)
        if (p->items[k].kind == SOMA__ITEM_HLINE) draw_hline(b, &fr, &p->items[k]);
    draw_legend(b, p, &fr);
}

/* Embeds 8-bit pixels as a base64 PNG <image> at (x, y, w, h), drawn with hard edges. */
static soma_status embed_png(soma__buf *b, const uint8_t *pix, int pw, int ph, int ch, double x,
                             double y, double w, double h) {
    uint8_t *png;
    size_t n;
    SOMA_TRY(soma__png_encode(pix, pw, ph, ch, &png, &n));
    soma__buf_put(b, "<image x=\"");
    soma__buf_num(b, x);
    soma__buf_put(b, "\" y=\"");
    soma__buf_num(b, y);
    soma__buf_put(b, "\" width=\"");
    soma__buf_num(b, w);
    soma__buf_put(b, "\" height=\"");
    soma__buf_num(b, h);
    soma__buf_put(b, "\" preserveAspectRatio=\"none\" image-rendering=\"optimizeSpeed\" "
                     "style=\"image-rendering:pixelated\" xlink:href=\"data:image/png;base64,");
    soma__buf_base64(b, png, n);
    soma__buf_put(b, "\"/>\n");
    free(png);
    return SOMA_OK;
}

static soma_status render_heat(soma__buf *b, const soma__panel *p, const soma__item *it,
                               double px, double py, double pw, double ph) {
    double rlw = 0, clw = 0;
    for (int i = 0; it->row_labels && i < it->rows; i++)
        rlw = fmax(rlw, text_w(it->row_labels[i], FS_TICK));
    for (int j = 0; it->col_labels && j < it->cols; j++)
        clw = fmax(clw, text_w(it->col_labels[j], FS_TICK));
    if (!it->row_labels) rlw = text_w("0000", FS_TICK);
    double top = p->title && *p->title ? 26 : 10;
    double left = rlw + 12 + (p->ylabel && *p->ylabel ? 20 : 0);
    double cbar = 64 + (it->cbar_label && *it->cbar_label ? 12 : 0);
    double aw = pw - left - cbar - 8, ah0 = ph - top - 24 - (p->xlabel && *p->xlabel ? 18 : 0);
    double cell0 = fmin(aw / it->cols, ah0 / it->rows);
    int rot = it->col_labels && clw > cell0 - 2;
    double bottom = 24 + (rot ? fmin(clw * 0.75, 90) : 0) + (p->xlabel && *p->xlabel ? 18 : 0);
    double ah = ph - top - bottom;
    double cell = fmin(aw / it->cols, ah / it->rows);
    if (cell <= 0) return SOMA_OK;
    frame fr = {0};
    fr.w = cell * it->cols;
    fr.h = cell * it->rows;
    fr.x0 = px + left + (aw - fr.w) / 2;
    fr.y0 = py + top;
    double span = (double)it->vmax - it->vmin;
    /* cells: rects for small matrices, one embedded PNG for large ones */
    if ((size_t)it->rows * it->cols <= 400) {
        for (int i = 0; i < it->rows; i++)
            for (int j = 0; j < it->cols; j++) {
                float v = it->m[(size_t)i * it->cols + j];
                double t = isfinite(v) ? (v - it->vmin) / span : NAN;
                soma__buf_put(b, "<rect x=\"");
                soma__buf_num(b, fr.x0 + j * cell);
                soma__buf_put(b, "\" y=\"");
                soma__buf_num(b, fr.y0 + i * cell);
                soma__buf_put(b, "\" width=\"");
                soma__buf_num(b, cell + 0.3);
                soma__buf_put(b, "\" height=\"");
                soma__buf_num(b, cell + 0.3);
                soma__buf_put(b, "\" fill=\"");
                put_hex(b, soma__cmap_rgb(it->cmap, t));
                soma__buf_put(b, "\"/>\n");
            }
    } else {
        size_t n = (size_t)it->rows * it->cols;
        uint8_t *pix = malloc(n * 3);
        if (!pix) return soma_error(SOMA_ERR_NOMEM, "fig: heatmap: out of memory");
        for (size_t k = 0; k < n; k++) {
            float v = it->m[k];
            int c = soma__cmap_rgb(it->cmap, isfinite(v) ? (v - it->vmin) / span : NAN);
            pix[3 * k] = (uint8_t)(c >> 16);
            pix[3 * k + 1] = (uint8_t)(c >> 8);
            pix[3 * k + 2] = (uint8_t)c;
        }
        soma_status s = embed_png(b, pix, it->cols, it->rows, 3, fr.x0, fr.y0, fr.w, fr.h);
        free(pix);
        SOMA_TRY(s);
    }
    soma__buf_put(b, "<rect x=\"");
    soma__buf_num(b, fr.x0);
    soma__buf_put(b, "\" y=\"");
    soma__buf_num(b, fr.y0);
    soma__buf_put(b, "\" width=\"");
    soma__buf_num(b, fr.w);
    soma__buf_put(b, "\" height=\"");
    soma__buf_num(b, fr.h);
    soma__buf_put(b, "\" fill=\"none\" stroke=\"" C_AXIS "\" stroke-width=\"0.8\"/>\n");
    /* row and column labels (or index ticks) */
    soma__buf_put(b, "<g fill=\"" C_TEXT "\">\n");
    char lab[48];
    double t[64];
    int nr = it->row_labels ? it->rows : ticks_inside(0, it->rows - 1, 6, t, 64);
    int rstep = it->row_labels ? (int)ceil(FS_TICK / cell) : 1;
    for (int k = 0; k < nr; k += rstep) {
        double r = it->row_labels ? k : t[k];
        if (!it->row_labels && (r != floor(r))) continue;
        const char *s = it->row_labels ? it->row_labels[k] : soma_plot_fmt(r, lab, sizeof lab);
        text_at(b, fr.x0 - 5, fr.y0 + (r + 0.5) * cell + 4, s, FS_TICK, "end", 0, NULL);
    }
    int nc = it->col_labels ? it->cols : ticks_inside(0, it->cols - 1, 6, t, 64);
    int cstep = it->col_labels ? (int)ceil((rot ? FS_TICK : clw + 4) / cell) : 1;
    if (cstep < 1) cstep = 1;
    for (int k = 0; k < nc; k += cstep) {
        double c = it->col_labels ? k : t[k];
        if (!it->col_labels && (c != floor(c))) continue;
        const char *s = it->col_labels ? it->col_labels[k] : soma_plot_fmt(c, lab, sizeof lab);
        double x = fr.x0 + (c + 0.5) * cell;
        if (rot)
            text_at(b, x + 3, fr.y0 + fr.h + 12, s, FS_TICK, "end", -45, NULL);
        else
            text_at(b, x, fr.y0 + fr.h + 15, s, FS_TICK, "middle", 0, NULL);
    }
    soma__buf_put(b, "</g>\n");
    double xlab_y = fr.y0 + fr.h + (rot ? fmin(clw * 0.75, 90) + 14 : 20) + 16;
    panel_labels(b, p, px, pw, &fr, fmin(xlab_y, py + ph - 6), fr.x0 - rlw - 16);
    /* colour bar: 64 stacked bands (no gradient ids, so figures can share a page) */
    double cx = fr.x0 + fr.w + 14, cw = 14, ch = fr.h, cy = fr.y0;
    int bands = 64;
    for (int k = 0; k < bands; k++) {
        double t0 = (k + 0.5) / bands;
        soma__buf_put(b, "<rect x=\"");
        soma__buf_num(b, cx);
        soma__buf_put(b, "\" y=\"");
        soma__buf_num(b, cy + ch - (k + 1) * ch / bands);
        soma__buf_put(b, "\" width=\"");
        soma__buf_num(b, cw);
        soma__buf_put(b, "\" height=\"");
        soma__buf_num(b, ch / bands + 0.4);
        soma__buf_put(b, "\" fill=\"");
        put_hex(b, soma__cmap_rgb(it->cmap, t0));
        soma__buf_put(b, "\"/>\n");
    }
    soma__buf_put(b, "<rect x=\"");
    soma__buf_num(b, cx);
    soma__buf_put(b, "\" y=\"");
    soma__buf_num(b, cy);
    soma__buf_put(b, "\" width=\"");
    soma__buf_num(b, cw);
    soma__buf_put(b, "\" height=\"");
    soma__buf_num(b, ch);
    soma__buf_put(b, "\" fill=\"none\" stroke=\"" C_AXIS "\" stroke-width=\"0.8\" class=\"colorbar\"/>\n");
    int nt = ticks_inside(it->vmin, it->vmax, ch > 150 ? 6 : 4, t, 64);
    soma__buf_put(b, "<path d=\"");
    for (int k = 0; k < nt; k++) {
        double y = cy + ch - (t[k] - it->vmin) / span * ch;
        line_seg(b, cx + cw, y, cx + cw + 3, y);
    }
    soma__buf_put(b, "\" stroke=\"" C_AXIS "\"/>\n<g fill=\"" C_TEXT "\">\n");
    for (int k = 0; k < nt; k++) {
        double y = cy + ch - (t[k] - it->vmin) / span * ch;
        text_at(b, cx + cw + 6, y + 4, soma_plot_fmt(t[k], lab, sizeof lab), FS_TICK, "start", 0,
                NULL);
    }
    soma__buf_put(b, "</g>\n");
    text_at(b, cx + cw + 48, cy + ch / 2, it->cbar_label, FS_LABEL, "middle", -90,
            "fill=\"" C_TEXT "\"");
    return SOMA_OK;
}

static soma_status render_images(soma__buf *b, const soma__panel *p, const soma__item *it,
                                 double px, double py, double pw, double ph) {
    int n = it->n, h = it->rows, w = it->cols, gc = it->grid_cols, gr = (n + gc - 1) / gc;
    int gw = gc * (w + 1) + 1, gh = gr * (h + 1) + 1; /* 1-pixel white borders */
    double top = p->title && *p->title ? 26 : 8;
    double aw = pw - 16, ah = ph - top - 8 - (p->xlabel && *p->xlabel ? 18 : 0);
    double scale = fmin(aw / gw, ah / gh);
    if (scale <= 0) return SOMA_OK;
    /* repeat pixels so the picture stays sharp even where pixelated rendering is ignored,
     * within a pixel budget that keeps the file small */
    int zoom = (int)floor(scale);
    if (zoom < 1) zoom = 1;
    while (zoom > 1 && (double)gw * gh * zoom * zoom > 300000) zoom--;
    if (zoom > 6) zoom = 6;
    int W = gw * zoom, H = gh * zoom;
    uint8_t *pix = malloc((size_t)W * H);
    uint8_t *g = malloc((size_t)gw * gh);
    if (!pix || !g) {
        free(pix);
        free(g);
        return soma_error(SOMA_ERR_NOMEM, "fig: images: out of memory");
    }
    memset(g, 255, (size_t)gw * gh);
    for (int k = 0; k < n; k++) {
        const float *im = it->m + (size_t)k * h * w;
        double lo = INFINITY, hi = -INFINITY;
        for (int i = 0; i < h * w; i++)
            if (isfinite(im[i])) lo = fmin(lo, im[i]), hi = fmax(hi, im[i]);
        double a = 0, c = 0; /* value -> a * v + c in [0, 1] */
        if (!it->normalize) {
            a = 1;
        } else if (lo < hi && lo < 0 && hi > 0) {
            double m = fmax(-lo, hi);
            a = 0.5 / m;
            c = 0.5;
        } else if (lo < hi) {
            a = 1 / (hi - lo);
            c = -lo * a;
        } else {
            c = 0.5;
        }
        int ox = 1 + (k % gc) * (w + 1), oy = 1 + (k / gc) * (h + 1);
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++) {
                double v = im[i * w + j];
                double t = isfinite(v) ? a * v + c : 0.5;
                t = t < 0 ? 0 : t > 1 ? 1 : t;
                g[(size_t)(oy + i) * gw + ox + j] = (uint8_t)lround(t * 255);
            }
    }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) pix[(size_t)y * W + x] = g[(size_t)(y / zoom) * gw + x / zoom];
    free(g);
    double dw = gw * scale, dh = gh * scale;
    double x0 = px + (pw - dw) / 2, y0 = py + top;
    soma_status s = embed_png(b, pix, W, H, 1, x0, y0, dw, dh);
    free(pix);
    SOMA_TRY(s);
    frame fr = {.x0 = x0, .y0 = y0, .w = dw, .h = dh};
    panel_labels(b, p, px, pw, &fr, y0 + dh + 16, px + 8);
    return SOMA_OK;
}

// --- figure ----------------------------------------------------------------------------

soma_status soma_fig_to_string(const soma_fig *f, char **out, size_t *len) {
    if (!f || !out) return soma_error(SOMA_ERR_ARG, "fig: figure or out is NULL");
    *out = NULL;
    soma__buf b = {0};
    soma__buf_printf(&b,
                     "<svg xmlns=\"http://www.w3.org/2000/svg\" "
                     "xmlns:xlink=\"http://www.w3.org/1999/xlink\" version=\"1.1\" "
                     "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"" FONT
                     "\">\n",
                     f->width, f->height, f->width, f->height);
    soma__buf_printf(&b, "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", f->width,
                     f->height);
    double top = 0;
    if (f->title && *f->title) {
        text_at(&b, f->width / 2.0, 22, f->title, 15, "middle", 0,
                "font-weight=\"bold\" fill=\"" C_TEXT "\"");
        top = 32;
    }
    double cw = (double)f->width / f->cols, ch = (f->height - top) / f->rows;
    soma_status s = SOMA_OK;
    for (int r = 0; r < f->rows && s == SOMA_OK; r++)
        for (int c = 0; c < f->cols && s == SOMA_OK; c++) {
            const soma__panel *p = &f->panels[r * f->cols + c];
            double px = c * cw + 4, py = top + r * ch + 2, pw = cw - 8, ph = ch - 4;
            soma__buf_put(&b, "<g class=\"panel\">\n");
            if (p->n_items > 0 && p->mode == SOMA__MODE_HEAT)
                s = render_heat(&b, p, &p->items[0], px, py, pw, ph);
            else if (p->n_items > 0 && p->mode == SOMA__MODE_IMAGES)
                s = render_images(&b, p, &p->items[0], px, py, pw, ph);
            else
                render_xy(&b, p, px, py, pw, ph);
            soma__buf_put(&b, "</g>\n");
        }
    soma__buf_put(&b, "</svg>\n");
    if (s != SOMA_OK) {
        soma__buf_free(&b);
        return s;
    }
    return soma__buf_finish(&b, out, len);
}

soma_status soma_fig_save(const soma_fig *f, const char *path) {
    char *s;
    size_t n;
    SOMA_TRY(soma_fig_to_string(f, &s, &n));
    soma__buf pre = {0};
    soma__buf_put(&pre, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n");
    soma__buf_putn(&pre, s, n);
    free(s);
    SOMA_TRY(soma__buf_finish(&pre, &s, &n));
    soma_status st = soma_file_write_atomic(path, s, n);
    free(s);
    return st;
}
