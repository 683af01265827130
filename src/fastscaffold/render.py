"""Render the template into a destination directory, all or nothing."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import yaml

from fastscaffold import history
from fastscaffold.errors import DestinationIsFileError, DestinationNotEmptyError, RenderError
from fastscaffold.options import template_root


def render(
    answers: Mapping[str, object], dest: Path, *, overwrite: bool, template: str | None = None
) -> list[Path]:
    """Render the template (or a copier `template` path or git URL) into `dest`, all or nothing.

    Return the files made, relative to `dest`.
    """
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
        if template is None:
            with _plain_template() as source:
                answers_file = staging / _run_copier(source, staging, answers)
            # Record what copier would have recorded had it rendered the release tag: updates
            # find this version in the history the package carries.
            if answers_file.is_file():
                record_source(
                    answers_file, src_path=history.BUILTIN, commit=history.tag(history.current())
                )
        else:
            _run_copier(template, staging, answers)
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


def template_location(template: str) -> str:
    """Make a local template path absolute, so a project records where it really is; a git
    URL stays as it is."""
    local = Path(template).expanduser()
    if local.exists():
        return str(local.resolve())
    if "://" in template or "@" in template or template.startswith(("gh:", "gl:")):
        return template
    from fastscaffold.errors import TemplateSourceError

    raise TemplateSourceError(source=template)


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
        try:  # hard links where /tmp shares the checkout's file system: copier only reads
            _copy_template(root, copy, os.link)
        except OSError:
            shutil.rmtree(copy / "template", ignore_errors=True)
            _copy_template(root, copy, shutil.copy2)
        yield copy


def _copy_template(root: Path, copy: Path, how: Callable[[str, str], object]) -> None:
    how(str(root / "copier.yml"), str(copy / "copier.yml"))
    shutil.copytree(root / "template", copy / "template", symlinks=True, copy_function=how)


def _run_copier(
    source: str | Path, out: Path, answers: Mapping[str, object], ref: str | None = None
) -> Path:
    """Render `source` (at git `ref`) into `out`; return the answers file's relative path."""
    import copier

    with _copier_errors():
        worker = copier.run_copy(
            str(source),
            str(out),
            data=dict(answers),
            vcs_ref=ref,
            defaults=True,
            quiet=True,
            overwrite=True,
            settings=copier.Settings(),
        )
    return Path(worker.answers_relpath)


@contextmanager
def _copier_errors() -> Iterator[None]:
    """Turn what copier, Jinja and copier's git calls raise into a RenderError."""
    from copier.errors import CopierError
    from jinja2 import TemplateError, TemplateSyntaxError
    from plumbum.commands.processes import ProcessExecutionError

    try:
        yield
    except TemplateSyntaxError as error:
        reason = f"template error in {error.name}, line {error.lineno}: {error.message}"
        raise RenderError(reason=reason) from error
    except TemplateError as error:
        raise RenderError(reason=f"template error: {error.message}") from error
    except ProcessExecutionError as error:
        lines = str(error.stderr).strip().splitlines()
        raise RenderError(reason=lines[-1] if lines else str(error)) from error
    except (CopierError, ValueError, TypeError) as error:  # TypeError: "Not a YAML list"
        raise RenderError(reason=str(error)) from error


def render_version(source: str, ref: str, answers: Mapping[str, object], out: Path) -> None:
    """Render the git template `source` at `ref` with `answers` into the new directory `out`."""
    _run_copier(source, out, answers, ref)


def update_project(project: Path, *, ref: str, data: Mapping[str, object]) -> None:
    """Bring `project`, a clean git work tree, to template `ref` with copier's 3-way update.

    Conflicts are left inline (`<<<<<<< before updating`) and as unmerged index entries.
    """
    import copier

    with _copier_errors():
        copier.run_update(
            str(project),
            data=dict(data),
            vcs_ref=ref,
            overwrite=True,
            defaults=True,
            quiet=True,
            unsafe=False,
            conflict="inline",
            settings=copier.Settings(),
        )


def record_source(answers_file: Path, *, src_path: str, commit: str | None) -> None:
    """Set the template path or URL and version recorded in a project's answers file."""
    lines = answers_file.read_text("utf-8").splitlines()
    comments = [line for line in lines if line.startswith("#")]
    rest = [line for line in lines if not line.startswith(("#", "_commit:", "_src_path:"))]
    recorded = {"_commit": commit} if commit else {}
    recorded["_src_path"] = src_path
    dumped = yaml.safe_dump(recorded, allow_unicode=True, sort_keys=False, width=1000)
    answers_file.write_text("\n".join([*comments, dumped.rstrip("\n"), *rest]) + "\n", "utf-8")


def _merge(src: Path, dst: Path) -> None:
    """Move the tree at `src` into the existing directory `dst`, replacing clashing files."""
    for entry in src.iterdir():
        into = dst / entry.name
        if entry.is_dir() and not entry.is_symlink() and into.is_dir():
            _merge(entry, into)
        else:
            os.replace(entry, into)
