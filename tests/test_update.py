"""`fastscaffold update` on real version histories: tag v1, change the template, tag v2, ...

A module fixture copies the real template into a git repository tagged v1.0.0, generates a
project from it, then commits two more template versions (v2.0.0, v3.0.0). Each test takes a
copy of that project, edits it as a user would, and updates it. Git runs as on a fresh
machine: no global configuration and so no identity, except what the tests pass themselves.
"""

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uv
import yaml
from packaging.version import Version
from typer.testing import CliRunner, Result

from fastscaffold import __version__, history
from fastscaffold.cli import app
from fastscaffold.render import render_version
from tests.generated import install, make_venv

REPO = Path(__file__).resolve().parents[1]
IDENTITY = ("-c", "user.name=Test User", "-c", "user.email=test@example.com")
MARKER = "<<<<<<< before updating"


def git(cwd: Path, *args: str) -> str:
    """Run git as the test's user; fail the test with git's message when it fails."""
    done = subprocess.run(["git", *IDENTITY, *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def fastscaffold(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(arg) for arg in args], catch_exceptions=False)


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` but git's own, with its bytes."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".git" not in path.relative_to(root).parts
    }


def answers(project: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((project / ".copier-answers.yml").read_text())
    return data


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def copy_template(dest: Path) -> None:
    """Copy the checkout's template (copier.yml + template/) into `dest`."""
    dest.mkdir(parents=True)
    shutil.copy2(REPO / "copier.yml", dest / "copier.yml")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "template", dest / "template", ignore=ignore)


@pytest.fixture(scope="module", autouse=True)
def fresh_machine_git(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No global or system git config: commits made without an explicit identity fail."""
    config = tmp_path_factory.mktemp("git-home") / "gitconfig"
    config.write_text("[user]\n\tuseConfigOnly = true\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GIT_CONFIG_GLOBAL", str(config))
        patch.setenv("GIT_CONFIG_NOSYSTEM", "1")
        for name in ("AUTHOR_NAME", "AUTHOR_EMAIL", "COMMITTER_NAME", "COMMITTER_EMAIL"):
            patch.delenv(f"GIT_{name}", raising=False)
        yield


@dataclass(frozen=True)
class History:
    """A template repository with tags v1.0.0..v3.0.0 and a project generated at v1.0.0."""

    template: Path
    project: Path


@pytest.fixture(scope="module")
def history_repo(tmp_path_factory: pytest.TempPathFactory) -> History:
    root = tmp_path_factory.mktemp("history")
    template, project = root / "template-repo", root / "generated"
    copy_template(template)
    git(template, "init", "-q", "-b", "main")
    commit_all(template, "Template 1.0.0")
    git(template, "tag", "v1.0.0")

    result = fastscaffold("new", project, "--template", template, "--project-name", "svc", "--yes")
    assert result.exit_code == 0, result.output
    git(project, "init", "-q", "-b", "main")
    commit_all(project, "Generated at template 1.0.0")

    files = template / "template"
    readme = files / "README.md.jinja"
    lines = readme.read_text().splitlines(keepends=True)
    readme.write_text("".join(["# {{ project_name }}: a FastAPI service\n", *lines[1:]]))
    config = files / "app" / "core" / "config.py.jinja"
    config.write_text("# v2: every setting is an environment variable.\n" + config.read_text())
    append(files / "app" / "core" / "threads.py", "# v2: events are kept in memory only.\n")
    (files / "CHANGELOG.md").write_text("## 2.0.0\n")
    commit_all(template, "Template 2.0.0")
    git(template, "tag", "v2.0.0")

    append(files / "app" / "core" / "workers.py", "# v3: pools are opened in the lifespan.\n")
    append(files / "CHANGELOG.md", "## 3.0.0\n")
    commit_all(template, "Template 3.0.0")
    git(template, "tag", "v3.0.0")
    return History(template=template, project=project)


@pytest.fixture
def project(history_repo: History, tmp_path: Path) -> Path:
    """A committed project at template 1.0.0, with its git history."""
    copy = tmp_path / "svc"
    shutil.copytree(history_repo.project, copy, symlinks=True)
    return copy


def test_new_records_the_template_and_its_version(history_repo: History) -> None:
    recorded = answers(history_repo.project)
    assert (recorded["_src_path"], recorded["_commit"]) == (str(history_repo.template), "v1.0.0")


# One update of a project edited the way users do, observed by the tests below.


@dataclass(frozen=True)
class Updated:
    project: Path
    result: Result


@pytest.fixture(scope="module")
def updated(history_repo: History, tmp_path_factory: pytest.TempPathFactory) -> Updated:
    project = tmp_path_factory.mktemp("edited") / "svc"
    shutil.copytree(history_repo.project, project, symlinks=True)
    readme = project / "README.md"
    lines = readme.read_text().splitlines(keepends=True)
    readme.write_text("".join(["# svc, the orders service\n", *lines[1:]]))
    append(project / "app" / "main.py", "# user: routers are mounted in create_app.\n")
    append(project / "app" / "core" / "config.py", "# user: nothing after Settings.\n")
    (project / "app" / "core" / "threads.py").unlink()
    (project / "app" / "core" / "feature.py").unlink()
    commit_all(project, "User edits")
    return Updated(project=project, result=fastscaffold("update", project))


def test_template_changes_arrive(updated: Updated, history_repo: History) -> None:
    project = updated.project
    assert (project / "CHANGELOG.md").read_text() == "## 2.0.0\n## 3.0.0\n"
    assert (project / "app" / "core" / "workers.py").read_text().endswith("in the lifespan.\n")
    assert answers(project)["_commit"] == "v3.0.0"
    assert answers(project)["_src_path"] == str(history_repo.template)


def test_user_edits_survive_beside_template_changes_in_the_same_file(updated: Updated) -> None:
    config = (updated.project / "app" / "core" / "config.py").read_text()
    assert config.startswith("# v2: every setting is an environment variable.\n")
    assert config.endswith("# user: nothing after Settings.\n")
    main = (updated.project / "app" / "main.py").read_text()
    assert main.endswith("# user: routers are mounted in create_app.\n")


def test_a_genuine_conflict_is_marked_reported_and_exits_1(updated: Updated) -> None:
    assert updated.result.exit_code == 1
    readme = (updated.project / "README.md").read_text()
    assert readme.startswith(
        f"{MARKER}\n# svc, the orders service\n=======\n# svc: a FastAPI service\n"
        ">>>>>>> after updating\n"
    )
    assert "  conflict  README.md\n" in updated.result.stdout
    assert updated.result.stderr.splitlines() == [
        "Error: the update left 1 conflict(s): resolve the <<<<<<< markers in 'README.md' and "
        "`git add` them; then commit."
    ]
    # Unmerged in git's index too, so the markers cannot be committed by accident.
    assert git(updated.project, "ls-files", "-u", "--", "README.md").count("README.md") == 3


def test_a_deleted_file_returns_only_when_the_update_changed_it(updated: Updated) -> None:
    core = updated.project / "app" / "core"
    assert (core / "threads.py").read_text().endswith("# v2: events are kept in memory only.\n")
    assert not (core / "feature.py").exists()
    assert "  restored  app/core/threads.py\n" in updated.result.stdout
    assert "feature.py" not in updated.result.stdout


def test_the_update_is_left_uncommitted_for_review(updated: Updated) -> None:
    assert git(updated.project, "log", "-1", "--format=%s").strip() == "User edits"
    status = git(updated.project, "status", "--porcelain").splitlines()
    # Staged, added files too, so `git diff --staged` shows it all; the conflict unmerged.
    assert {"UU README.md", "A  CHANGELOG.md", "M  app/core/workers.py"} <= set(status)
    assert not [line for line in status if line[1] != " " and not line.startswith("UU")]


def test_check_exits_0_once_updated(updated: Updated) -> None:
    result = fastscaffold("update", updated.project, "--check")
    assert (result.exit_code, result.stdout) == (
        0,
        f"{updated.project} is at template 3.0.0, up to date.\n",
    )


# --check, --to, --dry-run, --data


def test_check_exits_2_naming_both_versions(project: Path) -> None:
    result = fastscaffold("update", project, "--check")
    assert result.exit_code == 2
    assert result.stdout.startswith(f"{project} is at template 1.0.0; 3.0.0 is available")
    assert fastscaffold("update", project, "--check", "--to", "1.0.0").exit_code == 0


def test_to_stops_at_that_version(project: Path) -> None:
    result = fastscaffold("update", project, "--to", "v2.0.0")
    assert result.exit_code == 0, result.output
    assert "from template 1.0.0 to 2.0.0" in result.stdout
    assert (project / "CHANGELOG.md").read_text() == "## 2.0.0\n"
    assert "v3" not in (project / "app" / "core" / "workers.py").read_text()
    commit_all(project, "Template 2.0.0")
    behind = fastscaffold("update", project, "--check")
    assert (behind.exit_code, "2.0.0; 3.0.0 is available" in behind.stdout) == (2, True)


def test_downgrade_is_refused_untouched(project: Path) -> None:
    path = project / ".copier-answers.yml"
    path.write_text(path.read_text().replace("_commit: v1.0.0", "_commit: v3.0.0"))
    commit_all(project, "Pretend the project is at 3.0.0")
    before = tree(project)
    result = fastscaffold("update", project, "--to", "1.0.0")
    assert result.exit_code == 1
    assert f"'{project}' is at template 3.0.0, newer than 1.0.0;" in result.stderr
    assert tree(project) == before


def test_unknown_to_version_is_a_usage_error(project: Path) -> None:
    result = fastscaffold("update", project, "--to", "9.0")
    assert result.exit_code == 2
    assert "'9.0' is not a version of the template at" in result.stderr
    assert "choose one of 1.0.0, 2.0.0, 3.0.0." in result.stderr


def test_dry_run_shows_the_changes_and_writes_nothing(project: Path) -> None:
    before = tree(project)
    result = fastscaffold("update", project, "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"Would update {project} from template 1.0.0 to 3.0.0:" in result.stdout
    assert "  added     CHANGELOG.md\n" in result.stdout
    assert "+# v3: pools are opened in the lifespan." in result.stdout
    assert tree(project) == before
    assert git(project, "status", "--porcelain") == ""


def test_data_switches_an_option(project: Path, history_repo: History, tmp_path: Path) -> None:
    result = fastscaffold("update", project, "--data", "server=gunicorn", "--data", "workers=3")
    assert result.exit_code == 0, result.output
    assert "  added     gunicorn.conf.py\n" in result.stdout
    # No user edits: the result is exactly a fresh render with the new answers.
    fresh = tmp_path / "fresh"
    args = ["--server", "gunicorn", "--workers", "3", "--project-name", "svc", "--yes"]
    rendered = fastscaffold("new", fresh, "--template", history_repo.template, *args)
    assert rendered.exit_code == 0, rendered.output
    assert tree(project) == tree(fresh)


def test_set_keeps_the_version_and_names_the_newer_one(
    project: Path, history_repo: History, tmp_path: Path
) -> None:
    result = fastscaffold("set", "server=gunicorn", "workers=3", "-C", project)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Changed {project} at template 1.0.0:\n")
    assert "  added     gunicorn.conf.py\n" in result.stdout
    assert result.stdout.endswith(
        "Template 3.0.0 is available; this change kept the project at 1.0.0: "
        "`fastscaffold update` brings it.\n"
    )
    recorded = answers(project)
    assert (recorded["_commit"], recorded["server"], recorded["workers"]) == (
        "v1.0.0",
        "gunicorn",
        "3",
    )
    # No user edits: exactly what template 1.0.0 renders with the new answers.
    fresh = tmp_path / "fresh"
    given = {k: v for k, v in recorded.items() if not k.startswith("_")}
    render_version(str(history_repo.template), "v1.0.0", given, fresh)
    assert tree(project) == tree(fresh)


def test_remove_on_a_fork_passes_a_list_to_copier(project: Path) -> None:
    result = fastscaffold("remove", "compose", "-C", project)
    assert result.exit_code == 0, result.output
    assert "  deleted   compose.yaml\n" in result.stdout
    assert answers(project)["deployment"] == ["docker"]


def test_set_on_an_unclean_project_says_nothing_of_a_change(project: Path) -> None:
    (project / "notes.txt").write_text("not committed\n")
    result = fastscaffold("set", "server=gunicorn", "-C", project)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: '{project}' has uncommitted changes ('notes.txt')")
    assert result.stderr.splitlines()[0].endswith("then run the command again.")


def test_project_in_a_subdirectory_of_a_repository(project: Path, tmp_path: Path) -> None:
    mono = tmp_path / "mono"
    shutil.copytree(project, mono / "services" / "svc", ignore=shutil.ignore_patterns(".git"))
    (mono / "NOTES.md").write_text("other teams' files\n")
    git(mono, "init", "-q", "-b", "main")
    commit_all(mono, "Monorepo")
    result = fastscaffold("update", mono / "services" / "svc")
    assert result.exit_code == 0, result.output
    assert (mono / "services" / "svc" / "CHANGELOG.md").is_file()
    assert not (mono / "CHANGELOG.md").exists()
    status = git(mono, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert "A  services/svc/CHANGELOG.md" in status  # staged, in the subdirectory
    assert all(line[3:].startswith("services/svc/") for line in status)


# Refusals: nothing on disk changes.


@pytest.mark.parametrize("change", ["modified", "staged", "untracked"])
def test_uncommitted_changes_are_refused_untouched(project: Path, change: str) -> None:
    main = project / "app" / "main.py"
    if change == "untracked":
        (project / "scratch.txt").write_text("notes\n")
    else:
        append(main, "# half-done work\n")
    if change == "staged":
        git(project, "add", "app/main.py")
    before, status = tree(project), git(project, "status", "--porcelain")
    result = fastscaffold("update", project)
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"Error: '{project}' has uncommitted changes (")
    assert "commit or stash them" in line
    assert (tree(project), git(project, "status", "--porcelain")) == (before, status)


def test_a_project_outside_git_is_refused_untouched(project: Path) -> None:
    shutil.rmtree(project / ".git")
    before = tree(project)
    result = fastscaffold("update", project)
    assert result.exit_code == 1
    assert "is not in a git repository" in result.stderr
    assert "git init" in result.stderr
    assert tree(project) == before


def test_update_help_does_not_import_copier() -> None:
    probe = (
        "import sys; from typer.testing import CliRunner; from fastscaffold.cli import app; "
        "assert CliRunner().invoke(app, ['update', '--help']).exit_code == 0; "
        "print(sorted(m for m in ('copier', 'jinja2', 'yaml') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, "[]\n"), done.stderr


@pytest.mark.parametrize("args", [["new", "svc", "--yes"], ["update", "."]])
def test_a_template_that_does_not_exist_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "no-such-template"
    result = fastscaffold(*args, "--template", missing)
    assert result.exit_code == 2
    assert f"'{missing}' is neither a directory nor a git URL" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_directory_without_answers_is_refused(tmp_path: Path) -> None:
    result = fastscaffold("update", tmp_path)
    assert result.exit_code == 1
    assert "has no .copier-answers.yml" in result.stderr


# The built-in template: its version is recorded; a fork with the same tags can take over.


@pytest.fixture
def builtin_project(tmp_path: Path) -> Path:
    project = tmp_path / "builtin"
    result = fastscaffold("new", project, "--yes")
    assert result.exit_code == 0, result.output
    git(project, "init", "-q", "-b", "main")
    commit_all(project, "Generated")
    return project


def test_builtin_project_records_the_package_version(builtin_project: Path) -> None:
    recorded = answers(builtin_project)
    assert (recorded["_src_path"], recorded["_commit"]) == ("fastscaffold", f"v{__version__}")
    check = fastscaffold("update", builtin_project, "--check")
    assert (check.exit_code, check.stdout.endswith("up to date.\n")) == (0, True)
    result = fastscaffold("update", builtin_project)
    assert (result.exit_code, result.stdout.endswith("nothing to update.\n")) == (0, True)


@pytest.mark.parametrize(
    ("item", "fragment"),
    [
        ("server=foo", "'server=foo' is not a valid --data: choose one of uvicorn"),
        ("server", "'server' is not a valid --data: write it as KEY=VALUE"),
        ("broker=kafka", "'broker' is not a question"),
        ("workers=0", "'workers=0' is not a valid --data: must be between 1 and 256"),
    ],
)
def test_bad_data_is_a_usage_error(builtin_project: Path, item: str, fragment: str) -> None:
    before = tree(builtin_project)
    result = fastscaffold("update", builtin_project, "--data", item)
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert "Try 'fastscaffold update --help' for help." in result.stderr
    assert tree(builtin_project) == before


def test_a_fork_with_the_same_tags_takes_over(builtin_project: Path, tmp_path: Path) -> None:
    fork = tmp_path / "fork"
    copy_template(fork)
    git(fork, "init", "-q", "-b", "main")
    commit_all(fork, "Fork of fastscaffold's template")
    git(fork, "tag", history.tag(history.current()))
    (fork / "template" / "TEAM.md").write_text("Owned by the platform team.\n")
    commit_all(fork, "Team conventions")
    git(fork, "tag", "v99.0.0")
    result = fastscaffold("update", builtin_project, "--template", fork)
    assert result.exit_code == 0, result.output
    assert (builtin_project / "TEAM.md").read_text() == "Owned by the platform team.\n"
    assert answers(builtin_project)["_src_path"] == str(fork)
    assert answers(builtin_project)["_commit"] == "v99.0.0"


# The history the wheel carries.


def test_bundle_holds_one_template_commit_per_release_below_the_version(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README.md").write_text("not part of the template\n")
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, "Before the template")
    git(repo, "tag", "v0.0.1")  # no copier.yml yet: not a template release
    for version in ("0.1.0", "0.2.0", "1.0.0"):
        (repo / "copier.yml").write_text(f"# {version}\n")
        (repo / "template").mkdir(exist_ok=True)
        (repo / "template" / "VERSION").write_text(version)
        commit_all(repo, version)
        git(repo, "tag", f"v{version}")
    git(repo, "tag", "nightly")
    bundles = [tmp_path / "a.bundle", tmp_path / "b.bundle"]
    for bundle in bundles:
        released = history.build_bundle(repo, bundle, below=Version("1.0.0"))
        assert [str(v) for v in released] == ["0.1.0", "0.2.0"]
    assert bundles[0].read_bytes() == bundles[1].read_bytes()  # reproducible builds
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bundles[0]), str(clone))
    assert git(clone, "tag").split() == ["v0.1.0", "v0.2.0"]
    assert git(clone, "ls-tree", "--name-only", "v0.2.0").split() == ["copier.yml", "template"]
    assert git(clone, "show", "v0.1.0:template/VERSION") == "0.1.0"


def declare(repo: Path, version: str, template: str) -> None:
    """A commit that declares `version` in the package and has `template` as the template."""
    package = repo / "src" / "fastscaffold"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(f'"""The package."""\n\n__version__ = "{version}"\n')
    (repo / "copier.yml").write_text("_subdirectory: template\n")
    (repo / "template").mkdir(exist_ok=True)
    (repo / "template" / "VERSION").write_text(template)
    commit_all(repo, f"{version}: {template}")


def test_releases_come_from_the_declared_versions_without_tags(tmp_path: Path) -> None:
    """A release is the last commit that declares its version; a clone without tags finds
    the same releases, and a tag, where there is one, wins."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    declare(repo, "0.1.0", "first")
    declare(repo, "0.1.0", "last of 0.1.0")  # what 0.1.0 users had at the end: the release
    declare(repo, "0.2.0", "bumped")
    declare(repo, "0.2.0", "last of 0.2.0")
    declare(repo, "0.3.0.dev0", "under way")  # HEAD's version is not released
    found = history.releases(repo)
    assert list(map(str, found)) == ["0.1.0", "0.2.0"]
    assert git(repo, "show", f"{found[Version('0.1.0')]}:template/VERSION") == "last of 0.1.0"
    bundle = tmp_path / "history.bundle"
    assert history.build_bundle(repo, bundle, below=Version("0.3.0.dev0")) == list(found)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bundle), str(clone))
    assert git(clone, "show", "v0.1.0:template/VERSION") == "last of 0.1.0"
    assert git(clone, "show", "v0.2.0:template/VERSION") == "last of 0.2.0"
    # A tag on another commit names that release instead.
    first = git(repo, "rev-list", "--max-parents=0", "HEAD").strip()
    git(repo, "tag", "v0.1.0", first)
    assert history.releases(repo)[Version("0.1.0")] == "v0.1.0"
    history.build_bundle(repo, bundle, below=Version("0.3.0.dev0"))
    again = tmp_path / "again"
    git(tmp_path, "clone", "-q", str(bundle), str(again))
    assert git(again, "show", "v0.1.0:template/VERSION") == "first"


@pytest.mark.parametrize("carried_by", ["bundle", "checkout"])
def test_materialised_history_ends_with_the_template_this_package_renders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, carried_by: str
) -> None:
    checkout = tmp_path / "checkout"
    (checkout / "template").mkdir(parents=True)
    (checkout / "copier.yml").write_text("_subdirectory: template\n")
    git(checkout, "init", "-q", "-b", "main")
    for version in ("0.0.1", "0.0.2", "9.0.0"):  # 9.0.0 is newer than this package: left out
        (checkout / "template" / "VERSION").write_text(version)
        commit_all(checkout, version)
        git(checkout, "tag", f"v{version}")
    # The working tree is what this package renders: its .gitignore and caches must not
    # change what is committed.
    (checkout / "template" / "VERSION").write_text("current")
    (checkout / "template" / ".gitignore").write_text("*.txt\n")
    (checkout / "template" / "notes.txt").write_text("shipped\n")
    (checkout / "template" / "__pycache__").mkdir()
    (checkout / "template" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    monkeypatch.setattr(history, "_template_root", lambda: checkout)
    if carried_by == "bundle":
        history.build_bundle(checkout, tmp_path / "history.bundle", below=history.current())
        monkeypatch.setattr(history, "BUNDLE", tmp_path / "history.bundle")
        shutil.rmtree(checkout / ".git")
    else:
        monkeypatch.setattr(history, "BUNDLE", tmp_path / "absent.bundle")

    repo = tmp_path / "history"
    tags = history.materialise(repo)
    current = history.tag(history.current())
    assert list(tags.values()) == ["v0.0.1", "v0.0.2", current]
    assert [str(v) for v in history.builtin_versions()] == ["0.0.1", "0.0.2", __version__]
    assert git(repo, "show", f"{current}:template/VERSION") == "current"
    assert git(repo, "show", "v0.0.2:template/VERSION") == "0.0.2"
    files = git(repo, "ls-tree", "-r", "--name-only", current).split()
    assert files == ["copier.yml", "template/.gitignore", "template/VERSION", "template/notes.txt"]
    assert git(repo, "rev-list", "--count", current).strip() == "3"


# The installed wheel updates a project its previous version generated, with no network.


def offline() -> tuple[list[str], dict[str, str]]:
    """A command prefix and environment under which no network can be reached."""
    # Git refuses every transport but local files; where a network namespace is allowed,
    # there is no network at all.
    env = {"GIT_ALLOW_PROTOCOL": "file", "HTTPS_PROXY": "http://127.0.0.1:9"}
    if shutil.which("unshare") is None:
        return [], env
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True, check=False)
    return (["unshare", "-rn"] if probe.returncode == 0 else []), env


def build(source: Path, out: Path, *args: str) -> None:
    cmd = [uv.find_uv_bin(), "build", "-q", *args, "--out-dir", str(out), str(source)]
    subprocess.run(cmd, check=True)


@pytest.mark.packaging
def test_installed_wheel_updates_a_project_its_previous_version_made(tmp_path: Path) -> None:
    # A copy of this repository whose release v0.0.1 had a different template.
    source = tmp_path / "source"
    copy_template(source)
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO / "pyproject.toml", source / "pyproject.toml")
    shutil.copy2(REPO / "README.md", source / "README.md")
    shutil.copy2(REPO / "CHANGELOG.md", source / "CHANGELOG.md")
    init = source / "src" / "fastscaffold" / "__init__.py"
    current_init, readme = init.read_text(), source / "template" / "README.md.jinja"
    current_readme = readme.read_text()
    init.write_text(current_init.replace(f'"{__version__}"', '"0.0.1"'))
    readme.write_text("# {{ project_name }} (template 0.0.1)\n" + current_readme)
    git(source, "init", "-q", "-b", "main")
    commit_all(source, "Release 0.0.1")
    git(source, "tag", "v0.0.1")
    build(source, tmp_path / "old", "--wheel")
    init.write_text(current_init)
    readme.write_text(current_readme)
    commit_all(source, f"Release {__version__}")
    build(source, tmp_path / "new")  # sdist, then the wheel from the sdist
    (sdist,) = (tmp_path / "new").glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        assert any(name.endswith("fastscaffold/_history.bundle") for name in archive.getnames())
    (wheel,) = (tmp_path / "new").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = archive.namelist()
    assert "fastscaffold/_history.bundle" in shipped
    assert not [name for name in shipped if "_build_hook" in name]

    old, new = make_venv(tmp_path / "venv-old"), make_venv(tmp_path / "venv-new")
    install(old, str(next((tmp_path / "old").glob("*.whl"))))
    install(new, str(wheel))
    work = tmp_path / "work"
    work.mkdir()
    subprocess.run([old.parent / "fastscaffold", "new", "svc", "--yes"], cwd=work, check=True)
    project = work / "svc"
    assert answers(project)["_commit"] == "v0.0.1"
    git(project, "init", "-q", "-b", "main")
    commit_all(project, "Generated by fastscaffold 0.0.1")
    append(project / "app" / "main.py", "# user: keep me\n")
    commit_all(project, "User edit")

    command = [str(new.parent / "fastscaffold"), "update"]
    check = subprocess.run([*command, "--check"], cwd=project, capture_output=True, text=True)
    assert check.returncode == 2, check.stderr
    assert f"at template 0.0.1; {__version__} is available" in check.stdout
    prefix, env = offline()
    done = subprocess.run(
        [*prefix, *command], cwd=project, capture_output=True, text=True, env={**os.environ, **env}
    )
    assert done.returncode == 0, done.stdout + done.stderr

    subprocess.run([new.parent / "fastscaffold", "new", "fresh", "--yes"], cwd=work, check=True)
    expected = tree(work / "fresh")
    expected["app/main.py"] += b"# user: keep me\n"
    assert tree(project) == expected
