"""The save and restore functions of a TF2 export, written as FunctionDefs directly.

``tf.saved_model.save`` gives every export two functions the SaverDef points at
(``__inference__traced_save_<uid>`` and ``__inference__traced_restore_<uid>``);
the C++ loader (TF Serving), ``tf.compat.v1`` and re-saving run them.  Their
shape is fixed by the variable list, so they are built here as protos, node by
node, instead of through the Graph API (which checks each node against its op:
needless for these, and the larger part of an export's build time at thousands
of variables).  ``tests/builder/test_tf2_saver.py`` checks both against the
same functions built through the Graph API; TensorFlow runs them in the interop
suites.

Save (``file_prefix``, one ``resource`` argument per variable, ``savev2_const``
the serialized TrackableObjectGraph) -> ``identity`` (the prefix)::

    StaticRegexFullMatch(file_prefix, "^s3://.*")     ("/device:CPU:*" for these 4)
    Const ".part", Const_1 "_temp/part", Select, StringJoin(file_prefix, suffix)
    per variable i: ReadVariableOp[_i](arg) -> Identity[_i] (on /device:CPU:0)
    num_shards = 1, ShardedFilename/shard = 0, ShardedFilename(join, shard, num)
    SaveV2(filename, tensor_names, shape_and_slices, identities..., savev2_const)
    MergeV2Checkpoints/checkpoint_prefixes = Pack([filename]) ^SaveV2
    MergeV2Checkpoints(prefixes, file_prefix); Identity_<n>(file_prefix) ^Merge...

Restore (``file_prefix``, one ``resource`` argument per variable) -> ``identity``::

    RestoreV2(file_prefix, tensor_names, shape_and_slices) with every dtype
    per variable i: Identity[_i](RestoreV2:tensors:i) -> AssignVariableOp[_i](arg, it)
    Identity_<n>(file_prefix) ^every AssignVariableOp

Both list their stateful nodes as control outputs, sorted (``tf.function``'s
convention), and give each argument an ``_output_shapes`` arg attr (scalar
shape for ``file_prefix``/``savev2_const``, unknown-free ``[]`` for handles).
Node names follow the Graph API's uniquifying rule (``Identity``, ``Identity_1``...;
a lower-cased name already taken moves on to the next suffix).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, NamedTuple

import numpy as np

from .. import dtypes
from .._proto import attr_value_pb2, function_pb2, node_def_pb2
from ..format.object_graph import OBJECT_GRAPH_KEY
from ..graph.attrs import handle_data_bytes, make_shape_proto, make_tensor_proto, proto_dtype
from ..graph.graph import FunctionLike

__all__ = ["CheckpointedVariable", "GeneratedFunction", "arg_name", "save_function",
           "restore_function"]

_CPU0: Final = "/device:CPU:0"
_ANY_CPU: Final = "/device:CPU:*"
AttrValue = attr_value_pb2.AttrValue


class CheckpointedVariable(NamedTuple):
    """What the save and restore functions need of a variable."""

    node_name: str
    """Its VarHandleOp's name (the argument is named after it)."""
    dtype: int
    """DataType number of its value."""
    shape: tuple[int, ...]
    """Its shape (-1 for an unknown dimension)."""
    key: str
    """Its checkpoint key."""


class GeneratedFunction:
    """A library function made as a FunctionDef (no Graph behind it); satisfies what a
    graph needs of a function (:class:`pysavedmodel.graph.graph.FunctionLike`)."""

    def __init__(self, function_def: function_pb2.FunctionDef) -> None:
        self._function_def = function_def
        self.name = function_def.signature.name

    def __repr__(self) -> str:
        return f"<GeneratedFunction {self.name!r}>"

    @property
    def input_types(self) -> list[int]:
        return [int(arg.type) for arg in self._function_def.signature.input_arg]

    @property
    def output_types(self) -> list[int]:
        return [int(arg.type) for arg in self._function_def.signature.output_arg]

    @property
    def functions(self) -> Mapping[str, FunctionLike]:
        return {}

    def to_function_def(self) -> function_pb2.FunctionDef:
        """A copy of the FunctionDef."""
        out = function_pb2.FunctionDef()
        self.fill_function_def(out)
        return out

    def fill_function_def(self, fdef: function_pb2.FunctionDef) -> None:
        """Copy the FunctionDef into the empty ``fdef``."""
        fdef.CopyFrom(self._function_def)


def arg_name(base: str, used: set[str]) -> str:
    """An OpDef argument name (``[a-z][a-z0-9_]*``) from ``base``, unique in ``used``."""
    name = re.sub(r"[^a-z0-9_]", "_", base.lower())
    if not name or not name[0].isalpha():
        name = "arg_" + name
    candidate, count = name, 0
    while candidate in used:
        count += 1
        candidate = f"{name}_{count}"
    used.add(candidate)
    return candidate


