"""A TF1-style computation graph built without TensorFlow.

:class:`Graph` builds ``NodeDef``s checked against TF 2.21's op registry
(see :mod:`.op_registry`): unknown ops, wrong input counts or dtypes, bad
attr values and missing attrs are rejected when a node is added, defaults are
filled and type attrs (``T``, ``N``, ``Tidx``...) inferred from the inputs,
the way TF's Python op wrappers do.  :meth:`Graph.as_graph_def` returns the
``GraphDef`` a SavedModel holds.  Names follow TF's rules (``MatMul``,
``MatMul_1``; ``name_scope`` prefixes).
"""

from __future__ import annotations

import contextlib
import copy as _copy
import functools
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, Union

import numpy as np

from .. import dtypes
from .._proto import attr_value_pb2, function_pb2, graph_pb2, node_def_pb2, op_def_pb2
from ..dtypes import DType
from ..errors import GraphError, InvalidArgumentError, NotFoundError, OpError, UnsupportedDTypeError
from ..names import NODE_NAME, SCOPE_NAME, parse_input, utf8
from . import attrs as _attrs
from . import shapes as _shapes
from .attrs import Shape
from .importer import prepare_import
from .inference import (
    ArgInput,
    base_enum,
    bind_input_attrs,
    complete_attrs,
    infer_output_only_attrs,
)
from .op_registry import TF_GRAPH_DEF_VERSION, attr_defs, check_available, get_op_def
from .opsig import (
    arg_dtypes_from,
    arg_specs,
    dtype_row,
    is_list_arg,
    output_dtypes,
)
from .validate import check_const, validate_nodes

__all__ = ["Graph", "Tensor", "VariableSpec", "AssetSpec", "FunctionLike"]

_DT_RESOURCE = dtypes.DT_RESOURCE

AttrValue = attr_value_pb2.AttrValue
NodeDef = node_def_pb2.NodeDef
TensorRef = Union["Tensor", str]
"""A tensor as the API takes it: a :class:`Tensor` handle or a name (``"node:0"``)."""

_CALL_OPS = {"PartitionedCall": "f", "StatefulPartitionedCall": "f",
             "If": "then_branch", "StatelessIf": "then_branch"}
"""Call ops whose ``Tout`` comes from the signature of the function in this attr."""


class FunctionLike(Protocol):
    """What a graph needs of a library function (:class:`pysavedmodel.graph.function.Function`)."""

    name: str

    @property
    def input_types(self) -> list[int]: ...

    @property
    def output_types(self) -> list[int]: ...

    @property
    def functions(self) -> Mapping[str, FunctionLike]: ...

    def to_function_def(self) -> function_pb2.FunctionDef: ...


def op_name_of(tensor_name: str) -> str:
    """The node part of a tensor name: ``"x:1"`` and ``"x"`` give ``"x"``."""
    name, sep, index = tensor_name.rpartition(":")
    return name if sep and index.isdigit() else tensor_name


def tensor_input_name(op_name: str, index: int) -> str:
    """How a NodeDef names output ``index`` of ``op_name`` (``x`` for 0, else ``x:1``)."""
    return op_name if index == 0 else f"{op_name}:{index}"


@dataclass
class VariableSpec:
    """A resource variable: its ``VarHandleOp`` node and what goes in the checkpoint."""

    node_name: str
    shared_name: str
    dtype: DType
    shape: tuple[int, ...]
    value: np.ndarray | None
    trainable: bool = True
    read_tensor_name: str | None = None


@dataclass
class AssetSpec:
    """An asset: a scalar string ``Const`` whose value is a file's path."""

    node_name: str
    tensor_name: str
    path: str


@dataclass
class _Node:
    """A stored node with what the graph derived from it."""

    node_def: node_def_pb2.NodeDef
    op_def: op_def_pb2.OpDef
    out_dtypes: list[int | None] = field(default_factory=list)
    out_shapes: list[Shape] = field(default_factory=list)
    known_valid: bytes | None = None
    """The node's serialized NodeDef when it was last known to pass every check of
    :meth:`Graph.validate` (None: never, or not checked yet).  A node whose current
    bytes still equal it needs no re-validation, whatever path could have edited it."""

    def mark_valid(self) -> None:
        self.known_valid = self.node_def.SerializeToString(deterministic=True)

    def unchanged_since_valid(self) -> bool:
        return (self.known_valid is not None
                and self.node_def.SerializeToString(deterministic=True) == self.known_valid)


