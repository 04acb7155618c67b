"""Whole-graph checks run before a GraphDef leaves the library: the raising front end.

The rules themselves live in :mod:`.rules` (shared with ``pysavedmodel validate``);
here they run in their strict form with a reporter that raises the first problem as
:class:`GraphError` / :class:`OpError`, naming the node and the attr or input at
fault and saying what was expected.  :func:`validate_nodes` returns a topological
order (inputs before their consumers), which the importer uses for shape inference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .._proto import node_def_pb2, op_def_pb2
from ..errors import OpError
from ..names import parse_input
from . import rules
from .op_registry import check_available, get_op_def
from .opsig import output_dtypes

__all__ = ["validate_nodes", "dependency_order", "check_node_attrs", "check_const"]


def _where(node: node_def_pb2.NodeDef) -> str:
    return f"node {node.name!r} ({node.op})"


def check_node_attrs(node: node_def_pb2.NodeDef, op_def: op_def_pb2.OpDef,
                     functions: rules.Signatures | None = None) -> None:
    """Attrs known to the op (or ``_``-prefixed), required ones present, values fit,
    functions called present in ``functions`` (the graph's library) with matching
    signatures; raises :class:`OpError` (:mod:`.rules`, strict)."""
    where = _where(node)
    rules.check_node_attrs(node, op_def, where, rules.raising_reporter, strict=True,
                           function_exists=None if functions is None
                           else functions.__contains__)
    if functions:
        rules.check_call(node, where, rules.raising_reporter, functions)


def check_const(node: node_def_pb2.NodeDef) -> None:
    """A Const's value must match its dtype and hold a fully defined tensor (OpError)."""
    rules.check_const(node, _where(node), rules.raising_reporter)


def _nodes_by_name(nodes: Sequence[node_def_pb2.NodeDef]) -> dict[str, node_def_pb2.NodeDef]:
    """Names valid and unique; every input names a node of the list."""
    by_name = rules.check_node_names(nodes, lambda name: f"node {name!r}",
                                     rules.raising_reporter)
    for node in nodes:
        for text in node.input:
            source, _, control = parse_input(text)
            if source not in by_name:
                kind = "control input" if control else "input"
                rules.raising_reporter("missing-input", _where(node),
                                       f"{kind} {text!r} names no node of the graph")
    return by_name


def _order(by_name: Mapping[str, node_def_pb2.NodeDef]) -> list[str]:
    order, stuck = rules.topological_order(by_name, loop_back_ok=False)
    if stuck:
        rules.report_cycle(by_name, stuck, "the graph", rules.raising_reporter)
    return order


def dependency_order(nodes: Sequence[node_def_pb2.NodeDef]) -> list[str]:
    """Node names, inputs before their consumers (GraphError: bad names, dangling inputs, cycles).

    Only the graph's structure is checked, not ops or attrs: the importer needs
    this order to infer attrs from input dtypes before the full validation.
    """
    return _order(_nodes_by_name(nodes))


def validate_nodes(nodes: Sequence[node_def_pb2.NodeDef], *,
                   trusted: Mapping[str, list[int | None]] | None = None,
                   functions: rules.Signatures | None = None) -> list[str]:
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
        check_node_attrs(node, op_def, functions)
        op_defs[node.name] = op_def
        outputs[node.name] = output_dtypes(op_def, node)

    ops = {node.name: node.op for node in nodes}
    for node in nodes:
        if node.name in trusted:
            if all(parse_input(text)[0] in trusted for text in node.input):
                continue
            op_defs[node.name] = get_op_def(node.op)
        rules.check_inputs(node, op_defs[node.name], _where(node), rules.raising_reporter,
                           outputs, ops)
    return _order(by_name)
