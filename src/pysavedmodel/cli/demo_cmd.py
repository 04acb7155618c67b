"""``pysavedmodel demo OUT_DIR``: write and read back a checkpoint and an MLP SavedModel."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "demo", parents=[common],
        help="write and read back a checkpoint and an MLP SavedModel",
        description="Write and read back a checkpoint and an MLP SavedModel under OUT_DIR.")
    parser.add_argument("out_dir", help="a directory to create (must not exist or be empty)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pysavedmodel import remote
    from pysavedmodel.demo import run_demo
    from pysavedmodel.errors import UnsupportedError

    if remote.is_remote(args.out_dir):
        raise UnsupportedError(
            f"demo OUT_DIR {args.out_dir!r} is a URL; the demo writes and reads back a local "
            f"directory, expected a local path (build, from-onnx, convert take URLs)")
    run_demo(Path(remote.local_location(args.out_dir)))
    return 0
