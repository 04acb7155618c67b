"""The command-line interface, run as a user runs it (a subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import ml_dtypes
import numpy as np

from pysavedmodel import read_checkpoint


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pysavedmodel", *args],
                          capture_output=True, text=True)


def test_checkpoint_write_then_show(tmp_path: Path) -> None:
    arrays = {"w": np.arange(6, dtype=np.float32).reshape(2, 3),
              "b": np.array([1, 2], dtype=np.int64),
              "e": np.ones((2,), dtype=ml_dtypes.bfloat16)}
    np.savez(tmp_path / "in.npz", **{k: v for k, v in arrays.items() if k != "e"})
    prefix = tmp_path / "ckpt" / "model"
    prefix.parent.mkdir()
    out = run("checkpoint", "write", str(prefix), str(tmp_path / "in.npz"), "--num-shards", "2")
    assert out.returncode == 0, out.stderr
    assert sorted(Path(p).name for p in out.stdout.split()) == [
        "model.data-00000-of-00002", "model.data-00001-of-00002", "model.index"]
    back = read_checkpoint(prefix)
    np.testing.assert_array_equal(back["w"], arrays["w"])
    np.testing.assert_array_equal(back["b"], arrays["b"])
    shown = run("checkpoint", "show", str(prefix), "--values")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert "b\tint64\t[2]" in lines
    assert "w\tfloat32\t[2,3]" in lines


def test_missing_npz_is_a_clear_error(tmp_path: Path) -> None:
    out = run("checkpoint", "write", str(tmp_path / "p"), str(tmp_path / "nope.npz"))
    assert out.returncode == 2
    assert "nope.npz" in out.stderr and "pysavedmodel: error:" in out.stderr
    assert list(tmp_path.iterdir()) == []


def test_show_missing_checkpoint_names_it(tmp_path: Path) -> None:
    out = run("checkpoint", "show", str(tmp_path / "absent"))
    assert out.returncode == 2
    assert "absent" in out.stderr


def test_demo_then_savedmodel_show(tmp_path: Path) -> None:
    out = run("demo", str(tmp_path / "demo"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "demo" / "mlp" / "1" / "saved_model.pb").is_file()
    shown = run("savedmodel", "show", str(tmp_path / "demo" / "mlp" / "1"))
    assert shown.returncode == 0, shown.stderr
    assert "signature 'serving_default' (tensorflow/serving/predict)" in shown.stdout
    assert "input x: x:0 float32 [-1,4]" in shown.stdout
    assert "output probs: probs:0 float32 [-1,3]" in shown.stdout
    again = run("demo", str(tmp_path / "demo"))
    assert again.returncode == 2 and "not empty" in again.stderr
