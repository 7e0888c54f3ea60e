"""Code that cites docs/architecture.md names a section that exists there (a newcomer can follow
every reference; no comment points at a file outside the repository)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "db", "workflows", "plugins", "cli", "desktop", "tests", "scripts")
CITATION = re.compile(r'docs/architecture\.md[,(\s]+"([^"]+)"')

#: the design file outside the repository that code must not cite (spelled in two parts so this
#: test does not cite it itself)
OUTSIDE_DOC = "DESIGN" + ".md"


def _sources() -> list[Path]:
    return [p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")]


def test_every_cited_section_exists():
    headings = {line.lstrip("#").strip() for line in (REPO / "docs" / "architecture.md").read_text().splitlines()
                if line.startswith("#")}
    cited: dict[str, list[str]] = {}
    for path in _sources():
        text = re.sub(r"\s+", " ", path.read_text(encoding="utf-8"))
        for name in CITATION.findall(text):
            cited.setdefault(name, []).append(str(path.relative_to(REPO)))
    assert cited, "no citations found: the pattern is out of date"
    missing = {name: where for name, where in cited.items() if name not in headings}
    assert not missing, missing


def test_no_code_cites_a_design_file_outside_the_repository():
    offenders = [str(p.relative_to(REPO)) for p in _sources()
                 if OUTSIDE_DOC in p.read_text(encoding="utf-8") and p.name != "test_docs_citations.py"]
    assert not offenders, offenders