class _Writer:
    """Appends nodes to a FunctionDef, naming them as the Graph API would."""

    def __init__(self, name: str) -> None:
        self.fdef = function_pb2.FunctionDef()
        self.fdef.signature.name = name
        self._in_use: dict[str, int] = {}  # lower-cased name -> times used as a base
        self.stateful: list[str] = []
        # Per (op, device, attr names, attr value identities): a NodeDef holding those,
        # copied for each node (variables share a few dtypes: one C call per node instead
        # of one per attr); the entry keeps the values alive, so no id is reused.
        self._templates: dict[tuple[Any, ...], tuple[node_def_pb2.NodeDef, Any]] = {}

    def arg(self, name: str, dtype: int, handle: tuple[int, tuple[int, ...]] | None = None
            ) -> str:
        """An argument; ``handle``: (dtype, shape with -1 for unknown dims) of the variable
        behind a resource argument."""
        arg = self.fdef.signature.input_arg.add(name=name, type=proto_dtype(dtype))
        if handle is not None:
            arg.handle_data.add().MergeFromString(handle_data_bytes(*handle))
        self._in_use.setdefault(name.lower(), 1)
        return name

    def unique(self, base: str) -> str:
        """``base``, or ``base_<k>`` for the first free k from the times it was used."""
        in_use = self._in_use
        key = base.lower()
        count = in_use.get(key, 0)
        in_use[key] = count + 1
        if not count:
            return base
        while f"{key}_{count}" in in_use:
            count += 1
        in_use[f"{key}_{count}"] = 1
        return f"{base}_{count}"

    def node(self, base: str, op: str, inputs: Sequence[str], attrs: Mapping[str, AttrValue],
             device: str = "", stateful: bool = False) -> str:
        name = self.unique(base)
        key = (op, device, *attrs, *map(id, attrs.values()))
        known = self._templates.get(key)
        if known is None:
            template = node_def_pb2.NodeDef(op=op, device=device)
            for attr, value in attrs.items():
                template.attr[attr].CopyFrom(value)
            known = self._templates[key] = (template, tuple(attrs.values()))
        node: node_def_pb2.NodeDef = self.fdef.node_def.add()
        node.CopyFrom(known[0])
        node.name = name
        node.input.extend(inputs)
        if stateful:
            self.stateful.append(name)
        return name

    def finish(self, result: str) -> GeneratedFunction:
        """Return ``result`` (a string) as ``identity``; control outputs, arg attrs."""
        fdef = self.fdef
        signature = fdef.signature
        signature.output_arg.add(name="identity", type=proto_dtype(dtypes.DT_STRING))
        signature.is_stateful = True
        fdef.ret["identity"] = f"{result}:output:0"
        for name in sorted(self.stateful):
            signature.control_output.append(name)
            fdef.control_ret[name] = name
        shapes = AttrValue()
        shapes.list.shape.add().CopyFrom(make_shape_proto(()))
        for index in range(len(signature.input_arg)):
            fdef.arg_attr[index].attr["_output_shapes"].CopyFrom(shapes)
        return GeneratedFunction(fdef)


def _type(enum: int) -> AttrValue:
    return AttrValue(type=proto_dtype(enum))


def _const(value: object, dtype: int) -> dict[str, AttrValue]:
    proto = make_tensor_proto(value, dtype)
    return {"value": AttrValue(tensor=proto), "dtype": AttrValue(type=proto.dtype)}


def _strings(values: Sequence[str]) -> dict[str, AttrValue]:
    return _const(np.array([v.encode("utf-8") for v in values], dtype=object),
                  dtypes.DT_STRING)


def _type_list(enums: Sequence[int]) -> AttrValue:
    value = AttrValue()
    value.list.SetInParent()
    value.list.type.extend(proto_dtype(e) for e in enums)
    return value


