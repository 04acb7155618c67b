"""The converter's intermediate representation: ONNX nodes with decoded attributes, and values.

A value is one of

* :class:`Const`: a small array known at conversion time (scalars, shape vectors, axes,
  folded shape arithmetic) — emitted as a TF ``Const`` only when a TF op consumes it;
* :class:`Init`: a large initializer — becomes a trainable checkpoint variable when first
  consumed (op handlers may first re-lay it out, e.g. Conv weights OIHW → HWIO);
* :class:`Live`: a TF tensor, with the layout it is *stored* in: ``nhwc`` True means the TF
  tensor is the ONNX (channels-first) value transposed to channels-last.  Layout changes are
  materialised lazily, so NHWC chains never transpose back and forth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from ..errors import ModelError
from ..graph.graph import Tensor

__all__ = ["Node", "Const", "Init", "Live", "Value"]


@dataclass
class Node:
    """One ONNX node: ``op_type``, ``name`` (never empty), input/output names, attributes."""

    op_type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)

    def attr(self, key: str, default: Any = None) -> Any:
        """Attribute ``key`` (bytes decoded to str), or ``default``."""
        value = self.attrs.get(key, default)
        if not isinstance(value, bytes):
            return value
        try:
            return value.decode()
        except UnicodeDecodeError:
            raise ModelError(f"{self.where()}: attribute {key!r} ({value!r}) is not valid "
                             "UTF-8") from None

    def input(self, index: int) -> str:
        """Input name ``index``, ``""`` when absent (optional inputs)."""
        return self.inputs[index] if index < len(self.inputs) else ""

    def where(self) -> str:
        return f"node {self.name!r} ({self.op_type})"


@dataclass
class Const:
    array: np.ndarray[Any, Any]


@dataclass
class Init:
    name: str
    array: np.ndarray[Any, Any]


@dataclass
class Live:
    tensor: Tensor
    nhwc: bool = False


Value = Union[Const, Init, Live]
