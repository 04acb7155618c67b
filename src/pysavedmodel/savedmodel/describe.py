"""The facts of a SavedModel or checkpoint as plain dicts (what ``pysavedmodel show`` prints).

:func:`describe_saved_model` reports what ``saved_model_cli show --all`` reports (tag
sets, signatures with their input/output keys, dtypes, shapes and tensor names, method
names, the ops each meta graph uses) plus the variables stored in the
``variables/variables`` checkpoint and the assets.  :func:`describe_checkpoint` lists
the tensors of any TensorBundle checkpoint.  Everything returned is JSON-serializable.

Conventions: dtypes of signature tensors are ``DataType`` enum names (``DT_FLOAT``) as
saved_model_cli prints them; dtypes of checkpoint tensors are TensorFlow's Python names
(``float32``); a shape is a list of ints (``-1`` = unknown dim) or ``None`` for unknown
rank; ``bytes`` is what a tensor occupies in the data files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pysavedmodel._proto import (
    graph_pb2,
    meta_graph_pb2,
    tensor_shape_pb2,
)
from pysavedmodel.builder.warmup import WARMUP_DIRECTORY, WARMUP_FILENAME, read_warmup_records
from pysavedmodel.constants import (
    INIT_OP_SIGNATURE_KEY,
    LEGACY_INIT_OP_COLLECTION,
    MAIN_OP_COLLECTION,
)
from pysavedmodel.dtypes import dtype_name
from pysavedmodel.errors import NotFoundError
from pysavedmodel.format.object_graph import OBJECT_GRAPH_KEY, VARIABLE_VALUE_SUFFIX, plain_name

from .. import remote
from ..aliases import PathLike
from .loader import asset_paths, assets_dir, declared_assets, read_saved_model, variables_prefix

__all__ = [
    "describe_saved_model", "describe_checkpoint", "describe_meta_graph", "find_meta_graph",
    "dtype_enum_name", "ops_used", "OBJECT_GRAPH_KEY", "VARIABLE_VALUE_SUFFIX",
]



_INIT_OP_COLLECTIONS = (MAIN_OP_COLLECTION, LEGACY_INIT_OP_COLLECTION)
_CALL_OPS = ("PartitionedCall", "StatefulPartitionedCall")


def dtype_enum_name(enum: int) -> str:
    """``DT_FLOAT`` for 1; also reference types (``DT_FLOAT_REF``) and unknown numbers."""
    return dtype_name(enum, proto=True)


def _dtype_python_name(enum: int) -> str:
    return dtype_name(enum)


def _shape(proto: tensor_shape_pb2.TensorShapeProto) -> list[int] | None:
    if proto.unknown_rank:
        return None
    return [int(d.size) for d in proto.dim]


def _tensor_info(info: meta_graph_pb2.TensorInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": info.name,
        "dtype": dtype_enum_name(info.dtype),
        "shape": _shape(info.tensor_shape),
    }
    encoding = info.WhichOneof("encoding")
    if encoding == "coo_sparse":
        sparse = info.coo_sparse
        out["coo_sparse"] = {"values": sparse.values_tensor_name,
                             "indices": sparse.indices_tensor_name,
                             "dense_shape": sparse.dense_shape_tensor_name}
    elif encoding == "composite_tensor":
        out["composite_tensor"] = [_tensor_info(c) for c in info.composite_tensor.components]
    return out


def _signature(signature: meta_graph_pb2.SignatureDef) -> dict[str, Any]:
    return {
        "method_name": signature.method_name,
        "inputs": {key: _tensor_info(signature.inputs[key]) for key in sorted(signature.inputs)},
        "outputs": {key: _tensor_info(signature.outputs[key])
                    for key in sorted(signature.outputs)},
    }


def ops_used(graph_def: graph_pb2.GraphDef) -> list[str]:
    """Sorted op types a graph uses, counting ops inside the functions it calls.

    Like TensorFlow's ``ops_used_by_graph_def`` (what saved_model_cli lists): a function
    is entered when a node's op is its name or a (Stateful)PartitionedCall names it in
    ``f``; function names themselves are not ops.
    """
    functions = {f.signature.name: f for f in graph_def.library.function}
    used: set[str] = set()
    pending: list[str] = []

    def use(op: str) -> None:
        if op not in used and op in functions:
            pending.append(op)
        used.add(op)

    def visit(nodes: Iterable[Any]) -> None:
        for node in nodes:
            use(node.op)
            if node.op in _CALL_OPS and "f" in node.attr:
                use(node.attr["f"].func.name)

    visit(graph_def.node)
    while pending:
        visit(functions[pending.pop()].node_def)
    return sorted(op for op in used if op not in functions)


def _assets(meta_graph: meta_graph_pb2.MetaGraphDef) -> list[dict[str, str]]:
    """Assets a meta graph declares (``asset_file_def`` and the collection), each once."""
    facts = dict.fromkeys((asset.filename, asset.tensor_info.name)
                          for asset in declared_assets(meta_graph))
    return [{"filename": filename, "tensor": tensor} for filename, tensor in facts]


def _init_op(meta_graph: meta_graph_pb2.MetaGraphDef) -> str | None:
    if INIT_OP_SIGNATURE_KEY in meta_graph.signature_def:
        outputs = meta_graph.signature_def[INIT_OP_SIGNATURE_KEY].outputs
        if INIT_OP_SIGNATURE_KEY in outputs:
            return outputs[INIT_OP_SIGNATURE_KEY].name
    for key in _INIT_OP_COLLECTIONS:
        if key in meta_graph.collection_def:
            names = list(meta_graph.collection_def[key].node_list.value)
            if names:
                return names[0]
    return None


def describe_meta_graph(meta_graph: meta_graph_pb2.MetaGraphDef) -> dict[str, Any]:
    """Tags, signatures (sorted by key), ops used, init op and declared assets of one graph."""
    return {
        "tags": list(meta_graph.meta_info_def.tags),
        "signatures": {key: _signature(meta_graph.signature_def[key])
                       for key in sorted(meta_graph.signature_def)},
        "ops": ops_used(meta_graph.graph_def),
        "init_op": _init_op(meta_graph),
        "assets": _assets(meta_graph),
    }


def find_meta_graph(meta_graphs: list[dict[str, Any]], tag_set: str) -> dict[str, Any]:
    """The described meta graph whose tags equal ``tag_set`` ("serve" or "a,b"; any order).

    Raises NotFoundError naming the available tag sets.
    """
    wanted = {t.strip() for t in tag_set.split(",") if t.strip()}
    for meta_graph in meta_graphs:
        if set(meta_graph["tags"]) == wanted:
            return meta_graph
    available = ", ".join(repr(",".join(m["tags"])) for m in meta_graphs) or "none"
    raise NotFoundError(
        f"no MetaGraphDef with tag set {tag_set!r}; the SavedModel has tag sets: {available}")


def describe_checkpoint(prefix: PathLike) -> list[dict[str, Any]]:
    """Every tensor of the checkpoint at ``prefix``, in index (sorted key) order.

    Each: ``name``, ``dtype`` (``float32``), ``shape`` (list), ``bytes`` (stored in the
    data files; strings include their length prefix), ``shards`` (data file numbers
    holding it) and ``slices`` (stored slices of a partitioned tensor, else 0).
    """
    from pysavedmodel.format.bundle import CheckpointReader

    out = []
    with CheckpointReader(prefix) as reader:
        for name in reader.keys():
            entry = reader.entry(name)
            shape = list(reader.shape(name))
            parts = reader.stored_entries(name)
            out.append({
                "name": name,
                "dtype": _dtype_python_name(entry.dtype),
                "shape": shape,
                "bytes": sum(int(p.size) for p in parts),
                "shards": sorted({int(p.shard_id) for p in parts}),
                "slices": len(entry.slices),
            })
    return out


def _variables(tensors: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Checkpoint tensors as variables, and the object graph entry if the checkpoint has one.

    In object-based checkpoints a variable's key is ``<path>/.ATTRIBUTES/VARIABLE_VALUE``;
    its name is the object path.  Name-based (TF1) keys are the variable names.
    """
    variables = []
    object_graph = None
    object_based = any(t["name"] == OBJECT_GRAPH_KEY for t in tensors)
    for tensor in tensors:
        if tensor["name"] == OBJECT_GRAPH_KEY:
            object_graph = tensor
            continue
        name = tensor["name"]
        if object_based:
            name = plain_name(name)
        variables.append({"name": name, "key": tensor["name"],
                          **{k: v for k, v in tensor.items() if k != "name"}})
    return variables, object_graph


