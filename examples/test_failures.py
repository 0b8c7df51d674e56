"""Inject a rate limit and a duplicate fill; the stack must absorb both and say so."""

from decimal import Decimal

import pytest

from pytest_peak_dryrun import FaultKind, FaultRule, PlaceIntent, Scenario

RATE_LIMIT_AND_DUPLICATE = Scenario(
    name="rate_limit_and_duplicate_fill",
    seed=1,
    steps=6,
    instruments={"DEMO-EUR": Decimal("100.00")},
    orders=[
        PlaceIntent(step=1, instrument="DEMO-EUR", side="BUY", qty=Decimal("2")),
        PlaceIntent(step=3, instrument="DEMO-EUR", side="SELL", qty=Decimal("1")),
    ],
    faults=[
        FaultRule(step=1, op="place", kind=FaultKind.RATE_LIMIT),
        FaultRule(step=3, op="fills", kind=FaultKind.DUPLICATE_FILL),
    ],
    rails={"max_duplicate_fills": 1},  # tolerate one duplicate: we want to see it counted
)


@pytest.mark.dryrun(RATE_LIMIT_AND_DUPLICATE)
def test_rate_limit_is_retried_and_duplicate_fill_ignored(dryrun):
    assert dryrun.state == "STOPPED"
    # the rate-limited place was retried once and then accepted
    assert dryrun.metrics.value("retry_attempts_total", op="place", reason="rate_limit") == 1
    assert dryrun.metrics.value("orders_place_total", outcome="ok") == 2
    # the duplicate fill was seen, counted as a mismatch and not applied twice
    assert dryrun.metrics.value("reconcile_mismatches_total", kind="duplicate_fill") == 1
    assert dryrun.count("fill_duplicate_ignored") == 1
    assert dryrun.status.positions == {"DEMO-EUR": Decimal("1")}
    assert dryrun.health.status == "degraded"


def test_the_same_duplicate_trips_the_rail_when_not_tolerated(run_dryrun):
    strict = RATE_LIMIT_AND_DUPLICATE.with_overrides(rails={"max_duplicate_fills": 0})
    result = run_dryrun(strict)
    assert result.state == "ERROR_REQUIRES_OPERATOR"
    assert result.metrics.value("safety_rail_trips_total", rail="duplicate_fill") == 1


@pytest.mark.dryrun("venue_lifecycle")
def test_the_venue_rejects_one_order_and_expires_another(dryrun):
    # Through our adapter, the venue's own decisions end two orders: a reject over the venue's
    # size limit (no rail of ours refused it) and a resting limit order's time in force.
    assert dryrun.state == "STOPPED"
    assert dryrun.metrics.value("orders_place_total", outcome="rejected") == 1
    assert dryrun.metrics.total("safety_rail_trips_total") == 0
    assert dryrun.metrics.value("order_state_transitions_total", from_state="ACK", to_state="EXPIRED") == 1
    # the reason is the venue's, not our adapter's lot-size check ("invalid")
    assert [e.payload["reason"] for e in dryrun.events.of("order_place") if e.payload["outcome"] == "rejected"] == [
        "too_large"
    ]
    # the dropped acknowledgement was injected, and the late-acknowledged order canceled cleanly
    assert dryrun.metrics.value("faults_injected_total", op="place", fault="dropped_ack") == 1
    assert dryrun.status.positions == {"DEMO-EUR": Decimal("10")}
    assert dryrun.health.status == "ok"
