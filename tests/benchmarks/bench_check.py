"""Benchmark `fastscaffold check` on the default project with a warm package cache and uv.

Two rows, measured in one run after a warm-up check that fills uv's and mypy's caches:

- `check --skip tests` (answers, install into a new venv, lint, types, boot, stop): the
  time check itself costs, against the target of 12 s.
- the `tests` step, against the project's own suite run by hand (`pytest -q` in the same
  venv): check may add at most a tenth to it.
- the whole `check`, against 12 s, with its floor beside it: the CPU time the whole check
  used (user + system, the project's suite and its server processes included) shared by this
  machine's CPUs. No run of the same work finishes sooner than that, however parallel.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import Row, log, print_table, run

ABSOLUTE = 12.0  # seconds, check without the project's own tests
OVER_SUITE = 1.10  # the tests step against the suite run by hand


def check(project: Path, *args: str) -> tuple[float, dict[str, float], float]:
    """Run `fastscaffold check --json` on `project`; return the wall time, step times and the
    CPU seconds it and its children used."""
    before = children_cpu()
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "fastscaffold", "check", str(project), "--json", *args],
        capture_output=True, text=True, env=_env(),
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    used = children_cpu() - before
    if result.returncode != 0:
        raise RuntimeError(f"check failed:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}")
    steps = {s["name"]: s["duration"] for s in json.loads(result.stdout)["steps"]}
    return elapsed, steps, used


def children_cpu() -> float:
    """CPU seconds (user + system) of every child process waited for so far, theirs included."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _env() -> dict[str, str]:
    # As a user's shell has it: bytecode may be written.
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def main() -> int:
    """Warm up, then measure both rows and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="measured runs of each (median)")
    args = parser.parse_args()
    raw: list[str] = []
    with tempfile.TemporaryDirectory(prefix="fastscaffold-bench-check-") as name:
        tmp = Path(name)
        project = tmp / "svc"
        run([sys.executable, "-m", "fastscaffold", "new", str(project), "--yes"])
        log("warm-up: a whole check (fills uv's and mypy's caches)")
        check(project)
        alone, steps = [], []
        for i in range(args.runs):
            log(f"check --skip tests, run {i + 1}/{args.runs}")
            alone.append(check(project, "--skip", "tests")[0])
        venv = tmp / "venv"
        check(project, "--venv", str(venv), "--only", "answers", "--only", "install")
        python = venv / "bin" / "python"
        suite, cpu = [], []
        for i in range(args.runs):
            log(f"the tests step and the suite by hand, run {i + 1}/{args.runs}")
            steps.append(check(project, "--venv", str(venv), "--only", "tests")[1]["tests"])
            cmd = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
            before = children_cpu()
            suite.append(run(cmd, cwd=project, env=_env()))
            cpu.append(children_cpu() - before)
        whole, whole_cpu = [], []
        for i in range(args.runs):
            log(f"the whole check, run {i + 1}/{args.runs}")
            wall, _, used = check(project)
            whole.append(wall)
            whole_cpu.append(used)
    raw.append("check --skip tests, s: " + " ".join(f"{v:.2f}" for v in alone))
    raw.append("tests step, s: " + " ".join(f"{v:.2f}" for v in steps))
    raw.append("pytest by hand, s: " + " ".join(f"{v:.2f}" for v in suite))
    raw.append("pytest by hand, CPU s: " + " ".join(f"{v:.2f}" for v in cpu))
    raw.append("whole check, s: " + " ".join(f"{v:.2f}" for v in whole))
    raw.append("whole check, CPU s: " + " ".join(f"{v:.2f}" for v in whole_cpu))
    median = statistics.median
    floor = median(whole_cpu) / (os.cpu_count() or 1)
    rows = [
        Row("check --skip tests, s", median(alone), ABSOLUTE, f"< {ABSOLUTE:g} s",
            median(alone) < ABSOLUTE),
        Row("tests step vs pytest by hand, s", median(steps), median(suite),
            f"<= {OVER_SUITE}", median(steps) / median(suite) <= OVER_SUITE),
        Row("whole check vs its CPU floor, s", median(whole), floor,
            f"< {ABSOLUTE:g} s", median(whole) < ABSOLUTE),
    ]  # fmt: skip
    print_table(
        rows, raw, f"python={sys.version.split()[0]} cpus={os.cpu_count()} runs={args.runs}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
