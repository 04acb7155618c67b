"""``validate_saved_model``: what can be checked offline about "will TensorFlow load this".

Every problem found becomes a :class:`Finding` (a stable kebab-case ``code``,
``where`` it is, and a ``message`` saying what is wrong and what was expected);
checking goes on after a finding, so one run lists them all.  Nothing is
written.  Checks, per meta graph (``where`` starts with its tags, ``[serve]``):

* the proto parses (``proto-unparseable``), it has meta graphs
  (``no-meta-graphs``), no two meta graphs have the same tag set
  (``duplicate-tag-set``);
* graph nodes: valid unique names, ops TF 2.21 registers or the graph's
  function library defines, required attrs present with values of the
  declared type and allowed values (undeclared attrs are not findings: TF's
  loaders ignore them), constants with a usable value, inputs that exist (node and
  output index) in the right number, order and dtype, no cycles other than
  loops through ``NextIteration``; function bodies: ops and function
  references known, inputs existing;
* SaverDef: its tensors and restore op exist; every ``RestoreV2`` entry names
  a checkpoint tensor of the restored dtype and of the shape of the variable
  it is assigned to; every checkpoint tensor's CRC verifies;
* assets (``asset_file_def`` and collection ``saved_model_assets``): the file
  is in ``assets/`` (no path escaping it), its tensor exists, no tensor is fed twice;
* collections: ``node_list`` entries name existing nodes; the init op
  (signature ``__saved_model_init_op``, collections ``saved_model_main_op`` /
  ``legacy_init_op``) and train op exist;
* signatures: each tensor exists with the recorded dtype; TF Serving's rules
  for the method name.  TF Serving (its Classify/Regress code) wants for
  classify exactly one input ``inputs`` of DT_STRING and one or two outputs
  including ``classes`` (DT_STRING) and/or ``scores`` (DT_FLOAT); for regress
  one input ``inputs`` (DT_STRING) and one output ``outputs`` (DT_FLOAT);
  predict signatures need inputs and outputs (TF's ``is_valid_signature``).
  Other method names are not findings: TF Serving only checks them when
  started with ``--enable_signature_method_name_check`` (off by default).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Final, Union

from .. import dtypes
from .._proto import (
    attr_value_pb2,
    function_pb2,
    graph_pb2,
    meta_graph_pb2,
    node_def_pb2,
    op_def_pb2,
)
from ..errors import ChecksumError, CorruptSavedModelError, Error
from ..graph import attrs as _attrs
from ..graph.graph import _NODE_NAME, arg_dtypes, op_name_of, parse_input
from ..graph.inference import base_enum
from ..graph.op_registry import attr_defs, get_op_def
from .loader import read_saved_model, saved_model_file, variables_prefix

__all__ = ["Finding", "validate_saved_model", "FINDING_CODES"]

PathLike = Union[str, "os.PathLike[str]"]

FINDING_CODES: Final = (
    "proto-unparseable", "no-meta-graphs", "duplicate-tag-set",
    "bad-node-name", "duplicate-node", "unknown-op", "deprecated-op", "bad-attr",
    "missing-attr", "missing-input", "bad-input-order", "input-count",
    "input-dtype-mismatch", "graph-cycle", "function-missing",
    "saver-node-missing", "restore-spec-invalid", "checkpoint-missing",
    "checkpoint-unreadable", "variable-not-in-checkpoint", "variable-dtype-mismatch",
    "variable-shape-mismatch", "checksum-mismatch",
    "asset-path-escapes", "asset-missing", "asset-tensor-missing", "asset-fed-twice",
    "bad-collection", "collection-node-missing", "init-op-missing", "init-op-count",
    "train-op-missing", "train-op-count",
    "signature-tensor-missing", "signature-dtype-mismatch",
    "serving-predict-inputs", "serving-predict-outputs",
    "serving-classify-inputs", "serving-classify-outputs",
    "serving-regress-inputs", "serving-regress-outputs",
)
"""Every code :func:`validate_saved_model` can report (stable identifiers)."""

PREDICT: Final = "tensorflow/serving/predict"
CLASSIFY: Final = "tensorflow/serving/classify"
REGRESS: Final = "tensorflow/serving/regress"
INIT_OP_KEY: Final = "__saved_model_init_op"
TRAIN_OP_KEY: Final = "__saved_model_train_op"
_INIT_COLLECTIONS: Final = ("saved_model_main_op", "legacy_init_op")
_TRAIN_COLLECTION: Final = "saved_model_train_op"
_ASSETS_COLLECTION: Final = "saved_model_assets"
_ASSET_TYPE_URL: Final = "type.googleapis.com/tensorflow.AssetFileDef"
_LOOP_BACK_OPS: Final = frozenset({"NextIteration", "RefNextIteration"})
_VARIABLE_OPS: Final = frozenset({"VarHandleOp", "VariableV2", "Variable"})
_MAX_IDENTITY_HOPS: Final = 16


@dataclass(frozen=True)
class Finding:
    """One problem: ``code`` (stable kebab-case id), ``where`` it is, ``message``."""

    code: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.code} {self.where}: {self.message}"

    def as_dict(self) -> dict[str, str]:
        """``{"code", "where", "message"}`` (for JSON output)."""
        return asdict(self)


Report = Callable[[str, str, str], None]
AssetFileDef = meta_graph_pb2.AssetFileDef


def _type(enum: int) -> str:
    row = dtypes.DTYPES.get(enum)
    return row.proto_name if row is not None else f"DataType {enum}"


def _tags_label(tags: Iterable[str]) -> str:
    return "[" + ", ".join(tags) + "]"


# --------------------------------------------------------------------------- entry point

def validate_saved_model(export_dir: PathLike) -> list[Finding]:
    """Check the SavedModel in ``export_dir``; return every finding (empty: no problem found).

    Raises :class:`NotFoundError` when ``export_dir`` is not a directory or holds
    no ``saved_model.pb``/``.pbtxt``.  Reads only; nothing is written.
    """
    findings: list[Finding] = []

    def report(code: str, where: str, message: str) -> None:
        findings.append(Finding(code, where, message))

    root = Path(export_dir)
    try:
        model = read_saved_model(root)
    except CorruptSavedModelError as exc:
        report("proto-unparseable", saved_model_file(root).name, str(exc))
        return findings
    if not model.meta_graphs:
        report("no-meta-graphs", saved_model_file(root).name,
               "the SavedModel holds no MetaGraphDef; a loader needs one per tag set")
        return findings
    _check_tag_sets(model.meta_graphs, report)
    checkpoint = _Checkpoint(root)
    for meta in model.meta_graphs:
        _MetaGraphCheck(root, meta, checkpoint, report).run()
    checkpoint.verify_all(report)
    return findings


def _check_tag_sets(metas: Sequence[meta_graph_pb2.MetaGraphDef], report: Report) -> None:
    seen: dict[frozenset[str], int] = {}
    for index, meta in enumerate(metas):
        tags = frozenset(meta.meta_info_def.tags)
        if tags in seen:
            report("duplicate-tag-set", f"meta graph #{index} {_tags_label(sorted(tags))}",
                   f"meta graph #{seen[tags]} has the same tag set; loaders pick a meta graph "
                   f"by its tag set, which must be unique")
        else:
            seen[tags] = index


# --------------------------------------------------------------------------- checkpoint

class _Checkpoint:
    """The model's ``variables/variables`` bundle, opened once and checked once."""

    def __init__(self, root: Path) -> None:
        self.prefix = variables_prefix(root)
        self.where = "variables/variables"
        self.exists = Path(f"{self.prefix}.index").is_file()
        self._reader: Any = None
        self._error: str | None = None
        self._reported = False

    def reader(self, report: Report) -> Any:
        """The CheckpointReader, or None (reported once) when the index cannot be read."""
        if self._reader is None and self._error is None and self.exists:
            from ..format.bundle import CheckpointReader

            try:
                self._reader = CheckpointReader(self.prefix)
            except Error as exc:
                self._error = str(exc)
        if self._error is not None and not self._reported:
            self._reported = True
            report("checkpoint-unreadable", self.where,
                   f"the checkpoint index cannot be read: {self._error}")
        return self._reader

    def entry(self, name: str) -> tuple[int, tuple[int, ...]] | None:
        """``(DataType, shape)`` of a checkpoint tensor, None if absent (or unreadable)."""
        if self._reader is None or name not in self._reader:
            return None
        try:
            return dtypes.from_numpy(self._reader.dtype(name)).enum, self._reader.shape(name)
        except Error:
            return None  # reported by verify_all

    def verify_all(self, report: Report) -> None:
        """Read every tensor: CRCs, sizes and data files verified."""
        reader = self.reader(report)
        if reader is None:
            return
        try:
            for name in reader.keys():
                try:
                    reader.get_tensor(name)
                except ChecksumError as exc:
                    report("checksum-mismatch", f"{self.where} tensor {name!r}",
                           f"stored bytes do not match their CRC-32C ({exc})")
                except Error as exc:
                    report("checkpoint-unreadable", f"{self.where} tensor {name!r}", str(exc))
        finally:
            reader.close()


