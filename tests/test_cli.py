"""The `fastscaffold` command, driven in-process the way a user would type it."""

import json
import shlex
import shutil
import subprocess
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.main import get_command
from typer.testing import Result

from fastscaffold import __version__, cli, options, render

Run = Callable[..., Result]

QUESTIONS_CLI_ONLY = {"dest", "yes", "answers_file", "overwrite", "template"}


def read_answers(project: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((project / ".copier-answers.yml").read_text("utf-8"))
    return data


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("Error: ")]


def test_app_help_shows_examples(run: Run) -> None:
    result = run("--help")
    assert result.exit_code == 0
    assert "Examples:" in result.stdout
    assert "fastscaffold new orders-api" in result.stdout


def test_new_help_shows_examples_and_every_question(
    run: Run, copier_questions: dict[str, Any]
) -> None:
    result = run("new", "--help")
    assert result.exit_code == 0
    assert "Examples:" in result.stdout
    assert "fastscaffold new --yes" in result.stdout
    for name in copier_questions:
        assert "--" + name.replace("_", "-") in result.stdout


def test_version(run: Run) -> None:
    result = run("--version")
    assert (result.exit_code, result.stdout) == (0, f"fastscaffold {__version__}\n")


@pytest.mark.parametrize(
    ("args", "name", "expected"),
    [
        (["--project-name", "orders-api"], "project_name", "orders-api"),
        (["--description", "Takes orders, fast"], "description", "Takes orders, fast"),
        (["--server", "gunicorn"], "server", "gunicorn"),
        (["--server", "granian"], "server", "granian"),
        (["--workers", "7"], "workers", "7"),
        (["--workers", " 007 "], "workers", "7"),
        (["--workers", "auto"], "workers", "auto"),
        (["--workers", "AUTO"], "workers", "auto"),
        (["--threadpool-size", "12"], "threadpool_size", 12),
        (["--database", "none"], "database", "none"),
        (["--no-examples"], "examples", False),
        (["--examples"], "examples", True),
        (["--deployment", "docker"], "deployment", ["docker"]),
        (
            ["--deployment", "docker", "--deployment", "compose"],
            "deployment",
            ["docker", "compose"],
        ),
        (
            ["--deployment", "compose,docker", "--deployment", "docker"],
            "deployment",
            ["docker", "compose"],
        ),
        (["--deployment", ""], "deployment", []),
        (["--deployment", "none"], "deployment", []),
    ],
)
def test_each_flag_lands_in_the_answers_file(
    run: Run, tmp_path: Path, args: list[str], name: str, expected: object
) -> None:
    result = run("new", tmp_path / "p", *args, "--yes")
    assert result.exit_code == 0, result.output
    assert read_answers(tmp_path / "p")[name] == expected


