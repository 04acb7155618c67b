"""``pysavedmodel from-onnx MODEL.onnx EXPORT_DIR [--version N] [--check]``.

Converts an ONNX model to a SavedModel (see :func:`pysavedmodel.from_onnx`) and prints the
directory written (``EXPORT_DIR`` or ``EXPORT_DIR/N``).  ``--check`` writes nothing: it lists
each ONNX op type the converter does not cover, with its count and first node name, and exits
1 when there is any (0 and "all N op types supported" otherwise).
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


def _shape(text: str) -> tuple[str, list[int | None]]:
    name, sep, dims = text.rpartition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=D1,D2,... got {text!r}")
    try:
        parsed = [None if d in ("?", "-1", "") else int(d) for d in dims.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"dims of {name!r} must be integers or ? (dynamic), got {dims!r}") from None
    return name, parsed


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "from-onnx", parents=[common], help="convert an ONNX model to a SavedModel",
        description="Convert an ONNX model to a SavedModel (no TensorFlow needed; needs "
                    "pip install 'pysavedmodel[onnx]'). The serving_default signature takes "
                    "and returns the ONNX inputs and outputs by name, in their layout. "
                    "Prints the directory written.")
    parser.add_argument("model", metavar="MODEL.onnx",
                        help="the ONNX model, a path or URL (external data is read next to it)")
    parser.add_argument("export_dir", metavar="EXPORT_DIR",
                        help="export directory or URL (must not exist or be empty)")
    parser.add_argument("--version", type=version_number, default=None, metavar="N",
                        help="write EXPORT_DIR/N instead (TF Serving's layout)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; list unsupported op types (count, first node) "
                             "and exit 1 if there are any")
    parser.add_argument("--input-shape", type=_shape, action="append", default=[],
                        metavar="NAME=D1,D2,...",
                        help="override an input's shape (? for a dynamic dim); repeatable")
    parser.add_argument("--tag", action="append", default=None, metavar="TAG",
                        help="meta graph tag (repeatable; default: serve)")
    parser.add_argument("--signature", default="serving_default", metavar="KEY",
                        help="signature key (default: serving_default)")
    add_warmup_and_durable(parser)
    add_shards(parser)
    add_format(parser, "tf2")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pysavedmodel import remote
    from pysavedmodel.onnx import from_onnx, unsupported_ops

    if args.check:
        model = remote.local_location(args.model)
        staging = None
        if remote.is_remote(model):  # the op list needs only the model file
            staging = remote.Staging()
            model = str(remote.fetch_file(model, staging.root))
        try:
            missing = unsupported_ops(model)
        finally:
            if staging is not None:
                staging.cleanup()
        if not missing:
            print(f"{args.model}: every op type is supported")
            return 0
        for op_type, (count, first) in sorted(missing.items()):
            print(f"unsupported {op_type}: {count} node(s), first {first!r}")
        return 1
    from .progress import progress_callback

    location = remote.local_location(args.export_dir)
    target = location if remote.is_remote(location) else Path(location)
    if args.version is not None:
        target = remote.join(target, str(args.version))
    with progress_callback(args, "converting (nodes)") as bar:
        written = from_onnx(args.model, target, tags=tuple(args.tag or ("serve",)),
                            signature_name=args.signature,
                            input_shapes=dict(args.input_shape) or None,
                            progress=bar if bar.enabled else None,
                            warmup=None if args.warmup is None else warmup_from_npz(args.warmup),
                            durable=args.durable, format=args.format,
                            num_shards=args.num_shards)
    print(written)
    return 0
