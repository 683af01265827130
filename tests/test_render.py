"""Tier 1: every combination of choices renders into clean, compilable, lint-free Python."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastscaffold import matrix, options
from fastscaffold.errors import InvalidAnswerError
from fastscaffold.render import render

RUFF = [sys.executable, "-m", "ruff"]
LEFTOVER_JINJA = ("{{", "{%", "{#")


def combinations() -> list[dict[str, object]]:
    return matrix.tier1()


@pytest.fixture(scope="module", params=combinations(), ids=matrix.label)
def project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("tier1") / "svc"
    render(options.with_defaults(request.param), dest, overwrite=False)
    return dest


def test_combinations_cover_every_choice() -> None:
    combos = combinations()
    for q in options.questions():
        if q.multiselect:
            assert {c for combo in combos for c in combo[q.name]} == set(q.choices or ())  # type: ignore[attr-defined]
        elif q.choices:
            assert {c[q.name] for c in combos} == set(q.choices)


@pytest.mark.parametrize(
    ("answers", "reason"),
    [
        ({"deployment": ["compose"]}, "add docker"),
        ({"deployment": ["docker", "kubernetes"], "database": "sqlite"}, "choose --database"),
    ],
)
def test_refused_combinations_say_why(answers: dict[str, object], reason: str) -> None:
    with pytest.raises(InvalidAnswerError, match=reason):
        options.validate(options.with_defaults(answers))


def test_compiles(project: Path) -> None:
    sources = list(project.rglob("*.py"))
    assert sources
    for path in sources:  # compile() writes no __pycache__ into the project
        compile(path.read_text(), str(path), "exec", dont_inherit=True)


def test_no_leftover_jinja(project: Path) -> None:
    for path in project.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert not [m for m in LEFTOVER_JINJA if m in text], path
            assert "{%" not in path.name and "{{" not in path.name


def test_ruff_check_and_format(project: Path) -> None:
    env = {**os.environ, "RUFF_NO_CACHE": "true"}
    for args in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        result = subprocess.run(
            [*RUFF, *args], cwd=project, capture_output=True, text=True, env=env, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_answers_are_recorded(project: Path) -> None:
    answers = (project / ".copier-answers.yml").read_text()
    for q in options.questions():
        assert f"{q.name}:" in answers


def test_no_stray_files(project: Path) -> None:
    names = {p.name for p in project.rglob("*")}
    assert not names & {"copier.yml", ".git", ".DS_Store", "__pycache__"}
