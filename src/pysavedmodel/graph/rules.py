"""The graph rules, written once: node names, attrs, constants, inputs, cycles.

Each rule reports what it finds through ``report(code, where, message)`` and goes on.
Two front ends share them, as onnx's checker serves both its API and its tools:

* :mod:`pysavedmodel.graph.validate` (the builder's): a reporter that raises the
  first finding as :class:`~pysavedmodel.errors.GraphError` / :class:`OpError`
  (:func:`raising_reporter`);
* :mod:`pysavedmodel.savedmodel.validate` (``pysavedmodel validate``): a reporter that
  collects :class:`Finding`\\ s with these codes.

``where`` is the front end's label for the node (``node 'x' (MatMul)`` for the
builder, ``[serve] node 'x'`` for the validator); ``message`` says what is wrong and
what was expected, and reads after ``where``.

The rules differ between the two only where TensorFlow's loaders and the library's
own output differ, through the ``strict`` flag: the builder (strict) refuses attrs an
op does not declare (a typo TF would silently keep), calls of functions outside the
graph's own library (:mod:`.function`) and any cycle; the validator accepts what TF 2.21
loads — attrs left to their defaults, undeclared attrs, loops closed through
``NextIteration``.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final, TypeVar

from .. import dtypes
from .._proto import attr_value_pb2, op_def_pb2, tensor_pb2
from ..errors import Error, GraphError, OpError
from ..names import NODE_NAME, NODE_NAME_RULE, parse_input
from . import attrs as _attrs
from .inference import base_enum
from .op_registry import attr_defs
from .opsig import NodeLike, arg_dtypes

__all__ = [
    "Report", "GRAPH_CODES", "raising_reporter", "check_node_names", "check_node_attrs",
    "check_const", "check_inputs", "topological_order", "report_cycle", "function_names",
    "check_call", "Signatures",
]

_N = TypeVar("_N", bound=NodeLike)

Report = Callable[[str, str, str], None]
"""``report(code, where, message)``: one finding."""

GRAPH_CODES: Final = {
    "bad-node-name": GraphError, "duplicate-node": GraphError, "missing-input": GraphError,
    "bad-input-order": GraphError, "graph-cycle": GraphError,
    "unknown-op": OpError, "deprecated-op": OpError, "undeclared-attr": OpError,
    "missing-attr": OpError, "bad-attr": OpError,
    "function-missing": OpError, "input-count": OpError, "input-dtype-mismatch": OpError,
    "function-signature": OpError,
}
"""Every code these rules report, with the error the raising front end turns it into."""

LOOP_BACK_OPS: Final = frozenset({"NextIteration", "RefNextIteration"})
"""Ops whose output edge closes a TF1 while loop (allowed to form a cycle when not strict)."""


def raising_reporter(code: str, where: str, message: str) -> None:
    """The builder's reporter: raise the finding as its :data:`GRAPH_CODES` error."""
    raise GRAPH_CODES.get(code, GraphError)(f"{where} {message}")


# --------------------------------------------------------------------------- names

_NODE_NAME_LINES: Final = re.compile(rf"(?:{NODE_NAME_RULE}(?:\n{NODE_NAME_RULE})*)?\Z")
"""Node names joined by line breaks, each valid."""


def check_node_names(nodes: Iterable[_N], where: Callable[[str], str],
                     report: Report) -> dict[str, _N]:
    """Valid and unique names; returns the nodes by name (the first of a duplicate name)."""
    nodes = list(nodes)
    names = [node.name for node in nodes]
    by_name = dict(zip(names, nodes))
    # All valid and distinct (the usual case): one regex over the names, one per line
    # (no valid name holds a line break; one that does adds a line and fails the count).
    joined = "\n".join(names)
    if len(by_name) == len(nodes) and joined.count("\n") == max(len(names) - 1, 0) \
            and _NODE_NAME_LINES.match(joined):
        return by_name
    by_name = {}
    for node in nodes:
        if not NODE_NAME.match(node.name):
            report("bad-node-name", where(node.name),
                   f"(op {node.op}): invalid node name {node.name!r}; TensorFlow node names "
                   f"match {NODE_NAME_RULE}")
        if node.name in by_name:
            report("duplicate-node", where(node.name),
                   f"(op {node.op}): duplicate node name {node.name!r}")
            continue
        by_name[node.name] = node
    return by_name


