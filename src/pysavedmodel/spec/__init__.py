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
    ``files``: weight files, paths relative to the spec's directory
    (:mod:`.files`: the one rule, for assets too; URLs allowed), read
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

Where each part is read: :mod:`.weights_map` (``weights``), :mod:`.variables`
(``variables``), :mod:`.graph_parts` (``graph``, ``assets``, ``signatures``,
``init_op``), all through the JSON-path readers of :mod:`.json_paths`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from .. import remote
from ..aliases import Location
from ..builder.builder import SavedModelBuilder
from ..errors import AlreadyExistsError, InvalidArgumentError, NotFoundError
from .graph_parts import assemble_graph, parse_init_op, parse_signatures
from .json_paths import expect_array, expect_object, expect_string, fail, json_type
from .weights_map import map_weights

__all__ = ["build_from_spec", "load_spec", "SPEC_KEYS"]

SPEC_KEYS: Final = ("description", "tags", "weights", "variables", "assets", "graph",
                    "signatures", "init_op")


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
            f"{json_type(spec)}")
    return spec


def build_from_spec(spec: Mapping[str, Any] | str | os.PathLike[str],
                    export_dir: str | os.PathLike[str], *, version: int | None = None,
                    base_dir: str | os.PathLike[str] | None = None,
                    durable: bool = True,
                    warmup: Mapping[str, Any] | None = None, format: str = "auto",
                    num_shards: int | None = None) -> Location:
    """Build the SavedModel a spec describes; return the directory written.

    ``spec``: a parsed spec (mapping) or the path of a JSON spec file (see
    the module docstring for the schema).  Relative file paths in it are
    resolved against ``base_dir``, by default the spec file's directory (the
    current directory for a mapping).  ``version``: write
    ``export_dir/<version>`` (TF Serving's layout; ``export_dir`` may hold
    other versions) instead of ``export_dir`` itself.  The target must not
    exist or be empty.  Nothing is written unless the whole spec is valid.
    ``durable`` and ``num_shards``: see :meth:`SavedModelBuilder.save` (fsync before
    publishing; the checkpoint's data files, by default one per started 256 MiB).
    ``warmup``: TF Serving warmup requests, as
    :meth:`SavedModelBuilder.add_warmup_requests` takes them.  ``format``: ``"auto"``
    (default), ``"tf2"`` or ``"tf1"``, as :class:`SavedModelBuilder` takes it.

    ``export_dir`` may be a URL (``s3://bucket/models/mlp``; the ``remote`` extra): the
    SavedModel is built locally and uploaded, ``saved_model.pb`` last.  A URL ``spec``
    (or ``base_dir``) is read from the store: the files it names are resolved against
    the spec's URL (:mod:`.files`) and read from there — weights by the remote readers,
    assets downloaded into a private temporary directory.
    """
    staging: remote.Staging | None = None  # downloads: a URL spec, URL assets
    try:
        root: Location
        if isinstance(spec, str) and remote.is_remote(spec):
            staging = remote.Staging()
            spec_url = spec
            spec = load_spec(remote.fetch_file(spec_url, staging.root))
            root = spec_url.rstrip("/").rpartition("/")[0]
        elif isinstance(spec, (str, os.PathLike)):
            spec_path = Path(os.fspath(remote.local_location(os.fspath(spec))))
            spec = load_spec(spec_path)
            root = spec_path.parent
        elif isinstance(spec, Mapping):
            root = Path.cwd()
        else:
            raise InvalidArgumentError(
                f"spec must be a mapping or the path of a JSON file, got {type(spec).__name__}")
        if base_dir is not None:
            located = remote.local_location(os.fspath(base_dir))
            root = located if remote.is_remote(located) else Path(located)
        return _build(spec, root, export_dir, version, durable, warmup, staging, format,
                      num_shards)
    finally:
        if staging is not None:
            staging.cleanup()


def _build(spec: Mapping[str, Any], root: Location, export_dir: str | os.PathLike[str],
           version: int | None, durable: bool, warmup: Mapping[str, Any] | None,
           staging: remote.Staging | None, format: str, num_shards: int | None) -> Location:
    """:func:`build_from_spec` of a parsed ``spec`` whose files are relative to ``root``
    (:mod:`.files`); URL assets are downloaded into ``staging`` (made if None)."""
    expect_object(spec, "spec", SPEC_KEYS)
    if "graph" not in spec:
        fail("spec", "needs \"graph\": {\"node\": [...]}")
    target = _export_target(export_dir, version)

    tags = spec.get("tags", ["serve"])
    for index, tag in enumerate(expect_array(tags, "spec.tags")):
        expect_string(tag, f"spec.tags[{index}]")
    if not tags:
        fail("spec.tags", "expected at least one tag, e.g. [\"serve\"]")
    if "description" in spec and not isinstance(spec["description"], str):
        fail("spec.description", f"expected a string, got {json_type(spec['description'])}")

    weights, strict = map_weights(spec.get("weights", {}), root)
    resolved = assemble_graph(spec, weights, strict, root)
    signatures = parse_signatures(spec.get("signatures", {}), resolved.graph)
    init_op = parse_init_op(spec, resolved.graph)

    assets = dict(resolved.assets)
    remote_assets = {k: v for k, v in assets.items() if remote.is_remote(v)}
    own = remote.Staging() if staging is None and remote_assets else None
    downloads = own or staging
    try:
        for index, (tensor, url) in enumerate(remote_assets.items()):
            if downloads is None:  # cannot happen: made above when there are URL assets
                raise AssertionError(url)
            directory = downloads.root / f"asset{index}"  # one each: base names may repeat
            directory.mkdir()
            assets[tensor] = str(remote.fetch_file(url, directory))
        builder = SavedModelBuilder(target, format=format)
        builder.add_meta_graph_and_variables(
            resolved.graph, list(tags), signature_def_map=signatures, assets=assets,
            init_op=init_op, variables=resolved.values)
        if warmup is not None:
            builder.add_warmup_requests(warmup, tags=list(tags))
        builder.save(durable=durable, num_shards=num_shards)
    finally:
        if own is not None:
            own.cleanup()
    return target


def _export_target(export_dir: str | os.PathLike[str], version: Any) -> Location:
    """``export_dir``, or ``export_dir/<version>`` (which must not exist or be empty);
    a URL ``str`` for a URL (checked by the builder)."""
    location = remote.local_location(os.fspath(export_dir))
    base = Path(location)
    if version is not None and (
            isinstance(version, bool) or not isinstance(version, int) or version < 0):
        raise InvalidArgumentError(
            f"version must be a non-negative integer (TF Serving's DIR/N layout), "
            f"got {version!r}")
    if remote.is_remote(location):
        return location if version is None else remote.join(location, str(version))
    if version is None:
        return base
    if base.exists() and not base.is_dir():
        raise AlreadyExistsError(
            f"{str(base)!r} exists and is not a directory; --version N writes DIR/N")
    target = base / str(version)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise AlreadyExistsError(
            f"version {version} already exists in {str(base)!r} ({str(target)!r} is not empty); "
            "choose a new version number")
    return target
