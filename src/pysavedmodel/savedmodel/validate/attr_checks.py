"""Checks of one node's attrs against its OpDef: the collecting front end of
:func:`pysavedmodel.graph.rules.check_node_attrs`.

Required attrs are present (or have a default), values have the declared kind and
an allowed value, constants hold a fully defined tensor of their ``dtype``, and every
function an attr calls is defined (or is a registered op).  Attrs the op does not
declare are not findings: TF 2.21's loaders ignore them.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..._proto import function_pb2, node_def_pb2, op_def_pb2
from ...graph import rules
from ...graph.op_registry import has_op
from .findings import Report


def check_attrs(node: node_def_pb2.NodeDef, op_def: op_def_pb2.OpDef, where: str,
                report: Report, functions: Mapping[str, function_pb2.FunctionDef]) -> None:
    """Required attrs present, values of the declared kind and allowed; functions defined."""
    rules.check_node_attrs(node, op_def, where, report, strict=False,
                           function_exists=lambda name: name in functions or has_op(name))
