"""Graph: building nodes, naming, type-attr inference, from_dict, validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest

import pysavedmodel
from pysavedmodel import dtypes
from pysavedmodel._proto import (
    attr_value_pb2,
    function_pb2,
    graph_pb2,
    saved_model_pb2,
    tensor_pb2,
    types_pb2,
)
from pysavedmodel.errors import (
    GraphError,
    InvalidArgumentError,
    NotFoundError,
    OpError,
    UnsupportedDTypeError,
)
from pysavedmodel.graph import AssetSpec, Graph, Tensor, VariableSpec
from pysavedmodel.graph.attrs import tensor_proto_to_numpy

F32 = types_pb2.DT_FLOAT


def _fixture_nodes(fixtures_dir: Path) -> dict[str, Any]:
    saved = saved_model_pb2.SavedModel.FromString(
        (fixtures_dir / "savedmodel_v1_builder" / "saved_model.pb").read_bytes())
    return {node.name: node for node in saved.meta_graphs[0].graph_def.node}


def _without(node: Any, *keys: str) -> Any:
    copy = type(node)()
    copy.CopyFrom(node)
    for key in keys:
        if key in copy.attr:
            del copy.attr[key]
    return copy


# ------------------------------------------------------------------ public exports


def test_top_level_exports_are_the_graph_classes() -> None:
    assert pysavedmodel.Graph is Graph
    assert pysavedmodel.Tensor is Tensor


# ------------------------------------------------------------------ placeholder


def test_placeholder_attrs_and_shape() -> None:
    g = Graph()
    x = g.placeholder("x", "float32", [None, 3])
    assert (x.name, x.op_name, x.index, x.op_type) == ("x:0", "x", 0, "Placeholder")
    assert x.dtype is dtypes.as_dtype("float32")
    assert x.shape == (None, 3)
    node = g.node("x")
    assert node.attr["dtype"].type == F32
    assert [d.size for d in node.attr["shape"].shape.dim] == [-1, 3]
    assert set(node.attr) == {"dtype", "shape"}


def test_placeholder_unknown_rank_and_scalar() -> None:
    g = Graph()
    x = g.placeholder("x", np.int64, None)
    s = g.placeholder("s", dtypes.as_dtype("string"), [])
    assert x.shape is None and g.node("x").attr["shape"].shape.unknown_rank
    assert s.shape == () and not g.node("s").attr["shape"].shape.unknown_rank
    assert x.dtype.name == "int64" and s.dtype.name == "string"


def test_placeholder_matches_tensorflows_nodedef(fixtures_dir: Path) -> None:
    g = Graph()
    g.placeholder("x", "float32", [None, 3])
    theirs = _without(_fixture_nodes(fixtures_dir)["x"], "_output_shapes")
    assert g.node("x") == theirs


# ------------------------------------------------------------------ constant


@pytest.mark.parametrize("value, dtype, field", [
    (1.0, types_pb2.DT_FLOAT, "float_val"),
    (7, types_pb2.DT_INT32, "int_val"),
    (2 ** 40, types_pb2.DT_INT64, "int64_val"),
    (True, types_pb2.DT_BOOL, "bool_val"),
    ("ab", types_pb2.DT_STRING, "string_val"),
    ([1.0], types_pb2.DT_FLOAT, "float_val"),
    ([1.0, 2.0], types_pb2.DT_FLOAT, "tensor_content"),
    ([True, False], types_pb2.DT_BOOL, "bool_val"),
    (np.array([1, 2], np.uint32), types_pb2.DT_UINT32, "tensor_content"),
    (np.array(3, np.uint64), types_pb2.DT_UINT64, "uint64_val"),
    (np.array([1.0, 2.0], np.float64), types_pb2.DT_DOUBLE, "tensor_content"),
    (np.array([1.5, 2], ml_dtypes.bfloat16), types_pb2.DT_BFLOAT16, "tensor_content"),
    (np.array(1.5, ml_dtypes.bfloat16), types_pb2.DT_BFLOAT16, "half_val"),
    (np.array([1.0, 2.0], np.float16), types_pb2.DT_HALF, "tensor_content"),
    (np.array([1 + 2j]), types_pb2.DT_COMPLEX128, "dcomplex_val"),
    ([b"a", b"\xff"], types_pb2.DT_STRING, "string_val"),
])
def test_constant_encoding_follows_tensorflow(value: Any, dtype: int, field: str) -> None:
    g = Graph()
    c = g.constant(value)
    tensor = g.node(c.op_name).attr["value"].tensor
    assert tensor.dtype == dtype and g.node(c.op_name).attr["dtype"].type == dtype
    assert len(getattr(tensor, field))
    expected = np.asarray(value)
    if expected.dtype.kind in "US":
        expected = np.vectorize(lambda s: s.encode() if isinstance(s, str) else s,
                                otypes=[object])(expected)
    got = tensor_proto_to_numpy(tensor)
    assert got.shape == expected.shape == c.shape
    assert got.tolist() == expected.tolist()


def test_constant_exact_bytes() -> None:
    g = Graph()
    c = g.constant(np.array([[1.0, 2.0], [3.0, 4.0]], np.float32), name="w")
    tensor = g.node("w").attr["value"].tensor
    assert tensor.tensor_content == np.array([1, 2, 3, 4], "<f4").tobytes()
    assert [d.size for d in tensor.tensor_shape.dim] == [2, 2]
    assert c.shape == (2, 2) and c.dtype.name == "float32"
    h = g.constant(np.array(1.5, ml_dtypes.bfloat16))
    assert list(g.node(h.op_name).attr["value"].tensor.half_val) == [0x3FC0]


def test_constant_with_dtype_and_names() -> None:
    g = Graph()
    a = g.constant([1, 2], dtype="int64")
    b = g.constant([1, 2], dtype=np.float32)
    c = g.constant(np.zeros((0, 2), np.float32))
    assert (a.op_name, b.op_name, c.op_name) == ("Const", "Const_1", "Const_2")
    assert a.dtype.name == "int64" and b.dtype.name == "float32"
    assert c.shape == (0, 2)
    assert not g.node("Const_2").attr["value"].tensor.tensor_content


def test_constant_rejects_lossy_and_bad_values() -> None:
    g = Graph()
    with pytest.raises(InvalidArgumentError, match="1.5"):
        g.constant([1.5], dtype="int32")
    with pytest.raises(InvalidArgumentError, match="300"):
        g.constant(300, dtype="uint8")
    with pytest.raises(InvalidArgumentError):
        g.constant(["a", "b"], dtype="float32")
    with pytest.raises(InvalidArgumentError, match="resource"):
        g.constant(1, dtype="resource")
    assert len(g) == 0


# ------------------------------------------------------------------ variable / asset


def test_variable_node_layout_matches_tensorflows(fixtures_dir: Path) -> None:
    theirs = _fixture_nodes(fixtures_dir)
    g = Graph()
    kernel = np.arange(6, dtype=np.float32).reshape(3, 2)
    read = g.variable("dense/kernel", kernel)
    assert read.name == "dense/kernel/Read/ReadVariableOp:0"
    assert read.op_type == "ReadVariableOp" and read.shape == (3, 2)
    assert read.dtype.name == "float32"
    assert g.node("dense/kernel") == _without(theirs["dense/kernel"], "_output_shapes")
    assert g.node("dense/kernel/Read/ReadVariableOp") == _without(
        theirs["dense/kernel/Read/ReadVariableOp"], "_output_shapes")
    assert g.get_tensor("dense/kernel").shape == ()
    assert g.get_tensor("dense/kernel").dtype.name == "resource"


def test_variables_property() -> None:
    g = Graph()
    g.variable("w", [[1.0, 2.0]])
    with g.name_scope("layer"):
        g.variable("b", np.zeros(3, np.int64), trainable=False)
    w2 = g.variable("w", [5.0])
    specs = g.variables
    assert [v.node_name for v in specs] == ["w", "layer/b", "w_1"]
    first = specs[0]
    assert isinstance(first, VariableSpec)
    assert first.shared_name == "w" and first.shape == (1, 2) and first.dtype.name == "float32"
    assert first.value.tolist() == [[1.0, 2.0]] and first.trainable
    assert first.read_tensor_name == "w/Read/ReadVariableOp:0"
    assert specs[1].trainable is False and specs[1].dtype.name == "int64"
    assert specs[1].read_tensor_name == "layer/b/Read/ReadVariableOp:0"
    assert specs[2].shared_name == "w_1" and w2.name == "w_1/Read/ReadVariableOp:0"
    assert g.node("w_1").attr["shared_name"].s == b"w_1"


def test_variable_keeps_a_suitable_array_without_copying() -> None:
    g = Graph()
    value = np.arange(6, dtype=np.float32).reshape(2, 3)
    g.variable("a", value)
    g.variable("b", value, dtype="float32")
    g.variable("c", value, dtype="float64")
    kept = {spec.node_name: spec.value for spec in g.variables}
    assert kept["a"] is value and kept["b"] is value
    assert kept["c"].dtype == np.float64 and not np.shares_memory(kept["c"], value)


def test_variable_rejects_values_a_checkpoint_cannot_hold() -> None:
    g = Graph()
    with pytest.raises(UnsupportedDTypeError, match="variable 'v': float8_e5m2 values cannot"):
        g.variable("v", np.zeros(2, ml_dtypes.float8_e5m2))
    with pytest.raises(InvalidArgumentError, match="variable 'w'"):
        g.variable("w", [[1, 2], [3]])
    assert len(g) == 0 and g.variables == []


def test_read_variable_op_infers_dtype_from_handle() -> None:
    g = Graph()
    g.variable("v", np.ones(2, np.float64))
    again = g.op("ReadVariableOp", ["v"])
    assert again.dtype.name == "float64" and again.shape == (2,)
    assert again.op_name == "ReadVariableOp"


def test_asset() -> None:
    g = Graph()
    a = g.asset(Path("/tmp/vocab.txt"))
    b = g.asset("other.txt", name="vocab_path")
    assert a.dtype.name == "string" and a.shape == ()
    assert g.assets == [AssetSpec("asset_path", "asset_path:0", "/tmp/vocab.txt"),
                        AssetSpec("vocab_path", "vocab_path:0", "other.txt")]
    assert list(g.node(b.op_name).attr["value"].tensor.string_val) == [b"other.txt"]


# ------------------------------------------------------------------ op(): naming


def test_op_names_are_made_unique_like_tensorflow() -> None:
    g = Graph()
    x = g.placeholder("x", "float32", [2, 2])
    names = [g.op("MatMul", [x, x]).op_name for _ in range(3)]
    assert names == ["MatMul", "MatMul_1", "MatMul_2"]
    assert g.op("Identity", [x], name="out").op_name == "out"
    assert g.op("Identity", [x], name="out").op_name == "out_1"
    # TF compares names case-insensitively
    assert g.op("Identity", [x], name="OUT").op_name == "OUT_2"
    # an explicit "MatMul_1"-style name that exists is skipped over
    assert g.op("Identity", [x], name="MatMul").op_name == "MatMul_3"
    # a placeholder with a taken name gets a suffix too
    assert g.placeholder("x", "float32", None).op_name == "x_1"


def test_unique_name_avoids_existing_and_scopes() -> None:
    g = Graph()
    assert g.unique_name("a") == "a"
    assert g.unique_name("a") == "a_1"
    g.constant(1, name="b_1")
    assert g.unique_name("b") == "b"
    assert g.unique_name("b") == "b_2"
    with g.name_scope("s"):
        assert g.unique_name("a") == "s/a"
    assert g.unique_name("a", mark_as_used=False) == "a_2"
    assert g.unique_name("a") == "a_2"


def test_name_scope() -> None:
    g = Graph()
    with g.name_scope("save") as scope:
        assert scope == "save/"
        c = g.constant("model")
        c1 = g.constant(".part")
        with g.name_scope("inner"):
            d = g.constant(1)
    with g.name_scope("save") as scope2:
        e = g.constant(2)
    with g.name_scope("save_1/") as exact:
        f = g.constant(3)
    with g.name_scope("save"), g.name_scope(None):
        top = g.constant(4)
    assert (c.op_name, c1.op_name, d.op_name) == ("save/Const", "save/Const_1",
                                                  "save/inner/Const")
    assert scope2 == "save_1/" and e.op_name == "save_1/Const"
    assert exact == "save_1/" and f.op_name == "save_1/Const_1"
    assert top.op_name == "Const"
    # a scope name is taken by its nodes: a later op "save" gets a suffix
    assert g.constant(5, name="save").op_name == "save_3"


def test_naming_matches_tensorflow_session() -> None:
    # The same calls in TF 2.21 (tf.name_scope / tf.constant / tf.identity) give these names.
    g = Graph()
    with g.name_scope("save"):
        a = g.constant(1, name="filename/input")
        b = g.op("Identity", [a], name="filename")
    names = [a.op_name, b.op_name, g.op("Identity", [a], name="save").op_name]
    names += [g.constant(1, name=n).op_name for n in ["a/b/c", "a", "a/b", "Foo", "foo"]]
    assert names == ["save/filename/input", "save/filename", "save_1", "a/b/c", "a", "a/b",
                     "Foo", "foo_1"]


def test_exact_names_end_with_slash() -> None:
    g = Graph()
    with g.name_scope("scope"):
        a = g.constant(1, name="top/")
    assert a.op_name == "top"
    with pytest.raises(GraphError, match="'top' already exists"):
        g.constant(1, name="top/")


def test_invalid_names_are_rejected() -> None:
    g = Graph()
    for bad in ["_x", "a b", "", "-x", "x:0"]:
        with pytest.raises(GraphError, match="invalid node name"):
            g.constant(1, name=bad)
    assert len(g) == 0


# ------------------------------------------------------------------ op(): inputs and attrs


def test_type_attrs_inferred_and_defaults_filled(fixtures_dir: Path) -> None:
    theirs = _fixture_nodes(fixtures_dir)
    g = Graph()
    x = g.placeholder("x", "float32", [None, 3])
    w = g.variable("dense/kernel", np.ones((3, 2), np.float32))
    m = g.op("MatMul", [x, w])
    node = g.node("MatMul")
    assert node.attr["T"].type == F32
    assert {k: v.b for k, v in node.attr.items() if k != "T"} == {
        "transpose_a": False, "transpose_b": False, "grad_a": False, "grad_b": False}
    expected = _without(theirs["MatMul"], "_output_shapes")
    del expected.input[:]
    expected.input.extend(["x", "dense/kernel/Read/ReadVariableOp"])
    assert node == expected
    assert m.dtype.name == "float32" and m.shape == (None, 2)


def test_plain_values_become_typed_constants() -> None:
    g = Graph()
    x = g.placeholder("x", "float64", [2])
    y = g.op("AddV2", [x, 2])
    assert g.node("AddV2").input[:] == ["x", "AddV2/y"]
    assert g.node("AddV2/y").attr["dtype"].type == types_pb2.DT_DOUBLE
    assert tensor_proto_to_numpy(g.node("AddV2/y").attr["value"].tensor).tolist() == 2.0
    assert y.dtype.name == "float64"
    # first input plain, second a tensor: the tensor fixes T
    z = g.op("Mul", [[1, 2], x])
    assert g.node("Mul/x").attr["dtype"].type == types_pb2.DT_DOUBLE and z.dtype.name == "float64"
    # no tensor: TF's convert_to_tensor defaults (float32 / int32)
    s = g.op("AddV2", [1.5, 2.5])
    assert s.dtype.name == "float32"
    r = g.op("Reshape", [x, [1, 2]])
    assert g.node("Reshape/shape").attr["dtype"].type == types_pb2.DT_INT32
    assert g.node("Reshape").attr["Tshape"].type == types_pb2.DT_INT32
    assert r.shape == (1, 2)
    r64 = g.op("Reshape", [x, np.array([2], np.int64)])
    assert g.node(r64.op_name).attr["Tshape"].type == types_pb2.DT_INT64


def test_string_inputs_are_names_or_string_constants() -> None:
    g = Graph()
    x = g.placeholder("x", "float32", [2])
    two = g.op("Unpack", [x], num=2)
    assert g.op("Identity", ["x:0"]).dtype.name == "float32"
    assert g.node(g.op("Identity", [f"{two.op_name}:1"]).op_name).input[:] == ["Unpack:1"]
    joined = g.op("StringJoin", [["a", "b"]], separator="-")
    assert g.node("StringJoin").input[:] == ["StringJoin/inputs_0", "StringJoin/inputs_1"]
    assert g.node("StringJoin").attr["N"].i == 2 and joined.dtype.name == "string"
    with pytest.raises(GraphError, match="no node named 'nope'"):
        g.op("Identity", ["nope"])
    with pytest.raises(GraphError, match="'Unpack' .* has 2 output.*no output 2"):
        g.op("Identity", ["Unpack:2"])


def test_list_inputs() -> None:
    g = Graph()
    a = g.placeholder("a", "float32", [2, 3])
    b = g.placeholder("b", "int32", [4])
    c = g.op("ConcatV2", [[a, a, [[0.0, 0.0, 0.0]]], 0])
    node = g.node("ConcatV2")
    assert node.input[:] == ["a", "a", "ConcatV2/values_2", "ConcatV2/axis"]
    assert node.attr["N"].i == 3 and node.attr["T"].type == F32
    assert node.attr["Tidx"].type == types_pb2.DT_INT32
    assert c.shape == (5, 3)
    ident = g.op("IdentityN", [[a, b]])
    assert list(g.node("IdentityN").attr["T"].list.type) == [F32, types_pb2.DT_INT32]
    assert [t.dtype.name for t in ident.outputs] == ["float32", "int32"]
    assert [t.shape for t in ident.outputs] == [(2, 3), (4,)]
    assert [t.name for t in ident.outputs] == ["IdentityN:0", "IdentityN:1"]
    # a single list arg may be given without the extra brackets
    packed = g.op("Pack", [a, a], axis=1)
    assert g.node("Pack").attr["N"].i == 2 and packed.shape == (2, 2, 3)
    with pytest.raises(OpError, match="'values' is a list input"):
        g.op("ConcatV2", [a, 0])


def test_multi_output_and_restore_like_ops() -> None:
    g = Graph()
    with g.name_scope("save"):
        prefix = g.constant("model")
        restore = g.op("RestoreV2", [prefix, ["b", "k"], ["", ""]],
                       dtypes=["float32", "int64"], device="/device:CPU:0")
    node = g.node("save/RestoreV2")
    assert node.device == "/device:CPU:0"
    assert node.input[:] == ["save/Const", "save/RestoreV2/tensor_names",
                             "save/RestoreV2/shape_and_slices"]
    assert [t.dtype.name for t in restore.outputs] == ["float32", "int64"]
    assert restore.outputs[1].name == "save/RestoreV2:1"
    assert g.node("save/RestoreV2/tensor_names").attr["value"].tensor.string_val[:] == [b"b", b"k"]
    ident = g.op("Identity", [restore.outputs[1]])
    assert g.node(ident.op_name).input[:] == ["save/RestoreV2:1"]
    assert ident.dtype.name == "int64"


def test_control_inputs_sorted_deduplicated_and_group() -> None:
    g = Graph()
    x = g.placeholder("x", "float32", [])
    b = g.op("Identity", [x], name="b")
    a = g.op("Identity", [x], name="a")
    out = g.op("Identity", [x], control_inputs=[b, "a", "^b", "a:0"])
    assert g.node(out.op_name).input[:] == ["x", "^a", "^b"]
    grp = g.group([b, a])
    assert grp.op_name == "group_deps" and grp.op_type == "NoOp"
    assert g.node("group_deps").input[:] == ["^a", "^b"]
    assert grp.dtype is None and grp.outputs == () and grp.shape is None
    assert g.group(a, name="init").op_name == "init"
    single = g.op("NoOp", [], control_inputs=a)
    assert g.node(single.op_name).input[:] == ["^a"]
    with pytest.raises(GraphError, match="control input 'missing'"):
        g.op("NoOp", [], control_inputs=["missing"])


def test_attr_conversion_by_declared_type() -> None:
    g = Graph()
    x = g.placeholder("x", "float32", [1, 4, 4, 2])
    g.op("MaxPool", [x], ksize=[1, 2, 2, 1], strides=(1, 2, 2, 1), padding="VALID")
    node = g.node("MaxPool")
    assert list(node.attr["ksize"].list.i) == [1, 2, 2, 1]
    assert node.attr["padding"].s == b"VALID"
    assert node.attr["data_format"].s == b"NHWC"  # default filled
    assert node.attr["T"].type == F32
    g.op("LeakyRelu", [x], alpha=1)  # an int where a float is declared
    assert g.node("LeakyRelu").attr["alpha"].f == 1.0
    ident = g.op("Identity", [x], _class=["loc:@x"], _has_manual_control_dependencies=True)
    assert list(g.node(ident.op_name).attr["_class"].list.s) == [b"loc:@x"]
    assert g.node(ident.op_name).attr["_has_manual_control_dependencies"].b is True
    raw = attr_value_pb2.AttrValue(s=b"SAME")
    g.op("AvgPool", [x], ksize=[1, 1, 1, 1], strides=[1, 1, 1, 1], padding=raw)
    assert g.node("AvgPool").attr["padding"].s == b"SAME"


# ------------------------------------------------------------------ op(): errors


def test_ops_removed_before_our_graph_version_are_rejected() -> None:
    g = Graph()
    with pytest.raises(OpError, match=r"'PlaceholderV2' is not available in GraphDef version "
                                      r"2474: TensorFlow removed it in version 23 \(Placeholder"):
        g.op("PlaceholderV2", [], dtype="float32", shape=[2])
    with pytest.raises(OpError, match=r"'BatchMatrixDiag' .* version 14 \(Use MatrixDiag\)"):
        g.op("BatchMatrixDiag", [[1.0]])
    assert len(g) == 0


def test_unknown_op_is_rejected_with_suggestion() -> None:
    with pytest.raises(OpError, match="unknown op 'Matmul'.*did you mean 'MatMul'"):
        Graph().op("Matmul", [1, 2])


def test_error_messages_name_the_offender() -> None:
    g = Graph()
    x = g.placeholder("x", "float32", [2, 2])
    i = g.placeholder("i", "int32", [2, 2])
    s = g.placeholder("s", "string", [2])
    cases = [
        (lambda: g.op("MatMul", [x]),
         r"node 'MatMul' \(MatMul\) takes 2 input\(s\) \(a, b\); got 1"),
        (lambda: g.op("MatMul", [x, i]), r"input 'b' \('i:0'\) is int32 but attr 'T' is float32"),
        (lambda: g.op("MatMul", [s, s]), r"attr 'T' is string; expected one of \[bfloat16"),
        (lambda: g.op("Placeholder", []), r"needs attr 'dtype' \(type\)"),
        (lambda: g.op("MatMul", [x, x], transpose_c=True), r"has no attr 'transpose_c'"),
        (lambda: g.op("MatMul", [x, x], transpose_a="yes"), r"attr 'transpose_a'.*expected a bool"),
        (lambda: g.op("MaxPool", [x], ksize=[1, 1, 1, 1], strides=[1, 1, 1, 1], padding="FULL"),
         r"attr 'padding' is 'FULL'; expected one of \['SAME', 'VALID', 'EXPLICIT'\]"),
        (lambda: g.op("ConcatV2", [[x], 0]), r"attr 'N' has.*1.*expected at least 2|"
                                             r"attr 'N' is 1; expected at least 2"),
        (lambda: g.op("ReadVariableOp", [x], dtype="float32"),
         r"input 'resource' must be resource"),
        (lambda: g.op("ReadVariableOp", [1], dtype="float32"), r"must be a resource handle"),
        (lambda: g.op("Cast", [x]), r"needs attr 'DstT'"),
        (lambda: g.op("AddV2", [x, "1.5"]), r"no node named '1.5'"),
        (lambda: g.op("Identity", [x], name="bad name"), r"invalid node name 'bad name'"),
        (lambda: g.op("PartitionedCall", [[x]], Tout=["float32"], f="fn"),
         r"function 'fn' is not in the graph's library; pass the Function object"),
        (lambda: g.op("MatMul", [x, g.placeholder("z", "float32", [3, 1])]),
         r"inner dimensions"),
    ]
    before = len(g)
    for call, pattern in cases:
        with pytest.raises(OpError if "node name" not in pattern else GraphError, match=pattern):
            call()
    # failed calls leave nothing behind (the placeholder 'z' was created before the MatMul)
    assert len(g) == before + 1
    assert not g.has_node("MatMul") and not g.has_node("AddV2/y")


def test_failed_op_rolls_back_auto_constants() -> None:
    g = Graph()
    x = g.placeholder("x", "float32", [2, 3])
    with pytest.raises(OpError, match="cannot reshape 6 elements"):
        g.op("Reshape", [x, [4, 2]])
    assert not g.has_node("Reshape/shape") and not g.has_node("Reshape")
    assert g.op("Reshape", [x, [3, 2]]).op_name == "Reshape"
    assert g.has_node("Reshape/shape")


def test_handles_from_another_graph() -> None:
    g = Graph()
    x = g.placeholder("x", "float32", [2])
    other = Graph()
    with pytest.raises(GraphError, match="belongs to another graph"):
        other.op("Identity", [x])
    copy = g.copy()
    assert copy.op("Identity", [x]).dtype.name == "float32"  # resolved by name in the copy
    assert not g.has_node("Identity")


# ------------------------------------------------------------------ lookups, copy, export


def test_get_tensor_has_node_node() -> None:
    g = Graph()
    x = g.placeholder("x", "float32", [2])
    u = g.op("Unpack", [x], num=2)
    assert g.get_tensor("x") == x and g.get_tensor("x:0") == x and g.get_tensor(x) == x
    assert g.get_tensor("Unpack:1") == u.outputs[1]
    assert hash(g.get_tensor("Unpack:1")) == hash(u.outputs[1])
    assert g.has_node("Unpack") and not g.has_node("Unpack:1") and "x" in g
    assert g.node("x").op == "Placeholder"
    with pytest.raises(NotFoundError, match="no node named 'y'"):
        g.get_tensor("y:0")
    with pytest.raises(NotFoundError, match="has 2 output.*no output 2"):
        g.get_tensor("Unpack:2")
    with pytest.raises(NotFoundError):
        g.node("nope")
    with pytest.raises(KeyError):
        g.node("nope")
    noop = g.group([x])
    assert g.get_tensor(noop.op_name) == noop and "NoOp" in repr(noop)


def test_copy_is_independent_but_shares_variable_values() -> None:
    g = Graph()
    value = np.ones(2, np.float32)
    g.variable("v", value)
    g.asset("vocab.txt")
    with g.name_scope("save"):
        g.constant(1)
    c = g.copy()
    with c.name_scope("save"):
        extra = c.constant(2)
    assert extra.op_name == "save_1/Const"
    c.node("v").attr["shared_name"].s = b"changed"
    assert g.node("v").attr["shared_name"].s == b"v"
    assert not g.has_node("save_1/Const")
    # values are read-only to the graph: the user's array itself, in both graphs
    assert g.variables[0].value is value and c.variables[0].value is value
    assert c.assets == g.assets
    assert c.as_graph_def().node[:len(g)] != [] and len(c) == len(g) + 1


def test_as_graph_def() -> None:
    g = Graph()
    x = g.placeholder("x", "float32", [None, 3])
    g.op("Relu", [g.op("MatMul", [x, np.ones((3, 2), np.float32)])])
    graph_def = g.as_graph_def()
    assert isinstance(graph_def, graph_pb2.GraphDef)
    assert graph_def.versions.producer == 2474
    assert [n.name for n in graph_def.node] == ["x", "MatMul/b", "MatMul", "Relu"]
    graph_def.node[0].name = "changed"
    assert g.has_node("x")  # a copy
    shaped = g.as_graph_def(add_shapes=True)
    shapes = {n.name: [[d.size for d in s.dim] for s in n.attr["_output_shapes"].list.shape]
              for n in shaped.node}
    assert shapes == {"x": [[-1, 3]], "MatMul/b": [[3, 2]], "MatMul": [[-1, 2]],
                      "Relu": [[-1, 2]]}
    # Ops without outputs get no _output_shapes attr at all (TF leaves it out, rather
    # than writing an empty list).
    g.group([x], name="done")
    var = g.variable("v", np.zeros(2, np.float32))
    g.op("AssignVariableOp", ["v", var], name="assign")
    nodes = {n.name: n for n in g.as_graph_def(add_shapes=True).node}
    assert "_output_shapes" not in nodes["done"].attr
    assert "_output_shapes" not in nodes["assign"].attr
    assert len(nodes["v"].attr["_output_shapes"].list.shape) == 1


# ------------------------------------------------------------------ from_dict


def _dict_graph() -> dict[str, Any]:
    return {"node": [
        {"name": "x", "op": "Placeholder", "attr": {"dtype": "float32", "shape": [None, 3]}},
        {"name": "w", "op": "Const",
         "attr": {"dtype": "float32", "value": np.ones((3, 2), np.float32)}},
        {"name": "mm", "op": "MatMul", "input": ["x", "w"],
         "attr": {"T": "float32", "transpose_b": False}},
        {"name": "pool_in", "op": "Placeholder",
         "attr": {"dtype": "float32", "shape": [1, 4, 4, -1]}},
        {"name": "pool", "op": "MaxPool", "input": ["pool_in"], "device": "/device:CPU:0",
         "attr": {"T": "float32", "ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1],
                  "padding": "VALID", "_class": ["loc:@pool_in"]}},
        {"name": "lk", "op": "LeakyRelu", "input": ["mm"], "attr": {"T": "float32", "alpha": 0.1}},
        {"name": "v", "op": "VarHandleOp",
         "attr": {"dtype": "int64", "shape": [2], "shared_name": "v"}},
        {"name": "r", "op": "RestoreV2", "input": ["p", "n", "n"],
         "attr": {"dtypes": ["int64"]}},
        {"name": "p", "op": "Const", "attr": {"dtype": "string", "value": np.array(b"m")}},
        {"name": "n", "op": "Const", "attr": {"dtype": "string", "value": np.array([b""])}},
        {"name": "shp", "op": "Placeholder", "attr": {"dtype": "string", "shape": None}},
        {"name": "ps", "op": "ParseExampleV2",
         "input": ["shp", "n", "n", "n", "n"],
         "attr": {"Tdense": [], "num_sparse": 0, "sparse_types": [], "ragged_value_types": [],
                  "ragged_split_types": [], "dense_shapes": []}},
        {"name": "init", "op": "NoOp", "input": ["^mm", "^r"]},
    ]}


def test_from_dict_converts_every_attr_kind() -> None:
    g = Graph.from_dict(_dict_graph())
    assert g.node("x").attr["dtype"].type == F32
    assert [d.size for d in g.node("x").attr["shape"].shape.dim] == [-1, 3]
    assert g.node("pool_in").attr["shape"].shape.dim[3].size == -1
    assert g.node("shp").attr["shape"].shape.unknown_rank
    assert tensor_proto_to_numpy(g.node("w").attr["value"].tensor).tolist() == [[1, 1]] * 3
    assert g.node("mm").attr["transpose_a"].b is False  # default filled
    assert g.node("mm").attr["grad_a"].b is False
    assert list(g.node("pool").attr["ksize"].list.i) == [1, 2, 2, 1]
    assert g.node("pool").attr["padding"].s == b"VALID"
    assert g.node("pool").device == "/device:CPU:0"
    assert list(g.node("pool").attr["_class"].list.s) == [b"loc:@pool_in"]
    assert g.node("lk").attr["alpha"].f == pytest.approx(0.1)
    assert list(g.node("r").attr["dtypes"].list.type) == [types_pb2.DT_INT64]
    assert g.node("ps").attr["num_sparse"].i == 0
    assert g.node("ps").attr["dense_shapes"].HasField("list")
    assert g.get_tensor("mm").shape == (None, 2)
    assert g.get_tensor("pool").shape == (1, 2, 2, None)
    assert g.get_tensor("r").dtype.name == "int64"
    assert g.node("init").input[:] == ["^mm", "^r"]
    spec = g.variables
    assert [(v.node_name, v.shared_name, v.dtype.name, v.shape, v.value, v.read_tensor_name)
            for v in spec] == [("v", "v", "int64", (2,), None, None)]


def test_from_dict_equals_the_same_graph_built_with_op() -> None:
    built = Graph()
    x = built.placeholder("x", "float32", [None, 3])
    w = built.constant(np.ones((3, 2), np.float32), name="w")
    built.op("MatMul", [x, w], name="mm")
    loaded = Graph.from_dict({"node": [
        {"name": "x", "op": "Placeholder", "attr": {"dtype": "float32", "shape": [-1, 3]}},
        {"name": "w", "op": "Const",
         "attr": {"dtype": "float32", "value": np.ones((3, 2), np.float32)}},
        {"name": "mm", "op": "MatMul", "input": ["x", "w"], "attr": {"T": "float32"}},
    ]})
    assert loaded.as_graph_def() == built.as_graph_def()
    # names in use carry over: a new op does not clash
    assert loaded.op("MatMul", ["x", "w"], name="mm").op_name == "mm_1"


def test_graph_def_and_bytes_round_trip() -> None:
    original = Graph.from_dict(_dict_graph()).as_graph_def()
    data = original.SerializeToString(deterministic=True)
    from_message = Graph.from_dict(original)
    from_bytes = Graph.from_dict(data)
    from_memoryview = Graph.from_dict(memoryview(data))

    class Foreign:  # any protobuf class with the GraphDef wire format (TF's own)
        def SerializeToString(self) -> bytes:
            return data

    from_foreign = Graph.from_dict(Foreign())
    for graph in (from_message, from_bytes, from_memoryview, from_foreign):
        assert graph.as_graph_def().SerializeToString(deterministic=True) == data


def test_from_graph_def_fills_stripped_defaults(fixtures_dir: Path) -> None:
    saved = saved_model_pb2.SavedModel.FromString(
        (fixtures_dir / "savedmodel_v1_builder" / "saved_model.pb").read_bytes())
    graph_def = saved.meta_graphs[0].graph_def
    g = Graph.from_dict(graph_def)
    assert [n.name for n in g.nodes] == [n.name for n in graph_def.node]
    assert g.get_tensor("probs").shape == (None, 2)
    assert g.get_tensor("probs").dtype.name == "float32"
    assert {v.node_name for v in g.variables} == {"dense/kernel", "dense/bias"}
    assert {v.read_tensor_name for v in g.variables} == {
        "dense/kernel/Read/ReadVariableOp:0", "dense/bias/Read/ReadVariableOp:0"}
    stripped = graph_pb2.GraphDef()
    stripped.CopyFrom(graph_def)
    for node in stripped.node:
        if node.op == "MatMul":
            del node.attr["transpose_a"]
    again = Graph.from_dict(stripped)
    assert again.node("MatMul").attr["transpose_a"].b is False
    # as in TF after import_graph_def: the scope is free, the node names are taken
    with g.name_scope("save") as scope:
        assert scope == "save/"
        assert g.constant(1, name="filename").op_name == "save/filename_1"


def _tensor(*, dtype: int, dims: list[int], **fields: Any) -> tensor_pb2.TensorProto:
    proto = tensor_pb2.TensorProto(dtype=dtype, **fields)
    for dim in dims:
        proto.tensor_shape.dim.add(size=dim)
    return proto


@pytest.mark.parametrize("nodes, error, pattern", [
    ([{"name": "a", "op": "Matmul"}], OpError, r"node 'a': unknown op 'Matmul'.*'MatMul'"),
    ([{"name": "a", "op": "NoOp"}, {"name": "a", "op": "NoOp"}], GraphError,
     r"duplicate node name 'a'"),
    ([{"name": "_a", "op": "NoOp"}], GraphError, r"invalid node name '_a'"),
    ([{"name": "a", "op": "Identity", "input": ["b"], "attr": {"T": "float32"}}], GraphError,
     r"node 'a' \(Identity\) input 'b' names no node"),
    ([{"name": "a", "op": "NoOp", "input": ["^b"]}], GraphError,
     r"node 'a' \(NoOp\) control input '\^b' names no node"),
    ([{"name": "p", "op": "Placeholder", "attr": {"dtype": "float32"}},
      {"name": "a", "op": "Identity", "input": ["p:1"], "attr": {"T": "float32"}}], GraphError,
     r"input 'p:1': node 'p' \(Placeholder\) has 1 output"),
    ([{"name": "a", "op": "Identity", "input": ["b"], "attr": {"T": "float32"}},
      {"name": "b", "op": "Identity", "input": ["a"], "attr": {"T": "float32"}}], GraphError,
     r"cycle: (a -> b -> a|b -> a -> b)"),
    ([{"name": "p", "op": "Placeholder", "attr": {"dtype": "float32"}},
      {"name": "a", "op": "Identity", "input": ["p", "^b"], "attr": {"T": "float32"}},
      {"name": "b", "op": "NoOp", "input": ["^a"]}], GraphError, r"cycle"),
    ([{"name": "a", "op": "NoOp", "input": ["^a"]}], GraphError, r"cycle: a -> a"),
    ([{"name": "p", "op": "Placeholder", "attr": {"dtype": 3.5}}], OpError,
     r"node 'p' \(Placeholder\) attr 'dtype'"),
    ([{"name": "p", "op": "Placeholder", "attr": {"dtype": "float33"}}], OpError,
     r"attr 'dtype'.*unknown dtype name 'float33'"),
    ([{"name": "p", "op": "Placeholder", "attr": {"dtype": "float32", "color": "red"}}],
     OpError, r"attr 'color', which Placeholder does not declare"),
    ([{"name": "p", "op": "Placeholder"}], OpError,
     r"node 'p' \(Placeholder\) needs attr 'dtype' \(type\); it has no default and cannot "
     r"be inferred from the inputs"),
    ([{"name": "p", "op": "Placeholder", "attr": {"dtype": "float32"}},
      {"name": "a", "op": "MatMul", "input": ["p"], "attr": {"T": "float32"}}], OpError,
     r"node 'a' \(MatMul\) has 1 data input\(s\); its op and attrs expect 2 \(a, b\)"),
    ([{"name": "p", "op": "Placeholder", "attr": {"dtype": "int32"}},
      {"name": "a", "op": "Relu", "input": ["p"], "attr": {"T": "float32"}}], OpError,
     r"node 'a' \(Relu\) input 'features' \('p'\) is int32 but attr 'T' is float32 "
     r"\(given\)"),
    ([{"name": "p", "op": "Placeholder", "attr": {"dtype": "string"}},
      {"name": "a", "op": "Relu", "input": ["p"], "attr": {"T": "string"}}], OpError,
     r"node 'a' \(Relu\) attr 'T' is string; expected one of"),
    ([{"name": "p", "op": "Placeholder", "attr": {"dtype": "float32"}},
      {"name": "q", "op": "NoOp"},
      {"name": "a", "op": "Relu", "input": ["^q", "p"], "attr": {"T": "float32"}}], GraphError,
     r"node 'a' \(Relu\) data input 'p' comes after a control input"),
    ([{"name": "a", "op": "NoOp", "extra": 1}], GraphError, r"unknown keys \['extra'\]"),
    ([{"name": "a", "op": "StatefulPartitionedCall",
       "attr": {"Tin": [], "Tout": [], "f": "my_fn"}}], OpError,
     r"node 'a' \(StatefulPartitionedCall\) attr 'f' calls function 'my_fn', which the "
     r"graph's library does not define"),
    ([{"name": "p", "op": "PlaceholderV2", "attr": {"dtype": "float32", "shape": None}}],
     OpError, r"node 'p': op 'PlaceholderV2' is not available in GraphDef version 2474: "
              r"TensorFlow removed it in version 23"),
    ([{"name": "c", "op": "Const", "attr": {"dtype": "int32", "value": [1.5]}}], OpError,
     r"node 'c' \(Const\) attr 'value': .*1.5.*int32"),
    ([{"name": "c", "op": "Const", "attr": {"dtype": "int32",
                                            "value": np.array([1.5], np.float32)}}], OpError,
     r"node 'c' \(Const\) attr 'value'.*int32"),
    ([{"name": "c", "op": "Const", "attr": {
        "dtype": "float32", "value": attr_value_pb2.AttrValue(tensor=_tensor(
            dtype=types_pb2.DT_INT32, dims=[1], int_val=[1]))}}], OpError,
     r"node 'c' \(Const\) attr 'value' holds a int32 tensor but attr 'dtype' is float32"),
    ([{"name": "c", "op": "Const", "attr": {
        "dtype": "float32", "value": attr_value_pb2.AttrValue(tensor=_tensor(
            dtype=types_pb2.DT_FLOAT, dims=[3], tensor_content=b"\0" * 8))}}], OpError,
     r"node 'c' \(Const\) attr 'value' has 8 bytes of tensor_content; shape \[3\] of "
     r"float32 needs 12"),
    ([{"name": "c", "op": "Const", "attr": {
        "dtype": "float32", "value": attr_value_pb2.AttrValue(tensor=_tensor(
            dtype=types_pb2.DT_FLOAT, dims=[-1], float_val=[1.0]))}}], OpError,
     r"node 'c' \(Const\) attr 'value' has shape \(None,\); a constant needs a fully"),
    ([{"name": "c", "op": "Const", "attr": {
        "dtype": "float32", "value": attr_value_pb2.AttrValue(tensor=_tensor(
            dtype=types_pb2.DT_FLOAT, dims=[1], float_val=[1.0, 2.0]))}}], OpError,
     r"node 'c' \(Const\) attr 'value' is not a valid tensor: tensor holds 2 values"),
])
def test_from_dict_errors(nodes: list[dict[str, Any]], error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        Graph.from_dict({"node": nodes})


def test_from_dict_const_takes_its_dtype() -> None:
    g = Graph.from_dict({"node": [
        {"name": "c", "op": "Const", "attr": {"dtype": "float64", "value": [1, 2]}},
        {"name": "s", "op": "Const", "attr": {"dtype": "string", "value": ["a", b"b"]}},
    ]})
    assert g.get_tensor("c").dtype.name == "float64" and g.get_tensor("c").shape == (2,)
    assert tensor_proto_to_numpy(g.node("c").attr["value"].tensor).dtype == np.float64
    assert list(g.node("s").attr["value"].tensor.string_val) == [b"a", b"b"]


def test_from_dict_rejects_bad_containers() -> None:
    with pytest.raises(GraphError, match="expected a graph dict"):
        Graph.from_dict(42)
    with pytest.raises(GraphError, match="'node'"):
        Graph.from_dict({"node": "x"})
    with pytest.raises(GraphError, match="not a serialized GraphDef"):
        Graph.from_dict(b"\xff\xff\xff")
    with pytest.raises(GraphError, match="library"):
        Graph.from_dict({"node": [], "library": {"function": [1]}})


def test_validate_catches_edits_to_stored_nodes() -> None:
    g = Graph()
    x = g.placeholder("x", "float32", [2])
    g.op("Relu", [x], name="y")
    g.validate()
    g.node("y").input.append("ghost")
    with pytest.raises(GraphError, match="node 'y' \\(Relu\\) input 'ghost' names no node"):
        g.as_graph_def()
    del g.node("y").input[1]
    g.node("y").attr["T"].type = types_pb2.DT_STRING
    with pytest.raises(OpError, match="node 'y' \\(Relu\\) attr 'T' is string; expected one of"):
        g.validate()
    g.node("y").attr["T"].type = types_pb2.DT_DOUBLE
    with pytest.raises(OpError, match="input 'features' \\('x'\\) is float32; expected float64"):
        g.validate()


# ------------------------------------------------------------------ TF's saver subgraph


def test_tf_saver_subgraph_node_for_node(fixtures_dir: Path) -> None:
    """The save/restore subgraph TF's v1 builder writes, rebuilt with Graph.op()."""
    theirs = saved_model_pb2.SavedModel.FromString(
        (fixtures_dir / "savedmodel_v1_builder" / "saved_model.pb").read_bytes()
    ).meta_graphs[0].graph_def.node
    g = Graph()
    kernel = g.variable("dense/kernel", np.ones((3, 2), np.float32))
    bias = g.variable("dense/bias", np.ones(2, np.float32))
    cpu, any_cpu = "/device:CPU:0", "/device:CPU:*"
    manual = {"_has_manual_control_dependencies": True}
    with g.name_scope("save"):
        with g.name_scope("filename") as scope:
            default = g.constant("model", name="input")
            filename = g.op("PlaceholderWithDefault", [default], name=scope, shape=[])
        const = g.op("PlaceholderWithDefault", [filename], name="Const", shape=[])
        is_s3 = g.op("StaticRegexFullMatch", [const], pattern="^s3://.*", device=any_cpu)
        part = g.op("Const", [], value=np.array(b".part", dtype=object), dtype="string",
                    device=any_cpu)
        temp = g.op("Const", [], value=np.array(b"_temp/part", dtype=object), dtype="string",
                    device=any_cpu)
        suffix = g.op("Select", [is_s3, part, temp], device=any_cpu)
        joined = g.op("StringJoin", [[const, suffix]], device=any_cpu)
        num_shards = g.constant(1, name="num_shards")
        sharded = g.op("ShardedFilename", [joined, 0, num_shards], device=cpu)
        save = g.op("SaveV2", [sharded, ["dense/bias", "dense/kernel"], ["", ""],
                               [bias, kernel]], device=cpu, **manual)
        dep = g.op("Identity", [sharded], name="control_dependency", control_inputs=[save],
                   device=cpu, _class=["loc:@save/ShardedFilename"], **manual)
        with g.name_scope("MergeV2Checkpoints") as scope:
            prefixes = g.op("Pack", [[sharded]], name="checkpoint_prefixes",
                            control_inputs=[dep], device=cpu)
            merge = g.op("MergeV2Checkpoints", [prefixes, const], name=scope, device=cpu,
                         **manual)
        g.op("Identity", [const], control_inputs=[merge, dep], device=cpu)
        restore = g.op("RestoreV2", [const, ["dense/bias", "dense/kernel"], ["", ""]],
                       dtypes=["float32", "float32"], device=cpu)
        assigns = []
        for i, var in enumerate(["dense/bias", "dense/kernel"]):
            value = g.op("Identity", [restore.outputs[i]])
            assigns.append(g.op("AssignVariableOp", [var, value], **manual))
        shard = g.op("NoOp", [], name="restore_shard", control_inputs=assigns, **manual)
        g.group([shard], name="restore_all")
    # with _output_shapes: our shape inference agrees with TF's on every node
    ours = [n for n in g.as_graph_def(add_shapes=True).node if n.name.startswith("save")]
    expected = [n for n in theirs if n.name.startswith("save")]
    assert [n.name for n in ours] == [n.name for n in expected]
    for mine, tf_node in zip(ours, expected):
        assert mine == tf_node, mine.name
    assert g.get_tensor("save/Identity").dtype.name == "string"
    assert g.get_tensor("save/Identity").shape == ()


