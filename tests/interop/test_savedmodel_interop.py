"""SavedModels built by pysavedmodel load and serve in every TensorFlow loader.

Models are built with the public API: an MLP, a small CNN, an asset-backed
string lookup table initialized by the init op, a model with a second meta graph
under other tags, a model whose device strings are cleared, and a counter that
the init op increments, which shows each loader runs the init op exactly once and
takes a scalar input (also with a decoy collection).  Builder options each get a
model too: ``save(as_text=True)`` (the MLP as saved_model.pbtxt),
``strip_default_attrs=True``, a graph given as NodeDef dicts and one as
serialized GraphDef bytes (values from ``variables=``), and a ``train_op`` under
tags ["train"].  One TensorFlow subprocess (``tf_scripts/check_savedmodels.py``)
then, for every model and every meta graph:

* loads it with the C++ loader through the C API (``TF_LoadSessionFromSavedModel``,
  the TF Serving code path) and runs every signature with ``TF_SessionRun``;
* loads it with ``tf.compat.v1.saved_model.load`` and with ``tf.saved_model.load``
  and runs every signature;
* for the train-op model (C API and tf.compat.v1), runs the op named by signature
  ``__saved_model_train_op`` once and the signatures again;
* imports the meta graph alone, restores through the SaverDef's restore op, saves
  through its save tensor to a new prefix, and reads both checkpoints back;
* converts the MLP with ``tf.lite.TFLiteConverter.from_saved_model`` and runs it;
* runs ``saved_model_cli show --all`` (models in CLI_MODELS).

Every output is compared with a numpy reference computed here.  The TF-written
fixture ``savedmodel_v1_builder`` goes through the same harness as a control, so
a failure on our models is a defect in what we write, not in the harness.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from google.protobuf import text_format

import pysavedmodel
from pysavedmodel._proto import saved_model_pb2
from pysavedmodel._proto._pool import POOL
from pysavedmodel.weights import tf2_plain_names
from tests.interop.savedmodel_harness import (
    LOADERS,
    Arrays,
    assert_outputs,
    built,
    init_op_signature_keys,
    ok,
    run_harness,
)
from tests.support.arrays_json import decode, encode
from tests.support.bundle_files import manifest_value
from tests.support.tf import FIXTURES

SERVE = ("serve",)
OTHER_TAGS = ("bar-tag", "baz-tag")



# --------------------------------------------------------------------------- numpy references
def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0)


def conv2d_same(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """NHWC convolution, stride 1, SAME padding, odd square kernel."""
    k = kernel.shape[0]
    pad = k // 2
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    n, h, w, _ = x.shape
    out = np.zeros((n, h, w, kernel.shape[3]))
    for di in range(k):
        for dj in range(k):
            out += np.einsum("nhwc,cd->nhwd", xp[:, di:di + h, dj:dj + w, :], kernel[di, dj])
    return out


def max_pool_2x2(x: np.ndarray) -> np.ndarray:
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


# --------------------------------------------------------------------------- model cases
@dataclass
class MetaGraphCase:
    tags: tuple[str, ...]
    inputs: dict[str, Arrays]                      # signature key -> feeds
    expected: dict[str, Arrays]                    # signature key -> outputs
    resave_signatures: list[str] | None = None     # runnable without the init op
    after_train: dict[str, Arrays] | None = None   # signature key -> outputs after 1 train step


@dataclass
class ModelCase:
    name: str
    export_dir: Path
    meta_graphs: list[MetaGraphCase]
    variables: Arrays = field(default_factory=dict)   # checkpoint key -> value we saved
    tflite: bool = False
    source: pysavedmodel.Graph | None = None          # the graph given to the builder

    def spec(self) -> dict[str, Any]:
        graphs = []
        for mg in self.meta_graphs:
            entry: dict[str, Any] = {
                "tags": list(mg.tags),
                "signatures": {k: {n: encode(v) for n, v in feeds.items()}
                               for k, feeds in mg.inputs.items()}}
            if mg.resave_signatures is not None:
                entry["resave_signatures"] = mg.resave_signatures
            if mg.after_train is not None:
                entry["train"] = {"signatures": sorted(mg.after_train)}
            graphs.append(entry)
        tflite = None
        if self.tflite:
            first = self.meta_graphs[0]
            tflite = {"tags": list(first.tags), "signature": "serving_default",
                      "inputs": {n: encode(v) for n, v in first.inputs["serving_default"].items()}}
        return {"name": self.name, "dir": str(self.export_dir), "meta_graphs": graphs,
                "tflite": tflite, "cli": self.name in CLI_MODELS}


RNG = np.random.default_rng(20261125)


def f32(*shape: int, scale: float = 1.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def build_mlp(export_dir: Path, *, as_text: bool = False) -> ModelCase:
    """``as_text``: written as saved_model.pbtxt (``save(as_text=True)``)."""
    w1, b1, w2, b2 = f32(4, 8), f32(8, scale=0.1), f32(8, 3), f32(3, scale=0.1)
    g = pysavedmodel.Graph()
    x = g.placeholder("x", "float32", (None, 4))
    h = g.op("MatMul", [x, g.variable("dense/kernel", w1)])
    h = g.op("BiasAdd", [h, g.variable("dense/bias", b1)])
    h = g.op("Relu", [h])
    logits = g.op("MatMul", [h, g.variable("dense_1/kernel", w2)])
    logits = g.op("BiasAdd", [logits, g.variable("dense_1/bias", b2)], name="logits")
    probs = g.op("Softmax", [logits], name="probs")
    builder = pysavedmodel.SavedModelBuilder(export_dir)
    builder.add_meta_graph_and_variables(g, list(SERVE), signature_def_map={
        "serving_default": pysavedmodel.predict_signature_def(
            {"x": x}, {"probs": probs, "logits": logits})})
    path = builder.save(as_text=as_text)
    assert path.name == ("saved_model.pbtxt" if as_text else "saved_model.pb")

    xs = f32(5, 4)
    ref_logits = relu(xs.astype(np.float64) @ w1 + b1) @ w2 + b2
    return ModelCase("mlp_pbtxt" if as_text else "mlp", export_dir, [MetaGraphCase(
        SERVE, {"serving_default": {"x": xs}},
        {"serving_default": {"logits": ref_logits, "probs": softmax(ref_logits)}})],
        variables={"dense/kernel": w1, "dense/bias": b1, "dense_1/kernel": w2, "dense_1/bias": b2},
        tflite=not as_text)


def build_cnn(export_dir: Path) -> ModelCase:
    kernel, bias, dense = f32(3, 3, 1, 4), f32(4, scale=0.1), f32(64, 2)
    g = pysavedmodel.Graph()
    x = g.placeholder("images", "float32", (None, 8, 8, 1))
    h = g.op("Conv2D", [x, g.variable("conv/kernel", kernel)], strides=[1, 1, 1, 1], padding="SAME")
    h = g.op("BiasAdd", [h, g.variable("conv/bias", bias)])
    h = g.op("Relu", [h])
    h = g.op("MaxPool", [h], ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="VALID")
    h = g.op("Reshape", [h, g.constant(np.array([-1, 64], np.int32), name="flat_shape")])
    logits = g.op("MatMul", [h, g.variable("dense/kernel", dense)], name="logits")
    builder = pysavedmodel.SavedModelBuilder(export_dir)
    builder.add_meta_graph_and_variables(g, list(SERVE), signature_def_map={
        "serving_default": pysavedmodel.predict_signature_def({"images": x}, {"logits": logits})})
    builder.save()

    images = f32(3, 8, 8, 1)
    h_ref = max_pool_2x2(relu(conv2d_same(images.astype(np.float64), kernel) + bias))
    return ModelCase("cnn", export_dir, [MetaGraphCase(
        SERVE, {"serving_default": {"images": images}},
        {"serving_default": {"logits": h_ref.reshape(-1, 64) @ dense}})],
        variables={"conv/kernel": kernel, "conv/bias": bias, "dense/kernel": dense})


VOCAB = ["the", "quick", "brown", "fox", "ünïcödé", "jumps"]


def build_lookup(export_dir: Path, scratch: Path) -> ModelCase:
    vocab_src = scratch / "vocab.txt"
    vocab_src.write_bytes("".join(w + "\n" for w in VOCAB).encode())
    g = pysavedmodel.Graph()
    words = g.placeholder("words", "string", (None,))
    vocab = g.asset(str(vocab_src), name="vocab_path")
    table = g.op("HashTableV2", [], name="hash_table", key_dtype="string", value_dtype="int64",
                 shared_name="hash_table_vocab_-2_-1", use_node_name_sharing=False, container="")
    init = g.op("InitializeTableFromTextFileV2", [table, vocab], name="text_file_init",
                key_index=-2, value_index=-1, vocab_size=-1, delimiter="\t")
    ids = g.op("LookupTableFindV2", [table, words, g.constant(np.int64(-1), name="default_id")],
               name="ids")
    tagged = g.op("StringJoin", [[words, g.constant(b"!", name="bang")]], name="tagged",
                  separator="")
    init_op = g.group([init], name="init_all_tables")
    builder = pysavedmodel.SavedModelBuilder(export_dir)
    builder.add_meta_graph_and_variables(g, list(SERVE), init_op=init_op, signature_def_map={
        "serving_default": pysavedmodel.predict_signature_def(
            {"words": words}, {"ids": ids, "tagged": tagged})})
    builder.save()
    # The loaders must read the copy in EXPORT/assets, not the source path.
    vocab_src.unlink()

    query = np.array([b"fox", b"kiwi", "ünïcödé".encode(), b"the", b"", b"jumps", b"Fox"],
                     dtype=object)
    index = {w.encode(): i for i, w in enumerate(VOCAB)}
    return ModelCase("lookup", export_dir, [MetaGraphCase(
        SERVE, {"serving_default": {"words": query}},
        {"serving_default": {"ids": np.array([index.get(w, -1) for w in query], np.int64),
                             "tagged": np.array([w + b"!" for w in query], dtype=object)}},
        resave_signatures=[])])


def tf_example(features: dict[str, np.ndarray]) -> bytes:
    """A serialized ``tf.Example`` with float features, encoded by hand.

    Example.features (1) -> Features.feature (1, map entry: key 1, value 2) ->
    Feature.float_list (2) -> FloatList.value (1, packed little-endian floats).
    """
    def field(number: int, payload: bytes) -> bytes:  # length-delimited, wire type 2
        return bytes([number << 3 | 2]) + varint(len(payload)) + payload

    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            out.append(n & 0x7F | (0x80 if n > 0x7F else 0))
            n >>= 7
            if not n:
                return bytes(out)

    def float_feature(values: np.ndarray) -> bytes:
        return field(2, field(1, values.astype("<f4").tobytes()))

    entries = b"".join(field(1, field(1, key.encode()) + field(2, float_feature(values)))
                       for key, values in features.items())
    return field(1, entries)


def build_two_meta_graphs(export_dir: Path) -> ModelCase:
    """Meta graph "serve": a predict, a regress and a classify signature (tf.Example input);
    meta graph ("bar-tag", "baz-tag"): another signature over the same variables."""
    w, b = f32(3, 2), f32(2, scale=0.1)
    g = pysavedmodel.Graph()
    x = g.placeholder("x", "float32", (None, 3))
    w_read, b_read = g.variable("linear/w", w), g.variable("linear/b", b)
    logits = g.op("Add", [g.op("MatMul", [x, w_read]), b_read], name="logits")
    scores = g.op("Sigmoid", [logits], name="scores")

    examples = g.placeholder("tf_example", "string", (None,))
    no_keys = g.constant(np.array([], dtype=object), name="no_keys", dtype="string")
    with g.name_scope("parse"):
        parsed = g.op("ParseExampleV2", [
            examples, no_keys, no_keys,
            g.constant(np.array([b"x"], dtype=object), name="dense_keys"), no_keys,
            [g.constant(np.zeros((0,), np.float32), name="x_default")]],
            name="ParseExampleV2", Tdense=["float32"], num_sparse=0, sparse_types=[],
            ragged_value_types=[], ragged_split_types=[], dense_shapes=[[3]])
    regress_logits = g.op("Add", [g.op("MatMul", [parsed, w_read]), b_read])
    prediction = g.op("Sum", [regress_logits, g.constant(np.int32(1), name="sum_axis")],
                      name="prediction")
    class_scores = g.op("Softmax", [regress_logits], name="class_scores")

    builder = pysavedmodel.SavedModelBuilder(export_dir)
    builder.add_meta_graph_and_variables(g, list(SERVE), signature_def_map={
        "serving_default": pysavedmodel.predict_signature_def({"x": x}, {"scores": scores}),
        "regress": pysavedmodel.regression_signature_def(examples, prediction),
        "classify": pysavedmodel.classification_signature_def(examples, None, class_scores)})
    builder.add_meta_graph(list(OTHER_TAGS), signature_def_map={
        "raw_logits": pysavedmodel.predict_signature_def({"features": x}, {"logits": logits})})
    builder.save()

    xs = f32(4, 3)
    ref = xs.astype(np.float64) @ w + b
    serialized = np.array([tf_example({"x": row}) for row in xs], dtype=object)
    return ModelCase("two_meta_graphs", export_dir, [
        MetaGraphCase(SERVE, {"serving_default": {"x": xs}, "regress": {"inputs": serialized},
                              "classify": {"inputs": serialized}},
                      {"serving_default": {"scores": 1 / (1 + np.exp(-ref))},
                       "regress": {"outputs": ref.sum(axis=1)},
                       "classify": {"scores": softmax(ref)}}),
        MetaGraphCase(OTHER_TAGS, {"raw_logits": {"features": xs}},
                      {"raw_logits": {"logits": ref}}),
    ], variables={"linear/w": w, "linear/b": b})


COUNTER_START = 10


DECOY_STEP = 100


def build_counter(export_dir: Path, *, decoy: bool = False) -> ModelCase:
    """An init op that adds 1 to a checkpointed counter: every loader must run it exactly
    once per load (signature ``__saved_model_init_op`` and collection
    ``saved_model_main_op`` both name it; running both would count 2).

    ``decoy``: the collection is rewritten after saving to name another op, which adds
    DECOY_STEP; a loader reading the collection instead of (or besides) the signature
    would count that too."""
    g = pysavedmodel.Graph()
    g.variable("counter", np.int64(COUNTER_START), trainable=False)
    bump = g.op("AssignAddVariableOp", ["counter", np.int64(1)], name="bump")
    init_op = g.group([bump], name="init_once")
    g.group([g.op("AssignAddVariableOp", ["counter", np.int64(DECOY_STEP)], name="bump_decoy")],
            name="decoy_init")
    x = g.placeholder("x", "int64", (None,))
    # A scalar (shape []) input: the C API harness must feed it as 0-d, not as shape [1].
    offset = g.placeholder("offset", "int64", ())
    count = g.op("ReadVariableOp", ["counter"], dtype="int64", name="count")
    total = g.op("AddV2", [x, count], name="total")
    shifted = g.op("AddV2", [count, offset], name="shifted")
    signatures = {"serving_default": pysavedmodel.predict_signature_def(
        {"x": x, "offset": offset}, {"count": count, "total": total, "shifted": shifted})}
    builder = pysavedmodel.SavedModelBuilder(export_dir)
    builder.add_meta_graph_and_variables(g, list(SERVE), init_op=init_op,
                                         signature_def_map=signatures)
    # Inherits the init op from the first meta graph.
    builder.add_meta_graph(list(OTHER_TAGS), signature_def_map=signatures)
    path = builder.save()
    if decoy:
        saved = saved_model_pb2.SavedModel.FromString(path.read_bytes())
        for meta in saved.meta_graphs:
            assert list(meta.collection_def["saved_model_main_op"].node_list.value) == \
                ["init_once"]
            meta.collection_def["saved_model_main_op"].node_list.value[:] = ["decoy_init"]
        path.write_bytes(saved.SerializeToString(deterministic=True))

    xs = np.array([1, 2, 3], np.int64)
    step = np.array(5, np.int64)
    once = COUNTER_START + 1
    expected = {"serving_default": {"count": np.array(once, np.int64), "total": xs + once,
                                    "shifted": np.array(once + 5, np.int64)}}
    # Restoring through the SaverDef alone does not run the init op: nothing to compare.
    return ModelCase("counter_decoy" if decoy else "counter", export_dir, [
        MetaGraphCase(tags, {"serving_default": {"x": xs, "offset": step}}, expected,
                      resave_signatures=[])
        for tags in (SERVE, OTHER_TAGS)],
        variables={"counter": np.array(COUNTER_START, np.int64)})


# Devices no local CPU-only session can place: loading fails unless they are cleared.
UNPLACEABLE = {"matmul": "/device:GPU:0", "add": "/job:worker/replica:0/task:3/device:CPU:0"}


def build_clear_devices(export_dir: Path) -> ModelCase:
    w, b = f32(2, 2), f32(2)
    g = pysavedmodel.Graph()
    x = g.placeholder("x", "float32", (None, 2))
    h = g.op("MatMul", [x, g.variable("w", w)], name="matmul", device=UNPLACEABLE["matmul"])
    h = g.op("AddV2", [h, g.variable("b", b)], name="add", device=UNPLACEABLE["add"])
    y = g.op("Tanh", [h], name="y")
    assert {n: g.node(n).device for n in UNPLACEABLE} == UNPLACEABLE
    builder = pysavedmodel.SavedModelBuilder(export_dir)
    builder.add_meta_graph_and_variables(g, list(SERVE), clear_devices=True, signature_def_map={
        "serving_default": pysavedmodel.predict_signature_def({"x": x}, {"y": y})})
    builder.save()

    xs = f32(3, 2)
    return ModelCase("clear_devices", export_dir, [MetaGraphCase(
        SERVE, {"serving_default": {"x": xs}},
        {"serving_default": {"y": np.tanh(xs.astype(np.float64) @ w + b)}})],
        variables={"w": w, "b": b})


# Attrs Graph.op fills with their registered defaults; strip_default_attrs must drop them.
STRIPPED_DEFAULTS = {
    "conv": ["data_format", "dilations", "explicit_paddings", "use_cudnn_on_gpu"],
    "conv_bias": ["data_format"],
    "logits": ["transpose_a", "grad_a", "grad_b"],
    "conv/kernel": ["container", "allowed_devices"],
}
# Attrs with non-default values on the same nodes, which must stay.
KEPT_ATTRS = {"conv": ["padding", "strides", "T"], "logits": ["transpose_b", "T"],
              "conv/kernel": ["shared_name", "debug_name", "dtype", "shape"]}


def build_stripped_defaults(export_dir: Path) -> ModelCase:
    """A Conv2D/BiasAdd/MatMul model exported with ``strip_default_attrs=True``; the
    MatMul's ``transpose_b=True`` is not a default and must survive."""
    kernel, bias, dense = f32(3, 3, 2, 3), f32(3, scale=0.1), f32(5, 48)
    g = pysavedmodel.Graph()
    x = g.placeholder("images", "float32", (None, 4, 4, 2))
    h = g.op("Conv2D", [x, g.variable("conv/kernel", kernel)], name="conv",
             strides=[1, 1, 1, 1], padding="SAME")
    h = g.op("Relu", [g.op("BiasAdd", [h, g.variable("conv/bias", bias)], name="conv_bias")])
    h = g.op("Reshape", [h, g.constant(np.array([-1, 48], np.int32), name="flat_shape")])
    logits = g.op("MatMul", [h, g.variable("dense/kernel", dense)], name="logits",
                  transpose_b=True)
    # TF1-style: the test compares the saved GraphDef's nodes with the source graph's.
    builder = pysavedmodel.SavedModelBuilder(export_dir, format="tf1")
    builder.add_meta_graph_and_variables(g, list(SERVE), strip_default_attrs=True,
                                         signature_def_map={
        "serving_default": pysavedmodel.predict_signature_def({"images": x}, {"logits": logits})})
    builder.save()

    images = f32(2, 4, 4, 2)
    h_ref = relu(conv2d_same(images.astype(np.float64), kernel) + bias).reshape(-1, 48)
    return ModelCase("stripped_defaults", export_dir, [MetaGraphCase(
        SERVE, {"serving_default": {"images": images}},
        {"serving_default": {"logits": h_ref @ dense.T}})],
        variables={"conv/kernel": kernel, "conv/bias": bias, "dense/kernel": dense}, source=g)


