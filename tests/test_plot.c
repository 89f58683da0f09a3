/* Tests for src/plot: every figure kind renders to well-formed SVG (balanced tags, escaped
 * text, no NaN/Inf in coordinates), nice ticks on known ranges, colour-bar limits, NaN
 * skipping, file sizes of image grids, and the HTML report of a fake output folder (one run
 * with a corrupt results.json).
 *
 *     test_plot                    run the tests
 *     test_plot --write-report DIR write a sample output folder DIR/out and DIR/report.html
 *                                  (used by test_report_browser.sh) */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "soma/plot.h"

// --- a small XML checker ---------------------------------------------------------------

/* Attributes whose values are numbers or path data: must never hold nan/inf. */
static int numeric_attr(const char *name, size_t n) {
    static const char *v[] = {"x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "width",
                              "height", "d", "transform", "stroke-width", "viewBox", "rx"};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        if (strlen(v[i]) == n && strncmp(v[i], name, n) == 0) return 1;
    return 0;
}

static int has_naninf(const char *s, size_t n) {
    for (size_t i = 0; i + 2 < n; i++) {
        char a = (char)tolower((unsigned char)s[i]), b = (char)tolower((unsigned char)s[i + 1]),
             c = (char)tolower((unsigned char)s[i + 2]);
        if ((a == 'n' && b == 'a' && c == 'n') || (a == 'i' && b == 'n' && c == 'f')) return 1;
    }
    return 0;
}

/* '&' must start an entity: &name; or &#digits; */
static int bad_amp(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '&') continue;
        size_t j = i + 1;
        if (j < n && s[j] == '#') j++;
        size_t k = j;
        while (k < n && isalnum((unsigned char)s[k])) k++;
        if (k == j || k >= n || s[k] != ';') return 1;
    }
    return 0;
}

/* Returns NULL if s is well-formed enough for us (balanced, properly nested tags; quoted
 * attributes; escaped text; numeric attributes free of nan/inf), else a reason. Counts
 * elements named `count_tag` into *count (may be NULL). */
static const char *xml_check(const char *s, const char *count_tag, int *count) {
    static char why[256];
    const char *stack[256];
    size_t stack_n[256];
    int depth = 0, seen_root = 0;
    if (count) *count = 0;
    const char *p = s;
    while (*p) {
        if (*p != '<') {
            const char *q = strchr(p, '<');
            size_t n = q ? (size_t)(q - p) : strlen(p);
            if (memchr(p, '>', n)) return "raw '>' in text";
            if (bad_amp(p, n)) return "unescaped '&' in text";
            p += n;
            continue;
        }
        if (strncmp(p, "<?", 2) == 0) {
            const char *q = strstr(p, "?>");
            if (!q) return "unterminated <?";
            p = q + 2;
            continue;
        }
        if (strncmp(p, "<!--", 4) == 0) {
            const char *q = strstr(p, "-->");
            if (!q) return "unterminated comment";
            p = q + 3;
            continue;
        }
        if (strncmp(p, "<!", 2) == 0) { /* doctype */
            const char *q = strchr(p, '>');
            if (!q) return "unterminated <!";
            p = q + 1;
            continue;
        }
        int closing = p[1] == '/';
        const char *name = p + 1 + closing;
        size_t nl = 0;
        while (name[nl] && (isalnum((unsigned char)name[nl]) || name[nl] == ':' ||
                            name[nl] == '-' || name[nl] == '_'))
            nl++;
        if (nl == 0) return "bad tag name";
        const char *q = name + nl;
        if (closing) {
            while (isspace((unsigned char)*q)) q++;
            if (*q != '>') return "junk in closing tag";
            if (depth == 0) return "closing tag without opening";
            depth--;
            if (stack_n[depth] != nl || strncmp(stack[depth], name, nl)) {
                snprintf(why, sizeof why, "</%.*s> closes <%.*s>", (int)nl, name,
                         (int)stack_n[depth], stack[depth]);
                return why;
            }
            p = q + 1;
            continue;
        }
        if (count && strlen(count_tag) == nl && strncmp(name, count_tag, nl) == 0) (*count)++;
        /* attributes */
        for (;;) {
            while (isspace((unsigned char)*q)) q++;
            if (*q == '>' || (q[0] == '/' && q[1] == '>')) break;
            const char *an = q;
            while (*q && *q != '=' && !isspace((unsigned char)*q) && *q != '>') q++;
            size_t al = (size_t)(q - an);
            if (al == 0 || *q != '=' || (q[1] != '"' && q[1] != '\'')) {
                snprintf(why, sizeof why, "bad attribute in <%.*s>", (int)nl, name);
                return why;
            }
            char quote = q[1];
            const char *v = q + 2, *ve = strchr(v, quote);
            if (!ve) return "unterminated attribute";
            if (memchr(v, '<', (size_t)(ve - v))) return "'<' in attribute";
            if (bad_amp(v, (size_t)(ve - v))) return "unescaped '&' in attribute";
            if (numeric_attr(an, al) && has_naninf(v, (size_t)(ve - v))) {
                snprintf(why, sizeof why, "nan/inf in %.*s=\"%.40s\"", (int)al, an, v);
                return why;
            }
            q = ve + 1;
        }
        if (*q == '/') {
            p = q + 2;
            if (depth == 0) seen_root++;
            continue;
        }
        if (depth == 0) seen_root++;
        if (depth == 256) return "too deep";
        stack[depth] = name;
        stack_n[depth] = nl;
        depth++;
        p = q + 1;
    }
    if (depth) {
        snprintf(why, sizeof why, "<%.*s> not closed", (int)stack_n[depth - 1], stack[depth - 1]);
        return why;
    }
    if (!seen_root) return "no element";
    return NULL;
}

