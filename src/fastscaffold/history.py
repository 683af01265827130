"""The template's released versions, carried offline and replayed as a git repository.

A project records the template version it came from as copier's `_commit` (a tag such as
`v0.1.0`). To update it, copier must re-render that old version, so the wheel carries every
released version: at build time each release tag `vX.Y.Z` of this repository below the
package version becomes a commit holding only `copier.yml` and `template/`, and those commits
go into a git bundle shipped as package data. At update time the bundle is fetched into a
temporary repository and the template this package renders today is committed on top as
`v{__version__}`. A source checkout builds the same commits from its own tags instead.
"""

import re
import tempfile
from pathlib import Path

from packaging.version import InvalidVersion, Version

from fastscaffold import __version__, changelog, git
from fastscaffold.errors import GitError

BUILTIN = "fastscaffold"
"""The `_src_path` recorded for the template this package ships."""

BUNDLE = Path(__file__).parent / "_history.bundle"
_TEMPLATE_PATHS = ("copier.yml", "template")
_DESCRIBED = re.compile(r"^(?P<tag>.+)-(?P<count>\d+)-g(?P<sha>[0-9a-f]+)$")
_SHA = re.compile(r"^[0-9a-f]{40}$")


def tag(version: Version) -> str:
    """Return the release tag of `version`: `v0.1.0`."""
    return f"v{version}"


def current() -> Version:
    """Return the version of the template this package renders."""
    return Version(__version__)


def parse(ref: str) -> Version | None:
    """Read a tag or `git describe` output as a PEP 440 version, the way copier does."""
    described = _DESCRIBED.match(ref)
    text = ref
    if described:
        text = f"{described['tag']}.post{described['count']}+{described['sha']}"
    try:
        return Version(text)
    except InvalidVersion:
        return None


def tags(source: str, cwd: Path) -> dict[Version, str]:
    """Return the PEP 440 tags of the git repository, bundle or URL `source`, by version."""
    out = git.text("ls-remote", "--tags", "--refs", "--", source, cwd=cwd)
    found: dict[Version, str] = {}
    for line in out.splitlines():
        name = line.partition("\t")[2].removeprefix("refs/tags/")
        version = parse(name)
        if version is not None:
            found.setdefault(version, name)
    return dict(sorted(found.items()))


VERSION_FILE = "src/fastscaffold/__init__.py"
_DECLARED = re.compile(r"""^__version__\s*=\s*["']([^"']+)["']""", re.M)


def releases(repo: Path) -> dict[Version, str]:
    """Return the releases in `repo`'s history, by version: the commit of each.

    A release is the last commit of the first-parent history of HEAD that declares its
    version in `src/fastscaffold/__init__.py`: the parent of the commit that changes it. The
    version HEAD declares is not released yet. A commit the changelog names for a version
    (`## 0.1.0 (commit SHA)`) wins over that, and a tag `vX.Y.Z`, where one exists, wins
    over both: a clone with tags and one without agree wherever the tag sits on the release
    commit, and a tag placed elsewhere is still honoured.
    """
    found: dict[Version, str] = {}
    changes = git.text(
        "log", "--first-parent", "--format=%H %P", "--", VERSION_FILE, cwd=repo
    ).splitlines()  # newest first
    for line in changes:
        commit, *parents = line.split()
        if not parents:
            continue
        before, after = _declared(repo, parents[0]), _declared(repo, commit)
        if before is not None and before != after and before not in found:
            found[before] = parents[0]
    found.update(_recorded(repo))
    try:
        tagged = tags(str(repo), cwd=repo)
    except GitError:
        tagged = {}
    found.update(tagged)
    return dict(sorted(found.items()))


def _recorded(repo: Path) -> dict[Version, str]:
    """Release commits the changelog at HEAD names (`## 0.1.0 (commit SHA)`): the record of a
    release whose version later commits went on declaring."""
    try:
        text = git.text("show", f"HEAD:{changelog.NAME}", cwd=repo)
    except GitError:
        return {}
    recorded = {r.version: r.commit for r in changelog.parse(text) if r.commit}
    return {version: commit for version, commit in recorded.items() if _exists(repo, commit)}


def _exists(repo: Path, commit: str) -> bool:
    """Whether `repo` holds `commit` (a copy of the repository with another history may
    carry the changelog without its commits)."""
    try:
        git.run("cat-file", "-e", f"{commit}^{{commit}}", cwd=repo)
    except GitError:
        return False
    return True


def _declared(repo: Path, commit: str) -> Version | None:
    """The version `commit` declares in the version file, or None."""
    try:
        text = git.text("show", f"{commit}:{VERSION_FILE}", cwd=repo)
    except GitError:
        return None
    match = _DECLARED.search(text)
    try:
        return Version(match[1]) if match else None
    except InvalidVersion:
        return None


def builtin_versions() -> list[Version]:
    """Return every template version this package can render, oldest first."""
    if BUNDLE.is_file():
        released = _bundle_versions(BUNDLE)
    elif (checkout := _checkout()) is not None:
        released = [v for v in releases(checkout) if v < current()]
    else:
        released = []
    return [*released, current()]


