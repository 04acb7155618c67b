"""TF2 SavedModels (``SavedModelBuilder(format="tf2")``) checked by every TF2 consumer of
TensorFlow 2.21, in one TF subprocess (tests/interop/tf_scripts/check_tf2.py):
``tf.saved_model.load`` (``serve``, signatures, ``__call__``, variables, a GradientTape
step), re-saving, Keras 3 ``TFSMLayer``, ``hub.KerasLayer``, the TFLite converter,
``saved_model_cli show`` / ``run``, the C API (TF Serving's loader) and
``tf.compat.v1``; a dense model, a While model (running sum), an If model and an ONNX
model converted with ``from_onnx`` (TF2 by default).  The
dense model's checkpoint is byte-identical to the one TF writes for the same object
tree (its twin), and both object graphs have the same nodes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import pysavedmodel as psm
from pysavedmodel._proto import fingerprint_pb2
from pysavedmodel.onnx import from_onnx
from tests.interop.savedmodel_harness import assert_outputs, ok
from tests.onnx.cases import model as onnx_model
from tests.onnx.cases import node as onnx_node
from tests.support import function_models
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
    """y = (x @ dense/kernel) * scale + dense/bias; scale is not trainable.  y has control
    inputs on a variable and the input (dropped from the function: its arguments) and
    on the Mul (kept)."""
    g = psm.Graph()
    x = g.placeholder("x", "float32", [None, 3])
    kernel = g.variable("dense/kernel", KERNEL)
    bias = g.variable("dense/bias", BIAS)
    scale = g.variable("scale", SCALE, trainable=False)
    scaled = g.op("Mul", [g.op("MatMul", [x, kernel]), scale])
    y = g.op("AddV2", [scaled, bias], name="y", control_inputs=[kernel, x, scaled])
    _save(export, g, {"x": x}, {"y": y})
    xs = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 1.0]], np.float32)
    return {"inputs": {"x": xs}, "output": "y", "expected": (xs @ KERNEL) * SCALE + BIAS,
            "train": True, "trainable": ["dense/bias:0", "dense/kernel:0"],
            "variables": ["dense/bias:0", "dense/kernel:0", "scale:0"]}


def build_while(export: Path) -> dict[str, Any]:
    """A running sum: acc += x five times in a While loop."""
    g, inp, total, xs, expected = function_models.running_sum()
    _save(export, g, {"x": inp}, {"total": total})
    return {"inputs": {"x": xs}, "output": "total", "expected": expected, "train": False,
            "trainable": [], "variables": []}


def build_if(export: Path) -> dict[str, Any]:
    """2x if sum(x) > 0 else -x (the export fills the If's output shapes for Keras)."""
    g, inp, y, xs, expected = function_models.double_or_negate()
    _save(export, g, {"x": inp}, {"y": y})
    return {"inputs": {"x": xs}, "output": "y", "expected": expected, "train": False,
            "trainable": [], "variables": []}


def build_onnx(export: Path) -> dict[str, Any]:
    """An ONNX model (MatMul + Add on initializers) through from_onnx (TF2 by default)."""
    weight = np.array([[1.0, -1.0], [0.5, 2.0], [0.0, 1.0]], np.float32)
    offset = np.array([0.25, -0.5], np.float32)
    xs = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 0.5]], np.float32)
    proto = onnx_model([onnx_node("MatMul", ["x", "W"], ["m"]),
                        onnx_node("Add", ["m", "B"], ["y"])],
                       {"x": xs}, ["y"], inits={"W": weight, "B": offset},
                       input_shapes={"x": ["batch", 3]})
    from_onnx(proto, export)
    return {"inputs": {"x": xs}, "output": "y", "expected": xs @ weight + offset,
            "train": True, "trainable": ["B:0", "W:0"], "variables": ["B:0", "W:0"]}


VOCAB = ["the", "quick", "brown", "fox", "ünïcödé"]
EMBEDDING = np.arange(12, dtype=np.float32).reshape(6, 2) / 2


