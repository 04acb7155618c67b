"""The saver subgraph: TF's sharded V2 ``Saver`` laid out node for node.

:func:`add_saver` appends to a graph the nodes ``tf.compat.v1.train.Saver(
sharded=True, write_version=V2)`` creates for resource variables kept on one
device, under a fresh name scope (``save``, then ``save_1``...), and returns
the matching ``SaverDef``.  Loaders only run the restore path (feed the
checkpoint prefix to ``<scope>/Const:0``, run ``<scope>/restore_all``); the
save path is there so TensorFlow can re-save the model with the same
SaverDef.

Restore path: ``RestoreV2(prefix, tensor_names, shape_and_slices)`` -> one
``Identity`` + ``AssignVariableOp`` per variable -> ``restore_shard`` ->
``restore_all``.  Save path: ``prefix + ("_temp/part" or ".part" for s3://)``
-> ``ShardedFilename(.., 0, 1)`` -> ``SaveV2`` -> ``MergeV2Checkpoints`` into
the prefix -> ``Identity`` of the prefix (the SaverDef's save tensor).

Variables are ordered by checkpoint key (the order TF's saver sorts its
saveables in), which is also the order the checkpoint is written in.

:func:`saver_checkpoint_keys` reads an existing saver's restore path back:
which checkpoint key each variable is restored from.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Final, NamedTuple

from .. import dtypes
from .._proto import attr_value_pb2, saver_pb2, tensor_pb2
from ..dtypes import DType
from ..errors import GraphError, InvalidArgumentError, NotFoundError
from ..graph.attrs import proto_dtype
from ..graph.graph import Graph, op_name_of

__all__ = [
    "SAVER_SCOPE", "MAX_TO_KEEP", "KEEP_CHECKPOINT_EVERY_N_HOURS", "DEFAULT_FILENAME",
    "SaveableVariable", "add_saver", "make_saver_def", "saver_checkpoint_keys",
    "validate_saver_def", "proto_dtype",
]

SAVER_SCOPE: Final = "save"
MAX_TO_KEEP: Final = 5
KEEP_CHECKPOINT_EVERY_N_HOURS: Final = 10000.0
DEFAULT_FILENAME: Final = b"model"
"""Default of the filename placeholder (loaders always feed the real prefix)."""

# Save-path constants TF's sharded V2 saver embeds.
_S3_PATTERN: Final = b"^s3://.*"
_S3_SUFFIX: Final = b".part"          # s3 has no directories, so no temp dir there
_TEMP_SUFFIX: Final = b"_temp/part"
_ANY_CPU: Final = "/device:CPU:*"
_CPU0: Final = "/device:CPU:0"


class SaveableVariable(NamedTuple):
    """One resource variable as the saver sees it."""

    key: str
    """Checkpoint key (TF: the VarHandleOp's ``shared_name``)."""
    handle: str
    """Name of the ``VarHandleOp`` node."""
    dtype: DType
    shape: tuple[int, ...]
    read_tensor: str
    """Tensor holding the variable's value for ``SaveV2`` (``x/Read/ReadVariableOp:0``)."""


# --------------------------------------------------------------------------- attr helpers

def _type_attr(dtype: DType) -> attr_value_pb2.AttrValue:
    return attr_value_pb2.AttrValue(type=proto_dtype(dtype.enum))


def _types_attr(types: Iterable[DType]) -> attr_value_pb2.AttrValue:
    value = attr_value_pb2.AttrValue()
    value.list.type.extend(proto_dtype(dt.enum) for dt in types)
    value.list.SetInParent()
    return value


def _bool_attr(flag: bool) -> attr_value_pb2.AttrValue:
    return attr_value_pb2.AttrValue(b=flag)


def _int_attr(number: int) -> attr_value_pb2.AttrValue:
    return attr_value_pb2.AttrValue(i=number)


def _bytes_attr(data: bytes) -> attr_value_pb2.AttrValue:
    return attr_value_pb2.AttrValue(s=data)


def _scalar_shape_attr() -> attr_value_pb2.AttrValue:
    value = attr_value_pb2.AttrValue()
    value.shape.SetInParent()
    return value


def _colocate_attr(node_name: str) -> attr_value_pb2.AttrValue:
    value = attr_value_pb2.AttrValue()
    value.list.s.append(b"loc:@" + node_name.encode("utf-8"))
    return value


def _string_tensor(values: Sequence[bytes], *, vector: bool) -> attr_value_pb2.AttrValue:
    proto = tensor_pb2.TensorProto(dtype=proto_dtype(dtypes.DT_STRING))
    proto.tensor_shape.SetInParent()
    if vector:
        proto.tensor_shape.dim.add().size = len(values)
    proto.string_val.extend(values)
    return attr_value_pb2.AttrValue(tensor=proto)


def _int32_scalar(number: int) -> attr_value_pb2.AttrValue:
    proto = tensor_pb2.TensorProto(dtype=proto_dtype(dtypes.DT_INT32))
    proto.tensor_shape.SetInParent()
    proto.int_val.append(number)
    return attr_value_pb2.AttrValue(tensor=proto)


_STRING: Final = dtypes.DTYPES[dtypes.DT_STRING]
_INT32: Final = dtypes.DTYPES[dtypes.DT_INT32]


# --------------------------------------------------------------------------- building

def make_saver_def(scope: str) -> saver_pb2.SaverDef:
    """The SaverDef of a sharded V2 saver built under ``scope``."""
    return saver_pb2.SaverDef(
        filename_tensor_name=f"{scope}/Const:0",
        save_tensor_name=f"{scope}/Identity:0",
        restore_op_name=f"{scope}/restore_all",
        max_to_keep=MAX_TO_KEEP,
        sharded=True,
        keep_checkpoint_every_n_hours=KEEP_CHECKPOINT_EVERY_N_HOURS,
        version=saver_pb2.SaverDef.V2,
    )


def _const(graph: Graph, name: str, value: attr_value_pb2.AttrValue, dtype: DType,
           device: str | None = None) -> str:
    return graph.op("Const", [], name=name, device=device, dtype=_type_attr(dtype),
                    value=value).op_name


def add_saver(graph: Graph, variables: Sequence[SaveableVariable]) -> saver_pb2.SaverDef:
    """Append a sharded V2 saver for ``variables`` to ``graph``; return its SaverDef.

    ``variables`` must be non-empty with unique keys; they are laid out in
    key order.
    """
    if not variables:
        raise InvalidArgumentError("a saver needs at least one variable")
    ordered = sorted(variables, key=lambda v: v.key.encode("utf-8"))
    keys = [v.key for v in ordered]
    duplicates = sorted(k for k, n in Counter(keys).items() if n > 1)
    if duplicates:
        raise InvalidArgumentError(
            f"several variables share the checkpoint key(s) {duplicates}; keys must be unique")
    names = [k.encode("utf-8") for k in keys]
    types = [v.dtype for v in ordered]

    with graph.name_scope(SAVER_SCOPE):
        # The checkpoint prefix: a placeholder defaulting to "model".
        first = _const(graph, "filename/input", _string_tensor([DEFAULT_FILENAME], vector=False),
                       _STRING)
        # The scope is made unique by the graph ("save", "save_1"...).
        scope = first[: -len("/filename/input")]

        def full(name: str) -> str:
            return f"{scope}/{name}"

        def at(name: str) -> str:
            # Absolute node name: some nodes are created after their "children"
            # (SaveV2 after SaveV2/tensor_names), so relative names would be
            # uniquified to SaveV2_1.
            return f"{scope}/{name}/"

        graph.op("PlaceholderWithDefault", [full("filename/input")], name=at("filename"),
                 dtype=_type_attr(_STRING), shape=_scalar_shape_attr())
        prefix = graph.op("PlaceholderWithDefault", [full("filename")], name=at("Const"),
                          dtype=_type_attr(_STRING), shape=_scalar_shape_attr()).op_name

        # Save path: write shard 0 of 1 under a temp prefix, then merge into prefix.
        graph.op("StaticRegexFullMatch", [prefix], name=at("StaticRegexFullMatch"),
                 device=_ANY_CPU, pattern=_bytes_attr(_S3_PATTERN))
        _const(graph, at("Const_1"), _string_tensor([_S3_SUFFIX], vector=False), _STRING,
               _ANY_CPU)
        _const(graph, at("Const_2"), _string_tensor([_TEMP_SUFFIX], vector=False), _STRING,
               _ANY_CPU)
        graph.op("Select", [full("StaticRegexFullMatch"), full("Const_1"), full("Const_2")],
                 name=at("Select"), device=_ANY_CPU, T=_type_attr(_STRING))
        graph.op("StringJoin", [prefix, full("Select")], name=at("StringJoin"), device=_ANY_CPU,
                 N=_int_attr(2), separator=_bytes_attr(b""))
        _const(graph, at("num_shards"), _int32_scalar(1), _INT32)
        _const(graph, at("ShardedFilename/shard"), _int32_scalar(0), _INT32, _CPU0)
        shard_file = graph.op(
            "ShardedFilename",
            [full("StringJoin"), full("ShardedFilename/shard"), full("num_shards")],
            name=at("ShardedFilename"), device=_CPU0).op_name
        _const(graph, at("SaveV2/tensor_names"), _string_tensor(names, vector=True), _STRING,
               _CPU0)
        _const(graph, at("SaveV2/shape_and_slices"),
               _string_tensor([b""] * len(names), vector=True), _STRING, _CPU0)
        graph.op("SaveV2",
                 [shard_file, full("SaveV2/tensor_names"), full("SaveV2/shape_and_slices"),
                  [v.read_tensor for v in ordered]],
                 name=at("SaveV2"), device=_CPU0, dtypes=_types_attr(types),
                 _has_manual_control_dependencies=_bool_attr(True))
        graph.op("Identity", [shard_file], name=at("control_dependency"), device=_CPU0,
                 control_inputs=[full("SaveV2")], T=_type_attr(_STRING),
                 _class=_colocate_attr(shard_file),
                 _has_manual_control_dependencies=_bool_attr(True))
        graph.op("Pack", [shard_file], name=at("MergeV2Checkpoints/checkpoint_prefixes"),
                 device=_CPU0, control_inputs=[full("control_dependency")],
                 N=_int_attr(1), T=_type_attr(_STRING), axis=_int_attr(0))
        graph.op("MergeV2Checkpoints", [full("MergeV2Checkpoints/checkpoint_prefixes"), prefix],
                 name=at("MergeV2Checkpoints"), device=_CPU0,
                 allow_missing_files=_bool_attr(False), delete_old_dirs=_bool_attr(True),
                 _has_manual_control_dependencies=_bool_attr(True))
        graph.op("Identity", [prefix], name=at("Identity"), device=_CPU0,
                 control_inputs=[full("MergeV2Checkpoints"), full("control_dependency")],
                 T=_type_attr(_STRING))

        # Restore path.
        _const(graph, at("RestoreV2/tensor_names"), _string_tensor(names, vector=True), _STRING,
               _CPU0)
        _const(graph, at("RestoreV2/shape_and_slices"),
               _string_tensor([b""] * len(names), vector=True), _STRING, _CPU0)
        restore = graph.op("RestoreV2", [prefix, full("RestoreV2/tensor_names"),
                                         full("RestoreV2/shape_and_slices")],
                           name=at("RestoreV2"), device=_CPU0, dtypes=_types_attr(types)).op_name
        assigns: list[str] = []
        for i, var in enumerate(ordered):
            source = restore if i == 0 else f"{restore}:{i}"
            # Two nodes per variable: Graph.op's private fast path adds what op() would.
            identity = graph.add_trusted_node("Identity", [source], name=at(f"Identity_{i + 1}"),
                                             attrs={"T": _type_attr(var.dtype)}).op_name
            assign_name = "AssignVariableOp" if i == 0 else f"AssignVariableOp_{i}"
            assign = graph.add_trusted_node(
                "AssignVariableOp", [var.handle, identity], name=at(assign_name),
                attrs={"dtype": _type_attr(var.dtype), "validate_shape": _bool_attr(False),
                       "_has_manual_control_dependencies": _bool_attr(True)})
            assigns.append(assign.op_name)
        graph.op("NoOp", [], name=at("restore_shard"), control_inputs=assigns,
                 _has_manual_control_dependencies=_bool_attr(True))
        graph.op("NoOp", [], name=at("restore_all"), control_inputs=[full("restore_shard")])
    return make_saver_def(scope)


# --------------------------------------------------------------------------- user SaverDefs

def validate_saver_def(graph: Graph, saver_def: saver_pb2.SaverDef) -> saver_pb2.SaverDef:
    """Check a user-supplied SaverDef against ``graph``; return a copy.

    The filename and save tensors and the restore op must exist, and the
    checkpoint version must be V2 (the only format written here).
    """
    if not isinstance(saver_def, saver_pb2.SaverDef):
        if getattr(getattr(saver_def, "DESCRIPTOR", None), "full_name", "") == \
                "tensorflow.SaverDef":  # another pool's class (TF's own)
            return validate_saver_def(
                graph, saver_pb2.SaverDef.FromString(saver_def.SerializeToString()))
        raise InvalidArgumentError(
            f"saver must be a SaverDef proto, got {type(saver_def).__name__}")
    if saver_def.version != saver_pb2.SaverDef.V2:
        version = saver_pb2.SaverDef.CheckpointFormatVersion.Name(saver_def.version)
        raise InvalidArgumentError(
            f"saver.version is {version}; only V2 checkpoints are written, set version=V2")
    for field, wants_tensor in (("filename_tensor_name", True), ("save_tensor_name", True),
                                ("restore_op_name", False)):
        name = getattr(saver_def, field)
        if not name:
            raise InvalidArgumentError(f"saver.{field} is empty")
        try:
            if wants_tensor:
                graph.get_tensor(name)
            elif not graph.has_node(op_name_of(name)):
                raise NotFoundError(name)
        except NotFoundError:
            kind = "tensor" if wants_tensor else "op"
            raise InvalidArgumentError(
                f"saver.{field} names {kind} {name!r}, which is not in the graph") from None
    copy = saver_pb2.SaverDef()
    copy.CopyFrom(saver_def)
    return copy


def _string_values(graph: Graph, tensor_name: str) -> list[bytes]:
    node = graph.node_view(op_name_of(tensor_name))
    if node.op != "Const":
        raise GraphError(f"{tensor_name!r} must be a Const, got a {node.op} node")
    return list(node.attr["value"].tensor.string_val)


def _upstream(graph: Graph, start: str) -> Iterable[str]:
    """Every node ``start`` depends on (data and control inputs), itself included."""
    seen = {start}
    stack = [start]
    while stack:
        node = graph.node_view(stack.pop())
        yield node.name
        for inp in node.input:
            name = op_name_of(inp.lstrip("^"))
            if name not in seen:
                seen.add(name)
                stack.append(name)


def saver_checkpoint_keys(graph: Graph, restore_op_name: str) -> dict[str, str]:
    """``{VarHandleOp name: checkpoint key}`` as ``restore_op_name`` restores them.

    Follows each ``AssignVariableOp`` the restore op depends on back through
    ``Identity`` nodes to a ``RestoreV2`` output and reads the key from its
    ``tensor_names`` Const.  Sliced restores are not supported.
    """
    keys: dict[str, str] = {}
    for name in _upstream(graph, op_name_of(restore_op_name)):
        node = graph.node_view(name)
        if node.op != "AssignVariableOp":
            continue
        handle = op_name_of(node.input[0])
        source = node.input[1]
        while graph.node_view(op_name_of(source)).op == "Identity":
            source = graph.node_view(op_name_of(source)).input[0]
        restore = graph.node_view(op_name_of(source))
        if restore.op != "RestoreV2":
            continue
        _, sep, index = source.rpartition(":")
        output = int(index) if sep and index.isdigit() else 0
        names = _string_values(graph, restore.input[1])
        slices = _string_values(graph, restore.input[2])
        if output >= len(names):
            raise GraphError(f"{restore.name!r} has no output {output} for {handle!r}")
        if slices[output]:
            raise GraphError(
                f"{restore.name!r} restores {handle!r} as a slice ({slices[output]!r}); "
                "sliced variables are not supported")
        key = names[output].decode("utf-8")
        if keys.get(handle, key) != key:
            raise GraphError(
                f"variable {handle!r} is restored from two keys: {keys[handle]!r} and {key!r}")
        keys[handle] = key
    return keys