def test_inferred_output_shapes_match_tensorflows_for_the_fixture(fixtures_dir: Path) -> None:
    """Import TF's graphs without their _output_shapes; ours must equal TF's, node by node."""
    saved = saved_model_pb2.SavedModel.FromString(
        (fixtures_dir / "savedmodel_v1_builder" / "saved_model.pb").read_bytes())
    for meta in saved.meta_graphs:
        stripped = graph_pb2.GraphDef()
        stripped.CopyFrom(meta.graph_def)
        for node in stripped.node:
            if "_output_shapes" in node.attr:
                del node.attr["_output_shapes"]
        rebuilt = Graph.from_dict(stripped).as_graph_def(add_shapes=True)
        assert len(rebuilt.node) == len(meta.graph_def.node) > 40
        for ours, theirs in zip(rebuilt.node, meta.graph_def.node):
            assert ours == theirs, ours.name
        assert rebuilt.versions == meta.graph_def.versions


def test_op_types_lists_every_node_in_creation_order() -> None:
    g = Graph()
    x = g.placeholder("x", "float32", [None, 2])
    g.op("Relu", [g.op("MatMul", [x, g.constant(np.ones((2, 2), np.float32), name="w")])])
    assert g.op_types() == {"x": "Placeholder", "w": "Const", "MatMul": "MatMul",
                            "Relu": "Relu"}
    assert list(g.op_types()) == [n.name for n in g.nodes]


