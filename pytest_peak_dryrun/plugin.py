"""pytest entry point (``pytest11: peak_dryrun``): options, ini, marker, fixtures, hooks.

This module only wires. It imports pytest and the standard library at module level and
nothing else: every pytest run in an environment with the plugin installed pays for this
import, so the core (and pydantic, prometheus_client, syrupy behind it) loads inside the
fixture or hook that needs it. Disable the plugin with ``-p no:peak_dryrun``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .harness.session import RUNS_KEY, SESSION_KEY, WORKER_OUTPUT_KEY, DryRunSession

if TYPE_CHECKING:
    from syrupy.assertion import SnapshotAssertion

    from .core.audit import AuditLog
    from .core.broker import Broker
    from .core.clock import SimClock
    from .core.dryrun import DryRunResult
    from .core.invariants import Violation
    from .core.metrics import MetricsCollector
    from .core.orchestrator import DryRunConfig, Orchestrator
    from .core.scenario import Scenario
    from .harness.fuzz import DryRunFuzz

MARKER = (
    "dryrun(scenario='happy_path', *, seed=None, steps=None): run this test's dry run "
    "(fixtures dryrun, run_dryrun, orchestrator, mock_broker) with the named built-in scenario, "
    "a path to a .toml/.json scenario file (relative to the test file) or a Scenario object; "
    "seed and steps override the scenario's."
)
DEFAULT_MAX_STEPS = 1_000_000


def _seed(value: str) -> int:
    digits = value.strip().lstrip("+-")
    if len(digits) > 19:  # int() of a 5000-digit string is a ValueError of its own; say the limit
        raise argparse.ArgumentTypeError(
            f"--dryrun-seed expects an integer between -2**63 and 2**63-1, got one of {len(digits)} digits"
        )
    try:
        seed = int(value, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--dryrun-seed expects an integer such as 42, got {value!r}") from None
    if not -(2**63) <= seed < 2**63:
        raise argparse.ArgumentTypeError(f"--dryrun-seed expects an integer between -2**63 and 2**63-1, got {seed}")
    return seed


def _examples(value: str) -> int:
    try:
        examples = int(value, 10) if len(value) <= 9 else -1
    except ValueError:
        examples = -1
    if examples < 1:
        raise argparse.ArgumentTypeError(
            f"--dryrun-fuzz-examples expects a whole number from 1 to 999999999, got {value!r}"
        )
    return examples


def pytest_addoption(parser: pytest.Parser) -> None:
    """Declare ``--dryrun-snapshot``, ``--dryrun-seed`` and the ``dryrun_*`` ini keys.

    Called once at startup, before ``conftest.py`` files are read, so ``pytest --help`` lists
    them in one ``peak-dryrun`` group. Values are only declared here; they are checked in
    ``pytest_configure`` (the seed by its ``type=`` function, so a bad one is a usage error).
    """
    group = parser.getgroup("peak-dryrun", "deterministic trading dry runs (pytest-peak-dryrun)")
    group.addoption(
        "--dryrun-snapshot",
        dest="dryrun_snapshot",
        metavar="DIR",
        default=None,
        help="write health/status/metrics snapshot files of every dry run under DIR (ini: dryrun_snapshot_dir).",
    )
    group.addoption(
        "--dryrun-seed",
        dest="dryrun_seed",
        metavar="N",
        type=_seed,
        default=None,
        help="override the seed of every dry-run scenario in this session.",
    )
    group.addoption(
        "--dryrun-fuzz-examples",
        dest="dryrun_fuzz_examples",
        metavar="N",
        type=_examples,
        default=None,
        help="run N generated scenarios in every dryrun_fuzz call (default: the call's, else 500).",
    )
    group.addoption(
        "--dryrun-fuzz-seed",
        dest="dryrun_fuzz_seed",
        metavar="N",
        type=_seed,
        default=None,
        help="explore the generated scenarios of this seed in every dryrun_fuzz call (default: the call's, else 0).",
    )
    group.addoption(
        "--dryrun-fuzz-dir",
        dest="dryrun_fuzz_dir",
        metavar="DIR",
        default=None,
        help="write dryrun_fuzz's reproducer files under DIR (ini: dryrun_fuzz_dir; default: beside the test file).",
    )
    parser.addini("dryrun_snapshot_dir", "default for --dryrun-snapshot (relative to the rootdir).", default=None)
    parser.addini("dryrun_fuzz_dir", "default for --dryrun-fuzz-dir (relative to the rootdir).", default=None)
    parser.addini(
        "dryrun_skip_invariants",
        "names of built-in invariants that scenario files, dryrun_invariants and dryrun_fuzz do not check "
        "(default: none).",
        type="args",
        default=[],
    )
    parser.addini(
        "dryrun_guard_subprocess",
        "also refuse new processes (subprocess, os.system, os.exec*, os.posix_spawn, os.fork) in tests under "
        "the NO-LIVE guard (default false).",
        type="bool",
        default=False,
    )
    parser.addini(
        "dryrun_secret_env",
        "names of environment variables whose values are secrets: masked in every event, document and "
        "file (variables named like *KEY*, *SECRET*, *TOKEN*, *PASSWORD* are masked by default).",
        type="args",
        default=[],
    )
    parser.addini(
        "dryrun_max_steps",
        f"refuse scenarios with more steps than this (default {DEFAULT_MAX_STEPS}).",
        default=str(DEFAULT_MAX_STEPS),
    )
    parser.addini(
        "dryrun_metrics_prefix",
        "prefix every metric name in dryrun_metrics.prom with this namespace and '_' (default: none; "
        "the JSON documents keep the runbook's names).",
        default="",
    )


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Register our ``pytest_dryrun_*`` hook specifications (``hookspecs.py``).

    Called once when the plugin is registered, before conftests load, so their
    implementations are validated against the specs. The specs exist only while this plugin
    is loaded: that is why published implementations say ``optionalhook=True``.
    """
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def _snapshot_dir(config: pytest.Config) -> Path | None:
    option = config.getoption("dryrun_snapshot")
    if option:
        path = Path(option)
        base = config.invocation_params.dir
    else:
        ini = config.getini("dryrun_snapshot_dir")
        if not ini:
            return None
        path = Path(str(ini))
        base = config.rootpath
    path = path if path.is_absolute() else base / path
    if path.exists() and not path.is_dir():
        raise pytest.UsageError(f"--dryrun-snapshot: {path} exists and is not a directory; pass a directory path")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise pytest.UsageError(f"--dryrun-snapshot: cannot create directory {path}: {exc.strerror or exc}") from None
    _probe_writable(path)
    return path


