"""Shard bundles, their merge (byte-identical to MergeV2Checkpoints) and checkpoints written
through executors: a process pool, a thread pool and a real dask.distributed cluster."""

from __future__ import annotations

import concurrent.futures
import errno
import functools
import io
import json
import multiprocessing
import os
import pickle
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pysavedmodel import errors
from pysavedmodel._proto import tensor_bundle_pb2
from pysavedmodel.errors import (
    CorruptCheckpointError,
    InvalidArgumentError,
    NotFoundError,
    UnsupportedDTypeError,
)
from pysavedmodel.format import distributed
from pysavedmodel.format.bundle import CheckpointWriter, read_checkpoint, write_checkpoint
from pysavedmodel.format.distributed import (
    merge_shards,
    shard_prefix,
    write_checkpoint_distributed,
    write_shard,
)
from pysavedmodel.format.table import TableReader, TableWriter
from tests.support.bundle_files import index_entries, manifest_value

# --------------------------------------------------------------------------- helpers


def strings(*items: bytes) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = list(items)
    return out


def sample_tensors() -> dict[str, np.ndarray]:
    """Mixed dtypes and sizes, including strings and an empty tensor, in a fixed order."""
    rng = np.random.default_rng(7)
    return {
        "dense/kernel": rng.standard_normal((64, 32)).astype(np.float32),
        "dense/bias": np.arange(32, dtype=np.float64),
        "embed/table": rng.integers(0, 1000, (200, 16)).astype(np.int64),
        "vocab": strings(b"alpha", b"", b"\x00\xff", b"x" * 300),
        "step": np.array(12345, dtype=np.int64),
        "empty": np.zeros((0, 3), np.float32),
        "flags": np.array([True, False, True]),
    }


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def file_bytes(prefix: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(prefix.parent.iterdir())
            if p.name.startswith(prefix.name + ".")}


def assert_read_equal(prefix: Path, expected: Mapping[str, np.ndarray]) -> None:
    values = read_checkpoint(prefix)
    assert sorted(values) == sorted(expected)
    for name, value in expected.items():
        assert values[name].dtype == value.dtype or value.dtype == object, name
        assert values[name].shape == value.shape, name
        assert values[name].tolist() == value.tolist(), name


def rewrite_header(prefix: Path, **changes: Any) -> None:
    """Rewrite a bundle's index with header fields changed (version: a VersionDef dict)."""
    path = Path(f"{prefix}.index")
    items = list(TableReader(path.read_bytes()).items())
    header = tensor_bundle_pb2.BundleHeaderProto.FromString(items[0][1])
    for field, value in changes.items():
        if field == "version":
            for sub, number in value.items():
                setattr(header.version, sub, number)
        else:
            setattr(header, field, value)
    with open(path, "wb") as out:
        table = TableWriter(out)
        table.add(b"", header.SerializeToString(deterministic=True))
        for key, value in items[1:]:
            table.add(key, value)
        table.finish()


