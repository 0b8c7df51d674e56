"""Sessions for the report layer's tests: the four built-in scenarios, and one with many mismatches."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.scenario import Scenario, builtin_scenario, parse_scenario
from pytest_peak_dryrun.report.rows import SessionRow
from pytest_peak_dryrun.report.session import read_session, write_session

#: 25 duplicate fills (each a reconcile mismatch, tolerated by the rails): more than a status lists.
MANY_MISMATCHES = {
    "name": "many_mismatches",
    "seed": 1,
    "steps": 30,
    "instruments": {"DEMO-EUR": "100.00"},
    "rails": {"max_duplicate_fills": 1000},
    "orders": [{"step": i, "instrument": "DEMO-EUR", "side": "BUY", "qty": "1"} for i in range(1, 28)],
    "faults": [{"step": 0, "op": "fills", "kind": "duplicate_fill", "times": 25}],
}


def _many_mismatches() -> Scenario:
    return parse_scenario(MANY_MISMATCHES, source="many_mismatches")


#: The four built-ins the report tables were written for (a later built-in, amend, has its own
#: golden in tests/golden and does not reshuffle every expected table).
REPORT_SCENARIOS = ("failure_matrix", "happy_path", "partial_fills", "tripwire")


@pytest.fixture
def many_mismatches() -> Scenario:
    """:data:`MANY_MISMATCHES` as a scenario."""
    return _many_mismatches()


@pytest.fixture(scope="session")
def out_all(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot directory of the four built-in scenarios. Never modify it."""
    out = tmp_path_factory.mktemp("report-all") / "snap"
    ids = [run_scenario(builtin_scenario(name), out_dir=out).run_id for name in REPORT_SCENARIOS]
    write_session(out, ids, audit_key=None)
    return out


@pytest.fixture(scope="session")
def session_all(out_all: Path) -> SessionRow:
    session, _ = read_session(out_all, list(REPORT_SCENARIOS))
    return session


@pytest.fixture(scope="session")
def session_many(tmp_path_factory: pytest.TempPathFactory) -> SessionRow:
    """``happy_path`` and :data:`MANY_MISMATCHES`."""
    out = tmp_path_factory.mktemp("report-many") / "snap"
    ids = [run_scenario(s, out_dir=out).run_id for s in (builtin_scenario("happy_path"), _many_mismatches())]
    write_session(out, ids, audit_key=None)
    session, _ = read_session(out, ids)
    return session
