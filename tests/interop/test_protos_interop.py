"""Our generated protos beside TensorFlow's: no clash, same wire schema."""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path

import pytest

import pysavedmodel._proto as _proto_pkg
from pysavedmodel._proto import _pool
from tests.support.tf import run_tf

COEXIST = """
import sys
order = sys.argv[1]
path = sys.argv[2]
if order == "tf-first":
    import tensorflow as tf
    from pysavedmodel._proto import saved_model_pb2
else:
    from pysavedmodel._proto import saved_model_pb2
    import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2 as tf_saved_model_pb2
data = open(path, "rb").read()
ours = saved_model_pb2.SavedModel.FromString(data).SerializeToString(deterministic=True)
theirs = tf_saved_model_pb2.SavedModel.FromString(ours).SerializeToString(deterministic=True)
# TF must still build its own protos after ours are loaded.
x = tf.constant([1.0, 2.0]) * 2
import json
print(json.dumps({"ours_identical": ours == data, "theirs_identical": theirs == data,
                  "tf_works": x.numpy().tolist() == [2.0, 4.0]}))
"""


@pytest.mark.parametrize("order", ["tf-first", "ours-first"])
def test_coexists_with_tensorflow_in_either_import_order(fixtures_dir: Path, order: str) -> None:
    result = run_tf(COEXIST, order, fixtures_dir / "savedmodel_v1_builder" / "saved_model.pb")
    assert result == {"ours_identical": True, "theirs_identical": True, "tf_works": True}


DUMP_TF = """
import importlib, json, sys
names = json.loads(sys.argv[1])
from google.protobuf import descriptor_pb2
from google.protobuf import descriptor_pool
import tensorflow  # registers TF's protos in the default pool
pool = descriptor_pool.Default()
out = {}
for name in names:
    importlib.import_module(name[:-len(".proto")].replace("/", ".") + "_pb2")
    proto = descriptor_pb2.FileDescriptorProto()
    pool.FindFileByName(name).CopyToProto(proto)
    out[name] = proto.SerializeToString().hex()
print(json.dumps(out))
"""


def _schema(proto_bytes: bytes) -> dict[str, object]:
    """Names, numbers, types, labels and type names of every field and enum value."""
    from google.protobuf import descriptor_pb2

    fd = descriptor_pb2.FileDescriptorProto.FromString(proto_bytes)
    out: dict[str, object] = {"package": fd.package, "dependency": sorted(fd.dependency)}

    def walk_enum(prefix: str, enum: descriptor_pb2.EnumDescriptorProto) -> None:
        out[prefix + enum.name] = sorted((v.name, v.number) for v in enum.value)

    def walk_msg(prefix: str, msg: descriptor_pb2.DescriptorProto) -> None:
        name = prefix + msg.name
        out[name] = sorted(
            (f.name, f.number, f.type, f.label, f.type_name,
             msg.oneof_decl[f.oneof_index].name if f.HasField("oneof_index") else "")
            for f in msg.field)
        for enum in msg.enum_type:
            walk_enum(name + ".", enum)
        for nested in msg.nested_type:
            walk_msg(name + ".", nested)

    for enum in fd.enum_type:
        walk_enum("", enum)
    for msg in fd.message_type:
        walk_msg("", msg)
    return out


def _pruned(name: str, schema: dict[str, object]) -> dict[str, object]:
    """TF's schema less what protos/pruned.json says our copy leaves out."""
    rules = json.loads((PROTOS / "pruned.json").read_text()).get(name)
    if rules is None:
        return schema
    out = dict(schema)
    out["dependency"] = [d for d in schema["dependency"]  # type: ignore[attr-defined]
                         if d not in rules["dependencies"]]
    for qualified in rules["fields"]:
        message, field = qualified.split(".")
        out[message] = [f for f in schema[message] if f[0] != field]  # type: ignore[attr-defined]
    for message in rules["messages"]:
        out = {k: v for k, v in out.items() if k != message and not k.startswith(message + ".")}
    return out


PROTOS = Path(__file__).resolve().parents[2] / "protos"


def test_descriptors_match_tensorflows() -> None:
    from google.protobuf import descriptor_pb2

    names = sorted(
        path.relative_to(Path(__file__).resolve().parents[2] / "protos").as_posix()
        for path in (Path(__file__).resolve().parents[2] / "protos").rglob("*.proto"))
    assert len(names) >= 22
    theirs = run_tf(DUMP_TF, json.dumps(names), pythonpath=False)
    for module in pkgutil.iter_modules(_proto_pkg.__path__):
        importlib.import_module(f"{_proto_pkg.__name__}.{module.name}")
    for name in names:
        ours = descriptor_pb2.FileDescriptorProto()
        _pool.POOL.FindFileByName(name).CopyToProto(ours)
        expected = _pruned(name, _schema(bytes.fromhex(theirs[name])))
        assert _schema(ours.SerializeToString()) == expected, name
