"""What every check of one meta graph shares: nodes by name, their output dtypes, the
function library, ``where`` labels and the report callback.

Indexing the nodes reports names TensorFlow would refuse (``bad-node-name``) and
names given twice (``duplicate-node``; the first node of a name is the one indexed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..._proto import function_pb2, meta_graph_pb2, node_def_pb2, op_def_pb2
from ...errors import Error
from ...graph import rules
from ...graph.op_registry import get_op_def
from ...graph.opsig import arg_dtypes
from ...names import parse_input
from .findings import Report, tags_label


@dataclass
class Outputs:
    """Output dtypes of a node: ``dtypes`` None when the count is unknown."""

    dtypes: list[int | None] | None


@dataclass
class MetaGraphContext:
    """One meta graph, indexed for the checks (build it with :meth:`index`)."""

    meta: meta_graph_pb2.MetaGraphDef
    report: Report
    label: str = ""
    nodes: dict[str, node_def_pb2.NodeDef] = field(default_factory=dict)
    outputs: dict[str, Outputs] = field(default_factory=dict)
    functions: dict[str, function_pb2.FunctionDef] = field(default_factory=dict)

    @classmethod
    def index(cls, meta: meta_graph_pb2.MetaGraphDef, report: Report) -> MetaGraphContext:
        """Index ``meta``'s nodes and functions, reporting nodes that cannot be indexed."""
        context = cls(meta, report, tags_label(meta.meta_info_def.tags))
        graph_def = meta.graph_def
        context.functions = {f.signature.name: f for f in graph_def.library.function}
        context.nodes = rules.check_node_names(
            graph_def.node, lambda name: context.at(f"node {name!r}"), report)
        for name, node in context.nodes.items():
            context.outputs[name] = Outputs(context.output_dtypes(node))
        return context

    def at(self, what: str) -> str:
        """A finding's ``where``: the meta graph's tags, then ``what``."""
        return f"{self.label} {what}"

    def signature_of(self, op_type: str) -> op_def_pb2.OpDef | None:
        """The OpDef of a registered op or of a library function; None if neither."""
        function = self.functions.get(op_type)
        if function is not None:
            return function.signature
        try:
            return get_op_def(op_type)
        except Error:
            return None

    def output_dtypes(self, node: node_def_pb2.NodeDef) -> list[int | None] | None:
        op_def = self.signature_of(node.op)
        if op_def is None:
            return None
        filled = with_defaults(node, op_def)
        try:
            out: list[int | None] = []
            for arg in op_def.output_arg:
                out.extend(arg_dtypes(arg, filled))
            return out
        except Error:
            return None  # a bad count attr: reported with the node's attrs

    def tensor_exists(self, name: str) -> str | None:
        """None if ``name`` ("node:i" or "node") is an output of the graph; else why not."""
        source, index, _ = parse_input(name)
        if not source or name.startswith("^"):
            return f"{name!r} is not a tensor name"
        if source not in self.nodes:
            return f"no node {source!r}"
        produced = self.outputs[source].dtypes
        if produced is not None and index >= len(produced):
            return f"node {source!r} ({self.nodes[source].op}) has {len(produced)} output(s)"
        return None


def with_defaults(node: node_def_pb2.NodeDef, op_def: op_def_pb2.OpDef) -> node_def_pb2.NodeDef:
    """``node`` with the attrs it leaves out filled from their defaults (a copy if needed)."""
    missing = [a for a in op_def.attr if a.name not in node.attr and a.HasField("default_value")]
    if not missing:
        return node
    filled = node_def_pb2.NodeDef()
    filled.CopyFrom(node)
    for attr_def in missing:
        filled.attr[attr_def.name].CopyFrom(attr_def.default_value)
    return filled
