"""Robustness: ``Graph.from_dict`` on hostile input raises a pysavedmodel.Error or succeeds.

Inputs: random bytes; serialized GraphDefs of the TF 2.21 fixture (the
``savedmodel_v1_builder`` meta graphs) with random byte damage; the same GraphDefs
with one node altered structurally (op, name, inputs, attrs set to odd AttrValues);
and node dicts built from random values (wrong types for every field, attrs holding
None, nested lists, huge ints, NaN, bytes, numpy arrays of odd dtypes, shapes with
strings).  Allowed outcomes: a valid Graph, or an exception from the Error family
(GraphError/OpError/InvalidArgumentError/UnsupportedDTypeError).

Examples are derandomized so CI is deterministic.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pysavedmodel._proto import attr_value_pb2, graph_pb2, saved_model_pb2, tensor_pb2
from pysavedmodel.errors import Error, GraphError, OpError
from pysavedmodel.graph import attrs as graph_attrs
from pysavedmodel.graph.graph import Graph
from tests.support.damage import kinds as damage_kinds
from tests.support.damage import mutate
from tests.support.tf import FIXTURES

_SAVED_MODEL = saved_model_pb2.SavedModel.FromString(
    (FIXTURES / "savedmodel_v1_builder" / "saved_model.pb").read_bytes())
GRAPH_DEFS = [meta.graph_def for meta in _SAVED_MODEL.meta_graphs]
SERIALIZED = [g.SerializeToString(deterministic=True) for g in GRAPH_DEFS]

_FUZZ = settings(derandomize=True, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                        HealthCheck.filter_too_much])


def fuzz(max_examples: int) -> settings:
    """Deterministic (derandomized) settings with ``max_examples`` examples."""
    return settings(_FUZZ, max_examples=max_examples)


def _import(source: Any) -> None:
    """Import; on success the graph must export and validate again."""
    try:
        graph = Graph.from_dict(source)
    except Error:
        return
    graph_def = graph.as_graph_def()
    assert len(graph_def.node) == len(graph)
    for node in graph.nodes:
        for i in range(len(graph.get_tensor(node.name).outputs)):
            tensor = graph.get_tensor(f"{node.name}:{i}")
            shape = tensor.shape
            assert shape is None or all(d is None or (isinstance(d, int) and d >= 0)
                                        for d in shape)


def test_fixture_graphs_import() -> None:
    for graph_def in GRAPH_DEFS:
        assert len(Graph.from_dict(graph_def)) == len(graph_def.node)


# --------------------------------------------------------------------------- bytes


@fuzz(200)
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    _import(data)


@fuzz(150)
@given(graph=st.sampled_from([0, 1]),
       mutations=st.lists(st.tuples(
           damage_kinds,
           st.integers(0, 1 << 16), st.binary(min_size=1, max_size=8), st.integers(1, 32)),
           min_size=1, max_size=3))
def test_mutated_serialized_fixture_graph_defs(graph: int,
                                               mutations: list[tuple[str, int, bytes, int]]
                                               ) -> None:
    data = SERIALIZED[graph]
    for mutation in mutations:
        if data:
            data = mutate(data, *mutation)
    _import(data)


# --------------------------------------------------------------------------- structural


DTYPE_ENUMS = st.one_of(st.integers(0, 30), st.integers(100, 130),
                        st.sampled_from([-1, 2**31 - 1]))
HUGE_INTS = st.one_of(st.integers(-3, 5), st.sampled_from([2**31, 2**40, 2**62, 2**63 - 1,
                                                            -(2**63)]))


@st.composite
def tensor_protos(draw: st.DrawFn) -> tensor_pb2.TensorProto:
    proto = tensor_pb2.TensorProto(dtype=draw(DTYPE_ENUMS))  # type: ignore[arg-type]
    if draw(st.booleans()):
        proto.tensor_shape.unknown_rank = True
    for size in draw(st.lists(HUGE_INTS, max_size=3)):
        proto.tensor_shape.dim.add(size=size)
    field = draw(st.sampled_from(["tensor_content", "float_val", "int_val", "int64_val",
                                  "string_val", "half_val", "bool_val", "scomplex_val",
                                  "float8_val", "uint64_val", "none"]))
    if field == "tensor_content" or field == "float8_val":
        setattr(proto, field, draw(st.binary(max_size=24)))
    elif field == "float_val":
        proto.float_val.extend(draw(st.lists(st.floats(width=32), max_size=4)))
    elif field == "scomplex_val":
        proto.scomplex_val.extend(draw(st.lists(st.floats(width=32), max_size=5)))
    elif field in ("int_val", "half_val"):
        proto.int_val.extend(draw(st.lists(st.integers(-(2**31), 2**31 - 1), max_size=4)))
    elif field == "int64_val":
        proto.int64_val.extend(draw(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=4)))
    elif field == "uint64_val":
        proto.uint64_val.extend(draw(st.lists(st.integers(0, 2**64 - 1), max_size=4)))
    elif field == "string_val":
        proto.string_val.extend(draw(st.lists(st.binary(max_size=4), max_size=4)))
    elif field == "bool_val":
        proto.bool_val.extend(draw(st.lists(st.booleans(), max_size=4)))
    return proto


@st.composite
def attr_values(draw: st.DrawFn) -> attr_value_pb2.AttrValue:
    value = attr_value_pb2.AttrValue()
    kind = draw(st.sampled_from(["s", "i", "f", "b", "type", "shape", "tensor", "func",
                                 "placeholder", "list", "empty"]))
    if kind == "s":
        value.s = draw(st.binary(max_size=6))
    elif kind == "i":
        value.i = draw(HUGE_INTS)
    elif kind == "f":
        value.f = draw(st.floats(width=32))
    elif kind == "b":
        value.b = draw(st.booleans())
    elif kind == "type":
        value.type = draw(DTYPE_ENUMS)
    elif kind == "shape":
        value.shape.unknown_rank = draw(st.booleans())
        for size in draw(st.lists(HUGE_INTS, max_size=3)):
            value.shape.dim.add(size=size)
    elif kind == "tensor":
        value.tensor.CopyFrom(draw(tensor_protos()))
    elif kind == "func":
        value.func.name = draw(st.sampled_from(["", "f", "MatMul"]))
    elif kind == "placeholder":
        value.placeholder = "T"
    elif kind == "list":
        value.list.SetInParent()
        inner = draw(st.sampled_from(["i", "type", "s", "shape", "f", "b", "tensor", "mixed"]))
        if inner in ("i", "mixed"):
            value.list.i.extend(draw(st.lists(HUGE_INTS, max_size=3)))
        if inner in ("type", "mixed"):
            value.list.type.extend(draw(st.lists(DTYPE_ENUMS, max_size=3)))
        if inner == "s":
            value.list.s.extend(draw(st.lists(st.binary(max_size=3), max_size=3)))
        if inner == "f":
            value.list.f.extend(draw(st.lists(st.floats(width=32), max_size=3)))
        if inner == "b":
            value.list.b.extend(draw(st.lists(st.booleans(), max_size=3)))
        if inner == "shape":
            for sizes in draw(st.lists(st.lists(HUGE_INTS, max_size=2), max_size=2)):
                value.list.shape.add().dim.extend(
                    [value.shape.Dim(size=s) for s in sizes])
        if inner == "tensor":
            value.list.tensor.add().CopyFrom(draw(tensor_protos()))
    return value


NODE_NAMES = st.one_of(st.sampled_from(["x", "dense/kernel", "", "bad name", "^x", "a:1",
                                        "_under", "é", "\ud800"]),
                       st.text(max_size=6))
OP_NAMES = st.one_of(st.sampled_from(["MatMul", "Matmul", "Const", "Placeholder", "Unpack",
                                      "IdentityN", "ConcatV2", "Pack", "Split", "SplitV",
                                      "AddN", "VarHandleOp", "ReadVariableOp", "NoOp",
                                      "Reshape", "Fill", "Range", "PartitionedCall", ""]),
                     st.text(max_size=8))


def _encodable(text: str) -> bool:
    """Protobuf refuses to store strings with lone surrogates (the dict tests cover them)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@fuzz(400)
