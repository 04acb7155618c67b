"""Plain Python values <-> ``AttrValue`` / ``TensorProto`` / ``TensorShapeProto``.

Conversion is driven by the attr type an ``OpDef`` declares (``"type"``,
``"shape"``, ``"list(int)"``...).  Python values follow TensorFlow's
``convert_to_tensor`` conventions: a Python ``float`` is float32, an ``int``
is int32 (int64 when it does not fit), ``str``/``bytes`` are strings, numpy
arrays keep their dtype.

Tensor encoding follows what TF's Python ``make_tensor_proto`` writes: arrays
of more than one element of a fixed-size numeric type go to ``tensor_content``
(raw little-endian bytes); everything else (scalars, one-element arrays,
bool, complex, 4-bit ints, strings) to the typed ``*_val`` fields.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from typing import Any, Optional, cast

import numpy as np

from .. import dtypes
from .._proto import attr_value_pb2, op_def_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
from ..dtypes import DType
from ..errors import InvalidArgumentError, OpError, UnsupportedDTypeError
from ..names import utf8

__all__ = [
    "Shape", "make_tensor_proto", "tensor_proto_to_numpy", "to_numpy", "make_shape_proto",
    "shape_from_proto", "make_attr_value", "attr_value_kind", "check_attr_value",
    "attr_value_to_python", "check_no_function", "type_name", "type_names", "proto_dtype",
    "handle_data_bytes",
]

Shape = Optional[tuple[Optional[int], ...]]
"""A static shape: None for unknown rank, None entries for unknown dims."""

AttrValue = attr_value_pb2.AttrValue
TensorProto = tensor_pb2.TensorProto
TensorShapeProto = tensor_shape_pb2.TensorShapeProto

# dtypes whose multi-element arrays TF stores as raw bytes in tensor_content.
_CONTENT_NAMES = frozenset({
    "float32", "float64", "float16", "bfloat16", "int8", "int16", "int32", "int64", "uint8",
    "uint16", "uint32", "uint64", "float8_e5m2", "float8_e4m3fn", "float8_e4m3fnuz",
    "float8_e4m3b11fnuz", "float8_e5m2fnuz", "float4_e2m1fn",
})
# dtype name -> TensorProto field that holds one value per element.
_VAL_FIELD = {
    "float32": "float_val", "float64": "double_val", "int32": "int_val", "int16": "int_val",
    "int8": "int_val", "uint8": "int_val", "uint16": "int_val", "int4": "int_val",
    "uint4": "int_val", "int2": "int_val", "uint2": "int_val", "int64": "int64_val",
    "uint32": "uint32_val", "uint64": "uint64_val", "bool": "bool_val",
    "float16": "half_val", "bfloat16": "half_val", "complex64": "scomplex_val",
    "complex128": "dcomplex_val", "string": "string_val",
    "float8_e5m2": "float8_val", "float8_e4m3fn": "float8_val", "float8_e4m3fnuz": "float8_val",
    "float8_e4m3b11fnuz": "float8_val", "float8_e5m2fnuz": "float8_val",
    "float4_e2m1fn": "float8_val",
}
_INT32_MIN, _INT32_MAX = -(2 ** 31), 2 ** 31 - 1
_INT64_MIN, _INT64_MAX = -(2 ** 63), 2 ** 63 - 1
_MAX_RANK = 64 if int(np.__version__.split(".")[0]) >= 2 else 32  # numpy 1.x: 32




def proto_dtype(enum: int) -> types_pb2.DataType:
    """A DataType number typed as the proto stubs want it (an int at run time)."""
    return cast(types_pb2.DataType, enum)


# --------------------------------------------------------------------------- numpy values


def _as_bytes(item: Any) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return utf8(item, f"string {item!r}")
    if isinstance(item, (bytearray, memoryview, np.bytes_)):
        return bytes(item)
    raise InvalidArgumentError(f"expected str or bytes in a string tensor, got {item!r}")


def _string_array(value: Any) -> np.ndarray:
    arr = np.asarray(value, dtype=object)
    out = np.empty(arr.shape, dtype=object)
    for index, item in np.ndenumerate(arr):
        out[index] = _as_bytes(item)
    return out


def _is_python_value(value: Any) -> bool:
    return not isinstance(value, (np.ndarray, np.generic))


def to_numpy(value: Any, dtype: Any = None) -> np.ndarray:
    """``value`` as a numpy array, with TF's dtype conventions for Python values.

    With ``dtype`` the value is converted to it; a conversion that would change
    values (1.5 to int32, 300 to uint8) raises :class:`InvalidArgumentError`.
    A numpy array that needs no conversion is returned as is, not copied.
    """
    target = None if dtype is None else dtypes.as_dtype(dtype)
    if target is not None and target.is_string:
        return _string_array(value)
    if target is not None and target.numpy is None:
        raise UnsupportedDTypeError(f"cannot hold a {target.name} value as an array")
    if isinstance(value, (str, bytes)) or (
            isinstance(value, np.ndarray) and value.dtype.kind in "OSU"):
        if target is not None:
            raise InvalidArgumentError(
                f"cannot convert string value {value!r} to {target.name}")
        return _string_array(value)
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError, OverflowError) as exc:
        if isinstance(value, (list, tuple)) and "inhomogeneous" in str(exc):
            raise InvalidArgumentError(
                f"cannot convert {value!r} to a tensor: it is ragged (rows of different "
                "lengths); expected nested lists of equal lengths") from None
        raise InvalidArgumentError(f"cannot convert {value!r} to a tensor: {exc}") from None
    if arr.dtype.kind in "OSU":
        if target is not None:
            raise InvalidArgumentError(f"cannot convert {value!r} to {target.name}")
        return _string_array(arr)
    if target is None:
        if _is_python_value(value):
            if arr.dtype.kind == "f":
                arr = arr.astype(np.float32)
            elif arr.dtype.kind in "iu":
                fits = arr.size == 0 or (arr.min() >= _INT32_MIN and arr.max() <= _INT32_MAX)
                arr = arr.astype(np.int32 if fits else np.int64)
        dtypes.from_numpy(arr.dtype)  # raises UnsupportedDTypeError for e.g. datetime64
        return arr
    if arr.dtype == target.numpy:
        return arr  # already right: no copy (a variable's value may be large)
    if arr.dtype.kind == "c" and target.numpy is not None and target.numpy.kind != "c" \
            and arr.size:
        raise InvalidArgumentError(
            f"value {value!r} is complex; it cannot be represented as {target.name}")
    try:
        converted = arr.astype(target.numpy)
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. void or nested values
        raise InvalidArgumentError(
            f"cannot convert {value!r} ({arr.dtype}) to {target.name}: {exc}") from None
    if arr.dtype.kind in "biufc" and converted.dtype.kind in "biu" and arr.size:
        back = converted.astype(arr.dtype) if arr.dtype.kind != "c" else converted
        if arr.dtype.kind == "c" or not np.array_equal(back, arr):
            raise InvalidArgumentError(
                f"value {value!r} cannot be represented as {target.name} without changing it")
    return converted


MAX_TENSOR_PROTO_BYTES = (1 << 31) - (1 << 16)
"""Largest value a TensorProto may hold: protobuf messages stay under 2 GiB, and the node
and graph around the tensor need some room."""


def _check_proto_size(nbytes: int) -> None:
    if nbytes > MAX_TENSOR_PROTO_BYTES:
        raise InvalidArgumentError(
            f"a {nbytes:,}-byte value is over protobuf's 2 GiB message limit, so it cannot "
            "be stored in the graph; move it into a variable (Graph.variable), whose value "
            "is stored in the checkpoint")


def make_tensor_proto(value: Any, dtype: Any = None) -> tensor_pb2.TensorProto:
    """A ``TensorProto`` holding ``value`` (numpy array, scalar, list, str/bytes)."""
    if isinstance(value, TensorProto):
        return value
    arr = to_numpy(value, dtype)
    row = dtypes.as_dtype(dtype) if dtype is not None else dtypes.from_numpy(arr.dtype)
    proto = TensorProto(dtype=proto_dtype(row.enum))
    proto.tensor_shape.CopyFrom(make_shape_proto(arr.shape))
    if row.is_string:
        strings = arr.reshape(-1).tolist()
        _check_proto_size(sum(map(len, strings)))
        proto.string_val.extend(strings)
        return proto
    if row.numpy is None:
        raise UnsupportedDTypeError(f"cannot hold a {row.name} value in a constant")
    _check_proto_size(arr.size * row.itemsize)
    arr = np.ascontiguousarray(arr, dtype=row.numpy)
    if arr.size > 1 and row.name in _CONTENT_NAMES:
        proto.tensor_content = arr.tobytes()
        return proto
    field = _VAL_FIELD.get(row.name)
    if field is None:
        raise UnsupportedDTypeError(f"no TensorProto field holds {row.name} values")
    flat = arr.reshape(-1)
    if field == "half_val":
        getattr(proto, field).extend(int(x) for x in flat.view(np.uint16))
    elif field == "float8_val":
        proto.float8_val = flat.view(np.uint8).tobytes()
    elif field in ("scomplex_val", "dcomplex_val"):
        getattr(proto, field).extend(
            float(part) for x in flat for part in (x.real, x.imag))
    elif field == "bool_val":
        proto.bool_val.extend(bool(x) for x in flat)
    elif field == "float_val" or field == "double_val":
        getattr(proto, field).extend(float(x) for x in flat)
    else:
        getattr(proto, field).extend(int(x) for x in flat)
    return proto


def tensor_proto_to_numpy(proto: tensor_pb2.TensorProto, *, expand: bool = True) -> np.ndarray:
    """The array a ``TensorProto`` holds (``*_val`` shorter than the shape: last value repeats).

    With ``expand=False`` the values are checked the same way but returned as stored
    (flat, not repeated to the shape): validating a huge splat constant allocates nothing.
    """
    row = dtypes.as_dtype(proto.dtype)
    shape = shape_from_proto(proto.tensor_shape)
    if shape is None or any(dim is None for dim in shape):
        raise InvalidArgumentError(f"tensor shape {shape} is not fully defined")
    dims = tuple(int(dim) for dim in shape if dim is not None)
    if len(dims) > _MAX_RANK:
        raise InvalidArgumentError(
            f"tensor shape {list(dims)} has rank {len(dims)}; numpy arrays have at most "
            f"{_MAX_RANK} dimensions")
    count = math.prod(dims)
    if count > _INT64_MAX:
        raise InvalidArgumentError(
            f"tensor shape {list(dims)} has {count} elements, more than 2**63 - 1")
    if row.is_string:
        values: Any = list(proto.string_val)
        arr = np.empty(len(values), dtype=object)
        arr[:] = values
    elif row.numpy is None:
        raise UnsupportedDTypeError(f"cannot read a {row.name} tensor as an array")
    elif proto.tensor_content:
        arr = np.frombuffer(proto.tensor_content, dtype=row.numpy).copy()
    else:
        field = _VAL_FIELD[row.name]
        if field == "half_val":
            arr = np.array(list(proto.half_val), dtype=np.uint16).view(row.numpy)
        elif field == "float8_val":
            arr = np.frombuffer(proto.float8_val, dtype=np.uint8).view(row.numpy).copy()
        elif field in ("scomplex_val", "dcomplex_val"):
            parts = np.array(list(getattr(proto, field)), dtype=np.float64)
            arr = np.empty(len(parts) // 2, dtype=row.numpy)
            arr.real = parts[0::2]  # not re + 1j * im: that turns an infinite im into nan
            arr.imag = parts[1::2]
        else:
            arr = np.array(list(getattr(proto, field))).astype(row.numpy)
    if arr.size == count:
        return arr.reshape(dims) if expand else arr
    if arr.size == 0 and count:
        arr = np.zeros(1, dtype=arr.dtype) if not row.is_string else np.array([b""], dtype=object)
    if arr.size > count:
        raise InvalidArgumentError(
            f"tensor holds {arr.size} values but its shape {list(shape)} has {count}")
    if not expand:
        return arr
    filled = np.empty(count, dtype=arr.dtype)
    filled[:arr.size] = arr
    filled[arr.size:] = arr[-1] if arr.size else filled[:0]
    return filled.reshape(dims)


# --------------------------------------------------------------------------- shapes


def make_shape_proto(shape: Any) -> tensor_shape_pb2.TensorShapeProto:
    """``None`` -> unknown rank; a sequence of ints with ``None``/-1 for unknown dims."""
    if isinstance(shape, TensorShapeProto):
        return shape
    proto = TensorShapeProto()
    if shape is None:
        proto.unknown_rank = True
        return proto
    if not isinstance(shape, (tuple, list)) and (
            isinstance(shape, (str, bytes)) or not isinstance(shape, Iterable)):
        raise InvalidArgumentError(
            f"expected a shape (a list of ints/None, or None), got {shape!r}")
    for dim in shape:
        if dim is None:
            proto.dim.add(size=-1)
        elif isinstance(dim, (int, np.integer)) and not isinstance(dim, bool) and \
                -1 <= int(dim) <= _INT64_MAX:
            proto.dim.add(size=int(dim))
        else:
            raise InvalidArgumentError(
                f"bad dimension {dim!r} in shape {shape!r}: expected an int in [0, 2**63), "
                "-1 or None")
    return proto


@functools.lru_cache(maxsize=256)
def handle_data_bytes(dtype: int, shape: Shape | tuple[int, ...]) -> bytes:
    """One serialized ``handle_data`` entry (``DtypeAndShape``) of a resource argument: the
    variable behind it has DataType number ``dtype`` and ``shape`` (None: unknown rank;
    None or -1: an unknown dimension).  Made once per variable type: a function that
    captures a thousand variables repeats a few.

    Example: ``arg.handle_data.add().MergeFromString(handle_data_bytes(1, (64, 64)))``.
    """
    proto = op_def_pb2.OpDef.ArgDef().handle_data.add(dtype=proto_dtype(dtype))
    proto.shape.CopyFrom(make_shape_proto(shape))
    data = proto.SerializeToString()
    assert isinstance(data, bytes)
    return data


def shape_from_proto(proto: tensor_shape_pb2.TensorShapeProto) -> tuple[int | None, ...] | None:
    """A ``TensorShapeProto`` as a tuple (None rank / None dims)."""
    if proto.unknown_rank:
        return None
    return tuple(None if dim.size < 0 else int(dim.size) for dim in proto.dim)


# --------------------------------------------------------------------------- attr values


def _dtype_enum(value: Any, what: str) -> int:
    try:
        return dtypes.as_dtype(value).enum
    except UnsupportedDTypeError as exc:
        raise OpError(f"{what}: {exc}") from None


def _scalar_attr(kind: str, value: Any, what: str) -> dict[str, Any]:
    """The AttrValue field and value for one element of attr type ``kind``."""
    if kind == "string":
        if isinstance(value, (str, bytes, bytearray, np.bytes_, np.str_)):
            try:
                return {"s": _as_bytes(value)}
            except InvalidArgumentError as exc:
                raise OpError(f"{what}: {exc}") from None
    elif kind == "int":
        if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
            if not _INT64_MIN <= int(value) <= _INT64_MAX:
                raise OpError(f"{what}: int value {value!r} does not fit in 64 bits")
            return {"i": int(value)}
    elif kind == "float":
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
                value, (bool, np.bool_)):
            try:
                return {"f": float(value)}
            except OverflowError:
                raise OpError(f"{what}: {value!r} is too large for a float attr") from None
    elif kind == "bool":
        if isinstance(value, (bool, np.bool_)):
            return {"b": bool(value)}
    elif kind == "type":
        if isinstance(value, (str, int, np.integer, DType, np.dtype, type)):
            return {"type": _dtype_enum(value, what)}
    elif kind == "shape":
        try:
            return {"shape": make_shape_proto(value)}
        except InvalidArgumentError as exc:
            raise OpError(f"{what}: {exc}") from None
    elif kind == "tensor":
        try:
            return {"tensor": make_tensor_proto(value)}
        except InvalidArgumentError as exc:
            raise OpError(f"{what}: {exc}") from None
    elif kind == "func":
        if isinstance(value, str):
            return {"func": attr_value_pb2.NameAttrList(name=value)}
        if isinstance(value, attr_value_pb2.NameAttrList):
            return {"func": value}
    else:
        raise OpError(f"{what}: attr type {kind!r} cannot be set from a Python value")
    raise OpError(f"{what}: expected a {kind} value, got {value!r}")


def _infer_kind(value: Any) -> str:
    """The attr type of a value for an attr no OpDef declares (``_class`` and friends)."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    if isinstance(value, (str, bytes)):
        return "string"
    if isinstance(value, (DType, np.dtype)):
        return "type"
    if isinstance(value, np.ndarray):
        return "tensor"
    if isinstance(value, (list, tuple)):
        if not value:
            return "list(string)"
        return f"list({_infer_kind(value[0])})"
    raise OpError(f"cannot tell the attr type of {value!r}; expected a bool, int, float, "
                  f"str/bytes, dtype, numpy array or a list of one of those (or an AttrValue)")


