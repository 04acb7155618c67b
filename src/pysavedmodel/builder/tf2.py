"""TF2 exports: the user's graph as functions, a SavedObjectGraph, an object-based checkpoint.

:func:`build_tf2_export` turns a graph built with the Graph API (placeholders,
variables, signatures) into what ``tf.saved_model.save`` (TF 2.21) writes for a
module holding the same variables and a ``serve`` function; see
docs/format/tf2-savedmodel.md for every fact used here.  Layout:

* functions (``GraphDef.library``), built with :class:`~pysavedmodel.Function`:
  per signature a body ``__inference_<key>_<uid>`` (``__inference_serve_<uid>``
  for the serving signature) whose arguments are the signature's inputs (sorted by
  key) then one resource argument per variable it reads (the captured, *bound*
  inputs), and a wrapper ``__inference_signature_wrapper_<key>_<uid>`` calling it
  through ``StatefulPartitionedCall`` and returning the outputs sorted by key;
  ``__inference__traced_save_<uid>`` / ``__inference__traced_restore_<uid>`` write
  and read the object-based checkpoint.
* the outer graph: one ``VarHandleOp`` (+ ``ReadVariableOp``) per variable, per
  signature one ``Placeholder`` ``<key>_<input>`` per input and a
  ``StatefulPartitionedCall`` of its wrapper (the SignatureDef's outputs are its
  outputs), ``NoOp`` (the ``__saved_model_init_op`` signature), ``Const`` (the
  serialized TrackableObjectGraph), ``saver_filename`` and two more calls (save
  and restore: the SaverDef, so the C++ and ``tf.compat.v1`` loaders restore the
  TF2 keys).
* the SavedObjectGraph (node ids breadth-first): root ``_generic_user_object``
  with the variables (nested user objects following ``/`` in their names:
  ``dense/kernel`` is child ``kernel`` of child ``dense``), lists ``variables``,
  ``trainable_variables``, ``regularization_losses`` (TF Hub's Reusable SavedModel
  attributes), ``__call__`` and ``serve`` (one function node), ``signatures``.
* the checkpoint: ``<object path>/.ATTRIBUTES/VARIABLE_VALUE`` per variable in
  node-id order, then ``_CHECKPOINTABLE_OBJECT_GRAPH``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from .. import dtypes
from .._proto import (
    attr_value_pb2,
    graph_pb2,
    meta_graph_pb2,
    op_def_pb2,
    saved_object_graph_pb2,
    saver_pb2,
    struct_pb2,
)
from ..constants import DEFAULT_SERVING_SIGNATURE_DEF_KEY, INIT_OP_SIGNATURE_KEY
from ..errors import InvalidArgumentError, SignatureError
from ..format.object_graph import (
    OBJECT_GRAPH_KEY,
    TrackableNode,
    trackable_object_graph,
    variable_key,
)
from ..graph.attrs import make_shape_proto, make_tensor_proto, proto_dtype
from ..graph.function import Function
from ..graph.graph import Graph, Tensor, VariableSpec
from ..graph.op_registry import get_op_def, op_list
from ..names import canonical_tensor_name, parse_input

__all__ = ["Tf2Export", "build_tf2_export", "RESERVED_ROOT_CHILDREN"]

RESERVED_ROOT_CHILDREN: Final = ("variables", "trainable_variables", "regularization_losses",
                                 "__call__", "serve", "signatures")
"""Children of the root object the export adds itself (TF Hub's Reusable SavedModel
attributes, the ``serve`` function and the signature map)."""

_GENERIC: Final = "_generic_user_object"
_LIST: Final = "trackable_list_wrapper"
_SIGNATURE_MAP: Final = "signature_map"
_CPU0: Final = "/device:CPU:0"
_ANY_CPU: Final = "/device:CPU:*"
_INPUT_OPS: Final = ("Placeholder", "PlaceholderWithDefault")
_DROPPED_ATTRS: Final = ("_output_shapes", "_class")


@dataclass
class Tf2Export:
    """Everything a TF2 meta graph needs besides tags."""

    graph_def: graph_pb2.GraphDef
    object_graph: saved_object_graph_pb2.SavedObjectGraph
    saver_def: saver_pb2.SaverDef
    signatures: dict[str, meta_graph_pb2.SignatureDef]
    checkpoint: dict[str, Any]
    """Checkpoint tensors in data-file order (node ids), the object graph last."""
    op_list: op_def_pb2.OpList


# --------------------------------------------------------------------------- objects

@dataclass(eq=False)
class _Object:
    kind: str                      # user | variable | function | bare
    identifier: str = ""
    children: list[tuple[str, _Object]] = field(default_factory=list)
    variable: _Var | None = None
    concrete: str = ""
    arg_names: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    input_specs: tuple[struct_pb2.StructuredValue, ...] = ()


@dataclass(eq=False)
class _Var:
    spec: VariableSpec
    path: tuple[str, ...]
    value: np.ndarray
    node_id: int = -1

    @property
    def key(self) -> str:
        return variable_key(self.path)


def _variable_tree(specs: Sequence[VariableSpec], values: Mapping[str, np.ndarray],
                   root: _Object) -> list[_Var]:
    """Hang each variable under the root, nested by the ``/`` components of its name
    (flat, with the whole name as local name, where nesting would clash)."""
    out = []
    for spec in specs:
        parts = tuple(spec.node_name.split("/"))
        if parts[0] in RESERVED_ROOT_CHILDREN:
            raise InvalidArgumentError(
                f"variable {spec.node_name!r}: a TF2 export's root object has its own child "
                f"{parts[0]!r}; rename the variable or export with format='tf1'")
        var = _Var(spec, parts, values[spec.node_name])
        obj = _Object("variable", variable=var)
        node: _Object | None = root
        for part in parts[:-1]:
            assert node is not None
            found = dict(node.children).get(part)
            if found is None and part:
                found = _Object("user", _GENERIC)
                node.children.append((part, found))
            node = found if found is not None and found.kind == "user" and part else None
            if node is None:
                break
        if node is None or not parts[-1] or parts[-1] in dict(node.children):
            var.path = (spec.node_name,)
            if spec.node_name in dict(root.children):
                raise InvalidArgumentError(
                    f"variable {spec.node_name!r} cannot be given an object path of its own "
                    f"in the TF2 object graph (it clashes with another variable's scope); "
                    f"rename it or export with format='tf1'")
            root.children.append((spec.node_name, obj))
        else:
            node.children.append((parts[-1], obj))
        out.append(var)
    return out


def _number(objects: _Object) -> list[_Object]:
    """Objects in node-id order: breadth-first, an id on first discovery."""
    order = [objects]
    seen = {id(objects)}
    index = 0
    while index < len(order):
        for _, child in order[index].children:
            if id(child) not in seen:
                seen.add(id(child))
                order.append(child)
        index += 1
    return order


# --------------------------------------------------------------------------- names

def _arg_name(base: str, used: set[str]) -> str:
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


def _function_part(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", key)


# --------------------------------------------------------------------------- bodies

@dataclass
class _Body:
    function: Function
    input_keys: list[str]
    arg_names: list[str]
    output_keys: list[str]
    captured: list[_Var]
    args: list[tuple[str, Any, Any, Any, Any]]
    """(name, dtype, shape, handle dtype, handle shape) of each argument, in order."""


def _needed_nodes(graph: Graph, outputs: Sequence[str], stop: set[str]) -> list[str]:
    """Names of the nodes ``outputs`` depend on (data and control edges), inputs first;
    nodes in ``stop`` are not entered."""
    order: list[str] = []
    state: dict[str, int] = {}
    for start in outputs:
        if start in stop or state.get(start) == 2:
            continue
        stack: list[tuple[str, bool]] = [(start, False)]
        while stack:
            name, done = stack.pop()
            if done:
                if state.get(name) != 2:
                    state[name] = 2
                    order.append(name)
                continue
            if state.get(name):
                continue
            state[name] = 1
            stack.append((name, True))
            for text in reversed(graph.node(name).input):
                source = parse_input(text)[0]
                if source not in stop and not state.get(source):
                    stack.append((source, False))
    return order


def _group_inputs(node: Any, op_def: op_def_pb2.OpDef, refs: list[str]) -> list[Any]:
    grouped: list[Any] = []
    position = 0
    for arg in op_def.input_arg:
        if arg.number_attr:
            count, is_list = node.attr[arg.number_attr].i, True
        elif arg.type_list_attr:
            count, is_list = len(node.attr[arg.type_list_attr].list.type), True
        else:
            count, is_list = 1, False
        part = refs[position:position + count]
        position += count
        grouped.append(part if is_list else part[0])
    return grouped


def _build_body(graph: Graph, name: str, key: str, signature: meta_graph_pb2.SignatureDef,
                variables: Mapping[str, _Var]) -> _Body:
    """The user's sub-graph computing ``signature`` as a function (see module docstring)."""
    input_keys = sorted(signature.inputs)
    output_keys = sorted(signature.outputs)
    inputs: dict[str, str] = {}
    for input_key in input_keys:
        tensor = canonical_tensor_name(signature.inputs[input_key].name)
        op_name, _, index = tensor.partition(":")
        node = graph.node(op_name)
        if node.op not in _INPUT_OPS or index != "0":
            raise SignatureError(
                f"signature {key!r}: input {input_key!r} is {tensor!r}, a {node.op} output; "
                f"a TF2 export feeds inputs as function arguments, so each must be a "
                f"Placeholder (or export with format='tf1')")
        if op_name in inputs.values():
            raise SignatureError(
                f"signature {key!r}: inputs {input_key!r} and "
                f"{next(k for k, v in inputs.items() if v == op_name)!r} are the same "
                f"placeholder {op_name!r}; a TF2 export needs one placeholder per input")
        inputs[input_key] = op_name
    output_ops = [parse_input(canonical_tensor_name(signature.outputs[k].name))[0]
                  for k in output_keys]
    stop = set(inputs.values()) | set(variables)
    needed = _needed_nodes(graph, output_ops, stop)
    for node_name in needed:
        node = graph.node(node_name)
        if node.op in _INPUT_OPS and node.op == "Placeholder":
            raise SignatureError(
                f"signature {key!r}: its outputs depend on placeholder {node_name!r}, which "
                f"is not one of its inputs ({', '.join(map(repr, input_keys))})")
    captured_names = {parse_input(text)[0] for n in needed for text in graph.node(n).input
                      } | set(output_ops)
    captured = [var for handle, var in variables.items() if handle in captured_names]

    used = {node.name.lower() for node in graph.nodes}
    function = Function(name)
    for called in graph.functions.values():
        function.graph.add_function(called)
    rename: dict[str, str] = {}
    arg_names = []
    args: list[tuple[str, Any, Any, Any, Any]] = []
    for input_key in input_keys:
        node = graph.node(inputs[input_key])
        info = signature.inputs[input_key]
        arg = _arg_name(input_key, used)
        args.append((arg, dtypes.as_dtype(node.attr["dtype"].type),
                     _shape_list(info.tensor_shape), None, None))
        rename[inputs[input_key]] = arg
        arg_names.append(arg)
    for var in captured:
        arg = _arg_name(f"{var.spec.node_name}_resource", used)
        args.append((arg, "resource", [], var.spec.dtype,
                     [None if d < 0 else d for d in var.spec.shape]))
        rename[var.spec.node_name] = arg
    for arg, dtype, shape, handle_dtype, handle_shape in args:
        function.arg(arg, dtype, shape, handle_dtype=handle_dtype, handle_shape=handle_shape)

    def renamed(text: str) -> str:
        source, index, control = parse_input(text)
        if control:
            return "^" + rename.get(source, source)
        return f"{rename.get(source, source)}:{index}"

    for node_name in needed:
        node = graph.node(node_name)
        op_def = get_op_def(node.op)
        data = [renamed(t) for t in node.input if not t.startswith("^")]
        controls = [renamed(t)[1:] for t in node.input if t.startswith("^")]
        attrs: dict[str, Any] = {k: v for k, v in node.attr.items()
                                 if k not in _DROPPED_ATTRS}
        function.graph.op(node.op, _group_inputs(node, op_def, data), name=node_name + "/",
                          control_inputs=controls, device=node.device or None, **attrs)
    for output_key in output_keys:
        function.ret(_arg_name(output_key, set()),
                     renamed(canonical_tensor_name(signature.outputs[output_key].name)))
    return _Body(function, input_keys, arg_names, output_keys, captured, args)


