"""Whole-graph checks run before a GraphDef leaves the library.

Every message names the node and the attr or input at fault and says what
was expected.  :func:`validate_nodes` returns a topological order (inputs
before their consumers), which the importer uses for shape inference.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence

from .._proto import node_def_pb2, op_def_pb2, tensor_pb2
from ..errors import GraphError, OpError
from ..names import NODE_NAME, parse_input
from . import attrs as _attrs
from .inference import base_enum
from .op_registry import attr_defs, check_available, get_op_def
from .opsig import arg_dtypes, dtype_row, output_dtypes

__all__ = ["validate_nodes", "dependency_order", "check_node_attrs", "check_const"]


def _where(node: node_def_pb2.NodeDef) -> str:
    return f"node {node.name!r} ({node.op})"


def check_node_attrs(node: node_def_pb2.NodeDef, op_def: op_def_pb2.OpDef) -> None:
    """Attrs known to the op (or ``_``-prefixed), required ones present, values fit."""
    where = _where(node)
    declared = attr_defs(op_def)
    for key in node.attr:
        if key not in declared and not key.startswith("_"):
            raise OpError(f"{where} has attr {key!r}, which {node.op} does not declare; its "
                          f"attrs are: {', '.join(sorted(declared)) or 'none'}")
    for name, attr_def in declared.items():
        if name not in node.attr:
            raise OpError(f"{where} lacks required attr {name!r} ({attr_def.type})")
        _attrs.check_attr_value(node.attr[name], attr_def, where)
    if node.op == "Const":
        check_const(node)
    for key, value in node.attr.items():
        _attrs.check_no_function(value, f"{where} attr {key!r}")


_CHECKED_TENSORS: dict[bytes, None] = {}
"""Serialized small tensors that passed :func:`check_const` (a model repeats the same
scalars and shapes thousands of times; decoding each again is the check's main cost)."""
_CHECKED_TENSOR_MAX_BYTES = 256
_CHECKED_TENSORS_MAX = 4096


def check_const(node: node_def_pb2.NodeDef) -> None:
    """A Const's value must match its dtype and hold a fully defined tensor."""
    tensor = node.attr["value"].tensor
    if tensor.dtype != node.attr["dtype"].type:
        raise OpError(f"{_where(node)} attr 'value' holds a {_attrs.type_name(tensor.dtype)} "
                      f"tensor but attr 'dtype' is {_attrs.type_name(node.attr['dtype'].type)}")
    key = None
    if tensor.ByteSize() <= _CHECKED_TENSOR_MAX_BYTES:
        key = tensor.SerializeToString(deterministic=True)
        if key in _CHECKED_TENSORS:
            return
    _check_tensor(tensor, _where(node))
    if key is not None:
        if len(_CHECKED_TENSORS) >= _CHECKED_TENSORS_MAX:
            _CHECKED_TENSORS.clear()
        _CHECKED_TENSORS[key] = None


def _check_tensor(tensor: tensor_pb2.TensorProto, where: str) -> None:
    shape = _attrs.shape_from_proto(tensor.tensor_shape)
    if shape is None or any(dim is None for dim in shape):
        raise OpError(f"{where} attr 'value' has shape {shape}; a constant needs a fully "
                      f"defined shape")
    row = dtype_row(tensor.dtype)
    count = 1
    for dim in shape:
        count *= dim  # type: ignore[operator]
    if tensor.tensor_content and row is not None and row.numpy is not None:
        # Checked by size: decoding a large constant just to validate it would be wasteful.
        if len(tensor.tensor_content) != count * row.numpy.itemsize:
            raise OpError(f"{where} attr 'value' has {len(tensor.tensor_content)} bytes of "
                          f"tensor_content; shape {list(shape)} of {row.name} needs "
                          f"{count * row.numpy.itemsize}")
        return
    try:
        _attrs.tensor_proto_to_numpy(tensor, expand=False)
    except Exception as exc:  # too many values, unknown dtype and the like
        raise OpError(f"{where} attr 'value' is not a valid tensor: {exc}") from None


def _nodes_by_name(nodes: Sequence[node_def_pb2.NodeDef]) -> dict[str, node_def_pb2.NodeDef]:
    """Names valid and unique; every input names a node of the list."""
    by_name: dict[str, node_def_pb2.NodeDef] = {}
    for node in nodes:
        if not NODE_NAME.match(node.name):
            raise GraphError(f"invalid node name {node.name!r} (op {node.op}): TensorFlow node "
                             f"names match [A-Za-z0-9.][A-Za-z0-9_.\\-/>]*")
        if node.name in by_name:
            raise GraphError(f"duplicate node name {node.name!r}")
        by_name[node.name] = node
    for node in nodes:
        for text in node.input:
            source, _, control = parse_input(text)
            if source not in by_name:
                kind = "control input" if control else "input"
                raise GraphError(f"{_where(node)} {kind} {text!r} names no node of the graph")
    return by_name


def dependency_order(nodes: Sequence[node_def_pb2.NodeDef]) -> list[str]:
    """Node names, inputs before their consumers (GraphError: bad names, dangling inputs, cycles).

    Only the graph's structure is checked, not ops or attrs: the importer needs
    this order to infer attrs from input dtypes before the full validation.
    """
    _nodes_by_name(nodes)
    return _topological_order(nodes)


def validate_nodes(nodes: Sequence[node_def_pb2.NodeDef], *,
                   trusted: Mapping[str, list[int | None]] | None = None) -> list[str]:
    """Check a list of NodeDefs as one graph; return node names in topological order.

    ``trusted`` maps the names of nodes known to pass every check (as long as
    their inputs' nodes are trusted too) to their output dtypes: their own op
    and attrs are not checked again, nor their inputs unless an input's node
    is untrusted.  Names, edges and cycles are always checked over all nodes.
    """
    by_name = _nodes_by_name(nodes)
    if trusted is None:
        trusted = {}

    outputs: dict[str, list[int | None]] = {}
    op_defs: dict[str, op_def_pb2.OpDef] = {}
    for node in nodes:
        if node.name in trusted:
            outputs[node.name] = trusted[node.name]
            continue
        try:
            op_def = get_op_def(node.op)
            check_available(op_def)
        except OpError as exc:
            raise OpError(f"node {node.name!r}: {exc}") from None
        check_node_attrs(node, op_def)
        op_defs[node.name] = op_def
        outputs[node.name] = output_dtypes(op_def, node)

    for node in nodes:
        if node.name in trusted:
            if all(parse_input(text)[0] in trusted for text in node.input):
                continue
            op_defs[node.name] = get_op_def(node.op)
        _check_inputs(node, op_defs[node.name], by_name, outputs)
    return _topological_order(nodes)


def _check_inputs(node: node_def_pb2.NodeDef, op_def: op_def_pb2.OpDef,
                  by_name: dict[str, node_def_pb2.NodeDef],
                  outputs: dict[str, list[int | None]]) -> None:
    where = _where(node)
    expected: list[tuple[str, int | None]] = []
    for arg in op_def.input_arg:
        expected.extend((arg.name, enum) for enum in arg_dtypes(arg, node))
    data: list[str] = []
    seen_control = False
    for text in node.input:
        source, index, control = parse_input(text)
        if control:
            seen_control = True
            continue
        if seen_control:
            raise GraphError(f"{where} data input {text!r} comes after a control input; "
                             f"control inputs ('^name') must come last")
        available = len(outputs[source])
        if index >= available:
            raise GraphError(f"{where} input {text!r}: node {source!r} "
                             f"({by_name[source].op}) has {available} output(s)")
        data.append(text)
    if len(data) != len(expected):
        names = ", ".join(name for name, _ in expected) or "none"
        raise OpError(f"{where} has {len(data)} data input(s); its op and attrs expect "
                      f"{len(expected)} ({names})")
    for text, (arg_name, want) in zip(data, expected):
        source, index, _ = parse_input(text)
        got = outputs[source][index]
        if want is not None and got is not None and base_enum(want) != base_enum(got):
            raise OpError(f"{where} input {arg_name!r} ({text!r}) is "
                          f"{_attrs.type_name(got)}; expected {_attrs.type_name(want)}")


def _topological_order(nodes: Sequence[node_def_pb2.NodeDef]) -> list[str]:
    consumers: dict[str, list[str]] = {node.name: [] for node in nodes}
    pending: dict[str, int] = {}
    for node in nodes:
        sources = {parse_input(text)[0] for text in node.input}
        pending[node.name] = len(sources)
        for source in sources:
            consumers[source].append(node.name)
    ready = deque(node.name for node in nodes if pending[node.name] == 0)
    order: list[str] = []
    while ready:
        name = ready.popleft()
        order.append(name)
        for consumer in consumers[name]:
            pending[consumer] -= 1
            if pending[consumer] == 0:
                ready.append(consumer)
    if len(order) != len(nodes):
        stuck = {name for name, count in pending.items() if count > 0}
        raise GraphError(f"the graph has a cycle: {' -> '.join(_find_cycle(nodes, stuck))}")
    return order


def _find_cycle(nodes: Sequence[node_def_pb2.NodeDef], stuck: set[str]) -> list[str]:
    inputs = {node.name: [parse_input(t)[0] for t in node.input] for node in nodes}
    start = min(stuck)
    path: list[str] = [start]
    seen = {start: 0}
    current = start
    while True:
        nxt = next((s for s in inputs[current] if s in stuck), None)
        if nxt is None:  # cannot happen for a node kept back by a cycle
            return sorted(stuck)
        if nxt in seen:
            cycle = path[seen[nxt]:] + [nxt]
            return cycle[::-1]
        seen[nxt] = len(path)
        path.append(nxt)
        current = nxt
