"""`fastscaffold tune`: measure worker count, thread pool and database pool on the project's
own routes, on this machine, and recommend settings with the reason.

The sweep is greedy, one knob at a time, each at the best value found so far: the worker
count (1 to the CPUs the quota allows), then `THREADPOOL_SIZE` when a chosen route or one of
its dependencies is a plain `def` (those run in the thread pool), then `DB_POOL_MAX` where
the database has a pool. Every setting is a fresh boot of the real server (`python -m
PACKAGE`) loaded at each client count; the budget is shared out as the sweep goes, and a
phase the budget cannot pay for is skipped and reported so.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastscaffold import check, load, openapi
from fastscaffold.errors import (
    BudgetTooSmallError,
    RouteRefusedError,
    TuneError,
    UnknownRouteError,
)
from fastscaffold.measurements import (
    NEAR,
    Lesson,
    Phase,
    Point,
    Setting,
    Tuning,
    changed,
    choices,
    label,
    recommended,
)

BOOT_GUESS = 3.0  # seconds a boot takes, until one is measured
WARMUP = 0.3  # seconds of load after each boot that are not reported
SHORTEST = 0.5  # seconds: a measurement shorter than this says little
LONGEST = 10.0
CLIENTS = (1, 4, 16, 64)


@dataclass
class Options:
    """What the caller chose."""

    budget: float = 60.0
    routes: tuple[str, ...] = ()
    clients: tuple[int, ...] = ()
    generator: str = "auto"
    venv: Path | None = None
    ready_timeout: float = 60.0
    write_probes: bool = False
    lesson: bool = True


Progress = Callable[[str, float], None]  # what is being done, fraction of the budget spent


# The project's own Python reads what tune needs: the OpenAPI document, which operations
# run plain `def` code in the thread pool, the configured settings and the usable CPUs.
_INTROSPECT = """
import importlib, inspect, json, os, sys
module, _, name = sys.argv[1].partition(":")
package = sys.argv[2]
app = getattr(importlib.import_module(module), name or "app")

def sync(call):
    if call is None:
        return False
    if inspect.isclass(call):
        return True  # constructed in the thread pool
    target = call if inspect.isroutine(call) else getattr(call, "__call__", call)
    return not (inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target))

def calls(dependant):
    yield dependant.call
    for sub in dependant.dependencies:
        yield from calls(sub)

try:  # FastAPI >= 0.160 includes routers lazily: their routes are reached through contexts
    from fastapi.routing import iter_route_contexts
    routes = list(iter_route_contexts(app.routes))
except ImportError:
    routes = app.routes
threaded = []
for route in routes:
    dependant = getattr(route, "dependant", None)
    if dependant is not None and any(sync(call) for call in calls(dependant)):
        threaded += [f"{m.lower()} {route.path_format}" for m in getattr(route, "methods", ())]
settings = importlib.import_module(package + ".core.config").get_settings()
try:
    cpus, source = importlib.import_module(package + ".core.workers").available_cpus()
except (ImportError, AttributeError):
    cpus, source = len(os.sched_getaffinity(0)), "CPU affinity"
print(json.dumps({
    "document": app.openapi(), "threaded": threaded, "cpus": cpus, "cpu_source": source,
    "workers": int(settings.WEB_CONCURRENCY), "threads": int(settings.THREADPOOL_SIZE),
    "pool": getattr(settings, "DB_POOL_MAX", None),
}))
"""

_MAX_CONNECTIONS = """
import asyncio, os, asyncpg
async def main():
    url = os.environ["DATABASE_URL"].replace("+asyncpg", "")
    connection = await asyncpg.connect(url)
    try:
        print(await connection.fetchval("SHOW max_connections"),
              await connection.fetchval("SHOW superuser_reserved_connections"))
    finally:
        await connection.close()
