"""Base-128 varints as used by protobuf, LevelDB tables and TensorBundle string tensors.

A varint stores an unsigned integer 7 bits at a time, least significant group
first; every byte but the last has its high bit (0x80) set.  varint32 values
take at most 5 bytes, varint64 values at most 10.
"""

from __future__ import annotations

from typing import Union

import numpy as np

from pysavedmodel.errors import CorruptCheckpointError, InvalidArgumentError

__all__ = ["encode_varint32", "encode_varint64", "decode_varint32", "decode_varint64",
           "varint_columns"]

Buffer = Union[bytes, bytearray, memoryview]


_LIMIT32 = 1 << 32
_LIMIT64 = 1 << 64

_ONE_BYTE = [bytes((value,)) for value in range(0x80)]
"""Varints of 0..127 (one byte each), prebuilt: most lengths and sizes encoded are small."""


def _out_of_range(value: int, bits: int) -> InvalidArgumentError:
    return InvalidArgumentError(f"varint{bits} value {value!r} is outside [0, 2**{bits})")


def encode_varint32(value: int) -> bytes:
    """Encode an unsigned 32-bit integer as a varint (1-5 bytes)."""
    if not 0 <= value < _LIMIT32:
        raise _out_of_range(value, 32)
    return encode_varint64(value)


def encode_varint64(value: int) -> bytes:
    """Encode an unsigned 64-bit integer as a varint (1-10 bytes)."""
    if 0 <= value < 0x80:
        return _ONE_BYTE[value]
    if not 0 <= value < _LIMIT64:
        raise _out_of_range(value, 64)
    groups = []
    while value >= 0x80:
        groups.append((value & 0x7F) | 0x80)  # low 7 bits first, "more follows" bit set
        value >>= 7
    groups.append(value)
    return bytes(groups)


def _decode(buf: Buffer, pos: int, bits: int) -> tuple[int, int]:
    max_bytes = (bits + 6) // 7
    result = 0
    shift = 0
    start = pos
    end = len(buf)
    for _ in range(max_bytes):
        if pos >= end:
            raise CorruptCheckpointError(f"truncated varint{bits} at offset {start}")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if result >> bits:
                raise CorruptCheckpointError(
                    f"varint{bits} at offset {start} overflows {bits} bits")
            return result, pos
        shift += 7
    raise CorruptCheckpointError(f"varint{bits} at offset {start} is longer than {max_bytes} bytes")


def decode_varint32(buf: Buffer, pos: int = 0) -> tuple[int, int]:
    """Decode a varint32 at ``buf[pos:]``; return ``(value, position after it)``.

    Raises CorruptCheckpointError if it is truncated, too long or exceeds 32 bits.
    """
    return _decode(buf, pos, 32)


def decode_varint64(buf: Buffer, pos: int = 0) -> tuple[int, int]:
    """Decode a varint64 at ``buf[pos:]``; return ``(value, position after it)``."""
    return _decode(buf, pos, 64)


def varint_columns(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Varints of many non-negative integers at once, for writers of many entries.

    Returns ``(matrix, lengths)``: row ``i`` of the ``uint8`` matrix holds the varint of
    ``values[i]`` in its first ``lengths[i]`` bytes (the rest is zero); the matrix is as
    wide as the longest varint.  Each row equals :func:`encode_varint64` of the value.
    """
    v = np.asarray(values).astype(np.uint64, copy=False)
    lengths = np.ones(len(v), np.int64)
    for bits in range(7, 64, 7):
        lengths += v >= np.uint64(1 << bits)
    width = int(lengths.max()) if len(v) else 1
    matrix = np.empty((len(v), width), np.uint8)
    for j in range(width):
        byte = ((v >> np.uint64(7 * j)) & np.uint64(0x7F)).astype(np.uint8)
        matrix[:, j] = byte | ((lengths > j + 1).astype(np.uint8) << np.uint8(7))
    matrix[np.arange(width) >= lengths[:, None]] = 0
    return matrix, lengths
