"""load_weights / save_weights / convert_weights across checkpoint, safetensors and npz."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pysavedmodel
from pysavedmodel import read_checkpoint, write_checkpoint
from pysavedmodel.errors import (
    AlreadyExistsError,
    Error,
    InvalidArgumentError,
    NotFoundError,
    UnsupportedDTypeError,
)
from pysavedmodel.weights import (
    MissingDependencyError,
    convert_weights,
    detect_format,
    load_weights,
    save_weights,
)
from tests.format.test_bundle import manifest_value, many_tensors

from .samples import (
    CHECKPOINT_DTYPES,
    NPZ_DTYPES,
    SAFETENSORS_DTYPES,
    SHAPES,
    assert_same,
    sample,
    tensors_of,
)

FILE_NAMES = {"checkpoint": "ckpt/model", "safetensors": "w.safetensors", "npz": "w.npz"}
HOLDS = {"checkpoint": set(CHECKPOINT_DTYPES), "safetensors": set(SAFETENSORS_DTYPES),
         "npz": set(NPZ_DTYPES)}


def common_dtypes(*formats: str) -> list[str]:
    return sorted(set.intersection(*(HOLDS[f] for f in formats)))


@pytest.mark.parametrize("fmt", sorted(FILE_NAMES))
def test_save_load_every_dtype_the_format_holds(tmp_path: Path, fmt: str) -> None:
    tensors = tensors_of(sorted(HOLDS[fmt]))
    written = save_weights(tmp_path / FILE_NAMES[fmt], tensors)
    assert all(p.exists() for p in written)
    assert_same(load_weights(tmp_path / FILE_NAMES[fmt]), tensors)
    assert_same(load_weights(tmp_path / FILE_NAMES[fmt], format=fmt), tensors)


@pytest.mark.parametrize("dst", sorted(FILE_NAMES))
@pytest.mark.parametrize("src", sorted(FILE_NAMES))
def test_convert_every_direction(tmp_path: Path, src: str, dst: str) -> None:
    tensors = tensors_of(common_dtypes(src, dst))
    source = tmp_path / "src" / FILE_NAMES[src]
    target = tmp_path / "dst" / FILE_NAMES[dst]
    save_weights(source, tensors)
    written = convert_weights(source, target)
    assert written[-1].name.endswith((".index", ".safetensors", ".npz"))
    assert_same(load_weights(target), tensors)


def test_chain_checkpoint_safetensors_npz_checkpoint(tmp_path: Path) -> None:
    tensors = tensors_of(common_dtypes("checkpoint", "safetensors", "npz"))
    assert "bfloat16/mat" in tensors and "bool/scalar" in tensors
    write_checkpoint(tmp_path / "a", tensors)
    convert_weights(tmp_path / "a", tmp_path / "b.safetensors")
    convert_weights(tmp_path / "b.safetensors", tmp_path / "c.npz")
    convert_weights(tmp_path / "c.npz", tmp_path / "d")
    convert_weights(tmp_path / "d.index", tmp_path / "e.safetensors")
    assert_same(read_checkpoint(tmp_path / "d"), tensors)
    assert_same(load_weights(tmp_path / "e.safetensors"), tensors)
    # the checkpoint bytes do not depend on the route (same names, same values)
    write_checkpoint(tmp_path / "f", {k: tensors[k] for k in sorted(tensors)})
    assert (tmp_path / "d.index").read_bytes() == (tmp_path / "f.index").read_bytes()


# -- TF fixtures


@pytest.mark.parametrize("fixture", ["checkpoint_many", "checkpoint_sharded", "checkpoint_sliced"])
@pytest.mark.parametrize("dst", ["w.safetensors", "w.npz"])
def test_tf_fixtures_convert_and_read_back(tmp_path: Path, fixtures_dir: Path, fixture: str,
                                           dst: str) -> None:
    if fixture == "checkpoint_many":
        expected = many_tensors()
    else:
        manifest = json.loads((fixtures_dir / fixture / "manifest.json").read_text())
        expected = {name: manifest_value(desc) for name, desc in manifest["tensors"].items()}
    source = fixtures_dir / fixture / "variables"
    strings = sorted(k for k, v in expected.items() if v.dtype == object)
    if strings:  # checkpoint_sharded has one: refused by name under strict, else skipped
        with pytest.raises(UnsupportedDTypeError, match=repr(strings[0])):
            convert_weights(source, tmp_path / dst, strict=True)
        assert list(tmp_path.iterdir()) == []
        with pytest.warns(UserWarning, match=repr(strings[0])):
            convert_weights(source, tmp_path / dst)
        expected = {k: v for k, v in expected.items() if k not in strings}
    else:
        convert_weights(source, tmp_path / dst)
    assert_same(load_weights(tmp_path / dst), expected)


def test_tf2_savedmodel_loads_under_variable_paths_unless_raw_keys(fixtures_dir: Path) -> None:
    """TF's own TF2 export: plain variable paths by default, the stored keys with
    raw_keys=True (the object graph included), the same values either way."""
    model = fixtures_dir / "savedmodel_v2_module"
    raw = load_weights(model, raw_keys=True)
    plain = load_weights(model)
    assert "_CHECKPOINTABLE_OBJECT_GRAPH" in raw
    assert "_CHECKPOINTABLE_OBJECT_GRAPH" not in plain
    assert sorted(plain) == sorted(k[:-len("/.ATTRIBUTES/VARIABLE_VALUE")] for k in raw
                                   if k.endswith("/.ATTRIBUTES/VARIABLE_VALUE"))
    for name, value in plain.items():
        np.testing.assert_array_equal(value, raw[f"{name}/.ATTRIBUTES/VARIABLE_VALUE"])


def test_tf_dtype_fixture_to_safetensors_and_npz(tmp_path: Path, fixtures_dir: Path) -> None:
    source = fixtures_dir / "checkpoint_dtypes" / "variables"
    manifest = json.loads((source.parent / "manifest.json").read_text())
    expected = {name: manifest_value(desc) for name, desc in manifest["tensors"].items()}
    numbers = {k: v for k, v in expected.items() if not k.startswith("strings/")}
    loaded = load_weights(source)
    assert_same(loaded, expected)
    # strings: neither format holds them; the error names the tensor and nothing is written
    for dst in ("w.safetensors", "w.npz"):
        with pytest.raises(UnsupportedDTypeError, match=r"'strings/\w+'.*string"):
            save_weights(tmp_path / dst, {k: loaded[k] for k in sorted(loaded)
                                          if k != "dtypes/complex128"})
        assert list(tmp_path.iterdir()) == []
    with pytest.raises(UnsupportedDTypeError, match="'dtypes/complex128'.*complex128"), \
            pytest.warns(UserWarning, match="'strings/scalar'"):
        convert_weights(source, tmp_path / "w.safetensors")
    assert list(tmp_path.iterdir()) == []
    st_numbers = {k: v for k, v in numbers.items() if k != "dtypes/complex128"}
    save_weights(tmp_path / "w.safetensors", {k: loaded[k] for k in st_numbers})
    assert_same(load_weights(tmp_path / "w.safetensors"), st_numbers)
    save_weights(tmp_path / "w.npz", {k: loaded[k] for k in numbers})
    assert_same(load_weights(tmp_path / "w.npz"), numbers)


def test_savedmodel_directory_reads_its_variables(fixtures_dir: Path) -> None:
    model = fixtures_dir / "savedmodel_v1_builder"
    assert detect_format(model) == ("checkpoint", model / "variables" / "variables")
    assert_same(load_weights(model), read_checkpoint(model / "variables" / "variables"))


# -- recognising paths, errors


def test_format_detection(tmp_path: Path) -> None:
    write_checkpoint(tmp_path / "m", {"a": np.zeros(2)})
    assert detect_format(tmp_path / "m") == ("checkpoint", tmp_path / "m")
    assert detect_format(tmp_path / "m.index") == ("checkpoint", tmp_path / "m")
    assert detect_format(tmp_path / "m.data-00000-of-00001") == ("checkpoint", tmp_path / "m")
    assert detect_format(str(tmp_path / "x.safetensors"))[0] == "safetensors"
    assert detect_format(tmp_path / "x.NPZ")[0] == "npz"
    for name in ("x.pt", "x.pth", "x.bin"):
        assert detect_format(tmp_path / name)[0] == "torch"
    assert detect_format(tmp_path / "odd.name", "npz") == ("npz", tmp_path / "odd.name")


def test_missing_source_names_the_file(tmp_path: Path) -> None:
    for name in ("nothing", "nothing.safetensors", "nothing.npz", "nothing.index"):
        with pytest.raises(NotFoundError, match="nothing"):
            load_weights(tmp_path / name)
    with pytest.raises(NotFoundError, match=r"variables/variables\.index"):
        load_weights(tmp_path)


def test_unrecognised_source_lists_accepted_forms(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InvalidArgumentError, match=r"notes\.txt.*\.safetensors.*\.npz"):
        load_weights(tmp_path / "notes.txt")
    with pytest.raises(InvalidArgumentError, match="'pickle'.*checkpoint, safetensors"):
        load_weights(tmp_path / "notes.txt", format="pickle")
    for bad in (None, 3, ""):
        with pytest.raises(InvalidArgumentError, match="path"):
            load_weights(bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match="path"):
            save_weights(bad, {})  # type: ignore[arg-type]


def test_npz_file_given_as_safetensors_is_corrupt_not_crash(tmp_path: Path) -> None:
    save_weights(tmp_path / "w.npz", {"a": np.ones(3)})
    with pytest.raises(Error, match=r"w\.npz"):
        load_weights(tmp_path / "w.npz", format="safetensors")
    with pytest.raises(Error, match=r"w\.npz"):
        load_weights(tmp_path / "w.npz", format="checkpoint")


def test_save_refusals_write_nothing(tmp_path: Path) -> None:
    target = tmp_path / "new" / "dir"
    with pytest.raises(InvalidArgumentError, match="source format only"):
        save_weights(target / "x.pt", {"a": np.ones(1)})
    with pytest.raises(InvalidArgumentError, match="mapping"):
        save_weights(target / "x.npz", [np.ones(1)])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="non-empty strings"):
        save_weights(target / "x.safetensors", {3: np.ones(1)})  # type: ignore[dict-item]
    with pytest.raises(UnsupportedDTypeError, match="'s'.*string"):
        save_weights(target / "x.safetensors", {"a": np.ones(1), "s": np.array([b"x"])})
    with pytest.raises(UnsupportedDTypeError, match="'f8'.*float8"):
        save_weights(target / "x.npz", {"f8": np.ones(2, ml_dtypes.float8_e4m3fn)})
    with pytest.raises(UnsupportedDTypeError, match="'f8'"):
        save_weights(target / "x", {"f8": np.ones(2, ml_dtypes.float8_e4m3fn)})
    with pytest.raises(InvalidArgumentError, match="'zip'.*checkpoint, safetensors, npz"):
        save_weights(target / "x", {"a": np.ones(1)}, format="zip")
    with pytest.raises(InvalidArgumentError, match=r"x\.npz'.*NUL"):
        save_weights(target / "x.npz", {"a\x00b": np.ones(1)})
    with pytest.raises(InvalidArgumentError, match="not encodable as UTF-8"):
        save_weights(target / "x.safetensors", {"\ud800": np.ones(1)})
    assert list(tmp_path.iterdir()) == []
    for name in ("d.safetensors", "d.npz", "d"):
        (tmp_path / name).mkdir()
        with pytest.raises(InvalidArgumentError, match="is a directory"):
            save_weights(tmp_path / name, {"a": np.ones(1)})
        with pytest.raises(InvalidArgumentError, match="is a directory"):
            convert_weights(tmp_path / "nothing.npz", tmp_path / name, overwrite=True)
        assert list((tmp_path / name).iterdir()) == []


@pytest.mark.parametrize("name", ["x.safetensors", "x.npz"])
def test_failure_mid_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          name: str) -> None:
    calls = []
    real_contiguous, real_write_array = np.ascontiguousarray, np.lib.format.write_array

    def fail_second(original: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls.append(1)
            if len(calls) == 2:  # the first tensor is already in the temporary file
                raise KeyboardInterrupt
            return original(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(np, "ascontiguousarray", fail_second(real_contiguous))
    monkeypatch.setattr(np.lib.format, "write_array", fail_second(real_write_array))
    with pytest.raises(KeyboardInterrupt):
        save_weights(tmp_path / "sub" / name, {"a": np.ones(4), "b": np.zeros(3)})
    assert len(calls) == 2
    assert list(tmp_path.iterdir()) == []


def test_existing_destination_refused_unless_overwrite(tmp_path: Path) -> None:
    save_weights(tmp_path / "a.npz", {"a": np.ones(2)})
    save_weights(tmp_path / "b.safetensors", {"b": np.zeros(1)})
    before = (tmp_path / "b.safetensors").read_bytes()
    with pytest.raises(AlreadyExistsError, match=r"b\.safetensors"):
        convert_weights(tmp_path / "a.npz", tmp_path / "b.safetensors")
    assert (tmp_path / "b.safetensors").read_bytes() == before
    write_checkpoint(tmp_path / "c", {"c": np.zeros(1)}, num_shards=1)
    (tmp_path / "c.index").unlink()  # a stray data file alone still counts
    with pytest.raises(AlreadyExistsError, match=r"c\.data-00000-of-00001"):
        convert_weights(tmp_path / "a.npz", tmp_path / "c")
    convert_weights(tmp_path / "a.npz", tmp_path / "b.safetensors", overwrite=True)
    assert_same(load_weights(tmp_path / "b.safetensors"), {"a": np.ones(2)})
    # overwriting a 2-shard checkpoint with a 1-shard one leaves no stale data file
    write_checkpoint(tmp_path / "s", {"x": np.zeros(3), "y": np.ones(3)}, num_shards=2)
    convert_weights(tmp_path / "a.npz", tmp_path / "s", overwrite=True)
    assert sorted(p.name for p in tmp_path.glob("s.*")) == ["s.data-00000-of-00001", "s.index"]
    assert_same(read_checkpoint(tmp_path / "s"), {"a": np.ones(2)})


def test_strings_from_npz_and_numpy_quirks(tmp_path: Path) -> None:
    big_endian = np.arange(6, dtype=">i4").reshape(2, 3)
    fortran = np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3))
    np.savez_compressed(tmp_path / "small.npz", z=np.zeros((50, 50)), i=np.arange(3))
    assert_same(load_weights(tmp_path / "small.npz"), {"z": np.zeros((50, 50)),
                                                        "i": np.arange(3)})
    np.savez(tmp_path / "np.npz", be=big_endian, f=fortran, s=np.array([b"ab", b"c"]),
             u=np.array(["h\u00e9", "x"]), bf=np.ones(2, ml_dtypes.bfloat16))
    got = load_weights(tmp_path / "np.npz")
    assert got["be"].dtype == np.dtype("<i4") and got["be"].tolist() == big_endian.tolist()
    assert got["f"].tolist() == fortran.tolist()
    assert got["s"].dtype == object and got["s"].tolist() == [b"ab", b"c"]
    assert got["u"].tolist() == ["h\u00e9".encode(), b"x"]
    assert got["bf"].dtype == ml_dtypes.bfloat16 and got["bf"].tolist() == [1.0, 1.0]
    # and the strings go on into a checkpoint
    convert_weights(tmp_path / "np.npz", tmp_path / "ck")
    assert read_checkpoint(tmp_path / "ck")["u"].tolist() == ["h\u00e9".encode(), b"x"]


def test_our_npz_is_what_numpy_reads(tmp_path: Path) -> None:
    tensors = tensors_of(sorted(set(NPZ_DTYPES) - {"bfloat16"}))
    save_weights(tmp_path / "w.npz", tensors)
    with np.load(tmp_path / "w.npz", allow_pickle=False) as archive:
        assert_same({k: archive[k] for k in archive.files}, tensors)


def test_pickled_npz_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    script = f"""
import numpy as np, pathlib
class Evil:
    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path({str(marker)!r}),))
