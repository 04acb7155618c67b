"""A good SavedModel built with pysavedmodel, and a table of ways to break it.

:func:`build_good` writes a model with a variable, an asset-backed lookup
table initialized by the init op, and predict/classify/regress signatures.
Each :class:`Damage` edits a copy of it (the proto, the checkpoint or the
assets) and names the findings ``validate_saved_model`` must report:
``(code, text the finding's where must contain)``.  ``tf_load`` says what
TensorFlow does with the damaged model (checked by the interop test):

* ``"capi-fails"``: the C++ loader (TF Serving's path) refuses to load it;
* ``"v1-fails"``: the C++ loader skips what is broken, ``tf.compat.v1``'s
  loader refuses it;
* ``"run-fails"``: the C++ loader loads it, running signature ``serving_default``
  fails (wrong variable shape, signature naming a missing tensor...);
* ``"invalid-signature"``: it loads, but TF's ``is_valid_signature`` rejects
  the damaged signature (TF Serving's Classify/Regress would refuse it);
* ``"loads-outside-assets"``: it loads, TF reading a file outside ``assets/``
  (the finding is about safety: a model can make the loader read any file);
* ``"loads"``: it loads (the finding is about what the loader never reaches: a
  second meta graph with the same tags, checkpoint bytes nothing restores).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pysavedmodel._proto import (
    meta_graph_pb2,
    node_def_pb2,
    saved_model_pb2,
    tensor_bundle_pb2,
    types_pb2,
)
from pysavedmodel.builder import (
    SavedModelBuilder,
    classification_signature_def,
    predict_signature_def,
    regression_signature_def,
)
from pysavedmodel.format.bundle import read_checkpoint, write_checkpoint
from pysavedmodel.format.table import TableReader
from pysavedmodel.graph.graph import Graph

W_VALUE = np.array([1.5, -2.0], np.float32)
VOCAB = "apple\nbanana\ncherry\n"
ASSET_NAME = "vocab.txt"
CHECKPOINT = Path("variables") / "variables"
DT_FLOAT, DT_INT32, DT_DOUBLE = types_pb2.DT_FLOAT, types_pb2.DT_INT32, types_pb2.DT_DOUBLE


def build_good(export_dir: Path, scratch: Path) -> Path:
    """The undamaged model (x -> y = x * w; examples -> scores/outputs; words -> ids)."""
    scratch.mkdir(parents=True, exist_ok=True)
    vocab = scratch / ASSET_NAME
    vocab.write_text(VOCAB)
    g = Graph()
    x = g.placeholder("x", "float32", [None, 2])
    w = g.variable("w", W_VALUE)
    y = g.op("Mul", [x, w], name="y")
    examples = g.placeholder("examples", "string", [None])
    parsed = g.op("StringToNumber", [examples], name="parsed", out_type="float32")
    scores = g.op("ExpandDims", [parsed, g.constant(np.int32(1), name="axis")], name="scores")
    words = g.placeholder("words", "string", [None])
    table = g.op("HashTableV2", [], name="table", key_dtype="string", value_dtype="int64",
                 shared_name="vocab_table")
    init = g.op("InitializeTableFromTextFileV2", [table, g.asset(str(vocab), name="vocab_path")],
                name="table_init", key_index=-2, value_index=-1)
    ids = g.op("LookupTableFindV2", [table, words, g.constant(np.int64(-1), name="default")],
               name="ids")
    builder = SavedModelBuilder(export_dir, format="tf1")  # the damage targets TF1 structures
    builder.add_meta_graph_and_variables(g, ["serve"], signature_def_map={
        "serving_default": predict_signature_def({"x": x}, {"y": y}),
        "classify": classification_signature_def(examples, None, scores),
        "regress": regression_signature_def(examples, parsed),
        "lookup": predict_signature_def({"words": words}, {"ids": ids}),
    }, init_op=g.group([init], name="init_all_tables"))
    builder.save()
    return export_dir


# --------------------------------------------------------------------------- editing helpers

def load_proto(model: Path) -> saved_model_pb2.SavedModel:
    return saved_model_pb2.SavedModel.FromString((model / "saved_model.pb").read_bytes())


def save_proto(model: Path, proto: saved_model_pb2.SavedModel) -> None:
    (model / "saved_model.pb").write_bytes(proto.SerializeToString(deterministic=True))


def edit_meta(edit: Callable[[meta_graph_pb2.MetaGraphDef], None]) -> Callable[[Path], None]:
    """A damage that edits the (only) meta graph of saved_model.pb."""
    def damage(model: Path) -> None:
        proto = load_proto(model)
        edit(proto.meta_graphs[0])
        save_proto(model, proto)
    return damage


def node(meta: meta_graph_pb2.MetaGraphDef, name: str) -> node_def_pb2.NodeDef:
    return next(n for n in meta.graph_def.node if n.name == name)


def rewrite_checkpoint(**tensors: np.ndarray | None) -> Callable[[Path], None]:
    """A damage replacing the checkpoint's tensors (None deletes one, a new name adds one)."""
    def damage(model: Path) -> None:
        prefix = model / CHECKPOINT
        values = read_checkpoint(prefix)
        for key, value in tensors.items():
            values.pop(key, None)
            if value is not None:
                values[key] = value
        for path in prefix.parent.iterdir():
            path.unlink()
        write_checkpoint(prefix, values)
    return damage


