"""Regenerate the table of covered ONNX ops in docs/onnx.md from the handler registry.

    python scripts/gen_onnx_ops.py          rewrite the block in docs/onnx.md
    python scripts/gen_onnx_ops.py --check  exit 1 if the block is stale

The block sits between ``<!-- onnx-ops:start -->`` and ``<!-- onnx-ops:end -->``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "onnx.md"
START = "<!-- onnx-ops:start -->"
END = "<!-- onnx-ops:end -->"


def table() -> str:
    sys.path.insert(0, str(ROOT / "src"))
    from pysavedmodel.onnx.ops import TF_OPS

    rows = ["| ONNX op | TF ops emitted |", "|---|---|"]
    rows += [f"| {op} | {TF_OPS[op]} |" for op in sorted(TF_OPS)]
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    text = DOC.read_text()
    start = text.index(START) + len(START)
    end = text.index(END)
    fresh = text[:start] + "\n" + table() + "\n" + text[end:]
    if "--check" in argv:
        if fresh != text:
            print("docs/onnx.md op table is stale: run scripts/gen_onnx_ops.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(fresh)
    print(f"updated the ONNX op table in {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
