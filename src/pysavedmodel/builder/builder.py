"""SavedModelBuilder: SavedModel directories without TensorFlow (TF1-style, or TF2 with
``format="tf2"``: :mod:`pysavedmodel.builder.tf2`).

Follows ``tf.compat.v1.saved_model.Builder`` (TF 2.21): the first meta graph
is added with its variables, later ones share the checkpoint and the
``assets/`` directory; each meta graph gets a sharded V2 saver subgraph
(``save``, ``save_1``...).  What is recorded where:

* variables: checkpoint ``variables/variables`` (keys = VarHandleOp
  ``shared_name``, or what a given SaverDef's ``RestoreV2`` reads; written
  in key order), collections ``variables`` and ``trainable_variables`` of
  ``VariableDef``.  A VariableDef names an initializer: an existing
  ``<var>/Assign`` is used, else the graph copy gets one assigning zeros
  (``<var>/Initializer/zeros``), so the weights live in the checkpoint only;
  a model without variables gets no saver and an empty ``variables/``
  directory, as with TF;
* assets: files in ``assets/``, collection ``saved_model_assets``;
* init op: signature ``__saved_model_init_op`` (which TF 2.21's C++,
  ``tf.compat.v1`` and ``tf.saved_model`` loaders all take over the
  collection, running the op once; ``tf.saved_model.load`` also lists it in
  ``.signatures``) and collection ``saved_model_main_op`` (all TF's v1
  builder writes; kept for older consumers);
* train op: signature ``__saved_model_train_op``.

Nothing touches the disk before :meth:`SavedModelBuilder.save`, which
writes everything into a temporary sibling of the export directory and
renames it into place; a failure leaves neither behind.  The output is
deterministic: the same calls give the same bytes in every file.

``meta_info_def.tensorflow_version`` is left empty: this is not TensorFlow,
and TF's importer parses a non-empty value as a PEP 440 version.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from google.protobuf import text_format
from google.protobuf.message import EncodeError

from .. import dtypes, remote
from .._proto import (
    attr_value_pb2,
    graph_pb2,
    meta_graph_pb2,
    op_def_pb2,
    saved_model_pb2,
    saver_pb2,
    tensor_pb2,
    variable_pb2,
)
from .._proto._pool import POOL
from ..aliases import Location
from ..constants import (
    FINGERPRINT_FILENAME,
    MAIN_OP_COLLECTION,
    SAVED_MODEL_FILENAME_PB,
    SAVED_MODEL_FILENAME_PBTXT,
    SAVED_MODEL_SCHEMA_VERSION,
    TRAINABLE_VARIABLES_COLLECTION,
    VARIABLES_COLLECTION,
    VARIABLES_DIRECTORY,
    VARIABLES_FILENAME,
)
from ..dtypes import DType
from ..errors import (
    AlreadyExistsError,
    BuilderStateError,
    FormatError,
    InvalidArgumentError,
    NotFoundError,
    UnsupportedDTypeError,
)
from ..format import bundle as _bundle
from ..format.fingerprint import checkpoint_hash, compute_fingerprint, stable_uuid
from ..format.sharding import AUTO_SHARD_BYTES, auto_num_shards, check_num_shards
from ..gcpause import gc_paused
from ..graph.attrs import make_tensor_proto, proto_dtype, shape_from_proto, to_numpy
from ..graph.graph import Graph, Tensor, VariableSpec, op_name_of
from ..graph.op_registry import get_op_def, has_op, stripped_op_list
from ..names import utf8
from . import assets as _assets
from . import saver as _saver
from . import signatures as _signatures
from . import tf2 as _tf2

if TYPE_CHECKING:
    from concurrent.futures import Future

__all__ = ["SavedModelBuilder", "SAVED_MODEL_FILENAME_PB", "SAVED_MODEL_FILENAME_PBTXT",
           "VARIABLES_DIRECTORY", "VARIABLES_FILENAME", "MAIN_OP_COLLECTION",
           "SAVED_MODEL_SCHEMA_VERSION"]

FORMATS = ("auto", "tf2", "tf1")
"""``format=`` values: ``"tf2"`` adds the SavedObjectGraph, functions and an object-based
checkpoint (:mod:`pysavedmodel.builder.tf2`); ``"tf1"`` writes a TF1-style MetaGraph only;
``"auto"`` (the default) writes TF2 unless the export uses what only TF1 carries
(:class:`~pysavedmodel.errors.FormatError` from the TF2 writer: a train op, a custom
saver, several meta graphs, a signature input that is not a placeholder...), then TF1."""

MAX_SAVED_MODEL_BYTES = (1 << 31) - 1
"""Largest serialized ``saved_model.pb``: protobuf cannot parse a message of 2 GiB or more
(a module global, not Final, so tests can lower it)."""


# --------------------------------------------------------------------------- small helpers

def _as_graph(graph: Any, what: str) -> Graph:
    if isinstance(graph, Graph):
        return graph
    if isinstance(graph, (Mapping, bytes, graph_pb2.GraphDef)) or hasattr(graph, "node"):
        return Graph.from_dict(graph)
    raise InvalidArgumentError(
        f"{what} must be a pysavedmodel.Graph (or a dict/GraphDef for Graph.from_dict), "
        f"got {type(graph).__name__}")


def _flag(value: Any, name: str) -> bool:
    """A boolean option; numpy arrays and other values without a truth value are refused."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    raise InvalidArgumentError(f"{name} must be True or False, got {value!r}")


def _check_tags(tags: Any) -> list[str]:
    if isinstance(tags, (str, bytes)):
        raise InvalidArgumentError(
            f"tags must be a list of strings such as ['serve'], got the string {tags!r}")
    try:
        items = list(tags)
    except TypeError:
        raise InvalidArgumentError(
            f"tags must be a non-empty list of strings such as ['serve'], got {tags!r}") from None
    if not items:
        raise InvalidArgumentError("tags must be a non-empty list of strings such as ['serve']")
    for tag in items:
        if not isinstance(tag, str) or not tag:
            raise InvalidArgumentError(f"every tag must be a non-empty string, got {tag!r}")
        utf8(tag, f"tag {tag!r}")
    return items


