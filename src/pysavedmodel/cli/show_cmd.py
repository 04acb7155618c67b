"""``pysavedmodel show DIR``: what ``saved_model_cli show`` prints, plus variables and assets.

Without flags it lists the tag sets; ``--tag_set`` lists that meta graph's SignatureDef
keys; adding ``--signature_def`` shows one signature's inputs and outputs; ``--all``
shows every signature of every meta graph, then the variables and assets.  The text
follows saved_model_cli's lines (``dtype: DT_FLOAT``, ``shape: (-1, 4)``, ``name: x:0``,
``Method name is: ...``); ``--json`` prints the same facts as one JSON document.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from pysavedmodel.errors import InvalidArgumentError, NotFoundError


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "show", parents=[common],
        help="show a SavedModel's tag sets, signatures, variables and assets",
        description="Show a SavedModel like saved_model_cli show: tag sets, SignatureDefs "
                    "(input/output keys, dtypes, shapes, tensor names, method names), ops, "
                    "plus the variables in variables/variables (name, dtype, shape, bytes) "
                    "and the assets.")
    parser.add_argument("dir", metavar="DIR", nargs="?", help="the SavedModel directory or URL")
    parser.add_argument("--dir", dest="dir_flag", metavar="DIR",
                        help="same as the positional DIR (saved_model_cli spelling)")
    parser.add_argument("--tag_set", "--tag-set", metavar="TAGS",
                        help="the meta graph to show, tags separated by commas ('serve')")
    parser.add_argument("--signature_def", "--signature-def", metavar="KEY",
                        help="with --tag_set: show this SignatureDef's inputs and outputs")
    parser.add_argument("--list_ops", "--list-ops", action="store_true",
                        help="with --tag_set: list the ops the meta graph uses")
    parser.add_argument("--all", action="store_true",
                        help="show every meta graph and signature, the variables and assets")
    parser.add_argument("--json", action="store_true",
                        help="print the facts as one JSON document")
    parser.set_defaults(func=run)


def shape_text(shape: list[int] | None) -> str:
    """saved_model_cli's spelling: ``(-1, 3)``, ``(-1)``, ``()``, ``unknown_rank``."""
    if shape is None:
        return "unknown_rank"
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _tensor_lines(kind: str, key: str, info: dict[str, Any], indent: str) -> list[str]:
    lines = [f"{indent}  {kind}['{key}'] tensor_info:",
             f"{indent}      dtype: {info['dtype']}",
             f"{indent}      shape: {shape_text(info['shape'])}",
             f"{indent}      name: {info['name']}"]
    if "coo_sparse" in info:
        parts = info["coo_sparse"]
        lines.append(f"{indent}      coo_sparse: values {parts['values']}, indices "
                     f"{parts['indices']}, dense_shape {parts['dense_shape']}")
    if "composite_tensor" in info:
        names = ", ".join(c["name"] for c in info["composite_tensor"])
        lines.append(f"{indent}      composite_tensor components: {names}")
    return lines


def signature_lines(signature: dict[str, Any], indent: str = "") -> list[str]:
    """The input/output/method lines of one SignatureDef."""
    lines = [f"{indent}The given SavedModel SignatureDef contains the following input(s):"]
    for key, info in signature["inputs"].items():
        lines += _tensor_lines("inputs", key, info, indent)
    lines.append(f"{indent}The given SavedModel SignatureDef contains the following output(s):")
    for key, info in signature["outputs"].items():
        lines += _tensor_lines("outputs", key, info, indent)
    lines.append(f"{indent}Method name is: {signature['method_name']}")
    return lines


def ops_line(meta_graph: dict[str, Any]) -> str:
    ops = "{" + ", ".join(repr(op) for op in meta_graph["ops"]) + "}"
    return (f"The MetaGraph with tag set {meta_graph['tags']!r} contains the following ops: "
            f"{ops}")


def _variables_lines(facts: dict[str, Any]) -> list[str]:
    variables = facts["variables"]
    total = sum(v["bytes"] for v in variables)
    lines = [f"\nVariables (variables/variables: {len(variables)} tensors, {total} bytes):"]
    for v in variables:
        shards = ",".join(str(s) for s in v["shards"])
        key = f" (key {v['key']})" if v["key"] != v["name"] else ""
        lines.append(f"  {v['name']}: dtype {v['dtype']}, shape {shape_text(v['shape'])}, "
                     f"{v['bytes']} bytes, shard {shards}{key}")
    if facts["object_graph"] is not None:
        lines.append(f"  (object graph: {facts['object_graph']['name']}, "
                     f"{facts['object_graph']['bytes']} bytes)")
    return lines