def save_npy(directory: Path, tensors: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Loaders for ``tensors``: picklable callables that read .npy files from shared storage."""
    directory.mkdir(parents=True, exist_ok=True)
    loaders = {}
    for i, (name, value) in enumerate(tensors.items()):
        path = directory / f"{i}.npy"
        np.save(path, value, allow_pickle=value.dtype == object)
        loaders[name] = functools.partial(np.load, str(path), allow_pickle=value.dtype == object)
    return loaders


BAD_DTYPE_LOADER = functools.partial(np.array, ["2020-01-01"], dtype="datetime64[D]")
"""A picklable loader whose array a checkpoint cannot hold (fails on the worker)."""


@pytest.fixture(scope="module")
def process_pool() -> Iterator[concurrent.futures.ProcessPoolExecutor]:
    # spawn: workers inherit nothing from the test process, as on another host
    with concurrent.futures.ProcessPoolExecutor(
            2, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


# --------------------------------------------------------------------------- shards and merge


def test_shard_prefix_is_tensorflows_sharded_filename() -> None:
    # the fixture script: ShardedFilename(basename="<ck>/variables_temp/part", shard, 2)
    assert shard_prefix("ck/variables", 1, 2) == Path("ck/variables_temp/part-00001-of-00002")
    assert shard_prefix(Path("/a/b"), 0, 100000) == Path("/a/b_temp/part-00000-of-100000")


def test_merge_fixture_shards_byte_identical(tmp_path: Path, fixtures_dir: Path) -> None:
    """Recreate the fixture's two SaveV2 shard bundles with write_shard, merge, compare bytes."""
    fixture = fixtures_dir / "checkpoint_sharded"
    manifest = json.loads((fixture / "manifest.json").read_text())
    prefix = tmp_path / "variables"
    bundles = []
    for shard, names in sorted(manifest["shards"].items()):
        tensors = {n: manifest_value(manifest["tensors"][n])
                   for n in manifest["write_order"] if n in names}
        paths = write_shard(prefix, tensors, shard=int(shard), num_shards=2)
        bundles.append(shard_prefix(prefix, int(shard), 2))
        assert paths == [Path(f"{bundles[-1]}.data-00000-of-00001"),
                         Path(f"{bundles[-1]}.index")]
    written = merge_shards(bundles, prefix)
    assert written == [tmp_path / "variables.data-00000-of-00002",
                       tmp_path / "variables.data-00001-of-00002", tmp_path / "variables.index"]
    expected = {p.name: p.read_bytes() for p in fixture.iterdir() if p.name != "manifest.json"}
    assert file_bytes(prefix) == expected
    assert files_under(tmp_path) == sorted(expected)  # shard indexes and the _temp dir are gone


def test_merge_keeps_shards_when_asked_and_numbers_in_prefix_order(tmp_path: Path) -> None:
    prefix = tmp_path / "ck"
    write_shard(prefix, {"z": np.float32([1])}, shard=0, num_shards=2)
    write_shard(prefix, {"a": np.float32([2])}, shard=1, num_shards=2)
    merge_shards([shard_prefix(prefix, 0, 2), shard_prefix(prefix, 1, 2)], prefix,
                 delete_old=False)
    entries = index_entries(prefix)
    assert (entries[b"z"].shard_id, entries[b"a"].shard_id) == (0, 1)
    assert Path(f"{shard_prefix(prefix, 0, 2)}.index").exists()
    assert Path(f"{shard_prefix(prefix, 1, 2)}.index").exists()
    assert {k: v.tolist() for k, v in read_checkpoint(prefix).items()} == {"z": [1.0], "a": [2.0]}


def test_merge_partitioned_tensor_across_shards(tmp_path: Path) -> None:
    """Slices of one tensor in two shard bundles: one full-name entry lists both slices."""
    full = np.arange(24, dtype=np.float32).reshape(6, 4)
    prefix = tmp_path / "ck"
    for shard, (rows, spec) in enumerate([(slice(0, 4), "0,4:-"), (slice(4, 6), "4,2:-")]):
        with CheckpointWriter(shard_prefix(prefix, shard, 2)) as writer:
            writer.add_slice("part", (6, 4), spec, full[rows])
            writer.add(f"plain{shard}", np.int32([shard]))
    merge_shards([shard_prefix(prefix, s, 2) for s in range(2)], prefix)
    values = read_checkpoint(prefix)
    assert values["part"].tolist() == full.tolist()
    assert values["plain1"].tolist() == [1]
    assert len(index_entries(prefix)[b"part"].slices) == 2


def test_merge_duplicate_tensor_is_refused_and_nothing_moves(tmp_path: Path) -> None:
    prefix = tmp_path / "ck"
    write_shard(prefix, {"w": np.float32([1]), "dup": np.float32([1])}, shard=0, num_shards=2)
    write_shard(prefix, {"dup": np.float32([2])}, shard=1, num_shards=2)
    before = files_under(tmp_path)
    with pytest.raises(InvalidArgumentError, match="duplicate tensor 'dup'"):
        merge_shards([shard_prefix(prefix, s, 2) for s in range(2)], prefix)
    assert files_under(tmp_path) == before


def test_merge_missing_shard_index_or_data_file(tmp_path: Path) -> None:
    prefix = tmp_path / "ck"
    write_shard(prefix, {"a": np.float32([1])}, shard=0, num_shards=2)
    bundles = [shard_prefix(prefix, s, 2) for s in range(2)]
    with pytest.raises(NotFoundError, match="part-00001-of-00002.index does not exist"):
        merge_shards(bundles, prefix)
    write_shard(prefix, {"b": np.float32([1])}, shard=1, num_shards=2)
    Path(f"{bundles[1]}.data-00000-of-00001").unlink()
    before = files_under(tmp_path)
    with pytest.raises(NotFoundError, match=r"part-00001-of-00002\.data-00000-of-00001"):
        merge_shards(bundles, prefix)
    assert files_under(tmp_path) == before  # the first shard's data file was not renamed


@pytest.mark.parametrize("change, message", [
    ({"endianness": tensor_bundle_pb2.BundleHeaderProto.BIG}, "endianness BIG differs"),
    ({"version": {"producer": 2}}, r"format version \(producer 2"),
])
def test_merge_rejects_headers_that_disagree(tmp_path: Path, change: dict[str, Any],
                                             message: str) -> None:
    prefix = tmp_path / "ck"
    write_shard(prefix, {"a": np.float32([1])}, shard=0, num_shards=2)
    write_shard(prefix, {"b": np.float32([1])}, shard=1, num_shards=2)
    rewrite_header(shard_prefix(prefix, 1, 2), **change)
    with pytest.raises(InvalidArgumentError, match=message):
        merge_shards([shard_prefix(prefix, s, 2) for s in range(2)], prefix)
    assert not Path(f"{prefix}.index").exists()


def test_merge_rejects_empty_shard_bundle_and_bad_arguments(tmp_path: Path) -> None:
    prefix = tmp_path / "ck"
    write_shard(prefix, {"a": np.float32([1])}, shard=0, num_shards=2)
    write_checkpoint(shard_prefix(prefix, 1, 2), {})  # a bundle without tensors
    with pytest.raises(InvalidArgumentError, match="without tensors cannot be merged"):
        merge_shards([shard_prefix(prefix, s, 2) for s in range(2)], prefix)
    with pytest.raises(InvalidArgumentError, match="is the destination prefix"):
        merge_shards([prefix], prefix)
    with pytest.raises(InvalidArgumentError, match="non-empty list"):
        merge_shards(str(shard_prefix(prefix, 0, 2)), prefix)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="non-empty list"):
        merge_shards([], prefix)
    Path(f"{shard_prefix(prefix, 0, 2)}.index").write_bytes(b"not a table")
    with pytest.raises(CorruptCheckpointError):
        merge_shards([shard_prefix(prefix, 0, 2)], prefix)


