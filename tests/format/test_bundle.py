"""TensorBundle writer/reader: byte identity with TF's fixtures, reading, errors, atomicity."""

from __future__ import annotations

import json
import mmap
import os
import tracemalloc
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest

import pysavedmodel.format.writer as writer
from pysavedmodel._proto import tensor_bundle_pb2
from pysavedmodel.errors import (
    BuilderStateError,
    ChecksumError,
    CorruptCheckpointError,
    Error,
    InvalidArgumentError,
    NotFoundError,
    UnsupportedDTypeError,
)
from pysavedmodel.format import tensor_data
from pysavedmodel.format.bundle import (
    CheckpointReader,
    CheckpointWriter,
    read_checkpoint,
    write_checkpoint,
)
from pysavedmodel.format.crc32c import crc32c, mask
from pysavedmodel.format.table import TableReader, TableWriter
from tests.support.bundle_files import manifest_value

# --------------------------------------------------------------------------- helpers


def load_manifest(fixtures_dir: Path, name: str) -> dict[str, Any]:
    return json.loads((fixtures_dir / name / "manifest.json").read_text())


def many_tensors() -> dict[str, np.ndarray]:
    """checkpoint_many's tensors, in its write order (see its manifest note)."""
    return {f"model/encoder/layer_{i:05d}/{k}": np.float32([i, j])
            for i in range(6000) for j, k in enumerate(("kernel", "bias"))}


def sliced_saves(writer: CheckpointWriter, saves: list[Mapping[str, Any]]) -> None:
    """Replay checkpoint_sliced's SaveV2 calls on ``writer``."""
    for save in saves:
        value = manifest_value(save)
        spec = save["shape_and_slice"]
        if spec:
            full_shape = [int(d) for d in spec.split(" ")[:-1]]
            writer.add_slice(save["name"], full_shape, spec, value)
        else:
            writer.add(save["name"], value)


def assert_same_files(ours: Path, theirs: Path) -> None:
    names = sorted(p.name for p in theirs.iterdir() if p.name != "manifest.json")
    assert sorted(p.name for p in ours.iterdir()) == names
    for name in names:
        assert (ours / name).read_bytes() == (theirs / name).read_bytes(), name


