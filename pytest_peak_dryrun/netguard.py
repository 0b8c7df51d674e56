"""The NO-LIVE guard: while a dry-run test runs, nothing leaves loopback.

Enforcement is a CPython audit hook (PEP 578). C raises ``socket.connect`` (also for
``connect_ex``), ``socket.sendto``, ``socket.sendmsg``, ``socket.getaddrinfo``,
``socket.gethostbyname`` (also for ``gethostbyname_ex``), ``socket.gethostbyaddr`` and
``socket.getnameinfo`` for every caller, just before the call they announce, so
``_socket.socket.connect(sock, addr)`` is seen like ``socket.create_connection``; raising in
the hook stops the call before anything is sent. While a guard is active:

* loopback (127.0.0.0/8, ``::1``, IPv4-mapped loopback, ``localhost``) and ``AF_UNIX`` are
  allowed, so a suite's local services keep working; every other destination and every other
  address family is refused with :class:`NoLiveError`;
* host names other than ``localhost`` are refused without resolving them (a lookup is already
  traffic); IP literals need no lookup. C resolves a name handed to ``connect``/``sendto``
  *before* it raises the audit event, so while a guard is active ``socket.socket``'s
  ``connect``, ``connect_ex``, ``sendto`` and ``sendmsg`` check the address first;
* proxy variables (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, any ``*_proxy``, either
  case; ``NO_PROXY`` is left alone, it can only make a request go direct) are removed from
  ``os.environ`` and put back afterwards, and a loopback connection to a proxy such a variable
  names is refused, even from an opener built before the guard;
* optionally (``refuse_subprocess``) new processes are refused too: ``subprocess.Popen``,
  ``os.system``, ``os.exec*``, ``os.posix_spawn*``, ``os.spawn*``, ``os.fork``, ``os.forkpty``.

Every refusal is recorded in :attr:`NetworkGuard.attempts`; the plugin fails the test at
teardown even if its code swallowed the error.

Each decision reads what C will use, never what a Python subclass says: host strings are
copied with ``str.__str__`` (an exact ``str``), tuples are read with ``tuple.__getitem__``, the
address family from the C field. A ``str`` subclass whose ``lower()``, ``__str__`` or
``__eq__`` lies is judged by its real characters.

The hook is added once per process, the first time a guard activates (a hook cannot be
removed); with no guard active it returns after one global read, and a process that never
activates a guard has no hook at all.

Limits: a host *name* passed straight to the C methods (``_socket.socket.connect(sock,
("name", port))``) is resolved by libc before the audit event (the connection is still
refused, the lookup is not); sockets connected before the guard activated are not re-checked;
C code that opens its own sockets (not through Python's ``socket`` module) raises no audit
event; subprocesses run unguarded unless ``refuse_subprocess`` is set, and even then
``_posixsubprocess.fork_exec`` called directly (multiprocessing's spawn/forkserver start
methods do) raises no event.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from collections.abc import Callable, Mapping
from typing import Any, Final

__all__ = ["NetworkGuard", "NoLiveError", "active_guard", "is_loopback"]

_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.", "ip6-localhost", "ip6-loopback"})
#: Forward lookups: a loopback name or any IP literal stays local, other names are queries.
_LOOKUP_EVENTS: Final = frozenset({"socket.getaddrinfo", "socket.gethostbyname"})
#: Reverse lookups: a query for anything but loopback.
_REVERSE_EVENTS: Final = frozenset({"socket.gethostbyaddr", "socket.getnameinfo"})
_SEND_EVENTS: Final = frozenset({"socket.connect", "socket.sendto", "socket.sendmsg"})
_NET_EVENTS: Final = _LOOKUP_EVENTS | _REVERSE_EVENTS | _SEND_EVENTS
_PROCESS_EVENTS: Final = frozenset(
    {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "os.startfile"}
)
#: Where each process event carries the program it starts (``os.system`` carries a shell
#: command, which may hold a secret: it is never shown).
_PROGRAM_ARG: Final = {"subprocess.Popen": 0, "os.exec": 0, "os.posix_spawn": 0, "os.spawn": 1, "os.startfile": 0}
_AF_UNIX: Final = getattr(socket, "AF_UNIX", None)
_INET_FAMILIES: Final = (socket.AF_INET, socket.AF_INET6)
#: The C field of ``_socket.socket``: what the kernel call uses, whatever a subclass's
#: ``family`` property claims.
_FAMILY_FIELD: Final = vars(socket.SocketType)["family"]
#: ``socket.socket`` methods that hand a host name to libc before the audit event fires,
#: and where their address argument sits.
_PRECHECKED: Final = {"connect": 0, "connect_ex": 0, "sendto": -1, "sendmsg": 3}
_PROXY_DEFAULT_PORTS: Final = {"https": 443, "socks4": 1080, "socks4a": 1080, "socks5": 1080, "socks5h": 1080}
_PROBE_EVENT: Final = "pytest_peak_dryrun.netguard.probe"
_WATCHED: Final = _NET_EVENTS | _PROCESS_EVENTS | {_PROBE_EVENT}
_MISSING: Final = object()


class NoLiveError(RuntimeError):
    """A dry run tried to reach something outside loopback; nothing was sent."""


def _exact_text(value: object) -> str | None:
    """The characters C reads from a host value, as an exact ``str`` (None: not text)."""
    if isinstance(value, str):
        return str.__str__(value)  # an exact copy: no method a subclass overrides is called
    if isinstance(value, bytes):
        return bytes.decode(value, "latin-1")
    if isinstance(value, bytearray):
        return bytearray.decode(value, "latin-1")
    return None


def _ip_literal(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text.isascii() or "\x00" in text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def is_loopback(host: object) -> bool:
    """True for 127.0.0.0/8, ::1, IPv4-mapped loopback and the name ``localhost``.

    Judged on the exact characters (see the module docstring); anything that is not ASCII
    text is refused, since libc would IDNA-encode it into some other name.
    """
    text = _exact_text(host)
    if text is None or not text.isascii():
        return False
    if text.lower() in _LOOPBACK_NAMES:
        return True
    address = _ip_literal(text)
    if address is None:
        return False  # a host name: refused without resolving it
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _host_port(address: object) -> tuple[object, int | None]:
    """Host and port of an AF_INET/AF_INET6 address tuple, read the way C reads them."""
    if not isinstance(address, tuple) or tuple.__len__(address) < 2:
        return address, None
    host, port = tuple.__getitem__(address, 0), tuple.__getitem__(address, 1)
    return host, int.__index__(port) if isinstance(port, int) else None


def _describe(host: object, port: object = None) -> str:
    """``host:port`` (``[v6]:port``) from the exact values; never a subclass's ``__str__``."""
    text = _exact_text(host)
    if text is None:
        text = f"<{type(host).__name__}>"
    shown = str(int.__index__(port)) if isinstance(port, int) else _exact_text(port)
    if shown is None:
        return text
    return f"[{text}]:{shown}" if ":" in text else f"{text}:{shown}"


