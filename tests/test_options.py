"""The questionnaire model: loading copier.yml, coercing and validating answers."""

import json
from pathlib import Path
from typing import Any

import pytest

from fastscaffold import options
from fastscaffold.errors import InvalidAnswerError


def test_questions_follow_copier_yml(copier_questions: dict[str, dict[str, Any]]) -> None:
    assert [q.name for q in options.questions()] == list(copier_questions)


def test_computed_and_setting_keys_are_not_questions() -> None:
    names = {q.name for q in options.questions()}
    assert "package_slug" not in names
    assert not any(name.startswith("_") for name in names)


def test_template_root_holds_copier_yml_and_template() -> None:
    root = options.template_root()
    assert (root / "copier.yml").is_file()
    assert (root / "template").is_dir()


def test_defaults_pass_validation() -> None:
    answers = options.with_defaults({})
    assert set(answers) == {q.name for q in options.questions()}
    options.validate(answers)


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("workers", "7", "7"),
        ("workers", 7, "7"),
        ("workers", " 7 ", "7"),
        ("workers", "007", "7"),
        ("workers", "auto", "auto"),
        ("workers", " AUTO ", "auto"),
        ("threadpool_size", " 12 ", 12),
        ("description", 5, "5"),
        ("description", " two  spaces ", " two  spaces "),
        ("server", "granian", "granian"),
        ("examples", True, True),
        ("examples", "no", False),
        ("examples", " Yes ", True),
        ("deployment", "docker, compose", ["docker", "compose"]),
        ("deployment", ["compose", "docker"], ["docker", "compose"]),
        (
            "deployment",
            ["docker,compose", "kubernetes", "docker"],
            ["docker", "compose", "kubernetes"],
        ),
        ("deployment", "none", []),
        ("deployment", "", []),
        ("deployment", [""], []),
        ("deployment", [], []),
    ],
)
def test_coerce_converts_to_the_question_type(name: str, raw: object, expected: object) -> None:
    assert options.coerce(options.question(name), raw) == expected


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("workers", True),
        ("workers", [2]),
        ("threadpool_size", "seven"),
        ("threadpool_size", 2.5),
        ("examples", "maybe"),
        ("examples", 2),
        ("server", [1]),
    ],
)
def test_coerce_rejects_the_wrong_type_quoting_it(name: str, raw: object) -> None:
    with pytest.raises(InvalidAnswerError) as caught:
        options.coerce(options.question(name), raw)
    assert str(caught.value).startswith(f"'{raw}' is not a valid value for {options.flag(name)}")


# U+0667 is ARABIC-INDIC DIGIT SEVEN: str.isdigit() accepts it, the template must not.
@pytest.mark.parametrize("raw", ["seven", "2.5", "-1", "1e3", "auto2", "", "\u0667"])
def test_workers_that_are_no_count_are_kept_for_the_validator_to_refuse(raw: str) -> None:
    value = options.coerce(options.question("workers"), raw)
    assert value == raw
    with pytest.raises(InvalidAnswerError, match="use a whole number between 1 and 256, or auto"):
        options.validate({"workers": value})


@pytest.mark.parametrize(
    ("raw", "quoted"), [("a\nb", "'a\\nb'"), ("\x00", "'\\x00'"), ("\u2029", "'\\u2029'")]
)
def test_messages_quote_control_characters_escaped(raw: str, quoted: str) -> None:
    with pytest.raises(InvalidAnswerError) as caught:
        options.validate({"description": raw})
    assert str(caught.value).startswith(f"{quoted} is not a valid value for --description: ")
    assert len(str(caught.value).splitlines()) == 1


def test_validator_message_quotes_value_and_gives_the_reason() -> None:
    with pytest.raises(InvalidAnswerError) as caught:
        options.validate({"workers": "0"})
    assert str(caught.value).startswith("'0' is not a valid value for --workers: must be ")
    assert str(caught.value).endswith(".")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("workers", "0"),
        ("workers", "257"),
        ("workers", "auto "),
        ("description", "x" * 201),
        ("description", "two\nlines"),
        ("threadpool_size", 0),
        ("threadpool_size", 1001),
        ("project_name", "Bad Name"),
        ("project_name", "orders--api"),
        ("project_name", "9lives"),
        ("server", "foo"),
        ("database", "oracle"),
    ],
)
def test_validate_rejects_out_of_range_values(name: str, value: object) -> None:
    with pytest.raises(InvalidAnswerError) as caught:
        options.validate({name: value})
    assert (caught.value.name, caught.value.value) == (name, value)
    assert caught.value.reason


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("workers", "1"),
        ("workers", "256"),
        ("workers", "auto"),
        ("threadpool_size", 1000),
        ("project_name", "orders-api2"),
        ("description", "x" * 200),
        ("description", 'Ünïcödé, "quotes" and \\ backslashes \U0001f680'),
    ],
)
def test_validate_accepts_boundary_values(name: str, value: object) -> None:
    options.validate({name: value})


def test_schema_describes_every_question_as_json(
    copier_questions: dict[str, dict[str, Any]],
) -> None:
    rows = json.loads(json.dumps(options.schema()))
    assert [row["name"] for row in rows] == list(copier_questions)
    for row in rows:
        spec = copier_questions[row["name"]]
        assert row["flag"] == "--" + row["name"].replace("_", "-")
        assert row["default"] == spec.get("default")
        choices = spec.get("choices")
        if isinstance(choices, dict):
            choices = list(choices.values())
        assert row["choices"] == choices


FAKE = """\
_subdirectory: template
name:
  type: str
  default: my-app
slug:
  type: str
  default: "{{ name | replace('-', '_') }}"
replicas: 3
tier:
  type: str
  choices: [small, large]
  default: small
  validator: "{% if tier == 'large' and replicas < 2 %}large needs 2 replicas{% endif %}"
secret_key:
  type: str
  default: x
  when: false
"""


def test_short_form_and_list_choices_are_read(fake_template: Path) -> None:
    fake_template.write_text(FAKE)
    questions = {q.name: q for q in options.questions()}
    assert list(questions) == ["name", "slug", "replicas", "tier"]
    assert (questions["replicas"].type, questions["replicas"].default) == ("int", 3)
    assert questions["tier"].choices == ("small", "large")


def test_templated_default_renders_from_earlier_answers(fake_template: Path) -> None:
    fake_template.write_text(FAKE)
    assert options.with_defaults({"name": "orders-api"})["slug"] == "orders_api"


def test_validator_sees_the_other_answers(fake_template: Path) -> None:
    fake_template.write_text(FAKE)
    options.validate({"tier": "large", "replicas": 2})
    with pytest.raises(InvalidAnswerError, match="large needs 2 replicas"):
        options.validate({"tier": "large", "replicas": 1})


def test_answers_file_ignores_copier_metadata(tmp_path: Path) -> None:
    path = tmp_path / "answers.yml"
    path.write_text("_src_path: /somewhere\n_commit: v1\nworkers: 3\n")
    assert options.load_answers_file(path) == {"workers": 3}
    assert options.read_answers_file(path) == {
        "_src_path": "/somewhere",
        "_commit": "v1",
        "workers": 3,
    }
