"""A small HTTP load generator for the multi-host tests, run inside the client's namespace.

    python tests/loadgen.py URL --seconds S --concurrency C

Each of C threads sends GETs to URL on its own keep-alive connection for S seconds (a request
under way when the time is up still finishes). It prints one JSON list: per request, the
start (seconds since the run began), the latency, the status (0: the connection failed) and
the `pid` of a JSON answer that has one. Each failed connection is also described on stderr.
"""

import argparse
import http.client
import json
import sys
import threading
import time
from urllib.parse import urlsplit

Result = tuple[float, float, int, int | None]


def worker(url: str, until: float, began: float, results: list[Result]) -> None:
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    conn = http.client.HTTPConnection(parts.netloc, timeout=120)
    while (start := time.monotonic()) < until:
        try:
            conn.request("GET", target)
            response = conn.getresponse()
            body = response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as error:
            status, body = 0, b""
            took = time.monotonic() - start
            print(f"at {start - began:.3f} s, after {took:.3f} s: {error!r}", file=sys.stderr)
            conn.close()
            conn = http.client.HTTPConnection(parts.netloc, timeout=120)
        pid = None
        if status == 200:
            try:
                answer = json.loads(body)
                pid = answer.get("pid") if isinstance(answer, dict) else None
            except ValueError:
                pass
        results.append((start - began, time.monotonic() - start, status, pid))
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    began = time.monotonic()
    results: list[list[Result]] = [[] for _ in range(args.concurrency)]
    threads = [
        threading.Thread(target=worker, args=(args.url, began + args.seconds, began, out))
        for out in results
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps(sorted(r for out in results for r in out)))


if __name__ == "__main__":
    main()
