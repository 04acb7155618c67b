"""Virtualenvs the tests need, created on first use and cached.

* the core venv (``.venv`` in the checkout): the project with its test extras
  (pyproject's ``[test]``: pinned ``moto[server]``, ``s3fs`` and ``fsspec`` for the
  S3 server tests/test_remote.py starts, dask, onnx...), and no TensorFlow;
* the TensorFlow venv (``~/.cache/pysavedmodel/tf-2.21``, or
  ``$PYSAVEDMODEL_TF_VENV``): tensorflow-cpu 2.21.0, used only through
  subprocesses by the interop tests;
* the ONNX venv (``~/.cache/pysavedmodel/onnx-<key>``): torch, onnx, onnxruntime,
  transformers, jax2onnx; also serves as the torch venv;
* protobuf venvs (``~/.cache/pysavedmodel/protobuf-X``): the ends of the
  protobuf range the generated code supports.

Standard library only: scripts/run_tests.py imports this before any venv exists.
The tests never create venvs themselves: run_tests.py hands each venv's python to
pytest in an environment variable (:func:`environment`), which tests/support reads.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("PYSAVEDMODEL_CACHE", Path.home() / ".cache" / "pysavedmodel"))
TF_VERSION = "2.21.0"
HUB_REQUIREMENT = "tensorflow-hub==0.16.1"


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _ensure(venv: Path, requirements: list[str], stamp_extra: str = "",
            no_deps: Sequence[str] = ()) -> Path:
    """Create ``venv`` with ``requirements`` unless a matching stamp says it is there.

    ``no_deps`` are installed afterwards without their dependencies (a package whose
    declared requirements would pull in a second copy of something already there).
    """
    stamp = venv / ".pysavedmodel-stamp"
    want = hashlib.sha256(("\n".join([*requirements, *no_deps]) + stamp_extra)
                          .encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == want and _python(venv).exists():
        return _python(venv)
    print(f"[venvs] setting up {venv} ({' '.join(requirements)})", file=sys.stderr, flush=True)
    if not _python(venv).exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(_python(venv)), "-m", "pip", "install", "-q",
                    "--disable-pip-version-check", *requirements], check=True)
    if no_deps:
        subprocess.run([str(_python(venv)), "-m", "pip", "install", "-q", "--no-deps",
                        "--disable-pip-version-check", *no_deps], check=True)
    stamp.write_text(want)
    return _python(venv)


def core_python() -> Path:
    """The core venv's python: the project (editable) plus test extras, no TensorFlow."""
    pyproject = (ROOT / "pyproject.toml").read_bytes()
    return _ensure(ROOT / ".venv", ["-e", f"{ROOT}[test]"],
                   stamp_extra=hashlib.sha256(pyproject).hexdigest())


def tf_python() -> Path:
    """The TensorFlow venv's python (tensorflow-cpu, pytest, crc32c, and TF Serving's
    request protos: tensorflow-serving-api without its dependencies, which name the
    full ``tensorflow`` package that tensorflow-cpu already provides; likewise
    tensorflow-hub and the tf-keras it needs beside Keras 3, for ``hub.KerasLayer``)."""
    venv = Path(os.environ.get("PYSAVEDMODEL_TF_VENV", CACHE / "tf-2.21"))
    return _ensure(venv, [f"tensorflow-cpu=={TF_VERSION}", "crc32c", "pytest"],
                   no_deps=[f"tensorflow-serving-api=={TF_VERSION}", HUB_REQUIREMENT,
                            f"tf-keras=={TF_VERSION}"])


def protobuf_python(version: str) -> Path:
    """A venv with only numpy, ml_dtypes and protobuf==version (no crc32c: the fallback path)."""
    return _ensure(CACHE / f"protobuf-{version}",
                   ["numpy", "ml_dtypes", f"protobuf=={version}"])


TORCH_VERSION = "2.13.0"


def torch_python() -> Path:
    """A venv with torch (CPU build; this machine kind keeps its wheel on disk), numpy,
    ml_dtypes, protobuf and crc32c: runs pysavedmodel (from src/) where torch is installed.

    The ONNX venv (:func:`onnx_python`) holds all of that, so it is reused and a fresh
    machine installs torch once; ``$PYSAVEDMODEL_TORCH_VENV`` still selects a separate one.
    """
    if "PYSAVEDMODEL_TORCH_VENV" in os.environ:
        return _ensure(Path(os.environ["PYSAVEDMODEL_TORCH_VENV"]),
                       [f"torch=={TORCH_VERSION}", "numpy", "ml_dtypes", "protobuf",
                        "crc32c", "safetensors"])
    return onnx_python()


ONNX_REQUIREMENTS = [
    f"torch=={TORCH_VERSION}", "onnx==1.23.2", "onnxruntime==1.32.0", "onnxscript==0.7.2",
    "onnx-ir==1.1.0", "transformers==5.25.0", "numpy==2.4.6", "safetensors==0.8.0",
    "jax==0.10.2", "jaxlib==0.10.2", "flax==0.12.8", "jax2onnx==0.17.1",
    "crc32c", "protobuf==7.36.2", "ml_dtypes==0.7.0"]
"""The ONNX test venv: a set verified to install together (torch's CPU wheel is on disk)."""


def onnx_key() -> str:
    """Short hash of :data:`ONNX_REQUIREMENTS`: names the venv and keys the corpus cache."""
    return hashlib.sha256("\n".join(ONNX_REQUIREMENTS).encode()).hexdigest()[:12]


def onnx_python() -> Path:
    """The ONNX venv's python (``~/.cache/pysavedmodel/onnx-<key>``, or
    ``$PYSAVEDMODEL_ONNX_VENV``): torch, onnx, onnxruntime, onnxscript, transformers,
    jax/flax/jax2onnx, plus what pysavedmodel from src/ needs.
    ``$PYSAVEDMODEL_ONNX_PYTHON`` names a ready python instead."""
    if os.environ.get("PYSAVEDMODEL_ONNX_PYTHON"):
        return Path(os.environ["PYSAVEDMODEL_ONNX_PYTHON"])
    venv = Path(os.environ.get("PYSAVEDMODEL_ONNX_VENV", CACHE / f"onnx-{onnx_key()}"))
    return _ensure(venv, ONNX_REQUIREMENTS)


PROTOBUF_VERSIONS = ("3.20.3", "4.21.1")
"""The oldest protobuf the generated code supports and the first upb release."""


def environment() -> dict[str, str]:
    """Every test venv, created if needed, as ``PYSAVEDMODEL_<NAME>_PYTHON`` variables."""
    env = {
        "PYSAVEDMODEL_TF_PYTHON": str(tf_python()),
        "PYSAVEDMODEL_TORCH_PYTHON": str(torch_python()),
        "PYSAVEDMODEL_ONNX_PYTHON": str(onnx_python()),
        "PYSAVEDMODEL_ONNX_KEY": onnx_key(),
        # The converter's onnxruntime references run in the same venv.
        "PYSAVEDMODEL_ORT_PYTHON": str(onnx_python()),
    }
    for version in PROTOBUF_VERSIONS:
        env[protobuf_variable(version)] = str(protobuf_python(version))
    return env


def protobuf_variable(version: str) -> str:
    """``PYSAVEDMODEL_PROTOBUF_3_20_3_PYTHON`` for ``3.20.3``."""
    return f"PYSAVEDMODEL_PROTOBUF_{version.replace('.', '_')}_PYTHON"
