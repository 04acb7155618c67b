"""``pysavedmodel convert``: placeholder until its helper lands it."""

from __future__ import annotations

import argparse
from typing import Any

from pysavedmodel.errors import Error


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("convert", parents=[common], help="(not yet built)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise Error("'convert' is not built yet")