def _asset_files(export_dir: Path) -> list[dict[str, Any]]:
    root = assets_dir(export_dir)
    if not root.is_dir():
        return []
    return [{"filename": path.relative_to(root).as_posix(), "bytes": path.stat().st_size}
            for path in sorted(root.rglob("*")) if path.is_file()]


def describe_saved_model(export_dir: PathLike) -> dict[str, Any]:
    """The facts of the SavedModel in ``export_dir`` as a plain, JSON-ready dict.

    Keys: ``path``, ``schema_version``, ``meta_graphs`` (file order; each from
    :func:`describe_meta_graph`), ``variables`` (from ``variables/variables``; each
    ``name``, ``key``, ``dtype``, ``shape``, ``bytes``, ``shards``, ``slices``; empty
    when there is no checkpoint), ``object_graph`` (the object-graph checkpoint entry of
    TF2 models, or None), ``asset_files`` (files under ``assets/``: ``filename``,
    ``bytes``) and ``warmup`` (TF Serving warmup requests in ``assets.extra/``: each
    ``kind``, ``signature`` and ``inputs`` or ``examples``).

    Raises NotFoundError / CorruptSavedModelError (also for an asset file name that
    would leave ``assets/``) and the checkpoint reader's errors.

    A URL ``export_dir`` (``s3://...``; the ``remote`` extra) is downloaded whole into a
    private temporary directory first; ``path`` is the URL.
    """
    if isinstance(export_dir, str) and remote.is_remote(export_dir):
        with remote.local_directory(export_dir) as local:
            facts = describe_saved_model(local)
        facts["path"] = export_dir
        return facts
    root = Path(remote.local_location(export_dir))
    model = read_saved_model(root)
    for meta_graph in model.meta_graphs:
        asset_paths(root, meta_graph)  # refuses asset names that would leave assets/
    prefix = variables_prefix(root)
    has_checkpoint = Path(f"{os.fspath(prefix)}.index").is_file()
    tensors = describe_checkpoint(prefix) if has_checkpoint else []
    variables, object_graph = _variables(tensors)
    return {
        "path": str(root),
        "schema_version": int(model.saved_model_schema_version),
        "meta_graphs": [describe_meta_graph(m) for m in model.meta_graphs],
        "variables": variables,
        "object_graph": object_graph,
        "asset_files": _asset_files(root),
        "warmup": _warmup_records(root),
    }


def _warmup_records(root: Path) -> list[dict[str, Any]]:
    """The TF Serving warmup requests in ``assets.extra/`` (empty when there are none)."""
    path = root / WARMUP_DIRECTORY / WARMUP_FILENAME
    if not path.is_file():
        return []
    return read_warmup_records(path.read_bytes(), str(path))
