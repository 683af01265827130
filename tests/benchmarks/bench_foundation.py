"""Benchmark fastscaffold and its generated app against baselines measured in the same run."""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path

from benchlib import (
    REPO,
    Launch,
    Row,
    baseline_command,
    descendants,
    free_port,
    install_project,
    log,
    print_table,
    run,
    serving,
    show_command,
    wrk,
)

BASE_MODULE = "bench_minimal_app"

MINIMAL_CLI = '''\
import typer

app = typer.Typer()


@app.command()
def hello() -> None:
    """Say hello."""
    typer.echo("hello")


@app.command()
def bye() -> None:
    """Say bye."""
    typer.echo("bye")


if __name__ == "__main__":
    app()
'''

MINIMAL_APP = """\
from fastapi import FastAPI

app = FastAPI()


@app.get("/health/live")
async def live():
    return {"status": "ok"}
"""

COPIER_BASELINE = (
    "import sys, copier; copier.run_copy(sys.argv[1], sys.argv[2], defaults=True, quiet=True,"
    " settings=copier.Settings())"
)


def rss_kib(pid: int) -> int:
    """Return the VmRSS of `pid` in KiB (0 if it is gone or a kernel thread)."""
    with suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def describe(pid: int) -> str:
    """Return a short command line for `pid`."""
    with suppress(OSError):
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        return " ".join(arg.decode(errors="replace") for arg in argv if arg)[:90]
    return "?"


def bench_cli(tmp: Path, runs: int, raw: list[str]) -> Row:
    """Median wall time of `--help`: fastscaffold vs a minimal two-command Typer app."""
    script = tmp / "minimal_cli.py"
    script.write_text(MINIMAL_CLI)
    ours = [sys.executable, "-m", "fastscaffold", "--help"]
    base = [sys.executable, str(script), "--help"]
    run(ours)  # warm-up
    run(base)
    samples: dict[str, list[float]] = {"ours": [], "baseline": []}
    for _ in range(runs):
        samples["ours"].append(run(ours))
        samples["baseline"].append(run(base))
    return median_row("CLI --help, median s", samples, 1.2, raw)


def bench_render(tmp: Path, runs: int, raw: list[str]) -> Row:
    """Median wall time of a whole render: `fastscaffold new` vs copier.run_copy."""
    src = tmp / "template-copy"
    src.mkdir()
    shutil.copy2(REPO / "copier.yml", src / "copier.yml")
    shutil.copytree(REPO / "template", src / "template", symlinks=True)
    out = tmp / "renders"
    out.mkdir()
    samples: dict[str, list[float]] = {"ours": [], "baseline": []}
    for i in range(runs + 1):  # the first round is a warm-up
        log(f"render round {i}/{runs}")
        ours = run([sys.executable, "-m", "fastscaffold", "new", str(out / f"o{i}"), "--yes"])
        base = run([sys.executable, "-c", COPIER_BASELINE, str(src), str(out / f"b{i}")])
        if i:
            samples["ours"].append(ours)
            samples["baseline"].append(base)
    row = median_row("render, median s", samples, 1.10, raw)
    row.target += " and ours < 1.5 s"
    row.met = row.met and row.ours < 1.5
    return row


def median_row(metric: str, samples: dict[str, list[float]], limit: float, raw: list[str]) -> Row:
    """Record the samples and return a lower-is-better row of their medians."""
    for name, values in samples.items():
        raw.append(f"{metric} [{name}]: " + " ".join(f"{v:.3f}" for v in values))
    ours, base = statistics.median(samples["ours"]), statistics.median(samples["baseline"])
    return Row(metric, ours, base, f"<= {limit}", ours / base <= limit)


def launchers(server: str, project: Path, python: Path, tmp: Path) -> dict[str, Launch]:
    """Return how to start the generated app and the minimal app under `server`."""
    (tmp / f"{BASE_MODULE}.py").write_text(MINIMAL_APP)
    base_env = {k: v for k, v in os.environ.items() if k not in ("PORT", "WEB_CONCURRENCY")}
    py, app = str(python), f"{BASE_MODULE}:app"

    def ours(port: int, workers: int) -> tuple[list[str], Path, dict[str, str]]:
        env = {
            **base_env,
            "PORT": str(port),
            "WEB_CONCURRENCY": str(workers),
            "DATABASE_URL": f"sqlite:///{tmp}/bench.db",
        }
        return [py, "-m", "app"], project, env

    def baseline(port: int, workers: int) -> tuple[list[str], Path, dict[str, str]]:
        return baseline_command(server, python, app, port, workers), tmp, base_env

    return {"ours": ours, "baseline": baseline}


