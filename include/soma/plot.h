/* soma/plot.h -- self-contained SVG figures and the one-page HTML report.
 *
 * A figure is a grid of panels (subplots). Each panel gets axes with "nice" ticks, tick
 * labels, axis labels and a title, and holds any number of series: lines, scatter points,
 * a heatmap with a colour bar, a spike raster, an image grid, bars and horizontal reference
 * lines. Adding a series copies its data: the caller's arrays are borrowed only for the
 * call. Rendering produces SVG 1.1 text with a viewBox, no scripts and no external
 * resources (image grids and large heatmaps are embedded as base64 PNG).
 *
 *     soma_fig *f;
 *     SOMA_TRY(soma_fig_new(&f, 1, 2, 900, 360));        // 1 row, 2 panels
 *     soma_fig_title(f, "Training");
 *     soma_fig_labels(f, 0, "Accuracy", "epoch", "accuracy");
 *     soma_fig_line(f, 0, NULL, acc, n_epochs, "train", NULL);    // x = 0..n-1
 *     soma_fig_hline(f, 0, 0.905f, "paper: 90.5%");
 *     soma_fig_heatmap(f, 1, rdm, 10, 10, NULL);          // NULL: default options
 *     soma_status st = soma_fig_save(f, "out/run/fig.svg");   // atomic
 *     soma_fig_free(f);
 *
 * Panels are numbered row-major from 0 (panel = row * cols + col). A panel draws in one of
 * three modes chosen by its first series: x-y axes (lines, scatter, raster, bars, hlines),
 * a matrix (heatmap), or an image grid; adding a series of another mode returns
 * SOMA_ERR_ARG. Non-finite values (NaN, +-Inf) are skipped everywhere: a line breaks at
 * them and resumes after, heatmap cells are drawn light grey. On a log-y panel values
 * <= 0 are skipped too.
 *
 * Errors: SOMA_ERR_ARG for a bad panel index, NULL data with n > 0, or negative sizes;
 * SOMA_ERR_NOMEM when copying fails; SOMA_ERR_IO when saving fails. A failed call leaves
 * the figure as it was. Thread safety: a figure is not thread-safe; distinct figures may
 * be built and rendered on different threads.
 *
 * The report (soma_report_build) gathers every run folder under an output directory into
 * one HTML page; see the results.json convention above soma_report_build.
 */
#ifndef SOMA_PLOT_H
#define SOMA_PLOT_H

#include <stddef.h>

#include "soma/core.h"

