"""Hook specifications of pytest-peak-dryrun (registered in ``pytest_addhooks``).

Implement any of them in a ``conftest.py`` or a plugin of your own. They are do-nothing
specifications: the docstrings are the contract. Mark each implementation
``@pytest.hookimpl(optionalhook=True)``: the specifications exist only while this plugin is
loaded, and without the mark ``pytest -p no:peak_dryrun`` ends in ``INTERNALERROR ... unknown
hook`` for every conftest that implements one.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .core.broker import Broker
    from .core.clock import SimClock
    from .core.dryrun import DryRunResult
    from .core.events import EventRecord
    from .core.invariants import Violation
    from .core.scenario import Scenario

__all__ = [
    "pytest_dryrun_event",
    "pytest_dryrun_invariants",
    "pytest_dryrun_make_broker",
    "pytest_dryrun_modify_report",
    "pytest_dryrun_secrets",
    "pytest_dryrun_snapshots_written",
]


@pytest.hookspec(firstresult=True)
def pytest_dryrun_make_broker(config: pytest.Config, scenario: Scenario, clock: SimClock) -> Broker | None:
    """Make the broker a dry run talks to.

    Called once per dry run (and by the ``mock_broker`` fixture) with the run's scenario and
    simulated clock. Return your own adapter (anything that satisfies
    :class:`pytest_peak_dryrun.Broker` and declares ``dry_run = True``) to run every dry run
    of the suite against it; return ``None`` to leave the choice to the next
    implementation. The first non-``None`` result wins (``firstresult``); the plugin's own
    implementation, which runs last, returns a :class:`~pytest_peak_dryrun.MockBroker`
    configured from the scenario.

    ``clock`` is the run's clock: the adapter runs on it and exposes it as ``.clock``, or
    implements ``on_step(step)``; otherwise the preflight fails. The run wraps the adapter
    in a FaultInjector with the scenario's faults: do not wrap it yourself.

    Example::

        @pytest.hookimpl(optionalhook=True)
        def pytest_dryrun_make_broker(config, scenario, clock):
            return MyAdapter(MockBroker(scenario.broker_config(), clock=clock))
    """


def pytest_dryrun_event(config: pytest.Config, run_id: str, event: EventRecord) -> None:
    """Observe every event of every dry run, in order, as it happens.

    ``event`` is a :class:`pytest_peak_dryrun.EventRecord`: ``seq``, ``ts`` (simulated
    seconds), ``kind`` (an :class:`~pytest_peak_dryrun.EventKind`, equal to its text such as
    ``"rail_trip"``) and ``payload``, the typed event of that kind
    (:class:`~pytest_peak_dryrun.RailTripEvent`, ...; already redacted, immutable), whose
    fields read as attributes or as ``payload["rail"]``. Only called when at least one
    plugin implements it, so an unused hook costs nothing on the hot path.

    Example::

        @pytest.hookimpl(optionalhook=True)
        def pytest_dryrun_event(config, run_id, event):
            if event.kind == "rail_trip":
                print(run_id, event.payload["rail"].value)  # "max_order_qty"
    """


def pytest_dryrun_modify_report(config: pytest.Config, run_id: str, report: dict[str, Any]) -> None:
    """Change a run's normalized report in place before it is written and compared.

    The report is plain JSON data (the dict a golden file holds). Typical use: drop a field
    your suite does not want reviewed, or add a figure of your own. Afterwards the plugin
    sets ``audit`` (the head of the run's audit chain, which a hook cannot drop) and, if the
    hook changed anything, ``"modified_by_hook": true``.

    Example::

        @pytest.hookimpl(optionalhook=True)
        def pytest_dryrun_modify_report(config, run_id, report):
            report.pop("cash", None)
    """


def pytest_dryrun_snapshots_written(config: pytest.Config, out_dir: Path, files: list[Path]) -> None:
    """React after the session's snapshot files were written under ``--dryrun-snapshot``.

    Called once per session on the controller (never on an xdist worker), with the
    snapshot directory and every file written in it (sorted). Typical use: upload or
    attach the report in CI.

    Example::

        @pytest.hookimpl(optionalhook=True)
        def pytest_dryrun_snapshots_written(config, out_dir, files):
            print("report:", out_dir / "dryrun_status_snapshot.md")
    """


def pytest_dryrun_secrets(config: pytest.Config) -> Iterable[str] | None:
    """Register secret values: each is masked in every event, document and file of the session.

    Called once per process (lazily, before the first dry run, so every conftest is
    registered), and the values of every implementation are used (not ``firstresult``).
    Return an iterable of strings (a single string counts as one value) or ``None``. Use it
    for secrets your adapter reads from somewhere other than an environment variable (a
    vault, a config file); a broker may echo them back in an error text, which would
    otherwise reach ``events.jsonl``. Values shorter than 4 characters are not used (a
    warning says so). Mark the implementation optional, so a run with
    ``-p no:peak_dryrun`` does not fail on an unknown hook.

    Example::

        @pytest.hookimpl(optionalhook=True)
        def pytest_dryrun_secrets(config):
            return [read_vault("broker/api-key")]
    """


def pytest_dryrun_invariants(config: pytest.Config, result: DryRunResult) -> Iterable[Violation] | None:
    """Add invariants of your own to the oracle: return the violations you find in ``result``.

    Called after every run the plugin checks with the invariant oracle
    (:func:`pytest_peak_dryrun.check_invariants`): each scenario file, each generated
    scenario of the ``dryrun_fuzz`` fixture, and each call of the ``dryrun_invariants``
    fixture. Every implementation is called (not ``firstresult``); return an iterable of
    :class:`pytest_peak_dryrun.Violation` (empty when all is well) or ``None``. ``result``
    is the finished run (``.events``, ``.status``, ``.metrics``, ``.orchestrator``); do not
    change it.

    Example::

        from pytest_peak_dryrun import Violation


        @pytest.hookimpl(optionalhook=True)
        def pytest_dryrun_invariants(config, result):
            if result.status.cash < 0:
                return [Violation("cash_never_negative", f"cash ended at {result.status.cash}")]
            return []
    """
