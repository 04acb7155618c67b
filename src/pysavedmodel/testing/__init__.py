"""Helpers for fuzzing readers of pysavedmodel's formats (used by its own tests and
``scripts/fuzz.py``; usable on your own pipeline).

* :func:`mutate` applies one kind of byte-level damage (:data:`KINDS`) to a file's
  bytes — combine it with hypothesis (``st.sampled_from(KINDS)``) or random offsets;
* :func:`time_limit` bounds a block by wall-clock time (SIGALRM: main thread, POSIX),
  so that a reader that hangs on damaged input is reported instead of waited on.

* :mod:`pysavedmodel.testing.index_damage` (needs hypothesis) edits checkpoint index
  entries and rewrites the table with valid CRCs, so damage reaches entry parsing.

This module itself uses the standard library only.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

__all__ = ["KINDS", "mutate", "time_limit"]

KINDS: Final = ("flip", "replace", "truncate", "append", "zero")
"""flip one byte (xor), overwrite with a payload, cut, append junk, zero a region."""


def mutate(data: bytes, kind: str, offset: int, payload: bytes, length: int) -> bytes:
    """``data`` with one ``kind`` of damage at ``offset`` (taken modulo its length).

    >>> mutate(b"abcd", "truncate", 2, b"", 0)
    b'ab'
    """
    if not data:
        return payload if kind == "append" else data
    at = offset % len(data)
    if kind == "flip":
        mask = payload[0] if payload and payload[0] else 0xFF
        return data[:at] + bytes((data[at] ^ mask,)) + data[at + 1:]
    if kind == "replace":
        return data[:at] + payload + data[at + len(payload):]
    if kind == "truncate":
        return data[:at]
    if kind == "append":
        return data + payload
    if kind == "zero":
        end = min(len(data), at + length)
        return data[:at] + bytes(end - at) + data[end:]
    raise ValueError(f"unknown damage kind {kind!r}; expected one of {KINDS}")


@contextmanager
def time_limit(seconds: float, error: type[BaseException], message: str) -> Iterator[None]:
    """Raise ``error(message)`` inside the block if it is still running after ``seconds``;
    the previous SIGALRM handler is back afterwards."""
    def expire(signum: int, frame: Any) -> None:
        raise error(message)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
