"""The generated code works across the declared protobuf range (pyproject.toml).

Each end of the range runs in its own cached venv (tests/support/venvs.py) as
a subprocess: protobuf 3.20.3 (pure-Python runtime, the oldest supported) and
4.21.1 (the first upb runtime); the core venv itself runs TensorFlow 2.21's pin
(7.36.x).  In each, TF's SavedModels must parse and re-serialize to the same
message, and what pysavedmodel writes must be byte-identical to what it writes
under the core venv's runtime.  The range venvs have no ``crc32c`` package, so
this also proves the pure-Python CRC fallback writes the same files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import google.protobuf
import pytest

from pysavedmodel._proto import saved_model_pb2
from tests.support import venvs

SCRIPT = r"""
import hashlib, json, sys
from google.protobuf.internal import api_implementation
import google.protobuf
from pysavedmodel._proto import saved_model_pb2
fixtures, out_dir = sys.argv[1], sys.argv[2]
result = {"version": google.protobuf.__version__, "impl": api_implementation.Type(), "fixtures": {}}
for name in ("savedmodel_v1_builder", "savedmodel_v2_module"):
    data = open(f"{fixtures}/{name}/saved_model.pb", "rb").read()
    again = saved_model_pb2.SavedModel.FromString(data).SerializeToString(deterministic=True)
    result["fixtures"][name] = again.hex()
sys.path.insert(0, sys.argv[3])
from compat_payload import write_outputs
result["written"] = write_outputs(out_dir)
from pysavedmodel.format import crc32c
result["crc_backend"] = crc32c.BACKEND
print(json.dumps(result))
"""

PAYLOAD = Path(__file__).with_name("compat_payload.py")

ENDS = [("3.20.3", "python"), ("4.21.1", "upb")]
CORE_RUNTIME = google.protobuf.__version__


def _run(python: Path, fixtures_dir: Path, out_dir: Path) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=str(venvs.ROOT / "src"))
    proc = subprocess.run([str(python), "-c", SCRIPT, str(fixtures_dir), str(out_dir),
                           str(PAYLOAD.parent)], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-5000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("version", "impl"), ENDS)
def test_generated_code_on_protobuf(version: str, impl: str, fixtures_dir: Path,
                                    tmp_path: Path) -> None:
    out = tmp_path / "out"  # same path under both runtimes: asset paths are embedded
    result = _run(venvs.protobuf_python(version), fixtures_dir, out)
    assert result["version"] == version
    assert result["impl"] == impl
    for name, hexed in result["fixtures"].items():  # type: ignore[union-attr]
        original = (fixtures_dir / name / "saved_model.pb").read_bytes()
        again = bytes.fromhex(hexed)
        assert saved_model_pb2.SavedModel.FromString(again) == \
            saved_model_pb2.SavedModel.FromString(original), name
        if impl == "upb":  # upb keeps parsed map order, so bytes are identical too
            assert again == original, name
    shutil.rmtree(out)
    reference = _run(Path(sys.executable), fixtures_dir, out)
    assert reference["version"] == CORE_RUNTIME
    # The range venvs have no crc32c package: their files come from the pure-Python CRC.
    assert result["crc_backend"] == "python"
    assert reference["crc_backend"] == "crc32c"
    assert result["written"] == reference["written"]
    assert result["written"], "payload wrote nothing"
