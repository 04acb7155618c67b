"""Robustness: corrupt TF-written checkpoints must read or fail with a pysavedmodel.Error.

Each example copies a TF 2.21 fixture checkpoint to a temporary directory, damages
it (raw byte corruption of the index or a data file, or a re-checksummed index whose
entries were altered so the damage gets past the CRCs), then opens it and reads every
tensor.  Allowed outcomes: success with sane dtypes and shapes, or an exception from
the :class:`pysavedmodel.Error` family whose message names the damaged checkpoint.
Never a bare IndexError/struct.error/MemoryError/..., never a hang.

Examples are derandomized so CI is deterministic.
"""

from __future__ import annotations

import io
import math
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pysavedmodel._proto import tensor_bundle_pb2
from pysavedmodel.errors import CorruptCheckpointError, Error
from pysavedmodel.format import ordered_code, varint
from pysavedmodel.format.bundle import CheckpointReader, read_checkpoint
from pysavedmodel.format.table import TableReader, snappy_decompress
from pysavedmodel.testing.index_damage import damaged_index, rewrite_index
from tests.support.damage import kinds as damage_kinds
from tests.support.damage import mutate
from tests.support.tf import FIXTURES

# (fixture directory, checkpoint prefix inside it)
CHECKPOINTS = {
    "dtypes": ("checkpoint_dtypes", "variables"),
    "sliced": ("checkpoint_sliced", "variables"),
    "sharded": ("checkpoint_sharded", "variables"),
    "v2_module": ("savedmodel_v2_module/variables", "variables"),
}


def _load(directory: str) -> dict[str, bytes]:
    root = FIXTURES / directory
    return {p.name: p.read_bytes() for p in sorted(root.iterdir())
            if p.name.startswith("variables.")}


FILES = {key: _load(directory) for key, (directory, _) in CHECKPOINTS.items()}

