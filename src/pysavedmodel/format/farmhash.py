"""FarmHash ``Fingerprint64`` in pure Python, and TensorFlow's ``FingerprintCat64``.

TensorFlow fingerprints byte strings with FarmHash's 64-bit fingerprint (the
"na" variant of FarmHash's ``Hash64``, fixed forever so stored values stay
valid).  SavedModel's ``fingerprint.pb`` holds such values, and
``tf.fingerprint(x, method="farmhash64")`` returns the same value as 8
little-endian bytes.

Arithmetic is on unsigned 64-bit words (everything is reduced modulo 2**64);
words are read from the input as little-endian 64- or 32-bit integers.
Inputs of 0-16, 17-32 and 33-64 bytes each have their own mixing formula;
longer inputs run a 64-byte-block loop over a 56-byte state and then mix in
the last 64 bytes of the input (which may overlap the final block).

``fingerprint_cat64(a, b)`` combines two fingerprints into one (order
matters); TensorFlow folds lists of fingerprints with it, starting from 0.
"""

from __future__ import annotations

import struct
from typing import Union

__all__ = ["fingerprint64", "fingerprint_cat64"]

BytesLike = Union[bytes, bytearray, memoryview]

_M = 0xFFFFFFFFFFFFFFFF
# Three constants (primes between 2**63 and 2**64) used by FarmHash.
_K0 = 0xC3A5C85C97CB3127
_K1 = 0xB492B66FBE98F273
_K2 = 0x9AE16A3B2F90404F
_CAT_MUL = 0xC6A4A7935BD1E995

_U64 = struct.Struct("<Q").unpack_from
_U32 = struct.Struct("<I").unpack_from


def _w64(data: bytes, pos: int) -> int:
    return int(_U64(data, pos)[0])


def _rot(value: int, shift: int) -> int:
    """Rotate a 64-bit word right by ``shift`` bits (0 < shift < 64)."""
    return ((value >> shift) | (value << (64 - shift))) & _M


def _shift_mix(value: int) -> int:
    return value ^ (value >> 47)


def _mix16(u: int, v: int, mul: int) -> int:
    """Murmur-style reduction of two words to one, with multiplier ``mul``."""
    a = ((u ^ v) * mul) & _M
    a ^= a >> 47
    b = ((v ^ a) * mul) & _M
    b ^= b >> 47
    return (b * mul) & _M


def _short(data: bytes, n: int) -> int:
    """Inputs of 0 to 16 bytes."""
    if n >= 8:
        mul = _K2 + 2 * n
        a = (_w64(data, 0) + _K2) & _M
        b = _w64(data, n - 8)
        c = (_rot(b, 37) * mul + a) & _M
        d = ((_rot(a, 25) + b) * mul) & _M
        return _mix16(c, d, mul)
    if n >= 4:
        mul = _K2 + 2 * n
        first = int(_U32(data, 0)[0])
        last = int(_U32(data, n - 4)[0])
        return _mix16((n + (first << 3)) & _M, last, mul)
    if n > 0:
        y = data[0] + (data[n >> 1] << 8)  # fits 32 bits
        z = (n + (data[n - 1] << 2)) & 0xFFFFFFFF
        return (_shift_mix(((y * _K2) ^ (z * _K0)) & _M) * _K2) & _M
    return _K2


def _medium(data: bytes, n: int) -> int:
    """Inputs of 17 to 32 bytes."""
    mul = _K2 + 2 * n
    a = (_w64(data, 0) * _K1) & _M
    b = _w64(data, 8)
    c = (_w64(data, n - 8) * mul) & _M
    d = (_w64(data, n - 16) * _K2) & _M
    return _mix16((_rot((a + b) & _M, 43) + _rot(c, 30) + d) & _M,
                  (a + _rot((b + _K2) & _M, 18) + c) & _M, mul)


