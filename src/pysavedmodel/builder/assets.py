"""Asset files: naming inside ``assets/``, recording, copying.

An asset is a scalar string ``Const`` whose value is a file path; loaders
feed it the file's path inside ``EXPORT_DIR/assets/``.  Files are stored
under their basename.  A second file with the same basename keeps that name
when its bytes are identical; otherwise it becomes ``<basename>_1``,
``<basename>_2``... (TensorFlow's rule, suffix after the extension).  The
first file of a name is the one kept.

Each meta graph records its assets in the collection ``saved_model_assets``
(an ``AnyList`` of ``AssetFileDef``), as ``tf.compat.v1.saved_model.Builder``
does; each asset tensor is recorded once per meta graph (TF's C++ loader
rejects a tensor fed twice).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final, NamedTuple

from .. import dtypes
from .._proto import meta_graph_pb2
from ..constants import ASSET_FILE_DEF_TYPE_URL, ASSETS_COLLECTION, ASSETS_DIRECTORY
from ..errors import InvalidArgumentError, NotFoundError
from ..graph.attrs import type_name
from ..graph.graph import Graph, Tensor, op_name_of

__all__ = ["ASSETS_DIRECTORY", "ASSETS_COLLECTION", "ASSET_FILE_DEF_TYPE_URL", "AssetRecord",
           "AssetStore", "resolve_assets", "asset_collection", "asset_filename", "file_digest"]

_CHUNK: Final = 1 << 20


class AssetRecord(NamedTuple):
    """One asset of one meta graph: which tensor, which source file."""

    tensor_name: str
    source: str


def file_digest(path: str) -> str:
    """SHA-256 of a file's bytes (hex)."""
    import hashlib  # only for models with assets: OpenSSL's hashlib costs ~5 ms to import

    digest = hashlib.sha256()
    with open(path, "rb") as fileobj:
        for chunk in iter(lambda: fileobj.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def asset_filename(source: str, tensor_name: str | None = None) -> str:
    """The name ``source`` gets inside ``assets/``: its last path component.

    A path without one (``/``, ``dir/``, ``..``, ``dir/..``) is refused: its name
    would not stay inside ``assets/``.  Directories never reach ``assets/``.
    """
    base = os.path.basename(source)
    if not base or base in (".", ".."):
        owner = f"asset tensor {tensor_name!r}: " if tensor_name else ""
        raise InvalidArgumentError(
            f"{owner}source path {source!r} has the file name {base!r}, which would not stay "
            "inside assets/; expected the path of a regular file")
    return base


def _tensor_name_of(ref: Any) -> str:
    if isinstance(ref, str) and ref:
        return ref if op_name_of(ref) != ref else f"{ref}:0"
    if isinstance(ref, Tensor):
        return ref.name
    raise InvalidArgumentError(
        f"an asset must be a graph Tensor or a tensor name like 'vocab:0', got {ref!r}")


def _const_path(graph: Graph, tensor_name: str) -> str:
    """The path a scalar string Const holds; errors name the tensor."""
    op = op_name_of(tensor_name)
    if not graph.has_node(op):
        raise NotFoundError(f"asset tensor {tensor_name!r} is not in the graph")
    if not tensor_name.endswith(":0"):
        raise InvalidArgumentError(f"asset tensor {tensor_name!r} must be output 0 of a Const")
    node = graph.node_view(op)
    if node.op != "Const":
        raise InvalidArgumentError(
            f"asset tensor {tensor_name!r} must be a Const holding a path, not a {node.op}")
    proto = node.attr["value"].tensor
    if proto.dtype != dtypes.DT_STRING or proto.tensor_shape.dim or len(proto.string_val) != 1:
        dims = [d.size for d in proto.tensor_shape.dim]
        held = f"{type_name(proto.dtype)} tensor of shape {dims}"
        raise InvalidArgumentError(
            f"asset tensor {tensor_name!r} must be a scalar string Const holding a path; "
            f"it holds a {held}")
    try:
        return proto.string_val[0].decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgumentError(
            f"asset tensor {tensor_name!r} holds {proto.string_val[0]!r}, which is not a UTF-8 "
            "path") from None


def resolve_assets(graph: Graph, assets: Any) -> list[AssetRecord]:
    """The assets of one meta graph, each tensor once, in the order given.

    ``assets``: None (the graph's own :attr:`~Graph.assets`), an iterable of
    asset tensors (handles or names; the Const's value is the source path), or
    a mapping ``{tensor: source path}``.
    """
    pairs: list[tuple[str, str | None]] = []
    if assets is None:
        pairs = [(spec.tensor_name, spec.path) for spec in graph.assets]
    elif isinstance(assets, Mapping):
        for ref, path in assets.items():
            if not isinstance(path, (str, os.PathLike)):
                raise InvalidArgumentError(
                    f"assets[{ref!r}] must be a file path, got {type(path).__name__}")
            pairs.append((_tensor_name_of(ref), os.fspath(path)))
    elif isinstance(assets, (str, bytes)) or not isinstance(assets, Iterable):
        raise InvalidArgumentError(
            "assets must be a list of asset tensors or a mapping {tensor: path}, "
            f"got {assets!r}")
    else:
        pairs = [(_tensor_name_of(ref), None) for ref in assets]

    records: dict[str, AssetRecord] = {}
    for tensor_name, path in pairs:
        held = _const_path(graph, tensor_name)
        source = path if path is not None else held
        known = records.get(tensor_name)
        if known is not None:
            if os.path.abspath(known.source) != os.path.abspath(source):
                raise InvalidArgumentError(
                    f"asset tensor {tensor_name!r} given twice with different files: "
                    f"{known.source!r} and {source!r}")
            continue
        asset_filename(source, tensor_name)
        if not os.path.isfile(source):
            raise NotFoundError(
                f"asset tensor {tensor_name!r}: source file {source!r} does not exist "
                "or is not a regular file")
        records[tensor_name] = AssetRecord(tensor_name, source)
    return list(records.values())


class AssetStore:
    """Which file each name in ``assets/`` holds, shared by every meta graph."""

    def __init__(self) -> None:
        self._files: dict[str, tuple[str, str]] = {}  # filename -> (source, sha256)

    def copy(self) -> AssetStore:
        """An independent store with the same files (a meta graph adds to it, then commits)."""
        other = AssetStore()
        other._files = dict(self._files)
        return other

    def __len__(self) -> int:
        return len(self._files)

    def filename_for(self, source: str) -> str:
        """The name ``source`` is stored under, registering it if new."""
        base = asset_filename(source)
        digest = file_digest(source)
        candidate, suffix = base, 0
        while candidate in self._files:
            if self._files[candidate][1] == digest:
                return candidate
            suffix += 1
            candidate = f"{base}_{suffix}"
        self._files[candidate] = (source, digest)
        return candidate

    def write(self, export_dir: Path) -> None:
        """Copy every file into ``export_dir/assets`` (checked against its digest)."""
        if not self._files:
            return
        target_dir = export_dir / ASSETS_DIRECTORY
        target_dir.mkdir()
        for filename, (source, digest) in sorted(self._files.items()):
            target = target_dir / filename
            shutil.copyfile(source, target)
            if file_digest(str(target)) != digest:
                raise InvalidArgumentError(
                    f"asset file {source!r} changed between add_meta_graph and save()")


def asset_collection(entries: Iterable[tuple[str, str]]) -> meta_graph_pb2.CollectionDef:
    """The ``saved_model_assets`` collection for ``(tensor name, filename)`` pairs."""
    collection = meta_graph_pb2.CollectionDef()
    collection.any_list.SetInParent()
    for tensor_name, filename in entries:
        asset = meta_graph_pb2.AssetFileDef(filename=filename)
        asset.tensor_info.name = tensor_name
        packed = collection.any_list.value.add()
        packed.type_url = ASSET_FILE_DEF_TYPE_URL
        packed.value = asset.SerializeToString(deterministic=True)
    return collection
