"""``pysavedmodel convert``, run as a user runs it (a subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import ml_dtypes
import numpy as np

from pysavedmodel import read_checkpoint, write_checkpoint
from pysavedmodel.weights import load_weights, save_weights

from .samples import assert_same


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pysavedmodel", *args],
                          capture_output=True, text=True)


def assert_one_line_error(out: subprocess.CompletedProcess[str], *words: str) -> None:
    assert out.returncode == 1
    assert out.stdout == ""
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pysavedmodel: error: "), out.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


TENSORS = {"dense/kernel": np.arange(6, dtype=np.float32).reshape(2, 3),
           "dense/bias": np.array([0.5, -1], dtype=ml_dtypes.bfloat16),
           "step": np.array(7, dtype=np.int64), "mask": np.array([True, False])}


def test_checkpoint_to_safetensors_to_npz_to_checkpoint(tmp_path: Path) -> None:
    write_checkpoint(tmp_path / "ckpt" / "model", TENSORS)
    out = run("convert", str(tmp_path / "ckpt" / "model"), str(tmp_path / "w.safetensors"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [str(tmp_path / "w.safetensors")]
    assert out.stderr == ""
    assert run("convert", str(tmp_path / "w.safetensors"),
               str(tmp_path / "w.npz")).returncode == 0
    out = run("convert", str(tmp_path / "w.npz"), str(tmp_path / "back" / "model"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [str(tmp_path / "back" / "model.data-00000-of-00001"),
                                       str(tmp_path / "back" / "model.index")]
    assert_same(read_checkpoint(tmp_path / "back" / "model"), TENSORS)
    # what write_checkpoint makes of the same tensors in name order (loaders sort by name)
    write_checkpoint(tmp_path / "sorted" / "model", {k: TENSORS[k] for k in sorted(TENSORS)})
    for name in ("model.index", "model.data-00000-of-00001"):
        assert (tmp_path / "back" / name).read_bytes() == \
            (tmp_path / "sorted" / name).read_bytes()


def test_explicit_formats(tmp_path: Path) -> None:
    save_weights(tmp_path / "w.npz", TENSORS)
    (tmp_path / "w.npz").rename(tmp_path / "weights.dat")
    out = run("convert", str(tmp_path / "weights.dat"), str(tmp_path / "out.bin"),
              "--from", "npz", "--to", "safetensors")
    assert out.returncode == 0, out.stderr
    assert_same(load_weights(tmp_path / "out.bin", format="safetensors"), TENSORS)
    out = run("convert", str(tmp_path / "out.bin"), str(tmp_path / "x"), "--from", "pickle")
    assert out.returncode == 2 and "invalid choice" in out.stderr  # argparse usage error
    out = run("convert", str(tmp_path / "out.bin"), str(tmp_path / "x"), "--to", "torch")
    assert out.returncode == 2 and "invalid choice" in out.stderr


def test_existing_destination_refused_then_forced(tmp_path: Path) -> None:
    save_weights(tmp_path / "a.safetensors", TENSORS)
    save_weights(tmp_path / "b.npz", {"old": np.zeros(1)})
    before = (tmp_path / "b.npz").read_bytes()
    out = run("convert", str(tmp_path / "a.safetensors"), str(tmp_path / "b.npz"))
    assert_one_line_error(out, "b.npz", "already exists")
    assert (tmp_path / "b.npz").read_bytes() == before
    out = run("convert", "--force", str(tmp_path / "a.safetensors"), str(tmp_path / "b.npz"))
    assert out.returncode == 0, out.stderr
    assert_same(load_weights(tmp_path / "b.npz"), TENSORS)


def test_errors_are_one_line_and_write_nothing(tmp_path: Path) -> None:
    write_checkpoint(tmp_path / "src", {"words": np.array([b"a", b"bc"], dtype=object),
                                        "w": np.ones(2, np.float32)})
    out_dir = tmp_path / "out"
    assert_one_line_error(run("convert", "--strict", str(tmp_path / "src"),
                              str(out_dir / "w.safetensors")), "'words'", "string")
    assert_one_line_error(run("convert", str(tmp_path / "missing"), str(out_dir / "w.npz")),
                          "missing", "does not exist")
    (tmp_path / "bad.safetensors").write_bytes(b"\xff" * 16)
    assert_one_line_error(run("convert", str(tmp_path / "bad.safetensors"), str(out_dir / "c")),
                          "bad.safetensors", "exceeds")
    assert_one_line_error(run("convert", str(tmp_path / "src"), str(out_dir / "m.pt")),
                          "source format only")
    assert not out_dir.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "bad.safetensors", "src.data-00000-of-00001", "src.index"]


def test_help_lists_the_command() -> None:
    out = run("convert", "--help")
    assert out.returncode == 0
    assert "--from" in out.stdout and "--force" in out.stdout and "safetensors" in out.stdout


def _tf2_model() -> Path:
    return Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "tf-2.21" \
        / "savedmodel_v2_module"


def test_tf2_savedmodel_converts_to_plain_names(tmp_path: Path) -> None:
    # A tf.saved_model.save export (TF-written fixture): keys become w / b, the object
    # graph is left out, nothing is skipped or warned about.
    out = run("convert", str(_tf2_model()), str(tmp_path / "w.safetensors"))
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    raw = read_checkpoint(_tf2_model() / "variables" / "variables")
    got = load_weights(tmp_path / "w.safetensors")
    assert sorted(got) == ["b", "w"]
    assert_same(got, {"w": raw["w/.ATTRIBUTES/VARIABLE_VALUE"],
                      "b": raw["b/.ATTRIBUTES/VARIABLE_VALUE"]})


def test_tf2_raw_keys_skip_the_object_graph_with_a_warning_or_refuse(tmp_path: Path) -> None:
    out = run("convert", "--raw-keys", str(_tf2_model()), str(tmp_path / "w.safetensors"))
    assert out.returncode == 0, out.stderr
    assert "warning: skipped string tensors" in out.stderr
    assert "'_CHECKPOINTABLE_OBJECT_GRAPH'" in out.stderr
    assert sorted(load_weights(tmp_path / "w.safetensors")) == [
        "b/.ATTRIBUTES/VARIABLE_VALUE", "w/.ATTRIBUTES/VARIABLE_VALUE"]
    out = run("convert", "--raw-keys", "--strict", str(_tf2_model()), str(tmp_path / "s.npz"))
    assert_one_line_error(out, "'_CHECKPOINTABLE_OBJECT_GRAPH'", "string")
    assert not (tmp_path / "s.npz").exists()


def test_tf2_checkpoint_to_checkpoint_keeps_everything_with_raw_keys(tmp_path: Path) -> None:
    out = run("convert", "--raw-keys", str(_tf2_model()), str(tmp_path / "raw" / "ckpt"))
    assert out.returncode == 0, out.stderr
    raw = read_checkpoint(_tf2_model() / "variables" / "variables")
    assert_same(read_checkpoint(tmp_path / "raw" / "ckpt"), raw)
    out = run("convert", str(_tf2_model()), str(tmp_path / "plain" / "ckpt"))
    assert out.returncode == 0, out.stderr
    assert sorted(read_checkpoint(tmp_path / "plain" / "ckpt")) == ["b", "w"]
