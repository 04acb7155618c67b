"""docs/onnx.md's table of covered ONNX ops is the handler registry's current content."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pysavedmodel.onnx.ops import HANDLERS, TF_OPS

ROOT = Path(__file__).resolve().parents[2]


def test_generator_reports_the_table_up_to_date() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_onnx_ops.py"), "--check"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_every_handled_op_is_in_the_table() -> None:
    text = (ROOT / "docs" / "onnx.md").read_text()
    assert set(HANDLERS) == set(TF_OPS)
    for op in HANDLERS:
        assert f"\n| {op} | " in text, op
