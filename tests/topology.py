"""Several hosts on one machine: Linux network namespaces on one bridge, for the tests that
need separate addresses (a proxy's, a client's, hosts that vanish).

Each host is a namespace with one interface, `eth0`, at 10.77.0.N/24; the other end of its
veth pair sits on a bridge inside a namespace of its own (the switch), so no packet of the
topology ever reaches the machine's own namespace. Taking a host's switch port down makes it
vanish as a powered-off machine does: no FIN, no RST, nothing answers. Every namespace and
every process started in one is removed on `close()`, whatever happened before.
"""

import contextlib
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import pytest

SUBNET = "10.77.0"


def unavailable() -> str | None:
    """Why namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"fsprobe-{uuid.uuid4().hex[:6]}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip() or made.returncode}"
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True)
    return None


def require() -> None:
    """Skip, saying why, where namespaces cannot be made; fail instead under CI=true."""
    if (reason := unavailable()) is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: the multi-host tests must not skip)")
        pytest.skip(reason)


def sweep() -> None:
    """Remove what a test process killed outright (SIGKILL: no clean-up ran) left behind:
    namespaces named after a process that no longer exists, and what runs in them."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for name in (line.split()[0] for line in listed.splitlines() if line.strip()):
        owner = re.fullmatch(r"fs(\d+)-[a-z0-9]+", name)
        if owner is None or Path(f"/proc/{owner.group(1)}").exists():
            continue
        _remove(name)


def _remove(namespace: str) -> None:
    """Kill whatever runs in `namespace`, then delete it."""
    for pid in Topology.pids_of(namespace):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    subprocess.run(["ip", "netns", "delete", namespace], capture_output=True)


def _signal_group(proc: "subprocess.Popen[bytes]", sig: int) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class Topology:
    """Hosts by name, each at `address(name)`; `close()` removes everything."""

    def __init__(self, hosts: Mapping[str, int]) -> None:
        self.tag = str(os.getpid())  # names say whose they are: see `sweep`
        self.hosts = dict(hosts)
        self._made: list[str] = []
        self._procs: list[subprocess.Popen[bytes]] = []
        sweep()
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def namespace(self, host: str) -> str:
        return f"fs{self.tag}-{host}"

    def address(self, host: str) -> str:
        return f"{SUBNET}.{self.hosts[host]}"

    def _port(self, host: str) -> str:
        return f"p{self.hosts[host]}-{self.tag}"[:15]  # IFNAMSIZ; unique within the switch

    def _build(self) -> None:
        switch = self.namespace("switch")
        _ip("netns", "add", switch)
        self._made.append(switch)
        _ip("-n", switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", switch, "link", "set", "br0", "up")
        for host in self.hosts:
            ns = self.namespace(host)
            _ip("netns", "add", ns)
            self._made.append(ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            port = self._port(host)
            _ip("link", "add", port, "netns", switch, "type", "veth", "peer", "eth0", "netns", ns)
            _ip("-n", switch, "link", "set", port, "master", "br0", "up")
            _ip("-n", ns, "addr", "add", f"{self.address(host)}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")

    def command(self, host: str, args: list[str]) -> list[str]:
        """`args` run inside `host`."""
        return ["ip", "netns", "exec", self.namespace(host), *args]

    def run(
        self, host: str, args: list[str], env: Mapping[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(host, args),
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(
        self, host: str, args: list[str], env: Mapping[str, str], log: Path, cwd: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """`args` inside `host` in a process group of its own, output to `log`."""
        with log.open("ab") as out:
            proc = subprocess.Popen(
                self.command(host, args),
                env={**os.environ, **env},
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._procs.append(proc)
        return proc

    def pids(self, host: str) -> set[int]:
        """The processes running inside `host`."""
        return self.pids_of(self.namespace(host))

    def vanish(self, host: str) -> None:
        """Cut `host` off the switch: its packets are dropped, nobody is told."""
        _ip("-n", self.namespace("switch"), "link", "set", self._port(host), "down")

    def restore(self, host: str) -> None:
        _ip("-n", self.namespace("switch"), "link", "set", self._port(host), "up")

    def close(self) -> None:
        """Stop every process started here (their groups), kill anything left in the
        namespaces, and delete them."""
        for proc in self._procs:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for ns in reversed(self._made):
            _remove(ns)
        for proc in self._procs:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
        self._made.clear()

    @staticmethod
    def pids_of(namespace: str) -> set[int]:
        found = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True)
        return {int(pid) for pid in found.stdout.split()}
