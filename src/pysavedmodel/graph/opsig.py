"""Op signatures: the dtypes an op's inputs and outputs stand for, given a node's attrs.

An ``OpDef.ArgDef`` names its dtype directly (``type``), through a type attr
(``type_attr``: ``T``), as a list of one type repeated (``number_attr``: ``N``) or
as a list of types (``type_list_attr``); ``is_ref`` args carry ``DataType + 100``.
These functions read that against a node's attrs.  Shared by the graph builder,
the importer, the rule checks and the SavedModel validator; a leaf of the graph
package (it imports only the dtype table, the errors and the protos).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol

from .. import dtypes
from .._proto import attr_value_pb2, op_def_pb2
from ..dtypes import DType
from ..errors import OpError

AttrValue = attr_value_pb2.AttrValue

__all__ = ["MAX_LIST_LENGTH", "NodeLike", "dtype_row", "output_dtypes", "arg_specs",
           "arg_dtypes", "arg_dtypes_from", "is_list_arg", "io_dtypes"]


class NodeLike(Protocol):
    """What the rules and the shape functions read of a node: a ``NodeDef``, or the graph's
    own lighter record of one (the same name, op and attrs)."""

    @property
    def name(self) -> str: ...

    @property
    def op(self) -> str: ...

    @property
    def attr(self) -> Mapping[str, AttrValue]: ...

    @property
    def input(self) -> Sequence[str]: ...


def dtype_row(enum: int) -> DType | None:
    """Table row of a DataType number; ``_REF`` types map to their base type."""
    if enum >= dtypes.REF_OFFSET:
        enum -= dtypes.REF_OFFSET
    return dtypes.DTYPES.get(enum)


MAX_LIST_LENGTH = 1 << 20
"""Most tensors a list input or output (``N``, ``num``, ``num_split``) may hold: a corrupt
count must not build a list of billions of output dtypes."""


def is_list_arg(arg: op_def_pb2.OpDef.ArgDef) -> bool:
    """Whether ``arg`` stands for a list of tensors (``N`` or a type list)."""
    return bool(arg.number_attr or arg.type_list_attr)


def output_dtypes(op_def: op_def_pb2.OpDef, node_def: NodeLike,
                  attrs: Mapping[str, AttrValue] | None = None) -> list[int | None]:
    """Output dtypes per the op's signature and the node's attrs (None where unknown).

    ``attrs``: the node's attrs as a dict when the caller has one (same content as
    ``node_def.attr``, cheaper to read).
    """
    return list(io_dtypes(op_def, node_def, attrs)[1])


class ArgSpec(NamedTuple):
    """What :func:`_arg_dtypes` reads of an ``OpDef.ArgDef``, as plain Python values."""

    type_list_attr: str
    number_attr: str
    type: int
    type_attr: str
    is_ref: bool


_ARG_SPECS: dict[str, tuple[op_def_pb2.OpDef, tuple[ArgSpec, ...], tuple[ArgSpec, ...]]] = {}


def arg_specs(op_def: op_def_pb2.OpDef) -> tuple[tuple[ArgSpec, ...], tuple[ArgSpec, ...]]:
    """(input args, output args) of ``op_def``, memoized for the registry's OpDefs: reading
    the protobuf fields again for every node costs more than the whole dtype computation."""
    cached = _ARG_SPECS.get(op_def.name)
    if cached is not None and cached[0] is op_def:
        return cached[1], cached[2]
    inputs, outputs = (tuple(ArgSpec(a.type_list_attr, a.number_attr, a.type, a.type_attr,
                                      a.is_ref) for a in args)
                       for args in (op_def.input_arg, op_def.output_arg))
    _ARG_SPECS[op_def.name] = (op_def, inputs, outputs)
    return inputs, outputs


def arg_dtypes(arg: op_def_pb2.OpDef.ArgDef, node_def: NodeLike) -> list[int | None]:
    """The dtypes an input/output arg stands for, given a node's attrs."""
    return arg_dtypes_from(arg, node_def.attr, node_def)