def flip_data_byte_of(name: str) -> Callable[[Path], None]:
    """A damage flipping the first data byte of checkpoint tensor ``name``."""
    def damage(model: Path) -> None:
        prefix = model / CHECKPOINT
        index = TableReader(Path(f"{prefix}.index").read_bytes())
        raw = index.get(name.encode())
        assert raw is not None, name
        entry = tensor_bundle_pb2.BundleEntryProto.FromString(raw)
        path = Path(f"{prefix}.data-{entry.shard_id:05d}-of-00001")
        data = bytearray(path.read_bytes())
        data[entry.offset] ^= 0xFF
        path.write_bytes(bytes(data))
    return damage


def set_asset_filename(filename: str) -> Callable[[Path], None]:
    def edit(meta: meta_graph_pb2.MetaGraphDef) -> None:
        collection = meta.collection_def["saved_model_assets"].any_list
        asset = meta_graph_pb2.AssetFileDef.FromString(collection.value[0].value)
        asset.filename = filename
        collection.value[0].value = asset.SerializeToString(deterministic=True)
    return edit_meta(edit)


def duplicate_asset(meta: meta_graph_pb2.MetaGraphDef) -> None:
    collection = meta.collection_def["saved_model_assets"].any_list
    asset = meta_graph_pb2.AssetFileDef.FromString(collection.value[0].value)
    asset.filename = "vocab_copy.txt"
    collection.value.add(type_url=collection.value[0].type_url,
                         value=asset.SerializeToString(deterministic=True))


def copy_asset_file(model: Path) -> None:
    shutil.copy(model / "assets" / ASSET_NAME, model / "assets" / "vocab_copy.txt")


OUTSIDE_VOCAB = "banana\napple\n"


def copy_asset_out(model: Path) -> None:
    """Another vocabulary beside saved_model.pb, where '../vocab.txt' leads."""
    (model / ASSET_NAME).write_text(OUTSIDE_VOCAB)


def chain(*damages: Callable[[Path], None]) -> Callable[[Path], None]:
    def damage(model: Path) -> None:
        for one in damages:
            one(model)
    return damage


# --------------------------------------------------------------------------- the damages

@dataclass(frozen=True)
class Damage:
    name: str
    apply: Callable[[Path], None]
    expected: tuple[tuple[str, str], ...]
    """(finding code, substring of its where), one per finding, in any order."""
    tf_load: str


def _rename_op(meta: meta_graph_pb2.MetaGraphDef) -> None:
    node(meta, "y").op = "Mull"


def _attr_of_wrong_kind(meta: meta_graph_pb2.MetaGraphDef) -> None:
    node(meta, "y").attr["T"].i = 3  # an int where Mul declares a type


def _drop_attr(meta: meta_graph_pb2.MetaGraphDef) -> None:
    del node(meta, "y").attr["T"]


def _dangling_input(meta: meta_graph_pb2.MetaGraphDef) -> None:
    y = node(meta, "y")
    y.input[1] = "w_gone/Read/ReadVariableOp"


def _extra_input(meta: meta_graph_pb2.MetaGraphDef) -> None:
    node(meta, "y").input.insert(2, "x")


def _control_first(meta: meta_graph_pb2.MetaGraphDef) -> None:
    y = node(meta, "y")
    data = list(y.input)
    del y.input[:]
    y.input.extend(["^examples", *data])