def _assets_lines(facts: dict[str, Any]) -> list[str]:
    lines = [f"\nAssets (assets/: {len(facts['asset_files'])} files):"]
    for asset in facts["asset_files"]:
        lines.append(f"  {asset['filename']}: {asset['bytes']} bytes")
    return lines


def _meta_graph_extras(meta_graph: dict[str, Any]) -> list[str]:
    lines = []
    if meta_graph["init_op"]:
        lines.append(f"Init op: {meta_graph['init_op']}")
    for asset in meta_graph["assets"]:
        lines.append(f"Asset: {asset['filename']} fed to {asset['tensor']}")
    return lines


def _sorted_meta_graphs(facts: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(facts["meta_graphs"], key=lambda m: list(m["tags"]))


def all_lines(facts: dict[str, Any]) -> list[str]:
    """``--all``: every meta graph (ordered by tags, as saved_model_cli), variables, assets."""
    lines = []
    for meta_graph in _sorted_meta_graphs(facts):
        lines.append(f"\nMetaGraphDef with tag-set: '{', '.join(meta_graph['tags'])}' "
                     "contains the following SignatureDefs:")
        for key, signature in meta_graph["signatures"].items():
            lines.append(f"\nsignature_def['{key}']:")
            lines += signature_lines(signature, indent="  ")
        lines.append(ops_line(meta_graph))
        lines += _meta_graph_extras(meta_graph)
    return lines + _variables_lines(facts) + _assets_lines(facts) + _warmup_lines(facts)


def _warmup_lines(facts: dict[str, Any]) -> list[str]:
    records = facts.get("warmup") or []
    if not records:
        return []
    lines = [f"\nWarmup requests (assets.extra/tf_serving_warmup_requests: "
             f"{len(records)} records):"]
    for index, record in enumerate(records):
        if "inputs" in record:
            what = ", ".join(f"{k}: {v['dtype']} {v['shape']}"
                             for k, v in record["inputs"].items())
        else:
            what = f"{record.get('examples', 0)} tf.Example(s)"
        lines.append(f"  {index}: {record['kind']} {record.get('signature', '?')!r}: {what}")
    return lines


def _signature(meta_graph: dict[str, Any], key: str, tag_set: str) -> dict[str, Any]:
    signature: dict[str, Any] | None = meta_graph["signatures"].get(key)
    if signature is None:
        known = ", ".join(repr(k) for k in meta_graph["signatures"]) or "none"
        raise NotFoundError(
            f"no SignatureDef {key!r} in the meta graph with tag set {tag_set!r}; it has: {known}")
    return signature


def run(args: argparse.Namespace) -> int:
    from pysavedmodel.savedmodel.describe import describe_saved_model, find_meta_graph

    directory = args.dir if args.dir is not None else args.dir_flag
    if directory is None:
        raise InvalidArgumentError("show needs a SavedModel directory (DIR or --dir DIR)")
    if args.dir is not None and args.dir_flag is not None and args.dir != args.dir_flag:
        raise InvalidArgumentError(
            f"two directories given: {args.dir!r} and --dir {args.dir_flag!r}")
    if args.signature_def is not None and args.tag_set is None and not args.all:
        raise InvalidArgumentError("--signature_def needs --tag_set (e.g. --tag_set serve)")
    facts = describe_saved_model(directory)
    lines: list[str]
    document: Any
    if args.all or args.tag_set is None:
        document = facts
        if args.all:
            lines = all_lines(facts)
        else:
            lines = ["The given SavedModel contains the following tag-sets:"]
            lines += [repr(", ".join(sorted(m["tags"]))) for m in _sorted_meta_graphs(facts)]
    else:
        meta_graph = find_meta_graph(facts["meta_graphs"], args.tag_set)
        lines = [ops_line(meta_graph)] if args.list_ops else []
        if args.signature_def is None:
            document = meta_graph
            lines.append("The given SavedModel MetaGraphDef contains SignatureDefs with the "
                         "following keys:")
            lines += [f'SignatureDef key: "{key}"' for key in meta_graph["signatures"]]
        else:
            document = _signature(meta_graph, args.signature_def, args.tag_set)
            lines += signature_lines(document)
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        print("\n".join(lines))
    return 0