def _inspect_snapshot_dir(config: pytest.Config, path: Path | None) -> Any:
    """What an earlier session left in DIR; a file we did not write is a usage error.

    Controller or serial session only: xdist workers start after it has prepared DIR.
    Reads only; the cleaning happens in ``pytest_sessionstart`` (not for ``--help``).
    """
    if path is None or hasattr(config, "workerinput"):
        return None
    from .core.snapshot_dir import describe_foreign, inspect_snapshot_dir

    plan = inspect_snapshot_dir(path)
    if plan.foreign:
        raise pytest.UsageError(
            f"--dryrun-snapshot: {path} holds files pytest-peak-dryrun did not write "
            f"({describe_foreign(plan)}); it never deletes them. Pass a new or empty directory, "
            "or one that only earlier dry-run sessions wrote to"
        )
    return plan


def _probe_writable(path: Path) -> None:
    """Fail now, before any test runs, rather than after the first dry run."""
    import os
    import tempfile

    try:
        fd, probe = tempfile.mkstemp(prefix=".peak-dryrun-probe-", dir=path)
    except OSError as exc:
        raise pytest.UsageError(f"--dryrun-snapshot: cannot write to directory {path}: {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(probe)


def _max_steps(config: pytest.Config) -> int:
    raw = config.getini("dryrun_max_steps")
    try:
        value = int(str(raw))
    except ValueError:
        raise pytest.UsageError(f"ini dryrun_max_steps must be an integer, got {raw!r}") from None
    if value < 0:
        raise pytest.UsageError(f"ini dryrun_max_steps must be >= 0, got {value}")
    return value


def _metrics_prefix(config: pytest.Config) -> str | None:
    raw = str(config.getini("dryrun_metrics_prefix") or "").strip()
    if not raw:
        return None
    from .report.prometheus import check_prefix  # stdlib only at import: no pydantic, no prometheus_client

    try:
        return check_prefix(raw)
    except ValueError as exc:
        raise pytest.UsageError(f"ini dryrun_metrics_prefix: {exc}") from None


def _check_skip_ini(config: pytest.Config) -> None:
    names = config.getini("dryrun_skip_invariants")
    if names:  # the core is imported only when the ini names something
        from .harness.invariants import validate_skip_ini

        problem = validate_skip_ini(names)
        if problem:
            raise pytest.UsageError(problem)


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``dryrun`` marker and create the session state, before collection.

    Why here: the snapshot directory must be checked (created, writable, holding nothing
    foreign) before any test runs, so a bad ``--dryrun-snapshot`` is a usage error (exit 4)
    instead of a failure after the first dry run. The xdist and pytest-json-report glue is
    registered here too: the xdist hooks only when xdist is present (their specs are unknown
    otherwise), the json-report hooks always, as optional hooks.
    """
    config.addinivalue_line("markers", MARKER)
    _check_skip_ini(config)
    out_dir = _snapshot_dir(config)
    config.stash[SESSION_KEY] = DryRunSession(
        config=config,
        out_dir=out_dir,
        seed=config.getoption("dryrun_seed"),
        max_steps=_max_steps(config),
        metrics_prefix=_metrics_prefix(config),
        dir_plan=_inspect_snapshot_dir(config, out_dir),
    )
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(config), "peak_dryrun_xdist")
    config.pluginmanager.register(_JsonReportHooks(config), "peak_dryrun_json_report")


class _XdistHooks:
    """Registered only when pytest-xdist is present: its hooks are unknown otherwise."""

    def __init__(self, config: pytest.Config) -> None:
        self._config = config

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """On the controller, when an xdist worker ends: merge the runs it reported.

        A worker that crashed arrives with ``error`` set and no output; the session then
        records it and marks the index incomplete rather than writing a partial session as
        if it were whole.
        """
        session = self._config.stash[SESSION_KEY]
        output = getattr(node, "workeroutput", {}) or {}
        worker_id = getattr(getattr(node, "gateway", None), "id", "?")
        session.merge_worker_output(str(worker_id), output.get(WORKER_OUTPUT_KEY), error)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Skip the snapshot directory during collection.

    Called for every path pytest considers. The snapshot directory holds files named like
    ``dryrun_*.json`` that are outputs, not scenario files; collecting them would turn the
    last session's output into this session's tests. ``None`` leaves every other path alone.
    """
    state = config.stash.get(SESSION_KEY, None)
    if state is not None and state.out_dir is not None and collection_path == state.out_dir:
        return True
    return None


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Collect ``dryrun_*.toml`` / ``dryrun_*.json`` scenario files as test items.

    Called for every file under the test paths, so a cheap name check comes first: the
    collector module (and the core behind it) is imported only for real candidates.
    """
    name = file_path.name
    if name.startswith("dryrun_") and name.endswith((".toml", ".json")):
        from .harness.collect import DryRunScenarioFile, is_scenario_file

        if is_scenario_file(file_path):
            return DryRunScenarioFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(trylast=True)
def pytest_dryrun_make_broker(config: pytest.Config, scenario: Scenario, clock: SimClock) -> Broker:
    """The default broker: a MockBroker configured from the scenario, on the run's clock.

    ``trylast``, so an implementation in a suite's conftest or plugin is asked first and wins
    (the hook is ``firstresult``); this one answers only when none did.
    """
    from .core.broker import MockBroker

    return MockBroker(scenario.broker_config(), clock=clock)


# -- NO-LIVE: the network guard around every dry-run test ------------------------------------

_GUARD_KEY = pytest.StashKey[Any]()


def _guard(item: pytest.Item) -> Any:
    """Put ``item`` under the NO-LIVE guard until its teardown ends (idempotent).

    Called by each of the plugin's own fixtures when it is set up (however it was requested,
    ``request.getfixturevalue`` included) and, from the start of setup, for items with the
    ``dryrun`` marker and scenario-file items. A suite's own fixture that merely shares a
    name with ours (``orchestrator``, ``audit_log``) never calls it.
    """
    guard = item.stash.get(_GUARD_KEY, None)
    if guard is None:
        from .netguard import NetworkGuard

        guard = NetworkGuard(refuse_subprocess=bool(item.config.getini("dryrun_guard_subprocess")))
        item.stash[_GUARD_KEY] = guard.install()
    return guard


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Put a dry-run item under the NO-LIVE guard before any of its fixtures is set up.

    For items with the ``dryrun`` marker and scenario-file items only; ``tryfirst`` so the
    guard is in place before other plugins' setup and the test's own fixtures run. Other
    tests are guarded from the moment one of our fixtures is set up (``_guard``).
    """
    if getattr(item, "is_dryrun_item", False) or item.get_closest_marker("dryrun") is not None:
        _guard(item)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    """Lift the NO-LIVE guard after the test's teardown, and fail it for swallowed blocks.

    A wrapper, so the guard stays active through every fixture's teardown (a fixture's
    finaliser must not reach the network either) and is lifted even when teardown fails.
    A blocked attempt the test's code caught and ignored still fails the test here, unless
    the test acknowledged it (``dryrun_network_guard.acknowledge()``).
    """
    try:
        return (yield)
    finally:
        guard = item.stash.get(_GUARD_KEY, None)
        if guard is not None:
            guard.uninstall()
            del item.stash[_GUARD_KEY]
            if guard.attempts:
                pytest.fail(
                    f"{item.nodeid}: NoLiveError: {len(guard.attempts)} blocked network attempt(s) "
                    f"({'; '.join(guard.attempts)}); the test passed only because its code swallowed "
                    "the error. Call dryrun_network_guard.acknowledge() in a test that expects the block.",
                    pytrace=False,
                )


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Prepare the snapshot directory: in-progress index first, then the earlier session cleaned.

    ``tryfirst``: before pytest-xdist starts its workers (its own sessionstart is trylast),
    so no worker writes into a directory that still holds the last session's runs. A session
    killed from here on leaves an index that says it is incomplete.
    """
    state = session.config.stash.get(SESSION_KEY, None)
    if state is not None:
        state.begin()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the session files once every test has run (the controller, or a serial run).

    On an xdist worker it only hands its runs to the controller (as JSON text in
    ``workeroutput``); the controller merges them and writes the session files, the index and
    the report, then calls ``pytest_dryrun_snapshots_written``. An interrupted session is
    recorded as a problem, so its index says it is incomplete.
    """
    state = session.config.stash.get(SESSION_KEY, None)
    if state is None:
        return
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        state.problems.append("session interrupted before every test ran")
    if state.is_worker:
        session.config.workeroutput[WORKER_OUTPUT_KEY] = state.to_worker_output()  # type: ignore[attr-defined]
        return
    state.finish()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """End the terminal output with what the session's dry runs did.

    With ``--dryrun-snapshot``: a table of the runs, the session's problems and the path of
    the report. Without it: only the runs whose broker could not apply a scheduled fault
    (that is never silent). A suite that uses neither sees no extra section.
    """
    state = terminalreporter.config.stash.get(SESSION_KEY, None)
    lines = state.terminal_lines() if state is not None else []
    if lines:
        terminalreporter.write_sep("=", "dry-run snapshots" if state and state.out_dir else "dry runs")
        for line in lines:
            terminalreporter.write_line(line)


