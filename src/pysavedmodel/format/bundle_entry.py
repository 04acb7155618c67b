"""``BundleEntryProto`` bytes of a stored tensor, encoded without protobuf objects.

Writing a checkpoint of many small tensors is dominated by per-tensor overhead, and
building + serializing a protobuf message per tensor is a large part of it.  A data
entry is a tiny proto3 message, so it is encoded directly here.  The result equals
``BundleEntryProto.SerializeToString(deterministic=True)`` of the same entry (tests
compare the two): fields in field-number order, zero-valued scalars omitted, and the
``shape`` message always present, even when empty (a scalar), as TensorFlow sets it.

Wire layout (tag = field number << 3 | wire type; varints are base-128)::

    0x08 varint dtype                      field 1, omitted when 0
    0x12 varint len | TensorShapeProto     field 2, always written
         per dimension: 0x12 varint len | Dim
                        Dim: 0x08 varint size      (omitted when 0)
    0x18 varint shard_id                   field 3, omitted when 0
    0x20 varint offset                     field 4, omitted when 0
    0x28 varint size                       field 5, omitted when 0
    0x35 fixed32 crc32c "<I"               field 6, omitted when 0

Entries with ``slices`` (partitioned tensors, rare) are still built with protobuf.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from .varint import encode_varint64

__all__ = ["encode_shape", "encode_entry", "EntryEncoder"]

_DTYPE_TAG = b"\x08"
_SHAPE_TAG = b"\x12"
_DIM_TAG = b"\x12"       # TensorShapeProto.dim, field 2
_DIM_SIZE_TAG = b"\x08"  # TensorShapeProto.Dim.size, field 1
_SHARD_TAG = b"\x18"
_OFFSET_TAG = b"\x20"
_SIZE_TAG = b"\x28"
_CRC_FIELD = struct.Struct("<BI")  # tag 0x35, then the fixed32 masked crc32c
_CRC_TAG = 0x35


def _varint_field(tag: bytes, value: int) -> bytes:
    """A varint scalar field; proto3 leaves out fields holding 0."""
    return tag + encode_varint64(value) if value else b""


def _encode_dim(size: int) -> bytes:
    body = _varint_field(_DIM_SIZE_TAG, size)
    return _DIM_TAG + encode_varint64(len(body)) + body


def encode_shape(shape: Sequence[int]) -> bytes:
    """The ``shape`` field (tag, length, ``TensorShapeProto``) of an entry."""
    body = b"".join([_encode_dim(int(size)) for size in shape])
    return _SHAPE_TAG + encode_varint64(len(body)) + body


class EntryEncoder:
    """Encodes entries, remembering the fields that repeat across the tensors of a checkpoint.

    Only the offset and the checksum differ between tensors of the same dtype, shape
    and shard; the fields before and after the offset are kept per distinct
    (dtype, shape, shard_id, size).  Use one encoder per checkpoint, so the memo goes
    away with it.
    """

    def __init__(self) -> None:
        self._fixed_fields: dict[tuple[int, tuple[int, ...], int, int], tuple[bytes, bytes]] = {}

    def encode(self, dtype: int, shape: tuple[int, ...], shard_id: int, offset: int,
               size: int, crc32c: int) -> bytes:
        """Serialized ``BundleEntryProto``; ``crc32c`` is the masked checksum."""
        memo_key = (dtype, shape, shard_id, size)
        fixed = self._fixed_fields.get(memo_key)
        if fixed is None:
            fixed = self._fixed_fields[memo_key] = (
                _varint_field(_DTYPE_TAG, dtype) + encode_shape(shape)
                + _varint_field(_SHARD_TAG, shard_id),
                _varint_field(_SIZE_TAG, size),
            )
        before_offset, after_offset = fixed
        return b"".join((
            before_offset,
            _OFFSET_TAG + encode_varint64(offset) if offset else b"",
            after_offset,
            _CRC_FIELD.pack(_CRC_TAG, crc32c) if crc32c else b"",
        ))


def encode_entry(dtype: int, shape: Sequence[int], shard_id: int, offset: int, size: int,
                 crc32c: int) -> bytes:
    """Serialized ``BundleEntryProto`` of a tensor stored in a data file (no slices).

    ``crc32c`` is the masked checksum.  Equal to protobuf's serialization of the entry.
    """
    return EntryEncoder().encode(dtype, tuple(int(d) for d in shape), shard_id, offset, size,
                                 crc32c)