def _cycle(meta: meta_graph_pb2.MetaGraphDef) -> None:
    node(meta, "x").op = "Identity"
    x = node(meta, "x")
    for key in list(x.attr):
        del x.attr[key]
    x.attr["T"].type = DT_FLOAT
    x.input.append("y")


def _duplicate_node(meta: meta_graph_pb2.MetaGraphDef) -> None:
    meta.graph_def.node.add().CopyFrom(node(meta, "y"))


def _double_placeholder(meta: meta_graph_pb2.MetaGraphDef) -> None:
    node(meta, "x").attr["dtype"].type = DT_DOUBLE


def _deprecated_op(meta: meta_graph_pb2.MetaGraphDef) -> None:
    node(meta, "x").op = "PlaceholderV2"


def _missing_restore_op(meta: meta_graph_pb2.MetaGraphDef) -> None:
    meta.saver_def.restore_op_name = "save/restore_everything"


def _restore_spec_mismatch(meta: meta_graph_pb2.MetaGraphDef) -> None:
    restore = next(n for n in meta.graph_def.node if n.op == "RestoreV2")
    specs = node(meta, restore.input[2].split(":")[0]).attr["value"].tensor
    specs.string_val.append(b"")
    specs.tensor_shape.dim[0].size += 1


def _set_restore_spec(spec: bytes) -> Callable[[Path], None]:
    def edit(meta: meta_graph_pb2.MetaGraphDef) -> None:
        restore = next(n for n in meta.graph_def.node if n.op == "RestoreV2")
        node(meta, restore.input[2].split(":")[0]).attr["value"].tensor.string_val[0] = spec
    return edit_meta(edit)


def _bad_init_op(meta: meta_graph_pb2.MetaGraphDef) -> None:
    meta.signature_def["__saved_model_init_op"].outputs["__saved_model_init_op"].name = "nope"
    meta.collection_def["saved_model_main_op"].node_list.value[0] = "nope"


def _ghost_collection(meta: meta_graph_pb2.MetaGraphDef) -> None:
    meta.collection_def["my_ops"].node_list.value.append("ghost:0")


def _missing_signature_tensor(meta: meta_graph_pb2.MetaGraphDef) -> None:
    meta.signature_def["serving_default"].outputs["y"].name = "why:0"


def _output_index_out_of_range(meta: meta_graph_pb2.MetaGraphDef) -> None:
    meta.signature_def["serving_default"].outputs["y"].name = "y:3"


def _signature_dtype(meta: meta_graph_pb2.MetaGraphDef) -> None:
    meta.signature_def["serving_default"].inputs["x"].dtype = DT_INT32


def _classify_float_input(meta: meta_graph_pb2.MetaGraphDef) -> None:
    info = meta.signature_def["classify"].inputs["inputs"]
    info.name, info.dtype = "x:0", DT_FLOAT


def _classify_unknown_output(meta: meta_graph_pb2.MetaGraphDef) -> None:
    outputs = meta.signature_def["classify"].outputs
    outputs["probabilities"].CopyFrom(outputs["scores"])
    del outputs["scores"]


def _regress_two_outputs(meta: meta_graph_pb2.MetaGraphDef) -> None:
    outputs = meta.signature_def["regress"].outputs
    outputs["extra"].CopyFrom(outputs["outputs"])


def _predict_no_inputs(meta: meta_graph_pb2.MetaGraphDef) -> None:
    meta.signature_def["lookup"].inputs.clear()


def _bad_node_name(meta: meta_graph_pb2.MetaGraphDef) -> None:
    node(meta, "axis").name = "axis!"
    node(meta, "scores").input[1] = "axis!"


def _asset_tensor_gone(meta: meta_graph_pb2.MetaGraphDef) -> None:
    collection = meta.collection_def["saved_model_assets"].any_list
    asset = meta_graph_pb2.AssetFileDef.FromString(collection.value[0].value)
    asset.tensor_info.name = "vocab_gone:0"
    collection.value[0].value = asset.SerializeToString(deterministic=True)


def _asset_wrong_type(meta: meta_graph_pb2.MetaGraphDef) -> None:
    meta.collection_def["saved_model_assets"].any_list.value[0].type_url = \
        "type.googleapis.com/tensorflow.TensorInfo"