def build_lookup(export: Path) -> dict[str, Any]:
    """A vocabulary asset, a HashTableV2 filled by the init op from it, and an embedding
    variable gathered at the looked-up ids (unknown words: row 0).  The source vocabulary
    is deleted after the export: loaders must read the copy in assets/."""
    source = export.parent / "lookup_vocab.txt"
    source.write_bytes("".join(w + "\n" for w in VOCAB).encode())
    g = psm.Graph()
    words = g.placeholder("words", "string", [None])
    vocab = g.asset(str(source), name="vocab_path")
    table = g.op("HashTableV2", [], name="vocab/table", key_dtype="string",
                 value_dtype="int64", shared_name="vocab_table")
    init = g.op("InitializeTableFromTextFileV2", [table, vocab], name="vocab/init",
                key_index=-2, value_index=-1)
    ids = g.op("LookupTableFindV2", [table, words, g.constant(np.int64(-1))], name="ids")
    row = g.op("AddV2", [ids, g.constant(np.int64(1))])
    y = g.op("GatherV2", [g.variable("embedding", EMBEDDING), row, g.constant(np.int32(0))],
             name="y")
    builder = psm.SavedModelBuilder(export, format="tf2")
    builder.add_meta_graph_and_variables(
        g, ["serve"], init_op=g.group([init], name="init_tables"), signature_def_map={
            "serving_default": psm.predict_signature_def({"words": words}, {"y": y})})
    builder.save(fingerprint=True)
    source.unlink()
    query = np.array([b"fox", b"kiwi", "ünïcödé".encode(), b"the", b""], dtype=object)
    index = {w.encode(): i for i, w in enumerate(VOCAB)}
    rows = np.array([index.get(w, -1) + 1 for w in query])
    return {"inputs": {"words": query}, "output": "y", "expected": EMBEDDING[rows],
            "train": False, "trainable": ["embedding:0"], "variables": ["embedding:0"]}


def build_table(export: Path) -> dict[str, Any]:
    """A HashTableV2 filled by the init op from constants (LookupTableImportV2): the
    kind of table the TFLite converter carries (HASHTABLE_IMPORT)."""
    g = psm.Graph()
    words = g.placeholder("words", "string", [None])
    table = g.op("HashTableV2", [], name="table", key_dtype="string", value_dtype="int64",
                 shared_name="constant_table")
    keys = g.constant(np.array([w.encode() for w in VOCAB], dtype=object), name="keys")
    filled = g.op("LookupTableImportV2", [table, keys, g.constant(
        np.arange(10, 10 + len(VOCAB), dtype=np.int64), name="values")], name="import")
    ids = g.op("LookupTableFindV2", [table, words, g.constant(np.int64(-1))], name="ids")
    builder = psm.SavedModelBuilder(export, format="tf2")
    builder.add_meta_graph_and_variables(g, ["serve"], init_op=filled, signature_def_map={
        "serving_default": psm.predict_signature_def({"words": words}, {"ids": ids})})
    builder.save(fingerprint=True)
    query = np.array([b"brown", b"kiwi", "ünïcödé".encode(), b"the"], dtype=object)
    index = {w.encode(): i + 10 for i, w in enumerate(VOCAB)}
    return {"inputs": {"words": query}, "output": "ids",
            "expected": np.array([index.get(w, -1) for w in query], np.int64),
            "train": False, "trainable": [], "variables": []}


def build_multi(export: Path) -> dict[str, Any]:
    """Two signatures sharing a placeholder, one input key that is no identifier
    ("Input-B"), a variable used by one signature only, two outputs in the other."""
    g = psm.Graph()
    a = g.placeholder("a", "float32", [None, 2])
    b = g.placeholder("b_in", "float32", [None, 2])
    v = g.variable("v", np.array([2.0, 3.0], np.float32))
    total = g.op("AddV2", [a, b], name="total")
    scaled = g.op("Mul", [a, v], name="scaled")
    neg = g.op("Neg", [scaled], name="neg")
    builder = psm.SavedModelBuilder(export, format="tf2")
    builder.add_meta_graph_and_variables(g, ["serve"], signature_def_map={
        "serving_default": psm.predict_signature_def({"a": a, "Input-B": b}, {"out": total}),
        "scale": psm.predict_signature_def({"a": a}, {"scaled_out": scaled, "neg": neg})})
    builder.save()
    xa = np.array([[1.0, 2.0], [-1.0, 0.5]], np.float32)
    xb = np.array([[10.0, 20.0], [0.0, -4.0]], np.float32)
    return {"signatures": {"serving_default": {"a": xa, "Input-B": xb}, "scale": {"a": xa}},
            "args": ["Input-B", "a"],  # serve's positional order: the keys sorted
            "expected": {"serving_default": {"out": xa + xb},
                         "scale": {"scaled_out": xa * [2.0, 3.0], "neg": -xa * [2.0, 3.0]}}}


BUILDERS = {"dense": build_dense, "while": build_while, "if": build_if, "onnx": build_onnx,
            "lookup": build_lookup, "table": build_table}
CHECKS = ("serve", "signature", "call", "resave", "tfsm", "tfsm_sequential", "hub",
          "hub_sequential", "tflite", "cli_run", "capi", "v1")
