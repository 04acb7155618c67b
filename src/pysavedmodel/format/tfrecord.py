"""TFRecord files: the record framing of ``tf.data.TFRecordDataset`` (uncompressed).

Each record is::

    uint64  length            little-endian
    uint32  masked_crc32c(length bytes)
    bytes   data[length]
    uint32  masked_crc32c(data)

with CRC-32C masked as everywhere in TensorFlow (rotate right 15, add
``0xa282ead8``; :func:`pysavedmodel.format.crc32c.mask`).  TF Serving reads its
warmup requests (``assets.extra/tf_serving_warmup_requests``) in this format, one
serialized ``PredictionLog`` per record.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from ..errors import CorruptCheckpointError
from .crc32c import crc32c, mask

__all__ = ["encode_record", "write_records", "read_records"]

_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")


def encode_record(data: bytes) -> bytes:
    """One framed record."""
    length = _LENGTH.pack(len(data))
    return (length + _CRC.pack(mask(crc32c(length))) + data
            + _CRC.pack(mask(crc32c(data))))


def write_records(out: BinaryIO, records: Iterable[bytes]) -> int:
    """Write every record to ``out``; return how many."""
    count = 0
    for data in records:
        out.write(encode_record(data))
        count += 1
    return count


def read_records(data: bytes, *, what: str = "TFRecord file") -> Iterator[bytes]:
    """The records of a whole TFRecord file's bytes, checksums verified.

    Raises :class:`~pysavedmodel.errors.CorruptCheckpointError` (a ``ValueError``)
    naming ``what`` and the offset for a truncated record or a checksum mismatch.
    """
    view = memoryview(data)
    offset = 0
    while offset < len(view):
        if len(view) - offset < 12:
            raise CorruptCheckpointError(f"{what}: truncated record header at offset {offset}")
        length_bytes = bytes(view[offset:offset + 8])
        (stored,) = _CRC.unpack_from(view, offset + 8)
        if mask(crc32c(length_bytes)) != stored:
            raise CorruptCheckpointError(f"{what}: length checksum mismatch at offset {offset}")
        (length,) = _LENGTH.unpack(length_bytes)
        start = offset + 12
        end = start + length
        if end + 4 > len(view):
            raise CorruptCheckpointError(
                f"{what}: record at offset {offset} declares {length} bytes; the file ends "
                f"at {len(view)}")
        record = bytes(view[start:end])
        (stored,) = _CRC.unpack_from(view, end)
        if mask(crc32c(record)) != stored:
            raise CorruptCheckpointError(f"{what}: data checksum mismatch at offset {offset}")
        yield record
        offset = end + 4
