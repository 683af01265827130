"""What `tune` measured and what it concludes: settings, measurements, one recommendation
per knob with its reason in the measured numbers, and the `.env` that keeps them."""

from __future__ import annotations

import dataclasses
import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path

from fastscaffold import load

NEAR = 0.95  # a value within 5% of the best throughput is as good as the best
GROWING = 1.10  # more clients that add less than a tenth to throughput mostly queue
FIELDS = {"WEB_CONCURRENCY": "workers", "THREADPOOL_SIZE": "threads", "DB_POOL_MAX": "pool"}


@dataclass(frozen=True)
class Setting:
    """One combination of the knobs, as environment variables of the service."""

    workers: int
    threads: int
    pool: int | None = None

    def knobs(self) -> dict[str, int | None]:
        """Every knob by its variable; DB_POOL_MAX is None where there is no pool."""
        return {variable: getattr(self, name) for variable, name in FIELDS.items()}

    def values(self) -> dict[str, int]:
        """The knobs this setting has, by variable."""
        return {k: v for k, v in self.knobs().items() if v is not None}

    def env(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.values().items()}


@dataclass
class Point:
    """One measurement: a setting at a number of concurrent clients."""

    setting: Setting
    clients: int
    measured: load.Measured

    @property
    def good_per_second(self) -> float:
        """Requests per second answered without a server error."""
        bad = sum(n for status, n in self.measured.statuses.items() if status >= 500)
        return (self.measured.requests - bad) / self.measured.seconds


@dataclass
class Phase:
    """One knob's sweep: the values tried, or why it was skipped."""

    variable: str
    values: list[int]
    measured: bool = False
    reason: str = ""


@dataclass
class Choice:
    """A recommended value for one variable, and why."""

    variable: str
    value: int
    configured: int | None
    reason: str
    measured: bool


@dataclass
class Lesson:
    """One row of the examples' lesson: a kind of work at N clients."""

    kind: str
    route: str
    clients: int
    measured: load.Measured


@dataclass
class Tuning:
    """Everything `tune` measured and concluded."""

    project: Path
    generator: load.Generator
    cpus: int
    cpu_source: str
    routes: list[str]
    clients: list[int]
    configured: Setting
    budget: float
    phases: list[Phase] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)
    choices: list[Choice] = field(default_factory=list)
    lesson: list[Lesson] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def peak(self, setting: Setting) -> float:
        """The best throughput `setting` reached at any client count."""
        return max((p.good_per_second for p in self.points if p.setting == setting), default=0.0)


def changed(setting: Setting, variable: str, value: int) -> Setting:
    """`setting` with `variable` (WEB_CONCURRENCY, ...) set to `value`."""
    return dataclasses.replace(setting, **{FIELDS[variable]: value})


def label(setting: Setting) -> str:
    return ", ".join(f"{k}={v}" for k, v in setting.env().items())


def recommended(tuning: Tuning) -> Setting:
    """The configured setting with every recommended value in it."""
    setting = tuning.configured
    for choice in tuning.choices:
        setting = changed(setting, choice.variable, choice.value)
    return setting


def choices(tuning: Tuning, best: Setting) -> list[Choice]:
    """A recommendation per knob, with the reason in the measured numbers."""
    configured = tuning.configured.knobs()
    out = []
    for phase in tuning.phases:
        current = configured[phase.variable]
        if current is None:
            continue
        value = best.values().get(phase.variable, current)
        if not phase.measured:
            reason = f"kept as configured: {phase.reason}"
            out.append(Choice(phase.variable, current, current, reason, False))
            continue
        out.append(Choice(phase.variable, value, current, _reason(tuning, phase, best), True))
    return out


def _reason(tuning: Tuning, phase: Phase, best: Setting) -> str:
    """Where throughput stops growing, and where p99 starts to climb, for the chosen value."""
    settings = [changed(best, phase.variable, v) for v in phase.values]
    peaks = [tuning.peak(s) for s in settings]
    chosen = settings.index(best)
    value = phase.values[chosen]
    tried = ", ".join(f"{v}: {p:.0f}" for v, p in zip(phase.values, peaks, strict=True))
    if chosen + 1 < len(settings):
        reason = f"throughput stops growing at {value} (req/s at best, {tried})"
    elif phase.variable == "WEB_CONCURRENCY":
        reason = (
            f"throughput grew up to {value} workers, the most the {tuning.cpus} CPUs allow "
            f"(req/s at best, {tried})"
        )
    else:
        reason = f"throughput grew up to {value}, the largest value tried (req/s at best, {tried})"
    return f"{reason}; {_knee(tuning, best)}"


def _knee(tuning: Tuning, setting: Setting) -> str:
    """Where p99 starts to climb for `setting`: the client count past which throughput grows
    by less than a tenth, so that more clients mostly wait in queues."""
    points = sorted((p for p in tuning.points if p.setting == setting), key=lambda p: p.clients)
    for before, after in itertools.pairwise(points):
        if after.good_per_second < GROWING * before.good_per_second:
            return (
                f"p99 starts to climb past {before.clients} clients: at {after.clients}, "
                f"{after.good_per_second:.0f} req/s against {before.good_per_second:.0f} and "
                f"p99 {after.measured.p99_ms:.0f} ms against {before.measured.p99_ms:.0f}"
            )
    last = points[-1]
    return (
        f"throughput still grew at {last.clients} clients, the most tried "
        f"(p99 {last.measured.p99_ms:.0f} ms)"
    )


def recommended_env(tuning: Tuning) -> dict[str, str]:
    """The measured recommendations as `.env` lines."""
    return {c.variable: str(c.value) for c in tuning.choices if c.measured}


def write_env(project: Path, values: dict[str, str]) -> Path:
    """Set `values` in the project's `.env`, keeping every other line; atomically."""
    path = project / ".env"
    lines = path.read_text().splitlines() if path.exists() else []
    left = dict(values)
    out = []
    for line in lines:
        key = line.split("=", 1)[0].strip().removeprefix("export ").strip()
        if key in left and "=" in line and not line.lstrip().startswith("#"):
            out.append(f"{key}={left.pop(key)}")
        else:
            out.append(line)
    if left:
        out.append("# measured by fastscaffold tune")
        out += [f"{k}={v}" for k, v in left.items()]
    temporary = path.with_name(".env.fastscaffold-tune")
    temporary.write_text("\n".join(out) + "\n")
    os.replace(temporary, path)
    return path