def test_node_view_reads_what_the_node_def_says_and_follows_edits() -> None:
    g = Graph()
    x = g.placeholder("x", "float32", [None, 2])
    g.op("Relu", [x], name="r", device="/device:CPU:0", control_inputs=[x])
    view = g.node_view("r")
    assert (view.name, view.op, list(view.input), view.device) == (
        "r", "Relu", ["x", "^x"], "/device:CPU:0")
    assert view.attr["T"].type == types_pb2.DT_FLOAT
    g.node("r").device = "/device:CPU:1"  # the handed-out NodeDef is the node from now on
    assert g.node_view("r").device == "/device:CPU:1"
    with pytest.raises(NotFoundError, match="'nope'"):
        g.node_view("nope")


def _copy_source() -> Graph:
    g = Graph()
    x = g.placeholder("x", "float32", [None, 2])
    w = g.constant(np.ones((2, 3), np.float32), name="w")
    g.op("Relu", [g.op("MatMul", [x, w], name="mm")], name="r", device="/device:CPU:0")
    return g


def test_copy_nodes_from_takes_the_node_over_with_renamed_inputs() -> None:
    source = _copy_source()
    target = Graph()
    target.placeholder("arg_x", "float32", [None, 2])
    assert target.copy_nodes_from(source, ["w"], {})
    assert target.copy_nodes_from(source, ["mm"], {"x": "arg_x"})
    assert target.copy_nodes_from(source, ["r"], {})
    want = Graph()
    want.placeholder("arg_x", "float32", [None, 2])
    want.constant(np.ones((2, 3), np.float32), name="w")
    want.op("Relu", [want.op("MatMul", ["arg_x", "w"], name="mm")], name="r",
            device="/device:CPU:0")
    assert target.as_graph_def() == want.as_graph_def()  # what op() adds, byte for byte
    assert target.get_tensor("r").shape == (None, 3)
    target.validate()
    assert target.unique_name("mm") == "mm_1"  # the copied names are taken