_FUZZ = settings(derandomize=True, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def fuzz(max_examples: int) -> settings:
    """Deterministic (derandomized) settings with ``max_examples`` examples."""
    return settings(_FUZZ, max_examples=max_examples)


# --------------------------------------------------------------------------- helpers


def _read_everything(prefix: Path) -> None:
    """Open, list and read every tensor; on success check the values are self-consistent."""
    with CheckpointReader(prefix) as reader:
        for name in reader.keys():
            dtype = reader.dtype(name)
            shape = reader.shape(name)
            assert isinstance(dtype, np.dtype)
            assert all(isinstance(d, int) and d >= 0 for d in shape)
            value = reader.get_tensor(name)
            assert value.shape == shape
            assert value.dtype == dtype
            copy = reader.read(name)
            assert copy.shape == shape and copy.dtype == dtype
    values = read_checkpoint(prefix)
    for value in values.values():
        assert isinstance(value, np.ndarray)
        assert math.prod(value.shape) == value.size


def _check_outcome(files: dict[str, bytes], checkpoint: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in files.items():
            (Path(tmp) / name).write_bytes(data)
        prefix = Path(tmp) / CHECKPOINTS[checkpoint][1]
        try:
            _read_everything(prefix)
        except Error as exc:
            assert tmp in str(exc), f"error does not name the checkpoint file: {exc!r}"


CORRUPTIONS = damage_kinds


# --------------------------------------------------------------------------- raw corruption


@fuzz(600)
@given(checkpoint=st.sampled_from(sorted(CHECKPOINTS)), data=st.data())
def test_raw_corruption_reads_or_raises_error(checkpoint: str, data: st.DataObject) -> None:
    files = dict(FILES[checkpoint])
    for _ in range(data.draw(st.integers(1, 3), label="number of corruptions")):
        target = data.draw(st.sampled_from(sorted(files)), label="file")
        kind = data.draw(CORRUPTIONS, label="corruption")
        files[target] = mutate(
            files[target], kind,
            data.draw(st.integers(0, 1 << 20), label="offset"),
            data.draw(st.binary(min_size=1, max_size=16), label="payload"),
            data.draw(st.integers(1, 64), label="length"))
    _check_outcome(files, checkpoint)


def test_swapped_and_missing_data_files() -> None:
    sharded = dict(FILES["sharded"])
    a, b = sorted(n for n in sharded if ".data-" in n)
    swapped = dict(sharded, **{a: sharded[b], b: sharded[a]})
    with pytest.raises(CorruptCheckpointError, match="variables.data-"):
        _check_outcome_strict(swapped, "sharded")
    foreign = dict(FILES["dtypes"])
    (data_name,) = [n for n in foreign if ".data-" in n]
    foreign[data_name] = FILES["v2_module"][data_name]
    with pytest.raises(CorruptCheckpointError, match="variables.data-"):
        _check_outcome_strict(foreign, "dtypes")
    missing = {n: v for n, v in sharded.items() if n != b}
    with pytest.raises(Error, match="does not exist"):
        _check_outcome_strict(missing, "sharded")


def _check_outcome_strict(files: dict[str, bytes], checkpoint: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in files.items():
            (Path(tmp) / name).write_bytes(data)
        _read_everything(Path(tmp) / CHECKPOINTS[checkpoint][1])


# --------------------------------------------------------------------------- re-checksummed index


def _index_name(files: dict[str, bytes]) -> str:
    return next(n for n in files if n.endswith(".index"))


def _small_damage(value: bytes, data: st.DataObject) -> bytes:
    return mutate(value, data.draw(CORRUPTIONS), data.draw(st.integers(0, 256)),
                  data.draw(st.binary(min_size=1, max_size=8)), data.draw(st.integers(1, 16)))


@fuzz(800)
@given(checkpoint=st.sampled_from(sorted(CHECKPOINTS)), data=st.data())
def test_rechecksummed_index_entries_read_or_raise_error(checkpoint: str,
                                                         data: st.DataObject) -> None:
    files = dict(FILES[checkpoint])
    index = _index_name(files)
    files[index] = damaged_index(files[index], data, _small_damage)
    _check_outcome(files, checkpoint)


# --------------------------------------------------------------------------- tables


def _read_table(data: bytes) -> None:
    try:
        with TableReader(data, path="fuzzed.index") as table:
            items = list(table.items())
            assert len(table) == len(items)
            keys = [key for key, _ in items]
            in_order = all(a < b for a, b in zip(keys, keys[1:]))
            for key, value in items[:8]:
                found = table.get(key)
                # Lookups bisect: only a table whose keys are in order finds every one.
                assert found == value if in_order else found is None or isinstance(found, bytes)
            table.get(b"\xff" * 4)
    except Error as exc:
        assert "fuzzed.index" in str(exc), repr(exc)


@fuzz(200)
@given(st.binary(max_size=200))
def test_table_reader_on_random_bytes(data: bytes) -> None:
    _read_table(data)


@fuzz(200)
@given(st.binary(max_size=120))
def test_table_reader_on_random_bytes_with_valid_magic(data: bytes) -> None:
    magic = FILES["dtypes"]["variables.index"][-8:]
    _read_table(data + magic)


@fuzz(800)
@given(checkpoint=st.sampled_from(sorted(CHECKPOINTS)), kind=CORRUPTIONS,
       offset=st.integers(0, 1 << 16), payload=st.binary(min_size=1, max_size=16),
       length=st.integers(1, 64))
def test_table_reader_on_mutated_fixture_index(checkpoint: str, kind: str, offset: int,
                                               payload: bytes, length: int) -> None:
    files = FILES[checkpoint]
    _read_table(mutate(files[_index_name(files)], kind, offset, payload, length))


def _block_table(block: bytes) -> bytes:
    """A table whose only data block has the given contents (crc valid), for parser fuzzing."""
    from pysavedmodel.format import table as table_module

    trailer_type = bytes((0,))
    crc = table_module.mask(table_module.crc32c(trailer_type, table_module.crc32c(block)))
    new_block = block + table_module._TRAILER.pack(0, crc)
    body = io.BytesIO()
    body.write(new_block)
    meta_contents = table_module._BlockBuilder(16).finish()
    meta_offset = body.tell()
    body.write(meta_contents + table_module._TRAILER.pack(0, table_module.mask(
        table_module.crc32c(trailer_type, table_module.crc32c(meta_contents)))))
    index_builder = table_module._BlockBuilder(1)
    index_builder.add(b"\xff" * 100, table_module._encode_handle((0, len(block))))
    index_contents = index_builder.finish()
    index_offset = body.tell()
    body.write(index_contents + table_module._TRAILER.pack(0, table_module.mask(
        table_module.crc32c(trailer_type, table_module.crc32c(index_contents)))))
    handles = (table_module._encode_handle((meta_offset, len(meta_contents)))
               + table_module._encode_handle((index_offset, len(index_contents))))
    body.write(handles.ljust(40, b"\0") + table_module._MAGIC_WORDS.pack(
        table_module.TABLE_MAGIC & 0xFFFFFFFF, table_module.TABLE_MAGIC >> 32))
    return body.getvalue()


@fuzz(200)
@given(st.binary(max_size=80))
def test_table_reader_on_random_block_contents_with_valid_crc(block: bytes) -> None:
    _read_table(_block_table(block))


@fuzz(200)
@given(st.binary(max_size=60))
def test_snappy_decompress_on_random_bytes(data: bytes) -> None:
    try:
        out = snappy_decompress(data)
    except Error:
        return
    expected, _ = varint.decode_varint32(data, 0)
    assert len(out) == expected


# --------------------------------------------------------------------------- decoders


DECODERS: dict[str, Callable[[bytes], Any]] = {
    "read_num_increasing": ordered_code.read_num_increasing,
    "read_string": ordered_code.read_string,
    "read_signed_num_increasing": ordered_code.read_signed_num_increasing,
    "parse_slice_key": ordered_code.parse_slice_key,
    "decode_varint32": varint.decode_varint32,
    "decode_varint64": varint.decode_varint64,
}


@fuzz(400)
@given(decoder=st.sampled_from(sorted(DECODERS)), data=st.binary(max_size=24))
def test_decoders_on_random_bytes(decoder: str, data: bytes) -> None:
    try:
        result = DECODERS[decoder](data)
    except Error:
        return
    assert isinstance(result, tuple) and len(result) == 2


@fuzz(200)
@given(st.lists(st.tuples(st.integers(0, 2**63 - 1), st.integers(-1, 2**63 - 1)), max_size=4),
       st.text(max_size=8))
def test_slice_key_round_trips_and_survives_truncation(extents: list[tuple[int, int]],
                                                       name: str) -> None:
    extents = [(0, -1) if length == -1 else (start, length) for start, length in extents]
    try:
        key = ordered_code.slice_key(name, extents)
    except Error:
        return  # lone surrogates in the name
    assert ordered_code.parse_slice_key(key) == (name, extents)
    for cut in range(len(key)):
        try:
            ordered_code.parse_slice_key(key[:cut])
        except Error:
            pass


# --------------------------------------------------------------------------- leaks found by fuzzing


def _with_entries(checkpoint: str,
                  edit: Callable[[bytes, tensor_bundle_pb2.BundleEntryProto], None],
                  extra: tuple[tuple[bytes, bytes], ...] = ()) -> dict[str, bytes]:
    files = dict(FILES[checkpoint])
    index = _index_name(files)
    entries = []
    for key, value in TableReader(files[index]).items():
        if key:
            entry = tensor_bundle_pb2.BundleEntryProto.FromString(value)
            edit(key, entry)
            value = entry.SerializeToString(deterministic=True)
        entries.append((key, value))
    files[index] = rewrite_index(entries + list(extra))
    return files


def _grow_sliced_rows(key: bytes, entry: tensor_bundle_pb2.BundleEntryProto) -> None:
    if entry.slices and key == b"part/rows":
        entry.shape.dim[0].size = 2**40  # its slices cover rows 0..5 only


def _huge_dims(key: bytes, entry: tensor_bundle_pb2.BundleEntryProto) -> None:
    if key == b"strings/empty":  # shape [0]: no element, no byte stored
        entry.shape.dim.add().size = 2**62
        entry.shape.dim.add().size = 2**62


def _rank_70(key: bytes, entry: tensor_bundle_pb2.BundleEntryProto) -> None:
    if key == b"dtypes/float32":
        for _ in range(68):
            entry.shape.dim.add().size = 1


def _huge_full_shape(key: bytes, entry: tensor_bundle_pb2.BundleEntryProto) -> None:
    if entry.slices and key == b"part/rows":
        entry.shape.dim[0].size = 2**62


@pytest.mark.parametrize(("checkpoint", "edit", "message"), [
    ("sliced", _grow_sliced_rows, "part/rows"),     # was MemoryError (24 TiB np.empty)
    ("sliced", _huge_full_shape, "too large"),       # was ValueError: array is too big
    ("dtypes", _huge_dims, "too large"),             # was ValueError from np.empty(0).reshape
    ("dtypes", _rank_70, "rank 70"),                 # was ValueError: maximum dimension 64
])
def test_corrupt_shapes_raise_corrupt_checkpoint_error(
        checkpoint: str, edit: Callable[[bytes, tensor_bundle_pb2.BundleEntryProto], None],
        message: str) -> None:
    files = _with_entries(checkpoint, edit)
    with pytest.raises(CorruptCheckpointError, match=message):
        _check_outcome_strict(files, checkpoint)


def test_sliced_entry_with_a_non_utf8_name_raises_corrupt_checkpoint_error() -> None:
    # Was UnicodeEncodeError: the reader rebuilt slice keys from the surrogate-escaped name.
    files = dict(FILES["sliced"])
    index = _index_name(files)
    entries = list(TableReader(files[index]).items())
    value = dict(entries)[b"part/rows"]
    files[index] = rewrite_index(entries + [(b"\x80bad", value)])
    with pytest.raises(CorruptCheckpointError, match=r"\\udc80bad"):
        _check_outcome_strict(files, "sliced")


def test_slice_key_of_a_name_with_lone_surrogates_is_invalid_argument() -> None:
    from pysavedmodel.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="not encodable as UTF-8"):
        ordered_code.slice_key("\ud800", [(0, 1)])



@pytest.mark.parametrize("prefix", [3, None, b"variables", ""])
def test_odd_prefix_is_invalid_argument(prefix: Any) -> None:
    from pysavedmodel.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="checkpoint prefix"):
        CheckpointReader(prefix)  # was TypeError from os.fspath (or a bytes path accepted)
