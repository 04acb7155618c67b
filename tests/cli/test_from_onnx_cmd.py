"""``pysavedmodel from-onnx``: conversion with the DIR/N convention, and ``--check``."""

from __future__ import annotations

from pathlib import Path

import onnx

import pysavedmodel
from tests.onnx.cases import model, node, rand

from .cli_run import run


def _write(tmp: Path, nodes: list, name: str = "m.onnx") -> Path:
    path = tmp / name
    onnx.save(model(nodes, {"x": rand(2, 3)}, ["y"], inits={"W": rand(3, 2)}), str(path))
    return path


def test_converts_into_dir_slash_version(tmp_path: Path) -> None:
    path = _write(tmp_path, [node("MatMul", ["x", "W"], ["y"])])
    out = run("from-onnx", str(path), str(tmp_path / "serving"), "--version", "7")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(tmp_path / "serving" / "7")
    described = pysavedmodel.describe_saved_model(tmp_path / "serving" / "7")
    assert [v["name"] for v in described["variables"]] == ["W"]


def test_check_lists_unsupported_ops_and_writes_nothing(tmp_path: Path) -> None:
    path = _write(tmp_path, [node("MatMul", ["x", "W"], ["m"]), node("Det", ["m"], ["d0"]),
                             node("Det", ["m"], ["d1"]), node("Hardmax", ["m"], ["h"]),
                             node("Relu", ["m"], ["y"])])
    out = run("from-onnx", str(path), str(tmp_path / "export"), "--check")
    assert out.returncode == 1
    assert out.stdout.splitlines() == [
        "unsupported Det: 2 node(s), first 'Det_d0'",
        "unsupported Hardmax: 1 node(s), first 'Hardmax_h'",
    ]
    assert not (tmp_path / "export").exists()


def test_check_passes_a_covered_model(tmp_path: Path) -> None:
    path = _write(tmp_path, [node("MatMul", ["x", "W"], ["y"])])
    out = run("from-onnx", str(path), str(tmp_path / "export"), "--check")
    assert out.returncode == 0, out.stderr
    assert "every op type is supported" in out.stdout
    assert not (tmp_path / "export").exists()


def test_unsupported_op_is_one_error_line_and_nothing_written(tmp_path: Path) -> None:
    path = _write(tmp_path, [node("MatMul", ["x", "W"], ["m"]), node("Det", ["m"], ["y"])])
    out = run("from-onnx", str(path), str(tmp_path / "export"))
    assert out.returncode == 1
    assert out.stderr.startswith("pysavedmodel: error: unsupported ONNX ops: Det (x1, first "
                                 "'Det_y')")
    assert not (tmp_path / "export").exists()


def test_warmup_requests_are_written_with_the_conversion(tmp_path: Path) -> None:
    import numpy as np

    from pysavedmodel._proto import prediction_log_pb2
    from pysavedmodel.format.tfrecord import read_records

    path = _write(tmp_path, [node("MatMul", ["x", "W"], ["y"])])
    requests = tmp_path / "warmup.npz"
    np.savez(requests, x=np.ones((4, 2, 3), np.float32))  # 4 requests of a [2, 3] batch
    out = run("from-onnx", str(path), str(tmp_path / "serving"), "--version", "1",
              "--warmup", str(requests), "--no-durable")
    assert out.returncode == 0, out.stderr
    data = (tmp_path / "serving" / "1" / "assets.extra" / "tf_serving_warmup_requests")
    logs = [prediction_log_pb2.PredictionLog.FromString(r)
            for r in read_records(data.read_bytes())]
    assert len(logs) == 4
    assert logs[0].predict_log.request.model_spec.signature_name == "serving_default"
    assert list(logs[0].predict_log.request.inputs) == ["x"]


def test_default_format_is_tf2_and_tf1_is_a_switch(tmp_path: Path) -> None:
    path = _write(tmp_path, [node("MatMul", ["x", "W"], ["y"])])
    out = run("from-onnx", str(path), str(tmp_path / "export"))
    assert out.returncode == 0, out.stderr
    saved = pysavedmodel.read_saved_model(tmp_path / "export")
    nodes = saved.meta_graphs[0].object_graph_def.nodes
    assert {c.local_name for c in nodes[0].children} >= {"W", "serve", "trainable_variables"}
    assert pysavedmodel.validate_saved_model(tmp_path / "export") == []
    assert (tmp_path / "export" / "fingerprint.pb").is_file()
    out = run("from-onnx", str(path), str(tmp_path / "tf1"), "--format", "tf1")
    assert out.returncode == 0, out.stderr
    saved = pysavedmodel.read_saved_model(tmp_path / "tf1")
    assert not saved.meta_graphs[0].HasField("object_graph_def")
    assert set(pysavedmodel.read_checkpoint(tmp_path / "tf1" / "variables" / "variables")) \
        == {"W"}


def test_shards_gives_the_checkpoint_that_many_data_files(tmp_path: Path) -> None:
    path = _write(tmp_path, [node("MatMul", ["x", "W"], ["y"])])
    out = run("from-onnx", str(path), str(tmp_path / "export"), "--shards", "2")
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "export" / "variables").iterdir()) == [
        "variables.data-00000-of-00002", "variables.data-00001-of-00002", "variables.index"]
    assert pysavedmodel.validate_saved_model(tmp_path / "export") == []
    read = pysavedmodel.load_weights(tmp_path / "export")
    assert list(read) == ["W"] and read["W"].shape == (3, 2)
