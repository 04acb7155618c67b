"""Build a SavedModel from a declarative JSON spec (``pysavedmodel build``).

A spec is a JSON object; every key but ``graph`` is optional::

    {
      "description": "free text, ignored",
      "tags": ["serve"],
      "weights": {
        "files": ["weights.safetensors"],
        "map": [
          {"match": "^(fc\\\\d)\\\\.weight$", "to": "\\\\1/kernel", "transpose": [1, 0]},
          {"match": "^(fc\\\\d)\\\\.bias$", "to": "\\\\1/bias"},
          {"match": "num_batches_tracked$", "drop": true}
        ],
        "strict": true
      },
      "variables": [
        "fc1/bias",
        {"name": "fc1/kernel", "weight": "fc1/kernel", "shape": [4, 16], "dtype": "float32"}
      ],
      "assets": {"vocab": "vocab.txt"},
      "graph": {"node": [{"name": "x", "op": "Placeholder",
                          "attr": {"dtype": "float32", "shape": [null, 4]}}, ...]},
      "signatures": {"serving_default": {"method": "predict",
                                         "inputs": {"x": "x:0"},
                                         "outputs": {"probs": "probs:0"}}},
      "init_op": "init_all_tables"
    }

``tags``
    The meta graph's tag set (default ``["serve"]``).
``weights``
    ``files``: weight files, paths relative to the spec's directory, read
    with :func:`pysavedmodel.weights.load_weights` (safetensors, ``.npz``,
    TF checkpoint prefixes, torch files); a name in two files is an error.
    ``map``: rules tried in order on each weight's name; the first whose
    ``match`` regex matches (``re.search``) renames it with ``re.sub(match,
    to, name)``, then ``transpose`` (an axis permutation, as
    ``numpy.transpose``; ``[1, 0]`` turns a PyTorch ``Linear`` weight
    ``[out, in]`` into a ``MatMul`` kernel ``[in, out]``) and ``dtype`` (a
    cast, e.g. ``"float32"``) apply; ``"drop": true`` instead of ``to`` leaves
    the weight out.  Names no rule matches are kept as they are.  A rule that
    applies to no weight is an error (a typo would otherwise go unnoticed).
    ``strict`` (default true): every mapped weight must feed a variable.
``variables``
    Variables to create: a name, or ``{"name", "weight", "shape", "dtype"}``.
    Each becomes a ``VarHandleOp`` ``NAME`` and a ``ReadVariableOp``
    ``NAME/Read/ReadVariableOp`` (what graph nodes read, as in TensorFlow's own
    graphs) holding the mapped weight ``weight`` (default: ``NAME``); the
    optional ``shape`` (``null`` for any size) and ``dtype`` are checked
    against the weight.  An entry naming a ``VarHandleOp`` written in
    ``graph`` instead binds that variable to ``weight``.  A ``VarHandleOp`` of
    ``graph`` with no entry takes the weight of its own name.
``assets``
    ``{node name: file}``: each creates a scalar string ``Const`` of that name
    holding the file's name; the file (relative to the spec's directory) is
    copied into ``assets/`` and loaders feed its path there to the ``Const``.
``graph``
    ``{"node": [...]}``: NodeDef-shaped dicts as :meth:`pysavedmodel.Graph.from_dict`
    takes them (``name``, ``op``, ``input``, ``device``, ``attr`` with plain
    JSON values; inferable attrs such as ``T`` may be left out).
``signatures``
    ``{key: {"method": "predict" | "classify" | "regress" (default predict) or
    a full method name, "inputs": {key: tensor}, "outputs": {key: tensor}}}``.
``init_op``
    The node run once when the model is loaded (e.g. a ``NoOp`` grouping table
    initializers).

Every problem is reported before anything is written, as an error of the
:class:`pysavedmodel.Error` family whose message starts with the JSON path of
the offending value (``spec.weights.files[0]: ...``).
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, NoReturn, TypeVar

import numpy as np

from .. import dtypes
from ..errors import (
    AlreadyExistsError,
    Error,
    InvalidArgumentError,
    NotFoundError,
    UnsupportedDTypeError,
)
from ..graph.attrs import shape_from_proto
from ..graph.graph import Graph
from ..graph.importer import node_from_dict
from .builder import SavedModelBuilder
from .signatures import (
    CLASSIFY_METHOD_NAME,
    PREDICT_METHOD_NAME,
    REGRESS_METHOD_NAME,
    resolve_signature_def,
)

__all__ = ["build_from_spec", "load_spec", "SPEC_KEYS"]

SPEC_KEYS: Final = ("description", "tags", "weights", "variables", "assets", "graph",
                    "signatures", "init_op")
_WEIGHTS_KEYS: Final = ("files", "map", "strict")
_RULE_KEYS: Final = ("match", "to", "drop", "transpose", "dtype")
_VARIABLE_KEYS: Final = ("name", "weight", "shape", "dtype")
_SIGNATURE_KEYS: Final = ("method", "inputs", "outputs")
_METHODS: Final = {
    "predict": PREDICT_METHOD_NAME,
    "classify": CLASSIFY_METHOD_NAME,
    "regress": REGRESS_METHOD_NAME,
}
_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

_E = TypeVar("_E", bound=Error)


# --------------------------------------------------------------------------- JSON paths

def _key(path: str, key: Any) -> str:
    """``spec.weights`` for identifier keys, ``spec.assets["vocab.txt"]`` otherwise."""
    if not isinstance(key, str):  # only a spec given as a Python mapping can have these
        return f"{path}[{key!r}]"
    return f"{path}.{key}" if _IDENTIFIER.match(key) else f"{path}[{json.dumps(key)}]"


def _fail(where: str, message: str, kind: type[Error] = InvalidArgumentError) -> NoReturn:
    raise kind(f"{where}: {message}")


def _rewrap(where: str, exc: _E) -> _E:
    """The same kind of error with the JSON path in front of its message."""
    return type(exc)(f"{where}: {exc}")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "an array"
    return type(value).__name__


def _object(value: Any, where: str, allowed: Sequence[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        _fail(where, f"expected an object, got {_json_type(value)}")
    unknown = sorted((k for k in value if k not in allowed), key=str)
    if unknown:
        _fail(where, f"unknown key(s) {', '.join(repr(k) for k in unknown)}; "
                     f"expected some of {', '.join(allowed)}")
    return value


def _array(value: Any, where: str) -> Sequence[Any]:
    if not isinstance(value, (list, tuple)):
        _fail(where, f"expected an array, got {_json_type(value)}")
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        _fail(where, f"expected a non-empty string, got {_json_type(value)} {value!r}")
    return value


def _boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        _fail(where, f"expected true or false, got {_json_type(value)} {value!r}")
    return value


def _dtype(value: Any, where: str) -> dtypes.DType:
    name = _string(value, where)
    try:
        row = dtypes.by_name(name)
    except UnsupportedDTypeError as exc:
        raise _rewrap(where, exc) from None
    if row.numpy is None or row.is_string or not row.checkpointable:
        _fail(where, f"dtype {name!r} cannot be a weight's dtype; expected a numeric dtype "
                     "such as 'float32'", UnsupportedDTypeError)
    return row


def _shape_text(shape: Sequence[int | None] | None) -> str:
    if shape is None:
        return "<unknown rank>"
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def _names(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "") \
        if names else "none"


def _close(name: str, names: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --------------------------------------------------------------------------- loading

def load_spec(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a spec file: a JSON object (not yet checked beyond that)."""
    spec_path = Path(os.fspath(path))
    try:
        text = spec_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"spec file {str(spec_path)!r} not found") from None
    except IsADirectoryError:
        raise InvalidArgumentError(
            f"spec file {str(spec_path)!r} is a directory; expected a JSON file") from None
    except UnicodeDecodeError as exc:
        raise InvalidArgumentError(
            f"spec file {str(spec_path)!r} is not UTF-8 text (byte {exc.start})") from None
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgumentError(
            f"spec file {str(spec_path)!r} is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}") from None
    if not isinstance(spec, dict):
        raise InvalidArgumentError(
            f"spec file {str(spec_path)!r}: expected a JSON object at the top, got "
            f"{_json_type(spec)}")
    return spec


