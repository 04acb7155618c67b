"""Static shapes and output dtypes of the common ops."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pysavedmodel.errors import OpError
from pysavedmodel.graph import Graph
from pysavedmodel.graph.shapes import SUPPORTED_OPS, broadcast_shapes

dims = st.integers(min_value=1, max_value=4)
shapes = st.lists(dims, min_size=0, max_size=4).map(tuple)


def _ph(g: Graph, shape: object, dtype: str = "float32", name: str = "x") -> object:
    return g.placeholder(name, dtype, shape)


# ------------------------------------------------------------------ leaf nodes


def test_leaf_shapes_are_exact() -> None:
    g = Graph()
    assert _ph(g, [None, 3]).shape == (None, 3)
    assert _ph(g, None, name="u").shape is None
    assert g.constant(np.zeros((2, 0, 4), np.int8)).shape == (2, 0, 4)
    assert g.constant("s").shape == ()
    read = g.variable("v", np.zeros((5, 6), np.float32))
    assert read.shape == (5, 6) and g.get_tensor("v").shape == ()


# ------------------------------------------------------------------ elementwise


@settings(max_examples=200, deadline=None)
@given(shapes, shapes)
def test_broadcasting_matches_numpy(a: tuple[int, ...], b: tuple[int, ...]) -> None:
    # Make some pairs compatible more often than chance would.
    try:
        expected = np.broadcast_shapes(a, b)
    except ValueError:
        with pytest.raises(OpError, match="cannot be broadcast"):
            broadcast_shapes(a, b)
        return
    assert broadcast_shapes(a, b) == expected
    g = Graph()
    x, y = _ph(g, list(a)), _ph(g, list(b), name="y")
    assert g.op("AddV2", [x, y]).shape == expected
    assert g.op("Less", [x, y]).dtype.name == "bool"


@settings(max_examples=100, deadline=None)
@given(shapes, st.data())
def test_broadcasting_with_unknown_dims(a: tuple[int, ...], data: st.DataObject) -> None:
    hidden = tuple(None if data.draw(st.booleans()) else d for d in a)
    b = data.draw(st.lists(st.sampled_from([1, 2, 3]), max_size=len(a)).map(tuple))
    try:
        full = np.broadcast_shapes(a, b)
    except ValueError:
        return
    got = broadcast_shapes(hidden, b)
    assert got is not None and len(got) == len(full)
    for g_dim, f_dim in zip(got, full):
        assert g_dim is None or g_dim == f_dim


def test_broadcasting_cases() -> None:
    assert broadcast_shapes((None, 3), (3,)) == (None, 3)
    assert broadcast_shapes((None, 1), (None, 4)) == (None, 4)
    assert broadcast_shapes((None,), (1,)) == (None,)
    assert broadcast_shapes((None, 3), None) is None
    g = Graph()
    with pytest.raises(OpError, match=r"node 'AddV2' \(AddV2\).*\[2, 3\] and \[4\]"):
        g.op("AddV2", [_ph(g, [2, 3]), _ph(g, [4], name="y")])


@pytest.mark.parametrize("op", ["Relu", "Relu6", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
                                "Identity", "Neg", "Exp", "StopGradient"])
def test_unary_ops_keep_the_shape(op: str) -> None:
    g = Graph()
    out = g.op(op, [_ph(g, [None, 7])])
    assert out.shape == (None, 7) and out.dtype.name == "float32"


def test_cast_keeps_shape_and_sets_dtype() -> None:
    g = Graph()
    out = g.op("Cast", [_ph(g, [2, None])], DstT="int64")
    assert out.shape == (2, None) and out.dtype.name == "int64"
    node = g.node("Cast")
    assert node.attr["SrcT"].type == 1 and node.attr["Truncate"].b is False


# ------------------------------------------------------------------ MatMul / BiasAdd


@pytest.mark.parametrize("a, b, ta, tb, expected", [
    ([2, 3], [3, 5], False, False, (2, 5)),
    ([3, 2], [3, 5], True, False, (2, 5)),
    ([2, 3], [5, 3], False, True, (2, 5)),
    ([3, 2], [5, 3], True, True, (2, 5)),
    ([None, 3], [3, None], False, False, (None, None)),
    (None, [3, 4], False, False, (None, 4)),
])
def test_matmul(a: object, b: object, ta: bool, tb: bool, expected: tuple) -> None:
    g = Graph()
    out = g.op("MatMul", [_ph(g, a), _ph(g, b, name="y")], transpose_a=ta, transpose_b=tb)
    assert out.shape == expected


def test_matmul_errors() -> None:
    g = Graph()
    with pytest.raises(OpError, match=r"inner dimensions of a \[2, 3\] and b \[4, 5\]"):
        g.op("MatMul", [_ph(g, [2, 3]), _ph(g, [4, 5], name="y")])
    with pytest.raises(OpError, match=r"input 'a' must have rank 2; got shape \[2\]"):
        g.op("MatMul", [_ph(g, [2], name="v"), _ph(g, [2, 2], name="m")])


def test_bias_add() -> None:
    g = Graph()
    x = _ph(g, [None, 4, 4, 3])
    assert g.op("BiasAdd", [x, np.zeros(3, np.float32)]).shape == (None, 4, 4, 3)
    y = _ph(g, [None, 3, 4, 4], name="y")
    assert g.op("BiasAdd", [y, np.zeros(3, np.float32)], data_format="NCHW").shape == \
        (None, 3, 4, 4)
    z = _ph(g, [None, None], name="z")
    assert g.op("BiasAdd", [z, np.zeros(5, np.float32)]).shape == (None, 5)
    with pytest.raises(OpError, match="bias size"):
        g.op("BiasAdd", [x, np.zeros(4, np.float32)])


# ------------------------------------------------------------------ Conv2D / pooling


def _reference_out(size: int, window: int, stride: int, dilation: int, padding: str) -> int:
    effective = (window - 1) * dilation + 1
    if padding == "SAME":
        return math.ceil(size / stride)
    return math.ceil((size - effective + 1) / stride)


@settings(max_examples=150, deadline=None)
@given(h=st.integers(7, 20), w=st.integers(7, 20), kh=st.integers(1, 4), kw=st.integers(1, 4),
       sh=st.integers(1, 3), sw=st.integers(1, 3), d=st.integers(1, 2),
       padding=st.sampled_from(["SAME", "VALID"]))
def test_conv2d_output_size(h: int, w: int, kh: int, kw: int, sh: int, sw: int, d: int,
                            padding: str) -> None:
    g = Graph()
    image = _ph(g, [None, h, w, 3])
    kernel = g.constant(np.zeros((kh, kw, 3, 8), np.float32))
    out = g.op("Conv2D", [image, kernel], strides=[1, sh, sw, 1], padding=padding,
               dilations=[1, d, d, 1])
    assert out.shape == (None, _reference_out(h, kh, sh, d, padding),
                         _reference_out(w, kw, sw, d, padding), 8)


def test_conv2d_other_layouts() -> None:
    g = Graph()
    image = _ph(g, [2, 3, 10, 12])
    kernel = g.constant(np.zeros((3, 3, 3, 4), np.float32))
    out = g.op("Conv2D", [image, kernel], strides=[1, 1, 2, 2], padding="VALID",
               data_format="NCHW")
    assert out.shape == (2, 4, 4, 5)
    nhwc = _ph(g, [1, 5, 5, 3], name="y")
    explicit = g.op("Conv2D", [nhwc, kernel], strides=[1, 1, 1, 1], padding="EXPLICIT",
                    explicit_paddings=[0, 0, 1, 1, 2, 2, 0, 0])
    assert explicit.shape == (1, 5, 7, 4)
    unknown = g.op("Conv2D", [_ph(g, None, name="z"), kernel], strides=[1, 1, 1, 1],
                   padding="SAME")
    assert unknown.shape == (None, None, None, 4)
    any_filter = _ph(g, None, name="f")
    same = g.op("Conv2D", [nhwc, any_filter], strides=[1, 2, 2, 1], padding="SAME")
    assert same.shape == (1, 3, 3, None)
    valid = g.op("Conv2D", [nhwc, any_filter], strides=[1, 2, 2, 1], padding="VALID")
    assert valid.shape == (1, None, None, None)
    with pytest.raises(OpError, match="window of 3 is larger"):
        g.op("Conv2D", [_ph(g, [1, 2, 2, 3], name="small"), kernel], strides=[1, 1, 1, 1],
             padding="VALID")
    with pytest.raises(OpError, match="rank 4"):
        g.op("Conv2D", [_ph(g, [2, 2, 3], name="r3"), kernel], strides=[1, 1, 1, 1],
             padding="VALID")


@pytest.mark.parametrize("op", ["MaxPool", "AvgPool"])
@pytest.mark.parametrize("padding, expected", [("VALID", (None, 3, 2, 5)),
                                               ("SAME", (None, 4, 3, 5))])
def test_pooling(op: str, padding: str, expected: tuple) -> None:
    g = Graph()
    out = g.op(op, [_ph(g, [None, 7, 6, 5])], ksize=[1, 2, 3, 1], strides=[1, 2, 2, 1],
               padding=padding)
    assert out.shape == expected


# ------------------------------------------------------------------ Reshape / Concat / Transpose


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.data())
def test_reshape_minus_one_matches_numpy(source: list[int], data: st.DataObject) -> None:
    total = int(np.prod(source))
    perm = data.draw(st.permutations(source))
    target = list(perm)
    target[data.draw(st.integers(0, len(target) - 1))] = -1
    g = Graph()
    out = g.op("Reshape", [_ph(g, source), target])
    assert out.shape == np.zeros(total).reshape(target).shape


def test_reshape_cases() -> None:
    g = Graph()
    x = _ph(g, [None, 4])
    assert g.op("Reshape", [x, [-1, 2, 2]]).shape == (None, 2, 2)
    assert g.op("Reshape", [x, [2, 8]]).shape == (2, 8)
    dynamic = _ph(g, [3], "int32", name="s")
    assert g.op("Reshape", [x, dynamic]).shape == (None, None, None)
    with pytest.raises(OpError, match="more than one -1"):
        g.op("Reshape", [x, [-1, -1]])
    with pytest.raises(OpError, match=r"cannot reshape 6 elements"):
        g.op("Reshape", [_ph(g, [2, 3], name="y"), [4, -1]])


def test_concat() -> None:
    g = Graph()
    a, b = _ph(g, [2, 3]), _ph(g, [None, 3], name="b")
    assert g.op("ConcatV2", [[a, a], 0]).shape == (4, 3)
    assert g.op("ConcatV2", [[a, a], -1]).shape == (2, 6)
    assert g.op("ConcatV2", [[a, b], 0]).shape == (None, 3)
    assert g.op("ConcatV2", [[a, b], 1]).shape == (2, 6)
    axis = _ph(g, [], "int32", name="axis")
    assert g.op("ConcatV2", [[a, a], axis]).shape == (None, None)
    with pytest.raises(OpError, match="axis 2 is out of range"):
        g.op("ConcatV2", [[a, a], 2])
    with pytest.raises(OpError, match="dimension 1"):
        g.op("ConcatV2", [[a, _ph(g, [2, 4], name="c")], 0])


def test_transpose() -> None:
    g = Graph()
    x = _ph(g, [2, None, 5])
    assert g.op("Transpose", [x, [2, 0, 1]]).shape == (5, 2, None)
    perm = _ph(g, [3], "int32", name="perm")
    assert g.op("Transpose", [x, perm]).shape == (None, None, None)
    with pytest.raises(OpError, match="not a permutation"):
        g.op("Transpose", [x, [0, 0, 1]])


def test_other_ops_have_unknown_shape_but_known_dtype() -> None:
    g = Graph()
    x = _ph(g, [2, 3])
    out = g.op("Bucketize", [x], boundaries=[0.0, 1.0])
    assert "Bucketize" not in SUPPORTED_OPS
    assert out.shape is None and out.dtype.name == "int32"
    unique = g.op("Unique", [_ph(g, [5], "int32", name="ids")])
    assert [t.dtype.name for t in unique.outputs] == ["int32", "int32"]
    assert [t.shape for t in unique.outputs] == [None, None]
    assert g.op("Shape", [x]).shape == (2,)
    assert g.op("Pack", [[x, x, x]]).shape == (3, 2, 3)


# ------------------------------------------------------------------ more table-driven rules


def test_reductions_with_constant_axes() -> None:
    g = Graph()
    x = _ph(g, [None, 3, 4])
    assert g.op("Sum", [x, 1]).shape == (None, 4)
    assert g.op("Mean", [x, [0, -1]], keep_dims=True).shape == (1, 3, 1)
    assert g.op("Max", [x, [-1, 2]]).shape == (None, 3)  # repeated axis counts once
    assert g.op("Prod", [x, np.zeros(0, np.int32)]).shape == (None, 3, 4)
    assert g.op("All", [_ph(g, [2, 5], "bool", name="m"), 0]).shape == (5,)
    axis = _ph(g, [], "int32", name="axis")
    assert g.op("Min", [x, axis]).shape is None
    assert g.op("Min", [x, axis], keep_dims=True).shape == (None, None, None)
    assert g.op("Sum", [_ph(g, None, name="u"), 0], keep_dims=True).shape is None
    with pytest.raises(OpError, match="reduction axis 3 is out of range"):
        g.op("Sum", [x, 3])


def test_arg_max_min() -> None:
    g = Graph()
    x = _ph(g, [None, 3])
    assert g.op("ArgMax", [x, 1]).shape == (None,)
    out = g.op("ArgMin", [x, -2], output_type="int32")
    assert out.shape == (3,) and out.dtype.name == "int32"
    assert g.op("ArgMax", [x, _ph(g, [], "int32", name="a")]).shape == (None,)
    with pytest.raises(OpError, match="axis 2 is out of range"):
        g.op("ArgMax", [x, 2])


def test_expand_dims_and_squeeze() -> None:
    g = Graph()
    x = _ph(g, [None, 3])
    assert g.op("ExpandDims", [x, 0]).shape == (1, None, 3)
    assert g.op("ExpandDims", [x, -1]).shape == (None, 3, 1)
    assert g.op("ExpandDims", [_ph(g, None, name="u"), 0]).shape is None
    with pytest.raises(OpError, match="dim 3 is out of range"):
        g.op("ExpandDims", [x, 3])
    ones = _ph(g, [1, 3, 1], name="ones")
    assert g.op("Squeeze", [ones]).shape == (3,)
    assert g.op("Squeeze", [ones], squeeze_dims=[-1]).shape == (1, 3)
    assert g.op("Squeeze", [_ph(g, [None, 1], name="col")], squeeze_dims=[1]).shape == (None,)
    assert g.op("Squeeze", [_ph(g, [None, 1], name="col2")]).shape is None  # None may be 1
    with pytest.raises(OpError, match="cannot squeeze dimension 1 of size 3"):
        g.op("Squeeze", [ones], squeeze_dims=[1])


def test_fill_tile_size_rank() -> None:
    g = Graph()
    x = _ph(g, [None, 3])
    assert g.op("Fill", [[2, 3], 1.5]).shape == (2, 3)
    assert g.op("Fill", [_ph(g, [2], "int32", name="dims"), 0.0]).shape == (None, None)
    assert g.op("Tile", [x, [2, 2]]).shape == (None, 6)
    assert g.op("Tile", [x, [0, 1]]).shape == (0, 3)
    assert g.op("Tile", [x, _ph(g, [2], "int32", name="m")]).shape == (None, None)
    with pytest.raises(OpError, match="multiples has 3 entries"):
        g.op("Tile", [x, [1, 1, 1]])
    assert g.op("Size", [x]).shape == () and g.op("Rank", [x]).shape == ()


def test_gather_one_hot_slice() -> None:
    g = Graph()
    params = _ph(g, [5, 3, 2])
    ids = _ph(g, [None], "int32", name="ids")
    assert g.op("GatherV2", [params, ids, 0]).shape == (None, 3, 2)
    assert g.op("GatherV2", [params, [[0, 1]], -1]).shape == (5, 3, 1, 2)
    assert g.op("GatherV2", [params, ids, _ph(g, [], "int32", name="a")]).shape == \
        (None, None, None)
    assert g.op("OneHot", [ids, 4, 1.0, 0.0]).shape == (None, 4)
    assert g.op("OneHot", [ids, 4, 1.0, 0.0], axis=0).shape == (4, None)
    assert g.op("Slice", [params, [1, 0, 0], [-1, 2, -1]]).shape == (4, 2, 2)
    x = _ph(g, [None, 6], name="x")
    assert g.op("StridedSlice", [x, [0, 1], [2, 6], [1, 2]]).shape == (None, 3)
    assert g.op("StridedSlice", [x, [0, 0], [0, 0], [1, -1]], begin_mask=3,
                end_mask=3).shape == (None, 6)
    assert g.op("StridedSlice", [x, [0, 2], [1, 3], [1, 1]], shrink_axis_mask=2).shape == \
        (None,)


def test_select_follows_tf_merging_rules() -> None:
    g = Graph()
    t, e = _ph(g, [None], name="t"), _ph(g, [None], name="e")
    # A vector condition only checks the first dimension; it does not refine the output.
    assert g.op("Select", [_ph(g, [3], "bool", name="c"), t, e]).shape == (None,)
    m = _ph(g, [None, 3], name="m")
    assert g.op("Select", [_ph(g, [2, 3], "bool", name="c2"), m, m]).shape == (2, 3)
    assert g.op("Select", [_ph(g, [], "bool", name="c3"), m, m]).shape == (None, 3)
    assert g.op("SelectV2", [_ph(g, [2, 1], "bool", name="c4"), m, 0.0]).shape == (2, 3)


def test_string_join_merges_non_scalars() -> None:
    g = Graph()
    s = _ph(g, [None], "string", name="s")
    assert g.op("StringJoin", [[s, "!"]]).shape == (None,)
    assert g.op("StringJoin", [["a", "b"]]).shape == ()
    assert g.op("StringJoin", [[s, _ph(g, None, "string", name="u")]]).shape == (None,)
    with pytest.raises(OpError, match="must be equal"):
        g.op("StringJoin", [[_ph(g, [1], "string", name="one"),
                             _ph(g, [3], "string", name="three")]])


def test_lookup_has_the_keys_shape_only_for_a_scalar_table() -> None:
    g = Graph()
    keys = _ph(g, [None, 2], "string", name="keys")
    table = g.op("HashTableV2", [], key_dtype="string", value_dtype="int64")
    assert g.op("LookupTableFindV2", [table, keys, np.int64(-1)]).shape == (None, 2)
    other = g.placeholder("handle", "resource", [])
    assert g.op("LookupTableFindV2", [other, keys, np.int64(-1)],
                Tout="int64").shape is None


def test_parse_example_v2_outputs() -> None:
    g = Graph()
    serialized = _ph(g, [None], "string", name="ex")
    none = g.constant(np.array([], dtype=object), dtype="string", name="none")
    out = g.op("ParseExampleV2", [
        serialized, none, g.constant(np.array([b"s"], dtype=object)),
        g.constant(np.array([b"a", b"b"], dtype=object)), none,
        [np.zeros(0, np.float32), np.zeros(0, np.int64)]],
        Tdense=["float32", "int64"], num_sparse=1, sparse_types=["int64"],
        ragged_value_types=[], ragged_split_types=[], dense_shapes=[[3], [2, 2]])
    assert [t.shape for t in out.outputs] == [
        (None, 2), (None,), (2,), (None, 3), (None, 2, 2)]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=4), st.data())
def test_reduction_tile_expand_match_numpy(source: list[int], data: st.DataObject) -> None:
    rank = len(source)
    value = np.zeros(source, np.float32)
    axes = data.draw(st.lists(st.integers(-rank, rank - 1), max_size=rank, unique=True))
    keep = data.draw(st.booleans())
    multiples = data.draw(st.lists(st.integers(0, 3), min_size=rank, max_size=rank))
    where = data.draw(st.integers(-rank - 1, rank))
    g = Graph()
    x = _ph(g, source)
    assert g.op("Sum", [x, np.array(axes, np.int32)], keep_dims=keep).shape == \
        value.sum(axis=tuple({a % rank for a in axes}), keepdims=keep).shape  # TF allows repeats
    assert g.op("Tile", [x, multiples]).shape == np.tile(value, multiples).shape
    assert g.op("ExpandDims", [x, where]).shape == np.expand_dims(value, where).shape