# --------------------------------------------------------------------------- attrs

def function_names(value: attr_value_pb2.AttrValue) -> list[str]:
    """Names of the functions an attr value calls (``func`` or ``list(func)``)."""
    functions = [value.func] if value.HasField("func") else list(value.list.func)
    return [f.name for f in functions if f.name]


def check_node_attrs(node: NodeLike, op_def: op_def_pb2.OpDef, where: str,
                     report: Report, *, strict: bool,
                     function_exists: Callable[[str], bool] | None = None) -> None:
    """Attrs against the OpDef: required present, declared kind and allowed values.

    ``strict``: every declared attr must be present (defaults already filled) and no
    attr the op does not declare; otherwise attrs with defaults may be absent and
    undeclared attrs pass.  Every function an attr calls must pass ``function_exists``
    (None: the graph has no library).
    """
    declared = attr_defs(op_def)
    if strict:
        for key in node.attr:
            if key not in declared and not key.startswith("_"):
                report("undeclared-attr", where,
                       f"has attr {key!r}, which {node.op} does not declare; its attrs are: "
                       f"{', '.join(sorted(declared)) or 'none'}")
    for name, attr_def in declared.items():
        if name not in node.attr:
            if strict or not attr_def.HasField("default_value"):
                report("missing-attr", where, f"lacks required attr {name!r} ({attr_def.type})")
            continue
        value = node.attr[name]
        if not strict and value.WhichOneof("value") == "placeholder":
            continue  # bound when the enclosing function is instantiated
        try:
            _attrs.check_attr_value(value, attr_def, where)
        except Error as exc:
            report("bad-attr", where, str(exc).replace(f"{where} ", "", 1))
    if node.op == "Const" and "value" in node.attr and "dtype" in node.attr:
        check_const(node, where, report)
    for key, value in node.attr.items():
        for function in function_names(value):
            if function_exists is None or not function_exists(function):
                report("function-missing", where,
                       f"attr {key!r} calls function {function!r}, which the graph's library "
                       f"does not define")


_CHECKED_TENSORS: dict[bytes, None] = {}
"""Serialized small tensors that passed :func:`check_const` (a model repeats the same
scalars and shapes thousands of times; decoding each again is the check's main cost)."""
_CHECKED_TENSOR_MAX_BYTES = 256
_CHECKED_TENSORS_MAX = 4096


def check_const(node: NodeLike, where: str, report: Report) -> None:
    """A Const's value matches its dtype and holds a fully defined tensor (TF's loader
    refuses anything else)."""
    tensor = node.attr["value"].tensor
    if tensor.dtype != node.attr["dtype"].type:
        report("bad-attr", where, f"attr 'value' holds a {_attrs.type_name(tensor.dtype)} "
               f"tensor but attr 'dtype' is {_attrs.type_name(node.attr['dtype'].type)}")
        return
    key = None
    if tensor.ByteSize() <= _CHECKED_TENSOR_MAX_BYTES:
        key = tensor.SerializeToString(deterministic=True)
        if key in _CHECKED_TENSORS:
            return
    problem = _tensor_problem(tensor)
    if problem is not None:
        report("bad-attr", where, problem)
        return
    if key is not None:
        if len(_CHECKED_TENSORS) >= _CHECKED_TENSORS_MAX:
            _CHECKED_TENSORS.clear()
        _CHECKED_TENSORS[key] = None