def save_function(name: str, variables: Sequence[CheckpointedVariable]) -> GeneratedFunction:
    """``__inference__traced_save_<uid>``: writes ``variables`` and the object graph
    (its third argument) to the checkpoint prefix (its first)."""
    w = _Writer(name)
    used = {"file_prefix", "savev2_const"}
    prefix = w.arg("file_prefix", dtypes.DT_STRING)
    handles = [w.arg(arg_name(f"read_disablecopyonread_{var.node_name}", used),
                     dtypes.DT_RESOURCE, (var.dtype, var.shape)) for var in variables]
    object_graph = w.arg("savev2_const", dtypes.DT_STRING)
    string = _type(dtypes.DT_STRING)
    is_s3 = w.node("StaticRegexFullMatch", "StaticRegexFullMatch", [prefix],
                   {"pattern": AttrValue(s=b"^s3://.*")}, _ANY_CPU)
    part = w.node("Const", "Const", [], _const(b".part", dtypes.DT_STRING), _ANY_CPU)
    temp = w.node("Const", "Const", [], _const(b"_temp/part", dtypes.DT_STRING), _ANY_CPU)
    suffix = w.node("Select", "Select", [f"{is_s3}:output:0", f"{part}:output:0",
                                         f"{temp}:output:0"], {"T": string}, _ANY_CPU)
    joined = w.node("StringJoin", "StringJoin", [prefix, f"{suffix}:output:0"],
                    {"separator": AttrValue(s=b""), "N": AttrValue(i=2)}, _ANY_CPU)
    reads = []
    by_dtype: dict[int, AttrValue] = {}
    for var, handle in zip(variables, handles):
        dtype = by_dtype.get(var.dtype)
        if dtype is None:
            dtype = by_dtype[var.dtype] = _type(var.dtype)
        read = w.node("ReadVariableOp", "ReadVariableOp", [handle], {"dtype": dtype},
                      stateful=True)
        reads.append(w.node("Identity", "Identity", [f"{read}:value:0"], {"T": dtype}, _CPU0))
    int32 = dtypes.DT_INT32
    num_shards = w.node("num_shards", "Const", [], _const(np.int32(1), int32))
    shard = w.node("ShardedFilename/shard", "Const", [], _const(np.int32(0), int32), _CPU0)
    filename = w.node("ShardedFilename", "ShardedFilename",
                      [f"{joined}:output:0", f"{shard}:output:0", f"{num_shards}:output:0"],
                      {}, _CPU0)
    keys = [var.key for var in variables] + [OBJECT_GRAPH_KEY]
    names = w.node("SaveV2/tensor_names", "Const", [], _strings(keys), _CPU0)
    slices = w.node("SaveV2/shape_and_slices", "Const", [], _strings([""] * len(keys)), _CPU0)
    manual = AttrValue(b=True)
    save = w.node("SaveV2", "SaveV2",
                  [f"{filename}:filename:0", f"{names}:output:0", f"{slices}:output:0",
                   *(f"{read}:output:0" for read in reads), object_graph],
                  {"dtypes": _type_list([v.dtype for v in variables] + [dtypes.DT_STRING]),
                   "_has_manual_control_dependencies": manual}, _CPU0, stateful=True)
    prefixes = w.node("MergeV2Checkpoints/checkpoint_prefixes", "Pack",
                      [f"{filename}:filename:0", f"^{save}"],
                      {"axis": AttrValue(i=0), "T": string, "N": AttrValue(i=1)}, _CPU0)
    merge = w.node("MergeV2Checkpoints", "MergeV2Checkpoints",
                   [f"{prefixes}:output:0", prefix],
                   {"delete_old_dirs": AttrValue(b=True),
                    "allow_missing_files": AttrValue(b=False),
                    "_has_manual_control_dependencies": manual}, _CPU0, stateful=True)
    done = w.node("Identity", "Identity", [prefix, f"^{merge}"], {"T": string}, _CPU0)
    return w.finish(done)


def restore_function(name: str, variables: Sequence[CheckpointedVariable]
                     ) -> GeneratedFunction:
    """``__inference__traced_restore_<uid>``: reads ``variables`` from the checkpoint
    prefix (its first argument) and assigns them."""
    w = _Writer(name)
    used = {"file_prefix", "savev2_const"}
    prefix = w.arg("file_prefix", dtypes.DT_STRING)
    handles = [w.arg(arg_name(f"assignvariableop_{var.node_name}", used),
                     dtypes.DT_RESOURCE, (var.dtype, var.shape)) for var in variables]
    keys = [var.key for var in variables] + [OBJECT_GRAPH_KEY]
    names = w.node("RestoreV2/tensor_names", "Const", [], _strings(keys), _CPU0)
    slices = w.node("RestoreV2/shape_and_slices", "Const", [], _strings([""] * len(keys)),
                    _CPU0)
    restore = w.node("RestoreV2", "RestoreV2",
                     [prefix, f"{names}:output:0", f"{slices}:output:0"],
                     {"dtypes": _type_list([v.dtype for v in variables] + [dtypes.DT_STRING])},
                     _CPU0, stateful=True)
    assigns = []
    no = AttrValue(b=False)
    manual = AttrValue(b=True)
    by_dtype: dict[int, AttrValue] = {}
    for index, (var, handle) in enumerate(zip(variables, handles)):
        dtype = by_dtype.get(var.dtype)
        if dtype is None:
            dtype = by_dtype[var.dtype] = _type(var.dtype)
        value = w.node("Identity", "Identity", [f"{restore}:tensors:{index}"], {"T": dtype},
                       _CPU0)
        assigns.append(w.node("AssignVariableOp", "AssignVariableOp",
                              [handle, f"{value}:output:0"],
                              {"validate_shape": no, "dtype": dtype,
                               "_has_manual_control_dependencies": manual},
                              _CPU0, stateful=True))
    # control inputs sorted by name, as the Graph API (and TF) order them
    done = w.node("Identity", "Identity", [prefix, *(f"^{a}" for a in sorted(assigns))],
                  {"T": _type(dtypes.DT_STRING)}, _CPU0)
    return w.finish(done)
