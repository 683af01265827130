"""Benchmark fastscaffold and its generated app against baselines measured in the same run."""

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
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

# A server launch: (command, working directory, environment) for a given port and worker count.
Launch = Callable[[int, int], tuple[list[str], Path, dict[str, str]]]
# Direct connections only: a proxy from the environment must never see this traffic.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Row:
    """One line of the result table."""

    metric: str
    ours: float
    baseline: float
    target: str
    met: bool

    @property
    def ratio(self) -> float:
        """Ours divided by baseline."""
        return self.ours / self.baseline


def log(message: str) -> None:
    """Print a progress line to stderr."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], cwd: Path | None = None) -> float:
    """Run `cmd` to completion and return its wall time; fail loudly if it fails."""
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{cmd} exited {result.returncode}: {result.stderr.decode()[-2000:]}")
    return elapsed


def free_port() -> int:
    """Return a loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def descendants(pid: int) -> list[int]:
    """Return every process below `pid`, from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError):
                # The command name may contain spaces; the fields after the last ')' are fixed.
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


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


@contextmanager
def serving(launch: Launch, port: int, workers: int, logfile: Path) -> Iterator[int]:
    """Start a server in its own process group, wait until it is live, yield its pid."""
    cmd, cwd, env = launch(port, workers)
    with logfile.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd} exited {proc.returncode}:\n{logfile.read_text()}")
            with suppress(OSError):
                with OPENER.open(f"http://{HOST}:{port}/health/live", timeout=1) as response:
                    if response.status == 200:
                        break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{cmd} not live within 60 s:\n{logfile.read_text()}")
            time.sleep(0.1)
        yield proc.pid
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        # The group outlives its leader while any member lives: take the stragglers too.
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wrk(port: int, seconds: int) -> tuple[float, str]:
    """Load /health/live with wrk; return requests/sec and any error lines."""
    url = f"http://{HOST}:{port}/health/live"
    cmd = ["wrk", "-t1", "-c64", f"-d{seconds}s", url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"no Requests/sec in wrk output:\n{out}")
    errors = "; ".join(re.findall(r"^\s*((?:Non-2xx|Socket errors).*)$", out, re.M))
    return float(match.group(1)), errors


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
    row = median_row("render, median s", samples, 1.25, raw)
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
        p, w = str(port), str(workers)
        cmd = {
            "uvicorn": ["-m", "uvicorn", app, "--host", HOST, "--port", p, "--workers", w]
            + ["--no-access-log"],
            "gunicorn": ["-m", "gunicorn", app, "-w", w, "-k", "uvicorn_worker.UvicornWorker"]
            + ["-b", f"{HOST}:{p}"],
            "granian": ["-m", "granian", "--interface", "asgi", app, "--host", HOST, "--port", p]
            + ["--workers", w, "--no-access-log", "--blocking-threads", "1"],
        }[server]
        return [py, *cmd], tmp, base_env

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
    uv = shutil.which("uv", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    if uv is None:
        raise RuntimeError("uv not found beside this python or on PATH")
    project, venv = tmp / "project", tmp / "venv"
    log(f"generating the {server} project and installing it with uv")
    cmd = [sys.executable, "-m", "fastscaffold", "new", str(project), "--yes", "--server", server]
    run([*cmd, "--workers", str(workers)])
    run([uv, "venv", "-q", "--python", sys.executable, str(venv)])
    python = venv / "bin" / "python"
    run([uv, "pip", "install", "-q", "--python", str(python), "-e", str(project)])
    return project, python


def show_command(launch: Launch, workers: int, raw: list[str]) -> None:
    """Record the server command the generated app runs (`python -m app --print`)."""
    cmd, cwd, env = launch(free_port(), workers)
    shown = subprocess.run([*cmd, "--print"], cwd=cwd, env=env, capture_output=True, text=True)
    raw.append(f"generated app command: {shown.stdout.strip() or shown.stderr.strip()}")


def print_table(rows: list[Row], raw: list[str], header: str) -> None:
    """Print the results table and the raw numbers to stdout."""
    print(header)
    cells = [["metric", "ours", "baseline", "ratio", "target", "met?"]]
    for row in rows:
        numbers = [f"{row.ours:.3f}", f"{row.baseline:.3f}", f"{row.ratio:.2f}"]
        cells.append([row.metric, *numbers, row.target, "yes" if row.met else "NO"])
    widths = [max(len(line[i]) for line in cells) for i in range(len(cells[0]))]
    for line in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
    print("\nraw:")
    print("\n".join(raw))


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