def arg_dtypes_from(arg: op_def_pb2.OpDef.ArgDef | ArgSpec, attrs: Mapping[str, AttrValue],
                    node_def: NodeLike) -> list[int | None]:
    if arg.type_list_attr:
        value = attrs.get(arg.type_list_attr)
        return list(value.list.type) if value is not None else []
    count = 1
    if arg.number_attr:
        value = attrs.get(arg.number_attr)
        count = int(value.i) if value is not None else 0
        if count > MAX_LIST_LENGTH:
            raise OpError(f"node {node_def.name!r} ({node_def.op}) attr {arg.number_attr!r} is "
                          f"{count}; at most {MAX_LIST_LENGTH} tensors per list are supported")
    if arg.type:
        enum: int | None = arg.type
    else:
        value = attrs.get(arg.type_attr)
        enum = value.type if value is not None and value.WhichOneof("value") == "type" else None
    if arg.is_ref and enum is not None:
        enum += dtypes.REF_OFFSET
    return [enum] * count


_TYPE, _NUMBER, _TYPE_LIST = 0, 1, 2
_SIG_ATTRS: dict[str, tuple[op_def_pb2.OpDef, tuple[tuple[str, int], ...]]] = {}
_IO_CACHE: dict[tuple[object, ...], tuple[op_def_pb2.OpDef, tuple[int | None, ...],
                                           tuple[int | None, ...]]] = {}
_IO_CACHE_MAX = 8192
_IO_CACHE_MAX_LENGTH = 64


def _signature_attrs(op_def: op_def_pb2.OpDef) -> tuple[tuple[str, int], ...]:
    """The attrs the op's input and output dtypes depend on, with how each is read."""
    cached = _SIG_ATTRS.get(op_def.name)
    if cached is not None and cached[0] is op_def:
        return cached[1]
    found: dict[tuple[str, int], None] = {}
    inputs, outputs = arg_specs(op_def)
    for arg in (*inputs, *outputs):
        if arg.type_list_attr:
            found[(arg.type_list_attr, _TYPE_LIST)] = None
            continue
        if arg.number_attr:
            found[(arg.number_attr, _NUMBER)] = None
        if not arg.type and arg.type_attr:
            found[(arg.type_attr, _TYPE)] = None
    names = tuple(found)
    _SIG_ATTRS[op_def.name] = (op_def, names)
    return names


def io_dtypes(op_def: op_def_pb2.OpDef, node_def: NodeLike,
              attrs: Mapping[str, AttrValue] | None = None
              ) -> tuple[tuple[int | None, ...], tuple[int | None, ...]]:
    """(input dtypes, output dtypes) per the op's signature and the node's attrs.

    Memoized on exactly what :func:`arg_dtypes_from` reads of the attrs (the kind and
    value of each type, number and type-list attr the signature names): a model repeats
    a few combinations thousands of times.  ``attrs``: as for :func:`output_dtypes`.
    """
    values = node_def.attr if attrs is None else attrs
    key: list[object] = [op_def.name]
    total = 0
    for name, kind in _signature_attrs(op_def):
        value = values.get(name)
        if value is None:
            key.append(None)
        elif kind == _TYPE:
            key.append(value.type if value.WhichOneof("value") == "type" else None)
        elif kind == _NUMBER:
            count = int(value.i)
            total += count
            key.append(count)
        else:
            listed = tuple(value.list.type)
            total += len(listed)
            key.append(listed)
    cache_key = tuple(key)
    cached = _IO_CACHE.get(cache_key) if 0 <= total <= _IO_CACHE_MAX_LENGTH else None
    if cached is not None and cached[0] is op_def:
        return cached[1], cached[2]
    inputs, outputs = arg_specs(op_def)
    ins: list[int | None] = []
    for arg in inputs:
        ins.extend(arg_dtypes_from(arg, values, node_def))
    outs: list[int | None] = []
    for arg in outputs:
        outs.extend(arg_dtypes_from(arg, values, node_def))
    result = (tuple(ins), tuple(outs))
    if 0 <= total <= _IO_CACHE_MAX_LENGTH:
        if len(_IO_CACHE) >= _IO_CACHE_MAX:
            _IO_CACHE.clear()
        _IO_CACHE[cache_key] = (op_def, *result)
    return result