def build_from_dicts(export_dir: Path) -> ModelCase:
    """A graph given as NodeDef-shaped dicts, consumers listed before their inputs:
    VarHandleOps without values (they come from ``variables=``), ``shared_name`` "bias"
    unlike the node name (the checkpoint key), and no attr that inputs tell (``T``,
    ReadVariableOp's ``dtype``, the Const's ``dtype``)."""
    w, b = f32(3, 2), f32(2, scale=0.1)
    g = pysavedmodel.Graph.from_dict({"node": [
        {"name": "y", "op": "Mul", "input": ["logits", "scale"]},
        {"name": "logits", "op": "AddV2", "input": ["matmul", "layer/b/read"]},
        {"name": "matmul", "op": "MatMul", "input": ["x", "layer/w/read"]},
        {"name": "layer/w/read", "op": "ReadVariableOp", "input": ["layer/w"]},
        {"name": "layer/b/read", "op": "ReadVariableOp", "input": ["layer/b"]},
        {"name": "x", "op": "Placeholder", "attr": {"dtype": "float32", "shape": [None, 3]}},
        {"name": "layer/w", "op": "VarHandleOp",
         "attr": {"dtype": "float32", "shape": [3, 2], "shared_name": "layer/w"}},
        {"name": "layer/b", "op": "VarHandleOp",
         "attr": {"dtype": "float32", "shape": [2], "shared_name": "bias"}},
        {"name": "scale", "op": "Const", "attr": {"value": np.float32(0.5)}},
    ]})
    assert [(v.node_name, v.value) for v in g.variables] == [("layer/w", None), ("layer/b", None)]
    builder = pysavedmodel.SavedModelBuilder(export_dir)
    builder.add_meta_graph_and_variables(
        g, list(SERVE), variables={"layer/w": w, "layer/b": b},
        signature_def_map={"serving_default": {"inputs": {"x": "x:0"}, "outputs": {"y": "y"}}})
    builder.save()

    xs = f32(4, 3)
    return ModelCase("from_dicts", export_dir, [MetaGraphCase(
        SERVE, {"serving_default": {"x": xs}},
        {"serving_default": {"y": (xs.astype(np.float64) @ w + b) * 0.5}})],
        variables={"layer/w": w, "bias": b})