def _shape_list(shape: Any) -> list[int | None] | None:
    if shape.unknown_rank:
        return None
    return [None if dim.size < 0 else dim.size for dim in shape.dim]


def _wrapper(name: str, body: _Body) -> Function:
    """A signature wrapper: same arguments, calls the body, returns its results."""
    wrapper = Function(name)
    args = [wrapper.arg(arg, dtype, shape, handle_dtype=handle_dtype, handle_shape=handle_shape)
            for arg, dtype, shape, handle_dtype, handle_shape in body.args]
    call = wrapper.graph.op("StatefulPartitionedCall", [args], f=body.function)
    for index, output_key in enumerate(body.output_keys):
        result = wrapper.graph.op("Identity", [wrapper.graph.get_tensor(
            f"{call.op_name}:{index}")])
        wrapper.ret(_arg_name(output_key, set()), result)
    return wrapper


# --------------------------------------------------------------------------- save / restore

def _string_vector(graph: Graph, values: Sequence[str], name: str) -> Tensor:
    proto = make_tensor_proto(np.array([v.encode("utf-8") for v in values], dtype=object),
                              dtypes.DT_STRING)
    return graph.op("Const", [], name=name, value=attr_value_pb2.AttrValue(tensor=proto),
                    dtype=proto.dtype, device=_CPU0)


