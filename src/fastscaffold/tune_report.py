"""What `tune` found, as text for a person, JSON for a program and an SVG chart."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from fastscaffold import __version__, load
from fastscaffold.measurements import Lesson, Point, Setting, Tuning, label, recommended

SCHEMA_VERSION = 1
KNOBS = ("WEB_CONCURRENCY", "THREADPOOL_SIZE", "DB_POOL_MAX")


def as_text(tuning: Tuning, shown: str) -> str:
    """The table of every measurement, the recommendations and the examples' lesson."""
    generator = tuning.generator
    source = tuning.cpu_source.split(" (")[0]
    lines = [
        f"tune: {shown}, {tuning.cpus} CPUs ({source}), {tuning.seconds:.0f} s of a "
        f"{tuning.budget:g} s budget",
        f"load: {generator.name} {generator.version} on this machine (the client shares its "
        "CPUs with the server, so the figures are lower than a separate client would see)",
        f"routes: {', '.join(r.upper() if ' ' not in r else _route(r) for r in tuning.routes)}",
        "",
    ]
    knobs = [k for k in KNOBS if any(k in p.setting.env() for p in tuning.points)]
    header = [*knobs, "clients", "req/s", "p50 ms", "p99 ms", "errors"]
    rows = [
        [*(str(p.setting.values()[k]) for k in knobs), str(p.clients), *_figures(p.measured)]
        for p in tuning.points
    ]
    lines += _table(header, rows)
    lines += ["", "recommended:"]
    for choice in tuning.choices:
        was = "" if choice.configured == choice.value else f" (configured {choice.configured})"
        lines.append(f"  {choice.variable}={choice.value}{was}: {choice.reason}")
    lines += [f"note: {note}" for note in tuning.notes]
    if tuning.lesson:
        lines += ["", *lesson_text(tuning)]
    return "\n".join(lines)


def _route(name: str) -> str:
    method, path = name.split(" ", 1)
    return f"{method.upper()} {path}"


def _figures(measured: load.Measured) -> list[str]:
    return [
        f"{measured.per_second:.0f}",
        f"{measured.p50_ms:.1f}",
        f"{measured.p99_ms:.1f}",
        str(measured.errors),
    ]


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]


def lesson_text(tuning: Tuning) -> list[str]:
    """The article's lesson in the user's numbers: the same wait async and blocking, and CPU
    work in the process pool, at the same number of clients."""
    rows = {lesson.kind: lesson for lesson in tuning.lesson}
    first = tuning.lesson[0]
    setting = recommended(tuning)
    lines = [
        f"the examples at {first.clients} concurrent clients, {setting.workers} workers x "
        f"{setting.threads} threads:",
        *(
            f"  {line}"
            for line in _table(
                ["work", "route", "req/s", "p50 ms", "p99 ms", "errors"],
                [[r.kind, r.route, *_figures(r.measured)] for r in tuning.lesson],
            )
        ),
    ]
    waiting, blocking = rows.get("async wait"), rows.get("blocking wait in the thread pool")
    if waiting and blocking:
        threads = setting.workers * setting.threads
        lines.append(
            f"  the same 0.1 s wait: async kept {waiting.measured.per_second:.0f} req/s for all "
            f"{first.clients} clients; blocking, only {threads} threads wait at once and the "
            f"other clients queue ({blocking.measured.per_second:.0f} req/s, p99 "
            f"{blocking.measured.p99_ms:.0f} ms against {waiting.measured.p99_ms:.0f} ms)"
        )
    if cpu := rows.get("CPU work in the process pool"):
        lines.append(
            f"  CPU work: {cpu.measured.per_second:.0f} req/s whatever the number of clients; "
            f"the {tuning.cpus} CPUs bound it, so more workers or threads would not help"
        )
    return lines


def as_json(tuning: Tuning, written: str | None = None) -> str:
    """The whole measurement; the schema is tune-report.schema.json."""
    return json.dumps(as_dict(tuning, written), indent=2)


