"""The wheel carries the template, and what it renders equals what the checkout renders."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import uv

from fastscaffold import options
from fastscaffold.render import render
from tests.generated import install, make_venv, run

pytestmark = pytest.mark.packaging

REPO = Path(__file__).resolve().parents[1]


def tree(root: Path) -> dict[str, str]:
    """Every file under `root` with its text, the answers file's `_src_path` and `_commit` out."""
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            text = path.read_text()
            if path.name == ".copier-answers.yml":
                meta = ("_src_path", "_commit")
                text = "\n".join(ln for ln in text.splitlines() if not ln.startswith(meta))
            files[str(path.relative_to(root))] = text
    return files


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [uv.find_uv_bin(), "build", "--wheel", "-q", "--out-dir", str(out), str(REPO)], check=True
    )
    (built,) = out.glob("fastscaffold-*.whl")
    return built


def test_installed_wheel_renders_the_same_project(wheel: Path, tmp_path: Path) -> None:
    python = make_venv(tmp_path / "venv")
    # Byte-compile on install, as pip does: __pycache__ must not leak into projects.
    install(python, "--compile-bytecode", str(wheel))
    work = tmp_path / "work"
    work.mkdir()
    run([str(python.parent / "fastscaffold"), "new", "svc", "--yes"], cwd=work)

    expected = tmp_path / "expected"
    render(options.with_defaults({}), expected, overwrite=False)
    assert tree(work / "svc") == tree(expected)
    assert not [p for p in (work / "svc").rglob("*") if p.name == "__pycache__"]


def test_plain_copier_renders_the_same_project(tmp_path: Path) -> None:
    """The template works without our CLI: `copier copy` with the same answers."""
    source = tmp_path / "template-copy"  # a plain directory: copier would clone a git root
    source.mkdir()
    shutil.copy(REPO / "copier.yml", source)
    shutil.copytree(REPO / "template", source / "template")
    answers = options.with_defaults({"server": "gunicorn", "workers": "3"})
    data = [arg for name, value in answers.items() for arg in ("--data", f"{name}={value}")]
    run(
        [sys.executable, "-m", "copier", "copy", "--defaults", *data, str(source), "by-copier"],
        cwd=tmp_path,
    )
    render(answers, tmp_path / "by-cli", overwrite=False)
    assert tree(tmp_path / "by-copier") == tree(tmp_path / "by-cli")
