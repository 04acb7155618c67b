"""The conversion context handed to every op handler: values by ONNX name, and the TF graph.

Handlers read inputs with :meth:`Context.tensor` (ONNX layout), :meth:`Context.nhwc`
(channels-last, for convolutions and pools), :meth:`Context.const` (a conversion-time array or
None) and write outputs with :meth:`Context.set`/:meth:`Context.set_const`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ModelError, UnsupportedError
from ..graph.graph import Graph, Tensor
from .ir import Const, Init, Live, Node, Value

__all__ = ["Context", "to_nhwc", "to_nchw"]


def to_nhwc(rank: int) -> list[int]:
    """Permutation taking channels-first (N, C, spatial...) to channels-last."""
    return [0, *range(2, rank), 1]


def to_nchw(rank: int) -> list[int]:
    """Permutation taking channels-last back to channels-first."""
    return [0, rank - 1, *range(1, rank - 1)]


class Context:
    """Values and graph of one conversion."""

    def __init__(self, graph: Graph, opset: int,
                 shapes: dict[str, list[int | None] | None],
                 dtypes: dict[str, np.dtype[Any]]) -> None:
        self.graph = graph
        self.opset = opset
        self.values: dict[str, Value] = {}
        self.shapes = shapes
        self.dtypes = dtypes
        self._const_cache: dict[str, Tensor] = {}
        self._layout_cache: dict[tuple[str, bool], Tensor] = {}
        self.run_node: Callable[[Context, Node], None] | None = None
        """Converts one node in a context (set by the driver; control-flow handlers use it
        for the nodes of ONNX subgraphs)."""
        self.function_names: set[str] = set()
        """Names of the library functions made so far (shared with sub-contexts)."""
        self.ranks: dict[str, int] = {}
        """Ranks the op handlers derived where neither ONNX nor TF shape inference knows."""
        self.node: Node | None = None

    # ----------------------------------------------------------------- reading
    def value(self, name: str) -> Value:
        try:
            return self.values[name]
        except KeyError:
            where = self.node.where() if self.node else "graph"
            raise ModelError(f"{where}: input {name!r} is not defined") from None

    def const(self, name: str) -> np.ndarray[Any, Any] | None:
        """The conversion-time value of ``name`` (small constants only), else None."""
        if not name:
            return None
        value = self.value(name)
        return value.array if isinstance(value, Const) else None

    def array(self, name: str) -> np.ndarray[Any, Any] | None:
        """A constant's or initializer's array (for weights a handler re-lays out), else None."""
        value = self.value(name)
        return value.array if isinstance(value, (Const, Init)) else None

    def init_name(self, name: str) -> str:
        """The variable name for initializer ``name`` (TF node names allow fewer characters)."""
        clean = "".join(c if c.isalnum() or c in "._-/" else "_" for c in name).strip("/")
        if not clean or not (clean[0].isalnum() or clean[0] == "."):
            clean = "v_" + clean
        return clean

    def variable(self, name: str, array: np.ndarray[Any, Any]) -> Tensor:
        return self.graph.variable(
            self.graph.unique_name(self.init_name(name), mark_as_used=False), array)

    def tensor(self, name: str) -> Tensor:
        """``name`` as a TF tensor in the ONNX layout."""
        value = self.value(name)
        if isinstance(value, Const):
            cached = self._const_cache.get(name)
            if cached is None:
                cached = self.graph.constant(value.array, name=self.init_name(name) + "_const")
                self._const_cache[name] = cached
            return cached
        if isinstance(value, Init):
            tensor = self.variable(value.name, value.array)
            self.values[name] = Live(tensor)
            return tensor
        if not value.nhwc:
            return value.tensor
        return self._relayout(name, value.tensor, nhwc=False)

    def nhwc(self, name: str) -> Tensor:
        """``name`` (rank >= 3, channels-first in ONNX) as a channels-last TF tensor."""
        value = self.value(name)
        if isinstance(value, Live) and value.nhwc:
            return value.tensor
        tensor = self.tensor(name)
        return self._relayout(name, tensor, nhwc=True)

    def is_nhwc(self, name: str) -> bool:
        value = self.values.get(name)
        return isinstance(value, Live) and value.nhwc

    def _relayout(self, name: str, tensor: Tensor, *, nhwc: bool) -> Tensor:
        key = (name, nhwc)
        cached = self._layout_cache.get(key)
        if cached is None:
            rank = self.rank(name)
            if rank is None:
                raise UnsupportedError(f"{self.where()}: the rank of {name!r} is unknown; "
                                       "a layout change needs it")
            perm = to_nhwc(rank) if nhwc else to_nchw(rank)
            cached = self.op("Transpose", [tensor, np.array(perm, np.int32)])
            self._layout_cache[key] = cached
        return cached

    def shape(self, name: str) -> list[int | None] | None:
        """The ONNX (channels-first) static shape of ``name``; None dims unknown; None rank."""
        value = self.values.get(name)
        if isinstance(value, (Const, Init)):
            return list(value.array.shape)
        known = self.shapes.get(name)
        if known is None and isinstance(value, Live):
            # ONNX shape inference gave up (e.g. after a data-dependent Reshape): use what
            # the TF graph's own shape inference knows of the tensor (at least its rank).
            tf_shape = value.tensor.shape
            if tf_shape is not None:
                dims = list(tf_shape)
                if value.nhwc:
                    dims = [dims[i] for i in to_nchw(len(dims))]
                return dims
        if known is None and name in self.ranks:
            return [None] * self.ranks[name]
        return known

    def rank(self, name: str) -> int | None:
        shape = self.shape(name)
        return None if shape is None else len(shape)

    def dtype(self, name: str) -> np.dtype[Any]:
        value = self.values.get(name)
        if isinstance(value, (Const, Init)):
            dt: np.dtype[Any] = value.array.dtype
            return dt
        if isinstance(value, Live) and value.tensor.dtype is not None:
            numpy = value.tensor.dtype.numpy
            if numpy is not None:
                dt = np.dtype(numpy)
                return dt
        if name in self.dtypes:
            return self.dtypes[name]
        raise UnsupportedError(f"{self.where()}: the dtype of {name!r} is unknown")

    # ----------------------------------------------------------------- writing
    def where(self) -> str:
        return self.node.where() if self.node else "graph"

    def op(self, op_type: str, inputs: Any = (), **attrs: Any) -> Tensor:
        """A TF op named after the ONNX node being converted."""
        base = self.node.name if self.node else op_type
        name = self.graph.unique_name(self.init_name(base) + "/" + op_type, mark_as_used=False)
        return self.graph.op(op_type, inputs, name=name, **attrs)

    def set(self, name: str, tensor: Any, *, nhwc: bool = False) -> None:
        if name:
            self.values[name] = Live(tensor, nhwc)

    def set_const(self, name: str, array: Any) -> None:
        if name:
            self.values[name] = Const(np.asarray(array))

    def fail(self, problem: str) -> UnsupportedError:
        return UnsupportedError(f"{self.where()}: {problem}")
