"""Data sets and array files through the C readers: Fashion-MNIST, IDX (.gz), NPY."""

import numpy as np

from ._ffi import ffi, lib, check, cstr, run_long

# soma_dtype codes (io.h) <-> NumPy
_DTYPES = [np.float32, np.float64, np.int32, np.int64, np.uint8, np.int8, np.int16]
_CODE = {np.dtype(t): i for i, t in enumerate(_DTYPES)}


def _array_out(a):
    """A NumPy copy of a filled soma_array (native byte order, C order); frees a's data."""
    try:
        dt = np.dtype(_DTYPES[a.dtype])
        shape = tuple(int(a.shape[i]) for i in range(a.ndim))
        n = int(a.n)
        out = np.frombuffer(ffi.buffer(a.data, n * dt.itemsize), dtype=dt).copy() if n else np.zeros(0, dt)
        return out.reshape(shape)
    finally:
        lib.soma_array_deinit(a)


def read_npy(path):
    """Reads a .npy file with soma's reader (versions 1-3; float32/64, int8/16/32/64, uint8,
    bool as uint8; Fortran order converted). Returns a new NumPy array."""
    a = ffi.new("soma_array *")
    check(lib.soma_npy_read(cstr(str(path), "path"), a))
    return _array_out(a)


def read_idx(path):
    """Reads an IDX file (MNIST's format, plain or .gz) with soma's reader. Returns a new array."""
    a = ffi.new("soma_array *")
    check(lib.soma_idx_read(cstr(str(path), "path"), a))
    return _array_out(a)