@pytest.mark.parametrize("case", ["exposed", "control", "dtype", "shape", "missing", "taken"])
def test_copy_nodes_from_refuses_what_it_cannot_trust(case: str) -> None:
    source = _copy_source()
    target = Graph()
    target.placeholder("arg_x", "float64" if case == "dtype" else "float32",
                       [None, 5] if case == "shape" else [None, 2])
    if case != "missing":
        target.constant(np.ones((2, 3), np.float32), name="w")
    rename = {"x": "arg_x"}
    if case == "exposed":
        source.node("mm").attr["transpose_a"].b = True  # handed out: may have been edited
    if case == "control":
        source.op("Identity", [source.get_tensor("mm")], name="ctl", control_inputs=["x"])
        assert target.copy_nodes_from(source, ["mm"], rename)
        assert not target.copy_nodes_from(source, ["ctl"], rename)
        return
    if case == "taken":
        target.placeholder("mm", "float32", [])
    before = target.op_types()
    assert not target.copy_nodes_from(source, ["mm"], rename)
    assert target.op_types() == before  # nothing added


def test_copy_nodes_from_is_all_or_nothing_and_renames_within_a_graph() -> None:
    g = _copy_source()
    g.placeholder("y", "float32", [None, 2])
    # mm and r again, reading y, under new names (inputs within the batch renamed too)
    assert g.copy_nodes_from(g, ["mm", "r"], {"x": "y"}, ["mm_y", "r_y"])
    assert list(g.node_view("mm_y").input) == ["y", "w"]
    assert list(g.node_view("r_y").input) == ["mm_y"]
    g.validate()
    g.op("Identity", [g.get_tensor("mm")], name="ctl", control_inputs=["x"])
    before = g.op_types()
    # the first node could be copied, the second not (a control input): neither is added
    assert not g.copy_nodes_from(g, ["mm", "ctl"], {"x": "y"}, ["mm_c", "ctl_c"])
    # consumer listed before its input, a name twice: refused
    assert not g.copy_nodes_from(g, ["r", "mm"], {"x": "y"}, ["r_2", "mm_2"])
    assert not g.copy_nodes_from(g, ["mm", "r"], {"x": "y"}, ["dup", "dup"])
    assert g.op_types() == before


