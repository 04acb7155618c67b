"""Builders for small ONNX test models (onnx.helper), shared by the converter's op tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

RNG = np.random.default_rng(1234)


def rand(*shape: int, dtype: Any = np.float32, low: float = -2, high: float = 2) -> Any:
    return RNG.uniform(low, high, shape).astype(dtype)


def model(nodes: list[Any], inputs: dict[str, Any], outputs: list[str], *,
          inits: dict[str, Any] | None = None, opset: int = 17,
          input_shapes: dict[str, list[Any]] | None = None) -> Any:
    """A model whose inputs are typed from example arrays (``input_shapes`` overrides dims,
    e.g. symbolic names) and whose outputs take the inferred types."""
    ins = []
    for name, array in inputs.items():
        shape = (input_shapes or {}).get(name, list(array.shape))
        ins.append(helper.make_tensor_value_info(
            name, helper.np_dtype_to_tensor_dtype(array.dtype), shape))
    outs = [helper.make_tensor_value_info(o, 0, None) for o in outputs]
    graph = helper.make_graph(nodes, "case", ins, outs,
                              [numpy_helper.from_array(np.asarray(v), k)
                               for k, v in (inits or {}).items()])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=True)
    known = {v.name: v for v in [*inferred.graph.value_info, *inferred.graph.output]}
    for out in proto.graph.output:
        out.type.CopyFrom(known[out.name].type)
    onnx.checker.check_model(proto)
    return proto


def node(op: str, inputs: list[str], outputs: list[str], **attrs: Any) -> Any:
    return helper.make_node(op, inputs, outputs, name=f"{op}_{'_'.join(outputs)}", **attrs)
