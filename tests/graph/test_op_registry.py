"""The packaged op registry: TF 2.21's 1,908 ops."""

from __future__ import annotations

from pathlib import Path

import pytest

from pysavedmodel._proto import graph_pb2, saved_model_pb2, types_pb2
from pysavedmodel.errors import GraphError, OpError
from pysavedmodel.graph import attrs, op_registry


def test_registry_holds_every_tf_2_21_op() -> None:
    names = op_registry.all_op_names()
    assert len(names) == 1908
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    for name in ("MatMul", "Const", "Placeholder", "VarHandleOp", "RestoreV2", "SaveV2",
                 "MergeV2Checkpoints", "HashTableV2", "Conv2D", "StringJoin"):
        assert op_registry.has_op(name)
    assert not op_registry.has_op("Matmul")


def test_ops_parsed_one_by_one_equal_the_whole_oplist() -> None:
    import zlib

    from pysavedmodel._proto import op_def_pb2

    packaged = (Path(op_registry.__file__).parent / "ops.pb.zlib").read_bytes()
    whole = op_def_pb2.OpList.FromString(zlib.decompress(packaged))
    assert [op.name for op in whole.op] == op_registry.all_op_names()
    for op in whole.op:
        assert op_registry.get_op_def(op.name) == op, op.name
    assert op_registry.get_op_def("MatMul") is op_registry.get_op_def("MatMul")


def test_split_reads_names_wherever_they_are() -> None:
    from pysavedmodel._proto import op_def_pb2

    long_name = "Op" + "x" * 200  # a two-byte length
    ops = [op_def_pb2.OpDef(name="A", attr=[op_def_pb2.OpDef.AttrDef(name="T", type="type")]),
           op_def_pb2.OpDef(name=long_name), op_def_pb2.OpDef(name="Ünïcode")]
    last = op_def_pb2.OpDef(is_stateful=True)  # its name after the other fields
    late = last.SerializeToString() + op_def_pb2.OpDef(name="Late").SerializeToString()
    listed = op_def_pb2.OpList(op=ops).SerializeToString() + b"\n" + bytes([len(late)]) + late
    split = op_registry._split(listed)
    assert list(split) == ["A", long_name, "Ünïcode", "Late"]
    for op in ops:
        assert op_def_pb2.OpDef.FromString(split[op.name]) == op
    assert op_def_pb2.OpDef.FromString(split["Late"]).is_stateful


def test_every_registry_default_fits_its_attr_def() -> None:
    # Graph.op stores defaults without checking them again; this is what makes that safe.
    checked = 0
    for name in op_registry.all_op_names():
        op_def = op_registry.get_op_def(name)
        for attr_def in op_def.attr:
            if attr_def.HasField("default_value"):
                attrs.check_attr_value(attr_def.default_value, attr_def, name)
                attrs.check_no_function(attr_def.default_value, name)
                checked += 1
    assert checked > 1000


def test_attr_defs_is_the_op_defs_attrs_by_name() -> None:
    op_def = op_registry.get_op_def("MatMul")
    by_name = op_registry.attr_defs(op_def)
    assert list(by_name) == [a.name for a in op_def.attr]
    assert by_name["T"] is not None and by_name["T"].type == "type"
    assert op_registry.attr_defs(op_def) is by_name  # memoized


def test_graph_def_version_is_tf_2_21s() -> None:
    assert op_registry.TF_GRAPH_DEF_VERSION == 2474


def test_matmul_op_def() -> None:
    op = op_registry.get_op_def("MatMul")
    assert [(a.name, a.type_attr) for a in op.input_arg] == [("a", "T"), ("b", "T")]
    assert [(a.name, a.type_attr) for a in op.output_arg] == [("product", "T")]
    attrs = {a.name: a for a in op.attr}
    assert set(attrs) == {"transpose_a", "transpose_b", "T", "grad_a", "grad_b"}
    assert attrs["transpose_a"].type == "bool" and attrs["transpose_a"].default_value.b is False
    assert types_pb2.DT_FLOAT in attrs["T"].allowed_values.list.type
    assert types_pb2.DT_STRING not in attrs["T"].allowed_values.list.type
    assert not op.summary and not op.description


def test_descriptions_are_cleared_everywhere() -> None:
    for name in op_registry.all_op_names():
        op = op_registry.get_op_def(name)
        assert not op.summary and not op.description, name
        for arg in list(op.input_arg) + list(op.output_arg):
            assert not arg.description, name
        for attr in op.attr:
            assert not attr.description, name


def test_other_known_signatures() -> None:
    var = op_registry.get_op_def("VarHandleOp")
    assert [a.type for a in var.output_arg] == [types_pb2.DT_RESOURCE]
    assert var.is_stateful
    concat = op_registry.get_op_def("ConcatV2")
    assert [(a.name, a.number_attr, a.type_attr) for a in concat.input_arg] == [
        ("values", "N", "T"), ("axis", "", "Tidx")]
    assert {a.name: a.minimum for a in concat.attr}["N"] == 2
    restore = op_registry.get_op_def("RestoreV2")
    assert restore.output_arg[0].type_list_attr == "dtypes"


@pytest.mark.parametrize("wrong, right", [
    ("Matmul", "MatMul"), ("matmul", "MatMul"), ("ConcatV3", "ConcatV2"),
    ("Placeholdr", "Placeholder"), ("Softmaxx", "Softmax"), ("AssignVariable", "AssignVariableOp"),
])
def test_unknown_op_suggests_the_closest_name(wrong: str, right: str) -> None:
    with pytest.raises(OpError, match=f"unknown op '{wrong}'.*did you mean '{right}'"):
        op_registry.get_op_def(wrong)


def test_unknown_op_without_close_name() -> None:
    with pytest.raises(OpError) as info:
        op_registry.get_op_def("Zzzzzzzzzzzzzzzzzz")
    assert "did you mean" not in str(info.value)
    assert isinstance(info.value, GraphError) and isinstance(info.value, ValueError)


def test_stripped_op_list_matches_tensorflows(fixtures_dir: Path) -> None:
    saved = saved_model_pb2.SavedModel.FromString(
        (fixtures_dir / "savedmodel_v1_builder" / "saved_model.pb").read_bytes())
    for meta in saved.meta_graphs:
        ours = op_registry.stripped_op_list(meta.graph_def)
        theirs = meta.meta_info_def.stripped_op_list
        assert ours.SerializeToString(deterministic=True) == \
            theirs.SerializeToString(deterministic=True)


def test_stripped_op_list_is_sorted_unique_and_a_copy() -> None:
    graph_def = graph_pb2.GraphDef()
    for name, op in [("b", "Softmax"), ("a", "Const"), ("c", "Const"), ("d", "AddV2")]:
        graph_def.node.add(name=name, op=op)
    ops = op_registry.stripped_op_list(graph_def)
    assert [op.name for op in ops.op] == ["AddV2", "Const", "Softmax"]
    ops.op[0].name = "changed"
    assert op_registry.get_op_def("AddV2").name == "AddV2"


def test_stripped_op_list_rejects_unknown_ops() -> None:
    graph_def = graph_pb2.GraphDef()
    graph_def.node.add(name="x", op="NotAnOp")
    with pytest.raises(OpError, match="NotAnOp"):
        op_registry.stripped_op_list(graph_def)
