"""``peak-dryrun serve``: a read-only HTTP status endpoint over a snapshot directory.

Three GET (and HEAD) routes, each reading its file from disk at request time:

* ``/health``  the JSON of ``dryrun_health_snapshot.json``, with a status code a probe can
  use: **200** when the session is ``ok`` or ``degraded`` (degraded runs still passed, as in
  ``peak-dryrun report``; the body says ``degraded``), **503** when it is ``failed``, when
  ``index.json`` says the session is incomplete (in progress, killed, a crashed worker) or
  when the file is missing or unreadable. The body is the file, byte for byte.
* ``/status``  the JSON of ``dryrun_status_snapshot.json``
* ``/metrics`` the Prometheus text of ``dryrun_metrics.prom``

Any other path is 404; any other method (POST, PUT, DELETE, PATCH, ...) is 405 with
``Allow: GET, HEAD``. There is no file watching: the server only reads when asked, never
writes, and binds 127.0.0.1 unless told otherwise (a non-loopback address needs
``allow_remote=True``, because the endpoint has no authentication).

Connections are bounded: a fixed pool of :data:`WORKERS` threads handles them, each socket
times out after :data:`TIMEOUT_S` seconds of silence, and at most :data:`MAX_PENDING`
accepted connections wait for a worker; more are closed at once. 500 idle connections hold
the pool's threads and a few file descriptors, never 500 threads.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

__all__ = [
    "JSON_CONTENT_TYPE",
    "MAX_PENDING",
    "PROMETHEUS_CONTENT_TYPE",
    "ROUTES",
    "TIMEOUT_S",
    "WORKERS",
    "BoundedHTTPServer",
    "RemoteBindError",
    "health_status_code",
    "is_loopback",
    "make_server",
]

PROMETHEUS_CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
JSON_CONTENT_TYPE: Final = "application/json; charset=utf-8"
ALLOW: Final = "GET, HEAD"
#: Path -> (file in the snapshot directory, content type).
ROUTES: Final[dict[str, tuple[str, str]]] = {
    "/health": ("dryrun_health_snapshot.json", JSON_CONTENT_TYPE),
    "/status": ("dryrun_status_snapshot.json", JSON_CONTENT_TYPE),
    "/metrics": ("dryrun_metrics.prom", PROMETHEUS_CONTENT_TYPE),
}
#: Threads that handle connections; a status endpoint needs few.
WORKERS: Final = 4
#: Seconds a connection may stay silent (idle keep-alive included) before it is closed.
TIMEOUT_S: Final = 5.0
#: Accepted connections that may wait for a free worker; more are closed at once.
MAX_PENDING: Final = 32
INDEX_FILE: Final = "index.json"


class RemoteBindError(ValueError):
    """A non-loopback address without ``allow_remote``."""


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP literal; any other name is refused without resolving it."""
    from ..netguard import is_loopback as _is_loopback

    return _is_loopback(host.strip("[]"))


def health_status_code(health: Any, index: Any) -> HTTPStatus:
    """The ``/health`` status code: 200 for ok and degraded, 503 for failed or incomplete.

    ``health`` is the parsed health snapshot, ``index`` the parsed ``index.json`` (``None``
    when it cannot be read). Anything not understood is 503: a probe must not see healthy
    by accident.
    """
    session = health.get("session") if isinstance(health, dict) else None
    status = session.get("status") if isinstance(session, dict) else None
    complete = isinstance(session, dict) and session.get("complete") is True
    if not (isinstance(index, dict) and index.get("complete") is True):
        complete = False
    if complete and status in ("ok", "degraded"):
        return HTTPStatus.OK
    return HTTPStatus.SERVICE_UNAVAILABLE


