"""Run Python code in the ONNX test venv (torch, onnx, onnxruntime, transformers, jax2onnx).

scripts/venvs.py creates the venv (``~/.cache/pysavedmodel/onnx-<key>``) and
scripts/run_tests.py hands its python over as ``PYSAVEDMODEL_ONNX_PYTHON`` (and its
requirement hash as ``PYSAVEDMODEL_ONNX_KEY``).  Standard library only at
import (numpy is imported by :func:`ort_run`); the core test process never
imports onnx or onnxruntime.

:func:`run_onnx` runs source text there (like :func:`tests.support.tf.run_tf`):
the script prints one JSON document on its last stdout line.

:func:`ort_run` runs many models through onnxruntime in ONE subprocess.  Arrays
travel as ``.npz`` files in a temporary directory: ``feeds_<i>.npz`` in,
``outputs_<i>.npz`` back.  Sessions use the CPU execution provider, one thread,
and onnxruntime's default graph optimisation level (ORT_ENABLE_ALL) — the
outputs a user of onnxruntime gets.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import venvs

if TYPE_CHECKING:
    import numpy as np

SRC = venvs.ROOT / "src"


def onnx_python() -> Path:
    """The ONNX venv's python (set up by scripts/run_tests.py)."""
    return venvs.onnx_python()


def onnx_key() -> str:
    """The ONNX venv's requirement hash (keys the corpus cache); the python path if unset."""
    return os.environ.get("PYSAVEDMODEL_ONNX_KEY") or str(onnx_python())


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC)
    env["CUDA_VISIBLE_DEVICES"] = ""
    env["JAX_PLATFORMS"] = "cpu"
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run_onnx(script: str, *args: str | os.PathLike[str], timeout: float = 900) -> Any:
    """Run ``script`` in the ONNX venv; return the JSON it printed last.

    Fails (AssertionError with the subprocess's stderr) when it exits non-zero.
    """
    proc = subprocess.run(
        [str(onnx_python()), "-c", textwrap.dedent(script), *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=_env())
    if proc.returncode != 0:
        raise AssertionError(
            f"ONNX venv subprocess failed ({proc.returncode}):\n"
            f"--- stdout\n{proc.stdout[-5000:]}\n--- stderr\n{proc.stderr[-10000:]}")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if not lines:
        raise AssertionError(
            f"ONNX venv subprocess printed nothing; stderr:\n{proc.stderr[-5000:]}")
    return json.loads(lines[-1])


_ORT_SCRIPT = """
import json, sys
import numpy as np
import onnxruntime as ort
work = sys.argv[1]
paths = json.load(open(work + "/models.json"))
opts = ort.SessionOptions()
opts.intra_op_num_threads = 1
opts.inter_op_num_threads = 1
opts.log_severity_level = 3
for i, path in enumerate(paths):
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    with np.load(f"{work}/feeds_{i}.npz") as data:
        feeds = {k: data[k] for k in data.files}
    names = [o.name for o in sess.get_outputs()]
    np.savez(f"{work}/outputs_{i}.npz", **dict(zip(names, sess.run(names, feeds))))
print(json.dumps({"ran": len(paths)}))
"""


def ort_run(model_paths: list[Path], feeds: list[dict[str, np.ndarray]],
            timeout: float = 900) -> list[dict[str, np.ndarray]]:
    """Run ``model_paths[i]`` on ``feeds[i]`` through onnxruntime, all in one subprocess.

    Returns each model's outputs keyed by the graph's output names, in graph order.
    """
    import numpy as np

    if len(model_paths) != len(feeds):
        raise ValueError(f"{len(model_paths)} models but {len(feeds)} feed dicts")
    with tempfile.TemporaryDirectory(prefix="pysavedmodel-ort-") as work:
        (Path(work) / "models.json").write_text(
            json.dumps([str(Path(p).resolve()) for p in model_paths]))
        for i, feed in enumerate(feeds):
            np.savez(Path(work) / f"feeds_{i}.npz", **feed)
        result = run_onnx(_ORT_SCRIPT, work, timeout=timeout)
        assert result == {"ran": len(model_paths)}, result
        outputs = []
        for i in range(len(model_paths)):
            with np.load(Path(work) / f"outputs_{i}.npz") as data:
                outputs.append({k: data[k] for k in data.files})
        return outputs
