"""Functional control flow served by TensorFlow's loaders: While, If and nested
PartitionedCall models built with :class:`pysavedmodel.Function`, each run by the C API
(TF Serving's C++ loader), ``tf.compat.v1`` and ``tf.saved_model.load`` signatures
(one TF subprocess, tests/interop/tf_scripts/check_savedmodels.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import pysavedmodel as psm
from pysavedmodel import Function
from tests.interop.savedmodel_harness import LOADERS, assert_outputs, ok, run_harness
from tests.support import function_models
from tests.support.arrays_json import encode

pytestmark = pytest.mark.interop


def _save(export: Path, g: psm.Graph, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
    builder = psm.SavedModelBuilder(export)
    builder.add_meta_graph_and_variables(g, ["serve"], signature_def_map={
        "serving_default": psm.predict_signature_def(inputs, outputs)})
    builder.save()


def build_while(export: Path) -> dict[str, Any]:
    """acc = sum over 5 iterations of x (a running sum): While with cond and body."""
    g, inp, total, xs, expected = function_models.running_sum()
    _save(export, g, {"x": inp}, {"total": total})
    return {"inputs": {"x": xs}, "expected": {"total": expected}}


def build_if(export: Path) -> dict[str, Any]:
    """2x if sum(x) > 0 else -x."""
    g, inp, y, xs, expected = function_models.double_or_negate()
    _save(export, g, {"x": inp}, {"y": y})
    return {"inputs": {"x": xs}, "expected": {"y": expected}}


def build_nested_call(export: Path) -> dict[str, Any]:
    """affine(x, w) = scale(x) @ w read from a variable, called through two functions."""
    scale = Function("scale")
    x = scale.arg("x", "float32", [None, 2])
    scale.ret("y", scale.graph.op("Mul", [x, scale.graph.constant(np.float32(3))]))
    affine = Function("affine")
    x = affine.arg("x", "float32", [None, 2])
    handle = affine.arg("w", "resource", [])
    scaled = affine.graph.op("PartitionedCall", [[x]], f=scale)
    weight = affine.graph.op("ReadVariableOp", [handle], dtype="float32")
    affine.ret("y", affine.graph.op("MatMul", [scaled, weight]))
    g = psm.Graph()
    inp = g.placeholder("x", "float32", [None, 2])
    w = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    g.variable("w", w)
    handle_name = g.variables[0].node_name  # the VarHandleOp: a resource argument
    call = g.op("StatefulPartitionedCall", [[inp, handle_name]], f=affine)
    y = g.op("Identity", [call], name="y")
    _save(export, g, {"x": inp}, {"y": y})
    xs = np.array([[1.0, 0.5], [-1.0, 2.0]], np.float32)
    return {"inputs": {"x": xs}, "expected": {"y": (xs * 3) @ w}}


BUILDERS = {"while": build_while, "if": build_if, "nested_call": build_nested_call}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    root = tmp_path_factory.mktemp("functions")
    cases = {name: build(root / name) for name, build in BUILDERS.items()}
    specs = [{"name": name, "dir": str(root / name), "tflite": None, "cli": False,
              "meta_graphs": [{"tags": ["serve"], "signatures": {"serving_default": {
                  k: encode(v) for k, v in case["inputs"].items()}}}]}
             for name, case in cases.items()]
    work = root / "tf_work"
    work.mkdir()
    return cases, run_harness(specs, work)


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("model", sorted(BUILDERS))
def test_control_flow_runs_in_every_loader(served: tuple[dict[str, Any], dict[str, Any]],
                                           model: str, loader: str) -> None:
    cases, results = served
    result = ok(results[model][loader]["serve"], f"{model} via {loader}")
    assert_outputs(result["outputs"]["serving_default"], cases[model]["expected"],
                   f"{model} via {loader}")
