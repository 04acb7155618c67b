"""``Graph.from_dict``: a Graph from NodeDef-shaped dicts, a GraphDef, or its bytes.

Nodes may leave out the attrs :meth:`Graph.op` would infer (``T``, ``N``,
``Tidx``, ``list(type)`` attrs, a ``Const``'s ``dtype``...): they are inferred
from the input dtypes with the same rules (:mod:`.inference`), inputs first
whatever order the nodes are listed in, and defaults are filled.  Attrs that
are given are checked against the inputs.  GraphDefs written by TensorFlow
carry all their attrs, so for them this only fills stripped defaults.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping, Sequence, Sized
from typing import Any, NamedTuple

from .._proto import attr_value_pb2, graph_pb2, node_def_pb2, op_def_pb2, tensor_pb2
from ..errors import Error, GraphError, InvalidArgumentError, OpError
from ..names import utf8
from . import attrs as _attrs
from . import rules
from .inference import ArgInput, bind_input_attrs, complete_attrs, infer_output_only_attrs
from .op_registry import attr_defs, check_available, get_op_def
from .opsig import output_dtypes
from .validate import check_node_attrs, graph_structure

__all__ = ["prepare_import", "node_from_dict", "Prepared", "NodeInfo"]

AttrValue = attr_value_pb2.AttrValue

_NODE_KEYS = frozenset({"name", "op", "input", "device", "attr"})
_GRAPH_KEYS = frozenset({"node", "versions", "library"})


def _check_utf8(text: str, what: str) -> None:
    """NodeDef strings are UTF-8 (:func:`pysavedmodel.names.utf8`)."""
    utf8(text, what, GraphError)


def node_from_dict(spec: Mapping[str, Any]) -> node_def_pb2.NodeDef:
    """A NodeDef from a dict; attrs converted by the attr types the op declares."""
    if not isinstance(spec, Mapping):
        raise GraphError(f"a node must be a dict (name, op, input, device, attr), got {spec!r}")
    unknown = set(spec) - _NODE_KEYS
    name = spec.get("name")
    if unknown:
        raise GraphError(f"node {name!r} has unknown keys {sorted(unknown, key=repr)}; "
                         f"expected {sorted(_NODE_KEYS)}")
    op_type = spec.get("op")
    if not isinstance(name, str) or not name:
        raise GraphError(f"node {spec!r} needs a 'name' string")
    _check_utf8(name, f"node name {name!r}")
    if not isinstance(op_type, str) or not op_type:
        raise GraphError(f"node {name!r} needs an 'op' string")
    try:
        op_def = get_op_def(op_type)
    except OpError as exc:
        raise OpError(f"node {name!r}: {exc}") from None
    node = node_def_pb2.NodeDef(name=name, op=op_type)
    inputs = spec.get("input", [])
    if isinstance(inputs, (str, bytes)) or not isinstance(inputs, Iterable) or \
            not all(isinstance(i, str) for i in inputs):
        raise GraphError(f"node {name!r}: 'input' must be a list of strings, got {inputs!r}")
    for text in inputs:
        _check_utf8(text, f"node {name!r} input {text!r}")
    node.input.extend(inputs)
    device = spec.get("device")
    if device is not None:
        if not isinstance(device, str):
            raise GraphError(f"node {name!r}: 'device' must be a string, got {device!r}")
        _check_utf8(device, f"node {name!r} device {device!r}")
        node.device = device
    declared = attr_defs(op_def)
    attr_values = spec.get("attr")
    if attr_values is None:
        attr_values = {}
    if not isinstance(attr_values, Mapping):
        raise GraphError(f"node {name!r}: 'attr' must be a dict, got {attr_values!r}")
    for key in attr_values:
        if not isinstance(key, str) or not key:
            raise GraphError(f"node {name!r}: attr names must be non-empty strings, got "
                             f"{key!r}")
        _check_utf8(key, f"node {name!r} attr name {key!r}")
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


def _split_inputs(node: node_def_pb2.NodeDef, op_def: op_def_pb2.OpDef,
                  where: str) -> list[list[str]]:
    """The node's data inputs, one list per input arg of its op.

    The length of a list arg comes from its attr (``N``, a ``list(type)``)
    when given; one length left unknown is solved from the input count.
    """
    data = [text for text in node.input if not text.startswith("^")]
    lengths: list[int | None] = []
    unknown: dict[str, int] = {}  # length attr -> how many args it sizes
    for arg in op_def.input_arg:
        length_attr = arg.number_attr or arg.type_list_attr
        length: int | None = 1
        if length_attr:
            given = node.attr.get(length_attr)
            kind = given.WhichOneof("value") if given is not None else None
            if arg.number_attr and kind == "i":
                length = int(given.i)  # type: ignore[union-attr]
            elif arg.type_list_attr and kind == "list":
                length = len(given.list.type)  # type: ignore[union-attr]
            else:
                length = None
                unknown[length_attr] = unknown.get(length_attr, 0) + 1
        lengths.append(length)
    known = sum(n for n in lengths if n is not None)
    arg_names = ", ".join(arg.name for arg in op_def.input_arg) or "none"
    if len(unknown) > 1:
        raise OpError(f"{where} has {len(data)} data input(s) for args ({arg_names}); give "
                      f"attrs {', '.join(repr(a) for a in sorted(unknown))} to tell how they "
                      f"split")
    if unknown:
        ((length_attr, uses),) = unknown.items()
        rest = len(data) - known
        if rest < 0 or rest % uses:
            raise OpError(f"{where} has {len(data)} data input(s); its op expects {known} "
                          f"plus {uses} list(s) of equal length ({arg_names})")
        lengths = [rest // uses if n is None else n for n in lengths]
    elif known != len(data):
        expected = ", ".join(arg.name for arg, n in zip(op_def.input_arg, lengths)
                             for _ in range(n or 0)) or "none"
        raise OpError(f"{where} has {len(data)} data input(s); its op and attrs expect "
                      f"{known} ({expected})")
    out: list[list[str]] = []
    start = 0
    for n in lengths:
        out.append(data[start:start + (n or 0)])
        start += n or 0
    return out


def _complete_node(node: node_def_pb2.NodeDef, op_def: op_def_pb2.OpDef,
                   nodes: Mapping[str, node_def_pb2.NodeDef],
                   out_dtypes: Mapping[str, Sequence[int | None]],
                   data: Sequence[tuple[str, int]]) -> None:
    """Infer the attrs ``node`` lacks from its inputs (already completed), fill defaults.
    ``data``: its data inputs, parsed."""
    where = f"node {node.name!r} ({node.op})"
    arg_inputs: list[list[ArgInput]] = []
    position = 0
    for texts in _split_inputs(node, op_def, where):
        described = []
        for text in texts:
            source, index = data[position]
            position += 1
            produced = out_dtypes.get(source, [])
            source_def = nodes[source]
            handle = source_def.attr["dtype"].type if source_def.op == "VarHandleOp" \
                and "dtype" in source_def.attr else None
            described.append(ArgInput(text, produced[index] if index < len(produced) else None,
                                      source_def.op, handle))
        arg_inputs.append(described)
    values: dict[str, attr_value_pb2.AttrValue] = dict(node.attr.items())
    given = set(values)
    bind_input_attrs(op_def.input_arg, arg_inputs, values, {}, where)
    infer_output_only_attrs(op_def, arg_inputs, values)
    complete_attrs(op_def, values, where)
    attrs = node.attr
    for key, value in values.items():
        if key not in given:  # the inference only adds attrs, never replaces given ones
            attrs[key].CopyFrom(value)


_MEMO: dict[tuple[object, ...], tuple[op_def_pb2.OpDef, tuple[tuple[str, AttrValue], ...],
                                      tuple[int | None, ...]]] = {}
"""Imported nodes that passed completion and every check, by :func:`_memo_key`: the attrs
completion added and the output dtypes.  A model repeats a few kinds of node thousands of
times."""
_MEMO_MAX = 4096
_MEMO_KEY_BYTES = 1024
"""Nodes whose serialized attrs are longer (large constants) are not memoized."""

# Tag bytes of NodeDef's length-delimited fields 1 (name), 2 (op) and 3 (input).
_NAME_TAG, _OP_TAG, _INPUT_TAG = 0x0A, 0x12, 0x1A


_AVAILABLE: dict[str, op_def_pb2.OpDef] = {}
"""Registered ops available at our GraphDef version, by name."""


def _skip_field(data: bytes, pos: int) -> int:
    """The offset after the length-delimited field whose tag byte is at ``pos``."""
    pos += 1
    length = 0
    shift = 0
    while True:
        byte = data[pos]
        pos += 1
        length |= (byte & 0x7F) << shift
        if byte < 0x80:
            return pos + length
        shift += 7


def _memo_key(op_def: op_def_pb2.OpDef, node: node_def_pb2.NodeDef,
              inputs: tuple[tuple[int | None, int | None], ...]) -> tuple[object, ...] | None:
    """Everything completion and the checks of an imported node read, but its name and
    its inputs' names: op, each data input's (dtype, variable handle dtype), and the
    node's deterministic serialization without its ``name`` and ``input`` fields (op,
    device, every attr with its value, anything else it holds).  None for nodes not
    memoized (attrs longer than :data:`_MEMO_KEY_BYTES`).  Equal keys, equal results; a
    node whose checks fail is never remembered, and the importer takes no function
    library, so a node calling a function never is.

    The serialization lists fields by number (protobuf's deterministic encoding, map
    entries sorted by key): ``name`` (1), ``op`` (2), each ``input`` (3), then the rest,
    so cutting those fields out is a walk over their length prefixes."""
    data = node.SerializeToString(deterministic=True)
    size = len(data)
    pos = 0
    # A length below 128 is one byte: the common case skips without a call.
    if size > 1 and data[0] == _NAME_TAG:
        pos = 2 + data[1] if data[1] < 0x80 else _skip_field(data, 0)
    op_start = pos
    if pos + 1 < size and data[pos] == _OP_TAG:
        pos = pos + 2 + data[pos + 1] if data[pos + 1] < 0x80 else _skip_field(data, pos)
    op_end = pos
    while pos + 1 < size and data[pos] == _INPUT_TAG:
        pos = pos + 2 + data[pos + 1] if data[pos + 1] < 0x80 else _skip_field(data, pos)
    if size - pos > _MEMO_KEY_BYTES:
        return None
    return (op_def.name, inputs, data[op_start:op_end], data[pos:])


class NodeInfo(NamedTuple):
    """What the importer found out about one node."""

    op: str
    """Its op type."""
    op_def: op_def_pb2.OpDef
    """Its OpDef."""
    outputs: Sequence[int | None]
    """Its output dtypes."""
    data_inputs: list[tuple[str, int]]
    """Its data inputs as (node, output index)."""
    key: tuple[object, ...] | None
    """Its op, attrs and input dtypes as a key equal for equal nodes (None for some
    nodes): see ``_memo_key``."""


class Prepared(NamedTuple):
    """What :func:`prepare_import` hands the graph."""

    order: list[str]
    """Node names, inputs first."""
    by_name: dict[str, node_def_pb2.NodeDef]
    """The validated NodeDefs (the graph's own: copies) by name, in the source's order."""
    info: dict[str, NodeInfo]
    """Each node's :class:`NodeInfo`, by name (one record: a graph of 100,000 nodes
    looks each name up once, not once per property)."""


def _complete_and_check(node_defs: Sequence[node_def_pb2.NodeDef],
                        trusted: Mapping[str, Sequence[int | None]]) -> Prepared:
    """Infer every node's missing attrs (inputs before consumers: dicts may list nodes in
    any order), then check the whole list as one graph, as :func:`validate_nodes` would.

    A node equal to one completed before (:func:`_memo_key`: in an earlier import, which
    then passed every check, or earlier in this one) takes that node's result instead of
    being completed and checked again.  A node of ``trusted`` (name: output dtypes; the
    caller vouches that it is complete and passed every check) whose inputs all come from
    trusted nodes is taken as it is.  Should a check fail, every node is checked again
    in full, so that the error is the one the full checks report first.
    """
    by_name, parsed, order = graph_structure(node_defs)
    info: dict[str, NodeInfo] = {}
    # Small sets in the common case (most nodes repeat one completed before): nodes
    # completed here, whose attrs are checked, and nodes whose inputs are checked too.
    fresh: set[str] = set()
    unsettled: set[str] = set()
    var_handles: set[str] = set()
    # This import's nodes by key: (attrs completion added, output dtypes).
    local: dict[tuple[object, ...], tuple[list[tuple[str, AttrValue]],
                                          tuple[int | None, ...]]] = {}
    for name in order:
        node = by_name[name]
        op_type = node.op
        op_def = _AVAILABLE.get(op_type)
        if op_def is None:
            try:
                op_def = get_op_def(op_type)
                check_available(op_def)
            except OpError as exc:
                raise OpError(f"node {node.name!r}: {exc}") from None
            _AVAILABLE[op_type] = op_def
        if op_type == "VarHandleOp":
            var_handles.add(name)
        vouched = trusted.get(name)
        if vouched is not None and all(item[0] in trusted for item in parsed[name]):
            data = [(source, index) for source, index, control in parsed[name] if not control]
            info[name] = NodeInfo(op_type, op_def, tuple(vouched), data, None)
            continue
        data = []
        described = []
        placed = True  # data inputs before control inputs, each output exists
        seen_control = False
        for source, index, control in parsed[name]:
            if control:
                seen_control = True
                continue
            data.append((source, index))
            produced = info[source].outputs
            handle = None
            if source in var_handles:
                dtype = by_name[source].attr.get("dtype")
                handle = -1 if dtype is None else dtype.type
            if index < len(produced) and not seen_control:
                described.append((produced[index], handle))
            else:
                placed = False
                described.append((produced[index] if index < len(produced) else None, handle))
        key = _memo_key(op_def, node, tuple(described))
        if key is not None:
            added: Sequence[tuple[str, AttrValue]] | None = None
            dtypes: tuple[int | None, ...] = ()
            known = _MEMO.get(key)
            if known is not None and known[0] is op_def:
                added, dtypes = known[1], known[2]
            else:
                mine = local.get(key)
                if mine is not None:
                    added, dtypes = mine
            if added is not None:
                if added:
                    attrs = node.attr
                    for attr_name, value in added:
                        attrs[attr_name].CopyFrom(value)
                info[name] = NodeInfo(op_type, op_def, dtypes, data, key)
                if not placed:
                    unsettled.add(name)
                continue
            given = set(node.attr)
        fresh.add(name)
        unsettled.add(name)
        _complete_node(node, op_def, by_name, _Outputs(info), data)
        produced_here = tuple(output_dtypes(op_def, node))
        info[name] = NodeInfo(op_type, op_def, produced_here, data, key)
        if key is not None:
            local[key] = ([(attr_name, value) for attr_name, value in node.attr.items()
                           if attr_name not in given], produced_here)

    # The checks of validate_nodes, in its order: every node's attrs, then every node's
    # inputs (names, edges and cycles passed above).
    try:
        _check_nodes(by_name, info, fresh, unsettled)
    except Error:
        every = set(by_name)
        _check_nodes(by_name, info, every, every)
        raise

    for key, (added_here, dtypes_here) in local.items():
        if len(_MEMO) >= _MEMO_MAX:
            _MEMO.clear()
        kept = []
        for attr_name, value in added_here:
            copied = AttrValue()  # not the node's own message: it may be edited later
            copied.CopyFrom(value)
            kept.append((attr_name, copied))
        _MEMO[key] = (get_op_def(str(key[0])), tuple(kept), dtypes_here)
    return Prepared(order, by_name, info)


class _Outputs(Mapping[str, Sequence[int | None]]):
    """The output dtypes of the nodes imported so far, by name (a view of their info)."""

    __slots__ = ("_info",)

    def __init__(self, info: Mapping[str, NodeInfo]) -> None:
        self._info = info

    def __getitem__(self, name: str) -> Sequence[int | None]:
        return self._info[name].outputs

    def __iter__(self) -> Iterator[str]:
        return iter(self._info)

    def __len__(self) -> int:
        return len(self._info)


def _check_nodes(by_name: Mapping[str, node_def_pb2.NodeDef], info: Mapping[str, NodeInfo],
                 attrs_of: set[str], inputs_of: set[str]) -> None:
    """Attrs of the nodes ``attrs_of``, then inputs of the nodes ``inputs_of``, each in
    the source's order."""
    if attrs_of:
        for name, node in by_name.items():
            if name in attrs_of:
                check_node_attrs(node, info[name].op_def)
    if not inputs_of:
        return
    outputs = _Outputs(info)
    ops = {name: record.op for name, record in info.items()}
    for name, node in by_name.items():
        if name in inputs_of:
            rules.check_inputs(node, info[name].op_def, f"node {name!r} ({node.op})",
                               rules.raising_reporter, outputs, ops)