def _two_main_ops(meta: meta_graph_pb2.MetaGraphDef) -> None:
    del meta.signature_def["__saved_model_init_op"]
    meta.collection_def["saved_model_main_op"].node_list.value.append("init_all_tables")


def _ghost_train_op(meta: meta_graph_pb2.MetaGraphDef) -> None:
    meta.collection_def["saved_model_train_op"].node_list.value.append("ghost_train")


def _regress_float_input(meta: meta_graph_pb2.MetaGraphDef) -> None:
    info = meta.signature_def["regress"].inputs["inputs"]
    info.name, info.dtype = "x:0", DT_FLOAT


def _predict_no_outputs(meta: meta_graph_pb2.MetaGraphDef) -> None:
    meta.signature_def["lookup"].outputs.clear()


def _duplicate_tag_set(model: Path) -> None:
    proto = load_proto(model)
    proto.meta_graphs.add().CopyFrom(proto.meta_graphs[0])
    save_proto(model, proto)


def _no_meta_graphs(model: Path) -> None:
    proto = load_proto(model)
    del proto.meta_graphs[:]
    save_proto(model, proto)


def _garbage_proto(model: Path) -> None:
    (model / "saved_model.pb").write_bytes(b"\x0a\xff\xff\xff\xff\x0fnot a proto")


def _truncate_index(model: Path) -> None:
    path = model / "variables" / "variables.index"
    path.write_bytes(path.read_bytes()[:-10])


def _delete_variables(model: Path) -> None:
    shutil.rmtree(model / "variables")


def _delete_asset(model: Path) -> None:
    (model / "assets" / ASSET_NAME).unlink()


