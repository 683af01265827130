"""The template's changelog (CHANGELOG.md): one section per release, read for `update`.

A section is `## VERSION`, optionally `(commit SHA)` naming its release commit, with
`### Settings` and `### Behaviour` parts of bullet points.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import InvalidVersion, Version

NAME = "CHANGELOG.md"
_HEADING = re.compile(r"^## (?P<version>\S+)(?: \(commit (?P<commit>[0-9a-f]{40})\))?\s*$")


@dataclass
class Release:
    """One section: its version, release commit (if named) and its entries by part."""

    version: Version
    commit: str | None = None
    parts: dict[str, list[str]] = field(default_factory=dict)


def parse(text: str) -> list[Release]:
    """Every section of a changelog, in the order written (newest first)."""
    found: list[Release] = []
    part = ""
    for line in text.splitlines():
        if heading := _HEADING.match(line):
            try:
                found.append(Release(Version(heading["version"]), heading["commit"]))
            except InvalidVersion:
                continue
            part = ""
        elif line.startswith("### ") and found:
            part = line[4:].strip()
        elif found and part:
            entries = found[-1].parts.setdefault(part, [])
            if line.startswith("- "):
                entries.append(line[2:].strip())
            elif line.startswith("  ") and entries:
                entries[-1] += " " + line.strip()
    return found


def read(root: Path) -> list[Release]:
    """The changelog shipped beside the template at `root` (none: no sections)."""
    try:
        return parse((root / NAME).read_text("utf-8"))
    except OSError:
        return []


def between(releases: list[Release], after: Version, upto: Version) -> list[str]:
    """The entries of the releases after `after` up to `upto`, as lines: every settings
    change first, oldest release first, then the behaviour changes."""
    chosen = sorted((r for r in releases if after < r.version <= upto), key=lambda r: r.version)
    lines = []
    settings = [(r.version, e) for r in chosen for e in r.parts.get("Settings", [])]
    if settings:
        lines.append("Settings changed (before you deploy):")
        lines += [f"  {version}: {entry}" for version, entry in settings]
    behaviour = [(r.version, e) for r in chosen for e in r.parts.get("Behaviour", [])]
    if behaviour:
        lines.append("Behaviour changed:")
        lines += [f"  {version}: {entry}" for version, entry in behaviour]
    return lines
