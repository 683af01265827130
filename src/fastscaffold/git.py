"""Run git: the one place that starts git and turns its failures into typed errors."""

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from fastscaffold.errors import GitError

_ERRORS = ("fatal: ", "error: ")
_MISSING = "git is not installed; install git and retry"
# Commits made in fastscaffold's own scratch repositories need an author even on a machine
# with no git identity; none of them ever reaches the user's repository.
_IDENTITY = {
    "GIT_AUTHOR_NAME": "fastscaffold",
    "GIT_AUTHOR_EMAIL": "fastscaffold@localhost",
    "GIT_COMMITTER_NAME": "fastscaffold",
    "GIT_COMMITTER_EMAIL": "fastscaffold@localhost",
}


def run(
    *args: str, cwd: Path, stdin: bytes | None = None, env: Mapping[str, str] | None = None
) -> bytes:
    """Run `git ARGS` in `cwd` and return its stdout; raise GitError when git fails."""
    command = ["git", *args]
    try:
        done = subprocess.run(
            command,
            cwd=cwd,
            input=stdin,
            capture_output=True,
            env={**os.environ, **_IDENTITY, **(env or {})},
            check=False,
        )
    except FileNotFoundError:
        raise GitError(command=f"git {args[0]}", reason=_MISSING) from None
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        # git's first "fatal:" or "error:" line names the problem; hints follow it.
        errors = [line.split(": ", 1)[1] for line in lines if line.startswith(_ERRORS)]
        reason = (errors or lines or [f"exit status {done.returncode}"])[0]
        raise GitError(command=f"git {args[0]}", reason=reason)
    return done.stdout


def text(
    *args: str, cwd: Path, stdin: bytes | None = None, env: Mapping[str, str] | None = None
) -> str:
    """Run `git ARGS` in `cwd` and return its stdout as text, without the final newline."""
    out = run(*args, cwd=cwd, stdin=stdin, env=env)
    return out.decode("utf-8", "surrogateescape").rstrip("\n")


def toplevel(path: Path) -> Path | None:
    """Return the root of the git work tree holding `path`, or None outside one."""
    try:
        return Path(text("rev-parse", "--show-toplevel", cwd=path))
    except GitError as error:
        if error.reason == _MISSING:
            raise
        return None


def changes(path: Path) -> list[str]:
    """Return the uncommitted changes under `path` (untracked files included), as paths."""
    out = run("status", "--porcelain=v1", "-z", "--untracked-files=all", "--", ".", cwd=path)
    entries = out.decode("utf-8", "surrogateescape").split("\0")
    # Renames carry their source as the next entry; skip it.
    paths, skip = [], False
    for entry in entries:
        if skip or not entry:
            skip = False
            continue
        paths.append(entry[3:])
        skip = entry[0] in "RC"
    return paths


def commit_all(repo: Path, message: str) -> None:
    """Commit everything in `repo` (a scratch repository), ignoring hooks and signing config."""
    run("add", "-A", cwd=repo)
    run(
        "-c", f"core.hooksPath={os.devnull}",
        "commit", "-q", "--no-verify", "--no-gpg-sign", "--allow-empty", "-m", message,
        cwd=repo,
    )  # fmt: skip
