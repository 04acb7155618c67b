"""The one dtype table: TensorFlow ``DataType`` numbers, numpy dtypes, names.

Each row is keyed by the ``DataType`` enum value (the wire number, see
``protos/tensorflow/core/framework/types.proto``).  Every other lookup
(by name, by numpy dtype) is derived from :data:`DTYPES`, never kept by hand.

``checkpointable`` marks what the checkpoint writer accepts: fixed-size
numeric types stored as raw little-endian bytes, plus ``string``.  Types with
``numpy=None`` (resource, variant, quantized types) can appear in graphs as op
attrs but have no array representation here.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from .errors import UnsupportedDTypeError

__all__ = [
    "DType", "DTYPES", "by_name", "from_numpy", "as_dtype", "dtype_name", "DT_INVALID",
    "DT_FLOAT", "DT_DOUBLE", "DT_INT32", "DT_UINT8", "DT_INT16", "DT_INT8",
    "DT_STRING", "DT_COMPLEX64", "DT_INT64", "DT_BOOL", "DT_BFLOAT16",
    "DT_UINT16", "DT_COMPLEX128", "DT_HALF", "DT_RESOURCE", "DT_VARIANT",
    "DT_UINT32", "DT_UINT64", "REF_OFFSET",
]

REF_OFFSET: Final = 100
"""``DT_FLOAT_REF`` is ``DT_FLOAT + 100``: reference (TF1 variable) types."""


@dataclass(frozen=True)
class DType:
    """One row of the dtype table."""

    enum: int
    """TensorFlow ``DataType`` number."""
    proto_name: str
    """Enum name in types.proto (``DT_FLOAT``)."""
    name: str
    """TensorFlow's Python name (``float32``)."""
    _numpy: Any = field(repr=False, compare=False)
    """numpy dtype, None, or the name of an ``ml_dtypes`` type resolved on first use."""
    _itemsize: int = field(repr=False, compare=False)
    checkpointable: bool = True
    """Whether checkpoints (SaveV2 / TensorBundle) can hold values of this type."""
    aliases: tuple[str, ...] = ()
    """Other names :func:`by_name` accepts (``float`` for ``float32``)."""

    @property
    def numpy(self) -> np.dtype[Any] | None:
        """numpy dtype of an array of this type (little-endian), or None.

        bfloat16, float8, int4 and the other low-precision types come from
        ``ml_dtypes``, imported only when one of them is asked for here.
        """
        value = self._numpy
        if isinstance(value, str):
            value = _ml_dtype(value)
            object.__setattr__(self, "_numpy", value)
        return value  # type: ignore[no-any-return]

    @property
    def itemsize(self) -> int:
        """Bytes per element in a checkpoint (0: variable size, or not storable)."""
        if self._itemsize < 0:
            numpy = self.numpy
            object.__setattr__(self, "_itemsize", 0 if numpy is None else numpy.itemsize)
        return self._itemsize

    @property
    def is_string(self) -> bool:
        """Whether this is ``string`` (variable-length bytes, not a fixed-size type)."""
        return self.enum == DT_STRING

    def __str__(self) -> str:
        return self.name


def _ml_dtype(name: str) -> np.dtype[Any] | None:
    """``ml_dtypes.<name>`` as a little-endian numpy dtype (None if this ml_dtypes lacks it)."""
    import ml_dtypes  # ~0.1-0.8 s: only when a low-precision type is used

    scalar = getattr(ml_dtypes, name, None)
    return None if scalar is None else np.dtype(scalar).newbyteorder("<")


def _row(enum: int, proto_name: str, name: str, numpy: Any, *, ckpt: bool = True,
         aliases: tuple[str, ...] = ()) -> DType:
    if isinstance(numpy, _Lazy):
        return DType(enum, proto_name, name, numpy.name, -1, ckpt, aliases)
    dtype = None if numpy is None else np.dtype(numpy).newbyteorder("<")
    if dtype is not None and dtype.kind in "OSU":
        itemsize = 0
    else:
        itemsize = 0 if dtype is None else dtype.itemsize
    return DType(enum, proto_name, name, dtype, itemsize, ckpt, aliases)


