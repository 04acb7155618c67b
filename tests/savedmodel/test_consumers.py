"""``validate --for``: consumer rules, offline and against TensorFlow 2.21."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pysavedmodel.builder import SavedModelBuilder, predict_signature_def
from pysavedmodel.cli import validate_cmd
from pysavedmodel.graph.graph import Graph
from pysavedmodel.savedmodel.loader import read_saved_model
from pysavedmodel.savedmodel.validate.consumers import CONSUMER_CODES, CONSUMERS, consumer_findings
from tests.cli.models import build_mlp, build_two_meta_graphs
from tests.support.tf import run_tf
from tests.support.venvs import ROOT


def codes(export_dir: Path, consumer: str) -> list[str]:
    return [f.code for f in consumer_findings(read_saved_model(export_dir).meta_graphs, consumer)]


def build_erf(export_dir: Path, key: str = "serving_default") -> None:
    """y = erfc(x) * 2: Erfc has no TFLite builtin."""
    g = Graph()
    x = g.placeholder("x", "float32", [None, 3])
    y = g.op("Mul", [g.op("Erfc", [x]), g.constant(np.float32(2.0))], name="y")
    builder = SavedModelBuilder(export_dir)
    builder.add_meta_graph_and_variables(
        g, ["serve"], signature_def_map={key: predict_signature_def({"x": x}, {"y": y})})
    builder.save()


def test_cli_choices_match_module() -> None:
    assert validate_cmd.CONSUMERS == CONSUMERS


def test_mlp_passes_serving_and_tflite_but_not_keras_load_model(tmp_path: Path) -> None:
    build_mlp(tmp_path / "m")
    assert codes(tmp_path / "m", "serving") == []
    assert codes(tmp_path / "m", "tflite") == []
    assert codes(tmp_path / "m", "keras") == ["consumer-keras-load-model"]
    assert codes(tmp_path / "m", "hub") == ["consumer-hub-signature"]


def test_two_meta_graphs_need_tags_for_hub_and_keras(tmp_path: Path) -> None:
    build_two_meta_graphs(tmp_path / "m")
    assert "consumer-needs-tags" in codes(tmp_path / "m", "hub")
    assert "consumer-needs-tags" in codes(tmp_path / "m", "keras")
    assert "consumer-needs-tags" not in codes(tmp_path / "m", "serving")


def test_no_serving_default_and_tflite_op(tmp_path: Path) -> None:
    build_erf(tmp_path / "m", key="score")
    assert codes(tmp_path / "m", "serving") == ["consumer-no-serving-default"]
    found = consumer_findings(read_saved_model(tmp_path / "m").meta_graphs, "tflite")
    assert [f.code for f in found] == ["consumer-tflite-op"]
    assert "'Erfc'" in found[0].message and "'score'" in found[0].where
    keras = codes(tmp_path / "m", "keras")
    assert keras == ["consumer-keras-load-model", "consumer-no-serving-default"]


def test_no_serve_graph(tmp_path: Path) -> None:
    g = Graph()
    x = g.placeholder("x", "float32", [2])
    y = g.op("Neg", [x], name="y")
    builder = SavedModelBuilder(tmp_path / "m")
    builder.add_meta_graph_and_variables(
        g, ["train"], signature_def_map={"serving_default": predict_signature_def(
            {"x": x}, {"y": y})})
    builder.save()
    assert codes(tmp_path / "m", "serving") == ["consumer-no-serve-graph"]
    assert codes(tmp_path / "m", "tflite") == ["consumer-no-serve-graph"]


def test_every_code_is_listed_and_unknown_consumer_refused() -> None:
    assert len(set(CONSUMER_CODES)) == len(CONSUMER_CODES)
    with pytest.raises(ValueError, match="'onnx'"):
        consumer_findings([], "onnx")


def test_cli_for_reports_and_exits_1(tmp_path: Path) -> None:
    build_erf(tmp_path / "m", key="score")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.run([sys.executable, "-m", "pysavedmodel", "validate", str(tmp_path / "m"),
                           "--for", "tflite", "--json"], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 1, proc.stderr
    assert [f["code"] for f in json.loads(proc.stdout)] == ["consumer-tflite-op"]
    plain = subprocess.run([sys.executable, "-m", "pysavedmodel", "validate", str(tmp_path / "m")],
                           capture_output=True, text=True, timeout=120, env=env)
    assert plain.returncode == 0, plain.stdout + plain.stderr


def test_tensorflow_agrees(tmp_path: Path) -> None:
    """TF 2.21: the TFLite converter refuses Erfc with builtins only and converts the MLP;
    tf.saved_model.load refuses two meta graphs without tags=; Keras 3 load_model refuses
    a SavedModel directory."""
    build_mlp(tmp_path / "mlp")
    build_erf(tmp_path / "erf")
    build_two_meta_graphs(tmp_path / "two")
    result = run_tf("""
        import json, sys
        import tensorflow as tf
        out = {}
        def attempt(name, fn):
            try:
                fn()
                out[name] = "ok"
            except Exception as exc:
                out[name] = type(exc).__name__ + ": " + str(exc)[:300]
        conv = lambda d: tf.lite.TFLiteConverter.from_saved_model(d).convert()
        attempt("tflite_mlp", lambda: conv(sys.argv[1]))
        attempt("tflite_erf", lambda: conv(sys.argv[2]))
        attempt("load_two", lambda: tf.saved_model.load(sys.argv[3]))
        attempt("load_two_tags", lambda: tf.saved_model.load(sys.argv[3], tags=["serve"]))
        attempt("keras_load", lambda: tf.keras.models.load_model(sys.argv[1]))
        print(json.dumps(out))
    """, tmp_path / "mlp", tmp_path / "erf", tmp_path / "two")
    assert result["tflite_mlp"] == "ok"
    assert result["tflite_erf"] != "ok" and "Erfc" in result["tflite_erf"]
    assert result["load_two"] != "ok" and "tags" in result["load_two"]
    assert result["load_two_tags"] == "ok"
    assert result["keras_load"] != "ok"
