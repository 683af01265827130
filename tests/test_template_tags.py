"""The template stays plain: choices live in file names and a few seam modules."""

from pathlib import Path

from fastscaffold.options import template_root

TEMPLATE = template_root() / "template"
# The only Python files that may carry Jinja: what the app is made of, and its settings.
SEAMS = {Path("app/features.py.jinja"), Path("app/core/config.py.jinja")}


def tags(path: Path) -> int:
    return path.read_text().count("{%")


def test_python_files_are_plain_except_the_seams() -> None:
    python = [p for p in TEMPLATE.rglob("*") if p.is_file() and ".py" in p.name]
    jinja = {p.relative_to(TEMPLATE) for p in python if p.name.endswith(".jinja")}
    assert jinja <= SEAMS
    assert sum(tags(p) for p in python) <= 15


def test_the_whole_template_has_at_most_200_tags() -> None:
    assert sum(tags(p) for p in TEMPLATE.rglob("*") if p.is_file()) <= 200
