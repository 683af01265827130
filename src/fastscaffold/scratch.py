"""A throwaway clone of the user's repository, where an update runs before it is applied.

Copier updates a project in place and needs its answers file to point at a git template.
Running it in a clone lets fastscaffold point the answers at the template history it carries,
shows `--dry-run` exactly what a real update would do, and leaves the user's files untouched
until the update has succeeded; only then are the changed files copied back.
"""

import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from fastscaffold import git

_NO_HOOKS = ("-c", f"core.hooksPath={os.devnull}")


@dataclass(frozen=True)
class Change:
    """One file an update changes: `kind` is added, modified or deleted."""

    kind: str
    path: str  # with `/` separators


@dataclass
class Scratch:
    """A clone of the repository at `origin`, at its HEAD, holding the project at `subdir`."""

    origin: Path
    root: Path
    subdir: Path
    head: str
    _changes: list[Change] = field(default_factory=list)
    _unmerged: list[str] = field(default_factory=list)
    _kept: list[str] = field(default_factory=list)  # index entries of `keep_edited`'s files

    @classmethod
    def clone(cls, origin: Path, root: Path, subdir: Path) -> "Scratch":
        """Clone the committed state of the repository at `origin` into the new `root`."""
        head = git.text("rev-parse", "HEAD", cwd=origin)
        # --shared borrows the objects instead of copying them: cloning costs a checkout.
        args = ("clone", "-q", "--shared", "--no-checkout", str(origin), str(root))
        git.run(*_NO_HOOKS, *args, cwd=origin)
        git.run(*_NO_HOOKS, "checkout", "-q", "--detach", head, cwd=root)
        return cls(origin=origin, root=root, subdir=subdir, head=head)

    @property
    def project(self) -> Path:
        """The project's directory inside the clone."""
        return self.root / self.subdir

    def commit(self, message: str) -> None:
        """Commit every change in the clone, so that copier finds it clean."""
        git.commit_all(self.root, message)

    def restore_deleted(self, rendered: Path, *, keep: set[str]) -> dict[str, bytes]:
        """Put back the files of the old render `rendered` that the project no longer has.

        Copier then updates them like any untouched file, and `drop_unchanged` deletes again
        those the update did not change: a deleted file comes back only when the update
        changed it. Return the restored files' old contents, by project-relative path.
        """
        out = git.run("ls-files", "-z", cwd=self.project)
        tracked = set(out.decode("utf-8", "surrogateescape").split("\0"))
        names = {p.relative_to(rendered).as_posix() for p in rendered.rglob("*") if p.is_file()}
        deleted = {name: (rendered / name).read_bytes() for name in sorted(names - tracked - keep)}
        for name, content in deleted.items():
            (self.project / name).parent.mkdir(parents=True, exist_ok=True)
            (self.project / name).write_bytes(content)
        if deleted:
            self.commit("fastscaffold: bring back deleted files to see if the update changes them")
        return deleted

    def drop_unchanged(self, deleted: dict[str, bytes]) -> set[str]:
        """Delete again each restored file the update left as it was; return those it kept."""
        kept = set()
        for name, old in deleted.items():
            path = self.project / name
            if path.is_file() and path.read_bytes() == old:
                path.unlink()
            elif path.is_file():
                kept.add(name)
        return kept

    def keep_edited(self, rendered: Path) -> list[str]:
        """Put back each file of the old render `rendered` that the user changed and the update
        deleted (a feature removed, a file the template dropped), as a conflict: it stays with
        the user's content, unmerged as "deleted by them", for the user to `git rm` or keep.

        Copier deletes such a file whatever it holds. Return the kept files, project-relative.
        """
        kept = []
        for path in sorted(p for p in rendered.rglob("*") if p.is_file() or p.is_symlink()):
            name = path.relative_to(rendered).as_posix()
            if os.path.lexists(self.project / name):
                continue
            full = (self.subdir / name).as_posix()
            listed = git.run("ls-tree", "-z", "HEAD", "--", full, cwd=self.root).decode()
            if not listed:
                continue  # deleted by the user, and the update does not bring it back
            mode, _, sha = listed.split("\t", 1)[0].split()
            if path.is_symlink():  # a link's blob is its target's path
                target = os.readlink(path).encode("utf-8", "surrogateescape")
                base = git.text("hash-object", "-w", "--stdin", cwd=self.root, stdin=target)
                old_mode = "120000"
            else:
                base = git.text("hash-object", "-w", "--", str(path), cwd=self.root)
                old_mode = "100755" if path.stat().st_mode & stat.S_IXUSR else "100644"
            if (base, old_mode) == (sha, mode):
                continue  # as the template made it: the update may delete it
            git.run("checkout", "-q", "HEAD", "--", full, cwd=self.root)
            self._kept += [f"{old_mode} {base} 1\t{full}", f"{mode} {sha} 2\t{full}"]
            kept.append(name)
        return kept

    def outcome(self) -> tuple[list[Change], list[str], str]:
        """Return the changed files, the conflicted ones and the diff, relative to the project."""
        # Read the unmerged entries copier left before staging resolves them.
        out = git.run("ls-files", "-u", "-z", cwd=self.root)
        self._unmerged = [e for e in out.decode("utf-8", "surrogateescape").split("\0") if e]
        self._unmerged += self._kept
        where = ("--", self.subdir.as_posix())
        git.run("add", "-A", *where, cwd=self.root)
        diff = ("diff", "--cached", "--no-renames", "--no-ext-diff", "--no-color", self.head)
        out = git.run(*diff, "--name-status", "-z", *where, cwd=self.root)
        fields = out.decode("utf-8", "surrogateescape").split("\0")
        kinds = {"A": "added", "D": "deleted"}
        self._changes = [
            Change(kind=kinds.get(status, "modified"), path=path)
            for status, path in zip(fields[::2], fields[1::2], strict=False)
            if status
        ]
        # A kept file is as it was at HEAD, so the diff leaves it out; the report lists it.
        self._changes += [Change("kept", e.split("\t", 1)[1]) for e in self._kept[1::2]]
        self._changes.sort(key=lambda change: change.path)
        conflicts = sorted({entry.split("\t", 1)[1] for entry in self._unmerged})
        return (
            [Change(c.kind, self._local(c.path)) for c in self._changes],
            [self._local(path) for path in conflicts],
            git.text(*diff, *where, cwd=self.root),
        )

    def apply(self) -> None:
        """Copy the changed files into the origin and stage them there, so that `git diff
        --staged` shows the whole update (added and deleted files too); the conflicted ones
        are left unmerged in its index instead."""
        for change in self._changes:
            target = self.origin / change.path
            if change.kind == "kept":
                continue  # the origin holds it as it is
            if change.kind == "deleted":
                target.unlink(missing_ok=True)
                _prune_empty(target.parent, self.origin)
            else:
                _copy(self.root / change.path, target)
        conflicted = {entry.split("\t", 1)[1] for entry in self._unmerged}
        staged = [c.path for c in self._changes if c.path not in conflicted]
        if staged:
            paths = b"\0".join(path.encode("utf-8", "surrogateescape") for path in staged)
            add = ("add", "-A", "--pathspec-from-file=-", "--pathspec-file-nul")
            git.run("--literal-pathspecs", *add, cwd=self.origin, stdin=paths)
        if self._unmerged:
            self._record_conflicts()

    def _local(self, path: str) -> str:
        prefix = f"{self.subdir.as_posix()}/" if self.subdir.parts else ""
        return path.removeprefix(prefix)

    def _record_conflicts(self) -> None:
        # The stages copier wrote (1 base, 2 the user's, 3 the new template) make `git status`
        # show the files as unmerged, so they cannot be committed with their markers by mistake.
        lines, paths = [], []
        for entry in self._unmerged:
            meta, path = entry.split("\t", 1)
            mode, sha, stage = meta.split()
            blob = git.run("cat-file", "blob", sha, cwd=self.root)
            git.run("hash-object", "-w", "--stdin", cwd=self.origin, stdin=blob)
            lines.append(f"{mode} {sha} {stage}\t{path}")
            if path not in paths:
                paths.append(path)
        drop = [f"0 {'0' * 40}\t{path}" for path in paths]
        info = "\n".join([*drop, *lines]) + "\n"
        git.run("update-index", "--index-info", cwd=self.origin, stdin=info.encode())


def _copy(source: Path, target: Path) -> None:
    """Replace `target` with `source` (file or symlink), atomically per file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.fastscaffold-tmp")
    if source.is_symlink():
        temporary.symlink_to(os.readlink(source))
    else:
        shutil.copyfile(source, temporary)
        os.chmod(temporary, stat.S_IMODE(source.stat().st_mode))
    os.replace(temporary, target)


def _prune_empty(directory: Path, stop: Path) -> None:
    """Remove `directory` and its parents up to `stop` while they are empty."""
    while directory != stop and directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()
        directory = directory.parent
