"""Remote storage (pysavedmodel.remote): URLs everywhere a path is taken.

``memory://`` tests need no server.  The ``s3://`` tests run against a real
S3-compatible server started here on 127.0.0.1 (moto's server mode, with IAM
authentication on; tests/support/s3_server.py), reached through s3fs exactly as a user's
bucket is: credentials and endpoint from the standard AWS environment variables.
Failures are injected with fsspec filesystems registered under their own URL schemes
(``flakymem://``, ``flakys3://``) that wrap the real ones, and by killing the server.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import errno
import io
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import fsspec
import numpy as np
import pytest
import s3fs
from fsspec.implementations.memory import MemoryFileSystem

import pysavedmodel
from pysavedmodel import (
    AlreadyExistsError,
    CheckpointReader,
    CheckpointWriter,
    Graph,
    InvalidArgumentError,
    MissingDependencyError,
    NotFoundError,
    SavedModelBuilder,
    StorageError,
    UnsupportedError,
    predict_signature_def,
    read_checkpoint,
    remote,
    write_checkpoint,
)
from pysavedmodel.cli import main
from pysavedmodel.format.distributed import (
    merge_shards,
    shard_prefix,
    write_checkpoint_distributed,
    write_shard,
)
from tests.cli.cli_run import run
from tests.support import s3_server
from tests.support.tf import run_tf
from tests.support.venvs import ROOT

EXAMPLE_SPEC = ROOT / "examples" / "mlp" / "spec.json"


# -- fixtures and helpers

@pytest.fixture(autouse=True)
def private_tempdir(tmp_path_factory: pytest.TempPathFactory,
                    monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Staging directories go to a temp dir of the test's own, checked empty at the end:
    no remote operation leaves its local copy behind, whether it succeeded or failed."""
    staging = tmp_path_factory.mktemp("staging")
    monkeypatch.setattr(tempfile, "tempdir", str(staging))
    yield staging
    assert sorted(p.name for p in staging.iterdir()) == []


@pytest.fixture(autouse=True)
def clean_memory() -> Iterator[None]:
    yield
    MemoryFileSystem.store.clear()
    MemoryFileSystem.pseudo_dirs[:] = [""]


def tensors() -> dict[str, Any]:
    rng = np.random.default_rng(3)
    return {"dense/kernel": rng.standard_normal((4, 8)).astype(np.float32),
            "step": np.int64(7),
            "vocab": np.array([b"a", b"bb", b"ccc"], dtype=object),
            "big": rng.standard_normal((64, 32)).astype(np.float64)}


def build_mlp(export_dir: Any, **save: Any) -> dict[str, np.ndarray]:
    """x [None, 4] -> relu(x W1 + b1) W2 'y'; returns the variables."""
    rng = np.random.default_rng(11)
    values = {"w1": rng.standard_normal((4, 8)).astype(np.float32),
              "b1": rng.standard_normal(8).astype(np.float32),
              "w2": rng.standard_normal((8, 3)).astype(np.float32)}
    g = Graph()
    x = g.placeholder("x", "float32", [None, 4])
    w1, b1, w2 = (g.variable(name, value) for name, value in values.items())
    hidden = g.op("Relu", [g.op("BiasAdd", [g.op("MatMul", [x, w1]), b1])])
    y = g.op("MatMul", [hidden, w2], name="y")
    builder = SavedModelBuilder(export_dir)
    builder.add_meta_graph_and_variables(
        g, ["serve"], signature_def_map={"serving_default": predict_signature_def({"x": x},
                                                                                  {"y": y})})
    builder.save(**save)
    return values


def reference(values: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    return np.maximum(x @ values["w1"] + values["b1"], 0) @ values["w2"]


def memory_files(root: str = "") -> dict[str, bytes]:
    fs = fsspec.filesystem("memory")
    return {p[len(root):].lstrip("/") if root else p: fs.cat_file(p)
            for p in fs.find(root or "/")}


def local_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def cli(*args: str) -> tuple[int, str, str]:
    """``pysavedmodel ARGS`` in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(args))
    return status, out.getvalue(), err.getvalue()


def names_the_url(message: str, url: str) -> None:
    assert url in message, message
    assert "pysavedmodel-stage-" not in message and tempfile.gettempdir() not in message, \
        message


class FlakyMemory(MemoryFileSystem):
    """``flakymem://``: the memory filesystem, recording uploads, failing on demand."""

    protocol = ("flakymem",)
    uploads: ClassVar[list[str]] = []
    fail_after: ClassVar[int | None] = None
    broken_deletes: ClassVar[bool] = False

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, str) and path.startswith("flakymem://"):
            path = "memory://" + path[len("flakymem://"):]
        return super()._strip_protocol(path)

    def put_file(self, lpath: Any, rpath: Any, *args: Any, **kwargs: Any) -> Any:
        if FlakyMemory.fail_after is not None and len(FlakyMemory.uploads) >= \
                FlakyMemory.fail_after:
            raise OSError(errno.ECONNRESET, "connection reset by peer (injected)")
        result = super().put_file(lpath, rpath, *args, **kwargs)
        FlakyMemory.uploads.append(self._strip_protocol(rpath))
        return result

    def rm_file(self, path: Any) -> None:
        if FlakyMemory.broken_deletes:
            raise OSError(errno.ECONNRESET, "connection reset by peer (injected)")
        super().rm_file(path)


@pytest.fixture
def flakymem() -> Iterator[type[FlakyMemory]]:
    fsspec.register_implementation("flakymem", FlakyMemory, clobber=True)
    FlakyMemory.uploads = []
    FlakyMemory.fail_after = None
    FlakyMemory.broken_deletes = False
    yield FlakyMemory
    FlakyMemory.fail_after = None
    FlakyMemory.broken_deletes = False


# -- recognising URLs

@pytest.mark.parametrize(("location", "url", "remote_"), [
    ("s3://bucket/model/1", True, True),
    ("gs://b/m", True, True),
    ("memory://m", True, True),
    ("simplecache::s3://b/k", True, True),
    ("file:///tmp/model", True, False),
    ("local:///tmp/model", True, False),
    ("C://models/1", False, False),          # a Windows drive, not a scheme
    ("C:\\models\\1", False, False),
    ("s3:bucket/model", False, False),        # no "//": a local name
    ("relative/dir", False, False),
    (Path("s3://bucket/model"), False, False),  # os.PathLike is always local
])
def test_one_rule_says_what_is_a_url(location: Any, url: bool, remote_: bool) -> None:
    assert remote.is_url(location) is url
    assert remote.is_remote(location) is remote_


