"""Hostile saved_model.pb / .pbtxt files and asset names: every case is a pysavedmodel.Error.

Cases that could crash the interpreter (deep nesting through the C protobuf backend)
run in a subprocess, under both the default (upb) and the pure-Python protobuf
backend, so a segfault or an escaping RecursionError fails the test instead of
killing the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path
from typing import Callable

import pytest

from pysavedmodel import constants
from pysavedmodel._proto import (
    attr_value_pb2,
    graph_pb2,
    meta_graph_pb2,
    node_def_pb2,
    saved_model_pb2,
)
from pysavedmodel.errors import CorruptSavedModelError, NotFoundError
from pysavedmodel.savedmodel import loader
from pysavedmodel.savedmodel.loader import MAX_NESTING, asset_paths, read_saved_model

REPO = Path(__file__).resolve().parents[2]
BACKENDS = ("upb", "python")


# --------------------------------------------------------------------------- wire helpers


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(message: type, name: str, payload: bytes) -> bytes:
    """A length-delimited field of ``message`` (field number from its descriptor)."""
    number = message.DESCRIPTOR.fields_by_name[name].number  # type: ignore[attr-defined]
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def nested_attr_saved_model(levels: int) -> bytes:
    """A saved_model.pb whose only node has an AttrValue nesting ``levels`` AttrValues deep.

    Each level is ``AttrValue.list.func[0].attr["a"]`` -> AttrValue, i.e. four messages
    (ListValue, NameAttrList, map entry, AttrValue).
    """
    value = b""
    for _ in range(levels):
        entry = _field(attr_value_pb2.NameAttrList.AttrEntry, "key", b"a") + _field(
            attr_value_pb2.NameAttrList.AttrEntry, "value", value)
        func = _field(attr_value_pb2.NameAttrList, "attr", entry)
        value = _field(attr_value_pb2.AttrValue, "list",
                       _field(attr_value_pb2.AttrValue.ListValue, "func", func))
    attr = _field(node_def_pb2.NodeDef.AttrEntry, "key", b"value") + _field(
        node_def_pb2.NodeDef.AttrEntry, "value", value)
    node = (_field(node_def_pb2.NodeDef, "name", b"n")
            + _field(node_def_pb2.NodeDef, "op", b"Const")
            + _field(node_def_pb2.NodeDef, "attr", attr))

    graph = _field(graph_pb2.GraphDef, "node", node)
    meta_graph = _field(meta_graph_pb2.MetaGraphDef, "graph_def", graph)
    return _field(saved_model_pb2.SavedModel, "meta_graphs", meta_graph)


def nested_struct_saved_model(levels: int) -> bytes:
    """A saved_model.pb whose object graph holds a StructuredValue nesting ``levels`` lists deep.

    The path is object_graph_def.concrete_functions["f"].output_signature, then
    ``StructuredValue.list_value.values[0]`` per level (two messages each).
    """
    from pysavedmodel._proto import saved_object_graph_pb2, struct_pb2

    value = b""
    for _ in range(levels):
        value = _field(struct_pb2.StructuredValue, "list_value",
                       _field(struct_pb2.ListValue, "values", value))
    function = _field(saved_object_graph_pb2.SavedConcreteFunction, "output_signature", value)
    entry = (_field(saved_object_graph_pb2.SavedObjectGraph.ConcreteFunctionsEntry, "key", b"f")
             + _field(saved_object_graph_pb2.SavedObjectGraph.ConcreteFunctionsEntry, "value",
                      function))
    graph = _field(saved_object_graph_pb2.SavedObjectGraph, "concrete_functions", entry)
    meta_graph = _field(meta_graph_pb2.MetaGraphDef, "object_graph_def", graph)
    return _field(saved_model_pb2.SavedModel, "meta_graphs", meta_graph)


def nested_text(depth: int) -> str:
    """A saved_model.pbtxt whose messages nest exactly ``depth`` deep (root = 0).

    meta_graphs(1) graph_def(2) node(3) attr entry(4) AttrValue(5), then
    func(+1) attr entry(+2) AttrValue(+3) ... as far as needed.
    """
    assert depth >= 5
    steps = ["func {", "attr { key: 'a'", "value {"]
    opened = [steps[i % 3] for i in range(depth - 5)]
    return ("meta_graphs { graph_def { node { name: 'n' op: 'Const' attr { key: 'v' value { "
            + " ".join(opened) + " }" * len(opened) + " } } } } }\n")


def _export(tmp_path: Path, name: str, data: bytes) -> Path:
    export = tmp_path / "model"
    export.mkdir(parents=True, exist_ok=True)
    (export / name).write_bytes(data)
    return export


_CHILD = textwrap.dedent("""
    import json, sys
    from pysavedmodel.errors import Error
    from pysavedmodel.savedmodel.loader import read_saved_model
    from google.protobuf.internal import api_implementation
    out = {"backend": api_implementation.Type()}
    try:
        read_saved_model(sys.argv[1])
        out["result"] = "parsed"
    except Error as exc:
        out["result"] = type(exc).__name__
        out["message"] = str(exc)
    print(json.dumps(out))
