"""scripts/bench.py's opt-in ``onnx`` group end to end, on toy-width models
(``--onnx-small``): every model is converted in a fresh process, measured (time, peak
RSS), judged against the issue's goals, and ``--write-docs`` replaces only the marked
section of the ONNX docs (docs/performance.md is left alone when only ONNX groups ran).

No timing assertions; the full-size figures are in docs/onnx.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "scripts" / "bench.py"
GROUP = "onnx conversion (fresh process, imports included)"
CASES = ["ResNet-50, dynamo export", "ResNet-50, TorchScript export",
         "BERT-base encoder, dynamo export", "BERT-base encoder, TorchScript export"]


def test_onnx_group_measures_every_model_and_writes_its_docs_section(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    docs = tmp_path / "onnx.md"
    docs.write_text("# before\n<!-- bench-onnx:start -->\nstale\n<!-- bench-onnx:end -->\n"
                    "after\n")
    performance = tmp_path / "performance.md"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--only", "onnx", "--onnx-small", "--rounds", "1",
         "--json", "-q", "--dir", str(work), "--write-docs", str(performance),
         "--onnx-docs", str(docs)],
        capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    rows = [row for row in result["rows"] if row["group"] == GROUP]
    assert [row["name"].split(" (")[0] for row in rows[1:]] == CASES
    assert rows[0]["name"].startswith("fresh interpreter: import pysavedmodel, onnx")
    for row in rows:
        assert len(row["samples"]) == 1 and row["seconds"] > 0
        assert row["peak_rss_mb"] > 10  # an interpreter with numpy and onnx
    for row in rows[1:]:
        assert row["nbytes"] > 0 and row["note"].startswith("peak RSS ")
    names = [t["target"] for t in result["targets"]]
    for model in ("ResNet-50", "BERT-base encoder"):
        for exporter in ("dynamo", "ts17"):
            assert f"from_onnx {model}, {exporter}, fresh process (s)" in names
            assert f"from_onnx {model}, {exporter}: peak RSS / model size" in names
    assert list(work.iterdir()) == []
    text = docs.read_text()
    assert text.startswith("# before\n<!-- bench-onnx:start -->") and text.endswith(
        "<!-- bench-onnx:end -->\nafter\n")
    assert "stale" not in text
    for case in CASES:
        assert f"| {case}" in text
    assert "| from_onnx ResNet-50, dynamo, fresh process (s) |" in text
    assert not performance.exists()
