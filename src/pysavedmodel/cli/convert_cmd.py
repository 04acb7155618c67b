"""``pysavedmodel convert SRC DST``: weights between checkpoints, safetensors, npz, torch.

Formats are recognised from the paths (see :mod:`pysavedmodel.weights`) unless
``--from`` / ``--to`` name them.  An existing destination is refused unless ``--force``
(which replaces its files).  Prints the written files, one per line.
A TF2 checkpoint's object-graph keys become plain variable paths (``--raw-keys``
keeps them); string tensors safetensors/npz cannot hold are skipped with a warning
on stderr naming them (``--strict`` refuses them instead).
"""

from __future__ import annotations

import argparse
from typing import Any

FORMAT_NAMES = ("checkpoint", "safetensors", "npz", "torch")
"""Mirrors :data:`pysavedmodel.weights.FORMATS` (not imported: ``--help`` stays light)."""


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "convert", parents=[common],
        help="convert weights: TF checkpoint <-> .safetensors <-> .npz (and .pt/.bin sources)",
        description="Convert weights between a TF checkpoint prefix (or a SavedModel "
                    "directory, as a source), .safetensors, .npz and, as a source only, a "
                    "PyTorch .pt/.pth/.bin state dict (needs torch). Prints the written files.")
    parser.add_argument("src", metavar="SRC", help="weights to read (a path or URL)")
    parser.add_argument("dst", metavar="DST",
                        help="file to write (a path or URL): *.safetensors, *.npz, or else a "
                             "checkpoint prefix")
    parser.add_argument("--from", dest="src_format", choices=FORMAT_NAMES, default=None,
                        help="format of SRC (default: from its name)")
    parser.add_argument("--to", dest="dst_format", choices=FORMAT_NAMES[:3], default=None,
                        help="format of DST (default: from its name)")
    parser.add_argument("--force", action="store_true",
                        help="replace DST's files if they exist (default: refuse)")
    parser.add_argument("--raw-keys", action="store_true",
                        help="keep a TF2 checkpoint's keys as stored "
                             "(dense/kernel/.ATTRIBUTES/VARIABLE_VALUE, "
                             "_CHECKPOINTABLE_OBJECT_GRAPH); default: plain variable paths "
                             "(dense/kernel) without the object graph")
    parser.add_argument("--strict", action="store_true",
                        help="refuse string tensors DST cannot hold (safetensors, npz); "
                             "default: skip them with a warning naming them")
    parser.add_argument("--no-durable", dest="durable", action="store_false",
                        help="skip the fsyncs that make the result survive a power loss "
                             "(faster; default: fsync every file and directory)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys
    import warnings

    from pysavedmodel.cli.progress import progress_callback
    from pysavedmodel.weights import convert_weights

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        with progress_callback(args, f"writing {args.dst}") as progress:
            written = convert_weights(
                args.src, args.dst, src_format=args.src_format, dst_format=args.dst_format,
                overwrite=args.force, progress=progress if progress.enabled else None,
                raw_keys=args.raw_keys, strict=args.strict, durable=args.durable)
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    for path in written:
        print(path)
    return 0