# --------------------------------------------------------------------------- one meta graph

@dataclass
class _Outputs:
    """Output dtypes of a node: ``dtypes`` None when the count is unknown."""

    dtypes: list[int | None] | None


@dataclass
class _MetaGraphCheck:
    root: Path
    meta: meta_graph_pb2.MetaGraphDef
    checkpoint: _Checkpoint
    report: Report
    label: str = ""
    nodes: dict[str, node_def_pb2.NodeDef] = field(default_factory=dict)
    outputs: dict[str, _Outputs] = field(default_factory=dict)
    functions: dict[str, function_pb2.FunctionDef] = field(default_factory=dict)

    def run(self) -> None:
        self.label = _tags_label(self.meta.meta_info_def.tags)
        graph_def = self.meta.graph_def
        self.functions = {f.signature.name: f for f in graph_def.library.function}
        self._index_nodes(graph_def)
        for node in graph_def.node:
            if self.nodes.get(node.name) is node:
                self._check_node(node, graph_def)
        self._check_cycles(graph_def)
        for function in graph_def.library.function:
            self._check_function(function)
        self._check_saver()
        self._check_assets()
        self._check_collections()
        self._check_signatures()

    def _at(self, what: str) -> str:
        return f"{self.label} {what}"

    # -- nodes

    def _index_nodes(self, graph_def: graph_pb2.GraphDef) -> None:
        for node in graph_def.node:
            where = self._at(f"node {node.name!r}")
            if not _NODE_NAME.match(node.name):
                self.report("bad-node-name", where,
                            f"invalid node name (op {node.op}); TensorFlow node names match "
                            f"[A-Za-z0-9.][A-Za-z0-9_.\\-/>]*")
            if node.name in self.nodes:
                self.report("duplicate-node", where, "another node has the same name")
                continue
            self.nodes[node.name] = node
            self.outputs[node.name] = _Outputs(self._output_dtypes(node))

    def _signature_of(self, op_type: str) -> op_def_pb2.OpDef | None:
        """The OpDef of a registered op or of a library function; None if neither."""
        function = self.functions.get(op_type)
        if function is not None:
            return function.signature
        try:
            return get_op_def(op_type)
        except Error:
            return None

    def _output_dtypes(self, node: node_def_pb2.NodeDef) -> list[int | None] | None:
        op_def = self._signature_of(node.op)
        if op_def is None:
            return None
        filled = _with_defaults(node, op_def)
        try:
            out: list[int | None] = []
            for arg in op_def.output_arg:
                out.extend(arg_dtypes(arg, filled))
            return out
        except Error:
            return None  # a bad count attr: reported with the node's attrs

    def _check_node(self, node: node_def_pb2.NodeDef, graph_def: graph_pb2.GraphDef) -> None:
        where = self._at(f"node {node.name!r}")
        if node.op in self.functions:
            op_def = self.functions[node.op].signature
        else:
            try:
                op_def = get_op_def(node.op)
            except Error as exc:
                self.report("unknown-op", where, f"{exc} (and the graph's function library "
                            f"defines no such function)")
                self._check_input_sources(node, where)
                return
            producer = graph_def.versions.producer
            if op_def.HasField("deprecation") and op_def.deprecation.version <= producer:
                self.report("deprecated-op", where,
                            f"op {node.op} was removed in GraphDef version "
                            f"{op_def.deprecation.version} and this graph's producer is "
                            f"{producer}: {op_def.deprecation.explanation}")
            _check_attrs(node, op_def, where, self.report, self.functions)
        self._check_inputs(node, op_def, where)

    def _check_input_sources(self, node: node_def_pb2.NodeDef, where: str) -> None:
        for text in node.input:
            source, _, control = parse_input(text)
            if source not in self.nodes:
                kind = "control input" if control else "input"
                self.report("missing-input", where, f"{kind} {text!r} names no node of the graph")

    def _check_inputs(self, node: node_def_pb2.NodeDef, op_def: op_def_pb2.OpDef,
                      where: str) -> None:
        filled = _with_defaults(node, op_def)
        # Without its length attrs (reported as missing-attr) the input count is unknown.
        count_known = all((arg.number_attr or arg.type_list_attr) in filled.attr
                          for arg in op_def.input_arg if arg.number_attr or arg.type_list_attr)
        expected: list[tuple[str, int | None]] = []
        try:
            for arg in op_def.input_arg:
                expected.extend((arg.name, enum) for enum in arg_dtypes(arg, filled))
        except Error as exc:
            self.report("bad-attr", where, str(exc))
            count_known = False
        data: list[tuple[str, int | None]] = []
        seen_control = False
        broken = False
        for text in node.input:
            source, index, control = parse_input(text)
            if control:
                seen_control = True
            elif seen_control:
                self.report("bad-input-order", where,
                            f"data input {text!r} comes after a control input; control inputs "
                            f"('^name') must come last")
            if source not in self.nodes:
                kind = "control input" if control else "input"
                self.report("missing-input", where, f"{kind} {text!r} names no node of the graph")
                broken = True
                continue
            if control:
                continue
            produced = self.outputs[source].dtypes
            if produced is not None and index >= len(produced):
                self.report("missing-input", where,
                            f"input {text!r}: node {source!r} ({self.nodes[source].op}) has "
                            f"{len(produced)} output(s)")
                broken = True
                continue
            data.append((text, produced[index] if produced is not None else None))
        if broken or not count_known:
            return
        if len(data) != len(expected):
            names = ", ".join(name for name, _ in expected) or "none"
            self.report("input-count", where,
                        f"{len(data)} data input(s); op {node.op} with these attrs expects "
                        f"{len(expected)} ({names})")
            return
        for (text, got), (arg_name, want) in zip(data, expected):
            if want is not None and got is not None and base_enum(want) != base_enum(got):
                self.report("input-dtype-mismatch", where,
                            f"input {arg_name!r} ({text!r}) is {_type(got)}; op {node.op} "
                            f"expects {_type(want)} there")

    def _check_cycles(self, graph_def: graph_pb2.GraphDef) -> None:
        """Kahn's algorithm; edges out of NextIteration close while loops and are allowed."""
        consumers: dict[str, list[str]] = {name: [] for name in self.nodes}
        pending: dict[str, int] = {}
        for name, node in self.nodes.items():
            sources = {parse_input(text)[0] for text in node.input}
            sources = {s for s in sources if s in self.nodes
                       and self.nodes[s].op not in _LOOP_BACK_OPS}
            pending[name] = len(sources)
            for source in sources:
                consumers[source].append(name)
        ready = deque(name for name, count in pending.items() if count == 0)
        done = 0
        while ready:
            name = ready.popleft()
            done += 1
            for consumer in consumers[name]:
                pending[consumer] -= 1
                if pending[consumer] == 0:
                    ready.append(consumer)
        if done != len(self.nodes):
            stuck = sorted(name for name, count in pending.items() if count > 0)
            shown = ", ".join(repr(s) for s in stuck[:5]) + (" ..." if len(stuck) > 5 else "")
            self.report("graph-cycle", self._at("graph"),
                        f"nodes {shown} depend on each other in a cycle that does not go "
                        f"through NextIteration; TensorFlow cannot run them")

    # -- function library

    def _check_function(self, function: function_pb2.FunctionDef) -> None:
        fname = function.signature.name
        args = {arg.name for arg in function.signature.input_arg}
        body = {node.name for node in function.node_def}
        for node in function.node_def:
            where = self._at(f"function {fname!r} node {node.name!r}")
            op_def = self._signature_of(node.op)
            if op_def is None:
                self.report("unknown-op", where,
                            f"op {node.op!r} is neither registered in TensorFlow 2.21 nor a "
                            f"function of the graph's library")
            elif node.op not in self.functions:
                _check_attrs(node, op_def, where, self.report, self.functions)
            for text in node.input:
                source = text[1:] if text.startswith("^") else text.split(":", 1)[0]
                if source not in body and source not in args:
                    self.report("missing-input", where,
                                f"input {text!r} names neither a node of the function nor one "
                                f"of its arguments")
        for key, ret in function.ret.items():
            source = ret.split(":", 1)[0]
            if source not in body and source not in args:
                self.report("missing-input", self._at(f"function {fname!r} output {key!r}"),
                            f"returns {ret!r}, which names no node of the function")

    # -- saver and checkpoint

    def _tensor_exists(self, name: str) -> str | None:
        """None if ``name`` ("node:i" or "node") is an output of the graph; else why not."""
        source, index, _ = parse_input(name)
        if not source or name.startswith("^"):
            return f"{name!r} is not a tensor name"
        if source not in self.nodes:
            return f"no node {source!r}"
        produced = self.outputs[source].dtypes
        if produced is not None and index >= len(produced):
            return f"node {source!r} ({self.nodes[source].op}) has {len(produced)} output(s)"
        return None

    def _check_saver(self) -> None:
        if not self.meta.HasField("saver_def"):
            return
        saver = self.meta.saver_def
        for what, name in (("filename_tensor_name", saver.filename_tensor_name),
                           ("save_tensor_name", saver.save_tensor_name)):
            problem = self._tensor_exists(name)
            if problem is not None:
                self.report("saver-node-missing", self._at(f"saver_def {what}"),
                            f"{name!r}: {problem}")
        restore = op_name_of(saver.restore_op_name)
        if restore not in self.nodes:
            self.report("saver-node-missing", self._at("saver_def restore_op_name"),
                        f"{saver.restore_op_name!r}: no such node; the loader runs it to restore "
                        f"the variables")
        restores = list(self._restore_entries())
        if not restores:
            return
        if not self.checkpoint.exists:
            self.report("checkpoint-missing", self._at("saver_def"),
                        f"the graph restores {len(restores)} tensor(s) but "
                        f"variables/variables.index does not exist")
            return
        if self.checkpoint.reader(self.report) is None:
            return
        for entry in restores:
            self._check_restore_entry(entry)

    def _restore_entries(self) -> Iterator[_RestoreEntry]:
        """Each tensor a RestoreV2 node (of the graph or a library function) restores."""
        graph_def = self.meta.graph_def
        top = {n.name: n for n in graph_def.node}
        for node in graph_def.node:
            if node.op == "RestoreV2":
                yield from _restore_entries(node, top, self._at(f"node {node.name!r}"),
                                            self.report, top_level=True, function=None)
        for function in graph_def.library.function:
            body = {n.name: n for n in function.node_def}
            for node in function.node_def:
                if node.op == "RestoreV2":
                    where = self._at(f"function {function.signature.name!r} node {node.name!r}")
                    yield from _restore_entries(node, body, where, self.report,
                                                top_level=False, function=function)

    def _check_restore_entry(self, entry: _RestoreEntry) -> None:
        where = f"{entry.where} tensor {entry.name!r}"
        stored = self.checkpoint.entry(entry.name)
        if stored is None:
            self.report("variable-not-in-checkpoint", where,
                        f"the restore op reads {entry.name!r} but variables/variables has no "
                        f"such tensor")
            return
        dtype, shape = stored
        if entry.dtype is not None and base_enum(entry.dtype) != dtype:
            self.report("variable-dtype-mismatch", where,
                        f"restored as {_type(entry.dtype)} but the checkpoint holds "
                        f"{_type(dtype)}")
        if entry.full_shape is not None and entry.full_shape != shape:
            self.report("variable-shape-mismatch", where,
                        f"shape_and_slices says the full tensor is {list(entry.full_shape)}; the "
                        f"checkpoint holds {list(shape)}")
            return
        restored = entry.slice_shape if entry.slice_shape is not None else shape
        if entry.variable_shape is not None and not _compatible(entry.variable_shape, restored):
            part = "it" if entry.slice_shape is None else f"a {list(restored)} slice of it"
            self.report("variable-shape-mismatch", where,
                        f"assigned to variable {entry.variable!r} of shape "
                        f"{_shape_text(entry.variable_shape)}; the checkpoint holds "
                        f"{list(shape)} and the restore op reads {part}")

    # -- assets

    def _asset_defs(self) -> tuple[list[AssetFileDef], list[AssetFileDef]]:
        """(asset_file_def field, collection entries)."""
        from_collection: list[AssetFileDef] = []
        collection = self.meta.collection_def.get(_ASSETS_COLLECTION)
        if collection is not None:
            where = self._at(f"collection {_ASSETS_COLLECTION!r}")
            if collection.WhichOneof("kind") not in (None, "any_list"):
                self.report("bad-collection", where,
                            f"holds a {collection.WhichOneof('kind')}; expected an any_list of "
                            f"AssetFileDef")
            for index, item in enumerate(collection.any_list.value):
                if item.type_url != _ASSET_TYPE_URL:
                    self.report("bad-collection", f"{where} #{index}",
                                f"type_url {item.type_url!r}; expected {_ASSET_TYPE_URL!r}")
                    continue
                asset = meta_graph_pb2.AssetFileDef()
                try:
                    asset.ParseFromString(item.value)
                except Exception as exc:  # DecodeError and its kin
                    self.report("bad-collection", f"{where} #{index}",
                                f"value is not a serialized AssetFileDef: {exc}")
                    continue
                from_collection.append(asset)
        return list(self.meta.asset_file_def), from_collection

    def _check_assets(self) -> None:
        field_defs, collection_defs = self._asset_defs()
        assets_dir = self.root / "assets"
        checked: set[tuple[str, str]] = set()
        for asset in field_defs + collection_defs:
            key = (asset.filename, asset.tensor_info.name)
            if key in checked:
                continue
            checked.add(key)
            where = self._at(f"asset {asset.filename!r}")
            path = PurePosixPath(asset.filename)
            if not asset.filename or path.is_absolute() or ".." in path.parts or \
                    "\\" in asset.filename or "\0" in asset.filename:
                self.report("asset-path-escapes", where,
                            "an asset filename must be a relative path inside assets/ "
                            "(no '..', no absolute path)")
                continue
            target = assets_dir / asset.filename
            try:
                inside = target.resolve().is_relative_to(assets_dir.resolve())
                exists = target.is_file()
            except (OSError, RuntimeError):  # symlink loops, names too long
                inside, exists = True, False
            if not inside:
                self.report("asset-path-escapes", where,
                            f"{target} resolves outside {assets_dir} (symlink?)")
            elif not exists:
                self.report("asset-missing", where,
                            f"assets/{asset.filename} does not exist; the loader feeds its path "
                            f"to tensor {asset.tensor_info.name!r}")
            problem = self._tensor_exists(asset.tensor_info.name)
            if problem is not None:
                self.report("asset-tensor-missing", where,
                            f"tensor {asset.tensor_info.name!r}: {problem}")
        # The C++ loader feeds the asset_file_def field's entries (or, when empty, the
        # collection's): one tensor fed twice makes Session.Run fail.
        used = field_defs if field_defs else collection_defs
        fed: dict[str, str] = {}
        for asset in used:
            tensor = asset.tensor_info.name
            if tensor in fed:
                self.report("asset-fed-twice", self._at(f"asset {asset.filename!r}"),
                            f"tensor {tensor!r} is also the tensor of asset {fed[tensor]!r}; "
                            f"the loader would feed it twice")
            else:
                fed[tensor] = asset.filename

    # -- collections, init and train ops

    def _check_collections(self) -> None:
        op_collections = (*_INIT_COLLECTIONS, _TRAIN_COLLECTION)  # checked below
        for key, collection in sorted(self.meta.collection_def.items()):
            if collection.WhichOneof("kind") != "node_list" or key in op_collections:
                continue
            for value in collection.node_list.value:
                name = value[1:] if value.startswith("^") else op_name_of(value)
                if name not in self.nodes:
                    self.report("collection-node-missing", self._at(f"collection {key!r}"),
                                f"entry {value!r} names no node of the graph")
        self._check_op_reference(INIT_OP_KEY, _INIT_COLLECTIONS, "init-op-missing",
                                 "init-op-count", "init op")
        self._check_op_reference(TRAIN_OP_KEY, (_TRAIN_COLLECTION,), "train-op-missing",
                                 "train-op-count", "train op")

    def _check_op_reference(self, key: str, collections: Sequence[str], code: str,
                            count_code: str, what: str) -> None:
        """The op named by signature ``key``, else by the first of ``collections`` present.

        Every collection entry must name a node (the Python loader imports them); only
        the collection TF would use must hold exactly one.
        """
        signature = self.meta.signature_def.get(key)
        if signature is not None:
            where = self._at(f"signature {key!r}")
            info = signature.outputs.get(key)
            if info is None:
                self.report(code, where, f"has no output {key!r} naming the {what}")
            elif op_name_of(info.name) not in self.nodes:
                self.report(code, where, f"names {info.name!r}, no node of the graph")
        used = signature is None
        for name in collections:
            collection = self.meta.collection_def.get(name)
            if collection is None:
                continue
            where = self._at(f"collection {name!r}")
            values = list(collection.node_list.value)
            if used and len(values) != 1:
                self.report(count_code, where, f"holds {len(values)} entries; TensorFlow "
                            f"expects exactly one {what}")
            used = False
            for value in values:
                if op_name_of(value) not in self.nodes:
                    self.report(code, where, f"names {value!r}, no node of the graph")

    # -- signatures

    def _check_signatures(self) -> None:
        for key, signature in sorted(self.meta.signature_def.items()):
            if key in (INIT_OP_KEY, TRAIN_OP_KEY):
                continue
            for side, infos in (("input", signature.inputs), ("output", signature.outputs)):
                for alias, info in sorted(infos.items()):
                    where = self._at(f"signature {key!r} {side} {alias!r}")
                    self._check_tensor_info(info, where)
            _check_serving_rules(signature, self._at(f"signature {key!r}"), self.report)

    def _check_tensor_info(self, info: meta_graph_pb2.TensorInfo, where: str) -> None:
        encoding = info.WhichOneof("encoding")
        if encoding == "coo_sparse":
            sparse = info.coo_sparse
            for part in (sparse.values_tensor_name, sparse.indices_tensor_name,
                         sparse.dense_shape_tensor_name):
                problem = self._tensor_exists(part)
                if problem is not None:
                    self.report("signature-tensor-missing", where, f"{part!r}: {problem}")
            return
        if encoding == "composite_tensor":
            for index, component in enumerate(info.composite_tensor.components):
                self._check_tensor_info(component, f"{where} component {index}")
            return
        problem = self._tensor_exists(info.name)
        if problem is not None:
            self.report("signature-tensor-missing", where, f"{info.name!r}: {problem}")
            return
        source, index, _ = parse_input(info.name)
        produced = self.outputs[source].dtypes
        got = produced[index] if produced is not None else None
        if got is not None and base_enum(got) != base_enum(info.dtype):  # ref dtypes: TF1
            self.report("signature-dtype-mismatch", where,
                        f"records {_type(info.dtype)} but {info.name!r} is {_type(base_enum(got))}")


