"""``pysavedmodel build SPEC -o DIR [--version N]``: a SavedModel from a JSON spec.

The spec format is documented in :mod:`pysavedmodel.spec` (and
``examples/mlp/README.md``).  Prints the directory written: ``DIR``, or
``DIR/N`` with ``--version N`` (TF Serving's layout).
"""

from __future__ import annotations

import argparse
from typing import Any

from .arguments import (
    add_format,
    add_shards,
    add_warmup_and_durable,
    version_number,
    warmup_from_npz,
)


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "build", parents=[common], help="build a SavedModel from a JSON spec",
        description="Build a SavedModel from a declarative JSON spec: graph nodes, weights "
                    "from files (renamed, transposed, cast), signatures, assets, tags, init "
                    "op. Relative paths in the spec are resolved against its directory. "
                    "Prints the directory written.",
        epilog="The spec format is documented in the module pysavedmodel.spec "
               "(python -m pydoc pysavedmodel.spec) and in examples/mlp/README.md.")
    parser.add_argument("spec", metavar="SPEC", help="the spec (a JSON file or its URL)")
    parser.add_argument("-o", "--output", required=True, metavar="DIR",
                        help="export directory or URL, e.g. s3://bucket/models/mlp (must not "
                             "exist or be empty)")
    parser.add_argument("--version", type=version_number, default=None, metavar="N",
                        help="write DIR/N instead (TF Serving's layout; DIR may hold other "
                             "versions)")
    add_warmup_and_durable(parser)
    add_shards(parser)
    add_format(parser, "auto")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pysavedmodel.spec import build_from_spec

    warmup = None if args.warmup is None else warmup_from_npz(args.warmup)
    written = build_from_spec(args.spec, args.output, version=args.version,
                              durable=args.durable, warmup=warmup, format=args.format,
                              num_shards=args.num_shards)
    print(written)
    return 0
