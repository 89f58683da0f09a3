/* The one-page HTML report: every run folder of an output directory, its results.json
 * and its figures, in one self-contained file (inline CSS and SVG, PNGs as data URIs). */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "plot/internal.h"
#include "soma/io.h"
#include "soma/core.h" /* SOMA_VERSION */

#define MAX_JSON_BYTES ((size_t)64 << 20)
#define MAX_FIG_BYTES ((size_t)32 << 20)
#define MAX_ROWS 400

// --- names in a folder -----------------------------------------------------------------

typedef struct names {
    char **v;
    int n, cap;
} names;

static int names_add(names *s, const char *x) {
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 16;
        char **q = realloc(s->v, (size_t)cap * sizeof *q);
        if (!q) return 0;
        s->v = q;
        s->cap = cap;
    }
    size_t l = strlen(x) + 1;
    char *c = malloc(l);
    if (!c) return 0;
    memcpy(c, x, l);
    s->v[s->n++] = c;
    return 1;
}

static void names_free(names *s) {
    for (int i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static char *join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 2);
    if (!p) return NULL;
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb + 1);
    return p;
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Sorted file names in dir ending in .svg or .png (figures), and whether results.json is
 * there. Returns 0 on allocation failure. */
static int list_run(const char *dir, names *figs, int *has_results) {
    *has_results = 0;
    DIR *d = opendir(dir);
    if (!d) return 1;
    struct dirent *e;
    int ok = 1;
    while ((e = readdir(d)) && ok) {
        if (e->d_name[0] == '.') continue;
        if (strcmp(e->d_name, "results.json") == 0) *has_results = 1;
        else if (ends_with(e->d_name, ".svg") || ends_with(e->d_name, ".png"))
            ok = names_add(figs, e->d_name);
    }
    closedir(d);
    if (figs->n) qsort(figs->v, (size_t)figs->n, sizeof *figs->v, cmp_str);
    return ok;
}

// --- one run ---------------------------------------------------------------------------

typedef struct run {
    char *name;
    char *dir;
    names figs;
    int has_results;
    cJSON *json;    /* NULL when missing or corrupt */
    char err[512];  /* why json is NULL ("" when there is simply no results.json) */
} run;

static void run_load(run *r) {
    if (!r->has_results) return;
    char *path = join(r->dir, "results.json");
    if (!path) {
        snprintf(r->err, sizeof r->err, "out of memory");
        return;
    }
    char *text;
    size_t n;
    if (soma_file_read(path, MAX_JSON_BYTES, (void **)&text, &n) != SOMA_OK) {
        snprintf(r->err, sizeof r->err, "results.json could not be read: %s", soma_errmsg());
        free(path);
        return;
    }
    free(path);
    const char *end = NULL;
    r->json = cJSON_ParseWithLengthOpts(text, n, &end, 0);
    if (!r->json || !cJSON_IsObject(r->json)) {
        if (r->json) {
            snprintf(r->err, sizeof r->err, "results.json is not a JSON object");
        } else {
            const char *at = cJSON_GetErrorPtr();
            size_t off = at && at >= text && at <= text + n ? (size_t)(at - text) : n;
            int line = 1;
            for (size_t i = 0; i < off; i++) line += text[i] == '\n';
            snprintf(r->err, sizeof r->err,
                     "results.json is not valid JSON (line %d, byte %zu); HINT: re-run the "
                     "experiment to rewrite it", line, off);
        }
        cJSON_Delete(r->json);
        r->json = NULL;
    }
    free(text);
}

static void run_free(run *r) {
    free(r->name);
    free(r->dir);
    names_free(&r->figs);
    cJSON_Delete(r->json);
}

// --- JSON to text ----------------------------------------------------------------------

