"""``peak-dryrun serve``: a read-only HTTP status endpoint over a snapshot directory.

Three GET (and HEAD) routes, each reading its file from disk at request time:

* ``/health``  the JSON of ``dryrun_health_snapshot.json``
* ``/status``  the JSON of ``dryrun_status_snapshot.json``
* ``/metrics`` the Prometheus text of ``dryrun_metrics.prom``

Any other path is 404; any other method (POST, PUT, DELETE, PATCH, ...) is 405 with
``Allow: GET, HEAD``. There is no background thread and no file watching: the server only
reads when asked, never writes, and binds 127.0.0.1 unless told otherwise (a non-loopback
address needs ``allow_remote=True``, because the endpoint has no authentication).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

__all__ = [
    "JSON_CONTENT_TYPE",
    "PROMETHEUS_CONTENT_TYPE",
    "ROUTES",
    "RemoteBindError",
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


class RemoteBindError(ValueError):
    """A non-loopback address without ``allow_remote``."""


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP literal; any other name is refused without resolving it."""
    from ..netguard import is_loopback as _is_loopback

    return _is_loopback(host.strip("[]"))


class _Handler(BaseHTTPRequestHandler):
    server_version = "peak-dryrun"
    protocol_version = "HTTP/1.1"
    directory: Path = Path()
    quiet: bool = False

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
        if content_type == JSON_CONTENT_TYPE:
            try:
                json.loads(body)
            except ValueError:
                self._error(HTTPStatus.SERVICE_UNAVAILABLE, f"{name} is not valid JSON", head=head)
                return
        self._send(HTTPStatus.OK, body, content_type, head=head)

    def do_GET(self) -> None:
        self._serve(head=False)

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def log_message(self, format: str, *args: Any) -> None:
        if not self.quiet:
            super().log_message(format, *args)


def make_server(
    directory: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    allow_remote: bool = False,
    quiet: bool = False,
) -> ThreadingHTTPServer:
    """A bound, not yet running, read-only server for ``directory``.

    Call ``serve_forever()`` (in a thread, in tests) and ``shutdown()`` + ``server_close()``
    to stop it. ``port=0`` picks a free port (``server.server_address[1]``).
    """
    if not allow_remote and not is_loopback(host):
        raise RemoteBindError(
            f"refusing to bind {host}: not a loopback address. The status endpoint has no "
            "authentication or TLS and exposes run data to anyone who can reach it; pass "
            "--allow-remote to bind it anyway (behind a firewall or a reverse proxy)"
        )
    handler = type("PeakDryrunHandler", (_Handler,), {"directory": Path(directory), "quiet": quiet})
    server_class: type[ThreadingHTTPServer] = ThreadingHTTPServer
    if ":" in host.strip("[]"):
        import socket

        server_class = type("PeakDryrunServer6", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6})
    server = server_class((host.strip("[]"), port), handler)
    server.daemon_threads = True
    return server