def test_yes_takes_every_default_into_dot_project_name(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, copier_questions: dict[str, Any]
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("new", "--yes")
    assert result.exit_code == 0, result.output
    project = tmp_path / copier_questions["project_name"]["default"]
    answers = read_answers(project)
    assert {name: answers[name] for name in copier_questions} == {
        name: spec["default"] for name, spec in copier_questions.items()
    }


def test_summary_shows_files_and_next_steps(run: Run, tmp_path: Path) -> None:
    result = run("new", tmp_path / "p", "--yes")
    assert result.exit_code == 0, result.output
    count = sum(1 for path in (tmp_path / "p").rglob("*") if path.is_file())
    assert f"Created {count} files in {tmp_path / 'p'}:" in result.stdout
    assert "  .copier-answers.yml\n" in result.stdout
    for step in (f"cd {tmp_path / 'p'}", ".venv/bin/pytest", ".venv/bin/python -m app"):
        assert step in result.stdout


def test_answers_file_supplies_answers_and_flags_override_it(run: Run, tmp_path: Path) -> None:
    answers_file = tmp_path / "answers.yml"
    answers_file.write_text("project_name: billing\nworkers: 5\nserver: granian\n")
    result = run("new", tmp_path / "p", "--answers-file", answers_file, "--workers", "3", "--yes")
    assert result.exit_code == 0, result.output
    answers = read_answers(tmp_path / "p")
    assert (answers["project_name"], answers["workers"], answers["server"]) == (
        "billing",
        "3",
        "granian",
    )


# What fastscaffold 0.1.0 recorded: `workers` was an integer and `examples` did not exist.
ANSWERS_0_1_0 = """\
# Changes here will be overwritten by Copier; do NOT edit manually
_commit: v0.1.0
_src_path: fastscaffold
ci: github
database: sqlite
deployment:
- docker
- compose
description: A FastAPI service
project_name: billing
server: uvicorn
task_queue: none
threadpool_size: 40
workers: 3
"""


def test_answers_file_from_0_1_0_renders_with_the_new_defaults(
    run: Run, tmp_path: Path, copier_questions: dict[str, Any]
) -> None:
    answers_file = tmp_path / "old.yml"
    answers_file.write_text(ANSWERS_0_1_0)
    result = run("new", tmp_path / "p", "--answers-file", answers_file)
    assert result.exit_code == 0, result.output
    answers = read_answers(tmp_path / "p")
    assert (answers["project_name"], answers["workers"]) == ("billing", "3")
    assert answers["examples"] == copier_questions["examples"]["default"]


def test_partial_answers_file_still_needs_the_rest(run: Run, tmp_path: Path) -> None:
    answers_file = tmp_path / "answers.yml"
    answers_file.write_text("project_name: billing\n")
    result = run("new", tmp_path / "p", "--answers-file", answers_file)
    assert result.exit_code == 2
    assert error_lines(result)[0].startswith("Error: no answer for --description,")
    assert not (tmp_path / "p").exists()


def test_answers_file_can_be_a_generated_projects_answers(run: Run, tmp_path: Path) -> None:
    first = run("new", tmp_path / "a", "--project-name", "billing", "--workers", "9", "--yes")
    assert first.exit_code == 0, first.output
    again = run("new", tmp_path / "b", "--answers-file", tmp_path / "a" / ".copier-answers.yml")
    assert again.exit_code == 0, again.output
    assert tree(tmp_path / "a") == tree(tmp_path / "b")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("project_name: x\nbroker: kafka\n", "unknown question 'broker'"),
        ("project_name: [unclosed\n", "invalid YAML at line"),
        ("- project_name\n", "expected a mapping"),
        (b"\xff\xfe\x00", "not UTF-8 text"),
        (None, "No such file"),
    ],
)
def test_unusable_answers_file_fails_with_one_line(
    run: Run, tmp_path: Path, content: str | bytes | None, fragment: str
) -> None:
    answers_file = tmp_path / "answers.yml"
    if isinstance(content, str):
        answers_file.write_text(content)
    elif content is not None:
        answers_file.write_bytes(content)
    result = run("new", tmp_path / "p", "--answers-file", answers_file, "--yes")
    assert result.exit_code == 1
    assert error_lines(result) == result.stderr.splitlines()
    assert len(error_lines(result)) == 1
    assert fragment in result.stderr
    assert "answers.yml'" in result.stderr
    assert not (tmp_path / "p").exists()


