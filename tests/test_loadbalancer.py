"""Tier 2: the generated deploy/nginx.conf balances two real instances and hides a stopping one.

Debian's nginx runs the generated configuration with only its documented substitutions (the
upstream line and the listen port) in front of two `python -m app` instances, all on
loopback, each with its own process group that is killed on the way out. The instances'
UPSTREAM_URL is a loopback server that counts the calls it gets and fails each, so the
fan-out example answers a 502 or a 504 of the app's own.
"""

import http.client
import http.server
import json
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from fastscaffold import options
from fastscaffold.processes import free_port, wait_for
from fastscaffold.render import render
from tests import nginx
from tests.generated import (
    get_json,
    install,
    make_venv,
    run,
    server,
    server_log,
    wait_until_ready,
)

pytestmark = pytest.mark.tier2

BURST = 200
THREADS = 8
GRACEFUL_TIMEOUT = 5
FANOUT_TIMEOUT = 1.0
APP_ERRORS = 4  # more than the upstream's max_fails, were they counted as failures


@dataclass
class Installed:
    root: Path
    python: Path
    database_url: str


@dataclass
class Balanced:
    """Two app instances behind nginx: the base URL to call and the processes behind it."""

    url: str
    instances: list[subprocess.Popen[str]]
    ports: list[int]
    homes: list[Path]
    nginx_log: Path

    def logs(self) -> str:
        servers = "\n".join(server_log(home) for home in self.homes)
        return f"{servers}\nnginx:\n{self.nginx_log.read_text()}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The default project with compose deployment, installed (not editable) in a venv."""
    base = tmp_path_factory.mktemp("loadbalancer")
    root = base / "svc"
    render(options.with_defaults({"deployment": ["docker", "compose"]}), root, overwrite=False)
    python = make_venv(base / "venv")
    install(python, str(root))
    database_url = f"sqlite:///{base / 'app.db'}"
    # Once, before the instances start, as compose's `migrate` service does.
    run([str(python), "-m", "app.migrate"], cwd=base, env={"DATABASE_URL": database_url})
    return Installed(root, python, database_url)


class Failing(http.server.BaseHTTPRequestHandler):
    """Counts each GET, waits the `seconds` the fan-out passes on, then answers 503."""

    calls = 0
    lock = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            type(self).calls += 1
        time.sleep(float(parse_qs(urlsplit(self.path).query)["seconds"][0]))
        try:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
        except OSError:
            pass  # the app gave up first (its FANOUT_TIMEOUT) and closed the connection

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def failing_upstream() -> Iterator[tuple[str, type[Failing]]]:
    """The instances' UPSTREAM_URL: its URL and the handler that counts the calls."""
    handler = type("Counting", (Failing,), {"calls": 0, "lock": threading.Lock()})
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=upstream.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{upstream.server_address[1]}", handler
    finally:
        upstream.shutdown()
        upstream.server_close()


@pytest.fixture
def balanced(
    installed: Installed, tmp_path: Path, failing_upstream: tuple[str, type[Failing]]
) -> Iterator[Balanced]:
    ports = [free_port(), free_port()]
    env = {
        "WEB_CONCURRENCY": "1",
        # An instance stops accepting at once: nginx's own retry is what these tests prove
        # (STOP_DELAY would keep serving the burst to its end).
        "STOP_DELAY": "0",
        "GRACEFUL_TIMEOUT": str(GRACEFUL_TIMEOUT),
        "DATABASE_URL": installed.database_url,
        "MIGRATE_ON_START": "false",
        "FORWARDED_ALLOW_IPS": "127.0.0.1",  # nginx's address here
        "UPSTREAM_URL": failing_upstream[0],
        "FANOUT_TIMEOUT": str(FANOUT_TIMEOUT),
    }
    # Each instance runs in a directory of its own (its log goes beside it): the installed
    # package is what runs, as in the image.
    homes = [tmp_path / name / "home" for name in ("a", "b")]
    for home in homes:
        home.mkdir(parents=True)
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    listen = free_port()
    conf = prefix / "nginx.conf"
    generated = (installed.root / "deploy" / "nginx.conf").read_text()
    conf.write_text(nginx.on_loopback(generated, ports, listen))

    with (
        server(installed.python, homes[0], {**env, "PORT": str(ports[0])}) as first,
        server(installed.python, homes[1], {**env, "PORT": str(ports[1])}) as second,
    ):
        for home, proc, port in zip(homes, (first, second), ports, strict=True):
            wait_until_ready(f"http://127.0.0.1:{port}", proc, home)
        with nginx.running(conf, prefix) as proxy:
            url = f"http://127.0.0.1:{listen}"
            wait_for_proxy(url, proxy, prefix / "nginx.log")
            yield Balanced(url, [first, second], ports, homes, prefix / "nginx.log")


