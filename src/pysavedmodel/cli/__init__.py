"""Command-line interface: ``pysavedmodel`` (or ``python -m pysavedmodel``).

One module per command (``show``, ``checkpoint``, ``validate``, ``build``,
``convert``, ``from-onnx``, ``demo``; module
``from_onnx_cmd``); each has ``register(subparsers, common)`` adding its
parser with ``func`` set to a ``run(args) -> int`` handler.  Heavy imports
happen inside the handlers so ``--help`` stays fast.

Errors from the pysavedmodel family print one line and exit with status 1;
``--debug`` shows the traceback instead.  Every path argument may be a URL
(``s3://...``, ``gs://...``, ``memory://``, ``file://...``; :mod:`pysavedmodel.remote`,
needs ``pip install 'pysavedmodel[remote]'``), except ``demo``'s; a URL whose scheme
cannot be used (no fsspec, a scheme fsspec does not know, s3fs missing) fails in one
line before the command runs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from pysavedmodel.errors import Error

__all__ = ["main", "build_parser", "COMMANDS"]

COMMANDS = ("show", "checkpoint", "validate", "build", "convert", "from-onnx", "demo")
"""Command names, in help order; each lives in ``pysavedmodel.cli.<name>_cmd``."""


def _common_flags() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress bar or chatter on stderr")
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback on errors")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common_flags()
    parser = argparse.ArgumentParser(
        prog="pysavedmodel", parents=[common],
        description="Write, inspect and validate TensorFlow SavedModels and checkpoints "
                    "without TensorFlow.",
        epilog="Paths may be URLs (s3://, gs://, memory://, file://, anything fsspec knows; "
               "pip install 'pysavedmodel[remote]' plus s3fs or gcsfs), except demo's.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"pysavedmodel.cli.{name.replace('-', '_')}_cmd")
        module.register(sub, common)
    return parser


def _fail(message: str) -> int:
    one_line = " ".join(message.split())  # a multi-line message must stay one line
    print(f"pysavedmodel: error: {one_line}", file=sys.stderr)
    return 1


def _check_urls(args: argparse.Namespace) -> None:
    """Fail early, in one line, on a URL argument whose scheme cannot be used: no fsspec
    (MissingDependencyError naming the extra), a scheme fsspec does not know
    (UnsupportedError), a scheme whose package is missing (s3fs, gcsfs...)."""
    from pysavedmodel import remote

    for _, value in sorted(vars(args).items()):
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and remote.is_remote(item):
                remote.filesystem(item)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    0 ok; 1 an error (one line on stderr, ``--debug`` for the traceback) or findings;
    2 a usage error (argparse); 130 interrupted; 141 stdout closed early (``| head``).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    args.quiet = getattr(args, "quiet", False)
    args.debug = getattr(args, "debug", False)
    try:
        _check_urls(args)
        return int(args.func(args))
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("pysavedmodel: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away; point stdout at devnull so the exit flush stays quiet.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):  # stdout is not a file descriptor
            pass
        return 141
    except Error as exc:
        if args.debug:
            raise
        return _fail(str(exc))
    except OSError as exc:  # e.g. permission denied, disk full
        if args.debug:
            raise
        return _fail(f"{exc.strerror or exc}: {exc.filename!r}" if exc.filename else str(exc))
    except Exception as exc:  # a bug: still one line, with the way to see more
        if args.debug:
            raise
        return _fail(f"internal error {type(exc).__name__}: {exc} "
                     "(rerun with --debug for the traceback and please report it)")
