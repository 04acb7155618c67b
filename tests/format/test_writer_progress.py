"""Checkpoint writer: progress reports, parallel shards, overlapped checksums, overwrites,
and the hand-off of ``executor=`` to the distributed writer."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import pysavedmodel.format.distributed as distributed
import pysavedmodel.format.writer as writer
from pysavedmodel.errors import InvalidArgumentError
from pysavedmodel.format.bundle import (
    CheckpointReader,
    CheckpointWriter,
    read_checkpoint,
    write_checkpoint,
)

MiB = 1 << 20


def big_tensors(count: int = 5, mib: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {f"layer_{i}/kernel": rng.standard_normal(mib * MiB // 4, dtype=np.float32)
            for i in range(count)}


def file_bytes(paths: list[Path]) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in paths}


class Recorder:
    """A progress callback remembering each call and the thread it came from."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []
        self.threads: set[int] = set()

    def __call__(self, done: int, total: int) -> None:
        self.calls.append((done, total))
        self.threads.add(threading.get_ident())


def data_bytes(paths: list[Path]) -> int:
    return sum(p.stat().st_size for p in paths if ".data-" in p.name)


@pytest.mark.parametrize("num_shards,parallel", [(1, False), (3, False), (3, True)])
def test_progress_counts_up_to_the_data_size_in_steps(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      num_shards: int, parallel: bool) -> None:
    if parallel:  # shard threads: progress still comes from the calling thread
        monkeypatch.setattr(writer, "_PARALLEL_SHARDS_BYTES", 0)
        monkeypatch.setattr(writer, "_POLL_SECONDS", 0.001)
        monkeypatch.setattr(os, "cpu_count", lambda: 2)
    recorder = Recorder()
    paths = write_checkpoint(tmp_path / "ck", big_tensors(), num_shards=num_shards,
                             progress=recorder)
    total = data_bytes(paths)
    assert total == 5 * 3 * MiB
    assert recorder.calls[-1] == (total, total)
    assert all(t == total for _, t in recorder.calls)
    done = [d for d, _ in recorder.calls]
    assert done == sorted(done)
    assert len(recorder.calls) >= 2  # reports while writing, not only at the end
    # "at most every few MB": intermediate reports are at least a step apart
    steps = [b - a for a, b in zip([0, *done[:-2]], done[:-1])]
    assert all(step >= writer._PROGRESS_STEP_BYTES for step in steps)
    assert recorder.threads == {threading.get_ident()}  # always the caller's thread


def test_progress_with_small_tensors_reports_once_at_the_end(tmp_path: Path) -> None:
    recorder = Recorder()
    with CheckpointWriter(tmp_path / "ck", progress=recorder) as writer:
        writer.add("a", np.arange(10, dtype=np.int64))
        writer.add("s", np.array([b"xy", b""], dtype=object))
    paths = [tmp_path / "ck.data-00000-of-00001"]
    total = data_bytes(paths)
    assert recorder.calls == [(total, total)]


def test_progress_of_an_empty_checkpoint(tmp_path: Path) -> None:
    recorder = Recorder()
    write_checkpoint(tmp_path / "ck", {}, progress=recorder)
    assert recorder.calls == [(0, 0)]


