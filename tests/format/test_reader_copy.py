"""read_checkpoint / CheckpointReader.read copy large tensors in pieces, checksumming each
piece as it is copied (on several threads for read_checkpoint): same values, same errors."""

from __future__ import annotations

import os
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from pysavedmodel.errors import ChecksumError, CorruptCheckpointError
from pysavedmodel.format import bundle_reader
from pysavedmodel.format.bundle import CheckpointReader, read_checkpoint, write_checkpoint


def _data(prefix: Path) -> Path:
    return Path(f"{prefix}.data-00000-of-00001")


def _flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes((byte ^ 0x10,)))


def _values() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {
        "a_small": np.arange(6, dtype=np.int16).reshape(2, 3),
        "b_big": rng.random((768, 1024), dtype=np.float32),  # 3 MiB: 3 pieces
        "c_words": np.array([b"x", b"yz"], dtype=object),
        "d_bf16": rng.random((1024, 700)).astype(ml_dtypes.bfloat16),  # 1.4 MiB
        "e_odd": rng.integers(0, 255, size=1_300_001, dtype=np.uint8),  # last piece short
    }


@pytest.fixture()
def large_checkpoint(tmp_path: Path) -> Path:
    prefix = tmp_path / "ck"
    write_checkpoint(prefix, _values())
    return prefix


@pytest.mark.parametrize("threaded", [False, True])
@pytest.mark.parametrize("preadv", [True, False])
def test_large_tensors_are_independent_exact_copies(
        large_checkpoint: Path, threaded: bool, preadv: bool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    if not preadv:  # copied from the mapping, as where os.preadv is missing
        monkeypatch.setattr(bundle_reader, "_preadv", None)
    if threaded:  # whatever this machine has: force the threaded path
        monkeypatch.setattr(bundle_reader, "_PARALLEL_COPY_BYTES", 0)
        monkeypatch.setattr(bundle_reader, "_usable_cores", lambda: 3)
    expected = _values()
    got = read_checkpoint(large_checkpoint)
    assert list(got) == list(expected)
    for name, value in expected.items():
        assert got[name].dtype == value.dtype and got[name].shape == value.shape, name
        if value.dtype == object:
            assert got[name].tolist() == value.tolist(), name
        else:
            assert got[name].tobytes() == value.tobytes(), name
            assert got[name].flags.writeable and got[name].flags.owndata, name
    got["b_big"][0, 0] = -1.0  # writable and not the file's bytes
    assert read_checkpoint(large_checkpoint)["b_big"][0, 0] == expected["b_big"][0, 0]


@pytest.mark.parametrize("threaded", [False, True])
@pytest.mark.parametrize("preadv", [True, False])
def test_corrupt_middle_piece_of_large_tensor_raises(
        large_checkpoint: Path, threaded: bool, preadv: bool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    if not preadv:
        monkeypatch.setattr(bundle_reader, "_preadv", None)
    if threaded:
        monkeypatch.setattr(bundle_reader, "_PARALLEL_COPY_BYTES", 0)
        monkeypatch.setattr(bundle_reader, "_usable_cores", lambda: 3)
    with CheckpointReader(large_checkpoint) as reader:
        offset = reader.entry("b_big").offset
        size = reader.entry("b_big").size
    assert size > 2 * bundle_reader._COPY_PIECE_BYTES
    path = _data(large_checkpoint)
    _flip(path, offset + bundle_reader._COPY_PIECE_BYTES + 12345)  # inside the 2nd piece
    with pytest.raises(ChecksumError) as info:
        read_checkpoint(large_checkpoint)
    message = str(info.value)
    assert "'b_big'" in message and str(path) in message and f"offset {offset}" in message
    assert f"over {size} bytes" in message
    with CheckpointReader(large_checkpoint) as reader:
        with pytest.raises(ChecksumError, match="'b_big'"):
            reader.read("b_big")
        with pytest.raises(ChecksumError, match="'b_big'"):
            reader.get_tensor("b_big")
        assert reader.read("e_odd").tobytes() == _values()["e_odd"].tobytes()


def test_corrupt_last_short_piece_raises(large_checkpoint: Path) -> None:
    with CheckpointReader(large_checkpoint) as reader:
        entry = reader.entry("e_odd")
    _flip(_data(large_checkpoint), entry.offset + entry.size - 1)
    with pytest.raises(ChecksumError, match="'e_odd'"):
        read_checkpoint(large_checkpoint)


def test_data_file_truncated_while_open_raises(large_checkpoint: Path) -> None:
    with CheckpointReader(large_checkpoint) as reader:
        assert reader.get_tensor("a_small").tolist() == [[0, 1, 2], [3, 4, 5]]  # opened
        entry = reader.entry("b_big")
        os.truncate(_data(large_checkpoint), entry.offset + 2 * bundle_reader._COPY_PIECE_BYTES)
        with pytest.raises(CorruptCheckpointError, match="'b_big'.*truncated while reading"):
            reader.read("b_big")
