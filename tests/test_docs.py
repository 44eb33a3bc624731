"""The user documentation holds together: links resolve inside the repository,
the README stays short, its set-up commands are the ones CI runs, no commit
hash stands in for a fact, and the `tpython run --help` shown is the real one."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Iterator, Optional

import pytest
from conftest import Runner

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = [README, ROOT / "CHANGELOG.md", ROOT / "benchmarks" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 260

_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REF_DEF = re.compile(r"^\s{0,3}\[[^\]\n]+\]:\s*<?(\S+?)>?(?:\s.*)?$", re.M)
_AUTOLINK = re.compile(r"<((?:https?|ftp|file)://[^>\s]+)>")
_BARE_URL = re.compile(r"(?<![\w/])(?:https?|ftp|file)://\S+")


def _prose(text: str) -> str:
    """TEXT without fenced code blocks and inline code, where links are not links."""
    return _INLINE_CODE.sub("", _FENCE.sub("", text))


def links(text: str) -> Iterator[str]:
    """Every link target in Markdown TEXT: inline, reference definitions, autolinks, then bare URLs."""
    prose = _prose(text)
    for pattern in (_LINK, _REF_DEF, _AUTOLINK):
        yield from (match.group(1) for match in pattern.finditer(prose))
        prose = pattern.sub(" ", prose)
    yield from (match.group(0) for match in _BARE_URL.finditer(prose))


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors of the headings of Markdown TEXT."""
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", _FENCE.sub("", text), re.M):
        base = slug(heading)
        name, n = base, 1
        while name in found:
            name, n = f"{base}-{n}", n + 1
        found.add(name)
    return found


def problems(path: Path, text: Optional[str] = None) -> list[str]:
    """What is wrong with the links of the Markdown file PATH (whose text is TEXT, if given)."""
    text = path.read_text() if text is None else text
    bad = []
    for target in links(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("//"):
            bad.append(f"{target}: links outside the repository")
            continue
        file_part, _, fragment = target.partition("#")
        dest = (path.parent / file_part).resolve()
        if file_part.startswith("/"):
            bad.append(f"{target}: absolute path")
        elif ROOT not in dest.parents and dest != ROOT:
            bad.append(f"{target}: outside the repository")
        elif file_part and not dest.exists():
            bad.append(f"{target}: no such file")
        elif fragment and (not file_part or dest.suffix == ".md"):
            heads = anchors(dest.read_text() if file_part else text)
            if fragment not in heads:
                bad.append(f"{target}: no heading #{fragment} in {(dest if file_part else path).relative_to(ROOT)}")
    return bad


def test_link_checker_finds_what_is_wrong() -> None:
    text = ("# Top\n\nSee [a](../README.md#tpython), [b](missing.md), [c](../../shared/SPEC.md),\n"
            "[d](https://example.com/SPEC.md), [e](#nowhere), [f](#top), <http://x.example>, [g](policy.md#profiles),\n"
            "[h](../README.md#no-such-heading) and `[not a link](nowhere.md)`.\n\n```\n[nor this](nowhere.md)\n```\n")
    page = ROOT / "docs" / "page-under-test.md"  # never written: its text is given
    assert problems(page, text) == [
        "missing.md: no such file",
        "../../shared/SPEC.md: outside the repository",
        "https://example.com/SPEC.md: links outside the repository",
        "#nowhere: no heading #nowhere in docs/page-under-test.md",
        "../README.md#no-such-heading: no heading #no-such-heading in README.md",
        "http://x.example: links outside the repository",
    ]


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_resolves_inside_the_repository(path: Path) -> None:
    assert problems(path) == [], path.relative_to(ROOT)


def test_readme_is_short() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail to docs/"


def test_readme_says_first_what_it_does_not_protect_against() -> None:
    first_screen = "\n".join(README.read_text().splitlines()[:60])
    assert "not a sandbox" in first_screen
    assert "docs/limits.md" in first_screen


def ci_commands() -> dict[str, str]:
    """The README commands .ci/run runs, by kind ("demo", "test"), in its order."""
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    found: dict[str, str] = {}
    for i, line in enumerate(lines):
        match = re.match(r"#\s*The README's (demo|test) command, exactly\b.*:\s*$", line)
        if match:
            found[match.group(1)] = lines[i + 1]
    return found


def test_readme_setup_commands_are_the_ones_ci_runs() -> None:
    commands = ci_commands()
    assert list(commands) == ["demo", "test"], ".ci/run must run the README's demo command, then its test command"
    readme_lines = README.read_text().splitlines()
    positions = []
    for kind, command in commands.items():
        assert command.strip() and not command.lstrip().startswith("#"), f".ci/run: no {kind} command after its comment"
        assert command in readme_lines, f"the README's {kind} command differs from .ci/run's:\n{command}"
        positions.append(readme_lines.index(command))
    assert positions == sorted(positions), "the README shows the demo command first, then the test command"


def _commit_ids() -> set[str]:
    proc = subprocess.run(["git", "-C", str(ROOT), "rev-list", "--all"], capture_output=True, text=True)
    if proc.returncode:
        pytest.skip("not a git checkout")
    return set(proc.stdout.split())


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_commit_hashes_in_user_documentation(path: Path) -> None:
    commits = _commit_ids()
    words = set(re.findall(r"(?<![0-9a-fA-F])[0-9a-f]{7,40}(?![0-9a-fA-F])", path.read_text()))
    hashes = sorted(w for w in words if re.search("[a-f]", w) and any(c.startswith(w) for c in commits))
    assert hashes == [], f"{path.relative_to(ROOT)} names commits; say what changed (and when) instead"


def test_run_help_in_the_docs_is_the_real_one(tp: Runner) -> None:
    text = (ROOT / "docs" / "commands.md").read_text()
    match = re.search(r"<!-- the output of `tpython run --help`[^>]*-->\n```\n(.*?)\n```", text, re.S)
    assert match, "docs/commands.md shows `tpython run --help` after its marker comment"
    result = tp.cli("run", "--help")
    assert result.rc == 0, result
    assert match.group(1) == result.out.rstrip("\n"), "docs/commands.md: paste the new `tpython run --help`"