def test_file_urls_take_the_local_atomic_path(tmp_path: Path) -> None:
    target = tmp_path / "models" / "mlp" / "1"
    assert remote.local_location(f"file://{target}") == str(target)
    assert remote.local_location(f"file://localhost{target}") == str(target)
    values = build_mlp(f"file://{target}")
    assert sorted(local_files(target)) == [
        "fingerprint.pb", "saved_model.pb", "variables/variables.data-00000-of-00001",
        "variables/variables.index"]
    assert pysavedmodel.load_weights(f"file://{target}")["w1"].tolist() == \
        values["w1"].tolist()
    with pytest.raises(AlreadyExistsError):
        build_mlp(f"file://{target}")
    assert pysavedmodel.validate_saved_model(f"file://{target}") == []
    assert sorted(pysavedmodel.load_weights(f"file://{target}")) == ["b1", "w1", "w2"]


def test_cli_file_urls_are_local_paths(tmp_path: Path) -> None:
    requests = tmp_path / "requests.npz"
    np.savez(requests, x=np.ones((1, 1, 4), np.float32))
    status, out, err = cli("build", f"file://{EXAMPLE_SPEC}", "-o", f"file://{tmp_path}/models",
                           "--version", "1", "--warmup", f"file://{requests}", "-q")
    assert status == 0, err
    assert out == f"{tmp_path}/models/1\n"
    assert (tmp_path / "models" / "1" / "assets.extra" / "tf_serving_warmup_requests").is_file()


# -- checkpoints over memory://

def test_checkpoint_round_trip_through_memory_is_byte_identical(tmp_path: Path) -> None:
    local = write_checkpoint(tmp_path / "ckpt", tensors(), num_shards=2)
    written = write_checkpoint("memory://bucket/ckpt/model", tensors(), num_shards=2)
    assert written == ["memory://bucket/ckpt/model.data-00000-of-00002",
                       "memory://bucket/ckpt/model.data-00001-of-00002",
                       "memory://bucket/ckpt/model.index"]
    stored = memory_files("/bucket/ckpt")
    assert stored == {Path(p).name.replace("ckpt", "model", 1): Path(p).read_bytes()
                      for p in map(str, local)}
    back = read_checkpoint("memory://bucket/ckpt/model")
    for name, value in tensors().items():
        np.testing.assert_array_equal(back[name], value)
    with CheckpointReader("memory://bucket/ckpt/model") as reader:
        assert isinstance(reader, CheckpointReader)
        assert repr(reader) == "CheckpointReader('memory://bucket/ckpt/model', 4 tensors)"
        np.testing.assert_array_equal(reader.get_tensor("big"), tensors()["big"])


