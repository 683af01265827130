"""`fastscaffold check`: prove a generated project installs, passes and serves, step by step."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fastscaffold import processes, service
from fastscaffold.probes import probe

STEPS = ("answers", "install", "lint", "types", "tests", "boot", "stop")
Status = Literal["pass", "fail", "skip"]


class StepFailed(Exception):
    """A step found the project broken; `output` is the tail of what the tool printed."""

    def __init__(self, reason: str, output: str = "") -> None:
        super().__init__(reason)
        self.reason, self.output = reason, output


class StepSkipped(Exception):
    """A step could not apply (e.g. nothing was booted to stop)."""


@dataclass
class StepResult:
    """One step's outcome."""

    name: str
    status: Status
    duration: float
    reason: str | None = None
    output: str | None = None


@dataclass
class Report:
    """Every step's outcome, in order."""

    project: Path
    answers: dict[str, object] = field(default_factory=dict)
    steps: list[StepResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no step failed."""
        return all(step.status != "fail" for step in self.steps)


@dataclass
class Options:
    """What the caller chose: steps, venv, timeouts."""

    steps: tuple[str, ...] = STEPS
    venv: Path | None = None
    ready_timeout: float = 60.0
    write_probes: bool = False  # send writes even to a database given in the environment


@dataclass
class Context:
    """What the steps share: the project, the caller's options, the scratch directory, and
    what earlier steps set up (the answers, the server and queue worker they started)."""

    project: Path
    options: Options
    work: Path
    report: Report
    server: subprocess.Popen[bytes] | None = None
    queue_worker: subprocess.Popen[bytes] | None = None
    base: str = ""
    document: dict[str, Any] = field(default_factory=dict)  # the booted app's OpenAPI
    stop_limit: Future[int] | None = None  # seconds a stop may take, read during the boot

    @property
    def venv(self) -> Path:
        return self.options.venv or self.work / "venv"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @functools.cached_property
    def entrypoint(self) -> str:
        """Where the app is: `[tool.fastapi] entrypoint` in pyproject.toml, as `fastapi run`
        reads it (`module:attribute`)."""
        try:
            with (self.project / "pyproject.toml").open("rb") as file:
                found = tomllib.load(file).get("tool", {}).get("fastapi", {}).get("entrypoint")
        except (OSError, tomllib.TOMLDecodeError):
            found = None
        return str(found or "app.main:app")

    @property
    def package(self) -> str:
        """The top-level package of the app: `python -m PACKAGE` starts the service."""
        return self.entrypoint.split(":")[0].split(".")[0]

    def env(self, **extra: str) -> dict[str, str]:
        """The environment the project's tools and servers run with.

        Bytecode goes to a directory beside the venv's packages (PYTHONPYCACHEPREFIX), never
        into the project: each module compiles once per venv, not once per process, and a
        venv kept with --venv keeps its bytecode for the next check.
        """
        inherited = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        return {**inherited, "PYTHONPYCACHEPREFIX": str(self.venv / "pycache"), **extra}

    def tool(self, *args: str, env: dict[str, str] | None = None, timeout: float = 900) -> str:
        """Run a command in the project; a non-zero exit fails the step with its output."""
        try:
            result = subprocess.run(
                args, cwd=self.project, env=env or self.env(), capture_output=True, text=True,
                timeout=timeout,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise StepFailed(f"`{' '.join(args[:4])}` did not finish in {timeout:.0f} s") from None
        output = (result.stdout + result.stderr).strip()
        if result.returncode != 0:
            lines = output.splitlines()[-40:]
            raise StepFailed(f"`{' '.join(args[:4])}` exited {result.returncode}", "\n".join(lines))
        return output

    def need_venv(self) -> None:
        if not self.python.exists():
            raise StepFailed(f"no venv at {self.venv}: run the install step or pass --venv")

    def services(self, *, boot: bool = False) -> dict[str, str]:
        """Service URLs the project needs, from the environment; a missing one fails."""
        answers = self.report.answers
        needed = {}
        if answers.get("database") in ("postgres", "mongodb"):
            needed["DATABASE_URL"] = f"a {answers['database']} server"
        if answers.get("task_queue") == "taskiq":
            needed["REDIS_URL"] = "a Redis server"
        env = {}
        for variable, what in needed.items():
            if not os.environ.get(variable):
                raise StepFailed(f"{variable} is not set; point it at {what} the project can use")
            env[variable] = os.environ[variable]
        if boot and answers.get("database") == "sqlite" and "DATABASE_URL" not in os.environ:
            env["DATABASE_URL"] = f"sqlite:///{self.work / 'check.db'}"  # never the project's
        return env

    def setting(self, expression: str, env: dict[str, str], failure: str) -> int:
        """An integer the project's own settings give for `expression`, in `env`."""
        config = f"{self.package}.core.config"
        code = f"from {config} import get_settings; print(get_settings().{expression})"
        result = self.python_code(code, env=env)
        if result.returncode != 0 or not result.stdout.strip().isdigit():
            raise StepFailed(failure, result.stderr[-2000:])
        return int(result.stdout.strip())

    def python_code(
        self, code: str, *args: str, env: dict[str, str]
    ) -> subprocess.CompletedProcess[str]:
        """Run `code` (with `args`) by the project's Python, in the project, in `env`."""
        return subprocess.run(
            [str(self.python), "-c", code, *args], cwd=self.project, env=env,
            capture_output=True, text=True, check=False,
        )  # fmt: skip

    def logs(self) -> str:
        return "\n".join(
            processes.tail(self.work / name) for name in ("server.log", "queue.log")
        ).strip()


# A step raises StepFailed or StepSkipped, or returns what it found (None: nothing to say).
Step = Callable[[Context], "str | None"]


def run(
    project: Path,
    options: Options,
    work: Path,
    on_step: Callable[[str], None],
    on_done: Callable[[StepResult], None],
) -> Report:
    """Run each chosen step in order, reporting progress through the callbacks; later steps
    use what earlier ones set up. Whatever was started is killed at the end."""
    context = Context(project, options, work, Report(project=project))
    try:
        for name, step in STEP_FUNCTIONS.items():
            if name not in options.steps:
                result = StepResult(name, "skip", 0.0, reason="not selected")
            else:
                on_step(name)
                result = _timed(name, step, context)
            context.report.steps.append(result)
            on_done(result)
    finally:
        halt(context)
    return context.report


def _timed(name: str, step: Step, context: Context) -> StepResult:
    started = time.monotonic()
    try:
        found = step(context)
    except StepFailed as failed:
        return StepResult(name, "fail", _since(started), failed.reason, failed.output or None)
    except StepSkipped as skipped:
        return StepResult(name, "skip", _since(started), str(skipped))
    return StepResult(name, "pass", _since(started), found)


# -- steps -------------------------------------------------------------------------------


def check_answers(context: Context) -> None:
    """The answers file exists and is valid for the installed template."""
    from fastscaffold import options
    from fastscaffold.errors import FastscaffoldError

    path = context.project / ".copier-answers.yml"
    if not path.is_file():
        raise StepFailed(f"{path} not found: is this a project generated by fastscaffold?")
    try:
        raw = options.load_answers_file(path)
        answers: dict[str, object] = {
            n: options.coerce(options.question(n), v) for n, v in raw.items()
        }
        missing = [q.name for q in options.questions() if q.name not in answers]
        if missing:
            raise StepFailed(f"answers file lacks {', '.join(missing)}; run fastscaffold update")
        options.validate(answers)
    except FastscaffoldError as error:
        raise StepFailed(str(error)) from None
    context.report.answers = answers


def install(context: Context) -> None:
    """Install the project and its dev tools into an isolated venv (uv when available)."""
    uv = _uv()
    if not context.python.exists():
        venv = [uv, "venv", "-q", str(context.venv)] if uv else [sys.executable, "-m", "venv"]
        context.tool(*venv, *([] if uv else [str(context.venv)]))
    # Not compiled here: the steps compile what they import, once, into the venv's cache.
    if uv is None:
        pip = [str(context.python), "-m", "pip", "install", "--no-compile", "-q", "-e", ".[dev]"]
        context.tool(*pip)
        return
    command = [uv, "pip", "install", "--python", str(context.python), "-q", "-e", ".[dev]"]
    try:  # uv's cache alone first (a second, where it holds everything); else the index
        context.tool(*command, "--offline")
    except StepFailed:
        context.tool(*command)


def lint(context: Context) -> None:
    """`ruff check` and `ruff format --check`."""
    context.need_venv()
    context.tool(str(context.python), "-m", "ruff", "check", "--no-cache", ".")
    context.tool(str(context.python), "-m", "ruff", "format", "--check", "--no-cache", ".")


def types(context: Context) -> None:
    """`mypy` in strict mode, as the project configures it."""
    context.need_venv()
    # One cache for every check on this machine (MYPY_CACHE_DIR, where set, wins): mypy
    # keys it on file contents, so another venv or project only rechecks what differs
    # (the default project: 15 s cold, about 1 s from a cache another venv filled).
    cache = [] if os.environ.get("MYPY_CACHE_DIR") else ["--cache-dir", str(_mypy_cache())]
    where = [p for p in (context.package, "tests") if (context.project / p).is_dir()]
    context.tool(str(context.python), "-m", "mypy", *cache, *where)


def tests(context: Context) -> None:
    """The project's own test suite, against the services in the environment."""
    context.need_venv()
    context.tool(
        str(context.python), "-m", "pytest", "-q", "-p", "no:cacheprovider",
        env=context.env(**context.services()),
    )  # fmt: skip


def start(context: Context, **settings: str) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """Start the real server (and a queue worker for taskiq) on a free loopback port with
    `settings` in its environment; wait until it is ready. Return it and its environment."""
    context.need_venv()
    port = processes.free_port()
    context.base = f"http://127.0.0.1:{port}"
    # API_DOCS: the app serves its OpenAPI document, which the probes are made from.
    env = context.env(
        HOST="127.0.0.1", PORT=str(port), API_DOCS="true", **context.services(boot=True),
        **settings,
    )  # fmt: skip
    server = context.server = processes.start(
        [str(context.python), "-m", context.package], cwd=context.project, env=env,
        log=context.work / "server.log",
    )  # fmt: skip
    if context.report.answers.get("task_queue") == "taskiq":
        context.queue_worker = processes.start(
            [str(context.python), "-m", f"{context.package}.queue"],
            cwd=context.project, env=env, log=context.work / "queue.log",
        )  # fmt: skip
    try:
        service.wait_ready(server, context.base, context.options.ready_timeout)
    except service.ServiceFailed as failed:
        raise StepFailed(str(failed), context.logs()) from None
    return server, env


def halt(context: Context) -> None:
    """Kill whatever `start` started, at once (no graceful stop)."""
    for proc in (context.server, context.queue_worker):
        if proc is not None:
            processes.kill_group(proc)
    context.server = context.queue_worker = None


def boot(context: Context) -> str:
    """Start the real server and wait until ready; probe the contract, every operation the
    app's OpenAPI document declares and the template's round trips; count the workers."""
    # The stop budget is read while the server starts (a Python process of its own).
    reading = ThreadPoolExecutor(1)
    context.stop_limit = reading.submit(_stop_limit, context)
    reading.shutdown(wait=False)
    server, env = start(context)
    expected = _expected_workers(context, env)
    context.document = _document(context, env)
    probed = probe(context.base, context.document, writes=writes_refused(context))
    if probed.failures:
        raise StepFailed("; ".join(probed.failures), context.logs())
    found = len(processes.workers(server.pid))
    if expected > 1 and found != expected:  # one worker means no supervisor process
        raise StepFailed(f"{found} worker processes, expected {expected}", context.logs())
    return probed.summary()


_OPENAPI = """
import importlib, json, sys
module, _, name = sys.argv[1].partition(":")
print(json.dumps(getattr(importlib.import_module(module), name or "app").openapi()))
"""


def _document(context: Context, env: dict[str, str]) -> dict[str, Any]:
    """The OpenAPI document the running app serves; where it serves none (API documents off
    in production), the one its entrypoint builds, in the same environment."""
    try:
        status, served = processes.request_json("GET", f"{context.base}/openapi.json")
        if status == 200 and isinstance(served, dict) and "paths" in served:
            return served
    except (OSError, ValueError):
        pass
    result = context.python_code(_OPENAPI, context.entrypoint, env=env)
    try:
        built = json.loads(result.stdout) if result.returncode == 0 else None
    except ValueError:
        built = None
    if not isinstance(built, dict):
        reason = f"could not read the OpenAPI document of {context.entrypoint}"
        raise StepFailed(reason, result.stderr[-2000:])
    return built


def writes_refused(context: Context) -> str | None:
    """Why writes may not be sent, or None: they go to the check's own SQLite file, the
    project has no database, or --write-probes asks for them."""
    database = context.report.answers.get("database")
    if context.options.write_probes or database == "none":
        return None
    if database == "sqlite" and "DATABASE_URL" not in os.environ:
        return None
    return "DATABASE_URL is the service's own database: --write-probes sends writes there"


def _expected_workers(context: Context, env: dict[str, str]) -> int:
    """The worker count the configuration asks for; `auto` as the project resolves it."""
    wanted = os.environ.get("WEB_CONCURRENCY") or str(context.report.answers["workers"])
    if wanted.strip().lower() != "auto":
        return int(wanted)
    return context.setting("WEB_CONCURRENCY", env, "could not resolve WEB_CONCURRENCY=auto")


def _stop_limit(context: Context) -> int:
    """Seconds a stop may take: the project's kill timeout (its stop budget and a margin);
    for projects from before the budget: GRACEFUL_TIMEOUT and the same margin."""
    env = context.env(**context.services(boot=True))
    expression = "kill_timeout if hasattr(get_settings(), 'kill_timeout') else "
    expression += "get_settings().GRACEFUL_TIMEOUT + 5"
    return context.setting(expression, env, "could not read the stop budget")


SLOW = "/examples/sleep"


def stop(context: Context) -> None:
    """SIGTERM with requests in flight: they complete and the whole tree exits in time."""
    if context.server is None or context.server.poll() is not None:
        raise StepSkipped("no server was booted")
    limit = context.stop_limit.result() if context.stop_limit else _stop_limit(context)
    # The examples have a route that takes a second; without it no route is known to be
    # slow, so the requests only prove the server answers until it is told to stop.
    slow = "get" in context.document.get("paths", {}).get(SLOW, {})
    url = f"{context.base}{SLOW}?seconds=1" if slow else f"{context.base}/health/live"
    if not slow:
        # Workers still starting when SIGTERM arrives only start stopping once started
        # (granian); let every worker finish starting, as the slow requests do otherwise.
        time.sleep(1.5)
    try:
        service.stop(context.server, url, limit)
    except service.ServiceFailed as failed:
        raise StepFailed(str(failed), context.logs()) from None


STEP_FUNCTIONS: dict[str, Step] = dict(
    zip(STEPS, (check_answers, install, lint, types, tests, boot, stop), strict=True)
)


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)


def _mypy_cache() -> Path:
    """The per-user cache directory `check` keeps mypy's cache in."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fastscaffold" / "mypy"


def _uv() -> str | None:
    try:
        import uv

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


@contextmanager
def workspace() -> Iterator[Path]:
    """A scratch directory for the venv, logs and the SQLite file; removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="fastscaffold-check-") as tmp:
        yield Path(tmp)
