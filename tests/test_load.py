"""The load generators (fastscaffold.load) against a real HTTP/1.1 server in a subprocess:
statuses and failures counted, bodies delivered, every way a response may end read."""

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator

import pytest

from fastscaffold import load, processes

# A keep-alive server that counts the POST bodies it got and how many arrived intact.
SERVER = r"""
import http.server, json, sys, threading, time

BODY = bytes.fromhex(sys.argv[1])
lock = threading.Lock()
posts = {"posts": 0, "intact": 0}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body, **headers):
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        if "Transfer_Encoding" not in headers and status != 202:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/ok?limit=1":
            self.answer(200, b'{"ok": true}', Content_Type="application/json")
        elif self.path == "/fail":
            self.answer(500, b"no")
        elif self.path == "/chunked":
            chunks = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(c), c) for c in (b"ab", b"c" * 300))
            self.answer(200, chunks + b"0\r\nX-Trailer: 1\r\n\r\n", Transfer_Encoding="chunked")
        elif self.path == "/close":
            self.answer(201, b"bye", Connection="close")
            self.close_connection = True
        elif self.path == "/eof":  # no length: the body ends with the connection
            self.answer(202, b"until the end", Connection="close")
            self.close_connection = True
        elif self.path == "/slow":
            time.sleep(0.5)
            self.answer(200, b"late")
        elif self.path == "/posts":
            with lock:
                self.answer(200, json.dumps(posts).encode())
        else:
            self.answer(404, b"")

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with lock:
            posts["posts"] += 1
            posts["intact"] += body == BODY
        self.answer(200, json.dumps({"length": len(body)}).encode())


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client gone at its end
            super().handle_error(request, client_address)


server = Server(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""

# Quotes, backslashes, a Lua long bracket, a NUL, newlines and non-ASCII: escaping must hold.
BODY = b'{"a": "x\\"y", "b": "]]\\n\0"}\r\n\xff\xfe' + "é".encode()


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    script = tmp_path_factory.mktemp("server") / "server.py"
    script.write_text(SERVER)
    with subprocess.Popen(
        [sys.executable, str(script), BODY.hex()], stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}"
        proc.kill()


@pytest.fixture(params=["builtin", "wrk"])
def generator(request: pytest.FixtureRequest) -> load.Generator:
    if request.param == "wrk" and shutil.which("wrk") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("wrk is not on PATH, and CI must test it")
        pytest.skip("wrk is not on PATH")
    return load.choose(request.param)


def posts(base: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{base}/posts", timeout=10) as response:
        answer: dict[str, int] = json.load(response)
    return answer


def test_mix_counts_statuses_and_delivers_bodies(base: str, generator: load.Generator) -> None:
    before = posts(base)
    targets = [
        load.Target("GET", f"{base}/ok?limit=1", {"Accept": "application/json"}),
        load.Target("GET", f"{base}/fail"),
        load.Target("POST", f"{base}/echo", {"Content-Type": "application/json"}, BODY),
    ]
    found = generator.run(targets, clients=4, seconds=1)
    assert found.requests > 30
    assert sum(found.statuses.values()) == found.requests
    assert set(found.statuses) == {200, 500}
    assert found.failures == 0
    assert found.errors == found.statuses[500] > 0
    assert 0 < found.p50_ms <= found.p99_ms
    assert 0.9 < found.seconds < 2
    assert found.per_second == found.requests / found.seconds
    after = posts(base)
    sent = after["posts"] - before["posts"]
    assert sent > 0
    assert after["intact"] - before["intact"] == sent


def test_chunked_close_and_eof_bodies_are_read(base: str, generator: load.Generator) -> None:
    paths = ["/chunked", "/close", "/eof"]
    found = generator.run([load.Target("GET", base + p) for p in paths], clients=2, seconds=1)
    # wrk reads such a body right but also counts a read error for the end of the connection.
    assert found.failures == (found.statuses[202] if generator.name == "wrk" else 0)
    assert found.statuses.keys() == {200, 201, 202}
    assert min(found.statuses.values()) > 10
    assert 0 < found.p50_ms <= found.p99_ms


def test_nobody_listening_is_failures_not_an_exception(generator: load.Generator) -> None:
    url = f"http://127.0.0.1:{processes.free_port()}/"
    found = generator.run([load.Target("GET", url)], clients=2, seconds=0.5)
    assert found.failures > 0
    assert (found.requests, found.statuses, found.p50_ms, found.p99_ms) == (0, {}, 0.0, 0.0)


def test_a_slow_answer_is_a_timeout(base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load, "REQUEST_TIMEOUT", 0.2)  # wrk's --timeout takes whole seconds
    found = load.choose("builtin").run([load.Target("GET", f"{base}/slow")], 1, seconds=0.5)
    assert found.requests == 0
    assert found.failures >= 1


def test_choose(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError):
        load.choose("nope")
    assert load.choose("builtin").version.startswith("python 3.")
    if shutil.which("wrk"):
        assert load.choose("auto").name == "wrk"
        assert load.choose("wrk").version[0].isdigit()
    monkeypatch.setenv("PATH", "")
    assert load.choose().name == "builtin"
    with pytest.raises(load.LoadError) as raised:
        load.choose("wrk")
    assert str(raised.value) == (
        "wrk is not on PATH; install it (apt-get install wrk) or use --load-generator builtin"
    )


def test_targets_must_share_a_host() -> None:
    targets = [load.Target("GET", "http://127.0.0.1:1/"), load.Target("GET", "http://[::1]:1/")]
    with pytest.raises(ValueError, match="one scheme and host"):
        load.choose("builtin").run(targets, clients=1, seconds=0.1)


def test_target_headers_are_a_read_only_copy() -> None:
    headers = {"A": "1"}
    target = load.Target("GET", "http://127.0.0.1:1/", headers)
    headers["A"] = "2"
    assert target.headers == {"A": "1"}
    assert hash(target) == hash(load.Target("GET", "http://127.0.0.1:1/", {"B": "2"}))