# -- pytest-json-report (its hooks exist only when it is active: PITFALLS 1) ------------------


@pytest.hookimpl(optionalhook=True)
def pytest_json_runtest_metadata(item: pytest.Item, call: pytest.CallInfo[None]) -> dict[str, Any]:
    """With pytest-json-report (``--json-report``): a dry-run test's runs under ``metadata.dryrun``.

    Called by pytest-json-report for each phase of each test; only the ``call`` phase of a
    test that ran dry runs adds anything. Optional, because pytest-json-report declares this
    hook only when it is active (any other run would be an unknown-hook INTERNALERROR).
    """
    if call.when != "call":
        return {}
    runs = item.stash.get(RUNS_KEY, None)
    return {"dryrun": runs} if runs else {}


class _JsonReportHooks:
    """Needs the config, which pytest_json_modifyreport does not receive."""

    def __init__(self, config: pytest.Config) -> None:
        self._config = config

    @pytest.hookimpl(optionalhook=True)
    def pytest_json_modifyreport(self, json_report: dict[str, Any]) -> None:
        """With pytest-json-report: the report's top-level ``dryrun`` (snapshot dir, runs, problems).

        Called once, from pytest-json-report's own ``pytest_sessionfinish`` (``tryfirst``), so
        before ours writes the session files: the entry says where they go, and the runs and
        problems the session collected up to then.
        """
        state = self._config.stash[SESSION_KEY]
        json_report["dryrun"] = {
            "snapshot_dir": None if state.out_dir is None else str(state.out_dir),
            "report": None if state.out_dir is None else str(state.out_dir / "dryrun_status_snapshot.md"),
            "runs": len(state.summaries),
            "problems": list(state.problems),
        }


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def dryrun_network_guard(request: pytest.FixtureRequest) -> Any:
    """The active NO-LIVE guard of this test (``.attempts`` lists what it blocked).

    Requesting it (like any of the plugin's fixtures) puts the test under the guard. Blocked
    attempts fail the test at teardown even if its code swallowed the
    ``NoLiveError``; a test that expects the block acknowledges it::

        def test_never_reaches_the_venue(dryrun, dryrun_network_guard):
            with pytest.raises(NoLiveError):
                socket.create_connection(("broker.example", 443))
            dryrun_network_guard.acknowledge()
    """
    return _guard(request.node)


