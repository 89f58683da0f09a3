"""Shared fixtures: where the soma command is, a fresh working folder, the package on the path.

ctest runs this suite with SOMA_LIB (the built libsoma.so), SOMA_CLI (the soma command) and
PYTHONPATH=python set; by hand from the source tree:

    SOMA_LIB=build/libsoma.so SOMA_CLI=build/soma PYTHONPATH=python /usr/bin/python3 -m pytest python/tests
"""

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))

# The soma command re-executes itself with OPENBLAS_CORETYPE set to the kernels that suit the
# CPU (core.h, soma_blas_core_advice); OpenBLAS reads it only when it loads. The C-vs-Python
# comparisons hold bit for bit only when this process runs the same kernels: run.py sets it.
os.environ.setdefault("SOMA_QUIET_BLAS_ADVICE", "1")


def pytest_configure(config):
    import soma
    adv = soma.blas_core_advice()
    if adv:
        raise pytest.UsageError(f"OpenBLAS runs {soma.blas_core()} here, the soma command {adv}: run the "
                                f"suite through python/tests/run.py, or set OPENBLAS_CORETYPE={adv}")


def cli_path():
    p = os.environ.get("SOMA_CLI") or os.path.join(ROOT, "build", "soma")
    if not os.path.exists(p):
        raise RuntimeError(f"the soma command is not at {p}: build it (make build) or set SOMA_CLI")
    return p


@pytest.fixture
def soma_cli():
    """A function running the soma command: soma_cli(args..., check=True) -> CompletedProcess."""
    path = cli_path()

    def run(*args, check=True, env=None):
        e = dict(os.environ)
        e["SOMA_PROGRESS"] = "0"
        e.update(env or {})
        r = subprocess.run([path] + [str(a) for a in args], capture_output=True, text=True, env=e)
        if check and r.returncode != 0:
            raise AssertionError(f"soma {' '.join(map(str, args))} exited {r.returncode}: {r.stderr}")
        return r

    return run


@pytest.fixture(scope="session")
def c_ref(tmp_path_factory):
    """python/tests/c_ref.c built against include/ and the libsoma.so under test: a function
    c_ref(args...) -> its stdout (exact values as %a hex floats)."""
    import soma
    exe = tmp_path_factory.mktemp("c_ref") / "c_ref"
    lib = os.path.realpath(soma.library_path)
    subprocess.run(["gcc", "-std=c11", "-O2", "-I", os.path.join(ROOT, "include"), os.path.join(HERE, "c_ref.c"),
                    "-o", str(exe), lib, "-Wl,-rpath," + os.path.dirname(lib)], check=True)

    def run(*args):
        r = subprocess.run([str(exe)] + [str(a) for a in args], capture_output=True, text=True,
                           env=dict(os.environ, OMP_NUM_THREADS="1"))
        assert r.returncode == 0, r.stderr
        return r.stdout

    return run


@pytest.fixture(autouse=True)
def _one_thread():
    """Every test starts on one thread (the CLI runs get --threads 1 too)."""
    import soma
    soma.set_threads(1)
    yield