def assert_bitwise_equal(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    if expected.dtype == object:
        assert actual.tolist() == expected.tolist()
    else:
        assert np.ascontiguousarray(actual).tobytes() == np.ascontiguousarray(expected).tobytes()


def index_entries(prefix: Path) -> dict[bytes, Any]:
    table = TableReader((Path(f"{prefix}.index")).read_bytes())
    out: dict[bytes, Any] = {}
    for key, value in table.items():
        msg = tensor_bundle_pb2.BundleHeaderProto() if key == b"" else \
            tensor_bundle_pb2.BundleEntryProto()
        msg.ParseFromString(value)
        out[key] = msg
    return out


def rewrite_index(prefix: Path, change: Any) -> None:
    """Re-encode ``prefix.index`` after ``change(key, message)`` edits its protos in place."""
    entries = index_entries(prefix)
    path = Path(f"{prefix}.index")
    with open(path, "wb") as f:
        table = TableWriter(f)
        for key, msg in entries.items():
            change(key, msg)
            table.add(key, msg.SerializeToString(deterministic=True))
        table.finish()


# --------------------------------------------------------------------------- byte identity


def test_dtypes_fixture_byte_identical(tmp_path: Path, fixtures_dir: Path) -> None:
    manifest = load_manifest(fixtures_dir, "checkpoint_dtypes")
    tensors = {name: manifest_value(manifest["tensors"][name]) for name in manifest["write_order"]}
    written = write_checkpoint(tmp_path / "variables", tensors)
    assert written == [tmp_path / "variables.data-00000-of-00001", tmp_path / "variables.index"]
    assert_same_files(tmp_path, fixtures_dir / "checkpoint_dtypes")


def test_many_fixture_byte_identical(tmp_path: Path, fixtures_dir: Path) -> None:
    write_checkpoint(tmp_path / "variables", many_tensors())
    assert_same_files(tmp_path, fixtures_dir / "checkpoint_many")


def test_sharded_fixture_byte_identical(tmp_path: Path, fixtures_dir: Path) -> None:
    manifest = load_manifest(fixtures_dir, "checkpoint_sharded")
    tensors = {name: manifest_value(manifest["tensors"][name]) for name in manifest["write_order"]}
    shards = [manifest["shards"][str(i)] for i in range(len(manifest["shards"]))]
    write_checkpoint(tmp_path / "variables", tensors, num_shards=2, shards=shards)
    assert_same_files(tmp_path, fixtures_dir / "checkpoint_sharded")


def test_sharded_fixture_num_shards_inferred_from_shards(tmp_path: Path,
                                                         fixtures_dir: Path) -> None:
    manifest = load_manifest(fixtures_dir, "checkpoint_sharded")
    tensors = {name: manifest_value(manifest["tensors"][name]) for name in manifest["write_order"]}
    write_checkpoint(tmp_path / "variables", tensors, shards=[manifest["shards"]["0"],
                                                               manifest["shards"]["1"]])
    assert_same_files(tmp_path, fixtures_dir / "checkpoint_sharded")


def test_sliced_fixture_byte_identical(tmp_path: Path, fixtures_dir: Path) -> None:
    manifest = load_manifest(fixtures_dir, "checkpoint_sliced")
    with CheckpointWriter(tmp_path / "variables") as writer:
        sliced_saves(writer, manifest["saves"])
    assert_same_files(tmp_path, fixtures_dir / "checkpoint_sliced")


def test_sliced_fixture_with_pair_specs(tmp_path: Path, fixtures_dir: Path) -> None:
    """The (start, length) form and the bare "0,4:-" form write the same bytes."""
    manifest = load_manifest(fixtures_dir, "checkpoint_sliced")
    with CheckpointWriter(tmp_path / "variables") as writer:
        for save in manifest["saves"]:
            value = manifest_value(save)
            if not save["shape_and_slice"]:
                writer.add(save["name"], value)
                continue
            *dims, text = save["shape_and_slice"].split(" ")
            pairs = [(0, -1) if f == "-" else tuple(int(x) for x in f.split(","))
                     for f in text.split(":")]
            if save["name"] == "part/rows":
                writer.add_slice(save["name"], [int(d) for d in dims], text, value)
            else:
                writer.add_slice(save["name"], [int(d) for d in dims], pairs, value)
    assert_same_files(tmp_path, fixtures_dir / "checkpoint_sliced")


# --------------------------------------------------------------------------- reading fixtures


@pytest.mark.parametrize("fixture", ["checkpoint_dtypes", "checkpoint_sharded"])
def test_read_fixture_equals_manifest(fixtures_dir: Path, fixture: str) -> None:
    manifest = load_manifest(fixtures_dir, fixture)
    values = read_checkpoint(fixtures_dir / fixture / "variables")
    assert sorted(values) == sorted(manifest["tensors"])
    for name, desc in manifest["tensors"].items():
        assert_bitwise_equal(values[name], manifest_value(desc))


def test_read_sliced_fixture_assembles_full_tensors(fixtures_dir: Path) -> None:
    manifest = load_manifest(fixtures_dir, "checkpoint_sliced")
    values = read_checkpoint(fixtures_dir / "checkpoint_sliced" / "variables")
    assert sorted(values) == sorted(manifest["tensors"])  # slice keys are not returned
    for name, desc in manifest["tensors"].items():
        assert_bitwise_equal(values[name], manifest_value(desc))


def test_read_many_fixture(fixtures_dir: Path) -> None:
    values = read_checkpoint(fixtures_dir / "checkpoint_many" / "variables")
    expected = many_tensors()
    assert sorted(values) == sorted(expected)
    for name, value in expected.items():
        assert_bitwise_equal(values[name], value)


def test_read_v2_module_object_graph_checkpoint(fixtures_dir: Path) -> None:
    manifest = json.loads((fixtures_dir / "savedmodel_v2_module.manifest.json").read_text())
    prefix = fixtures_dir / "savedmodel_v2_module" / "variables" / "variables"
    values = read_checkpoint(prefix)
    assert sorted(values) == ["_CHECKPOINTABLE_OBJECT_GRAPH", "b/.ATTRIBUTES/VARIABLE_VALUE",
                              "w/.ATTRIBUTES/VARIABLE_VALUE"]
    for var in ("w", "b"):
        assert_bitwise_equal(values[f"{var}/.ATTRIBUTES/VARIABLE_VALUE"],
                             manifest_value(manifest["variables"][var]))
    graph = values["_CHECKPOINTABLE_OBJECT_GRAPH"]
    assert graph.dtype == object and graph.shape == ()
    assert isinstance(graph.item(), bytes) and b"VARIABLE_VALUE" in graph.item()
    with CheckpointReader(prefix) as reader:
        assert reader.dtype("_CHECKPOINTABLE_OBJECT_GRAPH") == np.dtype(object)
        assert reader.shape("_CHECKPOINTABLE_OBJECT_GRAPH") == ()


def test_read_v1_builder_variables(fixtures_dir: Path) -> None:
    manifest = json.loads((fixtures_dir / "savedmodel_v1_builder.manifest.json").read_text())
    values = read_checkpoint(fixtures_dir / "savedmodel_v1_builder" / "variables" / "variables")
    assert sorted(values) == sorted(manifest["variables"])
    for name, desc in manifest["variables"].items():
        assert_bitwise_equal(values[name], manifest_value(desc))


def test_reader_is_lazy_and_memory_mapped(fixtures_dir: Path) -> None:
    manifest = load_manifest(fixtures_dir, "checkpoint_dtypes")
    prefix = fixtures_dir / "checkpoint_dtypes" / "variables"
    with CheckpointReader(prefix) as reader:
        assert reader.keys() == sorted(manifest["tensors"])
        assert "dtypes/float32" in reader and "nope" not in reader and 3 not in reader
        assert reader.dtype("dtypes/bfloat16") == np.dtype(ml_dtypes.bfloat16)
        assert reader.dtype("strings/vector") == np.dtype(object)
        assert reader.shape("edge/rank5") == (1, 2, 1, 3, 2)
        assert reader._files == {}  # nothing read yet
        value = reader.get_tensor("dtypes/float64")
        assert not value.flags.writeable
        base: Any = value  # a view into the mapped file, not a copy
        while isinstance(base, np.ndarray):
            base = base.base
        assert isinstance(base, memoryview) and isinstance(base.obj, mmap.mmap)
        assert_bitwise_equal(value, manifest_value(manifest["tensors"]["dtypes/float64"]))
    # still valid after close
    assert_bitwise_equal(value, manifest_value(manifest["tensors"]["dtypes/float64"]))
    with pytest.raises(Error, match="closed"):
        reader.get_tensor("dtypes/float64")


def test_read_checkpoint_returns_writable_copies(tmp_path: Path) -> None:
    write_checkpoint(tmp_path / "ck", {"x": np.arange(4, dtype=np.int32)})
    value = read_checkpoint(tmp_path / "ck")["x"]
    value[0] = 7  # independent of the file
    assert read_checkpoint(tmp_path / "ck")["x"].tolist() == [0, 1, 2, 3]


# --------------------------------------------------------------------------- round trips


def test_round_trip_edge_shapes_and_strings(tmp_path: Path) -> None:
    tensors = {
        "scalar_i64": np.int64(-5),
        "scalar_str": "hé",
        "scalar_bytes": b"\x00\xff",
        "empty_f32": np.zeros((3, 0, 2), np.float32),
        "empty_str": np.zeros((0, 2), dtype=object),
        "u_array": np.array([["a", "ü"], ["", "xyz"]]),
        "s_array": np.array([b"ab", b"c"]),
        "python_list": [[1.5, 2.5]],
        "bool": np.array([True, False]),
        "rank6": np.arange(64, dtype=np.uint16).reshape(2, 2, 2, 2, 2, 2),
        "nan_payload": np.array([0x7FC00001, 0xFFC12345, 0x7F800001], np.uint32).view(np.float32),
    }
    write_checkpoint(tmp_path / "ck", tensors)
    values = read_checkpoint(tmp_path / "ck")
    assert values["scalar_i64"].shape == () and values["scalar_i64"] == -5
    assert values["scalar_str"].item() == "hé".encode() and values["scalar_str"].dtype == object
    assert values["scalar_bytes"].item() == b"\x00\xff"
    assert values["empty_f32"].shape == (3, 0, 2) and values["empty_f32"].dtype == np.float32
    assert values["empty_str"].shape == (0, 2) and values["empty_str"].dtype == object
    assert values["u_array"].tolist() == [[b"a", "ü".encode()], [b"", b"xyz"]]
    assert values["s_array"].tolist() == [b"ab", b"c"]
    assert values["python_list"].dtype == np.float64
    assert values["python_list"].tolist() == [[1.5, 2.5]]
    assert values["bool"].dtype == np.bool_ and values["bool"].tolist() == [True, False]
    assert_bitwise_equal(values["rank6"], tensors["rank6"])
    assert_bitwise_equal(values["nan_payload"], tensors["nan_payload"])


def test_str_and_bytes_strings_write_identical_files(tmp_path: Path) -> None:
    words = ["alpha", "ünï", "", "x" * 200]
    as_object_bytes = np.array([w.encode() for w in words], dtype=object)
    variants = {
        "object_bytes": as_object_bytes,
        "object_str": np.array(words, dtype=object),
        "unicode": np.array(words),
        "mixed": np.array([words[0], words[1].encode(), words[2], words[3].encode()], dtype=object),
        "list_of_str": words,
    }
    blobs = set()
    for label, value in variants.items():
        write_checkpoint(tmp_path / label / "ck", {"w": value})
        blobs.add(((tmp_path / label / "ck.index").read_bytes(),
                   (tmp_path / label / "ck.data-00000-of-00001").read_bytes()))
    assert len(blobs) == 1


def test_noncontiguous_and_big_endian_inputs_are_written_correctly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tensor_data, "CHUNK_BYTES", 64)  # force many small conversion chunks
    rng = np.random.default_rng(7)
    base = rng.standard_normal((6, 10, 9)).astype(np.float64)
    base.view(np.uint64)[0, 0, 0] = 0x7FF8000000001234  # a NaN payload must survive
    strided = base[:, ::3, 1:]
    fortran = np.asfortranarray(base)
    big = base.astype(">f8")
    big_strided = big[::2, :, ::-1]
    written = {"strided": strided, "fortran": fortran, "big": big, "big_strided": big_strided,
               "big_i32": np.arange(50, dtype=">i4"), "big_c64": (base[0] + 1j).astype(">c8")}
    reference = {k: np.ascontiguousarray(v, dtype=v.dtype.newbyteorder("<"))
                 for k, v in written.items()}
    write_checkpoint(tmp_path / "a" / "ck", written)
    write_checkpoint(tmp_path / "b" / "ck", reference)
    assert_same_files(tmp_path / "a", tmp_path / "b")
    values = read_checkpoint(tmp_path / "a" / "ck")
    for name, value in reference.items():
        assert_bitwise_equal(values[name], value)