static int count_str(const char *s, const char *needle) {
    int c = 0;
    size_t l = strlen(needle);
    for (const char *p = strstr(s, needle); p; p = strstr(p + l, needle)) c++;
    return c;
}

/* Renders f, checks it is well-formed, returns the text (caller frees) or NULL. */
static char *render_ok(soma_fig *f, const char *label) {
    char *s = NULL;
    size_t n = 0;
    CHECK_OK(soma_fig_to_string(f, &s, &n));
    if (!s) return NULL;
    CHECK(strlen(s) == n);
    const char *why = xml_check(s, "svg", NULL);
    if (why) fprintf(stderr, "%s: SVG not well-formed: %s\n", label, why);
    CHECK(why == NULL);
    CHECK(strncmp(s, "<svg ", 5) == 0);
    CHECK(strstr(s, "viewBox=") != NULL);
    return s;
}

// --- ticks and limits ------------------------------------------------------------------

static int ticks_are(double lo, double hi, int target, const double *want, int n_want) {
    double t[64];
    int n = soma_plot_ticks(lo, hi, target, t, 64);
    int ok = n == n_want;
    for (int i = 0; ok && i < n; i++) ok = fabs(t[i] - want[i]) <= 1e-12 * fmax(1, fabs(want[i]));
    if (!ok) {
        fprintf(stderr, "ticks(%g, %g, %d): got", lo, hi, target);
        for (int i = 0; i < n; i++) fprintf(stderr, " %.17g", t[i]);
        fprintf(stderr, "\n");
    }
    return ok;
}

static void test_ticks(void) {
    CHECK(ticks_are(0, 1, 5, (double[]){0, 0.2, 0.4, 0.6, 0.8, 1}, 6));
    CHECK(ticks_are(0, 100, 5, (double[]){0, 20, 40, 60, 80, 100}, 6));
    CHECK(ticks_are(-3.7, 12.2, 5, (double[]){-5, 0, 5, 10, 15}, 5));
    CHECK(ticks_are(0.1, 0.9, 5, (double[]){0, 0.2, 0.4, 0.6, 0.8, 1}, 6));
    CHECK(ticks_are(0, 49, 6, (double[]){0, 10, 20, 30, 40, 50}, 6));
    CHECK(ticks_are(1e-3, 4.2e-3, 5, (double[]){1e-3, 2e-3, 3e-3, 4e-3, 5e-3}, 5));
    CHECK(ticks_are(1000, 3500, 5, (double[]){1000, 2000, 3000, 4000}, 4));
    CHECK(ticks_are(12.2, -3.7, 5, (double[]){-5, 0, 5, 10, 15}, 5)); /* swapped */
    double t[64];
    /* a single value is widened around itself */
    int n = soma_plot_ticks(5, 5, 5, t, 64);
    CHECK(n >= 2 && t[0] <= 5 && t[n - 1] >= 5 && t[0] < t[n - 1]);
    n = soma_plot_ticks(0, 0, 5, t, 64);
    CHECK(n >= 2 && t[0] <= 0 && t[n - 1] >= 0);
    /* bounds always covered, steps 1/2/5 x 10^k, no float noise like 0.30000000000000004 */
    double ranges[][2] = {{0.13, 0.97}, {-1e6, 3e6}, {1.5e-7, 9e-7}, {-0.3, 0.3}, {17, 1234}};
    for (size_t k = 0; k < sizeof ranges / sizeof *ranges; k++) {
        n = soma_plot_ticks(ranges[k][0], ranges[k][1], 5, t, 64);
        CHECK(n >= 3 && n <= 11);
        CHECK(t[0] <= ranges[k][0] && t[n - 1] >= ranges[k][1]);
        double d = t[1] - t[0], m = d / pow(10, floor(log10(d)));
        CHECK(fabs(m - 1) < 1e-6 || fabs(m - 2) < 1e-6 || fabs(m - 5) < 1e-6);
        char buf[48];
        for (int i = 0; i < n; i++) CHECK(strlen(soma_plot_fmt(t[i], buf, sizeof buf)) <= 8);
    }
    CHECK(soma_plot_ticks(NAN, 1, 5, t, 64) == 0);
    CHECK(soma_plot_ticks(0, INFINITY, 5, t, 64) == 0);
    CHECK(soma_plot_ticks(0, 1, 5, t, 1) == 0);
    char buf[48];
    CHECK(strcmp(soma_plot_fmt(0.25, buf, sizeof buf), "0.25") == 0);
    CHECK(strcmp(soma_plot_fmt(-0.0, buf, sizeof buf), "0") == 0);
    CHECK(strcmp(soma_plot_fmt(1e6, buf, sizeof buf), "1e+06") == 0);
    CHECK(strcmp(soma_plot_fmt(120, buf, sizeof buf), "120") == 0);
    CHECK(strcmp(soma_plot_fmt(NAN, buf, sizeof buf), "NaN") == 0);
}

