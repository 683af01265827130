"""Free text: a description is refused up front, or lands unchanged in every file it reaches."""

import json
import re
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from fastscaffold import options
from fastscaffold.errors import InvalidAnswerError
from fastscaffold.render import render

# What copier.yml's validator refuses, restated here so the test does not trust it.
REFUSED = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
LONGEST = 200
QUICK = {"database": "none", "deployment": [], "ci": "none"}
EVERYTHING = {
    "server": "gunicorn",
    "database": "postgres",
    "task_queue": "taskiq",
    "deployment": ["docker", "compose", "kubernetes"],
    "examples": True,
    "ci": "github",
}
# Characters that mean something in TOML, YAML, JSON, Python, Markdown, HTML, shells or Jinja.
SPECIAL = st.sampled_from(list("\"'\\`*_[](){}<>&#|~-+.!=:,;%$@?^/ "))
# Half the texts avoid the refused characters (control, line and paragraph separators), so
# most examples render; the other half may hold anything.
PRINTABLE = st.characters(codec="utf-8", exclude_categories=("Cc", "Zl", "Zp"))
TEXT = st.one_of(
    st.text(st.one_of(PRINTABLE, SPECIAL), max_size=60),
    st.text(st.one_of(st.characters(codec="utf-8"), SPECIAL), max_size=60),
)


def refused(text: str) -> bool:
    # Outer whitespace too: Markdown would drop it (or read four spaces as a code block).
    return bool(REFUSED.search(text)) or text != text.strip() or len(text) > LONGEST


@contextmanager
def rendered(description: str, answers: dict[str, object]) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="freetext-") as tmp:
        dest = Path(tmp) / "svc"
        render(
            options.with_defaults({**answers, "description": description}), dest, overwrite=False
        )
        yield dest


def assert_every_file_parses(project: Path) -> None:
    parsed = 0
    for path in sorted(project.rglob("*")):
        text = path.read_text("utf-8") if path.is_file() else None
        if text is None:
            continue
        if path.suffix == ".toml":
            tomllib.loads(text)
        elif path.suffix in (".yml", ".yaml"):
            list(yaml.safe_load_all(text))
        elif path.suffix == ".json":
            json.loads(text)
        elif path.suffix == ".py":
            compile(text, str(path), "exec", dont_inherit=True)
        else:
            continue
        parsed += 1
    assert parsed


def readme_paragraph(project: Path) -> str:
    """The plain text of the README's first paragraph, the description, as Markdown reads it."""
    tokens = MarkdownIt("commonmark").parse((project / "README.md").read_text("utf-8"))
    opened = next(i for i, token in enumerate(tokens) if token.type == "paragraph_open")
    children = tokens[opened + 1].children or []
    kinds = {child.type for child in children}
    assert kinds <= {"text", "text_special"}, f"Markdown reads markup in it: {kinds}"
    return "".join(child.content for child in children)


def assert_description_intact(project: Path, description: str) -> None:
    pyproject: dict[str, Any] = tomllib.loads((project / "pyproject.toml").read_text("utf-8"))
    assert pyproject["project"]["description"] == description
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text("utf-8"))
    assert answers["description"] == description


@settings(max_examples=30, deadline=None, database=None)
@given(description=TEXT)
def test_any_description_is_refused_or_reads_back_unchanged(description: str) -> None:
    answers = options.with_defaults({**QUICK, "description": description})
    try:
        options.validate(answers)
    except InvalidAnswerError as error:
        assert error.name == "description"
        assert refused(description), error
    else:
        assert not refused(description)
        with rendered(description, QUICK) as project:
            assert_every_file_parses(project)
            assert_description_intact(project, description)


EXAMPLES = [
    'He said "hi"',
    "It's got 'single' quotes",
    "C:\\path\\to\\thing and a trailing backslash \\",
    '\\" an escaped quote, and \\\\n not a newline',
    "* _ [ ] < > & ` # | ~ + - . ! ( ) { } markdown characters",
    "*emphasis* __strong__ [link](http://x) <b>html</b> &amp; `code` # not a heading",
    "1. not a list",
    "Ünïcödé, ñ, 中文, العربية, emoji 🚀🎉 and a zero-width joiner 👩\u200d💻",
    "{{ jinja }} {% raw %} and ${shell} $(command)",
    "key: value # not YAML, \"\"\" not a docstring, ''' nor this",
    "x" * LONGEST,
]


@pytest.mark.parametrize("description", EXAMPLES)
def test_description_reads_back_from_pyproject_answers_and_readme(description: str) -> None:
    with rendered(description, QUICK) as project:
        assert_every_file_parses(project)
        assert_description_intact(project, description)
        assert readme_paragraph(project) == description


def test_description_with_every_option_on_keeps_every_file_parsing() -> None:
    description = 'Orders: "fast" & <safe>\\ *really* — 100% {{ sure }} 🚀'
    with rendered(description, EVERYTHING) as project:
        assert (project / "compose.yaml").is_file()
        assert_every_file_parses(project)
        assert_description_intact(project, description)
        assert readme_paragraph(project) == description