def build_bundle(repo: Path, out: Path, *, below: Version) -> list[Version]:
    """Write to `out` one template-only commit per release of `repo` below `below`."""
    released = {v: rev for v, rev in releases(repo).items() if v < below}
    if not released:
        return []
    with tempfile.TemporaryDirectory(prefix="fastscaffold-history-") as tmp:
        work = Path(tmp)
        git.run("init", "-q", "--bare", cwd=work)
        replayed = _replay(work, repo, released)
        if replayed:
            git.run("bundle", "create", "-q", str(out), "--tags", cwd=work)
    return replayed


def materialise(dest: Path) -> dict[Version, str]:
    """Build in `dest` a git repository of every built-in template version; return its tags."""
    git.run("init", "-q", "-b", "main", str(dest), cwd=dest.parent)
    if BUNDLE.is_file():
        git.run("fetch", "-q", "--no-tags", str(BUNDLE), "refs/tags/*:refs/tags/*", cwd=dest)
    elif (checkout := _checkout()) is not None:
        released = {v: rev for v, rev in releases(checkout).items() if v < current()}
        _replay(dest, checkout, released)
    parent = list(tags(str(dest), cwd=dest).values())[-1:]
    # Commit the template as this package renders it, through a throwaway index so that
    # nothing is checked out: copier clones this repository and never reads its work tree.
    index = {"GIT_INDEX_FILE": str(dest / ".git" / "fastscaffold-index")}
    root = _template_root()
    files = b"\0".join(str(path.relative_to(root)).encode() for path in _template_files(root))
    add = ("add", "-f", "--pathspec-from-file=-", "--pathspec-file-nul")
    git.run("--literal-pathspecs", f"--work-tree={root}", *add, cwd=dest, stdin=files, env=index)
    tree = git.text("write-tree", cwd=dest, env=index)
    head = _commit(dest, tree, parent, f"fastscaffold template {current()}")
    git.run("update-ref", f"refs/tags/{tag(current())}", head, cwd=dest)
    git.run("update-ref", "refs/heads/main", head, cwd=dest)
    return tags(str(dest), cwd=dest)


def _bundle_versions(bundle: Path) -> list[Version]:
    """Read the tags from a bundle's header, without git: `--check` must stay cheap."""
    found = []
    with bundle.open("rb") as lines:
        next(lines)  # "# v2 git bundle"
        for line in lines:
            if not line.strip():
                break
            name = line.decode().rstrip("\n").partition(" ")[2].removeprefix("refs/tags/")
            if not line.startswith((b"-", b"@")) and (version := parse(name)) is not None:
                found.append(version)
    return sorted(found)


def _replay(work: Path, source: Path, released: dict[Version, str]) -> list[Version]:
    """Commit, in version order, the template part of each release (a tag name or a commit)
    of `source`."""
    if not released:
        return []
    refs = {version: f"refs/sources/v{version}" for version in released}
    refspecs = [
        f"{rev if _SHA.match(rev) else 'refs/tags/' + rev}:{refs[version]}"
        for version, rev in released.items()
    ]
    git.run("fetch", "-q", "--no-tags", str(source), *refspecs, cwd=work)
    parent: list[str] = []
    replayed = []
    for version in released:
        ref = refs[version]
        entries = git.run("ls-tree", ref, "--", *_TEMPLATE_PATHS, cwd=work)
        if entries.count(b"\n") < len(_TEMPLATE_PATHS):
            continue  # a tag from before the template existed
        tree = git.text("mktree", cwd=work, stdin=entries)
        date = git.text("log", "-1", "--format=%cI", ref, cwd=work)
        commit = _commit(work, tree, parent, f"fastscaffold template {version}", date)
        git.run("update-ref", f"refs/tags/{tag(version)}", commit, cwd=work)
        parent = [commit]
        replayed.append(version)
    for ref in refs.values():
        git.run("update-ref", "-d", ref, cwd=work)
    return replayed


def _commit(repo: Path, tree: str, parent: list[str], message: str, date: str = "") -> str:
    # A fixed date keeps the bundle, and so the wheel, the same from build to build.
    when = date or "2000-01-01T00:00:00+00:00"
    env = {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    parents = [arg for sha in parent for arg in ("-p", sha)]
    return git.text(
        "commit-tree", "--no-gpg-sign", tree, *parents, "-m", message, cwd=repo, env=env
    )


def _template_files(root: Path) -> list[Path]:
    # Listed by hand rather than by `git add`: the template's own .gitignore must not hide
    # its files, and pip's byte-compiled caches must not be committed.
    files = [root / "copier.yml"]
    for path in sorted((root / "template").rglob("*")):
        parts = path.relative_to(root).parts
        if "__pycache__" in parts or path.suffix in (".pyc", ".pyo") or path.is_dir():
            continue
        files.append(path)
    return files


def _checkout() -> Path | None:
    """Return the source checkout the template is read from, when it is a git repository."""
    root = _template_root()
    return root if (root / ".git").exists() else None


def _template_root() -> Path:
    # Imported here: the build hook imports this module where PyYAML is not installed.
    from fastscaffold.options import template_root

    return template_root()
