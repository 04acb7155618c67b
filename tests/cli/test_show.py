"""``pysavedmodel show``: facts of the TF fixtures (from their manifests) and of built models.

Every run is a subprocess of the real entry point.  Text output is parsed back and must
carry the same facts as ``--json``.
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pysavedmodel.dtypes import from_numpy

from .cli_run import run, run_json, run_ok
from .models import build_lookup, build_mlp, build_two_meta_graphs
from .show_parser import parse_all

SAVEDMODEL_FIXTURES = ("savedmodel_v1_builder", "savedmodel_v2_module")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, Any]]]:
    root = tmp_path_factory.mktemp("models")
    work = tmp_path_factory.mktemp("work")
    return {
        "mlp": (root / "mlp", build_mlp(root / "mlp")),
        "lookup": (root / "lookup", build_lookup(root / "lookup", work)),
        "two": (root / "two", build_two_meta_graphs(root / "two")),
    }


def _manifest(fixtures_dir: Path, name: str) -> dict[str, Any]:
    return json.loads((fixtures_dir / f"{name}.manifest.json").read_text())


def _facts_as_text_facts(facts: dict[str, Any]) -> dict[str, Any]:
    """The --json facts in the shape parse_all gives for the text."""
    def tensor(info: dict[str, Any]) -> dict[str, str]:
        shape = info["shape"]
        shown = "unknown_rank" if shape is None else "(" + ", ".join(map(str, shape)) + ")"
        return {"dtype": info["dtype"], "shape": shown, "name": info["name"]}

    return {", ".join(m["tags"]): {
        "signatures": {key: {"method_name": sig["method_name"],
                             "inputs": {k: tensor(v) for k, v in sig["inputs"].items()},
                             "outputs": {k: tensor(v) for k, v in sig["outputs"].items()}}
                       for key, sig in m["signatures"].items()},
        "ops": set(m["ops"])} for m in facts["meta_graphs"]}


@pytest.mark.parametrize("name", SAVEDMODEL_FIXTURES)
def test_fixture_facts_match_the_manifest(fixtures_dir: Path, name: str) -> None:
    manifest = _manifest(fixtures_dir, name)
    facts = run_json("show", str(fixtures_dir / name))
    tag_sets = [tuple(tags) for tags in manifest.get("tags", [["serve"]])]
    assert sorted(tuple(m["tags"]) for m in facts["meta_graphs"]) == sorted(tag_sets)
    variables = {v["name"]: v for v in facts["variables"]}
    assert sorted(variables) == sorted(manifest["variables"])
    for var_name, expected in manifest["variables"].items():
        row = variables[var_name]
        assert (row["dtype"], row["shape"]) == (expected["dtype"], expected["shape"])
        assert row["bytes"] == len(bytes.fromhex(expected["values_hex"]))
        assert row["shards"] == [0]
    # The manifest spells file contents with backslash escapes ("apple\\n...").
    assert {a["filename"]: a["bytes"] for a in facts["asset_files"]} == {
        filename: len(codecs.decode(text, "unicode_escape").encode())
        for filename, text in manifest.get("assets", {}).items()}
    # The example TF ran: its signature's input/output keys, dtypes and batch-free shapes.
    example = manifest["example"]
    serve = next(m for m in facts["meta_graphs"] if m["tags"] == ["serve"])
    signature = serve["signatures"][example["signature"]]
    assert signature["method_name"] == "tensorflow/serving/predict"
    for side in ("inputs", "outputs"):
        assert sorted(example[side]) == sorted(
            k for k in signature[side] if name != "savedmodel_v1_builder" or k != "logits")
        for key, tensor in example[side].items():
            info = signature[side][key]
            assert info["dtype"] == from_numpy(np.dtype(tensor["dtype"])).proto_name
            assert info["shape"] == [-1, *tensor["shape"][1:]]
    if "lookup" in example:
        lookup = serve["signatures"]["lookup"]
        assert (sorted(lookup["inputs"]), sorted(lookup["outputs"])) == (["words"], ["ids"])
        assert lookup["inputs"]["words"]["dtype"] == "DT_STRING"
        assert lookup["outputs"]["ids"]["dtype"] == "DT_INT64"
        assert serve["assets"] == [{"filename": "vocab.txt", "tensor": "vocab_path:0"}]
        assert serve["init_op"] == "init_all_tables"


def test_v2_fixture_maps_object_graph_keys_to_variable_names(fixtures_dir: Path) -> None:
    facts = run_json("show", str(fixtures_dir / "savedmodel_v2_module"))
    assert {v["name"]: v["key"] for v in facts["variables"]} == {
        "b": "b/.ATTRIBUTES/VARIABLE_VALUE", "w": "w/.ATTRIBUTES/VARIABLE_VALUE"}
    assert facts["object_graph"]["name"] == "_CHECKPOINTABLE_OBJECT_GRAPH"
    assert facts["object_graph"]["dtype"] == "string"
    serve = facts["meta_graphs"][0]
    assert serve["init_op"] == "NoOp"
    assert "StatefulPartitionedCall" in serve["ops"]
    assert "MatMul" in serve["ops"]  # only inside the called function: it was followed


@pytest.mark.parametrize("name", SAVEDMODEL_FIXTURES)
def test_fixture_text_carries_the_json_facts(fixtures_dir: Path, name: str) -> None:
    directory = str(fixtures_dir / name)
    facts = run_json("show", directory)
    assert parse_all(run_ok("show", directory, "--all")) == _facts_as_text_facts(facts)


@pytest.mark.parametrize("model", ["mlp", "lookup", "two"])
def test_built_model_text_carries_the_json_facts(built: dict[str, Any], model: str) -> None:
    directory = str(built[model][0])
    facts = run_json("show", directory, "--all")
    assert parse_all(run_ok("show", directory, "--all")) == _facts_as_text_facts(facts)


def test_mlp_facts(built: dict[str, Any]) -> None:
    directory, info = built["mlp"]
    facts = run_json("show", str(directory))
    (serve,) = facts["meta_graphs"]
    assert serve["tags"] == ["serve"]
    assert serve["signatures"] == {"serving_default": {
        "method_name": "tensorflow/serving/predict",
        "inputs": {"x": {"name": "x:0", "dtype": "DT_FLOAT", "shape": [-1, 4]}},
        "outputs": {"logits": {"name": "logits:0", "dtype": "DT_FLOAT", "shape": [-1, 3]},
                    "probs": {"name": "probs:0", "dtype": "DT_FLOAT", "shape": [-1, 3]}}}}
    assert {"MatMul", "BiasAdd", "Relu", "Softmax", "VarHandleOp", "SaveV2"} <= set(serve["ops"])
    assert [(v["name"], v["dtype"], v["shape"], v["bytes"]) for v in facts["variables"]] == [
        (name, "float32", list(value.shape), value.nbytes)
        for name, value in sorted(info["variables"].items())]
    assert facts["asset_files"] == [] and serve["assets"] == []


def test_lookup_facts_list_asset_and_init_op(built: dict[str, Any]) -> None:
    directory, info = built["lookup"]
    facts = run_json("show", str(directory))
    (serve,) = facts["meta_graphs"]
    assert serve["init_op"] == info["init_op"]
    assert [a["filename"] for a in serve["assets"]] == [info["asset"]]
    assert facts["asset_files"] == [{"filename": info["asset"], "bytes": info["asset_bytes"]}]
    assert serve["signatures"]["scale"]["inputs"]["x"]["shape"] == []
    text = run_ok("show", str(directory), "--all")
    assert f"Asset: {info['asset']} fed to {serve['assets'][0]['tensor']}" in text
    assert f"  {info['asset']}: {info['asset_bytes']} bytes" in text
    assert "  scale: dtype float32, shape (), 4 bytes, shard 0" in text
    assert "Init op: init_all_tables" in text


def test_two_meta_graphs_tag_sets_and_signature_keys(built: dict[str, Any]) -> None:
    directory = str(built["two"][0])
    assert run_ok("show", directory).splitlines() == [
        "The given SavedModel contains the following tag-sets:", "'serve'", "'gpu, train'"]
    for spelling in ("train,gpu", "gpu,train", " gpu , train "):
        assert run_ok("show", directory, "--tag_set", spelling).splitlines() == [
            "The given SavedModel MetaGraphDef contains SignatureDefs with the following keys:",
            'SignatureDef key: "count"', 'SignatureDef key: "serving_default"']
    assert run_ok("show", "--dir", directory, "--tag_set", "train,gpu", "--signature_def",
                  "count").splitlines() == [
        "The given SavedModel SignatureDef contains the following input(s):",
        "  inputs['n'] tensor_info:", "      dtype: DT_INT32", "      shape: ()",
        "      name: n:0",
        "The given SavedModel SignatureDef contains the following output(s):",
        "  outputs['n_out'] tensor_info:", "      dtype: DT_INT32", "      shape: ()",
        "      name: n:0",
        "Method name is: tensorflow/serving/predict"]
    serving = run_json("show", directory, "--tag_set", "serve", "--signature_def",
                       "serving_default")
    assert serving["inputs"]["x"] == {"name": "x:0", "dtype": "DT_DOUBLE", "shape": [2, -1, 3]}
    ops = run_ok("show", directory, "--tag_set", "serve", "--list_ops").splitlines()[0]
    assert ops.startswith("The MetaGraph with tag set ['serve'] contains the following ops: {")
    assert "'Mul'" in ops and "'Placeholder'" in ops


def test_signature_def_flag_with_all_still_shows_everything(built: dict[str, Any]) -> None:
    directory = str(built["two"][0])
    text = run_ok("show", directory, "--all")
    assert set(parse_all(text)) == {"serve", "train, gpu"}
    assert "Variables (variables/variables: 1 tensors, 24 bytes):" in text


@pytest.mark.parametrize("args, needle", [
    (["--tag_set", "nope"], "'nope'"),
    (["--tag_set", "serve", "--signature_def", "nope"], "'nope'"),
    (["--signature_def", "serving_default"], "--tag_set"),
])
def test_bad_selection_is_one_line(fixtures_dir: Path, args: list[str], needle: str) -> None:
    out = run("show", str(fixtures_dir / "savedmodel_v1_builder"), *args)
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("pysavedmodel: error: ")
    assert needle in out.stderr
    if args[:2] == ["--tag_set", "nope"]:
        assert "'serve'" in out.stderr and "'bar-tag,baz-tag'" in out.stderr


def test_missing_and_corrupt_directories(tmp_path: Path) -> None:
    out = run("show", str(tmp_path / "absent"))
    assert out.returncode == 1 and "absent" in out.stderr and out.stderr.count("\n") == 1
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "saved_model.pb").write_bytes(b"\xff\xff\xff garbage")
    out = run("show", str(tmp_path / "bad"))
    assert out.returncode == 1 and "saved_model.pb" in out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    debug = run("show", str(tmp_path / "bad"), "--debug")
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    assert "CorruptSavedModelError" in debug.stderr
    assert run("show").returncode == 1  # neither DIR nor --dir
