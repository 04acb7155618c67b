"""``spec.graph``, ``spec.assets``, ``spec.signatures`` and ``spec.init_op``.

:func:`assemble_graph` creates the variables of ``spec.variables`` and the
asset constants, adds the nodes of ``spec.graph``, binds a weight to every
variable and checks node names are not created twice; the signatures and init
op are then checked against the assembled graph.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

import numpy as np

from .._proto import node_def_pb2
from ..aliases import Location
from ..builder.signatures import (
    CLASSIFY_METHOD_NAME,
    PREDICT_METHOD_NAME,
    REGRESS_METHOD_NAME,
    resolve_signature_def,
)
from ..errors import Error, NotFoundError
from ..graph.attrs import shape_from_proto
from ..graph.graph import Graph
from ..graph.importer import node_from_dict
from .files import file_name, is_file, spec_file
from .json_paths import (
    did_you_mean,
    expect_array,
    expect_mapping,
    expect_object,
    expect_string,
    fail,
    key_path,
    rewrap,
)
from .variables import VariableEntry, check_fits, parse_variables, take_weight
from .weights_map import Weight

_SIGNATURE_KEYS: Final = ("method", "inputs", "outputs")
_METHODS: Final = {
    "predict": PREDICT_METHOD_NAME,
    "classify": CLASSIFY_METHOD_NAME,
    "regress": REGRESS_METHOD_NAME,
}


class Resolved(NamedTuple):
    """The assembled graph, the value of each variable, the asset files to copy."""

    graph: Graph
    values: dict[str, np.ndarray]               # VarHandleOp name -> value
    assets: dict[str, str]                      # asset tensor -> source path


def assemble_graph(spec: Mapping[str, Any], weights: dict[str, Weight], strict: bool,
                   base_dir: Location) -> Resolved:
    """The graph of the spec with every variable bound to its weight."""
    entries = parse_variables(spec.get("variables", []))
    user_nodes = _user_nodes(spec.get("graph"))
    assets = _parse_assets(spec.get("assets", {}), base_dir)
    user_index = {node.name: i for i, node in enumerate(user_nodes)}
    user_vars = {node.name for node in user_nodes if node.op == "VarHandleOp"}

    # Nodes the spec creates: variables, then asset constants; their owner for messages.
    created = Graph()
    owners: dict[str, str] = {}
    values: dict[str, np.ndarray] = {}
    bound: dict[str, VariableEntry] = {}
    for entry in entries:
        if entry.name in user_vars:
            if entry.shape is not None or entry.dtype is not None:
                fail(entry.where, f"variable {entry.name!r} is the VarHandleOp "
                                  f"spec.graph.node[{user_index[entry.name]}], which declares "
                                  "its own shape and dtype; give only \"name\" and \"weight\"")
            bound[entry.name] = entry
            continue
        weight = take_weight(weights, entry.weight, entry.where, entry.name)
        check_fits(weight, entry.name, entry.shape, entry.dtype, entry.where)
        try:
            read = created.variable(entry.name, weight.value)
        except Error as exc:
            raise rewrap(entry.where, exc) from None
        for node in (entry.name, read.op_name):
            owners[node] = entry.where
        values[entry.name] = weight.value
    for name, (item_where, path) in assets.items():
        if name in owners:
            fail(item_where, f"node name {name!r} is also created by {owners[name]}")
        try:
            created.constant(file_name(path), name=name + "/")
        except Error as exc:
            raise rewrap(item_where, exc) from None
        owners[name] = item_where
    for name, index in user_index.items():
        if name in owners:
            fail(f"spec.graph.node[{index}]", f"node name {name!r} is also created by "
                                              f"{owners[name]}")

    try:
        # as Graph.from_dict(created's GraphDef + user_nodes), created's nodes not checked
        # again (its VarHandleOps differ in shared_name, so no memo spares them)
        graph = Graph.from_dict_onto(created, user_nodes)
    except Error as exc:
        raise rewrap(_graph_where(str(exc), user_index), exc) from None

    # VarHandleOps written in spec.graph: bound by an entry, or by their own name.
    for spec_var in graph.variables:
        if spec_var.node_name not in user_vars:
            continue
        binding = bound.get(spec_var.node_name)
        where = binding.where if binding else \
            f"spec.graph.node[{user_index[spec_var.node_name]}]"
        weight = take_weight(weights, binding.weight if binding else spec_var.node_name, where,
                             spec_var.node_name)
        declared = _declared_shape(graph, spec_var.node_name)
        check_fits(weight, spec_var.node_name, declared, spec_var.dtype, where)
        values[spec_var.node_name] = weight.value

    unused = [w for w in weights.values() if w.used_by is None]
    if strict and unused:
        listed = "; ".join(f"{w.name!r} = {w.origin} from {w.file!r}" for w in unused)
        fail("spec.weights", f"weight(s) not used by any variable: {listed}. "
                             "Rename them to a variable's name in \"map\", drop them with "
                             "{\"match\": ..., \"drop\": true}, or set \"strict\": false")
    return Resolved(graph, values, {f"{name}:0": str(path)
                                    for name, (_, path) in assets.items()})


def _user_nodes(section: Any) -> list[node_def_pb2.NodeDef]:
    """The NodeDefs of ``spec.graph`` (attrs converted, not yet completed)."""
    where = "spec.graph"
    graph = expect_object(section, where, ("node",))
    if "node" not in graph:
        fail(where, "needs \"node\": an array of node objects")
    nodes = []
    for index, item in enumerate(expect_array(graph["node"], key_path(where, "node"))):
        try:
            nodes.append(node_from_dict(item))
        except Error as exc:
            raise rewrap(f"{where}.node[{index}]", exc) from None
    return nodes


def _parse_assets(section: Any, base_dir: Location) -> dict[str, tuple[str, Location]]:
    """``{Const node name: (JSON path, source file)}``."""
    where = "spec.assets"
    out = {}
    for name, rel in expect_mapping(section, where, "{node name: file}").items():
        item_where = key_path(where, name)
        if not isinstance(name, str):
            fail(item_where, f"expected a node name (a string) as the key, got {name!r}")
        rel = expect_string(rel, item_where)
        path = spec_file(base_dir, rel)
        if not isinstance(path, str) and path.exists() and not path.is_file():
            fail(item_where, f"{rel!r} is not a file (looked at {str(path)!r})")
        if not is_file(path):
            fail(item_where, f"file {rel!r} not found (looked for {str(path)!r})", NotFoundError)
        out[name] = (item_where, path)
    return out


def _graph_where(message: str, user_index: Mapping[str, int]) -> str:
    """``spec.graph.node[i]`` of the first node a graph error names, else ``spec.graph``."""
    match = re.search(r"node '([^']+)'", message)
    if match and match.group(1) in user_index:
        return f"spec.graph.node[{user_index[match.group(1)]}]"
    return "spec.graph"


def _declared_shape(graph: Graph, node_name: str) -> tuple[int | None, ...] | None:
    node = graph.node(node_name)
    return shape_from_proto(node.attr["shape"].shape) if "shape" in node.attr else None


def parse_signatures(section: Any, graph: Graph) -> dict[str, dict[str, Any]]:
    """``spec.signatures`` as ``signature_def_map`` entries, their tensors checked."""
    where = "spec.signatures"
    out = {}
    for key, value in expect_mapping(section, where, "{key: signature}").items():
        sig_where = key_path(where, key)
        sig = expect_object(value, sig_where, _SIGNATURE_KEYS)
        method = expect_string(sig.get("method", "predict"), key_path(sig_where, "method"))
        if method not in _METHODS and "/" not in method:
            fail(key_path(sig_where, "method"), f"unknown method {method!r}; expected "
                                                f"{', '.join(_METHODS)} or a full method name")
        tensors: dict[str, dict[str, str]] = {}
        for side in ("inputs", "outputs"):
            side_where = key_path(sig_where, side)
            mapping = expect_mapping(sig.get(side, {}), side_where, "{key: tensor name}")
            for name, tensor in mapping.items():
                tensor_where = key_path(side_where, name)
                tensor = expect_string(tensor, tensor_where)
                try:
                    graph.get_tensor(tensor)
                except Error as exc:
                    raise rewrap(tensor_where, exc) from None
            tensors[side] = dict(mapping)
        built = {"method_name": _METHODS.get(method, method), **tensors}
        try:
            resolve_signature_def(key, built, graph)
        except Error as exc:
            raise rewrap(sig_where, exc) from None
        out[key] = built
    return out


def parse_init_op(spec: Mapping[str, Any], graph: Graph) -> str | None:
    """``spec.init_op``: a node of ``graph``, or None when the spec names none."""
    if "init_op" not in spec:
        return None
    init_op = expect_string(spec["init_op"], "spec.init_op")
    if not graph.has_node(init_op):
        fail("spec.init_op", f"no node {init_op!r} in the graph"
                             f"{did_you_mean(init_op, [n.name for n in graph.nodes])}",
             NotFoundError)
    return init_op
