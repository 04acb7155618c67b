"""SavedModels the CLI tests build with pysavedmodel, and the expected facts of each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pysavedmodel.builder import SavedModelBuilder, predict_signature_def
from pysavedmodel.graph.graph import Graph


def build_mlp(export_dir: Path) -> dict[str, Any]:
    """x [None, 4] -> relu(x W1 + b1) W2 -> softmax 'probs'; three float32 variables."""
    rng = np.random.default_rng(7)
    g = Graph()
    x = g.placeholder("x", "float32", [None, 4])
    values = {"dense/kernel": rng.standard_normal((4, 8)).astype(np.float32),
              "dense/bias": np.zeros(8, np.float32),
              "out/kernel": rng.standard_normal((8, 3)).astype(np.float32)}
    w1, b1, w2 = (g.variable(name, value) for name, value in values.items())
    hidden = g.op("Relu", [g.op("BiasAdd", [g.op("MatMul", [x, w1]), b1])])
    logits = g.op("MatMul", [hidden, w2], name="logits")
    probs = g.op("Softmax", [logits], name="probs")
    builder = SavedModelBuilder(export_dir, format="tf1")  # show facts name TF1 tensors
    builder.add_meta_graph_and_variables(g, ["serve"], signature_def_map={
        "serving_default": predict_signature_def({"x": x}, {"probs": probs, "logits": logits})})
    builder.save()
    return {"variables": values}


def build_lookup(export_dir: Path, work: Path) -> dict[str, Any]:
    """A string -> int64 table initialized from an asset file by an init op."""
    vocab = work / "vocab.txt"
    vocab.write_text("apple\nbanana\ncherry\n")
    g = Graph()
    words = g.placeholder("words", "string", [None])
    vocab_path = g.asset(str(vocab), name="vocab_path")
    table = g.op("HashTableV2", [], name="table", key_dtype="string", value_dtype="int64",
                 shared_name="vocab_table")
    init = g.op("InitializeTableFromTextFileV2", [table, vocab_path], name="table_init",
                key_index=-2, value_index=-1)
    default = g.constant(np.int64(-1), name="default")
    ids = g.op("Identity", [g.op("LookupTableFindV2", [table, words, default])], name="ids")
    scale = g.variable("scale", np.array(2.0, np.float32))
    x = g.placeholder("x", "float32", [])
    scaled = g.op("Mul", [x, scale], name="scaled")
    builder = SavedModelBuilder(export_dir, format="tf1")  # show facts name TF1 tensors
    builder.add_meta_graph_and_variables(
        g, ["serve"], init_op=g.group([init], name="init_all_tables"),
        signature_def_map={"lookup": predict_signature_def({"words": words}, {"ids": ids}),
                           "scale": predict_signature_def({"x": x}, {"scaled": scaled})})
    builder.save()
    return {"variables": {"scale": np.array(2.0, np.float32)}, "asset": "vocab.txt",
            "asset_bytes": vocab.stat().st_size, "init_op": "init_all_tables"}


def build_two_meta_graphs(export_dir: Path) -> dict[str, Any]:
    """One graph saved under tags ['serve'] and ['train', 'gpu'] with different signatures."""
    g = Graph()
    x = g.placeholder("x", "float64", [2, None, 3])
    w = g.variable("w", np.arange(3, dtype=np.float64))
    y = g.op("Mul", [x, w], name="y")
    n = g.placeholder("n", "int32", [])
    builder = SavedModelBuilder(export_dir, format="tf1")  # show facts name TF1 tensors
    builder.add_meta_graph_and_variables(g, ["serve"], signature_def_map={
        "serving_default": predict_signature_def({"x": x}, {"y": y})})
    builder.add_meta_graph(["train", "gpu"], signature_def_map={
        "count": predict_signature_def({"n": n}, {"n_out": n}),
        "serving_default": predict_signature_def({"x": x}, {"y": y})})
    builder.save()
    return {"variables": {"w": np.arange(3, dtype=np.float64)}}
