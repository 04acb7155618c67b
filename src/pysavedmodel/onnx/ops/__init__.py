"""ONNX op handlers, one module per op family; importing this package registers them all."""

from __future__ import annotations

from . import control, elementwise, indexing, math, nn, recurrent, tensor
from .registry import HANDLERS, TF_OPS

__all__ = ["HANDLERS", "TF_OPS", "control", "elementwise", "indexing", "math", "nn", "recurrent",
           "tensor"]
