"""pysavedmodel: write TensorFlow SavedModels and checkpoints without TensorFlow.

Public API (imported lazily, so ``import pysavedmodel`` stays cheap):

* checkpoints: :func:`write_checkpoint`, :func:`read_checkpoint`,
  :class:`CheckpointReader`, :class:`CheckpointWriter`;
* graphs: :class:`Graph`, :class:`Function` (a function library entry);
* SavedModels: :class:`SavedModelBuilder`, :func:`predict_signature_def`,
  :func:`classification_signature_def`, :func:`regression_signature_def`,
  :func:`build_signature_def`;
* ONNX conversion: :func:`from_onnx` (needs the ``onnx`` extra);
* errors: :class:`Error` and its subclasses (``pysavedmodel.errors``).
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import (
    AlreadyExistsError,
    BuilderStateError,
    ChecksumError,
    CorruptCheckpointError,
    CorruptSavedModelError,
    Error,
    FormatError,
    GraphError,
    InvalidArgumentError,
    MissingDependencyError,
    ModelError,
    NotFoundError,
    OpError,
    SignatureError,
    StorageError,
    UnsupportedDTypeError,
    UnsupportedError,
)

__version__ = "0.1.0"

_LAZY = {
    "from_onnx": "pysavedmodel.onnx",
    "write_checkpoint": "pysavedmodel.format.bundle",
    "read_checkpoint": "pysavedmodel.format.bundle",
    "CheckpointReader": "pysavedmodel.format.bundle",
    "CheckpointWriter": "pysavedmodel.format.bundle",
    "write_shard": "pysavedmodel.format.distributed",
    "merge_shards": "pysavedmodel.format.distributed",
    "shard_prefix": "pysavedmodel.format.distributed",
    "write_checkpoint_distributed": "pysavedmodel.format.distributed",
    "Graph": "pysavedmodel.graph.graph",
    "Tensor": "pysavedmodel.graph.graph",
    "Function": "pysavedmodel.graph.function",
    "SavedModelBuilder": "pysavedmodel.builder.builder",
    "predict_signature_def": "pysavedmodel.builder.signatures",
    "classification_signature_def": "pysavedmodel.builder.signatures",
    "regression_signature_def": "pysavedmodel.builder.signatures",
    "build_signature_def": "pysavedmodel.builder.signatures",
    "read_saved_model": "pysavedmodel.savedmodel.loader",
    "describe_saved_model": "pysavedmodel.savedmodel.describe",
    "validate_saved_model": "pysavedmodel.savedmodel.validate",
    "Finding": "pysavedmodel.savedmodel.validate",
    "build_from_spec": "pysavedmodel.spec",
    "load_weights": "pysavedmodel.weights",
    "save_weights": "pysavedmodel.weights",
    "convert_weights": "pysavedmodel.weights",
}

__all__ = [
    "AlreadyExistsError", "BuilderStateError", "ChecksumError", "CorruptCheckpointError",
    "CorruptSavedModelError", "Error", "FormatError", "GraphError", "InvalidArgumentError",
    "MissingDependencyError", "ModelError", "NotFoundError", "OpError",
    "SignatureError", "StorageError", "UnsupportedDTypeError", "UnsupportedError",
    "__version__", *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pysavedmodel' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