# --------------------------------------------------------------------------- weights

@dataclass
class _Rule:
    where: str
    pattern: re.Pattern[str]
    to: str | None            # None: drop
    transpose: tuple[int, ...] | None
    dtype: dtypes.DType | None
    used: int = 0


@dataclass
class _Weight:
    """A weight after mapping: its value and how it came to be."""

    name: str
    value: np.ndarray
    origin: str               # "fc1.weight [16,4] transposed to [4,16]" (for messages)
    file: str = ""
    used_by: str | None = None


def _parse_rule(value: Any, where: str) -> _Rule:
    rule = _object(value, where, _RULE_KEYS)
    source = _string(rule.get("match"), _key(where, "match"))
    try:
        pattern = re.compile(source)
    except re.error as exc:
        _fail(_key(where, "match"), f"invalid regex {source!r}: {exc}")
    drop = _boolean(rule.get("drop", False), _key(where, "drop"))
    if drop:
        extra = [k for k in ("to", "transpose", "dtype") if k in rule]
        if extra:
            _fail(where, f"a rule with \"drop\": true takes no {', '.join(extra)}")
        return _Rule(where, pattern, None, None, None)
    if "to" not in rule:
        _fail(where, "needs \"to\" (the new name, re.sub syntax) or \"drop\": true")
    to = rule["to"]
    if not isinstance(to, str):
        _fail(_key(where, "to"), f"expected a string, got {_json_type(to)}")
    transpose = None
    if "transpose" in rule:
        axes = _array(rule["transpose"], _key(where, "transpose"))
        if not all(isinstance(a, int) and not isinstance(a, bool) for a in axes) or \
                sorted(axes) != list(range(len(axes))):
            _fail(_key(where, "transpose"),
                  f"expected a permutation of the axes such as [1, 0], got {list(axes)!r}")
        transpose = tuple(axes)
    dtype = _dtype(rule["dtype"], _key(where, "dtype")) if "dtype" in rule else None
    return _Rule(where, pattern, to, transpose, dtype)