def test_merge_across_filesystems_is_rolled_back(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = tmp_path / "ck"
    write_shard(prefix, {"a": np.float32([1])}, shard=0, num_shards=2)
    write_shard(prefix, {"b": np.float32([1])}, shard=1, num_shards=2)
    before = files_under(tmp_path)
    real_replace = os.replace
    calls = []

    def replace(src: Any, dst: Any) -> None:
        calls.append(dst)
        if len(calls) == 2:  # the second data file is on "another device"
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_replace(src, dst)

    monkeypatch.setattr(distributed.os, "replace", replace)
    with pytest.raises(InvalidArgumentError, match="another filesystem"):
        merge_shards([shard_prefix(prefix, s, 2) for s in range(2)], prefix)
    monkeypatch.undo()
    assert files_under(tmp_path) == before  # the first rename was undone
    merge_shards([shard_prefix(prefix, s, 2) for s in range(2)], prefix)
    assert {k: v.tolist() for k, v in read_checkpoint(prefix).items()} == {"a": [1.0], "b": [1.0]}


def test_write_shard_arguments(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"shard must be an int in \[0, 2\), got 2"):
        write_shard(tmp_path / "ck", {"a": np.float32([1])}, shard=2, num_shards=2)
    with pytest.raises(InvalidArgumentError, match="num_shards must be an int >= 1"):
        write_shard(tmp_path / "ck", {"a": np.float32([1])}, shard=0, num_shards=0)
    with pytest.raises(InvalidArgumentError, match="holds no tensors"):
        write_shard(tmp_path / "ck", {}, shard=0, num_shards=1)
    with pytest.raises(UnsupportedDTypeError, match="tensor 'bad'"):
        write_shard(tmp_path / "ck", {"bad": BAD_DTYPE_LOADER}, shard=0, num_shards=1)
    assert files_under(tmp_path) == []


@pytest.mark.parametrize("name", errors.__all__)
def test_errors_survive_pickling_across_processes(name: str) -> None:
    cls = getattr(errors, name)
    clone = pickle.loads(pickle.dumps(cls("tensor 'x': dtype datetime64 cannot be stored")))
    assert type(clone) is cls
    assert str(clone) == "tensor 'x': dtype datetime64 cannot be stored"


# --------------------------------------------------------------------------- executors


def test_process_pool_byte_identical_to_single_process(
        tmp_path: Path, process_pool: concurrent.futures.Executor) -> None:
    tensors = sample_tensors()
    calls: list[tuple[int, int]] = []
    ours = tmp_path / "pool" / "ck"
    written = write_checkpoint_distributed(ours, tensors, num_shards=3, executor=process_pool,
                                           progress=lambda d, t: calls.append((d, t)))
    single = tmp_path / "single" / "ck"
    write_checkpoint(single, tensors, num_shards=3)
    assert file_bytes(ours) == file_bytes(single)
    assert [p.name for p in written] == sorted(file_bytes(single))
    assert files_under(tmp_path / "pool") == sorted(file_bytes(single))  # no _temp left
    assert_read_equal(ours, tensors)
    total = sum(os.path.getsize(p) for p in written[:-1])
    assert len(calls) == 3 and calls[-1] == (total, total)
    assert all(t == total for _, t in calls)  # arrays: the total is exact from the start
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and calls[0][0] < total


def assert_executor_writes_as_one_process(
        ours: Path, tmp_path: Path, loaders: dict[str, Any], tensors: dict[str, np.ndarray],
        shards: list[list[str]], executor: concurrent.futures.Executor) -> None:
    """Through ``executor`` the checkpoint ``ours`` has the bytes of a one-process write,
    and the loaders run on the workers (os.getpid called there returns a worker's pid)."""
    write_checkpoint_distributed(ours, loaders, shards=shards, executor=executor)
    single = tmp_path / "single" / "ck"
    write_checkpoint(single, tensors, shards=shards)
    assert file_bytes(ours) == file_bytes(single)
    assert_read_equal(ours, tensors)
    write_checkpoint_distributed(tmp_path / "pid" / "ck", {"pid": os.getpid, **loaders},
                                 num_shards=2, executor=executor)
    assert int(read_checkpoint(tmp_path / "pid" / "ck")["pid"]) != os.getpid()


def test_process_pool_loaders_with_explicit_shards(
        tmp_path: Path, process_pool: concurrent.futures.Executor) -> None:
    tensors = sample_tensors()
    loaders = save_npy(tmp_path / "npy", tensors)
    shards = [["vocab", "step"], ["dense/kernel", "empty"], ["dense/bias", "embed/table", "flags"]]
    assert_executor_writes_as_one_process(tmp_path / "pool" / "ck", tmp_path, loaders, tensors,
                                          shards, process_pool)


def test_loaders_without_shards_go_round_robin(tmp_path: Path) -> None:
    tensors = sample_tensors()
    loaders = {name: functools.partial(np.asarray, value) for name, value in tensors.items()}
    calls: list[tuple[int, int]] = []
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        written = write_checkpoint_distributed(tmp_path / "ck", loaders, num_shards=3,
                                               executor=pool,
                                               progress=lambda d, t: calls.append((d, t)))
    entries = index_entries(tmp_path / "ck")
    for i, name in enumerate(tensors):
        assert entries[name.encode()].shard_id == i % 3, name
    assert_read_equal(tmp_path / "ck", tensors)
    total = sum(os.path.getsize(p) for p in written[:-1])
    assert len(calls) == 3 and calls[-1] == (total, total)


def test_thread_pool_and_one_shard(tmp_path: Path) -> None:
    tensors = sample_tensors()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        write_checkpoint_distributed(tmp_path / "a" / "ck", tensors, num_shards=1, executor=pool)
    write_checkpoint(tmp_path / "b" / "ck", tensors)
    assert file_bytes(tmp_path / "a" / "ck") == file_bytes(tmp_path / "b" / "ck")


def test_write_checkpoint_with_executor_delegates(tmp_path: Path) -> None:
    tensors = sample_tensors()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        write_checkpoint(tmp_path / "a" / "ck", tensors, num_shards=2,
                         executor=pool)
    write_checkpoint(tmp_path / "b" / "ck", tensors, num_shards=2)
    assert file_bytes(tmp_path / "a" / "ck") == file_bytes(tmp_path / "b" / "ck")


def test_failing_worker_raises_its_error_and_leaves_nothing(
        tmp_path: Path, process_pool: concurrent.futures.Executor) -> None:
    loaders = save_npy(tmp_path / "npy", sample_tensors())
    loaders["bad"] = BAD_DTYPE_LOADER
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(UnsupportedDTypeError, match="tensor 'bad': dtype datetime64"):
        write_checkpoint_distributed(out / "deep" / "ck", loaders, num_shards=4,
                                     executor=process_pool)
    assert files_under(out) == []  # no shard files, no _temp dir, no created parents


def test_driver_side_errors_before_any_task(tmp_path: Path) -> None:
    class Refuse(concurrent.futures.Executor):
        def submit(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("nothing may be submitted")

    tensors = {"a": np.float32([1]), "b": np.float32([2])}
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"num_shards": 3}, InvalidArgumentError, r"shard\(s\) \[2\] of 3 would hold no tensor"),
        ({"shards": [["a"], ["a", "b"]]}, InvalidArgumentError, "listed in shard 0 and shard 1"),
        ({"shards": [["a"]]}, InvalidArgumentError, r"not assigned to any shard: \['b'\]"),
        ({"shards": [["a", "c"], ["b"]]}, InvalidArgumentError, "'c', which is not in tensors"),
        ({"shards": [["a"], ["b"]], "num_shards": 3}, InvalidArgumentError, "lists 2 shards"),
        ({}, InvalidArgumentError, "needs num_shards or shards"),
    ]
    for kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            write_checkpoint_distributed(tmp_path / "ck", tensors, executor=Refuse(), **kwargs)
    with pytest.raises(UnsupportedDTypeError, match="tensor 'd'"):
        write_checkpoint_distributed(tmp_path / "ck", {"d": np.array(["2020"], "datetime64[D]")},
                                     num_shards=1, executor=Refuse())
    with pytest.raises(InvalidArgumentError, match="executor must be"):
        write_checkpoint_distributed(tmp_path / "ck", tensors, num_shards=1,
                                     executor=object())  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="no tensors"):
        write_checkpoint_distributed(tmp_path / "ck", {}, num_shards=1, executor=Refuse())
    assert files_under(tmp_path) == []