# --------------------------------------------------------------------------- helpers

def _with_defaults(node: node_def_pb2.NodeDef, op_def: op_def_pb2.OpDef) -> node_def_pb2.NodeDef:
    """``node`` with the attrs it leaves out filled from their defaults (a copy if needed)."""
    missing = [a for a in op_def.attr if a.name not in node.attr and a.HasField("default_value")]
    if not missing:
        return node
    filled = node_def_pb2.NodeDef()
    filled.CopyFrom(node)
    for attr_def in missing:
        filled.attr[attr_def.name].CopyFrom(attr_def.default_value)
    return filled


def _check_attrs(node: node_def_pb2.NodeDef, op_def: op_def_pb2.OpDef, where: str,
                 report: Report, functions: Mapping[str, function_pb2.FunctionDef]) -> None:
    """Required attrs present, values of the declared kind and allowed; functions defined."""
    # Attrs the op does not declare are not findings: TF 2.21's loaders ignore them.
    declared = attr_defs(op_def)
    for name, attr_def in declared.items():
        if name not in node.attr:
            if not attr_def.HasField("default_value"):
                report("missing-attr", where,
                       f"required attr {name!r} ({attr_def.type}) is missing and has no default")
            continue
        value = node.attr[name]
        if value.WhichOneof("value") == "placeholder":
            continue  # bound when the enclosing function is instantiated
        try:
            _attrs.check_attr_value(value, attr_def, where)
        except Error as exc:
            report("bad-attr", where, str(exc).replace(f"{where} ", "", 1))
    if node.op == "Const" and "value" in node.attr and "dtype" in node.attr:
        _check_const(node, where, report)
    for key, value in node.attr.items():
        for function in _function_names(value):
            if function not in functions and not _is_op(function):
                report("function-missing", where,
                       f"attr {key!r} calls function {function!r}, which the graph's library "
                       f"does not define")


