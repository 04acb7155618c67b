"""``pysavedmodel validate DIR``: check offline whether TensorFlow can load and serve a SavedModel.

Prints one line per finding (``CODE where: message``) and exits 1, or prints
``OK: DIR (N meta graphs, M signatures, K variables)`` and exits 0.  ``--json``
prints the findings as a JSON list of ``{"code", "where", "message"}`` instead.
``--for serving|tflite|keras|hub`` adds what that consumer will refuse
(:mod:`pysavedmodel.savedmodel.validate.consumers`).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

CONSUMERS = ("serving", "tflite", "keras", "hub")
"""``--for`` choices (the validate package's ``consumers.CONSUMERS``; kept here so the
CLI starts without importing it)."""


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "validate", parents=[common],
        help="check a SavedModel offline: graph, saver, checkpoint CRCs, assets, signatures",
        description="Check everything that can be checked offline about whether TensorFlow "
                    "can load and serve the SavedModel in DIR. Prints one line per finding "
                    "and exits 1, or prints OK and exits 0. Reads only.")
    parser.add_argument("dir", metavar="DIR", help="a SavedModel directory or URL")
    parser.add_argument("--json", action="store_true",
                        help="print the findings as a JSON list of {code, where, message}")
    parser.add_argument("--for", dest="consumer", choices=CONSUMERS,
                        help="also report what this consumer will refuse: TF Serving, the "
                             "TFLite converter (builtin ops), Keras 3, TF Hub")
    parser.set_defaults(func=run)


def _summary(export_dir: str) -> tuple[int, int, int]:
    """(meta graphs, user signatures, distinct variables) of a model that validated."""
    from pysavedmodel.constants import RESERVED_SIGNATURE_KEYS
    from pysavedmodel.savedmodel.loader import read_saved_model

    model = read_saved_model(export_dir)
    signatures = 0
    variables: set[str] = set()
    for meta in model.meta_graphs:
        signatures += sum(1 for key in meta.signature_def if key not in RESERVED_SIGNATURE_KEYS)
        for node in meta.graph_def.node:
            if node.op == "VarHandleOp":
                variables.add(node.attr["shared_name"].s.decode("utf-8", "replace") or node.name)
            elif node.op in ("VariableV2", "Variable"):
                variables.add(node.name)
    return len(model.meta_graphs), signatures, len(variables)


def run(args: argparse.Namespace) -> int:
    from pysavedmodel import remote

    with remote.local_directory(args.dir) as local:  # a URL is downloaded once
        return _run(args, str(local))


def _run(args: argparse.Namespace, directory: str) -> int:
    from pysavedmodel.savedmodel.validate import validate_saved_model

    findings = validate_saved_model(directory)
    if args.consumer:
        from pysavedmodel.savedmodel.loader import read_saved_model
        from pysavedmodel.savedmodel.validate.consumers import consumer_findings

        if not any(f.code in ("proto-unparseable", "no-meta-graphs") for f in findings):
            findings += consumer_findings(read_saved_model(directory).meta_graphs,
                                          args.consumer)
    if args.json:
        print(json.dumps([finding.as_dict() for finding in findings], indent=2))
    else:
        for finding in findings:
            print(str(finding).replace("\n", " "))
    if findings:
        return 1
    if not args.json:
        metas, signatures, variables = _summary(directory)
        print(f"OK: {args.dir} ({metas} meta graphs, {signatures} signatures, "
              f"{variables} variables)")
    return 0