def test_contiguous_arrays_are_written_without_a_copy(tmp_path: Path) -> None:
    big = np.ones((4096, 2048), np.float32)  # 32 MiB
    tracemalloc.start()
    try:
        write_checkpoint(tmp_path / "ck", {"big": big})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 << 20, peak


def test_converted_arrays_use_bounded_memory(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tensor_data, "CHUNK_BYTES", 1 << 20)
    big = np.arange(2048 * 4096, dtype=">f4").reshape(2048, 4096)[:, ::2]  # 16 MiB, big-endian
    assert not big.flags.c_contiguous
    tracemalloc.start()
    try:
        write_checkpoint(tmp_path / "ck", {"big": big})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, peak
    assert np.array_equal(read_checkpoint(tmp_path / "ck")["big"], big)


def test_empty_checkpoint(tmp_path: Path) -> None:
    paths = write_checkpoint(tmp_path / "ck", {})
    assert [p.name for p in paths] == ["ck.data-00000-of-00001", "ck.index"]
    assert paths[0].read_bytes() == b""
    assert read_checkpoint(tmp_path / "ck") == {}


def test_creates_missing_directories(tmp_path: Path) -> None:
    write_checkpoint(tmp_path / "a" / "b" / "ck", {"x": np.int8(1)})
    assert read_checkpoint(tmp_path / "a" / "b" / "ck")["x"] == 1