def make_attr_value(value: Any, attr_type: str | None, *, what: str = "attr") -> AttrValue:
    """``value`` as an ``AttrValue`` of the declared ``attr_type`` (None: guess from value).

    An ``AttrValue`` passes through unchanged.  ``what`` names the attr in errors.
    """
    if isinstance(value, AttrValue):
        return value
    kind = attr_type or _infer_kind(value)
    if kind.startswith("list(") and kind.endswith(")"):
        inner = kind[5:-1]
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, np.ndarray)) \
                or (isinstance(value, np.ndarray) and value.ndim != 1):
            raise OpError(f"{what}: expected a list of {inner} values, got {value!r}")
        out = AttrValue()
        out.list.SetInParent()
        for item in value:
            ((field, converted),) = _scalar_attr(inner, item, what).items()
            if field in ("shape", "tensor", "func"):
                getattr(out.list, field).add().CopyFrom(converted)
            else:
                getattr(out.list, field).append(converted)
        return out
    ((field, converted),) = _scalar_attr(kind, value, what).items()
    out = AttrValue()
    if field in ("shape", "tensor", "func"):
        getattr(out, field).CopyFrom(converted)
    else:
        setattr(out, field, converted)
    return out


_LIST_FIELDS = ("s", "i", "f", "b", "type", "shape", "tensor", "func")
_SCALAR_KIND = {"s": "string", "i": "int", "f": "float", "b": "bool", "type": "type",
                "shape": "shape", "tensor": "tensor", "func": "func",
                "placeholder": "placeholder"}


