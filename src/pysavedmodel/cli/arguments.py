"""Argument types shared by the commands (one definition each)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["version_number", "positive_int", "warmup_from_npz", "add_warmup_and_durable",
           "add_shards", "add_format"]


def _integer(text: str, minimum: int, expected: str) -> int:
    """``text`` as a base-10 integer >= ``minimum``; else argparse's usage error, saying
    ``expected``."""
    try:
        value = int(text, 10)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def version_number(text: str) -> int:
    """``--version N``: a non-negative integer, TF Serving's version folder name."""
    return _integer(text, 0, "a non-negative integer (TF Serving's version folder)")


def add_warmup_and_durable(parser: argparse.ArgumentParser) -> None:
    """``--warmup INPUTS.npz`` and ``--no-durable``, for the commands that write a SavedModel."""
    parser.add_argument("--warmup", metavar="INPUTS.npz", default=None,
                        help="write TF Serving warmup requests from an .npz: key "
                             "SIGNATURE/INPUT (or INPUT for serving_default) holds the "
                             "requests stacked on a new first axis (request i sends "
                             "array[i])")
    parser.add_argument("--no-durable", dest="durable", action="store_false",
                        help="skip the fsyncs that make the result survive a power loss "
                             "(faster; default: fsync every file and directory)")


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    return _integer(text, 1, "a positive integer")


def add_shards(parser: argparse.ArgumentParser) -> None:
    """``--shards N``, for the commands that write a SavedModel."""
    parser.add_argument("--shards", type=positive_int, default=None, metavar="N",
                        dest="num_shards",
                        help="data files of the variables' checkpoint (default: one per "
                             "started 256 MiB, at most 16, written in parallel; 1 gives "
                             "TensorFlow's single file)")


def add_format(parser: argparse.ArgumentParser, default: str) -> None:
    """``--format auto|tf2|tf1``, for the commands that write a SavedModel."""
    parser.add_argument("--format", choices=("auto", "tf2", "tf1"), default=default,
                        help=f"tf2: add the TF2 object graph (a 'serve' function and the "
                             f"variables for fine-tuning: what tf.saved_model.load, Keras "
                             f"TFSMLayer and hub.KerasLayer use) with an object-based "
                             f"checkpoint; tf1: a TF1-style MetaGraph only (needed for "
                             f"train ops, several meta graphs and signature inputs that "
                             f"are not placeholders); auto: tf2 unless the model needs "
                             f"tf1; default: {default}")


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