def _tensor_problem(tensor: tensor_pb2.TensorProto) -> str | None:
    shape = _attrs.shape_from_proto(tensor.tensor_shape)
    if shape is None or any(dim is None for dim in shape):
        return f"attr 'value' has shape {shape}; a constant needs a fully defined shape"
    row = dtypes.DTYPES.get(tensor.dtype)
    count = 1
    for dim in shape:
        count *= dim or 0
    if tensor.tensor_content and row is not None and row.numpy is not None \
            and not row.is_string:
        # Checked by size: decoding a large constant just to validate it would be wasteful.
        if len(tensor.tensor_content) != count * row.numpy.itemsize:
            return (f"attr 'value' has {len(tensor.tensor_content)} bytes of tensor_content; "
                    f"shape {list(shape)} of {row.name} needs {count * row.numpy.itemsize}")
        return None
    try:
        _attrs.tensor_proto_to_numpy(tensor, expand=False)
    except Exception as exc:  # too many values, unknown dtype and the like
        return f"attr 'value' is not a valid tensor: {exc}"
    return None


# --------------------------------------------------------------------------- calls

Signatures = Mapping[str, tuple[Sequence[int], Sequence[int]]]
"""Function name -> (argument types, result types)."""

_CALLS: Final = {
    "PartitionedCall": (("f",), "Tin", "Tout"),
    "StatefulPartitionedCall": (("f",), "Tin", "Tout"),
    "If": (("then_branch", "else_branch"), "Tin", "Tout"),
    "StatelessIf": (("then_branch", "else_branch"), "Tin", "Tout"),
    "While": (("body",), "T", "T"),
    "StatelessWhile": (("body",), "T", "T"),
}


def check_call(node: NodeLike, where: str, report: Report,
               signatures: Signatures) -> None:
    """A call op's types agree with the functions it calls: arguments with its inputs
    (``Tin`` / ``T``), results with its outputs (``Tout`` / ``T``); a While's ``cond``
    takes the loop variables and returns one bool."""
    rule = _CALLS.get(node.op)
    if rule is None:
        return
    attrs, ins_attr, outs_attr = rule
    ins = [int(t) for t in node.attr[ins_attr].list.type] if ins_attr in node.attr else []
    outs = [int(t) for t in node.attr[outs_attr].list.type] if outs_attr in node.attr else []
    checks = [(attr, ins, outs) for attr in attrs]
    if node.op in ("While", "StatelessWhile"):
        checks.append(("cond", ins, [dtypes.DT_BOOL]))
    for attr, want_in, want_out in checks:
        if attr not in node.attr:
            continue
        name = node.attr[attr].func.name
        signature = signatures.get(name)
        if signature is None:
            continue  # reported as function-missing
        got_in, got_out = list(signature[0]), list(signature[1])
        if [base_enum(t) for t in got_in] != [base_enum(t) for t in want_in]:
            report("function-signature", where,
                   f"attr {attr!r} calls {name!r}, whose arguments are "
                   f"{_attrs.type_names(got_in)}; the call passes {_attrs.type_names(want_in)}")
        if [base_enum(t) for t in got_out] != [base_enum(t) for t in want_out]:
            report("function-signature", where,
                   f"attr {attr!r} calls {name!r}, which returns "
                   f"{_attrs.type_names(got_out)}; the call expects "
                   f"{_attrs.type_names(want_out)}")


# --------------------------------------------------------------------------- inputs

