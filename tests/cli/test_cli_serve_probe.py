"""``peak-dryrun serve``: probe semantics of ``/health`` and bounded connections (issue 12).

Real sockets on 127.0.0.1 only, under the plugin's NO-LIVE guard (which must see no attempt).
"""

from __future__ import annotations

import http.client
import json
import select
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_peak_dryrun.console.serve import WORKERS, health_status_code, make_server
from pytest_peak_dryrun.core.snapshot_dir import begin_session, inspect_snapshot_dir

HOST = "127.0.0.1"
MakeSnapshot = Callable[..., Path]


class Served:
    def __init__(self, directory: Path, **kwargs: Any) -> None:
        self.server = make_server(directory, HOST, 0, quiet=True, **kwargs)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def request(self, method: str, path: str) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=10)
        try:
            conn.request(method, path)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def health_once_free(self) -> int:
        """``GET /health`` once the pool has noticed that the idle clients left (a moment)."""
        deadline = time.monotonic() + 5
        while True:
            try:
                return self.request("GET", "/health")[0]
            except (http.client.RemoteDisconnected, ConnectionResetError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def serve(dryrun_network_guard: Any) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(directory: Path, **kwargs: Any) -> Served:
        started.append(Served(directory, **kwargs))
        return started[-1]

    yield start
    for served in started:
        served.stop()
    assert dryrun_network_guard.attempts == []


@pytest.mark.parametrize(
    ("names", "problems", "session_status", "code"),
    [
        (["happy_path"], [], "ok", 200),
        (["failure_matrix", "happy_path"], [], "degraded", 200),
        (["happy_path", "tripwire"], [], "failed", 503),
        (["happy_path"], ["xdist worker gw1 crashed: boom"], "failed", 503),
    ],
    ids=["ok", "degraded", "failed", "incomplete"],
)
def test_health_status_code_follows_the_session(
    tmp_path: Path,
    make_snapshot: MakeSnapshot,
    serve: Callable[..., Served],
    names: list[str],
    problems: list[str],
    session_status: str,
    code: int,
) -> None:
    out = make_snapshot(tmp_path / "snap", names, problems=problems)
    served = serve(out)
    status, body = served.request("GET", "/health")
    assert status == code
    assert body == (out / "dryrun_health_snapshot.json").read_bytes()  # the body is unchanged
    assert json.loads(body)["session"]["status"] == session_status
    assert served.request("HEAD", "/health")[0] == code
    assert served.request("GET", "/status")[0] == 200  # only /health is a probe


def test_health_is_503_while_the_index_says_in_progress(
    tmp_path: Path, make_snapshot: MakeSnapshot, serve: Callable[..., Served]
) -> None:
    out = make_snapshot(tmp_path / "snap", ["happy_path"])
    health = (out / "dryrun_health_snapshot.json").read_bytes()
    served = serve(out)
    assert served.request("GET", "/health")[0] == 200
    begin_session(inspect_snapshot_dir(out))  # a new session started (and perhaps was killed)
    status, body = served.request("GET", "/health")
    assert status == 503
    assert "does not exist" in json.loads(body)["error"]
    (out / "dryrun_health_snapshot.json").write_bytes(health)  # an old health file must not pass either
    status, body = served.request("GET", "/health")
    assert status == 503
    assert body == health


@pytest.mark.parametrize(
    ("health", "index"),
    [
        ({"session": {"status": "ok", "complete": True}}, None),
        ({"session": {"status": "ok", "complete": True}}, {"complete": False}),
        ({"session": {"status": "ok", "complete": False}}, {"complete": True}),
        ({"session": {"status": "weird", "complete": True}}, {"complete": True}),
        ({"session": "ok"}, {"complete": True}),
        ([], {"complete": True}),
    ],
)
def test_anything_not_understood_is_503(health: Any, index: Any) -> None:
    assert health_status_code(health, index) == 503


def _threads_named(prefix: str) -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith(prefix))


def test_500_idle_connections_hold_a_few_threads_not_500(snapshot_healthy: Path, serve: Callable[..., Served]) -> None:
    before = set(threading.enumerate())  # which threads, not how many: others may be ending
    served = serve(snapshot_healthy)
    idle = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(500)]
    try:
        for sock in idle:  # all at once: a SYN the backlog drops is retried in parallel, not in turn
            sock.setblocking(False)
            sock.connect_ex((HOST, served.port))
        pending = list(idle)
        deadline = time.monotonic() + 20
        while pending and time.monotonic() < deadline:
            _, writable, _ = select.select([], pending, [], 0.5)
            pending = [sock for sock in pending if sock not in writable]
        assert not pending
        assert all(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 for sock in idle)
        most = 0
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:  # while the server accepts (and refuses) what it will
            most = max(most, len(set(threading.enumerate()) - before))
            time.sleep(0.02)
        assert most <= WORKERS + 1, f"{most} new threads for 500 idle connections"
        assert _threads_named("peak-dryrun-serve") <= WORKERS
    finally:
        for sock in idle:
            sock.close()
    assert served.health_once_free() == 200  # the idle clients left: the pool serves again


def test_a_silent_connection_is_closed_after_the_timeout(snapshot_healthy: Path, serve: Callable[..., Served]) -> None:
    served = serve(snapshot_healthy, timeout=0.3)
    with socket.create_connection((HOST, served.port), timeout=10) as sock:
        started = time.monotonic()
        assert sock.recv(1) == b""  # the server hung up; it did not wait forever
        assert time.monotonic() - started < 5
    assert served.request("GET", "/health")[0] == 200


def test_a_full_waiting_room_refuses_at_once(snapshot_healthy: Path, serve: Callable[..., Served]) -> None:
    served = serve(snapshot_healthy, workers=1, max_pending=1, timeout=30)
    busy = [socket.create_connection((HOST, served.port), timeout=10) for _ in range(2)]
    try:
        time.sleep(0.2)
        with socket.create_connection((HOST, served.port), timeout=10) as third:
            assert third.recv(1) == b""  # closed at once, not after 30 s
    finally:
        for sock in busy:
            sock.close()
    assert served.health_once_free() == 200


def test_the_pool_is_released_when_the_server_closes(snapshot_healthy: Path, tmp_path: Path) -> None:
    copy = tmp_path / "snap"
    shutil.copytree(snapshot_healthy, copy)
    served = Served(copy)
    assert served.request("GET", "/health")[0] == 200
    served.stop()
    deadline = time.monotonic() + 5
    while _threads_named("peak-dryrun-serve") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _threads_named("peak-dryrun-serve") == 0
