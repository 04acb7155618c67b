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
    parser.add_argument("out_dir", help="a directory or URL to create (must not exist or be "
                                        "empty)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pysavedmodel import remote
    from pysavedmodel.demo import run_demo

    out_dir = remote.local_location(args.out_dir)
    run_demo(out_dir if remote.is_remote(out_dir) else Path(out_dir))
    return 0
