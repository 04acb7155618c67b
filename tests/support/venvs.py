"""The test virtualenvs' pythons, as scripts/run_tests.py hands them over.

scripts/venvs.py creates and caches the venvs (TensorFlow, torch, the protobuf range)
and scripts/run_tests.py passes each one's python to pytest as
``PYSAVEDMODEL_<NAME>_PYTHON``; tests read them here and never import scripts/.
Run the tests through ``python3 scripts/run_tests.py [pytest args]`` (targeted runs
too) so that the venvs exist.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _python(variable: str) -> Path:
    value = os.environ.get(variable)
    if not value:
        raise RuntimeError(
            f"{variable} is not set: run the tests through `python3 scripts/run_tests.py "
            f"[pytest args]`, which creates the test venvs and sets it")
    return Path(value)


def tf_python() -> Path:
    """The TensorFlow 2.21 venv's python (tensorflow-cpu, pytest, crc32c)."""
    return _python("PYSAVEDMODEL_TF_PYTHON")


def torch_python() -> Path:
    """The torch 2.13 (CPU) venv's python."""
    return _python("PYSAVEDMODEL_TORCH_PYTHON")


def onnx_python() -> Path:
    """The ONNX venv's python (torch, onnx, onnxruntime, transformers, jax2onnx)."""
    return _python("PYSAVEDMODEL_ONNX_PYTHON")


def ort_python() -> Path:
    """The python the ONNX converter tests take onnxruntime references from (the ONNX
    venv's)."""
    return _python("PYSAVEDMODEL_ORT_PYTHON")


def protobuf_python(version: str) -> Path:
    """The venv with only numpy, ml_dtypes and ``protobuf==version``."""
    return _python(f"PYSAVEDMODEL_PROTOBUF_{version.replace('.', '_')}_PYTHON")
