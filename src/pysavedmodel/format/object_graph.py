"""TF2 object-based checkpoints: keys, the ``_CHECKPOINTABLE_OBJECT_GRAPH`` tensor, plain names.

A TF2 checkpoint (``tf.train.Checkpoint``, and the ``variables/`` of a
``tf.saved_model.save`` export) stores every value under the *object path* of
the object that owns it, plus one extra tensor describing the objects:

* key of a variable's value: ``<path>/.ATTRIBUTES/VARIABLE_VALUE``, where
  ``<path>`` joins with ``/`` the local names of the children followed from the
  root object (``dense/kernel``).  Each local name is escaped first: ``.``
  becomes ``..`` and ``/`` becomes ``.S``.  Other saveable attributes use their
  own name in place of ``VARIABLE_VALUE`` (e.g. Keras' ``OBJECT_CONFIG_JSON``);
  optimizer slots live under ``<var path>/.OPTIMIZER_SLOT/<optimizer path>/<slot>``.
* ``_CHECKPOINTABLE_OBJECT_GRAPH``: a scalar DT_STRING tensor holding a
  serialized ``tensorflow.TrackableObjectGraph``.  ``nodes[0]`` is the root;
  node ids are assigned breadth-first from the root, children in the order the
  object lists them (attribute-assignment order for ``tf.Module``).  Each node
  has ``children`` (node_id, local_name), and a variable node one
  ``attributes`` entry (name ``VARIABLE_VALUE``, full_name = the variable's
  name without ``:0``, checkpoint_key).  TF 2.21 sets ``has_checkpoint_values``
  on every node: true when the node or a descendant has a value in the file.

:func:`object_graph_checkpoint` builds the tensors TF would write for a tree of
variables; :func:`plain_names` maps a TF2 checkpoint's keys to plain variable
paths (``dense/kernel``) and drops the object-graph tensor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, Union

import numpy as np

from .._proto import trackable_object_graph_pb2
from ..aliases import Location, PathLike, ProgressCallback
from ..errors import InvalidArgumentError
from .bundle import write_checkpoint

__all__ = [
    "OBJECT_GRAPH_KEY", "VARIABLE_VALUE", "ATTRIBUTES", "VARIABLE_VALUE_SUFFIX", "Variable",
    "escape_local_name",
    "unescape_local_name", "variable_key", "plain_name", "plain_names",
    "is_object_based", "parse_object_graph", "object_graph_checkpoint",
    "write_object_checkpoint", "TrackableNode", "trackable_object_graph",
]

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
"""Checkpoint key of the serialized TrackableObjectGraph."""
ATTRIBUTES = ".ATTRIBUTES"
VARIABLE_VALUE = "VARIABLE_VALUE"
VARIABLE_VALUE_SUFFIX = f"/{ATTRIBUTES}/{VARIABLE_VALUE}"
"""Suffix of a variable's key in an object-based checkpoint (``w/.ATTRIBUTES/...``)."""


class Variable(NamedTuple):
    """A variable in an object tree: its value and, optionally, its TF name (``full_name``)."""

    value: Any
    full_name: str | None = None


Tree = Mapping[str, Union["Tree", Variable, Any]]


def escape_local_name(name: str) -> str:
    """Escape one child name for a checkpoint key (``.`` -> ``..``, ``/`` -> ``.S``)."""
    return name.replace(".", "..").replace("/", ".S")


def unescape_local_name(escaped: str) -> str:
    """Inverse of :func:`escape_local_name`; refuses a stray ``.`` escape."""
    out = []
    i = 0
    while i < len(escaped):
        ch = escaped[i]
        if ch == ".":
            nxt = escaped[i + 1] if i + 1 < len(escaped) else ""
            if nxt == ".":
                out.append(".")
            elif nxt == "S":
                out.append("/")
            else:
                raise InvalidArgumentError(
                    f"checkpoint key component {escaped!r} has a '.' not followed by "
                    f"'.' or 'S' (expected TF's escaping of '.' and '/')")
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def variable_key(path: list[str] | tuple[str, ...]) -> str:
    """The checkpoint key of the variable at object path ``path`` (local names, unescaped)."""
    return "/".join(escape_local_name(p) for p in path) + f"/{ATTRIBUTES}/{VARIABLE_VALUE}"


