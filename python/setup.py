"""Installs the soma package (python/soma) with a copy of libsoma.so.

Offline and without build isolation: there is deliberately no pyproject.toml, so pip (Debian
12's 23.0) builds with the setuptools and wheel already installed and downloads nothing:

    make build                                     # builds build/libsoma.so
    python3 -m venv --system-site-packages ~/venv-soma
    ~/venv-soma/bin/pip install --no-index ./python

The library is taken from $SOMA_LIB (a libsoma.so file), else $SOMA_BUILD/libsoma.so, else
../build/libsoma.so beside this file. Without any of them the package is installed alone and
loads the system's libsoma.so.0 (make install) at import.
"""

import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))


def find_lib():
    cands = []
    if os.environ.get("SOMA_LIB"):
        cands.append(os.environ["SOMA_LIB"])
    if os.environ.get("SOMA_BUILD"):
        cands.append(os.path.join(os.environ["SOMA_BUILD"], "libsoma.so"))
    cands.append(os.path.join(HERE, "..", "build", "libsoma.so"))
    for c in cands:
        if os.path.exists(c):
            return os.path.realpath(c)
    return None


class BuildWithLib(build_py):
    """build_py that copies libsoma.so into soma/_lib/ of the built package."""

    def run(self):
        super().run()
        src = find_lib()
        if src is None:
            print("soma: no libsoma.so found (SOMA_LIB, SOMA_BUILD, ../build); the package will "
                  "load the system's libsoma.so.0")
            return
        dst_dir = os.path.join(self.build_lib, "soma", "_lib")
        os.makedirs(dst_dir, exist_ok=True)
        shutil.copy2(src, os.path.join(dst_dir, "libsoma.so"))
        print(f"soma: bundled {src}")


class BinaryDistribution(Distribution):
    """The wheel holds a shared library: tag it for this platform."""

    def has_ext_modules(self):
        return True


setup(
    name="soma",
    version="0.1.0",
    description="NumPy bindings of soma, a C library for neuroscience-inspired AI",
    packages=["soma"],
    python_requires=">=3.9",
    install_requires=["numpy", "cffi"],
    cmdclass={"build_py": BuildWithLib},
    distclass=BinaryDistribution,
    zip_safe=False,
)
