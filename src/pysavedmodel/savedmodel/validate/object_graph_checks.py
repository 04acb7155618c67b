"""Checks of a TF2 SavedModel's object graph against its checkpoint and function library.

``MetaGraphDef.object_graph_def`` (a SavedObjectGraph) is what
``tf.saved_model.load`` rebuilds Python objects from:

* every child reference (``children[].node_id``), every ``bound_inputs`` entry of
  a concrete function and every ``dependencies`` reference is a node index in
  range, and a SavedAsset's ``asset_file_def_index`` an index of the meta graph's
  ``asset_file_def`` (``object-graph-reference``);
* every concrete function a ``function`` / ``bare_concrete_function`` object
  names is in ``concrete_functions``, and each of those is a FunctionDef of the
  graph's library (``object-function-missing``);
* a concrete function's FunctionDef takes the tensors of its
  ``canonicalized_input_signature`` (flattened: tuples and lists in order, dicts by
  sorted key) then one argument per ``bound_inputs`` entry, with the specs' dtypes,
  and returns the tensors of its ``output_signature`` (``object-function-signature``;
  signatures holding composite specs, such as ragged or sparse ones, are not
  checked);
* the checkpoint's ``_CHECKPOINTABLE_OBJECT_GRAPH`` (a TrackableObjectGraph)
  parses, has the same number of nodes as the SavedObjectGraph (the loader
  pairs them by index) and its references are in range
  (``object-graph-mismatch``); each attribute's ``checkpoint_key`` is a tensor
  of the checkpoint, with the dtype and shape of the SavedVariable at that node
  (``object-checkpoint-key-missing``, ``variable-dtype-mismatch``,
  ``variable-shape-mismatch``).
"""

from __future__ import annotations

from ..._proto import (
    function_pb2,
    op_def_pb2,
    saved_object_graph_pb2,
    struct_pb2,
    trackable_object_graph_pb2,
)
from ...errors import Error
from ...format.object_graph import OBJECT_GRAPH_KEY, parse_object_graph
from .context import MetaGraphContext
from .findings import type_name
from .saver_checks import Checkpoint

__all__ = ["check_object_graph"]


def check_object_graph(ctx: MetaGraphContext, checkpoint: Checkpoint) -> None:
    """Every object-graph check of one meta graph (nothing when it has none)."""
    if not ctx.meta.HasField("object_graph_def"):
        return
    graph = ctx.meta.object_graph_def
    count = len(graph.nodes)
    for index, node in enumerate(graph.nodes):
        where = ctx.at(f"object node {index}")
        for child in node.children:
            if not 0 <= child.node_id < count:
                ctx.report("object-graph-reference", where,
                           f"child {child.local_name!r} refers to node {child.node_id}; "
                           f"expected 0..{count - 1}")
        for dep in node.dependencies:
            if not 0 <= dep.node_id < count:
                ctx.report("object-graph-reference", where,
                           f"dependency {dep.local_name!r} refers to node {dep.node_id}; "
                           f"expected 0..{count - 1}")
        kind = node.WhichOneof("kind")
        if kind == "asset":
            asset_index = node.asset.asset_file_def_index
            if not 0 <= asset_index < len(ctx.meta.asset_file_def):
                ctx.report("object-graph-reference", where,
                           f"asset refers to asset_file_def {asset_index}; the meta graph has "
                           f"{len(ctx.meta.asset_file_def)}")
        names: list[str] = []
        if kind == "function":
            names = list(node.function.concrete_functions)
        elif kind == "bare_concrete_function":
            names = [node.bare_concrete_function.concrete_function_name]
        for name in names:
            if name not in graph.concrete_functions:
                ctx.report("object-function-missing", where,
                           f"names concrete function {name!r}, which is not in the object "
                           f"graph's concrete_functions")
    for name, function in sorted(graph.concrete_functions.items()):
        where = ctx.at(f"concrete function {name!r}")
        if name not in ctx.functions:
            ctx.report("object-function-missing", where,
                       "is not a FunctionDef of the graph's function library")
        for bound in function.bound_inputs:
            if not 0 <= bound < count:
                ctx.report("object-graph-reference", where,
                           f"bound input {bound} is not a node of the object graph "
                           f"(expected 0..{count - 1})")
        if name in ctx.functions:
            _check_function_signature(ctx, where, function, ctx.functions[name])
    _check_against_checkpoint(ctx, graph, checkpoint)