class Tensor:
    """A handle on output ``index`` of node ``op_name``.

    The first output doubles as the op's handle (for control inputs,
    ``group``, init ops); ops without outputs get a handle with index 0 and
    ``dtype`` None.
    """

    __slots__ = ("graph", "op_name", "index")

    def __init__(self, graph: Graph, op_name: str, index: int = 0) -> None:
        self.graph = graph
        self.op_name = op_name
        self.index = index

    @property
    def name(self) -> str:
        """``"op_name:index"``."""
        return f"{self.op_name}:{self.index}"

    @property
    def _node(self) -> _Node:
        return self.graph._lookup(self.op_name)

    @property
    def op_type(self) -> str:
        """The op type of the node (``MatMul``)."""
        return self._node.node_def.op

    @property
    def dtype(self) -> DType | None:
        """Output dtype (None only for a node without outputs)."""
        node = self._node
        if self.index >= len(node.out_dtypes):
            return None
        enum = node.out_dtypes[self.index]
        return None if enum is None else dtype_row(enum)

    @property
    def shape(self) -> Shape:
        """Static shape: None when the rank is unknown, None entries for unknown dims."""
        node = self._node
        if self.index >= len(node.out_shapes):
            return None
        return node.out_shapes[self.index]

    @property
    def outputs(self) -> tuple[Tensor, ...]:
        """Every output of this tensor's node (``()`` for a node without outputs)."""
        return tuple(Tensor(self.graph, self.op_name, i)
                     for i in range(len(self._node.out_dtypes)))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Tensor) and other.graph is self.graph
                and other.op_name == self.op_name and other.index == self.index)

    def __hash__(self) -> int:
        return hash((id(self.graph), self.op_name, self.index))

    def __repr__(self) -> str:
        dtype = self.dtype
        return (f"<Tensor {self.name!r} op={self.op_type} "
                f"dtype={dtype.name if dtype else None} shape={self.shape}>")


class _Pending:
    """A plain Python/numpy value given as an input: becomes a Const."""

    __slots__ = ("value", "maybe_name")

    def __init__(self, value: Any, maybe_name: bool = False) -> None:
        self.value = value
        self.maybe_name = maybe_name