def _apply_rule(rule: _Rule, name: str, value: np.ndarray, file_label: str) -> _Weight:
    try:
        new_name = rule.pattern.sub(rule.to or "", name)
    except (re.error, IndexError) as exc:
        _fail(_key(rule.where, "to"), f"cannot rename {name!r}: {exc}")
    origin = f"{name} {_shape_text(value.shape)}"
    if rule.transpose is not None:
        if value.ndim != len(rule.transpose):
            _fail(_key(rule.where, "transpose"),
                  f"axes {list(rule.transpose)} do not fit weight {name!r} of {file_label}, "
                  f"which has shape {_shape_text(value.shape)}")
        value = np.ascontiguousarray(np.transpose(value, rule.transpose))
        origin += f" transposed to {_shape_text(value.shape)}"
    if rule.dtype is not None and rule.dtype.numpy is not None and value.dtype != rule.dtype.numpy:
        if value.dtype.kind not in "biufc":
            _fail(_key(rule.where, "dtype"),
                  f"weight {name!r} of {file_label} has dtype {value.dtype}, which cannot be "
                  f"cast to {rule.dtype.name}")
        value = value.astype(rule.dtype.numpy)
        origin += f" cast to {rule.dtype.name}"
    if not new_name:
        _fail(_key(rule.where, "to"), f"renames weight {name!r} to an empty name")
    return _Weight(new_name, value, origin)


