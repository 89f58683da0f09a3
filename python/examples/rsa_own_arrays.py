"""Notebook-style: RSA on your own NumPy arrays. Two "recordings" of the same 40 stimuli (a
model layer's activations and a noisy, rotated copy of them), their RDMs, how similar the
geometries are, with a permutation test, and CKA for comparison.

    SOMA_LIB=build/libsoma.so PYTHONPATH=python /usr/bin/python3 python/examples/rsa_own_arrays.py /tmp/rsa.png
"""
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import soma

rng = np.random.default_rng(0)
# %% your data: conditions x features (any float array)
model = rng.normal(size=(40, 100))                      # e.g. a layer's activations
rotation, _ = np.linalg.qr(rng.normal(size=(100, 100)))
brain = model @ rotation + 0.8 * rng.normal(size=(40, 100))  # e.g. voxels or neurons

# %% RDMs (1 - Pearson r between conditions, as `soma rdm`), then compare them
rdm_model = soma.rdm(model)                             # [40, 40] float64
rdm_brain = soma.rdm(brain, metric="correlation")
rho, p = soma.rsa(rdm_model, rdm_brain, method="spearman", permutations=1000, seed=1)
print(f"RSA (Spearman) = {rho:.3f}, permutation p = {p:.4f}")
print(f"linear CKA = {soma.cka(model, brain):.3f}")
print(f"same data shuffled across conditions: RSA = {soma.rsa(rdm_model, soma.rdm(rng.permutation(brain))):.3f}")

# %% the figure
fig, axes = plt.subplots(1, 2, figsize=(7, 3.3))
for ax, r, title in zip(axes, (rdm_model, rdm_brain), ("model RDM", "brain RDM")):
    im = ax.imshow(r, cmap="viridis")
    ax.set_title(title)
    ax.set_xticks([]), ax.set_yticks([])
fig.colorbar(im, ax=axes, shrink=0.8, label="1 - Pearson r")
fig.suptitle(f"Spearman RSA {rho:.2f} (p = {p:.3f})")
fig.savefig(sys.argv[1] if len(sys.argv) > 1 else "rsa.png", dpi=120)