def _op_ref_name(graph: Graph, ref: Any, what: str) -> str:
    """Op name of an init/train op given as a handle, ``"op"`` or ``"op:0"``."""
    if isinstance(ref, str) and ref:
        name = op_name_of(ref.lstrip("^"))
    elif isinstance(ref, Tensor):
        name = ref.op_name
    else:
        raise InvalidArgumentError(f"{what} must be a graph handle or an op name, got {ref!r}")
    if not graph.has_node(name):
        raise NotFoundError(f"{what} {name!r} is not a node of the graph")
    return name


def _declared_shape(graph: Graph, spec: VariableSpec) -> tuple[int | None, ...] | None:
    return shape_from_proto(graph.node_view(spec.node_name).attr["shape"].shape)


def _shape_fits(declared: tuple[int | None, ...] | None, shape: tuple[int, ...]) -> bool:
    """Whether an array of ``shape`` fits a declared shape (None: unknown rank or dim)."""
    return declared is None or (len(declared) == len(shape) and all(
        want is None or want == got for want, got in zip(declared, shape)))


def _shape_text(shape: Sequence[int | None] | None) -> str:
    if shape is None:
        return "<unknown rank>"
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _coerce_value(spec: VariableSpec, declared: tuple[int | None, ...] | None,
                  value: Any) -> np.ndarray:
    """The value of variable ``spec`` as an array of its declared dtype and shape."""
    row = spec.dtype
    where = f"variable {spec.node_name!r}"
    if row is None or not row.checkpointable:
        raise UnsupportedDTypeError(
            f"{where} has dtype {row.name if row else 'unknown'}, which a checkpoint cannot hold")
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        try:
            got = dtypes.from_numpy(array.dtype)
        except UnsupportedDTypeError:
            got = None
        if got is not row:
            raise InvalidArgumentError(
                f"{where} is declared {row.name} but its value has numpy dtype {array.dtype}")
    else:
        try:
            array = to_numpy(value, row)
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(f"{where} (declared {row.name}): {exc}") from None
    if not _shape_fits(declared, array.shape):
        raise InvalidArgumentError(
            f"{where} is declared with shape {_shape_text(declared)} but its value has "
            f"shape {_shape_text(array.shape)}")
    return array


def _zero_scalar(row: DType) -> attr_value_pb2.AttrValue:
    return attr_value_pb2.AttrValue.FromString(_zero_scalar_bytes(row.enum))


@functools.cache
def _zero_scalar_bytes(enum: int) -> bytes:
    """A zero scalar tensor attr, serialized (made once per dtype: one per variable)."""
    row = dtypes.as_dtype(enum)
    zero: Any = b"" if row.is_string else np.zeros((), dtype=row.numpy)
    return attr_value_pb2.AttrValue(tensor=make_tensor_proto(zero, row)).SerializeToString(
        deterministic=True)


def _int32_vector(values: Sequence[int]) -> attr_value_pb2.AttrValue:
    proto = tensor_pb2.TensorProto(dtype=proto_dtype(dtypes.DT_INT32))
    proto.tensor_shape.dim.add().size = len(values)
    proto.int_val.extend(values)
    return attr_value_pb2.AttrValue(tensor=proto)


# --------------------------------------------------------------------------- variables

class _VariableEntry(NamedTuple):
    spec: VariableSpec
    key: str
    read_tensor: str
    initializer: str
    initial_value: str


def _ensure_read_tensor(graph: Graph, spec: VariableSpec) -> str:
    if spec.read_tensor_name:
        return spec.read_tensor_name
    read = graph.op("ReadVariableOp", [spec.node_name],
                    name=f"{spec.node_name}/Read/ReadVariableOp",
                    dtype=attr_value_pb2.AttrValue(type=proto_dtype(spec.dtype.enum)))
    return read.name


def _initializer_names(variable: str) -> tuple[str, str, str, str]:
    """The nodes :func:`_ensure_initializer` adds for ``variable``, inputs first."""
    scope = f"{variable}/Initializer/zeros"
    return f"{scope}/shape_as_tensor", f"{scope}/Const", scope, f"{variable}/Assign"


def _ensure_initializer(graph: Graph, spec: VariableSpec, shape: tuple[int, ...],
                        templates: dict[tuple[int, tuple[int, ...]], str] | None = None
                        ) -> tuple[str, str]:
    """(initializer op, initial value tensor) of a variable, added if missing.

    A ``VariableDef`` must name an initializer.  Graphs built here carry
    their values in the checkpoint only, so the added initializer assigns
    zeros (``Fill``), keeping the weights out of the graph.  ``templates``: ``{(dtype,
    shape): variable}`` whose initializer an earlier call added (this call adds to it): a
    variable of the same dtype and shape gets a copy of those four nodes (its names when free,
    the same nodes :meth:`Graph.op` would add, without checking them again).
    """
    assign_name = f"{spec.node_name}/Assign"
    if graph.has_node(assign_name):
        node = graph.node_view(assign_name)
        if node.op == "AssignVariableOp" and op_name_of(node.input[0]) == spec.node_name:
            value = node.input[1]
            return assign_name, value if ":" in value else f"{value}:0"
    names = _initializer_names(spec.node_name)
    kind = (spec.dtype.enum, shape)
    template = templates.get(kind) if templates is not None else None
    # The copies take exactly these names (op() would make a used one unique).
    if template is not None and all(graph.unique_name(n, mark_as_used=False) == n
                                    for n in names):
        rename = {template: spec.node_name}
        if graph.copy_nodes_from(graph, _initializer_names(template), rename, names):
            return assign_name, f"{names[2]}:0"
    type_attr = attr_value_pb2.AttrValue(type=proto_dtype(spec.dtype.enum))
    int32_attr = attr_value_pb2.AttrValue(type=proto_dtype(dtypes.DT_INT32))
    # What Graph.op would add (one per variable: its private fast path); the Fill is
    # named after its scope, which its inputs were created in first.
    add = graph.add_trusted_node
    with graph.name_scope(f"{spec.node_name}/Initializer/zeros") as scope:
        dims = add("Const", [], name="shape_as_tensor",
                   attrs={"dtype": int32_attr, "value": _int32_vector(list(shape))})
        zero = add("Const", [], name="Const",
                   attrs={"dtype": type_attr, "value": _zero_scalar(spec.dtype)})
        fill = add("Fill", [dims, zero], name=scope,
                   attrs={"T": type_attr, "index_type": int32_attr})
    assign = add("AssignVariableOp", [spec.node_name, fill], name=assign_name,
                 attrs={"dtype": type_attr, "validate_shape": attr_value_pb2.AttrValue(b=False),
                        "_has_manual_control_dependencies": attr_value_pb2.AttrValue(b=True)})
    if templates is not None and kind not in templates and (
            dims.op_name, zero.op_name, fill.op_name, assign.op_name) == names:
        templates[kind] = spec.node_name  # (not with names made unique)
    return assign.op_name, fill.name