def test_checkpoint_writer_with_slices_to_memory(tmp_path: Path) -> None:
    full = np.arange(24, dtype=np.float32).reshape(6, 4)
    for prefix in (str(tmp_path / "ckpt"), "memory://b/ckpt"):
        with CheckpointWriter(prefix) as writer:
            writer.add_slice("part", [6, 4], "0,3:-", full[:3])
            writer.add_slice("part", [6, 4], "3,3:-", full[3:])
            writer.add("plain", np.ones(3, np.int32))
    assert memory_files("/b") == {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    np.testing.assert_array_equal(read_checkpoint("memory://b/ckpt")["part"], full)


def test_a_discarded_remote_writer_writes_nothing() -> None:
    with pytest.raises(RuntimeError), CheckpointWriter("memory://b/ckpt") as writer:
        writer.add("a", np.ones(2))
        raise RuntimeError("user code failed")
    assert memory_files() == {}


def test_rewriting_a_remote_checkpoint_replaces_it() -> None:
    write_checkpoint("memory://b/ckpt", {"old": np.zeros(2)})
    write_checkpoint("memory://b/ckpt", {"new": np.ones(3)})
    assert list(read_checkpoint("memory://b/ckpt")) == ["new"]


def test_prefixes_with_glob_characters_mean_themselves() -> None:
    write_checkpoint("memory://b/run[1]*/ckpt", {"a": np.ones(2)}, num_shards=1)
    write_checkpoint("memory://b/run1x/ckpt", {"other": np.zeros(2)})
    assert list(read_checkpoint("memory://b/run[1]*/ckpt")) == ["a"]


def test_a_missing_remote_checkpoint_is_not_found() -> None:
    with pytest.raises(NotFoundError, match=r"memory://b/none\.index"):
        read_checkpoint("memory://b/none")
    with pytest.raises(NotFoundError):
        CheckpointReader("memory://b/none")


def test_a_failed_checkpoint_upload_leaves_no_index(flakymem: type[FlakyMemory]) -> None:
    flakymem.fail_after = 1  # the first data shard goes up, the second fails
    with pytest.raises(StorageError, match="flakymem://b/ckpt") as caught:
        write_checkpoint("flakymem://b/ckpt", tensors(), num_shards=2)
    assert caught.value.errno == errno.ECONNRESET
    assert "\n" not in str(caught.value)
    assert flakymem.uploads == ["/b/ckpt.data-00000-of-00002"]
    assert memory_files() == {}  # the uploaded shard was deleted again


def test_write_shard_and_merge_shards_over_memory(tmp_path: Path) -> None:
    parts = [{"a": np.ones(3, np.float32)}, {"b": np.arange(4), "c": np.array([b"x"])}]
    for i, part in enumerate(parts):
        write_shard(tmp_path / "ckpt", part, shard=i, num_shards=2)
        urls = write_shard("memory://b/ckpt", part, shard=i, num_shards=2)
        assert urls == [f"{shard_prefix('memory://b/ckpt', i, 2)}.data-00000-of-00001",
                        f"{shard_prefix('memory://b/ckpt', i, 2)}.index"]
    assert shard_prefix("memory://b/ckpt", 1, 2) == "memory://b/ckpt_temp/part-00001-of-00002"
    merge_shards([shard_prefix(tmp_path / "ckpt", i, 2) for i in range(2)], tmp_path / "ckpt")
    written = merge_shards([shard_prefix("memory://b/ckpt", i, 2) for i in range(2)],
                           "memory://b/ckpt")
    assert written == ["memory://b/ckpt.data-00000-of-00002",
                       "memory://b/ckpt.data-00001-of-00002", "memory://b/ckpt.index"]
    # Byte-identical to the local merge (itself byte-identical to MergeV2Checkpoints), and
    # the shard bundles are gone.
    assert memory_files("/b") == local_files(tmp_path)
    assert read_checkpoint("memory://b/ckpt")["c"].tolist() == [b"x"]


def test_write_checkpoint_distributed_to_memory(tmp_path: Path) -> None:
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        write_checkpoint(tmp_path / "ckpt", tensors(), num_shards=2, executor=pool)
        write_checkpoint_distributed("memory://b/ckpt", tensors(), num_shards=2,
                                     executor=pool)
    assert memory_files("/b") == local_files(tmp_path)


# -- SavedModels over memory://

def test_publish_order_puts_saved_model_pb_last(tmp_path: Path,
                                               flakymem: type[FlakyMemory]) -> None:
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("a\nb\n")
    g = Graph()
    x = g.placeholder("x", "float32", [None, 2])
    w = g.variable("w", np.ones((2, 2), np.float32))
    y = g.op("MatMul", [x, w], name="y")
    g.asset(str(vocab), name="vocab")
    builder = SavedModelBuilder("flakymem://models/m/1")
    builder.add_meta_graph_and_variables(g, ["serve"], signature_def_map={
        "serving_default": predict_signature_def({"x": x}, {"y": y})})
    builder.add_warmup_requests({"serving_default": [{"x": np.ones((1, 2), np.float32)}]})
    written = builder.save(fingerprint=True)
    assert written == "flakymem://models/m/1/saved_model.pb"
    assert [u.removeprefix("/models/m/1/") for u in flakymem.uploads] == [
        "variables/variables.data-00000-of-00001", "variables/variables.index",
        "assets/vocab.txt", "assets.extra/tf_serving_warmup_requests", "fingerprint.pb",
        "saved_model.pb"]
    # The same bytes as a local save.
    builder_local = tmp_path / "local"
    del builder
    g2 = Graph()
    x2 = g2.placeholder("x", "float32", [None, 2])
    y2 = g2.op("MatMul", [x2, g2.variable("w", np.ones((2, 2), np.float32))], name="y")
    g2.asset(str(vocab), name="vocab")
    local = SavedModelBuilder(builder_local)
    local.add_meta_graph_and_variables(g2, ["serve"], signature_def_map={
        "serving_default": predict_signature_def({"x": x2}, {"y": y2})})
    local.add_warmup_requests({"serving_default": [{"x": np.ones((1, 2), np.float32)}]})
    local.save(fingerprint=True)
    assert memory_files("/models/m/1") == local_files(builder_local)


def test_remote_model_reads_back_describe_validate_weights() -> None:
    values = build_mlp("memory://models/mlp/1")
    facts = pysavedmodel.describe_saved_model("memory://models/mlp/1")
    assert facts["path"] == "memory://models/mlp/1"
    assert sorted(v["name"] for v in facts["variables"]) == ["b1", "w1", "w2"]
    assert pysavedmodel.validate_saved_model("memory://models/mlp/1") == []
    model = pysavedmodel.read_saved_model("memory://models/mlp/1")
    assert sorted(model.meta_graphs[0].signature_def) == ["__saved_model_init_op",
                                                          "serving_default"]
    loaded = pysavedmodel.load_weights("memory://models/mlp/1")
    np.testing.assert_array_equal(loaded["w2"], values["w2"])


def test_a_spec_read_from_a_url_resolves_its_files_there() -> None:
    fs = fsspec.filesystem("memory")
    for path in EXAMPLE_SPEC.parent.iterdir():
        fs.pipe_file(f"/specs/mlp/{path.name}", path.read_bytes())
    written = pysavedmodel.build_from_spec("memory://specs/mlp/spec.json", "memory://out/mlp",
                                           version=2)
    assert written == "memory://out/mlp/2"
    local = pysavedmodel.load_weights(EXAMPLE_SPEC.parent / "weights.safetensors")
    back = pysavedmodel.load_weights("memory://out/mlp/2")
    np.testing.assert_array_equal(back["fc1/kernel"], local["fc1.weight"].T)


def test_files_a_url_spec_names_are_resolved_against_its_url() -> None:
    """One rule (pysavedmodel.spec.files): relative names, ``..`` included, are read from
    the spec's URL; a URL name is itself.  Only what the spec names is read."""
    fs = fsspec.filesystem("memory")
    spec = json.loads(EXAMPLE_SPEC.read_text())
    spec["weights"]["files"] = ["../weights/mlp.safetensors"]
    spec["assets"] = {"vocab": "../vocab/v.txt", "labels": "memory://elsewhere/labels.txt"}
    fs.pipe_file("/b/specs/mlp/spec.json", json.dumps(spec).encode())
    fs.pipe_file("/b/specs/mlp/unrelated.bin", b"not read")
    fs.pipe_file("/b/specs/weights/mlp.safetensors",
                 (EXAMPLE_SPEC.parent / "weights.safetensors").read_bytes())
    fs.pipe_file("/b/specs/vocab/v.txt", b"a\nb\n")
    fs.pipe_file("/elsewhere/labels.txt", b"other\n")
    written = pysavedmodel.build_from_spec("memory://b/specs/mlp/spec.json", "memory://out")
    assert written == "memory://out"
    local = pysavedmodel.load_weights(EXAMPLE_SPEC.parent / "weights.safetensors")
    np.testing.assert_array_equal(pysavedmodel.load_weights("memory://out")["fc1/kernel"],
                                  local["fc1.weight"].T)
    assert fs.cat_file("/out/assets/v.txt") == b"a\nb\n"
    assert fs.cat_file("/out/assets/labels.txt") == b"other\n"
    model = pysavedmodel.read_saved_model("memory://out")
    assert sorted(a.filename for a in model.meta_graphs[0].asset_file_def) == [
        "labels.txt", "v.txt"]
    # base_dir as a URL: the same rule, for a spec given as a mapping.
    spec["weights"]["files"] = ["weights/mlp.safetensors"]
    spec.pop("assets")
    again = pysavedmodel.build_from_spec(spec, "memory://out2", base_dir="memory://b/specs")
    assert pysavedmodel.load_weights(again)["fc2/bias"].tolist() == \
        local["fc2.bias"].tolist()
    spec["weights"]["files"] = ["missing.safetensors"]
    with pytest.raises(NotFoundError, match=r"spec\.weights\.files\[0\].*"
                                            r"'memory://b/specs/missing\.safetensors'"):
        pysavedmodel.build_from_spec(spec, "memory://out3", base_dir="memory://b/specs")
    assert not fsspec.filesystem("memory").exists("/out3")


def test_detect_format_of_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from pysavedmodel.weights import detect_format

    build_mlp("memory://models/mlp/1")
    write_checkpoint("memory://b/ck", {"a": np.ones(2)})
    fsspec.filesystem("memory").pipe_file("/b/blob", b"?")
    assert detect_format("memory://models/mlp/1") == (
        "checkpoint", "memory://models/mlp/1/variables/variables")
    assert detect_format("memory://b/ck.index") == ("checkpoint", "memory://b/ck")
    assert detect_format("memory://b/ck.data-00000-of-00001") == ("checkpoint", "memory://b/ck")
    assert detect_format("memory://b/ck") == ("checkpoint", "memory://b/ck")
    with pytest.raises(InvalidArgumentError, match="cannot tell the format of 'memory://b/blob'"):
        detect_format("memory://b/blob")
    with pytest.raises(NotFoundError, match=r"memory://b/none\.index"):
        detect_format("memory://b/none")

    def no_requests(url: str) -> Any:
        raise AssertionError(f"{url} was looked up")

    monkeypatch.setattr(remote, "filesystem", no_requests)  # a name is enough for these
    assert detect_format("s3://b/w.safetensors") == ("safetensors", "s3://b/w.safetensors")
    assert detect_format("gs://b/W.NPZ") == ("npz", "gs://b/W.NPZ")
    assert detect_format("s3://b/any", "torch") == ("torch", "s3://b/any")


def test_from_onnx_fetches_external_data_next_to_a_url_model(tmp_path: Path) -> None:
    from onnx import TensorProto, helper, numpy_helper

    weight = np.arange(16, dtype=np.float32).reshape(4, 4)
    tensor = numpy_helper.from_array(weight, "W")
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "data/w.bin"), ("offset", "0"),
                       ("length", str(weight.nbytes))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "ext",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])],
                              [tensor])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    fs = fsspec.filesystem("memory")
    fs.pipe_file("/in/m.onnx", model.SerializeToString())
    fs.pipe_file("/in/data/w.bin", weight.tobytes())
    written = pysavedmodel.from_onnx("memory://in/m.onnx", tmp_path / "out",
                                     format="tf1")  # one plain checkpoint entry
    assert written == tmp_path / "out"
    stored = read_checkpoint(tmp_path / "out" / "variables" / "variables")
    assert [v.tolist() for v in stored.values()] == [weight.tolist()]


