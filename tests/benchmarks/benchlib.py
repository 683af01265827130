"""Helpers shared by the benchmark scripts: processes, servers, wrk and the result table.

The scripts import it as a sibling module (`python tests/benchmarks/bench_*.py` puts this
directory on sys.path). It is not a test module: pytest does not collect it.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"

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


def run(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> float:
    """Run `cmd` to completion and return its wall time; fail loudly if it fails."""
    start = time.perf_counter()
    result = subprocess.run(
        cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
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


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time used so far by `pid` and every process below it."""
    ticks = 0
    for member in [pid, *descendants(pid)]:
        with suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


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


def wrk_stats(
    port: int, seconds: int, path: str = "/health/live", script: Path | None = None
) -> tuple[float, int, str]:
    """Load `path` with wrk (optionally driven by a Lua `script`).

    Return requests/sec, the number of requests completed and any error lines.
    """
    url = f"http://{HOST}:{port}{path}"
    cmd = ["wrk", "-t1", "-c64", f"-d{seconds}s"]
    if script is not None:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"^\s*(\d+) requests in", out, re.M)
    if rate is None or total is None:
        raise RuntimeError(f"no Requests/sec in wrk output:\n{out}")
    errors = "; ".join(re.findall(r"^\s*((?:Non-2xx|Socket errors).*)$", out, re.M))
    return float(rate.group(1)), int(total.group(1)), errors


def wrk(
    port: int, seconds: int, path: str = "/health/live", script: Path | None = None
) -> tuple[float, str]:
    """Load `path` with wrk; return requests/sec and any error lines."""
    rps, _, errors = wrk_stats(port, seconds, path, script)
    return rps, errors


def baseline_command(server: str, python: Path, app: str, port: int, workers: int) -> list[str]:
    """The command that serves the ASGI app `app` ("module:attr") under `server`."""
    p, w = str(port), str(workers)
    cmd = {
        "uvicorn": ["-m", "uvicorn", app, "--host", HOST, "--port", p, "--workers", w]
        + ["--no-access-log"],
        "gunicorn": ["-m", "gunicorn", app, "-w", w, "-k", "uvicorn_worker.UvicornWorker"]
        + ["-b", f"{HOST}:{p}"],
        "granian": ["-m", "granian", "--interface", "asgi", app, "--host", HOST, "--port", p]
        + ["--workers", w, "--no-access-log", "--blocking-threads", "1"],
    }[server]
    return [str(python), *cmd]


def install_project(project: Path, venv: Path, options: list[str]) -> Path:
    """Generate a project with `fastscaffold new PROJECT --yes OPTIONS`, install it into a new
    uv venv at `venv`, and return that venv's python."""
    uv = shutil.which("uv", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    if uv is None:
        raise RuntimeError("uv not found beside this python or on PATH")
    run([sys.executable, "-m", "fastscaffold", "new", str(project), "--yes", *options])
    run([uv, "venv", "-q", "--python", sys.executable, str(venv)])
    python = venv / "bin" / "python"
    run([uv, "pip", "install", "-q", "--python", str(python), "-e", str(project)])
    return python


def show_command(launch: Launch, workers: int, raw: list[str], label: str = "") -> None:
    """Record the server command the generated app runs (`python -m app --print`)."""
    cmd, cwd, env = launch(free_port(), workers)
    shown = subprocess.run([*cmd, "--print"], cwd=cwd, env=env, capture_output=True, text=True)
    raw.append(f"generated app command{label}: {shown.stdout.strip() or shown.stderr.strip()}")


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