def as_dict(tuning: Tuning, written: str | None = None) -> dict[str, Any]:
    """The report as plain data (see tune-report.schema.json)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "fastscaffold": __version__,
        "project": str(tuning.project),
        "generator": {
            "name": tuning.generator.name,
            "version": tuning.generator.version,
            "shares_cpus": True,
        },
        "cpus": tuning.cpus,
        "cpu_source": tuning.cpu_source,
        "budget_seconds": tuning.budget,
        "seconds": tuning.seconds,
        "routes": [_route(r) for r in tuning.routes],
        "clients": tuning.clients,
        "configured": tuning.configured.knobs(),
        "phases": [
            {"variable": p.variable, "values": p.values, "measured": p.measured, "reason": p.reason}
            for p in tuning.phases
        ],
        "points": [_point(p) for p in tuning.points],
        "recommendations": [
            {
                "variable": c.variable,
                "value": c.value,
                "configured": c.configured,
                "measured": c.measured,
                "reason": c.reason,
            }
            for c in tuning.choices
        ],
        "lesson": [_lesson(r) for r in tuning.lesson],
        "notes": tuning.notes,
        "written": written,
    }


def _measured(measured: load.Measured) -> dict[str, Any]:
    return {
        "requests": measured.requests,
        "failures": measured.failures,
        "errors": measured.errors,
        "statuses": {str(k): v for k, v in sorted(measured.statuses.items())},
        "seconds": round(measured.seconds, 3),
        "requests_per_second": round(measured.per_second, 1),
        "p50_ms": round(measured.p50_ms, 2),
        "p99_ms": round(measured.p99_ms, 2),
    }


def _point(point: Point) -> dict[str, Any]:
    return {"setting": point.setting.knobs(), "clients": point.clients, **_measured(point.measured)}


def _lesson(lesson: Lesson) -> dict[str, Any]:
    return {
        "kind": lesson.kind,
        "route": lesson.route,
        "clients": lesson.clients,
        **_measured(lesson.measured),
    }


# -- the chart ---------------------------------------------------------------------------

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf")
PANEL_W, PANEL_H, MARGIN = 420, 260, 60


def as_svg(tuning: Tuning) -> str:
    """Two panels, requests/s and p99 against concurrent clients, one line per setting."""
    settings: list[Setting] = []
    for point in tuning.points:
        if point.setting not in settings:
            settings.append(point.setting)
    width = 2 * (PANEL_W + MARGIN) + MARGIN
    height = PANEL_H + 2 * MARGIN + 18 * len(settings) + 20
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{MARGIN}" y="24" font-size="15">{escape(tuning.project.name)}: '
        f"{escape(tuning.generator.name)} load, {tuning.cpus} CPUs</text>",
    ]
    for index, (title, value) in enumerate(
        (("requests/s", lambda p: p.measured.per_second), ("p99 ms", lambda p: p.measured.p99_ms))
    ):
        left = MARGIN + index * (PANEL_W + MARGIN)
        parts += _panel(tuning, settings, left, title, value)
    for index, setting in enumerate(settings):
        y = PANEL_H + 2 * MARGIN + 18 * index
        colour = COLOURS[index % len(COLOURS)]
        parts.append(
            f'<line x1="{MARGIN}" y1="{y - 4}" x2="{MARGIN + 24}" y2="{y - 4}" '
            f'stroke="{colour}" stroke-width="2"/>'
        )
        parts.append(f'<text x="{MARGIN + 32}" y="{y}">{escape(label(setting))}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _panel(tuning: Tuning, settings: list[Setting], left: int, title: str, value: Any) -> list[str]:
    top = MARGIN
    clients = tuning.clients
    highest = max((value(p) for p in tuning.points), default=0.0) or 1.0

    def x(count: int) -> float:
        step = PANEL_W / max(1, len(clients) - 1)
        return left + step * clients.index(count) if len(clients) > 1 else left + PANEL_W / 2

    def y(number: float) -> float:
        return top + PANEL_H - PANEL_H * number / highest

    parts = [
        f'<text x="{left}" y="{top - 10}" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{left}" y1="{top + PANEL_H}" x2="{left + PANEL_W}" y2="{top + PANEL_H}" '
        'stroke="black"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + PANEL_H}" stroke="black"/>',
        f'<text x="{left + PANEL_W / 2}" y="{top + PANEL_H + 32}" text-anchor="middle">'
        "concurrent clients</text>",
    ]
    for tick in range(5):
        number = highest * tick / 4
        parts.append(
            f'<text x="{left - 6}" y="{y(number) + 4:.1f}" text-anchor="end">{number:.0f}</text>'
        )
    for count in clients:
        parts.append(
            f'<text x="{x(count):.1f}" y="{top + PANEL_H + 16}" text-anchor="middle">{count}</text>'
        )
    for index, setting in enumerate(settings):
        mine = sorted((p for p in tuning.points if p.setting == setting), key=lambda p: p.clients)
        coordinates = " ".join(f"{x(p.clients):.1f},{y(value(p)):.1f}" for p in mine)
        colour = COLOURS[index % len(COLOURS)]
        parts.append(
            f'<polyline points="{coordinates}" fill="none" stroke="{colour}" stroke-width="2"/>'
        )
    return parts
