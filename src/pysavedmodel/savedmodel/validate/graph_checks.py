"""Checks of the graph's structure: nodes, their inputs, cycles, library function bodies.

Each node's op is registered in TF 2.21 (and not removed at the graph's producer
version) or defined by the function library; its inputs name existing nodes and
outputs, in the number, order and dtypes the op expects; the nodes form no
cycle except loops closed through ``NextIteration``.  Function bodies: ops
known, inputs naming a body node or an argument.
"""

from __future__ import annotations

from collections import deque
from typing import Final

from ..._proto import function_pb2, graph_pb2, node_def_pb2, op_def_pb2
from ...errors import Error
from ...graph.inference import base_enum
from ...graph.op_registry import get_op_def
from ...graph.opsig import arg_dtypes
from ...names import parse_input
from .attr_checks import check_attrs
from .context import MetaGraphContext, with_defaults
from .findings import type_name

_LOOP_BACK_OPS: Final = frozenset({"NextIteration", "RefNextIteration"})


def check_graph(ctx: MetaGraphContext) -> None:
    """Every indexed node, then cycles, then every library function's body."""
    graph_def = ctx.meta.graph_def
    for node in graph_def.node:
        if ctx.nodes.get(node.name) is node:
            _check_node(ctx, node, graph_def)
    _check_cycles(ctx)
    for function in graph_def.library.function:
        _check_function(ctx, function)


def _check_node(ctx: MetaGraphContext, node: node_def_pb2.NodeDef,
                graph_def: graph_pb2.GraphDef) -> None:
    where = ctx.at(f"node {node.name!r}")
    if node.op in ctx.functions:
        op_def = ctx.functions[node.op].signature
    else:
        try:
            op_def = get_op_def(node.op)
        except Error as exc:
            ctx.report("unknown-op", where, f"{exc} (and the graph's function library "
                       f"defines no such function)")
            _check_input_sources(ctx, node, where)
            return
        producer = graph_def.versions.producer
        if op_def.HasField("deprecation") and op_def.deprecation.version <= producer:
            ctx.report("deprecated-op", where,
                       f"op {node.op} was removed in GraphDef version "
                       f"{op_def.deprecation.version} and this graph's producer is "
                       f"{producer}: {op_def.deprecation.explanation}")
        check_attrs(node, op_def, where, ctx.report, ctx.functions)
    _check_inputs(ctx, node, op_def, where)


def _check_input_sources(ctx: MetaGraphContext, node: node_def_pb2.NodeDef, where: str) -> None:
    for text in node.input:
        source, _, control = parse_input(text)
        if source not in ctx.nodes:
            kind = "control input" if control else "input"
            ctx.report("missing-input", where, f"{kind} {text!r} names no node of the graph")


def _check_inputs(ctx: MetaGraphContext, node: node_def_pb2.NodeDef, op_def: op_def_pb2.OpDef,
                  where: str) -> None:
    filled = with_defaults(node, op_def)
    # Without its length attrs (reported as missing-attr) the input count is unknown.
    count_known = all((arg.number_attr or arg.type_list_attr) in filled.attr
                      for arg in op_def.input_arg if arg.number_attr or arg.type_list_attr)
    expected: list[tuple[str, int | None]] = []
    try:
        for arg in op_def.input_arg:
            expected.extend((arg.name, enum) for enum in arg_dtypes(arg, filled))
    except Error as exc:
        ctx.report("bad-attr", where, str(exc))
        count_known = False
    data: list[tuple[str, int | None]] = []
    seen_control = False
    broken = False
    for text in node.input:
        source, index, control = parse_input(text)
        if control:
            seen_control = True
        elif seen_control:
            ctx.report("bad-input-order", where,
                       f"data input {text!r} comes after a control input; control inputs "
                       f"('^name') must come last")
        if source not in ctx.nodes:
            kind = "control input" if control else "input"
            ctx.report("missing-input", where, f"{kind} {text!r} names no node of the graph")
            broken = True
            continue
        if control:
            continue
        produced = ctx.outputs[source].dtypes
        if produced is not None and index >= len(produced):
            ctx.report("missing-input", where,
                       f"input {text!r}: node {source!r} ({ctx.nodes[source].op}) has "
                       f"{len(produced)} output(s)")
            broken = True
            continue
        data.append((text, produced[index] if produced is not None else None))
    if broken or not count_known:
        return
    if len(data) != len(expected):
        names = ", ".join(name for name, _ in expected) or "none"
        ctx.report("input-count", where,
                   f"{len(data)} data input(s); op {node.op} with these attrs expects "
                   f"{len(expected)} ({names})")
        return
    for (text, got), (arg_name, want) in zip(data, expected):
        if want is not None and got is not None and base_enum(want) != base_enum(got):
            ctx.report("input-dtype-mismatch", where,
                       f"input {arg_name!r} ({text!r}) is {type_name(got)}; op {node.op} "
                       f"expects {type_name(want)} there")


def _check_cycles(ctx: MetaGraphContext) -> None:
    """Kahn's algorithm; edges out of NextIteration close while loops and are allowed."""
    nodes = ctx.nodes
    consumers: dict[str, list[str]] = {name: [] for name in nodes}
    pending: dict[str, int] = {}
    for name, node in nodes.items():
        sources = {parse_input(text)[0] for text in node.input}
        sources = {s for s in sources if s in nodes and nodes[s].op not in _LOOP_BACK_OPS}
        pending[name] = len(sources)
        for source in sources:
            consumers[source].append(name)
    ready = deque(name for name, count in pending.items() if count == 0)
    done = 0
    while ready:
        name = ready.popleft()
        done += 1
        for consumer in consumers[name]:
            pending[consumer] -= 1
            if pending[consumer] == 0:
                ready.append(consumer)
    if done != len(nodes):
        stuck = sorted(name for name, count in pending.items() if count > 0)
        shown = ", ".join(repr(s) for s in stuck[:5]) + (" ..." if len(stuck) > 5 else "")
        ctx.report("graph-cycle", ctx.at("graph"),
                   f"nodes {shown} depend on each other in a cycle that does not go "
                   f"through NextIteration; TensorFlow cannot run them")


def _check_function(ctx: MetaGraphContext, function: function_pb2.FunctionDef) -> None:
    fname = function.signature.name
    args = {arg.name for arg in function.signature.input_arg}
    body = {node.name for node in function.node_def}
    for node in function.node_def:
        where = ctx.at(f"function {fname!r} node {node.name!r}")
        op_def = ctx.signature_of(node.op)
        if op_def is None:
            ctx.report("unknown-op", where,
                       f"op {node.op!r} is neither registered in TensorFlow 2.21 nor a "
                       f"function of the graph's library")
        elif node.op not in ctx.functions:
            check_attrs(node, op_def, where, ctx.report, ctx.functions)
        for text in node.input:
            source = text[1:] if text.startswith("^") else text.split(":", 1)[0]
            if source not in body and source not in args:
                ctx.report("missing-input", where,
                           f"input {text!r} names neither a node of the function nor one "
                           f"of its arguments")
    for key, ret in function.ret.items():
        source = ret.split(":", 1)[0]
        if source not in body and source not in args:
            ctx.report("missing-input", ctx.at(f"function {fname!r} output {key!r}"),
                       f"returns {ret!r}, which names no node of the function")
