"""``Graph.from_dict``: a Graph from NodeDef-shaped dicts, a GraphDef, or its bytes."""

from __future__ import annotations

import copy
from typing import Any, Mapping

from ..errors import GraphError, InvalidArgumentError, OpError
from .._proto import attr_value_pb2, graph_pb2, node_def_pb2, tensor_pb2
from . import attrs as _attrs
from .graph import Graph
from .op_registry import get_op_def
from .validate import validate_nodes

__all__ = ["import_graph", "node_from_dict"]

_NODE_KEYS = frozenset({"name", "op", "input", "device", "attr"})
_GRAPH_KEYS = frozenset({"node", "versions", "library"})


def node_from_dict(spec: Mapping[str, Any]) -> node_def_pb2.NodeDef:
    """A NodeDef from a dict; attrs converted by the attr types the op declares."""
    if not isinstance(spec, Mapping):
        raise GraphError(f"a node must be a dict (name, op, input, device, attr), got {spec!r}")
    unknown = set(spec) - _NODE_KEYS
    name = spec.get("name")
    if unknown:
        raise GraphError(f"node {name!r} has unknown keys {sorted(unknown)}; expected "
                         f"{sorted(_NODE_KEYS)}")
    op_type = spec.get("op")
    if not isinstance(name, str) or not name:
        raise GraphError(f"node {spec!r} needs a 'name' string")
    if not isinstance(op_type, str) or not op_type:
        raise GraphError(f"node {name!r} needs an 'op' string")
    try:
        op_def = get_op_def(op_type)
    except OpError as exc:
        raise OpError(f"node {name!r}: {exc}") from None
    node = node_def_pb2.NodeDef(name=name, op=op_type)
    inputs = spec.get("input", [])
    if isinstance(inputs, str) or not all(isinstance(i, str) for i in inputs):
        raise GraphError(f"node {name!r}: 'input' must be a list of strings, got {inputs!r}")
    node.input.extend(inputs)
    device = spec.get("device")
    if device:
        node.device = device
    declared = {a.name: a for a in op_def.attr}
    attr_values = spec.get("attr") or {}
    if not isinstance(attr_values, Mapping):
        raise GraphError(f"node {name!r}: 'attr' must be a dict, got {attr_values!r}")
    where = f"node {name!r} ({op_type})"
    attr_values = dict(attr_values)
    if op_type == "Const" and "value" in attr_values and "dtype" in attr_values and not \
            isinstance(attr_values["value"], (attr_value_pb2.AttrValue, tensor_pb2.TensorProto)):
        # A plain value takes the Const's declared dtype ([1, 2] with dtype float32).
        try:
            attr_values["value"] = _attrs.make_tensor_proto(
                attr_values["value"], _attrs.make_attr_value(
                    attr_values["dtype"], "type", what=f"{where} attr 'dtype'").type)
        except InvalidArgumentError as exc:
            raise OpError(f"{where} attr 'value': {exc}") from None
    for key, value in attr_values.items():
        attr_def = declared.get(key)
        if attr_def is None and not key.startswith("_"):
            raise OpError(f"{where} has attr {key!r}, which {op_type} does not declare; its "
                          f"attrs are: {', '.join(sorted(declared)) or 'none'}")
        node.attr[key].CopyFrom(_attrs.make_attr_value(
            value, attr_def.type if attr_def else None, what=f"{where} attr {key!r}"))
    return node


def _fill_defaults(node: node_def_pb2.NodeDef) -> None:
    for attr_def in get_op_def(node.op).attr:
        if attr_def.name not in node.attr and attr_def.HasField("default_value"):
            node.attr[attr_def.name].CopyFrom(attr_def.default_value)


def _as_graph_def(source: Any) -> graph_pb2.GraphDef:
    if isinstance(source, (bytes, bytearray, memoryview)):
        try:
            return graph_pb2.GraphDef.FromString(bytes(source))
        except Exception as exc:
            raise GraphError(f"bytes are not a serialized GraphDef: {exc}") from None
    if isinstance(source, graph_pb2.GraphDef):
        return copy.deepcopy(source)
    return _as_graph_def(source.SerializeToString())


def import_graph(graph: Graph, source: Any) -> Graph:
    """Fill the empty ``graph`` from ``source`` (see :meth:`Graph.from_dict`); validate it."""
    if isinstance(source, Mapping):
        unknown = set(source) - _GRAPH_KEYS
        if unknown:
            raise GraphError(f"graph dict has unknown keys {sorted(unknown)}; expected 'node'")
        if source.get("library"):
            raise GraphError("function libraries are not supported (graph dict 'library')")
        nodes = source.get("node")
        if nodes is None or isinstance(nodes, (str, bytes, Mapping)):
            raise GraphError("graph dict needs 'node': a list of node dicts")
        node_defs = [node_from_dict(spec) for spec in nodes]
    elif isinstance(source, (bytes, bytearray, memoryview)) or hasattr(
            source, "SerializeToString"):
        graph_def = _as_graph_def(source)
        if graph_def.library.function or graph_def.library.gradient:
            raise GraphError("GraphDefs with a function library are not supported")
        node_defs = list(graph_def.node)
        for node in node_defs:
            try:
                get_op_def(node.op)
            except OpError as exc:
                raise OpError(f"node {node.name!r}: {exc}") from None
    else:
        raise GraphError(f"expected a graph dict, a GraphDef or its bytes, got "
                         f"{type(source).__name__}")
    for node in node_defs:
        _fill_defaults(node)
    order = validate_nodes(node_defs)
    for node in node_defs:
        graph._add_imported(node, get_op_def(node.op))
    graph._infer_all_shapes(order)
    return graph
