"""Write protos/*.proto from the wire facts of an installed TensorFlow.

Needs TensorFlow (run it with the interop virtualenv's python).  It reads the
file descriptors TensorFlow registers for the messages a SavedModel and a
checkpoint use and renders each as .proto source: package, message, field and
enum names, numbers, types and labels.  Nothing else is taken over: TF's
descriptors carry no comments, and the file header is ours.

    ~/.cache/pysavedmodel/tf-2.21/bin/python scripts/gen_protos_from_tf.py

TF Serving's request and log messages (for warmup files) come from the
``tensorflow-serving-api`` package installed beside TensorFlow
(``pip install --no-deps tensorflow-serving-api==2.21.0``).  Of those, the parts a
warmup record never holds and that would pull in dozens more files are left out
(:data:`PRUNE`); parsing keeps such fields as unknown fields, so nothing is lost.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "protos"

# The messages the SavedModel and TensorBundle formats use; their imports are followed.
MODULES = [
    "tensorflow.core.protobuf.saved_model_pb2",
    "tensorflow.core.protobuf.meta_graph_pb2",
    "tensorflow.core.protobuf.tensor_bundle_pb2",
    "tensorflow.core.framework.tensor_slice_pb2",
    "tensorflow.core.protobuf.fingerprint_pb2",
    "tensorflow.core.protobuf.saver_pb2",
    "tensorflow.core.example.example_pb2",
    "tensorflow_serving.apis.prediction_log_pb2",
]

PRUNE: dict[str, dict[str, list[str]]] = json.loads((OUT / "pruned.json").read_text())
"""Per file (protos/pruned.json, which the interop test reads too): fields
(``Message.field``), top-level messages and imports left out, and why."""


def prune(proto: descriptor_pb2.FileDescriptorProto) -> None:
    """Apply :data:`PRUNE` to one file in place."""
    rules = PRUNE.get(proto.name)
    if rules is None:
        return
    for qualified in rules["fields"]:
        message_name, field_name = qualified.split(".")
        message = next(m for m in proto.message_type if m.name == message_name)
        index = next(i for i, f in enumerate(message.field) if f.name == field_name)
        del message.field[index]
    for name in rules["messages"]:
        index = next(i for i, m in enumerate(proto.message_type) if m.name == name)
        del proto.message_type[index]
    kept = [d for d in proto.dependency if d not in rules["dependencies"]]
    del proto.dependency[:]
    proto.dependency.extend(kept)

F = descriptor_pb2.FieldDescriptorProto
SCALARS = {
    F.TYPE_DOUBLE: "double", F.TYPE_FLOAT: "float", F.TYPE_INT64: "int64",
    F.TYPE_UINT64: "uint64", F.TYPE_INT32: "int32", F.TYPE_FIXED64: "fixed64",
    F.TYPE_FIXED32: "fixed32", F.TYPE_BOOL: "bool", F.TYPE_STRING: "string",
    F.TYPE_BYTES: "bytes", F.TYPE_UINT32: "uint32", F.TYPE_SFIXED32: "sfixed32",
    F.TYPE_SFIXED64: "sfixed64", F.TYPE_SINT32: "sint32", F.TYPE_SINT64: "sint64",
}

HEADER = """\
// pysavedmodel's schema for {name}.
//
// Package, message, field and enum names and numbers follow TensorFlow 2.21's
// wire format so that TensorFlow reads what we write and we read what it
// writes.  Generated from TensorFlow's registered descriptors by
// scripts/gen_protos_from_tf.py; compiled into src/pysavedmodel/_proto/ by
// scripts/compile_protos.py.
"""


def type_name(field: descriptor_pb2.FieldDescriptorProto, package: str) -> str:
    if field.type in SCALARS:
        return SCALARS[field.type]
    name = field.type_name.lstrip(".")
    if name.startswith(package + "."):
        return name[len(package) + 1:]
    return "." + name


def field_options(field: descriptor_pb2.FieldDescriptorProto) -> str:
    opts = []
    if field.options.HasField("packed"):
        opts.append(f"packed = {str(field.options.packed).lower()}")
    if field.options.deprecated:
        opts.append("deprecated = true")
    if field.HasField("json_name") and False:
        pass
    return f" [{', '.join(opts)}]" if opts else ""


def render_enum(enum: descriptor_pb2.EnumDescriptorProto, indent: str) -> list[str]:
    lines = [f"{indent}enum {enum.name} {{"]
    if enum.options.allow_alias:
        lines.append(f"{indent}  option allow_alias = true;")
    for value in enum.value:
        dep = " [deprecated = true]" if value.options.deprecated else ""
        lines.append(f"{indent}  {value.name} = {value.number}{dep};")
    for r in enum.reserved_range:
        lines.append(f"{indent}  reserved {_range(r.start, r.end, inclusive=True)};")
    if enum.reserved_name:
        lines.append(f"{indent}  reserved {', '.join(repr_str(n) for n in enum.reserved_name)};")
    lines.append(f"{indent}}}")
    return lines


def repr_str(s: str) -> str:
    return '"' + s + '"'


def _range(start: int, end: int, inclusive: bool) -> str:
    last = end if inclusive else end - 1
    if last >= 536870911:
        return f"{start} to max"
    return str(start) if start == last else f"{start} to {last}"


def render_message(msg: descriptor_pb2.DescriptorProto, package: str, indent: str,
                   syntax: str) -> list[str]:
    lines = [f"{indent}message {msg.name} {{"]
    inner = indent + "  "
    if msg.options.deprecated:
        lines.append(f"{inner}option deprecated = true;")
    maps = {n.name: n for n in msg.nested_type if n.options.map_entry}
    for nested in msg.enum_type:
        lines += render_enum(nested, inner)
    for nested in msg.nested_type:
        if not nested.options.map_entry:
            lines += render_message(nested, package, inner, syntax)
    real_oneofs = {}
    for field in msg.field:
        if field.HasField("oneof_index") and not field.proto3_optional:
            real_oneofs.setdefault(field.oneof_index, []).append(field)
    emitted_oneofs = set()

    def render_field(field: descriptor_pb2.FieldDescriptorProto, ind: str) -> str:
        entry_name = field.type_name.rsplit(".", 1)[-1]
        if field.label == F.LABEL_REPEATED and field.type == F.TYPE_MESSAGE and entry_name in maps \
                and field.type_name.endswith(msg.name + "." + entry_name):
            entry = maps[entry_name]
            key = type_name(entry.field[0], package)
            value = type_name(entry.field[1], package)
            return f"{ind}map<{key}, {value}> {field.name} = {field.number}{field_options(field)};"
        label = ""
        if field.label == F.LABEL_REPEATED:
            label = "repeated "
        elif field.proto3_optional:
            label = "optional "
        elif syntax == "proto2":
            label = "required " if field.label == F.LABEL_REQUIRED else "optional "
        return (f"{ind}{label}{type_name(field, package)} {field.name} = {field.number}"
                f"{field_options(field)};")

    for field in msg.field:
        if field.HasField("oneof_index") and not field.proto3_optional:
            index = field.oneof_index
            if index in emitted_oneofs:
                continue
            emitted_oneofs.add(index)
            lines.append(f"{inner}oneof {msg.oneof_decl[index].name} {{")
            for member in real_oneofs[index]:
                lines.append(render_field(member, inner + "  "))
            lines.append(f"{inner}}}")
        else:
            lines.append(render_field(field, inner))
    for r in msg.reserved_range:
        lines.append(f"{inner}reserved {_range(r.start, r.end, inclusive=False)};")
    if msg.reserved_name:
        lines.append(f"{inner}reserved {', '.join(repr_str(n) for n in msg.reserved_name)};")
    lines.append(f"{indent}}}")
    return lines


def render_file(fd: descriptor_pb2.FileDescriptorProto) -> str:
    syntax = fd.syntax or "proto2"
    out = [HEADER.format(name=fd.name).rstrip("\n"), "", f'syntax = "{syntax}";', "",
           f"package {fd.package};", ""]
    for dep in fd.dependency:
        out.append(f'import "{dep}";')
    if fd.dependency:
        out.append("")
    out.append("option cc_enable_arenas = true;")
    out.append("")
    for enum in fd.enum_type:
        out += render_enum(enum, "")
        out.append("")
    for msg in fd.message_type:
        out += render_message(msg, fd.package, "", syntax)
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def main() -> int:
    seen: dict[str, object] = {}

    pruned = {d for rules in PRUNE.values() for d in rules["dependencies"]}

    def walk(fd) -> None:  # noqa: ANN001 - a protobuf FileDescriptor
        if fd.name in seen or fd.name in pruned:
            return
        seen[fd.name] = fd
        for dep in fd.dependencies:
            walk(dep)

    for name in MODULES:
        walk(importlib.import_module(name).DESCRIPTOR)
    written = 0
    for name, fd in sorted(seen.items()):
        if not name.startswith(("tensorflow/", "tensorflow_serving/")):
            continue  # google/protobuf well-known types come with protobuf
        proto = descriptor_pb2.FileDescriptorProto()
        fd.CopyToProto(proto)
        prune(proto)
        path = OUT / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_file(proto))
        written += 1
    print(f"wrote {written} .proto files under {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
