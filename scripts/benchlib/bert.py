"""The ``bert`` group of scripts/bench.py: a BERT-base-size safetensors file (199 tensors,
~440 MB of float32, Hugging Face names and layouts) turned into a SavedModel by
``pysavedmodel build`` with a spec whose graph is a BERT encoder over one sequence
(``input_ids`` [tokens] -> ``sequence_output`` [tokens, 768], ``pooled_output`` [768]).

The spec renames ``bert.encoder.layer.0.attention.self.query.weight`` to
``bert/encoder/layer/0/attention/self/query/weight`` and keeps PyTorch's ``[out, in]``
layout: the graph multiplies with ``MatMul(transpose_b=true)``, so no weight is copied
to be transposed.

Contenders (each in a fresh process, the same bytes from the page cache):

* the plain write: the 199 arrays (already in memory) written to one file, then fsync
  (what ``durable=True`` adds to every file), the floor;
* ``pysavedmodel build SPEC -o DIR`` as a command (interpreter start and imports
  included; durable, its default);
* ``build_from_spec`` timed inside a process that has imported pysavedmodel (durable
  too): by default the checkpoint gets one data file per started 256 MiB (two here,
  written in parallel), and again with ``num_shards=1`` (one data file, TF's layout);
* the interpreter starting and importing what the command imports, doing nothing else:
  the command's own floor is this plus the plain write.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

STARTUP_ROW = "interpreter start + the command's imports (no work, fresh process)"
"""The contender that measures what ``pysavedmodel build`` pays before any work: with the
plain write after it, the least the command can take."""

ONE_FILE_ROW = "single data file: build_from_spec(num_shards=1)"
"""The in-process build writing TensorFlow's one data file instead of the default's
several (a name of its own: report targets find rows by their names' beginnings)."""

HIDDEN = 768
HEADS = 12
INTERMEDIATE = 3072
VOCAB = 30522
POSITIONS = 512


def tensor_shapes(layers: int) -> dict[str, tuple[int, ...]]:
    """Names and shapes of bert-base-uncased's safetensors file (pooler included)."""
    shapes: dict[str, tuple[int, ...]] = {
        "bert.embeddings.word_embeddings.weight": (VOCAB, HIDDEN),
        "bert.embeddings.position_embeddings.weight": (POSITIONS, HIDDEN),
        "bert.embeddings.token_type_embeddings.weight": (2, HIDDEN),
        "bert.embeddings.LayerNorm.weight": (HIDDEN,),
        "bert.embeddings.LayerNorm.bias": (HIDDEN,),
    }
    for i in range(layers):
        p = f"bert.encoder.layer.{i}."
        for part in ("attention.self.query", "attention.self.key", "attention.self.value",
                     "attention.output.dense"):
            shapes[p + part + ".weight"] = (HIDDEN, HIDDEN)
            shapes[p + part + ".bias"] = (HIDDEN,)
        shapes[p + "attention.output.LayerNorm.weight"] = (HIDDEN,)
        shapes[p + "attention.output.LayerNorm.bias"] = (HIDDEN,)
        shapes[p + "intermediate.dense.weight"] = (INTERMEDIATE, HIDDEN)
        shapes[p + "intermediate.dense.bias"] = (INTERMEDIATE,)
        shapes[p + "output.dense.weight"] = (HIDDEN, INTERMEDIATE)
        shapes[p + "output.dense.bias"] = (HIDDEN,)
        shapes[p + "output.LayerNorm.weight"] = (HIDDEN,)
        shapes[p + "output.LayerNorm.bias"] = (HIDDEN,)
    shapes["bert.pooler.dense.weight"] = (HIDDEN, HIDDEN)
    shapes["bert.pooler.dense.bias"] = (HIDDEN,)
    return shapes


class _Nodes:
    """NodeDef dicts of the spec's graph, named uniquely."""

    def __init__(self) -> None:
        self.nodes: list[dict[str, Any]] = []

    def add(self, name: str, op: str, inputs: list[str], **attr: Any) -> str:
        node: dict[str, Any] = {"name": name, "op": op, "input": inputs}
        if attr:
            node["attr"] = attr
        self.nodes.append(node)
        return name

    def const(self, name: str, value: Any, dtype: str) -> str:
        return self.add(name, "Const", [], value=value, dtype=dtype)

    def read(self, weight: str) -> str:
        return f"bert/{weight}/Read/ReadVariableOp"

    def dense(self, scope: str, x: str, weight: str) -> str:
        y = self.add(f"{scope}/MatMul", "MatMul", [x, self.read(f"{weight}/weight")],
                     transpose_b=True)
        return self.add(f"{scope}/BiasAdd", "BiasAdd", [y, self.read(f"{weight}/bias")])

    def layer_norm(self, scope: str, x: str, weight: str) -> str:
        axis = self.const(f"{scope}/axis", [-1], "int32")
        mean = self.add(f"{scope}/mean", "Mean", [x, axis], keep_dims=True)
        centered = self.add(f"{scope}/centered", "Sub", [x, mean])
        variance = self.add(f"{scope}/variance", "Mean",
                            [self.add(f"{scope}/square", "Square", [centered]), axis],
                            keep_dims=True)
        eps = self.const(f"{scope}/epsilon", 1e-12, "float32")
        scale = self.add(f"{scope}/rsqrt", "Rsqrt",
                         [self.add(f"{scope}/add_eps", "AddV2", [variance, eps])])
        normed = self.add(f"{scope}/normed", "Mul", [centered, scale])
        scaled = self.add(f"{scope}/scaled", "Mul", [normed, self.read(f"{weight}/weight")])
        return self.add(f"{scope}/output", "AddV2", [scaled, self.read(f"{weight}/bias")])


def bert_spec(layers: int, weights_file: str) -> dict[str, Any]:
    """The build spec: the weights renamed, one variable each, an encoder graph."""
    g = _Nodes()
    head = HIDDEN // HEADS
    ids = g.add("input_ids", "Placeholder", [], dtype="int32", shape=[None])
    types = g.add("token_type_ids", "Placeholder", [], dtype="int32", shape=[None])
    positions = g.add("position_ids", "Placeholder", [], dtype="int32", shape=[None])
    zero = g.const("embeddings/axis", 0, "int32")
    emb = g.add("embeddings/sum", "AddV2", [
        g.add("embeddings/add", "AddV2", [
            g.add("embeddings/word", "GatherV2",
                  [g.read("embeddings/word_embeddings/weight"), ids, zero]),
            g.add("embeddings/type", "GatherV2",
                  [g.read("embeddings/token_type_embeddings/weight"), types, zero])]),
        g.add("embeddings/position", "GatherV2",
              [g.read("embeddings/position_embeddings/weight"), positions, zero])])
    x = g.layer_norm("embeddings/LayerNorm", emb, "embeddings/LayerNorm")
    heads_shape = g.const("attention/heads_shape", [-1, HEADS, head], "int32")
    flat_shape = g.const("attention/flat_shape", [-1, HIDDEN], "int32")
    perm = g.const("attention/perm", [1, 0, 2], "int32")
    scale = g.const("attention/scale", 1.0 / head ** 0.5, "float32")
    half = g.const("gelu/half", 0.5, "float32")
    one = g.const("gelu/one", 1.0, "float32")
    inv_sqrt2 = g.const("gelu/inv_sqrt2", 2 ** -0.5, "float32")
    for i in range(layers):
        s = f"encoder/layer/{i}"

        q, k, v = (g.add(f"{s}/attention/{part}_heads", "Transpose", [
            g.add(f"{s}/attention/{part}_split", "Reshape", [
                g.dense(f"{s}/attention/self/{part}", x, f"{s}/attention/self/{part}"),
                heads_shape]), perm]) for part in ("query", "key", "value"))
        scores = g.add(f"{s}/attention/scores", "Mul", [
            g.add(f"{s}/attention/qk", "BatchMatMulV2", [q, k], adj_y=True), scale])
        probs = g.add(f"{s}/attention/probs", "Softmax", [scores])
        context = g.add(f"{s}/attention/context", "Reshape", [
            g.add(f"{s}/attention/context_heads", "Transpose", [
                g.add(f"{s}/attention/pv", "BatchMatMulV2", [probs, v]), perm]), flat_shape])
        attended = g.dense(f"{s}/attention/output/dense", context,
                           f"{s}/attention/output/dense")
        x = g.layer_norm(f"{s}/attention/output/LayerNorm",
                         g.add(f"{s}/attention/residual", "AddV2", [attended, x]),
                         f"{s}/attention/output/LayerNorm")
        inner = g.dense(f"{s}/intermediate/dense", x, f"{s}/intermediate/dense")
        erf = g.add(f"{s}/intermediate/erf", "Erf",
                    [g.add(f"{s}/intermediate/scaled", "Mul", [inner, inv_sqrt2])])
        gelu = g.add(f"{s}/intermediate/gelu", "Mul", [
            g.add(f"{s}/intermediate/half_x", "Mul", [inner, half]),
            g.add(f"{s}/intermediate/one_plus", "AddV2", [erf, one])])
        out = g.dense(f"{s}/output/dense", gelu, f"{s}/output/dense")
        x = g.layer_norm(f"{s}/output/LayerNorm",
                         g.add(f"{s}/output/residual", "AddV2", [out, x]),
                         f"{s}/output/LayerNorm")
    sequence = g.add("sequence_output", "Identity", [x])
    first = g.add("pooler/first", "GatherV2", [x, g.const("pooler/index", [0], "int32"), zero])
    pooled = g.add("pooled_output", "Reshape", [
        g.add("pooler/tanh", "Tanh", [g.dense("pooler/dense", first, "pooler/dense")]),
        g.const("pooler/shape", [HIDDEN], "int32")])
    variables = [name.replace(".", "/") for name in tensor_shapes(layers)]
    return {
        "description": f"BERT-base-size encoder ({layers} layers) from Hugging Face weights",
        "tags": ["serve"],
        "weights": {"files": [weights_file],
                    "map": [{"match": "\\.", "to": "/"}],
                    "strict": True},
        "variables": variables,
        "graph": {"node": g.nodes},
        "signatures": {"serving_default": {
            "method": "predict",
            "inputs": {"input_ids": f"{ids}:0", "token_type_ids": f"{types}:0",
                       "position_ids": f"{positions}:0"},
            "outputs": {"sequence_output": f"{sequence}:0", "pooled_output": f"{pooled}:0"}}},
    }


def make_bert_inputs(directory: Path, layers: int) -> tuple[Path, Path, int]:
    """Write ``bert.safetensors`` and ``bert-spec.json`` into ``directory``; return their
    paths and the tensors' byte count."""
    import numpy as np

    from pysavedmodel.weights import save_weights

    rng = np.random.default_rng(0)
    arrays = {name: (rng.standard_normal(shape, dtype=np.float32) * 0.02)
              for name, shape in tensor_shapes(layers).items()}
    weights = directory / "bert.safetensors"
    save_weights(weights, arrays)
    spec = directory / "bert-spec.json"
    spec.write_text(json.dumps(bert_spec(layers, weights.name)), encoding="utf-8")
    return weights, spec, sum(a.nbytes for a in arrays.values())


def plain_write(weights: str, out: str) -> float:
    """Seconds to write the tensors' bytes (read first, untimed) to ``out`` and fsync."""
    from pysavedmodel.weights import load_weights

    arrays = list(load_weights(weights).values())
    start = time.perf_counter()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for array in arrays:
            view = memoryview(array).cast("B")
            done = 0
            while done < len(view):
                done += os.write(fd, view[done:])
        os.fsync(fd)
    finally:
        os.close(fd)
    return time.perf_counter() - start


def build_in_process(spec: str, out: str, num_shards: int | None = None) -> dict[str, float]:
    """``build_from_spec`` (durable) timed in a process that imported pysavedmodel first."""
    from pysavedmodel.spec import build_from_spec

    start = time.perf_counter()
    build_from_spec(spec, out, num_shards=num_shards)
    return {"build": time.perf_counter() - start}