def _is_op(name: str) -> bool:
    try:
        get_op_def(name)
    except Error:
        return False
    return True


def _function_names(value: attr_value_pb2.AttrValue) -> list[str]:
    functions = [value.func] if value.HasField("func") else list(value.list.func)
    return [f.name for f in functions if f.name]


def _check_const(node: node_def_pb2.NodeDef, where: str, report: Report) -> None:
    """TF's loader refuses a constant whose value is not a fully defined tensor."""
    tensor = node.attr["value"].tensor
    if tensor.dtype != node.attr["dtype"].type:
        report("bad-attr", where, f"attr 'value' holds a {_type(tensor.dtype)} tensor but attr "
               f"'dtype' is {_type(node.attr['dtype'].type)}")
        return
    shape = _attrs.shape_from_proto(tensor.tensor_shape)
    if shape is None or any(dim is None for dim in shape):
        report("bad-attr", where, f"attr 'value' has shape {shape}; a constant needs a fully "
               f"defined shape")
        return
    row = dtypes.DTYPES.get(tensor.dtype)
    count = 1
    for dim in shape:
        count *= dim or 0
    if tensor.tensor_content and row is not None and row.numpy is not None and not row.is_string:
        if len(tensor.tensor_content) != count * row.numpy.itemsize:
            report("bad-attr", where, f"attr 'value' has {len(tensor.tensor_content)} bytes of "
                   f"tensor_content; shape {list(shape)} of {row.name} needs "
                   f"{count * row.numpy.itemsize}")
        return
    try:
        _attrs.tensor_proto_to_numpy(tensor, expand=False)
    except Exception as exc:  # unknown dtype, too many values and the like
        report("bad-attr", where, f"attr 'value' is not a valid tensor: {exc}")


