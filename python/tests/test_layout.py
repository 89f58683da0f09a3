"""The cffi declarations match the C headers: a C program compiled against include/soma prints
the size and every field offset of each struct the package declares; cffi's must agree (a
struct that grew in C without its declaration here fails this test, naming it)."""

import os
import subprocess

from conftest import ROOT


def test_struct_layouts(tmp_path):
    from soma._ffi import ffi, FULL_STRUCTS, PREFIX_STRUCTS
    lines = ['#include <stdio.h>', '#include <stddef.h>', '#include "soma/soma.h"',
             '#include <cjson/cJSON.h>', 'int main(void) {']
    expect = []
    for name in FULL_STRUCTS + PREFIX_STRUCTS:
        t = ffi.typeof(name)
        if name in FULL_STRUCTS:
            lines.append(f'    printf("%zu\\n", sizeof({name}));')
            expect.append((f"sizeof({name})", ffi.sizeof(t)))
        for fname, _ in t.fields:
            cfield = fname
            lines.append(f'    printf("%zu\\n", offsetof({name}, {cfield}));')
            expect.append((f"offsetof({name}, {fname})", ffi.offsetof(t, fname)))
    lines += ['    return 0;', '}']
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines) + "\n")
    exe = tmp_path / "layout"
    subprocess.run(["gcc", "-std=c11", "-I", os.path.join(ROOT, "include"), str(src), "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    got = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split()
    assert len(got) == len(expect)
    bad = [f"{what}: C {g}, cffi {want}" for (what, want), g in zip(expect, got) if int(g) != want]
    assert not bad, "python/soma/_ffi.py's declarations differ from the headers:\n" + "\n".join(bad)
