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
import types
from collections.abc import Callable, Collection, Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, Union

import numpy as np

from .. import dtypes
from .._proto import attr_value_pb2, function_pb2, graph_pb2, node_def_pb2, op_def_pb2
from ..dtypes import DType
from ..errors import GraphError, InvalidArgumentError, NotFoundError, OpError, UnsupportedDTypeError
from ..gcpause import gc_paused
from ..names import NODE_NAME, SCOPE_NAME, parse_input, utf8
from . import attrs as _attrs
from . import shapes as _shapes
from .attrs import Shape
from .importer import Prepared, prepare_import
from .inference import (
    ArgInput,
    base_enum,
    bind_input_attrs,
    complete_attrs,
    infer_output_only_attrs,
)
from .op_registry import TF_GRAPH_DEF_VERSION, attr_defs, check_available, get_op_def
from .opsig import (
    NodeLike,
    arg_dtypes_from,
    arg_specs,
    dtype_row,
    io_dtypes,
    is_list_arg,
)
from .validate import check_const, validate_added, validate_nodes

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

    def fill_function_def(self, fdef: function_pb2.FunctionDef) -> None:
        """Write :meth:`to_function_def`'s result into the empty ``fdef``."""


class NodeView(NodeLike, Protocol):
    """A node to read (:meth:`Graph.node_view`): :class:`~.opsig.NodeLike` and its device."""

    @property
    def device(self) -> str: ...


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


_NO_ATTRS: Mapping[str, AttrValue] = types.MappingProxyType({})