def _as_graph_def(source: Any) -> graph_pb2.GraphDef:
    if isinstance(source, (bytes, bytearray, memoryview)):
        try:
            return graph_pb2.GraphDef.FromString(bytes(source))
        except Exception as exc:
            raise GraphError(f"bytes are not a serialized GraphDef: {exc}") from None
    if isinstance(source, graph_pb2.GraphDef):
        return copy.deepcopy(source)
    return _as_graph_def(source.SerializeToString())


def prepare_import(source: Any, *,
                   trusted: Mapping[str, Sequence[int | None]] | None = None) -> Prepared:
    """The validated NodeDefs of ``source``, their topological order, output dtypes and
    data inputs.

    ``source`` is what :meth:`pysavedmodel.Graph.from_dict` takes; attrs are inferred
    and defaults filled, then the whole list is validated as one graph.  The caller
    (``Graph.from_dict``) adds the nodes, trusted, in that order.  ``trusted``: names of
    nodes of ``source`` the caller vouches for, with their output dtypes (nodes a
    :class:`~pysavedmodel.Graph` checked and wrote out unchanged): not completed or
    checked again where their inputs are trusted too.
    """
    if isinstance(source, Mapping):
        unknown = set(source) - _GRAPH_KEYS
        if unknown:
            raise GraphError(f"graph dict has unknown keys {sorted(unknown, key=repr)}; "
                             f"expected 'node'")
        library = source.get("library")
        if library is not None and not (isinstance(library, (Mapping, Sized))
                                        and len(library) == 0):
            raise GraphError("function libraries are not supported (graph dict 'library')")
        nodes = source.get("node")
        if nodes is None or isinstance(nodes, (str, bytes, Mapping)) or \
                not isinstance(nodes, Iterable):
            got = "nothing" if nodes is None else type(nodes).__name__
            raise GraphError(f"graph dict needs 'node': a list of node dicts, got {got}")
        node_defs = [node_from_dict(spec) for spec in nodes]
    elif isinstance(source, (bytes, bytearray, memoryview)) or hasattr(
            source, "SerializeToString"):
        graph_def = _as_graph_def(source)
        if graph_def.library.function or graph_def.library.gradient:
            raise GraphError("GraphDefs with a function library are not supported")
        node_defs = list(graph_def.node)
        unknown = set()
        for op_type in {node.op for node in node_defs}:
            try:
                get_op_def(op_type)
            except OpError:
                unknown.add(op_type)
        if unknown:  # named at the first node, in the source's order, of an unknown op
            first = next(node for node in node_defs if node.op in unknown)
            try:
                get_op_def(first.op)
            except OpError as exc:
                raise OpError(f"node {first.name!r}: {exc}") from None
    else:
        raise GraphError(f"expected a graph dict, a GraphDef or its bytes, got "
                         f"{type(source).__name__}")
    return _complete_and_check(node_defs, {} if trusted is None else trusted)
