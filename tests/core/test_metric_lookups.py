"""Metric lookups name what exists (issue 14 item 4): never a bare KeyError, never a quiet 0.

``MetricsSnapshot`` (``dryrun.metrics``) and ``MetricsCollector`` (the ``metrics_collector``
fixture) answer the same lookup with the same error, built by one function.
"""

from __future__ import annotations

import pytest

from pytest_peak_dryrun import MetricsCollector, MetricsSnapshot, UnknownMetricError, run_scenario
from pytest_peak_dryrun.core.scenario import builtin_scenario

METRICS = (
    "orchestrator_state, last_audit_event_ts, reconciler_last_ok_ts, safety_rail_trips_total, orders_place_total, "
    "orders_cancel_total, orders_query_total, order_state_transitions_total, reconcile_mismatches_total, "
    "retry_attempts_total, faults_injected_total, faults_skipped_total, orders_replace_total"
)


@pytest.fixture(scope="module")
def happy() -> tuple[MetricsSnapshot, MetricsCollector]:
    result = run_scenario(builtin_scenario("happy_path"))
    return result.metrics, result.collector


@pytest.fixture(params=["snapshot", "collector"])
def metrics(request: pytest.FixtureRequest, happy: tuple[MetricsSnapshot, MetricsCollector]) -> object:
    return happy[0] if request.param == "snapshot" else happy[1]


def test_lookups_that_exist_answer(metrics: MetricsSnapshot) -> None:
    assert metrics.value("orders_place_total", outcome="ok") == 5
    assert metrics.value("orders_place_total", outcome="error") == 0  # a known value never counted
    assert metrics.total("orders_place_total") == 5
    assert metrics.value("orchestrator_state", state="STOPPED") == 1
    assert metrics.value("retry_attempts_total", reason="timeout", op="place") == 0  # any label order
    assert metrics.value("last_audit_event_ts") > 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda m: m.value("orders_placed_total", outcome="ok"),
            f"no metric named 'orders_placed_total'; the metrics are {METRICS}",
        ),
        (lambda m: m.total("nope"), f"no metric named 'nope'; the metrics are {METRICS}"),
        (
            lambda m: m.value("orders_place_total", outcom="ok"),
            "metric orders_place_total has labels (outcome); got (outcom)",
        ),
        (lambda m: m.value("orders_place_total"), "metric orders_place_total has labels (outcome); got (none)"),
        (
            lambda m: m.value("retry_attempts_total", op="place"),
            "metric retry_attempts_total has labels (op, reason); got (op)",
        ),
        (lambda m: m.value("last_audit_event_ts", run="x"), "metric last_audit_event_ts has labels (none); got (run)"),
        (
            lambda m: m.value("orders_place_total", outcome="okay"),
            "metric orders_place_total: label outcome has no value 'okay'; its values are error, ok, rejected, unknown",
        ),
    ],
    ids=[
        "unknown metric",
        "total of unknown metric",
        "misspelt label",
        "missing label",
        "one of two",
        "no labels",
        "bad value",
    ],
)
def test_a_lookup_of_what_does_not_exist_names_what_does(metrics: MetricsSnapshot, call: object, message: str) -> None:
    with pytest.raises(UnknownMetricError) as info:
        call(metrics)  # type: ignore[operator]
    assert str(info.value) == message
    assert isinstance(info.value, KeyError)  # what code that caught KeyError before still catches


def test_a_snapshot_read_back_from_its_file_answers_the_same(happy: tuple[MetricsSnapshot, MetricsCollector]) -> None:
    again = MetricsSnapshot.model_validate_json(happy[0].model_dump_json(by_alias=True))
    assert again.value("orders_place_total", outcome="ok") == 5
    with pytest.raises(UnknownMetricError, match=r"has labels \(outcome\); got \(outcom\)"):
        again.value("orders_place_total", outcom="ok")


def test_a_label_without_a_fixed_set_takes_any_value() -> None:
    """Policy labels (``instrument``, ``run``) have values known only per run: not checked."""
    from pytest_peak_dryrun.core.metrics import LABEL_VALUES, lookup_key

    assert "instrument" not in LABEL_VALUES
    assert lookup_key("m", ("instrument", "outcome"), {"outcome": "ok", "instrument": "ANY"}, LABEL_VALUES) == (
        "ANY",
        "ok",
    )