# --------------------------------------------------------------------------- sharding


def test_greedy_sharding_balances_bytes_and_keeps_order(tmp_path: Path) -> None:
    tensors = {f"t{i}": np.zeros(size, np.uint8) for i, size in
               enumerate([50, 10, 40, 30, 20, 60, 5])}
    first = tmp_path / "first"
    paths = write_checkpoint(first / "ck", tensors, num_shards=3)
    assert [p.name for p in paths] == [f"ck.data-0000{i}-of-00003" for i in range(3)] + ["ck.index"]
    sizes = sorted(p.stat().st_size for p in paths[:3])
    assert sizes == [70, 70, 75]  # LPT greedy: 60+10 | 50+20 | 40+30+5
    entries = index_entries(first / "ck")
    assert entries[b""].num_shards == 3
    by_shard: dict[int, list[Any]] = {}
    for name in tensors:  # mapping order inside each shard, densely packed
        entry = entries[name.encode()]
        by_shard.setdefault(entry.shard_id, []).append(entry)
    for shard_entries in by_shard.values():
        offsets = [e.offset for e in shard_entries]
        assert offsets == sorted(offsets) and offsets[0] == 0
        for a, b in zip(shard_entries, shard_entries[1:]):
            assert b.offset == a.offset + a.size
    again = tmp_path / "again"
    write_checkpoint(again / "ck", tensors, num_shards=3)
    assert_same_files(again, first)
    values = read_checkpoint(first / "ck")
    for name, value in tensors.items():
        assert_bitwise_equal(values[name], value)


def test_sharded_partitioned_tensor(tmp_path: Path) -> None:
    full = np.arange(24, dtype=np.float32).reshape(6, 4)
    with CheckpointWriter(tmp_path / "ck", shards=[["w"], ["p"]]) as writer:
        writer.add("w", np.ones(3))
        writer.add_slice("p", (6, 4), "0,2:-", full[:2])
        writer.add_slice("p", (6, 4), [(2, 4), (0, -1)], full[2:])
    values = read_checkpoint(tmp_path / "ck")
    assert sorted(values) == ["p", "w"]
    assert_bitwise_equal(values["p"], full)
    entries = index_entries(tmp_path / "ck")
    assert entries[b"p"].shard_id == 1 and len(entries[b"p"].slices) == 2