def is_object_based(keys: Any) -> bool:
    """Whether a checkpoint with these keys is a TF2 object-based one."""
    return OBJECT_GRAPH_KEY in keys


def plain_name(key: str) -> str:
    """``dense/kernel/.ATTRIBUTES/VARIABLE_VALUE`` -> ``dense/kernel``.

    Other attributes keep their name as the last component
    (``layer/.ATTRIBUTES/OBJECT_CONFIG_JSON`` -> ``layer/OBJECT_CONFIG_JSON``);
    path components are unescaped only where that keeps ``/`` as the separator
    (a ``.S`` stays as written).  Keys that are not object paths come back
    unchanged.
    """
    parts = key.split("/")
    if ATTRIBUTES not in parts:
        return key
    at = len(parts) - 1 - parts[::-1].index(ATTRIBUTES)
    path, attr = parts[:at], parts[at + 1:]
    names = [p.replace("..", "\0").replace("\0", ".") if ".S" not in p else p for p in path]
    if attr == [VARIABLE_VALUE]:
        return "/".join(names)
    return "/".join(names + attr)


def plain_names(keys: Any) -> dict[str, str]:
    """Map each key of a TF2 checkpoint (except the object graph) to its plain name.

    Raises InvalidArgumentError naming both keys when two map to the same name.
    """
    out: dict[str, str] = {}
    seen: dict[str, str] = {}
    for key in keys:
        if key == OBJECT_GRAPH_KEY:
            continue
        name = plain_name(key)
        if name in seen:
            raise InvalidArgumentError(
                f"checkpoint keys {seen[name]!r} and {key!r} both map to {name!r}; "
                f"keep the raw keys (--raw-keys) instead")
        seen[name] = key
        out[key] = name
    return out


def parse_object_graph(value: Any) -> trackable_object_graph_pb2.TrackableObjectGraph:
    """Parse the ``_CHECKPOINTABLE_OBJECT_GRAPH`` value (bytes or a scalar object array)."""
    if isinstance(value, np.ndarray):
        if value.shape != () or value.dtype != object:
            raise InvalidArgumentError(
                f"{OBJECT_GRAPH_KEY} has dtype {value.dtype} and shape {value.shape}; "
                f"expected a scalar string")
        value = value.item()
    if not isinstance(value, bytes):
        raise InvalidArgumentError(
            f"{OBJECT_GRAPH_KEY} is {type(value).__name__}; expected bytes")
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    try:
        graph.ParseFromString(value)
    except Exception as exc:  # protobuf's DecodeError
        raise InvalidArgumentError(
            f"{OBJECT_GRAPH_KEY} is not a TrackableObjectGraph proto: {exc}") from None
    for node_id, node in enumerate(graph.nodes):
        for child in node.children:
            if not 0 <= child.node_id < len(graph.nodes):
                raise InvalidArgumentError(
                    f"{OBJECT_GRAPH_KEY}: node {node_id} child {child.local_name!r} "
                    f"refers to node {child.node_id}, but there are {len(graph.nodes)} nodes")
    return graph


class TrackableNode(NamedTuple):
    """One object of a general object graph (shared children allowed, e.g. a list of
    variables that also hang under their layers).

    ``children``: (node id, local name) pairs; ``full_name`` / ``checkpoint_key``: set
    for a variable (its TF name and its key in the checkpoint).
    """

    children: tuple[tuple[int, str], ...] = ()
    full_name: str | None = None
    checkpoint_key: str | None = None