def _resource_args(function: Function, variables: Sequence[_Var], prefix: str) -> list[Tensor]:
    used: set[str] = {"file_prefix", "savev2_const"}
    return [function.arg(_arg_name(f"{prefix}_{var.spec.node_name}", used), "resource", [],
                         handle_dtype=var.spec.dtype,
                         handle_shape=[None if d < 0 else d for d in var.spec.shape])
            for var in variables]


def _restore_function(name: str, variables: Sequence[_Var]) -> Function:
    function = Function(name)
    graph = function.graph
    prefix = function.arg("file_prefix", "string", [])
    handles = _resource_args(function, variables, "assignvariableop")
    keys = [var.key for var in variables] + [OBJECT_GRAPH_KEY]
    names = _string_vector(graph, keys, "RestoreV2/tensor_names")
    slices = _string_vector(graph, [""] * len(keys), "RestoreV2/shape_and_slices")
    restore = graph.op("RestoreV2", [prefix, names, slices], device=_CPU0,
                       dtypes=[var.spec.dtype.enum for var in variables] + [dtypes.DT_STRING])
    assigns = []
    for index, (var, handle) in enumerate(zip(variables, handles)):
        value = graph.op("Identity", [graph.get_tensor(f"{restore.op_name}:{index}")],
                         device=_CPU0)
        assigns.append(graph.op("AssignVariableOp", [handle, value], dtype=var.spec.dtype.enum,
                                device=_CPU0, _has_manual_control_dependencies=True))
    done = graph.op("Identity", [prefix], control_inputs=assigns, device=_CPU0)
    function.ret("identity", done)
    return function


