"""Bring a generated project to a newer template version, keeping the user's edits.

The update runs in a scratch clone of the project's repository (see `scratch`): copier's
3-way update against the template's git history, then the changed files are copied back.
"""

import shlex
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from packaging.version import Version

from fastscaffold import __version__, answers, changelog, git, history
from fastscaffold.answers import ANSWERS
from fastscaffold.errors import (
    DirtyProjectError,
    DowngradeError,
    GitError,
    MissingHistoryError,
    NotAGitRepoError,
    RenderError,
    UnknownProjectVersionError,
    UpdateError,
    VersionNotFoundError,
    shown,
)
from fastscaffold.render import record_source, render_version, update_project
from fastscaffold.scratch import Change, Scratch


@dataclass(frozen=True)
class Versions:
    """The project's template version and the version an update would bring it to."""

    current: Version
    target: Version


@dataclass
class Outcome:
    """What an update changed (or, for a dry run, would change), paths relative to the project."""

    versions: Versions
    changes: list[Change] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # changed here, removed by the update
    diff: str = ""
    notes: list[str] = field(default_factory=list)  # the changelog between the versions
    filled: dict[str, object] = field(default_factory=dict)  # answers to questions new since


def status(project: Path, *, to: str | None = None, template: str | None = None) -> Versions:
    """Return the project's template version and the newest one (or `to`) it could move to."""
    recorded = answers.read(project)
    source = _locate(template or str(recorded["_src_path"]))
    return _plan(project, recorded, source, list(_versions(source, project)), to)


def update(
    project: Path,
    *,
    to: str | None = None,
    data: Sequence[str] = (),
    template: str | None = None,
    dry_run: bool = False,
    stay: bool = False,
) -> Outcome:
    """Update `project` (a clean git work tree) to the template version `to` or the newest;
    with `stay`, re-answer the `data` questions at the project's own version."""
    last = answers.read(project)
    source = _locate(template or str(last["_src_path"]))
    given = answers.parse_data(data, last if source == history.BUILTIN else None)
    top = git.toplevel(project)
    if top is None:
        raise NotAGitRepoError(path=project)
    if dirty := git.changes(project):
        raise DirtyProjectError(path=project, files=dirty)
    subdir = project.resolve().relative_to(top.resolve())
    with tempfile.TemporaryDirectory(prefix="fastscaffold-update-") as tmp:
        try:
            if source == history.BUILTIN:
                url = str(Path(tmp) / "template")
                tags = history.materialise(Path(url))
            else:
                url, tags = source, _versions(source, project)
            versions = _plan(project, last, source, list(tags), to)
            if stay:
                versions = Versions(current=versions.current, target=versions.current)
            if versions.target == versions.current and not given:
                return Outcome(versions=versions)
            old = tags.get(versions.current, str(last["_commit"]))
            clone = Scratch.clone(top, Path(tmp) / "project", subdir)
            if url != last["_src_path"] or old != last["_commit"]:
                record_source(clone.project / ANSWERS, src_path=url, commit=old)
                clone.commit("fastscaffold: read the template from its history")
            # Old render first: it tells which files the user deleted (see `restore_deleted`).
            old_render = Path(tmp) / "old"
            render_version(url, old, {k: v for k, v in last.items() if k[0] != "_"}, old_render)
            deleted = clone.restore_deleted(old_render, keep={ANSWERS})
            update_project(clone.project, ref=tags.get(versions.target, old), data=given)
            restored = clone.drop_unchanged(deleted)
            kept = clone.keep_edited(old_render)
            recorded = yaml.safe_load((clone.project / ANSWERS).read_text("utf-8"))
            new_commit = recorded["_commit"]
            filled = {k: v for k, v in recorded.items() if k[0] != "_" and k not in last}
            record_source(clone.project / ANSWERS, src_path=source, commit=new_commit)
            changes, conflicts, diff = clone.outcome()
        except (RenderError, GitError, OSError) as error:
            detail = error.reason if isinstance(error, RenderError) else str(error)
            raise UpdateError(path=project, reason=f"{detail}; nothing was changed") from error
        if not dry_run:
            if git.changes(project) or git.text("rev-parse", "HEAD", cwd=top) != clone.head:
                reason = "the project changed during the update; nothing was changed"
                raise UpdateError(path=project, reason=reason)
            _apply(project, clone)
    return Outcome(
        versions=versions,
        changes=changes,
        conflicts=conflicts,
        restored=[c.path for c in changes if c.kind == "added" and c.path in restored],
        kept=kept,
        diff=diff if dry_run else "",
        notes=_notes(source, versions),
        filled=filled,
    )


