"""The README stays short and every relative link in it and in docs/ resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def test_readme_is_at_most_250_lines() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= 250, f"README.md has {lines} lines; move detail into docs/"


def test_the_docs_exist() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in DOCUMENTS}
    assert {"docs/api.md", "docs/cli.md", "docs/architecture.md", "docs/performance.md",
            "docs/design.md", "docs/format/tensorbundle.md", "docs/format/savedmodel.md"} <= names


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of a markdown file."""
    found = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            title = re.sub(r"[^\w\- ]", "", title).replace(" ", "-")
            found.add(title)
    return found


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(document: Path) -> None:
    broken = []
    for target in LINK.findall(document.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: not checked offline
        path_part, _, anchor = target.partition("#")
        resolved = (document.parent / path_part).resolve() if path_part else document
        bad_anchor = anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved)
        if not resolved.exists() or bad_anchor:
            broken.append(target)
    assert broken == []


def test_modules_cite_docs_that_exist() -> None:
    cited = set()
    for path in (ROOT / "src").rglob("*.py"):
        cited.update(re.findall(r"docs/[\w/.-]+\.md", path.read_text(encoding="utf-8")))
    assert cited, "modules point readers at docs/"
    assert sorted(c for c in cited if not (ROOT / c).exists()) == []
    assert not any("FORMAT.md" in p.read_text(encoding="utf-8")
                   for p in (ROOT / "src").rglob("*.py"))