def trackable_object_graph(
        nodes: Any) -> trackable_object_graph_pb2.TrackableObjectGraph:
    """The TrackableObjectGraph TF 2.21 writes for ``nodes`` (a sequence of
    :class:`TrackableNode`, node 0 the root): children, one ``VARIABLE_VALUE``
    attribute per variable, ``has_checkpoint_values`` on every node (true when the
    node or anything reachable from it has a value).  References out of range are
    refused (:class:`InvalidArgumentError` naming the node)."""
    count = len(nodes)
    for node_id, node in enumerate(nodes):
        for child_id, local_name in node.children:
            if not 0 <= child_id < count:
                raise InvalidArgumentError(
                    f"object graph node {node_id} child {local_name!r} refers to node "
                    f"{child_id}, but there are {count} nodes")
    flags: dict[int, bool] = {}

    def has_values(start: int) -> bool:
        # Iterative reachability (object graphs can be deep; shared nodes visited once).
        seen = {start}
        stack = [start]
        while stack:
            current = stack.pop()
            if flags.get(current) or nodes[current].checkpoint_key is not None:
                return True
            for child_id, _ in nodes[current].children:
                if child_id not in seen:
                    seen.add(child_id)
                    stack.append(child_id)
        return False

    for node_id in range(count - 1, -1, -1):
        flags[node_id] = has_values(node_id)
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    for node_id, node in enumerate(nodes):
        proto = graph.nodes.add()
        for child_id, local_name in node.children:
            proto.children.add(node_id=child_id, local_name=local_name)
        if node.checkpoint_key is not None:
            proto.attributes.add(name=VARIABLE_VALUE, full_name=node.full_name or "",
                                 checkpoint_key=node.checkpoint_key)
        proto.has_checkpoint_values.value = flags[node_id]
        proto.has_checkpoint_values.SetInParent()  # present even when false
    return graph


def object_graph_checkpoint(tree: Tree) -> dict[str, Any]:
    """The tensors TF 2.21 writes for an object tree of variables, object graph last.

    ``tree`` maps child names to sub-trees (mappings) or variables (arrays, or
    :class:`Variable` to give the TF name; the default is the local name).
    Children keep their mapping order.  Returns ``{key: value}`` in node-id
    (breadth-first) order, then ``_CHECKPOINTABLE_OBJECT_GRAPH`` (bytes in a scalar
    object array): written in that order, the checkpoint is byte-identical to
    the one ``tf.train.Checkpoint(**children).write(prefix)`` writes for the same
    objects (``tf.train.Checkpoint`` orders keyword children by name).
    """
    if not isinstance(tree, Mapping):
        raise InvalidArgumentError("the root of an object tree must be a mapping of children")
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    values: dict[str, Any] = {}
    queue: list[tuple[tuple[str, ...], Any]] = [((), tree)]
    nodes: list[tuple[tuple[str, ...], Any]] = []
    while queue:
        path, obj = queue.pop(0)
        nodes.append((path, obj))
        proto = graph.nodes.add()
        if isinstance(obj, Mapping):
            for name, child in obj.items():
                if not isinstance(name, str) or not name:
                    raise InvalidArgumentError(
                        f"object {'/'.join(path) or '<root>'!r} has child name {name!r}; "
                        f"expected a non-empty string")
                proto.children.add(node_id=len(nodes) + len(queue), local_name=name)
                queue.append((path + (name,), child))
        else:
            variable = obj if isinstance(obj, Variable) else Variable(obj)
            key = variable_key(path)
            attr = proto.attributes.add()
            attr.name = VARIABLE_VALUE
            attr.full_name = variable.full_name if variable.full_name is not None else path[-1]
            attr.checkpoint_key = key
            values[key] = variable.value
    # has_checkpoint_values: a node, or any descendant, owns a value.
    flags = [False] * len(nodes)
    for node_id in range(len(nodes) - 1, -1, -1):
        proto = graph.nodes[node_id]
        flags[node_id] = bool(proto.attributes) or any(flags[c.node_id] for c in proto.children)
        proto.has_checkpoint_values.SetInParent()
        proto.has_checkpoint_values.value = flags[node_id]
    out = dict(values)  # node-id order: the order TF writes the data file in
    out[OBJECT_GRAPH_KEY] = np.array(graph.SerializeToString(), dtype=object)
    return out


def write_object_checkpoint(prefix: PathLike, tree: Tree, *,
                            progress: ProgressCallback | None = None) -> list[Location]:
    """Write ``tree`` as a TF2 object-based checkpoint at ``prefix`` (a path or URL);
    return the files.

    See :func:`object_graph_checkpoint` for the tree and the key layout; loads
    with ``tf.train.Checkpoint(**objects).read(prefix)`` (or ``restore``).
    Nothing is written when the tree is refused.
    """
    return write_checkpoint(prefix, object_graph_checkpoint(tree), progress=progress)
