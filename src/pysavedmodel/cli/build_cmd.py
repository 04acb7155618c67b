"""``pysavedmodel build SPEC -o DIR [--version N]``: a SavedModel from a JSON spec.

The spec format is documented in :mod:`pysavedmodel.spec` (and
``examples/mlp/README.md``).  Prints the directory written: ``DIR``, or
``DIR/N`` with ``--version N`` (TF Serving's layout).
"""

from __future__ import annotations

import argparse
from typing import Any


def _version(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"expected a non-negative integer (TF Serving's version folder), got {text!r}")
    return value


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "build", parents=[common], help="build a SavedModel from a JSON spec",
        description="Build a SavedModel from a declarative JSON spec: graph nodes, weights "
                    "from files (renamed, transposed, cast), signatures, assets, tags, init "
                    "op. Relative paths in the spec are resolved against its directory. "
                    "Prints the directory written.",
        epilog="The spec format is documented in the module pysavedmodel.spec "
               "(python -m pydoc pysavedmodel.spec) and in examples/mlp/README.md.")
    parser.add_argument("spec", metavar="SPEC", help="the spec (a JSON file)")
    parser.add_argument("-o", "--output", required=True, metavar="DIR",
                        help="export directory (must not exist or be empty)")
    parser.add_argument("--version", type=_version, default=None, metavar="N",
                        help="write DIR/N instead (TF Serving's layout; DIR may hold other "
                             "versions)")
    parser.add_argument("--no-durable", dest="durable", action="store_false",
                        help="skip the fsyncs that make the result survive a power loss "
                             "(faster; default: fsync every file and directory)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pysavedmodel.spec import build_from_spec

    written = build_from_spec(args.spec, args.output, version=args.version,
                              durable=args.durable)
    print(written)
    return 0
