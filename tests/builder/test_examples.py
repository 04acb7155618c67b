"""tf.Example front ends: the ParseExampleV2 node they add, and bad feature specs."""

from __future__ import annotations

import numpy as np
import pytest

from pysavedmodel import Graph, InvalidArgumentError
from pysavedmodel.builder.examples import (
    FixedLenFeature,
    SparseFeature,
    VarLenFeature,
    example_input,
)
from pysavedmodel.graph.attrs import tensor_proto_to_numpy


def test_node_lists_sorted_keys_defaults_and_types() -> None:
    g = Graph()
    serialized, parsed = example_input(g, {
        "z": FixedLenFeature([2], "int64", default=7), "a": FixedLenFeature([], "float32"),
        "tags": VarLenFeature("string")})
    assert serialized.dtype is not None and serialized.dtype.name == "string"
    node = g.node("ParseExampleV2")
    consts = {n.name: tensor_proto_to_numpy(n.attr["value"].tensor) for n in g.nodes
              if n.op == "Const"}
    assert consts["ParseExampleV2/dense_keys"].tolist() == [b"a", b"z"]
    assert consts["ParseExampleV2/sparse_keys"].tolist() == [b"tags"]
    assert node.attr["num_sparse"].i == 1
    assert [d.size for d in node.attr["dense_shapes"].list.shape[1].dim] == [2]
    defaults = [consts[name.split(":")[0]] for name in node.input[5:]]
    assert defaults[0].shape == (0,)  # required: no default
    assert defaults[1].tolist() == [7, 7]  # a scalar default fills the shape
    assert isinstance(parsed["tags"], SparseFeature)
    dense = parsed["z"]
    assert not isinstance(dense, SparseFeature) and dense.shape == (None, 2)


@pytest.mark.parametrize("features, message", [
    ({"x": FixedLenFeature([1], "float64")}, "feature 'x' has dtype 'float64'"),
    ({"x": VarLenFeature("bool")}, "feature 'x' has dtype 'bool'"),
    ({"x": FixedLenFeature([-1], "float32")}, r"feature 'x' has shape \[-1\]"),
    ({"x": FixedLenFeature([2], "float32", default=[1.0, 2.0, 3.0])},
     r"default of shape \[3\] does not fit shape \[2\]"),
    ({"x": np.zeros(2)}, "expected FixedLenFeature or VarLenFeature"),
    ({}, "non-empty mapping"),
])
def test_bad_specs_name_the_feature(features: dict[str, object], message: str) -> None:
    g = Graph()
    with pytest.raises(InvalidArgumentError, match=message):
        example_input(g, features)  # type: ignore[arg-type]
