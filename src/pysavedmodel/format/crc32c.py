"""CRC-32C (Castagnoli) checksums and the LevelDB-style crc mask.

The C-accelerated ``crc32c`` package is used when it is importable; otherwise
(or when the environment variable ``PYSAVEDMODEL_PURE_CRC32C=1`` is set at
import time) a table-driven pure-Python implementation is used.  Both accept
any object supporting the buffer protocol (bytes, bytearray, memoryview,
contiguous numpy arrays) and extend a previous checksum when ``crc`` is given:
``crc32c(b, crc32c(a)) == crc32c(a + b)``.
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import os
import struct
import sys
from collections.abc import Sequence
from typing import Callable, Union, cast

__all__ = ["crc32c", "crc32c_each", "crc32c_buffer", "python_crc32c", "mask", "unmask", "BACKEND"]

BytesLike = Union[bytes, bytearray, memoryview]

_POLY_REFLECTED = 0x82F63B78  # Castagnoli polynomial 0x1EDC6F41, bit-reversed
_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF


@functools.cache
def _tables() -> list[list[int]]:
    """Slicing-by-8 tables: ``tables[k][b]`` is the crc of byte ``b`` then ``k`` zero bytes.
    Made on the first pure-Python checksum (~1 ms), not at import."""
    first = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY_REFLECTED if crc & 1 else crc >> 1
        first.append(crc)
    tables = [first]
    for _ in range(7):
        prev = tables[-1]
        tables.append([(prev[b] >> 8) ^ first[prev[b] & 0xFF] for b in range(256)])
    return tables


_WORDS = struct.Struct("<Q")


def _as_bytes_view(data: object) -> memoryview:
    """A flat unsigned-byte view of ``data`` (copies only if it is not C-contiguous)."""
    view = data if isinstance(data, memoryview) else memoryview(data)  # type: ignore[arg-type]
    if not view.c_contiguous:
        view = memoryview(view.tobytes())
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return view


def python_crc32c(data: BytesLike, crc: int = 0) -> int:
    """CRC-32C of ``data`` extending ``crc``, in pure Python (slicing-by-8)."""
    view = _as_bytes_view(data)
    t0, t1, t2, t3, t4, t5, t6, t7 = _tables()
    crc = (crc & _U32) ^ _U32
    n = len(view)
    whole = n - n % 8
    # Eight bytes per step ("<Q" words: bytes 0-3 in the low half) cut interpreter overhead.
    for (word,) in _WORDS.iter_unpack(view[:whole]):
        low = crc ^ (word & _U32)
        high = word >> 32
        crc = (
            t7[low & 0xFF] ^ t6[(low >> 8) & 0xFF] ^ t5[(low >> 16) & 0xFF] ^ t4[low >> 24]
            ^ t3[high & 0xFF] ^ t2[(high >> 8) & 0xFF] ^ t1[(high >> 16) & 0xFF] ^ t0[high >> 24]
        )
    for byte in view[whole:]:
        crc = (crc >> 8) ^ t0[(crc ^ byte) & 0xFF]
    return crc ^ _U32


def _load_accelerated() -> Callable[..., int] | None:
    """The ``crc32c`` package's C function, or None when the package is not installed.

    Its extension module is loaded directly, without running the package's
    ``__init__``: that looks up the package version through ``importlib.metadata``,
    which costs 50-150 ms per process, more than the rest of pysavedmodel's imports
    (numpy aside).  Anything unexpected falls back to a plain ``import crc32c``.
    """
    loaded = sys.modules.get("crc32c._crc32c") or sys.modules.get("crc32c")
    if loaded is not None:
        return cast("Callable[..., int]", loaded.crc32c)
    try:
        spec = importlib.util.find_spec("crc32c")  # locates it; does not import it
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    try:
        for location in spec.submodule_search_locations or ():
            for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                path = os.path.join(location, "_crc32c" + suffix)
                if os.path.isfile(path):
                    loader = importlib.machinery.ExtensionFileLoader("crc32c._crc32c", path)
                    module_spec = importlib.util.spec_from_loader("crc32c._crc32c", loader)
                    assert module_spec is not None
                    module = importlib.util.module_from_spec(module_spec)
                    loader.exec_module(module)
                    return cast("Callable[..., int]", module.crc32c)
    except Exception:  # an unfamiliar layout or build: let the package load itself
        pass
    try:
        import crc32c as package
    except ImportError:
        return None
    return cast("Callable[..., int]", package.crc32c)


def _select_backend() -> tuple[str, Callable[..., int], Callable[..., int] | None]:
    """(name, the crc32c function, the C function itself or None)."""
    if os.environ.get("PYSAVEDMODEL_PURE_CRC32C", "") not in ("", "0"):
        return "python", python_crc32c, None
    fast = _load_accelerated()
    if fast is None:
        return "python", python_crc32c, None

    def accelerated_crc32c(data: BytesLike, crc: int = 0) -> int:
        """CRC-32C of ``data`` extending ``crc``, computed by the ``crc32c`` package."""
        try:  # any C-contiguous buffer, in place (called once per tensor: no checks first)
            return fast(data, crc & _U32)
        except (BufferError, ValueError):  # not C-contiguous (numpy says ValueError)
            return fast(memoryview(data).tobytes(), crc & _U32)

    return "crc32c", accelerated_crc32c, fast


BACKEND, _impl, _fast_impl = _select_backend()

crc32c: Callable[..., int] = _impl
"""``crc32c(data, crc=0) -> int``: CRC-32C of ``data``, extending the checksum ``crc`` of
the preceding bytes.  ``data`` may be any buffer (bytes, bytearray, memoryview, numpy
array); contiguous buffers are read in place without copying.  It is the selected
implementation itself, not a wrapper: checkpoints of many small tensors call it once
per tensor."""


crc32c_buffer: Callable[..., int] = _fast_impl if _fast_impl is not None else python_crc32c
"""``crc32c_buffer(data) -> int``: CRC-32C of one C-contiguous buffer, without the checks
of :func:`crc32c` (readers of many small tensors call it once per tensor)."""


def crc32c_each(buffers: Sequence[object]) -> list[int]:
    """CRC-32C of each of many C-contiguous buffers (e.g. numpy arrays): one C call each,
    without the per-call checks of :func:`crc32c` (checkpoints of many small tensors)."""
    if _fast_impl is not None:
        fast = _fast_impl
        return [fast(buffer) for buffer in buffers]
    return [python_crc32c(buffer) for buffer in buffers]  # type: ignore[arg-type]


def mask(crc: int) -> int:
    """Mask a crc for storage (rotate right by 15 bits, add a constant), as TF/LevelDB do."""
    crc &= _U32
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & _U32


def unmask(masked: int) -> int:
    """Inverse of :func:`mask`."""
    rot = (masked - _MASK_DELTA) & _U32
    return ((rot >> 17) | (rot << 15)) & _U32