NOT_CHECKED = {("lookup", "tflite")}
"""TFLite has no kernel that reads a vocabulary file: it fails the same way on TF's own
export of a text-file table (test_tflite_treats_text_file_tables_as_tf_own_export)."""
CASES = [(model, check) for model in sorted(BUILDERS) for check in CHECKS
         if (model, check) not in NOT_CHECKED]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    root = tmp_path_factory.mktemp("tf2")
    cases = {name: build(root / name) for name, build in BUILDERS.items()}
    for name, case in cases.items():
        case["dir"] = str(root / name)
    multi = build_multi(root / "multi")
    work = root / "tf_work"
    work.mkdir()
    spec = {"work_dir": str(work), "multi": [{
        "name": "multi", "dir": str(root / "multi"), "args": multi["args"],
        "signatures": {key: {k: encode(v) for k, v in feeds.items()}
                       for key, feeds in multi["signatures"].items()}}],
        "models": [
        {"name": name, "dir": str(root / name), "args": list(case["inputs"]),
         "train": case["train"],
         "inputs": {k: encode(v) for k, v in case["inputs"].items()}}
        for name, case in cases.items()],
        "text_file_twin": {"vocab": VOCAB, "query": encode(cases["lookup"]["inputs"]["words"])},
        "twin": {"dir": str(root / "dense"), "values": {
            "dense/kernel": encode(KERNEL), "dense/bias": encode(BIAS),
            "scale": encode(np.asarray(SCALE))}}}
    (work / "spec.json").write_text(json.dumps(spec))
    cases["multi"] = multi
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


@pytest.mark.parametrize(("model", "check"), CASES)
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


@pytest.mark.parametrize("model", sorted(BUILDERS))
def test_tf_reads_and_recomputes_the_fingerprint(
        results: tuple[dict[str, Any], dict[str, Any]], model: str) -> None:
    """fingerprint.pb (written by default for TF2 exports): read_fingerprint returns our
    values and TF's CreateFingerprintDef recomputes every hash from our files."""
    cases, report = results
    loaded = ok(report[model]["tf2"], f"fingerprint of {model}")
    ours = fingerprint_pb2.FingerprintDef.FromString(
        (Path(cases[model]["dir"]) / "fingerprint.pb").read_bytes())
    values = [str(getattr(ours, name)) for name in (
        "saved_model_checksum", "graph_def_program_hash", "signature_def_hash",
        "saved_object_graph_hash", "checkpoint_hash")]
    assert loaded["fingerprint"]["read"] == values
    assert loaded["fingerprint"]["recomputed"] == values
    assert ours.saved_object_graph_hash != 0


def test_gradient_step_reaches_and_changes_the_trainable_variables(
        results: tuple[dict[str, Any], dict[str, Any]]) -> None:
    _, report = results
    for model in ("dense", "onnx"):
        loaded = ok(report[model]["tf2"], f"GradientTape step on {model}")
        assert loaded["grads_none"] == [False, False]
        assert loaded["changed"] == [True, True]
        assert loaded["loss_after"] < loaded["loss_before"]
        hub = ok(report[model]["hub"], f"hub.KerasLayer fit of {model}")
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


def test_several_signatures_each_serve_in_every_loader(
        results: tuple[dict[str, Any], dict[str, Any]]) -> None:
    cases, report = results
    case = cases["multi"]
    got = ok(report["multi"], "several signatures")
    for loader in ("tf2", "capi", "v1"):
        for key, expected in case["expected"].items():
            assert_outputs(got[loader][key], {k: np.asarray(v, np.float32)
                                              for k, v in expected.items()},
                           f"signature {key!r} via {loader}")
    assert_outputs({"out": got["serve"]}, case["expected"]["serving_default"], "serve(b, a)")
    assert got["trainable_variables"] == ["v:0"]


def test_tflite_treats_text_file_tables_as_tf_own_export(
        results: tuple[dict[str, Any], dict[str, Any]]) -> None:
    """The TFLite converter accepts both our lookup model and TF's own export of a
    StaticHashTable(TextFileInitializer); the interpreter then fails on both alike
    (TFLite cannot read the vocabulary file), so the lookup model is not a TFLite case."""
    _, report = results
    ours = report["lookup"]["tflite"]
    theirs = report["text_file_twin"]
    assert "error" in ours and "error" in theirs, (ours, theirs)
    assert "hashtable need to be initialized" in ours["error"]
    assert ours["error"].split("Node number")[0] == theirs["error"].split("Node number")[0]