class Graph:
    """A graph of TF ops, checked against TF 2.21's op registry as it is built."""

    def __init__(self, *, function_name: str | None = None) -> None:
        """``function_name``: set when this graph is the body of that function (a
        :class:`~pysavedmodel.graph.function.Function`), so that it cannot call itself."""
        self._function_name = function_name
        self._nodes: dict[str, _Node] = {}
        self._names_in_use: dict[str, int] = {}
        self._scope = ""
        self._var_values: dict[str, tuple[np.ndarray, bool]] = {}
        self._assets: list[AssetSpec] = []
        self._journal: list[tuple[str, int | None]] | None = None
        self._functions: dict[str, FunctionLike] = {}

    # ------------------------------------------------------------------ naming

    def _set_use_count(self, key: str, count: int) -> None:
        if self._journal is not None:  # inside op(): remember how to roll back
            self._journal.append((key, self._names_in_use.get(key)))
        self._names_in_use[key] = count

    def _mark_used(self, name: str) -> None:
        # Only the full name: like TF, a node "a/b" leaves "a" free for an op (a name_scope
        # "a" is reserved by name_scope itself).
        if name.lower() not in self._names_in_use:
            self._set_use_count(name.lower(), 1)

    def unique_name(self, base: str, *, mark_as_used: bool = True) -> str:
        """``base`` in the current name scope, made unique TF's way.

        The first use gives ``base``, later ones ``base_1``, ``base_2``...,
        skipping names already taken (compared case-insensitively, as TF does).
        """
        name = f"{self._scope}/{base}" if self._scope else base
        key = name.lower()
        count = self._names_in_use.get(key, 0)
        if mark_as_used:
            self._set_use_count(key, count + 1)
        if count > 0:
            base_key = key
            while key in self._names_in_use:
                key = f"{base_key}_{count}"
                count += 1
            if mark_as_used:
                self._set_use_count(key, 1)
            name = f"{name}_{count - 1}"
        return name

    @contextlib.contextmanager
    def name_scope(self, name: str | None) -> Iterator[str]:
        """Names created inside get the prefix ``scope/``; yields ``"scope/"``.

        The scope name is made unique like op names (``save``, then ``save_1``);
        a name ending in ``/`` is used as is; ``None`` or ``""`` returns to the root.
        """
        if name is None or name == "":
            new = ""
        elif name.endswith("/"):
            new = name[:-1]
        else:
            if not SCOPE_NAME.match(name):
                raise GraphError(f"invalid name scope {name!r}")
            new = self.unique_name(name)
        old = self._scope
        self._scope = new
        try:
            yield f"{new}/" if new else ""
        finally:
            self._scope = old

    def _node_name(self, name: str | None, default: str) -> str:
        """The name a new node gets (not yet marked as used)."""
        if name is not None and not isinstance(name, str):
            raise GraphError(f"node name must be a str, got {name!r}")
        if name is not None and name.endswith("/"):
            full = name[:-1]
            if full in self._nodes:
                raise GraphError(f"a node named {full!r} already exists")
        else:
            full = self.unique_name(name if name is not None else default, mark_as_used=False)
        if not NODE_NAME.match(full):
            raise GraphError(
                f"invalid node name {full!r}: TensorFlow node names match "
                f"[A-Za-z0-9.][A-Za-z0-9_.\\-/>]*")
        return full

    # ------------------------------------------------------------------ lookup

    def _lookup(self, name: str) -> _Node:
        try:
            return self._nodes[name]
        except KeyError:
            raise NotFoundError(f"no node named {name!r} in the graph") from None

    def has_node(self, name: str) -> bool:
        """Whether a node of that name exists."""
        return name in self._nodes

    def node(self, name: str) -> node_def_pb2.NodeDef:
        """The stored ``NodeDef`` of node ``name`` (NotFoundError if absent).

        Editing it bypasses the checks :meth:`op` makes (and cached dtypes and
        shapes); :meth:`validate` and :meth:`as_graph_def` check it again.
        """
        return self._lookup(name).node_def

    def get_tensor(self, name: str | Tensor) -> Tensor:
        """A handle from ``"op"``, ``"op:1"`` or a handle (of this graph or a copy of it)."""
        if isinstance(name, Tensor):
            op_name, index = name.op_name, name.index
            if name.graph is self:
                self._lookup(op_name)
                return name
        elif isinstance(name, str):
            op_name, index, control = parse_input(name)
            if control:
                index = 0
        else:
            raise InvalidArgumentError(f"expected a tensor name or handle, got {name!r}")
        node = self._lookup(op_name)
        outputs = len(node.out_dtypes)
        if index >= max(outputs, 1):
            raise NotFoundError(
                f"node {op_name!r} ({node.node_def.op}) has {outputs} output(s); "
                f"there is no output {index}")
        return Tensor(self, op_name, index)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    @property
    def nodes(self) -> list[node_def_pb2.NodeDef]:
        """The stored NodeDefs in creation order."""
        return [node.node_def for node in self._nodes.values()]

    # ------------------------------------------------------------------ building

    def placeholder(self, name: str, dtype: Any,
                    shape: Sequence[int | None] | None = None) -> Tensor:
        """A ``Placeholder`` fed at run time (shape None: unknown rank; None dims: unknown)."""
        return self.op("Placeholder", [], name=name, dtype=dtype, shape=shape)

    def constant(self, value: Any, name: str | None = None, *, dtype: Any = None) -> Tensor:
        """A ``Const`` holding ``value`` (numpy array, scalar, list, str/bytes)."""
        try:
            proto = _attrs.make_tensor_proto(value, dtype)
        except InvalidArgumentError as exc:  # same class (UnsupportedDTypeError stays one)
            raise type(exc)(f"constant {name or 'Const'!r}: {exc}") from None
        return self.op("Const", [], name=name if name is not None else "Const",
                       value=AttrValue(tensor=proto), dtype=proto.dtype)

    def variable(self, name: str, value: Any, *, trainable: bool = True,
                 dtype: Any = None) -> Tensor:
        """A resource variable holding ``value``; returns its read tensor.

        Adds ``VarHandleOp`` ``name`` (``shared_name`` = its name) and
        ``ReadVariableOp`` ``name/Read/ReadVariableOp``; ``value`` is what the
        checkpoint will hold (see :attr:`variables`).

        A numpy array already of the variable's dtype is kept by reference, not
        copied (nor are copies of the graph, or a builder's, copying it): it is
        read when the SavedModel or checkpoint is written, so do not modify it
        in between.
        """
        try:
            array = _attrs.to_numpy(value, dtype)
            row = dtypes.as_dtype(dtype) if dtype is not None else dtypes.from_numpy(array.dtype)
        except InvalidArgumentError as exc:
            raise type(exc)(f"variable {name!r}: {exc}") from None
        if not row.checkpointable:
            raise UnsupportedDTypeError(
                f"variable {name!r}: {row.name} values cannot be stored in a checkpoint")
        node_name = self._node_name(name, "Variable")
        # Attrs as TF 2.21 writes them, down to the self-colocation `_class`; what op()
        # would add for them, through its fast path (a model may have thousands).
        type_attr = AttrValue(type=_attrs.proto_dtype(row.enum))
        colocation = AttrValue()
        colocation.list.s.append(f"loc:@{node_name}".encode())
        handle = self.add_trusted_node("VarHandleOp", [], name=node_name + "/", attrs={
            "dtype": type_attr, "shape": AttrValue(shape=_attrs.make_shape_proto(array.shape)),
            "shared_name": AttrValue(s=node_name.encode()), "container": AttrValue(s=b""),
            "debug_name": AttrValue(s=f"{node_name}/".encode()), "_class": colocation})
        with self.name_scope(f"{node_name}/Read/"):
            read = self.add_trusted_node("ReadVariableOp", [handle], name="ReadVariableOp",
                                        attrs={"dtype": type_attr})
        self._var_values[node_name] = (array, bool(trainable))
        return read

    def asset(self, path: str | os.PathLike[str], name: str | None = None) -> Tensor:
        """A scalar string ``Const`` holding ``path``, recorded in :attr:`assets`."""
        path_str = os.fspath(path)
        if not isinstance(path_str, str):
            path_str = path_str.decode("utf-8")
        tensor = self.constant(path_str, name=name if name is not None else "asset_path")
        self._assets.append(AssetSpec(tensor.op_name, tensor.name, path_str))
        return tensor

    def group(self, ops: Sequence[TensorRef] | TensorRef, name: str | None = None) -> Tensor:
        """A ``NoOp`` with a control input on each of ``ops``."""
        if isinstance(ops, (Tensor, str)):
            ops = [ops]
        return self.op("NoOp", [], name=name if name is not None else "group_deps",
                       control_inputs=list(ops))

    def op(self, op_type: str, inputs: Sequence[Any] = (), *, name: str | None = None,
           control_inputs: Sequence[TensorRef] = (), device: str | None = None,
           **attrs: Any) -> Tensor:
        """Add a node of any op TF 2.21 registers; returns its first output.

        ``inputs`` has one entry per input arg of the op: a handle, a
        ``"node:idx"`` string, or a plain value (numpy/list/scalar; becomes a
        ``Const`` named ``<node>/<arg>``).  List args (``ConcatV2`` values,
        ``IdentityN``, ``Pack``) take a Python list.  ``attrs`` are plain
        values converted by the attr's declared type; type attrs and list
        lengths are inferred from the inputs and defaults are filled.
        """
        op_def = get_op_def(op_type)
        check_available(op_def)
        if isinstance(inputs, (Tensor, str)):
            inputs = [inputs]
        inputs = list(inputs)
        args = list(op_def.input_arg)
        if (len(args) == 1 and is_list_arg(args[0])
                and not (len(inputs) == 1 and isinstance(inputs[0], (list, tuple)))):
            inputs = [inputs]
        node_name = self._node_name(name, op_type)
        where = f"node {node_name!r} ({op_type})"
        if device is not None:
            _check_device(device, where)
        if len(inputs) != len(args):
            arg_names = ", ".join(arg.name for arg in args) or "none"
            raise OpError(f"{where} takes {len(args)} input(s) ({arg_names}); "
                          f"got {len(inputs)}")

        declared = attr_defs(op_def)
        values: dict[str, AttrValue] = {}
        for key, raw in attrs.items():
            attr_def = declared.get(key)
            if attr_def is None and not key.startswith("_"):
                raise OpError(f"{where} has no attr {key!r}; its attrs are: "
                              f"{', '.join(sorted(declared)) or 'none'}")
            if attr_def is not None and attr_def.type in ("func", "list(func)"):
                raw = self._func_attr(raw, attr_def.type, where)
            values[key] = _attrs.make_attr_value(
                raw, attr_def.type if attr_def else None, what=f"{where} attr {key!r}")

        resolved = [self._resolve_arg(arg, item, where) for arg, item in zip(args, inputs)]
        sources: dict[str, str] = {}
        described = self._arg_inputs(resolved, where)
        bind_input_attrs(args, described, values, sources, where)
        pending_consts = self._convert_pending(args, resolved, values, sources, where)
        infer_output_only_attrs(op_def, described, values)
        self._infer_call_attrs(op_type, values)
        complete_attrs(op_def, values, where)

        if isinstance(control_inputs, (Tensor, str)):
            control_inputs = [control_inputs]
        controls = sorted({self._control_name(c, where) for c in control_inputs})

        # Everything checked: commit (consts first, as TF creates them first); a shape
        # error still possible below rolls the graph back.
        outer = self._journal is None
        if outer:
            self._journal = []
        saved_len = len(self._nodes)
        try:
            return self._commit(op_def, op_type, name, node_name, args, resolved,
                                pending_consts, controls, device, values)
        except BaseException:
            if outer:
                for extra in list(self._nodes)[saved_len:]:
                    del self._nodes[extra]
                for key, old in reversed(self._journal or []):
                    if old is None:
                        self._names_in_use.pop(key, None)
                    else:
                        self._names_in_use[key] = old
            raise
        finally:
            if outer:
                self._journal = None

    def _infer_call_attrs(self, op_type: str, values: dict[str, AttrValue]) -> None:
        """``Tout`` of a call op from the called function's results."""
        attr = _CALL_OPS.get(op_type)
        if attr is None or "Tout" in values or attr not in values:
            return
        function = self._functions.get(values[attr].func.name)
        if function is not None:
            tout = AttrValue()
            tout.list.SetInParent()
            tout.list.type.extend(_attrs.proto_dtype(t) for t in function.output_types)
            values["Tout"] = tout

    def _commit(self, op_def: op_def_pb2.OpDef, op_type: str, name: str | None,
                node_name: str, args: Sequence[op_def_pb2.OpDef.ArgDef],
                resolved: Sequence[Sequence[Tensor | _Pending]],
                pending_consts: Sequence[dict[int, Any]], controls: Sequence[str],
                device: str | None, values: Mapping[str, AttrValue]) -> Tensor:
        if name is not None and name.endswith("/"):
            self._mark_used(node_name)
        else:
            self.unique_name(name if name is not None else op_type)
            self._mark_used(node_name)
        input_names: list[str] = []
        input_tensors: list[Tensor] = []
        for (arg, items), consts in zip(zip(args, resolved), pending_consts):
            for i, item in enumerate(items):
                if isinstance(item, Tensor):
                    tensor = item
                else:
                    const_base = f"{arg.name}_{i}" if is_list_arg(arg) else arg.name
                    proto = consts[i]
                    with self.name_scope(node_name + "/"):
                        # like TF's device scope, the op's device applies to its constants
                        tensor = self.op("Const", [], name=const_base, device=device,
                                         value=AttrValue(tensor=proto), dtype=proto.dtype)
                input_tensors.append(tensor)
                input_names.append(tensor_input_name(tensor.op_name, tensor.index))

        input_names.extend(f"^{c}" for c in controls)
        node_def = NodeDef(name=node_name, op=op_type, input=input_names, device=device or "")
        node_attrs = node_def.attr
        for key, value in values.items():
            node_attrs[key].CopyFrom(value)
        stored = _Node(node_def, op_def, output_dtypes(op_def, node_def, values))
        stored.out_shapes = self._infer_shapes(
            stored, [(t.op_name, t.index) for t in input_tensors])
        if _passes_remaining_checks(stored, values, [
                self._nodes[t.op_name].out_dtypes[t.index] for t in input_tensors]):
            stored.mark_valid()
        self._nodes[node_name] = stored
        return Tensor(self, node_name, 0)

    def add_trusted_node(self, op_type: str, inputs: Sequence[Tensor | str], *, name: str,
                         attrs: Mapping[str, AttrValue], device: str | None = None) -> Tensor:
        """Internal interface for the builder (not public API): the fast path of :meth:`op`
        for nodes the library itself builds in bulk (variable initializers, saver
        restores): ``inputs`` are existing tensors, one per input of a non-list
        signature, ``attrs`` every attr :meth:`op` would infer (type attrs included) as
        ``AttrValue``s; registry defaults are filled.  The node is what
        :meth:`op` would add for the same call, without its inference and per-attr checks;
        :meth:`validate` still checks it unless it passes the cheap checks kept here.
        """
        op_def = get_op_def(op_type)
        node_name = self._node_name(name, op_type)
        sources = []
        for item in inputs:
            tensor = self.get_tensor(item)
            sources.append((tensor.op_name, tensor.index))
        declared = attr_defs(op_def)
        values = dict(attrs)
        for key, attr_def in declared.items():
            if key not in values and attr_def.HasField("default_value"):
                values[key] = attr_def.default_value
        node_def = NodeDef(name=node_name, op=op_type, device=device or "",
                           input=[tensor_input_name(*source) for source in sources])
        node_attrs = node_def.attr
        for key, value in values.items():
            node_attrs[key].CopyFrom(value)
        stored = _Node(node_def, op_def, output_dtypes(op_def, node_def, values))
        stored.out_shapes = self._infer_shapes(stored, sources)
        input_dtypes = []
        for op_name, index in sources:
            source_dtypes = self._nodes[op_name].out_dtypes
            input_dtypes.append(source_dtypes[index] if index < len(source_dtypes) else None)
        # Trusted by validate() only with every declared attr and no undeclared one; the
        # values' kinds are the caller's word (library code, covered by byte-exact tests).
        if len(op_def.input_arg) == len(sources) and all(key in values for key in declared) \
                and all(key in declared or key.startswith("_") for key in values) \
                and _passes_remaining_checks(stored, values, input_dtypes):
            stored.mark_valid()
        if name.endswith("/"):
            self._mark_used(node_name)
        else:
            self.unique_name(name)
            self._mark_used(node_name)
        self._nodes[node_name] = stored
        return Tensor(self, node_name, 0)

    # ------------------------------------------------------------------ op() helpers

    def _resolve_one(self, item: Any, where: str) -> Tensor | _Pending:
        if isinstance(item, Tensor):
            if item.graph is self:
                self._lookup(item.op_name)
                return item
            if item.op_name in self._nodes:
                return self.get_tensor(item.name)
            raise GraphError(f"{where}: input {item.name!r} belongs to another graph and no "
                             f"node of that name exists in this one")
        if isinstance(item, str):
            op_name, _, control = parse_input(item)
            if not control and op_name in self._nodes:
                try:
                    return self.get_tensor(item)
                except NotFoundError as exc:
                    raise GraphError(f"{where}: {exc}") from None
            return _Pending(item, maybe_name=True)
        return _Pending(item)

    def _resolve_arg(self, arg: op_def_pb2.OpDef.ArgDef, item: Any,
                     where: str) -> list[Tensor | _Pending]:
        if is_list_arg(arg):
            if isinstance(item, (Tensor, str, bytes)) or not isinstance(item, (list, tuple)):
                raise OpError(f"{where} input {arg.name!r} is a list input; "
                              f"give it a Python list, got {item!r}")
            return [self._resolve_one(x, where) for x in item]
        return [self._resolve_one(item, where)]

    def _arg_inputs(self, resolved: Sequence[Sequence[Tensor | _Pending]],
                    where: str) -> list[list[ArgInput]]:
        """Each input as the shared inference (:mod:`.inference`) sees it; plain values,
        not yet converted to constants, have no dtype there."""
        out = []
        for items in resolved:
            described = []
            for item in items:
                if isinstance(item, Tensor):
                    source = self._lookup(item.op_name).node_def
                    handle = source.attr["dtype"].type if source.op == "VarHandleOp" \
                        and "dtype" in source.attr else None
                    described.append(ArgInput(item.name, _tensor_enum(item, where), source.op,
                                              handle))
                else:
                    described.append(ArgInput("<plain value>"))
            out.append(described)
        return out

    def _convert_pending(self, args: Sequence[op_def_pb2.OpDef.ArgDef],
                         resolved: Sequence[list[Tensor | _Pending]],
                         values: dict[str, AttrValue], sources: dict[str, str],
                         where: str) -> list[dict[int, Any]]:
        """TensorProtos for the plain-value inputs, typed by the op's signature."""
        out: list[dict[int, Any]] = []
        for arg, items in zip(args, resolved):
            consts: dict[int, Any] = {}
            for i, item in enumerate(items):
                if isinstance(item, Tensor):
                    continue
                target: int | None = None
                if arg.type:
                    target = arg.type
                elif arg.type_attr and arg.type_attr in values:
                    target = values[arg.type_attr].type
                elif arg.type_list_attr and arg.type_list_attr in values:
                    listed = list(values[arg.type_list_attr].list.type)
                    target = listed[i] if i < len(listed) else None
                if item.maybe_name and (target is None or target != dtypes.DT_STRING):
                    raise GraphError(f"{where} input {arg.name!r}: no node named "
                                     f"{parse_input(item.value)[0]!r} in the graph")
                if target == _DT_RESOURCE:
                    raise OpError(f"{where} input {arg.name!r} must be a resource handle; "
                                  f"got the plain value {item.value!r}")
                try:
                    proto = _attrs.make_tensor_proto(item.value, target)
                except InvalidArgumentError as exc:
                    raise OpError(f"{where} input {arg.name!r}: {exc}") from None
                consts[i] = proto
                if arg.type_attr and arg.type_attr not in values:
                    values[arg.type_attr] = AttrValue(type=proto.dtype)
                    sources[arg.type_attr] = f"input {arg.name!r}"
            if arg.type_list_attr and consts and arg.type_list_attr not in values:
                value = AttrValue()
                for i, item in enumerate(items):
                    value.list.type.append(consts[i].dtype if isinstance(item, _Pending)
                                           else _attrs.proto_dtype(_tensor_enum(item, where)))
                values[arg.type_list_attr] = value
            out.append(consts)
        return out

    def _control_name(self, item: TensorRef, where: str) -> str:
        if isinstance(item, Tensor):
            name = item.op_name
        elif isinstance(item, str):
            name = parse_input(item)[0]
        else:
            raise GraphError(f"{where}: control input must be a handle or a node name, "
                             f"got {item!r}")
        if name not in self._nodes:
            raise GraphError(f"{where}: control input {name!r} is not a node of the graph")
        return name

    def _infer_shapes(self, node: _Node,
                      sources: Sequence[tuple[str, int]] | None = None) -> list[Shape]:
        """Output shapes of ``node``; ``sources``: its data inputs as (node, output index)
        when the caller knows them (else read from the NodeDef)."""
        count = len(node.out_dtypes)
        if node.node_def.op not in _shapes.SUPPORTED_OPS:
            return [None] * count
        if sources is None:
            sources = [(op_name, index) for op_name, index, control in
                       map(parse_input, node.node_def.input) if not control]
        inputs = []
        for op_name, index in sources:
            source = self._nodes.get(op_name)
            if source is None or index >= len(source.out_shapes):
                inputs.append(_shapes.InputInfo(None, None, None))
                continue
            source_def = source.node_def
            source_op = source_def.op
            handle_shape = None
            if source_op == "VarHandleOp" and "shape" in source_def.attr:
                handle_shape = _attrs.shape_from_proto(source_def.attr["shape"].shape)
            inputs.append(_shapes.InputInfo(
                source.out_dtypes[index] if index < len(source.out_dtypes) else None,
                source.out_shapes[index],
                functools.partial(_const_value, source) if source_op == "Const" else None,
                handle_shape, source_op))
        try:
            return _shapes.infer(node.node_def, count, inputs)
        except OpError:
            raise
        except Exception:  # best effort: odd attrs/values leave the shape unknown
            return [None] * count

    # ------------------------------------------------------------------ views

    @property
    def variables(self) -> list[VariableSpec]:
        """Every ``VarHandleOp`` in creation order, with its value when the graph has it."""
        readers: dict[str, str] = {}
        for node in self._nodes.values():
            if node.node_def.op == "ReadVariableOp" and node.node_def.input:
                source = parse_input(node.node_def.input[0])[0]
                readers.setdefault(source, f"{node.node_def.name}:0")
        out = []
        for name, node in self._nodes.items():
            nd = node.node_def
            if nd.op != "VarHandleOp":
                continue
            preferred = f"{name}/Read/ReadVariableOp"
            read = f"{preferred}:0" if preferred in self._nodes and \
                self._nodes[preferred].node_def.op == "ReadVariableOp" else readers.get(name)
            value, trainable = self._var_values.get(name, (None, True))
            shape = _attrs.shape_from_proto(nd.attr["shape"].shape) if "shape" in nd.attr \
                else None
            raw_shared_name = nd.attr["shared_name"].s
            try:
                shared_name = raw_shared_name.decode("utf-8")
            except UnicodeDecodeError:
                raise GraphError(f"VarHandleOp {name!r}: shared_name {raw_shared_name!r} is not "
                                 f"UTF-8; checkpoint keys must be UTF-8 strings") from None
            out.append(VariableSpec(
                node_name=name,
                shared_name=shared_name or name,
                dtype=dtype_row(nd.attr["dtype"].type),  # type: ignore[arg-type]
                shape=tuple(-1 if d is None else d for d in shape) if shape is not None else (),
                value=value, trainable=trainable, read_tensor_name=read))
        return out

    @property
    def assets(self) -> list[AssetSpec]:
        """Assets added with :meth:`asset`, in creation order."""
        return list(self._assets)

    # ------------------------------------------------------------------ copy / export

    def copy(self) -> Graph:
        """An independent copy (handles of this graph resolve in it by name).

        Nodes, names and assets are copied; variable values are shared (the
        arrays are only read, when a checkpoint is written).
        """
        other = Graph(function_name=self._function_name)
        for name, node in self._nodes.items():
            node_def = NodeDef()
            node_def.CopyFrom(node.node_def)
            other._nodes[name] = _Node(node_def, node.op_def, list(node.out_dtypes),
                                       list(node.out_shapes), node.known_valid)
        other._names_in_use = dict(self._names_in_use)
        # Values are shared, not copied: the graph never writes to them.
        other._var_values = dict(self._var_values)
        other._assets = [_copy.copy(a) for a in self._assets]
        other._functions = dict(self._functions)
        return other

    # ------------------------------------------------------------------ functions

    @property
    def functions(self) -> Mapping[str, FunctionLike]:
        """The library functions this graph's nodes call directly, by name."""
        return dict(self._functions)

    def add_function(self, function: FunctionLike) -> None:
        """Put ``function`` (and the functions it calls) in this graph's library.

        Done implicitly when a func attr is given a function object.  Raises
        :class:`GraphError` for another function under the same name or a function
        that calls itself, directly or through others.
        """
        _check_no_recursion(function, [] if self._function_name is None
                            else [self._function_name])
        existing = self._functions.get(function.name)
        if existing is not None and existing is not function:
            raise GraphError(f"the graph already has another function named "
                             f"{function.name!r}")
        self._functions[function.name] = function

    def _library(self) -> dict[str, FunctionLike]:
        """Every function reachable from this graph, by name (each name once)."""
        found: dict[str, FunctionLike] = {}
        stack = list(self._functions.values())
        while stack:
            function = stack.pop()
            seen = found.get(function.name)
            if seen is not None:
                if seen is not function:
                    raise GraphError(f"two different functions are named {function.name!r}")
                continue
            found[function.name] = function
            stack.extend(function.functions.values())
        return found

    def _func_attr(self, raw: Any, kind: str, where: str) -> Any:
        """A func / list(func) attr value: function objects join the library, names must
        name a function already in it."""
        def one(item: Any) -> Any:
            if hasattr(item, "to_function_def"):
                self.add_function(item)
                return item.name
            if isinstance(item, str) and item not in self._functions:
                raise OpError(f"{where}: function {item!r} is not in the graph's library; "
                              f"pass the Function object (or add_function it first)")
            return item
        if kind == "list(func)" and isinstance(raw, (list, tuple)):
            return [one(item) for item in raw]
        return one(raw)

    def validate(self) -> None:
        """Check the whole graph; raise :class:`GraphError`/:class:`OpError` naming the offender.

        Checks: node names (TF's regex, unique), ops registered, attrs (known,
        required present, declared type, allowed values, minimums), inputs
        (exist, output index in range, count and dtypes per the op's signature,
        control inputs last), and no cycles through data or control edges.

        Nodes that passed these checks when added (by :meth:`op` or an import)
        and are byte-for-byte unchanged since are not checked again; the result
        is the same as checking everything.
        """
        nodes = list(self._nodes.values())
        trusted = {node.node_def.name: node.out_dtypes for node in nodes
                   if node.unchanged_since_valid()}
        if len(trusted) == len(nodes):
            # Every node is as it was when checked: each input named a node that existed
            # already, no node was removed since, so names, edges and acyclicity all hold.
            return
        validate_nodes([n.node_def for n in nodes], trusted=trusted,
                       functions=_signatures(self._library()))

    def as_graph_def(self, *, add_shapes: bool = False) -> graph_pb2.GraphDef:
        """The validated ``GraphDef`` (producer 2474, nodes in creation order).

        ``add_shapes`` adds ``_output_shapes`` attrs (our inferred shapes; unknown
        rank where not inferred) to nodes with outputs, as TF's v1 SavedModel
        builder does.
        """
        self.validate()
        graph_def = graph_pb2.GraphDef()
        shape_attrs: dict[tuple[Shape, ...], AttrValue] = {}  # made once per distinct list
        for node in self._nodes.values():
            out = graph_def.node.add()
            out.CopyFrom(node.node_def)
            if add_shapes and node.out_dtypes and "_output_shapes" not in out.attr:
                key = tuple(node.out_shapes)
                shapes = shape_attrs.get(key)
                if shapes is None:
                    shapes = shape_attrs[key] = AttrValue()
                    shapes.list.SetInParent()
                    for shape in key:
                        shapes.list.shape.add().CopyFrom(_attrs.make_shape_proto(shape))
                out.attr["_output_shapes"].CopyFrom(shapes)
        for _, function in sorted(self._library().items()):
            graph_def.library.function.add().CopyFrom(function.to_function_def())
        graph_def.versions.producer = TF_GRAPH_DEF_VERSION
        return graph_def

    @classmethod
    def from_dict(cls, source: Mapping[str, Any] | Any) -> Graph:
        """A graph from NodeDef-shaped dicts, a ``GraphDef`` (any protobuf class) or its bytes.

        Dict attrs take plain values (``"float32"``, ``[None, 3]``, numpy arrays,
        strings, numbers, lists) converted by the attr's declared type.  Attrs
        that can be inferred from the inputs as :meth:`op` does (``T``, ``N``,
        ``Tidx``, ``Tshape``, ``list(type)`` attrs, a ``Const``'s ``dtype``) may be
        left out, with nodes listed in any order; given ones must agree with the
        inputs; default attrs are filled.  Attrs only an output tells (a
        ``Placeholder``'s ``dtype``, ``Cast``'s ``DstT``) stay required.  The
        result is validated.
        """
        graph = cls()
        node_defs, order = prepare_import(source)
        for node in node_defs:
            graph._add_imported(node, get_op_def(node.op))
        graph._infer_all_shapes(order)
        return graph

    def _add_imported(self, node_def: node_def_pb2.NodeDef, op_def: op_def_pb2.OpDef) -> None:
        if node_def.name in self._nodes:
            raise GraphError(f"duplicate node name {node_def.name!r}")
        stored = _Node(node_def, op_def, output_dtypes(op_def, node_def))
        stored.mark_valid()  # the importer validated the whole graph before adding it
        self._nodes[node_def.name] = stored
        self._mark_used(node_def.name)

    def _infer_all_shapes(self, order: Sequence[str]) -> None:
        for name in order:
            node = self._nodes[name]
            node.out_shapes = self._infer_shapes(node)


