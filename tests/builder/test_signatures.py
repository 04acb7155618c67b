"""Signature helpers, resolution against a graph and TF Serving's validation rules."""

from __future__ import annotations

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from pysavedmodel._proto import meta_graph_pb2
from pysavedmodel.builder.signatures import (
    CLASSIFY_METHOD_NAME,
    PREDICT_METHOD_NAME,
    REGRESS_METHOD_NAME,
    build_signature_def,
    build_tensor_info,
    classification_signature_def,
    op_signature_def,
    predict_signature_def,
    regression_signature_def,
    resolve_signature_def,
    resolve_signature_def_map,
)
from pysavedmodel.dtypes import DT_FLOAT, DT_INT64, DT_STRING
from pysavedmodel.errors import SignatureError
from pysavedmodel.graph.graph import Graph


@pytest.fixture()
def g():
    graph = Graph()
    graph.placeholder("examples", "string", [None])
    graph.placeholder("x", "float32", [None, 3])
    graph.placeholder("anything", "float32", None)
    graph.placeholder("ids", "int64", [4])
    graph.op("Identity", ["x"], name="scores")
    graph.op("Cast", ["x"], name="as_double", DstT="float64")
    graph.op("AsString", ["x"], name="labels")
    graph.op("NoOp", [], name="noop")
    return graph


def _dims(info):
    return [d.size for d in info.tensor_shape.dim]


def test_handles_fill_name_dtype_and_shape(g):
    sig = predict_signature_def({"x": g.get_tensor("x")}, {"ids": g.get_tensor("ids:0")})
    assert sig.method_name == PREDICT_METHOD_NAME
    assert sig.inputs["x"].name == "x:0"
    assert sig.inputs["x"].dtype == DT_FLOAT
    assert _dims(sig.inputs["x"]) == [-1, 3]
    assert sig.outputs["ids"].dtype == DT_INT64
    assert _dims(sig.outputs["ids"]) == [4]


def test_unknown_rank_is_marked(g):
    info = build_tensor_info(g.get_tensor("anything"))
    assert info.tensor_shape.unknown_rank and not info.tensor_shape.dim


def test_names_are_canonical_and_resolved_later(g):
    sig = predict_signature_def({"x": "x"}, {"out": "scores:0"})
    assert sig.inputs["x"].name == "x:0" and sig.inputs["x"].dtype == 0
    resolved = resolve_signature_def("serving_default", sig, g)
    assert resolved.inputs["x"].dtype == DT_FLOAT
    assert _dims(resolved.outputs["out"]) == [-1, 3]
    assert sig.inputs["x"].dtype == 0  # the caller's proto is not modified


def test_predict_needs_inputs_and_outputs(g):
    with pytest.raises(SignatureError, match="inputs must not be empty"):
        predict_signature_def({}, {"y": "x:0"})
    with pytest.raises(SignatureError, match="outputs must not be empty"):
        predict_signature_def({"x": "x:0"}, {})
    with pytest.raises(SignatureError, match="'sig'.*predict.*outputs must not be empty"):
        resolve_signature_def("sig", {"inputs": {"x": "x:0"}, "outputs": {}}, g)


def test_classification_rules(g):
    sig = classification_signature_def(g.get_tensor("examples"), g.get_tensor("labels"),
                                       g.get_tensor("scores"))
    assert sig.method_name == CLASSIFY_METHOD_NAME
    assert set(sig.inputs) == {"inputs"} and set(sig.outputs) == {"classes", "scores"}
    assert classification_signature_def("examples:0", None, "scores:0").outputs.keys() == {"scores"}
    with pytest.raises(SignatureError, match="cannot both be None"):
        classification_signature_def(g.get_tensor("examples"), None, None)
    with pytest.raises(SignatureError,
                       match="input 'inputs' .*'x:0'.* must be DT_STRING, got DT_FLOAT"):
        classification_signature_def(g.get_tensor("x"), None, g.get_tensor("scores"))
    with pytest.raises(SignatureError, match="output 'scores' .*'as_double:0'.*DT_DOUBLE"):
        classification_signature_def(g.get_tensor("examples"), None, g.get_tensor("as_double"))
    with pytest.raises(SignatureError, match="output 'classes' .* must be DT_STRING"):
        classification_signature_def(g.get_tensor("examples"), g.get_tensor("ids"), None)


def test_classification_dtypes_checked_when_resolving_names(g):
    sig = classification_signature_def("x:0", None, "scores:0")  # dtypes unknown yet
    with pytest.raises(SignatureError, match="'cls' input 'inputs' \\(classify\\).*DT_STRING"):
        resolve_signature_def("cls", sig, g)


def test_classify_and_regress_keys_are_fixed(g):
    bad = {"inputs": {"examples": "examples:0"}, "outputs": {"scores": "scores:0"},
           "method_name": "classify"}
    with pytest.raises(SignatureError, match="'c' \\(classify\\): inputs must be exactly 'inputs'"):
        resolve_signature_def("c", bad, g)
    extra = {"inputs": {"inputs": "examples:0"},
             "outputs": {"scores": "scores:0", "probabilities": "scores:0"},
             "method_name": CLASSIFY_METHOD_NAME}
    with pytest.raises(SignatureError, match="outputs must be 'classes' and/or 'scores'"):
        resolve_signature_def("c", extra, g)
    two = {"inputs": {"inputs": "examples:0"},
           "outputs": {"outputs": "scores:0", "more": "scores:0"}, "method_name": "regress"}
    with pytest.raises(SignatureError,
                       match="'r' \\(regress\\): outputs must be exactly 'outputs'"):
        resolve_signature_def("r", two, g)