static void test_color_limits(void) {
    float lo, hi;
    soma_cmap used;
    float pos[] = {0.5f, 2.f, NAN, 1.f};
    soma_plot_color_limits(pos, 4, SOMA_CMAP_AUTO, &lo, &hi, &used);
    CHECK(lo == 0.5f && hi == 2.f && used == SOMA_CMAP_VIRIDIS);
    float sgn[] = {-0.5f, 2.f, INFINITY, 1.f};
    soma_plot_color_limits(sgn, 4, SOMA_CMAP_AUTO, &lo, &hi, &used);
    CHECK(lo == -2.f && hi == 2.f && used == SOMA_CMAP_DIVERGING);
    soma_plot_color_limits(pos, 4, SOMA_CMAP_DIVERGING, &lo, &hi, &used);
    CHECK(lo == -2.f && hi == 2.f);
    float nan3[] = {NAN, NAN, NAN};
    soma_plot_color_limits(nan3, 3, SOMA_CMAP_VIRIDIS, &lo, &hi, NULL);
    CHECK(lo == 0.f && hi == 1.f);
    float c[] = {3.f, 3.f};
    soma_plot_color_limits(c, 2, SOMA_CMAP_AUTO, &lo, &hi, NULL);
    CHECK(lo < 3.f && hi > 3.f);
    /* the colour bar of a signed heatmap shows symmetric limits */
    soma_fig *f;
    CHECK_OK(soma_fig_new(&f, 1, 1, 400, 300));
    float m[6] = {-1.f, 0.2f, 0.5f, 4.f, NAN, 0.f};
    CHECK_OK(soma_fig_heatmap(f, 0, m, 2, 3, NULL));
    char *s = render_ok(f, "heatmap limits");
    if (s) {
        CHECK(strstr(s, ">-4</text>") != NULL && strstr(s, ">4</text>") != NULL);
        CHECK(strstr(s, "class=\"colorbar\"") != NULL);
        CHECK(strstr(s, "#dddddd") != NULL); /* the NaN cell */
    }
    free(s);
    soma_fig_free(f);
    CHECK(soma_plot_palette(0) == 0x0072B2 && soma_plot_palette(8) == soma_plot_palette(0));
}

// --- figures ---------------------------------------------------------------------------

static void test_lines_nan(void) {
    soma_fig *f;
    CHECK_OK(soma_fig_new(&f, 1, 2, 900, 360));
    CHECK_OK(soma_fig_title(f, "Loss & accuracy <test> \"quoted\""));
    float y[20], x[20];
    for (int i = 0; i < 20; i++) x[i] = (float)i, y[i] = 1.f / (1 + i);
    y[7] = NAN;
    y[12] = INFINITY;
    CHECK_OK(soma_fig_line(f, 0, x, y, 20, "train <a&b>", NULL));
    CHECK_OK(soma_fig_labels(f, 0, "Loss", "epoch", "loss"));
    soma_line_style ds = {.dashed = 1, .markers = 1};
    float y2[20];
    for (int i = 0; i < 20; i++) y2[i] = 0.8f / (1 + i) + 0.05f;
    CHECK_OK(soma_fig_line(f, 0, NULL, y2, 20, "test", &ds));
    CHECK_OK(soma_fig_line(f, 0, NULL, NULL, 0, "empty", NULL)); /* empty series */
    float nan_only[3] = {NAN, NAN, NAN};
    CHECK_OK(soma_fig_line(f, 0, NULL, nan_only, 3, NULL, NULL));
    CHECK_OK(soma_fig_logy(f, 1, 1));
    float ly[5] = {1e-3f, 1e-2f, 0.f, -1.f, 3.f}; /* <= 0 skipped on log axes */
    CHECK_OK(soma_fig_line(f, 1, NULL, ly, 5, "log", NULL));
    CHECK_OK(soma_fig_hline(f, 1, 0.5f, "paper: 90.5%"));
    char *s = render_ok(f, "lines");
    if (s) {
        CHECK(strstr(s, "Loss &amp; accuracy &lt;test&gt; &quot;quoted&quot;") != NULL);
        CHECK(strstr(s, "train &lt;a&amp;b&gt;") != NULL);
        CHECK(strstr(s, "paper: 90.5%") != NULL);
        CHECK(strstr(s, "stroke-dasharray") != NULL);
        CHECK(strstr(s, "class=\"legend\"") != NULL);
        /* first series: 20 points, NaN at 7 and Inf at 12 -> 3 runs of the path */
        const char *p = strstr(s, "<path d=\"M");
        const char *lp = NULL;
        for (const char *q = s; (q = strstr(q, "stroke=\"#0072b2\" stroke-width=\"1.8\"")); q++) {
            lp = q;
            break;
        }
        CHECK(p != NULL && lp != NULL);
        if (lp) {
            const char *start = lp;
            while (start > s && strncmp(start, "<path d=\"", 9)) start--;
            int moves = 0, lines = 0;
            for (const char *q = start + 9; *q != '"'; q++) moves += *q == 'M', lines += *q == 'L';
            CHECK(moves == 3);
            CHECK(lines == 18 - 3);
        }
    }
    free(s);
    soma_fig_free(f);
}

