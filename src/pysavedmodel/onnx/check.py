"""Checking an ONNX model before conversion.

Our own structural checks come first because they name the node at fault: opset imports and
node domains, duplicate value or node names, cycles, values used before they are defined.
Then ``onnx.checker`` (schema conformance) and ``onnx.shape_inference`` in strict mode
(dtype and shape mismatches between producers and consumers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ModelError, UnsupportedError
from .load import check_copy, import_onnx

__all__ = ["check_model", "default_opset", "MIN_OPSET"]

MIN_OPSET = 7
"""Oldest default-domain opset accepted (what the op handlers are written against)."""


def default_opset(model: Any) -> int:
    """The model's ``ai.onnx`` opset version (unsupported domains and versions refused)."""
    onnx = import_onnx()
    newest = int(onnx.defs.onnx_opset_version())
    version = None
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            version = int(entry.version)
    if version is None:
        raise ModelError("ONNX model imports no default-domain (ai.onnx) opset")
    if not MIN_OPSET <= version <= newest:
        raise UnsupportedError(f"ONNX opset {version} is not supported: expected "
                               f"{MIN_OPSET}..{newest}")
    return version


def _texts(graph: Any) -> None:
    """ONNX's proto2 strings are not UTF-8-checked when parsed: a damaged name comes back as
    ``bytes``.  Refuse those, naming where."""
    values = [*graph.input, *graph.output, *graph.value_info, *graph.initializer]
    for value in values:
        if not isinstance(value.name, str):
            raise ModelError(f"value name {value.name!r} is not valid UTF-8")
    for index, node in enumerate(graph.node):
        for field in (node.name, node.op_type, node.domain, *node.input, *node.output,
                      *(a.name for a in node.attribute)):
            if not isinstance(field, str):
                raise ModelError(f"node #{index}: name {field!r} is not valid UTF-8")


def _graph_structure(graph: Any) -> None:
    _texts(graph)
    defined: dict[str, str] = {}
    for value in graph.input:
        if value.name in defined:
            raise ModelError(f"graph input {value.name!r} is declared twice")
        defined[value.name] = "graph input"
    for init in graph.initializer:
        if init.name in defined and defined[init.name] != "graph input":
            raise ModelError(f"initializer {init.name!r} is declared twice")
        defined[init.name] = "initializer"
    producer: dict[str, int] = {}
    node_names: set[str] = set()
    for index, node in enumerate(graph.node):
        label = node.name or f"#{index}"
        if node.name:
            if node.name in node_names:
                raise ModelError(f"node {label!r} ({node.op_type}): duplicate node name")
            node_names.add(node.name)
        for out in node.output:
            if not out:
                continue
            if out in defined or out in producer:
                raise ModelError(f"node {label!r} ({node.op_type}): output {out!r} is already "
                                 f"defined (duplicate value name)")
            producer[out] = index
    for index, node in enumerate(graph.node):
        label = node.name or f"#{index}"
        for name in node.input:
            if not name or name in defined:
                continue
            if name not in producer:
                raise ModelError(f"node {label!r} ({node.op_type}): input {name!r} is not "
                                 "defined by any input, initializer or node")
            if producer[name] >= index:
                if _reaches(graph, producer[name], index, producer):
                    raise ModelError(f"node {label!r} ({node.op_type}): the graph is cyclic "
                                     f"(input {name!r} depends on this node's own output)")
                raise ModelError(f"node {label!r} ({node.op_type}): input {name!r} is used "
                                 "before it is defined (nodes must be topologically sorted)")
    for value in graph.output:
        if value.name not in defined and value.name not in producer:
            raise ModelError(f"graph output {value.name!r} is not produced by any node")


def _reaches(graph: Any, start: int, target: int, producer: dict[str, int]) -> bool:
    """Whether node ``start`` depends (through its inputs) on node ``target``."""
    seen: set[int] = set()
    stack = [start]
    while stack:
        index = stack.pop()
        if index == target:
            return True
        if index in seen:
            continue
        seen.add(index)
        stack.extend(producer[n] for n in graph.node[index].input if n in producer)
    return False


def check_model(model: Any, path: Path | None = None) -> int:
    """Check ``model``; return its default-domain opset. Raises ModelError/UnsupportedError.

    ``path``: the file it was loaded from (unused: external data was vetted by ``load``).
    """
    onnx = import_onnx()
    opset = default_opset(model)
    _graph_structure(model.graph)
    for index, node in enumerate(model.graph.node):
        if node.domain not in ("", "ai.onnx"):
            raise UnsupportedError(f"node {node.name or '#' + str(index)!r} ({node.op_type}): "
                                   f"domain {node.domain!r} is not supported (only ai.onnx)")
    # Externally stored initializers (vetted and memory-mapped by load) are checked as typed
    # graph inputs: neither the checker nor shape inference needs their bytes.
    light = check_copy(model)
    try:
        onnx.checker.check_model(light)
    except Exception as exc:
        raise ModelError(f"ONNX checker: {_first_line(exc)}") from None
    try:
        onnx.shape_inference.infer_shapes(light, check_type=True, strict_mode=True,
                                          data_prop=True)
    except Exception as exc:
        raise ModelError(f"ONNX shape inference: {_first_line(exc)}") from None
    return opset


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return " ".join(text.split("\n")[:3])[:600]