""")


def _read_in_subprocess(export: Path, backend: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"),
               PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=backend)
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(export)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"reader died ({proc.returncode}): {proc.stderr[-2000:]}"
    assert "Traceback" not in proc.stderr, proc.stderr
    result: dict[str, str] = json.loads(proc.stdout.splitlines()[-1])
    assert result["backend"] == backend
    return result


# --------------------------------------------------------------------------- nesting


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("build", [nested_attr_saved_model, nested_struct_saved_model])
def test_messages_nested_10000_deep_are_corrupt_not_a_crash(
        tmp_path: Path, backend: str, build: Callable[[int], bytes]) -> None:
    shallow = _export(tmp_path / "shallow", "saved_model.pb", build(10))
    assert _read_in_subprocess(shallow, backend)["result"] == "parsed"  # well-formed bytes
    export = _export(tmp_path, "saved_model.pb", build(10_000))
    result = _read_in_subprocess(export, backend)
    assert result["result"] == "CorruptSavedModelError", result
    assert "saved_model.pb" in result["message"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_text_nested_10000_deep_is_corrupt_not_a_recursion_error(tmp_path: Path,
                                                                 backend: str) -> None:
    export = _export(tmp_path, "saved_model.pbtxt", nested_text(10_000).encode())
    result = _read_in_subprocess(export, backend)
    assert result["result"] == "CorruptSavedModelError", result
    assert f"nest more than {MAX_NESTING} deep" in result["message"]
    assert "line 1" in result["message"]


def test_text_and_binary_nesting_limits_agree(tmp_path: Path) -> None:
    # The deepest text accepted also parses as binary (what `convert` would write, and what
    # TensorFlow's C++ parser reads); one level more is refused in both forms.
    from google.protobuf import text_format

    deepest = MAX_NESTING - 1  # below the root
    at_limit = _export(tmp_path / "at", "saved_model.pbtxt", nested_text(deepest).encode())
    model = read_saved_model(at_limit)
    binary = model.SerializeToString()
    assert saved_model_pb2.SavedModel.FromString(binary) == model

    over = _export(tmp_path / "over", "saved_model.pbtxt", nested_text(deepest + 1).encode())
    with pytest.raises(CorruptSavedModelError, match=f"more than {MAX_NESTING} deep"):
        read_saved_model(over)
    too_deep = saved_model_pb2.SavedModel()
    text_format.Parse(nested_text(deepest + 1), too_deep)  # protobuf's text parser allows it
    binary_over = _export(tmp_path / "binary", "saved_model.pb", too_deep.SerializeToString())
    with pytest.raises(CorruptSavedModelError, match="saved_model.pb"):
        read_saved_model(binary_over)


def test_braces_in_strings_and_comments_do_not_count_as_nesting(tmp_path: Path) -> None:
    braces = "{" * (MAX_NESTING + 5)
    text = (f"# {braces}\nmeta_graphs {{ meta_info_def {{ tags: \"{braces}\" "
            f"tags: '{braces}\\'' }} }}\n")
    export = _export(tmp_path, "saved_model.pbtxt", text.encode())
    model = read_saved_model(export)
    assert list(model.meta_graphs[0].meta_info_def.tags) == [braces, braces + "'"]


# --------------------------------------------------------------------------- sizes


def test_3gb_sparse_saved_model_pb_fails_fast_without_reading(tmp_path: Path) -> None:
    export = tmp_path / "model"
    export.mkdir()
    with open(export / "saved_model.pb", "wb") as f:
        f.truncate(3 * 2**30)  # sparse: no disk used, reading it would take seconds
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(CorruptSavedModelError, match=r"3221225472 bytes.*at most 2147483647"):
            read_saved_model(export)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 1.0
    assert peak < 2**20, f"allocated {peak} bytes before refusing"


def test_reading_allocates_the_file_not_the_cap(tmp_path: Path) -> None:
    # Found by scripts/fuzz.py: f.read(cap + 1) allocated 2 GiB for every file.
    export = _export(tmp_path, "saved_model.pb", b"")
    tracemalloc.start()
    try:
        read_saved_model(export)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20


def test_pbtxt_over_the_size_cap_is_refused_before_reading(tmp_path: Path) -> None:
    export = tmp_path / "model"
    export.mkdir()
    with open(export / "saved_model.pbtxt", "wb") as f:
        f.truncate(loader.MAX_PBTXT_BYTES + 1)
    tracemalloc.start()
    try:
        with pytest.raises(CorruptSavedModelError, match="saved_model.pbtxt.*at most"):
            read_saved_model(export)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20


def test_file_holding_more_than_its_size_says_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # st_size can understate (procfs, a file being appended to): never read past it.
    export = _export(tmp_path, "saved_model.pbtxt", b"# " + b"x" * 100 + b"\n")
    real_fstat = os.fstat

    def understated(fd: int) -> os.stat_result:
        st = real_fstat(fd)
        return os.stat_result((st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid,
                               st.st_gid, 10, st.st_atime, st.st_mtime, st.st_ctime))

    monkeypatch.setattr(os, "fstat", understated)
    with pytest.raises(CorruptSavedModelError, match="more than the 10 bytes its size says"):
        read_saved_model(export)


# --------------------------------------------------------------------------- damaged bytes


def test_non_utf8_pbtxt_names_the_offset(tmp_path: Path) -> None:
    export = _export(tmp_path, "saved_model.pbtxt", b"meta_graphs { }\n\xff\xfe")
    with pytest.raises(CorruptSavedModelError, match="not UTF-8.*0xff at offset 16"):
        read_saved_model(export)


def test_pbtxt_syntax_error_names_the_line(tmp_path: Path) -> None:
    export = _export(tmp_path, "saved_model.pbtxt", b"meta_graphs {\n  no_such_field: 1\n}\n")
    with pytest.raises(CorruptSavedModelError, match=r"saved_model.pbtxt.*2:.*no_such_field"):
        read_saved_model(export)


def test_truncated_and_bit_flipped_saved_model_pb_parse_or_raise(fixtures_dir: Path,
                                                                 tmp_path: Path) -> None:
    data = (fixtures_dir / "savedmodel_v1_builder" / "saved_model.pb").read_bytes()
    export = tmp_path / "model"
    export.mkdir()
    refused = 0
    cases = [data[:n] for n in range(0, len(data), max(1, len(data) // 300))]
    cases += [data[:i] + bytes((data[i] ^ 0x80,)) + data[i + 1:]
              for i in range(0, len(data), max(1, len(data) // 300))]
    for case in cases:
        (export / "saved_model.pb").write_bytes(case)
        try:
            read_saved_model(export)
        except CorruptSavedModelError as exc:
            assert "saved_model.pb" in str(exc)
            refused += 1
    # Most cuts land inside a field and most flipped high bits break a length or tag.
    assert refused > len(cases) // 2, refused


def test_saved_model_pb_that_is_a_directory_is_not_found(tmp_path: Path) -> None:
    export = tmp_path / "model"
    (export / "saved_model.pb").mkdir(parents=True)
    with pytest.raises(NotFoundError, match="no saved_model.pb"):
        read_saved_model(export)


# --------------------------------------------------------------------------- assets


def test_asset_paths_of_the_tf_fixture(fixtures_dir: Path) -> None:
    export = fixtures_dir / "savedmodel_v1_builder"
    model = read_saved_model(export)
    assert asset_paths(export, model.meta_graphs[0]) == [export / "assets" / "vocab.txt"]


HOSTILE_NAMES = ["../secret", "a/../../secret", "..", "/etc/passwd", "..\\secret",
                 "C:\\Windows\\win.ini", "\\\\server\\share\\x", "", "vocab\0.txt"]


@pytest.mark.parametrize("filename", HOSTILE_NAMES)
@pytest.mark.parametrize("where", ["asset_file_def", "collection"])
def test_hostile_asset_filenames_are_refused(tmp_path: Path, filename: str, where: str) -> None:
    meta_graph = meta_graph_pb2.MetaGraphDef()
    asset = meta_graph_pb2.AssetFileDef(filename=filename)
    asset.tensor_info.name = "asset:0"
    if where == "asset_file_def":
        meta_graph.asset_file_def.append(asset)
    else:
        meta_graph.collection_def[constants.ASSETS_COLLECTION].any_list.value.add().Pack(asset)
    with pytest.raises(CorruptSavedModelError, match="asset filename .* is refused"):
        asset_paths(tmp_path, meta_graph)


def test_asset_symlink_out_of_the_assets_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "secret").write_text("x")
    (tmp_path / "assets" / "vocab.txt").symlink_to(tmp_path / "secret")
    meta_graph = meta_graph_pb2.MetaGraphDef()
    meta_graph.asset_file_def.add(filename="vocab.txt")
    with pytest.raises(CorruptSavedModelError, match="outside the assets directory"):
        asset_paths(tmp_path, meta_graph)


def test_asset_names_inside_assets_are_kept_once_in_order(tmp_path: Path) -> None:
    meta_graph = meta_graph_pb2.MetaGraphDef()
    for name in ("b.txt", "sub/a.txt", "b.txt", "..a", "a..b"):
        meta_graph.asset_file_def.add(filename=name)
    assert asset_paths(tmp_path, meta_graph) == [
        tmp_path / "assets" / n for n in ("b.txt", "sub/a.txt", "..a", "a..b")]


def test_assets_collection_of_the_wrong_type_or_bytes_is_corrupt(tmp_path: Path) -> None:
    meta_graph = meta_graph_pb2.MetaGraphDef()
    meta_graph.collection_def[constants.ASSETS_COLLECTION].any_list.value.add().Pack(
        node_def_pb2.NodeDef(name="x"))
    with pytest.raises(CorruptSavedModelError, match="tensorflow.NodeDef"):
        asset_paths(tmp_path, meta_graph)
    broken = meta_graph_pb2.MetaGraphDef()
    packed = broken.collection_def[constants.ASSETS_COLLECTION].any_list.value.add()
    packed.type_url = "type.googleapis.com/tensorflow.AssetFileDef"
    packed.value = b"\x0a\xff"  # a length running past the end
    with pytest.raises(CorruptSavedModelError, match="unparsable AssetFileDef"):
        asset_paths(tmp_path, broken)
