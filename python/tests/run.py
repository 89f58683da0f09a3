"""Runs the Python suite the way ctest does: finds the OpenBLAS kernels the soma command runs
on this CPU (soma.blas_core_advice, asked in a child process), then runs pytest with
OPENBLAS_CORETYPE set to them (a user-set value is kept), so that C and Python compute with the
same kernels.

    SOMA_LIB=build/libsoma.so SOMA_CLI=build/soma /usr/bin/python3 python/tests/run.py [pytest args]
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.normpath(os.path.join(HERE, ".."))


def main():
    env = dict(os.environ)
    env["PYTHONPATH"] = PKG + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["SOMA_QUIET_BLAS_ADVICE"] = "1"
    if not env.get("OPENBLAS_CORETYPE"):
        r = subprocess.run([sys.executable, "-c", "import soma; print(soma.blas_core_advice() or '')"],
                           capture_output=True, text=True, env=env)
        if r.returncode != 0:
            sys.stderr.write(r.stderr)
            return r.returncode
        if r.stdout.strip():
            env["OPENBLAS_CORETYPE"] = r.stdout.strip()
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", HERE] + sys.argv[1:]
    return subprocess.call(args, env=env)


if __name__ == "__main__":
    sys.exit(main())