static void test_kinds(void) {
    soma_fig *f;
    CHECK_OK(soma_fig_new(&f, 2, 3, 1200, 700));
    /* scatter of 3 classes */
    float sx[90], sy[90];
    int cls[90];
    for (int i = 0; i < 90; i++) {
        cls[i] = i % 3;
        sx[i] = (float)(cls[i] * 2 + sin(i * 1.7));
        sy[i] = (float)(cls[i] + cos(i * 2.3));
    }
    sx[5] = NAN;
    cls[6] = 7; /* outside the range: grey */
    const char *names[] = {"cat", "dog", "\"bird\""};
    CHECK_OK(soma_fig_scatter(f, 0, sx, sy, cls, 90, names, 3));
    /* raster */
    float t[200];
    int id[200];
    for (int i = 0; i < 200; i++) t[i] = (float)((i * 37) % 500), id[i] = i % 20;
    id[3] = -1;
    id[4] = 99;
    CHECK_OK(soma_fig_raster(f, 1, t, id, 200, 20));
    CHECK_OK(soma_fig_labels(f, 1, "Raster", "time (ms)", "neuron"));
    /* bars with errors and a reference line */
    float v[4] = {0.9f, 0.85f, NAN, 0.6f}, e[4] = {0.02f, 0.03f, 0.f, 0.05f};
    const char *bl[] = {"backprop", "FA", "DFA", "Hebbian"};
    CHECK_OK(soma_fig_bars(f, 2, v, e, 4, bl, 0));
    CHECK_OK(soma_fig_hline(f, 2, 0.905f, "paper: 90.5%"));
    /* heatmap with labels (diverging) and a big one (PNG) */
    float hm[16];
    for (int i = 0; i < 16; i++) hm[i] = (float)(i - 6) / 5.f;
    const char *rl[] = {"r0", "r1", "r2", "r<3>"}, *cl[] = {"c0", "c1", "c2", "c3"};
    soma_heatmap_opts ho = {.row_labels = rl, .col_labels = cl, .colorbar_label = "weight"};
    CHECK_OK(soma_fig_heatmap(f, 3, hm, 4, 4, &ho));
    float *big = malloc(sizeof(float) * 60 * 60);
    for (int i = 0; i < 3600; i++) big[i] = (float)(i % 60) * 0.1f;
    CHECK_OK(soma_fig_heatmap(f, 4, big, 60, 60, NULL));
    free(big);
    /* images */
    float im[6 * 25];
    for (int i = 0; i < 150; i++) im[i] = (float)sin(i * 0.3);
    CHECK_OK(soma_fig_images(f, 5, im, 6, 5, 5, 3, 1));
    char *s = render_ok(f, "kinds");
    if (s) {
        CHECK(strstr(s, "&quot;bird&quot;") != NULL);
        CHECK(strstr(s, "r&lt;3&gt;") != NULL);
        CHECK(count_str(s, "data:image/png;base64,") == 2);
        CHECK(strstr(s, "#999999") != NULL); /* out-of-range class */
        CHECK(strstr(s, "backprop") != NULL);
    }
    free(s);
    /* mode mixing and bad arguments fail without changing the figure */
    CHECK_FAILS(soma_fig_line(f, 3, NULL, hm, 4, NULL, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_fig_heatmap(f, 0, hm, 4, 4, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_fig_line(f, 6, NULL, hm, 4, NULL, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_fig_line(f, 0, NULL, NULL, 4, NULL, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_fig_xlim(f, 0, 1, 0), SOMA_ERR_ARG);
    CHECK_FAILS(soma_fig_images(f, 5, im, 1, 5, 5, 1, 1), SOMA_ERR_ARG);
    soma_fig *g = NULL;
    CHECK_FAILS(soma_fig_new(&g, 0, 1, 400, 300), SOMA_ERR_ARG);
    CHECK(g == NULL);
    s = render_ok(f, "kinds again");
    free(s);
    soma_fig_free(f);
    soma_fig_free(NULL);
}

/* A noise-ceiling band behind bars: drawn first (beneath the bars), spanning lo..hi on the y
 * axis, which grows to hold it; bad bounds fail. */
static void test_hband(void) {
    soma_fig *f;
    CHECK_OK(soma_fig_new(&f, 1, 2, 800, 400));
    float v[3] = {0.2f, 0.3f, 0.25f}, e[3] = {0.01f, 0.02f, 0.01f};
    const char *bl[] = {"m1", "m2", "m3"};
    CHECK_OK(soma_fig_bars(f, 0, v, e, 3, bl, 0));
    CHECK_OK(soma_fig_hband(f, 0, 0.8f, 0.9f, "noise ceiling"));
    CHECK_FAILS(soma_fig_hband(f, 0, 0.9f, 0.8f, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_fig_hband(f, 0, NAN, 0.8f, NULL), SOMA_ERR_ARG);
    CHECK_FAILS(soma_fig_hband(f, 2, 0.1f, 0.2f, NULL), SOMA_ERR_ARG);
    float hm[4] = {0, 1, 1, 0};
    CHECK_OK(soma_fig_heatmap(f, 1, hm, 2, 2, NULL));
    CHECK_FAILS(soma_fig_hband(f, 1, 0.1f, 0.2f, NULL), SOMA_ERR_ARG); /* not an x-y panel */
    char *s = render_ok(f, "hband");
    if (s) {
        const char *band = strstr(s, "fill=\"#bbbbbb\"");
        char bar_tag[32];
        snprintf(bar_tag, sizeof bar_tag, "<g fill=\"#%06x\"", soma_plot_palette(0));
        const char *bars = strstr(s, bar_tag);
        CHECK(band != NULL && bars != NULL && band < bars);
        CHECK(count_str(s, "fill=\"#bbbbbb\"") == 1);
        CHECK(strstr(s, ">noise ceiling<") != NULL);
        CHECK(strstr(s, ">0.9<") != NULL || strstr(s, ">1<") != NULL); /* axis reaches the band */
        /* the band's height over the bar of 0.2's height is (0.9 - 0.8) / 0.2 */
        const char *r = band;
        while (r > s && strncmp(r, "<rect", 5)) r--;
        double bh = -1, barh = -1;
        const char *hp = strstr(r, "height=\"");
        if (hp) bh = atof(hp + 8);
        const char *b0 = strstr(bars, "<rect");
        const char *bhp = b0 ? strstr(b0, "height=\"") : NULL;
        if (bhp) barh = atof(bhp + 8);
        CHECK(bh > 0 && barh > 0 && fabs(bh / barh - 0.5) < 0.05);
    }
    free(s);
    soma_fig_free(f);
}

static void test_empty_and_limits(void) {
    soma_fig *f;
    CHECK_OK(soma_fig_new(&f, 2, 2, 600, 500));
    float y[5] = {1, 2, 3, 4, 5};
    CHECK_OK(soma_fig_line(f, 1, NULL, y, 5, NULL, NULL));
    CHECK_OK(soma_fig_xlim(f, 1, 1, 3));      /* points outside are dropped */
    CHECK_OK(soma_fig_ylim(f, 1, 0, 10));
    CHECK_OK(soma_fig_scatter(f, 2, y, y, NULL, 0, NULL, 0)); /* empty scatter */
    float one = 2.f;
    CHECK_OK(soma_fig_line(f, 3, NULL, &one, 1, "single", NULL)); /* one point: a dot */
    char *s = render_ok(f, "empty");
    if (s) CHECK(strstr(s, "no data") != NULL);
    free(s);
    soma_fig_free(f);
}

static void fill_digitish(float *im, int n, int h, int w) {
    /* smooth blobs like real images (worst case for size is noise; see below) */
    for (int k = 0; k < n; k++)
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++) {
                double cx = w / 2.0 + 5 * sin(k), cy = h / 2.0 + 5 * cos(k * 1.3);
                double r = sqrt((i - cy) * (i - cy) + (j - cx) * (j - cx));
                im[((size_t)k * h + i) * w + j] = (float)(r < 6 + k % 5 ? 1 - r / 12 : 0);
            }
}

static void test_sizes(void) {
    /* 6 filters of 5x5: tiny */
    soma_fig *f;
    CHECK_OK(soma_fig_new(&f, 1, 1, 360, 260));
    float filt[150];
    for (int i = 0; i < 150; i++) filt[i] = (float)cos(i * 0.7) * 0.3f;
    CHECK_OK(soma_fig_images(f, 0, filt, 6, 5, 5, 6, 1));
    CHECK_OK(soma_fig_labels(f, 0, "conv1 filters", NULL, NULL));
    char *s = render_ok(f, "filters");
    if (s) {
        printf("6x5x5 filter grid: %zu bytes\n", strlen(s));
        CHECK(strlen(s) < 12000);
    }
    free(s);
    soma_fig_free(f);
    /* 64 images of 28x28: under 300 KB even for pure noise */
    float *im = malloc(sizeof(float) * 64 * 784);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0) fill_digitish(im, 64, 28, 28);
        else
            for (uint64_t i = 0, r = 88172645463325252u; i < 64 * 784; i++) {
                r ^= r << 13, r ^= r >> 7, r ^= r << 17; /* xorshift noise */
                im[i] = (float)(r >> 40) / (float)(1 << 24);
            }
        CHECK_OK(soma_fig_new(&f, 1, 1, 700, 720));
        CHECK_OK(soma_fig_images(f, 0, im, 64, 28, 28, 8, pass));
        s = render_ok(f, "64 images");
        if (s) {
            printf("64x28x28 image grid (%s): %zu bytes\n", pass ? "noise" : "blobs", strlen(s));
            CHECK(strlen(s) < 300000);
        }
        free(s);
        soma_fig_free(f);
    }
    free(im);
}

// --- the report ------------------------------------------------------------------------

static int write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fputs(text, f);
    return fclose(f) == 0;
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

/* A sample output folder: three runs (one corrupt) and a folder that is not a run. Returns
 * the number of SVG figures written. */
static int make_out_dir(const char *out) {
    char p[1024];
    mkdir(out, 0755);
    int n_svg = 0;
    /* run 1: a training run with a landmark and figures */
    snprintf(p, sizeof p, "%s/lenet-fmnist", out);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/lenet-fmnist/results.json", out);
    write_text(p,
               "{\"experiment\": \"lenet-fmnist\",\n"
               " \"summary\": \"LeNet-5 on Fashion-MNIST reaches the accuracy of the <paper> & more.\",\n"
               " \"landmark\": {\"paper\": \"LeCun et al. 1998\", \"figure\": \"Table 1\", "
               "\"value\": 0.905, \"key\": \"test_accuracy\"},\n"
               " \"ours\": {\"test_accuracy\": 0.9012, \"train_loss\": 0.231, \"epochs\": 10,\n"
               "          \"curve\": [0.5,0.6,0.7,0.75,0.8,0.82,0.85,0.87,0.88,0.89,0.895,0.9]},\n"
               " \"pass\": true, \"options\": {\"lr\": 0.01, \"batch\": 64, \"net\": \"conv5x5x6,relu\"},\n"
               " \"seed\": 42, \"threads\": 2, \"timing\": {\"train_s\": 12.5, \"nested\": {\"deep\": 1}}}\n");
    soma_fig *f;
    float loss[30], acc[30], tacc[30];
    for (int i = 0; i < 30; i++) {
        loss[i] = (float)(2.3 * exp(-i / 6.0) + 0.2);
        acc[i] = (float)(0.91 - 0.5 * exp(-i / 5.0));
        tacc[i] = (float)(0.90 - 0.52 * exp(-i / 5.5));
    }
    acc[17] = NAN;
    if (soma_fig_new(&f, 1, 2, 960, 360) == SOMA_OK) {
        soma_fig_title(f, "LeNet-5 on Fashion-MNIST");
        soma_fig_line(f, 0, NULL, loss, 30, "train", NULL);
        soma_fig_labels(f, 0, "Loss", "epoch", "cross-entropy");
        soma_fig_logy(f, 0, 1);
        soma_fig_line(f, 1, NULL, acc, 30, "train", NULL);
        soma_line_style ds = {.dashed = 1, .markers = 1};
        soma_fig_line(f, 1, NULL, tacc, 30, "test", &ds);
        soma_fig_hline(f, 1, 0.905f, "paper: 90.5%");
        soma_fig_labels(f, 1, "Accuracy", "epoch", "accuracy");
        snprintf(p, sizeof p, "%s/lenet-fmnist/curves.svg", out);
        if (soma_fig_save(f, p) == SOMA_OK) n_svg++;
        soma_fig_free(f);
    }
    if (soma_fig_new(&f, 1, 2, 960, 420) == SOMA_OK) {
        float filt[6 * 25], *im = malloc(sizeof(float) * 64 * 784);
        for (int i = 0; i < 150; i++) filt[i] = (float)(cos(i * 0.7) * sin(i * 0.13));
        soma_fig_images(f, 0, filt, 6, 5, 5, 3, 1);
        soma_fig_labels(f, 0, "conv1 filters", NULL, NULL);
        if (im) {
            fill_digitish(im, 64, 28, 28);
            soma_fig_images(f, 1, im, 64, 28, 28, 8, 0);
            soma_fig_labels(f, 1, "inputs", NULL, NULL);
        }
        free(im);
        snprintf(p, sizeof p, "%s/lenet-fmnist/weights.svg", out);
        if (soma_fig_save(f, p) == SOMA_OK) n_svg++;
        soma_fig_free(f);
    }
    /* run 2: corrupt results.json, one figure */
    snprintf(p, sizeof p, "%s/broken-run", out);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/broken-run/results.json", out);
    write_text(p, "{\"experiment\": \"broken\",\n \"ours\": {\"x\": 1,,}\n");
    if (soma_fig_new(&f, 1, 3, 1000, 330) == SOMA_OK) {
        float hm[100], sx[150], sy[150], t[400];
        int cls[150], id[400];
        const char *lab[10] = {"T-shirt", "Trouser", "Pullover", "Dress", "Coat",
                               "Sandal", "Shirt", "Sneaker", "Bag", "Boot"};
        for (int i = 0; i < 10; i++)
            for (int j = 0; j < 10; j++) hm[i * 10 + j] = i == j ? 0.f : (float)(0.3 + 0.7 * fabs(sin(i * 3 + j * 7.0)));
        soma_heatmap_opts ho = {.row_labels = lab, .col_labels = lab, .colorbar_label = "dissimilarity"};
        soma_fig_heatmap(f, 0, hm, 10, 10, &ho);
        soma_fig_labels(f, 0, "RDM", NULL, NULL);
        for (int i = 0; i < 150; i++) {
            cls[i] = i % 3;
            sx[i] = (float)(cls[i] * 1.5 + sin(i * 1.7));
            sy[i] = (float)(cls[i] * 0.8 + cos(i * 2.3));
        }
        const char *cn[] = {"class A", "class B", "class C"};
        soma_fig_scatter(f, 1, sx, sy, cls, 150, cn, 3);
        soma_fig_labels(f, 1, "PCA", "PC 1", "PC 2");
        for (int i = 0; i < 400; i++) t[i] = (float)((i * 7919) % 1000) / 10.f, id[i] = (i * 31) % 40;
        soma_fig_raster(f, 2, t, id, 400, 40);
        soma_fig_labels(f, 2, "Spikes", "time (ms)", "neuron");
        snprintf(p, sizeof p, "%s/broken-run/analysis.svg", out);
        if (soma_fig_save(f, p) == SOMA_OK) n_svg++;
        soma_fig_free(f);
    }
    /* run 3: a minimal run with no landmark and a signed heatmap + bars */
    snprintf(p, sizeof p, "%s/schultz1997", out);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/schultz1997/results.json", out);
    write_text(p, "{\"summary\": \"TD error moves from reward to cue.\", \"pass\": false, "
                  "\"ours\": {\"value\": 0.5}, \"landmark\": {\"paper\": \"Schultz et al. 1997\", "
                  "\"value\": 1}, \"trace\": [1,2,3,4,5,6,7,8,9,10,11,12,13], \"flag\": null}");
    if (soma_fig_new(&f, 1, 2, 900, 340) == SOMA_OK) {
        float td[12 * 20], v[4] = {0.9f, 0.84f, 0.8f, 0.62f}, e[4] = {0.01f, 0.02f, 0.03f, 0.04f};
        for (int i = 0; i < 12; i++)
            for (int j = 0; j < 20; j++)
                td[i * 20 + j] = (float)((j == 5 ? i / 11.0 : 0) + (j == 15 ? 1 - i / 11.0 : 0) -
                                         (j == 16 && i > 8 ? 0.6 : 0));
        soma_heatmap_opts ho = {.colorbar_label = "TD error"};
        soma_fig_heatmap(f, 0, td, 12, 20, &ho);
        soma_fig_labels(f, 0, "TD error over trials", "time step", "trial");
        const char *bl[] = {"backprop", "feedback alignment", "DFA", "Hebbian"};
        soma_fig_bars(f, 1, v, e, 4, bl, 0);
        soma_fig_hline(f, 1, 0.905f, "paper: 90.5%");
        soma_fig_labels(f, 1, "Rules", NULL, "test accuracy");
        snprintf(p, sizeof p, "%s/schultz1997/td.svg", out);
        if (soma_fig_save(f, p) == SOMA_OK) n_svg++;
        soma_fig_free(f);
    }
    /* not a run folder: ignored */
    snprintf(p, sizeof p, "%s/empty-folder", out);
    mkdir(p, 0755);
    return n_svg;
}

static void test_report(void) {
    char dir[] = "/tmp/soma_test_plot_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    char out[1100], html[1100];
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(html, sizeof html, "%s/report.html", dir);
    int n_svg = make_out_dir(out);
    CHECK(n_svg == 4);
    CHECK_OK(soma_report_build(out, html));
    char *s = read_text(html);
    CHECK(s != NULL);
    if (s) {
        /* every inlined SVG is well-formed on its own (HTML void tags aside) */
        for (const char *q = strstr(s, "<svg "); q; q = strstr(q + 1, "<svg ")) {
            const char *end = strstr(q, "</svg>");
            CHECK(end != NULL);
            if (!end) break;
            char *one = strndup(q, (size_t)(end + 6 - q));
            const char *why = one ? xml_check(one, "svg", NULL) : "oom";
            if (why) fprintf(stderr, "report svg: %s\n", why);
            CHECK(why == NULL);
            free(one);
        }
        CHECK(count_str(s, "<svg ") == n_svg);
        CHECK(count_str(s, "</svg>") == n_svg);
        CHECK(strstr(s, "<script") == NULL);
        CHECK(strstr(s, "http://") == NULL || !strstr(s, "src=\"http"));
        CHECK(strstr(s, "<?xml") == NULL);
        CHECK(strstr(s, "lenet-fmnist") != NULL);
        CHECK(strstr(s, "LeCun et al. 1998") != NULL);
        CHECK(strstr(s, "0.9012") != NULL); /* headline = ours[landmark.key] */
        CHECK(strstr(s, "0.905") != NULL);
        CHECK(strstr(s, "class=\"pass\">PASS") != NULL);
        CHECK(strstr(s, "class=\"fail\">FAIL") != NULL);
        CHECK(strstr(s, "not valid JSON") != NULL); /* the corrupt run is a note */
        CHECK(strstr(s, "class=\"error\"") != NULL);
        CHECK(strstr(s, "&lt;paper&gt; &amp; more") != NULL);
        CHECK(strstr(s, "timing.nested.deep") != NULL); /* flattened */
        CHECK(strstr(s, "ours.curve") != NULL && strstr(s, "length 12") != NULL);
        CHECK(strstr(s, "length 13") != NULL);
        CHECK(strstr(s, "seed = 42") != NULL && strstr(s, "threads = 2") != NULL);
        CHECK(strstr(s, "lr = 0.01") != NULL);
        CHECK(strstr(s, "empty-folder") == NULL);
        /* sorted by folder name */
        const char *a = strstr(s, "id=\"run-broken-run\""), *b = strstr(s, "id=\"run-lenet-fmnist\""),
                   *c = strstr(s, "id=\"run-schultz1997\"");
        CHECK(a && b && c && a < b && b < c);
        CHECK(strstr(s, "schultz1997") != NULL); /* name from the folder */
    }
    free(s);
    /* bad arguments and a missing folder */
    CHECK_FAILS(soma_report_build("/nonexistent/soma/out", html), SOMA_ERR_IO);
    char empty[1100];
    snprintf(empty, sizeof empty, "%s/none", dir);
    mkdir(empty, 0755);
    CHECK_OK(soma_report_build(empty, html));
    s = read_text(html);
    CHECK(s && strstr(s, "No runs found") != NULL);
    free(s);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

static void test_save(void) {
    char dir[] = "/tmp/soma_test_save_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    char p[1100];
    snprintf(p, sizeof p, "%s/f.svg", dir);
    soma_fig *f;
    CHECK_OK(soma_fig_new(&f, 1, 1, 300, 200));
    float y[3] = {1, 3, 2};
    CHECK_OK(soma_fig_line(f, 0, NULL, y, 3, "a", NULL));
    CHECK_OK(soma_fig_save(f, p));
    char *s = read_text(p);
    CHECK(s && strncmp(s, "<?xml", 5) == 0 && xml_check(s, "svg", NULL) == NULL);
    free(s);
    CHECK_FAILS(soma_fig_save(f, "/nonexistent/dir/f.svg"), SOMA_ERR_IO);
    soma_fig_free(f);
    remove(p);
    rmdir(dir);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--write-report") == 0) {
        char out[2048], html[2048];
        snprintf(out, sizeof out, "%s/out", argv[2]);
        snprintf(html, sizeof html, "%s/report.html", argv[2]);
        int n = make_out_dir(out);
        soma_status st = soma_report_build(out, html);
        if (st != SOMA_OK) {
            fprintf(stderr, "test_plot: report failed: %s\n", soma_errmsg());
            return 1;
        }
        printf("%d\n", n); /* the number of SVG figures in the page */
        return 0;
    }
    test_ticks();
    test_color_limits();
    test_lines_nan();
    test_kinds();
    test_hband();
    test_empty_and_limits();
    test_sizes();
    test_save();
    test_report();
    return check_report("test_plot");
}