def test_a_remote_directory_without_a_model_is_not_found() -> None:
    with pytest.raises(NotFoundError, match="memory://nothing/here"):
        pysavedmodel.describe_saved_model("memory://nothing/here")
    fsspec.filesystem("memory").pipe_file("/half/variables/variables.index", b"")
    with pytest.raises(NotFoundError, match=r"no saved_model\.pb .* in 'memory://half'"):
        pysavedmodel.read_saved_model("memory://half")


def test_weights_save_load_convert_over_memory() -> None:
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3)}
    assert pysavedmodel.save_weights("memory://w/a.npz", arrays) == ["memory://w/a.npz"]
    np.testing.assert_array_equal(pysavedmodel.load_weights("memory://w/a.npz")["a"],
                                  arrays["a"])
    written = pysavedmodel.convert_weights("memory://w/a.npz", "memory://w/ckpt")
    assert written == ["memory://w/ckpt.data-00000-of-00001", "memory://w/ckpt.index"]
    with pytest.raises(AlreadyExistsError, match="memory://w/ckpt"):
        pysavedmodel.convert_weights("memory://w/a.npz", "memory://w/ckpt")
    out = pysavedmodel.convert_weights("memory://w/ckpt.index", "memory://w/b.safetensors")
    assert out == ["memory://w/b.safetensors"]
    np.testing.assert_array_equal(
        pysavedmodel.load_weights("memory://w/b.safetensors")["a"], arrays["a"])


def test_an_existing_remote_model_is_refused_before_building() -> None:
    build_mlp("memory://models/mlp/1")
    before = memory_files()
    with pytest.raises(AlreadyExistsError, match="already holds a SavedModel"):
        SavedModelBuilder("memory://models/mlp/1")
    fsspec.filesystem("memory").pipe_file("/models/other/1/notes.txt", b"mine")
    with pytest.raises(AlreadyExistsError, match=r"not empty.*notes\.txt"):
        build_mlp("memory://models/other/1")
    assert memory_files() == {**before, "/models/other/1/notes.txt": b"mine"}


def test_a_failed_upload_deletes_what_it_uploaded(flakymem: type[FlakyMemory]) -> None:
    flakymem.fail_after = 2  # variables/ goes up, saved_model.pb fails
    with pytest.raises(StorageError, match=r"cannot upload to 'flakymem://models/m/1'"):
        build_mlp("flakymem://models/m/1")
    assert len(flakymem.uploads) == 2
    assert memory_files() == {}


def test_leftovers_of_an_interrupted_upload_are_cleaned_by_the_retry(
        flakymem: type[FlakyMemory]) -> None:
    # The store fails mid-upload and cannot delete either (the network is gone): the
    # variables stay, but no saved_model.pb, so nothing loads them.
    flakymem.fail_after = 1
    flakymem.broken_deletes = True
    with pytest.raises(StorageError):
        build_mlp("flakymem://models/m/1")
    left = memory_files("/models/m/1")
    assert list(left) == ["variables/variables.data-00000-of-00001"]
    fsspec.filesystem("memory").pipe_file("/models/m/1/variables/stale.index", b"old")
    flakymem.fail_after = None
    flakymem.broken_deletes = False
    values = build_mlp("memory://models/m/1")  # the retry
    stored = memory_files("/models/m/1")
    assert sorted(stored) == ["fingerprint.pb", "saved_model.pb",
                              "variables/variables.data-00000-of-00001",
                              "variables/variables.index"]
    np.testing.assert_array_equal(pysavedmodel.load_weights("memory://models/m/1")["w1"],
                                  values["w1"])