def test_copy_nodes_from_leaves_out_underscore_attrs_only() -> None:
    source = Graph.from_dict(_copy_source().as_graph_def(add_shapes=True))
    target = Graph()
    target.placeholder("x", "float32", [None, 2])
    assert target.copy_nodes_from(source, ["w", "mm"], {}, drop_attrs=("_output_shapes",))
    assert "_output_shapes" in source.node_view("mm").attr
    assert "_output_shapes" not in target.node_view("mm").attr
    assert set(target.node_view("mm").attr) == set(source.node_view("mm").attr) - {"_output_shapes"}
    with pytest.raises(InvalidArgumentError, match="only '_' attrs"):
        target.copy_nodes_from(source, ["r"], {}, drop_attrs=("T",))


def test_fill_node_defs_skips_names_and_builds_no_library() -> None:
    inner = pysavedmodel.Function("inner_1")
    a = inner.arg("a", "float32")
    inner.ret("out", inner.graph.op("Relu", [a]))
    g = Graph()
    x = g.placeholder("x", "float32", [])
    g.op("PartitionedCall", [[x]], f=inner, name="call")
    fdef = function_pb2.FunctionDef()
    g.fill_node_defs(fdef.node_def, skip={"x"})
    assert [n.name for n in fdef.node_def] == ["call"]
    assert [n.name for n in g.as_graph_def().node] == ["x", "call"]
    assert [f.signature.name for f in g.as_graph_def().library.function] == ["inner_1"]