def _check_distinct_resources(graph: Graph, specs: Sequence[VariableSpec]) -> None:
    """Two VarHandleOps with the same ``container`` and ``shared_name`` attrs are one
    variable to TensorFlow's runtime, an empty ``shared_name`` included (it does not
    fall back to the node name); the checkpoint would hold two values for it and the
    model would read one of them in both places."""
    seen: dict[tuple[bytes, bytes], str] = {}
    for spec in specs:
        attrs = graph.node_view(spec.node_name).attr
        resource = (attrs["container"].s if "container" in attrs else b"",
                    attrs["shared_name"].s if "shared_name" in attrs else b"")
        first = seen.setdefault(resource, spec.node_name)
        if first != spec.node_name:
            container, shared = (part.decode("utf-8", "replace") for part in resource)
            raise InvalidArgumentError(
                f"variables {first!r} and {spec.node_name!r} are one resource in TensorFlow: "
                f"both VarHandleOps have shared_name {shared!r} and container {container!r}, "
                "so they would always hold the same value; give each a distinct shared_name "
                "(Graph.variable uses the variable's name)")


def _variable_def(entry: _VariableEntry) -> bytes:
    proto = variable_pb2.VariableDef(
        variable_name=f"{entry.spec.node_name}:0",
        initializer_name=entry.initializer,
        snapshot_name=entry.read_tensor,
        is_resource=True,
        initial_value_name=entry.initial_value,
        trainable=entry.spec.trainable,
    )
    return proto.SerializeToString(deterministic=True)


def _variable_collections(
        entries: Sequence[_VariableEntry]) -> dict[str, meta_graph_pb2.CollectionDef]:
    all_vars = meta_graph_pb2.CollectionDef()
    trainable = meta_graph_pb2.CollectionDef()
    for entry in entries:
        all_vars.bytes_list.value.append(_variable_def(entry))
        if entry.spec.trainable:
            trainable.bytes_list.value.append(_variable_def(entry))
    out = {VARIABLES_COLLECTION: all_vars}
    if trainable.bytes_list.value:
        out[TRAINABLE_VARIABLES_COLLECTION] = trainable
    return out


# --------------------------------------------------------------------------- graph_def edits

def _finish_meta_graph(meta_graph: meta_graph_pb2.MetaGraphDef, tags: Sequence[str],
                       op_list: op_def_pb2.OpList | None, clear_devices: bool,
                       strip_default_attrs: bool) -> meta_graph_pb2.MetaGraphDef:
    """``meta_graph``, its ``graph_def`` written (devices cleared / default attrs
    stripped as asked), given its meta info: ``tags`` and the stripped op list
    (``op_list``, or the ops ``graph_def`` uses when None)."""
    graph_def = meta_graph.graph_def
    if _flag(clear_devices, "clear_devices"):
        _clear_devices(graph_def)
    if _flag(strip_default_attrs, "strip_default_attrs"):
        _strip_default_attrs(graph_def)
    info = meta_graph.meta_info_def
    info.tags.extend(tags)
    info.stripped_op_list.CopyFrom(op_list if op_list is not None
                                   else stripped_op_list(graph_def))
    info.stripped_default_attrs = bool(strip_default_attrs)
    return meta_graph


def _clear_devices(graph_def: graph_pb2.GraphDef) -> None:
    for node in graph_def.node:
        node.device = ""
    for function in graph_def.library.function:
        for node in function.node_def:
            node.device = ""


def _strip_default_attrs(graph_def: graph_pb2.GraphDef) -> None:
    """Remove attrs whose value equals the op registry's default."""
    for node in graph_def.node:
        if not has_op(node.op):
            continue
        for attr_def in get_op_def(node.op).attr:
            if (attr_def.HasField("default_value") and attr_def.name in node.attr
                    and node.attr[attr_def.name] == attr_def.default_value):
                del node.attr[attr_def.name]


# --------------------------------------------------------------------------- size limit

def _largest_constants(saved_model: saved_model_pb2.SavedModel, count: int = 3) -> str:
    sizes: dict[str, int] = {}
    for meta_graph in saved_model.meta_graphs:
        for node in meta_graph.graph_def.node:
            if node.op == "Const" and "value" in node.attr:
                tensor = node.attr["value"].tensor
                size = len(tensor.tensor_content) + sum(map(len, tensor.string_val))
                sizes[node.name] = max(size, sizes.get(node.name, 0))
    top = sorted(sizes.items(), key=lambda item: (-item[1], item[0]))[:count]
    return ", ".join(f"{name!r} ({size:,} bytes)" for name, size in top) or "none"