def _save_function(name: str, variables: Sequence[_Var]) -> Function:
    function = Function(name)
    graph = function.graph
    prefix = function.arg("file_prefix", "string", [])
    handles = _resource_args(function, variables, "read_disablecopyonread")
    object_graph = function.arg("savev2_const", "string", [])
    is_s3 = graph.op("StaticRegexFullMatch", [prefix], pattern="^s3://.*", device=_ANY_CPU)
    part = graph.op("Const", [], name="Const", device=_ANY_CPU, dtype=dtypes.DT_STRING,
                    value=attr_value_pb2.AttrValue(tensor=make_tensor_proto(b".part")))
    temp = graph.op("Const", [], name="Const", device=_ANY_CPU, dtype=dtypes.DT_STRING,
                    value=attr_value_pb2.AttrValue(tensor=make_tensor_proto(b"_temp/part")))
    suffix = graph.op("Select", [is_s3, part, temp], device=_ANY_CPU)
    temp_prefix = graph.op("StringJoin", [[prefix, suffix]], device=_ANY_CPU)
    reads = []
    for var, handle in zip(variables, handles):
        read = graph.op("ReadVariableOp", [handle], dtype=var.spec.dtype.enum)
        reads.append(graph.op("Identity", [read], device=_CPU0))
    num_shards = graph.op("Const", [], name="num_shards", dtype=dtypes.DT_INT32,
                          value=attr_value_pb2.AttrValue(
                              tensor=make_tensor_proto(np.int32(1))))
    shard = graph.op("Const", [], name="ShardedFilename/shard", dtype=dtypes.DT_INT32,
                     device=_CPU0, value=attr_value_pb2.AttrValue(
                         tensor=make_tensor_proto(np.int32(0))))
    filename = graph.op("ShardedFilename", [temp_prefix, shard, num_shards], device=_CPU0)
    keys = [var.key for var in variables] + [OBJECT_GRAPH_KEY]
    names = _string_vector(graph, keys, "SaveV2/tensor_names")
    slices = _string_vector(graph, [""] * len(keys), "SaveV2/shape_and_slices")
    save = graph.op("SaveV2", [filename, names, slices, [*reads, object_graph]], device=_CPU0,
                    _has_manual_control_dependencies=True)
    prefixes = graph.op("Pack", [[filename]], name="MergeV2Checkpoints/checkpoint_prefixes",
                        control_inputs=[save], device=_CPU0)
    merge = graph.op("MergeV2Checkpoints", [prefixes, prefix], device=_CPU0,
                     _has_manual_control_dependencies=True)
    done = graph.op("Identity", [prefix], control_inputs=[merge], device=_CPU0)
    function.ret("identity", done)
    return function