def _family_name(family: int | None) -> str:
    if family is None:
        return "unknown address family"
    try:
        return socket.AddressFamily(family).name
    except ValueError:
        return f"address family {family}"


def _is_proxy_variable(name: str) -> bool:
    lowered = name.lower()
    return lowered.endswith("_proxy") and lowered != "no_proxy"


def _loopback_proxy_ports(variables: Mapping[str, str]) -> dict[int, str]:
    """Port -> variable name for every proxy variable naming a loopback proxy."""
    from urllib.parse import urlsplit

    ports: dict[int, str] = {}
    for name, value in sorted(variables.items()):
        value = value.strip()
        try:
            parts = urlsplit(value if "://" in value else f"http://{value}")
            port = parts.port
        except ValueError:
            continue
        if parts.hostname is None or not is_loopback(parts.hostname):
            continue  # not loopback: any connection to it is refused anyway
        ports.setdefault(port if port is not None else _PROXY_DEFAULT_PORTS.get(parts.scheme, 80), name)
    return ports


def _program(event: str, args: tuple[Any, ...]) -> str:
    """``event (program)``: the program's base name only, never its arguments."""
    index = _PROGRAM_ARG.get(event)
    if index is None or len(args) <= index:
        return event
    program = args[index]
    try:
        text = _exact_text(os.fspath(program))
    except TypeError:
        text = None
    return f"{event} ({os.path.basename(text)})" if text else event


