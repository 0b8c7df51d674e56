"""NO-LIVE: a guarded test cannot reach a non-loopback address, and nothing is ever sent.

Every inner session that names an address outside loopback runs twice fenced in:

* inside ``unshare -n`` (a new, empty network namespace with only ``lo`` up), so not one
  packet can leave the machine even if the guard were broken (skipped, with the reason,
  where ``unshare`` is not permitted);
* with a *recorder*: a second audit hook added after the guard's own. CPython calls audit
  hooks in order and stops at the first that raises, and raises each ``socket.*`` event
  just before the C call it announces, so an event that reaches the recorder has passed
  the guard. The recorder refuses it (nothing is sent) and records it; the inner session
  prints what it recorded, and ``REACHED []`` proves nothing got past the guard.

A host *name* handed to ``connect`` is resolved by C before the ``socket.connect`` event is
raised, which no recorder can see: those cases rely on the namespace (in it, a lookup that
happened would surface as ``gaierror`` instead of ``NoLiveError``).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys

import pytest

from pytest_peak_dryrun.netguard import is_loopback

pytest_plugins = ["pytester"]

RECORDER = r"""
import _socket, ipaddress, socket, sys

import pytest
from pytest_peak_dryrun.netguard import NetworkGuard

# The guard's audit hook (when it has one) first, the recorder after it.
NetworkGuard().install().uninstall()

REACHED = []
_FAMILY = _socket.socket.__dict__["family"]  # the C field, whatever a subclass claims


def _text(host):
    if isinstance(host, str):
        return str.__str__(host)  # the characters C reads, not what a subclass says
    if isinstance(host, bytes):
        return bytes.decode(host, "latin-1")
    if isinstance(host, bytearray):
        return bytearray.decode(host, "latin-1")
    return None


def _loopback(host):
    text = _text(host)
    if text is None:
        return False
    if text == "localhost":
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def _host(address):
    if isinstance(address, tuple) and tuple.__len__(address):
        return tuple.__getitem__(address, 0)
    return address


def _record(event, args):
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        sock, address = args
        if address is None or _FAMILY.__get__(sock) == socket.AF_UNIX or _loopback(_host(address)):
            return
    elif event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr", "socket.getnameinfo"):
        host = _host(args[0])
        if host is None or _loopback(host):
            return
    else:
        return
    REACHED.append(event)
    raise OSError(f"RECORDER: {event} reached the socket layer")


sys.addaudithook(_record)


def pytest_unconfigure(config):
    print("REACHED", REACHED)
