#!/usr/bin/python3
"""PyTorch peer for bench/vs_torch.sh: one epoch of Fashion-MNIST training.

Mirrors `soma train --data fmnist --net SPEC --epochs 1 --batch 64 --lr 0.001
--optim adam --threads T --seed 1 --no-eval`: the same data (IDX files parsed
with gzip + numpy, pixels / 255 as float32), the same nets, batch 64, Adam lr
1e-3, cross-entropy. The whole training set is one in-memory tensor and each
batch is an index into a shuffled permutation: no DataLoader, no worker
processes, the fastest plain PyTorch loop. Only the training loop is timed.

Prints one JSON line on stdout with (at least) the keys the soma CLI prints:
samples_per_second, train_seconds, test_accuracy (null with --no-eval).

Run it with Debian's /usr/bin/python3 (python3-torch). It checks that torch
runs on the OpenMP build of OpenBLAS (libopenblas0-openmp), the build soma
links; on the pthread build or the reference BLAS it is not a fair peer and
it exits 3 unless --allow-unfair.
"""
import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import time

import numpy as np

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"


def read_idx_header(f, path):
    head = f.read(4)
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = head[3]
    raw = f.read(4 * ndim)
    if len(raw) != 4 * ndim:
        raise ValueError(f"{path}: header cut short")
    return [int.from_bytes(raw[4 * i:4 * i + 4], "big") for i in range(ndim)]


