"""TF2 object-based checkpoints: byte-identical to TensorFlow's twin, and plain names.

The interop test has TF 2.21 write ``tf.train.Checkpoint(**children).write()``
for a tree of tf.Modules (nested module, a child name that needs escaping,
float64/int64 scalars, an int32 vector) and compares the files byte for byte
with :func:`write_object_checkpoint` for the same tree; then TF restores our
checkpoint into fresh objects and reports the values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pysavedmodel._proto import trackable_object_graph_pb2
from pysavedmodel.errors import InvalidArgumentError
from pysavedmodel.format.bundle_reader import read_checkpoint
from pysavedmodel.format.object_graph import (
    OBJECT_GRAPH_KEY,
    TrackableNode,
    Variable,
    escape_local_name,
    object_graph_checkpoint,
    parse_object_graph,
    plain_name,
    plain_names,
    trackable_object_graph,
    unescape_local_name,
    variable_key,
    write_object_checkpoint,
)
from tests.support.tf import FIXTURES, run_tf


def _tree() -> dict[str, object]:
    return {
        "dense": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3),
                  "bias": np.array([1, 2, 3], np.float32)},
        "odd.name": {"w": np.ones(4, np.int32)},
        "scale": np.array(2.5),
        "steps": np.array(7, np.int64),
    }


_TWIN = """
import json, sys
import numpy as np
import tensorflow as tf
twin, ours = sys.argv[1], sys.argv[2]
def build(zero):
    f = (lambda a: np.zeros_like(a)) if zero else (lambda a: a)
    dense = tf.Module()
    dense.kernel = tf.Variable(f(np.arange(6, dtype=np.float32).reshape(2, 3)), name="kernel")
    dense.bias = tf.Variable(f(np.array([1, 2, 3], np.float32)), name="bias")
    odd = tf.Module()
    odd.w = tf.Variable(f(np.ones(4, np.int32)), name="w")
    scale = tf.Variable(f(np.float64(2.5)), name="scale", trainable=False)
    steps = tf.Variable(f(np.int64(7)), name="steps")
    return {"dense": dense, "scale": scale, "steps": steps, "odd.name": odd}
tf.train.Checkpoint(**build(False)).write(twin)
fresh = build(True)
tf.train.Checkpoint(**fresh).read(ours).assert_consumed()
print(json.dumps({"kernel": fresh["dense"].kernel.numpy().tolist(),
                  "bias": fresh["dense"].bias.numpy().tolist(),
                  "w": fresh["odd.name"].w.numpy().tolist(),
                  "scale": float(fresh["scale"].numpy()), "steps": int(fresh["steps"].numpy())}))
