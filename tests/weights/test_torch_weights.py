"""PyTorch state dicts as a source, checked where torch is installed: the torch venv
(tests/support/venvs.torch_python), one subprocess for the whole module."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.support import venvs

SCRIPT = r"""
import json, pathlib, subprocess, sys
import numpy as np
import torch
import pysavedmodel
from pysavedmodel import read_checkpoint
from pysavedmodel.weights import load_weights

work = pathlib.Path(sys.argv[1])
torch.manual_seed(0)
base = torch.randn(4, 6)
shared = torch.arange(10, dtype=torch.float32)
state = {
    "f32": torch.randn(3, 4),
    "f16": torch.randn(5).half(),
    "bf16": torch.tensor([1.0, -2.5, 3.140625, 1e30], dtype=torch.bfloat16),
    "i64": torch.tensor([[1, -2], [2**40, -(2**62)]], dtype=torch.int64),
    "flag": torch.tensor([True, False, True]),
    "u8": torch.tensor([0, 255], dtype=torch.uint8),
    "scalar": torch.tensor(2.5),
    "empty": torch.zeros(0, 3),
    "strided": base.t()[1:, ::2],          # non-contiguous view
    "tied.a": shared,                      # two names, one tensor
    "tied.b": shared,
    "tail": shared[6:],                    # a view into the same storage at an offset
    "param": torch.nn.Parameter(torch.ones(2, 2)),
    "u64": torch.tensor([1, 2**63], dtype=torch.uint64),
    "c64": torch.tensor([1 + 2j, -3j], dtype=torch.complex64),
    "conj": torch.tensor([1 + 1j, 2 - 5j], dtype=torch.complex64).conj(),  # lazy conj bit
    "f8": torch.tensor([0.5, -448.0, 3.0]).to(torch.float8_e4m3fn),
}
assert not state["strided"].is_contiguous()

def encode(array):  # tobytes() is C order (ascontiguousarray would make scalars 1-D)
    return {"dtype": array.dtype.name, "shape": list(array.shape), "hex": array.tobytes().hex()}

def expected(tensor):
    t = tensor.detach().resolve_conj().contiguous()
    if t.dtype == torch.bfloat16:
        raw = t.view(torch.int16).numpy().tobytes()
    elif t.dtype == torch.float8_e4m3fn:
        raw = t.view(torch.uint8).numpy().tobytes()
    else:
        raw = t.numpy().tobytes()
    return {"dtype": str(t.dtype), "shape": list(t.shape), "hex": raw.hex()}

def error_of(call):
    try:
        call()
    except pysavedmodel.Error as exc:
        return [type(exc).__name__, str(exc)]
    except BaseException as exc:
        return ["NOT-OURS " + type(exc).__name__, str(exc)]
    return None

out = {"expected": {k: expected(v) for k, v in state.items()}, "loaded": {}}
torch.save(state, work / "model.pt")
# the legacy (pre-zip) format: torch 2.13's weights_only loader cannot read uint64 / float8 in it
LEGACY_SKIPS = ("u64", "f8")
torch.save({k: v for k, v in state.items() if k not in LEGACY_SKIPS},
           work / "pytorch_model.bin", _use_new_zipfile_serialization=False)
torch.save({"encoder": {"w": torch.ones(2), "inner": {"b": torch.zeros(1)}}}, work / "nested.pth")
for name in ("model.pt", "pytorch_model.bin"):
    out["loaded"][name] = {k: encode(v) for k, v in load_weights(work / name).items()}
out["nested"] = {k: encode(v) for k, v in load_weights(work / "nested.pth").items()}
out["explicit_format"] = sorted(load_weights(work / "model.pt", format="torch"))

tied = load_weights(work / "model.pt")
out["tied_share_memory"] = bool(np.shares_memory(tied["tied.a"], tied["tied.b"]))

torch.save({k: v for k, v in state.items() if k != "f8"}, work / "model_ckpt.pt")
cli = subprocess.run([sys.executable, "-m", "pysavedmodel", "convert", str(work / "model_ckpt.pt"),
                      str(work / "ckpt" / "model")], capture_output=True, text=True)
out["cli"] = [cli.returncode, cli.stdout, cli.stderr]
out["ckpt"] = {k: encode(v) for k, v in read_checkpoint(work / "ckpt" / "model").items()}
f8_cli = subprocess.run([sys.executable, "-m", "pysavedmodel", "convert", str(work / "model.pt"),
                         str(work / "f8ckpt" / "model")], capture_output=True, text=True)
out["f8_cli"] = [f8_cli.returncode, f8_cli.stderr, (work / "f8ckpt").exists()]

marker = work / "EXECUTED"
class Evil:
    def __reduce__(self):
        return (pathlib.Path.touch, (marker,))
torch.save({"w": torch.ones(2), "evil": Evil()}, work / "evil.pt")
out["evil"] = error_of(lambda: load_weights(work / "evil.pt"))
out["evil_cli"] = subprocess.run(
    [sys.executable, "-m", "pysavedmodel", "convert", str(work / "evil.pt"),
     str(work / "evil.safetensors")], capture_output=True, text=True).stderr
