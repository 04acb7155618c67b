"""Byte-level damage for fuzz tests: one mutation of a byte string."""

from __future__ import annotations

from hypothesis import strategies as st

KINDS = ("flip", "replace", "truncate", "append", "zero")
"""flip one byte (xor), overwrite with a payload, cut, append junk, zero a region."""

kinds = st.sampled_from(KINDS)


def mutate(data: bytes, kind: str, offset: int, payload: bytes, length: int) -> bytes:
    """``data`` with one ``kind`` of damage at ``offset`` (taken modulo its length)."""
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
    raise AssertionError(f"unknown damage kind {kind!r}")