@dataclass
class _RestoreEntry:
    """One tensor a RestoreV2 node restores."""

    where: str
    name: str
    dtype: int | None
    full_shape: tuple[int, ...] | None  # from a non-empty shape_and_slices spec
    slice_shape: tuple[int, ...] | None  # the part of it restored
    variable: str | None
    variable_shape: tuple[int | None, ...] | None


def _const_strings(nodes: Mapping[str, node_def_pb2.NodeDef], text: str) -> list[str] | None:
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


def _restore_entries(node: node_def_pb2.NodeDef, nodes: Mapping[str, node_def_pb2.NodeDef],
                     where: str, report: Report, *, top_level: bool,
                     function: function_pb2.FunctionDef | None) -> Iterator[_RestoreEntry]:
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
        yield _RestoreEntry(where, name, dtype, shapes[0] if shapes else None,
                            shapes[1] if shapes else None,
                            variable[0] if variable else None, variable[1] if variable else None)


def _consumers(nodes: Mapping[str, node_def_pb2.NodeDef],
               top_level: bool) -> dict[tuple[str, int], list[node_def_pb2.NodeDef]]:
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


def _assigned_variable(restore: str, index: int, nodes: Mapping[str, node_def_pb2.NodeDef],
                       consumers: Mapping[tuple[str, int], list[node_def_pb2.NodeDef]],
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


def _variable_shape(text: str, nodes: Mapping[str, node_def_pb2.NodeDef], top_level: bool,
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


def _compatible(declared: tuple[int | None, ...], shape: tuple[int, ...]) -> bool:
    return len(declared) == len(shape) and all(d is None or d == s for d, s in zip(declared, shape))


def _shape_text(shape: Sequence[int | None]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


# --------------------------------------------------------------------------- serving rules

def _check_serving_rules(sig: meta_graph_pb2.SignatureDef, where: str, report: Report) -> None:
    method = sig.method_name
    if method == PREDICT:
        if not sig.inputs:
            report("serving-predict-inputs", where, "a predict signature needs at least one input")
        if not sig.outputs:
            report("serving-predict-outputs", where,
                   "a predict signature needs at least one output")
    elif method == CLASSIFY:
        _one_string_input(sig, where, "classify", report)
        outputs = sig.outputs
        known = [k for k in ("classes", "scores") if k in outputs]
        if not 1 <= len(outputs) <= 2 or not known:
            report("serving-classify-outputs", where,
                   f"outputs {sorted(outputs)}; TF Serving's Classify wants one or two outputs, "
                   f"among them 'classes' (DT_STRING) and/or 'scores' (DT_FLOAT)")
        for key, want in (("classes", dtypes.DT_STRING), ("scores", dtypes.DT_FLOAT)):
            if key in outputs and outputs[key].dtype != want:
                report("serving-classify-outputs", f"{where} output {key!r}",
                       f"is {_type(outputs[key].dtype)}; TF Serving's Classify wants "
                       f"{_type(want)}")
    elif method == REGRESS:
        _one_string_input(sig, where, "regress", report)
        outputs = sig.outputs
        if list(outputs) != ["outputs"]:
            report("serving-regress-outputs", where,
                   f"outputs {sorted(outputs)}; TF Serving's Regress wants exactly one output "
                   f"'outputs' (DT_FLOAT)")
        elif outputs["outputs"].dtype != dtypes.DT_FLOAT:
            report("serving-regress-outputs", f"{where} output 'outputs'",
                   f"is {_type(outputs['outputs'].dtype)}; TF Serving's Regress wants DT_FLOAT")


def _one_string_input(sig: meta_graph_pb2.SignatureDef, where: str, method: str,
                      report: Report) -> None:
    code = f"serving-{method}-inputs"
    api = method.capitalize()
    if list(sig.inputs) != ["inputs"]:
        report(code, where, f"inputs {sorted(sig.inputs)}; TF Serving's {api} wants exactly one "
               f"input 'inputs' (DT_STRING, serialized tf.Example protos)")
    elif sig.inputs["inputs"].dtype != dtypes.DT_STRING:
        report(code, f"{where} input 'inputs'",
               f"is {_type(sig.inputs['inputs'].dtype)}; TF Serving's {api} feeds serialized "
               f"tf.Example protos, a DT_STRING tensor")

