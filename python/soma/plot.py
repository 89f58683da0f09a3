"""Figures (include/soma/plot.h): SVG line plots, heatmaps, scatter plots, bar charts, rasters
and image grids from NumPy arrays, drawn by the same code as the experiments' figures.

    fig = soma.Figure(1, 2, width=900, height=360, title="Training")
    fig.line(0, acc, label="train").labels(0, "Accuracy", "epoch", "accuracy")
    fig.heatmap(1, R)
    fig.save("fig.svg")                       # or fig.svg() -> str

Also scatter, bars (with error whiskers), raster, images, hline, hband, xlim/ylim, logy.
"""

import numpy as np

from ._ffi import ffi, lib, check, cstr, as_array


def _panel(p, n):
    if not isinstance(p, (int, np.integer)) or isinstance(p, bool) or not 0 <= p < n:
        raise IndexError(f"panel: want an integer in [0, {n}), got {p!r}")
    return int(p)


def _text(s, name):
    return ffi.NULL if s is None else cstr(s, name)


def _float(v, name):
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name}: want a number, got {v!r}")
    return float(v)


def _strings(items, name):
    """A const char *const * array of items (None: NULL) and the buffers it points into."""
    if items is None:
        return ffi.NULL, None
    if isinstance(items, str) or not all(isinstance(x, str) for x in items):
        raise TypeError(f"{name}: want a list of str")
    keep = [ffi.new("char[]", cstr(x, name)) for x in items]
    return ffi.new("char *[]", keep), keep