"""


@functools.cache
def _unshare_problem() -> str | None:
    """Why ``unshare -n`` cannot be used here, or None when it can."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare/ip not installed: NO-LIVE tests that name outside addresses need an empty network namespace"
    probe = subprocess.run(
        ["unshare", "-n", "sh", "-c", "ip link set lo up"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        return f"unshare -n is not permitted here ({probe.stderr.strip() or probe.returncode})"
    return None


def run_offline(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """An inner pytest session inside a new network namespace where only ``lo`` is up."""
    problem = _unshare_problem()
    if problem is not None:
        pytest.skip(problem)
    script = 'ip link set lo up && exec "$@"'
    cmd = ["unshare", "-n", "sh", "-c", script, "sh", sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]
    return pytester.run(*cmd, "-s", *args, timeout=180)


def offline_session(pytester: pytest.Pytester, body: str, *args: str, conftest: str = "") -> pytest.RunResult:
    pytester.makeconftest(RECORDER + conftest)
    pytester.makepyfile(test_net=body)
    return run_offline(pytester, *args)


# -- is_loopback: the one decision, on the exact characters C will use ------------------------


class LyingLower(str):
    def lower(self) -> str:
        return "localhost"


class LyingEverything(str):
    """Says it is loopback through every Python-level method a check could call."""

    def lower(self) -> str:
        return "localhost"

    def __str__(self) -> str:
        return "127.0.0.1"

    def __repr__(self) -> str:
        return "'127.0.0.1'"

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return hash("localhost")

    def split(self, *args: object, **kwargs: object) -> list[str]:  # type: ignore[override]
        return ["127.0.0.1"]

    def isascii(self) -> bool:
        return True

    def strip(self, *args: object) -> str:  # type: ignore[override]
        return "127.0.0.1"


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.8.9.10", "::1", "::1%lo", "::ffff:127.0.0.1", "localhost", "LOCALHOST", "localhost.", b"::1"],
)
def test_loopback_hosts(host: object) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host",
    [
        "192.0.2.10",
        "0.0.0.0",
        "::",
        "2001:db8::1",
        "::ffff:192.0.2.10",
        "broker.example",
        "127.0.0.1%evil",  # not an address: libc would look it up as a name
        "127.1",  # libc reads it as 127.0.0.1, but only after a parse we do not repeat: refused
        "",
        "localhost\x00.evil",
        "ｌｏｃａｌｈｏｓｔ",  # IDNA maps it to localhost; we refuse anything that is not ASCII
        None,
        ("127.0.0.1", 80),
        LyingLower("192.0.2.10"),
        LyingEverything("192.0.2.10"),
        LyingEverything("broker.example"),
    ],
)
def test_everything_else_is_refused(host: object) -> None:
    assert not is_loopback(host)


# -- the bypasses of issue 12, each proven blocked before anything is sent ------------------

BYPASSES = r"""
import _socket, os, socket, subprocess, sys, tempfile
import pytest
from pytest_peak_dryrun import NoLiveError

OUTSIDE = ("192.0.2.10", 443)


class LyingLower(str):
    def lower(self):
        return "localhost"


class LyingEverything(str):
    def lower(self):
        return "localhost"
    def __str__(self):
        return "127.0.0.1"
    def __repr__(self):
        return "'127.0.0.1'"
    def __eq__(self, other):
        return True
    def __hash__(self):
        return hash("localhost")
    def split(self, *args, **kwargs):
        return ["127.0.0.1"]
    def strip(self, *args):
        return "127.0.0.1"
    def isascii(self):
        return True


class LyingTuple(tuple):
    def __getitem__(self, index):
        return ("127.0.0.1", 443)[index]
    def __iter__(self):
        return iter(("127.0.0.1", 443))


class LyingSocket(socket.socket):
    family = property(lambda self: socket.AF_UNIX)


def test_the_c_base_class_connect(dryrun_network_guard):
    with socket.socket() as s:
        with pytest.raises(NoLiveError, match=r"NO-LIVE: connect to 192\.0\.2\.10:443 blocked"):
            _socket.socket.connect(s, OUTSIDE)
        with pytest.raises(NoLiveError):
            _socket.socket.connect_ex(s, OUTSIDE)
    raw = _socket.socket()
    try:
        with pytest.raises(NoLiveError):
            raw.connect(OUTSIDE)
    finally:
        raw.close()
    assert dryrun_network_guard.acknowledge() == ["connect 192.0.2.10:443"] * 3


def test_connect_connect_ex_sendto_sendmsg(dryrun_network_guard):
    with socket.socket(socket.AF_INET6) as s:
        with pytest.raises(NoLiveError, match=r"connect to \[2001:db8::1\]:443"):
            s.connect(("2001:db8::1", 443))
        with pytest.raises(NoLiveError):
            s.connect_ex(("2001:db8::1", 443))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        with pytest.raises(NoLiveError, match="sendto to 192.0.2.53:53"):
            u.sendto(b"x", ("192.0.2.53", 53))
        with pytest.raises(NoLiveError):
            u.sendto(b"x", 0, ("192.0.2.53", 53))
        with pytest.raises(NoLiveError, match="sendmsg to 192.0.2.53:53"):
            u.sendmsg([b"x"], [], 0, ("192.0.2.53", 53))
    assert dryrun_network_guard.acknowledge() == [
        "connect [2001:db8::1]:443",
        "connect [2001:db8::1]:443",
        "sendto 192.0.2.53:53",
        "sendto 192.0.2.53:53",
        "sendmsg 192.0.2.53:53",
    ]


@pytest.mark.parametrize(
    ("call", "attempt"),
    [
        (lambda: socket.gethostbyname("broker.example"), "gethostbyname broker.example"),
        (lambda: socket.gethostbyname_ex("broker.example"), "gethostbyname broker.example"),
        (lambda: socket.gethostbyaddr("192.0.2.10"), "gethostbyaddr 192.0.2.10"),
        (lambda: socket.getnameinfo(("192.0.2.10", 443), 0), "getnameinfo 192.0.2.10:443"),
        (lambda: _socket.getaddrinfo("broker.example", 443), "getaddrinfo broker.example:443"),
        (lambda: socket.create_connection(("broker.example", 443)), "getaddrinfo broker.example:443"),
    ],
    ids=["gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getnameinfo", "_socket.getaddrinfo", "create_connection"],
)
def test_name_lookups_are_refused_before_resolving(dryrun_network_guard, call, attempt):
    with pytest.raises(NoLiveError, match="Nothing was sent"):
        call()
    assert dryrun_network_guard.acknowledge() == [attempt]


def test_host_names_given_to_connect_are_refused_before_c_resolves_them(dryrun_network_guard):
    # In this namespace a lookup that happened would raise gaierror, not NoLiveError.
    with socket.socket() as s:
        with pytest.raises(NoLiveError, match="connect to broker.example:443"):
            s.connect(("broker.example", 443))
        with pytest.raises(NoLiveError):
            s.connect_ex(("broker.example", 443))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, pytest.raises(NoLiveError):
        u.sendto(b"x", ("resolver.example", 53))
    assert len(dryrun_network_guard.acknowledge()) == 3


@pytest.mark.parametrize("lying", [LyingLower, LyingEverything], ids=["lower", "everything"])
def test_a_lying_str_subclass_does_not_pass(dryrun_network_guard, lying):
    with socket.socket() as s:
        with pytest.raises(NoLiveError, match=r"connect to 192\.0\.2\.10:443"):
            s.connect((lying("192.0.2.10"), 443))
        with pytest.raises(NoLiveError):
            _socket.socket.connect(s, (lying("192.0.2.10"), 443))
    with pytest.raises(NoLiveError, match="getaddrinfo to broker.example:443"):
        socket.getaddrinfo(lying("broker.example"), 443)
    with pytest.raises(NoLiveError):
        socket.gethostbyname(lying("broker.example"))
    assert len(dryrun_network_guard.acknowledge()) == 4


def test_a_lying_tuple_or_socket_family_does_not_pass(dryrun_network_guard):
    with socket.socket() as s, pytest.raises(NoLiveError, match=r"192\.0\.2\.10:443"):
        s.connect(LyingTuple(OUTSIDE))
    with LyingSocket(socket.AF_INET) as s, pytest.raises(NoLiveError, match=r"192\.0\.2\.10:443"):
        s.connect(OUTSIDE)
    assert len(dryrun_network_guard.acknowledge()) == 2


class Port:
    def __index__(self):
        return 443


def test_a_port_that_is_not_an_int_is_refused(dryrun_network_guard):
    # C asks the object for its value itself; it could answer the check and C differently.
    with socket.socket() as s, pytest.raises(NoLiveError, match="127.0.0.1 with a port that is not an int"):
        s.connect(("127.0.0.1", Port()))
    dryrun_network_guard.acknowledge()


def test_request_getfixturevalue_dryrun_is_guarded(request):
    request.getfixturevalue("dryrun")
    with socket.socket() as s, pytest.raises(NoLiveError):
        s.connect(OUTSIDE)
    request.getfixturevalue("dryrun_network_guard").acknowledge()


@pytest.mark.parametrize("fixture", ["sim_clock", "metrics_collector", "dryrun_config", "dryrun_fuzz", "dryrun_invariants"])
def test_any_of_the_plugins_fixtures_guards_the_test(request, fixture):
    request.getfixturevalue(fixture)
    with socket.socket() as s, pytest.raises(NoLiveError):
        _socket.socket.connect(s, OUTSIDE)
    request.getfixturevalue("dryrun_network_guard").acknowledge()


@pytest.mark.dryrun("happy_path")
def test_the_marker_guards_from_the_start_of_setup(request):
    with socket.socket() as s, pytest.raises(NoLiveError):
        s.connect(OUTSIDE)
    request.getfixturevalue("dryrun_network_guard").acknowledge()


def test_loopback_and_unix_sockets_stay_allowed(dryrun):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        for host in ("127.0.0.1", "localhost", b"127.0.0.1"):
            with socket.create_connection((host, port), timeout=5) as client:
                conn, _ = server.accept()
                client.sendall(b"ping")
                assert conn.recv(4) == b"ping"
                conn.close()
    a, b = socket.socketpair()
    with a, b:
        a.sendall(b"x")
        assert b.recv(1) == b"x"
    with tempfile.TemporaryDirectory(dir="/tmp") as short:  # AF_UNIX paths are short
        path = os.path.join(short, "s")
        with socket.socket(socket.AF_UNIX) as server, socket.socket(socket.AF_UNIX) as client:
            server.bind(path)
            server.listen()
            client.connect(path)
            _socket.socket.connect(socket.socket(socket.AF_UNIX), path)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server, socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
            server.bind(path + "d")
            client.sendto(b"x", path + "d")
            assert server.recv(1) == b"x"
    assert socket.gethostbyname("localhost").startswith("127.")


def test_processes_are_allowed_unless_opted_in(dryrun):
    subprocess.run([sys.executable, "-c", "pass"], check=True)
"""


def test_every_bypass_is_refused_before_anything_is_sent(pytester: pytest.Pytester) -> None:
    result = offline_session(pytester, BYPASSES)
    result.stdout.fnmatch_lines(["REACHED []"])
    result.assert_outcomes(passed=22)


PROXY_CONFTEST = r"""
import os, socket, urllib.request

# A proxy exported before the session, as in a CI job; the listener is that "proxy".
LISTENER = socket.socket()
LISTENER.bind(("127.0.0.1", 0))
LISTENER.listen()
LISTENER.setblocking(False)
PROXY = f"http://user:secret@127.0.0.1:{LISTENER.getsockname()[1]}"
for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
    os.environ[name] = PROXY
os.environ["NO_PROXY"] = "internal.example"
EARLY_OPENER = urllib.request.build_opener()  # read the variables before any guard


def nothing_arrived():
    try:
        conn, _ = LISTENER.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False
"""

PROXY_TESTS = r"""
import os, socket, urllib.request
import pytest
from conftest import EARLY_OPENER, PROXY, nothing_arrived
from pytest_peak_dryrun import NoLiveError


def test_proxy_variables_are_removed_while_a_test_is_guarded(dryrun_network_guard):
    assert sorted(k for k in os.environ if k.lower().endswith("_proxy")) == ["NO_PROXY"]
    with pytest.raises(NoLiveError, match="getaddrinfo to broker.example:80"):
        urllib.request.urlopen("http://broker.example/", timeout=2)
    assert nothing_arrived()
    dryrun_network_guard.acknowledge()


def test_a_proxy_read_before_the_guard_is_refused(dryrun_network_guard):
    with pytest.raises(NoLiveError, match=r"connect to 127\.0\.0\.1:\d+ blocked .*the proxy named by \w+_PROXY"):
        EARLY_OPENER.open("http://broker.example/", timeout=2)
    assert nothing_arrived()
    assert "secret" not in " ".join(dryrun_network_guard.acknowledge())


def test_a_proxy_set_inside_the_test_is_refused(dryrun_network_guard, monkeypatch):
    with socket.socket() as proxy:
        proxy.bind(("127.0.0.1", 0))
        proxy.listen()
        proxy.setblocking(False)
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.getsockname()[1]}")
        with pytest.raises(NoLiveError, match="the proxy named by HTTP_PROXY"):
            urllib.request.build_opener().open("http://broker.example/", timeout=2)  # reads it now
        with pytest.raises(BlockingIOError):
            proxy.accept()
    dryrun_network_guard.acknowledge()


def test_the_variables_are_back_after_the_guarded_tests():
    assert os.environ["HTTP_PROXY"] == os.environ["http_proxy"] == os.environ["ALL_PROXY"] == PROXY
    assert os.environ["NO_PROXY"] == "internal.example"
"""


def test_a_loopback_proxy_never_receives_a_request(pytester: pytest.Pytester) -> None:
    result = offline_session(pytester, PROXY_TESTS, conftest=PROXY_CONFTEST)
    result.stdout.fnmatch_lines(["REACHED []"])
    result.assert_outcomes(passed=4)


def test_a_swallowed_block_still_fails_the_test_at_teardown(pytester: pytest.Pytester) -> None:
    result = offline_session(
        pytester,
        """
        import _socket, socket

        def test_sneaky(dryrun):
            try:
                _socket.socket.connect(socket.socket(), ("192.0.2.99", 8080))
            except Exception:
                pass  # user code that hides the failure
        """,
    )
    result.stdout.fnmatch_lines(["REACHED []"])
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*test_sneaky: NoLiveError: 1 blocked network attempt(s) (connect 192.0.2.99:8080); the test passed only*"]
    )


