"""Which option combinations are tested at which tier, derived from copier.yml.

The axes are the questions with a fixed set of answers: choice, multiselect and yes/no
questions; free-text and number questions keep their defaults. Tier 1 renders every valid
combination of the axes. Tier 2 runs `fastscaffold check` on a covering set: every pair of
(server, database, task_queue) values appears together and every value of every axis appears at
least once. A new value or question in copier.yml is covered without editing any list.
`python -m fastscaffold.matrix` prints tests/MATRIX.md.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from fastscaffold import options
from fastscaffold.errors import InvalidAnswerError

PAIRWISE = ("server", "database", "task_queue")
Combination = dict[str, object]


def values_of(question: options.Question) -> list[object]:
    """The answers an axis can take: its choices, each subset of a multiselect, or yes and no."""
    if question.type == "bool":
        return [True, False]
    choices = list(question.choices or ())
    if not question.multiselect:
        return list(choices)
    return [
        list(c) for size in range(len(choices) + 1) for c in itertools.combinations(choices, size)
    ]


def axes() -> list[options.Question]:
    """The questions whose every answer is tested: choice, multiselect and yes/no questions."""
    return [q for q in options.questions() if q.choices or q.type == "bool"]


def valid(combination: Combination) -> bool:
    """Whether copier.yml's validators accept these answers (defaults for the rest)."""
    try:
        options.validate(options.with_defaults(combination))
    except InvalidAnswerError:
        return False
    return True


def tier1() -> list[Combination]:
    """Every valid product of the axes (other questions at their defaults)."""
    questions = axes()
    combos = (
        {q.name: value for q, value in zip(questions, values, strict=True)}
        for values in itertools.product(*(values_of(q) for q in questions))
    )
    return [combo for combo in combos if valid(combo)]


def _pairs(combo: Combination, names: Sequence[str]) -> set[tuple[str, str, str, str]]:
    return {(a, str(combo[a]), b, str(combo[b])) for a, b in itertools.combinations(names, 2)}


def _pairwise(names: Sequence[str]) -> list[Combination]:
    """A small set of combinations of `names` covering every valid pair of values (greedy)."""
    questions = {q.name: q for q in axes()}
    candidates = [
        dict(zip(names, values, strict=True))
        for values in itertools.product(*(values_of(questions[n]) for n in names))
    ]
    candidates = [c for c in candidates if valid(c)]
    uncovered = set().union(*(_pairs(c, names) for c in candidates))
    chosen = []
    while uncovered:
        best = max(candidates, key=lambda c: len(_pairs(c, names) & uncovered))
        chosen.append(best)
        uncovered -= _pairs(best, names)
    return chosen


def tier2() -> list[Combination]:
    """The covering set `fastscaffold check` runs on: pairwise, then every remaining value."""
    combos = _pairwise(PAIRWISE)
    for q in axes():
        if q.name in PAIRWISE:
            continue
        # Rotate through the values, taking for each combination the next one it accepts.
        values = values_of(q)
        rotation = itertools.cycle(range(len(values)))
        for combo in combos:
            for _ in range(len(values)):
                candidate = {**combo, q.name: values[next(rotation)]}
                if valid(candidate):
                    combo[q.name] = candidate[q.name]
                    break
    return combos


def label(combo: Combination) -> str:
    """A short id: the values joined by '-', a multiselect's by '+', a yes/no as `[no-]name`."""
    return "-".join(_label(name, value) for name, value in combo.items())


def _label(name: str, value: object) -> str:
    if isinstance(value, bool):
        return name.replace("_", "-") if value else f"no-{name.replace('_', '-')}"
    if isinstance(value, list):
        return "+".join(map(str, value)) or "nothing"
    return str(value)


def markdown() -> str:
    """The MATRIX.md table."""
    questions = [q.name for q in axes()]
    rows = [
        "# Tested combinations",
        "",
        "Generated from copier.yml by `python -m fastscaffold.matrix`; a test keeps it current.",
        "",
        f"- **Tier 1** (every CI run): all {len(tier1())} valid combinations of "
        f"{', '.join(questions)} (the other questions at their defaults) render, compile, have "
        "no leftover Jinja and pass `ruff check` and `ruff format --check`.",
        "- **Tier 2** (every CI run): `fastscaffold check` (install, lint, types, the project's "
        "own tests, boot with its real server and workers, graceful stop) on these "
        f"{len(tier2())}, against real PostgreSQL and Redis, and MongoDB's rows against FerretDB "
        "v1.24.2 (a MongoDB wire-protocol server): every step, nothing skipped. Each row's "
        "project is reached as a team would: another project is generated and edited (a route, "
        "its test, a setting), then `fastscaffold set` moves it to the row's answers.",
        "",
        "| " + " | ".join(questions) + " |",
        "|" + "---|" * len(questions),
    ]
    rows += ["| " + " | ".join(_cell(c[n]) for n in questions) + " |" for c in tier2()]
    return "\n".join(rows) + "\n"


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "(none)"
    return str(value)


if __name__ == "__main__":
    print(markdown(), end="")