# -- errors about downloaded copies name the URL

def test_checkpoint_read_errors_name_the_url() -> None:
    write_checkpoint("memory://b/ck", {"a": np.arange(100, dtype=np.float32)})
    fs = fsspec.filesystem("memory")
    data = fs.cat_file("/b/ck.data-00000-of-00001")
    index = fs.cat_file("/b/ck.index")
    fs.pipe_file("/b/ck.data-00000-of-00001", data[:10] + bytes([data[10] ^ 1]) + data[11:])
    with pytest.raises(pysavedmodel.ChecksumError) as caught:
        read_checkpoint("memory://b/ck")
    names_the_url(str(caught.value), "memory://b/ck.data-00000-of-00001")
    with CheckpointReader("memory://b/ck") as reader:  # read lazily, after the download
        for method in (reader.get_tensor, reader.read):
            with pytest.raises(pysavedmodel.ChecksumError) as caught:
                method("a")
            names_the_url(str(caught.value), "memory://b/ck.data-00000-of-00001")
    fs.pipe_file("/b/ck.data-00000-of-00001", data[:50])
    with pytest.raises(pysavedmodel.CorruptCheckpointError, match="truncated") as caught:
        pysavedmodel.load_weights("memory://b/ck.index")
    names_the_url(str(caught.value), "memory://b/ck.data-00000-of-00001")
    fs.pipe_file("/b/ck.index", index[:-5])
    with pytest.raises(pysavedmodel.CorruptCheckpointError) as caught:
        CheckpointReader("memory://b/ck")
    names_the_url(str(caught.value), "memory://b/ck.index")
    status, _, err = cli("checkpoint", "memory://b/ck")
    assert status == 1 and err.count("\n") == 1
    names_the_url(err, "memory://b/ck.index")


def test_saved_model_and_weights_read_errors_name_the_url() -> None:
    fs = fsspec.filesystem("memory")
    fs.pipe_file("/m/1/saved_model.pb", b"\xff\xff\xff not a proto")
    for read in (pysavedmodel.read_saved_model, pysavedmodel.describe_saved_model):
        with pytest.raises(pysavedmodel.CorruptSavedModelError) as caught:
            read("memory://m/1")
        names_the_url(str(caught.value), "memory://m/1/saved_model.pb")
    [finding] = pysavedmodel.validate_saved_model("memory://m/1")
    names_the_url(finding.message, "memory://m/1/saved_model.pb")
    for command in ("show", "validate"):
        status, out, err = cli(command, "memory://m/1")
        assert status == 1
        names_the_url(out + err, "memory://m/1/saved_model.pb")
    fs.pipe_file("/w/a.npz", b"PK not a zip")
    fs.pipe_file("/w/a.safetensors", b"\x10" + bytes(7) + b"{bad")
    for url in ("memory://w/a.npz", "memory://w/a.safetensors"):
        with pytest.raises(pysavedmodel.CorruptCheckpointError) as caught:
            pysavedmodel.load_weights(url)
        names_the_url(str(caught.value), url)


def test_cli_demo_writes_and_reads_back_through_a_url() -> None:
    status, out, err = cli("demo", "memory://demo/run")
    assert (status, err) == (0, ""), err
    assert "wrote SavedModel: memory://demo/run/mlp/1/saved_model.pb" in out
    assert "wrote checkpoint: memory://demo/run/checkpoint/ckpt.data-00000-of-00001" in out
    assert sorted(memory_files("/demo/run")) == [
        "checkpoint/ckpt.data-00000-of-00001", "checkpoint/ckpt.index",
        "mlp/1/fingerprint.pb", "mlp/1/saved_model.pb",
        "mlp/1/variables/variables.data-00000-of-00001", "mlp/1/variables/variables.index"]
    assert sorted(pysavedmodel.load_weights("memory://demo/run/mlp/1")) == [
        "dense/bias", "dense/kernel", "logits/kernel"]
    before = memory_files()
    status, _, err = cli("demo", "memory://demo/run")
    assert status == 1 and err.count("\n") == 1
    assert "'memory://demo/run' is not empty" in err
    assert memory_files() == before


def test_write_errors_of_staged_copies_name_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from pysavedmodel.format import writer

    def full(out: Any, data: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writer._ShardOutput, "write", full)  # every checkpoint byte
    with pytest.raises(StorageError, match="No space left") as caught:
        write_checkpoint("memory://b/ck", {"a": np.ones(3)})
    names_the_url(str(caught.value), "memory://b/ck.index")
    with pytest.raises(StorageError, match="No space left") as caught:
        pysavedmodel.save_weights("memory://w/ck", {"a": np.ones(3)}, format="checkpoint")
    names_the_url(str(caught.value), "memory://w/ck.index")
    with pytest.raises(StorageError, match="No space left") as caught:
        build_mlp("memory://models/m/1")
    names_the_url(str(caught.value), "memory://models/m/1/variables/variables.index")
    assert memory_files() == {}


def test_onnx_and_merge_read_errors_name_the_url() -> None:
    fs = fsspec.filesystem("memory")
    fs.pipe_file("/in/bad.onnx", b"\x08\x07not a model\xff\xff")
    with pytest.raises(pysavedmodel.ModelError) as caught:
        pysavedmodel.from_onnx("memory://in/bad.onnx", "memory://out/1")
    names_the_url(str(caught.value), "'memory://in/bad.onnx'")
    status, _, err = cli("from-onnx", "memory://in/bad.onnx", "unused", "--check")
    assert status == 1
    names_the_url(err, "'memory://in/bad.onnx'")
    for i in range(2):
        write_shard("memory://b/ck", {f"t{i}": np.ones(2)}, shard=i, num_shards=2)
    fs.pipe_file("/b/ck_temp/part-00001-of-00002.index", b"junk" * 20)
    with pytest.raises(pysavedmodel.CorruptCheckpointError) as caught:
        merge_shards([shard_prefix("memory://b/ck", i, 2) for i in range(2)], "memory://b/ck")
    names_the_url(str(caught.value), "memory://b/ck_temp/part-00001-of-00002.index")
    assert not fs.exists("/out/1") and not fs.exists("/b/ck.index")


