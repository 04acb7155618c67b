"""Command-line interface: ``pysavedmodel`` (or ``python -m pysavedmodel``).

    pysavedmodel checkpoint write PREFIX ARRAYS.npz [--num-shards N]
    pysavedmodel checkpoint show PREFIX [--values]
    pysavedmodel savedmodel show EXPORT_DIR
    pysavedmodel demo OUT_DIR

Errors from the pysavedmodel family print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import Error, InvalidArgumentError


def _checkpoint_write(args: argparse.Namespace) -> int:
    from .format.bundle import write_checkpoint

    source = Path(args.arrays)
    if not source.is_file():
        raise InvalidArgumentError(f"arrays file {str(source)!r} does not exist; expected a .npz")
    try:
        with np.load(source, allow_pickle=False) as npz:
            tensors = {name: npz[name] for name in npz.files}
    except ValueError as exc:
        raise InvalidArgumentError(
            f"cannot read {str(source)!r} as a .npz of arrays: {exc}") from None
    paths = write_checkpoint(args.prefix, tensors, num_shards=args.num_shards)
    for path in paths:
        print(path)
    return 0


def _checkpoint_show(args: argparse.Namespace) -> int:
    from .dtypes import from_numpy
    from .format.bundle import CheckpointReader

    with CheckpointReader(args.prefix) as reader:
        for name in sorted(reader.keys()):
            shape = "[" + ",".join(str(d) for d in reader.shape(name)) + "]"
            print(f"{name}\t{from_numpy(reader.dtype(name)).name}\t{shape}")
            if args.values:
                print(np.array2string(reader.get_tensor(name), threshold=20))
    return 0


def _savedmodel_show(args: argparse.Namespace) -> int:
    from ._proto import saved_model_pb2
    from .dtypes import DTYPES

    path = Path(args.export_dir) / "saved_model.pb"
    if not path.is_file():
        raise InvalidArgumentError(f"no saved_model.pb in {str(args.export_dir)!r}")
    model = saved_model_pb2.SavedModel.FromString(path.read_bytes())
    for meta in model.meta_graphs:
        print(f"tags: {','.join(meta.meta_info_def.tags)}")
        for key in sorted(meta.signature_def):
            sig = meta.signature_def[key]
            print(f"  signature {key!r} ({sig.method_name or 'no method'})")
            for kind, infos in (("input", sig.inputs), ("output", sig.outputs)):
                for name in sorted(infos):
                    info = infos[name]
                    row = DTYPES.get(info.dtype)
                    dims = ("unknown rank" if info.tensor_shape.unknown_rank else
                            "[" + ",".join(str(d.size) for d in info.tensor_shape.dim) + "]")
                    dtype = row.name if row else info.dtype
                    print(f"    {kind} {name}: {info.name} {dtype} {dims}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(Path(args.out_dir))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pysavedmodel",
        description="Write TensorFlow checkpoints and SavedModels without TensorFlow.")
    sub = parser.add_subparsers(dest="command", required=True)

    ckpt = sub.add_parser("checkpoint", help="TensorBundle checkpoints").add_subparsers(
        dest="action", required=True)
    write = ckpt.add_parser("write", help="write the arrays of a .npz as a checkpoint")
    write.add_argument("prefix", help="checkpoint prefix (writes PREFIX.index, PREFIX.data-*)")
    write.add_argument("arrays", help=".npz file of named arrays")
    write.add_argument("--num-shards", type=int, default=1, help="data files to split into")
    write.set_defaults(func=_checkpoint_write)
    show = ckpt.add_parser("show", help="list a checkpoint's tensors")
    show.add_argument("prefix")
    show.add_argument("--values", action="store_true", help="print values too")
    show.set_defaults(func=_checkpoint_show)

    sm = sub.add_parser("savedmodel", help="SavedModel directories").add_subparsers(
        dest="action", required=True)
    sm_show = sm.add_parser("show", help="list meta graphs and signatures")
    sm_show.add_argument("export_dir")
    sm_show.set_defaults(func=_savedmodel_show)

    demo = sub.add_parser("demo", help="write and read back a checkpoint and an MLP SavedModel")
    demo.add_argument("out_dir", help="a directory to create (must not exist or be empty)")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except Error as exc:
        print(f"pysavedmodel: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