def _check_device(device: Any, where: str) -> None:
    if not isinstance(device, str):
        raise GraphError(f"{where}: device must be a string, got {device!r}")
    utf8(device, f"{where}: device {device!r}", GraphError)


def _passes_remaining_checks(node: _Node, attrs: Mapping[str, AttrValue],
                             input_dtypes: Sequence[int | None]) -> bool:
    """Whether a node :meth:`Graph.op` built (with these ``attrs``) also passes the checks of
    :meth:`Graph.validate` that ``op`` does not make itself: input count and dtypes against
    the final attrs (a given ``list(type)`` attr can disagree with plain-value inputs) and a
    ``Const``'s value.

    False leaves the node to :meth:`Graph.validate`, which reports the problem.
    """
    node_def = node.node_def
    if _declares_functions(node.op_def):
        return False  # calls are checked against the library by Graph.validate
    try:
        expected: list[int | None] = []
        for arg in arg_specs(node.op_def)[0]:
            expected.extend(arg_dtypes_from(arg, attrs, node_def))
    except OpError:
        return False
    if len(expected) != len(input_dtypes):
        return False
    for want, got in zip(expected, input_dtypes):
        if want is not None and got is not None and base_enum(want) != base_enum(got):
            return False
    if node_def.op == "Const":
        try:
            check_const(node_def)
        except OpError:
            return False
    return True


