"""Render the template into a destination directory, all or nothing."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import yaml

from fastscaffold.errors import DestinationIsFileError, DestinationNotEmptyError, RenderError
from fastscaffold.options import template_root


def render(answers: Mapping[str, object], dest: Path, *, overwrite: bool) -> list[Path]:
    """Render the template with `answers` into `dest`; return the files made, relative to it."""
    if dest.exists() and not dest.is_dir():
        raise DestinationIsFileError(path=dest)
    if dest.is_dir() and any(dest.iterdir()) and not overwrite:
        raise DestinationNotEmptyError(path=dest)
    # Stage inside an existing dest, else beside it: the final moves are then renames on one
    # file system, and `new .` never needs to write to the parent of the current directory.
    target = Path(os.path.abspath(dest))
    existed = target.is_dir()
    staging = (target if existed else target.parent) / f".fastscaffold-{secrets.token_hex(4)}"
    try:
        staging.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
        with _plain_template() as source:
            _run_copier(source, staging, answers)
        files = sorted(
            path.relative_to(staging) for path in staging.rglob("*") if not path.is_dir()
        )
        if existed:
            _merge(staging, target)
        else:
            os.replace(staging, target)
    except OSError as error:
        where = f": '{error.filename}'" if error.filename else ""
        raise RenderError(reason=f"{error.strerror or error}{where}") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return files


@contextmanager
def _plain_template() -> Iterator[Path]:
    """Yield a template directory copier will read as files, never as a git repository."""
    root = template_root()
    if not (root / ".git").exists():
        yield root
        return
    # copier clones a git root and renders its last tag or HEAD, ignoring uncommitted edits.
    with tempfile.TemporaryDirectory(prefix="fastscaffold-template-") as tmp:
        copy = Path(tmp)
        shutil.copy2(root / "copier.yml", copy / "copier.yml")
        shutil.copytree(root / "template", copy / "template", symlinks=True)
        yield copy


def _run_copier(source: Path, out: Path, answers: Mapping[str, object]) -> None:
    import copier
    from copier.errors import CopierError
    from jinja2 import TemplateError, TemplateSyntaxError

    try:
        worker = copier.run_copy(
            str(source),
            str(out),
            data=dict(answers),
            defaults=True,
            quiet=True,
            overwrite=True,
            settings=copier.Settings(),
        )
    except TemplateSyntaxError as error:
        reason = f"template error in {error.name}, line {error.lineno}: {error.message}"
        raise RenderError(reason=reason) from error
    except TemplateError as error:
        raise RenderError(reason=f"template error: {error.message}") from error
    except (CopierError, ValueError) as error:
        raise RenderError(reason=str(error)) from error
    answers_file = out / worker.answers_relpath
    if source != template_root() and answers_file.is_file():
        # Record where the template really lives, not the throwaway copy, so that two
        # renders of the same answers give byte-identical projects.
        real = yaml.safe_dump({"_src_path": str(template_root())}, allow_unicode=True).strip()
        text = re.sub(r"(?m)^_src_path: .*$", lambda _: real, answers_file.read_text("utf-8"))
        answers_file.write_text(text, "utf-8")


def _merge(src: Path, dst: Path) -> None:
    """Move the tree at `src` into the existing directory `dst`, replacing clashing files."""
    for entry in src.iterdir():
        into = dst / entry.name
        if entry.is_dir() and not entry.is_symlink() and into.is_dir():
            _merge(entry, into)
        else:
            os.replace(entry, into)