def _load_weight_files(files: Sequence[Any], where: str,
                       base_dir: Path) -> list[tuple[str, str, np.ndarray]]:
    """``(file label, weight name, array)`` for every weight of every file, in order."""
    from ..weights import load_weights

    out: list[tuple[str, str, np.ndarray]] = []
    seen: dict[str, str] = {}
    for index, item in enumerate(files):
        item_where = f"{where}[{index}]"
        rel = _string(item, item_where)
        path = base_dir / rel
        if not path.exists() and not Path(f"{path}.index").exists():
            _fail(item_where, f"file {rel!r} not found (looked for {str(path)!r})", NotFoundError)
        try:
            loaded = load_weights(path)
        except Error as exc:
            raise _rewrap(f"{item_where} ({rel!r})", exc) from None
        for name, value in loaded.items():
            if name in seen:
                _fail(item_where, f"weight {name!r} is also in {seen[name]!r}; weight names "
                                  "must be unique across files")
            seen[name] = rel
            out.append((rel, name, np.asarray(value)))
    return out


def _map_weights(section: Any, base_dir: Path) -> tuple[dict[str, _Weight], bool]:
    """The mapped weights by new name, and whether the spec is strict about them."""
    where = "spec.weights"
    weights = _object(section, where, _WEIGHTS_KEYS)
    strict = _boolean(weights.get("strict", True), _key(where, "strict"))
    files = _array(weights.get("files", []), _key(where, "files"))
    rules = [_parse_rule(rule, f"{where}.map[{i}]")
             for i, rule in enumerate(_array(weights.get("map", []), _key(where, "map")))]
    raw = _load_weight_files(files, _key(where, "files"), base_dir)

    mapped: dict[str, _Weight] = {}
    for file_label, name, value in raw:
        rule = next((r for r in rules if r.pattern.search(name)), None)
        if rule is None:
            weight = _Weight(name, value, f"{name} {_shape_text(value.shape)}")
        else:
            rule.used += 1
            if rule.to is None:
                continue
            weight = _apply_rule(rule, name, value, repr(file_label))
        weight.file = file_label
        clash = mapped.get(weight.name)
        if clash is not None:
            _fail(where, f"weights {clash.origin} (from {clash.file!r}) and {weight.origin} "
                         f"(from {weight.file!r}) are both mapped to {weight.name!r}")
        mapped[weight.name] = weight
    for rule in rules:
        if not rule.used:
            names = [name for _, name, _ in raw]
            _fail(_key(rule.where, "match"),
                  f"regex {rule.pattern.pattern!r} matches no weight (that an earlier rule did "
                  f"not take); weights: {_names(names)}")
    return mapped, strict


# --------------------------------------------------------------------------- variables

@dataclass
class _VariableEntry:
    where: str
    name: str
    weight: str
    shape: tuple[int | None, ...] | None
    dtype: dtypes.DType | None


def _parse_variables(section: Any) -> list[_VariableEntry]:
    where = "spec.variables"
    out: list[_VariableEntry] = []
    seen: dict[str, str] = {}
    for index, item in enumerate(_array(section, where)):
        item_where = f"{where}[{index}]"
        if isinstance(item, str):
            item = {"name": item}
        entry = _object(item, item_where, _VARIABLE_KEYS)
        name = _string(entry.get("name"), _key(item_where, "name"))
        weight = _string(entry.get("weight", name), _key(item_where, "weight"))
        shape = None
        if "shape" in entry:
            dims = _array(entry["shape"], _key(item_where, "shape"))
            if not all(d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 0)
                       for d in dims):
                _fail(_key(item_where, "shape"),
                      f"expected sizes (non-negative integers, null for any), got {list(dims)!r}")
            shape = tuple(dims)
        dtype = _dtype(entry["dtype"], _key(item_where, "dtype")) if "dtype" in entry else None
        if name in seen:
            _fail(item_where, f"variable {name!r} is already declared at {seen[name]}")
        seen[name] = item_where
        out.append(_VariableEntry(item_where, name, weight, shape, dtype))
    return out