# --------------------------------------------------------------------------- structured values

def _tensor_spec(name: str, info: meta_graph_pb2.TensorInfo) -> struct_pb2.StructuredValue:
    value = struct_pb2.StructuredValue()
    spec = value.tensor_spec_value
    spec.name = name
    spec.shape.CopyFrom(info.tensor_shape)
    spec.dtype = info.dtype
    return value


def _tuple(items: Sequence[struct_pb2.StructuredValue]) -> struct_pb2.StructuredValue:
    value = struct_pb2.StructuredValue()
    value.tuple_value.SetInParent()
    for item in items:
        value.tuple_value.values.add().CopyFrom(item)
    return value


def _dict(items: Mapping[str, struct_pb2.StructuredValue]) -> struct_pb2.StructuredValue:
    value = struct_pb2.StructuredValue()
    value.dict_value.SetInParent()
    for key, item in items.items():
        value.dict_value.fields[key].CopyFrom(item)
    return value


def _none() -> struct_pb2.StructuredValue:
    value = struct_pb2.StructuredValue()
    value.none_value.SetInParent()
    return value


def _full_arg_spec(args: Sequence[str], kwonly: Sequence[str]) -> struct_pb2.StructuredValue:
    """``inspect.FullArgSpec`` as TF's nested_structure_coder writes it."""
    value = struct_pb2.StructuredValue()
    named = value.named_tuple_value
    named.name = "FullArgSpec"

    def field_value(key: str) -> struct_pb2.StructuredValue:
        pair = named.values.add()
        pair.key = key
        return pair.value

    def strings(target: struct_pb2.StructuredValue, items: Sequence[str]) -> None:
        target.list_value.SetInParent()
        for item in items:
            target.list_value.values.add().string_value = item

    strings(field_value("args"), args)
    field_value("varargs").none_value.SetInParent()
    field_value("varkw").none_value.SetInParent()
    field_value("defaults").none_value.SetInParent()
    strings(field_value("kwonlyargs"), kwonly)
    field_value("kwonlydefaults").none_value.SetInParent()
    field_value("annotations").dict_value.SetInParent()
    return value


# --------------------------------------------------------------------------- the export

