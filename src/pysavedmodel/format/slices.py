"""Slices of partitioned tensors: parsing, validation and TensorSliceProto conversion.

A slice is one ``(start, length)`` extent per dimension of the full tensor;
``length == -1`` (with ``start == 0``) stands for the whole dimension, which is
how TensorFlow stores it (an empty ``TensorSliceProto.Extent``).

TensorFlow spells slices as text in SaveV2's ``shape_and_slices``: the full
shape, then the slice, e.g. ``"6 4 0,4:-"`` (rows 0..3, all columns), where each
``:``-separated field is ``start,length`` or ``-`` for the whole dimension.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

from pysavedmodel import dtypes
from pysavedmodel._proto import tensor_slice_pb2
from pysavedmodel.errors import CorruptCheckpointError, InvalidArgumentError

__all__ = [
    "Extent", "FULL", "SliceSpec", "parse_slice_string", "normalize_slice",
    "slice_shape", "is_full_slice", "slices_overlap", "index_of", "to_proto", "from_proto",
    "ASSEMBLABLE_DTYPES",
]

Extent = tuple[int, int]
"""``(start, length)`` of one dimension; ``FULL`` = the whole dimension."""

FULL: Extent = (0, -1)

SliceSpec = Union[str, Sequence[Sequence[int]]]

ASSEMBLABLE_DTYPES = frozenset({
    dtypes.DT_FLOAT, dtypes.DT_DOUBLE, dtypes.DT_INT32, dtypes.DT_UINT8, dtypes.DT_INT16,
    dtypes.DT_INT8, dtypes.DT_COMPLEX64, dtypes.DT_COMPLEX128, dtypes.DT_INT64, dtypes.DT_BOOL,
    dtypes.DT_BFLOAT16,
})
"""DataTypes whose partitioned tensors TF 2.21 can restore.  SaveV2 also stores slices of
half, uint16/32/64 and string tensors, but RestoreV2 then fails ("Dtype ... not
supported"), so the writer refuses them (checked against TensorFlow 2.21)."""


def _parse_int(text: str, what: str, spec: str) -> int:
    try:
        return int(text, 10)
    except ValueError:
        raise InvalidArgumentError(
            f"slice spec {spec!r}: {what} {text!r} is not an integer") from None


def parse_slice_string(spec: str) -> tuple[Extent, ...]:
    """Parse TF's slice text (``"0,4:-"``) into extents; ``""`` is an empty (rank-0/full) slice."""
    if spec == "":
        return ()
    extents = []
    for field in spec.split(":"):
        if field == "-":
            extents.append(FULL)
            continue
        parts = field.split(",")
        if len(parts) != 2:
            raise InvalidArgumentError(
                f"slice spec {spec!r}: field {field!r} must be 'start,length' or '-'")
        extents.append((_parse_int(parts[0], "start", spec), _parse_int(parts[1], "length", spec)))
    return tuple(extents)


def _split_shape_and_slice(spec: str, full_shape: tuple[int, ...]) -> str:
    """Accept TF's full ``"6 4 0,4:-"`` form: check the shape part, return the slice part."""
    pieces = spec.split(" ")
    dims = tuple(_parse_int(p, "dimension", spec) for p in pieces[:-1])
    if dims != full_shape:
        raise InvalidArgumentError(
            f"shape_and_slice {spec!r} names shape {list(dims)}, but full_shape is "
            f"{list(full_shape)}")
    return pieces[-1]


def normalize_slice(full_shape: Sequence[int], slice_spec: SliceSpec) -> tuple[Extent, ...]:
    """Validate a slice of ``full_shape`` and return one ``(start, length)`` per dimension.

    ``slice_spec`` is TF's text (``"0,4:-"``, or the full ``"6 4 0,4:-"`` whose shape must
    equal ``full_shape``; ``""`` = the whole tensor) or a sequence of ``(start, length)``
    pairs with ``length == -1`` for a whole dimension. Raises InvalidArgumentError for a
    wrong rank or an extent outside the full shape.
    """
    shape = tuple(int(d) for d in full_shape)
    if any(d < 0 for d in shape):
        raise InvalidArgumentError(f"full_shape {list(shape)} has a negative dimension")
    if isinstance(slice_spec, str):
        text = slice_spec.strip()
        if " " in text:
            text = _split_shape_and_slice(text, shape)
        extents = parse_slice_string(text)
        if text == "":
            extents = (FULL,) * len(shape)
    else:
        try:
            extents = tuple((int(start), int(length)) for start, length in slice_spec)
        except (TypeError, ValueError):
            raise InvalidArgumentError(
                f"slice spec {slice_spec!r} must be a string like '0,4:-' or a sequence of "
                f"(start, length) pairs") from None
    if len(extents) != len(shape):
        raise InvalidArgumentError(
            f"slice spec {slice_spec!r} has {len(extents)} dimensions, full_shape "
            f"{list(shape)} has {len(shape)}")
    for axis, ((start, length), dim) in enumerate(zip(extents, shape)):
        if length == -1:
            if start != 0:
                raise InvalidArgumentError(
                    f"slice spec {slice_spec!r}: dimension {axis} has length -1 (whole "
                    f"dimension) but start {start}; a whole dimension starts at 0")
            continue
        if start < 0 or length < 0 or start + length > dim:
            raise InvalidArgumentError(
                f"slice spec {slice_spec!r}: extent [{start}, {start + length}) of dimension "
                f"{axis} is outside [0, {dim})")
    return extents


def _bounds(extents: Sequence[Extent], shape: Sequence[int]) -> tuple[tuple[int, int], ...]:
    return tuple((0, dim) if length == -1 else (start, start + length)
                 for (start, length), dim in zip(extents, shape))


def slice_shape(full_shape: Sequence[int], extents: Sequence[Extent]) -> tuple[int, ...]:
    """Shape of the values a slice holds."""
    return tuple(hi - lo for lo, hi in _bounds(extents, full_shape))


def is_full_slice(full_shape: Sequence[int], extents: Sequence[Extent]) -> bool:
    """True if the slice covers the whole tensor (TF then stores it as a plain tensor)."""
    return slice_shape(full_shape, extents) == tuple(full_shape)


def slices_overlap(full_shape: Sequence[int], a: Sequence[Extent], b: Sequence[Extent]) -> bool:
    """True if two slices of one tensor share at least one element."""
    for (a_lo, a_hi), (b_lo, b_hi) in zip(_bounds(a, full_shape), _bounds(b, full_shape)):
        if max(a_lo, b_lo) >= min(a_hi, b_hi):
            return False
    return True


def index_of(full_shape: Sequence[int], extents: Sequence[Extent]) -> tuple[slice, ...]:
    """numpy index selecting the slice inside the full tensor."""
    return tuple(slice(lo, hi) for lo, hi in _bounds(extents, full_shape))


def to_proto(extents: Sequence[Extent]) -> tensor_slice_pb2.TensorSliceProto:
    """TensorSliceProto as TF writes it: an empty Extent for a whole dimension."""
    proto = tensor_slice_pb2.TensorSliceProto()
    for start, length in extents:
        extent = proto.extent.add()
        if length != -1:
            extent.start = start
            extent.length = length
    return proto


def from_proto(proto: tensor_slice_pb2.TensorSliceProto, full_shape: Sequence[int],
               *, where: str) -> tuple[Extent, ...]:
    """Extents of a stored slice; CorruptCheckpointError (naming ``where``) if it is invalid."""
    extents = tuple(
        (ext.start, ext.length) if ext.HasField("length") else (ext.start, -1)
        for ext in proto.extent)
    try:
        return normalize_slice(full_shape, extents)
    except InvalidArgumentError as exc:
        raise CorruptCheckpointError(f"{where}: invalid stored slice: {exc}") from None
