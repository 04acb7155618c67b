"""The TF2 save/restore functions written as protos equal the same functions built
through the checked Graph API (every node validated against its op), byte for byte.
TensorFlow runs them in tests/interop/test_tf2_interop.py (restore through the
SaverDef, re-save)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pytest

from pysavedmodel import Function, dtypes
from pysavedmodel._proto import attr_value_pb2
from pysavedmodel.builder.tf2_saver import (
    CheckpointedVariable,
    arg_name,
    restore_function,
    save_function,
)
from pysavedmodel.format.object_graph import OBJECT_GRAPH_KEY
from pysavedmodel.graph.attrs import make_tensor_proto

_CPU0 = "/device:CPU:0"
_ANY_CPU = "/device:CPU:*"


def _const(function: Function, value: object, dtype: int, name: str,
           device: str | None = None) -> object:
    proto = make_tensor_proto(value, dtype)
    return function.graph.op("Const", [], name=name, device=device, dtype=proto.dtype,
                             value=attr_value_pb2.AttrValue(tensor=proto))


def _strings(function: Function, values: Sequence[str], name: str) -> object:
    return _const(function, np.array([v.encode() for v in values], dtype=object),
                  dtypes.DT_STRING, name, _CPU0)


def _handles(function: Function, variables: Sequence[CheckpointedVariable],
             prefix: str) -> list[object]:
    used = {"file_prefix", "savev2_const"}
    return [function.arg(arg_name(f"{prefix}_{v.node_name}", used), "resource", [],
                         handle_dtype=v.dtype,
                         handle_shape=[None if d < 0 else d for d in v.shape])
            for v in variables]


def _stateful_outputs(function: Function) -> Function:
    for name, op in function.graph.op_types().items():
        if op in ("ReadVariableOp", "AssignVariableOp", "RestoreV2", "SaveV2",
                  "MergeV2Checkpoints"):
            function.control_ret(name, name)
    return function


def _reference_restore(name: str, variables: Sequence[CheckpointedVariable]) -> Function:
    function = Function(name)
    g = function.graph
    prefix = function.arg("file_prefix", "string", [])
    handles = _handles(function, variables, "assignvariableop")
    keys = [v.key for v in variables] + [OBJECT_GRAPH_KEY]
    restore = g.op("RestoreV2", [prefix, _strings(function, keys, "RestoreV2/tensor_names"),
                                 _strings(function, [""] * len(keys),
                                          "RestoreV2/shape_and_slices")],
                   device=_CPU0, dtypes=[v.dtype for v in variables] + [dtypes.DT_STRING])
    assigns = []
    for index, handle in enumerate(handles):
        value = g.op("Identity", [f"{restore.op_name}:{index}"], device=_CPU0)
        assigns.append(g.op("AssignVariableOp", [handle, value], device=_CPU0,
                            _has_manual_control_dependencies=True))
    function.ret("identity", g.op("Identity", [prefix], control_inputs=assigns,
                                  device=_CPU0))
    return _stateful_outputs(function)


def _reference_save(name: str, variables: Sequence[CheckpointedVariable]) -> Function:
    function = Function(name)
    g = function.graph
    prefix = function.arg("file_prefix", "string", [])
    handles = _handles(function, variables, "read_disablecopyonread")
    object_graph = function.arg("savev2_const", "string", [])
    is_s3 = g.op("StaticRegexFullMatch", [prefix], pattern="^s3://.*", device=_ANY_CPU)
    part = _const(function, b".part", dtypes.DT_STRING, "Const", _ANY_CPU)
    temp = _const(function, b"_temp/part", dtypes.DT_STRING, "Const", _ANY_CPU)
    joined = g.op("StringJoin", [[prefix, g.op("Select", [is_s3, part, temp],
                                               device=_ANY_CPU)]], device=_ANY_CPU)
    reads = [g.op("Identity", [g.op("ReadVariableOp", [h], dtype=v.dtype)], device=_CPU0)
             for v, h in zip(variables, handles)]
    num_shards = _const(function, np.int32(1), dtypes.DT_INT32, "num_shards")
    shard = _const(function, np.int32(0), dtypes.DT_INT32, "ShardedFilename/shard", _CPU0)
    filename = g.op("ShardedFilename", [joined, shard, num_shards], device=_CPU0)
    keys = [v.key for v in variables] + [OBJECT_GRAPH_KEY]
    save = g.op("SaveV2", [filename, _strings(function, keys, "SaveV2/tensor_names"),
                           _strings(function, [""] * len(keys), "SaveV2/shape_and_slices"),
                           [*reads, object_graph]],
                device=_CPU0, _has_manual_control_dependencies=True)
    prefixes = g.op("Pack", [[filename]], name="MergeV2Checkpoints/checkpoint_prefixes",
                    control_inputs=[save], device=_CPU0)
    merge = g.op("MergeV2Checkpoints", [prefixes, prefix], device=_CPU0,
                 _has_manual_control_dependencies=True)
    function.ret("identity", g.op("Identity", [prefix], control_inputs=[merge],
                                  device=_CPU0))
    return _stateful_outputs(function)


def _variables(specs: Sequence[tuple[str, str, tuple[int, ...]]]
               ) -> list[CheckpointedVariable]:
    return [CheckpointedVariable(name, dtypes.as_dtype(dtype).enum, shape,
                                 f"{name}/.ATTRIBUTES/VARIABLE_VALUE")
            for name, dtype, shape in specs]


_CASES = {
    "none": [],
    "dense": [("dense/kernel", "float32", (2, 2)), ("dense/bias", "float32", (2,))],
    # dtypes, unknown dims, scalars, names that sanitize alike, and a variable named "3"
    # whose argument assignvariableop_3 takes the name AssignVariableOp_3 would get
    "awkward": [("a", "int64", ()), ("b", "float16", (-1, 3)), ("3", "float32", (4,)),
                ("A.b-c", "string", (2,)), ("a_b_c", "bool", (1,)), ("c", "float64", (1,)),
                ("d", "int8", (2,))],
    "many": [(f"dense_{i}/kernel", "float32", (8, 8)) for i in range(120)],
}


@pytest.mark.parametrize("case", sorted(_CASES))
@pytest.mark.parametrize("kind", ["save", "restore"])
def test_generated_functions_equal_the_graph_api_build(case: str, kind: str) -> None:
    variables = _variables(_CASES[case])
    build, reference = ((save_function, _reference_save) if kind == "save"
                        else (restore_function, _reference_restore))
    ours = build("__inference__traced_x_7", variables)
    expected = reference("__inference__traced_x_7", variables)
    assert (ours.to_function_def().SerializeToString(deterministic=True)
            == expected.to_function_def().SerializeToString(deterministic=True))
    assert ours.input_types == expected.input_types
    assert ours.output_types == expected.output_types
    assert ours.name == "__inference__traced_x_7" and ours.functions == {}


def test_colliding_argument_pushes_the_node_name_on() -> None:
    fdef = restore_function("__inference__r_1", _variables(
        [("x", "float32", ()), ("y", "float32", ()), ("1", "float32", ())])).to_function_def()
    names = [node.name for node in fdef.node_def if node.op == "AssignVariableOp"]
    # AssignVariableOp_1 would collide (case-insensitively) with argument assignvariableop_1
    assert names == ["AssignVariableOp", "AssignVariableOp_2", "AssignVariableOp_3"]
    assert [a.name for a in fdef.signature.input_arg][-1] == "assignvariableop_1"


def test_to_function_def_hands_out_copies() -> None:
    function = save_function("__inference__s_2", _variables([("v", "float32", (1,))]))
    first = function.to_function_def()
    first.node_def[0].name = "edited"
    assert function.to_function_def().node_def[0].name == "StaticRegexFullMatch"


def test_arg_name_sanitizes_and_uniquifies() -> None:
    used: set[str] = set()
    assert [arg_name(b, used) for b in ("Dense/Kernel", "dense_kernel", "9x", "")] == [
        "dense_kernel", "dense_kernel_1", "arg_9x", "arg_"]
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", name) for name in used)