def _tensor_dtypes(value: struct_pb2.StructuredValue) -> list[int] | None:
    """The dtypes of the tensors a structure flattens to (TF's nest order: dict keys
    sorted), or None when it holds a composite spec this check does not expand."""
    kind = value.WhichOneof("kind")
    if kind in ("tensor_spec_value", "bounded_tensor_spec_value"):
        spec = getattr(value, kind)
        return [int(spec.dtype)]
    if kind in ("tuple_value", "list_value"):
        items = list(getattr(value, kind).values)
    elif kind == "named_tuple_value":
        items = [pair.value for pair in value.named_tuple_value.values]
    elif kind == "dict_value":
        items = [value.dict_value.fields[key] for key in sorted(value.dict_value.fields)]
    elif kind in ("type_spec_value", "tensor_value", "numpy_value"):
        return None
    else:  # None and Python scalars are not function inputs
        return []
    out: list[int] = []
    for item in items:
        inner = _tensor_dtypes(item)
        if inner is None:
            return None
        out.extend(inner)
    return out


def _check_function_signature(ctx: MetaGraphContext, where: str,
                              saved: saved_object_graph_pb2.SavedConcreteFunction,
                              fdef: function_pb2.FunctionDef) -> None:
    inputs = _tensor_dtypes(saved.canonicalized_input_signature)
    if inputs is not None:
        args = list(fdef.signature.input_arg)
        expected = len(inputs) + len(saved.bound_inputs)
        if len(args) != expected:
            ctx.report("object-function-signature", where,
                       f"its FunctionDef takes {len(args)} argument(s); the input signature "
                       f"has {len(inputs)} tensor(s) and {len(saved.bound_inputs)} bound "
                       f"input(s)")
        else:
            _check_dtypes(ctx, where, "argument", args, inputs, "input")
    outputs = _tensor_dtypes(saved.output_signature)
    if outputs is not None:
        results = list(fdef.signature.output_arg)
        if len(results) != len(outputs):
            ctx.report("object-function-signature", where,
                       f"its FunctionDef returns {len(results)} tensor(s); the output "
                       f"signature has {len(outputs)}")
        else:
            _check_dtypes(ctx, where, "result", results, outputs, "output")


def _check_dtypes(ctx: MetaGraphContext, where: str, what: str,
                  args: list[op_def_pb2.OpDef.ArgDef],
                  wanted: list[int], side: str) -> None:
    """Report each FunctionDef ``args`` entry whose dtype is not the signature's."""
    for arg, want in zip(args, wanted):
        if arg.type != want:
            ctx.report("object-function-signature", where,
                       f"{what} {arg.name!r} is {type_name(arg.type)} but the {side} "
                       f"signature says {type_name(want)}")


def _check_against_checkpoint(ctx: MetaGraphContext,
                              graph: saved_object_graph_pb2.SavedObjectGraph,
                              checkpoint: Checkpoint) -> None:
    reader = checkpoint.reader(ctx.report)
    if reader is None or OBJECT_GRAPH_KEY not in reader:
        return
    where = ctx.at(f"checkpoint {OBJECT_GRAPH_KEY}")
    try:
        tracked = parse_object_graph(reader.read(OBJECT_GRAPH_KEY))
    except Error as exc:
        ctx.report("object-graph-mismatch", where, str(exc))
        return
    if len(tracked.nodes) != len(graph.nodes):
        ctx.report("object-graph-mismatch", where,
                   f"has {len(tracked.nodes)} nodes but the SavedObjectGraph has "
                   f"{len(graph.nodes)}; the loader pairs them by index")
    for index, node in enumerate(tracked.nodes):
        for attr in node.attributes:
            _check_attribute(ctx, graph, checkpoint, index, attr)


def _check_attribute(ctx: MetaGraphContext, graph: saved_object_graph_pb2.SavedObjectGraph,
                     checkpoint: Checkpoint, index: int,
                     attr: trackable_object_graph_pb2.TrackableObjectGraph.TrackableObject
                     .SerializedTensor) -> None:
    where = ctx.at(f"object node {index} attribute {attr.name!r}")
    entry = checkpoint.entry(attr.checkpoint_key)
    if entry is None:
        ctx.report("object-checkpoint-key-missing", where,
                   f"checkpoint key {attr.checkpoint_key!r} is not a tensor of "
                   f"{checkpoint.where}")
        return
    if index >= len(graph.nodes) or graph.nodes[index].WhichOneof("kind") != "variable":
        return
    variable = graph.nodes[index].variable
    dtype, shape = entry
    if variable.dtype and dtype != variable.dtype:
        ctx.report("variable-dtype-mismatch", where,
                   f"checkpoint tensor {attr.checkpoint_key!r} is {type_name(dtype)}; the "
                   f"SavedVariable is {type_name(variable.dtype)}")
    if not variable.shape.unknown_rank:
        want = tuple(d.size for d in variable.shape.dim)
        if all(d >= 0 for d in want) and want != tuple(shape):
            ctx.report("variable-shape-mismatch", where,
                       f"checkpoint tensor {attr.checkpoint_key!r} has shape {list(shape)}; "
                       f"the SavedVariable has {list(want)}")
