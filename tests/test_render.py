"""Tier 1: every combination of choices renders into clean, compilable, lint-free Python.

The selected combinations render once each, two at a time, into one directory; `ruff check` and
`ruff format --check` then run once each over all of them (ruff reads each project's own
pyproject.toml), and every combination's tests look up their own results.
"""

import copy
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import traceback
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from fastscaffold import matrix, options
from fastscaffold.errors import InvalidAnswerError
from fastscaffold.options import template_root
from fastscaffold.render import render

RUFF = [sys.executable, "-m", "ruff"]
LEFTOVER_JINJA = ("{{", "{%", "{#")
RENDER_PROCESSES = 2


def combinations() -> list[dict[str, object]]:
    return matrix.tier1()


@dataclass(frozen=True)
class Rendered:
    """The projects of one tier-1 run, by combination label, and what ruff said about each."""

    projects: dict[str, Path]
    failures: dict[str, str]
    lint: dict[str, list[str]]
    unformatted: dict[str, list[str]]


def _prepare_worker(template: Path) -> None:
    """Set up a render worker: one copy of the template, its config read and its files
    compiled once, and no per-file `git` calls.

    `render` copies a checkout's template for each render (copier would read a git root as a
    repository); the worker renders from one copy made for the whole run, so its file names,
    and the templates compiled from them, are the same for every combination.

    copier runs `git` for every file it writes, to keep a destination repository's index in
    step with executable bits; the destinations here are plain directories, where each call
    finds nothing to do and costs a process. The worker tells copier that git is absent, as
    on a machine without it (copier then skips exactly that step).
    """
    import copier._main

    from fastscaffold import render as module

    @contextmanager
    def the_copy() -> Iterator[Path]:
        yield template

    module._plain_template = the_copy  # type: ignore[assignment]
    _memoize_jinja_compile()
    _memoize_template_config()
    copier._main.is_git_available = lambda: False  # type: ignore[attr-defined]


def _memoize_template_config() -> None:
    """In a render worker: parse copier.yml once (copier parses it for every render, with
    PyYAML's pure-Python loader), and give each render its own copy of the result."""
    import copier._template

    load = copier._template.load_template_config
    loaded: dict[tuple[Path, bool], dict[str, object]] = {}

    def cached(conf_path: Path, quiet: bool = False) -> dict[str, object]:
        key = (Path(conf_path).resolve(), quiet)
        if key not in loaded:
            loaded[key] = load(conf_path, quiet)
        return copy.deepcopy(loaded[key])

    copier._template.load_template_config = cached


def _memoize_jinja_compile() -> None:
    """In a render worker: compile each distinct template source once for all its renders.

    Every copier run builds a fresh Jinja environment and compiles every template again, which
    is most of a render's time. The compiled code object depends only on the source and the
    environment's syntax settings, which are the same for every combination, so the worker
    reuses it; copier still renders each file from it with each combination's answers.
    """
    import jinja2

    compile_source = jinja2.Environment.compile
    compiled: dict[tuple[object, ...], object] = {}

    def compile(  # noqa: A001 - the method it stands in for
        self: jinja2.Environment,
        source: object,
        name: str | None = None,
        filename: str | None = None,
        raw: bool = False,
        defer_init: bool = False,
    ) -> object:
        if not isinstance(source, str):
            return compile_source(self, source, name, filename, raw, defer_init)  # type: ignore[call-overload]
        key = (
            type(self), source, name, filename, raw, defer_init, self.block_start_string,
            self.block_end_string, self.variable_start_string, self.variable_end_string,
            self.comment_start_string, self.comment_end_string, self.line_statement_prefix,
            self.line_comment_prefix, self.trim_blocks, self.lstrip_blocks,
            self.newline_sequence, self.keep_trailing_newline, self.optimized,
            repr(self.autoescape), tuple(sorted(self.extensions)), tuple(sorted(self.filters)),
            tuple(sorted(self.tests)),
        )  # fmt: skip
        if key not in compiled:
            compiled[key] = compile_source(self, source, name, filename, raw, defer_init)  # type: ignore[call-overload]
        return compiled[key]

    jinja2.Environment.compile = compile  # type: ignore[assignment,method-assign]


def _render(combo: dict[str, object], dest: Path) -> str | None:
    """Render one combination in a worker process; return the error, if any, as text."""
    try:
        render(options.with_defaults(combo), dest, overwrite=False)
    except Exception:  # reported by the combination's tests, not lost with the worker
        return traceback.format_exc(limit=-3)
    return None