def _notes(source: str, versions: Versions) -> list[str]:
    """What the built-in template's changelog says changed between the two versions."""
    if source != history.BUILTIN:
        return []
    from fastscaffold.options import template_root

    return changelog.between(changelog.read(template_root()), versions.current, versions.target)


def _apply(project: Path, clone: Scratch) -> None:
    try:
        clone.apply()
    except (OSError, GitError) as error:
        reason = (
            f"{error}; some files may have been written: `git status` shows them and "
            "`git checkout -- . && git clean -fd` takes them back"
        )
        raise UpdateError(path=project, reason=reason) from error


def _plan(
    project: Path,
    recorded: Mapping[str, Any],
    source: str,
    available: list[Version],
    to: str | None,
) -> Versions:
    """Check the recorded and target versions against what the template has."""
    described = _describe(source)
    commit = str(recorded.get("_commit") or "")
    current = history.parse(commit)
    if current is None:
        reason = f"its _commit {commit!r} is not a version tag" if commit else "no _commit"
        raise UnknownProjectVersionError(path=project, reason=reason)
    shown = [str(version) for version in available]
    # A project made from an untagged commit records `git describe` output (a local version,
    # `1.0.0.post2+gabc123`), which copier finds in the history by its hash.
    if current not in available and current.local is None:
        raise MissingHistoryError(
            path=project, version=str(current), source=described, available=shown
        )
    target = max(available) if available and to is None else history.parse(to or "")
    if target is None or target not in available:
        raise VersionNotFoundError(version=to or "", source=described, available=shown)
    if target < current:
        raise DowngradeError(path=project, current=str(current), target=str(target))
    return Versions(current=current, target=target)


def _versions(source: str, project: Path) -> dict[Version, str]:
    """Return the tags of the built-in template or of the git template at `source`, by version."""
    if source == history.BUILTIN:
        return {version: history.tag(version) for version in history.builtin_versions()}
    try:
        return history.tags(source, cwd=project)
    except GitError as error:
        reason = f"cannot list the versions of '{source}' ({error}); pass --template <its location>"
        raise UpdateError(path=project, reason=reason) from None


def _locate(source: str) -> str:
    """Return `source` with a local path made absolute, as copier would resolve it now."""
    if source == history.BUILTIN or "://" in source or source.startswith(("git@", "gh:", "gl:")):
        return source
    path = Path(source).expanduser()
    return str(path.resolve()) if path.exists() else source


def _describe(source: str) -> str:
    if source == history.BUILTIN:
        return f"the template of fastscaffold {__version__}"
    return f"the template at '{source}'"


def check_report(project: Path, versions: Versions) -> tuple[str, int]:
    """`update --check`'s line and exit code: 0 when current, 2 when an update is available."""
    if versions.target > versions.current:
        return (
            f"{shown(project)} is at template {versions.current}; {versions.target} is "
            f"available: run `fastscaffold update {shlex.quote(str(project))}`.",
            2,
        )
    return f"{shown(project)} is at template {versions.current}, up to date.", 0


def report(project: Path, outcome: Outcome, *, dry_run: bool) -> list[str]:
    """What an update did (or would do, `dry_run`): each file and how it changed."""
    old, new = outcome.versions.current, outcome.versions.target
    if not outcome.changes:
        return [f"{shown(project)} is at template {old}; nothing to update."]
    if new == old:
        verb = "Would change" if dry_run else "Changed"
    else:
        verb = "Would update" if dry_run else "Updated"
    versions = f"from template {old} to {new}" if new != old else f"at template {old}"
    lines = [f"{verb} {shown(project)} {versions}:"]
    for change in outcome.changes:
        kind = change.kind
        if change.path in outcome.conflicts:
            kind = "conflict"
        elif change.path in outcome.restored:
            kind = "restored"
        why = "  (you changed it; the update removes it)" if change.path in outcome.kept else ""
        lines.append(f"  {kind:<9} {change.path}{why}")
    if outcome.restored:
        lines.append("Restored files were deleted here but changed by this update; delete them")
        lines.append("again if you still do not want them.")
    if outcome.kept:
        lines.append("A file you changed that the update removes stays as you left it, unmerged")
        lines.append("(deleted by them): `git rm` it to let it go, or `git add` it to keep it.")
    if outcome.filled:
        given = ", ".join(f"{k}={answers.text(v)}" for k, v in outcome.filled.items())
        lines.append(f"Answered the questions new since {old} as {old} rendered: {given}")
        lines.append("(re-answer one with --data KEY=VALUE).")
    if outcome.notes:
        lines += ["", *outcome.notes, ""]
    if dry_run:
        lines.append(f"\n{outcome.diff}\n\nNothing was changed (--dry-run).")
    elif not outcome.conflicts:
        lines.append("Staged: review with `git diff --staged`, then commit.")
    return lines
