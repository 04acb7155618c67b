"""ONNX → SavedModel conversion driver.

Order: load → check → coverage (every op type has a handler, else one UnsupportedError listing
them) → shape inference → placeholders for the graph inputs → initializers (small ones as
conversion-time constants, the rest as variables on first use) → nodes in order, each either
folded at conversion time (all inputs constant: the ``onnx`` reference evaluator computes it, so
shape arithmetic follows ONNX semantics exactly) or handed to its op handler → signature.

Initializers with at most :data:`SMALL_INITIALIZER` elements and integer or bool dtype, and
every 0-d initializer, stay constants (shape vectors, axes, scalars); every other initializer
becomes a trainable checkpoint variable, streamed from the model file into the checkpoint.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import remote
from ..aliases import Location
from ..builder.builder import SavedModelBuilder
from ..builder.signatures import predict_signature_def
from ..errors import AlreadyExistsError, Error, ModelError, UnsupportedError
from ..graph.graph import Graph
from .check import check_model
from .context import Context
from .ir import Const, Init, Node
from .load import import_onnx, initializer_array, load_model, numpy_dtype
from .ops import HANDLERS

__all__ = ["from_onnx", "unsupported_ops", "SMALL_INITIALIZER"]

SMALL_INITIALIZER = 64
"""Integer/bool initializers up to this many elements stay graph constants."""

_FOLD_LIMIT = 4096
_NO_FOLD = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
            "Multinomial", "Bernoulli"}


def unsupported_ops(model: Any) -> dict[str, tuple[int, str]]:
    """Op types without a handler: ``{op_type: (count, first node name)}``."""
    proto, _ = load_model(model)
    return _unsupported(proto)


def _unsupported(proto: Any) -> dict[str, tuple[int, str]]:
    counts: Counter[str] = Counter()
    first: dict[str, str] = {}
    graphs = [proto.graph]
    while graphs:  # the graph and every subgraph (If branches, Loop/Scan bodies)
        for index, node in enumerate(graphs.pop(0).node):
            if node.op_type not in HANDLERS:
                counts[node.op_type] += 1
                first.setdefault(node.op_type, node.name or f"#{index}")
            for attr in node.attribute:
                graphs.extend([attr.g] if attr.HasField("g") else list(attr.graphs))
    return {op: (counts[op], first[op]) for op in counts}


def _dims(type_proto: Any) -> list[int | None] | None:
    tensor = type_proto.tensor_type
    if not tensor.HasField("shape"):
        return None
    return [int(d.dim_value) if d.HasField("dim_value") else None for d in tensor.shape.dim]


def _fold(node: Node, inputs: list[Any], opset: int) -> list[Any] | None:
    onnx = import_onnx()
    from onnx.reference import ReferenceEvaluator
    feeds = {}
    names = []
    for i, (name, value) in enumerate(zip(node.inputs, inputs)):
        if name:
            feeds[f"i{i}"] = value
            names.append(f"i{i}")
        else:
            names.append("")
    proto_node = onnx.helper.make_node(node.op_type, names,
                                       [f"o{i}" for i in range(len(node.outputs))],
                                       **node.attrs)
    graph = onnx.helper.make_graph(
        [proto_node], "fold",
        [onnx.helper.make_tensor_value_info(k, onnx.helper.np_dtype_to_tensor_dtype(v.dtype),
                                            v.shape) for k, v in feeds.items()],
        [onnx.helper.make_tensor_value_info(f"o{i}", 0, None) for i in range(len(node.outputs))])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)])
    try:
        return list(ReferenceEvaluator(model).run(None, feeds))
    except Exception:
        return None


def _fetch_model(url: str, directory: Path) -> Path:
    """Download the ONNX model ``url`` and the external data files its initializers name
    (relative names below the model's directory only; the loader vets them again)."""
    local = remote.fetch_file(url, directory)
    proto, _ = load_model(local)
    base = url.rstrip("/").rsplit("/", 1)[0]
    wanted: dict[str, None] = {}
    for init in proto.graph.initializer:
        if init.data_location != 1:  # TensorProto.EXTERNAL
            continue
        location = {entry.key: entry.value for entry in init.external_data}.get("location", "")
        parts = location.replace("\\", "/").split("/")
        if location and not location.startswith("/") and ".." not in parts \
                and ":" not in parts[0]:
            wanted[location] = None
    for location in wanted:
        target = directory.joinpath(*location.replace("\\", "/").split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        remote.fetch_file(f"{base}/{location}", target.parent, name=target.name)
    return local


def from_onnx(model: Any, export_dir: str | os.PathLike[str], *,
              tags: Sequence[str] = ("serve",), signature_name: str = "serving_default",
              input_shapes: Mapping[str, Sequence[int | None]] | None = None,
              progress: Callable[[int, int], None] | None = None,
              warmup: Mapping[str, Sequence[Any]] | None = None,
              durable: bool = True, format: str = "tf2",
              num_shards: int | None = None) -> Location:
    """Convert an ONNX model to a SavedModel in ``export_dir``; return its path.

    ``model`` is a path (external data next to it is read lazily), bytes or an
    ``onnx.ModelProto``.  The signature ``signature_name`` takes and returns tensors keyed by
    the ONNX graph's input and output names, with their dtypes, shapes and layout (dynamic
    dims are -1).  ``input_shapes`` overrides input shapes (``None`` for a dynamic dim), which
    lets shape-dependent ops (pool ceil_mode, Flatten) be resolved.  ``progress(done, total)``
    is called per node.  ``warmup``: TF Serving warmup requests
    (:meth:`SavedModelBuilder.add_warmup_requests`); ``durable``: fsync before publishing,
    ``num_shards``: the checkpoint's data files (both :meth:`SavedModelBuilder.save`);
    ``format``: ``"tf2"`` (default: the TF2 object graph with a ``serve`` function and
    trainable variables, see :class:`SavedModelBuilder`) or ``"tf1"`` (a TF1-style
    MetaGraph only).  Errors: ModelError (malformed/unsafe model),
    UnsupportedError (ops or attributes not covered), MissingDependencyError (no onnx),
    AlreadyExistsError; nothing is left in ``export_dir`` on any error.

    ``model`` and ``export_dir`` may be URLs (``s3://...``; needs the ``remote`` extra):
    a URL model is downloaded first (with the external data files it names), a URL
    export is built locally and uploaded, ``saved_model.pb`` last
    (:mod:`pysavedmodel.remote`); the URL is returned.
    """
    onnx = import_onnx()
    location = remote.local_location(os.fspath(export_dir)) \
        if isinstance(export_dir, (str, os.PathLike)) else export_dir
    target: Location
    if isinstance(location, str) and remote.is_remote(location):
        target = location
        remote.check_directory_target(target)
    else:
        target = Path(location)
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise AlreadyExistsError(f"export dir {str(target)!r} exists and is not empty")
    model = remote.local_location(model)
    if isinstance(model, str) and remote.is_remote(model):
        staging = remote.Staging()
        try:
            local = _fetch_model(model, staging.root)
            return from_onnx(local, target, tags=tags, signature_name=signature_name,
                             input_shapes=input_shapes, progress=progress, warmup=warmup,
                             durable=durable, format=format, num_shards=num_shards)
        finally:
            staging.cleanup()
    proto, base = load_model(model)
    # External data is vetted (paths, sizes) and memory-mapped before anything else reads it.
    arrays = {init.name: initializer_array(init, base) for init in proto.graph.initializer}
    path = Path(model) if isinstance(model, (str, os.PathLike)) else None
    opset = check_model(proto, path)
    missing = _unsupported(proto)
    if missing:
        listed = ", ".join(f"{op} (x{n}, first {name!r})" for op, (n, name) in missing.items())
        raise UnsupportedError(f"unsupported ONNX ops: {listed}")
    graph_proto = proto.graph
    if input_shapes:
        proto = type(proto)()
        proto.CopyFrom(load_model(model)[0] if not isinstance(model, type(proto)) else model)
        graph_proto = proto.graph
        known = {v.name: v for v in graph_proto.input}
        for name, dims in input_shapes.items():
            if name not in known:
                raise ModelError(f"input_shapes: {name!r} is not a graph input "
                                 f"(inputs: {sorted(known)})")
            shape = known[name].type.tensor_type.shape
            shape.ClearField("dim")
            for d in dims:
                entry = shape.dim.add()
                if d is not None and d >= 0:
                    entry.dim_value = int(d)
    try:
        inferred = onnx.shape_inference.infer_shapes(proto, data_prop=True).graph
    except Exception as exc:
        raise ModelError(f"ONNX shape inference: {str(exc).splitlines()[0][:400]}") from None
    shapes: dict[str, list[int | None] | None] = {}
    dtypes: dict[str, np.dtype[Any]] = {}
    for info in [*inferred.input, *inferred.value_info, *inferred.output]:
        if info.type.HasField("tensor_type"):
            shapes[info.name] = _dims(info.type)
            if info.type.tensor_type.elem_type:
                dtypes[info.name] = numpy_dtype(info.type.tensor_type.elem_type,
                                                f"value {info.name!r}")

    graph = Graph()
    ctx = Context(graph, opset, shapes, dtypes)
    ctx.run_node = lambda sub, node: _convert_node(sub, node, opset)
    init_names = {init.name for init in graph_proto.initializer}
    inputs = {}
    for value in graph_proto.input:
        if value.name in init_names:
            continue
        dtype = numpy_dtype(value.type.tensor_type.elem_type, f"graph input {value.name!r}")
        node_name = graph.unique_name(ctx.init_name(value.name), mark_as_used=False)
        tensor = graph.placeholder(node_name, dtype.name,
                                   _dims(value.type))
        ctx.set(value.name, tensor)
        inputs[value.name] = tensor
    for init in graph_proto.initializer:
        array = arrays[init.name]
        small = array.ndim == 0 or (array.size <= SMALL_INITIALIZER and (
            np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_))
        ctx.values[init.name] = Const(np.asarray(array)) if small else Init(init.name, array)

    total = len(graph_proto.node)
    for index, proto_node in enumerate(graph_proto.node):
        node = Node(proto_node.op_type, proto_node.name or f"{proto_node.op_type}_{index}",
                    list(proto_node.input), list(proto_node.output),
                    {a.name: onnx.helper.get_attribute_value(a) for a in proto_node.attribute})
        ctx.node = node
        try:
            _convert_node(ctx, node, opset)
        except Error as exc:
            if node.name in str(exc):
                raise
            raise type(exc)(f"{node.where()}: {exc}") from None
        if progress is not None:
            progress(index + 1, total)
    ctx.node = None
    outputs = {value.name: ctx.tensor(value.name) for value in graph_proto.output}
    builder = SavedModelBuilder(target, format=format)
    builder.add_meta_graph_and_variables(
        graph, list(tags),
        signature_def_map={signature_name: predict_signature_def(inputs, outputs)})
    if warmup is not None:
        builder.add_warmup_requests(warmup, tags=tuple(tags))
    builder.save(durable=durable, num_shards=num_shards)
    return target


def _convert_node(ctx: Context, node: Node, opset: int) -> None:
    if node.op_type not in _NO_FOLD and node.op_type != "Constant":
        consts = [ctx.const(n) if n else None for n in node.inputs]
        present = [c for n, c in zip(node.inputs, consts) if n]
        if present and all(c is not None for c in present) and sum(
                c.size for c in present if c is not None) <= _FOLD_LIMIT:
            results = _fold(node, consts, opset)
            if results is not None:
                for name, value in zip(node.outputs, results):
                    ctx.set_const(name, value)
                return
    handle = HANDLERS.get(node.op_type)
    if handle is None:  # only inside subgraphs: the graph's own nodes were checked up front
        raise UnsupportedError(f"{node.where()}: op type {node.op_type!r} is not supported")
    handle(ctx, node)