#ifdef __cplusplus
extern "C" {
#endif

// --- figures ---------------------------------------------------------------------------

/* Opaque figure handle: soma_fig_new / soma_fig_free. */
typedef struct soma_fig soma_fig;

/* A new figure of rows x cols panels, width x height pixels in all (a viewBox is written, so
 * the SVG scales). rows, cols in 1..16; width, height in 100..8000. */
soma_status soma_fig_new(soma_fig **out, int rows, int cols, int width, int height);
void soma_fig_free(soma_fig *f); /* NULL is a no-op */

/* The figure's overall title (NULL or "" for none). The text is copied. */
soma_status soma_fig_title(soma_fig *f, const char *title);
/* A panel's title and axis labels; any may be NULL (left unchanged) or "" (cleared). */
soma_status soma_fig_labels(soma_fig *f, int panel, const char *title, const char *xlabel,
                            const char *ylabel);
/* Logarithmic y axis (ticks at powers of ten) for an x-y panel. */
soma_status soma_fig_logy(soma_fig *f, int panel, int on);
/* Fixes an axis range of an x-y panel instead of the automatic one; lo < hi, finite
 * (NaN for either restores the automatic range). */
soma_status soma_fig_xlim(soma_fig *f, int panel, double lo, double hi);
soma_status soma_fig_ylim(soma_fig *f, int panel, double lo, double hi);

/* Line style; a zero-initialised struct (or NULL) means: next palette colour, solid, 1.8 px,
 * no markers. */
typedef struct soma_line_style {
    int color;    /* 0: next palette colour; k >= 1: palette colour k-1; or 0xRRGGBB | 1<<24 */
    int dashed;   /* 1: dashed */
    int markers;  /* 1: a small circle at every point */
    float width;  /* stroke width in px (0: 1.8) */
} soma_line_style;
#define SOMA_RGB(hex) ((int)(0x1000000 | ((hex) & 0xFFFFFF)))

/* y[n] against x[n] (x NULL: 0..n-1). label (may be NULL) goes in the panel's legend; the
 * legend is drawn when any series of the panel has a label. n == 0 adds an empty series. */
soma_status soma_fig_line(soma_fig *f, int panel, const float *x, const float *y, int n,
                          const char *label, const soma_line_style *style);

/* n points (x[i], y[i]) coloured by class cls[i] in 0..n_classes-1 (cls NULL: all class 0).
 * class_names (may be NULL; then "class k") gives the legend entries. Points of a class
 * outside the range are drawn grey. */
soma_status soma_fig_scatter(soma_fig *f, int panel, const float *x, const float *y,
                             const int *cls, int n, const char *const *class_names,
                             int n_classes);

typedef enum soma_cmap {
    SOMA_CMAP_AUTO = 0,      /* diverging when the data has both signs, else sequential */
    SOMA_CMAP_VIRIDIS = 1,   /* sequential, perceptually uniform */
    SOMA_CMAP_DIVERGING = 2, /* blue - white - red, limits symmetric about 0 */
    SOMA_CMAP_GREY = 3,
    SOMA_CMAP_COUNT
} soma_cmap;

/* Heatmap options; a zero-initialised struct (or NULL) means automatic everything. */
typedef struct soma_heatmap_opts {
    soma_cmap cmap;
    int fixed_limits;               /* 1: use vmin/vmax as given */
    float vmin, vmax;
    const char *const *row_labels;  /* rows entries or NULL; copied */
    const char *const *col_labels;  /* cols entries or NULL; copied */
    const char *colorbar_label;     /* may be NULL */
} soma_heatmap_opts;

/* m[rows, cols] (row-major, row 0 at the top) with a colour bar. */
soma_status soma_fig_heatmap(soma_fig *f, int panel, const float *m, int rows, int cols,
                             const soma_heatmap_opts *opts);

/* The colour limits a heatmap of x[n] gets: finite min/max for a sequential map; for the
 * diverging map (or AUTO on signed data) [-a, a] with a = max |x|. All-NaN data gives
 * [0, 1]; a constant gives a range around it. *cmap_used receives the resolved map (may be
 * NULL). */
void soma_plot_color_limits(const float *x, size_t n, soma_cmap cmap, float *lo, float *hi,
                            soma_cmap *cmap_used);

/* Spike raster: spike k at time t[k] of neuron id[k] (0..n_neurons-1; others skipped),
 * each drawn as a short vertical tick. */
soma_status soma_fig_raster(soma_fig *f, int panel, const float *t, const int *id, int n,
                            int n_neurons);

/* An image grid: n images of h x w floats (imgs[n, h, w]) in `cols` columns (0: about
 * square), each scaled to its own [min, max] (normalize = 1; for signed data symmetric
 * about 0, mid-grey = 0) or clamped to [0, 1] (normalize = 0). Embedded as one grey PNG. */
soma_status soma_fig_images(soma_fig *f, int panel, const float *imgs, int n, int h, int w,
                            int cols, int normalize);

/* A horizontal reference line at y (dashed, dark grey) with a label at its right end. */
soma_status soma_fig_hline(soma_fig *f, int panel, float y, const char *label);

/* A horizontal band: the panel's full width between y = lo and y = hi (lo <= hi, finite),
 * filled light grey and drawn beneath every other series (a noise ceiling behind bars), with
 * a label (may be NULL) at its left end. The y range grows to hold it. */
soma_status soma_fig_hband(soma_fig *f, int panel, float lo, float hi, const char *label);

/* A bar chart of v[n] at categories 0..n-1; labels (may be NULL) name the categories on
 * the x axis; err (may be NULL) draws +- error whiskers. color as in soma_line_style. */
soma_status soma_fig_bars(soma_fig *f, int panel, const float *v, const float *err, int n,
                          const char *const *labels, int color);

/* Renders the figure as SVG 1.1 text. *out (NUL-terminated, length *len; len may be NULL)
 * is released with soma_free. */
soma_status soma_fig_to_string(const soma_fig *f, char **out, size_t *len);
/* Renders and writes the SVG atomically (temp file + rename). */
soma_status soma_fig_save(const soma_fig *f, const char *path);

// --- helpers (exposed for tests and for callers drawing their own) ---------------------

/* "Nice numbers" ticks for [lo, hi] (Heckbert): about `target` ticks (2..20) with a step of
 * 1, 2 or 5 x 10^k, first tick <= lo, last tick >= hi. Writes at most `cap` ticks into
 * ticks[] and returns the count (0 on bad input: non-finite bounds or cap < 2). lo == hi
 * is widened around the value. */
int soma_plot_ticks(double lo, double hi, int target, double *ticks, int cap);

/* Formats v compactly ("0.25", "1e+06", "-3") into buf[cap]; returns buf. */
char *soma_plot_fmt(double v, char *buf, size_t cap);

/* The palette colour k (colour-blind-safe, Okabe & Ito 2008, 8 colours, cycling) as
 * 0xRRGGBB. */
int soma_plot_palette(int k);

// --- the report ------------------------------------------------------------------------

/* Writes one self-contained HTML page (inline CSS, SVG figures inlined, PNGs as data URIs,
 * no scripts, no external resources) for every run folder in out_dir, atomically.
 *
 * A run folder is a direct subdirectory of out_dir that holds results.json or any .svg /
 * .png figure. Runs are sorted by folder name. The page has a header (date, soma version),
 * a summary table of every run, then one section per run: summary, landmark, setup
 * (options, seed, threads), a results table and its figures (sorted by file name).
 *
 * results.json convention (every key optional; unknown keys are shown in the results
 * table, nested objects flattened to "a.b.c", arrays longer than 10 shown as their length
 * and first values):
 *     "experiment": "schultz1997",           name (the folder name if absent)
 *     "summary":    "one or two sentences",
 *     "landmarks":  [{"figure": "...", "source": "Schultz et al. 1997", "link": "https://doi.org/...",
 *                     "key": "accuracy", "compare": ">=", "value": 0.905, "ours": 0.897,
 *                     "meets": true | false | null, "verdict": "meets" | "misses" |
 *                     "reduced: not comparable with the landmark"}, ...]  (soma_exp_run
 *                   writes this form: one row per landmark in the summary and the section)
 *     "reduced":    {"note": "...", "options": [...]}, shown above the run's landmarks
 *     "landmark":   {"paper": ..., "figure": ..., "value": ..., "key": ...}  (older form)
 *     "ours":       {"accuracy": 0.897, ...}, the measured numbers; the headline is
 *                   ours[landmark.key], else ours.value, else the first number in ours
 *     "pass":       true | false,            shown as PASS / FAIL in the summary
 *     "options":    {...}, "seed": 42, "threads": 2
 * A missing, unreadable or corrupt results.json becomes a visible error note in that run's
 * section; the report still succeeds. Errors: SOMA_ERR_IO when out_dir cannot be read or
 * html_path cannot be written; SOMA_ERR_NOMEM. Not thread-safe with writers of out_dir. */
soma_status soma_report_build(const char *out_dir, const char *html_path);
/* The landmark table of every run under out_dir as Markdown (the README's table): one row
 * per landmark of results.json "landmarks" (figure, linked source, the landmark's number,
 * ours, verdict, seed and threads, wall time), runs sorted by folder name. SOMA_ERR_ARG
 * when no run has landmarks; SOMA_ERR_IO, SOMA_ERR_NOMEM as soma_report_build. */
soma_status soma_report_markdown(const char *out_dir, const char *md_path);

#ifdef __cplusplus
}
#endif
#endif