@pytest.mark.parametrize("shards, message", [
    ([["a"], ["a", "b"]], "shard 0 and shard 1"),
    ([["a", "b"], []], "would hold no tensor"),
    ([["a"], ["c"]], "which was not added"),
    ([["a"]], "not assigned"),
])
def test_bad_shard_assignments(tmp_path: Path, shards: list[list[str]], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        write_checkpoint(tmp_path / "ck", {"a": 1, "b": 2}, shards=shards)
    assert list(tmp_path.iterdir()) == []


def test_shard_count_must_match(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="num_shards is 3"):
        write_checkpoint(tmp_path / "ck", {"a": 1, "b": 2}, num_shards=3, shards=[["a"], ["b"]])
    with pytest.raises(InvalidArgumentError, match="would hold no tensor"):
        write_checkpoint(tmp_path / "ck", {"a": 1}, num_shards=2)
    with pytest.raises(InvalidArgumentError, match="num_shards"):
        write_checkpoint(tmp_path / "ck", {"a": 1}, num_shards=0)
    with pytest.raises(InvalidArgumentError, match="list of name lists"):
        write_checkpoint(tmp_path / "ck", {"a": 1, "b": 2}, shards=["a", "b"])
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("name", ["", 3, b"bytes"])
def test_bad_names(tmp_path: Path, name: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="name"):
        write_checkpoint(tmp_path / "ck", {name: 1})


def test_duplicate_names_and_state(tmp_path: Path) -> None:
    writer = CheckpointWriter(tmp_path / "ck")
    writer.add("x", 1)
    with pytest.raises(InvalidArgumentError, match="already added"):
        writer.add("x", 2)
    with pytest.raises(InvalidArgumentError, match="already added as a whole tensor"):
        writer.add_slice("x", (4,), "0,2", np.zeros(2))
    writer.finish()
    with pytest.raises(BuilderStateError):
        writer.add("y", 1)


@pytest.mark.parametrize("value, dtype_text", [
    (np.zeros(2, ml_dtypes.float8_e4m3fn), "float8_e4m3fn"),
    (np.zeros(2, "datetime64[s]"), "datetime64"),
    (np.zeros(2, [("a", "i4")]), "a"),
    (np.zeros(2, np.float128) if hasattr(np, "float128") else np.zeros(2, "V4"), ""),
])
def test_unsupported_dtype_names_tensor_and_dtype(tmp_path: Path, value: np.ndarray,
                                                  dtype_text: str) -> None:
    with pytest.raises(UnsupportedDTypeError, match="tensor 'bad'") as info:
        write_checkpoint(tmp_path / "ck", {"good": 1.0, "bad": value})
    assert str(value.dtype) in str(info.value) and dtype_text in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_bad_string_elements(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"tensor 's'.*index \(1, 0\).*int"):
        write_checkpoint(tmp_path / "ck", {"s": np.array([[b"a"], [3]], dtype=object)})
    with pytest.raises(InvalidArgumentError, match="UTF-8"):
        write_checkpoint(tmp_path / "ck", {"s": np.array(["\ud800"], dtype=object)})
    with pytest.raises(InvalidArgumentError, match="tensor 'r'"):
        write_checkpoint(tmp_path / "ck", {"r": [[1, 2], [3]]})
    assert list(tmp_path.iterdir()) == []


def test_slice_validation(tmp_path: Path) -> None:
    writer = CheckpointWriter(tmp_path / "ck")
    writer.add_slice("p", (6, 4), "0,4:-", np.zeros((4, 4), np.float32))
    with pytest.raises(InvalidArgumentError, match="overlaps"):
        writer.add_slice("p", (6, 4), "3,3:-", np.zeros((3, 4), np.float32))
    with pytest.raises(InvalidArgumentError, match="outside"):
        writer.add_slice("p", (6, 4), "4,3:-", np.zeros((3, 4), np.float32))
    with pytest.raises(InvalidArgumentError, match="dtype"):
        writer.add_slice("p", (6, 4), "4,2:-", np.zeros((2, 4), np.float64))
    with pytest.raises(InvalidArgumentError, match="value has shape"):
        writer.add_slice("p", (6, 4), "4,2:-", np.zeros((2, 3), np.float32))
    with pytest.raises(InvalidArgumentError, match="full_shape"):
        writer.add_slice("p", (7, 4), "4,2:-", np.zeros((2, 4), np.float32))
    with pytest.raises(InvalidArgumentError, match="names shape"):
        writer.add_slice("p", (6, 4), "6 5 4,2:-", np.zeros((2, 4), np.float32))
    with pytest.raises(InvalidArgumentError, match="dimensions"):
        writer.add_slice("p", (6, 4), "4,2", np.zeros((2, 4), np.float32))
    with pytest.raises(InvalidArgumentError, match="start"):
        writer.add_slice("p", (6, 4), [(4, 2), (1, -1)], np.zeros((2, 4), np.float32))
    with pytest.raises(InvalidArgumentError, match="already added"):
        writer.add("p", 1)
    writer.add_slice("p", (6, 4), "6 4 4,2:-", np.ones((2, 4), np.float32))
    writer.finish()
    value = read_checkpoint(tmp_path / "ck")["p"]
    assert value.tolist() == [[0.0] * 4] * 4 + [[1.0] * 4] * 2


@pytest.mark.parametrize("dtype", [np.float16, np.uint16, np.uint32, np.uint64, object])
def test_slices_of_dtypes_tensorflow_cannot_restore_are_refused(tmp_path: Path, dtype: Any) -> None:
    writer = CheckpointWriter(tmp_path / "ck")
    value = np.zeros((2, 3), dtype)
    if dtype is object:
        value[...] = b"s"
    with pytest.raises(UnsupportedDTypeError, match="cannot restore partitioned"):
        writer.add_slice("p", (4, 3), "0,2:-", value)
    writer.add_slice("p", (2, 3), "0,2:-", value)  # a full slice is a plain tensor: fine
    writer.finish()
    assert read_checkpoint(tmp_path / "ck")["p"].shape == (2, 3)


def test_full_slice_is_stored_as_plain_tensor(tmp_path: Path) -> None:
    with CheckpointWriter(tmp_path / "a") as writer:
        writer.add_slice("x", (2, 3), "0,2:0,3", np.ones((2, 3), np.int32))
    write_checkpoint(tmp_path / "b", {"x": np.ones((2, 3), np.int32)})
    assert Path(f"{tmp_path}/a.index").read_bytes() == Path(f"{tmp_path}/b.index").read_bytes()


def test_partial_slices_read_error(tmp_path: Path) -> None:
    with CheckpointWriter(tmp_path / "ck") as writer:
        writer.add_slice("p", (4,), "0,2", np.zeros(2))
    with CheckpointReader(tmp_path / "ck") as reader:
        assert reader.keys() == ["p"] and reader.shape("p") == (4,)
        with pytest.raises(CorruptCheckpointError, match="do not cover"):
            reader.get_tensor("p")


# --------------------------------------------------------------------------- atomicity


def test_unsupported_dtype_as_last_tensor_leaves_nothing(tmp_path: Path) -> None:
    tensors = {f"ok{i}": np.ones(100) for i in range(5)}
    tensors["last"] = np.zeros(3, dtype="datetime64[s]")
    with pytest.raises(UnsupportedDTypeError):
        write_checkpoint(tmp_path / "sub" / "ck", tensors)
    assert list(tmp_path.iterdir()) == []


class _ExplodingMapping(Mapping[str, Any]):
    """A mapping whose last value raises when it is fetched."""

    def __init__(self, good: int) -> None:
        self.good = good

    def __getitem__(self, key: str) -> Any:
        if key == f"t{self.good}":
            raise RuntimeError("value unavailable")
        return np.arange(10)

    def __iter__(self) -> Iterator[str]:
        return iter(f"t{i}" for i in range(self.good + 1))

    def __len__(self) -> int:
        return self.good + 1


def test_mapping_raising_midway_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="value unavailable"):
        write_checkpoint(tmp_path / "ck", _ExplodingMapping(3))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("num_shards", [1, 3])
