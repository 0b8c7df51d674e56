"""``peak-dryrun serve``: a real HTTP client against 127.0.0.1 only.

Every test here runs under the plugin's NO-LIVE network guard (the
``dryrun_network_guard`` fixture), which refuses any non-loopback connect; each test also
checks that the guard saw no attempt at all.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_peak_dryrun.console.serve import (
    JSON_CONTENT_TYPE,
    PROMETHEUS_CONTENT_TYPE,
    RemoteBindError,
    is_loopback,
    make_server,
)

HOST = "127.0.0.1"
Tree = Callable[[Path], dict[str, tuple[int, int, str]]]
Cli = Callable[..., tuple[int, str, str]]
Request = Callable[..., tuple[int, dict[str, str], bytes]]


class Running:
    def __init__(self, directory: Path) -> None:
        self.server = make_server(directory, HOST, 0, quiet=True)
        assert self.server.server_address[0] == HOST
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, name="peak-dryrun-serve-test", daemon=True
        )
        self.thread.start()

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=10)
        try:
            conn.request(method, path, body=body)
            response = conn.getresponse()
            data = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            conn.close()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def guard(dryrun_network_guard: Any) -> Iterator[Any]:
    yield dryrun_network_guard
    assert dryrun_network_guard.attempts == []


@pytest.fixture
def served(snapshot_all: Path, guard: Any) -> Iterator[Running]:
    running = Running(snapshot_all)
    yield running
    running.stop()


@pytest.mark.parametrize(
    ("route", "name"), [("/health", "dryrun_health_snapshot.json"), ("/status", "dryrun_status_snapshot.json")]
)
def test_json_routes(served: Running, snapshot_all: Path, route: str, name: str) -> None:
    status, headers, body = served.request("GET", route)
    assert status == (503 if route == "/health" else 200)  # snapshot_all holds a failed run
    assert headers["content-type"] == JSON_CONTENT_TYPE == "application/json; charset=utf-8"
    assert json.loads(body) == json.loads((snapshot_all / name).read_text(encoding="utf-8"))
    assert body == (snapshot_all / name).read_bytes()
    assert int(headers["content-length"]) == len(body)
    assert headers["cache-control"] == "no-store"
    assert headers["server"] == "peak-dryrun"


def test_health_body(served: Running) -> None:
    _, _, body = served.request("GET", "/health")
    data = json.loads(body)
    assert data["schema"] == "peak-dryrun/health-session/v1"
    assert data["session"]["status"] == "failed"
    assert data["runs"]["tripwire"]["orchestrator_state"] == "ERROR_REQUIRES_OPERATOR"


def test_metrics_route(served: Running, snapshot_all: Path) -> None:
    status, headers, body = served.request("GET", "/metrics")
    assert status == 200
    assert headers["content-type"] == PROMETHEUS_CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"
    assert body == (snapshot_all / "dryrun_metrics.prom").read_bytes()
    assert b'safety_rail_trips_total{rail="max_order_qty",run="tripwire"} 1.0' in body


def test_query_string_is_ignored(served: Running) -> None:
    assert served.request("GET", "/status?verbose=1")[0] == 200
    assert served.request("GET", "/health?verbose=1")[:3:2] == served.request("GET", "/health")[:3:2]


def test_head(served: Running, snapshot_all: Path) -> None:
    status, headers, body = served.request("HEAD", "/metrics")
    assert status == 200
    assert body == b""
    assert int(headers["content-length"]) == (snapshot_all / "dryrun_metrics.prom").stat().st_size


@pytest.mark.parametrize("path", ["/", "/nope", "/health/", "/health/x", "/index.json", "/../index.json"])
def test_unknown_paths_are_404(served: Running, path: str) -> None:
    status, headers, body = served.request("GET", path)
    assert status == 404
    assert headers["content-type"] == JSON_CONTENT_TYPE
    assert json.loads(body)["status"] == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "BREW"])
@pytest.mark.parametrize("path", ["/health", "/metrics", "/nope"])
def test_other_methods_are_405(served: Running, method: str, path: str) -> None:
    status, headers, body = served.request(method, path, body=b'{"kill": true}' if method != "TRACE" else None)
    assert status == 405
    assert headers["allow"] == "GET, HEAD"
    assert "read-only" in json.loads(body)["error"]


def test_serves_what_is_on_disk_at_request_time(snapshot_all: Path, tmp_path: Path, guard: Any) -> None:
    directory = tmp_path / "snap"
    shutil.copytree(snapshot_all, directory)
    running = Running(directory)
    try:
        assert json.loads(running.request("GET", "/status")[2])["session"]["runs"] == 4
        (directory / "dryrun_status_snapshot.json").write_text('{"replaced": true}\n')
        assert json.loads(running.request("GET", "/status")[2]) == {"replaced": True}
        (directory / "dryrun_metrics.prom").unlink()
        status, _, body = running.request("GET", "/metrics")
        assert status == 503
        assert "dryrun_metrics.prom does not exist" in json.loads(body)["error"]
        (directory / "dryrun_health_snapshot.json").write_text("{half")
        assert running.request("GET", "/health")[0] == 503
    finally:
        running.stop()


def test_server_never_writes_and_starts_no_thread(snapshot_all: Path, tree: Tree, guard: Any) -> None:
    before = tree(snapshot_all)
    # Threads of earlier tests may still be ending: compare which threads exist, not how many.
    threads = set(threading.enumerate())
    server = make_server(snapshot_all, HOST, 0, quiet=True)
    try:
        assert set(threading.enumerate()) - threads == set()  # no poller, no watcher
    finally:
        server.server_close()
    running = Running(snapshot_all)
    try:
        for path in ("/health", "/status", "/metrics", "/nope"):
            running.request("GET", path)
        running.request("POST", "/health", b"x")
        running.request("DELETE", "/status")
    finally:
        running.stop()
    assert tree(snapshot_all) == before


def test_default_bind_is_loopback(snapshot_all: Path, guard: Any) -> None:
    server = make_server(snapshot_all, port=0, quiet=True)
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.server_close()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.invalid", "10.0.0.1"])
def test_non_loopback_host_is_refused(snapshot_all: Path, host: str) -> None:
    with pytest.raises(RemoteBindError, match=r"not a loopback address.*--allow-remote"):
        make_server(snapshot_all, host, 0)


def test_cli_refuses_non_loopback_host(cli: Cli, snapshot_all: Path) -> None:
    rc, out, err = cli("serve", snapshot_all, "--host", "0.0.0.0", "--port", "0")
    assert rc == 2
    assert out == ""
    assert err.startswith("peak-dryrun serve: error: refusing to bind 0.0.0.0: not a loopback address.")
    assert "no authentication" in err
    assert "--allow-remote" in err
    assert err.count("\n") == 1


def test_cli_serve_usage_errors(cli: Cli, tmp_path: Path) -> None:
    rc, _, err = cli("serve", tmp_path / "nope")
    assert rc == 2
    assert err == f"peak-dryrun serve: error: {tmp_path / 'nope'}: no such directory\n"
    rc, _, err = cli("serve", tmp_path)
    assert rc == 2
    assert "not a snapshot directory" in err
    rc, _, err = cli("serve", tmp_path, "--port", "http")
    assert rc == 2


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.1.2.3", False),
        ("my-host", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_cli_serve_end_to_end(snapshot_healthy: Path, guard: Any) -> None:
    """``python -m pytest_peak_dryrun serve DIR --port 0``: announce, serve, stop on SIGTERM."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest_peak_dryrun", "serve", str(snapshot_healthy), "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stderr is not None
        banner = proc.stderr.readline()
        match = re.search(r"on http://127\.0\.0\.1:(\d+) \(read-only", banner)
        assert match, banner
        conn = http.client.HTTPConnection(HOST, int(match.group(1)), timeout=10)
        try:
            conn.request("GET", "/health")
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        assert response.status == 200
        assert json.loads(body)["schema"] == "peak-dryrun/health-session/v1"
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
