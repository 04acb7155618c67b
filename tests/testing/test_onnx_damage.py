"""pysavedmodel.testing.onnx_damage: each kind really damages a model the way it says, and
the converter answers every kind with a pysavedmodel.Error or a model that validates.

The regressions at the end are what fuzzing with it found (a bare IndexError, ValueError
or AttributeError escaping from_onnx instead of a ModelError naming the node).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import pysavedmodel
from pysavedmodel.errors import Error, ModelError
from pysavedmodel.onnx.ops.tensor import norm_axis
from pysavedmodel.savedmodel.validate import validate_saved_model
from pysavedmodel.testing.onnx_damage import ONNX_KINDS, damage
from tests.onnx.cases import model, node, rand


def _seed() -> Any:
    """Conv (with attributes and initializers) → Relu → Flatten → MatMul."""
    return model([node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
                  node("Relu", ["c"], ["r"]), node("Flatten", ["r"], ["f"], axis=1),
                  node("MatMul", ["f", "m"], ["y"])],
                 {"x": rand(1, 2, 4, 4)}, ["y"],
                 inits={"w": rand(3, 2, 3, 3), "m": rand(48, 5)})


@pytest.mark.parametrize("kind", ONNX_KINDS)
def test_each_kind_changes_the_model_and_keeps_the_original(kind: str) -> None:
    seed = _seed()
    before = seed.SerializeToString()
    changed = 0
    for i in range(20):
        damaged = damage(seed, kind, random.Random(i))
        data = damaged if isinstance(damaged, bytes) else damaged.SerializeToString()
        changed += data != before
    assert seed.SerializeToString() == before      # the input is never modified
    assert changed >= 10, f"{kind}: only {changed} of 20 damages changed the model"


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown ONNX damage kind 'melt'"):
        damage(_seed(), "melt", random.Random(0))


def test_kinds_do_what_they_say() -> None:
    seed = _seed()
    dropped = damage(seed, "drop_init", random.Random(0))
    assert len(dropped.graph.initializer) == len(seed.graph.initializer) - 1
    cyclic = damage(seed, "cycle", random.Random(3))
    names = [o for n in cyclic.graph.node for o in n.output]
    assert any(i in names[k:] for k, n in enumerate(cyclic.graph.node) for i in n.input)
    dup = damage(seed, "dup_output", random.Random(1))
    outs = [o for n in dup.graph.node for o in n.output]
    assert len(outs) != len(set(outs))
    assert len(damage(seed, "drop_node", random.Random(0)).graph.node) == len(seed.graph.node) - 1


def test_converter_answers_every_kind(tmp_path: Path) -> None:
    """A deterministic sweep (the time-bounded random one is scripts/fuzz.py's onnx target)."""
    seed = _seed()
    outcomes: dict[str, int] = {}
    for kind in ONNX_KINDS:
        for i in range(8):
            target = tmp_path / f"{kind}{i}"
            damaged = damage(seed, kind, random.Random(i))
            try:
                pysavedmodel.from_onnx(damaged, target, durable=False)
            except Error as exc:
                assert not target.exists() or not any(target.iterdir()), (kind, i, exc)
                outcomes["refused"] = outcomes.get("refused", 0) + 1
                continue
            assert validate_saved_model(target) == [], (kind, i)
            outcomes["converted"] = outcomes.get("converted", 0) + 1
    assert outcomes.get("refused", 0) > 50   # damage is caught ...
    assert outcomes.get("converted", 0) > 0  # ... and harmless damage still converts


# --- regressions found by fuzzing ----------------------------------------------------------

def test_axes_out_of_range_are_model_errors() -> None:
    """onnx's shape inference catches these only where it knows the rank (fuzzing found a
    ViT Gather where it did not, and an IndexError escaped)."""
    assert [norm_axis(a, 3) for a in (-3, -1, 0, 2)] == [0, 2, 0, 2]
    assert norm_axis(3, 3, inclusive=True) == 3 and norm_axis(-3, 3, inclusive=True) == 0
    for axis, inclusive in ((3, False), (-4, False), (4, True), (-4, True)):
        with pytest.raises(ModelError, match=rf"axis {axis} is out of range for rank 3"):
            norm_axis(axis, 3, inclusive=inclusive)


def test_conv_hostile_group_names_the_node(tmp_path: Path) -> None:
    proto = model([node("Conv", ["x", "w"], ["y"], group=1)], {"x": rand(1, 4, 5, 5)},
                  ["y"], inits={"w": rand(4, 4, 3, 3)})
    for value, pattern in ((-1, "group -1 must be >= 1"), (3, "group 3 must be >= 1 and divide")):
        proto.graph.node[0].attribute[0].i = value
        with pytest.raises(ModelError, match=rf"'Conv_y' \(Conv\).*{pattern}"):
            pysavedmodel.from_onnx(proto, tmp_path / "e")
        assert not (tmp_path / "e").exists()


def test_flatten_accepts_axis_equal_to_rank_and_negative_axes(tmp_path: Path) -> None:
    for axis in (2, -2, -1):
        proto = model([node("Flatten", ["x"], ["y"], axis=axis)], {"x": rand(3, 4)}, ["y"])
        pysavedmodel.from_onnx(proto, tmp_path / f"ok{axis}", durable=False)
    proto = model([node("Flatten", ["x"], ["y"], axis=1)], {"x": rand(3, 4)}, ["y"])
    proto.graph.node[0].attribute[0].i = 3
    with pytest.raises(ModelError, match="axis"):
        pysavedmodel.from_onnx(proto, tmp_path / "bad")


def test_invalid_utf8_names_are_refused(tmp_path: Path) -> None:
    """ONNX's proto2 strings are not UTF-8-checked on parse: a damaged node name arrives as
    bytes; it must be refused, not crash the converter."""
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"], name="NAME")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]) \
        .SerializeToString().replace(b"NAME", b"N\xffME")
    parsed = onnx.ModelProto.FromString(data)
    assert isinstance(parsed.graph.node[0].name, bytes)  # what makes the check necessary
    with pytest.raises(ModelError, match="is not valid UTF-8"):
        pysavedmodel.from_onnx(data, tmp_path / "e")
    assert not (tmp_path / "e").exists()


def test_shape_start_end_are_clamped_like_onnx(tmp_path: Path) -> None:
    """Shape(start, end) clamps out-of-range values (opset 15) instead of refusing them."""
    x = rand(2, 3, 4)
    proto = model([node("Shape", ["x"], ["s"], start=-10, end=10), node("Cast", ["s"], ["y"],
                                                                         to=TensorProto.FLOAT)],
                  {"x": x}, ["y"], opset=17, input_shapes={"x": ["N", 3, 4]})
    pysavedmodel.from_onnx(proto, tmp_path / "e", durable=False)
    assert validate_saved_model(tmp_path / "e") == []


def test_numpy_helper_is_what_the_seed_uses() -> None:
    assert numpy_helper.to_array(_seed().graph.initializer[0]).shape == (3, 2, 3, 3)
