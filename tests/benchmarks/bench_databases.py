"""Benchmark the generated app's `GET /items/{id}` on SQLite and PostgreSQL against a minimal
FastAPI endpoint doing the same query with the same driver settings, measured in the same run."""

import argparse
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchlib import (
    HOST,
    OPENER,
    Launch,
    Row,
    baseline_command,
    cpu_seconds,
    free_port,
    install_project,
    log,
    print_table,
    run,
    serving,
    show_command,
    wrk,
    wrk_stats,
)

DATABASES = ("sqlite", "postgres")
BASE_MODULE = "bench_db_minimal"
TARGET = 0.9
# Items seeded into a fresh database: their ids are 1..ITEMS, and wrk rotates over them.
ITEMS = 1000
# The settings that shape the driver; read from the generated project and given to both apps.
DB_SETTINGS = {
    "sqlite": ("DB_BUSY_TIMEOUT_MS",),
    "postgres": ("DB_POOL_MIN", "DB_POOL_MAX", "DB_COMMAND_TIMEOUT", "DB_STATEMENT_CACHE_SIZE"),
}

# The baseline: one plain async endpoint, the connection opened in its own lifespan with the
# same driver calls and settings as the generated app's backend, the row returned as a dict.
MINIMAL_SQLITE = """\
import os
from contextlib import asynccontextmanager

import aiosqlite
from fastapi import FastAPI, HTTPException

db = {}


@asynccontextmanager
async def lifespan(app):
    conn = await aiosqlite.connect(
        os.environ["DATABASE_URL"].removeprefix("sqlite:///"), isolation_level=None
    )
    conn.row_factory = aiosqlite.Row
    await conn.execute(f"PRAGMA busy_timeout = {int(os.environ['DB_BUSY_TIMEOUT_MS'])}")
    await conn.execute("PRAGMA journal_mode = WAL")
    await conn.execute("PRAGMA synchronous = NORMAL")
    await conn.execute("PRAGMA foreign_keys = ON")
    # One connection per worker, as in the generated app.
    db.update(conn=conn)
    try:
        yield
    finally:
        await conn.close()


app = FastAPI(lifespan=lifespan)


@app.get("/health/live")
async def live():
    return {"status": "ok"}


@app.get("/items/{item_id}")
async def read_item(item_id: int):
    sql = "SELECT * FROM items WHERE id = ?"
    # One call on the connection's thread: the cheapest way aiosqlite offers.
    rows = await db["conn"].execute_fetchall(sql, (item_id,))
    if not rows:
        raise HTTPException(404, f"item {item_id} not found")
    return dict(rows[0])
"""

MINIMAL_POSTGRES = """\
import os
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI, HTTPException

db = {}


@asynccontextmanager
async def lifespan(app):
    pool = await asyncpg.create_pool(
        os.environ["DATABASE_URL"],
        min_size=int(os.environ["DB_POOL_MIN"]),
        max_size=int(os.environ["DB_POOL_MAX"]),
        command_timeout=float(os.environ["DB_COMMAND_TIMEOUT"]),
        statement_cache_size=int(os.environ["DB_STATEMENT_CACHE_SIZE"]),
    )
    db.update(pool=pool)
    try:
        yield
    finally:
        await pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/health/live")
async def live():
    return {"status": "ok"}


@app.get("/items/{item_id}")
async def read_item(item_id: int):
    row = await db["pool"].fetchrow("SELECT * FROM items WHERE id = $1", item_id)
    if row is None:
        raise HTTPException(404, f"item {item_id} not found")
    return dict(row)
"""

# Run with the postgres project's python (it has asyncpg): create, seed or drop the database.
PG_TOOL = """\
import asyncio
import sys

import asyncpg


async def main(action, server, name, count):
    conn = await asyncpg.connect(f"{server}/{name if action == 'seed' else 'postgres'}")
    try:
        if action == "create":
            await conn.execute(f'CREATE DATABASE "{name}"')
        elif action == "drop":
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            await conn.execute(
                "INSERT INTO items (name, description)"
                " SELECT 'item ' || g, 'benchmark item number ' || g"
                " FROM generate_series(1, $1::int) AS g",
                count,
            )
            row = await conn.fetchrow("SELECT min(id), max(id), count(*) FROM items")
            print(*row)
    finally:
        await conn.close()


asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
"""

# wrk's request generator: GET /items/1, /items/2, ... /items/N, then round again.
ROTATE_LUA = """\
local count = {count}
local next_id = 0

request = function()
  next_id = next_id % count + 1
  return wrk.format("GET", "/items/" .. next_id)
end
"""

