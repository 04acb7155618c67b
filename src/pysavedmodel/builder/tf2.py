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
  Functions also capture lookup tables (a ``resource`` argument each: ops that
  create a resource from no input, ``_is_resource_constructor``) and asset paths
  (a ``string`` argument each).  Every stateful node of a function is a control
  output (``control_ret``), as ``tf.function`` writes them.
* per table, ``__inference__creator_<uid>`` (the table op, its handle returned),
  ``__inference__initializer_<uid>`` and ``__inference__destroyer_<uid>`` (both
  return 1): the user's init op, with what it depends on, is the first table's
  initializer (capturing the tables, assets and variables it uses).
* the outer graph: one ``VarHandleOp`` (+ ``ReadVariableOp``) per variable, the
  table ops, per asset a string ``Placeholder`` ``asset_path_initializer[_N]`` (the
  ``AssetFileDef``'s tensor, fed by loaders) assigned to a string variable
  ``asset_path[_N]`` that functions read, per signature one ``Placeholder``
  ``<key>_<input>`` per input and a ``StatefulPartitionedCall`` of its wrapper (the
  SignatureDef's outputs are its outputs), ``NoOp`` (the ``__saved_model_init_op``
  signature; control inputs on the asset assignments and a call of the initializer),
  ``Const`` (the serialized TrackableObjectGraph), ``saver_filename`` and two more
  calls (save and restore: the SaverDef, so the C++ and ``tf.compat.v1`` loaders
  restore the TF2 keys).
* the SavedObjectGraph (node ids breadth-first): root ``_generic_user_object``
  with the variables (nested user objects following ``/`` in their names, the
  ``shared_name`` or else the VarHandleOp's name: ``dense/kernel`` is child
  ``kernel`` of child ``dense``), the lookup tables the same way (SavedResource
  with ``_create_resource`` / ``_initialize`` / ``_destroy_resource``), lists ``variables``,
  ``trainable_variables``, ``regularization_losses`` (TF Hub's Reusable SavedModel
  attributes), ``__call__`` and ``serve`` (one function node), ``signatures``, and
  ``_assets`` (a list of SavedAssets, ``asset_file_def_index`` each).
* the checkpoint: ``<object path>/.ATTRIBUTES/VARIABLE_VALUE`` per variable in
  node-id order, then ``_CHECKPOINTABLE_OBJECT_GRAPH``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, NamedTuple

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
from ..errors import FormatError
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
from .tf2_saver import CheckpointedVariable, arg_name, restore_function, save_function

__all__ = ["Tf2Export", "build_tf2_export", "RESERVED_ROOT_CHILDREN"]

RESERVED_ROOT_CHILDREN: Final = ("variables", "trainable_variables", "regularization_losses",
                                 "__call__", "serve", "signatures", "_assets")
"""Children of the root object the export adds itself (TF Hub's Reusable SavedModel
attributes, the ``serve`` function, the signature map and the list of assets)."""

_GENERIC: Final = "_generic_user_object"
_LIST: Final = "trackable_list_wrapper"
_SIGNATURE_MAP: Final = "signature_map"
_CPU0: Final = "/device:CPU:0"
_INPUT_OPS: Final = ("Placeholder", "PlaceholderWithDefault")
_DROPPED_ATTRS: Final = ("_output_shapes", "_class")
_IF_OPS: Final = ("If", "StatelessIf")

_COPY_RUN: Final = 512
"""Nodes copied into a function at once by :func:`_copy_nodes` (all or nothing: a run with
a node that cannot be copied as it is goes again one node at a time)."""
_RESOURCE_CHILDREN: Final = ("_create_resource", "_initialize", "_destroy_resource")


class Tf2Export(NamedTuple):
    """Everything a TF2 meta graph needs besides tags."""

    graph_def: graph_pb2.GraphDef
    object_graph: saved_object_graph_pb2.SavedObjectGraph
    saver_def: saver_pb2.SaverDef
    signatures: dict[str, meta_graph_pb2.SignatureDef]
    checkpoint: dict[str, Any]
    """Checkpoint tensors in data-file order (node ids), the object graph last."""
    op_list: op_def_pb2.OpList
    asset_file_defs: list[meta_graph_pb2.AssetFileDef]
    """``MetaGraphDef.asset_file_def``: the outer graph's asset placeholders."""


# --------------------------------------------------------------------------- objects

class _Object:
    """A node of the SavedObjectGraph being built (``kind``: user, variable, resource,
    asset, function or bare)."""

    __slots__ = ("kind", "identifier", "asset_index", "children", "variable", "concrete",
                 "arg_names", "keywords", "input_specs", "_index", "_indexed")

    def __init__(self, kind: str, identifier: str = "", *, asset_index: int = -1,
                 children: list[tuple[str, _Object]] | None = None,
                 variable: _Var | None = None, concrete: str = "",
                 arg_names: tuple[str, ...] = (), keywords: tuple[str, ...] = (),
                 input_specs: tuple[struct_pb2.StructuredValue, ...] = ()) -> None:
        self.kind = kind
        self.identifier = identifier
        self.asset_index = asset_index
        self.children: list[tuple[str, _Object]] = [] if children is None else children
        self.variable = variable
        self.concrete = concrete
        self.arg_names = arg_names
        self.keywords = keywords
        self.input_specs = input_specs
        self._index: dict[str, _Object] = {}
        self._indexed = 0

    def child(self, name: str) -> _Object | None:
        """The child ``name`` (the last of that name, as ``dict(children)`` has it);
        children are only ever appended, so the index catches up with the new ones."""
        children = self.children
        if self._indexed < len(children):
            for local_name, obj in children[self._indexed:]:
                self._index[local_name] = obj
            self._indexed = len(children)
        return self._index.get(name)


class _Var:
    """A variable of the export: its spec, object path, value and node id."""

    __slots__ = ("spec", "path", "value", "node_id")

    def __init__(self, spec: VariableSpec, path: tuple[str, ...], value: np.ndarray) -> None:
        self.spec = spec
        self.path = path
        self.value = value
        self.node_id = -1

    @property
    def key(self) -> str:
        return variable_key(self.path)

    @property
    def node_name(self) -> str:
        return self.spec.node_name

    @property
    def name(self) -> str:
        """The variable's name: its ``shared_name`` (its TF1 checkpoint key), else the
        VarHandleOp's name; the object path follows it."""
        return self.spec.shared_name or self.spec.node_name

    def arg_spec(self) -> tuple[Any, Any, Any, Any]:
        """(dtype, shape, handle dtype, handle shape) of a function argument capturing it."""
        return ("resource", [], self.spec.dtype,
                [None if d < 0 else d for d in self.spec.shape])


class _Resource:
    """A resource other than a variable (a lookup table...): a stateful op without
    inputs whose one output is a resource handle, created in the outer graph."""

    __slots__ = ("node_name", "node_id")

    def __init__(self, node_name: str) -> None:
        self.node_name = node_name
        self.node_id = -1

    def arg_spec(self) -> tuple[Any, Any, Any, Any]:
        return ("resource", [], None, None)


class _Asset:
    """An asset path (the user's scalar string Const), fed by loaders."""

    __slots__ = ("node_name", "filename", "index", "node_id")

    def __init__(self, node_name: str, filename: str, index: int) -> None:
        self.node_name = node_name
        self.filename = filename
        self.index = index
        self.node_id = -1

    def arg_spec(self) -> tuple[Any, Any, Any, Any]:
        return (dtypes.DT_STRING, [], None, None)


_Capture = _Var | _Resource | _Asset


def _is_resource_constructor(op_type: str) -> bool:
    """Whether ``op_type`` creates a resource a TF2 export keeps in its outer graph and
    captures (``HashTableV2``, ``MutableHashTableV2``...): stateful, no inputs, one
    resource output; variables (``VarHandleOp``) are handled as variables."""
    if op_type == "VarHandleOp":
        return False
    op_def = get_op_def(op_type)
    return (op_def.is_stateful and not op_def.input_arg and len(op_def.output_arg) == 1
            and op_def.output_arg[0].type == dtypes.DT_RESOURCE)


def _place(root: _Object, name: str, obj: _Object, what: str) -> tuple[str, ...]:
    """Hang ``obj`` under the root, nested by the ``/`` components of ``name`` (flat,
    with the whole name as local name, where nesting would clash); returns its path."""
    parts = tuple(name.split("/"))
    if parts[0] in RESERVED_ROOT_CHILDREN:
        raise FormatError(
            f"{what} {name!r}: a TF2 export's root object has its own child "
            f"{parts[0]!r}; rename the {what} or export with format='tf1'")
    node: _Object | None = root
    for part in parts[:-1]:
        assert node is not None
        found = node.child(part)
        if found is None and part:
            found = _Object("user", _GENERIC)
            node.children.append((part, found))
        node = found if found is not None and found.kind == "user" and part else None
        if node is None:
            break
    if node is None or not parts[-1] or node.child(parts[-1]) is not None:
        if root.child(name) is not None:
            raise FormatError(
                f"{what} {name!r} cannot be given an object path of its own "
                f"in the TF2 object graph (it clashes with another object's scope); "
                f"rename it or export with format='tf1'")
        root.children.append((name, obj))
        return (name,)
    node.children.append((parts[-1], obj))
    return parts


def _variable_tree(specs: Sequence[VariableSpec], values: Mapping[str, np.ndarray],
                   root: _Object) -> list[_Var]:
    """One variable object per spec, hung under the root by :func:`_place`."""
    out = []
    for spec in specs:
        var = _Var(spec, (), values[spec.node_name])
        var.path = _place(root, var.name, _Object("variable", variable=var), "variable")
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

def _function_part(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", key)


# --------------------------------------------------------------------------- bodies

class _Body(NamedTuple):
    function: Function
    input_keys: list[str]
    arg_names: list[str]
    output_keys: list[str]
    captured: list[_Capture]
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
            for text in reversed(graph.node_view(name).input):
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


def _renamed(rename: Mapping[str, str], text: str) -> str:
    """Input ``text`` (``op``, ``op:1``, ``^op``) with its op replaced per ``rename``."""
    source, index, control = parse_input(text)
    if control:
        return "^" + rename.get(source, source)
    return f"{rename.get(source, source)}:{index}"


def _copy_nodes(function: Function, graph: Graph, needed: Sequence[str],
                rename: Mapping[str, str]) -> None:
    """Copy the user's nodes ``needed`` (inputs first) into ``function``'s body, inputs
    named in ``rename`` replaced by the function's arguments.  The caller has put the
    graph's functions in the body's library."""
    body = function.graph
    view = graph.node_view
    start = 0
    while start < len(needed):
        # Checked nodes are taken over as they are (the common case), a run at a time
        # (all or nothing: a run holding a node that cannot be goes one by one).
        stop = start
        while stop < len(needed) and stop - start < _COPY_RUN and \
                view(needed[stop]).op not in _IF_OPS:
            stop += 1
        if stop > start and body.copy_nodes_from(graph, needed[start:stop], rename,
                                                 drop_attrs=_DROPPED_ATTRS):
            start = stop
            continue
        for node_name in needed[start:max(stop, start + 1)]:
            _copy_node(body, graph, node_name, rename)
        start = max(stop, start + 1)


def _copy_node(body: Graph, graph: Graph, node_name: str, rename: Mapping[str, str]) -> None:
    """:func:`_copy_nodes` of one node (taken over as it is where it can be)."""
    node = graph.node_view(node_name)
    if node.op not in _IF_OPS and body.copy_nodes_from(graph, [node_name], rename,
                                                       drop_attrs=_DROPPED_ATTRS):
        return
    op_def = get_op_def(node.op)
    data = [_renamed(rename, t) for t in node.input if not t.startswith("^")]
    # A control edge on what becomes an argument (an input placeholder, a captured
    # variable or table) is dropped, as TF's function graphs drop control
    # dependencies on captured tensors: an argument is ready when the call starts.
    controls = [_renamed(rename, t)[1:] for t in node.input
                if t.startswith("^") and t[1:] not in rename]
    attrs: dict[str, Any] = {k: v for k, v in node.attr.items()
                             if k not in _DROPPED_ATTRS}
    if node.op in _IF_OPS and not node.attr["output_shapes"].list.shape:
        shapes = _branch_shapes(graph, node)
        if shapes is not None:
            attrs["output_shapes"] = shapes
    if not controls and all(not (arg.number_attr or arg.type_list_attr)
                            for arg in op_def.input_arg):
        # A node of a valid graph, inputs renamed: the fast path of op() (which
        # takes only single, non-list inputs and no control inputs).
        body.add_trusted_node(node.op, data, name=node_name + "/", attrs=attrs,
                              device=node.device or None)
        return
    body.op(node.op, _group_inputs(node, op_def, data), name=node_name + "/",
            control_inputs=controls, device=node.device or None, **attrs)


def _stateful_control_outputs(function: Function) -> Function:
    """Every stateful node of ``function``'s body a control output, as ``tf.function``
    writes them: TF's function runtime prunes nodes no result depends on unless they
    are control outputs, and a control edge on a call (the init op's on the
    initializer) waits only for those."""
    stateful: dict[str, bool] = {}
    for name, op_type in function.graph.op_types().items():
        if op_type not in stateful:
            stateful[op_type] = op_type != "Placeholder" and get_op_def(op_type).is_stateful
        if stateful[op_type]:
            function.control_ret(name, name)
    return function


def _function_from(graph: Graph, name: str) -> tuple[Function, set[str]]:
    """An empty function carrying ``graph``'s functions, and the lower-cased node names
    of ``graph`` (argument names must not collide with the nodes copied in)."""
    function = Function(name)
    for called in graph.functions.values():
        function.graph.add_function(called)
    return function, {node_name.lower() for node_name in graph.op_types()}


def _capture_args(graph: Graph, needed: Sequence[str], roots: Sequence[str],
                  captures: Mapping[str, _Capture], used: set[str], rename: dict[str, str],
                  args: list[tuple[str, Any, Any, Any, Any]]) -> list[_Capture]:
    """The captures the nodes ``needed`` (and the tensors of ops ``roots``) use, in
    capture order, each added to ``args`` / ``rename`` as one argument."""
    referenced = {parse_input(text)[0] for n in needed for text in graph.node_view(n).input
                  } | set(roots)
    captured = [capture for name, capture in captures.items() if name in referenced]
    for capture in captured:
        suffix = "path" if isinstance(capture, _Asset) else "resource"
        arg = arg_name(f"{capture.node_name}_{suffix}", used)
        args.append((arg, *capture.arg_spec()))
        rename[capture.node_name] = arg
    return captured


def _add_args(function: Function, args: Sequence[tuple[str, Any, Any, Any, Any]]) -> None:
    for arg, dtype, shape, handle_dtype, handle_shape in args:
        function.arg(arg, dtype, shape, handle_dtype=handle_dtype, handle_shape=handle_shape)


def _build_body(graph: Graph, name: str, key: str, signature: meta_graph_pb2.SignatureDef,
                captures: Mapping[str, _Capture]) -> _Body:
    """The user's sub-graph computing ``signature`` as a function (see module docstring)."""
    input_keys = sorted(signature.inputs)
    output_keys = sorted(signature.outputs)
    inputs: dict[str, str] = {}
    for input_key in input_keys:
        tensor = canonical_tensor_name(signature.inputs[input_key].name)
        op_name, _, index = tensor.partition(":")
        node = graph.node_view(op_name)
        if node.op not in _INPUT_OPS or index != "0":
            raise FormatError(
                f"signature {key!r}: input {input_key!r} is {tensor!r}, a {node.op} output; "
                f"a TF2 export feeds inputs as function arguments, so each must be a "
                f"Placeholder (or export with format='tf1')")
        if op_name in inputs.values():
            raise FormatError(
                f"signature {key!r}: inputs {input_key!r} and "
                f"{next(k for k, v in inputs.items() if v == op_name)!r} are the same "
                f"placeholder {op_name!r}; a TF2 export needs one placeholder per input")
        inputs[input_key] = op_name
    output_ops = [parse_input(canonical_tensor_name(signature.outputs[k].name))[0]
                  for k in output_keys]
    stop = set(inputs.values()) | set(captures)
    needed = _needed_nodes(graph, output_ops, stop)
    for node_name in needed:
        node = graph.node_view(node_name)
        if node.op in _INPUT_OPS and node.op == "Placeholder":
            raise FormatError(
                f"signature {key!r}: its outputs depend on placeholder {node_name!r}, which "
                f"is not one of its inputs ({', '.join(map(repr, input_keys))})")

    function, used = _function_from(graph, name)
    rename: dict[str, str] = {}
    arg_names = []
    args: list[tuple[str, Any, Any, Any, Any]] = []
    for input_key in input_keys:
        node = graph.node_view(inputs[input_key])
        info = signature.inputs[input_key]
        arg = arg_name(input_key, used)
        args.append((arg, dtypes.as_dtype(node.attr["dtype"].type),
                     _shape_list(info.tensor_shape), None, None))
        rename[inputs[input_key]] = arg
        arg_names.append(arg)
    captured = _capture_args(graph, needed, output_ops, captures, used, rename, args)
    _add_args(function, args)
    _copy_nodes(function, graph, needed, rename)
    for output_key in output_keys:
        function.ret(arg_name(output_key, set()), _renamed(
            rename, canonical_tensor_name(signature.outputs[output_key].name)))
    return _Body(_stateful_control_outputs(function), input_keys, arg_names, output_keys,
                 captured, args)


def _build_initializer(graph: Graph, name: str, init_op: str,
                       captures: Mapping[str, _Capture]) -> _Body:
    """The user's init op (and what it depends on) as a function without arguments of
    its own: it captures the tables, assets and variables it uses and returns a
    constant after running the init op (the shape of TF's ``_initialize``)."""
    needed = _needed_nodes(graph, [init_op], set(captures))
    for node_name in needed:
        if graph.node_view(node_name).op == "Placeholder":
            raise FormatError(
                f"init_op {init_op!r} depends on placeholder {node_name!r}; an init op "
                f"runs without feeds")
    function, used = _function_from(graph, name)
    rename: dict[str, str] = {}
    args: list[tuple[str, Any, Any, Any, Any]] = []
    captured = _capture_args(graph, needed, [init_op], captures, used, rename, args)
    _add_args(function, args)
    _copy_nodes(function, graph, needed, rename)
    done = function.graph.constant(np.int32(1), name="initialized")
    function.ret("identity", function.graph.op("Identity", [done],
                                               control_inputs=[rename.get(init_op, init_op)]))
    return _Body(_stateful_control_outputs(function), [], [], [], captured, args)


def _constant_function(name: str, value: int) -> Function:
    """A function without arguments returning ``value`` (TF's ``_destroy_resource`` and a
    resource's ``_initialize`` when the init op belongs to another resource)."""
    function = Function(name)
    function.ret("identity", function.graph.op(
        "Identity", [function.graph.constant(np.int32(value), name="Const")]))
    return function


def _creator_function(graph: Graph, name: str, resource: str) -> Function:
    """``_create_resource``: the resource op (its attrs, shared_name included), returned."""
    function = Function(name)
    _copy_nodes(function, graph, [resource], {})
    function.ret("identity", function.graph.op("Identity", [f"{resource}:0"]))
    return _stateful_control_outputs(function)


def _branch_shapes(graph: Graph, node: Any) -> attr_value_pb2.AttrValue | None:
    """``output_shapes`` for an If without them: the shapes both branches agree on
    (unknown dims where they differ), as TF sets them (its If shape function does not
    look into the branches, and Keras needs the outputs' ranks); None when a branch's
    result has unknown rank or the branches' ranks differ."""
    branches = [graph.functions.get(node.attr[attr].func.name)
                for attr in ("then_branch", "else_branch")]
    then_branch, else_branch = branches
    if not isinstance(then_branch, Function) or not isinstance(else_branch, Function):
        return None
    then_shapes, else_shapes = then_branch.output_shapes, else_branch.output_shapes
    value = attr_value_pb2.AttrValue()
    value.list.SetInParent()
    for one, other in zip(then_shapes, else_shapes):
        if one is None or other is None or len(one) != len(other):
            return None
        merged = [a if a == b else None for a, b in zip(one, other)]
        value.list.shape.add().CopyFrom(make_shape_proto(merged))
    return value


def _shape_list(shape: Any) -> list[int | None] | None:
    if shape.unknown_rank:
        return None
    return [None if dim.size < 0 else dim.size for dim in shape.dim]


def _wrapper(name: str, body: _Body) -> Function:
    """A signature wrapper: same arguments, calls the body, returns its results."""
    wrapper = Function(name)
    args = wrapper.args_like(body.function)
    call = wrapper.graph.op("StatefulPartitionedCall", [args], f=body.function)
    for index, output_key in enumerate(body.output_keys):
        result = wrapper.graph.op("Identity", [wrapper.graph.get_tensor(
            f"{call.op_name}:{index}")])
        wrapper.ret(arg_name(output_key, set()), result)
    return _stateful_control_outputs(wrapper)


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
                     values: Mapping[str, np.ndarray], *, init_op: str | None = None,
                     assets: Sequence[tuple[str, str]] = (),
                     variable_specs: Sequence[VariableSpec] | None = None,
                     graph_def: graph_pb2.GraphDef | None = None) -> Tf2Export:
    """The TF2 form of ``graph`` with resolved ``signatures`` and the variables' ``values``
    (``{VarHandleOp name: array}``).

    ``init_op``: the name of an op initializing the graph's lookup tables (or other
    resources, see ``_is_resource_constructor``), run by every loader after the
    variables are restored.  ``assets``: ``(asset tensor name, file name in assets/)``
    per asset.  ``variable_specs``: ``graph.variables`` if the caller has them.
    ``graph_def``: an empty GraphDef to write the outer graph into (a ``MetaGraphDef``'s:
    not copied there), else a new one; either is the result's ``graph_def``.  Raises
    :class:`~pysavedmodel.errors.FormatError` for what a TF2 export cannot express
    (naming the signature, input or variable), before anything is written."""
    if not signatures:
        raise FormatError("a TF2 export needs at least one signature (its 'serve' "
                             "function); give signature_def_map or export with "
                             "format='tf1'")
    serve_key = DEFAULT_SERVING_SIGNATURE_DEF_KEY if DEFAULT_SERVING_SIGNATURE_DEF_KEY in \
        signatures else sorted(signatures)[0]

    root = _Object("user", _GENERIC)
    variables = _variable_tree(graph.variables if variable_specs is None else variable_specs,
                               values, root)
    var_objects = {id(var): obj for obj in _walk(root) if (var := obj.variable) is not None}
    captures: dict[str, _Capture] = {var.spec.node_name: var for var in variables}
    constructors: dict[str, bool] = {}
    for name, op_type in graph.op_types().items():
        if op_type not in constructors:
            constructors[op_type] = _is_resource_constructor(op_type)
        if constructors[op_type]:
            captures[name] = _Resource(name)
    asset_list = [_Asset(parse_input(canonical_tensor_name(tensor))[0], filename, index)
                  for index, (tensor, filename) in enumerate(assets)]
    for asset in asset_list:
        captures[asset.node_name] = asset

    # Functions: bodies and wrappers, numbered in a fixed order.
    uid = iter(range(1, 1 << 30))
    bodies: dict[str, _Body] = {}
    wrappers: dict[str, Function] = {}
    for key in sorted(signatures):
        part = "serve" if key == serve_key else _function_part(key)
        bodies[key] = _build_body(graph, f"__inference_{part}_{next(uid)}", key,
                                  signatures[key], captures)
        suffix = "" if key == serve_key else f"{_function_part(key)}_"
        wrappers[key] = _wrapper(f"__inference_signature_wrapper_{suffix}{next(uid)}",
                                 bodies[key])
    initializer = None if init_op is None else _build_initializer(
        graph, f"__inference__initializer_{next(uid)}", init_op, captures)

    # Resources the functions use, each with TF's three functions.
    used = {id(c) for body in [*bodies.values(), *([initializer] if initializer else [])]
            for c in body.captured}
    resources = [c for c in captures.values() if isinstance(c, _Resource) and id(c) in used]
    if initializer is not None and not resources:
        raise FormatError(
            f"init_op {init_op!r} initializes no lookup table (or other resource) the "
            f"signatures use; a TF2 export runs its init op as a table's _initialize "
            f"(tf.saved_model.load runs nothing else), so export with format='tf1'")
    resource_functions: dict[int, tuple[Function, Function, Function]] = {}
    resource_objects: list[tuple[_Resource, _Object]] = []
    for index, resource in enumerate(resources):
        creator = _creator_function(graph, f"__inference__creator_{next(uid)}",
                                    resource.node_name)
        init_fn = initializer.function if initializer is not None and index == 0 else \
            _constant_function(f"__inference__initializer_{next(uid)}", 1)
        destroyer = _constant_function(f"__inference__destroyer_{next(uid)}", 1)
        resource_functions[id(resource)] = (creator, init_fn, destroyer)
        obj = _Object("resource", children=[
            (child, _Object("function", concrete=fn.name, children=[
                ("trace_0", _Object("bare", concrete=fn.name))]))
            for child, fn in zip(_RESOURCE_CHILDREN, (creator, init_fn, destroyer))])
        _place(root, resource.node_name, obj, "lookup table")
        resource_objects.append((resource, obj))
    asset_objects = [_Object("asset", asset_index=a.index) for a in asset_list]

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
    if asset_objects:
        root.children.append(("_assets", _Object("user", _LIST, children=[
            (str(i), o) for i, o in enumerate(asset_objects)])))
    order = _number(root)
    ids = {id(obj): index for index, obj in enumerate(order)}
    for obj in order:
        if obj.variable is not None:
            obj.variable.node_id = ids[id(obj)]
    placed: list[tuple[_Resource | _Asset, _Object]] = [
        *resource_objects, *zip(asset_list, asset_objects)]
    for capture, obj in placed:
        capture.node_id = ids[id(obj)]
    in_id_order = sorted(variables, key=lambda v: v.node_id)

    trackable = trackable_object_graph([
        TrackableNode(children=tuple((ids[id(child)], name) for name, child in obj.children),
                      full_name=obj.variable.name if obj.variable else None,
                      checkpoint_key=obj.variable.key if obj.variable else None)
        for obj in order])
    trackable_bytes = trackable.SerializeToString()
    checkpoint: dict[str, Any] = {var.key: var.value for var in in_id_order}
    checkpoint[OBJECT_GRAPH_KEY] = np.array(trackable_bytes, dtype=object)

    saved = saved_object_graph_pb2.SavedObjectGraph()
    variable_protos: dict[tuple[Any, ...], saved_object_graph_pb2.SavedVariable] = {}
    for obj in order:
        _saved_object(saved.nodes.add(), obj, ids, variable_protos)
    for key in sorted(signatures):
        body = bodies[key]
        bound = [c.node_id for c in body.captured]
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
    for resource in resources:
        for fn, dtype in zip(resource_functions[id(resource)],
                             (dtypes.DT_RESOURCE, dtypes.DT_INT32, dtypes.DT_INT32)):
            concrete = saved.concrete_functions[fn.name]
            if initializer is not None and fn is initializer.function:
                concrete.bound_inputs.extend(c.node_id for c in initializer.captured)
            concrete.canonicalized_input_signature.CopyFrom(_tuple([_tuple([]), _dict({})]))
            info = meta_graph_pb2.TensorInfo(dtype=proto_dtype(dtype))
            info.tensor_shape.SetInParent()
            concrete.output_signature.CopyFrom(_tensor_spec("unknown", info))

    # The outer graph.
    outer = Graph()
    handles: dict[str, Tensor] = {}
    for var in sorted(variables, key=lambda v: v.spec.node_name):
        name = var.spec.node_name
        node = graph.node_view(name)
        # The user's node (checked) taken over, or what op() would add for it on the fast
        # path, without its device (as TF's exports leave variables unplaced), and its read.
        if not node.device and outer.copy_nodes_from(graph, [name], {},
                                                     drop_attrs=_DROPPED_ATTRS):
            handles[name] = outer.get_tensor(name)
        else:
            attrs: dict[str, Any] = {k: v for k, v in node.attr.items()
                                     if k not in _DROPPED_ATTRS}
            handles[name] = outer.add_trusted_node("VarHandleOp", [], name=name + "/",
                                                   attrs=attrs)
        outer.add_variable_read(name)
    for resource in resources:  # functions only the object graph names
        for fn in resource_functions[id(resource)]:
            if fn.name not in outer.functions:
                outer.add_function(fn)
    for resource in sorted(resources, key=lambda r: r.node_name):
        node = graph.node_view(resource.node_name)
        attrs = {k: v for k, v in node.attr.items() if k not in _DROPPED_ATTRS}
        handles[node.name] = outer.op(node.op, [], name=node.name + "/", **attrs)
    asset_file_defs = []
    assigns = []
    for asset in asset_list:
        # TF's layout: the loaders feed the placeholder; the init op stores the path in a
        # string variable the functions read (signatures run without the feed).
        path = outer.placeholder("asset_path_initializer", "string", [])
        holder_name = outer.unique_name("asset_path")
        holder = outer.op("VarHandleOp", [], name=holder_name + "/", dtype=dtypes.DT_STRING,
                          shape=[], shared_name=holder_name)
        assigns.append(outer.op("AssignVariableOp", [holder, path],
                                name=f"{holder.op_name}/Assign", dtype=dtypes.DT_STRING))
        handles[asset.node_name] = outer.op("ReadVariableOp", [holder],
                                            name=f"{holder.op_name}/Read",
                                            dtype=dtypes.DT_STRING,
                                            control_inputs=[assigns[-1]])
        file_def = meta_graph_pb2.AssetFileDef(filename=asset.filename)
        file_def.tensor_info.name = path.name
        file_def.tensor_info.dtype = proto_dtype(dtypes.DT_STRING)
        file_def.tensor_info.tensor_shape.SetInParent()
        asset_file_defs.append(file_def)
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
                        [feeds + [handles[c.node_name] for c in body.captured]],
                        f=wrappers[key], name="StatefulPartitionedCall")
        for index, output_key in enumerate(body.output_keys):
            out_sig.outputs[output_key].CopyFrom(sig.outputs[output_key])
            out_sig.outputs[output_key].name = f"{call.op_name}:{index}"
        out_signatures[key] = out_sig
    init_deps = list(assigns)
    if initializer is not None:
        init_deps.append(outer.op(
            "StatefulPartitionedCall",
            [[handles[c.node_name] for c in initializer.captured]],
            f=initializer.function, name="StatefulPartitionedCall"))
    init = outer.op("NoOp", [], name="NoOp", control_inputs=init_deps)
    init_sig = meta_graph_pb2.SignatureDef()
    init_sig.outputs[INIT_OP_SIGNATURE_KEY].name = init.op_name
    init_sig.outputs[INIT_OP_SIGNATURE_KEY].tensor_shape.unknown_rank = True
    out_signatures[INIT_OP_SIGNATURE_KEY] = init_sig
    graph_const = outer.op("Const", [], name="Const", device=_CPU0, dtype=dtypes.DT_STRING,
                           value=attr_value_pb2.AttrValue(
                               tensor=make_tensor_proto(trackable_bytes)))
    filename = outer.placeholder("saver_filename", "string", [])
    ordered_handles = [handles[v.spec.node_name] for v in in_id_order]
    saved_vars = [CheckpointedVariable(v.spec.node_name, v.spec.dtype.enum, v.spec.shape, v.key)
                  for v in in_id_order]
    save_fn = save_function(f"__inference__traced_save_{next(uid)}", saved_vars)
    restore_fn = restore_function(f"__inference__traced_restore_{next(uid)}", saved_vars)
    save = outer.op("StatefulPartitionedCall", [[filename, *ordered_handles, graph_const]],
                    f=save_fn, name="StatefulPartitionedCall")
    restore = outer.op("StatefulPartitionedCall", [[filename, *ordered_handles]],
                       f=restore_fn, name="StatefulPartitionedCall")
    saver_def = saver_pb2.SaverDef(
        filename_tensor_name=filename.name, save_tensor_name=save.name,
        restore_op_name=restore.op_name, version=saver_pb2.SaverDef.V2)
    graph_def = outer.as_graph_def(add_shapes=True, into=graph_def)
    graph_def.versions.min_consumer = 12
    names = [node.op for node in graph_def.node]
    for function in graph_def.library.function:
        names.extend(node.op for node in function.node_def)
    return Tf2Export(graph_def, saved, saver_def, out_signatures, checkpoint, op_list(names),
                     asset_file_defs)


