"""Attr inference shared by :meth:`Graph.op` and :meth:`Graph.from_dict`.

Both callers describe a node's inputs the same way, one list of
:class:`ArgInput` per input arg of the op, and get the same rules:

* ``number_attr`` (``N``) is the length of its list arg;
* ``type_attr`` (``T``, ``Tidx``...) and ``type_list_attr`` are the input
  dtypes (``_REF`` stripped); a given value must agree with every input;
* an arg of a fixed type only accepts inputs of that type;
* output-only attrs with an obvious source: a ``Const``'s ``dtype`` is its
  value's, a ``dtype`` next to a ``VarHandleOp`` input is the variable's;
* everything else takes the OpDef default or must be given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from .. import dtypes
from .._proto import attr_value_pb2, op_def_pb2
from ..errors import OpError
from . import attrs as _attrs
from .op_registry import attr_defs

__all__ = ["ArgInput", "base_enum", "bind_input_attrs", "infer_output_only_attrs",
           "complete_attrs"]

AttrValue = attr_value_pb2.AttrValue
ArgDef = op_def_pb2.OpDef.ArgDef


class ArgInput(NamedTuple):
    """One tensor fed to an input arg, as far as it is known."""

    name: str
    """How the node names it (``"x"``, ``"x:1"``), for messages."""
    dtype: int | None = None
    """Its DataType number; None while unknown (e.g. a plain value not yet converted)."""
    op_type: str = ""
    """The op of the node producing it."""
    handle_dtype: int | None = None
    """For a ``VarHandleOp`` output: the variable's dtype."""


def base_enum(enum: int) -> int:
    """A DataType number with ``_REF`` stripped."""
    return enum - dtypes.REF_OFFSET if enum >= dtypes.REF_OFFSET else enum


def _type_list(enums: Sequence[int]) -> str:
    return "[" + ", ".join(_attrs.type_name(e) for e in enums) + "]"


def bind_input_attrs(args: Sequence[ArgDef], arg_inputs: Sequence[Sequence[ArgInput]],
                     values: dict[str, AttrValue], sources: dict[str, str],
                     where: str) -> None:
    """Set absent number/type attrs from the inputs; check given ones against them.

    ``values`` maps attr names to the node's attrs (updated in place);
    ``sources`` records which input bound an attr (for later messages); an
    attr without an entry there was given by the caller.
    """
    for arg, items in zip(args, arg_inputs):
        if arg.number_attr:
            given = values.get(arg.number_attr)
            if given is None:
                values[arg.number_attr] = AttrValue(i=len(items))
                sources[arg.number_attr] = f"input {arg.name!r}"
            elif given.WhichOneof("value") == "i" and given.i != len(items):
                raise OpError(f"{where} attr {arg.number_attr!r} is {given.i} but input "
                              f"{arg.name!r} has {len(items)} tensors")
        if arg.type_list_attr:
            _bind_type_list(arg, items, values, sources, where)
            continue
        for item in items:
            if item.dtype is None:
                continue
            enum = base_enum(item.dtype)
            if arg.type:
                if enum != base_enum(arg.type):
                    raise OpError(f"{where} input {arg.name!r} must be "
                                  f"{_attrs.type_name(arg.type)}; {item.name!r} is "
                                  f"{_attrs.type_name(enum)}")
                continue
            bound = values.get(arg.type_attr)
            if bound is None:
                values[arg.type_attr] = AttrValue(type=_attrs.proto_dtype(enum))
                sources[arg.type_attr] = f"input {arg.name!r}"
            elif bound.WhichOneof("value") == "type" and base_enum(bound.type) != enum:
                origin = sources.get(arg.type_attr, "given")
                raise OpError(
                    f"{where} input {arg.name!r} ({item.name!r}) is {_attrs.type_name(enum)} "
                    f"but attr {arg.type_attr!r} is {_attrs.type_name(bound.type)} ({origin})")


def _bind_type_list(arg: ArgDef, items: Sequence[ArgInput], values: dict[str, AttrValue],
                    sources: dict[str, str], where: str) -> None:
    if any(item.dtype is None for item in items):
        return  # the caller binds it once the missing dtypes are known
    enums = [base_enum(item.dtype) for item in items]  # type: ignore[arg-type]
    given = values.get(arg.type_list_attr)
    # An empty given list counts as unset, as with an absent attr.
    if given is not None and given.WhichOneof("value") == "list" and len(given.list.type):
        if [base_enum(e) for e in given.list.type] != enums:
            origin = sources.get(arg.type_list_attr, "given")
            raise OpError(f"{where} attr {arg.type_list_attr!r} is "
                          f"{_type_list(given.list.type)} ({origin}) but input {arg.name!r} "
                          f"has dtypes {_type_list(enums)}")
        return
    if given is not None and given.WhichOneof("value") not in (None, "list"):
        return  # a value of the wrong kind: complete_attrs reports it
    value = AttrValue()
    value.list.SetInParent()
    value.list.type.extend(_attrs.proto_dtype(e) for e in enums)
    values[arg.type_list_attr] = value
    sources[arg.type_list_attr] = f"input {arg.name!r}"


def infer_output_only_attrs(op_def: op_def_pb2.OpDef,
                            arg_inputs: Sequence[Sequence[ArgInput]],
                            values: dict[str, AttrValue]) -> None:
    """Output-only attrs with an obvious source (a Const's value, a variable handle)."""
    if "dtype" not in attr_defs(op_def) or "dtype" in values:
        return
    if op_def.name == "Const":
        value = values.get("value")
        if value is not None and value.WhichOneof("value") == "tensor":
            values["dtype"] = AttrValue(type=value.tensor.dtype)
        return
    # ReadVariableOp & co: a resource input from a VarHandleOp tells the dtype.
    for items in arg_inputs:
        if len(items) == 1 and items[0].op_type == "VarHandleOp" \
                and items[0].handle_dtype is not None:
            values["dtype"] = AttrValue(type=_attrs.proto_dtype(items[0].handle_dtype))
            return


_ATTR_TABLES: dict[str, tuple[op_def_pb2.OpDef, tuple[tuple[
    str, op_def_pb2.OpDef.AttrDef, AttrValue | None], ...]]] = {}


def _attr_table(op_def: op_def_pb2.OpDef) -> tuple[
        tuple[str, op_def_pb2.OpDef.AttrDef, AttrValue | None], ...]:
    """(name, AttrDef, default or None) of each attr of the op, memoized per OpDef."""
    cached = _ATTR_TABLES.get(op_def.name)
    if cached is not None and cached[0] is op_def:
        return cached[1]
    table = tuple((name, attr_def,
                   attr_def.default_value if attr_def.HasField("default_value") else None)
                  for name, attr_def in attr_defs(op_def).items())
    _ATTR_TABLES[op_def.name] = (op_def, table)
    return table


def complete_attrs(op_def: op_def_pb2.OpDef, values: dict[str, AttrValue], where: str) -> None:
    """Fill defaults, require the rest, check every value against the OpDef.

    Defaults are the registry's own messages, not copies: callers copy
    ``values`` into a NodeDef and must not modify them.
    """
    for name, attr_def, default in _attr_table(op_def):
        value = values.get(name)
        if value is not None:
            _attrs.check_attr_value(value, attr_def, where)
        elif default is not None:
            # Registry defaults fit their AttrDef (tests/graph/test_op_registry.py checks all).
            values[name] = default
        else:
            raise OpError(f"{where} needs attr {name!r} ({attr_def.type}); "
                          f"it has no default and cannot be inferred from the inputs")