"""


def test_checkpoint_is_byte_identical_to_tf_twin_and_restores(tmp_path: Path) -> None:
    ours = tmp_path / "ours" / "ckpt"
    written = write_object_checkpoint(ours, _tree())
    assert sorted(p.name for p in written) == ["ckpt.data-00000-of-00001", "ckpt.index"]
    twin = tmp_path / "twin" / "ckpt"
    restored = run_tf(_TWIN, twin, ours)
    for suffix in (".index", ".data-00000-of-00001"):
        assert Path(f"{ours}{suffix}").read_bytes() == Path(f"{twin}{suffix}").read_bytes()
    assert restored == {"kernel": [[0, 1, 2], [3, 4, 5]], "bias": [1, 2, 3],
                        "w": [1, 1, 1, 1], "scale": 2.5, "steps": 7}


def test_object_graph_nodes_breadth_first_with_flags() -> None:
    tensors = object_graph_checkpoint({"a": {"x": np.zeros(1)}, "empty": {},
                                       "v": Variable(np.ones(2), full_name="dense/v")})
    assert list(tensors) == ["v/.ATTRIBUTES/VARIABLE_VALUE", "a/x/.ATTRIBUTES/VARIABLE_VALUE",
                             OBJECT_GRAPH_KEY]
    graph = parse_object_graph(tensors[OBJECT_GRAPH_KEY])
    assert [(c.node_id, c.local_name) for c in graph.nodes[0].children] == [
        (1, "a"), (2, "empty"), (3, "v")]
    assert graph.nodes[3].attributes[0].full_name == "dense/v"
    assert graph.nodes[4].attributes[0].full_name == "x"
    flags = [n.HasField("has_checkpoint_values") and n.has_checkpoint_values.value
             for n in graph.nodes]
    assert flags == [True, True, False, True, True]
    assert graph.nodes[2].HasField("has_checkpoint_values")


def test_fixture_keys_map_to_plain_names() -> None:
    values = read_checkpoint(FIXTURES / "savedmodel_v2_module" / "variables" / "variables")
    assert plain_names(values) == {"w/.ATTRIBUTES/VARIABLE_VALUE": "w",
                                   "b/.ATTRIBUTES/VARIABLE_VALUE": "b"}
    graph = parse_object_graph(values[OBJECT_GRAPH_KEY])
    assert [c.local_name for c in graph.nodes[0].children][:2] == ["w", "b"]


@pytest.mark.parametrize(("key", "name"), [
    ("dense/kernel/.ATTRIBUTES/VARIABLE_VALUE", "dense/kernel"),
    ("odd..name/w/.ATTRIBUTES/VARIABLE_VALUE", "odd.name/w"),
    ("layer/.ATTRIBUTES/OBJECT_CONFIG_JSON", "layer/OBJECT_CONFIG_JSON"),
    ("k/.OPTIMIZER_SLOT/opt/m/.ATTRIBUTES/VARIABLE_VALUE", "k/.OPTIMIZER_SLOT/opt/m"),
    ("plain/tf1/name", "plain/tf1/name"),
])
def test_plain_name(key: str, name: str) -> None:
    assert plain_name(key) == name


def test_escaping_round_trips_and_matches_keys() -> None:
    for name in ("a", "a.b", "a/b", "..S/", ".S"):
        assert unescape_local_name(escape_local_name(name)) == name
    assert variable_key(["odd.name", "w"]) == "odd..name/w/.ATTRIBUTES/VARIABLE_VALUE"
    with pytest.raises(InvalidArgumentError, match="'a.x'"):
        unescape_local_name("a.x")


def test_colliding_plain_names_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="both map to 'a'"):
        plain_names(["a", "a/.ATTRIBUTES/VARIABLE_VALUE"])


def test_out_of_range_child_is_refused() -> None:
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.nodes.add().children.add(node_id=5, local_name="dense")
    with pytest.raises(InvalidArgumentError, match="'dense' refers to node 5"):
        parse_object_graph(graph.SerializeToString())
    with pytest.raises(InvalidArgumentError, match="not a TrackableObjectGraph"):
        parse_object_graph(b"\xff\xff\xff")


def test_bad_trees_write_nothing(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="root"):
        write_object_checkpoint(tmp_path / "c", np.zeros(1))  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="child name ''"):
        write_object_checkpoint(tmp_path / "c", {"a": {"": np.zeros(1)}})
    assert list(tmp_path.iterdir()) == []


def test_general_object_graph_shares_nodes_and_flags_values() -> None:
    """A list node pointing at variables under another parent: has_checkpoint_values
    follows any path to a value; a node with no value below it gets false."""
    graph = trackable_object_graph([
        TrackableNode(children=((1, "layer"), (2, "variables"), (3, "empty"))),
        TrackableNode(children=((4, "w"),)),
        TrackableNode(children=((4, "0"),)),
        TrackableNode(),
        TrackableNode(full_name="layer/w", checkpoint_key="layer/w/.ATTRIBUTES/VARIABLE_VALUE"),
    ])
    assert [n.has_checkpoint_values.value for n in graph.nodes] == [True, True, True, False,
                                                                    True]
    assert graph.nodes[4].attributes[0].full_name == "layer/w"


def test_object_graph_reference_out_of_range_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="node 1 child 'w' refers to node 7, "
                                                   "but there are 2 nodes"):
        trackable_object_graph([TrackableNode(children=((1, "a"),)),
                                TrackableNode(children=((7, "w"),))])