asyncio.run(main())
"""


def precheck(budget: float) -> None:
    """Refuse a budget that cannot pay for the worker sweep, before anything is installed."""
    counts = len(worker_counts(len(os.sched_getaffinity(0))))
    needed = counts * (BOOT_GUESS + WARMUP + 2 * SHORTEST)
    if budget < needed:
        what = f"{counts} boots and {2 * counts} measurements of {SHORTEST:g} s"
        raise BudgetTooSmallError(budget=budget, needed=needed, what=what)


def worker_counts(cpus: int) -> list[int]:
    """1, 2, 4, ... up to the CPU count, and the CPU count itself."""
    counts = {cpus}
    count = 1
    while count < cpus:
        counts.add(count)
        count *= 2
    return sorted(counts)


def tune(project: Path, options: Options, work: Path, progress: Progress) -> Tuning:
    """Install (unless a venv is given), boot and measure; return what was found."""
    started = time.monotonic()
    generator = load.choose(options.generator)
    context = check.Context(
        project, check.Options(venv=options.venv, ready_timeout=options.ready_timeout),
        work, check.Report(project=project),
    )  # fmt: skip
    with _failing():
        check.check_answers(context)
        if not context.python.exists():
            progress("installing the project", 0.0)
            check.install(context)
    facts = _introspect(context)
    document = facts["document"]
    targets, names = _targets(document, options, context)
    configured = Setting(facts["workers"], facts["threads"], facts["pool"])
    cpus = max(1, int(facts["cpus"]))
    threaded = set(facts["threaded"])
    sync_routes = [n for n in names if n in threaded]
    clients = list(options.clients) or _default_clients(bool(sync_routes), cpus, configured)
    tuning = Tuning(
        project, generator, cpus, str(facts["cpu_source"]), names, clients, configured,
        options.budget,
    )  # fmt: skip
    threads = _around(configured.threads, 1, 1000) if sync_routes else []
    pools = [] if configured.pool is None else _pool_values(configured.pool)
    lesson = options.lesson and _has_examples(document)
    sweep = _Sweep(tuning, context, targets, progress, started)
    sweep.plan(len(worker_counts(cpus)) + len(threads) + len(pools), 1 if lesson else 0)
    try:
        sweep.phase("WEB_CONCURRENCY", worker_counts(cpus))
        if threads:
            sweep.phase("THREADPOOL_SIZE", threads)
        else:
            reason = "no chosen route runs plain `def` code (the thread pool is not used)"
            tuning.phases.append(Phase("THREADPOOL_SIZE", [], reason=reason))
        if pools:
            sweep.phase("DB_POOL_MAX", _fitting(context, tuning, pools, sweep.best.workers))
        else:
            tuning.phases.append(Phase("DB_POOL_MAX", [], reason="no database pool"))
        tuning.choices = choices(tuning, sweep.best)
        if lesson:
            sweep.lesson(recommended(tuning))
    finally:
        check.halt(context)
    tuning.seconds = round(time.monotonic() - started, 1)
    tuning.notes += _unsteady(tuning)
    return tuning


def _unsteady(tuning: Tuning) -> list[str]:
    """Measurements too short for their latency: requests still waiting when one ends are
    not counted, so its figures understate what the setting can do."""
    short = [
        p
        for p in tuning.points
        if p.measured.requests == 0 or p.measured.p99_ms > 500 * p.measured.seconds
    ]
    if not short:
        return []
    worst = max(short, key=lambda p: p.measured.p99_ms)
    return [
        f"{len(short)} of {len(tuning.points)} measurements lasted less than twice their p99 "
        f"(e.g. {worst.clients} clients: p99 {worst.measured.p99_ms:.0f} ms in "
        f"{worst.measured.seconds:.1f} s); a larger --budget or fewer --clients gives steadier "
        "figures"
    ]


@contextmanager
def _failing(doing: str = "") -> Iterator[None]:
    """A check step's failure, or the project's, as tune's one-line error."""
    try:
        yield
    except check.StepFailed as failed:
        raise TuneError(reason=f"{doing}{failed.reason}") from None


def _introspect(context: check.Context) -> dict[str, Any]:
    env = context.env(**_services(context))
    result = context.python_code(_INTROSPECT, context.entrypoint, context.package, env=env)
    try:
        facts = json.loads(result.stdout.splitlines()[-1]) if result.returncode == 0 else None
    except (ValueError, IndexError):
        facts = None
    if not isinstance(facts, dict):
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise TuneError(reason=f"could not load the app {context.entrypoint}: {last}")
    return facts


def _services(context: check.Context) -> dict[str, str]:
    with _failing():
        return context.services(boot=True)


