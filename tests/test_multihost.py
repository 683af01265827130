"""Tier 2: the generated deployment on several hosts, each a network namespace of its own.

The PostgreSQL variant with the task queue, rendered and installed once, runs as DEPLOY.md's
"More than one machine" section describes:

    lb      10.77.0.2    Debian's nginx with the generated deploy/nginx.conf (only the
                         upstream addresses substituted)
    app1    10.77.0.11   python -m app, 2 workers
    app2    10.77.0.12   python -m app, 2 workers
    db      10.77.0.20   PostgreSQL, max_connections just above the connection budget
    redis   10.77.0.30   the broker
    worker  10.77.0.40   python -m app.queue
    client  10.77.0.50   where the requests come from

Every request of these tests is sent from `client`; no packet leaves the namespaces. The
tests run in file order (the last one stops a host for good).
"""

import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fastscaffold import options
from fastscaffold.render import render
from tests import nginx, topology
from tests.generated import install, make_venv, run
from tests.topology import Topology

pytestmark = pytest.mark.tier2

HOSTS = {"lb": 2, "app1": 11, "app2": 12, "db": 20, "redis": 30, "worker": 40, "client": 50}
APPS = ("app1", "app2")
WORKERS = 2  # WEB_CONCURRENCY per app host
QUEUE_WORKERS = 1
POOL = 3  # DB_POOL_MAX
# The README's rule: (replicas x WEB_CONCURRENCY + queue processes) x DB_POOL_MAX.
BUDGET = (len(APPS) * WORKERS + QUEUE_WORKERS) * POOL
MAX_CONNECTIONS = BUDGET + 3  # PostgreSQL's superuser_reserved_connections on top
PORT = 8000
LOADGEN = Path(__file__).with_name("loadgen.py")
CALL = """
import json, sys, urllib.error, urllib.request
method, url, headers = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
request = urllib.request.Request(url, method=method, headers=headers)
try:
    with urllib.request.urlopen(request, timeout=30) as response:
        status, body = response.status, response.read()
except urllib.error.HTTPError as error:
    status, body = error.code, error.read()
print(json.dumps([status, json.loads(body) if body else None]))
"""


def postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if not found:
        pytest.fail("PostgreSQL binaries not found under /usr/lib/postgresql (apt: postgresql)")
    return found[-1].parent


@dataclass
class Cluster:
    """The running topology and what the tests read from it."""

    net: Topology
    python: Path
    logs: Path
    socket_dir: Path
    apps: dict[str, subprocess.Popen[bytes]]

    def url(self, host: str, path: str) -> str:
        port = 8080 if host == "lb" else PORT
        return f"http://{self.net.address(host)}:{port}{path}"

    def call(
        self, method: str, host: str, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """One request from `client` to `host`."""
        args = [sys.executable, "-c", CALL, method, self.url(host, path), json.dumps(headers or {})]
        done = self.net.run("client", args, timeout=60)
        assert done.returncode == 0, done.stderr
        status, body = json.loads(done.stdout)
        return int(status), body

    def load(self, path: str, seconds: float, concurrency: int) -> subprocess.Popen[str]:
        """Start GETs of `path` through the balancer from `client`; `results()` reads them."""
        args = [
            sys.executable, str(LOADGEN), self.url("lb", path),
            "--seconds", str(seconds), "--concurrency", str(concurrency),
        ]  # fmt: skip
        with (self.logs / "loadgen.log").open("a") as errors:  # its failed connections
            return subprocess.Popen(
                self.net.command("client", args), stdout=subprocess.PIPE, stderr=errors, text=True
            )

    def psql(self, sql: str) -> str:
        done = run(
            [str(postgres_bin() / "psql"), "-h", str(self.socket_dir), "-U", "postgres",
             "-d", "postgres", "-Atc", sql],
            cwd=self.logs,
        )  # fmt: skip
        return done.strip()

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def problems(self, name: str) -> str:
        """nginx's error-log lines in a log, in full (its access lines left out)."""
        level = re.compile(r"\[(emerg|alert|crit|error|warn|notice|info)\]")
        return "\n".join(line for line in self.log(name).splitlines() if level.search(line))

    def all_logs(self) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in
                         sorted(self.logs.glob("*.log")))  # fmt: skip


