"""Figures (include/soma/plot.h): SVG line plots and heatmaps from NumPy arrays, drawn by the
same code as the experiments' figures.

    fig = soma.Figure(1, 2, width=900, height=360, title="Training")
    fig.line(0, acc, label="train").labels(0, "Accuracy", "epoch", "accuracy")
    fig.heatmap(1, R)
    fig.save("fig.svg")                       # or fig.svg() -> str
"""

import numpy as np

from ._ffi import ffi, lib, check, cstr, as_array


def _panel(p, n):
    if not isinstance(p, (int, np.integer)) or isinstance(p, bool) or not 0 <= p < n:
        raise IndexError(f"panel: want an integer in [0, {n}), got {p!r}")
    return int(p)


def _text(s, name):
    return ffi.NULL if s is None else cstr(s, name)


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
