"""Which tensor goes to which shard, and what a tensor name may be.

Shared by the in-process writer (:mod:`.writer`) and the distributed writer
(:mod:`.distributed`), so both assign tensors to shards identically — the same
assignment gives the same bytes as TensorFlow's ``SaveV2`` + ``MergeV2Checkpoints``.

A tensor name is a non-empty ``str`` encodable as UTF-8; its UTF-8 bytes are the
index key (the empty key is the bundle header).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Final

from ..errors import InvalidArgumentError
from ..names import utf8

__all__ = ["check_tensor_name", "check_num_shards", "balance_shards", "explicit_shards",
           "auto_num_shards", "AUTO_SHARD_BYTES", "AUTO_MAX_SHARDS"]

AUTO_SHARD_BYTES: Final = 256 << 20
"""With the number of data files left open (a SavedModel's ``num_shards=None``), one data
file per started 256 MiB of tensor bytes (:func:`auto_num_shards`)."""

AUTO_MAX_SHARDS: Final = 16
"""... and at most this many."""


def check_tensor_name(name: Any) -> bytes:
    """The index key of tensor ``name``: its UTF-8 bytes (InvalidArgumentError otherwise)."""
    if not isinstance(name, str):
        raise InvalidArgumentError(f"tensor names must be str, got {type(name).__name__} {name!r}")
    if name == "":
        raise InvalidArgumentError("tensor name must not be empty (the empty key is the header)")
    try:
        return name.encode("utf-8")  # the common case, without building a description
    except UnicodeEncodeError:
        return utf8(name, f"tensor name {name!r}")


def check_num_shards(num_shards: Any, also: str = "") -> int:
    """``num_shards`` if it is an int >= 1 (not a bool); else :class:`InvalidArgumentError`
    naming it.  ``also``: what else the caller accepts, for the message.

    >>> check_num_shards(3)
    3
    >>> check_num_shards(0, " (or None)")
    Traceback (most recent call last):
    pysavedmodel.errors.InvalidArgumentError: num_shards must be an int >= 1 (or None), got 0
    """
    if isinstance(num_shards, bool) or not isinstance(num_shards, int) or num_shards < 1:
        raise InvalidArgumentError(f"num_shards must be an int >= 1{also}, got {num_shards!r}")
    return num_shards


def balance_shards(sizes: Sequence[int], num_shards: int) -> list[int]:
    """Greedy byte balancing; returns the shard of each input, deterministically.

    Largest first, each to the least-loaded shard; ties go to the shard holding fewer
    items, then to the lowest index, so with at least ``num_shards`` inputs no shard
    stays empty (zero-byte tensors included).
    """
    loads = [0] * num_shards
    counts = [0] * num_shards
    shard_of = [0] * len(sizes)
    for i in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i)):
        target = min(range(num_shards), key=lambda s: (loads[s], counts[s], s))
        shard_of[i] = target
        loads[target] += sizes[i]
        counts[target] += 1
    return shard_of


def auto_num_shards(nbytes: int, entries: int) -> int:
    """How many data files a checkpoint of ``nbytes`` tensor bytes in ``entries`` tensors
    gets when the caller leaves it open: one per started :data:`AUTO_SHARD_BYTES`, at
    most :data:`AUTO_MAX_SHARDS` and at most one per tensor, at least one.

    The count depends on the bytes alone, never on the machine, so equal builds give
    equal files anywhere; the writer writes several data files with one thread per core
    (a BERT-base-size checkpoint in two files on two cores: ~0.8x the time of one file).

    >>> auto_num_shards(16 << 20, 1000), auto_num_shards(438_000_000, 200)
    (1, 2)
    """
    return max(1, min(-(-nbytes // AUTO_SHARD_BYTES), AUTO_MAX_SHARDS, entries))


def explicit_shards(shards: Sequence[Sequence[str]], names: Collection[str],
                     unknown: str) -> dict[str, int]:
    """The shard of each name as ``shards`` (one name list per shard) lists them.

    Every name in ``names`` must be listed exactly once and nothing else listed;
    ``unknown`` ends the error for a listed name outside ``names``.
    """
    shard_of: dict[str, int] = {}
    for shard, shard_names in enumerate(shards):
        for name in shard_names:
            if name in shard_of:
                raise InvalidArgumentError(
                    f"shards: tensor {name!r} is listed in shard {shard_of[name]} and "
                    f"shard {shard}")
            if name not in names:
                raise InvalidArgumentError(f"shards: shard {shard} lists {name!r}, {unknown}")
            shard_of[name] = shard
    missing = [n for n in names if n not in shard_of]
    if missing:
        raise InvalidArgumentError(
            f"shards: tensors not assigned to any shard: {sorted(missing)!r}")
    return shard_of