@given(graph=st.sampled_from([0, 1]), data=st.data())
def test_structurally_mutated_fixture_graph_defs(graph: int, data: st.DataObject) -> None:
    graph_def = graph_pb2.GraphDef()
    graph_def.CopyFrom(GRAPH_DEFS[graph])
    names = [node.name for node in graph_def.node]
    for _ in range(data.draw(st.integers(1, 3), label="number of mutations")):
        node = graph_def.node[data.draw(st.integers(0, len(graph_def.node) - 1), label="node")]
        what = data.draw(st.sampled_from(["op", "name", "input", "drop_input", "attr",
                                          "drop_attr", "device", "duplicate", "library"]))
        if what == "op":
            node.op = data.draw(OP_NAMES)
        elif what == "name":
            node.name = data.draw(st.one_of(NODE_NAMES, st.sampled_from(names)).filter(
                _encodable))
        elif what == "input":
            source = data.draw(st.one_of(st.sampled_from(names), NODE_NAMES).filter(_encodable))
            suffix = data.draw(st.sampled_from(["", ":0", ":1", ":7", ":99999999999999999999",
                                                ":-1", ":x"]))
            prefix = data.draw(st.sampled_from(["", "^"]))
            node.input.insert(data.draw(st.integers(0, len(node.input))),
                              prefix + source + suffix)
        elif what == "drop_input" and node.input:
            del node.input[data.draw(st.integers(0, len(node.input) - 1))]
        elif what == "attr":
            key = data.draw(st.one_of(st.sampled_from(sorted(node.attr) or ["T"]),
                                      st.sampled_from(["T", "N", "dtype", "shape", "value",
                                                       "_class", "_odd", "num", "Tidx"])))
            node.attr[key].CopyFrom(data.draw(attr_values()))
        elif what == "drop_attr" and node.attr:
            del node.attr[data.draw(st.sampled_from(sorted(node.attr)))]
        elif what == "device":
            node.device = data.draw(st.text(max_size=8).filter(_encodable))
        elif what == "duplicate":
            graph_def.node.add().CopyFrom(node)
        elif what == "library":
            graph_def.library.function.add().signature.name = "f"
    _import(graph_def)


