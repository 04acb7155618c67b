"""``pysavedmodel build SPEC -o DIR [--version N]``: a SavedModel from a JSON spec.

The spec format is documented in :mod:`pysavedmodel.spec` (and
``examples/mlp/README.md``).  Prints the directory written: ``DIR``, or
``DIR/N`` with ``--version N`` (TF Serving's layout).
"""

from __future__ import annotations

import argparse
from typing import Any

from .arguments import version_number


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
    parser.add_argument("--version", type=version_number, default=None, metavar="N",
                        help="write DIR/N instead (TF Serving's layout; DIR may hold other "
                             "versions)")
    parser.add_argument("--warmup", metavar="INPUTS.npz", default=None,
                        help="write TF Serving warmup requests from an .npz: key "
                             "SIGNATURE/INPUT (or INPUT for serving_default) holds the "
                             "requests stacked on a new first axis (request i sends "
                             "array[i])")
    parser.add_argument("--no-durable", dest="durable", action="store_false",
                        help="skip the fsyncs that make the result survive a power loss "
                             "(faster; default: fsync every file and directory)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pysavedmodel.spec import build_from_spec

    warmup = None if args.warmup is None else warmup_from_npz(args.warmup)
    written = build_from_spec(args.spec, args.output, version=args.version,
                              durable=args.durable, warmup=warmup)
    print(written)
    return 0


def warmup_from_npz(path: str) -> dict[str, list[dict[str, Any]]]:
    """Predict warmup requests from an .npz (see ``--warmup``): ``{signature: [request]}``."""
    from pysavedmodel.constants import DEFAULT_SERVING_SIGNATURE_DEF_KEY
    from pysavedmodel.errors import InvalidArgumentError
    from pysavedmodel.weights import load_weights

    arrays = load_weights(path, format="npz")
    stacked: dict[str, dict[str, Any]] = {}
    for key, array in arrays.items():
        signature, _, name = key.rpartition("/")
        signature = signature or DEFAULT_SERVING_SIGNATURE_DEF_KEY
        if array.ndim == 0:
            raise InvalidArgumentError(
                f"--warmup {path}: {key!r} is a scalar; requests are stacked on the first axis")
        stacked.setdefault(signature, {})[name] = array
    requests: dict[str, list[dict[str, Any]]] = {}
    for signature, inputs in stacked.items():
        counts = {name: len(array) for name, array in inputs.items()}
        if len(set(counts.values())) != 1:
            raise InvalidArgumentError(
                f"--warmup {path}: signature {signature!r} inputs hold different numbers of "
                f"requests: {counts}")
        (count,) = set(counts.values())
        requests[signature] = [{name: array[i] for name, array in inputs.items()}
                               for i in range(count)]
    return requests
