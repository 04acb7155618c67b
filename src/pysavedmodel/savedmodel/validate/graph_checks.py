"""Checks of the graph's structure: nodes, their inputs, cycles, library function bodies.

Each node's op is registered in TF 2.21 (and not removed at the graph's producer
version) or defined by the function library; its inputs name existing nodes and
outputs, in the number, order and dtypes the op expects; the nodes form no
cycle except loops closed through ``NextIteration``.  Function bodies: ops
known, inputs naming a body node or an argument.
"""

from __future__ import annotations

from ..._proto import function_pb2, graph_pb2, node_def_pb2, op_def_pb2
from ...errors import Error
from ...graph import rules
from ...graph.op_registry import get_op_def
from ...names import parse_input
from .attr_checks import check_attrs
from .context import MetaGraphContext, with_defaults


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
    outputs = {name: out.dtypes for name, out in ctx.outputs.items()}
    ops = {name: n.op for name, n in ctx.nodes.items()}
    rules.check_inputs(with_defaults(node, op_def), op_def, where, ctx.report, outputs, ops)


def _check_cycles(ctx: MetaGraphContext) -> None:
    """Cycles through data and control edges; edges out of NextIteration close while
    loops and are allowed."""
    _, stuck = rules.topological_order(ctx.nodes, loop_back_ok=True)
    if stuck:
        rules.report_cycle(ctx.nodes, stuck, ctx.at("graph"), ctx.report)


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