def build_from_graph_def_bytes(export_dir: Path) -> ModelCase:
    """A serialized GraphDef made elsewhere (here: by our Graph), re-imported with
    ``Graph.from_dict(bytes)``; its variable values are lost with the bytes and come
    from ``variables=``."""
    w = f32(3, 4)
    source = pysavedmodel.Graph()
    x = source.placeholder("x", "float32", (None, 3))
    h = source.op("Tanh", [source.op("MatMul", [x, source.variable("embed/w", w)])], name="h")
    source.op("Sum", [h, source.constant(np.int32(1), name="axis")], name="total")
    g = pysavedmodel.Graph.from_dict(source.as_graph_def().SerializeToString())
    assert [(v.node_name, v.value) for v in g.variables] == [("embed/w", None)]
    builder = pysavedmodel.SavedModelBuilder(export_dir)
    builder.add_meta_graph_and_variables(g, list(SERVE), variables={"embed/w": w},
                                         signature_def_map={
        "serving_default": pysavedmodel.predict_signature_def(
            {"x": "x:0"}, {"h": "h:0", "total": "total:0"})})
    builder.save()

    xs = f32(3, 3)
    h_ref = np.tanh(xs.astype(np.float64) @ w)
    return ModelCase("from_graph_def_bytes", export_dir, [MetaGraphCase(
        SERVE, {"serving_default": {"x": xs}},
        {"serving_default": {"h": h_ref, "total": h_ref.sum(axis=1)}})],
        variables={"embed/w": w})