def _serialize_within_limit(saved_model: saved_model_pb2.SavedModel) -> bytes:
    """The binary SavedModel; refused if protobuf could not parse it back (2 GiB limit)."""
    limit = MAX_SAVED_MODEL_BYTES
    try:
        data: bytes | None = saved_model.SerializeToString(deterministic=True)
    except EncodeError:  # the upb backend refuses messages over 2 GiB outright
        data = None
    if data is None or len(data) > limit:
        size = "over 2 GiB" if data is None else f"{len(data):,} bytes"
        raise InvalidArgumentError(
            f"saved_model.pb would be {size}, over the {limit:,}-byte limit of a protobuf "
            f"message (2 GiB); largest constants: {_largest_constants(saved_model)}; move "
            "large constants into variables (Graph.variable), whose values are stored in the "
            "checkpoint under variables/")
    return data


# --------------------------------------------------------------------------- the builder

_OVERLAP_MIN_BYTES = 32 << 20
"""Checkpoints from this size on are written by a thread while ``save()`` fingerprints."""


def _checkpoint_bytes(checkpoint: Mapping[str, Any]) -> int:
    return sum(value.nbytes for value in checkpoint.values() if isinstance(value, np.ndarray))


class _Prepared(NamedTuple):
    """Everything one add_* call computed, committed only when all of it succeeded."""

    meta_graph: meta_graph_pb2.MetaGraphDef
    graph: Graph
    asset_store: _assets.AssetStore
    checkpoint: dict[str, np.ndarray] | None
    init_op: str | None
    saved_model: saved_model_pb2.SavedModel | None = None
    """The SavedModel holding ``meta_graph`` as its last one (the first add_* call), to
    adopt on commit; None: copy ``meta_graph`` in."""


class _Options(NamedTuple):
    """The arguments of one add_* call besides the graph and the variables' values."""

    tags: list[str]
    signature_def_map: Any
    assets: Any
    init_op: Any
    train_op: Any
    clear_devices: bool
    strip_default_attrs: bool
    saver: saver_pb2.SaverDef | None