class _Lazy:
    """An ``ml_dtypes`` type named in the table, not imported until used."""

    def __init__(self, name: str) -> None:
        self.name = name


DT_INVALID: Final = 0
DT_FLOAT: Final = 1
DT_DOUBLE: Final = 2
DT_INT32: Final = 3
DT_UINT8: Final = 4
DT_INT16: Final = 5
DT_INT8: Final = 6
DT_STRING: Final = 7
DT_COMPLEX64: Final = 8
DT_INT64: Final = 9
DT_BOOL: Final = 10
DT_BFLOAT16: Final = 14
DT_UINT16: Final = 17
DT_COMPLEX128: Final = 18
DT_HALF: Final = 19
DT_RESOURCE: Final = 20
DT_VARIANT: Final = 21
DT_UINT32: Final = 22
DT_UINT64: Final = 23

_ROWS = [
    _row(DT_FLOAT, "DT_FLOAT", "float32", np.float32, aliases=("float",)),
    _row(DT_DOUBLE, "DT_DOUBLE", "float64", np.float64, aliases=("double",)),
    _row(DT_INT32, "DT_INT32", "int32", np.int32),
    _row(DT_UINT8, "DT_UINT8", "uint8", np.uint8),
    _row(DT_INT16, "DT_INT16", "int16", np.int16),
    _row(DT_INT8, "DT_INT8", "int8", np.int8),
    _row(DT_STRING, "DT_STRING", "string", object, aliases=("str", "bytes")),
    _row(DT_COMPLEX64, "DT_COMPLEX64", "complex64", np.complex64),
    _row(DT_INT64, "DT_INT64", "int64", np.int64),
    _row(DT_BOOL, "DT_BOOL", "bool", np.bool_),
    _row(11, "DT_QINT8", "qint8", None, ckpt=False),
    _row(12, "DT_QUINT8", "quint8", None, ckpt=False),
    _row(13, "DT_QINT32", "qint32", None, ckpt=False),
    _row(DT_BFLOAT16, "DT_BFLOAT16", "bfloat16", _Lazy("bfloat16")),
    _row(15, "DT_QINT16", "qint16", None, ckpt=False),
    _row(16, "DT_QUINT16", "quint16", None, ckpt=False),
    _row(DT_UINT16, "DT_UINT16", "uint16", np.uint16),
    _row(DT_COMPLEX128, "DT_COMPLEX128", "complex128", np.complex128),
    _row(DT_HALF, "DT_HALF", "float16", np.float16, aliases=("half",)),
    _row(DT_RESOURCE, "DT_RESOURCE", "resource", None, ckpt=False),
    _row(DT_VARIANT, "DT_VARIANT", "variant", None, ckpt=False),
    _row(DT_UINT32, "DT_UINT32", "uint32", np.uint32),
    _row(DT_UINT64, "DT_UINT64", "uint64", np.uint64),
    # Low-precision types: graph attrs only until checked against TF 2.21's SaveV2.
    _row(24, "DT_FLOAT8_E5M2", "float8_e5m2", _Lazy("float8_e5m2"), ckpt=False),
    _row(25, "DT_FLOAT8_E4M3FN", "float8_e4m3fn", _Lazy("float8_e4m3fn"), ckpt=False),
    _row(26, "DT_FLOAT8_E4M3FNUZ", "float8_e4m3fnuz", _Lazy("float8_e4m3fnuz"), ckpt=False),
    _row(27, "DT_FLOAT8_E4M3B11FNUZ", "float8_e4m3b11fnuz", _Lazy("float8_e4m3b11fnuz"),
         ckpt=False),
    _row(28, "DT_FLOAT8_E5M2FNUZ", "float8_e5m2fnuz", _Lazy("float8_e5m2fnuz"), ckpt=False),
    _row(29, "DT_INT4", "int4", _Lazy("int4"), ckpt=False),
    _row(30, "DT_UINT4", "uint4", _Lazy("uint4"), ckpt=False),
    _row(31, "DT_INT2", "int2", _Lazy("int2"), ckpt=False),
    _row(32, "DT_UINT2", "uint2", _Lazy("uint2"), ckpt=False),
    _row(33, "DT_FLOAT4_E2M1FN", "float4_e2m1fn", _Lazy("float4_e2m1fn"),
         ckpt=False),
]

