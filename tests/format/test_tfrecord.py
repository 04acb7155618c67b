"""TFRecord framing: bytes as specified, round trip, damage refused."""

from __future__ import annotations

import io
import struct

import pytest

from pysavedmodel.errors import CorruptCheckpointError
from pysavedmodel.format.crc32c import crc32c, mask
from pysavedmodel.format.tfrecord import encode_record, read_records, write_records


def test_a_record_is_length_crc_data_crc() -> None:
    record = encode_record(b"abc")
    length = struct.pack("<Q", 3)
    assert record[:8] == length
    assert struct.unpack("<I", record[8:12])[0] == mask(crc32c(length))
    assert record[12:15] == b"abc"
    assert struct.unpack("<I", record[15:])[0] == mask(crc32c(b"abc"))
    assert len(encode_record(b"")) == 16


def test_round_trip() -> None:
    out = io.BytesIO()
    payloads = [b"", b"x", bytes(range(256)) * 40]
    assert write_records(out, payloads) == 3
    assert list(read_records(out.getvalue())) == payloads


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:-1], "declares"),
    (lambda b: b[:5], "truncated"),
    (lambda b: b[:8] + b"\0\0\0\0" + b[12:], "length checksum"),
    (lambda b: b[:13] + b"?" + b[14:], "data checksum"),
])
def test_damage_is_refused_naming_the_file(damage, message: str) -> None:  # type: ignore[no-untyped-def]
    data = damage(encode_record(b"abcdef"))
    with pytest.raises(CorruptCheckpointError, match=f"warmup: .*{message}"):
        list(read_records(data, what="warmup"))
