"""Hostile checkpoint indexes that still pass the CRCs: entries of a ``.index`` table are
edited (fields set to extreme values, bytes damaged, keys changed, dropped, duplicated)
and the table is written again, so the damage reaches the entry parsing.

Shared by tests/format/test_reader_fuzz.py and scripts/fuzz.py.  Needs hypothesis
(a test dependency, not a runtime one).
"""

from __future__ import annotations

import io
from typing import Any, Callable

from google.protobuf.message import DecodeError
from hypothesis import strategies as st

from .._proto import tensor_bundle_pb2
from ..format.table import TableReader, TableWriter

INT_EXTREMES = st.one_of(
    st.integers(-2, 70),
    st.sampled_from([2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**40, 2**62, 2**63 - 1]),
    st.integers(-(2**63), 2**63 - 1))

RawDamage = Callable[[bytes, st.DataObject], bytes]
"""One byte-level mutation of a key or value, its parameters drawn from the DataObject."""


def rewrite_index(entries: list[tuple[bytes, bytes]]) -> bytes:
    """A valid table (sorted, last duplicate wins, CRCs computed) holding ``entries``."""
    out = io.BytesIO()
    writer = TableWriter(out)
    for key, value in sorted(dict(entries).items()):
        writer.add(key, value)
    writer.finish()
    return out.getvalue()


def field_mutation(entry: Any, data: st.DataObject) -> None:
    """Set one field of a BundleEntryProto or BundleHeaderProto to a hostile value."""
    if isinstance(entry, tensor_bundle_pb2.BundleHeaderProto):
        which = data.draw(st.sampled_from(["num_shards", "endianness", "producer",
                                           "min_consumer", "bad_consumers"]))
        if which == "num_shards":
            entry.num_shards = data.draw(st.integers(-(2**31), 2**31 - 1))
        elif which == "endianness":
            entry.endianness = data.draw(st.integers(0, 3))  # type: ignore[assignment]
        elif which == "bad_consumers":
            entry.version.bad_consumers.append(data.draw(st.integers(-3, 3)))
        else:
            setattr(entry.version, which, data.draw(st.integers(-(2**31), 2**31 - 1)))
        return
    which = data.draw(st.sampled_from(["dtype", "dim", "add_dim", "drop_dims", "unknown_rank",
                                       "shard_id", "offset", "size", "crc32c", "slice"]))
    if which == "dtype":
        entry.dtype = data.draw(st.integers(0, 130))
    elif which in ("dim", "add_dim"):
        if which == "add_dim" or not entry.shape.dim:
            entry.shape.dim.add()
        index = data.draw(st.integers(0, len(entry.shape.dim) - 1))
        entry.shape.dim[index].size = data.draw(INT_EXTREMES)
    elif which == "drop_dims":
        del entry.shape.dim[:]
    elif which == "unknown_rank":
        entry.shape.unknown_rank = True
    elif which == "shard_id":
        entry.shard_id = data.draw(st.integers(-(2**31), 2**31 - 1))
    elif which in ("offset", "size"):
        setattr(entry, which, data.draw(INT_EXTREMES))
    elif which == "crc32c":
        entry.crc32c = data.draw(st.integers(0, 2**32 - 1))
    else:
        if not entry.slices or data.draw(st.booleans()):
            entry.slices.add()
        proto = entry.slices[data.draw(st.integers(0, len(entry.slices) - 1))]
        if not proto.extent or data.draw(st.booleans()):
            proto.extent.add()
        extent = proto.extent[data.draw(st.integers(0, len(proto.extent) - 1))]
        extent.start = data.draw(INT_EXTREMES)
        if data.draw(st.booleans()):
            extent.length = data.draw(INT_EXTREMES)


def damaged_index(index: bytes, data: st.DataObject, raw_damage: RawDamage) -> bytes:
    """``index`` with one to three entry edits, rewritten as a valid table.

    An edit sets a field of a parsed entry (or the header) to a hostile value, damages
    an entry's bytes or key with ``raw_damage``, drops an entry (dropping the last one
    leaves a table holding only an empty key and value), or adds a copy of one under a
    drawn key.
    """
    entries = list(TableReader(index).items())
    for _ in range(data.draw(st.integers(1, 3), label="entry edits")):
        position = data.draw(st.integers(0, len(entries) - 1), label="entry")
        key, value = entries[position]
        mode = data.draw(st.sampled_from(["field", "bytes", "key", "drop", "duplicate"]))
        if mode == "field":
            proto: Any = (tensor_bundle_pb2.BundleHeaderProto() if key == b""
                          else tensor_bundle_pb2.BundleEntryProto())
            try:
                proto.ParseFromString(value)
            except DecodeError:
                continue  # an earlier "bytes" edit broke this entry already
            field_mutation(proto, data)
            entries[position] = (key, proto.SerializeToString(deterministic=True))
        elif mode == "bytes":
            entries[position] = (key, raw_damage(value, data))
        elif mode == "key":
            entries[position] = (raw_damage(key, data), value)
        elif mode == "drop":
            del entries[position]
            if not entries:
                entries.append((b"", b""))
        else:
            entries.append((data.draw(st.binary(max_size=12), label="new key"), value))
    return rewrite_index(entries)