DTYPES: Final[Mapping[int, DType]] = {row.enum: row for row in _ROWS}
"""DataType number -> :class:`DType`."""

_BY_NAME: Final[Mapping[str, DType]] = {
    key: row for row in _ROWS
    for key in (row.name, row.proto_name, row.proto_name[3:].lower(), *row.aliases)
}
_BY_NUMPY: dict[np.dtype[Any], DType] = {
    row._numpy: row for row in _ROWS
    if isinstance(row._numpy, np.dtype) and row._numpy.kind != "O"
}
"""numpy dtype -> row; the ``ml_dtypes`` rows join on the first ml_dtypes array seen."""


def _numpy_row(dt: np.dtype[Any]) -> DType | None:
    row = _BY_NUMPY.get(dt.newbyteorder("<")) if dt.byteorder != "|" else _BY_NUMPY.get(dt)
    if row is None:
        row = _BY_NUMPY.get(dt)
    if row is None and "ml_dtypes" in sys.modules:
        # An ml_dtypes dtype can only exist once ml_dtypes is imported: resolve its rows.
        for lazy in _ROWS:
            if lazy.numpy is not None and lazy.numpy.kind != "O":
                _BY_NUMPY.setdefault(lazy.numpy, lazy)
        row = _BY_NUMPY.get(dt)
    return row


def by_name(name: str) -> DType:
    """Look a dtype up by TF name (``float32``), alias (``float``) or enum name."""
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(row.name for row in _ROWS))
        raise UnsupportedDTypeError(
            f"unknown dtype name {name!r}; expected one of: {known}") from None


def from_numpy(dtype: Any) -> DType:
    """The table row of a numpy dtype (any byte order; ``S``/``U``/object -> string)."""
    dt = np.dtype(dtype)
    if dt.kind in "OSU":
        return DTYPES[DT_STRING]
    row = _numpy_row(dt)
    if row is None:
        raise UnsupportedDTypeError(
            f"numpy dtype {dt.str!r} ({dt}) has no TensorFlow DataType here")
    return row


def as_dtype(value: Any) -> DType:
    """Coerce a DType, DataType number, name, numpy dtype or numpy type to a row."""
    if isinstance(value, DType):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        row = DTYPES.get(int(value))
        if row is None:
            raise UnsupportedDTypeError(
                f"unknown DataType number {int(value)}; expected one of {sorted(DTYPES)}")
        return row
    if isinstance(value, str):
        return by_name(value)
    try:
        return from_numpy(value)
    except TypeError:
        raise UnsupportedDTypeError(f"cannot interpret {value!r} as a dtype") from None


def dtype_name(enum: int, *, proto: bool = False) -> str:
    """The one way the package names a ``DataType`` number in messages and listings.

    ``proto=False`` gives TensorFlow's Python name (``float32``), ``proto=True`` the
    enum name (``DT_FLOAT``, as ``saved_model_cli`` prints).  Reference types
    (``enum + 100``, TF1 variables) get ``_ref`` / ``_REF``; numbers TensorFlow does
    not define come out as ``DataType 1234``.

    >>> dtype_name(1), dtype_name(1, proto=True), dtype_name(101), dtype_name(999)
    ('float32', 'DT_FLOAT', 'float32_ref', 'DataType 999')
    >>> dtype_name(0, proto=True)
    'DT_INVALID'

    """
    if enum == DT_INVALID:  # unset: what init/train op signatures record
        return "DT_INVALID" if proto else "invalid"
    row = DTYPES.get(enum)
    suffix = ""
    if row is None and enum > REF_OFFSET:
        row = DTYPES.get(enum - REF_OFFSET)
        suffix = "_REF" if proto else "_ref"
    if row is None:
        return f"DataType {enum}"
    return (row.proto_name if proto else row.name) + suffix
