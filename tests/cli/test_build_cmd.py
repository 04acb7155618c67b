"""``pysavedmodel build SPEC -o DIR [--version N]``, run as a user runs it (subprocesses)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import safetensors.numpy

from pysavedmodel import load_weights, read_checkpoint
from pysavedmodel._proto import saved_model_pb2
from tests.cli.cli_run import run
from tests.support.venvs import ROOT

EXAMPLE = ROOT / "examples" / "mlp"


def assert_example_model(export_dir: Path) -> None:
    """The checkpoint holds the example's torch weights, kernels transposed."""
    torch = safetensors.numpy.load_file(str(EXAMPLE / "weights.safetensors"))
    ckpt = load_weights(export_dir)
    assert sorted(ckpt) == ["fc1/bias", "fc1/kernel", "fc2/bias", "fc2/kernel"]
    np.testing.assert_array_equal(ckpt["fc1/kernel"], torch["fc1.weight"].T)
    np.testing.assert_array_equal(ckpt["fc2/kernel"], torch["fc2.weight"].T)
    np.testing.assert_array_equal(ckpt["fc2/bias"], torch["fc2.bias"])
    saved = saved_model_pb2.SavedModel.FromString((export_dir / "saved_model.pb").read_bytes())
    assert sorted(saved.meta_graphs[0].signature_def) == ["__saved_model_init_op",
                                                          "serving_default"]


def test_build_example_with_version_prints_the_version_dir(tmp_path: Path) -> None:
    out = tmp_path / "models" / "mlp"
    first = run("build", str(EXAMPLE / "spec.json"), "-o", str(out), "--version", "1")
    assert first.returncode == 0, first.stderr
    assert first.stderr == ""
    assert first.stdout == f"{out / '1'}\n"
    assert_example_model(out / "1")
    # The console script, and a second version beside the first (TF Serving's layout).
    second = run("build", str(EXAMPLE / "spec.json"), "--output", str(out), "--version", "2",
                 "-q", script=True)
    assert second.returncode == 0, second.stderr
    assert second.stdout == f"{out / '2'}\n"
    assert sorted(p.name for p in out.iterdir()) == ["1", "2"]
    model_bytes = [(out / v / "saved_model.pb").read_bytes() for v in ("1", "2")]
    assert model_bytes[0] == model_bytes[1]


def test_build_without_version_writes_dir_itself(tmp_path: Path) -> None:
    out = tmp_path / "export"
    result = run("build", str(EXAMPLE / "spec.json"), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{out}\n"
    assert_example_model(out)


def test_relative_paths_resolve_against_the_spec_not_the_cwd(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLE, tmp_path / "project" / "mlp")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "pysavedmodel", "build", "../project/mlp/spec.json", "-o", "out",
         "--version", "0"], cwd=elsewhere, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{Path('out') / '0'}\n"
    assert_example_model(elsewhere / "out" / "0")


def test_spec_error_is_one_line_naming_the_json_path(tmp_path: Path) -> None:
    spec = json.loads((EXAMPLE / "spec.json").read_text())
    spec["variables"][0]["shape"] = [4, 8]
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))
    shutil.copy(EXAMPLE / "weights.safetensors", tmp_path / "weights.safetensors")
    result = run("build", str(spec_path), "-o", str(tmp_path / "out"), "--version", "1")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "pysavedmodel: error: spec.variables[0]: fc1.weight [16,4] transposed to [4,16] but "
        "variable 'fc1/kernel' is [4,8] (weight from 'weights.safetensors')\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.json", "weights.safetensors"]


def test_missing_spec_and_existing_version_are_errors(tmp_path: Path) -> None:
    missing = run("build", str(tmp_path / "nope.json"), "-o", str(tmp_path / "out"))
    assert missing.returncode == 1
    assert "pysavedmodel: error: spec file" in missing.stderr and "nope.json" in missing.stderr
    assert list(tmp_path.iterdir()) == []

    (tmp_path / "out" / "1").mkdir(parents=True)
    (tmp_path / "out" / "1" / "saved_model.pb").write_bytes(b"older model")
    again = run("build", str(EXAMPLE / "spec.json"), "-o", str(tmp_path / "out"),
                "--version", "1")
    assert again.returncode == 1
    assert "version 1 already exists" in again.stderr
    assert (tmp_path / "out" / "1" / "saved_model.pb").read_bytes() == b"older model"