def _tensor_enum(tensor: Tensor, where: str) -> int:
    node = tensor.graph._lookup(tensor.op_name)
    if tensor.index >= len(node.out_dtypes) or node.out_dtypes[tensor.index] is None:
        raise OpError(f"{where}: {tensor.op_name!r} ({node.node_def.op}) has no output "
                      f"{tensor.index} to use as an input")
    return node.out_dtypes[tensor.index]  # type: ignore[return-value]


_MAX_INFERENCE_CONST = 1 << 20
"""Shape inference reads constants (shapes, axes) up to this many elements; larger ones,
e.g. a splat constant expanding a single value to a huge shape, are not materialized."""


def _const_value(node: _Node) -> np.ndarray | None:
    value = node.node_def.attr.get("value")
    if value is None:
        return None
    dims = [dim.size for dim in value.tensor.tensor_shape.dim]
    if any(d < 0 for d in dims) or math.prod(dims) > _MAX_INFERENCE_CONST:
        return None
    try:
        return _attrs.tensor_proto_to_numpy(value.tensor)
    except Exception:
        return None


def _check_no_recursion(function: FunctionLike, path: list[str]) -> None:
    """GraphError if ``function`` calls itself, directly or through other functions."""
    if function.name in path:
        cycle = " -> ".join([*path[path.index(function.name):], function.name])
        raise GraphError(f"function {function.name!r} calls itself ({cycle}); recursive "
                         f"functions are not supported")
    for callee in function.functions.values():
        _check_no_recursion(callee, [*path, function.name])


def _signatures(library: Mapping[str, FunctionLike]) -> dict[str, tuple[list[int], list[int]]]:
    return {name: (list(f.input_types), list(f.output_types)) for name, f in library.items()}


_FUNCTION_ATTR_OPS: dict[str, bool] = {}


def _declares_functions(op_def: op_def_pb2.OpDef) -> bool:
    """Whether the op has a func / list(func) attr (memoized per op: Graph.op's hot path)."""
    known = _FUNCTION_ATTR_OPS.get(op_def.name)
    if known is None:
        known = _FUNCTION_ATTR_OPS[op_def.name] = any(
            a.type in ("func", "list(func)") for a in op_def.attr)
    return known