def build_tf2_export(graph: Graph, signatures: Mapping[str, meta_graph_pb2.SignatureDef],
                     values: Mapping[str, np.ndarray]) -> Tf2Export:
    """The TF2 form of ``graph`` with resolved ``signatures`` and the variables' ``values``
    (``{VarHandleOp name: array}``).  Raises :class:`SignatureError` /
    :class:`InvalidArgumentError` for what a TF2 export cannot express (naming the
    signature, input or variable), before anything is written."""
    if not signatures:
        raise SignatureError("a TF2 export needs at least one signature (its 'serve' "
                             "function); give signature_def_map or export with "
                             "format='tf1'")
    serve_key = DEFAULT_SERVING_SIGNATURE_DEF_KEY if DEFAULT_SERVING_SIGNATURE_DEF_KEY in \
        signatures else sorted(signatures)[0]

    root = _Object("user", _GENERIC)
    variables = _variable_tree(graph.variables, values, root)
    var_objects = {id(var): obj for obj in _walk(root) if (var := obj.variable) is not None}
    by_handle = {var.spec.node_name: var for var in variables}

    # Functions: bodies and wrappers, numbered in a fixed order.
    uid = iter(range(1, 1 << 30))
    bodies: dict[str, _Body] = {}
    wrappers: dict[str, Function] = {}
    for key in sorted(signatures):
        part = "serve" if key == serve_key else _function_part(key)
        bodies[key] = _build_body(graph, f"__inference_{part}_{next(uid)}", key,
                                  signatures[key], by_handle)
        suffix = "" if key == serve_key else f"{_function_part(key)}_"
        wrappers[key] = _wrapper(f"__inference_signature_wrapper_{suffix}{next(uid)}",
                                 bodies[key])

    # Object graph.
    serve = bodies[serve_key]
    serve_specs = tuple(_tensor_spec(name, signatures[serve_key].inputs[key])
                        for name, key in zip(serve.arg_names, serve.input_keys))
    trace = _Object("bare", concrete=serve.function.name, arg_names=tuple(serve.arg_names))
    serve_obj = _Object("function", concrete=serve.function.name,
                        arg_names=tuple(serve.arg_names), input_specs=serve_specs,
                        children=[("trace_0", trace)])
    signature_map = _Object("user", _SIGNATURE_MAP, children=[
        (key, _Object("bare", concrete=wrappers[key].name,
                      keywords=tuple(bodies[key].input_keys)))
        for key in sorted(signatures)])
    all_vars = [var_objects[id(v)] for v in variables]
    trainable = [var_objects[id(v)] for v in variables if v.spec.trainable]
    root.children += [
        ("variables", _Object("user", _LIST, children=[(str(i), o)
                                                       for i, o in enumerate(all_vars)])),
        ("trainable_variables", _Object("user", _LIST, children=[
            (str(i), o) for i, o in enumerate(trainable)])),
        ("regularization_losses", _Object("user", _LIST)),
        ("__call__", serve_obj), ("serve", serve_obj), ("signatures", signature_map)]
    order = _number(root)
    ids = {id(obj): index for index, obj in enumerate(order)}
    for obj in order:
        if obj.variable is not None:
            obj.variable.node_id = ids[id(obj)]
    in_id_order = sorted(variables, key=lambda v: v.node_id)

    trackable = trackable_object_graph([
        TrackableNode(children=tuple((ids[id(child)], name) for name, child in obj.children),
                      full_name=obj.variable.spec.node_name if obj.variable else None,
                      checkpoint_key=obj.variable.key if obj.variable else None)
        for obj in order])
    trackable_bytes = trackable.SerializeToString()
    checkpoint: dict[str, Any] = {var.key: var.value for var in in_id_order}
    checkpoint[OBJECT_GRAPH_KEY] = np.array(trackable_bytes, dtype=object)

    saved = saved_object_graph_pb2.SavedObjectGraph()
    for obj in order:
        _saved_object(saved.nodes.add(), obj, ids)
    for key in sorted(signatures):
        body = bodies[key]
        bound = [var.node_id for var in body.captured]
        sig = signatures[key]
        specs = {k: _tensor_spec(k, sig.inputs[k]) for k in body.input_keys}
        outputs = _dict({k: _tensor_spec(k, sig.outputs[k]) for k in body.output_keys})
        wrapped = saved.concrete_functions[wrappers[key].name]
        wrapped.bound_inputs.extend(bound)
        wrapped.canonicalized_input_signature.CopyFrom(_tuple([_tuple([]), _dict(specs)]))
        wrapped.output_signature.CopyFrom(outputs)
        if key == serve_key:
            served = saved.concrete_functions[body.function.name]
            served.bound_inputs.extend(bound)
            served.canonicalized_input_signature.CopyFrom(
                _tuple([_tuple(serve_specs), _dict({})]))
            if len(body.output_keys) == 1:
                only = body.output_keys[0]
                served.output_signature.CopyFrom(_tensor_spec(only, sig.outputs[only]))
            else:
                served.output_signature.CopyFrom(outputs)

    # The outer graph.
    outer = Graph()
    handles: dict[str, Tensor] = {}
    for var in sorted(variables, key=lambda v: v.spec.node_name):
        node = graph.node(var.spec.node_name)
        attrs: dict[str, Any] = {k: v for k, v in node.attr.items()
                                 if k not in _DROPPED_ATTRS}
        handles[var.spec.node_name] = outer.op("VarHandleOp", [], name=node.name + "/",
                                               **attrs)
        outer.op("ReadVariableOp", [handles[var.spec.node_name]],
                 name=f"{node.name}/Read/ReadVariableOp/", dtype=var.spec.dtype.enum)
    out_signatures: dict[str, meta_graph_pb2.SignatureDef] = {}
    for key in sorted(signatures):
        body, sig = bodies[key], signatures[key]
        feeds = []
        out_sig = meta_graph_pb2.SignatureDef(method_name=sig.method_name)
        for input_key in body.input_keys:
            info = sig.inputs[input_key]
            name = re.sub(r"[^A-Za-z0-9_.\-/]", "_", f"{key}_{input_key}")
            placeholder = outer.placeholder(name, dtypes.as_dtype(info.dtype),
                                            _shape_list(info.tensor_shape))
            feeds.append(placeholder)
            out_sig.inputs[input_key].CopyFrom(info)
            out_sig.inputs[input_key].name = placeholder.name
        call = outer.op("StatefulPartitionedCall",
                        [feeds + [handles[v.spec.node_name] for v in body.captured]],
                        f=wrappers[key], name="StatefulPartitionedCall")
        for index, output_key in enumerate(body.output_keys):
            out_sig.outputs[output_key].CopyFrom(sig.outputs[output_key])
            out_sig.outputs[output_key].name = f"{call.op_name}:{index}"
        out_signatures[key] = out_sig
    init = outer.op("NoOp", [], name="NoOp")
    init_sig = meta_graph_pb2.SignatureDef()
    init_sig.outputs[INIT_OP_SIGNATURE_KEY].name = init.op_name
    init_sig.outputs[INIT_OP_SIGNATURE_KEY].tensor_shape.unknown_rank = True
    out_signatures[INIT_OP_SIGNATURE_KEY] = init_sig
    graph_const = outer.op("Const", [], name="Const", device=_CPU0, dtype=dtypes.DT_STRING,
                           value=attr_value_pb2.AttrValue(
                               tensor=make_tensor_proto(trackable_bytes)))
    filename = outer.placeholder("saver_filename", "string", [])
    ordered_handles = [handles[v.spec.node_name] for v in in_id_order]
    save_fn = _save_function(f"__inference__traced_save_{next(uid)}", in_id_order)
    restore_fn = _restore_function(f"__inference__traced_restore_{next(uid)}", in_id_order)
    save = outer.op("StatefulPartitionedCall", [[filename, *ordered_handles, graph_const]],
                    f=save_fn, name="StatefulPartitionedCall")
    restore = outer.op("StatefulPartitionedCall", [[filename, *ordered_handles]],
                       f=restore_fn, name="StatefulPartitionedCall")
    saver_def = saver_pb2.SaverDef(
        filename_tensor_name=filename.name, save_tensor_name=save.name,
        restore_op_name=restore.op_name, version=saver_pb2.SaverDef.V2)
    graph_def = outer.as_graph_def(add_shapes=True)
    graph_def.versions.min_consumer = 12
    names = [node.op for node in graph_def.node]
    for function in graph_def.library.function:
        names.extend(node.op for node in function.node_def)
    return Tf2Export(graph_def, saved, saver_def, out_signatures, checkpoint, op_list(names))