def test_a_broken_spec_read_from_a_url_names_the_url() -> None:
    fsspec.filesystem("memory").pipe_file("/specs/bad.json", b"{not json")
    with pytest.raises(pysavedmodel.InvalidArgumentError, match="not valid JSON") as caught:
        pysavedmodel.build_from_spec("memory://specs/bad.json", "memory://out")
    names_the_url(str(caught.value), "memory://specs/bad.json")
    assert memory_files("/out") == {}


# -- what cannot work: one clear error

def test_an_unknown_scheme_is_unsupported() -> None:
    with pytest.raises(UnsupportedError, match=r"'nosuch://b/m'.*scheme 'nosuch'"):
        SavedModelBuilder("nosuch://b/m")
    with pytest.raises(UnsupportedError):
        read_checkpoint("nosuch://b/ckpt")


def test_cli_unknown_scheme_is_one_line_and_writes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a URL taken for a local name would land here
    for args in (["build", str(EXAMPLE_SPEC), "-o", "nosuch://b/m", "--version", "1"],
                 ["build", "nosuch://b/spec.json", "-o", "out"],
                 ["show", "nosuch://b/m/1"], ["validate", "nosuch://b/m/1"],
                 ["checkpoint", "nosuch://b/ckpt"], ["demo", "nosuch://b/demo"],
                 ["convert", str(EXAMPLE_SPEC.parent / "weights.safetensors"),
                  "nosuch://b/w.npz"],
                 ["from-onnx", "nosuch://b/m.onnx", "out"]):
        status, out, err = cli(*args)
        assert status == 1 and out == "" and err.count("\n") == 1, (args, err)
        assert err.startswith("pysavedmodel: error: ") and "scheme 'nosuch'" in err, err
    assert sorted(tmp_path.iterdir()) == []


def test_cli_unreachable_store_is_one_line_and_publishes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Connection refused: an endpoint on a port nothing listens on (the real entry
    point, so that anything the network stack prints at exit would show)."""
    monkeypatch.chdir(tmp_path)
    dead = f"http://127.0.0.1:{s3_server.free_port()}"
    env = {"AWS_ENDPOINT_URL": dead, "AWS_ENDPOINT_URL_S3": dead, "AWS_MAX_ATTEMPTS": "1",
           "AWS_ACCESS_KEY_ID": "AKIAUNREACHABLE00000", "AWS_SECRET_ACCESS_KEY": "x",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    out = run("build", str(EXAMPLE_SPEC), "-o", "s3://bucket/m", "--version", "1", env=env)
    assert out.returncode == 1 and out.stdout == "", out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
    assert out.stderr.startswith("pysavedmodel: error: ")
    assert "'s3://bucket/m/1'" in out.stderr and "Could not connect" in out.stderr
    assert sorted(tmp_path.iterdir()) == []


def test_a_scheme_without_its_package_names_the_package() -> None:
    # gcsfs is not installed in the test venv (only s3fs is).
    with pytest.raises(MissingDependencyError, match="gcsfs"):
        write_checkpoint("gs://bucket/ckpt", {"a": np.ones(2)})


def test_local_paths_never_import_fsspec(tmp_path: Path) -> None:
    code = (
        "import sys, numpy as np, pysavedmodel as p\n"
        "p.write_checkpoint('ck/model', {'a': np.ones(2)})\n"
        "p.read_checkpoint('ck/model')\n"
        "p.save_weights('w.npz', {'a': np.ones(2)})\n"
        "g = p.Graph(); x = g.placeholder('x', 'float32', [None, 2])\n"
        "b = p.SavedModelBuilder('m/1')\n"
        "b.add_meta_graph_and_variables(g, ['serve'], signature_def_map={\n"
        "    'serving_default': p.predict_signature_def({'x': x}, {'y': x})})\n"
        "b.save(); p.describe_saved_model('m/1')\n"
        "print('fsspec' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, check=True)
    assert out.stdout.strip() == "False"


def test_without_fsspec_urls_name_the_extra(tmp_path: Path) -> None:
    """A python where fsspec cannot be imported, as when it is not installed."""
    code = (
        "import sys\n"
        "sys.modules['fsspec'] = None  # what an absent package looks like to import\n"
        "import numpy as np, pysavedmodel as p\n"
        "try:\n"
        "    p.write_checkpoint('s3://bucket/ckpt', {'a': np.ones(2)})\n"
        "except p.MissingDependencyError as e:\n"
        "    print(type(e).__name__, e)\n"
        "p.write_checkpoint('plain/ckpt', {'a': np.ones(2)})  # local paths need no fsspec\n"
        "print(sorted(p.read_checkpoint('plain/ckpt')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, check=True)
    first, second = out.stdout.splitlines()
    assert first.startswith("MissingDependencyError ")
    assert "'s3://bucket/ckpt' is a URL" in first
    assert "pip install 'pysavedmodel[remote]'" in first and "s3fs" in first
    assert second == "['a']"
    assert out.stderr == ""
    # The command line in the same kind of python: one line, status 1, nothing written.
    cli_run = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['fsspec'] = None\n"
         "from pysavedmodel.cli import main; sys.exit(main(sys.argv[1:]))",
         "build", str(EXAMPLE_SPEC), "-o", "s3://models/mlp", "--version", "1"],
        capture_output=True, text=True, cwd=tmp_path)
    assert cli_run.returncode == 1 and cli_run.stderr.count("\n") == 1
    assert "pysavedmodel[remote]" in cli_run.stderr and "'s3://models/mlp'" in cli_run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain"]


# -- a real S3-compatible server

@pytest.fixture(scope="module")
def s3() -> Iterator[s3_server.S3Server]:
    """moto's S3 server on a free port, for this module; the AWS variables point s3fs at
    it meanwhile (restored, and the server killed, at the end)."""
    server = s3_server.start()
    saved = {name: os.environ.get(name) for name in server.env()}
    os.environ.update(server.env())
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        yield server
    finally:
        server.kill()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        s3fs.S3FileSystem.clear_instance_cache()


def bucket(name: str) -> str:
    fs = s3fs.S3FileSystem()
    fs.mkdir(name)
    return name


def s3_listing(root: str) -> list[str]:
    fs = s3fs.S3FileSystem()
    fs.invalidate_cache()
    return sorted(p[len(root):].lstrip("/") for p in fs.find(root))


SERVE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
from tests.support import tf_capi

with tf_capi.SavedModelSession(sys.argv[2], ["serve"]) as session:
    x = np.asarray(json.loads(sys.argv[3]), np.float32)
    print(json.dumps(session.run_signature("serving_default", {"x": x})["y"].tolist()))
"""


