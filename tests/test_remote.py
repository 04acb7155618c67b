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
import errno
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
        "saved_model.pb", "variables/variables.data-00000-of-00001", "variables/variables.index"]
    assert read_checkpoint(f"file://{target}/variables/variables")["w1"].tolist() == \
        values["w1"].tolist()
    with pytest.raises(AlreadyExistsError):
        build_mlp(f"file://{target}")


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
    assert list(model.meta_graphs[0].signature_def) == ["serving_default"]
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
    back = read_checkpoint("memory://out/mlp/2/variables/variables")
    np.testing.assert_array_equal(back["fc1/kernel"], local["fc1.weight"].T)


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
    written = pysavedmodel.from_onnx("memory://in/m.onnx", tmp_path / "out")
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
    assert sorted(stored) == ["saved_model.pb", "variables/variables.data-00000-of-00001",
                              "variables/variables.index"]
    np.testing.assert_array_equal(read_checkpoint("memory://models/m/1/variables/variables")
                                  ["w1"], values["w1"])


# -- what cannot work: one clear error

def test_an_unknown_scheme_is_unsupported() -> None:
    with pytest.raises(UnsupportedError, match=r"'nosuch://b/m'.*scheme 'nosuch'"):
        SavedModelBuilder("nosuch://b/m")
    with pytest.raises(UnsupportedError):
        read_checkpoint("nosuch://b/ckpt")


def test_a_scheme_without_its_package_names_the_package() -> None:
    # gcsfs is not installed in the test venv (only s3fs is).
    with pytest.raises(MissingDependencyError, match="gcsfs"):
        write_checkpoint("gs://bucket/ckpt", {"a": np.ones(2)})


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
    assert "pip install 'pysavedmodel[remote]'" in first and "s3fs" in first
    assert second == "['a']"
    cli = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['fsspec'] = None\n"
         "from pysavedmodel.cli import main; sys.exit(main(sys.argv[1:]))",
         "build", str(EXAMPLE_SPEC), "-o", "s3://models/mlp", "--version", "1"],
        capture_output=True, text=True, cwd=tmp_path)
    assert cli.returncode == 1 and cli.stderr.count("\n") == 1
    assert "pysavedmodel[remote]" in cli.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain"]


# -- a real S3-compatible server

@pytest.fixture(scope="session")
def s3() -> Iterator[s3_server.S3Server]:
    """moto's S3 server on a free port; the AWS variables point s3fs at it."""
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
        "saved_model.pb", "variables/variables.data-00000-of-00001",
        "variables/variables.index"]
    download = tmp_path / "download" / "1"
    s3fs.S3FileSystem().get("serving/model/1/", str(download), recursive=True)
    x = np.random.default_rng(5).standard_normal((3, 4)).astype(np.float32)
    got = np.asarray(run_tf(SERVE, ROOT, download, json.dumps(x.tolist())), np.float32)
    np.testing.assert_allclose(got, reference(values, x), rtol=1e-5, atol=1e-5)


def test_cli_paths_take_s3_urls(s3: s3_server.S3Server, tmp_path: Path) -> None:
    bucket("cli")
    env = s3.env()
    built = run("build", str(EXAMPLE_SPEC), "-o", "s3://cli/models/mlp", "--version", "1",
                "-q", env=env)
    assert built.returncode == 0, built.stderr
    assert built.stdout == "s3://cli/models/mlp/1\n"
    assert s3_listing("cli/models/mlp/1")[-1] == "variables/variables.index"
    assert "saved_model.pb" in s3_listing("cli/models/mlp/1")
    again = run("build", str(EXAMPLE_SPEC), "-o", "s3://cli/models/mlp", "--version", "1",
                env=env)
    assert again.returncode == 1 and "already holds a SavedModel" in again.stderr
    shown = run("show", "s3://cli/models/mlp/1", "--json", env=env)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["path"] == "s3://cli/models/mlp/1"
    valid = run("validate", "s3://cli/models/mlp/1", env=env)
    assert valid.returncode == 0 and valid.stdout.startswith("OK: s3://cli/models/mlp/1 (")
    listed = run("checkpoint", "s3://cli/models/mlp/1", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    doc = json.loads(listed.stdout)
    assert doc["prefix"] == "s3://cli/models/mlp/1/variables/variables"
    assert sorted(t["name"] for t in doc["tensors"]) == [
        "fc1/bias", "fc1/kernel", "fc2/bias", "fc2/kernel"]
    converted = run("convert", "s3://cli/models/mlp/1", "s3://cli/w.safetensors", "-q", env=env)
    assert converted.returncode == 0, converted.stderr
    local = run("convert", "s3://cli/w.safetensors", str(tmp_path / "w.npz"), "-q", env=env)
    assert local.returncode == 0, local.stderr
    with np.load(tmp_path / "w.npz") as npz:
        assert sorted(npz.files) == ["fc1/bias", "fc1/kernel", "fc2/bias", "fc2/kernel"]


def test_from_onnx_reads_and_writes_s3(s3: s3_server.S3Server, tmp_path: Path) -> None:
    from onnx import TensorProto, helper, numpy_helper

    bucket("onnx")
    w = np.arange(6, dtype=np.float32).reshape(3, 2)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
        [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    s3fs.S3FileSystem().pipe_file("onnx/in/model.onnx", model.SerializeToString())
    out = run("from-onnx", "s3://onnx/in/model.onnx", "s3://onnx/out", "--version", "3", "-q",
              env=s3.env())
    assert out.returncode == 0, out.stderr
    assert out.stdout == "s3://onnx/out/3\n"
    assert "saved_model.pb" in s3_listing("onnx/out/3")
    checked = run("from-onnx", "s3://onnx/in/model.onnx", "unused", "--check", env=s3.env())
    assert checked.returncode == 0 and "every op type is supported" in checked.stdout
    assert not (tmp_path / "unused").exists()


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
    read = run("show", "s3://locked/m", env=s3.env(key="AKIAWRONGWRONGWRONG0", secret="x"))
    assert read.returncode == 1 and "PermissionError" in read.stderr
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
    assert s3_listing("retry/m/1") == ["saved_model.pb", "variables/variables.data-00000-of-00001",
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
