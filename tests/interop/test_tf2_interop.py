"""TF2 SavedModels (``SavedModelBuilder(format="tf2")``) checked by every TF2 consumer of
TensorFlow 2.21, in one TF subprocess (tests/interop/tf_scripts/check_tf2.py):
``tf.saved_model.load`` (``serve``, signatures, ``__call__``, variables, a GradientTape
step), re-saving, Keras 3 ``TFSMLayer``, ``hub.KerasLayer``, the TFLite converter,
``saved_model_cli show`` / ``run``, the C API (TF Serving's loader) and
``tf.compat.v1``; a dense model, a While model (running sum) and an If model.  The
dense model's checkpoint is byte-identical to the one TF writes for the same object
tree (its twin), and both object graphs have the same nodes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import pysavedmodel as psm
from pysavedmodel import Function
from tests.interop.savedmodel_harness import assert_outputs, ok
from tests.support.arrays_json import encode
from tests.support.tf import run_tf
from tests.support.venvs import ROOT

pytestmark = pytest.mark.interop

SCRIPT = Path(__file__).with_name("tf_scripts") / "check_tf2.py"
KERNEL = np.arange(6, dtype=np.float32).reshape(3, 2) / 4
BIAS = np.array([0.5, -1.0], np.float32)
SCALE = np.float32(2.0)


def _save(export: Path, g: psm.Graph, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
    builder = psm.SavedModelBuilder(export, format="tf2")
    builder.add_meta_graph_and_variables(g, ["serve"], signature_def_map={
        "serving_default": psm.predict_signature_def(inputs, outputs)})
    builder.save(fingerprint=True)


def build_dense(export: Path) -> dict[str, Any]:
    """y = (x @ dense/kernel) * scale + dense/bias; scale is not trainable."""
    g = psm.Graph()
    x = g.placeholder("x", "float32", [None, 3])
    kernel = g.variable("dense/kernel", KERNEL)
    bias = g.variable("dense/bias", BIAS)
    scale = g.variable("scale", SCALE, trainable=False)
    y = g.op("AddV2", [g.op("Mul", [g.op("MatMul", [x, kernel]), scale]), bias], name="y")
    _save(export, g, {"x": x}, {"y": y})
    xs = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 1.0]], np.float32)
    return {"inputs": {"x": xs}, "output": "y", "expected": (xs @ KERNEL) * SCALE + BIAS,
            "train": True, "trainable": ["dense/bias:0", "dense/kernel:0"],
            "variables": ["dense/bias:0", "dense/kernel:0", "scale:0"]}


def build_while(export: Path) -> dict[str, Any]:
    """A running sum: acc += x five times in a While loop."""
    cond = Function("loop_cond")
    i = cond.arg("i", "int32", [])
    cond.arg("acc", "float32", [None])
    cond.arg("x", "float32", [None])
    cond.ret("keep", cond.graph.op("Less", [i, cond.graph.constant(np.int32(5))]))
    body = Function("loop_body")
    i = body.arg("i", "int32", [])
    acc = body.arg("acc", "float32", [None])
    x = body.arg("x", "float32", [None])
    body.ret("i", body.graph.op("AddV2", [i, body.graph.constant(np.int32(1))]))
    body.ret("acc", body.graph.op("AddV2", [acc, x]))
    body.ret("x", body.graph.op("Identity", [x]))
    g = psm.Graph()
    inp = g.placeholder("x", "float32", [None])
    loop = g.op("While", [[g.constant(np.int32(0)), g.op("ZerosLike", [inp]), inp]],
                cond=cond, body=body, parallel_iterations=4)
    total = g.op("Identity", [loop.outputs[1]], name="total")
    _save(export, g, {"x": inp}, {"total": total})
    xs = np.array([1.5, -2.0, 0.25], np.float32)
    return {"inputs": {"x": xs}, "output": "total", "expected": xs * 5, "train": False,
            "trainable": [], "variables": []}


def build_if(export: Path) -> dict[str, Any]:
    """2x if sum(x) > 0 else -x."""
    then = Function("then_double")
    x = then.arg("x", "float32", [None])
    then.ret("y", then.graph.op("Mul", [x, then.graph.constant(np.float32(2))]))
    other = Function("else_negate")
    x = other.arg("x", "float32", [None])
    other.ret("y", other.graph.op("Neg", [x]))
    g = psm.Graph()
    inp = g.placeholder("x", "float32", [None])
    pred = g.op("Greater", [g.op("Sum", [inp, g.constant(np.int32(0))]),
                            g.constant(np.float32(0))])
    # output_shapes as TF sets it: Keras needs the output's rank to build a Sequential.
    branch = g.op("If", [pred, [inp]], then_branch=then, else_branch=other,
                  output_shapes=[[None]])
    y = g.op("Identity", [branch], name="y")
    _save(export, g, {"x": inp}, {"y": y})
    xs = np.array([-3.0, 1.0], np.float32)
    return {"inputs": {"x": xs}, "output": "y", "expected": -xs, "train": False,
            "trainable": [], "variables": []}


BUILDERS = {"dense": build_dense, "while": build_while, "if": build_if}
CHECKS = ("serve", "signature", "call", "resave", "tfsm", "tfsm_sequential", "hub",
          "hub_sequential", "tflite", "cli_run", "capi", "v1")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    root = tmp_path_factory.mktemp("tf2")
    cases = {name: build(root / name) for name, build in BUILDERS.items()}
    work = root / "tf_work"
    work.mkdir()
    spec = {"work_dir": str(work), "models": [
        {"name": name, "dir": str(root / name), "args": ["x"], "train": case["train"],
         "inputs": {k: encode(v) for k, v in case["inputs"].items()}}
        for name, case in cases.items()],
        "twin": {"dir": str(root / "dense"), "values": {
            "dense/kernel": encode(KERNEL), "dense/bias": encode(BIAS),
            "scale": encode(np.asarray(SCALE))}}}
    (work / "spec.json").write_text(json.dumps(spec))
    report: dict[str, Any] = run_tf(SCRIPT.read_text(), ROOT, work / "spec.json")
    return cases, report


def _got(report: dict[str, Any], model: str, check: str) -> Any:
    """The tensor (or {key: tensor}) a check produced for ``model``."""
    what = f"{check} of {model}"
    part = {"serve": "tf2", "signature": "tf2", "call": "tf2", "resave": "resave",
            "tfsm": "tfsm", "tfsm_sequential": "tfsm", "hub": "hub", "hub_sequential": "hub",
            "tflite": "tflite", "cli_run": "cli", "capi": "capi", "v1": "v1"}[check]
    result = ok(report[model][part], what)
    return {"serve": lambda: result["serve"], "signature": lambda: result["signature"],
            "call": lambda: result["call"], "resave": lambda: result["serve"],
            "tfsm": lambda: result["alone"], "tfsm_sequential": lambda: result["sequential"],
            "hub": lambda: result["alone"], "hub_sequential": lambda: result["sequential"],
            "tflite": lambda: result["outputs"], "cli_run": lambda: result.get("outputs"),
            "capi": lambda: result, "v1": lambda: result}[check]()


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("model", sorted(BUILDERS))
def test_every_tf2_consumer_serves_the_numpy_reference(
        results: tuple[dict[str, Any], dict[str, Any]], model: str, check: str) -> None:
    cases, report = results
    case = cases[model]
    got = _got(report, model, check)
    if check == "cli_run":
        cli = report[model]["cli"]
        assert cli["run"]["returncode"] == 0, cli["run"]["stderr"]
    expected = {case["output"]: case["expected"]}
    single = isinstance(got, dict) and "hex" in got  # one encoded array, not a dict of them
    assert_outputs({case["output"]: got} if single else got, expected,
                   f"{check} of {model}")


@pytest.mark.parametrize("model", sorted(BUILDERS))
def test_loaded_object_lists_exactly_the_trainable_variables(
        results: tuple[dict[str, Any], dict[str, Any]], model: str) -> None:
    cases, report = results
    loaded = ok(report[model]["tf2"], f"load of {model}")
    assert loaded["trainable_variables"] == cases[model]["trainable"]
    assert loaded["variables"] == cases[model]["variables"]
    assert loaded["regularization_losses"] == 0
    assert loaded["signature_keys"] == ["serving_default"]
    resaved = ok(report[model]["resave"], f"resave of {model}")
    assert resaved["trainable_variables"] == cases[model]["trainable"]
    tfsm = ok(report[model]["tfsm"], f"TFSMLayer of {model}")
    assert len(tfsm["trainable_weights"]) == len(cases[model]["trainable"])
    hub = ok(report[model]["hub"], f"hub.KerasLayer of {model}")
    assert hub["trainable_weights"] == cases[model]["trainable"]
    assert sorted(hub["trainable_weights"] + hub["non_trainable_weights"]) == \
        cases[model]["variables"]


def test_gradient_step_reaches_and_changes_the_trainable_variables(
        results: tuple[dict[str, Any], dict[str, Any]]) -> None:
    _, report = results
    loaded = ok(report["dense"]["tf2"], "GradientTape step")
    assert loaded["grads_none"] == [False, False]
    assert loaded["changed"] == [True, True]
    assert loaded["loss_after"] < loaded["loss_before"]
    hub = ok(report["dense"]["hub"], "hub.KerasLayer fit")
    assert hub["changed"] == [True, True]


def test_hub_keras_layer_is_a_tf_keras_layer_not_a_keras3_one(
        results: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """tensorflow-hub 0.16.1 builds on tf_keras: Keras 3's Sequential refuses its layer
    (recorded in docs/format/tf2-savedmodel.md); TFSMLayer is the Keras 3 path."""
    _, report = results
    hub = ok(report["dense"]["hub"], "hub.KerasLayer")
    assert "Only instances of `keras.Layer`" in hub["keras3_sequential"]


@pytest.mark.parametrize("model", sorted(BUILDERS))
def test_saved_model_cli_shows_the_serve_function(
        results: tuple[dict[str, Any], dict[str, Any]], model: str) -> None:
    _, report = results
    show = report[model]["cli"]["show"]
    assert show["returncode"] == 0, show["stderr"]
    assert "Function Name: 'serve'" in show["stdout"]
    assert "signature_def['serving_default']" in show["stdout"]


def test_checkpoint_is_byte_identical_to_tf_twin(
        results: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """TF saves an AutoTrackable with the same variables, lists and serve function: the
    variables/ files are the same bytes, the object graphs have the same nodes (kinds,
    children, variables) and the concrete functions bind the same variable nodes."""
    _, report = results
    twin = ok(report["twin"], "TF twin")
    assert twin["files_equal"] == {"variables.index": True,
                                   "variables.data-00000-of-00001": True}
    assert twin["ours_nodes"] == twin["twin_nodes"]
    assert twin["ours_bound"] == twin["twin_bound"]
    assert twin["ours_signatures"] == twin["twin_signatures"]
