#!/usr/bin/python3
"""Checks, once by hand, that parameters move between soma and PyTorch unchanged.

Networks as graphs (residual, concatenation, sequences), every layer kind with parameters:

    /usr/bin/python3 tests/ref/check_torch_interop.py --graph build/test_nn_torch

runs the test program with SOMA_NN_EXPORT_DIR set (it keeps soma's NPY export of each
graph_* case), loads each export into the equivalent PyTorch module with
load_state_dict(strict=True) -- every key present, no key extra, every shape equal --,
checks its forward output against the committed fixture, and that torch.save-style values
written back by NumPy are the same bytes. Exits non-zero on a mismatch.

LeNet on Fashion-MNIST:

    build/soma train --data fmnist --net SPEC --epochs 1 --save-npy DIR
    /usr/bin/python3 tests/ref/check_torch_interop.py DIR OUT_DIR
    build/soma eval --data fmnist --net SPEC --init-npy OUT_DIR

Loads soma's NPY files into the equivalent torch.nn.Sequential (LeNet spec below), evaluates
it on the Fashion-MNIST test split (prints the accuracy, which must equal soma's), perturbs
the weights with one SGD step in PyTorch, and writes them back as NPY files for soma to load.
"""
import gzip
import os
import sys

import numpy as np
import torch
import torch.nn as nn

FMNIST = os.environ.get("SOMA_FMNIST_DIR", "/usr/share/datasets/fashion-mnist")


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def lenet():
    # positions match soma's spec: conv5x5x6p2,relu,maxpool2,conv5x5x16,relu,maxpool2,fc120,relu,fc84,relu,fc10
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                         nn.Linear(84, 10))


def read_fixture(path):
    """tests/fixtures/nn/*.bin (format in gen_torch.py) -> (spec, n, {name: array})."""
    import struct
    with open(path, "rb") as f:
        assert f.read(8) == b"SOMANNFX"
        f.read(4)
        spec = f.read(128).rstrip(b"\0").decode()
        n, _c, _h, _w, _mode, count = struct.unpack("<6i", f.read(24))
        arrays = {}
        for _ in range(count):
            name = f.read(32).rstrip(b"\0").decode()
            nd, *dims = struct.unpack("<5i", f.read(20))
            shape = tuple(dims[:nd])
            arrays[name] = np.frombuffer(f.read(4 * int(np.prod(shape))), dtype="<f4").reshape(shape)
    return spec, n, arrays


def check_graphs(test_bin):
    import subprocess
    import tempfile
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import gen_torch
    src = os.path.normpath(os.path.join(here, "..", ".."))
    torch.set_default_dtype(torch.float64)
    bad = 0
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, SOMA_NN_EXPORT_DIR=d, SOMA_SOURCE_DIR=src)
        subprocess.run([test_bin], env=env, check=False, stdout=subprocess.DEVNULL)
        cases = sorted(c for c in os.listdir(d))
        if not cases:
            print("no exports written: is this test_nn_torch?")
            return 1
        for case in cases:
            spec, n, fx = read_fixture(os.path.join(src, "tests", "fixtures", "nn", case + ".bin"))
            shape = tuple(int(v) for v in fx["in_shape"])
            net = gen_torch.graph_net(spec, shape)
            files = sorted(f for f in os.listdir(os.path.join(d, case)) if f.endswith(".npy"))
            state = {f[:-4]: torch.from_numpy(np.load(os.path.join(d, case, f)).astype(np.float64)) for f in files}
            try:
                net.load_state_dict(state, strict=True)
                loaded = True
            except RuntimeError as e:
                print(f"{case}: {e}")
                loaded = False
            ok = loaded
            if loaded:
                net.eval()
                with torch.no_grad():
                    y = net(torch.from_numpy(fx["x"].astype(np.float64)).reshape(n, *shape)).reshape(n, -1)
                err = float((y - torch.from_numpy(fx["y"].astype(np.float64))).abs().max())
                ok = err < 1e-5
                # torch -> NumPy -> the same float32 values soma wrote
                for k, v in net.state_dict().items():
                    ok &= np.array_equal(v.numpy().astype(np.float32), np.load(os.path.join(d, case, k + ".npy")))
                print(f"{case:20s} {len(files):2d} tensors strict load ok, forward max |diff| {err:.2e} "
                      f"{'ok' if ok else 'MISMATCH'}")
            bad += not ok
    print("every graph export loads into its PyTorch module" if not bad else f"{bad} mismatches")
    return 1 if bad else 0


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--graph":
        return check_graphs(sys.argv[2])
    src, dst = sys.argv[1], sys.argv[2]
    net = lenet()
    # soma's layer i; torch's module index shifts by one after the Flatten at position 6
    soma_pos = {0: 0, 3: 3, 7: 6, 9: 8, 11: 10}
    for ti, si in soma_pos.items():
        m = net[ti]
        m.weight.data = torch.from_numpy(np.load(f"{src}/{si}.weight.npy"))
        m.bias.data = torch.from_numpy(np.load(f"{src}/{si}.bias.npy"))
    x = torch.from_numpy(idx(f"{FMNIST}/t10k-images-idx3-ubyte.gz").astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.from_numpy(idx(f"{FMNIST}/t10k-labels-idx1-ubyte.gz").astype(np.int64))
    with torch.no_grad():
        acc = (net(x).argmax(1) == y).float().mean().item()
    print(f"torch accuracy with soma's weights: {acc:.4f}")
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    loss = nn.functional.cross_entropy(net(x[:256]), y[:256])
    loss.backward()
    opt.step()
    with torch.no_grad():
        acc2 = (net(x).argmax(1) == y).float().mean().item()
    os.makedirs(dst, exist_ok=True)
    for ti, si in soma_pos.items():
        np.save(f"{dst}/{si}.weight.npy", net[ti].weight.detach().numpy())
        np.save(f"{dst}/{si}.bias.npy", net[ti].bias.detach().numpy())
    print(f"torch accuracy after one SGD step (written to {dst}): {acc2:.4f}")


if __name__ == "__main__":
    sys.exit(main())