@pytest.mark.interop
def test_a_model_exported_to_s3_is_served_by_tensorflow(s3: s3_server.S3Server,
                                                        tmp_path: Path) -> None:
    bucket("serving")
    values = build_mlp("s3://serving/model/1")
    assert s3_listing("serving/model/1") == [
        "fingerprint.pb", "saved_model.pb", "variables/variables.data-00000-of-00001",
        "variables/variables.index"]
    download = tmp_path / "download" / "1"
    s3fs.S3FileSystem().get("serving/model/1/", str(download), recursive=True)
    x = np.random.default_rng(5).standard_normal((3, 4)).astype(np.float32)
    got = np.asarray(run_tf(SERVE, ROOT, download, json.dumps(x.tolist())), np.float32)
    np.testing.assert_allclose(got, reference(values, x), rtol=1e-5, atol=1e-5)


def test_cli_paths_take_s3_urls(s3: s3_server.S3Server, tmp_path: Path) -> None:
    """The first build runs the real entry point with the AWS variables; the other
    commands run in this process (where the s3 fixture set the same variables)."""
    bucket("cli")
    built = run("build", str(EXAMPLE_SPEC), "-o", "s3://cli/models/mlp", "--version", "1",
                "-q", env=s3.env())
    assert built.returncode == 0, built.stderr
    assert (built.stdout, built.stderr) == ("s3://cli/models/mlp/1\n", "")
    assert s3_listing("cli/models/mlp/1")[-1] == "variables/variables.index"
    assert "saved_model.pb" in s3_listing("cli/models/mlp/1")
    status, shown, err = cli("show", "s3://cli/models/mlp/1", "--json")
    assert status == 0, err
    assert json.loads(shown)["path"] == "s3://cli/models/mlp/1"
    status, valid, _ = cli("validate", "s3://cli/models/mlp/1")
    assert status == 0 and valid.startswith("OK: s3://cli/models/mlp/1 (")
    status, listed, err = cli("checkpoint", "s3://cli/models/mlp/1", "--json")
    assert status == 0, err
    doc = json.loads(listed)
    assert doc["prefix"] == "s3://cli/models/mlp/1/variables/variables"
    assert sorted(t["name"] for t in doc["tensors"]) == ["_CHECKPOINTABLE_OBJECT_GRAPH", *(
        f"{name}/.ATTRIBUTES/VARIABLE_VALUE"
        for name in ("fc1/bias", "fc1/kernel", "fc2/bias", "fc2/kernel"))]
    # The spec, its weights and the warmup inputs read from the bucket too.
    fs = s3fs.S3FileSystem()
    for path in EXAMPLE_SPEC.parent.iterdir():
        fs.pipe_file(f"cli/spec/{path.name}", path.read_bytes())
    requests = tmp_path / "requests.npz"
    np.savez(requests, x=np.ones((2, 1, 4), np.float32))
    fs.put_file(str(requests), "cli/spec/requests.npz")
    status, _, err = cli("build", "s3://cli/spec/spec.json", "-o", "s3://cli/models/mlp",
                         "--version", "2", "--warmup", "s3://cli/spec/requests.npz")
    assert status == 0, err
    warm = json.loads(cli("show", "s3://cli/models/mlp/2", "--json")[1])["warmup"]
    assert [record["signature"] for record in warm] == ["serving_default"] * 2
    assert fs.cat_file("cli/models/mlp/2/variables/variables.index") == \
        fs.cat_file("cli/models/mlp/1/variables/variables.index")
    status, _, err = cli("convert", "s3://cli/models/mlp/1", "s3://cli/w.safetensors", "-q")
    assert status == 0, err
    assert sorted(pysavedmodel.load_weights("s3://cli/w.safetensors")) == [
        "fc1/bias", "fc1/kernel", "fc2/bias", "fc2/kernel"]


