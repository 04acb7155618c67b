"""CheckpointReader: its fast path for small tensors checks what the general path checks."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pysavedmodel._proto import tensor_bundle_pb2, types_pb2
from pysavedmodel.errors import (
    ChecksumError,
    CorruptCheckpointError,
    InvalidArgumentError,
    NotFoundError,
)
from pysavedmodel.format.bundle import CheckpointReader, write_checkpoint
from pysavedmodel.format.table import TableReader, TableWriter


def test_a_damaged_tensor_after_good_ones_still_fails_its_checksum(tmp_path: Path) -> None:
    values = {f"t{i}": np.full(4, i, np.float32) for i in range(3)}
    write_checkpoint(tmp_path / "m", values)
    with CheckpointReader(tmp_path / "m") as reader:
        for name in ("t0", "t1"):  # dtype, shape and data file now known good
            np.testing.assert_array_equal(reader.get_tensor(name), values[name])
        offset = reader.entry("t2").offset
        data = next(tmp_path.glob("m.data-*"))
        with open(data, "r+b") as f:  # the reader's mapping sees the change
            f.seek(offset)
            f.write(np.full(4, 9, np.float32).tobytes())
        for read in (reader.get_tensor, reader.read):
            with pytest.raises(ChecksumError, match="t2"):
                read("t2")
        np.testing.assert_array_equal(reader.read("t1"), values["t1"])


def _edit_entries(prefix: Path, edit: Callable[[dict[bytes, tensor_bundle_pb2.BundleEntryProto]],
                                               None]) -> None:
    index = Path(f"{prefix}.index")
    items = dict(TableReader(index.read_bytes()).items())
    entries = {key: tensor_bundle_pb2.BundleEntryProto.FromString(value)
               for key, value in items.items() if key}
    edit(entries)
    out = io.BytesIO()
    table = TableWriter(out)
    table.add(b"", items[b""])
    for key in sorted(entries):
        table.add(key, entries[key].SerializeToString(deterministic=True))
    table.finish()
    index.write_bytes(out.getvalue())


def test_entries_checked_in_bulk_leave_bad_ones_to_the_general_path(tmp_path: Path) -> None:
    values = {f"t{i:02d}": np.full((2, 2), i, np.float32) for i in range(40)}
    write_checkpoint(tmp_path / "m", values)

    def damage(entries: dict[bytes, tensor_bundle_pb2.BundleEntryProto]) -> None:
        entries[b"t05"].size = 12                 # not 4 x 4 bytes
        entries[b"t06"].offset = 10**6            # past the end of the data file
        entries[b"t07"].dtype = types_pb2.DT_STRING
        entries[b"t08"].shape.dim[0].size = 3     # its size no longer matches
        entries[b"t09"].crc32c ^= 1
        entries[b"t10"].shard_id = 1              # a shard the header does not count
    _edit_entries(tmp_path / "m", damage)
    with CheckpointReader(tmp_path / "m") as reader:
        np.testing.assert_array_equal(reader.get_tensor("t00"), values["t00"])
        bad = {"t05", "t06", "t07", "t08", "t09", "t10"}
        # checked in bulk when t00 was read; crcs are checked on reading (t09)
        ready = {name for name in values if reader._ready[reader._fields.row(name.encode())]}
        assert ready == set(values) - bad | {"t09"}
        for name in sorted(set(values) - bad):
            got = reader.get_tensor(name)
            assert got.dtype == np.float32 and not got.flags.writeable
            np.testing.assert_array_equal(got, values[name])
            np.testing.assert_array_equal(reader.read(name), values[name])
        for name, error, match in [
                ("t05", CorruptCheckpointError, "invalid size in bundle entry: stored size 12"),
                ("t06", CorruptCheckpointError, "needs bytes"),
                ("t07", CorruptCheckpointError, "string|size"),
                ("t08", CorruptCheckpointError, "invalid size"),
                ("t09", ChecksumError, "checksum does not match"),
                ("t10", CorruptCheckpointError, "shard_id 1 is outside")]:
            with pytest.raises(error, match=match):
                reader.get_tensor(name)


def test_slice_keys_are_not_readable_by_name_beside_small_tensors(tmp_path: Path) -> None:
    from pysavedmodel.format.bundle import CheckpointWriter
    from pysavedmodel.format.ordered_code import slice_key

    with CheckpointWriter(tmp_path / "m") as writer:
        for i in range(20):
            writer.add(f"s{i}", np.full(3, i, np.int64))
        writer.add_slice("p", (2, 2), "0,1:-", np.ones((1, 2), np.float32))
        writer.add_slice("p", (2, 2), "1,1:-", np.zeros((1, 2), np.float32))
    hidden = slice_key("p", [(0, 1), (0, -1)]).decode("utf-8", "surrogateescape")
    with CheckpointReader(tmp_path / "m") as reader:
        assert reader.get_tensor("s3").tolist() == [3, 3, 3]
        assert not reader._ready[reader._fields.row(b"p")]
        with pytest.raises(NotFoundError):
            reader.get_tensor(hidden)
        assert reader.get_tensor("p").tolist() == [[1, 1], [0, 0]]
    with pytest.raises(InvalidArgumentError, match="closed"):
        reader.get_tensor("s3")