def read_idx(path, divisor=None):
    """Reads an unsigned-byte IDX file (.gz or not) into a numpy array.

    With divisor, returns float32 values / divisor, decoded in 1 MiB chunks straight
    into the one float array, so the peak is that array and not three copies."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        dims = read_idx_header(f, path)
        n = int(np.prod(dims))
        out = np.empty(n, dtype=np.uint8 if divisor is None else np.float32)
        pos = 0
        while pos < n:
            chunk = f.read(min(1 << 20, n - pos))
            if not chunk:
                raise ValueError(f"{path}: header says {dims}, payload holds {pos} bytes")
            u8 = np.frombuffer(chunk, dtype=np.uint8)
            if divisor is None:
                out[pos:pos + len(u8)] = u8
            else:
                np.divide(u8, np.float32(divisor), out=out[pos:pos + len(u8)],
                          dtype=np.float32)
            pos += len(u8)
        if f.read(1):
            raise ValueError(f"{path}: more bytes than the header's {dims}")
    return out.reshape(dims)


def find_file(data_dir, stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(data_dir, name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"{data_dir}: no {stem}(.gz); install dataset-fashion-mnist")


def load_split(torch, data_dir, prefix):
    """Pixels / 255 as one float32 tensor [N,1,28,28], labels as int64 [N]."""
    x = read_idx(find_file(data_dir, f"{prefix}-images-idx3-ubyte"), divisor=255.0)
    y = read_idx(find_file(data_dir, f"{prefix}-labels-idx1-ubyte"))
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y.astype(np.int64))


def blas_in_use():
    """What BLAS this process has mapped: (kind, paths). Call after a matmul ran."""
    paths = set()
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and re.search(r"blas|mkl|blis|lapack", parts[-1], re.I):
                paths.add(parts[-1])
    joined = " ".join(sorted(paths))
    if "openblas-openmp" in joined:
        kind = "openblas-openmp"
    elif "openblas-pthread" in joined:
        kind = "openblas-pthread"
    elif "mkl" in joined.lower():
        kind = "mkl"
    elif "blis" in joined.lower():
        kind = "blis"
    elif re.search(r"/blas/libblas\.so", joined):
        kind = "reference"
    elif "openblas" in joined:
        kind = "openblas-unknown"
    else:
        kind = "none-mapped"
    return kind, sorted(paths)


def blas_core(paths):
    """The kernel set the mapped OpenBLAS runs ("Zen", "SkylakeX"; its pick from the CPU model,
    or OPENBLAS_CORETYPE), or None when no OpenBLAS is mapped."""
    import ctypes
    for p in paths:
        if "openblas" in os.path.basename(p):
            try:
                f = ctypes.CDLL(p).openblas_get_corename
            except (OSError, AttributeError):
                continue
            f.restype = ctypes.c_char_p
            return f().decode()
    return None


def blas_alternative():
    try:
        out = subprocess.run(["update-alternatives", "--query", "libblas.so.3-x86_64-linux-gnu"],
                             capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"^Value:\s*(\S+)", out, re.M)
    return m.group(1) if m else None


def build_net(torch, name):
    nn = torch.nn
    if name == "mlp":
        return nn.Sequential(nn.Flatten(),
                             nn.Linear(784, 512), nn.ReLU(),
                             nn.Linear(512, 256), nn.ReLU(),
                             nn.Linear(256, 10))
    if name == "lenet":
        return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(),
                             nn.Linear(400, 120), nn.ReLU(),
                             nn.Linear(120, 84), nn.ReLU(),
                             nn.Linear(84, 10))
    if name == "vit":
        return ViT(torch)
    raise ValueError(f"unknown net {name!r} (mlp | lenet | vit)")


# soma's vit-fmnist default, "patch4x4d64,cls,pos,block4h64,block4h64,block4h64,clsout,layernorm,fc10":
# 4x4 patches embedded to 64 by a strided Conv2d, a class token prepended, learned positions
# added, three pre-norm TransformerEncoderLayers (4 heads, MLP 256, GELU, no dropout), the
# class token's output through a LayerNorm and a Linear 64-10.
VIT_PATCH, VIT_DIM, VIT_HEADS, VIT_DEPTH = 4, 64, 4, 3


def ViT(torch):
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            t = (28 // VIT_PATCH) ** 2
            self.patch = nn.Conv2d(1, VIT_DIM, VIT_PATCH, stride=VIT_PATCH)
            self.cls = nn.Parameter(torch.zeros(1, 1, VIT_DIM))
            self.pos = nn.Parameter(torch.randn(1, t + 1, VIT_DIM) * 0.02)
            self.blocks = nn.Sequential(*[
                nn.TransformerEncoderLayer(VIT_DIM, VIT_HEADS, 4 * VIT_DIM, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
                for _ in range(VIT_DEPTH)])
            self.norm = nn.LayerNorm(VIT_DIM)
            self.head = nn.Linear(VIT_DIM, 10)

        def forward(self, x):
            x = self.patch(x).flatten(2).transpose(1, 2)
            x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
            x = self.blocks(x)
            return self.head(self.norm(x[:, 0]))

    return Net()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--net", choices=["mlp", "lenet", "vit"], default="mlp")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--n-train", type=int, default=0,
                    help="train on the first N samples only (0: all), as soma's --n-train")
    ap.add_argument("--data-dir", default=os.environ.get("FMNIST_DIR", DEFAULT_DATA))
    ap.add_argument("--no-eval", action="store_true", help="skip the test-set evaluation")
    ap.add_argument("--foreach", choices=["auto", "on", "off"], default="on",
                    help="Adam's multi-tensor path (default on: the faster one here)")
    ap.add_argument("--blas-only", action="store_true",
                    help="print the BLAS check as JSON and exit (0 fair, 3 unfair)")
    ap.add_argument("--allow-unfair", action="store_true",
                    help="run even on a BLAS other than the OpenMP OpenBLAS")
    args = ap.parse_args()

    import torch  # after argparse so --help is fast
    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(args.seed)

    # Make torch touch its BLAS before we look at what is mapped.
    a = torch.ones(64, 64)
    torch.mm(a, a)
    kind, paths = blas_in_use()
    core = blas_core(paths)
    alt = blas_alternative()
    print(f"torch_train: torch {torch.__version__}, BLAS {kind} core {core} "
          f"({', '.join(paths) or 'none'}), "
          f"libblas.so.3 alternative {alt}, mkldnn {torch.backends.mkldnn.is_available()}, "
          f"threads {torch.get_num_threads()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}",
          file=sys.stderr)
    fair = kind in ("openblas-openmp", "mkl")
    if args.blas_only:
        print(json.dumps({"torch_version": torch.__version__, "blas": kind, "blas_paths": paths,
                          "blas_core": core, "blas_alternative": alt, "blas_fair": fair,
                          "mkldnn": torch.backends.mkldnn.is_available()}), flush=True)
    if not fair:
        print("torch_train: *** UNFAIR PEER ***: torch is running on BLAS '%s', not the OpenMP "
              "OpenBLAS (Debian libopenblas0-openmp) that soma links. Install "
              "libopenblas0-openmp and select it with update-alternatives "
              "--set libblas.so.3-x86_64-linux-gnu "
              "/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3" % kind, file=sys.stderr)
        if not args.allow_unfair:
            sys.exit(3)
    if args.blas_only:
        sys.exit(0)
    if torch.get_num_threads() != args.threads:
        print(f"torch_train: asked for {args.threads} threads, torch has {torch.get_num_threads()}",
              file=sys.stderr)
        sys.exit(3)

    x_train, y_train = load_split(torch, args.data_dir, "train")
    if 0 < args.n_train < x_train.shape[0]:
        x_train, y_train = x_train[:args.n_train].clone(), y_train[:args.n_train].clone()
    if args.net == "mlp":
        x_train = x_train.reshape(x_train.shape[0], -1).contiguous()
    n = x_train.shape[0]

    model = build_net(torch, args.net)
    foreach = {"auto": None, "on": True, "off": False}[args.foreach]
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, foreach=foreach)
    loss_fn = torch.nn.functional.cross_entropy
    gen = torch.Generator().manual_seed(args.seed)

    model.train()
    steps = 0
    loss_sum = 0.0
    t0 = time.perf_counter()
    for _ in range(args.epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, args.batch):
            idx = perm[i:i + args.batch]
            xb = x_train.index_select(0, idx)
            yb = y_train.index_select(0, idx)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            loss_sum += loss.item()
            steps += 1
    train_seconds = time.perf_counter() - t0
    samples = n * args.epochs

    test_accuracy = None
    if not args.no_eval:
        x_test, y_test = load_split(torch, args.data_dir, "t10k")
        if args.net == "mlp":
            x_test = x_test.reshape(x_test.shape[0], -1)
        model.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, x_test.shape[0], 1000):
                pred = model(x_test[i:i + 1000]).argmax(1)
                correct += int((pred == y_test[i:i + 1000]).sum())
        test_accuracy = correct / x_test.shape[0]

    print(json.dumps({
        "system": "pytorch",
        "torch_version": torch.__version__,
        "net": args.net,
        "threads": torch.get_num_threads(),
        "blas": kind,
        "blas_paths": paths,
        "blas_core": core,
        "blas_fair": fair,
        "epochs": args.epochs,
        "batch": args.batch,
        "samples": samples,
        "steps": steps,
        "train_seconds": train_seconds,
        "samples_per_second": samples / train_seconds,
        "mean_train_loss": loss_sum / max(steps, 1),
        "test_accuracy": test_accuracy,
    }), flush=True)


if __name__ == "__main__":
    main()
