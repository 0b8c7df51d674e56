"""The NO-LIVE network guard: no dry-run test can reach a non-loopback address.

While a test that uses a dry-run fixture or the ``dryrun`` marker runs, every outgoing
``connect``, ``connect_ex``, ``sendto``, ``sendmsg`` and ``getaddrinfo`` is checked *before*
the real call: a loopback address (127.0.0.0/8, ::1, ``localhost``) goes through, so a
suite's local services keep working; anything else raises :class:`NoLiveError` and nothing
is sent. Host names other than ``localhost`` are refused without resolving them (a DNS
lookup is already traffic). Every blocked attempt is recorded, and the test fails at
teardown even if its code swallowed the error (``try/except Exception`` around a connect).

Limits, stated plainly: C extensions that open sockets without Python's ``socket`` module
bypass any Python-level guard, as do subprocesses.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any, Final

__all__ = ["NetworkGuard", "NoLiveError", "is_loopback"]

_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.", "ip6-localhost", "ip6-loopback"})


class NoLiveError(RuntimeError):
    """A dry run tried to reach an address outside loopback; nothing was sent."""


def is_loopback(host: object) -> bool:
    """True for 127.0.0.0/8, ::1, IPv4-mapped loopback and the name ``localhost``."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False  # a host name: refused without resolving it
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _describe(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if isinstance(host, str) and ":" in host else f"{host}:{port}"
    return repr(address)


class NetworkGuard:
    """Patches the socket layer for the duration of a test (see the module docstring)."""

    def __init__(self, *, context: str = "dry-run test") -> None:
        self.context = context
        self.attempts: list[str] = []
        self._saved: dict[str, Any] = {}

    def acknowledge(self) -> list[str]:
        """Accept the attempts blocked so far (a test that expected them); returns them."""
        seen, self.attempts = self.attempts, []
        return seen

    @property
    def active(self) -> bool:
        return bool(self._saved)

    def _refuse(self, what: str, address: Any) -> None:
        where = _describe(address)
        self.attempts.append(f"{what} {where}")
        raise NoLiveError(
            f"NO-LIVE: {what} to {where} blocked during a {self.context}; "
            "pytest-peak-dryrun allows only loopback (127.0.0.0/8, ::1, localhost). Nothing was sent."
        )

    def _check(self, sock: socket.socket, what: str, address: Any) -> None:
        if sock.family == getattr(socket, "AF_UNIX", object()):
            return
        host = address[0] if isinstance(address, tuple) and address else address
        if not is_loopback(host):
            self._refuse(what, address)

    def install(self) -> NetworkGuard:
        if self.active:
            return self
        guard = self
        real_connect = socket.socket.connect
        real_connect_ex = socket.socket.connect_ex
        real_sendto = socket.socket.sendto
        real_sendmsg = getattr(socket.socket, "sendmsg", None)
        real_getaddrinfo = socket.getaddrinfo
        self._saved = {
            "connect": real_connect,
            "connect_ex": real_connect_ex,
            "sendto": real_sendto,
            "sendmsg": real_sendmsg,
            "getaddrinfo": real_getaddrinfo,
        }

        def connect(self: socket.socket, address: Any) -> None:
            guard._check(self, "connect", address)
            return real_connect(self, address)

        def connect_ex(self: socket.socket, address: Any) -> int:
            guard._check(self, "connect_ex", address)
            return real_connect_ex(self, address)

        def sendto(self: socket.socket, data: Any, *args: Any) -> int:
            guard._check(self, "sendto", args[-1] if args else None)
            return real_sendto(self, data, *args)

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if host is not None and not is_loopback(host):
                guard._refuse("getaddrinfo", (host, args[0] if args else kwargs.get("port")))
            return real_getaddrinfo(host, *args, **kwargs)

        _set(socket.socket, "connect", connect)
        _set(socket.socket, "connect_ex", connect_ex)
        _set(socket.socket, "sendto", sendto)
        if real_sendmsg is not None:

            def sendmsg(self: socket.socket, buffers: Any, *args: Any) -> int:
                if len(args) >= 3 and args[2] is not None:
                    guard._check(self, "sendmsg", args[2])
                return real_sendmsg(self, buffers, *args)  # type: ignore[no-any-return]

            _set(socket.socket, "sendmsg", sendmsg)
        socket.getaddrinfo = getaddrinfo
        return self

    def uninstall(self) -> None:
        saved, self._saved = self._saved, {}
        if not saved:
            return
        for name in ("connect", "connect_ex", "sendto", "sendmsg"):
            if saved.get(name) is not None:
                _set(socket.socket, name, saved[name])
        socket.getaddrinfo = saved["getaddrinfo"]

    def __enter__(self) -> NetworkGuard:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.uninstall()


def _set(cls: type, name: str, fn: Callable[..., Any]) -> None:
    setattr(cls, name, fn)
