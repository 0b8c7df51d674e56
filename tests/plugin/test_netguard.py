"""NO-LIVE: dry-run tests cannot reach a non-loopback address, and nothing is ever sent.

The inner runs replace the socket layer's real entry points with recorders *before* the
guard wraps them. A recorder lets loopback through and refuses (and records) anything else,
so these tests never aim a real connection outside 127.0.0.0/8 or ::1 even if the guard
were broken: the assertion is that the recorder never saw a non-loopback call.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

RECORDER = """
import ipaddress, socket

REACHED = []
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_sendto = socket.socket.sendto
_real_getaddrinfo = socket.getaddrinfo


def _loopback(host):
    try:
        return ipaddress.ip_address(str(host)).is_loopback
    except ValueError:
        return host == "localhost"


def connect(self, address):
    if not _loopback(address[0]):
        REACHED.append(("connect", address))
        raise OSError("the real connect was reached")
    return _real_connect(self, address)


def connect_ex(self, address):
    if not _loopback(address[0]):
        REACHED.append(("connect_ex", address))
        return 111
    return _real_connect_ex(self, address)


def sendto(self, data, *args):
    if not _loopback(args[-1][0]):
        REACHED.append(("sendto", args[-1]))
        raise OSError("the real sendto was reached")
    return _real_sendto(self, data, *args)


def getaddrinfo(host, *args, **kwargs):
    if host is not None and not _loopback(host):
        REACHED.append(("getaddrinfo", host))
        raise OSError("the real resolver was reached")
    return _real_getaddrinfo(host, *args, **kwargs)


socket.socket.connect = connect
socket.socket.connect_ex = connect_ex
socket.socket.sendto = sendto
socket.getaddrinfo = getaddrinfo


def pytest_unconfigure(config):
    print("REACHED", REACHED)
"""


def run(pytester: pytest.Pytester, body: str) -> pytest.RunResult:
    pytester.makeconftest(RECORDER)
    pytester.makepyfile(test_net=body)
    result = pytester.runpytest_subprocess("-s")
    result.stdout.fnmatch_lines(["REACHED []"])  # the real socket layer never saw an outside address
    return result


def test_outside_addresses_raise_no_live_error_before_anything_is_sent(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import socket, pytest
        from pytest_peak_dryrun import NoLiveError

        @pytest.mark.parametrize("address", [("192.0.2.10", 443), ("2001:db8::1", 443), ("198.51.100.7", 80)])
        def test_connect(dryrun, dryrun_network_guard, address):
            family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
            with socket.socket(family, socket.SOCK_STREAM) as s:
                with pytest.raises(NoLiveError, match="NO-LIVE: connect to .* blocked"):
                    s.connect(address)
                with pytest.raises(NoLiveError):
                    s.connect_ex(address)
            assert len(dryrun_network_guard.acknowledge()) == 2

        def test_udp_sendto(mock_broker, dryrun_network_guard):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                with pytest.raises(NoLiveError, match="sendto to 192.0.2.53:53"):
                    s.sendto(b"x", ("192.0.2.53", 53))
            dryrun_network_guard.acknowledge()

        def test_host_names_are_refused_without_resolving(run_dryrun, dryrun_network_guard):
            with pytest.raises(NoLiveError, match="getaddrinfo to broker.example:443 blocked"):
                socket.create_connection(("broker.example", 443))
            assert dryrun_network_guard.acknowledge() == ["getaddrinfo broker.example:443"]

        def test_no_live_error_is_a_runtime_error():
            assert issubclass(NoLiveError, RuntimeError)
        """,
    )
    result.assert_outcomes(passed=6)


def test_loopback_stays_allowed(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import socket, pytest

        @pytest.mark.dryrun("happy_path")
        def test_local_service(dryrun):
            with socket.socket() as server:
                server.bind(("127.0.0.1", 0))
                server.listen()
                with socket.create_connection(server.getsockname()) as client:
                    conn, _ = server.accept()
                    client.sendall(b"ping")
                    assert conn.recv(4) == b"ping"
                    conn.close()
                with socket.create_connection(("localhost", server.getsockname()[1]), timeout=5):
                    server.accept()[0].close()
        """,
    )
    result.assert_outcomes(passed=1)


def test_a_swallowed_block_still_fails_the_test_at_teardown(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import socket

        def test_sneaky(dryrun):
            try:
                socket.socket().connect(("192.0.2.99", 8080))
            except Exception:
                pass  # user code that hides the failure
        """,
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*test_sneaky: NoLiveError: 1 blocked network attempt(s) (connect 192.0.2.99:8080); the test passed only*"]
    )


def test_tests_without_dryrun_fixtures_are_not_guarded(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import socket

        def test_plain():
            assert socket.socket.connect.__name__ != "connect" or socket.socket.connect.__qualname__ == "socket.connect"

        def test_guarded(dryrun):
            assert socket.socket.connect.__qualname__.startswith("NetworkGuard.install")

        def test_after():
            assert not socket.socket.connect.__qualname__.startswith("NetworkGuard")
        """
    )
    pytester.runpytest().assert_outcomes(passed=3)