class _Node:
    """A stored node with what the graph derived from it (output dtypes and shapes).

    A node starts light: its name, op, inputs, device and attrs as plain Python values
    (the attrs are ``AttrValue``\\ s nobody else holds, registry defaults shared; none is
    ever modified).  Its ``NodeDef`` is built when it is handed out (:meth:`expose`:
    :meth:`Graph.node`, :attr:`Graph.nodes`); from then on that NodeDef is the node, and
    the caller may edit it.  Imported nodes are NodeDefs of the graph's own from the start.
    The ``attr`` / ``op`` / ``input`` views read whichever form is current.
    """

    __slots__ = ("_name", "_op", "_input", "_device", "_attr", "_proto", "op_def",
                 "out_dtypes", "out_shapes", "valid", "exposed", "known_valid", "shared")

    def __init__(self, name: str, op_def: op_def_pb2.OpDef, out_dtypes: Sequence[int | None], *,
                 op: str = "", inputs: Sequence[str] = (), device: str = "",
                 attrs: Mapping[str, AttrValue] = _NO_ATTRS,
                 proto: node_def_pb2.NodeDef | None = None, valid: bool = False) -> None:
        self._name = name
        self._op = op  # a NodeDef's own op when ``proto`` is given
        self._input = inputs
        self._device = device
        self._attr = attrs
        self._proto = proto
        self.op_def = op_def
        # Tuples (and the inputs too): objects the cyclic GC need not track, as a graph of
        # 100,000 nodes would otherwise make every full collection visit them all.
        self.out_dtypes = out_dtypes
        self.out_shapes: Sequence[Shape] = ()
        self.valid = valid
        """Whether the node passed every check of :meth:`Graph.validate` when added."""
        self.exposed = False
        """Whether its NodeDef was handed out (and may have been edited since)."""
        self.known_valid: bytes | None = None
        """For an exposed valid node: its serialized NodeDef when handed out.  A node
        whose bytes still equal it needs no re-validation, whatever path edited it."""
        self.shared = False
        """Whether graph copies share this (unexposed) node: a graph exposes its own copy
        of it instead (:meth:`Graph._own`)."""

    # Name and op are kept as strings until the NodeDef is handed out (and may change).

    @property
    def name(self) -> str:
        return self._proto.name if self.exposed else self._name  # type: ignore[union-attr]

    @property
    def op(self) -> str:
        return self._proto.op if self.exposed else self._op  # type: ignore[union-attr]

    @property
    def attr(self) -> Mapping[str, AttrValue]:
        return self._attr if self._proto is None else self._proto.attr

    @property
    def input(self) -> Sequence[str]:
        return self._input if self._proto is None else self._proto.input

    @property
    def device(self) -> str:
        return self._device if self._proto is None else self._proto.device

    def fill(self, out: node_def_pb2.NodeDef,
             rename_input: Callable[[str], str] | None = None) -> None:
        """Write the node into the empty NodeDef ``out``, each input passed through
        ``rename_input`` if given."""
        if self._proto is not None:
            out.CopyFrom(self._proto)
            if rename_input is not None and out.input:
                renamed = [rename_input(text) for text in out.input]
                del out.input[:]
                out.input.extend(renamed)
            return
        out.name = self._name
        out.op = self._op
        out.input.extend(self._input if rename_input is None
                         else map(rename_input, self._input))
        if self._device:
            out.device = self._device
        attrs = out.attr
        for key, value in self._attr.items():
            attrs[key].CopyFrom(value)

    def build(self) -> node_def_pb2.NodeDef:
        """A NodeDef of the node (a new message, not the node's own)."""
        out = NodeDef()
        self.fill(out)
        return out

    def expose(self) -> node_def_pb2.NodeDef:
        """The node's own NodeDef, to hand out: built if need be; from now on, the node."""
        if self._proto is None:
            self._proto = self.build()
            self._input = ()
            self._attr = _NO_ATTRS
        if not self.exposed:
            self.exposed = True
            if self.valid:
                self.known_valid = self._proto.SerializeToString(deterministic=True)
        return self._proto

    def trusted(self) -> bool:
        """Whether the node passed every check when added and is unchanged since."""
        if not self.valid:
            return False
        if not self.exposed:
            return True
        assert self._proto is not None
        return self._proto.SerializeToString(deterministic=True) == self.known_valid

    def copy(self) -> _Node:
        """An independent copy (AttrValues shared while light: they are never modified)."""
        proto = None
        if self._proto is not None:
            proto = NodeDef()
            proto.CopyFrom(self._proto)
        other = _Node(self._name, self.op_def, self.out_dtypes, op=self._op,
                      inputs=self._input, device=self._device, attrs=dict(self._attr),
                      proto=proto, valid=self.valid)
        other.out_shapes = self.out_shapes
        other.exposed = self.exposed
        other.known_valid = self.known_valid
        return other


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
        return self._node.op

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
        # add_variable_read() per (dtype, shape): a variable whose read later ones copy
        self._read_templates: dict[tuple[int, Shape], str] = {}

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
        return self._claim_name(name, default)[0]

    def _claim_name(self, name: str | None, default: str) -> tuple[str, list[tuple[str, int]]]:
        """The name a new node gets, and the use counts to set when it is added
        (:meth:`_take_name`); empty for an absolute name (``"scope/name/"``)."""
        if name is not None and not isinstance(name, str):
            raise GraphError(f"node name must be a str, got {name!r}")
        marks: list[tuple[str, int]] = []
        if name is not None and name.endswith("/"):
            full = name[:-1]
            if full in self._nodes:
                raise GraphError(f"a node named {full!r} already exists")
        else:
            # unique_name(), its use counts kept for later.
            base = name if name is not None else default
            full = f"{self._scope}/{base}" if self._scope else base
            key = full.lower()
            in_use = self._names_in_use
            count = in_use.get(key, 0)
            marks.append((key, count + 1))
            if count > 0:
                base_key = key
                while key in in_use:
                    key = f"{base_key}_{count}"
                    count += 1
                marks.append((key, 1))
                full = f"{full}_{count - 1}"
        if not NODE_NAME.match(full):
            raise GraphError(
                f"invalid node name {full!r}: TensorFlow node names match "
                f"[A-Za-z0-9.][A-Za-z0-9_.\\-/>]*")
        return full, marks

    def _take_name(self, node_name: str, marks: Sequence[tuple[str, int]]) -> None:
        """Mark a name from :meth:`_claim_name` as used."""
        for key, count in marks:
            self._set_use_count(key, count)
        self._mark_used(node_name)

    # ------------------------------------------------------------------ lookup

    def _lookup(self, name: str) -> _Node:
        try:
            return self._nodes[name]
        except KeyError:
            raise NotFoundError(f"no node named {name!r} in the graph") from None

    def has_node(self, name: str) -> bool:
        """Whether a node of that name exists."""
        return name in self._nodes

    def op_types(self) -> dict[str, str]:
        """``{node name: op type}`` in creation order (cheaper than :attr:`nodes`)."""
        return {name: node.op for name, node in self._nodes.items()}

    def node(self, name: str) -> node_def_pb2.NodeDef:
        """The stored ``NodeDef`` of node ``name`` (NotFoundError if absent).

        Editing it bypasses the checks :meth:`op` makes (and cached dtypes and
        shapes); :meth:`validate` and :meth:`as_graph_def` check it again.
        """
        return self._own(self._lookup(name)).expose()

    def node_view(self, name: str) -> NodeView:
        """Internal interface for the builder (not public API): node ``name`` to read
        (name, op, inputs, device, attrs) without handing out its NodeDef, which
        :meth:`node` does (and a handed-out node is re-checked by every later
        :meth:`validate`).  The attrs must not be modified.  NotFoundError if absent."""
        return self._lookup(name)

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
                f"node {op_name!r} ({node.op}) has {outputs} output(s); "
                f"there is no output {index}")
        return Tensor(self, op_name, index)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    @property
    def nodes(self) -> list[node_def_pb2.NodeDef]:
        """The stored NodeDefs in creation order."""
        return [self._own(node).expose() for node in list(self._nodes.values())]

    def _own(self, node: _Node) -> _Node:
        """``node``, or this graph's own copy of it if graph copies share it."""
        if not node.shared:
            return node
        mine = node.copy()
        mine.shared = False
        self._nodes[node._name] = mine
        return mine

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
        self.add_trusted_node("VarHandleOp", [], name=node_name + "/", attrs={
            "dtype": type_attr, "shape": AttrValue(shape=_attrs.make_shape_proto(array.shape)),
            "shared_name": AttrValue(s=node_name.encode()), "container": AttrValue(s=b""),
            "debug_name": AttrValue(s=f"{node_name}/".encode()), "_class": colocation})
        read = self._add_read(node_name, row.enum, array.shape)
        self._var_values[node_name] = (array, bool(trainable))
        return read

    def add_variable_read(self, variable: str) -> Tensor:
        """Internal interface for the builder (not public API): the ``ReadVariableOp``
        ``<variable>/Read/ReadVariableOp`` of ``VarHandleOp`` ``variable`` (its ``dtype``
        attr only), as :meth:`op` would add it (a name already taken made unique).  A
        thousand variables share a few dtypes and shapes: the read of an earlier variable
        of the same dtype and shape is copied (:meth:`copy_nodes_from`) when the name is
        free, else the node is added on :meth:`add_trusted_node`'s path."""
        handle = self._lookup(variable)
        return self._add_read(variable, handle.attr["dtype"].type, self._handle_shape(handle))

    def _add_read(self, variable: str, dtype: int, shape: Shape) -> Tensor:
        """:meth:`add_variable_read` of a variable of that dtype and shape (None: unknown
        rank, which is not a scalar)."""
        kind = (dtype, shape)
        read_name = f"{variable}/Read/ReadVariableOp"
        template = self._read_templates.get(kind)
        if template is not None and read_name.lower() not in self._names_in_use and \
                self.copy_nodes_from(self, [f"{template}/Read/ReadVariableOp"],
                                     {template: variable}, [read_name]):
            return Tensor(self, read_name, 0)
        with self.name_scope(f"{variable}/Read/"):
            read = self.add_trusted_node("ReadVariableOp", [variable], name="ReadVariableOp",
                                        attrs={"dtype": AttrValue(type=_attrs.proto_dtype(dtype))})
        if read.op_name == read_name:
            self._read_templates.setdefault(kind, variable)
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
        return self._add_op(op_type, inputs, name, control_inputs, device, attrs, owned=False)

    def _add_op(self, op_type: str, inputs: Any, name: str | None,
                control_inputs: Sequence[TensorRef] | TensorRef, device: str | None,
                attrs: Mapping[str, Any], *, owned: bool) -> Tensor:
        """:meth:`op`; ``owned``: the ``AttrValue``\\ s in ``attrs`` are the graph's to keep
        (internal callers), else they are copied (the caller may modify its own later)."""
        plan = _plan(op_type)
        op_def = plan.op_def
        if plan.deprecated:
            check_available(op_def)
        if isinstance(inputs, (Tensor, str)):
            inputs = [inputs]
        inputs = list(inputs)
        args = plan.args
        if plan.single_list and not (len(inputs) == 1 and isinstance(inputs[0], (list, tuple))):
            inputs = [inputs]
        node_name, marks = self._claim_name(name, op_type)
        where = ""  # f"node {node_name!r} ({op_type})" for messages, made when needed
        if device is not None:
            where = f"node {node_name!r} ({op_type})"
            _check_device(device, where)
        if len(inputs) != len(args):
            where = f"node {node_name!r} ({op_type})"
            arg_names = ", ".join(arg.name for arg in args) or "none"
            raise OpError(f"{where} takes {len(args)} input(s) ({arg_names}); "
                          f"got {len(inputs)}")

        fast_key = None if plan.has_func else self._fast_key(plan, op_type, inputs, attrs)
        known = _FAST_NODES.get(fast_key) if fast_key is not None else None
        resolved: list[list[Tensor | _Pending]]
        values: dict[str, AttrValue]
        pending_consts = None
        if known is not None:
            # op() has added a node of this op type from inputs of these dtypes and these
            # attrs before: its attrs, output dtypes and checks come out the same.
            values = dict(known[0])
            resolved = [[item] for item in inputs]
        else:
            where = f"node {node_name!r} ({op_type})"
            declared = plan.declared
            values = {}
            for key, raw in attrs.items():
                attr_def = declared.get(key)
                if attr_def is None and not key.startswith("_"):
                    raise OpError(f"{where} has no attr {key!r}; its attrs are: "
                                  f"{', '.join(sorted(declared)) or 'none'}")
                if attr_def is not None and attr_def.type in ("func", "list(func)"):
                    raw = self._func_attr(raw, attr_def.type, where)
                value = _attrs.make_attr_value(
                    raw, attr_def.type if attr_def else None, what=f"{where} attr {key!r}")
                if value is raw and not owned:
                    value = AttrValue()  # the caller keeps its message; the node gets its own
                    value.CopyFrom(raw)
                values[key] = value

            resolved = [self._resolve_arg(arg, item, is_list, where)
                        for arg, item, is_list in zip(args, inputs, plan.list_args)]
            sources: dict[str, str] = {}
            described, pending = self._arg_inputs(resolved, where)
            bind_input_attrs(args, described, values, sources, where)
            pending_consts = self._convert_pending(args, resolved, values, sources, where) \
                if pending else None
            infer_output_only_attrs(op_def, described, values)
            if op_type in _CALL_OPS:
                self._infer_call_attrs(op_type, values)
            complete_attrs(op_def, values, where)

        if isinstance(control_inputs, (Tensor, str)):
            control_inputs = [control_inputs]
        controls: list[str] = []
        if control_inputs:
            where = where or f"node {node_name!r} ({op_type})"
            controls = sorted({self._control_name(c, where) for c in control_inputs})

        # Everything checked: commit (consts first, as TF creates them first); a shape
        # error still possible below rolls the graph back.
        outer = self._journal is None
        if outer:
            self._journal = []
        saved_len = len(self._nodes)
        try:
            tensor = self._commit(plan, op_type, marks, node_name, resolved, pending_consts,
                                  controls, device, values,
                                  None if known is None else known[1:], fast_key)
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
        if fast_key is not None and known is None:
            stored = self._nodes[node_name]
            if len(_FAST_NODES) >= _FAST_NODES_MAX:
                _FAST_NODES.clear()
            _FAST_NODES[fast_key] = (dict(values), tuple(stored.out_dtypes), stored.valid)
        return tensor

    def _fast_key(self, plan: _OpPlan, op_type: str, inputs: Sequence[Any],
                  attrs: Mapping[str, Any]) -> tuple[object, ...] | None:
        """What the attrs, output dtypes and checks of a new node depend on, when every
        input is a handle on an existing output of this graph and every attr a plain
        scalar (else None): its op type, the inputs' dtypes (and a variable handle's
        dtype), the attrs given with their Python types."""
        parts: list[object] = [op_type]
        nodes = self._nodes
        for item, is_list in zip(inputs, plan.list_args):
            if is_list or type(item) is not Tensor or item.graph is not self:
                return None
            node = nodes.get(item.op_name)
            if node is None:
                return None
            produced = node.out_dtypes
            index = item.index
            if index >= len(produced) or produced[index] is None:
                return None
            handle = None
            if node.op == "VarHandleOp":
                dtype = node.attr.get("dtype")
                handle = -1 if dtype is None else dtype.type
            parts.append((produced[index], handle))
        for key, raw in attrs.items():
            if type(raw) not in _FAST_ATTR_TYPES:
                return None
            parts.append((key, type(raw), raw))
        return tuple(parts)

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

    def _commit(self, plan: _OpPlan, op_type: str, marks: Sequence[tuple[str, int]],
                node_name: str,
                resolved: Sequence[Sequence[Tensor | _Pending]],
                pending_consts: Sequence[dict[int, Any]] | None, controls: Sequence[str],
                device: str | None, values: dict[str, AttrValue],
                known: tuple[tuple[int | None, ...], bool] | None,
                same_as: tuple[object, ...] | None) -> Tensor:
        self._take_name(node_name, marks)
        input_names: list[str] = []
        input_tensors: list[Tensor] = []
        for index, (arg, items) in enumerate(zip(plan.args, resolved)):
            for i, item in enumerate(items):
                if isinstance(item, Tensor):
                    tensor = item
                else:
                    assert pending_consts is not None
                    const_base = f"{arg.name}_{i}" if plan.list_args[index] else arg.name
                    proto = pending_consts[index][i]
                    with self.name_scope(node_name + "/"):
                        # like TF's device scope, the op's device applies to its constants
                        tensor = self._add_op("Const", [], const_base, (), device, {
                            "value": AttrValue(tensor=proto), "dtype": proto.dtype},
                            owned=True)
                input_tensors.append(tensor)
                input_names.append(tensor_input_name(tensor.op_name, tensor.index))

        input_names.extend(f"^{c}" for c in controls)
        sources = [(t.op_name, t.index) for t in input_tensors]
        return self._store(plan, node_name, op_type, input_names, device or "", values,
                           sources, strict=True, known=known, same_as=same_as)

    def _store(self, plan: _OpPlan, node_name: str, op_type: str, input_names: list[str],
               device: str, values: dict[str, AttrValue], sources: Sequence[tuple[str, int]],
               *, strict: bool,
               known: tuple[tuple[int | None, ...], bool] | None = None,
               same_as: tuple[object, ...] | None = None) -> Tensor:
        """Add the node: its output dtypes and shapes, and whether it also passes the checks
        of :meth:`validate` that :meth:`op` does not make itself (``strict``: its attrs
        were all checked; else the declared ones must be exactly present).  ``known``:
        (output dtypes, passes) as found for an equal node before."""
        op_def = plan.op_def
        stored = _Node(node_name, op_def, (), op=op_type, inputs=tuple(input_names),
                       device=device, attrs=values)
        if known is not None:
            stored.out_dtypes = known[0]
            stored.out_shapes = self._infer_shapes(stored, sources, same_as)
            stored.valid = known[1]
            self._nodes[node_name] = stored
            return Tensor(self, node_name, 0)
        try:
            expected: tuple[int | None, ...] | None
            expected, outs = io_dtypes(op_def, stored, values)
        except OpError:  # an input list too long to check here: validate() reports it
            expected = None
            outs = tuple(d for arg in arg_specs(op_def)[1]
                         for d in arg_dtypes_from(arg, values, stored))
        stored.out_dtypes = outs
        stored.out_shapes = self._infer_shapes(stored, sources, same_as)
        nodes = self._nodes
        input_dtypes = []
        for op_name, index in sources:
            source_dtypes = nodes[op_name].out_dtypes
            input_dtypes.append(source_dtypes[index] if index < len(source_dtypes) else None)
        if expected is not None and (strict or plan.exactly_declared(values)):
            stored.valid = _passes_remaining_checks(stored, plan, expected, input_dtypes)
        nodes[node_name] = stored
        return Tensor(self, node_name, 0)

    def add_trusted_node(self, op_type: str, inputs: Sequence[Tensor | str], *, name: str,
                         attrs: Mapping[str, AttrValue], device: str | None = None) -> Tensor:
        """Internal interface for the builder (not public API): the fast path of :meth:`op`
        for nodes the library itself builds in bulk (variable initializers, saver
        restores): ``inputs`` are existing tensors, one per input of a non-list
        signature, ``attrs`` every attr :meth:`op` would infer (type attrs included) as
        ``AttrValue``\\ s, which the graph keeps (the caller must not modify them later);
        registry defaults are filled.  The node is what :meth:`op` would add for the same
        call, without its inference and per-attr checks; :meth:`validate` still checks it
        unless it passes the cheap checks kept here.
        """
        plan = _plan(op_type)
        node_name, marks = self._claim_name(name, op_type)
        sources = []
        parts: list[object] = [op_type]
        nodes = self._nodes
        for item in inputs:
            tensor = self.get_tensor(item)
            sources.append((tensor.op_name, tensor.index))
            produced = nodes[tensor.op_name].out_dtypes
            parts.append(produced[tensor.index] if tensor.index < len(produced) else None)
        for key, value in attrs.items():
            data = value.SerializeToString()
            if len(data) > _TRUSTED_MAX_ATTR_BYTES:
                break  # not remembered
            parts.append((key, data))
        same_as = tuple(parts) if len(parts) == 1 + len(sources) + len(attrs) else None
        known = _TRUSTED_NODES.get(same_as) if same_as is not None else None
        values = dict(attrs)
        for key, default in plan.defaults:
            if key not in values:
                values[key] = default
        stored = self._store(plan, node_name, op_type,
                             [tensor_input_name(*source) for source in sources], device or "",
                             values, sources, strict=False, known=known, same_as=same_as)
        # Trusted by validate() only with every declared attr and no undeclared one (see
        # _OpPlan.exactly_declared); the values' kinds are the caller's word (library
        # code, covered by byte-exact tests).
        node = nodes[node_name]
        if len(plan.args) != len(sources):
            node.valid = False
        if same_as is not None and known is None:
            if len(_TRUSTED_NODES) >= _FAST_NODES_MAX:
                _TRUSTED_NODES.clear()
            _TRUSTED_NODES[same_as] = (tuple(node.out_dtypes), node.valid)
        self._take_name(node_name, marks)
        return stored

    def copy_nodes_from(self, source: Graph, names: Sequence[str], rename: Mapping[str, str],
                        as_names: Sequence[str] | None = None, *,
                        drop_attrs: Collection[str] = ()) -> bool:
        """Internal interface for the builder (not public API): add the nodes ``names`` of
        ``source`` (which may be this graph) to this graph, inputs first, each under its
        name in ``as_names`` (default: the same names), the nodes of their data inputs
        replaced per ``rename`` (``{node of source: node of this graph}``), keeping what
        ``source`` derived for them (output dtypes and shapes, the checks they passed)
        instead of deriving it again: a TF2 export copies every node of a signature into
        a function this way, a TF1 export repeats one variable's initializer for the
        others of its dtype and shape.  ``drop_attrs``: names of ``_``-prefixed attrs
        (which no check reads) to leave out of the copies.

        All or nothing: only nodes that passed every check when added to ``source`` and
        were never handed out (so are unchanged since), without control inputs, whose
        every input here has the dtype and shape it has in ``source`` and whose new names
        name no node yet (taken as absolute names, as ``op(name="scope/name/")`` takes
        them), are copied; otherwise nothing is added and False is returned (the
        caller then adds them through :meth:`op`, which checks them again).  Output
        shapes are ``source``'s: they may be more precise than what this graph would
        infer (a resource argument of a function does not carry its variable's shape, a
        ``VarHandleOp`` does), as in the functions TensorFlow traces; where an output
        shape depends on an input's value (``Fill`` of a ``Const`` shape), the caller
        vouches that the inputs hold equal values.  The copies share the source nodes'
        ``AttrValue`` messages, as :meth:`add_trusted_node` keeps its callers' (no node's are
        modified; an imported node's are its NodeDef's: do not edit that NodeDef of
        ``source``, handed out by :meth:`node`, after copying it).
        """
        targets = names if as_names is None else as_names
        if len(targets) != len(names):
            raise InvalidArgumentError("copy_nodes_from: as many new names as nodes needed")
        if any(not key.startswith("_") for key in drop_attrs):
            raise InvalidArgumentError("copy_nodes_from drops only '_' attrs")
        nodes = self._nodes
        source_nodes = source._nodes
        # (one node, the most frequent call: no sets to build)
        wanted: Collection[str] = names if len(names) == 1 else set(names)
        if len(targets) > 1 and len(set(targets)) != len(targets):
            return False
        batch: dict[str, str] = {}  # the nodes planned so far: source name -> new name
        plans: list[tuple[str, _Node, tuple[str, ...]]] = []
        for name, target in zip(names, targets):
            node = source_nodes.get(name)
            if node is None or node.exposed or not node.valid or target in nodes:
                return False
            inputs: list[str] = []
            for text in node.input:
                op_name, index, control = parse_input(text)
                if control:
                    return False
                planned = batch.get(op_name)
                if planned is None and op_name in wanted:
                    return False  # a node of the batch listed after its consumer
                there = source_nodes.get(op_name)
                if there is None or index >= len(there.out_dtypes):
                    return False
                if planned is None:  # else a copy of ``there`` made here
                    new = rename.get(op_name, op_name)
                    here = nodes.get(new)
                    if here is None or index >= len(here.out_dtypes) \
                            or here.out_dtypes[index] != there.out_dtypes[index] \
                            or here.out_shapes[index] != there.out_shapes[index]:
                        return False
                else:
                    new = planned
                inputs.append(new if index == 0 else f"{new}:{index}")
            plans.append((target, node, tuple(inputs)))
            batch[name] = target
        for target, node, renamed in plans:
            attrs = {key: value for key, value in node.attr.items() if key not in drop_attrs} \
                if drop_attrs else dict(node.attr)
            copied = _Node(target, node.op_def, node.out_dtypes, op=node.op, inputs=renamed,
                           device=node.device, attrs=attrs, valid=True)
            copied.out_shapes = node.out_shapes
            nodes[target] = copied
            self._mark_used(target)
        return True

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

    def _resolve_arg(self, arg: op_def_pb2.OpDef.ArgDef, item: Any, is_list: bool,
                     where: str) -> list[Tensor | _Pending]:
        if is_list:
            if isinstance(item, (Tensor, str, bytes)) or not isinstance(item, (list, tuple)):
                raise OpError(f"{where} input {arg.name!r} is a list input; "
                              f"give it a Python list, got {item!r}")
            return [self._resolve_one(x, where) for x in item]
        return [self._resolve_one(item, where)]

    def _arg_inputs(self, resolved: Sequence[Sequence[Tensor | _Pending]],
                    where: str) -> tuple[list[list[ArgInput]], bool]:
        """Each input as the shared inference (:mod:`.inference`) sees it; plain values,
        not yet converted to constants, have no dtype there.  Also: whether there is one."""
        out = []
        pending = False
        nodes = self._nodes
        for items in resolved:
            described = []
            for item in items:
                if isinstance(item, Tensor):
                    source = nodes[item.op_name]
                    source_op = source.op
                    handle = None
                    if source_op == "VarHandleOp":
                        dtype = source.attr.get("dtype")
                        handle = dtype.type if dtype is not None else None
                    dtypes_ = source.out_dtypes
                    index = item.index
                    enum = dtypes_[index] if index < len(dtypes_) else None
                    if enum is None:
                        raise OpError(f"{where}: {item.op_name!r} ({source_op}) has no output "
                                      f"{index} to use as an input")
                    described.append(ArgInput(f"{item.op_name}:{index}", enum, source_op,
                                              handle))
                else:
                    pending = True
                    described.append(ArgInput("<plain value>"))
            out.append(described)
        return out, pending

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

    def _infer_shapes(self, node: _Node, sources: Sequence[tuple[str, int]] | None = None,
                      same_as: tuple[object, ...] | None = None) -> tuple[Shape, ...]:
        """Output shapes of ``node``; ``sources``: its data inputs as (node, output index)
        when the caller knows them (else read from the node's inputs).  ``same_as``: a key
        equal for nodes of equal op, attrs and input dtypes (for an op of
        :data:`shapes.SHAPE_ONLY_OPS`, the result is then reused for equal input shapes)."""
        count = len(node.out_dtypes)
        op = node.op
        if op not in _shapes.SUPPORTED_OPS:
            return (None,) * count
        if sources is None:
            sources = [(op_name, index) for op_name, index, control in
                       map(parse_input, node.input) if not control]
        nodes = self._nodes
        key = None
        if same_as is not None and op in _shapes.SHAPE_ONLY_OPS:
            parts: list[object] = [same_as]
            for op_name, index in sources:
                source = nodes.get(op_name)
                if source is None or index >= len(source.out_shapes):
                    parts.append(False)
                elif source.op == "VarHandleOp":
                    parts.append((source.out_shapes[index], self._handle_shape(source)))
                else:
                    parts.append(source.out_shapes[index])
            key = tuple(parts)
            known = _SHAPES.get(key)
            if known is not None:
                return known
        inputs = []
        for op_name, index in sources:
            source = nodes.get(op_name)
            if source is None or index >= len(source.out_shapes):
                inputs.append(_shapes.InputInfo(None, None, None))
                continue
            source_op = source.op
            handle_shape = None
            value = None
            if source_op == "VarHandleOp":
                handle_shape = self._handle_shape(source)
            elif source_op == "Const":
                value = functools.partial(_const_value, source)
            source_dtypes = source.out_dtypes
            inputs.append(_shapes.InputInfo(
                source_dtypes[index] if index < len(source_dtypes) else None,
                source.out_shapes[index], value, handle_shape, source_op))
        try:
            shapes = tuple(_shapes.infer(node, count, inputs))
        except OpError:
            raise
        except Exception:  # best effort: odd attrs/values leave the shape unknown
            return (None,) * count
        if key is not None:
            if len(_SHAPES) >= _SHAPES_MAX:
                _SHAPES.clear()
            _SHAPES[key] = shapes
        return shapes

    @staticmethod
    def _handle_shape(node: _Node) -> Shape:
        shape_attr = node.attr.get("shape")
        return _attrs.shape_from_proto(shape_attr.shape) if shape_attr is not None else None

    # ------------------------------------------------------------------ views

    @property
    def variables(self) -> list[VariableSpec]:
        """Every ``VarHandleOp`` in creation order, with its value when the graph has it."""
        reads: list[_Node] = []
        handles: list[tuple[str, _Node]] = []
        for name, node in self._nodes.items():
            op = node._proto.op if node.exposed else node._op  # type: ignore[union-attr]
            if op == "ReadVariableOp":
                reads.append(node)
            elif op == "VarHandleOp":
                handles.append((name, node))
        readers: dict[str, str] | None = None  # handle -> first read, if ever needed
        out = []
        nodes = self._nodes
        for name, node in handles:
            attr = node.attr
            preferred = f"{name}/Read/ReadVariableOp"
            reader = nodes.get(preferred)
            if reader is not None and reader.op == "ReadVariableOp":
                read: str | None = f"{preferred}:0"
            else:
                if readers is None:
                    readers = {}
                    for read_node in reads:
                        if read_node.input:
                            source = parse_input(read_node.input[0])[0]
                            readers.setdefault(source, f"{read_node.name}:0")
                read = readers.get(name)
            value, trainable = self._var_values.get(name, (None, True))
            shape_attr = attr.get("shape")
            shape = _attrs.shape_from_proto(shape_attr.shape) if shape_attr is not None \
                else None
            shared_attr = attr.get("shared_name")
            raw_shared_name = shared_attr.s if shared_attr is not None else b""
            try:
                shared_name = raw_shared_name.decode("utf-8")
            except UnicodeDecodeError:
                raise GraphError(f"VarHandleOp {name!r}: shared_name {raw_shared_name!r} is not "
                                 f"UTF-8; checkpoint keys must be UTF-8 strings") from None
            dtype_attr = attr.get("dtype")
            out.append(VariableSpec(
                node_name=name,
                shared_name=shared_name or name,
                dtype=dtype_row(dtype_attr.type if dtype_attr is not None else 0),  # type: ignore[arg-type]
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
        # Unexposed nodes are never modified (a graph exposes its own copy of a shared
        # one): both graphs keep them; a NodeDef handed out may still be edited: copied.
        nodes = {}
        for name, node in self._nodes.items():
            if node.exposed:
                node = node.copy()
            else:
                node.shared = True
            nodes[name] = node
        other._nodes = nodes
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
        nodes = self._nodes
        untrusted: list[_Node] = []
        edited = False
        for node in nodes.values():
            if not node.valid:
                untrusted.append(node)
            elif node.exposed and not node.trusted():
                untrusted.append(node)
                edited = True
        if not untrusted:
            # Every node is as it was when checked: each input named a node that existed
            # already, no node was removed since, so names, edges and acyclicity all hold.
            return
        functions = _signatures(self._library())
        if edited:
            # An edited NodeDef can break what held by construction (names, edges, no
            # cycle): the whole graph is checked, unchanged nodes trusted for their own part.
            doubtful = set(map(id, untrusted))
            trusted = {node.name: node.out_dtypes for node in nodes.values()
                       if id(node) not in doubtful}
            validate_nodes(list(nodes.values()), trusted=trusted, functions=functions)
            return
        # Only nodes op() could not vouch for, all unedited: their own checks (the graph
        # around them is sound by construction, see above; their consumers were checked
        # against the same output dtypes when added).
        validate_added(untrusted, outputs={name: node.out_dtypes for name, node in nodes.items()},
                       ops={name: node.op for name, node in nodes.items()}, functions=functions)

    def as_graph_def(self, *, add_shapes: bool = False,
                     into: graph_pb2.GraphDef | None = None) -> graph_pb2.GraphDef:
        """The validated ``GraphDef`` (producer 2474, nodes in creation order).

        ``add_shapes`` adds ``_output_shapes`` attrs (our inferred shapes; unknown
        rank where not inferred) to nodes with outputs, as TF's v1 SavedModel
        builder does.  ``into``: an empty GraphDef to write into and return (the
        builder's, inside a ``MetaGraphDef``) instead of a new one.
        """
        graph_def = graph_pb2.GraphDef() if into is None else into
        self.fill_node_defs(graph_def.node, add_shapes=add_shapes)
        for _, function in sorted(self._library().items()):
            function.fill_function_def(graph_def.library.function.add())
        graph_def.versions.producer = TF_GRAPH_DEF_VERSION
        return graph_def

    def fill_node_defs(self, container: Any, *, add_shapes: bool = False,
                       skip: Container[str] = (),
                       rename_input: Callable[[str], str] | None = None) -> None:
        """Internal interface for functions and the builder (not public API): validate,
        then append the nodes (as :meth:`as_graph_def` writes them, creation order)
        to ``container``, a repeated ``NodeDef`` field, leaving out the nodes named in
        ``skip``, each input written as ``rename_input`` returns it (a function body
        names outputs its own way); no function library is built."""
        self.validate()
        shape_attrs: dict[tuple[Shape, ...], AttrValue] = {}  # made once per distinct list
        add = container.add
        for name, node in self._nodes.items():
            if name in skip:
                continue
            out = add()
            node.fill(out, rename_input)
            if add_shapes and node.out_dtypes and "_output_shapes" not in out.attr:
                key = tuple(node.out_shapes)
                shapes = shape_attrs.get(key)
                if shapes is None:
                    shapes = shape_attrs[key] = AttrValue()
                    shapes.list.SetInParent()
                    for shape in key:
                        shapes.list.shape.add().CopyFrom(_attrs.make_shape_proto(shape))
                out.attr["_output_shapes"].CopyFrom(shapes)

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
        with gc_paused():
            return cls._from_prepared(prepare_import(source))

    @classmethod
    def from_dict_onto(cls, base: Graph, nodes: Iterable[node_def_pb2.NodeDef]) -> Graph:
        """Internal interface for the spec builder (not public API): the graph
        ``Graph.from_dict`` makes of ``base``'s GraphDef followed by ``nodes`` (NodeDefs
        in the form ``from_dict`` takes them: attrs may be left to inference), without
        completing or checking again ``base``'s nodes that passed every check and are
        unchanged since (``nodes`` are checked, and may use ``base``'s nodes as inputs).
        ``base`` must have no function library."""
        graph_def = base.as_graph_def()
        trusted = {name: node.out_dtypes for name, node in base._nodes.items()
                   if node.trusted()}
        graph_def.node.extend(nodes)
        with gc_paused():
            return cls._from_prepared(prepare_import(graph_def, trusted=trusted))

    @classmethod
    def _from_prepared(cls, prepared: Prepared) -> Graph:
        graph = cls()
        nodes = graph._nodes
        info = prepared.info
        # Names are unique and valid (the importer checked); the importer validated the
        # whole graph; the NodeDefs are the graph's own (the importer copied its source),
        # handed out by node() only.
        by_name = prepared.by_name
        # Shapes are inferred inputs first: while adding the nodes when the source listed
        # them so (as TensorFlow and as_graph_def do), else in a second pass.
        in_order = prepared.order == list(by_name)
        for name, node_def in by_name.items():
            record = info[name]
            node = nodes[name] = _Node(name, record.op_def, record.outputs, op=record.op,
                                       proto=node_def, valid=True)
            if in_order:
                node.out_shapes = graph._infer_shapes(node, record.data_inputs, record.key)
        if not in_order:
            for name in prepared.order:
                record = info[name]
                node = nodes[name]
                node.out_shapes = graph._infer_shapes(node, record.data_inputs, record.key)
        # _mark_used for every name, outside op(); the graph is new, so none is in use yet.
        graph._names_in_use = dict.fromkeys([name.lower() for name in nodes], 1)
        return graph


def _check_device(device: Any, where: str) -> None:
    if not isinstance(device, str):
        raise GraphError(f"{where}: device must be a string, got {device!r}")
    utf8(device, f"{where}: device {device!r}", GraphError)


class _OpPlan:
    """What :meth:`Graph.op` reads of an op's OpDef for every node, read once per op type."""

    __slots__ = ("op_def", "deprecated", "args", "list_args", "single_list", "declared",
                 "declared_names", "defaults", "has_func")

    def __init__(self, op_def: op_def_pb2.OpDef) -> None:
        self.op_def = op_def
        self.deprecated = op_def.HasField("deprecation")
        self.args = tuple(op_def.input_arg)
        self.list_args = tuple(is_list_arg(arg) for arg in self.args)
        self.single_list = len(self.args) == 1 and self.list_args[0]
        self.declared = attr_defs(op_def)
        self.declared_names = frozenset(self.declared)
        self.defaults = tuple((name, attr_def.default_value)
                              for name, attr_def in self.declared.items()
                              if attr_def.HasField("default_value"))
        self.has_func = any(attr_def.type in ("func", "list(func)") for attr_def in op_def.attr)

    def exactly_declared(self, values: Mapping[str, AttrValue]) -> bool:
        """Every declared attr present and no undeclared one (``_``-prefixed aside)."""
        declared = self.declared_names
        if not declared <= values.keys():
            return False
        if len(values) == len(declared):
            return True
        return all(key.startswith("_") for key in values.keys() - declared)


_PLANS: dict[str, _OpPlan] = {}

_SHAPES: dict[tuple[object, ...], tuple[Shape, ...]] = {}
"""Output shapes of nodes of :data:`shapes.SHAPE_ONLY_OPS`, by (op, attrs and input dtypes
key, input shapes): see :meth:`Graph._infer_shapes`."""
_SHAPES_MAX = 8192

_FAST_NODES: dict[tuple[object, ...], tuple[dict[str, AttrValue], tuple[int | None, ...],
                                            bool]] = {}
"""Graph.op's results by :meth:`Graph._fast_key`: the node's attrs (shared, never modified),
output dtypes and whether it passes validate()'s remaining checks."""
_FAST_NODES_MAX = 4096
_TRUSTED_NODES: dict[tuple[object, ...], tuple[tuple[int | None, ...], bool]] = {}
"""add_trusted_node's results (output dtypes, passes validate()'s remaining checks) by op
type, input dtypes and the attrs given, serialized."""
_TRUSTED_MAX_ATTR_BYTES = 1024
_FAST_ATTR_TYPES = frozenset({bool, int, float, str, bytes})


def _plan(op_type: str) -> _OpPlan:
    """The plan of a registered op (OpError naming the closest op for an unknown one)."""
    plan = _PLANS.get(op_type)
    if plan is None:
        plan = _PLANS[op_type] = _OpPlan(get_op_def(op_type))
    return plan


def _passes_remaining_checks(node: _Node, plan: _OpPlan, expected: Sequence[int | None],
                             input_dtypes: Sequence[int | None]) -> bool:
    """Whether a node :meth:`Graph.op` built also passes the checks of
    :meth:`Graph.validate` that ``op`` does not make itself: input count and dtypes against
    the final attrs (``expected``: the input dtypes they give; a given ``list(type)`` attr
    can disagree with plain-value inputs) and a ``Const``'s value.

    False leaves the node to :meth:`Graph.validate`, which reports the problem.
    """
    if plan.has_func:
        return False  # calls are checked against the library by Graph.validate
    if len(expected) != len(input_dtypes):
        return False
    for want, got in zip(expected, input_dtypes):
        if want is not None and got is not None and base_enum(want) != base_enum(got):
            return False
    if node.op == "Const":
        attr = node.attr
        if "value" not in attr or "dtype" not in attr:
            return False
        try:
            check_const(node)
        except OpError:
            return False
    return True


def _tensor_enum(tensor: Tensor, where: str) -> int:
    node = tensor.graph._lookup(tensor.op_name)
    if tensor.index >= len(node.out_dtypes) or node.out_dtypes[tensor.index] is None:
        raise OpError(f"{where}: {tensor.op_name!r} ({node.op}) has no output "
                      f"{tensor.index} to use as an input")
    return node.out_dtypes[tensor.index]  # type: ignore[return-value]


_MAX_INFERENCE_CONST = 1 << 20
"""Shape inference reads constants (shapes, axes) up to this many elements; larger ones,
e.g. a splat constant expanding a single value to a huge shape, are not materialized."""


def _const_value(node: _Node) -> np.ndarray | None:
    value = node.attr.get("value")
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