# --------------------------------------------------------------------------- dicts


ODD_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from([2**64, -(2**70), 10**30]),
    st.floats(allow_nan=True, allow_infinity=True), st.binary(max_size=6), st.text(max_size=6),
    st.sampled_from(["\ud800", "a\udcff", "\x00"]),  # lone surrogates: not UTF-8 encodable
    st.sampled_from(["float32", "int64", "string", "resource", "bogus", "float64_ref"]),
    st.sampled_from([np.float16(1.5), np.int8(-3), np.uint64(2**64 - 1), np.bool_(True),
                     np.complex64(1j), np.datetime64("2020-01-01"), np.str_("x"),
                     np.bytes_(b"y"), np.dtype("float32"), np.dtype("V3"), float, object]),
)


@st.composite
def odd_arrays(draw: st.DrawFn) -> np.ndarray:
    dtype = draw(st.sampled_from(["float32", "int64", "uint16", "bool", "complex128",
                                  "float16", "U3", "S2", "O", "datetime64[s]",
                                  "timedelta64[ms]", "V4", "bfloat16", "i1", ">f4", "<u8"]))
    shape = draw(st.lists(st.integers(0, 3), max_size=3))
    if dtype == "bfloat16":
        import ml_dtypes

        return np.zeros(shape, dtype=ml_dtypes.bfloat16)
    if dtype == "O":
        return np.array(draw(st.lists(ODD_SCALARS, min_size=1, max_size=3)) + [None],
                        dtype=object)
    return np.zeros(shape, dtype=dtype)