def _ruff(root: Path, *args: str) -> dict[str, list[str]]:
    """Run ruff once over every project under `root`; return its findings by project."""
    env = {**os.environ, "RUFF_NO_CACHE": "true"}
    result = subprocess.run(
        [*RUFF, *args, "--no-cache", "--output-format", "json", "."],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if result.returncode not in (0, 1):  # ruff itself failed: no project can be judged
        message = f"ruff {' '.join(args)} exited {result.returncode}: {result.stderr}"
        return {project.name: [message] for project in root.iterdir()}
    found: dict[str, list[str]] = defaultdict(list)
    for item in json.loads(result.stdout or "[]"):
        path = Path(item["filename"]).relative_to(root)
        where = item.get("location") or {}
        found[path.parts[0]].append(
            f"{Path(*path.parts[1:])}:{where.get('row', '?')}: {item.get('code')} "
            f"{item.get('message')}"
        )
    return found


def _selected(request: pytest.FixtureRequest) -> dict[str, dict[str, object]]:
    """The combinations of this module's tests that the session runs (all, unless -k etc.)."""
    selected = {}
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if getattr(item, "module", None) is request.module and callspec:
            if (combo := callspec.params.get("combo")) is not None:
                selected[matrix.label(combo)] = combo
    return selected


@pytest.fixture(scope="module")
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """Render the combinations this session selected; run ruff over all of them at once."""
    root = tmp_path_factory.mktemp("tier1")
    template = tmp_path_factory.mktemp("template")
    shutil.copy2(template_root() / "copier.yml", template / "copier.yml")
    shutil.copytree(template_root() / "template", template / "template", symlinks=True)
    selected = _selected(request)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        RENDER_PROCESSES, mp_context=context, initializer=_prepare_worker, initargs=(template,)
    ) as pool:
        errors = dict(
            zip(
                selected,
                pool.map(_render, selected.values(), [root / label for label in selected]),
                strict=True,
            )
        )
    return Rendered(
        projects={label: root / label for label in selected},
        failures={label: error for label, error in errors.items() if error},
        lint=_ruff(root, "check"),
        unformatted=_ruff(root, "format", "--check"),
    )


@pytest.fixture(scope="module", params=combinations(), ids=matrix.label)
def combo(request: pytest.FixtureRequest) -> dict[str, object]:
    combination: dict[str, object] = request.param
    return combination


@pytest.fixture
def label(combo: dict[str, object]) -> str:
    return matrix.label(combo)


@pytest.fixture
def project(rendered: Rendered, label: str) -> Path:
    if label in rendered.failures:
        pytest.fail(f"{label} did not render:\n{rendered.failures[label]}", pytrace=False)
    return rendered.projects[label]


@pytest.mark.parametrize("tier", [matrix.tier1, matrix.tier2])
@pytest.mark.parametrize("question", matrix.axes(), ids=lambda q: q.name)
def test_combinations_cover_every_value(tier: object, question: options.Question) -> None:
    combos = tier()  # type: ignore[operator]
    covered = {
        value
        for combo in combos
        for value in (combo[question.name] if question.multiselect else [combo[question.name]])
    }
    expected = question.choices if question.multiselect else matrix.values_of(question)
    assert covered == set(expected or ())


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


# Sources already compiled in this session: most files are the same in many combinations.
_COMPILED: set[str] = set()


def test_compiles(project: Path) -> None:
    sources = list(project.rglob("*.py"))
    assert sources
    for path in sources:  # compile() writes no __pycache__ into the project
        text = path.read_text()
        if text not in _COMPILED:
            compile(text, str(path), "exec", dont_inherit=True)
            _COMPILED.add(text)


def test_no_leftover_jinja(project: Path) -> None:
    for path in project.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert not [m for m in LEFTOVER_JINJA if m in text], path
            assert "{%" not in path.name and "{{" not in path.name


def test_ruff_check(project: Path, rendered: Rendered, label: str) -> None:
    findings = rendered.lint.get(label, [])
    assert not findings, "\n".join(findings)


def test_ruff_format(project: Path, rendered: Rendered, label: str) -> None:
    findings = rendered.unformatted.get(label, [])
    assert not findings, "\n".join(findings)


def test_answers_are_recorded(project: Path) -> None:
    answers = (project / ".copier-answers.yml").read_text()
    for q in options.questions():
        assert f"{q.name}:" in answers


def test_no_stray_files(project: Path) -> None:
    names = {p.name for p in project.rglob("*")}
    assert not names & {"copier.yml", ".git", ".DS_Store", "__pycache__"}