def test_missing_answers_without_a_terminal_name_the_flags(
    run: Run, tmp_path: Path, copier_questions: dict[str, Any]
) -> None:
    result = run("new", tmp_path / "p", "--project-name", "orders-api")
    assert result.exit_code == 2
    [line] = error_lines(result)
    missing = ["--" + name.replace("_", "-") for name in copier_questions if name != "project_name"]
    assert line.startswith(f"Error: no answer for {', '.join(missing)};")
    assert "--yes" in line
    assert "Try 'fastscaffold new --help' for help." in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "quoted"),
    [
        (["--server", "foo"], "'foo'"),
        (["--database", "oracle"], "'oracle'"),
        (["--project-name", "a" * 51], "'" + "a" * 51 + "'"),
        (["--workers", "0"], "'0'"),
        (["--workers", "257"], "'257'"),
        (["--workers", "abc"], "'abc'"),
        (["--workers", "2.5"], "'2.5'"),
        (["--workers", "-1"], "'-1'"),
        (["--deployment", "docker", "--deployment", "k8s"], "'docker,k8s'"),
        (["--description", "x" * 201], "'" + "x" * 201 + "'"),
        (["--threadpool-size", "0"], "'0'"),
        (["--project-name", "Bad Name"], "'Bad Name'"),
    ],
)
def test_bad_value_exits_2_quoting_it_and_writes_nothing(
    run: Run, tmp_path: Path, args: list[str], quoted: str
) -> None:
    result = run("new", tmp_path / "p", *args, "--yes")
    assert result.exit_code == 2
    [line] = error_lines(result)
    assert quoted in line
    assert args[0] in line
    assert "Value error" not in line
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("a\nb", "'a\\nb'"),
        ("tab\there", "'tab\\there'"),
        ("bell\x07", "'bell\\x07'"),
        ("del\x7f", "'del\\x7f'"),
        ("nel\x85", "'nel\\x85'"),
        ("line\u2028separator", "'line\\u2028separator'"),
        ("\r\n", "'\\r\\n'"),
    ],
)
def test_control_characters_in_a_value_give_one_escaped_error_line(
    run: Run, tmp_path: Path, value: str, escaped: str
) -> None:
    result = run("new", tmp_path / "p", "--description", value, "--yes")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"Error: {escaped} is not a valid value for --description: use one line of printable "
        "text: line breaks, tabs and other control characters cannot be represented in every "
        "file it lands in.",
        "Try 'fastscaffold new --help' for help.",
    ]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["new", "--server", "foo", "--yes"], "Invalid value for '--server'"),
        (["new", "--workers", "none", "--yes"], "'none' is not a valid value for --workers"),
        (["new", "--bogus"], "No such option: --bogus"),
        (["options", "--bogus"], "No such option: --bogus"),
        (["check", "--skip", "lnt"], "'lnt' is not a check step"),
        (["check", "--only", "lint\nfoo"], "'lint\\nfoo' is not a check step"),
        (["check", "--bogus"], "No such option: --bogus"),
        (["update", "--check", "--dry-run"], "--check only reports"),
        (["update", "--bogus"], "No such option: --bogus"),
    ],
)
def test_usage_errors_point_to_the_help_of_the_failing_command(
    run: Run, args: list[str], message: str
) -> None:
    result = run(*args)
    assert result.exit_code == 2
    [line] = error_lines(result)
    assert message in line
    assert f"Try 'fastscaffold {args[0]} --help' for help." in result.stderr.splitlines()


