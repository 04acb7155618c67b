"""Shared helpers for the builder tests: the graph equivalent to the TF fixture."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pysavedmodel._proto import saved_model_pb2
from pysavedmodel.builder import SavedModelBuilder, predict_signature_def
from pysavedmodel.graph.graph import Graph, Tensor

FIXTURE = "savedmodel_v1_builder"


def load_saved_model(path: Path) -> saved_model_pb2.SavedModel:
    return saved_model_pb2.SavedModel.FromString(Path(path).read_bytes())


def fixture_variables(fixtures_dir: Path) -> dict[str, np.ndarray]:
    manifest = json.loads((fixtures_dir / f"{FIXTURE}.manifest.json").read_text())
    out = {}
    for name, entry in manifest["variables"].items():
        out[name] = np.frombuffer(bytes.fromhex(entry["values_hex"]), "<f4").reshape(entry["shape"])
    return out


def build_fixture_graph(values: dict[str, np.ndarray], vocab: Path) -> dict[str, Any]:
    """The graph make_fixtures.py builds with TF, built with pysavedmodel.Graph.

    Same variables (created kernel first), placeholders, lookup table on an
    asset and table init op; returns the graph and its interesting handles.
    """
    g = Graph()
    x = g.placeholder("x", "float32", [None, 3])
    kernel = g.variable("dense/kernel", values["dense/kernel"])
    bias = g.variable("dense/bias", values["dense/bias"])
    logits = g.op("AddV2", [g.op("MatMul", [x, kernel]), bias], name="logits")
    probs = g.op("Softmax", [logits], name="probs")
    words = g.placeholder("words", "string", [None])
    vocab_path = g.asset(str(vocab), name="vocab_path")
    default = g.constant(np.int64(-1), name="Const")
    table = g.op("HashTableV2", [], name="hash_table", key_dtype="string",
                 value_dtype="int64", shared_name="hash_table_vocab")
    init = g.op("InitializeTableFromTextFileV2", [table, vocab_path],
                name="text_file_init/InitializeTableFromTextFileV2", key_index=-2,
                value_index=-1)
    ids = g.op("Identity", [g.op("LookupTableFindV2", [table, words, default],
                                 name="hash_table_Lookup/LookupTableFindV2")], name="ids")
    tables_init = g.group([init], name="init_all_tables")
    return {"graph": g, "x": x, "probs": probs, "logits": logits, "words": words, "ids": ids,
            "init": tables_init, "vocab": vocab_path}


@pytest.fixture()
def vocab_file(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    path = src / "vocab.txt"
    path.write_text("apple\nbanana\ncherry\n")
    return path


@pytest.fixture()
def fixture_model(fixtures_dir: Path, vocab_file: Path) -> dict[str, Any]:
    return build_fixture_graph(fixture_variables(fixtures_dir), vocab_file)


def save_like_fixture(model: dict[str, Any], export_dir: Path) -> Path:
    """The builder calls make_fixtures.py makes, with our builder."""
    sigs = {
        "serving_default": predict_signature_def(
            {"x": model["x"]}, {"probs": model["probs"], "logits": model["logits"]}),
        "lookup": predict_signature_def({"words": model["words"]}, {"ids": model["ids"]}),
    }
    builder = SavedModelBuilder(export_dir)
    builder.add_meta_graph_and_variables(model["graph"], ["serve"], signature_def_map=sigs,
                                         init_op=model["init"])
    builder.add_meta_graph(["bar-tag", "baz-tag"],
                           signature_def_map={"serving_default": sigs["serving_default"]})
    return builder.save()


def simple_graph(value: Any = None) -> dict[str, Tensor]:
    """x [None, 2] float32 -> y = x * w, with w a [2] float32 variable."""
    g = Graph()
    x = g.placeholder("x", "float32", [None, 2])
    w = g.variable("w", np.array([1.5, -2.0], np.float32) if value is None else value)
    y = g.op("Mul", [x, w], name="y")
    return {"graph": g, "x": x, "w": w, "y": y}