class Figure:
    """A figure of rows x cols panels (numbered row-major from 0), width x height pixels.
    Each method returns the figure, so calls chain."""

    def __init__(self, rows=1, cols=1, width=640, height=400, title=None):
        for k, v in (("rows", rows), ("cols", cols), ("width", width), ("height", height)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
                raise ValueError(f"{k}: want an integer, got {v!r}")
        out = ffi.new("soma_fig **")
        check(lib.soma_fig_new(out, int(rows), int(cols), int(width), int(height)))
        self._p = ffi.gc(out[0], lib.soma_fig_free)
        self.n_panels = int(rows) * int(cols)
        if title is not None:
            check(lib.soma_fig_title(self._p, cstr(title, "title")))

    def labels(self, panel, title=None, xlabel=None, ylabel=None):
        """A panel's title and axis labels (None: unchanged)."""
        check(lib.soma_fig_labels(self._p, _panel(panel, self.n_panels), _text(title, "title"),
                                  _text(xlabel, "xlabel"), _text(ylabel, "ylabel")))
        return self

    def logy(self, panel, on=True):
        """A logarithmic y axis."""
        check(lib.soma_fig_logy(self._p, _panel(panel, self.n_panels), 1 if on else 0))
        return self

    def line(self, panel, y, x=None, label=None):
        """y [n] against x [n] (None: 0..n-1); NaN breaks the line. label: a legend entry."""
        y, py = as_array(y, np.float32, "y", ndim=1, finite=False)
        px = ffi.NULL
        if x is not None:
            x, px = as_array(x, np.float32, "x", shape=y.shape, finite=False)
        check(lib.soma_fig_line(self._p, _panel(panel, self.n_panels), px, py, y.shape[0],
                                _text(label, "label"), ffi.NULL))
        return self

    def hline(self, panel, y, label=None):
        """A dashed reference line at y with a label."""
        if isinstance(y, bool) or not isinstance(y, (int, float, np.integer, np.floating)) or not np.isfinite(y):
            raise ValueError(f"y: want a finite number, got {y!r}")
        check(lib.soma_fig_hline(self._p, _panel(panel, self.n_panels), float(y), _text(label, "label")))
        return self

    def xlim(self, panel, lo, hi):
        """Fixes the x range of an x-y panel (NaN for either: automatic again)."""
        check(lib.soma_fig_xlim(self._p, _panel(panel, self.n_panels), _float(lo, "lo"), _float(hi, "hi")))
        return self

    def ylim(self, panel, lo, hi):
        """Fixes the y range of an x-y panel (NaN for either: automatic again)."""
        check(lib.soma_fig_ylim(self._p, _panel(panel, self.n_panels), _float(lo, "lo"), _float(hi, "hi")))
        return self

    def scatter(self, panel, x, y, cls=None, class_names=None):
        """Points (x[i], y[i]) coloured by class cls[i] (int, None: all one class), with the
        legend entries class_names (None: "class k")."""
        x, px = as_array(x, np.float32, "x", ndim=1, finite=False)
        y, py = as_array(y, np.float32, "y", shape=x.shape, finite=False)
        pc, k = ffi.NULL, 1
        if cls is not None:
            cls, pc = as_array(cls, np.int32, "cls", shape=x.shape)
            k = int(cls.max()) + 1 if cls.max() >= 0 else 1
        names, keep = _strings(class_names, "class_names")
        if class_names is not None:
            k = len(class_names)
        check(lib.soma_fig_scatter(self._p, _panel(panel, self.n_panels), px, py, pc, x.shape[0], names, k))
        return self

    def bars(self, panel, v, err=None, labels=None):
        """A bar chart of v [n] with +- err [n] whiskers (None: none) and category labels."""
        v, pv = as_array(v, np.float32, "v", ndim=1, finite=False)
        pe = ffi.NULL
        if err is not None:
            err, pe = as_array(err, np.float32, "err", shape=v.shape)
        if labels is not None and len(labels) != v.shape[0]:
            raise ValueError(f"labels: {len(labels)} labels for {v.shape[0]} bars")
        names, keep = _strings(labels, "labels")
        check(lib.soma_fig_bars(self._p, _panel(panel, self.n_panels), pv, pe, v.shape[0], names, 0))
        return self

    def raster(self, panel, t, ids, n_neurons):
        """A spike raster: spike k at time t[k] of neuron ids[k] (0..n_neurons-1)."""
        t, pt = as_array(t, np.float32, "t", ndim=1)
        ids, pi = as_array(ids, np.int32, "ids", shape=t.shape)
        if not isinstance(n_neurons, (int, np.integer)) or isinstance(n_neurons, bool) or n_neurons < 1:
            raise ValueError(f"n_neurons: want an integer >= 1, got {n_neurons!r}")
        check(lib.soma_fig_raster(self._p, _panel(panel, self.n_panels), pt, pi, t.shape[0], int(n_neurons)))
        return self

    def images(self, panel, imgs, cols=0, normalize=True):
        """An image grid of imgs [n, h, w] in `cols` columns (0: about square), each scaled to
        its own range (normalize) or clamped to [0, 1]."""
        imgs, pim = as_array(imgs, np.float32, "imgs", ndim=3)
        if not isinstance(cols, (int, np.integer)) or isinstance(cols, bool) or cols < 0:
            raise ValueError(f"cols: want an integer >= 0, got {cols!r}")
        n, h, w = imgs.shape
        check(lib.soma_fig_images(self._p, _panel(panel, self.n_panels), pim, n, h, w, int(cols),
                                  1 if normalize else 0))
        return self

    def hband(self, panel, lo, hi, label=None):
        """A grey band between y = lo and y = hi beneath the panel's series (a noise ceiling)."""
        check(lib.soma_fig_hband(self._p, _panel(panel, self.n_panels), _float(lo, "lo"), _float(hi, "hi"),
                                 _text(label, "label")))
        return self

    def heatmap(self, panel, m):
        """A matrix m [rows, cols] (row 0 at the top) with a colour bar (automatic limits and
        colour map: diverging for signed data); NaN cells are grey."""
        m, pm = as_array(m, np.float32, "m", ndim=2, finite=False)
        check(lib.soma_fig_heatmap(self._p, _panel(panel, self.n_panels), pm, m.shape[0], m.shape[1], ffi.NULL))
        return self

    def svg(self):
        """The figure as SVG text."""
        out = ffi.new("char **")
        n = ffi.new("size_t *")
        check(lib.soma_fig_to_string(self._p, out, n))
        try:
            return ffi.string(out[0], n[0]).decode("utf-8")
        finally:
            lib.soma_free(out[0])

    def save(self, path):
        """Writes the SVG to path (atomically)."""
        check(lib.soma_fig_save(self._p, cstr(str(path), "path")))
        return self
