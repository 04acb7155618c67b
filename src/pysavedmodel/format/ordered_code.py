"""The subset of TensorFlow's OrderedCode used for the keys of partitioned-tensor slices.

OrderedCode encodes values so that comparing the encodings bytewise orders them
like the values themselves.  Encodings (byte strings, big-endian):

* NumIncreasing(v), 0 <= v < 2**64: one length byte ``n``, then ``v`` in ``n``
  bytes without leading zeros (``0`` is the single byte ``00``).
* String(s): ``s`` with ``00`` escaped as ``00 ff`` and ``ff`` as ``ff 00``,
  terminated by ``00 01``.
* SignedNumIncreasing(v), -2**63 <= v < 2**63: ``L`` bytes where ``L`` is the
  smallest length with ``-2**(7L-1) <= v < 2**(7L-1)`` (1 <= L <= 10).  The
  ``8L``-bit two's complement of ``v`` is XORed with ``L`` leading one bits, so
  the first bits read: sign (1 = non-negative), ``L - 1`` more copies of it, then
  one opposite bit, then the payload.  Values in -64..63 are the byte ``0x80 ^ v``.

A slice key is ``NumIncreasing(0) + String(name) + NumIncreasing(rank)`` followed
by ``SignedNumIncreasing(start) + SignedNumIncreasing(length)`` per dimension,
with ``(0, -1)`` for a dimension stored whole.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Union

from pysavedmodel.errors import CorruptCheckpointError, InvalidArgumentError

from ..names import utf8

__all__ = [
    "write_num_increasing",
    "read_num_increasing",
    "write_string",
    "read_string",
    "write_signed_num_increasing",
    "read_signed_num_increasing",
    "slice_key",
    "slice_key_from_bytes",
    "parse_slice_key",
    "FULL_EXTENT",
]

Buffer = Union[bytes, bytearray, memoryview]

FULL_EXTENT = -1  # slice length meaning "the whole dimension"
_MAX_SIGNED_LENGTH = 10
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_STRING_ESCAPES = {b"\x00": b"\x00\xff", b"\xff": b"\xff\x00"}
_SPECIAL_BYTES = re.compile(b"[\\x00\\xff]")
_STRING_TERMINATOR = b"\x00\x01"


def _check_int(value: object, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise InvalidArgumentError(
            f"{what} must be an integer, got {type(value).__name__} {value!r}")
    number = int(value.__index__())
    if not low <= number <= high:
        raise InvalidArgumentError(f"{what} {number} is outside [{low}, {high}]")
    return number


# --------------------------------------------------------------------------- NumIncreasing


def write_num_increasing(value: int) -> bytes:
    """Encode an unsigned 64-bit integer: a length byte, then its big-endian bytes minus leading
    zeros."""
    value = _check_int(value, 0, (1 << 64) - 1, "NumIncreasing value")
    length = (value.bit_length() + 7) // 8
    return bytes((length,)) + value.to_bytes(length, "big")


def read_num_increasing(data: Buffer) -> tuple[int, bytes]:
    """Decode a NumIncreasing prefix of ``data``; return ``(value, remaining bytes)``."""
    data = bytes(data)
    if not data:
        raise CorruptCheckpointError("NumIncreasing: no bytes to decode")
    length = data[0]
    if length > 8 or len(data) < 1 + length:
        raise CorruptCheckpointError(
            f"NumIncreasing: length byte {length} needs {length} payload bytes (at most 8), "
            f"{len(data) - 1} available"
        )
    return int.from_bytes(data[1:1 + length], "big"), data[1 + length:]


# --------------------------------------------------------------------------- String


def write_string(value: Buffer) -> bytes:
    """Encode bytes with ``00`` -> ``00 ff`` and ``ff`` -> ``ff 00``, terminated by ``00 01``."""
    if isinstance(value, str):
        raise InvalidArgumentError(
            f"write_string expects bytes, got str {value!r} (encode it first)")
    escaped = _SPECIAL_BYTES.sub(lambda match: _STRING_ESCAPES[match.group()], bytes(value))
    return escaped + _STRING_TERMINATOR


def read_string(data: Buffer) -> tuple[bytes, bytes]:
    """Decode a String prefix of ``data``; return ``(decoded bytes, remaining bytes)``."""
    data = bytes(data)
    out = bytearray()
    pos = 0
    end = len(data)
    while True:
        zero = data.find(b"\x00", pos)
        ff = data.find(b"\xff", pos)
        special = min(i for i in (zero, ff, end) if i >= 0)
        out += data[pos:special]
        if special + 1 >= end:
            raise CorruptCheckpointError(f"String: no terminator 00 01 in {data.hex()}")
        pair = data[special:special + 2]
        if pair == _STRING_TERMINATOR:
            return bytes(out), data[special + 2:]
        if pair == b"\x00\xff":
            out.append(0x00)
        elif pair == b"\xff\x00":
            out.append(0xFF)
        else:
            raise CorruptCheckpointError(f"String: invalid escape {pair.hex()} at offset {special}")
        pos = special + 2


# --------------------------------------------------------------------------- SignedNumIncreasing


def _signed_length(value: int) -> int:
    magnitude = ~value if value < 0 else value
    return magnitude.bit_length() // 7 + 1


def _header(length: int) -> int:
    """``length`` one bits at the top of a ``length``-byte big-endian word."""
    return ((1 << length) - 1) << (7 * length)


def write_signed_num_increasing(value: int) -> bytes:
    """Encode a signed 64-bit integer in 1..10 bytes, order-preserving (see module docstring)."""
    value = _check_int(value, _INT64_MIN, _INT64_MAX, "SignedNumIncreasing value")
    length = _signed_length(value)
    bits = 8 * length
    twos_complement = value & ((1 << bits) - 1)
    return (twos_complement ^ _header(length)).to_bytes(length, "big")


def read_signed_num_increasing(data: Buffer) -> tuple[int, bytes]:
    """Decode a SignedNumIncreasing prefix of ``data``; return ``(value, remaining bytes)``."""
    data = bytes(data)
    if not data:
        raise CorruptCheckpointError("SignedNumIncreasing: no bytes to decode")
    invert = 0x00 if data[0] & 0x80 else 0xFF
    # The length is the number of leading bits equal to the sign bit (over the first two bytes).
    head = ((data[0] ^ invert) << 8) | ((data[1] ^ invert) if len(data) > 1 else 0)
    length = 0
    while length < 16 and head & (0x8000 >> length):
        length += 1
    if length > _MAX_SIGNED_LENGTH:
        raise CorruptCheckpointError(
            f"SignedNumIncreasing: {data[:2].hex()} announces more than 10 bytes")
    if len(data) < length:
        raise CorruptCheckpointError(
            f"SignedNumIncreasing: needs {length} bytes, {len(data)} available in {data.hex()}"
        )
    bits = 8 * length
    word = int.from_bytes(data[:length], "big") ^ _header(length)
    value = word - (1 << bits) if word >> (bits - 1) else word
    if not _INT64_MIN <= value <= _INT64_MAX or _signed_length(value) != length:
        raise CorruptCheckpointError(f"SignedNumIncreasing: invalid encoding {data[:length].hex()}")
    return value, data[length:]


# --------------------------------------------------------------------------- slice keys


def slice_key(name: str, extents: Sequence[tuple[int, int]]) -> bytes:
    """The table key holding one stored slice of the partitioned tensor ``name``.

    ``extents`` gives ``(start, length)`` per dimension; ``length`` -1 (``FULL_EXTENT``)
    means the whole dimension and then ``start`` must be 0.
    """
    if not isinstance(name, str):
        raise InvalidArgumentError(f"slice_key: tensor name must be str, got {type(name).__name__}")
    encoded = utf8(name, f"slice_key: tensor name {name!r}")
    return slice_key_from_bytes(encoded, extents)


def slice_key_from_bytes(name: bytes, extents: Sequence[tuple[int, int]]) -> bytes:
    """:func:`slice_key` of a tensor whose name is given as its raw (index key) bytes."""
    shown = name.decode("utf-8", "backslashreplace")
    parts = [write_num_increasing(0), write_string(name),
             write_num_increasing(len(extents))]
    for dim, extent in enumerate(extents):
        try:
            start, length = extent
        except (TypeError, ValueError):
            raise InvalidArgumentError(
                f"slice_key({shown!r}): extent {extent!r} of dimension {dim} is not a "
                "(start, length) pair"
            ) from None
        start = _check_int(start, 0, _INT64_MAX, f"slice_key({shown!r}): start of dimension {dim}")
        length = _check_int(length, FULL_EXTENT, _INT64_MAX,
                            f"slice_key({shown!r}): length of dimension {dim}")
        if length == FULL_EXTENT and start != 0:
            raise InvalidArgumentError(
                f"slice_key({shown!r}): dimension {dim} is a full extent (length -1) but starts "
                f"at {start}, expected 0"
            )
        parts.append(write_signed_num_increasing(start))
        parts.append(write_signed_num_increasing(length))
    return b"".join(parts)


def parse_slice_key(key: Buffer) -> tuple[str, list[tuple[int, int]]]:
    """Inverse of :func:`slice_key`: ``(tensor name, [(start, length), ...])``."""
    tag, rest = read_num_increasing(key)
    if tag != 0:
        raise CorruptCheckpointError(
            f"slice key {bytes(key)!r} does not start with NumIncreasing(0)")
    raw_name, rest = read_string(rest)
    rank, rest = read_num_increasing(rest)
    extents = []
    for _ in range(rank):
        start, rest = read_signed_num_increasing(rest)
        length, rest = read_signed_num_increasing(rest)
        extents.append((start, length))
    if rest:
        raise CorruptCheckpointError(f"slice key {bytes(key)!r} has {len(rest)} trailing bytes")
    try:
        name = raw_name.decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptCheckpointError(
            f"slice key {bytes(key)!r} holds a name that is not UTF-8") from None
    return name, extents