@pytest.fixture
def dryrun_secrets(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """More secret values for this test's dry runs, on top of the session's registry.

    The session already masks the values of the ini ``dryrun_secret_env`` variables, of
    the ``pytest_dryrun_secrets`` hook and of environment variables named like ``*KEY*``,
    ``*SECRET*``, ``*TOKEN*``, ``*PASSWORD*``. Override this fixture for secrets that only
    a fixture knows (a per-test credential); ``dryrun``, ``run_dryrun`` and ``orchestrator``
    mask them in every event, document and file::

        @pytest.fixture
        def dryrun_secrets(paper_account):
            return (paper_account.api_key,)
    """
    _guard(request.node)
    return ()


@pytest.fixture
def dryrun_config(request: pytest.FixtureRequest) -> DryRunConfig:
    """Session settings that are not part of a scenario (live trading is impossible by type).

    Override it in a conftest to restrict the instrument allowlist::

        @pytest.fixture
        def dryrun_config():
            return DryRunConfig(instrument_allowlist=("DEMO-EUR",))
    """
    _guard(request.node)
    from .core.orchestrator import DryRunConfig

    return DryRunConfig(max_steps=request.config.stash[SESSION_KEY].max_steps)


@pytest.fixture
def dryrun_scenario(request: pytest.FixtureRequest) -> Scenario:
    """The Scenario named by the test's ``@pytest.mark.dryrun`` (default ``happy_path``).

    ``--dryrun-seed`` overrides its seed.
    """
    __tracebackhide__ = True
    _guard(request.node)
    from .core.scenario import ScenarioError
    from .harness.fixtures import marker_args, resolve_scenario

    args = marker_args(request.node)
    try:
        return resolve_scenario(
            args.scenario,
            base_dir=Path(request.node.path).parent,
            seed=args.seed,
            steps=args.steps,
            session=request.config.stash[SESSION_KEY],
        )
    except ScenarioError as exc:
        problem = str(exc)  # failed outside the except block: no chained traceback
    pytest.fail(f"{request.node.nodeid}: @pytest.mark.dryrun: {problem}", pytrace=False)


@pytest.fixture
def sim_clock(request: pytest.FixtureRequest) -> SimClock:
    """The simulated clock of the test's dry run (fixed epoch 2026-01-18, 1 s per step).

    The default ``mock_broker`` runs on it, so a test can see where the run stopped::

        def test_bounded(dryrun, sim_clock):
            assert sim_clock.step >= dryrun.status.session.steps_run
    """
    _guard(request.node)
    from .core.clock import SimClock

    return SimClock()


@pytest.fixture
def mock_broker(request: pytest.FixtureRequest, dryrun_scenario: Scenario, sim_clock: SimClock) -> Broker:
    """The broker of the test's dry run: a MockBroker configured from the scenario.

    Made by the ``pytest_dryrun_make_broker`` hook. Override this fixture in a conftest
    (a MockBroker subclass, a wrapper, any object satisfying the Broker protocol and
    declaring ``dry_run = True``, on ``sim_clock``: exposed as ``.clock``, or followed
    through ``on_step(step)``) and ``orchestrator``, ``dryrun`` and ``run_dryrun`` use it,
    with the scenario's faults applied around it::

        @pytest.fixture
        def mock_broker(sim_clock):
            return MyAdapter(MockBroker(clock=sim_clock))  # MyAdapter exposes .clock
    """
    _guard(request.node)
    from .harness.fixtures import BROKER_FROM_HOOK, make_default_broker

    broker = make_default_broker(request.node, dryrun_scenario, sim_clock)
    request.node.stash[BROKER_FROM_HOOK] = broker
    return broker


@pytest.fixture
def metrics_collector(request: pytest.FixtureRequest) -> MetricsCollector:
    """A MetricsCollector with the runbook's ten metrics; the ``orchestrator`` fixture feeds it.

    Override it to open a policy label, or read it after driving the orchestrator::

        def test_counts(orchestrator, metrics_collector):
            orchestrator.preflight()
            orchestrator.run(3)
            assert metrics_collector.value("orchestrator_state", state="DRYRUN_ACTIVE") == 1
    """
    _guard(request.node)
    from .core.metrics import MetricsCollector

    return MetricsCollector()


@pytest.fixture
def audit_log(request: pytest.FixtureRequest) -> AuditLog:
    """An in-memory, hash-chained, redacted AuditLog that the ``orchestrator`` fixture feeds.

    ``export_jsonl`` writes it; ``verify_audit_lines`` proves nothing was edited::

        def test_audit(orchestrator, audit_log, tmp_path):
            orchestrator.preflight()
            orchestrator.run(2)
            audit_log.export_jsonl(tmp_path / "audit.jsonl")
            assert verify_audit_lines(list(audit_log.lines())) == []
    """
    _guard(request.node)
    from .core.audit import AuditLog
    from .core.dryrun import make_run_id

    return AuditLog(make_run_id(request.node.nodeid))


@pytest.fixture
def orchestrator(
    request: pytest.FixtureRequest,
    dryrun_scenario: Scenario,
    mock_broker: Broker,
    sim_clock: SimClock,
    dryrun_config: DryRunConfig,
    metrics_collector: MetricsCollector,
    audit_log: AuditLog,
    dryrun_secrets: tuple[str, ...],
) -> Orchestrator:
    """An Orchestrator for the test's scenario, not yet started: drive it yourself.

    It calls ``mock_broker`` through a FaultInjector with the scenario's faults, on the
    run's clock (``sim_clock``, or the overriding broker's own ``.clock``). Its events feed
    ``metrics_collector`` and ``audit_log``::

        def test_steps(orchestrator, metrics_collector):
            assert orchestrator.preflight()
            orchestrator.run(5)
            orchestrator.stop()
            assert metrics_collector.total("orders_place_total") > 0
    """
    _guard(request.node)
    from .core.dryrun import assemble_run
    from .harness.fixtures import fixture_broker_clock
    from .harness.secrets import redactor_for

    # The same assembly as run_scenario, with the test's collector and in-memory audit log.
    return assemble_run(
        dryrun_scenario,
        run_id=audit_log.run_id,
        broker=mock_broker,
        clock=fixture_broker_clock(request.node, mock_broker, sim_clock),
        config=dryrun_config,
        keep_events=False,
        redactor=redactor_for(request.config, dryrun_secrets),
        collector=metrics_collector,
        audit=audit_log,
    ).orchestrator


@pytest.fixture
def run_dryrun(
    request: pytest.FixtureRequest,
    dryrun_config: DryRunConfig,
    dryrun_scenario: Scenario,
    dryrun_secrets: tuple[str, ...],
) -> Callable[..., DryRunResult]:
    """Factory: ``run_dryrun(scenario=..., seed=..., steps=..., broker=...)`` runs one dry run.

    Returns a result like ``dryrun``'s. Every call is written under ``--dryrun-snapshot``
    with its own stable run id (the test's, then ``-2``, ``-3``, ...)::

        def test_two_seeds(run_dryrun):
            a = run_dryrun("failure_matrix", seed=1)
            b = run_dryrun("failure_matrix", seed=2)
            assert a.state == b.state
    """
    _guard(request.node)
    from .harness.fixtures import DryRunFactory
    from .harness.secrets import redactor_for

    return DryRunFactory(
        request,
        dryrun_config=dryrun_config,
        scenario=dryrun_scenario,
        redactor=redactor_for(request.config, dryrun_secrets),
    )


@pytest.fixture
def dryrun(request: pytest.FixtureRequest, run_dryrun: Callable[..., DryRunResult]) -> DryRunResult:
    """Run the scenario named by ``@pytest.mark.dryrun`` end to end and return the result.

    The result has ``.run_id``, ``.health``, ``.status``, ``.metrics`` (pydantic models),
    ``.events`` and ``.report`` (the normalized report golden files hold)::

        @pytest.mark.dryrun("happy_path")
        def test_happy(dryrun, dryrun_snapshot):
            assert dryrun.health.status == "ok"
            assert dryrun_snapshot == dryrun.report
    """
    _guard(request.node)
    return run_dryrun()


@pytest.fixture
def dryrun_snapshot(request: pytest.FixtureRequest) -> SnapshotAssertion:
    """syrupy's ``snapshot`` with the plugin's golden-report extension.

    Golden files are canonical JSON under ``__dryrun_snapshots__/<test file>/``;
    ``pytest --snapshot-update`` writes them::

        assert dryrun_snapshot == dryrun.report
    """
    _guard(request.node)
    from .harness.snapshot_ext import DryRunReportExtension

    snapshot: SnapshotAssertion = request.getfixturevalue("snapshot")
    return snapshot.use_extension(DryRunReportExtension)


@pytest.fixture
def dryrun_invariants(
    request: pytest.FixtureRequest,
) -> Callable[..., list[Violation]]:
    """The invariant oracle as the plugin applies it: ``dryrun_invariants(result, extra=(), skip=())``.

    :func:`pytest_peak_dryrun.check_invariants` plus every ``pytest_dryrun_invariants`` hook
    of the test's conftests, minus the ini ``dryrun_skip_invariants``; returns the violations
    (an empty list when every invariant holds)::

        def test_no_violation(dryrun, dryrun_invariants):
            assert dryrun_invariants(dryrun) == []
    """
    _guard(request.node)
    from .harness.invariants import check_item

    def check(result: DryRunResult, *, extra: Any = (), skip: Any = ()) -> list[Violation]:
        return check_item(request.node, result, extra=extra, skip=skip)

    return check


@pytest.fixture
def dryrun_fuzz(
    request: pytest.FixtureRequest,
    dryrun_config: DryRunConfig,
    dryrun_secrets: tuple[str, ...],
) -> DryRunFuzz:
    """Deterministic simulation testing of the test's broker: call it to fuzz.

    ``dryrun_fuzz(strategy=None, *, examples=500, seed=0, broker=None, invariants=(), skip=())``
    runs ``examples`` scenarios generated by ``pytest_peak_dryrun.strategies.scenarios()`` (or
    ``strategy``) through the test's broker (the ``pytest_dryrun_make_broker`` hook's, a copy
    of an overriding ``mock_broker``, or ``broker(scenario, clock)``), checks the invariant
    oracle after each, and on a violation fails the test with the scenario hypothesis shrank
    it to, written as a ``dryrun_*.toml`` reproducer beside the test (``--dryrun-fuzz-dir``)::

        def test_fuzz_my_adapter(dryrun_fuzz):
            dryrun_fuzz()  # 500 generated scenarios, seed 0; --dryrun-fuzz-examples=5000 for more
    """
    _guard(request.node)
    from .harness.fuzz import DryRunFuzz
    from .harness.secrets import redactor_for

    return DryRunFuzz(request, dryrun_config=dryrun_config, redactor=redactor_for(request.config, dryrun_secrets))