def _targets(
    document: dict[str, Any], options: Options, context: check.Context
) -> tuple[list[openapi.Request], list[str]]:
    """The requests to load the service with (URLs relative to it) and their names."""
    declared = {f"{op.method} {op.path}": op for op in openapi.operations(document)}
    refused = check.writes_refused(context)
    chosen: list[tuple[openapi.Operation, str | None]] = []
    if options.routes:
        chosen = [_route(raw, declared) for raw in options.routes]
    else:
        for op in declared.values():
            if op.method == "get" and not op.path.startswith("/health"):
                chosen.append((op, None))
        if not chosen:
            chosen = [(declared[n], None) for n in ("get /health/live",) if n in declared]
    requests, names = [], []
    for op, concrete in chosen:
        if op.writes and refused:
            raise RouteRefusedError(route=op.name, reason=refused)
        try:
            request = openapi.build(document, op, "")
        except openapi.CannotBuild as problem:
            if not options.routes:
                continue
            raise RouteRefusedError(route=op.name, reason=str(problem)) from None
        if concrete is not None:
            request.url = _merged(request.url, concrete)
        requests.append(request)
        names.append(f"{op.method} {op.path}")
    if not requests:
        raise TuneError(reason="the app declares no GET operation a request can be made for")
    return requests, names


def _route(raw: str, declared: dict[str, openapi.Operation]) -> tuple[openapi.Operation, str]:
    """`METHOD /path?query` (METHOD defaults to GET) matched against the declared paths,
    which may be templates (`/items/{item_id}` matches `/items/7`)."""
    method, _, rest = raw.strip().partition(" ")
    if not rest:
        method, rest = "GET", method
    path = urllib.parse.urlsplit(rest.strip()).path
    for name, op in declared.items():
        if op.method != method.lower():
            continue
        parts = op.path.split("/")
        pattern = "/".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
        if name == f"{method.lower()} {path}" or re.fullmatch(pattern, path):
            return op, rest.strip()
    raise UnknownRouteError(route=raw, known=[op.name for op in declared.values()])


def _merged(built: str, given: str) -> str:
    """The path as given, with the built query overridden by the given query's values."""
    given_parts = urllib.parse.urlsplit(given)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(built).query))
    query.update(urllib.parse.parse_qsl(given_parts.query, keep_blank_values=True))
    path = given_parts.path if "{" not in given_parts.path else urllib.parse.urlsplit(built).path
    return path + (f"?{urllib.parse.urlencode(query)}" if query else "")