def write_npy(path, x):
    """Writes x as a .npy file (version 1.0, little-endian, C order) atomically with soma's writer.
    x: float32/64, int8/16/32/64 or uint8 (anything else: TypeError). Non-contiguous arrays are
    copied first."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x: want a NumPy array, got {type(x).__name__}")
    if x.dtype not in _CODE:
        raise TypeError(f"x: dtype {x.dtype} cannot be written (float32/64, int8/16/32/64, uint8)")
    if x.ndim > 8:
        raise ValueError(f"x: {x.ndim} dimensions; at most 8")
    x = np.ascontiguousarray(x)
    shape = ffi.new("int64_t[]", [int(d) for d in x.shape] or [1])
    check(lib.soma_npy_write(cstr(str(path), "path"), _CODE[x.dtype], x.ndim, shape,
                             ffi.from_buffer(x)))


def soma_array_of(x, name):
    """A soma_array viewing a NumPy array (kept alive by the caller): zero-copy for C-contiguous
    arrays of a dtype soma reads, a copy for non-contiguous ones. Returns (array, struct)."""
    if isinstance(x, (list, tuple)):
        x = np.asarray(x)
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name}: want a NumPy array, got {type(x).__name__}")
    if x.dtype == np.bool_:
        x = x.astype(np.uint8)
    if x.dtype not in _CODE or x.dtype.byteorder == ">":
        raise TypeError(f"{name}: dtype {x.dtype} is not supported (float32/64, int8/16/32/64, uint8)")
    if x.ndim < 1 or x.ndim > 8:
        raise ValueError(f"{name}: {x.ndim}-D; want 1 to 8 dimensions")
    if x.size == 0:
        raise ValueError(f"{name}: empty array (shape {x.shape})")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise ValueError(f"{name}: contains NaN or infinity")
    x = np.ascontiguousarray(x)
    a = ffi.new("soma_array *")
    a.dtype = _CODE[x.dtype]
    a.ndim = x.ndim
    for i, d in enumerate(x.shape):
        a.shape[i] = d
    a.n = x.size
    a.data = ffi.from_buffer(x)
    return x, a


class Dataset:
    """A soma_dataset owned by Python (freed with the object). Built from arrays (a copy: the C
    data set owns its samples), loaded by spec, or Fashion-MNIST. .arrays() gives NumPy copies."""

    def __init__(self, ptr):
        self._p = ffi.gc(ptr, lib.soma_dataset_free)

    @classmethod
    def from_arrays(cls, x, y, name="arrays"):
        """x: [N, ...] samples (uint8 pixels are scaled by 1/255, as torchvision's ToTensor and
        `soma train --data npy:` do; other numeric dtypes are taken as given); y: integer
        labels [N] or [N, T], or float targets [N, ...] (regression). Checked by the C library
        (counts, label range); NaN/inf in x or y raise ValueError first."""
        x, ax = soma_array_of(x, "x")
        y, ay = soma_array_of(y, "y")
        out = ffi.new("soma_dataset **")
        check(lib.soma_dataset_from_arrays(ax, ay, cstr(name, "name"), out))
        return cls(out[0])

    @classmethod
    def load(cls, spec, train=True, fmnist_dir=None):
        """By spec, as `soma train --data`: "fmnist", "idx:IMAGES,LABELS[;TI,TL]", "npy:X,Y[;XT,YT]"."""
        out = ffi.new("soma_dataset **")
        fd = cstr(fmnist_dir, "fmnist_dir") if fmnist_dir is not None else ffi.NULL
        run_long(lib.soma_dataset_load, cstr(spec, "spec"), 1 if train else 0, fd, out)
        return cls(out[0])

    @property
    def n(self):
        """Number of samples."""
        return self._p.n

    @property
    def shape(self):
        """Per-sample shape (a tuple)."""
        s = self._p.shape
        return tuple(s.d[i] for i in range(s.rank))

    @property
    def n_classes(self):
        """Classes (0 for regression targets)."""
        return self._p.n_classes

    def arrays(self):
        """(x, y): x float32 [N, *shape] exactly as the training loop sees it (bytes times the
        set's scale, 1/255 for Fashion-MNIST); y int32 labels [N] (or [N, T]), or float32 targets
        for regression."""
        d = self._p
        n = d.n
        idx = np.arange(n, dtype=np.int32)
        x = np.empty((n,) + self.shape, dtype=np.float32)
        pidx = ffi.cast("int *", ffi.from_buffer(idx))
        if d.y != ffi.NULL:
            y = np.empty((n, d.y_len), dtype=np.int32)
            lib.soma_dataset_batch_targets(d, pidx, n, ffi.cast("int *", ffi.from_buffer(y)), ffi.NULL)
            if d.y_len == 1:
                y = y[:, 0]
        else:
            ts = d.t_shape
            y = np.empty((n,) + tuple(ts.d[i] for i in range(ts.rank)), dtype=np.float32)
            lib.soma_dataset_batch_targets(d, pidx, n, ffi.NULL, ffi.cast("float *", ffi.from_buffer(y)))
        lib.soma_dataset_batch(d, pidx, n, ffi.cast("float *", ffi.from_buffer(x)), ffi.NULL)
        return x, y


def fashion_mnist(train=True, fmnist_dir=None):
    """Fashion-MNIST (Debian's dataset-fashion-mnist, or $SOMA_FMNIST_DIR / fmnist_dir) read by
    soma's IDX reader: (x float32 [N, 1, 28, 28] in [0, 1], y int32 [N]); N = 60000 (train) or
    10000 (test)."""
    return Dataset.load("fmnist", train, fmnist_dir).arrays()


def load_dataset(spec, train=True, fmnist_dir=None):
    """(x, y) of a data set by spec, as `soma train --data SPEC` reads it (see Dataset.load)."""
    return Dataset.load(spec, train, fmnist_dir).arrays()


def synthetic(kind, n, dim, k=2, sep=3.0, seed=1):
    """soma's synthetic data sets ("gauss", "xor", "linear"; see io.h): (x float32 [n, dim], y)."""
    out = ffi.new("soma_dataset **")
    check(lib.soma_dataset_synthetic(cstr(kind, "kind"), int(n), int(dim), int(k), float(sep), int(seed), out))
    return Dataset(out[0]).arrays()
