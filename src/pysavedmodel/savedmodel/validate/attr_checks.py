"""Checks of one node's attrs against its OpDef.

Required attrs are present, values have the declared kind and an allowed value,
constants hold a fully defined tensor of their ``dtype``, and every function an
attr calls is defined (or is a registered op).  Attrs the op does not declare
are not findings: TF 2.21's loaders ignore them.
"""

from __future__ import annotations

from collections.abc import Mapping

from ... import dtypes
from ..._proto import attr_value_pb2, function_pb2, node_def_pb2, op_def_pb2
from ...errors import Error
from ...graph import attrs as _attrs
from ...graph.op_registry import attr_defs, get_op_def
from .findings import Report, type_name


def check_attrs(node: node_def_pb2.NodeDef, op_def: op_def_pb2.OpDef, where: str,
                report: Report, functions: Mapping[str, function_pb2.FunctionDef]) -> None:
    """Required attrs present, values of the declared kind and allowed; functions defined."""
    declared = attr_defs(op_def)
    for name, attr_def in declared.items():
        if name not in node.attr:
            if not attr_def.HasField("default_value"):
                report("missing-attr", where,
                       f"required attr {name!r} ({attr_def.type}) is missing and has no default")
            continue
        value = node.attr[name]
        if value.WhichOneof("value") == "placeholder":
            continue  # bound when the enclosing function is instantiated
        try:
            _attrs.check_attr_value(value, attr_def, where)
        except Error as exc:
            report("bad-attr", where, str(exc).replace(f"{where} ", "", 1))
    if node.op == "Const" and "value" in node.attr and "dtype" in node.attr:
        _check_const(node, where, report)
    for key, value in node.attr.items():
        for function in _function_names(value):
            if function not in functions and not _is_op(function):
                report("function-missing", where,
                       f"attr {key!r} calls function {function!r}, which the graph's library "
                       f"does not define")


def _is_op(name: str) -> bool:
    try:
        get_op_def(name)
    except Error:
        return False
    return True


def _function_names(value: attr_value_pb2.AttrValue) -> list[str]:
    functions = [value.func] if value.HasField("func") else list(value.list.func)
    return [f.name for f in functions if f.name]


def _check_const(node: node_def_pb2.NodeDef, where: str, report: Report) -> None:
    """TF's loader refuses a constant whose value is not a fully defined tensor."""
    tensor = node.attr["value"].tensor
    if tensor.dtype != node.attr["dtype"].type:
        report("bad-attr", where, f"attr 'value' holds a {type_name(tensor.dtype)} tensor but "
               f"attr 'dtype' is {type_name(node.attr['dtype'].type)}")
        return
    shape = _attrs.shape_from_proto(tensor.tensor_shape)
    if shape is None or any(dim is None for dim in shape):
        report("bad-attr", where, f"attr 'value' has shape {shape}; a constant needs a fully "
               f"defined shape")
        return
    row = dtypes.DTYPES.get(tensor.dtype)
    count = 1
    for dim in shape:
        count *= dim or 0
    if tensor.tensor_content and row is not None and row.numpy is not None and not row.is_string:
        if len(tensor.tensor_content) != count * row.numpy.itemsize:
            report("bad-attr", where, f"attr 'value' has {len(tensor.tensor_content)} bytes of "
                   f"tensor_content; shape {list(shape)} of {row.name} needs "
                   f"{count * row.numpy.itemsize}")
        return
    try:
        _attrs.tensor_proto_to_numpy(tensor, expand=False)
    except Exception as exc:  # unknown dtype, too many values and the like
        report("bad-attr", where, f"attr 'value' is not a valid tensor: {exc}")