static const cJSON *get(const cJSON *o, const char *key) {
    return o && cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

static void put_number(soma__buf *b, double v) {
    char t[48];
    if (v == floor(v) && fabs(v) < 1e15)
        snprintf(t, sizeof t, "%.0f", v);
    else
        snprintf(t, sizeof t, "%.6g", v);
    soma__buf_put(b, t);
}

/* A scalar (or a short summary of an array/object) as escaped HTML text. */
static void put_value(soma__buf *b, const cJSON *v) {
    if (!v || cJSON_IsNull(v)) {
        soma__buf_put(b, "null");
    } else if (cJSON_IsBool(v)) {
        soma__buf_put(b, cJSON_IsTrue(v) ? "true" : "false");
    } else if (cJSON_IsNumber(v)) {
        put_number(b, v->valuedouble);
    } else if (cJSON_IsString(v)) {
        soma__buf_esc(b, v->valuestring);
    } else if (cJSON_IsArray(v)) {
        int n = cJSON_GetArraySize(v), k = 0;
        if (n > 10) soma__buf_printf(b, "<span class=\"len\">length %d:</span> ", n);
        soma__buf_put(b, "[");
        const cJSON *e;
        cJSON_ArrayForEach(e, v) {
            if (k == (n > 10 ? 5 : 10)) {
                soma__buf_put(b, ", &hellip;");
                break;
            }
            if (k++) soma__buf_put(b, ", ");
            if (cJSON_IsArray(e)) soma__buf_printf(b, "[%d items]", cJSON_GetArraySize(e));
            else if (cJSON_IsObject(e)) soma__buf_put(b, "{&hellip;}");
            else put_value(b, e);
        }
        soma__buf_put(b, "]");
    } else if (cJSON_IsObject(v)) {
        soma__buf_put(b, "{&hellip;}");
    }
}

/* Table rows "a.b.c | value" for every leaf of v, nested objects flattened. */
static void flatten(soma__buf *b, const char *prefix, const cJSON *v, int *rows) {
    if (*rows >= MAX_ROWS) return;
    if (cJSON_IsObject(v) && v->child) {
        const cJSON *e;
        cJSON_ArrayForEach(e, v) {
            const char *k = e->string ? e->string : "?";
            size_t l = strlen(prefix) + strlen(k) + 2;
            char *key = malloc(l);
            if (!key) return;
            snprintf(key, l, "%s%s%s", prefix, *prefix ? "." : "", k);
            flatten(b, key, e, rows);
            free(key);
        }
        return;
    }
    if (++*rows == MAX_ROWS) {
        soma__buf_put(b, "<tr><td colspan=\"2\" class=\"note\">more entries not shown</td></tr>\n");
        return;
    }
    soma__buf_put(b, "<tr><td class=\"key\">");
    soma__buf_esc(b, prefix);
    soma__buf_put(b, "</td><td>");
    put_value(b, v);
    soma__buf_put(b, "</td></tr>\n");
}

/* The headline measured value: ours[landmark.key], ours.value, else the first number. */
static const cJSON *headline(const cJSON *j) {
    const cJSON *ours = get(j, "ours"), *key = get(get(j, "landmark"), "key");
    if (!ours) return NULL;
    if (cJSON_IsNumber(ours)) return ours;
    const cJSON *v = NULL;
    if (cJSON_IsString(key)) v = get(ours, key->valuestring);
    if (!v) v = get(ours, "value");
    if (v) return v;
    const cJSON *e;
    cJSON_ArrayForEach(e, ours) if (cJSON_IsNumber(e)) return e;
    return NULL;
}

static const char *experiment_name(const run *r) {
    const cJSON *e = get(r->json, "experiment");
    return cJSON_IsString(e) && e->valuestring[0] ? e->valuestring : r->name;
}

/* An HTML id from a folder name: letters, digits, '-' and '_' kept, others '_'. */
static void put_anchor(soma__buf *b, const char *s) {
    soma__buf_put(b, "run-");
    for (; *s; s++) {
        char c = *s;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_';
        soma__buf_putn(b, ok ? &c : "_", 1);
    }
}

// --- sections --------------------------------------------------------------------------

static const char *CSS =
    "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;margin:0;color:#222;"
    "background:#f4f5f7;line-height:1.45}\n"
    "header{background:#1f2d3d;color:#fff;padding:18px 32px}\n"
    "header h1{margin:0;font-size:24px;font-weight:600}\n"
    "header p{margin:4px 0 0;color:#c9d3de;font-size:13px}\n"
    "main{max-width:1180px;margin:0 auto;padding:16px 24px 48px}\n"
    "section{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:14px 22px;"
    "margin:18px 0}\n"
    "h2{font-size:19px;margin:4px 0 8px}h3{font-size:15px;margin:14px 0 6px;color:#444}\n"
    "table{border-collapse:collapse;font-size:13px;margin:6px 0}\n"
    "th,td{border-bottom:1px solid #e3e6ea;padding:4px 10px;text-align:left;vertical-align:top}\n"
    "th{background:#f0f2f5;font-weight:600}\n"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    "td.key{font-family:'DejaVu Sans Mono',monospace;color:#333;white-space:nowrap}\n"
    ".pass{color:#0a7a32;font-weight:600}.fail{color:#b3261e;font-weight:600}\n"
    ".reduced{color:#8a5a00;font-weight:600}\n"
    ".note{color:#777;font-style:italic}.len{color:#777}\n"
    ".error{background:#fdecea;border:1px solid #f5c2bd;color:#8a1c13;border-radius:4px;"
    "padding:8px 12px;margin:8px 0;font-size:13px}\n"
    ".summary{margin:4px 0 8px}.setup{font-size:13px;color:#444}\n"
    ".fig{margin:12px 0;text-align:center}.fig svg,.fig img{max-width:100%;height:auto}\n"
    ".figname{font-size:12px;color:#777;margin-top:2px}\n"
    "a{color:#0b5cad;text-decoration:none}\n";

/* The verdict of one landmark as a coloured label: meets (PASS), misses (FAIL), reduced. */
static void put_verdict(soma__buf *b, const cJSON *lm) {
    const cJSON *v = get(lm, "verdict"), *meets = get(lm, "meets");
    const char *t = cJSON_IsString(v) ? v->valuestring : "";
    if (cJSON_IsBool(meets))
        soma__buf_put(b, cJSON_IsTrue(meets) ? "<span class=\"pass\">PASS</span> (meets)"
                                             : "<span class=\"fail\">FAIL</span> (misses)");
    else if (strncmp(t, "reduced", 7) == 0) {
        soma__buf_put(b, "<span class=\"reduced\">");
        soma__buf_esc(b, t);
        soma__buf_put(b, "</span>");
    } else {
        soma__buf_put(b, "<span class=\"note\">");
        soma__buf_esc(b, t[0] ? t : "not measured");
        soma__buf_put(b, "</span>");
    }
}

/* The source of a landmark, linked. */
static void put_source(soma__buf *b, const cJSON *lm) {
    const cJSON *src = get(lm, "source"), *link = get(lm, "link");
    int linked = cJSON_IsString(link) && (strncmp(link->valuestring, "https://", 8) == 0 ||
                                          strncmp(link->valuestring, "http://", 7) == 0);
    if (linked) {
        soma__buf_put(b, "<a href=\"");
        soma__buf_esc(b, link->valuestring);
        soma__buf_put(b, "\">");
    }
    soma__buf_esc(b, cJSON_IsString(src) ? src->valuestring : cJSON_IsString(link) ? link->valuestring : "");
    if (linked) soma__buf_put(b, "</a>");
}

/* One table row per landmark: figure, source, the landmark's number, ours, verdict; every
 * results.json written by soma_exp_run has this form ("landmarks"). with_name: a first
 * column naming the run, linked to its section. */
static void landmark_rows(soma__buf *b, const run *r, const cJSON *lms, int with_name) {
    const cJSON *lm;
    int k = 0;
    cJSON_ArrayForEach(lm, lms) {
        soma__buf_put(b, "<tr>");
        if (with_name) {
            soma__buf_put(b, "<td>");
            if (k == 0) {
                soma__buf_put(b, "<a href=\"#");
                put_anchor(b, r->name);
                soma__buf_put(b, "\">");
                soma__buf_esc(b, experiment_name(r));
                soma__buf_put(b, "</a>");
            }
            soma__buf_put(b, "</td>");
        }
        const cJSON *fig = get(lm, "figure"), *cmp = get(lm, "compare");
        soma__buf_put(b, "<td>");
        if (cJSON_IsString(fig)) soma__buf_esc(b, fig->valuestring);
        soma__buf_put(b, "</td><td>");
        put_source(b, lm);
        soma__buf_put(b, "</td><td class=\"num\">");
        if (cJSON_IsString(cmp)) {
            soma__buf_esc(b, cmp->valuestring);
            soma__buf_put(b, " ");
        }
        put_value(b, get(lm, "value"));
        soma__buf_put(b, "</td><td class=\"num\">");
        put_value(b, get(lm, "ours"));
        soma__buf_put(b, "</td><td>");
        put_verdict(b, lm);
        soma__buf_put(b, "</td></tr>\n");
        k++;
    }
}

static void summary_table(soma__buf *b, run *runs, int n) {
    soma__buf_put(b, "<section><h2>Summary</h2>\n");
    if (n == 0) {
        soma__buf_put(b, "<p class=\"note\">No runs found.</p></section>\n");
        return;
    }
    soma__buf_put(b, "<table><tr><th>Experiment</th><th>Landmark figure</th><th>Source</th>"
                     "<th>Landmark</th><th>Ours</th><th>Verdict</th></tr>\n");
    for (int i = 0; i < n; i++) {
        const run *r = &runs[i];
        const cJSON *lms = get(r->json, "landmarks");
        if (cJSON_IsArray(lms) && cJSON_GetArraySize(lms) > 0) {
            landmark_rows(b, r, lms, 1);
            continue;
        }
        /* results.json without a landmarks list (older runs, other tools) */
        const cJSON *lm = get(r->json, "landmark"), *pass = get(r->json, "pass");
        if (!pass) pass = get(r->json, "passed");
        soma__buf_put(b, "<tr><td><a href=\"#");
        put_anchor(b, r->name);
        soma__buf_put(b, "\">");
        soma__buf_esc(b, experiment_name(r));
        soma__buf_put(b, "</a></td><td>");
        const cJSON *paper = get(lm, "paper"), *fig = get(lm, "figure");
        if (cJSON_IsString(fig)) soma__buf_esc(b, fig->valuestring);
        soma__buf_put(b, "</td><td>");
        if (cJSON_IsString(paper)) soma__buf_esc(b, paper->valuestring);
        soma__buf_put(b, "</td><td class=\"num\">");
        const cJSON *pv = get(lm, "value");
        if (pv) put_value(b, pv);
        soma__buf_put(b, "</td><td class=\"num\">");
        const cJSON *hv = headline(r->json);
        if (hv) put_value(b, hv);
        soma__buf_put(b, "</td><td>");
        if (!r->json && r->err[0])
            soma__buf_put(b, "<span class=\"fail\">error</span>");
        else if (cJSON_IsBool(pass))
            soma__buf_put(b, cJSON_IsTrue(pass) ? "<span class=\"pass\">PASS</span>"
                                                : "<span class=\"fail\">FAIL</span>");
        else
            soma__buf_put(b, "<span class=\"note\">&mdash;</span>");
        soma__buf_put(b, "</td></tr>\n");
    }
    soma__buf_put(b, "</table></section>\n");
}

/* A visible note that figure fname could not be shown. */
static void put_fig_error(soma__buf *b, const char *fname, const char *why) {
    soma__buf_put(b, "<div class=\"error\">figure ");
    soma__buf_esc(b, fname);
    soma__buf_put(b, why);
    soma__buf_put(b, "</div>\n");
}

/* Reads a figure file for inlining; on failure writes the note and returns NULL. */
static char *read_fig(soma__buf *b, const char *path, const char *fname, size_t *n) {
    char *t;
    if (soma_file_read(path, MAX_FIG_BYTES, (void **)&t, n) != SOMA_OK) {
        put_fig_error(b, fname, " could not be read");
        return NULL;
    }
    return t;
}

/* Inlines an SVG file, dropping any XML declaration, doctype or comments before <svg. */
static void put_svg_file(soma__buf *b, const char *path, const char *fname) {
    size_t n;
    char *t = read_fig(b, path, fname, &n);
    if (!t) return;
    char *s = strstr(t, "<svg");
    if (!s) {
        put_fig_error(b, fname, " is not an SVG file");
    } else {
        soma__buf_put(b, "<div class=\"fig\">");
        soma__buf_putn(b, s, n - (size_t)(s - t));
        soma__buf_put(b, "<div class=\"figname\">");
        soma__buf_esc(b, fname);
        soma__buf_put(b, "</div></div>\n");
    }
    free(t);
}

static void put_png_file(soma__buf *b, const char *path, const char *fname) {
    size_t n;
    char *t = read_fig(b, path, fname, &n);
    if (!t) return;
    soma__buf_put(b, "<div class=\"fig\"><img alt=\"");
    soma__buf_esc(b, fname);
    soma__buf_put(b, "\" src=\"data:image/png;base64,");
    soma__buf_base64(b, (const uint8_t *)t, n);
    soma__buf_put(b, "\"><div class=\"figname\">");
    soma__buf_esc(b, fname);
    soma__buf_put(b, "</div></div>\n");
    free(t);
}

static void run_section(soma__buf *b, const run *r) {
    const cJSON *j = r->json;
    soma__buf_put(b, "<section id=\"");
    put_anchor(b, r->name);
    soma__buf_put(b, "\"><h2>");
    soma__buf_esc(b, experiment_name(r));
    soma__buf_put(b, "</h2>\n");
    if (r->err[0]) {
        soma__buf_put(b, "<div class=\"error\">");
        soma__buf_esc(b, r->name);
        soma__buf_put(b, ": ");
        soma__buf_esc(b, r->err);
        soma__buf_put(b, "</div>\n");
    } else if (!r->has_results) {
        soma__buf_put(b, "<p class=\"note\">No results.json in this folder.</p>\n");
    }
    const cJSON *sum = get(j, "summary");
    if (cJSON_IsString(sum)) {
        soma__buf_put(b, "<p class=\"summary\">");
        soma__buf_esc(b, sum->valuestring);
        soma__buf_put(b, "</p>\n");
    }
    const cJSON *reduced = get(get(j, "reduced"), "note");
    if (cJSON_IsString(reduced)) {
        soma__buf_put(b, "<p class=\"reduced\">");
        soma__buf_esc(b, reduced->valuestring);
        const cJSON *by = get(get(j, "reduced"), "options"), *e;
        int k = 0;
        if (cJSON_IsArray(by)) cJSON_ArrayForEach(e, by) if (cJSON_IsString(e)) {
                soma__buf_put(b, k++ ? ", --" : " (changed: --");
                soma__buf_esc(b, e->valuestring);
            }
        if (k) soma__buf_put(b, ")");
        soma__buf_put(b, "</p>\n");
    }
    const cJSON *lms = get(j, "landmarks");
    if (cJSON_IsArray(lms) && cJSON_GetArraySize(lms) > 0) {
        soma__buf_put(b, "<h3>Landmarks</h3>\n<table><tr><th>Figure</th><th>Source</th><th>Landmark</th>"
                         "<th>Ours</th><th>Verdict</th></tr>\n");
        landmark_rows(b, r, lms, 0);
        soma__buf_put(b, "</table>\n");
    }
    const cJSON *lm = get(j, "landmark");
    if (cJSON_IsObject(lm)) {
        soma__buf_put(b, "<p class=\"setup\"><b>Landmark:</b> ");
        const cJSON *e;
        int k = 0;
        cJSON_ArrayForEach(e, lm) {
            if (k++) soma__buf_put(b, "; ");
            soma__buf_esc(b, e->string);
            soma__buf_put(b, " = ");
            put_value(b, e);
        }
        soma__buf_put(b, "</p>\n");
    }
    const cJSON *seed = get(j, "seed"), *thr = get(j, "threads"), *opt = get(j, "options");
    if (seed || thr || opt) {
        soma__buf_put(b, "<p class=\"setup\"><b>Setup:</b> ");
        int k = 0;
        if (seed) {
            soma__buf_put(b, "seed = ");
            put_value(b, seed);
            k++;
        }
        if (thr) {
            soma__buf_put(b, k++ ? "; threads = " : "threads = ");
            put_value(b, thr);
        }
        const cJSON *e;
        if (cJSON_IsObject(opt)) cJSON_ArrayForEach(e, opt) {
                if (k++) soma__buf_put(b, "; ");
                soma__buf_esc(b, e->string);
                soma__buf_put(b, " = ");
                put_value(b, e);
            }
        soma__buf_put(b, "</p>\n");
    }
    if (j) {
        static const char *skip[] = {"experiment", "summary", "landmark", "landmarks", "reduced",
                                     "options", "seed", "threads"};
        int rows = 0;
        soma__buf_put(b, "<h3>Results</h3>\n<table><tr><th>key</th><th>value</th></tr>\n");
        const cJSON *e;
        cJSON_ArrayForEach(e, j) {
            int s = 0;
            for (size_t i = 0; i < sizeof skip / sizeof *skip; i++)
                s |= e->string && strcmp(e->string, skip[i]) == 0;
            /* a top-level number repeated from "ours" is shown once, under ours */
            const cJSON *dup = e->string ? get(get(j, "ours"), e->string) : NULL;
            if (dup && cJSON_IsNumber(dup) && cJSON_IsNumber(e) && dup->valuedouble == e->valuedouble)
                s = 1;
            if (!s) flatten(b, e->string ? e->string : "?", e, &rows);
        }
        if (rows == 0) soma__buf_put(b, "<tr><td colspan=\"2\" class=\"note\">none</td></tr>\n");
        soma__buf_put(b, "</table>\n");
    }
    if (r->figs.n) soma__buf_put(b, "<h3>Figures</h3>\n");
    for (int i = 0; i < r->figs.n; i++) {
        char *path = join(r->dir, r->figs.v[i]);
        if (!path) continue;
        if (ends_with(r->figs.v[i], ".svg")) put_svg_file(b, path, r->figs.v[i]);
        else put_png_file(b, path, r->figs.v[i]);
        free(path);
    }
    soma__buf_put(b, "</section>\n");
}

// --- the report ------------------------------------------------------------------------

/* Every run folder of out_dir, sorted, with its results.json loaded (*runs: free each with
 * run_free, then the array). */
static soma_status load_runs(const char *out_dir, run **runs_out, int *n_out) {
    *runs_out = NULL;
    *n_out = 0;
    DIR *d = opendir(out_dir);
    if (!d)
        return soma_error(SOMA_ERR_IO, "report: cannot read folder %s; HINT: run an "
                          "experiment first (soma run NAME)", out_dir);
    names dirs = {0};
    struct dirent *e;
    int ok = 1;
    while ((e = readdir(d)) && ok) {
        if (e->d_name[0] == '.') continue;
        char *p = join(out_dir, e->d_name);
        if (!p) {
            ok = 0;
            break;
        }
        if (is_dir(p)) ok = names_add(&dirs, e->d_name);
        free(p);
    }
    closedir(d);
    if (dirs.n) qsort(dirs.v, (size_t)dirs.n, sizeof *dirs.v, cmp_str);
    run *runs = calloc((size_t)dirs.n + 1, sizeof *runs);
    int n = 0;
    if (!runs) ok = 0;
    for (int i = 0; ok && i < dirs.n; i++) {
        run *r = &runs[n];
        r->dir = join(out_dir, dirs.v[i]);
        r->name = malloc(strlen(dirs.v[i]) + 1);
        if (!r->dir || !r->name) {
            ok = 0;
            free(r->dir);
            free(r->name);
            break;
        }
        strcpy(r->name, dirs.v[i]);
        if (!list_run(r->dir, &r->figs, &r->has_results)) {
            ok = 0;
            run_free(r);
            break;
        }
        if (!r->has_results && r->figs.n == 0) { /* not a run folder */
            run_free(r);
            memset(r, 0, sizeof *r);
            continue;
        }
        run_load(r);
        n++;
    }
    names_free(&dirs);
    if (!ok) {
        for (int i = 0; runs && i < n; i++) run_free(&runs[i]);
        free(runs);
        return soma_error(SOMA_ERR_NOMEM, "report: out of memory listing %s", out_dir);
    }
    *runs_out = runs;
    *n_out = n;
    return SOMA_OK;
}

static void free_runs(run *runs, int n) {
    for (int i = 0; runs && i < n; i++) run_free(&runs[i]);
    free(runs);
}

soma_status soma_report_build(const char *out_dir, const char *html_path) {
    if (!out_dir || !html_path) return soma_error(SOMA_ERR_ARG, "report: NULL path");
    run *runs;
    int n;
    SOMA_TRY(load_runs(out_dir, &runs, &n));
    char date[64] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm)) strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", &tm);
    soma__buf b = {0};
    soma__buf_put(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                      "<title>soma report</title>\n<style>\n");
    soma__buf_put(&b, CSS);
    soma__buf_put(&b, "</style>\n</head>\n<body>\n<header><h1>soma report</h1><p>");
    soma__buf_printf(&b, "Generated %s &middot; soma %s &middot; %d run%s &middot; ", date, SOMA_VERSION, n,
                     n == 1 ? "" : "s");
    soma__buf_esc(&b, out_dir);
    soma__buf_put(&b, "</p></header>\n<main>\n");
    summary_table(&b, runs, n);
    for (int i = 0; i < n; i++) run_section(&b, &runs[i]);
    soma__buf_put(&b, "</main>\n</body>\n</html>\n");
    char *html;
    size_t len;
    soma_status st = soma__buf_finish(&b, &html, &len);
    if (st == SOMA_OK) {
        st = soma_file_write_atomic(html_path, html, len);
        free(html);
    }
    free_runs(runs, n);
    return st;
}