def check_inputs(node: NodeLike, op_def: op_def_pb2.OpDef, where: str,
                 report: Report, outputs: Mapping[str, Sequence[int | None] | None],
                 ops: Mapping[str, str]) -> None:
    """Inputs: sources exist, output index in range, control inputs last, and the count
    and dtypes of the data inputs are what the op's signature with these attrs expects.

    ``outputs``: the output dtypes of every node by name (None: count unknown);
    ``ops``: every node's op type, for messages.  ``node`` should carry its attr
    defaults (the count of list inputs depends on them).
    """
    count_known = all((arg.number_attr or arg.type_list_attr) in node.attr
                      for arg in op_def.input_arg if arg.number_attr or arg.type_list_attr)
    expected: list[tuple[str, int | None]] = []
    try:
        for arg in op_def.input_arg:
            expected.extend((arg.name, enum) for enum in arg_dtypes(arg, node))
    except Error as exc:
        report("bad-attr", where, str(exc))
        count_known = False
    data: list[tuple[str, int | None]] = []
    seen_control = False
    broken = False
    for text in node.input:
        source, index, control = parse_input(text)
        if control:
            seen_control = True
        elif seen_control:
            report("bad-input-order", where, f"data input {text!r} comes after a control "
                   f"input; control inputs ('^name') must come last")
        if source not in outputs:
            kind = "control input" if control else "input"
            report("missing-input", where, f"{kind} {text!r} names no node of the graph")
            broken = True
            continue
        if control:
            continue
        produced = outputs[source]
        if produced is not None and index >= len(produced):
            report("missing-input", where, f"input {text!r}: node {source!r} ({ops[source]}) "
                   f"has {len(produced)} output(s)")
            broken = True
            continue
        data.append((text, produced[index] if produced is not None else None))
    if broken or not count_known:
        return
    if len(data) != len(expected):
        names = ", ".join(name for name, _ in expected) or "none"
        report("input-count", where, f"has {len(data)} data input(s); its op and attrs "
               f"expect {len(expected)} ({names})")
        return
    for (text, got), (arg_name, want) in zip(data, expected):
        if want is not None and got is not None and base_enum(want) != base_enum(got):
            report("input-dtype-mismatch", where, f"input {arg_name!r} ({text!r}) is "
                   f"{_attrs.type_name(got)}; expected {_attrs.type_name(want)}")


# --------------------------------------------------------------------------- cycles

def topological_order(nodes: Mapping[str, NodeLike], *, loop_back_ok: bool,
                      sources: Mapping[str, Iterable[str]] | None = None
                      ) -> tuple[list[str], set[str]]:
    """Kahn's algorithm over data and control edges: ``(order, stuck)``.

    ``order`` lists node names inputs first; ``stuck`` holds the nodes kept back by a
    cycle (empty for an acyclic graph).  With ``loop_back_ok`` edges out of
    ``NextIteration`` are ignored (they close TF1 while loops).  Inputs naming no node
    are ignored (:func:`check_inputs` reports them).  ``sources``: each node's input
    node names when the caller has parsed them already.
    """
    consumers: dict[str, list[str]] = {name: [] for name in nodes}
    pending: dict[str, int] = {}
    for name, node in nodes.items():
        found = set(sources[name]) if sources is not None else \
            {parse_input(text)[0] for text in node.input}
        found = {s for s in found if s in nodes
                 and not (loop_back_ok and nodes[s].op in LOOP_BACK_OPS)}
        pending[name] = len(found)
        for source in found:
            consumers[source].append(name)
    ready = deque(name for name in nodes if pending[name] == 0)
    order: list[str] = []
    while ready:
        name = ready.popleft()
        order.append(name)
        for consumer in consumers[name]:
            pending[consumer] -= 1
            if pending[consumer] == 0:
                ready.append(consumer)
    return order, {name for name, count in pending.items() if count > 0}


def report_cycle(nodes: Mapping[str, NodeLike], stuck: set[str], where: str,
                 report: Report) -> None:
    """Report the cycle among ``stuck`` (from :func:`topological_order`) as one path."""
    report("graph-cycle", where, f"has a cycle: {' -> '.join(_find_cycle(nodes, stuck))}; "
           f"TensorFlow cannot run it")


def _find_cycle(nodes: Mapping[str, NodeLike], stuck: set[str]) -> list[str]:
    inputs = {name: [parse_input(t)[0] for t in node.input] for name, node in nodes.items()}
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