def _take_weight(weights: dict[str, _Weight], name: str, where: str,
                 variable: str) -> _Weight:
    weight = weights.get(name)
    if weight is None:
        known = sorted(weights)
        _fail(where, f"no weight named {name!r} for variable {variable!r} (after the renames "
                     f"of spec.weights.map){_close(name, known)}; mapped weights: "
                     f"{_names(known)}", NotFoundError)
    if weight.used_by is not None and weight.used_by != variable:
        _fail(where, f"weight {name!r} already feeds variable {weight.used_by!r}; each weight "
                     "feeds one variable")
    weight.used_by = variable
    return weight


def _check_fits(weight: _Weight, variable: str, shape: Sequence[int | None] | None,
                dtype: dtypes.DType | None, where: str) -> None:
    """The brief's message shape: ``fc1.weight [16,4] transposed to [4,16] but variable
    'fc1/kernel' is [4,8]``."""
    value = weight.value
    if shape is not None and not (len(shape) == value.ndim and all(
            want is None or want == got for want, got in zip(shape, value.shape))):
        _fail(where, f"{weight.origin} but variable {variable!r} is {_shape_text(shape)} "
                     f"(weight from {weight.file!r})")
    if dtype is not None:
        try:
            got = dtypes.from_numpy(value.dtype)
        except UnsupportedDTypeError:
            got = None
        if got is not dtype:
            _fail(where, f"{weight.origin} (from {weight.file!r}) has dtype {value.dtype} but "
                         f"variable {variable!r} is {dtype.name}; add \"dtype\": "
                         f"{json.dumps(dtype.name)} to its spec.weights.map rule to cast it")


# --------------------------------------------------------------------------- graph

def _user_nodes(section: Any) -> list[Any]:
    """The NodeDefs of ``spec.graph`` (attrs converted, not yet completed)."""
    where = "spec.graph"
    graph = _object(section, where, ("node",))
    if "node" not in graph:
        _fail(where, "needs \"node\": an array of node objects")
    nodes = []
    for index, item in enumerate(_array(graph["node"], _key(where, "node"))):
        try:
            nodes.append(node_from_dict(item))
        except Error as exc:
            raise _rewrap(f"{where}.node[{index}]", exc) from None
    return nodes


def _parse_assets(section: Any, base_dir: Path) -> dict[str, tuple[str, Path]]:
    """``{Const node name: (JSON path, source file)}``."""
    where = "spec.assets"
    if not isinstance(section, Mapping):
        _fail(where, f"expected an object {{node name: file}}, got {_json_type(section)}")
    out = {}
    for name, rel in section.items():
        item_where = _key(where, name)
        if not isinstance(name, str):
            _fail(item_where, f"expected a node name (a string) as the key, got {name!r}")
        rel = _string(rel, item_where)
        path = base_dir / rel
        if path.exists() and not path.is_file():
            _fail(item_where, f"{rel!r} is not a file (looked at {str(path)!r})")
        if not path.is_file():
            _fail(item_where, f"file {rel!r} not found (looked for {str(path)!r})", NotFoundError)
        out[name] = (item_where, path)
    return out


@dataclass
class _Resolved:
    graph: Graph
    values: dict[str, np.ndarray]               # VarHandleOp name -> value
    assets: dict[str, str]                      # asset tensor -> source path