class SavedModelBuilder:
    """Build a SavedModel in ``export_dir``.

    ``format="tf2"`` writes what ``tf.saved_model.save`` writes for a module: the
    signatures, plus a SavedObjectGraph with a ``serve`` function, the variables (for
    fine-tuning) and an object-based checkpoint (see :mod:`pysavedmodel.builder.tf2`).
    TF2 exports take one meta graph whose signature inputs are placeholders; assets
    and lookup tables with an init op are carried as TF does; a train op, a custom saver
    or a second meta graph raise :class:`FormatError`.  ``format="tf1"`` writes a
    TF1-style MetaGraph (every consumer of TF1 SavedModels reads both).  ``format="auto"``
    (the default) writes TF2 unless the export needs TF1 (what ``"tf2"`` would refuse
    with :class:`FormatError`, or :meth:`add_meta_graph`), then TF1;
    :attr:`format` tells which after the first meta graph.

    Call :meth:`add_meta_graph_and_variables` once, then :meth:`add_meta_graph`
    any number of times (TF1 only), then :meth:`save`.  ``export_dir`` must not exist or
    be an empty directory (:class:`AlreadyExistsError`); calls out of order
    raise :class:`BuilderStateError`.

    ``export_dir`` may be a URL (``s3://bucket/models/mlp/1``, ``gs://...``; needs the
    ``remote`` extra): :meth:`save` builds the SavedModel locally, then uploads it with
    ``saved_model.pb`` last (see :mod:`pysavedmodel.remote`).
    """

    def __init__(self, export_dir: str | os.PathLike[str], *, format: str = "auto") -> None:
        path = os.fspath(export_dir) if isinstance(export_dir, os.PathLike) else export_dir
        if not isinstance(path, str) or not path:
            raise InvalidArgumentError(
                f"export_dir must be a non-empty str or os.PathLike path, got {export_dir!r}")
        if format not in FORMATS:
            raise InvalidArgumentError(
                f"format must be one of {', '.join(map(repr, FORMATS))}, got {format!r}")
        self._format = format
        self._resolved: str | None = None
        self._first_call: tuple[Graph, _Options, dict[str, np.ndarray]] | None = None
        path = remote.local_location(path)
        self._export_dir: Location = path if remote.is_remote(path) else Path(path)
        self._check_export_dir()
        self._saved_model = saved_model_pb2.SavedModel(
            saved_model_schema_version=SAVED_MODEL_SCHEMA_VERSION)
        self._checkpoint: dict[str, np.ndarray] | None = None
        self._asset_store = _assets.AssetStore()
        self._first_graph: Graph | None = None
        self._first_init_op: str | None = None
        self._has_variables = False
        self._warmup: list[bytes] = []
        self._saved = False

    @property
    def format(self) -> str | None:
        """``"tf2"`` or ``"tf1"``: what this builder writes (``format="auto"`` decides at
        :meth:`add_meta_graph_and_variables` and turns to ``"tf1"`` at
        :meth:`add_meta_graph`); None before the first meta graph."""
        return self._resolved

    @property
    def export_dir(self) -> Location:
        """Where :meth:`save` puts the SavedModel (a ``Path``, or the URL ``str``)."""
        return self._export_dir

    def _check_export_dir(self) -> None:
        path = self._export_dir
        if isinstance(path, str):
            remote.check_directory_target(path)
            return
        if path.is_dir():
            if any(path.iterdir()):
                raise AlreadyExistsError(
                    f"export directory {str(path)!r} already exists and is not empty; "
                    "choose another directory or empty it")
        elif path.exists() or path.is_symlink():
            raise AlreadyExistsError(f"export path {str(path)!r} exists and is not a directory")

    def _check_open(self, method: str) -> None:
        if self._saved:
            raise BuilderStateError(f"{method}() called after save(); use a new SavedModelBuilder")

    # ------------------------------------------------------------------ public API

    @gc_paused()  # bulk work making no cycles (gcpause)
    def add_meta_graph_and_variables(
            self, graph: Any, tags: Sequence[str], *,
            signature_def_map: Mapping[str, Any] | None = None,
            assets: Any = None, init_op: Any = None, train_op: Any = None,
            variables: Mapping[str, Any] | None = None, clear_devices: bool = False,
            strip_default_attrs: bool = False,
            saver: saver_pb2.SaverDef | None = None) -> None:
        """Add the first meta graph and the variables' values (exactly once, first).

        ``graph``: a :class:`~pysavedmodel.Graph` (never modified; a copy gets
        the saver).  ``tags``: e.g. ``["serve"]``.  ``signature_def_map``:
        ``{key: SignatureDef or {"inputs", "outputs", "method_name"}}``.
        ``assets``: None (the graph's assets), asset tensors, or
        ``{tensor: source path}``.  ``init_op``/``train_op``: handles or op
        names.  ``variables``: ``{VarHandleOp name: value}``, filling or
        overriding the graph's values; every variable needs one value of its
        declared dtype and shape.  ``saver``: a SaverDef already in the graph
        instead of the default saver.
        """
        self._check_open("add_meta_graph_and_variables")
        if self._has_variables:
            raise BuilderStateError(
                "add_meta_graph_and_variables() was already called; add further meta graphs "
                "with add_meta_graph()")
        user_graph = _as_graph(graph, "graph")
        work = user_graph.copy()
        specs = work.variables  # computed once: ~7 us per variable
        values = self._collect_values(work, specs, variables)
        options = _Options(_check_tags(tags), signature_def_map, assets, init_op, train_op,
                           clear_devices, strip_default_attrs, saver)
        prepared = None
        if self._format != "tf1":
            try:
                prepared = self._prepare_tf2(work, *options, values, specs)
            except FormatError:
                if self._format == "tf2":
                    raise
                work = user_graph.copy()  # "auto": the TF1 writer takes what TF2 cannot
        if prepared is None:
            prepared = self._prepare(work, *options, values=values, specs=specs)
            self._resolved = "tf1"
        else:
            self._resolved = "tf2"
        self._first_call = (user_graph, options, values)
        self._commit_first(prepared)

    def _commit_first(self, prepared: _Prepared) -> None:
        self._commit(prepared)
        self._checkpoint = prepared.checkpoint or {}
        self._first_graph = prepared.graph
        self._first_init_op = prepared.init_op
        self._has_variables = True

    def _first_as_tf1(self) -> None:
        """``format="auto"`` meets a second meta graph: write the first one TF1-style."""
        assert self._first_call is not None
        user_graph, options, values = self._first_call
        kept = self._saved_model, self._asset_store
        # _prepare checks tags against the meta graphs so far: start from none.
        self._saved_model = saved_model_pb2.SavedModel(
            saved_model_schema_version=SAVED_MODEL_SCHEMA_VERSION)
        self._asset_store = _assets.AssetStore()
        try:
            prepared = self._prepare(user_graph.copy(), *options, values=values)
        except BaseException:
            self._saved_model, self._asset_store = kept
            raise
        self._commit_first(prepared)
        self._resolved = "tf1"

    def add_meta_graph(
            self, tags: Sequence[str], *, graph: Any = None,
            signature_def_map: Mapping[str, Any] | None = None,
            assets: Any = None, init_op: Any = None, train_op: Any = None,
            clear_devices: bool = False, strip_default_attrs: bool = False,
            saver: saver_pb2.SaverDef | None = None) -> None:
        """Add another meta graph sharing the checkpoint and assets.

        ``graph=None`` reuses the first meta graph's graph as TF's builder
        does with its session graph: including the savers added so far (so
        this one is ``save_1``...), its assets, and its init op unless
        ``init_op`` is given.  Every variable of the graph must be in the
        checkpoint with the same dtype and shape.
        """
        self._check_open("add_meta_graph")
        if self._format == "tf2":
            raise FormatError(
                "add_meta_graph(): a TF2 export has one meta graph (its object graph "
                "describes one set of functions); use SavedModelBuilder(..., format='tf1') "
                "or format='auto' for several meta graphs")
        if not self._has_variables:
            raise BuilderStateError(
                "add_meta_graph() called before add_meta_graph_and_variables(); the first "
                "meta graph must be added with its variables")
        if self._resolved == "tf2":
            self._first_as_tf1()
        tag_list = _check_tags(tags)
        if graph is None:
            assert self._first_graph is not None
            work = self._first_graph.copy()
            if init_op is None:
                init_op = self._first_init_op
        else:
            work = _as_graph(graph, "graph").copy()
        prepared = self._prepare(work, tag_list, signature_def_map, assets, init_op, train_op,
                                 clear_devices, strip_default_attrs, saver, values=None)
        self._commit(prepared)
        if graph is None:
            self._first_graph = prepared.graph

    def add_warmup_requests(self, requests: Mapping[str, Sequence[Any]], *,
                            tags: Sequence[str] = ("serve",)) -> None:
        """Write TF Serving warmup requests with the export (``assets.extra/
        tf_serving_warmup_requests``), checked against the meta graph with ``tags``.

        ``requests``: ``{signature key: [request, ...]}``; a predict request is
        ``{input key: array}`` (every input of the signature, its dtype, a compatible
        shape), a classify / regress request a feature dict (or a list of them) that
        becomes ``tf.train.Example``s.  At most 1000 records in all; a second call
        replaces the first.  See :mod:`pysavedmodel.builder.warmup`.

        >>> builder.add_warmup_requests({"serving_default": [{"x": np.ones((1, 4), "f4")}]})
        ... # doctest: +SKIP
        """
        self._check_open("add_warmup_requests")
        if not self._has_variables:
            raise BuilderStateError("add_warmup_requests() called before "
                                    "add_meta_graph_and_variables(): no signatures yet")
        # Imported here: the serving protos it needs are ~2 ms of every import otherwise.
        from .warmup import warmup_records

        wanted = sorted(_check_tags(tags))
        for meta_graph in self._saved_model.meta_graphs:
            if sorted(meta_graph.meta_info_def.tags) == wanted:
                self._warmup = warmup_records(meta_graph.signature_def, requests)
                return
        have = [list(mg.meta_info_def.tags) for mg in self._saved_model.meta_graphs]
        raise InvalidArgumentError(f"no meta graph with tags {wanted} to check warmup "
                                   f"requests against; the export has {have}")

    @gc_paused()
    def save(self, as_text: bool = False, *, durable: bool = True,
             fingerprint: bool | None = None, num_shards: int | None = None) -> Location:
        """Write the SavedModel; return the path of ``saved_model.pb`` (or ``.pbtxt``).

        ``fingerprint=True`` also writes ``fingerprint.pb`` as TF 2.21 computes it
        (``tf.saved_model.experimental.read_fingerprint`` reads it; see
        :mod:`pysavedmodel.format.fingerprint`), with a uuid derived from the hashes
        so that equal builds stay byte-identical; not with ``as_text`` (TF
        fingerprints ``saved_model.pb`` only).  The default (None) fingerprints binary
        TF2 exports, as ``tf.saved_model.save`` does, and not TF1 ones.

        Everything is written to a temporary sibling directory first and
        renamed to ``export_dir`` at the end; on failure nothing is left.  A
        ``saved_model.pb`` over protobuf's 2 GiB limit is refused before anything
        is written (:class:`InvalidArgumentError` naming the largest constants).

        ``num_shards``: how many data files the checkpoint in ``variables/`` gets (each
        loader reads them all through ``variables.index``).  The default (None) gives one
        per started 256 MiB of variable bytes, at most 16
        (:func:`~pysavedmodel.format.sharding.auto_num_shards`): a model below 256 MiB
        gets TensorFlow's single ``variables.data-00000-of-00001``, a larger one several
        files, written in parallel, one thread per core.  The count depends on the bytes
        only, not on the machine.  ``1`` always writes one file; at most one per tensor of
        the checkpoint (TF2: the variables and the object graph).

        ``durable`` (default True): every file, then every directory, is fsynced before
        the final rename, and the parent directory after it, so a SavedModel that
        ``save()`` reported survives a power loss (TF Serving may load a version the
        moment its directory appears).  Of two processes saving to one export directory
        at once exactly one succeeds, the other gets :class:`AlreadyExistsError`.  A
        full disk, a read-only target or missing permissions give :class:`StorageError`
        naming the directory, and nothing is left behind (directories this call created
        included).

        A URL ``export_dir`` is built in a private local directory, then uploaded:
        ``variables/``, ``assets/``, ``assets.extra/``, ``fingerprint.pb``, and
        ``saved_model.pb`` last; on failure the uploaded objects are deleted
        (:mod:`pysavedmodel.remote`).  The URL of ``saved_model.pb`` is returned.
        """
        self._check_open("save")
        as_text = _flag(as_text, "as_text")
        durable = _flag(durable, "durable")
        if fingerprint is None:
            fingerprint = self._resolved == "tf2" and not as_text
        fingerprint = _flag(fingerprint, "fingerprint")
        if as_text and fingerprint:
            raise InvalidArgumentError(
                "fingerprint=True needs the binary saved_model.pb (as_text=False): "
                "TensorFlow fingerprints saved_model.pb only")
        if not self._has_variables:
            raise BuilderStateError(
                "save() called before add_meta_graph_and_variables(); nothing to save")
        shards = self._num_shards(num_shards)
        self._check_export_dir()
        # Checked before anything is written (TF parses a .pbtxt into the same message).
        data = _serialize_within_limit(self._saved_model)
        target = self._export_dir
        filename = SAVED_MODEL_FILENAME_PBTXT if as_text else SAVED_MODEL_FILENAME_PB
        prefix = VARIABLES_DIRECTORY + "/" + VARIABLES_FILENAME
        with remote.publishing_directory(target, durable=durable) as temp:
            (temp / VARIABLES_DIRECTORY).mkdir()
            pool = written = None
            if self._checkpoint and fingerprint and _checkpoint_bytes(
                    self._checkpoint) >= _OVERLAP_MIN_BYTES:
                # Written (mostly I/O and CRC32C, outside the GIL) while this thread
                # fingerprints saved_model.pb; without a fingerprint, or for a small
                # checkpoint (its writing is Python, holding the GIL), there is too little
                # to overlap to pay for the thread and for sharing the GIL.
                from concurrent.futures import ThreadPoolExecutor  # ~10 ms: only here

                pool = ThreadPoolExecutor(1, thread_name_prefix="pysavedmodel-checkpoint")
                written = pool.submit(_bundle.write_checkpoint, temp / prefix,
                                      self._checkpoint, num_shards=shards)
            elif self._checkpoint:
                _bundle.write_checkpoint(temp / prefix, self._checkpoint, num_shards=shards)
            try:
                if as_text:
                    # The pool lets Any fields print expanded, as TensorFlow prints them.
                    text = text_format.MessageToString(self._saved_model,
                                                       descriptor_pool=POOL)
                    (temp / filename).write_text(text, encoding="utf-8")
                else:
                    (temp / filename).write_bytes(data)
                self._write_rest(temp, fingerprint, written, None if as_text else data)
                del data
            finally:
                if pool is not None:
                    pool.shutdown(wait=True)  # before a failure removes the directory
            self._check_export_dir()
        self._saved = True
        return remote.join(target, filename)

    def _num_shards(self, requested: Any) -> int:
        """The checkpoint's data file count for ``save(num_shards=requested)``."""
        checkpoint = self._checkpoint or {}
        entries = len(checkpoint)
        if requested is None:
            return auto_num_shards(_checkpoint_bytes(checkpoint), entries)
        shards = check_num_shards(requested, f" (or None for one data file per started "
                                             f"{AUTO_SHARD_BYTES >> 20} MiB)")
        if shards > max(entries, 1):
            raise InvalidArgumentError(
                f"num_shards={shards}: the checkpoint holds {entries} tensor(s) and "
                f"every data file needs at least one; use at most {max(entries, 1)}")
        return shards

    def _write_rest(self, temp: Path, fingerprint: bool, written: Future[Any] | None,
                    serialized: bytes | None) -> None:
        """Assets, warmup requests and ``fingerprint.pb`` into ``temp`` (:meth:`save`);
        ``written``: the Future of a checkpoint written meanwhile, or None; ``serialized``:
        the bytes of ``saved_model.pb`` (hashed for the fingerprint), or None."""
        self._asset_store.write(temp)
        if self._warmup:
            from .warmup import write_warmup_file  # imported by add_warmup_requests

            write_warmup_file(temp, self._warmup)
        fp = compute_fingerprint(self._saved_model, uuid="", serialized=serialized) \
            if fingerprint else None
        if written is not None:
            written.result()
        if fp is not None:
            index = temp / VARIABLES_DIRECTORY / f"{VARIABLES_FILENAME}.index"
            fp.checkpoint_hash = checkpoint_hash(
                index.read_bytes() if index.is_file() else None)
            fp.uuid = stable_uuid(fp)
            (temp / FINGERPRINT_FILENAME).write_bytes(fp.SerializeToString())

    # ------------------------------------------------------------------ internals

    def _collect_values(self, graph: Graph, variables: Sequence[VariableSpec],
                        overrides: Mapping[str, Any] | None) -> dict[str, np.ndarray]:
        """``{VarHandleOp name: array}`` for every variable of ``graph`` (``variables``:
        its ``Graph.variables``)."""
        specs = {spec.node_name: spec for spec in variables}
        if overrides is None:
            overrides = {}
        if not isinstance(overrides, Mapping):
            raise InvalidArgumentError(
                f"variables must be a mapping {{VarHandleOp name: value}}, "
                f"got {type(overrides).__name__}")
        extra = sorted((name for name in overrides if name not in specs), key=repr)
        if extra:
            known = ", ".join(repr(n) for n in specs) or "none"
            raise InvalidArgumentError(
                f"variables given for {extra}, which are not VarHandleOps of the graph "
                f"(its variables: {known})")
        values: dict[str, np.ndarray] = {}
        missing = []
        for name, spec in specs.items():
            value = overrides.get(name, spec.value)
            if value is None:
                missing.append(name)
                continue
            values[name] = _coerce_value(spec, _declared_shape(graph, spec), value)
        if missing:
            raise InvalidArgumentError(
                f"no value for variable(s) {missing}; pass variables={{name: array}}")
        return values

    def _variable_entries(self, graph: Graph, specs: Sequence[VariableSpec],
                          keys: Mapping[str, str],
                          values: Mapping[str, np.ndarray] | None) -> list[_VariableEntry]:
        entries = []
        templates: dict[tuple[int, tuple[int, ...]], str] = {}
        for spec in specs:
            read = _ensure_read_tensor(graph, spec)
            if values is not None:
                shape = tuple(values[spec.node_name].shape)
            else:
                stored = self._checkpoint[keys[spec.node_name]]  # type: ignore[index]
                shape = tuple(stored.shape)
            initializer, initial_value = _ensure_initializer(graph, spec, shape, templates)
            entries.append(_VariableEntry(spec, keys[spec.node_name], read, initializer,
                                          initial_value))
        return entries

    def _check_against_checkpoint(self, graph: Graph, specs: Sequence[VariableSpec],
                                  keys: Mapping[str, str]) -> None:
        assert self._checkpoint is not None
        for spec in specs:
            key = keys[spec.node_name]
            stored = self._checkpoint.get(key)
            if stored is None:
                raise InvalidArgumentError(
                    f"variable {spec.node_name!r} (checkpoint key {key!r}) is not in the "
                    "checkpoint written by add_meta_graph_and_variables()")
            stored_row = dtypes.from_numpy(stored.dtype)
            declared = _declared_shape(graph, spec)
            if stored_row is not spec.dtype or not _shape_fits(declared, stored.shape):
                raise InvalidArgumentError(
                    f"variable {spec.node_name!r} is {spec.dtype.name} "
                    f"{_shape_text(declared)} but the checkpoint holds {key!r} as "
                    f"{stored_row.name} {_shape_text(stored.shape)}")

    def _prepare(self, work: Graph, tags: list[str], signature_def_map: Any, assets: Any,
                 init_op: Any, train_op: Any, clear_devices: bool, strip_default_attrs: bool,
                 saver: saver_pb2.SaverDef | None,
                 values: dict[str, np.ndarray] | None,
                 specs: Sequence[VariableSpec] | None = None) -> _Prepared:
        """The TF1 meta graph of ``work`` (modified: saver, initializers); ``specs``: its
        ``Graph.variables`` if known."""
        for index, existing in enumerate(self._saved_model.meta_graphs):
            if set(existing.meta_info_def.tags) == set(tags):
                raise InvalidArgumentError(
                    f"tags {sorted(set(tags))} are already used by meta graph {index}; "
                    "loaders pick a meta graph by its exact tag set")
        signatures = _signatures.resolve_signature_def_map(signature_def_map, work)
        init_name = None if init_op is None else _op_ref_name(work, init_op, "init_op")
        train_name = None if train_op is None else _op_ref_name(work, train_op, "train_op")
        asset_records = _assets.resolve_assets(work, assets)

        if specs is None:
            specs = work.variables
        _check_distinct_resources(work, specs)
        if saver is not None:
            saver_def = _saver.validate_saver_def(work, saver)
            keys = _saver.saver_checkpoint_keys(work, saver_def.restore_op_name)
            unrestored = [s.node_name for s in specs if s.node_name not in keys]
            if unrestored:
                raise InvalidArgumentError(
                    f"saver {saver_def.restore_op_name!r} does not restore variable(s) "
                    f"{unrestored}")
        else:
            saver_def = None
            keys = {spec.node_name: spec.shared_name or spec.node_name for spec in specs}
        if values is None:
            self._check_against_checkpoint(work, specs, keys)

        checkpoint: dict[str, np.ndarray] | None = None
        if values is not None:
            by_key: dict[str, str] = {}
            for spec in specs:
                key = keys[spec.node_name]
                if key in by_key:
                    raise InvalidArgumentError(
                        f"variables {by_key[key]!r} and {spec.node_name!r} have the same "
                        f"checkpoint key {key!r}")
                by_key[key] = spec.node_name
            checkpoint = {key: values[by_key[key]]
                          for key in sorted(by_key, key=lambda k: k.encode("utf-8"))}

        entries = self._variable_entries(work, specs, keys, values)
        if saver_def is None and entries:
            saver_def = _saver.add_saver(work, [
                _saver.SaveableVariable(e.key, e.spec.node_name, e.spec.dtype,
                                        tuple(e.spec.shape), e.read_tensor)
                for e in entries])

        store = self._asset_store.copy()
        asset_entries = [(rec.tensor_name, store.filename_for(rec.source))
                         for rec in asset_records]

        candidate, meta_graph = self._new_meta_graph()
        work.as_graph_def(add_shapes=True, into=meta_graph.graph_def)  # written in place
        _finish_meta_graph(meta_graph, tags, None, clear_devices, strip_default_attrs)
        if saver_def is not None:
            meta_graph.saver_def.CopyFrom(saver_def)
        if entries:
            for name, collection in _variable_collections(entries).items():
                meta_graph.collection_def[name].CopyFrom(collection)
        if asset_entries:
            meta_graph.collection_def[_assets.ASSETS_COLLECTION].CopyFrom(
                _assets.asset_collection(asset_entries))
        if init_name is not None:
            meta_graph.collection_def[MAIN_OP_COLLECTION].node_list.value.append(init_name)
        for key, sig in signatures.items():
            meta_graph.signature_def[key].CopyFrom(sig)
        for key, op_name in ((_signatures.INIT_OP_SIGNATURE_KEY, init_name),
                             (_signatures.TRAIN_OP_SIGNATURE_KEY, train_name)):
            if op_name is not None:
                meta_graph.signature_def[key].CopyFrom(_signatures.op_signature_def(op_name, key))
        return _Prepared(meta_graph, work, store, checkpoint, init_name, candidate)

    def _prepare_tf2(self, work: Graph, tags: list[str], signature_def_map: Any, assets: Any,
                     init_op: Any, train_op: Any, clear_devices: bool,
                     strip_default_attrs: bool, saver: saver_pb2.SaverDef | None,
                     values: dict[str, np.ndarray],
                     specs: Sequence[VariableSpec]) -> _Prepared:
        """The TF2 meta graph (see :mod:`pysavedmodel.builder.tf2`); ``specs``: the
        ``Graph.variables`` of ``work``."""
        for what, given in (("saver", saver), ("train_op", train_op)):
            if given is not None:
                raise FormatError(
                    f"{what} is not supported by format='tf2' exports (TF2 SavedModels "
                    f"restore through their object graph and run no {what}); use "
                    f"SavedModelBuilder(..., format='tf1')")
        signatures = _signatures.resolve_signature_def_map(signature_def_map, work)
        init_name = None if init_op is None else _op_ref_name(work, init_op, "init_op")
        asset_records = _assets.resolve_assets(work, assets)
        store = self._asset_store.copy()
        asset_entries = [(rec.tensor_name, store.filename_for(rec.source))
                         for rec in asset_records]
        _check_distinct_resources(work, specs)
        candidate, meta_graph = self._new_meta_graph()
        export = _tf2.build_tf2_export(work, signatures, values, init_op=init_name,
                                       assets=asset_entries, variable_specs=specs,
                                       graph_def=meta_graph.graph_def)
        _finish_meta_graph(meta_graph, tags, export.op_list, clear_devices,
                           strip_default_attrs)
        meta_graph.saver_def.CopyFrom(export.saver_def)
        for key, sig in export.signatures.items():
            meta_graph.signature_def[key].CopyFrom(sig)
        meta_graph.asset_file_def.extend(export.asset_file_defs)
        meta_graph.object_graph_def.CopyFrom(export.object_graph)
        return _Prepared(meta_graph, work, store, export.checkpoint, init_name, candidate)

    def _new_meta_graph(self) -> tuple[saved_model_pb2.SavedModel | None,
                                       meta_graph_pb2.MetaGraphDef]:
        """An empty MetaGraphDef for an add_* call to fill: the first one inside a new
        SavedModel (returned too) that :meth:`_commit` then adopts, so that a graph of
        megabytes is not copied again; later ones standalone, copied in on commit."""
        if self._saved_model.meta_graphs:
            return None, meta_graph_pb2.MetaGraphDef()
        candidate = saved_model_pb2.SavedModel()
        candidate.CopyFrom(self._saved_model)
        return candidate, candidate.meta_graphs.add()

    def _commit(self, prepared: _Prepared) -> None:
        if prepared.saved_model is not None and not self._saved_model.meta_graphs:
            self._saved_model = prepared.saved_model
        else:
            self._saved_model.meta_graphs.add().CopyFrom(prepared.meta_graph)
        self._asset_store = prepared.asset_store