def attr_value_kind(value: AttrValue) -> str | None:
    """The attr type an ``AttrValue`` holds (``"int"``, ``"list(type)"``); None if unset.

    An empty list is ``"list()"`` (it matches every list type).
    """
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "list":
        for field in _LIST_FIELDS:
            if len(getattr(value.list, field)):
                return f"list({_SCALAR_KIND[field]})"
        return "list()"
    return _SCALAR_KIND[which]


def attr_value_to_python(value: AttrValue) -> Any:
    """An ``AttrValue`` as a plain Python value (dtypes as :class:`DType`, shapes as tuples)."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "list":
        kind = attr_value_kind(value)
        if kind == "list()":
            return []
        assert kind is not None
        field = {v: k for k, v in _SCALAR_KIND.items()}[kind[5:-1]]
        return [_one_to_python(field, item) for item in getattr(value.list, field)]
    return _one_to_python(which, getattr(value, which))


def _one_to_python(field: str, item: Any) -> Any:
    if field == "type":
        return dtypes.as_dtype(item)
    if field == "shape":
        return shape_from_proto(item)
    if field == "tensor":
        return tensor_proto_to_numpy(item)
    if field == "func":
        return item.name
    return item


def type_names(enums: Sequence[int]) -> str:
    """``[float32, int64]``: a list of DataType numbers as messages show it."""
    return "[" + ", ".join(dtypes.dtype_name(enum) for enum in enums) + "]"


def type_name(enum: int) -> str:
    """Name of a DataType number (``float32``): :func:`pysavedmodel.dtypes.dtype_name`."""
    return dtypes.dtype_name(enum)


_PASSED: dict[tuple[int, str, object], op_def_pb2.OpDef.AttrDef] = {}
"""Scalar values (``type``, ``b``, ``i``, short ``s``) that passed :func:`check_attr_value`
against an AttrDef, keyed by the AttrDef's id (the AttrDef is the value: an id reused
after the AttrDef is gone does not match)."""
_PASSED_MAX = 8192
_MEMO_FIELDS = frozenset({"type", "b", "i", "s"})


def check_attr_value(value: AttrValue, attr_def: op_def_pb2.OpDef.AttrDef, where: str) -> None:
    """Raise :class:`OpError` unless ``value`` fits ``attr_def`` (type, allowed values, minimum).

    ``where`` names the node/op for the message.  Scalar values that passed once for
    the same AttrDef pass again without the checks (the result depends on nothing else).
    """
    which = value.WhichOneof("value")
    if which in _MEMO_FIELDS:
        item = getattr(value, which)
        if which != "s" or len(item) <= 64:
            key = (id(attr_def), which, item)
            if _PASSED.get(key) is attr_def:
                return
            _check_attr_value(value, attr_def, where)
            if len(_PASSED) >= _PASSED_MAX:
                _PASSED.clear()
            _PASSED[key] = attr_def
            return
    _check_attr_value(value, attr_def, where)


def _check_attr_value(value: AttrValue, attr_def: op_def_pb2.OpDef.AttrDef, where: str) -> None:
    what = f"{where} attr '{attr_def.name}'"
    kind = attr_value_kind(value)
    declared = attr_def.type
    if kind is None:
        raise OpError(f"{what} has no value; expected {declared}")
    if kind != declared and not (kind == "list()" and declared.startswith("list(")):
        raise OpError(f"{what} has a {kind} value; expected {declared}")
    is_list = declared.startswith("list(")
    if is_list and attr_def.has_minimum and len(_list_items(value)) < attr_def.minimum:
        raise OpError(f"{what} has {len(_list_items(value))} elements; expected at least "
                      f"{attr_def.minimum}")
    if declared == "int" and attr_def.has_minimum and value.i < attr_def.minimum:
        raise OpError(f"{what} is {value.i}; expected at least {attr_def.minimum}")
    allowed = attr_def.allowed_values.list
    if declared in ("type", "list(type)") and len(allowed.type):
        items = [value.type] if declared == "type" else list(value.list.type)
        for item in items:
            if item not in allowed.type:
                raise OpError(f"{what} is {type_name(item)}; expected one of "
                              f"{type_names(list(allowed.type))}")
    if declared in ("string", "list(string)") and len(allowed.s):
        names = [value.s] if declared == "string" else list(value.list.s)
        for name in names:
            if name not in allowed.s:
                choices = ", ".join(repr(s.decode("utf-8", "replace")) for s in allowed.s)
                raise OpError(f"{what} is {name.decode('utf-8', 'replace')!r}; expected one of "
                              f"[{choices}]")


def _list_items(value: AttrValue) -> list[Any]:
    for field in _LIST_FIELDS:
        items = getattr(value.list, field)
        if len(items):
            return list(items)
    return []


def check_no_function(value: AttrValue, what: str) -> None:
    """Raise :class:`OpError` if ``value`` names a function: we write no function library."""
    which = value.WhichOneof("value")
    if which == "func":
        functions = [value.func]
    elif which == "list":
        functions = list(value.list.func)
    else:
        return
    for function in functions:
        if function.name:
            raise OpError(f"{what} calls function {function.name!r}; graphs with a function "
                          f"library are not supported")
