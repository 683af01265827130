"""Tier 2: `fastscaffold check` on a covering set of combinations derived from copier.yml."""

import asyncio
import itertools
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from fastscaffold import answers, matrix, options
from tests import edits
from tests.conftest import Run
from tests.generated import mongodb_server, postgres_server, redis_server

MATRIX_MD = Path(__file__).with_name("MATRIX.md")


def covered(combos: list[matrix.Combination], name: str) -> set[str]:
    """Every value of question `name` that appears in `combos`."""
    values = (c[name] if isinstance(c[name], list) else [c[name]] for c in combos)
    return {str(v) for group in values for v in group}  # type: ignore[union-attr]


def test_tier2_has_every_pair_of_the_pairwise_options() -> None:
    def pairs(combos: list[matrix.Combination]) -> set[tuple[str, ...]]:
        return {
            (a, str(c[a]), b, str(c[b]))
            for c in combos
            for a, b in itertools.combinations(matrix.PAIRWISE, 2)
        }

    assert pairs(matrix.tier1()) == pairs(matrix.tier2())


@pytest.mark.parametrize("question", [q for q in options.questions() if q.choices])
def test_tier2_has_every_value_of_every_option(question: options.Question) -> None:
    assert covered(matrix.tier2(), question.name) == set(question.choices or ())


def test_tier2_combinations_are_valid() -> None:
    assert all(matrix.valid(combo) for combo in matrix.tier2())


def test_matrix_md_is_current() -> None:
    assert MATRIX_MD.read_text() == matrix.markdown(), (
        "run: python -m fastscaffold.matrix > tests/MATRIX.md"
    )


async def _drop_mongodb(server: str, name: str) -> None:
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(server)
    try:
        await client.drop_database(name)
    finally:
        await client.close()


async def _admin(server: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"{server}/postgres", timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def services(combo: matrix.Combination, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Service URLs for the combination, in the environment; extra `check` arguments."""
    extra: list[str] = []
    created = None
    if combo["database"] == "postgres":
        server = postgres_server()
        created = f"check_{uuid.uuid4().hex[:10]}"
        asyncio.run(_admin(server, f'CREATE DATABASE "{created}"'))
        monkeypatch.setenv("DATABASE_URL", f"{server}/{created}")
        extra.append("--write-probes")  # a database of this test's own
    elif combo["database"] == "mongodb":
        mongo = f"check_{uuid.uuid4().hex[:10]}"
        monkeypatch.setenv("DATABASE_URL", f"{mongodb_server()}/{mongo}")
        monkeypatch.setenv("MONGODB_URL", mongodb_server())  # the project's own tests
        extra.append("--write-probes")
    else:
        monkeypatch.delenv("DATABASE_URL", raising=False)
    if combo["task_queue"] == "taskiq":
        monkeypatch.setenv("REDIS_URL", redis_server())
        # A queue of its own: rows checked at the same time never take each other's jobs.
        monkeypatch.setenv("PROJECT_NAME", f"check-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("GRACEFUL_TIMEOUT", "10")
    yield extra
    if combo["database"] == "mongodb":
        asyncio.run(_drop_mongodb(mongodb_server(), mongo))
    if created:
        asyncio.run(_admin(postgres_server(), f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)'))


def heaviest_first(combos: list[matrix.Combination]) -> list[matrix.Combination]:
    """The rows whose own suites run longest first (a queue worker and its jobs, then the
    examples, then a database): pytest-xdist hands them out in this order, so the rows
    started last are short and the two workers finish close together."""

    def weight(combo: matrix.Combination) -> float:
        taskiq = combo["task_queue"] == "taskiq"
        return 2 * taskiq + bool(combo["examples"]) + 0.5 * (combo["database"] != "none")

    return sorted(combos, key=weight, reverse=True)


@pytest.mark.tier2
@pytest.mark.parametrize("combo", heaviest_first(matrix.tier2()), ids=matrix.label)
def test_check_passes(
    combo: matrix.Combination, services: list[str], run: Run, tmp_path: Path
) -> None:
    # Reached as a team would: from another project, edited, then `fastscaffold set`.
    begin = start(combo)
    project = edits.team_project(begin, tmp_path / "svc")
    wanted = options.with_defaults(combo)
    changed = [
        f"{k}={answers.text(v)}" for k, v in wanted.items() if options.with_defaults(begin)[k] != v
    ]
    moved = run("set", *changed, "-C", project)
    assert moved.exit_code == 0, moved.stdout + os.linesep + moved.stderr
    assert "conflict" not in moved.stdout
    result = run("check", project, *services)
    assert result.exit_code == 0, result.stdout + os.linesep + result.stderr


def start(combo: matrix.Combination) -> dict[str, object]:
    """The answers a row's project starts from before `set` moves it to the row: the default
    project with another database (the rows of one database start from each of the others,
    so the rows make every switch) and, every other row without a task queue, with one (so
    `set` removes it)."""
    rows = matrix.tier2()
    begin: dict[str, object] = {}
    if combo["task_queue"] == "none" and rows.index(combo) % 2:
        begin["task_queue"] = "taskiq"
    databases = options.question("database").choices or ()
    others = [database for database in databases if database != combo["database"]]
    same = [row for row in rows if row["database"] == combo["database"]]
    begin["database"] = others[same.index(combo) % len(others)]
    return begin


def test_the_rows_make_every_database_switch_and_remove_and_add_the_queue() -> None:
    databases = options.question("database").choices or ()
    moves = {(start(c)["database"], c["database"]) for c in matrix.tier2()}
    assert moves == {(a, b) for a in databases for b in databases if a != b}
    queues = {(start(c).get("task_queue", "none"), c["task_queue"]) for c in matrix.tier2()}
    assert {("none", "taskiq"), ("taskiq", "none")} <= queues


def test_options_matrix_lists_the_tiers(run: Run) -> None:
    result = run("options", "--matrix", "--json")
    assert result.exit_code == 0
    tiers = json.loads(result.stdout)
    assert (tiers["tier1"], tiers["tier2"]) == (matrix.tier1(), matrix.tier2())