def test_usage_errors(tmp_path: Path) -> None:
    negative = run("build", str(EXAMPLE / "spec.json"), "-o", str(tmp_path / "o"),
                   "--version", "-1")
    assert negative.returncode == 2
    assert "expected a non-negative integer" in negative.stderr and "'-1'" in negative.stderr
    no_output = run("build", str(EXAMPLE / "spec.json"))
    assert no_output.returncode == 2
    assert "-o/--output" in no_output.stderr
    assert list(tmp_path.iterdir()) == []
    helped = run("build", "--help")
    assert helped.returncode == 0
    assert "--version N" in helped.stdout and "SPEC" in helped.stdout


def test_build_with_warmup_npz_writes_records_that_show_lists(tmp_path: Path) -> None:
    from pysavedmodel._proto import prediction_log_pb2
    from pysavedmodel.format.tfrecord import read_records

    inputs = tmp_path / "warmup.npz"
    x = np.random.default_rng(0).standard_normal((3, 2, 4)).astype(np.float32)
    np.savez(inputs, **{"serving_default/x": x})
    out = tmp_path / "served"
    result = run("build", str(EXAMPLE / "spec.json"), "-o", str(out), "--version", "1",
                 "--warmup", str(inputs))
    assert result.returncode == 0, result.stderr
    data = (out / "1" / "assets.extra" / "tf_serving_warmup_requests").read_bytes()
    logs = [prediction_log_pb2.PredictionLog.FromString(r) for r in read_records(data)]
    assert len(logs) == 3
    shown = run("show", str(out / "1"), "--all")
    assert "Warmup requests (assets.extra/tf_serving_warmup_requests: 3 records):" in shown.stdout
    assert "  2: predict_log 'serving_default': x: DT_FLOAT [2, 4]" in shown.stdout


def test_build_with_bad_warmup_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    inputs = tmp_path / "warmup.npz"
    np.savez(inputs, **{"serving_default/x": np.zeros((2, 1, 5), np.float32)})
    out = tmp_path / "served"
    result = run("build", str(EXAMPLE / "spec.json"), "-o", str(out), "--warmup", str(inputs))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "input 'x' has shape [1, 5]" in result.stderr
    assert not out.exists()


def test_build_format_tf2_writes_an_object_based_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "export"
    result = run("build", str(EXAMPLE / "spec.json"), "-o", str(out), "--format", "tf2")
    assert result.returncode == 0, result.stderr
    keys = set(read_checkpoint(out / "variables" / "variables"))
    assert "_CHECKPOINTABLE_OBJECT_GRAPH" in keys
    assert all(k.endswith("/.ATTRIBUTES/VARIABLE_VALUE") for k in keys
               if k != "_CHECKPOINTABLE_OBJECT_GRAPH")
    model = saved_model_pb2.SavedModel.FromString((out / "saved_model.pb").read_bytes())
    assert model.meta_graphs[0].HasField("object_graph_def")


def test_build_shards_spreads_the_checkpoint_over_data_files(tmp_path: Path) -> None:
    out = tmp_path / "export"
    result = run("build", str(EXAMPLE / "spec.json"), "-o", str(out), "--shards", "3")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (out / "variables").iterdir()) == [
        "variables.data-00000-of-00003", "variables.data-00001-of-00003",
        "variables.data-00002-of-00003", "variables.index"]
    assert_example_model(out)
    # The default for a model this small: TensorFlow's one data file.
    default = tmp_path / "default"
    assert run("build", str(EXAMPLE / "spec.json"), "-o", str(default)).returncode == 0
    assert sorted(p.name for p in (default / "variables").iterdir()) == [
        "variables.data-00000-of-00001", "variables.index"]


def test_build_bad_shards_are_usage_errors_or_one_line(tmp_path: Path) -> None:
    for bad in ("0", "-2", "two"):
        result = run("build", str(EXAMPLE / "spec.json"), "-o", str(tmp_path / "o"),
                     "--shards", bad)
        assert result.returncode == 2
        assert "--shards" in result.stderr and f"expected a positive integer, got {bad!r}" \
            in result.stderr
    # More data files than the checkpoint has tensors (4 weights and the object graph).
    result = run("build", str(EXAMPLE / "spec.json"), "-o", str(tmp_path / "o"),
                 "--shards", "6")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "num_shards=6: the checkpoint holds 5 tensor(s)" in result.stderr
    assert list(tmp_path.iterdir()) == []