def _long33(data: bytes, n: int) -> int:
    """Inputs of 33 to 64 bytes."""
    mul = _K2 + 2 * n
    a = (_w64(data, 0) * _K2) & _M
    b = _w64(data, 8)
    c = (_w64(data, n - 8) * mul) & _M
    d = (_w64(data, n - 16) * _K2) & _M
    y = (_rot((a + b) & _M, 43) + _rot(c, 30) + d) & _M
    z = _mix16(y, (a + _rot((b + _K2) & _M, 18) + c) & _M, mul)
    e = (_w64(data, 16) * mul) & _M
    f = _w64(data, 24)
    g = ((y + _w64(data, n - 32)) * mul) & _M
    h = ((z + _w64(data, n - 24)) * mul) & _M
    return _mix16((_rot((e + f) & _M, 43) + _rot(g, 30) + h) & _M,
                  (e + _rot((f + a) & _M, 18) + g) & _M, mul)


def _weak32(data: bytes, pos: int, a: int, b: int) -> tuple[int, int]:
    """Two-word digest of the 32 bytes at ``pos`` seeded with ``a`` and ``b``."""
    w, x, y, z = struct.unpack_from("<4Q", data, pos)
    a = (a + w) & _M
    b = _rot((b + a + z) & _M, 21)
    c = a
    a = (a + x + y) & _M
    b = (b + _rot(a, 44)) & _M
    return (a + z) & _M, (b + c) & _M


def fingerprint64(data: BytesLike) -> int:
    """FarmHash Fingerprint64 of ``data``, an unsigned 64-bit int (TF's ``Fingerprint64``)."""
    buf = bytes(data)
    n = len(buf)
    if n <= 16:
        return _short(buf, n)
    if n <= 32:
        return _medium(buf, n)
    if n <= 64:
        return _long33(buf, n)
    seed = 81
    x = seed
    y = (seed * _K1 + 113) & _M
    z = (_shift_mix((y * _K2 + 113) & _M) * _K2) & _M
    v0 = v1 = w0 = w1 = 0
    x = (x * _K2 + _w64(buf, 0)) & _M
    end = ((n - 1) // 64) * 64
    pos = 0
    while pos != end:
        x = (_rot((x + y + v0 + _w64(buf, pos + 8)) & _M, 37) * _K1) & _M
        y = (_rot((y + v1 + _w64(buf, pos + 48)) & _M, 42) * _K1) & _M
        x ^= w1
        y = (y + v0 + _w64(buf, pos + 40)) & _M
        z = (_rot((z + w0) & _M, 33) * _K1) & _M
        v0, v1 = _weak32(buf, pos, (v1 * _K1) & _M, (x + w0) & _M)
        w0, w1 = _weak32(buf, pos + 32, (z + w1) & _M, (y + _w64(buf, pos + 16)) & _M)
        z, x = x, z
        pos += 64
    mul = _K1 + ((z & 0xFF) << 1)
    pos = n - 64
    w0 = (w0 + ((n - 1) & 63)) & _M
    v0 = (v0 + w0) & _M
    w0 = (w0 + v0) & _M
    x = (_rot((x + y + v0 + _w64(buf, pos + 8)) & _M, 37) * mul) & _M
    y = (_rot((y + v1 + _w64(buf, pos + 48)) & _M, 42) * mul) & _M
    x ^= (w1 * 9) & _M
    y = (y + v0 * 9 + _w64(buf, pos + 40)) & _M
    z = (_rot((z + w0) & _M, 33) * mul) & _M
    v0, v1 = _weak32(buf, pos, (v1 * mul) & _M, (x + w0) & _M)
    w0, w1 = _weak32(buf, pos + 32, (z + w1) & _M, (y + _w64(buf, pos + 16)) & _M)
    z, x = x, z
    return _mix16((_mix16(v0, w0, mul) + _shift_mix(y) * _K0 + z) & _M,
                  (_mix16(v1, w1, mul) + x) & _M, mul)


def fingerprint_cat64(first: int, second: int) -> int:
    """Combine two fingerprints into one, as TensorFlow's ``FingerprintCat64`` does."""
    result = first ^ _CAT_MUL
    result ^= (_shift_mix((second * _CAT_MUL) & _M) * _CAT_MUL) & _M
    result = (result * _CAT_MUL) & _M
    result = (_shift_mix(result) * _CAT_MUL) & _M
    return _shift_mix(result)