# --------------------------------------------------------------------------- dask.distributed


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    """A real scheduler and two worker processes on loopback."""
    from distributed import Client, LocalCluster  # a test-only extra

    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


def test_dask_cluster_byte_identical_and_failure_cleanup(tmp_path: Path, dask_client: Any) -> None:
    dask_executor = dask_client.get_executor()
    tensors = sample_tensors()
    loaders: dict[str, Any] = save_npy(tmp_path / "npy", tensors)
    loaders["dense/kernel"] = tensors["dense/kernel"]  # arrays and loaders mixed
    shards = [["dense/kernel", "vocab"], ["dense/bias", "embed/table"], ["step", "empty", "flags"]]
    ours = tmp_path / "dask" / "ck"
    assert_executor_writes_as_one_process(ours, tmp_path, loaders, tensors, shards, dask_executor)

    loaders["bad"] = BAD_DTYPE_LOADER
    shutil.rmtree(tmp_path / "dask")
    with pytest.raises(UnsupportedDTypeError, match="tensor 'bad'"):
        write_checkpoint_distributed(ours, loaders, num_shards=2, executor=dask_executor)
    assert not (tmp_path / "dask").exists()
    with pytest.raises(InvalidArgumentError, match=r"client.get_executor\(\)\), got Client"):
        write_checkpoint_distributed(ours, tensors, num_shards=2, executor=dask_client)


