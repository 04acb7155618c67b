"""Whole-graph checks run before a GraphDef leaves the library: the raising front end.

The rules themselves live in :mod:`.rules` (shared with ``pysavedmodel validate``);
here they run in their strict form with a reporter that raises the first problem as
:class:`GraphError` / :class:`OpError`, naming the node and the attr or input at
fault and saying what was expected.  :func:`validate_nodes` returns a topological
order (inputs before their consumers), which the importer uses for shape inference.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TypeVar

from .._proto import op_def_pb2
from ..errors import OpError
from ..names import parse_input
from . import rules
from .op_registry import check_available, get_op_def
from .opsig import NodeLike, output_dtypes

__all__ = ["validate_nodes", "validate_added", "dependency_order", "graph_structure",
           "check_node_attrs", "check_const", "ParsedInput"]


def _where(node: NodeLike) -> str:
    return f"node {node.name!r} ({node.op})"


def check_node_attrs(node: NodeLike, op_def: op_def_pb2.OpDef,
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


def check_const(node: NodeLike) -> None:
    """A Const's value must match its dtype and hold a fully defined tensor (OpError)."""
    rules.check_const(node, _where(node), rules.raising_reporter)


def _nodes_by_name(nodes: Sequence[NodeLike]) -> dict[str, NodeLike]:
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


def _order(by_name: Mapping[str, NodeLike]) -> list[str]:
    order, stuck = rules.topological_order(by_name, loop_back_ok=False)
    if stuck:
        rules.report_cycle(by_name, stuck, "the graph", rules.raising_reporter)
    return order


_N = TypeVar("_N", bound=NodeLike)
ParsedInput = tuple[str, int, bool]
"""An input as :func:`pysavedmodel.names.parse_input` reads it: (node, index, is_control)."""


def graph_structure(nodes: Sequence[_N]) -> tuple[dict[str, _N], dict[str, list[ParsedInput]],
                                                   list[str]]:
    """(nodes by name, each node's inputs parsed, names inputs first): the checks of
    :func:`dependency_order` (GraphError: bad names, dangling inputs, cycles), with each
    input parsed once for the caller.  Nodes listed inputs first (as TensorFlow and
    :meth:`Graph.as_graph_def` write them) keep their order."""
    by_name = rules.check_node_names(nodes, lambda name: f"node {name!r}",
                                     rules.raising_reporter)
    parsed: dict[str, list[ParsedInput]] = {}
    listed_in_order = True
    # by_name holds every node, in order (a duplicate name raised above)
    for name, node in by_name.items():
        items = []
        for text in node.input:
            item = parse_input(text) if ":" in text or text[:1] == "^" else (text, 0, False)
            source = item[0]
            if source not in parsed:  # else an earlier node: known to exist
                if source not in by_name:
                    kind = "control input" if item[2] else "input"
                    rules.raising_reporter("missing-input", _where(node),
                                           f"{kind} {text!r} names no node of the graph")
                listed_in_order = False  # a later node, or the node itself
            items.append(item)
        parsed[name] = items
    if listed_in_order:
        return by_name, parsed, list(by_name)
    order, stuck = rules.topological_order(
        by_name, loop_back_ok=False,
        sources={name: [source for source, _, _ in items] for name, items in parsed.items()})
    if stuck:
        rules.report_cycle(by_name, stuck, "the graph", rules.raising_reporter)
    return by_name, parsed, order


def dependency_order(nodes: Sequence[NodeLike]) -> list[str]:
    """Node names, inputs before their consumers (GraphError: bad names, dangling inputs, cycles).

    Only the graph's structure is checked, not ops or attrs: the importer needs
    this order to infer attrs from input dtypes before the full validation.
    """
    return _order(_nodes_by_name(nodes))


def validate_nodes(nodes: Sequence[NodeLike], *,
                   trusted: Mapping[str, Sequence[int | None]] | None = None,
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
    outputs: dict[str, Sequence[int | None]] = {}
    doubtful = []
    for node in nodes:
        known = trusted.get(node.name)
        if known is not None:
            outputs[node.name] = known
        else:
            doubtful.append(node)
    op_defs = _check_own(doubtful, outputs, functions)
    ops = {node.name: node.op for node in nodes}
    for node in nodes:
        op_def = op_defs.get(node.name)
        if op_def is None:  # trusted
            if all(parse_input(text)[0] in trusted for text in node.input):
                continue
            op_def = get_op_def(node.op)
        rules.check_inputs(node, op_def, _where(node), rules.raising_reporter, outputs, ops)
    return _order(by_name)


def validate_added(nodes: Sequence[NodeLike], *,
                   outputs: Mapping[str, Sequence[int | None]],
                   ops: Mapping[str, str], functions: rules.Signatures | None = None) -> None:
    """The checks :func:`validate_nodes` makes of ``nodes``, untrusted nodes of a graph
    whose other nodes are trusted and whose names, edges and acyclicity hold by
    construction (each node was added after its inputs, under a new valid name).

    ``outputs`` / ``ops``: the output dtypes and op type of every node of the graph; the
    nodes checked here get their output dtypes recomputed, as :func:`validate_nodes` does.
    Raises what :func:`validate_nodes` raises first for such a graph.
    """
    own: dict[str, Sequence[int | None]] = {}
    op_defs = _check_own(nodes, own, functions)
    merged = _Overlay(outputs, own)
    for node in nodes:
        rules.check_inputs(node, op_defs[node.name], _where(node), rules.raising_reporter,
                           merged, ops)


def _check_own(nodes: Sequence[NodeLike], outputs: dict[str, Sequence[int | None]],
               functions: rules.Signatures | None) -> dict[str, op_def_pb2.OpDef]:
    """Op registered and available, attrs (strict); ``outputs`` gets each node's output
    dtypes.  Returns the OpDefs by node name."""
    op_defs: dict[str, op_def_pb2.OpDef] = {}
    for node in nodes:
        try:
            op_def = get_op_def(node.op)
            check_available(op_def)
        except OpError as exc:
            raise OpError(f"node {node.name!r}: {exc}") from None
        check_node_attrs(node, op_def, functions)
        op_defs[node.name] = op_def
        outputs[node.name] = output_dtypes(op_def, node)
    return op_defs


class _Overlay(Mapping[str, Sequence[int | None]]):
    """``base`` with the entries of ``top`` in front (no copy of ``base``)."""

    def __init__(self, base: Mapping[str, Sequence[int | None]],
                 top: Mapping[str, Sequence[int | None]]) -> None:
        self._base = base
        self._top = top

    def __getitem__(self, key: str) -> Sequence[int | None]:
        found = self._top.get(key)
        return found if found is not None else self._base[key]

    def __contains__(self, key: object) -> bool:
        return key in self._top or key in self._base

    def __iter__(self) -> Iterator[str]:
        return iter({**self._base, **self._top})

    def __len__(self) -> int:
        return len({**self._base, **self._top})
