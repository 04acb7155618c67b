"""Compile protos/ into the generated package src/pysavedmodel/_proto/.

    python scripts/compile_protos.py            # regenerate in place
    python scripts/compile_protos.py --check    # exit 1 if the committed code is stale

Needs grpcio-tools (a development dependency).  The generated modules are
rewritten in three ways so that they can live beside TensorFlow's own copies of
the same files in one process:

* they register into pysavedmodel's private DescriptorPool (``_pool.POOL``),
  not protobuf's default pool, where TensorFlow registers
  ``tensorflow/core/framework/*.proto`` under the same file names;
* their imports point at ``pysavedmodel._proto`` (one flat package);
* protoc's runtime-version guard is dropped, so that the code runs on every
  protobuf runtime the project declares (see pyproject.toml), not only on
  runtimes at least as new as the protoc that wrote it.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
TARGET = ROOT / "src" / "pysavedmodel" / "_proto"

INIT = '''\
"""Generated protocol buffer classes (package ``tensorflow``), never edited by hand.

Regenerate with ``python scripts/compile_protos.py``.  Every module registers
into :data:`pysavedmodel._proto._pool.POOL`, a private descriptor pool, so that
these classes coexist with TensorFlow's in one process.
"""
'''

POOL = '''\
"""The private descriptor pool the generated modules register into."""

from typing import Any, Dict

from google.protobuf import any_pb2, descriptor_pool, wrappers_pb2
from google.protobuf.internal import builder as _builder

POOL = descriptor_pool.DescriptorPool()

# Well-known types our files import must live in the private pool too, with
# message classes of their own (the pure-Python runtime needs them to parse).
WELL_KNOWN: Dict[str, Dict[str, Any]] = {}
for _module in (any_pb2, wrappers_pb2):
    _file = POOL.AddSerializedFile(_module.DESCRIPTOR.serialized_pb)
    _namespace: Dict[str, Any] = {}
    _builder.BuildMessageAndEnumDescriptors(_file, _namespace)
    _builder.BuildTopDescriptorsAndMessages(_file, __name__, _namespace)
    WELL_KNOWN[_module.DESCRIPTOR.name] = _namespace
'''

_IMPORT = re.compile(r"^from tensorflow(?:_serving)?(?:\.\w+)* import (\w+_pb2)", re.M)
_GUARD = re.compile(
    r"^from google\.protobuf import runtime_version as _runtime_version\n", re.M)
_GUARD_CALL = re.compile(
    r"^_runtime_version\.ValidateProtobufRuntimeVersion\(\n(?:.*\n)*?\)\n", re.M)
_HEADER = re.compile(r"^# Protobuf Python Version: .*\n", re.M)
_MODULE_NAME = re.compile(r"'tensorflow(?:_serving)?(?:\.\w+)*\.(\w+_pb2)'")
_PYI_IMPORT = re.compile(r"^from tensorflow(?:_serving)?(?:\.\w+)* import (\w+_pb2) as", re.M)


def _rewrite_py(text: str) -> str:
    text = _IMPORT.sub(r"from pysavedmodel._proto import \1", text)
    text = _GUARD.sub("", text)
    text = _GUARD_CALL.sub("", text)
    text = _HEADER.sub("", text)
    text = _MODULE_NAME.sub(r"'pysavedmodel._proto.\1'", text)
    text = text.replace(
        "from google.protobuf import descriptor_pool as _descriptor_pool\n",
        "from pysavedmodel._proto._pool import POOL as _POOL\n")
    text = text.replace("_descriptor_pool.Default().AddSerializedFile(",
                        "_POOL.AddSerializedFile(")
    if "_descriptor_pool" in text:
        raise SystemExit("compile_protos: unexpected generated code (descriptor pool)")
    return text


def _rewrite_pyi(text: str) -> str:
    return _PYI_IMPORT.sub(r"from pysavedmodel._proto import \1 as", text)


def generate() -> dict[str, str]:
    """Return {file name: content} of the generated package."""
    from grpc_tools import protoc  # development dependency

    files = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    include = str(Path(protoc.__file__).parent / "_proto")
    out: dict[str, str] = {"__init__.py": INIT, "_pool.py": POOL, "py.typed": ""}
    with tempfile.TemporaryDirectory() as tmp:
        args = ["protoc", f"-I{PROTOS}", f"-I{include}", f"--python_out={tmp}",
                f"--pyi_out={tmp}", *files]
        if protoc.main(args) != 0:
            raise SystemExit("compile_protos: protoc failed")
        for path in sorted(Path(tmp).rglob("*_pb2.py*")):
            text = path.read_text()
            out[path.name] = _rewrite_py(text) if path.suffix == ".py" else _rewrite_pyi(text)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed code instead of writing")
    args = parser.parse_args()
    generated = generate()
    if args.check:
        current = {p.name: p.read_text() for p in TARGET.iterdir() if p.is_file()}
        stale = sorted(n for n in set(generated) | set(current)
                       if generated.get(n) != current.get(n))
        if stale:
            print("stale generated code: " + ", ".join(stale), file=sys.stderr)
            return 1
        print("generated code is up to date")
        return 0
    TARGET.mkdir(parents=True, exist_ok=True)
    for old in TARGET.iterdir():
        if old.is_file() and old.name not in generated:
            old.unlink()
    for name, text in generated.items():
        (TARGET / name).write_text(text)
    print(f"wrote {len(generated)} files to {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
