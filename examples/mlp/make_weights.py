"""Regenerate ``weights.safetensors``: the example MLP's weights, PyTorch-style.

Two ``torch.nn.Linear`` layers as PyTorch saves them: ``fc1.weight`` [16, 4],
``fc1.bias`` [16], ``fc2.weight`` [3, 16], ``fc2.bias`` [3] (a Linear weight is
[out_features, in_features]).  Values are drawn like PyTorch's default Linear
initialization, U(-1/sqrt(in), 1/sqrt(in)), from a fixed seed, so running this
script again gives the same bytes::

    python examples/mlp/make_weights.py [OUT_FILE]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import pysavedmodel

SEED = 20261125
LAYERS = {"fc1": (4, 16), "fc2": (16, 3)}  # name: (in_features, out_features)


def make_weights() -> dict[str, np.ndarray]:
    """The example's weights by PyTorch state_dict name."""
    rng = np.random.default_rng(SEED)
    weights = {}
    for name, (fan_in, fan_out) in LAYERS.items():
        bound = 1.0 / np.sqrt(fan_in)
        weights[f"{name}.weight"] = rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32)
        weights[f"{name}.bias"] = rng.uniform(-bound, bound, (fan_out,)).astype(np.float32)
    return weights


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path(__file__).with_name("weights.safetensors")
    pysavedmodel.save_weights(out, make_weights())
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
