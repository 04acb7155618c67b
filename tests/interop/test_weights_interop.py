"""Checkpoints converted from .safetensors, .npz and PyTorch .pt files read back equal in
TensorFlow 2.21's tf.train.load_checkpoint (one TF subprocess for the module).

The sources come from the reference writers: ``safetensors.numpy.save_file``,
``np.savez`` and ``torch.save`` (in the torch venv, which also runs the conversion)."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save_file

from pysavedmodel.dtypes import from_numpy
from pysavedmodel.weights import convert_weights
from tests.support import venvs
from tests.support.tf import run_tf
from tests.weights.samples import NPZ_DTYPES, SAFETENSORS_DTYPES, tensors_of

TF_SCRIPT = r"""
import json, sys
import numpy as np
import tensorflow as tf

result = {}
for label, prefix in json.loads(sys.argv[1]).items():
    reader = tf.train.load_checkpoint(prefix)
    dtypes = reader.get_variable_to_dtype_map()
    result[label] = {
        name: {"dtype": dtypes[name].name, "shape": list(np.shape(reader.get_tensor(name))),
               "hex": np.asarray(reader.get_tensor(name)).tobytes().hex()}
        for name in sorted(dtypes)}
print(json.dumps(result))
"""

TORCH_SCRIPT = r"""
import json, pathlib, subprocess, sys
import torch

work = pathlib.Path(sys.argv[1])
torch.manual_seed(1)
base = torch.randn(3, 4)
state = {"layer.weight": base, "layer.weight_t": base.t(), "half": torch.randn(4).half(),
         "bf16": torch.randn(2, 3).to(torch.bfloat16), "steps": torch.tensor(12345678901),
         "mask": torch.tensor([[True, False]]), "ids": torch.tensor([1, -2], dtype=torch.int32),
         "empty": torch.zeros(2, 0)}
torch.save(state, work / "model.pt")
convert = subprocess.run([sys.executable, "-m", "pysavedmodel", "convert",
                          str(work / "model.pt"), str(work / "from_pt")],
                         capture_output=True, text=True)
assert convert.returncode == 0, convert.stderr

def expected(t):
    t = t.contiguous()
    raw = t.view(torch.int16).numpy() if t.dtype == torch.bfloat16 else t.numpy()
    return {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape),
            "hex": raw.tobytes().hex()}

print(json.dumps({name: expected(t) for name, t in state.items()}))
"""

def encode(array: np.ndarray) -> dict[str, Any]:
    return {"dtype": from_numpy(array.dtype).name, "shape": list(array.shape),
            "hex": array.tobytes().hex()}


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("weights_interop")
    expected: dict[str, Any] = {}

    st_tensors = tensors_of(d for d in SAFETENSORS_DTYPES if not d.startswith("float8"))
    save_file(st_tensors, str(work / "ref.safetensors"))
    convert_weights(work / "ref.safetensors", work / "from_st")
    expected["safetensors"] = {k: encode(v) for k, v in st_tensors.items()}

    npz_tensors = tensors_of(d for d in NPZ_DTYPES if d != "bfloat16")
    np.savez(work / "ref.npz", **npz_tensors)  # type: ignore[arg-type]
    convert_weights(work / "ref.npz", work / "from_npz")
    expected["npz"] = {k: encode(v) for k, v in npz_tensors.items()}

    env = dict(os.environ, PYTHONPATH=str(venvs.ROOT / "src"))
    proc = subprocess.run([str(venvs.torch_python()), "-c", textwrap.dedent(TORCH_SCRIPT),
                           str(work)], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-5000:]
    expected["torch"] = json.loads(proc.stdout.splitlines()[-1])

    prefixes = {"safetensors": str(work / "from_st"), "npz": str(work / "from_npz"),
                "torch": str(work / "from_pt")}
    read = run_tf(TF_SCRIPT, json.dumps(prefixes))
    return {"expected": expected, "read": read}


@pytest.mark.parametrize("source", ["safetensors", "npz", "torch"])
def test_tensorflow_reads_converted_checkpoint(checked: dict[str, Any], source: str) -> None:
    expected, read = checked["expected"][source], checked["read"][source]
    assert sorted(read) == sorted(expected)
    for name in expected:
        assert read[name] == expected[name], name


def test_sources_cover_the_dtypes_that_matter(checked: dict[str, Any]) -> None:
    seen = {desc["dtype"] for source in checked["read"].values() for desc in source.values()}
    assert {"bfloat16", "bool", "float16", "complex64", "complex128", "uint64"} <= seen
    shapes = {tuple(desc["shape"]) for source in checked["read"].values()
              for desc in source.values()}
    assert () in shapes and (0, 3) in shapes and (2, 0) in shapes
