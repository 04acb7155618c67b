"""ONNX → SavedModel conversion, without TensorFlow (needs the ``onnx`` extra).

``from_onnx(model, export_dir)`` writes a SavedModel whose ``serving_default`` signature takes
and returns the ONNX graph's inputs and outputs by name.  Modules: ``load`` (parsing, safe lazy
external data), ``check`` (structural + onnx checker + strict shape inference), ``ir`` and
``context`` (values and layouts), ``ops`` (one handler module per op family), ``convert`` (the
driver).  The ``onnx`` package is imported only when a conversion runs.
"""

from __future__ import annotations

from .convert import SMALL_INITIALIZER, from_onnx, unsupported_ops

__all__ = ["from_onnx", "unsupported_ops", "SMALL_INITIALIZER"]