def test_failure_while_writing_data_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   num_shards: int) -> None:
    real = writer._write_data
    calls = []

    def flaky(fileobj: Any, tensor: Any) -> Any:
        calls.append(tensor.name)
        if len(calls) == 4:
            raise OSError("disk full")
        return real(fileobj, tensor)

    monkeypatch.setattr(writer, "_write_data", flaky)
    with pytest.raises(OSError, match="disk full"):
        # lists, not arrays: one tensor at a time (arrays of one shard go in runs, below)
        write_checkpoint(tmp_path / "ck", {f"t{i}": list(range(i + 1)) for i in range(6)},
                         num_shards=num_shards)
    assert len(calls) == 4
    assert list(tmp_path.iterdir()) == []


def test_failure_while_writing_a_run_of_small_tensors_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = writer._write_run
    calls = []

    def flaky(out: Any, run: Any, offset: int) -> Any:
        calls.append(len(run.keys))
        written = real(out, run, offset)
        if len(calls) == 2:
            raise OSError("disk full")
        return written

    monkeypatch.setattr(writer, "_write_run", flaky)
    tensors: dict[str, Any] = {f"a{i}": np.arange(3) for i in range(5)}
    tensors["big"] = np.zeros(100_000)  # not small: ends the first run
    tensors.update({f"b{i}": np.arange(3) for i in range(5)})
    with pytest.raises(OSError, match="disk full"):
        write_checkpoint(tmp_path / "ck", tensors)
    assert calls == [5, 5]
    assert list(tmp_path.iterdir()) == []


