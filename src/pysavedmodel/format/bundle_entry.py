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

Many entries at once (:class:`EntryGroups`): tensors sharing dtype, shape and shard
share every field but the offset and the crc, so the entries of a checkpoint of many
small tensors are put together with numpy from one encoded prefix and size field per
group, the varints of the offsets and the crc bytes (rows of a byte matrix, see
:data:`.table.RowParts`), without a Python step per entry.

Decoding (:func:`decode_entry`) accepts the plain form writers produce: the fields
above, in any order, each at most once, varints of at most 9 bytes (no negative
values), dims holding only a size, no ``slices`` (field 7) and no ``unknown_rank``.
It returns None for anything else, malformed bytes included, and the caller parses
those with protobuf, so the two ways agree on every entry both accept (tests check).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from pysavedmodel._proto import tensor_bundle_pb2

from .varint import encode_varint64, varint_columns

__all__ = ["encode_shape", "encode_entry", "EntryEncoder", "EntryGroups", "EntryFields",
           "decode_entry", "entry_fields", "DecodedEntries", "decode_entries"]

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


class EntryGroups:
    """Entries of many tensors at once: tensors are put in groups of equal dtype, shape
    and shard (:meth:`group`), then :meth:`encode` gives every entry from the group
    numbers, offsets and checksums, with numpy.  Each entry equals :func:`encode_entry`'s.
    """

    def __init__(self) -> None:
        self._groups: dict[tuple[int, tuple[int, ...], int, int], int] = {}
        self._prefixes: list[bytes] = []  # dtype, shape and shard_id fields
        self._sizes: list[bytes] = []     # the size field
        self._nbytes: list[int] = []      # the size

    def group(self, dtype: int, shape: tuple[int, ...], shard_id: int, size: int) -> int:
        """The group number of tensors of this dtype, shape, shard and byte size."""
        memo_key = (dtype, shape, shard_id, size)
        number = self._groups.get(memo_key)
        if number is None:
            number = self._groups[memo_key] = len(self._prefixes)
            self._prefixes.append(_varint_field(_DTYPE_TAG, dtype) + encode_shape(shape)
                                  + _varint_field(_SHARD_TAG, shard_id))
            self._sizes.append(_varint_field(_SIZE_TAG, size))
            self._nbytes.append(size)
        return number

    def sizes(self) -> np.ndarray:
        """The byte size of each group's tensors, by group number."""
        return np.array(self._nbytes, np.int64)

    def group_many(self, dtypes: np.ndarray, dims: list[tuple[int, ...]], shapes: np.ndarray,
                   shard_ids: np.ndarray, sizes: np.ndarray) -> np.ndarray:
        """:meth:`group` of many tensors: ``dims[shapes[i]]`` is tensor ``i``'s shape."""
        columns = []
        code = np.zeros(len(dtypes), np.int64)
        for column in (dtypes, shapes, shard_ids, sizes):  # one integer per combination
            values, inverse = np.unique(column, return_inverse=True)
            columns.append(values.tolist())
            code = code * len(values) + inverse.reshape(-1)
        combos, first, inverse = np.unique(code, return_index=True, return_inverse=True)
        d, s, shard, size = (dtypes[first].tolist(), shapes[first].tolist(),
                             shard_ids[first].tolist(), sizes[first].tolist())
        numbers = np.array([self.group(int(d[i]), dims[int(s[i])], int(shard[i]), int(size[i]))
                            for i in range(len(combos))], np.intp)
        out: np.ndarray = numbers[inverse.reshape(-1)]
        return out

    def encode(self, groups: np.ndarray, offsets: np.ndarray, crcs: np.ndarray, *,
               masked: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
        """The entries of tensors in ``groups`` (numbers from :meth:`group`) at ``offsets``
        with the crc32c ``crcs`` (unmasked unless ``masked``), as byte rows
        (:data:`.table.RowParts`)."""
        n = len(groups)
        parts = []
        for table in (self._prefixes, None, self._sizes):
            if table is None:  # the offset: tag and varint, left out when 0
                digits, lengths = varint_columns(offsets)
                matrix = np.empty((n, 1 + digits.shape[1]), np.uint8)
                matrix[:, 0] = _OFFSET_TAG[0]
                matrix[:, 1:] = digits
                parts.append((matrix, np.where(offsets != 0, lengths + 1, 0)))
                continue
            fields = _pack(table)
            parts.append((fields[0][groups], fields[1][groups]))
        crc = crcs.astype(np.uint64) & np.uint64(0xFFFFFFFF)
        if masked:
            stored = crc.astype("<u4")
        else:
            stored = ((((crc >> np.uint64(15)) | (crc << np.uint64(17)))
                       + np.uint64(_MASK_DELTA)) & np.uint64(0xFFFFFFFF)).astype("<u4")
        matrix = np.empty((n, 5), np.uint8)
        matrix[:, 0] = _CRC_TAG
        matrix[:, 1:] = stored.view(np.uint8).reshape(n, 4)
        parts.append((matrix, np.where(stored != 0, 5, 0)))
        return parts


_MASK_DELTA = 0xA282EAD8
"""LevelDB's crc mask constant (as in :func:`.crc32c.mask`)."""


def _pack(items: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.fromiter(map(len, items), dtype=np.int64, count=len(items))
    matrix = np.zeros((len(items), int(lengths.max()) if items else 0), np.uint8)
    for i, item in enumerate(items):
        matrix[i, :len(item)] = np.frombuffer(item, np.uint8)
    return matrix, lengths


def encode_entry(dtype: int, shape: Sequence[int], shard_id: int, offset: int, size: int,
                 crc32c: int) -> bytes:
    """Serialized ``BundleEntryProto`` of a tensor stored in a data file (no slices).

    ``crc32c`` is the masked checksum.  Equal to protobuf's serialization of the entry.
    """
    return EntryEncoder().encode(dtype, tuple(int(d) for d in shape), shard_id, offset, size,
                                 crc32c)


EntryFields = tuple[int, tuple[int, ...], bool, int, int, int, int]
"""An entry's (dtype, dims, unknown_rank, shard_id, offset, size, masked crc32c)."""

_MAX_REMEMBERED_SHAPES = 4096
"""Encoded shapes :func:`decode_entry` remembers per index."""

_SCALAR_SLOTS = {0x08: 0, 0x18: 3, 0x20: 4, 0x28: 5}
"""Tag byte of a varint field of BundleEntryProto -> its slot in :data:`EntryFields`."""

_INT32_MAX = 0x7FFFFFFF


def entry_fields(entry: tensor_bundle_pb2.BundleEntryProto) -> EntryFields:
    """The fields of a parsed (protobuf) entry, as :func:`decode_entry` gives them."""
    shape = entry.shape
    return (entry.dtype, tuple([d.size for d in shape.dim]), shape.unknown_rank,
            entry.shard_id, entry.offset, entry.size, entry.crc32c)


def decode_entry(value: bytes, shapes: dict[bytes, tuple[int, ...]]) -> EntryFields | None:
    """The fields of a serialized entry in the plain form (module docstring), else None.

    None for anything else, malformed bytes included: parse those with protobuf.
    ``shapes`` remembers the dims of encoded shapes seen before (writers repeat a few);
    pass the same dict for the entries of one index.
    """
    common = _decode_common(value, shapes)
    if common is not None:
        return common
    n = len(value)
    i = 0
    fields: list[Any] = [0, (), False, 0, 0, 0, 0]
    seen = 0
    while i < n:
        tag = value[i]
        i += 1
        if tag == 0x35:  # crc32c, fixed32
            if seen & 0x40 or i + 4 > n:
                return None
            seen |= 0x40
            fields[6] = int.from_bytes(value[i:i + 4], "little")
            i += 4
            continue
        if i >= n:
            return None
        byte = value[i]
        i += 1
        number = byte & 0x7F
        shift = 7
        while byte >= 0x80:  # at most 9 bytes: values < 2**63, never negative
            if i >= n or shift > 56:
                return None
            byte = value[i]
            i += 1
            number |= (byte & 0x7F) << shift
            shift += 7
        if tag == 0x12:  # shape, length-delimited
            end = i + number
            if seen & 0x02 or end > n:
                return None
            seen |= 0x02
            encoded = value[i:end]
            dims = shapes.get(encoded)
            if dims is None:
                dims = _decode_dims(encoded)
                if dims is None:
                    return None
                if len(shapes) < _MAX_REMEMBERED_SHAPES:
                    shapes[encoded] = dims
            fields[1] = dims
            i = end
            continue
        slot = _SCALAR_SLOTS.get(tag)
        if slot is None or seen & (1 << slot):
            return None
        if slot != 4 and slot != 5 and number > _INT32_MAX:  # int32 / enum fields
            return None
        seen |= 1 << slot
        fields[slot] = number
    return (fields[0], fields[1], False, fields[3], fields[4], fields[5], fields[6])


def _decode_dims(shape: bytes) -> tuple[int, ...] | None:
    """Dim sizes of a TensorShapeProto holding only dims with a size, else None."""
    n = len(shape)
    i = 0
    dims = []
    while i < n:
        if shape[i] != 0x12 or i + 1 >= n or shape[i + 1] >= 0x80:
            return None
        stop = i + 2 + shape[i + 1]
        if stop > n:
            return None
        i += 2
        size = 0
        if i < stop:
            if shape[i] != 0x08:
                return None
            i += 1
            shift = 0
            while True:
                if i >= stop or shift > 56:
                    return None
                byte = shape[i]
                i += 1
                size |= (byte & 0x7F) << shift
                shift += 7
                if byte < 0x80:
                    break
            if i != stop:
                return None
        dims.append(size)
    return tuple(dims)


def _varint_at(value: bytes, i: int, n: int) -> tuple[int, int]:
    """The varint at ``i`` (at most 9 bytes) and the index after it; (-1, i) if there is
    none (truncated or longer)."""
    number = 0
    shift = 0
    while i < n and shift <= 56:
        byte = value[i]
        i += 1
        number |= (byte & 0x7F) << shift
        if byte < 0x80:
            return number, i
        shift += 7
    return -1, i


def _decode_common(value: bytes, shapes: dict[bytes, tuple[int, ...]]) -> EntryFields | None:
    """:func:`decode_entry` for the layout this package's writer and TensorFlow produce
    (dtype < 128, a remembered shape, shard_id < 128, then offset, size and crc in field
    order), read straight through; None for anything else (the general decoder decides)."""
    n = len(value)
    if n < 4 or value[0] != 0x08 or value[1] >= 0x80 or value[2] != 0x12 or value[3] >= 0x80:
        return None
    i = 4 + value[3]
    dims = shapes.get(value[4:i])
    if dims is None or i > n:
        return None
    shard = offset = size = crc = 0
    if i + 1 < n and value[i] == 0x18 and value[i + 1] < 0x80:
        shard = value[i + 1]
        i += 2
    if i < n and value[i] == 0x20:
        offset, i = _varint_at(value, i + 1, n)
        if offset < 0:
            return None
    if i < n and value[i] == 0x28:
        size, i = _varint_at(value, i + 1, n)
        if size < 0:
            return None
    if i + 5 == n and value[i] == 0x35:
        crc = int.from_bytes(value[i + 1:n], "little")
        i = n
    if i != n:
        return None
    return (value[1], dims, False, shard, offset, size, crc)


class DecodedEntries:
    """Entries decoded in bulk by :func:`decode_entries`: columns, one row per entry.

    ``ok[i]`` says whether entry ``i`` had the layout decoded here; the other columns
    are meaningful only there.  ``dims[shape[i]]`` is the entry's shape; ``end[i]`` is
    where its shape field ends (where a ``shard_id`` field would go).
    """

    __slots__ = ("ok", "dtype", "shape", "dims", "shard", "offset", "size", "crc", "end")

    def __init__(self, n: int) -> None:
        self.ok = np.zeros(n, bool)
        self.dtype = np.zeros(n, np.int64)
        self.shape = np.zeros(n, np.int64)
        self.dims: list[tuple[int, ...]] = []
        self.shard = np.zeros(n, np.int64)
        self.offset = np.zeros(n, np.uint64)
        self.size = np.zeros(n, np.uint64)
        self.crc = np.zeros(n, np.uint64)
        self.end = np.zeros(n, np.int64)


_MAX_SHAPE_BYTES = 64
"""Entries whose encoded shape is longer are left to :func:`decode_entry`."""


def decode_entries(matrix: np.ndarray, lengths: np.ndarray) -> DecodedEntries:
    """Decode many serialized entries at once (rows of ``matrix``, ``lengths[i]`` bytes
    each), with numpy: the layout :func:`decode_entry` reads straight through (dtype
    < 128, the shape, shard_id < 128, offset, size and crc in field order, offset and
    size of at most 9 varint bytes).  Rows with any other layout have ``ok`` False:
    decode those one by one.  Where ``ok`` is True the fields equal decode_entry's."""
    n = len(lengths)
    out = DecodedEntries(n)
    width = matrix.shape[1] if matrix.ndim == 2 else 0
    if n == 0 or width < 4:
        return out
    rows = np.arange(n)
    lengths = lengths.astype(np.int64)

    def at(column: np.ndarray) -> np.ndarray:
        """Byte ``column[i]`` of row ``i``, or 256 past the row's end."""
        inside = column < lengths
        return np.where(inside, matrix[rows, np.minimum(column, width - 1)].astype(np.int64),
                        256)

    ok = ((matrix[:, 0] == 0x08) & (matrix[:, 1] < 0x80) & (matrix[:, 2] == 0x12)
          & (matrix[:, 3] < 0x80) & (lengths >= 4))
    shape_len = matrix[:, 3].astype(np.int64)
    ok &= (4 + shape_len <= lengths) & (shape_len <= _MAX_SHAPE_BYTES)
    span = int(shape_len[ok].max()) if ok.any() else 0
    span = min(span, width - 4)
    # group the rows by their encoded shape (a hash, then an exact comparison)
    region = matrix[:, 4:4 + span].astype(np.uint64)
    region[np.arange(span) >= shape_len[:, None]] = 0
    hashes = shape_len.astype(np.uint64)
    for j in range(span):
        hashes = hashes * np.uint64(1099511628211) + region[:, j]
    unique, first, inverse = np.unique(np.where(ok, hashes, np.uint64(0)), return_index=True,
                                       return_inverse=True)
    dims_of_group: list[tuple[int, ...] | None] = []
    for row in first.tolist():
        encoded = bytes(matrix[row, 4:4 + int(shape_len[row])]) if ok[row] else b""
        dims_of_group.append(_decode_dims(encoded) if ok[row] else None)
    representative = first[inverse]
    ok &= (region == region[representative]).all(axis=1)
    ok &= shape_len == shape_len[representative]
    valid_group = np.array([d is not None for d in dims_of_group], bool)
    ok &= valid_group[inverse]
    out.dims = [d if d is not None else () for d in dims_of_group]
    out.shape = inverse.astype(np.int64)
    out.dtype = matrix[:, 1].astype(np.int64)
    pos = 4 + shape_len
    out.end = pos.copy()
    # shard_id: one byte
    has = (at(pos) == 0x18) & (pos + 1 < lengths)
    shard = at(pos + 1)
    ok &= ~has | (shard < 0x80)
    out.shard = np.where(has, shard, 0)
    pos = pos + 2 * has
    for tag, column in ((0x20, "offset"), (0x28, "size")):
        has = at(pos) == tag
        value = np.zeros(n, np.uint64)
        size = np.zeros(n, np.int64)
        going = has.copy()
        for k in range(9):
            byte = at(pos + 1 + k)
            ok &= ~going | (byte < 256)
            value |= np.where(going, (byte & 0x7F).astype(np.uint64) << np.uint64(7 * k), 0
                              ).astype(np.uint64)
            size += going
            going &= byte >= 0x80
        ok &= ~going  # longer than 9 bytes
        setattr(out, column, np.where(has, value, np.uint64(0)))
        pos = pos + np.where(has, 1 + size, 0)
    has = (at(pos) == 0x35) & (pos + 5 == lengths)
    crc = np.zeros(n, np.uint64)
    for k in range(4):
        crc |= np.where(has, at(pos + 1 + k), 0).astype(np.uint64) << np.uint64(8 * k)
    out.crc = crc
    pos = pos + 5 * has
    ok &= pos == lengths
    out.ok = ok
    return out