// --- the landmark table as Markdown (the README's) ---------------------------------------

/* Text for a Markdown table cell: '|' escaped, newlines as spaces. */
static void md_text(soma__buf *b, const char *s) {
    for (; s && *s; s++) {
        if (*s == '|') soma__buf_put(b, "\\|");
        else if (*s == '\n' || *s == '\r') soma__buf_put(b, " ");
        else soma__buf_putn(b, s, 1);
    }
}

static void md_num(soma__buf *b, const cJSON *v) {
    if (!cJSON_IsNumber(v)) {
        soma__buf_put(b, "&mdash;");
        return;
    }
    double x = v->valuedouble;
    char t[48];
    if (x == floor(x) && fabs(x) < 1e15) snprintf(t, sizeof t, "%.0f", x);
    else snprintf(t, sizeof t, "%.4g", x);
    soma__buf_put(b, t);
}

soma_status soma_report_markdown(const char *out_dir, const char *md_path) {
    if (!out_dir || !md_path) return soma_error(SOMA_ERR_ARG, "report: NULL path");
    run *runs;
    int n;
    SOMA_TRY(load_runs(out_dir, &runs, &n));
    soma__buf b = {0};
    soma__buf_put(&b, "| experiment | landmark figure | source | landmark | ours | verdict | seed, threads | time |\n"
                      "|---|---|---|---|---|---|---|---|\n");
    int rows = 0;
    for (int i = 0; i < n; i++) {
        const run *r = &runs[i];
        const cJSON *lms = get(r->json, "landmarks"), *lm;
        int k = 0;
        cJSON_ArrayForEach(lm, lms) {
            const cJSON *src = get(lm, "source"), *link = get(lm, "link"), *fig = get(lm, "figure");
            const cJSON *cmp = get(lm, "compare"), *verdict = get(lm, "verdict");
            soma__buf_put(&b, "| ");
            if (k == 0) {
                soma__buf_put(&b, "`");
                md_text(&b, experiment_name(r));
                soma__buf_put(&b, "`");
            }
            soma__buf_put(&b, " | ");
            md_text(&b, cJSON_IsString(fig) ? fig->valuestring : "");
            soma__buf_put(&b, " | [");
            md_text(&b, cJSON_IsString(src) ? src->valuestring : "source");
            soma__buf_put(&b, "](");
            md_text(&b, cJSON_IsString(link) ? link->valuestring : "");
            soma__buf_put(&b, ") | ");
            if (cJSON_IsString(cmp)) soma__buf_put(&b, strcmp(cmp->valuestring, "<=") == 0 ? "&le; " : "&ge; ");
            md_num(&b, get(lm, "value"));
            soma__buf_put(&b, " | **");
            md_num(&b, get(lm, "ours"));
            soma__buf_put(&b, "** | ");
            md_text(&b, cJSON_IsString(verdict) ? verdict->valuestring : "");
            soma__buf_put(&b, " | ");
            if (k == 0) {
                md_num(&b, get(r->json, "seed"));
                soma__buf_put(&b, ", ");
                md_num(&b, get(r->json, "threads"));
            }
            soma__buf_put(&b, " | ");
            const cJSON *ws = get(r->json, "wall_seconds");
            if (k == 0 && cJSON_IsNumber(ws)) soma__buf_printf(&b, "%.1f s", ws->valuedouble);
            soma__buf_put(&b, " |\n");
            k++;
            rows++;
        }
    }
    soma_status st = SOMA_OK;
    if (rows == 0) {
        soma__buf_free(&b);
        st = soma_error(SOMA_ERR_ARG, "report: no run under %s has landmarks (results.json \"landmarks\"); "
                        "HINT: run an experiment first (soma run NAME --out %s)", out_dir, out_dir);
    } else {
        char *md;
        size_t len;
        st = soma__buf_finish(&b, &md, &len);
        if (st == SOMA_OK) {
            st = soma_file_write_atomic(md_path, md, len);
            free(md);
        }
    }
    free_runs(runs, n);
    return st;
}
