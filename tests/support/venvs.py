"""The test virtualenvs' pythons.

scripts/venvs.py creates and caches the venvs (TensorFlow, torch, the protobuf range)
and scripts/run_tests.py passes each one's python to pytest as
``PYSAVEDMODEL_<NAME>_PYTHON``; tests read them here and never import scripts/.

Run without run_tests.py (``.venv/bin/python -m pytest tests/x``), a test finds the
venv at its cached place (``~/.cache/pysavedmodel/<name>``, or ``$PYSAVEDMODEL_CACHE``)
and, on first use, creates it there itself with the same requirements (the ONNX venv,
pinned and named by a hash in scripts/venvs.py, is only found, not created).  This file
keeps only that small fallback (standard library); the stamped, cached set-up is
scripts/venvs.py's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("PYSAVEDMODEL_CACHE", Path.home() / ".cache" / "pysavedmodel"))
TF_VERSION = "2.21.0"
TORCH_VERSION = "2.13.0"


def _python(variable: str, venv: Path, requirements: list[str],
            no_deps: Sequence[str] = ()) -> Path:
    """The python named by ``variable``; else ``venv``'s, created with ``requirements``
    (then ``no_deps`` without their dependencies) if it does not exist yet."""
    value = os.environ.get(variable)
    if value:
        return Path(value)
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"[tests] {variable} is not set and {venv} does not exist: creating it "
              f"({' '.join(requirements)})", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", *requirements], check=True)
        if no_deps:
            subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps",
                            "--disable-pip-version-check", *no_deps], check=True)
    return python


def tf_python() -> Path:
    """The TensorFlow 2.21 venv's python (tensorflow-cpu, pytest, crc32c)."""
    venv = Path(os.environ.get("PYSAVEDMODEL_TF_VENV", CACHE / "tf-2.21"))
    return _python("PYSAVEDMODEL_TF_PYTHON", venv,
                   [f"tensorflow-cpu=={TF_VERSION}", "crc32c", "pytest"],
                   no_deps=[f"tensorflow-serving-api=={TF_VERSION}"])


def torch_python() -> Path:
    """The torch 2.13 (CPU) venv's python."""
    venv = Path(os.environ.get("PYSAVEDMODEL_TORCH_VENV", CACHE / f"torch-{TORCH_VERSION}"))
    return _python("PYSAVEDMODEL_TORCH_PYTHON", venv,
                   [f"torch=={TORCH_VERSION}", "numpy", "ml_dtypes", "protobuf", "crc32c",
                    "safetensors"])


def onnx_python() -> Path:
    """The ONNX venv's python (torch, onnx, onnxruntime, transformers, jax2onnx).

    Its pinned requirements live in scripts/venvs.py (which names the venv by their hash),
    so without ``PYSAVEDMODEL_ONNX_PYTHON`` this takes ``$PYSAVEDMODEL_ONNX_VENV`` or the
    one ``onnx-<key>`` venv in the cache, and does not create it."""
    value = os.environ.get("PYSAVEDMODEL_ONNX_PYTHON")
    if value:
        return Path(value)
    if os.environ.get("PYSAVEDMODEL_ONNX_VENV"):
        found = [Path(os.environ["PYSAVEDMODEL_ONNX_VENV"]) / "bin" / "python"]
    else:
        found = sorted(p for p in CACHE.glob("onnx-*/bin/python")
                       if re.fullmatch(r"onnx-[0-9a-f]{12}", p.parents[1].name))
    if len(found) == 1 and found[0].exists():
        return found[0]
    raise RuntimeError(
        f"PYSAVEDMODEL_ONNX_PYTHON is not set and {CACHE} holds "
        f"{len(found)} ONNX venvs: run `python3 scripts/run_tests.py [pytest args]`, "
        "which creates the one scripts/venvs.py pins and sets it")


def ort_python() -> Path:
    """The python the ONNX converter tests take onnxruntime references from (the ONNX
    venv's)."""
    return Path(os.environ.get("PYSAVEDMODEL_ORT_PYTHON") or onnx_python())


def protobuf_python(version: str) -> Path:
    """The venv with only numpy, ml_dtypes and ``protobuf==version``."""
    return _python(f"PYSAVEDMODEL_PROTOBUF_{version.replace('.', '_')}_PYTHON",
                   CACHE / f"protobuf-{version}",
                   ["numpy", "ml_dtypes", f"protobuf=={version}"])
