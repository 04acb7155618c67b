"""Robustness: the builder's public inputs, given odd values, raise a pysavedmodel.Error.

Fuzzed: ``tags``, ``signature_def_map`` (odd shapes of dicts, SignatureDef-like
values), ``variables=``, ``assets``, ``init_op``/``train_op``, the graph itself and
the signature helpers.  Allowed outcomes: success (then ``save()`` writes the export
directory) or an exception from the :class:`pysavedmodel.Error` family; either way
no temporary directory is left beside the export directory, and on failure no
export directory exists.

Examples are derandomized so CI is deterministic.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pysavedmodel.builder import (
    SavedModelBuilder,
    build_signature_def,
    classification_signature_def,
    predict_signature_def,
    regression_signature_def,
)
from pysavedmodel.errors import Error, InvalidArgumentError
from pysavedmodel.graph.graph import Graph

_FUZZ = settings(derandomize=True, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def fuzz(max_examples: int) -> settings:
    """Deterministic (derandomized) settings with ``max_examples`` examples."""
    return settings(_FUZZ, max_examples=max_examples)


GRAPH_DICT = {"node": [
    {"name": "x", "op": "Placeholder", "attr": {"dtype": "float32", "shape": [None, 2]}},
    {"name": "w", "op": "VarHandleOp",
     "attr": {"dtype": "float32", "shape": [2, 2], "shared_name": "w"}},
    {"name": "w/Read/ReadVariableOp", "op": "ReadVariableOp", "input": ["w"],
     "attr": {"dtype": "float32"}},
    {"name": "y", "op": "MatMul", "input": ["x", "w/Read/ReadVariableOp"]},
    {"name": "s", "op": "Placeholder", "attr": {"dtype": "string", "shape": [None]}},
    {"name": "init", "op": "NoOp"},
]}
GRAPH = Graph.from_dict(GRAPH_DICT)
GOOD_VARIABLES = {"w": np.eye(2, dtype=np.float32)}

KEY_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from([2**64, -(2**70)]),
    st.floats(allow_nan=True), st.binary(max_size=4), st.text(max_size=5),
    st.sampled_from(["\ud800", "x:0\udcff"]),  # lone surrogates: not UTF-8 encodable
    st.sampled_from(["x", "x:0", "x:1", "y", "y:0", "s:0", "^x", "w", "init", "nope:0", "",
                     "serving_default", "__saved_model_init_op", "predict", "classify",
                     "regress", "tensorflow/serving/predict", "inputs", "outputs", "classes",
                     "scores", "method_name"]),
    st.sampled_from([np.float16(1.5), np.int64(3), np.str_("x"), np.datetime64("2020-01-01"),
                     object(), float]),
    st.just(GRAPH.get_tensor("x")), st.just(GRAPH.get_tensor("y")),
    st.just(Graph().placeholder("x", "float32")),  # a handle of another graph
)
"""Odd values that can be dict keys."""
ODD_SCALARS = st.one_of(KEY_SCALARS, st.sampled_from([
    np.zeros(2, "V3"), np.array("x:0"), np.array(["x:0", "y:0"]), np.zeros((2, 2), np.float64),
    np.ones(3, np.int32)]))

ODD_VALUES = st.recursive(
    ODD_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.tuples(children, children),
        st.dictionaries(st.one_of(KEY_SCALARS, st.text(max_size=3)), children, max_size=3),
    ),
    max_leaves=8,
)


@st.composite
def signature_maps(draw: st.DrawFn) -> Any:
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(ODD_VALUES)
    keys = st.one_of(KEY_SCALARS, st.sampled_from(["serving_default", "a"]))
    sigs = st.one_of(
        ODD_VALUES,
        st.fixed_dictionaries({}, optional={
            "inputs": ODD_VALUES, "outputs": ODD_VALUES, "method_name": ODD_VALUES,
            "extra": ODD_VALUES}),
        st.fixed_dictionaries({
            "inputs": st.dictionaries(st.one_of(KEY_SCALARS, st.just("inputs")), ODD_SCALARS,
                                      max_size=2),
            "outputs": st.dictionaries(st.one_of(KEY_SCALARS, st.just("outputs")),
                                       ODD_SCALARS, max_size=2)},
            optional={"method_name": ODD_SCALARS}),
    )
    return draw(st.dictionaries(keys, sigs, max_size=2))


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())


def _build(root: Path, **kwargs: Any) -> None:
    """One builder session in ``root``; check the outcome and what is left on disk."""
    export = root / "export"
    try:
        builder = SavedModelBuilder(export)
        builder.add_meta_graph_and_variables(kwargs.pop("graph", GRAPH),
                                             kwargs.pop("tags", ["serve"]), **kwargs)
        builder.save()
    except Error:
        assert _leftovers(root) == [], f"left behind after an error: {_leftovers(root)}"
        return
    assert _leftovers(root) == ["export"]
    assert (export / "saved_model.pb").is_file()


def _session(**kwargs: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _build(Path(tmp), **kwargs)


def test_good_inputs_save() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _build(Path(tmp), variables=GOOD_VARIABLES, init_op="init",
               signature_def_map={"serving_default": predict_signature_def(
                   {"x": "x:0"}, {"y": "y:0"})})
        assert (Path(tmp) / "export" / "variables" / "variables.index").is_file()


@fuzz(150)
@given(tags=ODD_VALUES)
def test_odd_tags(tags: Any) -> None:
    _session(tags=tags, variables=GOOD_VARIABLES)


@fuzz(300)
@given(signature_def_map=signature_maps())
def test_odd_signature_def_maps(signature_def_map: Any) -> None:
    _session(signature_def_map=signature_def_map, variables=GOOD_VARIABLES)


@st.composite
def variable_maps(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 3)) == 0:
        return draw(ODD_VALUES)
    value = draw(st.one_of(
        ODD_VALUES,
        st.sampled_from([np.zeros((2, 2), np.float64), np.zeros((2, 2), np.int64),
                         np.full((2, 2), np.nan, np.float32), np.zeros((3, 2), np.float32),
                         np.zeros((2, 2), np.complex64), np.array([[1, 2], [3, 2**40]]),
                         np.zeros((2, 2), "U2"), np.zeros((2, 2), object),
                         [[1.0, 2.0], [3.0, 4.0]], [[1, 2], [3]], np.float32(1),
                         np.zeros((2, 2), ">f4"), np.zeros((2, 2, 1), np.float32)])))
    key = draw(st.one_of(st.just("w"), KEY_SCALARS))
    out = {key: value}
    if draw(st.booleans()):
        out[draw(KEY_SCALARS)] = draw(ODD_VALUES)
    return out


@fuzz(300)
@given(variables=variable_maps())
def test_odd_variables(variables: Any) -> None:
    _session(variables=variables)


@fuzz(200)
@given(which=st.sampled_from(["assets", "init_op", "train_op", "saver", "clear_devices",
                              "strip_default_attrs",
                              "graph"]),
       value=ODD_VALUES)
def test_odd_other_arguments(which: str, value: Any) -> None:
    _session(variables=GOOD_VARIABLES, **{which: value})


@fuzz(200)
@given(helper=st.sampled_from(["predict", "classify", "regress", "build"]),
       args=st.lists(ODD_VALUES, min_size=3, max_size=3))
def test_signature_helpers_on_odd_values(helper: str, args: list[Any]) -> None:
    try:
        if helper == "predict":
            predict_signature_def(args[0], args[1])
        elif helper == "classify":
            classification_signature_def(*args)
        elif helper == "regress":
            regression_signature_def(args[0], args[1])
        else:
            build_signature_def(*args)
    except Error:
        pass


@pytest.mark.parametrize("export_dir", [3, None, b"\xff"])
def test_odd_export_dir_is_invalid_argument(export_dir: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        SavedModelBuilder(export_dir)


# --------------------------------------------------------------------------- leaks found by fuzzing


def _expect_error(**kwargs: Any) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with pytest.raises(Error) as info:
            builder = SavedModelBuilder(root / "export")
            builder.add_meta_graph_and_variables(kwargs.pop("graph", GRAPH), ["serve"], **kwargs)
            builder.save()
        assert _leftovers(root) == []
        return str(info.value)


def test_variables_with_keys_of_mixed_types() -> None:
    # was TypeError: '<' not supported between instances of 'bool' and 'NoneType'
    message = _expect_error(variables={None: np.zeros((2, 2)), False: None})
    assert "not VarHandleOps of the graph" in message


def test_variable_value_that_numpy_cannot_cast() -> None:
    # was ValueError: setting an array element with a sequence (astype of void arrays)
    message = _expect_error(variables={"w": (np.zeros(2, "V3"), np.zeros(2, "V3"))})
    assert "'w'" in message and "float32" in message


def test_signature_dict_with_keys_of_mixed_types() -> None:
    # was TypeError: '<' not supported between instances of 'Tensor' and 'NoneType'
    message = _expect_error(variables=GOOD_VARIABLES, signature_def_map={
        "sig": {None: None, GRAPH.get_tensor("x"): None}})
    assert "unknown field(s)" in message


@pytest.mark.parametrize("which", ["clear_devices", "strip_default_attrs"])
def test_flags_without_a_truth_value(which: str) -> None:
    # was ValueError: the truth value of an array with more than one element is ambiguous
    message = _expect_error(variables=GOOD_VARIABLES, **{which: np.zeros(2)})
    assert f"{which} must be True or False" in message


def test_save_as_text_without_a_truth_value() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        builder = SavedModelBuilder(Path(tmp) / "export")
        builder.add_meta_graph_and_variables(GRAPH, ["serve"], variables=GOOD_VARIABLES)
        with pytest.raises(InvalidArgumentError, match="as_text must be True or False"):
            builder.save(as_text=np.zeros(2))  # type: ignore[arg-type]
        assert _leftovers(Path(tmp)) == []


def test_non_utf8_shared_name() -> None:
    # was UnicodeDecodeError from Graph.variables
    graph = Graph.from_dict({"node": [{"name": "w", "op": "VarHandleOp", "attr": {
        "dtype": "float32", "shape": [2], "shared_name": b"\xff"}}]})
    message = _expect_error(graph=graph, variables={"w": np.zeros(2, np.float32)})
    assert "shared_name" in message and "not UTF-8" in message


def test_asset_const_holding_a_non_utf8_path() -> None:
    # was UnicodeDecodeError
    graph = Graph.from_dict({"node": [{"name": "c", "op": "Const", "attr": {
        "dtype": "string", "value": b"\xff.txt"}}]})
    message = _expect_error(graph=graph, assets=["c:0"])
    assert "'c:0'" in message and "not a UTF-8 path" in message