DAMAGES: tuple[Damage, ...] = (
    Damage("garbage-proto", _garbage_proto, (("proto-unparseable", "saved_model.pb"),),
           "capi-fails"),
    Damage("no-meta-graphs", _no_meta_graphs, (("no-meta-graphs", "saved_model.pb"),),
           "capi-fails"),
    Damage("duplicate-tag-set", _duplicate_tag_set, (("duplicate-tag-set", "meta graph #1"),),
           "loads"),
    Damage("unknown-op", edit_meta(_rename_op), (("unknown-op", "node 'y'"),), "capi-fails"),
    Damage("attr-of-wrong-kind", edit_meta(_attr_of_wrong_kind), (("bad-attr", "node 'y'"),),
           "capi-fails"),
    Damage("missing-attr", edit_meta(_drop_attr), (("missing-attr", "node 'y'"),),
           "capi-fails"),
    Damage("dangling-input", edit_meta(_dangling_input), (("missing-input", "node 'y'"),),
           "capi-fails"),
    Damage("extra-input", edit_meta(_extra_input), (("input-count", "node 'y'"),),
           "capi-fails"),
    Damage("control-before-data", edit_meta(_control_first),
           (("bad-input-order", "node 'y'"), ("bad-input-order", "node 'y'")), "capi-fails"),
    Damage("cycle", edit_meta(_cycle), (("graph-cycle", "[serve] graph"),), "capi-fails"),
    Damage("bad-node-name", edit_meta(_bad_node_name), (("bad-node-name", "node 'axis!'"),),
           "capi-fails"),
    Damage("duplicate-node", edit_meta(_duplicate_node), (("duplicate-node", "node 'y'"),),
           "capi-fails"),
    Damage("input-dtype", edit_meta(_double_placeholder),
           (("input-dtype-mismatch", "node 'y'"),
            ("signature-dtype-mismatch", "signature 'serving_default' input 'x'")),
           "capi-fails"),
    Damage("deprecated-op", edit_meta(_deprecated_op), (("deprecated-op", "node 'x'"),),
           "capi-fails"),
    Damage("restore-op-missing", edit_meta(_missing_restore_op),
           (("saver-node-missing", "saver_def restore_op_name"),), "capi-fails"),
    Damage("restore-spec-length", edit_meta(_restore_spec_mismatch),
           (("restore-spec-invalid", "RestoreV2"),), "capi-fails"),
    Damage("restore-slice-out-of-range", _set_restore_spec(b"2 1,5"),
           (("restore-spec-invalid", "RestoreV2' tensor 'w'"),), "capi-fails"),
    Damage("restore-full-shape", _set_restore_spec(b"3 0,2"),
           (("variable-shape-mismatch", "RestoreV2' tensor 'w'"),), "capi-fails"),
    Damage("checkpoint-key-renamed", rewrite_checkpoint(w=None, w_renamed=W_VALUE),
           (("variable-not-in-checkpoint", "tensor 'w'"),), "capi-fails"),
    Damage("checkpoint-dtype", rewrite_checkpoint(w=W_VALUE.astype(np.float64)),
           (("variable-dtype-mismatch", "tensor 'w'"),), "capi-fails"),
    Damage("checkpoint-shape", rewrite_checkpoint(w=np.ones(3, np.float32)),
           (("variable-shape-mismatch", "tensor 'w'"),), "run-fails"),
    Damage("checkpoint-byte-flipped", flip_data_byte_of("w"),
           (("checksum-mismatch", "tensor 'w'"),), "capi-fails"),
    Damage("checkpoint-extra-corrupt", chain(rewrite_checkpoint(unused=np.arange(4.0)),
                                             flip_data_byte_of("unused")),
           (("checksum-mismatch", "tensor 'unused'"),), "loads"),
    Damage("index-truncated", _truncate_index,
           (("checkpoint-unreadable", "variables/variables"),), "capi-fails"),
    Damage("variables-deleted", _delete_variables,
           (("checkpoint-missing", "saver_def"),), "v1-fails"),
    Damage("asset-deleted", _delete_asset, (("asset-missing", "asset 'vocab.txt'"),),
           "capi-fails"),
    Damage("asset-path-traversal", chain(copy_asset_out, set_asset_filename("../vocab.txt")),
           (("asset-path-escapes", "asset '../vocab.txt'"),), "loads-outside-assets"),
    Damage("asset-fed-twice", chain(copy_asset_file, edit_meta(duplicate_asset)),
           (("asset-fed-twice", "asset 'vocab_copy.txt'"),), "capi-fails"),
    Damage("asset-tensor-missing", edit_meta(_asset_tensor_gone),
           (("asset-tensor-missing", "asset 'vocab.txt'"),), "capi-fails"),
    Damage("asset-wrong-type", edit_meta(_asset_wrong_type),
           (("bad-collection", "collection 'saved_model_assets' #0"),), "capi-fails"),
    Damage("init-op-count", edit_meta(_two_main_ops),
           (("init-op-count", "collection 'saved_model_main_op'"),), "capi-fails"),
    Damage("train-op-missing", edit_meta(_ghost_train_op),
           (("train-op-missing", "collection 'saved_model_train_op'"),), "v1-fails"),
    Damage("init-op-missing", edit_meta(_bad_init_op),
           (("init-op-missing", "signature '__saved_model_init_op'"),
            ("init-op-missing", "collection 'saved_model_main_op'")), "capi-fails"),
    Damage("collection-node-missing", edit_meta(_ghost_collection),
           (("collection-node-missing", "collection 'my_ops'"),), "v1-fails"),
    Damage("signature-tensor-missing", edit_meta(_missing_signature_tensor),
           (("signature-tensor-missing", "signature 'serving_default' output 'y'"),),
           "run-fails"),
    Damage("signature-output-index", edit_meta(_output_index_out_of_range),
           (("signature-tensor-missing", "signature 'serving_default' output 'y'"),),
           "run-fails"),
    Damage("signature-dtype", edit_meta(_signature_dtype),
           (("signature-dtype-mismatch", "signature 'serving_default' input 'x'"),),
           "run-fails"),
    Damage("classify-float-input", edit_meta(_classify_float_input),
           (("serving-classify-inputs", "signature 'classify' input 'inputs'"),),
           "invalid-signature"),
    Damage("classify-unknown-output", edit_meta(_classify_unknown_output),
           (("serving-classify-outputs", "signature 'classify'"),), "invalid-signature"),
    Damage("regress-two-outputs", edit_meta(_regress_two_outputs),
           (("serving-regress-outputs", "signature 'regress'"),), "invalid-signature"),
    Damage("regress-float-input", edit_meta(_regress_float_input),
           (("serving-regress-inputs", "signature 'regress' input 'inputs'"),),
           "invalid-signature"),
    Damage("predict-no-outputs", edit_meta(_predict_no_outputs),
           (("serving-predict-outputs", "signature 'lookup'"),), "invalid-signature"),
    Damage("predict-no-inputs", edit_meta(_predict_no_inputs),
           (("serving-predict-inputs", "signature 'lookup'"),), "invalid-signature"),
)
