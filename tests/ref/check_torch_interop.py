#!/usr/bin/python3
"""Checks, once by hand, that parameters move between soma and PyTorch unchanged.

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


def main():
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
    main()
