"""docs/cli.md, the CLI reference, is what ``--help`` prints, for every command."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from pysavedmodel.cli import COMMANDS

from .cli_run import run

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gen_cli_reference.py"
COLUMNS = "100"  # scripts/gen_cli_reference.py renders at this width


def _sections() -> dict[str, str]:
    text = (ROOT / "docs" / "cli.md").read_text()
    start = text.index("<!-- cli-reference:start -->")
    block = text[start:text.index("<!-- cli-reference:end -->", start)]
    found = re.findall(r"### `pysavedmodel ?([a-z-]*)`\n\n```text\n(.*?)\n```", block, re.S)
    return {name: body + "\n" for name, body in found}


def test_reference_is_the_end_of_docs_cli_md_and_linked_from_the_readme() -> None:
    text = (ROOT / "docs" / "cli.md").read_text().rstrip()
    assert text.endswith("<!-- cli-reference:end -->")
    assert "](docs/cli.md)" in (ROOT / "README.md").read_text()


def test_generator_reports_the_reference_up_to_date() -> None:
    out = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr + " (run scripts/gen_cli_reference.py)"


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_each_section_equals_the_entry_points_help(command: str) -> None:
    sections = _sections()
    assert list(sections) == ["", *COMMANDS]
    out = run(*([command] if command else []), "--help", env={"COLUMNS": COLUMNS})
    assert out.returncode == 0, out.stderr
    assert sections[command] == out.stdout