ODD_VALUES = st.recursive(
    st.one_of(ODD_SCALARS, odd_arrays()),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.tuples(children, children),
        st.dictionaries(st.text(max_size=3), children, max_size=2),
        st.lists(st.one_of(st.integers(-2, 5), st.none(), st.text(max_size=2)), max_size=3),
    ),
    max_leaves=8,
)

ATTR_NAMES = st.sampled_from(["T", "N", "dtype", "shape", "value", "transpose_a", "Tidx",
                              "_class", "num", "axis", "container", "shared_name", "DstT",
                              "Tshape", "_output_shapes", "bogus", "Tin"])


@st.composite
def node_dicts(draw: st.DrawFn, names: list[str]) -> Any:
    if draw(st.integers(0, 15)) == 0:
        return draw(ODD_VALUES)  # not a dict at all
    node: dict[Any, Any] = {}
    node["name"] = draw(st.one_of(st.sampled_from(names), ODD_SCALARS))
    node["op"] = draw(st.one_of(OP_NAMES, ODD_SCALARS))
    if draw(st.booleans()):
        node["input"] = draw(st.one_of(
            st.sampled_from([None, 3, "a", b"a", {"a": 1}, np.zeros(2)]),
            st.lists(st.one_of(st.sampled_from(names), st.sampled_from(
                [f"{n}:1" for n in names] + [f"^{n}" for n in names])), max_size=3),
            ODD_VALUES))
    if draw(st.booleans()):
        node["attr"] = draw(st.one_of(
            st.sampled_from([None, 3, [], np.zeros(2), {None: None}, {3: 1}]),
            st.dictionaries(st.one_of(ATTR_NAMES, ODD_SCALARS), ODD_VALUES, max_size=3),
            ODD_VALUES))
    if draw(st.integers(0, 5)) == 0:
        node["device"] = draw(ODD_SCALARS)
    if draw(st.integers(0, 10)) == 0:
        node[draw(st.one_of(st.text(max_size=4), ODD_SCALARS))] = draw(ODD_SCALARS)
    return node


@fuzz(500)
@given(data=st.data())
def test_random_node_dicts(data: st.DataObject) -> None:
    names = ["a", "b", "c"]
    nodes = data.draw(st.lists(node_dicts(names), max_size=4))
    graph: Any = {"node": nodes}
    if data.draw(st.integers(0, 10)) == 0:
        graph = data.draw(st.one_of(ODD_VALUES, st.just({"node": nodes, "versions": 1})))
    _import(graph)


def _plain_nodes() -> list[dict[str, Any]]:
    """The first fixture graph as plain node dicts (attrs as Python values)."""
    out = []
    for node in GRAPH_DEFS[0].node:
        attr = {}
        for key, value in node.attr.items():
            # Undeclared attrs ("_output_shapes") cannot be told apart from Python values.
            attr[key] = value if key.startswith("_") else graph_attrs.attr_value_to_python(value)
        out.append({"name": node.name, "op": node.op, "input": list(node.input),
                    "attr": attr})
    return out


PLAIN_NODES = _plain_nodes()


@fuzz(300)
@given(data=st.data())
def test_fixture_node_dicts_with_odd_attr_values(data: st.DataObject) -> None:
    nodes = [dict(node, attr=dict(node["attr"])) for node in PLAIN_NODES]
    for _ in range(data.draw(st.integers(1, 3))):
        node = nodes[data.draw(st.integers(0, len(nodes) - 1))]
        keys = sorted(node["attr"]) or ["T"]
        key = data.draw(st.one_of(st.sampled_from(keys), ATTR_NAMES))
        node["attr"][key] = data.draw(ODD_VALUES)
    _import({"node": nodes})


