"""``pysavedmodel checkpoint PREFIX``: list a checkpoint's tensors or print their values."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

import numpy as np

VALUES_THRESHOLD = 1000
"""Arrays with more elements are summarized (first and last items) in text output."""


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "checkpoint", parents=[common],
        help="list the tensors of a TensorBundle checkpoint, or print their values",
        description="List the tensors of a TensorBundle checkpoint (name, dtype, shape, bytes "
                    "stored, data file shard) or print values with --tensor.  PREFIX is the "
                    "path without .index / .data-*; a SavedModel directory means its "
                    "variables/variables.")
    parser.add_argument("prefix", metavar="PREFIX",
                        help="checkpoint prefix or URL, e.g. model/ckpt, s3://bucket/ckpt/model")
    parser.add_argument("--tensor", metavar="NAME", action="append", default=[],
                        help="print this tensor's values (numpy style, summarized beyond "
                             f"{VALUES_THRESHOLD} elements); repeatable")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON document instead of text (values as nested lists "
                             "with --tensor)")
    parser.set_defaults(func=run)


def _shape_text(shape: list[int]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _shard_text(row: dict[str, Any]) -> str:
    shards = ",".join(str(s) for s in row["shards"]) or "-"
    return f"{shards} ({row['slices']} slices)" if row["slices"] else shards


def _table(rows: list[dict[str, Any]]) -> str:
    header: tuple[str, ...] = ("name", "dtype", "shape", "bytes", "shard")
    cells: list[tuple[str, ...]] = [
        (r["name"], r["dtype"], _shape_text(r["shape"]), str(r["bytes"]), _shard_text(r))
        for r in rows]
    if any("variable" in r for r in rows):  # TF2 object-based: plain variable paths too
        header = (*header, "variable")
        cells = [(*c, r.get("variable") or "-") for c, r in zip(cells, rows)]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(header)]
    lines = []
    for cell in [header, *cells]:
        padded = [cell[i].rjust(widths[i]) if i == 3 else cell[i].ljust(widths[i])
                  for i in range(len(header))]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def _printable(value: np.ndarray) -> np.ndarray:
    """ml_dtypes types (bfloat16, float8_*, int4...) as plain numpy ones; widening is exact."""
    if value.dtype.type.__module__.split(".")[0] != "ml_dtypes":
        return value
    is_float = value.dtype.name.startswith(("float", "bfloat"))
    return value.astype(np.float32 if is_float else np.int64)


def values_text(value: np.ndarray) -> str:
    """numpy's array2string, summarized beyond :data:`VALUES_THRESHOLD` elements."""
    return np.array2string(_printable(value), threshold=VALUES_THRESHOLD, edgeitems=3,
                           separator=" ")


def _json_scalar(item: Any) -> Any:
    if isinstance(item, bytes):
        return item.decode("utf-8", "backslashreplace")
    if isinstance(item, complex):
        return [_json_scalar(item.real), _json_scalar(item.imag)]
    if isinstance(item, float) and not math.isfinite(item):
        return "NaN" if math.isnan(item) else ("Infinity" if item > 0 else "-Infinity")
    return item


def json_values(value: np.ndarray) -> Any:
    """Nested lists of JSON values: narrow floats widened, complex as [re, im], bytes as
    UTF-8 text (undecodable bytes backslash-escaped), non-finite floats as strings."""
    plain = _printable(value)
    if plain.dtype.kind == "f":
        plain = plain.astype(np.float64)

    def convert(item: Any) -> Any:
        if isinstance(item, list):
            return [convert(x) for x in item]
        return _json_scalar(item)

    return convert(plain.tolist())


def run(args: argparse.Namespace) -> int:
    from pysavedmodel import remote
    from pysavedmodel.weights import detect_format, remote_checkpoint_prefix

    if isinstance(args.prefix, str) and remote.is_remote(args.prefix):
        url = remote_checkpoint_prefix(args.prefix)
        staging = remote.Staging()  # downloaded once, read locally
        try:
            return _run(args, url, remote.fetch_checkpoint(url, staging.root))
        finally:
            staging.cleanup()
    # PREFIX, PREFIX.index, a data file's name or a SavedModel directory.
    prefix = str(detect_format(remote.local_location(args.prefix), "checkpoint")[1])
    return _run(args, prefix, prefix)


def _run(args: argparse.Namespace, prefix: str, local: str) -> int:
    """``checkpoint`` on the local checkpoint ``local``, shown as ``prefix``."""
    from pysavedmodel.format.bundle import CheckpointReader
    from pysavedmodel.savedmodel.describe import describe_checkpoint

    rows = describe_checkpoint(local)
    objects = _add_plain_names(local, rows)
    if args.tensor:
        by_name = {row["name"]: row for row in rows}
        for row in rows:  # plain variable paths of a TF2 checkpoint; stored names win
            by_name.setdefault(row.get("variable") or row["name"], row)
        with CheckpointReader(local) as reader:
            picked = []
            for name in args.tensor:
                if name in by_name:
                    name = by_name[name]["name"]
                else:
                    reader.get_tensor(name)  # raises NotFoundError naming the tensor
                picked.append((by_name[name], reader.read(name)))
        if args.json:
            doc = {"prefix": prefix, "tensors": [
                {**row, "values": json_values(value)} for row, value in picked]}
            print(json.dumps(doc, allow_nan=False))
            return 0
        for i, (row, value) in enumerate(picked):
            if i:
                print()
            print(f"{row['name']}: {row['dtype']} {_shape_text(row['shape'])}")
            print(values_text(value))
        return 0
    if args.json:
        listing: dict[str, Any] = {"prefix": prefix, "tensors": rows}
        if objects is not None:
            listing["object_graph_nodes"] = objects
        print(json.dumps(listing))
        return 0
    print(_table(rows))
    total = sum(row["bytes"] for row in rows)
    shards = sorted({s for row in rows for s in row["shards"]})
    print(f"{len(rows)} tensors, {total} bytes in {len(shards)} data file(s)")
    if objects is not None:
        print(f"TF2 object-based checkpoint: {objects} objects in its object graph")
    return 0


def _add_plain_names(prefix: str, rows: list[dict[str, Any]]) -> int | None:
    """For a TF2 checkpoint, set each row's ``variable`` (plain path); return the object count."""
    from pysavedmodel.errors import InvalidArgumentError
    from pysavedmodel.format.bundle import CheckpointReader
    from pysavedmodel.format.object_graph import (
        OBJECT_GRAPH_KEY,
        parse_object_graph,
        plain_names,
    )

    names = [row["name"] for row in rows]
    if OBJECT_GRAPH_KEY not in names:
        return None
    with CheckpointReader(prefix) as reader:
        graph = parse_object_graph(reader.read(OBJECT_GRAPH_KEY))
    try:
        plain = plain_names(names)
    except InvalidArgumentError:  # two keys with one plain name: list the raw keys only
        plain = {}
    for row in rows:
        row["variable"] = plain.get(row["name"])
    return len(graph.nodes)
