#!/usr/bin/env bash
# Attention layers through the soma command: a small vision transformer (patch embedding, class
# token, learned positions, a pre-norm block, class-token read-out) trains on the user's own
# image data; its exported parameters carry the documented state_dict keys and load back
# through --init-npy to the same predictions; bad attention specs exit 2 with one clear line.
set -u
SOMA=${1:?usage: test_attn_cli.sh PATH_TO_SOMA}
. "$(dirname "$0")/sh_util.sh" # PY, $T, ok/bad, expect, sh_report

# 8x8 images, a bright 4x4 quadrant on noise; the label is the quadrant.
"$PY" - "$T" <<'EOF' || { echo "FAIL python3 with numpy is needed"; exit 1; }
import sys, numpy as np
t = sys.argv[1]
r = np.random.default_rng(5)
def make(n):
    y = r.integers(0, 4, n)
    x = 0.5 * r.standard_normal((n, 1, 8, 8))
    for i in range(n):
        a, b = divmod(int(y[i]), 2)
        x[i, 0, a * 4:(a + 1) * 4, b * 4:(b + 1) * 4] += 1.0
    return x.astype(np.float32), y.astype(np.int64)
for name, n in (("tr", 800), ("te", 200)):
    x, y = make(n)
    np.save(f"{t}/X{name}.npy", x)
    np.save(f"{t}/Y{name}.npy", y)
EOF
DATA="npy:$T/Xtr.npy,$T/Ytr.npy;$T/Xte.npy,$T/Yte.npy"
VIT="patch2x2d16,cls,pos,block2h16,clsout,layernorm,fc4"

if "$SOMA" train --data "$DATA" --net "$VIT" --epochs 3 --batch 32 --lr 0.003 --threads 2 --quiet \
    --save-npy "$T/vit" >"$T/train.json" 2>"$T/err"; then ok; else bad "train: $(head -c 400 "$T/err")"; fi
if "$PY" - "$T" <<'EOF'; then ok; else bad "the ViT must learn the quadrant task"; fi
import json, sys
a = json.load(open(sys.argv[1] + "/train.json"))
print(f"  ViT on 8x8 quadrants: test accuracy {a['test_accuracy']:.3f} ({a['parameters']} params); chance 0.25")
assert a["test_accuracy"] >= 0.9, a["test_accuracy"]
EOF
# the block's parameters under the documented keys (docs/transformer.md)
for k in 0.weight 1.weight 2.weight 3.0.0.weight 3.0.1.in_proj_weight 3.0.1.in_proj_bias 3.0.1.out_proj.weight \
    3.1.0.bias 3.1.1.weight 3.1.3.weight 5.weight 6.bias; do
    [ -f "$T/vit/$k.npy" ] && ok || bad "--save-npy: no $k.npy"
done
if "$PY" - "$T" <<'EOF'; then ok; else bad "exported shapes differ from PyTorch's"; fi
import sys, numpy as np
t = sys.argv[1] + "/vit/"
want = {"0.weight": (16, 1, 2, 2), "1.weight": (1, 16), "2.weight": (17, 16), "3.0.1.in_proj_weight": (48, 16),
        "3.0.1.out_proj.weight": (16, 16), "3.1.1.weight": (64, 16), "3.1.3.weight": (16, 64)}
for k, s in want.items():
    assert np.load(t + k + ".npy").shape == s, (k, np.load(t + k + ".npy").shape, s)
EOF
# the export loads back through --init-npy: the same predictions
"$SOMA" predict --data "$DATA" --net "$VIT" --init-npy "$T/vit" -o "$T/p1.npy" --threads 2 --quiet >/dev/null 2>"$T/err" &&
    "$SOMA" predict --data "$DATA" --net "$VIT" --init-npy "$T/vit" -o "$T/p2.npy" --threads 1 --quiet >/dev/null 2>>"$T/err" &&
    ok || bad "predict: $(head -c 400 "$T/err")"
if "$PY" - "$T" <<'EOF'; then ok; else bad "predict: accuracy or thread independence"; fi
import sys, numpy as np
t = sys.argv[1]
p1, p2 = np.load(t + "/p1.npy"), np.load(t + "/p2.npy")
y = np.load(t + "/Yte.npy")
assert np.abs(p1 - p2).max() < 1e-5  # 1 vs 2 threads: only the BLAS's summation order differs
assert (p1.reshape(len(y), -1).argmax(1) == y).mean() >= 0.9
EOF

expect 2 "heads do not divide" "mha3|3 heads do not divide the width 16" -- "$SOMA" train --data "$DATA" \
    --net "patch2x2d16,mha3,tmean,fc4" --epochs 1 --quiet
expect 2 "patches do not tile" "patch3x3d16|do not tile the 8x8 image" -- "$SOMA" train --data "$DATA" \
    --net "patch3x3d16,tmean,fc4" --epochs 1 --quiet
expect 2 "position table" "pos8|longer than the position table (8)" -- "$SOMA" train --data "$DATA" \
    --net "patch2x2d16,pos8,tmean,fc4" --epochs 1 --quiet
expect 2 "block heads" "block3h16|3 heads do not divide" -- "$SOMA" train --data "$DATA" \
    --net "patch2x2d16,block3h16,tmean,fc4" --epochs 1 --quiet
expect 2 "bad token" "mha0|mhaH" -- "$SOMA" train --data "$DATA" --net "patch2x2d16,mha0,tmean,fc4" --epochs 1 --quiet
"$SOMA" train --help >"$T/help" 2>&1
grep -qF "blockHhD" "$T/help" && ok || bad "train --help lacks blockHhD"

sh_report test_attn_cli