VERSIONS = (
    "import importlib.metadata as m, sys\n"
    "for name in sys.argv[1:]:\n"
    "    try:\n"
    "        print(f'{name} {m.version(name)}')\n"
    "    except m.PackageNotFoundError:\n"
    "        pass\n"
)

SETTINGS_DUMP = (
    "import json\n"
    "from app.core.config import Settings\n"
    "print(json.dumps({'fields': list(Settings.model_fields),"
    " 'values': Settings(_env_file=None).model_dump(mode='json')}))\n"
)


def prepare(tmp: Path, database: str, server: str, workers: int) -> tuple[Path, Path]:
    """Generate the project for `database` and install it into its own uv venv."""
    log(f"generating the {database} project ({server}, {workers} worker(s)) and installing it")
    project, venv = tmp / f"{database}-project", tmp / f"{database}-venv"
    options = ["--database", database, "--server", server, "--workers", str(workers)]
    return project, install_project(project, venv, options)


def project_settings(project: Path, python: Path) -> tuple[list[str], dict[str, object]]:
    """The generated Settings' field names and their defaults (no environment, no `.env`)."""
    clean = {"PATH": os.environ["PATH"]}
    out = subprocess.run(
        [str(python), "-c", SETTINGS_DUMP], cwd=project, env=clean, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(f"reading the generated settings failed:\n{out.stderr}")
    data = json.loads(out.stdout)
    return data["fields"], data["values"]


@contextmanager
def postgres_database(python: Path, server_url: str, tmp: Path) -> Iterator[str]:
    """Create a throwaway database, yield its URL, drop it (forcing connections off) at the end."""
    name = f"fastscaffold_bench_{os.getpid()}_{secrets.token_hex(3)}"
    tool = tmp / "pg_tool.py"
    tool.write_text(PG_TOOL)
    log(f"creating database {name}")
    run([str(python), str(tool), "create", server_url, name, "0"])
    try:
        yield f"{server_url}/{name}"
    finally:
        log(f"dropping database {name}")
        run([str(python), str(tool), "drop", server_url, name, "0"])


def seed(database: str, python: Path, url: str, tmp: Path, count: int) -> str:
    """Insert `count` items (ids 1..count in a fresh database); return 'min max count'."""
    if database == "postgres":
        server_url, name = url.rsplit("/", 1)
        cmd = [str(python), str(tmp / "pg_tool.py"), "seed", server_url, name, str(count)]
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        conn.executemany(
            "INSERT INTO items (name, description) VALUES (?, ?)",
            ((f"item {i}", f"benchmark item number {i}") for i in range(1, count + 1)),
        )
        low, high, total = conn.execute("SELECT min(id), max(id), count(*) FROM items").fetchone()
    conn.close()
    return f"{low} {high} {total}"


def launchers(
    database: str,
    server: str,
    project: Path,
    python: Path,
    tmp: Path,
    env: dict[str, str],
) -> dict[str, Launch]:
    """How to start the generated app and the minimal app; both get the same `env`."""
    folder = tmp / f"{database}-baseline"
    folder.mkdir()
    (folder / f"{BASE_MODULE}.py").write_text(
        MINIMAL_SQLITE if database == "sqlite" else MINIMAL_POSTGRES
    )

    def ours(port: int, workers: int) -> tuple[list[str], Path, dict[str, str]]:
        extra = {"PORT": str(port), "WEB_CONCURRENCY": str(workers), "MIGRATE_ON_START": "false"}
        return [str(python), "-m", "app"], project, {**env, **extra}

    def baseline(port: int, workers: int) -> tuple[list[str], Path, dict[str, str]]:
        cmd = baseline_command(server, python, f"{BASE_MODULE}:app", port, workers)
        return cmd, folder, env

    return {"ours": ours, "baseline": baseline}


def check_items(port: int, count: int) -> dict[str, object]:
    """GET the first and last seeded item; fail unless both answer 200; return the last."""
    body: dict[str, object] = {}
    for item_id in (1, count):
        with OPENER.open(f"http://{HOST}:{port}/items/{item_id}", timeout=5) as response:
            body = json.loads(response.read())
        if body.get("id") != item_id or body.get("name") != f"item {item_id}":
            raise RuntimeError(f"GET /items/{item_id} answered {body}")
    return body


def bench_reads(
    database: str,
    apps: dict[str, Launch],
    tmp: Path,
    workers: int,
    seconds: int,
    lua: Path,
    raw: list[str],
) -> Row:
    """Best of two alternating wrk runs (A B A B) of GET /items/{id} over rotating ids."""
    best: dict[str, float] = {}
    for round_ in (1, 2):
        for name, launch in apps.items():
            log(f"{database} round {round_}: {name}, {workers} worker(s), {seconds} s")
            port = free_port()
            with serving(launch, port, workers, tmp / f"{database}-{name}.log") as pid:
                body = check_items(port, ITEMS)
                if round_ == 1:
                    raw.append(f"{database} [{name}] GET /items/{ITEMS}: {json.dumps(body)}")
                wrk(port, 2, "/items/1", lua)  # warm-up
                cpu = cpu_seconds(pid)
                rps, requests, errors = wrk_stats(port, seconds, "/items/1", lua)
                cpu = cpu_seconds(pid) - cpu
            if "Non-2xx" in errors:
                raise RuntimeError(f"{database} [{name}] answered errors under load: {errors}")
            # CPU per request (the server's process tree, not the database server) is steadier
            # than req/s when something else shares the machine.
            usage = f"{cpu / requests * 1e6:.0f} us server CPU/request"
            line = f"{database} round {round_} [{name}]: {rps:.0f} req/s, {usage} {errors}"
            raw.append(line.rstrip())
            best[name] = max(best.get(name, 0.0), rps)
    ratio = best["ours"] / best["baseline"]
    metric = f"{database} GET /items/{{id}}, best req/s"
    return Row(metric, best["ours"], best["baseline"], f">= {TARGET}", ratio >= TARGET)


@contextmanager
def fresh_database(database: str, python: Path, server_url: str, tmp: Path) -> Iterator[str]:
    """Yield the DATABASE_URL of a fresh database for `database`, removed afterwards."""
    if database == "postgres":
        with postgres_database(python, server_url, tmp) as url:
            yield url
    else:
        path = tmp / "bench.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)


def bench_database(
    database: str, args: argparse.Namespace, tmp: Path, lua: Path, raw: list[str]
) -> Row:
    """Generate, install, migrate and seed one database's project, then measure it."""
    project, python = prepare(tmp, database, args.server, args.workers)
    fields, defaults = project_settings(project, python)
    settings = {key: str(defaults[key]) for key in DB_SETTINGS[database]}
    # Nothing from this shell may change either app's settings behind the benchmark's back.
    env = {k: v for k, v in os.environ.items() if k not in fields}
    packages = ["fastapi", "starlette", "pydantic", "aiosqlite", "asyncpg", args.server]
    versions = subprocess.run(
        [str(python), "-c", VERSIONS, *packages], capture_output=True, text=True, check=True
    )
    raw.append(f"{database} venv: " + ", ".join(versions.stdout.split("\n")).strip(", "))
    raw.append(f"{database} settings given to both apps: {settings}")
    with fresh_database(database, python, args.postgres_url, tmp) as url:
        env = {**env, **settings, "DATABASE_URL": url}
        log(f"migrating the {database} database with python -m app.migrate")
        run([str(python), "-m", "app.migrate"], cwd=project, env=env)
        seeded = seed(database, python, url, tmp, ITEMS)
        raw.append(f"{database} seeded items (min id, max id, count): {seeded}")
        if seeded != f"1 {ITEMS} {ITEMS}":
            raise RuntimeError(f"expected ids 1..{ITEMS}, got {seeded}")
        apps = launchers(database, args.server, project, python, tmp, env)
        show_command(apps["ours"], args.workers, raw, f" ({database})")
        seconds = 3 if args.quick else 10
        return bench_reads(database, apps, tmp, args.workers, seconds, lua, raw)


def main() -> int:
    """Measure both databases in one run and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 s loads instead of 10 s")
    parser.add_argument("--server", choices=["uvicorn", "gunicorn", "granian"], default="uvicorn")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default: 1)")
    parser.add_argument(
        "--postgres-url",
        default="postgresql://postgres:postgres@127.0.0.1:5432",
        help="server URL without a database name; a throwaway database is created on it",
    )
    args = parser.parse_args()
    args.postgres_url = args.postgres_url.rstrip("/")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if shutil.which("wrk") is None:
        print("wrk not found: install it (apt-get install -y wrk) and run again", file=sys.stderr)
        return 1
    raw: list[str] = []
    rows = []
    with tempfile.TemporaryDirectory(prefix="fastscaffold-bench-db-") as name:
        tmp = Path(name)
        lua = tmp / "rotate.lua"
        lua.write_text(ROTATE_LUA.format(count=ITEMS))
        for database in DATABASES:
            rows.append(bench_database(database, args, tmp, lua, raw))
    header = (
        f"server={args.server} workers={args.workers} quick={args.quick} items={ITEMS}"
        f" ids=rotating 1..{ITEMS} python={sys.version.split()[0]} cpus={os.cpu_count()}"
    )
    print_table(rows, raw, header)
    return 0


if __name__ == "__main__":
    sys.exit(main())