class _Handler(BaseHTTPRequestHandler):
    server_version = "peak-dryrun"
    protocol_version = "HTTP/1.1"
    directory: Path = Path()
    quiet: bool = False
    #: Seconds of silence before the socket times out (StreamRequestHandler applies it).
    timeout = TIMEOUT_S

    def version_string(self) -> str:
        return self.server_version  # no Python version in the Server header

    def __getattr__(self, name: str) -> Callable[[], None]:
        # http.server looks up ``do_<METHOD>``; every method but GET/HEAD is refused with 405.
        if name.startswith("do_"):
            return self._method_not_allowed
        raise AttributeError(name)

    def _send(self, status: HTTPStatus, body: bytes, content_type: str, *, head: bool = False, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _error(self, status: HTTPStatus, message: str, *, head: bool = False, **headers: str) -> None:
        body = (json.dumps({"error": message, "status": status.value}, sort_keys=True) + "\n").encode()
        self._send(status, body, JSON_CONTENT_TYPE, head=head, **headers)

    def _method_not_allowed(self) -> None:
        # Drain a request body so a keep-alive connection stays in sync.
        length = self.headers.get("Content-Length")
        if length and length.isdigit() and int(length) <= 1 << 20:
            self.rfile.read(int(length))
        else:
            self.close_connection = True
        self._error(
            HTTPStatus.METHOD_NOT_ALLOWED, f"{self.command} is not allowed: this endpoint is read-only", Allow=ALLOW
        )

    def _serve(self, *, head: bool) -> None:
        path = urlsplit(self.path).path
        route = ROUTES.get(path)
        if route is None:
            self._error(HTTPStatus.NOT_FOUND, f"no route {path}; try {', '.join(ROUTES)}", head=head)
            return
        name, content_type = route
        try:
            body = (self.directory / name).read_bytes()
        except FileNotFoundError:
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, f"{name} does not exist (yet)", head=head)
            return
        except OSError as exc:
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, f"{name} cannot be read ({exc.strerror})", head=head)
            return
        status = HTTPStatus.OK
        if content_type == JSON_CONTENT_TYPE:
            try:
                data = json.loads(body)
            except ValueError:
                self._error(HTTPStatus.SERVICE_UNAVAILABLE, f"{name} is not valid JSON", head=head)
                return
            if path == "/health":
                status = health_status_code(data, self._read_index())
        self._send(status, body, content_type, head=head)

    def _read_index(self) -> Any:
        try:
            return json.loads((self.directory / INDEX_FILE).read_bytes())
        except (OSError, ValueError):
            return None

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def log_message(self, format: str, *args: Any) -> None:
        if not self.quiet:
            super().log_message(format, *args)


class BoundedHTTPServer(HTTPServer):
    """An HTTP server whose connections are handled by a fixed pool of threads.

    ``ThreadingHTTPServer`` starts one thread per connection with no timeout, so idle
    connections pile up as threads. Here at most ``workers`` threads exist; accepted
    connections beyond ``workers + max_pending`` are closed at once, and the handler's
    socket timeout closes a silent connection after ``timeout`` seconds.
    """

    request_queue_size = 128

    def __init__(
        self,
        server_address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        workers: int = WORKERS,
        max_pending: int = MAX_PENDING,
    ) -> None:
        super().__init__(server_address, handler)
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="peak-dryrun-serve")
        self._slots = threading.BoundedSemaphore(workers + max_pending)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # full: refuse now rather than queue without bound
            return
        try:
            self._pool.submit(self._handle, request, client_address)
        except RuntimeError:  # the pool is shut down: the server is closing
            self._slots.release()
            self.shutdown_request(request)

    def _handle(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            self._slots.release()

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)


class _BoundedHTTPServer6(BoundedHTTPServer):
    address_family = socket.AF_INET6


def make_server(
    directory: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    allow_remote: bool = False,
    quiet: bool = False,
    workers: int = WORKERS,
    timeout: float = TIMEOUT_S,
    max_pending: int = MAX_PENDING,
) -> BoundedHTTPServer:
    """A bound, not yet running, read-only server for ``directory``.

    Call ``serve_forever()`` (in a thread, in tests) and ``shutdown()`` + ``server_close()``
    to stop it. ``port=0`` picks a free port (``server.server_address[1]``). ``workers``,
    ``timeout`` and ``max_pending`` bound the connections (see :class:`BoundedHTTPServer`).
    """
    if not allow_remote and not is_loopback(host):
        raise RemoteBindError(
            f"refusing to bind {host}: not a loopback address. The status endpoint has no "
            "authentication or TLS and exposes run data to anyone who can reach it; pass "
            "--allow-remote to bind it anyway (behind a firewall or a reverse proxy)"
        )
    handler = type("PeakDryrunHandler", (_Handler,), {"directory": Path(directory), "quiet": quiet, "timeout": timeout})
    server_class = _BoundedHTTPServer6 if ":" in host.strip("[]") else BoundedHTTPServer
    return server_class((host.strip("[]"), port), handler, workers=workers, max_pending=max_pending)
