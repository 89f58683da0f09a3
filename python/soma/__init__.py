"""soma from Python: NumPy arrays in and out of the soma C library (libsoma.so), with its speed.

    import soma
    net = soma.Net("fc256,relu,fc10", (784,), seed=1)
    net.train(x, y, epochs=5)                   # soma's training loop, any learning rule
    soma.rsa(soma.rdm(a), soma.rdm(b))          # RDMs and RSA on your own arrays
    soma.run("perceptron", reduced=True)        # any experiment; results.json as a dict

The C library is the one implementation: this package only checks arguments, moves arrays
and raises soma.Error (with the C message) on failure. Long calls (training, simulations,
experiments) stop cleanly on Ctrl-C (KeyboardInterrupt). docs/python.md tells
the whole story.
"""

import os as _os
import warnings as _warnings

from ._ffi import (Error, ArgumentError, Cancelled, set_threads, get_threads, lib as _lib,
                   ffi as _cffi, LIB_PATH as library_path)
from .data import Dataset, fashion_mnist, load_dataset, synthetic, read_npy, read_idx, write_npy
from .nn import Net
from .analysis import (rdm, rsa, noise_ceiling, cka, procrustes, Ridge, encode, pca,
                       participation_ratio, cvpca, sparse_code, dict_learn)
from .snn import SNN
from .rl import Env, TabularAgent, BanditAgent
from .neuro import Recording, LatentModel
from .exp import experiments, global_options, run
from .models import LFADS, NDT, VAE, cosmooth
from .learn import TaskStream, continual, cl_metrics, fisher
from .rl import DQN, WorldModel, Planner, TDModel, sr_closed_form, sr_policy_T
from .nn import Hopfield, ModernHopfield
from .plot import Figure

__version__ = "0.1.0"

# the spiking layer kinds (lif, rateT, ...) parse in network specs, as in the soma command
_st = _lib.soma_snn_register_layers()
if _st != 0:  # pragma: no cover
    raise ImportError("soma: registering the spiking layer kinds failed")



def blas_core_advice():
    """The OpenBLAS kernel set (core) the soma command would run on this CPU when it differs
    from the one this process runs (OpenBLAS's own pick when it loaded), else None. OpenBLAS
    reads OPENBLAS_CORETYPE only when it loads, so to run what the soma command runs (the same
    bits for BLAS-heavy results, and its speed) start Python with it set:

        OPENBLAS_CORETYPE=$(python3 -c 'import soma; print(soma.blas_core_advice() or "")') python3 ...
    """
    p = _lib.soma_blas_core_advice()
    return None if p == _cffi.NULL else _cffi.string(p).decode()


def blas_core():
    """The OpenBLAS kernel set this process runs ("Zen", "Cooperlake", ...; "" if unknown)."""
    return _cffi.string(_lib.soma_blas_core()).decode()


def machine():
    """One line naming the CPU and the BLAS kernels soma runs with."""
    buf = _cffi.new("char[]", 512)
    _lib.soma_machine_describe(buf, len(buf))
    return _cffi.string(buf).decode()


__all__ = [
    "Error", "ArgumentError", "Cancelled", "set_threads", "get_threads", "library_path", "machine",
    "blas_core", "blas_core_advice",
    "Dataset", "fashion_mnist", "load_dataset", "synthetic", "read_npy", "read_idx", "write_npy",
    "Net", "rdm", "rsa", "noise_ceiling", "cka", "procrustes", "Ridge", "encode", "pca",
    "participation_ratio", "cvpca", "sparse_code", "dict_learn", "SNN", "Env", "TabularAgent",
    "Recording", "LatentModel", "experiments",
    "global_options", "run",
    "LFADS", "NDT", "VAE", "cosmooth",
    "TaskStream", "continual", "cl_metrics", "fisher", "DQN", "WorldModel", "Planner", "TDModel",
    "sr_closed_form", "sr_policy_T", "Hopfield", "ModernHopfield", "Figure", "BanditAgent",
]

if blas_core_advice() and not _os.environ.get("SOMA_QUIET_BLAS_ADVICE"):
    _warnings.warn(f"soma: OpenBLAS runs its {blas_core()} kernels; the soma command runs "
                   f"{blas_core_advice()} on this CPU (faster, and the same bits as the CLI): start "
                   f"Python with OPENBLAS_CORETYPE={blas_core_advice()} (SOMA_QUIET_BLAS_ADVICE=1 "
                   "silences this)", RuntimeWarning, stacklevel=2)