def _assemble_graph(spec: Mapping[str, Any], weights: dict[str, _Weight], strict: bool,
                    base_dir: Path) -> _Resolved:
    entries = _parse_variables(spec.get("variables", []))
    user_nodes = _user_nodes(spec.get("graph"))
    assets = _parse_assets(spec.get("assets", {}), base_dir)
    user_index = {node.name: i for i, node in enumerate(user_nodes)}
    user_vars = {node.name for node in user_nodes if node.op == "VarHandleOp"}

    # Nodes the spec creates: variables, then asset constants; their owner for messages.
    created = Graph()
    owners: dict[str, str] = {}
    values: dict[str, np.ndarray] = {}
    bound: dict[str, _VariableEntry] = {}
    for entry in entries:
        if entry.name in user_vars:
            if entry.shape is not None or entry.dtype is not None:
                _fail(entry.where, f"variable {entry.name!r} is the VarHandleOp "
                                   f"spec.graph.node[{user_index[entry.name]}], which declares "
                                   "its own shape and dtype; give only \"name\" and \"weight\"")
            bound[entry.name] = entry
            continue
        weight = _take_weight(weights, entry.weight, entry.where, entry.name)
        _check_fits(weight, entry.name, entry.shape, entry.dtype, entry.where)
        try:
            read = created.variable(entry.name, weight.value)
        except Error as exc:
            raise _rewrap(entry.where, exc) from None
        for node in (entry.name, read.op_name):
            owners[node] = entry.where
        values[entry.name] = weight.value
    for name, (item_where, path) in assets.items():
        if name in owners:
            _fail(item_where, f"node name {name!r} is also created by {owners[name]}")
        try:
            created.constant(path.name, name=name + "/")
        except Error as exc:
            raise _rewrap(item_where, exc) from None
        owners[name] = item_where
    for name, index in user_index.items():
        if name in owners:
            _fail(f"spec.graph.node[{index}]", f"node name {name!r} is also created by "
                                               f"{owners[name]}")

    graph_def = created.as_graph_def()
    graph_def.node.extend(user_nodes)
    try:
        graph = Graph.from_dict(graph_def)
    except Error as exc:
        raise _rewrap(_graph_where(str(exc), user_index), exc) from None

    # VarHandleOps written in spec.graph: bound by an entry, or by their own name.
    for spec_var in graph.variables:
        if spec_var.node_name not in user_vars:
            continue
        binding = bound.get(spec_var.node_name)
        where = binding.where if binding else \
            f"spec.graph.node[{user_index[spec_var.node_name]}]"
        weight = _take_weight(weights, binding.weight if binding else spec_var.node_name, where,
                              spec_var.node_name)
        declared = _declared_shape(graph, spec_var.node_name)
        _check_fits(weight, spec_var.node_name, declared, spec_var.dtype, where)
        values[spec_var.node_name] = weight.value

    unused = [w for w in weights.values() if w.used_by is None]
    if strict and unused:
        listed = "; ".join(f"{w.name!r} = {w.origin} from {w.file!r}" for w in unused)
        _fail("spec.weights", f"weight(s) not used by any variable: {listed}. "
                              "Rename them to a variable's name in \"map\", drop them with "
                              "{\"match\": ..., \"drop\": true}, or set \"strict\": false")
    return _Resolved(graph, values, {f"{name}:0": str(path)
                                     for name, (_, path) in assets.items()})


def _graph_where(message: str, user_index: Mapping[str, int]) -> str:
    """``spec.graph.node[i]`` of the first node a graph error names, else ``spec.graph``."""
    match = re.search(r"node '([^']+)'", message)
    if match and match.group(1) in user_index:
        return f"spec.graph.node[{user_index[match.group(1)]}]"
    return "spec.graph"


def _declared_shape(graph: Graph, node_name: str) -> tuple[int | None, ...] | None:
    node = graph.node(node_name)
    return shape_from_proto(node.attr["shape"].shape) if "shape" in node.attr else None


# --------------------------------------------------------------------------- signatures

def _parse_signatures(section: Any, graph: Graph) -> dict[str, dict[str, Any]]:
    where = "spec.signatures"
    if not isinstance(section, Mapping):
        _fail(where, f"expected an object {{key: signature}}, got {_json_type(section)}")
    out = {}
    for key, value in section.items():
        sig_where = _key(where, key)
        sig = _object(value, sig_where, _SIGNATURE_KEYS)
        method = _string(sig.get("method", "predict"), _key(sig_where, "method"))
        if method not in _METHODS and "/" not in method:
            _fail(_key(sig_where, "method"), f"unknown method {method!r}; expected "
                                             f"{', '.join(_METHODS)} or a full method name")
        tensors: dict[str, dict[str, str]] = {}
        for side in ("inputs", "outputs"):
            side_where = _key(sig_where, side)
            mapping = sig.get(side, {})
            if not isinstance(mapping, Mapping):
                _fail(side_where, f"expected an object {{key: tensor name}}, got "
                                  f"{_json_type(mapping)}")
            for name, tensor in mapping.items():
                tensor_where = _key(side_where, name)
                tensor = _string(tensor, tensor_where)
                try:
                    graph.get_tensor(tensor)
                except Error as exc:
                    raise _rewrap(tensor_where, exc) from None
            tensors[side] = dict(mapping)
        built = {"method_name": _METHODS.get(method, method), **tensors}
        try:
            resolve_signature_def(key, built, graph)
        except Error as exc:
            raise _rewrap(sig_where, exc) from None
        out[key] = built
    return out