# -- merging in bulk: entries re-encoded with numpy must equal protobuf's re-serialization


def _protobuf_merge(sources: list[Path]) -> bytes:
    """The merged index as protobuf builds it: every entry parsed, its shard id renumbered
    in order of first reference, serialized again (slices of one tensor joined)."""
    import io

    entries: dict[bytes, tensor_bundle_pb2.BundleEntryProto] = {}
    files: dict[str, int] = {}
    shards = 0
    header = None
    for source in sources:
        items = dict(TableReader(Path(f"{source}.index").read_bytes()).items())
        head = tensor_bundle_pb2.BundleHeaderProto.FromString(items.pop(b""))
        header = header or head
        shards += head.num_shards
        new_ids: dict[int, int] = {}
        for key in sorted(items):
            entry = tensor_bundle_pb2.BundleEntryProto.FromString(items[key])
            if key in entries:
                entries[key].slices.extend(entry.slices)
                continue
            if entry.shard_id not in new_ids:
                path = f"{source}.data-{entry.shard_id:05d}-of-{head.num_shards:05d}"
                new_ids[entry.shard_id] = files.setdefault(path, len(files))
            entry.shard_id = new_ids[entry.shard_id]
            entries[key] = entry
    assert header is not None
    merged = tensor_bundle_pb2.BundleHeaderProto(num_shards=shards)
    merged.endianness = header.endianness
    merged.version.CopyFrom(header.version)
    out = io.BytesIO()
    table = TableWriter(out)
    table.add(b"", merged.SerializeToString(deterministic=True))
    for key in sorted(entries):
        table.add(key, entries[key].SerializeToString(deterministic=True))
    table.finish()
    return out.getvalue()


