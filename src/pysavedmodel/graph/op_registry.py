"""TensorFlow 2.21's op registry, loaded from the packaged ``ops.pb.zlib``.

``ops.pb.zlib`` is a zlib-compressed serialized ``OpList`` of every op TF
2.21 registers, with ``summary``/``description`` cleared, sorted by name
(written by ``scripts/gen_op_registry.py`` from an installed TensorFlow).

On first use it is decompressed and split into the serialized ``OpDef`` of each op,
and an op's ``OpDef`` is parsed when first asked for: a graph uses a few dozen of the
1,908 ops, and parsing them all cost ~3 ms of every process that builds a graph
(~1 ms this way).  The split reads the ``OpList`` as a ``BytesList``: both have one
repeated length-delimited field numbered 1, so each entry is one ``OpDef``'s bytes.
Its name is the entry's first field (``name = 1``: TF serializes fields in number
order), read without parsing the rest.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

from .._proto import graph_pb2, meta_graph_pb2, op_def_pb2
from ..errors import OpError

__all__ = ["TF_GRAPH_DEF_VERSION", "get_op_def", "has_op", "all_op_names", "op_list",
           "stripped_op_list", "suggest", "check_available", "attr_defs"]

TF_GRAPH_DEF_VERSION: Final = 2474
"""``GraphDef.versions.producer`` TF 2.21 writes (``tf.compat.v1.GRAPH_DEF_VERSION``)."""

_RESOURCE: Final = "ops.pb.zlib"
_lock = threading.Lock()
_serialized: dict[str, bytes] | None = None  # op name -> its serialized OpDef
_parsed: dict[str, op_def_pb2.OpDef] = {}
_attr_defs: dict[str, tuple[op_def_pb2.OpDef, dict[str, op_def_pb2.OpDef.AttrDef]]] = {}


def _read_resource() -> bytes:
    # A plain file next to this module in any ordinary install; importlib.resources
    # (which costs ~10 ms to import) only for packages imported from a zip file.
    path = Path(__file__).with_name(_RESOURCE)
    if path.is_file():
        return path.read_bytes()
    from importlib import resources

    return resources.files(__package__).joinpath(_RESOURCE).read_bytes()


def _split(op_list: bytes) -> dict[str, bytes]:
    """``{op name: serialized OpDef}`` of a serialized ``OpList``."""
    entries = meta_graph_pb2.CollectionDef.BytesList.FromString(op_list).value
    out: dict[str, bytes] = {}
    for entry in entries:
        size = entry[1] if len(entry) > 1 and entry[0] == 0x0A else 0x80
        if size < 0x80 and len(entry) >= 2 + size:  # a name of under 128 bytes comes first
            out[entry[2:2 + size].decode("utf-8")] = entry
        else:  # anything else: parsed to be sure
            out[op_def_pb2.OpDef.FromString(entry).name] = entry
    return out


def _load() -> dict[str, bytes]:
    global _serialized
    if _serialized is None:
        with _lock:
            if _serialized is None:
                _serialized = _split(zlib.decompress(_read_resource()))
    return _serialized


def suggest(op_type: str) -> str | None:
    """The registered op name closest to ``op_type`` (case-insensitive), if any is close."""
    import difflib  # only for error messages

    ops = _load()
    by_lower = {name.lower(): name for name in ops}
    if op_type.lower() in by_lower:
        return by_lower[op_type.lower()]
    close = difflib.get_close_matches(op_type.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[close[0]] if close else None


def get_op_def(op_type: str) -> op_def_pb2.OpDef:
    """The ``OpDef`` TF registers as ``op_type`` (shared: do not modify it).

    Raises :class:`OpError` for an unknown op, suggesting the closest name.
    """
    op = _parsed.get(op_type)
    if op is not None:
        return op
    serialized = _load().get(op_type)
    if serialized is None:
        hint = suggest(op_type) if isinstance(op_type, str) else None
        tail = f"; did you mean {hint!r}?" if hint else ""
        raise OpError(f"unknown op {op_type!r} (not registered in TensorFlow 2.21){tail}")
    # setdefault: two threads asking at once get the same object
    return _parsed.setdefault(op_type, op_def_pb2.OpDef.FromString(serialized))


def attr_defs(op_def: op_def_pb2.OpDef) -> Mapping[str, op_def_pb2.OpDef.AttrDef]:
    """``{attr name: AttrDef}`` of ``op_def`` in declaration order (shared: do not modify).

    Memoized for the registry's OpDefs: building it costs more than the lookups
    a node makes with it.
    """
    cached = _attr_defs.get(op_def.name)
    if cached is not None and cached[0] is op_def:
        return cached[1]
    by_name = {attr_def.name: attr_def for attr_def in op_def.attr}
    _attr_defs[op_def.name] = (op_def, by_name)
    return by_name


def check_available(op_def: op_def_pb2.OpDef) -> None:
    """Raise :class:`OpError` if TF removed the op at or before our graph version.

    TF refuses such ops in a GraphDef whose producer is 2474 (e.g. ``PlaceholderV2``,
    removed in version 23).
    """
    if op_def.HasField("deprecation") and op_def.deprecation.version <= TF_GRAPH_DEF_VERSION:
        hint = op_def.deprecation.explanation.rstrip(".")
        raise OpError(f"op {op_def.name!r} is not available in GraphDef version "
                      f"{TF_GRAPH_DEF_VERSION}: TensorFlow removed it in version "
                      f"{op_def.deprecation.version} ({hint})")


def has_op(op_type: str) -> bool:
    """Whether TF 2.21 registers ``op_type``."""
    return op_type in _load()


def all_op_names() -> list[str]:
    """Every registered op name, sorted."""
    return sorted(_load())


def op_list(names: Iterable[str]) -> op_def_pb2.OpList:
    """An ``OpList`` with copies of the OpDefs of ``names`` (unique, sorted by name)."""
    out = op_def_pb2.OpList()
    for name in sorted(set(names)):
        out.op.add().CopyFrom(get_op_def(name))
    return out


def stripped_op_list(graph_def: graph_pb2.GraphDef) -> op_def_pb2.OpList:
    """The OpDefs of every op ``graph_def``'s nodes use, sorted by name.

    Our registry already has ``summary``/``description`` cleared, as a
    MetaGraphDef's ``stripped_op_list`` carries them.
    """
    return op_list(node.op for node in graph_def.node)
