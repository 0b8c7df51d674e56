"""A registered secret reaches no file of a run or session (issue 12, secrets registry).

Text that never was an event payload (a broker's reject reason goes through the event
stream, but rail-trip details, preflight details and health reasons are built from the
orchestrator's own state) and the session files written at the end are covered too.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from pathlib import Path

import pytest

from pytest_peak_dryrun.core.broker import MockBroker
from pytest_peak_dryrun.core.clock import SimClock
from pytest_peak_dryrun.core.dryrun import run_scenario
from pytest_peak_dryrun.core.errors import OrderRejectedError
from pytest_peak_dryrun.core.model import Fill, Order, OrderRequest
from pytest_peak_dryrun.core.redact import Redactor
from pytest_peak_dryrun.core.scenario import Scenario, parse_scenario
from pytest_peak_dryrun.report.session import write_session

SECRET = "TOK-9f8e7d6c5b4a3928"
MASK = Redactor.MASK


class EchoingAdapter:
    """A venue adapter whose venue echoes the API key back in its first reject reason."""

    dry_run = True

    def __init__(self, venue: MockBroker) -> None:
        self.venue = venue
        self.clock = venue.clock
        self.rejected = False

    def place_order(self, request: OrderRequest, *, idempotency_key: str) -> str:
        if not self.rejected:
            self.rejected = True
            raise OrderRejectedError("rejected", reason=f"api key {SECRET} is not authorised for this account")
        return self.venue.place_order(request, idempotency_key=idempotency_key)

    def cancel_order(self, broker_order_id: str) -> None:
        self.venue.cancel_order(broker_order_id)

    def query_order(self, broker_order_id: str) -> Order:
        return self.venue.query_order(broker_order_id)

    def list_open_orders(self) -> list[Order]:
        return self.venue.list_open_orders()

    def iter_fills(self, cursor: int) -> tuple[int, Sequence[Fill]]:
        return self.venue.iter_fills(cursor)


def _scenario() -> Scenario:
    order = {"instrument": "DEMO-EUR", "side": "BUY", "qty": "1"}
    return parse_scenario(
        {
            "name": "leaky",
            "steps": 4,
            "orders": [
                {"step": 1, **order},  # rejected with the key in the reason
                {"step": 2, **order},
                {"step": 3, **order, "instrument": SECRET},  # trips instrument_not_allowed, naming it
            ],
        },
        source="leaky",
    )


def _files_holding(out: Path, text: str) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and text in p.read_text("utf-8"))


def test_a_secret_from_the_broker_or_the_run_reaches_no_file(tmp_path: Path) -> None:
    out = tmp_path / "snap"
    scenario = _scenario()
    clock = SimClock()
    broker = EchoingAdapter(MockBroker(scenario.broker_config(), clock=clock))
    result = run_scenario(scenario, broker=broker, out_dir=out, redactor=Redactor((SECRET,)))
    write_session(out, [result.run_id], redactor=Redactor((SECRET,)))
    assert result.count("order_place", outcome="rejected") == 1
    assert [t.rail for t in result.status.rail_trips] == ["instrument_not_allowed"]
    assert _files_holding(out, SECRET) == []
    assert set(_files_holding(out, MASK)) >= {
        "runs/leaky/events.jsonl",  # the reject reason
        "runs/leaky/audit.jsonl",
        "runs/leaky/status.json",  # the rail-trip detail
        "dryrun_status_snapshot.json",
        "dryrun_status_snapshot.md",
        "dryrun_status_snapshot.html",
    }
    assert result.status.rail_trips[0].detail == f"instrument '{MASK}' is not on the allowlist"
    assert SECRET not in repr(result.report)
    assert SECRET not in result.status.model_dump_json()


def test_a_secret_in_a_preflight_detail_and_health_reason_is_masked(tmp_path: Path) -> None:
    out = tmp_path / "snap"
    live_looking = type(f"Adapter_{SECRET}", (EchoingAdapter,), {"dry_run": False})
    scenario = _scenario()
    broker = live_looking(MockBroker(scenario.broker_config(), clock=SimClock()))
    result = run_scenario(scenario, broker=broker, out_dir=out, redactor=Redactor((SECRET,)))
    write_session(out, [result.run_id], redactor=Redactor((SECRET,)))
    assert result.state.value == "PREFLIGHT_FAILED"
    assert [c.detail for c in result.status.session.preflight if not c.ok] == [
        f"Adapter_{MASK} is not a MockBroker and does not declare dry_run = True"
    ]
    assert any(MASK in reason for reason in result.health.reasons)
    assert _files_holding(out, SECRET) == []
    assert "runs/leaky/health.json" in _files_holding(out, MASK)


def test_session_problems_are_masked_in_every_session_file(tmp_path: Path) -> None:
    out = tmp_path / "snap"
    result = run_scenario(parse_scenario({"name": "plain", "steps": 2}, source="plain"), out_dir=out)
    write_session(
        out,
        [result.run_id],
        problems=[f"xdist worker gw1 crashed: login {SECRET} refused"],
        redactor=Redactor((SECRET,)),
    )
    assert _files_holding(out, SECRET) == []
    assert "index.json" in _files_holding(out, f"login {MASK} refused")


def test_without_secrets_the_documents_are_the_same_objects(tmp_path: Path) -> None:
    """No registered secret: nothing is copied or re-validated (the common case stays free)."""
    plain = run_scenario(_scenario(), broker=None)
    masked = run_scenario(_scenario(), broker=None, redactor=Redactor(("not-in-this-run",)))
    assert plain.report == masked.report
    assert plain.status == masked.status


class CrashingAdapter(EchoingAdapter):
    def place_order(self, request: OrderRequest, *, idempotency_key: str) -> str:
        try:
            raise OSError(111, f"connect to venue with {SECRET} refused")
        except OSError as cause:
            raise RuntimeError(f"session for {SECRET} lost") from cause


def test_an_error_leaving_the_run_has_the_secret_masked(tmp_path: Path) -> None:
    scenario = _scenario()
    broker = CrashingAdapter(MockBroker(scenario.broker_config(), clock=SimClock()))
    with pytest.raises(RuntimeError) as info:
        run_scenario(scenario, broker=broker, out_dir=tmp_path, redactor=Redactor((SECRET,)))
    assert str(info.value) == f"session for {MASK} lost"
    assert str(info.value.__cause__) == f"[Errno 111] connect to venue with {MASK} refused"
    assert SECRET not in "".join(traceback.format_exception(info.value))
    assert _files_holding(tmp_path, SECRET) == []