def _walk(root: _Object) -> list[_Object]:
    return _number(root)


def _saved_object(proto: saved_object_graph_pb2.SavedObject, obj: _Object,
                  ids: Mapping[int, int],
                  variable_protos: dict[tuple[Any, ...], saved_object_graph_pb2.SavedVariable]
                  ) -> None:
    """Fill ``proto`` for ``obj``; ``variable_protos``: SavedVariables without a name by
    (dtype, shape, trainable), shared by the calls of one export (variables repeat them)."""
    for name, child in obj.children:
        proto.children.add(node_id=ids[id(child)], local_name=name)
    if obj.kind == "user":
        proto.user_object.identifier = obj.identifier
        proto.user_object.version.producer = 1
        proto.user_object.version.min_consumer = 1
    elif obj.kind == "variable":
        var = obj.variable
        assert var is not None
        kind = (var.spec.dtype.enum, var.value.shape, var.spec.trainable)
        template = variable_protos.get(kind)
        if template is None:
            template = variable_protos[kind] = saved_object_graph_pb2.SavedVariable(
                dtype=proto_dtype(var.spec.dtype.enum),
                shape=make_shape_proto(list(var.value.shape)), trainable=var.spec.trainable)
        proto.variable.CopyFrom(template)
        proto.variable.name = var.name
    elif obj.kind == "resource":
        proto.resource.SetInParent()
    elif obj.kind == "asset":
        proto.asset.asset_file_def_index = obj.asset_index
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
