"""The documentation holds together: every relative link between README.md, docs/*.md and bench/*.md
leads to a file that exists, every ``#anchor`` to a heading of that page (GitHub's slugs), and every
source path the prose names in backticks is still there after files move."""

from __future__ import annotations

import re
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "bench").glob("*.md")])
LINK = re.compile(r"(?<!!)\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
SOURCE_PATH = re.compile(r"^(?:bot|jobs|messages|tests|bench|docs|\.ci)/[\w./-]*$")
# What a run writes (bench/last_run.*, bench/results/) exists only where it ran: .gitignore names it.
GENERATED = [line.strip() for line in (ROOT / ".gitignore").read_text().splitlines()
             if "/" in line.strip().strip("/") and not line.startswith("#")]


def prose_lines(text: str) -> list[str]:
    """The page's lines outside fenced code blocks (a `#` in a shell block is no heading)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text lowercased, punctuation dropped, spaces to '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading counts by its text
    text = text.replace("`", "").replace("*", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every anchor a page has, a repeated heading numbered as GitHub numbers it (-1, -2, …)."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose_lines(page.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return found


def links(page: Path) -> list[str]:
    """The link targets of a page's prose; code spans are left out (`a[b](c)` in code is no link)."""
    targets = []
    for line in prose_lines(page.read_text(encoding="utf-8")):
        targets += LINK.findall(CODE_SPAN.sub("", line))
    return targets


def test_the_pages_are_there_and_link_to_each_other():
    names = {page.relative_to(ROOT).as_posix() for page in PAGES}
    assert {"README.md", "docs/staff-guide.md", "docs/architecture.md", "bench/RESULTS.md"} <= names
    readme_targets = set(links(ROOT / "README.md"))
    for page in (ROOT / "docs").glob("*.md"):
        assert f"docs/{page.name}" in readme_targets, f"the README does not lead to docs/{page.name}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_relative_link_and_anchor_resolves(page):
    broken = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: — not ours to check offline
            continue
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target}: no heading '#{anchor}' in {destination.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_source_path_the_prose_names_exists(page):
    missing = []
    for line in prose_lines(page.read_text(encoding="utf-8")):
        for _, code in CODE_SPAN.findall(line):
            generated = any(fnmatch(code, pattern) for pattern in GENERATED)
            if SOURCE_PATH.match(code) and not generated and not (ROOT / code).exists():
                missing.append(code)
    assert not missing, f"{page.relative_to(ROOT)} names paths that do not exist: {missing}"


def test_slugs_follow_githubs_rules():
    assert slug("The inbox: who is on it") == "the-inbox-who-is-on-it"
    assert slug("A thread per patient (a forum staff group)") == "a-thread-per-patient-a-forum-staff-group"
    assert slug("Libraries, and why") == "libraries-and-why"
    assert slug("Set-up: two commands") == "set-up-two-commands"
    assert slug("The `aftercare` command") == "the-aftercare-command"


def test_the_readme_security_section_says_what_is_kept_what_erasure_removes_and_the_staff_outbox():
    """Issue 20's "done when": the README, not only docs/, says what is kept and for how long, what
    ``/delete`` removes, and that every message to staff goes through the paced outbox."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Security and privacy\n(.*?)^## ", text, re.S | re.M)
    assert match, "README.md has no '## Security and privacy' section"
    section = match.group(1)
    for needle in ("What is kept, and for how long", "UPDATE_RETENTION_HOURS", "AUDIT_RETENTION_DAYS",
                   "What `/delete` removes", "renamed", "closed", "staff outbox", "20 a minute", "429",
                   "docs/operations.md#privacy-what-is-kept-for-how-long-and-what-erasure-removes"):
        assert needle in section, needle
