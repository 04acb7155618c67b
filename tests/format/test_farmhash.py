"""FarmHash Fingerprint64 / FingerprintCat64 against values TensorFlow 2.21 computes.

Golden vectors come from ``tf.fingerprint(..., method="farmhash64")`` run in the
TF venv (one subprocess for the module): every length 0..300 (each code path of
the hash and every tail length of the 64-byte loop) plus a few large inputs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from pysavedmodel.format import farmhash
from pysavedmodel.format.farmhash import fingerprint64, fingerprint_cat64, python_fingerprint64
from tests.support.tf import FIXTURES, run_tf

_INPUTS = [bytes((i * 131 + 7 * n) & 0xFF for i in range(n)) for n in range(301)]
_INPUTS += [b"\xff" * 1000, bytes(range(256)) * 40 + b"tail", b"serve"]

_TF_SCRIPT = """
import json, sys
import tensorflow as tf
data = [bytes.fromhex(h) for h in json.load(open(sys.argv[1]))]
out = tf.fingerprint(tf.constant(data, dtype=tf.string), method="farmhash64").numpy()
print(json.dumps([int.from_bytes(bytes(row.tolist()), "little") for row in out]))
"""


@pytest.fixture(scope="module")
def tf_values(tmp_path_factory: pytest.TempPathFactory) -> list[int]:
    path = tmp_path_factory.mktemp("fh") / "inputs.json"
    path.write_text(json.dumps([b.hex() for b in _INPUTS]))
    values = run_tf(_TF_SCRIPT, path)
    assert isinstance(values, list)
    return [int(v) for v in values]


@pytest.mark.parametrize("impl", [fingerprint64, python_fingerprint64],
                         ids=["default-backend", "pure-python"])
def test_fingerprint64_matches_tensorflow_for_every_length(
        tf_values: list[int], impl: Callable[[bytes], int]) -> None:
    ours = [impl(b) for b in _INPUTS]
    wrong = [(len(b), o, t) for b, o, t in zip(_INPUTS, ours, tf_values) if o != t]
    assert not wrong, wrong[:5]


def test_test_environment_runs_the_accelerated_backend() -> None:
    # the test extras install cityhash, so the line above checks its C++ FarmHash too
    assert farmhash.backend() == "cityhash"


def test_pure_python_block_loop_matches_the_backend_across_chunks() -> None:
    # inputs longer than one 256 KiB unpacking chunk, with and without a partial block
    rng = np.random.default_rng(3)
    for n in (64 * 4096, 64 * 4096 + 1, 64 * 4097 + 5, 1_000_003):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert python_fingerprint64(data) == fingerprint64(data), n


def test_pure_backend_is_forced_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYSAVEDMODEL_PURE_FARMHASH", "1")
    monkeypatch.setattr(farmhash, "_BACKEND", None)
    assert farmhash.backend() == "python"
    assert fingerprint64(b"serve" * 20) == python_fingerprint64(b"serve" * 20)


def test_fingerprint64_accepts_buffers() -> None:
    data = b"abcdefghijklmnopqrstuvwxyz0123456789" * 3
    assert fingerprint64(memoryview(data)) == fingerprint64(bytearray(data)) == fingerprint64(data)


def test_fingerprint64_of_tf_written_index_is_its_checkpoint_hash() -> None:
    # fingerprint.pb's checkpoint_hash is Fingerprint64 of variables.index (TF-written fixture).
    from pysavedmodel._proto import fingerprint_pb2
    model = FIXTURES / "savedmodel_v2_module"
    fp = fingerprint_pb2.FingerprintDef.FromString((model / "fingerprint.pb").read_bytes())
    index = Path(model / "variables" / "variables.index").read_bytes()
    assert fingerprint64(index) == fp.checkpoint_hash


def test_fingerprint_cat64_is_order_sensitive() -> None:
    a, b = fingerprint64(b"a"), fingerprint64(b"b")
    assert fingerprint_cat64(a, b) != fingerprint_cat64(b, a)
    assert 0 <= fingerprint_cat64(a, b) < 2**64
