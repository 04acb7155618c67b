"""The CLI on hostile files: ``show``, ``validate`` and ``convert`` exit 1 with one line on
stderr (``validate`` may instead list its findings on stdout), never a traceback, never
a file written, never a big allocation.

Each command runs as ``python -m pysavedmodel`` in a subprocess whose address space is
capped (RLIMIT_AS, 2 GiB: every bomb below asks for 8 GB or more) and whose run time is
bounded, so a crash, hang or huge allocation fails the test instead of the machine.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from pysavedmodel._proto import meta_graph_pb2, saved_model_pb2, tensor_bundle_pb2
from tests.format.test_hostile_files import Entries, _edit_entry, _edit_index
from tests.savedmodel.test_loader_hostile import nested_attr_saved_model, nested_text

ADDRESS_SPACE = 2 * 2**30


def _cap_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "pysavedmodel", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120,
                          preexec_fn=_cap_address_space)


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


# --------------------------------------------------------------------------- hostile models


def _variables(model: Path) -> Path:
    return model / "variables" / "variables"


def _deep_pb(model: Path) -> None:
    (model / "saved_model.pb").write_bytes(nested_attr_saved_model(10_000))


def _sparse_pb(model: Path) -> None:
    with open(model / "saved_model.pb", "r+b") as f:
        f.truncate(3 * 2**30)


def _truncated_pb(model: Path) -> None:
    data = (model / "saved_model.pb").read_bytes()
    (model / "saved_model.pb").write_bytes(data[:len(data) // 2])


def _non_utf8_pbtxt(model: Path) -> None:
    (model / "saved_model.pb").unlink()
    (model / "saved_model.pbtxt").write_bytes(b"meta_graphs {\n  \xff\xfe }\n")


def _deep_pbtxt(model: Path) -> None:
    (model / "saved_model.pb").unlink()
    (model / "saved_model.pbtxt").write_text(nested_text(10_000))


def _flipped_index_bit(model: Path) -> None:
    index = Path(f"{_variables(model)}.index")
    data = bytearray(index.read_bytes())
    data[10] ^= 0x01
    index.write_bytes(data)


def _truncated_data(model: Path) -> None:
    data_file = Path(f"{_variables(model)}.data-00000-of-00001")
    data_file.write_bytes(data_file.read_bytes()[:-3])


def _shape_dims(*dims: int, size: int = 0) -> Callable[[Path], None]:
    def damage(model: Path) -> None:
        def edit(entry: tensor_bundle_pb2.BundleEntryProto) -> None:
            del entry.shape.dim[:]
            for d in dims:
                entry.shape.dim.add().size = d
            if size:
                entry.size = size
        _edit_entry(_variables(model), "dense/kernel", edit)
    return damage


def _num_shards_bomb(model: Path) -> None:
    def edit(entries: Entries) -> None:
        entries[b""] = tensor_bundle_pb2.BundleHeaderProto(
            num_shards=2**31 - 1).SerializeToString()
    _edit_index(_variables(model), edit)


def _fifo_data(model: Path) -> None:
    data_file = Path(f"{_variables(model)}.data-00000-of-00001")
    data_file.unlink()
    os.mkfifo(data_file)  # nobody writes it: opening it for reading could block forever


def _sparse_index(model: Path) -> None:
    with open(f"{_variables(model)}.index", "r+b") as f:
        f.truncate(3 * 2**30)


def _asset_traversal(model: Path) -> None:
    path = model / "saved_model.pb"
    saved = saved_model_pb2.SavedModel.FromString(path.read_bytes())
    for packed in saved.meta_graphs[0].collection_def["saved_model_assets"].any_list.value:
        asset = meta_graph_pb2.AssetFileDef()
        packed.Unpack(asset)
        asset.filename = "../../../etc/passwd"
        packed.Pack(asset)
    path.write_bytes(saved.SerializeToString(deterministic=True))


PROTO_CASES: dict[str, Callable[[Path], None]] = {
    "deep_pb": _deep_pb, "sparse_3gb_pb": _sparse_pb, "truncated_pb": _truncated_pb,
    "non_utf8_pbtxt": _non_utf8_pbtxt, "deep_pbtxt": _deep_pbtxt,
}
CHECKPOINT_CASES: dict[str, Callable[[Path], None]] = {
    "flipped_index_bit": _flipped_index_bit, "truncated_data": _truncated_data,
    "shape_overflow": _shape_dims(2**40, 2**40),
    # 8 GiB of float32 with a matching size field: only the data file's size disagrees.
    "shape_bytes_bomb": _shape_dims(2**20, 2**11, size=2**33),
    "num_shards_bomb": _num_shards_bomb,
    "sparse_3gb_index": _sparse_index, "fifo_data": _fifo_data,
}


def _hostile_model(tmp_path: Path, fixtures_dir: Path, damage: Callable[[Path], None]) -> Path:
    model = tmp_path / "model"
    shutil.copytree(fixtures_dir / "savedmodel_v1_builder", model)
    damage(model)
    return model


def _assert_one_line_error(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 1, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pysavedmodel: error: "), proc.stderr


# --------------------------------------------------------------------------- commands


DATA_ONLY_CASES = ("num_shards_bomb", "truncated_data", "shape_bytes_bomb", "fifo_data")
"""Damage only a reader of tensor values meets: ``show`` lists the index, never the data."""


@pytest.mark.parametrize("case", sorted(PROTO_CASES) + sorted(CHECKPOINT_CASES)
                         + ["asset_traversal"])
def test_show_fails_with_one_line(tmp_path: Path, fixtures_dir: Path, case: str) -> None:
    damage = {**PROTO_CASES, **CHECKPOINT_CASES, "asset_traversal": _asset_traversal}[case]
    model = _hostile_model(tmp_path, fixtures_dir, damage)
    before = _tree(tmp_path)
    proc = _cli("show", str(model), "--all", cwd=tmp_path)
    if case in DATA_ONLY_CASES and proc.returncode == 0:
        assert proc.stderr == "" and "dense/kernel" in proc.stdout
    else:
        _assert_one_line_error(proc)
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("case", sorted(PROTO_CASES) + sorted(CHECKPOINT_CASES)
                         + ["asset_traversal"])
def test_validate_reports_and_exits_1(tmp_path: Path, fixtures_dir: Path, case: str) -> None:
    damage = {**PROTO_CASES, **CHECKPOINT_CASES, "asset_traversal": _asset_traversal}[case]
    model = _hostile_model(tmp_path, fixtures_dir, damage)
    before = _tree(tmp_path)
    proc = _cli("validate", str(model), cwd=tmp_path)
    assert proc.returncode == 1, (proc.stdout[-2000:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr
    if proc.stderr:
        _assert_one_line_error(proc)
    else:
        assert proc.stdout.strip() and not proc.stdout.startswith("OK"), proc.stdout
    assert _tree(tmp_path) == before


DESTINATIONS = ("out.npz", "out.safetensors", "out/ckpt")
CONVERSIONS = [(case, source, DESTINATIONS[i % len(DESTINATIONS)])
               for i, (case, source) in enumerate(
                   (c, s) for c in sorted(CHECKPOINT_CASES) for s in ("prefix", "savedmodel"))]
"""Every damage from both kinds of source; the destination formats take turns."""


@pytest.mark.parametrize(("case", "source", "destination"), CONVERSIONS)
def test_convert_fails_with_one_line_and_writes_nothing(
        tmp_path: Path, fixtures_dir: Path, case: str, source: str, destination: str) -> None:
    model = _hostile_model(tmp_path, fixtures_dir, CHECKPOINT_CASES[case])
    src = str(_variables(model)) if source == "prefix" else str(model)
    args = ["convert", src, str(tmp_path / destination)]
    if source == "prefix":
        args += ["--from", "checkpoint"]
    before = _tree(tmp_path)
    _assert_one_line_error(_cli(*args, cwd=tmp_path))
    assert _tree(tmp_path) == before