def test_a_foreign_fixture_that_shares_a_name_is_not_guarded(pytester: pytest.Pytester) -> None:
    # The foreign fixtures override ours and request none of ours: their connects reach the
    # socket layer (where the recorder, in an empty namespace, stops them), not our guard.
    foreign = """

@pytest.fixture
def orchestrator():
    return _connect()


@pytest.fixture
def audit_log():
    return _connect()


def _connect():
    with socket.socket() as s:
        try:
            s.connect(("192.0.2.10", 443))
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
"""
    result = offline_session(
        pytester,
        """
        def test_foreign_orchestrator(orchestrator):
            assert orchestrator == "OSError: RECORDER: socket.connect reached the socket layer"

        def test_foreign_audit_log(audit_log):
            assert audit_log == "OSError: RECORDER: socket.connect reached the socket layer"
        """,
        conftest=foreign,
    )
    result.stdout.fnmatch_lines(["REACHED ['socket.connect', 'socket.connect']"])
    result.assert_outcomes(passed=2)


def test_subprocesses_are_refused_when_opted_in(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ndryrun_guard_subprocess = true\n")
    result = offline_session(
        pytester,
        r"""
        import os, subprocess, pytest
        from pytest_peak_dryrun import NoLiveError

        def test_guarded(dryrun_network_guard):
            with pytest.raises(NoLiveError, match=r"NO-LIVE: subprocess.Popen \(true\) blocked .*dryrun_guard_subprocess"):
                subprocess.run(["true"])
            with pytest.raises(NoLiveError, match="os.system blocked"):
                os.system("curl https://broker.example/?token=hunter2")
            with pytest.raises(NoLiveError, match=r"os.posix_spawn \(true\)"):
                os.posix_spawn("/bin/true", ["true"], {})
            with pytest.raises(NoLiveError, match="os.fork blocked"):
                if os.fork() == 0:
                    os._exit(0)
            with pytest.raises(NoLiveError, match=r"os.exec \(true\)"):
                os.execv("/bin/true", ["true"])
            attempts = dryrun_network_guard.acknowledge()
            assert attempts == ["subprocess.Popen (true)", "os.system", "os.posix_spawn (true)", "os.fork", "os.exec (true)"]

        def test_unguarded():
            subprocess.run(["true"], check=True)
        """,
    )
    result.stdout.fnmatch_lines(["REACHED []"])
    result.assert_outcomes(passed=2)
    assert "hunter2" not in result.stdout.str()


def test_the_guard_is_off_outside_guarded_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_peak_dryrun import netguard

        def test_plain():
            assert netguard.active_guard() is None

        def test_guarded(dryrun_network_guard):
            assert netguard.active_guard() is dryrun_network_guard

        def test_after():
            assert netguard.active_guard() is None
        """
    )
    pytester.runpytest().assert_outcomes(passed=3)


# -- the guard object (nothing here opens a socket) --------------------------------------------


def test_install_removes_proxy_variables_and_uninstall_puts_them_back(monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import socket

    from pytest_peak_dryrun.netguard import NetworkGuard, NoLiveError, active_guard

    for name in ("HTTP_PROXY", "https_proxy", "Ftp_Proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:3128")
    before = dict(os.environ)
    assert "connect" not in vars(socket.socket)
    with NetworkGuard() as outer:
        assert active_guard() is outer
        assert sorted(k for k in os.environ if "proxy" in k.lower()) == ["NO_PROXY", "no_proxy"]
        assert vars(socket.socket)["connect"].__qualname__ == "socket.connect"
        with NetworkGuard() as inner, socket.socket() as unconnected:
            assert active_guard() is inner
            # check_address only decides (nothing is connected): the inner guard still knows
            # the proxy the outer one removed from the environment.
            with pytest.raises(NoLiveError, match="the proxy named by Ftp_Proxy"):
                inner.check_address(unconnected, ("127.0.0.1", 3128), "connect")
            inner.check_address(unconnected, ("127.0.0.1", 3129), "connect")
        assert inner.attempts == ["connect 127.0.0.1:3128"]
        assert active_guard() is outer
    assert active_guard() is None
    assert dict(os.environ) == before
    assert "connect" not in vars(socket.socket)  # the class is as it was


def test_the_guard_refuses_to_run_when_its_audit_hook_cannot_be_added() -> None:
    code = (
        "import sys\n"
        "def veto(event, args):\n"
        "    if event == 'sys.addaudithook':\n"
        "        raise RuntimeError('no more hooks')\n"
        "sys.addaudithook(veto)\n"
        "from pytest_peak_dryrun.netguard import NetworkGuard, NoLiveError, active_guard\n"
        "try:\n"
        "    NetworkGuard().install()\n"
        "except NoLiveError as exc:\n"
        "    print(exc, active_guard())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == (
        "NO-LIVE: the network guard could not add its audit hook (another audit hook refused "
        "sys.addaudithook); refusing to run a dry-run test unguarded. None"
    )