def test_from_onnx_reads_and_writes_s3(s3: s3_server.S3Server, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from onnx import TensorProto, helper, numpy_helper

    bucket("onnx")
    monkeypatch.chdir(tmp_path)
    w = np.arange(6, dtype=np.float32).reshape(3, 2)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
        [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    s3fs.S3FileSystem().pipe_file("onnx/in/model.onnx", model.SerializeToString())
    status, out, err = cli("from-onnx", "s3://onnx/in/model.onnx", "s3://onnx/out",
                           "--version", "3", "-q")
    assert status == 0, err
    assert out == "s3://onnx/out/3\n"
    assert "saved_model.pb" in s3_listing("onnx/out/3")
    stored = read_checkpoint("s3://onnx/out/3/variables/variables")
    # TF1 exports key variables by name, TF2 ones by object path (``w/.ATTRIBUTES/...``).
    np.testing.assert_array_equal(stored.get("w", stored.get("w/.ATTRIBUTES/VARIABLE_VALUE")), w)
    status, out, _ = cli("from-onnx", "s3://onnx/in/model.onnx", "unused", "--check")
    assert status == 0 and "every op type is supported" in out
    assert sorted(tmp_path.iterdir()) == []


def test_checkpoints_and_shards_through_s3(s3: s3_server.S3Server, tmp_path: Path) -> None:
    bucket("ckpt")
    write_checkpoint(tmp_path / "local", tensors(), num_shards=2)
    write_checkpoint("s3://ckpt/run/model", tensors(), num_shards=2)
    fs = s3fs.S3FileSystem()
    assert {p: fs.cat_file(f"ckpt/run/{p}") for p in s3_listing("ckpt/run")} == \
        {p.replace("local", "model"): b for p, b in local_files(tmp_path).items()}
    back = read_checkpoint("s3://ckpt/run/model")
    np.testing.assert_array_equal(back["big"], tensors()["big"])
    for i, name in enumerate(["a", "b"]):
        write_shard("s3://ckpt/dist/model", {name: np.full(2, i)}, shard=i, num_shards=2)
    merge_shards([shard_prefix("s3://ckpt/dist/model", i, 2) for i in range(2)],
                 "s3://ckpt/dist/model")
    assert s3_listing("ckpt/dist") == ["model.data-00000-of-00002",
                                       "model.data-00001-of-00002", "model.index"]
    assert read_checkpoint("s3://ckpt/dist/model")["b"].tolist() == [1, 1]


def test_missing_bucket_and_bad_credentials_are_storage_errors(
        s3: s3_server.S3Server, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=r"'s3://no-such-bucket/m/1'.*bucket does not exist"):
        build_mlp("s3://no-such-bucket/m/1")
    bucket("locked")
    bad = run("build", str(EXAMPLE_SPEC), "-o", "s3://locked/m", env=s3.env(
        key="AKIAWRONGWRONGWRONG0", secret="wrong"))
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1, bad.stderr
    assert "'s3://locked/m'" in bad.stderr and "PermissionError" in bad.stderr
    assert "Traceback" not in bad.stderr
    saved = {name: os.environ[name] for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    try:  # the same wrong key in this process (s3fs caches its clients: cleared both ways)
        os.environ.update(AWS_ACCESS_KEY_ID="AKIAWRONGWRONGWRONG0", AWS_SECRET_ACCESS_KEY="x")
        s3fs.S3FileSystem.clear_instance_cache()
        status, _, err = cli("show", "s3://locked/m")
    finally:
        os.environ.update(saved)
        s3fs.S3FileSystem.clear_instance_cache()
    assert status == 1 and err.count("\n") == 1 and "PermissionError" in err, err
    assert "'s3://locked/m'" in err
    assert s3_listing("locked") == []


class FlakyS3(s3fs.S3FileSystem):  # type: ignore[misc]
    """``flakys3://``: s3fs that runs ``on_upload(count)`` after each upload, and fails
    uploads after ``fail_after`` and deletes while ``broken_deletes``."""

    protocol = ("flakys3",)
    retries = 1
    on_upload: ClassVar[Any] = None
    count: ClassVar[int] = 0
    fail_after: ClassVar[int | None] = None
    broken_deletes: ClassVar[bool] = False

    async def _put_file(self, lpath: Any, rpath: Any, *args: Any, **kwargs: Any) -> Any:
        if FlakyS3.fail_after is not None and FlakyS3.count >= FlakyS3.fail_after:
            raise OSError(errno.ECONNRESET, "connection reset by peer (injected)")
        result = await super()._put_file(lpath, rpath, *args, **kwargs)
        FlakyS3.count += 1
        if FlakyS3.on_upload is not None:
            FlakyS3.on_upload(FlakyS3.count)
        return result

    async def _rm_file(self, path: Any, **kwargs: Any) -> Any:
        if FlakyS3.broken_deletes:
            raise OSError(errno.ECONNRESET, "connection reset by peer (injected)")
        return await super()._rm_file(path, **kwargs)


@pytest.fixture
def flakys3(s3: s3_server.S3Server) -> Iterator[type[FlakyS3]]:
    fsspec.register_implementation("flakys3", FlakyS3, clobber=True)
    FlakyS3.count = 0
    yield FlakyS3
    FlakyS3.on_upload = None
    FlakyS3.fail_after = None
    FlakyS3.broken_deletes = False
    FlakyS3.clear_instance_cache()


def test_an_interrupted_s3_upload_shows_no_model_and_the_retry_cleans_up(
        flakys3: type[FlakyS3]) -> None:
    bucket("retry")
    flakys3.fail_after = 2  # variables/ arrives, saved_model.pb does not
    flakys3.broken_deletes = True  # and the cleanup cannot reach the store either
    with pytest.raises(StorageError, match="cannot upload to 'flakys3://retry/m/1'"):
        build_mlp("flakys3://retry/m/1")
    assert s3_listing("retry/m/1") == ["variables/variables.data-00000-of-00001",
                                       "variables/variables.index"]
    with pytest.raises(NotFoundError, match="no saved_model.pb"):
        pysavedmodel.read_saved_model("s3://retry/m/1")
    # Cleanup that works: a failed upload removes what it put.
    flakys3.count = 0
    flakys3.fail_after = 1
    flakys3.broken_deletes = False
    with pytest.raises(StorageError):
        build_mlp("flakys3://retry/m/2")
    assert s3_listing("retry/m/2") == []
    values = build_mlp("s3://retry/m/1")  # the retry
    assert s3_listing("retry/m/1") == ["fingerprint.pb", "saved_model.pb",
                                       "variables/variables.data-00000-of-00001",
                                       "variables/variables.index"]
    np.testing.assert_array_equal(pysavedmodel.load_weights("s3://retry/m/1")["w2"],
                                  values["w2"])


def test_killing_the_server_mid_upload_is_a_clean_storage_error(
        s3: s3_server.S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server of its own, killed after the first object arrives: the next upload
    meets a dead endpoint and the save fails with one StorageError line naming the URL;
    saved_model.pb was never sent."""
    doomed = s3_server.start()
    try:
        for name, value in doomed.env().items():
            monkeypatch.setenv(name, value)
        # Give up on a dead endpoint after one try (botocore retries too by default;
        # FlakyS3.retries is s3fs's own count).
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
        s3fs.S3FileSystem.clear_instance_cache()
        FlakyS3.clear_instance_cache()
        fsspec.register_implementation("flakys3", FlakyS3, clobber=True)
        s3fs.S3FileSystem().mkdir("doomed")
        sent: list[int] = []
        FlakyS3.count = 0
        FlakyS3.on_upload = lambda count: (sent.append(count), doomed.kill())
        with pytest.raises(StorageError, match=r"cannot upload to 'flakys3://doomed/m/1'") \
                as caught:
            build_mlp("flakys3://doomed/m/1")
        assert "\n" not in str(caught.value)
        assert sent == [1]  # one object (the variables' data) went up; no saved_model.pb
    finally:
        FlakyS3.on_upload = None
        doomed.kill()
        FlakyS3.clear_instance_cache()
        s3fs.S3FileSystem.clear_instance_cache()