def wait_for_proxy(url: str, proxy: subprocess.Popen[str], log: Path, timeout: float = 10) -> None:
    if problem := wait_for(f"{url}/health/live", proxy, timeout, interval=0.05):
        raise AssertionError(f"nginx {problem}:\n{log.read_text()}")


def fetch(url: str) -> tuple[int, int | None]:
    """GET `url` on a new connection to nginx: the status and the `pid` that answered."""
    request = urllib.request.Request(url, headers={"Connection": "close"})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, int(json.loads(response.read())["pid"])
    except urllib.error.HTTPError as error:
        return error.code, None


def test_nginx_spreads_requests_over_both_instances(balanced: Balanced) -> None:
    url = f"{balanced.url}/examples/sleep?seconds=0"
    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(fetch, [url] * BURST))
    assert [status for status, _ in results] == [200] * BURST, balanced.logs()
    # With one worker each, `python -m app` has become the server itself: its pid answers.
    assert {pid for _, pid in results} == {proc.pid for proc in balanced.instances}


def test_idempotent_requests_survive_an_instance_stopping(balanced: Balanced) -> None:
    stopping, staying = balanced.instances
    url = f"{balanced.url}/examples/sleep?seconds=0.05"
    statuses: list[int] = []
    after_stop: set[int | None] = set()
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(fetch, url) for _ in range(BURST)]
        for done, future in enumerate(as_completed(futures), 1):
            status, pid = future.result()
            statuses.append(status)
            if done == BURST // 4:
                stopping.send_signal(signal.SIGTERM)  # mid-burst, with requests in flight
            elif done > 3 * BURST // 4:  # long after: any stop-time overlap has passed
                after_stop.add(pid)
    assert statuses == [200] * BURST, balanced.logs()
    # nginx did send requests to the stopped instance, failed there, and retried elsewhere...
    errors = [line for line in balanced.nginx_log.read_text().splitlines() if "[error]" in line]
    assert [line for line in errors if f"127.0.0.1:{balanced.ports[0]}" in line], balanced.logs()
    # ...then sent everything to the one still serving.
    assert after_stop == {staying.pid}
    # A lone uvicorn re-raises the SIGTERM it handled once it has shut down cleanly.
    assert stopping.wait(timeout=GRACEFUL_TIMEOUT + 5) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in server_log(balanced.homes[0]), balanced.logs()


@pytest.mark.parametrize(
    ("seconds", "status"),
    [(0, 502), (3 * FANOUT_TIMEOUT, 504)],
    ids=["upstream-failed-502", "upstream-too-slow-504"],
)
def test_app_errors_reach_the_client_once_and_keep_the_replica(
    balanced: Balanced,
    failing_upstream: tuple[str, type[Failing]],
    seconds: float,
    status: int,
) -> None:
    _, upstream = failing_upstream
    url = f"{balanced.url}/examples/fan-out?calls=1&seconds={seconds}"
    assert [fetch(url)[0] for _ in range(APP_ERRORS)] == [status] * APP_ERRORS, balanced.logs()
    # Each GET reached one instance, which called the upstream once: nginx retried none.
    assert upstream.calls == APP_ERRORS, balanced.logs()
    # Both replicas are still in rotation right after the app's own errors.
    answered = [fetch(f"{balanced.url}/examples/sleep?seconds=0") for _ in range(10)]
    assert {s for s, _ in answered} == {200}, balanced.logs()
    assert {pid for _, pid in answered} == {proc.pid for proc in balanced.instances}
    assert get_json(f"{balanced.url}/health/live")[0] == 200, balanced.logs()


def test_redirects_keep_the_port_nginx_was_reached_on(balanced: Balanced) -> None:
    netloc = urlsplit(balanced.url).netloc
    connection = http.client.HTTPConnection(netloc, timeout=10)
    try:
        connection.request("GET", "/items/")  # http.client sends `Host: 127.0.0.1:PORT`
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    assert response.status in (307, 308), balanced.logs()
    assert response.getheader("Location") == f"http://{netloc}/items"