def test_failure_renaming_index_leaves_nothing(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.replace

    def replace(src: Any, dst: Any) -> None:
        if str(dst).endswith(".index"):
            raise OSError("rename failed")
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="rename failed"):
        write_checkpoint(tmp_path / "ck", {"a": 1, "b": 2}, num_shards=2)
    assert list(tmp_path.iterdir()) == []


def test_writer_context_discards_on_exception(tmp_path: Path) -> None:
    with pytest.raises(ZeroDivisionError), CheckpointWriter(tmp_path / "ck") as writer:
        writer.add("a", 1)
        raise ZeroDivisionError
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- corrupt input


@pytest.fixture()
def small_checkpoint(tmp_path: Path) -> Path:
    prefix = tmp_path / "ck"
    write_checkpoint(prefix, {"first": np.arange(8, dtype=np.int32),
                              "second": np.linspace(0, 1, 5),
                              "words": np.array([b"ab", b"cde"], dtype=object)})
    return prefix


def _data(prefix: Path) -> Path:
    return Path(f"{prefix}.data-00000-of-00001")


def test_corrupt_data_byte_raises_checksum_error(small_checkpoint: Path) -> None:
    path = _data(small_checkpoint)
    blob = bytearray(path.read_bytes())
    blob[32 + 3] ^= 0x01  # inside "second" (offset 32)
    path.write_bytes(bytes(blob))
    with CheckpointReader(small_checkpoint) as reader:
        assert reader.get_tensor("first").tolist() == list(range(8))
        with pytest.raises(ChecksumError) as info:
            reader.get_tensor("second")
    message = str(info.value)
    assert "'second'" in message and str(path) in message and "offset 32" in message
    with pytest.raises(ChecksumError):
        read_checkpoint(small_checkpoint)


def test_corrupt_string_bytes_raise_checksum_error(small_checkpoint: Path) -> None:
    path = _data(small_checkpoint)
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 0x20  # last byte of "words"
    path.write_bytes(bytes(blob))
    with pytest.raises(ChecksumError, match="'words'"):
        read_checkpoint(small_checkpoint)
    blob[-1] ^= 0x20
    blob[72 + 2] ^= 0x01  # the stored length checksum
    path.write_bytes(bytes(blob))
    with pytest.raises(ChecksumError, match="length checksum"):
        read_checkpoint(small_checkpoint)


def test_truncated_data_file(small_checkpoint: Path) -> None:
    path = _data(small_checkpoint)
    path.write_bytes(path.read_bytes()[:40])
    with CheckpointReader(small_checkpoint) as reader:
        assert reader.get_tensor("first").tolist() == list(range(8))
        with pytest.raises(CorruptCheckpointError, match=r"'second'.*truncated"):
            reader.get_tensor("second")


def test_missing_data_file_and_index(small_checkpoint: Path) -> None:
    _data(small_checkpoint).unlink()
    with CheckpointReader(small_checkpoint) as reader:
        assert reader.keys() == ["first", "second", "words"]  # the index alone is fine
        with pytest.raises(NotFoundError, match="data-00000-of-00001"):
            reader.get_tensor("first")
    Path(f"{small_checkpoint}.index").unlink()
    with pytest.raises(NotFoundError, match="index"):
        CheckpointReader(small_checkpoint)


def test_unknown_key(small_checkpoint: Path) -> None:
    with CheckpointReader(small_checkpoint) as reader:
        with pytest.raises(NotFoundError, match="nope") as info:
            reader.get_tensor("nope")
        assert isinstance(info.value, KeyError)
        with pytest.raises(NotFoundError):
            reader.shape("nope")
        with pytest.raises(NotFoundError):
            reader.dtype("nope")


def test_wrong_entry_size(small_checkpoint: Path) -> None:
    def shrink(key: bytes, msg: Any) -> None:
        if key == b"second":
            msg.size = 32

    rewrite_index(small_checkpoint, shrink)
    with pytest.raises(CorruptCheckpointError, match=r"'second'.*[Ii]nvalid size.*32.*40"):
        read_checkpoint(small_checkpoint)