def test_plain_fixture_nodes_import() -> None:
    graph = Graph.from_dict({"node": PLAIN_NODES})
    assert len(graph) == len(PLAIN_NODES)


@pytest.mark.parametrize("value", [math.nan, "3", [[1]], 2**70, -2, b"\xff", np.zeros(2, "V4")])
def test_odd_shape_attr_is_an_op_error(value: Any) -> None:
    with pytest.raises(OpError):
        Graph.from_dict({"node": [{"name": "p", "op": "Placeholder",
                                   "attr": {"dtype": "float32", "shape": [value]}}]})


def test_non_dict_graph_is_a_graph_error() -> None:
    with pytest.raises(GraphError):
        Graph.from_dict(3.5)


# --------------------------------------------------------------------------- leaks found by fuzzing


@pytest.mark.parametrize("node", [
    {"name": "a", "op": "NoOp", "input": None},             # was TypeError: not iterable
    {"name": "a", "op": "NoOp", "input": 3},                # was TypeError: not iterable
    {"name": "a", "op": "NoOp", "attr": {None: None}},      # was AttributeError (startswith)
    {"name": "a", "op": "NoOp", "attr": {3: 1}},            # was AttributeError (startswith)
    {"name": "a", "op": "NoOp", "device": 5},               # was TypeError from protobuf
    {"name": "a", "op": "NoOp", "device": np.zeros(2)},     # was ValueError: truth value
    {"name": "a", "op": "NoOp", "attr": np.zeros(2)},       # was ValueError: truth value
    {"name": "a", "op": "NoOp", None: 1, "x": 2},           # was TypeError: sorting keys
])
def test_malformed_node_dict_fields_are_graph_errors(node: dict[Any, Any]) -> None:
    with pytest.raises(GraphError, match="'a'|node"):
        Graph.from_dict({"node": [node]})


@pytest.mark.parametrize("graph", [
    {"node": 5},                                 # was TypeError: int is not iterable
    {"node": [], "library": np.zeros(2)},        # was ValueError: truth value
    {"node": [], None: 1, "x": 2},               # was TypeError: sorting keys
])
def test_malformed_graph_dicts_are_graph_errors(graph: dict[Any, Any]) -> None:
    with pytest.raises(GraphError):
        Graph.from_dict(graph)


@pytest.mark.parametrize(("attr", "value", "message"), [
    ("shape", [2**70], "2\\*\\*63"),                 # was protobuf ValueError: out of range
    ("N", 2**64, "64 bits"),                          # was protobuf ValueError: out of range
])
def test_out_of_range_attr_ints_are_op_errors(attr: str, value: Any, message: str) -> None:
    node: dict[str, Any] = {"name": "p", "op": "Placeholder", "attr": {"dtype": "float32"}}
    if attr == "N":
        node = {"name": "n", "op": "AddN", "input": ["p"], "attr": {"N": value}}
        nodes = [{"name": "p", "op": "Placeholder", "attr": {"dtype": "float32"}}, node]
    else:
        node["attr"][attr] = value
        nodes = [node]
    with pytest.raises(OpError, match=message):
        Graph.from_dict({"node": nodes})


def test_huge_int_for_a_float_attr_is_an_op_error() -> None:
    # was OverflowError: int too large to convert to float
    with pytest.raises(OpError, match="too large for a float attr"):
        Graph.from_dict({"node": [
            {"name": "p", "op": "Placeholder", "attr": {"dtype": "float32"}},
            {"name": "l", "op": "LeakyRelu", "input": ["p"], "attr": {"alpha": 10**400}}]})


def test_complex_value_for_a_real_const_is_rejected() -> None:
    # was silently dropping the imaginary part (numpy ComplexWarning)
    with pytest.raises(OpError, match="complex"):
        Graph.from_dict({"node": [{"name": "c", "op": "Const",
                                   "attr": {"dtype": "float32", "value": [1 + 2j]}}]})


