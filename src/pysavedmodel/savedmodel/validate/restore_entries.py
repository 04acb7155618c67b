"""What a ``RestoreV2`` node restores: checkpoint names, ``shape_and_slices``, dtypes,
and the variable each restored tensor is assigned to (traced through ``Identity``).

Works on the graph and on library function bodies (whose inputs use function
syntax, ``node:output_arg:index``).  Reports ``restore-spec-invalid`` for
name/spec/dtype lists of different lengths and for malformed slice specs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from ... import dtypes
from ..._proto import function_pb2, node_def_pb2
from ...graph import attrs as _attrs
from ...names import parse_input
from .findings import Report

_VARIABLE_OPS: Final = frozenset({"VarHandleOp", "VariableV2", "Variable"})
_MAX_IDENTITY_HOPS: Final = 16

Nodes = Mapping[str, node_def_pb2.NodeDef]


@dataclass
class RestoreEntry:
    """One tensor a RestoreV2 node restores."""

    where: str
    name: str
    dtype: int | None
    full_shape: tuple[int, ...] | None  # from a non-empty shape_and_slices spec
    slice_shape: tuple[int, ...] | None  # the part of it restored
    variable: str | None
    variable_shape: tuple[int | None, ...] | None


def restore_entries(node: node_def_pb2.NodeDef, nodes: Nodes, where: str, report: Report, *,
                    top_level: bool, function: function_pb2.FunctionDef | None
                    ) -> Iterator[RestoreEntry]:
    """Each tensor ``node`` (a RestoreV2 among ``nodes``) restores, when its names are Consts."""
    data = [t for t in node.input if not t.startswith("^")]
    if len(data) < 3:
        return  # reported as input-count
    names = _const_strings(nodes, data[1])
    specs = _const_strings(nodes, data[2])
    if names is None or specs is None:
        return  # computed names: nothing to check offline
    types = list(node.attr["dtypes"].list.type) if "dtypes" in node.attr else []
    if not (len(names) == len(specs) == len(types)):
        report("restore-spec-invalid", where,
               f"{len(names)} tensor_names, {len(specs)} shape_and_slices and {len(types)} "
               f"dtypes; they must have the same length")
        return
    consumers = _consumers(nodes, top_level)
    for index, (name, spec, dtype) in enumerate(zip(names, specs, types)):
        try:
            shapes = _parse_spec(spec)
        except ValueError:
            report("restore-spec-invalid", f"{where} tensor {name!r}",
                   f"shape_and_slices entry {spec!r} is malformed; expected 'dim0 dim1 ... "
                   f"slice' with one 'start,length' or '-' per dim, inside the full shape")
            continue
        variable = _assigned_variable(node.name, index, nodes, consumers, top_level, function)
        yield RestoreEntry(where, name, dtype, shapes[0] if shapes else None,
                           shapes[1] if shapes else None,
                           variable[0] if variable else None, variable[1] if variable else None)


def _const_strings(nodes: Nodes, text: str) -> list[str] | None:
    """The strings of the Const an input names (graph or function syntax), or None."""
    name = text.split(":", 1)[0]
    node = nodes.get(name)
    if node is None or node.op != "Const" or "value" not in node.attr:
        return None
    tensor = node.attr["value"].tensor
    if tensor.dtype != dtypes.DT_STRING:
        return None
    return [s.decode("utf-8", "surrogateescape") for s in tensor.string_val]


def _parse_spec(spec: str) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """(full shape, slice shape) of a ``shape_and_slices`` entry ("" -> None).

    The entry is ``"d0 d1 ... slice"``: the full dims, then per dim ``-`` (all of
    it) or ``start,length``, joined by ``:``.  ValueError if malformed.
    """
    if not spec:
        return None
    parts = spec.split(" ")
    full = tuple(int(p) for p in parts[:-1])
    extents = parts[-1].split(":")
    if any(d < 0 for d in full) or len(extents) != len(full):
        raise ValueError(spec)
    sliced: list[int] = []
    for dim, extent in zip(full, extents):
        if extent == "-":
            sliced.append(dim)
            continue
        start_text, length_text = extent.split(",")
        start, length = int(start_text), int(length_text)
        length = dim - start if length == -1 else length
        if start < 0 or length < 0 or start + length > dim:
            raise ValueError(spec)
        sliced.append(length)
    return full, tuple(sliced)


def _consumers(nodes: Nodes, top_level: bool) -> dict[tuple[str, int], list[node_def_pb2.NodeDef]]:
    """``{(source node, output index): [consumer nodes]}`` for data inputs."""
    out: dict[tuple[str, int], list[node_def_pb2.NodeDef]] = {}
    for node in nodes.values():
        for text in node.input:
            if text.startswith("^"):
                continue
            key = _source_key(text, top_level)
            out.setdefault(key, []).append(node)
    return out


def _source_key(text: str, top_level: bool) -> tuple[str, int]:
    if top_level:
        source, index, _ = parse_input(text)
        return source, index
    parts = text.split(":")  # function syntax: node:output_arg:index, or an argument name
    if len(parts) == 3 and parts[2].isdigit():
        return parts[0], int(parts[2])
    return parts[0], 0


def _assigned_variable(restore: str, index: int, nodes: Nodes,
                       consumers: Mapping[tuple[str, int], Sequence[node_def_pb2.NodeDef]],
                       top_level: bool, function: function_pb2.FunctionDef | None
                       ) -> tuple[str, tuple[int | None, ...] | None] | None:
    """(variable name, its declared shape) the restored tensor is assigned to, if traceable."""
    frontier = [(restore, index)]
    for _ in range(_MAX_IDENTITY_HOPS):
        next_frontier: list[tuple[str, int]] = []
        for key in frontier:
            for consumer in consumers.get(key, []):
                if consumer.op == "Identity":
                    next_frontier.append((consumer.name, 0))
                elif consumer.op in ("AssignVariableOp", "Assign") and consumer.input:
                    return _variable_shape(consumer.input[0], nodes, top_level, function)
        if not next_frontier:
            return None
        frontier = next_frontier
    return None


def _variable_shape(text: str, nodes: Nodes, top_level: bool,
                    function: function_pb2.FunctionDef | None
                    ) -> tuple[str, tuple[int | None, ...] | None] | None:
    source = _source_key(text, top_level)[0]
    node = nodes.get(source)
    if node is not None:
        if node.op in _VARIABLE_OPS and "shape" in node.attr:
            return node.name, _attrs.shape_from_proto(node.attr["shape"].shape)
        return None
    if function is not None:
        for arg in function.signature.input_arg:
            if arg.name == source and len(arg.handle_data) == 1:
                return arg.name, _attrs.shape_from_proto(arg.handle_data[0].shape)
    return None