def test_terminal_prompts_reask_until_valid(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    # project_name, description, server, workers, threadpool_size, database, task_queue,
    # deployment, examples, ci; "" takes the default
    typed = [
        "Bad Name",
        "orders-api",
        "",
        "foo",
        "granian",
        "0",
        "3",
        "",
        "",
        "",
        "docker,k8s",
        "docker",
        "maybe",
        "no",
        "",
    ]
    result = run("new", tmp_path / "p", input="\n".join(typed) + "\n")
    assert result.exit_code == 0, result.output
    for quoted in ("'Bad Name'", "'foo'", "'0'", "'docker,k8s'", "'maybe'"):
        assert quoted in result.stderr
    answers = read_answers(tmp_path / "p")
    assert (answers["project_name"], answers["server"], answers["workers"]) == (
        "orders-api",
        "granian",
        "3",
    )
    assert (answers["deployment"], answers["examples"]) == (["docker"], False)


def test_non_empty_destination_is_left_untouched(run: Run, tmp_path: Path) -> None:
    dest = tmp_path / "api"
    dest.mkdir()
    keep = dest / "keep.txt"
    keep.write_text("mine")
    before = keep.stat().st_mtime_ns
    result = run("new", dest, "--yes")
    assert result.exit_code == 1
    assert error_lines(result) == [
        f"Error: '{dest}' is not empty; choose a new directory or pass --overwrite."
    ]
    assert (keep.read_text(), keep.stat().st_mtime_ns) == ("mine", before)
    assert list(dest.iterdir()) == [keep]
    assert list(tmp_path.iterdir()) == [dest]


def test_destination_that_is_a_file_fails(run: Run, tmp_path: Path) -> None:
    dest = tmp_path / "api"
    dest.write_text("mine")
    result = run("new", dest, "--yes")
    assert result.exit_code == 1
    assert "is a file" in error_lines(result)[0]
    assert dest.read_text() == "mine"


def test_empty_existing_directory_is_filled(run: Run, tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    result = run("new", tmp_path / "api", "--yes")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "api" / ".copier-answers.yml").is_file()
    assert list(tmp_path.iterdir()) == [tmp_path / "api"]


def test_overwrite_renders_into_a_non_empty_directory(run: Run, tmp_path: Path) -> None:
    dest = tmp_path / "api"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    (dest / ".copier-answers.yml").write_text("stale")
    result = run("new", dest, "--workers", "4", "--overwrite", "--yes")
    assert result.exit_code == 0, result.output
    assert (dest / "keep.txt").read_text() == "mine"
    assert read_answers(dest)["workers"] == "4"
    assert not [path for path in dest.iterdir() if path.name.startswith(".fastscaffold-")]


# copier's `scantree` leaves an os.scandir iterator open when rendering raises mid-walk.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_broken_template_fails_cleanly_and_leaves_nothing(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(options.template_root() / "template", broken / "template")
    shutil.copy(options.template_root() / "copier.yml", broken / "copier.yml")
    (broken / "template" / "oops.txt.jinja").write_text("{{ unclosed\n")
    monkeypatch.setattr(render, "template_root", lambda: broken)
    result = run("new", tmp_path / "out" / "api", "--yes")
    assert result.exit_code == 1
    [line] = error_lines(result)
    assert line.startswith(
        "Error: could not render the project: template error in template/oops.txt.jinja"
    )
    assert list((tmp_path / "out").iterdir()) == []


def test_replay_command_reproduces_the_same_tree(run: Run, tmp_path: Path) -> None:
    dest = tmp_path / "orders"
    args = ["--project-name", "orders-api", "--description", "It's got 'quotes'", "--workers", "5"]
    args += ["--server", "granian", "--database", "none", "--no-examples", "--deployment", ""]
    result = run("new", dest, *args, "--yes")
    assert result.exit_code == 0, result.output
    replay = shlex.split(result.stdout.strip().splitlines()[-1])
    assert replay[:3] == ["fastscaffold", "new", str(dest)]
    first = tree(dest)
    for path in sorted(dest.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    again = run(*replay[1:])
    assert again.exit_code == 0, again.output
    assert tree(dest) == first


def test_options_json_lists_every_question(run: Run, copier_questions: dict[str, Any]) -> None:
    result = run("options", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [row["name"] for row in rows] == list(copier_questions)
    assert {row["flag"] for row in rows} == {
        "--" + name.replace("_", "-") for name in copier_questions
    }


def test_options_table_lists_every_flag(run: Run, copier_questions: dict[str, Any]) -> None:
    result = run("options")
    assert result.exit_code == 0
    for name in copier_questions:
        assert "--" + name.replace("_", "-") in result.stdout


def _option_type(annotation: Any) -> Any:
    """The type inside `Annotated[X | None, ...]`."""
    union = typing.get_args(annotation)[0]
    [inner] = [arg for arg in typing.get_args(union) if arg is not type(None)]
    return inner


def test_new_command_and_copier_yml_ask_the_same_questions(
    copier_questions: dict[str, Any],
) -> None:
    command = get_command(cli.app).commands["new"]  # type: ignore[attr-defined]
    params = {p.name: p for p in command.params if p.name not in QUESTIONS_CLI_ONLY}
    assert set(params) == set(copier_questions)
    hints = typing.get_type_hints(cli.new, include_extras=True)
    for name, spec in copier_questions.items():
        param = params[name]
        assert param.opts == ["--" + name.replace("_", "-")], name
        # Not given means "not answered": the answers file or copier.yml's default applies.
        assert param.default is None, name
        kind = _option_type(hints[name])
        choices = spec.get("choices")
        if isinstance(choices, dict):
            choices = list(choices.values())
        if spec.get("multiselect"):
            # A repeatable option whose items may be comma-separated: the help names the choices.
            assert (kind, param.multiple) == (list[str], True), name
            assert all(choice in (param.help or "") for choice in choices), name
        elif choices:
            assert typing.get_origin(kind) is typing.Literal, name
            assert list(typing.get_args(kind)) == choices, name
        elif spec.get("type") == "bool":
            assert kind is bool, name
            assert param.secondary_opts == ["--no-" + name.replace("_", "-")], name
        else:
            assert kind is {"str": str, "int": int}[spec.get("type", "str")], name


PROBE = """\
import sys
from typer.testing import CliRunner
from fastscaffold.cli import app
result = CliRunner().invoke(app, sys.argv[1:])
assert result.exit_code == 0, result.output
print(" ".join(m for m in ("copier", "jinja2", "fastapi", "yaml") if m in sys.modules))
"""


@pytest.mark.parametrize(
    ("args", "loaded"),
    [
        (["--help"], ""),
        (["new", "--help"], ""),
        (["--version"], ""),
        (["options", "--json"], "yaml"),
    ],
)
def test_cheap_commands_do_not_import_the_renderer(args: list[str], loaded: str) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True
    )
    assert probe.stdout.strip() == loaded