TRAIN = ("train",)


def build_train_op(export_dir: Path) -> ModelCase:
    """Tags ["train"]; the train op (a NoOp grouping ``weights -= delta``) is recorded in
    signature ``__saved_model_train_op``.  The loaders run the predict signature, then
    (C API and tf.compat.v1) the train op once by that signature's name, then the
    predict signature again."""
    w0, delta = f32(3), f32(3, scale=0.5)
    g = pysavedmodel.Graph()
    g.variable("weights", w0)
    step = g.op("AssignSubVariableOp", ["weights", g.constant(delta, name="delta")],
                name="apply_delta")
    train_op = g.group([step], name="train_step")
    x = g.placeholder("x", "float32", (None, 3))
    current = g.op("ReadVariableOp", ["weights"], dtype="float32", name="current")
    y = g.op("Mul", [x, current], name="y")
    builder = pysavedmodel.SavedModelBuilder(export_dir)
    builder.add_meta_graph_and_variables(g, list(TRAIN), train_op=train_op, signature_def_map={
        "predict": pysavedmodel.predict_signature_def({"x": x}, {"weights": current, "y": y})})
    builder.save()

    xs = f32(2, 3)
    trained = w0.astype(np.float64) - delta
    return ModelCase("train_op", export_dir, [MetaGraphCase(
        TRAIN, {"predict": {"x": xs}}, {"predict": {"weights": w0, "y": xs * w0}},
        after_train={"predict": {"weights": trained, "y": xs * trained}})],
        variables={"weights": w0})