def bench_throughput(
    apps: dict[str, Launch], tmp: Path, workers: int, seconds: int, raw: list[str]
) -> Row:
    """Best of two alternating wrk runs (A B A B) on /health/live."""
    best: dict[str, float] = {}
    for round_ in (1, 2):
        for name, launch in apps.items():
            log(f"throughput round {round_}: {name}, {workers} worker(s), {seconds} s")
            port = free_port()
            with serving(launch, port, workers, tmp / f"{name}-rps.log"):
                wrk(port, 2)  # warm-up
                rps, errors = wrk(port, seconds)
            raw.append(f"throughput round {round_} [{name}]: {rps:.0f} req/s {errors}".rstrip())
            best[name] = max(best.get(name, 0.0), rps)
    ratio = best["ours"] / best["baseline"]
    return Row("throughput, best req/s", best["ours"], best["baseline"], ">= 0.9", ratio >= 0.9)


def bench_memory(apps: dict[str, Launch], tmp: Path, workers: int, raw: list[str]) -> Row:
    """Summed RSS of the whole server process tree, idle, 2 s after it first answers."""
    total: dict[str, float] = {}
    for name, launch in apps.items():
        log(f"idle memory: {name}, {workers} worker(s)")
        port = free_port()
        with serving(launch, port, workers, tmp / f"{name}-mem.log") as pid:
            time.sleep(2)
            tree = [pid, *descendants(pid)]
            sizes = {p: rss_kib(p) for p in tree}
            procs = {p: describe(p) for p in tree}
        total[name] = sum(sizes.values()) / 1024
        raw.append(f"idle memory [{name}]: {total[name]:.1f} MiB in {len(tree)} processes")
        raw += [f"  pid {p}: {sizes[p] / 1024:6.1f} MiB  {procs[p]}" for p in tree]
    ratio = total["ours"] / total["baseline"]
    return Row("idle memory, MiB RSS", total["ours"], total["baseline"], "<= 1.5", ratio <= 1.5)


def prepare_project(tmp: Path, server: str, workers: int, raw: list[str]) -> tuple[Path, Path]:
    """Generate the default project for `server` and install it into a fresh uv venv."""
    project, venv = tmp / "project", tmp / "venv"
    log(f"generating the {server} project and installing it with uv")
    python = install_project(project, venv, ["--server", server, "--workers", str(workers)])
    return project, python


def main() -> int:
    """Measure the four ratios in one run and print them."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer runs, shorter loads")
    parser.add_argument("--server", choices=["uvicorn", "gunicorn", "granian"], default="uvicorn")
    parser.add_argument(
        "--workers", type=int, help="workers for throughput and memory (default: 1 and 2)"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk not found: install it (apt-get install -y wrk) and run again", file=sys.stderr)
        return 1
    rps_workers, mem_workers = args.workers or 1, args.workers or 2
    raw: list[str] = []
    with tempfile.TemporaryDirectory(prefix="fastscaffold-bench-") as name:
        tmp = Path(name)
        log("CLI start-up")
        rows = [bench_cli(tmp, 5 if args.quick else 15, raw)]
        rows.append(bench_render(tmp, 3 if args.quick else 10, raw))
        project, python = prepare_project(tmp, args.server, rps_workers, raw)
        apps = launchers(args.server, project, python, tmp)
        show_command(apps["ours"], rps_workers, raw)
        rows.append(bench_throughput(apps, tmp, rps_workers, 3 if args.quick else 10, raw))
        rows.append(bench_memory(apps, tmp, mem_workers, raw))
    header = (
        f"server={args.server} throughput_workers={rps_workers} memory_workers={mem_workers}"
        f" quick={args.quick} python={sys.version.split()[0]} cpus={os.cpu_count()}"
    )
    print_table(rows, raw, header)
    return 0


if __name__ == "__main__":
    sys.exit(main())
