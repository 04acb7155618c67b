"""Functions: ``FunctionDef``\\ s built with the :class:`~pysavedmodel.graph.graph.Graph` API.

A :class:`Function` has its own graph (:attr:`Function.graph`) in which its arguments
are placeholders (:meth:`Function.arg`) and its results are named tensors
(:meth:`Function.ret`).  A graph calls it through a func-typed attr — ``f`` of
``PartitionedCall`` / ``StatefulPartitionedCall``, ``then_branch`` / ``else_branch``
of ``If`` / ``StatelessIf``, ``cond`` / ``body`` of ``While`` / ``StatelessWhile`` —
given the :class:`Function` object; the graph then carries it (and every function it
calls) in ``GraphDef.library``, and infers the call's type attrs (``Tin``, ``Tout``,
``T``) from the function's signature.

Wire format of a ``FunctionDef`` (``function.proto``), as written here:

* ``signature``: an ``OpDef`` named after the function: ``input_arg`` (name, type)
  per argument, ``output_arg`` per result, ``is_stateful`` when any op inside is;
* ``node_def``: the body's nodes, without the argument placeholders.  Inputs name an
  argument by its bare name (``x``) and a node output as ``node:out_arg:index`` —
  the op's output argument name and the index within that argument (``add:z:0``,
  ``split:output:1``), not the flat output index a GraphDef uses;
* ``ret``: result name → ``node:out_arg:index`` (or an argument name);
* ``control_ret``: control output name → node name, each name also listed in
  ``signature.control_output`` (sorted); TF's function runtime runs a node no
  result depends on only when it is a control output (it prunes the rest, stateful
  or not), and a caller's control edge on the call waits for the control outputs;
* ``arg_attr``: per argument index, ``_output_shapes`` = [the argument's shape].

Rules, checked when a graph takes a function: names are unique per graph; a function
must not call itself, directly or through others; a call's inputs match the
function's argument types and its ``Tout`` the result types (``If``: both branches;
``While``: ``cond`` returns one bool, ``body`` returns the loop variables' types).
Breaking one raises :class:`~pysavedmodel.errors.GraphError` / ``OpError`` naming
the function and the node.  See docs/format/functions.md.

Example::

    double = Function("double")
    x = double.arg("x", "float32", [None])
    double.ret("y", double.graph.op("AddV2", [x, x]))
    g = Graph()
    inp = g.placeholder("inp", "float32", [None])
    out = g.op("PartitionedCall", [[inp]], f=double)     # Tin, Tout inferred
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from .. import dtypes
from .._proto import attr_value_pb2, function_pb2, op_def_pb2
from ..errors import GraphError, InvalidArgumentError, NotFoundError
from ..names import parse_input
from . import attrs as _attrs
from .graph import Graph, Tensor
from .op_registry import get_op_def
from .opsig import arg_dtypes

__all__ = ["Function"]

_FUNCTION_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
_ARG_NAME: Final = re.compile(r"[a-z][a-z0-9_]*\Z")
"""TF's rule for argument names in an OpDef (lower case, digits, underscores)."""