def test_progress_must_be_callable(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="progress must be a callable"):
        write_checkpoint(tmp_path / "ck", {"a": 1}, progress=42)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_progress_exception_aborts_and_leaves_nothing(tmp_path: Path) -> None:
    def stop(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_checkpoint(tmp_path / "ck", big_tensors(), progress=stop)
    assert list(tmp_path.iterdir()) == []


def test_parallel_shards_write_the_same_bytes_as_serial(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    tensors = {**big_tensors(4, 2), "tiny": np.arange(3, dtype=np.int32),
               "strings": np.array([b"a", b"bcd"], dtype=object)}
    serial = file_bytes(write_checkpoint(tmp_path / "serial" / "ck", tensors, num_shards=3))
    used: list[bool] = []
    real = writer._write_shards_in_parallel

    def spy(*args: Any) -> None:
        used.append(True)
        real(*args)

    monkeypatch.setattr(writer, "_PARALLEL_SHARDS_BYTES", 0)
    monkeypatch.setattr(writer, "_write_shards_in_parallel", spy)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    parallel = file_bytes(write_checkpoint(tmp_path / "parallel" / "ck", tensors, num_shards=3))
    assert used == [True]
    assert parallel == serial
    got = read_checkpoint(tmp_path / "parallel" / "ck")
    assert np.array_equal(got["layer_2/kernel"], tensors["layer_2/kernel"])


def test_failing_shard_thread_leaves_nothing(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    real = writer._write_data

    def flaky(out: Any, tensor: Any) -> Any:
        if tensor.name == "layer_3/kernel":
            raise OSError("disk full")
        return real(out, tensor)

    monkeypatch.setattr(writer, "_PARALLEL_SHARDS_BYTES", 0)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(writer, "_write_data", flaky)
    with pytest.raises(OSError, match="disk full"):
        write_checkpoint(tmp_path / "ck", big_tensors(6, 1), num_shards=3)
    assert list(tmp_path.iterdir()) == []


def test_overlapped_checksums_match_inline_ones(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    tensors = {
        "contiguous": rng.standard_normal(3 * MiB // 8),          # float64, 3 MiB
        "transposed": rng.standard_normal((700, 600)).T,          # converted in chunks
        "big_endian": rng.standard_normal(MiB // 4).astype(">f4"),
        "small": np.arange(5, dtype=np.uint8),
    }
    overlapped = file_bytes(write_checkpoint(tmp_path / "a" / "ck", tensors))
    monkeypatch.setattr(writer, "_OVERLAP_CRC_BYTES", 1 << 62)
    monkeypatch.setattr(writer, "_CRC_PIECE_BYTES", 12345)  # odd piece boundaries
    inline = file_bytes(write_checkpoint(tmp_path / "b" / "ck", tensors))
    assert overlapped == inline
    with CheckpointReader(tmp_path / "a" / "ck") as reader:  # verifies every crc
        for name, value in tensors.items():
            assert np.array_equal(reader.get_tensor(name), value)


def batch_mix() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    return {
        "a_big": rng.standard_normal(40 * MiB // 4, dtype=np.float32),  # > one batch
        "b_small": np.arange(5, dtype=np.uint8),          # between large ones
        "c_medium": rng.standard_normal(2 * MiB // 8),
        "d_strings": np.array([b"a", b"bcd"], dtype=object),
        "e_transposed": rng.standard_normal((700, 600)).T,  # converted, not batched
        "f_medium": rng.integers(0, 9, 3 * MiB // 4, dtype=np.int32),
        "g_tail": np.arange(3, dtype=np.int16),
    }


def added_one_by_one(prefix: Path, tensors: dict[str, np.ndarray]) -> list[Path]:
    """Through CheckpointWriter.add: no runs of small tensors, each its own item."""
    out = CheckpointWriter(prefix)
    for name, value in tensors.items():
        out.add(name, value)
    return out.finish()


@pytest.mark.parametrize("how", ["mapping", "one_by_one"])
def test_batched_writes_match_one_tensor_at_a_time(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   how: str) -> None:
    tensors = {**batch_mix(), "h_strings": np.array([b"z"], dtype=object),
               "i_empty": np.zeros((0, 3), np.float32)}  # an empty one last, after strings
    tensors = {"0_empty": np.zeros(0, np.int8), **tensors}
    write = write_checkpoint if how == "mapping" else added_one_by_one
    calls: list[int] = []
    real = os.writev

    def spy(fd: int, buffers: Any) -> int:
        calls.append(len(buffers))
        return real(fd, buffers)

    monkeypatch.setattr(os, "writev", spy)
    batched = file_bytes(write(tmp_path / "a" / "ck", tensors))
    assert calls, "large tensors are written by os.writev"
    monkeypatch.setattr(writer, "_HAVE_WRITEV", False)
    calls.clear()
    one_by_one = file_bytes(write(tmp_path / "b" / "ck", tensors))
    assert calls == []
    assert batched == one_by_one
    with CheckpointReader(tmp_path / "a" / "ck") as reader:  # verifies every crc
        for name, value in tensors.items():
            assert np.array_equal(reader.get_tensor(name), value)


def test_batched_writes_resume_after_short_writes(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    tensors = batch_mix()
    expected = file_bytes(write_checkpoint(tmp_path / "a" / "ck", tensors))
    real = os.writev

    def short(fd: int, buffers: Any) -> int:  # what a signal or a full pipe can do
        out, room = [], 1_000_003
        for buffer in buffers:
            piece = memoryview(buffer)[:room]
            out.append(piece)
            room -= len(piece)
            if not room:
                break
        return real(fd, out)

    monkeypatch.setattr(os, "writev", short)
    assert file_bytes(write_checkpoint(tmp_path / "b" / "ck", tensors)) == expected


def test_failing_batched_write_leaves_nothing(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = os.writev

    def full(fd: int, buffers: Any) -> int:
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(fd, buffers)

    monkeypatch.setattr(os, "writev", full)
    with pytest.raises(OSError, match="No space left"):
        write_checkpoint(tmp_path / "ck", batch_mix())
    assert len(calls) == 2
    assert list(tmp_path.iterdir()) == []


def test_interrupted_overwrite_leaves_no_index(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = tmp_path / "ck"
    write_checkpoint(prefix, {"a": np.zeros(3)})
    assert (tmp_path / "ck.index").exists()
    real = os.replace

    def replace(src: Any, dst: Any) -> None:
        if ".data-" in str(dst):
            assert not (tmp_path / "ck.index").exists()  # the old index went first
            raise OSError("power cut")
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="power cut"):
        write_checkpoint(prefix, {"a": np.ones(3)})
    assert not (tmp_path / "ck.index").exists()
    assert not [p for p in tmp_path.iterdir() if ".tempstate" in p.name]


def test_executor_hands_over_to_the_distributed_writer(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    received: dict[str, Any] = {}

    def write_checkpoint_distributed(prefix: Any, tensors: Any, **kwargs: Any) -> list[Path]:
        received.update(prefix=prefix, tensors=tensors, **kwargs)
        return [Path("sentinel")]

    monkeypatch.setattr(distributed, "write_checkpoint_distributed", write_checkpoint_distributed)
    executor, progress, tensors = object(), Recorder(), {"a": np.zeros(2)}
    result = write_checkpoint(tmp_path / "ck", tensors, num_shards=2, executor=executor,
                              progress=progress)
    assert result == [Path("sentinel")]
    assert received == {"prefix": tmp_path / "ck", "tensors": tensors, "num_shards": 2,
                        "shards": None, "executor": executor, "progress": progress}
    assert list(tmp_path.iterdir()) == []