def tf_fixture_control() -> ModelCase:
    """The TF-written fixture, fed its manifest's example; references computed here
    from its manifest's variables and its vocabulary file."""
    export_dir = FIXTURES / "savedmodel_v1_builder"
    manifest = json.loads((FIXTURES / "savedmodel_v1_builder.manifest.json").read_text())
    variables = {k: manifest_value(v) for k, v in manifest["variables"].items()}
    xs = manifest_value(manifest["example"]["inputs"]["x"])
    logits = xs.astype(np.float64) @ variables["dense/kernel"] + variables["dense/bias"]
    dense = {"logits": logits, "probs": softmax(logits)}
    vocab = (export_dir / "assets" / "vocab.txt").read_bytes().splitlines()
    words = np.array([w.encode() for w in manifest["example"]["lookup"]["inputs"]["words"]]
                     + [b"cherry", b"apple"], dtype=object)
    ids = np.array([vocab.index(w) if w in vocab else -1 for w in words], np.int64)
    return ModelCase("tf_fixture_control", export_dir, [
        MetaGraphCase(SERVE, {"serving_default": {"x": xs}, "lookup": {"words": words}},
                      {"serving_default": dense, "lookup": {"ids": ids}},
                      resave_signatures=["serving_default"]),
        MetaGraphCase(OTHER_TAGS, {"serving_default": {"x": xs}}, {"serving_default": dense}),
    ], variables=variables, tflite=True)