def test_regression_rules(g):
    sig = regression_signature_def(g.get_tensor("examples"), g.get_tensor("scores"))
    assert sig.method_name == REGRESS_METHOD_NAME
    assert sig.inputs["inputs"].dtype == DT_STRING and sig.outputs["outputs"].dtype == DT_FLOAT
    with pytest.raises(SignatureError, match="output 'outputs' .*'ids:0'.* must be DT_FLOAT"):
        regression_signature_def(g.get_tensor("examples"), g.get_tensor("ids"))
    with pytest.raises(SignatureError, match="predictions must be given"):
        regression_signature_def(g.get_tensor("examples"), None)


def test_missing_tensor_names_key_and_tensor(g):
    sig = predict_signature_def({"x": "x:0"}, {"y": "nothere:0"})
    with pytest.raises(SignatureError, match="signature 'serving_default': output 'y' refers to "
                                             "tensor 'nothere:0'"):
        resolve_signature_def("serving_default", sig, g)
    with pytest.raises(SignatureError, match="'s'.*'x:3'"):
        resolve_signature_def("s", predict_signature_def({"x": "x:3"}, {"y": "x:0"}), g)


def test_op_without_outputs_is_refused(g):
    with pytest.raises(SignatureError, match="'noop:0', an op with no outputs"):
        resolve_signature_def("s", predict_signature_def({"x": "x:0"}, {"y": "noop"}), g)


def test_dtype_disagreeing_with_the_graph_is_refused(g):
    sig = predict_signature_def({"x": "x:0"}, {"y": "scores:0"})
    sig.outputs["y"].dtype = DT_INT64
    with pytest.raises(SignatureError, match="'y' \\(tensor 'scores:0'\\) says DT_INT64 but the "
                                             "graph has DT_FLOAT"):
        resolve_signature_def("s", sig, g)


@pytest.mark.parametrize("key", ["__saved_model_init_op", "__saved_model_train_op"])
def test_reserved_keys_are_refused(g, key):
    with pytest.raises(SignatureError, match=f"{key}.*reserved"):
        resolve_signature_def_map({key: predict_signature_def({"x": "x:0"}, {"y": "x:0"})}, g)


def test_plain_dicts(g):
    sig = resolve_signature_def("d", {"inputs": {"x": g.get_tensor("x")},
                                      "outputs": {"y": "scores"}}, g)
    assert sig.method_name == PREDICT_METHOD_NAME  # the default for dicts
    assert sig.outputs["y"].name == "scores:0" and sig.outputs["y"].dtype == DT_FLOAT
    reg = resolve_signature_def("r", {"inputs": {"inputs": "examples"},
                                      "outputs": {"outputs": "scores"},
                                      "method_name": "regress"}, g)
    assert reg.method_name == REGRESS_METHOD_NAME
    with pytest.raises(SignatureError, match="'d': unknown field\\(s\\) \\['output'\\]"):
        resolve_signature_def("d", {"inputs": {"x": "x:0"}, "output": {}}, g)
    with pytest.raises(SignatureError, match="'d'.*expected a SignatureDef or a dict"):
        resolve_signature_def("d", ["x:0"], g)


def test_build_signature_def_keeps_custom_method_names(g):
    sig = build_signature_def({"a": "x:0"}, {"b": "scores:0"}, "my/method")
    assert resolve_signature_def("k", sig, g).method_name == "my/method"
    assert build_signature_def().method_name == ""
    with pytest.raises(SignatureError, match="non-empty strings"):
        build_signature_def({"": "x:0"})
    with pytest.raises(SignatureError, match=r"inputs\['a'\].*tensor name"):
        build_signature_def({"a": 3})


def test_signature_map_must_be_a_mapping(g):
    assert resolve_signature_def_map(None, g) == {}
    with pytest.raises(SignatureError, match="signature_def_map must be a mapping"):
        resolve_signature_def_map([("a", {})], g)


def test_op_signature_def_layout():
    sig = op_signature_def("train_step", "__saved_model_train_op")
    info = sig.outputs["__saved_model_train_op"]
    assert info.name == "train_step" and info.dtype == 0 and info.tensor_shape.unknown_rank
    assert not sig.inputs and sig.method_name == ""


def _add_file(pool, file_descriptor):
    for dep in file_descriptor.dependencies:
        _add_file(pool, dep)
    try:
        pool.FindFileByName(file_descriptor.name)
    except KeyError:
        proto = descriptor_pb2.FileDescriptorProto()
        file_descriptor.CopyToProto(proto)
        pool.Add(proto)


def test_signature_defs_of_another_descriptor_pool_are_accepted(g):
    # TF's own SignatureDef class lives in another pool than ours.
    pool = descriptor_pool.DescriptorPool()
    _add_file(pool, meta_graph_pb2.DESCRIPTOR)
    foreign_cls = message_factory.GetMessageClass(
        pool.FindMessageTypeByName("tensorflow.SignatureDef"))
    ours = predict_signature_def({"x": "x:0"}, {"y": "scores:0"})
    foreign = foreign_cls.FromString(ours.SerializeToString())
    assert not isinstance(foreign, type(ours))
    resolved = resolve_signature_def("s", foreign, g)
    assert resolved.inputs["x"].dtype == DT_FLOAT