def results(proc: subprocess.Popen[str]) -> list[tuple[float, float, int, int | None]]:
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, out
    return [tuple(r) for r in json.loads(out)]  # type: ignore[misc]


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0


def wait(check: Any, what: str, cluster: Cluster, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}\n{cluster.all_logs()}"
        time.sleep(0.3)


def start_postgres(net: Topology, data: Path, sockets: Path, log: Path) -> None:
    bin_dir = postgres_bin()
    subprocess.run(
        ["runuser", "-u", "postgres", "--", str(bin_dir / "initdb"), "-D", str(data),
         "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True, capture_output=True,
    )  # fmt: skip
    with (data / "pg_hba.conf").open("a") as hba:
        hba.write(f"host all all {topology.SUBNET}.0/24 trust\n")
    net.start(
        "db",
        ["runuser", "-u", "postgres", "--", str(bin_dir / "postgres"), "-D", str(data),
         "-c", f"listen_addresses={net.address('db')}", "-c", "port=5432",
         "-c", f"max_connections={MAX_CONNECTIONS}", "-c", f"unix_socket_directories={sockets}",
         "-c", "fsync=off", "-c", "synchronous_commit=off"],
        {}, log,
    )  # fmt: skip


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    topology.require()
    nginx.binary()
    base = tmp_path_factory.mktemp("multihost")
    root = base / "svc"
    answers = {"database": "postgres", "task_queue": "taskiq", "deployment": ["docker", "compose"]}
    render(options.with_defaults(answers), root, overwrite=False)
    python = make_venv(base / "venv")
    install(python, str(root))
    logs = base / "logs"
    logs.mkdir()
    # PostgreSQL runs as its own user: its directories live outside pytest's (root-only) tree.
    pg_home = Path(tempfile.mkdtemp(prefix="fs-multihost-pg-"))
    data, sockets = pg_home / "data", pg_home / "sockets"
    sockets.mkdir()
    shutil.chown(pg_home, "postgres")
    shutil.chown(sockets, "postgres")
    # A SIGTERM (a CI timeout) still tears the topology down: as an interrupt, it unwinds.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    net = Topology(HOSTS)
    try:
        start_postgres(net, data, sockets, logs / "db.log")
        net.start(
            "redis",
            ["redis-server", "--bind", net.address("redis"), "--port", "6379", "--save", "",
             "--appendonly", "no", "--protected-mode", "no"],
            {}, logs / "redis.log",
        )  # fmt: skip
        psql = [str(postgres_bin() / "psql"), "-h", str(sockets), "-U", "postgres", "-d"]
        deadline = time.monotonic() + 30
        while subprocess.run([*psql, "postgres", "-c", "SELECT 1"], capture_output=True).returncode:
            assert time.monotonic() < deadline, (logs / "db.log").read_text()
            time.sleep(0.2)
        subprocess.run([*psql, "postgres", "-c", "CREATE DATABASE svc"], check=True)
        env = {
            "ENVIRONMENT": "production", "PROJECT_NAME": "svc", "PORT": str(PORT),
            "WEB_CONCURRENCY": str(WORKERS), "QUEUE_WORKERS": str(QUEUE_WORKERS),
            "DATABASE_URL": f"postgresql://postgres@{net.address('db')}:5432/svc",
            "DB_POOL_MAX": str(POOL), "MIGRATE_ON_START": "false",
            "REDIS_URL": f"redis://{net.address('redis')}:6379/0", "QUEUE_BROKER": "redis",
            "FORWARDED_ALLOW_IPS": net.address("lb"), "ACCESS_LOG": "true",
            "GRACEFUL_TIMEOUT": "5", "DRAIN_TIMEOUT": "2", "POOL_TIMEOUT": "1",
        }  # fmt: skip
        # Once, before the servers start, as a deploy step does (DEPLOY.md).
        migrated = net.run("worker", [str(python), "-m", "app.migrate"], env)
        assert migrated.returncode == 0, migrated.stderr
        apps = {}
        for host in APPS:
            home = base / host
            home.mkdir()
            host_env = {**env, "HOST": net.address(host)}
            apps[host] = net.start(
                host, [str(python), "-m", "app"], host_env, logs / f"{host}.log", home
            )
        (base / "worker").mkdir()
        net.start(
            "worker", [str(python), "-m", "app.queue"], env, logs / "worker.log", base / "worker"
        )
        prefix = base / "nginx"
        prefix.mkdir()
        conf = prefix / "nginx.conf"
        conf.write_text(
            nginx.with_upstreams(
                (root / "deploy" / "nginx.conf").read_text(),
                [f"{net.address(host)}:{PORT}" for host in APPS],
            )
        )
        net.start("lb", nginx.command(conf, prefix, foreground=True), {}, logs / "lb.log")
        cluster = Cluster(net, python, logs, sockets, apps)
        for host in (*APPS, "lb"):
            wait(lambda h=host: _ready(cluster, h), f"{host} never became ready", cluster)
        yield cluster
    finally:
        net.close()
        shutil.rmtree(pg_home, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _ready(cluster: Cluster, host: str) -> bool:
    try:
        return cluster.call("GET", host, "/health/ready")[0] == 200
    except (AssertionError, ValueError):
        return False


def test_requests_through_the_balancer_reach_both_hosts_and_all_four_workers(
    cluster: Cluster,
) -> None:
    done = results(cluster.load("/examples/sleep?seconds=0.01", seconds=3, concurrency=8))
    assert {status for _, _, status, _ in done} == {200}, cluster.all_logs()
    pids = {pid for _, _, _, pid in done}
    by_host = {host: pids & cluster.net.pids(host) for host in APPS}
    assert all(len(found) == WORKERS for found in by_host.values()), (by_host, pids)
    assert pids == set().union(*by_host.values())


def test_forwarded_for_is_believed_from_the_balancer_only(cluster: Cluster) -> None:
    client, forged = cluster.net.address("client"), "203.0.113.9"
    assert cluster.call("GET", "lb", "/health/live?via=lb")[0] == 200
    assert (
        cluster.call("GET", "app1", "/health/live?via=direct", {"X-Forwarded-For": forged})[0]
        == 200
    )
    lines = [line for host in APPS for line in cluster.log(host).splitlines()]
    via_lb = [line for line in lines if "/health/live?via=lb" in line]
    direct = [line for line in lines if "/health/live?via=direct" in line]
    assert len(via_lb) == 1 and len(direct) == 1, lines[-20:]
    # Through nginx, the app sees the client's own address, not the balancer's.
    assert f"{client}:" in via_lb[0] and cluster.net.address("lb") not in via_lb[0], via_lb
    # Directly, a forged header is not believed: the app sees who connected.
    assert forged not in direct[0] and f"{client}:" in direct[0], direct


def in_rotation(cluster: Cluster, host: str) -> None:
    """Wait until nginx sends requests to `host` again."""
    pids = cluster.net.pids(host)

    def answers() -> bool:
        status, body = cluster.call("GET", "lb", "/examples/sleep?seconds=0")
        return status == 200 and body["pid"] in pids

    wait(answers, f"nginx never sent to {host} again", cluster, timeout=40)


def test_the_connection_budget_holds_under_load_on_both_hosts(cluster: Cluster) -> None:
    query = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE backend_type = 'client backend' AND client_addr IS NOT NULL"
    )
    seconds = 4.0
    proc = cluster.load("/items?limit=50", seconds=seconds, concurrency=32)
    peak = 0
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        peak = max(peak, int(cluster.psql(query)))
        time.sleep(0.05)
    done = results(proc)
    assert {status for _, _, status, _ in done} == {200}, cluster.all_logs()
    print(f"\nconnections to PostgreSQL under load: peak {peak}, budget {BUDGET}, "
          f"max_connections {MAX_CONNECTIONS}")  # fmt: skip
    assert len(APPS) * WORKERS < peak <= BUDGET < MAX_CONNECTIONS


def test_a_job_enqueued_on_one_host_is_done_by_the_worker_and_read_on_the_other(
    cluster: Cluster,
) -> None:
    status, body = cluster.call("POST", "app1", "/jobs/primes?limit=1000")
    assert status == 202, body
    job: Any = None

    def done() -> bool:
        nonlocal job
        job = cluster.call("GET", "app2", f"/jobs/{body['job_id']}")[1]
        return bool(job["state"] != "pending")

    wait(done, "the job never finished", cluster, timeout=30)
    assert job["state"] == "done", job
    assert job["result"]["count"] == 168
    assert job["result"]["worker_pid"] in cluster.net.pids("worker")


def test_a_host_that_vanishes_is_failed_over_without_failed_gets(cluster: Cluster) -> None:
    in_rotation(cluster, "app1")
    seconds, cut_at = 8.0, 2.0
    proc = cluster.load("/examples/sleep?seconds=0.01", seconds=seconds, concurrency=8)
    time.sleep(cut_at)
    cluster.net.vanish("app1")
    try:
        done = results(proc)
    finally:
        cluster.net.restore("app1")
    before = [r for r in done if r[0] + r[1] < cut_at]
    after = [r for r in done if r[0] + r[1] >= cut_at]  # in flight at the cut, or later
    failed = [r for r in done if r[2] != 200]
    # nginx retries a request on the other host only while nothing of its answer has reached
    # nginx: a response the cut caught half sent (its header through, its body lost) ends in
    # a closed connection at the read timeout, as nginx documents for proxy_next_upstream.
    app1 = cluster.net.address("app1")
    cut_mid_response = [
        line for line in cluster.problems("lb").splitlines()
        if "upstream timed out" in line and "while reading upstream," in line and app1 in line
    ]  # fmt: skip
    print(
        f"\nhost vanished under load: {len(done)} requests, {len(failed)} failed "
        f"({len(cut_mid_response)} answers cut in the middle); "
        f"p99 before {p99([r[1] for r in before]) * 1000:.0f} ms ({len(before)} requests), "
        f"after {p99([r[1] for r in after]) * 1000:.0f} ms ({len(after)} requests), "
        f"slowest {max(r[1] for r in done):.1f} s"
    )
    # Every other GET is answered: those in flight on app1 again by app2, the rest by app2.
    half_sent = [r for r in failed if r[2] == 0 and r[0] < cut_at and 29 < r[1] < 32]
    assert failed == half_sent and len(half_sent) <= len(cut_mid_response), (
        f"{failed[:5]}\n== loadgen\n{cluster.log('loadgen')}\n== lb\n{cluster.problems('lb')}"
    )
    # Whatever was answered after the cut, app2 answered: nginx sent it there, or sent it
    # there again once the attempt on app1 timed out.
    app2 = cluster.net.pids("app2")
    late = cut_at + 0.5
    answered = [(start + took, pid) for start, took, status, pid in done if status == 200]
    answered_after = {pid for end, pid in answered if end > late}
    assert answered_after and answered_after <= app2, (answered_after, app2)
    # Back on the network, app1 is in nginx's rotation again within its fail_timeout.
    in_rotation(cluster, "app1")


def test_a_host_stopped_gracefully_under_load_fails_no_request(cluster: Cluster) -> None:
    in_rotation(cluster, "app1")  # whatever an earlier test left, both hosts take traffic
    proc = cluster.load("/examples/sleep?seconds=0.05", seconds=8, concurrency=8)
    time.sleep(2)
    stopping = cluster.apps["app2"]
    stopping.send_signal(signal.SIGTERM)
    assert stopping.wait(timeout=30) == 0, cluster.log("app2")
    done = results(proc)
    failed = [r for r in done if r[2] != 200]
    print(f"\nhost stopped under load: {len(done)} requests, {len(failed)} failed")
    assert failed == [], f"{failed[:5]}\n{cluster.all_logs()}"
    assert "lifespan shutdown complete" in cluster.log("app2")