BUILDERS: dict[str, Callable[[Path, Path], ModelCase]] = {
    "mlp": lambda d, s: build_mlp(d),
    "cnn": lambda d, s: build_cnn(d),
    "lookup": build_lookup,
    "two_meta_graphs": lambda d, s: build_two_meta_graphs(d),
    "clear_devices": lambda d, s: build_clear_devices(d),
    "counter": lambda d, s: build_counter(d),
    "counter_decoy": lambda d, s: build_counter(d, decoy=True),
    "mlp_pbtxt": lambda d, s: build_mlp(d, as_text=True),
    "stripped_defaults": lambda d, s: build_stripped_defaults(d),
    "from_dicts": lambda d, s: build_from_dicts(d),
    "from_graph_def_bytes": lambda d, s: build_from_graph_def_bytes(d),
    "train_op": lambda d, s: build_train_op(d),
}
MODELS = [*BUILDERS, "tf_fixture_control"]
# saved_model_cli costs a TensorFlow start-up per model (one process each); models that only
# vary a builder option the CLI does not see (it reads the same SavedModel proto) skip it.
CLI_MODELS = [m for m in MODELS
              if m not in ("stripped_defaults", "from_dicts", "from_graph_def_bytes", "train_op")]


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModelCase | str]:
    """Each model built once; a model whose build raised maps to the traceback text,
    so the other models are still checked."""
    root = tmp_path_factory.mktemp("savedmodels")
    out: dict[str, ModelCase | str] = {}
    for name, build in BUILDERS.items():
        scratch = root / f"{name}-src"
        scratch.mkdir()
        try:
            out[name] = build(root / name, scratch)
        except Exception:
            out[name] = traceback.format_exc()
    out["tf_fixture_control"] = tf_fixture_control()
    return out


