"""`pip install --no-index` of the package into a fresh virtual environment (made with
--system-site-packages for Debian's numpy and cffi) works offline, bundles libsoma.so, and the
installed package imports and computes from any folder without SOMA_LIB; pip uninstall removes
it again."""

import os
import shutil
import subprocess
import sys

import soma
from conftest import ROOT


def test_pip_install_offline(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(os.path.join(ROOT, "python"), src,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "tests"))
    venv = tmp_path / "venv"
    # --without-pip: the venv runs Debian's pip from the system site packages (as the documented
    # venv's own copy would; ensurepip's install of a copy is most of this test's time otherwise)
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("SOMA_LIB", "PYTHONPATH")}
    env["SOMA_LIB"] = os.path.realpath(soma.library_path)  # the library under test, bundled
    env["PIP_NO_INDEX"] = "1"
    r = subprocess.run([str(py), "-m", "pip", "install", "--no-index", "--no-cache-dir", "-q", str(src)],
                       capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    del env["SOMA_LIB"]
    env["SOMA_QUIET_BLAS_ADVICE"] = "1"
    code = ("import soma, numpy as np; "
            "print(soma.library_path); "
            "x = np.random.default_rng(0).normal(size=(6, 4)); "
            "print(soma.rsa(soma.rdm(x), soma.rdm(2 * x + 1), method='pearson')); "
            "print(len(soma.experiments()) > 0)")
    out = subprocess.run([str(py), "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split()
    assert lines[0].startswith(str(venv)) and lines[0].endswith(os.path.join("soma", "_lib", "libsoma.so"))
    assert abs(float(lines[1]) - 1.0) < 1e-12 and lines[2] == "True"
    r = subprocess.run([str(py), "-m", "pip", "uninstall", "-y", "-q", "soma"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert not list(venv.glob("lib/python3*/site-packages/soma/_lib/libsoma.so"))