@pytest.mark.parametrize("value", [np.array(0.0, np.float32), np.zeros((2, 2), np.int32)])
def test_non_vector_array_for_a_list_attr_is_an_op_error(value: np.ndarray) -> None:
    # a 0-d array was TypeError: iteration over a 0-d array
    with pytest.raises(OpError, match="expected a list of type values"):
        Graph.from_dict({"node": [{"name": "i", "op": "IdentityN", "input": [],
                                   "attr": {"T": value}}]})


@pytest.mark.parametrize(("op", "count_attr", "inputs"), [
    ("Unpack", "num", ["p"]),          # was MemoryError building 2**40 output dtypes
    ("Split", "num_split", ["axis", "p"]),
])
def test_huge_output_list_counts_are_op_errors(op: str, count_attr: str,
                                               inputs: list[str]) -> None:
    with pytest.raises(OpError, match="at most 1048576 tensors per list"):
        Graph.from_dict({"node": [
            {"name": "p", "op": "Placeholder", "attr": {"dtype": "float32"}},
            {"name": "axis", "op": "Const", "attr": {"value": np.int32(0)}},
            {"name": "u", "op": op, "input": inputs, "attr": {count_attr: 2**40}}]})


def _splat_const(dims: list[int], rank_padding: int = 0) -> graph_pb2.GraphDef:
    graph_def = graph_pb2.GraphDef()
    node = graph_def.node.add(name="c", op="Const")
    node.attr["dtype"].type = 1  # type: ignore[assignment]
    tensor = node.attr["value"].tensor
    tensor.dtype = 1  # type: ignore[assignment]
    for size in dims + [1] * rank_padding:
        tensor.tensor_shape.dim.add(size=size)
    tensor.float_val.append(1.0)
    return graph_def


def test_huge_splat_constant_is_validated_without_expanding_it() -> None:
    # Validation used to expand the single value to all 2**40 elements (MemoryError,
    # or many GiB actually allocated for a somewhat smaller shape).
    graph = Graph.from_dict(_splat_const([2**40]))
    assert graph.get_tensor("c").shape == (2**40,)


@pytest.mark.parametrize(("dims", "padding", "message"), [
    ([2**62, 2**62], 0, "more than 2\\*\\*63 - 1"),   # was accepted (numpy int64 wrapped to 0)
    ([2], 70, "rank 71"),
])
def test_invalid_constant_shapes_are_op_errors(dims: list[int], padding: int,
                                               message: str) -> None:
    with pytest.raises(OpError, match=message):
        Graph.from_dict(_splat_const(dims, padding))


@pytest.mark.parametrize("node", [
    {"name": "\ud800", "op": "NoOp"},
    {"name": "n", "op": "NoOp", "input": ["^\ud800"]},
    {"name": "n", "op": "NoOp", "device": "\ud800"},
    {"name": "n", "op": "NoOp", "attr": {"\ud800": 1}},
    {"name": "n", "op": "NoOp", "attr": {"_x": "\ud800"}},
    {"name": "c", "op": "Const", "attr": {"dtype": "string", "value": "\ud800"}},
])
def test_strings_with_lone_surrogates_are_graph_errors(node: dict[str, Any]) -> None:
    # each was a UnicodeEncodeError from protobuf or str.encode
    with pytest.raises(GraphError, match="UTF-8"):
        Graph.from_dict({"node": [node]})


def test_graph_op_device_must_be_an_encodable_string() -> None:
    graph = Graph()
    with pytest.raises(GraphError, match="UTF-8"):
        graph.op("NoOp", device="\ud800")  # was UnicodeEncodeError
    with pytest.raises(GraphError, match="device must be a string"):
        graph.op("NoOp", device=3)  # type: ignore[arg-type]
    assert len(graph) == 0