def test_invalid_shape(small_checkpoint: Path) -> None:
    def negative(key: bytes, msg: Any) -> None:
        if key == b"first":
            msg.shape.dim[0].size = -1

    rewrite_index(small_checkpoint, negative)
    with pytest.raises(CorruptCheckpointError, match="invalid tensor shape"):
        read_checkpoint(small_checkpoint)


@pytest.mark.parametrize("change, message", [
    (lambda h: setattr(h.version, "min_consumer", 2), "reader version >= 2"),
    (lambda h: h.version.bad_consumers.append(1), "bad_consumers"),
    (lambda h: setattr(h.version, "producer", -1), "producer"),
    (lambda h: setattr(h, "endianness", 1), "big-endian"),
    (lambda h: setattr(h, "num_shards", 0), "num_shards"),
])
def test_header_checks(small_checkpoint: Path, change: Any, message: str) -> None:
    def edit(key: bytes, msg: Any) -> None:
        if key == b"":
            change(msg)

    rewrite_index(small_checkpoint, edit)
    with pytest.raises(CorruptCheckpointError, match=message):
        CheckpointReader(small_checkpoint)


def test_corrupt_index_block(small_checkpoint: Path) -> None:
    path = Path(f"{small_checkpoint}.index")
    blob = bytearray(path.read_bytes())
    blob[5] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(CorruptCheckpointError):
        read_checkpoint(small_checkpoint)
    path.write_bytes(b"not a table at all" * 4)
    with pytest.raises(CorruptCheckpointError):
        read_checkpoint(small_checkpoint)


def test_entry_crc_matches_tf_definition(small_checkpoint: Path) -> None:
    """Fixed-size tensors: masked crc32c of exactly the bytes written."""
    entries = index_entries(small_checkpoint)
    data = _data(small_checkpoint).read_bytes()
    entry = entries[b"second"]
    assert entry.crc32c == mask(crc32c(data[entry.offset:entry.offset + entry.size]))


def test_num_shards_defaults_to_one_and_shards_decide_the_count(tmp_path: Path) -> None:
    import inspect

    assert inspect.signature(write_checkpoint).parameters["num_shards"].default == 1
    tensors = {"a": np.zeros(2, np.float32), "b": np.ones(3, np.float32)}
    one = write_checkpoint(tmp_path / "one", tensors)
    assert [p.name for p in one] == ["one.data-00000-of-00001", "one.index"]
    two = write_checkpoint(tmp_path / "two", tensors, shards=[["b"], ["a"]])
    assert [p.name for p in two] == ["two.data-00000-of-00002", "two.data-00001-of-00002",
                                     "two.index"]
    with pytest.raises(InvalidArgumentError, match="num_shards is 3"):
        write_checkpoint(tmp_path / "bad", tensors, num_shards=3, shards=[["b"], ["a"]])
    assert not list(tmp_path.glob("bad*"))


def test_entry_and_stored_entries_expose_the_index(fixtures_dir: Path) -> None:
    directory = fixtures_dir / "checkpoint_sliced"
    saves = json.loads((directory / "manifest.json").read_text())["saves"]
    with CheckpointReader(directory / "variables") as reader:
        rows = reader.entry("part/rows")
        assert len(rows.slices) == 2 and rows.size == 0
        stored = reader.stored_entries("part/rows")
        # One stored entry per saved slice, each holding that slice's bytes.
        expected = sorted(len(bytes.fromhex(s["values_hex"])) for s in saves
                          if s["name"] == "part/rows")
        assert sorted(e.size for e in stored) == expected
        assert all(e.shard_id == 0 for e in stored)
        rows.size = 123  # a copy: the reader's own entry is unchanged
        assert reader.entry("part/rows").size == 0


def test_the_writer_lets_go_of_each_value_once_written(tmp_path: Path) -> None:
    # So that memory-mapped inputs are unmapped as a large checkpoint is streamed (see
    # write_shard's loaders): checked from the progress callback.  Large tensors go out
    # in batches of 32 MB and are let go once written and checksummed, at most two
    # batches behind the writing.
    import weakref

    refs: list[weakref.ref[np.ndarray]] = []
    seen: list[list[bool]] = []

    def progress(done: int, total: int) -> None:
        seen.append([ref() is None for ref in refs])

    writer = CheckpointWriter(tmp_path / "ck", progress=progress)
    for i in range(10):
        value = np.full(3 << 20, i, np.float32)  # 12 MB each, 120 MB in all
        refs.append(weakref.ref(value))
        writer.add(f"t{i}", value)
        del value
    writer.finish()
    assert all(ref() is None for ref in refs)
    assert [False] * 10 in seen
    # before the last tensors were written, the first ones had been let go
    assert any(released[0] and not released[-1] for released in seen)
    assert read_checkpoint(tmp_path / "ck")["t9"][5] == 9