def _variables_graph() -> Graph:
    g = Graph()
    for i in range(2):
        g.variable(f"w{i}", np.ones((2, 3), np.float32))  # w1's read copied from w0's
    g.variable("b", np.zeros(3, np.float32))
    g.variable("n", np.arange(3, dtype=np.int64))
    g.node("w0/Read/ReadVariableOp")  # handed out: not copied from, w2's read is added
    g.variable("w2", np.ones((2, 3), np.float32))
    g.constant(np.float32(1), name="w3/Read/ReadVariableOp")  # w3's read name is taken
    g.variable("w3", np.ones((2, 3), np.float32))
    g.variable("w4", np.ones((2, 3), np.float32))
    return g


def test_variable_reads_copied_from_an_earlier_variable_are_what_op_adds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Graph.variable copies the read of an earlier variable of the same dtype and shape
    (Graph.copy_nodes_from); the graph is the one adding each read writes."""
    copied = _variables_graph()
    monkeypatch.setattr(Graph, "copy_nodes_from", lambda *args, **kwargs: False)
    added = _variables_graph()
    assert copied.as_graph_def(add_shapes=True) == added.as_graph_def(add_shapes=True)
    assert copied.get_tensor("w3/Read/ReadVariableOp_1").shape == (2, 3)
    assert [v.read_tensor_name for v in copied.variables] == \
        [v.read_tensor_name for v in added.variables]
    copied.validate()