class NetworkGuard:
    """The NO-LIVE guard for one test (see the module docstring).

    ``install()`` activates it (and the process's audit hook, the first time); ``uninstall()``
    deactivates it. ``attempts`` lists what it refused, ``acknowledge()`` accepts them.
    """

    def __init__(self, *, context: str = "dry-run test", refuse_subprocess: bool = False) -> None:
        self.context = context
        self.refuse_subprocess = refuse_subprocess
        self.attempts: list[str] = []
        self._active = False
        self._removed_env: dict[str, str] = {}
        self._proxy_ports: dict[int, str] = {}

    def acknowledge(self) -> list[str]:
        """Accept the attempts blocked so far (a test that expected them); returns them."""
        seen, self.attempts = self.attempts, []
        return seen

    @property
    def active(self) -> bool:
        return self._active

    # -- decisions ---------------------------------------------------------------------------

    def _refuse(self, attempt: str, message: str) -> None:
        self.attempts.append(attempt)
        raise NoLiveError(f"NO-LIVE: {message}")

    def _refuse_destination(self, what: str, where: str, why: str | None = None) -> None:
        reason = (
            f": {why}" if why else "; pytest-peak-dryrun allows only loopback (127.0.0.0/8, ::1, localhost) and AF_UNIX"
        )
        self._refuse(f"{what} {where}", f"{what} to {where} blocked during a {self.context}{reason}. Nothing was sent.")

    def check_address(self, sock: object, address: object, what: str) -> None:
        """Refuse ``what`` (connect, sendto, sendmsg) from ``sock`` to ``address`` unless allowed."""
        try:
            family: int | None = _FAMILY_FIELD.__get__(sock)
        except TypeError:  # not a C socket: nothing we can judge, so nothing goes through
            family = None
        if family == _AF_UNIX:
            return
        if family not in _INET_FAMILIES:
            self._refuse_destination(what, f"an {_family_name(family)} address")
        host, port = _host_port(address)
        if not is_loopback(host):
            self._refuse_destination(what, _describe(host, port))
        if port is None:  # C would call the object's __index__, which may answer differently
            self._refuse_destination(what, f"{_describe(host)} with a port that is not an int")
        proxy = self._proxy_named_at(port)
        if proxy is not None:
            self._refuse_destination(
                what, _describe(host, port), f"it is the proxy named by {proxy}, which would forward the request"
            )

    def _proxy_named_at(self, port: int | None) -> str | None:
        """The proxy variable naming a loopback proxy on ``port``: removed at install or set since."""
        if port in self._proxy_ports:
            return self._proxy_ports[port]
        current = {k: v for k, v in os.environ.items() if _is_proxy_variable(k)}
        return _loopback_proxy_ports(current).get(port) if current and port is not None else None

    def _on_event(self, event: str, args: tuple[Any, ...]) -> None:
        if event in _SEND_EVENTS:
            if args[1] is not None:  # sendmsg without an address: a connected socket
                self.check_address(args[0], args[1], event[7:])
        elif event in _NET_EVENTS:
            what = event[7:]
            host, port = _host_port(args[0]) if event == "socket.getnameinfo" else (args[0], None)
            if event == "socket.getaddrinfo":
                port = args[1]  # an int or a service name; shown, never looked up here
            if host is None or is_loopback(host):
                return
            text = _exact_text(host)
            if event in _LOOKUP_EVENTS and text is not None and _ip_literal(text) is not None:
                return  # an IP literal needs no lookup; its connect is checked on its own
            self._refuse_destination(what, _describe(host, port))
        elif self.refuse_subprocess and event in _PROCESS_EVENTS:
            attempt = _program(event, args)
            self._refuse(
                attempt,
                f"{attempt} blocked during a {self.context}: new processes are refused in guarded tests "
                "(ini dryrun_guard_subprocess = true), since a process could reach the network past the guard.",
            )

    # -- activation --------------------------------------------------------------------------

    def install(self) -> NetworkGuard:
        """Activate the guard; a no-op when it is already active."""
        global _active
        if self._active:
            return self
        _ensure_audit_hook()
        self._removed_env = {name: os.environ.pop(name) for name in sorted(os.environ) if _is_proxy_variable(name)}
        # A guard inside another finds the variables gone: it keeps refusing what they named.
        inherited = _active._proxy_ports if _active is not None else {}
        self._proxy_ports = {**inherited, **_loopback_proxy_ports(self._removed_env)}
        if not _guards:
            _patch_socket_methods()
        _guards.append(self)
        _active = self
        self._active = True
        return self

    def uninstall(self) -> None:
        """Deactivate the guard and put back the proxy variables it removed."""
        global _active
        if not self._active:
            return
        self._active = False
        _guards.remove(self)
        _active = _guards[-1] if _guards else None
        if not _guards:
            _unpatch_socket_methods()
        os.environ.update(self._removed_env)
        self._removed_env = {}

    def __enter__(self) -> NetworkGuard:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.uninstall()