def test_bulk_merge_equals_protobuf_reserialization_with_unusual_entries(
        tmp_path: Path) -> None:
    prefix = tmp_path / "ck"
    sources = []
    for shard in range(3):
        with CheckpointWriter(shard_prefix(prefix, shard, 3)) as writer:
            for i in range(shard, 300, 3):
                writer.add(f"t/{i:03d}", np.full(i % 4, i, [np.float32, np.int16][i % 2]))
            writer.add_slice("p", (3, 2), f"{shard},1:-", np.full((1, 2), shard, np.float32))
        sources.append(shard_prefix(prefix, shard, 3))
    # shard 1: two entries in encodings protobuf would not produce (an explicit zero
    # offset field; a varint with a redundant continuation byte): merged as protobuf does
    index = Path(f"{sources[1]}.index")
    items = dict(TableReader(index.read_bytes()).items())
    first = sorted(k for k in items if k.startswith(b"t/"))[0]
    entry = tensor_bundle_pb2.BundleEntryProto.FromString(items[first])
    assert entry.offset == 0
    items[first] = items[first] + b"\x20\x00"
    second = [k for k in sorted(items) if k.startswith(b"t/") and k != first and
              tensor_bundle_pb2.BundleEntryProto.FromString(items[k]).size][0]
    value = items[second]
    at = value.index(b"\x28")  # size: 1 byte -> 2 bytes with a redundant continuation
    items[second] = value[:at + 1] + bytes([value[at + 1] | 0x80, 0]) + value[at + 2:]
    assert tensor_bundle_pb2.BundleEntryProto.FromString(items[second]).size == \
        tensor_bundle_pb2.BundleEntryProto.FromString(value).size
    out = io.BytesIO()
    table = TableWriter(out)
    for key in sorted(items):
        table.add(key, items[key])
    table.finish()
    index.write_bytes(out.getvalue())
    expected = _protobuf_merge(sources)
    shard_index = distributed._ShardIndex(str(sources[1]))
    # parsed by protobuf: "p" (slices) and the two unusual entries; the rest in bulk
    assert {shard_index.keys[row] for row in shard_index.entries} == {b"p", first, second}
    merge_shards(sources, prefix)
    assert Path(f"{prefix}.index").read_bytes() == expected
    back = read_checkpoint(prefix)
    assert back["p"].tolist() == [[0, 0], [1, 1], [2, 2]]
    assert back["t/299"].tolist() == [299.0] * 3