np.savez({str(tmp_path / "evil.npz")!r}, ok=np.ones(2), bad=np.array([Evil()], dtype=object))
"""
    subprocess.run([sys.executable, "-c", script], check=True)
    assert not marker.exists()
    with pytest.raises(UnsupportedDTypeError, match="'bad'.*pickle"):
        load_weights(tmp_path / "evil.npz")
    assert not marker.exists()


# -- optional dependencies stay optional


def test_import_does_not_load_safetensors_or_torch(tmp_path: Path) -> None:
    save_weights(tmp_path / "w.safetensors", {"a": np.ones(2)})
    script = f"""
import json, sys
import pysavedmodel
pysavedmodel.load_weights, pysavedmodel.save_weights
arrays = pysavedmodel.load_weights({str(tmp_path / "w.safetensors")!r})
pysavedmodel.save_weights({str(tmp_path / "w.npz")!r}, arrays)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("safetensors", "torch"))))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout) == []
    assert pysavedmodel.load_weights is load_weights


def test_torch_file_without_torch_says_how_to_install(tmp_path: Path) -> None:
    (tmp_path / "model.pt").write_bytes(b"PK\x03\x04 not really")
    script = f"""
import sys
sys.modules["torch"] = None  # as if torch were not installed, whatever this venv has
import pysavedmodel
try:
    pysavedmodel.load_weights({str(tmp_path / "model.pt")!r})
except pysavedmodel.Error as exc:
    print(type(exc).__name__, isinstance(exc, ImportError), exc)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    assert out.stdout.startswith("MissingDependencyError True ")
    assert "model.pt" in out.stdout and "pip install 'pysavedmodel[torch]'" in out.stdout
    assert issubclass(MissingDependencyError, Error)


# -- progress


@pytest.mark.parametrize("name", ["x.safetensors", "x.npz", "x"])
def test_progress_reports_bytes_written(tmp_path: Path, name: str) -> None:
    tensors = {"big": np.ones((3, 1 << 20), np.float32), "small": np.int8([1, 2])}
    total = sum(v.nbytes for v in tensors.values())
    calls: list[tuple[int, int]] = []
    save_weights(tmp_path / name, tensors, progress=lambda done, t: calls.append((done, t)))
    assert calls[-1] == (total, total)
    assert all(t == total for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    if name.endswith(".safetensors"):  # 12 MiB go out in 8 MiB pieces
        assert len(calls) >= 3
    with pytest.raises(InvalidArgumentError, match="progress"):
        save_weights(tmp_path / "y.npz", tensors, progress=3)  # type: ignore[arg-type]


def test_cli_draws_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    import os
    import pty

    save_weights(tmp_path / "w.npz", {"big": np.ones((1 << 20,), np.float64)})
    leader, follower = pty.openpty()
    env = dict(os.environ, PYSAVEDMODEL_PROGRESS_DELAY="0")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pysavedmodel", "convert", str(tmp_path / "w.npz"),
             str(tmp_path / "w.safetensors")], stderr=follower, stdout=subprocess.PIPE,
            env=env, timeout=120)
        os.close(follower)
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(leader)
    assert proc.returncode == 0
    assert b"writing" in drawn and b"w.safetensors" in drawn
    assert_same(load_weights(tmp_path / "w.safetensors"), load_weights(tmp_path / "w.npz"))


# -- any names and dtypes: a round trip or a pysavedmodel.Error, nothing in between

_ANY_NAME = st.text(min_size=0, max_size=8)
_ANY_DTYPE = st.sampled_from(sorted(set(CHECKPOINT_DTYPES) | set(SAFETENSORS_DTYPES)))


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(fmt=st.sampled_from(sorted(FILE_NAMES)),
       spec=st.dictionaries(_ANY_NAME, st.tuples(_ANY_DTYPE, st.sampled_from(sorted(SHAPES))),
                            max_size=4))
def test_any_names_round_trip_or_error(fmt: str, spec: dict[str, tuple[str, str]]) -> None:
    import tempfile

    tensors = {name: sample(dtype, SHAPES[shape], seed=i)
               for i, (name, (dtype, shape)) in enumerate(spec.items())}
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "out" / FILE_NAMES[fmt]
        try:
            save_weights(target, tensors)
        except Error:
            assert not (Path(tmp) / "out").exists()
            return
        assert_same(load_weights(target), tensors)