class Function:
    """A function built with the Graph API, written as a ``FunctionDef``.

    Args:
        name: the function's name in the library (``[A-Za-z_][A-Za-z0-9_.-]*``).

    Build the body on :attr:`graph` (``fn.graph.op(...)``, ``fn.graph.constant(...)``);
    :meth:`arg` adds an argument, :meth:`ret` a result.
    """

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
            raise InvalidArgumentError(
                f"function name {name!r} is invalid; expected [A-Za-z_][A-Za-z0-9_.-]*")
        self.name = name
        self.graph = Graph(function_name=name)
        self._args: list[tuple[str, int, Any]] = []
        self._rets: dict[str, Tensor] = {}
        self._control_rets: dict[str, str] = {}
        self._handles: dict[str, tuple[int, tuple[int | None, ...] | None]] = {}
        self._arg_name_set: set[str] = set()
        # per (dtype, serialized shape): an argument whose Placeholder later ones copy
        self._arg_templates: dict[tuple[int, bytes], str] = {}

    def __repr__(self) -> str:
        return f"<Function {self.name!r} ({len(self._args)} args, {len(self._rets)} results)>"

    # ------------------------------------------------------------------ building

    def arg(self, name: str, dtype: Any, shape: Any = None, *,
            handle_dtype: Any = None, handle_shape: Any = None) -> Tensor:
        """Add an argument (a placeholder of the body); returns it as a tensor.

        ``dtype`` may be ``"resource"`` for a variable handle passed in by the caller
        (read it with ``ReadVariableOp``, giving ``dtype=``).  ``handle_dtype`` /
        ``handle_shape`` then describe the variable behind the handle (the argument's
        ``handle_data`` in the signature, which lets TF infer what a read returns).
        """
        if not isinstance(name, str) or not _ARG_NAME.match(name):
            raise InvalidArgumentError(
                f"function {self.name!r}: argument name {name!r} is invalid; expected "
                f"[a-z][a-z0-9_]*")
        if name in self._arg_name_set:
            raise InvalidArgumentError(f"function {self.name!r}: argument {name!r} twice")
        row = dtypes.as_dtype(dtype)
        try:
            shape_attr = attr_value_pb2.AttrValue(shape=_attrs.make_shape_proto(shape))
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"function {self.name!r}: argument {name!r}: {exc}") \
                from None
        if handle_dtype is not None:
            if row.enum != dtypes.DT_RESOURCE:
                raise InvalidArgumentError(
                    f"function {self.name!r}: argument {name!r} is {row.name}; handle_dtype "
                    f"is for resource arguments")
            handle_row = dtypes.as_dtype(handle_dtype)
        # The Placeholder op() would add, without its inference (a function builds
        # thousands of arguments when it captures many variables): copied from an
        # earlier argument of the same dtype and shape when the name is free.
        graph = self.graph
        if graph.unique_name(name, mark_as_used=False) != name:  # (before adding anything)
            raise InvalidArgumentError(f"function {self.name!r}: argument {name!r} clashes "
                                       f"with a node of the body")
        kind = (row.enum, shape_attr.SerializeToString())
        template = self._arg_templates.get(kind)
        if template is not None and graph.copy_nodes_from(graph, [template], {}, [name]):
            tensor = Tensor(graph, name, 0)
        else:
            tensor = graph.add_trusted_node("Placeholder", [], name=name, attrs={
                "dtype": attr_value_pb2.AttrValue(type=_attrs.proto_dtype(row.enum)),
                "shape": shape_attr})
            self._arg_templates.setdefault(kind, name)
        self._args.append((name, row.enum, None if shape is None else list(shape)))
        self._arg_name_set.add(name)
        if handle_dtype is not None:
            self._handles[name] = (handle_row.enum,
                                   None if handle_shape is None else tuple(handle_shape))
        return tensor

    def args_like(self, other: Function) -> list[Tensor]:
        """Internal interface for the builder (not public API): give this function, which
        has no arguments yet, the arguments of ``other`` (names, dtypes, shapes, handle
        data), as :meth:`arg` would one by one; returns them as tensors.  The argument
        nodes are copied (:meth:`Graph.copy_nodes_from`): a signature wrapper repeats
        its body's thousand resource arguments."""
        if self._args:
            raise InvalidArgumentError(f"function {self.name!r} already has arguments")
        names = [name for name, _, _ in other._args]
        if not self.graph.copy_nodes_from(other.graph, names, {}):
            out = []
            for name, enum, shape in other._args:
                handle = other._handles.get(name)
                out.append(self.arg(name, enum, shape,
                                    handle_dtype=None if handle is None else handle[0],
                                    handle_shape=None if handle is None else handle[1]))
            return out
        self._args = list(other._args)
        self._arg_name_set = set(other._arg_name_set)
        self._handles = dict(other._handles)
        return [Tensor(self.graph, name, 0) for name in names]

    def control_ret(self, name: str, op: Tensor | str) -> None:
        """Make node ``op`` of the body (a tensor of it, or its name) the control output
        ``name``: it runs whenever the function does, even when no result depends on it,
        and control edges on a call of the function wait for it.

        >>> fn.control_ret("update", fn.graph.op("AssignVariableOp", [handle, value]))
        """
        op_name = op.op_name if isinstance(op, Tensor) else op
        if isinstance(op, Tensor) and op.graph is not self.graph:
            raise InvalidArgumentError(
                f"function {self.name!r}: control output {name!r} is a node of another graph")
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(
                f"function {self.name!r}: control output name must be a non-empty str, "
                f"got {name!r}")
        if name in self._control_rets:
            raise InvalidArgumentError(
                f"function {self.name!r}: control output {name!r} twice")
        if not isinstance(op_name, str) or op_name.startswith("^") or ":" in op_name:
            raise InvalidArgumentError(
                f"function {self.name!r}: control output {name!r} must name a node of the "
                f"body, got {op!r}")
        if op_name in self._arg_name_set:
            raise InvalidArgumentError(
                f"function {self.name!r}: control output {name!r} names argument "
                f"{op_name!r}; it must be a node of the body")
        if not self.graph.has_node(op_name):
            raise NotFoundError(f"function {self.name!r}: control output {name!r} names "
                                f"{op_name!r}, which is not a node of the body")
        self._control_rets[name] = op_name

    def ret(self, name: str, tensor: Tensor | str) -> None:
        """Make ``tensor`` (of the body) the result ``name``."""
        if not isinstance(name, str) or not _ARG_NAME.match(name):
            raise InvalidArgumentError(
                f"function {self.name!r}: result name {name!r} is invalid; expected "
                f"[a-z][a-z0-9_]*")
        if name in self._rets:
            raise InvalidArgumentError(f"function {self.name!r}: result {name!r} twice")
        if isinstance(tensor, Tensor) and tensor.graph is not self.graph:
            raise InvalidArgumentError(
                f"function {self.name!r}: result {name!r} is a tensor of another graph")
        resolved = self.graph.get_tensor(tensor)
        if resolved.graph is not self.graph:
            raise InvalidArgumentError(
                f"function {self.name!r}: result {name!r} is a tensor of another graph")
        if resolved.dtype is None:
            raise InvalidArgumentError(
                f"function {self.name!r}: result {name!r} names {resolved.name!r}, which "
                f"has no output")
        self._rets[name] = resolved

    # ------------------------------------------------------------------ signature

    @property
    def input_types(self) -> list[int]:
        """DataType numbers of the arguments, in order."""
        return [enum for _, enum, _ in self._args]

    @property
    def output_types(self) -> list[int]:
        """DataType numbers of the results, in order."""
        return [t.dtype.enum for t in self._rets.values() if t.dtype is not None]

    @property
    def output_shapes(self) -> list[Any]:
        """The results' inferred shapes (None: unknown rank)."""
        return [t.shape for t in self._rets.values()]

    @property
    def functions(self) -> Mapping[str, Any]:
        """The functions this one's body calls (directly), by name."""
        return self.graph.functions

    def signature(self) -> op_def_pb2.OpDef:
        """The ``OpDef`` a call of this function matches."""
        op_def = op_def_pb2.OpDef(name=self.name)
        for name, enum, _ in self._args:
            arg = op_def.input_arg.add(name=name, type=_attrs.proto_dtype(enum))
            handle = self._handles.get(name)
            if handle is not None:
                arg.handle_data.add().MergeFromString(_attrs.handle_data_bytes(*handle))
        for name, tensor in self._rets.items():
            assert tensor.dtype is not None
            op_def.output_arg.add(name=name, type=_attrs.proto_dtype(tensor.dtype.enum))
        args = self._arg_names
        op_def.is_stateful = any(get_op_def(op_type).is_stateful
                                 for op_type in {op for name, op in self.graph.op_types().items()
                                                 if name not in args})
        return op_def

    @property
    def _arg_names(self) -> set[str]:
        return set(self._arg_name_set)

    # ------------------------------------------------------------------ wire format

    def to_function_def(self) -> function_pb2.FunctionDef:
        """The ``FunctionDef`` (validated body; see the module docstring for the format)."""
        fdef = function_pb2.FunctionDef()
        self.fill_function_def(fdef)
        return fdef

    def fill_function_def(self, fdef: function_pb2.FunctionDef) -> None:
        """Write :meth:`to_function_def`'s ``FunctionDef`` into the empty ``fdef`` (a
        graph's library writes its functions in place: a body of thousands of nodes is
        not copied again)."""
        if not self._rets:
            raise GraphError(f"function {self.name!r} has no results; add one with ret()")
        args = self._arg_names
        # (output arg name, outputs it has) per node: outputs are named by arg in a body
        layouts: dict[str, list[tuple[str, int]]] = {}

        def layout(source: str) -> list[tuple[str, int]]:
            found = layouts.get(source)
            if found is None:
                node = self.graph.node_view(source)
                op_def = get_op_def(node.op)
                found = layouts[source] = [
                    # list outputs: their lengths are the node's attrs
                    (a.name, len(arg_dtypes(a, node)) if a.number_attr or a.type_list_attr
                     else 1) for a in op_def.output_arg]
            return found

        def reference(text: str) -> str:
            source, index, control = parse_input(text)
            if control:
                if source in args:
                    raise GraphError(f"function {self.name!r}: a control input on argument "
                                     f"{source!r} is not allowed")
                return text
            if source in args:
                return source
            position = 0
            for arg_name, count in layout(source):
                if index < position + count:
                    return f"{source}:{arg_name}:{index - position}"
                position += count
            raise GraphError(f"function {self.name!r}: node {source!r} has no output {index}")

        self.graph.fill_node_defs(fdef.node_def, skip=args, rename_input=reference)
        fdef.signature.CopyFrom(self.signature())
        for name, tensor in self._rets.items():
            fdef.ret[name] = reference(tensor.name)
        for name in sorted(self._control_rets):
            fdef.signature.control_output.append(name)
            fdef.control_ret[name] = self._control_rets[name]
        arg_attrs: dict[tuple[int | None, ...] | None, bytes] = {}  # one per distinct shape
        for index, (_, _, shape) in enumerate(self._args):
            key = None if shape is None else tuple(shape)
            data = arg_attrs.get(key)
            if data is None:
                attrs = function_pb2.FunctionDef.ArgAttrs()
                attrs.attr["_output_shapes"].list.shape.add().CopyFrom(
                    _attrs.make_shape_proto(key))
                data = arg_attrs[key] = attrs.SerializeToString()
            fdef.arg_attr[index].MergeFromString(data)
