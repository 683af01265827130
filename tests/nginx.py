"""Debian's nginx for tests: find it, point a generated config at loopback, run it."""

import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# The lines deploy/nginx.conf documents as the ones a deployer substitutes.
UPSTREAM = re.compile(r"^(\s*)server app:8000( [^;]*)?;$", re.MULTILINE)
LISTEN = re.compile(r"^(\s*)listen 8080;$", re.MULTILINE)


def binary() -> str:
    """The nginx executable; fail in CI without one, else skip saying how to get it."""
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    reason = "nginx not found on PATH or at /usr/sbin/nginx: apt-get install nginx"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: nginx tests must not skip)")
    pytest.skip(reason)


def with_upstreams(conf: str, servers: list[str]) -> str:
    """`conf` with its upstream line repeated for each `ADDRESS:PORT` in `servers`.

    As the file documents for fixed addresses, the repeated lines drop `resolve`: there is
    no name to re-resolve, and Debian's nginx (1.22) predates `resolve` on upstream servers.
    """
    (upstream,) = UPSTREAM.finditer(conf)  # exactly one, or the documented line changed
    indent = upstream.group(1)
    params = "".join(f" {p}" for p in (upstream.group(2) or "").split() if p != "resolve")
    lines = "\n".join(f"{indent}server {server}{params};" for server in servers)
    return UPSTREAM.sub(lines, conf, count=1)


def on_loopback(conf: str, servers: list[int], listen: int) -> str:
    """`conf` balancing the loopback ports `servers`, listening on loopback port `listen`."""
    conf = with_upstreams(conf, [f"127.0.0.1:{port}" for port in servers])
    conf, listens = LISTEN.subn(rf"\g<1>listen 127.0.0.1:{listen};", conf)
    assert listens == 1, "deploy/nginx.conf should have exactly one `listen 8080;` line"
    return conf


def command(conf: Path, prefix: Path, *args: str, foreground: bool = False) -> list[str]:
    """nginx with its own prefix, pid file and start-up error log, reading `conf`."""
    directives = f"pid {prefix / 'nginx.pid'};" + (" daemon off;" if foreground else "")
    return [binary(), "-p", str(prefix), "-c", str(conf), "-e", "stderr", "-g", directives, *args]


def check(conf: Path, prefix: Path) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on `conf`."""
    return subprocess.run(command(conf, prefix, "-t"), capture_output=True, text=True)


@contextmanager
def running(conf: Path, prefix: Path) -> Iterator[subprocess.Popen[str]]:
    """nginx in the foreground, its output in `prefix/nginx.log`; its process group is
    stopped on the way out, killed if it lingers."""
    args = command(conf, prefix, foreground=True)
    with (prefix / "nginx.log").open("w") as log:
        proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGQUIT)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