out["evil_ran"] = marker.exists()

torch.save({"w": torch.ones(2), "epoch": 3}, work / "lightning.pt")
out["non_tensor"] = error_of(lambda: load_weights(work / "lightning.pt"))
torch.save(torch.ones(3), work / "bare.pt")
out["bare"] = error_of(lambda: load_weights(work / "bare.pt"))
torch.save({"a.b": torch.ones(1), "a": {"b": torch.ones(1)}}, work / "clash.pt")
out["clash"] = error_of(lambda: load_weights(work / "clash.pt"))
torch.save({"c": torch.ones(2, dtype=torch.complex32)}, work / "chalf.pt")
out["chalf"] = error_of(lambda: load_weights(work / "chalf.pt"))
(work / "cut.pt").write_bytes((work / "model.pt").read_bytes()[:300])
out["truncated"] = error_of(lambda: load_weights(work / "cut.pt"))
out["missing"] = error_of(lambda: load_weights(work / "absent.pt"))
print(json.dumps(out))
"""

TORCH_TO_NUMPY = {"torch.float32": "float32", "torch.float16": "float16",
                  "torch.bfloat16": "bfloat16", "torch.int64": "int64", "torch.bool": "bool",
                  "torch.uint8": "uint8", "torch.uint64": "uint64",
                  "torch.complex64": "complex64", "torch.float8_e4m3fn": "float8_e4m3fn"}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("torch")
    env = dict(os.environ, PYTHONPATH=str(venvs.ROOT / "src"))
    proc = subprocess.run([str(venvs.torch_python()), "-c", textwrap.dedent(SCRIPT), str(work)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-5000:]
    result: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    result["work"] = str(work)
    return result


def expected_arrays(results: dict[str, Any]) -> dict[str, Any]:
    return {name: {"dtype": TORCH_TO_NUMPY[e["dtype"]], "shape": e["shape"], "hex": e["hex"]}
            for name, e in results["expected"].items()}


def test_state_dict_reads_back_exactly(results: dict[str, Any]) -> None:
    assert results["loaded"]["model.pt"] == expected_arrays(results)


def test_legacy_format_reads_back_exactly(results: dict[str, Any]) -> None:
    expected = expected_arrays(results)
    for name in ("u64", "f8"):  # not written in the legacy file (see the script)
        del expected[name]
    assert results["loaded"]["pytorch_model.bin"] == expected


def test_tied_and_strided_values(results: dict[str, Any]) -> None:
    loaded = results["loaded"]["model.pt"]
    assert loaded["tied.a"] == loaded["tied.b"]
    assert bytes.fromhex(loaded["tail"]["hex"]) == bytes.fromhex(loaded["tied.a"]["hex"])[24:]
    assert loaded["strided"]["shape"] == [5, 2]
    assert results["tied_share_memory"] is True


def test_nested_dicts_flatten_with_dots(results: dict[str, Any]) -> None:
    assert sorted(results["nested"]) == ["encoder.inner.b", "encoder.w"]
    assert results["explicit_format"] == sorted(results["expected"])


def test_cli_converts_pt_to_checkpoint(results: dict[str, Any]) -> None:
    code, stdout, stderr = results["cli"]
    assert code == 0, stderr
    work = Path(results["work"])
    assert stdout.splitlines() == [str(work / "ckpt" / "model.data-00000-of-00001"),
                                   str(work / "ckpt" / "model.index")]
    expected = expected_arrays(results)
    del expected["f8"]  # checkpoints do not hold float8 (see the dtype table)
    assert results["ckpt"] == expected
    code, stderr, made_dir = results["f8_cli"]
    assert code == 1 and "'f8'" in stderr and len(stderr.splitlines()) == 1
    assert made_dir is False


def test_pickled_objects_are_refused_not_run(results: dict[str, Any]) -> None:
    kind, message = results["evil"]
    assert kind == "InvalidArgumentError"
    assert "evil.pt" in message and "refused" in message
    assert results["evil_ran"] is False
    assert results["evil_cli"].startswith("pysavedmodel: error: ")
    assert len(results["evil_cli"].splitlines()) == 1
    assert not (Path(results["work"]) / "evil.safetensors").exists()


def test_bad_state_dicts_are_named(results: dict[str, Any]) -> None:
    assert results["non_tensor"][0] == "InvalidArgumentError"
    assert "'epoch'" in results["non_tensor"][1] and "int" in results["non_tensor"][1]
    assert results["bare"][0] == "InvalidArgumentError" and "Tensor" in results["bare"][1]
    assert results["clash"][0] == "InvalidArgumentError" and "'a.b'" in results["clash"][1]
    assert results["chalf"][0] == "UnsupportedDTypeError"
    assert "'c'" in results["chalf"][1] and "complex32" in results["chalf"][1]
    assert results["truncated"][0] == "CorruptCheckpointError"
    assert "cut.pt" in results["truncated"][1]
    assert results["missing"][0] == "NotFoundError" and "absent.pt" in results["missing"][1]