def _default_clients(threaded: bool, cpus: int, configured: Setting) -> list[int]:
    """1 to 64 clients; for thread-pool work, up to twice the threads of every worker so
    the pool's limit is reached (at most 256)."""
    if not threaded:
        return list(CLIENTS)
    top = min(256, max(64, 2 * cpus * configured.threads))
    return sorted({1, 4, 16, top // 4, top})


def _around(value: int, low: int, high: int) -> list[int]:
    """Half, the value, twice and four times it, within [low, high]."""
    return sorted({min(high, max(low, v)) for v in (value // 2, value, value * 2, value * 4)})


def _pool_values(pool: int) -> list[int]:
    """Pool sizes to try: half the configured one, it, and twice it."""
    return sorted({max(1, pool // 2), pool, pool * 2})


def _fitting(context: check.Context, tuning: Tuning, values: list[int], workers: int) -> list[int]:
    """For PostgreSQL, the pool sizes whose connections (workers x pool) fit the server's
    max_connections less its reserved ones; the budget goes into the notes."""
    if context.report.answers.get("database") != "postgres":
        return values
    result = context.python_code(_MAX_CONNECTIONS, env=context.env(**_services(context)))
    try:
        limit, reserved = (int(n) for n in result.stdout.split())
    except ValueError:
        tuning.notes.append("could not read max_connections: the connection budget is unchecked")
        return values
    room = limit - reserved
    tuning.notes.append(
        f"connection budget: max_connections {limit} less {reserved} reserved leaves {room}; "
        f"replicas x {workers} workers x DB_POOL_MAX must stay within it"
    )
    return [v for v in values if workers * v <= room] or [max(1, room // workers)]


def _has_examples(document: dict[str, Any]) -> bool:
    paths = document.get("paths") or {}
    return all(method.lower() in paths.get(path, {}) for method, path, _ in LESSON.values())


class _Sweep:
    """Boots settings and measures them within the budget; remembers the best so far.

    The budget is shared out as the sweep goes: each measurement gets what is left, less
    the boots still planned, divided by the measurements still planned."""

    def __init__(
        self,
        tuning: Tuning,
        context: check.Context,
        targets: Sequence[openapi.Request],
        progress: Progress,
        started: float,
    ) -> None:
        self.tuning, self.context, self.targets = tuning, context, targets
        self.progress, self.started = progress, started
        self.best = tuning.configured
        self.booted: Setting | None = None
        self.boot_times: list[float] = []
        self.boots_left = self.points_left = 0

    def plan(self, settings: int, lessons: int) -> None:
        """What is still to do: a boot per setting measured at every client count, and for
        the lesson one boot and a measurement per kind of work."""
        self.boots_left = settings + lessons
        self.points_left = settings * len(self.tuning.clients) + lessons * len(LESSON) * 2

    def spent(self) -> float:
        return time.monotonic() - self.started

    def seconds_per_point(self) -> float:
        boot = sum(self.boot_times) / len(self.boot_times) if self.boot_times else BOOT_GUESS
        left = self.tuning.budget - self.spent() - self.boots_left * (boot + WARMUP)
        return min(LONGEST, left / max(1, self.points_left))

    def report(self, doing: str) -> None:
        self.progress(doing, min(1.0, self.spent() / self.tuning.budget))

    def phase(self, variable: str, values: list[int]) -> None:
        """Measure each value of `variable` at the best setting so far; keep the best."""
        phase = Phase(variable, values)
        self.tuning.phases.append(phase)
        settings = [changed(self.best, variable, v) for v in values]
        if self.tuning.points and self.seconds_per_point() < SHORTEST:
            phase.reason = f"skipped: the budget of {self.tuning.budget:g} s was spent"
            self.boots_left -= len(values)
            self.points_left -= len(values) * len(self.tuning.clients)
            return
        for setting in settings:
            if any(p.setting == setting for p in self.tuning.points):
                self.boots_left -= 1  # measured in an earlier phase
                self.points_left -= len(self.tuning.clients)
                continue
            self.start(setting)
            for clients in self.tuning.clients:
                self.report(f"{label(setting)}, {clients} clients")
                measured = self.run(clients, max(SHORTEST, self.seconds_per_point()))
                self.points_left -= 1
                self.tuning.points.append(Point(setting, clients, measured))
        phase.measured = True
        peaks = {s: self.tuning.peak(s) for s in settings}
        top = max(peaks.values())
        self.best = next(s for s in settings if peaks[s] >= NEAR * top)

    def start(self, setting: Setting) -> None:
        """Boot `setting` (unless it runs already) and warm it up."""
        self.boots_left -= 1
        server = self.context.server
        if self.booted == setting and server is not None and server.poll() is None:
            return
        check.halt(self.context)
        self.report(f"booting {label(setting)}")
        began = time.monotonic()
        with _failing(f"{label(setting)}: "):
            check.start(self.context, **setting.env())
        self.boot_times.append(time.monotonic() - began)
        self.booted = setting
        self.run(self.tuning.clients[0], WARMUP)

    def run(
        self, clients: int, seconds: float, targets: Sequence[openapi.Request] = ()
    ) -> load.Measured:
        base = self.context.base
        loads = [
            load.Target(r.method, base + r.url, dict(r.headers), r.body)
            for r in (targets or self.targets)
        ]
        try:
            return self.tuning.generator.run(loads, clients, seconds)
        except load.LoadError as error:
            raise TuneError(reason=str(error)) from None

    def lesson(self, setting: Setting) -> None:
        """The same wait async and blocking, and CPU work in the process pool, at as many
        clients as the thread pools of all workers hold twice over."""
        if self.seconds_per_point() < SHORTEST:
            self.tuning.notes.append("the examples' lesson was skipped: the budget was spent")
            return
        clients = min(256, 2 * setting.workers * setting.threads)
        self.start(setting)
        for kind, (method, path, query) in LESSON.items():
            self.report(f"lesson: {kind}, {clients} clients")
            request = openapi.Request(method, path + query)
            self.run(clients, WARMUP, [request])  # the process pool starts on first use
            self.points_left -= 1
            measured = self.run(clients, max(SHORTEST, self.seconds_per_point()), [request])
            self.points_left -= 1
            self.tuning.lesson.append(Lesson(kind, f"{method} {path}", clients, measured))


# The article's lesson, on the examples: kind of work -> method, path, query.
LESSON = {
    "async wait": ("GET", "/examples/sleep", "?seconds=0.1"),
    "blocking wait in the thread pool": ("GET", "/examples/blocking", "?seconds=0.1"),
    "CPU work in the process pool": ("POST", "/examples/cpu", "?limit=2000"),
}
