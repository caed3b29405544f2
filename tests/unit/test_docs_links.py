"""Every relative link in the README and docs/ points at a file of the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)  # code is not prose: no links in it


def relative_links(page: Path) -> list[str]:
    prose = CODE.sub("", page.read_text())
    targets = (m.group(1).split("#")[0] for m in LINK.finditer(prose))
    return [t for t in targets if t and "://" not in t and not t.startswith("mailto:")]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve_inside_the_repository(page: Path) -> None:
    broken = [
        target
        for target in relative_links(page)
        if not (page.parent / target).resolve().is_relative_to(ROOT)
        or not (page.parent / target).exists()
    ]
    assert broken == []