# -- process-wide state: one audit hook, the stack of active guards --------------------------

_guards: list[NetworkGuard] = []
#: The innermost active guard: the only thing the audit hook reads when no test is guarded.
_active: NetworkGuard | None = None
_hook_installed = False
_saved_methods: dict[str, object] = {}
_our_methods: dict[str, Callable[..., Any]] = {}


def active_guard() -> NetworkGuard | None:
    """The guard in force right now, or None."""
    return _active


def _audit(event: str, args: tuple[Any, ...]) -> None:
    # Called for every audit event of the process (imports, opens, compiles, id()...): one
    # global read without an active guard, one set lookup for the events we ignore with one.
    guard = _active
    if guard is not None and event in _WATCHED:
        guard._on_event(event, args)


class _Probe(NetworkGuard):
    seen = False

    def _on_event(self, event: str, args: tuple[Any, ...]) -> None:
        if event == _PROBE_EVENT:
            self.seen = True


def _ensure_audit_hook() -> None:
    """Add the audit hook once, and prove it runs before any guard relies on it."""
    global _hook_installed, _active
    if _hook_installed:
        return
    # An earlier hook that refuses the "sys.addaudithook" event makes addaudithook add
    # nothing, silently: probe before trusting it.
    sys.addaudithook(_audit)
    probe, saved = _Probe(), _active
    _active = probe
    try:
        sys.audit(_PROBE_EVENT)
    finally:
        _active = saved
    if not probe.seen:
        raise NoLiveError(
            "NO-LIVE: the network guard could not add its audit hook (another audit hook refused "
            "sys.addaudithook); refusing to run a dry-run test unguarded."
        )
    _hook_installed = True


def _prechecked(name: str, real: Callable[..., Any], index: int) -> Callable[..., Any]:
    what = "connect" if name == "connect_ex" else name

    def method(self: socket.socket, *args: Any) -> Any:
        guard = _active
        if guard is not None and len(args) > (index if index >= 0 else 1) and args[index] is not None:
            guard.check_address(self, args[index], what)
        return real(self, *args)

    method.__name__ = name
    method.__qualname__ = f"socket.{name}"
    method.__doc__ = real.__doc__
    return method


def _patch_socket_methods() -> None:
    for name, index in _PRECHECKED.items():
        real = getattr(socket.socket, name, None)
        if real is None:  # sendmsg is missing on some platforms
            continue
        _saved_methods[name] = vars(socket.socket).get(name, _MISSING)
        _our_methods[name] = _prechecked(name, real, index)
        setattr(socket.socket, name, _our_methods[name])


def _unpatch_socket_methods() -> None:
    for name, saved in list(_saved_methods.items()):
        if vars(socket.socket).get(name) is _our_methods.get(name):  # leave a later patch alone
            if saved is _MISSING:
                delattr(socket.socket, name)
            else:
                setattr(socket.socket, name, saved)
    _saved_methods.clear()
    _our_methods.clear()