# --------------------------------------------------------------------------- build

def _export_target(export_dir: str | os.PathLike[str], version: Any) -> Path:
    base = Path(os.fspath(export_dir))
    if version is None:
        return base
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise InvalidArgumentError(
            f"version must be a non-negative integer (TF Serving's DIR/N layout), "
            f"got {version!r}")
    if base.exists() and not base.is_dir():
        raise AlreadyExistsError(
            f"{str(base)!r} exists and is not a directory; --version N writes DIR/N")
    target = base / str(version)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise AlreadyExistsError(
            f"version {version} already exists in {str(base)!r} ({str(target)!r} is not empty); "
            "choose a new version number")
    return target


def build_from_spec(spec: Mapping[str, Any] | str | os.PathLike[str],
                    export_dir: str | os.PathLike[str], *, version: int | None = None,
                    base_dir: str | os.PathLike[str] | None = None) -> Path:
    """Build the SavedModel a spec describes; return the directory written.

    ``spec``: a parsed spec (mapping) or the path of a JSON spec file (see
    the module docstring for the schema).  Relative file paths in it are
    resolved against ``base_dir``, by default the spec file's directory (the
    current directory for a mapping).  ``version``: write
    ``export_dir/<version>`` (TF Serving's layout; ``export_dir`` may hold
    other versions) instead of ``export_dir`` itself.  The target must not
    exist or be empty.  Nothing is written unless the whole spec is valid.
    """
    if isinstance(spec, (str, os.PathLike)):
        spec_path = Path(os.fspath(spec))
        spec = load_spec(spec_path)
        root = Path(os.fspath(base_dir)) if base_dir is not None else spec_path.parent
    elif isinstance(spec, Mapping):
        root = Path(os.fspath(base_dir)) if base_dir is not None else Path.cwd()
    else:
        raise InvalidArgumentError(
            f"spec must be a mapping or the path of a JSON file, got {type(spec).__name__}")
    _object(spec, "spec", SPEC_KEYS)
    if "graph" not in spec:
        _fail("spec", "needs \"graph\": {\"node\": [...]}")
    target = _export_target(export_dir, version)

    tags = spec.get("tags", ["serve"])
    for index, tag in enumerate(_array(tags, "spec.tags")):
        _string(tag, f"spec.tags[{index}]")
    if not tags:
        _fail("spec.tags", "expected at least one tag, e.g. [\"serve\"]")
    if "description" in spec and not isinstance(spec["description"], str):
        _fail("spec.description", f"expected a string, got {_json_type(spec['description'])}")

    weights, strict = _map_weights(spec.get("weights", {}), root)
    resolved = _assemble_graph(spec, weights, strict, root)
    signatures = _parse_signatures(spec.get("signatures", {}), resolved.graph)
    init_op = None
    if "init_op" in spec:
        init_op = _string(spec["init_op"], "spec.init_op")
        if not resolved.graph.has_node(init_op):
            _fail("spec.init_op", f"no node {init_op!r} in the graph"
                                  f"{_close(init_op, [n.name for n in resolved.graph.nodes])}",
                  NotFoundError)

    builder = SavedModelBuilder(target)
    builder.add_meta_graph_and_variables(
        resolved.graph, list(tags), signature_def_map=signatures, assets=resolved.assets,
        init_op=init_op, variables=resolved.values)
    builder.save()
    return target