@pytest.fixture(scope="module")
def tf_results(cases: dict[str, ModelCase | str],
               tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every loader's report for every built model, from one TensorFlow subprocess."""
    return run_harness([c.spec() for c in cases.values() if isinstance(c, ModelCase)],
                       tmp_path_factory.mktemp("tf_work"))


# --------------------------------------------------------------------------- tests
@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("model", MODELS)
def test_every_signature_runs_in_loader(model: str, loader: str, cases: dict[str, ModelCase | str],
                                        tf_results: dict[str, Any]) -> None:
    case = built(cases, model)
    for mg in case.meta_graphs:
        tags = ",".join(mg.tags)
        what = f"{model} [{tags}] via {loader}"
        result = ok(tf_results[model][loader][tags], what)
        # Reserved keys (__saved_model_init_op...) point at ops; they are not servable.
        servable = [k for k in result["signature_keys"] if not k.startswith("__saved_model_")]
        assert servable == sorted(mg.expected), f"{what}: signature keys"
        for key, expected in mg.expected.items():
            assert_outputs(result["outputs"][key], expected, f"{what} signature {key!r}")


def test_capi_harness_reproduces_tensorflow_recorded_outputs(tf_results: dict[str, Any]) -> None:
    """The ctypes C API path gives what TF itself recorded for the fixture's example."""
    manifest = json.loads((FIXTURES / "savedmodel_v1_builder.manifest.json").read_text())
    want = manifest_value(manifest["example"]["outputs"]["probs"])
    result = ok(tf_results["tf_fixture_control"]["capi"]["serve"], "fixture via capi")
    got = decode(result["outputs"]["serving_default"]["probs"])
    np.testing.assert_allclose(got, want, rtol=1e-6)
    lookup = manifest["example"]["lookup"]
    got_ids = decode(result["outputs"]["lookup"]["ids"]).tolist()
    assert got_ids[:len(lookup["outputs"]["ids"])] == lookup["outputs"]["ids"]


@pytest.mark.parametrize("model", ["counter", "counter_decoy", "lookup", "tf_fixture_control"])
def test_init_op_signature_is_what_the_loaders_see(
        model: str, cases: dict[str, ModelCase | str], tf_results: dict[str, Any]) -> None:
    """Our init op is in signature ``__saved_model_init_op`` (and collection
    ``saved_model_main_op``); TF's v1 builder wrote the collection only.  Every loader
    lists the signature: the C API and tf.compat.v1 loaders hand back the MetaGraphDef,
    and tf.saved_model.load (TF 2.21) turns every SignatureDef of a v1 model, this one
    included, into an entry of ``.signatures``.  That the init op ran exactly once is
    the counter's value, checked by test_every_signature_runs_in_loader
    (COUNTER_START + 1, not + 2); with counter_decoy (collection naming another op) the
    same value shows every loader takes the signature over the collection."""
    case = built(cases, model)
    for mg in case.meta_graphs:
        tags = ",".join(mg.tags)
        for loader in LOADERS:
            extra = [] if model == "tf_fixture_control" else init_op_signature_keys(
                case.export_dir, loader)
            keys = ok(tf_results[model][loader][tags], f"{model} via {loader}")["signature_keys"]
            assert keys == sorted([*mg.expected, *extra]), (loader, tags)


@pytest.mark.parametrize("loader", ["capi", "v1"])
def test_clear_devices_leaves_no_device_strings(loader: str, cases: dict[str, ModelCase | str],
                                                tf_results: dict[str, Any]) -> None:
    """The graph had unplaceable devices (see UNPLACEABLE); none reach the loaders.
    That the model also runs is checked by test_every_signature_runs_in_loader."""
    built(cases, "clear_devices")
    result = ok(tf_results["clear_devices"][loader]["serve"], f"clear_devices via {loader}")
    assert result["devices"] == []


@pytest.mark.parametrize("model", MODELS)
def test_restore_and_resave_through_saver_def(model: str, cases: dict[str, ModelCase | str],
                                              tf_results: dict[str, Any]) -> None:
    case = built(cases, model)
    for mg in case.meta_graphs:
        tags = ",".join(mg.tags)
        what = f"{model} [{tags}] SaverDef restore/save"
        result = ok(tf_results[model]["resave"][tags], what)
        if not case.variables and not result["saver_def"]:
            continue  # nothing to restore (the loaders were shown not to need a SaverDef)
        assert result["saver_def"], f"{what}: meta graph has no SaverDef"
        # Restoring through restore_op_name alone (no loader) gives working variables.
        keys = mg.expected if mg.resave_signatures is None else mg.resave_signatures
        for key in keys:
            assert_outputs(result["outputs"][key], mg.expected[key], f"{what} signature {key!r}")
        # TF reads back exactly the values we wrote, under the variables' names (a TF2
        # export's object paths: dense/kernel/.ATTRIBUTES/VARIABLE_VALUE is dense/kernel).
        ours = tf2_plain_names({k: decode(v) for k, v in result["ours"].items()})
        assert sorted(ours) == sorted(case.variables), what
        for name, value in case.variables.items():
            assert ours[name].dtype == value.dtype and ours[name].tobytes() == value.tobytes(), name
        # Saving through save_tensor_name reproduces our checkpoint: values and bytes.
        assert result["resaved"] == result["ours"], f"{what}: re-saved values differ"
        assert result["resaved_files"] == ["variables.data-00000-of-00001", "variables.index"]
        assert result["files_equal"] == {"variables.data-00000-of-00001": True,
                                         "variables.index": True}, f"{what}: bytes differ"


@pytest.mark.parametrize("model", ["mlp", "tf_fixture_control"])
def test_tflite_converts_and_runs(model: str, cases: dict[str, ModelCase | str],
                                  tf_results: dict[str, Any]) -> None:
    case = built(cases, model)
    result = ok(tf_results[model].get("tflite"), f"{model} TFLite")
    assert result["size"] > 0
    assert_outputs(result["outputs"], case.meta_graphs[0].expected["serving_default"],
                   f"{model} TFLite")


@pytest.mark.parametrize("model", CLI_MODELS)
def test_saved_model_cli_show_all(model: str, cases: dict[str, ModelCase | str],
                                  tf_results: dict[str, Any]) -> None:
    case = built(cases, model)
    result = ok(tf_results[model]["cli"], f"{model} saved_model_cli")
    assert result["returncode"] == 0, result["stderr"]
    for mg in case.meta_graphs:
        assert f"MetaGraphDef with tag-set: '{', '.join(mg.tags)}'" in result["stdout"]
        for key in mg.expected:
            assert f"signature_def['{key}']" in result["stdout"]


def test_as_text_writes_only_a_text_saved_model(cases: dict[str, ModelCase | str]) -> None:
    """``save(as_text=True)`` leaves saved_model.pbtxt (a text-format SavedModel) and no
    saved_model.pb: the loaders above read the text file.  (That it loads and serves is
    checked by the loader, re-save and saved_model_cli tests, as for every model.)"""
    export_dir = built(cases, "mlp_pbtxt").export_dir
    assert sorted(p.name for p in export_dir.iterdir()) == ["saved_model.pbtxt", "variables"]
    saved = text_format.Parse((export_dir / "saved_model.pbtxt").read_text(encoding="utf-8"),
                              saved_model_pb2.SavedModel(), descriptor_pool=POOL)
    assert [list(m.meta_info_def.tags) for m in saved.meta_graphs] == [list(SERVE)]
    assert "serving_default" in saved.meta_graphs[0].signature_def


def test_strip_default_attrs_removes_only_defaults(cases: dict[str, ModelCase | str]) -> None:
    """The saved GraphDef lacks the default-valued attrs that the source graph has, keeps
    the others, and says so in ``meta_info_def.stripped_default_attrs``."""
    case = built(cases, "stripped_defaults")
    assert case.source is not None
    saved = saved_model_pb2.SavedModel.FromString(
        (case.export_dir / "saved_model.pb").read_bytes())
    (meta,) = saved.meta_graphs
    assert meta.meta_info_def.stripped_default_attrs is True
    saved_nodes = {n.name: n for n in meta.graph_def.node}
    source_nodes = {n.name: n for n in case.source.as_graph_def().node}
    for name, attrs in STRIPPED_DEFAULTS.items():
        for attr in attrs:
            assert attr in source_nodes[name].attr, (name, attr)  # so there was one to strip
            assert attr not in saved_nodes[name].attr, (name, attr)
    for name, attrs in KEPT_ATTRS.items():
        for attr in attrs:
            assert saved_nodes[name].attr[attr] == source_nodes[name].attr[attr], (name, attr)
    assert saved_nodes["logits"].attr["transpose_b"].b is True


@pytest.mark.parametrize("loader", ["capi", "v1"])
def test_train_op_runs_by_its_signature_name(loader: str, cases: dict[str, ModelCase | str],
                                             tf_results: dict[str, Any]) -> None:
    """The loader lists ``__saved_model_train_op`` for the ["train"] tag set; running the
    op it names once (weights -= delta) changes what the predict signature reads."""
    case = built(cases, "train_op")
    (mg,) = case.meta_graphs
    assert mg.after_train is not None
    result = ok(tf_results["train_op"][loader]["train"], f"train_op via {loader}")
    assert "__saved_model_train_op" in result["signature_keys"]
    for key, expected in mg.after_train.items():
        assert_outputs(result["after_train"][key], expected, f"train_op via {loader} {key!r}")
