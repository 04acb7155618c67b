"""The generated protobuf package: fresh, wire-identical, in its own descriptor pool."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pool

from pysavedmodel._proto import _pool, saved_model_pb2, tensor_bundle_pb2

ROOT = Path(__file__).resolve().parents[1]


def test_generated_code_is_up_to_date() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "compile_protos.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr + proc.stdout


@pytest.mark.parametrize("name", ["savedmodel_v1_builder", "savedmodel_v2_module"])
def test_tf_savedmodel_reserializes_to_identical_bytes(fixtures_dir: Path, name: str) -> None:
    data = (fixtures_dir / name / "saved_model.pb").read_bytes()
    model = saved_model_pb2.SavedModel.FromString(data)
    assert model.meta_graphs, "parsed no meta graph"
    assert model.SerializeToString(deterministic=True) == data


def test_messages_register_in_private_pool_not_default() -> None:
    name = "tensorflow/core/protobuf/tensor_bundle.proto"
    assert _pool.POOL.FindFileByName(name).name == name
    with pytest.raises(KeyError):
        descriptor_pool.Default().FindFileByName(name)
    assert tensor_bundle_pb2.BundleEntryProto.DESCRIPTOR.file.pool is _pool.POOL


def test_package_and_full_names_are_tensorflows() -> None:
    assert saved_model_pb2.SavedModel.DESCRIPTOR.full_name == "tensorflow.SavedModel"
    header = tensor_bundle_pb2.BundleHeaderProto
    assert header.DESCRIPTOR.full_name == "tensorflow.BundleHeaderProto"
