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

Backends: FarmHash's C++ ``Fingerprint64`` from the ``cityhash`` package (its
``farmhash`` module; ``pip install pysavedmodel[fast]``) when it is importable
and agrees with the Python code on a few self-check inputs, else the pure-Python
code below (about 30 MB/s: a 2 MB ``saved_model.pb`` costs 60 ms).  Setting
``PYSAVEDMODEL_PURE_FARMHASH=1`` before the first hash forces pure Python.
:func:`backend` says which one runs.
"""

from __future__ import annotations

import os
import struct
from typing import Callable, Union

__all__ = ["fingerprint64", "fingerprint_cat64", "python_fingerprint64", "backend"]

BytesLike = Union[bytes, bytearray, memoryview]

_M = 0xFFFFFFFFFFFFFFFF
# Three constants (primes between 2**63 and 2**64) used by FarmHash.
_K0 = 0xC3A5C85C97CB3127
_K1 = 0xB492B66FBE98F273
_K2 = 0x9AE16A3B2F90404F
_CAT_MUL = 0xC6A4A7935BD1E995

_U64 = struct.Struct("<Q").unpack_from
_U32 = struct.Struct("<I").unpack_from
_CHUNK_BLOCKS = 4096  # 64-byte blocks unpacked per call (256 KiB of input)


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


def python_fingerprint64(data: BytesLike) -> int:
    """FarmHash Fingerprint64 of ``data`` in pure Python (what :func:`fingerprint64`
    runs without the C backend)."""
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
    blocks = (n - 1) // 64
    # Every full block's eight words in one C call; the loop below is the 64-byte
    # block step with _rot and _weak32 written out (this loop is all the time
    # a long input takes in Python).
    M = _M
    K1 = _K1
    for first in range(0, blocks, _CHUNK_BLOCKS):
        count = min(_CHUNK_BLOCKS, blocks - first)
        words = struct.unpack_from(f"<{count * 8}Q", buf, first * 64)
        for i in range(0, count * 8, 8):
            b0, b1, b2, b3, b4, b5, b6, b7 = words[i:i + 8]
            t = (x + y + v0 + b1) & M
            x = (((t >> 37) | (t << 27)) & M) * K1 & M
            t = (y + v1 + b6) & M
            y = (((t >> 42) | (t << 22)) & M) * K1 & M
            x ^= w1
            y = (y + v0 + b5) & M
            t = (z + w0) & M
            z = (((t >> 33) | (t << 31)) & M) * K1 & M
            # v0, v1 = _weak32(block words 0-3, v1 * K1, x + w0)
            a = (v1 * K1 + b0) & M
            t = ((x + w0) + a + b3) & M
            c = a
            a = (a + b1 + b2) & M
            bb = ((t >> 21) | (t << 43)) & M
            bb = (bb + (((a >> 44) | (a << 20)) & M)) & M
            v0 = (a + b3) & M
            v1 = (bb + c) & M
            # w0, w1 = _weak32(block words 4-7, z + w1, y + word 2)
            a = (z + w1 + b4) & M
            t = ((y + b2) + a + b7) & M
            c = a
            a = (a + b5 + b6) & M
            bb = ((t >> 21) | (t << 43)) & M
            bb = (bb + (((a >> 44) | (a << 20)) & M)) & M
            w0 = (a + b7) & M
            w1 = (bb + c) & M
            z, x = x, z
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


# Inputs covering each length class of the hash (short, medium, 33-64, the block
# loop with and without a partial last block) that an accelerated backend must
# hash exactly as the Python code does before it is used.
_SELF_CHECK = [bytes(range(n)) for n in (0, 3, 8, 17, 40, 64, 65, 200)]
_BACKEND: tuple[str, Callable[[BytesLike], int]] | None = None


def _select_backend() -> tuple[str, Callable[[BytesLike], int]]:
    if os.environ.get("PYSAVEDMODEL_PURE_FARMHASH", "") not in ("", "0"):
        return "python", python_fingerprint64
    try:
        # the cityhash distribution's FarmHash module (a C++ extension)
        from farmhash import Fingerprint64  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        return "python", python_fingerprint64
    try:
        agrees = all(Fingerprint64(b) == python_fingerprint64(b) for b in _SELF_CHECK)
    except Exception:  # a different module named farmhash, another signature
        agrees = False
    if not agrees:
        return "python", python_fingerprint64

    def accelerated(data: BytesLike) -> int:
        return int(Fingerprint64(bytes(data) if not isinstance(data, bytes) else data))

    return "cityhash", accelerated


def backend() -> str:
    """``"cityhash"`` when FarmHash's C++ code (the ``cityhash`` package) does the
    hashing, ``"python"`` otherwise."""
    global _BACKEND
    if _BACKEND is None:
        _BACKEND = _select_backend()
    return _BACKEND[0]


def fingerprint64(data: BytesLike) -> int:
    """FarmHash Fingerprint64 of ``data``, an unsigned 64-bit int (TF's ``Fingerprint64``).

    Example: ``fingerprint64(b"serve")`` equals what
    ``tf.fingerprint(tf.constant([b"serve"]), method="farmhash64")`` returns as
    8 little-endian bytes.
    """
    global _BACKEND
    if _BACKEND is None:
        _BACKEND = _select_backend()
    return _BACKEND[1](data)