def _walk(root: _Object) -> list[_Object]:
    return _number(root)


def _saved_object(proto: saved_object_graph_pb2.SavedObject, obj: _Object,
                  ids: Mapping[int, int]) -> None:
    for name, child in obj.children:
        proto.children.add(node_id=ids[id(child)], local_name=name)
    if obj.kind == "user":
        proto.user_object.identifier = obj.identifier
        proto.user_object.version.producer = 1
        proto.user_object.version.min_consumer = 1
    elif obj.kind == "variable":
        var = obj.variable
        assert var is not None
        proto.variable.dtype = proto_dtype(var.spec.dtype.enum)
        proto.variable.shape.CopyFrom(make_shape_proto(list(var.value.shape)))
        proto.variable.trainable = var.spec.trainable
        proto.variable.name = var.spec.node_name
    elif obj.kind == "function":
        proto.function.concrete_functions.append(obj.concrete)
        spec = proto.function.function_spec
        spec.fullargspec.CopyFrom(_full_arg_spec(obj.arg_names, ()))
        spec.input_signature.CopyFrom(_tuple(obj.input_specs))
        for name, child in obj.children:
            proto.dependencies.add(node_id=ids[id(child)], local_name=name)
    else:
        bare = proto.bare_concrete_function
        bare.concrete_function_name = obj.concrete
        keywords = obj.arg_names or obj.keywords
        bare.argument_keywords.extend(keywords)
        bare.allowed_positional_arguments = len(keywords)
        bare.function_spec.fullargspec.CopyFrom(_full_arg_spec(obj.arg_names, obj.keywords))
        bare.function_spec.input_signature.CopyFrom(_none())
